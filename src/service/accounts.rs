//! Sign-up, sign-in, sign-out and reading an account.

use super::Services;
use crate::{
    domain::{
        account::{Account, Email, Password, verify_password_in},
        principal::Principal,
        secret::{TokenKind, new_token, token_hash},
        throttle::{Attempt, Subject},
    },
    error::{Error, Reason, Result},
};
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use uuid::Uuid;

/// A hash verified for unknown e-mails, so both failures take the same time: argon2id
/// at the parameters new hashes get (a unit test holds it to them).
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    ZGVjb3kgc2FsdCBvbmx5$izj/YwdoMHctP1bPhDCBYiYjdJl/ZbihEGjJZvPPkCU";

/// A wrong e-mail or password: both fail alike.
const REJECTED: Error = Error::Unauthenticated {
    reason: Reason::InvalidCredentials,
    message: "the e-mail or password is wrong",
};

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

impl Services {
    /// Creates an account, behind the sign-up throttle of `address` ([`Attempt::SignUp`]).
    /// Errors: `AlreadyExists` (ACCOUNT_EXISTS); `Throttled` (SIGN_UP_THROTTLED);
    /// `Unavailable` (PASSWORD_HASHING_BUSY).
    pub async fn create_account(
        &self,
        email: Email,
        password: Password,
        display_name: String,
        address: Option<IpAddr>,
    ) -> Result<Account> {
        self.throttled(Attempt::SignUp, None, address, async || {
            let hash = self
                .passwords
                .run(move |memory| password.hash_in(memory))
                .await??;
            let account = Account {
                id: Uuid::now_v7(),
                email: email.as_str().to_owned(),
                display_name,
                created_at: self.now(),
                linked_identities: Vec::new(),
            };
            self.store.create_account(&account, &hash).await?;
            Ok(account)
        })
        .await
    }

    /// Signs in with e-mail and password, behind the sign-in throttle of the e-mail and of
    /// `address` ([`Attempt::SignIn`]); a wrong e-mail and a wrong password fail alike.
    /// Errors: `Unauthenticated` (INVALID_CREDENTIALS); `Throttled` (SIGN_IN_THROTTLED);
    /// `Unavailable` (PASSWORD_HASHING_BUSY).
    pub async fn sign_in(
        &self,
        email: &str,
        password: String,
        address: Option<IpAddr>,
    ) -> Result<SignedIn> {
        let Ok(email) = Email::parse(email) else {
            return Err(REJECTED);
        };
        // Counted by the e-mail's hash, so that known and unknown e-mails are alike.
        let account = Subject::account(Attempt::SignIn, token_hash(email.as_str()));
        self.throttled(Attempt::SignIn, Some(account), address, async || {
            self.check_password(&email, password).await
        })
        .await
    }

    /// Checks a password and opens a session. Errors: as [`Self::sign_in`], less the
    /// throttle.
    async fn check_password(&self, email: &Email, password: String) -> Result<SignedIn> {
        let (account_id, hash) = match self.store.account_credentials(email.as_str()).await? {
            Some((id, hash)) => (Some(id), hash),
            None => (None, DECOY_HASH.to_owned()),
        };
        let matches = self
            .passwords
            .run(move |memory| verify_password_in(&password, &hash, memory))
            .await?;
        let account_id = account_id.filter(|_| matches).ok_or(REJECTED)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::{HashMemory, verify_password};

    #[test]
    fn the_decoy_is_hashed_as_new_passwords_are_so_it_costs_as_much() {
        let real = Password::parse("any password at all")
            .unwrap()
            .hash()
            .unwrap();
        let params = |phc: &str| phc.rsplitn(3, '$').nth(2).unwrap().to_owned();
        assert_eq!(params(DECOY_HASH), params(&real));
        let mut memory = HashMemory::default();
        assert!(verify_password_in(
            "decoy password",
            DECOY_HASH,
            &mut memory
        ));
        assert!(!verify_password("decoy passwore", DECOY_HASH));
    }
}
