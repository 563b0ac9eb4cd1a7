//! `elasticache-grpc`: the server, and the standalone emulator (`elasticache-grpc emulator`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use elasticache_grpc::config::{
    ConfigError, FileConfig, LogFormat, Overrides, Settings, TlsSettings, Upstream,
};
use elasticache_grpc::emulator::{self, EmulatorConfig};
use elasticache_grpc::identity;
use elasticache_grpc::startup::Application;
use elasticache_grpc::telemetry;

/// gRPC facade for Amazon ElastiCache serverless caches and snapshots.
///
/// AWS settings (region, credentials, endpoint) come from the standard AWS configuration chain:
/// AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_ELASTICACHE, web identity, instance metadata.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to serve gRPC on, HOST:PORT [default: 127.0.0.1:50051].
    #[arg(long, env = "ELASTICACHE_GRPC_LISTEN", value_parser = resolve)]
    listen: Option<SocketAddr>,

    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, env = "ELASTICACHE_GRPC_METRICS_LISTEN", value_parser = resolve)]
    metrics_listen: Option<SocketAddr>,

    /// Log format [default: text].
    #[arg(long, env = "ELASTICACHE_GRPC_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,

    /// Config file (TOML): server limits, upstream policy, callers.
    #[arg(long, env = "ELASTICACHE_GRPC_CONFIG")]
    config: Option<PathBuf>,

    /// Start an in-process ElastiCache emulator and send every call to it (no AWS account needed).
    #[arg(long, env = "ELASTICACHE_GRPC_EMULATOR")]
    emulator: bool,

    #[command(flatten)]
    s3: EmulatedS3,

    #[command(flatten)]
    accounts: EmulatedAccounts,

    #[command(flatten)]
    state: EmulatorState,

    /// Bound on a call, in milliseconds, when the caller sends no grpc-timeout [default: 30000].
    #[arg(long, env = "ELASTICACHE_GRPC_DEFAULT_TIMEOUT_MS")]
    default_timeout_ms: Option<u64>,

    /// Milliseconds a new connection has to finish its TLS handshake and HTTP/2 preface before it
    /// is closed [default: 5000].
    #[arg(long, env = "ELASTICACHE_GRPC_HANDSHAKE_TIMEOUT_MS")]
    handshake_timeout_ms: Option<u64>,

    /// Open connections at most; beyond it new connections are closed at once [default: 4096].
    #[arg(long, env = "ELASTICACHE_GRPC_MAX_CONNECTIONS")]
    max_connections: Option<usize>,

    /// Largest message accepted or sent, in bytes, at least 1024 [default: 4194304].
    #[arg(long, env = "ELASTICACHE_GRPC_MAX_MESSAGE_BYTES")]
    max_message_bytes: Option<usize>,

    /// After SIGTERM/SIGINT, milliseconds to keep serving as NOT_SERVING before closing the
    /// listener (so load balancers notice), then drain calls in flight [default: 0].
    #[arg(long, env = "ELASTICACHE_GRPC_DRAIN_DELAY_MS")]
    drain_delay_ms: Option<u64>,

    /// PEM certificate chain: serve TLS.
    #[arg(long, env = "ELASTICACHE_GRPC_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "ELASTICACHE_GRPC_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// PEM CA of client certificates: ask clients for one, and identify callers by certificate
    /// (clients without one are identified by their token).
    #[arg(long, env = "ELASTICACHE_GRPC_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,

    /// Serve unauthenticated calls on a non-loopback address when no callers are configured.
    #[arg(long, env = "ELASTICACHE_GRPC_ALLOW_UNAUTHENTICATED")]
    allow_unauthenticated: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

/// The emulator's S3: exports write their objects into bucket folders on disk.
#[derive(Debug, clap::Args)]
struct EmulatedS3 {
    /// Folder holding the emulator's S3 buckets, one folder each: an export writes its objects
    /// into DIR/BUCKET/ [default: elasticache-grpc-s3 in the temp dir].
    #[arg(long, env = "ELASTICACHE_GRPC_S3_DIR", value_name = "DIR")]
    s3_dir: Option<PathBuf>,

    /// A bucket the emulator's S3 has (created in --s3-dir at start; repeat for more). An export
    /// to any other bucket answers AWS's fault.
    #[arg(
        long = "s3-bucket",
        value_name = "NAME",
        default_value = "corp-cache-backups"
    )]
    s3_buckets: Vec<String>,
}

impl EmulatedS3 {
    /// Makes the folders, and says where they are.
    fn prepare(&self) -> anyhow::Result<PathBuf> {
        let dir = self
            .s3_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("elasticache-grpc-s3"));
        for bucket in &self.s3_buckets {
            anyhow::ensure!(
                !bucket.is_empty()
                    && !bucket.contains(['/', '\\'])
                    && bucket != ".."
                    && bucket != ".",
                "--s3-bucket {bucket:?} is not a bucket name"
            );
            let path = dir.join(bucket);
            std::fs::create_dir_all(&path)
                .map_err(|e| anyhow::anyhow!("--s3-dir: cannot create {}: {e}", path.display()))?;
        }
        tracing::info!(
            dir = %dir.display(),
            buckets = ?self.s3_buckets,
            "the emulator's S3: exports write into DIR/BUCKET/"
        );
        Ok(dir)
    }
}

/// The AWS accounts the emulator plays.
#[derive(Debug, clap::Args)]
struct EmulatedAccounts {
    /// The AWS accounts the emulator plays, 12-digit ids separated by commas, the default (first)
    /// one for credentials the emulator did not issue [default: 123456789012]. Each account has
    /// its own resources in every region; the emulator answers STS AssumeRole for a role in any
    /// of them, and the credentials it issues sign that account's requests.
    #[arg(
        long = "emulator-accounts",
        alias = "accounts",
        env = "ELASTICACHE_GRPC_EMULATOR_ACCOUNTS",
        value_name = "ACCOUNT,...",
        value_delimiter = ',',
        value_parser = account_id
    )]
    accounts: Vec<String>,
}

impl EmulatedAccounts {
    /// Puts the accounts into `config`: the first is the default one.
    fn apply(self, config: &mut EmulatorConfig) {
        let mut accounts = self.accounts.into_iter();
        if let Some(first) = accounts.next() {
            config.account_id = first;
        }
        config.accounts = accounts.collect();
    }
}

/// A 12-digit AWS account id.
fn account_id(id: &str) -> Result<String, String> {
    if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_owned())
    } else {
        Err(format!("{id:?} is not an AWS account id (12 digits)"))
    }
}

/// Where the emulator keeps its account across restarts.
#[derive(Debug, clap::Args)]
struct EmulatorState {
    /// JSON file the emulator keeps its resources in: read at start (created when missing) and
    /// rewritten after every change, so they survive a restart. A file it cannot use (not its
    /// format, another version, region or account) stops the start naming the problem
    /// [default: none, state in memory only].
    #[arg(long, env = "ELASTICACHE_GRPC_STATE_FILE", value_name = "PATH")]
    state_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run only the ElastiCache emulator, for any AWS client (AWS CLI, boto3, SDKs).
    Emulator {
        /// Address to serve the AWS Query protocol on (loopback unless --allow-remote).
        #[arg(
            long,
            env = "ELASTICACHE_GRPC_EMULATOR_LISTEN",
            default_value = "127.0.0.1:4566",
            value_parser = resolve
        )]
        listen: SocketAddr,
        /// Serve on a non-loopback address. The emulator's control API (/_emulator/faults,
        /// /_emulator/reset) has no authentication: anyone who can reach it can change its state.
        #[arg(long)]
        allow_remote: bool,
        /// Milliseconds a cache or snapshot stays `creating` (and a snapshot `exporting`).
        #[arg(long, default_value_t = 2_000)]
        settle_ms: u64,
        #[command(flatten)]
        s3: EmulatedS3,
        #[command(flatten)]
        accounts: EmulatedAccounts,
        #[command(flatten)]
        state: EmulatorState,
    },
    /// Read a bearer token on stdin and print the SHA-256 digest to put in the config file.
    HashToken,
}

/// jemalloc: glibc's malloc/free was a sixth of the facade's CPU per call (BENCHMARKS.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit code for a bad configuration (EX_USAGE).
const EXIT_BAD_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::HashToken) = cli.command {
        return hash_token();
    }
    if let Some(Command::Emulator {
        listen,
        allow_remote: false,
        ..
    }) = &cli.command
        && !listen.ip().is_loopback()
    {
        eprintln!(
            "error: bad configuration: emulator --listen {listen} is not a loopback address; the \
             emulator's control API has no authentication. Pass --allow-remote to serve it anyway"
        );
        return ExitCode::from(EXIT_BAD_CONFIG);
    }
    let file = match cli.config.as_deref().map(FileConfig::load).transpose() {
        Ok(file) => file,
        Err(err) => {
            eprintln!("error: bad configuration: {err}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let log_format = cli
        .log_format
        .or_else(|| file.as_ref().and_then(FileConfig::log_format))
        .unwrap_or_default();
    telemetry::init(log_format);
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
    match runtime.block_on(run(cli, file)) {
        Ok(()) => ExitCode::SUCCESS,
        // Said once, on stderr, whatever the log format: a person reads it at start-up.
        Err(err) if err.downcast_ref::<ConfigError>().is_some() => {
            eprintln!("error: bad configuration: {err:#}");
            ExitCode::from(EXIT_BAD_CONFIG)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn hash_token() -> ExitCode {
    let mut token = String::new();
    if let Err(err) = std::io::stdin().read_line(&mut token) {
        eprintln!("error: cannot read the token: {err}");
        return ExitCode::FAILURE;
    }
    // The bearer check ignores whitespace around the token (HTTP strips it from header values),
    // so the digest is of the token without it too.
    let token = token.trim();
    if token.is_empty() {
        eprintln!("error: no token on stdin");
        return ExitCode::FAILURE;
    }
    println!("{}", identity::hash_token(token));
    ExitCode::SUCCESS
}

async fn run(cli: Cli, file: Option<FileConfig>) -> anyhow::Result<()> {
    if let Some(Command::Emulator {
        listen,
        settle_ms,
        s3,
        accounts,
        state,
        ..
    }) = cli.command
    {
        let mut config = EmulatorConfig {
            settle_time: Duration::from_millis(settle_ms),
            export_time: Duration::from_millis(settle_ms),
            s3_dir: Some(s3.prepare()?),
            state_file: state.state_file,
            ..EmulatorConfig::default()
        };
        accounts.apply(&mut config);
        emulator::serve(listen, config, shutdown_signal()).await?;
        return Ok(());
    }

    if !cli.emulator && !cli.accounts.accounts.is_empty() {
        return Err(ConfigError {
            file: None,
            key: "--emulator-accounts".to_owned(),
            reason: "the accounts are the embedded emulator's; add --emulator".to_owned(),
        }
        .into());
    }
    let upstream = if cli.emulator {
        let mut config = EmulatorConfig {
            s3_dir: Some(cli.s3.prepare()?),
            state_file: cli.state.state_file,
            ..EmulatorConfig::default()
        };
        cli.accounts.apply(&mut config);
        Upstream::Emulator(config)
    } else {
        Upstream::AwsChain
    };
    let overrides = Overrides {
        listen: cli.listen,
        metrics_listen: cli.metrics_listen,
        default_timeout_ms: cli.default_timeout_ms,
        max_message_bytes: cli.max_message_bytes,
        drain_delay_ms: cli.drain_delay_ms,
    };
    let mut settings = Settings::new(
        cli.listen.unwrap_or(([127, 0, 0, 1], 50051).into()),
        upstream,
    );
    if let Some(ms) = cli.default_timeout_ms {
        settings.default_timeout = Duration::from_millis(ms);
    }
    settings.metrics_listen = cli.metrics_listen;
    if let Some(ms) = cli.drain_delay_ms {
        settings.drain_delay = Duration::from_millis(ms);
    }
    if let Some(bytes) = cli.max_message_bytes {
        settings.max_message_bytes = bytes;
    }
    settings.config_file = cli.config.clone();
    if let Some(file) = file {
        file.apply(&mut settings, &overrides);
    }
    // Flags and environment win over the file.
    if let Some(ms) = cli.handshake_timeout_ms {
        settings.handshake_timeout = Duration::from_millis(ms);
    }
    if let Some(n) = cli.max_connections {
        settings.max_connections = n;
    }
    settings.allow_unauthenticated = cli.allow_unauthenticated;
    if let (Some(cert), Some(key)) = (cli.tls_cert, cli.tls_key) {
        settings.tls = Some(TlsSettings {
            cert,
            key,
            client_ca: cli.tls_client_ca,
        });
    }

    let app = Application::build(settings).await?;
    app.run_until_stopped(shutdown_signal()).await
}

/// `HOST:PORT`, with HOST an address or a name (`localhost:50051`).
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    elasticache_grpc::config::resolve(addr)
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
