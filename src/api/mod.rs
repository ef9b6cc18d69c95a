//! The gRPC edge: one service struct per proto service, each handler in one shape —
//! validate the request, take the principal (authenticated by [`principal`]'s layer, its
//! roles stated as types), call one use case of [`crate::service`], convert the answer.
//! Errors become statuses in one place, [`status`]; what the transport and codec refuse
//! before any handler runs gets its `ErrorInfo` in [`wire`].

pub mod accounts;
pub mod client_address;
pub mod convert;
pub mod events;
pub mod names;
pub mod partners;
pub mod principal;
pub mod product_keys;
pub mod seats;
pub mod status;
pub mod stream_quota;
pub mod subscriptions;
pub mod trace;
pub mod wire;
