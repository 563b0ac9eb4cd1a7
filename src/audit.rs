//! The audit log: one line on the `audit` target for every mutating call that reached the
//! service, whatever became of it — done, refused by the facade (unauthenticated, not allowed,
//! invalid, rate limited, overloaded), failed in AWS, or of unknown outcome — so it can be routed
//! on its own (`RUST_LOG=audit=info`).
//!
//! Fields: `caller`, `rpc`, `resources` (`kind=name,…`), `bucket`, `outcome` (`ok`, `error`,
//! `unknown`: sent, the answer lost; `ok_response_not_sent`: AWS did it, the response was too
//! large to send), `grpc_code`, `reason` (`ErrorInfo.reason`), `request_id`, `aws_request_id`.
//! Values that come from a request are written escaped, so a crafted name cannot forge a line.

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// `caller` of a call that carried no usable credentials, or of a server with no callers.
pub const UNAUTHENTICATED: &str = "(unauthenticated)";

/// What one audit line is about.
#[derive(Debug, Clone, Copy)]
pub struct Audit<'a> {
    /// The caller's configured name, when known.
    pub caller: Option<&'a str>,
    /// The RPC.
    pub rpc: &'a str,
    /// The facade's request id.
    pub request_id: &'a str,
    /// The resources the request names (`kind=name,…`); empty when the request was not decoded.
    pub resources: &'a str,
    /// The export bucket, when the request names one.
    pub bucket: &'a str,
}

impl Audit<'_> {
    /// The call succeeded; `aws_request_id` is AWS's id of the call.
    pub fn ok(&self, aws_request_id: &str) {
        self.line("ok", Code::Ok, "", aws_request_id);
    }

    /// The call ended with `status` (a refusal, an AWS fault, a transport failure).
    pub fn status(&self, status: &Status) {
        let details = status.get_error_details();
        let info = details.error_info();
        let reason = info.map(|i| i.reason.as_str()).unwrap_or_default();
        let meta = |key: &str| {
            info.and_then(|i| i.metadata.get(key))
                .map(String::as_str)
                .unwrap_or_default()
        };
        let outcome = match (meta("outcome"), meta("upstream_outcome")) {
            ("unknown", _) => "unknown",
            (_, "succeeded") => "ok_response_not_sent",
            _ => "error",
        };
        self.line(outcome, status.code(), reason, meta("aws_request_id"));
    }

    fn line(&self, outcome: &str, code: Code, reason: &str, aws_request_id: &str) {
        tracing::info!(
            target: "audit",
            caller = self.caller.unwrap_or(UNAUTHENTICATED),
            rpc = self.rpc,
            resources = %self.resources.escape_debug(),
            bucket = %self.bucket.escape_debug(),
            outcome,
            grpc_code = ?code,
            reason,
            request_id = %self.request_id.escape_debug(),
            aws_request_id,
            "mutating call"
        );
    }
}
