//! Redeeming partner codes and product keys behind the throttle on guesses, and issuing
//! product keys. A code or key is locked while it is redeemed, so of any number of
//! concurrent redemptions exactly one wins.

use super::Services;
use crate::{
    domain::{
        codes::CodeKind,
        principal::{Principal, Scope},
        redemption::{ProductKey, ProductKeyKind, Redemption, is_guess},
        subscription::{Channel, NewSubscription, Renewal, Subscription},
        throttle::{Attempt, Subject},
    },
    error::{Error, Resource, Result},
    observe::metrics::RedemptionOutcome,
};
use std::net::IpAddr;
use uuid::Uuid;

/// Most product keys issued in one batch.
pub const MAX_KEYS_PER_BATCH: u32 = 10_000;

/// A batch of product keys being issued, as [`Services::issue_product_keys_then`] hands
/// it over before committing.
#[derive(Debug)]
pub struct IssuedBatch<'a> {
    /// The keys, in grouped form.
    pub keys: &'a [String],
    /// The plan they sell (its code, such as `deluxe-3`).
    pub plan_code: &'a str,
    /// What they do.
    pub kind: ProductKeyKind,
    /// The batch label as stored.
    pub batch_label: &'a str,
}

/// The redemption throttle's counter of an account.
fn redeemer(account_id: Uuid) -> Subject {
    Subject::account(Attempt::Redemption, account_id)
}

impl Services {
    /// Runs a redemption of `kind` behind the account's redemption throttle and counts
    /// its outcome in the metrics.
    async fn redemption<T>(
        &self,
        kind: CodeKind,
        account_id: Uuid,
        peer: Option<IpAddr>,
        redeem: impl AsyncFnOnce() -> Result<T>,
    ) -> Result<T> {
        let outcome = self
            .throttled(
                Attempt::Redemption,
                Some(redeemer(account_id)),
                peer,
                redeem,
            )
            .await;
        self.metrics.redemption(
            kind,
            match &outcome {
                Ok(_) => RedemptionOutcome::Redeemed,
                Err(Error::Throttled { .. }) => RedemptionOutcome::Throttled,
                Err(error) if is_guess(error) => RedemptionOutcome::Guess,
                Err(_) => RedemptionOutcome::Refused,
            },
        );
        outcome
    }

    /// Attaches the subscription of a partner code (typed by the customer, checked by
    /// [`CodeKind::parse`]) to the account and links the carrier's customer reference to
    /// it. The same account redeeming again gets the subscription back.
    /// Errors: `NotFound` (PartnerCode); `FailedPrecondition`
    /// (PARTNER_CODE_ALREADY_REDEEMED, PARTNER_CODE_EXPIRED, SUBSCRIPTION_ENDED);
    /// `Throttled`.
    pub async fn redeem_partner_code(
        &self,
        account_id: Uuid,
        code: &str,
        peer: Option<IpAddr>,
    ) -> Result<Subscription> {
        let hash = self.code_hasher.hash(code);
        let principal = Principal::Account(account_id);
        self.redemption(CodeKind::PartnerCode, account_id, peer, async || {
            let mut unit = self.begin(Some(principal), None).await?;
            let mut code = unit
                .tx
                .lock_partner_code(&hash)
                .await?
                .ok_or(Error::NotFound(Resource::PartnerCode))?;
            if let Redemption::Again(id) = code.redeem(account_id, unit.now)? {
                drop(unit);
                return self.store.subscription(principal.scope(), id).await;
            }
            // The code is the customer's right to the subscription it names.
            let mut subscription = unit
                .tx
                .lock_subscription(Scope::All, code.subscription_id)
                .await?;
            subscription.claim(account_id, unit.now, &mut unit.events)?;
            unit.tx.save_subscription(&subscription).await?;
            unit.tx.save_partner_code(&code).await?;
            if let (Some(partner), Some(reference)) =
                (subscription.partner_id, &subscription.partner_reference)
            {
                unit.tx
                    .link_identity(account_id, partner, reference, unit.now)
                    .await?;
            }
            unit.commit().await?;
            Ok(subscription)
        })
        .await
    }

    /// Redeems a product key (canonical form, from [`CodeKind::parse`]): a NEW key creates
    /// a RETAIL subscription showing the key; a RENEWAL key extends `target`, one of the
    /// account's subscriptions, by the key's plan's term. Redeeming a key the account
    /// already redeemed returns the same subscription.
    /// Errors: `NotFound` (ProductKey, Subscription); `InvalidArgument` (subscription)
    /// for a renewal key without a target; `FailedPrecondition`
    /// (PRODUCT_KEY_ALREADY_REDEEMED, SUBSCRIPTION_NOT_RENEWABLE); `Throttled`.
    pub async fn redeem_product_key(
        &self,
        account_id: Uuid,
        canonical_key: &str,
        target: Option<Uuid>,
        peer: Option<IpAddr>,
    ) -> Result<Subscription> {
        let hash = self.code_hasher.hash(canonical_key);
        let principal = Principal::Account(account_id);
        self.redemption(CodeKind::ProductKey, account_id, peer, async || {
            let mut unit = self.begin(Some(principal), None).await?;
            let mut key = unit
                .tx
                .lock_product_key(&hash)
                .await?
                .ok_or(Error::NotFound(Resource::ProductKey))?;
            if let Redemption::Again(id) = key.redemption(account_id)? {
                drop(unit);
                return self.store.subscription(principal.scope(), id).await;
            }
            let plan = self.catalog.plan_of(&key.plan_code)?.clone();
            let subscription = match key.kind {
                ProductKeyKind::New => {
                    let new = NewSubscription {
                        plan: plan.clone(),
                        channel: Channel::Retail,
                        account_id: Some(account_id),
                        auto_renew: false,
                        term_start: unit.now,
                        term_end: None,
                        partner_id: None,
                        partner_reference: None,
                        product_key: Some(canonical_key.to_owned()),
                    };
                    let subscription = Subscription::create(new, unit.now, &mut unit.events);
                    unit.tx.insert_subscription(&subscription).await?;
                    subscription
                }
                ProductKeyKind::Renewal => {
                    let target = target.ok_or_else(|| {
                        Error::invalid(
                            "subscription",
                            "a renewal key extends one of your subscriptions: name it",
                        )
                    })?;
                    let mut subscription =
                        unit.tx.lock_subscription(principal.scope(), target).await?;
                    subscription.renew(plan.term, Renewal::OneTerm, unit.now, &mut unit.events)?;
                    unit.tx.save_subscription(&subscription).await?;
                    subscription
                }
            };
            key.redeem(account_id, &subscription, unit.now, &mut unit.events);
            unit.tx.save_product_key(&key).await?;
            unit.commit().await?;
            Ok(subscription)
        })
        .await
    }

    /// Issues `count` product keys of a plan; returns them in grouped form, once.
    /// Errors: `InvalidArgument` (plan, count, batch_label).
    pub async fn issue_product_keys(
        &self,
        plan_name: &str,
        count: u32,
        kind: ProductKeyKind,
        batch_label: &str,
    ) -> Result<Vec<String>> {
        self.issue_product_keys_then(plan_name, count, kind, batch_label, |_| Ok(()))
            .await
    }

    /// [`Self::issue_product_keys`], handing the batch to `deliver` (which writes the
    /// keys where they will be printed) after the keys are stored but before they are
    /// committed: when `deliver` fails nothing is committed, so a key is never stored
    /// without its plaintext having been kept. When the commit fails after `deliver`
    /// succeeded, the keys it delivered are not valid and must be discarded.
    /// Errors: those of [`Self::issue_product_keys`], and `deliver`'s.
    pub async fn issue_product_keys_then(
        &self,
        plan_name: &str,
        count: u32,
        kind: ProductKeyKind,
        batch_label: &str,
        deliver: impl FnOnce(&IssuedBatch<'_>) -> Result<()>,
    ) -> Result<Vec<String>> {
        let plan = self.catalog.parse_plan("plan", plan_name)?;
        if !(1..=MAX_KEYS_PER_BATCH).contains(&count) {
            return Err(Error::invalid("count", "must be between 1 and 10000"));
        }
        let label = ProductKey::parse_batch_label(batch_label)?;
        let keys: Vec<String> = (0..count)
            .map(|_| CodeKind::ProductKey.generate())
            .collect();
        let mut unit = self.begin(Some(Principal::Admin), None).await?;
        let stored: Vec<ProductKey> = keys
            .iter()
            .map(|key| ProductKey {
                hash: self.code_hasher.hash(key),
                plan_code: plan.code.clone(),
                kind,
                batch_label: label.clone(),
                issued_at: unit.now,
                redeemed_at: None,
                redeemed_by: None,
                subscription_id: None,
            })
            .collect();
        unit.tx.insert_product_keys(&stored).await?;
        deliver(&IssuedBatch {
            keys: &keys,
            plan_code: &plan.code,
            kind,
            batch_label: &label,
        })?;
        unit.commit().await?;
        Ok(keys)
    }
}
