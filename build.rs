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
    pack_relative_relocations();
    order_startup_code();

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

/// Links the binary with packed relative relocations (`DT_RELR`) where the C library loads
/// them (glibc 2.36, Debian 12): the 70,000 relocations of a position-independent executable
/// then take tens of KB instead of 1.6 MB that the loader reads at every start and that stay
/// resident (DESIGN §9's idle RSS, BENCHMARKS.md). Only for a native build on such a glibc:
/// the binary would not start on an older one.
fn pack_relative_relocations() {
    let var = |name: &str| env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("HOST") != var("TARGET")
    {
        return;
    }
    // `ldd --version` starts `ldd (Debian GLIBC 2.36-9+deb12u14) 2.36`.
    let glibc = std::process::Command::new("ldd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8(out.stdout).ok()?;
            let version = text.lines().next()?.rsplit(' ').next()?.to_owned();
            let (major, minor) = version.split_once('.')?;
            Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
        });
    if glibc.is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Has LLD lay out the functions of `link/startup.order` — what the binary runs from its start to
/// its first health check and first Describe, listed by `tools/symbol-order.sh` — together at the
/// start of `.text`. The kernel maps code 64 KiB around each page fault, so the same start-up
/// path spread over the whole binary kept 13.6 MiB of code resident instead of 1.6 MiB
/// (DESIGN §9's idle RSS, BENCHMARKS.md). Names the binary no longer has are ignored, so a stale
/// file packs less and breaks nothing. Only for optimized x86_64 Linux GNU builds, whose default
/// linker is LLD (Rust ≥ 1.90); `ELASTICACHE_GRPC_SYMBOL_ORDER=0` turns it off for a linker that
/// has no `--symbol-ordering-file` (GNU ld).
fn order_startup_code() {
    let var = |name: &str| env::var(name).unwrap_or_default();
    println!("cargo:rerun-if-env-changed=ELASTICACHE_GRPC_SYMBOL_ORDER");
    println!("cargo:rerun-if-changed=link/startup.order");
    let order = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("link/startup.order");
    if var("PROFILE") != "release"
        || var("TARGET") != "x86_64-unknown-linux-gnu"
        || var("ELASTICACHE_GRPC_SYMBOL_ORDER") == "0"
        || !order.exists()
    {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}
