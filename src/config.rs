//! Typed settings: flags > `ELASTICACHE_GRPC_*` environment > config file (TOML) > defaults.
//!
//! The binary's flags and environment arrive as [`Overrides`] (clap reads both); the file is
//! parsed by [`FileConfig::parse`], which tests hand a string. AWS settings are not here: they come
//! from the standard AWS configuration chain.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::emulator::EmulatorConfig;
use crate::methods::rpc_names;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the SDK client sends its requests.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// The standard AWS configuration chain (region, credentials, endpoint overrides).
    AwsChain,
    /// An emulator started in-process on an ephemeral loopback port.
    Emulator(EmulatorConfig),
    /// A fixed endpoint with static test credentials and region `us-east-1` (tests, benchmarks).
    Endpoint(String),
}

/// A SHA-256 digest of a bearer token. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenDigest(pub [u8; 32]);

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest(<redacted>)")
    }
}

/// One caller and what it may do.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerConfig {
    /// Name used in logs, audit lines, metrics and `QuotaFailure`.
    pub name: String,
    /// Digest of the caller's bearer token.
    pub token_sha256: Option<TokenDigest>,
    /// Identity in the caller's client certificate (URI SAN, else DNS SAN, else CN).
    pub mtls_identity: Option<String>,
    /// RPC names the caller may call; `*` stands for any run of characters.
    pub allow: Vec<String>,
    /// Buckets the caller may export to.
    pub export_buckets: Vec<String>,
    /// Sustained calls per second (GCRA); `None` is unlimited.
    pub requests_per_second: Option<u32>,
    /// Calls allowed at once above the sustained rate.
    pub burst: Option<u32>,
    /// Names of the `[targets]` the caller may call; empty when no targets are configured.
    pub targets: Vec<String>,
    /// The target of a call without `x-elasticache-target`; `None`: the only one in `targets`.
    pub default_target: Option<String>,
}

impl CallerConfig {
    /// The target a call goes to when it names none.
    pub fn default_target(&self) -> Option<&str> {
        match (&self.default_target, self.targets.as_slice()) {
            (Some(name), _) => Some(name),
            (None, [only]) => Some(only),
            (None, _) => None,
        }
    }
}

/// One AWS account and region the facade calls (`[targets.<name>]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// The name callers use in `x-elasticache-target`, metrics, audit lines and state keys.
    pub name: String,
    /// The AWS region of the target's caches.
    pub region: String,
    /// The IAM role assumed (STS AssumeRole) with the facade's own credentials, when set.
    pub role_arn: Option<String>,
    /// The external ID the role's trust policy asks for.
    pub external_id: Option<String>,
    /// The role session name (CloudTrail shows it); `elasticache-grpc` by default.
    pub session_name: Option<String>,
    /// An ElastiCache endpoint instead of the region's (tests, emulators, VPC endpoints).
    pub endpoint_url: Option<String>,
    /// An STS endpoint for AssumeRole instead of the region's (VPC endpoints, tests).
    pub sts_endpoint_url: Option<String>,
}

/// Upstream call policy.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSettings {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Backoff cap before the first retry.
    pub initial_backoff: Duration,
    /// Largest backoff cap.
    pub max_backoff: Duration,
    /// Bound on one attempt.
    pub attempt_timeout: Duration,
    /// Calls per second to ElastiCache from this process, all callers together.
    pub requests_per_second: u32,
    /// Calls allowed at once above that rate.
    pub burst: u32,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(10),
            requests_per_second: 20,
            burst: 40,
        }
    }
}

/// How watches poll and how long they last (`[watch]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSettings {
    /// Time between polls of a resource in a transitional state.
    pub poll_interval: Duration,
    /// Time between polls of a settled resource (watched with `keep_watching_when_settled`).
    pub settled_poll_interval: Duration,
    /// A heartbeat message when nothing changed for this long.
    pub heartbeat: Duration,
    /// Longest a watch lasts, whatever the caller's deadline.
    pub max_duration: Duration,
    /// Open watches at most, all callers together; beyond it RESOURCE_EXHAUSTED.
    pub max_watches: usize,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(2),
            settled_poll_interval: Duration::from_secs(10),
            heartbeat: Duration::from_secs(15),
            max_duration: Duration::from_secs(3600),
            max_watches: 10_000,
        }
    }
}

/// Where limits and `request_id` records live (`[state]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSettings {
    /// Redis/Valkey (`redis://` or `rediss://`); `None`: this process's memory.
    pub redis_url: Option<String>,
    /// The Redis password, read from the environment variable `password_env` names.
    pub redis_password: Option<String>,
    /// Prefix of every key the facade writes.
    pub key_prefix: String,
    /// Longest wait for one Redis command; past it the state is degraded for that call.
    pub command_timeout: Duration,
    /// Replicas sharing the limits: while Redis is unreachable each enforces its share.
    pub replicas: u32,
    /// How long the outcome of a `request_id` call is kept.
    pub request_id_ttl: Duration,
}

impl Default for StateSettings {
    fn default() -> Self {
        Self {
            redis_url: None,
            redis_password: None,
            key_prefix: "elasticache-grpc:".into(),
            command_timeout: Duration::from_millis(50),
            replicas: 1,
            request_id_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// The environment variable that holds the Redis password unless `[state] password_env` names
/// another.
pub const REDIS_PASSWORD_ENV: &str = "ELASTICACHE_GRPC_REDIS_PASSWORD";

/// TLS material; with `client_ca`, clients must present a certificate it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain of the server.
    pub cert: PathBuf,
    /// PEM private key of the server.
    pub key: PathBuf,
    /// PEM CA that signs client certificates (mTLS).
    pub client_ca: Option<PathBuf>,
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the gRPC server binds (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Bound on a call when the caller sends no `grpc-timeout`.
    pub default_timeout: Duration,
    /// Largest request or response message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Calls in flight across all callers; beyond it RESOURCE_EXHAUSTED at once.
    pub max_concurrent_requests: usize,
    /// Where ElastiCache calls go.
    pub upstream: Upstream,
    /// Retries, timeouts and the upstream rate budget.
    pub upstream_policy: UpstreamSettings,
    /// The known callers; empty means unauthenticated (loopback only, unless allowed).
    pub callers: Vec<CallerConfig>,
    /// Named AWS accounts and regions, sorted by name; empty: the one implicit target of
    /// `upstream`.
    pub targets: Vec<TargetConfig>,
    /// Serve without callers on a non-loopback address.
    pub allow_unauthenticated: bool,
    /// TLS, when configured.
    pub tls: Option<TlsSettings>,
    /// Where Prometheus metrics are served (`/metrics`), when set.
    pub metrics_listen: Option<SocketAddr>,
    /// How long to keep serving, NOT_SERVING, after a shutdown signal before closing the listener.
    pub drain_delay: Duration,
    /// A connection that has not finished its TLS handshake and HTTP/2 preface within this is
    /// closed.
    pub handshake_timeout: Duration,
    /// Open connections at most; beyond it new connections are closed at once.
    pub max_connections: usize,
    /// HTTP/2 keep-alive: a PING after this long without traffic…
    pub keepalive_interval: Duration,
    /// …and the connection is closed when its answer takes longer than this.
    pub keepalive_timeout: Duration,
    /// Identical read-only calls in flight at once share one upstream call.
    pub coalesce_describes: bool,
    /// Browser origins (`https://console.example.com`) that may call over Connect and gRPC-Web
    /// (CORS); none by default.
    pub cors_allowed_origins: Vec<String>,
    /// Watches: poll intervals, heartbeat, limits.
    pub watch: WatchSettings,
    /// Where limits and request_id records live.
    pub state: StateSettings,
    /// The config file the settings came from, for error messages.
    pub config_file: Option<PathBuf>,
}

/// The smallest `max_message_bytes`: below it not even a one-resource response fits.
pub const MIN_MESSAGE_BYTES: usize = 1024;

impl Settings {
    /// Defaults for everything, talking to `upstream`.
    pub fn new(listen: SocketAddr, upstream: Upstream) -> Self {
        Self {
            listen,
            default_timeout: Duration::from_secs(30),
            max_message_bytes: 4 * 1024 * 1024,
            max_concurrent_requests: 1024,
            upstream,
            upstream_policy: UpstreamSettings::default(),
            callers: Vec::new(),
            targets: Vec::new(),
            allow_unauthenticated: false,
            tls: None,
            metrics_listen: None,
            drain_delay: Duration::ZERO,
            handshake_timeout: Duration::from_secs(5),
            max_connections: 4096,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            coalesce_describes: true,
            cors_allowed_origins: Vec::new(),
            watch: WatchSettings::default(),
            state: StateSettings::default(),
            config_file: None,
        }
    }

    /// Refuses what must not start (DESIGN §6: fail closed).
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.callers.is_empty() && !self.listen.ip().is_loopback() && !self.allow_unauthenticated
        {
            return Err(ConfigError::new(
                "callers",
                format!(
                    "no callers are configured, so calls would be unauthenticated; {} is not a \
                     loopback address. Configure [[callers]] or pass --allow-unauthenticated",
                    self.listen
                ),
            ));
        }
        let in_file = |e: ConfigError| match &self.config_file {
            Some(file) => e.in_file(file),
            None => e,
        };
        if self.max_message_bytes < MIN_MESSAGE_BYTES {
            return Err(ConfigError::new(
                "max_message_bytes",
                format!(
                    "{} is too small to carry a response: at least {MIN_MESSAGE_BYTES}",
                    self.max_message_bytes
                ),
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::new(
                "max_connections",
                "must be greater than 0",
            ));
        }
        if self.handshake_timeout.is_zero() {
            return Err(ConfigError::new(
                "handshake_timeout_ms",
                "must be greater than 0",
            ));
        }
        check_identities_unique(&self.callers).map_err(in_file)?;
        check_targets(&self.targets, &self.callers).map_err(in_file)?;
        let client_ca = self.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        if !client_ca
            && let Some((i, c)) = self
                .callers
                .iter()
                .enumerate()
                .find(|(_, c)| c.mtls_identity.is_some() && c.token_sha256.is_none())
        {
            return Err(in_file(ConfigError::new(
                format!("callers[{i}].mtls_identity"),
                format!(
                    "caller {:?} can only be identified by a client certificate, but no \
                     --tls-client-ca is configured: add --tls-cert, --tls-key and \
                     --tls-client-ca, or give the caller a token_sha256",
                    c.name
                ),
            )));
        }
        Ok(())
    }
}

/// A configuration problem: where (file, key) and why.
#[derive(Debug, thiserror::Error)]
#[error("{}{key}: {reason}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
pub struct ConfigError {
    /// The file, when the problem is in one.
    pub file: Option<PathBuf>,
    /// The key, e.g. `callers[1].token_sha256`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            file: None,
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The same problem, in `file`.
    pub fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_owned());
        self
    }
}

/// The config file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    upstream: UpstreamSection,
    #[serde(default)]
    callers: Vec<CallerSection>,
    #[serde(default)]
    watch: WatchSection,
    #[serde(default)]
    state: StateSection,
    #[serde(default)]
    targets: std::collections::BTreeMap<String, TargetSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSection {
    region: String,
    role_arn: Option<String>,
    external_id: Option<String>,
    session_name: Option<String>,
    endpoint_url: Option<String>,
    sts_endpoint_url: Option<String>,
}

impl TargetSection {
    fn to_config(&self, name: &str) -> TargetConfig {
        TargetConfig {
            name: name.to_owned(),
            region: self.region.clone(),
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
            session_name: self.session_name.clone(),
            endpoint_url: self.endpoint_url.clone(),
            sts_endpoint_url: self.sts_endpoint_url.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Backend {
    #[default]
    Memory,
    Redis,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateSection {
    #[serde(default)]
    backend: Backend,
    url: Option<String>,
    password_env: Option<String>,
    key_prefix: Option<String>,
    command_timeout_ms: Option<u64>,
    replicas: Option<u32>,
    request_id_ttl_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WatchSection {
    poll_interval_ms: Option<u64>,
    settled_poll_interval_ms: Option<u64>,
    heartbeat_ms: Option<u64>,
    max_duration_ms: Option<u64>,
    max_watches: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: Option<String>,
    metrics_listen: Option<String>,
    log_format: Option<LogFormat>,
    max_concurrent_requests: Option<usize>,
    default_timeout_ms: Option<u64>,
    max_message_bytes: Option<usize>,
    drain_delay_ms: Option<u64>,
    handshake_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    keepalive_interval_ms: Option<u64>,
    keepalive_timeout_ms: Option<u64>,
    coalesce_describes: Option<bool>,
    cors_allowed_origins: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamSection {
    max_attempts: Option<u32>,
    initial_backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
    attempt_timeout_ms: Option<u64>,
    requests_per_second: Option<u32>,
    burst: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallerSection {
    name: String,
    token_sha256: Option<String>,
    mtls_identity: Option<String>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    export_buckets: Vec<String>,
    requests_per_second: Option<u32>,
    burst: Option<u32>,
    #[serde(default)]
    targets: Vec<String>,
    default_target: Option<String>,
}

impl FileConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("(file)", format!("cannot read: {e}")).in_file(path))?;
        Self::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Parses and checks config text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: FileConfig = toml::from_str(text).map_err(|e| {
            let reason = e.message().to_owned();
            let key = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!("(line {line})")
                })
                .unwrap_or_else(|| "(file)".into());
            ConfigError::new(key, reason)
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let positive = |key: &str, v: Option<u64>| match v {
            Some(0) => Err(ConfigError::new(key, "must be greater than 0")),
            _ => Ok(()),
        };
        positive(
            "server.max_concurrent_requests",
            self.server.max_concurrent_requests.map(|v| v as u64),
        )?;
        positive("server.default_timeout_ms", self.server.default_timeout_ms)?;
        positive(
            "upstream.max_attempts",
            self.upstream.max_attempts.map(u64::from),
        )?;
        positive(
            "upstream.requests_per_second",
            self.upstream.requests_per_second.map(u64::from),
        )?;
        positive("upstream.burst", self.upstream.burst.map(u64::from))?;
        positive(
            "upstream.attempt_timeout_ms",
            self.upstream.attempt_timeout_ms,
        )?;
        positive(
            "server.handshake_timeout_ms",
            self.server.handshake_timeout_ms,
        )?;
        positive(
            "server.max_connections",
            self.server.max_connections.map(|v| v as u64),
        )?;
        positive(
            "server.keepalive_interval_ms",
            self.server.keepalive_interval_ms,
        )?;
        positive(
            "server.keepalive_timeout_ms",
            self.server.keepalive_timeout_ms,
        )?;
        for origin in self.server.cors_allowed_origins.iter().flatten() {
            check_origin(origin)
                .map_err(|why| ConfigError::new("server.cors_allowed_origins", why))?;
        }
        let st = &self.state;
        positive("state.command_timeout_ms", st.command_timeout_ms)?;
        positive("state.replicas", st.replicas.map(u64::from))?;
        positive("state.request_id_ttl_secs", st.request_id_ttl_secs)?;
        match (st.backend, &st.url) {
            (Backend::Redis, None) => {
                return Err(ConfigError::new(
                    "state.url",
                    "backend = \"redis\" needs url = \"redis://HOST:PORT\" (or rediss:// for TLS)",
                ));
            }
            (Backend::Memory, Some(_)) => {
                return Err(ConfigError::new(
                    "state.url",
                    "a url is only used with backend = \"redis\"",
                ));
            }
            (Backend::Redis, Some(url)) => {
                check_redis_url(url).map_err(|why| ConfigError::new("state.url", why))?
            }
            (Backend::Memory, None) => {}
        }
        let w = &self.watch;
        positive("watch.poll_interval_ms", w.poll_interval_ms)?;
        positive("watch.settled_poll_interval_ms", w.settled_poll_interval_ms)?;
        positive("watch.heartbeat_ms", w.heartbeat_ms)?;
        positive("watch.max_duration_ms", w.max_duration_ms)?;
        positive("watch.max_watches", w.max_watches.map(|v| v as u64))?;
        if let Some(bytes) = self.server.max_message_bytes
            && bytes < MIN_MESSAGE_BYTES
        {
            return Err(ConfigError::new(
                "server.max_message_bytes",
                format!("{bytes} is too small to carry a response: at least {MIN_MESSAGE_BYTES}"),
            ));
        }
        for (key, addr) in [
            ("server.listen", &self.server.listen),
            ("server.metrics_listen", &self.server.metrics_listen),
        ] {
            if let Some(addr) = addr {
                resolve(addr).map_err(|why| ConfigError::new(key, why))?;
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.callers.iter().enumerate() {
            let key = |k: &str| format!("callers[{i}].{k}");
            if c.name.is_empty() {
                return Err(ConfigError::new(key("name"), "must not be empty"));
            }
            if !names.insert(c.name.as_str()) {
                return Err(ConfigError::new(
                    key("name"),
                    format!("{:?} is used twice", c.name),
                ));
            }
            if c.token_sha256.is_none() && c.mtls_identity.is_none() {
                return Err(ConfigError::new(
                    key("token_sha256"),
                    "a caller needs token_sha256 or mtls_identity",
                ));
            }
            if let Some(t) = &c.token_sha256 {
                parse_digest(t).map_err(|why| ConfigError::new(key("token_sha256"), why))?;
            }
            if c.mtls_identity
                .as_deref()
                .is_some_and(|id| id.trim().is_empty())
            {
                return Err(ConfigError::new(
                    key("mtls_identity"),
                    "must not be empty: no certificate has an empty identity",
                ));
            }
            for bucket in &c.export_buckets {
                crate::validate::check_bucket_name(bucket).map_err(|why| {
                    ConfigError::new(
                        key("export_buckets"),
                        format!("{bucket:?} can never match a bucket: {why}"),
                    )
                })?;
            }
            for pattern in &c.allow {
                if !valid_pattern(pattern) {
                    return Err(ConfigError::new(
                        key("allow"),
                        format!(
                            "{pattern:?} names no RPC (RPC names, * for any run of characters)"
                        ),
                    ));
                }
            }
            positive(
                &key("requests_per_second"),
                c.requests_per_second.map(u64::from),
            )?;
            positive(&key("burst"), c.burst.map(u64::from))?;
        }
        let callers: Vec<_> = self
            .callers
            .iter()
            .map(|c| CallerConfig {
                name: c.name.clone(),
                token_sha256: c.token_sha256.as_deref().and_then(|t| parse_digest(t).ok()),
                mtls_identity: c.mtls_identity.clone(),
                allow: Vec::new(),
                export_buckets: Vec::new(),
                requests_per_second: None,
                burst: None,
                targets: c.targets.clone(),
                default_target: c.default_target.clone(),
            })
            .collect();
        check_identities_unique(&callers)?;
        let targets: Vec<_> = self
            .targets
            .iter()
            .map(|(name, t)| t.to_config(name))
            .collect();
        check_targets(&targets, &callers)
    }

    /// Applies the file's values to `settings` where flags and environment set nothing.
    pub fn apply(self, settings: &mut Settings, overrides: &Overrides) {
        // Addresses resolved in `check`.
        let listen = self.server.listen.as_deref().and_then(|a| resolve(a).ok());
        if let (None, Some(listen)) = (overrides.listen, listen) {
            settings.listen = listen;
        }
        let metrics = self
            .server
            .metrics_listen
            .as_deref()
            .and_then(|a| resolve(a).ok());
        if let (None, Some(m)) = (overrides.metrics_listen, metrics) {
            settings.metrics_listen = Some(m);
        }
        if let Some(ms) = self.server.handshake_timeout_ms {
            settings.handshake_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = self.server.max_connections {
            settings.max_connections = n;
        }
        if let Some(ms) = self.server.keepalive_interval_ms {
            settings.keepalive_interval = Duration::from_millis(ms);
        }
        if let Some(ms) = self.server.keepalive_timeout_ms {
            settings.keepalive_timeout = Duration::from_millis(ms);
        }
        if let (None, Some(ms)) = (overrides.default_timeout_ms, self.server.default_timeout_ms) {
            settings.default_timeout = Duration::from_millis(ms);
        }
        if let (None, Some(b)) = (overrides.max_message_bytes, self.server.max_message_bytes) {
            settings.max_message_bytes = b;
        }
        if let (None, Some(ms)) = (overrides.drain_delay_ms, self.server.drain_delay_ms) {
            settings.drain_delay = Duration::from_millis(ms);
        }
        if let Some(n) = self.server.max_concurrent_requests {
            settings.max_concurrent_requests = n;
        }
        if let Some(on) = self.server.coalesce_describes {
            settings.coalesce_describes = on;
        }
        if let Some(origins) = self.server.cors_allowed_origins {
            settings.cors_allowed_origins = origins;
        }
        let u = &mut settings.upstream_policy;
        let up = self.upstream;
        u.max_attempts = up.max_attempts.unwrap_or(u.max_attempts);
        u.initial_backoff = up
            .initial_backoff_ms
            .map_or(u.initial_backoff, Duration::from_millis);
        u.max_backoff = up
            .max_backoff_ms
            .map_or(u.max_backoff, Duration::from_millis);
        u.attempt_timeout = up
            .attempt_timeout_ms
            .map_or(u.attempt_timeout, Duration::from_millis);
        u.requests_per_second = up.requests_per_second.unwrap_or(u.requests_per_second);
        u.burst = up.burst.unwrap_or(u.burst);
        let w = &mut settings.watch;
        let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
        w.poll_interval = ms(self.watch.poll_interval_ms, w.poll_interval);
        w.settled_poll_interval = ms(self.watch.settled_poll_interval_ms, w.settled_poll_interval);
        w.heartbeat = ms(self.watch.heartbeat_ms, w.heartbeat);
        w.max_duration = ms(self.watch.max_duration_ms, w.max_duration);
        w.max_watches = self.watch.max_watches.unwrap_or(w.max_watches);
        let st = &mut settings.state;
        if self.state.backend == Backend::Redis {
            st.redis_url = self.state.url.clone();
            let env = self
                .state
                .password_env
                .clone()
                .unwrap_or_else(|| REDIS_PASSWORD_ENV.to_owned());
            st.redis_password = std::env::var(&env).ok().filter(|p| !p.is_empty());
        }
        if let Some(prefix) = &self.state.key_prefix {
            st.key_prefix = prefix.clone();
        }
        st.command_timeout = ms(self.state.command_timeout_ms, st.command_timeout);
        st.replicas = self.state.replicas.unwrap_or(st.replicas);
        st.request_id_ttl = self
            .state
            .request_id_ttl_secs
            .map_or(st.request_id_ttl, Duration::from_secs);
        settings.callers = self
            .callers
            .into_iter()
            .map(|c| CallerConfig {
                name: c.name,
                // Checked in `check`.
                token_sha256: c.token_sha256.and_then(|t| parse_digest(&t).ok()),
                mtls_identity: c.mtls_identity,
                allow: c.allow,
                export_buckets: c.export_buckets,
                requests_per_second: c.requests_per_second,
                burst: c.burst,
                targets: c.targets,
                default_target: c.default_target,
            })
            .collect();
        settings.targets = self
            .targets
            .iter()
            .map(|(name, t)| t.to_config(name))
            .collect();
    }

    /// The log format the file asks for.
    pub fn log_format(&self) -> Option<LogFormat> {
        self.server.log_format
    }
}

/// What flags and environment variables set; `None` leaves the choice to the file or default.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--metrics-listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `--default-timeout-ms`.
    pub default_timeout_ms: Option<u64>,
    /// `--max-message-bytes`.
    pub max_message_bytes: Option<usize>,
    /// `--drain-delay-ms`.
    pub drain_delay_ms: Option<u64>,
}

/// An origin as browsers send it: `http://` or `https://`, a host, an optional port, nothing else.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("{origin:?} is not an origin: it starts with https:// or http://")
        })?;
    let valid = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{origin:?} is not an origin: scheme, host and optional port only (no path, no \
             trailing slash, no wildcard)"
        ))
    }
}

/// A `redis://` or `rediss://` URL without a password in it: the password comes from the
/// environment, never from the file.
fn check_redis_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
        .ok_or_else(|| "must start with redis:// or rediss:// (TLS)".to_owned())?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "must not carry credentials: put the password in the environment variable \
             {REDIS_PASSWORD_ENV} (or the one [state] password_env names)"
        ));
    }
    if authority.is_empty() {
        return Err("names no host".into());
    }
    Ok(())
}

/// Whether `pattern` matches at least one RPC name.
fn valid_pattern(pattern: &str) -> bool {
    rpc_names().any(|n| pattern_matches(pattern, n))
}

/// Every identity belongs to one caller: two callers with one token digest or one certificate
/// identity would let the last one silently win (and one caller use the other's rights).
fn check_identities_unique(callers: &[CallerConfig]) -> Result<(), ConfigError> {
    for (j, later) in callers.iter().enumerate() {
        for (i, earlier) in callers[..j].iter().enumerate() {
            let same_token =
                later.token_sha256.is_some() && later.token_sha256 == earlier.token_sha256;
            let same_identity =
                later.mtls_identity.is_some() && later.mtls_identity == earlier.mtls_identity;
            let key = match (same_token, same_identity) {
                (true, _) => "token_sha256",
                (_, true) => "mtls_identity",
                _ => continue,
            };
            return Err(ConfigError::new(
                format!("callers[{j}].{key}"),
                format!(
                    "callers {:?} (callers[{i}]) and {:?} (callers[{j}]) have the same {key}: \
                     every identity must belong to exactly one caller",
                    earlier.name, later.name
                ),
            ));
        }
    }
    Ok(())
}

/// Targets are well formed and every caller's targets exist, with a default among them. With no
/// targets nothing here applies: the one implicit target serves every caller.
fn check_targets(targets: &[TargetConfig], callers: &[CallerConfig]) -> Result<(), ConfigError> {
    let mut names = std::collections::HashSet::new();
    for t in targets {
        let key = |k: &str| format!("targets.{}.{k}", t.name);
        check_target_name(&t.name)
            .map_err(|why| ConfigError::new(format!("targets.{}", t.name), why))?;
        if !names.insert(t.name.as_str()) {
            return Err(ConfigError::new(
                format!("targets.{}", t.name),
                "is configured twice",
            ));
        }
        let region_ok = !t.region.is_empty()
            && t.region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(ConfigError::new(
                key("region"),
                format!(
                    "{:?} is not an AWS region (such as \"eu-west-1\")",
                    t.region
                ),
            ));
        }
        if let Some(arn) = &t.role_arn {
            check_role_arn(arn).map_err(|why| ConfigError::new(key("role_arn"), why))?;
        }
        for (field, set) in [
            ("external_id", t.external_id.is_some()),
            ("session_name", t.session_name.is_some()),
            ("sts_endpoint_url", t.sts_endpoint_url.is_some()),
        ] {
            if set && t.role_arn.is_none() {
                return Err(ConfigError::new(
                    key(field),
                    "is only used with role_arn (the role to assume)",
                ));
            }
        }
        if let Some(id) = &t.external_id
            && !(2..=1224).contains(&id.len())
        {
            return Err(ConfigError::new(
                key("external_id"),
                "must be 2 to 1224 characters (STS's limit)",
            ));
        }
        if let Some(name) = &t.session_name {
            let valid = (2..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
            if !valid {
                return Err(ConfigError::new(
                    key("session_name"),
                    format!("{name:?} is not a role session name: 2 to 64 of [A-Za-z0-9_+=,.@-]"),
                ));
            }
        }
        for (field, url) in [
            ("endpoint_url", &t.endpoint_url),
            ("sts_endpoint_url", &t.sts_endpoint_url),
        ] {
            let Some(url) = url else { continue };
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .unwrap_or_default();
            if rest.is_empty() {
                return Err(ConfigError::new(
                    key(field),
                    format!(
                        "{url:?} is not a URL: it starts with https:// or http:// and names a host"
                    ),
                ));
            }
        }
    }
    for (i, c) in callers.iter().enumerate() {
        let key = |k: &str| format!("callers[{i}].{k}");
        if targets.is_empty() {
            if !c.targets.is_empty() || c.default_target.is_some() {
                return Err(ConfigError::new(
                    key("targets"),
                    format!(
                        "caller {:?} names targets, but no [targets.<name>] are configured",
                        c.name
                    ),
                ));
            }
            continue;
        }
        if c.targets.is_empty() {
            return Err(ConfigError::new(
                key("targets"),
                format!(
                    "caller {:?} may use no target: name at least one of {}",
                    c.name,
                    target_list(targets)
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for name in &c.targets {
            if !names.contains(name.as_str()) {
                return Err(ConfigError::new(
                    key("targets"),
                    format!(
                        "{name:?} is not a configured target (configured: {})",
                        target_list(targets)
                    ),
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(ConfigError::new(
                    key("targets"),
                    format!("{name:?} is named twice"),
                ));
            }
        }
        match (&c.default_target, c.default_target()) {
            (Some(d), _) if !c.targets.contains(d) => {
                return Err(ConfigError::new(
                    key("default_target"),
                    format!(
                        "{d:?} is not one of the caller's targets ({})",
                        c.targets.join(", ")
                    ),
                ));
            }
            (_, None) => {
                return Err(ConfigError::new(
                    key("default_target"),
                    format!(
                        "caller {:?} may use several targets: say which one a call without \
                         x-elasticache-target goes to",
                        c.name
                    ),
                ));
            }
            _ => {}
        }
    }
    if callers.is_empty() && targets.len() > 1 {
        return Err(ConfigError::new(
            "targets",
            "several targets and no [[callers]]: configure callers, each with its targets and \
             default_target, so that every call has a target it may use",
        ));
    }
    Ok(())
}

fn target_list(targets: &[TargetConfig]) -> String {
    targets
        .iter()
        .map(|t| t.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A target name goes into a header, metric labels and state keys: 1 to 64 of
/// `[A-Za-z0-9_.-]`.
pub fn check_target_name(name: &str) -> Result<(), String> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a target name: 1 to 64 of [A-Za-z0-9_.-]"
        ))
    }
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`.
fn check_role_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = matches!(
        parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if !partition.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|r| !r.is_empty())
    );
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"
        ))
    }
}

/// Resolves `host:port` (an IP address or a name such as `localhost`) to the first address.
pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(parsed) = addr.parse() {
        return Ok(parsed);
    }
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr:?} is not an address (HOST:PORT): {e}"))?
        .next()
        .ok_or_else(|| format!("{addr:?} resolves to no address"))
}

/// Whether `rpc` matches an `allow` pattern: an RPC name, where each `*` stands for any run of
/// characters (`*`, `Describe*`, `*Snapshot*`, `Create*Snapshot`).
pub fn pattern_matches(pattern: &str, rpc: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = rpc.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        // No `*`: the whole name.
        return rest.is_empty();
    };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Parses 64 hex digits.
pub fn parse_digest(hex_digits: &str) -> Result<TokenDigest, String> {
    let bytes = hex::decode(hex_digits.trim())
        .map_err(|_| "must be 64 hexadecimal digits (a SHA-256 digest)".to_owned())?;
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "must be 64 hexadecimal digits (a SHA-256 digest)".to_owned())?;
    Ok(TokenDigest(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[server]
max_concurrent_requests = 1024
default_timeout_ms = 30000

[upstream]
max_attempts = 3
initial_backoff_ms = 50
max_backoff_ms = 2000
requests_per_second = 20
burst = 40

[[callers]]
name = "backup-job"
token_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
allow = ["CreateServerlessCacheSnapshot", "DescribeServerlessCacheSnapshots", "ExportServerlessCacheSnapshot"]
export_buckets = ["corp-cache-backups"]
requests_per_second = 10
burst = 20

[[callers]]
name = "reporting"
mtls_identity = "spiffe://corp.example/ns/reporting/sa/reporting"
allow = ["Describe*"]
"#;

    fn settings() -> Settings {
        Settings::new(([127, 0, 0, 1], 0).into(), Upstream::AwsChain)
    }

    #[test]
    fn the_documented_example_parses_and_applies() {
        let file = FileConfig::parse(EXAMPLE).expect("example is valid");
        let mut s = settings();
        file.apply(&mut s, &Overrides::default());
        assert_eq!(s.callers.len(), 2);
        assert_eq!(s.callers[0].name, "backup-job");
        assert_eq!(s.callers[0].requests_per_second, Some(10));
        assert_eq!(s.callers[0].export_buckets, ["corp-cache-backups"]);
        assert!(s.callers[0].token_sha256.is_some());
        assert_eq!(s.callers[1].allow, ["Describe*"]);
        assert_eq!(s.upstream_policy.requests_per_second, 20);
        assert_eq!(s.upstream_policy.burst, 40);
        assert_eq!(s.max_concurrent_requests, 1024);
    }

    #[test]
    fn flags_win_over_the_file() {
        let file =
            FileConfig::parse("[server]\ndefault_timeout_ms = 1000\nlisten = \"127.0.0.1:7000\"\n")
                .unwrap();
        let mut s = settings();
        s.default_timeout = Duration::from_millis(5);
        file.apply(
            &mut s,
            &Overrides {
                default_timeout_ms: Some(5),
                ..Overrides::default()
            },
        );
        assert_eq!(s.default_timeout, Duration::from_millis(5));
        assert_eq!(s.listen, "127.0.0.1:7000".parse().unwrap());
    }

    #[test]
    fn bad_files_name_the_key_and_the_reason() {
        let cases = [
            (
                "[server]\nmax_concurrent_requests = 0\n",
                "server.max_concurrent_requests",
                "greater than 0",
            ),
            (
                "[[callers]]\nname = \"a\"\ntoken_sha256 = \"xyz\"\n",
                "callers[0].token_sha256",
                "64 hexadecimal",
            ),
            (
                "[[callers]]\nname = \"a\"\n",
                "callers[0].token_sha256",
                "needs token_sha256 or mtls_identity",
            ),
            (
                "[[callers]]\nname = \"a\"\nmtls_identity = \"x\"\nallow = [\"Nope\"]\n",
                "callers[0].allow",
                "names no RPC",
            ),
            (
                "[[callers]]\nname = \"a\"\nmtls_identity = \"x\"\n[[callers]]\nname = \"a\"\nmtls_identity = \"y\"\n",
                "callers[1].name",
                "used twice",
            ),
            ("[server]\nbogus = 1\n", "(line 2)", "unknown field"),
            (
                "[watch]\npoll_interval_ms = 0\n",
                "watch.poll_interval_ms",
                "greater than 0",
            ),
            (
                "[watch]\nmax_watches = 0\n",
                "watch.max_watches",
                "greater than 0",
            ),
            ("[watch]\npoll_every = 1\n", "(line 2)", "unknown field"),
            (
                "[server]\ncors_allowed_origins = [\"https://a.example/\"]\n",
                "server.cors_allowed_origins",
                "not an origin",
            ),
            (
                "[server]\ncors_allowed_origins = [\"*\"]\n",
                "server.cors_allowed_origins",
                "not an origin",
            ),
            ("[state]\nbackend = \"redis\"\n", "state.url", "needs url"),
            (
                "[state]\nurl = \"redis://h:6379\"\n",
                "state.url",
                "only used with",
            ),
            (
                "[state]\nbackend = \"redis\"\nurl = \"redis://:hunter2@h:6379\"\n",
                "state.url",
                "must not carry credentials",
            ),
            (
                "[state]\nbackend = \"redis\"\nurl = \"http://h:6379\"\n",
                "state.url",
                "redis://",
            ),
            (
                "[state]\nbackend = \"sql\"\n",
                "(line 2)",
                "unknown variant",
            ),
            (
                "[state]\nreplicas = 0\n",
                "state.replicas",
                "greater than 0",
            ),
        ];
        for (text, key, reason) in cases {
            let err = FileConfig::parse(text).expect_err(text);
            assert_eq!(err.key, key, "{text}");
            assert!(err.reason.contains(reason), "{text}: {}", err.reason);
        }
    }

    #[test]
    fn identities_belong_to_one_caller_and_entries_must_be_able_to_match() {
        let digest = "ab".repeat(32);
        let cases = [
            (
                format!(
                    "[[callers]]\nname = \"reader\"\ntoken_sha256 = \"{digest}\"\nallow = [\"Describe*\"]\n\
                     [[callers]]\nname = \"admin\"\ntoken_sha256 = \"{}\"\nallow = [\"*\"]\n",
                    digest.to_uppercase()
                ),
                "callers[1].token_sha256",
                "\"reader\" (callers[0]) and \"admin\" (callers[1]) have the same token_sha256",
            ),
            (
                "[[callers]]\nname = \"a\"\nmtls_identity = \"spiffe://x\"\n\
                 [[callers]]\nname = \"b\"\nmtls_identity = \"spiffe://x\"\n"
                    .to_owned(),
                "callers[1].mtls_identity",
                "\"a\" (callers[0]) and \"b\" (callers[1]) have the same mtls_identity",
            ),
            (
                "[[callers]]\nname = \"a\"\nmtls_identity = \"x\"\nexport_buckets = [\"\"]\n"
                    .to_owned(),
                "callers[0].export_buckets",
                "can never match",
            ),
            (
                "[[callers]]\nname = \"a\"\nmtls_identity = \"x\"\nexport_buckets = [\"Corp-Backups\"]\n"
                    .to_owned(),
                "callers[0].export_buckets",
                "lowercase",
            ),
            (
                "[[callers]]\nname = \"a\"\nmtls_identity = \"x\"\nallow = [\"\"]\n".to_owned(),
                "callers[0].allow",
                "names no RPC",
            ),
            (
                "[[callers]]\nname = \"a\"\nmtls_identity = \" \"\n".to_owned(),
                "callers[0].mtls_identity",
                "must not be empty",
            ),
            (
                "[server]\nmax_message_bytes = 0\n".to_owned(),
                "server.max_message_bytes",
                "too small",
            ),
            (
                "[server]\nlisten = \"nowhere\"\n".to_owned(),
                "server.listen",
                "not an address",
            ),
        ];
        for (text, key, reason) in cases {
            let err = FileConfig::parse(&text).expect_err(&text);
            assert_eq!(err.key, key, "{text}");
            assert!(err.reason.contains(reason), "{text}: {}", err.reason);
        }
    }

    #[test]
    fn settings_refuse_duplicates_and_an_mtls_caller_without_a_client_ca_naming_file_and_caller() {
        let caller = |name: &str, id: &str| CallerConfig {
            name: name.into(),
            token_sha256: None,
            mtls_identity: Some(id.into()),
            allow: vec!["*".into()],
            export_buckets: vec![],
            requests_per_second: None,
            burst: None,
            targets: Vec::new(),
            default_target: None,
        };
        let mut s = settings();
        s.config_file = Some(PathBuf::from("/etc/ecg.toml"));
        s.callers = vec![caller("reporting", "spiffe://r")];
        let err = s.check().expect_err("no client CA");
        let text = err.to_string();
        assert!(
            text.starts_with("/etc/ecg.toml: callers[0].mtls_identity"),
            "{text}"
        );
        assert!(text.contains("\"reporting\""), "{text}");
        s.tls = Some(TlsSettings {
            cert: "c".into(),
            key: "k".into(),
            client_ca: Some("ca".into()),
        });
        assert!(s.check().is_ok());
        s.callers.push(caller("other", "spiffe://r"));
        let err = s.check().expect_err("duplicate identity");
        assert!(
            err.to_string()
                .contains("\"reporting\" (callers[0]) and \"other\""),
            "{err}"
        );
        let mut s = settings();
        s.max_message_bytes = 0;
        assert_eq!(s.check().expect_err("zero").key, "max_message_bytes");
    }

    /// The Kubernetes ConfigMap's config.toml is read by this parser, not only by a YAML lint.
    #[test]
    fn the_shipped_configmap_parses() {
        let yaml = include_str!("../deploy/kubernetes/configmap.yaml");
        let start = yaml.find("config.toml: |").expect("config.toml key") + "config.toml: |".len();
        let toml: String = yaml[start..]
            .lines()
            .skip(1)
            .take_while(|line| line.is_empty() || line.starts_with("    "))
            .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
            .collect();
        let file = FileConfig::parse(&toml).expect("the ConfigMap's config.toml is valid");
        let mut s = settings();
        file.apply(&mut s, &Overrides::default());
        assert_eq!(s.upstream_policy.requests_per_second, 10);
        assert_eq!(s.watch.max_watches, 10_000);
        assert!(
            s.callers[0]
                .allow
                .iter()
                .any(|a| a == "WatchServerlessCacheSnapshot")
        );
    }

    #[test]
    fn the_state_section_applies() {
        let file = FileConfig::parse(
            "[state]\nbackend = \"redis\"\nurl = \"rediss://cache.example:6380/2\"\n\
             password_env = \"ELASTICACHE_GRPC_TEST_NO_SUCH_VARIABLE\"\nkey_prefix = \"t:\"\n\
             command_timeout_ms = 20\nreplicas = 3\nrequest_id_ttl_secs = 60\n",
        )
        .unwrap();
        let mut s = settings();
        assert_eq!(s.state, StateSettings::default());
        file.apply(&mut s, &Overrides::default());
        assert_eq!(
            s.state,
            StateSettings {
                redis_url: Some("rediss://cache.example:6380/2".into()),
                // The variable is unset: no password.
                redis_password: None,
                key_prefix: "t:".into(),
                command_timeout: Duration::from_millis(20),
                replicas: 3,
                request_id_ttl: Duration::from_secs(60),
            }
        );
    }

    #[test]
    fn the_watch_section_and_coalescing_apply() {
        let file = FileConfig::parse(
            "[server]\ncoalesce_describes = false\n\n[watch]\npoll_interval_ms = 500\n\
             settled_poll_interval_ms = 7000\nheartbeat_ms = 3000\nmax_duration_ms = 60000\n\
             max_watches = 12\n",
        )
        .unwrap();
        let mut s = settings();
        assert!(s.coalesce_describes);
        assert_eq!(s.watch, WatchSettings::default());
        file.apply(&mut s, &Overrides::default());
        assert!(!s.coalesce_describes);
        assert_eq!(
            s.watch,
            WatchSettings {
                poll_interval: Duration::from_millis(500),
                settled_poll_interval: Duration::from_secs(7),
                heartbeat: Duration::from_secs(3),
                max_duration: Duration::from_secs(60),
                max_watches: 12,
            }
        );
        let mut untouched = settings();
        FileConfig::parse("[watch]\nheartbeat_ms = 1000\n")
            .unwrap()
            .apply(&mut untouched, &Overrides::default());
        assert_eq!(untouched.watch.heartbeat, Duration::from_secs(1));
        assert_eq!(untouched.watch.poll_interval, Duration::from_secs(2));
    }

    const TARGETS: &str = r#"
[targets.prod-eu]
region = "eu-west-1"
role_arn = "arn:aws:iam::111111111111:role/elasticache-grpc"
external_id = "corp-facade"
session_name = "elasticache-grpc-prod"

[targets.staging-us]
region = "us-east-1"
endpoint_url = "http://127.0.0.1:4566"

[[callers]]
name = "backup-job"
mtls_identity = "spiffe://backup"
targets = ["prod-eu", "staging-us"]
default_target = "prod-eu"

[[callers]]
name = "reporting"
mtls_identity = "spiffe://reporting"
targets = ["staging-us"]
"#;

    #[test]
    fn targets_parse_and_apply_with_each_callers_default() {
        let file = FileConfig::parse(TARGETS).expect("targets are valid");
        let mut s = settings();
        file.apply(&mut s, &Overrides::default());
        let names: Vec<&str> = s.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["prod-eu", "staging-us"]);
        assert_eq!(
            s.targets[0],
            TargetConfig {
                name: "prod-eu".into(),
                region: "eu-west-1".into(),
                role_arn: Some("arn:aws:iam::111111111111:role/elasticache-grpc".into()),
                external_id: Some("corp-facade".into()),
                session_name: Some("elasticache-grpc-prod".into()),
                endpoint_url: None,
                sts_endpoint_url: None,
            }
        );
        assert_eq!(
            s.targets[1].endpoint_url.as_deref(),
            Some("http://127.0.0.1:4566")
        );
        assert_eq!(s.callers[0].targets, ["prod-eu", "staging-us"]);
        assert_eq!(s.callers[0].default_target(), Some("prod-eu"));
        // One target: it is the default.
        assert_eq!(s.callers[1].default_target(), Some("staging-us"));
        s.tls = Some(TlsSettings {
            cert: "c".into(),
            key: "k".into(),
            client_ca: Some("ca".into()),
        });
        assert!(s.check().is_ok());
    }

    #[test]
    fn without_targets_nothing_changes() {
        let file = FileConfig::parse(EXAMPLE).unwrap();
        let mut s = settings();
        file.apply(&mut s, &Overrides::default());
        assert!(s.targets.is_empty());
        assert!(s.callers.iter().all(|c| c.targets.is_empty()));
        assert_eq!(s.callers[0].default_target(), None);
    }

    #[test]
    fn bad_targets_name_the_key_and_the_reason() {
        let target = "[targets.a]\nregion = \"eu-west-1\"\n";
        let two = format!("{target}[targets.b]\nregion = \"us-east-1\"\n");
        let caller =
            |extra: &str| format!("[[callers]]\nname = \"c\"\nmtls_identity = \"x\"\n{extra}");
        let cases = [
            (
                caller("targets = [\"a\"]\n"),
                "callers[0].targets",
                "no [targets.<name>] are configured",
            ),
            (
                format!("{target}{}", caller("targets = [\"nope\"]\n")),
                "callers[0].targets",
                "\"nope\" is not a configured target (configured: a)",
            ),
            (
                format!("{target}{}", caller("")),
                "callers[0].targets",
                "may use no target",
            ),
            (
                format!("{two}{}", caller("targets = [\"a\", \"b\"]\n")),
                "callers[0].default_target",
                "say which one",
            ),
            (
                format!(
                    "{two}{}",
                    caller("targets = [\"a\"]\ndefault_target = \"b\"\n")
                ),
                "callers[0].default_target",
                "\"b\" is not one of the caller's targets (a)",
            ),
            (
                format!("{target}{}", caller("targets = [\"a\", \"a\"]\n")),
                "callers[0].targets",
                "named twice",
            ),
            (two.clone(), "targets", "several targets and no [[callers]]"),
            (
                "[targets.a]\nregion = \"EU West\"\n".into(),
                "targets.a.region",
                "not an AWS region",
            ),
            (
                "[targets.a]\nrole_arn = \"x\"\n".into(),
                "(line 1)",
                "missing field `region`",
            ),
            (
                format!("{target}role_arn = \"arn:aws:iam::1:role/x\"\n"),
                "targets.a.role_arn",
                "not an IAM role ARN",
            ),
            (
                format!("{target}external_id = \"abc\"\n"),
                "targets.a.external_id",
                "only used with role_arn",
            ),
            (
                format!(
                    "{target}role_arn = \"arn:aws:iam::111111111111:role/r\"\nsession_name = \"a b\"\n"
                ),
                "targets.a.session_name",
                "not a role session name",
            ),
            (
                format!("{target}endpoint_url = \"localhost:4566\"\n"),
                "targets.a.endpoint_url",
                "not a URL",
            ),
            (
                "[targets.\"a b\"]\nregion = \"eu-west-1\"\n".into(),
                "targets.a b",
                "not a target name",
            ),
            (format!("{target}bogus = 1\n"), "(line 3)", "unknown field"),
        ];
        for (text, key, reason) in cases {
            let err = FileConfig::parse(&text).expect_err(&text);
            assert_eq!(err.key, key, "{text}");
            assert!(err.reason.contains(reason), "{text}: {}", err.reason);
        }
    }

    #[test]
    fn settings_check_targets_too() {
        let mut s = settings();
        s.targets = vec![TargetConfig {
            name: "a".into(),
            region: "eu-west-1".into(),
            role_arn: None,
            external_id: None,
            session_name: None,
            endpoint_url: None,
            sts_endpoint_url: None,
        }];
        assert!(
            s.check().is_ok(),
            "one target, no callers: it serves every call"
        );
        s.config_file = Some(PathBuf::from("/etc/ecg.toml"));
        s.callers = vec![CallerConfig {
            targets: vec!["b".into()],
            ..caller_named("c")
        }];
        let err = s.check().expect_err("unknown target");
        assert!(
            err.to_string()
                .starts_with("/etc/ecg.toml: callers[0].targets"),
            "{err}"
        );
    }

    fn caller_named(name: &str) -> CallerConfig {
        CallerConfig {
            name: name.into(),
            token_sha256: Some(TokenDigest([7; 32])),
            mtls_identity: None,
            allow: vec!["*".into()],
            export_buckets: vec![],
            requests_per_second: None,
            burst: None,
            targets: Vec::new(),
            default_target: None,
        }
    }

    #[test]
    fn listen_addresses_may_be_names() {
        let file = FileConfig::parse("[server]\nlisten = \"localhost:7000\"\n").unwrap();
        let mut s = settings();
        file.apply(&mut s, &Overrides::default());
        assert!(s.listen.ip().is_loopback());
        assert_eq!(s.listen.port(), 7000);
    }

    #[test]
    fn digests_never_print() {
        let d = parse_digest(&"ab".repeat(32)).unwrap();
        assert_eq!(format!("{d:?}"), "TokenDigest(<redacted>)");
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("*", "DeleteServerlessCache"));
        assert!(pattern_matches("Describe*", "DescribeServerlessCaches"));
        assert!(!pattern_matches("Describe*", "DeleteServerlessCache"));
        assert!(pattern_matches(
            "CreateServerlessCache",
            "CreateServerlessCache"
        ));
        assert!(!pattern_matches(
            "CreateServerlessCache",
            "CreateServerlessCacheSnapshot"
        ));
        assert!(pattern_matches("*Snapshot*", "CopySnapshot"));
        assert!(pattern_matches(
            "*Snapshot*",
            "DescribeServerlessCacheSnapshots"
        ));
        assert!(!pattern_matches("*Snapshot*", "DescribeCacheClusters"));
        assert!(pattern_matches(
            "Create*Snapshot",
            "CreateServerlessCacheSnapshot"
        ));
        assert!(!pattern_matches("Create*Snapshot", "CreateServerlessCache"));
        assert!(!pattern_matches("Create*Snapshot", "CreateSnapshotX"));
        // The last part may not overlap the part before it.
        assert!(!pattern_matches("*ab*ba", "aba"));
        assert!(pattern_matches("**", ""));
    }

    #[test]
    fn fail_closed_without_callers_off_loopback() {
        let mut s = Settings::new(([0, 0, 0, 0], 50051).into(), Upstream::AwsChain);
        assert!(s.check().is_err());
        s.allow_unauthenticated = true;
        assert!(s.check().is_ok());
        let s = settings();
        assert!(s.check().is_ok());
    }
}
