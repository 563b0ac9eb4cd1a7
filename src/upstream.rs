//! The upstream tower stack around the SDK client (DESIGN §1, §5). The facade is the only retry
//! authority: SDK retries are off.
//!
//! [`Upstream::call`] assembles, per call, outermost first:
//! - **retry** ([`RetryPolicy`]): only when safe — throttling codes (AWS did nothing) and failed
//!   connects (nothing was sent) for every operation; 5xx, timeouts and lost connections only for
//!   read-only operations. Exponential backoff with full jitter, a retry budget (retries ≤ a
//!   fraction of recent requests) so an outage is not amplified, and no backoff that would end
//!   past the caller's deadline. Outermost, so every attempt goes through the layers below again;
//! - **upstream budget** ([`BudgetLayer`]): one GCRA budget for this process's ElastiCache API
//!   quota. Each attempt spends quota, so it sits inside the retry. It waits for a permit, but
//!   never past the caller's deadline: then RESOURCE_EXHAUSTED `UPSTREAM_RATE_LIMITED`;
//! - **attempt timeout** ([`AttemptTimeoutLayer`]): bounds one attempt by the per-attempt timeout
//!   and the caller's deadline, whichever is first. Innermost, so the budget wait is not counted
//!   against the attempt;
//! - **the SDK call** ([`SdkCall`]).

use std::error::Error as StdError;
use std::future::Future;
use std::marker::PhantomData;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_sdk_elasticache::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

pub use crate::aws::Safety;
use crate::aws::{
    CallContext, Failure, KnownFaults, deadline_exceeded, deadline_status, is_throttling_code,
    status_from_sdk_error,
};
use crate::config::UpstreamSettings;
use crate::operation::Operation;
use crate::refusal::Refusal;
use crate::state::{Gcra, SharedState};

mod retry_budget;
pub mod user_agent;
pub mod wire_names;

pub use self::retry_budget::RetryBudget;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Why an upstream call produced no output.
#[derive(Debug)]
pub enum UpstreamError<E> {
    /// The SDK's error (an AWS fault or a transport failure).
    Sdk(SdkError<E, HttpResponse>),
    /// One attempt took longer than the per-attempt timeout.
    AttemptTimeout,
    /// The caller's deadline was reached.
    Deadline,
    /// The upstream budget had no permit in time.
    Refused(Refusal),
}

impl<E> UpstreamError<E>
where
    E: KnownFaults + ProvideErrorMetadata + StdError + 'static,
{
    /// The status of DESIGN §3 for this failure; `timeout` is the call's whole time budget.
    pub fn into_status(self, ctx: CallContext<'_>, timeout: Duration) -> tonic::Status {
        match self {
            UpstreamError::Refused(refusal) => refusal.into_status(ctx.request_id),
            other => other.to_status(ctx, timeout),
        }
    }

    /// Like [`UpstreamError::into_status`], for a failure shared by several callers (a
    /// coalesced call, a watch's poll): each gets the status with its own request id.
    pub fn to_status(&self, ctx: CallContext<'_>, timeout: Duration) -> tonic::Status {
        match self {
            UpstreamError::Sdk(err) => status_from_sdk_error(ctx, err),
            UpstreamError::AttemptTimeout => deadline_status(ctx),
            UpstreamError::Deadline => deadline_exceeded(ctx, timeout),
            UpstreamError::Refused(refusal) => refusal.clone().into_status(ctx.request_id),
        }
    }
}

/// One attempt of one call: the request (a cloneable SDK fluent builder) and the call's deadline.
#[derive(Debug)]
pub struct Attempt<Op: Operation> {
    builder: Op::Builder,
    deadline: Instant,
    number: u32,
}

impl<Op: Operation> Clone for Attempt<Op> {
    fn clone(&self) -> Self {
        Self {
            builder: self.builder.clone(),
            deadline: self.deadline,
            number: self.number,
        }
    }
}

/// How a failed attempt is classified for retries: the AWS failure's [`Failure::safety`]; a
/// per-attempt timeout is a timeout; the deadline and the upstream budget end the call.
pub fn classify<E>(err: &UpstreamError<E>) -> Safety
where
    E: KnownFaults + ProvideErrorMetadata + StdError + 'static,
{
    match err {
        UpstreamError::Sdk(err) => Failure::of(err).safety(),
        UpstreamError::AttemptTimeout => Failure::Timeout.safety(),
        UpstreamError::Deadline | UpstreamError::Refused(_) => Safety::Never,
    }
}

/// Retry settings and the shared retry budget.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Backoff cap before the first retry; doubles each retry.
    pub initial_backoff: Duration,
    /// Largest backoff cap.
    pub max_backoff: Duration,
    budget: Arc<RetryBudget>,
    /// The named target whose calls these are (the metrics' `target` label).
    target: Option<Arc<str>>,
}

impl RetryPolicy {
    /// Share of recent requests that may be retried.
    pub const BUDGET_RATIO: f64 = 0.2;

    /// `max_attempts` attempts with the given backoff, and a budget allowing, in every window of
    /// the last 9 to 10 s (1 s steps), retries of at most 20% of the window's requests plus 10 (so
    /// a quiet service can retry): over a storm of `T` s, at most 20% of its requests plus
    /// `10 × (1 + ⌊⌈T⌉ / 10⌋)` ([`RetryBudget::max_retries`], README "Retries and deadlines").
    pub fn new(max_attempts: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            initial_backoff,
            max_backoff,
            budget: Arc::new(RetryBudget::new(
                Duration::from_secs(10),
                1,
                Self::BUDGET_RATIO,
            )),
            target: None,
        }
    }

    /// The retry budget, shared by every clone of this policy.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// One attempt, never a retry.
    pub fn none() -> Self {
        Self::new(1, Duration::ZERO, Duration::ZERO)
    }

    /// Backoff cap before retry number `retry` (1-based): `initial × 2^(retry-1)`, capped.
    fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// Full jitter: uniformly random in `[0, cap]`.
    fn backoff(&self, retry: u32) -> Duration {
        self.backoff_cap(retry).mul_f64(fastrand::f64())
    }
}

impl Default for RetryPolicy {
    /// 3 attempts, 50 ms initial backoff, 2 s cap.
    fn default() -> Self {
        Self::new(3, Duration::from_millis(50), Duration::from_secs(2))
    }
}

impl<Op: Operation> tower::retry::Policy<Attempt<Op>, Op::Output, UpstreamError<Op::Error>>
    for RetryPolicy
{
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        attempt: &mut Attempt<Op>,
        result: &mut Result<Op::Output, UpstreamError<Op::Error>>,
    ) -> Option<Self::Future> {
        let err = result.as_ref().err()?;
        let safe = match classify(err) {
            Safety::Always => true,
            Safety::ReadOnly => !Op::MUTATING,
            Safety::Never => false,
        };
        if !safe || attempt.number >= self.max_attempts {
            return None;
        }
        let backoff = self.backoff(attempt.number);
        // No backoff that ends past the deadline: the caller would only wait for nothing.
        if Instant::now() + backoff >= attempt.deadline || !self.budget.withdraw() {
            return None;
        }
        tracing::debug!(
            operation = Op::NAME,
            attempt = attempt.number,
            backoff_ms = backoff.as_millis() as u64,
            "retrying"
        );
        attempt.number += 1;
        crate::metrics::upstream_retry(Op::NAME, self.target.as_deref());
        Some(tokio::time::sleep(backoff))
    }

    fn clone_request(&mut self, attempt: &Attempt<Op>) -> Option<Attempt<Op>> {
        Some(attempt.clone())
    }
}

/// The ElastiCache request budget: this process's, or with a shared state every replica's.
#[derive(Debug)]
pub struct UpstreamBudget {
    limiter: DefaultDirectRateLimiter,
    requests_per_second: u32,
    burst: u32,
    /// With Redis, the budget is the account's, shared by every replica.
    shared: Option<SharedState>,
    /// The budget's name in the shared state: `upstream`, or `upstream:<target>`.
    name: String,
}

impl UpstreamBudget {
    /// `requests_per_second` sustained, `burst` at once.
    pub fn new(requests_per_second: u32, burst: u32) -> Self {
        let rps = NonZeroU32::new(requests_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(rps);
        Self {
            limiter: RateLimiter::direct(Quota::per_second(rps).allow_burst(burst)),
            requests_per_second: rps.get(),
            burst: burst.get(),
            shared: None,
            name: "upstream".into(),
        }
    }

    /// The budget of the named target (its own AWS account quota).
    pub fn of_target(mut self, target: &str) -> Self {
        self.name = format!("upstream:{target}");
        self
    }

    /// The same budget, kept in `state` when it is shared.
    pub fn shared(mut self, state: &SharedState) -> Self {
        self.shared = state.is_shared().then(|| state.clone());
        self
    }

    /// Waits for a permit; refuses at once when none would come before `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> Result<(), Refusal> {
        loop {
            let taken = match &self.shared {
                Some(state) => {
                    let limit = Gcra {
                        per_second: self.requests_per_second,
                        burst: self.burst,
                    };
                    state.acquire(&self.name, limit).await
                }
                None => self
                    .limiter
                    .check()
                    .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now())),
            };
            let wait = match taken {
                Ok(()) => return Ok(()),
                Err(wait) => wait,
            };
            if Instant::now() + wait >= deadline {
                return Err(Refusal::UpstreamRateLimited {
                    requests_per_second: self.requests_per_second,
                    retry_after: wait,
                });
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Adds [`BudgetService`].
#[derive(Debug, Clone)]
pub struct BudgetLayer(Arc<UpstreamBudget>);

impl<S> Layer<S> for BudgetLayer {
    type Service = BudgetService<S>;
    fn layer(&self, inner: S) -> BudgetService<S> {
        BudgetService {
            inner,
            budget: self.0.clone(),
        }
    }
}

/// Spends one permit of the upstream budget per attempt.
#[derive(Debug, Clone)]
pub struct BudgetService<S> {
    inner: S,
    budget: Arc<UpstreamBudget>,
}

impl<Op, S> Service<Attempt<Op>> for BudgetService<S>
where
    Op: Operation,
    S: Service<Attempt<Op>, Error = UpstreamError<Op::Error>> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, attempt: Attempt<Op>) -> Self::Future {
        let budget = self.budget.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            budget
                .acquire(attempt.deadline)
                .await
                .map_err(UpstreamError::Refused)?;
            inner.oneshot(attempt).await
        })
    }
}

/// Adds [`AttemptTimeout`].
#[derive(Debug, Clone)]
pub struct AttemptTimeoutLayer(Duration);

impl<S> Layer<S> for AttemptTimeoutLayer {
    type Service = AttemptTimeout<S>;
    fn layer(&self, inner: S) -> AttemptTimeout<S> {
        AttemptTimeout {
            inner,
            timeout: self.0,
        }
    }
}

/// Bounds one attempt by the per-attempt timeout and the caller's deadline.
#[derive(Debug, Clone)]
pub struct AttemptTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<Op, S> Service<Attempt<Op>> for AttemptTimeout<S>
where
    Op: Operation,
    S: Service<Attempt<Op>, Error = UpstreamError<Op::Error>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, attempt: Attempt<Op>) -> Self::Future {
        let attempt_end = Instant::now() + self.timeout;
        let deadline = attempt.deadline;
        let future = self.inner.call(attempt);
        Box::pin(async move {
            match tokio::time::timeout_at(attempt_end.min(deadline), future).await {
                Ok(result) => result,
                Err(_) if attempt_end < deadline => Err(UpstreamError::AttemptTimeout),
                Err(_) => Err(UpstreamError::Deadline),
            }
        })
    }
}

/// The SDK call itself.
#[derive(Debug)]
pub struct SdkCall<Op>(PhantomData<fn() -> Op>, Option<Arc<str>>);

impl<Op> Clone for SdkCall<Op> {
    fn clone(&self) -> Self {
        SdkCall(PhantomData, self.1.clone())
    }
}

impl<Op: Operation> Service<Attempt<Op>> for SdkCall<Op> {
    type Response = Op::Output;
    type Error = UpstreamError<Op::Error>;
    type Future = BoxFuture<Result<Op::Output, UpstreamError<Op::Error>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, attempt: Attempt<Op>) -> Self::Future {
        let target = self.1.clone();
        Box::pin(async move {
            let result = Op::send(attempt.builder).await;
            let outcome = outcome(&result);
            if is_throttling_code(&outcome) {
                crate::metrics::upstream_throttle(Op::NAME, target.as_deref());
            }
            crate::metrics::upstream_call(Op::NAME, outcome, target.as_deref());
            result.map_err(UpstreamError::Sdk)
        })
    }
}

/// The `outcome` label of an attempt: `ok`, the AWS error code, or the transport failure.
fn outcome<T, E: ProvideErrorMetadata>(result: &Result<T, SdkError<E, HttpResponse>>) -> String {
    let err = match result {
        Ok(_) => return "ok".to_owned(),
        Err(err) => err,
    };
    match err {
        SdkError::ServiceError(s) => s.err().code().unwrap_or("unknown").to_owned(),
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "dispatch".to_owned(),
        SdkError::ResponseError(_) => "response".to_owned(),
        _ => "construction".to_owned(),
    }
}

/// Everything between a handler and the SDK: retry policy, budget, timeouts.
#[derive(Debug, Clone)]
pub struct Upstream {
    retry: RetryPolicy,
    budget: Arc<UpstreamBudget>,
    attempt_timeout: Duration,
}

impl Upstream {
    /// The stack configured by `settings`.
    pub fn new(settings: &UpstreamSettings) -> Self {
        Self {
            retry: RetryPolicy::new(
                settings.max_attempts,
                settings.initial_backoff,
                settings.max_backoff,
            ),
            budget: Arc::new(UpstreamBudget::new(
                settings.requests_per_second,
                settings.burst,
            )),
            attempt_timeout: settings.attempt_timeout,
        }
    }

    /// The upstream budget kept in `state` (the account's, when Redis is shared).
    pub fn with_state(mut self, state: &SharedState, settings: &UpstreamSettings) -> Self {
        self.budget = Arc::new(
            UpstreamBudget::new(settings.requests_per_second, settings.burst).shared(state),
        );
        self
    }

    /// Like [`Upstream::with_state`] for the named target: its own budget in `state`.
    pub fn with_target_state(
        mut self,
        state: &SharedState,
        settings: &UpstreamSettings,
        target: &str,
    ) -> Self {
        self.budget = Arc::new(
            UpstreamBudget::new(settings.requests_per_second, settings.burst)
                .of_target(target)
                .shared(state),
        );
        self.retry.target = Some(target.into());
        self
    }

    /// Replaces the retry policy (tests use [`RetryPolicy::none`]).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Calls `Op` through the stack, bounded by `deadline`.
    pub async fn call<Op: Operation>(
        &self,
        builder: Op::Builder,
        deadline: Instant,
    ) -> Result<Op::Output, UpstreamError<Op::Error>> {
        self.retry.budget.deposit();
        let stack = ServiceBuilder::new()
            .layer(tower::retry::RetryLayer::new(self.retry.clone()))
            .layer(BudgetLayer(self.budget.clone()))
            .layer(AttemptTimeoutLayer(self.attempt_timeout))
            .service(SdkCall::<Op>(PhantomData, self.retry.target.clone()));
        let attempt = Attempt::<Op> {
            builder,
            deadline,
            number: 1,
        };
        match tokio::time::timeout_at(deadline, stack.oneshot(attempt)).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Deadline),
        }
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Self::new(&UpstreamSettings::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_below_it() {
        let p = RetryPolicy::new(5, Duration::from_millis(50), Duration::from_millis(300));
        assert_eq!(p.backoff_cap(1), Duration::from_millis(50));
        assert_eq!(p.backoff_cap(2), Duration::from_millis(100));
        assert_eq!(p.backoff_cap(3), Duration::from_millis(200));
        assert_eq!(p.backoff_cap(4), Duration::from_millis(300));
        assert_eq!(p.backoff_cap(40), Duration::from_millis(300));
        for retry in 1..6 {
            assert!(p.backoff(retry) <= p.backoff_cap(retry));
        }
    }

    #[test]
    fn none_means_one_attempt() {
        assert_eq!(RetryPolicy::none().max_attempts, 1);
        assert_eq!(
            RetryPolicy::new(0, Duration::ZERO, Duration::ZERO).max_attempts,
            1
        );
    }

    /// The retry policy under a throttle storm, the SDK answering every attempt `Throttling` (no
    /// network: paused time runs the 15 s at once; the jitter seeded, though seeds 1-8 give the same
    /// counts): 15 s at each rate, the
    /// upstream calls are the requests plus exactly the retries README "Retries and deadlines"
    /// states, `min(2 N, ⌊0.2 N + 10 × (1 + ⌊⌈T⌉ / 10⌋)⌋)` with `T` ≤ 15 s. At 2/s: 30 requests,
    /// 56 calls (the README's former "floor of 1 retry per second" allowed 51).
    #[tokio::test(start_paused = true)]
    async fn a_throttle_storm_makes_the_documented_upstream_calls_at_every_rate() {
        use aws_sdk_elasticache::config::retry::RetryConfig;
        use aws_sdk_elasticache::error::ErrorMetadata;
        use aws_sdk_elasticache::operation::describe_serverless_caches::DescribeServerlessCachesError;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};

        type Op = crate::pb::DescribeServerlessCachesRequest;
        fastrand::seed(22);
        let mut seen = Vec::new();
        for (rate, want_calls) in [(0.5, 24), (2.0, 56), (10.0, 200), (100.0, 1820)] {
            let rule =
                mock!(aws_sdk_elasticache::Client::describe_serverless_caches).then_error(|| {
                    DescribeServerlessCachesError::generic(
                        ErrorMetadata::builder()
                            .code("Throttling")
                            .message("Rate exceeded")
                            .build(),
                    )
                });
            let client = mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, &[&rule], |c| c
                .retry_config(RetryConfig::disabled()));
            // An upstream budget that never waits: only the retry budget is under test.
            let upstream = Upstream::new(&UpstreamSettings {
                requests_per_second: 1_000_000,
                burst: 1_000_000,
                ..UpstreamSettings::default()
            });
            let requests = (rate * 15.0_f64).ceil() as u64;
            let start = Instant::now();
            let mut calls = tokio::task::JoinSet::new();
            for i in 0..requests {
                let (client, upstream) = (client.clone(), upstream.clone());
                let at = start + Duration::from_secs_f64(i as f64 / rate);
                calls.spawn(async move {
                    tokio::time::sleep_until(at).await;
                    let deadline = Instant::now() + Duration::from_secs(30);
                    upstream
                        .call::<Op>(<Op as Operation>::builder(&client), deadline)
                        .await
                        .expect_err("throttled")
                });
            }
            for err in calls.join_all().await {
                assert_eq!(classify(&err), Safety::Always, "{err:?}");
            }
            let calls = rule.num_calls() as u64;
            // Every retry comes within 150 ms of its request: the storm's retries span < 15 s.
            let retries = upstream
                .retry
                .budget
                .max_retries(requests, Duration::from_secs(15))
                .min(2 * requests);
            seen.push((rate, requests, calls, requests + retries));
            assert_eq!(calls, requests + retries, "{seen:?}");
            assert_eq!(calls, want_calls, "{seen:?}");
        }
    }

    #[tokio::test]
    async fn budget_waits_within_the_deadline_and_refuses_beyond_it() {
        let budget = UpstreamBudget::new(10, 1);
        let far = Instant::now() + Duration::from_secs(5);
        budget.acquire(far).await.expect("first permit at once");
        // The next permit is ~100 ms away: waited for when the deadline allows it.
        let started = Instant::now();
        budget
            .acquire(far)
            .await
            .expect("second permit after a wait");
        assert!(started.elapsed() >= Duration::from_millis(50));
        // And refused at once when it does not.
        let near = Instant::now() + Duration::from_millis(10);
        let refusal = budget
            .acquire(near)
            .await
            .expect_err("no permit before the deadline");
        match refusal {
            Refusal::UpstreamRateLimited {
                requests_per_second,
                retry_after,
            } => {
                assert_eq!(requests_per_second, 10);
                assert!(retry_after > Duration::from_millis(10));
            }
            other => panic!("{other:?}"),
        }
    }
}
