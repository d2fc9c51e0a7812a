//! The path of a packet, read top to bottom (`config-and-nat.md` §5.2).
//!
//! [`Firewall::handle_frame`] is the spine. It calls one file per stage:
//!
//! 1. parse and validate (`wire::frame`), ARP to the local stack (`local.rs`);
//! 2. flow key and hash (`flow.rs`), session lookup;
//! 3. hit → the session path (`session_path.rs`: TCP tracking, SMTP
//!    inspection, the recorded translation, ACLs bypassed);
//! 4. miss → a new flow (`new_flow.rs`: input ACL, local delivery, inspection
//!    rule and half-open checks, NAT, routing, output ACL, session creation);
//! 5. transmit (`transmit.rs`: TTL, next-hop MAC, TX batch);
//! 6. timers, half-open deletions and reports (`expiry.rs`).
//!
//! Before all of these, the established fast path takes the common case — an
//! ordinary TCP segment or a UDP datagram of an established, non-inspected
//! session — with a short parse at fixed offsets (`wire::established`), one
//! table access and one checksum update; anything else falls through to the
//! stages above unchanged. Bursts are handled VPP style (`handle_chunk`):
//! parse, key and hash the whole burst, one burst lookup, then every frame in
//! order (`forward_burst_hit` on a hit: the burst keeps 6 bytes per frame,
//! re-reads the TCP fields from the frame, rewrites in place and writes the
//! frame straight into a TX slot; segments of inspected sessions go to
//! `session_path.rs`'s inspected fast path). A single frame (`handle_frame`)
//! takes `session_path.rs`'s `forward_established`, which the tests hold to
//! the same results.
//!
//! Every stage is sans-IO: it takes `now` and a frame and writes output to a
//! [`TxSink`]. One [`Firewall`] is one worker's state; the flows it owns are
//! steered to it by [`Processor::steer`].

mod expiry;
mod flow;
mod fragments;
mod local;
mod new_flow;
mod owner;
mod report;
mod session_path;
mod transmit;

use std::sync::Arc;

use flowtable::{Deletion, FlowHasher, FlowTable, Nanos, TableConfig, TimedEvent};

use crate::drop_reason::{DropCounters, DropReason};
use crate::io::TxSink;
use crate::logging::LogProducer;
use crate::runtime::{Runtime, MAX_PORTS};
use crate::session::Session;
use crate::shared::{PortCounters, ProtocolPackets, Shared};
use crate::smtp_path::SmtpWorker;
use crate::wire::frame::{parse_frame, parse_frame_with, ChecksumPolicy, L3};
use crate::wire::ParseError;
use crate::worker::Processor;

pub use flow::{key_of, KeyOrigin};

/// Sizing of one worker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirewallSizing {
    /// Sessions per worker (the table never grows).
    pub sessions: u32,
    /// SMTP-inspected sessions per worker.
    pub smtp_sessions: usize,
}

impl Default for FirewallSizing {
    fn default() -> Self {
        FirewallSizing {
            sessions: 65_536,
            smtp_sessions: 4096,
        }
    }
}

/// The seed of the flow hash (the session table's): the same for every
/// worker. (Which worker owns a session is the peer hash's business,
/// `owner.rs`.)
pub const FLOW_HASH_SEED: u64 = 0x6d61_696c_6775_6172;

/// One worker's firewall: its session table and everything it counts.
pub struct Firewall {
    worker: u16,
    shared: Arc<Shared>,
    rt: Arc<Runtime>,
    hasher: FlowHasher,
    /// The shared neighbour table's generation: sessions' cached next-hop
    /// MACs are good while it has not moved (`DirPath::cached_mac`).
    neighbour_generation: crate::routing::NeighbourGeneration,
    /// The static translations' GLOBAL → LOCAL map of the fast path
    /// (`flow.rs`), rebuilt with `rt`.
    globals: flow::GlobalMap,
    /// The MAC of each port's interface (`None` without one), from `rt`: the
    /// fast transmit's source MAC (`transmit.rs`).
    port_macs: [Option<crate::wire::ethernet::Mac>; MAX_PORTS],
    table: FlowTable<Session>,
    smtp: SmtpWorker,
    log: LogProducer,
    drops: DropCounters,
    ports: [PortCounters; MAX_PORTS],
    acl_hits: Vec<Vec<u64>>,
    acl_log: Vec<Vec<new_flow::AclLogState>>,
    packets: ProtocolPackets,
    creations: u64,
    last_created_ns: u64,
    counts: [u64; 3],
    maxever: [u64; 3],
    deletions: Vec<Deletion>,
    events: Vec<TimedEvent>,
    /// Expired sessions of one tick (capacity reserved once).
    expired: Vec<flowtable::Expired<Session>>,
    /// SMTP sessions with an out-of-order queue (bounded by the SMTP slab).
    ooo_pending: Vec<crate::smtp_path::SmtpSlot>,
    last_poll_ns: u64,
    /// Copy of a frame as it arrived, for ICMP errors quoting it.
    scratch: Box<[u8]>,
    /// `ip virtual-reassembly` per port (`None` where the interface does not
    /// have it), and the buffer a reassembled datagram is processed from.
    vfr: Vec<Option<crate::reassembly::VirtualReassembly>>,
    reassembled: Box<[u8]>,
    /// Egress MTU per port and re-fragmentation of reassembled datagrams.
    refrag: transmit::Refragmenter,
}

impl std::fmt::Debug for Firewall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Firewall")
            .field("worker", &self.worker)
            .field("sessions", &self.table.len())
            .finish()
    }
}

fn parse_drop(e: ParseError) -> DropReason {
    match e {
        ParseError::TooShort | ParseError::UnsupportedEtherType | ParseError::BadArp => {
            DropReason::MalformedL2
        }
        ParseError::NotIpv4
        | ParseError::BadIpHeaderLen
        | ParseError::BadIpChecksum
        | ParseError::BadTotalLength => DropReason::MalformedIp,
        _ => DropReason::MalformedL4,
    }
}

/// One reassembly table per port whose interface has `ip virtual-reassembly`.
fn vfr_tables(rt: &Runtime) -> Vec<Option<crate::reassembly::VirtualReassembly>> {
    (0..rt.ports.len())
        .map(|port| {
            let id = rt.port_iface[port];
            let ci = rt.compiled.interfaces.get(usize::from(id.0))?;
            let cfg = ci.virtual_reassembly.as_ref()?;
            Some(crate::reassembly::VirtualReassembly::new(
                crate::routing::IfIndex(id.0),
                cfg,
            ))
        })
        .collect()
}

impl Firewall {
    /// Worker `worker`'s firewall over the shared state.
    pub fn new(
        worker: u16,
        shared: Arc<Shared>,
        log: LogProducer,
        sizing: FirewallSizing,
        now: u64,
    ) -> Result<Firewall, String> {
        let hasher = FlowHasher::new(FLOW_HASH_SEED);
        let table = FlowTable::new(
            TableConfig::with_capacity(sizing.sessions),
            hasher,
            Nanos(now),
        )
        .map_err(|e| format!("session table: {e:?}"))?;
        let rt = shared.runtime();
        let vfr = vfr_tables(&rt);
        let acl_hits = rt
            .compiled
            .access_lists
            .iter()
            .map(|l| vec![0; l.entries.len()])
            .collect();
        let acl_log = rt
            .compiled
            .access_lists
            .iter()
            .map(|l| vec![new_flow::AclLogState::default(); l.entries.len()])
            .collect();
        let neighbour_generation = crate::shared::lock(&shared.neighbours).generation_handle();
        Ok(Firewall {
            worker,
            neighbour_generation,
            globals: flow::GlobalMap::new(&rt),
            port_macs: transmit::port_macs(&rt),
            rt,
            hasher,
            table,
            smtp: SmtpWorker::new(sizing.smtp_sessions),
            log,
            drops: DropCounters::default(),
            ports: [PortCounters::default(); MAX_PORTS],
            acl_hits,
            acl_log,
            packets: ProtocolPackets::default(),
            creations: 0,
            last_created_ns: 0,
            counts: [0; 3],
            maxever: [0; 3],
            deletions: Vec::with_capacity(1024),
            ooo_pending: Vec::with_capacity(sizing.smtp_sessions),
            expired: Vec::with_capacity(expiry::EXPIRY_BUDGET),
            events: Vec::with_capacity(256),
            last_poll_ns: 0,
            scratch: vec![0u8; crate::io::MAX_FRAME].into_boxed_slice(),
            reassembled: vec![
                0u8;
                if vfr.iter().any(Option::is_some) {
                    65_536 + 64
                } else {
                    0
                }
            ]
            .into_boxed_slice(),
            vfr,
            refrag: transmit::Refragmenter::new(),
            shared,
        })
    }

    /// Sessions this worker holds.
    pub fn session_count(&self) -> usize {
        self.table.len()
    }

    /// Drop counters of this worker.
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// Wall-clock timestamp for a log record.
    #[inline]
    fn unix_ns(&self, now: u64) -> u64 {
        now.wrapping_add(self.shared.wall_offset_ns)
    }

    /// Counts a dropped frame received on `port`.
    #[inline]
    fn drop_frame(&mut self, port: usize, reason: DropReason) {
        self.drops.count(reason);
        if let Some(p) = self.ports.get_mut(port) {
            p.drops += 1;
        }
    }

    /// Picks up a new configuration generation (once per burst, one load).
    #[inline]
    fn refresh_runtime(&mut self) {
        if self.shared.generation() != self.rt.generation {
            self.rt = self.shared.runtime();
            self.globals = flow::GlobalMap::new(&self.rt);
            self.port_macs = transmit::port_macs(&self.rt);
            let lists = &self.rt.compiled.access_lists;
            if self.acl_hits.len() != lists.len()
                || self
                    .acl_hits
                    .iter()
                    .zip(lists)
                    .any(|(h, l)| h.len() != l.entries.len())
            {
                self.acl_hits = lists.iter().map(|l| vec![0; l.entries.len()]).collect();
                self.acl_log = lists
                    .iter()
                    .map(|l| vec![new_flow::AclLogState::default(); l.entries.len()])
                    .collect();
            }
            if self.vfr.len() != self.rt.ports.len()
                || self
                    .vfr
                    .iter()
                    .zip(vfr_tables(&self.rt))
                    .any(|(a, b)| a.is_some() != b.is_some())
            {
                self.vfr = vfr_tables(&self.rt);
                if self.vfr.iter().any(Option::is_some) && self.reassembled.is_empty() {
                    self.reassembled = vec![0u8; 65_536 + 64].into_boxed_slice();
                }
            }
        }
    }

    /// The spine: one received frame, from parse to transmit.
    pub fn handle_frame(&mut self, now: u64, port: usize, frame: &mut [u8], tx: &mut TxSink) {
        if let Some(p) = self.ports.get_mut(port) {
            p.rx_packets += 1;
            p.rx_bytes += frame.len() as u64;
        }
        // 0. Established fast path (`session_path.rs`): most packets end here.
        if self.forward_established(now, port, frame, tx) {
            return;
        }
        self.handle_frame_full(now, port, frame, tx);
    }

    /// A burst of at most [`flowtable::BURST`] frames, VPP style: the short
    /// parse, key and hash of every frame first, then one burst lookup (the
    /// table's cache misses overlapped, `flowtable::burst`), then each frame in
    /// order: the established fast path on a hit ([`forward_burst_hit`]), the
    /// full path otherwise. Frames are handled strictly in arrival order, so
    /// the result is that of [`handle_frame`](Self::handle_frame) frame by
    /// frame: a hit made stale by an earlier frame of the burst (session
    /// deleted or replaced) finds no session through its generation-checked
    /// handle, and a miss takes the full path, which looks the frame up again.
    ///
    /// The ingress interface is read once per burst (all frames arrived on
    /// `port`, and the configuration changes only between bursts), and the
    /// receive counters are added once per burst.
    ///
    /// [`forward_burst_hit`]: Self::forward_burst_hit
    fn handle_chunk(&mut self, now: u64, port: usize, frames: &mut [&mut [u8]], tx: &mut TxSink) {
        const N: usize = flowtable::BURST;
        let n = frames.len().min(N);
        let mut candidates: [Option<Candidate>; N] = [None; N];
        // Frames that cannot take the fast path keep the default key (no
        // session has it): compacting the candidates measured 27 instructions
        // per established packet more than the lookups it saves cost SYNs.
        let mut keys = [flowtable::FlowKey::default(); N];
        let mut hashes = [flowtable::FlowHash(0); N];
        let mut hits: [Option<flowtable::Lookup>; N] = [None; N];
        let mut rx_bytes = 0u64;
        // 1. Parse, key and hash the whole burst (only frames for this
        //    interface's MAC, on an interface that is up, with a TTL to step).
        let ingress = self.rt.port_interface(port).filter(|i| i.up).map(|i| i.mac);
        for (i, frame) in frames[..n].iter().enumerate() {
            rx_bytes += frame.len() as u64;
            let Some(mac) = ingress else { continue };
            if let Some((c, key)) = self.fast_candidate(mac, frame) {
                hashes[i] = flow::hash_of(&self.hasher, &key);
                keys[i] = key;
                candidates[i] = Some(c);
            }
        }
        if let Some(p) = self.ports.get_mut(port) {
            p.rx_packets += n as u64;
            p.rx_bytes += rx_bytes;
        }
        // 2. Look the burst up, then bring in each hit's session.
        self.table
            .lookup_burst(&keys[..n], &hashes[..n], &mut hits[..n]);
        self.table.touch_values(&hits[..n]);
        // 3. Each frame in order.
        for (i, frame) in frames[..n].iter_mut().enumerate() {
            let forwarded = match (candidates[i], hits[i]) {
                (Some(c), Some(hit)) => self.forward_burst_hit(now, port, frame, c, hit, tx),
                _ => false,
            };
            if !forwarded {
                self.handle_frame_full(now, port, frame, tx);
            }
        }
    }

    /// The short parse of the established fast path: a frame addressed to
    /// `mac` (the ingress interface's) with a TTL to step, TCP or UDP in an
    /// option-less IPv4 header: what the burst keeps of it, and its session
    /// key. `None`: the frame needs the full path.
    // `inline(always)`: with two callers (the burst loop, the single-frame
    // path) LLVM keeps these out of line, which cost the burst loop ~160
    // instructions per packet (callgrind, `pipeline_established`).
    #[inline(always)]
    fn fast_candidate(
        &self,
        mac: crate::wire::ethernet::Mac,
        frame: &[u8],
    ) -> Option<(Candidate, flowtable::FlowKey)> {
        use crate::wire::established::{parse_forwardable, ForwardableL4};
        let f = parse_forwardable(frame).filter(|f| f.dst_mac == mac && f.ttl > 1)?;
        let key = flow::forwardable_key(&self.rt, &self.globals, &f);
        let c = Candidate {
            total_len: f.total_len,
            payload_len: f.payload_len,
            tcp: matches!(f.l4, ForwardableL4::Tcp { .. }),
        };
        Some((c, key))
    }

    /// The established fast path for a frame (of a burst, or a single frame
    /// through `session_path.rs`'s `forward_established`): the session `hit`
    /// found for `frame`, which the short parse accepted as candidate `c`. It
    /// does what `session_path` does for such a frame (see
    /// `forward_established` for the conditions and the transport-checksum
    /// decision; the tests hold the two to the same output frames and session
    /// state): TCP window tracking, the idle timer,
    /// the byte count, the recorded translation with the TTL step, and the
    /// frame to the cached next hop. The hit may be stale (looked up before
    /// earlier frames of the burst changed the table): the generation-checked
    /// handle then finds no session. A segment of an SMTP-inspected session
    /// goes to the inspected fast path (`forward_inspected_hit`). Returns
    /// `false`, having changed nothing, when the frame needs the full path.
    #[inline(always)]
    pub(super) fn forward_burst_hit(
        &mut self,
        now: u64,
        port: usize,
        frame: &mut [u8],
        c: Candidate,
        hit: flowtable::Lookup,
        tx: &mut TxSink,
    ) -> bool {
        use crate::session::L4State;
        use crate::wire::established::{forward_in_place, segment_fields};
        let forward = hit.direction == flowtable::Direction::Forward;
        let Some(s) = self.table.get_mut(hit.handle) else {
            return false;
        };
        let Some(dir) = s.direction_of(forward, port) else {
            return false;
        };
        let path = &s.paths[dir];
        let (Some(mac), egress, next_hop, rewrite) = (
            path.cached_mac(self.neighbour_generation.get()),
            path.egress,
            path.next_hop,
            path.rewrite,
        ) else {
            return false;
        };
        if s.closing || s.halfopen.is_some() {
            return false;
        }
        match &mut s.l4 {
            L4State::Tcp {
                tracker,
                smtp: None,
            } if c.tcp => {
                let Some(t) = segment_fields(frame) else {
                    return false;
                };
                if !tracker.track_ordinary(
                    crate::session::side_of(dir),
                    crate::stream::Seq(t.seq),
                    crate::stream::Seq(t.ack),
                    crate::stream::TcpFlags(t.flags),
                    t.window,
                    u32::from(c.payload_len),
                ) {
                    return false;
                }
                self.packets.tcp += 1;
            }
            L4State::Tcp { smtp: Some(_), .. } => {
                // An ordinary segment of an inspected session (direction,
                // next hop, closing and half-open checked above): the
                // inspected fast path (`session_path.rs`).
                return c.tcp && self.forward_inspected_hit(now, port, frame, hit.handle, dir, tx);
            }
            L4State::Udp {
                answered: true,
                dns: false,
            } if !c.tcp => self.packets.udp += 1,
            _ => return false,
        }
        s.last_heard = flowtable::Nanos(now);
        s.bytes[dir] += u64::from(c.payload_len);
        self.table.touch(hit.handle, flowtable::Nanos(now));
        // The TTL above 1 was checked with the parse, and the frame is the
        // one parsed: the rewrite cannot refuse.
        forward_in_place(frame, rewrite);
        self.transmit_forwardable_inlined(
            now,
            usize::from(egress),
            next_hop,
            mac,
            c.total_len,
            frame,
            tx,
        );
        true
    }
}

/// What the first phase of [`Firewall::handle_chunk`] keeps of a frame that
/// may take the established fast path (the rest is read again from the frame
/// when needed: cheaper than carrying it through the burst).
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    /// IPv4 total length.
    total_len: u16,
    /// Transport payload length.
    payload_len: u16,
    /// TCP (else UDP).
    tcp: bool,
}

impl Firewall {
    /// [`handle_frame`](Self::handle_frame) without the established fast path
    /// (port counters already taken): every stage, every check.
    fn handle_frame_full(&mut self, now: u64, port: usize, frame: &mut [u8], tx: &mut TxSink) {
        // 1. Parse and validate once; later stages read fields infallibly.
        let parsed = match parse_frame(frame) {
            Ok(p) => p,
            Err(e) => return self.drop_frame(port, parse_drop(e)),
        };
        let Some(iface) = self.rt.port_interface(port).copied().filter(|i| i.up) else {
            return self.drop_frame(port, DropReason::NoInterface);
        };
        let ip = match parsed.l3 {
            L3::Arp(arp) => return self.handle_arp(now, port, &iface, &arp, tx),
            L3::Ipv4(ip) => ip,
        };
        if parsed.dst_mac != iface.mac && !parsed.dst_mac.is_broadcast() {
            return self.drop_frame(port, DropReason::NotOurMac);
        }
        // 1b. Virtual reassembly: later stages see whole datagrams only.
        if ip.is_fragment() {
            return self.reassemble(now, port, frame, &ip, tx);
        }
        self.dispatch(now, port, iface, frame, parsed, ip, tx);
    }

    /// Stages 2–4 for a whole datagram: flow key and hash, session lookup,
    /// then the session path or the new-flow path.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        now: u64,
        port: usize,
        iface: crate::routing::Interface,
        frame: &mut [u8],
        parsed: crate::wire::frame::ParsedFrame,
        ip: crate::wire::frame::Ipv4Info,
        tx: &mut TxSink,
    ) {
        // 2. Flow key (inside form) and hash, computed once.
        let key = flow::key_of(&self.rt, &ip);
        if let Some((key, origin)) = key {
            let hash = flow::hash_of(&self.hasher, &key);
            // 3. Session lookup first: return traffic and established flows
            //    never see an access list (Firewall ACL Bypass).
            if let Some(hit) = self.table.lookup(&key, hash) {
                if self
                    .table
                    .get(hit.handle)
                    .is_some_and(|s| session_path::reopens(s, &ip))
                {
                    self.delete_session(now, hit.handle, flowtable::RemoveCause::Closed, tx);
                    return self.new_flow(
                        now,
                        port,
                        &iface,
                        frame,
                        parsed,
                        ip,
                        Some((key, hash, origin)),
                        tx,
                    );
                }
                let forward = hit.direction == flowtable::Direction::Forward;
                let dir = self
                    .table
                    .get(hit.handle)
                    .and_then(|s| session_path::packet_direction(s, forward, port, origin));
                if let Some(dir) = dir {
                    return self.session_path(now, port, hit.handle, dir, origin, frame, ip, tx);
                }
            }
            // 4. No session: the new-flow path.
            return self.new_flow(
                now,
                port,
                &iface,
                frame,
                parsed,
                ip,
                Some((key, hash, origin)),
                tx,
            );
        }
        self.new_flow(now, port, &iface, frame, parsed, ip, None, tx)
    }
}

impl Firewall {
    /// The spine after reassembly, for a datagram that is not a fragment (or
    /// an initial fragment judged by its headers).
    fn continue_unfragmented(&mut self, now: u64, port: usize, frame: &mut [u8], tx: &mut TxSink) {
        let parsed = match parse_frame(frame) {
            Ok(p) => p,
            Err(e) => return self.drop_frame(port, parse_drop(e)),
        };
        let Some(iface) = self.rt.port_interface(port).copied() else {
            return self.drop_frame(port, DropReason::NoInterface);
        };
        let Some(ip) = parsed.ipv4().copied() else {
            return;
        };
        self.dispatch(now, port, iface, frame, parsed, ip, tx);
    }
}

impl Processor for Firewall {
    fn steer(&self, port: usize, frame: &[u8]) -> Option<u64> {
        // The owner is the peer hash the kernel's fanout placed the frame by
        // (`owner.rs`): the tuple is all it needs, so the short parse where
        // it applies and no transport checksum either way (the owner verifies
        // what it must, and drops a corrupt frame itself).
        let side = self.rt.peer_side(port);
        if let Some(f) = crate::wire::established::parse_forwardable(frame) {
            return Some(owner::forwardable_owner_hash(side, &f));
        }
        let ip = *parse_frame_with(frame, ChecksumPolicy::TrustL4)
            .ok()?
            .ipv4()?;
        // Every fragment of a datagram to one worker (`fragments.rs`).
        if ip.is_fragment() {
            return self.steer_fragment(port, &ip);
        }
        owner::owner_hash(side, &ip)
    }

    fn process(&mut self, now: u64, port: usize, frame: &mut [u8], tx: &mut TxSink) {
        self.handle_frame(now, port, frame, tx);
    }

    fn process_burst(&mut self, now: u64, port: usize, frames: &mut [&mut [u8]], tx: &mut TxSink) {
        self.refresh_runtime();
        for chunk in frames.chunks_mut(flowtable::BURST) {
            self.handle_chunk(now, port, chunk, tx);
        }
    }

    fn tick(&mut self, now: u64, tx: &mut TxSink) {
        self.refresh_runtime();
        self.on_tick(now, tx);
    }
}

#[cfg(test)]
impl Firewall {
    /// [`handle_frame`](Self::handle_frame) as if the established fast path
    /// did not exist (the tests compare the two).
    pub(crate) fn handle_frame_without_fast_path(
        &mut self,
        now: u64,
        port: usize,
        frame: &mut [u8],
        tx: &mut TxSink,
    ) {
        if let Some(p) = self.ports.get_mut(port) {
            p.rx_packets += 1;
            p.rx_bytes += frame.len() as u64;
        }
        self.handle_frame_full(now, port, frame, tx);
    }

    /// Everything the packet path changes, as text: every session with its
    /// keys and timer, and the counters.
    pub(crate) fn state_dump(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .table
            .iter()
            .map(|(h, keys, s)| format!("{keys:?} {:?} {s:?}", self.table.timer(h)))
            .collect();
        out.sort();
        out.push(format!("{:?}", self.ports));
        out.push(format!("{:?}", self.packets));
        out.push(format!("{:?}", self.drops));
        out.push(format!("{:?} {:?}", self.counts, self.creations));
        out
    }
}

#[cfg(test)]
mod tests;
