//! Every upstream failure becomes exactly one `tonic::Status` here (DESIGN §3).
//!
//! Modelled faults are recognised on the SDK's per-operation error enums ([`KnownFaults`], one
//! line per variant in the table below) and mapped through [`fault::Fault::spec`]; everything
//! else (throttling, 5xx, access denied, transport failures, unknown codes) through
//! [`status_from_sdk_error`].

pub mod fault;

use std::error::Error as StdError;
use std::time::Duration;

use aws_sdk_elasticache::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_elasticache::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use prost::Message;
use tonic::{Code, Status};

use self::fault::{Detail, Fault, ResourceKind, reason_for_code};
use crate::status::{AWS_DOMAIN, FACADE_DOMAIN, FaultMessage, StatusBuilder};

/// How long a caller should wait before retrying an upstream failure that is worth retrying.
pub const RETRY_DELAY: Duration = Duration::from_secs(1);

/// Codes AWS uses when it refuses the facade's own identity.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "AuthFailure",
    "OptInRequired",
];

/// The code of an action the endpoint does not know.
const INVALID_ACTION: &str = "InvalidAction";

/// Codes AWS uses for a failure on its side.
const SERVER_FAULT_CODES: &[&str] = &[
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Whether an AWS error code means "throttled" (the SDK's own list).
pub fn is_throttling_code(code: &str) -> bool {
    aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&code)
}

/// Whether an AWS error code means a failure on AWS's side.
pub fn is_server_fault_code(code: &str) -> bool {
    SERVER_FAULT_CODES.contains(&code)
}

/// Names of the resources a request refers to, so that `ResourceInfo` and
/// `PreconditionFailure` can say which one a fault is about.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resources {
    /// Resources the request expects to exist (a NotFound fault is about one of these).
    pub existing: Vec<(ResourceKind, String)>,
    /// Resources the request would create (an AlreadyExists fault is about one of these).
    pub created: Vec<(ResourceKind, String)>,
    /// The S3 bucket an export writes to.
    pub bucket: Option<String>,
}

impl Resources {
    /// Records an existing resource when the name is present and not empty.
    pub fn existing(mut self, kind: ResourceKind, name: Option<&str>) -> Self {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            self.existing.push((kind, n.to_owned()));
        }
        self
    }

    /// Records a resource to be created when the name is present and not empty.
    pub fn created(mut self, kind: ResourceKind, name: Option<&str>) -> Self {
        if let Some(n) = name.filter(|n| !n.is_empty()) {
            self.created.push((kind, n.to_owned()));
        }
        self
    }

    /// Records the S3 bucket the operation writes to, when the request names one (an empty name
    /// is no bucket).
    pub fn bucket(mut self, bucket: Option<&str>) -> Self {
        self.bucket = bucket.filter(|b| !b.is_empty()).map(str::to_owned);
        self
    }

    fn find(list: &[(ResourceKind, String)], kind: ResourceKind) -> Option<&str> {
        list.iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, n)| n.as_str())
    }

    /// The name a fault of `code` about `kind` refers to.
    fn name_for(&self, code: Code, kind: ResourceKind) -> &str {
        let (first, second) = if code == Code::AlreadyExists {
            (&self.created, &self.existing)
        } else {
            (&self.existing, &self.created)
        };
        Self::find(first, kind)
            .or_else(|| Self::find(second, kind))
            // The tag operations name their resource by ARN, whatever its kind.
            .or_else(|| Self::find(&self.existing, ResourceKind::Arn))
            .unwrap_or("")
    }
}

/// What the mapping needs to know about the call that failed.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// The AWS operation name, e.g. `ExportServerlessCacheSnapshot`.
    pub operation: &'static str,
    /// The facade's request id (echoed in `x-request-id`).
    pub request_id: &'a str,
    /// Whether the operation changes state (so a lost response means an unknown outcome).
    pub mutating: bool,
    /// The resources the request named.
    pub resources: &'a Resources,
}

/// A target's credentials provider failed (its role could not be assumed): the cause is logged
/// where it happened, the status names only the target.
#[derive(Debug, thiserror::Error)]
#[error("the role of target {target:?} cannot be assumed")]
pub struct TargetRoleUnavailable {
    /// The target's name.
    pub target: String,
}

/// Implemented by each operation's SDK error enum: which modelled fault it is, with AWS's
/// message. Generated by [`known_faults!`] from one line per variant.
pub trait KnownFaults {
    /// The modelled fault, if this error is one, and its message.
    fn known_fault(&self) -> Option<(Fault, Option<&str>)>;
}

/// Implements [`KnownFaults`] for an operation's error enum from its list of fault variants.
macro_rules! known_faults {
    ($($error:ty => [$($variant:ident),* $(,)?];)*) => {$(
        impl KnownFaults for $error {
            fn known_fault(&self) -> Option<(Fault, Option<&str>)> {
                match self {
                    $(Self::$variant(e) => Some((Fault::$variant, e.message())),)*
                    _ => None,
                }
            }
        }
    )*};
}

include!("../generated/known_faults.rs");

/// What went wrong with one upstream attempt. Decided once, here, from the SDK error; the status
/// mapping ([`status_from_sdk_error`]) and the retry policy ([`Failure::safety`]) both read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'a> {
    /// A modelled fault, recognised by the operation's error variant or by its wire code.
    Fault {
        /// Which one.
        fault: Fault,
        /// AWS's message.
        message: &'a str,
    },
    /// A throttling code (AWS did nothing).
    Throttled {
        /// The code.
        code: &'a str,
        /// AWS's message.
        message: &'a str,
    },
    /// A 5xx, or a code for a failure on AWS's side.
    ServerFault {
        /// The code, when AWS sent one.
        code: Option<&'a str>,
        /// AWS's message.
        message: &'a str,
        /// The HTTP status.
        http_status: u16,
    },
    /// AWS refused the facade's own identity.
    AccessDenied {
        /// The code.
        code: &'a str,
        /// AWS's message.
        message: &'a str,
    },
    /// The endpoint does not know the operation (`InvalidAction`): an endpoint older than the
    /// model, or the embedded emulator, which serves only part of the API.
    NotImplemented {
        /// AWS's message (the emulator's names the operation).
        message: &'a str,
    },
    /// A code this version does not know, or a 4xx without any code.
    Unknown {
        /// The code, when AWS sent one.
        code: Option<&'a str>,
        /// AWS's message.
        message: &'a str,
        /// The HTTP status.
        http_status: u16,
    },
    /// The request reached AWS but the answer was lost or unreadable (AWS may have acted).
    Unreadable,
    /// The SDK's timeout, or a dispatch that timed out.
    Timeout,
    /// No usable credentials: nothing was sent. `target`: the named target whose role could not
    /// be assumed.
    Credentials {
        /// The target (`[targets.<name>]`), when the credentials were a target's.
        target: Option<&'a str>,
    },
    /// The connection could not be made: nothing was sent.
    NotSent,
    /// The connection failed after the request may have been sent.
    Lost,
    /// Any other failure to send.
    Dispatch,
    /// The request could not be built.
    Construction,
}

impl<'a> Failure<'a> {
    /// Classifies an SDK error.
    pub fn of<E>(err: &'a SdkError<E, HttpResponse>) -> Self
    where
        E: KnownFaults + ProvideErrorMetadata + StdError + 'static,
    {
        match err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                if let Some((fault, message)) = e.known_fault() {
                    let message = message.or(e.message()).unwrap_or_default();
                    return Failure::Fault { fault, message };
                }
                Self::of_service_error(
                    e.code(),
                    e.message().unwrap_or_default(),
                    service.raw().status().as_u16(),
                )
            }
            SdkError::TimeoutError(_) => Failure::Timeout,
            SdkError::DispatchFailure(dispatch) => {
                if let Some(role) = find_source::<TargetRoleUnavailable>(err) {
                    Failure::Credentials {
                        target: Some(&role.target),
                    }
                } else if find_source::<aws_credential_types::provider::error::CredentialsError>(
                    err,
                )
                .is_some()
                {
                    Failure::Credentials { target: None }
                } else if dispatch.is_timeout() {
                    Failure::Timeout
                } else if dispatch.is_io() || dispatch.is_other() {
                    if nothing_was_sent(err) {
                        Failure::NotSent
                    } else {
                        Failure::Lost
                    }
                } else {
                    Failure::Dispatch
                }
            }
            SdkError::ResponseError(_) => Failure::Unreadable,
            _ => Failure::Construction,
        }
    }

    fn of_service_error(code: Option<&'a str>, message: &'a str, http_status: u16) -> Self {
        let Some(code) = code else {
            return match http_status {
                // AWS answered success but the body could not be read: the SDK reports that as
                // a service error without a code.
                200..=299 => Failure::Unreadable,
                500.. => Failure::ServerFault {
                    code: None,
                    message,
                    http_status,
                },
                _ => Failure::Unknown {
                    code: None,
                    message,
                    http_status,
                },
            };
        };
        if let Some(fault) = Fault::from_wire_code(code) {
            // A modelled fault the SDK did not expect for this operation: still ours to map.
            Failure::Fault { fault, message }
        } else if is_throttling_code(code) {
            Failure::Throttled { code, message }
        } else if http_status >= 500 || is_server_fault_code(code) {
            Failure::ServerFault {
                code: Some(code),
                message,
                http_status,
            }
        } else if ACCESS_DENIED_CODES.contains(&code) {
            Failure::AccessDenied { code, message }
        } else if code == INVALID_ACTION {
            Failure::NotImplemented { message }
        } else {
            Failure::Unknown {
                code: Some(code),
                message,
                http_status,
            }
        }
    }

    /// Whether an attempt that failed this way may be repeated (DESIGN §5).
    pub fn safety(&self) -> Safety {
        match self {
            Failure::Throttled { .. } | Failure::NotSent => Safety::Always,
            Failure::ServerFault { .. }
            | Failure::Unreadable
            | Failure::Timeout
            | Failure::Lost => Safety::ReadOnly,
            Failure::Fault { .. }
            | Failure::AccessDenied { .. }
            | Failure::NotImplemented { .. }
            | Failure::Unknown { .. }
            | Failure::Credentials { .. }
            | Failure::Dispatch
            | Failure::Construction => Safety::Never,
        }
    }
}

/// Whether a failed attempt may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// AWS did nothing: safe for every operation.
    Always,
    /// AWS may have acted: safe only for read-only operations.
    ReadOnly,
    /// Never retried.
    Never,
}

/// Turns any SDK error of any of the nine operations into the status of DESIGN §3.
pub fn status_from_sdk_error<E>(ctx: CallContext<'_>, err: &SdkError<E, HttpResponse>) -> Status
where
    E: KnownFaults + ProvideErrorMetadata + StdError + 'static,
{
    let aws_request_id = err.request_id().or_else(|| match err {
        SdkError::ServiceError(service) => service.err().meta().request_id(),
        _ => None,
    });
    let retry = |d: &mut tonic_types::ErrorDetails| {
        d.set_retry_info(Some(RETRY_DELAY));
    };
    match Failure::of(err) {
        Failure::Fault { fault, message } => fault_status(ctx, fault, message, aws_request_id),
        Failure::Throttled { code, message } => {
            aws_builder(ctx, Code::ResourceExhausted, code, message, aws_request_id)
                .details(|d| {
                    retry(d);
                    d.add_quota_failure_violation("elasticache-api-rate", message);
                })
                .build()
        }
        Failure::ServerFault {
            code,
            message,
            http_status,
        } => with_http_status(
            aws_builder(
                ctx,
                Code::Unavailable,
                code.unwrap_or("Unknown"),
                message,
                aws_request_id,
            ),
            code,
            http_status,
        )
        .details(retry)
        .build(),
        Failure::AccessDenied { code, message } => {
            aws_builder(ctx, Code::PermissionDenied, code, message, aws_request_id).build()
        }
        Failure::NotImplemented { message } => {
            let message = if message.is_empty() {
                format!(
                    "the ElastiCache endpoint does not implement {}",
                    ctx.operation
                )
            } else {
                message.to_owned()
            };
            aws_builder(
                ctx,
                Code::Unimplemented,
                INVALID_ACTION,
                &message,
                aws_request_id,
            )
            .build()
        }
        Failure::Unknown {
            code: Some(code),
            message,
            ..
        } => {
            tracing::warn!(
                aws_error_code = code,
                operation = ctx.operation,
                "unknown AWS error code"
            );
            aws_builder(ctx, Code::Unknown, code, message, aws_request_id).build()
        }
        Failure::Unknown {
            code: None,
            message,
            http_status,
        } => with_http_status(
            aws_builder(ctx, Code::Internal, "Unknown", message, aws_request_id),
            None,
            http_status,
        )
        .build(),
        Failure::Unreadable => unreadable_response(ctx),
        Failure::Timeout => deadline_status(ctx),
        // The provider's message may name files or roles; say only what happened.
        Failure::Credentials {
            target: Some(target),
        } => facade(
            ctx,
            Code::FailedPrecondition,
            &format!("the role of target {target:?} cannot be assumed; nothing was sent"),
            "TARGET_CREDENTIALS_UNAVAILABLE",
        )
        .metadata("target", target)
        .details(|d| {
            d.add_precondition_failure_violation(
                "TARGET_CREDENTIALS",
                format!("target:{target}"),
                "the facade cannot assume the target's role (see the facade's log)",
            );
        })
        .build(),
        Failure::Credentials { target: None } => facade(
            ctx,
            Code::Unavailable,
            "the facade has no usable AWS credentials",
            "CREDENTIALS_UNAVAILABLE",
        )
        .build(),
        Failure::Lost if ctx.mutating => outcome_unknown(ctx),
        Failure::NotSent | Failure::Lost => facade(
            ctx,
            Code::Unavailable,
            "could not reach ElastiCache",
            "UPSTREAM_UNAVAILABLE",
        )
        .details(retry)
        .build(),
        Failure::Dispatch => {
            tracing::error!(error = %aws_smithy_types::error::display::DisplayErrorContext(err), "unexpected dispatch failure");
            facade(
                ctx,
                Code::Internal,
                "the request to ElastiCache could not be sent",
                "UPSTREAM_DISPATCH_FAILED",
            )
            .build()
        }
        Failure::Construction => {
            tracing::error!(error = %aws_smithy_types::error::display::DisplayErrorContext(err), "could not build the ElastiCache request");
            facade(
                ctx,
                Code::Internal,
                "the request to ElastiCache could not be built",
                "UPSTREAM_REQUEST_INVALID",
            )
            .build()
        }
    }
}

/// AWS sent no code: the HTTP status is all the caller can go on.
fn with_http_status(b: StatusBuilder, code: Option<&str>, http_status: u16) -> StatusBuilder {
    match code {
        Some(_) => b,
        None => b.metadata("http_status", http_status.to_string()),
    }
}

/// The status of a modelled fault: its row of the table plus the typed fault message.
pub fn fault_status(
    ctx: CallContext<'_>,
    fault: Fault,
    message: &str,
    aws_request_id: Option<&str>,
) -> Status {
    let spec = fault.spec();
    let mut b = aws_builder(ctx, spec.code, spec.wire_code, message, aws_request_id).any(
        fault.type_url(),
        FaultMessage {
            message: message.to_owned(),
        }
        .encode_to_vec(),
    );
    b = match spec.detail {
        Detail::ResourceInfo(kind) => {
            let name = ctx.resources.name_for(spec.code, kind);
            b.details(|d| {
                d.set_resource_info(kind.as_str(), name, "", message);
            })
        }
        Detail::PreconditionFailure(kind) => {
            let name = ctx.resources.name_for(spec.code, kind);
            b.details(|d| {
                d.add_precondition_failure_violation(kind.as_str(), name, message);
            })
        }
        Detail::QuotaFailure => b.details(|d| {
            d.add_quota_failure_violation(ctx.operation, message);
        }),
        Detail::BadRequest => b.details(|d| {
            d.add_bad_request_violation("", message);
        }),
    };
    b.build()
}

/// A status about an AWS error code, with the `ErrorInfo` metadata DESIGN §3 asks for.
fn aws_builder(
    ctx: CallContext<'_>,
    code: Code,
    aws_code: &str,
    message: &str,
    aws_request_id: Option<&str>,
) -> StatusBuilder {
    let text = if message.is_empty() {
        aws_code.to_owned()
    } else {
        format!("{aws_code}: {message}")
    };
    let mut b = StatusBuilder::new(
        code,
        text,
        reason_for_code(aws_code),
        AWS_DOMAIN,
        ctx.request_id,
    )
    .metadata("aws_error_code", aws_code)
    .metadata("operation", ctx.operation);
    if let Some(id) = aws_request_id {
        b = b.metadata("aws_request_id", id);
    }
    b
}

/// A status the facade makes about the upstream call itself (not an AWS error code).
fn facade(ctx: CallContext<'_>, code: Code, message: &str, reason: &str) -> StatusBuilder {
    StatusBuilder::new(code, message, reason, FACADE_DOMAIN, ctx.request_id)
        .metadata("operation", ctx.operation)
}

/// DEADLINE_EXCEEDED for a call that ran out of time.
pub fn deadline_exceeded(ctx: CallContext<'_>, timeout: Duration) -> Status {
    StatusBuilder::new(
        Code::DeadlineExceeded,
        format!("deadline of {} ms exceeded", timeout.as_millis()),
        "DEADLINE_EXCEEDED",
        FACADE_DOMAIN,
        ctx.request_id,
    )
    .metadata("operation", ctx.operation)
    .build()
}

/// DEADLINE_EXCEEDED `UPSTREAM_TIMEOUT`: one attempt took longer than the per-attempt timeout.
pub fn deadline_status(ctx: CallContext<'_>) -> Status {
    facade(
        ctx,
        Code::DeadlineExceeded,
        "ElastiCache did not answer in time",
        "UPSTREAM_TIMEOUT",
    )
    .build()
}

fn unreadable_response(ctx: CallContext<'_>) -> Status {
    if ctx.mutating {
        return outcome_unknown(ctx);
    }
    facade(
        ctx,
        Code::Unavailable,
        "the response from ElastiCache was lost or unreadable",
        "UPSTREAM_BAD_RESPONSE",
    )
    .details(|d| {
        d.set_retry_info(Some(RETRY_DELAY));
    })
    .build()
}

pub(crate) fn outcome_unknown(ctx: CallContext<'_>) -> Status {
    facade(
        ctx,
        Code::Unavailable,
        "the connection to ElastiCache was lost after the request was sent; it may or may not have taken effect",
        "UPSTREAM_OUTCOME_UNKNOWN",
    )
    .metadata("outcome", "unknown")
    .build()
}

/// Whether a dispatch failure happened before any byte of the request left: a failed connect.
pub(crate) fn nothing_was_sent(err: &(dyn StdError + 'static)) -> bool {
    if find_source::<hyper_util::client::legacy::Error>(err).is_some_and(|e| e.is_connect()) {
        return true;
    }
    find_source::<std::io::Error>(err).is_some_and(|io| {
        matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::AddrNotAvailable
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable
        )
    })
}

/// The first error of type `T` in `err`'s source chain, `err` included.
pub(crate) fn find_source<'a, T: StdError + 'static>(
    err: &'a (dyn StdError + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}
