//! Service updates and update actions. The emulated service publishes no service updates, so
//! there is nothing to describe, and applying or stopping one answers `ServiceUpdateNotFound`,
//! as ElastiCache does for an update name it does not know.

use super::error::{ApiError, Fault};
use super::operations::{Operation, Output, non_empty};
use super::query::Params;
use super::store::{Clock, Store};
use super::xml::XmlWriter;

/// The answers of this family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    ServiceUpdates,
    UpdateActions,
}

impl Answer {
    pub(crate) fn write(self, xml: &mut XmlWriter) {
        match self {
            Answer::ServiceUpdates => xml.element("ServiceUpdates", |_| {}),
            Answer::UpdateActions => xml.element("UpdateActions", |_| {}),
        }
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        Fault::ServiceUpdateNotFound,
        format!("The service update {name} does not exist."),
    )
}

/// `MaxRecords` (20 to 100) and the status lists, checked; nothing to page through.
fn check_filters(params: &Params) -> Result<(), ApiError> {
    super::operations::int_in(params, "MaxRecords", 20..=100)?;
    for (list, allowed) in [
        (
            "ServiceUpdateStatus",
            &["available", "cancelled", "expired"][..],
        ),
        (
            "UpdateActionStatus",
            &[
                "not-applied",
                "waiting-to-start",
                "in-progress",
                "stopping",
                "stopped",
                "complete",
                "scheduling",
                "scheduled",
                "not-applicable",
            ][..],
        ),
    ] {
        for value in params.list(list, "member")?.unwrap_or_default() {
            if !allowed.contains(&value.as_str()) {
                return Err(ApiError::invalid(
                    list,
                    format!("{value:?} is not one of {}", allowed.join(", ")),
                ));
            }
        }
    }
    Ok(())
}

pub(crate) struct DescribeServiceUpdates;

impl Operation for DescribeServiceUpdates {
    const NAME: &'static str = "DescribeServiceUpdates";
    type Input = Option<String>;

    fn parse(params: &Params) -> Result<Option<String>, ApiError> {
        check_filters(params)?;
        Ok(non_empty(params, "ServiceUpdateName"))
    }

    fn apply(_: &mut Store, name: Option<String>, _: Clock) -> Result<Output, ApiError> {
        match name {
            Some(name) => Err(not_found(&name)),
            None => Ok(Output::Updates(Answer::ServiceUpdates)),
        }
    }
}

pub(crate) struct DescribeUpdateActions;

impl Operation for DescribeUpdateActions {
    const NAME: &'static str = "DescribeUpdateActions";
    type Input = ();

    fn parse(params: &Params) -> Result<(), ApiError> {
        check_filters(params)?;
        if let Some(engine) = non_empty(params, "Engine")
            && !["valkey", "redis", "memcached"].contains(&engine.as_str())
        {
            return Err(ApiError::invalid(
                "Engine",
                format!("{engine:?} is not one of valkey, redis, memcached"),
            ));
        }
        Ok(())
    }

    fn apply(_: &mut Store, (): (), _: Clock) -> Result<Output, ApiError> {
        Ok(Output::Updates(Answer::UpdateActions))
    }
}

/// `ServiceUpdateName` and at least one of the group and cluster lists.
fn batch(params: &Params) -> Result<String, ApiError> {
    let name = params.required("ServiceUpdateName")?.to_owned();
    let groups = params
        .list("ReplicationGroupIds", "member")?
        .unwrap_or_default();
    let clusters = params
        .list("CacheClusterIds", "member")?
        .unwrap_or_default();
    if groups.is_empty() && clusters.is_empty() {
        return Err(ApiError::combination(
            "At least one of ReplicationGroupIds and CacheClusterIds must be specified",
        ));
    }
    Ok(name)
}

pub(crate) struct BatchApplyUpdateAction;

impl Operation for BatchApplyUpdateAction {
    const NAME: &'static str = "BatchApplyUpdateAction";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        batch(params)
    }

    fn apply(_: &mut Store, name: String, _: Clock) -> Result<Output, ApiError> {
        Err(not_found(&name))
    }
}

pub(crate) struct BatchStopUpdateAction;

impl Operation for BatchStopUpdateAction {
    const NAME: &'static str = "BatchStopUpdateAction";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        batch(params)
    }

    fn apply(_: &mut Store, name: String, _: Clock) -> Result<Output, ApiError> {
        Err(not_found(&name))
    }
}
