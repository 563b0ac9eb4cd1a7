//! Builds and runs the server. [`Application::build`] binds the listener first, so port 0 works
//! and [`Application::local_addr`] is known before anything is served.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_elasticache::config::retry::RetryConfig;
use aws_sdk_elasticache::config::{Region, StalledStreamProtectionConfig, timeout::TimeoutConfig};
use aws_smithy_runtime_api::client::stalled_stream_protection::DEFAULT_GRACE_PERIOD;
use tokio::net::TcpListener;

use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_reflection::server::v1::{ServerReflection, ServerReflectionServer};
use tonic_reflection::server::v1alpha;
use tower::layer::util::Stack;
use tower_http::classify::{GrpcErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::{Settings, Upstream};
use crate::emulator::Emulator;
use crate::headers::{
    GRPC_STATUS, GRPC_STATUS_DETAILS_BIN, GRPC_TIMEOUT, TRACEPARENT, X_ELASTICACHE_TARGET,
};
use crate::identity::Callers;
use crate::metrics::GrpcMetricsLayer;
use crate::middleware::auth::{AuthLayer, Authenticate};
use crate::middleware::content_type::{ContentTypeLayer, GrpcContentType};
use crate::middleware::load_shed::LoadShedLayer;
use crate::middleware::rate_limit::{CallerRateLimit, RateLimitLayer};
use crate::middleware::rescue::RescueLayer;
use crate::middleware::sanitize_request_id::SanitizeRequestIdLayer;
use crate::middleware::trace::{RpcLog, RpcSpan};
use crate::pb;
use crate::pb::elasti_cache_service_server::ElastiCacheServiceServer;
use crate::request_id::{MakeRequestId, X_REQUEST_ID, X_REQUEST_ID_REPLACED};
use crate::server::{ConnectionPolicy, tls_acceptor};
use crate::service::ElastiCacheGrpc;
use crate::state::SharedState;
use crate::upstream::Upstream as UpstreamStack;
use crate::upstream::user_agent::ReuseUserAgent;
use crate::upstream::wire_names::AwsWireNames;

/// A bound, not yet serving, server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    settings: Settings,
    client: aws_sdk_elasticache::Client,
    /// One client per named target (`[targets]`); empty: `client` serves every call.
    targets: Vec<(String, aws_sdk_elasticache::Client)>,
    emulator: Option<Emulator>,
}

impl Application {
    /// Binds `settings.listen`, starts the emulator when asked, and builds the SDK client.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check()?;
        let attempt_timeout = settings.upstream_policy.attempt_timeout;
        let (client, emulator) = upstream_client(&settings.upstream, attempt_timeout).await?;
        let targets = if settings.targets.is_empty() {
            Vec::new()
        } else {
            let base = base_sdk_config(&settings.upstream, emulator.as_ref()).await;
            crate::target::clients(&settings.targets, &base, attempt_timeout).await
        };
        let mut app = Self::with_client(settings, client, emulator).await?;
        app.targets = targets;
        Ok(app)
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
            targets: Vec::new(),
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

        // Built on their first call: reflection decodes the descriptor sets with AWS's
        // documentation and keeps a copy of them, which an idle server need not hold.
        let reflection_v1 = LazyService::new(reflection_v1);
        let reflection_v1alpha = LazyService::new(reflection_v1alpha);

        let settings = self.settings;
        let max = settings.max_message_bytes;
        let state = SharedState::new(&settings.state).map_err(anyhow::Error::msg)?;
        if state.is_shared() {
            tracing::info!(
                replicas = settings.state.replicas,
                "shared state: limits and request ids in Redis"
            );
        }
        // One service per target: each has its own upstream budget, retry budget, coalescer,
        // watches and request_id records, as each target is its own AWS account quota.
        let service_of = |client, upstream| {
            ElastiCacheGrpc::with_upstream(client, settings.default_timeout, upstream)
                .with_idempotency(state.clone(), settings.state.request_id_ttl)
                .with_max_response_bytes(max)
                .with_coalescing(settings.coalesce_describes)
                .with_watch_settings(settings.watch.clone())
                .with_shared_watches(&state)
        };
        let routed =
            ElastiCacheGrpc::routed(
                self.targets
                    .into_iter()
                    .map(|(name, client)| {
                        let upstream = UpstreamStack::new(&settings.upstream_policy)
                            .with_target_state(&state, &settings.upstream_policy, &name);
                        let service = service_of(client, upstream).for_target(&name);
                        (name, service)
                    })
                    .collect(),
            );
        let grpc = match routed {
            Some(routed) => routed,
            None => service_of(
                self.client,
                UpstreamStack::new(&settings.upstream_policy)
                    .with_state(&state, &settings.upstream_policy),
            ),
        };
        let watches = grpc.all_watches();
        let service = ElastiCacheServiceServer::new(grpc)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);

        let callers = Arc::new(Callers::new(&settings.callers));
        if callers.is_empty() {
            tracing::warn!(
                "no callers configured: calls are not authenticated (allowed on loopback, or with --allow-unauthenticated)"
            );
        }
        let inbound = inbound_stack(callers, settings.max_concurrent_requests, &state);

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
            // Open watches would hold the drain until their deadline: end them, so their
            // callers watch again on another replica.
            for watches in &watches {
                watches.shut_down();
            }
        };

        let tls = settings.tls.as_ref().map(tls_acceptor).transpose()?;
        let routes = Routes::new(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(service)
            .prepare();
        // Connect outermost: a Connect call becomes the gRPC call it means before anything else
        // sees it, so it is measured, authenticated, limited and audited as one.
        let stack = tower::ServiceBuilder::new()
            .option_layer(cors(&settings.cors_allowed_origins)?)
            .layer(crate::connect::ConnectLayer::new(max)?)
            .layer(inbound)
            .service(routes);

        tracing::info!(
            address = %self.local_addr,
            tls = tls.is_some(),
            "elasticache-grpc listening"
        );
        let policy = ConnectionPolicy {
            handshake_timeout: settings.handshake_timeout,
            max_connections: settings.max_connections,
            keepalive_interval: settings.keepalive_interval,
            keepalive_timeout: settings.keepalive_timeout,
        };
        crate::server::serve(self.listener, tls, stack, drain, policy).await;
        if let Some(emulator) = emulator {
            emulator.shutdown();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// CORS for browsers calling over Connect or gRPC-Web from `origins`; `None` (no CORS headers
/// for anyone) when there are none.
fn cors(origins: &[String]) -> anyhow::Result<Option<tower_http::cors::CorsLayer>> {
    use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|o| http::HeaderValue::from_str(o))
        .collect::<Result<Vec<_>, _>>()?;
    let name = HeaderName::from_static;
    Ok(Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::AllowOrigin::list(origins))
            .allow_methods([http::Method::GET, http::Method::POST])
            .allow_headers([
                CONTENT_TYPE,
                AUTHORIZATION,
                name("x-grpc-web"),
                name("x-user-agent"),
                GRPC_TIMEOUT,
                name("connect-protocol-version"),
                name("connect-timeout-ms"),
                X_REQUEST_ID,
                TRACEPARENT,
                X_ELASTICACHE_TARGET,
            ])
            .expose_headers([
                GRPC_STATUS,
                name("grpc-message"),
                GRPC_STATUS_DETAILS_BIN,
                X_REQUEST_ID,
                X_REQUEST_ID_REPLACED,
            ])
            .max_age(Duration::from_secs(3600)),
    ))
}

/// The inbound tower stack, outermost first (DESIGN §1):
/// - metrics see every call, refused ones included, with the status it really ended with;
/// - a caller's unusable request id (too long, not visible ASCII) is dropped before the request-id
///   layer, which then generates one, so no later layer, log line or header carries it;
/// - the request id is set before anything else, so every later layer, the span and every status
///   see the same id;
/// - the trace layer opens one span per RPC carrying it, and logs how the call ended;
/// - the id is copied to the response, whatever produced the response (even a refusal below);
/// - what is not gRPC is refused before anyone looks at its credentials;
/// - authentication finds the caller, so everything after it knows who is calling;
/// - the per-caller rate limit needs the caller, and refuses before a slot is taken;
/// - load shedding: only calls that will really run take one of the global slots;
/// - the rescue is innermost: it gives tonic's own bare statuses (malformed or oversized
///   messages, unknown methods) the same details as ours, and it must know the id (set above)
///   and the caller (found above) to write the audit line of a mutating call that ends there.
pub fn inbound_stack(
    callers: Arc<Callers>,
    max_concurrent_requests: usize,
    state: &SharedState,
) -> InboundStack {
    tower::ServiceBuilder::new()
        .layer(GrpcMetricsLayer)
        .layer(SanitizeRequestIdLayer)
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestId))
        .layer(
            TraceLayer::new_for_grpc()
                .make_span_with(RpcSpan)
                .on_request(())
                .on_body_chunk(())
                .on_response(RpcLog)
                .on_eos(RpcLog)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(ContentTypeLayer::new(GrpcContentType))
        .layer(AuthLayer::new(Authenticate::new(callers)))
        .layer(RateLimitLayer::new(CallerRateLimit::new(state)))
        .layer(LoadShedLayer::new(max_concurrent_requests))
        .layer(RescueLayer)
        .into_inner()
}

/// The trace layer of [`inbound_stack`].
pub type RpcTraceLayer =
    TraceLayer<SharedClassifier<GrpcErrorsAsFailures>, RpcSpan, (), RpcLog, (), RpcLog, ()>;

/// The layers of [`inbound_stack`], innermost first.
pub type InboundStack = Stack<
    RescueLayer,
    Stack<
        LoadShedLayer,
        Stack<
            RateLimitLayer,
            Stack<
                AuthLayer,
                Stack<
                    ContentTypeLayer,
                    Stack<
                        PropagateRequestIdLayer,
                        Stack<
                            RpcTraceLayer,
                            Stack<
                                SetRequestIdLayer<MakeRequestId>,
                                Stack<
                                    SanitizeRequestIdLayer,
                                    Stack<GrpcMetricsLayer, tower::layer::util::Identity>,
                                >,
                            >,
                        >,
                    >,
                >,
            >,
        >,
    >,
>;

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

/// Reflection v1. The sets are compiled in, so they decode (`reflection_builds` in the tests).
fn reflection_v1() -> ServerReflectionServer<impl ServerReflection> {
    reflection()
        .build_v1()
        .expect("the embedded descriptor sets decode")
}

/// Reflection v1alpha, like [`reflection_v1`].
fn reflection_v1alpha() -> v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection> {
    reflection()
        .build_v1alpha()
        .expect("the embedded descriptor sets decode")
}

/// A service built on its first request (by any clone), for what an idle server need not hold.
#[derive(Debug)]
pub struct LazyService<S> {
    built: Arc<OnceLock<S>>,
    build: fn() -> S,
    /// This clone's copy, taken in `poll_ready`.
    ready: Option<S>,
}

impl<S> LazyService<S> {
    /// `build` runs once, on the first `poll_ready` of any clone.
    pub fn new(build: fn() -> S) -> Self {
        Self {
            built: Arc::new(OnceLock::new()),
            build,
            ready: None,
        }
    }

    /// Whether it has been built.
    pub fn is_built(&self) -> bool {
        self.built.get().is_some()
    }
}

impl<S> Clone for LazyService<S> {
    fn clone(&self) -> Self {
        Self {
            built: self.built.clone(),
            build: self.build,
            ready: None,
        }
    }
}

impl<S: NamedService> NamedService for LazyService<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, R> tower::Service<R> for LazyService<S>
where
    S: tower::Service<R> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let (built, build) = (&self.built, self.build);
        self.ready
            .get_or_insert_with(|| built.get_or_init(build).clone())
            .poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.ready
            .take()
            .expect("poll_ready before call")
            .call(request)
    }
}

/// The SDK client for `upstream`, and the emulator when one was started for it.
///
/// SDK retries are off: the facade decides what is safe to retry (DESIGN §5).
pub async fn upstream_client(
    upstream: &Upstream,
    attempt_timeout: Duration,
) -> anyhow::Result<(aws_sdk_elasticache::Client, Option<Emulator>)> {
    match upstream {
        Upstream::AwsChain => {
            let shared = aws_config::defaults(BehaviorVersion::latest())
                .retry_config(RetryConfig::disabled())
                .load()
                .await;
            log_aws_settings(&shared, |name| std::env::var_os(name).is_some());
            Ok((
                facade_client(aws_sdk_elasticache::Config::new(&shared), attempt_timeout),
                None,
            ))
        }
        Upstream::Emulator(config) => {
            let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), config.clone())
                .await
                .context("cannot start the embedded emulator")?;
            tracing::info!(endpoint = %emulator.endpoint_url(), "embedded ElastiCache emulator started");
            Ok((
                facade_client(static_config(&emulator.endpoint_url()), attempt_timeout),
                Some(emulator),
            ))
        }
        Upstream::Endpoint(url) => Ok((facade_client(static_config(url), attempt_timeout), None)),
    }
}

/// The configuration the targets' clients start from: the standard AWS chain, or static test
/// credentials and the emulator's (or the fixed) endpoint.
async fn base_sdk_config(
    upstream: &Upstream,
    emulator: Option<&Emulator>,
) -> aws_config::SdkConfig {
    let loader =
        aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::disabled());
    let endpoint = match (upstream, emulator) {
        (_, Some(emulator)) => Some(emulator.endpoint_url()),
        (Upstream::Endpoint(url), None) => Some(url.clone()),
        _ => None,
    };
    match endpoint {
        None => loader.load().await,
        Some(url) => {
            loader
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new(
                    "AKIDEMULATOR",
                    "emulator-secret",
                    None,
                    None,
                    "elasticache-grpc-static",
                ))
                .endpoint_url(url)
                .timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(3))
                        .build(),
                )
                .load()
                .await
        }
    }
}

/// The facade's client from a configuration: the same SDK client a caller would make, with
/// - its user agent built once per operation instead of on every call ([`ReuseUserAgent`]);
/// - the elements AWS names unlike the SDK renamed before the SDK parses a response
///   ([`AwsWireNames`]), so no member of AWS's response is dropped;
/// - the SDK's stalled-stream protection off when every attempt ends (`attempt_timeout`, which
///   bounds each SDK call, body included) before the protection's grace period could (the
///   defaults: 10 s against 20 s). A stalled request or response is then cut by the attempt
///   timeout first either way; the protection's per-call throughput timer only woke the runtime's
///   I/O driver once per call (BENCHMARKS.md). A longer attempt timeout keeps the protection.
pub fn facade_client(
    config: aws_sdk_elasticache::Config,
    attempt_timeout: Duration,
) -> aws_sdk_elasticache::Client {
    let grace = config.stalled_stream_protection().map_or(
        DEFAULT_GRACE_PERIOD,
        StalledStreamProtectionConfig::grace_period,
    );
    let mut builder = config
        .to_builder()
        .interceptor(ReuseUserAgent::default())
        .interceptor(AwsWireNames);
    if attempt_timeout <= grace {
        builder.set_stalled_stream_protection(Some(StalledStreamProtectionConfig::disabled()));
    }
    aws_sdk_elasticache::Client::from_conf(builder.build())
}

/// One line saying which AWS settings were found (never a secret), and a warning when there is no
/// region: without one no call can be sent, and every call answers FAILED_PRECONDITION
/// `REGION_MISSING`.
fn log_aws_settings(shared: &aws_config::SdkConfig, is_set: impl Fn(&str) -> bool) {
    let region = shared.region().map(|r| r.to_string());
    let endpoint = if is_set("AWS_ENDPOINT_URL_ELASTICACHE") {
        "AWS_ENDPOINT_URL_ELASTICACHE"
    } else if is_set("AWS_ENDPOINT_URL") {
        "AWS_ENDPOINT_URL"
    } else {
        "default"
    };
    let credentials = if is_set("AWS_ACCESS_KEY_ID") {
        "environment (AWS_ACCESS_KEY_ID)"
    } else if is_set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)"
    } else if is_set("AWS_PROFILE") {
        "profile (AWS_PROFILE)"
    } else if is_set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        || is_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    {
        "container (ECS / EKS Pod Identity)"
    } else {
        "default chain (profile files, then instance metadata)"
    };
    tracing::info!(
        region = region.as_deref().unwrap_or("(none)"),
        endpoint,
        credentials,
        "AWS settings"
    );
    if region.is_none() {
        tracing::warn!(
            "no AWS region found (AWS_REGION, AWS_DEFAULT_REGION or a profile's region): every \
             call will fail with FAILED_PRECONDITION REGION_MISSING until one is set"
        );
    }
}

/// A client with static test credentials, region `us-east-1` and a fixed endpoint: the plain SDK
/// client, as a caller of the SDK would make it (the benches' direct side).
pub fn static_client(endpoint: &str) -> aws_sdk_elasticache::Client {
    aws_sdk_elasticache::Client::from_conf(static_config(endpoint))
}

/// The configuration of [`static_client`].
pub fn static_config(endpoint: &str) -> aws_sdk_elasticache::Config {
    aws_sdk_elasticache::Config::builder()
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
        .build()
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::client::interceptors::Intercept as _;

    use super::*;

    #[tokio::test]
    async fn reflection_is_built_on_its_first_call_once() {
        type Request = http::Request<tonic::body::Body>;
        // The embedded sets decode (a bad one would otherwise show only at the first call).
        let _ = reflection_v1alpha();
        let lazy = LazyService::new(reflection_v1);
        let mut first = lazy.clone();
        assert!(!lazy.is_built());
        tower::ServiceExt::<Request>::ready(&mut first)
            .await
            .unwrap();
        assert!(lazy.is_built());
        // Every clone shares the one built.
        let mut second = lazy.clone();
        tower::ServiceExt::<Request>::ready(&mut second)
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&first.built, &second.built));
        fn name<S: NamedService>(_: &S) -> &'static str {
            S::NAME
        }
        assert_eq!(name(&lazy), "grpc.reflection.v1.ServerReflection");
    }

    #[test]
    fn the_facade_client_has_the_interceptors() {
        let client = facade_client(static_config("http://127.0.0.1:9"), Duration::from_secs(10));
        let names: Vec<&str> = client.config().interceptors().map(|i| i.name()).collect();
        assert!(names.contains(&"ReuseUserAgent"), "{names:?}");
        assert!(names.contains(&"AwsWireNames"), "{names:?}");
    }

    #[test]
    fn stalled_stream_protection_is_off_only_when_the_attempt_timeout_comes_first() {
        let protection = |attempt_timeout: Duration| {
            facade_client(static_config("http://127.0.0.1:9"), attempt_timeout)
                .config()
                .stalled_stream_protection()
                .map(|p| p.is_enabled())
        };
        // Within the SDK's 20 s grace period: the attempt timeout cuts a stall first.
        assert_eq!(protection(Duration::from_secs(10)), Some(false));
        assert_eq!(protection(Duration::from_secs(20)), Some(false));
        // Beyond it, the SDK's default (enabled, set by its defaults when left unset) stays.
        assert_ne!(protection(Duration::from_secs(21)), Some(false));
        // A configured grace period is the one compared: 5 s is shorter than a 10 s attempt
        // timeout, so the protection stays; 60 s is longer than 30 s, so it goes.
        let with_grace = |grace: u64, attempt_timeout: u64| {
            let config = static_config("http://127.0.0.1:9")
                .to_builder()
                .stalled_stream_protection(
                    StalledStreamProtectionConfig::enabled()
                        .grace_period(Duration::from_secs(grace))
                        .build(),
                )
                .build();
            facade_client(config, Duration::from_secs(attempt_timeout))
                .config()
                .stalled_stream_protection()
                .map(|p| p.is_enabled())
        };
        assert_eq!(with_grace(5, 10), Some(true));
        assert_eq!(with_grace(60, 30), Some(false));
    }
}
