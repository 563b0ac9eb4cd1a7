//! The modelled AWS faults of the nine serverless operations and how each maps to a gRPC status
//! (DESIGN §3). The table in [`Fault::spec`] is the mapping; everything else reads it.

use tonic::Code;

/// The kind of resource a fault is about, as named in `ResourceInfo.resource_type` and
/// `PreconditionFailure` violations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A serverless cache.
    ServerlessCache,
    /// A serverless cache snapshot.
    ServerlessCacheSnapshot,
    /// A user group.
    UserGroup,
    /// The ElastiCache service-linked IAM role.
    ServiceLinkedRole,
    /// The credentials the facade signs with.
    Credentials,
}

impl ResourceKind {
    /// The name used in status details.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::ServerlessCache => "elasticache.v1.ServerlessCache",
            ResourceKind::ServerlessCacheSnapshot => "elasticache.v1.ServerlessCacheSnapshot",
            ResourceKind::UserGroup => "UserGroup",
            ResourceKind::ServiceLinkedRole => "ServiceLinkedRole",
            ResourceKind::Credentials => "Credentials",
        }
    }
}

/// Which specific detail accompanies the status (beside `ErrorInfo`, `RequestInfo` and the typed
/// fault message, which every fault carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// `ResourceInfo` naming the resource the request referred to.
    ResourceInfo(ResourceKind),
    /// `PreconditionFailure` with one violation of this type.
    PreconditionFailure(ResourceKind),
    /// `QuotaFailure` with one violation.
    QuotaFailure,
    /// `BadRequest`; AWS does not say which field, so the violation names the operation input.
    BadRequest,
}

/// One row of the fault table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultSpec {
    /// The code AWS sends on the wire (`<Code>` in the Query protocol error).
    pub wire_code: &'static str,
    /// The gRPC code the caller gets.
    pub code: Code,
    /// The specific detail.
    pub detail: Detail,
}

/// Every AWS fault that any of the nine operations can return. Variant names are the SDK's
/// error variant names, which are also the names of the messages in `proto/.../faults.proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)]
pub enum Fault {
    /// `InvalidParameterValue`.
    InvalidParameterValueException,
    /// `InvalidParameterCombination`.
    InvalidParameterCombinationException,
    /// `InvalidCredentialsException`.
    InvalidCredentialsException,
    /// `InvalidServerlessCacheStateFault`.
    InvalidServerlessCacheStateFault,
    /// `InvalidServerlessCacheSnapshotStateFault`.
    InvalidServerlessCacheSnapshotStateFault,
    /// `InvalidUserGroupState`.
    InvalidUserGroupStateFault,
    /// `ServerlessCacheAlreadyExistsFault`.
    ServerlessCacheAlreadyExistsFault,
    /// `ServerlessCacheNotFoundFault`.
    ServerlessCacheNotFoundFault,
    /// `ServerlessCacheQuotaForCustomerExceededFault`.
    ServerlessCacheQuotaForCustomerExceededFault,
    /// `ServerlessCacheSnapshotAlreadyExistsFault`.
    ServerlessCacheSnapshotAlreadyExistsFault,
    /// `ServerlessCacheSnapshotNotFoundFault`.
    ServerlessCacheSnapshotNotFoundFault,
    /// `ServerlessCacheSnapshotQuotaExceededFault`.
    ServerlessCacheSnapshotQuotaExceededFault,
    /// `ServiceLinkedRoleNotFoundFault`.
    ServiceLinkedRoleNotFoundFault,
    /// `TagQuotaPerResourceExceeded`.
    TagQuotaPerResourceExceeded,
    /// `UserGroupNotFound`.
    UserGroupNotFoundFault,
}

impl Fault {
    /// Every fault, for table-driven tests and lookups by wire code.
    pub const ALL: [Fault; 15] = [
        Fault::InvalidParameterValueException,
        Fault::InvalidParameterCombinationException,
        Fault::InvalidCredentialsException,
        Fault::InvalidServerlessCacheStateFault,
        Fault::InvalidServerlessCacheSnapshotStateFault,
        Fault::InvalidUserGroupStateFault,
        Fault::ServerlessCacheAlreadyExistsFault,
        Fault::ServerlessCacheNotFoundFault,
        Fault::ServerlessCacheQuotaForCustomerExceededFault,
        Fault::ServerlessCacheSnapshotAlreadyExistsFault,
        Fault::ServerlessCacheSnapshotNotFoundFault,
        Fault::ServerlessCacheSnapshotQuotaExceededFault,
        Fault::ServiceLinkedRoleNotFoundFault,
        Fault::TagQuotaPerResourceExceeded,
        Fault::UserGroupNotFoundFault,
    ];

    /// The mapping of DESIGN §3 for this fault.
    pub fn spec(self) -> FaultSpec {
        use Detail::*;
        use ResourceKind::*;
        let (wire_code, code, detail) = match self {
            Fault::InvalidParameterValueException => {
                ("InvalidParameterValue", Code::InvalidArgument, BadRequest)
            }
            Fault::InvalidParameterCombinationException => (
                "InvalidParameterCombination",
                Code::InvalidArgument,
                BadRequest,
            ),
            Fault::InvalidCredentialsException => (
                "InvalidCredentialsException",
                Code::FailedPrecondition,
                PreconditionFailure(Credentials),
            ),
            Fault::InvalidServerlessCacheStateFault => (
                "InvalidServerlessCacheStateFault",
                Code::FailedPrecondition,
                PreconditionFailure(ServerlessCache),
            ),
            Fault::InvalidServerlessCacheSnapshotStateFault => (
                "InvalidServerlessCacheSnapshotStateFault",
                Code::FailedPrecondition,
                PreconditionFailure(ServerlessCacheSnapshot),
            ),
            Fault::InvalidUserGroupStateFault => (
                "InvalidUserGroupState",
                Code::FailedPrecondition,
                PreconditionFailure(UserGroup),
            ),
            Fault::ServerlessCacheAlreadyExistsFault => (
                "ServerlessCacheAlreadyExistsFault",
                Code::AlreadyExists,
                ResourceInfo(ServerlessCache),
            ),
            Fault::ServerlessCacheNotFoundFault => (
                "ServerlessCacheNotFoundFault",
                Code::NotFound,
                ResourceInfo(ServerlessCache),
            ),
            Fault::ServerlessCacheQuotaForCustomerExceededFault => (
                "ServerlessCacheQuotaForCustomerExceededFault",
                Code::ResourceExhausted,
                QuotaFailure,
            ),
            Fault::ServerlessCacheSnapshotAlreadyExistsFault => (
                "ServerlessCacheSnapshotAlreadyExistsFault",
                Code::AlreadyExists,
                ResourceInfo(ServerlessCacheSnapshot),
            ),
            Fault::ServerlessCacheSnapshotNotFoundFault => (
                "ServerlessCacheSnapshotNotFoundFault",
                Code::NotFound,
                ResourceInfo(ServerlessCacheSnapshot),
            ),
            Fault::ServerlessCacheSnapshotQuotaExceededFault => (
                "ServerlessCacheSnapshotQuotaExceededFault",
                Code::ResourceExhausted,
                QuotaFailure,
            ),
            Fault::ServiceLinkedRoleNotFoundFault => (
                "ServiceLinkedRoleNotFoundFault",
                Code::FailedPrecondition,
                PreconditionFailure(ServiceLinkedRole),
            ),
            Fault::TagQuotaPerResourceExceeded => (
                "TagQuotaPerResourceExceeded",
                Code::ResourceExhausted,
                QuotaFailure,
            ),
            Fault::UserGroupNotFoundFault => {
                ("UserGroupNotFound", Code::NotFound, ResourceInfo(UserGroup))
            }
        };
        FaultSpec {
            wire_code,
            code,
            detail,
        }
    }

    /// The fault AWS means by this wire code, if it is one of ours.
    pub fn from_wire_code(code: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.spec().wire_code == code)
    }

    /// The variant's name, which is also the proto message's name.
    pub fn name(self) -> &'static str {
        match self {
            Fault::InvalidParameterValueException => "InvalidParameterValueException",
            Fault::InvalidParameterCombinationException => "InvalidParameterCombinationException",
            Fault::InvalidCredentialsException => "InvalidCredentialsException",
            Fault::InvalidServerlessCacheStateFault => "InvalidServerlessCacheStateFault",
            Fault::InvalidServerlessCacheSnapshotStateFault => {
                "InvalidServerlessCacheSnapshotStateFault"
            }
            Fault::InvalidUserGroupStateFault => "InvalidUserGroupStateFault",
            Fault::ServerlessCacheAlreadyExistsFault => "ServerlessCacheAlreadyExistsFault",
            Fault::ServerlessCacheNotFoundFault => "ServerlessCacheNotFoundFault",
            Fault::ServerlessCacheQuotaForCustomerExceededFault => {
                "ServerlessCacheQuotaForCustomerExceededFault"
            }
            Fault::ServerlessCacheSnapshotAlreadyExistsFault => {
                "ServerlessCacheSnapshotAlreadyExistsFault"
            }
            Fault::ServerlessCacheSnapshotNotFoundFault => "ServerlessCacheSnapshotNotFoundFault",
            Fault::ServerlessCacheSnapshotQuotaExceededFault => {
                "ServerlessCacheSnapshotQuotaExceededFault"
            }
            Fault::ServiceLinkedRoleNotFoundFault => "ServiceLinkedRoleNotFoundFault",
            Fault::TagQuotaPerResourceExceeded => "TagQuotaPerResourceExceeded",
            Fault::UserGroupNotFoundFault => "UserGroupNotFoundFault",
        }
    }

    /// `type.googleapis.com/elasticache.v1.<Name>`, the `Any` type URL of the typed fault.
    pub fn type_url(self) -> String {
        format!("type.googleapis.com/elasticache.v1.{}", self.name())
    }
}

/// Turns an AWS error code into an `ErrorInfo.reason`: UPPER_SNAKE_CASE with a trailing `Fault`
/// or `Exception` dropped (`ServerlessCacheSnapshotNotFoundFault` →
/// `SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND`).
pub fn reason_for_code(code: &str) -> String {
    let trimmed = code
        .strip_suffix("Fault")
        .or_else(|| code.strip_suffix("Exception"))
        .filter(|s| !s.is_empty())
        .unwrap_or(code);
    let mut out = String::with_capacity(trimmed.len() + 8);
    let chars: Vec<char> = trimmed.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_follow_the_design_examples() {
        assert_eq!(
            reason_for_code("ServerlessCacheSnapshotNotFoundFault"),
            "SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND"
        );
        assert_eq!(
            reason_for_code("InvalidParameterValue"),
            "INVALID_PARAMETER_VALUE"
        );
        assert_eq!(reason_for_code("Throttling"), "THROTTLING");
        assert_eq!(
            reason_for_code("InvalidCredentialsException"),
            "INVALID_CREDENTIALS"
        );
        assert_eq!(
            reason_for_code("TagQuotaPerResourceExceeded"),
            "TAG_QUOTA_PER_RESOURCE_EXCEEDED"
        );
        assert_eq!(reason_for_code("EC2ThrottledException"), "EC2_THROTTLED");
        assert_eq!(reason_for_code("ECPUPerSecond"), "ECPU_PER_SECOND");
        assert_eq!(reason_for_code("Fault"), "FAULT");
    }

    #[test]
    fn wire_codes_round_trip_and_are_unique() {
        for f in Fault::ALL {
            assert_eq!(Fault::from_wire_code(f.spec().wire_code), Some(f));
        }
        let mut codes: Vec<_> = Fault::ALL.iter().map(|f| f.spec().wire_code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Fault::ALL.len());
    }

    #[test]
    fn table_follows_design_section_3() {
        for f in Fault::ALL {
            let spec = f.spec();
            let name = f.name();
            let expected = if name == "ServiceLinkedRoleNotFoundFault" {
                Code::FailedPrecondition
            } else if name.contains("NotFound") {
                Code::NotFound
            } else if name.contains("AlreadyExists") {
                Code::AlreadyExists
            } else if name.contains("Quota") {
                Code::ResourceExhausted
            } else if name.starts_with("InvalidParameter") {
                Code::InvalidArgument
            } else {
                Code::FailedPrecondition
            };
            assert_eq!(spec.code, expected, "{name}");
        }
    }
}
