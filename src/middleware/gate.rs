//! A gate: a middleware that lets a request through (after a [`Check`] has looked at it, and
//! perhaps added to its extensions) or answers at once with the [`Refusal`] the check returned.
//! Authentication and the per-caller rate limit are gates; only the check differs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use tower::{Layer, Service};

use crate::refusal::{Refusal, refuse};

/// A decision that needs an answer from elsewhere (the shared state) first.
pub type Later = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

/// What a gate decides about one request.
pub trait Check {
    /// `Ok` lets the request through (unless [`Check::later`] then refuses it); a refusal
    /// answers it.
    fn check<B>(&self, request: &mut http::Request<B>) -> Result<(), Refusal>;

    /// A decision to wait for after `check` let the request through; none by default.
    fn later<B>(&self, request: &http::Request<B>) -> Option<Later> {
        let _ = request;
        None
    }
}

/// Adds a [`Gate`] running `C`.
#[derive(Debug, Clone)]
pub struct GateLayer<C> {
    check: C,
}

impl<C> GateLayer<C> {
    /// A gate running `check`.
    pub fn new(check: C) -> Self {
        Self { check }
    }
}

impl<C: Clone, S> Layer<S> for GateLayer<C> {
    type Service = Gate<C, S>;
    fn layer(&self, inner: S) -> Gate<C, S> {
        Gate {
            check: self.check.clone(),
            inner,
        }
    }
}

/// The gate middleware.
#[derive(Debug, Clone)]
pub struct Gate<C, S> {
    check: C,
    inner: S,
}

type Deferred<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<C, S, B, RB> Service<http::Request<B>> for Gate<C, S>
where
    C: Check,
    S: Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    RB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<
        Ready<Result<S::Response, S::Error>>,
        Either<S::Future, Deferred<S::Response, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Err(refusal) = self.check.check(&mut request) {
            return Either::Left(ready(Ok(refuse(refusal, &request))));
        }
        let Some(later) = self.check.later(&request) else {
            return Either::Right(Either::Left(self.inner.call(request)));
        };
        // The ready service answers this request; a clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Either::Right(Either::Right(Box::pin(async move {
            match later.await {
                Ok(()) => inner.call(request).await,
                Err(refusal) => Ok(refuse(refusal, &request)),
            }
        })))
    }
}
