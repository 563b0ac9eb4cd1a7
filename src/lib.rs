//! elasticache-grpc: a gRPC facade for Amazon ElastiCache serverless caches and snapshots.
//!
//! The request path (DESIGN §1): the inbound tower stack in [`startup`], one handler per RPC in
//! [`service`] (validate → convert → call → convert), conversions in [`convert`], and every AWS
//! failure turned into one `tonic::Status` in [`aws`].
#![forbid(unsafe_code)]

pub mod audit;
pub mod aws;
pub mod codec;
pub mod config;
pub mod connect;
pub mod convert;
pub mod headers;
/// The ElastiCache emulator (its own crate, `crates/emulator`), for `--emulator` and the tests.
pub use elasticache_emulator as emulator;
pub mod idempotency;
pub mod identity;
pub mod methods;
pub mod metrics;
pub mod middleware;
pub mod operation;
pub mod pb;
pub mod refusal;
pub mod request_id;
pub mod server;
pub mod service;
pub mod startup;
pub mod state;
pub mod status;
pub mod target;
pub mod telemetry;
pub mod upstream;
pub mod validate;
pub mod watch;
