//! Watch RPCs and coalesced Describes, against the emulator: resources are held in their
//! transitional state (`Emulator::hold`) and released when the test says, and upstream calls are
//! counted at the emulator.

use std::time::{Duration, Instant};

use elasticache_grpc::config::Settings;
use elasticache_grpc::emulator::FaultKind;
use elasticache_grpc::pb;
use elasticache_grpc::pb::WatchEvent;
use tonic::{Code, Streaming};

use crate::helpers::*;

const DESCRIBE_SNAPSHOTS: &str = "DescribeServerlessCacheSnapshots";

/// Fast polls so the tests run in well under a second each.
fn fast(settings: &mut Settings) {
    settings.watch.poll_interval = Duration::from_millis(50);
    settings.watch.settled_poll_interval = Duration::from_millis(50);
}

fn watch_snapshot(name: &str) -> pb::WatchServerlessCacheSnapshotRequest {
    pb::WatchServerlessCacheSnapshotRequest {
        serverless_cache_snapshot_name: name.into(),
        keep_watching_when_settled: false,
        ..Default::default()
    }
}

fn watch_cache(name: &str) -> pb::WatchServerlessCacheRequest {
    pb::WatchServerlessCacheRequest {
        serverless_cache_name: name.into(),
        keep_watching_when_settled: false,
        ..Default::default()
    }
}

/// One message of a stream, reduced to what the tests compare: event, status, settled.
type Seen = (WatchEvent, String, bool);

fn snapshot_message(m: &pb::WatchServerlessCacheSnapshotResponse) -> Seen {
    let snapshot = m.serverless_cache_snapshot.as_ref().expect("resource set");
    (
        m.event(),
        snapshot.status.clone().unwrap_or_default(),
        m.settled,
    )
}

fn cache_message(m: &pb::WatchServerlessCacheResponse) -> Seen {
    let cache = m.serverless_cache.as_ref().expect("resource set");
    (
        m.event(),
        cache.status.clone().unwrap_or_default(),
        m.settled,
    )
}

/// The next message, within 5 s.
async fn next<M>(stream: &mut Streaming<M>) -> Result<Option<M>, tonic::Status> {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a message or the end within 5 s")
}

/// Reads the stream to its end: the messages and how it ended.
async fn drain<M, T>(
    stream: &mut Streaming<M>,
    each: impl Fn(&M) -> T,
) -> (Vec<T>, Result<(), tonic::Status>) {
    let mut seen = Vec::new();
    loop {
        match next(stream).await {
            Ok(Some(m)) => seen.push(each(&m)),
            Ok(None) => return (seen, Ok(())),
            Err(status) => return (seen, Err(status)),
        }
    }
}

/// Creates the cache `name`, held `creating` at the emulator until released.
async fn creating_cache(app: &mut TestApp, name: &str) {
    app.emulator.hold(name);
    app.client
        .create_serverless_cache(pb::CreateServerlessCacheRequest {
            serverless_cache_name: name.to_owned(),
            engine: "valkey".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// A watch of the cache `name`.
async fn cache_watch(app: &mut TestApp, name: &str) -> Streaming<pb::WatchServerlessCacheResponse> {
    app.client
        .watch_serverless_cache(watch_cache(name))
        .await
        .unwrap()
        .into_inner()
}

/// A new available snapshot (of a new cache, both named from `prefix`), then exported and held
/// `exporting` at the emulator until released; its name.
async fn exporting_snapshot(app: &mut TestApp, prefix: &str) -> String {
    let cache = unique(&format!("{prefix}-src"));
    available_cache(app, &cache).await;
    let snapshot = unique(&format!("{prefix}-snap"));
    available_snapshot(app, &cache, &snapshot).await;
    app.emulator.hold(&snapshot);
    app.client
        .export_serverless_cache_snapshot(pb::ExportServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: snapshot.clone(),
            s3_bucket_name: "corp-cache-backups".into(),
        })
        .await
        .unwrap();
    snapshot
}

fn initial(status: &str, settled: bool) -> Seen {
    (WatchEvent::Initial, status.into(), settled)
}

fn changed(status: &str, settled: bool) -> Seen {
    (WatchEvent::Changed, status.into(), settled)
}

#[tokio::test]
async fn create_cache_is_watched_from_creating_to_available_then_ok() {
    let mut app = spawn_app_with(fast).await;
    let name = unique("watched-cache");
    creating_cache(&mut app, &name).await;
    let mut stream = cache_watch(&mut app, &name).await;
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(cache_message(&first), initial("creating", false));
    assert!(first.observed_at.is_some());
    app.emulator.release(&name);
    let (rest, end) = drain(&mut stream, cache_message).await;
    assert_eq!(rest, vec![changed("available", true)]);
    end.expect("ends with OK once available");
}

#[tokio::test]
async fn snapshot_create_export_copy_and_delete_are_each_watched_to_their_end() {
    let mut app = spawn_app_with(fast).await;
    let cache = unique("watch-src");
    available_cache(&mut app, &cache).await;
    let snapshot = unique("watch-snap");
    let copy = unique("watch-copy");
    app.emulator.hold(&snapshot);
    app.emulator.hold(&copy);

    // Each step: start the change, watch it while held, release, read to the end.
    async fn watched(app: &mut TestApp, name: &str) -> (Vec<Seen>, Result<(), tonic::Status>) {
        let mut stream = app
            .client
            .watch_serverless_cache_snapshot(watch_snapshot(name))
            .await
            .unwrap()
            .into_inner();
        let first = next(&mut stream).await.unwrap().unwrap();
        app.emulator.release(name);
        let (mut seen, end) = drain(&mut stream, snapshot_message).await;
        seen.insert(0, snapshot_message(&first));
        app.emulator.hold(name);
        (seen, end)
    }

    // A watch of `name` sees `from`, then `available`, then ends with OK.
    async fn settles(app: &mut TestApp, name: &str, from: &str) {
        let (seen, end) = watched(app, name).await;
        assert_eq!(seen, vec![initial(from, false), changed("available", true)]);
        end.unwrap();
    }

    app.client
        .create_serverless_cache_snapshot(pb::CreateServerlessCacheSnapshotRequest {
            serverless_cache_snapshot_name: snapshot.clone(),
            serverless_cache_name: cache.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    settles(&mut app, &snapshot, "creating").await;

    app.client
        .export_serverless_cache_snapshot(pb::ExportServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: snapshot.clone(),
            s3_bucket_name: "corp-cache-backups".into(),
        })
        .await
        .unwrap();
    settles(&mut app, &snapshot, "exporting").await;

    app.client
        .copy_serverless_cache_snapshot(pb::CopyServerlessCacheSnapshotRequest {
            source_serverless_cache_snapshot_name: snapshot.clone(),
            target_serverless_cache_snapshot_name: copy.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    settles(&mut app, &copy, "creating").await;

    app.client
        .delete_serverless_cache_snapshot(pb::DeleteServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: copy.clone(),
        })
        .await
        .unwrap();
    let (seen, end) = watched(&mut app, &copy).await;
    assert_eq!(
        seen,
        vec![
            initial("deleting", false),
            (WatchEvent::Deleted, "deleting".into(), false)
        ],
        "a deleted snapshot's last message says so and carries its last state"
    );
    end.expect("a deleted resource ends the stream with OK");
}

#[tokio::test]
async fn a_cache_named_in_another_case_is_the_same_cache() {
    let mut app = spawn_app_with(fast).await;
    let name = unique("mixedcase");
    creating_cache(&mut app, &name).await;
    let upper = name.to_ascii_uppercase();
    let mut stream = cache_watch(&mut app, &upper).await;
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(cache_message(&first), initial("creating", false));
    app.emulator.release(&name);
    let (seen, end) = drain(&mut stream, cache_message).await;
    assert_eq!(seen, vec![changed("available", true)]);
    end.unwrap();
}

#[tokio::test]
async fn keep_watching_goes_past_settled_states_until_deletion() {
    let mut app = spawn_app_with(fast).await;
    let cache = unique("keep-src");
    available_cache(&mut app, &cache).await;
    let snapshot = unique("keep-snap");
    available_snapshot(&mut app, &cache, &snapshot).await;
    let mut stream = app
        .client
        .watch_serverless_cache_snapshot(pb::WatchServerlessCacheSnapshotRequest {
            serverless_cache_snapshot_name: snapshot.clone(),
            keep_watching_when_settled: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(snapshot_message(&first), initial("available", true));
    app.emulator.hold(&snapshot);
    app.client
        .export_serverless_cache_snapshot(pb::ExportServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: snapshot.clone(),
            s3_bucket_name: "corp-cache-backups".into(),
        })
        .await
        .unwrap();
    let m = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(snapshot_message(&m), changed("exporting", false));
    app.emulator.release(&snapshot);
    let m = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(
        snapshot_message(&m),
        changed("available", true),
        "settled again, and the stream stays open"
    );
    app.client
        .delete_serverless_cache_snapshot(pb::DeleteServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: snapshot.clone(),
        })
        .await
        .unwrap();
    let (seen, end) = drain(&mut stream, snapshot_message).await;
    let events: Vec<_> = seen.iter().map(|s| s.0).collect();
    assert_eq!(events.last(), Some(&WatchEvent::Deleted), "{seen:?}");
    end.unwrap();
}

#[tokio::test]
async fn a_missing_resource_ends_at_once_with_the_not_found_a_describe_gets() {
    let mut app = spawn_app_with(fast).await;
    let described = app
        .client
        .describe_serverless_cache_snapshots(pb::DescribeServerlessCacheSnapshotsRequest {
            serverless_cache_snapshot_name: Some("no-such-snapshot".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let watched = match app
        .client
        .watch_serverless_cache_snapshot(watch_snapshot("no-such-snapshot"))
        .await
    {
        Ok(response) => next(&mut response.into_inner()).await.unwrap_err(),
        Err(status) => status,
    };
    assert_eq!(watched.code(), Code::NotFound);
    assert_eq!(watched.code(), described.code());
    assert_eq!(reason(&watched), reason(&described));
    assert_eq!(detail_types(&watched), detail_types(&described));
    let resource = details(&watched).resource_info().cloned().unwrap();
    assert_eq!(resource.resource_name, "no-such-snapshot");
    assert_eq!(
        format!("{resource:?}"),
        format!("{:?}", details(&described).resource_info().unwrap()),
        "the same ResourceInfo as the Describe's"
    );

    let cache = match app
        .client
        .watch_serverless_cache(watch_cache("no-such-cache"))
        .await
    {
        Ok(response) => next(&mut response.into_inner()).await.unwrap_err(),
        Err(status) => status,
    };
    assert_eq!(cache.code(), Code::NotFound);
    assert_eq!(reason(&cache), "SERVERLESS_CACHE_NOT_FOUND");
}

#[tokio::test]
async fn a_hundred_watchers_of_one_snapshot_share_one_poll_and_see_the_same_sequence() {
    let interval = Duration::from_secs(1);
    let transition = Duration::from_secs(3);
    let mut app = spawn_app_with(|s| s.watch.poll_interval = interval).await;
    let snapshot = exporting_snapshot(&mut app, "many-src").await;
    let before = app.emulator.calls(DESCRIBE_SNAPSHOTS);
    let watchers = (0..100).map(|_| {
        let mut client = app.client.clone();
        let snapshot = snapshot.clone();
        tokio::spawn(async move {
            let mut stream = client
                .watch_serverless_cache_snapshot(watch_snapshot(&snapshot))
                .await
                .unwrap()
                .into_inner();
            drain(&mut stream, snapshot_message).await
        })
    });
    let watchers: Vec<_> = watchers.collect();
    tokio::time::sleep(transition).await;
    app.emulator.release(&snapshot);
    let mut sequences = Vec::new();
    for watcher in watchers {
        let (seen, end) = watcher.await.unwrap();
        end.unwrap();
        sequences.push(seen);
    }
    let calls = app.emulator.calls(DESCRIBE_SNAPSHOTS) - before;
    let allowed = (transition.as_secs_f64() / interval.as_secs_f64()) as u64 + 3;
    assert!(
        calls <= allowed,
        "{calls} Describe calls for 100 watchers; at most {allowed}"
    );
    let expected = vec![initial("exporting", false), changed("available", true)];
    assert!(
        sequences.iter().all(|s| *s == expected),
        "every watcher saw {expected:?}; got {:?}",
        sequences.iter().find(|s| **s != expected)
    );
}

/// The value of the first sample of `metric` whose labels contain `labels`.
fn sample(text: &str, metric: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(metric) && l.contains(labels))
        .find_map(|l| l.rsplit_once(' ')?.1.parse().ok())
        .unwrap_or_else(|| panic!("no {metric} with {labels} in:\n{text}"))
}

#[tokio::test]
async fn identical_describes_in_flight_share_one_call_and_different_ones_do_not() {
    let app = spawn_app_with(|s| s.metrics_listen = Some(([127, 0, 0, 1], 0).into())).await;
    app.emulator.faults().inject_always(
        Some(DESCRIBE_SNAPSHOTS),
        FaultKind::Delay(Duration::from_millis(300)),
    );
    let describe = |name: String, request_id: String| {
        let mut client = app.client.clone();
        tokio::spawn(async move {
            let mut request = tonic::Request::new(pb::DescribeServerlessCacheSnapshotsRequest {
                serverless_cache_snapshot_name: Some(name),
                ..Default::default()
            });
            request
                .metadata_mut()
                .insert("x-request-id", request_id.parse().unwrap());
            client.describe_serverless_cache_snapshots(request).await
        })
    };

    // 50 identical: one upstream call, one answer (a NOT_FOUND here), each with its own id.
    let calls: Vec<_> = (0..50)
        .map(|i| describe("shared-missing".into(), format!("same-{i}")))
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let status = call.await.unwrap().unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            details(&status).request_info().unwrap().request_id,
            format!("same-{i}"),
            "a shared failure carries each caller's own request id"
        );
    }
    assert_eq!(app.emulator.calls(DESCRIBE_SNAPSHOTS), 1);
    let text = scrape(app.metrics_addr.unwrap()).await;
    let saved = sample(
        &text,
        "elasticache_coalesced_calls_total",
        "operation=\"DescribeServerlessCacheSnapshots\"",
    );
    assert!(saved >= 49.0, "{saved} calls counted as saved");

    // 50 different: 50 upstream calls.
    let calls: Vec<_> = (0..50)
        .map(|i| describe(format!("missing-{i}"), format!("different-{i}")))
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap_err().code(), Code::NotFound);
    }
    assert_eq!(app.emulator.calls(DESCRIBE_SNAPSHOTS), 51);

    // Nothing is kept after the call: the same request again is a new upstream call.
    app.emulator.faults().clear();
    let again = describe("shared-missing".into(), "later".into());
    assert_eq!(again.await.unwrap().unwrap_err().code(), Code::NotFound);
    assert_eq!(app.emulator.calls(DESCRIBE_SNAPSHOTS), 52);
}

#[tokio::test]
async fn a_stuck_resource_meets_the_callers_deadline_with_its_last_status() {
    let mut app = spawn_app_with(fast).await;
    let cache = unique("stuck");
    creating_cache(&mut app, &cache).await;
    let mut request = tonic::Request::new(watch_cache(&cache));
    request.set_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let mut stream = app
        .client
        .watch_serverless_cache(request)
        .await
        .unwrap()
        .into_inner();
    let (seen, end) = drain(&mut stream, cache_message).await;
    let took = started.elapsed();
    assert_eq!(seen, vec![initial("creating", false)]);
    let status = end.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        (Duration::from_millis(450)..Duration::from_millis(650)).contains(&took),
        "ended after {took:?}"
    );
    let info = details(&status).error_info().cloned().unwrap();
    assert_eq!(info.reason, "DEADLINE_EXCEEDED");
    assert_eq!(info.metadata["last_status"], "creating");
    assert_eq!(info.metadata["operation"], "WatchServerlessCache");
}

#[tokio::test]
async fn watches_without_a_deadline_end_at_the_servers_maximum() {
    let mut app = spawn_app_with(|s| {
        fast(s);
        s.watch.max_duration = Duration::from_millis(300);
    })
    .await;
    let cache = unique("forever");
    creating_cache(&mut app, &cache).await;
    let mut stream = cache_watch(&mut app, &cache).await;
    let (_, end) = drain(&mut stream, cache_message).await;
    let status = end.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(reason(&status), "MAX_WATCH_DURATION");
}

#[tokio::test]
async fn a_cancelled_watch_stops_its_polling() {
    let interval = Duration::from_millis(100);
    let mut app = spawn_app_with(|s| s.watch.poll_interval = interval).await;
    let snapshot = exporting_snapshot(&mut app, "cancel-src").await;
    let before = app.emulator.calls(DESCRIBE_SNAPSHOTS);
    let mut stream = app
        .client
        .watch_serverless_cache_snapshot(watch_snapshot(&snapshot))
        .await
        .unwrap()
        .into_inner();
    next(&mut stream).await.unwrap().unwrap();
    tokio::time::sleep(interval * 3).await;
    let while_watched = app.emulator.calls(DESCRIBE_SNAPSHOTS) - before;
    assert!(
        while_watched >= 3,
        "polled {while_watched} times in 3 intervals"
    );
    drop(stream);
    // Once the server has seen the cancel (and a poll in flight has landed), the counter stays
    // flat for two intervals.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let after_cancel = app.emulator.calls(DESCRIBE_SNAPSHOTS);
        tokio::time::sleep(interval * 2).await;
        if app.emulator.calls(DESCRIBE_SNAPSHOTS) == after_cancel {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still polling 5 s after the last watcher left"
        );
    }
}

#[tokio::test]
async fn throttled_polls_are_retried_and_the_watch_ends_normally() {
    let mut app = spawn_app_with(|s| {
        fast(s);
        // One attempt per poll, so the three throttles fail three polls.
        s.upstream_policy.max_attempts = 1;
    })
    .await;
    let snapshot = exporting_snapshot(&mut app, "throttle-src").await;
    let before = app.emulator.calls(DESCRIBE_SNAPSHOTS);
    app.emulator
        .faults()
        .inject(Some(DESCRIBE_SNAPSHOTS), FaultKind::Throttle, 3);
    let mut stream = app
        .client
        .watch_serverless_cache_snapshot(watch_snapshot(&snapshot))
        .await
        .unwrap()
        .into_inner();
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(snapshot_message(&first), initial("exporting", false));
    assert!(
        app.emulator.calls(DESCRIBE_SNAPSHOTS) - before >= 4,
        "three throttled polls, then one that answered"
    );
    app.emulator.release(&snapshot);
    let (seen, end) = drain(&mut stream, snapshot_message).await;
    assert_eq!(seen, vec![changed("available", true)]);
    end.unwrap();
}

#[tokio::test]
async fn a_short_upstream_budget_slows_polls_down_instead_of_failing_the_watch() {
    let mut app = spawn_app_with(|s| {
        fast(s);
        // 20 polls a second wanted, 2 calls a second allowed.
        s.upstream_policy.requests_per_second = 2;
        s.upstream_policy.burst = 1;
    })
    .await;
    let cache = unique("budget");
    creating_cache(&mut app, &cache).await;
    let mut stream = cache_watch(&mut app, &cache).await;
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(cache_message(&first), initial("creating", false));
    let before = app.emulator.calls("DescribeServerlessCaches");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let polls = app.emulator.calls("DescribeServerlessCaches") - before;
    assert!(
        (2..=6).contains(&polls),
        "{polls} polls in 2 s at a budget of 2 calls/s"
    );
    app.emulator.release(&cache);
    let (seen, end) = drain(&mut stream, cache_message).await;
    assert_eq!(seen, vec![changed("available", true)]);
    end.expect("the watch was never failed by the budget");
}

#[tokio::test]
async fn a_poll_failure_a_describe_would_not_recover_from_ends_the_watch_with_its_status() {
    let mut app = spawn_app_with(fast).await;
    let cache = unique("denied-src");
    available_cache(&mut app, &cache).await;
    let snapshot = unique("denied-snap");
    available_snapshot(&mut app, &cache, &snapshot).await;
    app.emulator.faults().inject_always(
        Some(DESCRIBE_SNAPSHOTS),
        FaultKind::Error {
            status: 403,
            code: "AccessDenied".into(),
            message: "not authorized".into(),
        },
    );
    let mut stream = app
        .client
        .watch_serverless_cache_snapshot(watch_snapshot(&snapshot))
        .await
        .unwrap()
        .into_inner();
    let (seen, end) = drain(&mut stream, snapshot_message).await;
    assert!(seen.is_empty());
    let status = end.unwrap_err();
    let described = app
        .client
        .describe_serverless_cache_snapshots(pb::DescribeServerlessCacheSnapshotsRequest {
            serverless_cache_snapshot_name: Some(snapshot.clone()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(status.code(), described.code());
    assert_eq!(reason(&status), reason(&described));
    assert_eq!(status.message(), described.message());
}

#[tokio::test]
async fn open_watches_pollers_and_polls_are_in_the_metrics() {
    let mut app = spawn_app_with(|s| {
        fast(s);
        s.metrics_listen = Some(([127, 0, 0, 1], 0).into());
    })
    .await;
    let cache = unique("metered");
    creating_cache(&mut app, &cache).await;
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut stream = app
            .client
            .watch_serverless_cache(watch_cache(&cache))
            .await
            .unwrap()
            .into_inner();
        next(&mut stream).await.unwrap().unwrap();
        streams.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The recorder is shared by every test in this process: other tests' watches may add to it.
    let text = scrape(app.metrics_addr.unwrap()).await;
    let kind = "kind=\"cache\"";
    assert!(sample(&text, "elasticache_watches_open", kind) >= 2.0);
    assert!(sample(&text, "elasticache_watch_pollers", kind) >= 1.0);
    assert!(sample(&text, "elasticache_watch_polls_total", kind) >= 3.0);
    assert!(
        text.lines()
            .any(|l| l.starts_with("grpc_server_started_total")
                && l.contains("grpc_method=\"WatchServerlessCache\"")
                && l.contains("grpc_type=\"server_stream\"")),
        "{text}"
    );
}

#[tokio::test]
async fn heartbeats_repeat_the_state_when_nothing_changes() {
    let mut app = spawn_app_with(|s| {
        fast(s);
        s.watch.heartbeat = Duration::from_millis(200);
    })
    .await;
    let cache = unique("beat");
    creating_cache(&mut app, &cache).await;
    let mut stream = cache_watch(&mut app, &cache).await;
    let first = next(&mut stream).await.unwrap().unwrap();
    let started = Instant::now();
    let beat = next(&mut stream).await.unwrap().unwrap();
    let waited = started.elapsed();
    assert_eq!(
        cache_message(&beat),
        (WatchEvent::Heartbeat, "creating".into(), false)
    );
    assert!(
        (Duration::from_millis(150)..Duration::from_millis(1500)).contains(&waited),
        "heartbeat after {waited:?}"
    );
    let (t0, t1) = (first.observed_at.unwrap(), beat.observed_at.unwrap());
    assert!(
        (t1.seconds, t1.nanos) > (t0.seconds, t0.nanos),
        "the heartbeat says when the state was last read: {t0:?} then {t1:?}"
    );
}

#[tokio::test]
async fn a_caller_without_the_watch_rpc_is_denied_and_nothing_reaches_aws() {
    let mut app = spawn_app_with(|s| {
        s.callers = vec![
            caller("reporting", "reporting-secret", &["Describe*"], &[]),
            {
                let mut c = caller("watcher", "watcher-secret", &["Watch*"], &[]);
                c.requests_per_second = Some(1);
                c.burst = Some(1);
                c
            },
        ];
    })
    .await;
    let status = match app
        .client
        .watch_serverless_cache_snapshot(with_token(watch_snapshot("any"), "reporting-secret"))
        .await
    {
        Ok(response) => next(&mut response.into_inner()).await.unwrap_err(),
        Err(status) => status,
    };
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), "METHOD_NOT_ALLOWED");
    assert_eq!(app.emulator.total_calls(), 0);

    // Starting a watch is one call against the caller's rate limit (burst 1 here).
    let first = match app
        .client
        .watch_serverless_cache_snapshot(with_token(watch_snapshot("any"), "watcher-secret"))
        .await
    {
        Ok(response) => next(&mut response.into_inner()).await.unwrap_err(),
        Err(status) => status,
    };
    assert_eq!(first.code(), Code::NotFound, "{first:?}");
    let second = app
        .client
        .watch_serverless_cache_snapshot(with_token(watch_snapshot("any"), "watcher-secret"))
        .await
        .unwrap_err();
    assert_eq!(reason(&second), "RATE_LIMITED");
}

#[tokio::test]
async fn open_watches_are_capped_separately_from_calls() {
    let mut app = spawn_app_with(|s| {
        fast(s);
        s.watch.max_watches = 1;
        s.max_concurrent_requests = 1;
    })
    .await;
    let cache = unique("capped");
    creating_cache(&mut app, &cache).await;
    let mut open = cache_watch(&mut app, &cache).await;
    next(&mut open).await.unwrap().unwrap();
    // The open watch takes no in-flight slot: a unary call still runs (cap 1).
    let described = app
        .client
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
        .await;
    assert!(described.is_ok(), "{described:?}");
    let status = match app.client.watch_serverless_cache(watch_cache(&cache)).await {
        Ok(response) => next(&mut response.into_inner()).await.unwrap_err(),
        Err(status) => status,
    };
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(reason(&status), "TOO_MANY_WATCHES");
    let quota = details(&status).quota_failure().cloned().unwrap();
    assert_eq!(quota.violations[0].subject, "server:concurrent-watches");
    drop(open);
    // The slot comes back when the watch ends (as soon as the server sees the cancel).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let started = app.client.watch_serverless_cache(watch_cache(&cache)).await;
        if let Ok(response) = started
            && let Ok(Some(_)) = next(&mut response.into_inner()).await
        {
            break;
        }
        assert!(Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn shutdown_ends_open_watches_so_the_drain_does_not_wait_for_them() {
    let mut app = spawn_app_with(fast).await;
    let cache = unique("draining");
    creating_cache(&mut app, &cache).await;
    let mut stream = cache_watch(&mut app, &cache).await;
    next(&mut stream).await.unwrap().unwrap();
    let reader = tokio::spawn(async move { drain(&mut stream, cache_message).await });
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), app.stop())
        .await
        .expect("the server stops with a watch open");
    assert!(started.elapsed() < Duration::from_secs(2));
    let (_, end) = reader.await.unwrap();
    let status = end.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(reason(&status), "SHUTTING_DOWN");
}

/// A watch that resumes after a settled state it already has ends at once with OK; one that
/// resumes after an older state gets the current one as CHANGED, not a replay from INITIAL.
#[tokio::test]
async fn resume_after_sends_only_what_changed_since() {
    let mut app = spawn_app_with(fast).await;
    let cache = unique("resume");
    available_cache(&mut app, &cache).await;
    let mut stream = cache_watch(&mut app, &cache).await;
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(cache_message(&first), initial("available", true));
    assert_eq!(first.version.len(), 16, "{:?}", first.version);
    assert!(next(&mut stream).await.unwrap().is_none());

    // The same state on another stream (or another replica) has the same version.
    let mut again = cache_watch(&mut app, &cache).await;
    assert_eq!(
        next(&mut again).await.unwrap().unwrap().version,
        first.version
    );

    let resumed = |version: &str| pb::WatchServerlessCacheRequest {
        serverless_cache_name: cache.clone(),
        resume_after: version.to_owned(),
        ..Default::default()
    };
    let mut stream = app
        .client
        .watch_serverless_cache(resumed(&first.version))
        .await
        .unwrap()
        .into_inner();
    let (seen, end) = drain(&mut stream, cache_message).await;
    assert_eq!(
        seen,
        vec![],
        "nothing changed since the version resumed after"
    );
    end.expect("ends OK: the caller has the settled state");

    app.emulator.hold(&cache);
    app.client
        .modify_serverless_cache(pb::ModifyServerlessCacheRequest {
            serverless_cache_name: cache.clone(),
            description: Some("resumed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut stream = app
        .client
        .watch_serverless_cache(resumed(&first.version))
        .await
        .unwrap()
        .into_inner();
    let message = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(cache_message(&message), changed("modifying", false));
    assert_ne!(message.version, first.version);
    app.emulator.release(&cache);
    let (seen, end) = drain(&mut stream, cache_message).await;
    assert_eq!(seen, vec![changed("available", true)]);
    end.unwrap();
}

#[tokio::test]
async fn resume_after_that_is_no_version_is_refused() {
    let mut app = spawn_app().await;
    let status = app
        .client
        .watch_serverless_cache(pb::WatchServerlessCacheRequest {
            serverless_cache_name: "any".into(),
            resume_after: "not-a-version".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = bad_request_fields(&status);
    assert_eq!(violations, vec!["resume_after".to_owned()]);
    assert_eq!(app.emulator.calls("DescribeServerlessCaches"), 0);
}

/// The generated Watch RPCs of the RBAC kinds, end to end through the emulator and the SDK.
#[tokio::test]
async fn users_and_user_groups_are_watched_to_active_and_their_absence_is_not_found() {
    let mut app = spawn_app_with(fast).await;
    let user = unique("watched-user");
    app.client
        .create_user(pb::CreateUserRequest {
            user_id: user.clone(),
            user_name: user.clone(),
            engine: "redis".into(),
            access_string: "on ~* +@all".into(),
            no_password_required: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut stream = app
        .client
        .watch_user(pb::WatchUserRequest {
            user_id: user.to_uppercase(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(first.event(), WatchEvent::Initial);
    assert_eq!(
        first.user.as_ref().unwrap().user_id.as_deref(),
        Some(user.as_str())
    );
    assert_eq!(
        first.user.as_ref().unwrap().status.as_deref(),
        Some("active")
    );
    assert!(first.settled);
    assert!(
        next(&mut stream).await.unwrap().is_none(),
        "ends OK once settled"
    );

    let group = unique("watched-group");
    app.client
        .create_user_group(pb::CreateUserGroupRequest {
            user_group_id: group.clone(),
            engine: "redis".into(),
            user_ids: vec!["default".into(), user.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut stream = app
        .client
        .watch_user_group(pb::WatchUserGroupRequest {
            user_group_id: group.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = next(&mut stream).await.unwrap().unwrap();
    assert_eq!(first.event(), WatchEvent::Initial);
    assert_eq!(
        first.user_group.as_ref().unwrap().status.as_deref(),
        Some("active")
    );
    assert!(next(&mut stream).await.unwrap().is_none());

    let status = app
        .client
        .watch_user(pb::WatchUserRequest {
            user_id: unique("no-such-user"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(
        details(&status).resource_info().unwrap().resource_type,
        "elasticache.v1.User"
    );
}

#[tokio::test]
async fn a_watch_without_its_resource_name_is_refused_for_every_kind() {
    let mut app = spawn_app().await;
    let missing = [
        (
            "cache_cluster_id",
            app.client
                .watch_cache_cluster(pb::WatchCacheClusterRequest::default())
                .await
                .unwrap_err(),
        ),
        (
            "replication_group_id",
            app.client
                .watch_replication_group(pb::WatchReplicationGroupRequest::default())
                .await
                .unwrap_err(),
        ),
        (
            "global_replication_group_id",
            app.client
                .watch_global_replication_group(pb::WatchGlobalReplicationGroupRequest::default())
                .await
                .unwrap_err(),
        ),
        (
            "snapshot_name",
            app.client
                .watch_snapshot(pb::WatchSnapshotRequest::default())
                .await
                .unwrap_err(),
        ),
        (
            "user_group_id",
            app.client
                .watch_user_group(pb::WatchUserGroupRequest::default())
                .await
                .unwrap_err(),
        ),
    ];
    for (field, status) in missing {
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(
            bad_request_fields(&status),
            vec![field.to_owned()],
            "{field}"
        );
    }
}

/// The fields a status's `BadRequest` names.
fn bad_request_fields(status: &tonic::Status) -> Vec<String> {
    details(status)
        .bad_request()
        .expect("BadRequest")
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}
