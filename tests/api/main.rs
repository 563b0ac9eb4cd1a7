//! End-to-end tests: the facade on 127.0.0.1:0 in front of the emulator on 127.0.0.1:0, called
//! through the generated tonic client, so every call runs the production path (SDK signing,
//! HTTP, XML parsing, retries).

mod cli;
mod connect;
mod exactly_once;
mod families;
mod faults;
mod hardening;
mod helpers;
mod http1;
mod lifecycle;
mod operations;
mod retries;
mod robustness;
mod security;
mod server;
mod shared_state;
mod targets;
mod watch;
