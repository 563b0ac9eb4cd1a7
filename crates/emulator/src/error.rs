//! The faults the emulator answers with, and the one table of their wire codes and statuses.

/// A fault ElastiCache can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    // Common to all Query APIs.
    InternalFailure,
    InvalidAction,
    InvalidParameterCombination,
    InvalidParameterValue,
    MalformedQueryString,
    MissingAction,
    MissingParameter,
    RequestEntityTooLarge,
    Throttling,
    // Modelled by the served operations.
    DefaultUserAssociatedToUserGroup,
    DefaultUserRequired,
    DuplicateUserName,
    InvalidArn,
    InvalidCredentials,
    InvalidServerlessCacheState,
    InvalidServerlessCacheSnapshotState,
    InvalidUserGroupState,
    InvalidUserState,
    ServerlessCacheAlreadyExists,
    ServerlessCacheNotFound,
    ServerlessCacheQuotaForCustomerExceeded,
    ServerlessCacheSnapshotAlreadyExists,
    ServerlessCacheSnapshotNotFound,
    ServerlessCacheSnapshotQuotaExceeded,
    ServiceLinkedRoleNotFound,
    TagNotFound,
    TagQuotaPerResourceExceeded,
    UserAlreadyExists,
    UserGroupAlreadyExists,
    UserGroupNotFound,
    UserGroupQuotaExceeded,
    UserNotFound,
    UserQuotaExceeded,
    // Node-based resources, parameter and subnet groups.
    CacheClusterAlreadyExists,
    CacheClusterNotFound,
    CacheParameterGroupAlreadyExists,
    CacheParameterGroupNotFound,
    CacheParameterGroupQuotaExceeded,
    CacheSecurityGroupNotFound,
    CacheSubnetGroupAlreadyExists,
    CacheSubnetGroupInUse,
    CacheSubnetGroupNotFound,
    CacheSubnetGroupQuotaExceeded,
    CacheSubnetQuotaExceeded,
    ClusterQuotaForCustomerExceeded,
    GlobalReplicationGroupNotFound,
    InvalidCacheClusterState,
    InvalidCacheParameterGroupState,
    InvalidReplicationGroupState,
    InvalidSnapshotState,
    InvalidSubnet,
    NodeGroupNotFound,
    NodeGroupsPerReplicationGroupQuotaExceeded,
    NodeQuotaForClusterExceeded,
    NodeQuotaForCustomerExceeded,
    ReplicationGroupAlreadyExists,
    ReplicationGroupNotFound,
    SnapshotAlreadyExists,
    SnapshotFeatureNotSupported,
    SnapshotNotFound,
    SnapshotQuotaExceeded,
    ServiceUpdateNotFound,
    ReservedCacheNodeAlreadyExists,
    ReservedCacheNodeNotFound,
    ReservedCacheNodeQuotaExceeded,
    ReservedCacheNodesOfferingNotFound,
    ReplicationGroupNotUnderMigration,
    ServerlessCacheNotUnderMigration,
    GlobalReplicationGroupAlreadyExists,
    InvalidGlobalReplicationGroupState,
}

impl Fault {
    /// Every fault, for looking one up by its wire code.
    const ALL: [Fault; 70] = [
        Fault::InternalFailure,
        Fault::InvalidAction,
        Fault::InvalidParameterCombination,
        Fault::InvalidParameterValue,
        Fault::MalformedQueryString,
        Fault::MissingAction,
        Fault::MissingParameter,
        Fault::RequestEntityTooLarge,
        Fault::Throttling,
        Fault::DefaultUserAssociatedToUserGroup,
        Fault::DefaultUserRequired,
        Fault::DuplicateUserName,
        Fault::InvalidArn,
        Fault::InvalidCredentials,
        Fault::InvalidServerlessCacheState,
        Fault::InvalidServerlessCacheSnapshotState,
        Fault::InvalidUserGroupState,
        Fault::InvalidUserState,
        Fault::ServerlessCacheAlreadyExists,
        Fault::ServerlessCacheNotFound,
        Fault::ServerlessCacheQuotaForCustomerExceeded,
        Fault::ServerlessCacheSnapshotAlreadyExists,
        Fault::ServerlessCacheSnapshotNotFound,
        Fault::ServerlessCacheSnapshotQuotaExceeded,
        Fault::ServiceLinkedRoleNotFound,
        Fault::TagNotFound,
        Fault::TagQuotaPerResourceExceeded,
        Fault::UserAlreadyExists,
        Fault::UserGroupAlreadyExists,
        Fault::UserGroupNotFound,
        Fault::UserGroupQuotaExceeded,
        Fault::UserNotFound,
        Fault::UserQuotaExceeded,
        Fault::CacheClusterAlreadyExists,
        Fault::CacheClusterNotFound,
        Fault::CacheParameterGroupAlreadyExists,
        Fault::CacheParameterGroupNotFound,
        Fault::CacheParameterGroupQuotaExceeded,
        Fault::CacheSecurityGroupNotFound,
        Fault::CacheSubnetGroupAlreadyExists,
        Fault::CacheSubnetGroupInUse,
        Fault::CacheSubnetGroupNotFound,
        Fault::CacheSubnetGroupQuotaExceeded,
        Fault::CacheSubnetQuotaExceeded,
        Fault::ClusterQuotaForCustomerExceeded,
        Fault::GlobalReplicationGroupNotFound,
        Fault::InvalidCacheClusterState,
        Fault::InvalidCacheParameterGroupState,
        Fault::InvalidReplicationGroupState,
        Fault::InvalidSnapshotState,
        Fault::InvalidSubnet,
        Fault::NodeGroupNotFound,
        Fault::NodeGroupsPerReplicationGroupQuotaExceeded,
        Fault::NodeQuotaForClusterExceeded,
        Fault::NodeQuotaForCustomerExceeded,
        Fault::ReplicationGroupAlreadyExists,
        Fault::ReplicationGroupNotFound,
        Fault::SnapshotAlreadyExists,
        Fault::SnapshotFeatureNotSupported,
        Fault::SnapshotNotFound,
        Fault::SnapshotQuotaExceeded,
        Fault::ServiceUpdateNotFound,
        Fault::ReservedCacheNodeAlreadyExists,
        Fault::ReservedCacheNodeNotFound,
        Fault::ReservedCacheNodeQuotaExceeded,
        Fault::ReservedCacheNodesOfferingNotFound,
        Fault::ReplicationGroupNotUnderMigration,
        Fault::ServerlessCacheNotUnderMigration,
        Fault::GlobalReplicationGroupAlreadyExists,
        Fault::InvalidGlobalReplicationGroupState,
    ];

    /// Wire code and HTTP status, as the ElastiCache API reference ("Errors" of each action and
    /// "Common Errors") lists them. Some codes differ from the SDK's variant names
    /// (`InvalidParameterValue` → `InvalidParameterValueException`, `UserGroupNotFound` →
    /// `UserGroupNotFoundFault`, `InvalidARN` → `InvalidArnFault`).
    const fn wire(self) -> (&'static str, u16) {
        match self {
            Fault::InternalFailure => ("InternalFailure", 500),
            Fault::InvalidAction => ("InvalidAction", 400),
            Fault::InvalidParameterCombination => ("InvalidParameterCombination", 400),
            Fault::InvalidParameterValue => ("InvalidParameterValue", 400),
            Fault::MalformedQueryString => ("MalformedQueryString", 404),
            Fault::MissingAction => ("MissingAction", 400),
            Fault::MissingParameter => ("MissingParameter", 400),
            Fault::RequestEntityTooLarge => ("RequestEntityTooLarge", 413),
            Fault::Throttling => ("Throttling", 400),
            Fault::DefaultUserAssociatedToUserGroup => ("DefaultUserAssociatedToUserGroup", 400),
            Fault::DefaultUserRequired => ("DefaultUserRequired", 400),
            Fault::DuplicateUserName => ("DuplicateUserName", 400),
            Fault::InvalidArn => ("InvalidARN", 400),
            Fault::InvalidCredentials => ("InvalidCredentialsException", 408),
            Fault::InvalidServerlessCacheState => ("InvalidServerlessCacheStateFault", 400),
            Fault::InvalidServerlessCacheSnapshotState => {
                ("InvalidServerlessCacheSnapshotStateFault", 400)
            }
            Fault::InvalidUserGroupState => ("InvalidUserGroupState", 400),
            Fault::InvalidUserState => ("InvalidUserState", 400),
            Fault::ServerlessCacheAlreadyExists => ("ServerlessCacheAlreadyExistsFault", 400),
            Fault::ServerlessCacheNotFound => ("ServerlessCacheNotFoundFault", 404),
            Fault::ServerlessCacheQuotaForCustomerExceeded => {
                ("ServerlessCacheQuotaForCustomerExceededFault", 400)
            }
            Fault::ServerlessCacheSnapshotAlreadyExists => {
                ("ServerlessCacheSnapshotAlreadyExistsFault", 400)
            }
            Fault::ServerlessCacheSnapshotNotFound => ("ServerlessCacheSnapshotNotFoundFault", 404),
            Fault::ServerlessCacheSnapshotQuotaExceeded => {
                ("ServerlessCacheSnapshotQuotaExceededFault", 400)
            }
            Fault::ServiceLinkedRoleNotFound => ("ServiceLinkedRoleNotFoundFault", 400),
            Fault::TagNotFound => ("TagNotFound", 404),
            Fault::TagQuotaPerResourceExceeded => ("TagQuotaPerResourceExceeded", 400),
            Fault::UserAlreadyExists => ("UserAlreadyExists", 400),
            Fault::UserGroupAlreadyExists => ("UserGroupAlreadyExists", 400),
            Fault::UserGroupNotFound => ("UserGroupNotFound", 404),
            Fault::UserGroupQuotaExceeded => ("UserGroupQuotaExceeded", 400),
            Fault::UserNotFound => ("UserNotFound", 404),
            Fault::UserQuotaExceeded => ("UserQuotaExceeded", 400),
            Fault::CacheClusterAlreadyExists => ("CacheClusterAlreadyExists", 400),
            Fault::CacheClusterNotFound => ("CacheClusterNotFound", 404),
            Fault::CacheParameterGroupAlreadyExists => ("CacheParameterGroupAlreadyExists", 400),
            Fault::CacheParameterGroupNotFound => ("CacheParameterGroupNotFound", 404),
            Fault::CacheParameterGroupQuotaExceeded => ("CacheParameterGroupQuotaExceeded", 400),
            Fault::CacheSecurityGroupNotFound => ("CacheSecurityGroupNotFound", 404),
            Fault::CacheSubnetGroupAlreadyExists => ("CacheSubnetGroupAlreadyExists", 400),
            Fault::CacheSubnetGroupInUse => ("CacheSubnetGroupInUse", 400),
            Fault::CacheSubnetGroupNotFound => ("CacheSubnetGroupNotFoundFault", 400),
            Fault::CacheSubnetGroupQuotaExceeded => ("CacheSubnetGroupQuotaExceeded", 400),
            Fault::CacheSubnetQuotaExceeded => ("CacheSubnetQuotaExceededFault", 400),
            Fault::ClusterQuotaForCustomerExceeded => ("ClusterQuotaForCustomerExceeded", 400),
            Fault::GlobalReplicationGroupNotFound => ("GlobalReplicationGroupNotFoundFault", 404),
            Fault::InvalidCacheClusterState => ("InvalidCacheClusterState", 400),
            Fault::InvalidCacheParameterGroupState => ("InvalidCacheParameterGroupState", 400),
            Fault::InvalidReplicationGroupState => ("InvalidReplicationGroupState", 400),
            Fault::InvalidSnapshotState => ("InvalidSnapshotState", 400),
            Fault::InvalidSubnet => ("InvalidSubnet", 400),
            Fault::NodeGroupNotFound => ("NodeGroupNotFoundFault", 404),
            Fault::NodeGroupsPerReplicationGroupQuotaExceeded => {
                ("NodeGroupsPerReplicationGroupQuotaExceeded", 400)
            }
            Fault::NodeQuotaForClusterExceeded => ("NodeQuotaForClusterExceeded", 400),
            Fault::NodeQuotaForCustomerExceeded => ("NodeQuotaForCustomerExceeded", 400),
            Fault::ReplicationGroupAlreadyExists => ("ReplicationGroupAlreadyExists", 400),
            Fault::ReplicationGroupNotFound => ("ReplicationGroupNotFoundFault", 404),
            Fault::SnapshotAlreadyExists => ("SnapshotAlreadyExistsFault", 400),
            Fault::SnapshotFeatureNotSupported => ("SnapshotFeatureNotSupportedFault", 400),
            Fault::SnapshotNotFound => ("SnapshotNotFoundFault", 404),
            Fault::SnapshotQuotaExceeded => ("SnapshotQuotaExceededFault", 400),
            Fault::ServiceUpdateNotFound => ("ServiceUpdateNotFoundFault", 404),
            Fault::ReservedCacheNodeAlreadyExists => ("ReservedCacheNodeAlreadyExists", 404),
            Fault::ReservedCacheNodeNotFound => ("ReservedCacheNodeNotFound", 404),
            Fault::ReservedCacheNodeQuotaExceeded => ("ReservedCacheNodeQuotaExceeded", 400),
            Fault::ReservedCacheNodesOfferingNotFound => {
                ("ReservedCacheNodesOfferingNotFound", 404)
            }
            Fault::ReplicationGroupNotUnderMigration => {
                ("ReplicationGroupNotUnderMigrationFault", 400)
            }
            Fault::ServerlessCacheNotUnderMigration => {
                ("ServerlessCacheNotUnderMigrationFault", 400)
            }
            Fault::GlobalReplicationGroupAlreadyExists => {
                ("GlobalReplicationGroupAlreadyExistsFault", 400)
            }
            Fault::InvalidGlobalReplicationGroupState => {
                ("InvalidGlobalReplicationGroupState", 400)
            }
        }
    }

    /// The `<Code>` of the `ErrorResponse`.
    pub(crate) const fn code(self) -> &'static str {
        self.wire().0
    }

    /// The HTTP status of the `ErrorResponse`.
    pub(crate) const fn status(self) -> u16 {
        self.wire().1
    }

    /// The fault with this wire code, if the emulator knows it.
    pub(crate) fn from_code(code: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|fault| fault.code() == code)
    }
}

/// A request the emulated service refuses: what the client receives as an `ErrorResponse`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {message}", fault.code(), fault.status())]
pub(crate) struct ApiError {
    pub(crate) fault: Fault,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(fault: Fault, message: impl Into<String>) -> Self {
        Self {
            fault,
            message: message.into(),
        }
    }

    /// A required parameter is absent or empty.
    pub(crate) fn missing(parameter: &str) -> Self {
        Self::new(
            Fault::MissingParameter,
            format!("The request must contain the parameter {parameter}"),
        )
    }

    /// A parameter has a value the service does not accept.
    pub(crate) fn invalid(parameter: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(
            Fault::InvalidParameterValue,
            format!("Invalid value for parameter {parameter}: {reason}"),
        )
    }

    pub(crate) fn combination(message: impl Into<String>) -> Self {
        Self::new(Fault::InvalidParameterCombination, message)
    }
}

#[cfg(test)]
mod tests {
    use super::Fault;

    /// Every fault the model declares carries its `code` and `httpStatusCode` there; the
    /// common Query faults (the first nine) are not in the model.
    #[test]
    fn modelled_faults_have_the_model_code_and_status() {
        let model = include_str!("../../../model/elasticache-2015-02-02.json");
        for fault in &Fault::ALL[9..] {
            let needle = format!("\"code\":\"{}\"", fault.code());
            let at = model
                .find(&needle)
                .unwrap_or_else(|| panic!("{} is not a code of the model", fault.code()));
            let rest = &model[at..];
            let status = rest
                .split("\"httpStatusCode\":")
                .nth(1)
                .and_then(|s| s.get(..3))
                .and_then(|s| s.parse::<u16>().ok());
            assert_eq!(status, Some(fault.status()), "{}", fault.code());
        }
    }
}
