//! Identical read-only calls in flight at the same time share one upstream call.
//!
//! Callers are still authenticated, authorised, validated and rate-limited each on its own before
//! they get here; only the upstream call is shared. The key is the operation and the request's
//! encoded bytes, so only requests identical in every field share. Nothing is kept once the call
//! returns: a caller that arrives after it never gets its answer, so no answer is stale.
//!
//! The first caller (the leader) starts the call in its own task, bounded by its deadline; the
//! others (followers) wait for the same outcome, each within its own deadline. When every waiting
//! caller has gone, the call is dropped. Failures are shared like answers, and each caller builds
//! its status from the shared failure with its own request id. A follower whose own deadline is
//! later than the leader's does not take a failure that only the leader's deadline caused (the
//! deadline, or the upstream budget refusing before it): it calls again.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::operation::RequestId as _;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::operation::Operation;
use crate::upstream::{Upstream, UpstreamError};

/// What a shared call ended with: the proto response and AWS's request id, or the failure.
pub(crate) type Outcome<Op> =
    Result<(<Op as Operation>::Response, String), Arc<UpstreamError<<Op as Operation>::Error>>>;

type Key = (&'static str, Vec<u8>);

/// One call in flight: its outcome channel and the deadline it runs under.
struct InFlight<Op: Operation> {
    outcome: watch::Sender<Option<Outcome<Op>>>,
    deadline: Instant,
}

/// The calls in flight, by operation and request bytes.
#[derive(Default)]
pub(crate) struct Coalescer {
    calls: Mutex<HashMap<Key, Box<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer").finish_non_exhaustive()
    }
}

/// How a caller takes part in a call.
enum Role<Op: Operation> {
    /// Started it.
    Leader(watch::Receiver<Option<Outcome<Op>>>),
    /// Joined one that runs until `deadline`.
    Follower(watch::Receiver<Option<Outcome<Op>>>, Instant),
}

impl Coalescer {
    /// Calls `Op` with `message`, sharing the call with identical ones in flight. `None` when the
    /// caller's `deadline` passed before the outcome came.
    pub(crate) async fn call<Op>(
        self: &Arc<Self>,
        client: &Client,
        upstream: &Upstream,
        message: Op,
        deadline: Instant,
    ) -> Option<Outcome<Op>>
    where
        Op: Operation + Clone,
    {
        let key: Key = (Op::NAME, prost::Message::encode_to_vec(&message));
        loop {
            let role = self.join::<Op>(&key, client, upstream, message.clone(), deadline);
            let (mut receiver, leader_deadline) = match role {
                Role::Leader(receiver) => (receiver, deadline),
                Role::Follower(receiver, leader_deadline) => {
                    crate::metrics::coalesced_call(Op::NAME);
                    (receiver, leader_deadline)
                }
            };
            let outcome =
                match tokio::time::timeout_at(deadline, receiver.wait_for(Option::is_some)).await {
                    Err(_) => return None,
                    Ok(Ok(outcome)) => outcome.clone(),
                    // The call's task ended without an outcome (it cannot panic, but if it did):
                    // call again rather than fail the caller.
                    Ok(Err(_)) => None,
                };
            match outcome {
                Some(Err(err)) if deadline > leader_deadline && ends_with_deadline(&err) => {}
                Some(outcome) => return Some(outcome),
                None => {}
            }
            if Instant::now() >= deadline {
                return None;
            }
        }
    }

    /// Joins the call in flight for `key`, or starts one.
    fn join<Op>(
        self: &Arc<Self>,
        key: &Key,
        client: &Client,
        upstream: &Upstream,
        message: Op,
        deadline: Instant,
    ) -> Role<Op>
    where
        Op: Operation,
    {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(in_flight) = calls
            .get(key)
            .and_then(|call| call.downcast_ref::<InFlight<Op>>())
        {
            return Role::Follower(in_flight.outcome.subscribe(), in_flight.deadline);
        }
        let (sender, receiver) = watch::channel(None);
        calls.insert(
            key.clone(),
            Box::new(InFlight::<Op> {
                outcome: sender.clone(),
                deadline,
            }),
        );
        drop(calls);
        let builder = message.to_sdk(Op::builder(client));
        let upstream = upstream.clone();
        let this = Arc::clone(self);
        let key = key.clone();
        tokio::spawn(async move {
            let outcome = tokio::select! {
                result = upstream.call::<Op>(builder, deadline) => Some(match result {
                    Ok(output) => {
                        let aws_request_id = output.request_id().unwrap_or_default().to_owned();
                        Ok((Op::Response::from(output), aws_request_id))
                    }
                    Err(err) => Err(Arc::new(err)),
                }),
                // Every caller went away: nobody wants the answer.
                () = sender.closed() => None,
            };
            this.calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
            if let Some(outcome) = outcome {
                sender.send_replace(Some(outcome));
            }
        });
        Role::Leader(receiver)
    }

    /// Calls in flight (for tests).
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Whether a failure came from the call's own deadline rather than from AWS.
fn ends_with_deadline<E>(err: &UpstreamError<E>) -> bool {
    matches!(err, UpstreamError::Deadline | UpstreamError::Refused(_))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use elasticache_emulator::{Emulator, EmulatorConfig, FaultKind};

    use super::*;
    use crate::pb;
    use crate::startup::static_client;

    const ACTION: &str = "DescribeServerlessCaches";

    async fn emulator() -> (Emulator, Client) {
        let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), EmulatorConfig::default())
            .await
            .unwrap();
        let client = static_client(&emulator.endpoint_url());
        (emulator, client)
    }

    fn describe() -> pb::DescribeServerlessCachesRequest {
        pb::DescribeServerlessCachesRequest::default()
    }

    async fn settle(coalescer: &Coalescer) {
        for _ in 0..100 {
            if coalescer.in_flight() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("a call is still in flight");
    }

    #[tokio::test]
    async fn a_follower_gets_the_answer_when_the_leader_goes_away() {
        let (emulator, client) = emulator().await;
        emulator.faults().inject(
            Some(ACTION),
            FaultKind::Delay(Duration::from_millis(200)),
            1,
        );
        let coalescer = Arc::new(Coalescer::default());
        let upstream = Upstream::default();
        let deadline = Instant::now() + Duration::from_secs(5);
        let leader = {
            let (coalescer, client, upstream) =
                (coalescer.clone(), client.clone(), upstream.clone());
            tokio::spawn(async move {
                coalescer
                    .call(&client, &upstream, describe(), deadline)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(coalescer.in_flight(), 1);
        let follower = coalescer.call(&client, &upstream, describe(), deadline);
        leader.abort();
        let outcome = follower.await.expect("an outcome before the deadline");
        assert!(outcome.is_ok());
        assert_eq!(emulator.calls(ACTION), 1);
        settle(&coalescer).await;
    }

    #[tokio::test]
    async fn a_call_nobody_waits_for_is_dropped() {
        let (emulator, client) = emulator().await;
        emulator.faults().inject(Some(ACTION), FaultKind::Hang, 1);
        let coalescer = Arc::new(Coalescer::default());
        let deadline = Instant::now() + Duration::from_secs(30);
        let call = tokio::time::timeout(
            Duration::from_millis(100),
            coalescer.call(&client, &Upstream::default(), describe(), deadline),
        )
        .await;
        assert!(call.is_err(), "the upstream hangs");
        settle(&coalescer).await;
    }

    #[tokio::test]
    async fn a_follower_with_a_later_deadline_does_not_take_the_leaders_deadline() {
        let (emulator, client) = emulator().await;
        emulator.faults().inject(Some(ACTION), FaultKind::Hang, 1);
        let coalescer = Arc::new(Coalescer::default());
        let upstream = Upstream::default().with_retry(crate::upstream::RetryPolicy::none());
        let leader = coalescer.call(
            &client,
            &upstream,
            describe(),
            Instant::now() + Duration::from_millis(150),
        );
        let follower = coalescer.call(
            &client,
            &upstream,
            describe(),
            Instant::now() + Duration::from_secs(5),
        );
        let (leader, follower) = tokio::join!(leader, follower);
        assert!(leader.is_none(), "the leader's deadline passed");
        assert!(
            matches!(follower, Some(Ok(_))),
            "the follower called again within its own deadline"
        );
        assert_eq!(emulator.calls(ACTION), 2);
    }
}
