//! `tessera.v1.ProductKeyService`: issuing and redeeming retail product keys.

use super::{
    client_address::client_address,
    convert, names,
    principal::{self, Admin, caller},
};
use crate::{
    domain::{codes::CodeKind, principal::Principal, redemption::ProductKeyKind},
    error::Error,
    proto::{self as pb, product_key_service_server::ProductKeyService},
    service::Services,
};
use tonic::{Request, Response, Status};

/// Product keys.
#[derive(Debug, Clone)]
pub struct ProductKeyApi {
    services: Services,
}

impl ProductKeyApi {
    /// The service over the use cases.
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

#[tonic::async_trait]
impl ProductKeyService for ProductKeyApi {
    async fn issue_product_keys(
        &self,
        request: Request<pb::IssueProductKeysRequest>,
    ) -> Result<Response<pb::IssueProductKeysResponse>, Status> {
        caller::<(Admin,), _>(&request)?;
        let req = request.into_inner();
        if req.plan.is_empty() {
            return Err(Error::invalid("plan", "is required").into());
        }
        let kind = match pb::ProductKeyKind::try_from(req.kind) {
            Ok(pb::ProductKeyKind::New) => ProductKeyKind::New,
            Ok(pb::ProductKeyKind::Renewal) => ProductKeyKind::Renewal,
            _ => return Err(Error::invalid("kind", "must be NEW or RENEWAL").into()),
        };
        let count = u32::try_from(req.count).unwrap_or(0);
        let product_keys = self
            .services
            .issue_product_keys(&req.plan, count, kind, &req.batch_label)
            .await?;
        Ok(Response::new(pb::IssueProductKeysResponse { product_keys }))
    }

    async fn redeem_product_key(
        &self,
        request: Request<pb::RedeemProductKeyRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let account_id = principal::account(&request)?;
        let peer = client_address(&request);
        let req = request.into_inner();
        let key = CodeKind::ProductKey.parse(&req.product_key)?;
        let target = match req.subscription.as_str() {
            "" => None,
            name => Some(names::subscription("subscription", name)?),
        };
        let subscription = self
            .services
            .redeem_product_key(account_id, &key, target, peer)
            .await?;
        let now = self.services.now();
        Ok(Response::new(convert::subscription_for(
            Principal::Account(account_id),
            subscription,
            now,
        )))
    }
}
