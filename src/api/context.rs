//! What every service shares: the store, the clock, and the credentials check.

use crate::{
    app_stores::{apple::AppleVerifier, google::PlayVerifier},
    domain::{
        access::Access,
        clock::{Clock, from_micros, to_micros},
        redemption::{CodeHasher, ThrottlePolicy},
        secret::{TokenKind, constant_time_eq, token_hash},
    },
    error::{Error, Result},
    store::Store,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tonic::metadata::MetadataMap;
use uuid::Uuid;

/// Shared state of the gRPC services.
#[derive(Debug, Clone)]
pub struct Context {
    /// The database.
    pub store: Store,
    /// The time source.
    pub clock: Arc<dyn Clock>,
    /// SHA-256 of the admin token; `None` disables admin access.
    pub admin_token_hash: Option<String>,
    /// How long a session lasts.
    pub session_ttl: chrono::Duration,
    /// How long a partner code works.
    pub partner_code_ttl: chrono::Duration,
    /// Keyed hash of partner codes and product keys.
    pub code_hasher: CodeHasher,
    /// Limits on failed redemptions.
    pub throttle: ThrottlePolicy,
    /// How long a lapsed subscription keeps protecting devices.
    pub grace: chrono::Duration,
    /// How long before the end of a term devices are warned.
    pub warning_window: chrono::Duration,
    /// How often a caught-up event watcher looks for commits it was not told of.
    pub event_poll_interval: std::time::Duration,
    /// App Store proof verification, when configured.
    pub apple: Option<Arc<AppleVerifier>>,
    /// Google Play purchase verification, when configured.
    pub play: Option<Arc<PlayVerifier>>,
}

const MISSING: Error = Error::Unauthenticated {
    reason: "CREDENTIALS_MISSING",
    message: "send `authorization: Bearer <token>` metadata",
};
const INVALID: Error = Error::Unauthenticated {
    reason: "CREDENTIALS_INVALID",
    message: "the bearer token is unknown, expired or revoked",
};

impl Context {
    /// Now, by the configured clock, at the micro-second precision the store keeps, so
    /// a value answered at once equals the same value read back later.
    pub fn now(&self) -> DateTime<Utc> {
        from_micros(to_micros(self.clock.now()))
    }

    /// The caller behind the request's bearer token. Records its kind on the RPC span.
    pub async fn authenticate(&self, metadata: &MetadataMap) -> Result<Access> {
        let token = bearer_token(metadata).ok_or(MISSING)?;
        let hash = token_hash(token);
        let access = match TokenKind::of(token) {
            Some(TokenKind::Session) => self
                .store
                .session_account(&hash, self.now())
                .await?
                .map(Access::Account),
            Some(TokenKind::Device) => self.store.device_access(&hash).await?,
            Some(TokenKind::PartnerKey) => self.store.partner_access(&hash).await?,
            None => self
                .admin_token_hash
                .as_ref()
                .filter(|admin| constant_time_eq(admin.as_bytes(), hash.as_bytes()))
                .map(|_| Access::Admin),
        }
        .ok_or(INVALID)?;
        tracing::Span::current().record("principal", access.kind());
        Ok(access)
    }

    /// Like [`Self::authenticate`], but only the given kinds of caller may proceed.
    pub async fn authenticate_as(
        &self,
        metadata: &MetadataMap,
        allowed: &[&str],
    ) -> Result<Access> {
        let access = self.authenticate(metadata).await?;
        if allowed.contains(&access.kind()) {
            Ok(access)
        } else {
            Err(Error::PermissionDenied {
                reason: "PRINCIPAL_NOT_ALLOWED",
                message: format!(
                    "a {} credential cannot call this method; use one of: {}",
                    access.kind(),
                    allowed.join(", ")
                ),
            })
        }
    }

    /// An account session's caller and its account id; other callers are refused.
    pub async fn authenticate_account(&self, metadata: &MetadataMap) -> Result<(Access, Uuid)> {
        match self.authenticate_as(metadata, &["account"]).await? {
            access @ Access::Account(id) => Ok((access, id)),
            _ => Err(Error::Internal("account principal expected".into())),
        }
    }

    /// A partner's caller and its partner id; other callers are refused.
    pub async fn authenticate_partner(&self, metadata: &MetadataMap) -> Result<(Access, Uuid)> {
        match self.authenticate_as(metadata, &["partner"]).await? {
            access @ Access::Partner(id) => Ok((access, id)),
            _ => Err(Error::Internal("partner principal expected".into())),
        }
    }
}

/// The token of `authorization: Bearer <token>`, if present.
pub fn bearer_token(metadata: &MetadataMap) -> Option<&str> {
    let value = metadata.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}
