//! Transport of log records from workers to the logger thread: one bounded
//! lock-free queue per producer (crossbeam `ArrayQueue`), each record stamped
//! with its wall-clock time. Pushing never blocks and never allocates; a full
//! queue drops the record and counts it (`STYLE.md` practice 6).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

use super::debug::DebugFlags;
use super::ratelimit::SessionLogLimiter;
use super::record::LogRecord;

/// A record and the wall-clock time (ns since the Unix epoch) it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StampedRecord {
    pub unix_ns: u64,
    pub record: LogRecord,
}

/// Per-producer counters (one cache line per worker, so workers never share
/// one), read by the logger and metrics. Touched only when a record is sent.
#[derive(Debug, Default)]
pub struct ProducerCounters {
    /// Records dropped because the queue was full.
    pub overflow: AtomicU64,
    /// Records held back by the per-session rate limit.
    pub session_suppressed: AtomicU64,
    /// Records queued.
    pub queued: AtomicU64,
}

struct Lane {
    queue: ArrayQueue<StampedRecord>,
    counters: ProducerCounters,
}

/// The sending end owned by one worker (or the control thread).
#[derive(Clone)]
pub struct LogProducer {
    lane: Arc<Lane>,
    debug: Arc<DebugFlags>,
}

impl std::fmt::Debug for LogProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogProducer")
            .field("capacity", &self.lane.queue.capacity())
            .field("len", &self.lane.queue.len())
            .finish()
    }
}

impl LogProducer {
    /// Queues `record`; returns false (and counts) if the queue is full.
    #[inline]
    pub fn emit(&self, unix_ns: u64, record: LogRecord) -> bool {
        match self.lane.queue.push(StampedRecord { unix_ns, record }) {
            Ok(()) => {
                bump(&self.lane.counters.queued);
                true
            }
            Err(_) => {
                bump(&self.lane.counters.overflow);
                false
            }
        }
    }

    /// Queues a record about one session's traffic, subject to that
    /// session's per-type rate limit (`limiter` lives in the session).
    #[inline]
    pub fn emit_for_session(
        &self,
        limiter: &mut SessionLogLimiter,
        unix_ns: u64,
        record: LogRecord,
    ) -> bool {
        if limiter.admit(record.kind(), unix_ns) {
            self.emit(unix_ns, record)
        } else {
            bump(&self.lane.counters.session_suppressed);
            false
        }
    }

    /// The shared `debug ip inspect` switches: check `debug().enabled(cat)`
    /// before building a debug record.
    #[inline]
    pub fn debug(&self) -> &DebugFlags {
        &self.debug
    }

    pub fn counters(&self) -> &ProducerCounters {
        &self.lane.counters
    }
}

#[inline]
fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The receiving end: every producer's queue, drained by the logger.
pub struct LogQueues {
    lanes: Vec<Arc<Lane>>,
    debug: Arc<DebugFlags>,
}

impl std::fmt::Debug for LogQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogQueues")
            .field("lanes", &self.lanes.len())
            .finish()
    }
}

/// Totals over all producers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueTotals {
    pub queued: u64,
    pub overflow: u64,
    pub session_suppressed: u64,
}

impl LogQueues {
    /// `producers` queues of `capacity` records each, sharing `debug`.
    pub fn new(
        producers: usize,
        capacity: usize,
        debug: Arc<DebugFlags>,
    ) -> (Vec<LogProducer>, LogQueues) {
        let lanes: Vec<Arc<Lane>> = (0..producers)
            .map(|_| {
                Arc::new(Lane {
                    queue: ArrayQueue::new(capacity.max(1)),
                    counters: ProducerCounters::default(),
                })
            })
            .collect();
        let producers = lanes
            .iter()
            .map(|lane| LogProducer {
                lane: Arc::clone(lane),
                debug: Arc::clone(&debug),
            })
            .collect();
        (producers, LogQueues { lanes, debug })
    }

    /// Moves up to `max` records into `out` (round-robin over producers, so a
    /// busy worker cannot starve the others), returns how many.
    pub fn drain_into(&self, out: &mut Vec<StampedRecord>, max: usize) -> usize {
        let start = out.len();
        let mut progress = true;
        while progress && out.len() - start < max {
            progress = false;
            for lane in &self.lanes {
                if out.len() - start >= max {
                    break;
                }
                if let Some(r) = lane.queue.pop() {
                    out.push(r);
                    progress = true;
                }
            }
        }
        out.len() - start
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.iter().all(|l| l.queue.is_empty())
    }

    pub fn debug(&self) -> &Arc<DebugFlags> {
        &self.debug
    }

    pub fn totals(&self) -> QueueTotals {
        self.counters().totals()
    }

    /// A handle that reads the producers' counters from any thread (the
    /// queues themselves move into the logger thread).
    pub fn counters(&self) -> QueueCounters {
        QueueCounters {
            lanes: self.lanes.clone(),
        }
    }
}

/// Read access to every producer's counters.
#[derive(Clone)]
pub struct QueueCounters {
    lanes: Vec<Arc<Lane>>,
}

impl std::fmt::Debug for QueueCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueCounters")
            .field("totals", &self.totals())
            .finish()
    }
}

impl QueueCounters {
    pub fn totals(&self) -> QueueTotals {
        let mut t = QueueTotals::default();
        for lane in &self.lanes {
            t.queued += lane.counters.queued.load(Ordering::Relaxed);
            t.overflow += lane.counters.overflow.load(Ordering::Relaxed);
            t.session_suppressed += lane.counters.session_suppressed.load(Ordering::Relaxed);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::record::LogKind;
    use std::net::Ipv4Addr;

    fn rec(n: u64) -> LogRecord {
        LogRecord::AlertOn {
            count: n,
            high: 500,
            rate: 0,
        }
    }

    #[test]
    fn overflow_is_counted_never_blocks() {
        let (p, q) = LogQueues::new(1, 4, Arc::default());
        for i in 0..10 {
            p[0].emit(i, rec(i));
        }
        let t = q.totals();
        assert_eq!(t.queued, 4);
        assert_eq!(t.overflow, 6);
        let mut out = Vec::new();
        assert_eq!(q.drain_into(&mut out, 100), 4);
        assert_eq!(out[0].record, rec(0));
        assert_eq!(out[3].record, rec(3));
        assert!(q.is_empty());
    }

    #[test]
    fn drain_is_round_robin_and_bounded() {
        let (p, q) = LogQueues::new(3, 16, Arc::default());
        for i in 0..5 {
            p[0].emit(i, rec(0));
        }
        p[1].emit(0, rec(1));
        p[2].emit(0, rec(2));
        let mut out = Vec::new();
        assert_eq!(q.drain_into(&mut out, 3), 3);
        let firsts: Vec<_> = out.iter().map(|r| r.record).collect();
        assert_eq!(firsts, vec![rec(0), rec(1), rec(2)]);
        assert_eq!(q.drain_into(&mut out, 100), 4);
        assert!(q.is_empty());
    }

    #[test]
    fn session_limited_emit_counts_suppression() {
        let (p, q) = LogQueues::new(1, 64, Arc::default());
        let mut limiter = SessionLogLimiter::default();
        let r = LogRecord::TcpOverlapMismatch {
            initiator: std::net::SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
            responder: std::net::SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2),
        };
        assert_eq!(r.kind(), LogKind::TcpOverlapMismatch);
        let sent = (0..10)
            .filter(|_| p[0].emit_for_session(&mut limiter, 1_000_000_000, r))
            .count();
        assert_eq!(sent, usize::from(crate::logging::ratelimit::SESSION_BURST));
        let t = q.totals();
        assert_eq!(t.session_suppressed, 10 - sent as u64);
        assert_eq!(t.queued, sent as u64);
    }

    #[test]
    fn producers_work_from_threads() {
        let (p, q) = LogQueues::new(4, 1024, Arc::default());
        let handles: Vec<_> = p
            .into_iter()
            .map(|p| {
                std::thread::spawn(move || {
                    for i in 0..500 {
                        p.emit(i, rec(i));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut out = Vec::new();
        q.drain_into(&mut out, usize::MAX);
        assert_eq!(out.len(), 2000);
    }
}
