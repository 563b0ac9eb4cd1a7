//! Connect and gRPC-Web over HTTP/1.1 on the gRPC port (issue 22, part 2): what a browser on
//! plaintext and plain `curl` speak. Unary, `GET`, server streaming and gRPC-Web are served; plain
//! gRPC over HTTP/1.1 gets a readable 505; and HTTP/1.1 has the hardening HTTP/2 has: a request
//! head must arrive within the handshake timeout (an idle keep-alive connection is closed after
//! it), request heads are capped, bodies are bounded, the connection cap counts HTTP/1.1
//! connections, and SIGTERM drains HTTP/1.1 calls in flight.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use elasticache_grpc::emulator::{Emulator, EmulatorConfig, FaultKind};
use elasticache_grpc::pb;
use http::{Method, StatusCode, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use prost::Message as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::helpers::*;

const SERVICE: &str = "/elasticache.v1.ElastiCacheService";

type Body = BoxBody<Bytes, Infallible>;

/// One HTTP/1.1 connection to `addr` (hyper's client connection, nothing pooled: the test sees
/// exactly which connection carries what).
async fn connection(addr: SocketAddr) -> SendRequest<Body> {
    connection_and_task(addr).await.0
}

/// [`connection`], and the task that drives it: it ends when the connection is closed.
async fn connection_and_task(addr: SocketAddr) -> (SendRequest<Body>, JoinHandle<()>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    (sender, task)
}

/// One HTTP/1.1 answer.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    version: Version,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The decoded `debug` of the Connect error detail of `type_name`.
    fn detail(&self, type_name: &str) -> Value {
        detail_of(&self.json(), type_name)
    }
}

fn detail_of(error: &Value, type_name: &str) -> Value {
    error["details"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["type"] == type_name))
        .map(|d| d["debug"].clone())
        .unwrap_or_else(|| panic!("no {type_name} detail in {error}"))
}

/// Sends one request on `sender` and reads the whole answer.
async fn send(
    sender: &mut SendRequest<Body>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Answer {
    sender.ready().await.expect("the connection is open");
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = sender
        .send_request(request.body(body).unwrap())
        .await
        .expect("an HTTP/1.1 answer");
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

/// A body of unknown length: sent chunked, with no `content-length`.
fn chunked(body: impl Into<Bytes>) -> Body {
    let frame = hyper::body::Frame::data(body.into());
    StreamBody::new(futures_util::stream::iter([Ok::<_, Infallible>(frame)])).boxed()
}

/// A Connect unary `POST` of JSON on a new HTTP/1.1 connection.
async fn post_json(addr: SocketAddr, rpc: &str, body: Value) -> Answer {
    let mut c = connection(addr).await;
    send(
        &mut c,
        Method::POST,
        &format!("{SERVICE}/{rpc}"),
        &[("content-type", "application/json")],
        full(body.to_string()),
    )
    .await
}

/// Envelopes (Connect streaming, gRPC-Web): flags and bytes of each.
fn envelopes(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while body.len() >= 5 {
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        out.push((body[0], body[5..5 + len].to_vec()));
        body = &body[5 + len..];
    }
    assert!(body.is_empty(), "a partial envelope at the end: {body:?}");
    out
}

fn enveloped(flags: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

/// Writes `request` on a new TCP connection and reads until the server closes it.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// How long until the server closes `stream` (EOF or an error), at most `limit`.
async fn closed_after(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// Connect unary (`POST` JSON and binary), `GET`, an error with its decoded details, and a
/// Watch, all over HTTP/1.1 — the answers HTTP/1.1 too.
#[tokio::test]
async fn connect_unary_get_errors_and_watches_are_served_over_http1() {
    let app = spawn_app_with(|s| s.watch.poll_interval = Duration::from_millis(50)).await;
    let cache = unique("h1-cache");
    app.emulator.hold(&cache);

    let created = post_json(
        app.addr,
        "CreateServerlessCache",
        json!({ "serverlessCacheName": cache, "engine": "valkey" }),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    assert_eq!(created.version, Version::HTTP_11);
    assert_eq!(created.headers["content-type"], "application/json");
    assert!(created.headers.contains_key("x-request-id"));
    assert_eq!(created.json()["serverlessCache"]["status"], "creating");

    // GET, twice on one kept-alive connection.
    let mut c = connection(app.addr).await;
    let query = format!(
        "{SERVICE}/DescribeServerlessCaches?connect=v1&encoding=json&message={}",
        urlencode(&json!({ "serverlessCacheName": cache }).to_string())
    );
    for _ in 0..2 {
        let got = send(&mut c, Method::GET, &query, &[], full("")).await;
        assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
        assert_eq!(
            got.json()["serverlessCaches"][0]["serverlessCacheName"],
            cache.as_str()
        );
    }

    // Binary Connect on the same connection.
    let request = pb::DescribeServerlessCachesRequest {
        serverless_cache_name: Some(cache.clone()),
        ..Default::default()
    };
    let got = send(
        &mut c,
        Method::POST,
        &format!("{SERVICE}/DescribeServerlessCaches"),
        &[("content-type", "application/proto")],
        full(request.encode_to_vec()),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    let response = pb::DescribeServerlessCachesResponse::decode(&got.body[..]).unwrap();
    assert_eq!(response.serverless_caches.len(), 1);

    // An error keeps every detail, decoded.
    let missing = post_json(
        app.addr,
        "ExportServerlessCacheSnapshot",
        json!({ "serverlessCacheSnapshotName": "nope", "s3BucketName": "corp-cache-backups" }),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["code"], "not_found");
    assert_eq!(
        missing.detail("google.rpc.ErrorInfo")["reason"],
        "SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND"
    );
    assert_eq!(
        missing.detail("elasticache.v1.ServerlessCacheSnapshotNotFoundFault")["message"]
            .as_str()
            .map(|m| m.contains("nope")),
        Some(true)
    );

    // A Watch streams over HTTP/1.1 (chunked) until the cache settles.
    let emulator = app.emulator.clone();
    let held = cache.clone();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        emulator.release(&held);
    });
    let watched = send(
        &mut connection(app.addr).await,
        Method::POST,
        &format!("{SERVICE}/WatchServerlessCache"),
        &[("content-type", "application/connect+json")],
        full(enveloped(
            0,
            json!({ "serverlessCacheName": cache })
                .to_string()
                .as_bytes(),
        )),
    )
    .await;
    release.await.unwrap();
    assert_eq!(watched.status, StatusCode::OK);
    assert_eq!(watched.version, Version::HTTP_11);
    assert_eq!(watched.headers["content-type"], "application/connect+json");
    let seen: Vec<(u8, Value)> = envelopes(&watched.body)
        .into_iter()
        .map(|(flags, bytes)| (flags, serde_json::from_slice(&bytes).unwrap()))
        .collect();
    let statuses: Vec<_> = seen
        .iter()
        .map(|(flags, m)| (*flags, m["serverlessCache"]["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (0, json!("creating")),
            (0, json!("available")),
            (2, Value::Null)
        ]
    );
    assert_eq!(seen[2].1, json!({}));
}

/// gRPC-Web over HTTP/1.1: the message, then the trailers frame; an error's details in it.
#[tokio::test]
async fn grpc_web_is_served_over_http1() {
    let app = spawn_app().await;
    let mut c = connection(app.addr).await;
    let request = pb::DescribeServerlessCachesRequest::default();
    let got = send(
        &mut c,
        Method::POST,
        &format!("{SERVICE}/DescribeServerlessCaches"),
        &[
            ("content-type", "application/grpc-web+proto"),
            ("x-grpc-web", "1"),
        ],
        full(enveloped(0, &request.encode_to_vec())),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.version, Version::HTTP_11);
    let frames = envelopes(&got.body);
    pb::DescribeServerlessCachesResponse::decode(&frames[0].1[..]).expect("the message");
    let (flags, trailers) = frames.last().unwrap();
    assert_eq!(*flags, 0x80);
    let trailers = String::from_utf8_lossy(trailers);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    let missing = pb::ExportServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: "nope".into(),
        s3_bucket_name: "corp-cache-backups".into(),
    };
    let got = send(
        &mut c,
        Method::POST,
        &format!("{SERVICE}/ExportServerlessCacheSnapshot"),
        &[("content-type", "application/grpc-web+proto")],
        full(enveloped(0, &missing.encode_to_vec())),
    )
    .await;
    let mut metadata = got.headers.clone();
    for (_, frame) in envelopes(&got.body)
        .into_iter()
        .filter(|(flags, _)| flags & 0x80 != 0)
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

/// What the README shows: `curl -X POST -H 'content-type: application/json' -d …` with no
/// `--http2-prior-knowledge` is a plain HTTP/1.1 request; so is curl's `GET`.
#[tokio::test]
async fn a_plain_curl_request_is_answered() {
    let app = spawn_app().await;
    let body = r#"{"serverlessCacheName":"curl-demo","engine":"valkey"}"#;
    let answer = raw(
        app.addr,
        format!(
            "POST {SERVICE}/CreateServerlessCache HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: \
             curl/8.5.0\r\nAccept: */*\r\ncontent-type: application/json\r\nContent-Length: \
             {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains(r#""serverlessCacheName":"curl-demo""#),
        "{answer}"
    );

    let answer = raw(
        app.addr,
        format!(
            "GET {SERVICE}/DescribeServerlessCaches?connect=v1&encoding=json&message=%7B%7D \
             HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("curl-demo"), "{answer}");
    // HTTP/1.0 too (curl --http1.0).
    let answer = raw(
        app.addr,
        format!(
            "GET {SERVICE}/DescribeServerlessCaches?connect=v1&encoding=json&message=%7B%7D \
             HTTP/1.0\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.0 200 OK\r\n"), "{answer}");
}

/// Plain gRPC over HTTP/1.1 (a proxy that downgraded it, say) gets 505 with a gRPC status that
/// says why, its details and a request id; nothing reaches AWS.
#[tokio::test]
async fn plain_grpc_over_http1_gets_a_readable_505() {
    let app = spawn_app().await;
    for (path, content_type) in [
        (
            format!("{SERVICE}/DescribeServerlessCaches"),
            "application/grpc",
        ),
        (
            format!("{SERVICE}/CreateServerlessCache"),
            "application/grpc+proto",
        ),
        (
            "/grpc.health.v1.Health/Check".to_owned(),
            "application/grpc",
        ),
    ] {
        let got = send(
            &mut connection(app.addr).await,
            Method::POST,
            &path,
            &[("content-type", content_type), ("te", "trailers")],
            full(enveloped(0, &[])),
        )
        .await;
        assert_eq!(got.status, StatusCode::HTTP_VERSION_NOT_SUPPORTED, "{path}");
        assert_eq!(got.headers["grpc-status"], "12", "{path}");
        let status = tonic::Status::from_header_map(&got.headers).unwrap();
        assert!(
            status.message().contains("gRPC needs HTTP/2")
                && status.message().contains("HTTP/1.1")
                && status.message().contains("Connect")
                && status.message().contains("gRPC-Web"),
            "{}",
            status.message()
        );
        assert_eq!(reason(&status), "HTTP2_REQUIRED");
        let request_id = got.headers["x-request-id"].to_str().unwrap();
        assert_eq!(
            details(&status).request_info().unwrap().request_id,
            request_id
        );
    }
    assert_eq!(app.emulator.total_calls(), 0);
    // The same port still serves gRPC over HTTP/2.
    app.client
        .clone()
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
        .await
        .expect("gRPC over HTTP/2");
}

/// A request head must arrive within the handshake timeout: a client that sends half a head and
/// stops is closed then, and so is a kept-alive connection idle that long after its last answer.
/// A call that takes longer than the timeout is not cut by it.
#[tokio::test]
async fn http1_heads_must_arrive_within_the_handshake_timeout() {
    let timeout = Duration::from_millis(800);
    let app = spawn_app_with(|s| s.handshake_timeout = timeout).await;

    let mut half = TcpStream::connect(app.addr).await.unwrap();
    half.write_all(
        b"POST /elasticache.v1.ElastiCacheService/DescribeServerlessCaches HTTP/1.1\r\nHost: x\r\n",
    )
    .await
    .unwrap();
    // A socket that sends one byte of a method and stops is held by the sniffing, not hyper.
    let mut one_byte = TcpStream::connect(app.addr).await.unwrap();
    one_byte.write_all(b"G").await.unwrap();

    // A kept-alive connection: one request answered, then nothing.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(
        format!(
            "GET {SERVICE}/DescribeServerlessCaches?connect=v1&encoding=json&message=%7B%7D \
             HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    let answered = Instant::now();

    for (name, stream) in [("half a head", &mut half), ("one byte", &mut one_byte)] {
        let after = closed_after(stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{name}: never closed"));
        assert!(after < timeout * 3, "{name}: closed after {after:?}");
    }
    closed_after(&mut idle, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection is closed");
    let idle_for = answered.elapsed();
    assert!(
        idle_for >= timeout.mul_f32(0.9) && idle_for < timeout * 3,
        "idle keep-alive closed after {idle_for:?}"
    );

    // A slow call (the upstream takes twice the timeout) is answered on time, not cut.
    app.emulator.faults().inject(
        Some("DescribeServerlessCaches"),
        FaultKind::Delay(timeout * 2),
        1,
    );
    let got = post_json(app.addr, "DescribeServerlessCaches", json!({})).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
}

/// HTTP/1.1 request heads are capped at 16 KiB as HTTP/2 header lists are (431 beyond it), and
/// bodies over `max_message_bytes` are refused whether declared (`content-length`) or chunked,
/// over Connect and gRPC-Web alike; nothing reaches AWS.
#[tokio::test]
async fn http1_heads_and_bodies_are_bounded() {
    let app = spawn_app_with(|s| s.max_message_bytes = 2048).await;
    let path = format!("{SERVICE}/DescribeServerlessCaches");

    // 8 KiB of headers pass, 20 KiB do not.
    let fits = "a".repeat(8 << 10);
    let got = send(
        &mut connection(app.addr).await,
        Method::POST,
        &path,
        &[("content-type", "application/json"), ("x-padding", &fits)],
        full("{}"),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    let big = "a".repeat(20 << 10);
    let answer = raw(
        app.addr,
        format!("GET / HTTP/1.1\r\nHost: x\r\nx-padding: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 431 "),
        "{}",
        &answer[..answer.len().min(200)]
    );

    let upstream_calls = app.emulator.total_calls();
    let oversized = format!(r#"{{"serverlessCacheName":"{}"}}"#, "a".repeat(4096));
    for (name, body) in [
        ("declared", full(oversized.clone())),
        ("chunked", chunked(oversized.clone())),
    ] {
        let got = send(
            &mut connection(app.addr).await,
            Method::POST,
            &path,
            &[("content-type", "application/json")],
            body,
        )
        .await;
        assert_eq!(got.status, StatusCode::PAYLOAD_TOO_LARGE, "{name}");
        assert_eq!(got.json()["code"], "resource_exhausted", "{name}");
    }

    let request = pb::DescribeServerlessCachesRequest {
        serverless_cache_name: Some("a".repeat(4096)),
        ..Default::default()
    };
    let got = send(
        &mut connection(app.addr).await,
        Method::POST,
        &path,
        &[("content-type", "application/grpc-web+proto")],
        chunked(enveloped(0, &request.encode_to_vec())),
    )
    .await;
    let mut metadata = got.headers.clone();
    for (_, frame) in envelopes(&got.body) {
        for line in String::from_utf8_lossy(&frame).split("\r\n") {
            if let Some((name, value)) = line.split_once(':') {
                metadata.insert(
                    http::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                    value.trim().parse().unwrap(),
                );
            }
        }
    }
    let status = tonic::Status::from_header_map(&metadata).expect("a grpc-status");
    assert_eq!(
        status.code(),
        tonic::Code::ResourceExhausted,
        "{}",
        status.message()
    );
    assert_eq!(app.emulator.total_calls(), upstream_calls);
}

/// HTTP/1.1 connections count against `max_connections` as HTTP/2 ones do: with the cap held by
/// kept-alive HTTP/1.1 connections a new one is closed at once, and served once one goes.
#[tokio::test]
async fn http1_connections_count_against_the_connection_cap() {
    let app = spawn_app_with(|s| s.max_connections = 2).await;
    let describe =
        format!("{SERVICE}/DescribeServerlessCaches?connect=v1&encoding=json&message=%7B%7D");
    let mut first = connection(app.addr).await;
    let mut second = connection(app.addr).await;
    for c in [&mut first, &mut second] {
        let got = send(c, Method::GET, &describe, &[], full("")).await;
        assert_eq!(got.status, StatusCode::OK);
    }
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    let _ = third
        .write_all(format!("GET {describe} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await;
    let after = closed_after(&mut third, Duration::from_secs(3))
        .await
        .expect("over the cap: closed");
    assert!(after < Duration::from_secs(1), "{after:?}");
    let mut rest = Vec::new();
    let _ = third.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "no answer over the cap");

    // The kept-alive ones are still served; once one closes, a new connection is.
    let got = send(&mut first, Method::GET, &describe, &[], full("")).await;
    assert_eq!(got.status, StatusCode::OK);
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut c = TcpStream::connect(app.addr).await.unwrap();
        c.write_all(
            format!("GET {describe} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut answer = Vec::new();
        let _ = c.read_to_end(&mut answer).await;
        if answer.starts_with(b"HTTP/1.1 200 OK") {
            break;
        }
        // The server notices the closed connection when its task ends: moments, not seconds.
        assert!(Instant::now() < deadline, "a slot was never freed");
        tokio::task::yield_now().await;
    }
}

/// SIGTERM: an HTTP/1.1 call in flight is answered in full, an idle kept-alive HTTP/1.1
/// connection is closed, and the process exits within the drain delay and the call's time.
#[tokio::test]
async fn sigterm_drains_http1_calls_and_closes_idle_http1_connections() {
    let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), EmulatorConfig::default())
        .await
        .unwrap();
    let mut binary = Binary::spawn(
        Some(&emulator.endpoint_url()),
        &["--drain-delay-ms", "200", "--handshake-timeout-ms", "60000"],
        &[],
    );
    let describe =
        format!("{SERVICE}/DescribeServerlessCaches?connect=v1&encoding=json&message=%7B%7D");
    let (mut idle, idle_task) = connection_and_task(binary.addr).await;
    let got = send(&mut idle, Method::GET, &describe, &[], full("")).await;
    assert_eq!(got.status, StatusCode::OK);

    emulator.faults().inject(
        Some("DescribeServerlessCaches"),
        FaultKind::Delay(Duration::from_millis(800)),
        1,
    );
    let addr = binary.addr;
    let in_flight = tokio::spawn(async move {
        let mut c = connection(addr).await;
        send(
            &mut c,
            Method::POST,
            &format!("{SERVICE}/DescribeServerlessCaches"),
            &[("content-type", "application/json")],
            full(r#"{"maxResults": 20}"#),
        )
        .await
    });
    // The call is upstream once the emulator has seen it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while emulator.calls("DescribeServerlessCaches") < 2 {
        assert!(
            Instant::now() < deadline,
            "the call never reached the emulator"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    binary.terminate();
    // The idle connection is closed when the drain starts (after the 200 ms delay), while the
    // call is still upstream: not left to its 60 s timeout, nor to the end of the drain.
    let idle_closed = tokio::spawn(async move {
        idle_task.await.unwrap();
        Instant::now()
    });
    let answer = in_flight.await.unwrap();
    let answered = Instant::now();
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert!(answer.json().is_object(), "{:?}", answer.body);
    let idle_closed = idle_closed.await.unwrap();
    assert!(
        idle_closed < answered,
        "the idle connection closed {:?} after the call was answered",
        idle_closed - answered
    );
    let status = binary
        .wait(Duration::from_secs(5))
        .await
        .expect("the server exits");
    assert!(status.success(), "{status:?}");
    let took = started.elapsed();
    // The call (800 ms upstream) and the drain's 250 ms flush, with room for a loaded machine.
    assert!(took < Duration::from_millis(3000), "shutdown took {took:?}");
    emulator.shutdown();
}

/// Over TLS, ALPN offers `http/1.1` after `h2`: an HTTP/1.1-only client is served Connect.
#[tokio::test]
async fn connect_over_tls_is_served_to_an_http1_only_client() {
    use std::sync::Arc;
    use tokio_rustls::rustls;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = std::env::temp_dir().join(unique("ecgrpc-h1-tls"));
    std::fs::create_dir_all(&dir).unwrap();
    let tls = elasticache_grpc::config::TlsSettings {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        client_ca: None,
    };
    std::fs::write(&tls.cert, cert.pem()).unwrap();
    std::fs::write(&tls.key, key.serialize_pem()).unwrap();
    let app = spawn_app_with(|s| s.tls = Some(tls)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            TcpStream::connect(app.addr).await.unwrap(),
        )
        .await
        .expect("the TLS handshake agrees on http/1.1");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let got = send(
        &mut sender,
        Method::POST,
        &format!("{SERVICE}/DescribeServerlessCaches"),
        &[("content-type", "application/json")],
        full("{}"),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert_eq!(got.version, Version::HTTP_11);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Percent-encodes a query value (what `curl --data-urlencode` does).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
