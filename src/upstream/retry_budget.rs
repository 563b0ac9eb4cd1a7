//! The retry budget: over any window of `ttl`, retries may be at most `ratio` of the requests in
//! that window plus `min_per_sec × ttl`, so a quiet service can still retry and a failing upstream
//! sees at most `1 + ratio` times the calls it would see without retries (plus the floor).
//!
//! Why not `tower::retry::budget::TpsBudget`: tower 0.5's window advances one slot too many each
//! time it rotates (after 1.x slot lengths it skips two slots and forgets the remainder), so
//! withdrawals expire about twice as fast as configured; at 2 requests/s with every call throttled
//! it let 38 retries through 37 requests where the budget promised about 27. This one keys slots
//! by their absolute number since creation, so a window is exactly `ttl` long.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Slots per window: a window slides in steps of `ttl / SLOTS`.
const SLOTS: usize = 10;

/// A sliding-window retry budget; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct RetryBudget {
    start: Instant,
    slot: Duration,
    ratio: f64,
    reserve: f64,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// The absolute number of the newest slot (`(now - start) / slot`).
    newest: u64,
    /// Requests and retries per slot, indexed by absolute slot number modulo [`SLOTS`].
    requests: [u32; SLOTS],
    retries: [u32; SLOTS],
}

impl Window {
    /// Makes `now_slot` the newest slot, clearing the slots it passed.
    fn advance(&mut self, now_slot: u64) {
        if now_slot <= self.newest {
            return;
        }
        let passed = (now_slot - self.newest).min(SLOTS as u64);
        for k in 1..=passed {
            let i = ((self.newest + k) % SLOTS as u64) as usize;
            self.requests[i] = 0;
            self.retries[i] = 0;
        }
        self.newest = now_slot;
    }

    fn index(&self) -> usize {
        (self.newest % SLOTS as u64) as usize
    }
}

impl RetryBudget {
    /// Retries ≤ `ratio` × requests + `min_per_sec` × `ttl` over any window of `ttl` (at least
    /// one second).
    pub fn new(ttl: Duration, min_per_sec: u32, ratio: f64) -> Self {
        let ttl = ttl.max(Duration::from_secs(1));
        Self {
            start: Instant::now(),
            slot: ttl / SLOTS as u32,
            ratio: ratio.max(0.0),
            reserve: f64::from(min_per_sec) * ttl.as_secs_f64(),
            window: Mutex::new(Window::default()),
        }
    }

    fn now_slot(&self) -> u64 {
        (Instant::now()
            .saturating_duration_since(self.start)
            .as_nanos()
            / self.slot.as_nanos()) as u64
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        // A panic while holding the lock cannot leave the counters inconsistent: use them.
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        window.advance(self.now_slot());
        window
    }

    /// Records one request (call this once per call, not per attempt).
    pub fn deposit(&self) {
        let mut window = self.window();
        let i = window.index();
        window.requests[i] = window.requests[i].saturating_add(1);
    }

    /// Takes one retry from the budget; `false` when the window has none left.
    pub fn withdraw(&self) -> bool {
        let mut window = self.window();
        let requests: u64 = window.requests.iter().map(|&n| u64::from(n)).sum();
        let retries: u64 = window.retries.iter().map(|&n| u64::from(n)).sum();
        let allowed = self.ratio * requests as f64 + self.reserve;
        if (retries + 1) as f64 > allowed {
            return false;
        }
        let i = window.index();
        window.retries[i] = window.retries[i].saturating_add(1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The storm that exposed tower's budget: 37 requests about 2/s (505 ms apart: real clocks
    /// never land on slot edges), every call throttled, up to 2 retries each. Over 18.7 s the
    /// documented bound (20% of the requests plus 10 per 10 s window, the window sliding) allows
    /// 0.2 × 37 + 10 + 10 = 27.4 retries; tower's `TpsBudget` lets 38 through here.
    #[tokio::test(start_paused = true)]
    async fn a_low_rate_storm_stays_within_the_documented_bound() {
        let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.2);
        let mut retries = 0;
        for _ in 0..37 {
            budget.deposit();
            for _ in 0..2 {
                if budget.withdraw() {
                    retries += 1;
                }
            }
            tokio::time::advance(Duration::from_millis(505)).await;
        }
        assert!(retries <= 27, "{retries} retries for 37 requests");
        // And the floor is really there: a quiet service may retry.
        assert!(retries >= 20, "{retries}");
    }

    #[tokio::test(start_paused = true)]
    async fn withdrawals_expire_after_exactly_one_window() {
        let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.0);
        for _ in 0..10 {
            assert!(budget.withdraw());
        }
        assert!(!budget.withdraw(), "the reserve is 10 per window");
        // 9.9 s later the retries of the first slot still count…
        tokio::time::advance(Duration::from_millis(9_900)).await;
        assert!(!budget.withdraw());
        // …and once the window has slid past them they do not.
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(budget.withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_service_retries_a_fifth_of_its_requests() {
        let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.2);
        for _ in 0..100 {
            budget.deposit();
        }
        let granted = (0..100).filter(|_| budget.withdraw()).count();
        assert_eq!(granted, 20);
    }
}
