//! Conversions between the proto messages and the SDK's types, both ways, field by field.
//!
//! Requests are applied to the SDK's fluent builder ([`ToSdk`]); outputs become responses through
//! `From`. "Absent" stays absent: an unset proto `optional` becomes `None`, an SDK `None` leaves
//! the proto field unset, and an empty `repeated` field is not sent at all.
//! Enum numbers are checked by validation first, so here an unknown number is simply absent.

/// `From<Output> for Response` of the operations whose output is one resource: the same
/// conversion but for names.
macro_rules! single_resource_output {
    ($($output:ident => $response:ident.$field:ident),* $(,)?) => {$(
        impl From<$output> for crate::pb::$response {
            fn from(o: $output) -> Self {
                Self {
                    $field: o.$field.map(Into::into),
                }
            }
        }
    )*};
}

mod cache;
mod snapshot;

use aws_sdk_elasticache::types as sdk;
use aws_smithy_types::DateTime;

use crate::pb;

/// Applies a proto request to the SDK fluent builder `B` of its operation.
pub trait ToSdk<B> {
    /// Sets every member of `builder` from `self`.
    fn to_sdk(self, builder: B) -> B;
}

/// `None` for an empty list: AWS treats an absent list and an empty one alike, and the Query
/// protocol cannot express an empty one.
pub(crate) fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// `Some` for a required string (validation has refused it empty).
pub(crate) fn required(s: String) -> Option<String> {
    Some(s)
}

pub(crate) fn timestamp(t: DateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.secs(),
        // Always below 1e9, so it fits.
        nanos: i32::try_from(t.subsec_nanos()).unwrap_or(0),
    }
}

pub(crate) fn tags(tags: Vec<pb::Tag>) -> Option<Vec<sdk::Tag>> {
    non_empty(
        tags.into_iter()
            .map(|t| {
                sdk::Tag::builder()
                    .set_key(t.key)
                    .set_value(t.value)
                    .build()
            })
            .collect(),
    )
}

impl From<pb::CacheUsageLimits> for sdk::CacheUsageLimits {
    fn from(l: pb::CacheUsageLimits) -> Self {
        sdk::CacheUsageLimits::builder()
            .set_data_storage(l.data_storage.map(|d| {
                sdk::DataStorage::builder()
                    .set_maximum(d.maximum)
                    .set_minimum(d.minimum)
                    .set_unit(d.unit.and_then(data_storage_unit_to_sdk))
                    .build()
            }))
            .set_ecpu_per_second(l.ecpu_per_second.map(|e| {
                sdk::EcpuPerSecond::builder()
                    .set_maximum(e.maximum)
                    .set_minimum(e.minimum)
                    .build()
            }))
            .build()
    }
}

impl From<sdk::CacheUsageLimits> for pb::CacheUsageLimits {
    fn from(l: sdk::CacheUsageLimits) -> Self {
        pb::CacheUsageLimits {
            data_storage: l.data_storage.map(|d| pb::DataStorage {
                maximum: d.maximum,
                minimum: d.minimum,
                unit: d.unit.map(|u| data_storage_unit_from_sdk(&u) as i32),
            }),
            ecpu_per_second: l.ecpu_per_second.map(|e| pb::EcpuPerSecond {
                maximum: e.maximum,
                minimum: e.minimum,
            }),
        }
    }
}

impl From<sdk::Endpoint> for pb::Endpoint {
    fn from(e: sdk::Endpoint) -> Self {
        pb::Endpoint {
            address: e.address,
            port: e.port,
        }
    }
}

impl From<sdk::ServerlessCache> for pb::ServerlessCache {
    fn from(c: sdk::ServerlessCache) -> Self {
        pb::ServerlessCache {
            serverless_cache_name: c.serverless_cache_name,
            description: c.description,
            create_time: c.create_time.map(timestamp),
            status: c.status,
            engine: c.engine,
            major_engine_version: c.major_engine_version,
            full_engine_version: c.full_engine_version,
            cache_usage_limits: c.cache_usage_limits.map(Into::into),
            kms_key_id: c.kms_key_id,
            storage_encryption_type: c
                .storage_encryption_type
                .map(|t| storage_encryption_type_from_sdk(&t) as i32),
            security_group_ids: c.security_group_ids.unwrap_or_default(),
            endpoint: c.endpoint.map(Into::into),
            reader_endpoint: c.reader_endpoint.map(Into::into),
            arn: c.arn,
            user_group_id: c.user_group_id,
            subnet_ids: c.subnet_ids.unwrap_or_default(),
            snapshot_retention_limit: c.snapshot_retention_limit,
            daily_snapshot_time: c.daily_snapshot_time,
            network_type: c.network_type.map(|t| network_type_from_sdk(&t) as i32),
            connection_type: c
                .connection_type
                .map(|t| connection_type_from_sdk(&t) as i32),
            migration: c.migration.map(|m| pb::MigrationSummary {
                status: m.status,
                migration_endpoint: m.migration_endpoint.map(Into::into),
                cutover_mode: m.cutover_mode,
            }),
        }
    }
}

impl From<sdk::ServerlessCacheSnapshot> for pb::ServerlessCacheSnapshot {
    fn from(s: sdk::ServerlessCacheSnapshot) -> Self {
        pb::ServerlessCacheSnapshot {
            serverless_cache_snapshot_name: s.serverless_cache_snapshot_name,
            arn: s.arn,
            kms_key_id: s.kms_key_id,
            snapshot_type: s.snapshot_type,
            status: s.status,
            create_time: s.create_time.map(timestamp),
            expiry_time: s.expiry_time.map(timestamp),
            bytes_used_for_cache: s.bytes_used_for_cache,
            serverless_cache_configuration: s.serverless_cache_configuration.map(|c| {
                pb::ServerlessCacheConfiguration {
                    serverless_cache_name: c.serverless_cache_name,
                    engine: c.engine,
                    major_engine_version: c.major_engine_version,
                }
            }),
        }
    }
}

/// Maps an AWS enum to its proto enum and back. AWS values this version does not know become
/// `UNSPECIFIED` (present, but unknown), which stays distinct from an absent field.
macro_rules! enum_mapping {
    ($to_sdk:ident, $from_sdk:ident, $sdk:ident, $pb:ident {
        $($sdk_variant:ident <=> $pb_variant:ident),* $(,)?
    }) => {
        #[allow(dead_code)] // not every AWS enum appears in an input
        pub(crate) fn $to_sdk(value: i32) -> Option<sdk::$sdk> {
            match pb::$pb::try_from(value).ok()? {
                $(pb::$pb::$pb_variant => Some(sdk::$sdk::$sdk_variant),)*
                pb::$pb::Unspecified => None,
            }
        }

        pub(crate) fn $from_sdk(value: &sdk::$sdk) -> pb::$pb {
            match value {
                $(sdk::$sdk::$sdk_variant => pb::$pb::$pb_variant,)*
                _ => pb::$pb::Unspecified,
            }
        }
    };
}

enum_mapping!(data_storage_unit_to_sdk, data_storage_unit_from_sdk, DataStorageUnit, DataStorageUnit {
    Gb <=> Gb,
});
enum_mapping!(network_type_to_sdk, network_type_from_sdk, NetworkType, NetworkType {
    Ipv4 <=> Ipv4,
    Ipv6 <=> Ipv6,
    DualStack <=> DualStack,
});
enum_mapping!(connection_type_to_sdk, connection_type_from_sdk, ConnectionType, ConnectionType {
    Vpc <=> Vpc,
    Public <=> Public,
});
enum_mapping!(
    storage_encryption_type_to_sdk,
    storage_encryption_type_from_sdk,
    StorageEncryptionType,
    StorageEncryptionType {
        None <=> None,
        SseElasticache <=> SseElasticache,
        SseKms <=> SseKms,
    }
);

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
