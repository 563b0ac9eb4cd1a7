//! The state every request handler shares: the accounts' stores, the injected faults, the call
//! counters and the emulator's clock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::accounts::Stores;
use super::faults::FaultInjector;
use super::operations::{self, ACTIONS};
use super::store::Clock;

/// Everything the request handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) local_addr: SocketAddr,
    /// A store per (account, region).
    pub(crate) stores: Stores,
    pub(crate) faults: FaultInjector,
    pub(crate) calls: CallCounters,
    /// Flips to `true` once to stop the emulator.
    pub(crate) shutdown: watch::Sender<bool>,
    /// How far tests have moved the emulator's clock ahead, in nanoseconds.
    pub(crate) clock_skew: AtomicU64,
}

impl Shared {
    /// The emulator's notion of now.
    pub(crate) fn clock(&self) -> Clock {
        let skew = Duration::from_nanos(self.clock_skew.load(Ordering::Relaxed));
        let now = Clock::now();
        Clock {
            now: now.now + skew,
            wall: now.wall + skew,
        }
    }

    /// Moves the clock ahead, so tests settle transitions without sleeping.
    #[cfg(test)]
    pub(crate) fn advance_clock(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.clock_skew.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Requests received, per action and in total; lock-free because every request bumps them.
#[derive(Debug)]
pub(crate) struct CallCounters {
    total: AtomicU64,
    /// STS `AssumeRole` requests.
    assume_role: AtomicU64,
    per_action: [AtomicU64; ACTIONS.len()],
}

impl CallCounters {
    pub(crate) fn new() -> Self {
        Self {
            total: AtomicU64::new(0),
            assume_role: AtomicU64::new(0),
            per_action: [const { AtomicU64::new(0) }; ACTIONS.len()],
        }
    }

    /// Counts one AWS request.
    pub(crate) fn request(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request of the action at `index` of [`ACTIONS`].
    pub(crate) fn action(&self, index: usize) {
        self.per_action[index].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one STS `AssumeRole` request.
    pub(crate) fn assume_role(&self) {
        self.assume_role.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self, action: &str) -> u64 {
        if action == "AssumeRole" {
            return self.assume_role.load(Ordering::Relaxed);
        }
        operations::find(action).map_or(0, |(index, _)| {
            self.per_action[index].load(Ordering::Relaxed)
        })
    }

    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// `(action, count)` for every served action, in table order, then STS `AssumeRole`.
    pub(crate) fn snapshot(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        ACTIONS
            .iter()
            .zip(&self.per_action)
            .map(|(action, count)| (action.name, count.load(Ordering::Relaxed)))
            .chain([("AssumeRole", self.assume_role.load(Ordering::Relaxed))])
    }
}
