//! The Connect protocol (connectrpc.com) for every RPC, and gRPC-Web (through `tonic-web`), on the
//! gRPC port. Connect, unary: `POST` with
//! `application/json` (canonical proto3 JSON) or `application/proto`, and `GET` for the read-only
//! RPCs (`?connect=v1&encoding=json&message=…`, `base64=1` for URL-safe base64); server
//! streaming (the Watch RPCs): `application/connect+json` or `+proto`, one enveloped request
//! message, the response messages enveloped as they come, then the end-of-stream message. All of
//! it over HTTP/2 and HTTP/1.1 alike; plain gRPC over HTTP/1.x is refused here (505,
//! `HTTP2_REQUIRED`), as it cannot carry gRPC's trailers.
//!
//! [`ConnectLayer`] is the outermost layer: it turns a Connect request into the gRPC request it
//! means (the message framed, `content-type: application/grpc`, `Connect-Timeout-Ms` as
//! `grpc-timeout`, every other header and the connection's extensions kept), sends it through the
//! whole inbound stack — metrics, request id, trace, authentication, rate limits, load shedding,
//! the handler — exactly as a gRPC call, and turns the gRPC answer back into Connect: the message
//! as JSON or binary, or a Connect error whose `details` carry every `google.rpc` and typed fault
//! detail as `type` + base64 `value`, with the decoded message in `debug`.
//!
//! JSON goes through `prost-reflect` over the descriptor set the server embeds for reflection: no
//! message is mapped by hand. Malformed JSON, wrong types and unknown fields are
//! `invalid_argument` with a `BadRequest` naming the field, and nothing is sent upstream.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use tokio::sync::Semaphore;
use tonic::{Code, Status};
use tower::{Layer, Service, ServiceExt as _};

use crate::methods::SERVICE_PREFIX;
use crate::refusal::Refusal;
use crate::status::{FACADE_DOMAIN, StatusBuilder};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Adds [`Connect`].
#[derive(Debug, Clone)]
pub struct ConnectLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Decoded on the first Connect call: an idle server need not hold it (DESIGN §9's idle RSS).
    pool: LazyLock<DescriptorPool>,
    max_message_bytes: usize,
    /// KiB of request bodies being buffered at once, all Connect calls together: the bodies are
    /// read before authentication, so what unauthenticated callers can make the server hold is
    /// bounded here.
    buffering: Arc<Semaphore>,
}

/// Request bytes all Connect calls may buffer at once, at least one largest message.
const BUFFER_BUDGET_BYTES: usize = 64 << 20;

/// How long a request body may take to arrive when the caller sets no `Connect-Timeout-Ms`.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

impl ConnectLayer {
    /// Connect for the RPCs of the embedded descriptor set; request bodies over
    /// `max_message_bytes` are refused.
    pub fn new(max_message_bytes: usize) -> anyhow::Result<Self> {
        let pool: LazyLock<DescriptorPool> = LazyLock::new(descriptor_pool);
        let budget_kib = BUFFER_BUDGET_BYTES.max(max_message_bytes).div_ceil(1024);
        Ok(Self {
            shared: Arc::new(Shared {
                pool,
                max_message_bytes,
                buffering: Arc::new(Semaphore::new(budget_kib.min(Semaphore::MAX_PERMITS))),
            }),
        })
    }
}

/// The embedded descriptor set (compact: no comments) and the `google.rpc` detail types; they
/// are compiled in, so they decode (`connect_pool_decodes` in the tests).
fn descriptor_pool() -> DescriptorPool {
    let mut pool = DescriptorPool::new();
    pool.decode_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET_COMPACT)
        .and_then(|()| pool.decode_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET))
        .expect("the embedded descriptor sets decode");
    pool
}

impl<S> Layer<S> for ConnectLayer {
    type Service = Connect<S>;
    fn layer(&self, inner: S) -> Connect<S> {
        Connect {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Serves Connect requests through `inner`, which speaks gRPC; everything else passes through.
#[derive(Debug, Clone)]
pub struct Connect<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// How the message is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Proto,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/json",
            Encoding::Proto => "application/proto",
        }
    }
}

/// The message of a `GET`, or the code and reason it cannot be used.
type QueryMessage = Result<Bytes, (Code, String)>;

/// A Connect unary request, recognised.
struct Call {
    /// The method, for the audit line of a mutating call refused here.
    rpc: Option<&'static crate::methods::Method>,
    input: MessageDescriptor,
    output: MessageDescriptor,
    encoding: Encoding,
    /// Connect's streaming protocol (enveloped messages, an end-of-stream message).
    streaming: bool,
    /// For `GET`: the message from the query, or why it cannot be read.
    query: Option<QueryMessage>,
}

impl<S, B> Service<http::Request<tonic::body::Body>> for Connect<S>
where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + std::fmt::Display,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let call = match self.shared.recognise(&request) {
            Recognised::No => {
                let future = self.inner.call(request);
                return Box::pin(async move { Ok(future.await?.map(tonic::body::Body::new)) });
            }
            Recognised::GrpcWeb => {
                // tonic-web translates gRPC-Web into gRPC and back, around the same stack.
                let future = tonic_web::GrpcWebLayer::new()
                    .layer(self.inner.clone())
                    .oneshot(request);
                return Box::pin(future);
            }
            Recognised::GrpcOverHttp1(version) => {
                // Refused before the stack: tonic would answer, but HTTP/1.1 cannot carry the
                // trailers a gRPC client waits for.
                let mut request = request;
                let (request_id, replaced) = request_id(request.headers_mut());
                let mut response: http::Response<tonic::body::Body> =
                    crate::refusal::refuse(Refusal::GrpcOverHttp1 { version }, &request);
                if let Ok(value) = HeaderValue::from_str(&request_id) {
                    response
                        .headers_mut()
                        .insert(crate::request_id::X_REQUEST_ID, value);
                }
                mark_replaced(&mut response, replaced);
                return Box::pin(async move { Ok(response) });
            }
            Recognised::Refused(code, message, reason, http_status) => {
                let mut request = request;
                let (request_id, replaced) = request_id(request.headers_mut());
                let status =
                    StatusBuilder::new(code, message, reason, FACADE_DOMAIN, &request_id).build();
                let rpc = crate::methods::rpc_of(request.uri().path());
                let mut response =
                    self.shared
                        .refused(&status, reason, Some(http_status), &request_id, rpc);
                mark_replaced(&mut response, replaced);
                return Box::pin(async move { Ok(response) });
            }
            Recognised::Yes(call) => call,
        };
        let inner = self.inner.clone();
        let shared = self.shared.clone();
        let (mut parts, body) = request.into_parts();
        let (request_id, replaced) = request_id(&mut parts.headers);
        Box::pin(async move {
            let mut response = shared.serve(inner, parts, body, call, &request_id).await;
            mark_replaced(&mut response, replaced);
            Ok(response)
        })
    }
}

enum Recognised {
    /// Not a Connect request: pass it on.
    No,
    /// A gRPC-Web request.
    GrpcWeb,
    /// Plain gRPC over HTTP/1.x (its version): refused with 505.
    GrpcOverHttp1(&'static str),
    /// A Connect request that cannot be served: answer this at once (code, message, reason).
    Refused(Code, String, &'static str, StatusCode),
    Yes(Call),
}

/// The media type without its parameters, lower case.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase(),
    )
}

impl Shared {
    fn recognise(&self, request: &http::Request<tonic::body::Body>) -> Recognised {
        let path = request.uri().path();
        if media_type(request.headers()).is_some_and(|t| t.starts_with("application/grpc-web")) {
            return Recognised::GrpcWeb;
        }
        if request.version() < http::Version::HTTP_2
            && request
                .headers()
                .get(CONTENT_TYPE)
                .is_some_and(crate::refusal::is_grpc_content_type)
        {
            let version = if request.version() == http::Version::HTTP_10 {
                "HTTP/1.0"
            } else {
                "HTTP/1.1"
            };
            return Recognised::GrpcOverHttp1(version);
        }
        let Some(name) = path.strip_prefix(SERVICE_PREFIX) else {
            return Recognised::No;
        };
        let (encoding, query, streaming) = match *request.method() {
            Method::POST => match media_type(request.headers()).as_deref() {
                Some("application/json") => (Encoding::Json, None, false),
                Some("application/proto") => (Encoding::Proto, None, false),
                Some("application/connect+json") => (Encoding::Json, None, true),
                Some("application/connect+proto") => (Encoding::Proto, None, true),
                _ => return Recognised::No,
            },
            Method::GET => match get_message(request.uri().query().unwrap_or_default()) {
                Some((encoding, message)) => (encoding, Some(message), false),
                None => return Recognised::No,
            },
            _ => return Recognised::No,
        };
        let method = self
            .pool
            .get_service_by_name(crate::pb::SERVICE_NAME)
            .and_then(|service| service.methods().find(|m| m.name() == name));
        let Some(method) = method else {
            return Recognised::Refused(
                Code::Unimplemented,
                format!("unknown RPC {name:?}"),
                "UNKNOWN_METHOD",
                StatusCode::NOT_FOUND,
            );
        };
        if method.is_client_streaming() || method.is_server_streaming() != streaming {
            let expected = if method.is_server_streaming() {
                "a streaming RPC: application/connect+json or application/connect+proto"
            } else {
                "a unary RPC: application/json or application/proto"
            };
            return Recognised::Refused(
                Code::Unimplemented,
                format!("{name} is {expected}"),
                "UNSUPPORTED_CONTENT_TYPE",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            );
        }
        let mutating = crate::methods::rpc_of(path).is_none_or(|m| m.mutating);
        if query.is_some() && mutating {
            return Recognised::Refused(
                Code::Unimplemented,
                format!("{name} changes state: call it with POST (GET is for read-only RPCs)"),
                "GET_NOT_ALLOWED",
                StatusCode::METHOD_NOT_ALLOWED,
            );
        }
        if let Some(coding) = request
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .filter(|c| !c.eq_ignore_ascii_case("identity"))
        {
            return Recognised::Refused(
                Code::Unimplemented,
                format!(
                    "content-encoding {coding:?} is not accepted: send the message uncompressed \
                     (identity)"
                ),
                "UNSUPPORTED_ENCODING",
                StatusCode::NOT_IMPLEMENTED,
            );
        }
        Recognised::Yes(Call {
            rpc: crate::methods::rpc_of(path),
            input: method.input(),
            output: method.output(),
            encoding,
            streaming,
            query,
        })
    }

    /// Serves one recognised Connect call through the gRPC stack; `request_id` is the call's id
    /// (the caller's, or one made here and set on `parts`).
    async fn serve<S, B>(
        self: Arc<Self>,
        inner: S,
        mut parts: http::request::Parts,
        body: tonic::body::Body,
        mut call: Call,
        request_id: &str,
    ) -> http::Response<tonic::body::Body>
    where
        S: Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<B>,
                Error = Infallible,
            >,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let request_id = request_id.to_owned();
        let encoding = call.encoding;
        let timeout = match connect_timeout(&parts.headers) {
            Ok(timeout) => timeout,
            Err(why) => {
                let status = bad_message(&request_id, "Connect-Timeout-Ms", why);
                return self.refused_in(&call, &status, "MALFORMED_MESSAGE", None, &request_id);
            }
        };
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|length| length > self.max_message_bytes) {
            let status = self.too_large(&request_id);
            return self.refused_in(
                &call,
                &status,
                "MESSAGE_TOO_LARGE",
                Some(StatusCode::PAYLOAD_TOO_LARGE),
                &request_id,
            );
        }
        // Room in the buffering budget for this body (its declared length, else the largest
        // message), taken before a byte is read and given back before the call goes on.
        let reserve = declared
            .unwrap_or(self.max_message_bytes)
            .div_ceil(1024)
            .max(1);
        let permit = u32::try_from(reserve)
            .ok()
            .and_then(|kib| self.buffering.clone().try_acquire_many_owned(kib).ok());
        let Some(permit) = permit else {
            let status = Refusal::Overloaded {
                limit: BUFFER_BUDGET_BYTES.max(self.max_message_bytes) >> 20,
            }
            .into_status(&request_id);
            return self.refused_in(&call, &status, "OVERLOADED", None, &request_id);
        };
        let payload = match call.query.take() {
            Some(Ok(message)) => message,
            Some(Err((Code::Unimplemented, why))) => {
                let status = StatusBuilder::new(
                    Code::Unimplemented,
                    why,
                    "UNSUPPORTED_ENCODING",
                    FACADE_DOMAIN,
                    &request_id,
                )
                .build();
                return self.refused_in(&call, &status, "UNSUPPORTED_ENCODING", None, &request_id);
            }
            Some(Err((_, why))) => {
                let status = bad_message(&request_id, "message", why);
                return self.refused_in(&call, &status, "MALFORMED_MESSAGE", None, &request_id);
            }
            None => match tokio::time::timeout(
                timeout.map_or(BODY_READ_TIMEOUT, Duration::from_millis),
                Limited::new(body, self.max_message_bytes).collect(),
            )
            .await
            {
                Err(_) => {
                    let status = StatusBuilder::new(
                        Code::DeadlineExceeded,
                        "the request body did not arrive in time",
                        "DEADLINE_EXCEEDED",
                        FACADE_DOMAIN,
                        &request_id,
                    )
                    .build();
                    return self.refused_in(&call, &status, "DEADLINE_EXCEEDED", None, &request_id);
                }
                Ok(Ok(collected)) => collected.to_bytes(),
                Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => {
                    let status = self.too_large(&request_id);
                    return self.refused_in(
                        &call,
                        &status,
                        "MESSAGE_TOO_LARGE",
                        Some(StatusCode::PAYLOAD_TOO_LARGE),
                        &request_id,
                    );
                }
                Ok(Err(err)) => {
                    let status = bad_message(&request_id, "", format!("unreadable body: {err}"));
                    return self.refused_in(&call, &status, "MALFORMED_MESSAGE", None, &request_id);
                }
            },
        };
        let payload = if call.streaming {
            match unenvelope(&payload) {
                Ok(message) => message,
                Err(why) => {
                    let status = bad_message(&request_id, "", why);
                    return self.refused_in(&call, &status, "MALFORMED_MESSAGE", None, &request_id);
                }
            }
        } else {
            payload
        };
        let message = match encoding {
            Encoding::Proto => payload,
            Encoding::Json => match json_to_proto(&call.input, &payload) {
                Ok(message) => message,
                Err((field, why)) => {
                    let status = bad_message(&request_id, &field, why);
                    return self.refused_in(&call, &status, "MALFORMED_MESSAGE", None, &request_id);
                }
            },
        };
        if message.len() > self.max_message_bytes {
            let status = self.too_large(&request_id);
            return self.refused_in(
                &call,
                &status,
                "MESSAGE_TOO_LARGE",
                Some(StatusCode::PAYLOAD_TOO_LARGE),
                &request_id,
            );
        }
        drop(permit);
        // The gRPC request this Connect request means.
        parts.method = Method::POST;
        parts.version = http::Version::HTTP_2;
        if let Ok(uri) = http::Uri::builder()
            .path_and_query(parts.uri.path())
            .build()
        {
            parts.uri = uri;
        }
        let headers = &mut parts.headers;
        for name in [
            "connect-protocol-version",
            "connect-timeout-ms",
            "content-encoding",
            "accept-encoding",
        ] {
            headers.remove(name);
        }
        // gRPC's own headers come from the translation, never from the caller.
        let caller_grpc: Vec<_> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("grpc-"))
            .cloned()
            .collect();
        for name in caller_grpc {
            headers.remove(name);
        }
        headers.remove(CONTENT_LENGTH);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        if let Some(value) = timeout.and_then(|ms| HeaderValue::from_str(&grpc_timeout(ms)).ok()) {
            headers.insert(crate::headers::GRPC_TIMEOUT, value);
        }
        let mut framed = BytesMut::with_capacity(5 + message.len());
        framed.put_u8(0);
        framed.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
        framed.put_slice(&message);
        let grpc =
            http::Request::from_parts(parts, tonic::body::Body::new(Full::new(framed.freeze())));
        let response = match inner.oneshot(grpc).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        if call.streaming {
            return self.answer_stream(encoding, call.output, response);
        }
        self.answer(encoding, &call.output, response, &request_id)
            .await
    }

    /// Turns the gRPC answer into the Connect one.
    async fn answer<B>(
        &self,
        encoding: Encoding,
        output: &MessageDescriptor,
        response: http::Response<B>,
        request_id: &str,
    ) -> http::Response<tonic::body::Body>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = response.into_parts();
        // Trailers-only: the status is in the headers and there is no body to read. An OK
        // without a message is not an answer to a unary call.
        if let Some(status) = Status::from_header_map(&parts.headers) {
            let status = if status.code() == Code::Ok {
                Status::internal("the call ended without a response message")
            } else {
                status
            };
            return self.error(&status, None, Some(&parts.headers));
        }
        let collected = match body.collect().await {
            Ok(collected) => collected,
            Err(_) => {
                let status = Status::unavailable("the response was cut off");
                return self.error(&status, None, Some(&parts.headers));
            }
        };
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let status = Status::from_header_map(&trailers)
            .unwrap_or_else(|| Status::unknown("the response carried no grpc-status"));
        if status.code() != Code::Ok {
            return self.error(&status, None, Some(&parts.headers));
        }
        let data = collected.to_bytes();
        let Some(message) = unframe(&data) else {
            let status = Status::internal("the response was not one gRPC message");
            return self.error(&status, None, Some(&parts.headers));
        };
        let body = match encoding {
            Encoding::Proto => message,
            Encoding::Json => match proto_to_json(output, &message) {
                Some(json) => json,
                None => {
                    let status = StatusBuilder::new(
                        Code::Internal,
                        "the response could not be written as JSON",
                        "INTERNAL",
                        FACADE_DOMAIN,
                        request_id,
                    )
                    .build();
                    return self.error(&status, None, Some(&parts.headers));
                }
            },
        };
        let mut answer = http::Response::new(tonic::body::Body::new(Full::new(body)));
        copy_metadata(&parts.headers, answer.headers_mut());
        answer.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(encoding.content_type()),
        );
        answer
    }

    /// A Connect error: JSON `{code, message, details}` with the HTTP status of the Connect
    /// spec's table (or `http_status`), the response metadata of `headers` kept.
    fn error(
        &self,
        status: &Status,
        http_status: Option<StatusCode>,
        headers: Option<&HeaderMap>,
    ) -> http::Response<tonic::body::Body> {
        let (_, table_status) = connect_code(status.code());
        let bytes = serde_json::to_vec(&self.error_json(status)).unwrap_or_default();
        let mut response =
            http::Response::new(tonic::body::Body::new(Full::new(Bytes::from(bytes))));
        *response.status_mut() = http_status.unwrap_or(table_status);
        if let Some(headers) = headers {
            copy_metadata(headers, response.headers_mut());
        }
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    /// RESOURCE_EXHAUSTED `MESSAGE_TOO_LARGE`, as gRPC answers a message over the limit.
    fn too_large(&self, request_id: &str) -> Status {
        StatusBuilder::new(
            Code::ResourceExhausted,
            format!(
                "the request is larger than this server's max_message_bytes ({})",
                self.max_message_bytes
            ),
            "MESSAGE_TOO_LARGE",
            FACADE_DOMAIN,
            request_id,
        )
        .build()
    }

    /// A Connect error's JSON: `code`, `message`, `details`.
    fn error_json(&self, status: &Status) -> serde_json::Map<String, serde_json::Value> {
        let mut body = serde_json::Map::new();
        body.insert("code".into(), connect_code(status.code()).0.into());
        if !status.message().is_empty() {
            body.insert("message".into(), status.message().into());
        }
        let details = self.details(status);
        if !details.is_empty() {
            body.insert("details".into(), details.into());
        }
        body
    }

    /// [`Shared::error`] for a refusal made here, before the gRPC stack: it carries the request
    /// id, as the stack's answers do, is counted (`elasticache_refusals_total{reason}`) and, for a
    /// mutating RPC, written to the audit log like every refused mutating call.
    fn refused(
        &self,
        status: &Status,
        reason: &'static str,
        http_status: Option<StatusCode>,
        request_id: &str,
        rpc: Option<&'static crate::methods::Method>,
    ) -> http::Response<tonic::body::Body> {
        note_refusal(status, reason, request_id, rpc);
        let mut response = self.error(status, http_status, None);
        if let Ok(value) = HeaderValue::from_str(request_id) {
            response
                .headers_mut()
                .insert(crate::request_id::X_REQUEST_ID, value);
        }
        response
    }

    /// A refusal made here, for a unary call ([`Shared::refused`]) or a streaming one (the
    /// end-of-stream message).
    fn refused_in(
        &self,
        call: &Call,
        status: &Status,
        reason: &'static str,
        http_status: Option<StatusCode>,
        request_id: &str,
    ) -> http::Response<tonic::body::Body> {
        if !call.streaming {
            return self.refused(status, reason, http_status, request_id, call.rpc);
        }
        note_refusal(status, reason, request_id, call.rpc);
        let end = envelope(END_STREAM, &self.end_stream(Some(status)));
        let mut response = http::Response::new(tonic::body::Body::new(Full::new(end)));
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(streaming_content_type(call.encoding)),
        );
        if let Ok(value) = HeaderValue::from_str(request_id) {
            response
                .headers_mut()
                .insert(crate::request_id::X_REQUEST_ID, value);
        }
        response
    }

    /// The end-of-stream message: `{}`, or `{"error": {…}}` as a unary error's body.
    fn end_stream(&self, status: Option<&Status>) -> Bytes {
        let mut end = serde_json::Map::new();
        if let Some(status) = status.filter(|s| s.code() != Code::Ok) {
            end.insert("error".into(), self.error_json(status).into());
        }
        Bytes::from(serde_json::to_vec(&end).unwrap_or_default())
    }

    /// The gRPC answer of a server-streaming call as a Connect stream: each message enveloped as
    /// it arrives, then the end-of-stream message with the status.
    fn answer_stream<B>(
        self: &Arc<Self>,
        encoding: Encoding,
        output: MessageDescriptor,
        response: http::Response<B>,
    ) -> http::Response<tonic::body::Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = response.into_parts();
        let trailers_only = Status::from_header_map(&parts.headers);
        let shared = self.clone();
        let state = Relay {
            body: Box::pin(body),
            buffer: BytesMut::new(),
            ended: false,
            trailers_only,
        };
        let frames = futures_util::stream::unfold(state, move |mut relay| {
            let shared = shared.clone();
            let output = output.clone();
            async move {
                let data = relay.next(&shared, encoding, &output).await?;
                Some((Ok::<_, Infallible>(http_body::Frame::data(data)), relay))
            }
        });
        let mut answer = http::Response::new(tonic::body::Body::new(
            http_body_util::StreamBody::new(frames),
        ));
        copy_metadata(&parts.headers, answer.headers_mut());
        answer.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(streaming_content_type(encoding)),
        );
        answer
    }

    /// Each detail of the status: `type`, base64 `value`, and the decoded message as `debug`.
    fn details(&self, status: &Status) -> Vec<serde_json::Value> {
        let Ok(rpc) = tonic_types::pb::Status::decode(status.details()) else {
            return Vec::new();
        };
        rpc.details
            .into_iter()
            .map(|any| {
                let type_name = any
                    .type_url
                    .rsplit_once('/')
                    .map_or(any.type_url.as_str(), |(_, name)| name)
                    .to_owned();
                let mut detail = serde_json::Map::new();
                detail.insert("type".into(), type_name.clone().into());
                detail.insert("value".into(), STANDARD_NO_PAD.encode(&any.value).into());
                let debug = self
                    .pool
                    .get_message_by_name(&type_name)
                    .and_then(|desc| DynamicMessage::decode(desc, any.value.as_slice()).ok())
                    .and_then(|message| {
                        message
                            .serialize_with_options(
                                serde_json::value::Serializer,
                                &SerializeOptions::new(),
                            )
                            .ok()
                    });
                if let Some(debug) = debug {
                    detail.insert("debug".into(), debug);
                }
                serde_json::Value::Object(detail)
            })
            .collect()
    }
}

/// The Connect code name and HTTP status of a gRPC code (the Connect protocol's table).
fn connect_code(code: Code) -> (&'static str, StatusCode) {
    match code {
        Code::Ok => ("ok", StatusCode::OK),
        Code::Cancelled => (
            "canceled",
            StatusCode::from_u16(499).unwrap_or(StatusCode::REQUEST_TIMEOUT),
        ),
        Code::Unknown => ("unknown", StatusCode::INTERNAL_SERVER_ERROR),
        Code::InvalidArgument => ("invalid_argument", StatusCode::BAD_REQUEST),
        Code::DeadlineExceeded => ("deadline_exceeded", StatusCode::GATEWAY_TIMEOUT),
        Code::NotFound => ("not_found", StatusCode::NOT_FOUND),
        Code::AlreadyExists => ("already_exists", StatusCode::CONFLICT),
        Code::PermissionDenied => ("permission_denied", StatusCode::FORBIDDEN),
        Code::ResourceExhausted => ("resource_exhausted", StatusCode::TOO_MANY_REQUESTS),
        Code::FailedPrecondition => ("failed_precondition", StatusCode::BAD_REQUEST),
        Code::Aborted => ("aborted", StatusCode::CONFLICT),
        Code::OutOfRange => ("out_of_range", StatusCode::BAD_REQUEST),
        Code::Unimplemented => ("unimplemented", StatusCode::NOT_IMPLEMENTED),
        Code::Internal => ("internal", StatusCode::INTERNAL_SERVER_ERROR),
        Code::Unavailable => ("unavailable", StatusCode::SERVICE_UNAVAILABLE),
        Code::DataLoss => ("data_loss", StatusCode::INTERNAL_SERVER_ERROR),
        Code::Unauthenticated => ("unauthenticated", StatusCode::UNAUTHORIZED),
    }
}

/// Response metadata worth keeping (the request id and the like): not gRPC's own headers.
fn copy_metadata(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let name_str = name.as_str();
        if name_str.starts_with("grpc-") || name == CONTENT_TYPE || name == CONTENT_LENGTH {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

/// INVALID_ARGUMENT `MALFORMED_MESSAGE` with a `BadRequest` on `field`.
fn bad_message(request_id: &str, field: &str, why: impl Into<String>) -> Status {
    let why = why.into();
    StatusBuilder::new(
        Code::InvalidArgument,
        if field.is_empty() {
            format!("invalid request: {why}")
        } else {
            format!("invalid request: {field}: {why}")
        },
        "MALFORMED_MESSAGE",
        FACADE_DOMAIN,
        request_id,
    )
    .details(|d| {
        d.add_bad_request_violation(field, why);
    })
    .build()
}

/// The caller's request id when usable, else a new one (and why the caller's was not used), set
/// on the request so that the gRPC stack and every refusal made here carry the same id.
fn request_id(headers: &mut HeaderMap) -> (String, Option<&'static str>) {
    let replaced = match headers.get(crate::request_id::X_REQUEST_ID) {
        Some(value) => match crate::request_id::unusable(value) {
            None => return (value.to_str().unwrap_or_default().to_owned(), None),
            Some(why) => Some(why),
        },
        None => None,
    };
    let id = uuid::Uuid::new_v4().to_string();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(crate::request_id::X_REQUEST_ID, value);
    }
    (id, replaced)
}

/// Says on the response why the caller's request id was replaced, as the gRPC path does.
fn mark_replaced(response: &mut http::Response<tonic::body::Body>, replaced: Option<&'static str>) {
    if let Some(why) = replaced {
        response.headers_mut().insert(
            crate::request_id::X_REQUEST_ID_REPLACED,
            HeaderValue::from_static(why),
        );
    }
}

/// Counts a refusal made here and writes the audit line of a refused mutating call.
fn note_refusal(
    status: &Status,
    reason: &'static str,
    request_id: &str,
    rpc: Option<&'static crate::methods::Method>,
) {
    if reason != "OVERLOADED" {
        // OVERLOADED was counted when its status was made.
        crate::metrics::refusal(reason);
    }
    if let Some(rpc) = rpc.filter(|m| m.mutating) {
        crate::audit::Audit::unread(None, rpc.name, request_id).status(status);
    }
}

/// Canonical proto3 JSON to the message's binary form; on error the field path and why.
fn json_to_proto(input: &MessageDescriptor, json: &[u8]) -> Result<Bytes, (String, String)> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let mut track = serde_path_to_error::Track::new();
    let message = DynamicMessage::deserialize(
        input.clone(),
        serde_path_to_error::Deserializer::new(&mut deserializer, &mut track),
    )
    .map_err(|err| (json_path(&track.path()), err.to_string()))?;
    deserializer
        .end()
        .map_err(|err| (String::new(), err.to_string()))?;
    Ok(Bytes::from(message.encode_to_vec()))
}

/// `a.b[2]` from serde's path, `` for the message itself.
fn json_path(path: &serde_path_to_error::Path) -> String {
    let path = path.to_string();
    if path == "." { String::new() } else { path }
}

/// The message as canonical proto3 JSON.
fn proto_to_json(output: &MessageDescriptor, message: &[u8]) -> Option<Bytes> {
    let message = DynamicMessage::decode(output.clone(), message).ok()?;
    let mut json = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut json);
    message
        .serialize_with_options(&mut serializer, &SerializeOptions::new())
        .ok()?;
    Some(Bytes::from(json))
}

/// The flag of Connect's end-of-stream message.
const END_STREAM: u8 = 0b10;

fn streaming_content_type(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Json => "application/connect+json",
        Encoding::Proto => "application/connect+proto",
    }
}

/// One Connect envelope: flags, big-endian length, bytes.
fn envelope(flags: u8, message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(flags);
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

/// The one message of a server-streaming call's request: a single uncompressed envelope.
fn unenvelope(body: &[u8]) -> Result<Bytes, String> {
    let (&flags, rest) = body
        .split_first()
        .ok_or("an empty body: the request is one enveloped message")?;
    if flags & 0b1 != 0 {
        return Err("compressed messages are not accepted".to_owned());
    }
    if rest.len() < 4 {
        return Err("a truncated envelope".to_owned());
    }
    let (length, message) = rest.split_at(4);
    let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
    if message.len() != length {
        return Err(format!(
            "the envelope says {length} bytes and {} follow: one message is expected",
            message.len()
        ));
    }
    Ok(Bytes::copy_from_slice(message))
}

/// Relays a gRPC response body as Connect envelopes.
struct Relay<B> {
    body: Pin<Box<B>>,
    buffer: BytesMut,
    ended: bool,
    /// The status of a trailers-only response (no body follows).
    trailers_only: Option<Status>,
}

impl<B> Relay<B>
where
    B: http_body::Body<Data = Bytes>,
{
    /// The next envelope to send; `None` after the end-of-stream message.
    async fn next(
        &mut self,
        shared: &Shared,
        encoding: Encoding,
        output: &MessageDescriptor,
    ) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        if let Some(status) = self.trailers_only.take() {
            self.ended = true;
            return Some(envelope(END_STREAM, &shared.end_stream(Some(&status))));
        }
        loop {
            if let Some(message) = take_grpc_frame(&mut self.buffer) {
                let message = match (encoding, message) {
                    (_, Err(why)) => {
                        self.ended = true;
                        let status = Status::internal(why);
                        return Some(envelope(END_STREAM, &shared.end_stream(Some(&status))));
                    }
                    (Encoding::Proto, Ok(message)) => message,
                    (Encoding::Json, Ok(message)) => match proto_to_json(output, &message) {
                        Some(json) => json,
                        None => {
                            self.ended = true;
                            let status = Status::internal("a message could not be written as JSON");
                            return Some(envelope(END_STREAM, &shared.end_stream(Some(&status))));
                        }
                    },
                };
                return Some(envelope(0, &message));
            }
            let status = match self.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        self.buffer.extend_from_slice(&data);
                        continue;
                    }
                    Err(frame) => match frame.into_trailers() {
                        Ok(trailers) => Status::from_header_map(&trailers).unwrap_or_else(|| {
                            Status::unknown("the stream ended without a status")
                        }),
                        Err(_) => continue,
                    },
                },
                Some(Err(_)) => Status::unavailable("the stream was cut off"),
                None => Status::unknown("the stream ended without a status"),
            };
            self.ended = true;
            return Some(envelope(END_STREAM, &shared.end_stream(Some(&status))));
        }
    }
}

/// Takes one complete gRPC frame off `buffer`, if there is one.
fn take_grpc_frame(buffer: &mut BytesMut) -> Option<Result<Bytes, String>> {
    if buffer.len() < 5 {
        return None;
    }
    if buffer[0] != 0 {
        return Some(Err("a compressed message in the response".to_owned()));
    }
    let length = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if buffer.len() < 5 + length {
        return None;
    }
    let frame = buffer.split_to(5 + length).freeze();
    Some(Ok(frame.slice(5..)))
}

/// The one uncompressed message of a gRPC body.
fn unframe(data: &[u8]) -> Option<Bytes> {
    let (&flag, rest) = data.split_first()?;
    if flag != 0 || rest.len() < 4 {
        return None;
    }
    let (length, message) = rest.split_at(4);
    let length = u32::from_be_bytes(length.try_into().ok()?) as usize;
    (message.len() == length).then(|| Bytes::copy_from_slice(message))
}

/// `Connect-Timeout-Ms`: at most 10 digits.
fn connect_timeout(headers: &HeaderMap) -> Result<Option<u64>, String> {
    let Some(value) = headers.get("connect-timeout-ms") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default();
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{text:?} is not a timeout: at most 10 digits, in milliseconds"
        ));
    }
    Ok(text.parse().ok())
}

/// The raw bytes of the query parameter `key`, percent-decoded (`+` is a space) but not read as
/// UTF-8: a binary message without base64 arrives as it was sent.
fn query_bytes(query: &str, key: &str) -> Vec<u8> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, value)| {
            let value = value.replace('+', " ");
            percent_encoding::percent_decode_str(&value).collect()
        })
        .unwrap_or_default()
}

/// `grpc-timeout` for `ms` milliseconds: at most 8 digits, so whole seconds past 99,999,999 ms.
fn grpc_timeout(ms: u64) -> String {
    if ms <= 99_999_999 {
        format!("{ms}m")
    } else {
        format!("{}S", ms / 1000)
    }
}

/// The message of a Connect `GET` (`connect=v1&encoding=json|proto&message=…[&base64=1]`), or
/// `None` when the query is not one.
fn get_message(query: &str) -> Option<(Encoding, QueryMessage)> {
    let mut encoding = None;
    let mut message = None;
    let mut base64 = false;
    let mut compression = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "encoding" => {
                encoding = match &*value {
                    "json" => Some(Encoding::Json),
                    "proto" => Some(Encoding::Proto),
                    _ => return None,
                }
            }
            "message" => message = Some(query_bytes(query, "message")),
            "base64" => base64 = value == "1",
            "compression" => compression = Some(value.into_owned()),
            _ => {}
        }
    }
    let encoding = encoding?;
    if compression.as_deref().is_some_and(|c| c != "identity") {
        return Some((
            encoding,
            Err((
                Code::Unimplemented,
                "compressed messages are not accepted (compression=identity only)".to_owned(),
            )),
        ));
    }
    let message = message.unwrap_or_default();
    let bytes = if base64 {
        let text = String::from_utf8_lossy(&message);
        let trimmed = text.trim_end_matches('=');
        URL_SAFE_NO_PAD
            .decode(trimmed)
            .or_else(|_| URL_SAFE.decode(text.as_bytes()))
            .map(Bytes::from)
            .map_err(|err| (Code::InvalidArgument, format!("not URL-safe base64: {err}")))
    } else {
        Ok(Bytes::from(message))
    };
    Some((encoding, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_queries_are_read_as_the_spec_says() {
        let (encoding, message) =
            get_message("connect=v1&encoding=json&message=%7B%22maxResults%22%3A5%7D").unwrap();
        assert_eq!(encoding, Encoding::Json);
        assert_eq!(&message.unwrap()[..], br#"{"maxResults":5}"#);
        let (encoding, message) = get_message("encoding=proto&base64=1&message=EAU").unwrap();
        assert_eq!(encoding, Encoding::Proto);
        assert_eq!(&message.unwrap()[..], &[0x10, 0x05]);
        assert!(
            get_message("message=x").is_none(),
            "no encoding: not Connect"
        );
        // Binary proto without base64 arrives byte for byte, not through UTF-8.
        let (_, message) = get_message("encoding=proto&message=%FF%00%10").unwrap();
        assert_eq!(&message.unwrap()[..], &[0xff, 0x00, 0x10]);
        assert_eq!(query_bytes("a=1&message=x+y%21", "message"), b"x y!");
        assert!(get_message("encoding=xml&message=x").is_none());
        assert!(
            get_message("encoding=json&compression=gzip&message=x")
                .unwrap()
                .1
                .is_err()
        );
        assert!(
            get_message("encoding=proto&base64=1&message=***")
                .unwrap()
                .1
                .is_err()
        );
    }

    #[test]
    fn envelopes_and_frames_are_read_whole_or_refused() {
        let one = envelope(0, b"{}");
        assert_eq!(unenvelope(&one).unwrap(), Bytes::from_static(b"{}"));
        assert!(unenvelope(b"").is_err());
        assert!(unenvelope(&[1, 0, 0, 0, 0]).is_err(), "compressed");
        assert!(unenvelope(&[0, 0, 0]).is_err(), "truncated");
        assert!(unenvelope(&[0, 0, 0, 0, 5, b'x']).is_err(), "short");
        let mut two = BytesMut::new();
        two.extend_from_slice(&envelope(0, b"ab"));
        two.extend_from_slice(&envelope(0, b"c")[..3]);
        assert_eq!(
            take_grpc_frame(&mut two),
            Some(Ok(Bytes::from_static(b"ab")))
        );
        assert_eq!(take_grpc_frame(&mut two), None, "waits for the rest");
        two.extend_from_slice(&[0, 1, b'c']);
        assert_eq!(
            take_grpc_frame(&mut two),
            Some(Ok(Bytes::from_static(b"c")))
        );
        let mut compressed = BytesMut::from(&[1u8, 0, 0, 0, 0][..]);
        assert!(matches!(take_grpc_frame(&mut compressed), Some(Err(_))));
    }

    #[test]
    fn connect_pool_decodes() {
        // Decoded on the first call, so a bad embedded set would only show then: here.
        let pool = descriptor_pool();
        assert!(pool.get_service_by_name(crate::pb::SERVICE_NAME).is_some());
        assert!(pool.get_message_by_name("google.rpc.BadRequest").is_some());
    }

    #[test]
    fn long_timeouts_fit_grpc_timeouts_eight_digits() {
        assert_eq!(grpc_timeout(1500), "1500m");
        assert_eq!(grpc_timeout(99_999_999), "99999999m");
        assert_eq!(grpc_timeout(9_999_999_999), "9999999S");
    }

    #[test]
    fn timeouts_are_at_most_ten_digits() {
        let mut headers = HeaderMap::new();
        assert_eq!(connect_timeout(&headers), Ok(None));
        headers.insert("connect-timeout-ms", HeaderValue::from_static("1500"));
        assert_eq!(connect_timeout(&headers), Ok(Some(1500)));
        for bad in ["", "-1", "1.5", "12345678901", "abc"] {
            headers.insert("connect-timeout-ms", HeaderValue::from_str(bad).unwrap());
            assert!(connect_timeout(&headers).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        let layer = ConnectLayer::new(1 << 20).unwrap();
        let input = layer
            .shared
            .pool
            .get_message_by_name("elasticache.v1.DescribeServerlessCachesRequest")
            .unwrap();
        let (field, why) = json_to_proto(&input, br#"{"maxResults":"many"}"#).unwrap_err();
        assert_eq!(field, "maxResults");
        assert!(!why.is_empty());
        let (field, _) = json_to_proto(&input, br#"{"bogus":1}"#).unwrap_err();
        assert!(field.is_empty() || field == "bogus", "{field}");
        assert!(json_to_proto(&input, b"{").is_err());
        assert!(json_to_proto(&input, b"{} trailing").is_err());
        let ok = json_to_proto(&input, br#"{"serverlessCacheName":"a","max_results":3}"#).unwrap();
        let decoded = crate::pb::DescribeServerlessCachesRequest::decode(ok).unwrap();
        assert_eq!(decoded.serverless_cache_name.as_deref(), Some("a"));
        assert_eq!(decoded.max_results, Some(3));
    }

    #[test]
    fn every_code_has_the_connect_name_and_http_status_of_the_spec() {
        assert_eq!(
            connect_code(Code::NotFound),
            ("not_found", StatusCode::NOT_FOUND)
        );
        assert_eq!(
            connect_code(Code::ResourceExhausted),
            ("resource_exhausted", StatusCode::TOO_MANY_REQUESTS)
        );
        assert_eq!(connect_code(Code::Cancelled).1.as_u16(), 499);
        assert_eq!(
            connect_code(Code::Unauthenticated),
            ("unauthenticated", StatusCode::UNAUTHORIZED)
        );
    }
}
