//! The whole ElastiCache API through the facade: tags, users and user groups against the
//! emulator, an operation the emulator does not implement, paging of a non-serverless list, and
//! the export-bucket policy on `CopySnapshot`.

use elasticache_grpc::emulator::FaultKind;
use elasticache_grpc::pb;
use tonic::Code;

use crate::helpers::*;

/// A user the emulator accepts: no password, full access.
fn new_user(id: &str, name: &str) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        user_id: id.into(),
        user_name: name.into(),
        engine: "redis".into(),
        access_string: "on ~* +@all".into(),
        no_password_required: Some(true),
        ..Default::default()
    }
}

#[tokio::test]
async fn tags_on_a_serverless_snapshot_are_added_listed_and_removed() {
    let mut app = spawn_app().await;
    let cache = unique("tagged");
    let snapshot = unique("tagged-snap");
    available_cache(&mut app, &cache).await;
    available_snapshot(&mut app, &cache, &snapshot).await;
    let arn = app
        .client
        .describe_serverless_cache_snapshots(pb::DescribeServerlessCacheSnapshotsRequest {
            serverless_cache_snapshot_name: Some(snapshot.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .serverless_cache_snapshots[0]
        .arn
        .clone()
        .expect("the snapshot has an ARN");

    let tag = |k: &str, v: &str| pb::Tag {
        key: Some(k.into()),
        value: Some(v.into()),
    };
    let added = app
        .client
        .add_tags_to_resource(pb::AddTagsToResourceRequest {
            request_id: None,
            resource_name: arn.clone(),
            tags: vec![tag("team", "platform"), tag("env", "test")],
        })
        .await
        .expect("tags added")
        .into_inner();
    let mut keys: Vec<_> = added
        .tag_list
        .iter()
        .filter_map(|t| t.key.clone())
        .collect();
    keys.sort();
    assert_eq!(keys, ["env", "team"]);

    let listed = app
        .client
        .list_tags_for_resource(pb::ListTagsForResourceRequest {
            resource_name: arn.clone(),
        })
        .await
        .expect("tags listed")
        .into_inner();
    assert!(
        listed.tag_list.contains(&tag("team", "platform")),
        "{listed:?}"
    );
    assert!(listed.tag_list.contains(&tag("env", "test")), "{listed:?}");

    let after = app
        .client
        .remove_tags_from_resource(pb::RemoveTagsFromResourceRequest {
            request_id: None,
            resource_name: arn.clone(),
            tag_keys: vec!["env".into()],
        })
        .await
        .expect("tag removed")
        .into_inner();
    assert_eq!(after.tag_list, vec![tag("team", "platform")]);

    // A key the resource does not have.
    let status = app
        .client
        .remove_tags_from_resource(pb::RemoveTagsFromResourceRequest {
            request_id: None,
            resource_name: arn,
            tag_keys: vec!["env".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(reason(&status), "TAG_NOT_FOUND");
}

#[tokio::test]
async fn a_user_group_is_created_and_used_by_a_serverless_cache() {
    let mut app = spawn_app().await;
    let user = unique("app-user");
    let group = unique("app-group");
    let created = app
        .client
        .create_user(new_user(&user, &user))
        .await
        .expect("user created")
        .into_inner();
    assert_eq!(created.user_id.as_deref(), Some(user.as_str()));
    let created = app
        .client
        .create_user_group(pb::CreateUserGroupRequest {
            user_group_id: group.clone(),
            engine: "redis".into(),
            user_ids: vec!["default".into(), user.clone()],
            ..Default::default()
        })
        .await
        .expect("user group created")
        .into_inner();
    assert_eq!(created.user_group_id.as_deref(), Some(group.as_str()));
    let mut members = created.user_ids.clone();
    members.sort();
    let mut want = vec!["default".to_owned(), user.clone()];
    want.sort();
    assert_eq!(members, want);

    let cache = unique("grouped");
    let made = app
        .client
        .create_serverless_cache(pb::CreateServerlessCacheRequest {
            serverless_cache_name: cache.clone(),
            engine: "valkey".into(),
            user_group_id: Some(group.clone()),
            ..Default::default()
        })
        .await
        .expect("cache with a user group created")
        .into_inner();
    assert_eq!(
        made.serverless_cache.and_then(|c| c.user_group_id),
        Some(group.clone())
    );
    let groups = app
        .client
        .describe_user_groups(pb::DescribeUserGroupsRequest {
            user_group_id: Some(group.clone()),
            ..Default::default()
        })
        .await
        .expect("user groups described")
        .into_inner()
        .user_groups;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].serverless_caches, vec![cache]);
}

#[tokio::test]
async fn an_unknown_user_group_is_not_found_naming_it() {
    let mut app = spawn_app().await;
    let status = app
        .client
        .create_serverless_cache(pb::CreateServerlessCacheRequest {
            serverless_cache_name: unique("orphan"),
            engine: "valkey".into(),
            user_group_id: Some("no-such-group".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(reason(&status), "USER_GROUP_NOT_FOUND");
    let info = details(&status)
        .resource_info()
        .cloned()
        .expect("ResourceInfo");
    assert_eq!(info.resource_type, "elasticache.v1.UserGroup");
    assert_eq!(info.resource_name, "no-such-group");
    assert!(
        detail_types(&status)
            .contains(&"type.googleapis.com/elasticache.v1.UserGroupNotFoundFault".to_owned()),
        "{:?}",
        detail_types(&status)
    );
}

/// An endpoint that does not implement an action (an older emulator, a partial mock, an AWS
/// region without the feature) answers `InvalidAction`: the caller gets UNIMPLEMENTED naming the
/// operation, not retried.
#[tokio::test]
async fn an_operation_the_endpoint_does_not_implement_is_unimplemented_naming_it() {
    let mut app = spawn_app().await;
    app.emulator.faults().inject(
        Some("DescribeCacheClusters"),
        FaultKind::Error {
            status: 400,
            code: "InvalidAction".into(),
            message: "The elasticache-grpc emulator does not implement the action \
                      DescribeCacheClusters."
                .into(),
        },
        1,
    );
    let before = app.emulator.total_calls();
    let status = app
        .client
        .describe_cache_clusters(pb::DescribeCacheClustersRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert!(
        status.message().contains("DescribeCacheClusters")
            && status.message().contains("does not implement"),
        "{}",
        status.message()
    );
    assert_eq!(reason(&status), "INVALID_ACTION");
    // Not retried: the emulator saw exactly one call.
    assert_eq!(app.emulator.total_calls() - before, 1);
}

#[tokio::test]
async fn users_page_with_max_records_and_marker() {
    let mut app = spawn_app().await;
    let prefix = unique("pager");
    for i in 0..25 {
        let id = format!("{prefix}-{i:02}");
        app.client
            .create_user(new_user(&id, &id))
            .await
            .expect("user");
    }
    let mut seen = Vec::new();
    let mut marker = None;
    let mut pages = 0;
    loop {
        let page = app
            .client
            .describe_users(pb::DescribeUsersRequest {
                max_records: Some(20),
                marker: marker.clone(),
                ..Default::default()
            })
            .await
            .expect("a page")
            .into_inner();
        assert!(page.users.len() <= 20, "{}", page.users.len());
        seen.extend(page.users.into_iter().filter_map(|u| u.user_id));
        pages += 1;
        marker = page.marker;
        if marker.is_none() {
            break;
        }
        assert!(pages < 10, "paging does not end");
    }
    // 25 users and the built-in `default`, each once.
    assert_eq!(pages, 2);
    let mut unique_ids = seen.clone();
    unique_ids.sort();
    unique_ids.dedup();
    assert_eq!(unique_ids.len(), seen.len(), "a user came twice: {seen:?}");
    assert_eq!(seen.iter().filter(|u| u.starts_with(&prefix)).count(), 25);
    assert!(seen.contains(&"default".to_owned()));
}

#[tokio::test]
async fn copy_snapshot_to_a_bucket_is_under_the_export_bucket_policy() {
    let mut app = spawn_app_with(|s| {
        s.callers = vec![caller(
            "copier",
            "copier-secret",
            &["CopySnapshot"],
            &["allowed-bucket"],
        )];
    })
    .await;
    let copy = |bucket: Option<&str>| pb::CopySnapshotRequest {
        source_snapshot_name: "nightly".into(),
        target_snapshot_name: "nightly-copy".into(),
        target_bucket: bucket.map(str::to_owned),
        ..Default::default()
    };
    let before = app.emulator.total_calls();
    let refused = app
        .client
        .copy_snapshot(with_token(copy(Some("other-bucket")), "copier-secret"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(reason(&refused), "BUCKET_NOT_ALLOWED");
    assert_eq!(app.emulator.total_calls(), before, "refused before AWS");

    // An allowed bucket, and no bucket at all, pass the policy and reach the endpoint, which
    // answers for the snapshot (here: there is none).
    for bucket in [Some("allowed-bucket"), None] {
        let status = app
            .client
            .copy_snapshot(with_token(copy(bucket), "copier-secret"))
            .await
            .unwrap_err();
        assert_ne!(
            status.code(),
            Code::PermissionDenied,
            "{bucket:?}: {status:?}"
        );
        assert!(
            !reason(&status).ends_with("_NOT_ALLOWED"),
            "{bucket:?}: {status:?}"
        );
    }
    assert_eq!(app.emulator.total_calls() - before, 2);
}
