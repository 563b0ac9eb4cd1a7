//! `x-request-id`: taken from the caller when it sends a usable one, generated (UUID v4)
//! otherwise, echoed in the response headers, recorded in the RPC's span and in every status's
//! `RequestInfo`.
//!
//! The header is set and propagated by `tower-http`'s request-id layers (see
//! [`crate::startup`]). [`SanitizeRequestIdLayer`] runs before them: a caller's id longer than
//! [`MAX_LEN`] or with anything but visible ASCII is dropped, so a fresh one is generated, and the
//! response says why in `x-request-id-replaced`. A request id ends up in log lines and in response
//! headers twice (the header and the status details): unchecked, a crafted one could forge log
//! lines or push the response headers past a client's limit.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderName, HeaderValue};
use tonic::metadata::MetadataMap;
use tower::{Layer, Service};

/// The header that carries the request id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The response header that says a caller's request id was replaced, and why.
pub const X_REQUEST_ID_REPLACED: HeaderName = HeaderName::from_static("x-request-id-replaced");

/// The longest request id taken from a caller.
pub const MAX_LEN: usize = 128;

/// The request id of a call; a fresh one when the layer did not run (direct calls in tests).
pub fn request_id_of(metadata: &MetadataMap) -> String {
    metadata
        .get(X_REQUEST_ID.as_str())
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
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

/// Adds [`SanitizeRequestId`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SanitizeRequestIdLayer;

impl<S> Layer<S> for SanitizeRequestIdLayer {
    type Service = SanitizeRequestId<S>;
    fn layer(&self, inner: S) -> SanitizeRequestId<S> {
        SanitizeRequestId { inner }
    }
}

/// Drops an unusable caller request id (so one is generated) and says so in the response.
#[derive(Debug, Clone)]
pub struct SanitizeRequestId<S> {
    inner: S,
}

impl<S, B, RB> Service<http::Request<B>> for SanitizeRequestId<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let replaced = request
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(unusable)
            .map(HeaderValue::from_static);
        if replaced.is_some() {
            request.headers_mut().remove(&X_REQUEST_ID);
        }
        ResponseFuture {
            inner: self.inner.call(request),
            replaced,
        }
    }
}

pin_project_lite::pin_project! {
    /// Adds `x-request-id-replaced` when the caller's id was dropped.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        replaced: Option<HeaderValue>,
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(why) = this.replaced.take() {
            response.headers_mut().insert(X_REQUEST_ID_REPLACED, why);
        }
        Poll::Ready(Ok(response))
    }
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
