//! Builds and runs the server. [`Application::build`] binds the listener first, so port 0 works
//! and [`Application::local_addr`] is known before anything is served.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sdk_elasticache::config::retry::RetryConfig;
use aws_sdk_elasticache::config::{Region, timeout::TimeoutConfig};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::{Settings, Upstream};
use crate::emulator::Emulator;
use crate::middleware::request_id::X_REQUEST_ID;
use crate::pb;
use crate::pb::elasti_cache_service_server::ElastiCacheServiceServer;
use crate::service::ElastiCacheGrpc;

/// A bound, not yet serving, server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    settings: Settings,
    client: aws_sdk_elasticache::Client,
    emulator: Option<Emulator>,
}

impl Application {
    /// Binds `settings.listen`, starts the emulator when asked, and builds the SDK client.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
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
        Ok(Self {
            listener,
            local_addr,
            settings,
            client,
            emulator,
        })
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
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

        let max = self.settings.max_message_bytes;
        let service = ElastiCacheServiceServer::new(ElastiCacheGrpc::new(
            self.client,
            self.settings.default_timeout,
        ))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);

        // The inbound stack, outermost first:
        // - a request id is set before anything else, so every later layer and the span see it;
        // - the trace layer opens one span per RPC carrying that id;
        // - the id is copied to the response last, whatever produced the response.
        let inbound = tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
            .layer(TraceLayer::new_for_grpc().make_span_with(rpc_span))
            .layer(PropagateRequestIdLayer::new(X_REQUEST_ID));

        let emulator = self.emulator;
        let drain = async move {
            shutdown.await;
            tracing::info!("shutting down: draining calls in flight");
            health
                .set_not_serving::<ElastiCacheServiceServer<ElastiCacheGrpc>>()
                .await;
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
        };

        tracing::info!(address = %self.local_addr, "elasticache-grpc listening");
        Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .layer(inbound)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(service)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), drain)
            .await?;
        if let Some(emulator) = emulator {
            emulator.shutdown();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Reflection serves our files with their imports, the `google.rpc` detail types and health, so
/// grpcurl can describe any message and decode status details.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        // Both reflection versions are served; list both whichever one is asked.
        .with_service_name("grpc.reflection.v1.ServerReflection")
        .with_service_name("grpc.reflection.v1alpha.ServerReflection")
}

fn rpc_span<B>(request: &http::Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!("rpc", method = %request.uri().path(), request_id = %request_id)
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
