//! The operations: each reads its parameters, applies itself to the store, and names what it
//! returns. [`Operation`] carries the shared shape once; [`ACTIONS`] is the dispatch table.

use std::ops::RangeInclusive;
use std::sync::Mutex;

use super::error::{ApiError, Fault};
use super::model::{
    Authentication, Cache, Range, Snapshot, UsageLimits, User, UserGroup, write_tag_list,
};
use super::query::{Params, Tag};
use super::store::{
    CacheChanges, Clock, MAX_TAGS, NewCache, NewUser, NewUserGroup, Page, PageRequest, ResourceArn,
    SnapshotFilter, Store, TaggableKind, UserChanges, UserFilter, UserGroupChanges,
};
use super::xml::XmlWriter;
use super::{
    events, global, parameters, replication, replication_ops, reserved, unemulated, updates,
};

/// One ElastiCache action.
pub(crate) trait Operation {
    /// The `Action` parameter that selects it.
    const NAME: &'static str;
    /// The request, validated for syntax.
    type Input;
    /// Reads and checks the parameters; runs outside the store lock.
    fn parse(params: &Params) -> Result<Self::Input, ApiError>;
    /// Applies the request to the store, whose transitions are already settled.
    fn apply(store: &mut Store, input: Self::Input, clock: Clock) -> Result<Output, ApiError>;
}

/// What an operation returns inside its `…Result` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    Cache(Box<Cache>),
    Snapshot(Snapshot),
    Caches(Page<Cache>),
    Snapshots(Page<Snapshot>),
    Tags(Vec<Tag>),
    User(Box<User>),
    Users(Page<User>),
    UserGroup(Box<UserGroup>),
    UserGroups(Page<UserGroup>),
    /// Replication groups, cache clusters and classic snapshots.
    Replication(replication::Answer),
    /// Parameter groups, subnet groups and engine versions.
    Catalog(parameters::Answer),
    /// Service updates and update actions (there are none).
    Updates(updates::Answer),
    /// Reserved node offerings and reservations.
    Reserved(reserved::Answer),
    /// Global datastores.
    Global(global::Answer),
    /// `DescribeCacheSecurityGroups`: there are none.
    NoSecurityGroups,
    /// A page of `DescribeEvents`.
    Events(Page<events::Event>),
    /// Nothing: the response has no `…Result` element.
    Empty,
}

impl Output {
    pub(crate) fn write(&self, xml: &mut XmlWriter) {
        match self {
            Output::Cache(cache) => xml.element("ServerlessCache", |xml| cache.write_members(xml)),
            Output::Snapshot(snapshot) => {
                xml.element("ServerlessCacheSnapshot", |xml| snapshot.write_members(xml));
            }
            Output::Caches(page) => {
                xml.element("ServerlessCaches", |xml| {
                    for cache in &page.items {
                        xml.element("member", |xml| cache.write_members(xml));
                    }
                });
                xml.opt_text("NextToken", page.next_token.as_deref());
            }
            Output::Snapshots(page) => {
                xml.element("ServerlessCacheSnapshots", |xml| {
                    for snapshot in &page.items {
                        xml.element("ServerlessCacheSnapshot", |xml| snapshot.write_members(xml));
                    }
                });
                xml.opt_text("NextToken", page.next_token.as_deref());
            }
            Output::Tags(tags) => write_tag_list(xml, tags),
            // A user or user group is the result itself, not an element of it.
            Output::User(user) => user.write_members(xml),
            Output::Users(page) => {
                xml.element("Users", |xml| {
                    for user in &page.items {
                        xml.element("member", |xml| user.write_members(xml));
                    }
                });
                xml.opt_text("Marker", page.next_token.as_deref());
            }
            Output::Replication(answer) => answer.write(xml),
            Output::Catalog(answer) => answer.write(xml),
            Output::Events(page) => events::write_events(xml, page),
            Output::Updates(answer) => answer.write(xml),
            Output::Reserved(answer) => answer.write(xml),
            Output::NoSecurityGroups => unemulated::write_no_security_groups(xml),
            Output::Global(answer) => answer.write(xml),
            Output::Empty => {}
            Output::UserGroup(group) => group.write_members(xml),
            Output::UserGroups(page) => {
                xml.element("UserGroups", |xml| {
                    for group in &page.items {
                        xml.element("member", |xml| group.write_members(xml));
                    }
                });
                xml.opt_text("Marker", page.next_token.as_deref());
            }
        }
    }
}

/// An entry of the dispatch table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Action {
    pub(crate) name: &'static str,
    run: fn(&Params, &Mutex<Store>, Clock) -> Result<Output, ApiError>,
}

impl Action {
    const fn of<O: Operation>() -> Self {
        Self {
            name: O::NAME,
            run: run::<O>,
        }
    }

    /// Handles one request against the shared store.
    pub(crate) fn handle(
        &self,
        params: &Params,
        store: &Mutex<Store>,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        (self.run)(params, store, clock)
    }
}

fn run<O: Operation>(
    params: &Params,
    store: &Mutex<Store>,
    clock: Clock,
) -> Result<Output, ApiError> {
    let input = O::parse(params)?;
    let mut store = super::accounts::lock(store);
    store.tick(clock.now);
    let output = O::apply(&mut store, input, clock)?;
    // Saved before the answer, under the lock, so what a caller was told succeeded is on disk
    // and saves land in the order of the changes. ElastiCache's Describe and List actions
    // change nothing; what `tick` settled for them is settled again, the same way, after a
    // restart, and saved with the next change.
    if !(O::NAME.starts_with("Describe") || O::NAME.starts_with("List")) {
        store.save().map_err(|error| {
            tracing::error!(%error, action = O::NAME, "emulator state not saved");
            ApiError::new(
                Fault::InternalFailure,
                format!("The change was made but not saved: {error}"),
            )
        })?;
    }
    Ok(output)
}

/// Every action the emulator serves; the index is the call counter's slot.
pub(crate) const ACTIONS: [Action; 77] = [
    Action::of::<CreateServerlessCache>(),
    Action::of::<DescribeServerlessCaches>(),
    Action::of::<ModifyServerlessCache>(),
    Action::of::<DeleteServerlessCache>(),
    Action::of::<CreateServerlessCacheSnapshot>(),
    Action::of::<DescribeServerlessCacheSnapshots>(),
    Action::of::<CopyServerlessCacheSnapshot>(),
    Action::of::<DeleteServerlessCacheSnapshot>(),
    Action::of::<ExportServerlessCacheSnapshot>(),
    Action::of::<AddTagsToResource>(),
    Action::of::<ListTagsForResource>(),
    Action::of::<RemoveTagsFromResource>(),
    Action::of::<CreateUser>(),
    Action::of::<DescribeUsers>(),
    Action::of::<DeleteUser>(),
    Action::of::<CreateUserGroup>(),
    Action::of::<DescribeUserGroups>(),
    Action::of::<ModifyUserGroup>(),
    Action::of::<DeleteUserGroup>(),
    Action::of::<replication_ops::CreateReplicationGroup>(),
    Action::of::<replication_ops::DescribeReplicationGroups>(),
    Action::of::<replication_ops::ModifyReplicationGroup>(),
    Action::of::<replication_ops::IncreaseReplicaCount>(),
    Action::of::<replication_ops::DecreaseReplicaCount>(),
    Action::of::<replication_ops::TestFailover>(),
    Action::of::<replication_ops::ModifyReplicationGroupShardConfiguration>(),
    Action::of::<replication_ops::DeleteReplicationGroup>(),
    Action::of::<replication_ops::CreateCacheCluster>(),
    Action::of::<replication_ops::DescribeCacheClusters>(),
    Action::of::<replication_ops::ModifyCacheCluster>(),
    Action::of::<replication_ops::RebootCacheCluster>(),
    Action::of::<replication_ops::DeleteCacheCluster>(),
    Action::of::<replication_ops::CreateSnapshot>(),
    Action::of::<replication_ops::DescribeSnapshots>(),
    Action::of::<replication_ops::CopySnapshot>(),
    Action::of::<replication_ops::DeleteSnapshot>(),
    Action::of::<parameters::CreateCacheParameterGroup>(),
    Action::of::<parameters::DescribeCacheParameterGroups>(),
    Action::of::<parameters::ModifyCacheParameterGroup>(),
    Action::of::<parameters::ResetCacheParameterGroup>(),
    Action::of::<parameters::DeleteCacheParameterGroup>(),
    Action::of::<parameters::DescribeCacheParameters>(),
    Action::of::<parameters::DescribeEngineDefaultParameters>(),
    Action::of::<parameters::CreateCacheSubnetGroup>(),
    Action::of::<parameters::DescribeCacheSubnetGroups>(),
    Action::of::<parameters::ModifyCacheSubnetGroup>(),
    Action::of::<parameters::DeleteCacheSubnetGroup>(),
    Action::of::<parameters::DescribeCacheEngineVersions>(),
    Action::of::<events::DescribeEvents>(),
    Action::of::<ModifyUser>(),
    Action::of::<replication_ops::ListAllowedNodeTypeModifications>(),
    Action::of::<updates::DescribeServiceUpdates>(),
    Action::of::<updates::DescribeUpdateActions>(),
    Action::of::<updates::BatchApplyUpdateAction>(),
    Action::of::<updates::BatchStopUpdateAction>(),
    Action::of::<reserved::DescribeReservedCacheNodesOfferings>(),
    Action::of::<reserved::DescribeReservedCacheNodes>(),
    Action::of::<reserved::PurchaseReservedCacheNodesOffering>(),
    Action::of::<unemulated::CreateCacheSecurityGroup>(),
    Action::of::<unemulated::DescribeCacheSecurityGroups>(),
    Action::of::<unemulated::DeleteCacheSecurityGroup>(),
    Action::of::<unemulated::AuthorizeCacheSecurityGroupIngress>(),
    Action::of::<unemulated::RevokeCacheSecurityGroupIngress>(),
    Action::of::<unemulated::PrepareMigration>(),
    Action::of::<unemulated::StartMigration>(),
    Action::of::<unemulated::TestMigration>(),
    Action::of::<unemulated::CompleteMigration>(),
    Action::of::<unemulated::StopMigration>(),
    Action::of::<global::CreateGlobalReplicationGroup>(),
    Action::of::<global::DescribeGlobalReplicationGroups>(),
    Action::of::<global::ModifyGlobalReplicationGroup>(),
    Action::of::<global::DeleteGlobalReplicationGroup>(),
    Action::of::<global::DisassociateGlobalReplicationGroup>(),
    Action::of::<global::FailoverGlobalReplicationGroup>(),
    Action::of::<global::IncreaseNodeGroupsInGlobalReplicationGroup>(),
    Action::of::<global::DecreaseNodeGroupsInGlobalReplicationGroup>(),
    Action::of::<global::RebalanceSlotsInGlobalReplicationGroup>(),
];

/// The action called `name` and its index in [`ACTIONS`].
pub(crate) fn find(name: &str) -> Option<(usize, &'static Action)> {
    ACTIONS
        .iter()
        .enumerate()
        .find(|(_, action)| action.name == name)
}

struct CreateServerlessCache;

impl Operation for CreateServerlessCache {
    const NAME: &'static str = "CreateServerlessCache";
    type Input = NewCache;

    fn parse(params: &Params) -> Result<NewCache, ApiError> {
        Ok(NewCache {
            name: new_cache_name(params.required("ServerlessCacheName")?)?,
            description: description(params)?,
            engine: params.required("Engine")?.to_ascii_lowercase(),
            major_engine_version: params.get("MajorEngineVersion").map(str::to_owned),
            usage_limits: usage_limits(params)?,
            kms_key_id: non_empty(params, "KmsKeyId"),
            security_group_ids: ids(params, "SecurityGroupIds", "SecurityGroupId", "sg-")?,
            snapshot_arns_to_restore: params
                .list("SnapshotArnsToRestore", "SnapshotArn")?
                .unwrap_or_default(),
            tags: tags(params)?,
            user_group_id: user_group_id(params),
            subnet_ids: ids(params, "SubnetIds", "SubnetId", "subnet-")?,
            snapshot_retention_limit: snapshot_retention_limit(params)?,
            daily_snapshot_time: daily_snapshot_time(params)?,
            network_type: one_of(params, "NetworkType", &["ipv4", "ipv6", "dual_stack"])?,
            connection_type: one_of(params, "ConnectionType", &["public", "vpc"])?,
        })
    }

    fn apply(store: &mut Store, input: NewCache, clock: Clock) -> Result<Output, ApiError> {
        store
            .create_cache(input, clock)
            .map(|cache| Output::Cache(Box::new(cache)))
    }
}

struct DescribeServerlessCaches;

impl Operation for DescribeServerlessCaches {
    const NAME: &'static str = "DescribeServerlessCaches";
    type Input = (Option<String>, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = non_empty(params, "ServerlessCacheName").map(|name| cache_name(&name));
        Ok((name, page_request(params, 1..=100)?))
    }

    fn apply(store: &mut Store, (name, page): Self::Input, _: Clock) -> Result<Output, ApiError> {
        store
            .describe_caches(name.as_deref(), &page)
            .map(Output::Caches)
    }
}

struct ModifyServerlessCache;

impl Operation for ModifyServerlessCache {
    const NAME: &'static str = "ModifyServerlessCache";
    type Input = CacheChanges;

    fn parse(params: &Params) -> Result<CacheChanges, ApiError> {
        let changes = CacheChanges {
            name: cache_name(params.required("ServerlessCacheName")?),
            description: description(params)?,
            usage_limits: usage_limits(params)?,
            remove_user_group: params.bool("RemoveUserGroup")?.unwrap_or(false),
            user_group_id: user_group_id(params),
            security_group_ids: ids(params, "SecurityGroupIds", "SecurityGroupId", "sg-")?,
            snapshot_retention_limit: snapshot_retention_limit(params)?,
            daily_snapshot_time: daily_snapshot_time(params)?,
            engine: params.get("Engine").map(str::to_ascii_lowercase),
            major_engine_version: params.get("MajorEngineVersion").map(str::to_owned),
        };
        if changes.remove_user_group && changes.user_group_id.is_some() {
            return Err(ApiError::combination(
                "RemoveUserGroup and UserGroupId cannot be specified together",
            ));
        }
        let changes_something = changes.description.is_some()
            || changes.usage_limits.is_some()
            || changes.remove_user_group
            || changes.user_group_id.is_some()
            || changes.security_group_ids.is_some()
            || changes.snapshot_retention_limit.is_some()
            || changes.daily_snapshot_time.is_some()
            || changes.engine.is_some()
            || changes.major_engine_version.is_some();
        if !changes_something {
            return Err(ApiError::combination("No modifications were requested"));
        }
        Ok(changes)
    }

    fn apply(store: &mut Store, input: CacheChanges, clock: Clock) -> Result<Output, ApiError> {
        store
            .modify_cache(input, clock)
            .map(|cache| Output::Cache(Box::new(cache)))
    }
}

struct DeleteServerlessCache;

impl Operation for DeleteServerlessCache {
    const NAME: &'static str = "DeleteServerlessCache";
    type Input = (String, Option<String>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = cache_name(params.required("ServerlessCacheName")?);
        let final_snapshot = match non_empty(params, "FinalSnapshotName") {
            Some(snapshot) => Some(snapshot_name("FinalSnapshotName", &snapshot)?),
            None => None,
        };
        Ok((name, final_snapshot))
    }

    fn apply(
        store: &mut Store,
        (name, snapshot): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        store
            .delete_cache(&name, snapshot, clock)
            .map(|cache| Output::Cache(Box::new(cache)))
    }
}

struct CreateServerlessCacheSnapshot;

impl Operation for CreateServerlessCacheSnapshot {
    const NAME: &'static str = "CreateServerlessCacheSnapshot";
    type Input = (String, String, Option<String>, Vec<Tag>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        Ok((
            snapshot_name(
                "ServerlessCacheSnapshotName",
                params.required("ServerlessCacheSnapshotName")?,
            )?,
            cache_name(params.required("ServerlessCacheName")?),
            non_empty(params, "KmsKeyId"),
            tags(params)?,
        ))
    }

    fn apply(
        store: &mut Store,
        (snapshot, cache, kms_key_id, tags): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        store
            .create_snapshot(snapshot, &cache, kms_key_id, tags, clock)
            .map(Output::Snapshot)
    }
}

struct DescribeServerlessCacheSnapshots;

impl Operation for DescribeServerlessCacheSnapshots {
    const NAME: &'static str = "DescribeServerlessCacheSnapshots";
    type Input = (SnapshotFilter, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let include_manual = match params.get("SnapshotType") {
            None | Some("") | Some("manual") => true,
            Some("automated") => false,
            Some(other) => {
                return Err(ApiError::invalid(
                    "SnapshotType",
                    format!("{other:?} is not one of automated, manual"),
                ));
            }
        };
        let filter = SnapshotFilter {
            cache_name: non_empty(params, "ServerlessCacheName").map(|name| cache_name(&name)),
            snapshot_name: non_empty(params, "ServerlessCacheSnapshotName"),
            include_manual,
        };
        // The API reference caps this operation's pages at 50.
        Ok((filter, page_request(params, 1..=50)?))
    }

    fn apply(store: &mut Store, (filter, page): Self::Input, _: Clock) -> Result<Output, ApiError> {
        store
            .describe_snapshots(&filter, &page)
            .map(Output::Snapshots)
    }
}

struct CopyServerlessCacheSnapshot;

impl Operation for CopyServerlessCacheSnapshot {
    const NAME: &'static str = "CopyServerlessCacheSnapshot";
    type Input = (String, String, Option<String>, Vec<Tag>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        const TARGET: &str = "TargetServerlessCacheSnapshotName";
        Ok((
            params
                .required("SourceServerlessCacheSnapshotName")?
                .to_owned(),
            snapshot_name(TARGET, params.required(TARGET)?)?,
            non_empty(params, "KmsKeyId"),
            tags(params)?,
        ))
    }

    fn apply(
        store: &mut Store,
        (source, target, kms_key_id, tags): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        store
            .copy_snapshot(&source, target, kms_key_id, tags, clock)
            .map(Output::Snapshot)
    }
}

struct DeleteServerlessCacheSnapshot;

impl Operation for DeleteServerlessCacheSnapshot {
    const NAME: &'static str = "DeleteServerlessCacheSnapshot";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        Ok(params.required("ServerlessCacheSnapshotName")?.to_owned())
    }

    fn apply(store: &mut Store, name: String, clock: Clock) -> Result<Output, ApiError> {
        store.delete_snapshot(&name, clock).map(Output::Snapshot)
    }
}

struct ExportServerlessCacheSnapshot;

impl Operation for ExportServerlessCacheSnapshot {
    const NAME: &'static str = "ExportServerlessCacheSnapshot";
    type Input = (String, String);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = params.required("ServerlessCacheSnapshotName")?.to_owned();
        let bucket = params.required("S3BucketName")?;
        s3_bucket_name(bucket)?;
        Ok((name, bucket.to_owned()))
    }

    fn apply(
        store: &mut Store,
        (name, bucket): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        store.write_export(&name, &bucket)?;
        store.export_snapshot(&name, clock).map(Output::Snapshot)
    }
}

struct AddTagsToResource;

impl Operation for AddTagsToResource {
    const NAME: &'static str = "AddTagsToResource";
    type Input = (ResourceArn, Vec<Tag>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let resource = resource_arn(params.required("ResourceName")?)?;
        if !params.has_struct("Tags") {
            return Err(ApiError::missing("Tags"));
        }
        Ok((resource, tags(params)?))
    }

    fn apply(
        store: &mut Store,
        (resource, tags): Self::Input,
        _: Clock,
    ) -> Result<Output, ApiError> {
        store.add_tags(&resource, tags).map(Output::Tags)
    }
}

struct ListTagsForResource;

impl Operation for ListTagsForResource {
    const NAME: &'static str = "ListTagsForResource";
    type Input = ResourceArn;

    fn parse(params: &Params) -> Result<ResourceArn, ApiError> {
        resource_arn(params.required("ResourceName")?)
    }

    fn apply(store: &mut Store, resource: ResourceArn, _: Clock) -> Result<Output, ApiError> {
        store.list_tags(&resource).map(Output::Tags)
    }
}

struct RemoveTagsFromResource;

impl Operation for RemoveTagsFromResource {
    const NAME: &'static str = "RemoveTagsFromResource";
    type Input = (ResourceArn, Vec<String>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let resource = resource_arn(params.required("ResourceName")?)?;
        let keys = params
            .list("TagKeys", "member")?
            .ok_or_else(|| ApiError::missing("TagKeys"))?;
        Ok((resource, keys))
    }

    fn apply(
        store: &mut Store,
        (resource, keys): Self::Input,
        _: Clock,
    ) -> Result<Output, ApiError> {
        store.remove_tags(&resource, &keys).map(Output::Tags)
    }
}

struct CreateUser;

impl Operation for CreateUser {
    const NAME: &'static str = "CreateUser";
    type Input = NewUser;

    fn parse(params: &Params) -> Result<NewUser, ApiError> {
        let id = rbac_id("UserId", params.required("UserId")?)?;
        let name = params.required("UserName")?.to_owned();
        let engine = rbac_engine(params.required("Engine")?)?;
        let access_string = params.required("AccessString")?;
        if access_string.trim().is_empty() {
            return Err(ApiError::invalid("AccessString", "must not be blank"));
        }
        let authentication = authentication(params, &id, &name)?;
        Ok(NewUser {
            id,
            name,
            engine,
            access_string: access_string.to_owned(),
            authentication,
            tags: tags(params)?,
        })
    }

    fn apply(store: &mut Store, input: NewUser, _: Clock) -> Result<Output, ApiError> {
        store
            .create_user(input)
            .map(|user| Output::User(Box::new(user)))
    }
}

struct ModifyUser;

impl Operation for ModifyUser {
    const NAME: &'static str = "ModifyUser";
    type Input = UserChanges;

    fn parse(params: &Params) -> Result<UserChanges, ApiError> {
        let id = rbac_id("UserId", params.required("UserId")?)?;
        let access_string = params.get("AccessString").map(str::to_owned);
        let append_access_string = params.get("AppendAccessString").map(str::to_owned);
        if access_string.is_some() && append_access_string.is_some() {
            return Err(ApiError::combination(
                "AccessString and AppendAccessString cannot be specified together",
            ));
        }
        for (name, value) in [
            ("AccessString", &access_string),
            ("AppendAccessString", &append_access_string),
        ] {
            if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
                return Err(ApiError::invalid(name, "must not be blank"));
            }
        }
        let authenticates = params.has_struct("Passwords")
            || params.bool("NoPasswordRequired")? == Some(true)
            || params.has_struct("AuthenticationMode");
        // The IAM rule on the user name is checked against the stored user.
        let authentication = if authenticates {
            Some(authentication(params, &id, &id)?)
        } else {
            None
        };
        let engine = match non_empty(params, "Engine") {
            Some(engine) => Some(rbac_engine(&engine)?),
            None => None,
        };
        let changes = UserChanges {
            id,
            access_string,
            append_access_string,
            authentication,
            engine,
        };
        if changes.access_string.is_none()
            && changes.append_access_string.is_none()
            && changes.authentication.is_none()
            && changes.engine.is_none()
        {
            return Err(ApiError::combination("No modifications were requested"));
        }
        Ok(changes)
    }

    fn apply(store: &mut Store, changes: UserChanges, _: Clock) -> Result<Output, ApiError> {
        store
            .modify_user(changes)
            .map(|user| Output::User(Box::new(user)))
    }
}

struct DescribeUsers;

impl Operation for DescribeUsers {
    const NAME: &'static str = "DescribeUsers";
    type Input = (UserFilter, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let engine = match non_empty(params, "Engine") {
            Some(engine) => Some(rbac_engine(&engine)?),
            None => None,
        };
        let user_id = match non_empty(params, "UserId") {
            Some(id) => Some(rbac_id("UserId", &id)?),
            None => None,
        };
        let mut user_id_filters = Vec::new();
        for index in params.indices("Filters.member")? {
            let prefix = format!("Filters.member.{index}");
            let name_parameter = format!("{prefix}.Name");
            let name = params.required(&name_parameter)?;
            let values_parameter = format!("{prefix}.Values");
            let values = params
                .list(&values_parameter, "member")?
                .filter(|values| !values.is_empty())
                .ok_or_else(|| ApiError::missing(&values_parameter))?;
            match name {
                "user-id" => {
                    user_id_filters.push(values.iter().map(|id| id.to_ascii_lowercase()).collect())
                }
                other => {
                    return Err(ApiError::invalid(
                        &name_parameter,
                        format!("{other:?} is not a filter the emulator supports (user-id)"),
                    ));
                }
            }
        }
        let filter = UserFilter {
            engine,
            user_id,
            user_id_filters,
        };
        Ok((filter, marker_page(params)?))
    }

    fn apply(store: &mut Store, (filter, page): Self::Input, _: Clock) -> Result<Output, ApiError> {
        store.describe_users(&filter, &page).map(Output::Users)
    }
}

struct DeleteUser;

impl Operation for DeleteUser {
    const NAME: &'static str = "DeleteUser";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        rbac_id("UserId", params.required("UserId")?)
    }

    fn apply(store: &mut Store, id: String, _: Clock) -> Result<Output, ApiError> {
        store
            .delete_user(&id)
            .map(|user| Output::User(Box::new(user)))
    }
}

struct CreateUserGroup;

impl Operation for CreateUserGroup {
    const NAME: &'static str = "CreateUserGroup";
    type Input = NewUserGroup;

    fn parse(params: &Params) -> Result<NewUserGroup, ApiError> {
        Ok(NewUserGroup {
            id: rbac_id("UserGroupId", params.required("UserGroupId")?)?,
            engine: rbac_engine(params.required("Engine")?)?,
            user_ids: user_ids(params, "UserIds")?,
            tags: tags(params)?,
        })
    }

    fn apply(store: &mut Store, input: NewUserGroup, _: Clock) -> Result<Output, ApiError> {
        store
            .create_user_group(input)
            .map(|group| Output::UserGroup(Box::new(group)))
    }
}

struct DescribeUserGroups;

impl Operation for DescribeUserGroups {
    const NAME: &'static str = "DescribeUserGroups";
    type Input = (Option<String>, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let id = non_empty(params, "UserGroupId").map(|id| id.to_ascii_lowercase());
        Ok((id, marker_page(params)?))
    }

    fn apply(store: &mut Store, (id, page): Self::Input, _: Clock) -> Result<Output, ApiError> {
        store
            .describe_user_groups(id.as_deref(), &page)
            .map(Output::UserGroups)
    }
}

struct ModifyUserGroup;

impl Operation for ModifyUserGroup {
    const NAME: &'static str = "ModifyUserGroup";
    type Input = UserGroupChanges;

    fn parse(params: &Params) -> Result<UserGroupChanges, ApiError> {
        let changes = UserGroupChanges {
            id: params.required("UserGroupId")?.to_ascii_lowercase(),
            user_ids_to_add: user_ids(params, "UserIdsToAdd")?,
            user_ids_to_remove: user_ids(params, "UserIdsToRemove")?,
            engine: match non_empty(params, "Engine") {
                Some(engine) => Some(rbac_engine(&engine)?),
                None => None,
            },
        };
        if changes.user_ids_to_add.is_empty()
            && changes.user_ids_to_remove.is_empty()
            && changes.engine.is_none()
        {
            return Err(ApiError::combination("No modifications were requested"));
        }
        if let Some(both) = changes
            .user_ids_to_add
            .iter()
            .find(|id| changes.user_ids_to_remove.contains(id))
        {
            return Err(ApiError::combination(format!(
                "User {both} is both in UserIdsToAdd and in UserIdsToRemove"
            )));
        }
        Ok(changes)
    }

    fn apply(store: &mut Store, input: UserGroupChanges, _: Clock) -> Result<Output, ApiError> {
        store
            .modify_user_group(input)
            .map(|group| Output::UserGroup(Box::new(group)))
    }
}

struct DeleteUserGroup;

impl Operation for DeleteUserGroup {
    const NAME: &'static str = "DeleteUserGroup";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        Ok(params.required("UserGroupId")?.to_ascii_lowercase())
    }

    fn apply(store: &mut Store, id: String, _: Clock) -> Result<Output, ApiError> {
        store
            .delete_user_group(&id)
            .map(|group| Output::UserGroup(Box::new(group)))
    }
}

// Parameter rules shared by the operations.

/// Cache names are case-insensitive: ElastiCache stores and matches them in lower case.
fn cache_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// 1–40 letters, digits and hyphens, starting with a letter, no `--`, no trailing hyphen.
fn new_cache_name(name: &str) -> Result<String, ApiError> {
    let valid = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !valid {
        return Err(ApiError::invalid(
            "ServerlessCacheName",
            "must be 1 to 40 letters, digits or hyphens, begin with a letter, \
             and contain no two consecutive hyphens nor end with one",
        ));
    }
    Ok(cache_name(name))
}

/// Snapshot names are 1–255 characters.
fn snapshot_name(parameter: &str, name: &str) -> Result<String, ApiError> {
    if !(1..=255).contains(&name.chars().count()) {
        return Err(ApiError::invalid(
            parameter,
            "must be between 1 and 255 characters",
        ));
    }
    Ok(name.to_owned())
}

fn description(params: &Params) -> Result<Option<String>, ApiError> {
    match params.get("Description") {
        Some(text) if text.chars().count() > 255 => Err(ApiError::invalid(
            "Description",
            "must be at most 255 characters",
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

pub(crate) fn non_empty(params: &Params, name: &str) -> Option<String> {
    params
        .get(name)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

fn one_of(params: &Params, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(value) if allowed.contains(&value) => Ok(Some(value.to_owned())),
        Some(value) => Err(ApiError::invalid(
            name,
            format!("{value:?} is not one of {}", allowed.join(", ")),
        )),
    }
}

pub(crate) fn ids(
    params: &Params,
    name: &str,
    member: &str,
    prefix: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let ids = params.list(name, member)?;
    if let Some(bad) = ids.iter().flatten().find(|id| !id.starts_with(prefix)) {
        return Err(ApiError::invalid(
            name,
            format!("{bad:?} is not an id starting with {prefix}"),
        ));
    }
    Ok(ids)
}

pub(crate) fn tags(params: &Params) -> Result<Vec<Tag>, ApiError> {
    let tags = params.tags()?;
    if tags.len() > MAX_TAGS {
        return Err(ApiError::new(
            Fault::TagQuotaPerResourceExceeded,
            format!(
                "{} tags requested; a resource can have at most {MAX_TAGS}.",
                tags.len()
            ),
        ));
    }
    Ok(tags)
}

/// User group ids are case-insensitive, like cache names.
fn user_group_id(params: &Params) -> Option<String> {
    non_empty(params, "UserGroupId").map(|id| id.to_ascii_lowercase())
}

/// User and user group ids: a letter, then letters, digits and hyphens; stored in lower case.
fn rbac_id(parameter: &str, id: &str) -> Result<String, ApiError> {
    let valid = id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return Err(ApiError::invalid(
            parameter,
            format!("{id:?} must begin with a letter and contain only letters, digits and hyphens"),
        ));
    }
    Ok(id.to_ascii_lowercase())
}

/// Users and user groups are for Valkey and Redis OSS.
fn rbac_engine(engine: &str) -> Result<String, ApiError> {
    let engine = engine.to_ascii_lowercase();
    if engine != "valkey" && engine != "redis" {
        return Err(ApiError::invalid(
            "Engine",
            format!("{engine:?} is not one of valkey, redis"),
        ));
    }
    Ok(engine)
}

/// A list of user ids (`Name.member.N`): none when absent, at least one when sent, each valid;
/// repeated ids count once.
fn user_ids(params: &Params, name: &str) -> Result<Vec<String>, ApiError> {
    let Some(raw) = params.list(name, "member")? else {
        return Ok(Vec::new());
    };
    if raw.is_empty() {
        return Err(ApiError::invalid(name, "must name at least one user"));
    }
    let mut ids: Vec<String> = Vec::with_capacity(raw.len());
    for id in raw {
        let id = rbac_id(name, &id)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// How a new user authenticates: `Passwords`, `NoPasswordRequired=true`, or an
/// `AuthenticationMode` — exactly one of them.
fn authentication(params: &Params, id: &str, name: &str) -> Result<Authentication, ApiError> {
    const MODE: &str = "AuthenticationMode";
    const MODE_PASSWORDS: &str = "AuthenticationMode.Passwords";
    let passwords = params.list("Passwords", "member")?;
    let no_password = params.bool("NoPasswordRequired")?.unwrap_or(false);
    if passwords.is_some() && no_password {
        return Err(ApiError::combination(
            "Passwords and NoPasswordRequired=true cannot be specified together",
        ));
    }
    if !params.has_struct(MODE) {
        return match passwords {
            Some(passwords) => Ok(Authentication::Password(password_count(
                "Passwords",
                &passwords,
            )?)),
            None if no_password => Ok(Authentication::NoPassword),
            None => Err(ApiError::invalid(
                "Passwords",
                "a user needs Passwords, NoPasswordRequired=true or an AuthenticationMode",
            )),
        };
    }
    if passwords.is_some() || no_password {
        return Err(ApiError::combination(
            "AuthenticationMode cannot be specified together with Passwords or NoPasswordRequired",
        ));
    }
    let mode_passwords = params.list(MODE_PASSWORDS, "member")?;
    match params.required("AuthenticationMode.Type")? {
        "password" => {
            let passwords = mode_passwords.ok_or_else(|| ApiError::missing(MODE_PASSWORDS))?;
            Ok(Authentication::Password(password_count(
                MODE_PASSWORDS,
                &passwords,
            )?))
        }
        "no-password-required" | "iam" if mode_passwords.is_some() => Err(ApiError::combination(
            "AuthenticationMode.Passwords is only for the password type",
        )),
        "no-password-required" => Ok(Authentication::NoPassword),
        // IAM authentication signs in as the user id, so the user name must be the same.
        "iam" if !name.eq_ignore_ascii_case(id) => Err(ApiError::combination(
            "With IAM authentication the UserName must be the same as the UserId",
        )),
        "iam" => Ok(Authentication::Iam),
        other => Err(ApiError::invalid(
            "AuthenticationMode.Type",
            format!("{other:?} is not one of password, no-password-required, iam"),
        )),
    }
}

/// One or two passwords of 16 to 128 characters.
fn password_count(parameter: &str, passwords: &[String]) -> Result<usize, ApiError> {
    if !(1..=2).contains(&passwords.len()) {
        return Err(ApiError::invalid(
            parameter,
            format!("{} passwords given; a user has one or two", passwords.len()),
        ));
    }
    if passwords
        .iter()
        .any(|password| !(16..=128).contains(&password.chars().count()))
    {
        return Err(ApiError::invalid(
            parameter,
            "passwords must be 16 to 128 characters",
        ));
    }
    Ok(passwords.len())
}

/// The `ResourceName` of the tagging actions:
/// `arn:aws:elasticache:<region>:<account>:<kind>:<name>`, for the kinds the emulator serves.
fn resource_arn(arn: &str) -> Result<ResourceArn, ApiError> {
    let invalid = |reason: String| {
        ApiError::new(
            Fault::InvalidArn,
            format!("The ARN {arn} is not valid: {reason}."),
        )
    };
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let [prefix, partition, service, region, account_id, kind, name] = parts[..] else {
        return Err(invalid(
            "expected arn:aws:elasticache:<region>:<account>:<resource type>:<name>".to_owned(),
        ));
    };
    if prefix != "arn"
        || !partition.starts_with("aws")
        || service != "elasticache"
        || region.is_empty()
        || account_id.is_empty()
        || name.is_empty()
    {
        return Err(invalid(
            "expected arn:aws:elasticache:<region>:<account>:<resource type>:<name>".to_owned(),
        ));
    }
    let (kind, name) = match kind {
        "serverlesscache" => (TaggableKind::ServerlessCache, cache_name(name)),
        "serverlesscachesnapshot" => (TaggableKind::ServerlessCacheSnapshot, name.to_owned()),
        "user" => (TaggableKind::User, name.to_ascii_lowercase()),
        "usergroup" => (TaggableKind::UserGroup, name.to_ascii_lowercase()),
        "replicationgroup" => (TaggableKind::ReplicationGroup, name.to_ascii_lowercase()),
        "cluster" => (TaggableKind::CacheCluster, name.to_ascii_lowercase()),
        "snapshot" => (TaggableKind::Snapshot, name.to_owned()),
        "parametergroup" => (TaggableKind::ParameterGroup, name.to_ascii_lowercase()),
        "subnetgroup" => (TaggableKind::SubnetGroup, name.to_ascii_lowercase()),
        "reserved-instance" => (TaggableKind::ReservedCacheNode, name.to_owned()),
        other => {
            return Err(invalid(format!(
                "the emulator has no {other:?} resources to tag (it tags serverlesscache, \
                 serverlesscachesnapshot, user, usergroup, replicationgroup, cluster, snapshot, \
                 parametergroup, subnetgroup and reserved-instance)"
            )));
        }
    };
    Ok(ResourceArn {
        arn: arn.to_owned(),
        region: region.to_owned(),
        account_id: account_id.to_owned(),
        kind,
        name,
    })
}

pub(crate) fn int_in(
    params: &Params,
    name: &str,
    range: RangeInclusive<i64>,
) -> Result<Option<i64>, ApiError> {
    match params.int(name)? {
        Some(value) if !range.contains(&value) => Err(ApiError::invalid(
            name,
            format!("{value} is outside {}..={}", range.start(), range.end()),
        )),
        other => Ok(other),
    }
}

fn snapshot_retention_limit(params: &Params) -> Result<Option<i64>, ApiError> {
    int_in(params, "SnapshotRetentionLimit", 0..=35)
}

/// `HH:MM`, UTC.
fn daily_snapshot_time(params: &Params) -> Result<Option<String>, ApiError> {
    let Some(time) = params.get("DailySnapshotTime") else {
        return Ok(None);
    };
    let valid = match time.split_once(':') {
        Some((hours, minutes)) => {
            hours.len() == 2
                && minutes.len() == 2
                && hours.parse::<u8>().is_ok_and(|h| h < 24)
                && minutes.parse::<u8>().is_ok_and(|m| m < 60)
        }
        None => false,
    };
    if !valid {
        return Err(ApiError::invalid(
            "DailySnapshotTime",
            format!("{time:?} is not a time of day as HH:MM"),
        ));
    }
    Ok(Some(time.to_owned()))
}

/// `CacheUsageLimits.DataStorage.{Maximum,Minimum,Unit}` and
/// `CacheUsageLimits.ECPUPerSecond.{Maximum,Minimum}`.
fn usage_limits(params: &Params) -> Result<Option<UsageLimits>, ApiError> {
    const STORAGE: &str = "CacheUsageLimits.DataStorage";
    const ECPU: &str = "CacheUsageLimits.ECPUPerSecond";
    if !params.has_struct("CacheUsageLimits") {
        return Ok(None);
    }
    let data_storage = if params.has_struct(STORAGE) {
        let unit_name = format!("{STORAGE}.Unit");
        match params.get(&unit_name) {
            Some("GB") => {}
            None | Some("") => return Err(ApiError::missing(&unit_name)),
            Some(other) => {
                return Err(ApiError::invalid(
                    &unit_name,
                    format!("{other:?} is not GB"),
                ));
            }
        }
        Some(range(params, STORAGE, 1..=5_000)?)
    } else {
        None
    };
    let ecpu_per_second = if params.has_struct(ECPU) {
        Some(range(params, ECPU, 1_000..=15_000_000)?)
    } else {
        None
    };
    Ok(Some(UsageLimits {
        data_storage,
        ecpu_per_second,
    }))
}

fn range(params: &Params, prefix: &str, bounds: RangeInclusive<i64>) -> Result<Range, ApiError> {
    let maximum = int_in(params, &format!("{prefix}.Maximum"), bounds.clone())?;
    let minimum = int_in(params, &format!("{prefix}.Minimum"), bounds)?;
    if let (Some(minimum), Some(maximum)) = (minimum, maximum)
        && minimum > maximum
    {
        return Err(ApiError::combination(format!(
            "{prefix}.Minimum ({minimum}) is greater than {prefix}.Maximum ({maximum})"
        )));
    }
    Ok(Range { minimum, maximum })
}

fn page_request(params: &Params, allowed: RangeInclusive<i64>) -> Result<PageRequest, ApiError> {
    let max_results = int_in(params, "MaxResults", allowed)?.unwrap_or(50);
    Ok(PageRequest {
        next_token: params.get("NextToken").map(str::to_owned),
        // In range, hence positive and small.
        max_results: usize::try_from(max_results).unwrap_or(50),
    })
}

/// `Marker` and `MaxRecords` (20 to 100, default 100), as the user and user group Describes take.
pub(crate) fn marker_page(params: &Params) -> Result<PageRequest, ApiError> {
    let max_records = int_in(params, "MaxRecords", 20..=100)?.unwrap_or(100);
    Ok(PageRequest {
        next_token: params.get("Marker").map(str::to_owned),
        // In range, hence positive and small.
        max_results: usize::try_from(max_records).unwrap_or(100),
    })
}

/// S3 bucket naming rules: 3–63 lower-case letters, digits, dots and hyphens, alphanumeric ends.
fn s3_bucket_name(bucket: &str) -> Result<(), ApiError> {
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        return Err(ApiError::invalid(
            "S3BucketName",
            format!("{bucket:?} is not a valid S3 bucket name"),
        ));
    }
    Ok(())
}
