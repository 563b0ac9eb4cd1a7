//! The whole snapshot lifecycle and paging, through the facade and the emulator.

use elasticache_grpc::pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn snapshot_lifecycle_create_export_copy_delete() {
    let mut app = spawn_app().await;
    let cache = unique("life");
    available_cache(&mut app, &cache).await;

    let created = app
        .client
        .create_serverless_cache_snapshot(pb::CreateServerlessCacheSnapshotRequest {
            serverless_cache_snapshot_name: format!("{cache}-snap"),
            serverless_cache_name: cache.clone(),
            tags: vec![pb::Tag {
                key: Some("team".into()),
                value: Some("platform".into()),
            }],
            ..Default::default()
        })
        .await
        .expect("snapshot created")
        .into_inner()
        .serverless_cache_snapshot
        .expect("snapshot in response");
    assert_eq!(created.status.as_deref(), Some("creating"));
    assert_eq!(
        created.serverless_cache_snapshot_name.as_deref(),
        Some(format!("{cache}-snap").as_str())
    );
    assert!(
        created
            .arn
            .as_deref()
            .unwrap_or_default()
            .ends_with(&format!("{cache}-snap"))
    );
    assert!(created.create_time.is_some());
    assert_eq!(
        created
            .serverless_cache_configuration
            .and_then(|c| c.serverless_cache_name),
        Some(cache.clone())
    );

    let snap = format!("{cache}-snap");
    // Export is refused while the snapshot is still being created.
    let early = app
        .client
        .export_serverless_cache_snapshot(pb::ExportServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: snap.clone(),
            s3_bucket_name: "corp-cache-backups".into(),
        })
        .await
        .expect_err("export of a creating snapshot fails");
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert_eq!(reason(&early), "INVALID_SERVERLESS_CACHE_SNAPSHOT_STATE");

    wait_for_snapshot(&app, &snap, "available").await;
    let exported = app
        .client
        .export_serverless_cache_snapshot(pb::ExportServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: snap.clone(),
            s3_bucket_name: "corp-cache-backups".into(),
        })
        .await
        .expect("export accepted")
        .into_inner();
    assert_eq!(
        exported
            .serverless_cache_snapshot
            .and_then(|s| s.status)
            .as_deref(),
        Some("exporting")
    );
    assert_eq!(
        snapshot_status(&app, &snap).await.as_deref(),
        Some("exporting")
    );
    wait_for_snapshot(&app, &snap, "available").await;

    let copy = app
        .client
        .copy_serverless_cache_snapshot(pb::CopyServerlessCacheSnapshotRequest {
            source_serverless_cache_snapshot_name: snap.clone(),
            target_serverless_cache_snapshot_name: format!("{snap}-copy"),
            ..Default::default()
        })
        .await
        .expect("copy accepted")
        .into_inner()
        .serverless_cache_snapshot
        .expect("copy in response");
    assert_eq!(
        copy.serverless_cache_snapshot_name,
        Some(format!("{snap}-copy"))
    );
    wait_for_snapshot(&app, &format!("{snap}-copy"), "available").await;

    let deleted = app
        .client
        .delete_serverless_cache_snapshot(pb::DeleteServerlessCacheSnapshotRequest {
            request_id: None,
            serverless_cache_snapshot_name: snap.clone(),
        })
        .await
        .expect("delete accepted")
        .into_inner();
    assert_eq!(
        deleted
            .serverless_cache_snapshot
            .and_then(|s| s.status)
            .as_deref(),
        Some("deleting")
    );
    assert_eq!(app.emulator.calls("ExportServerlessCacheSnapshot"), 2);
}

#[tokio::test]
async fn cache_modify_and_delete_with_final_snapshot() {
    let mut app = spawn_app().await;
    let cache = unique("mod");
    available_cache(&mut app, &cache).await;
    let modified = app
        .client
        .modify_serverless_cache(pb::ModifyServerlessCacheRequest {
            serverless_cache_name: cache.clone(),
            description: Some("resized".into()),
            cache_usage_limits: Some(pb::CacheUsageLimits {
                data_storage: Some(pb::DataStorage {
                    maximum: Some(10),
                    minimum: Some(1),
                    unit: Some(pb::DataStorageUnit::Gb as i32),
                }),
                ecpu_per_second: Some(pb::EcpuPerSecond {
                    maximum: Some(5000),
                    minimum: Some(1000),
                }),
            }),
            ..Default::default()
        })
        .await
        .expect("modify accepted")
        .into_inner()
        .serverless_cache
        .expect("cache in response");
    assert_eq!(modified.description.as_deref(), Some("resized"));
    let limits = modified.cache_usage_limits.expect("limits");
    let storage = limits.data_storage.expect("storage");
    assert_eq!(storage.maximum, Some(10));
    assert_eq!(storage.unit, Some(pb::DataStorageUnit::Gb as i32));
    assert_eq!(limits.ecpu_per_second.and_then(|e| e.maximum), Some(5000));

    wait_for_cache(&app, &cache, "available").await;

    let deleted = app
        .client
        .delete_serverless_cache(pb::DeleteServerlessCacheRequest {
            request_id: None,
            serverless_cache_name: cache.clone(),
            final_snapshot_name: Some(format!("{cache}-final")),
        })
        .await
        .expect("delete accepted")
        .into_inner();
    assert_eq!(
        deleted.serverless_cache.and_then(|c| c.status).as_deref(),
        Some("deleting")
    );
    assert!(
        snapshot_status(&app, &format!("{cache}-final"))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn paging_walks_every_snapshot_exactly_once() {
    let mut app = spawn_app().await;
    let cache = unique("page");
    available_cache(&mut app, &cache).await;
    let total = 45;
    for i in 0..total {
        app.client
            .create_serverless_cache_snapshot(pb::CreateServerlessCacheSnapshotRequest {
                serverless_cache_snapshot_name: format!("{cache}-s{i:02}"),
                serverless_cache_name: cache.clone(),
                ..Default::default()
            })
            .await
            .expect("snapshot created");
    }
    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = app
            .client
            .describe_serverless_cache_snapshots(pb::DescribeServerlessCacheSnapshotsRequest {
                serverless_cache_name: Some(cache.clone()),
                max_results: Some(20),
                next_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        pages += 1;
        assert!(page.serverless_cache_snapshots.len() <= 20);
        seen.extend(
            page.serverless_cache_snapshots
                .into_iter()
                .filter_map(|s| s.serverless_cache_snapshot_name),
        );
        token = page.next_token;
        if token.is_none() || pages > 10 {
            break;
        }
    }
    assert_eq!(pages, 3);
    let mut unique_names = seen.clone();
    unique_names.sort();
    unique_names.dedup();
    assert_eq!(seen.len(), total);
    assert_eq!(unique_names.len(), total);
}
