//! Per-caller rate limit (GCRA, `governor`): a caller over its limit gets RESOURCE_EXHAUSTED
//! `RATE_LIMITED` at once, with a `RetryInfo` delay that is the real time until a call would pass
//! and a `QuotaFailure` naming the caller. It sits after authentication, which tells it who is
//! calling; callers without a limit, and unauthenticated calls, pass.

use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};

use super::gate::{Check, GateLayer, Later};
use crate::identity::Caller;
use crate::refusal::Refusal;
use crate::state::{Gcra, SharedState};

/// Adds the per-caller rate limit (a [`GateLayer`] running [`CallerRateLimit`]).
pub type RateLimitLayer = GateLayer<CallerRateLimit>;

/// Spends one permit of the caller's limiter, or refuses with the real wait. With a shared
/// state (Redis), the permit is the caller's across every replica.
#[derive(Debug, Clone, Default)]
pub struct CallerRateLimit {
    shared: Option<SharedState>,
}

impl CallerRateLimit {
    /// Limits kept in `state`: shared by the replicas when it is Redis, else this process's.
    pub fn new(state: &SharedState) -> Self {
        Self {
            shared: state.is_shared().then(|| state.clone()),
        }
    }
}

impl Check for CallerRateLimit {
    fn later<B>(&self, request: &http::Request<B>) -> Option<Later> {
        let state = self.shared.clone()?;
        let caller = request.extensions().get::<Arc<Caller>>()?.clone();
        let limit = caller.limit()?;
        let gcra = Gcra {
            per_second: limit.requests_per_second,
            burst: limit.burst,
        };
        let requests_per_second = limit.requests_per_second;
        Some(Box::pin(async move {
            state
                .acquire(&format!("caller:{}", caller.name), gcra)
                .await
                .map_err(|retry_after| Refusal::RateLimited {
                    caller: caller.name.clone(),
                    requests_per_second,
                    retry_after,
                })
        }))
    }

    fn check<B>(&self, request: &mut http::Request<B>) -> Result<(), Refusal> {
        if self.shared.is_some() {
            // Decided in `later`, on the shared state.
            return Ok(());
        }
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
