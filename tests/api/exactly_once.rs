//! `request_id` (AIP-155) with the default in-process state: a retried mutation takes effect once.

use std::time::Duration;

use elasticache_grpc::emulator::FaultKind;
use elasticache_grpc::pb;
use tonic::Code;

use crate::helpers::*;

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn snapshot_of(
    cache: &str,
    snapshot: &str,
    request_id: &str,
) -> pb::CreateServerlessCacheSnapshotRequest {
    pb::CreateServerlessCacheSnapshotRequest {
        serverless_cache_snapshot_name: snapshot.into(),
        serverless_cache_name: cache.into(),
        request_id: Some(request_id.into()),
        ..Default::default()
    }
}

fn replayed<T>(response: &tonic::Response<T>) -> bool {
    response
        .metadata()
        .get("x-request-replayed")
        .is_some_and(|v| v == "true")
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_answered_once_on_retry() {
    let mut app = spawn_app().await;
    let cache = unique("once");
    let snapshot = unique("once-snap");
    available_cache(&mut app, &cache).await;
    let id = new_id();
    app.emulator.faults().inject(
        Some("CreateServerlessCacheSnapshot"),
        FaultKind::DropResponse,
        1,
    );
    let lost = app
        .client
        .create_serverless_cache_snapshot(snapshot_of(&cache, &snapshot, &id))
        .await
        .unwrap_err();
    assert_eq!(lost.code(), Code::Unavailable, "{lost:?}");
    assert_eq!(reason(&lost), "UPSTREAM_OUTCOME_UNKNOWN");

    // The retry with the same request_id looks at the snapshot, finds it, and answers with it.
    let answer = app
        .client
        .create_serverless_cache_snapshot(snapshot_of(&cache, &snapshot, &id))
        .await
        .expect("the retry succeeds");
    let made = answer
        .into_inner()
        .serverless_cache_snapshot
        .expect("the snapshot");
    assert_eq!(
        made.serverless_cache_snapshot_name.as_deref(),
        Some(snapshot.as_str())
    );
    assert_eq!(
        app.emulator.calls("CreateServerlessCacheSnapshot"),
        1,
        "one Create only"
    );

    // And again: now it is the recorded answer, without any call.
    let describes = app.emulator.calls("DescribeServerlessCacheSnapshots");
    let again = app
        .client
        .create_serverless_cache_snapshot(snapshot_of(&cache, &snapshot, &id))
        .await
        .expect("the second retry succeeds");
    assert!(replayed(&again));
    assert_eq!(app.emulator.calls("CreateServerlessCacheSnapshot"), 1);
    assert_eq!(
        app.emulator.calls("DescribeServerlessCacheSnapshots"),
        describes
    );
}

#[tokio::test]
async fn a_request_id_used_with_another_request_is_refused() {
    let mut app = spawn_app().await;
    let cache = unique("reuse");
    available_cache(&mut app, &cache).await;
    let id = new_id();
    app.client
        .create_serverless_cache_snapshot(snapshot_of(&cache, &unique("first"), &id))
        .await
        .expect("first call");
    let status = app
        .client
        .create_serverless_cache_snapshot(snapshot_of(&cache, &unique("second"), &id))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(reason(&status), "REQUEST_ID_REUSED");
    let violations = details(&status).bad_request().cloned().expect("BadRequest");
    assert_eq!(violations.field_violations[0].field, "request_id");
    assert_eq!(app.emulator.calls("CreateServerlessCacheSnapshot"), 1);
}

#[tokio::test]
async fn concurrent_calls_with_one_request_id_make_one_upstream_call() {
    let mut app = spawn_app().await;
    let cache = unique("twin");
    let snapshot = unique("twin-snap");
    available_cache(&mut app, &cache).await;
    let id = new_id();
    app.emulator.faults().inject(
        Some("CreateServerlessCacheSnapshot"),
        FaultKind::Delay(Duration::from_millis(300)),
        1,
    );
    let (mut a, mut b) = (app.client.clone(), app.client.clone());
    let (ra, rb) = tokio::join!(
        a.create_serverless_cache_snapshot(snapshot_of(&cache, &snapshot, &id)),
        b.create_serverless_cache_snapshot(snapshot_of(&cache, &snapshot, &id)),
    );
    let (ra, rb) = (ra.expect("first"), rb.expect("second"));
    assert_eq!(app.emulator.calls("CreateServerlessCacheSnapshot"), 1);
    assert_eq!(ra.get_ref(), rb.get_ref(), "both get the same answer");
    assert_eq!(
        u8::from(replayed(&ra)) + u8::from(replayed(&rb)),
        1,
        "one ran, one was answered from it"
    );
}

#[tokio::test]
async fn a_repeat_that_cannot_wait_for_the_first_is_aborted() {
    let mut app = spawn_app().await;
    let cache = unique("slow");
    available_cache(&mut app, &cache).await;
    let id = new_id();
    app.emulator.faults().inject(
        Some("CreateServerlessCacheSnapshot"),
        FaultKind::Delay(Duration::from_millis(1500)),
        1,
    );
    let snapshot = unique("slow-snap");
    let mut first = app.client.clone();
    let request = snapshot_of(&cache, &snapshot, &id);
    let running =
        tokio::spawn(async move { first.create_serverless_cache_snapshot(request).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut repeat = tonic::Request::new(snapshot_of(&cache, &snapshot, &id));
    repeat.set_timeout(Duration::from_millis(300));
    let status = app
        .client
        .create_serverless_cache_snapshot(repeat)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert_eq!(reason(&status), "REQUEST_IN_PROGRESS");
    assert!(details(&status).retry_info().is_some());
    running.await.unwrap().expect("the first call finishes");
    assert_eq!(app.emulator.calls("CreateServerlessCacheSnapshot"), 1);
}

#[tokio::test]
async fn a_final_fault_is_recorded_and_a_transient_one_is_not() {
    let mut app = spawn_app().await;
    // NOT_FOUND is final: the repeat gets it again without a call.
    let id = new_id();
    let request = snapshot_of("no-such-cache", &unique("orphan"), &id);
    let first = app
        .client
        .create_serverless_cache_snapshot(request.clone())
        .await
        .unwrap_err();
    assert_eq!(first.code(), Code::NotFound);
    let again = app
        .client
        .create_serverless_cache_snapshot(request)
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    assert_eq!(again.metadata().get("x-request-replayed").unwrap(), "true");
    assert_eq!(app.emulator.calls("CreateServerlessCacheSnapshot"), 1);

    // Throttled past the retries is transient: the repeat runs again.
    let cache = unique("throttled");
    available_cache(&mut app, &cache).await;
    let id = new_id();
    let request = snapshot_of(&cache, &unique("throttled-snap"), &id);
    app.emulator.faults().inject(
        Some("CreateServerlessCacheSnapshot"),
        FaultKind::Throttle,
        20,
    );
    let throttled = app
        .client
        .create_serverless_cache_snapshot(request.clone())
        .await
        .unwrap_err();
    assert_eq!(throttled.code(), Code::ResourceExhausted, "{throttled:?}");
    app.emulator.faults().clear();
    let before = app.emulator.calls("CreateServerlessCacheSnapshot");
    app.client
        .create_serverless_cache_snapshot(request)
        .await
        .expect("the retry runs and succeeds");
    assert_eq!(
        app.emulator.calls("CreateServerlessCacheSnapshot"),
        before + 1
    );
}

#[tokio::test]
async fn a_request_id_must_be_a_uuid() {
    let mut app = spawn_app().await;
    let status = app
        .client
        .create_serverless_cache_snapshot(snapshot_of("c", "s", "not-a-uuid"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = details(&status).bad_request().cloned().expect("BadRequest");
    assert_eq!(violations.field_violations[0].field, "request_id");
    assert_eq!(app.emulator.total_calls(), 0);
}
