//! Redeeming partner codes and product keys, issuing product keys, and counting failed
//! redemptions. A code or key row is locked while it is redeemed, so of any number of
//! concurrent redemptions exactly one wins.

use super::{NewSubscription, Store, WriteTx, carrier::Renewal, parse_uuid};
use crate::{
    domain::{
        access::Access,
        clock::{from_micros, to_micros},
        event::EventType,
        plan,
        redemption::{ProductKeyKind, ThrottlePolicy},
        subscription::{Channel, Subscription},
    },
    error::{Error, Result},
};
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

/// An issued, unredeemed product key: its keyed hash.
#[derive(Debug, Clone)]
pub struct IssuedProductKey {
    /// Keyed hash of the canonical key.
    pub hash: String,
}

fn already_redeemed(what: &'static str, reason: &'static str) -> Error {
    Error::precondition(reason, format!("this {what} has already been redeemed"))
}

impl Store {
    /// Attaches the subscription of a partner code to `account_id` and links the
    /// carrier's customer reference to the account. The same account redeeming again
    /// gets the subscription back.
    pub async fn redeem_partner_code(
        &self,
        account_id: Uuid,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Subscription> {
        let mut tx = self
            .begin_write(Some(Access::Account(account_id)), None, now)
            .await?;
        let sql = format!(
            "SELECT subscription_id, expires_at, redeemed_by, revoked_at FROM partner_codes \
             WHERE code_hash = $1{}",
            self.lock_rows()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(code_hash.to_owned())
            .fetch_optional(tx.conn())
            .await?
            .ok_or(Error::NotFound("partner code"))?;
        if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
            return Err(Error::NotFound("partner code"));
        }
        let subscription_id = parse_uuid(&row.try_get::<String, _>("subscription_id")?)?;
        if let Some(by) = row.try_get::<Option<String>, _>("redeemed_by")? {
            if parse_uuid(&by)? == account_id {
                drop(tx);
                return self
                    .get_subscription(Access::Account(account_id), subscription_id)
                    .await;
            }
            return Err(already_redeemed(
                "partner code",
                "PARTNER_CODE_ALREADY_REDEEMED",
            ));
        }
        if from_micros(row.try_get("expires_at")?) <= now {
            return Err(Error::precondition(
                "PARTNER_CODE_EXPIRED",
                "this partner code has expired: ask your provider for a new one",
            ));
        }
        let mut subscription = self
            .lock_subscription_internal(&mut tx, subscription_id)
            .await?;
        if subscription.status.is_final() {
            return Err(Error::precondition(
                "SUBSCRIPTION_ENDED",
                "the subscription of this partner code has ended",
            ));
        }
        subscription.account_id = Some(account_id);
        subscription.updated_at = now;
        self.save_subscription(&mut tx, &subscription).await?;
        sqlx::query(
            "UPDATE partner_codes SET redeemed_at = $2, redeemed_by = $3 WHERE code_hash = $1",
        )
        .bind(code_hash.to_owned())
        .bind(to_micros(now))
        .bind(account_id.to_string())
        .execute(tx.conn())
        .await?;
        tx.emit(EventType::PartnerCodeRedeemed, &subscription, None, &[]);
        if let (Some(partner), Some(reference)) = (
            subscription.partner_id,
            subscription.partner_reference.clone(),
        ) {
            sqlx::query(
                "INSERT INTO account_links (account_id, partner_id, reference, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(account_id.to_string())
            .bind(partner.to_string())
            .bind(reference)
            .bind(to_micros(now))
            .execute(tx.conn())
            .await?;
        }
        tx.commit().await?;
        Ok(subscription)
    }

    /// Stores a batch of product keys (by keyed hash) for `plan_code`.
    pub async fn issue_product_keys(
        &self,
        plan_code: &str,
        kind: ProductKeyKind,
        batch_label: &str,
        keys: &[IssuedProductKey],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write(Some(Access::Admin), None, now).await?;
        for key in keys {
            sqlx::query(
                "INSERT INTO product_keys (key_hash, plan_code, kind, batch_label, issued_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(key.hash.clone())
            .bind(plan_code.to_owned())
            .bind(kind.as_str())
            .bind(batch_label.to_owned())
            .bind(to_micros(now))
            .execute(tx.conn())
            .await?;
        }
        tx.commit().await
    }

    /// Redeems a product key for `account_id`: a NEW key creates a RETAIL subscription
    /// showing `canonical_key`; a RENEWAL key extends `target`, one of the account's
    /// subscriptions. Redeeming a key the account already redeemed returns the same
    /// subscription.
    pub async fn redeem_product_key(
        &self,
        account_id: Uuid,
        canonical_key: &str,
        key_hash: &str,
        target: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Subscription> {
        let access = Access::Account(account_id);
        let mut tx = self.begin_write(Some(access), None, now).await?;
        let sql = format!(
            "SELECT plan_code, kind, redeemed_by, subscription_id FROM product_keys \
             WHERE key_hash = $1{}",
            self.lock_rows()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(key_hash.to_owned())
            .fetch_optional(tx.conn())
            .await?
            .ok_or(Error::NotFound("product key"))?;
        if let Some(by) = row.try_get::<Option<String>, _>("redeemed_by")? {
            if parse_uuid(&by)? != account_id {
                return Err(already_redeemed(
                    "product key",
                    "PRODUCT_KEY_ALREADY_REDEEMED",
                ));
            }
            let subscription_id: String = row.try_get("subscription_id")?;
            drop(tx);
            return self
                .get_subscription(access, parse_uuid(&subscription_id)?)
                .await;
        }
        let plan_code: String = row.try_get("plan_code")?;
        let plan = plan::find(&plan_code)
            .ok_or_else(|| Error::Internal(format!("product key of unknown plan {plan_code}")))?;
        let kind_text: String = row.try_get("kind")?;
        let kind = ProductKeyKind::parse(&kind_text)
            .ok_or_else(|| Error::Internal(format!("bad product key kind {kind_text:?}")))?;
        let subscription = match kind {
            ProductKeyKind::New => {
                let new = NewSubscription {
                    plan,
                    channel: Channel::Retail,
                    account_id: Some(account_id),
                    auto_renew: false,
                    term_start: now,
                    term_end: None,
                    partner_id: None,
                    partner_reference: None,
                    product_key: Some(canonical_key.to_owned()),
                };
                let subscription = self.insert_subscription(&mut tx, new, now).await?;
                tx.emit(EventType::SubscriptionCreated, &subscription, None, &[]);
                subscription
            }
            ProductKeyKind::Renewal => {
                let target = target.ok_or_else(|| {
                    Error::invalid(
                        "subscription",
                        "a renewal key extends one of your subscriptions: name it",
                    )
                })?;
                let mut subscription = self.lock_subscription(&mut tx, access, target).await?;
                self.extend(&mut tx, &mut subscription, plan.term, Renewal::OneTerm, now)
                    .await?;
                subscription
            }
        };
        self.mark_key_redeemed(&mut tx, key_hash, account_id, subscription.id, now)
            .await?;
        tx.emit(
            EventType::ProductKeyRedeemed,
            &subscription,
            None,
            &[("kind", kind.as_str().to_owned())],
        );
        tx.commit().await?;
        Ok(subscription)
    }

    async fn mark_key_redeemed(
        &self,
        tx: &mut WriteTx,
        key_hash: &str,
        account_id: Uuid,
        subscription_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE product_keys SET redeemed_at = $2, redeemed_by = $3, subscription_id = $4 \
             WHERE key_hash = $1",
        )
        .bind(key_hash.to_owned())
        .bind(to_micros(now))
        .bind(account_id.to_string())
        .bind(subscription_id.to_string())
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Reserves one redemption attempt against each subject (`account:…`, `peer:…`),
    /// atomically: each counter is bumped (or restarted when its window has passed) and
    /// read back in one statement under the row's lock, so concurrent guesses cannot all
    /// slip under the limit. When any subject is over its limit nothing is counted.
    /// Errors: `Throttled` (REDEMPTION_THROTTLED) with the time left in the window.
    pub async fn reserve_redemption_attempt(
        &self,
        subjects: &[(String, i64)],
        policy: ThrottlePolicy,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write(None, None, now).await?;
        for (subject, limit) in subjects {
            let row = sqlx::query(
                "INSERT INTO redemption_failures (subject, window_start, failures) \
                 VALUES ($1, $2, 1) ON CONFLICT (subject) DO UPDATE SET \
                 failures = CASE WHEN redemption_failures.window_start <= $3 THEN 1 \
                     ELSE redemption_failures.failures + 1 END, \
                 window_start = CASE WHEN redemption_failures.window_start <= $3 THEN $2 \
                     ELSE redemption_failures.window_start END \
                 RETURNING failures, window_start",
            )
            .bind(subject.clone())
            .bind(to_micros(now))
            .bind(to_micros(now - policy.window))
            .fetch_one(tx.conn())
            .await?;
            let attempts: i64 = row.try_get("failures")?;
            if attempts > *limit {
                let window_end = from_micros(row.try_get("window_start")?) + policy.window;
                let wait = (window_end - now).to_std().unwrap_or_default();
                return Err(Error::Throttled {
                    reason: "REDEMPTION_THROTTLED",
                    message: format!(
                        "too many failed redemptions: try again in {} seconds",
                        wait.as_secs().max(1)
                    ),
                    retry_after: wait,
                });
            }
        }
        tx.commit().await
    }

    /// Gives back an attempt reserved by [`Self::reserve_redemption_attempt`] that turned
    /// out not to be a guess.
    pub async fn release_redemption_attempt(&self, subjects: &[(String, i64)]) -> Result<()> {
        for (subject, _) in subjects {
            self.write_one(
                sqlx::query(
                    "UPDATE redemption_failures SET failures = failures - 1 \
                     WHERE subject = $1 AND failures > 0",
                )
                .bind(subject.clone()),
            )
            .await?;
        }
        Ok(())
    }

    /// Drops failure counters whose window started before `cutoff`.
    pub async fn purge_redemption_failures(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let done = self
            .write_one(
                sqlx::query("DELETE FROM redemption_failures WHERE window_start < $1")
                    .bind(to_micros(cutoff)),
            )
            .await?;
        Ok(done.rows_affected())
    }
}
