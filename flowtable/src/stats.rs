//! Statistics for `show ip inspect statistics` (`cbac-sessions.md` §11.4).
//!
//! Figures come from three places, summed on read by [`InspectStatistics::collect`]:
//! * each worker's [`TableStats`] (single-writer counters: creations, table-full
//!   drops, expiries by kind, current table size, last creation time);
//! * the shared [`SessionGauges`] (current and maxever established / terminating
//!   counts: atomics touched once per session state change, never per packet, so
//!   that "maxever" is the maximum of the global sum, not a sum of maxima);
//! * the global half-open registry ([`crate::halfopen::HalfOpenRegistry`]):
//!   half-open count and maxever, creation rates, aggressive mode, blocked hosts,
//!   half-open deletions by reason.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::counter::Counter;
use crate::halfopen::RegistrySnapshot;
use crate::time::Nanos;
use crate::timeout::TimeoutKind;

/// One table's counters (written by the owning worker only).
#[derive(Debug, Default)]
pub struct TableStats {
    /// Sessions created.
    pub creations: Counter,
    /// Sessions deleted (any reason, expiry included).
    pub removals: Counter,
    /// Inserts refused because the table was full.
    pub table_full: Counter,
    /// Inserts refused because a key already belonged to a session.
    pub key_in_use: Counter,
    /// Expiries by [`TimeoutKind::index`].
    pub expired: [Counter; 7],
    /// Creation time of the last session + 1 ns (0 = never).
    pub last_created: Counter,
    /// Current number of sessions.
    pub sessions: Counter,
    /// Bytes of the table's arrays (index, entries, wheel, value slots) for
    /// which the kernel accepted the huge-page advice (set once at start-up,
    /// see [`crate::memory`]).
    pub huge_page_bytes: Counter,
    /// Bytes of the table's arrays on ordinary pages (advice refused, not
    /// asked for, or an array smaller than one huge page).
    pub plain_page_bytes: Counter,
}

impl TableStats {
    /// Expiries of one kind.
    pub fn expired(&self, kind: TimeoutKind) -> u64 {
        self.expired[kind.index()].get()
    }

    /// Creation time of the last session, if any.
    pub fn last_created(&self) -> Option<Nanos> {
        self.last_created.get().checked_sub(1).map(Nanos)
    }
}

/// Display state of a session for the current/maxever counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionClass {
    /// `SIS_OPEN`.
    Established,
    /// `SIS_CLOSING`.
    Terminating,
}

/// Global established/terminating gauges with exact maxever.
#[derive(Debug, Default)]
pub struct SessionGauges {
    current: [AtomicI64; 2],
    maxever: [AtomicI64; 2],
}

impl SessionGauges {
    /// A session entered `class`.
    pub fn enter(&self, class: SessionClass) {
        let i = class as usize;
        let v = self.current[i].fetch_add(1, Ordering::Relaxed) + 1;
        self.maxever[i].fetch_max(v, Ordering::Relaxed);
    }

    /// A session left `class` (changed state or was deleted).
    pub fn leave(&self, class: SessionClass) {
        self.current[class as usize].fetch_sub(1, Ordering::Relaxed);
    }

    /// Current count.
    pub fn current(&self, class: SessionClass) -> u64 {
        self.current[class as usize].load(Ordering::Relaxed).max(0) as u64
    }

    /// Largest count ever.
    pub fn maxever(&self, class: SessionClass) -> u64 {
        self.maxever[class as usize].load(Ordering::Relaxed).max(0) as u64
    }
}

/// Half-open deletions by reason (`cbac-sessions.md` §7.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HalfOpenDeleted {
    /// Timed out while half-open (TCP synwait; UDP idle without a response).
    pub synwait: u64,
    /// Oldest half-open deleted in aggressive mode.
    pub aggressive: u64,
    /// Oldest half-open toward a host at its limit (block-time 0).
    pub host: u64,
    /// Deleted when a host was blocked (block-time > 0).
    pub block: u64,
}

/// The figures of `show ip inspect statistics` that belong to sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InspectStatistics {
    /// Session creations since start-up.
    pub creations: u64,
    /// Current (established, half-open, terminating).
    pub current: [u64; 3],
    /// Maxever (established, half-open, terminating).
    pub maxever: [u64; 3],
    /// When the last session was created.
    pub last_created: Option<Nanos>,
    /// Attempts in the last completed one-minute sampling period.
    pub last_creation_rate: u64,
    /// Largest attempt count of any completed period.
    pub maxever_creation_rate: u64,
    /// Half-open count at the last period boundary.
    pub last_halfopen_total: u64,
    /// Aggressive mode now.
    pub aggressive: bool,
    /// Times aggressive mode was entered.
    pub aggressive_entered: u64,
    /// Hosts blocked now.
    pub hosts_blocked: u64,
    /// BLOCK_HOST events.
    pub block_events: u64,
    /// Inserts refused because a table was full.
    pub table_full: u64,
    /// Half-open deletions by reason.
    pub halfopen_deleted: HalfOpenDeleted,
}

impl InspectStatistics {
    /// Sums per-worker tables with the global gauges and registry snapshot.
    pub fn collect<'a>(
        tables: impl IntoIterator<Item = &'a TableStats>,
        gauges: &SessionGauges,
        registry: &RegistrySnapshot,
    ) -> InspectStatistics {
        let mut s = InspectStatistics::default();
        for t in tables {
            s.creations += t.creations.get();
            s.table_full += t.table_full.get();
            s.last_created = s.last_created.max(t.last_created());
        }
        s.current = [
            gauges.current(SessionClass::Established),
            registry.halfopen,
            gauges.current(SessionClass::Terminating),
        ];
        s.maxever = [
            gauges.maxever(SessionClass::Established),
            registry.halfopen_maxever,
            gauges.maxever(SessionClass::Terminating),
        ];
        s.last_creation_rate = registry.last_rate;
        s.maxever_creation_rate = registry.maxever_rate;
        s.last_halfopen_total = registry.last_halfopen_total;
        s.aggressive = registry.aggressive;
        s.aggressive_entered = registry.aggressive_entered;
        s.hosts_blocked = registry.hosts_blocked;
        s.block_events = registry.block_events;
        s.halfopen_deleted = registry.deleted;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_keep_global_maxever() {
        let g = SessionGauges::default();
        g.enter(SessionClass::Established);
        g.enter(SessionClass::Established);
        g.leave(SessionClass::Established);
        g.enter(SessionClass::Terminating);
        assert_eq!(g.current(SessionClass::Established), 1);
        assert_eq!(g.maxever(SessionClass::Established), 2);
        assert_eq!(g.current(SessionClass::Terminating), 1);
    }

    #[test]
    fn collect_sums_tables() {
        let a = TableStats::default();
        let b = TableStats::default();
        a.creations.add(3);
        b.creations.add(4);
        b.table_full.bump();
        a.last_created.set(11);
        b.last_created.set(21);
        let snap = RegistrySnapshot {
            halfopen: 2,
            halfopen_maxever: 51,
            last_rate: 2,
            maxever_rate: 501,
            aggressive_entered: 1,
            block_events: 1,
            ..RegistrySnapshot::default()
        };
        let s = InspectStatistics::collect([&a, &b], &SessionGauges::default(), &snap);
        assert_eq!(s.creations, 7);
        assert_eq!(s.table_full, 1);
        assert_eq!(s.last_created, Some(Nanos(20)));
        assert_eq!(s.current, [0, 2, 0]);
        assert_eq!(s.maxever[1], 51);
        assert_eq!(s.maxever_creation_rate, 501);
    }
}
