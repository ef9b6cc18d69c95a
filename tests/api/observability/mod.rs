//! What an operator sees of a running server: the Prometheus endpoint, gRPC health per
//! service, reflection for the tools people have, and request ids. (Log lines and
//! exported traces need the process's one subscriber: `tests/telemetry.rs`.)

mod health;
mod metrics;
mod reflection;
mod request_ids;
