//! `elasticache-grpc`: the server, and the standalone emulator (`elasticache-grpc emulator`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use elasticache_grpc::config::{LogFormat, Settings, Upstream};
use elasticache_grpc::emulator::{self, EmulatorConfig};
use elasticache_grpc::startup::Application;
use elasticache_grpc::telemetry;

/// gRPC facade for Amazon ElastiCache serverless caches and snapshots.
///
/// AWS settings (region, credentials, endpoint) come from the standard AWS configuration chain:
/// AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_ELASTICACHE, web identity, instance metadata.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to serve gRPC on.
    #[arg(
        long,
        env = "ELASTICACHE_GRPC_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    listen: SocketAddr,

    /// Log format.
    #[arg(long, env = "ELASTICACHE_GRPC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Start an in-process ElastiCache emulator and send every call to it (no AWS account needed).
    #[arg(long, env = "ELASTICACHE_GRPC_EMULATOR")]
    emulator: bool,

    /// Bound on a call, in milliseconds, when the caller sends no grpc-timeout.
    #[arg(
        long,
        env = "ELASTICACHE_GRPC_DEFAULT_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    default_timeout_ms: u64,

    /// Largest message accepted or sent, in bytes.
    #[arg(long, env = "ELASTICACHE_GRPC_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    max_message_bytes: usize,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run only the ElastiCache emulator, for any AWS client (AWS CLI, boto3, SDKs).
    Emulator {
        /// Address to serve the AWS Query protocol on.
        #[arg(
            long,
            env = "ELASTICACHE_GRPC_EMULATOR_LISTEN",
            default_value = "127.0.0.1:4566"
        )]
        listen: SocketAddr,
        /// Milliseconds a cache or snapshot stays `creating` (and a snapshot `exporting`).
        #[arg(long, default_value_t = 2_000)]
        settle_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Emulator { listen, settle_ms }) = cli.command {
        let config = EmulatorConfig {
            settle_time: Duration::from_millis(settle_ms),
            export_time: Duration::from_millis(settle_ms),
            ..EmulatorConfig::default()
        };
        tracing::info!(address = %listen, "ElastiCache emulator listening");
        emulator::serve(listen, config, shutdown_signal()).await?;
        return Ok(());
    }

    let upstream = if cli.emulator {
        Upstream::Emulator(EmulatorConfig::default())
    } else {
        Upstream::AwsChain
    };
    let mut settings = Settings::new(cli.listen, upstream);
    settings.default_timeout = Duration::from_millis(cli.default_timeout_ms);
    settings.max_message_bytes = cli.max_message_bytes;

    let app = Application::build(settings).await?;
    app.run_until_stopped(shutdown_signal()).await
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for SIGINT: {err}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::error!("cannot listen for SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
