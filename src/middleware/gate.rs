//! A gate: a middleware that lets a request through (after a [`Check`] has looked at it, and
//! perhaps added to its extensions) or answers at once with the [`Refusal`] the check returned.
//! Authentication and the per-caller rate limit are gates; only the check differs.

use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use tower::{Layer, Service};

use crate::refusal::{Refusal, refuse};

/// What a gate decides about one request.
pub trait Check {
    /// `Ok` lets the request through; a refusal answers it.
    fn check<B>(&self, request: &mut http::Request<B>) -> Result<(), Refusal>;
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

impl<C, S, B, RB> Service<http::Request<B>> for Gate<C, S>
where
    C: Check,
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    RB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<S::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.check.check(&mut request) {
            Ok(()) => Either::Right(self.inner.call(request)),
            Err(refusal) => Either::Left(ready(Ok(refuse(refusal, &request)))),
        }
    }
}
