//! Only gRPC is served: a request whose `content-type` is not `application/grpc` (or
//! `application/grpc+proto`) gets UNIMPLEMENTED `UNSUPPORTED_CONTENT_TYPE` with HTTP 415 and the
//! usual details, instead of a decoding error from deep inside tonic.

use super::gate::{Check, GateLayer};
use crate::refusal::{Refusal, is_grpc_content_type};

/// Adds the content-type check (a [`GateLayer`] running [`GrpcContentType`]).
pub type ContentTypeLayer = GateLayer<GrpcContentType>;

/// Refuses requests that are not gRPC.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcContentType;

/// How much of an unsupported content type is echoed back.
const ECHO_LEN: usize = 100;

impl Check for GrpcContentType {
    fn check<B>(&self, request: &mut http::Request<B>) -> Result<(), Refusal> {
        match request.headers().get(http::header::CONTENT_TYPE) {
            Some(ct) if is_grpc_content_type(ct) => Ok(()),
            other => Err(Refusal::UnsupportedContentType {
                content_type: other
                    .map(|v| {
                        String::from_utf8_lossy(v.as_bytes())
                            .chars()
                            .take(ECHO_LEN)
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_grpc_content_types_pass() {
        let check = |ct: Option<&str>| {
            let mut r = http::Request::new(());
            if let Some(ct) = ct {
                r.headers_mut()
                    .insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            }
            GrpcContentType.check(&mut r)
        };
        for ok in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc;charset=utf-8",
        ] {
            assert!(check(Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            Some("application/json"),
            Some("application/grpcx"),
            Some("text/plain"),
            None,
        ] {
            let refusal = check(bad).expect_err("refused");
            assert_eq!(refusal.reason(), "UNSUPPORTED_CONTENT_TYPE");
        }
    }
}
