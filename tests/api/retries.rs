//! Retries and deadlines against injected upstream faults, counted at the emulator.

use std::time::{Duration, Instant};

use elasticache_grpc::emulator::FaultKind;
use elasticache_grpc::pb;
use tonic::Code;

use crate::helpers::*;

fn describe() -> pb::DescribeServerlessCachesRequest {
    pb::DescribeServerlessCachesRequest::default()
}

fn create(name: &str) -> pb::CreateServerlessCacheRequest {
    pb::CreateServerlessCacheRequest {
        serverless_cache_name: name.into(),
        engine: "valkey".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn throttled_twice_then_success_is_a_success_after_three_calls() {
    let mut app = spawn_app().await;
    app.emulator
        .faults()
        .inject(Some("CreateServerlessCache"), FaultKind::Throttle, 2);
    app.client
        .create_serverless_cache(create(&unique("thr")))
        .await
        .expect("third attempt succeeds");
    assert_eq!(app.emulator.calls("CreateServerlessCache"), 3);
}

#[tokio::test]
async fn throttled_forever_is_resource_exhausted_after_max_attempts() {
    let mut app = spawn_app().await;
    app.emulator
        .faults()
        .inject_always(Some("DescribeServerlessCaches"), FaultKind::Throttle);
    let err = app
        .client
        .describe_serverless_caches(describe())
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(reason(&err), "THROTTLING");
    let d = details(&err);
    assert!(d.retry_info().is_some());
    assert!(d.quota_failure().is_some());
    assert_eq!(app.emulator.calls("DescribeServerlessCaches"), 3);
}

#[tokio::test]
async fn server_errors_are_retried_for_describe_only() {
    let mut app = spawn_app().await;
    let fault = FaultKind::Error {
        status: 500,
        code: "InternalFailure".into(),
        message: "boom".into(),
    };
    app.emulator
        .faults()
        .inject(Some("DescribeServerlessCaches"), fault.clone(), 1);
    app.client
        .describe_serverless_caches(describe())
        .await
        .expect("describe retried");
    assert_eq!(app.emulator.calls("DescribeServerlessCaches"), 2);

    app.emulator
        .faults()
        .inject(Some("CreateServerlessCache"), fault, 1);
    let err = app
        .client
        .create_serverless_cache(create(&unique("srv")))
        .await
        .expect_err("mutating call not retried");
    assert_eq!(err.code(), Code::Unavailable);
    assert!(details(&err).retry_info().is_some());
    assert_eq!(app.emulator.calls("CreateServerlessCache"), 1);
}

#[tokio::test]
async fn dropped_connection_mutating_is_outcome_unknown_describe_is_retried() {
    let mut app = spawn_app().await;
    app.emulator
        .faults()
        .inject(Some("CreateServerlessCache"), FaultKind::DropConnection, 1);
    let err = app
        .client
        .create_serverless_cache(create(&unique("drop")))
        .await
        .expect_err("dropped");
    assert_eq!(err.code(), Code::Unavailable);
    let info = details(&err).error_info().cloned().expect("ErrorInfo");
    assert_eq!(info.metadata["outcome"], "unknown");
    assert_eq!(app.emulator.calls("CreateServerlessCache"), 1);

    app.emulator.faults().inject(
        Some("DescribeServerlessCaches"),
        FaultKind::DropConnection,
        1,
    );
    app.client
        .describe_serverless_caches(describe())
        .await
        .expect("describe retried after a drop");
    assert_eq!(app.emulator.calls("DescribeServerlessCaches"), 2);
}

/// A client that sends `grpc-timeout` but, unlike tonic's `Channel`, does not enforce it, so the
/// test sees exactly what the server answers and when.
fn non_enforcing_client(
    addr: std::net::SocketAddr,
) -> pb::elasti_cache_service_client::ElastiCacheServiceClient<
    hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        tonic::body::Body,
    >,
> {
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let origin: http::Uri = format!("http://{addr}").parse().unwrap();
    pb::elasti_cache_service_client::ElastiCacheServiceClient::with_origin(http, origin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_upstream_meets_the_callers_deadline() {
    let app = spawn_app().await;
    app.emulator
        .faults()
        .inject_always(Some("DescribeServerlessCaches"), FaultKind::Hang);
    let mut client = non_enforcing_client(app.addr);
    // The connection first, so that only the deadline's handling is timed.
    client
        .describe_serverless_cache_snapshots(pb::DescribeServerlessCacheSnapshotsRequest::default())
        .await
        .expect("a call that does not hang");
    let mut request = tonic::Request::new(describe());
    request.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = client
        .describe_serverless_caches(request)
        .await
        .expect_err("deadline");
    let elapsed = started.elapsed();
    // The facade answers MARGIN (5 ms) before the deadline, so that its detailed status beats
    // an enforcing client's own timer (tonic's would report a bare CANCELLED).
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert_eq!(reason(&err), "DEADLINE_EXCEEDED");
    assert!(
        elapsed >= Duration::from_millis(290) && elapsed < Duration::from_millis(400),
        "{elapsed:?}"
    );
    // Only one attempt could start: hanging is not retried past the deadline.
    assert_eq!(app.emulator.calls("DescribeServerlessCaches"), 1);
}

#[tokio::test]
async fn connection_refused_is_unavailable_with_retry_info() {
    let mut app = spawn_app_with(|s| {
        // A port nothing listens on: bind, note the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        s.upstream =
            elasticache_grpc::config::Upstream::Endpoint(format!("http://127.0.0.1:{port}"));
    })
    .await;
    let err = app
        .client
        .create_serverless_cache(create(&unique("refused")))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::Unavailable);
    assert!(details(&err).retry_info().is_some());
    assert_eq!(reason(&err), "UPSTREAM_UNAVAILABLE");
}
