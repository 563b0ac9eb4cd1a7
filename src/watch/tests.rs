use elasticache_emulator::{Emulator, EmulatorConfig};

use super::*;
use crate::startup::static_client;

async fn watches(settings: WatchSettings) -> (Emulator, Client, Watches) {
    let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), EmulatorConfig::default())
        .await
        .unwrap();
    let client = static_client(&emulator.endpoint_url());
    let watches = Watches::new(
        client.clone(),
        Upstream::default(),
        settings,
        Duration::from_secs(5),
        None,
    );
    (emulator, client, watches)
}

fn request(name: &str) -> pb::WatchServerlessCacheRequest {
    pb::WatchServerlessCacheRequest {
        serverless_cache_name: name.into(),
        keep_watching_when_settled: false,
        ..Default::default()
    }
}

async fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn held_cache(emulator: &Emulator, client: &Client, name: &str) {
    emulator.hold(name);
    client
        .create_serverless_cache()
        .serverless_cache_name(name)
        .engine("valkey")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn watchers_of_one_resource_share_a_poller_that_stops_when_they_leave() {
    use futures_util::StreamExt;

    let (emulator, client, watches) = watches(WatchSettings {
        poll_interval: Duration::from_millis(20),
        ..WatchSettings::default()
    })
    .await;
    held_cache(&emulator, &client, "shared").await;
    held_cache(&emulator, &client, "other").await;
    let mut shared = Vec::new();
    for i in 0..3 {
        let mut stream = watches
            .start::<ServerlessCacheWatch>(&request("shared"), format!("req-{i}"), None)
            .unwrap();
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first.event(), pb::WatchEvent::Initial);
        shared.push(stream);
    }
    let mut other = watches
        .start::<ServerlessCacheWatch>(&request("other"), "req-other".into(), None)
        .unwrap();
    other.next().await.unwrap().unwrap();
    assert_eq!(watches.watched(), 2, "one poller per resource");
    drop(shared);
    assert!(
        wait_until(|| watches.watched() == 1).await,
        "a poller ends when its last watcher leaves"
    );
    drop(other);
    assert!(wait_until(|| watches.watched() == 0).await);
}

#[tokio::test]
async fn a_missing_resource_ends_every_watcher_with_its_own_request_id_and_stops_the_poller() {
    use futures_util::StreamExt;

    let (_emulator, _client, watches) = watches(WatchSettings::default()).await;
    let mut streams: Vec<_> = (0..3)
        .map(|i| {
            watches
                .start::<ServerlessCacheWatch>(&request("missing"), format!("req-{i}"), None)
                .unwrap()
        })
        .collect();
    for (i, stream) in streams.iter_mut().enumerate() {
        let status = stream.next().await.unwrap().unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        let details = tonic_types::StatusExt::get_error_details(&status);
        assert_eq!(
            details.request_info().unwrap().request_id,
            format!("req-{i}")
        );
        assert!(stream.next().await.is_none());
    }
    assert!(wait_until(|| watches.watched() == 0).await);
}

#[tokio::test]
async fn a_full_server_refuses_more_watches_and_a_shut_down_one_ends_them() {
    use futures_util::StreamExt;

    let (emulator, client, watches) = watches(WatchSettings {
        max_watches: 1,
        ..WatchSettings::default()
    })
    .await;
    held_cache(&emulator, &client, "held").await;
    let mut open = watches
        .start::<ServerlessCacheWatch>(&request("held"), "a".into(), None)
        .unwrap();
    let first = open.next().await.unwrap().unwrap();
    assert_eq!(first.event(), pb::WatchEvent::Initial);
    let refused = watches
        .start::<ServerlessCacheWatch>(&request("held"), "b".into(), None)
        .err()
        .unwrap();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    watches.shut_down();
    let status = open.next().await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let reason = tonic_types::StatusExt::get_error_details(&status)
        .error_info()
        .map(|i| i.reason.clone());
    assert_eq!(reason.as_deref(), Some("SHUTTING_DOWN"));
    assert!(open.next().await.is_none());
    let late = watches
        .start::<ServerlessCacheWatch>(&request("held"), "c".into(), None)
        .err()
        .unwrap();
    assert_eq!(late.code(), Code::Unavailable);
}

/// A client that never reads: its watch still ends at its deadline, stops polling and frees its
/// slot; what it reads later is what was sent, then the deadline.
#[tokio::test]
async fn a_client_that_does_not_read_still_meets_its_deadline() {
    use futures_util::StreamExt;

    let (emulator, client, watches) = watches(WatchSettings {
        poll_interval: Duration::from_millis(20),
        heartbeat: Duration::from_millis(20),
        max_watches: 1,
        ..WatchSettings::default()
    })
    .await;
    held_cache(&emulator, &client, "unread").await;
    let mut unread = watches
        .start::<ServerlessCacheWatch>(
            &request("unread"),
            "slow".into(),
            Some(Duration::from_millis(200)),
        )
        .unwrap();
    assert!(
        wait_until(|| watches.watched() == 0).await,
        "the poll stops at the deadline though nobody read"
    );
    assert!(
        wait_until(|| watches
            .start::<ServerlessCacheWatch>(&request("unread"), "next".into(), None)
            .is_ok())
        .await,
        "the slot is free again"
    );
    let first = unread.next().await.unwrap().unwrap();
    assert_eq!(first.event(), pb::WatchEvent::Initial);
    let mut ended = None;
    while let Some(item) = unread.next().await {
        if let Err(status) = item {
            ended = Some(status.code());
        }
    }
    assert_eq!(ended, Some(Code::DeadlineExceeded));
}

#[tokio::test]
async fn any_configured_cap_is_accepted() {
    // Above tokio's semaphore maximum, which would panic if passed through.
    let (_emulator, _client, watches) = watches(WatchSettings {
        max_watches: usize::MAX,
        ..WatchSettings::default()
    })
    .await;
    assert!(
        watches
            .start::<ServerlessCacheWatch>(&request("any"), "a".into(), None)
            .is_ok()
    );
    let _shed = crate::middleware::load_shed::LoadShedLayer::new(usize::MAX);
}
