//! Per-worker counters of the TCP tracker and the inspected-stream layer.
//!
//! Plain `u64`s owned by one worker (no atomics on the packet path); the control thread
//! reads snapshots and sums them (`smtp-inspection.md` §14: `tcp_ooo_queued`,
//! `tcp_ooo_dropped`, `tcp_retrans_mismatch`, and one counter per drop reason).

use super::inspected::StreamDropReason;
use super::tcp_state::TcpDropReason;

/// Counters of one worker.
/// `Copy`, like `SmtpStats`, so the control thread can take snapshots by value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// Segments queued out of order (§11 rule 1).
    pub tcp_ooo_queued: u64,
    /// Segments dropped because the out-of-order queue (16 per direction, 1 MiB per
    /// worker) was full.
    pub tcp_ooo_dropped: u64,
    /// Queued segments discarded after 5 s without the gap filling.
    pub tcp_ooo_expired: u64,
    /// Queued segments released in order once the gap filled.
    pub tcp_ooo_released: u64,
    /// Retransmitted or overlapping segments whose bytes differed from what was forwarded.
    pub tcp_retrans_mismatch: u64,
    /// Bytes of retransmissions replaced with the stored first copy (differing or not).
    pub tcp_retrans_bytes_restored: u64,
    /// Keep-alive probes (0 or 1 byte at ACK − 1) forwarded unchanged (§11 rule 3).
    pub tcp_keepalives: u64,
    /// Bytes cut from segments because they lay beyond the receiver's window (rule 4).
    pub tcp_window_trimmed_bytes: u64,
    /// Bytes cut because the retransmission store was full (rule 5).
    pub tcp_store_trimmed_bytes: u64,
    /// Segments dropped by the tracker, indexed by [`TcpDropReason::index`].
    pub tcp_drops: [u64; TcpDropReason::ALL.len()],
    /// Segments dropped by the stream layer, indexed by [`StreamDropReason::index`].
    pub stream_drops: [u64; StreamDropReason::ALL.len()],
}

impl StreamCounters {
    pub fn count_tcp_drop(&mut self, reason: TcpDropReason) {
        self.tcp_drops[reason.index()] += 1;
    }

    pub fn count_stream_drop(&mut self, reason: StreamDropReason) {
        self.stream_drops[reason.index()] += 1;
    }

    pub fn tcp_drop(&self, reason: TcpDropReason) -> u64 {
        self.tcp_drops[reason.index()]
    }

    pub fn stream_drop(&self, reason: StreamDropReason) -> u64 {
        self.stream_drops[reason.index()]
    }

    /// Adds another worker's counters (control-thread aggregation).
    pub fn add(&mut self, other: &StreamCounters) {
        self.tcp_ooo_queued += other.tcp_ooo_queued;
        self.tcp_ooo_dropped += other.tcp_ooo_dropped;
        self.tcp_ooo_expired += other.tcp_ooo_expired;
        self.tcp_ooo_released += other.tcp_ooo_released;
        self.tcp_retrans_mismatch += other.tcp_retrans_mismatch;
        self.tcp_retrans_bytes_restored += other.tcp_retrans_bytes_restored;
        self.tcp_keepalives += other.tcp_keepalives;
        self.tcp_window_trimmed_bytes += other.tcp_window_trimmed_bytes;
        self.tcp_store_trimmed_bytes += other.tcp_store_trimmed_bytes;
        for (a, b) in self.tcp_drops.iter_mut().zip(other.tcp_drops) {
            *a += b;
        }
        for (a, b) in self.stream_drops.iter_mut().zip(other.stream_drops) {
            *a += b;
        }
    }

    /// Every counter with its metrics name, for exposition.
    pub fn for_each(&self, mut f: impl FnMut(&'static str, u64)) {
        f("tcp_ooo_queued", self.tcp_ooo_queued);
        f("tcp_ooo_dropped", self.tcp_ooo_dropped);
        f("tcp_ooo_expired", self.tcp_ooo_expired);
        f("tcp_ooo_released", self.tcp_ooo_released);
        f("tcp_retrans_mismatch", self.tcp_retrans_mismatch);
        f(
            "tcp_retrans_bytes_restored",
            self.tcp_retrans_bytes_restored,
        );
        f("tcp_keepalives", self.tcp_keepalives);
        f("tcp_window_trimmed_bytes", self.tcp_window_trimmed_bytes);
        f("tcp_store_trimmed_bytes", self.tcp_store_trimmed_bytes);
        for r in TcpDropReason::ALL {
            f(r.name(), self.tcp_drop(r));
        }
        for r in StreamDropReason::ALL {
            f(r.name(), self.stream_drop(r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_add_sums() {
        let mut a = StreamCounters::default();
        a.count_tcp_drop(TcpDropReason::OutOfWindow);
        a.count_stream_drop(StreamDropReason::OooOverflow);
        a.tcp_ooo_queued = 3;
        let mut total = StreamCounters::default();
        total.add(&a);
        total.add(&a);
        assert_eq!(total.tcp_drop(TcpDropReason::OutOfWindow), 2);
        assert_eq!(total.stream_drop(StreamDropReason::OooOverflow), 2);
        assert_eq!(total.tcp_ooo_queued, 6);
        let mut names = Vec::new();
        total.for_each(|n, _| names.push(n));
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
