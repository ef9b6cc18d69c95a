//! What a verified store proof says, whichever store issued it, and the store purchases on
//! file.

use chrono::{DateTime, Utc};

/// Which store billed the purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// Apple's App Store (StoreKit).
    AppStore,
    /// Google Play.
    PlayStore,
}

/// A purchase whose proof was verified: the store signed it, and it is for this app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPurchase {
    /// The store that billed it.
    pub store: StoreKind,
    /// The id that stays the same across renewals and restores. Apple:
    /// `originalTransactionId`; Google: the purchase's root id.
    pub original_id: String,
    /// The store's product id.
    pub product_id: String,
    /// When the store billed this period.
    pub purchased_at: DateTime<Utc>,
    /// When the paid period ends.
    pub expires_at: DateTime<Utc>,
    /// Whether the subscription renews by itself; `None` when the proof does not say
    /// (Apple's signed transactions never do).
    pub auto_renew: Option<bool>,
    /// The store environment, as the store names it: "Production" or "Sandbox".
    pub environment: String,
    /// The store refunded or revoked the purchase.
    pub revoked: bool,
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
}

/// A store purchase on file: which subscription it pays for. One store purchase maps to
/// one subscription, owned by one account at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorePurchase {
    /// The store.
    pub store: StoreKind,
    /// The store's id that survives renewals (see [`VerifiedPurchase::original_id`]).
    pub original_id: String,
    /// The subscription it pays for.
    pub subscription_id: uuid::Uuid,
    /// The store's product id, as last restored.
    pub product_id: String,
    /// The store environment of the first restore.
    pub environment: String,
    /// First restore.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl VerifiedPurchase {
    /// Whether a purchase seen for the first time may start a subscription.
    /// Errors: `FailedPrecondition` (STORE_PURCHASE_REVOKED, STORE_PURCHASE_EXPIRED).
    pub fn ensure_entitles(&self, now: DateTime<Utc>) -> crate::error::Result<()> {
        use crate::error::{Error, Reason};
        if self.revoked {
            return Err(Error::precondition(
                Reason::StorePurchaseRevoked,
                "the store refunded or revoked this purchase",
            ));
        }
        if self.expires_at <= now {
            return Err(Error::precondition(
                Reason::StorePurchaseExpired,
                "this store purchase has expired: renew it in the store first",
            ));
        }
        Ok(())
    }

    /// The sales channel of the store.
    pub fn channel(&self) -> super::subscription::Channel {
        match self.store {
            StoreKind::AppStore => super::subscription::Channel::AppStore,
            StoreKind::PlayStore => super::subscription::Channel::PlayStore,
        }
    }
}

impl super::subscription::Subscription {
    /// Brings a store subscription up to what the store's proof says: a revoked purchase
    /// cancels it at once; otherwise auto-renewal follows the proof (when it says), and a
    /// later paid-through date renews it to that date. A cancelled subscription stays so.
    /// Records SUBSCRIPTION_CANCELLED, SUBSCRIPTION_UPDATED and SUBSCRIPTION_RENEWED as
    /// they happen.
    pub fn follow_store_proof(
        &mut self,
        purchase: &VerifiedPurchase,
        now: DateTime<Utc>,
        events: &mut Vec<super::event::NewEvent>,
    ) -> crate::error::Result<()> {
        use super::subscription::{Renewal, Status};
        if self.status == Status::Cancelled {
            return Ok(());
        }
        if purchase.revoked {
            return self.revoke(now, events);
        }
        if let Some(auto_renew) = purchase.auto_renew
            && auto_renew != self.auto_renew
        {
            self.auto_renew = auto_renew;
            self.updated_at = now;
            events.push(super::event::NewEvent::of(
                super::event::EventType::SubscriptionUpdated,
                self,
            ));
        }
        if purchase.expires_at > self.term_end && purchase.expires_at > now {
            let term = self.plan()?.term;
            self.renew(term, Renewal::Until(purchase.expires_at), now, events)?;
        }
        Ok(())
    }
}
