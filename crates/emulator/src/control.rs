//! The HTTP control surface under `/_emulator/`, for clients that cannot hold an [`Emulator`]
//! handle (the CI scripts): inject faults, hold resources in their transitional status and
//! release them, reset both (and make sure the account's `default` user is there), read the call
//! counters.
//!
//! [`Emulator`]: super::Emulator

use std::fmt::Write as _;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use super::error::Fault;
use super::faults::FaultKind;
use super::http::{HttpResponse, read_body, text_response};
use super::query::Params;
use super::shared::Shared;

/// Paths under this prefix are control requests, never AWS actions.
pub(crate) const PREFIX: &str = "/_emulator/";

pub(crate) async fn handle(shared: &Shared, request: Request<Incoming>) -> HttpResponse {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match (method, path.as_str()) {
        (Method::POST, "/_emulator/faults") => answer(
            form(request)
                .await
                .and_then(|params| add_fault(shared, &params)),
        ),
        (Method::POST, "/_emulator/hold") => {
            answer(form(request).await.and_then(|params| hold(shared, &params)))
        }
        (Method::POST, "/_emulator/release") => answer(
            form(request)
                .await
                .and_then(|params| release(shared, &params)),
        ),
        (Method::POST, "/_emulator/reset") => {
            shared.faults.clear();
            shared.stores.release_all();
            shared.stores.for_each(|store| store.ensure_default_user());
            text_response(StatusCode::OK, "ok\n")
        }
        (Method::GET, "/_emulator/calls") => {
            let mut lines = String::new();
            for (action, count) in shared.calls.snapshot() {
                let _ = writeln!(lines, "{action} {count}");
            }
            text_response(StatusCode::OK, lines)
        }
        _ => text_response(
            StatusCode::NOT_FOUND,
            "unknown control endpoint; use POST /_emulator/faults, POST /_emulator/hold, \
             POST /_emulator/release, POST /_emulator/reset or GET /_emulator/calls\n",
        ),
    }
}

/// The form parameters of a control request's body.
async fn form(request: Request<Incoming>) -> Result<Params, String> {
    let body = match read_body(request.into_body()).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => return Err(error.to_string()),
        Err(error) => return Err(error.to_string()),
    };
    Params::parse(&body).map_err(|error| error.to_string())
}

/// `200 ok`, or `400` with the reason.
fn answer(outcome: Result<(), String>) -> HttpResponse {
    match outcome {
        Ok(()) => text_response(StatusCode::OK, "ok\n"),
        Err(reason) => text_response(StatusCode::BAD_REQUEST, format!("{reason}\n")),
    }
}

/// `name=<resource name>`, required.
fn hold(shared: &Shared, params: &Params) -> Result<(), String> {
    let name = params
        .get("name")
        .filter(|name| !name.is_empty())
        .ok_or("hold needs name=<resource name>")?;
    shared.stores.hold(name);
    Ok(())
}

/// `name=<name>`; an empty or missing name releases every hold.
fn release(shared: &Shared, params: &Params) -> Result<(), String> {
    match params.get("name").filter(|name| !name.is_empty()) {
        Some(name) => shared.stores.release(name),
        None => shared.stores.release_all(),
    }
    Ok(())
}

/// `action=&kind=throttle|error|delay|drop|hang&times=N&status=&code=&message=&delay_ms=`.
fn add_fault(shared: &Shared, params: &Params) -> Result<(), String> {
    let action = params.get("action").filter(|action| !action.is_empty());
    let kind = match params.get("kind").unwrap_or_default() {
        "throttle" => FaultKind::Throttle,
        "error" => {
            let code = params
                .get("code")
                .filter(|code| !code.is_empty())
                .ok_or("kind=error needs a code")?;
            let status = match params.get("status") {
                Some(status) => status
                    .parse()
                    .map_err(|_| format!("status {status:?} is not an HTTP status"))?,
                None => Fault::from_code(code).map_or(400, Fault::status),
            };
            FaultKind::Error {
                status,
                code: code.to_owned(),
                message: params
                    .get("message")
                    .unwrap_or("Fault injected by the emulator")
                    .to_owned(),
            }
        }
        "delay" => {
            let millis = params
                .get("delay_ms")
                .ok_or("kind=delay needs delay_ms")?
                .parse()
                .map_err(|_| "delay_ms must be a whole number of milliseconds")?;
            FaultKind::Delay(Duration::from_millis(millis))
        }
        "drop" => FaultKind::DropConnection,
        "drop_response" => FaultKind::DropResponse,
        "hang" => FaultKind::Hang,
        other => {
            return Err(format!(
                "kind {other:?} is not one of throttle, error, delay, drop, drop_response, hang"
            ));
        }
    };
    match params.get("times") {
        None | Some("") => shared.faults.inject_always(action, kind),
        Some(times) => {
            let times = times
                .parse()
                .map_err(|_| format!("times {times:?} is not a count"))?;
            shared.faults.inject(action, kind, times);
        }
    }
    Ok(())
}
