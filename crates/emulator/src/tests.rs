//! Unit tests: wire shapes, parameter decoding, the state machine, fault rules, and the HTTP edge
//! (with a raw TCP client, so malformed requests can be sent).

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::{ApiError, Fault};
use super::model::{
    Authentication, Cache, CacheStatus, Range, RbacStatus, Snapshot, SnapshotStatus, UsageLimits,
    User, UserGroup,
};
use super::operations::Output;
use super::query::{Params, Tag};
use super::store::{
    CacheChanges, Clock, NewCache, NewUser, NewUserGroup, Page, PageRequest, Quotas, ResourceArn,
    SnapshotFilter, Store, TaggableKind, UserFilter, UserGroupChanges,
};
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
fn user_responses_carry_the_user_members_directly() {
    let user = User {
        id: "alice".into(),
        name: "alice".into(),
        status: RbacStatus::Active,
        engine: "valkey".into(),
        access_string: "on ~app::* +@read".into(),
        authentication: Authentication::Password(2),
        arn: "arn:aws:elasticache:us-east-1:123456789012:user:alice".into(),
        user_group_ids: vec!["g1".into()],
        tags: Vec::new(),
    };
    let output = Output::User(Box::new(user));
    let body = success_document("CreateUser", "req-4", |xml| output.write(xml));
    let expected = r#"
        <CreateUserResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
          <CreateUserResult>
            <UserId>alice</UserId>
            <UserName>alice</UserName>
            <Status>active</Status>
            <Engine>valkey</Engine>
            <MinimumEngineVersion>7.2</MinimumEngineVersion>
            <AccessString>on ~app::* +@read</AccessString>
            <UserGroupIds>
              <member>g1</member>
            </UserGroupIds>
            <Authentication>
              <Type>password</Type>
              <PasswordCount>2</PasswordCount>
            </Authentication>
            <ARN>arn:aws:elasticache:us-east-1:123456789012:user:alice</ARN>
          </CreateUserResult>
          <ResponseMetadata>
            <RequestId>req-4</RequestId>
          </ResponseMetadata>
        </CreateUserResponse>"#;
    assert_eq!(body, compact(expected));
}

#[test]
fn describe_user_groups_response_lists_members_and_the_marker() {
    let group = UserGroup {
        id: "g1".into(),
        status: RbacStatus::Deleting,
        engine: "redis".into(),
        user_ids: vec!["default".into(), "alice".into()],
        arn: "arn:aws:elasticache:us-east-1:123456789012:usergroup:g1".into(),
        serverless_caches: vec!["c1".into()],
        replication_groups: Vec::new(),
        tags: Vec::new(),
    };
    let output = Output::UserGroups(Page {
        items: vec![group],
        next_token: Some("g1-6731".into()),
    });
    let body = success_document("DescribeUserGroups", "req-5", |xml| output.write(xml));
    let expected = r#"
        <DescribeUserGroupsResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
          <DescribeUserGroupsResult>
            <UserGroups>
              <member>
                <UserGroupId>g1</UserGroupId>
                <Status>deleting</Status>
                <Engine>redis</Engine>
                <UserIds>
                  <member>default</member>
                  <member>alice</member>
                </UserIds>
                <MinimumEngineVersion>6.0</MinimumEngineVersion>
                <ReplicationGroups></ReplicationGroups>
                <ServerlessCaches>
                  <member>c1</member>
                </ServerlessCaches>
                <ARN>arn:aws:elasticache:us-east-1:123456789012:usergroup:g1</ARN>
              </member>
            </UserGroups>
            <Marker>g1-6731</Marker>
          </DescribeUserGroupsResult>
          <ResponseMetadata>
            <RequestId>req-5</RequestId>
          </ResponseMetadata>
        </DescribeUserGroupsResponse>"#;
    assert_eq!(body, compact(expected));

    let users = Output::Users(Page {
        items: Vec::new(),
        next_token: None,
    });
    let body = success_document("DescribeUsers", "r", |xml| users.write(xml));
    assert!(body.contains("<DescribeUsersResult><Users></Users></DescribeUsersResult>"));
}

#[test]
fn tag_lists_use_tag_items() {
    let output = Output::Tags(vec![
        Tag {
            key: "team".into(),
            value: Some("a&b".into()),
        },
        Tag {
            key: "solo".into(),
            value: None,
        },
    ]);
    let body = success_document("ListTagsForResource", "r", |xml| output.write(xml));
    assert!(body.contains(
        "<ListTagsForResourceResult><TagList>\
         <Tag><Key>team</Key><Value>a&amp;b</Value></Tag>\
         <Tag><Key>solo</Key></Tag>\
         </TagList></ListTagsForResourceResult>"
    ));
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
        (Fault::InvalidArn, "InvalidARN", 400),
        (Fault::TagNotFound, "TagNotFound", 404),
        (Fault::UserNotFound, "UserNotFound", 404),
        (Fault::UserAlreadyExists, "UserAlreadyExists", 400),
        (Fault::DuplicateUserName, "DuplicateUserName", 400),
        (Fault::UserQuotaExceeded, "UserQuotaExceeded", 400),
        (Fault::InvalidUserState, "InvalidUserState", 400),
        (
            Fault::DefaultUserAssociatedToUserGroup,
            "DefaultUserAssociatedToUserGroup",
            400,
        ),
        (Fault::DefaultUserRequired, "DefaultUserRequired", 400),
        (Fault::UserGroupAlreadyExists, "UserGroupAlreadyExists", 400),
        (Fault::UserGroupQuotaExceeded, "UserGroupQuotaExceeded", 400),
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
            ..Quotas::default()
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

fn tag(key: &str, value: Option<&str>) -> Tag {
    Tag {
        key: key.into(),
        value: value.map(str::to_owned),
    }
}

fn resource(kind: TaggableKind, name: &str) -> ResourceArn {
    ResourceArn {
        arn: format!("arn:aws:elasticache:us-east-1:123456789012:{kind:?}:{name}"),
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        kind,
        name: name.into(),
    }
}

#[test]
fn tags_by_arn_are_added_replaced_and_removed() {
    let start = Instant::now();
    let mut store = store();
    let t0 = clock(start, Duration::ZERO);
    let tagged = NewCache {
        tags: vec![tag("team", Some("core"))],
        ..new_cache("c1")
    };
    store.create_cache(tagged, t0).unwrap();
    let cache = resource(TaggableKind::ServerlessCache, "c1");
    // Tags given at creation are listed.
    assert_eq!(
        store.list_tags(&cache).unwrap(),
        [tag("team", Some("core"))]
    );
    // An existing key gets the new value; new keys are appended.
    let tags = store
        .add_tags(&cache, vec![tag("team", Some("edge")), tag("env", None)])
        .unwrap();
    assert_eq!(tags, [tag("team", Some("edge")), tag("env", None)]);

    // One past the quota is refused and changes nothing; up to it is fine.
    let many = |n: usize| (0..n).map(|i| tag(&format!("k{i}"), None)).collect();
    let err = store.add_tags(&cache, many(49)).unwrap_err();
    assert_eq!(err.fault, Fault::TagQuotaPerResourceExceeded);
    assert_eq!(store.list_tags(&cache).unwrap().len(), 2);
    assert_eq!(store.add_tags(&cache, many(48)).unwrap().len(), 50);

    // Removing a key the resource lacks is refused, and removes nothing.
    let err = store
        .remove_tags(&cache, &["team".into(), "nope".into()])
        .unwrap_err();
    assert_eq!(err.fault, Fault::TagNotFound);
    assert_eq!(store.list_tags(&cache).unwrap().len(), 50);
    let left = store.remove_tags(&cache, &["team".into()]).unwrap();
    assert_eq!(left.len(), 49);
    assert!(left.iter().all(|tag| tag.key != "team"));

    // Snapshots, whose names match exactly.
    let t1 = clock(start, SETTLE);
    store.tick(t1.now);
    store
        .create_snapshot("Snap".into(), "c1", None, vec![tag("a", Some("1"))], t1)
        .unwrap();
    let snapshot = resource(TaggableKind::ServerlessCacheSnapshot, "Snap");
    assert_eq!(store.list_tags(&snapshot).unwrap(), [tag("a", Some("1"))]);
    let other_case = resource(TaggableKind::ServerlessCacheSnapshot, "snap");
    assert_eq!(
        store.list_tags(&other_case).unwrap_err().fault,
        Fault::ServerlessCacheSnapshotNotFound
    );

    // Users and user groups, and what does not exist.
    let default_user = resource(TaggableKind::User, "default");
    assert_eq!(store.list_tags(&default_user).unwrap(), []);
    store
        .add_tags(&default_user, vec![tag("k", Some("v"))])
        .unwrap();
    assert_eq!(
        store.list_tags(&default_user).unwrap(),
        [tag("k", Some("v"))]
    );
    for (kind, fault) in [
        (
            TaggableKind::ServerlessCache,
            Fault::ServerlessCacheNotFound,
        ),
        (
            TaggableKind::ServerlessCacheSnapshot,
            Fault::ServerlessCacheSnapshotNotFound,
        ),
        (TaggableKind::User, Fault::UserNotFound),
        (TaggableKind::UserGroup, Fault::UserGroupNotFound),
        (
            TaggableKind::ReservedCacheNode,
            Fault::ReservedCacheNodeNotFound,
        ),
    ] {
        let missing = resource(kind, "ghost");
        assert_eq!(
            store.list_tags(&missing).unwrap_err().fault,
            fault,
            "{kind:?}"
        );
    }
    // Another account's or region's resource is not one of ours.
    let foreign = ResourceArn {
        account_id: "999999999999".into(),
        ..cache.clone()
    };
    assert_eq!(
        store.list_tags(&foreign).unwrap_err().fault,
        Fault::InvalidArn
    );
    let elsewhere = ResourceArn {
        region: "eu-west-1".into(),
        ..cache
    };
    assert_eq!(
        store.add_tags(&elsewhere, Vec::new()).unwrap_err().fault,
        Fault::InvalidArn
    );
}

fn new_user(id: &str, name: &str) -> NewUser {
    NewUser {
        id: id.into(),
        name: name.into(),
        engine: "redis".into(),
        access_string: "on ~* +@all".into(),
        authentication: Authentication::Password(1),
        tags: Vec::new(),
    }
}

fn new_group(id: &str, user_ids: &[&str]) -> NewUserGroup {
    NewUserGroup {
        id: id.into(),
        engine: "valkey".into(),
        user_ids: user_ids.iter().map(|&id| id.to_owned()).collect(),
        tags: Vec::new(),
    }
}

fn describe_user(store: &Store, id: &str) -> Result<User, ApiError> {
    let filter = UserFilter {
        user_id: Some(id.into()),
        ..UserFilter::default()
    };
    let mut page = store.describe_users(&filter, &first_page())?;
    Ok(page.items.remove(0))
}

fn describe_group(store: &Store, id: &str) -> Result<UserGroup, ApiError> {
    let mut page = store.describe_user_groups(Some(id), &first_page())?;
    Ok(page.items.remove(0))
}

#[test]
fn users_and_user_groups_follow_the_rbac_rules() {
    let mut store = store();
    // Every account has the default user.
    let default_user = describe_user(&store, "default").unwrap();
    assert_eq!(
        (
            default_user.name.as_str(),
            default_user.engine.as_str(),
            default_user.status,
            default_user.authentication,
        ),
        (
            "default",
            "redis",
            RbacStatus::Active,
            Authentication::NoPassword
        )
    );
    assert_eq!(
        default_user.arn,
        "arn:aws:elasticache:us-east-1:123456789012:user:default"
    );

    let alice = store.create_user(new_user("alice", "alice")).unwrap();
    assert_eq!(alice.status, RbacStatus::Active);
    let err = store.create_user(new_user("alice", "other")).unwrap_err();
    assert_eq!(err.fault, Fault::UserAlreadyExists);
    let err = store.create_user(new_user("alice2", "alice")).unwrap_err();
    assert_eq!(err.fault, Fault::DuplicateUserName);
    // More users may be named default: that is how a group's default user is replaced.
    store
        .create_user(new_user("new-default", "default"))
        .unwrap();

    // Groups need existing users, one of them named default, and distinct user names.
    let err = store
        .create_user_group(new_group("g1", &["alice"]))
        .unwrap_err();
    assert_eq!(err.fault, Fault::DefaultUserRequired);
    let err = store.create_user_group(new_group("g1", &[])).unwrap_err();
    assert_eq!(err.fault, Fault::DefaultUserRequired);
    let err = store
        .create_user_group(new_group("g1", &["default", "ghost"]))
        .unwrap_err();
    assert_eq!(err.fault, Fault::UserNotFound);
    let err = store
        .create_user_group(new_group("g1", &["default", "new-default"]))
        .unwrap_err();
    assert_eq!(err.fault, Fault::DuplicateUserName);
    let group = store
        .create_user_group(new_group("g1", &["default", "alice"]))
        .unwrap();
    assert_eq!(
        (group.status, group.user_ids.clone()),
        (
            RbacStatus::Active,
            vec!["default".to_owned(), "alice".to_owned()]
        )
    );
    assert_eq!(
        group.arn,
        "arn:aws:elasticache:us-east-1:123456789012:usergroup:g1"
    );
    let err = store
        .create_user_group(new_group("g1", &["default"]))
        .unwrap_err();
    assert_eq!(err.fault, Fault::UserGroupAlreadyExists);
    assert_eq!(
        describe_user(&store, "alice").unwrap().user_group_ids,
        ["g1"]
    );

    // Modifications: the group must keep a default user.
    let change = |add: &[&str], remove: &[&str]| UserGroupChanges {
        id: "g1".into(),
        user_ids_to_add: add.iter().map(|&id| id.to_owned()).collect(),
        user_ids_to_remove: remove.iter().map(|&id| id.to_owned()).collect(),
        engine: None,
    };
    let err = store
        .modify_user_group(change(&[], &["default"]))
        .unwrap_err();
    assert_eq!(err.fault, Fault::DefaultUserRequired);
    let err = store
        .modify_user_group(change(&["alice"], &[]))
        .unwrap_err();
    assert_eq!(err.fault, Fault::InvalidParameterValue);
    let err = store
        .modify_user_group(change(&["ghost"], &[]))
        .unwrap_err();
    assert_eq!(err.fault, Fault::UserNotFound);
    let err = store
        .modify_user_group(UserGroupChanges {
            id: "ghost".into(),
            ..change(&["alice"], &[])
        })
        .unwrap_err();
    assert_eq!(err.fault, Fault::UserGroupNotFound);
    let swapped = store
        .modify_user_group(change(&["new-default"], &["default"]))
        .unwrap();
    assert_eq!(swapped.user_ids, ["alice", "new-default"]);
    assert_eq!(
        describe_group(&store, "g1").unwrap().user_ids,
        ["alice", "new-default"]
    );
    assert!(
        describe_user(&store, "default")
            .unwrap()
            .user_group_ids
            .is_empty()
    );

    // Deleting: a user named default that a group holds stays; the built-in one always does;
    // others leave their groups.
    let err = store.delete_user("new-default").unwrap_err();
    assert_eq!(err.fault, Fault::DefaultUserAssociatedToUserGroup);
    let err = store.delete_user("default").unwrap_err();
    assert_eq!(err.fault, Fault::InvalidParameterValue);
    let deleted = store.delete_user("alice").unwrap();
    assert_eq!(
        (deleted.status, deleted.user_group_ids),
        (RbacStatus::Deleting, vec!["g1".to_owned()])
    );
    assert_eq!(
        describe_group(&store, "g1").unwrap().user_ids,
        ["new-default"]
    );
    assert_eq!(
        describe_user(&store, "alice").unwrap_err().fault,
        Fault::UserNotFound
    );
    assert_eq!(
        store.delete_user("alice").unwrap_err().fault,
        Fault::UserNotFound
    );

    let deleted = store.delete_user_group("g1").unwrap();
    assert_eq!(deleted.status, RbacStatus::Deleting);
    assert_eq!(
        describe_group(&store, "g1").unwrap_err().fault,
        Fault::UserGroupNotFound
    );
    // With its group gone, the replacement default user can go too.
    store.delete_user("new-default").unwrap();
}

#[test]
fn user_describes_filter_and_page_with_markers() {
    let mut store = store();
    for i in 0..5 {
        let mut user = new_user(&format!("u{i}"), &format!("user {i}"));
        if i % 2 == 0 {
            user.engine = "valkey".into();
        }
        store.create_user(user).unwrap();
    }
    let valkey = UserFilter {
        engine: Some("valkey".into()),
        ..UserFilter::default()
    };
    let ids = |page: Page<User>| page.items.into_iter().map(|u| u.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.describe_users(&valkey, &first_page()).unwrap()),
        ["u0", "u2", "u4"]
    );
    let by_filters = UserFilter {
        user_id_filters: vec![vec!["u1".into(), "u3".into(), "default".into()]],
        ..UserFilter::default()
    };
    assert_eq!(
        ids(store.describe_users(&by_filters, &first_page()).unwrap()),
        ["default", "u1", "u3"]
    );

    let mut request = PageRequest {
        next_token: None,
        max_results: 4,
    };
    let first = store
        .describe_users(&UserFilter::default(), &request)
        .unwrap();
    let token = first.next_token.clone().unwrap();
    assert!(token.starts_with("u1-"), "{token}");
    assert_eq!(ids(first), ["default", "u0", "u1", "u2"]);
    request.next_token = Some(token);
    let second = store
        .describe_users(&UserFilter::default(), &request)
        .unwrap();
    assert_eq!(second.next_token, None);
    assert_eq!(ids(second), ["u3", "u4"]);
    // A token from another Describe is refused, naming Marker.
    request.next_token = Some("c1-61".into());
    let err = store
        .describe_users(&UserFilter::default(), &request)
        .unwrap_err();
    assert_eq!(err.fault, Fault::InvalidParameterValue);
    assert!(err.message.contains("Marker"), "{}", err.message);
    let err = store
        .describe_user_groups(Some("ghost"), &first_page())
        .unwrap_err();
    assert_eq!(err.fault, Fault::UserGroupNotFound);
}

#[test]
fn user_groups_list_the_serverless_caches_using_them() {
    let start = Instant::now();
    let mut store = store();
    let t0 = clock(start, Duration::ZERO);
    let with_group = |name: &str, group: &str| NewCache {
        user_group_id: Some(group.into()),
        ..new_cache(name)
    };
    let err = store.create_cache(with_group("c1", "g1"), t0).unwrap_err();
    assert_eq!(err.fault, Fault::UserGroupNotFound);
    store
        .create_user_group(new_group("g1", &["default"]))
        .unwrap();
    store
        .create_user_group(new_group("g2", &["default"]))
        .unwrap();
    let cache = store.create_cache(with_group("c1", "g1"), t0).unwrap();
    assert_eq!(cache.user_group_id.as_deref(), Some("g1"));
    store.create_cache(new_cache("c2"), t0).unwrap();
    assert_eq!(
        describe_group(&store, "g1").unwrap().serverless_caches,
        ["c1"]
    );
    let err = store.delete_user_group("g1").unwrap_err();
    assert_eq!(err.fault, Fault::InvalidUserGroupState);

    let t1 = clock(start, SETTLE);
    store.tick(t1.now);
    let to_group = |name: &str, group: &str| CacheChanges {
        name: name.into(),
        user_group_id: Some(group.into()),
        ..CacheChanges::default()
    };
    let err = store.modify_cache(to_group("c2", "ghost"), t1).unwrap_err();
    assert_eq!(err.fault, Fault::UserGroupNotFound);
    // The unknown cache is reported before the unknown group.
    let err = store
        .modify_cache(to_group("nope", "ghost"), t1)
        .unwrap_err();
    assert_eq!(err.fault, Fault::ServerlessCacheNotFound);
    store.modify_cache(to_group("c2", "g1"), t1).unwrap();
    assert_eq!(
        describe_group(&store, "g1").unwrap().serverless_caches,
        ["c1", "c2"]
    );

    let t2 = clock(start, SETTLE * 2);
    store.tick(t2.now);
    let removal = CacheChanges {
        name: "c1".into(),
        remove_user_group: true,
        ..CacheChanges::default()
    };
    store.modify_cache(removal, t2).unwrap();
    store.modify_cache(to_group("c2", "g2"), t2).unwrap();
    assert!(
        describe_group(&store, "g1")
            .unwrap()
            .serverless_caches
            .is_empty()
    );
    assert_eq!(
        describe_group(&store, "g2").unwrap().serverless_caches,
        ["c2"]
    );
    store.delete_user_group("g1").unwrap();

    // A deleted cache stops counting once it is gone.
    let t3 = clock(start, SETTLE * 3);
    store.tick(t3.now);
    store.delete_cache("c2", None, t3).unwrap();
    store.tick(t3.now + SETTLE);
    assert!(
        describe_group(&store, "g2")
            .unwrap()
            .serverless_caches
            .is_empty()
    );
    store.delete_user_group("g2").unwrap();
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
/// POSTs an AWS request; answers the status and body.
pub(crate) async fn raw_post(addr: SocketAddr, body: &[u8]) -> (u16, String) {
    let response = raw(addr, "POST", "/", body).await.unwrap();
    (response.status, response.body)
}

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

/// The text of the first `<name>` element of a document.
fn element_text<'a>(body: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let start = body.find(&open).map(|at| at + open.len()).unwrap();
    let end = start + body[start..].find(&format!("</{name}>")).unwrap();
    &body[start..end]
}

fn code_of(body: &str) -> &str {
    element_text(body, "Code")
}

fn message_of(body: &str) -> &str {
    element_text(body, "Message")
}

#[tokio::test]
async fn malformed_requests_get_query_faults() {
    let emulator = emulator().await;
    let addr = emulator.local_addr();
    let cases: [(&[u8], u16, &str); 6] = [
        (b"Version=2015-02-02", 400, "MissingAction"),
        (b"Action=DescribeEverything", 400, "InvalidAction"),
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
    // An action the emulator does not serve is named in the message.
    let unserved = raw(addr, "POST", "/", b"Action=DescribeEverything")
        .await
        .unwrap();
    assert_eq!(
        message_of(&unserved.body),
        "The elasticache-grpc emulator does not implement the action DescribeEverything"
    );
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
    assert_eq!(emulator.total_calls(), 9);
    assert_eq!(emulator.calls("DescribeServerlessCaches"), 2);
    assert_eq!(emulator.calls("DescribeEverything"), 0);
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
    assert!(calls.body.contains("CreateUserGroup 0\n"), "{}", calls.body);
    // Every ElastiCache action, then STS AssumeRole.
    assert_eq!(
        calls.body.lines().count(),
        super::operations::ACTIONS.len() + 1
    );
    assert!(calls.body.ends_with("AssumeRole 0\n"), "{}", calls.body);
    assert_eq!(super::operations::ACTIONS.len(), 77);
    assert_eq!(
        raw(addr, "GET", "/_emulator/nope", b"")
            .await
            .unwrap()
            .status,
        404
    );
    emulator.shutdown();
}

#[tokio::test]
async fn rbac_and_tag_parameters_are_validated() {
    let emulator = emulator().await;
    const USER: &str = "Action=CreateUser&UserId=u1&UserName=u1&Engine=redis&AccessString=on";
    const PASSWORD: &str = "0123456789abcdef";
    const DEFAULT_ARN: &str = "arn:aws:elasticache:us-east-1:123456789012:user:default";
    let cases = [
        (
            format!("{USER}&Passwords.member.1={PASSWORD}&NoPasswordRequired=true"),
            400,
            "InvalidParameterCombination",
        ),
        (USER.to_owned(), 400, "InvalidParameterValue"),
        (
            format!("{USER}&Passwords.member.1=short"),
            400,
            "InvalidParameterValue",
        ),
        (
            format!(
                "{USER}&Passwords.member.1={PASSWORD}&Passwords.member.2={PASSWORD}\
                 &Passwords.member.3={PASSWORD}"
            ),
            400,
            "InvalidParameterValue",
        ),
        (
            format!("{USER}&AuthenticationMode.Type=iam&NoPasswordRequired=true"),
            400,
            "InvalidParameterCombination",
        ),
        (
            format!("{USER}&AuthenticationMode.Type=password"),
            400,
            "MissingParameter",
        ),
        (
            format!("{USER}&AuthenticationMode.Type=magic"),
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=CreateUser&UserId=u1&UserName=bob&Engine=redis&AccessString=on\
             &AuthenticationMode.Type=iam"
                .to_owned(),
            400,
            "InvalidParameterCombination",
        ),
        (
            "Action=CreateUser&UserId=1u&UserName=u&Engine=redis&AccessString=on\
             &NoPasswordRequired=true"
                .to_owned(),
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=CreateUser&UserId=u1&UserName=u&Engine=memcached&AccessString=on\
             &NoPasswordRequired=true"
                .to_owned(),
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=CreateUser&UserId=u1&UserName=u&Engine=redis&AccessString=+\
             &NoPasswordRequired=true"
                .to_owned(),
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=DescribeUsers&MaxRecords=19".to_owned(),
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=DescribeUsers&MaxRecords=101".to_owned(),
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=DescribeUsers&Filters.member.1.Name=colour\
             &Filters.member.1.Values.member.1=red"
                .to_owned(),
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=DescribeUsers&Filters.member.1.Name=user-id".to_owned(),
            400,
            "MissingParameter",
        ),
        (
            "Action=DescribeUsers&UserId=ghost".to_owned(),
            404,
            "UserNotFound",
        ),
        (
            "Action=DescribeUserGroups&MaxRecords=5".to_owned(),
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=ModifyUserGroup&UserGroupId=g1".to_owned(),
            400,
            "InvalidParameterCombination",
        ),
        (
            "Action=ModifyUserGroup&UserGroupId=g1&UserIdsToAdd.member.1=a\
             &UserIdsToRemove.member.1=A"
                .to_owned(),
            400,
            "InvalidParameterCombination",
        ),
        (
            "Action=CreateUserGroup&UserGroupId=g1&Engine=valkey&UserIds=".to_owned(),
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=CreateUserGroup&UserGroupId=g1&Engine=memcached\
             &UserIds.member.1=default"
                .to_owned(),
            400,
            "InvalidParameterValue",
        ),
        (
            "Action=ListTagsForResource&ResourceName=nope".to_owned(),
            400,
            "InvalidARN",
        ),
        (
            "Action=ListTagsForResource\
             &ResourceName=arn:aws:elasticache:us-east-1:123456789012:securitygroup:c1"
                .to_owned(),
            400,
            "InvalidARN",
        ),
        (
            "Action=ListTagsForResource&ResourceName=arn:aws:s3:::bucket".to_owned(),
            400,
            "InvalidARN",
        ),
        (
            "Action=ListTagsForResource\
             &ResourceName=arn:aws:elasticache:us-east-1:123456789012:serverlesscache:"
                .to_owned(),
            400,
            "InvalidARN",
        ),
        (
            "Action=ListTagsForResource\
             &ResourceName=arn:aws:elasticache:eu-west-1:123456789012:serverlesscache:c1"
                .to_owned(),
            400,
            "InvalidARN",
        ),
        (
            "Action=ListTagsForResource\
             &ResourceName=arn:aws:elasticache:us-east-1:123456789012:serverlesscache:nope"
                .to_owned(),
            404,
            "ServerlessCacheNotFoundFault",
        ),
        (
            format!("Action=AddTagsToResource&ResourceName={DEFAULT_ARN}"),
            400,
            "MissingParameter",
        ),
        (
            format!("Action=RemoveTagsFromResource&ResourceName={DEFAULT_ARN}"),
            400,
            "MissingParameter",
        ),
        (
            format!("Action=RemoveTagsFromResource&ResourceName={DEFAULT_ARN}&TagKeys.member.1=k"),
            404,
            "TagNotFound",
        ),
    ];
    for (params, status, code) in &cases {
        let response = query(&emulator, params).await;
        assert_eq!(
            (response.status, code_of(&response.body)),
            (*status, *code),
            "{params}: {}",
            response.body
        );
    }

    // What is valid goes through, the user-id filter and ids in any case included.
    let created = query(
        &emulator,
        &format!("Action=CreateUser&UserId=Bob&UserName=bob&Engine=Valkey&AccessString=on\
                  &AuthenticationMode.Type=password&AuthenticationMode.Passwords.member.1={PASSWORD}"),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(
        created
            .body
            .contains("<CreateUserResult><UserId>bob</UserId>"),
        "{}",
        created.body
    );
    assert!(
        created.body.contains("<Engine>valkey</Engine>"),
        "{}",
        created.body
    );
    assert!(
        created.body.contains("<PasswordCount>1</PasswordCount>"),
        "{}",
        created.body
    );
    let filtered = query(
        &emulator,
        "Action=DescribeUsers&Filters.member.1.Name=user-id&Filters.member.1.Values.member.1=BOB",
    )
    .await;
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert_eq!(
        filtered.body.matches("<UserId>").count(),
        1,
        "{}",
        filtered.body
    );
    assert!(filtered.body.contains("<UserId>bob</UserId>"));

    // A control reset keeps (or brings back) the default user.
    raw(emulator.local_addr(), "POST", "/_emulator/reset", b"")
        .await
        .unwrap();
    let default_user = query(&emulator, "Action=DescribeUsers&UserId=default").await;
    assert_eq!(default_user.status, 200, "{}", default_user.body);
    assert!(default_user.body.contains("<UserName>default</UserName>"));
    assert!(default_user.body.contains("<Type>no-password</Type>"));
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

#[test]
fn every_operation_of_the_model_is_answered() {
    let model = include_str!("../../../model/elasticache-2015-02-02.json");
    assert_eq!(model.matches("\"http\":{").count(), 77);
    assert_eq!(super::operations::ACTIONS.len(), 77);
    for action in &super::operations::ACTIONS {
        let declared = format!("\"{0}\":{{\n      \"name\":\"{0}\"", action.name);
        assert!(
            model.contains(&declared),
            "{} is not an operation of the model",
            action.name
        );
    }
}
