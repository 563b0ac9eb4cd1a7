//! Identical read-only calls in flight at the same time share one upstream call.
//!
//! Callers are still authenticated, authorised, validated and rate-limited each on its own before
//! they get here; only the upstream call is shared. The key is the operation and the request's
//! encoded bytes, so only requests identical in every field share. Nothing is kept once the call
//! returns: a caller that arrives after it never gets its answer, so no answer is stale.
//!
//! The first caller (the leader) makes the call itself, bounded by its deadline; the others
//! (followers) wait for the same outcome, each within its own deadline. Failures are shared like
//! answers, and each caller builds its status from the shared failure with its own request id. A
//! follower whose own deadline is later than the leader's does not take a failure that only the
//! leader's deadline caused (the deadline, or the upstream budget refusing before it): it calls
//! again. So does a follower whose leader went away (its caller cancelled) before the answer.
//!
//! A call nobody shares costs a map insert and remove around it: no task, no copy of the answer.

use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// One call in flight: which leader runs it, the writes done before it, its outcome channel and
/// the leader's deadline.
struct InFlight<Op: Operation> {
    leader: u64,
    writes: u64,
    outcome: watch::Sender<Option<Outcome<Op>>>,
    deadline: Instant,
}

/// The calls in flight, by operation and request bytes.
#[derive(Default)]
pub(crate) struct Coalescer {
    calls: Mutex<HashMap<Key, Box<dyn Any + Send + Sync>>>,
    leaders: AtomicU64,
    /// Mutating calls finished so far: a call that started before the last of them may have read
    /// the state before it, so nobody joins it any more.
    writes: AtomicU64,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer").finish_non_exhaustive()
    }
}

/// How a caller takes part in a call.
enum Role<Op: Operation> {
    /// Makes it; the number identifies its entry.
    Leader(u64),
    /// Waits for one that runs until the given deadline.
    Follower(watch::Receiver<Option<Outcome<Op>>>, Instant),
}

/// What a follower's wait came to.
enum Followed<Op: Operation> {
    /// The shared outcome, or `None` when the caller's deadline passed first.
    Done(Option<Outcome<Op>>),
    /// Call again: the leader went away, or failed for want of time this caller has.
    Again,
}

/// Removes the leader's entry when the leader finishes or goes away (then its followers call
/// again).
struct Leading<'a, Op: Operation> {
    coalescer: &'a Coalescer,
    key: &'a Key,
    leader: u64,
    op: PhantomData<fn() -> Op>,
}

impl<Op: Operation> Leading<'_, Op> {
    /// Takes the entry out of the map, if it is still this leader's.
    fn take(&self) -> Option<Box<InFlight<Op>>> {
        let mut calls = self
            .coalescer
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ours = calls
            .get(self.key)
            .and_then(|call| call.downcast_ref::<InFlight<Op>>())
            .is_some_and(|call| call.leader == self.leader);
        if !ours {
            return None;
        }
        calls.remove(self.key)?.downcast().ok()
    }
}

impl Coalescer {
    /// Calls `Op` with `message`, sharing the call with identical ones in flight. `None` when the
    /// caller's `deadline` passed before the outcome came.
    pub(crate) async fn call<Op: Operation>(
        &self,
        client: &Client,
        upstream: &Upstream,
        message: Op,
        deadline: Instant,
    ) -> Option<Outcome<Op>> {
        let key: Key = (Op::NAME, prost::Message::encode_to_vec(&message));
        let leader = loop {
            match self.join::<Op>(&key, deadline) {
                Role::Leader(leader) => break leader,
                Role::Follower(receiver, leader_deadline) => {
                    match follow::<Op>(receiver, leader_deadline, deadline).await {
                        Followed::Done(outcome) => {
                            crate::metrics::coalesced_call(Op::NAME);
                            return outcome;
                        }
                        Followed::Again if Instant::now() >= deadline => return None,
                        Followed::Again => {}
                    }
                }
            }
        };
        let leading = Leading::<Op> {
            coalescer: self,
            key: &key,
            leader,
            op: PhantomData,
        };
        let builder = message.to_sdk(Op::builder(client));
        let outcome: Outcome<Op> = match upstream.call::<Op>(builder, deadline).await {
            Ok(output) => {
                let aws_request_id = output.request_id().unwrap_or_default().to_owned();
                Ok((Op::Response::from(output), aws_request_id))
            }
            Err(err) => Err(Arc::new(err)),
        };
        if let Some(call) = leading.take()
            && call.outcome.receiver_count() > 0
        {
            call.outcome.send_replace(Some(outcome.clone()));
        }
        Some(outcome)
    }

    /// A mutating call finished (whatever its outcome): calls in flight may have read the state
    /// before it, so a caller who saw it finish must not be answered from them.
    pub(crate) fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// Joins the call in flight for `key`, or becomes its leader. A call that started before the
    /// last mutating call finished is not joined: its leader replaces it as the one to join.
    fn join<Op: Operation>(&self, key: &Key, deadline: Instant) -> Role<Op> {
        let writes = self.writes.load(Ordering::SeqCst);
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(in_flight) = calls
            .get(key)
            .and_then(|call| call.downcast_ref::<InFlight<Op>>())
            .filter(|call| call.writes == writes)
        {
            return Role::Follower(in_flight.outcome.subscribe(), in_flight.deadline);
        }
        let leader = self.leaders.fetch_add(1, Ordering::Relaxed);
        // Replacing a stale entry leaves its followers waiting on its (dropped-from-the-map but
        // still owned by nobody) channel: they see it closed and call again. Its leader, when it
        // finishes, finds the entry is no longer its own and sends nothing.
        calls.insert(
            key.clone(),
            Box::new(InFlight::<Op> {
                leader,
                writes,
                outcome: watch::Sender::new(None),
                deadline,
            }),
        );
        Role::Leader(leader)
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

impl<Op: Operation> Drop for Leading<'_, Op> {
    /// A leader that goes away before the outcome (its caller cancelled) removes its entry; the
    /// dropped channel tells its followers to call again. After the outcome nothing is left.
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// Waits for the leader's outcome within `deadline`.
async fn follow<Op: Operation>(
    mut receiver: watch::Receiver<Option<Outcome<Op>>>,
    leader_deadline: Instant,
    deadline: Instant,
) -> Followed<Op> {
    let outcome = match tokio::time::timeout_at(deadline, receiver.wait_for(Option::is_some)).await
    {
        Err(_) => return Followed::Done(None),
        Ok(Ok(outcome)) => outcome.clone(),
        // The leader went away without an outcome.
        Ok(Err(_)) => return Followed::Again,
    };
    match outcome {
        Some(Err(err)) if deadline > leader_deadline && ends_with_deadline(&err) => Followed::Again,
        Some(outcome) => Followed::Done(Some(outcome)),
        None => Followed::Again,
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

    #[tokio::test]
    async fn a_follower_calls_again_when_its_leader_goes_away() {
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
        let follower = {
            let (coalescer, client, upstream) =
                (coalescer.clone(), client.clone(), upstream.clone());
            tokio::spawn(async move {
                coalescer
                    .call(&client, &upstream, describe(), deadline)
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        leader.abort();
        let outcome = follower
            .await
            .unwrap()
            .expect("an outcome before the deadline");
        assert!(outcome.is_ok());
        assert_eq!(emulator.calls(ACTION), 2, "the follower's own call");
        assert_eq!(coalescer.in_flight(), 0);
    }

    #[tokio::test]
    async fn followers_share_the_leaders_answer() {
        let (emulator, client) = emulator().await;
        emulator.faults().inject(
            Some(ACTION),
            FaultKind::Delay(Duration::from_millis(200)),
            1,
        );
        let coalescer = Coalescer::default();
        let upstream = Upstream::default();
        let deadline = Instant::now() + Duration::from_secs(5);
        let calls = (0..5).map(|_| coalescer.call(&client, &upstream, describe(), deadline));
        let outcomes = futures_util::future::join_all(calls).await;
        assert!(outcomes.iter().all(|o| matches!(o, Some(Ok(_)))));
        assert_eq!(emulator.calls(ACTION), 1);
        assert_eq!(coalescer.in_flight(), 0, "nothing is kept after the call");
    }

    #[tokio::test]
    async fn nobody_joins_a_call_that_started_before_a_write_finished() {
        let (emulator, client) = emulator().await;
        emulator.faults().inject(
            Some(ACTION),
            FaultKind::Delay(Duration::from_millis(200)),
            1,
        );
        let coalescer = Coalescer::default();
        let upstream = Upstream::default();
        let deadline = Instant::now() + Duration::from_secs(5);
        let before = coalescer.call(&client, &upstream, describe(), deadline);
        let after = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            // A mutating call finished while the first Describe was in flight.
            coalescer.wrote();
            coalescer
                .call(&client, &upstream, describe(), deadline)
                .await
        };
        let (before, after) = tokio::join!(before, after);
        assert!(matches!(before, Some(Ok(_))));
        assert!(matches!(after, Some(Ok(_))));
        assert_eq!(
            emulator.calls(ACTION),
            2,
            "the later caller made its own call"
        );
        assert_eq!(coalescer.in_flight(), 0);
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
        assert_eq!(coalescer.in_flight(), 0);
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
        assert!(
            matches!(&leader, Some(Err(err)) if matches!(**err, UpstreamError::Deadline)),
            "the leader's deadline passed"
        );
        assert!(
            matches!(follower, Some(Ok(_))),
            "the follower called again within its own deadline"
        );
        assert_eq!(emulator.calls(ACTION), 2);
    }
}
