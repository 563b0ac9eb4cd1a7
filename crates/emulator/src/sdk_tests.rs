//! Drives the emulator with the real `aws_sdk_elasticache::Client`: SigV4 signing, the Query
//! serializers, HTTP, and the SDK's XML and error parsing, end to end.

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::config::retry::RetryConfig;
use aws_sdk_elasticache::config::timeout::TimeoutConfig;
use aws_sdk_elasticache::config::{Builder, Region};
use aws_sdk_elasticache::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_elasticache::operation::RequestId;
use aws_sdk_elasticache::operation::copy_serverless_cache_snapshot::CopyServerlessCacheSnapshotError as CopyError;
use aws_sdk_elasticache::operation::create_serverless_cache::CreateServerlessCacheError as CreateError;
use aws_sdk_elasticache::operation::create_serverless_cache_snapshot::CreateServerlessCacheSnapshotError as SnapError;
use aws_sdk_elasticache::operation::delete_serverless_cache::DeleteServerlessCacheError as DeleteError;
use aws_sdk_elasticache::operation::delete_serverless_cache_snapshot::DeleteServerlessCacheSnapshotError as DeleteSnapError;
use aws_sdk_elasticache::operation::describe_serverless_cache_snapshots::DescribeServerlessCacheSnapshotsError as DescribeSnapsError;
use aws_sdk_elasticache::operation::describe_serverless_caches::DescribeServerlessCachesError as DescribeError;
use aws_sdk_elasticache::operation::export_serverless_cache_snapshot::ExportServerlessCacheSnapshotError as ExportError;
use aws_sdk_elasticache::operation::modify_serverless_cache::ModifyServerlessCacheError as ModifyError;
use aws_sdk_elasticache::types::{
    CacheUsageLimits, DataStorage, DataStorageUnit, EcpuPerSecond, NetworkType, ServerlessCache,
    ServerlessCacheSnapshot, StorageEncryptionType, Tag,
};

use super::error::Fault;
use super::{Emulator, EmulatorConfig, FaultKind};

/// Long enough that nothing settles on its own: tests move the clock with [`settle`].
const SETTLE: Duration = Duration::from_secs(3600);

async fn emulator() -> Emulator {
    let config = EmulatorConfig {
        settle_time: SETTLE,
        export_time: SETTLE,
        ..EmulatorConfig::default()
    };
    Emulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

fn config(emulator: &Emulator) -> Builder {
    aws_sdk_elasticache::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(emulator.endpoint_url())
        .retry_config(RetryConfig::disabled())
}

fn client(emulator: &Emulator) -> Client {
    Client::from_conf(config(emulator).build())
}

/// Asserts the call failed with this variant of its operation error, with a request id, and
/// returns the HTTP status it came with.
macro_rules! assert_fault {
    ($result:expr, $variant:path) => {{
        let err = $result.expect_err(concat!("expected ", stringify!($variant)));
        assert!(err.request_id().is_some(), "no request id on {err:?}");
        let status = err
            .raw_response()
            .map(|response| response.status().as_u16());
        let service = err.into_service_error();
        assert!(
            matches!(service, $variant(_)),
            "expected {}, got {service:?}",
            stringify!($variant)
        );
        assert!(service.meta().request_id().is_some());
        status
    }};
}

/// For each `fault => variant`: injects the fault (with its modelled status) into the next call of
/// `action`, makes `call`, and asserts the SDK parsed it as that variant of the operation error.
macro_rules! assert_injected {
    ($emulator:expr, $action:literal, $call:expr, [$($fault:expr => $variant:path),+ $(,)?]) => {{
        $(
            let fault: Fault = $fault;
            $emulator.faults().inject(
                Some($action),
                FaultKind::Error {
                    status: fault.status(),
                    code: fault.code().to_owned(),
                    message: "injected".to_owned(),
                },
                1,
            );
            let status = assert_fault!($call.await, $variant);
            assert_eq!(status, Some(fault.status()), "{}", fault.code());
        )+
    }};
}

/// Lets every pending transition finish.
fn settle(emulator: &Emulator) {
    emulator.advance_clock(SETTLE);
}

async fn describe_cache(client: &Client, name: &str) -> ServerlessCache {
    let output = client
        .describe_serverless_caches()
        .serverless_cache_name(name)
        .send()
        .await
        .unwrap();
    output.serverless_caches()[0].clone()
}

async fn describe_snapshot(client: &Client, name: &str) -> ServerlessCacheSnapshot {
    let output = client
        .describe_serverless_cache_snapshots()
        .serverless_cache_snapshot_name(name)
        .send()
        .await
        .unwrap();
    output.serverless_cache_snapshots()[0].clone()
}

async fn available_cache(emulator: &Emulator, client: &Client, name: &str) {
    client
        .create_serverless_cache()
        .serverless_cache_name(name)
        .engine("valkey")
        .send()
        .await
        .unwrap();
    settle(emulator);
    assert_eq!(
        describe_cache(client, name).await.status(),
        Some("available")
    );
}

#[tokio::test]
async fn lifecycle_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let before = SystemTime::now() - Duration::from_secs(1);

    let created = client
        .create_serverless_cache()
        .serverless_cache_name("Life")
        .description("lifecycle & co")
        .engine("valkey")
        .major_engine_version("8")
        .cache_usage_limits(
            CacheUsageLimits::builder()
                .data_storage(
                    DataStorage::builder()
                        .maximum(10)
                        .minimum(1)
                        .unit(DataStorageUnit::Gb)
                        .build(),
                )
                .ecpu_per_second(EcpuPerSecond::builder().maximum(5000).minimum(1000).build())
                .build(),
        )
        .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/abc")
        .security_group_ids("sg-1")
        .security_group_ids("sg-2")
        .subnet_ids("subnet-a")
        .tags(Tag::builder().key("team").value("cache").build())
        .user_group_id("ug-1")
        .snapshot_retention_limit(3)
        .daily_snapshot_time("04:30")
        .network_type(NetworkType::Ipv4)
        .send()
        .await
        .unwrap();
    assert!(created.request_id().is_some());
    let cache = created.serverless_cache().unwrap();
    // Names are stored in lower case, as ElastiCache does.
    assert_eq!(cache.serverless_cache_name(), Some("life"));
    assert_eq!(cache.status(), Some("creating"));
    assert_eq!(cache.description(), Some("lifecycle & co"));
    assert_eq!(cache.full_engine_version(), Some("8.0"));
    assert_eq!(
        cache.arn(),
        Some("arn:aws:elasticache:us-east-1:123456789012:serverlesscache:life")
    );
    let endpoint = cache.endpoint().unwrap();
    assert!(
        endpoint
            .address()
            .unwrap()
            .ends_with(".serverless.use1.cache.amazonaws.com")
    );
    assert_eq!(endpoint.port(), Some(6379));
    assert_eq!(cache.reader_endpoint().and_then(|e| e.port()), Some(6380));
    let created_at = SystemTime::try_from(*cache.create_time().unwrap()).unwrap();
    assert!(created_at >= before && created_at <= SystemTime::now());
    let limits = cache.cache_usage_limits().unwrap();
    let storage = limits.data_storage().unwrap();
    assert_eq!(
        (storage.maximum(), storage.minimum(), storage.unit()),
        (Some(10), Some(1), Some(&DataStorageUnit::Gb))
    );
    assert_eq!(limits.ecpu_per_second().unwrap().maximum(), Some(5000));
    assert_eq!(
        cache.storage_encryption_type(),
        Some(&StorageEncryptionType::SseKms)
    );
    assert_eq!(cache.security_group_ids(), ["sg-1", "sg-2"]);
    assert_eq!(cache.subnet_ids(), ["subnet-a"]);
    assert_eq!(cache.user_group_id(), Some("ug-1"));
    assert_eq!(cache.snapshot_retention_limit(), Some(3));
    assert_eq!(cache.daily_snapshot_time(), Some("04:30"));
    assert_eq!(cache.network_type(), Some(&NetworkType::Ipv4));
    settle(&emulator);
    assert_eq!(
        describe_cache(&client, "life").await.status(),
        Some("available")
    );

    let snapshot = client
        .create_serverless_cache_snapshot()
        .serverless_cache_snapshot_name("snap")
        .serverless_cache_name("life")
        .send()
        .await
        .unwrap()
        .serverless_cache_snapshot()
        .unwrap()
        .clone();
    assert_eq!(snapshot.status(), Some("creating"));
    assert_eq!(snapshot.snapshot_type(), Some("manual"));
    assert_eq!(
        snapshot.arn(),
        Some("arn:aws:elasticache:us-east-1:123456789012:serverlesscachesnapshot:snap")
    );
    assert_eq!(snapshot.kms_key_id(), cache.kms_key_id());
    assert!(snapshot.create_time().is_some() && snapshot.expiry_time().is_some());
    assert!(
        snapshot
            .bytes_used_for_cache()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let configuration = snapshot.serverless_cache_configuration().unwrap();
    assert_eq!(
        (
            configuration.serverless_cache_name(),
            configuration.engine(),
            configuration.major_engine_version()
        ),
        (Some("life"), Some("valkey"), Some("8"))
    );

    // Export is refused until the snapshot is available.
    assert_fault!(
        client
            .export_serverless_cache_snapshot()
            .serverless_cache_snapshot_name("snap")
            .s3_bucket_name("my-bucket")
            .send()
            .await,
        ExportError::InvalidServerlessCacheSnapshotStateFault
    );
    settle(&emulator);
    assert_eq!(
        describe_snapshot(&client, "snap").await.status(),
        Some("available")
    );
    let exporting = client
        .export_serverless_cache_snapshot()
        .serverless_cache_snapshot_name("snap")
        .s3_bucket_name("my-bucket")
        .send()
        .await
        .unwrap();
    assert_eq!(
        exporting.serverless_cache_snapshot().unwrap().status(),
        Some("exporting")
    );
    assert_eq!(
        describe_snapshot(&client, "snap").await.status(),
        Some("exporting")
    );
    settle(&emulator);
    assert_eq!(
        describe_snapshot(&client, "snap").await.status(),
        Some("available")
    );

    let copy = client
        .copy_serverless_cache_snapshot()
        .source_serverless_cache_snapshot_name("snap")
        .target_serverless_cache_snapshot_name("snap-copy")
        .send()
        .await
        .unwrap();
    assert_eq!(
        copy.serverless_cache_snapshot().unwrap().status(),
        Some("creating")
    );
    settle(&emulator);
    assert_eq!(
        describe_snapshot(&client, "snap-copy").await.status(),
        Some("available")
    );
    let deleted = client
        .delete_serverless_cache_snapshot()
        .serverless_cache_snapshot_name("snap-copy")
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.serverless_cache_snapshot().unwrap().status(),
        Some("deleting")
    );

    let modified = client
        .modify_serverless_cache()
        .serverless_cache_name("life")
        .description("modified")
        .remove_user_group(true)
        .send()
        .await
        .unwrap();
    let modified = modified.serverless_cache().unwrap();
    assert_eq!(modified.status(), Some("modifying"));
    assert_eq!(modified.user_group_id(), None);
    settle(&emulator);
    assert_eq!(
        describe_cache(&client, "life").await.status(),
        Some("available")
    );

    let deleting = client
        .delete_serverless_cache()
        .serverless_cache_name("life")
        .final_snapshot_name("life-final")
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleting.serverless_cache().unwrap().status(),
        Some("deleting")
    );
    assert_eq!(
        describe_cache(&client, "life").await.status(),
        Some("deleting")
    );
    settle(&emulator);
    assert_fault!(
        client
            .describe_serverless_caches()
            .serverless_cache_name("life")
            .send()
            .await,
        DescribeError::ServerlessCacheNotFoundFault
    );
    let remaining: Vec<_> = client
        .describe_serverless_cache_snapshots()
        .send()
        .await
        .unwrap()
        .serverless_cache_snapshots()
        .iter()
        .filter_map(|snapshot| snapshot.serverless_cache_snapshot_name().map(str::to_owned))
        .collect();
    assert_eq!(remaining, ["life-final", "snap"]);
    emulator.shutdown();
}

#[tokio::test]
async fn state_and_validation_faults_reach_the_sdk_as_modelled_errors() {
    let emulator = emulator().await;
    let client = client(&emulator);

    // CreateServerlessCache
    client
        .create_serverless_cache()
        .serverless_cache_name("busy")
        .engine("redis")
        .send()
        .await
        .unwrap();
    assert_fault!(
        client
            .create_serverless_cache()
            .serverless_cache_name("busy")
            .engine("redis")
            .send()
            .await,
        CreateError::ServerlessCacheAlreadyExistsFault
    );
    assert_fault!(
        client
            .create_serverless_cache()
            .serverless_cache_name("x")
            .engine("oracle")
            .send()
            .await,
        CreateError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .create_serverless_cache()
            .serverless_cache_name("x")
            .engine("valkey")
            .cache_usage_limits(
                CacheUsageLimits::builder()
                    .data_storage(
                        DataStorage::builder()
                            .maximum(1)
                            .minimum(5)
                            .unit(DataStorageUnit::Gb)
                            .build()
                    )
                    .build()
            )
            .send()
            .await,
        CreateError::InvalidParameterCombinationException
    );
    let many_tags = (0..51).map(|i| Tag::builder().key(format!("k{i}")).build());
    assert_fault!(
        client
            .create_serverless_cache()
            .serverless_cache_name("x")
            .engine("valkey")
            .set_tags(Some(many_tags.collect()))
            .send()
            .await,
        CreateError::TagQuotaPerResourceExceeded
    );

    // "busy" is still creating.
    assert_fault!(
        client
            .modify_serverless_cache()
            .serverless_cache_name("busy")
            .description("d")
            .send()
            .await,
        ModifyError::InvalidServerlessCacheStateFault
    );
    assert_fault!(
        client
            .delete_serverless_cache()
            .serverless_cache_name("busy")
            .send()
            .await,
        DeleteError::InvalidServerlessCacheStateFault
    );
    assert_fault!(
        client
            .create_serverless_cache_snapshot()
            .serverless_cache_snapshot_name("s")
            .serverless_cache_name("busy")
            .send()
            .await,
        SnapError::InvalidServerlessCacheStateFault
    );

    // Unknown names.
    let status = assert_fault!(
        client
            .describe_serverless_caches()
            .serverless_cache_name("nope")
            .send()
            .await,
        DescribeError::ServerlessCacheNotFoundFault
    );
    assert_eq!(status, Some(404));
    assert_fault!(
        client
            .modify_serverless_cache()
            .serverless_cache_name("nope")
            .description("d")
            .send()
            .await,
        ModifyError::ServerlessCacheNotFoundFault
    );
    assert_fault!(
        client
            .delete_serverless_cache()
            .serverless_cache_name("nope")
            .send()
            .await,
        DeleteError::ServerlessCacheNotFoundFault
    );
    assert_fault!(
        client
            .create_serverless_cache_snapshot()
            .serverless_cache_snapshot_name("s")
            .serverless_cache_name("nope")
            .send()
            .await,
        SnapError::ServerlessCacheNotFoundFault
    );
    assert_fault!(
        client
            .describe_serverless_cache_snapshots()
            .serverless_cache_name("nope")
            .send()
            .await,
        DescribeSnapsError::ServerlessCacheNotFoundFault
    );
    let status = assert_fault!(
        client
            .describe_serverless_cache_snapshots()
            .serverless_cache_snapshot_name("nope")
            .send()
            .await,
        DescribeSnapsError::ServerlessCacheSnapshotNotFoundFault
    );
    assert_eq!(status, Some(404));
    assert_fault!(
        client
            .copy_serverless_cache_snapshot()
            .source_serverless_cache_snapshot_name("nope")
            .target_serverless_cache_snapshot_name("t")
            .send()
            .await,
        CopyError::ServerlessCacheSnapshotNotFoundFault
    );
    assert_fault!(
        client
            .delete_serverless_cache_snapshot()
            .serverless_cache_snapshot_name("nope")
            .send()
            .await,
        DeleteSnapError::ServerlessCacheSnapshotNotFoundFault
    );
    assert_fault!(
        client
            .export_serverless_cache_snapshot()
            .serverless_cache_snapshot_name("nope")
            .s3_bucket_name("bucket")
            .send()
            .await,
        ExportError::ServerlessCacheSnapshotNotFoundFault
    );

    // Bad parameters.
    assert_fault!(
        client
            .describe_serverless_caches()
            .max_results(0)
            .send()
            .await,
        DescribeError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .describe_serverless_cache_snapshots()
            .max_results(51)
            .send()
            .await,
        DescribeSnapsError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .export_serverless_cache_snapshot()
            .serverless_cache_snapshot_name("nope")
            .s3_bucket_name("Not_A_Bucket")
            .send()
            .await,
        ExportError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .modify_serverless_cache()
            .serverless_cache_name("busy")
            .remove_user_group(true)
            .user_group_id("ug")
            .send()
            .await,
        ModifyError::InvalidParameterCombinationException
    );

    // Snapshot states and duplicates.
    available_cache(&emulator, &client, "ready").await;
    client
        .create_serverless_cache_snapshot()
        .serverless_cache_snapshot_name("s1")
        .serverless_cache_name("ready")
        .send()
        .await
        .unwrap();
    assert_fault!(
        client
            .create_serverless_cache_snapshot()
            .serverless_cache_snapshot_name("s1")
            .serverless_cache_name("ready")
            .send()
            .await,
        SnapError::ServerlessCacheSnapshotAlreadyExistsFault
    );
    assert_fault!(
        client
            .copy_serverless_cache_snapshot()
            .source_serverless_cache_snapshot_name("s1")
            .target_serverless_cache_snapshot_name("s2")
            .send()
            .await,
        CopyError::InvalidServerlessCacheSnapshotStateFault
    );
    assert_fault!(
        client
            .delete_serverless_cache_snapshot()
            .serverless_cache_snapshot_name("s1")
            .send()
            .await,
        DeleteSnapError::InvalidServerlessCacheSnapshotStateFault
    );
    settle(&emulator);
    assert_eq!(
        describe_snapshot(&client, "s1").await.status(),
        Some("available")
    );
    assert_fault!(
        client
            .copy_serverless_cache_snapshot()
            .source_serverless_cache_snapshot_name("s1")
            .target_serverless_cache_snapshot_name("s1")
            .send()
            .await,
        CopyError::ServerlessCacheSnapshotAlreadyExistsFault
    );
    assert_fault!(
        client
            .delete_serverless_cache()
            .serverless_cache_name("ready")
            .final_snapshot_name("s1")
            .send()
            .await,
        DeleteError::ServerlessCacheSnapshotAlreadyExistsFault
    );
    emulator.shutdown();
}

#[tokio::test]
async fn injected_modelled_faults_reach_the_sdk_as_their_variants() {
    // The faults no request to the emulator can provoke on its own.
    let emulator = emulator().await;
    let client = client(&emulator);
    let snapshot_name = "s";

    assert_injected!(emulator, "CreateServerlessCache",
        client.create_serverless_cache().serverless_cache_name("c").engine("valkey").send(), [
        Fault::InvalidCredentials => CreateError::InvalidCredentialsException,
        Fault::InvalidUserGroupState => CreateError::InvalidUserGroupStateFault,
        Fault::UserGroupNotFound => CreateError::UserGroupNotFoundFault,
        Fault::ServiceLinkedRoleNotFound => CreateError::ServiceLinkedRoleNotFoundFault,
        Fault::ServerlessCacheQuotaForCustomerExceeded => CreateError::ServerlessCacheQuotaForCustomerExceededFault,
        Fault::InvalidServerlessCacheState => CreateError::InvalidServerlessCacheStateFault,
        Fault::ServerlessCacheNotFound => CreateError::ServerlessCacheNotFoundFault,
    ]);
    assert_eq!(emulator.calls("CreateServerlessCache"), 7);
    assert_injected!(emulator, "ModifyServerlessCache",
        client.modify_serverless_cache().serverless_cache_name("c").description("d").send(), [
        Fault::InvalidCredentials => ModifyError::InvalidCredentialsException,
        Fault::InvalidUserGroupState => ModifyError::InvalidUserGroupStateFault,
        Fault::UserGroupNotFound => ModifyError::UserGroupNotFoundFault,
        Fault::ServiceLinkedRoleNotFound => ModifyError::ServiceLinkedRoleNotFoundFault,
    ]);
    assert_injected!(emulator, "DeleteServerlessCache",
        client.delete_serverless_cache().serverless_cache_name("c").send(), [
        Fault::InvalidCredentials => DeleteError::InvalidCredentialsException,
        Fault::ServiceLinkedRoleNotFound => DeleteError::ServiceLinkedRoleNotFoundFault,
        Fault::InvalidParameterCombination => DeleteError::InvalidParameterCombinationException,
    ]);
    assert_injected!(emulator, "CreateServerlessCacheSnapshot",
        client.create_serverless_cache_snapshot().serverless_cache_snapshot_name(snapshot_name)
            .serverless_cache_name("c").send(), [
        Fault::ServerlessCacheSnapshotQuotaExceeded => SnapError::ServerlessCacheSnapshotQuotaExceededFault,
        Fault::ServiceLinkedRoleNotFound => SnapError::ServiceLinkedRoleNotFoundFault,
        Fault::InvalidParameterCombination => SnapError::InvalidParameterCombinationException,
        Fault::InvalidParameterValue => SnapError::InvalidParameterValueException,
    ]);
    assert_injected!(emulator, "CopyServerlessCacheSnapshot",
        client.copy_serverless_cache_snapshot().source_serverless_cache_snapshot_name(snapshot_name)
            .target_serverless_cache_snapshot_name("t").send(), [
        Fault::ServerlessCacheSnapshotQuotaExceeded => CopyError::ServerlessCacheSnapshotQuotaExceededFault,
        Fault::ServiceLinkedRoleNotFound => CopyError::ServiceLinkedRoleNotFoundFault,
        Fault::TagQuotaPerResourceExceeded => CopyError::TagQuotaPerResourceExceeded,
        Fault::InvalidParameterCombination => CopyError::InvalidParameterCombinationException,
        Fault::InvalidParameterValue => CopyError::InvalidParameterValueException,
    ]);
    assert_injected!(emulator, "DeleteServerlessCacheSnapshot",
        client.delete_serverless_cache_snapshot().serverless_cache_snapshot_name(snapshot_name).send(), [
        Fault::ServiceLinkedRoleNotFound => DeleteSnapError::ServiceLinkedRoleNotFoundFault,
        Fault::InvalidParameterValue => DeleteSnapError::InvalidParameterValueException,
    ]);
    assert_injected!(emulator, "ExportServerlessCacheSnapshot",
        client.export_serverless_cache_snapshot().serverless_cache_snapshot_name(snapshot_name)
            .s3_bucket_name("bucket").send(), [
        Fault::ServiceLinkedRoleNotFound => ExportError::ServiceLinkedRoleNotFoundFault,
    ]);
    assert_injected!(emulator, "DescribeServerlessCaches",
        client.describe_serverless_caches().send(), [
        Fault::InvalidParameterCombination => DescribeError::InvalidParameterCombinationException,
    ]);
    assert_injected!(emulator, "DescribeServerlessCacheSnapshots",
        client.describe_serverless_cache_snapshots().send(), [
        Fault::InvalidParameterCombination => DescribeSnapsError::InvalidParameterCombinationException,
    ]);
    emulator.shutdown();
}

#[tokio::test]
async fn describe_pages_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    for i in [3, 0, 4, 1, 2] {
        client
            .create_serverless_cache()
            .serverless_cache_name(format!("page-{i}"))
            .engine("valkey")
            .send()
            .await
            .unwrap();
    }

    let mut names = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let output = client
            .describe_serverless_caches()
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        pages += 1;
        names.extend(
            output
                .serverless_caches()
                .iter()
                .map(|cache| cache.serverless_cache_name().unwrap().to_owned()),
        );
        token = output.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["page-0", "page-1", "page-2", "page-3", "page-4"]);

    // The SDK's own paginator follows the tokens too.
    let all = client
        .describe_serverless_caches()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 5);

    settle(&emulator);
    assert_eq!(
        describe_cache(&client, "page-0").await.status(),
        Some("available")
    );
    for i in 0..3 {
        client
            .create_serverless_cache_snapshot()
            .serverless_cache_snapshot_name(format!("snap-{i}"))
            .serverless_cache_name("page-0")
            .send()
            .await
            .unwrap();
    }
    let first = client
        .describe_serverless_cache_snapshots()
        .serverless_cache_name("page-0")
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(first.serverless_cache_snapshots().len(), 2);
    let second = client
        .describe_serverless_cache_snapshots()
        .serverless_cache_name("page-0")
        .max_results(2)
        .set_next_token(first.next_token().map(str::to_owned))
        .send()
        .await
        .unwrap();
    assert_eq!(
        second.serverless_cache_snapshots()[0].serverless_cache_snapshot_name(),
        Some("snap-2")
    );
    assert_eq!(second.next_token(), None);

    assert_fault!(
        client
            .describe_serverless_caches()
            .next_token("not-a-token")
            .send()
            .await,
        DescribeError::InvalidParameterValueException
    );
    // A token from one API is not valid for the other.
    assert_fault!(
        client
            .describe_serverless_caches()
            .set_next_token(first.next_token().map(str::to_owned))
            .send()
            .await,
        DescribeError::InvalidParameterValueException
    );
    emulator.shutdown();
}

#[tokio::test]
async fn injected_transport_faults_reach_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    const DESCRIBE: &str = "DescribeServerlessCaches";

    // Throttling: the next two calls, then success; other actions are untouched.
    emulator
        .faults()
        .inject(Some(DESCRIBE), FaultKind::Throttle, 2);
    client
        .create_serverless_cache()
        .serverless_cache_name("t")
        .engine("valkey")
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        let err = client
            .describe_serverless_caches()
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("Throttling"));
        assert!(err.request_id().is_some());
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    }
    client.describe_serverless_caches().send().await.unwrap();
    assert_eq!(emulator.calls(DESCRIBE), 3);
    assert_eq!(emulator.calls("CreateServerlessCache"), 1);

    // A dropped connection is a transport failure, and the next call goes through.
    emulator.faults().inject(None, FaultKind::DropConnection, 1);
    let err = client
        .describe_serverless_caches()
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ),
        "{err:?}"
    );
    client.describe_serverless_caches().send().await.unwrap();

    // A delay holds the answer back.
    let delay = Duration::from_millis(200);
    emulator
        .faults()
        .inject(Some(DESCRIBE), FaultKind::Delay(delay), 1);
    let started = Instant::now();
    client.describe_serverless_caches().send().await.unwrap();
    assert!(started.elapsed() >= delay);

    // A hung request runs into the client's deadline.
    let impatient = Client::from_conf(
        config(&emulator)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_millis(200))
                    .build(),
            )
            .build(),
    );
    emulator
        .faults()
        .inject_always(Some(DESCRIBE), FaultKind::Hang);
    let err = impatient
        .describe_serverless_caches()
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    emulator.faults().clear();
    impatient.describe_serverless_caches().send().await.unwrap();

    // Arbitrary errors, e.g. a 5xx the model does not know.
    emulator.faults().inject(
        None,
        FaultKind::Error {
            status: 503,
            code: "ServiceUnavailable".into(),
            message: "try later".into(),
        },
        1,
    );
    let err = client
        .describe_serverless_caches()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Some("ServiceUnavailable"), Some("try later"))
    );
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert_eq!(emulator.total_calls(), 10);
    emulator.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_clients_are_served() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let client = client.clone();
        tasks.spawn(async move {
            for _ in 0..10 {
                client.describe_serverless_caches().send().await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(emulator.calls("DescribeServerlessCaches"), 640);
    emulator.shutdown();
}
