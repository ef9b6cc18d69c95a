//! Client for Tessera, the activation backend: the generated gRPC stubs of
//! `tessera.v1`, helpers for authenticating calls, and [`CarrierClient`] for carrier
//! provisioning systems.
//!
//! # Carrier provisioning
//!
//! A carrier calls Tessera with a partner API key (issued by the vendor through
//! `PartnerService.CreatePartnerKey`) and sees only the subscriptions it provisioned.
//! [`CarrierClient`] wraps the carrier lifecycle of `SubscriptionService` — provision,
//! look up, change plan, suspend, resume, cancel, renew, reissue the partner code — in
//! methods that take plain Rust values and return the response messages of [`pb`].
//!
//! ```no_run
//! use std::time::Duration;
//! use tessera_client::{CarrierClient, CarrierConfig, error_reason, pb};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = CarrierConfig::new("https://tessera.example.com", "tk_live_…")
//!     .with_default_deadline(Duration::from_secs(5));
//! let carrier = CarrierClient::connect(config).await?;
//!
//! // Contract start: provision and hand the partner code to the customer.
//! let provisioned = carrier.provision("contract-4711", "plans/deluxe-3", None).await?;
//! let subscription = provisioned.subscription.unwrap_or_default();
//! println!("code for the customer: {}", provisioned.partner_code);
//!
//! // The portal view: counts, never devices.
//! let current = carrier.get(&subscription.name).await?;
//! println!("{} of {} devices, {} days left",
//!     current.active_seat_count, current.seat_limit, current.days_left);
//!
//! // A downgrade that would strand devices is refused under REJECT.
//! match carrier
//!     .change_plan(&subscription.name, "plans/standard-1", pb::DowngradePolicy::Reject)
//!     .await
//! {
//!     Ok(changed) => println!("now {} seats", changed.subscription.unwrap_or_default().seat_limit),
//!     Err(status) if error_reason(&status).as_deref() == Some("SEAT_LIMIT_BELOW_ACTIVE_SEATS") => {
//!         println!("ask the customer to remove a device first");
//!     }
//!     Err(status) => return Err(status.into()),
//! }
//!
//! carrier.suspend(&subscription.name).await?;
//! carrier.resume(&subscription.name).await?;
//! carrier.cancel(&subscription.name, false).await?;
//! # Ok(()) }
//! ```
//!
//! ## Retries and request ids
//!
//! Each method is one logical operation. A change gets one request id (a random UUID),
//! and every automatic retry sends that same id, so Tessera applies the change at most
//! once and answers a retry with the first response. Only `UNAVAILABLE` (including a
//! connection that cannot be made) and `DEADLINE_EXCEEDED` are retried, with exponential
//! backoff and full jitter as [`RetryPolicy`] says; every other failure is returned at
//! once. Each attempt is bounded by the configured deadline.
//!
//! To stay safe across restarts of the carrier's own system, make the id yourself with
//! [`new_request_id`], store it with the pending operation before calling, and call the
//! `*_with_id` variant (for example [`CarrierClient::provision_with_id`]) with it on
//! every try. Tessera remembers ids for at least 72 hours.
//!
//! ## Errors
//!
//! Calls fail with a [`tonic::Status`]; [`error_reason`] reads its machine-readable
//! reason, such as `SEAT_LIMIT_BELOW_ACTIVE_SEATS` or `REQUEST_ID_REUSED`. Setting up
//! the client fails with an [`Error`].
//!
//! # Generated stubs
//!
//! Other callers use the stubs in [`pb`] over a channel from [`connect`], and
//! [`with_token`] to authenticate:
//!
//! ```no_run
//! use tessera_client::{pb, connect, with_token};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = connect("http://127.0.0.1:50051").await?;
//! let mut plans = pb::subscription_service_client::SubscriptionServiceClient::new(channel);
//! let list = plans.list_plans(pb::ListPlansRequest {}).await?.into_inner();
//! println!("{} plans", list.plans.len());
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! `server` adds the server side of the contract, for the Tessera server itself: the
//! `*_server` modules of [`pb`] (service traits and servers) and `FILE_DESCRIPTOR_SET`,
//! the encoded descriptors for server reflection. Carriers do not need it.

#![deny(missing_docs)]

/// The generated messages and service clients of `tessera.v1` (and, with the `server`
/// feature, the service traits and servers).
pub mod pb {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("tessera.v1");
}

/// The encoded file descriptor set of every Tessera proto, for server reflection
/// (`tonic_reflection`'s `register_encoded_file_descriptor_set`).
#[cfg(feature = "server")]
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tessera_descriptor.bin"));

mod carrier;
pub mod events;
mod retry;

pub use carrier::{CarrierClient, CarrierConfig, Error, new_request_id};
pub use events::{EventWatcher, WatchFilter, is_resumable};
pub use retry::{RetryPolicy, is_retryable};
pub use tonic;
pub use tonic_types;

use tonic::{
    Request, Status,
    metadata::MetadataValue,
    transport::{Channel, ClientTlsConfig, Endpoint},
};
use tonic_types::StatusExt;

/// Opens a channel to a Tessera server: `http://host:port` in plain text, or
/// `https://host[:port]` over TLS, checked against the system's root certificates. For a
/// private CA or a client certificate (mutual TLS), use [`CarrierConfig::channel`], or
/// build a [`tonic::transport::Endpoint`] with a
/// [`ClientTlsConfig`](tonic::transport::ClientTlsConfig).
pub async fn connect(endpoint: impl Into<String>) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(endpoint.into())?.tcp_nodelay(true);
    let endpoint = if endpoint.uri().scheme_str() == Some("https") {
        endpoint.tls_config(ClientTlsConfig::new().with_native_roots())?
    } else {
        endpoint
    };
    endpoint.connect().await
}

/// Wraps a request message with `authorization: Bearer <token>` metadata.
///
/// # Panics
/// If the token contains characters not allowed in metadata (tokens Tessera issues never do).
pub fn with_token<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .expect("bearer tokens are ASCII");
    request.metadata_mut().insert("authorization", value);
    request
}

/// The machine-readable reason of a failed call: the `reason` of the `google.rpc.ErrorInfo`
/// detail Tessera attaches to its errors, for example `SEAT_LIMIT_REACHED` or
/// `REQUEST_ID_REUSED`. `None` when the status carries no `ErrorInfo` (for example a
/// transport failure).
pub fn error_reason(status: &Status) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;
    use tonic_types::ErrorDetails;

    #[test]
    fn error_reason_reads_the_error_info_reason() {
        let details = ErrorDetails::with_error_info(
            "SEAT_LIMIT_REACHED",
            "tessera.example.com",
            std::collections::HashMap::new(),
        );
        let status =
            Status::with_error_details(Code::ResourceExhausted, "all seats taken", details);
        assert_eq!(error_reason(&status).as_deref(), Some("SEAT_LIMIT_REACHED"));
        assert_eq!(error_reason(&Status::unavailable("down")), None);
    }
}
