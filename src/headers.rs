//! Header names the facade reads or writes on every call (and lists for CORS), as [`HeaderName`]
//! constants, one place for each name: a lookup by `&str` parses the name first
//! (`HeaderName::from_bytes`), a lookup by constant only hashes it.

use http::HeaderName;

/// The gRPC status of a response (headers of a trailers-only response, else trailers).
pub const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// The `google.rpc.Status` with the details of a failed call.
pub const GRPC_STATUS_DETAILS_BIN: HeaderName = HeaderName::from_static("grpc-status-details-bin");
/// The caller's deadline.
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
/// The named target (AWS account and region, `[targets.<name>]`) a call goes to.
pub const X_ELASTICACHE_TARGET: HeaderName = HeaderName::from_static("x-elasticache-target");
/// W3C trace context.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The AWS form of the SDK's user agent, with its business metrics (`upstream::user_agent`; the
/// other one is `http::header::USER_AGENT`).
pub const X_AMZ_USER_AGENT: HeaderName = HeaderName::from_static("x-amz-user-agent");
