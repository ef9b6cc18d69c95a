//! App Store and Google Play purchases. One store purchase maps to one subscription,
//! owned by one account at a time; restoring it on another account moves it there.

use super::{
    NewSubscription, Store,
    carrier::{DowngradePolicy, Renewal},
    parse_uuid,
    rows::subscription_columns,
};
use crate::{
    app_stores::purchase::{StoreKind, VerifiedPurchase},
    domain::{
        access::Access,
        clock::to_micros,
        event::EventType,
        lifecycle::{Event, require},
        plan::Plan,
        subscription::{Channel, Subscription},
    },
    error::{Error, Result},
};
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

fn store_name(store: StoreKind) -> &'static str {
    match store {
        StoreKind::AppStore => "APP_STORE",
        StoreKind::PlayStore => "PLAY_STORE",
    }
}

impl Store {
    /// Attaches a verified store purchase to `account_id`: creates its subscription on
    /// first restore, moves it from another account (signing that account's devices
    /// out), and brings its plan, term, auto-renewal and status up to what the proof
    /// says. `linked` is the purchase this one replaces (a Google Play upgrade or
    /// downgrade issues a new token linked to the old one): its subscription carries on
    /// under the new id. A replay changes nothing. Errors: `FailedPrecondition`
    /// (STORE_PURCHASE_EXPIRED, STORE_PURCHASE_REVOKED) for a first restore of a purchase
    /// that no longer entitles.
    pub async fn restore_store_purchase(
        &self,
        account_id: Uuid,
        purchase: &VerifiedPurchase,
        linked: Option<&str>,
        plan: &'static Plan,
        now: DateTime<Utc>,
    ) -> Result<Subscription> {
        let store = store_name(purchase.store);
        let mut tx = self
            .begin_write(Some(Access::Account(account_id)), None, now)
            .await?;
        self.advisory_lock(
            &mut tx,
            &format!("purchase\0{store}\0{}", purchase.original_id),
        )
        .await?;
        let sql = format!(
            "SELECT subscription_id FROM store_purchases WHERE store = $1 AND original_id = $2{}",
            self.lock_rows()
        );
        let mut existing = sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(store)
            .bind(purchase.original_id.clone())
            .fetch_optional(tx.conn())
            .await?;
        if let (None, Some(linked)) = (&existing, linked) {
            existing = sqlx::query(AssertSqlSafe(sql))
                .bind(store)
                .bind(linked.to_owned())
                .fetch_optional(tx.conn())
                .await?;
            if existing.is_some() {
                sqlx::query(
                    "UPDATE store_purchases SET original_id = $3, product_id = $4, updated_at = $5 \
                     WHERE store = $1 AND original_id = $2",
                )
                .bind(store)
                .bind(linked.to_owned())
                .bind(purchase.original_id.clone())
                .bind(purchase.product_id.clone())
                .bind(to_micros(now))
                .execute(tx.conn())
                .await?;
            }
        }
        let subscription = match existing {
            None => {
                if purchase.revoked {
                    return Err(Error::precondition(
                        "STORE_PURCHASE_REVOKED",
                        "the store refunded or revoked this purchase",
                    ));
                }
                if purchase.expires_at <= now {
                    return Err(Error::precondition(
                        "STORE_PURCHASE_EXPIRED",
                        "this store purchase has expired: renew it in the store first",
                    ));
                }
                let new = NewSubscription {
                    plan,
                    channel: match purchase.store {
                        StoreKind::AppStore => Channel::AppStore,
                        StoreKind::PlayStore => Channel::PlayStore,
                    },
                    account_id: Some(account_id),
                    auto_renew: purchase.auto_renew.unwrap_or(true),
                    term_start: purchase.purchased_at.min(now),
                    term_end: Some(purchase.expires_at),
                    partner_id: None,
                    partner_reference: None,
                    product_key: None,
                };
                let subscription = self.insert_subscription(&mut tx, new, now).await?;
                sqlx::query(
                    "INSERT INTO store_purchases (store, original_id, subscription_id, \
                     product_id, environment, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(store)
                .bind(purchase.original_id.clone())
                .bind(subscription.id.to_string())
                .bind(purchase.product_id.clone())
                .bind(purchase.environment.clone())
                .bind(to_micros(now))
                .execute(tx.conn())
                .await?;
                tx.emit(EventType::SubscriptionCreated, &subscription, None, &[]);
                subscription
            }
            Some(row) => {
                let id = parse_uuid(&row.try_get::<String, _>("subscription_id")?)?;
                let mut subscription = self.lock_subscription_internal(&mut tx, id).await?;
                if subscription.account_id != Some(account_id) {
                    self.transfer(&mut tx, &mut subscription, account_id, now)
                        .await?;
                }
                if !subscription.status.is_final() {
                    self.move_to_plan(
                        &mut tx,
                        &mut subscription,
                        plan,
                        DowngradePolicy::DeactivateLeastRecentlySeen,
                        now,
                    )
                    .await?;
                }
                self.follow_proof(&mut tx, &mut subscription, purchase, now)
                    .await?;
                subscription
            }
        };
        tx.commit().await?;
        Ok(subscription)
    }

    async fn transfer(
        &self,
        tx: &mut super::WriteTx,
        subscription: &mut Subscription,
        account_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            super::rows::seat_columns!(),
            " FROM seats t WHERE t.subscription_id = $1 AND t.deactivated_at IS NULL"
        ))
        .bind(subscription.id.to_string())
        .fetch_all(tx.conn())
        .await?;
        for row in &rows {
            let seat = super::rows::seat(row)?;
            self.release_seat(tx, subscription, &seat, now).await?;
        }
        let previous = subscription
            .account_id
            .map(|id| format!("accounts/{id}"))
            .unwrap_or_default();
        subscription.account_id = Some(account_id);
        subscription.updated_at = now;
        self.save_subscription(tx, subscription).await?;
        tx.emit(
            EventType::SubscriptionTransferred,
            subscription,
            None,
            &[("previous_account", previous)],
        );
        Ok(())
    }

    async fn follow_proof(
        &self,
        tx: &mut super::WriteTx,
        subscription: &mut Subscription,
        purchase: &VerifiedPurchase,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if subscription.status == crate::domain::subscription::Status::Cancelled {
            return Ok(());
        }
        if purchase.revoked {
            if !subscription.status.is_final() {
                subscription.status = require(
                    subscription.status,
                    Event::CancelNow,
                    "SUBSCRIPTION_NOT_CANCELLABLE",
                )?;
                // Ends now, or, for a term that has not begun, as an empty term at its start.
                subscription.term_end = subscription.term_end.min(now).max(subscription.term_start);
                subscription.updated_at = now;
                self.save_subscription(tx, subscription).await?;
                tx.emit(EventType::SubscriptionCancelled, subscription, None, &[]);
            }
            return Ok(());
        }
        if let Some(auto_renew) = purchase.auto_renew
            && auto_renew != subscription.auto_renew
        {
            subscription.auto_renew = auto_renew;
            subscription.updated_at = now;
            self.save_subscription(tx, subscription).await?;
            tx.emit(EventType::SubscriptionUpdated, subscription, None, &[]);
        }
        if purchase.expires_at > subscription.term_end && purchase.expires_at > now {
            let term = crate::domain::plan::find(&subscription.plan_code)
                .ok_or_else(|| Error::Internal("subscription of an unknown plan".into()))?
                .term;
            self.extend(
                tx,
                subscription,
                term,
                Renewal::Until(purchase.expires_at),
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// Every subscription of an account, newest first.
    pub async fn account_subscriptions(&self, account_id: Uuid) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            subscription_columns!(),
            " FROM subscriptions s WHERE s.account_id = $1 ORDER BY s.created_at DESC, s.id DESC"
        ))
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::rows::subscription).collect()
    }
}
