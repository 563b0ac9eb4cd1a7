//! Bad bytes on the wire, graceful shutdown under load with a real SIGTERM, and a soak.

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use elasticache_grpc::emulator::{Emulator, EmulatorConfig, FaultKind};
use elasticache_grpc::pb;
use elasticache_grpc::pb::elasti_cache_service_client::ElastiCacheServiceClient;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::helpers::*;

async fn raw_call(addr: SocketAddr, method: &str, body: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    raw_call_on(
        channel,
        &format!("/elasticache.v1.ElastiCacheService/{method}"),
        body,
    )
    .await
}

#[tokio::test]
async fn malformed_and_oversized_messages_get_a_clean_status_and_the_server_carries_on() {
    let mut app = spawn_app_with(|s| s.max_message_bytes = 1024).await;
    // Field 1 announced as a 100-byte string, but the message ends after 3 bytes.
    let truncated = vec![0x0a, 100, b'a', b'b', b'c'];
    let err = raw_call(app.addr, "ExportServerlessCacheSnapshot", truncated)
        .await
        .expect_err("not a valid message");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("decode"), "{}", err.message());
    assert_eq!(reason(&err), "MALFORMED_MESSAGE");
    assert!(details(&err).request_info().is_some());

    // Wire type 7 does not exist.
    let garbage = vec![0x0f, 0xff, 0xff, 0xff];
    let err = raw_call(app.addr, "DescribeServerlessCaches", garbage)
        .await
        .expect_err("garbage");
    assert_eq!(err.code(), Code::InvalidArgument);

    let huge = pb::ExportServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: "x".repeat(4096),
        s3_bucket_name: "corp-cache-backups".into(),
    };
    let err = app
        .client
        .export_serverless_cache_snapshot(huge)
        .await
        .expect_err("over max_message_bytes");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert_eq!(reason(&err), "MESSAGE_TOO_LARGE");
    assert_eq!(app.emulator.total_calls(), 0, "nothing reached AWS");

    // Still serving.
    app.client
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
        .await
        .expect("the server carries on");
}

/// The facade binary in front of `emulator`, JSON logs; returns it and its address.
fn spawn_binary(emulator: &Emulator, extra: &[&str]) -> (Child, SocketAddr) {
    let mut args = vec!["--log-format", "json"];
    args.extend_from_slice(extra);
    let binary = Binary::spawn(Some(&emulator.endpoint_url()), &args, &[]);
    let addr = binary.addr;
    (binary.into_child(), addr)
}

#[tokio::test]
async fn sigterm_under_load_finishes_accepted_calls_reports_not_serving_and_refuses_new_ones() {
    let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), EmulatorConfig::default())
        .await
        .unwrap();
    emulator.faults().inject_always(
        Some("DescribeServerlessCaches"),
        FaultKind::Delay(Duration::from_millis(600)),
    );
    let (mut child, addr) = spawn_binary(&emulator, &["--drain-delay-ms", "300"]);
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = ElastiCacheServiceClient::new(channel.clone());
    let mut health = HealthClient::new(channel);

    let calls = 16;
    let mut in_flight = Vec::new();
    for i in 0..calls {
        let mut c = client.clone();
        in_flight.push(tokio::spawn(async move {
            c.describe_serverless_caches(distinct_describe(i as i32))
                .await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while emulator.calls("DescribeServerlessCaches") < calls {
        assert!(
            Instant::now() < deadline,
            "calls never reached the emulator"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    // Health turns NOT_SERVING while the listener is still open (the drain delay).
    let mut not_serving = false;
    for _ in 0..50 {
        match health
            .check(HealthCheckRequest {
                service: pb::SERVICE_NAME.into(),
            })
            .await
        {
            Ok(r) if r.get_ref().status() == ServingStatus::NotServing => {
                not_serving = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    assert!(not_serving, "health never reported NOT_SERVING");

    for call in in_flight {
        let result = call.await.unwrap();
        assert!(result.is_ok(), "an accepted call failed: {result:?}");
    }

    // After the drain delay the listener is closed: a new connection is refused.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let fresh = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await;
    assert!(
        fresh.is_err(),
        "a new connection was accepted after shutdown"
    );

    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    emulator.shutdown();
}

/// A few minutes at a moderate rate against the binary: RSS must level off, not grow.
/// Run by `.ci/run` (`cargo test --test api soak -- --ignored`); `SOAK_SECS` sets the length.
#[tokio::test]
#[ignore = "soak: minutes long, run explicitly by .ci/run"]
async fn soak_keeps_rss_steady() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), EmulatorConfig::default())
        .await
        .unwrap();
    let config = std::env::temp_dir().join(format!("ecgrpc-soak-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        "[upstream]\nrequests_per_second = 100000\nburst = 100000\n",
    )
    .unwrap();
    let (mut child, addr) = spawn_binary(&emulator, &["--config", config.to_str().unwrap()]);
    let pid = child.id();
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = ElastiCacheServiceClient::new(channel);

    // 200 calls/s in 8 workers, mixing successes, faults and invalid requests.
    let stop_at = Instant::now() + Duration::from_secs(secs);
    let mut workers = Vec::new();
    for w in 0..8u32 {
        let mut c = client.clone();
        workers.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(40));
            let mut n = 0u64;
            let mut failures = 0u64;
            while Instant::now() < stop_at {
                tick.tick().await;
                n += 1;
                let ok = match (n + u64::from(w)) % 4 {
                    0 => c
                        .export_serverless_cache_snapshot(
                            pb::ExportServerlessCacheSnapshotRequest {
                                request_id: None,
                                serverless_cache_snapshot_name: "absent".into(),
                                s3_bucket_name: "corp-cache-backups".into(),
                            },
                        )
                        .await
                        .err()
                        .is_some_and(|e| e.code() == Code::NotFound),
                    1 => c
                        .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
                        .await
                        .is_ok(),
                    2 => c
                        .create_serverless_cache_snapshot(
                            pb::CreateServerlessCacheSnapshotRequest::default(),
                        )
                        .await
                        .err()
                        .is_some_and(|e| e.code() == Code::InvalidArgument),
                    _ => c
                        .describe_serverless_cache_snapshots(
                            pb::DescribeServerlessCacheSnapshotsRequest::default(),
                        )
                        .await
                        .is_ok(),
                };
                if !ok {
                    failures += 1;
                }
            }
            (n, failures)
        }));
    }
    let mut samples = Vec::new();
    while Instant::now() < stop_at {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(rss_kib(pid));
    }
    let mut total = 0;
    for w in workers {
        let (n, failures) = w.await.unwrap();
        assert_eq!(failures, 0, "unexpected results under soak");
        total += n;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let _ = std::fs::remove_file(&config);
    emulator.shutdown();

    // Compare the second fifth (after warm-up) with the last fifth.
    let fifth = samples.len() / 5;
    assert!(
        fifth >= 2,
        "soak too short to judge: {} samples",
        samples.len()
    );
    let avg = |s: &[u64]| s.iter().sum::<u64>() / s.len() as u64;
    let early = avg(&samples[fifth..2 * fifth]);
    let late = avg(&samples[samples.len() - fifth..]);
    println!(
        "soak: {total} calls in {secs} s; RSS early {early} KiB, late {late} KiB, max {} KiB",
        samples.iter().max().unwrap()
    );
    assert!(
        late <= early + early / 10 + 1024,
        "RSS grew from {early} KiB to {late} KiB"
    );
}
