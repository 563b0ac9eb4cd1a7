//! Compiles `proto/` with `protox` (pure Rust, no system `protoc`) and generates the tonic
//! service with `tonic-prost-build`. The encoded descriptor set (our files and their imports) is
//! written to `OUT_DIR` for server reflection.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/elasticache/v1/service.proto",
        "proto/elasticache/v1/types.proto",
        "proto/elasticache/v1/faults.proto",
    ];
    println!("cargo:rerun-if-changed=proto");

    let fds = protox::compile(files, ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("elasticache_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    // The same without the comments (AWS's documentation, most of the bytes), for the Connect
    // layer's descriptor pool, which needs only names and types; reflection keeps the comments.
    let mut compact = fds.clone();
    for file in &mut compact.file {
        file.source_code_info = None;
    }
    std::fs::write(
        out_dir.join("elasticache_descriptor_compact.bin"),
        prost::Message::encode_to_vec(&compact),
    )?;

    // `crate::codec`: tonic-prost's codec without the length pass `Message::encode` makes first.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::codec::ProstCodec")
        .compile_fds(fds)?;
    Ok(())
}
