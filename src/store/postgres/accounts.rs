//! Accounts, their sessions and their links to partners' customer references.

use super::{PgStore, PgUnit, is_unique_violation, rows::AccountRow};
use crate::{
    domain::{account::Account, principal::Scope},
    error::{Error, Reason, Resource, Result},
    store::{AccountStore, AccountTx},
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

fn account_exists() -> Error {
    Error::AlreadyExists {
        reason: Reason::AccountExists,
        message: "an account with this e-mail exists already".to_owned(),
    }
}

/// Inserts one link; linking twice does nothing.
async fn insert_link(
    conn: &mut PgConnection,
    account_id: Uuid,
    partner_id: Uuid,
    reference: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO account_links (account_id, partner_id, reference, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(account_id)
    .bind(partner_id)
    .bind(reference)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl AccountStore for PgStore {
    async fn create_account(&self, account: &Account, password_hash: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, display_name, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(account.id)
        .bind(&account.email)
        .bind(password_hash)
        .bind(&account.display_name)
        .bind(account.created_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(account_exists()),
            Err(e) => return Err(e.into()),
        }
        for (partner_id, reference) in &account.linked_identities {
            insert_link(
                &mut tx,
                account.id,
                *partner_id,
                reference,
                account.created_at,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn account_credentials(&self, email: &str) -> Result<Option<(Uuid, String)>> {
        Ok(
            sqlx::query_as("SELECT id, password_hash FROM accounts WHERE email = $1")
                .bind(email.to_lowercase())
                .fetch_optional(&self.pool)
                .await?,
        )
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
        let row: AccountRow = sqlx::query_as(
            "SELECT id, email, display_name, created_at FROM accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound(Resource::Account))?;
        let identities: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT partner_id, reference FROM account_links WHERE account_id = $1 \
             ORDER BY created_at, partner_id, reference",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(row.with_identities(identities))
    }

    async fn create_session(
        &self,
        token_hash: &str,
        account_id: Uuid,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str) -> Result<Option<(Uuid, DateTime<Utc>)>> {
        Ok(
            sqlx::query_as("SELECT account_id, expires_at FROM sessions WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl AccountTx for PgUnit {
    async fn link_identity(
        &mut self,
        account_id: Uuid,
        partner_id: Uuid,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        insert_link(self.conn(), account_id, partner_id, reference, now).await
    }
}
