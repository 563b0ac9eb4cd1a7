//! Authentication: the caller of an `ElastiCacheService` RPC is found by its bearer token
//! (`authorization: Bearer <token>`) or its mTLS client-certificate identity, and put in the
//! request extensions as `Arc<Caller>`. Missing or unknown → UNAUTHENTICATED.
//!
//! With no callers configured the layer lets every call through unauthenticated; startup allows
//! that only on a loopback address (DESIGN §6). Health and reflection are never authenticated, so
//! probes and grpcurl `list` work without a token.
//!
//! ```ignore
//! let svc = ServiceBuilder::new().layer(AuthLayer::new(Authenticate::new(callers))).service(routes);
//! ```

use std::sync::Arc;

use super::gate::{Check, GateLayer};
use crate::identity::{Callers, PeerCertificates, certificate_identity};
use crate::methods::SERVICE_PREFIX;
use crate::refusal::Refusal;

/// Adds authentication (a [`GateLayer`] running [`Authenticate`]).
pub type AuthLayer = GateLayer<Authenticate>;

/// Finds the caller of a protected RPC.
#[derive(Debug, Clone)]
pub struct Authenticate {
    callers: Arc<Callers>,
}

impl Authenticate {
    /// Authenticates against `callers`.
    pub fn new(callers: Arc<Callers>) -> Self {
        Self { callers }
    }
}

impl Check for Authenticate {
    fn check<B>(&self, request: &mut http::Request<B>) -> Result<(), Refusal> {
        if self.callers.is_empty() || !request.uri().path().starts_with(SERVICE_PREFIX) {
            return Ok(());
        }
        let caller = self.authenticate(request)?;
        tracing::Span::current().record("caller", caller.name.as_str());
        request.extensions_mut().insert(caller);
        Ok(())
    }
}

impl Authenticate {
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
