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

/// A throttle storm through the facade at each rate of issue 22 (0.5, 2, 10 and 100 requests/s),
/// each against its own service, every upstream call throttled. Real time, so each storm lasts
/// 2 s: inside one window of the retry budget, where README "Retries and deadlines" bounds the
/// retries by `min(2 N, ⌊0.2 N + 10 × (1 + ⌊⌈T⌉ / 10⌋)⌋)`, `T` < 9 s — and the budget takes all
/// of it whatever the timing, since every request wants more than it has. (The 15 s storms are
/// in the unit tests of `upstream`, in paused time.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttle_storm_makes_the_documented_upstream_calls_at_every_rate() {
    async fn storm(rate: f64) -> (u64, u64, u64, Duration) {
        let app = spawn_app_with(|s| {
            // Nothing waits for the upstream budget, and every request is its own upstream call.
            s.upstream_policy.requests_per_second = 100_000;
            s.upstream_policy.burst = 100_000;
            s.coalesce_describes = false;
        })
        .await;
        app.emulator
            .faults()
            .inject_always(Some("DescribeServerlessCaches"), FaultKind::Throttle);
        let requests = (rate * 2.0).ceil() as u64;
        let start = tokio::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..requests {
            let mut client = app.client.clone();
            let at = start + Duration::from_secs_f64(i as f64 / rate);
            tasks.spawn(async move {
                tokio::time::sleep_until(at).await;
                client.describe_serverless_caches(describe()).await
            });
        }
        for result in tasks.join_all().await {
            let err = result.expect_err("throttled");
            assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        }
        let span = start.elapsed();
        let retries = elasticache_grpc::upstream::RetryPolicy::default()
            .budget()
            .max_retries(requests, span)
            .min(2 * requests);
        let calls = app.emulator.calls("DescribeServerlessCaches") as u64;
        (requests, calls, requests + retries, span)
    }
    let started = Instant::now();
    let (slow, low, mid, high) = tokio::join!(storm(0.5), storm(2.0), storm(10.0), storm(100.0));
    let seen = [slow, low, mid, high];
    for (rate, (requests, calls, bound, span)) in [0.5, 2.0, 10.0, 100.0].into_iter().zip(seen) {
        assert!(calls <= bound, "{rate}/s: {seen:?}");
        if span < Duration::from_secs(9) {
            assert_eq!(calls, bound, "{rate}/s: the bound is reached, {seen:?}");
        }
        assert!(calls > requests, "{rate}/s: retries happened");
    }
    let calls: Vec<u64> = seen.iter().map(|s| s.1).collect();
    assert_eq!(calls, [3, 12, 34, 250], "{seen:?}");
    assert!(started.elapsed() < Duration::from_secs(8), "{seen:?}");
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
