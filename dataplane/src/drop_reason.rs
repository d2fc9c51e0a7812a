//! Every packet the firewall does not forward has a named reason, counted per
//! worker and shown by `show interfaces`, `show ip inspect statistics` and the
//! Prometheus exposition (`mailguard_drops_total{reason="..."}`).
//!
//! The list is closed (`DropReason::ALL`) so the counters are a fixed array
//! indexed by the enum: counting a drop is one increment, no lookup, no lock.

/// Why a frame was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Frame shorter than an Ethernet header, or not IPv4/ARP.
    MalformedL2,
    /// Bad IPv4 header: version, header length, total length or checksum.
    MalformedIp,
    /// Bad TCP/UDP/ICMP header or length.
    MalformedL4,
    /// Arrived on a port with no bound IOS interface, or a shut-down one.
    NoInterface,
    /// Denied by the ingress access list.
    AclDenyIn,
    /// Denied by the egress access list.
    AclDenyOut,
    /// No route to the destination.
    NoRoute,
    /// TTL expired in transit.
    TtlExpired,
    /// Next hop not resolved yet: the frame waits in the neighbour table's
    /// bounded queue (or was refused by it) while ARP resolves it.
    ArpUnresolved,
    /// Addressed to the router and not handled by its local stack.
    LocalDelivery,
    /// Packet of an inspected protocol, not session-opening, with no session
    /// on an interface whose rule would have required one.
    NoSession,
    /// TCP segment refused by state tracking (out of window, bad flags).
    TcpState,
    /// Session creation refused: per-host block-time in force.
    HostBlocked,
    /// Session creation refused: session table full.
    TableFull,
    /// ICMP error whose embedded header matches no session.
    IcmpNoSession,
    /// Non-initial fragment on an interface without `ip virtual-reassembly`.
    Fragment,
    /// Handoff ring to the owning worker was full.
    HandoffFull,
    /// Transmit ring full.
    TxFull,
    /// Inspected stream: segment held back (withheld / out-of-order queue
    /// overflow / already acknowledged duplicate / beyond the window).
    StreamWithheld,
    /// Inspected stream: out-of-order queue overflow.
    StreamOoOverflow,
    /// Session closed by the SMTP inspector (reply-and-close): late segments.
    SmtpClosed,
    /// Datagram larger than the egress MTU with DF set (answered with ICMP
    /// fragmentation-needed).
    TooBig,
    /// Unicast frame addressed to another station's MAC.
    NotOurMac,
    /// The SMTP inspector's session slab is full: session refused.
    SmtpSlabFull,
    /// `ip virtual-reassembly`: a new datagram while `max-reassemblies` are in
    /// progress (`%IP_VFR-4-FRAG_TABLE_OVERFLOW`).
    VfrTableFull,
    /// `ip virtual-reassembly`: more than `max-fragments` fragments in one
    /// datagram (`%IP_VFR-4-TOO_MANY_FRAGMENTS`; the datagram is dropped).
    VfrTooManyFragments,
    /// `ip virtual-reassembly`: a fragment overlapping one already held, an
    /// exact duplicate, or a later fragment of a datagram already dropped.
    VfrOverlap,
    /// `ip virtual-reassembly`: inconsistent fragments (two ends, data past
    /// the end, a datagram over 65535 bytes, a bad non-last length) or
    /// `drop-fragments`.
    VfrInvalid,
    /// `ip virtual-reassembly`: an incomplete datagram timed out (counted once
    /// per datagram).
    VfrTimeout,
    /// A datagram to fragment for the egress MTU could not be cut (MTU too
    /// small for its header) or its fragments did not fit the TX batch.
    FragmentFailed,
}

impl DropReason {
    /// Number of reasons (length of a per-worker counter array).
    pub const COUNT: usize = 30;

    /// Every reason, in counter-index order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::MalformedL2,
        DropReason::MalformedIp,
        DropReason::MalformedL4,
        DropReason::NoInterface,
        DropReason::AclDenyIn,
        DropReason::AclDenyOut,
        DropReason::NoRoute,
        DropReason::TtlExpired,
        DropReason::ArpUnresolved,
        DropReason::LocalDelivery,
        DropReason::NoSession,
        DropReason::TcpState,
        DropReason::HostBlocked,
        DropReason::TableFull,
        DropReason::IcmpNoSession,
        DropReason::Fragment,
        DropReason::HandoffFull,
        DropReason::TxFull,
        DropReason::StreamWithheld,
        DropReason::StreamOoOverflow,
        DropReason::SmtpClosed,
        DropReason::TooBig,
        DropReason::NotOurMac,
        DropReason::SmtpSlabFull,
        DropReason::VfrTableFull,
        DropReason::VfrTooManyFragments,
        DropReason::VfrOverlap,
        DropReason::VfrInvalid,
        DropReason::VfrTimeout,
        DropReason::FragmentFailed,
    ];

    /// Metric label / `show` name.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::MalformedL2 => "malformed_l2",
            DropReason::MalformedIp => "malformed_ip",
            DropReason::MalformedL4 => "malformed_l4",
            DropReason::NoInterface => "no_interface",
            DropReason::AclDenyIn => "acl_deny_in",
            DropReason::AclDenyOut => "acl_deny_out",
            DropReason::NoRoute => "no_route",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::ArpUnresolved => "arp_unresolved",
            DropReason::LocalDelivery => "local_delivery",
            DropReason::NoSession => "no_session",
            DropReason::TcpState => "tcp_state",
            DropReason::HostBlocked => "host_blocked",
            DropReason::TableFull => "session_table_full",
            DropReason::IcmpNoSession => "icmp_error_no_session",
            DropReason::Fragment => "fragment",
            DropReason::HandoffFull => "handoff_full",
            DropReason::TxFull => "tx_full",
            DropReason::StreamWithheld => "stream_withheld",
            DropReason::StreamOoOverflow => "stream_ooo_overflow",
            DropReason::SmtpClosed => "smtp_closed",
            DropReason::TooBig => "too_big",
            DropReason::NotOurMac => "not_our_mac",
            DropReason::SmtpSlabFull => "smtp_slab_full",
            DropReason::VfrTableFull => "vfr_table_full",
            DropReason::VfrTooManyFragments => "vfr_too_many_fragments",
            DropReason::VfrOverlap => "vfr_overlap",
            DropReason::VfrInvalid => "vfr_invalid",
            DropReason::VfrTimeout => "vfr_timeout",
            DropReason::FragmentFailed => "fragment_failed",
        }
    }

    /// Index into a `[u64; DropReason::COUNT]` counter array.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Per-worker drop counters, one slot per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropCounters(pub [u64; DropReason::COUNT]);

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters([0; DropReason::COUNT])
    }
}

impl DropCounters {
    /// Counts one drop.
    #[inline]
    pub fn count(&mut self, reason: DropReason) {
        self.0[reason.index()] += 1;
    }

    /// Adds another worker's counters (for `show` and metrics).
    pub fn add(&mut self, other: &DropCounters) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// Total drops over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_names_are_unique() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }

    #[test]
    fn counters_add_up() {
        let mut a = DropCounters::default();
        a.count(DropReason::AclDenyIn);
        a.count(DropReason::AclDenyIn);
        let mut b = DropCounters::default();
        b.count(DropReason::NoRoute);
        a.add(&b);
        assert_eq!(a.0[DropReason::AclDenyIn.index()], 2);
        assert_eq!(a.total(), 3);
    }
}
