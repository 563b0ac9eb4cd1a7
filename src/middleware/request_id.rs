//! `x-request-id`: taken from the caller when it sends one, generated (UUID v4) otherwise, echoed
//! in the response headers, recorded in the RPC's span and in every status's `RequestInfo`.
//!
//! The header is set and propagated by `tower-http`'s request-id layers (see
//! [`crate::startup`]); this module only reads it back.

use http::HeaderName;
use tonic::metadata::MetadataMap;

/// The header that carries the request id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of a call; a fresh one when the layer did not run (direct calls in tests).
pub fn request_id_of(metadata: &MetadataMap) -> String {
    metadata
        .get(X_REQUEST_ID.as_str())
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_callers_id_or_makes_one() {
        let mut md = MetadataMap::new();
        md.insert("x-request-id", "abc-123".parse().unwrap());
        assert_eq!(request_id_of(&md), "abc-123");
        let made = request_id_of(&MetadataMap::new());
        assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
        assert_ne!(made, request_id_of(&MetadataMap::new()));
    }
}
