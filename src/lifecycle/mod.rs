//! Background work inside the server.

pub mod housekeeping;
pub mod worker;
