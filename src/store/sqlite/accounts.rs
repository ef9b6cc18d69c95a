//! Accounts, their sessions and their links to partners' customer references.

use super::{
    SqliteStore, SqliteUnit, is_unique_violation_of,
    rows::{self, AccountRow, CredentialsRow, LinkRow},
};
use crate::{
    domain::{
        account::Account,
        clock::{from_micros, to_micros},
        principal::Scope,
    },
    error::{Error, Reason, Resource, Result},
    store::{AccountStore, AccountTx},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(&self, account: &Account, password_hash: &str) -> Result<()> {
        let _turn = self.write_turn().await;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, display_name, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(account.id.to_string())
        .bind(account.email.as_str())
        .bind(password_hash)
        .bind(account.display_name.as_str())
        .bind(to_micros(account.created_at))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation_of(&e, "accounts.email") => Err(Error::AlreadyExists {
                reason: Reason::AccountExists,
                message: "an account with this e-mail exists already".to_owned(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn account_credentials(&self, email: &str) -> Result<Option<(Uuid, String)>> {
        let row: Option<CredentialsRow> =
            sqlx::query_as("SELECT id, password_hash FROM accounts WHERE email = ?")
                .bind(email.to_lowercase())
                .fetch_optional(&self.pool)
                .await?;
        row.map(TryFrom::try_from).transpose()
    }

    async fn account(&self, scope: Scope, id: Uuid) -> Result<Account> {
        let visible = match scope {
            Scope::All => true,
            Scope::Account(own) => own == id,
            Scope::Partner(_) | Scope::Subscription(_) | Scope::Nothing => false,
        };
        if !visible {
            return Err(Error::NotFound(Resource::Account));
        }
        let row: AccountRow =
            sqlx::query_as("SELECT id, email, display_name, created_at FROM accounts WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .ok_or(Error::NotFound(Resource::Account))?;
        let links: Vec<LinkRow> = sqlx::query_as(
            "SELECT partner_id, reference FROM account_links WHERE account_id = ? \
             ORDER BY created_at, partner_id, reference",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        row.into_account(links)
    }

    async fn create_session(
        &self,
        token_hash: &str,
        account_id: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(account_id.to_string())
        .bind(to_micros(now))
        .bind(to_micros(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<(Uuid, DateTime<Utc>)>> {
        let found: Option<(String, i64)> =
            sqlx::query_as("SELECT account_id, expires_at FROM sessions WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        found
            .map(|(id, expires_at)| {
                Ok((
                    rows::uuid("sessions.account_id", &id)?,
                    from_micros(expires_at),
                ))
            })
            .transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let _turn = self.write_turn().await;
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl AccountTx for SqliteUnit {
    async fn link_identity(
        &mut self,
        account_id: Uuid,
        partner_id: Uuid,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_links (account_id, partner_id, reference, created_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(account_id.to_string())
        .bind(partner_id.to_string())
        .bind(reference)
        .bind(to_micros(now))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
