//! What the metrics endpoint reports, as one plain snapshot struct the binary
//! fills from its per-worker counters and global CBAC figures (DESIGN.md
//! "Control, logging, metrics"; `smtp-inspection.md` §14;
//! `cbac-sessions.md` §7, §11.4). Building it is the caller's job (a closure
//! given to the server), so this module depends on no other part of the
//! dataplane.

use crate::logging::LoggingTotals;

/// One worker (core).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerMetrics {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Packets this worker passed to the owner of their flow.
    pub handoff_sent: u64,
    /// Packets other workers passed to this one.
    pub handoff_received: u64,
    /// Packets lost because an owner's handoff ring was full.
    pub handoff_dropped: u64,
    /// Occupancy of this worker's rings (rx rings per port, handoff rings).
    pub rings: Vec<RingOccupancy>,
    /// Drops per reason, indexed like [`MetricsSnapshot::drop_reasons`].
    pub drops: Vec<u64>,
}

/// How full one ring is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RingOccupancy {
    /// e.g. `rx:Ethernet2/0`, `handoff:from-1`.
    pub ring: String,
    pub used: u64,
    pub capacity: u64,
}

/// Current sessions by state (`show ip inspect session` sections).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounts {
    pub established: u64,
    pub half_open: u64,
    pub terminating: u64,
}

/// The SMTP and stream counters of `smtp-inspection.md` §14, summed over workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmtpCounters {
    pub sessions: u64,
    pub cmd_lines: u64,
    pub cmd_masked: u64,
    pub ehlo_keywords_masked: u64,
    pub param_violations: u64,
    /// `(signature id, hits)`.
    pub sig_hits: Vec<(u16, u64)>,
    pub reply_close: u64,
    pub max_data_closes: u64,
    pub withheld_bytes: u64,
    pub bare_lf_cmd: u64,
    pub bare_cr_rewritten: u64,
    pub data_bare_eol_rewritten: u64,
    pub reply_malformed: u64,
    pub tcp_ooo_queued: u64,
    pub tcp_ooo_dropped: u64,
    pub tcp_retrans_mismatch: u64,
}

/// Virtual fragment reassembly of one interface, all workers (`show ip
/// virtual-reassembly`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VfrMetrics {
    /// IOS interface name (label value).
    pub interface: String,
    /// Datagrams under reassembly now.
    pub reassemblies: u64,
    /// Fragments they hold.
    pub fragments_held: u64,
    /// Fragments offered.
    pub fragments: u64,
    /// Datagrams reassembled.
    pub reassembled: u64,
    /// Incomplete datagrams dropped at their timeout.
    pub timeouts: u64,
    /// `(reason, fragments dropped)`.
    pub drops: Vec<(&'static str, u64)>,
}

/// Everything `/metrics` exposes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Drop-reason names (label values), in the order of `WorkerMetrics::drops`.
    pub drop_reasons: &'static [&'static str],
    pub workers: Vec<WorkerMetrics>,
    pub sessions: SessionCounts,
    pub session_creations: u64,
    /// New sessions refused because the table was full.
    pub session_table_full: u64,
    /// Session-table memory, all workers: bytes on huge pages, bytes on
    /// ordinary pages.
    pub session_table_bytes: [u64; 2],
    /// The global half-open count `H` (`cbac-sessions.md` §7.1).
    pub half_open: u64,
    /// Attempts in the current one-minute sampling period (`R`).
    pub one_minute_rate: u64,
    pub aggressive_mode: bool,
    pub aggressive_mode_entered: u64,
    pub hosts_blocked: u64,
    /// `(reason, count)`: synwait, aggressive, host, block (§7.4).
    pub half_open_deleted: Vec<(&'static str, u64)>,
    /// `(mnemonic, lines logged)`; `LoggerStats::emitted_by_kind` fits.
    pub alerts: Vec<(&'static str, u64)>,
    pub smtp: SmtpCounters,
    pub logging: LoggingTotals,
    /// Interfaces with `ip virtual-reassembly`.
    pub vfr: Vec<VfrMetrics>,
}
