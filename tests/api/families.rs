//! The resource families beyond serverless, end to end through the facade, the SDK and the
//! emulator: a replication group created and watched to `available` (its member clusters too),
//! snapshotted, restored into a new group, and deleted while watched, its snapshot outliving it.

use std::time::Duration;

use elasticache_grpc::config::Settings;
use elasticache_grpc::pb;
use elasticache_grpc::pb::WatchEvent;
use tonic::Streaming;

use crate::helpers::*;

fn fast(settings: &mut Settings) {
    settings.watch.poll_interval = Duration::from_millis(50);
    settings.watch.settled_poll_interval = Duration::from_millis(50);
}

/// The stream to its end: each message's event and status, and how it ended.
async fn drain<M>(
    stream: &mut Streaming<M>,
    each: impl Fn(&M) -> (WatchEvent, String),
) -> (Vec<(WatchEvent, String)>, Result<(), tonic::Status>) {
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("a message or the end within 10 s")
        {
            Ok(Some(m)) => seen.push(each(&m)),
            Ok(None) => return (seen, Ok(())),
            Err(status) => return (seen, Err(status)),
        }
    }
}

fn group_seen(m: &pb::WatchReplicationGroupResponse) -> (WatchEvent, String) {
    let group = m.replication_group.as_ref().expect("the group");
    (m.event(), group.status.clone().unwrap_or_default())
}

fn snapshot_seen(m: &pb::WatchSnapshotResponse) -> (WatchEvent, String) {
    let snapshot = m.snapshot.as_ref().expect("the snapshot");
    (
        m.event(),
        snapshot.snapshot_status.clone().unwrap_or_default(),
    )
}

async fn watch_group(app: &mut TestApp, id: &str) -> Streaming<pb::WatchReplicationGroupResponse> {
    app.client
        .watch_replication_group(pb::WatchReplicationGroupRequest {
            replication_group_id: id.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Creates the group `id` (two clusters), held `creating` at the emulator until released.
async fn creating_group(app: &mut TestApp, id: &str, snapshot: Option<&str>) {
    creating_group_of(app, id, snapshot, "cache.t3.micro").await;
}

/// [`creating_group`] with nodes of `node_type`.
async fn creating_group_of(app: &mut TestApp, id: &str, snapshot: Option<&str>, node_type: &str) {
    app.emulator.hold(id);
    let created = app
        .client
        .create_replication_group(pb::CreateReplicationGroupRequest {
            replication_group_id: id.to_owned(),
            replication_group_description: "orders".into(),
            engine: Some("redis".into()),
            cache_node_type: Some(node_type.into()),
            num_cache_clusters: Some(2),
            snapshot_name: snapshot.map(str::to_owned),
            ..Default::default()
        })
        .await
        .expect("group created")
        .into_inner();
    let group = created.replication_group.expect("the group");
    assert_eq!(group.status.as_deref(), Some("creating"));
}

#[tokio::test]
async fn a_replication_group_is_created_watched_snapshotted_restored_and_deleted() {
    let mut app = spawn_app_with(fast).await;
    let id = unique("orders");
    creating_group(&mut app, &id, None).await;

    // Watched from creating to available; its member clusters are watched too.
    let mut stream = watch_group(&mut app, &id).await;
    let first = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(group_seen(&first), (WatchEvent::Initial, "creating".into()));
    assert!(!first.settled);
    let members = first.replication_group.unwrap().member_clusters;
    assert_eq!(members.len(), 2, "{members:?}");
    let mut cluster = app
        .client
        .watch_cache_cluster(pb::WatchCacheClusterRequest {
            cache_cluster_id: members[0].clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    app.emulator.release(&id);
    let (seen, end) = drain(&mut stream, group_seen).await;
    assert_eq!(seen, vec![(WatchEvent::Changed, "available".into())]);
    end.unwrap();
    let (seen, end) = drain(&mut cluster, |m: &pb::WatchCacheClusterResponse| {
        let c = m.cache_cluster.as_ref().unwrap();
        (
            m.event(),
            c.cache_cluster_status.clone().unwrap_or_default(),
        )
    })
    .await;
    assert_eq!(
        seen.last().map(|(_, status)| status.as_str()),
        Some("available"),
        "{seen:?}"
    );
    end.unwrap();

    // A snapshot of the group, watched to available.
    let snapshot = unique("orders-snap");
    app.emulator.hold(&snapshot);
    app.client
        .create_snapshot(pb::CreateSnapshotRequest {
            replication_group_id: Some(id.clone()),
            snapshot_name: snapshot.clone(),
            ..Default::default()
        })
        .await
        .expect("snapshot created");
    let mut stream = app
        .client
        .watch_snapshot(pb::WatchSnapshotRequest {
            snapshot_name: snapshot.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        snapshot_seen(&first),
        (WatchEvent::Initial, "creating".into())
    );
    app.emulator.release(&snapshot);
    let (seen, end) = drain(&mut stream, snapshot_seen).await;
    assert_eq!(seen, vec![(WatchEvent::Changed, "available".into())]);
    end.unwrap();

    // Restored into a new group, which is watched to available.
    let restored = unique("orders-restored");
    creating_group(&mut app, &restored, Some(&snapshot)).await;
    let mut stream = watch_group(&mut app, &restored).await;
    app.emulator.release(&restored);
    let (seen, end) = drain(&mut stream, group_seen).await;
    assert_eq!(
        seen.last(),
        Some(&(
            if seen.len() == 1 {
                WatchEvent::Initial
            } else {
                WatchEvent::Changed
            },
            "available".into()
        )),
        "{seen:?}"
    );
    end.unwrap();

    // Deleted while watched: the last state, then DELETED, then OK; the snapshot remains.
    let mut stream = app
        .client
        .watch_replication_group(pb::WatchReplicationGroupRequest {
            replication_group_id: id.clone(),
            keep_watching_when_settled: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        group_seen(&first),
        (WatchEvent::Initial, "available".into())
    );
    app.client
        .delete_replication_group(pb::DeleteReplicationGroupRequest {
            replication_group_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("deleted");
    let (seen, end) = drain(&mut stream, group_seen).await;
    assert_eq!(
        seen.last().map(|(event, _)| *event),
        Some(WatchEvent::Deleted),
        "{seen:?}"
    );
    end.unwrap();
    let snapshots = app
        .client
        .describe_snapshots(pb::DescribeSnapshotsRequest {
            snapshot_name: Some(snapshot.clone()),
            ..Default::default()
        })
        .await
        .expect("the snapshot outlives its group")
        .into_inner()
        .snapshots;
    assert_eq!(snapshots.len(), 1);
    assert_eq!(snapshots[0].snapshot_status.as_deref(), Some("available"));
}

/// A global datastore made from a group is watched to its settled status, then deleted while
/// watched.
#[tokio::test]
async fn a_global_datastore_is_watched_to_settled_and_to_its_deletion() {
    let mut app = spawn_app_with(fast).await;
    let primary = unique("global-primary");
    // Global datastores need M5, R5 or later nodes.
    creating_group_of(&mut app, &primary, None, "cache.r5.large").await;
    let mut stream = watch_group(&mut app, &primary).await;
    app.emulator.release(&primary);
    let (_, end) = drain(&mut stream, group_seen).await;
    end.unwrap();

    let created = app
        .client
        .create_global_replication_group(pb::CreateGlobalReplicationGroupRequest {
            global_replication_group_id_suffix: unique("orders-global"),
            primary_replication_group_id: primary.clone(),
            ..Default::default()
        })
        .await
        .expect("global datastore created")
        .into_inner()
        .global_replication_group
        .expect("the datastore");
    let id = created.global_replication_group_id.expect("its id");
    let seen = |m: &pb::WatchGlobalReplicationGroupResponse| {
        let g = m.global_replication_group.as_ref().unwrap();
        (m.event(), g.status.clone().unwrap_or_default())
    };
    let mut stream = app
        .client
        .watch_global_replication_group(pb::WatchGlobalReplicationGroupRequest {
            global_replication_group_id: id.clone(),
            keep_watching_when_settled: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // Settled: available or primary-only (a datastore with no secondary yet).
    let settled = loop {
        let m = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("a message within 10 s")
            .unwrap()
            .expect("not the end yet");
        if m.settled {
            break seen(&m);
        }
    };
    assert!(
        ["available", "primary-only"].contains(&settled.1.as_str()),
        "{settled:?}"
    );
    app.client
        .delete_global_replication_group(pb::DeleteGlobalReplicationGroupRequest {
            global_replication_group_id: id.clone(),
            retain_primary_replication_group: Some(true),
            ..Default::default()
        })
        .await
        .expect("deleted");
    let (seen, end) = drain(&mut stream, seen).await;
    assert_eq!(
        seen.last().map(|(event, _)| *event),
        Some(WatchEvent::Deleted),
        "{seen:?}"
    );
    end.unwrap();
}
