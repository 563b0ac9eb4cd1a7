//! The request id of a call (`x-request-id`): the header names and how each layer reads it.
//!
//! Taken from the caller when it sends a usable one, generated (UUID v4) otherwise (see
//! [`crate::middleware::sanitize_request_id`] and `tower-http`'s request-id layers, assembled in
//! [`crate::startup`]), echoed in the response headers, recorded in the RPC's span and in every
//! status's `RequestInfo`.

use http::{HeaderName, HeaderValue};
use tonic::metadata::MetadataMap;

/// The header that carries the request id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The response header that says a caller's request id was replaced, and why.
pub const X_REQUEST_ID_REPLACED: HeaderName = HeaderName::from_static("x-request-id-replaced");

/// The longest request id taken from a caller.
pub const MAX_LEN: usize = 128;

/// The request id of a call as a handler sees it; a fresh one when the layer did not run (direct
/// calls in tests).
pub fn of_metadata(metadata: &MetadataMap) -> String {
    metadata
        .get(X_REQUEST_ID.as_str())
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The request id of a call as middleware sees it (set by the request-id layer, which runs
/// first); empty when there is none.
pub fn of_request<B>(request: &http::Request<B>) -> &str {
    request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Why a caller's request id cannot be used, if it cannot.
pub fn unusable(value: &HeaderValue) -> Option<&'static str> {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        Some("empty")
    } else if bytes.len() > MAX_LEN {
        Some("longer than 128 characters")
    } else if !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        Some("not visible ASCII")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_callers_id_or_makes_one() {
        let mut md = MetadataMap::new();
        md.insert("x-request-id", "abc-123".parse().unwrap());
        assert_eq!(of_metadata(&md), "abc-123");
        let made = of_metadata(&MetadataMap::new());
        assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
        assert_ne!(made, of_metadata(&MetadataMap::new()));
    }

    #[test]
    fn only_short_visible_ascii_ids_are_usable() {
        let ok = HeaderValue::from_static("req-42_abc.DEF:1");
        assert_eq!(unusable(&ok), None);
        assert_eq!(
            unusable(&HeaderValue::from_str(&"a".repeat(128)).unwrap()),
            None
        );
        assert_eq!(
            unusable(&HeaderValue::from_str(&"a".repeat(129)).unwrap()),
            Some("longer than 128 characters")
        );
        for bad in ["has space", "tab\there", "x\" outcome=\"OK"] {
            assert_eq!(
                unusable(&HeaderValue::from_str(bad).unwrap()),
                Some("not visible ASCII"),
                "{bad}"
            );
        }
        assert_eq!(
            unusable(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()),
            Some("not visible ASCII")
        );
        assert_eq!(unusable(&HeaderValue::from_static("")), Some("empty"));
    }
}
