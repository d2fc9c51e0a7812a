//! `ip virtual-reassembly` (`cbac-sessions.md` §8.3; `config-and-nat.md` §5.2 step 2):
//! fragments are collected before any feature looks at them, so the session lookup, the
//! access lists, the inspection rules and the SMTP inspector only ever see whole datagrams
//! (out-of-order fragments are fine; the fragment rule of §8.2 sees complete datagrams).
//!
//! Why a module of its own, sans-IO and bounded: fragments are the classic way around a
//! firewall (tiny first fragments hiding the TCP header, overlapping fragments rewriting
//! what was inspected, floods of never-completed datagrams). So:
//!
//! * One [`VirtualReassembly`] per worker and per interface that has `ip virtual-reassembly`
//!   (the limits are per interface in IOS; the instance knows its [`IfIndex`] for the log
//!   events). Everything is allocated in [`VirtualReassembly::new`]: `max-reassemblies`
//!   buffers of 64 KiB (+ header room) and `max-fragments` ranges each; nothing is
//!   allocated per packet.
//! * `max-reassemblies` datagrams in progress (a new one beyond that is dropped:
//!   [`VfrDropReason::TableFull`], and `%IP_VFR-4-FRAG_TABLE_OVERFLOW` once per episode of
//!   fullness); `max-fragments` per datagram (beyond: the whole datagram is dropped and
//!   `%IP_VFR-4-TOO_MANY_FRAGMENTS`); `timeout` seconds from the first fragment (then the
//!   incomplete datagram is dropped by [`VirtualReassembly::expire`]); `drop-fragments`
//!   drops every fragment.
//! * Overlaps are handled the RFC 5722 way: a fragment that overlaps one already held drops
//!   the whole datagram, and the datagram stays *poisoned* (its later fragments are dropped
//!   too) until its timeout. An exact duplicate of a held fragment is dropped alone (the
//!   copy held first is the one forwarded). Because the firewall forwards the datagram it
//!   reassembled (not the original fragments), what leaves is exactly what was inspected.
//! * Inconsistent fragments (two different last fragments, data past the last fragment, a
//!   non-last fragment whose length is not a multiple of 8, a datagram longer than 65535
//!   bytes — "ping of death") drop the whole datagram the same way.
//!
//! Output: [`Offer::Complete`] lends the reassembled frame (the link header and IP header of
//! the offset-0 fragment, total length set, MF and offset cleared, header checksum
//! recomputed, then the payload); it stays valid until the next call. The transport
//! checksum is not touched: it covers the whole datagram and the pipeline verifies it when
//! it parses the reassembled frame.
//!
//! Egress: a reassembled datagram can be up to 65535 bytes, larger than any egress MTU, and
//! IOS VFR forwards the fragments it virtually reassembled. So with the frame, a completed
//! datagram leaves its [`FragmentLayout`] ([`VirtualReassembly::last_layout`]: IP ID and
//! the payload boundaries of the fragments as they arrived); the pipeline's egress stage
//! (`pipeline/transmit.rs`, `config-and-nat.md` §5.2 step 10) re-emits the processed
//! datagram along those boundaries, splitting further where the egress MTU is smaller.
//!
//! Sans-IO: `now` is nanoseconds on the caller's monotonic clock.

use std::collections::VecDeque;
use std::fmt;
use std::net::Ipv4Addr;

use crate::config::model::VirtualReassembly as VfrConfig;
use crate::routing::IfIndex;
use crate::wire::frame::Ipv4Info;
use crate::wire::ipv4::Ipv4Packet;

/// Upper bound on `max-reassemblies` per instance (IOS accepts up to 8192; each datagram in
/// progress costs a preallocated 64 KiB buffer, so a larger setting is clamped to this).
pub const MAX_REASSEMBLIES_CAP: usize = 64;
/// Upper bound on `max-fragments` (IOS range 1–64).
pub const MAX_FRAGMENTS_CAP: usize = 64;
/// Longest link-layer header kept in front of a reassembled datagram (Ethernet with up to
/// four VLAN tags fits).
pub const MAX_LINK_HEADER: usize = 32;
/// Largest IPv4 datagram (total length field).
pub const MAX_DATAGRAM: usize = 65_535;

const MIN_IP_HEADER: usize = 20;
const MAX_IP_HEADER: usize = 60;
/// Where payload byte 0 lives in a slot buffer; the headers of the offset-0 fragment are
/// stored right in front of it, so the reassembled frame is contiguous.
const PAYLOAD_BASE: usize = MAX_LINK_HEADER + MAX_IP_HEADER;
/// Largest payload (after a minimal header).
const MAX_PAYLOAD: u32 = (MAX_DATAGRAM - MIN_IP_HEADER) as u32;
const SLOT_BYTES: usize = PAYLOAD_BASE + MAX_PAYLOAD as usize;
/// Pending log events kept between two drains; more are counted as lost.
const EVENT_QUEUE: usize = 8;

/// Why a fragment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VfrDropReason {
    /// Not a fragment (a caller bug: offer only `ip.is_fragment()` datagrams).
    NotAFragment,
    /// `drop-fragments` is configured.
    DropFragments,
    /// Headers inconsistent with the buffer, or a non-last fragment whose payload is empty
    /// or not a multiple of 8 bytes.
    Malformed,
    /// A new datagram while `max-reassemblies` are in progress.
    TableFull,
    /// The datagram has more than `max-fragments` fragments (the whole datagram is dropped).
    TooManyFragments,
    /// The fragment overlaps one already held (the whole datagram is dropped, RFC 5722).
    Overlap,
    /// An exact duplicate of a fragment already held (only the duplicate is dropped).
    Duplicate,
    /// The datagram would exceed 65535 bytes (the whole datagram is dropped).
    Oversize,
    /// Two different ends of datagram, or data past the end (the whole datagram is dropped).
    Inconsistent,
    /// A fragment of a datagram already dropped for one of the reasons above, before its
    /// timeout.
    Poisoned,
}

/// A log event (`cbac-sessions.md` §8.3, PROPOSED texts); the fragment stage turns it into
/// a `LogRecord::VfrTableOverflow` / `LogRecord::VfrTooManyFragments` with the same text.
/// Formatting happens only when the message is rendered, never per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VfrEvent {
    /// `%IP_VFR-4-FRAG_TABLE_OVERFLOW: <if>: the virtual reassembly table is full`.
    TableOverflow {
        /// Interface of the reassembly table.
        iface: IfIndex,
    },
    /// `%IP_VFR-4-TOO_MANY_FRAGMENTS: <if>: Too many fragments per datagram (more than N) -
    /// sent by <ip>`.
    TooManyFragments {
        /// Interface of the reassembly table.
        iface: IfIndex,
        /// The configured `max-fragments`.
        max_fragments: u32,
        /// Source address of the datagram.
        source: Ipv4Addr,
    },
}

impl VfrEvent {
    /// The interface the event is about.
    pub fn iface(&self) -> IfIndex {
        match *self {
            VfrEvent::TableOverflow { iface } | VfrEvent::TooManyFragments { iface, .. } => iface,
        }
    }

    /// The IOS facility-severity-mnemonic, without the leading `%`.
    pub fn mnemonic(&self) -> &'static str {
        match self {
            VfrEvent::TableOverflow { .. } => "IP_VFR-4-FRAG_TABLE_OVERFLOW",
            VfrEvent::TooManyFragments { .. } => "IP_VFR-4-TOO_MANY_FRAGMENTS",
        }
    }

    /// Writes the full log text, `if_name` being the IOS name of [`VfrEvent::iface`].
    pub fn write_message(&self, if_name: &str, out: &mut impl fmt::Write) -> fmt::Result {
        write!(out, "%{}: {if_name}: ", self.mnemonic())?;
        match self {
            VfrEvent::TableOverflow { .. } => out.write_str("the virtual reassembly table is full"),
            VfrEvent::TooManyFragments {
                max_fragments,
                source,
                ..
            } => write!(
                out,
                "Too many fragments per datagram (more than {max_fragments}) - sent by {source}"
            ),
        }
    }

    /// The full log text as a string.
    pub fn message(&self, if_name: &str) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_message(if_name, &mut s);
        s
    }
}

/// The fragment boundaries a datagram arrived with, recorded when it completes: its IP
/// identification, payload length and the end offset (in payload bytes) of each fragment,
/// in offset order. The first fragment covers `[0, ends()[0])`, fragment `i` covers
/// `[ends()[i-1], ends()[i])`; the last end is the payload length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentLayout {
    ident: u16,
    payload_len: u32,
    count: u8,
    ends: [u32; MAX_FRAGMENTS_CAP],
}

impl Default for FragmentLayout {
    fn default() -> Self {
        FragmentLayout::EMPTY
    }
}

impl FragmentLayout {
    /// No fragments.
    pub const EMPTY: FragmentLayout = FragmentLayout {
        ident: 0,
        payload_len: 0,
        count: 0,
        ends: [0; MAX_FRAGMENTS_CAP],
    };

    /// A layout from fragment end offsets (sorted; at most [`MAX_FRAGMENTS_CAP`] are kept,
    /// the last kept one then being raised to `payload_len`).
    pub fn new(ident: u16, payload_len: u32, ends: &[u32]) -> Self {
        let mut l = FragmentLayout {
            ident,
            payload_len,
            ..FragmentLayout::EMPTY
        };
        let n = ends.len().min(MAX_FRAGMENTS_CAP);
        l.ends[..n].copy_from_slice(&ends[..n]);
        if n > 0 {
            l.ends[n - 1] = payload_len;
        }
        l.count = n as u8;
        l
    }

    /// IP identification of the datagram.
    pub fn ident(&self) -> u16 {
        self.ident
    }

    /// Payload length (bytes after the IP header) of the whole datagram.
    pub fn payload_len(&self) -> u32 {
        self.payload_len
    }

    /// End offsets of the fragments, in order.
    pub fn ends(&self) -> &[u32] {
        &self.ends[..usize::from(self.count)]
    }

    /// Number of fragments.
    pub fn fragments(&self) -> usize {
        usize::from(self.count)
    }
}

/// What became of an offered fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer<'a> {
    /// The fragment completed its datagram: the whole frame (link header + reassembled
    /// IPv4 datagram, total length and header checksum fixed, MF/offset cleared). Valid
    /// until the next call on the table.
    Complete {
        /// The reassembled frame.
        frame: &'a mut [u8],
    },
    /// Copied into the table; the caller frees its buffer.
    Held,
    /// Dropped (counted); the caller frees its buffer.
    Dropped(VfrDropReason),
}

/// Counters of one reassembly table (per worker and interface).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VfrCounters {
    /// Fragments offered.
    pub fragments: u64,
    /// Fragments held (copied into the table).
    pub held: u64,
    /// Datagrams reassembled.
    pub reassembled: u64,
    /// Incomplete datagrams dropped at their timeout.
    pub timeouts: u64,
    /// Drops: not a fragment.
    pub drop_not_a_fragment: u64,
    /// Drops: `drop-fragments`.
    pub drop_drop_fragments: u64,
    /// Drops: malformed fragment.
    pub drop_malformed: u64,
    /// Drops: table full.
    pub drop_table_full: u64,
    /// Drops: too many fragments (datagrams dropped).
    pub drop_too_many_fragments: u64,
    /// Drops: overlap (datagrams dropped).
    pub drop_overlap: u64,
    /// Drops: exact duplicates.
    pub drop_duplicate: u64,
    /// Drops: oversize (datagrams dropped).
    pub drop_oversize: u64,
    /// Drops: inconsistent ends (datagrams dropped).
    pub drop_inconsistent: u64,
    /// Drops: fragments of a poisoned datagram.
    pub drop_poisoned: u64,
    /// Log events that did not fit the event queue.
    pub events_lost: u64,
}

impl VfrCounters {
    /// Adds another table's figures (the same interface on another worker).
    pub fn add(&mut self, o: &VfrCounters) {
        self.fragments += o.fragments;
        self.held += o.held;
        self.reassembled += o.reassembled;
        self.timeouts += o.timeouts;
        self.drop_not_a_fragment += o.drop_not_a_fragment;
        self.drop_drop_fragments += o.drop_drop_fragments;
        self.drop_malformed += o.drop_malformed;
        self.drop_table_full += o.drop_table_full;
        self.drop_too_many_fragments += o.drop_too_many_fragments;
        self.drop_overlap += o.drop_overlap;
        self.drop_duplicate += o.drop_duplicate;
        self.drop_oversize += o.drop_oversize;
        self.drop_inconsistent += o.drop_inconsistent;
        self.drop_poisoned += o.drop_poisoned;
        self.events_lost += o.events_lost;
    }

    /// Fragments dropped for any reason (timeouts not included: they are
    /// datagrams, counted in [`VfrCounters::timeouts`]).
    pub fn dropped_fragments(&self) -> u64 {
        self.drop_not_a_fragment
            + self.drop_drop_fragments
            + self.drop_malformed
            + self.drop_table_full
            + self.drop_too_many_fragments
            + self.drop_overlap
            + self.drop_duplicate
            + self.drop_oversize
            + self.drop_inconsistent
            + self.drop_poisoned
    }

    /// Reassemblies that failed (`show ip virtual-reassembly`'s "Total
    /// reassembly failures"): datagrams given up for too many fragments,
    /// overlap, oversize or inconsistent ends, and fragments refused because
    /// the table was full or they were malformed. Timeouts are counted apart.
    pub fn failures(&self) -> u64 {
        self.drop_table_full
            + self.drop_malformed
            + self.drop_too_many_fragments
            + self.drop_overlap
            + self.drop_oversize
            + self.drop_inconsistent
    }

    fn count(&mut self, reason: VfrDropReason) {
        let c = match reason {
            VfrDropReason::NotAFragment => &mut self.drop_not_a_fragment,
            VfrDropReason::DropFragments => &mut self.drop_drop_fragments,
            VfrDropReason::Malformed => &mut self.drop_malformed,
            VfrDropReason::TableFull => &mut self.drop_table_full,
            VfrDropReason::TooManyFragments => &mut self.drop_too_many_fragments,
            VfrDropReason::Overlap => &mut self.drop_overlap,
            VfrDropReason::Duplicate => &mut self.drop_duplicate,
            VfrDropReason::Oversize => &mut self.drop_oversize,
            VfrDropReason::Inconsistent => &mut self.drop_inconsistent,
            VfrDropReason::Poisoned => &mut self.drop_poisoned,
        };
        *c += 1;
    }
}

/// RFC 791 datagram identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DatagramKey {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    protocol: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Collecting,
    /// Dropped; later fragments are dropped until the timeout.
    Poisoned,
}

/// One datagram in progress. Its bytes live in `VirtualReassembly::buffers` and its
/// fragment ranges in `VirtualReassembly::ranges`, both at the slot's index.
#[derive(Debug, Clone, Copy)]
struct Slot {
    state: SlotState,
    key: DatagramKey,
    first_ns: u64,
    fragments: usize,
    /// Payload bytes held (fragments never overlap, so this is the covered length).
    received: u32,
    /// Payload length, known once the last fragment (MF clear) arrived.
    total: Option<u32>,
    /// Link-header and IP-header lengths of the offset-0 fragment (`ip_header == 0`: not
    /// yet received).
    link_header: usize,
    ip_header: usize,
}

impl Slot {
    const FREE: Slot = Slot {
        state: SlotState::Free,
        key: DatagramKey {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            ident: 0,
            protocol: 0,
        },
        first_ns: 0,
        fragments: 0,
        received: 0,
        total: None,
        link_header: 0,
        ip_header: 0,
    };
}

/// The virtual-reassembly table of one interface on one worker.
#[derive(Debug)]
pub struct VirtualReassembly {
    iface: IfIndex,
    max_fragments: usize,
    timeout_ns: u64,
    drop_fragments: bool,
    slots: Vec<Slot>,
    /// `slots.len()` × `SLOT_BYTES`.
    buffers: Vec<u8>,
    /// `slots.len()` × `max_fragments` payload ranges `[start, end)`.
    ranges: Vec<(u32, u32)>,
    /// Whether the current episode of a full table was already logged.
    overflow_reported: bool,
    events: VecDeque<VfrEvent>,
    counters: VfrCounters,
    /// Layout of the datagram completed last.
    last_layout: FragmentLayout,
}

impl VirtualReassembly {
    /// A table for interface `iface` with the interface's `ip virtual-reassembly` settings;
    /// allocates all its memory now (`max-reassemblies` × ~64 KiB). Settings beyond
    /// [`MAX_REASSEMBLIES_CAP`] / [`MAX_FRAGMENTS_CAP`] are clamped, zero is raised to one.
    pub fn new(iface: IfIndex, config: &VfrConfig) -> Self {
        let reassemblies = (config.max_reassemblies as usize).clamp(1, MAX_REASSEMBLIES_CAP);
        let max_fragments = (config.max_fragments as usize).clamp(1, MAX_FRAGMENTS_CAP);
        VirtualReassembly {
            iface,
            max_fragments,
            timeout_ns: u64::from(config.timeout.max(1)) * 1_000_000_000,
            drop_fragments: config.drop_fragments,
            slots: vec![Slot::FREE; reassemblies],
            buffers: vec![0; reassemblies * SLOT_BYTES],
            ranges: vec![(0, 0); reassemblies * max_fragments],
            overflow_reported: false,
            events: VecDeque::with_capacity(EVENT_QUEUE),
            counters: VfrCounters::default(),
            last_layout: FragmentLayout::EMPTY,
        }
    }

    /// The interface this table belongs to.
    pub fn iface(&self) -> IfIndex {
        self.iface
    }

    /// Counters so far.
    pub fn counters(&self) -> &VfrCounters {
        &self.counters
    }

    /// Datagrams in progress (poisoned ones included, they hold their slot until timeout).
    pub fn in_progress(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state != SlotState::Free)
            .count()
    }

    /// Fragments held by the datagrams in progress.
    pub fn held_fragments(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state == SlotState::Collecting)
            .map(|s| s.fragments)
            .sum()
    }

    /// The fragment layout of the datagram the last [`Offer::Complete`] returned (its IP ID
    /// and the payload boundaries of its fragments as they arrived, in offset order).
    pub fn last_layout(&self) -> &FragmentLayout {
        &self.last_layout
    }

    /// Takes the oldest pending log event.
    pub fn pop_event(&mut self) -> Option<VfrEvent> {
        self.events.pop_front()
    }

    /// Drops every datagram whose timeout (counted from its first fragment) has passed at
    /// `now_ns`; returns how many incomplete datagrams were dropped (poisoned ones are
    /// released silently). Call it from the worker's timer tick; [`Self::offer`] also
    /// calls it so a stale datagram never blocks a slot.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        let mut dropped = 0;
        for slot in &mut self.slots {
            if slot.state != SlotState::Free
                && now_ns >= slot.first_ns.saturating_add(self.timeout_ns)
            {
                if slot.state == SlotState::Collecting {
                    dropped += 1;
                }
                *slot = Slot::FREE;
                self.overflow_reported = false;
            }
        }
        self.counters.timeouts += dropped as u64;
        dropped
    }

    /// Offers a fragment: `frame` is the received frame and `ip` its parsed IPv4 summary
    /// (from `wire::frame::parse_frame` on the same bytes). The fragment's bytes are copied;
    /// the caller keeps (and frees) its buffer in every case.
    pub fn offer(&mut self, now_ns: u64, frame: &[u8], ip: &Ipv4Info) -> Offer<'_> {
        self.counters.fragments += 1;
        if !ip.is_fragment() {
            return self.drop(VfrDropReason::NotAFragment);
        }
        if self.drop_fragments {
            return self.drop(VfrDropReason::DropFragments);
        }
        let l3 = ip.l3_offset;
        let data_start = l3 + ip.header_len;
        if l3 > MAX_LINK_HEADER
            || !(MIN_IP_HEADER..=MAX_IP_HEADER).contains(&ip.header_len)
            || data_start > ip.end()
            || ip.end() > frame.len()
        {
            return self.drop(VfrDropReason::Malformed);
        }
        let data = &frame[data_start..ip.end()];
        let start = u32::from(ip.frag_offset);
        let len = data.len() as u32;
        let end = start + len;
        let malformed = ip.more_fragments && (len == 0 || len & 7 != 0);

        self.expire(now_ns);
        let key = DatagramKey {
            src: ip.src,
            dst: ip.dst,
            ident: ip.ident,
            protocol: ip.protocol,
        };
        let idx = match self
            .slots
            .iter()
            .position(|s| s.state != SlotState::Free && s.key == key)
        {
            Some(i) => i,
            None => {
                if malformed {
                    return self.drop(VfrDropReason::Malformed);
                }
                if end > MAX_PAYLOAD {
                    return self.drop(VfrDropReason::Oversize);
                }
                let Some(i) = self.slots.iter().position(|s| s.state == SlotState::Free) else {
                    if !self.overflow_reported {
                        self.overflow_reported = true;
                        self.push_event(VfrEvent::TableOverflow { iface: self.iface });
                    }
                    return self.drop(VfrDropReason::TableFull);
                };
                self.slots[i] = Slot {
                    state: SlotState::Collecting,
                    key,
                    first_ns: now_ns,
                    ..Slot::FREE
                };
                i
            }
        };

        let slot = self.slots[idx];
        if slot.state == SlotState::Poisoned {
            return self.drop(VfrDropReason::Poisoned);
        }
        if malformed {
            return self.poison(idx, VfrDropReason::Malformed);
        }
        if end > MAX_PAYLOAD {
            return self.poison(idx, VfrDropReason::Oversize);
        }
        let base = idx * self.max_fragments;
        let held = &self.ranges[base..base + slot.fragments];
        if held.contains(&(start, end)) {
            return self.drop(VfrDropReason::Duplicate);
        }
        if held.iter().any(|&(s, e)| s < end && start < e) {
            return self.poison(idx, VfrDropReason::Overlap);
        }
        let last_end = held.iter().map(|r| r.1).max().unwrap_or(0);
        let total = if ip.more_fragments {
            if slot.total.is_some_and(|t| end > t) {
                return self.poison(idx, VfrDropReason::Inconsistent);
            }
            slot.total
        } else {
            if slot.total.is_some() || last_end > end {
                return self.poison(idx, VfrDropReason::Inconsistent);
            }
            Some(end)
        };
        if slot.fragments >= self.max_fragments {
            self.push_event(VfrEvent::TooManyFragments {
                iface: self.iface,
                max_fragments: self.max_fragments as u32,
                source: key.src,
            });
            return self.poison(idx, VfrDropReason::TooManyFragments);
        }

        // Hold the fragment.
        let buf = &mut self.buffers[idx * SLOT_BYTES..(idx + 1) * SLOT_BYTES];
        let at = PAYLOAD_BASE + start as usize;
        buf[at..at + data.len()].copy_from_slice(data);
        let mut slot = slot;
        if start == 0 {
            buf[PAYLOAD_BASE - data_start..PAYLOAD_BASE].copy_from_slice(&frame[..data_start]);
            slot.link_header = l3;
            slot.ip_header = ip.header_len;
        }
        self.ranges[base + slot.fragments] = (start, end);
        slot.fragments += 1;
        slot.received += len;
        slot.total = total;
        self.slots[idx] = slot;
        self.counters.held += 1;

        match slot.total {
            Some(t) if slot.received == t && slot.ip_header != 0 => self.complete(idx),
            _ => Offer::Held,
        }
    }

    /// Builds the reassembled frame of slot `idx` (all payload present) and frees the slot.
    fn complete(&mut self, idx: usize) -> Offer<'_> {
        let slot = self.slots[idx];
        let payload = slot.received as usize;
        let total_len = slot.ip_header + payload;
        if total_len > MAX_DATAGRAM {
            return self.poison(idx, VfrDropReason::Oversize);
        }
        self.slots[idx] = Slot::FREE;
        self.overflow_reported = false;
        self.counters.reassembled += 1;
        // Record the arrival layout (fragments never overlap and cover the payload, so the
        // sorted ends are the boundaries). At most 64 ranges, sorted in place.
        let base = idx * self.max_fragments;
        let ranges = &mut self.ranges[base..base + slot.fragments];
        ranges.sort_unstable_by_key(|r| r.0);
        let mut layout = FragmentLayout {
            ident: slot.key.ident,
            payload_len: slot.received,
            count: ranges.len() as u8,
            ends: [0; MAX_FRAGMENTS_CAP],
        };
        for (e, r) in layout.ends.iter_mut().zip(ranges.iter()) {
            *e = r.1;
        }
        self.last_layout = layout;
        let buf = &mut self.buffers[idx * SLOT_BYTES..(idx + 1) * SLOT_BYTES];
        let ip_start = PAYLOAD_BASE - slot.ip_header;
        let mut header = Ipv4Packet::new_unchecked(&mut buf[ip_start..PAYLOAD_BASE]);
        let dont_fragment = header.dont_fragment();
        header.set_total_len(total_len as u16);
        header.set_flags_and_offset(dont_fragment, false, 0);
        header.fill_checksum();
        let frame_start = ip_start - slot.link_header;
        Offer::Complete {
            frame: &mut buf[frame_start..PAYLOAD_BASE + payload],
        }
    }

    /// Drops the whole datagram of slot `idx` (and, until its timeout, its later fragments).
    fn poison(&mut self, idx: usize, reason: VfrDropReason) -> Offer<'_> {
        self.slots[idx].state = SlotState::Poisoned;
        self.drop(reason)
    }

    fn drop(&mut self, reason: VfrDropReason) -> Offer<'_> {
        self.counters.count(reason);
        Offer::Dropped(reason)
    }

    fn push_event(&mut self, event: VfrEvent) {
        if self.events.len() < EVENT_QUEUE {
            self.events.push_back(event);
        } else {
            self.counters.events_lost += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use etherparse::{Ipv4Header, NetHeaders, PacketBuilder, PacketHeaders, TransportHeader};

    use super::*;
    use crate::wire::frame::{parse_frame, L3};

    const IF: IfIndex = IfIndex(0);
    const SRC: [u8; 4] = [192, 0, 2, 7];
    const DST: [u8; 4] = [172, 22, 1, 110];
    const SEC: u64 = 1_000_000_000;

    fn table() -> VirtualReassembly {
        VirtualReassembly::new(IF, &VfrConfig::default())
    }

    /// A UDP datagram whose IP payload (UDP header included) is `len` bytes, DF clear, as
    /// one frame.
    fn datagram(ident: u16, len: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..len - 8)
            .map(|i| (i * 7 + usize::from(ident)) as u8)
            .collect();
        let mut f = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(SRC, DST, 64)
            .udp(4000, 53)
            .write(&mut f, &payload)
            .unwrap();
        let (mut h, _) = Ipv4Header::from_slice(&f[14..]).unwrap();
        h.identification = ident;
        h.dont_fragment = false;
        h.header_checksum = h.calc_header_checksum();
        let mut hdr = Vec::new();
        h.write(&mut hdr).unwrap();
        f[14..34].copy_from_slice(&hdr);
        f
    }

    /// Splits `orig` into fragment frames with payload chunks of `chunk` bytes.
    fn fragments(orig: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let payload = &orig[34..];
        payload
            .chunks(chunk)
            .enumerate()
            .map(|(i, part)| {
                let offset = i * chunk;
                let more = offset + part.len() < payload.len();
                fragment(orig, offset, part, more)
            })
            .collect()
    }

    /// One fragment of `orig` carrying `part` at byte `offset`.
    fn fragment(orig: &[u8], offset: usize, part: &[u8], more: bool) -> Vec<u8> {
        let mut f = orig[..34].to_vec();
        f.extend_from_slice(part);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.set_total_len((20 + part.len()) as u16);
        ip.set_flags_and_offset(false, more, offset as u16);
        ip.fill_checksum();
        f
    }

    fn info(frame: &[u8]) -> Ipv4Info {
        match parse_frame(frame).unwrap().l3 {
            L3::Ipv4(ip) => ip,
            L3::Arp(_) => panic!("not IPv4"),
        }
    }

    fn offer_all(t: &mut VirtualReassembly, now: u64, frags: &[Vec<u8>]) -> Option<Vec<u8>> {
        let mut out = None;
        for (i, f) in frags.iter().enumerate() {
            match t.offer(now, f, &info(f)) {
                Offer::Complete { frame } => {
                    assert_eq!(i, frags.len() - 1, "completed early");
                    out = Some(frame.to_vec());
                }
                Offer::Held => assert!(i < frags.len() - 1, "last fragment held"),
                Offer::Dropped(r) => panic!("fragment {i} dropped: {r:?}"),
            }
        }
        out
    }

    /// Checks the reassembled frame with etherparse: header checksum, no fragment fields,
    /// UDP checksum over the whole payload, and byte equality with the original.
    fn assert_reassembled(out: &[u8], orig: &[u8]) {
        let p = PacketHeaders::from_ethernet_slice(out).unwrap();
        let Some(NetHeaders::Ipv4(h, _)) = &p.net else {
            panic!("no IPv4")
        };
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert!(!h.more_fragments);
        assert_eq!(h.fragment_offset.value(), 0);
        assert_eq!(usize::from(h.total_len), orig.len() - 14);
        let Some(TransportHeader::Udp(u)) = &p.transport else {
            panic!("no UDP")
        };
        assert_eq!(u.checksum, u.calc_checksum_ipv4(h, &out[42..]).unwrap());
        assert_eq!(out, orig);
        // And our own parser accepts it with full checksum verification.
        assert!(!info(out).is_fragment());
    }

    #[test]
    fn in_order_fragments_reassemble() {
        let mut t = table();
        let orig = datagram(1, 4000);
        let frags = fragments(&orig, 1480);
        assert_eq!(frags.len(), 3);
        let out = offer_all(&mut t, SEC, &frags).expect("complete");
        assert_reassembled(&out, &orig);
        assert_eq!(t.in_progress(), 0);
        assert_eq!(t.counters().reassembled, 1);
        assert_eq!(t.counters().held, 3);
    }

    #[test]
    fn reversed_and_shuffled_fragments_reassemble() {
        let mut t = table();
        let orig = datagram(2, 3000);
        let mut frags = fragments(&orig, 512);
        frags.reverse();
        let out = offer_all(&mut t, SEC, &frags).expect("complete");
        assert_reassembled(&out, &orig);
        let orig = datagram(3, 3000);
        let frags = fragments(&orig, 512);
        let order = [3, 0, 5, 1, 4, 2];
        let shuffled: Vec<_> = order.iter().map(|&i| frags[i].clone()).collect();
        let out = offer_all(&mut t, SEC, &shuffled).expect("complete");
        assert_reassembled(&out, &orig);
    }

    #[test]
    fn completed_datagram_leaves_its_arrival_layout() {
        let mut t = table();
        let orig = datagram(4, 3000);
        let data = &orig[34..];
        // Uneven pieces, offered out of order, with a zero-length last fragment.
        let frags = [
            fragment(&orig, 1000, &data[1000..2504], true),
            fragment(&orig, 0, &data[..1000], true),
            fragment(&orig, 3000, &[], false),
            fragment(&orig, 2504, &data[2504..], true),
        ];
        let out = offer_all(&mut t, 0, &frags).expect("complete");
        assert_reassembled(&out, &orig);
        let l = t.last_layout();
        assert_eq!(l.ident(), 4);
        assert_eq!(l.payload_len(), 3000);
        assert_eq!(l.ends(), [1000, 2504, 3000, 3000]);
        assert_eq!(l.fragments(), 4);
        let built = FragmentLayout::new(4, 3000, &[1000, 2504, 2999]);
        assert_eq!(
            built.ends(),
            [1000, 2504, 3000],
            "last end is the payload length"
        );
        assert_eq!(FragmentLayout::default().ends(), [0u32; 0]);
    }

    #[test]
    fn interleaved_datagrams_and_largest_datagram() {
        let mut t = table();
        let a = datagram(10, 2000);
        let b = datagram(11, 2000);
        let fa = fragments(&a, 1000);
        let fb = fragments(&b, 1000);
        assert_eq!(t.offer(0, &fa[0], &info(&fa[0])), Offer::Held);
        assert_eq!(t.offer(0, &fb[1], &info(&fb[1])), Offer::Held);
        assert_eq!(t.in_progress(), 2);
        assert_eq!(t.held_fragments(), 2);
        let Offer::Complete { frame } = t.offer(0, &fa[1], &info(&fa[1])) else {
            panic!()
        };
        assert_reassembled(frame, &a);
        let Offer::Complete { frame } = t.offer(0, &fb[0], &info(&fb[0])) else {
            panic!()
        };
        assert_reassembled(frame, &b);
        // 65535 bytes in 32 fragments of 2048 (jumbo links) plus one too many.
        let big = datagram(12, MAX_DATAGRAM - 20);
        let frags = fragments(&big, 2048);
        assert_eq!(frags.len(), 32);
        let out = offer_all(&mut t, 0, &frags).expect("complete");
        assert_reassembled(&out, &big);
    }

    #[test]
    fn overlap_drops_the_whole_datagram_rfc5722() {
        let mut t = table();
        let orig = datagram(20, 3000);
        let frags = fragments(&orig, 1000);
        assert_eq!(t.offer(0, &frags[0], &info(&frags[0])), Offer::Held);
        // A fragment rewriting bytes 992..1992 (overlaps the first one).
        let evil = fragment(&orig, 992, &[0xAA; 1000], true);
        assert_eq!(
            t.offer(0, &evil, &info(&evil)),
            Offer::Dropped(VfrDropReason::Overlap)
        );
        // The rest of the datagram is dropped too, until the timeout.
        for f in &frags[1..] {
            assert_eq!(
                t.offer(SEC, f, &info(f)),
                Offer::Dropped(VfrDropReason::Poisoned)
            );
        }
        assert_eq!(t.counters().drop_overlap, 1);
        assert_eq!(t.counters().drop_poisoned, 2);
        assert_eq!(t.counters().reassembled, 0);
        // A poisoned datagram holds its slot but no fragments; one failure,
        // three fragments dropped (the overlapping one and the two after it).
        assert_eq!(t.in_progress(), 1);
        assert_eq!(t.held_fragments(), 0);
        assert_eq!(t.counters().failures(), 1);
        assert_eq!(t.counters().dropped_fragments(), 3);
        let mut sum = *t.counters();
        sum.add(t.counters());
        assert_eq!(sum.failures(), 2);
        assert_eq!(sum.dropped_fragments(), 6);
        assert_eq!(sum.fragments, 2 * t.counters().fragments);
        // After the timeout the same datagram can be sent again.
        assert_eq!(t.expire(3 * SEC), 0);
        assert_eq!(t.in_progress(), 0);
        let out = offer_all(&mut t, 4 * SEC, &frags).expect("complete");
        assert_reassembled(&out, &orig);
    }

    #[test]
    fn exact_duplicate_is_dropped_alone() {
        let mut t = table();
        let orig = datagram(21, 3000);
        let frags = fragments(&orig, 1000);
        assert_eq!(t.offer(0, &frags[1], &info(&frags[1])), Offer::Held);
        // Same range, different bytes: the copy held first wins.
        let dup = fragment(&orig, 1000, &[0x55; 1000], true);
        assert_eq!(
            t.offer(0, &dup, &info(&dup)),
            Offer::Dropped(VfrDropReason::Duplicate)
        );
        assert_eq!(t.offer(0, &frags[0], &info(&frags[0])), Offer::Held);
        let Offer::Complete { frame } = t.offer(0, &frags[2], &info(&frags[2])) else {
            panic!()
        };
        assert_reassembled(frame, &orig);
    }

    #[test]
    fn inconsistent_ends_oversize_and_malformed() {
        let mut t = table();
        let orig = datagram(22, 3000);
        // A second, different last fragment.
        let last = fragment(&orig, 2000, &orig[34 + 2000..], false);
        let other_last = fragment(&orig, 3000, &[1; 8], false);
        assert_eq!(t.offer(0, &last, &info(&last)), Offer::Held);
        assert_eq!(
            t.offer(0, &other_last, &info(&other_last)),
            Offer::Dropped(VfrDropReason::Inconsistent)
        );
        // Data past a known end.
        let orig = datagram(23, 3000);
        let last = fragment(&orig, 1000, &orig[34 + 1000..34 + 1008], false);
        let beyond = fragment(&orig, 2000, &orig[34 + 2000..34 + 2008], true);
        assert_eq!(t.offer(0, &last, &info(&last)), Offer::Held);
        assert_eq!(
            t.offer(0, &beyond, &info(&beyond)),
            Offer::Dropped(VfrDropReason::Inconsistent)
        );
        // Ping of death: a fragment ending past 65535.
        let orig = datagram(24, 100);
        let pod = fragment(&orig, 65_528, &[0; 100], false);
        assert_eq!(
            t.offer(0, &pod, &info(&pod)),
            Offer::Dropped(VfrDropReason::Oversize)
        );
        // A non-last fragment whose length is not a multiple of 8.
        let odd = fragment(&orig, 0, &orig[34..34 + 13], true);
        assert_eq!(
            t.offer(0, &odd, &info(&odd)),
            Offer::Dropped(VfrDropReason::Malformed)
        );
        // Not a fragment at all.
        assert_eq!(
            t.offer(0, &orig, &info(&orig)),
            Offer::Dropped(VfrDropReason::NotAFragment)
        );
        let c = t.counters();
        assert_eq!(
            (c.drop_inconsistent, c.drop_oversize, c.drop_malformed),
            (2, 1, 1)
        );
    }

    #[test]
    fn too_many_fragments_drops_the_datagram_and_logs() {
        let mut t = table();
        let orig = datagram(30, 8 * 40);
        let frags = fragments(&orig, 8);
        assert_eq!(frags.len(), 40);
        for f in &frags[..32] {
            assert_eq!(t.offer(0, f, &info(f)), Offer::Held);
        }
        assert_eq!(
            t.offer(0, &frags[32], &info(&frags[32])),
            Offer::Dropped(VfrDropReason::TooManyFragments)
        );
        assert_eq!(
            t.offer(0, &frags[33], &info(&frags[33])),
            Offer::Dropped(VfrDropReason::Poisoned)
        );
        let ev = t.pop_event().expect("event");
        assert_eq!(
            ev.message("Ethernet2/0"),
            "%IP_VFR-4-TOO_MANY_FRAGMENTS: Ethernet2/0: Too many fragments per datagram \
             (more than 32) - sent by 192.0.2.7"
        );
        assert_eq!(ev.iface(), IF);
        assert_eq!(t.pop_event(), None);
    }

    #[test]
    fn timeout_drops_incomplete_datagrams() {
        let mut t = table();
        let orig = datagram(40, 3000);
        let frags = fragments(&orig, 1000);
        assert_eq!(t.offer(SEC, &frags[0], &info(&frags[0])), Offer::Held);
        assert_eq!(t.offer(SEC, &frags[1], &info(&frags[1])), Offer::Held);
        assert_eq!(t.expire(SEC + 3 * SEC - 1), 0);
        assert_eq!(t.in_progress(), 1);
        assert_eq!(t.held_fragments(), 2);
        assert_eq!(t.expire(4 * SEC), 1);
        assert_eq!(t.in_progress(), 0);
        assert_eq!(t.counters().timeouts, 1);
        // The late last fragment starts a new datagram that cannot complete.
        assert_eq!(t.offer(4 * SEC, &frags[2], &info(&frags[2])), Offer::Held);
        // offer() expires by itself too.
        assert_eq!(t.offer(8 * SEC, &frags[0], &info(&frags[0])), Offer::Held);
        assert_eq!(t.counters().timeouts, 2);
    }

    #[test]
    fn table_full_drops_new_datagrams_and_logs_once() {
        let mut t = table();
        let firsts: Vec<_> = (0..17)
            .map(|i| fragments(&datagram(100 + i, 2000), 1000))
            .collect();
        for f in &firsts[..16] {
            assert_eq!(t.offer(0, &f[0], &info(&f[0])), Offer::Held);
        }
        assert_eq!(t.in_progress(), 16);
        for _ in 0..3 {
            assert_eq!(
                t.offer(0, &firsts[16][0], &info(&firsts[16][0])),
                Offer::Dropped(VfrDropReason::TableFull)
            );
        }
        let ev = t.pop_event().expect("event");
        assert_eq!(
            ev.message("Ethernet2/0"),
            "%IP_VFR-4-FRAG_TABLE_OVERFLOW: Ethernet2/0: the virtual reassembly table is full"
        );
        assert_eq!(t.pop_event(), None, "logged once per episode");
        assert_eq!(t.counters().drop_table_full, 3);
        // Fragments of datagrams in progress still get in; completing one frees a slot.
        let Offer::Complete { .. } = t.offer(0, &firsts[0][1], &info(&firsts[0][1])) else {
            panic!()
        };
        assert_eq!(
            t.offer(0, &firsts[16][0], &info(&firsts[16][0])),
            Offer::Held
        );
    }

    #[test]
    fn drop_fragments_option_and_limits_are_clamped() {
        let cfg = VfrConfig {
            drop_fragments: true,
            ..VfrConfig::default()
        };
        let mut t = VirtualReassembly::new(IF, &cfg);
        let f = fragments(&datagram(50, 2000), 1000);
        assert_eq!(
            t.offer(0, &f[0], &info(&f[0])),
            Offer::Dropped(VfrDropReason::DropFragments)
        );
        assert_eq!(t.counters().drop_drop_fragments, 1);
        let huge = VfrConfig {
            max_reassemblies: 8192,
            max_fragments: 0,
            timeout: 0,
            drop_fragments: false,
        };
        let t = VirtualReassembly::new(IF, &huge);
        assert_eq!(t.slots.len(), MAX_REASSEMBLIES_CAP);
        assert_eq!(t.max_fragments, 1);
        assert_eq!(t.timeout_ns, SEC);
    }

    #[test]
    fn header_of_first_fragment_with_options_is_used() {
        let mut t = table();
        // A first fragment with a 4-byte option (NOP NOP NOP EOL) in a 24-byte header.
        let orig = datagram(60, 1600);
        let frags = fragments(&orig, 800);
        let mut first = frags[0][..34].to_vec();
        first.extend_from_slice(&[1, 1, 1, 0]);
        first.extend_from_slice(&frags[0][34..]);
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut first[14..]);
            ip.set_version_and_header_len(24);
            ip.set_total_len(24 + 800);
            ip.fill_checksum();
        }
        assert_eq!(t.offer(0, &frags[1], &info(&frags[1])), Offer::Held);
        let Offer::Complete { frame } = t.offer(0, &first, &info(&first)) else {
            panic!()
        };
        let p = PacketHeaders::from_ethernet_slice(frame).unwrap();
        let Some(NetHeaders::Ipv4(h, _)) = &p.net else {
            panic!()
        };
        assert_eq!(h.header_len(), 24);
        assert_eq!(usize::from(h.total_len), 24 + 1600);
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(&frame[38..], &orig[34..]);
    }

    proptest::proptest! {
        /// Any order of the fragments of any datagram reassembles to the original.
        #[test]
        fn any_order_reassembles(
            len in 9usize..6000,
            chunk8 in 1usize..200,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let orig = datagram(70, len);
            let chunk = (chunk8 * 8).max(len.div_ceil(32).div_ceil(8) * 8);
            let mut frags = fragments(&orig, chunk);
            proptest::prop_assume!(frags.len() >= 2);
            // Deterministic shuffle.
            let mut s = seed;
            for i in (1..frags.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                frags.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut t = table();
            let out = offer_all(&mut t, 0, &frags).expect("complete");
            assert_reassembled(&out, &orig);
        }
    }
}
