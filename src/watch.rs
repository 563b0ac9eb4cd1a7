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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use aws_sdk_elasticache::Client;
use futures_util::Stream;
use futures_util::StreamExt as _;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
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
    type State: prost::Message + Default + Clone + PartialEq + Send + Sync + 'static;
    /// The Watch RPC's request.
    type Request: Validate + Send + 'static;
    /// One message of the Watch RPC's stream.
    type Message: prost::Message + Send + 'static;

    /// The resource's name and whether to keep watching past settled states.
    fn target(request: &Self::Request) -> (&str, bool);
    /// The version of the last message the caller received (empty: none).
    fn resume_after(request: &Self::Request) -> &str;
    /// The name as the hub keys it: names that AWS takes for the same resource share a poller.
    fn key(name: &str) -> String;
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

/// Implements [`Watched`] for each kind from one line of names: the only differences between
/// kinds are which proto messages and fields they use, their settled statuses, and how AWS
/// compares their names.
macro_rules! watched {
    ($(
        $(#[$doc:meta])*
        $watch:ident: rpc $rpc:literal, kind $kind:literal, hub $hub:ident,
        resource $resource:ident, not_found $not_found:ident,
        describe $describe:ident($name_filter:ident) => $response:ident.$list:ident,
        state $state:ident.$name:ident.$status:ident, request $request:ident.$target:ident,
        message $message:ident.$field:ident,
        settled [$($settled:literal)|*], key $key:path;
    )*) => {
        /// One hub per watched kind.
        #[derive(Debug, Default)]
        struct Hubs {
            $($hub: Hub<$watch>,)*
        }

        impl Hubs {
            /// Resources with a poller, of every kind.
            fn watched(&self) -> usize {
                0 $(+ self.$hub.watched())*
            }
        }
    $(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $watch;

        impl Watched for $watch {
            const RPC: &'static str = $rpc;
            const KIND: &'static str = $kind;
            const RESOURCE: ResourceKind = ResourceKind::$resource;
            const NOT_FOUND: Fault = Fault::$not_found;
            type Describe = pb::$describe;
            type State = pb::$state;
            type Request = pb::$request;
            type Message = pb::$message;

            fn target(request: &Self::Request) -> (&str, bool) {
                (&request.$target, request.keep_watching_when_settled)
            }

            fn resume_after(request: &Self::Request) -> &str {
                &request.resume_after
            }

            fn key(name: &str) -> String {
                $key(name)
            }

            fn describe(name: &str) -> Self::Describe {
                pb::$describe {
                    $name_filter: Some(name.to_owned()),
                    ..Default::default()
                }
            }

            fn find(response: pb::$response, name: &str) -> Option<Self::State> {
                let key = Self::key(name);
                response
                    .$list
                    .into_iter()
                    .find(|r| r.$name.as_deref().is_some_and(|n| Self::key(n) == key))
            }

            fn status(state: &Self::State) -> &str {
                state.$status.as_deref().unwrap_or_default()
            }

            fn is_settled(status: &str) -> bool {
                matches!(status, $($settled)|*)
            }

            fn message(
                event: pb::WatchEvent,
                state: Self::State,
                observed_at: SystemTime,
            ) -> Self::Message {
                let settled = Self::is_settled(Self::status(&state));
                let version = version(&state);
                pb::$message {
                    event: event.into(),
                    $field: Some(state),
                    observed_at: Some(observed_at.into()),
                    settled,
                    version,
                }
            }

            fn hub(shared: &Shared) -> &Hub<Self> {
                &shared.hubs.$hub
            }
        }
    )*};
}

// The watched kinds, from the `watch` lines of model/overlay.toml.
include!("generated/watches.rs");

/// The version of a state, as a message carries it: the first 8 bytes of the SHA-256 of its
/// Protobuf encoding, in hex. The same state has the same version on every replica (prost encodes
/// fields in field order), so a caller may resume on any of them.
fn version<M: prost::Message>(state: &M) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(state.encode_to_vec());
    hex::encode(&digest[..8])
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

/// One watched resource: its latest observation and its poller's controls.
struct Entry<W: Watched> {
    state: watch::Sender<Observation<W>>,
    /// Polls started so far; the number of the latest.
    polls: AtomicU64,
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
            // Only a poll that starts after the watcher may give its first state (one in flight
            // may have read the resource before the caller's own change): ask for one.
            entry.wake.notify_one();
            return (receiver, entry.polls.load(Ordering::SeqCst) + 1);
        }
        let (sender, receiver) = watch::channel(Observation {
            poll: 0,
            seen: Seen::Nothing,
        });
        let entry = Arc::new(Entry {
            state: sender,
            polls: AtomicU64::new(0),
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
    hubs: Hubs,
    /// One poller per resource for the whole fleet, when the state is shared.
    fleet: Option<Fleet>,
    slots: Arc<Semaphore>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("settings", &self.settings)
            .field("hubs", &self.hubs)
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
    /// With a `fleet`, one process of the fleet polls each resource for all of them.
    pub fn new(
        client: Client,
        upstream: Upstream,
        settings: WatchSettings,
        poll_timeout: Duration,
        fleet: Option<Fleet>,
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
                hubs: Hubs::default(),
                fleet,
                slots,
                shutdown: watch::channel(false).0,
            }),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &WatchSettings {
        &self.shared.settings
    }

    /// The fleet these watches poll for, if the state is shared.
    pub fn fleet(&self) -> Option<&Fleet> {
        self.shared.fleet.as_ref()
    }

    /// Ends every open watch with UNAVAILABLE `SHUTTING_DOWN` (and every later one at once).
    pub fn shut_down(&self) {
        self.shared.shutdown.send_replace(true);
    }

    /// Resources with a poller, of every kind.
    pub fn watched(&self) -> usize {
        self.shared.hubs.watched()
    }

    /// Resources of kind `W` with a poller.
    pub fn watched_of<W: Watched>(&self) -> usize {
        W::hub(&self.shared).watched()
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
        let key = W::key(name);
        let (observations, first_poll) = W::hub(&self.shared).subscribe(&self.shared, &key);
        let now = Instant::now();
        // The watcher runs in its own task and hands messages over one at a time: a client that
        // stops reading holds up the messages, never the watcher's deadline, heartbeat timer or
        // shutdown, and its end (which frees the poll and the slot) does not wait for the client.
        let (messages, received) = mpsc::channel(1);
        let (end, ended) = oneshot::channel();
        let watcher = Watcher::<W> {
            name: name.to_owned(),
            keep,
            request_id: request_id.clone(),
            observations,
            first_poll,
            resume_after: Some(W::resume_after(request).to_owned()).filter(|v| !v.is_empty()),
            last_sent: None,
            observed_at: None,
            deadline: now
                + match limit {
                    Limit::Caller(t) | Limit::Server(t) => t,
                },
            limit,
            heartbeat: self.shared.settings.heartbeat,
            next_heartbeat: now + self.shared.settings.heartbeat,
            shutdown: self.shared.shutdown.subscribe(),
            messages,
            _open: OpenWatch::new(W::KIND, slot),
        };
        tokio::spawn(tracing::Instrument::in_current_span(watcher.run(end)));
        let messages = futures_util::stream::unfold(received, |mut received| async move {
            received.recv().await.map(|m| (Ok(m), received))
        });
        let last = futures_util::stream::once(async move {
            match ended.await {
                Ok(None) => None,
                Ok(Some(status)) => Some(Err(status)),
                // The watcher's task ended without a word: it cannot, but never end with OK.
                Err(_) => Some(Err(interrupted(W::RPC, &request_id))),
            }
        })
        .filter_map(std::future::ready);
        Ok(Box::pin(messages.chain(last)))
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

/// Counts a poller in the metrics while it runs, and takes its entry out of the hub however the
/// poller ends (were its task ever aborted, later watchers would start a new poller rather than
/// wait on a dead one).
struct Poller<'a, W: Watched> {
    hub: &'a Hub<W>,
    name: &'a str,
    entry: &'a Arc<Entry<W>>,
    /// The fleet's lease of this resource, when this process holds it: given up at the end, so
    /// another replica's poller takes over at its next poll rather than when the lease expires.
    lease: Option<(Fleet, String)>,
}

impl<'a, W: Watched> Poller<'a, W> {
    fn new(hub: &'a Hub<W>, name: &'a str, entry: &'a Arc<Entry<W>>) -> Self {
        crate::metrics::watch_pollers(W::KIND, 1);
        Self {
            hub,
            name,
            entry,
            lease: None,
        }
    }
}

impl<W: Watched> Drop for Poller<'_, W> {
    fn drop(&mut self) {
        self.hub.remove(self.name, self.entry);
        crate::metrics::watch_pollers(W::KIND, -1);
        if let (Some((fleet, key)), Ok(runtime)) =
            (self.lease.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move {
                let _ = fleet.state.end_lease(&key, &fleet.holder).await;
            });
        }
    }
}

/// The replicas' shared state (`[state] backend = "redis"`): one poller per resource for the
/// whole fleet. The process holding a resource's lease polls AWS and publishes what it read;
/// the others read that instead of calling AWS (see [`poll`]).
#[derive(Debug, Clone)]
pub struct Fleet {
    state: crate::state::SharedState,
    /// This process, as a lease names it.
    holder: String,
    /// The target whose resources these are (`eu:`), in every lease key; empty without targets.
    scope: String,
}

impl Fleet {
    /// The fleet that `state` is shared by, or `None` when it is this process's own.
    pub fn of(state: &crate::state::SharedState) -> Option<Self> {
        state.is_shared().then(|| Self {
            state: state.clone(),
            holder: uuid::Uuid::new_v4().to_string(),
            scope: String::new(),
        })
    }

    /// The same fleet polling `target`'s resources: a resource of one name in two targets is two
    /// resources, with a lease each.
    pub fn for_target(mut self, target: &str) -> Self {
        self.scope = format!("{target}:");
        self
    }
}

/// A state as the fleet's poller publishes it: `P`, when it was read (ms since the epoch, 8
/// bytes big-endian), its Protobuf encoding. Anything else (`G`: gone or unreadable) tells the
/// other replicas to Describe it themselves.
fn encode_seen<M: prost::Message>(state: &M, at: SystemTime) -> Vec<u8> {
    let ms = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut out = Vec::with_capacity(9 + state.encoded_len());
    out.push(b'P');
    out.extend_from_slice(&ms.to_be_bytes());
    state.encode_raw(&mut out);
    out
}

fn decode_seen<M: prost::Message + Default>(bytes: &[u8]) -> Option<(M, SystemTime)> {
    let rest = bytes.strip_prefix(b"P")?;
    let (ms, proto) = rest.split_at_checked(8)?;
    let ms = u64::from_be_bytes(ms.try_into().ok()?);
    let state = M::decode(proto).ok()?;
    Some((state, SystemTime::UNIX_EPOCH + Duration::from_millis(ms)))
}

/// What a poller publishes when its resource is gone or unreadable.
const TOMBSTONE: &[u8] = b"G";

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
    let hub = W::hub(&shared);
    let mut poller = Poller::new(hub, &name, &entry);
    // With a fleet, the resource's lease says which process polls AWS; it outlives the longest
    // wait between two polls, so a holder that stops renewing it is replaced within that.
    let scope = shared.fleet.as_ref().map_or("", |f| f.scope.as_str());
    let fleet_key = format!("watch:{scope}{}:{name}", W::KIND);
    let lease_ttl = 3 * shared
        .settings
        .poll_interval
        .max(shared.settings.settled_poll_interval);
    // A watcher that just arrived needs a poll that started after it: this process Describes
    // then, whoever holds the lease; between arrivals, the other replicas read the holder's.
    let mut arrival = true;
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
                    arrival = true;
                    // Not while backing off: new watchers do not make a throttled poll sooner.
                    if failures == 0 {
                        let soonest = last_start.map_or(now, |last| (last + min_gap).max(now));
                        next = next.min(soonest);
                    }
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
        let number = entry.polls.fetch_add(1, Ordering::SeqCst) + 1;
        last_start = Some(started);
        let arrived = std::mem::take(&mut arrival);
        let mut holding = false;
        if let Some(fleet) = &shared.fleet {
            match fleet
                .state
                .lease(&fleet_key, &fleet.holder, lease_ttl)
                .await
            {
                Ok(true) => holding = true,
                Ok(false) if !arrived => {
                    let read = fleet.state.published(&fleet_key).await;
                    if let Some((state, at)) = read
                        .ok()
                        .flatten()
                        .and_then(|bytes| decode_seen::<W::State>(&bytes))
                    {
                        failures = 0;
                        next = started + interval(settings, W::is_settled(W::status(&state)));
                        entry.state.send_replace(Observation {
                            poll: number,
                            seen: Seen::Present(state, at),
                        });
                        continue;
                    }
                    // Nothing published, or the holder saw it gone: Describe it here.
                }
                // An arrival, or Redis is unreachable: Describe it here.
                _ => {}
            }
            poller.lease = holding.then(|| (fleet.clone(), fleet_key.clone()));
        }
        crate::metrics::watch_poll(W::KIND);
        let builder = W::describe(&name).to_sdk(W::Describe::builder(&shared.client));
        let result = tokio::select! {
            result = shared
                .upstream
                .call::<W::Describe>(builder, started + shared.poll_timeout) => Some(result),
            () = entry.state.closed() => None,
        };
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
                    next = started + interval(settings, W::is_settled(W::status(&state)));
                    let at = SystemTime::now();
                    if let (true, Some(fleet)) = (holding, &shared.fleet) {
                        let seen = encode_seen(&state, at);
                        let _ = fleet.state.publish(&fleet_key, seen, lease_ttl).await;
                    }
                    entry.state.send_replace(Observation {
                        poll: number,
                        seen: Seen::Present(state, at),
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
        // this last observation, and the other replicas Describe it themselves.
        if let (true, Some(fleet)) = (holding, &shared.fleet) {
            let _ = fleet
                .state
                .publish(&fleet_key, TOMBSTONE.to_vec(), lease_ttl)
                .await;
        }
        hub.remove(&name, &entry);
        entry.state.send_replace(Observation { poll: number, seen });
        return;
    }
}

/// The wait until the next poll of a resource that is settled or not.
fn interval(settings: &WatchSettings, settled: bool) -> Duration {
    if settled {
        settings.settled_poll_interval
    } else {
        settings.poll_interval
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
    /// The version of the state the caller last received, until the first observation.
    resume_after: Option<String>,
    last_sent: Option<W::State>,
    /// When the state last sent (or confirmed since) was read; `None` before the first.
    observed_at: Option<SystemTime>,
    deadline: Instant,
    limit: Limit,
    heartbeat: Duration,
    next_heartbeat: Instant,
    shutdown: watch::Receiver<bool>,
    /// To the response stream; closed when the client goes away.
    messages: mpsc::Sender<W::Message>,
    _open: OpenWatch,
}

/// What woke a waiting watcher.
enum Woke {
    Changed,
    Heartbeat,
    ClientGone,
    Shutdown,
    Deadline,
    PollerGone,
}

/// What the watcher does with the latest observation.
enum Step<W: Watched> {
    Send(pb::WatchEvent, W::State),
    End(Status),
    /// End the stream with OK: the caller already has the settled state.
    Done,
    Wait,
}

/// What the watcher does next.
enum Next<M> {
    /// Send this message and go on.
    Send(M),
    /// Send this message, then end the stream with OK.
    Last(M),
    /// End the stream: with this status, or with OK (`None`); also when the client went away.
    End(Option<Status>),
}

impl<W: Watched> Watcher<W> {
    /// Runs the watch to its end; `end` gets how the stream ends.
    async fn run(mut self, end: oneshot::Sender<Option<Status>>) {
        loop {
            // Room for one more message first: a client that does not read is no reason to miss
            // the deadline or the shutdown.
            let room = tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|down| *down) => Err(Woke::Shutdown),
                () = tokio::time::sleep_until(self.deadline) => Err(Woke::Deadline),
                room = self.messages.clone().reserve_owned() => room.map_err(|_| Woke::ClientGone),
            };
            let room = match room {
                Ok(room) => room,
                Err(woke) => {
                    let _ = end.send(match woke {
                        Woke::Shutdown => Some(Refusal::ShuttingDown.into_status(&self.request_id)),
                        Woke::Deadline => Some(self.deadline_status()),
                        _ => None,
                    });
                    return;
                }
            };
            match self.next().await {
                Next::Send(message) => {
                    room.send(message);
                }
                Next::Last(message) => {
                    room.send(message);
                    let _ = end.send(None);
                    return;
                }
                Next::End(ending) => {
                    let _ = end.send(ending);
                    return;
                }
            }
        }
    }

    /// Waits for what to send next.
    async fn next(&mut self) -> Next<W::Message> {
        loop {
            match self.step() {
                Step::Send(event, state) => {
                    self.next_heartbeat = Instant::now() + self.heartbeat;
                    let last = event == pb::WatchEvent::Deleted
                        || (!self.keep && W::is_settled(W::status(&state)));
                    let message = W::message(event, state, self.observed_at());
                    return if last {
                        Next::Last(message)
                    } else {
                        Next::Send(message)
                    };
                }
                Step::End(status) => return Next::End(Some(status)),
                Step::Done => return Next::End(None),
                Step::Wait => {}
            }
            let heartbeat_due = self.last_sent.is_some();
            let woke = tokio::select! {
                biased;
                () = self.messages.closed() => Woke::ClientGone,
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
                    if let Some(state) = self.last_sent.clone() {
                        let at = self.observed_at();
                        return Next::Send(W::message(pb::WatchEvent::Heartbeat, state, at));
                    }
                }
                Woke::ClientGone => return Next::End(None),
                Woke::Shutdown => {
                    return Next::End(Some(Refusal::ShuttingDown.into_status(&self.request_id)));
                }
                Woke::Deadline => return Next::End(Some(self.deadline_status())),
                // The poller ended without a last word: it cannot, but never hang.
                Woke::PollerGone => {
                    return Next::End(Some(interrupted(W::RPC, &self.request_id)));
                }
            }
        }
    }

    fn observed_at(&self) -> SystemTime {
        self.observed_at.unwrap_or_else(SystemTime::now)
    }

    /// Reads the latest observation.
    fn step(&mut self) -> Step<W> {
        let end = {
            let observation = self.observations.borrow_and_update();
            match &observation.seen {
                Seen::Nothing => return Step::Wait,
                // Only a poll that started after the watch may say what the state is now; a
                // resource gone or unreadable is final, whichever poll saw it.
                Seen::Present(..) if observation.poll < self.first_poll => return Step::Wait,
                Seen::Present(state, at) => {
                    self.observed_at = Some(*at);
                    if let Some(resumed) = self.resume_after.take() {
                        if version(state) == resumed {
                            // The caller has this state: nothing to send until it changes.
                            self.last_sent = Some(state.clone());
                            if !self.keep && W::is_settled(W::status(state)) {
                                return Step::Done;
                            }
                            return Step::Wait;
                        }
                        // It changed since the caller's last message.
                        self.last_sent = Some(state.clone());
                        return Step::Send(pb::WatchEvent::Changed, state.clone());
                    }
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
        let builder = StatusBuilder::new(
            Code::DeadlineExceeded,
            message,
            reason,
            FACADE_DOMAIN,
            &self.request_id,
        )
        .metadata("operation", W::RPC)
        .metadata("last_status", last)
        .metadata("timeout_ms", limit.as_millis().to_string());
        match self.observed_at.filter(|_| self.last_sent.is_some()) {
            Some(at) => builder.metadata(
                "last_observed_at",
                aws_smithy_types::DateTime::from(at)
                    .fmt(aws_smithy_types::date_time::Format::DateTime)
                    .unwrap_or_default(),
            ),
            None => builder,
        }
        .build()
    }
}

/// UNAVAILABLE `WATCH_INTERRUPTED`: the watch could not go on (its poller is gone).
fn interrupted(rpc: &'static str, request_id: &str) -> Status {
    StatusBuilder::new(
        Code::Unavailable,
        "the watch was interrupted; watch again",
        "WATCH_INTERRUPTED",
        FACADE_DOMAIN,
        request_id,
    )
    .metadata("operation", rpc)
    .details(|d| {
        d.set_retry_info(Some(Duration::from_millis(100)));
    })
    .build()
}

#[cfg(test)]
mod tests;
