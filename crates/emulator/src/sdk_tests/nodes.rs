//! Replication groups, cache clusters and classic snapshots, driven with the real SDK.

use aws_sdk_elasticache::operation::create_cache_cluster::CreateCacheClusterError;
use aws_sdk_elasticache::operation::create_replication_group::CreateReplicationGroupError;
use aws_sdk_elasticache::operation::create_snapshot::CreateSnapshotError;
use aws_sdk_elasticache::operation::decrease_replica_count::DecreaseReplicaCountError;
use aws_sdk_elasticache::operation::delete_cache_cluster::DeleteCacheClusterError;
use aws_sdk_elasticache::operation::delete_replication_group::DeleteReplicationGroupError;
use aws_sdk_elasticache::operation::delete_snapshot::DeleteSnapshotError;
use aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersError;
use aws_sdk_elasticache::operation::describe_replication_groups::DescribeReplicationGroupsError;
use aws_sdk_elasticache::operation::describe_snapshots::DescribeSnapshotsError;
use aws_sdk_elasticache::operation::increase_replica_count::IncreaseReplicaCountError;
use aws_sdk_elasticache::operation::modify_cache_cluster::ModifyCacheClusterError;
use aws_sdk_elasticache::operation::modify_replication_group::ModifyReplicationGroupError;
use aws_sdk_elasticache::operation::modify_replication_group_shard_configuration::ModifyReplicationGroupShardConfigurationError as ReshardError;
use aws_sdk_elasticache::operation::reboot_cache_cluster::RebootCacheClusterError;
use aws_sdk_elasticache::operation::test_failover::TestFailoverError;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, ClusterMode, ConfigureShard, NodeGroupConfiguration,
    ReplicationGroup, Snapshot,
};

use super::*;

async fn group(client: &Client, id: &str) -> ReplicationGroup {
    let output = client
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(output.replication_groups().len(), 1);
    output.replication_groups()[0].clone()
}

async fn cluster(client: &Client, id: &str) -> CacheCluster {
    let output = client
        .describe_cache_clusters()
        .cache_cluster_id(id)
        .show_cache_node_info(true)
        .send()
        .await
        .unwrap();
    output.cache_clusters()[0].clone()
}

async fn snapshot(client: &Client, name: &str) -> Snapshot {
    let output = client
        .describe_snapshots()
        .snapshot_name(name)
        .show_node_group_config(true)
        .send()
        .await
        .unwrap();
    output.snapshots()[0].clone()
}

fn primary_of(group: &ReplicationGroup) -> String {
    group.node_groups()[0]
        .node_group_members()
        .iter()
        .find(|m| m.current_role() == Some("primary"))
        .and_then(|m| m.cache_cluster_id())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn replication_group_lifecycle_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);

    // Create: two clusters, automatic failover, held in `creating`.
    emulator.hold("orders");
    let created = client
        .create_replication_group()
        .replication_group_id("Orders")
        .replication_group_description("order cache")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .tags(tag("team", Some("core")))
        .send()
        .await
        .unwrap();
    let created = created.replication_group().unwrap();
    assert_eq!(created.replication_group_id(), Some("orders"));
    assert_eq!(created.status(), Some("creating"));
    assert_eq!(created.member_clusters(), ["orders-001", "orders-002"]);
    assert_eq!(created.cluster_enabled(), Some(false));
    assert_eq!(
        created.automatic_failover(),
        Some(&AutomaticFailoverStatus::Enabled)
    );
    assert_eq!(created.cluster_mode(), Some(&ClusterMode::Disabled));
    let node_group = &created.node_groups()[0];
    assert_eq!(node_group.node_group_id(), Some("0001"));
    assert!(
        node_group
            .primary_endpoint()
            .and_then(|e| e.address())
            .unwrap()
            .starts_with("orders.")
    );
    assert_eq!(node_group.primary_endpoint().unwrap().port(), Some(6379));
    assert_eq!(primary_of(created), "orders-001");
    assert_eq!(
        created.arn(),
        Some("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:orders")
    );
    let member = cluster(&client, "orders-002").await;
    assert_eq!(member.cache_cluster_status(), Some("creating"));
    assert_eq!(member.replication_group_id(), Some("orders"));
    assert_eq!(member.cache_nodes().len(), 1);
    settle(&emulator);
    assert_eq!(group(&client, "orders").await.status(), Some("creating"));
    assert_eq!(
        cluster(&client, "orders-001").await.cache_cluster_status(),
        Some("creating")
    );
    emulator.release("orders");
    assert_eq!(group(&client, "orders").await.status(), Some("available"));
    assert_eq!(
        cluster(&client, "orders-001").await.cache_cluster_status(),
        Some("available")
    );

    // Names are unique per kind.
    assert_fault!(
        client
            .create_replication_group()
            .replication_group_id("orders")
            .replication_group_description("again")
            .cache_node_type("cache.t3.micro")
            .send()
            .await,
        CreateReplicationGroupError::ReplicationGroupAlreadyExistsFault
    );
    assert_fault!(
        client
            .create_cache_cluster()
            .cache_cluster_id("orders-001")
            .engine("redis")
            .cache_node_type("cache.t3.micro")
            .send()
            .await,
        CreateCacheClusterError::CacheClusterAlreadyExistsFault
    );

    // A member cluster cannot be deleted alone.
    assert_fault!(
        client
            .delete_cache_cluster()
            .cache_cluster_id("orders-002")
            .send()
            .await,
        DeleteCacheClusterError::InvalidCacheClusterStateFault
    );

    // Modify: modifying, then available with the new settings.
    let modified = client
        .modify_replication_group()
        .replication_group_id("orders")
        .replication_group_description("orders, v2")
        .snapshot_retention_limit(3)
        .cache_node_type("cache.m5.large")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let modified = modified.replication_group().unwrap();
    assert_eq!(modified.status(), Some("modifying"));
    assert_eq!(modified.description(), Some("orders, v2"));
    assert_eq!(
        cluster(&client, "orders-001").await.cache_cluster_status(),
        Some("modifying")
    );
    assert_fault!(
        client
            .modify_replication_group()
            .replication_group_id("orders")
            .snapshot_retention_limit(1)
            .send()
            .await,
        ModifyReplicationGroupError::InvalidReplicationGroupStateFault
    );
    settle(&emulator);
    let settled = group(&client, "orders").await;
    assert_eq!(settled.status(), Some("available"));
    assert_eq!(settled.snapshot_retention_limit(), Some(3));
    assert_eq!(settled.cache_node_type(), Some("cache.m5.large"));
    assert_eq!(
        cluster(&client, "orders-002").await.cache_node_type(),
        Some("cache.m5.large")
    );

    // Replicas: one more, then that one removed by name.
    let increased = client
        .increase_replica_count()
        .replication_group_id("orders")
        .new_replica_count(2)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let increased = increased.replication_group().unwrap();
    assert_eq!(increased.status(), Some("modifying"));
    assert_eq!(
        increased.member_clusters(),
        ["orders-001", "orders-002", "orders-003"]
    );
    assert_eq!(
        cluster(&client, "orders-003").await.cache_cluster_status(),
        Some("creating")
    );
    settle(&emulator);
    assert_fault!(
        client
            .increase_replica_count()
            .replication_group_id("orders")
            .new_replica_count(2)
            .apply_immediately(true)
            .send()
            .await,
        IncreaseReplicaCountError::InvalidParameterValueException
    );
    let decreased = client
        .decrease_replica_count()
        .replication_group_id("orders")
        .replicas_to_remove("orders-003")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        decreased.replication_group().unwrap().member_clusters(),
        ["orders-001", "orders-002"]
    );
    assert_eq!(
        cluster(&client, "orders-003").await.cache_cluster_status(),
        Some("deleting")
    );
    settle(&emulator);
    assert_fault!(
        client
            .describe_cache_clusters()
            .cache_cluster_id("orders-003")
            .send()
            .await,
        DescribeCacheClustersError::CacheClusterNotFoundFault
    );
    // With automatic failover, the last replica stays.
    assert_fault!(
        client
            .decrease_replica_count()
            .replication_group_id("orders")
            .new_replica_count(0)
            .apply_immediately(true)
            .send()
            .await,
        DecreaseReplicaCountError::InvalidParameterValueException
    );

    // Failover: the replica becomes the primary.
    let failed_over = client
        .test_failover()
        .replication_group_id("orders")
        .node_group_id("0001")
        .send()
        .await
        .unwrap();
    assert_eq!(
        primary_of(failed_over.replication_group().unwrap()),
        "orders-002"
    );
    assert_fault!(
        client
            .test_failover()
            .replication_group_id("orders")
            .node_group_id("0001")
            .send()
            .await,
        TestFailoverError::InvalidReplicationGroupStateFault
    );
    settle(&emulator);
    assert_fault!(
        client
            .test_failover()
            .replication_group_id("orders")
            .node_group_id("0009")
            .send()
            .await,
        TestFailoverError::NodeGroupNotFoundFault
    );

    // Snapshot: the group is snapshotting while the snapshot is creating.
    let taken = client
        .create_snapshot()
        .replication_group_id("orders")
        .snapshot_name("orders-manual")
        .send()
        .await
        .unwrap();
    let taken = taken.snapshot().unwrap();
    assert_eq!(taken.snapshot_status(), Some("creating"));
    assert_eq!(taken.replication_group_id(), Some("orders"));
    assert_eq!(taken.num_node_groups(), Some(1));
    assert_eq!(
        group(&client, "orders").await.status(),
        Some("snapshotting")
    );
    assert_fault!(
        client
            .create_snapshot()
            .replication_group_id("orders")
            .snapshot_name("another")
            .send()
            .await,
        CreateSnapshotError::InvalidReplicationGroupStateFault
    );
    settle(&emulator);
    assert_eq!(group(&client, "orders").await.status(), Some("available"));
    let taken = snapshot(&client, "orders-manual").await;
    assert_eq!(taken.snapshot_status(), Some("available"));
    assert_eq!(taken.cache_node_type(), Some("cache.m5.large"));
    let shard = &taken.node_snapshots()[0];
    assert_eq!(shard.node_group_id(), Some("0001"));
    assert_eq!(
        shard
            .node_group_configuration()
            .and_then(|c| c.replica_count()),
        Some(1)
    );
    assert_fault!(
        client
            .create_snapshot()
            .replication_group_id("orders")
            .snapshot_name("orders-manual")
            .send()
            .await,
        CreateSnapshotError::SnapshotAlreadyExistsFault
    );

    // Delete with a final snapshot: deleting, then gone; both snapshots remain.
    let deleted = client
        .delete_replication_group()
        .replication_group_id("orders")
        .final_snapshot_identifier("orders-final")
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.replication_group().unwrap().status(),
        Some("deleting")
    );
    assert_eq!(
        cluster(&client, "orders-001").await.cache_cluster_status(),
        Some("deleting")
    );
    assert_fault!(
        client
            .delete_replication_group()
            .replication_group_id("orders")
            .send()
            .await,
        DeleteReplicationGroupError::InvalidReplicationGroupStateFault
    );
    settle(&emulator);
    assert_fault!(
        client
            .describe_replication_groups()
            .replication_group_id("orders")
            .send()
            .await,
        DescribeReplicationGroupsError::ReplicationGroupNotFoundFault
    );
    let left = client.describe_cache_clusters().send().await.unwrap();
    assert!(left.cache_clusters().is_empty());
    let snapshots = client
        .describe_snapshots()
        .replication_group_id("orders")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = snapshots
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_name())
        .collect();
    assert_eq!(names, ["orders-final", "orders-manual"]);

    // Restore into a new group: it takes the snapshot's node type and engine.
    let restored = client
        .create_replication_group()
        .replication_group_id("restored")
        .replication_group_description("from a snapshot")
        .snapshot_name("orders-final")
        .send()
        .await
        .unwrap();
    let restored = restored.replication_group().unwrap();
    assert_eq!(restored.cache_node_type(), Some("cache.m5.large"));
    assert_eq!(restored.engine(), Some("redis"));
    assert_eq!(restored.member_clusters(), ["restored-001"]);

    // Copy and delete snapshots.
    let copy = client
        .copy_snapshot()
        .source_snapshot_name("orders-final")
        .target_snapshot_name("orders-copy")
        .send()
        .await
        .unwrap();
    assert_eq!(copy.snapshot().unwrap().snapshot_status(), Some("creating"));
    assert_eq!(
        copy.snapshot().unwrap().replication_group_id(),
        Some("orders")
    );
    assert_fault!(
        client
            .delete_snapshot()
            .snapshot_name("orders-copy")
            .send()
            .await,
        DeleteSnapshotError::InvalidSnapshotStateFault
    );
    settle(&emulator);
    let gone = client
        .delete_snapshot()
        .snapshot_name("orders-copy")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.snapshot().unwrap().snapshot_status(), Some("deleting"));
    settle(&emulator);
    assert_fault!(
        client
            .describe_snapshots()
            .snapshot_name("orders-copy")
            .send()
            .await,
        DescribeSnapshotsError::SnapshotNotFoundFault
    );
    emulator.shutdown();
}

#[tokio::test]
async fn cluster_mode_enabled_groups_reshard_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let created = client
        .create_replication_group()
        .replication_group_id("shards")
        .replication_group_description("sharded")
        .engine("valkey")
        .cache_node_type("cache.r7g.large")
        .num_node_groups(3)
        .replicas_per_node_group(1)
        .send()
        .await
        .unwrap();
    let created = created.replication_group().unwrap();
    assert_eq!(created.cluster_enabled(), Some(true));
    assert_eq!(created.engine(), Some("valkey"));
    assert_eq!(created.member_clusters().len(), 6);
    assert!(created.configuration_endpoint().is_some());
    let slots: Vec<_> = created
        .node_groups()
        .iter()
        .filter_map(|g| g.slots())
        .collect();
    assert_eq!(slots, ["0-5460", "5461-10921", "10922-16383"]);
    assert_eq!(
        created.node_groups()[1].node_group_members()[1].cache_cluster_id(),
        Some("shards-0002-002")
    );
    assert_eq!(
        cluster(&client, "shards-0001-001")
            .await
            .cache_parameter_group()
            .and_then(|g| g.cache_parameter_group_name()),
        Some("default.valkey8.cluster.on")
    );
    settle(&emulator);

    // A shard member cannot be snapshotted alone; the group can.
    assert_fault!(
        client
            .create_snapshot()
            .cache_cluster_id("shards-0001-001")
            .snapshot_name("one-shard")
            .send()
            .await,
        CreateSnapshotError::InvalidParameterValueException
    );

    // Scale out to four shards: resharding, then the slots are spread over four.
    emulator.hold("shards");
    let out = client
        .modify_replication_group_shard_configuration()
        .replication_group_id("shards")
        .node_group_count(4)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let out = out.replication_group().unwrap();
    assert_eq!(out.status(), Some("modifying"));
    assert!(
        out.pending_modified_values()
            .and_then(|p| p.resharding())
            .and_then(|r| r.slot_migration())
            .is_some()
    );
    assert_eq!(out.node_groups().len(), 4);
    settle(&emulator);
    assert_eq!(group(&client, "shards").await.status(), Some("modifying"));
    emulator.release_all();
    let out = group(&client, "shards").await;
    assert_eq!(out.status(), Some("available"));
    assert!(
        out.pending_modified_values()
            .and_then(|p| p.resharding())
            .is_none()
    );
    assert_eq!(out.node_groups()[3].slots(), Some("12288-16383"));
    assert_eq!(out.member_clusters().len(), 8);

    // Scale in to two, keeping 0001 and 0004.
    assert_fault!(
        client
            .modify_replication_group_shard_configuration()
            .replication_group_id("shards")
            .node_group_count(2)
            .apply_immediately(true)
            .send()
            .await,
        ReshardError::InvalidParameterCombinationException
    );
    let reshard_in = client
        .modify_replication_group_shard_configuration()
        .replication_group_id("shards")
        .node_group_count(2)
        .node_groups_to_retain("0001")
        .node_groups_to_retain("0004")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = reshard_in
        .replication_group()
        .unwrap()
        .node_groups()
        .iter()
        .filter_map(|g| g.node_group_id())
        .collect();
    assert_eq!(ids, ["0001", "0004"]);
    assert_eq!(
        cluster(&client, "shards-0002-001")
            .await
            .cache_cluster_status(),
        Some("deleting")
    );
    settle(&emulator);

    // Per-shard replica counts.
    let more = client
        .increase_replica_count()
        .replication_group_id("shards")
        .replica_configuration(
            ConfigureShard::builder()
                .node_group_id("0004")
                .new_replica_count(3)
                .build(),
        )
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let counts: Vec<_> = more
        .replication_group()
        .unwrap()
        .node_groups()
        .iter()
        .map(|g| g.node_group_members().len())
        .collect();
    assert_eq!(counts, [2, 4]);
    settle(&emulator);
    let fewer = client
        .decrease_replica_count()
        .replication_group_id("shards")
        .new_replica_count(0)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        fewer.replication_group().unwrap().member_clusters().len(),
        2
    );
    settle(&emulator);
    let cluster_snapshot = client
        .create_snapshot()
        .replication_group_id("shards")
        .snapshot_name("sharded-snap")
        .send()
        .await
        .unwrap();
    assert_eq!(
        cluster_snapshot.snapshot().unwrap().node_snapshots().len(),
        2
    );
    settle(&emulator);

    // Explicit node group configuration; cluster mode disabled refuses resharding.
    let configured = client
        .create_replication_group()
        .replication_group_id("configured")
        .replication_group_description("explicit shards")
        .cache_node_type("cache.t3.small")
        .node_group_configuration(
            NodeGroupConfiguration::builder()
                .node_group_id("0001")
                .slots("0-999")
                .replica_count(0)
                .build(),
        )
        .node_group_configuration(
            NodeGroupConfiguration::builder()
                .node_group_id("0002")
                .slots("1000-16383")
                .replica_count(2)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let configured = configured.replication_group().unwrap();
    let slots: Vec<_> = configured
        .node_groups()
        .iter()
        .filter_map(|g| g.slots())
        .collect();
    assert_eq!(slots, ["0-999", "1000-16383"]);
    assert_eq!(configured.member_clusters().len(), 4);
    let restored = client
        .create_replication_group()
        .replication_group_id("resharded")
        .replication_group_description("restored shards")
        .snapshot_name("sharded-snap")
        .send()
        .await
        .unwrap();
    let restored = restored.replication_group().unwrap();
    assert_eq!(restored.cluster_enabled(), Some(true));
    assert_eq!(restored.node_groups().len(), 2);
    client
        .create_replication_group()
        .replication_group_id("single")
        .replication_group_description("cluster mode disabled")
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .unwrap();
    settle(&emulator);
    assert_fault!(
        client
            .modify_replication_group_shard_configuration()
            .replication_group_id("single")
            .node_group_count(2)
            .apply_immediately(true)
            .send()
            .await,
        ReshardError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .create_replication_group()
            .replication_group_id("no-failover")
            .replication_group_description("x")
            .cache_node_type("cache.t3.micro")
            .num_node_groups(2)
            .automatic_failover_enabled(false)
            .send()
            .await,
        CreateReplicationGroupError::InvalidParameterCombinationException
    );
    emulator.shutdown();
}

#[tokio::test]
async fn cache_clusters_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);

    // Memcached: several nodes, a configuration endpoint, nodes only when asked for.
    let created = client
        .create_cache_cluster()
        .cache_cluster_id("Sessions")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(2)
        .az_mode(aws_sdk_elasticache::types::AzMode::CrossAz)
        .send()
        .await
        .unwrap();
    let created = created.cache_cluster().unwrap();
    assert_eq!(created.cache_cluster_id(), Some("sessions"));
    assert_eq!(created.cache_cluster_status(), Some("creating"));
    assert_eq!(created.num_cache_nodes(), Some(2));
    assert_eq!(created.engine_version(), Some("1.6.22"));
    assert_eq!(created.preferred_availability_zone(), Some("Multiple"));
    assert_eq!(
        created.configuration_endpoint().unwrap().port(),
        Some(11211)
    );
    let listed = client.describe_cache_clusters().send().await.unwrap();
    assert!(listed.cache_clusters()[0].cache_nodes().is_empty());
    let shown = cluster(&client, "sessions").await;
    let nodes: Vec<_> = shown
        .cache_nodes()
        .iter()
        .map(|n| (n.cache_node_id().unwrap(), n.cache_node_status().unwrap()))
        .collect();
    assert_eq!(nodes, [("0001", "creating"), ("0002", "creating")]);
    assert_fault!(
        client
            .modify_cache_cluster()
            .cache_cluster_id("sessions")
            .num_cache_nodes(3)
            .apply_immediately(true)
            .send()
            .await,
        ModifyCacheClusterError::InvalidCacheClusterStateFault
    );
    settle(&emulator);

    // Scale out at once; scale in naming the nodes to remove.
    let out = client
        .modify_cache_cluster()
        .cache_cluster_id("sessions")
        .num_cache_nodes(3)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.cache_cluster().unwrap().cache_cluster_status(),
        Some("modifying")
    );
    let statuses: Vec<_> = cluster(&client, "sessions")
        .await
        .cache_nodes()
        .iter()
        .map(|n| n.cache_node_status().unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["available", "available", "creating"]);
    settle(&emulator);
    assert_eq!(
        cluster(&client, "sessions").await.num_cache_nodes(),
        Some(3)
    );
    assert_fault!(
        client
            .modify_cache_cluster()
            .cache_cluster_id("sessions")
            .num_cache_nodes(1)
            .apply_immediately(true)
            .send()
            .await,
        ModifyCacheClusterError::InvalidParameterValueException
    );
    client
        .modify_cache_cluster()
        .cache_cluster_id("sessions")
        .num_cache_nodes(1)
        .cache_node_ids_to_remove("0002")
        .cache_node_ids_to_remove("0003")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    settle(&emulator);
    let scaled = cluster(&client, "sessions").await;
    assert_eq!(scaled.num_cache_nodes(), Some(1));
    assert_eq!(scaled.cache_nodes()[0].cache_node_id(), Some("0001"));

    // Memcached takes no snapshots.
    assert_fault!(
        client
            .delete_cache_cluster()
            .cache_cluster_id("sessions")
            .final_snapshot_identifier("never")
            .send()
            .await,
        DeleteCacheClusterError::SnapshotFeatureNotSupportedFault
    );

    // Redis standalone: one node; changes not applied immediately wait as pending.
    client
        .create_cache_cluster()
        .cache_cluster_id("single")
        .engine("redis")
        .engine_version("6.2")
        .cache_node_type("cache.t3.micro")
        .snapshot_retention_limit(1)
        .send()
        .await
        .unwrap();
    assert_fault!(
        client
            .create_cache_cluster()
            .cache_cluster_id("two-redis-nodes")
            .engine("redis")
            .cache_node_type("cache.t3.micro")
            .num_cache_nodes(2)
            .send()
            .await,
        CreateCacheClusterError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .create_cache_cluster()
            .cache_cluster_id("no-type")
            .engine("redis")
            .send()
            .await,
        CreateCacheClusterError::InvalidParameterValueException
    );
    settle(&emulator);
    let pending = client
        .modify_cache_cluster()
        .cache_cluster_id("single")
        .engine_version("7.1")
        .snapshot_window("05:00-06:00")
        .send()
        .await
        .unwrap();
    let pending = pending.cache_cluster().unwrap();
    assert_eq!(pending.engine_version(), Some("6.2"));
    assert_eq!(pending.snapshot_window(), Some("05:00-06:00"));
    assert_eq!(
        pending
            .pending_modified_values()
            .and_then(|p| p.engine_version()),
        Some("7.1")
    );
    settle(&emulator);
    let upgraded = client
        .modify_cache_cluster()
        .cache_cluster_id("single")
        .engine_version("7.1")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        upgraded.cache_cluster().unwrap().engine_version(),
        Some("7.1")
    );
    settle(&emulator);

    // Reboot.
    let rebooting = client
        .reboot_cache_cluster()
        .cache_cluster_id("single")
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rebooting.cache_cluster().unwrap().cache_cluster_status(),
        Some("rebooting cache cluster nodes")
    );
    assert_eq!(
        cluster(&client, "single").await.cache_nodes()[0].cache_node_status(),
        Some("rebooting")
    );
    settle(&emulator);
    // Not a modelled error of RebootCacheCluster: the SDK sees it by its code.
    let err = client
        .reboot_cache_cluster()
        .cache_cluster_id("single")
        .cache_node_ids_to_reboot("0009")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));

    // A cluster's snapshot: the cluster is snapshotting meanwhile.
    let snap = client
        .create_snapshot()
        .cache_cluster_id("single")
        .snapshot_name("single-snap")
        .send()
        .await
        .unwrap();
    assert_eq!(snap.snapshot().unwrap().cache_cluster_id(), Some("single"));
    assert_eq!(
        cluster(&client, "single").await.cache_cluster_status(),
        Some("snapshotting")
    );
    settle(&emulator);
    assert_eq!(
        cluster(&client, "single").await.cache_cluster_status(),
        Some("available")
    );

    // A standalone cluster becomes the primary of a new group, which can take a read replica.
    let adopted = client
        .create_replication_group()
        .replication_group_id("adopted")
        .replication_group_description("around single")
        .primary_cluster_id("single")
        .num_cache_clusters(2)
        .send()
        .await
        .unwrap();
    let adopted = adopted.replication_group().unwrap();
    assert_eq!(adopted.member_clusters(), ["adopted-002", "single"]);
    assert_eq!(primary_of(adopted), "single");
    assert_eq!(adopted.cache_node_type(), Some("cache.t3.micro"));
    settle(&emulator);
    let replica = client
        .create_cache_cluster()
        .cache_cluster_id("extra-replica")
        .replication_group_id("adopted")
        .send()
        .await
        .unwrap();
    assert_eq!(
        replica.cache_cluster().unwrap().replication_group_id(),
        Some("adopted")
    );
    settle(&emulator);
    assert_eq!(group(&client, "adopted").await.member_clusters().len(), 3);
    let standalone = client
        .describe_cache_clusters()
        .show_cache_clusters_not_in_replication_groups(true)
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = standalone
        .cache_clusters()
        .iter()
        .filter_map(|c| c.cache_cluster_id())
        .collect();
    assert_eq!(ids, ["sessions"]);

    // Delete standalone with and without a final snapshot.
    client
        .delete_replication_group()
        .replication_group_id("adopted")
        .retain_primary_cluster(true)
        .send()
        .await
        .unwrap();
    settle(&emulator);
    let kept = cluster(&client, "single").await;
    assert_eq!(kept.replication_group_id(), None);
    let deleted = client
        .delete_cache_cluster()
        .cache_cluster_id("single")
        .final_snapshot_identifier("single-final")
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.cache_cluster().unwrap().cache_cluster_status(),
        Some("deleting")
    );
    settle(&emulator);
    let final_snapshot = snapshot(&client, "single-final").await;
    assert_eq!(final_snapshot.snapshot_status(), Some("available"));
    assert_eq!(final_snapshot.engine_version(), Some("7.1"));
    let ids: Vec<_> = client
        .describe_cache_clusters()
        .send()
        .await
        .unwrap()
        .cache_clusters()
        .iter()
        .filter_map(|c| c.cache_cluster_id().map(str::to_owned))
        .collect();
    assert_eq!(ids, ["sessions"]);
    // Snapshots of a deleted cluster are still found by its id.
    let by_cluster = client
        .describe_snapshots()
        .cache_cluster_id("single")
        .send()
        .await
        .unwrap();
    assert_eq!(by_cluster.snapshots().len(), 2);
    let restored = client
        .create_cache_cluster()
        .cache_cluster_id("single-again")
        .snapshot_name("single-final")
        .send()
        .await
        .unwrap();
    assert_eq!(restored.cache_cluster().unwrap().engine(), Some("redis"));
    emulator.shutdown();
}

/// Each node's id and status, as `DescribeCacheClusters(ShowCacheNodeInfo)` lists them.
async fn node_statuses(client: &Client, id: &str) -> Vec<(String, String)> {
    cluster(client, id)
        .await
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

fn statuses(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(id, status)| ((*id).to_owned(), (*status).to_owned()))
        .collect()
}

#[tokio::test]
async fn rebooting_some_nodes_leaves_the_others_available_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    client
        .create_cache_cluster()
        .cache_cluster_id("partial")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(3)
        .send()
        .await
        .unwrap();
    settle(&emulator);

    // "To reboot an entire cluster, specify all of the cache node IDs": only 0001 reboots.
    let rebooting = client
        .reboot_cache_cluster()
        .cache_cluster_id("partial")
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rebooting.cache_cluster().unwrap().cache_cluster_status(),
        Some("rebooting cache cluster nodes")
    );
    let answered: Vec<_> = rebooting
        .cache_cluster()
        .unwrap()
        .cache_nodes()
        .iter()
        .map(|n| n.cache_node_status().unwrap())
        .collect();
    assert_eq!(answered, ["rebooting", "available", "available"]);
    assert_eq!(
        node_statuses(&client, "partial").await,
        statuses(&[
            ("0001", "rebooting"),
            ("0002", "available"),
            ("0003", "available")
        ])
    );
    settle(&emulator);
    assert_eq!(
        cluster(&client, "partial").await.cache_cluster_status(),
        Some("available")
    );
    assert_eq!(
        node_statuses(&client, "partial").await,
        statuses(&[
            ("0001", "available"),
            ("0002", "available"),
            ("0003", "available")
        ])
    );

    // Two of them, then every one: the whole cluster.
    client
        .reboot_cache_cluster()
        .cache_cluster_id("partial")
        .cache_node_ids_to_reboot("0003")
        .cache_node_ids_to_reboot("0002")
        .send()
        .await
        .unwrap();
    assert_eq!(
        node_statuses(&client, "partial").await,
        statuses(&[
            ("0001", "available"),
            ("0002", "rebooting"),
            ("0003", "rebooting")
        ])
    );
    settle(&emulator);
    client
        .reboot_cache_cluster()
        .cache_cluster_id("partial")
        .cache_node_ids_to_reboot("0001")
        .cache_node_ids_to_reboot("0002")
        .cache_node_ids_to_reboot("0003")
        .send()
        .await
        .unwrap();
    assert_eq!(
        node_statuses(&client, "partial").await,
        statuses(&[
            ("0001", "rebooting"),
            ("0002", "rebooting"),
            ("0003", "rebooting")
        ])
    );
    settle(&emulator);
    assert_eq!(
        node_statuses(&client, "partial").await,
        statuses(&[
            ("0001", "available"),
            ("0002", "available"),
            ("0003", "available")
        ])
    );
    emulator.shutdown();
}

/// The messages of a cache cluster's events, oldest first.
async fn cluster_messages(client: &Client, id: &str) -> Vec<String> {
    let output = client
        .describe_events()
        .source_type(aws_sdk_elasticache::types::SourceType::CacheCluster)
        .source_identifier(id)
        .duration(24 * 60)
        .send()
        .await
        .unwrap();
    let mut messages: Vec<_> = output
        .events()
        .iter()
        .map(|e| e.message().unwrap().to_owned())
        .collect();
    messages.reverse();
    messages
}

#[tokio::test]
async fn adding_and_removing_cache_nodes_records_an_event_per_node_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    client
        .create_cache_cluster()
        .cache_cluster_id("grown")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(2)
        .az_mode(aws_sdk_elasticache::types::AzMode::CrossAz)
        .send()
        .await
        .unwrap();
    assert!(cluster_messages(&client, "grown").await.is_empty());
    settle(&emulator);
    // As botocore's DescribeEvents example has it: the cluster, then each node it was created
    // with.
    assert_eq!(
        cluster_messages(&client, "grown").await,
        [
            "Cache cluster created",
            "Added cache node 0001 in availability zone us-east-1a",
            "Added cache node 0002 in availability zone us-east-1b",
        ]
    );
    client
        .modify_cache_cluster()
        .cache_cluster_id("grown")
        .num_cache_nodes(4)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    settle(&emulator);
    assert_eq!(
        cluster_messages(&client, "grown").await[3..],
        [
            "Cache cluster modified",
            "Added cache node 0003 in availability zone us-east-1c",
            "Added cache node 0004 in availability zone us-east-1a",
        ]
    );
    client
        .modify_cache_cluster()
        .cache_cluster_id("grown")
        .num_cache_nodes(2)
        .cache_node_ids_to_remove("0004")
        .cache_node_ids_to_remove("0002")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    settle(&emulator);
    assert_eq!(
        cluster_messages(&client, "grown").await[6..],
        [
            "Cache cluster modified",
            "Removed cache nodes 0002",
            "Removed cache nodes 0004",
        ]
    );

    // A change left for the maintenance window adds no node, so no event.
    client
        .modify_cache_cluster()
        .cache_cluster_id("grown")
        .num_cache_nodes(3)
        .send()
        .await
        .unwrap();
    settle(&emulator);
    assert_eq!(
        cluster_messages(&client, "grown").await[9..],
        ["Cache cluster modified"]
    );

    // A Valkey or Redis OSS cluster, standalone or a group's member, has its one node.
    client
        .create_cache_cluster()
        .cache_cluster_id("single-node")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .preferred_availability_zone("us-east-1c")
        .send()
        .await
        .unwrap();
    client
        .create_replication_group()
        .replication_group_id("pair")
        .replication_group_description("x")
        .cache_node_type("cache.t3.micro")
        .num_cache_clusters(2)
        .send()
        .await
        .unwrap();
    settle(&emulator);
    assert_eq!(
        cluster_messages(&client, "single-node").await,
        [
            "Cache cluster created",
            "Added cache node 0001 in availability zone us-east-1c"
        ]
    );
    assert_eq!(
        cluster_messages(&client, "pair-002").await,
        [
            "Cache cluster created",
            "Added cache node 0001 in availability zone us-east-1b"
        ]
    );
    emulator.shutdown();
}

#[tokio::test]
async fn node_describes_page_with_markers_through_the_sdk() {
    let emulator = emulator().await;
    let client = client(&emulator);
    for i in 0..25 {
        client
            .create_cache_cluster()
            .cache_cluster_id(format!("c-{i:02}"))
            .engine("memcached")
            .cache_node_type("cache.t3.micro")
            .send()
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = client
            .describe_cache_clusters()
            .max_records(20)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        seen.extend(
            page.cache_clusters()
                .iter()
                .filter_map(|c| c.cache_cluster_id().map(str::to_owned)),
        );
        marker = page.marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen.len(), 25);
    assert_eq!(seen[24], "c-24");
    for i in 0..21 {
        client
            .create_replication_group()
            .replication_group_id(format!("g-{i:02}"))
            .replication_group_description("paged")
            .cache_node_type("cache.t3.micro")
            .send()
            .await
            .unwrap();
    }
    let first = client
        .describe_replication_groups()
        .max_records(20)
        .send()
        .await
        .unwrap();
    assert_eq!(first.replication_groups().len(), 20);
    let second = client
        .describe_replication_groups()
        .max_records(20)
        .marker(first.marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(second.replication_groups().len(), 1);
    assert_eq!(second.marker(), None);
    assert_fault!(
        client
            .describe_replication_groups()
            .marker("c1-00")
            .send()
            .await,
        DescribeReplicationGroupsError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .describe_replication_groups()
            .max_records(5)
            .send()
            .await,
        DescribeReplicationGroupsError::InvalidParameterValueException
    );
    emulator.shutdown();
}

#[tokio::test]
async fn node_validation_reaches_the_sdk_as_modelled_errors() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let base = || {
        client
            .create_replication_group()
            .replication_group_id("v")
            .replication_group_description("validation")
            .cache_node_type("cache.t3.micro")
    };
    // Missing and malformed parameters.
    let err = client
        .create_replication_group()
        .replication_group_id("v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("MissingParameter"));
    assert_eq!(
        err.message(),
        Some("The request must contain the parameter ReplicationGroupDescription")
    );
    for bad in [
        base().replication_group_id("1-starts-with-a-digit"),
        base().replication_group_id("double--hyphen"),
        base().engine("mongodb"),
        base().engine("memcached"),
        base().engine_version("2.8"),
        base().num_cache_clusters(7),
        base().replicas_per_node_group(6),
        base().cache_node_type("t3.micro"),
        base().snapshot_window("3am"),
        base().preferred_maintenance_window("someday"),
        base().auth_token("short"),
    ] {
        assert_fault!(
            bad.send().await,
            CreateReplicationGroupError::InvalidParameterValueException
        );
    }
    for bad in [
        base().num_cache_clusters(2).num_node_groups(2),
        base().automatic_failover_enabled(true),
        base().multi_az_enabled(true).num_cache_clusters(2),
        base().auth_token("a-long-enough-token-123"),
        base()
            .cluster_mode(ClusterMode::Disabled)
            .num_node_groups(2),
        base().cache_parameter_group_name("default.redis6.x"),
        base()
            .cache_parameter_group_name("default.redis7.cluster.on")
            .cluster_mode(ClusterMode::Disabled),
    ] {
        assert_fault!(
            bad.send().await,
            CreateReplicationGroupError::InvalidParameterCombinationException
        );
    }
    assert_fault!(
        base().cache_parameter_group_name("nope").send().await,
        CreateReplicationGroupError::CacheParameterGroupNotFoundFault
    );
    assert_fault!(
        base().cache_subnet_group_name("nope").send().await,
        CreateReplicationGroupError::CacheSubnetGroupNotFoundFault
    );
    assert_fault!(
        base()
            .transit_encryption_enabled(true)
            .user_group_ids("nope")
            .send()
            .await,
        CreateReplicationGroupError::UserGroupNotFoundFault
    );
    assert_fault!(
        base().primary_cluster_id("nope").send().await,
        CreateReplicationGroupError::CacheClusterNotFoundFault
    );
    assert_fault!(
        base().global_replication_group_id("global").send().await,
        CreateReplicationGroupError::GlobalReplicationGroupNotFoundFault
    );
    assert_fault!(
        base().cache_security_group_names("classic").send().await,
        CreateReplicationGroupError::CacheSecurityGroupNotFoundFault
    );
    assert_fault!(
        base().num_node_groups(501).send().await,
        CreateReplicationGroupError::InvalidParameterValueException
    );
    // Not-found faults of each operation.
    assert_fault!(
        client
            .modify_replication_group()
            .replication_group_id("nope")
            .snapshot_retention_limit(1)
            .send()
            .await,
        ModifyReplicationGroupError::ReplicationGroupNotFoundFault
    );
    assert_fault!(
        client
            .modify_replication_group()
            .replication_group_id("nope")
            .send()
            .await,
        ModifyReplicationGroupError::InvalidParameterCombinationException
    );
    assert_fault!(
        client
            .increase_replica_count()
            .replication_group_id("nope")
            .new_replica_count(1)
            .apply_immediately(true)
            .send()
            .await,
        IncreaseReplicaCountError::ReplicationGroupNotFoundFault
    );
    assert_fault!(
        client
            .increase_replica_count()
            .replication_group_id("nope")
            .new_replica_count(1)
            .apply_immediately(false)
            .send()
            .await,
        IncreaseReplicaCountError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .decrease_replica_count()
            .replication_group_id("nope")
            .new_replica_count(0)
            .replicas_to_remove("x")
            .apply_immediately(true)
            .send()
            .await,
        DecreaseReplicaCountError::InvalidParameterCombinationException
    );
    assert_fault!(
        client
            .test_failover()
            .replication_group_id("nope")
            .node_group_id("0001")
            .send()
            .await,
        TestFailoverError::ReplicationGroupNotFoundFault
    );
    assert_fault!(
        client
            .modify_replication_group_shard_configuration()
            .replication_group_id("nope")
            .node_group_count(2)
            .apply_immediately(true)
            .send()
            .await,
        ReshardError::ReplicationGroupNotFoundFault
    );
    assert_fault!(
        client
            .delete_replication_group()
            .replication_group_id("nope")
            .send()
            .await,
        DeleteReplicationGroupError::ReplicationGroupNotFoundFault
    );
    assert_fault!(
        client
            .modify_cache_cluster()
            .cache_cluster_id("nope")
            .snapshot_retention_limit(1)
            .send()
            .await,
        ModifyCacheClusterError::CacheClusterNotFoundFault
    );
    assert_fault!(
        client
            .reboot_cache_cluster()
            .cache_cluster_id("nope")
            .cache_node_ids_to_reboot("0001")
            .send()
            .await,
        RebootCacheClusterError::CacheClusterNotFoundFault
    );
    assert_fault!(
        client
            .delete_cache_cluster()
            .cache_cluster_id("nope")
            .send()
            .await,
        DeleteCacheClusterError::CacheClusterNotFoundFault
    );
    assert_fault!(
        client
            .create_cache_cluster()
            .cache_cluster_id("r")
            .replication_group_id("nope")
            .send()
            .await,
        CreateCacheClusterError::ReplicationGroupNotFoundFault
    );
    assert_fault!(
        client
            .create_cache_cluster()
            .cache_cluster_id("big")
            .engine("memcached")
            .cache_node_type("cache.t3.micro")
            .num_cache_nodes(41)
            .send()
            .await,
        CreateCacheClusterError::NodeQuotaForClusterExceededFault
    );
    assert_fault!(
        client
            .create_snapshot()
            .snapshot_name("s")
            .cache_cluster_id("nope")
            .send()
            .await,
        CreateSnapshotError::CacheClusterNotFoundFault
    );
    assert_fault!(
        client
            .create_snapshot()
            .snapshot_name("s")
            .replication_group_id("nope")
            .send()
            .await,
        CreateSnapshotError::ReplicationGroupNotFoundFault
    );
    assert_fault!(
        client.create_snapshot().snapshot_name("s").send().await,
        CreateSnapshotError::InvalidParameterCombinationException
    );
    assert_fault!(
        client
            .copy_snapshot()
            .source_snapshot_name("nope")
            .target_snapshot_name("t")
            .send()
            .await,
        aws_sdk_elasticache::operation::copy_snapshot::CopySnapshotError::SnapshotNotFoundFault
    );
    assert_fault!(
        client.delete_snapshot().snapshot_name("nope").send().await,
        DeleteSnapshotError::SnapshotNotFoundFault
    );
    assert_fault!(
        client
            .describe_cache_clusters()
            .cache_cluster_id("nope")
            .send()
            .await,
        DescribeCacheClustersError::CacheClusterNotFoundFault
    );
    emulator.shutdown();
}

#[tokio::test]
async fn injected_node_faults_reach_the_sdk_as_their_variants() {
    let emulator = emulator().await;
    let client = client(&emulator);
    let create = || {
        client
            .create_replication_group()
            .replication_group_id("x")
            .replication_group_description("x")
            .send()
    };
    assert_injected!(emulator, "CreateReplicationGroup", create(), [
        Fault::ClusterQuotaForCustomerExceeded => CreateReplicationGroupError::ClusterQuotaForCustomerExceededFault,
        Fault::NodeQuotaForCustomerExceeded => CreateReplicationGroupError::NodeQuotaForCustomerExceededFault,
        Fault::NodeGroupsPerReplicationGroupQuotaExceeded => CreateReplicationGroupError::NodeGroupsPerReplicationGroupQuotaExceededFault,
        Fault::InvalidCacheClusterState => CreateReplicationGroupError::InvalidCacheClusterStateFault,
    ]);
    assert_injected!(emulator, "CreateSnapshot", client.create_snapshot().snapshot_name("s").send(), [
        Fault::SnapshotQuotaExceeded => CreateSnapshotError::SnapshotQuotaExceededFault,
        Fault::SnapshotFeatureNotSupported => CreateSnapshotError::SnapshotFeatureNotSupportedFault,
        Fault::InvalidCacheClusterState => CreateSnapshotError::InvalidCacheClusterStateFault,
    ]);
    emulator.shutdown();
}

#[tokio::test]
async fn allowed_node_type_modifications_through_the_sdk() {
    use aws_sdk_elasticache::operation::list_allowed_node_type_modifications::ListAllowedNodeTypeModificationsError as ListError;

    let emulator = emulator().await;
    let client = client(&emulator);
    client
        .create_replication_group()
        .replication_group_id("scalable")
        .replication_group_description("x")
        .cache_node_type("cache.r6g.large")
        .send()
        .await
        .unwrap();
    let allowed = client
        .list_allowed_node_type_modifications()
        .replication_group_id("scalable")
        .send()
        .await
        .unwrap();
    assert!(
        allowed
            .scale_up_modifications()
            .contains(&"cache.r7g.large".to_owned())
    );
    assert!(
        !allowed
            .scale_up_modifications()
            .contains(&"cache.r6g.large".to_owned())
    );
    assert!(
        allowed
            .scale_down_modifications()
            .contains(&"cache.t3.micro".to_owned())
    );
    let member = client
        .list_allowed_node_type_modifications()
        .cache_cluster_id("scalable-001")
        .send()
        .await
        .unwrap();
    assert_eq!(
        member.scale_up_modifications(),
        allowed.scale_up_modifications()
    );
    client
        .create_cache_cluster()
        .cache_cluster_id("mc")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .unwrap();
    let memcached = client
        .list_allowed_node_type_modifications()
        .cache_cluster_id("mc")
        .send()
        .await
        .unwrap();
    assert!(memcached.scale_up_modifications().is_empty());
    assert_fault!(
        client
            .list_allowed_node_type_modifications()
            .cache_cluster_id("nope")
            .send()
            .await,
        ListError::CacheClusterNotFoundFault
    );
    assert_fault!(
        client
            .list_allowed_node_type_modifications()
            .replication_group_id("nope")
            .send()
            .await,
        ListError::ReplicationGroupNotFoundFault
    );
    assert_fault!(
        client.list_allowed_node_type_modifications().send().await,
        ListError::InvalidParameterCombinationException
    );
    emulator.shutdown();
}

#[tokio::test]
async fn global_datastores_through_the_sdk() {
    use aws_sdk_elasticache::operation::create_global_replication_group::CreateGlobalReplicationGroupError as CreateGlobalError;
    use aws_sdk_elasticache::operation::decrease_node_groups_in_global_replication_group::DecreaseNodeGroupsInGlobalReplicationGroupError as DecreaseError;
    use aws_sdk_elasticache::operation::delete_global_replication_group::DeleteGlobalReplicationGroupError as DeleteGlobalError;
    use aws_sdk_elasticache::operation::describe_global_replication_groups::DescribeGlobalReplicationGroupsError as DescribeGlobalError;
    use aws_sdk_elasticache::operation::disassociate_global_replication_group::DisassociateGlobalReplicationGroupError as DisassociateError;
    use aws_sdk_elasticache::operation::failover_global_replication_group::FailoverGlobalReplicationGroupError as FailoverError;
    use aws_sdk_elasticache::operation::modify_global_replication_group::ModifyGlobalReplicationGroupError as ModifyGlobalError;

    let emulator = emulator().await;
    let client = client(&emulator);
    client
        .create_replication_group()
        .replication_group_id("primary")
        .replication_group_description("global primary")
        .cache_node_type("cache.r7g.large")
        .num_node_groups(2)
        .replicas_per_node_group(1)
        .send()
        .await
        .unwrap();
    client
        .create_replication_group()
        .replication_group_id("small")
        .replication_group_description("burstable")
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .unwrap();
    assert_fault!(
        client
            .create_global_replication_group()
            .global_replication_group_id_suffix("orders")
            .primary_replication_group_id("primary")
            .send()
            .await,
        CreateGlobalError::InvalidReplicationGroupStateFault
    );
    settle(&emulator);
    assert_fault!(
        client
            .create_global_replication_group()
            .global_replication_group_id_suffix("small")
            .primary_replication_group_id("small")
            .send()
            .await,
        CreateGlobalError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .create_global_replication_group()
            .global_replication_group_id_suffix("x")
            .primary_replication_group_id("nope")
            .send()
            .await,
        CreateGlobalError::ReplicationGroupNotFoundFault
    );
    let created = client
        .create_global_replication_group()
        .global_replication_group_id_suffix("orders")
        .global_replication_group_description("orders everywhere")
        .primary_replication_group_id("primary")
        .send()
        .await
        .unwrap();
    let created = created.global_replication_group().unwrap();
    let id = created.global_replication_group_id().unwrap().to_owned();
    assert!(id.ends_with("-orders"), "{id}");
    assert_eq!(created.status(), Some("creating"));
    assert_eq!(created.cache_node_type(), Some("cache.r7g.large"));
    assert_eq!(created.cluster_enabled(), Some(true));
    assert_eq!(created.global_node_groups().len(), 2);
    assert_eq!(
        created.global_node_groups()[0].global_node_group_id(),
        Some(format!("{id}-0001").as_str())
    );
    let member = &created.members()[0];
    assert_eq!(member.replication_group_id(), Some("primary"));
    assert_eq!(member.role(), Some("PRIMARY"));
    assert_eq!(member.replication_group_region(), Some("us-east-1"));
    let info = group(&client, "primary").await;
    let info = info.global_replication_group_info().unwrap();
    assert_eq!(info.global_replication_group_id(), Some(id.as_str()));
    assert_eq!(info.global_replication_group_member_role(), Some("PRIMARY"));
    assert_fault!(
        client
            .create_global_replication_group()
            .global_replication_group_id_suffix("again")
            .primary_replication_group_id("primary")
            .send()
            .await,
        CreateGlobalError::InvalidParameterValueException
    );
    // A member of a global datastore is not deleted alone.
    assert_fault!(
        client
            .delete_replication_group()
            .replication_group_id("primary")
            .send()
            .await,
        DeleteReplicationGroupError::InvalidReplicationGroupStateFault
    );
    assert_fault!(
        client
            .modify_global_replication_group()
            .global_replication_group_id(&id)
            .global_replication_group_description("busy")
            .apply_immediately(true)
            .send()
            .await,
        ModifyGlobalError::InvalidGlobalReplicationGroupStateFault
    );
    settle(&emulator);
    let listed = client
        .describe_global_replication_groups()
        .send()
        .await
        .unwrap();
    let listed = &listed.global_replication_groups()[0];
    assert_eq!(listed.status(), Some("available"));
    assert!(
        listed.members().is_empty(),
        "members only with ShowMemberInfo"
    );
    let shown = client
        .describe_global_replication_groups()
        .global_replication_group_id(&id)
        .show_member_info(true)
        .send()
        .await
        .unwrap();
    assert_eq!(shown.global_replication_groups()[0].members().len(), 1);

    // Modify: applies to the primary group.
    let modified = client
        .modify_global_replication_group()
        .global_replication_group_id(&id)
        .cache_node_type("cache.r6g.large")
        .global_replication_group_description("resized")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let modified = modified.global_replication_group().unwrap();
    assert_eq!(modified.status(), Some("modifying"));
    assert_eq!(modified.cache_node_type(), Some("cache.r6g.large"));
    assert_eq!(
        modified.global_replication_group_description(),
        Some("resized")
    );
    assert_eq!(group(&client, "primary").await.status(), Some("modifying"));
    settle(&emulator);
    assert_fault!(
        client
            .modify_global_replication_group()
            .global_replication_group_id(&id)
            .cache_node_type("cache.r6g.large")
            .apply_immediately(false)
            .send()
            .await,
        ModifyGlobalError::InvalidParameterValueException
    );

    // Shards: more, then fewer keeping the named global node group.
    let more = client
        .increase_node_groups_in_global_replication_group()
        .global_replication_group_id(&id)
        .node_group_count(3)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        more.global_replication_group()
            .unwrap()
            .global_node_groups()
            .len(),
        3
    );
    settle(&emulator);
    let fewer = client
        .decrease_node_groups_in_global_replication_group()
        .global_replication_group_id(&id)
        .node_group_count(1)
        .global_node_groups_to_retain(format!("{id}-0002"))
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let fewer = fewer.global_replication_group().unwrap();
    assert_eq!(
        fewer.global_node_groups()[0].global_node_group_id(),
        Some(format!("{id}-0002").as_str())
    );
    settle(&emulator);
    assert_fault!(
        client
            .decrease_node_groups_in_global_replication_group()
            .global_replication_group_id(&id)
            .node_group_count(1)
            .apply_immediately(true)
            .send()
            .await,
        DecreaseError::InvalidParameterValueException
    );
    let rebalanced = client
        .rebalance_slots_in_global_replication_group()
        .global_replication_group_id(&id)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        rebalanced.global_replication_group().unwrap().status(),
        Some("modifying")
    );
    settle(&emulator);

    // Only a primary here: nothing to fail over to or disassociate.
    assert_fault!(
        client
            .failover_global_replication_group()
            .global_replication_group_id(&id)
            .primary_region("us-west-2")
            .primary_replication_group_id("secondary")
            .send()
            .await,
        FailoverError::InvalidParameterValueException
    );
    assert_fault!(
        client
            .disassociate_global_replication_group()
            .global_replication_group_id(&id)
            .replication_group_id("primary")
            .replication_group_region("us-east-1")
            .send()
            .await,
        DisassociateError::InvalidParameterValueException
    );

    // Delete, keeping the primary, which is then on its own again.
    assert_fault!(
        client
            .delete_global_replication_group()
            .global_replication_group_id(&id)
            .retain_primary_replication_group(false)
            .send()
            .await,
        DeleteGlobalError::InvalidParameterValueException
    );
    let deleted = client
        .delete_global_replication_group()
        .global_replication_group_id(&id)
        .retain_primary_replication_group(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.global_replication_group().unwrap().status(),
        Some("deleting")
    );
    assert!(
        group(&client, "primary")
            .await
            .global_replication_group_info()
            .is_none()
    );
    settle(&emulator);
    assert_fault!(
        client
            .describe_global_replication_groups()
            .global_replication_group_id(&id)
            .send()
            .await,
        DescribeGlobalError::GlobalReplicationGroupNotFoundFault
    );
    client
        .delete_replication_group()
        .replication_group_id("primary")
        .send()
        .await
        .unwrap();
    emulator.shutdown();
}
