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
