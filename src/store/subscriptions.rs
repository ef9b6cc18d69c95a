//! Subscriptions.

use super::{
    Answer, Store, WriteTx,
    idempotency::idempotent,
    rows::{self, subscription_columns, visible_subscription},
};
use crate::{
    domain::{
        access::Access,
        clock::to_micros,
        event::EventType,
        idempotency::IdempotencyKey,
        lifecycle::{Event, require},
        page::{Page, PageRequest},
        plan::Plan,
        subscription::{Channel, Status, Subscription, SubscriptionFilter},
    },
    error::{Error, Result},
};
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

/// What a new subscription is made of.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// The plan sold.
    pub plan: &'static Plan,
    /// How it was sold.
    pub channel: Channel,
    /// Owner; `None` for an unclaimed carrier subscription.
    pub account_id: Option<Uuid>,
    /// Renews by itself.
    pub auto_renew: bool,
    /// Start of the first term.
    pub term_start: DateTime<Utc>,
    /// End of the first term; one term of the plan when `None`.
    pub term_end: Option<DateTime<Utc>>,
    /// Selling partner.
    pub partner_id: Option<Uuid>,
    /// The partner's reference.
    pub partner_reference: Option<String>,
    /// The product key that created it.
    pub product_key: Option<String>,
}

/// Binds the caller as `$1` (kind) and `$2` (id) for [`visible_subscription`].
/// A device whose seat was removed sees no subscription at all.
pub(super) fn access_binds(access: Access) -> (&'static str, String) {
    match access {
        Access::Admin => (access.kind(), String::new()),
        Access::Account(id) | Access::Partner(id) => (access.kind(), id.to_string()),
        Access::Device {
            subscription_id,
            active: true,
            ..
        } => (access.kind(), subscription_id.to_string()),
        Access::Device { active: false, .. } => ("removed device", String::new()),
    }
}

impl Store {
    /// Creates a subscription. With `key`, a replay returns the first result.
    pub async fn create_subscription(
        &self,
        access: Access,
        new: NewSubscription,
        key: Option<&IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Answer<Subscription>> {
        idempotent!(self, Some(access), key, now, |tx| {
            let subscription = self.insert_subscription(&mut tx, new, now).await?;
            tx.emit(EventType::SubscriptionCreated, &subscription, None, &[]);
            subscription
        })
    }

    pub(super) async fn insert_subscription(
        &self,
        tx: &mut WriteTx,
        new: NewSubscription,
        now: DateTime<Utc>,
    ) -> Result<Subscription> {
        let subscription = Subscription {
            id: Uuid::now_v7(),
            plan_code: new.plan.code.to_owned(),
            channel: new.channel,
            status: if new.plan.trial {
                Status::Trial
            } else {
                Status::Active
            },
            account_id: new.account_id,
            seat_limit: new.plan.seat_limit,
            active_seats: 0,
            term_start: new.term_start,
            term_end: new
                .term_end
                .unwrap_or_else(|| new.plan.term.after(new.term_start)),
            auto_renew: new.auto_renew,
            cancel_at_period_end: false,
            partner_id: new.partner_id,
            partner_reference: new.partner_reference,
            product_key: new.product_key,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO subscriptions (id, plan_code, channel, status, account_id, seat_limit, \
             active_seats, term_start, term_end, auto_renew, cancel_at_period_end, partner_id, \
             partner_reference, product_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(subscription.id.to_string())
        .bind(subscription.plan_code.clone())
        .bind(subscription.channel.as_str())
        .bind(subscription.status.as_str())
        .bind(subscription.account_id.map(|id| id.to_string()))
        .bind(subscription.seat_limit)
        .bind(subscription.active_seats)
        .bind(to_micros(subscription.term_start))
        .bind(to_micros(subscription.term_end))
        .bind(i64::from(subscription.auto_renew))
        .bind(i64::from(subscription.cancel_at_period_end))
        .bind(subscription.partner_id.map(|id| id.to_string()))
        .bind(subscription.partner_reference.clone())
        .bind(subscription.product_key.clone())
        .bind(to_micros(now))
        .bind(to_micros(now))
        .execute(tx.conn())
        .await?;
        Ok(subscription)
    }

    /// A subscription `access` may see. Errors: `NotFound` otherwise.
    pub async fn get_subscription(&self, access: Access, id: Uuid) -> Result<Subscription> {
        let (kind, access_id) = access_binds(access);
        let row = sqlx::query(concat!(
            "SELECT ",
            subscription_columns!(),
            " FROM subscriptions s WHERE s.id = $3 AND ",
            visible_subscription!()
        ))
        .bind(kind)
        .bind(access_id)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound("subscription"))?;
        rows::subscription(&row)
    }

    /// Within `tx`: a subscription `access` may see, locked for update until commit.
    pub(super) async fn lock_subscription(
        &self,
        tx: &mut WriteTx,
        access: Access,
        id: Uuid,
    ) -> Result<Subscription> {
        let (kind, access_id) = access_binds(access);
        let sql = format!(
            "{}{}",
            concat!(
                "SELECT ",
                subscription_columns!(),
                " FROM subscriptions s WHERE s.id = $3 AND ",
                visible_subscription!()
            ),
            self.lock_rows()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(kind)
            .bind(access_id)
            .bind(id.to_string())
            .fetch_optional(tx.conn())
            .await?
            .ok_or(Error::NotFound("subscription"))?;
        rows::subscription(&row)
    }

    /// An account's subscriptions that `access` may see, newest first.
    pub async fn list_account_subscriptions(
        &self,
        access: Access,
        account_id: Uuid,
        filter: SubscriptionFilter,
        page: &PageRequest,
    ) -> Result<Page<Subscription>> {
        let (kind, access_id) = access_binds(access);
        let (after_time, after_id) = page.after.clone().unwrap_or_default();
        let rows = sqlx::query(concat!(
            "SELECT ",
            subscription_columns!(),
            " FROM subscriptions s WHERE s.account_id = $3 AND ",
            visible_subscription!(),
            " AND ($4 = '' OR s.status = $4)",
            " AND ($6 = '' OR s.created_at < $5 OR (s.created_at = $5 AND s.id < $6))",
            " ORDER BY s.created_at DESC, s.id DESC LIMIT $7"
        ))
        .bind(kind)
        .bind(access_id)
        .bind(account_id.to_string())
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

    /// Sets the auto-renew flag.
    pub async fn set_auto_renew(
        &self,
        access: Access,
        id: Uuid,
        auto_renew: bool,
        now: DateTime<Utc>,
    ) -> Result<Subscription> {
        let mut tx = self.begin_write(Some(access), None, now).await?;
        let mut subscription = self.lock_subscription(&mut tx, access, id).await?;
        if subscription.status.is_final() {
            return Err(Error::precondition(
                "SUBSCRIPTION_ENDED",
                "the subscription has ended",
            ));
        }
        if subscription.auto_renew != auto_renew {
            subscription.auto_renew = auto_renew;
            subscription.updated_at = now;
            self.save_subscription(&mut tx, &subscription).await?;
            tx.emit(EventType::SubscriptionUpdated, &subscription, None, &[]);
        }
        tx.commit().await?;
        Ok(subscription)
    }

    /// Cancels now (every device stops being protected) or at the end of the term.
    /// Errors: `FailedPrecondition` (SUBSCRIPTION_NOT_CANCELLABLE) once it has ended.
    pub async fn cancel_subscription(
        &self,
        access: Access,
        id: Uuid,
        immediately: bool,
        key: Option<&IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Answer<Subscription>> {
        idempotent!(self, Some(access), key, now, |tx| {
            let mut subscription = self.lock_subscription(&mut tx, access, id).await?;
            const REASON: &str = "SUBSCRIPTION_NOT_CANCELLABLE";
            let at_once = immediately || subscription.term_end <= now;
            if at_once {
                subscription.status = require(subscription.status, Event::CancelNow, REASON)?;
                // Ends now, or, for a term that has not begun, as an empty term at its start.
                subscription.term_end = subscription.term_end.min(now).max(subscription.term_start);
            } else {
                require(subscription.status, Event::PeriodEndCancel, REASON)?;
                subscription.cancel_at_period_end = true;
            }
            subscription.auto_renew = false;
            subscription.updated_at = now;
            self.save_subscription(&mut tx, &subscription).await?;
            let event_type = if at_once {
                EventType::SubscriptionCancelled
            } else {
                EventType::SubscriptionCancellationScheduled
            };
            tx.emit(event_type, &subscription, None, &[]);
            subscription
        })
    }

    /// Within `tx`: writes back the mutable fields of a locked subscription.
    pub(super) async fn save_subscription(&self, tx: &mut WriteTx, s: &Subscription) -> Result<()> {
        sqlx::query(
            "UPDATE subscriptions SET plan_code = $2, status = $3, account_id = $4, \
             seat_limit = $5, term_start = $6, term_end = $7, auto_renew = $8, \
             cancel_at_period_end = $9, partner_reference = $10, updated_at = $11 \
             WHERE id = $1",
        )
        .bind(s.id.to_string())
        .bind(s.plan_code.clone())
        .bind(s.status.as_str())
        .bind(s.account_id.map(|id| id.to_string()))
        .bind(s.seat_limit)
        .bind(to_micros(s.term_start))
        .bind(to_micros(s.term_end))
        .bind(i64::from(s.auto_renew))
        .bind(i64::from(s.cancel_at_period_end))
        .bind(s.partner_reference.clone())
        .bind(to_micros(s.updated_at))
        .execute(tx.conn())
        .await?;
        Ok(())
    }
}
