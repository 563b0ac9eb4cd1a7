//! Global datastores (global replication groups). The emulator is one region, so a global
//! datastore has its primary replication group here and no secondary: what needs a secondary
//! (failing over to one, disassociating one) answers the fault ElastiCache gives for a
//! replication group that is not a secondary member. Changes to the datastore's node type,
//! engine version, parameter group, automatic failover or shards apply to its primary group.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::error::{ApiError, Fault};
use super::operations::{Operation, Output, int_in, marker_page, non_empty, tags};
use super::query::{Params, Tag};
use super::replication::{ReplicationGroup, SettingsChanges, ShardChanges, Status, group_state};
use super::store::{Clock, Page, PageRequest, Store, TokenKind, paginate};
use super::xml::XmlWriter;

/// A global datastore; what it shares with its primary group is read from the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GlobalGroup {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) primary: String,
    pub(crate) status: Status,
    #[serde(with = "crate::wall_time::deadline")]
    pub(crate) settles_at: Option<Instant>,
    pub(crate) arn: String,
    pub(crate) tags: Vec<Tag>,
}

/// A global datastore with its primary group, as the operations answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GlobalView {
    global: GlobalGroup,
    primary: Option<ReplicationGroup>,
    region: String,
    show_members: bool,
}

impl GlobalView {
    fn write(&self, xml: &mut XmlWriter) {
        let global = &self.global;
        xml.element("GlobalReplicationGroup", |xml| {
            xml.text("GlobalReplicationGroupId", &global.id);
            xml.text("GlobalReplicationGroupDescription", &global.description);
            xml.text("Status", global.status.as_str());
            let Some(primary) = &self.primary else {
                xml.text("ARN", &global.arn);
                return;
            };
            let settings = &primary.settings;
            xml.text("CacheNodeType", &settings.cache_node_type);
            xml.text("Engine", &settings.engine);
            xml.text("EngineVersion", &settings.engine_version);
            if self.show_members {
                xml.element("Members", |xml| {
                    xml.element("GlobalReplicationGroupMember", |xml| {
                        xml.text("ReplicationGroupId", &primary.id);
                        xml.text("ReplicationGroupRegion", &self.region);
                        xml.text("Role", "PRIMARY");
                        let failover = if primary.automatic_failover {
                            "enabled"
                        } else {
                            "disabled"
                        };
                        xml.text("AutomaticFailover", failover);
                        xml.text("Status", "associated");
                    });
                });
            }
            xml.value("ClusterEnabled", primary.cluster_enabled);
            if primary.cluster_enabled {
                xml.element("GlobalNodeGroups", |xml| {
                    for node_group in &primary.node_groups {
                        xml.element("GlobalNodeGroup", |xml| {
                            xml.text(
                                "GlobalNodeGroupId",
                                &format!("{}-{}", global.id, node_group.id),
                            );
                            xml.opt_text("Slots", node_group.slots.as_deref());
                        });
                    }
                });
            }
            xml.value("AuthTokenEnabled", settings.auth_token);
            xml.value("TransitEncryptionEnabled", settings.transit_encryption);
            xml.value("AtRestEncryptionEnabled", settings.at_rest_encryption);
            xml.text("ARN", &global.arn);
        });
    }
}

/// What this family answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    One(Box<GlobalView>),
    Page(Page<GlobalView>),
}

impl Answer {
    pub(crate) fn write(&self, xml: &mut XmlWriter) {
        match self {
            Answer::One(view) => view.write(xml),
            Answer::Page(page) => {
                xml.opt_text("Marker", page.next_token.as_deref());
                xml.element("GlobalReplicationGroups", |xml| {
                    page.items.iter().for_each(|view| view.write(xml));
                });
            }
        }
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        Fault::GlobalReplicationGroupNotFound,
        format!("GlobalReplicationGroup {id} not found."),
    )
}

/// The prefix ElastiCache puts before a global datastore's suffix, fixed per region.
fn prefix(region: &str) -> String {
    let hash = region
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    (0..5)
        .map(|i| char::from(b'a' + u8::try_from((hash >> (i * 5)) % 26).unwrap_or(0)))
        .collect()
}

impl Store {
    fn global(&self, id: &str) -> Result<&GlobalGroup, ApiError> {
        self.nodes.globals.get(id).ok_or_else(|| not_found(id))
    }

    /// The global datastore, checked `available`.
    fn available_global(&self, id: &str) -> Result<GlobalGroup, ApiError> {
        let global = self.global(id)?;
        if global.status != Status::Available {
            return Err(ApiError::new(
                Fault::InvalidGlobalReplicationGroupState,
                format!(
                    "Global datastore {id} is {}; it must be available.",
                    global.status.as_str()
                ),
            ));
        }
        Ok(global.clone())
    }

    fn view(&self, global: GlobalGroup, show_members: bool) -> GlobalView {
        GlobalView {
            primary: self.nodes.groups.get(&global.primary).cloned(),
            global,
            region: self.region().to_owned(),
            show_members,
        }
    }

    /// Marks the datastore `modifying` until `settles_at` and answers it.
    fn modifying(&mut self, id: &str, settles_at: Instant) -> Result<Output, ApiError> {
        self.schedule(settles_at);
        let global = self
            .nodes
            .globals
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        global.status = Status::Modifying;
        global.settles_at = Some(settles_at);
        let global = global.clone();
        Ok(Output::Global(Answer::One(Box::new(
            self.view(global, true),
        ))))
    }
}

fn apply_immediately(params: &Params) -> Result<(), ApiError> {
    match params.bool("ApplyImmediately")? {
        Some(true) => Ok(()),
        Some(false) => Err(ApiError::invalid(
            "ApplyImmediately",
            "changes to a global datastore are applied immediately (ApplyImmediately=true)",
        )),
        None => Err(ApiError::missing("ApplyImmediately")),
    }
}

fn global_id(params: &Params) -> Result<String, ApiError> {
    Ok(params
        .required("GlobalReplicationGroupId")?
        .to_ascii_lowercase())
}

pub(crate) struct CreateGlobalReplicationGroup;

impl Operation for CreateGlobalReplicationGroup {
    const NAME: &'static str = "CreateGlobalReplicationGroup";
    type Input = (String, String, Option<String>, Vec<Tag>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let suffix = params
            .required("GlobalReplicationGroupIdSuffix")?
            .to_ascii_lowercase();
        let valid = suffix.len() <= 40
            && suffix.starts_with(|c: char| c.is_ascii_alphabetic())
            && suffix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            return Err(ApiError::invalid(
                "GlobalReplicationGroupIdSuffix",
                "must be up to 40 letters, digits or hyphens, beginning with a letter",
            ));
        }
        let primary = params
            .required("PrimaryReplicationGroupId")?
            .to_ascii_lowercase();
        Ok((
            suffix,
            primary,
            params
                .get("GlobalReplicationGroupDescription")
                .map(str::to_owned),
            tags(params)?,
        ))
    }

    fn apply(
        store: &mut Store,
        (suffix, primary, description, tags): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        let group = store.nodes_group(&primary)?;
        if group.status != Status::Available {
            return Err(group_state(group));
        }
        if let Some(global) = &group.global_replication_group_id {
            return Err(ApiError::invalid(
                "PrimaryReplicationGroupId",
                format!("{primary} is already a member of global datastore {global}"),
            ));
        }
        if group.settings.cache_node_type.starts_with("cache.t") {
            return Err(ApiError::invalid(
                "PrimaryReplicationGroupId",
                format!(
                    "global datastores need M5, R5 or later node types, not {}",
                    group.settings.cache_node_type
                ),
            ));
        }
        if group.settings.engine == "redis" && group.settings.engine_version.as_str() < "5.0.6" {
            return Err(ApiError::invalid(
                "PrimaryReplicationGroupId",
                "global datastores need Redis OSS 5.0.6 or later",
            ));
        }
        let id = format!("{}-{suffix}", prefix(store.region()));
        if store.nodes.globals.contains_key(&id) {
            return Err(ApiError::new(
                Fault::GlobalReplicationGroupAlreadyExists,
                format!("GlobalReplicationGroup {id} already exists."),
            ));
        }
        let settles_at = store.schedule(clock.now + store.settle_time());
        let global = GlobalGroup {
            arn: format!(
                "arn:aws:elasticache::{}:globalreplicationgroup:{id}",
                store.account_id()
            ),
            id: id.clone(),
            description: description.unwrap_or_default(),
            primary: primary.clone(),
            status: Status::Creating,
            settles_at: Some(settles_at),
            tags,
        };
        store.nodes.globals.insert(id.clone(), global.clone());
        store.nodes_group_mut(&primary)?.global_replication_group_id = Some(id);
        Ok(Output::Global(Answer::One(Box::new(
            store.view(global, true),
        ))))
    }
}

pub(crate) struct DescribeGlobalReplicationGroups;

impl Operation for DescribeGlobalReplicationGroups {
    const NAME: &'static str = "DescribeGlobalReplicationGroups";
    type Input = (Option<String>, bool, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        Ok((
            non_empty(params, "GlobalReplicationGroupId").map(|id| id.to_ascii_lowercase()),
            params.bool("ShowMemberInfo")?.unwrap_or(false),
            marker_page(params)?,
        ))
    }

    fn apply(
        store: &mut Store,
        (id, show_members, page): Self::Input,
        _: Clock,
    ) -> Result<Output, ApiError> {
        if let Some(id) = &id {
            store.global(id)?;
        }
        let page = paginate(
            &store.nodes.globals,
            TokenKind::GlobalReplicationGroup,
            &page,
            |g| id.as_ref().is_none_or(|id| &g.id == id),
        )?;
        let page = Page {
            items: page
                .items
                .into_iter()
                .map(|global| store.view(global, show_members))
                .collect(),
            next_token: page.next_token,
        };
        Ok(Output::Global(Answer::Page(page)))
    }
}

pub(crate) struct ModifyGlobalReplicationGroup;

impl Operation for ModifyGlobalReplicationGroup {
    const NAME: &'static str = "ModifyGlobalReplicationGroup";
    type Input = (String, Option<String>, Option<bool>, SettingsChanges);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let id = global_id(params)?;
        apply_immediately(params)?;
        let changes = SettingsChanges {
            engine: non_empty(params, "Engine").map(|e| e.to_ascii_lowercase()),
            engine_version: non_empty(params, "EngineVersion"),
            cache_node_type: non_empty(params, "CacheNodeType"),
            parameter_group: non_empty(params, "CacheParameterGroupName")
                .map(|g| g.to_ascii_lowercase()),
            apply_immediately: true,
            ..SettingsChanges::default()
        };
        let description = params
            .get("GlobalReplicationGroupDescription")
            .map(str::to_owned);
        let failover = params.bool("AutomaticFailoverEnabled")?;
        if changes.is_empty() && description.is_none() && failover.is_none() {
            return Err(ApiError::combination("No modifications were requested"));
        }
        Ok((id, description, failover, changes))
    }

    fn apply(
        store: &mut Store,
        (id, description, failover, changes): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        let global = store.available_global(&id)?;
        let mut primary = store.nodes_group(&global.primary)?.clone();
        if primary.status != Status::Available {
            return Err(group_state(&primary));
        }
        store.apply_settings(&mut primary.settings, &changes, primary.cluster_enabled)?;
        if let Some(failover) = failover {
            if !failover && primary.cluster_enabled {
                return Err(ApiError::invalid(
                    "AutomaticFailoverEnabled",
                    "a cluster mode enabled replication group keeps automatic failover",
                ));
            }
            primary.automatic_failover = failover;
        }
        let settles_at = clock.now + store.settle_time();
        if !changes.is_empty() || failover.is_some() {
            primary.status = Status::Modifying;
            primary.settles_at = Some(settles_at);
            let members: Vec<String> = primary.member_ids().map(str::to_owned).collect();
            for member in members {
                if let Some(cluster) = store.nodes.clusters.get_mut(&member) {
                    cluster.settings = primary.settings.clone();
                }
            }
        }
        store.nodes.groups.insert(primary.id.clone(), primary);
        if let Some(description) = description
            && let Some(global) = store.nodes.globals.get_mut(&id)
        {
            global.description = description;
        }
        store.modifying(&id, settles_at)
    }
}

pub(crate) struct DeleteGlobalReplicationGroup;

impl Operation for DeleteGlobalReplicationGroup {
    const NAME: &'static str = "DeleteGlobalReplicationGroup";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        let id = global_id(params)?;
        match params.bool("RetainPrimaryReplicationGroup")? {
            Some(true) => Ok(id),
            Some(false) => Err(ApiError::invalid(
                "RetainPrimaryReplicationGroup",
                "the primary replication group is kept; delete it on its own afterwards",
            )),
            None => Err(ApiError::missing("RetainPrimaryReplicationGroup")),
        }
    }

    fn apply(store: &mut Store, id: String, clock: Clock) -> Result<Output, ApiError> {
        let global = store.available_global(&id)?;
        if let Some(primary) = store.nodes.groups.get_mut(&global.primary) {
            primary.global_replication_group_id = None;
        }
        let settles_at = store.schedule(clock.now + store.settle_time());
        let global = store
            .nodes
            .globals
            .get_mut(&id)
            .ok_or_else(|| not_found(&id))?;
        global.status = Status::Deleting;
        global.settles_at = Some(settles_at);
        let global = global.clone();
        Ok(Output::Global(Answer::One(Box::new(
            store.view(global, true),
        ))))
    }
}

/// `DisassociateGlobalReplicationGroup` and `FailoverGlobalReplicationGroup` need a secondary
/// member; the emulated region's group is the primary, and no other region is emulated.
fn no_secondary(
    store: &Store,
    id: &str,
    group: &str,
    region: &str,
    parameter: &str,
) -> Result<Output, ApiError> {
    let global = store.available_global(id)?;
    if group == global.primary && region == store.region() {
        return Err(ApiError::invalid(
            parameter,
            format!("{group} is the primary of global datastore {id}, not a secondary member"),
        ));
    }
    Err(ApiError::invalid(
        parameter,
        format!("{group} in {region} is not a secondary member of global datastore {id}"),
    ))
}

pub(crate) struct DisassociateGlobalReplicationGroup;

impl Operation for DisassociateGlobalReplicationGroup {
    const NAME: &'static str = "DisassociateGlobalReplicationGroup";
    type Input = (String, String, String);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        Ok((
            global_id(params)?,
            params.required("ReplicationGroupId")?.to_ascii_lowercase(),
            params.required("ReplicationGroupRegion")?.to_owned(),
        ))
    }

    fn apply(
        store: &mut Store,
        (id, group, region): Self::Input,
        _: Clock,
    ) -> Result<Output, ApiError> {
        no_secondary(store, &id, &group, &region, "ReplicationGroupId")
    }
}

pub(crate) struct FailoverGlobalReplicationGroup;

impl Operation for FailoverGlobalReplicationGroup {
    const NAME: &'static str = "FailoverGlobalReplicationGroup";
    type Input = (String, String, String);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        Ok((
            global_id(params)?,
            params
                .required("PrimaryReplicationGroupId")?
                .to_ascii_lowercase(),
            params.required("PrimaryRegion")?.to_owned(),
        ))
    }

    fn apply(
        store: &mut Store,
        (id, group, region): Self::Input,
        _: Clock,
    ) -> Result<Output, ApiError> {
        no_secondary(store, &id, &group, &region, "PrimaryReplicationGroupId")
    }
}

/// Resharding the datastore reshards its primary group.
fn reshard(
    store: &mut Store,
    id: &str,
    count: usize,
    to_remove: Vec<String>,
    to_retain: Vec<String>,
    clock: Clock,
) -> Result<Output, ApiError> {
    let global = store.available_global(id)?;
    let strip = |ids: Vec<String>| -> Vec<String> {
        ids.into_iter()
            .map(|g| {
                g.strip_prefix(&format!("{id}-"))
                    .map_or_else(|| g.clone(), str::to_owned)
            })
            .collect()
    };
    let changes = ShardChanges {
        id: global.primary.clone(),
        node_group_count: count,
        to_remove: strip(to_remove),
        to_retain: strip(to_retain),
    };
    store.modify_shard_configuration(changes, clock)?;
    store.modifying(id, clock.now + store.settle_time())
}

fn node_group_count(params: &Params) -> Result<usize, ApiError> {
    let count = int_in(params, "NodeGroupCount", 1..=500)?
        .ok_or_else(|| ApiError::missing("NodeGroupCount"))?;
    Ok(usize::try_from(count).unwrap_or(1))
}

pub(crate) struct IncreaseNodeGroupsInGlobalReplicationGroup;

impl Operation for IncreaseNodeGroupsInGlobalReplicationGroup {
    const NAME: &'static str = "IncreaseNodeGroupsInGlobalReplicationGroup";
    type Input = (String, usize);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let id = global_id(params)?;
        apply_immediately(params)?;
        Ok((id, node_group_count(params)?))
    }

    fn apply(
        store: &mut Store,
        (id, count): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        let primary = store.nodes_group(&store.available_global(&id)?.primary)?;
        if count <= primary.node_groups.len() {
            return Err(ApiError::invalid(
                "NodeGroupCount",
                format!(
                    "the datastore has {} node groups already",
                    primary.node_groups.len()
                ),
            ));
        }
        reshard(store, &id, count, Vec::new(), Vec::new(), clock)
    }
}

pub(crate) struct DecreaseNodeGroupsInGlobalReplicationGroup;

impl Operation for DecreaseNodeGroupsInGlobalReplicationGroup {
    const NAME: &'static str = "DecreaseNodeGroupsInGlobalReplicationGroup";
    type Input = (String, usize, Vec<String>, Vec<String>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let id = global_id(params)?;
        apply_immediately(params)?;
        let count = node_group_count(params)?;
        let remove = params
            .list("GlobalNodeGroupsToRemove", "GlobalNodeGroupId")?
            .unwrap_or_default();
        let retain = params
            .list("GlobalNodeGroupsToRetain", "GlobalNodeGroupId")?
            .unwrap_or_default();
        Ok((id, count, remove, retain))
    }

    fn apply(
        store: &mut Store,
        (id, count, remove, retain): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        let primary = store.nodes_group(&store.available_global(&id)?.primary)?;
        if count >= primary.node_groups.len() {
            return Err(ApiError::invalid(
                "NodeGroupCount",
                format!(
                    "the datastore has {} node groups",
                    primary.node_groups.len()
                ),
            ));
        }
        reshard(store, &id, count, remove, retain, clock)
    }
}

pub(crate) struct RebalanceSlotsInGlobalReplicationGroup;

impl Operation for RebalanceSlotsInGlobalReplicationGroup {
    const NAME: &'static str = "RebalanceSlotsInGlobalReplicationGroup";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        let id = global_id(params)?;
        apply_immediately(params)?;
        Ok(id)
    }

    fn apply(store: &mut Store, id: String, clock: Clock) -> Result<Output, ApiError> {
        let global = store.available_global(&id)?;
        let primary = store.nodes_group(&global.primary)?;
        if !primary.cluster_enabled {
            return Err(ApiError::invalid(
                "GlobalReplicationGroupId",
                "slots are rebalanced in cluster mode enabled datastores only",
            ));
        }
        store.modifying(&id, clock.now + store.settle_time())
    }
}
