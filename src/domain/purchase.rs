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
