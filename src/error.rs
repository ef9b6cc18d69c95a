//! The one error type of the library. Every layer returns it; `api::status` maps it to a
//! gRPC status in one place.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A device holding a seat, as listed when a subscription is full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldSeat {
    /// Seat resource name.
    pub name: String,
    /// Device id from the app.
    pub device_id: String,
    /// Device display name.
    pub display_name: String,
}

/// What can go wrong. Messages are safe to show to callers; internal causes are only
/// logged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is invalid.
    #[error("{field}: {description}")]
    InvalidArgument {
        /// The field path, as named in the proto.
        field: &'static str,
        /// What is wrong with it.
        description: String,
        /// UPPER_SNAKE reason for the `ErrorInfo` detail.
        reason: &'static str,
    },
    /// The resource does not exist, or the caller may not see it.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The resource exists already.
    #[error("{message}")]
    AlreadyExists {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// Explanation.
        message: String,
    },
    /// The operation does not fit the resource's current state.
    #[error("{message}")]
    FailedPrecondition {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// Explanation.
        message: String,
    },
    /// Every seat of the subscription is taken.
    #[error("all {limit} seats of the subscription are taken")]
    SeatLimitReached {
        /// The subscription's seat limit.
        limit: i64,
        /// The devices holding the seats.
        held: Vec<HeldSeat>,
    },
    /// The request id was used before for a different request.
    #[error("request_id was already used for a different request")]
    RequestIdReused,
    /// Too many attempts; retry after the delay.
    #[error("{message}")]
    Throttled {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// Explanation.
        message: String,
        /// How long to wait.
        retry_after: Duration,
    },
    /// A service Tessera depends on cannot be reached; retry after the delay.
    #[error("{message}")]
    Unavailable {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// Explanation.
        message: String,
        /// How long to wait.
        retry_after: Duration,
    },
    /// Missing or invalid credentials.
    #[error("{message}")]
    Unauthenticated {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// Explanation.
        message: &'static str,
    },
    /// Valid credentials that may not do this.
    #[error("{message}")]
    PermissionDenied {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// Explanation.
        message: String,
    },
    /// The database failed or is unreachable.
    #[error("storage failure")]
    Storage(#[from] sqlx::Error),
    /// Anything else that should not happen.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// An invalid request field.
    pub fn invalid(field: &'static str, description: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            description: description.into(),
            reason: "INVALID_ARGUMENT",
        }
    }

    /// An invalid request field with a specific reason.
    pub fn invalid_because(
        field: &'static str,
        reason: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self::InvalidArgument {
            field,
            description: description.into(),
            reason,
        }
    }

    /// A failed precondition.
    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::FailedPrecondition {
            reason,
            message: message.into(),
        }
    }
}

/// Library result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
