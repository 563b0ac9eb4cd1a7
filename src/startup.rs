//! Builds and runs the server. [`Application::build`] binds the listener first, so port 0 works
//! and [`Application::local_addr`] is known before anything is served.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_elasticache::config::retry::RetryConfig;
use aws_sdk_elasticache::config::{Region, timeout::TimeoutConfig};
use tokio::net::TcpListener;

use tonic::service::Routes;
use tower::layer::util::Stack;
use tower_http::classify::{GrpcErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{MakeSpan, TraceLayer};

use crate::config::{Settings, Upstream};
use crate::emulator::Emulator;
use crate::identity::Callers;
use crate::metrics::GrpcMetricsLayer;
use crate::middleware::auth::{AuthLayer, Authenticate};
use crate::middleware::load_shed::LoadShedLayer;
use crate::middleware::rate_limit::{CallerRateLimit, RateLimitLayer};
use crate::middleware::request_id::X_REQUEST_ID;
use crate::middleware::rescue::RescueLayer;
use crate::pb;
use crate::pb::elasti_cache_service_server::ElastiCacheServiceServer;
use crate::server::tls_acceptor;
use crate::service::ElastiCacheGrpc;
use crate::upstream::Upstream as UpstreamStack;

/// A bound, not yet serving, server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    settings: Settings,
    client: aws_sdk_elasticache::Client,
    emulator: Option<Emulator>,
}

impl Application {
    /// Binds `settings.listen`, starts the emulator when asked, and builds the SDK client.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check()?;
        let (client, emulator) = upstream_client(&settings.upstream).await?;
        Self::with_client(settings, client, emulator).await
    }

    /// Like [`Application::build`] with a ready SDK client (tests use mocked clients).
    pub async fn with_client(
        settings: Settings,
        client: aws_sdk_elasticache::Client,
        emulator: Option<Emulator>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        let metrics_addr = match settings.metrics_listen {
            Some(addr) => {
                let bound = crate::metrics::start(addr)
                    .await
                    .with_context(|| format!("cannot serve metrics on {addr}"))?;
                tracing::info!(address = %bound, "metrics at /metrics");
                Some(bound)
            }
            None => None,
        };
        Ok(Self {
            listener,
            local_addr,
            metrics_addr,
            settings,
            client,
            emulator,
        })
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address `/metrics` is served on, when metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The in-process emulator, when one was started.
    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref()
    }

    /// Serves until `shutdown` resolves, then reports NOT_SERVING, stops accepting calls and lets
    /// the calls in flight finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<ElastiCacheServiceServer<ElastiCacheGrpc>>()
            .await;

        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        let settings = self.settings;
        let max = settings.max_message_bytes;
        let service = ElastiCacheServiceServer::new(ElastiCacheGrpc::with_upstream(
            self.client,
            settings.default_timeout,
            UpstreamStack::new(&settings.upstream_policy),
        ))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);

        let callers = Arc::new(Callers::new(&settings.callers));
        if callers.is_empty() {
            tracing::warn!(
                "no callers configured: calls are not authenticated (allowed on loopback, or with --allow-unauthenticated)"
            );
        }
        let inbound = inbound_stack(callers, settings.max_concurrent_requests);

        let emulator = self.emulator;
        let drain_delay = settings.drain_delay;
        let drain = async move {
            shutdown.await;
            // NOT_SERVING first, and keep serving for `drain_delay`, so load balancers and probes
            // see it and stop sending before the listener closes; then stop accepting and let
            // the calls in flight finish.
            health
                .set_not_serving::<ElastiCacheServiceServer<ElastiCacheGrpc>>()
                .await;
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            tracing::info!(
                drain_delay_ms = drain_delay.as_millis() as u64,
                "shutting down: NOT_SERVING, then draining calls in flight"
            );
            tokio::time::sleep(drain_delay).await;
        };

        let tls = settings.tls.as_ref().map(tls_acceptor).transpose()?;
        let routes = Routes::new(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(service)
            .prepare();
        let stack = tower::ServiceBuilder::new().layer(inbound).service(routes);

        tracing::info!(
            address = %self.local_addr,
            tls = tls.is_some(),
            "elasticache-grpc listening"
        );
        crate::server::serve(self.listener, tls, stack, drain).await;
        if let Some(emulator) = emulator {
            emulator.shutdown();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// The inbound tower stack, outermost first (DESIGN §1):
/// - metrics see every call, refused ones included, with the status it really ended with;
/// - the request id is set before anything else, so every later layer, the span and every status
///   see the same id;
/// - the trace layer opens one span per RPC carrying it;
/// - the id is copied to the response, whatever produced the response (even a refusal below);
/// - the rescue gives tonic's own bare statuses (malformed or oversized messages, unknown
///   methods) the same details as ours — it must sit inside the id layers to know the id;
/// - authentication finds the caller, so everything after it knows who is calling;
/// - the per-caller rate limit needs the caller, and refuses before a slot is taken;
/// - load shedding is last: only calls that will really run take one of the global slots.
pub fn inbound_stack(callers: Arc<Callers>, max_concurrent_requests: usize) -> InboundStack {
    tower::ServiceBuilder::new()
        .layer(GrpcMetricsLayer)
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(TraceLayer::new_for_grpc().make_span_with(RpcSpan))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(RescueLayer)
        .layer(AuthLayer::new(Authenticate::new(callers)))
        .layer(RateLimitLayer::new(CallerRateLimit))
        .layer(LoadShedLayer::new(max_concurrent_requests))
        .into_inner()
}

/// The layers of [`inbound_stack`], innermost first.
pub type InboundStack = Stack<
    LoadShedLayer,
    Stack<
        RateLimitLayer,
        Stack<
            AuthLayer,
            Stack<
                RescueLayer,
                Stack<
                    PropagateRequestIdLayer,
                    Stack<
                        TraceLayer<SharedClassifier<GrpcErrorsAsFailures>, RpcSpan>,
                        Stack<
                            SetRequestIdLayer<MakeRequestUuid>,
                            Stack<GrpcMetricsLayer, tower::layer::util::Identity>,
                        >,
                    >,
                >,
            >,
        >,
    >,
>;

/// One span per RPC, named `rpc`, carrying the method, the request id and (once known) the caller.
#[derive(Debug, Clone, Copy)]
pub struct RpcSpan;

impl<B> MakeSpan<B> for RpcSpan {
    fn make_span(&mut self, request: &http::Request<B>) -> tracing::Span {
        let request_id = request
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let trace_id = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(trace_id_of)
            .unwrap_or_default();
        tracing::info_span!(
            "rpc",
            method = %request.uri().path(),
            request_id = %request_id,
            trace_id = %trace_id,
            caller = tracing::field::Empty
        )
    }
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), if valid.
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && hex(flags, 2)
        && (version != "00" || parts.next().is_none());
    valid.then_some(trace_id)
}

/// Reflection serves our files with their imports, the `google.rpc` detail types and health, so
/// grpcurl can describe any message and decode status details.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        // Naming services turns off tonic's "every service in the sets" listing, so name them
        // all: both reflection versions are served, and either lists both.
        .with_service_name(pb::SERVICE_NAME)
        .with_service_name("grpc.health.v1.Health")
        .with_service_name("grpc.reflection.v1.ServerReflection")
        .with_service_name("grpc.reflection.v1alpha.ServerReflection")
}

/// The SDK client for `upstream`, and the emulator when one was started for it.
///
/// SDK retries are off: the facade decides what is safe to retry (DESIGN §5).
pub async fn upstream_client(
    upstream: &Upstream,
) -> anyhow::Result<(aws_sdk_elasticache::Client, Option<Emulator>)> {
    match upstream {
        Upstream::AwsChain => {
            let shared = aws_config::defaults(BehaviorVersion::latest())
                .retry_config(RetryConfig::disabled())
                .load()
                .await;
            Ok((aws_sdk_elasticache::Client::new(&shared), None))
        }
        Upstream::Emulator(config) => {
            let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), config.clone())
                .await
                .context("cannot start the embedded emulator")?;
            tracing::info!(endpoint = %emulator.endpoint_url(), "embedded ElastiCache emulator started");
            Ok((static_client(&emulator.endpoint_url()), Some(emulator)))
        }
        Upstream::Endpoint(url) => Ok((static_client(url), None)),
    }
}

/// A client with static test credentials, region `us-east-1` and a fixed endpoint.
pub fn static_client(endpoint: &str) -> aws_sdk_elasticache::Client {
    let config = aws_sdk_elasticache::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDEMULATOR",
            "emulator-secret",
            None,
            None,
            "elasticache-grpc-static",
        ))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .build(),
        )
        .build();
    aws_sdk_elasticache::Client::from_conf(config)
}

#[cfg(test)]
mod tests {
    use super::trace_id_of;

    #[test]
    fn traceparent_yields_its_trace_id_when_valid() {
        assert_eq!(
            trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(trace_id_of(bad), None, "{bad}");
        }
    }
}
