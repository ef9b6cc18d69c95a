//! Accounts and their sessions.

use super::{Store, is_unique_violation, parse_uuid};
use crate::{
    domain::{
        access::Access,
        account::{Account, Email},
        clock::{from_micros, to_micros},
    },
    error::{Error, Result},
};
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

impl Store {
    /// Creates an account. Errors: `AlreadyExists` (ACCOUNT_EXISTS) when the e-mail is
    /// taken.
    pub async fn create_account(
        &self,
        email: &Email,
        password_hash: &str,
        display_name: &str,
        now: DateTime<Utc>,
    ) -> Result<Account> {
        let id = Uuid::now_v7();
        let inserted = self
            .write_one(
                sqlx::query(
                    "INSERT INTO accounts (id, email, password_hash, display_name, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id.to_string())
                .bind(email.as_str().to_owned())
                .bind(password_hash.to_owned())
                .bind(display_name.to_owned())
                .bind(to_micros(now)),
            )
            .await;
        match inserted {
            Ok(_) => Ok(Account {
                id,
                email: email.as_str().to_owned(),
                display_name: display_name.to_owned(),
                created_at: now,
                linked_identities: Vec::new(),
            }),
            Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists {
                reason: "ACCOUNT_EXISTS",
                message: "an account with this e-mail exists already".to_owned(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The id and password hash of the account with `email`, if any.
    pub async fn account_credentials(&self, email: &Email) -> Result<Option<(Uuid, String)>> {
        let row = sqlx::query("SELECT id, password_hash FROM accounts WHERE email = $1")
            .bind(email.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok((
                parse_uuid(&row.try_get::<String, _>("id")?)?,
                row.try_get("password_hash")?,
            ))
        })
        .transpose()
    }

    /// An account, if `access` may see it (the admin, or the account itself).
    /// Errors: `NotFound` otherwise.
    pub async fn get_account(&self, access: Access, id: Uuid) -> Result<Account> {
        let visible = match access {
            Access::Admin => true,
            Access::Account(own) => own == id,
            Access::Partner(_) | Access::Device { .. } => false,
        };
        if !visible {
            return Err(Error::NotFound("account"));
        }
        let row = sqlx::query("SELECT email, display_name, created_at FROM accounts WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound("account"))?;
        Ok(Account {
            id,
            email: row.try_get("email")?,
            display_name: row.try_get("display_name")?,
            created_at: from_micros(row.try_get("created_at")?),
            linked_identities: self.linked_identities(id).await?,
        })
    }

    /// Starts a session for `account_id`, valid until `expires_at`.
    pub async fn create_session(
        &self,
        token_hash: &str,
        account_id: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash.to_owned())
            .bind(account_id.to_string())
            .bind(to_micros(now))
            .bind(to_micros(expires_at)),
        )
        .await?;
        Ok(())
    }

    /// The account of an unexpired session.
    pub async fn session_account(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT account_id FROM sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash.to_owned())
        .bind(to_micros(now))
        .fetch_optional(&self.pool)
        .await?;
        id.as_deref().map(parse_uuid).transpose()
    }

    /// Ends a session.
    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.write_one(
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash.to_owned()),
        )
        .await?;
        Ok(())
    }

    /// Partner identities linked to an account, oldest first.
    async fn linked_identities(&self, account_id: Uuid) -> Result<Vec<(Uuid, String)>> {
        let rows = sqlx::query(
            "SELECT partner_id, reference FROM account_links WHERE account_id = $1 \
             ORDER BY created_at, partner_id, reference",
        )
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    parse_uuid(&row.try_get::<String, _>("partner_id")?)?,
                    row.try_get("reference")?,
                ))
            })
            .collect()
    }
}
