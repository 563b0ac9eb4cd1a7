//! Global concurrency cap with load shedding: at most N calls in flight across all callers; the
//! next one gets RESOURCE_EXHAUSTED `OVERLOADED` at once — never a queue, so latency stays bounded
//! and the caller can go elsewhere. Innermost of the inbound stack, so refused-early calls
//! (unauthenticated, rate limited) never take a slot. Health and reflection take no slot and are
//! never shed: a busy server must still answer its probes, or the kubelet restarts a pod that is
//! merely busy.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use crate::methods::SERVICE_PREFIX;
use crate::refusal::{Refusal, refuse};

/// Adds [`LoadShed`].
#[derive(Debug, Clone)]
pub struct LoadShedLayer {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl LoadShedLayer {
    /// At most `limit` calls in flight.
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS))),
            limit,
        }
    }
}

impl<S> Layer<S> for LoadShedLayer {
    type Service = LoadShed<S>;
    fn layer(&self, inner: S) -> LoadShed<S> {
        LoadShed {
            inner,
            permits: self.permits.clone(),
            limit: self.limit,
        }
    }
}

/// The load-shedding middleware.
#[derive(Debug, Clone)]
pub struct LoadShed<S> {
    inner: S,
    permits: Arc<Semaphore>,
    limit: usize,
}

impl<S, B, RB> Service<http::Request<B>> for LoadShed<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    RB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<S::Response, S::Error>>, ResponseFuture<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if !request.uri().path().starts_with(SERVICE_PREFIX) {
            return Either::Right(ResponseFuture {
                inner: self.inner.call(request),
                _permit: None,
            });
        }
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Either::Right(ResponseFuture {
                inner: self.inner.call(request),
                _permit: Some(permit),
            }),
            Err(_) => {
                let refusal = Refusal::Overloaded { limit: self.limit };
                Either::Left(ready(Ok(refuse(refusal, &request))))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// Holds the slot until the response is ready.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        _permit: Option<OwnedSemaphorePermit>,
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().inner.poll(cx)
    }
}
