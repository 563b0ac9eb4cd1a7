//! The operations no offline emulator can mean, answered with the fault ElastiCache gives in the
//! same situation — never a fake success:
//!
//! * cache security groups belong to EC2-Classic, which AWS retired; a VPC-only account (every
//!   account now, and the emulated one) has none and cannot create one;
//! * online migration pulls data from the customer's own Valkey or Redis OSS nodes, which the
//!   emulator cannot reach; after checking the target as ElastiCache does it refuses to start,
//!   and nothing is ever under migration.

use super::error::{ApiError, Fault};
use super::operations::{Operation, Output, marker_page, non_empty};
use super::query::Params;
use super::store::{Clock, Store};
use super::xml::XmlWriter;

/// `DescribeCacheSecurityGroups` with no name: there are none.
pub(crate) fn write_no_security_groups(xml: &mut XmlWriter) {
    xml.element("CacheSecurityGroups", |_| {});
}

fn security_group_not_found(name: &str) -> ApiError {
    ApiError::new(
        Fault::CacheSecurityGroupNotFound,
        format!("CacheSecurityGroup {name} not found."),
    )
}

pub(crate) struct CreateCacheSecurityGroup;

impl Operation for CreateCacheSecurityGroup {
    const NAME: &'static str = "CreateCacheSecurityGroup";
    type Input = ();

    fn parse(params: &Params) -> Result<(), ApiError> {
        params.required("CacheSecurityGroupName")?;
        params.required("Description")?;
        Err(ApiError::invalid(
            "CacheSecurityGroupName",
            "Use of cache security groups is not permitted in this API version for your account \
             (cache security groups are EC2-Classic; use VPC security groups, SecurityGroupIds)",
        ))
    }

    fn apply(_: &mut Store, (): (), _: Clock) -> Result<Output, ApiError> {
        Err(ApiError::invalid(
            "CacheSecurityGroupName",
            "Use of cache security groups is not permitted in this API version for your account",
        ))
    }
}

pub(crate) struct DescribeCacheSecurityGroups;

impl Operation for DescribeCacheSecurityGroups {
    const NAME: &'static str = "DescribeCacheSecurityGroups";
    type Input = Option<String>;

    fn parse(params: &Params) -> Result<Option<String>, ApiError> {
        marker_page(params)?;
        Ok(non_empty(params, "CacheSecurityGroupName"))
    }

    fn apply(_: &mut Store, name: Option<String>, _: Clock) -> Result<Output, ApiError> {
        match name {
            Some(name) => Err(security_group_not_found(&name)),
            None => Ok(Output::NoSecurityGroups),
        }
    }
}

/// The three operations on one cache security group, which never exists.
fn on_security_group(params: &Params, ec2_group: bool) -> Result<String, ApiError> {
    let name = params.required("CacheSecurityGroupName")?.to_owned();
    if ec2_group {
        params.required("EC2SecurityGroupName")?;
        params.required("EC2SecurityGroupOwnerId")?;
    }
    Ok(name)
}

pub(crate) struct DeleteCacheSecurityGroup;

impl Operation for DeleteCacheSecurityGroup {
    const NAME: &'static str = "DeleteCacheSecurityGroup";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        on_security_group(params, false)
    }

    fn apply(_: &mut Store, name: String, _: Clock) -> Result<Output, ApiError> {
        Err(security_group_not_found(&name))
    }
}

pub(crate) struct AuthorizeCacheSecurityGroupIngress;

impl Operation for AuthorizeCacheSecurityGroupIngress {
    const NAME: &'static str = "AuthorizeCacheSecurityGroupIngress";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        on_security_group(params, true)
    }

    fn apply(_: &mut Store, name: String, _: Clock) -> Result<Output, ApiError> {
        Err(security_group_not_found(&name))
    }
}

pub(crate) struct RevokeCacheSecurityGroupIngress;

impl Operation for RevokeCacheSecurityGroupIngress {
    const NAME: &'static str = "RevokeCacheSecurityGroupIngress";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        on_security_group(params, true)
    }

    fn apply(_: &mut Store, name: String, _: Clock) -> Result<Output, ApiError> {
        Err(security_group_not_found(&name))
    }
}

/// What a migration operation names: a replication group or a serverless cache, and the
/// customer's endpoints (`CustomerNodeEndpointList.member.N.Address`).
#[derive(Debug)]
pub(crate) struct MigrationTarget {
    replication_group_id: Option<String>,
    serverless_cache_name: Option<String>,
    endpoints: Vec<String>,
}

fn migration_target(params: &Params, needs_endpoints: bool) -> Result<MigrationTarget, ApiError> {
    const ENDPOINTS: &str = "CustomerNodeEndpointList.member";
    let mut endpoints = Vec::new();
    for index in params.indices(ENDPOINTS)? {
        let address = params.required(&format!("{ENDPOINTS}.{index}.Address"))?;
        let port = params
            .int(&format!("{ENDPOINTS}.{index}.Port"))?
            .unwrap_or(6379);
        endpoints.push(format!("{address}:{port}"));
    }
    if needs_endpoints && endpoints.is_empty() {
        return Err(ApiError::missing("CustomerNodeEndpointList"));
    }
    let target = MigrationTarget {
        replication_group_id: non_empty(params, "ReplicationGroupId")
            .map(|id| id.to_ascii_lowercase()),
        serverless_cache_name: non_empty(params, "ServerlessCacheName")
            .map(|n| n.to_ascii_lowercase()),
        endpoints,
    };
    if target.replication_group_id.is_some() == target.serverless_cache_name.is_some() {
        return Err(ApiError::combination(
            "Exactly one of ReplicationGroupId and ServerlessCacheName must be specified",
        ));
    }
    Ok(target)
}

/// Checks the target exists and is available, as ElastiCache does before anything else.
fn check_target(store: &Store, target: &MigrationTarget) -> Result<(), ApiError> {
    if let Some(id) = &target.replication_group_id {
        store.available_replication_group(id)?;
    }
    if let Some(name) = &target.serverless_cache_name {
        store.available_serverless_cache(name)?;
    }
    Ok(())
}

fn unreachable(target: &MigrationTarget) -> ApiError {
    ApiError::invalid(
        "CustomerNodeEndpointList",
        format!(
            "the elasticache-grpc emulator cannot connect to {}: it migrates no data from outside",
            target.endpoints.join(", ")
        ),
    )
}

fn not_under_migration(target: &MigrationTarget) -> ApiError {
    match (&target.replication_group_id, &target.serverless_cache_name) {
        (Some(id), _) => ApiError::new(
            Fault::ReplicationGroupNotUnderMigration,
            format!("Replication group {id} is not under migration."),
        ),
        (None, name) => ApiError::new(
            Fault::ServerlessCacheNotUnderMigration,
            format!(
                "Serverless cache {} is not under migration.",
                name.as_deref().unwrap_or_default()
            ),
        ),
    }
}

/// Declares a migration operation: parse the target, check it, then refuse.
macro_rules! migration {
    ($name:ident, endpoints: $endpoints:expr, group: $group:expr, serverless: $serverless:expr, $refusal:expr) => {
        pub(crate) struct $name;

        impl Operation for $name {
            const NAME: &'static str = stringify!($name);
            type Input = MigrationTarget;

            fn parse(params: &Params) -> Result<MigrationTarget, ApiError> {
                let target = migration_target(params, $endpoints)?;
                if !$group && target.replication_group_id.is_some() {
                    return Err(ApiError::missing("ServerlessCacheName"));
                }
                if !$serverless && target.serverless_cache_name.is_some() {
                    return Err(ApiError::missing("ReplicationGroupId"));
                }
                Ok(target)
            }

            fn apply(
                store: &mut Store,
                target: MigrationTarget,
                _: Clock,
            ) -> Result<Output, ApiError> {
                check_target(store, &target)?;
                Err($refusal(&target))
            }
        }
    };
}

migration!(PrepareMigration, endpoints: true, group: false, serverless: true, unreachable);
migration!(StartMigration, endpoints: true, group: true, serverless: true, unreachable);
migration!(TestMigration, endpoints: true, group: true, serverless: false, unreachable);
migration!(CompleteMigration, endpoints: false, group: true, serverless: true, not_under_migration);
migration!(StopMigration, endpoints: false, group: false, serverless: true, not_under_migration);
