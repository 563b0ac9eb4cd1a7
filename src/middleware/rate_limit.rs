//! Per-caller rate limit (GCRA, `governor`): a caller over its limit gets RESOURCE_EXHAUSTED
//! `RATE_LIMITED` at once, with a `RetryInfo` delay that is the real time until a call would pass
//! and a `QuotaFailure` naming the caller. It sits after authentication, which tells it who is
//! calling; callers without a limit, and unauthenticated calls, pass.

use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};

use super::gate::{Check, GateLayer};
use crate::identity::Caller;
use crate::refusal::Refusal;

/// Adds the per-caller rate limit (a [`GateLayer`] running [`CallerRateLimit`]).
pub type RateLimitLayer = GateLayer<CallerRateLimit>;

/// Spends one permit of the caller's limiter, or refuses with the real wait.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallerRateLimit;

impl Check for CallerRateLimit {
    fn check<B>(&self, request: &mut http::Request<B>) -> Result<(), Refusal> {
        let Some(caller) = request.extensions().get::<Arc<Caller>>() else {
            return Ok(());
        };
        let Some(limit) = caller.limit() else {
            return Ok(());
        };
        limit
            .limiter
            .check()
            .map_err(|not_until| Refusal::RateLimited {
                caller: caller.name.clone(),
                requests_per_second: limit.requests_per_second,
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }
}
