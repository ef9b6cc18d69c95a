//! `tessera.v1.AccountService`.

use super::{
    client_address::client_address,
    convert, names,
    principal::{self, Account, Admin, caller},
};
use crate::{
    domain::account::{Email, Password, parse_display_name},
    proto::{self as pb, account_service_server::AccountService},
    service::Services,
};
use tonic::{Request, Response, Status};

/// Account sign-up, sign-in and look-up.
#[derive(Debug, Clone)]
pub struct AccountApi {
    services: Services,
}

impl AccountApi {
    /// The service over the use cases.
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

#[tonic::async_trait]
impl AccountService for AccountApi {
    async fn create_account(
        &self,
        request: Request<pb::CreateAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let address = client_address(&request);
        let req = request.into_inner();
        let email = Email::parse(&req.email)?;
        let password = Password::parse(&req.password)?;
        let display_name = parse_display_name("display_name", &req.display_name, false)?;
        let account = self
            .services
            .create_account(email, password, display_name, address)
            .await?;
        Ok(Response::new(pb::Account::from(account)))
    }

    async fn sign_in(
        &self,
        request: Request<pb::SignInRequest>,
    ) -> Result<Response<pb::SignInResponse>, Status> {
        let address = client_address(&request);
        let req = request.into_inner();
        let signed_in = self
            .services
            .sign_in(&req.email, req.password, address)
            .await?;
        Ok(Response::new(pb::SignInResponse {
            session_token: signed_in.token,
            expire_time: Some(convert::timestamp(signed_in.expires_at)),
            account: Some(pb::Account::from(signed_in.account)),
        }))
    }

    async fn sign_out(
        &self,
        request: Request<pb::SignOutRequest>,
    ) -> Result<Response<pb::SignOutResponse>, Status> {
        principal::account(&request)?;
        let token = principal::bearer_token(request.metadata().as_ref()).unwrap_or_default();
        self.services.sign_out(token).await?;
        Ok(Response::new(pb::SignOutResponse {}))
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let principal = caller::<(Account, Admin), _>(&request)?;
        let id = names::account("name", &request.get_ref().name, principal)?;
        let account = self.services.get_account(principal, id).await?;
        Ok(Response::new(pb::Account::from(account)))
    }
}
