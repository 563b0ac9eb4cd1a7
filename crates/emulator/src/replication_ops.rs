//! The operations on replication groups, cache clusters and classic snapshots: their parameters,
//! checked for syntax as ElastiCache does, then applied to the store ([`super::replication`]).

use super::error::{ApiError, Fault};
use super::operations::{Operation, Output, ids, int_in, marker_page, non_empty, tags};
use super::query::{Params, Tag};
use super::replication::{
    Answer, ClusterChanges, GroupChanges, MAX_REPLICAS, NewCluster, NewGroup, NodeSettings,
    ReplicaChanges, SettingsChanges, ShardChanges, ShardConfig, SnapshotFilter, Topology,
};
use super::store::{Clock, PageRequest, Store};

/// Replication group and cache cluster ids: letters, digits and hyphens, starting with a letter,
/// no `--`, no trailing hyphen, at most `max` characters; stored in lower case.
fn node_id(parameter: &str, id: &str, max: usize) -> Result<String, ApiError> {
    let valid = (1..=max).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--");
    if !valid {
        return Err(ApiError::invalid(
            parameter,
            format!(
                "{id:?} must be 1 to {max} letters, digits or hyphens, begin with a letter, \
                 and contain no two consecutive hyphens nor end with one"
            ),
        ));
    }
    Ok(id.to_ascii_lowercase())
}

fn group_id(params: &Params) -> Result<String, ApiError> {
    Ok(params.required("ReplicationGroupId")?.to_ascii_lowercase())
}

fn cluster_id(params: &Params) -> Result<String, ApiError> {
    Ok(params.required("CacheClusterId")?.to_ascii_lowercase())
}

fn count(
    params: &Params,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<usize>, ApiError> {
    Ok(int_in(params, name, range)?.and_then(|n| usize::try_from(n).ok()))
}

fn lower(params: &Params, name: &str) -> Option<String> {
    non_empty(params, name).map(|value| value.to_ascii_lowercase())
}

/// `ddd:hh24:mi-ddd:hh24:mi`, e.g. `sun:05:00-sun:06:00`.
fn maintenance_window(params: &Params) -> Result<Option<String>, ApiError> {
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let Some(window) = non_empty(params, "PreferredMaintenanceWindow") else {
        return Ok(None);
    };
    let window = window.to_ascii_lowercase();
    let valid = window.split_once('-').is_some_and(|(from, to)| {
        [from, to].iter().all(|end| {
            end.split_once(':')
                .is_some_and(|(day, time)| DAYS.contains(&day) && time_of_day(time))
        })
    });
    if !valid {
        return Err(ApiError::invalid(
            "PreferredMaintenanceWindow",
            format!("{window:?} is not a window as ddd:hh24:mi-ddd:hh24:mi"),
        ));
    }
    Ok(Some(window))
}

/// `hh24:mi-hh24:mi`, e.g. `03:00-04:00`.
fn snapshot_window(params: &Params) -> Result<Option<String>, ApiError> {
    let Some(window) = non_empty(params, "SnapshotWindow") else {
        return Ok(None);
    };
    let valid = window
        .split_once('-')
        .is_some_and(|(from, to)| time_of_day(from) && time_of_day(to));
    if !valid {
        return Err(ApiError::invalid(
            "SnapshotWindow",
            format!("{window:?} is not a window as hh24:mi-hh24:mi"),
        ));
    }
    Ok(Some(window))
}

fn time_of_day(time: &str) -> bool {
    time.split_once(':').is_some_and(|(hours, minutes)| {
        hours.len() == 2
            && minutes.len() == 2
            && hours.parse::<u8>().is_ok_and(|h| h < 24)
            && minutes.parse::<u8>().is_ok_and(|m| m < 60)
    })
}

fn port(params: &Params) -> Result<Option<u16>, ApiError> {
    Ok(int_in(params, "Port", 1024..=65535)?.and_then(|p| u16::try_from(p).ok()))
}

fn engine(params: &Params) -> Result<Option<String>, ApiError> {
    match lower(params, "Engine") {
        Some(engine) if ["valkey", "redis", "memcached"].contains(&engine.as_str()) => {
            Ok(Some(engine))
        }
        Some(engine) => Err(ApiError::invalid(
            "Engine",
            format!("{engine:?} is not one of valkey, redis, memcached"),
        )),
        None => Ok(None),
    }
}

/// `AuthToken`: 16 to 128 printable characters, no `@`, `"` or `/`.
fn auth_token(params: &Params) -> Result<bool, ApiError> {
    let Some(token) = params.get("AuthToken") else {
        return Ok(false);
    };
    let valid = (16..=128).contains(&token.chars().count())
        && token
            .chars()
            .all(|c| c.is_ascii_graphic() && !['@', '"', '/'].contains(&c));
    if !valid {
        return Err(ApiError::invalid(
            "AuthToken",
            "must be 16 to 128 printable characters other than @, \" and /",
        ));
    }
    Ok(true)
}

/// Options the emulator does not model, refused rather than pretended.
fn refuse_unmodelled(params: &Params) -> Result<(), ApiError> {
    if params.has_struct("CacheSecurityGroupNames") {
        return Err(ApiError::new(
            Fault::CacheSecurityGroupNotFound,
            "The emulated account has no cache security groups (it is VPC-only); use SecurityGroupIds.",
        ));
    }
    if let Some(id) = non_empty(params, "GlobalReplicationGroupId") {
        return Err(ApiError::new(
            Fault::GlobalReplicationGroupNotFound,
            format!("GlobalReplicationGroup {id} not found."),
        ));
    }
    for (name, what) in [
        ("SnapshotArns", "seeding from an .rdb file in S3"),
        ("LogDeliveryConfigurations", "log delivery"),
        (
            "ServerlessCacheSnapshotName",
            "restoring a serverless cache snapshot into nodes",
        ),
        ("PreferredOutpostArn", "Outposts"),
        ("PreferredOutpostArns", "Outposts"),
    ] {
        if params.has_struct(name) {
            return Err(ApiError::invalid(
                name,
                format!("the elasticache-grpc emulator does not emulate {what}"),
            ));
        }
    }
    if params.bool("DataTieringEnabled")? == Some(true) {
        return Err(ApiError::invalid(
            "DataTieringEnabled",
            "the elasticache-grpc emulator does not emulate data tiering",
        ));
    }
    Ok(())
}

fn one_of(params: &Params, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match non_empty(params, name) {
        Some(value) if allowed.contains(&value.as_str()) => Ok(Some(value)),
        Some(value) => Err(ApiError::invalid(
            name,
            format!("{value:?} is not one of {}", allowed.join(", ")),
        )),
        None => Ok(None),
    }
}

fn topology(params: &Params) -> Result<Option<Topology>, ApiError> {
    const CONFIG: &str = "NodeGroupConfiguration.NodeGroupConfiguration";
    let clusters = count(params, "NumCacheClusters", 1..=6)?;
    let node_groups = count(params, "NumNodeGroups", 1..=500)?;
    let replicas = count(params, "ReplicasPerNodeGroup", 0..=MAX_REPLICAS as i64)?;
    let indices = params.indices(CONFIG)?;
    let mut configured = Vec::new();
    for index in indices {
        let prefix = format!("{CONFIG}.{index}");
        let id = non_empty(params, &format!("{prefix}.NodeGroupId"));
        if let Some(id) = &id
            && !(id.len() == 4 && id.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(ApiError::invalid(
                &format!("{prefix}.NodeGroupId"),
                format!("{id:?} is not a node group id of four digits"),
            ));
        }
        configured.push(ShardConfig {
            id,
            slots: non_empty(params, &format!("{prefix}.Slots")),
            replicas: count(
                params,
                &format!("{prefix}.ReplicaCount"),
                0..=MAX_REPLICAS as i64,
            )?
            .or(replicas),
            primary_az: non_empty(params, &format!("{prefix}.PrimaryAvailabilityZone")),
            replica_azs: params
                .list(
                    &format!("{prefix}.ReplicaAvailabilityZones"),
                    "AvailabilityZone",
                )?
                .unwrap_or_default(),
        });
    }
    if clusters.is_some() && (node_groups.is_some() || replicas.is_some() || !configured.is_empty())
    {
        return Err(ApiError::combination(
            "NumCacheClusters cannot be specified with NumNodeGroups, ReplicasPerNodeGroup or NodeGroupConfiguration",
        ));
    }
    if let Some(count) = node_groups
        && !configured.is_empty()
        && count != configured.len()
    {
        return Err(ApiError::combination(format!(
            "NumNodeGroups is {count} but NodeGroupConfiguration has {} entries",
            configured.len()
        )));
    }
    Ok(if let Some(count) = clusters {
        Some(Topology::Clusters(count))
    } else if !configured.is_empty() {
        Some(Topology::Configured(configured))
    } else if node_groups.is_some() || replicas.is_some() {
        Some(Topology::Shards {
            node_groups,
            replicas,
        })
    } else {
        None
    })
}

/// The settings `CreateReplicationGroup` and `CreateCacheCluster` both take.
fn node_settings(params: &Params) -> Result<NodeSettings, ApiError> {
    Ok(NodeSettings {
        engine: engine(params)?,
        engine_version: non_empty(params, "EngineVersion"),
        cache_node_type: non_empty(params, "CacheNodeType"),
        parameter_group: lower(params, "CacheParameterGroupName"),
        subnet_group: lower(params, "CacheSubnetGroupName"),
        security_group_ids: ids(params, "SecurityGroupIds", "SecurityGroupId", "sg-")?,
        snapshot_name: non_empty(params, "SnapshotName"),
        maintenance_window: maintenance_window(params)?,
        port: port(params)?,
        notification_topic_arn: non_empty(params, "NotificationTopicArn"),
        auto_minor_version_upgrade: params.bool("AutoMinorVersionUpgrade")?,
        snapshot_retention_limit: int_in(params, "SnapshotRetentionLimit", 0..=35)?,
        snapshot_window: snapshot_window(params)?,
        auth_token: auth_token(params)?,
        transit_encryption: params.bool("TransitEncryptionEnabled")?,
        network_type: one_of(params, "NetworkType", &["ipv4", "ipv6", "dual_stack"])?,
        ip_discovery: one_of(params, "IpDiscovery", &["ipv4", "ipv6"])?,
    })
}

fn settings_changes(params: &Params) -> Result<SettingsChanges, ApiError> {
    refuse_unmodelled(params)?;
    Ok(SettingsChanges {
        engine: engine(params)?,
        engine_version: non_empty(params, "EngineVersion"),
        cache_node_type: non_empty(params, "CacheNodeType"),
        parameter_group: lower(params, "CacheParameterGroupName"),
        security_group_ids: ids(params, "SecurityGroupIds", "SecurityGroupId", "sg-")?,
        maintenance_window: maintenance_window(params)?,
        snapshot_retention_limit: int_in(params, "SnapshotRetentionLimit", 0..=35)?,
        snapshot_window: snapshot_window(params)?,
        auto_minor_version_upgrade: params.bool("AutoMinorVersionUpgrade")?,
        notification_topic_arn: non_empty(params, "NotificationTopicArn"),
        apply_immediately: params.bool("ApplyImmediately")?.unwrap_or(false),
    })
}

fn group_answer(group: super::replication::ReplicationGroup) -> Output {
    Output::Replication(Answer::ReplicationGroup(Box::new(group)))
}

fn cluster_answer(cluster: super::replication::CacheCluster) -> Output {
    Output::Replication(Answer::CacheCluster(Box::new(cluster)))
}

fn snapshot_answer(snapshot: super::replication::ClassicSnapshot) -> Output {
    Output::Replication(Answer::Snapshot(Box::new(snapshot)))
}

pub(crate) struct CreateReplicationGroup;

impl Operation for CreateReplicationGroup {
    const NAME: &'static str = "CreateReplicationGroup";
    type Input = NewGroup;

    fn parse(params: &Params) -> Result<NewGroup, ApiError> {
        refuse_unmodelled(params)?;
        let id = node_id(
            "ReplicationGroupId",
            params.required("ReplicationGroupId")?,
            40,
        )?;
        let description = params.required("ReplicationGroupDescription")?.to_owned();
        Ok(NewGroup {
            id,
            description,
            topology: topology(params)?,
            preferred_azs: params
                .list("PreferredCacheClusterAZs", "AvailabilityZone")?
                .unwrap_or_default(),
            primary_cluster_id: lower(params, "PrimaryClusterId"),
            automatic_failover: params.bool("AutomaticFailoverEnabled")?,
            multi_az: params.bool("MultiAZEnabled")?,
            cluster_mode: one_of(
                params,
                "ClusterMode",
                &["enabled", "disabled", "compatible"],
            )?,
            settings: node_settings(params)?,
            at_rest_encryption: params.bool("AtRestEncryptionEnabled")?,
            kms_key_id: non_empty(params, "KmsKeyId"),
            user_group_ids: params
                .list("UserGroupIds", "member")?
                .unwrap_or_default()
                .into_iter()
                .map(|id| id.to_ascii_lowercase())
                .collect(),
            tags: tags(params)?,
        })
    }

    fn apply(store: &mut Store, new: NewGroup, clock: Clock) -> Result<Output, ApiError> {
        store.create_replication_group(new, clock).map(group_answer)
    }
}

pub(crate) struct DescribeReplicationGroups;

impl Operation for DescribeReplicationGroups {
    const NAME: &'static str = "DescribeReplicationGroups";
    type Input = (Option<String>, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        Ok((lower(params, "ReplicationGroupId"), marker_page(params)?))
    }

    fn apply(store: &mut Store, (id, page): Self::Input, _: Clock) -> Result<Output, ApiError> {
        store
            .describe_replication_groups(id.as_deref(), &page)
            .map(|page| Output::Replication(Answer::ReplicationGroups(page)))
    }
}

pub(crate) struct ModifyReplicationGroup;

impl Operation for ModifyReplicationGroup {
    const NAME: &'static str = "ModifyReplicationGroup";
    type Input = GroupChanges;

    fn parse(params: &Params) -> Result<GroupChanges, ApiError> {
        let list = |name: &str| -> Result<Vec<String>, ApiError> {
            Ok(params
                .list(name, "member")?
                .unwrap_or_default()
                .into_iter()
                .map(|id| id.to_ascii_lowercase())
                .collect())
        };
        let changes = GroupChanges {
            id: group_id(params)?,
            description: params.get("ReplicationGroupDescription").map(str::to_owned),
            primary_cluster_id: lower(params, "PrimaryClusterId"),
            snapshotting_cluster_id: lower(params, "SnapshottingClusterId"),
            automatic_failover: params.bool("AutomaticFailoverEnabled")?,
            multi_az: params.bool("MultiAZEnabled")?,
            user_group_ids_to_add: list("UserGroupIdsToAdd")?,
            user_group_ids_to_remove: list("UserGroupIdsToRemove")?,
            remove_user_groups: params.bool("RemoveUserGroups")?.unwrap_or(false),
            settings: settings_changes(params)?,
        };
        let nothing = changes.description.is_none()
            && changes.primary_cluster_id.is_none()
            && changes.snapshotting_cluster_id.is_none()
            && changes.automatic_failover.is_none()
            && changes.multi_az.is_none()
            && changes.user_group_ids_to_add.is_empty()
            && changes.user_group_ids_to_remove.is_empty()
            && !changes.remove_user_groups
            && changes.settings.is_empty();
        if nothing {
            return Err(ApiError::combination("No modifications were requested"));
        }
        if changes.remove_user_groups && !changes.user_group_ids_to_add.is_empty() {
            return Err(ApiError::combination(
                "RemoveUserGroups and UserGroupIdsToAdd cannot be specified together",
            ));
        }
        Ok(changes)
    }

    fn apply(store: &mut Store, changes: GroupChanges, clock: Clock) -> Result<Output, ApiError> {
        store
            .modify_replication_group(changes, clock)
            .map(group_answer)
    }
}

/// `ApplyImmediately`, which the replica and shard operations require to be `true`.
fn apply_immediately(params: &Params) -> Result<(), ApiError> {
    match params.bool("ApplyImmediately")? {
        Some(true) => Ok(()),
        Some(false) => Err(ApiError::invalid(
            "ApplyImmediately",
            "this change can only be applied immediately (ApplyImmediately=true)",
        )),
        None => Err(ApiError::missing("ApplyImmediately")),
    }
}

/// `NewReplicaCount`, `ReplicaConfiguration.ConfigureShard.N` and `ReplicasToRemove.member.N`.
fn replica_changes(params: &Params, removing: bool) -> Result<ReplicaChanges, ApiError> {
    const SHARDS: &str = "ReplicaConfiguration.ConfigureShard";
    let id = group_id(params)?;
    apply_immediately(params)?;
    let new_replica_count = count(params, "NewReplicaCount", 0..=MAX_REPLICAS as i64)?;
    let mut per_shard = Vec::new();
    for index in params.indices(SHARDS)? {
        let prefix = format!("{SHARDS}.{index}");
        let node_group = params
            .required(&format!("{prefix}.NodeGroupId"))?
            .to_owned();
        let replicas = count(
            params,
            &format!("{prefix}.NewReplicaCount"),
            0..=MAX_REPLICAS as i64,
        )?
        .ok_or_else(|| ApiError::missing(&format!("{prefix}.NewReplicaCount")))?;
        per_shard.push((node_group, replicas));
    }
    let replicas_to_remove: Vec<String> = if removing {
        params
            .list("ReplicasToRemove", "member")?
            .unwrap_or_default()
            .into_iter()
            .map(|id| id.to_ascii_lowercase())
            .collect()
    } else {
        Vec::new()
    };
    let given = usize::from(new_replica_count.is_some())
        + usize::from(!per_shard.is_empty())
        + usize::from(!replicas_to_remove.is_empty());
    if given != 1 {
        return Err(ApiError::combination(if removing {
            "Exactly one of NewReplicaCount, ReplicaConfiguration and ReplicasToRemove must be specified"
        } else {
            "Exactly one of NewReplicaCount and ReplicaConfiguration must be specified"
        }));
    }
    Ok(ReplicaChanges {
        id,
        new_replica_count,
        per_shard,
        replicas_to_remove,
    })
}

pub(crate) struct IncreaseReplicaCount;

impl Operation for IncreaseReplicaCount {
    const NAME: &'static str = "IncreaseReplicaCount";
    type Input = ReplicaChanges;

    fn parse(params: &Params) -> Result<ReplicaChanges, ApiError> {
        replica_changes(params, false)
    }

    fn apply(store: &mut Store, changes: ReplicaChanges, clock: Clock) -> Result<Output, ApiError> {
        store
            .increase_replica_count(changes, clock)
            .map(group_answer)
    }
}

pub(crate) struct DecreaseReplicaCount;

impl Operation for DecreaseReplicaCount {
    const NAME: &'static str = "DecreaseReplicaCount";
    type Input = ReplicaChanges;

    fn parse(params: &Params) -> Result<ReplicaChanges, ApiError> {
        replica_changes(params, true)
    }

    fn apply(store: &mut Store, changes: ReplicaChanges, clock: Clock) -> Result<Output, ApiError> {
        store
            .decrease_replica_count(changes, clock)
            .map(group_answer)
    }
}

pub(crate) struct TestFailover;

impl Operation for TestFailover {
    const NAME: &'static str = "TestFailover";
    type Input = (String, String);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        Ok((
            group_id(params)?,
            params.required("NodeGroupId")?.to_owned(),
        ))
    }

    fn apply(
        store: &mut Store,
        (id, node_group): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        store
            .test_failover(&id, &node_group, clock)
            .map(group_answer)
    }
}

pub(crate) struct ModifyReplicationGroupShardConfiguration;

impl Operation for ModifyReplicationGroupShardConfiguration {
    const NAME: &'static str = "ModifyReplicationGroupShardConfiguration";
    type Input = ShardChanges;

    fn parse(params: &Params) -> Result<ShardChanges, ApiError> {
        let id = group_id(params)?;
        let node_group_count = count(params, "NodeGroupCount", 1..=500)?
            .ok_or_else(|| ApiError::missing("NodeGroupCount"))?;
        apply_immediately(params)?;
        let to_remove = params
            .list("NodeGroupsToRemove", "NodeGroupToRemove")?
            .unwrap_or_default();
        let to_retain = params
            .list("NodeGroupsToRetain", "NodeGroupToRetain")?
            .unwrap_or_default();
        Ok(ShardChanges {
            id,
            node_group_count,
            to_remove,
            to_retain,
        })
    }

    fn apply(store: &mut Store, changes: ShardChanges, clock: Clock) -> Result<Output, ApiError> {
        store
            .modify_shard_configuration(changes, clock)
            .map(group_answer)
    }
}

pub(crate) struct DeleteReplicationGroup;

impl Operation for DeleteReplicationGroup {
    const NAME: &'static str = "DeleteReplicationGroup";
    type Input = (String, bool, Option<String>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let final_snapshot = match params.get("FinalSnapshotIdentifier") {
            Some(name) => Some(snapshot_name("FinalSnapshotIdentifier", name)?),
            None => None,
        };
        Ok((
            group_id(params)?,
            params.bool("RetainPrimaryCluster")?.unwrap_or(false),
            final_snapshot,
        ))
    }

    fn apply(
        store: &mut Store,
        (id, retain, final_snapshot): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        store
            .delete_replication_group(&id, retain, final_snapshot, clock)
            .map(group_answer)
    }
}

pub(crate) struct CreateCacheCluster;

impl Operation for CreateCacheCluster {
    const NAME: &'static str = "CreateCacheCluster";
    type Input = NewCluster;

    fn parse(params: &Params) -> Result<NewCluster, ApiError> {
        refuse_unmodelled(params)?;
        let id = node_id("CacheClusterId", params.required("CacheClusterId")?, 50)?;
        let cross_az =
            one_of(params, "AZMode", &["single-az", "cross-az"])?.as_deref() == Some("cross-az");
        let mut preferred_azs = params
            .list("PreferredAvailabilityZones", "PreferredAvailabilityZone")?
            .unwrap_or_default();
        if let Some(zone) = non_empty(params, "PreferredAvailabilityZone") {
            if !preferred_azs.is_empty() {
                return Err(ApiError::combination(
                    "PreferredAvailabilityZone and PreferredAvailabilityZones cannot be specified together",
                ));
            }
            preferred_azs.push(zone);
        }
        Ok(NewCluster {
            id,
            replication_group_id: lower(params, "ReplicationGroupId"),
            cross_az,
            preferred_azs,
            num_cache_nodes: count(params, "NumCacheNodes", 1..=i64::from(u16::MAX))?,
            settings: node_settings(params)?,
            tags: tags(params)?,
        })
    }

    fn apply(store: &mut Store, new: NewCluster, clock: Clock) -> Result<Output, ApiError> {
        store.create_cache_cluster(new, clock).map(cluster_answer)
    }
}

pub(crate) struct DescribeCacheClusters;

impl Operation for DescribeCacheClusters {
    const NAME: &'static str = "DescribeCacheClusters";
    type Input = (Option<String>, bool, bool, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        Ok((
            lower(params, "CacheClusterId"),
            params.bool("ShowCacheNodeInfo")?.unwrap_or(false),
            params
                .bool("ShowCacheClustersNotInReplicationGroups")?
                .unwrap_or(false),
            marker_page(params)?,
        ))
    }

    fn apply(
        store: &mut Store,
        (id, show_nodes, standalone, page): Self::Input,
        _: Clock,
    ) -> Result<Output, ApiError> {
        store
            .describe_cache_clusters(id.as_deref(), standalone, &page)
            .map(|page| Output::Replication(Answer::CacheClusters(page, show_nodes)))
    }
}

pub(crate) struct ModifyCacheCluster;

impl Operation for ModifyCacheCluster {
    const NAME: &'static str = "ModifyCacheCluster";
    type Input = ClusterChanges;

    fn parse(params: &Params) -> Result<ClusterChanges, ApiError> {
        if params.has_struct("NewAvailabilityZones") || params.has_struct("AZMode") {
            return Err(ApiError::invalid(
                "NewAvailabilityZones",
                "the elasticache-grpc emulator does not move memcached nodes between zones",
            ));
        }
        if params.has_struct("ScaleConfig") {
            return Err(ApiError::invalid(
                "ScaleConfig",
                "the elasticache-grpc emulator does not emulate memcached vertical scaling configs",
            ));
        }
        Ok(ClusterChanges {
            id: cluster_id(params)?,
            num_cache_nodes: count(params, "NumCacheNodes", 1..=i64::from(u16::MAX))?,
            node_ids_to_remove: params
                .list("CacheNodeIdsToRemove", "CacheNodeId")?
                .unwrap_or_default(),
            settings: settings_changes(params)?,
        })
    }

    fn apply(store: &mut Store, changes: ClusterChanges, clock: Clock) -> Result<Output, ApiError> {
        store
            .modify_cache_cluster(changes, clock)
            .map(cluster_answer)
    }
}

pub(crate) struct RebootCacheCluster;

impl Operation for RebootCacheCluster {
    const NAME: &'static str = "RebootCacheCluster";
    type Input = (String, Vec<String>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let id = cluster_id(params)?;
        let nodes = params
            .list("CacheNodeIdsToReboot", "CacheNodeId")?
            .filter(|nodes| !nodes.is_empty())
            .ok_or_else(|| ApiError::missing("CacheNodeIdsToReboot"))?;
        Ok((id, nodes))
    }

    fn apply(
        store: &mut Store,
        (id, nodes): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        store
            .reboot_cache_cluster(&id, &nodes, clock)
            .map(cluster_answer)
    }
}

pub(crate) struct DeleteCacheCluster;

impl Operation for DeleteCacheCluster {
    const NAME: &'static str = "DeleteCacheCluster";
    type Input = (String, Option<String>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let final_snapshot = match params.get("FinalSnapshotIdentifier") {
            Some(name) => Some(snapshot_name("FinalSnapshotIdentifier", name)?),
            None => None,
        };
        Ok((cluster_id(params)?, final_snapshot))
    }

    fn apply(
        store: &mut Store,
        (id, final_snapshot): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        store
            .delete_cache_cluster(&id, final_snapshot, clock)
            .map(cluster_answer)
    }
}

/// Snapshot names: 1–255 characters, not starting with `automatic.` (reserved for the
/// service's own).
fn snapshot_name(parameter: &str, name: &str) -> Result<String, ApiError> {
    if name.is_empty() {
        return Err(ApiError::missing(parameter));
    }
    if name.chars().count() > 255 {
        return Err(ApiError::invalid(
            parameter,
            "must be at most 255 characters",
        ));
    }
    if name.starts_with("automatic.") {
        return Err(ApiError::invalid(
            parameter,
            "names starting with automatic. are reserved for automatic snapshots",
        ));
    }
    Ok(name.to_owned())
}

pub(crate) struct CreateSnapshot;

impl Operation for CreateSnapshot {
    const NAME: &'static str = "CreateSnapshot";
    type Input = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Vec<Tag>,
    );

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = snapshot_name("SnapshotName", params.required("SnapshotName")?)?;
        let group = lower(params, "ReplicationGroupId");
        let cluster = lower(params, "CacheClusterId");
        if group.is_some() == cluster.is_some() {
            return Err(ApiError::combination(
                "Exactly one of ReplicationGroupId and CacheClusterId must be specified",
            ));
        }
        Ok((
            name,
            group,
            cluster,
            non_empty(params, "KmsKeyId"),
            tags(params)?,
        ))
    }

    fn apply(
        store: &mut Store,
        (name, group, cluster, kms_key_id, tags): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        store
            .create_classic_snapshot(
                name,
                group.as_deref(),
                cluster.as_deref(),
                kms_key_id,
                tags,
                clock,
            )
            .map(snapshot_answer)
    }
}

pub(crate) struct DescribeSnapshots;

impl Operation for DescribeSnapshots {
    const NAME: &'static str = "DescribeSnapshots";
    type Input = (SnapshotFilter, bool, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let source = one_of(params, "SnapshotSource", &["manual", "system"])?;
        let filter = SnapshotFilter {
            replication_group_id: lower(params, "ReplicationGroupId"),
            cache_cluster_id: lower(params, "CacheClusterId"),
            snapshot_name: non_empty(params, "SnapshotName"),
            include_manual: source.as_deref() != Some("system"),
        };
        let show_config = params.bool("ShowNodeGroupConfig")?.unwrap_or(false);
        // DescribeSnapshots pages by 20 to 50 records.
        let max = int_in(params, "MaxRecords", 20..=50)?.unwrap_or(50);
        let page = PageRequest {
            next_token: params.get("Marker").map(str::to_owned),
            max_results: usize::try_from(max).unwrap_or(50),
        };
        Ok((filter, show_config, page))
    }

    fn apply(
        store: &mut Store,
        (filter, show_config, page): Self::Input,
        _: Clock,
    ) -> Result<Output, ApiError> {
        store
            .describe_classic_snapshots(&filter, &page)
            .map(|page| Output::Replication(Answer::Snapshots(page, show_config)))
    }
}

pub(crate) struct CopySnapshot;

impl Operation for CopySnapshot {
    const NAME: &'static str = "CopySnapshot";
    type Input = (String, String, Option<String>, Option<String>, Vec<Tag>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let source = params.required("SourceSnapshotName")?.to_owned();
        let target = snapshot_name("TargetSnapshotName", params.required("TargetSnapshotName")?)?;
        let bucket = non_empty(params, "TargetBucket");
        Ok((
            source,
            target,
            bucket,
            non_empty(params, "KmsKeyId"),
            tags(params)?,
        ))
    }

    fn apply(
        store: &mut Store,
        (source, target, bucket, kms_key_id, tags): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        match bucket {
            // An export: objects in the bucket, no new ElastiCache snapshot.
            Some(bucket) => store
                .export_classic_snapshot(&source, &target, &bucket, clock)
                .map(snapshot_answer),
            None => store
                .copy_classic_snapshot(&source, target, kms_key_id, tags, clock)
                .map(snapshot_answer),
        }
    }
}

pub(crate) struct DeleteSnapshot;

impl Operation for DeleteSnapshot {
    const NAME: &'static str = "DeleteSnapshot";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        Ok(params.required("SnapshotName")?.to_owned())
    }

    fn apply(store: &mut Store, name: String, clock: Clock) -> Result<Output, ApiError> {
        store
            .delete_classic_snapshot(&name, clock)
            .map(snapshot_answer)
    }
}

pub(crate) struct ListAllowedNodeTypeModifications;

impl Operation for ListAllowedNodeTypeModifications {
    const NAME: &'static str = "ListAllowedNodeTypeModifications";
    type Input = (Option<String>, Option<String>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        Ok((
            lower(params, "ReplicationGroupId"),
            lower(params, "CacheClusterId"),
        ))
    }

    fn apply(
        store: &mut Store,
        (group, cluster): Self::Input,
        _: Clock,
    ) -> Result<Output, ApiError> {
        let (up, down) = store.allowed_node_types(group.as_deref(), cluster.as_deref())?;
        Ok(Output::Replication(Answer::NodeTypes(up, down)))
    }
}
