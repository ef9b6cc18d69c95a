//! `tessera.v1.AccountService`.

use super::{context::Context, convert, names};
use crate::{
    domain::{
        account::{Email, Password, parse_display_name, verify_password},
        secret::{TokenKind, new_token, token_hash},
    },
    error::{Error, Result},
    proto::{self as pb, account_service_server::AccountService},
};
use std::sync::LazyLock;
use tonic::{Request, Response, Status};

/// A hash verified for unknown e-mails, so both failures take the same time.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    Password::parse("decoy password for unknown accounts")
        .and_then(|p| p.hash())
        .unwrap_or_default()
});

/// Account sign-up, sign-in and look-up.
#[derive(Debug, Clone)]
pub struct AccountApi {
    ctx: Context,
}

impl AccountApi {
    /// The service over shared state.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }
}

/// Runs CPU-heavy password hashing off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("password task failed: {e}")))
}

#[tonic::async_trait]
impl AccountService for AccountApi {
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let req = request.into_inner();
        let email = Email::parse(&req.email)?;
        let password = Password::parse(&req.password)?;
        let display_name = parse_display_name("display_name", &req.display_name, false)?;
        let hash = blocking(move || password.hash()).await??;
        let account = self
            .ctx
            .store
            .create_account(&email, &hash, &display_name, self.ctx.now())
            .await?;
        Ok(Response::new(convert::account(account)))
    }

    async fn sign_in(
        &self,
        request: Request<pb::SignInRequest>,
    ) -> Result<Response<pb::SignInResponse>, Status> {
        let req = request.into_inner();
        let rejected = Error::Unauthenticated {
            reason: "INVALID_CREDENTIALS",
            message: "the e-mail or password is wrong",
        };
        let Ok(email) = Email::parse(&req.email) else {
            return Err(rejected.into());
        };
        let found = self.ctx.store.account_credentials(&email).await?;
        let (account_id, hash) = match found {
            Some((id, hash)) => (Some(id), hash),
            None => (None, DECOY_HASH.clone()),
        };
        let password = req.password;
        let matches = blocking(move || verify_password(&password, &hash)).await?;
        let account_id = account_id.filter(|_| matches).ok_or(rejected)?;

        let now = self.ctx.now();
        let token = new_token(TokenKind::Session);
        let expires_at = now + self.ctx.session_ttl;
        let store = &self.ctx.store;
        store
            .create_session(&token_hash(&token), account_id, now, expires_at)
            .await?;
        let account = store
            .get_account(
                crate::domain::access::Access::Account(account_id),
                account_id,
            )
            .await?;
        Ok(Response::new(pb::SignInResponse {
            session_token: token,
            expire_time: Some(convert::timestamp(expires_at)),
            account: Some(convert::account(account)),
        }))
    }

    async fn sign_out(
        &self,
        request: Request<pb::SignOutRequest>,
    ) -> Result<Response<pb::SignOutResponse>, Status> {
        self.ctx
            .authenticate_as(request.metadata(), &["account"])
            .await?;
        let token = super::context::bearer_token(request.metadata()).unwrap_or_default();
        self.ctx.store.delete_session(&token_hash(token)).await?;
        Ok(Response::new(pb::SignOutResponse {}))
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["account", "admin"])
            .await?;
        let id = names::account("name", &request.get_ref().name, access)?;
        let account = self.ctx.store.get_account(access, id).await?;
        Ok(Response::new(convert::account(account)))
    }
}
