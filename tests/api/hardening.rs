//! What a newcomer and an attacker found (issue 8), each proven against the running server:
//! bounded metric labels, connections that must finish their handshake, probes that are never
//! shed, responses too large to send, request ids that cannot forge logs, audit lines for every
//! mutating call, log levels, a missing region, the README's example config, and more.

use std::time::{Duration, Instant};

use elasticache_grpc::config::{Settings, Upstream};
use elasticache_grpc::emulator::{Emulator, EmulatorConfig, FaultKind};
use elasticache_grpc::identity::hash_token;
use elasticache_grpc::pb;
use elasticache_grpc::pb::elasti_cache_service_client::ElastiCacheServiceClient;
use elasticache_grpc::startup::Application;
use futures_util::StreamExt;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::helpers::*;

async fn emulator() -> Emulator {
    Emulator::start(([127, 0, 0, 1], 0).into(), EmulatorConfig::default())
        .await
        .unwrap()
}

async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// How long until the server closes `stream` (reads EOF or an error), at most `limit`.
async fn closed_after(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // The server may say something (a GOAWAY) before it closes.
            Ok(Ok(_)) => continue,
        }
    }
}

/// 1. Made-up paths share one `unknown` label: 10,000 of them leave `/metrics` small and RSS
/// where it was.
#[tokio::test]
async fn ten_thousand_unknown_paths_leave_metrics_and_memory_bounded() {
    let emulator = emulator().await;
    let binary = Binary::spawn(
        Some(&emulator.endpoint_url()),
        &["--metrics-listen", "127.0.0.1:0", "--log-format", "json"],
        &[("RUST_LOG", "warn,elasticache_grpc::startup=info")],
    );
    let channel = channel(binary.addr).await;
    // Warm up: the known series exist, allocator pools are primed.
    for i in 0..200 {
        let _ = raw_call_on(channel.clone(), &format!("/warm.up/M{i}"), vec![]).await;
    }
    let before = rss_kib(binary.pid());
    let calls = futures_util::stream::iter(0..10_000)
        .map(|i| {
            let channel = channel.clone();
            async move {
                let path = if i % 2 == 0 {
                    format!("/elasticache.v1.ElastiCacheService/MadeUp{i}")
                } else {
                    format!("/attacker{i}.Service/Method{i}")
                };
                raw_call_on(channel, &path, vec![]).await
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    assert_eq!(calls.len(), 10_000);
    // Each is answered UNIMPLEMENTED before its body is read, so the server resets the stream;
    // after about a thousand such resets on one connection h2's reset-flood guard closes it
    // (ENHANCE_YOUR_CALM) and the client reconnects: a few calls end at the transport level.
    let unimplemented = calls
        .iter()
        .filter(|r| r.as_ref().is_err_and(|s| s.code() == Code::Unimplemented))
        .count();
    assert!(calls.iter().all(Result::is_err), "a made-up path succeeded");
    assert!(
        unimplemented >= 9_000,
        "{unimplemented} of 10,000 UNIMPLEMENTED"
    );
    let after = rss_kib(binary.pid());
    let text = scrape(binary.metrics_addr.expect("metrics on")).await;
    println!(
        "10,000 unknown paths: /metrics {} bytes, RSS {before} -> {after} KiB, {unimplemented} UNIMPLEMENTED",
        text.len()
    );
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.len() < 64 * 1024,
        "/metrics is {} bytes after 10,000 unknown paths",
        text.len()
    );
    assert!(!text.contains("MadeUp"), "a raw path became a label");
    assert!(
        text.contains("grpc_method=\"unknown\""),
        "unknown methods share one label"
    );
    assert!(
        after <= before + 10 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    emulator.shutdown();
}

/// 2. A socket that sends nothing, or half the HTTP/2 preface, is closed after the handshake
/// timeout; over the connection cap a new connection is closed at once.
#[tokio::test]
async fn idle_and_half_open_connections_are_closed_within_the_handshake_timeout() {
    let app = spawn_app_with(|s| {
        s.handshake_timeout = Duration::from_millis(1500);
        s.max_connections = 3;
    })
    .await;
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    let mut half = TcpStream::connect(app.addr).await.unwrap();
    half.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    // Over the cap (3 open): closed at once, long before the handshake timeout.
    let mut fourth = TcpStream::connect(app.addr).await.unwrap();
    let at_once = closed_after(&mut fourth, Duration::from_secs(2))
        .await
        .expect("a connection over the cap is closed");
    assert!(at_once < Duration::from_millis(1000), "{at_once:?}");
    for (name, stream) in [
        ("idle", &mut idle),
        ("half preface", &mut half),
        ("third", &mut third),
    ] {
        let after = closed_after(stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("the {name} socket was never closed"));
        assert!(after < Duration::from_millis(3000), "{name}: {after:?}");
    }
    // Slots are free again, and a real client is served.
    let mut client = app.client.clone();
    client
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
        .await
        .expect("served after the stale connections went");
}

/// 2. A client that finished its handshake but no longer answers HTTP/2 PINGs is closed after the
/// keep-alive interval and timeout.
#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_closed() {
    let app = spawn_app_with(|s| {
        s.keepalive_interval = Duration::from_millis(200);
        s.keepalive_timeout = Duration::from_millis(200);
    })
    .await;
    let mut dead = TcpStream::connect(app.addr).await.unwrap();
    dead.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // An empty SETTINGS frame: the handshake is complete; from now on the peer answers nothing.
    dead.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let after = closed_after(&mut dead, Duration::from_secs(5))
        .await
        .expect("a dead peer is closed");
    assert!(
        after >= Duration::from_millis(300),
        "closed too early: {after:?}"
    );
}

/// 2. SIGTERM with idle and half-open sockets (and an idle HTTP/2 client) exits within the drain
/// delay + 1 s.
#[tokio::test]
async fn sigterm_with_idle_and_half_open_sockets_exits_within_the_drain_delay() {
    let emulator = emulator().await;
    let mut binary = Binary::spawn(
        Some(&emulator.endpoint_url()),
        &["--drain-delay-ms", "300", "--handshake-timeout-ms", "60000"],
        &[],
    );
    let _idle = TcpStream::connect(binary.addr).await.unwrap();
    let mut half = TcpStream::connect(binary.addr).await.unwrap();
    half.write_all(b"PRI * HTTP/2.0\r\n\r\nS").await.unwrap();
    let mut client = ElastiCacheServiceClient::new(channel(binary.addr).await);
    client
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
        .await
        .expect("served");
    let started = Instant::now();
    binary.terminate();
    let status = binary
        .wait(Duration::from_secs(5))
        .await
        .expect("the server exits despite idle sockets");
    assert!(status.success(), "{status:?}");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1300),
        "shutdown took {took:?} (drain delay 300 ms)"
    );
    emulator.shutdown();
}

/// 3. At the in-flight cap, with every slot held, health still answers SERVING.
#[tokio::test]
async fn health_is_never_load_shed() {
    let app = spawn_app_with(|s| s.max_concurrent_requests = 2).await;
    app.emulator.faults().inject_always(
        Some("DescribeServerlessCaches"),
        FaultKind::Delay(Duration::from_millis(3000)),
    );
    let mut held = Vec::new();
    for i in 0..2 {
        let mut c = app.client.clone();
        held.push(tokio::spawn(async move {
            c.describe_serverless_caches(distinct_describe(i)).await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.emulator.calls("DescribeServerlessCaches") < 2 {
        assert!(Instant::now() < deadline, "the calls never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut shed = app.client.clone();
    let err = shed
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
        .await
        .expect_err("over the cap");
    assert_eq!(reason(&err), "OVERLOADED");
    let mut health = HealthClient::new(channel(app.addr).await);
    for service in ["", pb::SERVICE_NAME] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health is not shed")
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving);
    }
    for h in held {
        h.await.unwrap().expect("held calls finish");
    }
}

fn big_create(name: &str, groups: usize) -> pb::CreateServerlessCacheRequest {
    pb::CreateServerlessCacheRequest {
        serverless_cache_name: name.into(),
        engine: "valkey".into(),
        security_group_ids: (0..groups).map(|i| format!("sg-{i:017}")).collect(),
        ..Default::default()
    }
}

/// 5. A response over the message limit: the caller learns the operation succeeded and the
/// response was too large, never a bare OUT_OF_RANGE; and the limit has a floor.
#[tokio::test]
async fn a_response_too_large_to_send_says_the_call_succeeded() {
    let request = big_create(&unique("big"), 45);
    let limit = request.encoded_len() + 60;
    let mut app = spawn_app_with(|s| s.max_message_bytes = limit).await;
    let err = app
        .client
        .create_serverless_cache(request.clone())
        .await
        .expect_err("the response does not fit");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    let d = details(&err);
    let info = d.error_info().unwrap();
    assert_eq!(info.reason, "RESPONSE_TOO_LARGE");
    assert_eq!(info.metadata["upstream_outcome"], "succeeded");
    assert!(!info.metadata["aws_request_id"].is_empty());
    assert!(err.message().contains("succeeded"), "{}", err.message());
    assert_eq!(app.emulator.calls("CreateServerlessCache"), 1);
    // The cache really exists: a retry is ALREADY_EXISTS, as the details warned.
    let again = app
        .client
        .create_serverless_cache(request)
        .await
        .expect_err("exists");
    assert_eq!(again.code(), Code::AlreadyExists);

    for too_small in [0, 1023] {
        let mut s = Settings::new(
            ([127, 0, 0, 1], 0).into(),
            Upstream::Endpoint("http://127.0.0.1:9".into()),
        );
        s.max_message_bytes = too_small;
        let err = Application::build(s).await.expect_err("refused");
        assert!(format!("{err:#}").contains("max_message_bytes"), "{err:#}");
    }
}

/// 8. A request id that is too long or not visible ASCII is replaced, and the response says so.
#[tokio::test]
async fn unusable_request_ids_are_replaced_and_the_response_says_why() {
    let mut app = spawn_app().await;
    for (sent, why) in [
        ("x\" outcome=\"OK\" forged", "not visible ASCII"),
        (&*"a".repeat(8192), "longer than 128 characters"),
    ] {
        let mut request = tonic::Request::new(pb::ExportServerlessCacheSnapshotRequest::default());
        request
            .metadata_mut()
            .insert("x-request-id", sent.parse().unwrap());
        let err = app
            .client
            .export_serverless_cache_snapshot(request)
            .await
            .expect_err("invalid request");
        let echoed = err
            .metadata()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(uuid::Uuid::parse_str(echoed).is_ok(), "{echoed}");
        assert_eq!(
            err.metadata().get("x-request-id-replaced").unwrap(),
            why,
            "{sent:.40}"
        );
        assert_eq!(details(&err).request_info().unwrap().request_id, echoed);
    }
    let mut request = tonic::Request::new(pb::DescribeServerlessCachesRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", "fine-id_42".parse().unwrap());
    let ok = app
        .client
        .describe_serverless_caches(request)
        .await
        .unwrap();
    assert_eq!(ok.metadata().get("x-request-id").unwrap(), "fine-id_42");
    assert!(ok.metadata().get("x-request-id-replaced").is_none());
}

/// 8 and 11. Text logs: a crafted request id never reaches them; client faults are not logged as
/// errors, and say their reason; no colour codes when stderr is not a terminal.
#[tokio::test]
async fn text_logs_cannot_be_forged_and_client_faults_are_not_errors() {
    let emulator = emulator().await;
    let binary = Binary::spawn(
        Some(&emulator.endpoint_url()),
        &["--log-format", "text"],
        &[],
    );
    let mut client = ElastiCacheServiceClient::new(channel(binary.addr).await);
    let forged =
        "x audit: mutating call caller=\"ops\" rpc=\"DeleteServerlessCache\" outcome=\"ok\"";
    let mut request = tonic::Request::new(pb::DescribeServerlessCachesRequest::default());
    request
        .metadata_mut()
        .insert("x-request-id", forged.parse().unwrap());
    client.describe_serverless_caches(request).await.unwrap();
    // A resource name crafted to look like the audit line's own fields.
    let crafted = "x outcome=ok\" outcome=\"ok\" grpc_code=Ok";
    let _ = client
        .delete_serverless_cache_snapshot(pb::DeleteServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: crafted.into(),
        })
        .await
        .expect_err("no such snapshot");
    let invalid = client
        .export_serverless_cache_snapshot(pb::ExportServerlessCacheSnapshotRequest::default())
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let missing = client
        .delete_serverless_cache_snapshot(pb::DeleteServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: "never-was".into(),
        })
        .await
        .expect_err("not found");
    assert_eq!(missing.code(), Code::NotFound);
    // Wait until the last call's line is written.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !binary
        .log()
        .contains("SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND\"")
    {
        assert!(Instant::now() < deadline, "{}", binary.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = binary.log();
    let audit = log
        .lines()
        .find(|l| l.contains("audit: mutating call") && l.contains("DeleteServerlessCacheSnapshot"))
        .expect("the crafted call is audited");
    assert!(
        !audit.contains("outcome=\"ok\""),
        "a crafted name forged a field: {audit}"
    );
    assert!(audit.contains("outcome=\"error\""), "{audit}");
    // The whole crafted name sits inside one quoted value.
    assert!(
        audit.contains("resources=\"elasticache.v1.ServerlessCacheSnapshot=x outcome=ok\\\""),
        "{audit}"
    );
    assert!(!log.contains(forged), "{log}");
    assert!(!log.contains("\u{1b}["), "colour codes in a pipe:\n{log}");
    assert!(
        !log.contains(" ERROR "),
        "a client fault logged as an error:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains(" INFO ")
            && l.contains("rpc failed")
            && l.contains("reason=\"INVALID_ARGUMENT\"")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains(" INFO ")
            && l.contains("rpc failed")
            && l.contains("SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND")),
        "{log}"
    );
    emulator.shutdown();
}

fn with(token: Option<&str>, id: &str) -> tonic::metadata::MetadataMap {
    let mut md = tonic::metadata::MetadataMap::new();
    md.insert("x-request-id", id.parse().unwrap());
    if let Some(token) = token {
        md.insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    md
}

fn request<T>(message: T, token: Option<&str>, id: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    *r.metadata_mut() = with(token, id);
    r
}

/// The audit line (JSON) of request `id`, waiting for it briefly.
async fn audit_line(binary: &Binary, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let found = binary.log().lines().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["target"] == "audit" && v["request_id"] == id).then_some(v)
        });
        if let Some(v) = found {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "no audit line for {id}:\n{}",
            binary.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// 5 and 10. One audit line for every mutating call that reached the service — refused by auth,
/// policy, validation or the rate limit, done, or done with a response too large to send — with
/// the caller, RPC, bucket, outcome, gRPC code, reason and AWS request id.
#[tokio::test]
async fn every_mutating_call_is_audited_whatever_its_outcome() {
    let emulator = emulator().await;
    let dir = std::env::temp_dir().join(unique("ecgrpc-audit"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("callers.toml");
    std::fs::write(
        &config,
        format!(
            "[[callers]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\nallow = [\"*\"]\n\
             export_buckets = [\"corp-cache-backups\"]\n\n\
             [[callers]]\nname = \"limited\"\ntoken_sha256 = \"{}\"\n\
             allow = [\"CreateServerlessCacheSnapshot\"]\nrequests_per_second = 1\nburst = 2\n",
            hash_token("ops-token"),
            hash_token("limited-token"),
        ),
    )
    .unwrap();
    let big = big_create("audit-big", 45);
    let limit = (big.encoded_len() + 60).to_string();
    let binary = Binary::spawn(
        Some(&emulator.endpoint_url()),
        &[
            "--log-format",
            "json",
            "--config",
            config.to_str().unwrap(),
            "--max-message-bytes",
            &limit,
        ],
        &[],
    );
    let mut c = ElastiCacheServiceClient::new(channel(binary.addr).await);
    let ops = Some("ops-token");
    let limited = Some("limited-token");
    let delete = |name: &str| pb::DeleteServerlessCacheRequest {
        request_id: None,
        serverless_cache_name: name.into(),
        final_snapshot_name: None,
    };

    let _ = c
        .delete_serverless_cache(request(delete(""), ops, "a-invalid"))
        .await;
    let _ = c
        .delete_serverless_cache(request(delete("x"), limited, "a-method"))
        .await;
    let _ = c
        .export_serverless_cache_snapshot(request(
            pb::ExportServerlessCacheSnapshotRequest {
                request_id: None,
                serverless_cache_snapshot_name: "s".into(),
                s3_bucket_name: "other-bucket".into(),
            },
            ops,
            "a-bucket",
        ))
        .await;
    let snap = || pb::CreateServerlessCacheSnapshotRequest {
        serverless_cache_snapshot_name: "snap".into(),
        serverless_cache_name: "no-such-cache".into(),
        ..Default::default()
    };
    let _ = c
        .create_serverless_cache_snapshot(request(snap(), limited, "a-first"))
        .await;
    let _ = c
        .create_serverless_cache_snapshot(request(snap(), limited, "a-limited"))
        .await;
    let _ = c
        .delete_serverless_cache(request(delete("x"), None, "a-anonymous"))
        .await;
    c.create_serverless_cache(request(
        pb::CreateServerlessCacheRequest {
            serverless_cache_name: "audit-ok".into(),
            engine: "valkey".into(),
            ..Default::default()
        },
        ops,
        "a-ok",
    ))
    .await
    .expect("created");
    // A caller that gives up while AWS is working on its call.
    emulator.faults().inject(
        Some("DeleteServerlessCacheSnapshot"),
        FaultKind::Delay(Duration::from_secs(3)),
        1,
    );
    let mut quitter = c.clone();
    let abandoned = tokio::spawn(async move {
        quitter
            .delete_serverless_cache_snapshot(request(
                pb::DeleteServerlessCacheSnapshotRequest {
                    request_id: None,
                    serverless_cache_snapshot_name: "slow".into(),
                },
                Some("ops-token"),
                "a-cancelled",
            ))
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while emulator.calls("DeleteServerlessCacheSnapshot") == 0 {
        assert!(Instant::now() < deadline, "the call never reached AWS");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    abandoned.abort();
    let too_large = c
        .create_serverless_cache(request(big, ops, "a-too-large"))
        .await
        .expect_err("too large to send");
    assert_eq!(reason(&too_large), "RESPONSE_TOO_LARGE");
    // A mutating call whose message cannot be decoded (tonic refuses it before our handler).
    let mut grpc = tonic::client::Grpc::new(channel(binary.addr).await);
    grpc.ready().await.unwrap();
    let malformed = grpc
        .unary(
            request(vec![0xff, 0xff, 0xff], ops, "a-malformed"),
            "/elasticache.v1.ElastiCacheService/DeleteServerlessCache"
                .parse()
                .unwrap(),
            RawCodec,
        )
        .await
        .expect_err("not protobuf");
    assert_eq!(reason(&malformed), "MALFORMED_MESSAGE");
    // Not mutating: no audit line.
    c.describe_serverless_caches(request(
        pb::DescribeServerlessCachesRequest {
            serverless_cache_name: Some("audit-ok".into()),
            ..Default::default()
        },
        ops,
        "a-read",
    ))
    .await
    .expect("read");

    let cases = [
        (
            "a-invalid",
            "ops",
            "DeleteServerlessCache",
            "error",
            "InvalidArgument",
            "INVALID_ARGUMENT",
        ),
        (
            "a-method",
            "limited",
            "DeleteServerlessCache",
            "error",
            "PermissionDenied",
            "METHOD_NOT_ALLOWED",
        ),
        (
            "a-bucket",
            "ops",
            "ExportServerlessCacheSnapshot",
            "error",
            "PermissionDenied",
            "BUCKET_NOT_ALLOWED",
        ),
        (
            "a-first",
            "limited",
            "CreateServerlessCacheSnapshot",
            "error",
            "NotFound",
            "SERVERLESS_CACHE_NOT_FOUND",
        ),
        (
            "a-limited",
            "limited",
            "CreateServerlessCacheSnapshot",
            "error",
            "ResourceExhausted",
            "RATE_LIMITED",
        ),
        (
            "a-anonymous",
            "(unauthenticated)",
            "DeleteServerlessCache",
            "error",
            "Unauthenticated",
            "UNAUTHENTICATED",
        ),
        ("a-ok", "ops", "CreateServerlessCache", "ok", "Ok", ""),
        (
            "a-malformed",
            "ops",
            "DeleteServerlessCache",
            "error",
            "InvalidArgument",
            "MALFORMED_MESSAGE",
        ),
        (
            "a-cancelled",
            "ops",
            "DeleteServerlessCacheSnapshot",
            "cancelled",
            "Cancelled",
            "CANCELLED",
        ),
        (
            "a-too-large",
            "ops",
            "CreateServerlessCache",
            "ok_response_not_sent",
            "ResourceExhausted",
            "RESPONSE_TOO_LARGE",
        ),
    ];
    for (id, caller, rpc, outcome, code, why) in cases {
        let line = audit_line(&binary, id).await;
        assert_eq!(line["caller"], caller, "{id}: {line}");
        assert_eq!(line["rpc"], rpc, "{id}: {line}");
        assert_eq!(line["outcome"], outcome, "{id}: {line}");
        assert_eq!(line["grpc_code"], code, "{id}: {line}");
        assert_eq!(line["reason"], why, "{id}: {line}");
    }
    let bucket = audit_line(&binary, "a-bucket").await;
    assert!(
        bucket["bucket"].as_str().unwrap().contains("other-bucket"),
        "{bucket}"
    );
    for id in ["a-ok", "a-too-large", "a-first"] {
        let line = audit_line(&binary, id).await;
        assert!(
            !line["aws_request_id"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{id} has AWS's request id: {line}"
        );
    }
    assert!(
        !binary
            .log()
            .lines()
            .any(|l| l.contains("\"target\":\"audit\"") && l.contains("a-read")),
        "a read-only call was audited"
    );
    let _ = std::fs::remove_dir_all(&dir);
    emulator.shutdown();
}

/// 12. Without a region: one warning at start-up, and every call FAILED_PRECONDITION
/// `REGION_MISSING` at once, never sent.
#[tokio::test]
async fn a_missing_region_is_said_at_start_and_at_call_time() {
    let emulator = emulator().await;
    let binary = Binary::spawn(
        Some(&emulator.endpoint_url()),
        &["--log-format", "text"],
        &[
            ("AWS_REGION", ""),
            ("AWS_DEFAULT_REGION", ""),
            ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            ),
        ],
    );
    let log = binary.log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("no AWS region")),
        "{log}"
    );
    assert!(log.contains("AWS settings"), "{log}");
    let mut client = ElastiCacheServiceClient::new(channel(binary.addr).await);
    let started = Instant::now();
    let err = client
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
        .await
        .expect_err("no region");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(reason(&err), "REGION_MISSING");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "answered at once, no retries"
    );
    assert_eq!(emulator.total_calls(), 0);
    emulator.shutdown();
}

/// 13. The config example in the README's "Securing it" starts as shown.
#[tokio::test]
async fn the_readme_example_config_starts() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("## Securing it").expect("section")..];
    let start = section.find("```toml\n").expect("a toml block") + 8;
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let path = std::env::temp_dir().join(format!("{}.toml", unique("ecgrpc-readme")));
    std::fs::write(&path, block).unwrap();
    let emulator = emulator().await;
    // Binary::spawn panics with the output when it does not start.
    let binary = Binary::spawn(
        Some(&emulator.endpoint_url()),
        &["--config", path.to_str().unwrap()],
        &[],
    );
    assert!(binary.addr.ip().is_loopback());
    let _ = std::fs::remove_file(&path);
    emulator.shutdown();
}

/// 17. `--listen localhost:0` resolves the name.
#[tokio::test]
async fn listen_takes_a_host_name() {
    let emulator = emulator().await;
    let binary = Binary::spawn(
        Some(&emulator.endpoint_url()),
        &["--listen", "localhost:0"],
        &[],
    );
    assert!(binary.addr.ip().is_loopback(), "{}", binary.addr);
    let mut health = HealthClient::new(channel(binary.addr).await);
    health
        .check(HealthCheckRequest::default())
        .await
        .expect("serving");
    emulator.shutdown();
}

/// 17. A request that is neither gRPC nor Connect gets HTTP 415 and UNIMPLEMENTED
/// `UNSUPPORTED_CONTENT_TYPE`, never reaching AWS.
#[tokio::test]
async fn an_xml_request_gets_415_and_a_clear_status() {
    use http_body_util::{BodyExt, Full};
    let app = spawn_app().await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<bytes::Bytes>>();
    let response = client
        .request(
            http::Request::post(format!(
                "http://{}/elasticache.v1.ElastiCacheService/DescribeServerlessCaches",
                app.addr
            ))
            .header("content-type", "text/xml")
            .body(Full::new(bytes::Bytes::from_static(b"<x/>")))
            .unwrap(),
        )
        .await
        .expect("an HTTP/2 answer");
    assert_eq!(response.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(response.headers()["grpc-status"], "12");
    let status = tonic::Status::from_header_map(response.headers()).unwrap();
    assert!(
        status.message().contains("application/grpc")
            && status.message().contains("application/json"),
        "{}",
        status.message()
    );
    assert_eq!(reason(&status), "UNSUPPORTED_CONTENT_TYPE");
    let _ = response.into_body().collect().await;
    assert_eq!(app.emulator.total_calls(), 0);
}

/// 17. An HTTP/1.1 request gets a readable HTTP/1.1 answer, not HTTP/2 bytes: one that is
/// neither Connect nor gRPC-Web gets the same 415 as over HTTP/2 (issue 22 serves Connect and
/// gRPC-Web over HTTP/1.1: see `http1.rs`).
#[tokio::test]
async fn an_http1_request_gets_an_http1_answer() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(3), stream.read_to_string(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 415 "), "{answer}");
    assert!(answer.contains("grpc-status: 12"), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
}
