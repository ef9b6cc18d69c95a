//! The aggregates of the activation core and their rules. No I/O lives here: each rule
//! is a method or function named after it, called by a use case in `crate::service`.

pub mod account;
pub mod catalog;
pub mod clock;
pub mod codes;
pub mod event;
pub mod idempotency;
pub mod lifecycle;
pub mod names;
pub mod overlap;
pub mod page;
pub mod partner;
pub mod plan;
pub mod principal;
pub mod protection;
pub mod purchase;
pub mod redemption;
pub mod seat;
pub mod secret;
mod stored_enum;
pub mod subscription;
pub mod text;
pub mod throttle;
