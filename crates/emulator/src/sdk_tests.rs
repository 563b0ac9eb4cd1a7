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
use aws_sdk_elasticache::operation::add_tags_to_resource::AddTagsToResourceError as AddTagsError;
use aws_sdk_elasticache::operation::copy_serverless_cache_snapshot::CopyServerlessCacheSnapshotError as CopyError;
use aws_sdk_elasticache::operation::create_serverless_cache::CreateServerlessCacheError as CreateError;
use aws_sdk_elasticache::operation::create_serverless_cache_snapshot::CreateServerlessCacheSnapshotError as SnapError;
use aws_sdk_elasticache::operation::create_user::CreateUserError;
use aws_sdk_elasticache::operation::create_user_group::CreateUserGroupError;
use aws_sdk_elasticache::operation::delete_serverless_cache::DeleteServerlessCacheError as DeleteError;
use aws_sdk_elasticache::operation::delete_serverless_cache_snapshot::DeleteServerlessCacheSnapshotError as DeleteSnapError;
use aws_sdk_elasticache::operation::delete_user::DeleteUserError;
use aws_sdk_elasticache::operation::delete_user_group::DeleteUserGroupError;
use aws_sdk_elasticache::operation::describe_serverless_cache_snapshots::DescribeServerlessCacheSnapshotsError as DescribeSnapsError;
use aws_sdk_elasticache::operation::describe_serverless_caches::DescribeServerlessCachesError as DescribeError;
use aws_sdk_elasticache::operation::describe_user_groups::DescribeUserGroupsError;
use aws_sdk_elasticache::operation::describe_users::DescribeUsersError;
use aws_sdk_elasticache::operation::export_serverless_cache_snapshot::ExportServerlessCacheSnapshotError as ExportError;
use aws_sdk_elasticache::operation::list_tags_for_resource::ListTagsForResourceError as ListTagsError;
use aws_sdk_elasticache::operation::modify_serverless_cache::ModifyServerlessCacheError as ModifyError;
use aws_sdk_elasticache::operation::modify_user_group::ModifyUserGroupError;
use aws_sdk_elasticache::operation::remove_tags_from_resource::RemoveTagsFromResourceError as RemoveTagsError;
use aws_sdk_elasticache::types::{
    AuthenticationMode, AuthenticationType, CacheUsageLimits, DataStorage, DataStorageUnit,
    EcpuPerSecond, Filter, InputAuthenticationType, NetworkType, ServerlessCache,
    ServerlessCacheSnapshot, StorageEncryptionType, Tag, UserGroup,
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

/// A client signing in `region` with these temporary credentials (e.g. the emulator's STS's).
fn signed_as(emulator: &Emulator, region: &str, credentials: Credentials) -> Client {
    Client::from_conf(
        config(emulator)
            .region(Region::new(region.to_owned()))
            .credentials_provider(credentials)
            .build(),
    )
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
    // The user group the cache uses must exist.
    client
        .create_user_group()
        .user_group_id("ug-1")
        .engine("valkey")
        .user_ids("default")
        .send()
        .await
        .unwrap();

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

const ARN_PREFIX: &str = "arn:aws:elasticache:us-east-1:123456789012";

fn tag(key: &str, value: Option<&str>) -> Tag {
    Tag::builder()
        .key(key)
        .set_value(value.map(str::to_owned))
        .build()
}

/// `(key, value)` of each tag, in order.
fn pairs(tags: &[Tag]) -> Vec<(String, Option<String>)> {
    tags.iter()
        .map(|tag| {
            (
                tag.key().unwrap_or_default().to_owned(),
                tag.value().map(str::to_owned),
            )
        })
        .collect()
}

fn expected(tags: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    tags.iter()
        .map(|(key, value)| ((*key).to_owned(), value.map(str::to_owned)))
        .collect()
}

async fn listed_tags(client: &Client, arn: &str) -> Vec<(String, Option<String>)> {
    let output = client
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .unwrap();
    pairs(output.tag_list())
}

#[tokio::test]
async fn tags_on_caches_and_snapshots_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    client
        .create_serverless_cache()
        .serverless_cache_name("tagged")
        .engine("valkey")
        .tags(tag("team", Some("cache")))
        .send()
        .await
        .unwrap();
    let cache_arn = format!("{ARN_PREFIX}:serverlesscache:tagged");

    // Tags given at creation are listed, whatever the case of the name in the ARN.
    let created = expected(&[("team", Some("cache"))]);
    assert_eq!(listed_tags(&client, &cache_arn).await, created);
    let upper = format!("{ARN_PREFIX}:serverlesscache:TAGGED");
    assert_eq!(listed_tags(&client, &upper).await, created);

    // Adding replaces the value of an existing key.
    let added = client
        .add_tags_to_resource()
        .resource_name(&cache_arn)
        .tags(tag("team", Some("core")))
        .tags(tag("env", None))
        .send()
        .await
        .unwrap();
    assert!(added.request_id().is_some());
    let both = expected(&[("team", Some("core")), ("env", None)]);
    assert_eq!(pairs(added.tag_list()), both);
    assert_eq!(listed_tags(&client, &cache_arn).await, both);

    let removed = client
        .remove_tags_from_resource()
        .resource_name(&cache_arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let env_only = expected(&[("env", None)]);
    assert_eq!(pairs(removed.tag_list()), env_only);
    assert_eq!(listed_tags(&client, &cache_arn).await, env_only);
    let status = assert_fault!(
        client
            .remove_tags_from_resource()
            .resource_name(&cache_arn)
            .tag_keys("team")
            .send()
            .await,
        RemoveTagsError::TagNotFoundFault
    );
    assert_eq!(status, Some(404));
    let fifty = (0..50).map(|i| tag(&format!("k{i}"), None)).collect();
    assert_fault!(
        client
            .add_tags_to_resource()
            .resource_name(&cache_arn)
            .set_tags(Some(fifty))
            .send()
            .await,
        AddTagsError::TagQuotaPerResourceExceeded
    );
    assert_eq!(listed_tags(&client, &cache_arn).await, env_only);

    // Snapshots, with tags given at creation and at copy.
    settle(&emulator);
    client
        .create_serverless_cache_snapshot()
        .serverless_cache_snapshot_name("snap")
        .serverless_cache_name("tagged")
        .tags(tag("a", Some("1")))
        .send()
        .await
        .unwrap();
    settle(&emulator);
    client
        .copy_serverless_cache_snapshot()
        .source_serverless_cache_snapshot_name("snap")
        .target_serverless_cache_snapshot_name("snap-copy")
        .tags(tag("b", Some("2")))
        .send()
        .await
        .unwrap();
    let snapshot_arn = format!("{ARN_PREFIX}:serverlesscachesnapshot:snap");
    let copy_arn = format!("{ARN_PREFIX}:serverlesscachesnapshot:snap-copy");
    assert_eq!(
        listed_tags(&client, &snapshot_arn).await,
        expected(&[("a", Some("1"))])
    );
    assert_eq!(
        listed_tags(&client, &copy_arn).await,
        expected(&[("b", Some("2"))])
    );
    client
        .add_tags_to_resource()
        .resource_name(&snapshot_arn)
        .tags(tag("c", Some("3")))
        .send()
        .await
        .unwrap();
    client
        .remove_tags_from_resource()
        .resource_name(&snapshot_arn)
        .tag_keys("a")
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed_tags(&client, &snapshot_arn).await,
        expected(&[("c", Some("3"))])
    );

    // ARNs that are malformed, of a kind the emulator does not serve, or of nothing.
    for arn in [
        "not-an-arn".to_owned(),
        format!("{ARN_PREFIX}:securitygroup:tagged"),
        "arn:aws:elasticache:eu-west-1:123456789012:serverlesscache:tagged".to_owned(),
    ] {
        let status = assert_fault!(
            client
                .list_tags_for_resource()
                .resource_name(&arn)
                .send()
                .await,
            ListTagsError::InvalidArnFault
        );
        assert_eq!(status, Some(400), "{arn}");
    }
    let status = assert_fault!(
        client
            .list_tags_for_resource()
            .resource_name(format!("{ARN_PREFIX}:serverlesscache:nope"))
            .send()
            .await,
        ListTagsError::ServerlessCacheNotFoundFault
    );
    assert_eq!(status, Some(404));
    assert_fault!(
        client
            .add_tags_to_resource()
            .resource_name(format!("{ARN_PREFIX}:serverlesscachesnapshot:nope"))
            .tags(tag("k", None))
            .send()
            .await,
        AddTagsError::ServerlessCacheSnapshotNotFoundFault
    );
    assert_fault!(
        client
            .remove_tags_from_resource()
            .resource_name(format!("{ARN_PREFIX}:usergroup:nope"))
            .tag_keys("k")
            .send()
            .await,
        RemoveTagsError::UserGroupNotFoundFault
    );
    emulator.shutdown();
}

async fn create_user(client: &Client, id: &str, name: &str) {
    client
        .create_user()
        .user_id(id)
        .user_name(name)
        .engine("valkey")
        .access_string("on ~* +@all")
        .passwords("0123456789abcdef")
        .send()
        .await
        .unwrap();
}

async fn describe_group(client: &Client, id: &str) -> UserGroup {
    let output = client
        .describe_user_groups()
        .user_group_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(output.user_groups().len(), 1);
    output.user_groups()[0].clone()
}

#[tokio::test]
async fn users_and_user_groups_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);

    // The account's default user.
    let described = client
        .describe_users()
        .user_id("default")
        .send()
        .await
        .unwrap();
    let default_user = &described.users()[0];
    assert_eq!(
        (
            default_user.user_name(),
            default_user.status(),
            default_user.engine(),
            default_user.authentication().and_then(|a| a.r#type()),
        ),
        (
            Some("default"),
            Some("active"),
            Some("redis"),
            Some(&AuthenticationType::NoPassword)
        )
    );
    assert_eq!(
        default_user.arn(),
        Some("arn:aws:elasticache:us-east-1:123456789012:user:default")
    );

    let created = client
        .create_user()
        .user_id("App")
        .user_name("app")
        .engine("redis")
        .access_string("on ~app::* +@read")
        .authentication_mode(
            AuthenticationMode::builder()
                .r#type(InputAuthenticationType::Password)
                .passwords("0123456789abcdef")
                .passwords("fedcba9876543210")
                .build(),
        )
        .tags(tag("owner", Some("me")))
        .send()
        .await
        .unwrap();
    assert!(created.request_id().is_some());
    assert_eq!(created.user_id(), Some("app"));
    assert_eq!(created.user_name(), Some("app"));
    assert_eq!(created.status(), Some("active"));
    assert_eq!(created.minimum_engine_version(), Some("6.0"));
    assert_eq!(created.access_string(), Some("on ~app::* +@read"));
    assert!(created.user_group_ids().is_empty());
    let authentication = created.authentication().unwrap();
    assert_eq!(
        (authentication.r#type(), authentication.password_count()),
        (Some(&AuthenticationType::Password), Some(2))
    );
    assert_eq!(
        created.arn(),
        Some("arn:aws:elasticache:us-east-1:123456789012:user:app")
    );
    assert_eq!(
        listed_tags(&client, created.arn().unwrap()).await,
        expected(&[("owner", Some("me"))])
    );

    // Pages of users: 26 in all, at least 20 to a page.
    for i in 0..24 {
        create_user(&client, &format!("user-{i:02}"), &format!("name-{i:02}")).await;
    }
    let first = client
        .describe_users()
        .max_records(20)
        .send()
        .await
        .unwrap();
    assert_eq!(first.users().len(), 20);
    let marker = first.marker().expect("a marker after a full page");
    let second = client
        .describe_users()
        .max_records(20)
        .marker(marker)
        .send()
        .await
        .unwrap();
    assert_eq!(second.users().len(), 6);
    assert_eq!(second.marker(), None);
    assert_eq!(second.users()[5].user_id(), Some("user-23"));
    let all = client
        .describe_users()
        .max_records(20)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 26);
    // Below the documented minimum page size (a code DescribeUsers does not model).
    let err = client
        .describe_users()
        .max_records(10)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));

    // Filters.
    let ids = |users: &[aws_sdk_elasticache::types::User]| {
        users
            .iter()
            .map(|user| user.user_id().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let filtered = client
        .describe_users()
        .filters(
            Filter::builder()
                .name("user-id")
                .values("user-03")
                .values("APP")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ids(filtered.users()), ["app", "user-03"]);
    let redis = client
        .describe_users()
        .engine("redis")
        .send()
        .await
        .unwrap();
    assert_eq!(ids(redis.users()), ["app", "default"]);

    // User faults.
    assert_fault!(
        client
            .create_user()
            .user_id("user-00")
            .user_name("someone")
            .engine("valkey")
            .access_string("on")
            .no_password_required(true)
            .send()
            .await,
        CreateUserError::UserAlreadyExistsFault
    );
    assert_fault!(
        client
            .create_user()
            .user_id("user-xx")
            .user_name("name-00")
            .engine("valkey")
            .access_string("on")
            .no_password_required(true)
            .send()
            .await,
        CreateUserError::DuplicateUserNameFault
    );
    assert_fault!(
        client
            .create_user()
            .user_id("user-xx")
            .user_name("name-xx")
            .engine("valkey")
            .access_string("on")
            .passwords("0123456789abcdef")
            .no_password_required(true)
            .send()
            .await,
        CreateUserError::InvalidParameterCombinationException
    );
    assert_fault!(
        client
            .create_user()
            .user_id("user-xx")
            .user_name("name-xx")
            .engine("valkey")
            .access_string("on")
            .send()
            .await,
        CreateUserError::InvalidParameterValueException
    );
    let status = assert_fault!(
        client.describe_users().user_id("ghost").send().await,
        DescribeUsersError::UserNotFoundFault
    );
    assert_eq!(status, Some(404));

    // User groups.
    assert_fault!(
        client
            .create_user_group()
            .user_group_id("team")
            .engine("redis")
            .user_ids("app")
            .send()
            .await,
        CreateUserGroupError::DefaultUserRequired
    );
    assert_fault!(
        client
            .create_user_group()
            .user_group_id("team")
            .engine("redis")
            .user_ids("default")
            .user_ids("ghost")
            .send()
            .await,
        CreateUserGroupError::UserNotFoundFault
    );
    let group = client
        .create_user_group()
        .user_group_id("Team")
        .engine("redis")
        .user_ids("default")
        .user_ids("app")
        .tags(tag("k", Some("v")))
        .send()
        .await
        .unwrap();
    assert_eq!(group.user_group_id(), Some("team"));
    assert_eq!(group.status(), Some("active"));
    assert_eq!(group.engine(), Some("redis"));
    assert_eq!(group.user_ids(), ["default", "app"]);
    assert_eq!(group.minimum_engine_version(), Some("6.0"));
    assert!(group.serverless_caches().is_empty() && group.replication_groups().is_empty());
    assert_eq!(group.pending_changes(), None);
    let group_arn = "arn:aws:elasticache:us-east-1:123456789012:usergroup:team";
    assert_eq!(group.arn(), Some(group_arn));
    assert_eq!(
        listed_tags(&client, group_arn).await,
        expected(&[("k", Some("v"))])
    );
    assert_fault!(
        client
            .create_user_group()
            .user_group_id("team")
            .engine("redis")
            .user_ids("default")
            .send()
            .await,
        CreateUserGroupError::UserGroupAlreadyExistsFault
    );
    let app = client.describe_users().user_id("app").send().await.unwrap();
    assert_eq!(app.users()[0].user_group_ids(), ["team"]);

    // Pages of groups.
    for i in 0..20 {
        client
            .create_user_group()
            .user_group_id(format!("grp-{i:02}"))
            .engine("valkey")
            .user_ids("default")
            .send()
            .await
            .unwrap();
    }
    let first = client
        .describe_user_groups()
        .max_records(20)
        .send()
        .await
        .unwrap();
    assert_eq!(first.user_groups().len(), 20);
    let second = client
        .describe_user_groups()
        .max_records(20)
        .set_marker(first.marker().map(str::to_owned))
        .send()
        .await
        .unwrap();
    assert_eq!(
        second
            .user_groups()
            .iter()
            .map(|group| group.user_group_id().unwrap())
            .collect::<Vec<_>>(),
        ["team"]
    );
    assert_eq!(second.marker(), None);
    assert_eq!(
        describe_group(&client, "TEAM").await.user_group_id(),
        Some("team")
    );

    // Modifying the members.
    let modified = client
        .modify_user_group()
        .user_group_id("team")
        .user_ids_to_add("user-00")
        .user_ids_to_add("user-01")
        .user_ids_to_remove("app")
        .send()
        .await
        .unwrap();
    assert_eq!(modified.user_ids(), ["default", "user-00", "user-01"]);
    assert_eq!(modified.status(), Some("active"));
    assert_eq!(
        describe_group(&client, "team").await.user_ids(),
        ["default", "user-00", "user-01"]
    );
    assert_fault!(
        client
            .modify_user_group()
            .user_group_id("team")
            .user_ids_to_remove("default")
            .send()
            .await,
        ModifyUserGroupError::DefaultUserRequired
    );
    assert_fault!(
        client
            .modify_user_group()
            .user_group_id("team")
            .user_ids_to_add("ghost")
            .send()
            .await,
        ModifyUserGroupError::UserNotFoundFault
    );
    assert_fault!(
        client
            .modify_user_group()
            .user_group_id("ghost")
            .user_ids_to_add("app")
            .send()
            .await,
        ModifyUserGroupError::UserGroupNotFoundFault
    );
    assert_fault!(
        client
            .modify_user_group()
            .user_group_id("team")
            .send()
            .await,
        ModifyUserGroupError::InvalidParameterCombinationException
    );
    // A second user named default can replace the first, not join it.
    client
        .create_user()
        .user_id("alt-default")
        .user_name("default")
        .engine("redis")
        .access_string("on ~* +@all")
        .no_password_required(true)
        .send()
        .await
        .unwrap();
    assert_fault!(
        client
            .modify_user_group()
            .user_group_id("team")
            .user_ids_to_add("alt-default")
            .send()
            .await,
        ModifyUserGroupError::DuplicateUserNameFault
    );

    // Deleting users.
    assert_fault!(
        client.delete_user().user_id("default").send().await,
        DeleteUserError::DefaultUserAssociatedToUserGroupFault
    );
    let deleted = client
        .delete_user()
        .user_id("user-00")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), Some("deleting"));
    assert_eq!(deleted.user_group_ids(), ["team"]);
    assert_eq!(
        describe_group(&client, "team").await.user_ids(),
        ["default", "user-01"]
    );
    let status = assert_fault!(
        client.delete_user().user_id("user-00").send().await,
        DeleteUserError::UserNotFoundFault
    );
    assert_eq!(status, Some(404));

    // Deleting groups.
    let deleted = client
        .delete_user_group()
        .user_group_id("team")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), Some("deleting"));
    assert_eq!(deleted.user_ids(), ["default", "user-01"]);
    let status = assert_fault!(
        client
            .describe_user_groups()
            .user_group_id("team")
            .send()
            .await,
        DescribeUserGroupsError::UserGroupNotFoundFault
    );
    assert_eq!(status, Some(404));
    assert_fault!(
        client
            .delete_user_group()
            .user_group_id("team")
            .send()
            .await,
        DeleteUserGroupError::UserGroupNotFoundFault
    );
    emulator.shutdown();
}

#[tokio::test]
async fn serverless_caches_use_existing_user_groups_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let status = assert_fault!(
        client
            .create_serverless_cache()
            .serverless_cache_name("guarded")
            .engine("valkey")
            .user_group_id("cache-users")
            .send()
            .await,
        CreateError::UserGroupNotFoundFault
    );
    assert_eq!(status, Some(404));

    client
        .create_user_group()
        .user_group_id("cache-users")
        .engine("valkey")
        .user_ids("default")
        .send()
        .await
        .unwrap();
    let created = client
        .create_serverless_cache()
        .serverless_cache_name("guarded")
        .engine("valkey")
        .user_group_id("Cache-Users")
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.serverless_cache().unwrap().user_group_id(),
        Some("cache-users")
    );
    assert_eq!(
        describe_group(&client, "cache-users")
            .await
            .serverless_caches(),
        ["guarded"]
    );
    assert_fault!(
        client
            .delete_user_group()
            .user_group_id("cache-users")
            .send()
            .await,
        DeleteUserGroupError::InvalidUserGroupStateFault
    );

    settle(&emulator);
    let status = assert_fault!(
        client
            .modify_serverless_cache()
            .serverless_cache_name("guarded")
            .user_group_id("ghost")
            .send()
            .await,
        ModifyError::UserGroupNotFoundFault
    );
    assert_eq!(status, Some(404));
    let modified = client
        .modify_serverless_cache()
        .serverless_cache_name("guarded")
        .remove_user_group(true)
        .send()
        .await
        .unwrap();
    assert_eq!(modified.serverless_cache().unwrap().user_group_id(), None);
    assert!(
        describe_group(&client, "cache-users")
            .await
            .serverless_caches()
            .is_empty()
    );
    settle(&emulator);
    client
        .modify_serverless_cache()
        .serverless_cache_name("guarded")
        .user_group_id("cache-users")
        .send()
        .await
        .unwrap();
    assert_eq!(
        describe_group(&client, "cache-users")
            .await
            .serverless_caches(),
        ["guarded"]
    );

    // Listed while the cache is deleting, not once it is gone.
    settle(&emulator);
    client
        .delete_serverless_cache()
        .serverless_cache_name("guarded")
        .send()
        .await
        .unwrap();
    assert_eq!(
        describe_group(&client, "cache-users")
            .await
            .serverless_caches(),
        ["guarded"]
    );
    settle(&emulator);
    assert!(
        describe_group(&client, "cache-users")
            .await
            .serverless_caches()
            .is_empty()
    );
    client
        .delete_user_group()
        .user_group_id("cache-users")
        .send()
        .await
        .unwrap();
    emulator.shutdown();
}

#[tokio::test]
async fn injected_rbac_and_tag_faults_reach_the_sdk_as_their_variants() {
    // Faults of the new actions no request to the emulator provokes on its own, and the codes
    // whose wire form differs from the SDK's variant name.
    let emulator = emulator().await;
    let client = client(&emulator);
    assert_injected!(emulator, "CreateUser",
        client.create_user().user_id("u").user_name("u").engine("redis").access_string("on")
            .no_password_required(true).send(), [
        Fault::UserQuotaExceeded => CreateUserError::UserQuotaExceededFault,
        Fault::ServiceLinkedRoleNotFound => CreateUserError::ServiceLinkedRoleNotFoundFault,
    ]);
    assert_injected!(emulator, "DeleteUser", client.delete_user().user_id("u").send(), [
        Fault::InvalidUserState => DeleteUserError::InvalidUserStateFault,
    ]);
    assert_injected!(emulator, "CreateUserGroup",
        client.create_user_group().user_group_id("g").engine("redis").user_ids("default").send(), [
        Fault::UserGroupQuotaExceeded => CreateUserGroupError::UserGroupQuotaExceededFault,
        Fault::TagQuotaPerResourceExceeded => CreateUserGroupError::TagQuotaPerResourceExceeded,
    ]);
    assert_injected!(emulator, "ModifyUserGroup",
        client.modify_user_group().user_group_id("g").user_ids_to_add("u").send(), [
        Fault::InvalidUserGroupState => ModifyUserGroupError::InvalidUserGroupStateFault,
    ]);
    assert_injected!(emulator, "AddTagsToResource",
        client.add_tags_to_resource().resource_name("arn").tags(tag("k", None)).send(), [
        Fault::InvalidArn => AddTagsError::InvalidArnFault,
        Fault::UserNotFound => AddTagsError::UserNotFoundFault,
        Fault::InvalidServerlessCacheState => AddTagsError::InvalidServerlessCacheStateFault,
    ]);
    assert_eq!(emulator.calls("AddTagsToResource"), 3);
    emulator.shutdown();
}

#[tokio::test]
async fn there_are_no_service_updates_through_the_sdk() {
    use aws_sdk_elasticache::operation::batch_apply_update_action::BatchApplyUpdateActionError;
    use aws_sdk_elasticache::operation::batch_stop_update_action::BatchStopUpdateActionError;
    use aws_sdk_elasticache::operation::describe_service_updates::DescribeServiceUpdatesError;
    use aws_sdk_elasticache::types::ServiceUpdateStatus;

    let emulator = emulator().await;
    let client = client(&emulator);
    let updates = client
        .describe_service_updates()
        .service_update_status(ServiceUpdateStatus::Available)
        .send()
        .await
        .unwrap();
    assert!(updates.service_updates().is_empty());
    assert_eq!(updates.marker(), None);
    let actions = client
        .describe_update_actions()
        .engine("redis")
        .send()
        .await
        .unwrap();
    assert!(actions.update_actions().is_empty());
    assert_fault!(
        client
            .describe_service_updates()
            .service_update_name("elasticache-20240101-001")
            .send()
            .await,
        DescribeServiceUpdatesError::ServiceUpdateNotFoundFault
    );
    assert_fault!(
        client
            .batch_apply_update_action()
            .service_update_name("elasticache-20240101-001")
            .replication_group_ids("g")
            .send()
            .await,
        BatchApplyUpdateActionError::ServiceUpdateNotFoundFault
    );
    assert_fault!(
        client
            .batch_stop_update_action()
            .service_update_name("elasticache-20240101-001")
            .cache_cluster_ids("c")
            .send()
            .await,
        BatchStopUpdateActionError::ServiceUpdateNotFoundFault
    );
    let err = client
        .batch_apply_update_action()
        .service_update_name("u")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterCombination"));
    emulator.shutdown();
}

#[tokio::test]
async fn exports_write_an_rdb_file_into_the_emulated_bucket() {
    let dir = std::env::temp_dir().join(format!("emulator-s3-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("backups")).unwrap();
    let config = EmulatorConfig {
        settle_time: SETTLE,
        export_time: SETTLE,
        s3_dir: Some(dir.clone()),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let client = client(&emulator);
    available_cache(&emulator, &client, "exported").await;
    client
        .create_serverless_cache_snapshot()
        .serverless_cache_name("exported")
        .serverless_cache_snapshot_name("to-s3")
        .send()
        .await
        .unwrap();
    settle(&emulator);
    let err = client
        .export_serverless_cache_snapshot()
        .serverless_cache_snapshot_name("to-s3")
        .s3_bucket_name("no-such-bucket")
        .send()
        .await;
    assert_fault!(err, ExportError::InvalidParameterValueException);
    assert_eq!(
        describe_snapshot(&client, "to-s3").await.status(),
        Some("available")
    );
    let exporting = client
        .export_serverless_cache_snapshot()
        .serverless_cache_snapshot_name("to-s3")
        .s3_bucket_name("backups")
        .send()
        .await
        .unwrap();
    assert_eq!(
        exporting.serverless_cache_snapshot().unwrap().status(),
        Some("exporting")
    );
    let object = std::fs::read(dir.join("backups").join("to-s3-0001.rdb")).unwrap();
    assert!(object.starts_with(b"REDIS0011"));
    assert_eq!(object.len(), 18);
    settle(&emulator);
    assert_eq!(
        describe_snapshot(&client, "to-s3").await.status(),
        Some("available")
    );

    // A classic snapshot exported with CopySnapshot's TargetBucket: one object per node group.
    client
        .create_replication_group()
        .replication_group_id("exported-group")
        .replication_group_description("x")
        .cache_node_type("cache.t3.micro")
        .num_node_groups(2)
        .send()
        .await
        .unwrap();
    settle(&emulator);
    client
        .create_snapshot()
        .replication_group_id("exported-group")
        .snapshot_name("group-snap")
        .send()
        .await
        .unwrap();
    settle(&emulator);
    let err = client
        .copy_snapshot()
        .source_snapshot_name("group-snap")
        .target_snapshot_name("group-export")
        .target_bucket("no-such-bucket")
        .send()
        .await;
    assert_fault!(
        err,
        aws_sdk_elasticache::operation::copy_snapshot::CopySnapshotError::InvalidParameterValueException
    );
    let exported = client
        .copy_snapshot()
        .source_snapshot_name("group-snap")
        .target_snapshot_name("group-export")
        .target_bucket("backups")
        .send()
        .await
        .unwrap();
    let exported = exported.snapshot().unwrap();
    assert_eq!(exported.snapshot_name(), Some("group-snap"));
    assert_eq!(exported.snapshot_status(), Some("exporting"));
    for node_group in ["0001", "0002"] {
        let object = dir
            .join("backups")
            .join(format!("group-export-{node_group}.rdb"));
        assert!(std::fs::read(object).unwrap().starts_with(b"REDIS"));
    }
    settle(&emulator);
    let listed = client
        .describe_snapshots()
        .snapshot_name("group-snap")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.snapshots()[0].snapshot_status(), Some("available"));
    emulator.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

mod catalog;
mod nodes;
mod state_file;

/// `--emulator-accounts`: STS `AssumeRole` on the emulator issues keys of the role's account,
/// and the SDK's requests signed with them (in another region) are that account's alone.
#[tokio::test]
async fn assumed_roles_reach_their_own_account_in_the_region_signed_for() {
    let accounts = EmulatorConfig {
        settle_time: SETTLE,
        export_time: SETTLE,
        accounts: vec!["222222222222".into()],
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), accounts)
        .await
        .unwrap();
    let form = "Action=AssumeRole&Version=2011-06-15&RoleSessionName=ops\
                &RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2Fcache-admin";
    let (status, body) = super::tests::raw_post(emulator.local_addr(), form.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    let field = |name: &str| {
        let start = body.find(&format!("<{name}>")).unwrap() + name.len() + 2;
        body[start..start + body[start..].find('<').unwrap()].to_owned()
    };
    assert_eq!(
        field("Arn"),
        "arn:aws:sts::222222222222:assumed-role/cache-admin/ops"
    );
    assert!(field("AccessKeyId").starts_with("ASIA222222222222"));
    assert_eq!(emulator.calls("AssumeRole"), 1);

    let issued = Credentials::new(
        field("AccessKeyId"),
        field("SecretAccessKey"),
        Some(field("SessionToken")),
        None,
        "emulator-sts",
    );
    let assumed = signed_as(&emulator, "eu-west-1", issued.clone());
    let created = assumed
        .create_serverless_cache()
        .serverless_cache_name("orders")
        .engine("valkey")
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.serverless_cache().and_then(|c| c.arn()),
        Some("arn:aws:elasticache:eu-west-1:222222222222:serverlesscache:orders")
    );
    // The default account, and the same account in another region, have no such cache.
    for other in [client(&emulator), signed_as(&emulator, "us-east-1", issued)] {
        let listed = other.describe_serverless_caches().send().await.unwrap();
        assert!(listed.serverless_caches().is_empty());
    }
    let listed = assumed.describe_serverless_caches().send().await.unwrap();
    assert_eq!(listed.serverless_caches().len(), 1);
}

/// What STS refuses, the emulator refuses with STS's codes.
#[tokio::test]
async fn assume_role_refuses_what_sts_refuses() {
    let emulator = emulator().await;
    for (form, status, code) in [
        (
            "Action=AssumeRole&RoleSessionName=ops&RoleArn=arn%3Aaws%3Aiam%3A%3A999999999999%3Arole%2Fx",
            403,
            "AccessDenied",
        ),
        (
            "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fx",
            400,
            "ValidationError",
        ),
        (
            "Action=AssumeRole&RoleSessionName=ops&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Auser%2Fx",
            400,
            "ValidationError",
        ),
        (
            "Action=AssumeRole&RoleSessionName=ops&DurationSeconds=60&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fx",
            400,
            "ValidationError",
        ),
    ] {
        let (got, body) = super::tests::raw_post(emulator.local_addr(), form.as_bytes()).await;
        assert_eq!(got, status, "{form}: {body}");
        assert!(
            body.contains(&format!("<Code>{code}</Code>")),
            "{form}: {body}"
        );
    }
}
