//! An in-process Amazon ElastiCache emulator that speaks the AWS Query protocol.
//!
//! It answers every one of the 77 operations of the ElastiCache API (the table below): 68 served
//! exactly as ElastiCache does on the wire, 9 with the realistic fault ElastiCache gives where an
//! offline emulator has nothing to act on (EC2-Classic cache security groups, migrating from the
//! customer's own nodes; see the table). It serves serverless caches and their snapshots;
//! replication groups, the cache clusters they own and standalone cache clusters; classic
//! snapshots of either; global datastores (one region is emulated: a datastore has its primary
//! here and no secondary); cache parameter groups (each family's default parameters,
//! overrides, reset), cache subnet groups and engine versions; RBAC users and user groups
//! (every account has the user `default`, the `default.<family>` parameter groups and the
//! `default` subnet group); tags on every ARN of those kinds; events for what happened
//! (`DescribeEvents`); reserved node offerings and purchases (tagged by their
//! `ReservationARN`); the service-update family (the emulated service publishes no updates).
//! Requests are form-encoded `POST /` with `Action=…&Version=2015-02-02`; answers are XML in the
//! `2015-02-02` namespace with the model's element names, `ErrorResponse` faults with the
//! modelled HTTP status and an `x-amzn-RequestId` header. An action outside the model is
//! refused with `InvalidAction` (400), whose message names it: `The elasticache-grpc emulator
//! does not implement the action …` — never a fake success. Options no offline emulator can
//! mean (seeding from S3, log delivery, Outposts, data tiering, EC2-Classic cache security
//! groups, joining a global datastore from another region) are refused with the fault ElastiCache would give or an
//! `InvalidParameterValue` naming what is not emulated. Any AWS client can use it — the Rust
//! SDK, the AWS CLI, boto3 — by pointing its endpoint URL at [`Emulator::endpoint_url`];
//! signatures are accepted unchecked.
//!
//! Accounts and regions ([`accounts`]): each (account, region) is its own ElastiCache, the region
//! the one a request's signature is scoped to, the account the default one
//! ([`EmulatorConfig::account_id`]) unless the access key came from the emulator's STS
//! `AssumeRole` ([`sts`]) for a role in one of [`EmulatorConfig::accounts`]. A global datastore
//! lives in one (account, region): its secondaries in other regions are not emulated.
//!
//! | family | operation | served |
//! |---|---|---|
//! | Serverless caches | `CreateServerlessCache` | yes |
//! | Serverless caches | `DescribeServerlessCaches` | yes |
//! | Serverless caches | `ModifyServerlessCache` | yes |
//! | Serverless caches | `DeleteServerlessCache` | yes |
//! | Serverless cache snapshots | `CreateServerlessCacheSnapshot` | yes |
//! | Serverless cache snapshots | `DescribeServerlessCacheSnapshots` | yes |
//! | Serverless cache snapshots | `CopyServerlessCacheSnapshot` | yes |
//! | Serverless cache snapshots | `DeleteServerlessCacheSnapshot` | yes |
//! | Serverless cache snapshots | `ExportServerlessCacheSnapshot` | yes |
//! | Replication groups | `CreateReplicationGroup` | yes |
//! | Replication groups | `DescribeReplicationGroups` | yes |
//! | Replication groups | `ModifyReplicationGroup` | yes |
//! | Replication groups | `IncreaseReplicaCount` | yes |
//! | Replication groups | `DecreaseReplicaCount` | yes |
//! | Replication groups | `TestFailover` | yes |
//! | Replication groups | `ModifyReplicationGroupShardConfiguration` | yes |
//! | Replication groups | `DeleteReplicationGroup` | yes |
//! | Replication groups | `ListAllowedNodeTypeModifications` | yes: larger and smaller known node types; none for Memcached |
//! | Cache clusters | `CreateCacheCluster` | yes |
//! | Cache clusters | `DescribeCacheClusters` | yes |
//! | Cache clusters | `ModifyCacheCluster` | yes; scaling and upgrades with `ApplyImmediately=false` stay pending |
//! | Cache clusters | `RebootCacheCluster` | yes; only the named nodes are `rebooting`, the others stay `available` |
//! | Cache clusters | `DeleteCacheCluster` | yes |
//! | Snapshots | `CreateSnapshot` | yes |
//! | Snapshots | `DescribeSnapshots` | yes |
//! | Snapshots | `CopySnapshot` | yes; with `TargetBucket`, an export into the emulated S3 bucket (`EmulatorConfig::s3_dir`): one RDB object per node group, the source `exporting` |
//! | Snapshots | `DeleteSnapshot` | yes |
//! | Cache parameter groups | `CreateCacheParameterGroup` | yes |
//! | Cache parameter groups | `DescribeCacheParameterGroups` | yes |
//! | Cache parameter groups | `ModifyCacheParameterGroup` | yes |
//! | Cache parameter groups | `ResetCacheParameterGroup` | yes |
//! | Cache parameter groups | `DeleteCacheParameterGroup` | yes |
//! | Cache parameter groups | `DescribeCacheParameters` | yes |
//! | Cache parameter groups | `DescribeEngineDefaultParameters` | yes |
//! | Cache subnet groups | `CreateCacheSubnetGroup` | yes |
//! | Cache subnet groups | `DescribeCacheSubnetGroups` | yes |
//! | Cache subnet groups | `ModifyCacheSubnetGroup` | yes |
//! | Cache subnet groups | `DeleteCacheSubnetGroup` | yes |
//! | Engine versions | `DescribeCacheEngineVersions` | yes |
//! | Users | `CreateUser` | yes |
//! | Users | `DescribeUsers` | yes |
//! | Users | `ModifyUser` | yes |
//! | Users | `DeleteUser` | yes |
//! | User groups | `CreateUserGroup` | yes |
//! | User groups | `DescribeUserGroups` | yes |
//! | User groups | `ModifyUserGroup` | yes |
//! | User groups | `DeleteUserGroup` | yes |
//! | Tags | `AddTagsToResource` | yes; on a replication group, replicated to its member clusters |
//! | Tags | `ListTagsForResource` | yes |
//! | Tags | `RemoveTagsFromResource` | yes; on a replication group, replicated to its member clusters |
//! | Events | `DescribeEvents` | yes |
//! | Service updates | `DescribeServiceUpdates` | yes: the emulated service publishes none, so an empty list |
//! | Service updates | `DescribeUpdateActions` | yes: none, so an empty list |
//! | Service updates | `BatchApplyUpdateAction` | yes: `ServiceUpdateNotFoundFault` (there are no service updates) |
//! | Service updates | `BatchStopUpdateAction` | yes: `ServiceUpdateNotFoundFault` (there are no service updates) |
//! | Reserved nodes | `DescribeReservedCacheNodesOfferings` | yes: 144 offerings (8 node types × 3 engines × 1 or 3 years × 3 payment options) |
//! | Reserved nodes | `DescribeReservedCacheNodes` | yes |
//! | Reserved nodes | `PurchaseReservedCacheNodesOffering` | yes; the reservation is `active` at once |
//! | Global datastores | `CreateGlobalReplicationGroup` | yes |
//! | Global datastores | `DescribeGlobalReplicationGroups` | yes |
//! | Global datastores | `ModifyGlobalReplicationGroup` | yes |
//! | Global datastores | `DeleteGlobalReplicationGroup` | yes |
//! | Global datastores | `DisassociateGlobalReplicationGroup` | yes: one region is emulated, so there is no secondary to disassociate (`InvalidParameterValue`) |
//! | Global datastores | `FailoverGlobalReplicationGroup` | yes: one region is emulated, so there is no secondary to fail over to (`InvalidParameterValue`) |
//! | Global datastores | `IncreaseNodeGroupsInGlobalReplicationGroup` | yes |
//! | Global datastores | `DecreaseNodeGroupsInGlobalReplicationGroup` | yes |
//! | Global datastores | `RebalanceSlotsInGlobalReplicationGroup` | yes |
//! | Cache security groups | `CreateCacheSecurityGroup` | realistic fault: `InvalidParameterValue` (cache security groups are EC2-Classic; the account is VPC-only) |
//! | Cache security groups | `DescribeCacheSecurityGroups` | yes: there are none (a named one: `CacheSecurityGroupNotFound`) |
//! | Cache security groups | `DeleteCacheSecurityGroup` | realistic fault: `CacheSecurityGroupNotFound` (there are none) |
//! | Cache security groups | `AuthorizeCacheSecurityGroupIngress` | realistic fault: `CacheSecurityGroupNotFound` (there are none) |
//! | Cache security groups | `RevokeCacheSecurityGroupIngress` | realistic fault: `CacheSecurityGroupNotFound` (there are none) |
//! | Migrations | `PrepareMigration` | realistic fault: the target is checked, then `InvalidParameterValue` (the customer's nodes cannot be reached) |
//! | Migrations | `StartMigration` | realistic fault: the target is checked, then `InvalidParameterValue` (the customer's nodes cannot be reached) |
//! | Migrations | `TestMigration` | realistic fault: the target is checked, then `InvalidParameterValue` (the customer's nodes cannot be reached) |
//! | Migrations | `CompleteMigration` | realistic fault: `ReplicationGroupNotUnderMigrationFault` / `ServerlessCacheNotUnderMigrationFault` (nothing ever is) |
//! | Migrations | `StopMigration` | realistic fault: `ServerlessCacheNotUnderMigrationFault` (nothing ever is) |
//!
//! Resources follow a time-based state machine, computed lazily on each request:
//!
//! | resource | transition | after |
//! |---|---|---|
//! | serverless cache | `creating` → `available`, `modifying` → `available` | `settle_time` |
//! | serverless cache | `deleting` → gone | `settle_time` |
//! | serverless snapshot | `creating` → `available`, `deleting` → gone | `settle_time` |
//! | serverless snapshot | `exporting` → `available` | `export_time` |
//! | replication group, cache cluster | `creating`, `modifying`, `rebooting cache cluster nodes` → `available` | `settle_time` |
//! | replication group, cache cluster | `deleting` → gone (with its member clusters) | `settle_time` |
//! | replication group, cache cluster | `snapshotting` → `available` | while its snapshot is `creating` |
//! | snapshot | `creating` → `available`, `deleting` → gone | `settle_time` |
//! | snapshot | `exporting` → `available` (`CopySnapshot` with a `TargetBucket`) | `export_time` |
//!
//! With [`EmulatorConfig::s3_dir`] set, an export writes the snapshot into the bucket (a
//! subdirectory) before going `exporting` — `<snapshot>-0001.rdb` for
//! `ExportServerlessCacheSnapshot`, `<target>-<node group>.rdb` for `CopySnapshot` with a
//! `TargetBucket` — and a missing bucket (or no `s3_dir`, for `CopySnapshot`) is refused.
//!
//! Snapshots outlive what they were taken of. Cross-resource rules hold: a member cluster of a
//! replication group (or the primary of a global datastore) cannot be deleted or modified alone
//! (`InvalidCacheClusterState`, `InvalidReplicationGroupState`), a parameter group in use or a
//! default one cannot be deleted
//! (`InvalidCacheParameterGroupState`), nor a subnet group in use (`CacheSubnetGroupInUse`),
//! nor a user group a replication group uses; names are unique per kind (`…AlreadyExists`);
//! clusters, nodes, node groups per group, snapshots, parameter and subnet groups have quotas
//! with the AWS fault.
//!
//! Users and user groups have no transitions: they are `active` as soon as they are created or
//! modified, and gone as soon as they are deleted (the Delete answers them as `deleting`).
//! Parameter and subnet groups change at once.
//!
//! A test can hold a name ([`Emulator::hold`]) to freeze what has that name — a serverless cache
//! or snapshot, a replication group (and its member clusters), a cache cluster or a snapshot —
//! in its transitional status past the times above, then release it ([`Emulator::release`],
//! [`Emulator::release_all`]): a resource whose time has passed settles on the next request, the
//! others when their time comes.
//!
//! With [`EmulatorConfig::state_file`] the account outlives the process, so a developer's
//! resources survive a restart or a reboot:
//!
//! * **What is kept**: everything the account holds — serverless caches and snapshots, users
//!   and user groups, replication groups, cache clusters, classic snapshots, global datastores,
//!   parameter groups with their changed parameters, subnet groups, reserved nodes, the tags on
//!   all of them, events — as one JSON document, `{"version": 1, "account_id": …, "region": …,
//!   …}`.
//! * **When**: after every request that changed something (any action but the `Describe…` and
//!   `List…` ones; only when the document differs from the file), before it is answered and
//!   under the store's lock, so a change answered with success is on disk and saves land in the
//!   order of the changes. The file is replaced atomically: a temporary file beside it, flushed
//!   to disk, renamed over it. A change that cannot be written answers `InternalFailure` (500)
//!   naming the file and why; it stays in memory and goes to disk with the next save.
//! * **Transitions**: deadlines are kept as wall-clock times. A cache `creating` with 3 s left is
//!   still `creating` after a restart and settles when its time comes; one that came due while
//!   the emulator was down settles on the first request, its event dated when it was due.
//!   Settling is computed, not saved: the file keeps the transitional status until the next
//!   change, and every start settles it the same way.
//! * **Not kept**: held names ([`Emulator::hold`] is a test's control of one run, so a restart
//!   releases every hold), injected faults, call counters, and the configuration (settle and
//!   export times, region and account, the S3 directory, whose objects are files already).
//! * **Refused at start**: a file that cannot be read, is not such a document, is of another
//!   version, was made for another account or region, or holds what the emulator never is in (a
//!   resource filed under another name, a replication group without node groups or members) —
//!   with an error naming the file and the problem, leaving the file as it is. A missing file starts a new account and is written at
//!   once, so a place the file cannot be written is found at start too.
//! * **One emulator per file**: two emulators on one file overwrite each other's saves.
//!
//! For tests it counts calls per action and injects faults ([`FaultInjector`]): throttling,
//! modelled or arbitrary errors, delays, dropped connections and requests that never answer.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use elasticache_emulator::{Emulator, EmulatorConfig, FaultKind};
//!
//! let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), EmulatorConfig::default()).await?;
//! emulator.faults().inject(Some("ExportServerlessCacheSnapshot"), FaultKind::Throttle, 2);
//! // … point aws-sdk-elasticache at emulator.endpoint_url() …
//! assert_eq!(emulator.calls("ExportServerlessCacheSnapshot"), 0);
//! emulator.shutdown();
//! # Ok(()) }
//! ```
//!
//! Non-Rust clients (the CI scripts) drive the same controls over HTTP:
//!
//! * `POST /_emulator/faults`, form body `action=<Action or empty>&kind=throttle|error|delay|drop|hang`
//!   plus `times=N` (omit it to apply the fault until reset), `status`, `code`, `message` for
//!   `error` (status defaults to the modelled one for a known code, else 400) and `delay_ms`
//!   for `delay`;
//! * `POST /_emulator/hold`, form body `name=<resource name>`, holds that name as
//!   [`Emulator::hold`] does (400 without a name);
//! * `POST /_emulator/release`, form body `name=<name>`, releases it; an empty or missing name
//!   releases every hold;
//! * `POST /_emulator/reset` clears every fault and releases every hold (and seeds the `default`
//!   user again should it be missing);
//! * `GET /_emulator/calls` answers one `Action count` line per operation.

mod accounts;
mod control;
mod error;
mod events;
mod faults;
mod global;
mod http;
mod model;
mod operations;
mod parameters;
mod query;
mod replication;
mod replication_ops;
mod reserved;
mod server;
mod shared;
mod state_file;
mod store;
mod sts;
mod unemulated;
mod updates;
mod wall_time;
mod xml;

#[cfg(test)]
mod model_shapes;
#[cfg(test)]
mod sdk_tests;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use faults::{FaultInjector, FaultKind};

/// How the emulated service behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// How long resources stay `creating`, `modifying`, `rebooting cache cluster nodes` or
    /// `deleting` (and snapshots `creating` or `deleting`) before they settle.
    pub settle_time: Duration,
    /// How long a snapshot stays `exporting` before it is `available` again.
    pub export_time: Duration,
    /// Region used in ARNs and endpoint host names.
    pub region: String,
    /// The default account's id, used in ARNs: requests signed with any access key the emulator
    /// did not issue are this account's.
    pub account_id: String,
    /// More accounts the emulator plays (12-digit ids), each with its own resources in every
    /// region. A request is an account's when its access key came from the emulator's STS
    /// `AssumeRole` of a role in that account (`arn:aws:iam::<account>:role/<name>`).
    pub accounts: Vec<String>,
    /// A directory whose subdirectories are the emulated S3 buckets: an export
    /// (`ExportServerlessCacheSnapshot`) writes the snapshot as `<bucket>/<snapshot>-0001.rdb`
    /// (a valid, empty RDB file) before the snapshot goes `exporting`, and a bucket that is not
    /// there answers `InvalidParameterValue`, as ElastiCache does; so does `CopySnapshot` with a
    /// `TargetBucket` (`<target>-<node group>.rdb`). `None` keeps no S3: serverless exports go
    /// `exporting` → `available` without writing anything, `CopySnapshot` to a bucket is refused.
    pub s3_dir: Option<std::path::PathBuf>,
    /// A JSON file that keeps the emulated account across restarts (see the crate
    /// documentation): read at start, or created there when missing, and rewritten after every
    /// change. `None` keeps the state in memory only.
    pub state_file: Option<std::path::PathBuf>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            settle_time: Duration::from_secs(2),
            export_time: Duration::from_secs(2),
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
            accounts: Vec::new(),
            s3_dir: None,
            state_file: None,
        }
    }
}

/// A running emulator. Dropping it does NOT stop it; call [`Emulator::shutdown`].
#[derive(Clone, Debug)]
pub struct Emulator {
    shared: Arc<shared::Shared>,
}

impl Emulator {
    /// Binds `addr` (e.g. `127.0.0.1:0`) before returning, then serves in a spawned tokio task.
    /// A [state file](EmulatorConfig::state_file) that cannot be used is an error (of kind
    /// `InvalidData` unless the file could not be read or written) naming the file and why.
    pub async fn start(addr: SocketAddr, config: EmulatorConfig) -> std::io::Result<Emulator> {
        let (emulator, _task) = server::start(addr, config).await?;
        Ok(emulator)
    }

    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The URL to give an AWS client as its endpoint, e.g. `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.shared.local_addr)
    }

    /// The fault injector applied to every AWS request.
    pub fn faults(&self) -> &FaultInjector {
        &self.shared.faults
    }

    /// Number of requests received for an action (e.g. `"ExportServerlessCacheSnapshot"`),
    /// including failed and fault-injected ones; 0 for an action the emulator does not serve.
    pub fn calls(&self, action: &str) -> u64 {
        self.shared.calls.get(action)
    }

    /// Number of AWS requests received, whatever their action (control requests excluded).
    pub fn total_calls(&self) -> u64 {
        self.shared.calls.total()
    }

    /// Holds what is named `name` — serverless cache or snapshot, replication group (with its
    /// member clusters), cache cluster, classic snapshot — in its transitional status until
    /// [`release`](Emulator::release)d: whether it exists now or is created later, it stays
    /// `creating`, `modifying`, `snapshotting`, `rebooting cache cluster nodes`, `exporting` or
    /// `deleting` however long that takes (a `deleting` one stays listed), so a test can observe
    /// the in-between state. Other resources settle as usual. Cache, group and cluster names
    /// match case-insensitively, as ElastiCache's do; snapshot names exactly. Holding a name
    /// already held does nothing.
    pub fn hold(&self, name: &str) {
        self.shared.stores.hold(name);
    }

    /// Ends a hold placed with [`hold`](Emulator::hold). What it held settles on the first
    /// request at or after its due time: at once on the next request if that time has passed.
    /// Releasing a name not held does nothing.
    pub fn release(&self, name: &str) {
        self.shared.stores.release(name);
    }

    /// Ends every hold, as [`release`](Emulator::release) does for one name.
    pub fn release_all(&self) {
        self.shared.stores.release_all();
    }

    /// Moves the emulator's clock ahead by `by`, settling transitions without waiting.
    #[cfg(test)]
    pub(crate) fn advance_clock(&self, by: Duration) {
        self.shared.advance_clock(by);
    }

    /// Stops accepting connections; requests in flight finish (hung ones are cut off).
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }
}

/// Run standalone until `shutdown` resolves (used by the `emulator` subcommand), then stop
/// accepting and wait for requests in flight.
pub async fn serve(
    addr: SocketAddr,
    config: EmulatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (emulator, task) = server::start(addr, config).await?;
    tracing::info!(
        endpoint = %emulator.endpoint_url(),
        "ElastiCache emulator listening"
    );
    shutdown.await;
    emulator.shutdown();
    task.await.map_err(std::io::Error::other)
}
