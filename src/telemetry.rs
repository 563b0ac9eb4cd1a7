//! Logging: `tracing` to stderr as text or JSON, filtered by `RUST_LOG` (default
//! `info,aws_config=error`).

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, from `main`.
pub fn init(format: LogFormat) {
    // aws-config warns at length for every provider of its default chain that finds nothing
    // (instance metadata above all); start-up says in one line what was found instead.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,aws_config=error"));
    // Colour only for a person at a terminal: escape codes in a file or a log pipeline are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}
