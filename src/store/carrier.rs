//! The carrier lifecycle: provisioning, plan changes, suspension, renewal and partner
//! codes. Every mutation takes an optional idempotency key and runs in one transaction.

use super::{
    Answer, NewSubscription, Store, WriteTx,
    idempotency::idempotent,
    rows::{self, seat_columns, subscription_columns},
};
use crate::{
    domain::{
        access::Access,
        clock::to_micros,
        event::EventType,
        idempotency::IdempotencyKey,
        lifecycle::{Event, require},
        page::{Page, PageRequest},
        plan::{self, Plan, Term},
        redemption::{IssuedCode, NewPartnerCode, PlanChange, Provisioned},
        subscription::{Status, Subscription, SubscriptionFilter},
    },
    error::{Error, Result},
};
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

/// How to renew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// By one term of the plan, from the current end (or from now once it has ended).
    OneTerm,
    /// A new term right after the current one, even if that is still in the past (the
    /// lifecycle worker catching up: each run renews one term).
    Contiguous,
    /// To a given end, later than the current one.
    Until(DateTime<Utc>),
}

/// The policy for a plan change below the active seat count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DowngradePolicy {
    /// Refuse the change.
    Reject,
    /// Free the seats of the devices seen least recently.
    DeactivateLeastRecentlySeen,
}

fn ended(subscription: &Subscription) -> Result<()> {
    if subscription.status.is_final() {
        return Err(Error::precondition(
            "SUBSCRIPTION_ENDED",
            format!(
                "the subscription is {}",
                subscription.status.as_str().to_lowercase()
            ),
        ));
    }
    Ok(())
}

impl Store {
    /// Provisions an unclaimed CARRIER subscription with its first partner code.
    pub async fn provision_subscription(
        &self,
        access: Access,
        new: NewSubscription,
        code: NewPartnerCode,
        key: Option<&IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Answer<Provisioned>> {
        idempotent!(self, Some(access), key, now, |tx| {
            let subscription = self.insert_subscription(&mut tx, new, now).await?;
            self.insert_partner_code(&mut tx, subscription.id, &code, now)
                .await?;
            tx.emit(EventType::SubscriptionCreated, &subscription, None, &[]);
            Provisioned {
                subscription,
                partner_code: code.code,
                code_expires_at: code.expires_at,
            }
        })
    }

    async fn insert_partner_code(
        &self,
        tx: &mut WriteTx,
        subscription_id: Uuid,
        code: &NewPartnerCode,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO partner_codes (code_hash, subscription_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(code.hash.clone())
        .bind(subscription_id.to_string())
        .bind(to_micros(now))
        .bind(to_micros(code.expires_at))
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// A partner's subscriptions, newest first, optionally of one customer reference.
    pub async fn list_partner_subscriptions(
        &self,
        partner_id: Uuid,
        reference: Option<&str>,
        filter: SubscriptionFilter,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let (after_time, after_id) = page.after.clone().unwrap_or_default();
        let rows = sqlx::query(concat!(
            "SELECT ",
            subscription_columns!(),
            " FROM subscriptions s WHERE s.partner_id = $1",
            " AND ($2 = '' OR s.partner_reference = $2)",
            " AND ($3 = '' OR s.status = $3)",
            " AND ($5 = '' OR s.created_at < $4 OR (s.created_at = $4 AND s.id < $5))",
            " ORDER BY s.created_at DESC, s.id DESC LIMIT $6"
        ))
        .bind(partner_id.to_string())
        .bind(reference.unwrap_or("").to_owned())
        .bind(filter.status.map(Status::as_str).unwrap_or(""))
        .bind(after_time)
        .bind(after_id)
        .bind(page.size + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(rows::subscription)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size, |s| {
            (to_micros(s.created_at), s.id.to_string())
        }))
    }

    /// Moves a subscription to another plan. Below the active seat count, `policy`
    /// decides. Errors: `FailedPrecondition` (SEAT_LIMIT_BELOW_ACTIVE_SEATS,
    /// SUBSCRIPTION_ENDED).
    pub async fn change_plan(
        &self,
        access: Access,
        id: Uuid,
        plan: &'static Plan,
        policy: DowngradePolicy,
        key: Option<&IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Answer<PlanChange>> {
        idempotent!(self, Some(access), key, now, |tx| {
            let mut subscription = self.lock_subscription(&mut tx, access, id).await?;
            ended(&subscription)?;
            let deactivated_seats = self
                .move_to_plan(&mut tx, &mut subscription, plan, policy, now)
                .await?;
            PlanChange {
                subscription,
                deactivated_seats,
            }
        })
    }

    /// Within `tx`, with the subscription locked: puts it on `plan`, freeing the seats of
    /// the least recently seen devices if `policy` allows and the new limit needs it.
    /// Returns how many seats were freed. Changing to the same plan changes nothing.
    pub(super) async fn move_to_plan(
        &self,
        tx: &mut WriteTx,
        subscription: &mut Subscription,
        plan: &'static Plan,
        policy: DowngradePolicy,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        if subscription.plan_code == plan.code {
            return Ok(0);
        }
        let previous_plan = subscription.plan_code.clone();
        let excess = subscription.active_seats - plan.seat_limit;
        let mut deactivated_seats = 0;
        if excess > 0 {
            if policy == DowngradePolicy::Reject {
                return Err(Error::precondition(
                    "SEAT_LIMIT_BELOW_ACTIVE_SEATS",
                    format!(
                        "{} devices are active and {} allows {}: free seats first or \
                         choose DEACTIVATE_LEAST_RECENTLY_SEEN",
                        subscription.active_seats, plan.code, plan.seat_limit
                    ),
                ));
            }
            for seat in self
                .least_recently_seen(tx, subscription.id, excess)
                .await?
            {
                self.release_seat(tx, subscription, &seat, now).await?;
                deactivated_seats += 1;
            }
        }
        subscription.plan_code = plan.code.to_owned();
        subscription.seat_limit = plan.seat_limit;
        subscription.updated_at = now;
        self.save_subscription(tx, subscription).await?;
        tx.emit(
            EventType::SubscriptionPlanChanged,
            subscription,
            None,
            &[("previous_plan", previous_plan)],
        );
        Ok(deactivated_seats)
    }

    async fn least_recently_seen(
        &self,
        tx: &mut WriteTx,
        subscription_id: Uuid,
        count: i64,
    ) -> Result<Vec<crate::domain::seat::Seat>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            seat_columns!(),
            " FROM seats t WHERE t.subscription_id = $1 AND t.deactivated_at IS NULL",
            " ORDER BY t.last_seen_at, t.id LIMIT $2"
        ))
        .bind(subscription_id.to_string())
        .bind(count)
        .fetch_all(tx.conn())
        .await?;
        rows.iter().map(rows::seat).collect()
    }

    /// Applies a suspend or resume; a subscription already in the target state is
    /// returned unchanged.
    pub async fn set_suspended(
        &self,
        access: Access,
        id: Uuid,
        suspended: bool,
        key: Option<&IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Answer<Subscription>> {
        idempotent!(self, Some(access), key, now, |tx| {
            let mut subscription = self.lock_subscription(&mut tx, access, id).await?;
            let already = (subscription.status == Status::Suspended) == suspended
                && !subscription.status.is_final();
            if !already {
                let (event, reason) = if suspended {
                    (Event::Suspend, "SUBSCRIPTION_NOT_SUSPENDABLE")
                } else {
                    (Event::Resume, "SUBSCRIPTION_NOT_SUSPENDED")
                };
                subscription.status = require(subscription.status, event, reason)?;
                subscription.updated_at = now;
                self.save_subscription(&mut tx, &subscription).await?;
                let event_type = if suspended {
                    EventType::SubscriptionSuspended
                } else {
                    EventType::SubscriptionResumed
                };
                tx.emit(event_type, &subscription, None, &[]);
            }
            subscription
        })
    }

    /// Renews: a subscription in grace or expired becomes active again.
    /// Errors: `InvalidArgument` (end_time) for an end not later than the current one;
    /// `FailedPrecondition` (SUBSCRIPTION_NOT_RENEWABLE) for a cancelled one.
    pub async fn renew_subscription(
        &self,
        access: Access,
        id: Uuid,
        renewal: Renewal,
        key: Option<&IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Answer<Subscription>> {
        idempotent!(self, Some(access), key, now, |tx| {
            let mut subscription = self.lock_subscription(&mut tx, access, id).await?;
            let term = plan::find(&subscription.plan_code)
                .ok_or_else(|| Error::Internal("subscription of an unknown plan".into()))?
                .term;
            self.extend(&mut tx, &mut subscription, term, renewal, now)
                .await?;
            subscription
        })
    }

    /// Within `tx`, with the subscription locked: extends its term and applies `Renew`.
    pub(super) async fn extend(
        &self,
        tx: &mut WriteTx,
        subscription: &mut Subscription,
        term: Term,
        renewal: Renewal,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let status = require(
            subscription.status,
            Event::Renew,
            "SUBSCRIPTION_NOT_RENEWABLE",
        )?;
        let ended = subscription.term_end <= now;
        let (start, end) = match renewal {
            Renewal::Contiguous => (subscription.term_end, term.after(subscription.term_end)),
            Renewal::OneTerm if ended => (now, term.after(now)),
            Renewal::OneTerm => (subscription.term_start, term.after(subscription.term_end)),
            Renewal::Until(end) if end > subscription.term_end && end > now => {
                (if ended { now } else { subscription.term_start }, end)
            }
            Renewal::Until(_) => {
                return Err(Error::invalid(
                    "end_time",
                    "must be later than the current end of term and than now",
                ));
            }
        };
        subscription.term_start = start;
        subscription.term_end = end;
        subscription.status = status;
        subscription.cancel_at_period_end = false;
        subscription.updated_at = now;
        self.save_subscription(tx, subscription).await?;
        tx.emit(EventType::SubscriptionRenewed, subscription, None, &[]);
        Ok(())
    }

    /// Replaces the partner code of an unclaimed subscription; the old one stops working.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_ALREADY_CLAIMED, SUBSCRIPTION_ENDED).
    pub async fn reissue_partner_code(
        &self,
        access: Access,
        id: Uuid,
        code: NewPartnerCode,
        key: Option<&IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Answer<IssuedCode>> {
        idempotent!(self, Some(access), key, now, |tx| {
            let subscription = self.lock_subscription(&mut tx, access, id).await?;
            ended(&subscription)?;
            if subscription.account_id.is_some() {
                return Err(Error::precondition(
                    "SUBSCRIPTION_ALREADY_CLAIMED",
                    "a customer has already claimed this subscription",
                ));
            }
            sqlx::query(
                "UPDATE partner_codes SET revoked_at = $2 \
                 WHERE subscription_id = $1 AND redeemed_at IS NULL AND revoked_at IS NULL",
            )
            .bind(id.to_string())
            .bind(to_micros(now))
            .execute(tx.conn())
            .await?;
            self.insert_partner_code(&mut tx, id, &code, now).await?;
            tx.emit(EventType::PartnerCodeReissued, &subscription, None, &[]);
            IssuedCode {
                partner_code: code.code,
                expires_at: code.expires_at,
            }
        })
    }

    /// Within `tx`: a subscription by id for an internal step, locked for update.
    pub(super) async fn lock_subscription_internal(
        &self,
        tx: &mut WriteTx,
        id: Uuid,
    ) -> Result<Subscription> {
        let sql = format!(
            "{}{}",
            concat!(
                "SELECT ",
                subscription_columns!(),
                " FROM subscriptions s WHERE s.id = $1"
            ),
            self.lock_rows()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(tx.conn())
            .await?
            .ok_or(Error::NotFound("subscription"))?;
        rows::subscription(&row)
    }
}
