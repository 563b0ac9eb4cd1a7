//! Authentication: the caller of an `ElastiCacheService` RPC is found by its bearer token
//! (`authorization: Bearer <token>`) or its mTLS client-certificate identity, and put in the
//! request extensions as `Arc<Caller>`. Missing or unknown → UNAUTHENTICATED.
//!
//! With no callers configured the layer lets every call through unauthenticated; startup allows
//! that only on a loopback address (DESIGN §6). Health and reflection are never authenticated, so
//! probes and grpcurl `list` work without a token.
//!
//! ```ignore
//! let svc = ServiceBuilder::new().layer(AuthLayer::new(callers)).service(routes);
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use tower::{Layer, Service};

use super::refusal::{Refusal, request_id_of};
use crate::identity::{Callers, certificate_identity};
use crate::server::PeerCertificates;

/// Path prefix of the RPCs that need a caller.
const PROTECTED_PREFIX: &str = "/elasticache.v1.ElastiCacheService/";

/// Adds [`Auth`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    callers: Arc<Callers>,
}

impl AuthLayer {
    /// Authenticates against `callers`.
    pub fn new(callers: Arc<Callers>) -> Self {
        Self { callers }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            callers: self.callers.clone(),
        }
    }
}

/// The authentication middleware.
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    callers: Arc<Callers>,
}

impl<S, B, RB> Service<http::Request<B>> for Auth<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    RB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<S::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if self.callers.is_empty() || !request.uri().path().starts_with(PROTECTED_PREFIX) {
            return Either::Right(self.inner.call(request));
        }
        match self.authenticate(&request) {
            Ok(caller) => {
                tracing::Span::current().record("caller", caller.name.as_str());
                request.extensions_mut().insert(caller);
                Either::Right(self.inner.call(request))
            }
            Err(refusal) => Either::Left(ready(Ok(refusal.into_response(request_id_of(&request))))),
        }
    }
}

impl<S> Auth<S> {
    fn authenticate<B>(
        &self,
        request: &http::Request<B>,
    ) -> Result<Arc<crate::identity::Caller>, Refusal> {
        if let Some(value) = request.headers().get(http::header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or(Refusal::Unauthenticated(
                    "the authorization header is not of the form \"Bearer <token>\"",
                ))?;
            return self
                .callers
                .by_token(token)
                .ok_or(Refusal::Unauthenticated("unknown bearer token"));
        }
        let certs = request.extensions().get::<PeerCertificates>();
        if let Some(leaf) = certs.and_then(|c| c.0.first()) {
            return certificate_identity(leaf)
                .and_then(|id| self.callers.by_identity(&id))
                .ok_or(Refusal::Unauthenticated(
                    "the client certificate's identity is not a known caller",
                ));
        }
        Err(Refusal::Unauthenticated(
            "no credentials: send \"authorization: Bearer <token>\" or a client certificate",
        ))
    }
}
