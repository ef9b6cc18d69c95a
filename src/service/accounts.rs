//! Sign-up, sign-in, sign-out and reading an account.

use super::Services;
use crate::{
    domain::{
        account::{Account, Email, Password, verify_password},
        principal::Principal,
        secret::{TokenKind, new_token, token_hash},
    },
    error::{Error, Reason, Result},
};
use chrono::{DateTime, Utc};
use std::sync::LazyLock;
use uuid::Uuid;

/// A hash verified for unknown e-mails, so both failures take the same time.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    Password::parse("decoy password for unknown accounts")
        .and_then(|p| p.hash())
        .unwrap_or_default()
});

/// A new session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The session token, shown once.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The account.
    pub account: Account,
}

/// Runs CPU-heavy password hashing off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("password task failed: {e}")))
}

impl Services {
    /// Creates an account. Errors: `AlreadyExists` (ACCOUNT_EXISTS).
    pub async fn create_account(
        &self,
        email: Email,
        password: Password,
        display_name: String,
    ) -> Result<Account> {
        let hash = blocking(move || password.hash()).await??;
        let account = Account {
            id: Uuid::now_v7(),
            email: email.as_str().to_owned(),
            display_name,
            created_at: self.now(),
            linked_identities: Vec::new(),
        };
        self.store.create_account(&account, &hash).await?;
        Ok(account)
    }

    /// Signs in with e-mail and password; a wrong e-mail and a wrong password fail alike.
    /// Errors: `Unauthenticated` (INVALID_CREDENTIALS).
    pub async fn sign_in(&self, email: &str, password: String) -> Result<SignedIn> {
        let rejected = Error::Unauthenticated {
            reason: Reason::InvalidCredentials,
            message: "the e-mail or password is wrong",
        };
        let Ok(email) = Email::parse(email) else {
            return Err(rejected);
        };
        let (account_id, hash) = match self.store.account_credentials(email.as_str()).await? {
            Some((id, hash)) => (Some(id), hash),
            None => (None, DECOY_HASH.clone()),
        };
        let matches = blocking(move || verify_password(&password, &hash)).await?;
        let account_id = account_id.filter(|_| matches).ok_or(rejected)?;
        let now = self.now();
        let token = new_token(TokenKind::Session);
        let expires_at = now + self.policy.session_ttl;
        self.store
            .create_session(&token_hash(&token), account_id, now, expires_at)
            .await?;
        let account = self
            .store
            .account(Principal::Account(account_id).scope(), account_id)
            .await?;
        Ok(SignedIn {
            token,
            expires_at,
            account,
        })
    }

    /// Ends the session of `token`.
    pub async fn sign_out(&self, token: &str) -> Result<()> {
        self.store.delete_session(&token_hash(token)).await
    }

    /// An account the caller may see. Errors: `NotFound` (Account).
    pub async fn get_account(&self, principal: Principal, id: Uuid) -> Result<Account> {
        self.store.account(principal.scope(), id).await
    }
}
