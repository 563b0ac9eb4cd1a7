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

/// Makes the id of a call that came without a usable one: a UUID v4, marked as not to be indexed
/// by HPACK. A value that is new on every response gains nothing from the HTTP/2 header table:
/// indexing it only evicts an older id and lengthens the table's search for the next one. The
/// value is sent as it is (a never-indexed literal) and reads as usual (`to_str`); only its
/// `Debug` form reads `Sensitive`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeRequestId;

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(
        &mut self,
        _request: &http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        let mut value = HeaderValue::from_str(id).ok()?;
        value.set_sensitive(true);
        Some(tower_http::request_id::RequestId::new(value))
    }
}

/// The longest request id taken from a caller.
pub const MAX_LEN: usize = 128;

/// The request id of a call as a handler sees it; a fresh one when the layer did not run (direct
/// calls in tests).
pub fn of_metadata(metadata: &MetadataMap) -> String {
    metadata
        .as_ref()
        .get(&X_REQUEST_ID)
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
    fn made_ids_are_fresh_v4_uuids_kept_out_of_the_hpack_table() {
        use tower_http::request_id::MakeRequestId as _;
        let request = http::Request::new(());
        let mut make = MakeRequestId;
        let one = make.make_request_id(&request).unwrap().into_header_value();
        let two = make.make_request_id(&request).unwrap().into_header_value();
        for value in [&one, &two] {
            assert!(value.is_sensitive());
            let text = value.to_str().unwrap();
            let id = uuid::Uuid::parse_str(text).unwrap();
            assert_eq!(id.get_version_num(), 4, "{text}");
            assert_eq!(text, id.hyphenated().to_string(), "lower case, hyphenated");
            assert_eq!(unusable(value), None);
        }
        assert_ne!(one, two);
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
