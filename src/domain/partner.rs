//! Partners (carriers and resellers) and their API keys.

use super::{idempotency::hex, stored_enum::stored_enum, text::single_line};
use crate::error::Result;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// A client certificate as a partner credential: `x509:` and the SHA-256 fingerprint of
/// its DER encoding. A certificate bound to a partner is stored as one of its keys with
/// this in place of the secret (so it is listed, revoked and refused with the partner
/// like any key); the TLS handshake, not this string, proves the caller holds it. The
/// prefix keeps it apart from every bearer token, so presenting the (public) fingerprint
/// as a token authenticates no one.
pub fn certificate_credential(certificate_der: &[u8]) -> String {
    format!("x509:{}", hex(&Sha256::digest(certificate_der)))
}

impl Partner {
    /// Whether `key` lets this partner in: an unrevoked key of an active partner.
    pub fn key_works(&self, key: &PartnerKey) -> bool {
        key.partner_id == self.id
            && key.revoked_at.is_none()
            && self.status == PartnerStatus::Active
    }
}

impl PartnerKey {
    /// The record of a new key with secret `api_key` (only its first characters are
    /// kept, to tell keys apart).
    pub fn new(partner_id: Uuid, api_key: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            partner_id,
            prefix: api_key.chars().take(KEY_PREFIX_LEN).collect(),
            created_at: now,
            revoked_at: None,
        }
    }
}

/// The longest partner reference (the carrier's own reference for a customer contract),
/// in characters.
pub const MAX_REFERENCE_CHARS: usize = 128;

/// A partner reference from a request's `partner_reference`: one line of 1 to
/// [`MAX_REFERENCE_CHARS`] characters (see [`super::text`]).
/// Errors: `InvalidArgument` (partner_reference).
pub fn parse_reference(raw: &str) -> Result<String> {
    single_line("partner_reference", raw, MAX_REFERENCE_CHARS, false)
}

/// A partner reference to filter by; `None` when empty.
/// Errors: `InvalidArgument` (partner_reference), as [`parse_reference`].
pub fn parse_reference_filter(raw: &str) -> Result<Option<String>> {
    single_line("partner_reference", raw, MAX_REFERENCE_CHARS, true)
        .map(|reference| Some(reference).filter(|r| !r.is_empty()))
}
