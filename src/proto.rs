//! The generated gRPC contract, `tessera.v1`.

#![allow(missing_docs, clippy::all)]

tonic::include_proto!("tessera.v1");

/// The encoded descriptors of every Tessera proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tessera_descriptor.bin"));
