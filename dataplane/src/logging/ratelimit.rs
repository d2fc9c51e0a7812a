//! Log rate limits (`smtp-inspection.md` §13): one message per second per
//! session per message type, plus a global 100 per second; what is held back
//! is counted, never queued.
//!
//! Both limiters are sans-IO token buckets: the caller passes `now`.
//!
//! * [`SessionLogLimiter`] is 12 bytes of per-session state the owner worker
//!   keeps in its session and consults before queueing a record. PROPOSED
//!   reading of "1 per second": a bucket of [`SESSION_BURST`] tokens per
//!   message type refilled at 1 token/s, so the two `EXPN` lines of
//!   `seed-scenario.md` D2 sent back to back are both logged, while a client
//!   hammering one session gets one line per second.
//! * [`GlobalRateLimiter`] runs in the logger thread on the records' own
//!   timestamps, so the global budget is exact across workers without any
//!   shared atomic on the packet path.

use super::record::{LogKind, SESSION_SLOTS};

/// Messages of one type one session may log back to back before the 1/s
/// rate applies. PROPOSED.
pub const SESSION_BURST: u8 = 4;

/// The global budget of rate-limited messages per second (§13).
pub const GLOBAL_PER_SECOND: u32 = 100;

/// The global budget of debug lines per second (`cbac-sessions.md` §12:
/// debug output is rate-limited; PROPOSED value).
pub const DEBUG_PER_SECOND: u32 = 2_000;

const MS_PER_TOKEN: u32 = 1_000;

/// Per-session, per-message-type limiter state. `Default` is "nothing logged
/// yet". Stored by the caller in its session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionLogLimiter {
    /// Milliseconds (wrapping) up to which tokens have been refilled.
    refilled_ms: u32,
    /// Tokens used per slot (`LogKind::session_slot`).
    used: [u8; SESSION_SLOTS],
}

impl SessionLogLimiter {
    /// Whether a message of `kind` may be logged for this session at
    /// `now_ns`; takes a token if so. Kinds without a session slot always pass.
    pub fn admit(&mut self, kind: LogKind, now_ns: u64) -> bool {
        let Some(slot) = kind.session_slot() else {
            return true;
        };
        let now_ms = (now_ns / 1_000_000) as u32;
        let elapsed = now_ms.wrapping_sub(self.refilled_ms);
        // A clock that went backwards (elapsed "negative") refills nothing.
        if (MS_PER_TOKEN..u32::MAX / 2).contains(&elapsed) {
            let tokens = elapsed / MS_PER_TOKEN;
            let give = tokens.min(u32::from(SESSION_BURST)) as u8;
            for used in &mut self.used {
                *used = used.saturating_sub(give);
            }
            self.refilled_ms = self.refilled_ms.wrapping_add(tokens * MS_PER_TOKEN);
        }
        if self.used.iter().all(|&u| u == 0) {
            // Full buckets: start the refill phase at this message.
            self.refilled_ms = now_ms;
        }
        let used = &mut self.used[slot];
        if *used < SESSION_BURST {
            *used += 1;
            true
        } else {
            false
        }
    }
}

/// A token bucket over nanoseconds: `per_second` tokens per second, at most
/// `burst` saved up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalRateLimiter {
    cost_ns: u64,
    capacity_ns: u64,
    credit_ns: u64,
    last_ns: Option<u64>,
    suppressed: u64,
}

impl GlobalRateLimiter {
    /// `per_second` must be at least 1 (0 is treated as 1).
    pub fn new(per_second: u32, burst: u32) -> Self {
        let cost_ns = 1_000_000_000 / u64::from(per_second.max(1));
        let capacity_ns = cost_ns * u64::from(burst.max(1));
        GlobalRateLimiter {
            cost_ns,
            capacity_ns,
            credit_ns: capacity_ns,
            last_ns: None,
            suppressed: 0,
        }
    }

    /// Whether one more message may go out at `now_ns`; counts it if not.
    /// Timestamps slightly out of order (several workers) are tolerated.
    pub fn admit(&mut self, now_ns: u64) -> bool {
        if let Some(last) = self.last_ns {
            if now_ns > last {
                self.credit_ns = self
                    .credit_ns
                    .saturating_add(now_ns - last)
                    .min(self.capacity_ns);
                self.last_ns = Some(now_ns);
            }
        } else {
            self.last_ns = Some(now_ns);
        }
        if self.credit_ns >= self.cost_ns {
            self.credit_ns -= self.cost_ns;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }

    /// Messages held back so far.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000 * MS;

    #[test]
    fn session_burst_then_one_per_second() {
        let mut l = SessionLogLimiter::default();
        let t0 = 1_000 * SEC;
        let k = LogKind::SmtpInvalidCommand;
        for i in 0..SESSION_BURST {
            assert!(l.admit(k, t0 + u64::from(i) * MS), "burst message {i}");
        }
        assert!(!l.admit(k, t0 + 10 * MS));
        assert!(!l.admit(k, t0 + 999 * MS));
        // one token per second afterwards
        assert!(l.admit(k, t0 + SEC));
        assert!(!l.admit(k, t0 + SEC + 500 * MS));
        assert!(l.admit(k, t0 + 2 * SEC));
        assert!(!l.admit(k, t0 + 2 * SEC + 1));
        // a long pause refills the whole burst, no more
        let later = t0 + 100 * SEC;
        for _ in 0..SESSION_BURST {
            assert!(l.admit(k, later));
        }
        assert!(!l.admit(k, later));
    }

    #[test]
    fn session_types_are_independent() {
        let mut l = SessionLogLimiter::default();
        let t = 5 * SEC;
        for _ in 0..SESSION_BURST {
            assert!(l.admit(LogKind::SmtpInvalidCommand, t));
        }
        assert!(!l.admit(LogKind::SmtpInvalidCommand, t));
        assert!(l.admit(LogKind::TcpOutOfOrderSegment, t));
        assert!(l.admit(LogKind::SmtpInvalidParameter, t));
        // kinds without a session slot are never limited here
        for _ in 0..100 {
            assert!(l.admit(LogKind::AlertOn, t));
        }
    }

    #[test]
    fn session_limiter_survives_clock_jumps() {
        let mut l = SessionLogLimiter::default();
        let k = LogKind::TcpOverlapMismatch;
        for _ in 0..SESSION_BURST {
            assert!(l.admit(k, 10 * SEC));
        }
        // clock goes backwards: nothing refilled, no panic
        assert!(!l.admit(k, 9 * SEC));
        // ms counter wraps (u32 ms ≈ 49.7 days)
        let wrap = u64::from(u32::MAX) * MS;
        let mut l = SessionLogLimiter::default();
        for _ in 0..SESSION_BURST {
            assert!(l.admit(k, wrap - 100 * MS));
        }
        assert!(!l.admit(k, wrap + 500 * MS));
        assert!(l.admit(k, wrap + 1_000 * MS));
    }

    #[test]
    fn session_state_is_tiny() {
        assert!(std::mem::size_of::<SessionLogLimiter>() <= 12);
    }

    #[test]
    fn global_100_per_second() {
        let mut g = GlobalRateLimiter::new(GLOBAL_PER_SECOND, GLOBAL_PER_SECOND);
        let t0 = 7 * SEC;
        // 150 messages in the same instant: 100 pass, 50 are counted
        let passed = (0..150).filter(|_| g.admit(t0)).count();
        assert_eq!(passed, 100);
        assert_eq!(g.suppressed(), 50);
        // 10 ms later one more token
        assert!(!g.admit(t0 + 9 * MS));
        assert!(g.admit(t0 + 10 * MS));
        // over a long steady stream at 1000/s, 100/s get through
        let mut g = GlobalRateLimiter::new(100, 100);
        let mut passed = 0;
        for i in 0..10_000u64 {
            if g.admit(t0 + i * MS) {
                passed += 1;
            }
        }
        // 100 burst + 100/s × ~10 s
        assert!((1_090..=1_101).contains(&passed), "{passed}");
    }

    #[test]
    fn global_tolerates_out_of_order_stamps() {
        let mut g = GlobalRateLimiter::new(1, 1);
        assert!(g.admit(10 * SEC));
        assert!(!g.admit(9 * SEC));
        assert!(g.admit(11 * SEC));
        assert_eq!(g.suppressed(), 1);
        let mut g = GlobalRateLimiter::new(0, 0);
        assert!(g.admit(0));
        assert!(!g.admit(0));
    }
}
