//! `tessera.v1.ProductKeyService`: issuing and redeeming retail product keys.

use super::{context::Context, redemption};
use crate::{
    domain::redemption::ProductKeyKind,
    error::Error,
    proto::{self as pb, product_key_service_server::ProductKeyService},
};
use tonic::{Request, Response, Status};

/// Product keys.
#[derive(Debug, Clone)]
pub struct ProductKeyApi {
    ctx: Context,
}

impl ProductKeyApi {
    /// The service over shared state.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl ProductKeyService for ProductKeyApi {
    async fn issue_product_keys(
        &self,
        request: Request<pb::IssueProductKeysRequest>,
    ) -> Result<Response<pb::IssueProductKeysResponse>, Status> {
        self.ctx
            .authenticate_as(request.metadata(), &["admin"])
            .await?;
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
            .ctx
            .issue_product_keys(&req.plan, count, kind, &req.batch_label)
            .await?;
        Ok(Response::new(pb::IssueProductKeysResponse { product_keys }))
    }

    async fn redeem_product_key(
        &self,
        request: Request<pb::RedeemProductKeyRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        redemption::redeem_product_key(&self.ctx, request).await
    }
}
