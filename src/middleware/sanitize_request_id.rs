//! Drops a caller's unusable `x-request-id` before the request-id layer runs, so a fresh one is
//! generated, and says why in the response's `x-request-id-replaced`. A usable id is at most
//! [`crate::request_id::MAX_LEN`] characters of visible ASCII: a request id ends up in log lines and in response
//! headers twice (the header and the status details), and unchecked a crafted one could forge
//! log lines or push the response headers past a client's limit.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::HeaderValue;
use tower::{Layer, Service};

use crate::request_id::{X_REQUEST_ID, X_REQUEST_ID_REPLACED, unusable};

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
