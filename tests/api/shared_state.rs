//! Several replicas sharing one Redis and one emulator: caller limits, the upstream budget and
//! `request_id` records hold across replicas, and a Redis outage degrades, then recovers.
//!
//! Each test starts its own `redis-server` on a free loopback port, with persistence off. Where
//! `redis-server` is not installed the tests say so and return, unless `REQUIRE_REDIS=1` (set by
//! `.ci/run`), which makes a missing server a failure.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use elasticache_grpc::config::{Settings, StateSettings};
use elasticache_grpc::emulator::{Emulator, FaultKind};
use elasticache_grpc::pb;
use elasticache_grpc::pb::elasti_cache_service_client::ElastiCacheServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::*;

/// A `redis-server` child on a loopback port.
struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// A fresh server, or `None` (after saying why) when `redis-server` is not installed and
    /// the run does not require it.
    async fn start() -> Option<RedisServer> {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var("REQUIRE_REDIS").is_err(),
                "REQUIRE_REDIS is set but redis-server is not installed"
            );
            eprintln!("redis-server is not installed: skipping (CI installs it)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut server = RedisServer { child: None, port };
        server.run().await;
        Some(server)
    }

    async fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers().await {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server never answered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn answers(&self) -> bool {
        let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").await.is_ok()
            && s.read_exact(&mut buf).await.is_ok()
            && &buf == b"+PONG\r\n"
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// `KEYS pattern`, sorted (over RESP by hand: tests need no Redis client).
    async fn keys(&self, pattern: &str) -> Vec<String> {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let command = format!("*2\r\n$4\r\nKEYS\r\n${}\r\n{pattern}\r\n", pattern.len());
        s.write_all(command.as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        // The whole array: its header says how many bulk strings follow.
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "redis closed the connection");
            reply.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&reply);
            let Some(count) = text
                .strip_prefix('*')
                .and_then(|t| t.split("\r\n").next())
                .and_then(|c| c.parse::<usize>().ok())
            else {
                continue;
            };
            let lines: Vec<&str> = text.split("\r\n").collect();
            if lines.len() > 2 * count + 1 {
                let mut keys: Vec<String> = lines[1..=2 * count]
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .map(|k| (*k).to_owned())
                    .collect();
                keys.sort();
                return keys;
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One facade replica in front of a shared emulator; stopped when dropped.
struct Replica {
    client: ElastiCacheServiceClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn replica(emulator: &Emulator, customize: impl FnOnce(&mut Settings)) -> Replica {
    let served = serve(emulator, customize).await;
    Replica {
        client: served.client,
        stop: Some(served.stop),
    }
}

async fn emulator() -> Emulator {
    start_emulator().await
}

fn shared(redis: &RedisServer, replicas: u32) -> StateSettings {
    StateSettings {
        redis_url: Some(redis.url()),
        replicas,
        ..StateSettings::default()
    }
}

/// Calls accepted when one caller limited to 10/s (burst 10) drives three replicas for 5 s.
async fn accepted_through_three(state: StateSettings) -> u32 {
    let emulator = emulator().await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let state = state.clone();
        replicas.push(
            replica(&emulator, |s| {
                let mut c = caller("limited", "limited-secret", &["*"], &[]);
                c.requests_per_second = Some(10);
                c.burst = Some(10);
                s.callers = vec![c];
                s.state = state;
            })
            .await,
        );
    }
    let accepted = Arc::new(AtomicU32::new(0));
    let until = Instant::now() + Duration::from_secs(5);
    let mut tasks = Vec::new();
    for r in &replicas {
        let mut client = r.client.clone();
        let accepted = accepted.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < until {
                i += 1;
                let call = client
                    .describe_serverless_caches(with_token(
                        distinct_describe(i % 50),
                        "limited-secret",
                    ))
                    .await;
                match call {
                    Ok(_) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(status) => {
                        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                        assert_eq!(reason(&status), "RATE_LIMITED");
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    accepted.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_callers_limit() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    // 10/s for 5 s plus a burst of 10: 60 at most, 5% allowed for the edges.
    let shared_accepted = accepted_through_three(shared(&redis, 3)).await;
    let alone = accepted_through_three(StateSettings::default()).await;
    eprintln!(
        "one caller at 10/s through 3 replicas for 5 s: {shared_accepted} accepted with Redis, {alone} with memory"
    );
    assert!(shared_accepted <= 63, "{shared_accepted} accepted");
    assert!(
        shared_accepted >= 50,
        "the limit let too few through: {shared_accepted}"
    );
    assert!(alone > 100, "each replica enforces its own limit: {alone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_budget_is_the_accounts_across_replicas() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let emulator = emulator().await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let state = shared(&redis, 3);
        replicas.push(
            replica(&emulator, |s| {
                s.upstream_policy.requests_per_second = 5;
                s.upstream_policy.burst = 5;
                s.state = state;
            })
            .await,
        );
    }
    let until = Instant::now() + Duration::from_secs(3);
    let mut tasks = Vec::new();
    for (n, r) in replicas.iter().enumerate() {
        let mut client = r.client.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < until {
                i += 1;
                let mut request = tonic::Request::new(distinct_describe((i * 3 + n as i32) % 90));
                request.set_timeout(Duration::from_millis(300));
                let _ = client.describe_serverless_caches(request).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let calls = emulator.calls("DescribeServerlessCaches");
    // 5/s for 3 s plus a burst of 5: 20, and 5% for the edges.
    assert!(calls <= 21, "{calls} calls reached the account's API");
    assert!(calls >= 12, "the budget let too few through: {calls}");
    emulator.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_hold_across_replicas() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let emulator = emulator().await;
    let a = replica(&emulator, |s| s.state = shared(&redis, 2)).await;
    let b = replica(&emulator, |s| s.state = shared(&redis, 2)).await;
    let (mut ca, mut cb) = (a.client.clone(), b.client.clone());
    let cache = unique("shared");
    ca.create_serverless_cache(pb::CreateServerlessCacheRequest {
        serverless_cache_name: cache.clone(),
        engine: "valkey".into(),
        ..Default::default()
    })
    .await
    .expect("cache");
    tokio::time::sleep(SETTLE * 3).await;
    let snap = |name: &str, id: &str| pb::CreateServerlessCacheSnapshotRequest {
        serverless_cache_snapshot_name: name.into(),
        serverless_cache_name: cache.clone(),
        request_id: Some(id.into()),
        ..Default::default()
    };

    // Lost after send through A, retried through B: done once, answered with the snapshot.
    let id = uuid::Uuid::new_v4().to_string();
    let snapshot = unique("lost");
    emulator.faults().inject(
        Some("CreateServerlessCacheSnapshot"),
        FaultKind::DropResponse,
        1,
    );
    let lost = ca
        .create_serverless_cache_snapshot(snap(&snapshot, &id))
        .await
        .unwrap_err();
    assert_eq!(reason(&lost), "UPSTREAM_OUTCOME_UNKNOWN");
    let answer = cb
        .create_serverless_cache_snapshot(snap(&snapshot, &id))
        .await
        .expect("the retry through B");
    assert_eq!(
        answer
            .into_inner()
            .serverless_cache_snapshot
            .and_then(|s| s.serverless_cache_snapshot_name),
        Some(snapshot.clone())
    );
    assert_eq!(emulator.calls("CreateServerlessCacheSnapshot"), 1);

    // Another request under the same id, through B.
    let reused = cb
        .create_serverless_cache_snapshot(snap(&unique("other"), &id))
        .await
        .unwrap_err();
    assert_eq!(reason(&reused), "REQUEST_ID_REUSED");

    // Two at once, one through each replica: one upstream call, one answer.
    let id = uuid::Uuid::new_v4().to_string();
    let snapshot = unique("twin");
    emulator.faults().inject(
        Some("CreateServerlessCacheSnapshot"),
        FaultKind::Delay(Duration::from_millis(300)),
        1,
    );
    let (ra, rb) = tokio::join!(
        ca.create_serverless_cache_snapshot(snap(&snapshot, &id)),
        cb.create_serverless_cache_snapshot(snap(&snapshot, &id)),
    );
    assert_eq!(ra.expect("A").into_inner(), rb.expect("B").into_inner());
    assert_eq!(emulator.calls("CreateServerlessCacheSnapshot"), 2);
    emulator.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_degrades_and_recovers() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let emulator = emulator().await;
    let app = replica(&emulator, |s| s.state = shared(&redis, 1)).await;
    let mut client = app.client.clone();
    let delete = |name: &str| pb::DeleteServerlessCacheRequest {
        serverless_cache_name: name.into(),
        request_id: Some(uuid::Uuid::new_v4().to_string()),
        ..Default::default()
    };
    // Up: a request_id call runs (NOT_FOUND is its answer).
    let status = client
        .delete_serverless_cache(delete("nope"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    redis.stop();
    // Reads go on; request_id mutations are refused at once, never run.
    let before = emulator.calls("DeleteServerlessCache");
    for i in 0..5 {
        client
            .describe_serverless_caches(distinct_describe(i))
            .await
            .expect("reads go on without Redis");
        let started = Instant::now();
        let status = client
            .delete_serverless_cache(delete("nope"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert_eq!(reason(&status), "STATE_UNAVAILABLE");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(
        emulator.calls("DeleteServerlessCache"),
        before,
        "nothing was run"
    );

    // Back: normal again within 2 s, without a restart.
    redis.run().await;
    let back = Instant::now();
    loop {
        match client.delete_serverless_cache(delete("nope")).await {
            Err(status) if status.code() == Code::NotFound => break,
            Err(status) => {
                assert_eq!(reason(&status), "STATE_UNAVAILABLE");
                assert!(
                    back.elapsed() < Duration::from_secs(2),
                    "not recovered in 2 s"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(_) => panic!("deleted a cache that does not exist"),
        }
    }
    emulator.shutdown();
}

/// Three replicas on one Redis, every one watching the same cache: one of them polls AWS for
/// the fleet (the lease's holder) and the others read what it publishes, so the fleet's polls
/// cost what one replica's cost; a change still reaches the watchers of every replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poller_per_watched_resource_for_the_whole_fleet() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let emulator = emulator().await;
    let poll = Duration::from_millis(100);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let state = shared(&redis, 3);
        replicas.push(
            replica(&emulator, |s| {
                s.state = state;
                s.watch.poll_interval = poll;
                s.watch.settled_poll_interval = poll;
            })
            .await,
        );
    }
    let cache = unique("fleet-watch");
    let mut client = replicas[0].client.clone();
    client
        .create_serverless_cache(pb::CreateServerlessCacheRequest {
            serverless_cache_name: cache.clone(),
            engine: "valkey".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let caches = client
            .describe_serverless_caches(pb::DescribeServerlessCachesRequest {
                serverless_cache_name: Some(cache.clone()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .serverless_caches;
        if caches[0].status.as_deref() == Some("available") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never available"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    emulator.hold(&cache);
    client
        .modify_serverless_cache(pb::ModifyServerlessCacheRequest {
            serverless_cache_name: cache.clone(),
            description: Some("watched by the fleet".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut streams = Vec::new();
    for r in &replicas {
        for _ in 0..2 {
            let mut stream = r
                .client
                .clone()
                .watch_serverless_cache(pb::WatchServerlessCacheRequest {
                    serverless_cache_name: cache.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let first = tokio::time::timeout(Duration::from_secs(5), stream.message())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(
                first.serverless_cache.unwrap().status.as_deref(),
                Some("modifying")
            );
            streams.push(stream);
        }
    }
    // Past the arrivals' own polls: over 2 s, the fleet polls as one replica would.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = emulator.calls("DescribeServerlessCaches");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = emulator.calls("DescribeServerlessCaches") - before;
    // One poller at 100 ms: about 20 in 2 s; three pollers would make about 60.
    assert!(
        (10..=30).contains(&calls),
        "{calls} Describe calls in 2 s for one resource watched on three replicas"
    );

    emulator.release(&cache);
    for mut stream in streams {
        let mut last = None;
        while let Some(m) = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("the change reaches every replica's watchers")
            .unwrap()
        {
            last = Some(m);
        }
        let last = last.expect("a last message");
        assert_eq!(
            last.serverless_cache.unwrap().status.as_deref(),
            Some("available")
        );
        assert!(last.settled);
    }
    emulator.shutdown();
}

/// With named targets, a resource's lease is per (target, kind, name): the same cache name
/// watched through two targets is two resources with a poller each, and replicas watching it
/// through one target share that target's lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_leases_are_keyed_by_target() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let east = emulator().await;
    let west = emulator().await;
    let target = |name: &str, emulator: &Emulator| target_on(name, "us-east-1", emulator);
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let state = shared(&redis, 2);
        let targets = vec![target("east", &east), target("west", &west)];
        replicas.push(
            replica(&east, |s| {
                s.state = state;
                s.targets = targets;
                s.callers = vec![elasticache_grpc::config::CallerConfig {
                    targets: vec!["east".into(), "west".into()],
                    default_target: Some("east".into()),
                    ..caller("fleet", "fleet-token", &["*"], &[])
                }];
            })
            .await,
        );
    }
    let cache = unique("leased");
    for (emulator, name) in [(&east, "east"), (&west, "west")] {
        emulator.hold(&cache);
        replicas[0]
            .client
            .clone()
            .create_serverless_cache(routed(
                pb::CreateServerlessCacheRequest {
                    serverless_cache_name: cache.clone(),
                    engine: "valkey".into(),
                    ..Default::default()
                },
                "fleet-token",
                Some(name),
            ))
            .await
            .unwrap();
    }
    let mut streams = Vec::new();
    for r in &replicas {
        for name in ["east", "west"] {
            let watch = pb::WatchServerlessCacheRequest {
                serverless_cache_name: cache.clone(),
                ..Default::default()
            };
            let mut stream = r
                .client
                .clone()
                .watch_serverless_cache(routed(watch, "fleet-token", Some(name)))
                .await
                .unwrap()
                .into_inner();
            let first = tokio::time::timeout(Duration::from_secs(5), stream.message())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(
                first.serverless_cache.unwrap().status.as_deref(),
                Some("creating")
            );
            streams.push(stream);
        }
    }
    let leases = redis.keys("elasticache-grpc:lease:*").await;
    assert_eq!(
        leases,
        [
            format!("elasticache-grpc:lease:watch:east:cache:{cache}"),
            format!("elasticache-grpc:lease:watch:west:cache:{cache}"),
        ],
        "one lease per target for the two replicas"
    );
    drop(streams);
    east.release(&cache);
    west.release(&cache);
}
