//! Fault injection: rules that make the next (or every) call of an action misbehave.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What an injected fault does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Respond with AWS code "Throttling", HTTP 400 (what ElastiCache sends when throttled).
    Throttle,
    /// Respond with this HTTP status and AWS error code/message.
    Error {
        /// HTTP status; one outside 100..=999 is sent as 500.
        status: u16,
        /// AWS error code, e.g. `ServerlessCacheNotFoundFault`.
        code: String,
        /// Human-readable message.
        message: String,
    },
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Read the request fully, then close the TCP connection without any response.
    DropConnection,
    /// Handle the request (it takes effect), then close the connection without the response:
    /// the caller cannot know whether it happened.
    DropResponse,
    /// Never respond (hold the connection open) — for deadline tests.
    Hang,
}

/// The fault rules of one emulator. A shared handle: clones see and change the same rules.
#[derive(Debug, Default, Clone)]
pub struct FaultInjector {
    inner: Arc<Rules>,
}

#[derive(Debug, Default)]
struct Rules {
    /// Lets the request path skip the lock while no rule is set (the benchmark case).
    armed: AtomicBool,
    rules: Mutex<VecDeque<Rule>>,
}

#[derive(Debug)]
struct Rule {
    /// `None` matches every action.
    action: Option<String>,
    kind: FaultKind,
    /// `None` applies until cleared.
    remaining: Option<u32>,
}

impl FaultInjector {
    /// Apply `kind` to the next `times` calls of `action` (None = any action). Rules are consumed
    /// in FIFO order: a call takes the oldest rule matching its action. `times == 0` adds nothing.
    pub fn inject(&self, action: Option<&str>, kind: FaultKind, times: u32) {
        if times > 0 {
            self.push(action, kind, Some(times));
        }
    }

    /// Apply `kind` to every call of `action` until cleared.
    pub fn inject_always(&self, action: Option<&str>, kind: FaultKind) {
        self.push(action, kind, None);
    }

    /// Remove every rule.
    pub fn clear(&self) {
        let mut rules = self.lock();
        rules.clear();
        self.inner.armed.store(false, Ordering::Release);
    }

    /// The fault to apply to this call of `action`, consuming one use of the oldest matching rule.
    pub(crate) fn take(&self, action: &str) -> Option<FaultKind> {
        if !self.inner.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut rules = self.lock();
        let index = rules
            .iter()
            .position(|rule| rule.action.as_deref().is_none_or(|wanted| wanted == action))?;
        let rule = &mut rules[index];
        let kind = rule.kind.clone();
        if let Some(remaining) = &mut rule.remaining {
            *remaining -= 1;
            if *remaining == 0 {
                rules.remove(index);
            }
        }
        self.inner.armed.store(!rules.is_empty(), Ordering::Release);
        Some(kind)
    }

    fn push(&self, action: Option<&str>, kind: FaultKind, remaining: Option<u32>) {
        let mut rules = self.lock();
        rules.push_back(Rule {
            action: action.map(str::to_owned),
            kind,
            remaining,
        });
        self.inner.armed.store(true, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Rule>> {
        // A panic elsewhere cannot leave the rule list half-updated; keep serving.
        self.inner
            .rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
