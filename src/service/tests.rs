//! The service end to end below the transport: every RPC against a mocked SDK client (what
//! reaches AWS, what the caller gets back), every modelled fault of every operation, unmodelled
//! errors, timeouts, transport failures, credentials failures, validation and retries.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_credential_types::provider::{
    ProvideCredentials, error::CredentialsError, future as creds_future,
};
use aws_sdk_elasticache::config::retry::RetryConfig;
use aws_sdk_elasticache::config::timeout::TimeoutConfig;
use aws_sdk_elasticache::error::ErrorMetadata;
use aws_sdk_elasticache::operation::{
    copy_serverless_cache_snapshot::{
        CopyServerlessCacheSnapshotError, CopyServerlessCacheSnapshotInput,
        CopyServerlessCacheSnapshotOutput,
    },
    create_serverless_cache::{
        CreateServerlessCacheError, CreateServerlessCacheInput, CreateServerlessCacheOutput,
    },
    create_serverless_cache_snapshot::{
        CreateServerlessCacheSnapshotError, CreateServerlessCacheSnapshotInput,
        CreateServerlessCacheSnapshotOutput,
    },
    delete_serverless_cache::{
        DeleteServerlessCacheError, DeleteServerlessCacheInput, DeleteServerlessCacheOutput,
    },
    delete_serverless_cache_snapshot::{
        DeleteServerlessCacheSnapshotError, DeleteServerlessCacheSnapshotInput,
        DeleteServerlessCacheSnapshotOutput,
    },
    describe_serverless_cache_snapshots::{
        DescribeServerlessCacheSnapshotsError, DescribeServerlessCacheSnapshotsInput,
        DescribeServerlessCacheSnapshotsOutput,
    },
    describe_serverless_caches::{
        DescribeServerlessCachesError, DescribeServerlessCachesInput,
        DescribeServerlessCachesOutput,
    },
    export_serverless_cache_snapshot::{
        ExportServerlessCacheSnapshotError, ExportServerlessCacheSnapshotInput,
        ExportServerlessCacheSnapshotOutput,
    },
    modify_serverless_cache::{
        ModifyServerlessCacheError, ModifyServerlessCacheInput, ModifyServerlessCacheOutput,
    },
};
use aws_sdk_elasticache::types as sdk;
use aws_sdk_elasticache::types::error as faults;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use prost::Message;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::*;
use crate::convert::fixtures::*;
use crate::startup::static_client;
use crate::status::FaultMessage;

const REQUEST_ID: &str = "req-3f9c2a";
const FAULT_MESSAGE: &str = "AWS says no";
const AWS_DOMAIN: &str = "elasticache.amazonaws.com";
const FACADE_DOMAIN: &str = "elasticache-grpc";
const CACHE: &str = "elasticache.v1.ServerlessCache";
const SNAPSHOT: &str = "elasticache.v1.ServerlessCacheSnapshot";
const USER_GROUP: &str = "elasticache.v1.UserGroup";
const ROLE: &str = "ServiceLinkedRole";
const CREDENTIALS: &str = "Credentials";

// ---- harness ----------------------------------------------------------------------------------

/// A client answered by `rules`. SDK retries are off, as in production: the facade decides.
fn mocked(rules: &[&Rule]) -> aws_sdk_elasticache::Client {
    mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

/// The facade's SDK client (its interceptors included) against an upstream that answers every call
/// with `body`, as AWS's wire form: the SDK signs, sends and parses as it does in production.
fn wire_client(body: &'static str) -> aws_sdk_elasticache::Client {
    let http = aws_smithy_http_client::test_util::infallible_client_fn(move |_request| {
        http::Response::builder()
            .status(200)
            .header("content-type", "text/xml")
            .header("x-amzn-requestid", "5f0e2a8c-wire-fixture")
            .body(SdkBody::from(body))
            .expect("a valid response")
    });
    let config = crate::startup::static_config("http://127.0.0.1:9")
        .to_builder()
        .http_client(http)
        .build();
    crate::startup::facade_client(config, Duration::from_secs(10))
}

/// The service with a single attempt per call, so each mock is hit exactly once.
fn service(client: aws_sdk_elasticache::Client) -> ElastiCacheGrpc {
    ElastiCacheGrpc::with_retry(client, Duration::from_secs(10), RetryPolicy::none())
}

/// A request carrying our `x-request-id`.
fn request<T>(message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("x-request-id", REQUEST_ID.parse().unwrap());
    r
}

fn with_grpc_timeout<T>(message: T, timeout: &str) -> Request<T> {
    let mut r = request(message);
    r.metadata_mut()
        .insert("grpc-timeout", timeout.parse().unwrap());
    r
}

/// Every `Any` of the status's `google.rpc.Status`, typed fault included.
fn all_details(status: &Status) -> Vec<prost_types::Any> {
    let rpc = tonic_types::pb::Status::decode(status.details()).expect("google.rpc.Status");
    assert_eq!(rpc.code, status.code() as i32);
    assert_eq!(rpc.message, status.message());
    rpc.details
}

/// The `elasticache.v1.*` messages packed in the status (the typed faults).
fn typed_faults(status: &Status) -> Vec<(String, String)> {
    all_details(status)
        .into_iter()
        .filter(|a| {
            a.type_url
                .starts_with("type.googleapis.com/elasticache.v1.")
        })
        .map(|a| {
            let body = FaultMessage::decode(a.value.as_slice()).expect("fault message");
            (a.type_url, body.message)
        })
        .collect()
}

/// ErrorInfo with `reason` and `domain`, and RequestInfo echoing [`REQUEST_ID`].
fn assert_envelope(status: &Status, reason: &str, domain: &str) -> ErrorDetails {
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, domain, "{status:?}");
    assert_eq!(
        details.request_info().expect("RequestInfo").request_id,
        REQUEST_ID
    );
    details
}

fn metadata(details: &ErrorDetails) -> &std::collections::HashMap<String, String> {
    &details.error_info().unwrap().metadata
}

fn socket_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

// ---- fixtures ---------------------------------------------------------------------------------

// Fully populated requests; every name differs, so a detail naming the wrong one shows.

fn export_request() -> pb::ExportServerlessCacheSnapshotRequest {
    pb::ExportServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: "snap-export".into(),
        s3_bucket_name: "export-bucket".into(),
    }
}

fn create_snapshot_request() -> pb::CreateServerlessCacheSnapshotRequest {
    pb::CreateServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: "snap-new".into(),
        serverless_cache_name: "cache-src".into(),
        kms_key_id: Some("kms-1".into()),
        tags: pb_tags(),
    }
}

fn describe_snapshots_request() -> pb::DescribeServerlessCacheSnapshotsRequest {
    pb::DescribeServerlessCacheSnapshotsRequest {
        serverless_cache_name: Some("cache-filter".into()),
        serverless_cache_snapshot_name: Some("snap-filter".into()),
        snapshot_type: Some("automated".into()),
        next_token: Some("token-in".into()),
        max_results: Some(25),
    }
}

fn copy_request() -> pb::CopyServerlessCacheSnapshotRequest {
    pb::CopyServerlessCacheSnapshotRequest {
        request_id: None,
        source_serverless_cache_snapshot_name: "snap-src".into(),
        target_serverless_cache_snapshot_name: "snap-copy".into(),
        kms_key_id: Some("kms-2".into()),
        tags: pb_tags(),
    }
}

fn delete_snapshot_request() -> pb::DeleteServerlessCacheSnapshotRequest {
    pb::DeleteServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: "snap-old".into(),
    }
}

fn create_cache_request() -> pb::CreateServerlessCacheRequest {
    pb::CreateServerlessCacheRequest {
        request_id: None,
        serverless_cache_name: "cache-new".into(),
        description: Some("new cache".into()),
        engine: "valkey".into(),
        major_engine_version: Some("8".into()),
        cache_usage_limits: Some(pb_limits()),
        kms_key_id: Some("kms-3".into()),
        security_group_ids: vec!["sg-1".into(), "sg-2".into()],
        snapshot_arns_to_restore: vec!["arn:aws:elasticache:us-east-1:1:snap-restore".into()],
        tags: pb_tags(),
        user_group_id: Some("ug-new".into()),
        subnet_ids: vec!["subnet-1".into(), "subnet-2".into()],
        snapshot_retention_limit: Some(14),
        daily_snapshot_time: Some("02:00".into()),
        network_type: Some(pb::NetworkType::DualStack as i32),
        connection_type: Some(pb::ConnectionType::Public as i32),
    }
}

fn describe_caches_request() -> pb::DescribeServerlessCachesRequest {
    pb::DescribeServerlessCachesRequest {
        serverless_cache_name: Some("cache-filter".into()),
        max_results: Some(10),
        next_token: Some("token-in".into()),
    }
}

fn modify_request() -> pb::ModifyServerlessCacheRequest {
    pb::ModifyServerlessCacheRequest {
        request_id: None,
        serverless_cache_name: "cache-mod".into(),
        description: Some("modified".into()),
        cache_usage_limits: Some(pb_limits()),
        remove_user_group: Some(false),
        user_group_id: Some("ug-mod".into()),
        security_group_ids: vec!["sg-9".into()],
        snapshot_retention_limit: Some(0),
        daily_snapshot_time: Some("03:15".into()),
        engine: Some("valkey".into()),
        major_engine_version: Some("8".into()),
    }
}

fn delete_cache_request() -> pb::DeleteServerlessCacheRequest {
    pb::DeleteServerlessCacheRequest {
        request_id: None,
        serverless_cache_name: "cache-old".into(),
        final_snapshot_name: Some("snap-final".into()),
    }
}

// ---- success: every request field reaches AWS, every response field reaches the caller --------

/// Calls `$method` with a mock that records the SDK input and answers `$output`; asserts the
/// recorded input and the proto response.
macro_rules! success_case {
    ($method:ident, request: $request:expr, input: $input:expr, output: $output:expr,
     response: $response:expr $(,)?) => {{
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let rule = mock!(aws_sdk_elasticache::Client::$method).then_compute_output(move |input| {
            log.lock().unwrap().push(input.clone());
            $output
        });
        let svc = service(mocked(&[&rule]));
        let response = svc
            .$method(request($request))
            .await
            .expect("the call succeeds")
            .into_inner();
        assert_eq!(rule.num_calls(), 1);
        assert_eq!(*seen.lock().unwrap(), vec![$input]);
        assert_eq!(response, $response);
    }};
}

#[tokio::test]
async fn export_serverless_cache_snapshot_succeeds() {
    success_case!(
        export_serverless_cache_snapshot,
        request: export_request(),
        input: ExportServerlessCacheSnapshotInput::builder()
            .serverless_cache_snapshot_name("snap-export")
            .s3_bucket_name("export-bucket")
            .build()
            .unwrap(),
        output: ExportServerlessCacheSnapshotOutput::builder()
            .serverless_cache_snapshot(sdk_snapshot("snap-export"))
            .build(),
        response: pb::ExportServerlessCacheSnapshotResponse {
            serverless_cache_snapshot: Some(pb_snapshot("snap-export")),
        },
    );
}

#[tokio::test]
async fn create_serverless_cache_snapshot_succeeds() {
    success_case!(
        create_serverless_cache_snapshot,
        request: create_snapshot_request(),
        input: CreateServerlessCacheSnapshotInput::builder()
            .serverless_cache_snapshot_name("snap-new")
            .serverless_cache_name("cache-src")
            .kms_key_id("kms-1")
            .set_tags(Some(sdk_tags()))
            .build()
            .unwrap(),
        output: CreateServerlessCacheSnapshotOutput::builder()
            .serverless_cache_snapshot(sdk_snapshot("snap-new"))
            .build(),
        response: pb::CreateServerlessCacheSnapshotResponse {
            serverless_cache_snapshot: Some(pb_snapshot("snap-new")),
        },
    );
}

#[tokio::test]
async fn describe_serverless_cache_snapshots_succeeds() {
    success_case!(
        describe_serverless_cache_snapshots,
        request: describe_snapshots_request(),
        input: DescribeServerlessCacheSnapshotsInput::builder()
            .serverless_cache_name("cache-filter")
            .serverless_cache_snapshot_name("snap-filter")
            .snapshot_type("automated")
            .next_token("token-in")
            .max_results(25)
            .build()
            .unwrap(),
        output: DescribeServerlessCacheSnapshotsOutput::builder()
            .next_token("token-out")
            .serverless_cache_snapshots(sdk_snapshot("snap-a"))
            .serverless_cache_snapshots(sdk_snapshot("snap-b"))
            .build(),
        response: pb::DescribeServerlessCacheSnapshotsResponse {
            next_token: Some("token-out".into()),
            serverless_cache_snapshots: vec![pb_snapshot("snap-a"), pb_snapshot("snap-b")],
        },
    );
}

#[tokio::test]
async fn copy_serverless_cache_snapshot_succeeds() {
    success_case!(
        copy_serverless_cache_snapshot,
        request: copy_request(),
        input: CopyServerlessCacheSnapshotInput::builder()
            .source_serverless_cache_snapshot_name("snap-src")
            .target_serverless_cache_snapshot_name("snap-copy")
            .kms_key_id("kms-2")
            .set_tags(Some(sdk_tags()))
            .build()
            .unwrap(),
        output: CopyServerlessCacheSnapshotOutput::builder()
            .serverless_cache_snapshot(sdk_snapshot("snap-copy"))
            .build(),
        response: pb::CopyServerlessCacheSnapshotResponse {
            serverless_cache_snapshot: Some(pb_snapshot("snap-copy")),
        },
    );
}

#[tokio::test]
async fn delete_serverless_cache_snapshot_succeeds() {
    success_case!(
        delete_serverless_cache_snapshot,
        request: delete_snapshot_request(),
        input: DeleteServerlessCacheSnapshotInput::builder()
            .serverless_cache_snapshot_name("snap-old")
            .build()
            .unwrap(),
        output: DeleteServerlessCacheSnapshotOutput::builder()
            .serverless_cache_snapshot(sdk_snapshot("snap-old"))
            .build(),
        response: pb::DeleteServerlessCacheSnapshotResponse {
            serverless_cache_snapshot: Some(pb_snapshot("snap-old")),
        },
    );
}

#[tokio::test]
async fn create_serverless_cache_succeeds() {
    success_case!(
        create_serverless_cache,
        request: create_cache_request(),
        input: CreateServerlessCacheInput::builder()
            .serverless_cache_name("cache-new")
            .description("new cache")
            .engine("valkey")
            .major_engine_version("8")
            .cache_usage_limits(sdk_limits())
            .kms_key_id("kms-3")
            .security_group_ids("sg-1")
            .security_group_ids("sg-2")
            .snapshot_arns_to_restore("arn:aws:elasticache:us-east-1:1:snap-restore")
            .set_tags(Some(sdk_tags()))
            .user_group_id("ug-new")
            .subnet_ids("subnet-1")
            .subnet_ids("subnet-2")
            .snapshot_retention_limit(14)
            .daily_snapshot_time("02:00")
            .network_type(sdk::NetworkType::DualStack)
            .connection_type(sdk::ConnectionType::Public)
            .build()
            .unwrap(),
        output: CreateServerlessCacheOutput::builder()
            .serverless_cache(sdk_cache("cache-new"))
            .build(),
        response: pb::CreateServerlessCacheResponse {
            serverless_cache: Some(pb_cache("cache-new")),
        },
    );
}

#[tokio::test]
async fn describe_serverless_caches_succeeds() {
    success_case!(
        describe_serverless_caches,
        request: describe_caches_request(),
        input: DescribeServerlessCachesInput::builder()
            .serverless_cache_name("cache-filter")
            .max_results(10)
            .next_token("token-in")
            .build()
            .unwrap(),
        output: DescribeServerlessCachesOutput::builder()
            .next_token("token-out")
            .serverless_caches(sdk_cache("cache-a"))
            .serverless_caches(sdk_cache("cache-b"))
            .build(),
        response: pb::DescribeServerlessCachesResponse {
            next_token: Some("token-out".into()),
            serverless_caches: vec![pb_cache("cache-a"), pb_cache("cache-b")],
        },
    );
}

#[tokio::test]
async fn modify_serverless_cache_succeeds() {
    success_case!(
        modify_serverless_cache,
        request: modify_request(),
        input: ModifyServerlessCacheInput::builder()
            .serverless_cache_name("cache-mod")
            .description("modified")
            .cache_usage_limits(sdk_limits())
            .remove_user_group(false)
            .user_group_id("ug-mod")
            .security_group_ids("sg-9")
            .snapshot_retention_limit(0)
            .daily_snapshot_time("03:15")
            .engine("valkey")
            .major_engine_version("8")
            .build()
            .unwrap(),
        output: ModifyServerlessCacheOutput::builder()
            .serverless_cache(sdk_cache("cache-mod"))
            .build(),
        response: pb::ModifyServerlessCacheResponse {
            serverless_cache: Some(pb_cache("cache-mod")),
        },
    );
}

#[tokio::test]
async fn delete_serverless_cache_succeeds() {
    success_case!(
        delete_serverless_cache,
        request: delete_cache_request(),
        input: DeleteServerlessCacheInput::builder()
            .serverless_cache_name("cache-old")
            .final_snapshot_name("snap-final")
            .build()
            .unwrap(),
        output: DeleteServerlessCacheOutput::builder()
            .serverless_cache(sdk_cache("cache-old"))
            .build(),
        response: pb::DeleteServerlessCacheResponse {
            serverless_cache: Some(pb_cache("cache-old")),
        },
    );
}

#[tokio::test]
async fn last_page_has_no_next_token_and_empty_lists() {
    success_case!(
        describe_serverless_caches,
        request: pb::DescribeServerlessCachesRequest::default(),
        input: DescribeServerlessCachesInput::builder().build().unwrap(),
        output: DescribeServerlessCachesOutput::builder().build(),
        response: pb::DescribeServerlessCachesResponse {
            next_token: None,
            serverless_caches: vec![],
        },
    );
}

// ---- modelled faults --------------------------------------------------------------------------

/// The specific detail a fault must carry (DESIGN §3), with the resource named in the request.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// ResourceInfo (type, name).
    Resource(&'static str, &'static str),
    /// PreconditionFailure with one violation (type, subject).
    Precondition(&'static str, &'static str),
    Quota,
    BadRequest,
}
use Want::{BadRequest, Precondition, Quota, Resource};

/// DESIGN §3 for each modelled fault, written out independently of `src/aws`:
/// (wire code, gRPC code, ErrorInfo reason).
fn design_row(fault: &str) -> (&'static str, Code, &'static str) {
    match fault {
        "InvalidParameterValueException" => (
            "InvalidParameterValue",
            Code::InvalidArgument,
            "INVALID_PARAMETER_VALUE",
        ),
        "InvalidParameterCombinationException" => (
            "InvalidParameterCombination",
            Code::InvalidArgument,
            "INVALID_PARAMETER_COMBINATION",
        ),
        "InvalidCredentialsException" => (
            "InvalidCredentialsException",
            Code::FailedPrecondition,
            "INVALID_CREDENTIALS",
        ),
        "InvalidServerlessCacheStateFault" => (
            "InvalidServerlessCacheStateFault",
            Code::FailedPrecondition,
            "INVALID_SERVERLESS_CACHE_STATE",
        ),
        "InvalidServerlessCacheSnapshotStateFault" => (
            "InvalidServerlessCacheSnapshotStateFault",
            Code::FailedPrecondition,
            "INVALID_SERVERLESS_CACHE_SNAPSHOT_STATE",
        ),
        "InvalidUserGroupStateFault" => (
            "InvalidUserGroupState",
            Code::FailedPrecondition,
            "INVALID_USER_GROUP_STATE",
        ),
        "ServerlessCacheAlreadyExistsFault" => (
            "ServerlessCacheAlreadyExistsFault",
            Code::AlreadyExists,
            "SERVERLESS_CACHE_ALREADY_EXISTS",
        ),
        "ServerlessCacheNotFoundFault" => (
            "ServerlessCacheNotFoundFault",
            Code::NotFound,
            "SERVERLESS_CACHE_NOT_FOUND",
        ),
        "ServerlessCacheQuotaForCustomerExceededFault" => (
            "ServerlessCacheQuotaForCustomerExceededFault",
            Code::ResourceExhausted,
            "SERVERLESS_CACHE_QUOTA_FOR_CUSTOMER_EXCEEDED",
        ),
        "ServerlessCacheSnapshotAlreadyExistsFault" => (
            "ServerlessCacheSnapshotAlreadyExistsFault",
            Code::AlreadyExists,
            "SERVERLESS_CACHE_SNAPSHOT_ALREADY_EXISTS",
        ),
        "ServerlessCacheSnapshotNotFoundFault" => (
            "ServerlessCacheSnapshotNotFoundFault",
            Code::NotFound,
            "SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND",
        ),
        "ServerlessCacheSnapshotQuotaExceededFault" => (
            "ServerlessCacheSnapshotQuotaExceededFault",
            Code::ResourceExhausted,
            "SERVERLESS_CACHE_SNAPSHOT_QUOTA_EXCEEDED",
        ),
        "ServiceLinkedRoleNotFoundFault" => (
            "ServiceLinkedRoleNotFoundFault",
            Code::FailedPrecondition,
            "SERVICE_LINKED_ROLE_NOT_FOUND",
        ),
        "TagQuotaPerResourceExceeded" => (
            "TagQuotaPerResourceExceeded",
            Code::ResourceExhausted,
            "TAG_QUOTA_PER_RESOURCE_EXCEEDED",
        ),
        "UserGroupNotFoundFault" => ("UserGroupNotFound", Code::NotFound, "USER_GROUP_NOT_FOUND"),
        other => panic!("no DESIGN row for {other}"),
    }
}

/// Everything DESIGN §3 promises for a modelled fault `fault` of `operation`.
fn assert_modelled_fault(status: &Status, fault: &str, operation: &str, want: Want) {
    assert_fault(status, fault, operation, design_row(fault), want);
}

/// `assert_modelled_fault` with the (wire code, gRPC code, reason) row given.
fn assert_fault(
    status: &Status,
    fault: &str,
    operation: &str,
    (wire, code, reason): (&str, Code, &str),
    want: Want,
) {
    assert_eq!(status.code(), code, "{fault} on {operation}: {status:?}");
    assert!(
        status.message().contains(FAULT_MESSAGE),
        "{fault}: {}",
        status.message()
    );

    let details = assert_envelope(status, reason, AWS_DOMAIN);
    let md = metadata(&details);
    assert_eq!(
        md.get("aws_error_code").map(String::as_str),
        Some(wire),
        "{fault}"
    );
    assert_eq!(
        md.get("operation").map(String::as_str),
        Some(operation),
        "{fault}"
    );

    assert_eq!(
        typed_faults(status),
        [(
            format!("type.googleapis.com/elasticache.v1.{fault}"),
            FAULT_MESSAGE.to_owned()
        )],
        "{fault} on {operation}"
    );
    assert!(details.retry_info().is_none(), "{fault}: no RetryInfo");

    let context = format!("{fault} on {operation}: {details:?}");
    match want {
        Resource(kind, name) => {
            let info = details.resource_info().expect(&context);
            assert_eq!(
                (info.resource_type.as_str(), info.resource_name.as_str()),
                (kind, name),
                "{context}"
            );
            assert_eq!(info.description, FAULT_MESSAGE, "{context}");
        }
        Precondition(kind, subject) => {
            let v = &details.precondition_failure().expect(&context).violations;
            assert_eq!(v.len(), 1, "{context}");
            assert_eq!(
                (v[0].r#type.as_str(), v[0].subject.as_str()),
                (kind, subject),
                "{context}"
            );
            assert_eq!(v[0].description, FAULT_MESSAGE, "{context}");
        }
        Quota => {
            let v = &details.quota_failure().expect(&context).violations;
            assert_eq!(v.len(), 1, "{context}");
            assert_eq!(v[0].description, FAULT_MESSAGE, "{context}");
        }
        BadRequest => {
            let v = &details.bad_request().expect(&context).field_violations;
            assert_eq!(v.len(), 1, "{context}");
            assert_eq!(v[0].description, FAULT_MESSAGE, "{context}");
        }
    }
    // Exactly one specific detail.
    let specific = [
        details.resource_info().is_some(),
        details.precondition_failure().is_some(),
        details.quota_failure().is_some(),
        details.bad_request().is_some(),
    ];
    assert_eq!(specific.iter().filter(|s| **s).count(), 1, "{context}");
}

/// One test per operation: each listed SDK error variant is returned by the mock and the status
/// is checked against DESIGN §3. The lists are the SDK's per-operation error enums.
macro_rules! fault_test {
    ($test:ident, $method:ident, $error:ident, $request:expr, $operation:literal,
     { $($variant:ident => $want:expr),+ $(,)? }) => {
        #[tokio::test]
        async fn $test() {
            $({
                let rule = mock!(aws_sdk_elasticache::Client::$method).then_error(|| {
                    $error::$variant(faults::$variant::builder().message(FAULT_MESSAGE).build())
                });
                let svc = service(mocked(&[&rule]));
                let status = svc.handle(request($request)).await.unwrap_err();
                assert_eq!(rule.num_calls(), 1, stringify!($variant));
                assert_modelled_fault(&status, stringify!($variant), $operation, $want);
                assert!(
                    !metadata(&status.get_error_details()).contains_key("aws_request_id"),
                    "no AWS request id was given"
                );
            })+
        }
    };
}

fault_test!(
    export_faults, export_serverless_cache_snapshot, ExportServerlessCacheSnapshotError,
    export_request(), "ExportServerlessCacheSnapshot",
    {
        InvalidParameterValueException => BadRequest,
        InvalidServerlessCacheSnapshotStateFault => Precondition(SNAPSHOT, "snap-export"),
        ServerlessCacheSnapshotNotFoundFault => Resource(SNAPSHOT, "snap-export"),
        ServiceLinkedRoleNotFoundFault => Precondition(ROLE, ""),
    }
);

fault_test!(
    create_snapshot_faults, create_serverless_cache_snapshot, CreateServerlessCacheSnapshotError,
    create_snapshot_request(), "CreateServerlessCacheSnapshot",
    {
        InvalidParameterCombinationException => BadRequest,
        InvalidParameterValueException => BadRequest,
        InvalidServerlessCacheStateFault => Precondition(CACHE, "cache-src"),
        ServerlessCacheNotFoundFault => Resource(CACHE, "cache-src"),
        ServerlessCacheSnapshotAlreadyExistsFault => Resource(SNAPSHOT, "snap-new"),
        ServerlessCacheSnapshotQuotaExceededFault => Quota,
        ServiceLinkedRoleNotFoundFault => Precondition(ROLE, ""),
        TagQuotaPerResourceExceeded => Quota,
    }
);

fault_test!(
    describe_snapshots_faults, describe_serverless_cache_snapshots,
    DescribeServerlessCacheSnapshotsError, describe_snapshots_request(),
    "DescribeServerlessCacheSnapshots",
    {
        InvalidParameterCombinationException => BadRequest,
        InvalidParameterValueException => BadRequest,
        ServerlessCacheNotFoundFault => Resource(CACHE, "cache-filter"),
        ServerlessCacheSnapshotNotFoundFault => Resource(SNAPSHOT, "snap-filter"),
    }
);

fault_test!(
    copy_faults, copy_serverless_cache_snapshot, CopyServerlessCacheSnapshotError,
    copy_request(), "CopyServerlessCacheSnapshot",
    {
        InvalidParameterCombinationException => BadRequest,
        InvalidParameterValueException => BadRequest,
        InvalidServerlessCacheSnapshotStateFault => Precondition(SNAPSHOT, "snap-src"),
        // The copy already exists: the target; the source is missing: the source.
        ServerlessCacheSnapshotAlreadyExistsFault => Resource(SNAPSHOT, "snap-copy"),
        ServerlessCacheSnapshotNotFoundFault => Resource(SNAPSHOT, "snap-src"),
        ServerlessCacheSnapshotQuotaExceededFault => Quota,
        ServiceLinkedRoleNotFoundFault => Precondition(ROLE, ""),
        TagQuotaPerResourceExceeded => Quota,
    }
);

fault_test!(
    delete_snapshot_faults, delete_serverless_cache_snapshot, DeleteServerlessCacheSnapshotError,
    delete_snapshot_request(), "DeleteServerlessCacheSnapshot",
    {
        InvalidParameterValueException => BadRequest,
        InvalidServerlessCacheSnapshotStateFault => Precondition(SNAPSHOT, "snap-old"),
        ServerlessCacheSnapshotNotFoundFault => Resource(SNAPSHOT, "snap-old"),
        ServiceLinkedRoleNotFoundFault => Precondition(ROLE, ""),
    }
);

fault_test!(
    create_cache_faults, create_serverless_cache, CreateServerlessCacheError,
    create_cache_request(), "CreateServerlessCache",
    {
        InvalidCredentialsException => Precondition(CREDENTIALS, ""),
        InvalidParameterCombinationException => BadRequest,
        InvalidParameterValueException => BadRequest,
        InvalidServerlessCacheStateFault => Precondition(CACHE, "cache-new"),
        InvalidUserGroupStateFault => Precondition(USER_GROUP, "ug-new"),
        ServerlessCacheAlreadyExistsFault => Resource(CACHE, "cache-new"),
        ServerlessCacheNotFoundFault => Resource(CACHE, "cache-new"),
        ServerlessCacheQuotaForCustomerExceededFault => Quota,
        ServiceLinkedRoleNotFoundFault => Precondition(ROLE, ""),
        TagQuotaPerResourceExceeded => Quota,
        UserGroupNotFoundFault => Resource(USER_GROUP, "ug-new"),
    }
);

fault_test!(
    describe_caches_faults, describe_serverless_caches, DescribeServerlessCachesError,
    describe_caches_request(), "DescribeServerlessCaches",
    {
        InvalidParameterCombinationException => BadRequest,
        InvalidParameterValueException => BadRequest,
        ServerlessCacheNotFoundFault => Resource(CACHE, "cache-filter"),
    }
);

fault_test!(
    modify_faults, modify_serverless_cache, ModifyServerlessCacheError,
    modify_request(), "ModifyServerlessCache",
    {
        InvalidCredentialsException => Precondition(CREDENTIALS, ""),
        InvalidParameterCombinationException => BadRequest,
        InvalidParameterValueException => BadRequest,
        InvalidServerlessCacheStateFault => Precondition(CACHE, "cache-mod"),
        InvalidUserGroupStateFault => Precondition(USER_GROUP, "ug-mod"),
        ServerlessCacheNotFoundFault => Resource(CACHE, "cache-mod"),
        ServiceLinkedRoleNotFoundFault => Precondition(ROLE, ""),
        UserGroupNotFoundFault => Resource(USER_GROUP, "ug-mod"),
    }
);

fault_test!(
    delete_cache_faults, delete_serverless_cache, DeleteServerlessCacheError,
    delete_cache_request(), "DeleteServerlessCache",
    {
        InvalidCredentialsException => Precondition(CREDENTIALS, ""),
        InvalidParameterCombinationException => BadRequest,
        InvalidParameterValueException => BadRequest,
        InvalidServerlessCacheStateFault => Precondition(CACHE, "cache-old"),
        ServerlessCacheNotFoundFault => Resource(CACHE, "cache-old"),
        // The final snapshot is the one that already exists.
        ServerlessCacheSnapshotAlreadyExistsFault => Resource(SNAPSHOT, "snap-final"),
        ServiceLinkedRoleNotFoundFault => Precondition(ROLE, ""),
    }
);

#[tokio::test]
async fn aws_request_id_of_a_modelled_fault_is_in_the_metadata() {
    let rule =
        mock!(aws_sdk_elasticache::Client::copy_serverless_cache_snapshot).then_error(|| {
            CopyServerlessCacheSnapshotError::ServerlessCacheSnapshotNotFoundFault(
                faults::ServerlessCacheSnapshotNotFoundFault::builder()
                    .message(FAULT_MESSAGE)
                    .meta(
                        ErrorMetadata::builder()
                            .code("ServerlessCacheSnapshotNotFoundFault")
                            .message(FAULT_MESSAGE)
                            .custom("aws_request_id", "aws-req-0001")
                            .build(),
                    )
                    .build(),
            )
        });
    let status = service(mocked(&[&rule]))
        .handle(request(copy_request()))
        .await
        .unwrap_err();
    assert_modelled_fault(
        &status,
        "ServerlessCacheSnapshotNotFoundFault",
        "CopyServerlessCacheSnapshot",
        Resource(SNAPSHOT, "snap-src"),
    );
    let details = status.get_error_details();
    assert_eq!(
        metadata(&details).get("aws_request_id").map(String::as_str),
        Some("aws-req-0001")
    );
}

#[tokio::test]
async fn aws_request_id_of_an_unmodelled_error_is_in_the_metadata() {
    let rule = mock!(aws_sdk_elasticache::Client::describe_serverless_caches).then_error(|| {
        DescribeServerlessCachesError::generic(
            ErrorMetadata::builder()
                .code("Throttling")
                .message("Rate exceeded")
                .custom("aws_request_id", "aws-req-0002")
                .build(),
        )
    });
    let status = service(mocked(&[&rule]))
        .handle(request(describe_caches_request()))
        .await
        .unwrap_err();
    let details = assert_envelope(&status, "THROTTLING", AWS_DOMAIN);
    assert_eq!(
        metadata(&details).get("aws_request_id").map(String::as_str),
        Some("aws-req-0002")
    );
}

// ---- faults as they arrive on the wire (Query protocol XML) -----------------------------------

fn query_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(
        r#"<ErrorResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>body-request-id</RequestId>
</ErrorResponse>"#
    );
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response
        .headers_mut()
        .insert("x-amzn-RequestId", "header-request-id");
    response.headers_mut().insert("content-type", "text/xml");
    response
}

#[tokio::test]
async fn a_wire_fault_is_parsed_and_mapped_with_the_aws_request_id() {
    let rule = mock!(aws_sdk_elasticache::Client::export_serverless_cache_snapshot)
        .then_http_response(|| {
            query_error(404, "ServerlessCacheSnapshotNotFoundFault", FAULT_MESSAGE)
        });
    let status = service(mocked(&[&rule]))
        .handle(request(export_request()))
        .await
        .unwrap_err();
    assert_modelled_fault(
        &status,
        "ServerlessCacheSnapshotNotFoundFault",
        "ExportServerlessCacheSnapshot",
        Resource(SNAPSHOT, "snap-export"),
    );
    assert_eq!(
        metadata(&status.get_error_details())
            .get("aws_request_id")
            .map(String::as_str),
        Some("header-request-id")
    );
}

#[tokio::test]
async fn a_wire_fault_with_an_irregular_code_is_mapped() {
    // "UserGroupNotFound" has no Fault suffix on the wire.
    let rule = mock!(aws_sdk_elasticache::Client::modify_serverless_cache)
        .then_http_response(|| query_error(404, "UserGroupNotFound", FAULT_MESSAGE));
    let status = service(mocked(&[&rule]))
        .handle(request(modify_request()))
        .await
        .unwrap_err();
    assert_modelled_fault(
        &status,
        "UserGroupNotFoundFault",
        "ModifyServerlessCache",
        Resource(USER_GROUP, "ug-mod"),
    );
}

#[tokio::test]
async fn a_5xx_without_a_code_is_unavailable_with_retry_info() {
    for method_is_mutating in [false, true] {
        let status = if method_is_mutating {
            let rule = mock!(aws_sdk_elasticache::Client::delete_serverless_cache)
                .then_http_response(|| {
                    HttpResponse::new(StatusCode::try_from(503).unwrap(), SdkBody::empty())
                });
            service(mocked(&[&rule]))
                .handle(request(delete_cache_request()))
                .await
                .unwrap_err()
        } else {
            let rule = mock!(aws_sdk_elasticache::Client::describe_serverless_caches)
                .then_http_response(|| {
                    HttpResponse::new(StatusCode::try_from(500).unwrap(), SdkBody::empty())
                });
            service(mocked(&[&rule]))
                .handle(request(describe_caches_request()))
                .await
                .unwrap_err()
        };
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        let details = status.get_error_details();
        assert!(details.retry_info().is_some(), "{status:?}");
        assert_eq!(details.error_info().unwrap().domain, AWS_DOMAIN);
        assert_eq!(
            details.request_info().unwrap().request_id,
            REQUEST_ID,
            "{status:?}"
        );
    }
}

// ---- unmodelled errors ------------------------------------------------------------------------

/// (AWS code, gRPC code, reason, RetryInfo expected, QuotaFailure expected).
const UNMODELLED: &[(&str, Code, &str, bool, bool)] = &[
    (
        "Throttling",
        Code::ResourceExhausted,
        "THROTTLING",
        true,
        true,
    ),
    (
        "ThrottlingException",
        Code::ResourceExhausted,
        "THROTTLING",
        true,
        true,
    ),
    (
        "RequestLimitExceeded",
        Code::ResourceExhausted,
        "REQUEST_LIMIT_EXCEEDED",
        true,
        true,
    ),
    (
        "InternalFailure",
        Code::Unavailable,
        "INTERNAL_FAILURE",
        true,
        false,
    ),
    (
        "ServiceUnavailable",
        Code::Unavailable,
        "SERVICE_UNAVAILABLE",
        true,
        false,
    ),
    (
        "AccessDenied",
        Code::PermissionDenied,
        "ACCESS_DENIED",
        false,
        false,
    ),
    (
        "AccessDeniedException",
        Code::PermissionDenied,
        "ACCESS_DENIED",
        false,
        false,
    ),
    ("SomethingNew", Code::Unknown, "SOMETHING_NEW", false, false),
];

fn assert_unmodelled(status: &Status, operation: &str, row: (&str, Code, &str, bool, bool)) {
    let (aws_code, code, reason, retry_info, quota) = row;
    assert_eq!(status.code(), code, "{aws_code} on {operation}: {status:?}");
    assert!(
        status.message().contains("unmodelled message"),
        "{status:?}"
    );
    let details = assert_envelope(status, reason, AWS_DOMAIN);
    let md = metadata(&details);
    assert_eq!(md.get("aws_error_code").map(String::as_str), Some(aws_code));
    assert_eq!(md.get("operation").map(String::as_str), Some(operation));
    assert_eq!(details.retry_info().is_some(), retry_info, "{aws_code}");
    if retry_info {
        assert!(
            details.retry_info().unwrap().retry_delay.is_some(),
            "{aws_code}: RetryInfo says when"
        );
    }
    assert_eq!(details.quota_failure().is_some(), quota, "{aws_code}");
    if quota {
        assert!(!details.quota_failure().unwrap().violations.is_empty());
    }
    assert!(
        typed_faults(status).is_empty(),
        "{aws_code}: not a modelled fault"
    );
    assert!(details.resource_info().is_none());
}

#[tokio::test]
async fn unmodelled_errors_on_a_read_only_operation() {
    for row in UNMODELLED {
        let code = row.0;
        let rule =
            mock!(aws_sdk_elasticache::Client::describe_serverless_caches).then_error(move || {
                DescribeServerlessCachesError::generic(
                    ErrorMetadata::builder()
                        .code(code)
                        .message("unmodelled message")
                        .build(),
                )
            });
        let status = service(mocked(&[&rule]))
            .handle(request(describe_caches_request()))
            .await
            .unwrap_err();
        assert_eq!(rule.num_calls(), 1, "{code}");
        assert_unmodelled(&status, "DescribeServerlessCaches", *row);
    }
}

#[tokio::test]
async fn unmodelled_errors_on_a_mutating_operation() {
    for row in UNMODELLED {
        let code = row.0;
        let rule = mock!(aws_sdk_elasticache::Client::delete_serverless_cache_snapshot).then_error(
            move || {
                DeleteServerlessCacheSnapshotError::generic(
                    ErrorMetadata::builder()
                        .code(code)
                        .message("unmodelled message")
                        .build(),
                )
            },
        );
        let status = service(mocked(&[&rule]))
            .handle(request(delete_snapshot_request()))
            .await
            .unwrap_err();
        assert_eq!(rule.num_calls(), 1, "{code}");
        assert_unmodelled(&status, "DeleteServerlessCacheSnapshot", *row);
    }
}

#[tokio::test]
async fn a_modelled_code_arriving_as_generic_is_still_mapped() {
    // Modelled for this operation, but the SDK handed it over as unhandled.
    let rule =
        mock!(aws_sdk_elasticache::Client::describe_serverless_cache_snapshots).then_error(|| {
            DescribeServerlessCacheSnapshotsError::generic(
                ErrorMetadata::builder()
                    .code("ServerlessCacheNotFoundFault")
                    .message(FAULT_MESSAGE)
                    .build(),
            )
        });
    let status = service(mocked(&[&rule]))
        .handle(request(describe_snapshots_request()))
        .await
        .unwrap_err();
    assert_modelled_fault(
        &status,
        "ServerlessCacheNotFoundFault",
        "DescribeServerlessCacheSnapshots",
        Resource(CACHE, "cache-filter"),
    );

    // Not modelled for Export at all: still a known fault code.
    let rule =
        mock!(aws_sdk_elasticache::Client::export_serverless_cache_snapshot).then_error(|| {
            ExportServerlessCacheSnapshotError::generic(
                ErrorMetadata::builder()
                    .code("ServerlessCacheNotFoundFault")
                    .message(FAULT_MESSAGE)
                    .build(),
            )
        });
    let status = service(mocked(&[&rule]))
        .handle(request(export_request()))
        .await
        .unwrap_err();
    assert_modelled_fault(
        &status,
        "ServerlessCacheNotFoundFault",
        "ExportServerlessCacheSnapshot",
        Resource(CACHE, ""),
    );

    // A wire code without the Fault suffix.
    let rule =
        mock!(aws_sdk_elasticache::Client::create_serverless_cache_snapshot).then_error(|| {
            CreateServerlessCacheSnapshotError::generic(
                ErrorMetadata::builder()
                    .code("InvalidUserGroupState")
                    .message(FAULT_MESSAGE)
                    .build(),
            )
        });
    let status = service(mocked(&[&rule]))
        .handle(request(create_snapshot_request()))
        .await
        .unwrap_err();
    assert_modelled_fault(
        &status,
        "InvalidUserGroupStateFault",
        "CreateServerlessCacheSnapshot",
        Precondition(USER_GROUP, ""),
    );
}

// ---- timeouts, transport and credentials ------------------------------------------------------

/// A loopback listener that accepts connections and never answers.
async fn hanging_endpoint() -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = socket_url(listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

/// A loopback port with nothing listening on it.
async fn closed_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = socket_url(listener.local_addr().unwrap());
    drop(listener);
    url
}

/// Reads one HTTP/1.1 request (headers and `content-length` body) from `socket`.
async fn read_request(socket: &TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        match socket.try_read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let body_len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + body_len {
            return;
        }
    }
}

/// A loopback listener that reads each request in full, then closes the connection without a
/// response: the request was sent, the outcome is unknown. Counts the connections.
async fn dropping_endpoint() -> (String, Arc<AtomicUsize>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = socket_url(listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            read_request(&socket).await;
            drop(socket);
        }
    });
    (url, accepted, task)
}

fn with_timeouts(
    client: &aws_sdk_elasticache::Client,
    timeouts: TimeoutConfig,
) -> aws_sdk_elasticache::Client {
    aws_sdk_elasticache::Client::from_conf(
        client
            .config()
            .to_builder()
            .timeout_config(timeouts)
            .build(),
    )
}

#[tokio::test]
async fn sdk_operation_timeout_is_deadline_exceeded() {
    let (url, server) = hanging_endpoint().await;
    let client = with_timeouts(
        &static_client(&url),
        TimeoutConfig::builder()
            .operation_timeout(Duration::from_millis(150))
            .build(),
    );
    for mutating in [false, true] {
        let status = if mutating {
            service(client.clone())
                .handle(request(delete_snapshot_request()))
                .await
                .unwrap_err()
        } else {
            service(client.clone())
                .handle(request(describe_snapshots_request()))
                .await
                .unwrap_err()
        };
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
        let details = status.get_error_details();
        assert_eq!(details.error_info().unwrap().domain, FACADE_DOMAIN);
        assert_eq!(details.request_info().unwrap().request_id, REQUEST_ID);
    }
    server.abort();
}

#[tokio::test]
async fn sdk_read_timeout_is_deadline_exceeded() {
    let (url, server) = hanging_endpoint().await;
    let client = with_timeouts(
        &static_client(&url),
        TimeoutConfig::builder()
            .read_timeout(Duration::from_millis(150))
            .build(),
    );
    let status = service(client)
        .handle(request(describe_caches_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    server.abort();
}

#[tokio::test]
async fn the_callers_grpc_timeout_bounds_the_call() {
    let (url, server) = hanging_endpoint().await;
    // No SDK timeout at all and a long default: only the caller's deadline can end the call.
    let svc = ElastiCacheGrpc::with_retry(
        static_client(&url),
        Duration::from_secs(60),
        RetryPolicy::none(),
    );
    let started = Instant::now();
    let status = svc
        .handle(with_grpc_timeout(export_request(), "100m"))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(50), "took {elapsed:?}");
    let details = assert_envelope(&status, "DEADLINE_EXCEEDED", FACADE_DOMAIN);
    assert_eq!(
        metadata(&details).get("operation").map(String::as_str),
        Some("ExportServerlessCacheSnapshot")
    );
    server.abort();
}

#[tokio::test]
async fn the_default_timeout_applies_without_grpc_timeout() {
    let (url, server) = hanging_endpoint().await;
    let svc = ElastiCacheGrpc::with_retry(
        static_client(&url),
        Duration::from_millis(100),
        RetryPolicy::none(),
    );
    let started = Instant::now();
    let status = svc
        .handle(request(describe_caches_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    server.abort();
}

#[tokio::test]
async fn retries_never_outlive_the_callers_deadline() {
    let (url, server) = hanging_endpoint().await;
    // Every attempt times out (retryable for a Describe), the default policy would retry.
    let client = with_timeouts(
        &static_client(&url),
        TimeoutConfig::builder()
            .operation_timeout(Duration::from_millis(80))
            .build(),
    );
    let svc = ElastiCacheGrpc::new(client, Duration::from_secs(60));
    let started = Instant::now();
    let status = svc
        .handle(with_grpc_timeout(describe_caches_request(), "200m"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    server.abort();
}

#[tokio::test]
async fn nothing_listening_is_unavailable_with_retry_info() {
    let url = closed_endpoint().await;
    let client = static_client(&url);
    for mutating in [false, true] {
        let status = if mutating {
            service(client.clone())
                .handle(request(create_cache_request()))
                .await
                .unwrap_err()
        } else {
            service(client.clone())
                .handle(request(describe_caches_request()))
                .await
                .unwrap_err()
        };
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        let details = status.get_error_details();
        assert!(details.retry_info().is_some(), "{status:?}");
        assert_eq!(details.error_info().unwrap().domain, FACADE_DOMAIN);
        assert_eq!(details.request_info().unwrap().request_id, REQUEST_ID);
        assert!(
            !metadata(&details).contains_key("outcome"),
            "nothing was sent, so the outcome is known: {status:?}"
        );
    }
}

#[tokio::test]
async fn a_connection_lost_after_a_mutating_request_is_an_unknown_outcome() {
    let (url, accepted, server) = dropping_endpoint().await;
    let status = service(static_client(&url))
        .handle(with_grpc_timeout(delete_cache_request(), "5S"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(
        metadata(&details).get("outcome").map(String::as_str),
        Some("unknown"),
        "{status:?}"
    );
    assert!(
        details.retry_info().is_none(),
        "retrying may repeat the deletion"
    );
    assert_eq!(details.request_info().unwrap().request_id, REQUEST_ID);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    server.abort();
}

#[tokio::test]
async fn a_connection_lost_on_a_describe_is_unavailable_with_retry_info() {
    let (url, accepted, server) = dropping_endpoint().await;
    let status = service(static_client(&url))
        .handle(with_grpc_timeout(describe_snapshots_request(), "5S"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let details = status.get_error_details();
    assert!(details.retry_info().is_some(), "{status:?}");
    assert!(!metadata(&details).contains_key("outcome"));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    server.abort();
}

#[derive(Debug)]
struct BrokenCredentials;

const PROVIDER_SECRET_TEXT: &str = "profile s3cr3t-admin in /home/alice/.aws/credentials";

impl ProvideCredentials for BrokenCredentials {
    fn provide_credentials<'a>(&'a self) -> creds_future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        creds_future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            PROVIDER_SECRET_TEXT,
        )))
    }
}

#[tokio::test]
async fn a_credentials_failure_is_unavailable_without_the_providers_text() {
    let url = closed_endpoint().await;
    let client = aws_sdk_elasticache::Client::from_conf(
        static_client(&url)
            .config()
            .to_builder()
            .credentials_provider(BrokenCredentials)
            .build(),
    );
    let status = service(client)
        .handle(request(export_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    for secret in ["s3cr3t", "alice", ".aws/credentials"] {
        assert!(!status.message().contains(secret), "{}", status.message());
        let details = String::from_utf8_lossy(status.details()).into_owned();
        assert!(!details.contains(secret), "details leak {secret:?}");
    }
    let details = assert_envelope(&status, "CREDENTIALS_UNAVAILABLE", FACADE_DOMAIN);
    assert!(
        details.retry_info().is_none(),
        "not something a caller's retry fixes"
    );
}

// ---- validation through the service -----------------------------------------------------------

/// Each op: an invalid request is refused with INVALID_ARGUMENT naming `$field`, and the mock
/// (which would panic) is never called.
macro_rules! refused_before_aws {
    ($($method:ident: $request:expr => $field:literal;)+) => {$({
        let rule = mock!(aws_sdk_elasticache::Client::$method)
            .then_output(|| panic!("an invalid request must not reach AWS"));
        let status = service(mocked(&[&rule]))
            .$method(request($request))
            .await
            .unwrap_err();
        assert_eq!(rule.num_calls(), 0, stringify!($method));
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let details = assert_envelope(&status, "INVALID_ARGUMENT", FACADE_DOMAIN);
        let fields: Vec<&str> = details
            .bad_request()
            .expect("BadRequest")
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, [$field], stringify!($method));
    })+};
}

#[tokio::test]
async fn invalid_requests_never_reach_aws() {
    refused_before_aws! {
        export_serverless_cache_snapshot: pb::ExportServerlessCacheSnapshotRequest {
            serverless_cache_snapshot_name: String::new(),
            ..export_request()
        } => "serverless_cache_snapshot_name";
        export_serverless_cache_snapshot: pb::ExportServerlessCacheSnapshotRequest {
            s3_bucket_name: "xn--bucket".into(),
            ..export_request()
        } => "s3_bucket_name";
        create_serverless_cache_snapshot: pb::CreateServerlessCacheSnapshotRequest {
            serverless_cache_name: String::new(),
            ..create_snapshot_request()
        } => "serverless_cache_name";
        describe_serverless_cache_snapshots: pb::DescribeServerlessCacheSnapshotsRequest {
            max_results: Some(0),
            ..describe_snapshots_request()
        } => "max_results";
        copy_serverless_cache_snapshot: pb::CopyServerlessCacheSnapshotRequest {
            target_serverless_cache_snapshot_name: String::new(),
            ..copy_request()
        } => "target_serverless_cache_snapshot_name";
        delete_serverless_cache_snapshot: pb::DeleteServerlessCacheSnapshotRequest::default()
            => "serverless_cache_snapshot_name";
        create_serverless_cache: pb::CreateServerlessCacheRequest {
            engine: String::new(),
            ..create_cache_request()
        } => "engine";
        create_serverless_cache: pb::CreateServerlessCacheRequest {
            network_type: Some(42),
            ..create_cache_request()
        } => "network_type";
        describe_serverless_caches: pb::DescribeServerlessCachesRequest {
            serverless_cache_name: Some("-bad".into()),
            ..describe_caches_request()
        } => "serverless_cache_name";
        modify_serverless_cache: pb::ModifyServerlessCacheRequest {
            serverless_cache_name: String::new(),
            ..modify_request()
        } => "serverless_cache_name";
        delete_serverless_cache: pb::DeleteServerlessCacheRequest {
            serverless_cache_name: "cache-old-".into(),
            ..delete_cache_request()
        } => "serverless_cache_name";
    }
}

#[tokio::test]
async fn a_request_without_x_request_id_gets_a_generated_one() {
    let rule = mock!(aws_sdk_elasticache::Client::delete_serverless_cache_snapshot)
        .then_output(|| panic!("must not be called"));
    let status = service(mocked(&[&rule]))
        .handle(Request::new(
            pb::DeleteServerlessCacheSnapshotRequest::default(),
        ))
        .await
        .unwrap_err();
    let id = status
        .get_error_details()
        .request_info()
        .expect("RequestInfo")
        .request_id
        .clone();
    assert!(!id.is_empty());
    assert_ne!(id, REQUEST_ID);
}

// ---- retries (DESIGN §5) ----------------------------------------------------------------------

fn throttled() -> ErrorMetadata {
    ErrorMetadata::builder()
        .code("Throttling")
        .message("Rate exceeded")
        .build()
}

#[tokio::test]
async fn a_throttled_mutating_call_is_retried() {
    let rule = mock!(aws_sdk_elasticache::Client::delete_serverless_cache_snapshot)
        .sequence()
        .error(|| DeleteServerlessCacheSnapshotError::generic(throttled()))
        .output(|| {
            DeleteServerlessCacheSnapshotOutput::builder()
                .serverless_cache_snapshot(sdk_snapshot("snap-old"))
                .build()
        })
        .build();
    let svc = ElastiCacheGrpc::new(mocked(&[&rule]), Duration::from_secs(10));
    let response = svc
        .handle(request(delete_snapshot_request()))
        .await
        .expect("the retry succeeds")
        .into_inner();
    assert_eq!(rule.num_calls(), 2);
    assert_eq!(
        response.serverless_cache_snapshot,
        Some(pb_snapshot("snap-old"))
    );
}

#[tokio::test]
async fn throttling_that_persists_is_resource_exhausted_after_the_allowed_attempts() {
    let attempts = RetryPolicy::default().max_attempts as usize;
    assert!(attempts > 1, "the default policy retries");
    let rule = mock!(aws_sdk_elasticache::Client::create_serverless_cache)
        .sequence()
        .error(|| CreateServerlessCacheError::generic(throttled()))
        .times(attempts + 5)
        .build();
    let svc = ElastiCacheGrpc::new(mocked(&[&rule]), Duration::from_secs(10));
    let status = svc
        .handle(request(create_cache_request()))
        .await
        .unwrap_err();
    assert_eq!(rule.num_calls(), attempts);
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let details = assert_envelope(&status, "THROTTLING", AWS_DOMAIN);
    assert!(details.retry_info().is_some());
    assert!(details.quota_failure().is_some());
}

#[tokio::test]
async fn a_5xx_on_a_mutating_call_is_not_retried() {
    let rule = mock!(aws_sdk_elasticache::Client::create_serverless_cache_snapshot)
        .sequence()
        .http_status(503, None)
        .output(|| CreateServerlessCacheSnapshotOutput::builder().build())
        .build();
    let svc = ElastiCacheGrpc::new(mocked(&[&rule]), Duration::from_secs(10));
    let status = svc
        .handle(request(create_snapshot_request()))
        .await
        .unwrap_err();
    assert_eq!(rule.num_calls(), 1, "AWS may have acted: no second attempt");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn a_server_fault_code_on_a_mutating_call_is_not_retried() {
    let rule = mock!(aws_sdk_elasticache::Client::modify_serverless_cache)
        .sequence()
        .error(|| {
            ModifyServerlessCacheError::generic(
                ErrorMetadata::builder().code("InternalFailure").build(),
            )
        })
        .output(|| ModifyServerlessCacheOutput::builder().build())
        .build();
    let svc = ElastiCacheGrpc::new(mocked(&[&rule]), Duration::from_secs(10));
    let status = svc.handle(request(modify_request())).await.unwrap_err();
    assert_eq!(rule.num_calls(), 1);
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn a_5xx_on_a_describe_is_retried() {
    let rule = mock!(aws_sdk_elasticache::Client::describe_serverless_caches)
        .sequence()
        .http_status(503, None)
        .output(|| {
            DescribeServerlessCachesOutput::builder()
                .serverless_caches(sdk_cache("cache-a"))
                .build()
        })
        .build();
    let svc = ElastiCacheGrpc::new(mocked(&[&rule]), Duration::from_secs(10));
    let response = svc
        .handle(request(describe_caches_request()))
        .await
        .expect("the retry succeeds")
        .into_inner();
    assert_eq!(rule.num_calls(), 2);
    assert_eq!(response.serverless_caches, vec![pb_cache("cache-a")]);
}

#[tokio::test]
async fn a_modelled_fault_is_never_retried() {
    let rule = mock!(aws_sdk_elasticache::Client::describe_serverless_caches)
        .sequence()
        .error(|| {
            DescribeServerlessCachesError::ServerlessCacheNotFoundFault(
                faults::ServerlessCacheNotFoundFault::builder()
                    .message(FAULT_MESSAGE)
                    .build(),
            )
        })
        .output(|| DescribeServerlessCachesOutput::builder().build())
        .build();
    let svc = ElastiCacheGrpc::new(mocked(&[&rule]), Duration::from_secs(10));
    let status = svc
        .handle(request(describe_caches_request()))
        .await
        .unwrap_err();
    assert_eq!(rule.num_calls(), 1);
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn a_connection_lost_on_a_describe_is_retried() {
    let (url, accepted, server) = dropping_endpoint().await;
    let svc = ElastiCacheGrpc::new(static_client(&url), Duration::from_secs(10));
    let status = svc
        .handle(with_grpc_timeout(describe_caches_request(), "5S"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        RetryPolicy::default().max_attempts as usize,
        "lost connections are retried for Describe* (DESIGN §5)"
    );
    server.abort();
}

#[tokio::test]
async fn a_connection_lost_on_a_mutating_call_is_not_retried() {
    let (url, accepted, server) = dropping_endpoint().await;
    let svc = ElastiCacheGrpc::new(static_client(&url), Duration::from_secs(10));
    let status = svc
        .handle(with_grpc_timeout(copy_request(), "5S"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    server.abort();
}

/// A loopback listener that answers `200 OK` with a body cut short: the response is lost after
/// AWS acted. Counts the connections.
async fn truncating_endpoint() -> (String, Arc<AtomicUsize>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = socket_url(listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            read_request(&socket).await;
            if socket.writable().await.is_ok() {
                let _ = socket.try_write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: 1000\r\n\r\n<Del",
                );
            }
            drop(socket);
        }
    });
    (url, accepted, task)
}

#[tokio::test]
async fn a_response_cut_short_is_an_unknown_outcome_for_a_mutating_call() {
    let (url, accepted, server) = truncating_endpoint().await;
    let svc = ElastiCacheGrpc::new(static_client(&url), Duration::from_secs(10));
    let status = svc
        .handle(with_grpc_timeout(delete_cache_request(), "5S"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let details = assert_envelope(&status, "UPSTREAM_OUTCOME_UNKNOWN", FACADE_DOMAIN);
    assert_eq!(
        metadata(&details).get("outcome").map(String::as_str),
        Some("unknown")
    );
    assert!(details.retry_info().is_none());
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "never repeated");
    server.abort();
}

#[tokio::test]
async fn a_response_cut_short_on_a_describe_is_retried_then_unavailable() {
    let (url, accepted, server) = truncating_endpoint().await;
    let svc = ElastiCacheGrpc::new(static_client(&url), Duration::from_secs(10));
    let status = svc
        .handle(with_grpc_timeout(describe_snapshots_request(), "5S"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let details = status.get_error_details();
    assert!(details.retry_info().is_some(), "{status:?}");
    assert!(!metadata(&details).contains_key("outcome"));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        RetryPolicy::default().max_attempts as usize
    );
    server.abort();
}

#[tokio::test]
async fn an_error_without_any_code_is_internal_with_the_http_status() {
    let rule =
        mock!(aws_sdk_elasticache::Client::describe_serverless_caches).then_http_response(|| {
            HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from("<html>"))
        });
    let status = service(mocked(&[&rule]))
        .handle(request(describe_caches_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().domain, AWS_DOMAIN);
    assert_eq!(
        metadata(&details).get("http_status").map(String::as_str),
        Some("400")
    );
    assert!(details.retry_info().is_none());
}

#[tokio::test]
async fn an_unreadable_success_body_on_a_mutating_call_is_an_unknown_outcome() {
    let rule =
        mock!(aws_sdk_elasticache::Client::delete_serverless_cache).then_http_response(|| {
            HttpResponse::new(
                StatusCode::try_from(200).unwrap(),
                SdkBody::from("<DeleteServerlessCacheResponse><oops"),
            )
        });
    let status = service(mocked(&[&rule]))
        .handle(request(delete_cache_request()))
        .await
        .unwrap_err();
    // AWS answered 200: the deletion most likely happened, but the caller cannot know.
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(
        metadata(&details).get("outcome").map(String::as_str),
        Some("unknown"),
        "{status:?}"
    );
    assert!(
        !metadata(&details).contains_key("aws_error_code"),
        "AWS sent no error code: {status:?}"
    );
}

// Every served operation converted both ways with every member set, and every modelled fault
// of every served operation, generated from model/.
#[allow(deprecated)] // the fixtures set every member, deprecated ones too
mod generated {
    use super::*;

    include!("../generated/tests.rs");
}
