//! The edge: every refusal of the facade's own (middleware or policy) becomes a status here, in
//! one table, with the same details as upstream faults (domain `elasticache-grpc`).

use std::sync::Arc;
use std::time::Duration;

use tonic::{Code, Status};

use crate::audit::Audit;
use crate::identity::Caller;
use crate::status::{FACADE_DOMAIN, StatusBuilder};

/// Why the facade refused a call before (or instead of) calling AWS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No usable credentials on the call.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The caller may not call this RPC.
    #[error("caller {caller:?} may not call {rpc}")]
    MethodNotAllowed {
        /// The caller.
        caller: String,
        /// The RPC.
        rpc: String,
    },
    /// The caller may not export to this bucket.
    #[error("caller {caller:?} may not export to bucket {bucket:?}")]
    BucketNotAllowed {
        /// The caller.
        caller: String,
        /// The bucket.
        bucket: String,
    },
    /// The caller is over its rate limit.
    #[error("rate limit exceeded: {requests_per_second} rps for caller {caller:?}")]
    RateLimited {
        /// The caller.
        caller: String,
        /// Its sustained limit.
        requests_per_second: u32,
        /// When a call would pass.
        retry_after: Duration,
    },
    /// Too many calls in flight.
    #[error("overloaded: {limit} calls in flight")]
    Overloaded {
        /// The global cap.
        limit: usize,
    },
    /// The request is not gRPC: its content type is not `application/grpc[+proto]`.
    #[error(
        "content-type {content_type:?} is not supported: this server speaks gRPC \
         (content-type application/grpc or application/grpc+proto) and, for unary RPCs, Connect \
         (application/json or application/proto)"
    )]
    UnsupportedContentType {
        /// What the request said.
        content_type: String,
    },
    /// Plain gRPC over HTTP/1.x: gRPC needs HTTP/2 (its trailers and streams), and a gRPC client
    /// talking HTTP/1.1 is mostly behind a proxy that downgraded it.
    #[error(
        "gRPC needs HTTP/2 and this request came over {version}: call with a gRPC client over \
         HTTP/2 (plaintext h2c or TLS; behind a proxy, one that forwards HTTP/2, e.g. nginx \
         grpc_pass). Over HTTP/1.1 this port serves Connect (application/json, application/proto, \
         application/connect+json) and gRPC-Web (application/grpc-web)"
    )]
    GrpcOverHttp1 {
        /// The request's HTTP version (`HTTP/1.1`, `HTTP/1.0`).
        version: &'static str,
    },
    /// Too many watches open.
    #[error("too many watches: {limit} open, all callers together")]
    TooManyWatches {
        /// The cap (`[watch] max_watches`).
        limit: usize,
    },
    /// The server is shutting down: a watch ends so the caller watches again elsewhere.
    #[error("this server is shutting down; watch again (another replica will answer)")]
    ShuttingDown,
    /// The call names a target (`x-elasticache-target`) the caller may not use, or none exists.
    #[error("caller {caller:?} may not use target {target:?}: {why}")]
    TargetNotAllowed {
        /// The caller (`-` when unauthenticated).
        caller: String,
        /// The target the call named (or the one it would have gone to).
        target: String,
        /// Why: not configured, not among the caller's targets.
        why: &'static str,
    },
    /// The upstream budget had no permit before the caller's deadline.
    #[error("ElastiCache request budget exhausted: {requests_per_second} rps for this process")]
    UpstreamRateLimited {
        /// The budget.
        requests_per_second: u32,
        /// When a permit would be free.
        retry_after: Duration,
    },
}

impl Refusal {
    /// The status for this refusal.
    pub fn into_status(self, request_id: &str) -> Status {
        crate::metrics::refusal(self.reason());
        let message = self.to_string();
        let reason = self.reason();
        let b = |code| StatusBuilder::new(code, message.clone(), reason, FACADE_DOMAIN, request_id);
        match self {
            Refusal::Unauthenticated(_) => b(Code::Unauthenticated).build(),
            Refusal::MethodNotAllowed { caller, rpc } => b(Code::PermissionDenied)
                .metadata("caller", caller)
                .metadata("rpc", rpc)
                .build(),
            Refusal::BucketNotAllowed { caller, bucket } => b(Code::PermissionDenied)
                .metadata("caller", caller)
                .metadata("bucket", bucket)
                .build(),
            Refusal::TargetNotAllowed { caller, target, .. } => b(Code::PermissionDenied)
                .metadata("caller", caller)
                .metadata("target", target)
                .build(),
            Refusal::RateLimited {
                caller,
                requests_per_second,
                retry_after,
            } => b(Code::ResourceExhausted)
                .metadata("caller", caller.clone())
                .details(|d| {
                    d.set_retry_info(Some(retry_after));
                    d.add_quota_failure_violation(
                        format!("caller:{caller}"),
                        format!("at most {requests_per_second} calls per second"),
                    );
                })
                .build(),
            Refusal::UnsupportedContentType { content_type } => b(Code::Unimplemented)
                .metadata("content_type", content_type)
                .build(),
            Refusal::GrpcOverHttp1 { version } => b(Code::Unimplemented)
                .metadata("http_version", version)
                .build(),
            Refusal::Overloaded { limit } => b(Code::ResourceExhausted)
                .details(|d| {
                    d.set_retry_info(Some(Duration::from_millis(100)));
                    d.add_quota_failure_violation(
                        "server:concurrent-requests",
                        format!("at most {limit} calls in flight"),
                    );
                })
                .build(),
            Refusal::TooManyWatches { limit } => b(Code::ResourceExhausted)
                .details(|d| {
                    d.set_retry_info(Some(Duration::from_secs(1)));
                    d.add_quota_failure_violation(
                        "server:concurrent-watches",
                        format!("at most {limit} watches open"),
                    );
                })
                .build(),
            Refusal::ShuttingDown => b(Code::Unavailable)
                .details(|d| {
                    d.set_retry_info(Some(Duration::from_millis(100)));
                })
                .build(),
            Refusal::UpstreamRateLimited {
                requests_per_second,
                retry_after,
            } => b(Code::ResourceExhausted)
                .details(|d| {
                    d.set_retry_info(Some(retry_after));
                    d.add_quota_failure_violation(
                        "elasticache-api-budget",
                        format!("at most {requests_per_second} ElastiCache calls per second"),
                    );
                })
                .build(),
        }
    }

    /// The HTTP status of the refusal's response: 200, as for every gRPC status, except for a
    /// request that is not gRPC at all, which gets 415 as the gRPC over HTTP/2 spec asks, and gRPC
    /// over HTTP/1.x, which gets 505 (HTTP Version Not Supported).
    pub fn http_status(&self) -> http::StatusCode {
        match self {
            Refusal::UnsupportedContentType { .. } => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::GrpcOverHttp1 { .. } => http::StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            _ => http::StatusCode::OK,
        }
    }

    /// The `ErrorInfo.reason` of this refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Unauthenticated(_) => "UNAUTHENTICATED",
            Refusal::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Refusal::BucketNotAllowed { .. } => "BUCKET_NOT_ALLOWED",
            Refusal::TargetNotAllowed { .. } => "TARGET_NOT_ALLOWED",
            Refusal::RateLimited { .. } => "RATE_LIMITED",
            Refusal::Overloaded { .. } => "OVERLOADED",
            Refusal::UnsupportedContentType { .. } => "UNSUPPORTED_CONTENT_TYPE",
            Refusal::GrpcOverHttp1 { .. } => "HTTP2_REQUIRED",
            Refusal::UpstreamRateLimited { .. } => "UPSTREAM_RATE_LIMITED",
            Refusal::TooManyWatches { .. } => "TOO_MANY_WATCHES",
            Refusal::ShuttingDown => "SHUTTING_DOWN",
        }
    }
}

/// Answers `request` with `refusal`, for middleware: the status response, and the audit line
/// when the request is a mutating RPC (refused calls are audited like every other).
pub fn refuse<B, RB: Default>(refusal: Refusal, request: &http::Request<B>) -> http::Response<RB> {
    let http_status = refusal.http_status();
    let request_id = crate::request_id::of_request(request);
    let status = refusal.into_status(request_id);
    if let Some(rpc) = crate::methods::rpc_of(request.uri().path()).filter(|m| m.mutating) {
        let caller = request.extensions().get::<Arc<Caller>>();
        Audit::unread(caller.map(|c| c.name.as_str()), rpc.name, request_id).status(&status);
    }
    let mut response = status.into_http();
    *response.status_mut() = http_status;
    response
}

/// Whether a content type is gRPC's (`application/grpc`, `application/grpc+proto`, …).
pub fn is_grpc_content_type(value: &http::HeaderValue) -> bool {
    let v = value.as_bytes();
    v.starts_with(b"application/grpc") && matches!(v.get(16), None | Some(b'+') | Some(b';'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    #[test]
    fn each_refusal_has_its_code_reason_and_details() {
        let rl = Refusal::RateLimited {
            caller: "backup-job".into(),
            requests_per_second: 10,
            retry_after: Duration::from_millis(250),
        }
        .into_status("r1");
        assert_eq!(rl.code(), Code::ResourceExhausted);
        assert!(rl.message().contains("10 rps"));
        let d = rl.get_error_details();
        assert_eq!(d.error_info().unwrap().reason, "RATE_LIMITED");
        assert_eq!(d.error_info().unwrap().domain, "elasticache-grpc");
        assert_eq!(
            d.retry_info().unwrap().retry_delay,
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            d.quota_failure().unwrap().violations[0].subject,
            "caller:backup-job"
        );
        assert_eq!(d.request_info().unwrap().request_id, "r1");

        let cases = [
            (
                Refusal::Unauthenticated("missing"),
                Code::Unauthenticated,
                "UNAUTHENTICATED",
            ),
            (
                Refusal::MethodNotAllowed {
                    caller: "c".into(),
                    rpc: "DeleteServerlessCache".into(),
                },
                Code::PermissionDenied,
                "METHOD_NOT_ALLOWED",
            ),
            (
                Refusal::BucketNotAllowed {
                    caller: "c".into(),
                    bucket: "b".into(),
                },
                Code::PermissionDenied,
                "BUCKET_NOT_ALLOWED",
            ),
            (
                Refusal::TargetNotAllowed {
                    caller: "c".into(),
                    target: "prod".into(),
                    why: "not one of the caller's targets",
                },
                Code::PermissionDenied,
                "TARGET_NOT_ALLOWED",
            ),
            (
                Refusal::Overloaded { limit: 3 },
                Code::ResourceExhausted,
                "OVERLOADED",
            ),
            (
                Refusal::UpstreamRateLimited {
                    requests_per_second: 20,
                    retry_after: Duration::from_millis(5),
                },
                Code::ResourceExhausted,
                "UPSTREAM_RATE_LIMITED",
            ),
            (
                Refusal::GrpcOverHttp1 {
                    version: "HTTP/1.1",
                },
                Code::Unimplemented,
                "HTTP2_REQUIRED",
            ),
        ];
        for (refusal, code, reason) in cases {
            let s = refusal.into_status("r");
            assert_eq!(s.code(), code);
            assert_eq!(s.get_error_details().error_info().unwrap().reason, reason);
        }
    }
}
