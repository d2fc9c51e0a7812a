//! Routing, neighbour resolution and the router's minimal local stack
//! (`config-and-nat.md` §6, §7, §4.4).
//!
//! * [`RouteTable`]: connected routes of up interfaces plus `ip route` statics, compiled into
//!   one hash map per prefix length present (longest prefix first). Static next hops are
//!   resolved recursively to a connected subnet when the table is built, so a lookup returns
//!   the egress interface and the gateway to ARP for. The pipeline looks up once per new
//!   session; sessions cache the [`Route`] and the lead rebuilds the table (and bumps a
//!   generation) when interfaces or routes change.
//! * [`NeighbourTable`]: the ARP cache of every interface. Decision: packets for a next hop
//!   that is being resolved are *queued*, not dropped (IOS drops the first packet, which would
//!   cost the seed's first inbound SYN a one-second retransmission): a small pool of
//!   fixed-size slots allocated once, at most [`NeighbourConfig::queue_per_neighbour`] packets
//!   per neighbour; every packet that does not fit is dropped and counted. Requests are
//!   retried every second, three times; then the queued packets are dropped (counted) and
//!   the entry is forgotten. Resolved entries live four hours (IOS default).
//! * The local stack: [`handle_arp`] answers who-has for interface addresses and, on
//!   `ip nat outside` interfaces, for static-translation GLOBAL addresses in the interface's
//!   subnet (§4.4); [`handle_local`] answers ICMP echo to an interface address and drops
//!   everything else addressed to the router (§7); [`IcmpErrorLimiter`] allows one ICMP error
//!   per interface per 500 ms, shared by all workers through atomics.
//!
//! Sans-IO: `now` is a [`Duration`] on the caller's monotonic clock; nothing here reads a
//! clock or touches the OS.

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hashbrown::HashMap;

use crate::nat::StaticNatTable;
use crate::wire::arp::{ArpOp, ArpRepr};
use crate::wire::emit;
use crate::wire::ethernet::Mac;
use crate::wire::frame::{ParsedFrame, L4};
use crate::wire::icmp;

// ---------------------------------------------------------------------------------------
// Interfaces
// ---------------------------------------------------------------------------------------

/// Index of a dataplane interface (the lead maps IOS names to indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfIndex(pub u16);

/// `ip nat inside` / `ip nat outside` marking of an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NatRole {
    /// Neither.
    #[default]
    None,
    /// `ip nat inside`.
    Inside,
    /// `ip nat outside`.
    Outside,
}

/// Why an address/mask or route is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The mask's one bits are not contiguous.
    #[error("% Invalid mask {0}")]
    BadMask(Ipv4Addr),
    /// The prefix has bits set outside the mask (IOS: `%Inconsistent address and mask`).
    #[error("%Inconsistent address and mask")]
    InconsistentAddressAndMask,
    /// Administrative distance outside 1–255.
    #[error("% Invalid distance {0}")]
    BadDistance(u8),
}

/// An IPv4 address with a prefix length (an interface address or a route prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// An address and prefix length (0–32; larger values are clamped to 32).
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Self {
        Ipv4Cidr {
            addr,
            prefix_len: prefix_len.min(32),
        }
    }

    /// An address and a dotted mask as written in IOS (`172.22.1.16 255.255.255.0`).
    pub fn from_mask(addr: Ipv4Addr, mask: Ipv4Addr) -> Result<Self, RouteError> {
        let m = u32::from(mask);
        let len = m.leading_ones();
        if m.checked_shl(len).unwrap_or(0) != 0 {
            return Err(RouteError::BadMask(mask));
        }
        Ok(Ipv4Cidr::new(addr, len as u8))
    }

    /// The address.
    #[inline]
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    #[inline]
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The mask as a number.
    #[inline]
    pub fn mask_bits(&self) -> u32 {
        mask_of(self.prefix_len)
    }

    /// The dotted mask.
    #[inline]
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }

    /// The network address.
    #[inline]
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask_bits())
    }

    /// The directed-broadcast address of the subnet.
    #[inline]
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask_bits())
    }

    /// Whether `ip` is in this subnet.
    #[inline]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.addr)) & self.mask_bits() == 0
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[inline]
fn mask_of(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

/// What routing and the local stack need to know about one interface. The lead builds
/// these from the configuration and the bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// Index.
    pub index: IfIndex,
    /// MAC address of the bound host device.
    pub mac: Mac,
    /// `ip address` (None for `no ip address`).
    pub address: Option<Ipv4Cidr>,
    /// NAT marking.
    pub nat: NatRole,
    /// Not shutdown and bound to a device.
    pub up: bool,
}

impl Interface {
    /// Whether `ip` is this interface's own address.
    #[inline]
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.up && self.address.is_some_and(|a| a.addr() == ip)
    }

    /// The who-has request this interface sends to resolve `target`.
    pub fn arp_request(&self, target: Ipv4Addr) -> Option<ArpRepr> {
        let a = self.address?;
        Some(ArpRepr::request(self.mac, a.addr(), target))
    }

    /// Gratuitous ARPs to send when the interface comes up: its own address and, on a
    /// `nat outside` interface, every static-translation alias in its subnet (§7).
    pub fn gratuitous_arps<'a>(
        &'a self,
        nat: &'a StaticNatTable,
    ) -> impl Iterator<Item = ArpRepr> + 'a {
        let own = self.address.filter(|_| self.up).map(|a| a.addr());
        let aliases = nat
            .translations()
            .iter()
            .map(|t| t.global)
            .filter(move |g| nat.is_alias(*g, self));
        own.into_iter()
            .chain(aliases)
            .map(move |ip| ArpRepr::gratuitous(self.mac, ip))
    }
}

// ---------------------------------------------------------------------------------------
// Route table
// ---------------------------------------------------------------------------------------

/// Where an `ip route` points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteTarget {
    /// `ip route P M NEXTHOP`: resolved recursively.
    NextHop(Ipv4Addr),
    /// `ip route P M INTERFACE [NEXTHOP]`: out of that interface, to the next hop if given,
    /// else directly to the destination (ARP for it).
    Interface {
        /// Egress interface.
        index: IfIndex,
        /// Optional next hop on it.
        next_hop: Option<Ipv4Addr>,
    },
}

/// One `ip route` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticRoute {
    prefix: Ipv4Cidr,
    target: RouteTarget,
    distance: u8,
}

impl StaticRoute {
    /// Default administrative distance of a static route.
    pub const DEFAULT_DISTANCE: u8 = 1;

    /// `ip route PREFIX MASK TARGET [DISTANCE]`. Distance 255 is accepted and never
    /// installed (IOS semantics).
    pub fn new(
        prefix: Ipv4Addr,
        mask: Ipv4Addr,
        target: RouteTarget,
        distance: u8,
    ) -> Result<Self, RouteError> {
        let p = Ipv4Cidr::from_mask(prefix, mask)?;
        if p.network() != prefix {
            return Err(RouteError::InconsistentAddressAndMask);
        }
        if distance == 0 {
            return Err(RouteError::BadDistance(distance));
        }
        Ok(StaticRoute {
            prefix: p,
            target,
            distance,
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> Ipv4Cidr {
        self.prefix
    }

    /// The target.
    pub fn target(&self) -> RouteTarget {
        self.target
    }

    /// The administrative distance.
    pub fn distance(&self) -> u8 {
        self.distance
    }
}

/// The forwarding decision for a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Egress interface.
    pub egress: IfIndex,
    /// Gateway to ARP for; `None` = the destination is on the link.
    pub gateway: Option<Ipv4Addr>,
}

impl Route {
    /// The address to resolve with ARP for a packet to `dst`.
    #[inline]
    pub fn next_hop(&self, dst: Ipv4Addr) -> Ipv4Addr {
        self.gateway.unwrap_or(dst)
    }
}

/// Where an installed route came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteSource {
    /// A connected subnet (distance 0).
    Connected,
    /// An `ip route` line.
    Static,
}

/// A route as installed (for `show ip route` and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstalledRoute {
    /// Prefix (network address).
    pub prefix: Ipv4Cidr,
    /// Origin.
    pub source: RouteSource,
    /// Administrative distance.
    pub distance: u8,
    /// Forwarding decision.
    pub route: Route,
}

/// Maximum depth of recursive next-hop resolution.
const MAX_RECURSION: usize = 8;

/// The compiled route table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// One map per prefix length present, longest first: network → route.
    levels: Vec<(u8, HashMap<u32, Route>)>,
    installed: Vec<InstalledRoute>,
}

#[derive(Clone, Copy)]
struct Candidate {
    prefix: Ipv4Cidr,
    distance: u8,
    kind: CandidateKind,
}

#[derive(Clone, Copy)]
enum CandidateKind {
    Connected(IfIndex),
    Static(RouteTarget),
}

impl RouteTable {
    /// Builds the table from the interfaces (connected routes of up interfaces with an
    /// address) and the static routes. A static route whose next hop does not resolve to a
    /// connected subnet, or whose interface is down, is not installed. For equal prefixes
    /// the lowest distance wins (connected 0; ties keep the first configured).
    pub fn build(interfaces: &[Interface], statics: &[StaticRoute]) -> RouteTable {
        let mut cands: Vec<Candidate> = Vec::new();
        for i in interfaces.iter().filter(|i| i.up) {
            if let Some(a) = i.address {
                cands.push(Candidate {
                    prefix: Ipv4Cidr::new(a.network(), a.prefix_len()),
                    distance: 0,
                    kind: CandidateKind::Connected(i.index),
                });
            }
        }
        for s in statics.iter().filter(|s| s.distance < 255) {
            if let RouteTarget::Interface { index, .. } = s.target {
                if !interfaces.iter().any(|i| i.index == index && i.up) {
                    continue;
                }
            }
            cands.push(Candidate {
                prefix: s.prefix,
                distance: s.distance,
                kind: CandidateKind::Static(s.target),
            });
        }
        // Most specific first, then lowest distance, then configuration order (stable).
        let mut order: Vec<usize> = (0..cands.len()).collect();
        order.sort_by_key(|&i| {
            (
                std::cmp::Reverse(cands[i].prefix.prefix_len()),
                cands[i].distance,
            )
        });

        let mut installed: Vec<InstalledRoute> = Vec::new();
        for &ci in &order {
            let c = cands[ci];
            if installed.iter().any(|r| r.prefix == c.prefix) {
                continue;
            }
            let mut chain = [usize::MAX; MAX_RECURSION];
            chain[0] = ci;
            let Some(route) = resolve_candidate(&cands, &order, ci, &mut chain, 1) else {
                continue;
            };
            installed.push(InstalledRoute {
                prefix: c.prefix,
                source: match c.kind {
                    CandidateKind::Connected(_) => RouteSource::Connected,
                    CandidateKind::Static(_) => RouteSource::Static,
                },
                distance: c.distance,
                route,
            });
        }
        let mut levels: Vec<(u8, HashMap<u32, Route>)> = Vec::new();
        for r in &installed {
            let len = r.prefix.prefix_len();
            if !levels.iter().any(|(l, _)| *l == len) {
                levels.push((len, HashMap::new()));
            }
            if let Some((_, map)) = levels.iter_mut().find(|(l, _)| *l == len) {
                map.insert(u32::from(r.prefix.network()), r.route);
            }
        }
        levels.sort_by_key(|(l, _)| std::cmp::Reverse(*l));
        RouteTable { levels, installed }
    }

    /// Longest-prefix match.
    #[inline]
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<Route> {
        let d = u32::from(dst);
        self.levels
            .iter()
            .find_map(|(len, map)| map.get(&(d & mask_of(*len))).copied())
    }

    /// The installed routes, most specific first.
    pub fn installed(&self) -> &[InstalledRoute] {
        &self.installed
    }
}

/// Resolves candidate `ci` to a forwarding decision; `chain` holds the candidates already on
/// the resolution path (a route never resolves through itself).
fn resolve_candidate(
    cands: &[Candidate],
    order: &[usize],
    ci: usize,
    chain: &mut [usize; MAX_RECURSION],
    depth: usize,
) -> Option<Route> {
    match cands[ci].kind {
        CandidateKind::Connected(index) => Some(Route {
            egress: index,
            gateway: None,
        }),
        CandidateKind::Static(RouteTarget::Interface { index, next_hop }) => Some(Route {
            egress: index,
            gateway: next_hop,
        }),
        CandidateKind::Static(RouteTarget::NextHop(nh)) => {
            resolve_next_hop(cands, order, nh, chain, depth)
        }
    }
}

fn resolve_next_hop(
    cands: &[Candidate],
    order: &[usize],
    nh: Ipv4Addr,
    chain: &mut [usize; MAX_RECURSION],
    depth: usize,
) -> Option<Route> {
    if depth >= MAX_RECURSION {
        return None;
    }
    for &cj in order {
        if chain[..depth].contains(&cj) || !cands[cj].prefix.contains(nh) {
            continue;
        }
        let r = match cands[cj].kind {
            CandidateKind::Connected(index) => Some(Route {
                egress: index,
                gateway: Some(nh),
            }),
            CandidateKind::Static(RouteTarget::Interface { index, next_hop }) => Some(Route {
                egress: index,
                gateway: Some(next_hop.unwrap_or(nh)),
            }),
            CandidateKind::Static(RouteTarget::NextHop(nh2)) => {
                chain[depth] = cj;
                resolve_next_hop(cands, order, nh2, chain, depth + 1)
            }
        };
        if r.is_some() {
            return r;
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Neighbour (ARP) table
// ---------------------------------------------------------------------------------------

/// Limits and timers of the neighbour table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourConfig {
    /// Lifetime of a resolved entry (IOS `arp timeout` default: 4 hours).
    pub reachable_time: Duration,
    /// Interval between who-has retries for an unresolved neighbour.
    pub retry_interval: Duration,
    /// Requests sent before resolution fails (the first included).
    pub max_requests: u8,
    /// Entries (resolved and pending) across all interfaces.
    pub max_entries: usize,
    /// Packet slots shared by all pending neighbours.
    pub queue_slots: usize,
    /// Largest frame a slot holds (MTU 1500 + Ethernet header, rounded up).
    pub slot_size: usize,
    /// Packets queued per pending neighbour.
    pub queue_per_neighbour: usize,
}

impl Default for NeighbourConfig {
    fn default() -> Self {
        NeighbourConfig {
            reachable_time: Duration::from_secs(4 * 3600),
            retry_interval: Duration::from_secs(1),
            max_requests: 3,
            max_entries: 4096,
            queue_slots: 64,
            slot_size: 1536,
            queue_per_neighbour: MAX_QUEUE_PER_NEIGHBOUR,
        }
    }
}

/// Upper bound of [`NeighbourConfig::queue_per_neighbour`].
pub const MAX_QUEUE_PER_NEIGHBOUR: usize = 4;

/// What to do with a packet whose next hop is being resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The neighbour is known: set this destination MAC and transmit.
    Known(Mac),
    /// The packet was copied into the pending queue; it is released by
    /// [`NeighbourTable::drain_ready`] once the neighbour answers.
    Queued {
        /// Send a who-has now (first packet for this neighbour).
        send_request: bool,
    },
    /// The packet was dropped (counted); the caller frees it.
    Dropped {
        /// Send a who-has now.
        send_request: bool,
        /// Why.
        reason: NeighbourDrop,
    },
}

/// Why a packet waiting for ARP was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourDrop {
    /// The neighbour already has its quota of queued packets.
    NeighbourQueueFull,
    /// All packet slots are in use.
    QueueSlotsExhausted,
    /// The frame is larger than a slot.
    FrameTooLarge,
    /// The buffer is shorter than an Ethernet header (a caller bug; counted as too large).
    NotAFrame,
    /// The table is full of entries: no resolution could start.
    TableFull,
    /// Resolution failed (no answer after the retries); counted by [`NeighbourTable::tick`].
    ResolutionFailed,
}

/// Counters of the neighbour table (per worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NeighbourCounters {
    /// who-has requests asked for (first requests and retries).
    pub requests: u64,
    /// Entries created or refreshed from ARP traffic.
    pub learned: u64,
    /// Packets queued awaiting resolution.
    pub queued: u64,
    /// Queued packets released after resolution.
    pub released: u64,
    /// Drops: neighbour queue full.
    pub drop_neighbour_queue_full: u64,
    /// Drops: slot pool exhausted.
    pub drop_slots_exhausted: u64,
    /// Drops: frame larger than a slot (or not a frame).
    pub drop_frame_too_large: u64,
    /// Drops: table full.
    pub drop_table_full: u64,
    /// Drops: resolution failed.
    pub drop_resolution_failed: u64,
    /// Entries expired.
    pub expired: u64,
}

#[derive(Debug, Clone, Copy)]
enum NeighbourState {
    Reachable {
        mac: Mac,
        expires: Duration,
    },
    Incomplete {
        last_request: Duration,
        requests: u8,
        queue: [u16; MAX_QUEUE_PER_NEIGHBOUR],
        queued: u8,
    },
}

/// The ARP cache of all interfaces, keyed by (interface, neighbour address).
#[derive(Debug)]
pub struct NeighbourTable {
    config: NeighbourConfig,
    entries: HashMap<(IfIndex, Ipv4Addr), NeighbourState>,
    /// Slot storage: `queue_slots` × `slot_size` bytes, allocated once.
    slots: Vec<u8>,
    slot_len: Vec<u16>,
    free: Vec<u16>,
    /// Queued packets whose neighbour was resolved: (egress, slot).
    ready: Vec<(IfIndex, u16)>,
    counters: NeighbourCounters,
}

impl NeighbourTable {
    /// A table with its slot pool allocated up front.
    pub fn new(config: NeighbourConfig) -> Self {
        let mut config = config;
        config.queue_per_neighbour = config.queue_per_neighbour.min(MAX_QUEUE_PER_NEIGHBOUR);
        config.queue_slots = config.queue_slots.min(usize::from(u16::MAX));
        config.slot_size = config.slot_size.min(usize::from(u16::MAX));
        let n = config.queue_slots;
        NeighbourTable {
            entries: HashMap::with_capacity(config.max_entries),
            slots: vec![0; n * config.slot_size],
            slot_len: vec![0; n],
            free: (0..n as u16).rev().collect(),
            ready: Vec::with_capacity(n),
            counters: NeighbourCounters::default(),
            config,
        }
    }

    /// The counters.
    pub fn counters(&self) -> NeighbourCounters {
        self.counters
    }

    /// The MAC of a resolved, unexpired neighbour.
    pub fn lookup(&self, now: Duration, iface: IfIndex, ip: Ipv4Addr) -> Option<Mac> {
        match self.entries.get(&(iface, ip)) {
            Some(NeighbourState::Reachable { mac, expires }) if now < *expires => Some(*mac),
            _ => None,
        }
    }

    /// Resolves `next_hop` on `iface` for `frame` (a whole Ethernet frame ready to send but
    /// for its destination MAC). Known → the MAC; otherwise the frame is copied into the
    /// pending queue if there is room, and the caller is told whether to send a who-has
    /// (build it with [`Interface::arp_request`]).
    pub fn resolve(
        &mut self,
        now: Duration,
        iface: IfIndex,
        next_hop: Ipv4Addr,
        frame: &[u8],
    ) -> Resolution {
        let key = (iface, next_hop);
        let mut send_request = false;
        match self.entries.get(&key) {
            Some(NeighbourState::Reachable { mac, expires }) if now < *expires => {
                return Resolution::Known(*mac)
            }
            Some(NeighbourState::Reachable { .. }) => {
                // Expired: resolve again.
                self.counters.expired += 1;
                self.entries.remove(&key);
            }
            _ => {}
        }
        if !self.entries.contains_key(&key) {
            if self.entries.len() >= self.config.max_entries {
                self.counters.drop_table_full += 1;
                return Resolution::Dropped {
                    send_request: false,
                    reason: NeighbourDrop::TableFull,
                };
            }
            self.entries.insert(
                key,
                NeighbourState::Incomplete {
                    last_request: now,
                    requests: 1,
                    queue: [0; MAX_QUEUE_PER_NEIGHBOUR],
                    queued: 0,
                },
            );
            self.counters.requests += 1;
            send_request = true;
        }
        let drop = |c: &mut NeighbourCounters, reason| {
            match reason {
                NeighbourDrop::NeighbourQueueFull => c.drop_neighbour_queue_full += 1,
                NeighbourDrop::QueueSlotsExhausted => c.drop_slots_exhausted += 1,
                NeighbourDrop::FrameTooLarge | NeighbourDrop::NotAFrame => {
                    c.drop_frame_too_large += 1
                }
                NeighbourDrop::TableFull => c.drop_table_full += 1,
                NeighbourDrop::ResolutionFailed => c.drop_resolution_failed += 1,
            }
            Resolution::Dropped {
                send_request,
                reason,
            }
        };
        if frame.len() > self.config.slot_size {
            return drop(&mut self.counters, NeighbourDrop::FrameTooLarge);
        }
        if frame.len() < crate::wire::ethernet::HEADER_LEN {
            return drop(&mut self.counters, NeighbourDrop::NotAFrame);
        }
        let per_neighbour = self.config.queue_per_neighbour;
        let Some(NeighbourState::Incomplete { queue, queued, .. }) = self.entries.get_mut(&key)
        else {
            return drop(&mut self.counters, NeighbourDrop::ResolutionFailed);
        };
        if usize::from(*queued) >= per_neighbour {
            return drop(&mut self.counters, NeighbourDrop::NeighbourQueueFull);
        }
        let Some(slot) = self.free.pop() else {
            return drop(&mut self.counters, NeighbourDrop::QueueSlotsExhausted);
        };
        let start = usize::from(slot) * self.config.slot_size;
        self.slots[start..start + frame.len()].copy_from_slice(frame);
        self.slot_len[usize::from(slot)] = frame.len() as u16;
        queue[usize::from(*queued)] = slot;
        *queued += 1;
        self.counters.queued += 1;
        Resolution::Queued { send_request }
    }

    /// Merges an ARP sender into the table (RFC 826): an existing entry is updated; a new
    /// one is created only if `create` (the request was for one of our addresses, or it is a
    /// reply). Packets queued for the neighbour become ready for [`Self::drain_ready`].
    pub fn learn(&mut self, now: Duration, iface: IfIndex, ip: Ipv4Addr, mac: Mac, create: bool) {
        let key = (iface, ip);
        let len = self.entries.len();
        let fresh = NeighbourState::Reachable {
            mac,
            expires: now + self.config.reachable_time,
        };
        match self.entries.get_mut(&key) {
            Some(e) => {
                if let NeighbourState::Incomplete { queue, queued, .. } = *e {
                    let slot_size = self.config.slot_size;
                    for &slot in &queue[..usize::from(queued)] {
                        let start = usize::from(slot) * slot_size;
                        self.slots[start..start + 6].copy_from_slice(&mac.0);
                        self.ready.push((iface, slot));
                    }
                }
                *e = fresh;
            }
            None if create && len < self.config.max_entries => {
                self.entries.insert(key, fresh);
            }
            None => return,
        }
        self.counters.learned += 1;
    }

    /// Hands every released packet (destination MAC already filled in) to `send`, and
    /// frees its slot.
    pub fn drain_ready(&mut self, mut send: impl FnMut(IfIndex, &mut [u8])) {
        let slot_size = self.config.slot_size;
        for (iface, slot) in self.ready.drain(..) {
            let s = usize::from(slot);
            let len = usize::from(self.slot_len[s]);
            send(iface, &mut self.slots[s * slot_size..s * slot_size + len]);
            self.free.push(slot);
            self.counters.released += 1;
        }
    }

    /// Whether packets are waiting in [`Self::drain_ready`].
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Timers: retries who-has for pending neighbours every `retry_interval` (calling
    /// `request(iface, ip)` for each), fails those that used up their requests (queued
    /// packets dropped and counted, entry forgotten) and removes expired resolved entries.
    /// Meant for a coarse worker timer (every 100 ms to 1 s); the cost is one pass over the
    /// table.
    pub fn tick(&mut self, now: Duration, mut request: impl FnMut(IfIndex, Ipv4Addr)) {
        let cfg = self.config;
        let free = &mut self.free;
        let counters = &mut self.counters;
        self.entries.retain(|&(iface, ip), state| match state {
            NeighbourState::Reachable { expires, .. } => {
                if now >= *expires {
                    counters.expired += 1;
                    false
                } else {
                    true
                }
            }
            NeighbourState::Incomplete {
                last_request,
                requests,
                queue,
                queued,
            } => {
                if now < *last_request + cfg.retry_interval {
                    return true;
                }
                if *requests >= cfg.max_requests {
                    for &slot in &queue[..usize::from(*queued)] {
                        free.push(slot);
                    }
                    counters.drop_resolution_failed += u64::from(*queued);
                    return false;
                }
                *requests += 1;
                *last_request = now;
                counters.requests += 1;
                request(iface, ip);
                true
            }
        });
    }

    /// Forgets every entry of an interface (it went down or changed address); queued
    /// packets are dropped and counted.
    pub fn flush_interface(&mut self, iface: IfIndex) {
        let free = &mut self.free;
        let counters = &mut self.counters;
        self.entries.retain(|&(i, _), state| {
            if i != iface {
                return true;
            }
            if let NeighbourState::Incomplete { queue, queued, .. } = state {
                for &slot in &queue[..usize::from(*queued)] {
                    free.push(slot);
                }
                counters.drop_resolution_failed += u64::from(*queued);
            }
            false
        });
    }

    /// Number of entries (resolved and pending).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

// ---------------------------------------------------------------------------------------
// Local stack
// ---------------------------------------------------------------------------------------

/// Handles an ARP packet received on `iface`: learns the sender (RFC 826 merge; entries are
/// created only from packets that concern us) and returns the reply to send, if any. The
/// router answers who-has for the interface's own address and, on an `ip nat outside`
/// interface, for every static-translation GLOBAL address in the interface's subnet
/// (§4.4, seed case B8). Senders outside the interface's subnet are ignored, and so are
/// gratuitous requests (they only refresh the cache).
pub fn handle_arp(
    now: Duration,
    arp: &ArpRepr,
    iface: &Interface,
    nat: &StaticNatTable,
    neighbours: &mut NeighbourTable,
) -> Option<ArpRepr> {
    let ours = iface.address.filter(|_| iface.up)?;
    if !ours.contains(arp.sender_ip) || arp.sender_ip == ours.addr() {
        return None;
    }
    let for_us = arp.target_ip == ours.addr() || nat.is_alias(arp.target_ip, iface);
    let creates = for_us || arp.op == ArpOp::Reply;
    if !arp.sender_mac.is_multicast() && !arp.sender_mac.octets().iter().all(|b| *b == 0) {
        neighbours.learn(now, iface.index, arp.sender_ip, arp.sender_mac, creates);
    }
    if arp.op == ArpOp::Request && for_us && arp.sender_ip != arp.target_ip {
        Some(arp.reply_from(iface.mac, arp.target_ip))
    } else {
        None
    }
}

/// What became of a packet addressed to one of the router's own addresses (§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalVerdict {
    /// The frame buffer now holds the echo reply (this many bytes); send it back out of the
    /// ingress interface.
    EchoReply(usize),
    /// Not something the minimal stack answers (counted as `to-router`).
    Drop,
}

/// Whether `dst` is the address of an up interface (traffic for the router itself).
pub fn is_router_address(interfaces: &[Interface], dst: Ipv4Addr) -> bool {
    interfaces.iter().any(|i| i.owns(dst))
}

/// Handles a datagram the ingress ACL permitted and that is addressed to one of the
/// router's interface addresses (any interface, as IOS does): an ICMP echo request is
/// turned into its reply in place (sent back to the neighbour it came from); everything
/// else is dropped.
pub fn handle_local(frame: &mut [u8], parsed: &ParsedFrame, ingress: &Interface) -> LocalVerdict {
    let Some(ip) = parsed.ipv4() else {
        return LocalVerdict::Drop;
    };
    match ip.l4 {
        L4::Icmp(i) if i.icmp_type == icmp::types::ECHO_REQUEST => {
            match emit::echo_reply_in_place(frame, parsed, ingress.mac) {
                Ok(n) => LocalVerdict::EchoReply(n),
                Err(_) => LocalVerdict::Drop,
            }
        }
        _ => LocalVerdict::Drop,
    }
}

/// Rate limit of router-originated ICMP errors: one per interface per interval (IOS
/// `ip icmp rate-limit unreachable` default 500 ms), shared by all workers. Each interface
/// is a token bucket of one token refilled after `interval`; a worker takes the token with
/// a compare-and-swap on the time it was last taken, so the limit holds across cores
/// without a lock.
#[derive(Debug)]
pub struct IcmpErrorLimiter {
    interval_ns: u64,
    /// Per interface: 1 + time (ns) of the last error sent; 0 = never.
    last: Box<[AtomicU64]>,
}

impl IcmpErrorLimiter {
    /// IOS default interval.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(500);

    /// A limiter for interfaces with index below `interfaces`.
    pub fn new(interval: Duration, interfaces: usize) -> Self {
        IcmpErrorLimiter {
            interval_ns: interval.as_nanos().min(u128::from(u64::MAX)) as u64,
            last: (0..interfaces).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Whether an ICMP error may be sent from `iface` now (and, if so, takes the token).
    /// Unknown interface indexes are never allowed.
    pub fn allow(&self, iface: IfIndex, now: Duration) -> bool {
        let Some(slot) = self.last.get(usize::from(iface.0)) else {
            return false;
        };
        let now_ns = (now.as_nanos().min(u128::from(u64::MAX - 1)) as u64) + 1;
        let mut prev = slot.load(Ordering::Relaxed);
        loop {
            if prev != 0 && now_ns < prev.saturating_add(self.interval_ns) {
                return false;
            }
            match slot.compare_exchange_weak(prev, now_ns, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(p) => prev = p,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use etherparse::PacketBuilder;

    use super::*;
    use crate::wire::frame::parse_frame;
    use crate::wire::L3;

    const E20: IfIndex = IfIndex(0);
    const E21: IfIndex = IfIndex(1);
    const S20: IfIndex = IfIndex(2);
    const E20_MAC: Mac = Mac([0x02, 0, 0, 0, 0x20, 0x00]);
    const E21_MAC: Mac = Mac([0x02, 0, 0, 0, 0x21, 0x00]);
    const ISP_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0x01]);

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn seed_interfaces() -> Vec<Interface> {
        vec![
            Interface {
                index: E20,
                mac: E20_MAC,
                address: Some(Ipv4Cidr::from_mask(ip("172.22.1.16"), ip("255.255.255.0")).unwrap()),
                nat: NatRole::Outside,
                up: true,
            },
            Interface {
                index: E21,
                mac: E21_MAC,
                address: Some(Ipv4Cidr::from_mask(ip("10.10.10.1"), ip("255.255.255.0")).unwrap()),
                nat: NatRole::Inside,
                up: true,
            },
            Interface {
                index: S20,
                mac: Mac::ZERO,
                address: None,
                nat: NatRole::None,
                up: false,
            },
        ]
    }

    fn seed_nat() -> StaticNatTable {
        let mut t = StaticNatTable::new();
        t.insert(ip("10.10.10.2"), ip("172.22.1.110")).unwrap();
        t.insert(ip("10.10.10.5"), ip("172.22.1.111")).unwrap();
        t
    }

    fn seed_routes() -> RouteTable {
        let default = StaticRoute::new(
            ip("0.0.0.0"),
            ip("0.0.0.0"),
            RouteTarget::NextHop(ip("172.22.1.1")),
            StaticRoute::DEFAULT_DISTANCE,
        )
        .unwrap();
        RouteTable::build(&seed_interfaces(), &[default])
    }

    #[test]
    fn masks_and_prefixes() {
        let c = Ipv4Cidr::from_mask(ip("172.22.1.16"), ip("255.255.255.0")).unwrap();
        assert_eq!(c.prefix_len(), 24);
        assert_eq!(c.network(), ip("172.22.1.0"));
        assert_eq!(c.broadcast(), ip("172.22.1.255"));
        assert_eq!(c.mask(), ip("255.255.255.0"));
        assert!(c.contains(ip("172.22.1.110")));
        assert!(!c.contains(ip("172.22.2.1")));
        assert_eq!(
            Ipv4Cidr::from_mask(ip("1.2.3.4"), ip("255.0.255.0")),
            Err(RouteError::BadMask(ip("255.0.255.0")))
        );
        assert_eq!(
            Ipv4Cidr::from_mask(ip("0.0.0.0"), ip("0.0.0.0"))
                .unwrap()
                .prefix_len(),
            0
        );
        assert_eq!(
            StaticRoute::new(
                ip("10.1.0.0"),
                ip("255.0.0.0"),
                RouteTarget::NextHop(ip("1.1.1.1")),
                1
            ),
            Err(RouteError::InconsistentAddressAndMask)
        );
        assert!(Ipv4Cidr::new(ip("0.0.0.0"), 0).contains(ip("203.0.113.9")));
    }

    #[test]
    fn seed_routing_table() {
        let t = seed_routes();
        assert_eq!(
            t.lookup(ip("10.10.10.2")),
            Some(Route {
                egress: E21,
                gateway: None
            })
        );
        assert_eq!(
            t.lookup(ip("172.22.1.1")),
            Some(Route {
                egress: E20,
                gateway: None
            })
        );
        let r = t.lookup(ip("203.0.113.9")).unwrap();
        assert_eq!(
            r,
            Route {
                egress: E20,
                gateway: Some(ip("172.22.1.1"))
            }
        );
        assert_eq!(r.next_hop(ip("203.0.113.9")), ip("172.22.1.1"));
        assert_eq!(t.installed().len(), 3);
        assert_eq!(t.installed()[2].source, RouteSource::Static);
    }

    #[test]
    fn recursion_distance_and_interface_routes() {
        let ifs = seed_interfaces();
        let r =
            |p: &str, m: &str, t: RouteTarget, d: u8| StaticRoute::new(ip(p), ip(m), t, d).unwrap();
        let statics = [
            // 192.168.5.0/24 via 172.22.1.1; 10.20.0.0/16 via 192.168.5.1 (recursive).
            r(
                "10.20.0.0",
                "255.255.0.0",
                RouteTarget::NextHop(ip("192.168.5.1")),
                1,
            ),
            r(
                "192.168.5.0",
                "255.255.255.0",
                RouteTarget::NextHop(ip("172.22.1.1")),
                1,
            ),
            // Two routes for one prefix: the lower distance wins.
            r(
                "198.18.0.0",
                "255.254.0.0",
                RouteTarget::NextHop(ip("172.22.1.2")),
                20,
            ),
            r(
                "198.18.0.0",
                "255.254.0.0",
                RouteTarget::NextHop(ip("10.10.10.9")),
                5,
            ),
            // Unresolvable next hop (resolves only through itself): not installed.
            r(
                "100.64.0.0",
                "255.192.0.0",
                RouteTarget::NextHop(ip("100.64.0.1")),
                1,
            ),
            // Interface route without next hop: ARP for the destination itself.
            r(
                "192.0.2.0",
                "255.255.255.0",
                RouteTarget::Interface {
                    index: E20,
                    next_hop: None,
                },
                1,
            ),
            // Interface route on a down interface: not installed.
            r(
                "203.0.113.0",
                "255.255.255.0",
                RouteTarget::Interface {
                    index: S20,
                    next_hop: None,
                },
                1,
            ),
            // Distance 255: never installed.
            r(
                "198.51.100.0",
                "255.255.255.0",
                RouteTarget::NextHop(ip("10.10.10.9")),
                255,
            ),
        ];
        let t = RouteTable::build(&ifs, &statics);
        assert_eq!(
            t.lookup(ip("10.20.3.4")),
            Some(Route {
                egress: E20,
                gateway: Some(ip("172.22.1.1"))
            })
        );
        assert_eq!(
            t.lookup(ip("198.19.1.1")),
            Some(Route {
                egress: E21,
                gateway: Some(ip("10.10.10.9"))
            })
        );
        assert_eq!(t.lookup(ip("100.64.0.7")), None);
        assert_eq!(
            t.lookup(ip("192.0.2.53")),
            Some(Route {
                egress: E20,
                gateway: None
            })
        );
        assert_eq!(t.lookup(ip("203.0.113.9")), None);
        assert_eq!(t.lookup(ip("198.51.100.7")), None);
        // A down interface contributes no connected route.
        let mut ifs2 = ifs.clone();
        ifs2[1].up = false;
        assert_eq!(RouteTable::build(&ifs2, &[]).lookup(ip("10.10.10.2")), None);
    }

    #[test]
    fn static_cycle_does_not_resolve() {
        let r = |p: &str, nh: &str| {
            StaticRoute::new(ip(p), ip("255.255.255.0"), RouteTarget::NextHop(ip(nh)), 1).unwrap()
        };
        let t = RouteTable::build(
            &seed_interfaces(),
            &[
                r("192.168.1.0", "192.168.2.1"),
                r("192.168.2.0", "192.168.1.1"),
            ],
        );
        assert_eq!(t.lookup(ip("192.168.1.5")), None);
        assert_eq!(t.lookup(ip("192.168.2.5")), None);
    }

    fn who_has(target: &str) -> ArpRepr {
        ArpRepr::request(ISP_MAC, ip("172.22.1.1"), ip(target))
    }

    #[test]
    fn b8_arp_for_own_address_and_nat_aliases() {
        let ifs = seed_interfaces();
        let nat = seed_nat();
        let mut n = NeighbourTable::new(NeighbourConfig::default());
        let now = Duration::from_secs(10);
        for target in ["172.22.1.110", "172.22.1.111", "172.22.1.16"] {
            // Through the real parser, from the bytes the isp would send.
            let mut f = [0u8; 60];
            who_has(target).emit_frame(&mut f).unwrap();
            let L3::Arp(req) = parse_frame(&f).unwrap().l3 else {
                panic!()
            };
            let reply = handle_arp(now, &req, &ifs[0], &nat, &mut n).expect(target);
            assert_eq!(reply.op, ArpOp::Reply);
            assert_eq!(reply.sender_mac, E20_MAC);
            assert_eq!(reply.sender_ip, ip(target));
            assert_eq!(reply.target_mac, ISP_MAC);
            assert_eq!(reply.target_ip, ip("172.22.1.1"));
            let mut out = [0u8; 60];
            reply.emit_frame(&mut out).unwrap();
            let oracle = etherparse::ArpPacket::from_slice(&out[14..]).unwrap();
            assert_eq!(oracle.operation, etherparse::ArpOperation::REPLY);
            assert_eq!(oracle.sender_hw_addr(), &E20_MAC.0);
            assert_eq!(&out[..6], &ISP_MAC.0);
        }
        assert_eq!(
            handle_arp(now, &who_has("172.22.1.112"), &ifs[0], &nat, &mut n),
            None
        );
        // Aliases are not answered on the inside interface.
        let inside_req = ArpRepr::request(
            Mac([2, 0, 0, 0, 0, 5]),
            ip("10.10.10.5"),
            ip("172.22.1.110"),
        );
        assert_eq!(handle_arp(now, &inside_req, &ifs[1], &nat, &mut n), None);
        // The requester was learned from a request for us.
        assert_eq!(n.lookup(now, E20, ip("172.22.1.1")), Some(ISP_MAC));
        // A request from outside the subnet is ignored entirely.
        let stray = ArpRepr::request(ISP_MAC, ip("192.0.2.1"), ip("172.22.1.16"));
        assert_eq!(handle_arp(now, &stray, &ifs[0], &nat, &mut n), None);
        assert_eq!(n.lookup(now, E20, ip("192.0.2.1")), None);
    }

    #[test]
    fn gratuitous_arps_on_up() {
        let ifs = seed_interfaces();
        let nat = seed_nat();
        let g: Vec<_> = ifs[0].gratuitous_arps(&nat).map(|a| a.target_ip).collect();
        assert_eq!(
            g,
            vec![ip("172.22.1.16"), ip("172.22.1.110"), ip("172.22.1.111")]
        );
        let g: Vec<_> = ifs[1].gratuitous_arps(&nat).map(|a| a.target_ip).collect();
        assert_eq!(g, vec![ip("10.10.10.1")]);
    }

    fn frame_to(dst: [u8; 4]) -> Vec<u8> {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(E20_MAC.0, [0; 6])
            .ipv4([10, 10, 10, 5], dst, 63)
            .udp(1, 2)
            .write(&mut f, b"x")
            .unwrap();
        f
    }

    #[test]
    fn packets_wait_for_arp_and_are_released() {
        let mut n = NeighbourTable::new(NeighbourConfig::default());
        let t0 = Duration::from_secs(100);
        let gw = ip("172.22.1.1");
        let f = frame_to([203, 0, 113, 9]);
        assert_eq!(
            n.resolve(t0, E20, gw, &f),
            Resolution::Queued { send_request: true }
        );
        assert_eq!(
            n.resolve(t0, E20, gw, &f),
            Resolution::Queued {
                send_request: false
            }
        );
        // A reply that is not for us still resolves a pending entry (RFC 826 merge).
        n.learn(t0, E20, gw, ISP_MAC, false);
        let mut sent = Vec::new();
        n.drain_ready(|i, fr| sent.push((i, fr.to_vec())));
        assert_eq!(sent.len(), 2);
        assert_eq!(&sent[0].1[..6], &ISP_MAC.0);
        assert_eq!(&sent[0].1[6..], &f[6..]);
        assert_eq!(n.resolve(t0, E20, gw, &f), Resolution::Known(ISP_MAC));
        let c = n.counters();
        assert_eq!((c.queued, c.released, c.requests), (2, 2, 1));
        // Four hours later the entry has expired: resolution starts again.
        let later = t0 + Duration::from_secs(4 * 3600);
        assert_eq!(n.lookup(later, E20, gw), None);
        assert_eq!(
            n.resolve(later, E20, gw, &f),
            Resolution::Queued { send_request: true }
        );
    }

    #[test]
    fn resolution_retries_then_fails() {
        let mut n = NeighbourTable::new(NeighbourConfig::default());
        let t0 = Duration::from_secs(1);
        let nh = ip("172.22.1.200");
        let f = frame_to([172, 22, 1, 200]);
        for _ in 0..MAX_QUEUE_PER_NEIGHBOUR {
            assert!(matches!(
                n.resolve(t0, E20, nh, &f),
                Resolution::Queued { .. }
            ));
        }
        assert_eq!(
            n.resolve(t0, E20, nh, &f),
            Resolution::Dropped {
                send_request: false,
                reason: NeighbourDrop::NeighbourQueueFull
            }
        );
        let mut asked = Vec::new();
        n.tick(t0 + Duration::from_millis(500), |i, a| asked.push((i, a)));
        assert!(asked.is_empty());
        n.tick(t0 + Duration::from_secs(1), |i, a| asked.push((i, a)));
        n.tick(t0 + Duration::from_secs(2), |i, a| asked.push((i, a)));
        assert_eq!(asked, vec![(E20, nh), (E20, nh)]);
        n.tick(t0 + Duration::from_secs(3), |i, a| asked.push((i, a)));
        assert_eq!(asked.len(), 2);
        assert!(n.is_empty());
        let c = n.counters();
        assert_eq!(c.drop_resolution_failed, MAX_QUEUE_PER_NEIGHBOUR as u64);
        assert_eq!(c.drop_neighbour_queue_full, 1);
        assert_eq!(c.requests, 3);
        // All slots are free again: a full pool worth of neighbours can queue.
        assert!(matches!(
            n.resolve(t0, E20, nh, &f),
            Resolution::Queued { send_request: true }
        ));
    }

    #[test]
    fn bounded_pool_and_table() {
        let cfg = NeighbourConfig {
            max_entries: 2,
            queue_slots: 1,
            slot_size: 64,
            ..NeighbourConfig::default()
        };
        let mut n = NeighbourTable::new(cfg);
        let t = Duration::ZERO;
        let f = frame_to([172, 22, 1, 5]);
        assert!(matches!(
            n.resolve(t, E20, ip("172.22.1.5"), &f),
            Resolution::Queued { .. }
        ));
        assert_eq!(
            n.resolve(t, E20, ip("172.22.1.6"), &f),
            Resolution::Dropped {
                send_request: true,
                reason: NeighbourDrop::QueueSlotsExhausted
            }
        );
        assert_eq!(
            n.resolve(t, E20, ip("172.22.1.7"), &f),
            Resolution::Dropped {
                send_request: false,
                reason: NeighbourDrop::TableFull
            }
        );
        let big = vec![0u8; 65];
        assert_eq!(
            n.resolve(t, E21, ip("172.22.1.5"), &big),
            Resolution::Dropped {
                send_request: false,
                reason: NeighbourDrop::TableFull
            }
        );
        n.flush_interface(E20);
        assert!(n.is_empty());
        assert_eq!(
            n.resolve(t, E21, ip("10.10.10.2"), &big),
            Resolution::Dropped {
                send_request: true,
                reason: NeighbourDrop::FrameTooLarge
            }
        );
    }

    #[test]
    fn echo_to_interface_address_is_answered() {
        let ifs = seed_interfaces();
        let mut f = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 5], E21_MAC.0)
            .ipv4([10, 10, 10, 5], [10, 10, 10, 1], 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut f, &[0u8; 32])
            .unwrap();
        assert!(is_router_address(&ifs, ip("10.10.10.1")));
        assert!(is_router_address(&ifs, ip("172.22.1.16")));
        assert!(!is_router_address(&ifs, ip("172.22.1.110")));
        let p = parse_frame(&f).unwrap();
        let LocalVerdict::EchoReply(len) = handle_local(&mut f, &p, &ifs[1]) else {
            panic!()
        };
        let r = parse_frame(&f[..len]).unwrap();
        assert_eq!(r.ipv4().unwrap().dst, ip("10.10.10.5"));
        // Anything else to the router is dropped.
        let mut u = frame_to([10, 10, 10, 1]);
        let p = parse_frame(&u).unwrap();
        assert_eq!(handle_local(&mut u, &p, &ifs[1]), LocalVerdict::Drop);
    }

    #[test]
    fn b2_icmp_errors_rate_limited_per_interface() {
        let l = IcmpErrorLimiter::new(IcmpErrorLimiter::DEFAULT_INTERVAL, 2);
        let t = Duration::from_millis(1_000);
        assert!(l.allow(E20, t));
        assert!(!l.allow(E20, t + Duration::from_millis(100)));
        assert!(l.allow(E21, t + Duration::from_millis(100)));
        assert!(!l.allow(E20, t + Duration::from_millis(499)));
        assert!(l.allow(E20, t + Duration::from_millis(500)));
        assert!(!l.allow(IfIndex(7), t));
        // Time zero is a valid first instant.
        let l = IcmpErrorLimiter::new(IcmpErrorLimiter::DEFAULT_INTERVAL, 1);
        assert!(l.allow(E20, Duration::ZERO));
        assert!(!l.allow(E20, Duration::from_millis(1)));
    }

    #[test]
    fn rate_limit_holds_across_workers() {
        let l = std::sync::Arc::new(IcmpErrorLimiter::new(IcmpErrorLimiter::DEFAULT_INTERVAL, 1));
        let allowed: usize = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| l.allow(E20, Duration::from_millis(42)))
                        .count()
                })
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(allowed, 1);
    }
}
