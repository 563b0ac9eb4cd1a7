//! The HTTP side: accepts connections (HTTP/1.1 keep-alive), turns each Query request into an
//! action on the store, applies injected faults, and writes the XML answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::accounts::Stores;
use super::error::{ApiError, Fault};
use super::faults::{FaultInjector, FaultKind};
use super::http::{ConnectionDropped, HttpResponse, read_body};
use super::operations::{self, Output};
use super::query::Params;
use super::shared::{CallCounters, Shared};
use super::{Emulator, EmulatorConfig, control, xml};

/// How long a stopping emulator waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds, then serves in a spawned task that ends once the emulator is shut down and the
/// requests in flight are done.
pub(crate) async fn start(
    addr: SocketAddr,
    config: EmulatorConfig,
) -> std::io::Result<(Emulator, JoinHandle<()>)> {
    // The state file first: a bad one is refused before anything listens.
    let stores = Stores::open(&config)?;
    let listener = TcpListener::bind(addr).await?;
    let (shutdown, _) = watch::channel(false);
    let shared = Arc::new(Shared {
        local_addr: listener.local_addr()?,
        stores,
        faults: FaultInjector::default(),
        calls: CallCounters::new(),
        shutdown,
        clock_skew: AtomicU64::new(0),
    });
    let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
    Ok((Emulator { shared }, task))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut stopping = shared.shutdown.subscribe();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(error) => {
                    // Typically out of file descriptors: back off rather than spin.
                    tracing::warn!(%error, "emulator failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow with every client.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = stopped(&mut stopping) => break,
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!("emulator connections did not finish in time; aborting them");
        connections.abort_all();
    }
    tracing::debug!("emulator stopped");
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Small request/response exchanges: Nagle's algorithm would only add latency.
    let _ = stream.set_nodelay(true);
    let mut stopping = shared.shutdown.subscribe();
    let service = hyper::service::service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { handle(&shared, request).await }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        // Idle keep-alive connections stay open until the client closes them: clients pool them
        // for longer than hyper's default 30 s (the SDK for 90 s), and a server closing first
        // races their next request into a spurious transport error.
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped(&mut stopping) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        // Dropped connections (injected or by the client) end here; nothing to act on.
        tracing::debug!(%error, "emulator connection ended with an error");
    }
}

/// Resolves once the emulator is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens once everything is stopping.
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn handle(
    shared: &Shared,
    request: Request<Incoming>,
) -> Result<HttpResponse, ConnectionDropped> {
    if request.uri().path().starts_with(control::PREFIX) {
        return Ok(control::handle(shared, request).await);
    }
    shared.calls.request();
    let request_id = uuid::Uuid::new_v4().to_string();
    let route = shared.stores.route(request.headers());
    // Query APIs take their parameters from the body, or from the URL of a GET.
    let input = if request.method() == Method::GET {
        Bytes::from(request.uri().query().unwrap_or_default().to_owned())
    } else {
        match read_body(request.into_body()).await? {
            Ok(body) => body,
            Err(error) => return Ok(error_response(&error, &request_id)),
        }
    };
    let params = match Params::parse(&input) {
        Ok(params) => params,
        Err(error) => return Ok(error_response(&error, &request_id)),
    };
    let Some(action_name) = params.get("Action") else {
        let error = ApiError::new(Fault::MissingAction, "The request must contain an Action");
        return Ok(error_response(&error, &request_id));
    };
    let action = operations::find(action_name);
    if let Some((index, _)) = action {
        shared.calls.action(index);
    } else if action_name == super::sts::ASSUME_ROLE {
        shared.calls.assume_role();
    }

    let mut drop_response = false;
    match shared.faults.take(action_name) {
        None => {}
        Some(FaultKind::DropResponse) => drop_response = true,
        Some(FaultKind::Throttle) => {
            let error = ApiError::new(Fault::Throttling, "Rate exceeded");
            return Ok(error_response(&error, &request_id));
        }
        Some(FaultKind::Error {
            status,
            code,
            message,
        }) => return Ok(xml_error(status, &code, &message, &request_id)),
        Some(FaultKind::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(FaultKind::DropConnection) => return Err(ConnectionDropped),
        Some(FaultKind::Hang) => {
            // Until the emulator stops, so a graceful shutdown is not held up forever.
            stopped(&mut shared.shutdown.subscribe()).await;
            return Err(ConnectionDropped);
        }
    }

    if action_name == super::sts::ASSUME_ROLE {
        return Ok(super::sts::assume_role(
            &shared.stores,
            &params,
            shared.clock().wall,
            &request_id,
        ));
    }
    let Some((_, action)) = action else {
        let error = ApiError::new(
            Fault::InvalidAction,
            format!("The elasticache-grpc emulator does not implement the action {action_name}"),
        );
        return Ok(error_response(&error, &request_id));
    };
    let store = match route.map(|(account, region)| shared.stores.get(&account, &region)) {
        Ok(Ok(store)) => store,
        Ok(Err(error)) => {
            tracing::error!(%error, "emulator state not read");
            let error = ApiError::new(Fault::InternalFailure, error.to_string());
            return Ok(error_response(&error, &request_id));
        }
        Err(access_key) => {
            let message = format!(
                "The security token included in the request is invalid: {access_key} was issued for an account this emulator does not play"
            );
            return Ok(xml_error(
                403,
                "InvalidClientTokenId",
                &message,
                &request_id,
            ));
        }
    };
    let response = match action.handle(&params, &store, shared.clock()) {
        Ok(output) => {
            let body = if output == Output::Empty {
                xml::bare_document(action.name, &request_id)
            } else {
                xml::success_document(action.name, &request_id, |xml| output.write(xml))
            };
            xml_response(StatusCode::OK, body, &request_id)
        }
        Err(error) => error_response(&error, &request_id),
    };
    tracing::debug!(
        action = action.name,
        status = response.status().as_u16(),
        request_id,
        "emulator handled request"
    );
    if drop_response {
        return Err(ConnectionDropped);
    }
    Ok(response)
}

fn error_response(error: &ApiError, request_id: &str) -> HttpResponse {
    xml_error(
        error.fault.status(),
        error.fault.code(),
        &error.message,
        request_id,
    )
}

fn xml_error(status: u16, code: &str, message: &str, request_id: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = xml::error_document(status.as_u16(), code, message, request_id);
    xml_response(status, body, request_id)
}

pub(crate) fn xml_response(status: StatusCode, body: String, request_id: &str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}
