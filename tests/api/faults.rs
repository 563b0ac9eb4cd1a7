//! Faults the emulator produces, by state and by injection, as the caller sees them.

use elasticache_grpc::aws::fault::Fault;
use elasticache_grpc::emulator::FaultKind;
use elasticache_grpc::pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn missing_snapshot_is_not_found_with_every_detail() {
    let mut app = spawn_app().await;
    let mut request = tonic::Request::new(pb::ExportServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: "no-such-snapshot".into(),
        s3_bucket_name: "corp-cache-backups".into(),
    });
    request
        .metadata_mut()
        .insert("x-request-id", "req-not-found-1".parse().unwrap());
    let status = app
        .client
        .export_serverless_cache_snapshot(request)
        .await
        .expect_err("not found");
    assert_eq!(status.code(), Code::NotFound);
    let d = details(&status);
    let info = d.error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND");
    assert_eq!(info.domain, "elasticache.amazonaws.com");
    assert_eq!(
        info.metadata["aws_error_code"],
        "ServerlessCacheSnapshotNotFoundFault"
    );
    assert_eq!(info.metadata["operation"], "ExportServerlessCacheSnapshot");
    assert!(!info.metadata["aws_request_id"].is_empty());
    assert_eq!(
        d.request_info().expect("RequestInfo").request_id,
        "req-not-found-1"
    );
    let resource = d.resource_info().expect("ResourceInfo");
    assert_eq!(resource.resource_name, "no-such-snapshot");
    assert_eq!(
        resource.resource_type,
        "elasticache.v1.ServerlessCacheSnapshot"
    );
    assert!(detail_types(&status).contains(
        &"type.googleapis.com/elasticache.v1.ServerlessCacheSnapshotNotFoundFault".to_owned()
    ));
    assert_eq!(
        status.metadata().get("x-request-id").unwrap(),
        "req-not-found-1"
    );
}

#[tokio::test]
async fn state_faults_from_the_emulator() {
    let mut app = spawn_app().await;
    let cache = unique("state");
    // Snapshot of a cache that is still creating.
    app.client
        .create_serverless_cache(pb::CreateServerlessCacheRequest {
            serverless_cache_name: cache.clone(),
            engine: "valkey".into(),
            ..Default::default()
        })
        .await
        .expect("created");
    let err = app
        .client
        .create_serverless_cache_snapshot(pb::CreateServerlessCacheSnapshotRequest {
            serverless_cache_snapshot_name: format!("{cache}-s"),
            serverless_cache_name: cache.clone(),
            ..Default::default()
        })
        .await
        .expect_err("cache not available yet");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "INVALID_SERVERLESS_CACHE_STATE");
    let pf = details(&err)
        .precondition_failure()
        .cloned()
        .expect("PreconditionFailure");
    assert_eq!(pf.violations[0].subject, cache);

    // The same cache again.
    let dup = app
        .client
        .create_serverless_cache(pb::CreateServerlessCacheRequest {
            serverless_cache_name: cache.clone(),
            engine: "valkey".into(),
            ..Default::default()
        })
        .await
        .expect_err("duplicate");
    assert_eq!(dup.code(), Code::AlreadyExists);
    assert_eq!(reason(&dup), "SERVERLESS_CACHE_ALREADY_EXISTS");
    assert_eq!(details(&dup).resource_info().unwrap().resource_name, cache);

    // Unknown cache.
    let missing = app
        .client
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest {
            serverless_cache_name: Some("nobody".into()),
            ..Default::default()
        })
        .await
        .expect_err("unknown cache");
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(reason(&missing), "SERVERLESS_CACHE_NOT_FOUND");

    // A snapshot name already taken, on copy: ResourceInfo names the target.
    wait_for_cache(&app, &cache, "available").await;
    available_snapshot(&mut app, &cache, &format!("{cache}-a")).await;
    available_snapshot(&mut app, &cache, &format!("{cache}-b")).await;
    let taken = app
        .client
        .copy_serverless_cache_snapshot(pb::CopyServerlessCacheSnapshotRequest {
            source_serverless_cache_snapshot_name: format!("{cache}-a"),
            target_serverless_cache_snapshot_name: format!("{cache}-b"),
            ..Default::default()
        })
        .await
        .expect_err("target exists");
    assert_eq!(taken.code(), Code::AlreadyExists);
    assert_eq!(
        details(&taken).resource_info().unwrap().resource_name,
        format!("{cache}-b")
    );

    // A bad page token is AWS's InvalidParameterValue.
    let bad_token = app
        .client
        .describe_serverless_cache_snapshots(pb::DescribeServerlessCacheSnapshotsRequest {
            next_token: Some("not-a-token".into()),
            ..Default::default()
        })
        .await
        .expect_err("bad token");
    assert_eq!(bad_token.code(), Code::InvalidArgument);
    assert_eq!(reason(&bad_token), "INVALID_PARAMETER_VALUE");
    assert!(details(&bad_token).bad_request().is_some());
}

/// Every modelled fault, sent on the wire by the emulator with its wire code and HTTP status,
/// parsed by the SDK and mapped by the facade.
#[tokio::test]
async fn every_modelled_fault_survives_the_wire() {
    let mut app = spawn_app().await;
    for fault in Fault::ALL {
        let spec = fault.spec();
        let status = if fault.name().contains("NotFound")
            && fault != Fault::ServiceLinkedRoleNotFoundFault
        {
            404
        } else {
            400
        };
        app.emulator.faults().inject(
            Some("CreateServerlessCache"),
            FaultKind::Error {
                status,
                code: spec.wire_code.to_owned(),
                message: format!("injected {}", spec.wire_code),
            },
            1,
        );
        let err = app
            .client
            .create_serverless_cache(pb::CreateServerlessCacheRequest {
                serverless_cache_name: unique("inj"),
                engine: "valkey".into(),
                ..Default::default()
            })
            .await
            .expect_err("injected fault");
        assert_eq!(err.code(), spec.code, "{fault:?}");
        let d = details(&err);
        let info = d.error_info().expect("ErrorInfo");
        assert_eq!(info.metadata["aws_error_code"], spec.wire_code, "{fault:?}");
        assert_eq!(info.domain, "elasticache.amazonaws.com");
        assert!(
            detail_types(&err).contains(&fault.type_url()),
            "{fault:?}: {:?}",
            detail_types(&err)
        );
        assert!(
            err.message()
                .contains(&format!("injected {}", spec.wire_code))
        );
    }
}

#[tokio::test]
async fn invalid_requests_never_reach_aws() {
    let mut app = spawn_app().await;
    let before = app.emulator.total_calls();
    let err = app
        .client
        .export_serverless_cache_snapshot(pb::ExportServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: "snap".into(),
            s3_bucket_name: String::new(),
        })
        .await
        .expect_err("missing bucket");
    assert_eq!(err.code(), Code::InvalidArgument);
    let br = details(&err).bad_request().cloned().expect("BadRequest");
    assert_eq!(br.field_violations[0].field, "s3_bucket_name");
    let err = app
        .client
        .create_serverless_cache(pb::CreateServerlessCacheRequest {
            serverless_cache_name: "9-starts-with-a-digit".into(),
            engine: "valkey".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad name");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(app.emulator.total_calls(), before);
}
