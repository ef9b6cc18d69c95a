//! The one place where library errors become gRPC statuses: the standard code, one
//! `ErrorInfo` with an UPPER_SNAKE reason, and the detail that fits (`BadRequest`,
//! `PreconditionFailure`, `RetryInfo`). Internal causes are logged, never sent.

use crate::error::Error;
use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, PreconditionViolation, StatusExt};

/// The `ErrorInfo.domain` of every Tessera error.
pub const ERROR_DOMAIN: &str = "tessera.dev";

fn info(details: &mut ErrorDetails, reason: &str, metadata: HashMap<String, String>) {
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let mut details = ErrorDetails::new();
        let (code, message) = match &error {
            Error::InvalidArgument {
                field,
                description,
                reason,
            } => {
                details.set_bad_request(vec![FieldViolation::new(*field, description.clone())]);
                info(&mut details, reason, HashMap::new());
                (Code::InvalidArgument, error.to_string())
            }
            Error::RequestIdReused => {
                details.set_bad_request(vec![FieldViolation::new(
                    "request_id",
                    "was already used for a different request",
                )]);
                info(&mut details, "REQUEST_ID_REUSED", HashMap::new());
                (Code::InvalidArgument, error.to_string())
            }
            Error::NotFound(kind) => {
                let reason = format!("{}_NOT_FOUND", kind.to_uppercase().replace(' ', "_"));
                info(&mut details, &reason, HashMap::new());
                (Code::NotFound, error.to_string())
            }
            Error::AlreadyExists { reason, message } => {
                info(&mut details, reason, HashMap::new());
                (Code::AlreadyExists, message.clone())
            }
            Error::FailedPrecondition { reason, message } => {
                details.set_precondition_failure(vec![PreconditionViolation::new(
                    *reason,
                    "",
                    message.clone(),
                )]);
                info(&mut details, reason, HashMap::new());
                (Code::FailedPrecondition, message.clone())
            }
            Error::SeatLimitReached { limit, held } => {
                let mut metadata: HashMap<String, String> = held
                    .iter()
                    .map(|seat| (seat.name.clone(), seat.display_name.clone()))
                    .collect();
                metadata.insert("seat_limit".to_owned(), limit.to_string());
                details.set_precondition_failure(
                    held.iter()
                        .map(|seat| {
                            PreconditionViolation::new(
                                "SEAT_HELD",
                                seat.name.clone(),
                                format!("{} ({})", seat.display_name, seat.device_id),
                            )
                        })
                        .collect::<Vec<_>>(),
                );
                info(&mut details, "SEAT_LIMIT_REACHED", metadata);
                (
                    Code::ResourceExhausted,
                    format!("{error}: remove one of the listed devices to make room for this one"),
                )
            }
            Error::Throttled {
                reason,
                message,
                retry_after,
            } => {
                details.set_retry_info(Some(*retry_after));
                info(&mut details, reason, HashMap::new());
                (Code::ResourceExhausted, message.clone())
            }
            Error::Unavailable {
                reason,
                message,
                retry_after,
            } => {
                details.set_retry_info(Some(*retry_after));
                info(&mut details, reason, HashMap::new());
                (Code::Unavailable, message.clone())
            }
            Error::Unauthenticated { reason, message } => {
                info(&mut details, reason, HashMap::new());
                (Code::Unauthenticated, (*message).to_owned())
            }
            Error::PermissionDenied { reason, message } => {
                info(&mut details, reason, HashMap::new());
                (Code::PermissionDenied, message.clone())
            }
            Error::Storage(cause) => {
                let unavailable = matches!(
                    cause,
                    sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
                );
                tracing::error!(error = %cause, "storage failure");
                if unavailable {
                    info(&mut details, "STORAGE_UNAVAILABLE", HashMap::new());
                    (
                        Code::Unavailable,
                        "storage is unavailable, retry later".to_owned(),
                    )
                } else {
                    info(&mut details, "INTERNAL", HashMap::new());
                    (Code::Internal, "internal error".to_owned())
                }
            }
            Error::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                info(&mut details, "INTERNAL", HashMap::new());
                (Code::Internal, "internal error".to_owned())
            }
        };
        Status::with_error_details(code, message, details)
    }
}
