//! The inbound middleware stack's own cost per request (DESIGN §9: ≤ 5 µs), with criterion.
//!
//! `startup::inbound_stack` wraps a trivial service that answers an empty response at once; the
//! same request through the bare service is the baseline, so stack − bare is the stack's cost.
//! The service's `tracing` subscriber is installed as in production (text, `info`), so the `rpc`
//! span is really created. The last case adds the Prometheus recorder (`--metrics-listen`). Each iteration builds the request, calls the service, and drains the
//! response body (as tonic does, which ends the trace layer's span).
//!
//! ```sh
//! cargo bench --bench middleware
//! ```

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use elasticache_grpc::config::{CallerConfig, LogFormat, parse_digest};
use elasticache_grpc::identity::{Callers, hash_token};
use elasticache_grpc::startup::inbound_stack;
use elasticache_grpc::state::SharedState;
use elasticache_grpc::telemetry;
use futures_util::FutureExt as _;
use http_body_util::BodyExt as _;
use tonic::body::Body;
use tower::{Layer as _, Service, ServiceExt as _};

const PATH: &str = "/elasticache.v1.ElastiCacheService/DescribeServerlessCacheSnapshots";
const TOKEN: &str = "bench-token-0123456789abcdef";

fn request(token: Option<&str>) -> http::Request<Body> {
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(PATH)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::default()).expect("valid request")
}

/// The innermost service: an empty response, at once.
#[derive(Clone, Copy)]
struct Empty;

impl Service<http::Request<Body>> for Empty {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        black_box(&request);
        std::future::ready(Ok(http::Response::new(Body::default())))
    }
}

/// One call: ready, call, the response, its body drained. Everything completes synchronously.
fn one<S, RB>(service: &mut S, request: http::Request<Body>)
where
    S: Service<http::Request<Body>, Response = http::Response<RB>>,
    S::Error: std::fmt::Debug,
    RB: hyper::body::Body + Unpin,
    RB::Error: std::fmt::Debug,
{
    let response = service
        .ready()
        .now_or_never()
        .expect("ready at once")
        .expect("ready")
        .call(request)
        .now_or_never()
        .expect("answers at once")
        .expect("answer");
    assert_eq!(response.status(), http::StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .now_or_never()
        .expect("body at once");
    black_box(body.is_ok());
}

fn bench(c: &mut Criterion) {
    telemetry::init(LogFormat::Text);
    let caller = CallerConfig {
        name: "bench".into(),
        token_sha256: Some(parse_digest(&hash_token(TOKEN)).expect("digest")),
        mtls_identity: None,
        allow: vec!["*".into()],
        export_buckets: Vec::new(),
        requests_per_second: Some(u32::MAX),
        burst: Some(u32::MAX),
        targets: Vec::new(),
        default_target: None,
    };

    let mut group = c.benchmark_group("inbound");
    let mut bare = Empty;
    group.bench_function("bare service", |b| {
        b.iter(|| one(&mut bare, request(None)));
    });
    group.bench_function("bare service, bearer header", |b| {
        b.iter(|| one(&mut bare, request(Some(TOKEN))));
    });

    let mut open =
        inbound_stack(Arc::new(Callers::new(&[])), 4096, &SharedState::memory()).layer(Empty);
    group.bench_function("stack, no callers", |b| {
        b.iter(|| one(&mut open, request(None)));
    });

    let mut authenticated = inbound_stack(
        Arc::new(Callers::new(&[caller])),
        4096,
        &SharedState::memory(),
    )
    .layer(Empty);
    group.bench_function("stack, bearer caller with a rate limit", |b| {
        b.iter(|| one(&mut authenticated, request(Some(TOKEN))));
    });

    // Last: the Prometheus recorder, once installed, stays for the process (`--metrics-listen`).
    elasticache_grpc::metrics::install();
    group.bench_function("stack, bearer caller with a rate limit, metrics on", |b| {
        b.iter(|| one(&mut authenticated, request(Some(TOKEN))));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
