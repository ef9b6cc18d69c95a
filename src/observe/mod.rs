//! What an operator sees of a running server: Prometheus [`metrics`] (recorded where
//! each fact is known and served by [`endpoint`]), logs and OpenTelemetry traces
//! ([`telemetry`]), request ids ([`request_id`]) and per-service gRPC [`health`].
//!
//! Every layer may record into [`metrics::Metrics`], which the use cases carry in
//! [`crate::service::Services`]; nothing here decides anything about the domain.

pub mod endpoint;
pub mod health;
pub mod metrics;
pub mod request_id;
pub mod telemetry;
