//! The carrier lifecycle methods of `SubscriptionService`: provisioning, look-up, plan
//! changes, suspension, renewal and partner codes.

use super::{
    context::Context,
    convert, names,
    subscriptions::{idempotency_key, view, view_answer, view_at},
};
use crate::{
    domain::{
        codes::CodeKind,
        page::PageRequest,
        plan,
        redemption::NewPartnerCode,
        subscription::{Channel, SubscriptionFilter},
    },
    error::{Error, Result},
    proto as pb,
    store::{DowngradePolicy, NewSubscription, Renewal},
};
use chrono::{DateTime, Utc};
use prost::Message;
use tonic::{Request, Response, Status};

fn time_field(
    field: &'static str,
    raw: Option<prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>> {
    raw.map(|t| {
        u32::try_from(t.nanos)
            .ok()
            .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
            .ok_or_else(|| Error::invalid(field, "is not a valid timestamp"))
    })
    .transpose()
}

fn new_partner_code(ctx: &Context, now: DateTime<Utc>) -> NewPartnerCode {
    let code = CodeKind::PartnerCode.generate();
    NewPartnerCode {
        hash: ctx.code_hasher.hash(&code),
        code,
        expires_at: now + ctx.partner_code_ttl,
    }
}

/// `ProvisionSubscription`: partners only.
pub async fn provision(
    ctx: &Context,
    request: Request<pb::ProvisionSubscriptionRequest>,
) -> Result<Response<pb::ProvisionSubscriptionResponse>, Status> {
    let (access, partner_id) = ctx.authenticate_partner(request.metadata()).await?;
    let req = request.into_inner();
    let reference = req.partner_reference.trim();
    if reference.is_empty() || reference.len() > 128 || reference.chars().any(char::is_control) {
        return Err(Error::invalid(
            "partner_reference",
            "must be 1 to 128 characters without control characters",
        )
        .into());
    }
    let plan = plan::parse("plan", &req.plan)?;
    let key = idempotency_key(access, "ProvisionSubscription", &req.request_id, &req)?;
    let now = ctx.now();
    let start = time_field("start_time", req.start_time)?.unwrap_or(now);
    let new = NewSubscription {
        plan,
        channel: Channel::Carrier,
        account_id: None,
        auto_renew: true,
        term_start: start,
        term_end: None,
        partner_id: Some(partner_id),
        partner_reference: Some(reference.to_owned()),
        product_key: None,
    };
    let provisioned = ctx
        .store
        .provision_subscription(access, new, new_partner_code(ctx, now), key.as_ref(), now)
        .await?;
    Ok(Response::new(pb::ProvisionSubscriptionResponse {
        subscription: Some(view_at(
            access,
            provisioned.value.subscription,
            provisioned.answered_at,
        )),
        partner_code: provisioned.value.partner_code,
        partner_code_expire_time: Some(convert::timestamp(provisioned.value.code_expires_at)),
    }))
}

/// `ListPartnerSubscriptions`: partners only, their own subscriptions.
pub async fn list(
    ctx: &Context,
    request: Request<pb::ListPartnerSubscriptionsRequest>,
) -> Result<Response<pb::ListPartnerSubscriptionsResponse>, Status> {
    let (access, partner_id) = ctx.authenticate_partner(request.metadata()).await?;
    let req = request.into_inner();
    let page = PageRequest::parse(req.page_size, &req.page_token)?;
    let filter = SubscriptionFilter {
        status: convert::status_filter("status", req.status)?,
    };
    let reference = Some(req.partner_reference.trim()).filter(|r| !r.is_empty());
    let page = ctx
        .store
        .list_partner_subscriptions(partner_id, reference, filter, &page)
        .await?;
    Ok(Response::new(pb::ListPartnerSubscriptionsResponse {
        subscriptions: page
            .items
            .into_iter()
            .map(|s| view(ctx, access, s))
            .collect(),
        next_page_token: page.next_page_token,
    }))
}

/// `ChangePlan`: partners and the admin.
pub async fn change_plan(
    ctx: &Context,
    request: Request<pb::ChangePlanRequest>,
) -> Result<Response<pb::ChangePlanResponse>, Status> {
    let access = ctx
        .authenticate_as(request.metadata(), &["partner", "admin"])
        .await?;
    let req = request.into_inner();
    let id = names::subscription("name", &req.name)?;
    let plan = plan::parse("plan", &req.plan)?;
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
    let key = idempotency_key(access, "ChangePlan", &req.request_id, &req)?;
    let change = ctx
        .store
        .change_plan(access, id, plan, policy, key.as_ref(), ctx.now())
        .await?;
    Ok(Response::new(pb::ChangePlanResponse {
        subscription: Some(view_at(
            access,
            change.value.subscription,
            change.answered_at,
        )),
        deactivated_seat_count: change.value.deactivated_seats as i32,
    }))
}

/// `SuspendSubscription` and `ResumeSubscription`: partners and the admin.
pub async fn set_suspended<M: Message>(
    ctx: &Context,
    request: Request<M>,
    name: &str,
    request_id: &str,
    suspended: bool,
) -> Result<Response<pb::Subscription>, Status> {
    let access = ctx
        .authenticate_as(request.metadata(), &["partner", "admin"])
        .await?;
    let id = names::subscription("name", name)?;
    let method = if suspended {
        "SuspendSubscription"
    } else {
        "ResumeSubscription"
    };
    let key = idempotency_key(access, method, request_id, request.get_ref())?;
    let subscription = ctx
        .store
        .set_suspended(access, id, suspended, key.as_ref(), ctx.now())
        .await?;
    Ok(Response::new(view_answer(access, subscription)))
}

/// `RenewSubscription`: partners and the admin.
pub async fn renew(
    ctx: &Context,
    request: Request<pb::RenewSubscriptionRequest>,
) -> Result<Response<pb::Subscription>, Status> {
    let access = ctx
        .authenticate_as(request.metadata(), &["partner", "admin"])
        .await?;
    let req = request.into_inner();
    let id = names::subscription("name", &req.name)?;
    let renewal = match time_field("end_time", req.end_time)? {
        Some(end) => Renewal::Until(end),
        None => Renewal::OneTerm,
    };
    let key = idempotency_key(access, "RenewSubscription", &req.request_id, &req)?;
    let subscription = ctx
        .store
        .renew_subscription(access, id, renewal, key.as_ref(), ctx.now())
        .await?;
    Ok(Response::new(view_answer(access, subscription)))
}

/// `ReissuePartnerCode`: partners and the admin.
pub async fn reissue_code(
    ctx: &Context,
    request: Request<pb::ReissuePartnerCodeRequest>,
) -> Result<Response<pb::ReissuePartnerCodeResponse>, Status> {
    let access = ctx
        .authenticate_as(request.metadata(), &["partner", "admin"])
        .await?;
    let req = request.into_inner();
    let id = names::subscription("name", &req.name)?;
    let key = idempotency_key(access, "ReissuePartnerCode", &req.request_id, &req)?;
    let now = ctx.now();
    let issued = ctx
        .store
        .reissue_partner_code(access, id, new_partner_code(ctx, now), key.as_ref(), now)
        .await?;
    Ok(Response::new(pb::ReissuePartnerCodeResponse {
        partner_code: issued.value.partner_code,
        partner_code_expire_time: Some(convert::timestamp(issued.value.expires_at)),
    }))
}
