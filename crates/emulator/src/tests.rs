//! Unit tests: wire shapes, parameter decoding, the state machine, fault rules, and the HTTP edge
//! (with a raw TCP client, so malformed requests can be sent).

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::{ApiError, Fault};
use super::model::{Cache, CacheStatus, Range, Snapshot, SnapshotStatus, UsageLimits};
use super::operations::Output;
use super::query::{Params, Tag};
use super::store::{Clock, NewCache, Page, PageRequest, Quotas, SnapshotFilter, Store};
use super::xml::{error_document, success_document, timestamp};
use super::{Emulator, EmulatorConfig, FaultInjector, FaultKind};

/// Removes the indentation between tags of a pretty-printed expected document.
fn compact(pretty: &str) -> String {
    pretty.lines().map(str::trim).collect()
}

fn at(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

/// 2024-01-02T03:04:05.678Z
const CREATED_MS: u64 = 1_704_164_645_678;

fn sample_cache() -> Cache {
    Cache {
        name: "my-cache".into(),
        description: "A <serverless> cache & more".into(),
        created: at(CREATED_MS),
        status: CacheStatus::Available,
        settles_at: None,
        engine: "valkey".into(),
        major_engine_version: "8".into(),
        full_engine_version: "8.0".into(),
        usage_limits: Some(UsageLimits {
            data_storage: Some(Range {
                minimum: Some(1),
                maximum: Some(10),
            }),
            ecpu_per_second: Some(Range {
                minimum: None,
                maximum: Some(5000),
            }),
        }),
        kms_key_id: None,
        security_group_ids: vec!["sg-1".into(), "sg-2".into()],
        endpoint_address: "my-cache-abc123.serverless.use1.cache.amazonaws.com".into(),
        arn: "arn:aws:elasticache:us-east-1:123456789012:serverlesscache:my-cache".into(),
        user_group_id: Some("ug-1".into()),
        subnet_ids: vec!["subnet-1".into()],
        snapshot_retention_limit: 1,
        daily_snapshot_time: "03:00".into(),
        network_type: "ipv4".into(),
        connection_type: "vpc".into(),
        tags: Vec::new(),
    }
}

fn sample_snapshot() -> Snapshot {
    Snapshot {
        name: "snap-1".into(),
        arn: "arn:aws:elasticache:us-east-1:123456789012:serverlesscachesnapshot:snap-1".into(),
        kms_key_id: Some("arn:aws:kms:us-east-1:123456789012:key/k".into()),
        created: at(CREATED_MS),
        expires: at(CREATED_MS + 86_400_000),
        status: SnapshotStatus::Exporting,
        settles_at: None,
        bytes_used: 1_048_576,
        cache_name: "my-cache".into(),
        engine: "valkey".into(),
        major_engine_version: "8".into(),
        tags: Vec::new(),
    }
}

// Expected documents follow the ElastiCache API reference: the ServerlessCache and
// ServerlessCacheSnapshot data types, the CreateServerlessCache and
// DescribeServerlessCacheSnapshots response elements, and the common error format.

#[test]
fn create_serverless_cache_response_has_the_documented_shape() {
    let output = Output::Cache(Box::new(sample_cache()));
    let body = success_document("CreateServerlessCache", "req-1", |xml| output.write(xml));
    let expected = r#"
        <CreateServerlessCacheResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
          <CreateServerlessCacheResult>
            <ServerlessCache>
              <ServerlessCacheName>my-cache</ServerlessCacheName>
              <Description>A &lt;serverless&gt; cache &amp; more</Description>
              <CreateTime>2024-01-02T03:04:05.678Z</CreateTime>
              <Status>available</Status>
              <Engine>valkey</Engine>
              <MajorEngineVersion>8</MajorEngineVersion>
              <FullEngineVersion>8.0</FullEngineVersion>
              <CacheUsageLimits>
                <DataStorage>
                  <Maximum>10</Maximum>
                  <Minimum>1</Minimum>
                  <Unit>GB</Unit>
                </DataStorage>
                <ECPUPerSecond>
                  <Maximum>5000</Maximum>
                </ECPUPerSecond>
              </CacheUsageLimits>
              <StorageEncryptionType>sse-elasticache</StorageEncryptionType>
              <SecurityGroupIds>
                <SecurityGroupId>sg-1</SecurityGroupId>
                <SecurityGroupId>sg-2</SecurityGroupId>
              </SecurityGroupIds>
              <Endpoint>
                <Address>my-cache-abc123.serverless.use1.cache.amazonaws.com</Address>
                <Port>6379</Port>
              </Endpoint>
              <ReaderEndpoint>
                <Address>my-cache-abc123.serverless.use1.cache.amazonaws.com</Address>
                <Port>6380</Port>
              </ReaderEndpoint>
              <ARN>arn:aws:elasticache:us-east-1:123456789012:serverlesscache:my-cache</ARN>
              <UserGroupId>ug-1</UserGroupId>
              <SubnetIds>
                <SubnetId>subnet-1</SubnetId>
              </SubnetIds>
              <SnapshotRetentionLimit>1</SnapshotRetentionLimit>
              <DailySnapshotTime>03:00</DailySnapshotTime>
              <NetworkType>ipv4</NetworkType>
              <ConnectionType>vpc</ConnectionType>
            </ServerlessCache>
          </CreateServerlessCacheResult>
          <ResponseMetadata>
            <RequestId>req-1</RequestId>
          </ResponseMetadata>
        </CreateServerlessCacheResponse>"#;
    assert_eq!(body, compact(expected));
}

#[test]
fn describe_snapshots_response_lists_snapshots_and_the_next_token() {
    let output = Output::Snapshots(Page {
        items: vec![sample_snapshot()],
        next_token: Some("s1-6162".into()),
    });
    let body = success_document("DescribeServerlessCacheSnapshots", "req-2", |xml| {
        output.write(xml);
    });
    let expected = r#"
        <DescribeServerlessCacheSnapshotsResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
          <DescribeServerlessCacheSnapshotsResult>
            <ServerlessCacheSnapshots>
              <ServerlessCacheSnapshot>
                <ServerlessCacheSnapshotName>snap-1</ServerlessCacheSnapshotName>
                <ARN>arn:aws:elasticache:us-east-1:123456789012:serverlesscachesnapshot:snap-1</ARN>
                <KmsKeyId>arn:aws:kms:us-east-1:123456789012:key/k</KmsKeyId>
                <SnapshotType>manual</SnapshotType>
                <Status>exporting</Status>
                <CreateTime>2024-01-02T03:04:05.678Z</CreateTime>
                <ExpiryTime>2024-01-03T03:04:05.678Z</ExpiryTime>
                <BytesUsedForCache>1048576</BytesUsedForCache>
                <ServerlessCacheConfiguration>
                  <ServerlessCacheName>my-cache</ServerlessCacheName>
                  <Engine>valkey</Engine>
                  <MajorEngineVersion>8</MajorEngineVersion>
                </ServerlessCacheConfiguration>
              </ServerlessCacheSnapshot>
            </ServerlessCacheSnapshots>
            <NextToken>s1-6162</NextToken>
          </DescribeServerlessCacheSnapshotsResult>
          <ResponseMetadata>
            <RequestId>req-2</RequestId>
          </ResponseMetadata>
        </DescribeServerlessCacheSnapshotsResponse>"#;
    assert_eq!(body, compact(expected));
}

#[test]
fn describe_caches_response_uses_member_items() {
    let output = Output::Caches(Page {
        items: vec![sample_cache()],
        next_token: None,
    });
    let body = success_document("DescribeServerlessCaches", "r", |xml| output.write(xml));
    assert!(body.contains(
        "<DescribeServerlessCachesResult><ServerlessCaches><member><ServerlessCacheName>my-cache<"
    ));
    assert!(body.contains("</member></ServerlessCaches></DescribeServerlessCachesResult>"));
    assert!(!body.contains("NextToken"));
}

#[test]
fn error_response_has_the_documented_shape() {
    let fault = Fault::ServerlessCacheSnapshotNotFound;
    let body = error_document(
        fault.status(),
        fault.code(),
        "Snapshot s not found.",
        "req-3",
    );
    let expected = r#"
        <ErrorResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
          <Error>
            <Type>Sender</Type>
            <Code>ServerlessCacheSnapshotNotFoundFault</Code>
            <Message>Snapshot s not found.</Message>
          </Error>
          <RequestId>req-3</RequestId>
        </ErrorResponse>"#;
    assert_eq!(body, compact(expected));
    let receiver = error_document(503, "ServiceUnavailable", "x", "r");
    assert!(receiver.contains("<Type>Receiver</Type>"));
}

#[test]
fn error_messages_are_escaped_and_kept_well_formed() {
    let body = error_document(400, "C", "a<b>&\"'\u{1}", "r");
    assert!(body.contains("<Message>a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}</Message>"));
}

#[test]
fn timestamps_are_iso8601_utc_with_milliseconds() {
    assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    assert_eq!(timestamp(at(CREATED_MS)), "2024-01-02T03:04:05.678Z");
    assert_eq!(timestamp(at(1_709_251_199_001)), "2024-02-29T23:59:59.001Z");
    assert_eq!(timestamp(at(951_782_400_000)), "2000-02-29T00:00:00.000Z");
}

#[test]
fn fault_table_matches_the_api_reference() {
    let expect = [
        (
            Fault::ServerlessCacheNotFound,
            "ServerlessCacheNotFoundFault",
            404,
        ),
        (
            Fault::ServerlessCacheSnapshotNotFound,
            "ServerlessCacheSnapshotNotFoundFault",
            404,
        ),
        (Fault::UserGroupNotFound, "UserGroupNotFound", 404),
        (
            Fault::InvalidCredentials,
            "InvalidCredentialsException",
            408,
        ),
        (Fault::InvalidUserGroupState, "InvalidUserGroupState", 400),
        (
            Fault::ServiceLinkedRoleNotFound,
            "ServiceLinkedRoleNotFoundFault",
            400,
        ),
        (Fault::InvalidParameterValue, "InvalidParameterValue", 400),
        (Fault::Throttling, "Throttling", 400),
    ];
    for (fault, code, status) in expect {
        assert_eq!((fault.code(), fault.status()), (code, status));
        assert_eq!(Fault::from_code(code), Some(fault));
    }
    assert_eq!(Fault::from_code("NoSuchFault"), None);
}

// Parameter decoding.

#[test]
fn query_parameters_decode_lists_structures_and_tags() {
    let body = b"Action=CreateServerlessCache&Version=2015-02-02&ServerlessCacheName=a%2Db+c\
        &SecurityGroupIds.SecurityGroupId.2=sg-2&SecurityGroupIds.SecurityGroupId.1=sg-1\
        &SubnetIds=&Tags.Tag.1.Key=team&Tags.Tag.1.Value=core&Tags.Tag.2.Key=solo\
        &CacheUsageLimits.DataStorage.Maximum=10";
    let params = Params::parse(body).unwrap();
    assert_eq!(params.get("ServerlessCacheName"), Some("a-b c"));
    assert_eq!(
        params.list("SecurityGroupIds", "SecurityGroupId").unwrap(),
        Some(vec!["sg-1".to_owned(), "sg-2".to_owned()])
    );
    assert_eq!(params.list("SubnetIds", "SubnetId").unwrap(), Some(vec![]));
    assert_eq!(params.list("Nope", "N").unwrap(), None);
    assert_eq!(
        params.tags().unwrap(),
        vec![
            Tag {
                key: "team".into(),
                value: Some("core".into())
            },
            Tag {
                key: "solo".into(),
                value: None
            },
        ]
    );
    assert!(params.has_struct("CacheUsageLimits"));
    assert_eq!(
        params.int("CacheUsageLimits.DataStorage.Maximum").unwrap(),
        Some(10)
    );
}

#[test]
fn malformed_parameters_are_client_faults() {
    let bad_utf8 = Params::parse(b"Action=%FF%FE").unwrap_err();
    assert_eq!(bad_utf8.fault, Fault::MalformedQueryString);
    let control = Params::parse(b"Description=a%00b").unwrap_err();
    assert_eq!(control.fault, Fault::InvalidParameterValue);
    let huge = Params::parse(b"MaxResults=99999999999999999999999").unwrap();
    assert_eq!(
        huge.int("MaxResults").unwrap_err().fault,
        Fault::InvalidParameterValue
    );
    let index = Params::parse(b"SubnetIds.SubnetId.0=subnet-1").unwrap();
    assert_eq!(
        index.list("SubnetIds", "SubnetId").unwrap_err().fault,
        Fault::InvalidParameterValue
    );
    let keyless = Params::parse(b"Tags.Tag.1.Value=v").unwrap();
    assert_eq!(keyless.tags().unwrap_err().fault, Fault::MissingParameter);
    // A stray percent sign is kept, as form decoders do.
    assert_eq!(Params::parse(b"a=100%").unwrap().get("a"), Some("100%"));
    assert_eq!(Params::parse(b"&&=&a").unwrap().get("a"), Some(""));
}

// The state machine, driven with an explicit clock.

const SETTLE: Duration = Duration::from_secs(2);
const EXPORT: Duration = Duration::from_secs(5);

fn store() -> Store {
    Store::new(&EmulatorConfig {
        settle_time: SETTLE,
        export_time: EXPORT,
        ..EmulatorConfig::default()
    })
}

fn clock(start: Instant, after: Duration) -> Clock {
    Clock {
        now: start + after,
        wall: SystemTime::now(),
    }
}

fn new_cache(name: &str) -> NewCache {
    NewCache {
        name: name.into(),
        engine: "valkey".into(),
        ..NewCache::default()
    }
}

fn first_page() -> PageRequest {
    PageRequest {
        next_token: None,
        max_results: 50,
    }
}

fn status_of(store: &mut Store, name: &str, now: Instant) -> Result<CacheStatus, ApiError> {
    store.tick(now);
    let page = store.describe_caches(Some(name), &first_page())?;
    Ok(page.items[0].status)
}

fn snapshot_status(
    store: &mut Store,
    name: &str,
    now: Instant,
) -> Result<SnapshotStatus, ApiError> {
    store.tick(now);
    let filter = SnapshotFilter {
        snapshot_name: Some(name.into()),
        include_manual: true,
        ..SnapshotFilter::default()
    };
    let page = store.describe_snapshots(&filter, &first_page())?;
    Ok(page.items[0].status)
}

#[test]
fn caches_settle_and_disappear_after_deletion() {
    let start = Instant::now();
    let mut store = store();
    let created = store
        .create_cache(new_cache("c1"), clock(start, Duration::ZERO))
        .unwrap();
    assert_eq!(created.status, CacheStatus::Creating);
    assert_eq!(
        created.arn,
        "arn:aws:elasticache:us-east-1:123456789012:serverlesscache:c1"
    );
    assert!(created.endpoint_address.starts_with("c1-"));
    assert!(
        created
            .endpoint_address
            .ends_with(".serverless.use1.cache.amazonaws.com")
    );
    assert_eq!(created.full_engine_version, "8.0");

    let early = clock(start, SETTLE / 2);
    assert_eq!(
        status_of(&mut store, "c1", early.now),
        Ok(CacheStatus::Creating)
    );
    let err = store.delete_cache("c1", None, early).unwrap_err();
    assert_eq!(err.fault, Fault::InvalidServerlessCacheState);
    let err = store.create_cache(new_cache("c1"), early).unwrap_err();
    assert_eq!(err.fault, Fault::ServerlessCacheAlreadyExists);

    let settled = clock(start, SETTLE);
    assert_eq!(
        status_of(&mut store, "c1", settled.now),
        Ok(CacheStatus::Available)
    );
    let deleting = store
        .delete_cache("c1", Some("final".into()), settled)
        .unwrap();
    assert_eq!(deleting.status, CacheStatus::Deleting);
    assert_eq!(
        status_of(&mut store, "c1", settled.now + SETTLE / 2),
        Ok(CacheStatus::Deleting)
    );
    let gone = status_of(&mut store, "c1", settled.now + SETTLE).unwrap_err();
    assert_eq!(gone.fault, Fault::ServerlessCacheNotFound);
    // The final snapshot outlives its cache.
    assert_eq!(
        snapshot_status(&mut store, "final", settled.now + SETTLE),
        Ok(SnapshotStatus::Available)
    );
}

#[test]
fn snapshots_export_only_when_available() {
    let start = Instant::now();
    let mut store = store();
    let t0 = clock(start, Duration::ZERO);
    store.create_cache(new_cache("c1"), t0).unwrap();
    let err = store
        .create_snapshot("s1".into(), "c1", None, Vec::new(), t0)
        .unwrap_err();
    assert_eq!(err.fault, Fault::InvalidServerlessCacheState);
    let err = store
        .create_snapshot("s1".into(), "nope", None, Vec::new(), t0)
        .unwrap_err();
    assert_eq!(err.fault, Fault::ServerlessCacheNotFound);

    let t1 = clock(start, SETTLE);
    store.tick(t1.now);
    let snapshot = store
        .create_snapshot("s1".into(), "c1", None, Vec::new(), t1)
        .unwrap();
    assert_eq!(snapshot.status, SnapshotStatus::Creating);
    assert_eq!(snapshot.cache_name, "c1");
    let err = store
        .create_snapshot("s1".into(), "c1", None, Vec::new(), t1)
        .unwrap_err();
    assert_eq!(err.fault, Fault::ServerlessCacheSnapshotAlreadyExists);
    for refused in [
        store.export_snapshot("s1", t1),
        store.delete_snapshot("s1", t1),
        store.copy_snapshot("s1", "s2".into(), None, Vec::new(), t1),
    ] {
        assert_eq!(
            refused.unwrap_err().fault,
            Fault::InvalidServerlessCacheSnapshotState
        );
    }

    let t2 = clock(start, SETTLE * 2);
    store.tick(t2.now);
    let exporting = store.export_snapshot("s1", t2).unwrap();
    assert_eq!(exporting.status, SnapshotStatus::Exporting);
    // Export takes export_time, not settle_time.
    assert_eq!(
        snapshot_status(&mut store, "s1", t2.now + SETTLE),
        Ok(SnapshotStatus::Exporting)
    );
    assert_eq!(
        snapshot_status(&mut store, "s1", t2.now + EXPORT),
        Ok(SnapshotStatus::Available)
    );

    let t3 = clock(start, SETTLE * 2 + EXPORT);
    let copy = store
        .copy_snapshot("s1", "s2".into(), None, Vec::new(), t3)
        .unwrap();
    assert_eq!(
        (copy.status, copy.cache_name.as_str()),
        (SnapshotStatus::Creating, "c1")
    );
    let err = store
        .copy_snapshot("s1", "s2".into(), None, Vec::new(), t3)
        .unwrap_err();
    assert_eq!(err.fault, Fault::ServerlessCacheSnapshotAlreadyExists);
    let deleting = store.delete_snapshot("s1", t3).unwrap();
    assert_eq!(deleting.status, SnapshotStatus::Deleting);
    assert_eq!(
        store.delete_snapshot("s1", t3).unwrap_err().fault,
        Fault::InvalidServerlessCacheSnapshotState
    );
    let gone = snapshot_status(&mut store, "s1", t3.now + SETTLE).unwrap_err();
    assert_eq!(gone.fault, Fault::ServerlessCacheSnapshotNotFound);
}

#[test]
fn held_resources_settle_only_once_released() {
    use super::store::CacheChanges;
    let start = Instant::now();
    let mut store = store();
    let t0 = clock(start, Duration::ZERO);
    // A hold placed before the cache exists applies to it; cache names match in any case.
    store.hold("C1");
    store.create_cache(new_cache("c1"), t0).unwrap();
    store.create_cache(new_cache("c2"), t0).unwrap();
    let late = t0.now + SETTLE * 10;
    assert_eq!(status_of(&mut store, "c1", late), Ok(CacheStatus::Creating));
    assert_eq!(
        status_of(&mut store, "c2", late),
        Ok(CacheStatus::Available)
    );
    // Overdue, it settles on the first tick after release, even at the same instant.
    store.release("c1");
    assert_eq!(
        status_of(&mut store, "c1", late),
        Ok(CacheStatus::Available)
    );

    // Released before its due time (after a tick that skipped it), it settles when that comes.
    let t1 = clock(start, SETTLE * 10);
    store.hold("c1");
    let change = CacheChanges {
        name: "c1".into(),
        description: Some("changed".into()),
        ..CacheChanges::default()
    };
    store.modify_cache(change, t1).unwrap();
    assert_eq!(
        status_of(&mut store, "c1", t1.now + SETTLE / 2),
        Ok(CacheStatus::Modifying)
    );
    store.release("c1");
    assert_eq!(
        status_of(&mut store, "c1", t1.now + SETTLE / 2),
        Ok(CacheStatus::Modifying)
    );
    assert_eq!(
        status_of(&mut store, "c1", t1.now + SETTLE),
        Ok(CacheStatus::Available)
    );

    // A held deletion stays listed until every hold is released.
    let t2 = clock(start, SETTLE * 12);
    store.hold("c2");
    store.hold("unused");
    store.delete_cache("c2", None, t2).unwrap();
    assert_eq!(
        status_of(&mut store, "c2", t2.now + SETTLE * 5),
        Ok(CacheStatus::Deleting)
    );
    store.release("unused");
    assert_eq!(
        status_of(&mut store, "c2", t2.now + SETTLE * 5),
        Ok(CacheStatus::Deleting)
    );
    store.release_all();
    let gone = status_of(&mut store, "c2", t2.now + SETTLE * 5).unwrap_err();
    assert_eq!(gone.fault, Fault::ServerlessCacheNotFound);
}

#[test]
fn modify_follows_the_engine_upgrade_rules() {
    use super::store::CacheChanges;
    let start = Instant::now();
    let mut store = store();
    let t0 = clock(start, Duration::ZERO);
    let redis = NewCache {
        engine: "redis".into(),
        ..new_cache("r")
    };
    store.create_cache(redis, t0).unwrap();
    let t1 = clock(start, SETTLE);
    store.tick(t1.now);
    let change = |engine: Option<&str>, major: Option<&str>| CacheChanges {
        name: "r".into(),
        engine: engine.map(str::to_owned),
        major_engine_version: major.map(str::to_owned),
        ..CacheChanges::default()
    };
    let err = store
        .modify_cache(change(Some("memcached"), None), t1)
        .unwrap_err();
    assert_eq!(err.fault, Fault::InvalidParameterCombination);
    let err = store.modify_cache(change(None, Some("6")), t1).unwrap_err();
    assert_eq!(err.fault, Fault::InvalidParameterValue);
    let upgraded = store
        .modify_cache(change(Some("valkey"), None), t1)
        .unwrap();
    assert_eq!(
        (
            upgraded.engine.as_str(),
            upgraded.major_engine_version.as_str()
        ),
        ("valkey", "8")
    );
    assert_eq!(upgraded.status, CacheStatus::Modifying);
    let t2 = clock(start, SETTLE * 2);
    store.tick(t2.now);
    let err = store.modify_cache(change(None, Some("7")), t2).unwrap_err();
    assert_eq!(err.fault, Fault::InvalidParameterCombination);
    let err = store
        .modify_cache(change(Some("redis"), None), t2)
        .unwrap_err();
    assert_eq!(err.fault, Fault::InvalidParameterCombination);
}

#[test]
fn restores_need_an_available_snapshot_and_filters_a_live_cache() {
    let start = Instant::now();
    let mut store = store();
    let t0 = clock(start, Duration::ZERO);
    store.create_cache(new_cache("c1"), t0).unwrap();
    let restore = |arn: &str| NewCache {
        snapshot_arns_to_restore: vec![arn.to_owned()],
        ..new_cache("c2")
    };
    let arn = "arn:aws:elasticache:us-east-1:123456789012:serverlesscachesnapshot:s1";
    let err = store.create_cache(restore(arn), t0).unwrap_err();
    assert_eq!(err.fault, Fault::InvalidParameterValue);

    let t1 = clock(start, SETTLE);
    store.tick(t1.now);
    store
        .create_snapshot("s1".into(), "c1", None, Vec::new(), t1)
        .unwrap();
    let t2 = clock(start, SETTLE * 2);
    store.tick(t2.now);
    store.create_cache(restore(arn), t2).unwrap();
    store.delete_cache("c1", None, t2).unwrap();
    store.tick(t2.now + SETTLE);
    let filter = SnapshotFilter {
        cache_name: Some("c1".into()),
        include_manual: true,
        ..SnapshotFilter::default()
    };
    let err = store
        .describe_snapshots(&filter, &first_page())
        .unwrap_err();
    assert_eq!(err.fault, Fault::ServerlessCacheNotFound);
    let automated = SnapshotFilter::default();
    let page = store.describe_snapshots(&automated, &first_page()).unwrap();
    assert!(page.items.is_empty());
}

#[test]
fn quotas_are_enforced() {
    let start = Instant::now();
    let config = EmulatorConfig::default();
    let mut store = Store::with_quotas(
        &config,
        Quotas {
            caches: 1,
            snapshots: 1,
        },
    );
    let t0 = clock(start, Duration::ZERO);
    store.create_cache(new_cache("c1"), t0).unwrap();
    let err = store.create_cache(new_cache("c2"), t0).unwrap_err();
    assert_eq!(err.fault, Fault::ServerlessCacheQuotaForCustomerExceeded);
    let t1 = clock(start, config.settle_time);
    store.tick(t1.now);
    store
        .create_snapshot("s1".into(), "c1", None, Vec::new(), t1)
        .unwrap();
    let err = store
        .create_snapshot("s2".into(), "c1", None, Vec::new(), t1)
        .unwrap_err();
    assert_eq!(err.fault, Fault::ServerlessCacheSnapshotQuotaExceeded);
}

#[test]
fn pages_are_stable_and_tokens_checked() {
    let start = Instant::now();
    let mut store = store();
    for name in ["e", "a", "d", "b", "c"] {
        store
            .create_cache(new_cache(name), clock(start, Duration::ZERO))
            .unwrap();
    }
    let mut names = Vec::new();
    let mut request = PageRequest {
        next_token: None,
        max_results: 2,
    };
    let mut pages = 0;
    loop {
        let page = store.describe_caches(None, &request).unwrap();
        pages += 1;
        names.extend(page.items.into_iter().map(|cache| cache.name));
        match page.next_token {
            Some(token) => request.next_token = Some(token),
            None => break,
        }
        // A cache created mid-listing before the cursor does not shift later pages.
        if pages == 1 {
            store
                .create_cache(new_cache("a0"), clock(start, Duration::ZERO))
                .unwrap();
        }
    }
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    assert_eq!(pages, 3);

    for token in ["garbage", "s1-61", "c1-zz", "c1-ff"] {
        let request = PageRequest {
            next_token: Some(token.into()),
            max_results: 2,
        };
        let err = store.describe_caches(None, &request).unwrap_err();
        assert_eq!(err.fault, Fault::InvalidParameterValue, "token {token}");
    }
}

// Fault rules.

#[test]
fn fault_rules_are_consumed_in_fifo_order() {
    let faults = FaultInjector::default();
    assert_eq!(faults.take("A"), None);
    faults.inject(Some("A"), FaultKind::Throttle, 2);
    faults.inject(None, FaultKind::DropConnection, 1);
    faults.inject(Some("A"), FaultKind::Hang, 0);
    assert_eq!(faults.take("B"), Some(FaultKind::DropConnection));
    assert_eq!(faults.take("B"), None);
    assert_eq!(faults.take("A"), Some(FaultKind::Throttle));
    assert_eq!(faults.take("A"), Some(FaultKind::Throttle));
    assert_eq!(faults.take("A"), None);

    let shared = faults.clone();
    shared.inject_always(Some("A"), FaultKind::Delay(Duration::from_millis(1)));
    for _ in 0..3 {
        assert_eq!(
            faults.take("A"),
            Some(FaultKind::Delay(Duration::from_millis(1)))
        );
    }
    faults.clear();
    assert_eq!(shared.take("A"), None);
}

// The HTTP edge, with a raw client.

struct RawResponse {
    status: u16,
    head: String,
    body: String,
}

/// Sends one request on a fresh connection and reads until the server closes it.
async fn raw(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Option<RawResponse> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    if response.is_empty() {
        return None;
    }
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Some(RawResponse {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    })
}

async fn emulator() -> Emulator {
    Emulator::start("127.0.0.1:0".parse().unwrap(), EmulatorConfig::default())
        .await
        .unwrap()
}

fn code_of(body: &str) -> &str {
    let start = body.find("<Code>").map(|at| at + "<Code>".len()).unwrap();
    let end = body.find("</Code>").unwrap();
    &body[start..end]
}

#[tokio::test]
async fn malformed_requests_get_query_faults() {
    let emulator = emulator().await;
    let addr = emulator.local_addr();
    let cases: [(&[u8], u16, &str); 6] = [
        (b"Version=2015-02-02", 400, "MissingAction"),
        (b"Action=DescribeCacheClusters", 400, "InvalidAction"),
        (b"Action=%C3%28", 404, "MalformedQueryString"),
        (
            b"Action=DescribeServerlessCaches&MaxResults=1e99",
            400,
            "InvalidParameterValue",
        ),
        (
            b"Action=CreateServerlessCache&Engine=valkey",
            400,
            "MissingParameter",
        ),
        (b"\xff\xfe\x00garbage", 404, "MalformedQueryString"),
    ];
    for (body, status, code) in cases {
        let response = raw(addr, "POST", "/", body).await.unwrap();
        assert_eq!((response.status, code_of(&response.body)), (status, code));
        assert!(response.head.contains("x-amzn-requestid: "));
        assert!(response.head.contains("content-type: text/xml"));
    }
    let too_big = vec![b'a'; super::http::MAX_BODY + 1];
    let response = raw(addr, "POST", "/", &too_big).await.unwrap();
    assert_eq!(response.status, 413);
    // Query APIs also answer GET with the parameters in the URL.
    let response = raw(
        addr,
        "GET",
        "/?Action=DescribeServerlessCaches&Version=2015-02-02",
        b"",
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        response
            .body
            .contains("<ServerlessCaches></ServerlessCaches>")
    );
    assert_eq!(emulator.total_calls(), 8);
    assert_eq!(emulator.calls("DescribeServerlessCaches"), 2);
    assert_eq!(emulator.calls("DescribeCacheClusters"), 0);
    emulator.shutdown();
}

#[tokio::test]
async fn control_surface_injects_faults_and_reports_calls() {
    let emulator = emulator().await;
    let addr = emulator.local_addr();
    let describe = b"Action=DescribeServerlessCaches&Version=2015-02-02";

    let ok = raw(
        addr,
        "POST",
        "/_emulator/faults",
        b"action=DescribeServerlessCaches&kind=error&code=ServerlessCacheNotFoundFault&times=1",
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.body);
    let injected = raw(addr, "POST", "/", describe).await.unwrap();
    assert_eq!(
        (injected.status, code_of(&injected.body)),
        (404, "ServerlessCacheNotFoundFault")
    );

    raw(addr, "POST", "/_emulator/faults", b"action=&kind=throttle")
        .await
        .unwrap();
    for _ in 0..2 {
        let throttled = raw(addr, "POST", "/", describe).await.unwrap();
        assert_eq!(
            (throttled.status, code_of(&throttled.body)),
            (400, "Throttling")
        );
    }
    raw(addr, "POST", "/_emulator/reset", b"").await.unwrap();
    assert_eq!(raw(addr, "POST", "/", describe).await.unwrap().status, 200);

    raw(addr, "POST", "/_emulator/faults", b"kind=drop&times=1")
        .await
        .unwrap();
    assert!(raw(addr, "POST", "/", describe).await.is_none());

    let bad = raw(addr, "POST", "/_emulator/faults", b"kind=explode")
        .await
        .unwrap();
    assert_eq!(bad.status, 400);
    let calls = raw(addr, "GET", "/_emulator/calls", b"").await.unwrap();
    assert!(
        calls.body.contains("DescribeServerlessCaches 5\n"),
        "{}",
        calls.body
    );
    assert!(calls.body.contains("CreateServerlessCache 0\n"));
    assert_eq!(calls.body.lines().count(), 9);
    assert_eq!(
        raw(addr, "GET", "/_emulator/nope", b"")
            .await
            .unwrap()
            .status,
        404
    );
    emulator.shutdown();
}

/// Long enough that nothing settles on its own: hold tests move the clock.
const SLOW: Duration = Duration::from_secs(3600);

async fn slow_emulator() -> Emulator {
    let config = EmulatorConfig {
        settle_time: SLOW,
        export_time: SLOW,
        ..EmulatorConfig::default()
    };
    Emulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

/// Sends one Query request (`Version` added) and returns its answer.
async fn query(emulator: &Emulator, params: &str) -> RawResponse {
    let body = format!("Version=2015-02-02&{params}");
    raw(emulator.local_addr(), "POST", "/", body.as_bytes())
        .await
        .unwrap()
}

/// Sends one Query request that must succeed and returns the first `<Status>` in its answer.
async fn status_after(emulator: &Emulator, params: &str) -> String {
    let response = query(emulator, params).await;
    assert_eq!(response.status, 200, "{params}: {}", response.body);
    let start = response.body.find("<Status>").unwrap() + "<Status>".len();
    let end = response.body.find("</Status>").unwrap();
    response.body[start..end].to_owned()
}

async fn cache_status(emulator: &Emulator, name: &str) -> String {
    let params = format!("Action=DescribeServerlessCaches&ServerlessCacheName={name}");
    status_after(emulator, &params).await
}

async fn snapshot_status_of(emulator: &Emulator, name: &str) -> String {
    let params =
        format!("Action=DescribeServerlessCacheSnapshots&ServerlessCacheSnapshotName={name}");
    status_after(emulator, &params).await
}

/// An `available` cache `c1` with `available` snapshots of `names`.
async fn available_snapshots(emulator: &Emulator, names: &[&str]) {
    status_after(
        emulator,
        "Action=CreateServerlessCache&ServerlessCacheName=c1&Engine=valkey",
    )
    .await;
    emulator.advance_clock(SLOW);
    for name in names {
        let params = format!(
            "Action=CreateServerlessCacheSnapshot&ServerlessCacheName=c1\
             &ServerlessCacheSnapshotName={name}"
        );
        assert_eq!(status_after(emulator, &params).await, "creating");
    }
    emulator.advance_clock(SLOW);
    for name in names {
        assert_eq!(snapshot_status_of(emulator, name).await, "available");
    }
}

#[tokio::test]
async fn held_snapshot_stays_exporting_until_released() {
    let emulator = slow_emulator().await;
    available_snapshots(&emulator, &["s1", "s2"]).await;
    emulator.hold("s1");
    for name in ["s1", "s2"] {
        let export = format!(
            "Action=ExportServerlessCacheSnapshot&ServerlessCacheSnapshotName={name}\
             &S3BucketName=my-bucket"
        );
        assert_eq!(status_after(&emulator, &export).await, "exporting");
    }
    emulator.advance_clock(SLOW * 2);
    // Past its export time, the held snapshot is still exporting; the other one is not held.
    assert_eq!(snapshot_status_of(&emulator, "s1").await, "exporting");
    assert_eq!(snapshot_status_of(&emulator, "s2").await, "available");
    assert_eq!(snapshot_status_of(&emulator, "s1").await, "exporting");
    emulator.release("s1");
    assert_eq!(snapshot_status_of(&emulator, "s1").await, "available");
    emulator.shutdown();
}

#[tokio::test]
async fn held_deleting_snapshot_stays_listed_until_released() {
    let emulator = slow_emulator().await;
    available_snapshots(&emulator, &["s1"]).await;
    emulator.hold("s1");
    let delete = "Action=DeleteServerlessCacheSnapshot&ServerlessCacheSnapshotName=s1";
    assert_eq!(status_after(&emulator, delete).await, "deleting");
    emulator.advance_clock(SLOW * 2);
    let listed = query(&emulator, "Action=DescribeServerlessCacheSnapshots").await;
    assert!(
        listed
            .body
            .contains("<ServerlessCacheSnapshotName>s1</ServerlessCacheSnapshotName>")
            && listed.body.contains("<Status>deleting</Status>"),
        "{}",
        listed.body
    );
    emulator.release_all();
    let gone = query(
        &emulator,
        "Action=DescribeServerlessCacheSnapshots&ServerlessCacheSnapshotName=s1",
    )
    .await;
    assert_eq!(
        (gone.status, code_of(&gone.body)),
        (404, "ServerlessCacheSnapshotNotFoundFault")
    );
    emulator.shutdown();
}

#[tokio::test]
async fn hold_placed_before_creation_keeps_a_cache_creating() {
    let emulator = slow_emulator().await;
    emulator.hold("c1");
    let create = "Action=CreateServerlessCache&ServerlessCacheName=c1&Engine=valkey";
    assert_eq!(status_after(&emulator, create).await, "creating");
    emulator.advance_clock(SLOW * 2);
    assert_eq!(cache_status(&emulator, "c1").await, "creating");
    let modify = query(
        &emulator,
        "Action=ModifyServerlessCache&ServerlessCacheName=c1&Description=x",
    )
    .await;
    assert_eq!(
        (modify.status, code_of(&modify.body)),
        (400, "InvalidServerlessCacheStateFault")
    );
    emulator.release("c1");
    assert_eq!(cache_status(&emulator, "c1").await, "available");
    emulator.shutdown();
}

#[tokio::test]
async fn control_surface_holds_and_releases() {
    let emulator = slow_emulator().await;
    let addr = emulator.local_addr();
    for body in [&b""[..], b"name=", b"other=c1"] {
        let refused = raw(addr, "POST", "/_emulator/hold", body).await.unwrap();
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.body.contains("name="), "{}", refused.body);
    }

    let create = |name: &str| {
        format!("Action=CreateServerlessCache&ServerlessCacheName={name}&Engine=valkey")
    };
    for name in ["c1", "c2", "c3", "c4"] {
        let held = raw(
            addr,
            "POST",
            "/_emulator/hold",
            format!("name={name}").as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(held.status, 200, "{}", held.body);
        status_after(&emulator, &create(name)).await;
    }
    emulator.advance_clock(SLOW * 2);
    for name in ["c1", "c2", "c3", "c4"] {
        assert_eq!(cache_status(&emulator, name).await, "creating", "{name}");
    }

    // One name…
    let released = raw(addr, "POST", "/_emulator/release", b"name=c1")
        .await
        .unwrap();
    assert_eq!(released.status, 200, "{}", released.body);
    assert_eq!(cache_status(&emulator, "c1").await, "available");
    assert_eq!(cache_status(&emulator, "c2").await, "creating");
    // …every name, with an empty one…
    let released = raw(addr, "POST", "/_emulator/release", b"name=")
        .await
        .unwrap();
    assert_eq!(released.status, 200, "{}", released.body);
    for name in ["c2", "c3", "c4"] {
        assert_eq!(cache_status(&emulator, name).await, "available", "{name}");
    }

    // …and with none, or by resetting.
    for (path, name) in [("/_emulator/release", "c5"), ("/_emulator/reset", "c6")] {
        emulator.hold(name);
        status_after(&emulator, &create(name)).await;
        emulator.advance_clock(SLOW * 2);
        assert_eq!(cache_status(&emulator, name).await, "creating", "{name}");
        let released = raw(addr, "POST", path, b"").await.unwrap();
        assert_eq!(released.status, 200, "{path}: {}", released.body);
        assert_eq!(cache_status(&emulator, name).await, "available", "{path}");
    }
    let unknown = raw(addr, "GET", "/_emulator/nope", b"").await.unwrap();
    assert!(
        unknown.body.contains("POST /_emulator/hold"),
        "{}",
        unknown.body
    );
    emulator.shutdown();
}

#[tokio::test]
async fn serve_returns_once_told_to_stop() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(super::serve(
        "127.0.0.1:0".parse().unwrap(),
        EmulatorConfig::default(),
        async {
            let _ = stopped.await;
        },
    ));
    // It serves until told to stop…
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        !server.is_finished(),
        "serve returned before it was told to stop"
    );
    // …and then returns Ok, promptly.
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(2), server)
        .await
        .expect("serve returns once told to stop")
        .unwrap()
        .expect("a clean stop");
}

#[tokio::test]
async fn shutdown_stops_accepting_and_cuts_off_hung_requests() {
    let (emulator, task) =
        super::server::start("127.0.0.1:0".parse().unwrap(), EmulatorConfig::default())
            .await
            .unwrap();
    emulator.faults().inject(None, FaultKind::Hang, 1);
    let hung = tokio::spawn(raw(
        emulator.local_addr(),
        "POST",
        "/",
        b"Action=DescribeServerlessCaches",
    ));
    while emulator.total_calls() == 0 {
        tokio::task::yield_now().await;
    }
    emulator.shutdown();
    assert!(hung.await.unwrap().is_none());
    task.await.unwrap();
    assert!(TcpStream::connect(emulator.local_addr()).await.is_err());
}
