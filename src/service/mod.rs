//! The `elasticache.v1.ElastiCacheService` implementation: one generic handler
//! ([`ElastiCacheGrpc::handle`]) serves every RPC — validate → convert → call → convert.

mod operation;

use std::time::Duration;

use aws_sdk_elasticache::Client;
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use crate::aws::{CallContext, status_from_sdk_error};
use crate::middleware::deadline;
use crate::middleware::request_id::request_id_of;
use crate::pb;
use crate::pb::elasti_cache_service_server::ElastiCacheService;
use crate::upstream::{self, RetryPolicy};

pub use self::operation::Operation;

/// The service: an SDK client and the call policy.
#[derive(Debug, Clone)]
pub struct ElastiCacheGrpc {
    client: Client,
    default_timeout: Duration,
    retry: RetryPolicy,
}

impl ElastiCacheGrpc {
    /// A service calling ElastiCache through `client`; calls without a `grpc-timeout` are bounded
    /// by `default_timeout`.
    pub fn new(client: Client, default_timeout: Duration) -> Self {
        Self::with_retry(client, default_timeout, RetryPolicy::default())
    }

    /// Like [`ElastiCacheGrpc::new`] with an explicit retry policy.
    pub fn with_retry(client: Client, default_timeout: Duration, retry: RetryPolicy) -> Self {
        Self {
            client,
            default_timeout,
            retry,
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
        let message = request.into_inner();

        message
            .validate()
            .map_err(|violations| violations.into_status(&request_id))?;
        let resources = message.resources();
        let builder = message.to_sdk(Op::builder(&self.client));

        let ctx = CallContext {
            operation: Op::NAME,
            request_id: &request_id,
            mutating: Op::MUTATING,
            resources: &resources,
        };
        let result = match upstream::call::<Op>(&self.retry, deadline, builder).await {
            Some(Ok(output)) => Ok(Response::new(Op::Response::from(output))),
            Some(Err(err)) => Err(status_from_sdk_error(ctx, &err)),
            None => Err(deadline::exceeded(ctx, timeout)),
        };
        if Op::MUTATING {
            audit(ctx, &result);
        }
        result
    }
}

/// One line per mutating call on the `audit` target, so it can be routed on its own.
fn audit<T>(ctx: CallContext<'_>, result: &Result<T, Status>) {
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
    tracing::info!(
        target: "audit",
        rpc = ctx.operation,
        request_id = ctx.request_id,
        resources,
        outcome,
        "mutating call"
    );
}

/// Every RPC delegates to the generic handler.
#[tonic::async_trait]
impl ElastiCacheService for ElastiCacheGrpc {
    async fn export_serverless_cache_snapshot(
        &self,
        request: Request<pb::ExportServerlessCacheSnapshotRequest>,
    ) -> Result<Response<pb::ExportServerlessCacheSnapshotResponse>, Status> {
        self.handle(request).await
    }

    async fn create_serverless_cache_snapshot(
        &self,
        request: Request<pb::CreateServerlessCacheSnapshotRequest>,
    ) -> Result<Response<pb::CreateServerlessCacheSnapshotResponse>, Status> {
        self.handle(request).await
    }

    async fn describe_serverless_cache_snapshots(
        &self,
        request: Request<pb::DescribeServerlessCacheSnapshotsRequest>,
    ) -> Result<Response<pb::DescribeServerlessCacheSnapshotsResponse>, Status> {
        self.handle(request).await
    }

    async fn copy_serverless_cache_snapshot(
        &self,
        request: Request<pb::CopyServerlessCacheSnapshotRequest>,
    ) -> Result<Response<pb::CopyServerlessCacheSnapshotResponse>, Status> {
        self.handle(request).await
    }

    async fn delete_serverless_cache_snapshot(
        &self,
        request: Request<pb::DeleteServerlessCacheSnapshotRequest>,
    ) -> Result<Response<pb::DeleteServerlessCacheSnapshotResponse>, Status> {
        self.handle(request).await
    }

    async fn create_serverless_cache(
        &self,
        request: Request<pb::CreateServerlessCacheRequest>,
    ) -> Result<Response<pb::CreateServerlessCacheResponse>, Status> {
        self.handle(request).await
    }

    async fn describe_serverless_caches(
        &self,
        request: Request<pb::DescribeServerlessCachesRequest>,
    ) -> Result<Response<pb::DescribeServerlessCachesResponse>, Status> {
        self.handle(request).await
    }

    async fn modify_serverless_cache(
        &self,
        request: Request<pb::ModifyServerlessCacheRequest>,
    ) -> Result<Response<pb::ModifyServerlessCacheResponse>, Status> {
        self.handle(request).await
    }

    async fn delete_serverless_cache(
        &self,
        request: Request<pb::DeleteServerlessCacheRequest>,
    ) -> Result<Response<pb::DeleteServerlessCacheResponse>, Status> {
        self.handle(request).await
    }
}

#[cfg(test)]
mod tests;
