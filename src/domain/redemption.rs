//! Redeeming partner codes and product keys: what is stored, what is returned, and the
//! keyed hash under which unredeemed secrets are kept.

use super::{
    idempotency::hex,
    subscription::{Subscription, stored_enum},
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

stored_enum! {
    /// What a product key does when redeemed.
    ProductKeyKind {
        /// Creates a RETAIL subscription.
        New = "NEW",
        /// Extends an existing subscription by the plan's term.
        Renewal = "RENEWAL",
    }
}

/// HMAC-SHA256 under the server's secret key: a stolen database alone does not let
/// anyone test guesses of codes and keys offline.
#[derive(Clone)]
pub struct CodeHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for CodeHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeHasher(..)")
    }
}

impl CodeHasher {
    /// A hasher with `key`.
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// The stored form of a canonical (grouped, upper-case) code.
    pub fn hash(&self, canonical_code: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(canonical_code.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

/// A freshly generated partner code and its stored form.
#[derive(Debug, Clone)]
pub struct NewPartnerCode {
    /// The code for the customer.
    pub code: String,
    /// Its keyed hash.
    pub hash: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A carrier subscription with the code that lets a customer claim it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provisioned {
    /// The subscription.
    pub subscription: Subscription,
    /// The partner code.
    pub partner_code: String,
    /// When the code stops working.
    pub code_expires_at: DateTime<Utc>,
}

/// A reissued partner code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCode {
    /// The partner code.
    pub partner_code: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A plan change and its side effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanChange {
    /// The subscription on its new plan.
    pub subscription: Subscription,
    /// Seats freed to fit the new limit.
    pub deactivated_seats: i64,
}

/// Limits on failed redemptions.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures allowed per account within a window.
    pub per_account: i64,
    /// Failures allowed per network address within a window.
    pub per_peer: i64,
    /// The window.
    pub window: chrono::Duration,
}
