//! Types and rules of the activation core. No I/O lives here.

pub mod access;
pub mod account;
pub mod clock;
pub mod codes;
pub mod event;
pub mod idempotency;
pub mod lifecycle;
pub mod overlap;
pub mod page;
pub mod partner;
pub mod plan;
pub mod protection;
pub mod redemption;
pub mod seat;
pub mod secret;
pub mod subscription;
