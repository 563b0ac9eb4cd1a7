//! Calls to ElastiCache: the facade is the only retry authority (SDK retries are off).
//!
//! Retried only when it is safe (DESIGN §5): throttling codes (AWS did nothing) and failed
//! connects (nothing was sent) for every operation; 5xx, timeouts and lost connections only for
//! read-only operations. Backoff is exponential with full jitter; a retry budget (retries ≤ a
//! fraction of recent requests) keeps an outage from being amplified; no attempt or backoff starts
//! that cannot finish before the caller's deadline.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_elasticache::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use tokio::time::Instant;
use tower::retry::budget::{Budget, TpsBudget};

use crate::aws::{find_source, is_server_fault_code, is_throttling_code, nothing_was_sent};
use crate::service::Operation;

/// Whether a failed attempt may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// AWS did nothing: safe for every operation.
    Always,
    /// AWS may have acted: safe only for read-only operations.
    ReadOnly,
    /// Never retried.
    Never,
}

/// How a failed upstream call is classified for retries.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Safety
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            if is_throttling_code(code) {
                Safety::Always
            } else if service.raw().status().is_server_error() || is_server_fault_code(code) {
                Safety::ReadOnly
            } else {
                Safety::Never
            }
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Safety::ReadOnly,
        SdkError::DispatchFailure(d) => {
            if find_source::<aws_credential_types::provider::error::CredentialsError>(err).is_some()
            {
                Safety::Never
            } else if nothing_was_sent(err) {
                Safety::Always
            } else if d.is_io() || d.is_timeout() || d.is_other() {
                Safety::ReadOnly
            } else {
                Safety::Never
            }
        }
        _ => Safety::Never,
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
    budget: Arc<TpsBudget>,
}

impl RetryPolicy {
    /// `max_attempts` attempts with the given backoff, and a budget allowing retries of at most
    /// 20% of the requests of the last 10 s (plus 10 per second, so a quiet service can retry).
    pub fn new(max_attempts: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            initial_backoff,
            max_backoff,
            budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.2)),
        }
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
        let cap = self.backoff_cap(retry);
        cap.mul_f64(fastrand::f64())
    }
}

impl Default for RetryPolicy {
    /// 3 attempts, 50 ms initial backoff, 2 s cap.
    fn default() -> Self {
        Self::new(3, Duration::from_millis(50), Duration::from_secs(2))
    }
}

/// Sends `builder` for `Op`, retrying what is safe, until success, a final error or `deadline`.
/// Returns `None` when the deadline passed before an answer.
pub async fn call<Op: Operation>(
    policy: &RetryPolicy,
    deadline: Instant,
    builder: Op::Builder,
) -> Option<Result<Op::Output, SdkError<Op::Error, HttpResponse>>> {
    policy.budget.deposit();
    let mut attempt = 1;
    loop {
        let result = tokio::time::timeout_at(deadline, Op::send(builder.clone()))
            .await
            .ok()?;
        let err = match result {
            Ok(output) => return Some(Ok(output)),
            Err(err) => err,
        };
        let safe = match classify(&err) {
            Safety::Always => true,
            Safety::ReadOnly => !Op::MUTATING,
            Safety::Never => false,
        };
        if !safe || attempt >= policy.max_attempts {
            return Some(Err(err));
        }
        let backoff = policy.backoff(attempt);
        // No backoff that ends past the deadline: the caller would only wait for nothing.
        if Instant::now() + backoff >= deadline || !policy.budget.withdraw() {
            return Some(Err(err));
        }
        tracing::debug!(
            operation = Op::NAME,
            attempt,
            backoff_ms = backoff.as_millis() as u64,
            "retrying"
        );
        tokio::time::sleep(backoff).await;
        attempt += 1;
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
}
