//! Verification of the proofs that app stores hand to devices, for "Restore from App
//! Store" and "apply existing Google purchase". Apple's signed proofs are checked
//! offline, with no I/O; a Google Play token is checked by asking Google.

pub mod apple;
pub mod google;
pub mod pem;
pub mod purchase;
