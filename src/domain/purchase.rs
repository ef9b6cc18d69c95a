//! What a verified store proof says, whichever store issued it, the store purchases on
//! file, and the rules that follow the store's truth: which proof is newer than what is
//! on file, who may hold a purchase, and what a verified store state means for the
//! subscription it pays for. Restores call them today; server notifications call the
//! same rules.

use super::event::{EventType, NewEvent};
use super::plan::Plan;
use super::subscription::{Renewal, Status, Subscription};
use crate::error::{Error, Reason, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Which store billed the purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// Apple's App Store (StoreKit).
    AppStore,
    /// Google Play.
    PlayStore,
}

impl StoreKind {
    /// The stored and displayed name of the store.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::AppStore => "APP_STORE",
            StoreKind::PlayStore => "PLAY_STORE",
        }
    }

    /// Parses [`Self::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "APP_STORE" => Some(StoreKind::AppStore),
            "PLAY_STORE" => Some(StoreKind::PlayStore),
            _ => None,
        }
    }

    /// The store's name for customers.
    pub fn display_name(self) -> &'static str {
        match self {
            StoreKind::AppStore => "the App Store",
            StoreKind::PlayStore => "Google Play",
        }
    }
}

/// What the store says of the customer's entitlement, in store-neutral terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Paid until `expires_at` (renewing or not). Apple: every transaction; Google:
    /// ACTIVE, and CANCELED (will not renew, access until the expiry).
    Paid,
    /// A renewal payment failed and the store keeps granting access while it retries
    /// (Google IN_GRACE_PERIOD).
    GracePeriod,
    /// Bought but not paid yet (Google PENDING, e.g. cash at a shop): grants nothing.
    Pending,
    /// Abandoned before it was paid (Google PENDING_PURCHASE_CANCELED).
    NeverPaid,
    /// Access stopped until the customer fixes the payment or the pause ends (Google
    /// ON_HOLD and PAUSED): not protected.
    OnHold,
    /// Over (Google EXPIRED, or a state the store added that Tessera does not know).
    Ended,
}

/// A purchase whose proof was verified: the store signed it, and it is for this app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPurchase {
    /// The store that billed it.
    pub store: StoreKind,
    /// The id that stays the same across renewals and restores. Apple:
    /// `originalTransactionId`; Google: the purchase token.
    pub original_id: String,
    /// The transaction (billing period) this proof is about. Apple: `transactionId`;
    /// Google: the latest order id.
    pub transaction_id: String,
    /// The store's product id.
    pub product_id: String,
    /// Google Play's base plan id of the product; `None` for the App Store.
    pub base_plan_id: Option<String>,
    /// When the store billed this transaction (Google: when the subscription started).
    pub purchased_at: DateTime<Utc>,
    /// When the paid period ends.
    pub expires_at: DateTime<Utc>,
    /// When the store stated this: Apple's `signedDate`; for Google, when Tessera asked.
    pub signed_at: DateTime<Utc>,
    /// Whether the subscription renews by itself; `None` when the proof does not say
    /// (Apple's signed transactions never do: their renewal info does).
    pub auto_renew: Option<bool>,
    /// The store environment, as the store names it: "Production" or "Sandbox".
    pub environment: String,
    /// The store refunded or revoked this transaction.
    pub revoked: bool,
    /// Apple's `isUpgraded`: the customer moved to another product of the group, whose
    /// own transaction carries the entitlement on.
    pub upgraded: bool,
    /// The account the app bound the purchase to: Apple's `appAccountToken`, Google's
    /// `obfuscatedExternalAccountId`, as the app set it.
    pub account_token: Option<String>,
    /// The store's word on the entitlement.
    pub standing: Standing,
}

/// A signed renewal info (Apple's `JWSRenewalInfo`): whether the subscription will renew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalInfo {
    /// The purchase it is about (`originalTransactionId`).
    pub original_id: String,
    /// `autoRenewStatus`: whether the subscription renews at the end of the period.
    pub auto_renew: bool,
    /// When Apple signed it.
    pub signed_at: DateTime<Utc>,
}

/// A store purchase on file: which subscription it pays for, and the newest store
/// statement applied to it. One store purchase maps to one subscription, owned by one
/// account at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePurchase {
    /// The store.
    pub store: StoreKind,
    /// The store's id that survives renewals (see [`VerifiedPurchase::original_id`]).
    pub original_id: String,
    /// The subscription it pays for.
    pub subscription_id: uuid::Uuid,
    /// The store's product id, as last applied.
    pub product_id: String,
    /// The store environment of the first restore.
    pub environment: String,
    /// The newest transaction applied; `None` for purchases filed before Tessera kept it.
    pub latest_transaction_id: Option<String>,
    /// When the newest transaction applied was bought.
    pub latest_purchased_at: Option<DateTime<Utc>>,
    /// When the store signed the newest statement applied.
    pub latest_signed_at: Option<DateTime<Utc>>,
    /// When Apple signed the newest renewal info applied.
    pub renewal_signed_at: Option<DateTime<Utc>>,
    /// First restore.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What a restore does about who holds the purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The restoring account holds it already.
    Same,
    /// It moves to the restoring account from `from`.
    Moves {
        /// The account that held it.
        from: Option<Uuid>,
    },
}

impl VerifiedPurchase {
    /// The sales channel of the store.
    pub fn channel(&self) -> super::subscription::Channel {
        match self.store {
            StoreKind::AppStore => super::subscription::Channel::AppStore,
            StoreKind::PlayStore => super::subscription::Channel::PlayStore,
        }
    }

    /// The Tessera account the app bound the purchase to, if it did: the token is the
    /// account's id (a UUID). A token that is not a UUID binds nothing.
    pub fn bound_account(&self) -> Option<Uuid> {
        self.account_token
            .as_deref()
            .and_then(|token| Uuid::parse_str(token.trim()).ok())
    }

    /// Whether the store entitles the customer now: paid (or in the store's grace
    /// period), not revoked, and not past its expiry.
    pub fn entitles(&self, now: DateTime<Utc>) -> bool {
        matches!(self.standing, Standing::Paid | Standing::GracePeriod)
            && !self.revoked
            && self.expires_at > now
    }

    /// Why the proof does not entitle now, as the error a restore answers.
    /// Errors: `FailedPrecondition` (STORE_PURCHASE_REVOKED, STORE_PURCHASE_NOT_PAID,
    /// STORE_PURCHASE_ON_HOLD, STORE_PURCHASE_EXPIRED); `Ok` when it does entitle.
    pub fn ensure_entitles(&self, now: DateTime<Utc>) -> Result<()> {
        if self.entitles(now) {
            return Ok(());
        }
        let store = self.store.display_name();
        Err(match self.standing {
            _ if self.revoked => Error::precondition(
                Reason::StorePurchaseRevoked,
                "the store refunded or revoked this purchase",
            ),
            Standing::Pending | Standing::NeverPaid => Error::precondition(
                Reason::StorePurchaseNotPaid,
                format!("{store} has not been paid for this purchase yet"),
            ),
            Standing::OnHold => Error::precondition(
                Reason::StorePurchaseOnHold,
                format!(
                    "this subscription is on hold or paused in {store}: fix the payment or \
                     resume it there"
                ),
            ),
            Standing::Paid | Standing::GracePeriod | Standing::Ended => Error::precondition(
                Reason::StorePurchaseExpired,
                "this store purchase has expired: renew it in the store first",
            ),
        })
    }

    /// Whether this proof is newer than the newest statement on file: another
    /// transaction bought later, or a later statement about the same transaction (a
    /// refund, or Google's answer of now). Purchases filed before Tessera kept this take
    /// any proof as newer.
    pub fn is_newer_than(&self, on_file: &StorePurchase) -> bool {
        let (Some(transaction), Some(purchased_at), Some(signed_at)) = (
            on_file.latest_transaction_id.as_deref(),
            on_file.latest_purchased_at,
            on_file.latest_signed_at,
        ) else {
            return true;
        };
        if self.transaction_id == transaction {
            self.signed_at > signed_at
        } else {
            (self.purchased_at, self.signed_at) > (purchased_at, signed_at)
        }
    }

    /// Whether this proof is older than the newest statement on file: another
    /// transaction bought earlier, or an earlier statement about the same transaction.
    pub fn is_older_than(&self, on_file: &StorePurchase) -> bool {
        let (Some(transaction), Some(purchased_at), Some(signed_at)) = (
            on_file.latest_transaction_id.as_deref(),
            on_file.latest_purchased_at,
            on_file.latest_signed_at,
        ) else {
            return false;
        };
        if self.transaction_id == transaction {
            self.signed_at < signed_at
        } else {
            (self.purchased_at, self.signed_at) < (purchased_at, signed_at)
        }
    }

    /// Whether `account_id` may restore the purchase: not when the app bound it to
    /// another account. Errors: `PermissionDenied` (STORE_PURCHASE_OTHER_ACCOUNT).
    pub fn ensure_restorable_by(&self, account_id: Uuid) -> Result<()> {
        match self.bound_account() {
            Some(bound) if bound != account_id => Err(Error::PermissionDenied {
                reason: Reason::StorePurchaseOtherAccount,
                message: "this purchase was made for another account: sign in with that \
                          account to restore it"
                    .to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

impl StorePurchase {
    /// A purchase seen for the first time, paying for `subscription_id`, as `proof` says.
    pub fn first(proof: &VerifiedPurchase, subscription_id: Uuid, now: DateTime<Utc>) -> Self {
        let mut purchase = Self {
            store: proof.store,
            original_id: proof.original_id.clone(),
            subscription_id,
            product_id: proof.product_id.clone(),
            environment: proof.environment.clone(),
            latest_transaction_id: None,
            latest_purchased_at: None,
            latest_signed_at: None,
            renewal_signed_at: None,
            created_at: now,
            updated_at: now,
        };
        purchase.note(proof, now);
        purchase
    }

    /// Records `proof` as the newest statement applied.
    fn note(&mut self, proof: &VerifiedPurchase, now: DateTime<Utc>) {
        self.product_id = proof.product_id.clone();
        self.latest_transaction_id = Some(proof.transaction_id.clone());
        self.latest_purchased_at = Some(proof.purchased_at);
        self.latest_signed_at = Some(proof.signed_at);
        self.updated_at = now;
    }

    /// Who holds the purchase after `account_id` restores it with `proof`: the holder
    /// stays; anyone else takes it over (an unbound purchase moves) only with a proof
    /// that is not older than what is on file and entitles now (and that the app did not
    /// bind to another account: see [`VerifiedPurchase::ensure_restorable_by`]).
    /// Errors: `FailedPrecondition` — STORE_PROOF_OUTDATED for an older proof, or why the
    /// proof does not entitle (see [`VerifiedPurchase::ensure_entitles`]).
    pub fn holder_after_restore(
        &self,
        subscription: &Subscription,
        proof: &VerifiedPurchase,
        account_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Holder> {
        if subscription.account_id == Some(account_id) {
            return Ok(Holder::Same);
        }
        if proof.is_older_than(self) {
            return Err(Error::precondition(
                Reason::StoreProofOutdated,
                "a newer transaction of this purchase is on file: restore the purchase from \
                 a device that has the latest one",
            ));
        }
        proof.ensure_entitles(now)?;
        Ok(Holder::Moves {
            from: subscription.account_id,
        })
    }

    /// Brings the subscription to what the store says in `proof`, whose product grants
    /// `plan`. A proof no newer than what is on file changes nothing (a refund of an
    /// older transaction included: the newer one still entitles). A newer proof that
    /// entitles now moves the subscription to `plan`, renews it to the paid-through date
    /// and follows auto-renewal; one that does not never downgrades or reactivates: the
    /// subscription ends only when the store says no entitlement remains (the newest
    /// transaction refunded, or Google's expiry before the term on file), and pauses
    /// while the store holds it (on hold, paused). Returns whether it applied the proof;
    /// the caller saves both. A plan change needs the caller (it may free seats): this
    /// returns the plan to move to, if any, in `Followed::plan_change`.
    /// Records SUBSCRIPTION_RENEWED, SUBSCRIPTION_UPDATED, SUBSCRIPTION_SUSPENDED,
    /// SUBSCRIPTION_RESUMED and SUBSCRIPTION_CANCELLED as they happen.
    pub fn follow<'p>(
        &mut self,
        subscription: &mut Subscription,
        proof: &VerifiedPurchase,
        plan: &'p Plan,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<Followed<'p>> {
        if !proof.is_newer_than(self) {
            return Ok(Followed::default());
        }
        self.note(proof, now);
        let mut followed = Followed {
            applied: true,
            plan_change: None,
        };
        if proof.entitles(now) {
            if subscription.status == Status::Suspended {
                subscription.set_suspended(false, now, events)?;
            }
            if proof.expires_at > subscription.term_end || subscription.status.is_final() {
                subscription.follow_paid_period(plan, proof, now, events)?;
            }
            if let Some(auto_renew) = proof.auto_renew {
                subscription.follow_store_auto_renew(auto_renew, now, events);
            }
            if subscription.plan_code != plan.code {
                followed.plan_change = Some(plan);
            }
            return Ok(followed);
        }
        let ended_early =
            proof.standing == Standing::Ended && proof.expires_at < subscription.term_end;
        if (proof.revoked && !proof.upgraded) || ended_early {
            subscription.revoke(now, events)?;
        } else if proof.standing == Standing::OnHold && subscription.status.protects() {
            subscription.set_suspended(true, now, events)?;
        }
        if let Some(auto_renew) = proof.auto_renew
            && !subscription.status.is_final()
        {
            subscription.follow_store_auto_renew(auto_renew, now, events);
        }
        Ok(followed)
    }

    /// Follows a renewal info: auto-renewal as the store last said it. An older renewal
    /// info than the one applied changes nothing. Records SUBSCRIPTION_UPDATED.
    pub fn follow_renewal_info(
        &mut self,
        subscription: &mut Subscription,
        renewal: &RenewalInfo,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) {
        if self
            .renewal_signed_at
            .is_some_and(|at| at >= renewal.signed_at)
        {
            return;
        }
        self.renewal_signed_at = Some(renewal.signed_at);
        self.updated_at = now;
        if !subscription.status.is_final() {
            subscription.follow_store_auto_renew(renewal.auto_renew, now, events);
        }
    }
}

/// What [`StorePurchase::follow`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Followed<'p> {
    /// The proof was newer than what was on file and was applied.
    pub applied: bool,
    /// The plan the subscription must move to (the store product changed).
    pub plan_change: Option<&'p Plan>,
}

impl Subscription {
    /// The store says the customer paid for `proof`'s period: renews to its end, or —
    /// for a subscription the store had ended (a refund) and that is bought again —
    /// starts a new term. Records SUBSCRIPTION_RENEWED.
    fn follow_paid_period(
        &mut self,
        plan: &Plan,
        proof: &VerifiedPurchase,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) -> Result<()> {
        if self.status == Status::Cancelled {
            return self.resubscribe(proof.purchased_at.min(now), proof.expires_at, now, events);
        }
        if proof.expires_at > self.term_end && proof.expires_at > now {
            self.renew(plan.term, Renewal::Until(proof.expires_at), now, events)?;
        }
        Ok(())
    }

    /// Auto-renewal as the store says; records SUBSCRIPTION_UPDATED if it changed.
    fn follow_store_auto_renew(
        &mut self,
        auto_renew: bool,
        now: DateTime<Utc>,
        events: &mut Vec<NewEvent>,
    ) {
        if self.auto_renew != auto_renew {
            self.auto_renew = auto_renew;
            self.updated_at = now;
            events.push(NewEvent::of(EventType::SubscriptionUpdated, self));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::Catalog;
    use crate::domain::subscription::{Channel, NewSubscription};
    use chrono::Duration;

    fn proof(
        transaction: &str,
        purchased: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> VerifiedPurchase {
        VerifiedPurchase {
            store: StoreKind::AppStore,
            original_id: "1000".into(),
            transaction_id: transaction.into(),
            product_id: "com.example.suite.premium_10_yearly".into(),
            base_plan_id: None,
            purchased_at: purchased,
            expires_at: expires,
            signed_at: purchased,
            auto_renew: None,
            environment: "Production".into(),
            revoked: false,
            upgraded: false,
            account_token: None,
            standing: Standing::Paid,
        }
    }

    fn filed(first: &VerifiedPurchase, now: DateTime<Utc>) -> (StorePurchase, Subscription) {
        let plan = Catalog::embedded().plan("premium-10").unwrap().clone();
        let subscription = Subscription::create(
            NewSubscription {
                plan,
                channel: Channel::AppStore,
                account_id: Some(Uuid::now_v7()),
                auto_renew: true,
                term_start: first.purchased_at,
                term_end: Some(first.expires_at),
                partner_id: None,
                partner_reference: None,
                product_key: None,
            },
            now,
            &mut Vec::new(),
        );
        (
            StorePurchase::first(first, subscription.id, now),
            subscription,
        )
    }

    #[test]
    fn an_older_transaction_changes_nothing_even_when_refunded() {
        let now = Utc::now();
        let newest = proof("2", now - Duration::days(1), now + Duration::days(29));
        let (mut on_file, mut subscription) = filed(&newest, now);
        let before = subscription.clone();
        let plan = Catalog::embedded().plan("deluxe-3").unwrap();
        let mut old = proof("1", now - Duration::days(400), now - Duration::days(35));
        old.revoked = true;
        let mut events = Vec::new();
        let followed = on_file
            .follow(&mut subscription, &old, plan, now, &mut events)
            .unwrap();
        assert!(!followed.applied);
        assert_eq!(subscription, before);
        assert!(events.is_empty());
    }

    #[test]
    fn a_refund_of_the_newest_transaction_ends_the_subscription_and_a_newer_purchase_revives_it() {
        let now = Utc::now();
        let first = proof("1", now - Duration::days(1), now + Duration::days(29));
        let (mut on_file, mut subscription) = filed(&first, now);
        let plan = Catalog::embedded().plan("premium-10").unwrap();
        let mut refunded = first.clone();
        refunded.revoked = true;
        refunded.signed_at = now;
        let mut events = Vec::new();
        on_file
            .follow(&mut subscription, &refunded, plan, now, &mut events)
            .unwrap();
        assert_eq!(subscription.status, Status::Cancelled);

        let later = now + Duration::days(3);
        let again = proof("2", later, later + Duration::days(30));
        on_file
            .follow(&mut subscription, &again, plan, later, &mut events)
            .unwrap();
        assert_eq!(subscription.status, Status::Active);
        assert_eq!(subscription.term_end, later + Duration::days(30));
    }

    #[test]
    fn a_newer_expired_proof_neither_downgrades_nor_reactivates() {
        let now = Utc::now();
        let first = proof("1", now - Duration::days(40), now - Duration::days(10));
        let (mut on_file, mut subscription) = filed(&first, now - Duration::days(40));
        subscription.status = Status::Expired;
        let before = subscription.clone();
        let deluxe = Catalog::embedded().plan("deluxe-3").unwrap();
        let expired = proof("2", now - Duration::days(9), now - Duration::days(1));
        let followed = on_file
            .follow(&mut subscription, &expired, deluxe, now, &mut Vec::new())
            .unwrap();
        assert_eq!(followed.plan_change, None);
        assert_eq!(subscription, before);
    }
}
