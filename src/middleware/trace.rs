//! The RPC's span and its closing log line (`tower-http`'s trace layer with our callbacks).
//!
//! One span per RPC, named `rpc`, with the method, the request id, the W3C trace id and (once
//! authentication knows it) the caller. When the call ends, one line says how: client faults
//! (`INVALID_ARGUMENT`, `NOT_FOUND`, `UNAUTHENTICATED`, …) at INFO, overload and upstream trouble
//! (`RESOURCE_EXHAUSTED`, `UNAVAILABLE`, `DEADLINE_EXCEEDED`) at WARN, and only the service's own
//! failures (`INTERNAL`, `UNKNOWN`, `DATA_LOSS`) at ERROR — each with the code, the
//! `ErrorInfo.reason` and the message. Values a caller controls are recorded as strings, which
//! the text format writes quoted and escaped, so no request can forge a log line or field.

use std::time::Duration;

use http::HeaderMap;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use tower_http::trace::{MakeSpan, OnEos, OnResponse};
use tracing::{Level, Span};

use crate::headers::{GRPC_STATUS, TRACEPARENT};
use crate::request_id::X_REQUEST_ID;

/// One span per RPC, named `rpc`, carrying the method, the request id and (once known) the caller.
#[derive(Debug, Clone, Copy)]
pub struct RpcSpan;

impl<B> MakeSpan<B> for RpcSpan {
    fn make_span(&mut self, request: &http::Request<B>) -> Span {
        let request_id = request
            .headers()
            .get(&X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let trace_id = request
            .headers()
            .get(&TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(trace_id_of)
            .unwrap_or_default();
        // Written as they are (Display, not the slower quoting Debug): neither can break a line
        // or a field, since a URI path has no spaces, quotes or control characters, and a request
        // id reaching here is at most 128 characters of visible ASCII (see `sanitize_request_id`).
        tracing::info_span!(
            "rpc",
            method = %request.uri().path(),
            request_id = %request_id,
            trace_id = %trace_id,
            caller = tracing::field::Empty
        )
    }
}

/// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), if valid.
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace_id, parent_id, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && hex(flags, 2)
        && (version != "00" || parts.next().is_none());
    valid.then_some(trace_id)
}

/// Logs how each RPC ended, at the level its code deserves.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcLog;

impl<B> OnResponse<B> for RpcLog {
    fn on_response(self, response: &http::Response<B>, latency: Duration, _span: &Span) {
        // A trailers-only response (every error we make) carries its status in the headers;
        // otherwise the status comes with the trailers, in `on_eos`.
        if response.headers().contains_key(&GRPC_STATUS) {
            log_end(response.headers(), latency);
        } else if !response.status().is_success() {
            tracing::info!(
                http_status = response.status().as_u16(),
                latency_us = latency.as_micros() as u64,
                "rpc refused at the HTTP level"
            );
        }
    }
}

impl OnEos for RpcLog {
    fn on_eos(self, trailers: Option<&HeaderMap>, stream_duration: Duration, _span: &Span) {
        match trailers {
            Some(trailers) => log_end(trailers, stream_duration),
            // A body that ended without trailers: the peer went away (the metrics count it as
            // cancelled); not worth a line at INFO.
            None => tracing::debug!(
                latency_us = stream_duration.as_micros() as u64,
                "rpc ended without a status"
            ),
        }
    }
}

/// The level a call that ended with `code` is logged at.
pub fn level_of(code: Code) -> Level {
    match code {
        Code::Ok => Level::DEBUG,
        Code::Unknown | Code::Internal | Code::DataLoss => Level::ERROR,
        Code::ResourceExhausted | Code::Unavailable | Code::DeadlineExceeded => Level::WARN,
        Code::Cancelled
        | Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unimplemented
        | Code::Unauthenticated => Level::INFO,
    }
}

fn log_end(headers: &HeaderMap, latency: Duration) {
    let latency_us = latency.as_micros() as u64;
    let status = Status::from_header_map(headers);
    let Some(status) = status.filter(|s| s.code() != Code::Ok) else {
        tracing::debug!(code = "OK", latency_us, "rpc finished");
        return;
    };
    let code = status.code();
    let details = status.get_error_details();
    let reason = details
        .error_info()
        .map(|i| i.reason.as_str())
        .unwrap_or_default();
    let message = status.message();
    macro_rules! at {
        ($level:expr) => {
            tracing::event!(
                $level,
                code = ?code,
                reason,
                status_message = message,
                latency_us,
                "rpc failed"
            )
        };
    }
    match level_of(code) {
        Level::ERROR => at!(Level::ERROR),
        Level::WARN => at!(Level::WARN),
        Level::INFO => at!(Level::INFO),
        _ => at!(Level::DEBUG),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_yields_its_trace_id_when_valid() {
        assert_eq!(
            trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(trace_id_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn client_faults_are_not_errors() {
        for code in [
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::NotFound,
            Code::AlreadyExists,
            Code::FailedPrecondition,
            Code::Unimplemented,
        ] {
            assert_eq!(level_of(code), Level::INFO, "{code:?}");
        }
        assert_eq!(level_of(Code::ResourceExhausted), Level::WARN);
        assert_eq!(level_of(Code::Unavailable), Level::WARN);
        assert_eq!(level_of(Code::Internal), Level::ERROR);
        assert_eq!(level_of(Code::Unknown), Level::ERROR);
        assert_eq!(level_of(Code::Ok), Level::DEBUG);
    }
}
