//! Deciding a mutating call whose first attempt's outcome is unknown (the connection was lost
//! after the request was sent), when the caller repeats it with the same `request_id`: each
//! operation looks at its resource and either answers as the first call would have, runs the
//! call, or — where the facade cannot tell — answers `UNAVAILABLE` `outcome=unknown` again. It
//! never guesses. The README's "Exactly-once" table is this file.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tonic::{Code, Status};

use super::{ElastiCacheGrpc, Operation};
use crate::aws::{CallContext, outcome_unknown};
use crate::pb;

/// How an operation decides a repeat whose first outcome is unknown. The default: the facade
/// cannot decide, and says so.
pub trait Reconcile: Operation {
    /// The response the first call would have given, or the call run again, or the unknown
    /// outcome again.
    fn reconcile(
        service: &ElastiCacheGrpc,
        ctx: CallContext<'_>,
        request: Self,
        deadline: Instant,
        timeout: Duration,
    ) -> impl Future<Output = Result<(Self::Response, String), Status>> + Send {
        let _ = (service, request, deadline, timeout);
        let status = outcome_unknown(ctx);
        async move { Err(status) }
    }
}

// Every operation the facade cannot reconcile by looking at a resource, generated with the
// operation table; the seven below are written out.
include!("../generated/reconcile.rs");

/// What a Describe of one resource found.
enum Seen<T> {
    /// It exists, in this state.
    Exists(T),
    /// It does not exist.
    Gone,
}

impl ElastiCacheGrpc {
    async fn see_cache(
        &self,
        ctx: CallContext<'_>,
        name: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Seen<pb::ServerlessCache>, Status> {
        let request = pb::DescribeServerlessCachesRequest {
            serverless_cache_name: Some(name.to_owned()),
            ..Default::default()
        };
        let ctx = CallContext {
            operation: "DescribeServerlessCaches",
            mutating: false,
            ..ctx
        };
        match self.call(ctx, request, deadline, timeout).await {
            Ok((found, _)) => Ok(match found.serverless_caches.into_iter().next() {
                Some(cache) => Seen::Exists(cache),
                None => Seen::Gone,
            }),
            Err(status) if status.code() == Code::NotFound => Ok(Seen::Gone),
            Err(status) => Err(status),
        }
    }

    async fn see_snapshot(
        &self,
        ctx: CallContext<'_>,
        name: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Seen<pb::ServerlessCacheSnapshot>, Status> {
        let request = pb::DescribeServerlessCacheSnapshotsRequest {
            serverless_cache_snapshot_name: Some(name.to_owned()),
            ..Default::default()
        };
        let ctx = CallContext {
            operation: "DescribeServerlessCacheSnapshots",
            mutating: false,
            ..ctx
        };
        match self.call(ctx, request, deadline, timeout).await {
            Ok((found, _)) => Ok(match found.serverless_cache_snapshots.into_iter().next() {
                Some(snapshot) => Seen::Exists(snapshot),
                None => Seen::Gone,
            }),
            Err(status) if status.code() == Code::NotFound => Ok(Seen::Gone),
            Err(status) => Err(status),
        }
    }
}

/// Create / Copy: the resource exists → the first call made it (the request_id is the caller's
/// own, so nobody else made it under that name in between); else run the call.
macro_rules! reconcile_create {
    ($($request:ident: $see:ident($name:ident) => $response:ident { $field:ident };)*) => {$(
        impl Reconcile for pb::$request {
            async fn reconcile(
                service: &ElastiCacheGrpc,
                ctx: CallContext<'_>,
                request: Self,
                deadline: Instant,
                timeout: Duration,
            ) -> Result<(Self::Response, String), Status> {
                let name = request.$name.clone();
                match service.$see(ctx, &name, deadline, timeout).await? {
                    Seen::Exists(found) => {
                        Ok((pb::$response { $field: Some(found) }, String::new()))
                    }
                    Seen::Gone => service.call(ctx, request, deadline, timeout).await,
                }
            }
        }
    )*};
}

reconcile_create! {
    CreateServerlessCacheRequest: see_cache(serverless_cache_name)
        => CreateServerlessCacheResponse { serverless_cache };
    CreateServerlessCacheSnapshotRequest: see_snapshot(serverless_cache_snapshot_name)
        => CreateServerlessCacheSnapshotResponse { serverless_cache_snapshot };
    CopyServerlessCacheSnapshotRequest: see_snapshot(target_serverless_cache_snapshot_name)
        => CopyServerlessCacheSnapshotResponse { serverless_cache_snapshot };
}

/// Delete: gone or `deleting` → the first call deleted it; else run the call.
macro_rules! reconcile_delete {
    ($($request:ident: $see:ident($name:ident) => $response:ident { $field:ident };)*) => {$(
        impl Reconcile for pb::$request {
            async fn reconcile(
                service: &ElastiCacheGrpc,
                ctx: CallContext<'_>,
                request: Self,
                deadline: Instant,
                timeout: Duration,
            ) -> Result<(Self::Response, String), Status> {
                let name = request.$name.clone();
                match service.$see(ctx, &name, deadline, timeout).await? {
                    Seen::Gone => Ok((pb::$response::default(), String::new())),
                    Seen::Exists(found) if found.status.as_deref() == Some("deleting") => {
                        Ok((pb::$response { $field: Some(found) }, String::new()))
                    }
                    Seen::Exists(_) => service.call(ctx, request, deadline, timeout).await,
                }
            }
        }
    )*};
}

reconcile_delete! {
    DeleteServerlessCacheRequest: see_cache(serverless_cache_name)
        => DeleteServerlessCacheResponse { serverless_cache };
    DeleteServerlessCacheSnapshotRequest: see_snapshot(serverless_cache_snapshot_name)
        => DeleteServerlessCacheSnapshotResponse { serverless_cache_snapshot };
}

/// Modify: the request names target values, so running it again is safe.
impl Reconcile for pb::ModifyServerlessCacheRequest {
    async fn reconcile(
        service: &ElastiCacheGrpc,
        ctx: CallContext<'_>,
        request: Self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(Self::Response, String), Status> {
        service.call(ctx, request, deadline, timeout).await
    }
}

/// Export: `exporting` → the first call started it. Otherwise the facade cannot tell an export
/// that already finished from one that never started: unknown again, never a guess.
impl Reconcile for pb::ExportServerlessCacheSnapshotRequest {
    async fn reconcile(
        service: &ElastiCacheGrpc,
        ctx: CallContext<'_>,
        request: Self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(Self::Response, String), Status> {
        let name = request.serverless_cache_snapshot_name.clone();
        match service.see_snapshot(ctx, &name, deadline, timeout).await? {
            Seen::Exists(snapshot) if snapshot.status.as_deref() == Some("exporting") => Ok((
                pb::ExportServerlessCacheSnapshotResponse {
                    serverless_cache_snapshot: Some(snapshot),
                },
                String::new(),
            )),
            _ => Err(outcome_unknown(ctx)),
        }
    }
}
