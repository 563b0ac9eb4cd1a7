//! The `elasticache.v1.ElastiCacheService` implementation: one generic handler
//! ([`ElastiCacheGrpc::handle`]) serves every RPC — validate → convert → call → convert.

mod operation;

use std::time::Duration;

use std::sync::Arc;

use aws_sdk_elasticache::Client;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use crate::aws::{CallContext, Resources, status_from_upstream_error};
use crate::identity::Caller;
use crate::middleware::deadline;
use crate::middleware::refusal::Refusal;
use crate::middleware::request_id::request_id_of;
use crate::pb;
use crate::pb::elasti_cache_service_server::ElastiCacheService;
use crate::upstream::{RetryPolicy, Upstream};

pub use self::operation::Operation;

/// The service: an SDK client and the call policy.
#[derive(Debug, Clone)]
pub struct ElastiCacheGrpc {
    client: Client,
    default_timeout: Duration,
    upstream: Upstream,
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
        Self {
            client,
            default_timeout,
            upstream,
        }
    }

    /// Serves one RPC of any operation.
    pub async fn handle<Op: Operation>(
        &self,
        request: Request<Op>,
    ) -> Result<Response<Op::Response>, Status> {
        let request_id = request_id_of(request.metadata());
        let timeout = deadline::budget(request.metadata(), self.default_timeout);
        let deadline = Instant::now() + timeout;
        let caller = request.extensions().get::<Arc<Caller>>().cloned();
        let message = request.into_inner();
        let resources = message.resources();

        if let Some(caller) = &caller {
            authorize(caller, Op::NAME, &resources).map_err(|r| r.into_status(&request_id))?;
        }
        message
            .validate()
            .map_err(|violations| violations.into_status(&request_id))?;
        let builder = message.to_sdk(Op::builder(&self.client));

        let ctx = CallContext {
            operation: Op::NAME,
            request_id: &request_id,
            mutating: Op::MUTATING,
            resources: &resources,
        };
        let result = match self.upstream.call::<Op>(builder, deadline).await {
            Ok(output) => Ok(Response::new(Op::Response::from(output))),
            Err(err) => Err(status_from_upstream_error(ctx, &err, timeout)),
        };
        if Op::MUTATING {
            audit(ctx, caller.as_deref(), &result);
        }
        result
    }
}

/// The caller may call this RPC and, for an export, write to this bucket.
fn authorize(caller: &Caller, rpc: &str, resources: &Resources) -> Result<(), Refusal> {
    if !caller.may_call(rpc) {
        return Err(Refusal::MethodNotAllowed {
            caller: caller.name.clone(),
            rpc: rpc.to_owned(),
        });
    }
    match &resources.bucket {
        Some(bucket) if !caller.may_export_to(bucket) => Err(Refusal::BucketNotAllowed {
            caller: caller.name.clone(),
            bucket: bucket.clone(),
        }),
        _ => Ok(()),
    }
}

/// One line per mutating call on the `audit` target, so it can be routed on its own.
fn audit<T>(ctx: CallContext<'_>, caller: Option<&Caller>, result: &Result<T, Status>) {
    let resources = ctx
        .resources
        .existing
        .iter()
        .chain(&ctx.resources.created)
        .map(|(kind, name)| format!("{}={name}", kind.as_str()))
        .collect::<Vec<_>>()
        .join(",");
    let outcome = match result {
        Ok(_) => "OK".to_owned(),
        Err(status) => format!("{:?}", status.code()),
    };
    let aws_request_id = result
        .as_ref()
        .err()
        .and_then(|s| {
            tonic_types::StatusExt::get_error_details(s)
                .error_info()
                .and_then(|i| i.metadata.get("aws_request_id").cloned())
        })
        .unwrap_or_default();
    tracing::info!(
        target: "audit",
        caller = caller.map_or("(unauthenticated)", |c| c.name.as_str()),
        rpc = ctx.operation,
        bucket = ctx.resources.bucket.as_deref().unwrap_or_default(),
        aws_request_id,
        request_id = ctx.request_id,
        resources,
        outcome,
        "mutating call"
    );
}

/// Every RPC delegates to the generic handler; only the names differ.
macro_rules! rpcs {
    ($($method:ident($request:ident) -> $response:ident;)*) => {
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
        }
    };
}

rpcs! {
    export_serverless_cache_snapshot(ExportServerlessCacheSnapshotRequest) -> ExportServerlessCacheSnapshotResponse;
    create_serverless_cache_snapshot(CreateServerlessCacheSnapshotRequest) -> CreateServerlessCacheSnapshotResponse;
    describe_serverless_cache_snapshots(DescribeServerlessCacheSnapshotsRequest) -> DescribeServerlessCacheSnapshotsResponse;
    copy_serverless_cache_snapshot(CopyServerlessCacheSnapshotRequest) -> CopyServerlessCacheSnapshotResponse;
    delete_serverless_cache_snapshot(DeleteServerlessCacheSnapshotRequest) -> DeleteServerlessCacheSnapshotResponse;
    create_serverless_cache(CreateServerlessCacheRequest) -> CreateServerlessCacheResponse;
    describe_serverless_caches(DescribeServerlessCachesRequest) -> DescribeServerlessCachesResponse;
    modify_serverless_cache(ModifyServerlessCacheRequest) -> ModifyServerlessCacheResponse;
    delete_serverless_cache(DeleteServerlessCacheRequest) -> DeleteServerlessCacheResponse;
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
