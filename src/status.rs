//! Builds every `tonic::Status` the facade returns, in the one form DESIGN §3 fixes: `ErrorInfo`
//! and `RequestInfo` always, plus the specific detail and, for AWS faults, the typed fault
//! message packed as `Any`.

use std::collections::HashMap;

use prost::Message;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `ErrorInfo.domain` of the facade's own refusals.
pub const FACADE_DOMAIN: &str = "elasticache-grpc";
/// `ErrorInfo.domain` of faults that come from ElastiCache.
pub const AWS_DOMAIN: &str = "elasticache.amazonaws.com";

/// Accumulates the parts of a status; [`StatusBuilder::build`] encodes them.
#[derive(Debug)]
pub struct StatusBuilder {
    code: Code,
    message: String,
    reason: String,
    domain: &'static str,
    metadata: HashMap<String, String>,
    details: ErrorDetails,
    extra: Vec<prost_types::Any>,
}

impl StatusBuilder {
    /// A status with `ErrorInfo` (`reason`, `domain`) and `RequestInfo` (`request_id`).
    pub fn new(
        code: Code,
        message: impl Into<String>,
        reason: impl Into<String>,
        domain: &'static str,
        request_id: &str,
    ) -> Self {
        let mut details = ErrorDetails::new();
        details.set_request_info(request_id, "");
        Self {
            code,
            message: message.into(),
            reason: reason.into(),
            domain,
            metadata: HashMap::new(),
            details,
            extra: Vec::new(),
        }
    }

    /// Adds an `ErrorInfo.metadata` entry.
    pub fn metadata(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.insert(key.to_owned(), value.into());
        self
    }

    /// Gives access to the specific details (`ResourceInfo`, `BadRequest`, …).
    pub fn details(mut self, f: impl FnOnce(&mut ErrorDetails)) -> Self {
        f(&mut self.details);
        self
    }

    /// Packs a message of our own (a typed fault) as `Any`.
    pub fn any(mut self, type_url: String, value: Vec<u8>) -> Self {
        self.extra.push(prost_types::Any { type_url, value });
        self
    }

    /// Encodes the status.
    pub fn build(mut self) -> Status {
        self.details
            .set_error_info(self.reason, self.domain, self.metadata);
        let status = Status::with_error_details(self.code, self.message, self.details);
        if self.extra.is_empty() {
            return status;
        }
        // tonic-types only packs the google.rpc types; add ours to the same google.rpc.Status.
        match tonic_types::pb::Status::decode(status.details()) {
            Ok(mut rpc) => {
                rpc.details.extend(self.extra);
                Status::with_details(status.code(), status.message(), rpc.encode_to_vec().into())
            }
            Err(_) => status,
        }
    }
}

/// The typed fault messages of `faults.proto` all have this shape: `string message = 1`.
#[derive(Clone, PartialEq, Message)]
pub struct FaultMessage {
    /// AWS's message.
    #[prost(string, tag = "1")]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_any_is_appended_after_standard_details() {
        let status = StatusBuilder::new(Code::NotFound, "gone", "GONE", AWS_DOMAIN, "req-1")
            .metadata("operation", "Op")
            .any(
                "type.googleapis.com/elasticache.v1.X".into(),
                FaultMessage {
                    message: "m".into(),
                }
                .encode_to_vec(),
            )
            .build();
        let rpc = tonic_types::pb::Status::decode(status.details()).unwrap();
        assert_eq!(rpc.code, Code::NotFound as i32);
        let urls: Vec<_> = rpc.details.iter().map(|a| a.type_url.as_str()).collect();
        assert!(urls.contains(&"type.googleapis.com/google.rpc.ErrorInfo"));
        assert!(urls.contains(&"type.googleapis.com/google.rpc.RequestInfo"));
        assert!(urls.contains(&"type.googleapis.com/elasticache.v1.X"));
        let d = status.get_error_details();
        assert_eq!(d.error_info().unwrap().metadata["operation"], "Op");
        assert_eq!(d.request_info().unwrap().request_id, "req-1");
    }
}
