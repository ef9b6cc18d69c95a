//! The one error type of the library. Every layer returns it; `api::status` maps it to a
//! gRPC status in one place. Every error carries a [`Reason`]: the UPPER_SNAKE
//! `ErrorInfo.reason` callers branch on, one variant per reason the README documents.

use std::time::Duration;

macro_rules! reasons {
    ($($(#[$meta:meta])* $variant:ident = $text:literal),+ $(,)?) => {
        /// Why a call failed, as sent in `ErrorInfo.reason`. The README's error table
        /// lists these; carriers match on them, so a variant is never renamed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason { $($(#[$meta])* $variant),+ }

        impl Reason {
            /// Every reason.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),+];

            /// The UPPER_SNAKE form sent to callers.
            pub fn as_str(self) -> &'static str {
                match self { $(Reason::$variant => $text),+ }
            }
        }
    };
}

reasons! {
    /// A request field is invalid.
    InvalidArgument = "INVALID_ARGUMENT",
    /// A request id came back with a different request.
    RequestIdReused = "REQUEST_ID_REUSED",
    /// The request is not one message of the method's type: undecodable bytes, a frame
    /// cut short, no message or more than one.
    MalformedRequest = "MALFORMED_REQUEST",
    /// The request message is larger than the server takes.
    RequestTooLarge = "REQUEST_TOO_LARGE",
    /// No such method (or service) on this server.
    MethodNotFound = "METHOD_NOT_FOUND",
    /// Refused by the gRPC transport or a standard service (health, reflection) below
    /// Tessera's own handlers, with the code they chose.
    TransportError = "TRANSPORT_ERROR",
    /// A product key has the wrong shape or check character.
    ProductKeyMalformed = "PRODUCT_KEY_MALFORMED",
    /// A partner code has the wrong shape or check character.
    PartnerCodeMalformed = "PARTNER_CODE_MALFORMED",
    /// An App Store proof is not a well-formed JWS.
    AppleProofMalformed = "APPLE_PROOF_MALFORMED",
    /// An App Store proof uses another signature algorithm than ES256.
    AppleProofAlgorithm = "APPLE_PROOF_ALGORITHM",
    /// An App Store proof's certificate chain does not verify.
    AppleProofChainInvalid = "APPLE_PROOF_CHAIN_INVALID",
    /// An App Store proof's chain ends at another root.
    AppleProofUntrustedRoot = "APPLE_PROOF_UNTRUSTED_ROOT",
    /// An App Store proof's certificates lack Apple's marker extensions.
    AppleProofMissingMarker = "APPLE_PROOF_MISSING_MARKER",
    /// An App Store proof's certificates were not valid when it was signed.
    AppleProofCertificateExpired = "APPLE_PROOF_CERTIFICATE_EXPIRED",
    /// An App Store proof's signature does not verify.
    AppleProofSignatureInvalid = "APPLE_PROOF_SIGNATURE_INVALID",
    /// An App Store proof is for another app.
    AppleProofWrongBundle = "APPLE_PROOF_WRONG_BUNDLE",
    /// An App Store proof is from another environment (Sandbox or Production).
    AppleProofWrongEnvironment = "APPLE_PROOF_WRONG_ENVIRONMENT",
    /// A Google Play purchase token has the wrong shape.
    PlayTokenMalformed = "PLAY_TOKEN_MALFORMED",
    /// Google Play does not know the purchase token.
    PlayPurchaseNotFound = "PLAY_PURCHASE_NOT_FOUND",
    /// Google Play refused Tessera's service account.
    PlayAccessDenied = "PLAY_ACCESS_DENIED",
    /// A license tester's purchase on a production server.
    PlayTestPurchaseRefused = "PLAY_TEST_PURCHASE_REFUSED",
    /// Google Play cannot be reached.
    PlayUnavailable = "PLAY_UNAVAILABLE",
    /// No bearer token was sent.
    CredentialsMissing = "CREDENTIALS_MISSING",
    /// The bearer token is unknown, expired or revoked.
    CredentialsInvalid = "CREDENTIALS_INVALID",
    /// Sign-in with a wrong e-mail or password.
    InvalidCredentials = "INVALID_CREDENTIALS",
    /// The caller's kind of credential may not call the method.
    PrincipalNotAllowed = "PRINCIPAL_NOT_ALLOWED",
    /// No such account, or not the caller's.
    AccountNotFound = "ACCOUNT_NOT_FOUND",
    /// No such subscription, or not the caller's.
    SubscriptionNotFound = "SUBSCRIPTION_NOT_FOUND",
    /// No such seat, or not the caller's.
    SeatNotFound = "SEAT_NOT_FOUND",
    /// No such partner, or not the caller.
    PartnerNotFound = "PARTNER_NOT_FOUND",
    /// No such partner API key.
    PartnerKeyNotFound = "PARTNER_KEY_NOT_FOUND",
    /// No such (live) partner code.
    PartnerCodeNotFound = "PARTNER_CODE_NOT_FOUND",
    /// No such product key.
    ProductKeyNotFound = "PRODUCT_KEY_NOT_FOUND",
    /// An account with the e-mail exists.
    AccountExists = "ACCOUNT_EXISTS",
    /// A partner with the name exists.
    PartnerExists = "PARTNER_EXISTS",
    /// Every seat of the subscription is taken.
    SeatLimitReached = "SEAT_LIMIT_REACHED",
    /// Too many failed redemptions.
    RedemptionThrottled = "REDEMPTION_THROTTLED",
    /// Too many failed sign-ins to the account or from the address.
    SignInThrottled = "SIGN_IN_THROTTLED",
    /// Too many sign-ups from the address.
    SignUpThrottled = "SIGN_UP_THROTTLED",
    /// Every password-hashing worker is busy and the queue did not move in time.
    PasswordHashingBusy = "PASSWORD_HASHING_BUSY",
    /// The subscription takes no new devices in its status.
    SubscriptionNotActive = "SUBSCRIPTION_NOT_ACTIVE",
    /// The subscription cannot be cancelled in its status.
    SubscriptionNotCancellable = "SUBSCRIPTION_NOT_CANCELLABLE",
    /// The subscription cannot be suspended in its status.
    SubscriptionNotSuspendable = "SUBSCRIPTION_NOT_SUSPENDABLE",
    /// The subscription is not suspended.
    SubscriptionNotSuspended = "SUBSCRIPTION_NOT_SUSPENDED",
    /// The subscription cannot be renewed in its status.
    SubscriptionNotRenewable = "SUBSCRIPTION_NOT_RENEWABLE",
    /// The subscription has ended (expired or cancelled).
    SubscriptionEnded = "SUBSCRIPTION_ENDED",
    /// A customer has claimed the carrier subscription already.
    SubscriptionAlreadyClaimed = "SUBSCRIPTION_ALREADY_CLAIMED",
    /// A downgrade below the active seats under the REJECT policy.
    SeatLimitBelowActiveSeats = "SEAT_LIMIT_BELOW_ACTIVE_SEATS",
    /// The device's seat was removed.
    SeatNotActive = "SEAT_NOT_ACTIVE",
    /// Another account redeemed the partner code.
    PartnerCodeAlreadyRedeemed = "PARTNER_CODE_ALREADY_REDEEMED",
    /// The partner code expired.
    PartnerCodeExpired = "PARTNER_CODE_EXPIRED",
    /// Another account redeemed the product key.
    ProductKeyAlreadyRedeemed = "PRODUCT_KEY_ALREADY_REDEEMED",
    /// Restores from this store are not configured.
    StoreNotConfigured = "STORE_NOT_CONFIGURED",
    /// The store purchase has expired.
    StorePurchaseExpired = "STORE_PURCHASE_EXPIRED",
    /// The store refunded or revoked the purchase.
    StorePurchaseRevoked = "STORE_PURCHASE_REVOKED",
    /// The store product maps to no plan.
    StoreProductUnknown = "STORE_PRODUCT_UNKNOWN",
    /// The store has not been paid for the purchase (pending, or abandoned unpaid).
    StorePurchaseNotPaid = "STORE_PURCHASE_NOT_PAID",
    /// The store holds the subscription (payment on hold, or paused).
    StorePurchaseOnHold = "STORE_PURCHASE_ON_HOLD",
    /// A newer transaction of the purchase is on file than the proof.
    StoreProofOutdated = "STORE_PROOF_OUTDATED",
    /// The app bound the purchase to another account.
    StorePurchaseOtherAccount = "STORE_PURCHASE_OTHER_ACCOUNT",
    /// The store manages the subscription: cancel it there.
    SubscriptionManagedByStore = "SUBSCRIPTION_MANAGED_BY_STORE",
    /// The database cannot be reached.
    StorageUnavailable = "STORAGE_UNAVAILABLE",
    /// The caller has as many event streams open as it may.
    WatchStreamLimitReached = "WATCH_STREAM_LIMIT_REACHED",
    /// The call's deadline (`grpc-timeout`) passed before it was answered.
    DeadlineExceeded = "DEADLINE_EXCEEDED",
    /// Anything that should not happen.
    Internal = "INTERNAL",
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a `NOT_FOUND` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// An account.
    Account,
    /// A subscription.
    Subscription,
    /// A seat.
    Seat,
    /// A partner.
    Partner,
    /// A partner's API key.
    PartnerKey,
    /// A partner code.
    PartnerCode,
    /// A product key.
    ProductKey,
}

impl Resource {
    /// The noun in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Resource::Account => "account",
            Resource::Subscription => "subscription",
            Resource::Seat => "seat",
            Resource::Partner => "partner",
            Resource::PartnerKey => "partner key",
            Resource::PartnerCode => "partner code",
            Resource::ProductKey => "product key",
        }
    }

    /// The reason of its `NOT_FOUND`.
    pub fn not_found(self) -> Reason {
        match self {
            Resource::Account => Reason::AccountNotFound,
            Resource::Subscription => Reason::SubscriptionNotFound,
            Resource::Seat => Reason::SeatNotFound,
            Resource::Partner => Reason::PartnerNotFound,
            Resource::PartnerKey => Reason::PartnerKeyNotFound,
            Resource::PartnerCode => Reason::PartnerCodeNotFound,
            Resource::ProductKey => Reason::ProductKeyNotFound,
        }
    }
}

/// A device holding a seat, as listed when a subscription is full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSeat {
    /// Seat resource name.
    pub name: String,
    /// Device id from the app.
    pub device_id: String,
    /// Device display name.
    pub display_name: String,
}

/// What can go wrong. `Display` tells an operator the whole cause; `api::status` decides
/// what a caller sees, and sends internal causes to the log only.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is invalid.
    #[error("{field}: {description}")]
    InvalidArgument {
        /// The field path, as named in the proto.
        field: &'static str,
        /// What is wrong with it.
        description: String,
        /// The `ErrorInfo` reason.
        reason: Reason,
    },
    /// The resource does not exist, or the caller may not see it.
    #[error("{} not found", .0.noun())]
    NotFound(Resource),
    /// The resource exists already.
    #[error("{message}")]
    AlreadyExists {
        /// The reason.
        reason: Reason,
        /// Explanation.
        message: String,
    },
    /// The operation does not fit the resource's current state.
    #[error("{message}")]
    FailedPrecondition {
        /// The reason.
        reason: Reason,
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
    /// The request's bytes are not one message of the method's type.
    #[error("the request is not a valid message: {description}")]
    MalformedRequest {
        /// What is wrong with it.
        description: String,
        /// The field path the decoder was reading, when it knows.
        field: Option<String>,
    },
    /// The request message is larger than the server takes.
    #[error("the request message is larger than the limit of {limit} bytes")]
    RequestTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Too many attempts; retry after the delay.
    #[error("{message}")]
    Throttled {
        /// The reason.
        reason: Reason,
        /// Explanation.
        message: String,
        /// How long to wait.
        retry_after: Duration,
    },
    /// A service Tessera depends on cannot be reached; retry after the delay.
    #[error("{message}")]
    Unavailable {
        /// The reason.
        reason: Reason,
        /// Explanation.
        message: String,
        /// How long to wait.
        retry_after: Duration,
    },
    /// A quota of the caller's is used up; it frees as the caller releases what it holds.
    #[error("{message}")]
    QuotaExceeded {
        /// The reason.
        reason: Reason,
        /// What the quota is counted on, for example `partners/{id}`.
        subject: String,
        /// Explanation.
        message: String,
    },
    /// The call's deadline passed before it was answered.
    #[error("the deadline passed before the call was answered")]
    DeadlineExceeded,
    /// Missing or invalid credentials.
    #[error("{message}")]
    Unauthenticated {
        /// The reason.
        reason: Reason,
        /// Explanation.
        message: &'static str,
    },
    /// Valid credentials that may not do this.
    #[error("{message}")]
    PermissionDenied {
        /// The reason.
        reason: Reason,
        /// Explanation.
        message: String,
    },
    /// The database failed or is unreachable.
    #[error("storage failure: {0}")]
    Storage(#[from] sqlx::Error),
    /// Anything else: at start-up and on the command line, what went wrong and what to
    /// do about it (a port in use, a file that cannot be read, a database from a newer
    /// version), which `Display` shows the operator whole; in a call, something that
    /// should not happen. Callers only ever see "internal error" (`api::status`).
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// An invalid request field.
    pub fn invalid(field: &'static str, description: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            description: description.into(),
            reason: Reason::InvalidArgument,
        }
    }

    /// An invalid request field with a specific reason.
    pub fn invalid_because(
        field: &'static str,
        reason: Reason,
        description: impl Into<String>,
    ) -> Self {
        Self::InvalidArgument {
            field,
            description: description.into(),
            reason,
        }
    }

    /// A failed precondition.
    pub fn precondition(reason: Reason, message: impl Into<String>) -> Self {
        Self::FailedPrecondition {
            reason,
            message: message.into(),
        }
    }

    /// The reason sent to callers.
    pub fn reason(&self) -> Reason {
        match self {
            Error::InvalidArgument { reason, .. }
            | Error::AlreadyExists { reason, .. }
            | Error::FailedPrecondition { reason, .. }
            | Error::Throttled { reason, .. }
            | Error::QuotaExceeded { reason, .. }
            | Error::Unavailable { reason, .. }
            | Error::Unauthenticated { reason, .. }
            | Error::PermissionDenied { reason, .. } => *reason,
            Error::NotFound(resource) => resource.not_found(),
            Error::SeatLimitReached { .. } => Reason::SeatLimitReached,
            Error::RequestIdReused => Reason::RequestIdReused,
            Error::MalformedRequest { .. } => Reason::MalformedRequest,
            Error::RequestTooLarge { .. } => Reason::RequestTooLarge,
            Error::DeadlineExceeded => Reason::DeadlineExceeded,
            Error::Storage(cause) if is_unavailable(cause) => Reason::StorageUnavailable,
            Error::Storage(_) | Error::Internal(_) => Reason::Internal,
        }
    }
}

/// Whether a database failure means the database cannot be reached (worth a retry).
pub fn is_unavailable(cause: &sqlx::Error) -> bool {
    matches!(
        cause,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}

/// Library result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_upper_snake_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            let text = reason.as_str();
            assert!(
                text.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{text}"
            );
            assert!(seen.insert(text), "{text} listed twice");
        }
    }

    #[test]
    fn every_reason_is_documented_in_the_readme_error_table() {
        let readme = include_str!("../README.md");
        let table = &readme[readme
            .find("| code | reasons | details |")
            .expect("the table")..];
        for reason in Reason::ALL {
            assert!(
                table.contains(&format!("`{reason}`")),
                "{reason} is not in the README's error table"
            );
        }
    }

    #[test]
    fn an_internal_error_shows_the_operator_its_cause() {
        let error = Error::Internal("cannot listen on 127.0.0.1:50051: in use".to_owned());
        assert_eq!(
            error.to_string(),
            "cannot listen on 127.0.0.1:50051: in use"
        );
    }

    #[test]
    fn every_resource_has_its_not_found_reason() {
        for resource in [
            Resource::Account,
            Resource::Subscription,
            Resource::Seat,
            Resource::Partner,
            Resource::PartnerKey,
            Resource::PartnerCode,
            Resource::ProductKey,
        ] {
            let expected = format!(
                "{}_NOT_FOUND",
                resource.noun().to_uppercase().replace(' ', "_")
            );
            assert_eq!(resource.not_found().as_str(), expected);
        }
    }
}
