//! Shared state: the per-caller and upstream GCRA limits and the `request_id` records, kept in
//! this process (`[state] backend = "memory"`, the default) or in Redis/Valkey shared by every
//! replica (`backend = "redis"`).
//!
//! With Redis, a limit is one Lua script call per check that reads Redis's own clock (`TIME`),
//! so the replicas' clocks do not matter; records and in-flight markers are plain keys with a
//! time to live. No call waits longer than `command_timeout` for Redis: when it is unreachable or
//! slow the state is *degraded* — limits fall back to in-process limiters at the configured rate
//! divided by `replicas`, `request_id` calls fail `STATE_UNAVAILABLE` (the caller of
//! [`SharedState`] decides), a gauge and a log line say so — and the connection manager
//! reconnects by itself, so the facade recovers without a restart.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use tokio::sync::OnceCell;

use crate::config::StateSettings;

/// A GCRA limit: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Sustained permits per second.
    pub per_second: u32,
    /// Permits available at once.
    pub burst: u32,
}

/// Redis could not be asked in time, or answered with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateUnavailable;

/// The shared state of one process.
#[derive(Debug, Clone)]
pub struct SharedState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    backend: Backend,
    /// Divides the configured rates for the fallback limiters.
    replicas: u32,
    /// In-process limiters: the limits themselves with `memory`, the fallback with `redis`.
    local: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
    /// `request_id` records, with `memory`.
    records: Mutex<Records>,
}

#[derive(Debug)]
enum Backend {
    Memory,
    Redis(Box<Redis>),
}

struct Redis {
    client: redis::Client,
    /// Connected on first use, then reconnected by the manager itself.
    manager: OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    degraded: AtomicBool,
    gcra: Script,
    begin: Script,
    release: Script,
    lease: Script,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("degraded", &self.degraded.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// GCRA on Redis's clock. KEYS[1]: the limit's key; ARGV[1]: emission interval in µs; ARGV[2]:
/// burst. Returns 0 when a permit was taken, else the µs to wait until one would be.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then return allow_at - now end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
";

/// Takes the key when it is free. KEYS[1]: the record's key; ARGV[1]: the in-flight entry;
/// ARGV[2]: its lease in ms. Returns nil when taken, else what the key holds.
const BEGIN: &str = r"
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
";

/// Deletes the key only if it still holds ARGV[1] (our in-flight entry).
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Takes or renews a lease. KEYS[1]: the lease's key; ARGV[1]: the holder; ARGV[2]: its time to
/// live in ms. Returns 1 when ARGV[1] holds it now, 0 when another holder does.
const LEASE: &str = r"
local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// `request_id` records kept in this process.
#[derive(Debug, Default)]
struct Records {
    entries: HashMap<String, (Vec<u8>, Instant)>,
    inserts: u64,
}

impl Records {
    fn live(&mut self, key: &str, now: Instant) -> Option<Vec<u8>> {
        match self.entries.get(key) {
            Some((value, expires)) if *expires > now => Some(value.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, key: &str, value: Vec<u8>, ttl: Duration, now: Instant) {
        self.entries.insert(key.to_owned(), (value, now + ttl));
        self.inserts += 1;
        // Expired records go away as they are met and, every 1024 inserts, all at once.
        if self.inserts.is_multiple_of(1024) {
            self.entries.retain(|_, (_, expires)| *expires > now);
        }
    }
}

impl SharedState {
    /// State in this process only.
    pub fn memory() -> Self {
        Self::with_backend(Backend::Memory, 1)
    }

    /// State in Redis as `settings` say; the connection is made on first use.
    pub fn new(settings: &StateSettings) -> Result<Self, String> {
        let Some(url) = &settings.redis_url else {
            return Ok(Self::memory());
        };
        // The password comes from the environment, never from the file: it goes into the URL
        // here, percent-encoded, and is never logged.
        let url = match &settings.redis_password {
            Some(password) => with_password(url, password)?,
            None => url.clone(),
        };
        let client = redis::Client::open(url.as_str()).map_err(|e| {
            format!(
                "[state] redis_url: {}",
                e.to_string().replace(url.as_str(), "…")
            )
        })?;
        let backend = Backend::Redis(Box::new(Redis {
            client,
            manager: OnceCell::new(),
            prefix: settings.key_prefix.clone(),
            timeout: settings.command_timeout,
            degraded: AtomicBool::new(false),
            gcra: Script::new(GCRA),
            begin: Script::new(BEGIN),
            release: Script::new(RELEASE),
            lease: Script::new(LEASE),
        }));
        Ok(Self::with_backend(backend, settings.replicas.max(1)))
    }

    fn with_backend(backend: Backend, replicas: u32) -> Self {
        Self(Arc::new(Inner {
            backend,
            replicas,
            local: Mutex::default(),
            records: Mutex::default(),
        }))
    }

    /// Whether the state is shared (Redis) rather than this process's own.
    pub fn is_shared(&self) -> bool {
        matches!(self.0.backend, Backend::Redis(_))
    }

    /// Whether the last Redis command failed or timed out.
    pub fn is_degraded(&self) -> bool {
        match &self.0.backend {
            Backend::Redis(r) => r.degraded.load(Ordering::Relaxed),
            Backend::Memory => false,
        }
    }

    /// Takes one permit of `limit` named `name` (a caller, or the upstream budget), or says how
    /// long until one would be free. Never waits for Redis longer than the command timeout:
    /// without it, the in-process limiter at the rate divided by `replicas` decides.
    pub async fn acquire(&self, name: &str, limit: Gcra) -> Result<(), Duration> {
        if let Backend::Redis(redis) = &self.0.backend {
            let key = format!("{}rl:{name}", redis.prefix);
            let interval_us = 1_000_000 / u64::from(limit.per_second.max(1));
            let started = Instant::now();
            let answer = redis
                .run(|mut c| async move {
                    redis
                        .gcra
                        .key(&key)
                        .arg(interval_us)
                        .arg(limit.burst.max(1))
                        .invoke_async::<i64>(&mut c)
                        .await
                })
                .await;
            crate::metrics::state_round_trip("gcra", started.elapsed());
            match answer {
                Ok(0) => return Ok(()),
                Ok(wait_us) => {
                    return Err(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)));
                }
                Err(StateUnavailable) => crate::metrics::state_fallback("limit"),
            }
        }
        let divided = if self.is_shared() { self.0.replicas } else { 1 };
        let limiter = self.local_limiter(name, limit, divided);
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    fn local_limiter(
        &self,
        name: &str,
        limit: Gcra,
        divided: u32,
    ) -> Arc<DefaultDirectRateLimiter> {
        let mut local = self.0.local.lock().unwrap_or_else(PoisonError::into_inner);
        local
            .entry(name.to_owned())
            .or_insert_with(|| {
                let rate = limit.per_second.div_ceil(divided);
                let burst = limit.burst.div_ceil(divided);
                let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
                let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
                Arc::new(RateLimiter::direct(
                    Quota::per_second(rate).allow_burst(burst),
                ))
            })
            .clone()
    }

    /// Puts `in_flight` under `key` for `lease` unless the key holds something: `None` when it
    /// was put (the caller runs the call), else what the key holds.
    pub async fn begin(
        &self,
        key: &str,
        in_flight: Vec<u8>,
        lease: Duration,
    ) -> Result<Option<Vec<u8>>, StateUnavailable> {
        match &self.0.backend {
            Backend::Memory => {
                let now = Instant::now();
                let mut records = self.records();
                if let Some(held) = records.live(key, now) {
                    return Ok(Some(held));
                }
                records.insert(key, in_flight, lease, now);
                Ok(None)
            }
            Backend::Redis(redis) => {
                let key = format!("{}rid:{key}", redis.prefix);
                let lease_ms = lease.as_millis().max(1);
                let started = Instant::now();
                let held = redis
                    .run(|mut c| async move {
                        redis
                            .begin
                            .key(&key)
                            .arg(in_flight.as_slice())
                            .arg(u64::try_from(lease_ms).unwrap_or(u64::MAX))
                            .invoke_async::<Option<Vec<u8>>>(&mut c)
                            .await
                    })
                    .await;
                crate::metrics::state_round_trip("begin", started.elapsed());
                held
            }
        }
    }

    /// What `key` holds, if anything.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateUnavailable> {
        match &self.0.backend {
            Backend::Memory => Ok(self.records().live(key, Instant::now())),
            Backend::Redis(redis) => {
                let key = format!("{}rid:{key}", redis.prefix);
                let started = Instant::now();
                let held = redis
                    .run(|mut c| async move { c.get::<_, Option<Vec<u8>>>(&key).await })
                    .await;
                crate::metrics::state_round_trip("get", started.elapsed());
                held
            }
        }
    }

    /// Puts `value` under `key` for `ttl`, whatever it held.
    pub async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StateUnavailable> {
        match &self.0.backend {
            Backend::Memory => {
                self.records().insert(key, value, ttl, Instant::now());
                Ok(())
            }
            Backend::Redis(redis) => {
                let key = format!("{}rid:{key}", redis.prefix);
                let ttl_ms = u64::try_from(ttl.as_millis().max(1)).unwrap_or(u64::MAX);
                let started = Instant::now();
                let done = redis
                    .run(|mut c| async move {
                        c.pset_ex::<_, _, ()>(&key, value.as_slice(), ttl_ms).await
                    })
                    .await;
                crate::metrics::state_round_trip("put", started.elapsed());
                done
            }
        }
    }

    /// Removes `key` if it still holds `in_flight` (a call that ended with a transient failure
    /// gives its place to the retry).
    pub async fn release(&self, key: &str, in_flight: &[u8]) -> Result<(), StateUnavailable> {
        match &self.0.backend {
            Backend::Memory => {
                let mut records = self.records();
                if records
                    .entries
                    .get(key)
                    .is_some_and(|(held, _)| held.as_slice() == in_flight)
                {
                    records.entries.remove(key);
                }
                Ok(())
            }
            Backend::Redis(redis) => {
                let key = format!("{}rid:{key}", redis.prefix);
                let started = Instant::now();
                let in_flight = in_flight.to_vec();
                let done = redis
                    .run(|mut c| async move {
                        redis
                            .release
                            .key(&key)
                            .arg(in_flight.as_slice())
                            .invoke_async::<i64>(&mut c)
                            .await
                            .map(drop)
                    })
                    .await;
                crate::metrics::state_round_trip("release", started.elapsed());
                done
            }
        }
    }

    /// Takes or renews the fleet-wide lease `key` for `holder` (one process of the fleet) for
    /// `ttl`: whether `holder` holds it now. In memory there is no fleet: always held.
    pub async fn lease(
        &self,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StateUnavailable> {
        let Backend::Redis(redis) = &self.0.backend else {
            return Ok(true);
        };
        let key = format!("{}lease:{key}", redis.prefix);
        let ttl_ms = u64::try_from(ttl.as_millis().max(1)).unwrap_or(u64::MAX);
        let started = Instant::now();
        let held = redis
            .run(|mut c| async move {
                redis
                    .lease
                    .key(&key)
                    .arg(holder)
                    .arg(ttl_ms)
                    .invoke_async::<i64>(&mut c)
                    .await
            })
            .await;
        crate::metrics::state_round_trip("lease", started.elapsed());
        held.map(|held| held == 1)
    }

    /// Gives up the lease `key` if `holder` holds it, so another process may take it at once.
    pub async fn end_lease(&self, key: &str, holder: &str) -> Result<(), StateUnavailable> {
        let Backend::Redis(redis) = &self.0.backend else {
            return Ok(());
        };
        let key = format!("{}lease:{key}", redis.prefix);
        redis
            .run(|mut c| async move {
                redis
                    .release
                    .key(&key)
                    .arg(holder)
                    .invoke_async::<i64>(&mut c)
                    .await
                    .map(drop)
            })
            .await
    }

    /// Puts `value` where the fleet reads it (`key`, for `ttl`); in memory there is no fleet, so
    /// nothing is kept.
    pub async fn publish(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StateUnavailable> {
        let Backend::Redis(redis) = &self.0.backend else {
            return Ok(());
        };
        let key = format!("{}seen:{key}", redis.prefix);
        let ttl_ms = u64::try_from(ttl.as_millis().max(1)).unwrap_or(u64::MAX);
        let started = Instant::now();
        let done = redis
            .run(|mut c| async move { c.pset_ex::<_, _, ()>(&key, value.as_slice(), ttl_ms).await })
            .await;
        crate::metrics::state_round_trip("publish", started.elapsed());
        done
    }

    /// What the fleet last published under `key`.
    pub async fn published(&self, key: &str) -> Result<Option<Vec<u8>>, StateUnavailable> {
        let Backend::Redis(redis) = &self.0.backend else {
            return Ok(None);
        };
        let key = format!("{}seen:{key}", redis.prefix);
        let started = Instant::now();
        let held = redis
            .run(|mut c| async move { c.get::<_, Option<Vec<u8>>>(&key).await })
            .await;
        crate::metrics::state_round_trip("published", started.elapsed());
        held
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.0
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// `url` with `password` as its user info (`redis://:PASSWORD@host:port/db`).
fn with_password(url: &str, password: &str) -> Result<String, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "[state] redis_url: not a redis:// or rediss:// URL".to_owned())?;
    let encoded =
        percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC);
    Ok(format!("{scheme}://:{encoded}@{rest}"))
}

impl Redis {
    /// Runs one command on the shared connection within the command timeout, and keeps the
    /// degraded flag, its gauge and its log line up to date.
    async fn run<T, F, Fut>(&self, command: F) -> Result<T, StateUnavailable>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let manager = self
                .manager
                .get_or_try_init(|| ConnectionManager::new(self.client.clone()))
                .await?
                .clone();
            command(manager).await
        };
        let outcome = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        };
        match outcome {
            Ok(value) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        "shared state: Redis answers again; limits and request ids are shared"
                    );
                    crate::metrics::state_degraded(false);
                }
                Ok(value)
            }
            Err(why) => {
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %why,
                        "shared state degraded: Redis is unreachable or slow; limits fall back to \
                         this replica's share, calls with a request_id fail STATE_UNAVAILABLE"
                    );
                    crate::metrics::state_degraded(true);
                }
                Err(StateUnavailable)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_goes_into_the_url_encoded() {
        assert_eq!(
            with_password("rediss://cache:6380/1", "p@ss:w/rd").unwrap(),
            "rediss://:p%40ss%3Aw%2Frd@cache:6380/1"
        );
        assert!(with_password("cache:6380", "x").is_err());
    }

    #[tokio::test]
    async fn records_in_memory_hold_a_marker_until_released_or_replaced() {
        let state = SharedState::memory();
        let lease = Duration::from_secs(5);
        assert_eq!(state.begin("k", b"mine".to_vec(), lease).await, Ok(None));
        // Held: a second begin sees the marker and does not replace it.
        assert_eq!(
            state.begin("k", b"theirs".to_vec(), lease).await,
            Ok(Some(b"mine".to_vec()))
        );
        // Only the holder's release frees it.
        state.release("k", b"theirs").await.unwrap();
        assert_eq!(state.get("k").await, Ok(Some(b"mine".to_vec())));
        state.release("k", b"mine").await.unwrap();
        assert_eq!(state.get("k").await, Ok(None));
        // A record outlives nothing past its time to live.
        state
            .put("k", b"done".to_vec(), Duration::from_millis(30))
            .await
            .unwrap();
        assert_eq!(state.get("k").await, Ok(Some(b"done".to_vec())));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(state.get("k").await, Ok(None));
    }

    #[tokio::test]
    async fn in_memory_limits_allow_the_burst_then_say_how_long_to_wait() {
        let state = SharedState::memory();
        let limit = Gcra {
            per_second: 2,
            burst: 3,
        };
        for _ in 0..3 {
            assert_eq!(state.acquire("caller:a", limit).await, Ok(()));
        }
        let wait = state.acquire("caller:a", limit).await.unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        // Another name has its own limiter.
        assert_eq!(state.acquire("caller:b", limit).await, Ok(()));
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_unavailable_within_the_timeout_and_limits_fall_back() {
        // Nothing listens on the discard port of loopback.
        let settings = StateSettings {
            redis_url: Some("redis://127.0.0.1:9/0".into()),
            replicas: 2,
            command_timeout: Duration::from_millis(50),
            ..StateSettings::default()
        };
        let state = SharedState::new(&settings).unwrap();
        let started = Instant::now();
        assert_eq!(state.get("k").await, Err(StateUnavailable));
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(state.is_degraded());
        // 4/s burst 4 across 2 replicas: this one allows 2 at once while Redis is away.
        let limit = Gcra {
            per_second: 4,
            burst: 4,
        };
        assert_eq!(state.acquire("upstream", limit).await, Ok(()));
        assert_eq!(state.acquire("upstream", limit).await, Ok(()));
        assert!(state.acquire("upstream", limit).await.is_err());
    }
}
