//! Fully populated proto and SDK values that correspond field by field, shared by the
//! conversion tests and the service tests.

use aws_sdk_elasticache::types as sdk;
use aws_smithy_types::DateTime;

use crate::pb;

pub(crate) fn pb_tags() -> Vec<pb::Tag> {
    vec![
        pb::Tag {
            key: Some("team".into()),
            value: Some("platform".into()),
        },
        pb::Tag {
            key: Some("empty-value".into()),
            value: None,
        },
    ]
}

pub(crate) fn sdk_tags() -> Vec<sdk::Tag> {
    vec![
        sdk::Tag::builder().key("team").value("platform").build(),
        sdk::Tag::builder().key("empty-value").build(),
    ]
}

pub(crate) fn pb_limits() -> pb::CacheUsageLimits {
    pb::CacheUsageLimits {
        data_storage: Some(pb::DataStorage {
            maximum: Some(100),
            minimum: Some(2),
            unit: Some(pb::DataStorageUnit::Gb as i32),
        }),
        ecpu_per_second: Some(pb::EcpuPerSecond {
            maximum: Some(15000),
            minimum: Some(1000),
        }),
    }
}

pub(crate) fn sdk_limits() -> sdk::CacheUsageLimits {
    sdk::CacheUsageLimits::builder()
        .data_storage(
            sdk::DataStorage::builder()
                .maximum(100)
                .minimum(2)
                .unit(sdk::DataStorageUnit::Gb)
                .build(),
        )
        .ecpu_per_second(
            sdk::EcpuPerSecond::builder()
                .maximum(15000)
                .minimum(1000)
                .build(),
        )
        .build()
}

pub(crate) fn sdk_snapshot(name: &str) -> sdk::ServerlessCacheSnapshot {
    sdk::ServerlessCacheSnapshot::builder()
        .serverless_cache_snapshot_name(name)
        .arn(format!(
            "arn:aws:elasticache:us-east-1:1:serverlesscachesnapshot:{name}"
        ))
        .kms_key_id("kms-snap")
        .snapshot_type("manual")
        .status("exporting")
        .create_time(DateTime::from_secs_and_nanos(1_717_171_717, 250_000_000))
        .expiry_time(DateTime::from_secs_and_nanos(1_719_763_717, 7))
        .bytes_used_for_cache("5368709120")
        .serverless_cache_configuration(
            sdk::ServerlessCacheConfiguration::builder()
                .serverless_cache_name("cache-src")
                .engine("valkey")
                .major_engine_version("8")
                .build(),
        )
        .build()
}

pub(crate) fn pb_snapshot(name: &str) -> pb::ServerlessCacheSnapshot {
    pb::ServerlessCacheSnapshot {
        serverless_cache_snapshot_name: Some(name.into()),
        arn: Some(format!(
            "arn:aws:elasticache:us-east-1:1:serverlesscachesnapshot:{name}"
        )),
        kms_key_id: Some("kms-snap".into()),
        snapshot_type: Some("manual".into()),
        status: Some("exporting".into()),
        create_time: Some(prost_types::Timestamp {
            seconds: 1_717_171_717,
            nanos: 250_000_000,
        }),
        expiry_time: Some(prost_types::Timestamp {
            seconds: 1_719_763_717,
            nanos: 7,
        }),
        bytes_used_for_cache: Some("5368709120".into()),
        serverless_cache_configuration: Some(pb::ServerlessCacheConfiguration {
            serverless_cache_name: Some("cache-src".into()),
            engine: Some("valkey".into()),
            major_engine_version: Some("8".into()),
        }),
    }
}

pub(crate) fn sdk_cache(name: &str) -> sdk::ServerlessCache {
    let endpoint = |host: &str, port| sdk::Endpoint::builder().address(host).port(port).build();
    sdk::ServerlessCache::builder()
        .serverless_cache_name(name)
        .description("sessions")
        .create_time(DateTime::from_secs_and_nanos(1_600_000_000, 1))
        .status("available")
        .engine("redis")
        .major_engine_version("7")
        .full_engine_version("7.1.0")
        .cache_usage_limits(sdk_limits())
        .kms_key_id("kms-cache")
        .storage_encryption_type(sdk::StorageEncryptionType::SseElasticache)
        .security_group_ids("sg-a")
        .security_group_ids("sg-b")
        .endpoint(endpoint("primary.example", 6379))
        .reader_endpoint(endpoint("reader.example", 6380))
        .arn(format!(
            "arn:aws:elasticache:us-east-1:1:serverlesscache:{name}"
        ))
        .user_group_id("ug-out")
        .subnet_ids("subnet-a")
        .subnet_ids("subnet-b")
        .subnet_ids("subnet-c")
        .snapshot_retention_limit(35)
        .daily_snapshot_time("23:30")
        .network_type(sdk::NetworkType::Ipv6)
        .connection_type(sdk::ConnectionType::Vpc)
        .migration(
            sdk::MigrationSummary::builder()
                .status("syncing")
                .migration_endpoint(endpoint("10.1.2.3", 6390))
                .cutover_mode("manual")
                .build(),
        )
        .build()
}

pub(crate) fn pb_cache(name: &str) -> pb::ServerlessCache {
    let endpoint = |host: &str, port| pb::Endpoint {
        address: Some(host.into()),
        port: Some(port),
    };
    pb::ServerlessCache {
        serverless_cache_name: Some(name.into()),
        description: Some("sessions".into()),
        create_time: Some(prost_types::Timestamp {
            seconds: 1_600_000_000,
            nanos: 1,
        }),
        status: Some("available".into()),
        engine: Some("redis".into()),
        major_engine_version: Some("7".into()),
        full_engine_version: Some("7.1.0".into()),
        cache_usage_limits: Some(pb_limits()),
        kms_key_id: Some("kms-cache".into()),
        storage_encryption_type: Some(pb::StorageEncryptionType::SseElasticache as i32),
        security_group_ids: vec!["sg-a".into(), "sg-b".into()],
        endpoint: Some(endpoint("primary.example", 6379)),
        reader_endpoint: Some(endpoint("reader.example", 6380)),
        arn: Some(format!(
            "arn:aws:elasticache:us-east-1:1:serverlesscache:{name}"
        )),
        user_group_id: Some("ug-out".into()),
        subnet_ids: vec!["subnet-a".into(), "subnet-b".into(), "subnet-c".into()],
        snapshot_retention_limit: Some(35),
        daily_snapshot_time: Some("23:30".into()),
        network_type: Some(pb::NetworkType::Ipv6 as i32),
        connection_type: Some(pb::ConnectionType::Vpc as i32),
        migration: Some(pb::MigrationSummary {
            status: Some("syncing".into()),
            migration_endpoint: Some(endpoint("10.1.2.3", 6390)),
            cutover_mode: Some("manual".into()),
        }),
    }
}
