//! `spawn_app()`: the emulator and the facade, both bound to port 0, and a connected client.

use std::time::Duration;

use elasticache_grpc::config::{Settings, Upstream};
use elasticache_grpc::emulator::{Emulator, EmulatorConfig};
use elasticache_grpc::pb;
use elasticache_grpc::pb::elasti_cache_service_client::ElastiCacheServiceClient;
use elasticache_grpc::startup::Application;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_types::{ErrorDetails, StatusExt};

/// How long the emulator keeps resources `creating` / `exporting` in tests.
pub(crate) const SETTLE: Duration = Duration::from_millis(100);

pub(crate) struct TestApp {
    pub(crate) client: ElastiCacheServiceClient<Channel>,
    pub(crate) emulator: Emulator,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) metrics_addr: Option<std::net::SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Stops the server and waits until it has drained.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.emulator.shutdown();
    }
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub(crate) async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    let emulator = Emulator::start(
        ([127, 0, 0, 1], 0).into(),
        EmulatorConfig {
            settle_time: SETTLE,
            export_time: SETTLE,
            ..EmulatorConfig::default()
        },
    )
    .await
    .expect("emulator starts");
    let mut settings = Settings::new(
        ([127, 0, 0, 1], 0).into(),
        Upstream::Endpoint(emulator.endpoint_url()),
    );
    customize(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    // Lazy, so that a TLS server (whose tests connect their own way) does not fail here.
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect_lazy();
    let client = ElastiCacheServiceClient::new(channel);
    TestApp {
        client,
        emulator,
        addr,
        metrics_addr,
        stop: Some(stop),
        server: Some(server),
    }
}

/// A name unique within the test run.
pub(crate) fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

pub(crate) fn details(status: &tonic::Status) -> ErrorDetails {
    status.get_error_details()
}

pub(crate) fn reason(status: &tonic::Status) -> String {
    details(status)
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// Type URLs of every detail in the status.
pub(crate) fn detail_types(status: &tonic::Status) -> Vec<String> {
    use prost::Message;
    tonic_types::pb::Status::decode(status.details())
        .map(|s| s.details.into_iter().map(|a| a.type_url).collect())
        .unwrap_or_default()
}

/// Creates a cache and waits until it is `available`.
pub(crate) async fn available_cache(app: &mut TestApp, name: &str) {
    app.client
        .create_serverless_cache(pb::CreateServerlessCacheRequest {
            serverless_cache_name: name.into(),
            engine: "valkey".into(),
            ..Default::default()
        })
        .await
        .expect("cache created");
    wait_for_cache(app, name, "available").await;
}

pub(crate) async fn cache_status(app: &TestApp, name: &str) -> Option<String> {
    let mut c = app.client.clone();
    let r = c
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest {
            serverless_cache_name: Some(name.to_owned()),
            ..Default::default()
        })
        .await
        .ok()?
        .into_inner();
    r.serverless_caches.first()?.status.clone()
}

pub(crate) async fn wait_for_cache(app: &TestApp, name: &str, status: &str) {
    wait_for(|| cache_status(app, name), status).await;
}

/// Creates a snapshot of an available cache and waits until it is `available`.
pub(crate) async fn available_snapshot(app: &mut TestApp, cache: &str, snapshot: &str) {
    app.client
        .create_serverless_cache_snapshot(pb::CreateServerlessCacheSnapshotRequest {
            serverless_cache_snapshot_name: snapshot.into(),
            serverless_cache_name: cache.into(),
            ..Default::default()
        })
        .await
        .expect("snapshot created");
    wait_for_snapshot(app, snapshot, "available").await;
}

pub(crate) async fn snapshot_status(app: &TestApp, snapshot: &str) -> Option<String> {
    let mut c = app.client.clone();
    let r = c
        .describe_serverless_cache_snapshots(pb::DescribeServerlessCacheSnapshotsRequest {
            serverless_cache_snapshot_name: Some(snapshot.into()),
            ..Default::default()
        })
        .await
        .ok()?
        .into_inner();
    r.serverless_cache_snapshots.first()?.status.clone()
}

pub(crate) async fn wait_for_snapshot(app: &TestApp, snapshot: &str, status: &str) {
    wait_for(|| snapshot_status(app, snapshot), status).await;
}

/// Polls `probe` until it returns `want`, for at most 5 s.
pub(crate) async fn wait_for<F, Fut>(mut probe: F, want: &str)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        last = probe().await;
        if last.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("status never became {want:?}; last seen {last:?}");
}
