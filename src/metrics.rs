//! Prometheus metrics (`metrics` + `metrics-exporter-prometheus`), served at `/metrics` on
//! `--metrics-listen`. Names follow the usual gRPC server metrics:
//!
//! - `grpc_server_started_total{grpc_service,grpc_method,grpc_type}`
//! - `grpc_server_handled_total{grpc_service,grpc_method,grpc_type,grpc_code}`
//! - `grpc_server_handling_seconds{grpc_service,grpc_method,grpc_type}` (histogram)
//! - `elasticache_upstream_calls_total{operation,outcome}`: one per attempt; `outcome` is `ok`,
//!   the AWS error code, or the transport failure (`timeout`, `dispatch`, `response`, …)
//! - `elasticache_upstream_retries_total{operation}`
//! - `elasticache_upstream_throttles_total{operation}`
//! - `elasticache_refusals_total{reason}`: the facade's own refusals (`RATE_LIMITED`,
//!   `OVERLOADED`, `UPSTREAM_RATE_LIMITED`, `UNAUTHENTICATED`, …)
//! - `elasticache_watches_open{kind}` (gauge): open Watch streams (`kind`: `snapshot` and `cache`
//!   for the serverless kinds, the kind in snake case for the others: `cache_cluster`, …)
//! - `elasticache_watch_pollers{kind}` (gauge): resources polled for watches, one poller each
//! - `elasticache_watch_polls_total{kind}`: Describe calls made by the pollers
//! - `elasticache_coalesced_calls_total{operation}`: calls answered by an identical call already
//!   in flight — upstream calls saved
//! - `elasticache_request_id_replays_total{operation}`: calls with a `request_id` answered from
//!   the record of an earlier call
//! - `elasticache_state_seconds{command}` (histogram): Redis round trips of the shared state
//! - `elasticache_state_fallbacks_total{use}`: checks decided in-process because Redis did not
//!   answer in time (`use` is `limit`)
//! - `elasticache_state_degraded` (gauge): 1 while Redis is unreachable or slow
//!
//! Server metrics are recorded by [`GrpcMetricsLayer`], outermost in the inbound stack, so every
//! call is counted — refused ones and health/reflection included — with the `grpc-status` it
//! really ended with (read from the headers of a trailers-only response, else from the trailers).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http_body::{Body, Frame};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower::{Layer, Service};

use crate::headers::GRPC_STATUS;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once; later calls return the same handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("grpc_server_handling_seconds".into()),
                    &buckets,
                )
                .expect("static, non-empty bucket list")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder was installed first; ours then stays unused.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// Scrapers connected at once, at most; more are closed at once.
const MAX_SCRAPERS: usize = 64;

/// Serves `GET /metrics` on `listener` until the process ends. Like the gRPC port it bounds what
/// a connection can hold: the request head must arrive within 5 s, a connection lives at most
/// 30 s (scrapers reconnect), and at most [`MAX_SCRAPERS`] are open at once.
pub async fn serve(listener: tokio::net::TcpListener, handle: PrometheusHandle) {
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let scrapers = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPERS));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(5));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(std::time::Duration::from_secs(30)))
        .keep_alive_timeout(std::time::Duration::from_secs(10));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!("metrics: accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = scrapers.clone().try_acquire_owned() else {
            continue;
        };
        let handle = handle.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let body = if req.uri().path() == "/metrics" {
                    Ok(handle.render())
                } else {
                    Err(())
                };
                async move {
                    let response = match body {
                        Ok(text) => http::Response::builder()
                            .header("content-type", "text/plain; version=0.0.4")
                            .body(http_body_util::Full::new(bytes::Bytes::from(text))),
                        Err(()) => http::Response::builder()
                            .status(http::StatusCode::NOT_FOUND)
                            .body(http_body_util::Full::new(bytes::Bytes::from_static(
                                b"see /metrics\n",
                            ))),
                    };
                    response.map_err(std::io::Error::other)
                }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), conn).await;
        });
    }
}

/// Binds `addr` for [`serve`] and returns the bound address.
pub async fn start(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let handle = install();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(listener, handle));
    Ok(local)
}

/// Counts one refusal of the facade's own.
pub fn refusal(reason: &'static str) {
    counter!("elasticache_refusals_total", "reason" => reason).increment(1);
}

/// Counts one upstream attempt and its outcome; `target`: the named target's (`[targets]`, so
/// the label's values are bounded by the config), none without targets.
pub fn upstream_call(operation: &'static str, outcome: String, target: Option<&str>) {
    match target {
        None => counter!("elasticache_upstream_calls_total", "operation" => operation, "outcome" => outcome),
        Some(t) => counter!("elasticache_upstream_calls_total", "operation" => operation, "outcome" => outcome, "target" => t.to_owned()),
    }
    .increment(1);
}

/// Counts one retry.
pub fn upstream_retry(operation: &'static str, target: Option<&str>) {
    match target {
        None => counter!("elasticache_upstream_retries_total", "operation" => operation),
        Some(t) => counter!("elasticache_upstream_retries_total", "operation" => operation, "target" => t.to_owned()),
    }
    .increment(1);
}

/// Counts one throttled attempt.
pub fn upstream_throttle(operation: &'static str, target: Option<&str>) {
    match target {
        None => counter!("elasticache_upstream_throttles_total", "operation" => operation),
        Some(t) => counter!("elasticache_upstream_throttles_total", "operation" => operation, "target" => t.to_owned()),
    }
    .increment(1);
}

/// Counts one call answered from a `request_id` record.
pub fn request_id_replayed(operation: &'static str) {
    counter!("elasticache_request_id_replays_total", "operation" => operation).increment(1);
}

/// Records one Redis round trip.
pub fn state_round_trip(command: &'static str, took: std::time::Duration) {
    histogram!("elasticache_state_seconds", "command" => command).record(took.as_secs_f64());
}

/// Counts one check decided in-process because Redis did not answer.
pub fn state_fallback(what: &'static str) {
    counter!("elasticache_state_fallbacks_total", "use" => what).increment(1);
}

/// Whether the shared state is degraded now.
pub fn state_degraded(degraded: bool) {
    gauge!("elasticache_state_degraded").set(if degraded { 1.0 } else { 0.0 });
}

/// Counts one call that shared an identical call in flight instead of calling ElastiCache.
pub fn coalesced_call(operation: &'static str) {
    counter!("elasticache_coalesced_calls_total", "operation" => operation).increment(1);
}

/// Process-wide counts behind a gauge per watch kind, so the gauge is set to the true count (a
/// change made before the recorder was installed is not lost, as an increment would be). Changed
/// when a watch or a poller starts or ends, never per call.
struct KindCounts(Mutex<BTreeMap<&'static str, i64>>);

impl KindCounts {
    const fn new() -> Self {
        Self(Mutex::new(BTreeMap::new()))
    }

    /// Adds `delta` to `kind`'s count and returns the new count.
    fn add(&self, kind: &'static str, delta: i64) -> i64 {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(kind).or_default();
        *count += delta;
        *count
    }
}

static WATCHES_OPEN: KindCounts = KindCounts::new();
static WATCH_POLLERS: KindCounts = KindCounts::new();

/// One more (`+1`) or one fewer (`-1`) open watch of `kind`.
pub fn watches_open(kind: &'static str, delta: i64) {
    let open = WATCHES_OPEN.add(kind, delta);
    gauge!("elasticache_watches_open", "kind" => kind).set(open as f64);
}

/// One more (`+1`) or one fewer (`-1`) poller of `kind`.
pub fn watch_pollers(kind: &'static str, delta: i64) {
    let pollers = WATCH_POLLERS.add(kind, delta);
    gauge!("elasticache_watch_pollers", "kind" => kind).set(pollers as f64);
}

/// Counts one poll of a watched resource.
pub fn watch_poll(kind: &'static str) {
    counter!("elasticache_watch_polls_total", "kind" => kind).increment(1);
}

/// Adds [`GrpcMetrics`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcMetricsLayer;

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;
    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics { inner }
    }
}

/// Records the gRPC server metrics of every call.
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

/// The labels of a request path: a known method's names, else `unknown` for all three, so made-up
/// paths share one series instead of adding one each.
fn labels(path: &str) -> CallLabels {
    let (service, method, call_type) = match crate::methods::lookup(path) {
        Some(m) => (m.service, m.name, m.call_type.label()),
        None => (UNKNOWN, UNKNOWN, UNKNOWN),
    };
    CallLabels {
        service,
        method,
        call_type,
        started: Instant::now(),
    }
}

/// The label value of everything the server does not know.
const UNKNOWN: &str = "unknown";

impl<S, B, RB> Service<http::Request<B>> for GrpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = http::Response<MetricsBody<RB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let call = labels(request.uri().path());
        counter!(
            "grpc_server_started_total",
            "grpc_service" => call.service,
            "grpc_method" => call.method,
            "grpc_type" => call.call_type
        )
        .increment(1);
        ResponseFuture {
            inner: self.inner.call(request),
            call: Some(call),
        }
    }
}

#[derive(Debug)]
struct CallLabels {
    service: &'static str,
    method: &'static str,
    call_type: &'static str,
    started: Instant,
}

impl CallLabels {
    fn finish(self, code: &'static str) {
        counter!(
            "grpc_server_handled_total",
            "grpc_service" => self.service,
            "grpc_method" => self.method,
            "grpc_type" => self.call_type,
            "grpc_code" => code
        )
        .increment(1);
        histogram!(
            "grpc_server_handling_seconds",
            "grpc_service" => self.service,
            "grpc_method" => self.method,
            "grpc_type" => self.call_type
        )
        .record(self.started.elapsed().as_secs_f64());
    }
}

/// The name Prometheus users expect for a `grpc-status` value (`OK`, `NotFound`, …).
fn code_name(status: Option<&http::HeaderValue>) -> &'static str {
    use tonic::Code;
    let code = status
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from_i32)
        .unwrap_or(Code::Unknown);
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Cancelled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

pin_project_lite::pin_project! {
    /// Finishes the call's metrics when the status is known.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<CallLabels>,
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = Result<http::Response<MetricsBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let mut call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                // A trailers-only response (every error) carries its status in the headers.
                if let Some(status) = response.headers().get(&GRPC_STATUS)
                    && let Some(call) = call.take()
                {
                    call.finish(code_name(Some(status)));
                }
                Ok(response.map(|body| MetricsBody { inner: body, call }))
            }
            Err(e) => {
                if let Some(call) = call {
                    call.finish("Unknown");
                }
                Err(e)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that finishes the call's metrics from its trailers.
    #[derive(Debug)]
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        call: Option<CallLabels>,
    }

    impl<B> PinnedDrop for MetricsBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // The body ended without trailers (the client went away): the call was cancelled.
            if let Some(call) = this.project().call.take() {
                call.finish("Cancelled");
            }
        }
    }
}

impl<B: Body> Body for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(Ok(f)) = &frame
            && let Some(trailers) = f.trailers_ref()
            && let Some(call) = this.call.take()
        {
            call.finish(code_name(trailers.get(&GRPC_STATUS)));
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_label_as_themselves_and_the_rest_as_unknown() {
        let known = labels("/elasticache.v1.ElastiCacheService/ExportServerlessCacheSnapshot");
        assert_eq!(
            (known.service, known.method, known.call_type),
            (
                "elasticache.v1.ElastiCacheService",
                "ExportServerlessCacheSnapshot",
                "unary"
            )
        );
        let reflection = labels("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
        assert_eq!(reflection.call_type, "bidi_stream");
        let made_up = labels("/elasticache.v1.ElastiCacheService/Made-Up-12345");
        assert_eq!(
            (made_up.service, made_up.method, made_up.call_type),
            ("unknown", "unknown", "unknown")
        );
    }

    #[test]
    fn codes_are_named_as_prometheus_users_expect() {
        assert_eq!(code_name(Some(&http::HeaderValue::from_static("0"))), "OK");
        assert_eq!(
            code_name(Some(&http::HeaderValue::from_static("5"))),
            "NotFound"
        );
        assert_eq!(
            code_name(Some(&http::HeaderValue::from_static("8"))),
            "ResourceExhausted"
        );
        assert_eq!(code_name(None), "Unknown");
    }
}
