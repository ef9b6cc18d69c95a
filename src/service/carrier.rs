//! The carrier lifecycle: provisioning, the partner's listing, plan changes,
//! suspension, renewal and partner codes. Every change may carry a request id.

use super::{Services, Unit};
use crate::{
    domain::{
        codes::CodeKind,
        idempotency::{Answer, IdempotencyKey},
        page::{Page, PageRequest},
        plan::Plan,
        principal::Principal,
        redemption::{IssuedCode, NewPartnerCode, PartnerCode, PlanChange, Provisioned},
        subscription::{
            Channel, DowngradePolicy, NewSubscription, Renewal, Status, Subscription,
            SubscriptionQuery, TermWindow,
        },
    },
    error::Result,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

impl Services {
    /// A fresh partner code for a subscription, working for the configured time.
    fn new_partner_code(&self, subscription_id: Uuid, now: DateTime<Utc>) -> NewPartnerCode {
        let code = CodeKind::PartnerCode.generate();
        NewPartnerCode {
            stored: PartnerCode::issue(
                self.code_hasher.hash(&code),
                subscription_id,
                now,
                self.policy.partner_code_ttl,
            ),
            code,
        }
    }

    /// Provisions an unclaimed CARRIER subscription for a partner's customer, with its
    /// first partner code. A given start must lie in the plan's [`TermWindow`].
    /// Errors: `InvalidArgument` (start_time).
    pub async fn provision_subscription(
        &self,
        partner_id: Uuid,
        reference: String,
        plan: Plan,
        start: Option<DateTime<Utc>>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Answer<Provisioned>> {
        self.idempotent(Principal::Partner(partner_id), key, async |unit| {
            if let Some(start) = start {
                TermWindow::at(unit.now, plan.term).check_start(start)?;
            }
            let new = NewSubscription {
                plan: plan.clone(),
                channel: Channel::Carrier,
                account_id: None,
                auto_renew: true,
                term_start: start.unwrap_or(unit.now),
                term_end: None,
                partner_id: Some(partner_id),
                partner_reference: Some(reference),
                product_key: None,
            };
            let subscription = Subscription::create(new, unit.now, &mut unit.events);
            unit.tx.insert_subscription(&subscription).await?;
            let code = self.new_partner_code(subscription.id, unit.now);
            unit.tx.insert_partner_code(&code.stored).await?;
            Ok(Provisioned {
                subscription,
                partner_code: code.code,
                code_expires_at: code.stored.expires_at,
            })
        })
        .await
    }

    /// A partner's subscriptions, newest first, optionally of one customer reference.
    pub async fn list_partner_subscriptions(
        &self,
        partner_id: Uuid,
        reference: Option<String>,
        status: Option<Status>,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let principal = Principal::Partner(partner_id);
        let query = SubscriptionQuery {
            partner_id: Some(partner_id),
            partner_reference: reference,
            status,
            ..SubscriptionQuery::default()
        };
        self.store
            .list_subscriptions(principal.scope(), &query, page)
            .await
    }

    /// Moves a subscription to another plan; below the active seats, `policy` decides.
    /// Errors: `NotFound`; `FailedPrecondition` (SUBSCRIPTION_ENDED,
    /// SEAT_LIMIT_BELOW_ACTIVE_SEATS).
    pub async fn change_plan(
        &self,
        principal: Principal,
        id: Uuid,
        plan: Plan,
        policy: DowngradePolicy,
        key: Option<&IdempotencyKey>,
    ) -> Result<Answer<PlanChange>> {
        self.idempotent(principal, key, async |unit| {
            let mut subscription = unit.tx.lock_subscription(principal.scope(), id).await?;
            subscription.ensure_not_ended()?;
            let deactivated_seats = change_plan_in(unit, &mut subscription, &plan, policy).await?;
            Ok(PlanChange {
                subscription,
                deactivated_seats,
            })
        })
        .await
    }

    /// Suspends or resumes; a subscription already so is returned unchanged.
    /// Errors: `NotFound`; `FailedPrecondition` (SUBSCRIPTION_NOT_SUSPENDABLE,
    /// SUBSCRIPTION_NOT_SUSPENDED).
    pub async fn set_suspended(
        &self,
        principal: Principal,
        id: Uuid,
        suspended: bool,
        key: Option<&IdempotencyKey>,
    ) -> Result<Answer<Subscription>> {
        self.idempotent(principal, key, async |unit| {
            let mut subscription = unit.tx.lock_subscription(principal.scope(), id).await?;
            let before = subscription.clone();
            subscription.set_suspended(suspended, unit.now, &mut unit.events)?;
            if subscription != before {
                unit.tx.save_subscription(&subscription).await?;
            }
            Ok(subscription)
        })
        .await
    }

    /// Renews by one term of its plan or to a given end, which must lie in the plan's
    /// [`TermWindow`].
    /// Errors: `NotFound`; `InvalidArgument` (end_time); `FailedPrecondition`
    /// (SUBSCRIPTION_NOT_RENEWABLE).
    pub async fn renew_subscription(
        &self,
        principal: Principal,
        id: Uuid,
        renewal: Renewal,
        key: Option<&IdempotencyKey>,
    ) -> Result<Answer<Subscription>> {
        self.idempotent(principal, key, async |unit| {
            let mut subscription = unit.tx.lock_subscription(principal.scope(), id).await?;
            let term = self.catalog.plan_of(&subscription.plan_code)?.term;
            if let Renewal::Until(end) = renewal {
                TermWindow::at(unit.now, term).check_end(end)?;
            }
            subscription.renew(term, renewal, unit.now, &mut unit.events)?;
            unit.tx.save_subscription(&subscription).await?;
            Ok(subscription)
        })
        .await
    }

    /// Replaces the partner code of an unclaimed subscription; the old one stops working.
    /// Errors: `NotFound`; `FailedPrecondition` (SUBSCRIPTION_ENDED,
    /// SUBSCRIPTION_ALREADY_CLAIMED).
    pub async fn reissue_partner_code(
        &self,
        principal: Principal,
        id: Uuid,
        key: Option<&IdempotencyKey>,
    ) -> Result<Answer<IssuedCode>> {
        self.idempotent(principal, key, async |unit| {
            let subscription = unit.tx.lock_subscription(principal.scope(), id).await?;
            subscription.reissue_code(&mut unit.events)?;
            for mut old in unit.tx.live_partner_codes(id).await? {
                old.revoke(unit.now);
                unit.tx.save_partner_code(&old).await?;
            }
            let code = self.new_partner_code(id, unit.now);
            unit.tx.insert_partner_code(&code.stored).await?;
            Ok(IssuedCode {
                partner_code: code.code,
                expires_at: code.stored.expires_at,
            })
        })
        .await
    }
}

/// Within a unit, with the subscription locked: frees the seats the downgrade policy
/// picks, then moves it to `plan`. Returns how many seats were freed.
pub(crate) async fn change_plan_in(
    unit: &mut Unit,
    subscription: &mut Subscription,
    plan: &Plan,
    policy: DowngradePolicy,
) -> Result<i64> {
    if subscription.plan_code == plan.code {
        return Ok(0);
    }
    let active = unit.tx.active_seats(subscription.id).await?;
    let to_free = subscription.seats_to_free_for(plan, policy, &active)?;
    let freed = to_free.len() as i64;
    for mut seat in to_free {
        subscription.release_seat(&mut seat, unit.now, &mut unit.events);
        unit.tx.save_seat(&seat).await?;
    }
    subscription.move_to_plan(plan, unit.now, &mut unit.events)?;
    unit.tx.save_subscription(subscription).await?;
    Ok(freed)
}
