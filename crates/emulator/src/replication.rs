//! Node-based ElastiCache: replication groups, the cache clusters they own and standalone cache
//! clusters, and classic snapshots of either — their state machine, the service's rules and their
//! XML shapes (`ReplicationGroup`, `CacheCluster`, `Snapshot`).
//!
//! Transitions, computed lazily like the serverless ones:
//!
//! * a group or cluster is `creating`, `modifying`, `rebooting cache cluster nodes` or `deleting`
//!   for `settle_time`, then `available` (or gone);
//! * the source of a snapshot is `snapshotting` for as long as the snapshot is `creating`;
//! * a snapshot is `creating` or `deleting` for `settle_time`; it outlives what it was taken of.
//!
//! A held name freezes the group, cluster or snapshot of that name; holding a group's name also
//! freezes its member clusters.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::error::{ApiError, Fault};
use super::events::SourceType;
use super::model::SnapshotStatus;
use super::parameters::{default_parameter_group, engine_version, family_of};
use super::query::Tag;
use super::store::{Clock, Page, PageRequest, Store, TokenKind, merge_tags, paginate, region_code};
use super::xml::XmlWriter;

/// Hash slots of a Valkey or Redis OSS cluster.
const SLOTS: u32 = 16_384;
/// Replicas a node group may have.
pub(crate) const MAX_REPLICAS: usize = 5;
/// Nodes a Memcached cluster may have.
pub(crate) const MAX_MEMCACHED_NODES: usize = 40;

/// Lifecycle of a replication group or cache cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Status {
    Creating,
    Available,
    Modifying,
    Snapshotting,
    Rebooting,
    Deleting,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Available => "available",
            Status::Modifying => "modifying",
            Status::Snapshotting => "snapshotting",
            Status::Rebooting => "rebooting cache cluster nodes",
            Status::Deleting => "deleting",
        }
    }
}

/// A cache cluster in a node group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Member {
    pub(crate) cluster_id: String,
    pub(crate) az: String,
    pub(crate) primary: bool,
}

/// A shard: a primary and its replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeGroup {
    pub(crate) id: String,
    pub(crate) slots: Option<String>,
    pub(crate) members: Vec<Member>,
}

impl NodeGroup {
    pub(crate) fn replicas(&self) -> usize {
        self.members.iter().filter(|m| !m.primary).count()
    }
}

/// Settings a replication group and its member clusters share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Settings {
    pub(crate) engine: String,
    pub(crate) engine_version: String,
    pub(crate) cache_node_type: String,
    pub(crate) parameter_group: String,
    pub(crate) subnet_group: String,
    pub(crate) security_group_ids: Vec<String>,
    pub(crate) maintenance_window: String,
    pub(crate) snapshot_retention_limit: i64,
    pub(crate) snapshot_window: String,
    pub(crate) port: u16,
    pub(crate) transit_encryption: bool,
    pub(crate) at_rest_encryption: bool,
    pub(crate) auth_token: bool,
    pub(crate) auto_minor_version_upgrade: bool,
    pub(crate) network_type: String,
    pub(crate) ip_discovery: String,
    pub(crate) notification_topic_arn: Option<String>,
}

/// A replication group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReplicationGroup {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) status: Status,
    #[serde(with = "crate::wall_time::deadline")]
    pub(crate) settles_at: Option<Instant>,
    pub(crate) created: SystemTime,
    pub(crate) settings: Settings,
    pub(crate) cluster_enabled: bool,
    pub(crate) cluster_mode: String,
    pub(crate) node_groups: Vec<NodeGroup>,
    pub(crate) automatic_failover: bool,
    pub(crate) multi_az: bool,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) user_group_ids: Vec<String>,
    pub(crate) snapshotting_cluster_id: Option<String>,
    pub(crate) arn: String,
    /// The random part of its endpoints' host names.
    pub(crate) suffix: String,
    pub(crate) region_code: String,
    /// The snapshot being taken of it, while it is `snapshotting`.
    pub(crate) snapshot_in_progress: Option<String>,
    /// Whether the current `modifying` moves slots between node groups.
    pub(crate) resharding: bool,
    /// The global datastore it is the primary of.
    pub(crate) global_replication_group_id: Option<String>,
    pub(crate) tags: Vec<Tag>,
    /// The member cluster a `TestFailover` under way took the primary role from: its node is
    /// recovering until the group settles. (Absent from state files written before it was
    /// kept.)
    #[serde(default)]
    pub(crate) recovering: Option<String>,
}

impl ReplicationGroup {
    pub(crate) fn member_ids(&self) -> impl Iterator<Item = &str> {
        self.node_groups
            .iter()
            .flat_map(|group| group.members.iter().map(|m| m.cluster_id.as_str()))
    }

    fn host(&self, prefix: &str, kind: &str) -> String {
        format!(
            "{prefix}.{}.{kind}.{}.cache.amazonaws.com",
            self.suffix, self.region_code
        )
    }

    /// Writes the members of a `ReplicationGroup` (the caller writes the enclosing element).
    pub(crate) fn write_members(&self, xml: &mut XmlWriter) {
        let port = self.settings.port;
        xml.text("ReplicationGroupId", &self.id);
        xml.text("Description", &self.description);
        if let Some(global) = &self.global_replication_group_id {
            xml.element("GlobalReplicationGroupInfo", |xml| {
                xml.text("GlobalReplicationGroupId", global);
                xml.text("GlobalReplicationGroupMemberRole", "PRIMARY");
            });
        }
        xml.text("Status", self.status.as_str());
        xml.element("PendingModifiedValues", |xml| {
            if self.resharding {
                xml.element("Resharding", |xml| {
                    xml.element("SlotMigration", |xml| xml.value("ProgressPercentage", 0.0));
                });
            }
        });
        let mut members: Vec<&str> = self.member_ids().collect();
        members.sort_unstable();
        xml.element("MemberClusters", |xml| {
            for id in members {
                xml.text("ClusterId", id);
            }
        });
        let group_status = match self.status {
            Status::Creating => "creating",
            Status::Modifying | Status::Deleting => "modifying",
            _ => "available",
        };
        xml.element("NodeGroups", |xml| {
            for group in &self.node_groups {
                xml.element("NodeGroup", |xml| {
                    xml.text("NodeGroupId", &group.id);
                    xml.text("Status", group_status);
                    if !self.cluster_enabled {
                        let endpoint = format!("ng.{}", group.id);
                        write_endpoint(
                            xml,
                            "PrimaryEndpoint",
                            &self.host(&self.id, &endpoint),
                            port,
                        );
                        let reader = format!("{}-ro", self.id);
                        write_endpoint(xml, "ReaderEndpoint", &self.host(&reader, &endpoint), port);
                    }
                    xml.opt_text("Slots", group.slots.as_deref());
                    xml.element("NodeGroupMembers", |xml| {
                        for member in &group.members {
                            xml.element("NodeGroupMember", |xml| {
                                xml.text("CacheClusterId", &member.cluster_id);
                                xml.text("CacheNodeId", "0001");
                                if !self.cluster_enabled {
                                    let host = self.host(&member.cluster_id, "0001");
                                    write_endpoint(xml, "ReadEndpoint", &host, port);
                                }
                                xml.text("PreferredAvailabilityZone", &member.az);
                                if !self.cluster_enabled {
                                    let role = if member.primary { "primary" } else { "replica" };
                                    xml.text("CurrentRole", role);
                                }
                            });
                        }
                    });
                });
            }
        });
        xml.opt_text(
            "SnapshottingClusterId",
            self.snapshotting_cluster_id.as_deref(),
        );
        xml.text("AutomaticFailover", enabled(self.automatic_failover));
        xml.text("MultiAZ", enabled(self.multi_az));
        if self.cluster_enabled {
            let host = self.host(&self.id, "clustercfg");
            write_endpoint(xml, "ConfigurationEndpoint", &host, port);
        }
        xml.value(
            "SnapshotRetentionLimit",
            self.settings.snapshot_retention_limit,
        );
        xml.text("SnapshotWindow", &self.settings.snapshot_window);
        xml.value("ClusterEnabled", self.cluster_enabled);
        xml.text("CacheNodeType", &self.settings.cache_node_type);
        xml.value("AuthTokenEnabled", self.settings.auth_token);
        xml.value("TransitEncryptionEnabled", self.settings.transit_encryption);
        xml.value("AtRestEncryptionEnabled", self.settings.at_rest_encryption);
        xml.opt_text("KmsKeyId", self.kms_key_id.as_deref());
        xml.text("ARN", &self.arn);
        xml.text_list("UserGroupIds", "member", &self.user_group_ids);
        xml.element("LogDeliveryConfigurations", |_| {});
        xml.timestamp("ReplicationGroupCreateTime", self.created);
        xml.text("DataTiering", "disabled");
        xml.value(
            "AutoMinorVersionUpgrade",
            self.settings.auto_minor_version_upgrade,
        );
        xml.text("NetworkType", &self.settings.network_type);
        xml.text("IpDiscovery", &self.settings.ip_discovery);
        if self.settings.transit_encryption {
            xml.text("TransitEncryptionMode", "required");
        }
        xml.text("ClusterMode", &self.cluster_mode);
        xml.text("Engine", &self.settings.engine);
    }
}

fn enabled(on: bool) -> &'static str {
    if on { "enabled" } else { "disabled" }
}

fn write_endpoint(xml: &mut XmlWriter, name: &str, address: &str, port: u16) {
    xml.element(name, |xml| {
        xml.text("Address", address);
        xml.value("Port", port);
    });
}

/// A node of a cache cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CacheNode {
    pub(crate) id: String,
    pub(crate) created: SystemTime,
    pub(crate) az: String,
    /// Added by a modification still under way.
    pub(crate) adding: bool,
    /// Being removed by a modification under way.
    pub(crate) removing: bool,
    /// Named by a `RebootCacheCluster` under way: only the nodes it names reboot, the others
    /// keep serving. (Absent from state files written before it was kept.)
    #[serde(default)]
    pub(crate) rebooting: bool,
}

/// Changes waiting for the maintenance window (`ApplyImmediately=false`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub(crate) num_cache_nodes: Option<usize>,
    pub(crate) node_ids_to_remove: Vec<String>,
    pub(crate) engine_version: Option<String>,
    pub(crate) cache_node_type: Option<String>,
}

/// A cache cluster: standalone, or a member of a replication group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CacheCluster {
    pub(crate) id: String,
    pub(crate) status: Status,
    #[serde(with = "crate::wall_time::deadline")]
    pub(crate) settles_at: Option<Instant>,
    pub(crate) created: SystemTime,
    pub(crate) settings: Settings,
    pub(crate) nodes: Vec<CacheNode>,
    pub(crate) az: String,
    pub(crate) cross_az: bool,
    pub(crate) replication_group_id: Option<String>,
    pub(crate) arn: String,
    pub(crate) suffix: String,
    pub(crate) region_code: String,
    pub(crate) pending: Pending,
    pub(crate) snapshot_in_progress: Option<String>,
    pub(crate) tags: Vec<Tag>,
}

impl CacheCluster {
    fn memcached(&self) -> bool {
        self.settings.engine == "memcached"
    }

    fn node_host(&self, node: &str) -> String {
        format!(
            "{}.{}.{node}.{}.cache.amazonaws.com",
            self.id, self.suffix, self.region_code
        )
    }

    /// Writes the members of a `CacheCluster`; its nodes only when asked (`ShowCacheNodeInfo`).
    pub(crate) fn write_members(&self, xml: &mut XmlWriter, show_nodes: bool) {
        let port = self.settings.port;
        xml.text("CacheClusterId", &self.id);
        if self.memcached() {
            write_endpoint(xml, "ConfigurationEndpoint", &self.node_host("cfg"), port);
        }
        xml.text(
            "ClientDownloadLandingPage",
            "https://console.aws.amazon.com/elasticache/home#client-download:",
        );
        xml.text("CacheNodeType", &self.settings.cache_node_type);
        xml.text("Engine", &self.settings.engine);
        xml.text("EngineVersion", &self.settings.engine_version);
        xml.text("CacheClusterStatus", self.status.as_str());
        xml.value(
            "NumCacheNodes",
            self.nodes.iter().filter(|n| !n.adding).count(),
        );
        xml.text(
            "PreferredAvailabilityZone",
            if self.cross_az { "Multiple" } else { &self.az },
        );
        xml.timestamp("CacheClusterCreateTime", self.created);
        xml.text(
            "PreferredMaintenanceWindow",
            &self.settings.maintenance_window,
        );
        xml.element("PendingModifiedValues", |xml| {
            let pending = &self.pending;
            if let Some(count) = pending.num_cache_nodes {
                xml.value("NumCacheNodes", count);
            }
            if !pending.node_ids_to_remove.is_empty() {
                xml.text_list(
                    "CacheNodeIdsToRemove",
                    "CacheNodeId",
                    &pending.node_ids_to_remove,
                );
            }
            xml.opt_text("EngineVersion", pending.engine_version.as_deref());
            xml.opt_text("CacheNodeType", pending.cache_node_type.as_deref());
        });
        if let Some(topic) = &self.settings.notification_topic_arn {
            xml.element("NotificationConfiguration", |xml| {
                xml.text("TopicArn", topic);
                xml.text("TopicStatus", "active");
            });
        }
        xml.element("CacheSecurityGroups", |_| {});
        xml.element("CacheParameterGroup", |xml| {
            xml.text("CacheParameterGroupName", &self.settings.parameter_group);
            xml.text("ParameterApplyStatus", "in-sync");
            xml.element("CacheNodeIdsToReboot", |_| {});
        });
        xml.text("CacheSubnetGroupName", &self.settings.subnet_group);
        if show_nodes {
            xml.element("CacheNodes", |xml| {
                for node in &self.nodes {
                    xml.element("CacheNode", |xml| {
                        xml.text("CacheNodeId", &node.id);
                        let status = if node.removing {
                            "deleting"
                        } else if node.adding || self.status == Status::Creating {
                            "creating"
                        } else if node.rebooting {
                            "rebooting"
                        } else {
                            "available"
                        };
                        xml.text("CacheNodeStatus", status);
                        xml.timestamp("CacheNodeCreateTime", node.created);
                        write_endpoint(xml, "Endpoint", &self.node_host(&node.id), port);
                        xml.text("ParameterGroupStatus", "in-sync");
                        xml.text("CustomerAvailabilityZone", &node.az);
                    });
                }
            });
        }
        xml.value(
            "AutoMinorVersionUpgrade",
            self.settings.auto_minor_version_upgrade,
        );
        xml.element("SecurityGroups", |xml| {
            for id in &self.settings.security_group_ids {
                xml.element("member", |xml| {
                    xml.text("SecurityGroupId", id);
                    xml.text("Status", "active");
                });
            }
        });
        xml.opt_text("ReplicationGroupId", self.replication_group_id.as_deref());
        if !self.memcached() {
            xml.value(
                "SnapshotRetentionLimit",
                self.settings.snapshot_retention_limit,
            );
            xml.text("SnapshotWindow", &self.settings.snapshot_window);
        }
        xml.value("AuthTokenEnabled", self.settings.auth_token);
        xml.value("TransitEncryptionEnabled", self.settings.transit_encryption);
        xml.value("AtRestEncryptionEnabled", self.settings.at_rest_encryption);
        xml.text("ARN", &self.arn);
        xml.value("ReplicationGroupLogDeliveryEnabled", false);
        xml.element("LogDeliveryConfigurations", |_| {});
        xml.text("NetworkType", &self.settings.network_type);
        xml.text("IpDiscovery", &self.settings.ip_discovery);
        if self.settings.transit_encryption {
            xml.text("TransitEncryptionMode", "required");
        }
    }
}

/// One node group (or the single node of a cluster) as a snapshot records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotShard {
    pub(crate) node_group_id: String,
    pub(crate) cache_cluster_id: Option<String>,
    pub(crate) slots: Option<String>,
    pub(crate) replica_count: usize,
    pub(crate) primary_az: String,
    pub(crate) node_created: SystemTime,
}

/// A classic (node-based) snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClassicSnapshot {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) status: SnapshotStatus,
    #[serde(with = "crate::wall_time::deadline")]
    pub(crate) settles_at: Option<Instant>,
    pub(crate) created: SystemTime,
    pub(crate) replication_group_id: Option<String>,
    pub(crate) replication_group_description: Option<String>,
    pub(crate) cache_cluster_id: Option<String>,
    pub(crate) settings: Settings,
    pub(crate) cluster_enabled: bool,
    pub(crate) automatic_failover: bool,
    pub(crate) source_created: SystemTime,
    pub(crate) shards: Vec<SnapshotShard>,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) tags: Vec<Tag>,
}

impl ClassicSnapshot {
    /// Writes the members of a `Snapshot`; each node group's configuration only when asked
    /// (`ShowNodeGroupConfig`).
    pub(crate) fn write_members(&self, xml: &mut XmlWriter, show_config: bool) {
        let settings = &self.settings;
        xml.text("SnapshotName", &self.name);
        xml.opt_text("ReplicationGroupId", self.replication_group_id.as_deref());
        xml.opt_text(
            "ReplicationGroupDescription",
            self.replication_group_description.as_deref(),
        );
        xml.opt_text("CacheClusterId", self.cache_cluster_id.as_deref());
        xml.text("SnapshotStatus", self.status.as_str());
        xml.text("SnapshotSource", "manual");
        xml.text("CacheNodeType", &settings.cache_node_type);
        xml.text("Engine", &settings.engine);
        xml.text("EngineVersion", &settings.engine_version);
        if self.cache_cluster_id.is_some() {
            xml.value("NumCacheNodes", 1);
            if let Some(shard) = self.shards.first() {
                xml.text("PreferredAvailabilityZone", &shard.primary_az);
            }
            xml.timestamp("CacheClusterCreateTime", self.source_created);
        }
        xml.text("PreferredMaintenanceWindow", &settings.maintenance_window);
        xml.value("Port", settings.port);
        xml.text("CacheParameterGroupName", &settings.parameter_group);
        xml.text("CacheSubnetGroupName", &settings.subnet_group);
        xml.text("VpcId", "vpc-0a1b2c3d4e5f60000");
        xml.value(
            "AutoMinorVersionUpgrade",
            settings.auto_minor_version_upgrade,
        );
        xml.value("SnapshotRetentionLimit", settings.snapshot_retention_limit);
        xml.text("SnapshotWindow", &settings.snapshot_window);
        if self.replication_group_id.is_some() {
            xml.value("NumNodeGroups", self.shards.len());
            xml.text("AutomaticFailover", enabled(self.automatic_failover));
        }
        xml.element("NodeSnapshots", |xml| {
            for shard in &self.shards {
                xml.element("NodeSnapshot", |xml| {
                    xml.opt_text("CacheClusterId", shard.cache_cluster_id.as_deref());
                    xml.text("NodeGroupId", &shard.node_group_id);
                    xml.text("CacheNodeId", "0001");
                    if show_config {
                        xml.element("NodeGroupConfiguration", |xml| {
                            xml.text("NodeGroupId", &shard.node_group_id);
                            xml.opt_text("Slots", shard.slots.as_deref());
                            xml.value("ReplicaCount", shard.replica_count);
                            xml.text("PrimaryAvailabilityZone", &shard.primary_az);
                        });
                    }
                    xml.text("CacheSize", &format!("{} MB", 5 + shard.replica_count));
                    xml.timestamp("CacheNodeCreateTime", shard.node_created);
                    xml.timestamp("SnapshotCreateTime", self.created);
                });
            }
        });
        xml.opt_text("KmsKeyId", self.kms_key_id.as_deref());
        xml.text("ARN", &self.arn);
        xml.text("DataTiering", "disabled");
    }
}

/// Replication groups, cache clusters and classic snapshots, by (lower-case) id or name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Nodes {
    pub(crate) groups: BTreeMap<String, ReplicationGroup>,
    pub(crate) clusters: BTreeMap<String, CacheCluster>,
    pub(crate) snapshots: BTreeMap<String, ClassicSnapshot>,
    pub(crate) globals: BTreeMap<String, super::global::GlobalGroup>,
}

impl Nodes {
    /// Settles what is due at `now`, reporting through `pending` when the rest are due.
    pub(crate) fn settle(
        &mut self,
        held_names: &BTreeSet<String>,
        held_snapshots: &BTreeSet<String>,
        now: Instant,
        pending: &mut impl FnMut(Instant),
        log: &mut Vec<(Instant, SourceType, String, String)>,
    ) {
        let groups = &self.groups;
        self.snapshots
            .retain(|name, snapshot| match snapshot.settles_at {
                Some(_) if held_snapshots.contains(name) => true,
                Some(at) if at <= now => {
                    snapshot.settles_at = None;
                    let deleted = snapshot.status == SnapshotStatus::Deleting;
                    if snapshot.status == SnapshotStatus::Creating {
                        // An event of the cache cluster the snapshot was taken from, even one of
                        // a whole replication group (as botocore's DescribeEvents example has
                        // it).
                        let (what, id, source) =
                            match (&snapshot.cache_cluster_id, &snapshot.replication_group_id) {
                                (Some(id), _) => ("cache cluster", id.clone(), id.clone()),
                                (None, Some(group)) => (
                                    "replication group",
                                    group.clone(),
                                    snapshot_source(snapshot, groups.get(group)),
                                ),
                                (None, None) => ("cache cluster", name.clone(), name.clone()),
                            };
                        log.push((
                            at,
                            SourceType::CacheCluster,
                            source,
                            format!(
                                "Snapshot succeeded for snapshot with ID '{name}' of {what} with ID '{id}'"
                            ),
                        ));
                    }
                    snapshot.status = SnapshotStatus::Available;
                    !deleted
                }
                Some(at) => {
                    pending(at);
                    true
                }
                None => true,
            });
        let snapshots = &self.snapshots;
        // Whether the snapshot that keeps a source `snapshotting` is still being taken.
        let taking = |name: &Option<String>| {
            name.as_ref()
                .and_then(|name| snapshots.get(name))
                .is_some_and(|snapshot| snapshot.status == SnapshotStatus::Creating)
        };
        self.clusters.retain(|id, cluster| {
            let held = held_names.contains(id)
                || cluster
                    .replication_group_id
                    .as_ref()
                    .is_some_and(|group| held_names.contains(group));
            if cluster.status == Status::Snapshotting {
                if !held && !taking(&cluster.snapshot_in_progress) {
                    cluster.status = Status::Available;
                    cluster.snapshot_in_progress = None;
                }
                return true;
            }
            match cluster.settles_at {
                Some(_) if held => true,
                Some(at) if at <= now => {
                    cluster.settles_at = None;
                    let deleted = cluster.status == Status::Deleting;
                    let message = match cluster.status {
                        Status::Creating => "Cache cluster created".to_owned(),
                        Status::Deleting => "Cache cluster deleted".to_owned(),
                        Status::Rebooting => "Cache cluster nodes rebooted".to_owned(),
                        _ => "Cache cluster modified".to_owned(),
                    };
                    log.push((at, SourceType::CacheCluster, id.clone(), message));
                    // One event per node the cluster gained or lost, as botocore's
                    // DescribeEvents example has them.
                    let created = cluster.status == Status::Creating;
                    for node in &cluster.nodes {
                        let message = if node.removing {
                            format!("Removed cache nodes {}", node.id)
                        } else if created || node.adding {
                            format!(
                                "Added cache node {} in availability zone {}",
                                node.id, node.az
                            )
                        } else {
                            continue;
                        };
                        log.push((at, SourceType::CacheCluster, id.clone(), message));
                    }
                    cluster.status = Status::Available;
                    cluster.nodes.retain(|node| !node.removing);
                    for node in &mut cluster.nodes {
                        node.adding = false;
                        node.rebooting = false;
                    }
                    !deleted
                }
                Some(at) => {
                    pending(at);
                    true
                }
                None => true,
            }
        });
        self.globals.retain(|id, global| match global.settles_at {
            Some(_) if held_names.contains(id) => true,
            Some(at) if at <= now => {
                global.settles_at = None;
                let deleted = global.status == Status::Deleting;
                global.status = Status::Available;
                !deleted
            }
            Some(at) => {
                pending(at);
                true
            }
            None => true,
        });
        self.groups.retain(|id, group| {
            let held = held_names.contains(id);
            if group.status == Status::Snapshotting {
                if !held && !taking(&group.snapshot_in_progress) {
                    group.status = Status::Available;
                    group.snapshot_in_progress = None;
                }
                return true;
            }
            match group.settles_at {
                Some(_) if held => true,
                Some(at) if at <= now => {
                    group.settles_at = None;
                    let message = match group.status {
                        Status::Creating => format!("Replication group {id} created"),
                        Status::Deleting => format!("Replication group {id} deleted"),
                        _ if group.resharding => "Completed online resharding".to_owned(),
                        _ => format!("Replication group {id} modified"),
                    };
                    if let Some(cluster) = group.recovering.take() {
                        log.push((
                            at,
                            SourceType::CacheCluster,
                            cluster,
                            "Finished recovery for cache nodes 0001".to_owned(),
                        ));
                    }
                    log.push((at, SourceType::ReplicationGroup, id.clone(), message));
                    group.resharding = false;
                    let deleted = group.status == Status::Deleting;
                    group.status = Status::Available;
                    !deleted
                }
                Some(at) => {
                    pending(at);
                    true
                }
                None => true,
            }
        });
    }

    /// The earliest pending transition, to reschedule after a release.
    pub(crate) fn earliest(&self) -> Option<Instant> {
        let groups = self.groups.values().filter_map(|g| g.settles_at);
        let globals = self.globals.values().filter_map(|g| g.settles_at);
        let clusters = self.clusters.values().filter_map(|c| c.settles_at);
        let snapshots = self.snapshots.values().filter_map(|s| s.settles_at);
        groups.chain(globals).chain(clusters).chain(snapshots).min()
    }
}

/// The member cluster a snapshot of a whole replication group was taken from: the one its first
/// node group names (cluster mode disabled), else the first member of that node group in the
/// group (while it exists) or by the name ElastiCache gives it.
fn snapshot_source(snapshot: &ClassicSnapshot, group: Option<&ReplicationGroup>) -> String {
    let group_id = snapshot.replication_group_id.as_deref().unwrap_or_default();
    let Some(shard) = snapshot.shards.first() else {
        return group_id.to_owned();
    };
    if let Some(id) = &shard.cache_cluster_id {
        return id.clone();
    }
    group
        .and_then(|group| {
            group
                .node_groups
                .iter()
                .find(|g| g.id == shard.node_group_id)
        })
        .and_then(|node_group| node_group.members.first())
        .map(|member| member.cluster_id.clone())
        .unwrap_or_else(|| format!("{group_id}-{}-001", shard.node_group_id))
}

pub(crate) fn group_not_found(id: &str) -> ApiError {
    ApiError::new(
        Fault::ReplicationGroupNotFound,
        format!("ReplicationGroup {id} not found."),
    )
}

pub(crate) fn cluster_not_found(id: &str) -> ApiError {
    ApiError::new(
        Fault::CacheClusterNotFound,
        format!("CacheCluster {id} not found."),
    )
}

pub(crate) fn snapshot_not_found(name: &str) -> ApiError {
    ApiError::new(
        Fault::SnapshotNotFound,
        format!("Snapshot {name} not found."),
    )
}

pub(crate) fn group_state(group: &ReplicationGroup) -> ApiError {
    ApiError::new(
        Fault::InvalidReplicationGroupState,
        format!(
            "Replication group {} is {}; it must be available.",
            group.id,
            group.status.as_str()
        ),
    )
}

fn cluster_state(cluster: &CacheCluster) -> ApiError {
    ApiError::new(
        Fault::InvalidCacheClusterState,
        format!(
            "Cache cluster {} is {}; it must be available.",
            cluster.id,
            cluster.status.as_str()
        ),
    )
}

/// `n` equal ranges of the hash slots, as `0-5461`.
fn split_slots(n: usize) -> Vec<String> {
    let n = u32::try_from(n.max(1)).unwrap_or(1);
    (0..n)
        .map(|i| format!("{}-{}", i * SLOTS / n, (i + 1) * SLOTS / n - 1))
        .collect()
}

/// The zones of a region, in the order members are spread over them.
fn zone(region: &str, index: usize) -> String {
    format!("{region}{}", ['a', 'b', 'c'][index % 3])
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..6].to_owned()
}

/// The shape of a new replication group, validated for syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    /// Nothing said: one node group, as many clusters as a snapshot or primary imply.
    Default,
    /// `NumCacheClusters`: one node group of that many clusters.
    Clusters(usize),
    /// `NumNodeGroups` and/or `ReplicasPerNodeGroup`.
    Shards {
        node_groups: Option<usize>,
        replicas: Option<usize>,
    },
    /// `NodeGroupConfiguration`.
    Configured(Vec<ShardConfig>),
}

/// One `NodeGroupConfiguration` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ShardConfig {
    pub(crate) id: Option<String>,
    pub(crate) slots: Option<String>,
    pub(crate) replicas: Option<usize>,
    pub(crate) primary_az: Option<String>,
    pub(crate) replica_azs: Vec<String>,
}

/// The node settings `CreateReplicationGroup` and `CreateCacheCluster` both take, under the
/// same parameter names, validated for syntax.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeSettings {
    pub(crate) engine: Option<String>,
    pub(crate) engine_version: Option<String>,
    pub(crate) cache_node_type: Option<String>,
    pub(crate) parameter_group: Option<String>,
    pub(crate) subnet_group: Option<String>,
    pub(crate) security_group_ids: Option<Vec<String>>,
    /// The classic snapshot to restore from.
    pub(crate) snapshot_name: Option<String>,
    pub(crate) maintenance_window: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) notification_topic_arn: Option<String>,
    pub(crate) auto_minor_version_upgrade: Option<bool>,
    pub(crate) snapshot_retention_limit: Option<i64>,
    pub(crate) snapshot_window: Option<String>,
    /// Whether an `AuthToken` was given (the emulator keeps no secret).
    pub(crate) auth_token: bool,
    pub(crate) transit_encryption: Option<bool>,
    pub(crate) network_type: Option<String>,
    pub(crate) ip_discovery: Option<String>,
}

/// A `CreateReplicationGroup` request, validated for syntax.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewGroup {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) topology: Option<Topology>,
    pub(crate) preferred_azs: Vec<String>,
    pub(crate) primary_cluster_id: Option<String>,
    pub(crate) automatic_failover: Option<bool>,
    pub(crate) multi_az: Option<bool>,
    pub(crate) cluster_mode: Option<String>,
    pub(crate) settings: NodeSettings,
    pub(crate) at_rest_encryption: Option<bool>,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) user_group_ids: Vec<String>,
    pub(crate) tags: Vec<Tag>,
}

/// A `CreateCacheCluster` request, validated for syntax.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewCluster {
    pub(crate) id: String,
    pub(crate) replication_group_id: Option<String>,
    pub(crate) cross_az: bool,
    pub(crate) preferred_azs: Vec<String>,
    pub(crate) num_cache_nodes: Option<usize>,
    pub(crate) settings: NodeSettings,
    pub(crate) tags: Vec<Tag>,
}

/// The settings both kinds of change may carry.
#[derive(Debug, Clone, Default)]
pub(crate) struct SettingsChanges {
    pub(crate) engine: Option<String>,
    pub(crate) engine_version: Option<String>,
    pub(crate) cache_node_type: Option<String>,
    pub(crate) parameter_group: Option<String>,
    pub(crate) security_group_ids: Option<Vec<String>>,
    pub(crate) maintenance_window: Option<String>,
    pub(crate) snapshot_retention_limit: Option<i64>,
    pub(crate) snapshot_window: Option<String>,
    pub(crate) auto_minor_version_upgrade: Option<bool>,
    pub(crate) notification_topic_arn: Option<String>,
    pub(crate) apply_immediately: bool,
}

impl SettingsChanges {
    pub(crate) fn is_empty(&self) -> bool {
        self.engine.is_none()
            && self.engine_version.is_none()
            && self.cache_node_type.is_none()
            && self.parameter_group.is_none()
            && self.security_group_ids.is_none()
            && self.maintenance_window.is_none()
            && self.snapshot_retention_limit.is_none()
            && self.snapshot_window.is_none()
            && self.auto_minor_version_upgrade.is_none()
            && self.notification_topic_arn.is_none()
    }
}

/// A `ModifyReplicationGroup` request, validated for syntax.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupChanges {
    pub(crate) id: String,
    pub(crate) description: Option<String>,
    pub(crate) primary_cluster_id: Option<String>,
    pub(crate) snapshotting_cluster_id: Option<String>,
    pub(crate) automatic_failover: Option<bool>,
    pub(crate) multi_az: Option<bool>,
    pub(crate) user_group_ids_to_add: Vec<String>,
    pub(crate) user_group_ids_to_remove: Vec<String>,
    pub(crate) remove_user_groups: bool,
    pub(crate) settings: SettingsChanges,
}

/// A `ModifyCacheCluster` request, validated for syntax.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClusterChanges {
    pub(crate) id: String,
    pub(crate) num_cache_nodes: Option<usize>,
    pub(crate) node_ids_to_remove: Vec<String>,
    pub(crate) settings: SettingsChanges,
}

/// How `IncreaseReplicaCount` and `DecreaseReplicaCount` name the new replica counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplicaChanges {
    pub(crate) id: String,
    pub(crate) new_replica_count: Option<usize>,
    /// `(node group id, new replica count)`.
    pub(crate) per_shard: Vec<(String, usize)>,
    pub(crate) replicas_to_remove: Vec<String>,
}

/// A `ModifyReplicationGroupShardConfiguration` request, validated for syntax.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShardChanges {
    pub(crate) id: String,
    pub(crate) node_group_count: usize,
    pub(crate) to_remove: Vec<String>,
    pub(crate) to_retain: Vec<String>,
}

/// Filters of `DescribeSnapshots`.
#[derive(Debug, Clone, Default)]
pub(crate) struct SnapshotFilter {
    pub(crate) replication_group_id: Option<String>,
    pub(crate) cache_cluster_id: Option<String>,
    pub(crate) snapshot_name: Option<String>,
    /// `false` when asked for `system` (automatic) snapshots, which the emulator never takes.
    pub(crate) include_manual: bool,
}

/// What the operations of this family answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    ReplicationGroup(Box<ReplicationGroup>),
    ReplicationGroups(Page<ReplicationGroup>),
    CacheCluster(Box<CacheCluster>),
    CacheClusters(Page<CacheCluster>, bool),
    Snapshot(Box<ClassicSnapshot>),
    Snapshots(Page<ClassicSnapshot>, bool),
    /// `ListAllowedNodeTypeModifications`: the types to scale up and down to.
    NodeTypes(Vec<String>, Vec<String>),
}

impl Answer {
    pub(crate) fn write(&self, xml: &mut XmlWriter) {
        match self {
            Answer::ReplicationGroup(group) => {
                xml.element("ReplicationGroup", |xml| group.write_members(xml));
            }
            Answer::ReplicationGroups(page) => {
                xml.opt_text("Marker", page.next_token.as_deref());
                xml.element("ReplicationGroups", |xml| {
                    for group in &page.items {
                        xml.element("ReplicationGroup", |xml| group.write_members(xml));
                    }
                });
            }
            Answer::CacheCluster(cluster) => {
                xml.element("CacheCluster", |xml| cluster.write_members(xml, true));
            }
            Answer::CacheClusters(page, show_nodes) => {
                xml.opt_text("Marker", page.next_token.as_deref());
                xml.element("CacheClusters", |xml| {
                    for cluster in &page.items {
                        xml.element("CacheCluster", |xml| {
                            cluster.write_members(xml, *show_nodes)
                        });
                    }
                });
            }
            Answer::Snapshot(snapshot) => {
                xml.element("Snapshot", |xml| snapshot.write_members(xml, true));
            }
            Answer::NodeTypes(up, down) => {
                xml.text_list("ScaleUpModifications", "member", up);
                xml.text_list("ScaleDownModifications", "member", down);
            }
            Answer::Snapshots(page, show_config) => {
                xml.opt_text("Marker", page.next_token.as_deref());
                xml.element("Snapshots", |xml| {
                    for snapshot in &page.items {
                        xml.element("Snapshot", |xml| snapshot.write_members(xml, *show_config));
                    }
                });
            }
        }
    }
}

impl Store {
    pub(crate) fn nodes_group(&self, id: &str) -> Result<&ReplicationGroup, ApiError> {
        self.nodes.groups.get(id).ok_or_else(|| group_not_found(id))
    }

    pub(crate) fn nodes_group_mut(&mut self, id: &str) -> Result<&mut ReplicationGroup, ApiError> {
        self.nodes
            .groups
            .get_mut(id)
            .ok_or_else(|| group_not_found(id))
    }

    fn nodes_cluster(&self, id: &str) -> Result<&CacheCluster, ApiError> {
        self.nodes
            .clusters
            .get(id)
            .ok_or_else(|| cluster_not_found(id))
    }

    fn nodes_cluster_mut(&mut self, id: &str) -> Result<&mut CacheCluster, ApiError> {
        self.nodes
            .clusters
            .get_mut(id)
            .ok_or_else(|| cluster_not_found(id))
    }

    /// The replication group, if it exists and is `available`.
    pub(crate) fn available_replication_group(&self, id: &str) -> Result<(), ApiError> {
        let group = self.nodes_group(id)?;
        if group.status != Status::Available {
            return Err(group_state(group));
        }
        Ok(())
    }

    /// What uses a parameter group, if anything does.
    pub(crate) fn parameter_group_user(&self, name: &str) -> Option<String> {
        let groups = self.nodes.groups.values();
        let clusters = self.nodes.clusters.values();
        groups
            .filter(|g| g.settings.parameter_group == name)
            .map(|g| format!("replication group {}", g.id))
            .chain(
                clusters
                    .filter(|c| c.settings.parameter_group == name)
                    .map(|c| format!("cache cluster {}", c.id)),
            )
            .next()
    }

    /// What uses a subnet group, if anything does.
    pub(crate) fn subnet_group_user(&self, name: &str) -> Option<String> {
        self.nodes
            .clusters
            .values()
            .find(|c| c.settings.subnet_group == name)
            .map(|c| format!("cache cluster {}", c.id))
    }

    /// The replication groups using a user group.
    pub(crate) fn user_group_replication_groups(&self, id: &str) -> Vec<String> {
        self.nodes
            .groups
            .values()
            .filter(|g| g.user_group_ids.iter().any(|u| u == id))
            .map(|g| g.id.clone())
            .collect()
    }

    /// Resolves the parameter group of an engine version: the named one (which must exist and
    /// be of the version's family) or the family's default.
    fn resolve_parameter_group(
        &self,
        name: Option<&str>,
        family: &str,
        cluster_enabled: bool,
    ) -> Result<String, ApiError> {
        let Some(name) = name else {
            return Ok(default_parameter_group(family, cluster_enabled));
        };
        let group = self.catalog.parameter_group(name)?;
        if group.family != family {
            return Err(ApiError::combination(format!(
                "The parameter group {name} is of family {}, not {family} as the engine version",
                group.family
            )));
        }
        Ok(group.name.clone())
    }

    /// Refuses a request that would take the account past its cluster or node quota.
    fn check_capacity(&self, clusters: usize, nodes: usize) -> Result<(), ApiError> {
        if self.nodes.clusters.len() + clusters > self.quotas.clusters {
            return Err(ApiError::new(
                Fault::ClusterQuotaForCustomerExceeded,
                format!(
                    "You have reached the limit of {} cache clusters.",
                    self.quotas.clusters
                ),
            ));
        }
        let used: usize = self.nodes.clusters.values().map(|c| c.nodes.len()).sum();
        if used + nodes > self.quotas.nodes {
            return Err(ApiError::new(
                Fault::NodeQuotaForCustomerExceeded,
                format!(
                    "You have reached the limit of {} cache nodes.",
                    self.quotas.nodes
                ),
            ));
        }
        Ok(())
    }

    fn check_snapshot_free(&self, name: &str) -> Result<(), ApiError> {
        if self.nodes.snapshots.contains_key(name) {
            return Err(ApiError::new(
                Fault::SnapshotAlreadyExists,
                format!("Snapshot {name} already exists."),
            ));
        }
        if self.nodes.snapshots.len() >= self.quotas.snapshots {
            return Err(ApiError::new(
                Fault::SnapshotQuotaExceeded,
                format!(
                    "You have reached the limit of {} snapshots.",
                    self.quotas.snapshots
                ),
            ));
        }
        Ok(())
    }

    fn available_snapshot(&self, name: &str) -> Result<&ClassicSnapshot, ApiError> {
        let snapshot = self.nodes.snapshots.get(name).ok_or_else(|| {
            ApiError::invalid("SnapshotName", format!("Snapshot {name} not found"))
        })?;
        if snapshot.status != SnapshotStatus::Available {
            return Err(ApiError::new(
                Fault::InvalidSnapshotState,
                format!(
                    "Snapshot {name} is {}; it must be available.",
                    snapshot.status.as_str()
                ),
            ));
        }
        Ok(snapshot)
    }

    fn check_node_type(node_type: Option<&str>) -> Result<String, ApiError> {
        let Some(node_type) = node_type else {
            return Err(ApiError::invalid(
                "CacheNodeType",
                "The parameter CacheNodeType must be provided and must not be blank.",
            ));
        };
        let parts: Vec<&str> = node_type.split('.').collect();
        let valid = parts.len() == 3
            && parts[0] == "cache"
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !valid {
            return Err(ApiError::invalid(
                "CacheNodeType",
                format!("{node_type} is not a cache node type (e.g. cache.t3.micro)"),
            ));
        }
        Ok(node_type.to_owned())
    }

    pub(crate) fn create_replication_group(
        &mut self,
        new: NewGroup,
        clock: Clock,
    ) -> Result<ReplicationGroup, ApiError> {
        if self.nodes.groups.contains_key(&new.id) {
            return Err(ApiError::new(
                Fault::ReplicationGroupAlreadyExists,
                format!("Replication group {} already exists.", new.id),
            ));
        }
        // What a snapshot or an existing primary brings.
        let snapshot = match &new.settings.snapshot_name {
            Some(name) => Some(self.available_snapshot(name)?.clone()),
            None => None,
        };
        let primary = match &new.primary_cluster_id {
            Some(id) => {
                let cluster = self.nodes_cluster(id)?;
                if cluster.status != Status::Available {
                    return Err(cluster_state(cluster));
                }
                if let Some(group) = &cluster.replication_group_id {
                    return Err(ApiError::new(
                        Fault::InvalidCacheClusterState,
                        format!("Cache cluster {id} already belongs to replication group {group}."),
                    ));
                }
                Some(cluster.clone())
            }
            None => None,
        };
        if snapshot.is_some() && primary.is_some() {
            return Err(ApiError::combination(
                "PrimaryClusterId and SnapshotName cannot be specified together",
            ));
        }
        let base = snapshot
            .as_ref()
            .map(|s| &s.settings)
            .or(primary.as_ref().map(|c| &c.settings));
        let engine = new
            .settings
            .engine
            .clone()
            .or_else(|| base.map(|b| b.engine.clone()))
            .unwrap_or_else(|| "redis".to_owned());
        if engine == "memcached" {
            return Err(ApiError::invalid(
                "Engine",
                "replication groups are for valkey and redis; memcached clusters are created with CreateCacheCluster",
            ));
        }
        if let Some(base) = base
            && base.engine == "memcached"
        {
            return Err(ApiError::invalid(
                "PrimaryClusterId",
                "a memcached cluster cannot be the primary of a replication group",
            ));
        }
        let wanted_version = new.settings.engine_version.clone().or_else(|| {
            base.filter(|b| b.engine == engine)
                .map(|b| b.engine_version.clone())
        });
        let version = engine_version(&engine, wanted_version.as_deref())?;
        let family = family_of(&engine, version).unwrap_or_default();
        let node_type = Self::check_node_type(
            new.settings
                .cache_node_type
                .as_deref()
                .or(base.map(|b| b.cache_node_type.as_str())),
        )?;
        let named_group = match &new.settings.parameter_group {
            Some(name) => Some(self.catalog.parameter_group(name)?.clone()),
            None => None,
        };

        // Topology: (slots, replicas, primary zone, replica zones) per node group.
        let topology = new.topology.clone().unwrap_or(Topology::Default);
        let mut shards: Vec<ShardConfig> = match &topology {
            Topology::Default => match &snapshot {
                Some(snapshot) => snapshot
                    .shards
                    .iter()
                    .map(|shard| ShardConfig {
                        id: Some(shard.node_group_id.clone()),
                        slots: shard.slots.clone(),
                        replicas: Some(0),
                        ..ShardConfig::default()
                    })
                    .collect(),
                None => vec![ShardConfig {
                    replicas: Some(0),
                    ..ShardConfig::default()
                }],
            },
            Topology::Clusters(count) => vec![ShardConfig {
                replicas: Some(count.saturating_sub(1)),
                ..ShardConfig::default()
            }],
            Topology::Shards {
                node_groups,
                replicas,
            } => {
                let count = node_groups
                    .or(snapshot.as_ref().map(|s| s.shards.len()))
                    .unwrap_or(1);
                vec![
                    ShardConfig {
                        replicas: Some(replicas.unwrap_or(0)),
                        ..ShardConfig::default()
                    };
                    count
                ]
            }
            Topology::Configured(shards) => shards.clone(),
        };
        if shards.len() > self.quotas.node_groups_per_group {
            return Err(ApiError::new(
                Fault::NodeGroupsPerReplicationGroupQuotaExceeded,
                format!(
                    "{} node groups requested; a replication group can have at most {}.",
                    shards.len(),
                    self.quotas.node_groups_per_group
                ),
            ));
        }
        let cluster_enabled = match new.cluster_mode.as_deref() {
            Some("enabled") => true,
            Some("disabled") => false,
            _ => {
                shards.len() > 1
                    || named_group.as_ref().is_some_and(|g| g.cluster_enabled())
                    || snapshot.as_ref().is_some_and(|s| s.cluster_enabled)
            }
        };
        if !cluster_enabled && shards.len() > 1 {
            return Err(ApiError::combination(
                "A replication group with cluster mode disabled has exactly one node group",
            ));
        }
        if let Some(group) = &named_group
            && group.cluster_enabled() != cluster_enabled
        {
            return Err(ApiError::combination(format!(
                "The parameter group {} has cluster-enabled {}, which does not match the replication group's cluster mode",
                group.name,
                if group.cluster_enabled() { "yes" } else { "no" }
            )));
        }
        if cluster_enabled && primary.is_some() {
            return Err(ApiError::combination(
                "PrimaryClusterId cannot be used for a cluster mode enabled replication group",
            ));
        }
        if matches!(topology, Topology::Clusters(_)) && cluster_enabled {
            return Err(ApiError::combination(
                "NumCacheClusters is for cluster mode disabled; use NumNodeGroups and ReplicasPerNodeGroup",
            ));
        }
        let parameter_group = self.resolve_parameter_group(
            new.settings.parameter_group.as_deref(),
            family,
            cluster_enabled,
        )?;
        let min_replicas = shards
            .iter()
            .map(|s| s.replicas.unwrap_or(0))
            .min()
            .unwrap_or(0);
        let automatic_failover = new.automatic_failover.unwrap_or(cluster_enabled);
        if cluster_enabled && !automatic_failover {
            return Err(ApiError::combination(
                "Automatic failover must be enabled for a cluster mode enabled replication group",
            ));
        }
        if automatic_failover && !cluster_enabled && min_replicas == 0 {
            return Err(ApiError::combination(
                "Automatic failover needs at least one read replica (NumCacheClusters of 2 or more)",
            ));
        }
        let multi_az = new.multi_az.unwrap_or(false);
        if multi_az && !automatic_failover {
            return Err(ApiError::combination(
                "Multi-AZ needs automatic failover enabled",
            ));
        }
        let subnet_group = new
            .settings
            .subnet_group
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        self.catalog.subnet_group(&subnet_group)?;
        for id in &new.user_group_ids {
            self.user_group(id)?;
        }
        let transit_encryption = new.settings.transit_encryption.unwrap_or(false);
        if (new.settings.auth_token || !new.user_group_ids.is_empty()) && !transit_encryption {
            return Err(ApiError::combination(
                "AuthToken and UserGroupIds need TransitEncryptionEnabled=true",
            ));
        }
        if new.settings.auth_token && !new.user_group_ids.is_empty() {
            return Err(ApiError::combination(
                "AuthToken and UserGroupIds cannot be specified together",
            ));
        }
        if !new.preferred_azs.is_empty() {
            let count = shards[0].replicas.unwrap_or(0) + 1;
            if new.preferred_azs.len() != count {
                return Err(ApiError::invalid(
                    "PreferredCacheClusterAZs",
                    format!(
                        "{} zones given for {count} cache clusters",
                        new.preferred_azs.len()
                    ),
                ));
            }
            shards[0].primary_az = Some(new.preferred_azs[0].clone());
            shards[0].replica_azs = new.preferred_azs[1..].to_vec();
        }
        let nodes: usize = shards.iter().map(|s| s.replicas.unwrap_or(0) + 1).sum();
        let existing = usize::from(primary.is_some());
        self.check_capacity(nodes - existing, nodes - existing)?;

        let settings = Settings {
            engine,
            engine_version: version.to_owned(),
            cache_node_type: node_type,
            parameter_group,
            subnet_group,
            security_group_ids: new
                .settings
                .security_group_ids
                .clone()
                .filter(|ids| !ids.is_empty())
                .or(base.map(|b| b.security_group_ids.clone()))
                .unwrap_or_else(|| vec!["sg-0a1b2c3d4e5f60718".to_owned()]),
            maintenance_window: new
                .settings
                .maintenance_window
                .clone()
                .unwrap_or_else(|| "sun:05:00-sun:06:00".to_owned()),
            snapshot_retention_limit: new.settings.snapshot_retention_limit.unwrap_or(0),
            snapshot_window: new
                .settings
                .snapshot_window
                .clone()
                .unwrap_or_else(|| "03:00-04:00".to_owned()),
            port: new.settings.port.or(base.map(|b| b.port)).unwrap_or(6379),
            transit_encryption,
            at_rest_encryption: new.at_rest_encryption.unwrap_or(false),
            auth_token: new.settings.auth_token,
            auto_minor_version_upgrade: new.settings.auto_minor_version_upgrade.unwrap_or(true),
            network_type: new
                .settings
                .network_type
                .clone()
                .unwrap_or_else(|| "ipv4".to_owned()),
            ip_discovery: new
                .settings
                .ip_discovery
                .clone()
                .unwrap_or_else(|| "ipv4".to_owned()),
            notification_topic_arn: new.settings.notification_topic_arn.clone(),
        };
        let settles_at = self.schedule(clock.now + self.settle_time());
        let slots = split_slots(shards.len());
        let mut node_groups = Vec::with_capacity(shards.len());
        let mut new_clusters = Vec::new();
        for (index, shard) in shards.iter().enumerate() {
            let group_id = shard
                .id
                .clone()
                .unwrap_or_else(|| format!("{:04}", index + 1));
            let mut members = Vec::new();
            let count = shard.replicas.unwrap_or(0) + 1;
            for k in 0..count {
                let cluster_id = match (&primary, k) {
                    (Some(primary), 0) => primary.id.clone(),
                    _ if cluster_enabled => format!("{}-{group_id}-{:03}", new.id, k + 1),
                    _ => format!("{}-{:03}", new.id, k + 1),
                };
                let az = if k == 0 {
                    shard.primary_az.clone()
                } else {
                    shard.replica_azs.get(k - 1).cloned()
                }
                .or(primary.as_ref().filter(|_| k == 0).map(|p| p.az.clone()))
                .unwrap_or_else(|| zone(self.region(), index + k));
                members.push(Member {
                    cluster_id,
                    az,
                    primary: k == 0,
                });
            }
            node_groups.push(NodeGroup {
                id: group_id,
                slots: cluster_enabled
                    .then(|| shard.slots.clone().unwrap_or_else(|| slots[index].clone())),
                members,
            });
        }
        let mut group = ReplicationGroup {
            id: new.id.clone(),
            description: new.description,
            status: Status::Creating,
            settles_at: Some(settles_at),
            created: clock.wall,
            settings,
            cluster_enabled,
            cluster_mode: new
                .cluster_mode
                .unwrap_or_else(|| enabled(cluster_enabled).to_owned()),
            node_groups,
            automatic_failover,
            multi_az,
            kms_key_id: new.kms_key_id,
            user_group_ids: new.user_group_ids,
            snapshotting_cluster_id: None,
            arn: self.arn("replicationgroup", &new.id),
            suffix: random_suffix(),
            region_code: region_code(self.region()),
            snapshot_in_progress: None,
            resharding: false,
            global_replication_group_id: None,
            tags: new.tags,
            recovering: None,
        };
        for node_group in &group.node_groups {
            for member in &node_group.members {
                if primary.as_ref().is_some_and(|p| p.id == member.cluster_id) {
                    continue;
                }
                if self.nodes.clusters.contains_key(&member.cluster_id) {
                    return Err(ApiError::new(
                        Fault::CacheClusterAlreadyExists,
                        format!("Cache cluster {} already exists.", member.cluster_id),
                    ));
                }
                new_clusters.push(self.member_cluster(&group, member, clock, settles_at));
            }
        }
        if let Some(primary) = &primary
            && let Some(cluster) = self.nodes.clusters.get_mut(&primary.id)
        {
            cluster.replication_group_id = Some(group.id.clone());
            cluster.tags = merge_tags(&cluster.tags, &group.tags);
            cluster.status = Status::Modifying;
            cluster.settles_at = Some(settles_at);
            // It keeps its engine; the group adopts the cluster's suffix for its endpoints.
            group.suffix.clone_from(&cluster.suffix);
        }
        for cluster in new_clusters {
            self.nodes.clusters.insert(cluster.id.clone(), cluster);
        }
        self.nodes.groups.insert(group.id.clone(), group.clone());
        Ok(group)
    }

    /// A new member cluster of `group`, `creating` until `settles_at`.
    fn member_cluster(
        &self,
        group: &ReplicationGroup,
        member: &Member,
        clock: Clock,
        settles_at: Instant,
    ) -> CacheCluster {
        CacheCluster {
            id: member.cluster_id.clone(),
            status: Status::Creating,
            settles_at: Some(settles_at),
            created: clock.wall,
            settings: group.settings.clone(),
            nodes: vec![CacheNode {
                id: "0001".to_owned(),
                created: clock.wall,
                az: member.az.clone(),
                adding: false,
                removing: false,
                rebooting: false,
            }],
            az: member.az.clone(),
            cross_az: false,
            replication_group_id: Some(group.id.clone()),
            arn: self.arn("cluster", &member.cluster_id),
            suffix: group.suffix.clone(),
            region_code: group.region_code.clone(),
            pending: Pending::default(),
            snapshot_in_progress: None,
            // "Tags on replication groups will be replicated to all nodes."
            tags: group.tags.clone(),
        }
    }

    pub(crate) fn describe_replication_groups(
        &self,
        id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ReplicationGroup>, ApiError> {
        if let Some(id) = id {
            self.nodes_group(id)?;
        }
        paginate(&self.nodes.groups, TokenKind::ReplicationGroup, page, |g| {
            id.is_none_or(|id| g.id == id)
        })
    }

    /// Checks and applies the shared settings to `settings`; returns whether the nodes change
    /// (and so go `modifying` too).
    pub(crate) fn apply_settings(
        &self,
        settings: &mut Settings,
        changes: &SettingsChanges,
        cluster_enabled: bool,
    ) -> Result<bool, ApiError> {
        let engine = changes
            .engine
            .clone()
            .unwrap_or_else(|| settings.engine.clone());
        if engine != settings.engine && !(settings.engine == "redis" && engine == "valkey") {
            return Err(ApiError::combination(format!(
                "Cannot change engine from {} to {engine}",
                settings.engine
            )));
        }
        let mut nodes_change = false;
        if engine != settings.engine || changes.engine_version.is_some() {
            let version = engine_version(&engine, changes.engine_version.as_deref())?;
            if engine == settings.engine
                && version_key(version) < version_key(&settings.engine_version)
            {
                return Err(ApiError::invalid(
                    "EngineVersion",
                    format!(
                        "cannot downgrade from {} to {version}",
                        settings.engine_version
                    ),
                ));
            }
            let family = family_of(&engine, version).unwrap_or_default();
            let old_family =
                family_of(&settings.engine, &settings.engine_version).unwrap_or_default();
            if family != old_family && changes.parameter_group.is_none() {
                settings.parameter_group = default_parameter_group(family, cluster_enabled);
            }
            nodes_change |= version != settings.engine_version;
            settings.engine = engine;
            settings.engine_version = version.to_owned();
        }
        if let Some(name) = &changes.parameter_group {
            let family = family_of(&settings.engine, &settings.engine_version).unwrap_or_default();
            settings.parameter_group =
                self.resolve_parameter_group(Some(name), family, cluster_enabled)?;
            let group = self.catalog.parameter_group(&settings.parameter_group)?;
            if settings.engine != "memcached" && group.cluster_enabled() != cluster_enabled {
                return Err(ApiError::combination(format!(
                    "The parameter group {name} does not match the cluster mode"
                )));
            }
        }
        if let Some(node_type) = &changes.cache_node_type {
            let node_type = Self::check_node_type(Some(node_type))?;
            nodes_change |= node_type != settings.cache_node_type;
            settings.cache_node_type = node_type;
        }
        if let Some(ids) = &changes.security_group_ids {
            settings.security_group_ids.clone_from(ids);
        }
        if let Some(window) = &changes.maintenance_window {
            settings.maintenance_window.clone_from(window);
        }
        if let Some(limit) = changes.snapshot_retention_limit {
            settings.snapshot_retention_limit = limit;
        }
        if let Some(window) = &changes.snapshot_window {
            settings.snapshot_window.clone_from(window);
        }
        if let Some(upgrade) = changes.auto_minor_version_upgrade {
            settings.auto_minor_version_upgrade = upgrade;
        }
        if let Some(topic) = &changes.notification_topic_arn {
            settings.notification_topic_arn = Some(topic.clone());
        }
        Ok(nodes_change)
    }

    pub(crate) fn modify_replication_group(
        &mut self,
        changes: GroupChanges,
        clock: Clock,
    ) -> Result<ReplicationGroup, ApiError> {
        let group = self.nodes_group(&changes.id)?;
        if group.status != Status::Available {
            return Err(group_state(group));
        }
        let mut group = group.clone();
        let is_member = |id: &str| group.member_ids().any(|member| member == id);
        if let Some(primary) = &changes.primary_cluster_id {
            if group.cluster_enabled {
                return Err(ApiError::combination(
                    "PrimaryClusterId is for cluster mode disabled replication groups",
                ));
            }
            if !is_member(primary) {
                return Err(cluster_not_found(primary));
            }
        }
        if let Some(id) = &changes.snapshotting_cluster_id
            && !is_member(id)
        {
            return Err(cluster_not_found(id));
        }
        for id in &changes.user_group_ids_to_add {
            self.user_group(id)?;
        }
        let nodes_change = self.apply_settings(
            &mut group.settings,
            &changes.settings,
            group.cluster_enabled,
        )?;
        if let Some(description) = changes.description {
            group.description = description;
        }
        if let Some(primary) = &changes.primary_cluster_id {
            for member in &mut group.node_groups[0].members {
                member.primary = &member.cluster_id == primary;
            }
        }
        if let Some(id) = changes.snapshotting_cluster_id {
            group.snapshotting_cluster_id = Some(id);
        }
        if let Some(failover) = changes.automatic_failover {
            if !failover && group.cluster_enabled {
                return Err(ApiError::combination(
                    "Automatic failover cannot be disabled for a cluster mode enabled replication group",
                ));
            }
            if failover && !group.cluster_enabled && group.node_groups[0].replicas() == 0 {
                return Err(ApiError::combination(
                    "Automatic failover needs at least one read replica",
                ));
            }
            group.automatic_failover = failover;
            if !failover {
                group.multi_az = false;
            }
        }
        if let Some(multi_az) = changes.multi_az {
            if multi_az && !group.automatic_failover {
                return Err(ApiError::combination(
                    "Multi-AZ needs automatic failover enabled",
                ));
            }
            group.multi_az = multi_az;
        }
        if changes.remove_user_groups {
            group.user_group_ids.clear();
        }
        group
            .user_group_ids
            .retain(|id| !changes.user_group_ids_to_remove.contains(id));
        for id in changes.user_group_ids_to_add {
            if !group.user_group_ids.contains(&id) {
                group.user_group_ids.push(id);
            }
        }
        if !group.user_group_ids.is_empty() && !group.settings.transit_encryption {
            return Err(ApiError::combination(
                "User groups need TransitEncryptionEnabled on the replication group",
            ));
        }
        let settles_at = self.schedule(clock.now + self.settle_time());
        group.status = Status::Modifying;
        group.settles_at = Some(settles_at);
        let members: Vec<String> = group.member_ids().map(str::to_owned).collect();
        for id in members {
            if let Some(cluster) = self.nodes.clusters.get_mut(&id) {
                cluster.settings = group.settings.clone();
                if nodes_change {
                    cluster.status = Status::Modifying;
                    cluster.settles_at = Some(settles_at);
                }
            }
        }
        self.nodes.groups.insert(group.id.clone(), group.clone());
        Ok(group)
    }

    /// The group, checked `available`, with the new replica count of each node group.
    fn replica_targets(
        &self,
        changes: &ReplicaChanges,
    ) -> Result<(ReplicationGroup, Vec<usize>), ApiError> {
        let group = self.nodes_group(&changes.id)?;
        if group.status != Status::Available {
            return Err(group_state(group));
        }
        let mut targets: Vec<usize> = group.node_groups.iter().map(NodeGroup::replicas).collect();
        if let Some(count) = changes.new_replica_count {
            targets.iter_mut().for_each(|t| *t = count);
        }
        for (node_group, count) in &changes.per_shard {
            let index = group
                .node_groups
                .iter()
                .position(|g| &g.id == node_group)
                .ok_or_else(|| node_group_not_found(&group.id, node_group))?;
            targets[index] = *count;
        }
        Ok((group.clone(), targets))
    }

    pub(crate) fn increase_replica_count(
        &mut self,
        changes: ReplicaChanges,
        clock: Clock,
    ) -> Result<ReplicationGroup, ApiError> {
        let (mut group, targets) = self.replica_targets(&changes)?;
        let mut added = 0;
        for (node_group, &target) in group.node_groups.iter().zip(&targets) {
            let current = node_group.replicas();
            let explicit = changes.new_replica_count.is_some()
                || changes.per_shard.iter().any(|(id, _)| id == &node_group.id);
            if explicit && target <= current {
                return Err(ApiError::invalid(
                    "NewReplicaCount",
                    format!(
                        "node group {} has {current} replicas; the new count must be greater",
                        node_group.id
                    ),
                ));
            }
            added += target.saturating_sub(current);
        }
        self.check_capacity(added, added)?;
        let settles_at = self.schedule(clock.now + self.settle_time());
        let mut new_clusters = Vec::new();
        for (index, target) in targets.iter().enumerate() {
            let region = self.region().to_owned();
            let node_group = &mut group.node_groups[index];
            let mut k = node_group.members.len();
            while node_group.replicas() < *target {
                let id = loop {
                    k += 1;
                    let id = if group.cluster_enabled {
                        format!("{}-{}-{k:03}", group.id, node_group.id)
                    } else {
                        format!("{}-{k:03}", group.id)
                    };
                    if !self.nodes.clusters.contains_key(&id) {
                        break id;
                    }
                };
                let member = Member {
                    cluster_id: id,
                    az: zone(&region, index + node_group.members.len()),
                    primary: false,
                };
                node_group.members.push(member.clone());
                new_clusters.push(member);
            }
        }
        for member in new_clusters {
            let cluster = self.member_cluster(&group, &member, clock, settles_at);
            self.nodes.clusters.insert(cluster.id.clone(), cluster);
        }
        group.status = Status::Modifying;
        group.settles_at = Some(settles_at);
        self.nodes.groups.insert(group.id.clone(), group.clone());
        Ok(group)
    }

    pub(crate) fn decrease_replica_count(
        &mut self,
        changes: ReplicaChanges,
        clock: Clock,
    ) -> Result<ReplicationGroup, ApiError> {
        let (mut group, targets) = self.replica_targets(&changes)?;
        let minimum = usize::from(group.automatic_failover && !group.cluster_enabled);
        let mut removed: Vec<String> = Vec::new();
        if changes.replicas_to_remove.is_empty() {
            for (node_group, &target) in group.node_groups.iter_mut().zip(&targets) {
                let current = node_group.replicas();
                let explicit = changes.new_replica_count.is_some()
                    || changes.per_shard.iter().any(|(id, _)| id == &node_group.id);
                if explicit && target >= current {
                    return Err(ApiError::invalid(
                        "NewReplicaCount",
                        format!(
                            "node group {} has {current} replicas; the new count must be smaller",
                            node_group.id
                        ),
                    ));
                }
                if target < minimum {
                    return Err(ApiError::invalid(
                        "NewReplicaCount",
                        "a replication group with automatic failover keeps at least one replica",
                    ));
                }
                while node_group.replicas() > target {
                    let Some(index) = node_group.members.iter().rposition(|m| !m.primary) else {
                        break;
                    };
                    removed.push(node_group.members.remove(index).cluster_id);
                }
            }
        } else {
            for id in &changes.replicas_to_remove {
                let node_group = group
                    .node_groups
                    .iter_mut()
                    .find(|g| g.members.iter().any(|m| &m.cluster_id == id))
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "ReplicasToRemove",
                            format!("{id} is not a member of replication group {}", changes.id),
                        )
                    })?;
                let index = node_group
                    .members
                    .iter()
                    .position(|m| &m.cluster_id == id)
                    .unwrap_or_default();
                if node_group.members[index].primary {
                    return Err(ApiError::invalid(
                        "ReplicasToRemove",
                        format!("{id} is a primary, not a replica"),
                    ));
                }
                node_group.members.remove(index);
                if node_group.replicas() < minimum {
                    return Err(ApiError::invalid(
                        "ReplicasToRemove",
                        "a replication group with automatic failover keeps at least one replica",
                    ));
                }
                removed.push(id.clone());
            }
        }
        let settles_at = self.schedule(clock.now + self.settle_time());
        for id in &removed {
            if let Some(cluster) = self.nodes.clusters.get_mut(id) {
                cluster.status = Status::Deleting;
                cluster.settles_at = Some(settles_at);
            }
        }
        group.status = Status::Modifying;
        group.settles_at = Some(settles_at);
        self.nodes.groups.insert(group.id.clone(), group.clone());
        Ok(group)
    }

    pub(crate) fn test_failover(
        &mut self,
        id: &str,
        node_group_id: &str,
        clock: Clock,
    ) -> Result<ReplicationGroup, ApiError> {
        let settles_at = clock.now + self.settle_time();
        let group = self.nodes_group(id)?;
        if group.status != Status::Available {
            return Err(group_state(group));
        }
        if !group.automatic_failover {
            return Err(ApiError::new(
                Fault::InvalidReplicationGroupState,
                format!("Replication group {id} does not have automatic failover enabled."),
            ));
        }
        let node_group = group
            .node_groups
            .iter()
            .position(|g| g.id == node_group_id)
            .ok_or_else(|| node_group_not_found(id, node_group_id))?;
        if group.node_groups[node_group].replicas() == 0 {
            return Err(ApiError::new(
                Fault::InvalidReplicationGroupState,
                format!("Node group {node_group_id} has no replica to fail over to."),
            ));
        }
        self.schedule(settles_at);
        let group = self.nodes_group_mut(id)?;
        let members = &mut group.node_groups[node_group].members;
        let old = members.iter().position(|m| m.primary).unwrap_or(0);
        let new = members.iter().position(|m| !m.primary).unwrap_or(0);
        members[old].primary = false;
        members[new].primary = true;
        let demoted = members[old].cluster_id.clone();
        let promoted = members[new].cluster_id.clone();
        group.status = Status::Modifying;
        group.settles_at = Some(settles_at);
        group.recovering = Some(demoted.clone());
        let group = group.clone();
        // The events TestFailover's documentation lists, in their order; the last one,
        // `Finished recovery for cache nodes`, when the group settles.
        let failover =
            format!("Failover from primary node {demoted} to replica node {promoted} completed");
        let events = [
            (
                SourceType::ReplicationGroup,
                id,
                format!("Test Failover API called for node group {node_group_id}"),
            ),
            (SourceType::CacheCluster, demoted.as_str(), failover.clone()),
            (SourceType::ReplicationGroup, id, failover),
            (
                SourceType::CacheCluster,
                demoted.as_str(),
                "Recovering cache nodes 0001".to_owned(),
            ),
        ];
        for (kind, source, message) in events {
            self.events.push(kind, source, message, clock.wall);
        }
        Ok(group)
    }

    pub(crate) fn modify_shard_configuration(
        &mut self,
        changes: ShardChanges,
        clock: Clock,
    ) -> Result<ReplicationGroup, ApiError> {
        let group = self.nodes_group(&changes.id)?;
        if group.status != Status::Available {
            return Err(group_state(group));
        }
        if !group.cluster_enabled {
            return Err(ApiError::invalid(
                "ReplicationGroupId",
                format!(
                    "replication group {} does not have cluster mode enabled",
                    group.id
                ),
            ));
        }
        let mut group = group.clone();
        let current = group.node_groups.len();
        let target = changes.node_group_count;
        if target == current {
            return Err(ApiError::invalid(
                "NodeGroupCount",
                format!("the replication group already has {current} node groups"),
            ));
        }
        if target > self.quotas.node_groups_per_group {
            return Err(ApiError::new(
                Fault::NodeGroupsPerReplicationGroupQuotaExceeded,
                format!(
                    "A replication group can have at most {} node groups.",
                    self.quotas.node_groups_per_group
                ),
            ));
        }
        let settles_at = clock.now + self.settle_time();
        let mut removed = Vec::new();
        let mut added = Vec::new();
        if target > current {
            let replicas = group.node_groups[0].replicas();
            let count = (target - current) * (replicas + 1);
            self.check_capacity(count, count)?;
            let mut next = group
                .node_groups
                .iter()
                .filter_map(|g| g.id.parse::<usize>().ok())
                .max()
                .unwrap_or(0);
            for index in current..target {
                next += 1;
                let id = format!("{next:04}");
                let members = (0..=replicas)
                    .map(|k| Member {
                        cluster_id: format!("{}-{id}-{:03}", group.id, k + 1),
                        az: zone(self.region(), index + k),
                        primary: k == 0,
                    })
                    .collect::<Vec<_>>();
                added.extend(members.iter().cloned());
                group.node_groups.push(NodeGroup {
                    id,
                    slots: None,
                    members,
                });
            }
        } else {
            let (remove, retain) = (&changes.to_remove, &changes.to_retain);
            match (remove.is_empty(), retain.is_empty()) {
                (false, false) | (true, true) => {
                    return Err(ApiError::combination(
                        "Exactly one of NodeGroupsToRemove and NodeGroupsToRetain is needed to remove node groups",
                    ));
                }
                _ => {}
            }
            for id in remove.iter().chain(retain) {
                if !group.node_groups.iter().any(|g| &g.id == id) {
                    return Err(ApiError::invalid(
                        "NodeGroupsToRemove",
                        format!("node group {id} is not in replication group {}", group.id),
                    ));
                }
            }
            let keep = |g: &NodeGroup| {
                if retain.is_empty() {
                    !remove.contains(&g.id)
                } else {
                    retain.contains(&g.id)
                }
            };
            let kept = group.node_groups.iter().filter(|g| keep(g)).count();
            if kept != target {
                return Err(ApiError::invalid(
                    "NodeGroupCount",
                    format!("{target} node groups requested, but the lists leave {kept}"),
                ));
            }
            let (kept, gone): (Vec<NodeGroup>, Vec<NodeGroup>) =
                group.node_groups.into_iter().partition(|g| keep(g));
            group.node_groups = kept;
            removed.extend(
                gone.into_iter()
                    .flat_map(|g| g.members)
                    .map(|m| m.cluster_id),
            );
        }
        for (node_group, slots) in group.node_groups.iter_mut().zip(split_slots(target)) {
            node_group.slots = Some(slots);
        }
        self.schedule(settles_at);
        for member in &added {
            let cluster = self.member_cluster(&group, member, clock, settles_at);
            self.nodes.clusters.insert(cluster.id.clone(), cluster);
        }
        for id in &removed {
            if let Some(cluster) = self.nodes.clusters.get_mut(id) {
                cluster.status = Status::Deleting;
                cluster.settles_at = Some(settles_at);
            }
        }
        group.status = Status::Modifying;
        group.settles_at = Some(settles_at);
        group.resharding = true;
        self.nodes.groups.insert(group.id.clone(), group.clone());
        Ok(group)
    }

    pub(crate) fn delete_replication_group(
        &mut self,
        id: &str,
        retain_primary: bool,
        final_snapshot: Option<String>,
        clock: Clock,
    ) -> Result<ReplicationGroup, ApiError> {
        let group = self.nodes_group(id)?;
        if let Some(global) = &group.global_replication_group_id {
            return Err(ApiError::new(
                Fault::InvalidReplicationGroupState,
                format!(
                    "Replication group {id} is the primary of global datastore {global}; \
                     delete the global datastore first."
                ),
            ));
        }
        if group.status != Status::Available {
            return Err(group_state(group));
        }
        if retain_primary && group.cluster_enabled {
            return Err(ApiError::combination(
                "RetainPrimaryCluster is for cluster mode disabled replication groups",
            ));
        }
        let snapshot = match final_snapshot {
            Some(name) => Some(self.group_snapshot(name, group, None, Vec::new(), clock)?),
            None => None,
        };
        let settles_at = self.schedule(clock.now + self.settle_time());
        let group = self.nodes_group_mut(id)?;
        group.status = Status::Deleting;
        group.settles_at = Some(settles_at);
        let group = group.clone();
        for node_group in &group.node_groups {
            for member in &node_group.members {
                if let Some(cluster) = self.nodes.clusters.get_mut(&member.cluster_id) {
                    if retain_primary && member.primary {
                        cluster.replication_group_id = None;
                        continue;
                    }
                    cluster.status = Status::Deleting;
                    cluster.settles_at = Some(settles_at);
                }
            }
        }
        if let Some(snapshot) = snapshot {
            self.insert_classic_snapshot(snapshot);
        }
        Ok(group)
    }

    pub(crate) fn create_cache_cluster(
        &mut self,
        new: NewCluster,
        clock: Clock,
    ) -> Result<CacheCluster, ApiError> {
        if self.nodes.clusters.contains_key(&new.id) {
            return Err(ApiError::new(
                Fault::CacheClusterAlreadyExists,
                format!("Cache cluster {} already exists.", new.id),
            ));
        }
        if let Some(group_id) = new.replication_group_id.clone() {
            return self.add_replica_cluster(&group_id, new, clock);
        }
        let snapshot = match &new.settings.snapshot_name {
            Some(name) => Some(self.available_snapshot(name)?.clone()),
            None => None,
        };
        let base = snapshot.as_ref().map(|s| &s.settings);
        let engine = new
            .settings
            .engine
            .clone()
            .or(base.map(|b| b.engine.clone()))
            .ok_or_else(|| ApiError::missing("Engine"))?;
        if snapshot.as_ref().is_some_and(|s| s.cluster_enabled) {
            return Err(ApiError::combination(
                "A snapshot of a cluster mode enabled replication group restores into a replication group",
            ));
        }
        let memcached = engine == "memcached";
        let version = engine_version(
            &engine,
            new.settings
                .engine_version
                .as_deref()
                .or(base.map(|b| b.engine_version.as_str())),
        )?;
        let family = family_of(&engine, version).unwrap_or_default();
        let node_type = Self::check_node_type(
            new.settings
                .cache_node_type
                .as_deref()
                .or(base.map(|b| b.cache_node_type.as_str())),
        )?;
        let count = new.num_cache_nodes.unwrap_or(1);
        if memcached && count > MAX_MEMCACHED_NODES {
            return Err(ApiError::new(
                Fault::NodeQuotaForClusterExceeded,
                format!("A memcached cluster can have at most {MAX_MEMCACHED_NODES} nodes."),
            ));
        }
        if !memcached && count != 1 {
            return Err(ApiError::invalid(
                "NumCacheNodes",
                format!("a {engine} cluster has exactly 1 node"),
            ));
        }
        if !memcached && new.cross_az {
            return Err(ApiError::invalid(
                "AZMode",
                "cross-az is for memcached clusters",
            ));
        }
        if memcached
            && (new.settings.snapshot_retention_limit.is_some()
                || new.settings.snapshot_window.is_some())
        {
            return Err(ApiError::combination(
                "Snapshots are not supported for memcached clusters",
            ));
        }
        if memcached && snapshot.is_some() {
            return Err(ApiError::new(
                Fault::SnapshotFeatureNotSupported,
                "Snapshots are not supported for memcached clusters.",
            ));
        }
        if !new.preferred_azs.is_empty() && new.preferred_azs.len() != count {
            return Err(ApiError::invalid(
                "PreferredAvailabilityZones",
                format!("{} zones given for {count} nodes", new.preferred_azs.len()),
            ));
        }
        let parameter_group =
            self.resolve_parameter_group(new.settings.parameter_group.as_deref(), family, false)?;
        if !memcached
            && self
                .catalog
                .parameter_group(&parameter_group)?
                .cluster_enabled()
        {
            return Err(ApiError::combination(
                "A standalone cache cluster cannot use a cluster mode enabled parameter group",
            ));
        }
        let subnet_group = new
            .settings
            .subnet_group
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        self.catalog.subnet_group(&subnet_group)?;
        let transit_encryption = new.settings.transit_encryption.unwrap_or(false);
        if new.settings.auth_token && !transit_encryption {
            return Err(ApiError::combination(
                "AuthToken needs TransitEncryptionEnabled=true",
            ));
        }
        self.check_capacity(1, count)?;
        let settles_at = self.schedule(clock.now + self.settle_time());
        let region = self.region().to_owned();
        let nodes = (0..count)
            .map(|i| CacheNode {
                id: format!("{:04}", i + 1),
                created: clock.wall,
                az: new
                    .preferred_azs
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| zone(&region, if new.cross_az { i } else { 0 })),
                adding: false,
                removing: false,
                rebooting: false,
            })
            .collect::<Vec<_>>();
        let cluster = CacheCluster {
            id: new.id.clone(),
            status: Status::Creating,
            settles_at: Some(settles_at),
            created: clock.wall,
            settings: Settings {
                engine,
                engine_version: version.to_owned(),
                cache_node_type: node_type,
                parameter_group,
                subnet_group,
                security_group_ids: new
                    .settings
                    .security_group_ids
                    .filter(|ids| !ids.is_empty())
                    .unwrap_or_else(|| vec!["sg-0a1b2c3d4e5f60718".to_owned()]),
                maintenance_window: new
                    .settings
                    .maintenance_window
                    .unwrap_or_else(|| "sun:05:00-sun:06:00".to_owned()),
                snapshot_retention_limit: new.settings.snapshot_retention_limit.unwrap_or(0),
                snapshot_window: new
                    .settings
                    .snapshot_window
                    .unwrap_or_else(|| "03:00-04:00".to_owned()),
                port: new
                    .settings
                    .port
                    .or(base.map(|b| b.port))
                    .unwrap_or(if memcached { 11211 } else { 6379 }),
                transit_encryption,
                at_rest_encryption: false,
                auth_token: new.settings.auth_token,
                auto_minor_version_upgrade: new.settings.auto_minor_version_upgrade.unwrap_or(true),
                network_type: new
                    .settings
                    .network_type
                    .unwrap_or_else(|| "ipv4".to_owned()),
                ip_discovery: new
                    .settings
                    .ip_discovery
                    .unwrap_or_else(|| "ipv4".to_owned()),
                notification_topic_arn: new.settings.notification_topic_arn,
            },
            az: nodes[0].az.clone(),
            nodes,
            cross_az: new.cross_az,
            replication_group_id: None,
            arn: self.arn("cluster", &new.id),
            suffix: random_suffix(),
            region_code: region_code(&region),
            pending: Pending::default(),
            snapshot_in_progress: None,
            tags: new.tags,
        };
        self.nodes
            .clusters
            .insert(cluster.id.clone(), cluster.clone());
        Ok(cluster)
    }

    /// `CreateCacheCluster` with a `ReplicationGroupId`: a new read replica of a cluster mode
    /// disabled group.
    fn add_replica_cluster(
        &mut self,
        group_id: &str,
        new: NewCluster,
        clock: Clock,
    ) -> Result<CacheCluster, ApiError> {
        let group = self.nodes_group(group_id)?;
        if group.status != Status::Available {
            return Err(group_state(group));
        }
        if group.cluster_enabled {
            return Err(ApiError::combination(
                "Cache clusters cannot be added to a cluster mode enabled replication group; use IncreaseReplicaCount",
            ));
        }
        if group.node_groups[0].replicas() >= MAX_REPLICAS {
            return Err(ApiError::new(
                Fault::NodeQuotaForClusterExceeded,
                format!("A node group can have at most {MAX_REPLICAS} replicas."),
            ));
        }
        if let Some(node_type) = &new.settings.cache_node_type
            && node_type != &group.settings.cache_node_type
        {
            return Err(ApiError::combination(
                "A read replica has the node type of its replication group",
            ));
        }
        self.check_capacity(1, 1)?;
        let mut group = group.clone();
        let settles_at = self.schedule(clock.now + self.settle_time());
        let index = group.node_groups[0].members.len();
        let member = Member {
            cluster_id: new.id.clone(),
            az: new
                .preferred_azs
                .first()
                .cloned()
                .unwrap_or_else(|| zone(self.region(), index)),
            primary: false,
        };
        group.node_groups[0].members.push(member.clone());
        group.status = Status::Modifying;
        group.settles_at = Some(settles_at);
        let mut cluster = self.member_cluster(&group, &member, clock, settles_at);
        cluster.tags = merge_tags(&cluster.tags, &new.tags);
        self.nodes.groups.insert(group.id.clone(), group);
        self.nodes
            .clusters
            .insert(cluster.id.clone(), cluster.clone());
        Ok(cluster)
    }

    pub(crate) fn describe_cache_clusters(
        &self,
        id: Option<&str>,
        standalone_only: bool,
        page: &PageRequest,
    ) -> Result<Page<CacheCluster>, ApiError> {
        if let Some(id) = id {
            self.nodes_cluster(id)?;
        }
        paginate(&self.nodes.clusters, TokenKind::CacheCluster, page, |c| {
            id.is_none_or(|id| c.id == id) && (!standalone_only || c.replication_group_id.is_none())
        })
    }

    pub(crate) fn modify_cache_cluster(
        &mut self,
        changes: ClusterChanges,
        clock: Clock,
    ) -> Result<CacheCluster, ApiError> {
        let cluster = self.nodes_cluster(&changes.id)?;
        if cluster.status != Status::Available {
            return Err(cluster_state(cluster));
        }
        if let Some(group) = &cluster.replication_group_id {
            return Err(ApiError::new(
                Fault::InvalidCacheClusterState,
                format!(
                    "Cache cluster {} is a member of replication group {group}; modify it with ModifyReplicationGroup.",
                    cluster.id
                ),
            ));
        }
        let mut cluster = cluster.clone();
        let memcached = cluster.memcached();
        if changes.settings.cache_node_type.is_some() && memcached {
            return Err(ApiError::combination(
                "The node type of a memcached cluster cannot be changed",
            ));
        }
        let current = cluster.nodes.len();
        if let Some(count) = changes.num_cache_nodes {
            if !memcached && count != 1 {
                return Err(ApiError::invalid(
                    "NumCacheNodes",
                    format!("a {} cluster has exactly 1 node", cluster.settings.engine),
                ));
            }
            if count > MAX_MEMCACHED_NODES {
                return Err(ApiError::new(
                    Fault::NodeQuotaForClusterExceeded,
                    format!("A memcached cluster can have at most {MAX_MEMCACHED_NODES} nodes."),
                ));
            }
            if count < current && changes.node_ids_to_remove.len() != current - count {
                return Err(ApiError::invalid(
                    "CacheNodeIdsToRemove",
                    format!(
                        "going from {current} to {count} nodes needs {} node ids to remove",
                        current - count
                    ),
                ));
            }
            if count >= current && !changes.node_ids_to_remove.is_empty() {
                return Err(ApiError::combination(
                    "CacheNodeIdsToRemove is only for decreasing NumCacheNodes",
                ));
            }
        } else if !changes.node_ids_to_remove.is_empty() {
            return Err(ApiError::combination(
                "CacheNodeIdsToRemove needs a smaller NumCacheNodes",
            ));
        }
        if let Some(bad) = changes
            .node_ids_to_remove
            .iter()
            .find(|id| !cluster.nodes.iter().any(|n| &n.id == *id))
        {
            return Err(ApiError::invalid(
                "CacheNodeIdsToRemove",
                format!("cluster {} has no node {bad}", cluster.id),
            ));
        }
        let node_count_changes = changes.num_cache_nodes.is_some_and(|c| c != current);
        if changes.settings.is_empty() && !node_count_changes {
            return Err(ApiError::combination("No modifications were requested"));
        }
        let mut settings_changes = changes.settings.clone();
        if !changes.settings.apply_immediately {
            // Scaling and upgrades wait for the maintenance window, which the emulator never
            // reaches: they stay pending.
            let pending = &mut cluster.pending;
            if let Some(version) = settings_changes.engine_version.take() {
                engine_version(&cluster.settings.engine, Some(&version))?;
                pending.engine_version = Some(version);
            }
            if let Some(node_type) = settings_changes.cache_node_type.take() {
                pending.cache_node_type = Some(Self::check_node_type(Some(&node_type))?);
            }
            if node_count_changes {
                pending.num_cache_nodes = changes.num_cache_nodes;
                pending
                    .node_ids_to_remove
                    .clone_from(&changes.node_ids_to_remove);
            }
        }
        self.apply_settings(&mut cluster.settings, &settings_changes, false)?;
        if changes.settings.apply_immediately {
            if changes.settings.engine_version.is_some() {
                cluster.pending.engine_version = None;
            }
            if changes.settings.cache_node_type.is_some() {
                cluster.pending.cache_node_type = None;
            }
        }
        if node_count_changes && changes.settings.apply_immediately {
            self.check_capacity(
                0,
                changes.num_cache_nodes.unwrap_or(0).saturating_sub(current),
            )?;
            for node in &mut cluster.nodes {
                node.removing = changes.node_ids_to_remove.contains(&node.id);
            }
            let target = changes.num_cache_nodes.unwrap_or(current);
            let mut next = cluster
                .nodes
                .iter()
                .filter_map(|n| n.id.parse::<usize>().ok())
                .max()
                .unwrap_or(0);
            let region = self.region().to_owned();
            while cluster.nodes.len() < target {
                next += 1;
                cluster.nodes.push(CacheNode {
                    id: format!("{next:04}"),
                    created: clock.wall,
                    az: zone(&region, if cluster.cross_az { next - 1 } else { 0 }),
                    adding: true,
                    removing: false,
                    rebooting: false,
                });
            }
            cluster.pending = Pending::default();
        }
        let settles_at = self.schedule(clock.now + self.settle_time());
        cluster.status = Status::Modifying;
        cluster.settles_at = Some(settles_at);
        self.nodes
            .clusters
            .insert(cluster.id.clone(), cluster.clone());
        Ok(cluster)
    }

    pub(crate) fn reboot_cache_cluster(
        &mut self,
        id: &str,
        node_ids: &[String],
        clock: Clock,
    ) -> Result<CacheCluster, ApiError> {
        let settles_at = clock.now + self.settle_time();
        let cluster = self.nodes_cluster(id)?;
        if cluster.status != Status::Available {
            return Err(cluster_state(cluster));
        }
        if let Some(bad) = node_ids
            .iter()
            .find(|node| !cluster.nodes.iter().any(|n| &n.id == *node))
        {
            return Err(ApiError::invalid(
                "CacheNodeIdsToReboot",
                format!("cluster {id} has no node {bad}"),
            ));
        }
        self.schedule(settles_at);
        let cluster = self.nodes_cluster_mut(id)?;
        cluster.status = Status::Rebooting;
        cluster.settles_at = Some(settles_at);
        // Only the named nodes reboot ("to reboot an entire cluster, specify all of the cache
        // node IDs").
        for node in &mut cluster.nodes {
            node.rebooting = node_ids.contains(&node.id);
        }
        Ok(cluster.clone())
    }

    pub(crate) fn delete_cache_cluster(
        &mut self,
        id: &str,
        final_snapshot: Option<String>,
        clock: Clock,
    ) -> Result<CacheCluster, ApiError> {
        let cluster = self.nodes_cluster(id)?;
        if let Some(group) = &cluster.replication_group_id {
            return Err(ApiError::new(
                Fault::InvalidCacheClusterState,
                format!(
                    "Cache cluster {id} is a member of replication group {group}; delete the group, \
                     or remove the replica with DecreaseReplicaCount."
                ),
            ));
        }
        if cluster.status != Status::Available {
            return Err(cluster_state(cluster));
        }
        let snapshot = match final_snapshot {
            Some(name) => Some(self.cluster_snapshot(name, cluster, None, Vec::new(), clock)?),
            None => None,
        };
        let settles_at = self.schedule(clock.now + self.settle_time());
        let cluster = self.nodes_cluster_mut(id)?;
        cluster.status = Status::Deleting;
        cluster.settles_at = Some(settles_at);
        let cluster = cluster.clone();
        if let Some(snapshot) = snapshot {
            self.insert_classic_snapshot(snapshot);
        }
        Ok(cluster)
    }

    /// A `creating` snapshot of a replication group.
    fn group_snapshot(
        &self,
        name: String,
        group: &ReplicationGroup,
        kms_key_id: Option<String>,
        tags: Vec<Tag>,
        clock: Clock,
    ) -> Result<ClassicSnapshot, ApiError> {
        self.check_snapshot_free(&name)?;
        let shards = group
            .node_groups
            .iter()
            .map(|node_group| SnapshotShard {
                node_group_id: node_group.id.clone(),
                cache_cluster_id: (!group.cluster_enabled).then(|| {
                    group
                        .snapshotting_cluster_id
                        .clone()
                        .unwrap_or_else(|| node_group.members[0].cluster_id.clone())
                }),
                slots: node_group.slots.clone(),
                replica_count: node_group.replicas(),
                primary_az: node_group
                    .members
                    .iter()
                    .find(|m| m.primary)
                    .map(|m| m.az.clone())
                    .unwrap_or_default(),
                node_created: group.created,
            })
            .collect();
        Ok(ClassicSnapshot {
            arn: self.arn("snapshot", &name),
            name,
            status: SnapshotStatus::Creating,
            settles_at: Some(clock.now + self.settle_time()),
            created: clock.wall,
            replication_group_id: Some(group.id.clone()),
            replication_group_description: Some(group.description.clone()),
            cache_cluster_id: None,
            settings: group.settings.clone(),
            cluster_enabled: group.cluster_enabled,
            automatic_failover: group.automatic_failover,
            source_created: group.created,
            shards,
            kms_key_id: kms_key_id.or_else(|| group.kms_key_id.clone()),
            tags,
        })
    }

    /// A `creating` snapshot of a (Valkey or Redis OSS) cache cluster.
    fn cluster_snapshot(
        &self,
        name: String,
        cluster: &CacheCluster,
        kms_key_id: Option<String>,
        tags: Vec<Tag>,
        clock: Clock,
    ) -> Result<ClassicSnapshot, ApiError> {
        if cluster.memcached() {
            return Err(ApiError::new(
                Fault::SnapshotFeatureNotSupported,
                "Snapshots are not supported for memcached clusters.",
            ));
        }
        self.check_snapshot_free(&name)?;
        let group = cluster
            .replication_group_id
            .as_ref()
            .and_then(|id| self.nodes.groups.get(id));
        Ok(ClassicSnapshot {
            arn: self.arn("snapshot", &name),
            name,
            status: SnapshotStatus::Creating,
            settles_at: Some(clock.now + self.settle_time()),
            created: clock.wall,
            replication_group_id: group.map(|g| g.id.clone()),
            replication_group_description: group.map(|g| g.description.clone()),
            cache_cluster_id: Some(cluster.id.clone()),
            settings: cluster.settings.clone(),
            cluster_enabled: false,
            automatic_failover: group.is_some_and(|g| g.automatic_failover),
            source_created: cluster.created,
            shards: vec![SnapshotShard {
                node_group_id: "0001".to_owned(),
                cache_cluster_id: Some(cluster.id.clone()),
                slots: None,
                replica_count: 0,
                primary_az: cluster.az.clone(),
                node_created: cluster.created,
            }],
            kms_key_id,
            tags,
        })
    }

    fn insert_classic_snapshot(&mut self, snapshot: ClassicSnapshot) -> ClassicSnapshot {
        if let Some(at) = snapshot.settles_at {
            self.schedule(at);
        }
        self.nodes
            .snapshots
            .insert(snapshot.name.clone(), snapshot.clone());
        snapshot
    }

    pub(crate) fn create_classic_snapshot(
        &mut self,
        name: String,
        group_id: Option<&str>,
        cluster_id: Option<&str>,
        kms_key_id: Option<String>,
        tags: Vec<Tag>,
        clock: Clock,
    ) -> Result<ClassicSnapshot, ApiError> {
        let snapshot = match (group_id, cluster_id) {
            (Some(id), None) => {
                let group = self.nodes_group(id)?;
                if group.status != Status::Available {
                    return Err(group_state(group));
                }
                let snapshot = self.group_snapshot(name, group, kms_key_id, tags, clock)?;
                let group = self.nodes_group_mut(id)?;
                group.status = Status::Snapshotting;
                group.snapshot_in_progress = Some(snapshot.name.clone());
                snapshot
            }
            (None, Some(id)) => {
                let cluster = self.nodes_cluster(id)?;
                if let Some(group) = cluster
                    .replication_group_id
                    .as_ref()
                    .and_then(|g| self.nodes.groups.get(g))
                    && group.cluster_enabled
                {
                    return Err(ApiError::invalid(
                        "CacheClusterId",
                        format!(
                            "{id} is a shard member of cluster mode enabled replication group {}; \
                             snapshot the group with ReplicationGroupId",
                            group.id
                        ),
                    ));
                }
                if cluster.status != Status::Available && !cluster.memcached() {
                    return Err(cluster_state(cluster));
                }
                let snapshot = self.cluster_snapshot(name, cluster, kms_key_id, tags, clock)?;
                let cluster = self.nodes_cluster_mut(id)?;
                cluster.status = Status::Snapshotting;
                cluster.snapshot_in_progress = Some(snapshot.name.clone());
                snapshot
            }
            _ => {
                return Err(ApiError::combination(
                    "Exactly one of ReplicationGroupId and CacheClusterId must be specified",
                ));
            }
        };
        Ok(self.insert_classic_snapshot(snapshot))
    }

    pub(crate) fn describe_classic_snapshots(
        &self,
        filter: &SnapshotFilter,
        page: &PageRequest,
    ) -> Result<Page<ClassicSnapshot>, ApiError> {
        if let Some(name) = &filter.snapshot_name
            && !self.nodes.snapshots.contains_key(name)
        {
            return Err(snapshot_not_found(name));
        }
        if let Some(id) = &filter.cache_cluster_id
            && !self.nodes.clusters.contains_key(id)
            && !self
                .nodes
                .snapshots
                .values()
                .any(|s| s.cache_cluster_id.as_ref() == Some(id))
        {
            return Err(cluster_not_found(id));
        }
        paginate(
            &self.nodes.snapshots,
            TokenKind::ClassicSnapshot,
            page,
            |s| {
                filter.include_manual
                    && filter
                        .snapshot_name
                        .as_ref()
                        .is_none_or(|name| &s.name == name)
                    && filter
                        .replication_group_id
                        .as_ref()
                        .is_none_or(|id| s.replication_group_id.as_ref() == Some(id))
                    && filter
                        .cache_cluster_id
                        .as_ref()
                        .is_none_or(|id| s.cache_cluster_id.as_ref() == Some(id))
            },
        )
    }

    pub(crate) fn copy_classic_snapshot(
        &mut self,
        source: &str,
        target: String,
        kms_key_id: Option<String>,
        tags: Vec<Tag>,
        clock: Clock,
    ) -> Result<ClassicSnapshot, ApiError> {
        let source = self
            .nodes
            .snapshots
            .get(source)
            .ok_or_else(|| snapshot_not_found(source))?;
        if source.status != SnapshotStatus::Available {
            return Err(ApiError::new(
                Fault::InvalidSnapshotState,
                format!(
                    "Snapshot {} is {}; it must be available.",
                    source.name,
                    source.status.as_str()
                ),
            ));
        }
        self.check_snapshot_free(&target)?;
        let copy = ClassicSnapshot {
            arn: self.arn("snapshot", &target),
            name: target,
            status: SnapshotStatus::Creating,
            settles_at: Some(clock.now + self.settle_time()),
            created: clock.wall,
            kms_key_id: kms_key_id.or_else(|| source.kms_key_id.clone()),
            tags,
            ..source.clone()
        };
        Ok(self.insert_classic_snapshot(copy))
    }

    /// `CopySnapshot` with a `TargetBucket`: writes one `<target>-<node group>.rdb` object per
    /// node group into the emulated bucket, and the source is `exporting` for `export_time`.
    pub(crate) fn export_classic_snapshot(
        &mut self,
        source: &str,
        target: &str,
        bucket: &str,
        clock: Clock,
    ) -> Result<ClassicSnapshot, ApiError> {
        let snapshot = self
            .nodes
            .snapshots
            .get(source)
            .ok_or_else(|| snapshot_not_found(source))?;
        if snapshot.status != SnapshotStatus::Available {
            return Err(ApiError::new(
                Fault::InvalidSnapshotState,
                format!(
                    "Snapshot {source} is {}; it must be available.",
                    snapshot.status.as_str()
                ),
            ));
        }
        let objects: Vec<String> = snapshot
            .shards
            .iter()
            .map(|shard| format!("{target}-{}.rdb", shard.node_group_id))
            .collect();
        self.write_rdb("TargetBucket", bucket, &objects)?;
        let settles_at = self.schedule(clock.now + self.export_time());
        let snapshot = self
            .nodes
            .snapshots
            .get_mut(source)
            .ok_or_else(|| snapshot_not_found(source))?;
        snapshot.status = SnapshotStatus::Exporting;
        snapshot.settles_at = Some(settles_at);
        Ok(snapshot.clone())
    }

    pub(crate) fn delete_classic_snapshot(
        &mut self,
        name: &str,
        clock: Clock,
    ) -> Result<ClassicSnapshot, ApiError> {
        let settles_at = clock.now + self.settle_time();
        let snapshot = self
            .nodes
            .snapshots
            .get_mut(name)
            .ok_or_else(|| snapshot_not_found(name))?;
        if snapshot.status != SnapshotStatus::Available {
            return Err(ApiError::new(
                Fault::InvalidSnapshotState,
                format!(
                    "Snapshot {name} is {}; it must be available.",
                    snapshot.status.as_str()
                ),
            ));
        }
        snapshot.status = SnapshotStatus::Deleting;
        snapshot.settles_at = Some(settles_at);
        let snapshot = snapshot.clone();
        self.schedule(settles_at);
        Ok(snapshot)
    }
}

/// The node types the emulator knows the size of, smallest memory first.
const NODE_TYPES: [&str; 14] = [
    "cache.t4g.micro",
    "cache.t3.micro",
    "cache.t4g.small",
    "cache.t3.small",
    "cache.t4g.medium",
    "cache.t3.medium",
    "cache.m6g.large",
    "cache.m5.large",
    "cache.m7g.large",
    "cache.r6g.large",
    "cache.r7g.large",
    "cache.m6g.xlarge",
    "cache.m5.xlarge",
    "cache.r7g.xlarge",
];

impl Store {
    /// The node types a cluster or group can scale up and down to: every known larger and
    /// smaller type for Valkey and Redis OSS; none for Memcached, which does not scale a
    /// cluster's node type in place.
    pub(crate) fn allowed_node_types(
        &self,
        group_id: Option<&str>,
        cluster_id: Option<&str>,
    ) -> Result<(Vec<String>, Vec<String>), ApiError> {
        let settings = match (group_id, cluster_id) {
            (Some(id), None) => &self.nodes_group(id)?.settings,
            (None, Some(id)) => &self.nodes_cluster(id)?.settings,
            _ => {
                return Err(ApiError::combination(
                    "Exactly one of ReplicationGroupId and CacheClusterId must be specified",
                ));
            }
        };
        if settings.engine == "memcached" {
            return Ok((Vec::new(), Vec::new()));
        }
        let owned = |types: &[&str]| types.iter().map(|&t| t.to_owned()).collect::<Vec<_>>();
        Ok(
            match NODE_TYPES
                .iter()
                .position(|&t| t == settings.cache_node_type)
            {
                Some(at) => (owned(&NODE_TYPES[at + 1..]), owned(&NODE_TYPES[..at])),
                None => (owned(&NODE_TYPES), Vec::new()),
            },
        )
    }
}

fn node_group_not_found(group: &str, node_group: &str) -> ApiError {
    ApiError::new(
        Fault::NodeGroupNotFound,
        format!("Node group {node_group} not found in replication group {group}."),
    )
}

/// Orders `6.2` < `7.0` < `7.1` numerically.
fn version_key(version: &str) -> Vec<u64> {
    version
        .split('.')
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmulatorConfig;
    use crate::store::Quotas;

    fn new_group(id: &str, topology: Topology) -> NewGroup {
        NewGroup {
            id: id.to_owned(),
            description: "quota".to_owned(),
            topology: Some(topology),
            settings: NodeSettings {
                cache_node_type: Some("cache.t3.micro".to_owned()),
                ..NodeSettings::default()
            },
            ..NewGroup::default()
        }
    }

    #[test]
    fn cluster_node_and_node_group_quotas_are_enforced() {
        let quotas = Quotas {
            clusters: 3,
            nodes: 4,
            node_groups_per_group: 2,
            snapshots: 1,
            ..Quotas::default()
        };
        let config = EmulatorConfig::default();
        let mut store = Store::with_quotas(&config, quotas);
        let clock = Clock::now();
        let err = store
            .create_replication_group(new_group("big", Topology::Clusters(4)), clock)
            .unwrap_err();
        assert_eq!(err.fault, Fault::ClusterQuotaForCustomerExceeded);
        let shards = Topology::Shards {
            node_groups: Some(3),
            replicas: Some(0),
        };
        let err = store
            .create_replication_group(new_group("wide", shards), clock)
            .unwrap_err();
        assert_eq!(err.fault, Fault::NodeGroupsPerReplicationGroupQuotaExceeded);
        store
            .create_replication_group(new_group("fits", Topology::Clusters(3)), clock)
            .unwrap();
        let memcached = NewCluster {
            id: "m".to_owned(),
            settings: NodeSettings {
                engine: Some("memcached".to_owned()),
                cache_node_type: Some("cache.t3.micro".to_owned()),
                ..NodeSettings::default()
            },
            num_cache_nodes: Some(2),
            ..NewCluster::default()
        };
        let err = store.create_cache_cluster(memcached, clock).unwrap_err();
        assert_eq!(err.fault, Fault::ClusterQuotaForCustomerExceeded);
        // Nothing was half-created.
        assert_eq!(store.nodes.clusters.len(), 3);
        assert_eq!(store.nodes.groups.len(), 1);
        let later = Clock {
            now: clock.now + config.settle_time,
            wall: clock.wall + config.settle_time,
        };
        store.tick(later.now);
        store
            .create_classic_snapshot(
                "one".to_owned(),
                Some("fits"),
                None,
                None,
                Vec::new(),
                later,
            )
            .unwrap();
        let err = store
            .create_classic_snapshot(
                "two".to_owned(),
                None,
                Some("fits-001"),
                None,
                Vec::new(),
                later,
            )
            .unwrap_err();
        assert_eq!(err.fault, Fault::SnapshotQuotaExceeded);
    }

    #[test]
    fn slots_split_evenly_over_node_groups() {
        assert_eq!(split_slots(1), vec!["0-16383"]);
        assert_eq!(split_slots(3), vec!["0-5460", "5461-10921", "10922-16383"]);
    }
}
