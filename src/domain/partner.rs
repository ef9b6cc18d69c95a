//! Partners (carriers and resellers) and their API keys.

use super::subscription::stored_enum;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

stored_enum! {
    /// Whether a partner may call the API.
    PartnerStatus {
        /// Its keys work.
        Active = "ACTIVE",
        /// Its keys are refused.
        Disabled = "DISABLED",
    }
}

/// A carrier or reseller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    /// Partner id.
    pub id: Uuid,
    /// Unique display name.
    pub display_name: String,
    /// Whether its keys work.
    pub status: PartnerStatus,
    /// Registration time.
    pub created_at: DateTime<Utc>,
}

/// An API key's record; the secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerKey {
    /// Key id.
    pub id: Uuid,
    /// The partner.
    pub partner_id: Uuid,
    /// The first characters of the secret, to tell keys apart.
    pub prefix: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Characters of a key shown as its prefix.
pub const KEY_PREFIX_LEN: usize = 12;
