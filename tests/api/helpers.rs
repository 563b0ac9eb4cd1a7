//! `spawn_app()`: the emulator and the facade, both bound to port 0, and a connected client;
//! [`Binary`]: the facade as a child process, its log lines kept for the test to read.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut};

use elasticache_grpc::config::{CallerConfig, Settings, TargetConfig, Upstream, parse_digest};
use elasticache_grpc::emulator::{Emulator, EmulatorConfig};
use elasticache_grpc::identity::hash_token;
use elasticache_grpc::pb;
use elasticache_grpc::pb::elasti_cache_service_client::ElastiCacheServiceClient;
use elasticache_grpc::startup::Application;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
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
    let emulator = start_emulator().await;
    let served = serve(&emulator, customize).await;
    TestApp {
        client: served.client,
        emulator,
        addr: served.addr,
        metrics_addr: served.metrics_addr,
        stop: Some(served.stop),
        server: Some(served.server),
    }
}

/// An emulator on 127.0.0.1:0 whose resources settle after [`SETTLE`].
pub(crate) async fn start_emulator() -> Emulator {
    Emulator::start(
        ([127, 0, 0, 1], 0).into(),
        EmulatorConfig {
            settle_time: SETTLE,
            export_time: SETTLE,
            ..EmulatorConfig::default()
        },
    )
    .await
    .expect("emulator starts")
}

/// A facade serving on 127.0.0.1:0 in front of `emulator`.
pub(crate) struct Served {
    pub(crate) client: ElastiCacheServiceClient<Channel>,
    pub(crate) addr: SocketAddr,
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) stop: oneshot::Sender<()>,
    pub(crate) server: JoinHandle<anyhow::Result<()>>,
}

/// Starts a facade in front of `emulator` (several may share one: replicas).
pub(crate) async fn serve(emulator: &Emulator, customize: impl FnOnce(&mut Settings)) -> Served {
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
    Served {
        client: ElastiCacheServiceClient::new(channel),
        addr,
        metrics_addr,
        stop,
        server,
    }
}

/// A caller identified by the bearer `token`, allowed `allow` and exporting to `buckets`.
pub(crate) fn caller(name: &str, token: &str, allow: &[&str], buckets: &[&str]) -> CallerConfig {
    CallerConfig {
        name: name.into(),
        token_sha256: Some(parse_digest(&hash_token(token)).unwrap()),
        mtls_identity: None,
        allow: allow.iter().map(|s| s.to_string()).collect(),
        export_buckets: buckets.iter().map(|s| s.to_string()).collect(),
        requests_per_second: None,
        burst: None,
        targets: Vec::new(),
        default_target: None,
    }
}

/// `message` with `authorization: Bearer <token>`.
pub(crate) fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// `message` with the bearer `token`, sent to the named target when one is given
/// (`x-elasticache-target`).
pub(crate) fn routed<T>(message: T, token: &str, target: Option<&str>) -> tonic::Request<T> {
    let mut request = with_token(message, token);
    if let Some(target) = target {
        request
            .metadata_mut()
            .insert("x-elasticache-target", target.parse().unwrap());
    }
    request
}

/// A target `[targets.<name>]` in `region` on `emulator`, with the facade's own credentials.
pub(crate) fn target_on(name: &str, region: &str, emulator: &Emulator) -> TargetConfig {
    TargetConfig {
        name: name.into(),
        region: region.into(),
        role_arn: None,
        external_id: None,
        session_name: None,
        endpoint_url: Some(emulator.endpoint_url()),
        sts_endpoint_url: None,
    }
}

/// The `i`th of a set of Describes that differ (page size `i + 1`), so that they are not
/// coalesced into one upstream call: tests that count upstream calls or hold slots send these.
pub(crate) fn distinct_describe(i: i32) -> pb::DescribeServerlessCachesRequest {
    pb::DescribeServerlessCachesRequest {
        max_results: Some(i + 1),
        ..Default::default()
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

/// The facade binary as a child process (bound to `127.0.0.1:0` unless `args` say otherwise), in
/// front of `endpoint` when given, with static test credentials and region; its stderr lines are
/// kept for the test. An `env` entry with an empty value removes that variable.
pub(crate) struct Binary {
    child: Option<Child>,
    pub(crate) addr: SocketAddr,
    pub(crate) metrics_addr: Option<SocketAddr>,
    lines: Arc<Mutex<Vec<String>>>,
}

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_elasticache-grpc");

/// The value after `key` in a log line, text (`key=value`) or JSON (`"key":"value"`).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    if let Some(start) = line.find(&format!("\"{key}\":\"")) {
        let rest = &line[start + key.len() + 4..];
        return rest.split('"').next();
    }
    let start = line.find(&format!("{key}="))?;
    line[start + key.len() + 1..].split_whitespace().next()
}

impl Binary {
    /// Starts the binary and waits until it listens; panics with its output when it does not.
    pub(crate) fn spawn(endpoint: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Binary {
        let mut command = Command::new(BIN);
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command
            .args(args)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped());
        if let Some(endpoint) = endpoint {
            command.env("AWS_ENDPOINT_URL_ELASTICACHE", endpoint);
        }
        for (k, v) in env {
            if v.is_empty() {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        let mut child = command.spawn().expect("binary starts");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        let mut metrics_addr = None;
        let addr = loop {
            let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
                let _ = child.kill();
                panic!(
                    "the binary never listened; its output:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            };
            if line.contains("metrics at /metrics") {
                metrics_addr = field(&line, "address").and_then(|a| a.parse().ok());
            }
            if line.contains("elasticache-grpc listening") {
                break field(&line, "address")
                    .and_then(|a| a.parse().ok())
                    .expect("address field");
            }
        };
        Binary {
            child: Some(child),
            addr,
            metrics_addr,
            lines,
        }
    }

    /// Everything the binary wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end, at most `limit`; its exit status.
    pub(crate) async fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().unwrap();
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    /// Hands the process over (it is no longer killed on drop).
    pub(crate) fn into_child(mut self) -> Child {
        self.child.take().unwrap()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Resident memory of `pid`, in KiB.
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Sends and receives raw bytes, so a test can put anything on the wire.
#[derive(Debug, Default, Clone)]
pub(crate) struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

/// A unary call of any path with raw bytes, on `channel`.
pub(crate) async fn raw_call_on(
    channel: Channel,
    path: &str,
    body: Vec<u8>,
) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    grpc.unary(tonic::Request::new(body), path.parse().unwrap(), RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// `GET /metrics` over a plain TCP connection.
pub(crate) async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("metrics port");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    body
}
