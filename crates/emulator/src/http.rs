//! HTTP helpers shared by the AWS side and the control surface: bounded bodies, plain-text
//! answers, and the error that drops a connection.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::error::{ApiError, Fault};

/// Every response the emulator writes.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// Largest request body accepted; ElastiCache requests are a few hundred bytes.
pub(crate) const MAX_BODY: usize = 1024 * 1024;

/// The error that makes hyper close a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the emulator")]
pub(crate) struct ConnectionDropped;

/// The whole body, or a 413 fault past [`MAX_BODY`]; a connection that breaks mid-body is
/// dropped.
pub(crate) async fn read_body(
    body: Incoming,
) -> Result<Result<Bytes, ApiError>, ConnectionDropped> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(Ok(collected.to_bytes())),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Ok(Err(ApiError::new(
            Fault::RequestEntityTooLarge,
            format!("Request bodies are limited to {MAX_BODY} bytes"),
        ))),
        Err(_) => Err(ConnectionDropped),
    }
}

/// A plain-text response, for the control surface.
pub(crate) fn text_response(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
