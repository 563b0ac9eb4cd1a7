//! Conversions field by field, both ways, without the service; and the shape coverage check:
//! every member of every SDK shape the nine operations use has a proto field of the same name.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::operation::{
    copy_serverless_cache_snapshot::{
        CopyServerlessCacheSnapshotInput, CopyServerlessCacheSnapshotOutput,
    },
    create_serverless_cache::{CreateServerlessCacheInput, CreateServerlessCacheOutput},
    create_serverless_cache_snapshot::{
        CreateServerlessCacheSnapshotInput, CreateServerlessCacheSnapshotOutput,
    },
    delete_serverless_cache::{DeleteServerlessCacheInput, DeleteServerlessCacheOutput},
    delete_serverless_cache_snapshot::{
        DeleteServerlessCacheSnapshotInput, DeleteServerlessCacheSnapshotOutput,
    },
    describe_serverless_cache_snapshots::{
        DescribeServerlessCacheSnapshotsInput, DescribeServerlessCacheSnapshotsOutput,
    },
    describe_serverless_caches::{DescribeServerlessCachesInput, DescribeServerlessCachesOutput},
    export_serverless_cache_snapshot::{
        ExportServerlessCacheSnapshotInput, ExportServerlessCacheSnapshotOutput,
    },
    modify_serverless_cache::{ModifyServerlessCacheInput, ModifyServerlessCacheOutput},
};
use aws_smithy_mocks::{Rule, RuleMode, mock_client};
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};

use super::*;
use crate::convert::fixtures::*;

/// A client that is never sent anything: only its fluent builders are used.
fn client() -> Client {
    let rules: [&Rule; 0] = [];
    mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, rules)
}

// ---- fixtures ---------------------------------------------------------------------------------

// ---- requests → SDK inputs --------------------------------------------------------------------

#[test]
fn export_request_to_sdk() {
    let b = pb::ExportServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: "snap-1".into(),
        s3_bucket_name: "my-bucket".into(),
    }
    .to_sdk(client().export_serverless_cache_snapshot());
    assert_eq!(
        b.as_input().clone().build().unwrap(),
        ExportServerlessCacheSnapshotInput::builder()
            .serverless_cache_snapshot_name("snap-1")
            .s3_bucket_name("my-bucket")
            .build()
            .unwrap()
    );
}

#[test]
fn create_snapshot_request_to_sdk() {
    let b = pb::CreateServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: "snap-1".into(),
        serverless_cache_name: "cache-1".into(),
        kms_key_id: Some("kms-1".into()),
        tags: pb_tags(),
    }
    .to_sdk(client().create_serverless_cache_snapshot());
    assert_eq!(
        b.as_input().clone().build().unwrap(),
        CreateServerlessCacheSnapshotInput::builder()
            .serverless_cache_snapshot_name("snap-1")
            .serverless_cache_name("cache-1")
            .kms_key_id("kms-1")
            .set_tags(Some(sdk_tags()))
            .build()
            .unwrap()
    );
}

#[test]
fn describe_snapshots_request_to_sdk() {
    let b = pb::DescribeServerlessCacheSnapshotsRequest {
        serverless_cache_name: Some("cache-1".into()),
        serverless_cache_snapshot_name: Some("snap-1".into()),
        snapshot_type: Some("manual".into()),
        next_token: Some("page-2".into()),
        max_results: Some(20),
    }
    .to_sdk(client().describe_serverless_cache_snapshots());
    assert_eq!(
        b.as_input().clone().build().unwrap(),
        DescribeServerlessCacheSnapshotsInput::builder()
            .serverless_cache_name("cache-1")
            .serverless_cache_snapshot_name("snap-1")
            .snapshot_type("manual")
            .next_token("page-2")
            .max_results(20)
            .build()
            .unwrap()
    );
}

#[test]
fn copy_request_to_sdk() {
    let b = pb::CopyServerlessCacheSnapshotRequest {
        request_id: None,
        source_serverless_cache_snapshot_name: "snap-src".into(),
        target_serverless_cache_snapshot_name: "snap-dst".into(),
        kms_key_id: Some("kms-3".into()),
        tags: pb_tags(),
    }
    .to_sdk(client().copy_serverless_cache_snapshot());
    assert_eq!(
        b.as_input().clone().build().unwrap(),
        CopyServerlessCacheSnapshotInput::builder()
            .source_serverless_cache_snapshot_name("snap-src")
            .target_serverless_cache_snapshot_name("snap-dst")
            .kms_key_id("kms-3")
            .set_tags(Some(sdk_tags()))
            .build()
            .unwrap()
    );
}

#[test]
fn delete_snapshot_request_to_sdk() {
    let b = pb::DeleteServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: "snap-1".into(),
    }
    .to_sdk(client().delete_serverless_cache_snapshot());
    assert_eq!(
        b.as_input().clone().build().unwrap(),
        DeleteServerlessCacheSnapshotInput::builder()
            .serverless_cache_snapshot_name("snap-1")
            .build()
            .unwrap()
    );
}

#[test]
fn create_cache_request_to_sdk() {
    let b = pb::CreateServerlessCacheRequest {
        request_id: None,
        serverless_cache_name: "cache-1".into(),
        description: Some("orders".into()),
        engine: "valkey".into(),
        major_engine_version: Some("8".into()),
        cache_usage_limits: Some(pb_limits()),
        kms_key_id: Some("kms-1".into()),
        security_group_ids: vec!["sg-1".into(), "sg-2".into()],
        snapshot_arns_to_restore: vec!["arn:snap:1".into()],
        tags: pb_tags(),
        user_group_id: Some("ug-1".into()),
        subnet_ids: vec!["subnet-1".into()],
        snapshot_retention_limit: Some(7),
        daily_snapshot_time: Some("04:00".into()),
        network_type: Some(pb::NetworkType::Ipv6 as i32),
        connection_type: Some(pb::ConnectionType::Vpc as i32),
    }
    .to_sdk(client().create_serverless_cache());
    assert_eq!(
        b.as_input().clone().build().unwrap(),
        CreateServerlessCacheInput::builder()
            .serverless_cache_name("cache-1")
            .description("orders")
            .engine("valkey")
            .major_engine_version("8")
            .cache_usage_limits(sdk_limits())
            .kms_key_id("kms-1")
            .security_group_ids("sg-1")
            .security_group_ids("sg-2")
            .snapshot_arns_to_restore("arn:snap:1")
            .set_tags(Some(sdk_tags()))
            .user_group_id("ug-1")
            .subnet_ids("subnet-1")
            .snapshot_retention_limit(7)
            .daily_snapshot_time("04:00")
            .network_type(sdk::NetworkType::Ipv6)
            .connection_type(sdk::ConnectionType::Vpc)
            .build()
            .unwrap()
    );
}

#[test]
fn describe_caches_request_to_sdk() {
    let b = pb::DescribeServerlessCachesRequest {
        serverless_cache_name: Some("cache-1".into()),
        max_results: Some(100),
        next_token: Some("page-3".into()),
    }
    .to_sdk(client().describe_serverless_caches());
    assert_eq!(
        b.as_input().clone().build().unwrap(),
        DescribeServerlessCachesInput::builder()
            .serverless_cache_name("cache-1")
            .max_results(100)
            .next_token("page-3")
            .build()
            .unwrap()
    );
}

#[test]
fn modify_request_to_sdk() {
    let b = pb::ModifyServerlessCacheRequest {
        request_id: None,
        serverless_cache_name: "cache-1".into(),
        description: Some("new".into()),
        cache_usage_limits: Some(pb_limits()),
        remove_user_group: Some(true),
        user_group_id: Some("ug-2".into()),
        security_group_ids: vec!["sg-9".into()],
        snapshot_retention_limit: Some(3),
        daily_snapshot_time: Some("05:00".into()),
        engine: Some("redis".into()),
        major_engine_version: Some("7".into()),
    }
    .to_sdk(client().modify_serverless_cache());
    assert_eq!(
        b.as_input().clone().build().unwrap(),
        ModifyServerlessCacheInput::builder()
            .serverless_cache_name("cache-1")
            .description("new")
            .cache_usage_limits(sdk_limits())
            .remove_user_group(true)
            .user_group_id("ug-2")
            .security_group_ids("sg-9")
            .snapshot_retention_limit(3)
            .daily_snapshot_time("05:00")
            .engine("redis")
            .major_engine_version("7")
            .build()
            .unwrap()
    );
}

#[test]
fn delete_cache_request_to_sdk() {
    let b = pb::DeleteServerlessCacheRequest {
        request_id: None,
        serverless_cache_name: "cache-1".into(),
        final_snapshot_name: Some("final-1".into()),
    }
    .to_sdk(client().delete_serverless_cache());
    assert_eq!(
        b.as_input().clone().build().unwrap(),
        DeleteServerlessCacheInput::builder()
            .serverless_cache_name("cache-1")
            .final_snapshot_name("final-1")
            .build()
            .unwrap()
    );
}

// ---- absent stays absent (requests) -----------------------------------------------------------

#[test]
fn unset_optionals_and_empty_lists_are_not_sent() {
    let create = pb::CreateServerlessCacheRequest {
        serverless_cache_name: "cache-1".into(),
        engine: "valkey".into(),
        ..Default::default()
    }
    .to_sdk(client().create_serverless_cache());
    assert_eq!(
        create.as_input().clone().build().unwrap(),
        CreateServerlessCacheInput::builder()
            .serverless_cache_name("cache-1")
            .engine("valkey")
            .build()
            .unwrap()
    );
    let input = create.as_input();
    assert_eq!(input.get_security_group_ids(), &None);
    assert_eq!(input.get_snapshot_arns_to_restore(), &None);
    assert_eq!(input.get_subnet_ids(), &None);
    assert_eq!(input.get_tags(), &None);
    assert_eq!(input.get_cache_usage_limits(), &None);
    assert_eq!(input.get_network_type(), &None);
    assert_eq!(input.get_connection_type(), &None);

    let modify = pb::ModifyServerlessCacheRequest {
        serverless_cache_name: "cache-1".into(),
        ..Default::default()
    }
    .to_sdk(client().modify_serverless_cache());
    assert_eq!(
        modify.as_input().clone().build().unwrap(),
        ModifyServerlessCacheInput::builder()
            .serverless_cache_name("cache-1")
            .build()
            .unwrap()
    );

    for (name, got) in [
        (
            "describe snapshots",
            format!(
                "{:?}",
                pb::DescribeServerlessCacheSnapshotsRequest::default()
                    .to_sdk(client().describe_serverless_cache_snapshots())
                    .as_input()
                    .clone()
                    .build()
                    .unwrap()
            ),
        ),
        (
            "describe caches",
            format!(
                "{:?}",
                pb::DescribeServerlessCachesRequest::default()
                    .to_sdk(client().describe_serverless_caches())
                    .as_input()
                    .clone()
                    .build()
                    .unwrap()
            ),
        ),
        (
            "copy",
            format!(
                "{:?}",
                pb::CopyServerlessCacheSnapshotRequest {
                    source_serverless_cache_snapshot_name: "a".into(),
                    target_serverless_cache_snapshot_name: "b".into(),
                    ..Default::default()
                }
                .to_sdk(client().copy_serverless_cache_snapshot())
                .as_input()
                .get_tags()
            ),
        ),
        (
            "delete cache",
            format!(
                "{:?}",
                pb::DeleteServerlessCacheRequest {
                    request_id: None,
                    serverless_cache_name: "a".into(),
                    final_snapshot_name: None,
                }
                .to_sdk(client().delete_serverless_cache())
                .as_input()
                .get_final_snapshot_name()
            ),
        ),
    ] {
        assert!(!got.contains("Some"), "{name}: {got}");
    }
}

#[test]
fn zero_and_false_are_sent_as_values_not_dropped() {
    let modify = pb::ModifyServerlessCacheRequest {
        serverless_cache_name: "cache-1".into(),
        remove_user_group: Some(false),
        snapshot_retention_limit: Some(0),
        description: Some(String::new()),
        ..Default::default()
    }
    .to_sdk(client().modify_serverless_cache());
    let input = modify.as_input();
    assert_eq!(input.get_remove_user_group(), &Some(false));
    assert_eq!(input.get_snapshot_retention_limit(), &Some(0));
    assert_eq!(input.get_description(), &Some(String::new()));
}

#[test]
fn nested_usage_limits_keep_their_absent_members() {
    let sdk_limits: sdk::CacheUsageLimits = pb::CacheUsageLimits {
        data_storage: Some(pb::DataStorage {
            maximum: Some(5),
            minimum: None,
            unit: None,
        }),
        ecpu_per_second: None,
    }
    .into();
    assert_eq!(
        sdk_limits,
        sdk::CacheUsageLimits::builder()
            .data_storage(sdk::DataStorage::builder().maximum(5).build())
            .build()
    );
    assert_eq!(
        sdk::CacheUsageLimits::from(pb::CacheUsageLimits::default()),
        sdk::CacheUsageLimits::builder().build()
    );
}

#[test]
fn unspecified_and_unknown_enum_numbers_become_absent() {
    for value in [pb::NetworkType::Unspecified as i32, 99, -1] {
        let b = pb::CreateServerlessCacheRequest {
            serverless_cache_name: "c".into(),
            engine: "valkey".into(),
            network_type: Some(value),
            connection_type: Some(value),
            cache_usage_limits: Some(pb::CacheUsageLimits {
                data_storage: Some(pb::DataStorage {
                    unit: Some(value),
                    ..Default::default()
                }),
                ecpu_per_second: None,
            }),
            ..Default::default()
        }
        .to_sdk(client().create_serverless_cache());
        let input = b.as_input();
        assert_eq!(input.get_network_type(), &None, "{value}");
        assert_eq!(input.get_connection_type(), &None, "{value}");
        let unit = input
            .get_cache_usage_limits()
            .as_ref()
            .and_then(|l| l.data_storage.as_ref())
            .and_then(|d| d.unit.clone());
        assert_eq!(unit, None, "{value}");
    }
}

// ---- enums both ways --------------------------------------------------------------------------

#[test]
fn enums_map_both_ways_for_every_value_aws_knows() {
    for v in sdk::NetworkType::values() {
        let aws = sdk::NetworkType::from(*v);
        let proto = network_type_from_sdk(&aws);
        assert_ne!(proto, pb::NetworkType::Unspecified, "{v}");
        assert_eq!(network_type_to_sdk(proto as i32), Some(aws), "{v}");
    }
    for v in sdk::ConnectionType::values() {
        let aws = sdk::ConnectionType::from(*v);
        let proto = connection_type_from_sdk(&aws);
        assert_ne!(proto, pb::ConnectionType::Unspecified, "{v}");
        assert_eq!(connection_type_to_sdk(proto as i32), Some(aws), "{v}");
    }
    for v in sdk::DataStorageUnit::values() {
        let aws = sdk::DataStorageUnit::from(*v);
        let proto = data_storage_unit_from_sdk(&aws);
        assert_ne!(proto, pb::DataStorageUnit::Unspecified, "{v}");
        assert_eq!(data_storage_unit_to_sdk(proto as i32), Some(aws), "{v}");
    }
    for v in sdk::StorageEncryptionType::values() {
        let aws = sdk::StorageEncryptionType::from(*v);
        let proto = storage_encryption_type_from_sdk(&aws);
        assert_ne!(proto, pb::StorageEncryptionType::Unspecified, "{v}");
        assert_eq!(
            storage_encryption_type_to_sdk(proto as i32),
            Some(aws),
            "{v}"
        );
    }
}

#[test]
fn enum_values_pair_up_as_the_proto_comments_say() {
    assert_eq!(
        network_type_from_sdk(&sdk::NetworkType::from("ipv4")),
        pb::NetworkType::Ipv4
    );
    assert_eq!(
        network_type_from_sdk(&sdk::NetworkType::from("ipv6")),
        pb::NetworkType::Ipv6
    );
    assert_eq!(
        network_type_from_sdk(&sdk::NetworkType::from("dual_stack")),
        pb::NetworkType::DualStack
    );
    assert_eq!(
        connection_type_from_sdk(&sdk::ConnectionType::from("vpc")),
        pb::ConnectionType::Vpc
    );
    assert_eq!(
        connection_type_from_sdk(&sdk::ConnectionType::from("public")),
        pb::ConnectionType::Public
    );
    assert_eq!(
        data_storage_unit_from_sdk(&sdk::DataStorageUnit::from("GB")),
        pb::DataStorageUnit::Gb
    );
    assert_eq!(
        storage_encryption_type_from_sdk(&sdk::StorageEncryptionType::from("none")),
        pb::StorageEncryptionType::None
    );
    assert_eq!(
        storage_encryption_type_from_sdk(&sdk::StorageEncryptionType::from("sse-elasticache")),
        pb::StorageEncryptionType::SseElasticache
    );
    assert_eq!(
        storage_encryption_type_from_sdk(&sdk::StorageEncryptionType::from("sse-kms")),
        pb::StorageEncryptionType::SseKms
    );
}

#[test]
fn unknown_aws_enum_values_become_unspecified_but_present() {
    let cache: pb::ServerlessCache = sdk::ServerlessCache::builder()
        .network_type(sdk::NetworkType::from("future"))
        .connection_type(sdk::ConnectionType::from("satellite"))
        .storage_encryption_type(sdk::StorageEncryptionType::from("quantum"))
        .cache_usage_limits(
            sdk::CacheUsageLimits::builder()
                .data_storage(
                    sdk::DataStorage::builder()
                        .unit(sdk::DataStorageUnit::from("TB"))
                        .build(),
                )
                .build(),
        )
        .build()
        .into();
    assert_eq!(
        cache.network_type,
        Some(pb::NetworkType::Unspecified as i32)
    );
    assert_eq!(
        cache.connection_type,
        Some(pb::ConnectionType::Unspecified as i32)
    );
    assert_eq!(
        cache.storage_encryption_type,
        Some(pb::StorageEncryptionType::Unspecified as i32)
    );
    assert_eq!(
        cache.cache_usage_limits.unwrap().data_storage.unwrap().unit,
        Some(pb::DataStorageUnit::Unspecified as i32)
    );
}

// ---- SDK outputs → responses ------------------------------------------------------------------

#[test]
fn serverless_cache_converts_every_field() {
    assert_eq!(
        pb::ServerlessCache::from(sdk_cache("cache-1")),
        pb_cache("cache-1")
    );
}

#[test]
fn serverless_cache_snapshot_converts_every_field() {
    assert_eq!(
        pb::ServerlessCacheSnapshot::from(sdk_snapshot("snap-1")),
        pb_snapshot("snap-1")
    );
}

#[test]
fn snapshot_outputs_convert() {
    assert_eq!(
        pb::ExportServerlessCacheSnapshotResponse::from(
            ExportServerlessCacheSnapshotOutput::builder()
                .serverless_cache_snapshot(sdk_snapshot("snap-1"))
                .build()
        ),
        pb::ExportServerlessCacheSnapshotResponse {
            serverless_cache_snapshot: Some(pb_snapshot("snap-1"))
        }
    );
    assert_eq!(
        pb::CreateServerlessCacheSnapshotResponse::from(
            CreateServerlessCacheSnapshotOutput::builder()
                .serverless_cache_snapshot(sdk_snapshot("snap-1"))
                .build()
        ),
        pb::CreateServerlessCacheSnapshotResponse {
            serverless_cache_snapshot: Some(pb_snapshot("snap-1"))
        }
    );
    assert_eq!(
        pb::CopyServerlessCacheSnapshotResponse::from(
            CopyServerlessCacheSnapshotOutput::builder()
                .serverless_cache_snapshot(sdk_snapshot("snap-1"))
                .build()
        ),
        pb::CopyServerlessCacheSnapshotResponse {
            serverless_cache_snapshot: Some(pb_snapshot("snap-1"))
        }
    );
    assert_eq!(
        pb::DeleteServerlessCacheSnapshotResponse::from(
            DeleteServerlessCacheSnapshotOutput::builder()
                .serverless_cache_snapshot(sdk_snapshot("snap-1"))
                .build()
        ),
        pb::DeleteServerlessCacheSnapshotResponse {
            serverless_cache_snapshot: Some(pb_snapshot("snap-1"))
        }
    );
    let mut second = sdk_snapshot("snap-1");
    second.serverless_cache_snapshot_name = Some("snap-2".into());
    let mut second_pb = pb_snapshot("snap-1");
    second_pb.serverless_cache_snapshot_name = Some("snap-2".into());
    assert_eq!(
        pb::DescribeServerlessCacheSnapshotsResponse::from(
            DescribeServerlessCacheSnapshotsOutput::builder()
                .next_token("page-2")
                .serverless_cache_snapshots(sdk_snapshot("snap-1"))
                .serverless_cache_snapshots(second)
                .build()
        ),
        pb::DescribeServerlessCacheSnapshotsResponse {
            next_token: Some("page-2".into()),
            serverless_cache_snapshots: vec![pb_snapshot("snap-1"), second_pb],
        }
    );
}

#[test]
fn cache_outputs_convert() {
    assert_eq!(
        pb::CreateServerlessCacheResponse::from(
            CreateServerlessCacheOutput::builder()
                .serverless_cache(sdk_cache("cache-1"))
                .build()
        ),
        pb::CreateServerlessCacheResponse {
            serverless_cache: Some(pb_cache("cache-1"))
        }
    );
    assert_eq!(
        pb::ModifyServerlessCacheResponse::from(
            ModifyServerlessCacheOutput::builder()
                .serverless_cache(sdk_cache("cache-1"))
                .build()
        ),
        pb::ModifyServerlessCacheResponse {
            serverless_cache: Some(pb_cache("cache-1"))
        }
    );
    assert_eq!(
        pb::DeleteServerlessCacheResponse::from(
            DeleteServerlessCacheOutput::builder()
                .serverless_cache(sdk_cache("cache-1"))
                .build()
        ),
        pb::DeleteServerlessCacheResponse {
            serverless_cache: Some(pb_cache("cache-1"))
        }
    );
    assert_eq!(
        pb::DescribeServerlessCachesResponse::from(
            DescribeServerlessCachesOutput::builder()
                .next_token("page-9")
                .serverless_caches(sdk_cache("cache-1"))
                .serverless_caches(sdk::ServerlessCache::builder().build())
                .build()
        ),
        pb::DescribeServerlessCachesResponse {
            next_token: Some("page-9".into()),
            serverless_caches: vec![pb_cache("cache-1"), pb::ServerlessCache::default()],
        }
    );
}

#[test]
fn sdk_none_leaves_proto_fields_unset() {
    assert_eq!(
        pb::ServerlessCache::from(sdk::ServerlessCache::builder().build()),
        pb::ServerlessCache::default()
    );
    assert_eq!(
        pb::ServerlessCacheSnapshot::from(sdk::ServerlessCacheSnapshot::builder().build()),
        pb::ServerlessCacheSnapshot::default()
    );
    assert_eq!(
        pb::DescribeServerlessCachesResponse::from(
            DescribeServerlessCachesOutput::builder().build()
        ),
        pb::DescribeServerlessCachesResponse::default()
    );
    assert_eq!(
        pb::DescribeServerlessCacheSnapshotsResponse::from(
            DescribeServerlessCacheSnapshotsOutput::builder().build()
        ),
        pb::DescribeServerlessCacheSnapshotsResponse::default()
    );
    assert_eq!(
        pb::ExportServerlessCacheSnapshotResponse::from(
            ExportServerlessCacheSnapshotOutput::builder().build()
        ),
        pb::ExportServerlessCacheSnapshotResponse::default()
    );
    assert_eq!(
        pb::DeleteServerlessCacheResponse::from(DeleteServerlessCacheOutput::builder().build()),
        pb::DeleteServerlessCacheResponse::default()
    );
    // Nested: present parents with absent children keep the children absent.
    let cache = pb::ServerlessCache::from(
        sdk::ServerlessCache::builder()
            .cache_usage_limits(sdk::CacheUsageLimits::builder().build())
            .endpoint(sdk::Endpoint::builder().build())
            .migration(sdk::MigrationSummary::builder().build())
            .build(),
    );
    assert_eq!(
        cache.cache_usage_limits,
        Some(pb::CacheUsageLimits {
            data_storage: None,
            ecpu_per_second: None
        })
    );
    assert_eq!(cache.endpoint, Some(pb::Endpoint::default()));
    assert_eq!(cache.reader_endpoint, None);
    assert_eq!(cache.migration, Some(pb::MigrationSummary::default()));
    // Zero is a value, not absence.
    let zero = pb::ServerlessCache::from(
        sdk::ServerlessCache::builder()
            .snapshot_retention_limit(0)
            .description("")
            .build(),
    );
    assert_eq!(zero.snapshot_retention_limit, Some(0));
    assert_eq!(zero.description, Some(String::new()));
}

#[test]
fn timestamps_keep_seconds_and_nanos() {
    let cases = [
        (0, 0),
        (1_700_000_000, 123_456_789),
        (1_700_000_000, 999_999_999),
        (253_402_300_799, 1), // 9999-12-31T23:59:59
        (-1, 500_000_000),    // half a second before the epoch
        (-86_400, 0),
    ];
    for (secs, nanos) in cases {
        let t = timestamp(DateTime::from_secs_and_nanos(secs, nanos));
        assert_eq!(
            t,
            prost_types::Timestamp {
                seconds: secs,
                nanos: nanos as i32
            },
            "{secs}.{nanos}"
        );
    }
    let t = timestamp(DateTime::from_millis(-1));
    assert_eq!((t.seconds, t.nanos), (-1, 999_000_000));
}

// ---- shape coverage ---------------------------------------------------------------------------

/// Member names of an SDK shape, read off the `Debug` of a value built with no member set.
fn sdk_members(debug: &str) -> BTreeSet<String> {
    let open = debug
        .find('{')
        .unwrap_or_else(|| panic!("no fields in {debug}"));
    let close = debug.rfind('}').unwrap();
    debug[open + 1..close]
        .split(", ")
        .filter_map(|f| f.trim().split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .filter(|name| !name.starts_with('_')) // `_request_id` is SDK bookkeeping
        .collect()
}

/// Every message of package `elasticache.v1`, by name.
fn proto_messages() -> BTreeMap<String, prost_types::DescriptorProto> {
    let set = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .into_iter()
        .filter(|f| f.package() == "elasticache.v1")
        .flat_map(|f| f.message_type)
        .map(|m| (m.name().to_owned(), m))
        .collect()
}

/// (Debug of an empty SDK value, proto message that must mirror it).
fn shape_table() -> Vec<(String, &'static str)> {
    vec![
        (
            format!(
                "{:?}",
                ExportServerlessCacheSnapshotInput::builder()
                    .build()
                    .unwrap()
            ),
            "ExportServerlessCacheSnapshotRequest",
        ),
        (
            format!(
                "{:?}",
                ExportServerlessCacheSnapshotOutput::builder().build()
            ),
            "ExportServerlessCacheSnapshotResponse",
        ),
        (
            format!(
                "{:?}",
                CreateServerlessCacheSnapshotInput::builder()
                    .build()
                    .unwrap()
            ),
            "CreateServerlessCacheSnapshotRequest",
        ),
        (
            format!(
                "{:?}",
                CreateServerlessCacheSnapshotOutput::builder().build()
            ),
            "CreateServerlessCacheSnapshotResponse",
        ),
        (
            format!(
                "{:?}",
                DescribeServerlessCacheSnapshotsInput::builder()
                    .build()
                    .unwrap()
            ),
            "DescribeServerlessCacheSnapshotsRequest",
        ),
        (
            format!(
                "{:?}",
                DescribeServerlessCacheSnapshotsOutput::builder().build()
            ),
            "DescribeServerlessCacheSnapshotsResponse",
        ),
        (
            format!(
                "{:?}",
                CopyServerlessCacheSnapshotInput::builder().build().unwrap()
            ),
            "CopyServerlessCacheSnapshotRequest",
        ),
        (
            format!("{:?}", CopyServerlessCacheSnapshotOutput::builder().build()),
            "CopyServerlessCacheSnapshotResponse",
        ),
        (
            format!(
                "{:?}",
                DeleteServerlessCacheSnapshotInput::builder()
                    .build()
                    .unwrap()
            ),
            "DeleteServerlessCacheSnapshotRequest",
        ),
        (
            format!(
                "{:?}",
                DeleteServerlessCacheSnapshotOutput::builder().build()
            ),
            "DeleteServerlessCacheSnapshotResponse",
        ),
        (
            format!(
                "{:?}",
                CreateServerlessCacheInput::builder().build().unwrap()
            ),
            "CreateServerlessCacheRequest",
        ),
        (
            format!("{:?}", CreateServerlessCacheOutput::builder().build()),
            "CreateServerlessCacheResponse",
        ),
        (
            format!(
                "{:?}",
                DescribeServerlessCachesInput::builder().build().unwrap()
            ),
            "DescribeServerlessCachesRequest",
        ),
        (
            format!("{:?}", DescribeServerlessCachesOutput::builder().build()),
            "DescribeServerlessCachesResponse",
        ),
        (
            format!(
                "{:?}",
                ModifyServerlessCacheInput::builder().build().unwrap()
            ),
            "ModifyServerlessCacheRequest",
        ),
        (
            format!("{:?}", ModifyServerlessCacheOutput::builder().build()),
            "ModifyServerlessCacheResponse",
        ),
        (
            format!(
                "{:?}",
                DeleteServerlessCacheInput::builder().build().unwrap()
            ),
            "DeleteServerlessCacheRequest",
        ),
        (
            format!("{:?}", DeleteServerlessCacheOutput::builder().build()),
            "DeleteServerlessCacheResponse",
        ),
        (
            format!("{:?}", sdk::ServerlessCache::builder().build()),
            "ServerlessCache",
        ),
        (
            format!("{:?}", sdk::ServerlessCacheSnapshot::builder().build()),
            "ServerlessCacheSnapshot",
        ),
        (
            format!("{:?}", sdk::ServerlessCacheConfiguration::builder().build()),
            "ServerlessCacheConfiguration",
        ),
        (
            format!("{:?}", sdk::CacheUsageLimits::builder().build()),
            "CacheUsageLimits",
        ),
        (
            format!("{:?}", sdk::DataStorage::builder().build()),
            "DataStorage",
        ),
        (
            format!("{:?}", sdk::EcpuPerSecond::builder().build()),
            "ECPUPerSecond",
        ),
        (
            format!("{:?}", sdk::Endpoint::builder().build()),
            "Endpoint",
        ),
        (
            format!("{:?}", sdk::MigrationSummary::builder().build()),
            "MigrationSummary",
        ),
        (format!("{:?}", sdk::Tag::builder().build()), "Tag"),
    ]
}

#[test]
fn every_sdk_member_has_a_proto_field_of_the_same_name() {
    let messages = proto_messages();
    let mut problems = Vec::new();
    for (debug, message) in shape_table() {
        let sdk = sdk_members(&debug);
        assert!(!sdk.is_empty(), "could not read members from {debug}");
        let Some(descriptor) = messages.get(message) else {
            problems.push(format!("no proto message {message}"));
            continue;
        };
        // Fields numbered from 100000 are the facade's own (`request_id`), not AWS members.
        let proto: BTreeSet<String> = descriptor
            .field
            .iter()
            .filter(|f| f.number() < 100_000)
            .map(|f| f.name().to_owned())
            .collect();
        for missing in sdk.difference(&proto) {
            problems.push(format!("{message} lacks a field for SDK member {missing}"));
        }
        for extra in proto.difference(&sdk) {
            problems.push(format!("{message}.{extra} mirrors no SDK member"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn shape_table_covers_every_nested_message() {
    let messages = proto_messages();
    let covered: BTreeSet<&str> = shape_table().iter().map(|(_, m)| *m).collect();
    for name in &covered {
        for field in &messages[*name].field {
            if field.r#type() != Type::Message {
                continue;
            }
            let type_name = field.type_name();
            if type_name == ".google.protobuf.Timestamp" {
                continue;
            }
            let short = type_name
                .strip_prefix(".elasticache.v1.")
                .unwrap_or_else(|| panic!("{name}.{}: foreign type {type_name}", field.name()));
            assert!(
                covered.contains(short),
                "{name}.{} refers to {short}, which the shape table does not check",
                field.name()
            );
        }
    }
}

#[test]
fn proto_field_kinds_follow_the_design() {
    // Required members are plain fields; every other scalar is proto3 `optional`.
    const REQUIRED: &[(&str, &str)] = &[
        (
            "ExportServerlessCacheSnapshotRequest",
            "serverless_cache_snapshot_name",
        ),
        ("ExportServerlessCacheSnapshotRequest", "s3_bucket_name"),
        (
            "CreateServerlessCacheSnapshotRequest",
            "serverless_cache_snapshot_name",
        ),
        (
            "CreateServerlessCacheSnapshotRequest",
            "serverless_cache_name",
        ),
        (
            "CopyServerlessCacheSnapshotRequest",
            "source_serverless_cache_snapshot_name",
        ),
        (
            "CopyServerlessCacheSnapshotRequest",
            "target_serverless_cache_snapshot_name",
        ),
        (
            "DeleteServerlessCacheSnapshotRequest",
            "serverless_cache_snapshot_name",
        ),
        ("CreateServerlessCacheRequest", "serverless_cache_name"),
        ("CreateServerlessCacheRequest", "engine"),
        ("ModifyServerlessCacheRequest", "serverless_cache_name"),
        ("DeleteServerlessCacheRequest", "serverless_cache_name"),
    ];
    let messages = proto_messages();
    for (_, name) in shape_table() {
        for f in &messages[name].field {
            let scalar = f.r#type() != Type::Message && f.label() != Label::Repeated;
            if !scalar {
                continue;
            }
            let required = REQUIRED.contains(&(name, f.name()));
            assert_eq!(
                f.proto3_optional(),
                !required,
                "{name}.{}: required={required}",
                f.name()
            );
        }
    }
    for (message, field) in [
        ("ServerlessCache", "create_time"),
        ("ServerlessCacheSnapshot", "create_time"),
        ("ServerlessCacheSnapshot", "expiry_time"),
    ] {
        let f = messages[message]
            .field
            .iter()
            .find(|f| f.name() == field)
            .unwrap();
        assert_eq!(
            f.type_name(),
            ".google.protobuf.Timestamp",
            "{message}.{field}"
        );
    }
}

/// Every fault shape of the AWS model (`model/`), with its wire code, read independently of the
/// generator.
fn model_faults() -> BTreeMap<String, String> {
    let model: serde_json::Value =
        serde_json::from_str(include_str!("../../model/elasticache-2015-02-02.json")).unwrap();
    model["shapes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, s)| s["exception"].as_bool() == Some(true))
        .map(|(name, s)| {
            let code = s["error"]["code"].as_str().unwrap_or(name).to_owned();
            (name.clone(), code)
        })
        .collect()
}

#[test]
fn every_modelled_fault_has_a_proto_message_with_a_message_field() {
    let faults = model_faults();
    assert_eq!(faults.len(), 79, "ElastiCache's model has 79 fault shapes");
    let messages = proto_messages();
    for name in faults.keys() {
        let m = messages
            .get(name)
            .unwrap_or_else(|| panic!("no proto message {name}"));
        assert_eq!(m.field.len(), 1, "{name}");
        assert_eq!(m.field[0].name(), "message", "{name}");
        assert_eq!(m.field[0].r#type(), Type::String, "{name}");
        assert_eq!(m.field[0].number(), 1, "{name}");
    }
    // Every fault is in the table, explicitly: the generator stops on a fault no rule and no
    // overlay line decides, so none falls into a default.
    let table: BTreeMap<String, String> = crate::aws::fault::Fault::ALL
        .iter()
        .map(|f| (f.name().to_owned(), f.spec().wire_code.to_owned()))
        .collect();
    assert_eq!(table, faults);
}
