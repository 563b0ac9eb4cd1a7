//! The server's own behaviour: health, reflection, request ids, graceful shutdown.

use std::time::Duration;

use elasticache_grpc::emulator::FaultKind;
use elasticache_grpc::pb;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::helpers::*;

#[tokio::test]
async fn health_reports_serving_for_the_service_and_the_server() {
    let app = spawn_app().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    for service in ["", pb::SERVICE_NAME] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
}

#[tokio::test]
async fn request_id_is_generated_and_echoed() {
    let mut app = spawn_app().await;
    let response = app
        .client
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
        .await
        .expect("describe");
    let generated = response
        .metadata()
        .get("x-request-id")
        .expect("generated id")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");

    let mut request = tonic::Request::new(pb::DescribeServerlessCachesRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", "caller-chosen-42".parse().unwrap());
    let response = app
        .client
        .describe_serverless_caches(request)
        .await
        .expect("describe");
    assert_eq!(
        response.metadata().get("x-request-id").unwrap(),
        "caller-chosen-42"
    );
}

#[tokio::test]
async fn shutdown_lets_calls_in_flight_finish() {
    let app = spawn_app().await;
    app.emulator.faults().inject(
        Some("DescribeServerlessCaches"),
        FaultKind::Delay(Duration::from_millis(300)),
        1,
    );
    let mut client = app.client.clone();
    let in_flight = tokio::spawn(async move {
        client
            .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
            .await
    });
    // Wait until the call has reached the emulator, then stop the server.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.emulator.calls("DescribeServerlessCaches") == 0 {
        assert!(tokio::time::Instant::now() < deadline, "call never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    app.stop().await;
    let result = in_flight.await.unwrap();
    assert!(result.is_ok(), "in-flight call failed: {result:?}");
}

#[tokio::test]
async fn metrics_show_server_upstream_and_refusal_families() {
    let mut app = spawn_app_with(|s| {
        s.metrics_listen = Some(([127, 0, 0, 1], 0).into());
    })
    .await;
    app.emulator.faults().inject(
        Some("DescribeServerlessCacheSnapshots"),
        FaultKind::Throttle,
        1,
    );
    app.client
        .describe_serverless_cache_snapshots(pb::DescribeServerlessCacheSnapshotsRequest::default())
        .await
        .expect("retried after one throttle");
    let _ = app
        .client
        .export_serverless_cache_snapshot(pb::ExportServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: "metrics-missing".into(),
            s3_bucket_name: "corp-cache-backups".into(),
        })
        .await
        .expect_err("not found");
    let _ = app
        .client
        .export_serverless_cache_snapshot(pb::ExportServerlessCacheSnapshotRequest::default())
        .await
        .expect_err("invalid");
    let metrics_addr = app.metrics_addr.expect("metrics on");
    let text = scrape(metrics_addr).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for needle in [
        "grpc_server_started_total{grpc_service=\"elasticache.v1.ElastiCacheService\",grpc_method=\"DescribeServerlessCacheSnapshots\"",
        "grpc_server_handled_total{grpc_service=\"elasticache.v1.ElastiCacheService\",grpc_method=\"DescribeServerlessCacheSnapshots\",grpc_type=\"unary\",grpc_code=\"OK\"}",
        "grpc_server_handled_total{grpc_service=\"elasticache.v1.ElastiCacheService\",grpc_method=\"ExportServerlessCacheSnapshot\",grpc_type=\"unary\",grpc_code=\"NotFound\"}",
        "grpc_server_handling_seconds_bucket{",
        "elasticache_upstream_calls_total{operation=\"DescribeServerlessCacheSnapshots\",outcome=\"Throttling\"}",
        "elasticache_upstream_calls_total{operation=\"ExportServerlessCacheSnapshot\",outcome=\"ServerlessCacheSnapshotNotFoundFault\"}",
        "elasticache_upstream_retries_total{operation=\"DescribeServerlessCacheSnapshots\"}",
        "elasticache_upstream_throttles_total{operation=\"DescribeServerlessCacheSnapshots\"}",
        "elasticache_refusals_total{reason=\"INVALID_ARGUMENT\"}",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}
