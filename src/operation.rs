//! What the generic handler needs to know about each of the nine operations. The [`operation!`]
//! table below is the only per-operation code in the service: one line pairs a proto request
//! with its SDK call; conversions, validation and resources live in their own modules.

use std::error::Error as StdError;
use std::future::Future;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::aws::fault::ResourceKind::{ServerlessCache, ServerlessCacheSnapshot, UserGroup};
use crate::aws::{KnownFaults, Resources};
use crate::convert::ToSdk;
use crate::pb;
use crate::validate::Validate;

/// One AWS operation behind one RPC.
pub trait Operation:
    Validate + ToSdk<Self::Builder> + prost::Message + Clone + Send + Sized + 'static
{
    /// The AWS operation (and RPC) name.
    const NAME: &'static str;
    /// Whether the operation changes state in AWS.
    const MUTATING: bool;
    /// The proto response.
    type Response: From<Self::Output> + prost::Message + Clone + Send + Sync + 'static;
    /// The SDK fluent builder; cloneable so an attempt can be repeated.
    type Builder: Clone + Send + 'static;
    /// The SDK output.
    type Output: aws_sdk_elasticache::operation::RequestId + Send + 'static;
    /// The SDK's error enum of this operation.
    type Error: KnownFaults + ProvideErrorMetadata + StdError + Send + Sync + 'static;

    /// A fresh fluent builder on `client`.
    fn builder(client: &Client) -> Self::Builder;

    /// Sends one attempt.
    fn send(
        builder: Self::Builder,
    ) -> impl Future<Output = Result<Self::Output, SdkError<Self::Error, HttpResponse>>> + Send;

    /// The resources the request names, for status details and the audit log.
    fn resources(&self) -> Resources;
}

macro_rules! operation {
    ($(
        $req:ident => $resp:ident, $name:literal, mutating: $mutating:literal,
        $module:ident :: $method:ident($builder:ident, $output:ident, $error:ident),
        |$r:ident| $resources:expr;
    )*) => {$(
        impl Operation for pb::$req {
            const NAME: &'static str = $name;
            const MUTATING: bool = $mutating;
            type Response = pb::$resp;
            type Builder = aws_sdk_elasticache::operation::$module::builders::$builder;
            type Output = aws_sdk_elasticache::operation::$module::$output;
            type Error = aws_sdk_elasticache::operation::$module::$error;

            fn builder(client: &Client) -> Self::Builder {
                client.$method()
            }

            fn send(
                builder: Self::Builder,
            ) -> impl Future<Output = Result<Self::Output, SdkError<Self::Error, HttpResponse>>> + Send {
                builder.send()
            }

            fn resources(&self) -> Resources {
                let $r = self;
                $resources
            }
        }
    )*};
}

fn some(s: &str) -> Option<&str> {
    Some(s)
}

operation! {
    ExportServerlessCacheSnapshotRequest => ExportServerlessCacheSnapshotResponse,
        "ExportServerlessCacheSnapshot", mutating: true,
        export_serverless_cache_snapshot::export_serverless_cache_snapshot(
            ExportServerlessCacheSnapshotFluentBuilder, ExportServerlessCacheSnapshotOutput,
            ExportServerlessCacheSnapshotError),
        |r| Resources::default()
            .existing(ServerlessCacheSnapshot, some(&r.serverless_cache_snapshot_name))
            .bucket(&r.s3_bucket_name);
    CreateServerlessCacheSnapshotRequest => CreateServerlessCacheSnapshotResponse,
        "CreateServerlessCacheSnapshot", mutating: true,
        create_serverless_cache_snapshot::create_serverless_cache_snapshot(
            CreateServerlessCacheSnapshotFluentBuilder, CreateServerlessCacheSnapshotOutput,
            CreateServerlessCacheSnapshotError),
        |r| Resources::default()
            .existing(ServerlessCache, some(&r.serverless_cache_name))
            .created(ServerlessCacheSnapshot, some(&r.serverless_cache_snapshot_name));
    DescribeServerlessCacheSnapshotsRequest => DescribeServerlessCacheSnapshotsResponse,
        "DescribeServerlessCacheSnapshots", mutating: false,
        describe_serverless_cache_snapshots::describe_serverless_cache_snapshots(
            DescribeServerlessCacheSnapshotsFluentBuilder, DescribeServerlessCacheSnapshotsOutput,
            DescribeServerlessCacheSnapshotsError),
        |r| Resources::default()
            .existing(ServerlessCache, r.serverless_cache_name.as_deref())
            .existing(ServerlessCacheSnapshot, r.serverless_cache_snapshot_name.as_deref());
    CopyServerlessCacheSnapshotRequest => CopyServerlessCacheSnapshotResponse,
        "CopyServerlessCacheSnapshot", mutating: true,
        copy_serverless_cache_snapshot::copy_serverless_cache_snapshot(
            CopyServerlessCacheSnapshotFluentBuilder, CopyServerlessCacheSnapshotOutput,
            CopyServerlessCacheSnapshotError),
        |r| Resources::default()
            .existing(ServerlessCacheSnapshot, some(&r.source_serverless_cache_snapshot_name))
            .created(ServerlessCacheSnapshot, some(&r.target_serverless_cache_snapshot_name));
    DeleteServerlessCacheSnapshotRequest => DeleteServerlessCacheSnapshotResponse,
        "DeleteServerlessCacheSnapshot", mutating: true,
        delete_serverless_cache_snapshot::delete_serverless_cache_snapshot(
            DeleteServerlessCacheSnapshotFluentBuilder, DeleteServerlessCacheSnapshotOutput,
            DeleteServerlessCacheSnapshotError),
        |r| Resources::default()
            .existing(ServerlessCacheSnapshot, some(&r.serverless_cache_snapshot_name));
    CreateServerlessCacheRequest => CreateServerlessCacheResponse,
        "CreateServerlessCache", mutating: true,
        create_serverless_cache::create_serverless_cache(
            CreateServerlessCacheFluentBuilder, CreateServerlessCacheOutput,
            CreateServerlessCacheError),
        |r| Resources::default()
            .created(ServerlessCache, some(&r.serverless_cache_name))
            .existing(UserGroup, r.user_group_id.as_deref())
            .existing(ServerlessCacheSnapshot, r.snapshot_arns_to_restore.first().map(String::as_str));
    DescribeServerlessCachesRequest => DescribeServerlessCachesResponse,
        "DescribeServerlessCaches", mutating: false,
        describe_serverless_caches::describe_serverless_caches(
            DescribeServerlessCachesFluentBuilder, DescribeServerlessCachesOutput,
            DescribeServerlessCachesError),
        |r| Resources::default()
            .existing(ServerlessCache, r.serverless_cache_name.as_deref());
    ModifyServerlessCacheRequest => ModifyServerlessCacheResponse,
        "ModifyServerlessCache", mutating: true,
        modify_serverless_cache::modify_serverless_cache(
            ModifyServerlessCacheFluentBuilder, ModifyServerlessCacheOutput,
            ModifyServerlessCacheError),
        |r| Resources::default()
            .existing(ServerlessCache, some(&r.serverless_cache_name))
            .existing(UserGroup, r.user_group_id.as_deref());
    DeleteServerlessCacheRequest => DeleteServerlessCacheResponse,
        "DeleteServerlessCache", mutating: true,
        delete_serverless_cache::delete_serverless_cache(
            DeleteServerlessCacheFluentBuilder, DeleteServerlessCacheOutput,
            DeleteServerlessCacheError),
        |r| Resources::default()
            .existing(ServerlessCache, some(&r.serverless_cache_name))
            .created(ServerlessCacheSnapshot, r.final_snapshot_name.as_deref());
}
