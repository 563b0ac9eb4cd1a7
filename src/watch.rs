//! Watches: stream a snapshot's or a cache's state until it settles, with one upstream poll per
//! resource however many watch it.
//!
//! - A [`Hub`] per resource kind maps a resource name to its [`Entry`]: a `tokio::sync::watch`
//!   channel holding the latest [`Observation`], and one poller task that Describes the resource
//!   through the same upstream stack as every call (retry budget, upstream rate limit), publishes
//!   what it saw, and stops when its last watcher leaves or the resource is gone.
//! - Each Watch RPC is a [`Watcher`]: it waits for an observation from a poll that started no
//!   earlier than the watch (or was in flight when it began), then sends a message whenever the
//!   resource differs from the last one it sent, a heartbeat when nothing changed for a while, and
//!   ends after a settled state (unless asked to keep watching), on deletion, at its deadline, or
//!   when the server shuts down.
//!
//! A watcher that reads more slowly than the poller publishes sees the latest state, not every
//! intermediate one; at the default 2 s poll interval that does not happen to a live client.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_sdk_elasticache::Client;
use futures_util::Stream;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tonic::{Code, Status};

use crate::aws::fault::{Fault, ResourceKind};
use crate::aws::{CallContext, Resources, Safety, fault_status};
use crate::config::WatchSettings;
use crate::convert::ToSdk;
use crate::operation::Operation;
use crate::pb;
use crate::refusal::Refusal;
use crate::status::{FACADE_DOMAIN, StatusBuilder};
use crate::upstream::{Upstream, UpstreamError, classify};
use crate::validate::Validate;

/// The stream a Watch RPC returns.
pub type WatchStream<M> = Pin<Box<dyn Stream<Item = Result<M, Status>> + Send + 'static>>;

/// Watchers arriving within this of the last poll's start share the next one.
const MIN_GAP: Duration = Duration::from_millis(100);

/// Longest wait between polls of a resource whose polls keep failing for a transient reason.
const MAX_POLL_BACKOFF: Duration = Duration::from_secs(30);

/// A kind of resource that can be watched: how to Describe it, find it in the answer, tell
/// whether it settled, and build the stream's messages.
pub trait Watched: Send + Sync + Sized + 'static {
    /// The Watch RPC's name.
    const RPC: &'static str;
    /// The `kind` metric label.
    const KIND: &'static str;
    /// The resource, for status details.
    const RESOURCE: ResourceKind;
    /// The fault a Describe of a missing resource returns.
    const NOT_FOUND: Fault;
    /// The Describe operation that reads it.
    type Describe: Operation;
    /// The resource as the Describe RPC returns it.
    type State: prost::Message + Clone + PartialEq + Send + Sync + 'static;
    /// The Watch RPC's request.
    type Request: Validate + Send + 'static;
    /// One message of the Watch RPC's stream.
    type Message: prost::Message + Send + 'static;

    /// The resource's name and whether to keep watching past settled states.
    fn target(request: &Self::Request) -> (&str, bool);
    /// A Describe of exactly `name`.
    fn describe(name: &str) -> Self::Describe;
    /// The resource named `name` in a Describe's answer.
    fn find(response: <Self::Describe as Operation>::Response, name: &str) -> Option<Self::State>;
    /// Its status, as AWS spells it.
    fn status(state: &Self::State) -> &str;
    /// Whether `status` is one the resource stays in until someone acts.
    fn is_settled(status: &str) -> bool;
    /// One stream message.
    fn message(event: pb::WatchEvent, state: Self::State, observed_at: SystemTime)
    -> Self::Message;
    /// The hub of this kind.
    fn hub(shared: &Shared) -> &Hub<Self>;
}

/// Snapshots: settled when `available` or `failed`.
#[derive(Debug)]
pub struct SnapshotWatch;

impl Watched for SnapshotWatch {
    const RPC: &'static str = "WatchServerlessCacheSnapshot";
    const KIND: &'static str = "snapshot";
    const RESOURCE: ResourceKind = ResourceKind::ServerlessCacheSnapshot;
    const NOT_FOUND: Fault = Fault::ServerlessCacheSnapshotNotFoundFault;
    type Describe = pb::DescribeServerlessCacheSnapshotsRequest;
    type State = pb::ServerlessCacheSnapshot;
    type Request = pb::WatchServerlessCacheSnapshotRequest;
    type Message = pb::WatchServerlessCacheSnapshotResponse;

    fn target(request: &Self::Request) -> (&str, bool) {
        (
            &request.serverless_cache_snapshot_name,
            request.keep_watching_when_settled,
        )
    }

    fn describe(name: &str) -> Self::Describe {
        pb::DescribeServerlessCacheSnapshotsRequest {
            serverless_cache_snapshot_name: Some(name.to_owned()),
            ..Default::default()
        }
    }

    fn find(
        response: pb::DescribeServerlessCacheSnapshotsResponse,
        name: &str,
    ) -> Option<Self::State> {
        response
            .serverless_cache_snapshots
            .into_iter()
            .find(|s| s.serverless_cache_snapshot_name.as_deref() == Some(name))
    }

    fn status(state: &Self::State) -> &str {
        state.status.as_deref().unwrap_or_default()
    }

    fn is_settled(status: &str) -> bool {
        matches!(status, "available" | "failed")
    }

    fn message(
        event: pb::WatchEvent,
        state: Self::State,
        observed_at: SystemTime,
    ) -> Self::Message {
        let settled = Self::is_settled(Self::status(&state));
        pb::WatchServerlessCacheSnapshotResponse {
            event: event.into(),
            serverless_cache_snapshot: Some(state),
            observed_at: Some(observed_at.into()),
            settled,
        }
    }

    fn hub(shared: &Shared) -> &Hub<Self> {
        &shared.snapshots
    }
}

/// Caches: settled when `available` or `create-failed`.
#[derive(Debug)]
pub struct CacheWatch;

impl Watched for CacheWatch {
    const RPC: &'static str = "WatchServerlessCache";
    const KIND: &'static str = "cache";
    const RESOURCE: ResourceKind = ResourceKind::ServerlessCache;
    const NOT_FOUND: Fault = Fault::ServerlessCacheNotFoundFault;
    type Describe = pb::DescribeServerlessCachesRequest;
    type State = pb::ServerlessCache;
    type Request = pb::WatchServerlessCacheRequest;
    type Message = pb::WatchServerlessCacheResponse;

    fn target(request: &Self::Request) -> (&str, bool) {
        (
            &request.serverless_cache_name,
            request.keep_watching_when_settled,
        )
    }

    fn describe(name: &str) -> Self::Describe {
        pb::DescribeServerlessCachesRequest {
            serverless_cache_name: Some(name.to_owned()),
            ..Default::default()
        }
    }

    fn find(response: pb::DescribeServerlessCachesResponse, name: &str) -> Option<Self::State> {
        response
            .serverless_caches
            .into_iter()
            .find(|c| c.serverless_cache_name.as_deref() == Some(name))
    }

    fn status(state: &Self::State) -> &str {
        state.status.as_deref().unwrap_or_default()
    }

    fn is_settled(status: &str) -> bool {
        matches!(status, "available" | "create-failed")
    }

    fn message(
        event: pb::WatchEvent,
        state: Self::State,
        observed_at: SystemTime,
    ) -> Self::Message {
        let settled = Self::is_settled(Self::status(&state));
        pb::WatchServerlessCacheResponse {
            event: event.into(),
            serverless_cache: Some(state),
            observed_at: Some(observed_at.into()),
            settled,
        }
    }

    fn hub(shared: &Shared) -> &Hub<Self> {
        &shared.caches
    }
}

type DescribeError<W> = UpstreamError<<<W as Watched>::Describe as Operation>::Error>;

/// What the last poll saw.
enum Seen<W: Watched> {
    /// No poll has answered yet.
    Nothing,
    /// The resource, and when it was read.
    Present(W::State, SystemTime),
    /// The resource does not exist (the Describe's NOT_FOUND, if it answered with one).
    Gone(Option<Arc<DescribeError<W>>>),
    /// A failure a Describe would not recover from (access denied, credentials, …).
    Failed(Arc<DescribeError<W>>),
}

/// The latest observation and the number of the poll that made it.
struct Observation<W: Watched> {
    poll: u64,
    seen: Seen<W>,
}

/// Whether a poll is running, and how many have started.
#[derive(Debug, Default)]
struct PollCount {
    started: u64,
    in_flight: bool,
}

/// One watched resource: its latest observation and its poller's controls.
struct Entry<W: Watched> {
    state: watch::Sender<Observation<W>>,
    polls: Mutex<PollCount>,
    /// A watcher arrived and needs a poll that started after it.
    wake: Notify,
}

/// The watched resources of one kind, by name.
pub struct Hub<W: Watched> {
    entries: Mutex<HashMap<String, Arc<Entry<W>>>>,
}

impl<W: Watched> Default for Hub<W> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<W: Watched> std::fmt::Debug for Hub<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let watched = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Hub").field("watched", &watched).finish()
    }
}

impl<W: Watched> Hub<W> {
    /// Subscribes to `name`, starting its poller if nobody watches it yet. Returns the receiver
    /// and the first poll number whose observation the watcher may use.
    fn subscribe(
        &self,
        shared: &Arc<Shared>,
        name: &str,
    ) -> (watch::Receiver<Observation<W>>, u64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get(name) {
            let receiver = entry.state.subscribe();
            let polls = entry.polls.lock().unwrap_or_else(PoisonError::into_inner);
            // A poll in flight counts; otherwise the next one, which the poller starts now.
            let first = if polls.in_flight {
                polls.started
            } else {
                entry.wake.notify_one();
                polls.started + 1
            };
            return (receiver, first);
        }
        let (sender, receiver) = watch::channel(Observation {
            poll: 0,
            seen: Seen::Nothing,
        });
        let entry = Arc::new(Entry {
            state: sender,
            polls: Mutex::new(PollCount::default()),
            wake: Notify::new(),
        });
        entries.insert(name.to_owned(), entry.clone());
        tokio::spawn(poll(shared.clone(), name.to_owned(), entry));
        (receiver, 1)
    }

    /// Removes `entry` when nobody watches it any more; `false` when a watcher arrived meanwhile.
    fn leave_if_unwatched(&self, name: &str, entry: &Arc<Entry<W>>) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entry.state.receiver_count() > 0 {
            return false;
        }
        if entries.get(name).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            entries.remove(name);
        }
        true
    }

    /// Removes `entry`: its resource is gone or cannot be read; later watchers start afresh.
    fn remove(&self, name: &str, entry: &Arc<Entry<W>>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.get(name).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            entries.remove(name);
        }
    }

    /// Resources of this kind with a poller.
    pub fn watched(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// What the pollers and watchers share.
pub struct Shared {
    client: Client,
    upstream: Upstream,
    settings: WatchSettings,
    /// Bound on one poll (all its attempts).
    poll_timeout: Duration,
    snapshots: Hub<SnapshotWatch>,
    caches: Hub<CacheWatch>,
    slots: Arc<Semaphore>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("settings", &self.settings)
            .field("snapshots", &self.snapshots)
            .field("caches", &self.caches)
            .finish_non_exhaustive()
    }
}

/// The process's watches: start them, count them, end them at shutdown.
#[derive(Debug, Clone)]
pub struct Watches {
    shared: Arc<Shared>,
}

/// Why a watch's time ends.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// The caller's deadline.
    Caller(Duration),
    /// The server's `max_duration`.
    Server(Duration),
}

impl Watches {
    /// Watches polling through `upstream` with `client`; one poll is bounded by `poll_timeout`.
    pub fn new(
        client: Client,
        upstream: Upstream,
        settings: WatchSettings,
        poll_timeout: Duration,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(
            settings.max_watches.min(Semaphore::MAX_PERMITS),
        ));
        Self {
            shared: Arc::new(Shared {
                client,
                upstream,
                settings,
                poll_timeout,
                snapshots: Hub::default(),
                caches: Hub::default(),
                slots,
                shutdown: watch::channel(false).0,
            }),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &WatchSettings {
        &self.shared.settings
    }

    /// Ends every open watch with UNAVAILABLE `SHUTTING_DOWN` (and every later one at once).
    pub fn shut_down(&self) {
        self.shared.shutdown.send_replace(true);
    }

    /// Resources with a poller: (snapshots, caches).
    pub fn watched(&self) -> (usize, usize) {
        (
            self.shared.snapshots.watched(),
            self.shared.caches.watched(),
        )
    }

    /// Starts a watch of `request`'s resource for the caller whose request id is `request_id`;
    /// `caller_timeout` is what its `grpc-timeout` leaves, if it sent one. The request is
    /// validated and authorised already.
    pub fn start<W: Watched>(
        &self,
        request: &W::Request,
        request_id: String,
        caller_timeout: Option<Duration>,
    ) -> Result<WatchStream<W::Message>, Status> {
        let max = self.shared.settings.max_duration;
        let limit = match caller_timeout {
            Some(t) if t <= max => Limit::Caller(t),
            _ => Limit::Server(max),
        };
        let (name, keep) = W::target(request);
        if *self.shared.shutdown.borrow() {
            return Err(Refusal::ShuttingDown.into_status(&request_id));
        }
        let slot = self.shared.slots.clone().try_acquire_owned().map_err(|_| {
            Refusal::TooManyWatches {
                limit: self.shared.settings.max_watches,
            }
            .into_status(&request_id)
        })?;
        let (observations, first_poll) = W::hub(&self.shared).subscribe(&self.shared, name);
        let now = Instant::now();
        let watcher = Watcher::<W> {
            name: name.to_owned(),
            keep,
            request_id,
            observations,
            first_poll,
            last_sent: None,
            observed_at: SystemTime::now(),
            deadline: now
                + match limit {
                    Limit::Caller(t) | Limit::Server(t) => t,
                },
            limit,
            heartbeat: self.shared.settings.heartbeat,
            next_heartbeat: now + self.shared.settings.heartbeat,
            shutdown: self.shared.shutdown.subscribe(),
            done: false,
            _open: OpenWatch::new(W::KIND, slot),
        };
        Ok(Box::pin(futures_util::stream::unfold(
            watcher,
            |mut watcher| async move { watcher.next().await.map(|item| (item, watcher)) },
        )))
    }
}

/// Holds a watch slot and counts the watch in the metrics while it is open.
#[derive(Debug)]
struct OpenWatch {
    kind: &'static str,
    _slot: OwnedSemaphorePermit,
}

impl OpenWatch {
    fn new(kind: &'static str, slot: OwnedSemaphorePermit) -> Self {
        crate::metrics::watches_open(kind, 1);
        Self { kind, _slot: slot }
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        crate::metrics::watches_open(self.kind, -1);
    }
}

/// Counts a poller in the metrics while it runs.
struct PollerGauge(&'static str);

impl PollerGauge {
    fn new(kind: &'static str) -> Self {
        crate::metrics::watch_pollers(kind, 1);
        Self(kind)
    }
}

impl Drop for PollerGauge {
    fn drop(&mut self) {
        crate::metrics::watch_pollers(self.0, -1);
    }
}

/// What a poll's failure means for the watch.
enum PollFailure {
    /// The resource does not exist.
    NotFound,
    /// Worth another poll later: throttled, a 5xx, a timeout, the budget, a lost connection.
    Transient,
    /// A Describe would fail the same way every time.
    Permanent,
}

fn poll_failure<E>(err: &UpstreamError<E>, status: &Status) -> PollFailure
where
    E: crate::aws::KnownFaults
        + aws_sdk_elasticache::error::ProvideErrorMetadata
        + std::error::Error
        + 'static,
{
    if status.code() == Code::NotFound {
        return PollFailure::NotFound;
    }
    match err {
        UpstreamError::Deadline | UpstreamError::AttemptTimeout | UpstreamError::Refused(_) => {
            PollFailure::Transient
        }
        UpstreamError::Sdk(_) => match classify(err) {
            Safety::Always | Safety::ReadOnly => PollFailure::Transient,
            Safety::Never => PollFailure::Permanent,
        },
    }
}

/// The poller of one resource: Describes it until nobody watches or it is gone.
async fn poll<W: Watched>(shared: Arc<Shared>, name: String, entry: Arc<Entry<W>>) {
    let _gauge = PollerGauge::new(W::KIND);
    let hub = W::hub(&shared);
    let settings = &shared.settings;
    // Watchers arriving while the poller is idle need a poll that starts after them; those
    // arriving within MIN_GAP of each other share one.
    let min_gap = (settings.poll_interval / 4).min(MIN_GAP);
    let resources = Resources::default().existing(W::RESOURCE, Some(&name));
    let ctx = CallContext {
        operation: W::Describe::NAME,
        request_id: "watch-poller",
        mutating: false,
        resources: &resources,
    };
    let mut next = Instant::now();
    let mut last_start: Option<Instant> = None;
    let mut failures: u32 = 0;
    loop {
        let now = Instant::now();
        if now < next {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                () = entry.wake.notified() => {
                    let soonest = last_start.map_or(now, |last| (last + min_gap).max(now));
                    next = next.min(soonest);
                    continue;
                }
                () = entry.state.closed() => {
                    if hub.leave_if_unwatched(&name, &entry) {
                        return;
                    }
                    continue;
                }
            }
        }
        let started = Instant::now();
        let number = {
            let mut polls = entry.polls.lock().unwrap_or_else(PoisonError::into_inner);
            polls.started += 1;
            polls.in_flight = true;
            polls.started
        };
        last_start = Some(started);
        crate::metrics::watch_poll(W::KIND);
        let builder = W::describe(&name).to_sdk(W::Describe::builder(&shared.client));
        let result = tokio::select! {
            result = shared
                .upstream
                .call::<W::Describe>(builder, started + shared.poll_timeout) => Some(result),
            () = entry.state.closed() => None,
        };
        entry
            .polls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_flight = false;
        let Some(result) = result else {
            // Everybody left during the poll.
            if hub.leave_if_unwatched(&name, &entry) {
                return;
            }
            next = Instant::now();
            continue;
        };
        let seen = match result {
            Ok(output) => match W::find(output.into(), &name) {
                Some(state) => {
                    failures = 0;
                    let settled = W::is_settled(W::status(&state));
                    next = started
                        + if settled {
                            settings.settled_poll_interval
                        } else {
                            settings.poll_interval
                        };
                    entry.state.send_replace(Observation {
                        poll: number,
                        seen: Seen::Present(state, SystemTime::now()),
                    });
                    continue;
                }
                None => Seen::Gone(None),
            },
            Err(err) => {
                let status = err.to_status(ctx, shared.poll_timeout);
                match poll_failure(&err, &status) {
                    PollFailure::NotFound => Seen::Gone(Some(Arc::new(err))),
                    PollFailure::Permanent => {
                        tracing::warn!(
                            resource = %name,
                            code = ?status.code(),
                            message = status.message(),
                            "watch poll failed; ending the watches of this resource"
                        );
                        Seen::Failed(Arc::new(err))
                    }
                    PollFailure::Transient => {
                        failures += 1;
                        let factor = 2u32.saturating_pow(failures.min(16) - 1);
                        let backoff = settings
                            .poll_interval
                            .saturating_mul(factor)
                            .min(MAX_POLL_BACKOFF);
                        tracing::debug!(
                            resource = %name,
                            failures,
                            backoff_ms = backoff.as_millis() as u64,
                            message = status.message(),
                            "watch poll failed; polling again later"
                        );
                        next = Instant::now() + backoff;
                        continue;
                    }
                }
            }
        };
        // The resource is gone or unreadable: later watchers start afresh; those here now get
        // this last observation.
        hub.remove(&name, &entry);
        entry.state.send_replace(Observation { poll: number, seen });
        return;
    }
}

/// One Watch RPC's stream.
struct Watcher<W: Watched> {
    name: String,
    keep: bool,
    request_id: String,
    observations: watch::Receiver<Observation<W>>,
    /// The first poll whose observation this watcher may send.
    first_poll: u64,
    last_sent: Option<W::State>,
    /// When the state last sent (or confirmed since) was read.
    observed_at: SystemTime,
    deadline: Instant,
    limit: Limit,
    heartbeat: Duration,
    next_heartbeat: Instant,
    shutdown: watch::Receiver<bool>,
    done: bool,
    _open: OpenWatch,
}

/// What woke a waiting watcher.
enum Woke {
    Changed,
    Heartbeat,
    Shutdown,
    Deadline,
    PollerGone,
}

/// What the watcher does with the latest observation.
enum Step<W: Watched> {
    Send(pb::WatchEvent, W::State),
    End(Status),
    Wait,
}

impl<W: Watched> Watcher<W> {
    /// The next item of the stream; `None` once it ended.
    async fn next(&mut self) -> Option<Result<W::Message, Status>> {
        if self.done {
            return None;
        }
        loop {
            match self.step() {
                Step::Send(event, state) => {
                    if event == pb::WatchEvent::Deleted
                        || (!self.keep && W::is_settled(W::status(&state)))
                    {
                        self.done = true;
                    }
                    self.next_heartbeat = Instant::now() + self.heartbeat;
                    return Some(Ok(W::message(event, state, self.observed_at)));
                }
                Step::End(status) => {
                    self.done = true;
                    return Some(Err(status));
                }
                Step::Wait => {}
            }
            let heartbeat_due = self.last_sent.is_some();
            let woke = tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|down| *down) => Woke::Shutdown,
                () = tokio::time::sleep_until(self.deadline) => Woke::Deadline,
                () = tokio::time::sleep_until(self.next_heartbeat), if heartbeat_due => {
                    Woke::Heartbeat
                }
                changed = self.observations.changed() => match changed {
                    Ok(()) => Woke::Changed,
                    Err(_) => Woke::PollerGone,
                },
            };
            match woke {
                Woke::Changed => {}
                Woke::Heartbeat => {
                    self.next_heartbeat = Instant::now() + self.heartbeat;
                    let state = self.last_sent.clone()?;
                    return Some(Ok(W::message(
                        pb::WatchEvent::Heartbeat,
                        state,
                        self.observed_at,
                    )));
                }
                Woke::Shutdown => {
                    self.done = true;
                    return Some(Err(Refusal::ShuttingDown.into_status(&self.request_id)));
                }
                Woke::Deadline => {
                    self.done = true;
                    return Some(Err(self.deadline_status()));
                }
                Woke::PollerGone => {
                    // The poller ended without a last word: it cannot, but never hang.
                    self.done = true;
                    return Some(Err(self.interrupted()));
                }
            }
        }
    }

    /// Reads the latest observation.
    fn step(&mut self) -> Step<W> {
        let end = {
            let observation = self.observations.borrow_and_update();
            if observation.poll < self.first_poll {
                return Step::Wait;
            }
            match &observation.seen {
                Seen::Nothing => return Step::Wait,
                Seen::Present(state, at) => {
                    self.observed_at = *at;
                    if self.last_sent.as_ref() == Some(state) {
                        return Step::Wait;
                    }
                    let event = if self.last_sent.is_none() {
                        pb::WatchEvent::Initial
                    } else {
                        pb::WatchEvent::Changed
                    };
                    self.last_sent = Some(state.clone());
                    return Step::Send(event, state.clone());
                }
                Seen::Gone(err) => match &self.last_sent {
                    Some(last) => return Step::Send(pb::WatchEvent::Deleted, last.clone()),
                    None => Err(err.clone()),
                },
                Seen::Failed(err) => Ok(err.clone()),
            }
        };
        let resources = self.resources();
        let ctx = self.describe_ctx(&resources);
        Step::End(match end {
            Ok(failed) => failed.to_status(ctx, Duration::ZERO),
            Err(Some(not_found)) => not_found.to_status(ctx, Duration::ZERO),
            Err(None) => fault_status(
                ctx,
                W::NOT_FOUND,
                &format!("{} {} not found", W::RESOURCE.as_str(), self.name),
                None,
            ),
        })
    }

    fn resources(&self) -> Resources {
        Resources::default().existing(W::RESOURCE, Some(&self.name))
    }

    /// The context of a Describe of the resource, made by this caller.
    fn describe_ctx<'a>(&'a self, resources: &'a Resources) -> CallContext<'a> {
        CallContext {
            operation: W::Describe::NAME,
            request_id: &self.request_id,
            mutating: false,
            resources,
        }
    }

    /// DEADLINE_EXCEEDED with the last status observed.
    fn deadline_status(&self) -> Status {
        let last = self.last_sent.as_ref().map(W::status).unwrap_or_default();
        let (reason, message, limit) = match self.limit {
            Limit::Caller(t) => (
                "DEADLINE_EXCEEDED",
                format!(
                    "deadline of {} ms exceeded while watching {}",
                    t.as_millis(),
                    self.name
                ),
                t,
            ),
            Limit::Server(t) => (
                "MAX_WATCH_DURATION",
                format!(
                    "this server ends watches after {} ms ([watch] max_duration_ms); watch {} \
                     again to go on",
                    t.as_millis(),
                    self.name
                ),
                t,
            ),
        };
        StatusBuilder::new(
            Code::DeadlineExceeded,
            message,
            reason,
            FACADE_DOMAIN,
            &self.request_id,
        )
        .metadata("operation", W::RPC)
        .metadata("last_status", last)
        .metadata(
            "last_observed_at",
            aws_smithy_types::DateTime::from(self.observed_at)
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap_or_default(),
        )
        .metadata("timeout_ms", limit.as_millis().to_string())
        .build()
    }

    fn interrupted(&self) -> Status {
        StatusBuilder::new(
            Code::Unavailable,
            format!("the watch of {} was interrupted; watch again", self.name),
            "WATCH_INTERRUPTED",
            FACADE_DOMAIN,
            &self.request_id,
        )
        .metadata("operation", W::RPC)
        .details(|d| {
            d.set_retry_info(Some(Duration::from_millis(100)));
        })
        .build()
    }
}

#[cfg(test)]
mod tests;
