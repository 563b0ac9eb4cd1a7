//! The server loop: accepts connections (plain or TLS), serves the tower stack on each over
//! HTTP/2 or HTTP/1.1 (told apart by the HTTP/2 preface), and shuts down gracefully.
//!
//! HTTP/2 carries gRPC, Connect and gRPC-Web; HTTP/1.1 carries Connect and gRPC-Web (what browsers
//! on plaintext and plain `curl` speak), with the same hardening: the request head must arrive
//! within the handshake timeout (and an idle keep-alive connection is closed after it), request
//! heads are capped as HTTP/2 caps header lists, connections count against the one cap, and a
//! drain answers the calls in flight before it closes them. Plain gRPC over HTTP/1.1 is refused by
//! the Connect layer with a readable 505.
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
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::future::Either;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, RootCertStore, server::WebPkiClientVerifier};
use tower::{Service, ServiceExt};

use crate::config::TlsSettings;
use crate::identity::PeerCertificates;

/// A TLS acceptor from PEM files. With a client CA, client certificates are requested and, when
/// sent, verified against it; a client without one still connects (it is identified by its
/// token, and health and reflection stay open). ALPN offers `h2`, then `http/1.1` (Connect and
/// gRPC-Web from HTTP/1.1-only clients).
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
                .allow_unauthenticated()
                .build()
                .context("cannot build the client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// How the server treats connections.
#[derive(Debug, Clone)]
pub struct ConnectionPolicy {
    /// A connection must finish its TLS handshake and send the HTTP/2 preface (or start an
    /// HTTP/1.1 request) within this. Over HTTP/1.1 it is also how long a request head may take
    /// to arrive, and how long a kept-alive connection may stay idle between requests.
    pub handshake_timeout: Duration,
    /// Open connections at most (in handshake or established); beyond it new ones are closed.
    pub max_connections: usize,
    /// HTTP/2 keep-alive: a PING after this long without traffic… (HTTP/1.1 has no PING: an idle
    /// HTTP/1.1 connection is closed after `handshake_timeout` instead.)
    pub keepalive_interval: Duration,
    /// …and the connection is closed when its answer takes longer than this.
    pub keepalive_timeout: Duration,
}

impl Default for ConnectionPolicy {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            max_connections: 4096,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
        }
    }
}

/// The HTTP/2 connection preface a client sends first (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The largest HTTP/1.1 request head (request line and headers), as HTTP/2's header list is
/// capped at 16 KiB (hyper's default SETTINGS_MAX_HEADER_LIST_SIZE): a longer one gets 431. It is
/// hyper's read buffer, which also bounds how much of a body is read ahead of the service.
const HTTP1_MAX_BUF: usize = 16 << 10;

/// What a connection speaks, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// How long, once no call is in flight, the drain still waits for connections to go away by
/// themselves before closing them (the last responses are flushed well within it).
const DRAIN_FLUSH: Duration = Duration::from_millis(250);

/// Serves `service` on every connection `listener` accepts until `shutdown` resolves; then stops
/// accepting, closes the connections that never finished their handshake, tells every other
/// connection to go away (HTTP/2 GOAWAY), waits for the calls in flight to finish, and closes
/// what is left (idle or dead peers that do not go away by themselves).
///
/// Before a connection is handed to hyper it must finish its TLS handshake (when TLS is on) and
/// send the HTTP/2 preface, or the start of an HTTP/1.1 request line, within
/// `policy.handshake_timeout`: sockets that send nothing, half a preface or half a TLS record are
/// closed then, so they cannot pile up, starve the file descriptors probes need, or hold up
/// shutdown. An HTTP/1.1 request head must then arrive within the same timeout (hyper's header
/// read timeout), which also closes a kept-alive HTTP/1.1 connection idle for that long.
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S,
    shutdown: impl Future<Output = ()>,
    policy: ConnectionPolicy,
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
        .keep_alive_interval(Some(policy.keepalive_interval))
        .keep_alive_timeout(policy.keepalive_timeout);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(policy.handshake_timeout)
        .max_buf_size(HTTP1_MAX_BUF)
        .keep_alive(true);
    // The protocol is known before hyper sees the connection (see `sniff`): each gets a builder
    // that does not look again.
    let http1 = builder.clone().http1_only();
    let http2 = builder.http2_only();
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(policy.max_connections));
    let in_flight = InFlight::default();
    let (closing_tx, closing) = watch::channel(false);
    let mut over_limit_warning = Throttled::default();
    let tls_warning = Arc::new(std::sync::Mutex::new(Throttled::default()));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
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
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            // Closed at once (dropped): a full server keeps answering the connections it has.
            connection_closed("over_limit");
            if over_limit_warning.due() {
                tracing::warn!(
                    max_connections = policy.max_connections,
                    "connection limit reached: closing new connections"
                );
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let (http1, http2) = (http1.clone(), http2.clone());
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let mut closing = closing.clone();
        let in_flight = in_flight.clone();
        let handshake_timeout = policy.handshake_timeout;
        let tls_warning = tls_warning.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let handshake = async {
                match tls {
                    None => {
                        let (protocol, io) = sniff(stream).await?;
                        Some((protocol, Either::Left(io)))
                    }
                    Some(acceptor) => {
                        let stream = match acceptor.accept(stream).await {
                            Ok(stream) => stream,
                            Err(err) => {
                                connection_closed("tls_handshake_failed");
                                // One line per 10 s at WARN, so scanners cannot flood the log;
                                // every failure is counted in the metric.
                                let due = tls_warning.lock().is_ok_and(|mut w| w.due());
                                if due {
                                    tracing::warn!(%peer, "TLS handshake refused: {err} (further failures within 10 s are logged at DEBUG)");
                                } else {
                                    tracing::debug!(%peer, "TLS handshake refused: {err}");
                                }
                                return None;
                            }
                        };
                        let certs = stream.get_ref().1.peer_certificates().map(|chain| {
                            PeerCertificates(Arc::new(
                                chain.iter().map(|c| c.clone().into_owned()).collect(),
                            ))
                        });
                        let (protocol, io) = sniff(stream).await?;
                        Some((protocol, Either::Right((io, certs))))
                    }
                }
            };
            // Until the handshake is done the connection is not hyper's: close it ourselves on
            // timeout or shutdown.
            let (protocol, established) = tokio::select! {
                done = tokio::time::timeout(handshake_timeout, handshake) => match done {
                    Ok(Some(io)) => io,
                    Ok(None) => return,
                    Err(_) => {
                        connection_closed("handshake_timeout");
                        tracing::debug!(%peer, "closed a connection that did not finish its handshake in time");
                        return;
                    }
                },
                _ = closing.wait_for(|closing| *closing) => return,
            };
            tracing::trace!(%peer, ?protocol, "connection established");
            let builder = match protocol {
                Protocol::Http1 => &http1,
                Protocol::Http2 => &http2,
            };
            match established {
                Either::Left(io) => {
                    let conn = builder
                        .serve_connection(TokioIo::new(io), hyper_service(service, None, in_flight))
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                }
                Either::Right((io, certs)) => {
                    let conn = builder
                        .serve_connection(
                            TokioIo::new(io),
                            hyper_service(service, certs, in_flight),
                        )
                        .into_owned();
                    let _ = watcher.watch(conn).await;
                }
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = in_flight.quiet_for(DRAIN_FLUSH) => {
            tracing::info!("no call in flight: closing the connections that remain");
        }
    }
}

/// Reads the first bytes of a connection: the whole HTTP/2 preface, or enough to see that they
/// start an HTTP/1.x request line (a method in upper case). The stream replays them to hyper.
/// `None` when the peer closes first or sends neither (a TLS ClientHello on the plaintext port,
/// garbage): such a connection is closed.
async fn sniff<IO>(mut io: IO) -> Option<(Protocol, Prefaced<IO>)>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut read = [0u8; PREFACE.len()];
    let mut n = 0;
    while n < PREFACE.len() {
        match io.read(&mut read[n..]).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => n += k,
        }
        if read[..n] != PREFACE[..n] {
            if !starts_request_line(&read[..n]) {
                connection_closed("not_http");
                return None;
            }
            return Some((Protocol::Http1, Prefaced::new(io, read, n)));
        }
    }
    Some((Protocol::Http2, Prefaced::new(io, read, n)))
}

/// Whether `bytes` can begin an HTTP/1.x request line: a method token of upper-case letters
/// (`GET`, `POST`, `OPTIONS`, …), then, if it is complete, a space. What follows is hyper's to
/// parse (a malformed request gets its 400).
fn starts_request_line(bytes: &[u8]) -> bool {
    let method = bytes.iter().take_while(|b| **b != b' ').count();
    method > 0 && bytes[..method].iter().all(u8::is_ascii_uppercase)
}

/// Counts a connection the server closed before serving it, by why.
fn connection_closed(reason: &'static str) {
    metrics::counter!("elasticache_connections_closed_total", "reason" => reason).increment(1);
}

pin_project_lite::pin_project! {
    /// A connection whose first bytes were read already (by `sniff`): hyper reads them again from
    /// here.
    #[derive(Debug)]
    struct Prefaced<IO> {
        #[pin]
        io: IO,
        read: [u8; PREFACE.len()],
        len: usize,
        replayed: usize,
    }
}

impl<IO> Prefaced<IO> {
    fn new(io: IO, read: [u8; PREFACE.len()], len: usize) -> Self {
        Self {
            io,
            read,
            len,
            replayed: 0,
        }
    }
}

impl<IO: AsyncRead> AsyncRead for Prefaced<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        if *this.replayed < *this.len {
            let rest = &this.read[*this.replayed..*this.len];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            *this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        this.io.poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite> AsyncWrite for Prefaced<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

/// At most one event per 10 s: for warnings an attacker could otherwise repeat at will.
#[derive(Debug, Default)]
struct Throttled(Option<tokio::time::Instant>);

impl Throttled {
    /// Whether the event may be reported now (and, if so, starts a new 10 s).
    fn due(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        if self.0.is_some_and(|t| now - t < Duration::from_secs(10)) {
            return false;
        }
        self.0 = Some(now);
        true
    }
}

/// The `ElastiCacheService` calls in flight on every connection: a call counts from its request
/// until its response body is done (or dropped), so a drain knows when nothing is left to send.
/// Health and reflection streams do not count: a health `Watch` never ends by itself and must
/// not hold a shutdown.
#[derive(Debug, Clone, Default)]
struct InFlight(Arc<(AtomicUsize, Notify)>);

impl InFlight {
    fn start(&self) -> CallGuard {
        self.0.0.fetch_add(1, Ordering::SeqCst);
        CallGuard(self.clone())
    }

    /// Resolves when no call is in flight.
    async fn idle(&self) {
        loop {
            let notified = self.0.1.notified();
            if self.0.0.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Resolves once no call was in flight at either end of a `quiet` period (a call that
    /// started during the period and is still running restarts the wait).
    async fn quiet_for(&self, quiet: Duration) {
        loop {
            self.idle().await;
            tokio::time::sleep(quiet).await;
            if self.0.0.load(Ordering::SeqCst) == 0 {
                return;
            }
        }
    }
}

/// One call in flight; dropping it ends the call.
#[derive(Debug)]
struct CallGuard(InFlight);

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.0.0.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.0.1.notify_waiters();
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its call counted in flight until it is done.
    #[derive(Debug)]
    struct Counted<B> {
        #[pin]
        inner: B,
        _call: Option<CallGuard>,
    }
}

impl<B: http_body::Body> http_body::Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Adapts the tower stack to hyper: tonic's body type, the peer's certificates, and the count of
/// calls in flight.
fn hyper_service<S, B>(
    service: S,
    certs: Option<PeerCertificates>,
    in_flight: InFlight,
) -> TowerToHyperService<
    impl Service<
        http::Request<hyper::body::Incoming>,
        Response = http::Response<Counted<B>>,
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
    let service = tower::service_fn(move |request: http::Request<hyper::body::Incoming>| {
        let call = request
            .uri()
            .path()
            .starts_with(crate::methods::SERVICE_PREFIX)
            .then(|| in_flight.start());
        let mut request = request.map(tonic::body::Body::new);
        if let Some(certs) = &certs {
            request.extensions_mut().insert(certs.clone());
        }
        let future = service.clone().oneshot(request);
        async move {
            let response = future.await?;
            Ok::<_, Infallible>(response.map(|inner| Counted { inner, _call: call }))
        }
    });
    TowerToHyperService::new(service)
}
