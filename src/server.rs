//! The HTTP/2 server loop: accepts connections (plain or TLS), serves the tower stack on each,
//! and shuts down gracefully.
//!
//! We serve with `hyper-util` rather than `tonic::transport::Server` for one reason: tonic's
//! server wraps every service in its own `grpc-timeout` timer, which fires at the caller's
//! deadline and answers a bare CANCELLED, racing the facade's own deadline handling. DESIGN §3
//! wants DEADLINE_EXCEEDED with details, on time; owning the loop makes the facade the only
//! deadline authority. Everything else tonic's server did here (TLS with client certificates,
//! HTTP/2 keepalive, graceful shutdown) is a few lines on the same crates tonic uses.

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, RootCertStore, server::WebPkiClientVerifier};
use tower::{Service, ServiceExt};

use crate::config::TlsSettings;

/// The verified client certificate chain of a TLS connection, in the request extensions.
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

/// A TLS acceptor from PEM files; with a client CA, client certificates are required and
/// verified against it. ALPN offers `h2`.
pub fn tls_acceptor(tls: &TlsSettings) -> anyhow::Result<TlsAcceptor> {
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let certs = CertificateDer::pem_slice_iter(&read(&tls.cert)?)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("no PEM certificates in {}", tls.cert.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&read(&tls.key)?)
        .with_context(|| format!("no PEM private key in {}", tls.key.display()))?;
    // An explicit provider: never depend on which rustls crypto features other crates enable.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("the TLS provider supports no protocol version")?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&read(ca)?) {
                roots
                    .add(cert.with_context(|| format!("bad PEM in {}", ca.display()))?)
                    .with_context(|| format!("bad CA certificate in {}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .context("cannot build the client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `service` on every connection `listener` accepts until `shutdown` resolves; then stops
/// accepting, tells every connection to go away (HTTP/2 GOAWAY) and waits for the calls in
/// flight to finish.
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    // gRPC is HTTP/2 only; refusing HTTP/1 up front gives a clear error instead of a 404.
    let builder = builder.http2_only();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => {
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), hyper_service(service, None))
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                }
                Some(acceptor) => {
                    let stream = match acceptor.accept(stream).await {
                        Ok(stream) => stream,
                        Err(err) => {
                            tracing::debug!("TLS handshake failed: {err}");
                            return;
                        }
                    };
                    let certs = stream.get_ref().1.peer_certificates().map(|chain| {
                        PeerCertificates(Arc::new(
                            chain.iter().map(|c| c.clone().into_owned()).collect(),
                        ))
                    });
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), hyper_service(service, certs))
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Adapts the tower stack to hyper: tonic's body type, and the peer's certificates.
fn hyper_service<S, B>(
    service: S,
    certs: Option<PeerCertificates>,
) -> TowerToHyperService<
    impl Service<
        http::Request<hyper::body::Incoming>,
        Response = http::Response<B>,
        Error = Infallible,
        Future: Send,
    > + Clone,
>
where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    TowerToHyperService::new(service.map_request(
        move |request: http::Request<hyper::body::Incoming>| {
            let mut request = request.map(tonic::body::Body::new);
            if let Some(certs) = &certs {
                request.extensions_mut().insert(certs.clone());
            }
            request
        },
    ))
}
