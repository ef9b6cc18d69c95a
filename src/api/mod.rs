//! The gRPC edge: authentication, request validation, conversion and status mapping.
//! Every handler is validate → principal → store call → convert.

pub mod accounts;
pub mod carrier;
pub mod context;
pub mod convert;
pub mod events;
pub mod names;
pub mod operations;
pub mod partners;
pub mod product_keys;
pub mod redemption;
pub mod restore;
pub mod seats;
pub mod status;
pub mod subscriptions;
pub mod trace;
