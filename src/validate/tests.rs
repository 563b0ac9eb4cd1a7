//! DESIGN §4, rule by rule: each rule with requests it accepts and requests it refuses.

use tonic_types::StatusExt;

use super::*;

/// The fields named by the violations of `result`, in order; empty when it passed.
fn fields(result: Result<(), Violations>) -> Vec<String> {
    match result {
        Ok(()) => Vec::new(),
        Err(v) => v.list().iter().map(|v| v.field.clone()).collect(),
    }
}

fn export(snapshot: &str, bucket: &str) -> pb::ExportServerlessCacheSnapshotRequest {
    pb::ExportServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: snapshot.into(),
        s3_bucket_name: bucket.into(),
    }
}

fn create_cache(name: &str) -> pb::CreateServerlessCacheRequest {
    pb::CreateServerlessCacheRequest {
        serverless_cache_name: name.into(),
        engine: "valkey".into(),
        ..Default::default()
    }
}

fn usage_limits(unit: Option<i32>) -> pb::CacheUsageLimits {
    pb::CacheUsageLimits {
        data_storage: Some(pb::DataStorage {
            maximum: Some(10),
            minimum: Some(1),
            unit,
        }),
        ecpu_per_second: Some(pb::EcpuPerSecond {
            maximum: Some(5000),
            minimum: Some(1000),
        }),
    }
}

fn tag() -> pb::Tag {
    pb::Tag {
        key: Some("team".into()),
        value: Some("platform".into()),
    }
}

// ---- required fields --------------------------------------------------------------------------

#[test]
fn empty_requests_name_every_required_field() {
    let cases: Vec<(&str, Vec<String>, &[&str])> = vec![
        (
            "Export",
            fields(pb::ExportServerlessCacheSnapshotRequest::default().validate()),
            &["serverless_cache_snapshot_name", "s3_bucket_name"],
        ),
        (
            "CreateSnapshot",
            fields(pb::CreateServerlessCacheSnapshotRequest::default().validate()),
            &["serverless_cache_snapshot_name", "serverless_cache_name"],
        ),
        (
            "DescribeSnapshots",
            fields(pb::DescribeServerlessCacheSnapshotsRequest::default().validate()),
            &[],
        ),
        (
            "Copy",
            fields(pb::CopyServerlessCacheSnapshotRequest::default().validate()),
            &[
                "source_serverless_cache_snapshot_name",
                "target_serverless_cache_snapshot_name",
            ],
        ),
        (
            "DeleteSnapshot",
            fields(pb::DeleteServerlessCacheSnapshotRequest::default().validate()),
            &["serverless_cache_snapshot_name"],
        ),
        (
            "CreateCache",
            fields(pb::CreateServerlessCacheRequest::default().validate()),
            &["serverless_cache_name", "engine"],
        ),
        (
            "DescribeCaches",
            fields(pb::DescribeServerlessCachesRequest::default().validate()),
            &[],
        ),
        (
            "Modify",
            fields(pb::ModifyServerlessCacheRequest::default().validate()),
            &["serverless_cache_name"],
        ),
        (
            "DeleteCache",
            fields(pb::DeleteServerlessCacheRequest::default().validate()),
            &["serverless_cache_name"],
        ),
    ];
    for (op, got, want) in cases {
        assert_eq!(got, want, "{op}");
    }
}

#[test]
fn a_missing_field_is_reported_once_as_required() {
    let err = pb::DeleteServerlessCacheSnapshotRequest::default()
        .validate()
        .unwrap_err();
    assert_eq!(err.list().len(), 1, "{:?}", err.list());
    assert_eq!(err.list()[0].description, "is required");
}

#[test]
fn fully_populated_valid_requests_pass() {
    let results = [
        export("snap-1", "my-bucket").validate(),
        pb::CreateServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: "snap-1".into(),
            serverless_cache_name: "cache-1".into(),
            kms_key_id: Some("kms".into()),
            tags: vec![tag()],
        }
        .validate(),
        pb::DescribeServerlessCacheSnapshotsRequest {
            serverless_cache_name: Some("cache-1".into()),
            serverless_cache_snapshot_name: Some("snap-1".into()),
            snapshot_type: Some("manual".into()),
            next_token: Some("tok".into()),
            max_results: Some(50),
        }
        .validate(),
        pb::CopyServerlessCacheSnapshotRequest {
            request_id: None,
            source_serverless_cache_snapshot_name: "snap-1".into(),
            target_serverless_cache_snapshot_name: "snap-2".into(),
            kms_key_id: Some("kms".into()),
            tags: vec![tag()],
        }
        .validate(),
        pb::DeleteServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: "snap-1".into(),
        }
        .validate(),
        pb::CreateServerlessCacheRequest {
            request_id: None,
            serverless_cache_name: "cache-1".into(),
            description: Some("d".into()),
            engine: "valkey".into(),
            major_engine_version: Some("8".into()),
            cache_usage_limits: Some(usage_limits(Some(pb::DataStorageUnit::Gb as i32))),
            kms_key_id: Some("kms".into()),
            security_group_ids: vec!["sg-1".into()],
            snapshot_arns_to_restore: vec!["arn:aws:elasticache:::snap".into()],
            tags: vec![tag()],
            user_group_id: Some("ug".into()),
            subnet_ids: vec!["subnet-1".into()],
            snapshot_retention_limit: Some(7),
            daily_snapshot_time: Some("04:00".into()),
            network_type: Some(pb::NetworkType::DualStack as i32),
            connection_type: Some(pb::ConnectionType::Public as i32),
        }
        .validate(),
        pb::DescribeServerlessCachesRequest {
            serverless_cache_name: Some("cache-1".into()),
            max_results: Some(100),
            next_token: Some("tok".into()),
        }
        .validate(),
        pb::ModifyServerlessCacheRequest {
            request_id: None,
            serverless_cache_name: "cache-1".into(),
            description: Some("d".into()),
            cache_usage_limits: Some(usage_limits(Some(pb::DataStorageUnit::Gb as i32))),
            remove_user_group: Some(true),
            user_group_id: Some("ug".into()),
            security_group_ids: vec!["sg-1".into()],
            snapshot_retention_limit: Some(0),
            daily_snapshot_time: Some("04:00".into()),
            engine: Some("redis".into()),
            major_engine_version: Some("7".into()),
        }
        .validate(),
        pb::DeleteServerlessCacheRequest {
            request_id: None,
            serverless_cache_name: "cache-1".into(),
            final_snapshot_name: Some("final".into()),
        }
        .validate(),
    ];
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(fields(r), Vec::<String>::new(), "request #{i}");
    }
}

// ---- serverless cache names -------------------------------------------------------------------

#[test]
fn cache_names_accepted() {
    let forty = format!("a{}", "b".repeat(39));
    for name in [
        "a",
        "A",
        "cache",
        "my-cache-1",
        "Mixed-Case-9",
        "a1",
        "x-y-z",
        forty.as_str(),
    ] {
        assert_eq!(check_cache_name(name), Ok(()), "{name:?}");
    }
}

#[test]
fn cache_names_refused() {
    let forty_one = "a".repeat(41);
    for name in [
        "",
        forty_one.as_str(),
        "1cache",
        "-cache",
        "my_cache",
        "my.cache",
        "my cache",
        "my--cache",
        "cache-",
        "a-",
        "écache",
        "cachè",
    ] {
        assert!(check_cache_name(name).is_err(), "{name:?} accepted");
    }
}

#[test]
fn cache_name_rule_applies_to_every_cache_name_field() {
    let bad = "bad--name";
    assert_eq!(
        fields(create_cache(bad).validate()),
        ["serverless_cache_name"]
    );
    assert_eq!(
        fields(
            pb::CreateServerlessCacheSnapshotRequest {
                serverless_cache_snapshot_name: "snap".into(),
                serverless_cache_name: bad.into(),
                ..Default::default()
            }
            .validate()
        ),
        ["serverless_cache_name"]
    );
    assert_eq!(
        fields(
            pb::ModifyServerlessCacheRequest {
                serverless_cache_name: bad.into(),
                ..Default::default()
            }
            .validate()
        ),
        ["serverless_cache_name"]
    );
    assert_eq!(
        fields(
            pb::DeleteServerlessCacheRequest {
                serverless_cache_name: bad.into(),
                ..Default::default()
            }
            .validate()
        ),
        ["serverless_cache_name"]
    );
    // Optional filters: checked when present, including present but empty.
    for filter in [Some(bad), Some("")] {
        assert_eq!(
            fields(
                pb::DescribeServerlessCachesRequest {
                    serverless_cache_name: filter.map(Into::into),
                    ..Default::default()
                }
                .validate()
            ),
            ["serverless_cache_name"],
            "{filter:?}"
        );
        assert_eq!(
            fields(
                pb::DescribeServerlessCacheSnapshotsRequest {
                    serverless_cache_name: filter.map(Into::into),
                    ..Default::default()
                }
                .validate()
            ),
            ["serverless_cache_name"],
            "{filter:?}"
        );
    }
}

#[test]
fn cache_name_messages_say_what_is_wrong() {
    assert!(check_cache_name("").unwrap_err().contains("1 to 40"));
    assert!(
        check_cache_name(&"a".repeat(41))
            .unwrap_err()
            .contains("41")
    );
    assert!(check_cache_name("9a").unwrap_err().contains("letter"));
    assert!(check_cache_name("a_b").unwrap_err().contains("'_'"));
    assert!(
        check_cache_name("a--b")
            .unwrap_err()
            .contains("consecutive")
    );
    assert!(check_cache_name("ab-").unwrap_err().contains("end"));
}

// ---- snapshot names ---------------------------------------------------------------------------

#[test]
fn snapshot_names_are_1_to_255_characters() {
    let max = "s".repeat(255);
    let too_long = "s".repeat(256);
    // Characters, not bytes: never stricter than AWS.
    let max_multibyte = "é".repeat(255);
    for ok in [
        "s",
        "Any_Chars.allowed here--",
        max.as_str(),
        max_multibyte.as_str(),
    ] {
        assert_eq!(
            fields(export(ok, "bucket").validate()),
            Vec::<String>::new()
        );
    }
    let err = export(&too_long, "bucket").validate().unwrap_err();
    assert_eq!(err.list()[0].field, "serverless_cache_snapshot_name");
    assert!(
        err.list()[0].description.contains("256"),
        "{:?}",
        err.list()
    );
}

#[test]
fn snapshot_name_rule_applies_to_every_snapshot_name_field() {
    let long = "s".repeat(256);
    assert_eq!(
        fields(
            pb::CreateServerlessCacheSnapshotRequest {
                serverless_cache_snapshot_name: long.clone(),
                serverless_cache_name: "cache".into(),
                ..Default::default()
            }
            .validate()
        ),
        ["serverless_cache_snapshot_name"]
    );
    assert_eq!(
        fields(
            pb::CopyServerlessCacheSnapshotRequest {
                source_serverless_cache_snapshot_name: long.clone(),
                target_serverless_cache_snapshot_name: long.clone(),
                ..Default::default()
            }
            .validate()
        ),
        [
            "source_serverless_cache_snapshot_name",
            "target_serverless_cache_snapshot_name"
        ]
    );
    assert_eq!(
        fields(
            pb::DeleteServerlessCacheSnapshotRequest {
                request_id: None,
                serverless_cache_snapshot_name: long.clone(),
            }
            .validate()
        ),
        ["serverless_cache_snapshot_name"]
    );
    for bad in [Some(long.as_str()), Some("")] {
        assert_eq!(
            fields(
                pb::DescribeServerlessCacheSnapshotsRequest {
                    serverless_cache_snapshot_name: bad.map(Into::into),
                    ..Default::default()
                }
                .validate()
            ),
            ["serverless_cache_snapshot_name"]
        );
        assert_eq!(
            fields(
                pb::DeleteServerlessCacheRequest {
                    request_id: None,
                    serverless_cache_name: "cache".into(),
                    final_snapshot_name: bad.map(Into::into),
                }
                .validate()
            ),
            ["final_snapshot_name"]
        );
    }
}

// ---- S3 bucket names --------------------------------------------------------------------------

#[test]
fn bucket_names_accepted() {
    let max = "b".repeat(63);
    for name in [
        "abc",
        "a1b",
        "123",
        "my-bucket",
        "my.bucket.name",
        "a-b.c-d",
        "1bucket9",
        "192.168.5.4x",
        "1.2.3",
        "xn-bucket",
        "sthree",
        "amzn-s3-demo",
        "my-s3alias-bucket",
        "bucket-ol-s3",
        "bucketmrap",
        "bucket-x-s3",
        max.as_str(),
    ] {
        assert_eq!(check_bucket_name(name), Ok(()), "{name:?}");
    }
}

#[test]
fn bucket_names_refused() {
    let too_long = "b".repeat(64);
    let cases: &[(&str, &str)] = &[
        ("", "3 to 63"),
        ("ab", "3 to 63"),
        (too_long.as_str(), "3 to 63"),
        ("My-bucket", "lowercase"),
        ("my_bucket", "lowercase"),
        ("my bucket", "lowercase"),
        ("bücket", "lowercase"),
        ("-bucket", "begin and end"),
        ("bucket-", "begin and end"),
        (".bucket", "begin and end"),
        ("bucket.", "begin and end"),
        ("my..bucket", "adjacent dots"),
        ("192.168.5.4", "IP address"),
        ("10.0.0.1", "IP address"),
        ("xn--bucket", "xn--"),
        ("sthree-bucket", "sthree-"),
        ("sthree-configurator", "sthree-"),
        ("amzn-s3-demo-bucket", "amzn-s3-demo-"),
        ("bucket-s3alias", "-s3alias"),
        ("bucket--ol-s3", "--ol-s3"),
        ("bucket.mrap", ".mrap"),
        ("bucket--x-s3", "--x-s3"),
        ("bucket--table-s3", "--table-s3"),
    ];
    for (name, why) in cases {
        let err = check_bucket_name(name).expect_err(name);
        assert!(
            err.contains(why),
            "{name:?}: {err:?} should mention {why:?}"
        );
    }
}

#[test]
fn export_checks_its_bucket() {
    assert_eq!(
        fields(export("snap", "Bad_Bucket").validate()),
        ["s3_bucket_name"]
    );
    assert_eq!(
        fields(export("snap", "good-bucket").validate()),
        Vec::<String>::new()
    );
}

// ---- max_results ------------------------------------------------------------------------------

#[test]
fn snapshot_page_size_is_1_to_50() {
    let req = |n: Option<i32>| pb::DescribeServerlessCacheSnapshotsRequest {
        max_results: n,
        ..Default::default()
    };
    for ok in [None, Some(1), Some(20), Some(50)] {
        assert_eq!(fields(req(ok).validate()), Vec::<String>::new(), "{ok:?}");
    }
    for bad in [0, -1, 51, i32::MIN, i32::MAX] {
        let err = req(Some(bad)).validate().unwrap_err();
        assert_eq!(err.list().len(), 1);
        assert_eq!(err.list()[0].field, "max_results");
        assert!(
            err.list()[0].description.contains(&bad.to_string()),
            "{:?}",
            err.list()
        );
    }
}

#[test]
fn cache_page_size_has_a_minimum_only() {
    let req = |n: Option<i32>| pb::DescribeServerlessCachesRequest {
        max_results: n,
        ..Default::default()
    };
    // AWS documents no maximum here, so the facade does not invent one.
    for ok in [
        None,
        Some(1),
        Some(50),
        Some(100),
        Some(101),
        Some(i32::MAX),
    ] {
        assert_eq!(fields(req(ok).validate()), Vec::<String>::new(), "{ok:?}");
    }
    for bad in [0, -5, i32::MIN] {
        assert_eq!(fields(req(Some(bad)).validate()), ["max_results"], "{bad}");
    }
}

// ---- enum numbers -----------------------------------------------------------------------------

#[test]
fn unknown_enum_numbers_are_refused() {
    let mut r = create_cache("cache");
    r.network_type = Some(99);
    assert_eq!(fields(r.validate()), ["network_type"]);

    let mut r = create_cache("cache");
    r.connection_type = Some(-1);
    assert_eq!(fields(r.validate()), ["connection_type"]);

    let mut r = create_cache("cache");
    r.cache_usage_limits = Some(usage_limits(Some(7)));
    let err = r.validate().unwrap_err();
    assert_eq!(err.list()[0].field, "cache_usage_limits.data_storage.unit");
    assert!(err.list()[0].description.contains('7'));

    let modify = pb::ModifyServerlessCacheRequest {
        serverless_cache_name: "cache".into(),
        cache_usage_limits: Some(usage_limits(Some(2))),
        ..Default::default()
    };
    assert_eq!(
        fields(modify.validate()),
        ["cache_usage_limits.data_storage.unit"]
    );
}

#[test]
fn known_and_unspecified_enum_numbers_are_accepted() {
    for n in [
        pb::NetworkType::Unspecified,
        pb::NetworkType::Ipv4,
        pb::NetworkType::Ipv6,
        pb::NetworkType::DualStack,
    ] {
        let mut r = create_cache("cache");
        r.network_type = Some(n as i32);
        assert_eq!(fields(r.validate()), Vec::<String>::new(), "{n:?}");
    }
    for c in [
        pb::ConnectionType::Unspecified,
        pb::ConnectionType::Vpc,
        pb::ConnectionType::Public,
    ] {
        let mut r = create_cache("cache");
        r.connection_type = Some(c as i32);
        assert_eq!(fields(r.validate()), Vec::<String>::new(), "{c:?}");
    }
    let mut r = create_cache("cache");
    r.cache_usage_limits = Some(usage_limits(Some(pb::DataStorageUnit::Gb as i32)));
    assert_eq!(fields(r.validate()), Vec::<String>::new());
    // The model makes a data storage limit's unit required: absent or UNSPECIFIED is refused
    // before AWS is called.
    for unit in [None, Some(0)] {
        let mut r = create_cache("cache");
        r.cache_usage_limits = Some(usage_limits(unit));
        assert_eq!(
            fields(r.validate()),
            vec!["cache_usage_limits.data_storage.unit".to_owned()],
            "{unit:?}"
        );
    }
    // Limits without data storage have no unit to check.
    let mut r = create_cache("cache");
    r.cache_usage_limits = Some(pb::CacheUsageLimits {
        data_storage: None,
        ecpu_per_second: None,
    });
    assert_eq!(fields(r.validate()), Vec::<String>::new());
}

// ---- several violations at once ---------------------------------------------------------------

#[test]
fn every_violation_is_reported_together() {
    let err = export(&"s".repeat(300), "UPPER").validate().unwrap_err();
    assert_eq!(
        err.list()
            .iter()
            .map(|v| v.field.as_str())
            .collect::<Vec<_>>(),
        ["serverless_cache_snapshot_name", "s3_bucket_name"]
    );

    let r = pb::CreateServerlessCacheRequest {
        serverless_cache_name: "9-lives".into(),
        engine: String::new(),
        cache_usage_limits: Some(usage_limits(Some(42))),
        network_type: Some(17),
        connection_type: Some(18),
        ..Default::default()
    };
    assert_eq!(
        fields(r.validate()),
        [
            "serverless_cache_name",
            "engine",
            "cache_usage_limits.data_storage.unit",
            "network_type",
            "connection_type",
        ]
    );

    let r = pb::DescribeServerlessCacheSnapshotsRequest {
        serverless_cache_name: Some("-x".into()),
        serverless_cache_snapshot_name: Some(String::new()),
        max_results: Some(0),
        ..Default::default()
    };
    assert_eq!(
        fields(r.validate()),
        [
            "serverless_cache_name",
            "serverless_cache_snapshot_name",
            "max_results"
        ]
    );
}

// ---- into_status ------------------------------------------------------------------------------

#[test]
fn into_status_is_invalid_argument_with_one_field_violation_per_problem() {
    let violations = pb::CreateServerlessCacheRequest {
        serverless_cache_name: "cache_1".into(),
        network_type: Some(5),
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    let expected: Vec<(String, String)> = violations
        .list()
        .iter()
        .map(|v| (v.field.clone(), v.description.clone()))
        .collect();
    assert_eq!(expected.len(), 3, "{expected:?}");

    let status = violations.into_status("req-42");
    assert_eq!(status.code(), Code::InvalidArgument);
    for (field, _) in &expected {
        assert!(
            status.message().contains(field.as_str()),
            "{}",
            status.message()
        );
    }

    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "INVALID_ARGUMENT");
    assert_eq!(info.domain, "elasticache-grpc");
    assert_eq!(
        details.request_info().expect("RequestInfo").request_id,
        "req-42"
    );
    let got: Vec<(String, String)> = details
        .bad_request()
        .expect("BadRequest")
        .field_violations
        .iter()
        .map(|v| (v.field.clone(), v.description.clone()))
        .collect();
    assert_eq!(got, expected);
    assert!(details.resource_info().is_none());
    assert!(details.retry_info().is_none());
}
