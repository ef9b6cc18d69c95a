//! `tessera.v1.SubscriptionService`.

use super::{carrier, context::Context, convert, names, redemption, restore};
use crate::{
    domain::{
        access::Access,
        idempotency::IdempotencyKey,
        page::PageRequest,
        plan::{self, CATALOG},
        subscription::{Channel, Subscription, SubscriptionFilter},
    },
    error::{Error, Result},
    proto::{self as pb, subscription_service_server::SubscriptionService},
    store::{Answer, NewSubscription},
};
use chrono::{DateTime, Utc};
use prost::Message;
use tonic::{Request, Response, Status};

/// Plans and subscriptions.
#[derive(Debug, Clone)]
pub struct SubscriptionApi {
    ctx: Context,
}

impl SubscriptionApi {
    /// The service over shared state.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// What `access` sees of a subscription.
    pub(super) fn view(&self, access: Access, subscription: Subscription) -> pb::Subscription {
        view(&self.ctx, access, subscription)
    }
}

/// What `access` sees of a subscription now.
pub(super) fn view(ctx: &Context, access: Access, subscription: Subscription) -> pb::Subscription {
    view_at(access, subscription, ctx.now())
}

/// What `access` sees of an idempotent change's subscription, as first answered.
pub(super) fn view_answer(access: Access, answer: Answer<Subscription>) -> pb::Subscription {
    view_at(access, answer.value, answer.answered_at)
}

/// What `access` sees of a subscription as of `at`: the product key only for its owner;
/// for a partner or a device, whether it is claimed but not by whom.
pub(super) fn view_at(
    access: Access,
    subscription: Subscription,
    at: DateTime<Utc>,
) -> pb::Subscription {
    let owner = matches!(access, Access::Account(id) if subscription.account_id == Some(id));
    let mut view = convert::subscription(subscription, at, owner);
    if matches!(access, Access::Partner(_) | Access::Device { .. }) {
        view.account.clear();
    }
    view
}

/// The idempotency key of a request, if it carries a request id. Partners must send
/// one with every change.
pub(super) fn idempotency_key<M: Message>(
    access: Access,
    method: &str,
    request_id: &str,
    request: &M,
) -> Result<Option<IdempotencyKey>> {
    if request_id.is_empty() {
        if matches!(access, Access::Partner(_)) {
            return Err(Error::invalid(
                "request_id",
                "is required for partner calls",
            ));
        }
        return Ok(None);
    }
    IdempotencyKey::new(
        access.idempotency_scope(),
        request_id,
        method,
        &request.encode_to_vec(),
    )
    .map(Some)
}

#[tonic::async_trait]
impl SubscriptionService for SubscriptionApi {
    async fn list_plans(
        &self,
        _request: Request<pb::ListPlansRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        Ok(Response::new(pb::ListPlansResponse {
            plans: CATALOG.iter().map(convert::plan).collect(),
        }))
    }

    async fn create_subscription(
        &self,
        request: Request<pb::CreateSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["admin"])
            .await?;
        let req = request.into_inner();
        let account_id = names::account("parent", &req.parent, access)?;
        let plan = plan::parse("plan", &req.plan)?;
        if req.request_id.is_empty() {
            return Err(Error::invalid("request_id", "is required").into());
        }
        let key = idempotency_key(access, "CreateSubscription", &req.request_id, &req)?;
        let store = &self.ctx.store;
        store.get_account(access, account_id).await?;
        let now = self.ctx.now();
        let new = NewSubscription {
            plan,
            channel: Channel::Direct,
            account_id: Some(account_id),
            auto_renew: req.auto_renew,
            term_start: now,
            term_end: None,
            partner_id: None,
            partner_reference: None,
            product_key: None,
        };
        let answer = store
            .create_subscription(access, new, key.as_ref(), now)
            .await?;
        Ok(Response::new(view_answer(access, answer)))
    }

    async fn get_subscription(
        &self,
        request: Request<pb::GetSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let access = self.ctx.authenticate(request.metadata()).await?;
        let id = names::subscription("name", &request.get_ref().name)?;
        let subscription = self.ctx.store.get_subscription(access, id).await?;
        Ok(Response::new(self.view(access, subscription)))
    }

    async fn list_subscriptions(
        &self,
        request: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["account", "admin"])
            .await?;
        let req = request.into_inner();
        let account_id = names::account("parent", &req.parent, access)?;
        let page = PageRequest::parse(req.page_size, &req.page_token)?;
        let filter = SubscriptionFilter {
            status: convert::status_filter("status", req.status)?,
        };
        if matches!(access, Access::Account(own) if own != account_id) {
            return Err(Error::NotFound("account").into());
        }
        let page = self
            .ctx
            .store
            .list_account_subscriptions(access, account_id, filter, &page)
            .await?;
        Ok(Response::new(pb::ListSubscriptionsResponse {
            subscriptions: page
                .items
                .into_iter()
                .map(|s| self.view(access, s))
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_subscription(
        &self,
        request: Request<pb::UpdateSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["account", "admin"])
            .await?;
        let req = request.into_inner();
        let subscription = req
            .subscription
            .ok_or_else(|| Error::invalid("subscription", "is required"))?;
        let id = names::subscription("subscription.name", &subscription.name)?;
        let paths = req.update_mask.map(|mask| mask.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(Error::invalid("update_mask", "must name the fields to update").into());
        }
        if let Some(other) = paths.iter().find(|path| path.as_str() != "auto_renew") {
            return Err(Error::invalid(
                "update_mask",
                format!("{other} cannot be updated; only auto_renew can"),
            )
            .into());
        }
        let updated = self
            .ctx
            .store
            .set_auto_renew(access, id, subscription.auto_renew, self.ctx.now())
            .await?;
        Ok(Response::new(self.view(access, updated)))
    }

    async fn provision_subscription(
        &self,
        request: Request<pb::ProvisionSubscriptionRequest>,
    ) -> Result<Response<pb::ProvisionSubscriptionResponse>, Status> {
        carrier::provision(&self.ctx, request).await
    }

    async fn list_partner_subscriptions(
        &self,
        request: Request<pb::ListPartnerSubscriptionsRequest>,
    ) -> Result<Response<pb::ListPartnerSubscriptionsResponse>, Status> {
        carrier::list(&self.ctx, request).await
    }

    async fn change_plan(
        &self,
        request: Request<pb::ChangePlanRequest>,
    ) -> Result<Response<pb::ChangePlanResponse>, Status> {
        carrier::change_plan(&self.ctx, request).await
    }

    async fn suspend_subscription(
        &self,
        request: Request<pb::SuspendSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let req = request.get_ref();
        let (name, request_id) = (req.name.clone(), req.request_id.clone());
        carrier::set_suspended(&self.ctx, request, &name, &request_id, true).await
    }

    async fn resume_subscription(
        &self,
        request: Request<pb::ResumeSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let req = request.get_ref();
        let (name, request_id) = (req.name.clone(), req.request_id.clone());
        carrier::set_suspended(&self.ctx, request, &name, &request_id, false).await
    }

    async fn renew_subscription(
        &self,
        request: Request<pb::RenewSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        carrier::renew(&self.ctx, request).await
    }

    async fn reissue_partner_code(
        &self,
        request: Request<pb::ReissuePartnerCodeRequest>,
    ) -> Result<Response<pb::ReissuePartnerCodeResponse>, Status> {
        carrier::reissue_code(&self.ctx, request).await
    }

    async fn redeem_partner_code(
        &self,
        request: Request<pb::RedeemPartnerCodeRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        redemption::redeem_partner_code(&self.ctx, request).await
    }

    async fn check_overlap(
        &self,
        request: Request<pb::CheckOverlapRequest>,
    ) -> Result<Response<pb::CheckOverlapResponse>, Status> {
        restore::check_overlap(&self.ctx, request).await
    }

    async fn restore_store_purchase(
        &self,
        request: Request<pb::RestoreStorePurchaseRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        restore::restore_store_purchase(&self.ctx, request).await
    }

    async fn cancel_subscription(
        &self,
        request: Request<pb::CancelSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let access = self
            .ctx
            .authenticate_as(request.metadata(), &["account", "admin", "partner"])
            .await?;
        let req = request.into_inner();
        let id = names::subscription("name", &req.name)?;
        let key = idempotency_key(access, "CancelSubscription", &req.request_id, &req)?;
        let cancelled = self
            .ctx
            .store
            .cancel_subscription(access, id, req.immediately, key.as_ref(), self.ctx.now())
            .await?;
        Ok(Response::new(view_answer(access, cancelled)))
    }
}
