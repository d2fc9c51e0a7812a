//! The neighbour (ARP) table of all interfaces (`config-and-nat.md` §7): resolved entries,
//! and packets queued in a preallocated slot pool while their next hop is being resolved
//! (see the module docs of [`crate::routing`] for why they are queued, not dropped).
//!
//! Sessions cache their next hop's MAC so that an established packet never takes the
//! table's lock. The cache is kept honest by the table's *generation*
//! ([`NeighbourGeneration`]): a counter bumped whenever a resolved entry changes its MAC
//! (an ARP reply or gratuitous ARP from a neighbour that moved: a failover, a replaced
//! NIC) or a resolved entry goes away (expired, flushed). A cached MAC is good only while
//! the generation it was resolved at is current; the forward paths compare the two (one
//! integer compare) and resolve again on a mismatch. Creating an entry, completing a
//! pending one or refreshing one with the same MAC does not bump it: no cached MAC is
//! made wrong by those. The counter is an atomic outside the table's lock, shared by
//! every worker (the table itself is shared), so a change learned by one worker is seen
//! by all of them at their next packet.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hashbrown::HashMap;

use super::IfIndex;
use crate::wire::ethernet::Mac;

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

/// The neighbour table's generation, readable without the table's lock (a shared
/// atomic): see the module docs. Wraps around after 2³² changes; a cached MAC would be
/// taken for current only if exactly a multiple of 2³² changes happened between two
/// packets of its session.
#[derive(Debug, Clone, Default)]
pub struct NeighbourGeneration(Arc<AtomicU32>);

impl NeighbourGeneration {
    /// The current generation (one load).
    #[inline]
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }

    /// A cached MAC became wrong: every cache resolves again.
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// The ARP cache of all interfaces, keyed by (interface, neighbour address).
#[derive(Debug)]
pub struct NeighbourTable {
    config: NeighbourConfig,
    generation: NeighbourGeneration,
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
            generation: NeighbourGeneration::default(),
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

    /// The generation now (see the module docs): a MAC resolved now stays good while
    /// [`NeighbourGeneration::get`] returns this value.
    pub fn generation(&self) -> u32 {
        self.generation.get()
    }

    /// A handle on the generation, to read it without the table's lock.
    pub fn generation_handle(&self) -> NeighbourGeneration {
        self.generation.clone()
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
    /// (build it with [`Interface::arp_request`](super::Interface::arp_request)).
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
                self.generation.bump();
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
                match *e {
                    NeighbourState::Incomplete { queue, queued, .. } => {
                        let slot_size = self.config.slot_size;
                        for &slot in &queue[..usize::from(queued)] {
                            let start = usize::from(slot) * slot_size;
                            self.slots[start..start + 6].copy_from_slice(&mac.0);
                            self.ready.push((iface, slot));
                        }
                    }
                    // The neighbour moved: MACs cached from the old entry are wrong.
                    NeighbourState::Reachable { mac: old, .. } if old != mac => {
                        self.generation.bump();
                    }
                    NeighbourState::Reachable { .. } => {}
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
        let mut forgot_resolved = false;
        self.entries.retain(|&(iface, ip), state| match state {
            NeighbourState::Reachable { expires, .. } => {
                if now >= *expires {
                    counters.expired += 1;
                    forgot_resolved = true;
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
        if forgot_resolved {
            self.generation.bump();
        }
    }

    /// Forgets every entry of an interface (it went down or changed address); queued
    /// packets are dropped and counted.
    pub fn flush_interface(&mut self, iface: IfIndex) {
        let free = &mut self.free;
        let counters = &mut self.counters;
        let mut forgot_resolved = false;
        self.entries.retain(|&(i, _), state| {
            if i != iface {
                return true;
            }
            match state {
                NeighbourState::Incomplete { queue, queued, .. } => {
                    for &slot in &queue[..usize::from(*queued)] {
                        free.push(slot);
                    }
                    counters.drop_resolution_failed += u64::from(*queued);
                }
                NeighbourState::Reachable { .. } => forgot_resolved = true,
            }
            false
        });
        if forgot_resolved {
            self.generation.bump();
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::routing::fixtures::*;

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
    fn generation_moves_when_a_cached_mac_becomes_wrong() {
        const SRV_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0x02]);
        let mut n = NeighbourTable::new(NeighbourConfig::default());
        let handle = n.generation_handle();
        let t0 = Duration::from_secs(10);
        let (gw, srv) = (ip("172.22.1.1"), ip("10.10.10.2"));
        let g0 = n.generation();
        assert_eq!(handle.get(), g0);
        // New entries, a pending entry completed, and refreshes with the same MAC: no
        // cached MAC is wrong, the generation stays.
        n.learn(t0, E20, gw, ISP_MAC, true);
        let f = frame_to([10, 10, 10, 2]);
        assert!(matches!(
            n.resolve(t0, E21, srv, &f),
            Resolution::Queued { .. }
        ));
        n.learn(t0, E21, srv, SRV_MAC, false);
        n.drain_ready(|_, _| {});
        n.learn(t0 + Duration::from_secs(5), E20, gw, ISP_MAC, false);
        n.learn(t0, E21, ip("10.10.10.9"), SRV_MAC, false); // not created: unknown
        assert_eq!(n.generation(), g0);
        // The mail server moved (gratuitous ARP): one bump, seen through the handle.
        let moved = Mac([0x02, 0, 0, 0, 0, 0x99]);
        n.learn(t0, E21, srv, moved, false);
        assert_eq!(handle.get(), g0.wrapping_add(1));
        assert_eq!(n.resolve(t0, E21, srv, &f), Resolution::Known(moved));
        // A pending entry that fails is not a resolved one: no bump.
        let nh = ip("172.22.1.200");
        assert!(matches!(
            n.resolve(t0, E20, nh, &f),
            Resolution::Queued { .. }
        ));
        for s in 1..=3 {
            n.tick(t0 + Duration::from_secs(s), |_, _| {});
        }
        assert_eq!(n.lookup(t0, E20, nh), None);
        assert_eq!(handle.get(), g0.wrapping_add(1));
        // Expiry removes resolved entries: one bump per tick that removed any.
        let later = t0 + Duration::from_secs(4 * 3600 + 10);
        n.tick(later, |_, _| {});
        assert!(n.is_empty());
        assert_eq!(handle.get(), g0.wrapping_add(2));
        // An expired entry found by `resolve` before the timer removed it.
        n.learn(later, E20, gw, ISP_MAC, true);
        let g = handle.get();
        let much_later = later + Duration::from_secs(4 * 3600);
        assert!(matches!(
            n.resolve(much_later, E20, gw, &f),
            Resolution::Queued { send_request: true }
        ));
        assert_eq!(handle.get(), g.wrapping_add(1));
        // Flushing an interface with a resolved entry.
        n.learn(much_later, E21, srv, SRV_MAC, true);
        let g = handle.get();
        n.flush_interface(E20); // only a pending entry there
        assert_eq!(handle.get(), g);
        n.flush_interface(E21);
        assert_eq!(handle.get(), g.wrapping_add(1));
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
}
