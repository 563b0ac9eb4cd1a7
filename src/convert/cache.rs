//! Conversions of the four serverless cache operations.

use aws_sdk_elasticache::operation::{
    create_serverless_cache::{
        CreateServerlessCacheOutput, builders::CreateServerlessCacheFluentBuilder,
    },
    delete_serverless_cache::{
        DeleteServerlessCacheOutput, builders::DeleteServerlessCacheFluentBuilder,
    },
    describe_serverless_caches::{
        DescribeServerlessCachesOutput, builders::DescribeServerlessCachesFluentBuilder,
    },
    modify_serverless_cache::{
        ModifyServerlessCacheOutput, builders::ModifyServerlessCacheFluentBuilder,
    },
};

use super::{ToSdk, connection_type_to_sdk, network_type_to_sdk, non_empty, required, tags};
use crate::pb;

impl ToSdk<CreateServerlessCacheFluentBuilder> for pb::CreateServerlessCacheRequest {
    fn to_sdk(self, b: CreateServerlessCacheFluentBuilder) -> CreateServerlessCacheFluentBuilder {
        b.set_serverless_cache_name(required(self.serverless_cache_name))
            .set_description(self.description)
            .set_engine(required(self.engine))
            .set_major_engine_version(self.major_engine_version)
            .set_cache_usage_limits(self.cache_usage_limits.map(Into::into))
            .set_kms_key_id(self.kms_key_id)
            .set_security_group_ids(non_empty(self.security_group_ids))
            .set_snapshot_arns_to_restore(non_empty(self.snapshot_arns_to_restore))
            .set_tags(tags(self.tags))
            .set_user_group_id(self.user_group_id)
            .set_subnet_ids(non_empty(self.subnet_ids))
            .set_snapshot_retention_limit(self.snapshot_retention_limit)
            .set_daily_snapshot_time(self.daily_snapshot_time)
            .set_network_type(self.network_type.and_then(network_type_to_sdk))
            .set_connection_type(self.connection_type.and_then(connection_type_to_sdk))
    }
}

impl ToSdk<DescribeServerlessCachesFluentBuilder> for pb::DescribeServerlessCachesRequest {
    fn to_sdk(
        self,
        b: DescribeServerlessCachesFluentBuilder,
    ) -> DescribeServerlessCachesFluentBuilder {
        b.set_serverless_cache_name(self.serverless_cache_name)
            .set_max_results(self.max_results)
            .set_next_token(self.next_token)
    }
}

impl From<DescribeServerlessCachesOutput> for pb::DescribeServerlessCachesResponse {
    fn from(o: DescribeServerlessCachesOutput) -> Self {
        Self {
            next_token: o.next_token,
            serverless_caches: o
                .serverless_caches
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

impl ToSdk<ModifyServerlessCacheFluentBuilder> for pb::ModifyServerlessCacheRequest {
    fn to_sdk(self, b: ModifyServerlessCacheFluentBuilder) -> ModifyServerlessCacheFluentBuilder {
        b.set_serverless_cache_name(required(self.serverless_cache_name))
            .set_description(self.description)
            .set_cache_usage_limits(self.cache_usage_limits.map(Into::into))
            .set_remove_user_group(self.remove_user_group)
            .set_user_group_id(self.user_group_id)
            .set_security_group_ids(non_empty(self.security_group_ids))
            .set_snapshot_retention_limit(self.snapshot_retention_limit)
            .set_daily_snapshot_time(self.daily_snapshot_time)
            .set_engine(self.engine)
            .set_major_engine_version(self.major_engine_version)
    }
}

impl ToSdk<DeleteServerlessCacheFluentBuilder> for pb::DeleteServerlessCacheRequest {
    fn to_sdk(self, b: DeleteServerlessCacheFluentBuilder) -> DeleteServerlessCacheFluentBuilder {
        b.set_serverless_cache_name(required(self.serverless_cache_name))
            .set_final_snapshot_name(self.final_snapshot_name)
    }
}

// Outputs that carry one resource.
single_resource_output! {
    CreateServerlessCacheOutput => CreateServerlessCacheResponse.serverless_cache,
    ModifyServerlessCacheOutput => ModifyServerlessCacheResponse.serverless_cache,
    DeleteServerlessCacheOutput => DeleteServerlessCacheResponse.serverless_cache,
}
