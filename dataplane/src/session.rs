//! What the firewall remembers about one CBAC session (`cbac-sessions.md` §1),
//! stored as the `T` of the worker's `FlowTable<Session>`.
//!
//! A session is found by ONE key: its tuple in *inside form* (static GLOBAL
//! addresses replaced by their LOCAL ones, zone 0). With static NAT both
//! interfaces and both directions of a flow then hash to the same key, so one
//! hash serves steering to the owning worker, lookup and insert. Because the
//! inside form hides which interface a packet came from, each direction also
//! records the port its packets must arrive on; a packet that matches the key
//! on the wrong port is not the session's (`Session::direction_of`).
//!
//! Everything a packet of the session needs is recorded at creation — the
//! translation to apply per direction, the egress port, the next hop and its
//! MAC, the timeouts — so the established path reads no configuration. The
//! cached MAC is the one thing that can go stale while the session lives (the
//! neighbour moves or its entry expires): it carries the neighbour table's
//! generation and is resolved again when that moved on ([`DirPath::cached_mac`]).

use std::net::{Ipv4Addr, SocketAddrV4};

use flowtable::{HalfOpenId, Nanos};

use crate::config::InspectProtocol;
use crate::logging::SessionLogLimiter;
use crate::smtp_path::SmtpSlot;
use crate::stream::{Side, TcpTracker};
use crate::wire::ethernet::Mac;

/// Index of a direction in [`Session::paths`]: initiator → responder.
pub const FORWARD: usize = 0;
/// Index of a direction in [`Session::paths`]: responder → initiator.
pub const REVERSE: usize = 1;

/// Address rewrite applied to one direction of a session: `None`, `Source(a)`
/// (inside → outside) or `Destination(a)` (outside → inside). The wire
/// module's type, so that the fast path applies it without a conversion.
pub use crate::wire::established::Translation as Rewrite;

/// How the packets of one direction travel through the firewall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirPath {
    /// Port the direction's packets arrive on.
    pub ingress: u8,
    /// Port they leave by.
    pub egress: u8,
    /// Translation applied on the way.
    pub rewrite: Rewrite,
    /// Next hop on the egress interface.
    pub next_hop: Ipv4Addr,
    /// Next hop's MAC once resolved (cached; `None` = ask the neighbour table).
    /// Good only while the neighbour table's generation is `mac_generation`
    /// (see [`DirPath::cached_mac`]).
    pub next_hop_mac: Option<Mac>,
    /// The neighbour table's generation when `next_hop_mac` was resolved
    /// ([`crate::routing::NeighbourGeneration`]).
    pub mac_generation: u32,
    /// Source and destination as they appear on the egress wire (for
    /// firewall-originated segments sent in this direction).
    pub wire_src: SocketAddrV4,
    /// See `wire_src`.
    pub wire_dst: SocketAddrV4,
}

impl DirPath {
    /// The cached next-hop MAC if it is still good: resolved at the
    /// neighbour table's current `generation` (no neighbour moved or expired
    /// since). `None`: resolve the next hop again.
    #[inline]
    pub fn cached_mac(&self, generation: u32) -> Option<Mac> {
        if self.mac_generation == generation {
            self.next_hop_mac
        } else {
            None
        }
    }

    /// Records the outcome of resolving the next hop at `generation`.
    #[inline]
    pub fn cache_mac(&mut self, mac: Option<Mac>, generation: u32) {
        self.next_hop_mac = mac;
        self.mac_generation = generation;
    }
}

/// Transport-specific state.
#[derive(Debug)]
pub enum L4State {
    /// TCP: state tracking (and, for smtp/esmtp entries, the inspector slot).
    Tcp {
        /// Sequence/window tracking and the TCP state machine.
        tracker: TcpTracker,
        /// SMTP inspector and stream-integrity state, if the entry inspects SMTP.
        smtp: Option<SmtpSlot>,
    },
    /// UDP: whether the responder has answered (then no longer half-open).
    Udp {
        /// A responder datagram was seen.
        answered: bool,
        /// Responder port 53: `dns-timeout` applies after the first answer.
        dns: bool,
    },
    /// ICMP query session keyed on the requester (and identifier).
    Icmp,
}

/// One CBAC session.
#[derive(Debug)]
pub struct Session {
    /// Id shown by `show ip inspect session` (8 hex digits).
    pub id: u32,
    /// Protocol keyword of the inspection entry that created it.
    pub protocol: InspectProtocol,
    /// Initiator as seen where the session was created (for show/logs).
    pub initiator: SocketAddrV4,
    /// Responder as seen where the session was created.
    pub responder: SocketAddrV4,
    /// Per direction (`FORWARD`, `REVERSE`).
    pub paths: [DirPath; 2],
    /// Transport state.
    pub l4: L4State,
    /// Registry id while the session counts as half-open.
    pub halfopen: Option<HalfOpenId>,
    /// Alerts on for this session's entry.
    pub alert: bool,
    /// Audit trail on for this session's entry.
    pub audit_trail: bool,
    /// Idle timeout of the entry (frozen at creation).
    pub idle_timeout: Nanos,
    /// Transport payload bytes forwarded, per direction.
    pub bytes: [u64; 2],
    /// Last packet (either direction).
    pub last_heard: Nanos,
    /// Whether the session reached the terminating state (FIN from both).
    pub closing: bool,
    /// Per-session log rate limit.
    pub log_limiter: SessionLogLimiter,
}

impl Session {
    /// Which direction a packet arriving on `port` is, given the direction
    /// its key matched (`forward` = same orientation as the session key).
    #[inline]
    pub fn direction_of(&self, forward: bool, port: usize) -> Option<usize> {
        let dir = if forward { FORWARD } else { REVERSE };
        (usize::from(self.paths[dir].ingress) == port).then_some(dir)
    }

    /// Whether the session counts as established for `show` (not half-open,
    /// not terminating).
    pub fn display_state(&self) -> crate::show::SessionState {
        use crate::show::SessionState;
        if self.closing {
            SessionState::Closing
        } else if self.halfopen.is_some() {
            SessionState::HalfOpen
        } else {
            SessionState::Established
        }
    }
}

/// The stream side of a direction index.
#[inline]
pub fn side_of(dir: usize) -> Side {
    if dir == FORWARD {
        Side::Initiator
    } else {
        Side::Responder
    }
}

/// The direction index whose packets travel *toward* `side`.
#[inline]
pub fn dir_toward(side: Side) -> usize {
    match side {
        Side::Initiator => REVERSE,
        Side::Responder => FORWARD,
    }
}
