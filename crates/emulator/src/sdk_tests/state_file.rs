//! The state file: the account survives a restart, driven with the real SDK; a file that cannot
//! be used is refused at start, naming it and why.

use std::path::{Path, PathBuf};

use aws_sdk_elasticache::types::{
    CacheCluster, Event, Parameter, ParameterNameValue, ReplicationGroup, User,
};

use super::*;

/// A fresh directory for one test's state file.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ecemu-state-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn state_config(path: &Path) -> EmulatorConfig {
    EmulatorConfig {
        settle_time: SETTLE,
        export_time: SETTLE,
        state_file: Some(path.to_owned()),
        ..EmulatorConfig::default()
    }
}

async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
    Emulator::start("127.0.0.1:0".parse().unwrap(), config).await
}

/// Everything the test compares across the restart, as the SDK reads it.
#[derive(Debug, PartialEq)]
struct Described {
    caches: Vec<ServerlessCache>,
    groups: Vec<ReplicationGroup>,
    clusters: Vec<CacheCluster>,
    users: Vec<User>,
    user_parameters: Vec<Parameter>,
    tags: Vec<Tag>,
    events: Vec<Event>,
}

async fn describe(client: &Client, cache_arn: &str) -> Described {
    let caches = client.describe_serverless_caches().send().await.unwrap();
    let groups = client.describe_replication_groups().send().await.unwrap();
    let clusters = client
        .describe_cache_clusters()
        .show_cache_node_info(true)
        .send()
        .await
        .unwrap();
    let users = client.describe_users().send().await.unwrap();
    let parameters = client
        .describe_cache_parameters()
        .cache_parameter_group_name("kept-params")
        .source("user")
        .send()
        .await
        .unwrap();
    let tags = client
        .list_tags_for_resource()
        .resource_name(cache_arn)
        .send()
        .await
        .unwrap();
    let events = client
        .describe_events()
        .duration(60 * 24 * 14)
        .send()
        .await
        .unwrap();
    Described {
        caches: caches.serverless_caches().to_vec(),
        groups: groups.replication_groups().to_vec(),
        clusters: clusters.cache_clusters().to_vec(),
        users: users.users().to_vec(),
        user_parameters: parameters.parameters().to_vec(),
        tags: tags.tag_list().to_vec(),
        events: events.events().to_vec(),
    }
}

async fn cache_status(client: &Client, name: &str) -> Option<String> {
    match client
        .describe_serverless_caches()
        .serverless_cache_name(name)
        .send()
        .await
    {
        Ok(output) => output.serverless_caches()[0].status().map(str::to_owned),
        Err(err) if err.code() == Some("ServerlessCacheNotFoundFault") => None,
        Err(err) => panic!("{err:?}"),
    }
}

async fn create_cache(client: &Client, name: &str) -> ServerlessCache {
    client
        .create_serverless_cache()
        .serverless_cache_name(name)
        .engine("valkey")
        .send()
        .await
        .unwrap()
        .serverless_cache()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_account_survives_a_restart_through_its_state_file() {
    let dir = scratch("restart");
    let path = dir.join("state.json");
    let first = start(state_config(&path)).await.unwrap();
    let client1 = client(&first);

    // Settled resources of several families.
    let kept = create_cache(&client1, "kept").await;
    client1
        .create_replication_group()
        .replication_group_id("kept-group")
        .replication_group_description("survives restarts")
        .engine("redis")
        .cache_node_type("cache.r6g.large")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .send()
        .await
        .unwrap();
    create_cache(&client1, "doomed").await;
    settle(&first);
    client1
        .delete_serverless_cache()
        .serverless_cache_name("doomed")
        .send()
        .await
        .unwrap();
    client1
        .create_serverless_cache_snapshot()
        .serverless_cache_name("kept")
        .serverless_cache_snapshot_name("kept-serverless-snap")
        .send()
        .await
        .unwrap();
    client1
        .create_snapshot()
        .replication_group_id("kept-group")
        .snapshot_name("kept-snap")
        .send()
        .await
        .unwrap();
    settle(&first);
    client1
        .create_global_replication_group()
        .global_replication_group_id_suffix("kept")
        .primary_replication_group_id("kept-group")
        .send()
        .await
        .unwrap();
    client1
        .create_user_group()
        .user_group_id("kept-users")
        .engine("valkey")
        .user_ids("default")
        .send()
        .await
        .unwrap();
    client1
        .create_cache_subnet_group()
        .cache_subnet_group_name("kept-subnets")
        .cache_subnet_group_description("private")
        .subnet_ids("subnet-0aaa")
        .send()
        .await
        .unwrap();
    let offerings = client1
        .describe_reserved_cache_nodes_offerings()
        .send()
        .await
        .unwrap();
    client1
        .purchase_reserved_cache_nodes_offering()
        .reserved_cache_nodes_offering_id(
            offerings.reserved_cache_nodes_offerings()[0]
                .reserved_cache_nodes_offering_id()
                .unwrap(),
        )
        .reserved_cache_node_id("kept-reservation")
        .send()
        .await
        .unwrap();
    assert_eq!(cache_status(&client1, "doomed").await, None);
    client1
        .create_user()
        .user_id("keeper")
        .user_name("keeper")
        .engine("valkey")
        .access_string("on ~app:* +@read")
        .no_password_required(true)
        .send()
        .await
        .unwrap();
    client1
        .create_cache_parameter_group()
        .cache_parameter_group_name("kept-params")
        .cache_parameter_group_family("redis7")
        .description("tuned")
        .send()
        .await
        .unwrap();
    client1
        .modify_cache_parameter_group()
        .cache_parameter_group_name("kept-params")
        .parameter_name_values(
            ParameterNameValue::builder()
                .parameter_name("maxmemory-policy")
                .parameter_value("allkeys-lru")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = kept.arn().unwrap().to_owned();
    client1
        .add_tags_to_resource()
        .resource_name(&arn)
        .tags(Tag::builder().key("team").value("payments").build())
        .send()
        .await
        .unwrap();
    // In flight at the restart: one being created, one being deleted.
    create_cache(&client1, "going").await;
    settle(&first);
    assert_eq!(
        cache_status(&client1, "going").await.as_deref(),
        Some("available")
    );
    create_cache(&client1, "late").await;
    client1
        .delete_serverless_cache()
        .serverless_cache_name("going")
        .send()
        .await
        .unwrap();
    let before = describe(&client1, &arn).await;
    first.shutdown();
    drop(first);

    let text = std::fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 1, "{text}");
    assert_eq!(json["account_id"], "123456789012");
    assert_eq!(json["region"], "us-east-1");

    let second = start(state_config(&path)).await.unwrap();
    // Every family came back as it was saved: the second emulator writes the file at start, and
    // writes the same bytes.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    for family in ["serverless_snapshots", "user_groups", "reserved_nodes"] {
        assert_eq!(
            json[family].as_object().map(|o| o.len()),
            Some(1),
            "{family}"
        );
    }
    for kind in ["groups", "clusters", "snapshots", "globals"] {
        assert!(
            !json["nodes"][kind].as_object().unwrap().is_empty(),
            "{kind}"
        );
    }
    assert!(json["catalog"]["subnet_groups"]["kept-subnets"].is_object());
    // The test moved the first emulator's clock ahead three times; the second starts where it
    // was, so the two describe the same moment.
    second.advance_clock(SETTLE * 3);
    let client2 = client(&second);
    let after = describe(&client2, &arn).await;
    assert_eq!(after, before);
    assert_eq!(
        cache_status(&client2, "late").await.as_deref(),
        Some("creating")
    );
    assert_eq!(
        cache_status(&client2, "going").await.as_deref(),
        Some("deleting")
    );
    assert_eq!(cache_status(&client2, "doomed").await, None);
    assert_eq!(after.user_parameters.len(), 1);
    assert_eq!(
        after.user_parameters[0].parameter_value(),
        Some("allkeys-lru")
    );
    assert_eq!(after.tags.len(), 1);
    assert!(
        after
            .users
            .iter()
            .any(|user| user.user_id() == Some("keeper"))
    );

    // The transitions under way finish later, on the new emulator's clock.
    second.advance_clock(SETTLE);
    assert_eq!(
        cache_status(&client2, "late").await.as_deref(),
        Some("available")
    );
    assert_eq!(cache_status(&client2, "going").await, None);
    let events = client2
        .describe_events()
        .source_identifier("late")
        .duration(60 * 24 * 14)
        .send()
        .await
        .unwrap();
    assert!(
        events
            .events()
            .iter()
            .any(|event| event.message() == Some("Serverless cache created")),
        "{events:?}"
    );
    // Settling is not a change, so the file still says what it said; a third start settles the
    // same way.
    second.shutdown();
    drop(second);
    let third = start(state_config(&path)).await.unwrap();
    let client3 = client(&third);
    assert_eq!(
        cache_status(&client3, "late").await.as_deref(),
        Some("creating")
    );
    third.advance_clock(SETTLE * 4);
    assert_eq!(
        cache_status(&client3, "late").await.as_deref(),
        Some("available")
    );
    assert_eq!(cache_status(&client3, "going").await, None);
    third.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_missing_state_file_starts_an_empty_account_and_is_created() {
    let dir = scratch("missing");
    let path = dir.join("new.json");
    let emulator = start(state_config(&path)).await.unwrap();
    let text = std::fs::read_to_string(&path).expect("created at start");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 1);
    let client = client(&emulator);
    let caches = client.describe_serverless_caches().send().await.unwrap();
    assert!(caches.serverless_caches().is_empty());
    // The account's built-in resources are there, as in any new account.
    let users = client.describe_users().send().await.unwrap();
    assert_eq!(users.users()[0].user_id(), Some("default"));
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["new.json"]);
    emulator.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starting on `contents` fails; the error, which names the file, and the file afterwards.
async fn refused(name: &str, contents: &str) -> (String, String) {
    let dir = scratch(name);
    let path = dir.join("state.json");
    std::fs::write(&path, contents).unwrap();
    let error = start(state_config(&path)).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(path.to_str().unwrap()),
        "the error names the file: {message}"
    );
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{message}");
    let after = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (message, after)
}

#[tokio::test]
async fn a_corrupt_state_file_is_refused_at_start_and_left_alone() {
    let (message, after) = refused("corrupt", "{\"version\": 1, \"region\": ").await;
    assert!(message.contains("not an emulator state file"), "{message}");
    assert!(message.contains("line 1"), "where it broke: {message}");
    assert_eq!(after, "{\"version\": 1, \"region\": ", "never discarded");

    let (message, _) = refused("empty", "").await;
    assert!(message.contains("not an emulator state file"), "{message}");

    let (message, _) = refused("no-version", "{\"serverless_caches\": {}}").await;
    assert!(message.contains("no \"version\""), "{message}");

    // Version 1, but not what version 1 holds.
    let (message, _) = refused(
        "bad-field",
        "{\"version\": 1, \"account_id\": \"123456789012\", \"region\": \"us-east-1\"}",
    )
    .await;
    assert!(message.contains("missing field"), "{message}");
}

#[tokio::test]
async fn a_state_file_the_emulator_cannot_be_in_is_refused() {
    let dir = scratch("inconsistent");
    let path = dir.join("state.json");
    let emulator = start(state_config(&path)).await.unwrap();
    client(&emulator)
        .create_replication_group()
        .replication_group_id("edited")
        .replication_group_description("hand-edited later")
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .unwrap();
    emulator.shutdown();
    drop(emulator);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();

    let mut edited = saved.clone();
    edited["nodes"]["groups"]["edited"]["node_groups"] = serde_json::json!([]);
    let (message, _) = refused("no-node-groups", &edited.to_string()).await;
    assert!(
        message.contains("replication group edited has no node groups"),
        "{message}"
    );

    let mut edited = saved;
    let groups = edited["nodes"]["groups"].as_object_mut().unwrap();
    let group = groups.remove("edited").unwrap();
    groups.insert("renamed".to_owned(), group);
    let (message, _) = refused("misfiled", &edited.to_string()).await;
    assert!(
        message.contains("the replication group filed as \"renamed\" is named \"edited\""),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_state_file_of_another_version_is_refused_naming_both() {
    let (message, after) = refused("version", "{\"version\": 2, \"future\": true}").await;
    assert!(message.contains("version 2"), "{message}");
    assert!(message.contains("version 1"), "{message}");
    assert_eq!(after, "{\"version\": 2, \"future\": true}");
}

#[tokio::test]
async fn a_state_file_of_another_account_or_region_is_refused() {
    let dir = scratch("account");
    let path = dir.join("state.json");
    let emulator = start(state_config(&path)).await.unwrap();
    create_cache(&client(&emulator), "mine").await;
    emulator.shutdown();
    drop(emulator);
    let saved = std::fs::read_to_string(&path).unwrap();

    let elsewhere = EmulatorConfig {
        region: "eu-west-1".to_owned(),
        ..state_config(&path)
    };
    let message = start(elsewhere).await.unwrap_err().to_string();
    assert!(message.contains(path.to_str().unwrap()), "{message}");
    assert!(
        message.contains("us-east-1") && message.contains("eu-west-1"),
        "{message}"
    );
    let other_account = EmulatorConfig {
        account_id: "210987654321".to_owned(),
        ..state_config(&path)
    };
    let message = start(other_account).await.unwrap_err().to_string();
    assert!(
        message.contains("123456789012") && message.contains("210987654321"),
        "{message}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), saved);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_unreadable_state_file_is_refused_at_start() {
    let dir = scratch("unreadable");
    // A directory where the file should be.
    let path = dir.join("state.json");
    std::fs::create_dir(&path).unwrap();
    let message = start(state_config(&path)).await.unwrap_err().to_string();
    assert!(message.contains(path.to_str().unwrap()), "{message}");
    assert!(message.contains("cannot read it"), "{message}");
    // A place no file can be written is found at start too.
    let path = dir.join("no-such-dir").join("state.json");
    let message = start(state_config(&path)).await.unwrap_err().to_string();
    assert!(message.contains("cannot write it"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_change_that_cannot_be_saved_answers_internal_failure() {
    let dir = scratch("unsaved");
    let path = dir.join("state.json");
    let emulator = start(state_config(&path)).await.unwrap();
    let client = client(&emulator);
    std::fs::remove_dir_all(&dir).unwrap();
    let err = client
        .create_serverless_cache()
        .serverless_cache_name("unsaved")
        .engine("valkey")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InternalFailure"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert!(
        err.message().is_some_and(|m| m.contains("not saved")),
        "{err:?}"
    );
    // Reads need no save and still answer.
    client.describe_serverless_caches().send().await.unwrap();
    emulator.shutdown();
}

/// With several accounts (`--emulator-accounts`), each (account, region) keeps its own file
/// beside the default one, and each comes back on its own after a restart.
#[tokio::test]
async fn each_account_and_region_survives_a_restart_in_its_own_file() {
    let dir = scratch("accounts");
    let path = dir.join("state.json");
    let config = EmulatorConfig {
        accounts: vec!["222222222222".into()],
        ..state_config(&path)
    };
    let key = super::super::sts::access_key_for("222222222222");
    let assumed = |emulator: &Emulator, region: &str| {
        let credentials = Credentials::new(&key, "secret", Some("token".into()), None, "sts");
        super::signed_as(emulator, region, credentials)
    };
    let emulator = start(config.clone()).await.unwrap();
    // The played accounts' files in the configured region are made at start.
    assert!(path.exists());
    assert!(dir.join("state.222222222222-us-east-1.json").exists());
    create_cache(&client(&emulator), "in-default").await;
    create_cache(&assumed(&emulator, "eu-west-1"), "in-second").await;
    assert!(dir.join("state.222222222222-eu-west-1.json").exists());
    emulator.shutdown();

    let emulator = start(config).await.unwrap();
    let names = |client: Client| async move {
        let listed = client.describe_serverless_caches().send().await.unwrap();
        listed
            .serverless_caches()
            .iter()
            .filter_map(|c| c.arn().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(client(&emulator)).await,
        ["arn:aws:elasticache:us-east-1:123456789012:serverlesscache:in-default"]
    );
    assert_eq!(
        names(assumed(&emulator, "eu-west-1")).await,
        ["arn:aws:elasticache:eu-west-1:222222222222:serverlesscache:in-second"]
    );
    assert!(names(assumed(&emulator, "us-east-1")).await.is_empty());
    emulator.shutdown();

    // A bad file of a played account stops the start, naming it.
    std::fs::write(dir.join("state.222222222222-us-east-1.json"), "{ not json").unwrap();
    let error = start(EmulatorConfig {
        accounts: vec!["222222222222".into()],
        ..state_config(&path)
    })
    .await
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("state.222222222222-us-east-1.json"),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each node's id and status, as `DescribeCacheClusters(ShowCacheNodeInfo)` lists them.
async fn node_statuses(client: &Client, id: &str) -> Vec<(String, String)> {
    let output = client
        .describe_cache_clusters()
        .cache_cluster_id(id)
        .show_cache_node_info(true)
        .send()
        .await
        .unwrap();
    output.cache_clusters()[0]
        .cache_nodes()
        .iter()
        .map(|n| {
            (
                n.cache_node_id().unwrap().to_owned(),
                n.cache_node_status().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_partial_reboot_survives_a_restart() {
    let dir = scratch("reboot");
    let path = dir.join("state.json");
    let first = start(state_config(&path)).await.unwrap();
    let client1 = client(&first);
    client1
        .create_cache_cluster()
        .cache_cluster_id("rebooted")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(2)
        .send()
        .await
        .unwrap();
    settle(&first);
    client1
        .reboot_cache_cluster()
        .cache_cluster_id("rebooted")
        .cache_node_ids_to_reboot("0002")
        .send()
        .await
        .unwrap();
    let rebooting = vec![
        ("0001".to_owned(), "available".to_owned()),
        ("0002".to_owned(), "rebooting".to_owned()),
    ];
    assert_eq!(node_statuses(&client1, "rebooted").await, rebooting);
    first.shutdown();
    drop(first);
    let saved = std::fs::read_to_string(&path).unwrap();

    let second = start(state_config(&path)).await.unwrap();
    second.advance_clock(SETTLE);
    let client2 = client(&second);
    assert_eq!(node_statuses(&client2, "rebooted").await, rebooting);
    second.advance_clock(SETTLE);
    let available = vec![
        ("0001".to_owned(), "available".to_owned()),
        ("0002".to_owned(), "available".to_owned()),
    ];
    assert_eq!(node_statuses(&client2, "rebooted").await, available);
    second.shutdown();
    drop(second);

    // A file written before nodes kept their own reboot reads as no node rebooting.
    let mut older: serde_json::Value = serde_json::from_str(&saved).unwrap();
    for node in older["nodes"]["clusters"]["rebooted"]["nodes"]
        .as_array_mut()
        .unwrap()
    {
        assert!(node.as_object_mut().unwrap().remove("rebooting").is_some());
    }
    std::fs::write(&path, older.to_string()).unwrap();
    let third = start(state_config(&path)).await.unwrap();
    third.advance_clock(SETTLE);
    let client3 = client(&third);
    assert_eq!(
        node_statuses(&client3, "rebooted").await,
        vec![
            ("0001".to_owned(), "available".to_owned()),
            ("0002".to_owned(), "available".to_owned()),
        ]
    );
    third.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_tags_of_a_reservation_survive_a_restart() {
    let dir = scratch("reservation-tags");
    let path = dir.join("state.json");
    let first = start(state_config(&path)).await.unwrap();
    let client1 = client(&first);
    let offerings = client1
        .describe_reserved_cache_nodes_offerings()
        .send()
        .await
        .unwrap();
    let bought = client1
        .purchase_reserved_cache_nodes_offering()
        .reserved_cache_nodes_offering_id(
            offerings.reserved_cache_nodes_offerings()[0]
                .reserved_cache_nodes_offering_id()
                .unwrap(),
        )
        .reserved_cache_node_id("kept-reservation")
        .tags(Tag::builder().key("family").value("reserved").build())
        .send()
        .await
        .unwrap();
    let arn = bought
        .reserved_cache_node()
        .and_then(|node| node.reservation_arn())
        .unwrap()
        .to_owned();
    client1
        .add_tags_to_resource()
        .resource_name(&arn)
        .tags(Tag::builder().key("owner").value("finance").build())
        .send()
        .await
        .unwrap();
    first.shutdown();
    drop(first);

    let second = start(state_config(&path)).await.unwrap();
    let listed = client(&second)
        .list_tags_for_resource()
        .resource_name(&arn)
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = listed
        .tag_list()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags, [("family", "reserved"), ("owner", "finance")]);
    second.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
