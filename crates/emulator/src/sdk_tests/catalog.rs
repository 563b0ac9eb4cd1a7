//! Cache parameter groups, subnet groups, engine versions and tags on the node-based ARNs,
//! driven with the real SDK.

use aws_sdk_elasticache::operation::create_cache_parameter_group::CreateCacheParameterGroupError;
use aws_sdk_elasticache::operation::create_cache_subnet_group::CreateCacheSubnetGroupError;
use aws_sdk_elasticache::operation::delete_cache_parameter_group::DeleteCacheParameterGroupError;
use aws_sdk_elasticache::operation::delete_cache_subnet_group::DeleteCacheSubnetGroupError;
use aws_sdk_elasticache::operation::describe_cache_parameter_groups::DescribeCacheParameterGroupsError;
use aws_sdk_elasticache::operation::describe_cache_parameters::DescribeCacheParametersError;
use aws_sdk_elasticache::operation::describe_cache_subnet_groups::DescribeCacheSubnetGroupsError;
use aws_sdk_elasticache::operation::describe_engine_default_parameters::DescribeEngineDefaultParametersError;
use aws_sdk_elasticache::operation::modify_cache_parameter_group::ModifyCacheParameterGroupError;
use aws_sdk_elasticache::operation::modify_cache_subnet_group::ModifyCacheSubnetGroupError;
use aws_sdk_elasticache::operation::reset_cache_parameter_group::ResetCacheParameterGroupError;
use aws_sdk_elasticache::types::{Parameter, ParameterNameValue};

use super::*;

fn name_value(name: &str, value: &str) -> ParameterNameValue {
    ParameterNameValue::builder()
        .parameter_name(name)
        .parameter_value(value)
        .build()
}

async fn parameter(client: &Client, group: &str, name: &str) -> Parameter {
    let output = client
        .describe_cache_parameters()
        .cache_parameter_group_name(group)
        .send()
        .await
        .unwrap();
    output
        .parameters()
        .iter()
        .find(|p| p.parameter_name() == Some(name))
        .cloned()
        .unwrap_or_else(|| panic!("no parameter {name}"))
}

#[tokio::test]
async fn parameter_groups_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);

    // The defaults of every family are there.
    let defaults = client
        .describe_cache_parameter_groups()
        .send()
        .await
        .unwrap();
    let names: Vec<_> = defaults
        .cache_parameter_groups()
        .iter()
        .filter_map(|g| g.cache_parameter_group_name())
        .collect();
    assert!(names.contains(&"default.redis7"));
    assert!(names.contains(&"default.valkey8.cluster.on"));
    assert!(names.contains(&"default.memcached1.6"));
    let cluster_on = parameter(&client, "default.redis7.cluster.on", "cluster-enabled").await;
    assert_eq!(cluster_on.parameter_value(), Some("yes"));

    // Create, modify, reset, delete.
    let created = client
        .create_cache_parameter_group()
        .cache_parameter_group_name("Tuned")
        .cache_parameter_group_family("redis7")
        .description("tuned for sessions")
        .send()
        .await
        .unwrap();
    let created = created.cache_parameter_group().unwrap();
    assert_eq!(created.cache_parameter_group_name(), Some("tuned"));
    assert_eq!(created.cache_parameter_group_family(), Some("redis7"));
    assert_eq!(created.is_global(), Some(false));
    assert_eq!(
        created.arn(),
        Some("arn:aws:elasticache:us-east-1:123456789012:parametergroup:tuned")
    );
    assert_fault!(
        client
            .create_cache_parameter_group()
            .cache_parameter_group_name("tuned")
            .cache_parameter_group_family("redis7")
            .description("again")
            .send()
            .await,
        CreateCacheParameterGroupError::CacheParameterGroupAlreadyExistsFault
    );
    assert_fault!(
        client
            .create_cache_parameter_group()
            .cache_parameter_group_name("old")
            .cache_parameter_group_family("redis2.6")
            .description("old")
            .send()
            .await,
        CreateCacheParameterGroupError::InvalidParameterValueException
    );
    let policy = parameter(&client, "tuned", "maxmemory-policy").await;
    assert_eq!(policy.parameter_value(), Some("volatile-lru"));
    assert_eq!(policy.source(), Some("system"));
    assert_eq!(policy.is_modifiable(), Some(true));
    assert_eq!(policy.data_type(), Some("string"));
    let modified = client
        .modify_cache_parameter_group()
        .cache_parameter_group_name("tuned")
        .parameter_name_values(name_value("maxmemory-policy", "allkeys-lru"))
        .parameter_name_values(name_value("timeout", "300"))
        .send()
        .await
        .unwrap();
    assert_eq!(modified.cache_parameter_group_name(), Some("tuned"));
    let policy = parameter(&client, "tuned", "maxmemory-policy").await;
    assert_eq!(policy.parameter_value(), Some("allkeys-lru"));
    assert_eq!(policy.source(), Some("user"));
    let user = client
        .describe_cache_parameters()
        .cache_parameter_group_name("tuned")
        .source("user")
        .send()
        .await
        .unwrap();
    assert_eq!(user.parameters().len(), 2);
    for bad in [
        name_value("maxmemory-policy", "sometimes"),
        name_value("timeout", "10"),
        name_value("maxclients", "10"),
        name_value("no-such-parameter", "1"),
    ] {
        assert_fault!(
            client
                .modify_cache_parameter_group()
                .cache_parameter_group_name("tuned")
                .parameter_name_values(bad)
                .send()
                .await,
            ModifyCacheParameterGroupError::InvalidParameterValueException
        );
    }
    assert_fault!(
        client
            .modify_cache_parameter_group()
            .cache_parameter_group_name("default.redis7")
            .parameter_name_values(name_value("timeout", "300"))
            .send()
            .await,
        ModifyCacheParameterGroupError::InvalidCacheParameterGroupStateFault
    );
    client
        .reset_cache_parameter_group()
        .cache_parameter_group_name("tuned")
        .parameter_name_values(
            ParameterNameValue::builder()
                .parameter_name("timeout")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        parameter(&client, "tuned", "timeout")
            .await
            .parameter_value(),
        Some("0")
    );
    assert_eq!(
        parameter(&client, "tuned", "maxmemory-policy")
            .await
            .source(),
        Some("user")
    );
    client
        .reset_cache_parameter_group()
        .cache_parameter_group_name("tuned")
        .reset_all_parameters(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        parameter(&client, "tuned", "maxmemory-policy")
            .await
            .source(),
        Some("system")
    );
    assert_fault!(
        client
            .reset_cache_parameter_group()
            .cache_parameter_group_name("tuned")
            .send()
            .await,
        ResetCacheParameterGroupError::InvalidParameterCombinationException
    );

    // Pages, and the node-type-specific parameters with the first.
    let first = client
        .describe_cache_parameters()
        .cache_parameter_group_name("tuned")
        .max_records(20)
        .send()
        .await
        .unwrap();
    assert_eq!(first.parameters().len(), 20);
    let maxmemory = &first.cache_node_type_specific_parameters()[0];
    assert_eq!(maxmemory.parameter_name(), Some("maxmemory"));
    assert!(!maxmemory.cache_node_type_specific_values().is_empty());
    let second = client
        .describe_cache_parameters()
        .cache_parameter_group_name("tuned")
        .max_records(20)
        .marker(first.marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(second.parameters().len(), 2);
    assert_eq!(second.marker(), None);

    // In use by a replication group: cannot be deleted until the group is gone.
    client
        .create_replication_group()
        .replication_group_id("uses-tuned")
        .replication_group_description("x")
        .cache_node_type("cache.t3.micro")
        .cache_parameter_group_name("tuned")
        .send()
        .await
        .unwrap();
    assert_fault!(
        client
            .delete_cache_parameter_group()
            .cache_parameter_group_name("tuned")
            .send()
            .await,
        DeleteCacheParameterGroupError::InvalidCacheParameterGroupStateFault
    );
    assert_fault!(
        client
            .delete_cache_parameter_group()
            .cache_parameter_group_name("default.redis7")
            .send()
            .await,
        DeleteCacheParameterGroupError::InvalidCacheParameterGroupStateFault
    );
    settle(&emulator);
    client
        .delete_replication_group()
        .replication_group_id("uses-tuned")
        .send()
        .await
        .unwrap();
    settle(&emulator);
    client
        .delete_cache_parameter_group()
        .cache_parameter_group_name("tuned")
        .send()
        .await
        .unwrap();
    assert_fault!(
        client
            .describe_cache_parameter_groups()
            .cache_parameter_group_name("tuned")
            .send()
            .await,
        DescribeCacheParameterGroupsError::CacheParameterGroupNotFoundFault
    );
    assert_fault!(
        client
            .describe_cache_parameters()
            .cache_parameter_group_name("tuned")
            .send()
            .await,
        DescribeCacheParametersError::CacheParameterGroupNotFoundFault
    );

    // Engine defaults.
    let defaults = client
        .describe_engine_default_parameters()
        .cache_parameter_group_family("memcached1.6")
        .send()
        .await
        .unwrap();
    let defaults = defaults.engine_defaults().unwrap();
    assert_eq!(
        defaults.cache_parameter_group_family(),
        Some("memcached1.6")
    );
    assert!(
        defaults
            .parameters()
            .iter()
            .any(|p| p.parameter_name() == Some("max_item_size"))
    );
    assert_eq!(
        defaults.cache_node_type_specific_parameters()[0].parameter_name(),
        Some("max_cache_memory")
    );
    assert_fault!(
        client
            .describe_engine_default_parameters()
            .cache_parameter_group_family("nope")
            .send()
            .await,
        DescribeEngineDefaultParametersError::InvalidParameterValueException
    );
    emulator.shutdown();
}

#[tokio::test]
async fn subnet_groups_and_engine_versions_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let created = client
        .create_cache_subnet_group()
        .cache_subnet_group_name("Private")
        .cache_subnet_group_description("private subnets")
        .subnet_ids("subnet-0aaa")
        .subnet_ids("subnet-0bbb")
        .send()
        .await
        .unwrap();
    let created = created.cache_subnet_group().unwrap();
    assert_eq!(created.cache_subnet_group_name(), Some("private"));
    assert_eq!(created.subnets().len(), 2);
    assert!(
        created.subnets()[0]
            .subnet_availability_zone()
            .and_then(|z| z.name())
            .unwrap()
            .starts_with("us-east-1")
    );
    assert!(created.vpc_id().unwrap().starts_with("vpc-"));
    assert_fault!(
        client
            .create_cache_subnet_group()
            .cache_subnet_group_name("private")
            .cache_subnet_group_description("again")
            .subnet_ids("subnet-0aaa")
            .send()
            .await,
        CreateCacheSubnetGroupError::CacheSubnetGroupAlreadyExistsFault
    );
    assert_fault!(
        client
            .create_cache_subnet_group()
            .cache_subnet_group_name("bad")
            .cache_subnet_group_description("bad")
            .subnet_ids("sg-123")
            .send()
            .await,
        CreateCacheSubnetGroupError::InvalidSubnet
    );
    let mut too_many = client
        .create_cache_subnet_group()
        .cache_subnet_group_name("many")
        .cache_subnet_group_description("many");
    for i in 0..21 {
        too_many = too_many.subnet_ids(format!("subnet-{i:04}"));
    }
    assert_fault!(
        too_many.send().await,
        CreateCacheSubnetGroupError::CacheSubnetQuotaExceededFault
    );
    let modified = client
        .modify_cache_subnet_group()
        .cache_subnet_group_name("private")
        .subnet_ids("subnet-0ccc")
        .send()
        .await
        .unwrap();
    let subnets: Vec<_> = modified
        .cache_subnet_group()
        .unwrap()
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier())
        .collect();
    assert_eq!(subnets, ["subnet-0ccc"]);
    assert_fault!(
        client
            .modify_cache_subnet_group()
            .cache_subnet_group_name("nope")
            .send()
            .await,
        ModifyCacheSubnetGroupError::CacheSubnetGroupNotFoundFault
    );
    let all = client.describe_cache_subnet_groups().send().await.unwrap();
    let names: Vec<_> = all
        .cache_subnet_groups()
        .iter()
        .filter_map(|g| g.cache_subnet_group_name())
        .collect();
    assert_eq!(names, ["default", "private"]);

    // In use by a cluster: CacheSubnetGroupInUse until it is gone.
    client
        .create_cache_cluster()
        .cache_cluster_id("in-private")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .cache_subnet_group_name("private")
        .send()
        .await
        .unwrap();
    assert_fault!(
        client
            .delete_cache_subnet_group()
            .cache_subnet_group_name("private")
            .send()
            .await,
        DeleteCacheSubnetGroupError::CacheSubnetGroupInUse
    );
    settle(&emulator);
    client
        .delete_cache_cluster()
        .cache_cluster_id("in-private")
        .send()
        .await
        .unwrap();
    settle(&emulator);
    client
        .delete_cache_subnet_group()
        .cache_subnet_group_name("private")
        .send()
        .await
        .unwrap();
    assert_fault!(
        client
            .describe_cache_subnet_groups()
            .cache_subnet_group_name("private")
            .send()
            .await,
        DescribeCacheSubnetGroupsError::CacheSubnetGroupNotFoundFault
    );
    assert_fault!(
        client
            .delete_cache_subnet_group()
            .cache_subnet_group_name("default")
            .send()
            .await,
        DeleteCacheSubnetGroupError::CacheSubnetGroupInUse
    );

    // Engine versions, filtered.
    let versions = client
        .describe_cache_engine_versions()
        .send()
        .await
        .unwrap();
    assert_eq!(versions.cache_engine_versions().len(), 9);
    let redis = client
        .describe_cache_engine_versions()
        .engine("redis")
        .default_only(true)
        .send()
        .await
        .unwrap();
    let redis = redis.cache_engine_versions();
    assert_eq!(redis.len(), 1);
    assert_eq!(redis[0].engine_version(), Some("7.1"));
    assert_eq!(redis[0].cache_parameter_group_family(), Some("redis7"));
    let family = client
        .describe_cache_engine_versions()
        .cache_parameter_group_family("redis6.x")
        .send()
        .await
        .unwrap();
    assert_eq!(family.cache_engine_versions().len(), 2);
    emulator.shutdown();
}

#[tokio::test]
async fn tags_on_node_based_arns_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    client
        .create_replication_group()
        .replication_group_id("tagged")
        .replication_group_description("x")
        .cache_node_type("cache.t3.micro")
        .tags(tag("env", Some("dev")))
        .send()
        .await
        .unwrap();
    let group_arn = "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:tagged";
    assert_eq!(
        listed_tags(&client, group_arn).await,
        expected(&[("env", Some("dev"))])
    );
    for arn in [
        "arn:aws:elasticache:us-east-1:123456789012:cluster:tagged-001",
        "arn:aws:elasticache:us-east-1:123456789012:parametergroup:default.redis7",
        "arn:aws:elasticache:us-east-1:123456789012:subnetgroup:default",
    ] {
        client
            .add_tags_to_resource()
            .resource_name(arn)
            .tags(tag("owner", Some("me")))
            .send()
            .await
            .unwrap();
        // The member cluster also has its group's tags.
        let mut tags = expected(&[("owner", Some("me"))]);
        if arn.contains(":cluster:") {
            tags.insert(0, ("env".to_owned(), Some("dev".to_owned())));
        }
        assert_eq!(listed_tags(&client, arn).await, tags, "{arn}");
    }
    settle(&emulator);
    client
        .create_snapshot()
        .replication_group_id("tagged")
        .snapshot_name("tagged-snap")
        .tags(tag("kept", None))
        .send()
        .await
        .unwrap();
    let snapshot_arn = "arn:aws:elasticache:us-east-1:123456789012:snapshot:tagged-snap";
    assert_eq!(
        listed_tags(&client, snapshot_arn).await,
        expected(&[("kept", None)])
    );
    let status = assert_fault!(
        client
            .list_tags_for_resource()
            .resource_name("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:nope")
            .send()
            .await,
        ListTagsError::ReplicationGroupNotFoundFault
    );
    assert_eq!(status, Some(404));
    assert_fault!(
        client
            .list_tags_for_resource()
            .resource_name("arn:aws:elasticache:us-east-1:123456789012:snapshot:nope")
            .send()
            .await,
        ListTagsError::SnapshotNotFoundFault
    );
    emulator.shutdown();
}

#[tokio::test]
async fn replication_group_tags_reach_every_member_through_the_sdk() {
    // "Tags on replication groups will be replicated to all nodes"; "when you add or remove tags
    // on replication groups, those actions will be replicated to all nodes in the replication
    // group".
    let emulator = emulator().await;
    let client = client(&emulator);
    let arn = |kind: &str, name: &str| format!("{ARN_PREFIX}:{kind}:{name}");
    client
        .create_replication_group()
        .replication_group_id("shared")
        .replication_group_description("x")
        .cache_node_type("cache.t3.micro")
        .num_cache_clusters(2)
        .tags(tag("env", Some("dev")))
        .send()
        .await
        .unwrap();
    let group_arn = arn("replicationgroup", "shared");
    for member in ["shared-001", "shared-002"] {
        assert_eq!(
            listed_tags(&client, &arn("cluster", member)).await,
            expected(&[("env", Some("dev"))]),
            "{member}"
        );
    }
    settle(&emulator);

    // A member's own tag stays its own; the group's reach every member.
    client
        .add_tags_to_resource()
        .resource_name(arn("cluster", "shared-002"))
        .tags(tag("own", Some("yes")))
        .send()
        .await
        .unwrap();
    let added = client
        .add_tags_to_resource()
        .resource_name(&group_arn)
        .tags(tag("team", Some("core")))
        .tags(tag("env", Some("prod")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        pairs(added.tag_list()),
        expected(&[("env", Some("prod")), ("team", Some("core"))])
    );
    assert_eq!(
        listed_tags(&client, &group_arn).await,
        expected(&[("env", Some("prod")), ("team", Some("core"))])
    );
    assert_eq!(
        listed_tags(&client, &arn("cluster", "shared-001")).await,
        expected(&[("env", Some("prod")), ("team", Some("core"))])
    );
    assert_eq!(
        listed_tags(&client, &arn("cluster", "shared-002")).await,
        expected(&[
            ("env", Some("prod")),
            ("own", Some("yes")),
            ("team", Some("core"))
        ])
    );
    client
        .remove_tags_from_resource()
        .resource_name(&group_arn)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed_tags(&client, &arn("cluster", "shared-001")).await,
        expected(&[("team", Some("core"))])
    );
    assert_eq!(
        listed_tags(&client, &arn("cluster", "shared-002")).await,
        expected(&[("own", Some("yes")), ("team", Some("core"))])
    );
    assert_eq!(
        listed_tags(&client, &group_arn).await,
        expected(&[("team", Some("core"))])
    );

    // Members added later get the group's tags: a replica, a cluster created into the group.
    client
        .increase_replica_count()
        .replication_group_id("shared")
        .new_replica_count(2)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed_tags(&client, &arn("cluster", "shared-003")).await,
        expected(&[("team", Some("core"))])
    );
    settle(&emulator);
    client
        .create_cache_cluster()
        .cache_cluster_id("shared-extra")
        .replication_group_id("shared")
        .tags(tag("mine", None))
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed_tags(&client, &arn("cluster", "shared-extra")).await,
        expected(&[("team", Some("core")), ("mine", None)])
    );
    settle(&emulator);

    // A standalone cluster made the primary of a tagged group takes its tags too.
    client
        .create_cache_cluster()
        .cache_cluster_id("alone")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .tags(tag("was", Some("alone")))
        .send()
        .await
        .unwrap();
    settle(&emulator);
    client
        .create_replication_group()
        .replication_group_id("around")
        .replication_group_description("x")
        .primary_cluster_id("alone")
        .num_cache_clusters(2)
        .tags(tag("group", Some("around")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed_tags(&client, &arn("cluster", "alone")).await,
        expected(&[("was", Some("alone")), ("group", Some("around"))])
    );
    assert_eq!(
        listed_tags(&client, &arn("cluster", "around-002")).await,
        expected(&[("group", Some("around"))])
    );

    // Cluster mode enabled: the new shard's members on scale-out.
    client
        .create_replication_group()
        .replication_group_id("sharded")
        .replication_group_description("x")
        .cache_node_type("cache.t3.micro")
        .cluster_mode(aws_sdk_elasticache::types::ClusterMode::Enabled)
        .num_node_groups(1)
        .replicas_per_node_group(1)
        .tags(tag("sharded", Some("yes")))
        .send()
        .await
        .unwrap();
    settle(&emulator);
    client
        .modify_replication_group_shard_configuration()
        .replication_group_id("sharded")
        .node_group_count(2)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    for member in [
        "sharded-0001-001",
        "sharded-0001-002",
        "sharded-0002-001",
        "sharded-0002-002",
    ] {
        assert_eq!(
            listed_tags(&client, &arn("cluster", member)).await,
            expected(&[("sharded", Some("yes"))]),
            "{member}"
        );
    }

    // Removing a key the group lacks changes nothing anywhere, even where a member has it.
    assert_fault!(
        client
            .remove_tags_from_resource()
            .resource_name(&group_arn)
            .tag_keys("own")
            .send()
            .await,
        RemoveTagsError::TagNotFoundFault
    );
    assert_eq!(
        listed_tags(&client, &arn("cluster", "shared-002")).await,
        expected(&[("own", Some("yes")), ("team", Some("core"))])
    );

    // A member without room for the group's new tag refuses it for the group as a whole.
    let mut filling = client
        .add_tags_to_resource()
        .resource_name(arn("cluster", "shared-002"));
    for n in 0..48 {
        filling = filling.tags(tag(&format!("fill-{n}"), None));
    }
    filling.send().await.unwrap();
    assert_fault!(
        client
            .add_tags_to_resource()
            .resource_name(&group_arn)
            .tags(tag("one-too-many", None))
            .send()
            .await,
        AddTagsError::TagQuotaPerResourceExceeded
    );
    assert_eq!(
        listed_tags(&client, &group_arn).await,
        expected(&[("team", Some("core"))])
    );
    assert_eq!(
        listed_tags(&client, &arn("cluster", "shared-001")).await,
        expected(&[("team", Some("core"))])
    );
    emulator.shutdown();
}

/// `(source type, source id, message)` of the events of the last day, newest first.
async fn recent_events(client: &Client) -> Vec<(String, String, String)> {
    let output = client
        .describe_events()
        .duration(24 * 60)
        .send()
        .await
        .unwrap();
    output
        .events()
        .iter()
        .map(|e| {
            (
                e.source_type().unwrap().as_str().to_owned(),
                e.source_identifier().unwrap().to_owned(),
                e.message().unwrap().to_owned(),
            )
        })
        .collect()
}

fn events_of(events: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|(kind, id, message)| ((*kind).to_owned(), (*id).to_owned(), (*message).to_owned()))
        .collect()
}

#[tokio::test]
async fn test_failover_records_the_events_its_documentation_lists_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    client
        .create_replication_group()
        .replication_group_id("failing")
        .replication_group_description("x")
        .cache_node_type("cache.t3.micro")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .send()
        .await
        .unwrap();
    settle(&emulator);
    let before = recent_events(&client).await.len();
    client
        .test_failover()
        .replication_group_id("failing")
        .node_group_id("0001")
        .send()
        .await
        .unwrap();
    // TestFailover's documentation, in order of occurrence: the replication group's call, the
    // cache cluster's and the group's failover, then the old primary's recovery (which finishes
    // as the failover settles).
    let during = recent_events(&client).await;
    assert_eq!(
        during[..during.len() - before],
        events_of(&[
            (
                "cache-cluster",
                "failing-001",
                "Recovering cache nodes 0001"
            ),
            (
                "replication-group",
                "failing",
                "Failover from primary node failing-001 to replica node failing-002 completed"
            ),
            (
                "cache-cluster",
                "failing-001",
                "Failover from primary node failing-001 to replica node failing-002 completed"
            ),
            (
                "replication-group",
                "failing",
                "Test Failover API called for node group 0001"
            ),
        ])
    );
    settle(&emulator);
    let after = recent_events(&client).await;
    assert_eq!(
        after[..after.len() - during.len()],
        events_of(&[
            (
                "replication-group",
                "failing",
                "Replication group failing modified"
            ),
            (
                "cache-cluster",
                "failing-001",
                "Finished recovery for cache nodes 0001"
            ),
        ])
    );

    // Back again: failing-002 is now the primary.
    client
        .test_failover()
        .replication_group_id("failing")
        .node_group_id("0001")
        .send()
        .await
        .unwrap();
    let again = recent_events(&client).await;
    assert_eq!(
        again[1],
        (
            "replication-group".to_owned(),
            "failing".to_owned(),
            "Failover from primary node failing-002 to replica node failing-001 completed"
                .to_owned()
        )
    );
    assert_eq!(
        again[0],
        (
            "cache-cluster".to_owned(),
            "failing-002".to_owned(),
            "Recovering cache nodes 0001".to_owned()
        )
    );
    emulator.shutdown();
}

#[tokio::test]
async fn a_replication_group_snapshot_succeeds_as_an_event_of_its_member_through_the_sdk() {
    use aws_sdk_elasticache::types::ClusterMode;

    let emulator = emulator().await;
    let client = client(&emulator);
    client
        .create_replication_group()
        .replication_group_id("snapped")
        .replication_group_description("x")
        .cache_node_type("cache.t3.micro")
        .num_cache_clusters(2)
        .send()
        .await
        .unwrap();
    client
        .create_replication_group()
        .replication_group_id("clustered")
        .replication_group_description("x")
        .cache_node_type("cache.t3.micro")
        .cluster_mode(ClusterMode::Enabled)
        .num_node_groups(2)
        .send()
        .await
        .unwrap();
    client
        .create_cache_cluster()
        .cache_cluster_id("lone")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .unwrap();
    settle(&emulator);
    let before = recent_events(&client).await.len();
    for (group, name) in [("snapped", "snapped-snap"), ("clustered", "clustered-snap")] {
        client
            .create_snapshot()
            .replication_group_id(group)
            .snapshot_name(name)
            .send()
            .await
            .unwrap();
    }
    client
        .create_snapshot()
        .cache_cluster_id("lone")
        .snapshot_name("lone-snap")
        .send()
        .await
        .unwrap();
    settle(&emulator);
    client
        .delete_replication_group()
        .replication_group_id("snapped")
        .final_snapshot_identifier("snapped-final")
        .send()
        .await
        .unwrap();
    settle(&emulator);
    // As botocore's DescribeEvents example has it: source type cache-cluster, the member the
    // snapshot was taken from (`clustered-redis-0001-001` there).
    let events = recent_events(&client).await;
    let succeeded: Vec<_> = events[..events.len() - before]
        .iter()
        .filter(|(_, _, message)| message.starts_with("Snapshot succeeded"))
        .cloned()
        .collect();
    assert_eq!(
        succeeded,
        events_of(&[
            (
                "cache-cluster",
                "snapped-001",
                "Snapshot succeeded for snapshot with ID 'snapped-final' of replication group with ID 'snapped'"
            ),
            (
                "cache-cluster",
                "snapped-001",
                "Snapshot succeeded for snapshot with ID 'snapped-snap' of replication group with ID 'snapped'"
            ),
            (
                "cache-cluster",
                "lone",
                "Snapshot succeeded for snapshot with ID 'lone-snap' of cache cluster with ID 'lone'"
            ),
            (
                "cache-cluster",
                "clustered-0001-001",
                "Snapshot succeeded for snapshot with ID 'clustered-snap' of replication group with ID 'clustered'"
            ),
        ])
    );
    emulator.shutdown();
}

#[tokio::test]
async fn events_record_what_happened_through_the_sdk() {
    use aws_sdk_elasticache::operation::describe_events::DescribeEventsError;
    use aws_sdk_elasticache::primitives::DateTime;
    use aws_sdk_elasticache::types::SourceType;

    let emulator = emulator().await;
    let client = client(&emulator);
    client
        .create_replication_group()
        .replication_group_id("evented")
        .replication_group_description("x")
        .cache_node_type("cache.t3.micro")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .send()
        .await
        .unwrap();
    settle(&emulator);
    client
        .test_failover()
        .replication_group_id("evented")
        .node_group_id("0001")
        .send()
        .await
        .unwrap();
    settle(&emulator);
    client
        .create_snapshot()
        .replication_group_id("evented")
        .snapshot_name("evented-snap")
        .send()
        .await
        .unwrap();
    settle(&emulator);
    client
        .create_cache_parameter_group()
        .cache_parameter_group_name("logged")
        .cache_parameter_group_family("valkey8")
        .description("x")
        .send()
        .await
        .unwrap();

    let group_events = client
        .describe_events()
        .source_type(SourceType::ReplicationGroup)
        .source_identifier("evented")
        .duration(24 * 60)
        .send()
        .await
        .unwrap();
    let messages: Vec<_> = group_events
        .events()
        .iter()
        .filter_map(|e| e.message())
        .collect();
    // Newest first.
    assert_eq!(
        messages,
        [
            "Replication group evented modified",
            "Failover from primary node evented-001 to replica node evented-002 completed",
            "Test Failover API called for node group 0001",
            "Replication group evented created",
        ]
    );
    let event = &group_events.events()[0];
    assert_eq!(event.source_type(), Some(&SourceType::ReplicationGroup));
    assert!(event.date().is_some());
    let all = client
        .describe_events()
        .duration(24 * 60)
        .send()
        .await
        .unwrap();
    let clusters_created = all
        .events()
        .iter()
        .filter(|e| {
            e.source_type() == Some(&SourceType::CacheCluster)
                && e.message() == Some("Cache cluster created")
        })
        .count();
    assert_eq!(clusters_created, 2);
    assert!(
        all.events()
            .iter()
            .any(|e| e.message() == Some("Cache parameter group logged created"))
    );

    // Serverless caches and their snapshots have events too.
    available_cache(&emulator, &client, "serverless-events").await;
    let serverless = client
        .describe_events()
        .source_type(SourceType::ServerlessCache)
        .duration(24 * 60)
        .send()
        .await
        .unwrap();
    let messages: Vec<_> = serverless
        .events()
        .iter()
        .map(|e| (e.source_identifier().unwrap(), e.message().unwrap()))
        .collect();
    assert_eq!(
        messages,
        [("serverless-events", "Serverless cache created")]
    );

    // Windows: nothing in the future; paging by 20.
    let future = client
        .describe_events()
        .start_time(DateTime::from_secs(4_000_000_000))
        .send()
        .await
        .unwrap();
    assert!(future.events().is_empty());
    let first = client
        .describe_events()
        .duration(20_160)
        .max_records(20)
        .send()
        .await
        .unwrap();
    assert!(first.marker().is_none());
    // Everything so far, and the serverless cache's event since `all` was read.
    assert_eq!(first.events().len(), all.events().len() + 1);
    assert_fault!(
        client
            .describe_events()
            .duration(60)
            .start_time(DateTime::from_secs(0))
            .send()
            .await,
        DescribeEventsError::InvalidParameterCombinationException
    );
    assert_fault!(
        client.describe_events().duration(20_161).send().await,
        DescribeEventsError::InvalidParameterValueException
    );
    emulator.shutdown();
}

#[tokio::test]
async fn modify_user_through_the_sdk() {
    use aws_sdk_elasticache::operation::modify_user::ModifyUserError;

    let emulator = emulator().await;
    let client = client(&emulator);
    create_user(&client, "reader", "reader").await;
    create_user(&client, "writer", "writer-name").await;
    let modified = client
        .modify_user()
        .user_id("Reader")
        .access_string("on ~app:* +get")
        .passwords("a-password-of-16+")
        .passwords("another-password-16")
        .send()
        .await
        .unwrap();
    assert_eq!(modified.user_id(), Some("reader"));
    assert_eq!(modified.status(), Some("active"));
    assert_eq!(modified.access_string(), Some("on ~app:* +get"));
    assert_eq!(
        modified.authentication().and_then(|a| a.password_count()),
        Some(2)
    );
    let appended = client
        .modify_user()
        .user_id("reader")
        .append_access_string("+mget")
        .no_password_required(true)
        .engine("valkey")
        .send()
        .await
        .unwrap();
    assert_eq!(appended.access_string(), Some("on ~app:* +get +mget"));
    assert_eq!(appended.engine(), Some("valkey"));
    assert_eq!(
        appended.authentication().and_then(|a| a.r#type()),
        Some(&AuthenticationType::NoPassword)
    );
    assert_fault!(
        client
            .modify_user()
            .user_id("nobody")
            .access_string("on")
            .send()
            .await,
        ModifyUserError::UserNotFoundFault
    );
    for bad in [
        client.modify_user().user_id("reader"),
        client
            .modify_user()
            .user_id("reader")
            .access_string("on")
            .append_access_string("+get"),
        // IAM users are named as their id; this one is not.
        client.modify_user().user_id("writer").authentication_mode(
            AuthenticationMode::builder()
                .r#type(InputAuthenticationType::Iam)
                .build(),
        ),
    ] {
        assert_fault!(
            bad.send().await,
            ModifyUserError::InvalidParameterCombinationException
        );
    }
    assert_fault!(
        client
            .modify_user()
            .user_id("reader")
            .passwords("short")
            .send()
            .await,
        ModifyUserError::InvalidParameterValueException
    );
    emulator.shutdown();
}

#[tokio::test]
async fn reserved_nodes_through_the_sdk() {
    use aws_sdk_elasticache::operation::describe_reserved_cache_nodes::DescribeReservedCacheNodesError;
    use aws_sdk_elasticache::operation::describe_reserved_cache_nodes_offerings::DescribeReservedCacheNodesOfferingsError;
    use aws_sdk_elasticache::operation::purchase_reserved_cache_nodes_offering::PurchaseReservedCacheNodesOfferingError as PurchaseError;

    let emulator = emulator().await;
    let client = client(&emulator);
    let offerings = client
        .describe_reserved_cache_nodes_offerings()
        .cache_node_type("cache.r7g.large")
        .product_description("valkey")
        .duration("1")
        .offering_type("No Upfront")
        .send()
        .await
        .unwrap();
    let offerings = offerings.reserved_cache_nodes_offerings();
    assert_eq!(offerings.len(), 1);
    let offering = &offerings[0];
    assert_eq!(offering.duration(), Some(31_536_000));
    assert_eq!(offering.fixed_price(), Some(0.0));
    let charge = &offering.recurring_charges()[0];
    assert_eq!(charge.recurring_charge_frequency(), Some("Hourly"));
    assert!(charge.recurring_charge_amount().unwrap() > 0.0);
    let id = offering
        .reserved_cache_nodes_offering_id()
        .unwrap()
        .to_owned();

    // Paged by markers over the whole catalog.
    let mut count = 0;
    let mut marker = None;
    loop {
        let page = client
            .describe_reserved_cache_nodes_offerings()
            .max_records(100)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        count += page.reserved_cache_nodes_offerings().len();
        marker = page.marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(count, 144);

    let none = client.describe_reserved_cache_nodes().send().await.unwrap();
    assert!(none.reserved_cache_nodes().is_empty());
    let bought = client
        .purchase_reserved_cache_nodes_offering()
        .reserved_cache_nodes_offering_id(&id)
        .reserved_cache_node_id("my-reservation")
        .cache_node_count(3)
        .send()
        .await
        .unwrap();
    let bought = bought.reserved_cache_node().unwrap();
    assert_eq!(bought.state(), Some("active"));
    assert_eq!(bought.cache_node_count(), Some(3));
    assert_eq!(bought.product_description(), Some("valkey"));
    assert_eq!(
        bought.reservation_arn(),
        Some("arn:aws:elasticache:us-east-1:123456789012:reserved-instance:my-reservation")
    );
    let listed = client
        .describe_reserved_cache_nodes()
        .reserved_cache_node_id("my-reservation")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.reserved_cache_nodes().len(), 1);
    assert_fault!(
        client
            .purchase_reserved_cache_nodes_offering()
            .reserved_cache_nodes_offering_id(&id)
            .reserved_cache_node_id("my-reservation")
            .send()
            .await,
        PurchaseError::ReservedCacheNodeAlreadyExistsFault
    );
    assert_fault!(
        client
            .purchase_reserved_cache_nodes_offering()
            .reserved_cache_nodes_offering_id(&id)
            .cache_node_count(298)
            .send()
            .await,
        PurchaseError::ReservedCacheNodeQuotaExceededFault
    );
    assert_fault!(
        client
            .purchase_reserved_cache_nodes_offering()
            .reserved_cache_nodes_offering_id("nope")
            .send()
            .await,
        PurchaseError::ReservedCacheNodesOfferingNotFoundFault
    );
    assert_fault!(
        client
            .describe_reserved_cache_nodes_offerings()
            .reserved_cache_nodes_offering_id("nope")
            .send()
            .await,
        DescribeReservedCacheNodesOfferingsError::ReservedCacheNodesOfferingNotFoundFault
    );
    assert_fault!(
        client
            .describe_reserved_cache_nodes()
            .reserved_cache_node_id("nope")
            .send()
            .await,
        DescribeReservedCacheNodesError::ReservedCacheNodeNotFoundFault
    );
    assert_fault!(
        client
            .describe_reserved_cache_nodes_offerings()
            .duration("2")
            .send()
            .await,
        DescribeReservedCacheNodesOfferingsError::InvalidParameterValueException
    );
    emulator.shutdown();
}

#[tokio::test]
async fn reservations_are_tagged_by_their_reservation_arn_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let offerings = client
        .describe_reserved_cache_nodes_offerings()
        .cache_node_type("cache.r6g.large")
        .product_description("redis")
        .duration("1")
        .offering_type("All Upfront")
        .send()
        .await
        .unwrap();
    let bought = client
        .purchase_reserved_cache_nodes_offering()
        .reserved_cache_nodes_offering_id(
            offerings.reserved_cache_nodes_offerings()[0]
                .reserved_cache_nodes_offering_id()
                .unwrap(),
        )
        .reserved_cache_node_id("tagged-reservation")
        .tags(tag("family", Some("reserved")))
        .send()
        .await
        .unwrap();
    let arn = bought
        .reserved_cache_node()
        .and_then(|node| node.reservation_arn())
        .unwrap()
        .to_owned();
    assert_eq!(
        arn,
        format!("{ARN_PREFIX}:reserved-instance:tagged-reservation")
    );
    // PurchaseReservedCacheNodesOffering's tags are kept, and the ARN takes more.
    assert_eq!(
        listed_tags(&client, &arn).await,
        expected(&[("family", Some("reserved"))])
    );
    let added = client
        .add_tags_to_resource()
        .resource_name(&arn)
        .tags(tag("owner", Some("finance")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        pairs(added.tag_list()),
        expected(&[("family", Some("reserved")), ("owner", Some("finance"))])
    );
    let removed = client
        .remove_tags_from_resource()
        .resource_name(&arn)
        .tag_keys("family")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pairs(removed.tag_list()),
        expected(&[("owner", Some("finance"))])
    );
    assert_eq!(
        listed_tags(&client, &arn).await,
        expected(&[("owner", Some("finance"))])
    );

    // An unknown reservation: ReservedCacheNodeNotFound, as the model lists for each.
    let unknown = format!("{ARN_PREFIX}:reserved-instance:never-bought");
    let status = assert_fault!(
        client
            .list_tags_for_resource()
            .resource_name(&unknown)
            .send()
            .await,
        ListTagsError::ReservedCacheNodeNotFoundFault
    );
    assert_eq!(status, Some(404));
    assert_fault!(
        client
            .add_tags_to_resource()
            .resource_name(&unknown)
            .tags(tag("k", None))
            .send()
            .await,
        AddTagsError::ReservedCacheNodeNotFoundFault
    );
    assert_fault!(
        client
            .remove_tags_from_resource()
            .resource_name(&unknown)
            .tag_keys("k")
            .send()
            .await,
        RemoveTagsError::ReservedCacheNodeNotFoundFault
    );
    emulator.shutdown();
}

#[tokio::test]
async fn what_no_offline_emulator_can_mean_answers_realistic_faults_through_the_sdk() {
    use aws_sdk_elasticache::operation::authorize_cache_security_group_ingress::AuthorizeCacheSecurityGroupIngressError as AuthorizeError;
    use aws_sdk_elasticache::operation::complete_migration::CompleteMigrationError;
    use aws_sdk_elasticache::operation::create_cache_security_group::CreateCacheSecurityGroupError;
    use aws_sdk_elasticache::operation::delete_cache_security_group::DeleteCacheSecurityGroupError;
    use aws_sdk_elasticache::operation::describe_cache_security_groups::DescribeCacheSecurityGroupsError;
    use aws_sdk_elasticache::operation::prepare_migration::PrepareMigrationError;
    use aws_sdk_elasticache::operation::revoke_cache_security_group_ingress::RevokeCacheSecurityGroupIngressError as RevokeError;
    use aws_sdk_elasticache::operation::start_migration::StartMigrationError;
    use aws_sdk_elasticache::operation::stop_migration::StopMigrationError;
    use aws_sdk_elasticache::operation::test_migration::TestMigrationError;
    use aws_sdk_elasticache::types::CustomerNodeEndpoint;

    let emulator = emulator().await;
    let client = client(&emulator);

    // Cache security groups: a VPC-only account has none and cannot create one.
    let none = client
        .describe_cache_security_groups()
        .send()
        .await
        .unwrap();
    assert!(none.cache_security_groups().is_empty());
    let err = client
        .create_cache_security_group()
        .cache_security_group_name("classic")
        .description("x")
        .send()
        .await;
    assert_fault!(
        err,
        CreateCacheSecurityGroupError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .describe_cache_security_groups()
            .cache_security_group_name("classic")
            .send()
            .await,
        DescribeCacheSecurityGroupsError::CacheSecurityGroupNotFoundFault
    );
    assert_fault!(
        client
            .delete_cache_security_group()
            .cache_security_group_name("classic")
            .send()
            .await,
        DeleteCacheSecurityGroupError::CacheSecurityGroupNotFoundFault
    );
    assert_fault!(
        client
            .authorize_cache_security_group_ingress()
            .cache_security_group_name("classic")
            .ec2_security_group_name("web")
            .ec2_security_group_owner_id("123456789012")
            .send()
            .await,
        AuthorizeError::CacheSecurityGroupNotFoundFault
    );
    assert_fault!(
        client
            .revoke_cache_security_group_ingress()
            .cache_security_group_name("classic")
            .ec2_security_group_name("web")
            .ec2_security_group_owner_id("123456789012")
            .send()
            .await,
        RevokeError::CacheSecurityGroupNotFoundFault
    );

    // Migrations: the target is checked, then the customer's nodes cannot be reached.
    let endpoint = || {
        CustomerNodeEndpoint::builder()
            .address("10.0.0.5")
            .port(6379)
            .build()
    };
    assert_fault!(
        client
            .start_migration()
            .replication_group_id("nope")
            .customer_node_endpoint_list(endpoint())
            .send()
            .await,
        StartMigrationError::ReplicationGroupNotFoundFault
    );
    client
        .create_replication_group()
        .replication_group_id("target")
        .replication_group_description("x")
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .unwrap();
    assert_fault!(
        client
            .test_migration()
            .replication_group_id("target")
            .customer_node_endpoint_list(endpoint())
            .send()
            .await,
        TestMigrationError::InvalidReplicationGroupStateFault
    );
    settle(&emulator);
    let err = client
        .start_migration()
        .replication_group_id("target")
        .customer_node_endpoint_list(endpoint())
        .send()
        .await;
    let status = assert_fault!(err, StartMigrationError::InvalidParameterValueException);
    assert_eq!(status, Some(400));
    assert_fault!(
        client
            .complete_migration()
            .replication_group_id("target")
            .send()
            .await,
        CompleteMigrationError::ReplicationGroupNotUnderMigrationFault
    );
    assert_fault!(
        client
            .prepare_migration()
            .serverless_cache_name("nope")
            .customer_node_endpoint_list(endpoint())
            .send()
            .await,
        PrepareMigrationError::ServerlessCacheNotFoundFault
    );
    available_cache(&emulator, &client, "serverless-target").await;
    assert_fault!(
        client
            .prepare_migration()
            .serverless_cache_name("serverless-target")
            .customer_node_endpoint_list(endpoint())
            .send()
            .await,
        PrepareMigrationError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .stop_migration()
            .serverless_cache_name("serverless-target")
            .send()
            .await,
        StopMigrationError::ServerlessCacheNotUnderMigrationFault
    );
    assert_fault!(
        client
            .start_migration()
            .replication_group_id("target")
            .serverless_cache_name("serverless-target")
            .customer_node_endpoint_list(endpoint())
            .send()
            .await,
        StartMigrationError::InvalidParameterCombinationException
    );
    emulator.shutdown();
}
