//! Watches at scale: `--watches` open Watch streams (default 1,000) spread evenly over the 10
//! seeded snapshots, each snapshot held `exporting` at the emulator so that no watch ends. Over a
//! window of `--secs` seconds (default 30) with every watch open, it measures:
//!
//! - upstream `DescribeServerlessCacheSnapshots` calls per second (the emulator's counter), against
//!   what the same clients polling a Describe once per poll interval would cost;
//! - the facade's RSS before the watches and with them open, and per watch;
//! - the facade's CPU (seconds of CPU per second) with the watches open;
//! - how long opening every watch took until each had its first message, and the heartbeats the
//!   watchers received.
//!
//! The facade and the emulator run as child processes (the release binary `cargo bench` builds),
//! with the facade's default `[watch]` settings (2 s polls, 15 s heartbeats). Loopback only.
//!
//! ```sh
//! cargo bench --bench watch                          # 1,000 watches, 30 s window
//! cargo bench --bench watch -- --watches 1000 --secs 30
//! ```

mod common;
#[path = "common/process.rs"]
mod process;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{SNAPSHOTS, bin, free_port};
use elasticache_grpc::pb;
use elasticache_grpc::pb::elasti_cache_service_client::ElastiCacheServiceClient;
use process::{
    Process, control, cpu_seconds, emulator_calls, proc_status_kib, seeded_emulator, wait_for_port,
};
use tonic::transport::{Channel, Endpoint};

/// Watches per HTTP/2 connection (below the server's concurrent-stream limit).
const PER_CONNECTION: usize = 100;
/// The facade's default poll interval while a resource is in a transitional state.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

struct Options {
    watches: usize,
    secs: u64,
}

impl Options {
    fn parse() -> anyhow::Result<Self> {
        let mut options = Options {
            watches: 1_000,
            secs: 30,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--watches" => options.watches = args.next().unwrap_or_default().parse()?,
                "--secs" => options.secs = args.next().unwrap_or_default().parse()?,
                // `cargo bench` passes --bench to every target.
                "--bench" => {}
                other => anyhow::bail!("unknown option {other}; use --watches N --secs S"),
            }
        }
        anyhow::ensure!(
            options.watches > 0 && options.secs > 0,
            "nothing to measure"
        );
        Ok(options)
    }
}

/// What the watchers saw.
#[derive(Default)]
struct Seen {
    first: AtomicU64,
    heartbeats: AtomicU64,
    other: AtomicU64,
    ended: AtomicU64,
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(options))
}

async fn run(options: Options) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("elasticache-grpc-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let (emulator, emulator_addr, sdk) = seeded_emulator(&dir).await?;
    let endpoint = format!("http://{emulator_addr}");
    let names: Vec<String> = (0..SNAPSHOTS)
        .map(|i| format!("bench-snapshot-{i:02}"))
        .collect();
    // Every snapshot `exporting` until the end: the watches stay open and keep polling.
    for name in &names {
        control(
            emulator_addr,
            "POST",
            "/_emulator/hold",
            &format!("name={name}"),
        )
        .await?;
        sdk.export_serverless_cache_snapshot()
            .serverless_cache_snapshot_name(name)
            .s3_bucket_name("corp-cache-backups")
            .send()
            .await?;
    }

    let facade_addr = free_port()?;
    let mut facade = Process::spawn(
        "facade",
        Command::new(bin())
            .args(["--listen", &facade_addr.to_string()])
            .env("AWS_ENDPOINT_URL_ELASTICACHE", &endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
            .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
            .env("AWS_EC2_METADATA_DISABLED", "true"),
        &dir,
    )?;
    wait_for_port(facade_addr).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = facade.pid();
    let rss_before = proc_status_kib(pid, "VmRSS")?;

    let connections = options.watches.div_ceil(PER_CONNECTION);
    let mut clients = Vec::new();
    for _ in 0..connections {
        let channel: Channel = Endpoint::from_shared(format!("http://{facade_addr}"))?
            .connect()
            .await?;
        clients.push(ElastiCacheServiceClient::new(channel));
    }
    let seen = Arc::new(Seen::default());
    let opening = Instant::now();
    let mut watchers = Vec::new();
    for i in 0..options.watches {
        let mut client = clients[i % connections].clone();
        let name = names[i % names.len()].clone();
        let seen = seen.clone();
        watchers.push(tokio::spawn(async move {
            let request = pb::WatchServerlessCacheSnapshotRequest {
                serverless_cache_snapshot_name: name,
                keep_watching_when_settled: false,
                ..Default::default()
            };
            let Ok(response) = client.watch_serverless_cache_snapshot(request).await else {
                seen.ended.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let mut stream = response.into_inner();
            while let Ok(Some(message)) = stream.message().await {
                let counter = match message.event() {
                    pb::WatchEvent::Initial => &seen.first,
                    pb::WatchEvent::Heartbeat => &seen.heartbeats,
                    _ => &seen.other,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            seen.ended.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let all = options.watches as u64;
    while seen.first.load(Ordering::Relaxed) + seen.ended.load(Ordering::Relaxed) < all {
        anyhow::ensure!(
            opening.elapsed() < Duration::from_secs(60),
            "only {} of {all} watches had their first message after 60 s",
            seen.first.load(Ordering::Relaxed)
        );
        if let Some(exit) = facade.exited() {
            anyhow::bail!(exit);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let opened_in = opening.elapsed();
    anyhow::ensure!(
        seen.ended.load(Ordering::Relaxed) == 0,
        "{} watches ended before the measurement",
        seen.ended.load(Ordering::Relaxed)
    );

    let window = Duration::from_secs(options.secs);
    let calls_before = emulator_calls(emulator_addr).await?;
    let cpu_before = cpu_seconds(&pid.to_string());
    let heartbeats_before = seen.heartbeats.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = started.elapsed().as_secs_f64();
    let calls = emulator_calls(emulator_addr).await? - calls_before;
    let cpu = cpu_seconds(&pid.to_string()) - cpu_before;
    let heartbeats = seen.heartbeats.load(Ordering::Relaxed) - heartbeats_before;
    let rss_open = proc_status_kib(pid, "VmRSS")?;
    let still_open = all - seen.ended.load(Ordering::Relaxed);

    let polling = options.watches as f64 / POLL_INTERVAL.as_secs_f64();
    println!(
        "watches: {} over {} snapshots on {connections} connections; all had their first \
         message {:.0} ms after the first was opened; {still_open} still open at the end",
        options.watches,
        names.len(),
        opened_in.as_secs_f64() * 1e3,
    );
    println!(
        "upstream Describe calls: {calls} in {elapsed:.1} s = {:.2}/s (one poller per snapshot: \
         {} snapshots / {} s = {:.1}/s; {} clients each polling every {} s would make {polling:.0}/s)",
        calls as f64 / elapsed,
        names.len(),
        POLL_INTERVAL.as_secs(),
        names.len() as f64 / POLL_INTERVAL.as_secs_f64(),
        options.watches,
        POLL_INTERVAL.as_secs(),
    );
    println!(
        "facade RSS: {:.1} MiB before, {:.1} MiB with the watches open ({:.1} KiB per watch)",
        rss_before as f64 / 1024.0,
        rss_open as f64 / 1024.0,
        (rss_open.saturating_sub(rss_before)) as f64 / options.watches as f64,
    );
    println!(
        "facade CPU with the watches open: {:.2}% of one core ({cpu:.3} s in {elapsed:.1} s); \
         heartbeats received in the window: {heartbeats}",
        cpu / elapsed * 100.0,
    );

    for watcher in &watchers {
        watcher.abort();
    }
    drop(clients);
    facade.stop();
    emulator.stop();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
