//! The audit log: one line on the `audit` target for every mutating call that reached the
//! service, whatever became of it — done, refused by the facade (unauthenticated, not allowed,
//! invalid, rate limited, overloaded), failed in AWS, of unknown outcome, or abandoned by the
//! caller mid-call — so it can be routed on its own (`RUST_LOG=audit=info`).
//!
//! Fields: `caller`, `target_name` (the `[targets]` name the call went to; empty without
//! targets; not `target`, which is the log line's own in JSON),
//! `rpc`, `resources` (`kind=name,…`), `bucket`, `outcome` (`ok`, `error`,
//! `unknown`: sent, the answer lost; `ok_response_not_sent`: AWS did it, the response was too
//! large to send; `cancelled`: the caller went away before the call ended, so AWS may or may not
//! have done it), `grpc_code`, `reason` (`ErrorInfo.reason`), `request_id`, `aws_request_id`.
//! Values are recorded as strings, which the text format writes quoted and escaped (and JSON
//! escapes), so a crafted name cannot forge a line or a field.

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// `caller` of a call that carried no usable credentials, or of a server with no callers.
pub const UNAUTHENTICATED: &str = "(unauthenticated)";

/// The audit line of one mutating call, written once: by [`Audit::ok`] or [`Audit::status`], or,
/// when the call is dropped before either (the caller cancelled), by `Drop` as `cancelled`.
#[derive(Debug)]
pub struct Audit {
    caller: Option<String>,
    rpc: &'static str,
    request_id: String,
    resources: String,
    bucket: String,
    target: String,
    written: bool,
}

impl Audit {
    /// The line of a call of `rpc` by `caller` naming `resources` (`kind=name,…`; empty when the
    /// request was not decoded) and `bucket`.
    pub fn new(
        caller: Option<&str>,
        rpc: &'static str,
        request_id: &str,
        resources: String,
        bucket: &str,
    ) -> Self {
        Self {
            caller: caller.map(str::to_owned),
            rpc,
            request_id: request_id.to_owned(),
            resources,
            bucket: bucket.to_owned(),
            target: String::new(),
            written: false,
        }
    }

    /// The line of a call to the named target (`[targets.<name>]`).
    pub fn with_target(mut self, target: &str) -> Self {
        self.target = target.to_owned();
        self
    }

    /// The line of a call refused or ended before its body was read (middleware, tonic's own
    /// decoding): no resources are known.
    pub fn unread(caller: Option<&str>, rpc: &'static str, request_id: &str) -> Self {
        Self::new(caller, rpc, request_id, String::new(), "")
    }

    /// The call succeeded; `aws_request_id` is AWS's id of the call.
    pub fn ok(mut self, aws_request_id: &str) {
        self.line("ok", Code::Ok, "", aws_request_id);
    }

    /// The call ended with `status` (a refusal, an AWS fault, a transport failure).
    pub fn status(mut self, status: &Status) {
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

    fn line(&mut self, outcome: &str, code: Code, reason: &str, aws_request_id: &str) {
        self.written = true;
        tracing::info!(
            target: "audit",
            caller = self.caller.as_deref().unwrap_or(UNAUTHENTICATED),
            target_name = self.target.as_str(),
            rpc = self.rpc,
            resources = self.resources.as_str(),
            bucket = self.bucket.as_str(),
            outcome,
            grpc_code = ?code,
            reason,
            request_id = self.request_id.as_str(),
            aws_request_id,
            "mutating call"
        );
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        if !self.written {
            self.line("cancelled", Code::Cancelled, "CANCELLED", "");
        }
    }
}
