//! What a verified store proof says, whichever store issued it.

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
