//! What the benchmarks share: the binary under test, a free loopback port, and the emulator's
//! seed data (one cache, [`SNAPSHOTS`] snapshots, so a Describe answers a realistic page).

use std::net::{SocketAddr, TcpListener};

/// Snapshots the seed creates; every Describe in the benchmarks lists them all.
pub(crate) const SNAPSHOTS: usize = 10;

/// The binary `cargo bench` built; `ELASTICACHE_GRPC_BIN` overrides it (e.g. a copy, so that a
/// concurrent `cargo build` cannot swap it mid-run).
pub(crate) fn bin() -> String {
    std::env::var("ELASTICACHE_GRPC_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_elasticache-grpc").to_owned())
}

/// A loopback port that was free a moment ago (for child processes that take an address).
pub(crate) fn free_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// One cache and [`SNAPSHOTS`] snapshots of it.
pub(crate) async fn seed(sdk: &aws_sdk_elasticache::Client) -> anyhow::Result<()> {
    sdk.create_serverless_cache()
        .serverless_cache_name("bench")
        .engine("valkey")
        .send()
        .await?;
    for i in 0..SNAPSHOTS {
        sdk.create_serverless_cache_snapshot()
            .serverless_cache_name("bench")
            .serverless_cache_snapshot_name(format!("bench-snapshot-{i:02}"))
            .send()
            .await?;
    }
    Ok(())
}
