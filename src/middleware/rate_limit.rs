//! Per-caller rate limit (GCRA, `governor`): a caller over its limit gets RESOURCE_EXHAUSTED
//! `RATE_LIMITED` at once, with a `RetryInfo` delay that is the real time until a call would pass
//! and a `QuotaFailure` naming the caller. It sits after authentication, which tells it who is
//! calling; callers without a limit, and unauthenticated calls, pass.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use governor::clock::{Clock, DefaultClock};
use tower::{Layer, Service};

use super::refusal::{Refusal, request_id_of};
use crate::identity::Caller;

/// Adds [`RateLimit`].
#[derive(Debug, Clone, Default)]
pub struct RateLimitLayer;

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit { inner }
    }
}

/// The per-caller rate limit middleware.
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
}

impl<S, B, RB> Service<http::Request<B>> for RateLimit<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    RB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<S::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let refusal = request
            .extensions()
            .get::<Arc<Caller>>()
            .and_then(|caller| {
                let limit = caller.limit()?;
                let not_until = limit.limiter.check().err()?;
                Some(Refusal::RateLimited {
                    caller: caller.name.clone(),
                    requests_per_second: limit.requests_per_second,
                    retry_after: not_until.wait_time_from(DefaultClock::default().now()),
                })
            });
        match refusal {
            None => Either::Right(self.inner.call(request)),
            Some(r) => Either::Left(ready(Ok(r.into_response(request_id_of(&request))))),
        }
    }
}
