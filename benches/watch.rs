//! Watches at scale: `--watches` open Watch streams (default 1,000) spread evenly over
//! `--resources` resources (default 100) of four kinds, a quarter each: serverless snapshots held
//! `exporting` and serverless caches held `modifying` at the emulator (so no watch ends, and their
//! pollers poll at the transitional interval), and RBAC users and user groups, which settle at once
//! and are watched with `keep_watching_when_settled` (their pollers poll at the settled interval).
//! Over a window of `--secs` seconds (default 30) with every watch open, it measures:
//!
//! - upstream Describe calls per second (the emulator's counters, all four Describes), against one
//!   poller per resource and against what the same clients polling a Describe once per poll
//!   interval would cost;
//! - the facade's RSS before the watches and with them open, and per watch;
//! - the facade's CPU (seconds of CPU per second) with the watches open;
//! - how long opening every watch took until each had its first message, and the heartbeats the
//!   watchers received.
//!
//! The facade and the emulator run as child processes (the release binary `cargo bench` builds),
//! with the facade's default `[watch]` settings (2 s polls, 10 s settled polls, 15 s heartbeats).
//! With `--replicas N` (N > 1) it runs N facades sharing one `redis-server` (`[state] backend =
//! "redis"`), the watches spread over them in turn, and reports the fleet's upstream calls (one
//! poller per resource for the whole fleet: what one replica costs), its summed CPU and the first
//! replica's RSS. Loopback only.
//!
//! ```sh
//! cargo bench --bench watch                          # 1,000 watches over 100 resources, 30 s
//! cargo bench --bench watch -- --watches 1000 --resources 100 --secs 30
//! cargo bench --bench watch -- --replicas 3          # three replicas on Redis
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
use futures_util::{Stream, StreamExt as _};
use process::{
    Process, control, cpu_seconds, emulator_calls_of, proc_status_kib, seeded_emulator,
    wait_for_port,
};
use tonic::transport::{Channel, Endpoint};

/// Watches per HTTP/2 connection (below the server's concurrent-stream limit).
const PER_CONNECTION: usize = 100;
/// The facade's default poll interval while a resource is in a transitional state.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// The facade's default poll interval of a settled resource watched past it.
const SETTLED_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// The Describes the pollers make.
const DESCRIBES: [&str; 4] = [
    "DescribeServerlessCacheSnapshots",
    "DescribeServerlessCaches",
    "DescribeUsers",
    "DescribeUserGroups",
];

struct Options {
    watches: usize,
    resources: usize,
    secs: u64,
    replicas: usize,
}

/// The kinds watched, a quarter of the resources each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ServerlessSnapshot,
    ServerlessCache,
    User,
    UserGroup,
}

const KINDS: [Kind; 4] = [
    Kind::ServerlessSnapshot,
    Kind::ServerlessCache,
    Kind::User,
    Kind::UserGroup,
];

impl Kind {
    /// Held in a transitional state (polled every 2 s) rather than settled (every 10 s).
    fn transitional(self) -> bool {
        matches!(self, Kind::ServerlessSnapshot | Kind::ServerlessCache)
    }
}

type Events = std::pin::Pin<Box<dyn Stream<Item = pb::WatchEvent> + Send>>;

/// A watch of `name`: its events until the stream ends.
async fn open_watch(
    client: &mut ElastiCacheServiceClient<Channel>,
    kind: Kind,
    name: String,
) -> Result<Events, tonic::Status> {
    fn events<M: Send + 'static>(
        stream: tonic::Streaming<M>,
        event: fn(&M) -> pb::WatchEvent,
    ) -> Events {
        Box::pin(
            stream
                .take_while(|m| std::future::ready(m.is_ok()))
                .filter_map(move |m| std::future::ready(m.ok().map(|m| event(&m)))),
        )
    }
    Ok(match kind {
        Kind::ServerlessSnapshot => events(
            client
                .watch_serverless_cache_snapshot(pb::WatchServerlessCacheSnapshotRequest {
                    serverless_cache_snapshot_name: name,
                    ..Default::default()
                })
                .await?
                .into_inner(),
            pb::WatchServerlessCacheSnapshotResponse::event,
        ),
        Kind::ServerlessCache => events(
            client
                .watch_serverless_cache(pb::WatchServerlessCacheRequest {
                    serverless_cache_name: name,
                    ..Default::default()
                })
                .await?
                .into_inner(),
            pb::WatchServerlessCacheResponse::event,
        ),
        Kind::User => events(
            client
                .watch_user(pb::WatchUserRequest {
                    user_id: name,
                    keep_watching_when_settled: true,
                    ..Default::default()
                })
                .await?
                .into_inner(),
            pb::WatchUserResponse::event,
        ),
        Kind::UserGroup => events(
            client
                .watch_user_group(pb::WatchUserGroupRequest {
                    user_group_id: name,
                    keep_watching_when_settled: true,
                    ..Default::default()
                })
                .await?
                .into_inner(),
            pb::WatchUserGroupResponse::event,
        ),
    })
}

/// Creates the resources of `kind` (`count` of them) at the emulator, held in a transitional
/// state where the kind has one; their names.
async fn create(
    sdk: &aws_sdk_elasticache::Client,
    emulator: std::net::SocketAddr,
    kind: Kind,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for i in 0..count {
        let name = match kind {
            Kind::ServerlessSnapshot => {
                let name = format!("bench-snapshot-{i:02}");
                if i >= SNAPSHOTS {
                    sdk.create_serverless_cache_snapshot()
                        .serverless_cache_name("bench")
                        .serverless_cache_snapshot_name(&name)
                        .send()
                        .await?;
                }
                // Settled (the emulator settles on its next request), then held once exporting.
                sdk.describe_serverless_cache_snapshots()
                    .serverless_cache_snapshot_name(&name)
                    .send()
                    .await?;
                hold(emulator, &name).await?;
                sdk.export_serverless_cache_snapshot()
                    .serverless_cache_snapshot_name(&name)
                    .s3_bucket_name("corp-cache-backups")
                    .send()
                    .await?;
                name
            }
            Kind::ServerlessCache => {
                let name = format!("bench-cache-{i:02}");
                sdk.create_serverless_cache()
                    .serverless_cache_name(&name)
                    .engine("valkey")
                    .send()
                    .await?;
                sdk.describe_serverless_caches()
                    .serverless_cache_name(&name)
                    .send()
                    .await?;
                hold(emulator, &name).await?;
                sdk.modify_serverless_cache()
                    .serverless_cache_name(&name)
                    .description("watched")
                    .send()
                    .await?;
                name
            }
            Kind::User => {
                let name = format!("bench-user-{i:02}");
                sdk.create_user()
                    .user_id(&name)
                    .user_name(&name)
                    .engine("redis")
                    .access_string("on ~* +@all")
                    .no_password_required(true)
                    .send()
                    .await?;
                name
            }
            Kind::UserGroup => {
                let name = format!("bench-group-{i:02}");
                sdk.create_user_group()
                    .user_group_id(&name)
                    .engine("redis")
                    .user_ids("default")
                    .send()
                    .await?;
                name
            }
        };
        names.push(name);
    }
    Ok(names)
}

/// Holds `name` in its transitional state at the emulator until the end.
async fn hold(emulator: std::net::SocketAddr, name: &str) -> anyhow::Result<()> {
    control(emulator, "POST", "/_emulator/hold", &format!("name={name}")).await?;
    Ok(())
}

impl Options {
    fn parse() -> anyhow::Result<Self> {
        let mut options = Options {
            watches: 1_000,
            resources: 100,
            secs: 30,
            replicas: 1,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--watches" => options.watches = args.next().unwrap_or_default().parse()?,
                "--resources" => options.resources = args.next().unwrap_or_default().parse()?,
                "--replicas" => options.replicas = args.next().unwrap_or_default().parse()?,
                "--secs" => options.secs = args.next().unwrap_or_default().parse()?,
                // `cargo bench` passes --bench to every target.
                "--bench" => {}
                other => {
                    anyhow::bail!(
                        "unknown option {other}; use --watches N --resources R --secs S \
                         --replicas N"
                    )
                }
            }
        }
        anyhow::ensure!(
            options.watches > 0
                && options.resources >= KINDS.len()
                && options.secs > 0
                && options.replicas > 0,
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
    let per_kind = options.resources / KINDS.len();
    let mut resources: Vec<(Kind, String)> = Vec::new();
    for kind in KINDS {
        for name in create(&sdk, emulator_addr, kind, per_kind).await? {
            resources.push((kind, name));
        }
    }

    // The upstream budget well above the polls' rate (the default, 20/s, is below the 30/s that
    // 100 watched resources take, and would hold polls back): this measures the pollers. With
    // several replicas, one Redis for them all.
    let mut toml = String::from("[upstream]\nrequests_per_second = 1000\nburst = 1000\n");
    let mut redis = None;
    if options.replicas > 1 {
        let addr = free_port()?;
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &addr.port().to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"]);
        let server = Process::spawn("redis", &mut cmd, &dir)
            .map_err(|e| anyhow::anyhow!("--replicas needs redis-server: {e}"))?;
        wait_for_port(addr).await?;
        redis = Some(server);
        toml.push_str(&format!(
            "\n[state]\nbackend = \"redis\"\nurl = \"redis://{addr}/0\"\n"
        ));
    }
    let path = dir.join("watch-bench.toml");
    std::fs::write(&path, toml)?;
    let config = ["--config".to_owned(), path.display().to_string()];
    let mut facades = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..options.replicas {
        let facade_addr = free_port()?;
        let facade = Process::spawn(
            "facade",
            Command::new(bin())
                .args(["--listen", &facade_addr.to_string()])
                .args(&config)
                .env("AWS_ENDPOINT_URL_ELASTICACHE", &endpoint)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
                .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
                .env("AWS_EC2_METADATA_DISABLED", "true"),
            &dir,
        )?;
        wait_for_port(facade_addr).await?;
        facades.push(facade);
        addrs.push(facade_addr);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = facades[0].pid();
    let pids: Vec<String> = facades.iter().map(|f| f.pid().to_string()).collect();
    let rss_before = proc_status_kib(pid, "VmRSS")?;

    // Connections taken in turn from each replica, so the watches spread evenly over them.
    let connections = options
        .watches
        .div_ceil(PER_CONNECTION)
        .next_multiple_of(options.replicas);
    let mut clients = Vec::new();
    for i in 0..connections {
        let addr = addrs[i % addrs.len()];
        let channel: Channel = Endpoint::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        clients.push(ElastiCacheServiceClient::new(channel));
    }
    let seen = Arc::new(Seen::default());
    let opening = Instant::now();
    let mut watchers = Vec::new();
    for i in 0..options.watches {
        let mut client = clients[i % connections].clone();
        let (kind, name) = resources[i % resources.len()].clone();
        let seen = seen.clone();
        watchers.push(tokio::spawn(async move {
            let Ok(mut events) = open_watch(&mut client, kind, name).await else {
                seen.ended.fetch_add(1, Ordering::Relaxed);
                return;
            };
            while let Some(event) = events.next().await {
                let counter = match event {
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
        if let Some(exit) = facades.iter_mut().find_map(Process::exited) {
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
    let calls_before = emulator_calls_of(emulator_addr, &DESCRIBES).await?;
    let fleet_cpu = || pids.iter().map(|p| cpu_seconds(p)).sum::<f64>();
    let cpu_before = fleet_cpu();
    let heartbeats_before = seen.heartbeats.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = started.elapsed().as_secs_f64();
    let calls = emulator_calls_of(emulator_addr, &DESCRIBES).await? - calls_before;
    let cpu = fleet_cpu() - cpu_before;
    let heartbeats = seen.heartbeats.load(Ordering::Relaxed) - heartbeats_before;
    let rss_open = proc_status_kib(pid, "VmRSS")?;
    let still_open = all - seen.ended.load(Ordering::Relaxed);

    let polling = options.watches as f64 / POLL_INTERVAL.as_secs_f64();
    let transitional = resources.iter().filter(|(k, _)| k.transitional()).count();
    let settled = resources.len() - transitional;
    let one_poller = transitional as f64 / POLL_INTERVAL.as_secs_f64()
        + settled as f64 / SETTLED_POLL_INTERVAL.as_secs_f64();
    println!(
        "watches: {} over {} resources ({transitional} held transitional: serverless snapshots \
         and caches; {settled} settled and watched past it: users and user groups) on \
         {connections} connections to {} replica(s){}; all had their first message {:.0} ms after \
         the first was opened; {still_open} still open at the end",
        options.watches,
        resources.len(),
        options.replicas,
        if options.replicas > 1 {
            " sharing one Redis"
        } else {
            ""
        },
        opened_in.as_secs_f64() * 1e3,
    );
    println!(
        "upstream Describe calls: {calls} in {elapsed:.1} s = {:.2}/s (one poller per resource: \
         {transitional} / {} s + {settled} / {} s = {one_poller:.1}/s; {} clients each polling \
         every {} s would make {polling:.0}/s)",
        calls as f64 / elapsed,
        POLL_INTERVAL.as_secs(),
        SETTLED_POLL_INTERVAL.as_secs(),
        options.watches,
        POLL_INTERVAL.as_secs(),
    );
    println!(
        "facade RSS (the first replica): {:.1} MiB before, {:.1} MiB with its watches open ({:.1} \
         KiB per watch)",
        rss_before as f64 / 1024.0,
        rss_open as f64 / 1024.0,
        (rss_open.saturating_sub(rss_before)) as f64
            / (options.watches / options.replicas).max(1) as f64,
    );
    println!(
        "facade CPU with the watches open (all replicas): {:.2}% of one core ({cpu:.3} s in \
         {elapsed:.1} s); heartbeats received in the window: {heartbeats}",
        cpu / elapsed * 100.0,
    );

    for watcher in &watchers {
        watcher.abort();
    }
    drop(clients);
    for facade in facades {
        facade.stop();
    }
    if let Some(redis) = redis {
        redis.stop();
    }
    emulator.stop();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
