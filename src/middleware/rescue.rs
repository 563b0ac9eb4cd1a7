//! The rescue at the edge: statuses that tonic makes itself, before or around our handlers
//! (a request body that is not valid protobuf, a message over the size limit, an unknown
//! method, tonic's own `grpc-timeout` timer), arrive without details. This layer gives them the
//! same form as every other status (DESIGN §3: `ErrorInfo` with domain `elasticache-grpc`,
//! `RequestInfo`) and the code the gRPC spec asks for: a malformed message is the caller's
//! INVALID_ARGUMENT, not INTERNAL; an oversized one RESOURCE_EXHAUSTED, not OUT_OF_RANGE.
//!
//! Only trailers-only responses (every error tonic makes) without `grpc-status-details-bin` are
//! touched, so statuses built by the facade pass through unchanged. A mutating call that ends
//! here (its message could not be decoded) gets its audit line too, with the caller: the layer
//! sits innermost, after authentication, so it knows who called.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tonic::{Code, Status};
use tower::{Layer, Service};

use crate::audit::Audit;
use crate::headers::{GRPC_STATUS, GRPC_STATUS_DETAILS_BIN};
use crate::identity::Caller;
use crate::status::{FACADE_DOMAIN, StatusBuilder};

/// Adds [`Rescue`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RescueLayer;

impl<S> Layer<S> for RescueLayer {
    type Service = Rescue<S>;
    fn layer(&self, inner: S) -> Rescue<S> {
        Rescue { inner }
    }
}

/// Rewrites tonic's own bare statuses.
#[derive(Debug, Clone)]
pub struct Rescue<S> {
    inner: S,
}

impl<S, B, RB> Service<http::Request<B>> for Rescue<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    RB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // A refcounted clone: most responses are not rescued, so no string is made for them.
        let request_id = request
            .headers()
            .get(crate::request_id::X_REQUEST_ID)
            .cloned();
        let audited = crate::methods::rpc_of(request.uri().path())
            .filter(|m| m.mutating)
            .map(|m| (m.name, request.extensions().get::<Arc<Caller>>().cloned()));
        ResponseFuture {
            inner: self.inner.call(request),
            request_id,
            audited,
        }
    }
}

pin_project_lite::pin_project! {
    /// Rewrites the response when it is a bare status.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        request_id: Option<http::HeaderValue>,
        // The RPC and caller of a mutating call, for its audit line.
        audited: Option<(&'static str, Option<Arc<Caller>>)>,
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
    RB: Default,
{
    type Output = Result<http::Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let headers = response.headers();
        let bare = headers.get(&GRPC_STATUS).is_some_and(|v| v != "0")
            && !headers.contains_key(&GRPC_STATUS_DETAILS_BIN);
        if !bare {
            return Poll::Ready(Ok(response));
        }
        let Some(status) = Status::from_header_map(headers) else {
            return Poll::Ready(Ok(response));
        };
        let request_id = this
            .request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let rescued = rescue(&status, request_id);
        if let Some((rpc, caller)) = this.audited.take() {
            Audit::unread(caller.as_deref().map(|c| c.name.as_str()), rpc, request_id)
                .status(&rescued);
        }
        Poll::Ready(Ok(rescued.into_http()))
    }
}

/// The detailed status for one of tonic's bare ones.
pub fn rescue(status: &Status, request_id: &str) -> Status {
    let message = status.message();
    let (code, reason) = match status.code() {
        Code::Internal if message.contains("decode") => {
            (Code::InvalidArgument, "MALFORMED_MESSAGE")
        }
        Code::OutOfRange if message.contains("too large") => {
            (Code::ResourceExhausted, "MESSAGE_TOO_LARGE")
        }
        Code::Cancelled if message.contains("Timeout expired") => {
            (Code::DeadlineExceeded, "DEADLINE_EXCEEDED")
        }
        Code::Unimplemented => (Code::Unimplemented, "UNIMPLEMENTED"),
        other => (other, "TRANSPORT"),
    };
    crate::metrics::refusal(reason);
    StatusBuilder::new(code, message, reason, FACADE_DOMAIN, request_id).build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    #[test]
    fn tonics_bare_statuses_get_the_spec_code_and_details() {
        let cases = [
            (
                Status::internal("failed to decode Protobuf message: invalid wire type"),
                Code::InvalidArgument,
                "MALFORMED_MESSAGE",
            ),
            (
                Status::out_of_range("Error, decoded message length too large: found 4119 bytes"),
                Code::ResourceExhausted,
                "MESSAGE_TOO_LARGE",
            ),
            (
                Status::cancelled("Timeout expired"),
                Code::DeadlineExceeded,
                "DEADLINE_EXCEEDED",
            ),
            (
                Status::unimplemented(""),
                Code::Unimplemented,
                "UNIMPLEMENTED",
            ),
        ];
        for (bare, code, reason) in cases {
            let s = rescue(&bare, "req-9");
            assert_eq!(s.code(), code);
            let d = s.get_error_details();
            assert_eq!(d.error_info().unwrap().reason, reason);
            assert_eq!(d.request_info().unwrap().request_id, "req-9");
            assert_eq!(s.message(), bare.message());
        }
    }
}
