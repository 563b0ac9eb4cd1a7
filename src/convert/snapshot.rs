//! Conversions of the five snapshot operations.

use aws_sdk_elasticache::operation::{
    copy_serverless_cache_snapshot::{
        CopyServerlessCacheSnapshotOutput, builders::CopyServerlessCacheSnapshotFluentBuilder,
    },
    create_serverless_cache_snapshot::{
        CreateServerlessCacheSnapshotOutput, builders::CreateServerlessCacheSnapshotFluentBuilder,
    },
    delete_serverless_cache_snapshot::{
        DeleteServerlessCacheSnapshotOutput, builders::DeleteServerlessCacheSnapshotFluentBuilder,
    },
    describe_serverless_cache_snapshots::{
        DescribeServerlessCacheSnapshotsOutput,
        builders::DescribeServerlessCacheSnapshotsFluentBuilder,
    },
    export_serverless_cache_snapshot::{
        ExportServerlessCacheSnapshotOutput, builders::ExportServerlessCacheSnapshotFluentBuilder,
    },
};

use super::{ToSdk, required, tags};
use crate::pb;

impl ToSdk<ExportServerlessCacheSnapshotFluentBuilder>
    for pb::ExportServerlessCacheSnapshotRequest
{
    fn to_sdk(
        self,
        b: ExportServerlessCacheSnapshotFluentBuilder,
    ) -> ExportServerlessCacheSnapshotFluentBuilder {
        b.set_serverless_cache_snapshot_name(required(self.serverless_cache_snapshot_name))
            .set_s3_bucket_name(required(self.s3_bucket_name))
    }
}

impl ToSdk<CreateServerlessCacheSnapshotFluentBuilder>
    for pb::CreateServerlessCacheSnapshotRequest
{
    fn to_sdk(
        self,
        b: CreateServerlessCacheSnapshotFluentBuilder,
    ) -> CreateServerlessCacheSnapshotFluentBuilder {
        b.set_serverless_cache_snapshot_name(required(self.serverless_cache_snapshot_name))
            .set_serverless_cache_name(required(self.serverless_cache_name))
            .set_kms_key_id(self.kms_key_id)
            .set_tags(tags(self.tags))
    }
}

impl ToSdk<DescribeServerlessCacheSnapshotsFluentBuilder>
    for pb::DescribeServerlessCacheSnapshotsRequest
{
    fn to_sdk(
        self,
        b: DescribeServerlessCacheSnapshotsFluentBuilder,
    ) -> DescribeServerlessCacheSnapshotsFluentBuilder {
        b.set_serverless_cache_name(self.serverless_cache_name)
            .set_serverless_cache_snapshot_name(self.serverless_cache_snapshot_name)
            .set_snapshot_type(self.snapshot_type)
            .set_next_token(self.next_token)
            .set_max_results(self.max_results)
    }
}

impl From<DescribeServerlessCacheSnapshotsOutput> for pb::DescribeServerlessCacheSnapshotsResponse {
    fn from(o: DescribeServerlessCacheSnapshotsOutput) -> Self {
        Self {
            next_token: o.next_token,
            serverless_cache_snapshots: o
                .serverless_cache_snapshots
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

impl ToSdk<CopyServerlessCacheSnapshotFluentBuilder> for pb::CopyServerlessCacheSnapshotRequest {
    fn to_sdk(
        self,
        b: CopyServerlessCacheSnapshotFluentBuilder,
    ) -> CopyServerlessCacheSnapshotFluentBuilder {
        b.set_source_serverless_cache_snapshot_name(required(
            self.source_serverless_cache_snapshot_name,
        ))
        .set_target_serverless_cache_snapshot_name(required(
            self.target_serverless_cache_snapshot_name,
        ))
        .set_kms_key_id(self.kms_key_id)
        .set_tags(tags(self.tags))
    }
}

impl ToSdk<DeleteServerlessCacheSnapshotFluentBuilder>
    for pb::DeleteServerlessCacheSnapshotRequest
{
    fn to_sdk(
        self,
        b: DeleteServerlessCacheSnapshotFluentBuilder,
    ) -> DeleteServerlessCacheSnapshotFluentBuilder {
        b.set_serverless_cache_snapshot_name(required(self.serverless_cache_snapshot_name))
    }
}

// Outputs that carry one resource.
single_resource_output! {
    ExportServerlessCacheSnapshotOutput => ExportServerlessCacheSnapshotResponse.serverless_cache_snapshot,
    CreateServerlessCacheSnapshotOutput => CreateServerlessCacheSnapshotResponse.serverless_cache_snapshot,
    CopyServerlessCacheSnapshotOutput => CopyServerlessCacheSnapshotResponse.serverless_cache_snapshot,
    DeleteServerlessCacheSnapshotOutput => DeleteServerlessCacheSnapshotResponse.serverless_cache_snapshot,
}
