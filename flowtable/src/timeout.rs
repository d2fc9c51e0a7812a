//! Timeout kinds and the global timeout defaults (`cbac-sessions.md` §3.2, §4.3, §5.3, §6).
//!
//! A session has exactly one running timer at a time; its kind says why it runs
//! and is reported at expiry (audit trail, `debug ip inspect timers`, the
//! `halfopen_deleted{synwait}` counter). The duration is always given by the caller
//! at arm time, because per-rule `timeout` overrides are frozen at session creation;
//! [`Timeouts`] only holds the global values of `ip inspect ...` commands.

use crate::time::Nanos;

/// Why a session's timer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeoutKind {
    /// TCP half-open: `ip inspect tcp synwait-time` (30 s).
    SynWait,
    /// TCP after both FINs: `ip inspect tcp finwait-time` (5 s).
    FinWait,
    /// TCP established / half-closed idle: rule `timeout` or `tcp idle-time` (3600 s).
    TcpIdle,
    /// UDP idle: rule `timeout` or `udp idle-time` (30 s).
    UdpIdle,
    /// UDP/53 after the first response: `dns-timeout` (5 s).
    Dns,
    /// ICMP, from the last outgoing request: rule `timeout` or 10 s.
    Icmp,
    /// Any other caller-chosen duration (per-rule override without a global name).
    Custom,
}

impl TimeoutKind {
    /// All kinds, in counter order.
    pub const ALL: [TimeoutKind; 7] = [
        TimeoutKind::SynWait,
        TimeoutKind::FinWait,
        TimeoutKind::TcpIdle,
        TimeoutKind::UdpIdle,
        TimeoutKind::Dns,
        TimeoutKind::Icmp,
        TimeoutKind::Custom,
    ];

    /// Dense index (for per-kind counters).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The timer name used by `debug ip inspect timers`.
    pub const fn name(self) -> &'static str {
        match self {
            TimeoutKind::SynWait => "synwait",
            TimeoutKind::FinWait => "finwait",
            TimeoutKind::TcpIdle | TimeoutKind::UdpIdle | TimeoutKind::Icmp => "idle",
            TimeoutKind::Dns => "dns",
            TimeoutKind::Custom => "custom",
        }
    }
}

/// Global timeouts (`ip inspect ...`), defaults from `cbac-sessions.md` §6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// `ip inspect tcp synwait-time`.
    pub synwait: Nanos,
    /// `ip inspect tcp finwait-time`.
    pub finwait: Nanos,
    /// `ip inspect tcp idle-time`.
    pub tcp_idle: Nanos,
    /// `ip inspect udp idle-time`.
    pub udp_idle: Nanos,
    /// `ip inspect dns-timeout`.
    pub dns: Nanos,
    /// ICMP default (per-entry `timeout` overrides it).
    pub icmp: Nanos,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            synwait: Nanos::from_secs(30),
            finwait: Nanos::from_secs(5),
            tcp_idle: Nanos::from_secs(3600),
            udp_idle: Nanos::from_secs(30),
            dns: Nanos::from_secs(5),
            icmp: Nanos::from_secs(10),
        }
    }
}

impl Timeouts {
    /// The global duration of `kind`; `None` for [`TimeoutKind::Custom`].
    pub const fn duration(&self, kind: TimeoutKind) -> Option<Nanos> {
        match kind {
            TimeoutKind::SynWait => Some(self.synwait),
            TimeoutKind::FinWait => Some(self.finwait),
            TimeoutKind::TcpIdle => Some(self.tcp_idle),
            TimeoutKind::UdpIdle => Some(self.udp_idle),
            TimeoutKind::Dns => Some(self.dns),
            TimeoutKind::Icmp => Some(self.icmp),
            TimeoutKind::Custom => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_spec_table() {
        let t = Timeouts::default();
        assert_eq!(t.duration(TimeoutKind::SynWait), Some(Nanos::from_secs(30)));
        assert_eq!(t.duration(TimeoutKind::FinWait), Some(Nanos::from_secs(5)));
        assert_eq!(
            t.duration(TimeoutKind::TcpIdle),
            Some(Nanos::from_secs(3600))
        );
        assert_eq!(t.duration(TimeoutKind::UdpIdle), Some(Nanos::from_secs(30)));
        assert_eq!(t.duration(TimeoutKind::Dns), Some(Nanos::from_secs(5)));
        assert_eq!(t.duration(TimeoutKind::Icmp), Some(Nanos::from_secs(10)));
        assert_eq!(t.duration(TimeoutKind::Custom), None);
    }

    #[test]
    fn dense_indices() {
        for (i, k) in TimeoutKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        assert_eq!(TimeoutKind::SynWait.name(), "synwait");
    }
}
