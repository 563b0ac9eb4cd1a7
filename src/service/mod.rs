//! The `elasticache.v1.ElastiCacheService` implementation: one generic handler
//! ([`ElastiCacheGrpc::handle`]) serves every RPC — validate → convert → call → convert.

mod coalesce;
mod deadline;
mod reconcile;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::operation::RequestId as _;
use prost::Message as _;
use tokio::time::Instant;
use tonic::{Code, Request, Response, Status};

use crate::audit::Audit;
use crate::aws::{CallContext, Resources, deadline_exceeded};
use crate::config::WatchSettings;
use crate::idempotency::{self, Found, Idempotency, Outcome};
use crate::identity::Caller;
use crate::pb;
use crate::pb::elasti_cache_service_server::ElastiCacheService;
use crate::refusal::Refusal;
use crate::status::{FACADE_DOMAIN, StatusBuilder};
use crate::upstream::{RetryPolicy, Upstream};
use crate::validate::Validate;
use crate::watch::{WatchStream, Watched, Watches};

use self::coalesce::Coalescer;

pub use self::reconcile::Reconcile;
pub use crate::operation::Operation;

/// The service: an SDK client and the call policy.
#[derive(Debug, Clone)]
pub struct ElastiCacheGrpc {
    client: Client,
    default_timeout: Duration,
    upstream: Upstream,
    /// Largest response that can be sent (the server's encoding limit).
    max_response_bytes: usize,
    /// The SDK client has no region: every call would fail before it is sent.
    region_missing: bool,
    /// Identical read-only calls in flight share one upstream call (`None`: every call is its
    /// own).
    coalescer: Option<Arc<Coalescer>>,
    /// The Watch RPCs' pollers.
    watches: Watches,
    /// `request_id` records (exactly-once mutations).
    idempotency: Idempotency,
    /// Named targets (`[targets]`), each its own service; `None`: this one serves every call.
    targets: Option<Arc<Targets>>,
    /// The name of the target this service calls, when it is one of `[targets]`.
    target: Option<Arc<str>>,
}

/// One service per named target (AWS account and region): its own client, upstream stack,
/// coalescer, watches and `request_id` records.
#[derive(Debug)]
struct Targets {
    by_name: std::collections::HashMap<String, ElastiCacheGrpc>,
}

impl ElastiCacheGrpc {
    /// A service calling ElastiCache through `client`; calls without a `grpc-timeout` are bounded
    /// by `default_timeout`.
    pub fn new(client: Client, default_timeout: Duration) -> Self {
        Self::with_upstream(client, default_timeout, Upstream::default())
    }

    /// Like [`ElastiCacheGrpc::new`] with an explicit retry policy.
    pub fn with_retry(client: Client, default_timeout: Duration, retry: RetryPolicy) -> Self {
        Self::with_upstream(
            client,
            default_timeout,
            Upstream::default().with_retry(retry),
        )
    }

    /// Like [`ElastiCacheGrpc::new`] with an explicit upstream stack.
    pub fn with_upstream(client: Client, default_timeout: Duration, upstream: Upstream) -> Self {
        let region_missing = client.config().region().is_none();
        let watches = Watches::new(
            client.clone(),
            upstream.clone(),
            WatchSettings::default(),
            default_timeout,
            None,
        );
        Self {
            client,
            default_timeout,
            upstream,
            max_response_bytes: usize::MAX,
            region_missing,
            coalescer: Some(Arc::default()),
            watches,
            idempotency: Idempotency::new(
                crate::state::SharedState::memory(),
                crate::config::StateSettings::default().request_id_ttl,
            ),
            targets: None,
            target: None,
        }
    }

    /// A service that sends each call to the named target it picks (`x-elasticache-target`, else
    /// the caller's default); `None` when `targets` is empty.
    pub fn routed(targets: Vec<(String, ElastiCacheGrpc)>) -> Option<Self> {
        let (_, first) = targets.first()?;
        let mut routed = first.clone();
        routed.targets = Some(Arc::new(Targets {
            by_name: targets.into_iter().collect(),
        }));
        Some(routed)
    }

    /// The service of the target a call goes to: refused (nothing sent) when the call names a
    /// target that does not exist or the caller may not use.
    fn route(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        caller: Option<&Caller>,
    ) -> Result<&ElastiCacheGrpc, Refusal> {
        let asked = metadata
            .get(crate::headers::X_ELASTICACHE_TARGET.as_str())
            .map(|v| {
                // Only a possible name is echoed back (ErrorInfo, logs).
                v.to_str()
                    .ok()
                    .filter(|t| crate::config::check_target_name(t).is_ok())
                    .unwrap_or("(invalid)")
            });
        let refuse = |target: &str, why| Refusal::TargetNotAllowed {
            caller: caller.map_or("-", |c| c.name.as_str()).to_owned(),
            target: target.to_owned(),
            why,
        };
        let Some(targets) = &self.targets else {
            return match asked {
                None => Ok(self),
                Some(t) => Err(refuse(t, "this server has no [targets] configured")),
            };
        };
        let name = match (asked, caller) {
            (Some(t), _) => t,
            (None, Some(c)) => c
                .default_target()
                .ok_or_else(|| refuse("(none)", "the caller has no default target"))?,
            (None, None) => match targets.by_name.keys().next() {
                Some(only) if targets.by_name.len() == 1 => only,
                _ => return Err(refuse("(none)", "name one in x-elasticache-target")),
            },
        };
        let Some(service) = targets.by_name.get(name) else {
            return Err(refuse(name, "no such target is configured"));
        };
        if caller.is_some_and(|c| !c.may_use_target(name)) {
            return Err(refuse(name, "it is not one of the caller's targets"));
        }
        Ok(service)
    }

    /// `request_id` records kept in `state` for `ttl`.
    pub fn with_idempotency(mut self, state: crate::state::SharedState, ttl: Duration) -> Self {
        self.idempotency = Idempotency::new(state, ttl);
        self
    }

    /// Whether identical read-only calls in flight at once share one upstream call (the default).
    pub fn with_coalescing(mut self, on: bool) -> Self {
        self.coalescer = on.then(Arc::default);
        self
    }

    /// Watches poll and last as `settings` say.
    pub fn with_watch_settings(mut self, settings: WatchSettings) -> Self {
        self.watches = Watches::new(
            self.client.clone(),
            self.upstream.clone(),
            settings,
            self.default_timeout,
            self.watches.fleet().cloned(),
        );
        self
    }

    /// Watches share their polls with every replica that shares `state` (with Redis: one poller
    /// per resource for the whole fleet); with in-process state, each process polls for its own.
    pub fn with_shared_watches(mut self, state: &crate::state::SharedState) -> Self {
        self.watches = Watches::new(
            self.client.clone(),
            self.upstream.clone(),
            self.watches.settings().clone(),
            self.default_timeout,
            crate::watch::Fleet::of(state),
        );
        self
    }

    /// The service of the named target: its `request_id` records and Watch leases apart from
    /// every other target's.
    pub fn for_target(mut self, target: &str) -> Self {
        self.target = Some(target.into());
        self.idempotency = self.idempotency.for_target(target);
        self.watches = Watches::new(
            self.client.clone(),
            self.upstream.clone(),
            self.watches.settings().clone(),
            self.default_timeout,
            self.watches.fleet().cloned().map(|f| f.for_target(target)),
        );
        self
    }

    /// The Watch RPCs' pollers (to end the watches at shutdown, or to count them).
    pub fn watches(&self) -> &Watches {
        &self.watches
    }

    /// The pollers of every target (this service's alone when it has no named targets).
    pub fn all_watches(&self) -> Vec<Watches> {
        match &self.targets {
            Some(targets) => targets
                .by_name
                .values()
                .map(|s| s.watches.clone())
                .collect(),
            None => vec![self.watches.clone()],
        }
    }

    /// Responses larger than `bytes` cannot be sent: the call is answered with a status that says
    /// the operation succeeded upstream instead (see [`response_too_large`]).
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Serves one RPC of any operation, at the target it names.
    pub async fn handle<Op: Operation + Reconcile>(
        &self,
        request: Request<Op>,
    ) -> Result<Response<Op::Response>, Status> {
        let caller = request.extensions().get::<Arc<Caller>>();
        let refusal = match self.route(request.metadata(), caller.map(|c| &**c)) {
            Ok(service) => return service.handle_here(request).await,
            Err(refusal) => refusal,
        };
        let target = match &refusal {
            Refusal::TargetNotAllowed { target, .. } => target.clone(),
            _ => String::new(),
        };
        let request_id = crate::request_id::of_metadata(request.metadata());
        let status = refusal.into_status(&request_id);
        // Refused before the request was read: audited like every refusal.
        if Op::MUTATING {
            Audit::unread(caller.map(|c| c.name.as_str()), Op::NAME, &request_id)
                .with_target(&target)
                .status(&status);
        }
        Err(status)
    }

    /// Serves one RPC with this service's client.
    async fn handle_here<Op: Operation + Reconcile>(
        &self,
        request: Request<Op>,
    ) -> Result<Response<Op::Response>, Status> {
        let request_id = crate::request_id::of_metadata(request.metadata());
        let timeout = deadline::budget(request.metadata(), self.default_timeout);
        let deadline = Instant::now() + timeout;
        let caller = request.extensions().get::<Arc<Caller>>().cloned();
        let message = request.into_inner();
        let resources = message.resources();
        let ctx = CallContext {
            operation: Op::NAME,
            request_id: &request_id,
            mutating: Op::MUTATING,
            resources: &resources,
        };
        // Written when the call ends, or as `cancelled` if the caller goes away first.
        let audit = Op::MUTATING.then(|| {
            let audit = audit_line(ctx, caller.as_deref());
            match &self.target {
                Some(target) => audit.with_target(target),
                None => audit,
            }
        });
        let result = self
            .serve(ctx, caller.as_deref(), message, deadline, timeout)
            .await;
        match (audit, &result) {
            (Some(audit), Ok(served)) => audit.ok(&served.aws_request_id),
            (Some(audit), Err(status)) => audit.status(status),
            (None, _) => {}
        }
        result.map(|served| {
            let mut response = Response::new(served.response);
            if served.replayed {
                response.metadata_mut().insert(
                    idempotency::REPLAYED_HEADER,
                    tonic::metadata::MetadataValue::from_static("true"),
                );
            }
            response
        })
    }

    /// authorize → validate → authorize resources → (request_id) → call → convert.
    async fn serve<Op: Operation + Reconcile>(
        &self,
        ctx: CallContext<'_>,
        caller: Option<&Caller>,
        mut message: Op,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Served<Op::Response>, Status> {
        let refused = |r: Refusal| r.into_status(ctx.request_id);
        if let Some(caller) = caller {
            may_call(caller, Op::NAME).map_err(refused)?;
        }
        // Validation before the bucket check: an empty bucket is "required", not "not allowed".
        message
            .validate()
            .map_err(|violations| violations.into_status(ctx.request_id))?;
        if let Some(caller) = caller {
            may_use(caller, ctx.resources).map_err(refused)?;
        }
        if self.region_missing {
            return Err(region_missing(ctx));
        }
        let Some(request_id) = message.request_id().map(str::to_owned) else {
            return self
                .call(ctx, message, deadline, timeout)
                .await
                .map(Served::fresh);
        };
        // Exactly-once: the digest leaves the request_id out, so only the request counts.
        message.clear_request_id();
        let digest = idempotency::digest(Op::NAME, &message);
        let caller_name = caller.map_or("-", |c| c.name.as_str());
        let found = self
            .idempotency
            .begin(
                caller_name,
                Op::NAME,
                &request_id,
                digest,
                deadline,
                ctx.request_id,
            )
            .await?;
        let (marker, result) = match found {
            Found::Replay(outcome) => return replay::<Op>(ctx, outcome),
            Found::Run(marker) => (marker, self.call(ctx, message, deadline, timeout).await),
            Found::Reconcile(marker) => {
                let result = Op::reconcile(self, ctx, message, deadline, timeout).await;
                (marker, result)
            }
        };
        let kept = result
            .as_ref()
            .map(|(response, aws_request_id)| (response.encode_to_vec(), aws_request_id.clone()))
            .map_err(Clone::clone);
        self.idempotency
            .finish(marker, idempotency::outcome_of(&kept))
            .await;
        result.map(Served::fresh)
    }

    /// The upstream call: coalesced when read-only, converted; the response and AWS's request id.
    async fn call<Op: Operation>(
        &self,
        ctx: CallContext<'_>,
        message: Op,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(Op::Response, String), Status> {
        let coalescer = self.coalescer.as_ref().filter(|_| !Op::MUTATING);
        let (response, aws_request_id) = if let Some(coalescer) = coalescer {
            match coalescer
                .call(&self.client, &self.upstream, message, deadline)
                .await
            {
                Some(Ok(answer)) => answer,
                Some(Err(err)) => return Err(err.to_status(ctx, timeout)),
                None => return Err(deadline_exceeded(ctx, timeout)),
            }
        } else {
            let builder = message.to_sdk(Op::builder(&self.client));
            let result = self.upstream.call::<Op>(builder, deadline).await;
            if let Some(coalescer) = self.coalescer.as_ref().filter(|_| Op::MUTATING) {
                coalescer.wrote();
            }
            let output = result.map_err(|err| err.into_status(ctx, timeout))?;
            let aws_request_id = output.request_id().unwrap_or_default().to_owned();
            (Op::Response::from(output), aws_request_id)
        };
        let size = response.encoded_len();
        if size > self.max_response_bytes {
            return Err(response_too_large(
                ctx,
                &aws_request_id,
                size,
                self.max_response_bytes,
            ));
        }
        Ok((response, aws_request_id))
    }
}

/// A call's answer: the response, AWS's request id, and whether it was replayed from the
/// record of an earlier call with the same `request_id`.
#[derive(Debug)]
struct Served<R> {
    response: R,
    aws_request_id: String,
    replayed: bool,
}

impl<R> Served<R> {
    fn fresh((response, aws_request_id): (R, String)) -> Self {
        Self {
            response,
            aws_request_id,
            replayed: false,
        }
    }
}

/// The recorded outcome of an earlier call with the same request_id, answered again.
fn replay<Op: Operation>(
    ctx: CallContext<'_>,
    outcome: Outcome,
) -> Result<Served<Op::Response>, Status> {
    crate::metrics::request_id_replayed(Op::NAME);
    match outcome {
        Outcome::Response(recorded) => {
            let response = <Op::Response as prost::Message>::decode(recorded.body.as_slice())
                .map_err(|_| idempotency::state_unavailable(ctx.request_id))?;
            Ok(Served {
                response,
                aws_request_id: recorded.aws_request_id,
                replayed: true,
            })
        }
        Outcome::Status(recorded) => {
            let mut status = idempotency::replay_status(&recorded);
            status.metadata_mut().insert(
                idempotency::REPLAYED_HEADER,
                tonic::metadata::MetadataValue::from_static("true"),
            );
            Err(status)
        }
        Outcome::InFlight(_) | Outcome::Unknown(_) => {
            Err(idempotency::state_unavailable(ctx.request_id))
        }
    }
}

impl ElastiCacheGrpc {
    /// Serves one Watch RPC at the target it names.
    pub async fn watch<W: Watched>(
        &self,
        request: Request<W::Request>,
    ) -> Result<Response<WatchStream<W::Message>>, Status> {
        let caller = request.extensions().get::<Arc<Caller>>();
        match self.route(request.metadata(), caller.map(|c| &**c)) {
            Ok(service) => service.watch_here::<W>(request).await,
            Err(refusal) => {
                Err(refusal.into_status(&crate::request_id::of_metadata(request.metadata())))
            }
        }
    }

    /// Serves one Watch RPC: authorise, validate, then stream from the resource's poller.
    async fn watch_here<W: Watched>(
        &self,
        request: Request<W::Request>,
    ) -> Result<Response<WatchStream<W::Message>>, Status> {
        let request_id = crate::request_id::of_metadata(request.metadata()).to_owned();
        let caller_timeout =
            deadline::timeout_of(request.metadata()).map(|t| t.saturating_sub(deadline::MARGIN));
        let caller = request.extensions().get::<Arc<Caller>>().cloned();
        let message = request.into_inner();
        if let Some(caller) = &caller {
            may_call(caller, W::RPC).map_err(|r| r.into_status(&request_id))?;
        }
        message
            .validate()
            .map_err(|violations| violations.into_status(&request_id))?;
        if self.region_missing {
            let resources = Resources::default();
            return Err(region_missing(CallContext {
                operation: W::RPC,
                request_id: &request_id,
                mutating: false,
                resources: &resources,
            }));
        }
        let stream = self
            .watches
            .start::<W>(&message, request_id, caller_timeout)?;
        Ok(Response::new(stream))
    }
}

/// The caller may call this RPC.
fn may_call(caller: &Caller, rpc: &str) -> Result<(), Refusal> {
    if caller.may_call(rpc) {
        Ok(())
    } else {
        Err(Refusal::MethodNotAllowed {
            caller: caller.name.clone(),
            rpc: rpc.to_owned(),
        })
    }
}

/// The caller may use the resources the request names: for an export, write to its bucket.
fn may_use(caller: &Caller, resources: &Resources) -> Result<(), Refusal> {
    match &resources.bucket {
        Some(bucket) if !caller.may_export_to(bucket) => Err(Refusal::BucketNotAllowed {
            caller: caller.name.clone(),
            bucket: bucket.clone(),
        }),
        _ => Ok(()),
    }
}

/// FAILED_PRECONDITION `REGION_MISSING`: the service has no AWS region, so no call can be sent.
/// Said at once, never retried: a configuration problem is not a network failure.
fn region_missing(ctx: CallContext<'_>) -> Status {
    StatusBuilder::new(
        Code::FailedPrecondition,
        "this service has no AWS region configured (set AWS_REGION or a profile's region and \
         restart it); nothing was sent to ElastiCache",
        "REGION_MISSING",
        FACADE_DOMAIN,
        ctx.request_id,
    )
    .metadata("operation", ctx.operation)
    .details(|d| {
        d.add_precondition_failure_violation(
            "CONFIGURATION",
            "aws:region",
            "the service's AWS configuration has no region",
        );
    })
    .build()
}

/// RESOURCE_EXHAUSTED `RESPONSE_TOO_LARGE`: ElastiCache did what was asked, but the response is
/// larger than the server may send. The status says the operation succeeded
/// (`ErrorInfo.metadata.upstream_outcome = succeeded`), so the caller does not retry it as if it
/// had failed.
pub fn response_too_large(
    ctx: CallContext<'_>,
    aws_request_id: &str,
    size: usize,
    limit: usize,
) -> Status {
    StatusBuilder::new(
        Code::ResourceExhausted,
        format!(
            "{} succeeded in ElastiCache, but its response ({size} bytes) is larger than this \
             server's max_message_bytes ({limit}); {}",
            ctx.operation,
            if ctx.mutating {
                "do not repeat it: describe the resource to read its state"
            } else {
                "ask for fewer results (max_results) or raise max_message_bytes"
            }
        ),
        "RESPONSE_TOO_LARGE",
        FACADE_DOMAIN,
        ctx.request_id,
    )
    .metadata("operation", ctx.operation)
    .metadata("upstream_outcome", "succeeded")
    .metadata("aws_request_id", aws_request_id)
    .metadata("response_bytes", size.to_string())
    .metadata("max_message_bytes", limit.to_string())
    .details(|d| {
        d.add_quota_failure_violation(
            "server:max-message-bytes",
            format!("responses of at most {limit} bytes"),
        );
    })
    .build()
}

/// The audit line of a mutating call (see [`crate::audit`]).
fn audit_line(ctx: CallContext<'_>, caller: Option<&Caller>) -> Audit {
    let resources = ctx
        .resources
        .existing
        .iter()
        .chain(&ctx.resources.created)
        .map(|(kind, name)| format!("{}={name}", kind.as_str()))
        .collect::<Vec<_>>()
        .join(",");
    Audit::new(
        caller.map(|c| c.name.as_str()),
        ctx.operation,
        ctx.request_id,
        resources,
        ctx.resources.bucket.as_deref().unwrap_or_default(),
    )
}

/// Every RPC delegates to the generic handler; only the names differ.
macro_rules! rpcs {
    (
        unary {
            $($method:ident($request:ident) -> $response:ident;)*
        }
        watch {
            $($watch:ident($watched:path) -> $stream:ident;)*
        }
    ) => {
        #[tonic::async_trait]
        impl ElastiCacheService for ElastiCacheGrpc {
            $(
                async fn $method(
                    &self,
                    request: Request<pb::$request>,
                ) -> Result<Response<pb::$response>, Status> {
                    self.handle(request).await
                }
            )*
            $(
                type $stream = WatchStream<<$watched as Watched>::Message>;

                async fn $watch(
                    &self,
                    request: Request<<$watched as Watched>::Request>,
                ) -> Result<Response<Self::$stream>, Status> {
                    self.watch::<$watched>(request).await
                }
            )*
        }
    };
}

include!("../generated/rpcs.rs");

with_served_rpcs!(rpcs! {});

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
