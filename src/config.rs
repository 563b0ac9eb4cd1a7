//! Typed settings. The binary fills them from flags and `ELASTICACHE_GRPC_*` environment
//! variables (see [`crate::cli`]); tests build them directly. AWS settings are not here: they come
//! from the standard AWS configuration chain.

use std::net::SocketAddr;
use std::time::Duration;

use crate::emulator::EmulatorConfig;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the SDK client sends its requests.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// The standard AWS configuration chain (region, credentials, endpoint overrides).
    AwsChain,
    /// An emulator started in-process on an ephemeral loopback port.
    Emulator(EmulatorConfig),
    /// A fixed endpoint with static test credentials and region `us-east-1` (tests, benchmarks).
    Endpoint(String),
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the gRPC server binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Bound on a call when the caller sends no `grpc-timeout`.
    pub default_timeout: Duration,
    /// Largest request or response message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Where ElastiCache calls go.
    pub upstream: Upstream,
}

impl Settings {
    /// Defaults for everything, talking to `upstream`.
    pub fn new(listen: SocketAddr, upstream: Upstream) -> Self {
        Self {
            listen,
            default_timeout: Duration::from_secs(30),
            max_message_bytes: 4 * 1024 * 1024,
            upstream,
        }
    }
}
