//! The generated gRPC contract, `tessera.v1`: the types of the client crate
//! `tessera-client` (built with its `server` feature), so the server, its tests and
//! carriers share one type family from one compilation of the protos.

pub use tessera_client::FILE_DESCRIPTOR_SET;
pub use tessera_client::pb::*;
