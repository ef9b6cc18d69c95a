//! The one place where library errors become gRPC statuses: the standard code, one
//! `ErrorInfo` with an UPPER_SNAKE reason, and the detail that fits (`BadRequest`,
//! `PreconditionFailure`, `RetryInfo`). Internal causes are logged, never sent.

use crate::error::{Error, Reason};
use std::collections::HashMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, PreconditionViolation, QuotaViolation, StatusExt};

/// The `ErrorInfo.domain` of every Tessera error.
pub const ERROR_DOMAIN: &str = "tessera.dev";

/// Longest message or description sent, in characters. Only an echo of what the caller
/// sent can be longer; it is cut, so that an error always fits in the response headers.
const MAX_TEXT_CHARS: usize = 200;

fn bounded(text: String) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let mut details = ErrorDetails::new();
        let reason = error.reason();
        let mut metadata = HashMap::new();
        let (code, message) = match &error {
            Error::InvalidArgument {
                field, description, ..
            } => {
                details.set_bad_request(vec![FieldViolation::new(
                    *field,
                    bounded(description.clone()),
                )]);
                (Code::InvalidArgument, error.to_string())
            }
            Error::RequestIdReused => {
                details.set_bad_request(vec![FieldViolation::new(
                    "request_id",
                    "was already used for a different request",
                )]);
                (Code::InvalidArgument, error.to_string())
            }
            Error::MalformedRequest { field, description } => {
                if let Some(field) = field {
                    details.set_bad_request(vec![FieldViolation::new(
                        field.clone(),
                        bounded(description.clone()),
                    )]);
                }
                (Code::InvalidArgument, error.to_string())
            }
            Error::RequestTooLarge { .. } => (Code::InvalidArgument, error.to_string()),
            Error::NotFound(_) => (Code::NotFound, error.to_string()),
            Error::AlreadyExists { message, .. } => (Code::AlreadyExists, message.clone()),
            Error::FailedPrecondition { reason, message } => {
                details.set_precondition_failure(vec![PreconditionViolation::new(
                    reason.as_str(),
                    "",
                    bounded(message.clone()),
                )]);
                (Code::FailedPrecondition, message.clone())
            }
            Error::SeatLimitReached { limit, held } => {
                metadata = held
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
                (
                    Code::ResourceExhausted,
                    format!("{error}: remove one of the listed devices to make room for this one"),
                )
            }
            Error::Throttled {
                message,
                retry_after,
                ..
            } => {
                details.set_retry_info(Some(*retry_after));
                (Code::ResourceExhausted, message.clone())
            }
            Error::QuotaExceeded {
                subject, message, ..
            } => {
                details.set_quota_failure(vec![QuotaViolation::new(
                    subject.clone(),
                    bounded(message.clone()),
                )]);
                (Code::ResourceExhausted, message.clone())
            }
            Error::DeadlineExceeded => (Code::DeadlineExceeded, error.to_string()),
            Error::Unavailable {
                message,
                retry_after,
                ..
            } => {
                details.set_retry_info(Some(*retry_after));
                (Code::Unavailable, message.clone())
            }
            Error::Unauthenticated { message, .. } => {
                (Code::Unauthenticated, (*message).to_owned())
            }
            Error::PermissionDenied { message, .. } => (Code::PermissionDenied, message.clone()),
            Error::Storage(cause) => {
                tracing::error!(error = %cause, "storage failure");
                if reason == Reason::StorageUnavailable {
                    (
                        Code::Unavailable,
                        "storage is unavailable, retry later".to_owned(),
                    )
                } else {
                    (Code::Internal, "internal error".to_owned())
                }
            }
            Error::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                (Code::Internal, "internal error".to_owned())
            }
        };
        details.set_error_info(reason.as_str(), ERROR_DOMAIN, metadata);
        Status::with_error_details(code, bounded(message), details)
    }
}

/// A status made below Tessera's handlers (by the gRPC transport, or by the health and
/// reflection services) with the `ErrorInfo` every error carries: its code and metadata
/// kept; an `INTERNAL` one's message logged and replaced, as for Tessera's own.
pub fn with_error_info(made: &Status, reason: Reason, message: &str) -> Status {
    let message = if made.code() == Code::Internal {
        tracing::error!(message = %made.message(), "internal error below the handlers");
        "internal error".to_owned()
    } else {
        bounded(message.to_owned())
    };
    let mut details = ErrorDetails::new();
    details.set_error_info(reason.as_str(), ERROR_DOMAIN, HashMap::new());
    Status::with_error_details_and_metadata(made.code(), message, details, made.metadata().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_of_a_huge_input_is_cut_to_fit_the_headers() {
        let huge = "é".repeat(50_000);
        let status = Status::from(Error::invalid(
            "update_mask",
            format!("unknown path {huge}"),
        ));
        assert_eq!(status.message().chars().count(), MAX_TEXT_CHARS + 1);
        assert!(status.message().ends_with('…'));
        let details = status.get_error_details();
        let violation = &details.bad_request().unwrap().field_violations[0];
        assert_eq!(violation.field, "update_mask");
        assert_eq!(violation.description.chars().count(), MAX_TEXT_CHARS + 1);
    }

    #[test]
    fn a_caller_sees_no_internal_cause() {
        let cause = "reading /etc/tessera/secret-key: permission denied";
        let status = Status::from(Error::Internal(cause.to_owned()));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        let details = status.get_error_details();
        assert_eq!(details.error_info().unwrap().reason, "INTERNAL");
        assert!(
            !format!("{status:?}").contains("permission denied"),
            "{status:?}"
        );
    }

    #[test]
    fn a_caller_sees_no_storage_cause() {
        let status = Status::from(Error::Storage(sqlx::Error::Protocol(
            "relation \"secret_table\" does not exist".to_owned(),
        )));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert!(
            !format!("{status:?}").contains("secret_table"),
            "{status:?}"
        );
    }

    #[test]
    fn ordinary_messages_are_sent_whole() {
        let status = Status::from(Error::invalid("email", "is not an email address"));
        assert!(status.message().contains("is not an email address"));
    }
}
