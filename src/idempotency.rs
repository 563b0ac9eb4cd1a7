//! Exactly-once mutations with AIP-155 `request_id`.
//!
//! The first call with a `request_id` puts an in-flight marker (with a lease, so a replica that
//! dies mid-call frees it) under (caller, RPC, request_id) and runs; its outcome — the response,
//! or a final status — replaces the marker for `[state] request_id_ttl_secs`, with a digest of the
//! request. A repeat with the same request gets that outcome without calling AWS; with another
//! request, `REQUEST_ID_REUSED`; while the first still runs, it waits for it within its own
//! deadline, else `REQUEST_IN_PROGRESS`. Transient outcomes are not kept (the repeat runs again);
//! an unknown outcome (lost after send) is kept as such, and the repeat reconciles it from the
//! resource's state ([`Reconcile`]).

use std::time::Duration;

use prost::Message;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tonic::{Code, Status};

use crate::state::{SharedState, StateUnavailable};
use crate::status::{FACADE_DOMAIN, StatusBuilder};

/// Response metadata on an answer that was recorded, not run.
pub const REPLAYED_HEADER: &str = "x-request-replayed";

/// How often a repeat looks whether the first call has finished.
const POLL: Duration = Duration::from_millis(25);

/// What is kept under one `request_id`.
#[derive(Clone, PartialEq, Message)]
pub struct Entry {
    /// SHA-256 of the RPC name and the request without its `request_id`.
    #[prost(bytes = "vec", tag = "1")]
    pub digest: Vec<u8>,
    /// Where the call is.
    #[prost(oneof = "Outcome", tags = "2, 3, 4, 5")]
    pub outcome: Option<Outcome>,
}

/// The state of a call under one `request_id`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Outcome {
    /// Running; the value is the runner's token, so only it removes the marker.
    #[prost(string, tag = "2")]
    InFlight(String),
    /// Succeeded: the encoded response.
    #[prost(message, tag = "3")]
    Response(Recorded),
    /// Failed for good: the status.
    #[prost(message, tag = "4")]
    Status(RecordedStatus),
    /// Sent, but whether AWS acted is unknown.
    #[prost(bool, tag = "5")]
    Unknown(bool),
}

/// A recorded response.
#[derive(Clone, PartialEq, Message)]
pub struct Recorded {
    /// The response message, encoded.
    #[prost(bytes = "vec", tag = "1")]
    pub body: Vec<u8>,
    /// AWS's request id of the call that produced it.
    #[prost(string, tag = "2")]
    pub aws_request_id: String,
}

/// A recorded final status.
#[derive(Clone, PartialEq, Message)]
pub struct RecordedStatus {
    /// The gRPC code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// The `google.rpc.Status` details, encoded.
    #[prost(bytes = "vec", tag = "3")]
    pub details: Vec<u8>,
}

/// What the repeat of a call found.
#[derive(Debug)]
pub enum Found {
    /// Nothing: this call holds the marker and runs.
    Run(Marker),
    /// The first call's outcome, to answer again.
    Replay(Outcome),
    /// The first call's outcome is unknown: reconcile, holding the marker.
    Reconcile(Marker),
}

/// The in-flight marker this call holds.
#[derive(Debug)]
pub struct Marker {
    key: String,
    digest: Vec<u8>,
    in_flight: Vec<u8>,
}

/// The `request_id` records of one process, in its [`SharedState`].
#[derive(Debug, Clone)]
pub struct Idempotency {
    state: SharedState,
    ttl: Duration,
    /// The target the records are of (`eu/`), before every key; empty without targets.
    scope: String,
}

impl Idempotency {
    /// Records kept in `state` for `ttl`.
    pub fn new(state: SharedState, ttl: Duration) -> Self {
        Self {
            state,
            ttl,
            scope: String::new(),
        }
    }

    /// The records of `target`'s calls: one `request_id` in two targets is two calls.
    pub fn for_target(mut self, target: &str) -> Self {
        self.scope = format!("{target}/");
        self
    }

    /// Finds what is known of (`caller`, `rpc`, `request_id`) for a request whose digest is
    /// `digest`; waits while another call runs it, until `deadline`.
    pub async fn begin(
        &self,
        caller: &str,
        rpc: &str,
        request_id: &str,
        digest: Vec<u8>,
        deadline: Instant,
        request_id_of_call: &str,
    ) -> Result<Found, Status> {
        let key = format!("{}{caller}:{rpc}:{request_id}", self.scope);
        let token = uuid::Uuid::new_v4().to_string();
        let in_flight = Entry {
            digest: digest.clone(),
            outcome: Some(Outcome::InFlight(token)),
        }
        .encode_to_vec();
        // The marker outlives the call's deadline a little, so it never lapses under a running
        // call; a replica that dies frees it when the lease ends.
        let lease = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(5);
        let unavailable = |_: StateUnavailable| state_unavailable(request_id_of_call);
        loop {
            let held = self
                .state
                .begin(&key, in_flight.clone(), lease)
                .await
                .map_err(unavailable)?;
            let marker = || Marker {
                key: key.clone(),
                digest: digest.clone(),
                in_flight: in_flight.clone(),
            };
            let Some(held) = held else {
                return Ok(Found::Run(marker()));
            };
            let Ok(entry) = Entry::decode(held.as_slice()) else {
                // Not ours (another program's key): run as if absent would overwrite it; refuse.
                return Err(state_unavailable(request_id_of_call));
            };
            if entry.digest != digest {
                return Err(reused(request_id_of_call));
            }
            match entry.outcome {
                Some(Outcome::InFlight(_)) => {}
                Some(Outcome::Unknown(_)) => {
                    // Take over the record while reconciling, so two repeats do not both act.
                    self.state
                        .put(&key, in_flight.clone(), lease)
                        .await
                        .map_err(unavailable)?;
                    return Ok(Found::Reconcile(marker()));
                }
                Some(outcome) => return Ok(Found::Replay(outcome)),
                None => return Err(state_unavailable(request_id_of_call)),
            }
            // Another call runs it: wait for its outcome, within this call's deadline.
            if Instant::now() + POLL >= deadline {
                return Err(in_progress(request_id_of_call));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Keeps the outcome of the call that held `marker`: a response, a final status, or
    /// "unknown"; a transient failure frees the marker for the retry.
    pub async fn finish(&self, marker: Marker, outcome: Option<Outcome>) {
        let done = match outcome {
            Some(outcome) => {
                let entry = Entry {
                    digest: marker.digest,
                    outcome: Some(outcome),
                };
                self.state
                    .put(&marker.key, entry.encode_to_vec(), self.ttl)
                    .await
            }
            None => self.state.release(&marker.key, &marker.in_flight).await,
        };
        if done.is_err() {
            // The lease frees the marker; a record that could not be kept makes the repeat run
            // again (as without request_id) rather than fail.
            tracing::warn!(key = %marker.key, "the outcome of a request_id call could not be kept");
        }
    }
}

/// SHA-256 of `rpc` and the encoded request (whose `request_id` is cleared).
pub fn digest(rpc: &str, request: &impl Message) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(rpc.as_bytes());
    h.update([0]);
    h.update(request.encode_to_vec());
    h.finalize().to_vec()
}

/// What of a call's result is kept: the response, a final status, unknown, or nothing
/// (transient: the retry runs again).
pub fn outcome_of(result: &Result<(Vec<u8>, String), Status>) -> Option<Outcome> {
    match result {
        Ok((body, aws_request_id)) => Some(Outcome::Response(Recorded {
            body: body.clone(),
            aws_request_id: aws_request_id.clone(),
        })),
        Err(status) if is_outcome_unknown(status) => Some(Outcome::Unknown(true)),
        Err(status) if is_final(status.code()) => Some(Outcome::Status(RecordedStatus {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: status.details().to_vec(),
        })),
        Err(_) => None,
    }
}

/// Codes that say the same request would fail the same way again.
fn is_final(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unimplemented
    )
}

/// The call was sent and its outcome is unknown (`UPSTREAM_OUTCOME_UNKNOWN`).
pub fn is_outcome_unknown(status: &Status) -> bool {
    use tonic_types::StatusExt;
    status.code() == Code::Unavailable
        && status
            .get_error_details()
            .error_info()
            .is_some_and(|i| i.reason == "UPSTREAM_OUTCOME_UNKNOWN")
}

/// A recorded status, answered again with the repeat's own request id in `RequestInfo`.
pub fn replay_status(recorded: &RecordedStatus) -> Status {
    Status::with_details(
        Code::from_i32(recorded.code),
        recorded.message.clone(),
        recorded.details.clone().into(),
    )
}

/// INVALID_ARGUMENT `REQUEST_ID_REUSED`: the request_id was first used with another request.
pub fn reused(request_id: &str) -> Status {
    crate::metrics::refusal("REQUEST_ID_REUSED");
    StatusBuilder::new(
        Code::InvalidArgument,
        "request_id was already used with a different request; use a new request_id for a new request",
        "REQUEST_ID_REUSED",
        FACADE_DOMAIN,
        request_id,
    )
    .details(|d| {
        d.add_bad_request_violation(
            "request_id",
            "already used with a different request",
        );
    })
    .build()
}

/// ABORTED `REQUEST_IN_PROGRESS`: the first call with this request_id still runs.
pub fn in_progress(request_id: &str) -> Status {
    crate::metrics::refusal("REQUEST_IN_PROGRESS");
    StatusBuilder::new(
        Code::Aborted,
        "a call with this request_id is still running; retry with the same request_id to get its outcome",
        "REQUEST_IN_PROGRESS",
        FACADE_DOMAIN,
        request_id,
    )
    .details(|d| {
        d.set_retry_info(Some(Duration::from_secs(1)));
    })
    .build()
}

/// UNAVAILABLE `STATE_UNAVAILABLE`: the shared state cannot be reached, so exactly-once cannot
/// be promised; the call was not run.
pub fn state_unavailable(request_id: &str) -> Status {
    crate::metrics::refusal("STATE_UNAVAILABLE");
    StatusBuilder::new(
        Code::Unavailable,
        "the shared state is unreachable: a call with a request_id cannot be made exactly-once now; it was not run",
        "STATE_UNAVAILABLE",
        FACADE_DOMAIN,
        request_id,
    )
    .details(|d| {
        d.set_retry_info(Some(Duration::from_secs(1)));
    })
    .build()
}
