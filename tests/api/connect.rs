//! The Connect protocol on the gRPC port, spoken as a Connect client does (HTTP/2, the requests
//! of the connectrpc.com spec), against the emulator.

use std::time::Duration;

use bytes::Bytes;
use elasticache_grpc::emulator::FaultKind;
use elasticache_grpc::pb;
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use prost::Message as _;
use serde_json::{Value, json};
use tonic::transport::Channel;
use tower::ServiceExt as _;

use elasticache_grpc::config::CallerConfig;

use crate::helpers::*;

const SERVICE: &str = "/elasticache.v1.ElastiCacheService";

/// One Connect answer: HTTP status, headers, body.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The `debug` of the detail of `type_name`.
    fn detail(&self, type_name: &str) -> Value {
        let json = self.json();
        json["details"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["type"] == type_name))
            .map(|d| d["debug"].clone())
            .unwrap_or_else(|| panic!("no {type_name} detail in {json}"))
    }
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let channel = Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", app.addr));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request = request.header("connect-protocol-version", "1");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(tonic::body::Body::new(http_body_util::Full::new(
            body.into(),
        )))
        .unwrap();
    let response = channel.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// A `POST` of `body` to `rpc` with `content_type`.
async fn post(
    app: &TestApp,
    rpc: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    send(
        app,
        Method::POST,
        &format!("{SERVICE}/{rpc}"),
        Some(content_type),
        headers,
        body,
    )
    .await
}

async fn post_json(app: &TestApp, rpc: &str, body: Value) -> Answer {
    post(app, rpc, "application/json", &[], body.to_string()).await
}

#[tokio::test]
async fn unary_json_calls_answer_canonical_json() {
    let mut app = spawn_app().await;
    let cache = unique("connect-cache");
    available_cache(&mut app, &cache).await;
    let answer = post_json(
        &app,
        "DescribeServerlessCaches",
        json!({ "serverlessCacheName": cache }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert!(answer.headers.contains_key("x-request-id"));
    let json = answer.json();
    assert_eq!(json["serverlessCaches"][0]["serverlessCacheName"], cache);
    assert_eq!(json["serverlessCaches"][0]["status"], "available");
    // Proto field names are accepted too, as the JSON mapping says.
    let answer = post_json(
        &app,
        "DescribeServerlessCaches",
        json!({ "serverless_cache_name": cache }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn unary_binary_calls_answer_the_proto_message() {
    let mut app = spawn_app().await;
    let cache = unique("connect-proto");
    available_cache(&mut app, &cache).await;
    let request = pb::DescribeServerlessCachesRequest {
        serverless_cache_name: Some(cache.clone()),
        ..Default::default()
    };
    let answer = post(
        &app,
        "DescribeServerlessCaches",
        "application/proto",
        &[],
        request.encode_to_vec(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/proto");
    let response = pb::DescribeServerlessCachesResponse::decode(answer.body).unwrap();
    assert_eq!(
        response.serverless_caches[0]
            .serverless_cache_name
            .as_deref(),
        Some(cache.as_str())
    );
}

#[tokio::test]
async fn get_serves_read_only_rpcs_and_refuses_mutating_ones() {
    let mut app = spawn_app().await;
    let cache = unique("connect-get");
    available_cache(&mut app, &cache).await;
    let message = format!("%7B%22serverlessCacheName%22%3A%22{cache}%22%7D");
    let answer = send(
        &app,
        Method::GET,
        &format!("{SERVICE}/DescribeServerlessCaches?connect=v1&encoding=json&message={message}"),
        None,
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(
        answer.json()["serverlessCaches"][0]["serverlessCacheName"],
        cache
    );

    let before = app.emulator.total_calls();
    let answer = send(
        &app,
        Method::GET,
        &format!("{SERVICE}/DeleteServerlessCache?connect=v1&encoding=json&message=%7B%7D"),
        None,
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.json()["code"], "unimplemented");
    assert_eq!(app.emulator.total_calls(), before);
}

#[tokio::test]
async fn errors_carry_every_detail_decoded_in_debug() {
    let app = spawn_app().await;
    // A missing snapshot: NOT_FOUND with ErrorInfo, RequestInfo, ResourceInfo and the typed fault.
    let answer = post_json(
        &app,
        "ExportServerlessCacheSnapshot",
        json!({ "serverlessCacheSnapshotName": "nope", "s3BucketName": "corp-cache-backups" }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let json = answer.json();
    assert_eq!(json["code"], "not_found");
    assert!(json["message"].as_str().unwrap().contains("nope"));
    let info = answer.detail("google.rpc.ErrorInfo");
    assert_eq!(info["reason"], "SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND");
    assert_eq!(
        info["metadata"]["operation"],
        "ExportServerlessCacheSnapshot"
    );
    assert_eq!(
        answer.detail("google.rpc.ResourceInfo")["resourceName"],
        "nope"
    );
    let request_id = answer.detail("google.rpc.RequestInfo")["requestId"].clone();
    assert_eq!(
        request_id,
        answer.headers["x-request-id"].to_str().unwrap(),
        "the detail and the header name the same request"
    );
    assert!(
        answer.detail("elasticache.v1.ServerlessCacheSnapshotNotFoundFault")["message"]
            .as_str()
            .is_some()
    );
    // Every detail also carries its bytes, base64.
    for detail in json["details"].as_array().unwrap() {
        assert!(!detail["value"].as_str().unwrap().is_empty(), "{detail}");
    }

    // A missing field: INVALID_ARGUMENT with a BadRequest naming it; nothing sent upstream.
    let answer = post_json(
        &app,
        "ExportServerlessCacheSnapshot",
        json!({ "serverlessCacheSnapshotName": "nope" }),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["code"], "invalid_argument");
    assert_eq!(
        answer.detail("google.rpc.BadRequest")["fieldViolations"][0]["field"],
        "s3_bucket_name"
    );
    assert_eq!(app.emulator.calls("ExportServerlessCacheSnapshot"), 1);

    // A throttled upstream: RESOURCE_EXHAUSTED with RetryInfo.
    app.emulator
        .faults()
        .inject_always(Some("DescribeServerlessCaches"), FaultKind::Throttle);
    let answer = post_json(&app, "DescribeServerlessCaches", json!({})).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.json()["code"], "resource_exhausted");
    assert!(
        answer.detail("google.rpc.RetryInfo")["retryDelay"]
            .as_str()
            .unwrap()
            .ends_with('s')
    );
}

#[tokio::test]
async fn malformed_json_is_invalid_argument_naming_the_field_and_never_sent() {
    let app = spawn_app().await;
    let cases = [
        (r#"{"maxResults":"many"}"#, "maxResults"),
        (r#"{"serverlessCacheName":7}"#, "serverlessCacheName"),
        (r#"{"noSuchField":1}"#, ""),
        ("{", ""),
        ("[]", ""),
    ];
    for (body, field) in cases {
        let answer = post(
            &app,
            "DescribeServerlessCaches",
            "application/json",
            &[],
            body,
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.json()["code"], "invalid_argument", "{body}");
        let violation = answer.detail("google.rpc.BadRequest")["fieldViolations"][0].clone();
        if !field.is_empty() {
            assert_eq!(violation["field"], field, "{body}");
        }
        assert!(answer.headers.contains_key("x-request-id"));
    }
    assert_eq!(app.emulator.total_calls(), 0);
}

#[tokio::test]
async fn connect_calls_are_authenticated_authorised_and_limited_like_grpc() {
    let app = spawn_app_with(|s| {
        s.callers = vec![CallerConfig {
            requests_per_second: Some(1),
            burst: Some(3),
            targets: Vec::new(),
            default_target: None,
            ..caller("reporting", "reporting-secret", &["Describe*"], &[])
        }];
    })
    .await;
    let call = |rpc: &'static str, token: Option<&'static str>| {
        let app = &app;
        async move {
            let auth = token.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> = auth
                .as_deref()
                .map(|a| vec![("authorization", a)])
                .unwrap_or_default();
            send(
                app,
                Method::POST,
                &format!("{SERVICE}/{rpc}"),
                Some("application/json"),
                &headers,
                "{}",
            )
            .await
        }
    };
    let answer = call("DescribeServerlessCaches", None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["code"], "unauthenticated");
    let answer = call("DeleteServerlessCache", Some("reporting-secret")).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["code"], "permission_denied");
    assert_eq!(app.emulator.total_calls(), 0, "nothing reached AWS");
    // Burst 3, one spent by the refused Delete: the third Describe at once is rate limited, as
    // over gRPC.
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(
            call("DescribeServerlessCaches", Some("reporting-secret"))
                .await
                .status,
        );
    }
    assert_eq!(
        codes,
        vec![
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn connect_timeout_is_the_deadline_and_oversized_bodies_are_refused() {
    let app = spawn_app_with(|s| s.max_message_bytes = 2048).await;
    app.emulator
        .faults()
        .inject_always(Some("DescribeServerlessCaches"), FaultKind::Hang);
    let started = std::time::Instant::now();
    let answer = post(
        &app,
        "DescribeServerlessCaches",
        "application/json",
        &[("connect-timeout-ms", "300")],
        "{}",
    )
    .await;
    let took = started.elapsed();
    assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(answer.json()["code"], "deadline_exceeded");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let answer = post(
        &app,
        "DescribeServerlessCaches",
        "application/json",
        &[("connect-timeout-ms", "soon")],
        "{}",
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);

    let big = format!(r#"{{"serverlessCacheName":"{}"}}"#, "a".repeat(4096));
    let answer = post(
        &app,
        "DescribeServerlessCaches",
        "application/json",
        &[],
        big,
    )
    .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json()["code"], "resource_exhausted");
}

/// A gRPC-Web body: each frame's flag and bytes (0x80 marks the trailers frame).
fn grpc_web_frames(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while body.len() >= 5 {
        let flag = body[0];
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        frames.push((flag, body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    frames
}

fn grpc_web_request(message: &impl prost::Message) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut framed = vec![0];
    framed.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    framed.extend_from_slice(&bytes);
    framed
}

#[tokio::test]
async fn grpc_web_calls_go_through_the_same_stack() {
    let mut app = spawn_app().await;
    let cache = unique("grpc-web");
    available_cache(&mut app, &cache).await;
    let request = pb::DescribeServerlessCachesRequest {
        serverless_cache_name: Some(cache.clone()),
        ..Default::default()
    };
    let answer = post(
        &app,
        "DescribeServerlessCaches",
        "application/grpc-web+proto",
        &[("x-grpc-web", "1")],
        grpc_web_request(&request),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/grpc-web")
    );
    let frames = grpc_web_frames(&answer.body);
    let response = pb::DescribeServerlessCachesResponse::decode(&frames[0].1[..]).unwrap();
    assert_eq!(
        response.serverless_caches[0]
            .serverless_cache_name
            .as_deref(),
        Some(cache.as_str())
    );
    let trailers = String::from_utf8(frames.last().unwrap().1.clone()).unwrap();
    assert_eq!(frames.last().unwrap().0, 0x80);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    // An error keeps its details: grpc-status-details-bin in the trailers (or headers).
    let missing = pb::ExportServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: "nope".into(),
        s3_bucket_name: "corp-cache-backups".into(),
    };
    let answer = post(
        &app,
        "ExportServerlessCacheSnapshot",
        "application/grpc-web+proto",
        &[],
        grpc_web_request(&missing),
    )
    .await;
    let mut metadata = answer.headers.clone();
    for (_, frame) in grpc_web_frames(&answer.body)
        .into_iter()
        .filter(|(flag, _)| flag & 0x80 != 0)
    {
        for line in String::from_utf8(frame).unwrap().split("\r\n") {
            if let Some((name, value)) = line.split_once(':') {
                metadata.insert(
                    http::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                    value.trim().parse().unwrap(),
                );
            }
        }
    }
    let status = tonic::Status::from_header_map(&metadata).expect("a grpc-status");
    assert_eq!(status.code(), tonic::Code::NotFound);
    assert_eq!(reason(&status), "SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND");
}

#[tokio::test]
async fn grpc_web_without_a_token_is_unauthenticated_and_never_sent() {
    let app = spawn_app_with(|s| {
        s.callers = vec![caller("reporting", "reporting-secret", &["Describe*"], &[])];
    })
    .await;
    let answer = post(
        &app,
        "DescribeServerlessCaches",
        "application/grpc-web+proto",
        &[],
        grpc_web_request(&pb::DescribeServerlessCachesRequest::default()),
    )
    .await;
    let grpc_status = answer
        .headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| {
            let frames = grpc_web_frames(&answer.body);
            String::from_utf8(frames.last().unwrap().1.clone()).unwrap()
        });
    assert!(grpc_status.contains("16"), "{grpc_status}");
    assert_eq!(app.emulator.total_calls(), 0);
}

#[tokio::test]
async fn cors_answers_allowed_origins_only() {
    let app = spawn_app_with(|s| {
        s.cors_allowed_origins = vec!["https://console.example.com".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            send(
                app,
                Method::OPTIONS,
                &format!("{SERVICE}/DescribeServerlessCaches"),
                None,
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "content-type,connect-protocol-version",
                    ),
                ],
                Bytes::new(),
            )
            .await
        }
    };
    let allowed = preflight("https://console.example.com").await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://console.example.com"
    );
    let denied = preflight("https://evil.example").await;
    assert!(
        !denied.headers.contains_key("access-control-allow-origin"),
        "{:?}",
        denied.headers
    );
    let call = post(
        &app,
        "DescribeServerlessCaches",
        "application/json",
        &[("origin", "https://console.example.com")],
        "{}",
    )
    .await;
    assert_eq!(call.status, StatusCode::OK);
    assert_eq!(
        call.headers["access-control-allow-origin"],
        "https://console.example.com"
    );
    let exposed = call.headers["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("grpc-status-details-bin"), "{exposed}");

    // Without configured origins, nobody gets CORS headers.
    let plain = spawn_app().await;
    let answer = post(
        &plain,
        "DescribeServerlessCaches",
        "application/json",
        &[("origin", "https://console.example.com")],
        "{}",
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
}

/// The envelopes of a Connect stream: flags and JSON.
fn envelopes(body: &[u8]) -> Vec<(u8, Value)> {
    grpc_web_frames(body)
        .into_iter()
        .map(|(flags, bytes)| (flags, serde_json::from_slice(&bytes).unwrap()))
        .collect()
}

fn enveloped(json: Value) -> Vec<u8> {
    let bytes = json.to_string().into_bytes();
    let mut out = vec![0];
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&bytes);
    out
}

#[tokio::test]
async fn watches_stream_over_connect_to_the_end_of_stream_message() {
    let mut app = spawn_app_with(|s| {
        s.watch.poll_interval = Duration::from_millis(50);
    })
    .await;
    let cache = unique("connect-watch");
    app.emulator.hold(&cache);
    app.client
        .create_serverless_cache(pb::CreateServerlessCacheRequest {
            serverless_cache_name: cache.clone(),
            engine: "valkey".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let emulator = app.emulator.clone();
    let held = cache.clone();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        emulator.release(&held);
    });
    let answer = post(
        &app,
        "WatchServerlessCache",
        "application/connect+json",
        &[],
        enveloped(json!({ "serverlessCacheName": cache })),
    )
    .await;
    release.await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/connect+json");
    let seen = envelopes(&answer.body);
    let events: Vec<_> = seen
        .iter()
        .map(|(flags, json)| {
            (
                *flags,
                json["event"].as_str().unwrap_or_default().to_owned(),
                json["serverlessCache"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            (0, "WATCH_EVENT_INITIAL".into(), "creating".into()),
            (0, "WATCH_EVENT_CHANGED".into(), "available".into()),
            (2, String::new(), String::new()),
        ]
    );
    assert_eq!(seen[2].1, json!({}), "the end of a stream that ended OK");

    // A missing cache: the end-of-stream message carries the NOT_FOUND with its details.
    let answer = post(
        &app,
        "WatchServerlessCache",
        "application/connect+json",
        &[],
        enveloped(json!({ "serverlessCacheName": "no-such-cache" })),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let seen = envelopes(&answer.body);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, 2);
    let error = &seen[0].1["error"];
    assert_eq!(error["code"], "not_found");
    let info = error["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["type"] == "google.rpc.ErrorInfo")
        .unwrap();
    assert_eq!(info["debug"]["reason"], "SERVERLESS_CACHE_NOT_FOUND");

    // A unary content type on a streaming RPC, and the other way round: 415.
    let answer = post_json(&app, "WatchServerlessCache", json!({})).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let answer = post(
        &app,
        "DescribeServerlessCaches",
        "application/connect+json",
        &[],
        enveloped(json!({})),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn grpc_web_text_and_a_disallowed_rpc_over_grpc_web() {
    use base64::Engine as _;
    let app = spawn_app_with(|s| {
        s.callers = vec![caller("reporting", "reporting-secret", &["Describe*"], &[])];
    })
    .await;
    let b64 = base64::engine::general_purpose::STANDARD;
    // grpc-web-text: the body is base64 both ways.
    let answer = post(
        &app,
        "DescribeServerlessCaches",
        "application/grpc-web-text",
        &[
            ("authorization", "Bearer reporting-secret"),
            ("accept", "application/grpc-web-text"),
        ],
        b64.encode(grpc_web_request(
            &pb::DescribeServerlessCachesRequest::default(),
        )),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers["content-type"], "application/grpc-web-text+proto",
        "{:?}",
        answer.body
    );
    // Each frame is base64 on its own (the spec lets a text body be several base64 runs).
    let text = String::from_utf8(answer.body.to_vec()).unwrap();
    let mut decoded = Vec::new();
    let mut run = String::new();
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        run.push(c);
        if run.len().is_multiple_of(4) && run.ends_with('=') {
            decoded.extend(b64.decode(&run).expect("base64"));
            run.clear();
        }
    }
    if !run.is_empty() {
        decoded.extend(b64.decode(&run).expect("base64"));
    }
    let frames = grpc_web_frames(&decoded);
    assert!(pb::DescribeServerlessCachesResponse::decode(&frames[0].1[..]).is_ok());
    assert!(
        String::from_utf8_lossy(&frames.last().unwrap().1).contains("grpc-status:0"),
        "{frames:?}"
    );
    // A mutating RPC the caller may not call: PERMISSION_DENIED, nothing sent.
    let answer = post(
        &app,
        "DeleteServerlessCache",
        "application/grpc-web+proto",
        &[("authorization", "Bearer reporting-secret")],
        grpc_web_request(&pb::DeleteServerlessCacheRequest {
            request_id: None,
            serverless_cache_name: "any".into(),
            final_snapshot_name: None,
        }),
    )
    .await;
    let status = answer
        .headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(status.as_deref(), Some("7"), "{:?}", answer.headers);
    assert_eq!(
        app.emulator.total_calls(),
        1,
        "only the Describe reached AWS"
    );
}

#[tokio::test]
async fn connect_calls_count_against_the_in_flight_cap() {
    let app = spawn_app_with(|s| s.max_concurrent_requests = 1).await;
    app.emulator.faults().inject_always(
        Some("DescribeServerlessCaches"),
        FaultKind::Delay(Duration::from_millis(1000)),
    );
    let held = {
        let mut client = app.client.clone();
        tokio::spawn(async move {
            client
                .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
                .await
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.emulator.calls("DescribeServerlessCaches") < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the held call never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answer = post_json(&app, "DescribeServerlessCaches", json!({ "maxResults": 3 })).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        answer.detail("google.rpc.ErrorInfo")["reason"],
        "OVERLOADED"
    );
    held.await.unwrap().unwrap();
}

#[tokio::test]
async fn request_ids_and_encodings_over_connect() {
    let app = spawn_app().await;
    // The caller's id is the call's id, in the header and the details.
    let answer = post(
        &app,
        "ExportServerlessCacheSnapshot",
        "application/json",
        &[("x-request-id", "my-id-42")],
        json!({ "serverlessCacheSnapshotName": "nope", "s3BucketName": "corp-cache-backups" })
            .to_string(),
    )
    .await;
    assert_eq!(answer.headers["x-request-id"], "my-id-42");
    assert_eq!(
        answer.detail("google.rpc.RequestInfo")["requestId"],
        "my-id-42"
    );
    // An unusable one is replaced, and the response says why, as over gRPC.
    let long = "x".repeat(200);
    let answer = post(
        &app,
        "DescribeServerlessCaches",
        "application/json",
        &[("x-request-id", long.as_str())],
        "{}",
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_ne!(answer.headers["x-request-id"], long.as_str());
    assert!(answer.headers.contains_key("x-request-id-replaced"));
    // A compressed body is refused as unimplemented, never parsed.
    let before = app.emulator.total_calls();
    let answer = post(
        &app,
        "DescribeServerlessCaches",
        "application/json",
        &[("content-encoding", "gzip")],
        "{}",
    )
    .await;
    assert_eq!(answer.json()["code"], "unimplemented");
    assert_eq!(
        answer.detail("google.rpc.ErrorInfo")["reason"],
        "UNSUPPORTED_ENCODING"
    );
    assert!(answer.headers.contains_key("x-request-id"));
    assert_eq!(app.emulator.total_calls(), before);
}
