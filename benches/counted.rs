//! Cost per call, counted instead of timed: instructions under `valgrind --tool=callgrind`, which
//! are repeatable where time on two shared cores is not.
//!
//! - (a) a direct SDK call (`DescribeServerlessCacheSnapshots`) to the emulator, in-process: this
//!   bench binary re-runs itself as a child under callgrind;
//! - (b) the facade process per Describe call, server side (gRPC decode, middleware, validation,
//!   conversion, the SDK call, encode): the release binary under callgrind, called from here;
//! - (c) an empty gRPC call through the facade's stack (`grpc.health.v1.Health/Check`), the same
//!   way; and the top inclusive functions of (b).
//!
//! Counting starts after one call of each kind (`callgrind_control -z`), so start-up and one-time
//! work are never counted, and every figure is a difference of two runs that differ only in the
//! number of calls (`(I(N₂) − I(N₁)) / (N₂ − N₁)`), so the shutdown cancels out. The emulator runs in its own
//! process, never counted. Loopback only; every run is bounded.
//!
//! ```sh
//! cargo bench --bench counted                 # ≈ 1 min; needs valgrind (apt-get install valgrind)
//! cargo bench --bench counted -- --calls 100,600
//! cargo bench --bench counted -- --check BENCHMARKS.md   # fail if (b) grew > 5% (.ci/run)
//! cargo bench --bench counted -- --keep /tmp/counted      # keep the callgrind outputs there
//! cargo bench --bench counted -- --targets 1,50           # (b) with 1 and with 50 named targets
//! ```
//!
//! `--targets A,B` counts (b) again with `[targets]` configs of A and of B targets (all on the
//! emulator, one caller allowed every one, each call naming the last with `x-elasticache-target`),
//! and fails when the two differ by more than 5%: routing a call must cost the same whatever the
//! number of targets (issue 25).
//!
//! `--check FILE` reads the committed figure from the line `counted-guard: facade_describe=N`
//! and fails when (b) is more than 5% above it: counts are repeatable (seven runs of (b) spread
//! over 2.3%), so growth beyond that is a change of the code, not of the machine.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{SNAPSHOTS, bin, free_port, seed};
use elasticache_grpc::pb;
use elasticache_grpc::pb::elasti_cache_service_client::ElastiCacheServiceClient;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The child of (a): N direct SDK calls, counted by the callgrind it runs under.
    if let Some(i) = args.iter().position(|a| a == "--child-direct") {
        let endpoint = args.get(i + 1).expect("endpoint").clone();
        let calls: usize = args.get(i + 2).expect("calls").parse()?;
        return runtime.block_on(direct_calls(&endpoint, calls));
    }
    let mut calls = (100usize, 1100usize);
    if let Some(i) = args.iter().position(|a| a == "--calls") {
        let (a, b) = args
            .get(i + 1)
            .and_then(|v| v.split_once(','))
            .expect("--calls N1,N2");
        calls = (a.parse()?, b.parse()?);
    }
    let check = args
        .iter()
        .position(|a| a == "--check")
        .map(|i| PathBuf::from(args.get(i + 1).expect("--check FILE")));
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .map(|i| PathBuf::from(args.get(i + 1).expect("--keep DIR")));
    if let Some(i) = args.iter().position(|a| a == "--targets") {
        let (a, b) = args
            .get(i + 1)
            .and_then(|v| v.split_once(','))
            .expect("--targets A,B");
        return runtime.block_on(run_targets(calls, (a.parse()?, b.parse()?)));
    }
    let describe = runtime.block_on(run(calls, keep))?;
    if let Some(file) = check {
        let text = std::fs::read_to_string(&file)?;
        let committed: u64 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("counted-guard: facade_describe="))
            .and_then(|v| v.trim().trim_end_matches('`').parse().ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no `counted-guard: facade_describe=N` line in {}",
                    file.display()
                )
            })?;
        let limit = committed + committed / 20;
        anyhow::ensure!(
            describe <= limit,
            "the facade's instructions per Describe call grew to {describe}, more than 5% over \
             the {committed} committed in {} (limit {limit})",
            file.display()
        );
        println!("guard: {describe} ≤ {limit} (committed {committed} + 5%): ok");
    }
    Ok(())
}

async fn direct_calls(endpoint: &str, calls: usize) -> anyhow::Result<()> {
    let sdk = elasticache_grpc::startup::static_client(endpoint);
    // One call first, so lazily built state (the connection, the SDK's caches) is built before
    // counting starts.
    sdk.describe_serverless_cache_snapshots().send().await?;
    zero_counters(std::process::id())?;
    for _ in 0..calls {
        sdk.describe_serverless_cache_snapshots().send().await?;
    }
    Ok(())
}

/// Zeroes the counters of the callgrind running `pid` (`callgrind_control -z`, through
/// valgrind's gdbserver): what ran before — start-up, the first calls, one-time work whose cost
/// depends on timing, such as the TSC calibration of the metrics clock — is not counted. What is
/// counted after it is the calls and the shutdown, and the shutdown cancels out in the difference
/// of two runs.
fn zero_counters(pid: u32) -> anyhow::Result<()> {
    let out = Command::new("callgrind_control")
        .args(["-z", &pid.to_string()])
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success() && text.contains("OK"),
        "callgrind_control -z {pid} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for_port(addr: SocketAddr, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("nothing listens on {addr} after {limit:?}")
}

/// The total instructions (`Ir`) of a callgrind output file.
fn instructions(out: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(out)?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no totals in {}", out.display()))
}

fn callgrind(out: &Path) -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// (a): this binary as a child, N direct SDK calls under callgrind.
fn count_direct(dir: &Path, endpoint: &str, calls: usize) -> anyhow::Result<u64> {
    let out = dir.join(format!("direct-{calls}.out"));
    let status = callgrind(&out)
        .arg(std::env::current_exe()?)
        .args(["--child-direct", endpoint, &calls.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "direct child failed: {status}");
    instructions(&out)
}

/// (b) and (c): the facade under callgrind, `describes` Describe calls then `checks` health
/// checks, one at a time, then SIGTERM.
/// The bearer token of the `--targets` configs' caller.
const TARGETS_TOKEN: &str = "bench-token";

/// How (b)'s calls are sent: as is, or by the `--targets` caller to a named target.
#[derive(Clone, Copy)]
enum Calls<'a> {
    Plain,
    ToTarget(&'a str),
}

impl Calls<'_> {
    fn request<T>(self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Calls::ToTarget(target) = self {
            let metadata = request.metadata_mut();
            metadata.insert(
                "authorization",
                format!("Bearer {TARGETS_TOKEN}").parse().expect("ascii"),
            );
            metadata.insert("x-elasticache-target", target.parse().expect("ascii"));
        }
        request
    }
}

async fn count_facade(
    dir: &Path,
    endpoint: &str,
    config: &Path,
    (describes, checks): (usize, usize),
    calls: Calls<'_>,
) -> anyhow::Result<(u64, PathBuf)> {
    let stem = config
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("facade");
    let out = dir.join(format!("{stem}-{describes}-{checks}.out"));
    let addr = free_port()?;
    let mut cmd = callgrind(&out);
    cmd.arg(bin())
        .args(["--listen", &addr.to_string(), "--config"])
        .arg(config)
        .env("AWS_ENDPOINT_URL_ELASTICACHE", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env("RUST_LOG", "warn");
    let mut facade = Process(cmd.spawn()?);
    wait_for_port(addr, Duration::from_secs(120)).await?;
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut client = ElastiCacheServiceClient::new(channel.clone());
    let mut health = HealthClient::new(channel);
    // One of each first, so lazily built state (the SDK's connection, the HTTP/2 streams) is
    // built in both runs alike.
    client
        .describe_serverless_cache_snapshots(
            calls.request(pb::DescribeServerlessCacheSnapshotsRequest::default()),
        )
        .await?;
    health.check(HealthCheckRequest::default()).await?;
    zero_counters(facade.0.id())?;
    for _ in 0..describes {
        let r = client
            .describe_serverless_cache_snapshots(
                calls.request(pb::DescribeServerlessCacheSnapshotsRequest::default()),
            )
            .await?;
        anyhow::ensure!(r.get_ref().serverless_cache_snapshots.len() == SNAPSHOTS);
    }
    for _ in 0..checks {
        health.check(HealthCheckRequest::default()).await?;
    }
    let status = Command::new("kill")
        .args(["-TERM", &facade.0.id().to_string()])
        .status()?;
    anyhow::ensure!(status.success());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(exit) = facade.0.try_wait()? {
            anyhow::ensure!(exit.success(), "the facade exited with {exit}");
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the facade did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((instructions(&out)?, out))
}

/// Starts the emulator (settling at once) with the snapshots (b) describes; its process and
/// endpoint.
async fn seeded_emulator() -> anyhow::Result<(Process, String)> {
    let emulator_addr = free_port()?;
    let emulator = Process(
        Command::new(bin())
            .args([
                "emulator",
                "--listen",
                &emulator_addr.to_string(),
                "--settle-ms",
                "0",
            ])
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for_port(emulator_addr, Duration::from_secs(10)).await?;
    let endpoint = format!("http://{emulator_addr}");
    let sdk = elasticache_grpc::startup::static_client(&endpoint);
    seed(&sdk).await?;
    Ok((emulator, endpoint))
}

/// The upstream budget (20 rps by default) would otherwise be what is measured.
const UNLIMITED_UPSTREAM: &str = "[upstream]\nrequests_per_second = 1000000\nburst = 1000000\n";

/// (b) with `a` and with `b` named targets; fails when they differ by more than 5%.
async fn run_targets((n1, n2): (usize, usize), (a, b): (usize, usize)) -> anyhow::Result<()> {
    anyhow::ensure!(n2 > n1, "--calls N1,N2 needs N2 > N1");
    anyhow::ensure!(
        a >= 1 && b >= 1,
        "--targets A,B needs at least one target each"
    );
    let dir = std::env::temp_dir().join(format!("ecgrpc-counted-targets-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (_emulator, endpoint) = seeded_emulator().await?;
    let span = (n2 - n1) as u64;
    let mut per_call = Vec::new();
    for targets in [a, b] {
        let config = dir.join(format!("targets-{targets}.toml"));
        std::fs::write(&config, targets_config(targets, &endpoint))?;
        let last = format!("t{}", targets - 1);
        let calls = Calls::ToTarget(&last);
        let (base, _) = count_facade(&dir, &endpoint, &config, (n1, n1), calls).await?;
        let (more, _) = count_facade(&dir, &endpoint, &config, (n2, n1), calls).await?;
        per_call.push(more.saturating_sub(base) / span);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (ia, ib) = (per_call[0], per_call[1]);
    let change = (ib as f64 - ia as f64) / ia as f64 * 100.0;
    println!("\ninstructions per Describe call to a named target (callgrind, N = {n1} vs {n2}):");
    println!("  {a:>3} target(s)  {ia:>10}");
    println!("  {b:>3} target(s)  {ib:>10}   ({change:+.2}%)");
    println!("counted-targets: targets_{a}={ia} targets_{b}={ib}");
    anyhow::ensure!(
        change.abs() <= 5.0,
        "a call costs {change:+.2}% with {b} targets instead of {a}: routing must not grow with the targets"
    );
    Ok(())
}

/// `targets` targets `t0`…, all on the emulator, and one caller allowed every one.
fn targets_config(targets: usize, endpoint: &str) -> String {
    let mut config = UNLIMITED_UPSTREAM.to_owned();
    let names: Vec<String> = (0..targets).map(|i| format!("t{i}")).collect();
    for name in &names {
        config.push_str(&format!(
            "\n[targets.{name}]\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n"
        ));
    }
    config.push_str(&format!(
        "\n[[callers]]\nname = \"bench\"\ntoken_sha256 = \"{}\"\nallow = [\"*\"]\n\
         requests_per_second = 1000000\nburst = 1000000\ntargets = {names:?}\n\
         default_target = \"t0\"\n",
        elasticache_grpc::identity::hash_token(TARGETS_TOKEN)
    ));
    config
}

/// Runs (a), (b) and (c), prints them; returns (b).
async fn run((n1, n2): (usize, usize), keep: Option<PathBuf>) -> anyhow::Result<u64> {
    anyhow::ensure!(n2 > n1, "--calls N1,N2 needs N2 > N1");
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ecgrpc-counted-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    let (_emulator, endpoint) = seeded_emulator().await?;
    // The upstream budget (20 rps by default) would otherwise be what is measured.
    let config = dir.join("bench.toml");
    std::fs::write(&config, UNLIMITED_UPSTREAM)?;

    let span = (n2 - n1) as u64;
    let started = Instant::now();
    let direct = (count_direct(&dir, &endpoint, n2)? - count_direct(&dir, &endpoint, n1)?) / span;
    let (base, _) = count_facade(&dir, &endpoint, &config, (n1, n1), Calls::Plain).await?;
    let (more_describes, profile) =
        count_facade(&dir, &endpoint, &config, (n2, n1), Calls::Plain).await?;
    let (more_checks, _) = count_facade(&dir, &endpoint, &config, (n1, n2), Calls::Plain).await?;
    let describe = more_describes.saturating_sub(base) / span;
    let check = more_checks.saturating_sub(base) / span;
    let own = describe.saturating_sub(direct);

    println!("\ninstructions per call (callgrind, N = {n1} vs {n2}):");
    println!("  (a) direct SDK call, in-process            {direct:>10}");
    println!("  (b) facade process per Describe call       {describe:>10}");
    println!("  (c) facade process per Health/Check        {check:>10}");
    println!("  (b) - (a): the facade's own share          {own:>10}");
    println!(
        "counted: direct={direct} facade_describe={describe} facade_check={check} facade_own={own}"
    );
    println!("({:.0} s)", started.elapsed().as_secs_f64());

    // The top inclusive functions of (b), from its larger run (start-up is a small part of it).
    let annotate = Command::new("callgrind_annotate")
        .args(["--inclusive=yes", "--threshold=100"])
        .arg(&profile)
        .output();
    match annotate {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            println!("\ntop inclusive functions of (b), {n2} Describe calls:");
            text.lines()
                .skip_while(|l| !l.contains("file:function"))
                .skip(2)
                .take(25)
                .for_each(|l| println!("{l}"));
        }
        _ => println!("(callgrind_annotate not available: no function profile)"),
    }
    match keep {
        Some(dir) => println!("callgrind outputs kept in {}", dir.display()),
        None => {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(describe)
}
