//! Request ids that make retried mutations safe.

use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The longest request id accepted.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// A caller's request id with the fingerprint of the request it was sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// Whose id it is (`partner:{id}`, `admin`, …): ids of different callers never clash.
    pub scope: String,
    /// The caller's request id.
    pub request_id: String,
    /// SHA-256 over the method and the request's encoding.
    pub fingerprint: String,
}

impl IdempotencyKey {
    /// Builds a key; `request_id` must be 1 to 128 printable ASCII characters.
    pub fn new(
        scope: String,
        request_id: &str,
        method: &str,
        request_bytes: &[u8],
    ) -> Result<Self> {
        validate_request_id(request_id)?;
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update([0]);
        hasher.update(request_bytes);
        Ok(Self {
            scope,
            request_id: request_id.to_owned(),
            fingerprint: hex(&hasher.finalize()),
        })
    }
}

/// Checks a request id's form.
pub fn validate_request_id(request_id: &str) -> Result<()> {
    if request_id.is_empty() {
        return Err(Error::invalid("request_id", "is required"));
    }
    if request_id.len() > MAX_REQUEST_ID_LEN || !request_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "request_id",
            "must be 1 to 128 printable ASCII characters",
        ));
    }
    Ok(())
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The outcome of an idempotent change and when it was first answered, so that a replay
/// renders exactly the first response (days left included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<T> {
    /// The outcome.
    pub value: T,
    /// When the first call was answered.
    pub answered_at: DateTime<Utc>,
}

/// What is on file for a request id: the fingerprint of the request it came with and the
/// encoded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    /// SHA-256 over the method and the request's encoding.
    pub fingerprint: String,
    /// The encoded answer record (see `store::records`).
    pub response: String,
}
