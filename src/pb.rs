//! Types and service stubs generated from `proto/elasticache/v1`.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    missing_debug_implementations
)]

tonic::include_proto!("elasticache.v1");

/// Encoded `FileDescriptorSet` of our proto files and their imports, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("elasticache_descriptor");

/// [`FILE_DESCRIPTOR_SET`] without the comments: names and types only (the Connect layer's pool).
pub const FILE_DESCRIPTOR_SET_COMPACT: &[u8] =
    tonic::include_file_descriptor_set!("elasticache_descriptor_compact");

/// Fully qualified name of the service, as it appears in reflection and health.
pub const SERVICE_NAME: &str = "elasticache.v1.ElastiCacheService";
