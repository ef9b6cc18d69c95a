//! `tessera.v1.SubscriptionService`: plans, subscriptions, the carrier lifecycle,
//! redemption of partner codes, store restores and the double-coverage check.

use super::{
    client_address::client_address,
    convert::{self, subscription_for, time_field},
    names,
    principal::{self, Account, Admin, Partner, anyone, caller},
};
use crate::{
    domain::{
        codes::CodeKind,
        idempotency::Answer,
        page::PageRequest,
        partner::{parse_reference, parse_reference_filter},
        principal::Principal,
        purchase::StoreKind,
        subscription::{DowngradePolicy, Renewal, Subscription},
    },
    error::Error,
    proto::{self as pb, subscription_service_server::SubscriptionService},
    service::{Services, idempotency::Method},
};
use prost::Message;
use tonic::{Request, Response, Status};

/// Plans and subscriptions.
#[derive(Debug, Clone)]
pub struct SubscriptionApi {
    services: Services,
}

impl SubscriptionApi {
    /// The service over the use cases.
    pub fn new(services: Services) -> Self {
        Self { services }
    }

    /// What `principal` sees of a subscription now.
    fn view(&self, principal: Principal, subscription: Subscription) -> pb::Subscription {
        subscription_for(principal, subscription, self.services.now())
    }
}

/// What `principal` sees of an idempotent change's subscription, as first answered.
fn answered(principal: Principal, answer: Answer<Subscription>) -> pb::Subscription {
    subscription_for(principal, answer.value, answer.answered_at)
}

#[tonic::async_trait]
impl SubscriptionService for SubscriptionApi {
    async fn list_plans(
        &self,
        _request: Request<pb::ListPlansRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        Ok(Response::new(pb::ListPlansResponse {
            plans: self
                .services
                .catalog
                .plans()
                .iter()
                .map(pb::Plan::from)
                .collect(),
        }))
    }

    async fn create_subscription(
        &self,
        request: Request<pb::CreateSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let principal = caller::<(Admin,), _>(&request)?;
        let req = request.into_inner();
        let account_id = names::account("parent", &req.parent, principal)?;
        let plan = self.services.catalog.parse_plan("plan", &req.plan)?.clone();
        let key =
            Method::CreateSubscription.key(principal, &req.request_id, &req.encode_to_vec())?;
        let answer = self
            .services
            .create_subscription(principal, account_id, plan, req.auto_renew, key.as_ref())
            .await?;
        Ok(Response::new(answered(principal, answer)))
    }

    async fn get_subscription(
        &self,
        request: Request<pb::GetSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let principal = anyone(&request)?;
        let id = names::subscription("name", &request.get_ref().name)?;
        let subscription = self.services.get_subscription(principal, id).await?;
        Ok(Response::new(self.view(principal, subscription)))
    }

    async fn list_subscriptions(
        &self,
        request: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        let principal = caller::<(Account, Admin), _>(&request)?;
        let req = request.into_inner();
        let account_id = names::account("parent", &req.parent, principal)?;
        let page = PageRequest::parse(req.page_size, &req.page_token)?;
        let status = convert::status_filter("status", req.status)?;
        let page = self
            .services
            .list_subscriptions(principal, account_id, status, &page)
            .await?;
        Ok(Response::new(pb::ListSubscriptionsResponse {
            subscriptions: page
                .items
                .into_iter()
                .map(|s| self.view(principal, s))
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_subscription(
        &self,
        request: Request<pb::UpdateSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let principal = caller::<(Account, Admin), _>(&request)?;
        let req = request.into_inner();
        let subscription = req
            .subscription
            .ok_or_else(|| Error::invalid("subscription", "is required"))?;
        let id = names::subscription("subscription.name", &subscription.name)?;
        // Output-only, so never read; but a malformed timestamp is refused wherever it is.
        time_field("subscription.start_time", subscription.start_time)?;
        time_field("subscription.end_time", subscription.end_time)?;
        time_field("subscription.create_time", subscription.create_time)?;
        time_field("subscription.update_time", subscription.update_time)?;
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
            .services
            .set_auto_renew(principal, id, subscription.auto_renew)
            .await?;
        Ok(Response::new(self.view(principal, updated)))
    }

    async fn cancel_subscription(
        &self,
        request: Request<pb::CancelSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let principal = caller::<(Account, Admin, Partner), _>(&request)?;
        let req = request.into_inner();
        let id = names::subscription("name", &req.name)?;
        let key =
            Method::CancelSubscription.key(principal, &req.request_id, &req.encode_to_vec())?;
        let answer = self
            .services
            .cancel_subscription(principal, id, req.immediately, key.as_ref())
            .await?;
        Ok(Response::new(answered(principal, answer)))
    }

    async fn provision_subscription(
        &self,
        request: Request<pb::ProvisionSubscriptionRequest>,
    ) -> Result<Response<pb::ProvisionSubscriptionResponse>, Status> {
        let partner_id = principal::partner(&request)?;
        let principal = Principal::Partner(partner_id);
        let req = request.into_inner();
        let reference = parse_reference(&req.partner_reference)?;
        let plan = self.services.catalog.parse_plan("plan", &req.plan)?.clone();
        let key =
            Method::ProvisionSubscription.key(principal, &req.request_id, &req.encode_to_vec())?;
        let start = time_field("start_time", req.start_time)?;
        let answer = self
            .services
            .provision_subscription(partner_id, reference, plan, start, key.as_ref())
            .await?;
        let provisioned = answer.value;
        Ok(Response::new(pb::ProvisionSubscriptionResponse {
            subscription: Some(subscription_for(
                principal,
                provisioned.subscription,
                answer.answered_at,
            )),
            partner_code: provisioned.partner_code,
            partner_code_expire_time: Some(convert::timestamp(provisioned.code_expires_at)),
        }))
    }

    async fn list_partner_subscriptions(
        &self,
        request: Request<pb::ListPartnerSubscriptionsRequest>,
    ) -> Result<Response<pb::ListPartnerSubscriptionsResponse>, Status> {
        let partner_id = principal::partner(&request)?;
        let req = request.into_inner();
        let page = PageRequest::parse(req.page_size, &req.page_token)?;
        let status = convert::status_filter("status", req.status)?;
        let reference = parse_reference_filter(&req.partner_reference)?;
        let page = self
            .services
            .list_partner_subscriptions(partner_id, reference, status, &page)
            .await?;
        let principal = Principal::Partner(partner_id);
        Ok(Response::new(pb::ListPartnerSubscriptionsResponse {
            subscriptions: page
                .items
                .into_iter()
                .map(|s| self.view(principal, s))
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn change_plan(
        &self,
        request: Request<pb::ChangePlanRequest>,
    ) -> Result<Response<pb::ChangePlanResponse>, Status> {
        let principal = caller::<(Partner, Admin), _>(&request)?;
        let req = request.into_inner();
        let id = names::subscription("name", &req.name)?;
        let plan = self.services.catalog.parse_plan("plan", &req.plan)?.clone();
        let policy = match pb::DowngradePolicy::try_from(req.downgrade_policy) {
            Ok(pb::DowngradePolicy::Unspecified | pb::DowngradePolicy::Reject) => {
                DowngradePolicy::Reject
            }
            Ok(pb::DowngradePolicy::DeactivateLeastRecentlySeen) => {
                DowngradePolicy::DeactivateLeastRecentlySeen
            }
            Err(_) => {
                return Err(Error::invalid("downgrade_policy", "is not a known policy").into());
            }
        };
        let key = Method::ChangePlan.key(principal, &req.request_id, &req.encode_to_vec())?;
        let answer = self
            .services
            .change_plan(principal, id, plan, policy, key.as_ref())
            .await?;
        let change = answer.value;
        Ok(Response::new(pb::ChangePlanResponse {
            subscription: Some(subscription_for(
                principal,
                change.subscription,
                answer.answered_at,
            )),
            deactivated_seat_count: change.deactivated_seats as i32,
        }))
    }

    async fn suspend_subscription(
        &self,
        request: Request<pb::SuspendSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let principal = caller::<(Partner, Admin), _>(&request)?;
        let req = request.into_inner();
        let id = names::subscription("name", &req.name)?;
        let key =
            Method::SuspendSubscription.key(principal, &req.request_id, &req.encode_to_vec())?;
        let answer = self
            .services
            .set_suspended(principal, id, true, key.as_ref())
            .await?;
        Ok(Response::new(answered(principal, answer)))
    }

    async fn resume_subscription(
        &self,
        request: Request<pb::ResumeSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let principal = caller::<(Partner, Admin), _>(&request)?;
        let req = request.into_inner();
        let id = names::subscription("name", &req.name)?;
        let key =
            Method::ResumeSubscription.key(principal, &req.request_id, &req.encode_to_vec())?;
        let answer = self
            .services
            .set_suspended(principal, id, false, key.as_ref())
            .await?;
        Ok(Response::new(answered(principal, answer)))
    }

    async fn renew_subscription(
        &self,
        request: Request<pb::RenewSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let principal = caller::<(Partner, Admin), _>(&request)?;
        let req = request.into_inner();
        let id = names::subscription("name", &req.name)?;
        let renewal = match time_field("end_time", req.end_time)? {
            Some(end) => Renewal::Until(end),
            None => Renewal::OneTerm,
        };
        let key =
            Method::RenewSubscription.key(principal, &req.request_id, &req.encode_to_vec())?;
        let answer = self
            .services
            .renew_subscription(principal, id, renewal, key.as_ref())
            .await?;
        Ok(Response::new(answered(principal, answer)))
    }

    async fn reissue_partner_code(
        &self,
        request: Request<pb::ReissuePartnerCodeRequest>,
    ) -> Result<Response<pb::ReissuePartnerCodeResponse>, Status> {
        let principal = caller::<(Partner, Admin), _>(&request)?;
        let req = request.into_inner();
        let id = names::subscription("name", &req.name)?;
        let key =
            Method::ReissuePartnerCode.key(principal, &req.request_id, &req.encode_to_vec())?;
        let issued = self
            .services
            .reissue_partner_code(principal, id, key.as_ref())
            .await?
            .value;
        Ok(Response::new(pb::ReissuePartnerCodeResponse {
            partner_code: issued.partner_code,
            partner_code_expire_time: Some(convert::timestamp(issued.expires_at)),
        }))
    }

    async fn redeem_partner_code(
        &self,
        request: Request<pb::RedeemPartnerCodeRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let account_id = principal::account(&request)?;
        let code = CodeKind::PartnerCode.parse(&request.get_ref().partner_code)?;
        let peer = client_address(&request);
        let subscription = self
            .services
            .redeem_partner_code(account_id, &code, peer)
            .await?;
        Ok(Response::new(
            self.view(Principal::Account(account_id), subscription),
        ))
    }

    async fn check_overlap(
        &self,
        request: Request<pb::CheckOverlapRequest>,
    ) -> Result<Response<pb::CheckOverlapResponse>, Status> {
        let principal = caller::<(Account, Admin), _>(&request)?;
        let account_id = names::account("parent", &request.get_ref().parent, principal)?;
        let found = self.services.check_overlap(principal, account_id).await?;
        let now = self.services.now();
        let owner = matches!(principal, Principal::Account(_));
        let response = match found {
            None => pb::CheckOverlapResponse::default(),
            Some((overlap, covering)) => pb::CheckOverlapResponse {
                overlapping: true,
                subscriptions: covering
                    .into_iter()
                    .map(|s| convert::subscription(s, now, owner))
                    .collect(),
                recommended: crate::domain::names::subscription(overlap.keep),
                message: "You are protected by more than one subscription. Keep the recommended \
                          one and let the others end, so you manage your protection in one place."
                    .to_owned(),
            },
        };
        Ok(Response::new(response))
    }

    async fn restore_store_purchase(
        &self,
        request: Request<pb::RestoreStorePurchaseRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let account_id = principal::account(&request)?;
        let req = request.into_inner();
        if req.signed_proof.trim().is_empty() {
            return Err(Error::invalid("signed_proof", "is required").into());
        }
        let store = match pb::Channel::try_from(req.store) {
            Ok(pb::Channel::AppStore) => StoreKind::AppStore,
            Ok(pb::Channel::PlayStore) => StoreKind::PlayStore,
            _ => {
                return Err(Error::invalid(
                    "store",
                    "must be CHANNEL_APP_STORE or CHANNEL_PLAY_STORE",
                )
                .into());
            }
        };
        let renewal_info = Some(req.signed_renewal_info.trim()).filter(|jws| !jws.is_empty());
        let restored = self
            .services
            .restore_store_purchase(account_id, store, &req.signed_proof, renewal_info)
            .await?;
        let mut answer = self.view(Principal::Account(account_id), restored.subscription);
        answer.moved_from_other_account = restored.moved;
        Ok(Response::new(answer))
    }
}
