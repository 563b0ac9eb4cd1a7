//! The emulated account: serverless caches and snapshots, their state machine and the service's
//! rules; RBAC users and user groups (which have no transitions); tags on every kind, by ARN; and
//! the node-based resources ([`super::replication`]), parameter and subnet groups
//! ([`super::parameters`]) and events ([`super::events`]) it holds for their modules.
//!
//! Transitions are computed lazily: every request first calls [`Store::tick`], which settles
//! whatever is due. Tests may hold a name ([`Store::hold`]): its resources then stay in their
//! transitional status until released. All methods run under the emulator's mutex and never
//! block, but for [`Store::save`], which writes the state file (when there is one) after a
//! change.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Bound;
use std::time::{Duration, Instant, SystemTime};

use super::EmulatorConfig;
use super::error::{ApiError, Fault};
use super::events::{Events, SourceType};
use super::model::{
    Authentication, Cache, CacheStatus, RbacStatus, Snapshot, SnapshotStatus, UsageLimits, User,
    UserGroup,
};
use super::parameters::Catalog;
use super::query::Tag;
use super::replication::Nodes;
use super::reserved::ReservedNode;
use super::state_file::{self, Document, StateFile, StateFileError};
use super::wall_time;

/// Tags a resource may carry.
pub(crate) const MAX_TAGS: usize = 50;

/// `current` with `tags` added, a key already there taking the new value in its place.
pub(crate) fn merge_tags(current: &[Tag], tags: &[Tag]) -> Vec<Tag> {
    let mut merged = current.to_vec();
    for tag in tags {
        match merged.iter_mut().find(|existing| existing.key == tag.key) {
            Some(existing) => existing.value.clone_from(&tag.value),
            None => merged.push(tag.clone()),
        }
    }
    merged
}

/// The user id and user name of the user every account has, and the user name every Valkey or
/// Redis OSS user group must contain.
pub(crate) const DEFAULT_USER: &str = "default";

/// ElastiCache reports an expiry on every snapshot it describes; manual ones keep it this far out.
const SNAPSHOT_EXPIRY: Duration = Duration::from_secs(30 * 24 * 3600);

/// The moment a request is handled: monotonic for the state machine, wall clock for display.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) now: Instant,
    pub(crate) wall: SystemTime,
}

impl Clock {
    pub(crate) fn now() -> Self {
        Self {
            now: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// Account quotas. Generous, so benchmarks never meet them; tests lower them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quotas {
    pub(crate) caches: usize,
    /// Serverless snapshots, and (separately counted) classic snapshots.
    pub(crate) snapshots: usize,
    /// Cache clusters, standalone or in replication groups.
    pub(crate) clusters: usize,
    /// Cache nodes over all clusters.
    pub(crate) nodes: usize,
    pub(crate) node_groups_per_group: usize,
    pub(crate) parameter_groups: usize,
    pub(crate) subnet_groups: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            caches: 1000,
            snapshots: 10_000,
            clusters: 1000,
            nodes: 5000,
            node_groups_per_group: 500,
            parameter_groups: super::parameters::MAX_PARAMETER_GROUPS,
            subnet_groups: super::parameters::MAX_SUBNET_GROUPS,
        }
    }
}

/// A `CreateServerlessCache` request, validated for syntax.
#[derive(Debug, Default)]
pub(crate) struct NewCache {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) engine: String,
    pub(crate) major_engine_version: Option<String>,
    pub(crate) usage_limits: Option<UsageLimits>,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) security_group_ids: Option<Vec<String>>,
    pub(crate) snapshot_arns_to_restore: Vec<String>,
    pub(crate) tags: Vec<Tag>,
    pub(crate) user_group_id: Option<String>,
    pub(crate) subnet_ids: Option<Vec<String>>,
    pub(crate) snapshot_retention_limit: Option<i64>,
    pub(crate) daily_snapshot_time: Option<String>,
    pub(crate) network_type: Option<String>,
    pub(crate) connection_type: Option<String>,
}

/// A `ModifyServerlessCache` request, validated for syntax.
#[derive(Debug, Default)]
pub(crate) struct CacheChanges {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) usage_limits: Option<UsageLimits>,
    pub(crate) remove_user_group: bool,
    pub(crate) user_group_id: Option<String>,
    pub(crate) security_group_ids: Option<Vec<String>>,
    pub(crate) snapshot_retention_limit: Option<i64>,
    pub(crate) daily_snapshot_time: Option<String>,
    pub(crate) engine: Option<String>,
    pub(crate) major_engine_version: Option<String>,
}

/// Which page of a Describe to return.
#[derive(Debug)]
pub(crate) struct PageRequest {
    pub(crate) next_token: Option<String>,
    pub(crate) max_results: usize,
}

/// One page of a Describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next_token: Option<String>,
}

/// Filters of `DescribeServerlessCacheSnapshots`.
#[derive(Debug, Default)]
pub(crate) struct SnapshotFilter {
    pub(crate) cache_name: Option<String>,
    pub(crate) snapshot_name: Option<String>,
    /// `false` when asked for `automated` snapshots, which the emulator never takes.
    pub(crate) include_manual: bool,
}

/// A `CreateUser` request, validated for syntax.
#[derive(Debug)]
pub(crate) struct NewUser {
    /// In lower case.
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) engine: String,
    pub(crate) access_string: String,
    pub(crate) authentication: Authentication,
    pub(crate) tags: Vec<Tag>,
}

/// A `ModifyUser` request, validated for syntax; the id in lower case.
#[derive(Debug)]
pub(crate) struct UserChanges {
    pub(crate) id: String,
    pub(crate) access_string: Option<String>,
    pub(crate) append_access_string: Option<String>,
    pub(crate) authentication: Option<Authentication>,
    pub(crate) engine: Option<String>,
}

/// Filters of `DescribeUsers`; ids in lower case.
#[derive(Debug, Default)]
pub(crate) struct UserFilter {
    pub(crate) engine: Option<String>,
    pub(crate) user_id: Option<String>,
    /// The values of each `user-id` filter: a user is kept when its id is among each's values.
    pub(crate) user_id_filters: Vec<Vec<String>>,
}

/// A `CreateUserGroup` request, validated for syntax; ids in lower case.
#[derive(Debug, Default)]
pub(crate) struct NewUserGroup {
    pub(crate) id: String,
    pub(crate) engine: String,
    pub(crate) user_ids: Vec<String>,
    pub(crate) tags: Vec<Tag>,
}

/// A `ModifyUserGroup` request, validated for syntax; ids in lower case.
#[derive(Debug, Default)]
pub(crate) struct UserGroupChanges {
    pub(crate) id: String,
    pub(crate) user_ids_to_add: Vec<String>,
    pub(crate) user_ids_to_remove: Vec<String>,
    pub(crate) engine: Option<String>,
}

/// The kinds of resource the tagging actions accept, as their ARNs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaggableKind {
    /// `serverlesscache`
    ServerlessCache,
    /// `serverlesscachesnapshot`
    ServerlessCacheSnapshot,
    /// `user`
    User,
    /// `usergroup`
    UserGroup,
    /// `replicationgroup`
    ReplicationGroup,
    /// `cluster`
    CacheCluster,
    /// `snapshot`
    Snapshot,
    /// `parametergroup`
    ParameterGroup,
    /// `subnetgroup`
    SubnetGroup,
    /// `reserved-instance`: a reserved cache node, by its `ReservedCacheNodeId`
    ReservedCacheNode,
}

/// `arn:<partition>:elasticache:<region>:<account>:<kind>:<name>`, checked for syntax; the name
/// is in lower case for the kinds whose names are case-insensitive (all but snapshots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceArn {
    pub(crate) arn: String,
    pub(crate) region: String,
    pub(crate) account_id: String,
    pub(crate) kind: TaggableKind,
    pub(crate) name: String,
}

/// The emulated account in one region.
#[derive(Debug)]
pub(crate) struct Store {
    settle_time: Duration,
    export_time: Duration,
    region: String,
    account_id: String,
    pub(crate) quotas: Quotas,
    caches: BTreeMap<String, Cache>,
    /// Replication groups, cache clusters and classic snapshots.
    pub(crate) nodes: Nodes,
    /// Parameter and subnet groups.
    pub(crate) catalog: Catalog,
    /// The emulated S3 buckets' parent directory, if any.
    s3_dir: Option<std::path::PathBuf>,
    /// Purchased reserved nodes, by id.
    pub(crate) reserved: BTreeMap<String, ReservedNode>,
    /// What happened, for `DescribeEvents`.
    pub(crate) events: Events,
    /// Where the account is saved after each change, if anywhere.
    state_file: Option<StateFile>,
    snapshots: BTreeMap<String, Snapshot>,
    /// Stored without their derived `user_group_ids`; by id.
    users: BTreeMap<String, User>,
    /// Stored without their derived `serverless_caches`; by id.
    user_groups: BTreeMap<String, UserGroup>,
    /// Held names, as cache names (lower case, as caches are stored) and as snapshot names
    /// (exact): resources named so do not settle until released.
    held_caches: BTreeSet<String>,
    held_snapshots: BTreeSet<String>,
    /// The earliest pending transition of a resource not held, so `tick` is free while nothing
    /// is due. It may be early (`tick` then recomputes it), never late.
    next_deadline: Option<Instant>,
}

/// A resource that goes through a timed transition (`creating`, `modifying`, `exporting`,
/// `deleting`) and then settles.
trait Settling {
    /// When the transition ends, if one is under way.
    fn settles_at(&mut self) -> &mut Option<Instant>;
    /// Whether the transition is a deletion (the resource disappears when it settles).
    fn is_deleting(&self) -> bool;
    /// Marks the resource `available`.
    fn make_available(&mut self);
    /// The event its settling makes, before it is marked `available`.
    fn settled_event(&self, name: &str) -> (SourceType, String);
}

impl Settling for Cache {
    fn settles_at(&mut self) -> &mut Option<Instant> {
        &mut self.settles_at
    }
    fn is_deleting(&self) -> bool {
        self.status == CacheStatus::Deleting
    }
    fn make_available(&mut self) {
        self.status = CacheStatus::Available;
    }
    fn settled_event(&self, _: &str) -> (SourceType, String) {
        let message = match self.status {
            CacheStatus::Creating => "Serverless cache created",
            CacheStatus::Deleting => "Serverless cache deleted",
            CacheStatus::Modifying | CacheStatus::Available => "Serverless cache modified",
        };
        (SourceType::ServerlessCache, message.to_owned())
    }
}

impl Settling for Snapshot {
    fn settles_at(&mut self) -> &mut Option<Instant> {
        &mut self.settles_at
    }
    fn is_deleting(&self) -> bool {
        self.status == SnapshotStatus::Deleting
    }
    fn make_available(&mut self) {
        self.status = SnapshotStatus::Available;
    }
    fn settled_event(&self, name: &str) -> (SourceType, String) {
        let message = match self.status {
            SnapshotStatus::Creating => format!(
                "Snapshot {name} of serverless cache {} created",
                self.cache_name
            ),
            SnapshotStatus::Exporting => format!("Snapshot {name} exported to S3"),
            SnapshotStatus::Deleting | SnapshotStatus::Available => {
                format!("Snapshot {name} deleted")
            }
        };
        (SourceType::ServerlessCacheSnapshot, message)
    }
}

/// Settles what is due at `now` (dropping what was being deleted) and reports, through
/// `pending`, when the rest are due. Held resources neither settle nor count as pending:
/// releasing them reschedules them.
fn settle<T: Settling>(
    resources: &mut BTreeMap<String, T>,
    held: &BTreeSet<String>,
    now: Instant,
    pending: &mut impl FnMut(Instant),
    log: &mut Vec<(Instant, SourceType, String, String)>,
) {
    resources.retain(|name, resource| match *resource.settles_at() {
        Some(_) if held.contains(name) => true,
        Some(at) if at <= now => {
            let (kind, message) = resource.settled_event(name);
            log.push((at, kind, name.clone(), message));
            let deleted = resource.is_deleting();
            *resource.settles_at() = None;
            resource.make_available();
            !deleted
        }
        Some(at) => {
            pending(at);
            true
        }
        None => true,
    });
}

impl Store {
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        Self::with_quotas(config, Quotas::default())
    }

    pub(crate) fn with_quotas(config: &EmulatorConfig, quotas: Quotas) -> Self {
        let mut store = Self {
            settle_time: config.settle_time,
            export_time: config.export_time,
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            quotas,
            caches: BTreeMap::new(),
            nodes: Nodes::default(),
            catalog: Catalog::default(),
            events: Events::default(),
            reserved: BTreeMap::new(),
            s3_dir: config.s3_dir.clone(),
            state_file: None,
            snapshots: BTreeMap::new(),
            users: BTreeMap::new(),
            user_groups: BTreeMap::new(),
            held_caches: BTreeSet::new(),
            held_snapshots: BTreeSet::new(),
            next_deadline: None,
        };
        store.ensure_default_user();
        store.catalog = Catalog::new(|kind, name| store.arn(kind, name));
        store
    }

    /// The store of [`EmulatorConfig::state_file`] when there is one — what the file holds, or a
    /// new account when there is no file yet — which every change is then saved to (the file is
    /// written at once, so a place it cannot be written is found at start); a new store
    /// otherwise.
    pub(crate) fn open(config: &EmulatorConfig) -> Result<Self, StateFileError> {
        let mut store = Self::new(config);
        let Some(path) = &config.state_file else {
            return Ok(store);
        };
        let file = StateFile::new(path);
        if let Some(document) = file.read(&config.account_id, &config.region)? {
            store.restore(document);
            tracing::info!(file = %path.display(), "emulator state read from its state file");
        } else {
            tracing::info!(file = %path.display(), "no emulator state file yet: a new account");
        }
        store.state_file = Some(file);
        store.save()?;
        Ok(store)
    }

    /// Takes over the resources of a saved account. What a new account has and the document
    /// lacks (the `default` user, a default parameter or subnet group) is kept.
    fn restore(&mut self, document: Document<'static>) {
        self.caches = document.serverless_caches.into_owned();
        self.snapshots = document.serverless_snapshots.into_owned();
        self.users.extend(document.users.into_owned());
        self.user_groups = document.user_groups.into_owned();
        self.nodes = document.nodes.into_owned();
        let catalog = document.catalog.into_owned();
        self.catalog
            .parameter_groups
            .extend(catalog.parameter_groups);
        self.catalog.subnet_groups.extend(catalog.subnet_groups);
        self.reserved = document.reserved_nodes.into_owned();
        self.events = document.events.into_owned();
        // Early, so the first request's `tick` settles what came due while the emulator was
        // down and finds the next deadline.
        self.next_deadline = Some(Instant::now());
    }

    /// The account as the state file holds it.
    fn document(&self) -> Document<'_> {
        Document {
            version: state_file::VERSION,
            account_id: Cow::Borrowed(&self.account_id),
            region: Cow::Borrowed(&self.region),
            serverless_caches: Cow::Borrowed(&self.caches),
            serverless_snapshots: Cow::Borrowed(&self.snapshots),
            users: Cow::Borrowed(&self.users),
            user_groups: Cow::Borrowed(&self.user_groups),
            nodes: Cow::Borrowed(&self.nodes),
            catalog: Cow::Borrowed(&self.catalog),
            reserved_nodes: Cow::Borrowed(&self.reserved),
            events: Cow::Borrowed(&self.events),
        }
    }

    /// Writes the account to its state file, if it has one and anything changed since the last
    /// save. Held names are not saved: holds are a test's control of one run.
    pub(crate) fn save(&mut self) -> Result<(), StateFileError> {
        let Some(mut file) = self.state_file.take() else {
            return Ok(());
        };
        let saved = file.save(&self.document());
        self.state_file = Some(file);
        saved
    }

    /// Seeds the user every ElastiCache account has (id and name `default`, engine `redis`,
    /// no password, every command on every key) unless it is there. `DeleteUser` refuses to
    /// delete it, so this only matters for a new store; the control reset calls it too.
    pub(crate) fn ensure_default_user(&mut self) {
        if self.users.contains_key(DEFAULT_USER) {
            return;
        }
        let user = User {
            id: DEFAULT_USER.to_owned(),
            name: DEFAULT_USER.to_owned(),
            status: RbacStatus::Active,
            engine: "redis".to_owned(),
            access_string: "on ~* +@all".to_owned(),
            authentication: Authentication::NoPassword,
            arn: self.arn("user", DEFAULT_USER),
            user_group_ids: Vec::new(),
            tags: Vec::new(),
        };
        self.users.insert(user.id.clone(), user);
    }

    /// Settles every transition due at `now`.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.next_deadline.is_none_or(|deadline| deadline > now) {
            return;
        }
        let mut next: Option<Instant> = None;
        let mut pending = |at: Instant| next = Some(next.map_or(at, |n| n.min(at)));
        let mut log = Vec::new();
        settle(
            &mut self.caches,
            &self.held_caches,
            now,
            &mut pending,
            &mut log,
        );
        settle(
            &mut self.snapshots,
            &self.held_snapshots,
            now,
            &mut pending,
            &mut log,
        );
        self.nodes.settle(
            &self.held_caches,
            &self.held_snapshots,
            now,
            &mut pending,
            &mut log,
        );
        for (at, source_type, id, message) in log {
            self.events
                .push(source_type, &id, message, wall_time::wall(at));
        }
        self.next_deadline = next;
    }

    /// Holds the cache and the snapshot named `name`, existing now or created later, in their
    /// transitional status (`creating`, `modifying`, `exporting`, `deleting`) until released.
    /// Cache names match case-insensitively, as ElastiCache's do; snapshot names exactly.
    pub(crate) fn hold(&mut self, name: &str) {
        self.held_caches.insert(name.to_ascii_lowercase());
        self.held_snapshots.insert(name.to_owned());
    }

    /// Whether `name` is held as a cache name.
    #[cfg(test)]
    pub(crate) fn is_held(&self, name: &str) -> bool {
        self.held_caches.contains(&name.to_ascii_lowercase())
    }

    /// Ends a hold placed with [`Store::hold`]; what it held settles on the next `tick` at or
    /// after its due time (at once if that has passed). Releasing a name not held does nothing.
    pub(crate) fn release(&mut self, name: &str) {
        let cache = name.to_ascii_lowercase();
        if self.held_caches.remove(&cache) {
            self.reschedule_cache(&cache);
        }
        if self.held_snapshots.remove(name) {
            self.reschedule_snapshot(name);
        }
        self.reschedule_nodes();
    }

    /// Ends every hold.
    pub(crate) fn release_all(&mut self) {
        for name in std::mem::take(&mut self.held_caches) {
            self.reschedule_cache(&name);
        }
        for name in std::mem::take(&mut self.held_snapshots) {
            self.reschedule_snapshot(&name);
        }
        self.reschedule_nodes();
    }

    /// Puts the node-based resources' earliest pending transition back on the schedule.
    fn reschedule_nodes(&mut self) {
        if let Some(at) = self.nodes.earliest() {
            self.schedule(at);
        }
    }

    pub(crate) fn settle_time(&self) -> Duration {
        self.settle_time
    }

    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    pub(crate) fn account_id(&self) -> &str {
        &self.account_id
    }

    /// Puts a released cache's pending transition back on the schedule `tick` consults.
    fn reschedule_cache(&mut self, name: &str) {
        if let Some(at) = self.caches.get(name).and_then(|cache| cache.settles_at) {
            self.schedule(at);
        }
    }

    /// Puts a released snapshot's pending transition back on the schedule `tick` consults.
    fn reschedule_snapshot(&mut self, name: &str) {
        if let Some(at) = self
            .snapshots
            .get(name)
            .and_then(|snapshot| snapshot.settles_at)
        {
            self.schedule(at);
        }
    }

    pub(crate) fn create_cache(&mut self, new: NewCache, clock: Clock) -> Result<Cache, ApiError> {
        if self.caches.contains_key(&new.name) {
            return Err(ApiError::new(
                Fault::ServerlessCacheAlreadyExists,
                format!("Serverless cache {} already exists.", new.name),
            ));
        }
        if self.caches.len() >= self.quotas.caches {
            return Err(ApiError::new(
                Fault::ServerlessCacheQuotaForCustomerExceeded,
                format!(
                    "You have reached the limit of {} serverless caches.",
                    self.quotas.caches
                ),
            ));
        }
        for arn in &new.snapshot_arns_to_restore {
            let usable = self
                .snapshots
                .values()
                .any(|s| &s.arn == arn && s.status == SnapshotStatus::Available);
            if !usable {
                return Err(ApiError::invalid(
                    "SnapshotArnsToRestore",
                    format!("{arn} is not an available serverless cache snapshot"),
                ));
            }
        }
        if let Some(user_group_id) = &new.user_group_id {
            self.user_group(user_group_id)?;
        }
        let (major, full) = engine_version(&new.engine, new.major_engine_version.as_deref())?;
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
        let cache = Cache {
            endpoint_address: format!(
                "{}-{suffix}.serverless.{}.cache.amazonaws.com",
                new.name,
                region_code(&self.region)
            ),
            arn: self.arn("serverlesscache", &new.name),
            name: new.name,
            description: new.description.unwrap_or_default(),
            created: clock.wall,
            status: CacheStatus::Creating,
            settles_at: Some(self.schedule(clock.now + self.settle_time)),
            engine: new.engine,
            major_engine_version: major.to_owned(),
            full_engine_version: full.to_owned(),
            usage_limits: new.usage_limits,
            kms_key_id: new.kms_key_id,
            // Without them ElastiCache uses the default VPC's security group and subnets.
            security_group_ids: new
                .security_group_ids
                .filter(|ids| !ids.is_empty())
                .unwrap_or_else(|| vec!["sg-0a1b2c3d4e5f60718".to_owned()]),
            user_group_id: new.user_group_id,
            subnet_ids: new
                .subnet_ids
                .filter(|ids| !ids.is_empty())
                .unwrap_or_else(|| {
                    vec![
                        "subnet-0a1b2c3d4e5f60001".to_owned(),
                        "subnet-0a1b2c3d4e5f60002".to_owned(),
                    ]
                }),
            snapshot_retention_limit: new.snapshot_retention_limit.unwrap_or(0),
            daily_snapshot_time: new
                .daily_snapshot_time
                .unwrap_or_else(|| "03:00".to_owned()),
            network_type: new.network_type.unwrap_or_else(|| "ipv4".to_owned()),
            connection_type: new.connection_type.unwrap_or_else(|| "vpc".to_owned()),
            tags: new.tags,
        };
        self.caches.insert(cache.name.clone(), cache.clone());
        Ok(cache)
    }

    pub(crate) fn describe_caches(
        &self,
        name: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Cache>, ApiError> {
        if let Some(name) = name {
            self.cache(name)?;
        }
        paginate(&self.caches, TokenKind::Cache, page, |cache| {
            name.is_none_or(|name| cache.name == name)
        })
    }

    pub(crate) fn modify_cache(
        &mut self,
        changes: CacheChanges,
        clock: Clock,
    ) -> Result<Cache, ApiError> {
        let settles_at = clock.now + self.settle_time;
        require_available(self.cache(&changes.name)?, "modified")?;
        if let Some(user_group_id) = &changes.user_group_id {
            self.user_group(user_group_id)?;
        }
        let cache = self.cache_mut(&changes.name)?;
        let engine = changes.engine.as_deref().unwrap_or(&cache.engine);
        let engine_changes = engine != cache.engine;
        // The one engine change ElastiCache offers is the upgrade from Redis OSS to Valkey.
        if engine_changes && !(cache.engine == "redis" && engine == "valkey") {
            return Err(ApiError::combination(format!(
                "Cannot change engine from {} to {engine}",
                cache.engine
            )));
        }
        let upgrade = if engine_changes || changes.major_engine_version.is_some() {
            let (major, full) = engine_version(engine, changes.major_engine_version.as_deref())?;
            if !engine_changes && version_key(major) < version_key(&cache.major_engine_version) {
                return Err(ApiError::combination(format!(
                    "Cannot downgrade engine version from {} to {major}",
                    cache.major_engine_version
                )));
            }
            Some((engine.to_owned(), major, full))
        } else {
            None
        };

        if let Some(description) = changes.description {
            cache.description = description;
        }
        if let Some(limits) = changes.usage_limits {
            cache.usage_limits = Some(limits);
        }
        if changes.remove_user_group {
            cache.user_group_id = None;
        }
        if let Some(user_group_id) = changes.user_group_id {
            cache.user_group_id = Some(user_group_id);
        }
        if let Some(ids) = changes.security_group_ids {
            cache.security_group_ids = ids;
        }
        if let Some(limit) = changes.snapshot_retention_limit {
            cache.snapshot_retention_limit = limit;
        }
        if let Some(time) = changes.daily_snapshot_time {
            cache.daily_snapshot_time = time;
        }
        if let Some((engine, major, full)) = upgrade {
            cache.engine = engine;
            cache.major_engine_version = major.to_owned();
            cache.full_engine_version = full.to_owned();
        }
        cache.status = CacheStatus::Modifying;
        cache.settles_at = Some(settles_at);
        let cache = cache.clone();
        self.schedule(settles_at);
        Ok(cache)
    }

    pub(crate) fn delete_cache(
        &mut self,
        name: &str,
        final_snapshot: Option<String>,
        clock: Clock,
    ) -> Result<Cache, ApiError> {
        let cache = self.cache(name)?;
        require_available(cache, "deleted")?;
        let snapshot = match final_snapshot {
            Some(snapshot_name) => Some(self.new_snapshot(snapshot_name, cache, None, clock)?),
            None => None,
        };
        let settles_at = self.schedule(clock.now + self.settle_time);
        let cache = self.cache_mut(name)?;
        cache.status = CacheStatus::Deleting;
        cache.settles_at = Some(settles_at);
        let cache = cache.clone();
        if let Some(snapshot) = snapshot {
            self.insert_snapshot(snapshot);
        }
        Ok(cache)
    }

    pub(crate) fn create_snapshot(
        &mut self,
        snapshot_name: String,
        cache_name: &str,
        kms_key_id: Option<String>,
        tags: Vec<Tag>,
        clock: Clock,
    ) -> Result<Snapshot, ApiError> {
        let cache = self.cache(cache_name)?;
        require_available(cache, "snapshotted")?;
        let mut snapshot = self.new_snapshot(snapshot_name, cache, kms_key_id, clock)?;
        snapshot.tags = tags;
        Ok(self.insert_snapshot(snapshot))
    }

    pub(crate) fn describe_snapshots(
        &self,
        filter: &SnapshotFilter,
        page: &PageRequest,
    ) -> Result<Page<Snapshot>, ApiError> {
        if let Some(cache_name) = &filter.cache_name {
            self.cache(cache_name)?;
        }
        if let Some(snapshot_name) = &filter.snapshot_name {
            self.snapshot(snapshot_name)?;
        }
        paginate(&self.snapshots, TokenKind::Snapshot, page, |snapshot| {
            filter.include_manual
                && filter
                    .cache_name
                    .as_ref()
                    .is_none_or(|name| &snapshot.cache_name == name)
                && filter
                    .snapshot_name
                    .as_ref()
                    .is_none_or(|name| &snapshot.name == name)
        })
    }

    pub(crate) fn copy_snapshot(
        &mut self,
        source: &str,
        target: String,
        kms_key_id: Option<String>,
        tags: Vec<Tag>,
        clock: Clock,
    ) -> Result<Snapshot, ApiError> {
        let source = self.snapshot(source)?;
        if source.status != SnapshotStatus::Available {
            return Err(snapshot_state(source, "copied"));
        }
        self.check_snapshot_name_free(&target)?;
        let copy = Snapshot {
            arn: self.arn("serverlesscachesnapshot", &target),
            name: target,
            kms_key_id: kms_key_id.or_else(|| source.kms_key_id.clone()),
            created: clock.wall,
            expires: clock.wall + SNAPSHOT_EXPIRY,
            status: SnapshotStatus::Creating,
            settles_at: Some(clock.now + self.settle_time),
            tags,
            ..source.clone()
        };
        Ok(self.insert_snapshot(copy))
    }

    pub(crate) fn delete_snapshot(
        &mut self,
        name: &str,
        clock: Clock,
    ) -> Result<Snapshot, ApiError> {
        self.transition_snapshot(
            name,
            "deleted",
            SnapshotStatus::Deleting,
            clock.now + self.settle_time,
        )
    }

    /// Writes an `available` snapshot into the emulated S3 bucket, when there is one, as
    /// `<bucket>/<snapshot>-0001.rdb`: a valid RDB file of an empty dataset (the emulator keeps
    /// no data). A missing bucket is refused as ElastiCache refuses it.
    pub(crate) fn write_export(&self, name: &str, bucket: &str) -> Result<(), ApiError> {
        let snapshot = self.snapshot(name)?;
        if snapshot.status != SnapshotStatus::Available {
            return Err(snapshot_state(snapshot, "exported"));
        }
        if self.s3_dir.is_none() {
            return Ok(());
        }
        self.write_rdb("S3BucketName", bucket, &[format!("{name}-0001.rdb")])
    }

    pub(crate) fn export_time(&self) -> Duration {
        self.export_time
    }

    /// Writes each object into the emulated bucket as a valid RDB file of an empty dataset
    /// ("REDIS0011", the end-of-file opcode, a zero checksum meaning none); a bucket that is not
    /// there (or no S3 at all) is refused on `parameter`.
    pub(crate) fn write_rdb(
        &self,
        parameter: &str,
        bucket: &str,
        objects: &[String],
    ) -> Result<(), ApiError> {
        let bucket_dir = self.s3_dir.as_ref().map(|dir| dir.join(bucket));
        let Some(bucket_dir) = bucket_dir.filter(|dir| dir.is_dir()) else {
            return Err(ApiError::invalid(
                parameter,
                format!("The S3 bucket {bucket} does not exist or is not accessible"),
            ));
        };
        let mut rdb = b"REDIS0011".to_vec();
        rdb.push(0xFF);
        rdb.extend_from_slice(&[0; 8]);
        for object in objects {
            std::fs::write(bucket_dir.join(object), &rdb).map_err(|error| {
                ApiError::invalid(
                    parameter,
                    format!("The snapshot could not be written to the S3 bucket {bucket}: {error}"),
                )
            })?;
        }
        Ok(())
    }

    pub(crate) fn export_snapshot(
        &mut self,
        name: &str,
        clock: Clock,
    ) -> Result<Snapshot, ApiError> {
        self.transition_snapshot(
            name,
            "exported",
            SnapshotStatus::Exporting,
            clock.now + self.export_time,
        )
    }

    /// Moves an `available` snapshot into a transitional status until `settles_at`.
    fn transition_snapshot(
        &mut self,
        name: &str,
        verb: &str,
        status: SnapshotStatus,
        settles_at: Instant,
    ) -> Result<Snapshot, ApiError> {
        let snapshot = self.snapshot_mut(name)?;
        if snapshot.status != SnapshotStatus::Available {
            return Err(snapshot_state(snapshot, verb));
        }
        snapshot.status = status;
        snapshot.settles_at = Some(settles_at);
        let snapshot = snapshot.clone();
        self.schedule(settles_at);
        Ok(snapshot)
    }

    /// A `creating` snapshot of `cache`, if the name is free and the quota allows it.
    fn new_snapshot(
        &self,
        name: String,
        cache: &Cache,
        kms_key_id: Option<String>,
        clock: Clock,
    ) -> Result<Snapshot, ApiError> {
        self.check_snapshot_name_free(&name)?;
        Ok(Snapshot {
            arn: self.arn("serverlesscachesnapshot", &name),
            name,
            kms_key_id: kms_key_id.or_else(|| cache.kms_key_id.clone()),
            created: clock.wall,
            expires: clock.wall + SNAPSHOT_EXPIRY,
            status: SnapshotStatus::Creating,
            settles_at: Some(clock.now + self.settle_time),
            bytes_used: bytes_used(&cache.name),
            cache_name: cache.name.clone(),
            engine: cache.engine.clone(),
            major_engine_version: cache.major_engine_version.clone(),
            tags: Vec::new(),
        })
    }

    fn check_snapshot_name_free(&self, name: &str) -> Result<(), ApiError> {
        if self.snapshots.contains_key(name) {
            return Err(ApiError::new(
                Fault::ServerlessCacheSnapshotAlreadyExists,
                format!("Serverless cache snapshot {name} already exists."),
            ));
        }
        if self.snapshots.len() >= self.quotas.snapshots {
            return Err(ApiError::new(
                Fault::ServerlessCacheSnapshotQuotaExceeded,
                format!(
                    "You have reached the limit of {} serverless cache snapshots.",
                    self.quotas.snapshots
                ),
            ));
        }
        Ok(())
    }

    fn insert_snapshot(&mut self, snapshot: Snapshot) -> Snapshot {
        if let Some(at) = snapshot.settles_at {
            self.schedule(at);
        }
        self.snapshots
            .insert(snapshot.name.clone(), snapshot.clone());
        snapshot
    }

    /// The tags of the resource an ARN names.
    pub(crate) fn list_tags(&mut self, resource: &ResourceArn) -> Result<Vec<Tag>, ApiError> {
        Ok(self.tags_mut(resource)?.clone())
    }

    /// Adds tags to a resource, replacing the value of a key it already has; refuses (changing
    /// nothing) if the resource would end up with more than [`MAX_TAGS`]. Tags added to a
    /// replication group are added to each of its member clusters too ("when you add or remove
    /// tags on replication groups, those actions will be replicated to all nodes in the
    /// replication group"), which must have room for them as well.
    pub(crate) fn add_tags(
        &mut self,
        resource: &ResourceArn,
        tags: Vec<Tag>,
    ) -> Result<Vec<Tag>, ApiError> {
        let merged = merge_tags(self.tags_mut(resource)?, &tags);
        let over_quota = |arn: &str, count: usize| {
            ApiError::new(
                Fault::TagQuotaPerResourceExceeded,
                format!("{arn} would have {count} tags; a resource can have at most {MAX_TAGS}."),
            )
        };
        if merged.len() > MAX_TAGS {
            return Err(over_quota(&resource.arn, merged.len()));
        }
        let mut members = Vec::new();
        for id in self.tag_replicas(resource) {
            if let Some(cluster) = self.nodes.clusters.get(&id) {
                let tagged = merge_tags(&cluster.tags, &tags);
                if tagged.len() > MAX_TAGS {
                    return Err(over_quota(&cluster.arn, tagged.len()));
                }
                members.push((id, tagged));
            }
        }
        for (id, tagged) in members {
            if let Some(cluster) = self.nodes.clusters.get_mut(&id) {
                cluster.tags = tagged;
            }
        }
        let current = self.tags_mut(resource)?;
        *current = merged;
        Ok(current.clone())
    }

    /// Removes tags by key; refuses (changing nothing) if the resource lacks one of the keys.
    /// Keys removed from a replication group are removed from each of its member clusters too
    /// (those that have them).
    pub(crate) fn remove_tags(
        &mut self,
        resource: &ResourceArn,
        keys: &[String],
    ) -> Result<Vec<Tag>, ApiError> {
        let current = self.tags_mut(resource)?;
        if let Some(missing) = keys
            .iter()
            .find(|key| !current.iter().any(|tag| &tag.key == *key))
        {
            return Err(ApiError::new(
                Fault::TagNotFound,
                format!("The tag {missing} was not found on {}.", resource.arn),
            ));
        }
        current.retain(|tag| !keys.contains(&tag.key));
        let remaining = current.clone();
        for id in self.tag_replicas(resource) {
            if let Some(cluster) = self.nodes.clusters.get_mut(&id) {
                cluster.tags.retain(|tag| !keys.contains(&tag.key));
            }
        }
        Ok(remaining)
    }

    /// The member clusters a change to the tags of `resource` is replicated to: those of a
    /// replication group, none for any other kind.
    fn tag_replicas(&self, resource: &ResourceArn) -> Vec<String> {
        match resource.kind {
            TaggableKind::ReplicationGroup => self
                .nodes
                .groups
                .get(&resource.name)
                .map(|group| group.member_ids().map(str::to_owned).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The tags of the resource an ARN names: `InvalidARN` for another account or region, the
    /// kind's not-found fault for a resource that does not exist.
    fn tags_mut(&mut self, resource: &ResourceArn) -> Result<&mut Vec<Tag>, ApiError> {
        if resource.region != self.region || resource.account_id != self.account_id {
            return Err(ApiError::new(
                Fault::InvalidArn,
                format!(
                    "The ARN {} does not refer to a resource of account {} in {}.",
                    resource.arn, self.account_id, self.region
                ),
            ));
        }
        let name = resource.name.as_str();
        Ok(match resource.kind {
            TaggableKind::ServerlessCache => &mut self.cache_mut(name)?.tags,
            TaggableKind::ServerlessCacheSnapshot => &mut self.snapshot_mut(name)?.tags,
            TaggableKind::User => {
                &mut self
                    .users
                    .get_mut(name)
                    .ok_or_else(|| user_not_found(name))?
                    .tags
            }
            TaggableKind::UserGroup => {
                &mut self
                    .user_groups
                    .get_mut(name)
                    .ok_or_else(|| user_group_not_found(name))?
                    .tags
            }
            TaggableKind::ReplicationGroup => {
                &mut self
                    .nodes
                    .groups
                    .get_mut(name)
                    .ok_or_else(|| super::replication::group_not_found(name))?
                    .tags
            }
            TaggableKind::CacheCluster => {
                &mut self
                    .nodes
                    .clusters
                    .get_mut(name)
                    .ok_or_else(|| super::replication::cluster_not_found(name))?
                    .tags
            }
            TaggableKind::Snapshot => {
                &mut self
                    .nodes
                    .snapshots
                    .get_mut(name)
                    .ok_or_else(|| super::replication::snapshot_not_found(name))?
                    .tags
            }
            TaggableKind::ParameterGroup => {
                &mut self
                    .catalog
                    .parameter_groups
                    .get_mut(name)
                    .ok_or_else(|| super::parameters::parameter_group_not_found(name))?
                    .tags
            }
            TaggableKind::SubnetGroup => {
                &mut self
                    .catalog
                    .subnet_groups
                    .get_mut(name)
                    .ok_or_else(|| super::parameters::subnet_group_not_found(name))?
                    .tags
            }
            TaggableKind::ReservedCacheNode => {
                &mut self
                    .reserved
                    .get_mut(name)
                    .ok_or_else(|| super::reserved::reserved_node_not_found(name))?
                    .tags
            }
        })
    }

    pub(crate) fn create_user(&mut self, new: NewUser) -> Result<User, ApiError> {
        if self.users.contains_key(&new.id) {
            return Err(ApiError::new(
                Fault::UserAlreadyExists,
                format!("User {} already exists.", new.id),
            ));
        }
        // Several users may be named `default` (that is how a group's default user is
        // replaced); other user names are unique.
        if new.name != DEFAULT_USER
            && let Some(other) = self.users.values().find(|user| user.name == new.name)
        {
            return Err(ApiError::new(
                Fault::DuplicateUserName,
                format!("User {} already has the user name {}.", other.id, new.name),
            ));
        }
        let user = User {
            arn: self.arn("user", &new.id),
            id: new.id,
            name: new.name,
            status: RbacStatus::Active,
            engine: new.engine,
            access_string: new.access_string,
            authentication: new.authentication,
            user_group_ids: Vec::new(),
            tags: new.tags,
        };
        self.users.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    /// Changes a user's access string, authentication or engine; it stays `active`.
    pub(crate) fn modify_user(&mut self, changes: UserChanges) -> Result<User, ApiError> {
        let user = self.user(&changes.id)?;
        if changes.authentication == Some(Authentication::Iam) && user.name != user.id {
            return Err(ApiError::combination(
                "With IAM authentication the UserName must be the same as the UserId",
            ));
        }
        let user = self
            .users
            .get_mut(&changes.id)
            .ok_or_else(|| user_not_found(&changes.id))?;
        if let Some(access) = changes.access_string {
            user.access_string = access;
        }
        if let Some(append) = changes.append_access_string {
            user.access_string = format!("{} {append}", user.access_string);
        }
        if let Some(authentication) = changes.authentication {
            user.authentication = authentication;
        }
        if let Some(engine) = changes.engine {
            user.engine = engine;
        }
        let user = user.clone();
        Ok(self.answer_user(user))
    }

    pub(crate) fn describe_users(
        &self,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<User>, ApiError> {
        if let Some(id) = &filter.user_id {
            self.user(id)?;
        }
        let page = paginate(&self.users, TokenKind::User, page, |user| {
            filter.engine.as_ref().is_none_or(|e| &user.engine == e)
                && filter.user_id.as_ref().is_none_or(|id| &user.id == id)
                && filter
                    .user_id_filters
                    .iter()
                    .all(|values| values.contains(&user.id))
        })?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|user| self.answer_user(user))
                .collect(),
            next_token: page.next_token,
        })
    }

    /// Deletes a user, taking it out of every group it belongs to — unless it is named
    /// `default` and in a group (`DefaultUserAssociatedToUserGroup`: every group needs one), or
    /// it is the account's built-in `default` user, which cannot be deleted.
    pub(crate) fn delete_user(&mut self, id: &str) -> Result<User, ApiError> {
        let user = self.answer_user(self.user(id)?.clone());
        if user.name == DEFAULT_USER
            && let Some(group) = user.user_group_ids.first()
        {
            return Err(ApiError::new(
                Fault::DefaultUserAssociatedToUserGroup,
                format!(
                    "User {id} is the default user of user group {group}; \
                     replace it in the group before deleting it."
                ),
            ));
        }
        if id == DEFAULT_USER {
            return Err(ApiError::invalid(
                "UserId",
                "the account's default user cannot be deleted",
            ));
        }
        for group in self.user_groups.values_mut() {
            group.user_ids.retain(|member| member != id);
        }
        self.users.remove(id);
        Ok(User {
            status: RbacStatus::Deleting,
            ..user
        })
    }

    pub(crate) fn create_user_group(&mut self, new: NewUserGroup) -> Result<UserGroup, ApiError> {
        if self.user_groups.contains_key(&new.id) {
            return Err(ApiError::new(
                Fault::UserGroupAlreadyExists,
                format!("User group {} already exists.", new.id),
            ));
        }
        self.check_members(&new.id, &new.user_ids)?;
        let group = UserGroup {
            arn: self.arn("usergroup", &new.id),
            id: new.id,
            status: RbacStatus::Active,
            engine: new.engine,
            user_ids: new.user_ids,
            serverless_caches: Vec::new(),
            replication_groups: Vec::new(),
            tags: new.tags,
        };
        self.user_groups.insert(group.id.clone(), group.clone());
        Ok(group)
    }

    pub(crate) fn describe_user_groups(
        &self,
        id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<UserGroup>, ApiError> {
        if let Some(id) = id {
            self.user_group(id)?;
        }
        let page = paginate(&self.user_groups, TokenKind::UserGroup, page, |group| {
            id.is_none_or(|id| group.id == id)
        })?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|group| self.answer_user_group(group))
                .collect(),
            next_token: page.next_token,
        })
    }

    /// Adds and removes members at once (the group stays `active`).
    pub(crate) fn modify_user_group(
        &mut self,
        changes: UserGroupChanges,
    ) -> Result<UserGroup, ApiError> {
        let group = self.user_group(&changes.id)?;
        for id in &changes.user_ids_to_add {
            self.user(id)?;
            if group.user_ids.contains(id) {
                return Err(ApiError::invalid(
                    "UserIdsToAdd",
                    format!("user {id} is already in user group {}", group.id),
                ));
            }
        }
        for id in &changes.user_ids_to_remove {
            self.user(id)?;
            if !group.user_ids.contains(id) {
                return Err(ApiError::invalid(
                    "UserIdsToRemove",
                    format!("user {id} is not in user group {}", group.id),
                ));
            }
        }
        let mut user_ids = group.user_ids.clone();
        user_ids.retain(|id| !changes.user_ids_to_remove.contains(id));
        user_ids.extend(changes.user_ids_to_add);
        self.check_members(&changes.id, &user_ids)?;
        let group = self
            .user_groups
            .get_mut(&changes.id)
            .ok_or_else(|| user_group_not_found(&changes.id))?;
        group.user_ids = user_ids;
        if let Some(engine) = changes.engine {
            group.engine = engine;
        }
        let group = group.clone();
        Ok(self.answer_user_group(group))
    }

    /// Deletes a user group no serverless cache uses.
    pub(crate) fn delete_user_group(&mut self, id: &str) -> Result<UserGroup, ApiError> {
        let group = self.answer_user_group(self.user_group(id)?.clone());
        if let Some(cache) = group.serverless_caches.first() {
            return Err(ApiError::new(
                Fault::InvalidUserGroupState,
                format!("User group {id} is in use by serverless cache {cache}."),
            ));
        }
        if let Some(group) = group.replication_groups.first() {
            return Err(ApiError::new(
                Fault::InvalidUserGroupState,
                format!("User group {id} is in use by replication group {group}."),
            ));
        }
        self.user_groups.remove(id);
        Ok(UserGroup {
            status: RbacStatus::Deleting,
            ..group
        })
    }

    /// Checks a group's would-be members: they exist, no two share a user name, and one is
    /// named `default` (every Valkey and Redis OSS group needs one).
    fn check_members(&self, group_id: &str, user_ids: &[String]) -> Result<(), ApiError> {
        let mut names: BTreeMap<&str, &str> = BTreeMap::new();
        for id in user_ids {
            let user = self.user(id)?;
            if let Some(other) = names.insert(&user.name, &user.id) {
                return Err(ApiError::new(
                    Fault::DuplicateUserName,
                    format!(
                        "Users {other} and {id} of user group {group_id} share the user name {}.",
                        user.name
                    ),
                ));
            }
        }
        if !names.contains_key(DEFAULT_USER) {
            return Err(ApiError::new(
                Fault::DefaultUserRequired,
                format!("User group {group_id} must contain a user named {DEFAULT_USER}."),
            ));
        }
        Ok(())
    }

    /// A stored user with the groups it belongs to.
    fn answer_user(&self, mut user: User) -> User {
        user.user_group_ids = self
            .user_groups
            .values()
            .filter(|group| group.user_ids.contains(&user.id))
            .map(|group| group.id.clone())
            .collect();
        user
    }

    /// A stored user group with the serverless caches that use it (until they are gone).
    fn answer_user_group(&self, mut group: UserGroup) -> UserGroup {
        group.serverless_caches = self
            .caches
            .values()
            .filter(|cache| cache.user_group_id.as_deref() == Some(group.id.as_str()))
            .map(|cache| cache.name.clone())
            .collect();
        group.replication_groups = self.user_group_replication_groups(&group.id);
        group
    }

    fn user(&self, id: &str) -> Result<&User, ApiError> {
        self.users.get(id).ok_or_else(|| user_not_found(id))
    }

    pub(crate) fn user_group(&self, id: &str) -> Result<&UserGroup, ApiError> {
        self.user_groups
            .get(id)
            .ok_or_else(|| user_group_not_found(id))
    }

    /// Records a pending transition; returns `at` for convenience.
    pub(crate) fn schedule(&mut self, at: Instant) -> Instant {
        self.next_deadline = Some(self.next_deadline.map_or(at, |next| next.min(at)));
        at
    }

    pub(crate) fn arn(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:aws:elasticache:{}:{}:{kind}:{name}",
            self.region, self.account_id
        )
    }

    /// The serverless cache, if it exists and is `available`.
    pub(crate) fn available_serverless_cache(&self, name: &str) -> Result<(), ApiError> {
        require_available(self.cache(name)?, "migrated")
    }

    fn cache(&self, name: &str) -> Result<&Cache, ApiError> {
        self.caches.get(name).ok_or_else(|| cache_not_found(name))
    }

    fn cache_mut(&mut self, name: &str) -> Result<&mut Cache, ApiError> {
        self.caches
            .get_mut(name)
            .ok_or_else(|| cache_not_found(name))
    }

    fn snapshot(&self, name: &str) -> Result<&Snapshot, ApiError> {
        self.snapshots
            .get(name)
            .ok_or_else(|| snapshot_not_found(name))
    }

    fn snapshot_mut(&mut self, name: &str) -> Result<&mut Snapshot, ApiError> {
        self.snapshots
            .get_mut(name)
            .ok_or_else(|| snapshot_not_found(name))
    }
}

fn cache_not_found(name: &str) -> ApiError {
    ApiError::new(
        Fault::ServerlessCacheNotFound,
        format!("Serverless cache {name} not found."),
    )
}

fn snapshot_not_found(name: &str) -> ApiError {
    ApiError::new(
        Fault::ServerlessCacheSnapshotNotFound,
        format!("Serverless cache snapshot {name} not found."),
    )
}

fn user_not_found(id: &str) -> ApiError {
    ApiError::new(Fault::UserNotFound, format!("User {id} not found."))
}

fn user_group_not_found(id: &str) -> ApiError {
    ApiError::new(
        Fault::UserGroupNotFound,
        format!("User group {id} not found."),
    )
}

fn require_available(cache: &Cache, verb: &str) -> Result<(), ApiError> {
    if cache.status == CacheStatus::Available {
        return Ok(());
    }
    Err(ApiError::new(
        Fault::InvalidServerlessCacheState,
        format!(
            "Serverless cache {} is {} and cannot be {verb}; it must be available.",
            cache.name,
            cache.status.as_str()
        ),
    ))
}

fn snapshot_state(snapshot: &Snapshot, verb: &str) -> ApiError {
    ApiError::new(
        Fault::InvalidServerlessCacheSnapshotState,
        format!(
            "Serverless cache snapshot {} is {} and cannot be {verb}; it must be available.",
            snapshot.name,
            snapshot.status.as_str()
        ),
    )
}

/// `(major, full)` engine version for an engine, defaulting to its newest major version.
fn engine_version(
    engine: &str,
    major: Option<&str>,
) -> Result<(&'static str, &'static str), ApiError> {
    const VERSIONS: [(&str, &str, &str); 4] = [
        // engine, major, full — newest major first.
        ("valkey", "8", "8.0"),
        ("valkey", "7", "7.2"),
        ("redis", "7", "7.1"),
        ("memcached", "1.6", "1.6.22"),
    ];
    let mut known = VERSIONS.iter().filter(|(e, ..)| *e == engine).peekable();
    if known.peek().is_none() {
        return Err(ApiError::invalid(
            "Engine",
            format!("{engine:?} is not one of valkey, redis, memcached"),
        ));
    }
    known
        .find(|(_, m, _)| major.is_none_or(|major| major == *m))
        .map(|(_, major, full)| (*major, *full))
        .ok_or_else(|| {
            ApiError::invalid(
                "MajorEngineVersion",
                format!(
                    "{} is not a supported version of {engine}",
                    major.unwrap_or("")
                ),
            )
        })
}

/// Orders `7` < `7.2` < `8` numerically.
fn version_key(version: &str) -> Vec<u64> {
    version
        .split('.')
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

/// `us-east-1` → `use1`, the region code in ElastiCache serverless host names.
pub(crate) fn region_code(region: &str) -> String {
    let mut code = String::new();
    for part in region.split('-') {
        let short = match part {
            "east" => "e",
            "west" => "w",
            "north" => "n",
            "south" => "s",
            "central" => "c",
            "northeast" => "ne",
            "northwest" => "nw",
            "southeast" => "se",
            "southwest" => "sw",
            other => other,
        };
        code.push_str(short);
    }
    code
}

/// A stable, plausible size for a snapshot of `cache_name` (1 to 512 MiB).
fn bytes_used(cache_name: &str) -> u64 {
    let hash = cache_name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    (1 + hash % 512) * 1024 * 1024
}

/// What a pagination token pages through: a token of one Describe is refused by another.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TokenKind {
    Cache,
    Snapshot,
    User,
    UserGroup,
    ReplicationGroup,
    CacheCluster,
    ClassicSnapshot,
    ParameterGroup,
    Parameter,
    SubnetGroup,
    EngineVersion,
    Event,
    ReservedOffering,
    ReservedNode,
    GlobalReplicationGroup,
}

impl TokenKind {
    fn tag(self) -> &'static str {
        match self {
            TokenKind::Cache => "c1",
            TokenKind::Snapshot => "s1",
            TokenKind::User => "u1",
            TokenKind::UserGroup => "g1",
            TokenKind::ReplicationGroup => "r1",
            TokenKind::CacheCluster => "k1",
            TokenKind::ClassicSnapshot => "n1",
            TokenKind::ParameterGroup => "p1",
            TokenKind::Parameter => "q1",
            TokenKind::SubnetGroup => "b1",
            TokenKind::EngineVersion => "v1",
            TokenKind::Event => "e1",
            TokenKind::ReservedOffering => "o1",
            TokenKind::ReservedNode => "i1",
            TokenKind::GlobalReplicationGroup => "l1",
        }
    }

    /// The request parameter that carries the token.
    fn parameter(self) -> &'static str {
        match self {
            TokenKind::Cache | TokenKind::Snapshot => "NextToken",
            _ => "Marker",
        }
    }
}

/// Items after the token's name, in name order. The token names the last item returned, so pages
/// stay stable while resources come and go.
pub(crate) fn paginate<T: Clone>(
    items: &BTreeMap<String, T>,
    kind: TokenKind,
    page: &PageRequest,
    keep: impl Fn(&T) -> bool,
) -> Result<Page<T>, ApiError> {
    let start = match page.next_token.as_deref().filter(|token| !token.is_empty()) {
        Some(token) => Bound::Excluded(decode_token(kind, token)?),
        None => Bound::Unbounded,
    };
    let mut page_items = Vec::new();
    let mut last_name = None;
    let mut next_token = None;
    for (name, item) in items.range((start, Bound::Unbounded)) {
        if !keep(item) {
            continue;
        }
        if page_items.len() == page.max_results {
            next_token = last_name.map(|last| encode_token(kind, last));
            break;
        }
        page_items.push(item.clone());
        last_name = Some(name);
    }
    Ok(Page {
        items: page_items,
        next_token,
    })
}

fn encode_token(kind: TokenKind, last_name: &str) -> String {
    let mut token = String::with_capacity(3 + 2 * last_name.len());
    token.push_str(kind.tag());
    token.push('-');
    for byte in last_name.bytes() {
        let _ = write!(token, "{byte:02x}");
    }
    token
}

fn decode_token(kind: TokenKind, token: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::invalid(kind.parameter(), "the token is not one this API returned");
    let hex = token
        .strip_prefix(kind.tag())
        .and_then(|rest| rest.strip_prefix('-'))
        .filter(|hex| hex.len() % 2 == 0 && hex.is_ascii())
        .ok_or_else(invalid)?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    String::from_utf8(bytes).map_err(|_| invalid())
}
