//! Compiles the Tessera contract in `../proto` with protox (no system protoc). This is
//! the only place the protos are compiled: the client stubs are always generated, the
//! server stubs are generated too but compiled only with the `server` feature (the
//! Tessera server enables it; carriers need not), and the encoded file descriptor set
//! is written for server reflection.

use std::{env, path::PathBuf};

const PROTO_ROOT: &str = "../proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(PathBuf::from(PROTO_ROOT).join("tessera/v1"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("tessera_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    // The generated code does not depend on the features, so the build script need not
    // rerun when they change: the `cfg` below is evaluated when this crate compiles.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .server_mod_attribute(".", "#[cfg(feature = \"server\")]")
        .compile_fds(descriptors)?;
    Ok(())
}
