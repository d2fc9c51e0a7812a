//! Fragments (`cbac-sessions.md` §8.3): with `ip virtual-reassembly` on the
//! ingress interface, fragments are held until their datagram is complete and
//! every later stage (ACLs, sessions, NAT, SMTP inspection) sees whole
//! datagrams only; without it, a non-initial fragment cannot be judged.
//!
//! A completed datagram (up to 65535 bytes: it is processed from the
//! worker's preallocated `reassembled` buffer, not a frame slot) goes through
//! the whole pipeline and then leaves as fragments again along the
//! boundaries it arrived with, as IOS VFR forwards the fragments it
//! reassembled: the arrival layout is armed for the egress stage
//! (`transmit.rs`) for the time the datagram is processed.
//!
//! Every fragment the table refuses is a counted drop with a reason of its
//! own (`vfr_table_full`, `vfr_too_many_fragments`, `vfr_overlap`,
//! `vfr_invalid`), and every incomplete datagram it gives up at its timeout
//! counts once as `vfr_timeout`.
//!
//! Several workers: a datagram's fragments must meet in one table, but only
//! the initial fragment carries the ports its flow's owner is hashed from.
//! So every fragment on an interface with `ip virtual-reassembly` is steered
//! by the outside peer's address alone ([`Firewall::steer_fragment`], the
//! same hash the kernel fanout program computes for fragments, so they need
//! no handoff on receipt); the worker that completes the datagram computes
//! the flow's owner as a whole datagram would get it, and if that is another
//! worker it hands the datagram over as its original fragments
//! ([`ReassemblyHandoff`]: re-emitted along the arrival layout, each fitting a
//! handoff slot, all of a datagram or none), marked
//! [`HandoffKind::Reassemble`](crate::handoff::HandoffKind): the owner
//! reassembles them in its own table and processes the datagram where its
//! session lives, never handing it on. A datagram that cannot be handed over
//! (queue or ring full) is a counted drop (`handoff_full`).

use crate::drop_reason::DropReason;
use crate::handoff::Outlet;
use crate::io::steer::peer_address_hash;
use crate::io::{TxSink, MAX_FRAME};
use crate::logging::{InterfaceName, LogRecord};
use crate::reassembly::{FragmentLayout, Offer, VfrDropReason, VfrEvent};
use crate::wire::ethernet::{self, Mac};
use crate::wire::fragment::{self, FragmentSpec, Pieces, MAX_HEADER_LEN};
use crate::wire::frame::{parse_frame_with, ChecksumPolicy, Ipv4Info};
use crate::worker::OwnerHandoff;

use super::Firewall;

/// Bytes of fragment frames queued for other workers between two drains.
const QUEUE_BYTES: usize = 256 * 1024;
/// Fragment frames queued for other workers between two drains.
const QUEUE_FRAMES: usize = 256;

/// One queued fragment frame.
#[derive(Debug, Clone, Copy)]
struct Queued {
    owner: u16,
    port: u8,
    /// Frames of its datagram, on the datagram's first frame (0 on the others).
    datagram_frames: u16,
    start: u32,
    len: u16,
}

/// Datagrams this worker reassembled for flows other workers own, as
/// fragment frames waiting for the worker loop to move them to the owners'
/// handoff rings ([`OwnerHandoff::drain_handoffs`]); and whether the frames
/// being processed were handed over by another worker. Preallocated.
pub(super) struct ReassemblyHandoff {
    bytes: Box<[u8]>,
    used: usize,
    frames: Vec<Queued>,
    handed_over: bool,
}

impl ReassemblyHandoff {
    /// An empty queue (allocates its buffers now).
    pub(super) fn new() -> Self {
        ReassemblyHandoff {
            bytes: vec![0u8; QUEUE_BYTES].into_boxed_slice(),
            used: 0,
            frames: Vec::with_capacity(QUEUE_FRAMES),
            handed_over: false,
        }
    }

    /// Queues the reassembled `frame` (`ip` its parsed header, `layout` the
    /// fragments it arrived as) for worker `owner`, as received on `port`:
    /// re-emitted along `layout`, each piece cut further where it would not
    /// fit a handoff slot. All or nothing: false when the queue has no room.
    fn queue(
        &mut self,
        owner: usize,
        port: usize,
        frame: &[u8],
        ip: &Ipv4Info,
        layout: &FragmentLayout,
    ) -> bool {
        let l3 = ip.l3_offset;
        let hl = ip.header_len;
        let (Some(link), Some(header), Some(payload)) = (
            frame.get(..l3),
            frame.get(l3..l3 + hl),
            frame.get(l3 + hl..ip.end()),
        ) else {
            return false;
        };
        if link.len() < ethernet::HEADER_LEN
            || owner > usize::from(u16::MAX)
            || port > usize::from(u8::MAX)
        {
            return false;
        }
        let whole = [payload.len() as u32];
        let ends = if layout.payload_len() as usize == payload.len() && layout.fragments() > 0 {
            layout.ends()
        } else {
            &whole
        };
        let mut later = [0u8; MAX_HEADER_LEN];
        let later_len = fragment::later_header(header, &mut later);
        let later = &later[..later_len];
        let slot = MAX_FRAME - ethernet::HEADER_LEN;
        let pieces = Pieces::new(
            ends,
            fragment::room(slot, hl),
            fragment::room(slot, later_len),
        );
        let (mut count, mut bytes) = (0usize, 0usize);
        for p in pieces.clone() {
            let h = if p.offset == 0 { hl } else { later_len };
            count += 1;
            bytes += fragment::frame_len(h, p.len);
        }
        if count > usize::from(u16::MAX)
            || self.frames.len() + count > QUEUE_FRAMES
            || self.used + bytes > self.bytes.len()
        {
            return false;
        }
        let mac = |at: usize| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&link[at..at + 6]);
            Mac(m)
        };
        let (dst_mac, src_mac) = (mac(0), mac(6));
        let first = self.frames.len();
        for p in pieces {
            let spec = FragmentSpec {
                dst_mac,
                src_mac,
                offset: p.offset,
                more: p.end() < payload.len(),
                dont_fragment: ip.dont_fragment,
            };
            let h = if p.offset == 0 { header } else { later };
            let out = &mut self.bytes[self.used..];
            let Ok(n) = fragment::write_fragment(out, &spec, h, &payload[p.offset..p.end()]) else {
                // Sized above: unreachable; forget the partial datagram.
                self.frames.truncate(first);
                return false;
            };
            self.frames.push(Queued {
                owner: owner as u16,
                port: port as u8,
                datagram_frames: 0,
                start: self.used as u32,
                len: n as u16,
            });
            self.used += n;
        }
        self.frames[first].datagram_frames = count as u16;
        true
    }

    /// Moves every queued datagram to its owner's ring, all its fragments or
    /// none (a datagram that does not fit is counted as dropped frames).
    fn drain(&mut self, out: &mut Outlet<'_>) {
        let mut i = 0;
        while i < self.frames.len() {
            let q = self.frames[i];
            let n = usize::from(q.datagram_frames.max(1));
            let owner = usize::from(q.owner);
            let group = &self.frames[i..(i + n).min(self.frames.len())];
            if out.room(owner) >= group.len() {
                for f in group {
                    let start = f.start as usize;
                    let frame = &self.bytes[start..start + usize::from(f.len)];
                    let _ = out.push(owner, usize::from(f.port), frame);
                }
            } else {
                out.count_dropped(group.len() as u64);
            }
            i += n;
        }
        self.frames.clear();
        self.used = 0;
    }

    /// Whether nothing waits.
    fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// The drop reason a refused fragment is counted under.
fn vfr_drop(reason: VfrDropReason) -> DropReason {
    match reason {
        VfrDropReason::TableFull => DropReason::VfrTableFull,
        VfrDropReason::TooManyFragments => DropReason::VfrTooManyFragments,
        VfrDropReason::Overlap | VfrDropReason::Duplicate | VfrDropReason::Poisoned => {
            DropReason::VfrOverlap
        }
        VfrDropReason::NotAFragment
        | VfrDropReason::DropFragments
        | VfrDropReason::Malformed
        | VfrDropReason::Oversize
        | VfrDropReason::Inconsistent => DropReason::VfrInvalid,
    }
}

impl Firewall {
    /// A fragment on `port`: with `ip virtual-reassembly`, held until its
    /// datagram is complete, which then goes through the whole pipeline and
    /// leaves re-fragmented along its arrival layout. Without it, a
    /// non-initial fragment cannot be judged and is dropped; an initial one
    /// is judged by its headers.
    pub(super) fn reassemble(
        &mut self,
        now: u64,
        port: usize,
        frame: &mut [u8],
        ip: &crate::wire::frame::Ipv4Info,
        tx: &mut TxSink,
    ) {
        if self.refrag.handoff.handed_over {
            // Counted once, by the worker that received it.
            if let Some(p) = self.ports.get_mut(port) {
                p.rx_packets = p.rx_packets.saturating_sub(1);
                p.rx_bytes = p.rx_bytes.saturating_sub(frame.len() as u64);
            }
        }
        let Some(Some(vfr)) = self.vfr.get_mut(port) else {
            if ip.frag_offset != 0 {
                return self.drop_frame(port, DropReason::Fragment);
            }
            return self.continue_unfragmented(now, port, frame, tx);
        };
        let timeouts = vfr.counters().timeouts;
        let unix_ns = now.wrapping_add(self.shared.wall_offset_ns);
        let outcome = match vfr.offer(now, frame, ip) {
            Offer::Complete { frame: whole } => match self.reassembled.get_mut(..whole.len()) {
                Some(buf) => {
                    buf.copy_from_slice(whole);
                    Ok(Some(whole.len()))
                }
                // The buffer holds 65535 bytes and a link header: unreachable.
                None => Err(DropReason::FragmentFailed),
            },
            Offer::Held => Ok(None),
            Offer::Dropped(reason) => Err(vfr_drop(reason)),
        };
        let layout = *vfr.last_layout();
        let timed_out = vfr.counters().timeouts.saturating_sub(timeouts);
        // The `%IP_VFR-4-…` events (rare: once per episode of a full table,
        // once per datagram with too many fragments) become log records.
        while let Some(event) = vfr.pop_event() {
            let name = self
                .rt
                .compiled
                .interfaces
                .get(usize::from(event.iface().0))
                .map_or("", |i| i.name.as_str());
            let interface = InterfaceName::new(name.as_bytes());
            let record = match event {
                VfrEvent::TableOverflow { .. } => LogRecord::VfrTableOverflow { interface },
                VfrEvent::TooManyFragments {
                    max_fragments,
                    source,
                    ..
                } => LogRecord::VfrTooManyFragments {
                    interface,
                    max_fragments,
                    source,
                },
            };
            self.log.emit(unix_ns, record);
        }
        self.drops.0[DropReason::VfrTimeout.index()] += timed_out;
        let len = match outcome {
            Ok(Some(len)) => len,
            Ok(None) => return,
            Err(reason) => return self.drop_frame(port, reason),
        };
        if let Some((owner, ip)) = self.reassembly_owner(port, len) {
            let frame = &self.reassembled[..len];
            if !self.refrag.handoff.queue(owner, port, frame, &ip, &layout) {
                self.drop_frame(port, DropReason::HandoffFull);
            }
            return;
        }
        let mut whole = std::mem::take(&mut self.reassembled);
        self.refrag.arm(layout);
        self.continue_unfragmented(now, port, &mut whole[..len], tx);
        self.refrag.disarm();
        self.reassembled = whole;
    }

    /// The worker that owns the flow of the datagram just reassembled from
    /// fragments received on `port` (the first `len` bytes of
    /// `reassembled`), with its parsed header, when that is not this worker
    /// and the datagram was not handed over already.
    fn reassembly_owner(&self, port: usize, len: usize) -> Option<(usize, Ipv4Info)> {
        let workers = self.shared.workers;
        if workers < 2 || self.refrag.handoff.handed_over {
            return None;
        }
        let parsed =
            parse_frame_with(self.reassembled.get(..len)?, ChecksumPolicy::TrustL4).ok()?;
        let ip = *parsed.ipv4()?;
        let hash = super::owner::owner_hash(self.rt.peer_side(port), &ip)?;
        let owner = (hash % workers as u64) as usize;
        (owner != usize::from(self.worker)).then_some((owner, ip))
    }

    /// The steering hash of a fragment received on `port` (`ip` its parsed
    /// header). With `ip virtual-reassembly` on the interface: the outside
    /// peer's address alone, so every fragment of a datagram meets on one
    /// worker (the kernel fanout program hashes fragments the same way).
    /// Without it, an initial fragment is judged by its own headers on its
    /// flow's owner; later ones are dropped wherever they land.
    pub(super) fn steer_fragment(&self, port: usize, ip: &Ipv4Info) -> Option<u64> {
        let side = self.rt.peer_side(port);
        if !matches!(self.vfr.get(port), Some(Some(_))) {
            if ip.frag_offset != 0 {
                return None;
            }
            return super::owner::owner_hash(side, ip);
        }
        Some(u64::from(peer_address_hash(side.pick(ip.src, ip.dst))))
    }
}

impl OwnerHandoff for Firewall {
    fn drain_handoffs(&mut self, out: &mut Outlet<'_>) {
        if !self.refrag.handoff.is_empty() {
            self.refrag.handoff.drain(out);
        }
    }

    fn set_handed_over(&mut self, handed_over: bool) {
        self.refrag.handoff.handed_over = handed_over;
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use etherparse::Ipv4Header;
    use proptest::prelude::*;

    use crate::drop_reason::DropReason;
    use crate::sim::*;
    use crate::wire::checksum;
    use crate::wire::ethernet::Mac;
    use crate::wire::ipv4::Ipv4Packet;

    const C: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
    const H5: Ipv4Addr = Ipv4Addr::new(10, 10, 10, 5);
    const H5_GLOBAL: Ipv4Addr = Ipv4Addr::new(172, 22, 1, 111);
    const DNS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;

    fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(ip, port)
    }

    fn payload(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// The IPv4 datagram of a frame built by `sim` (no options), DF cleared.
    fn datagram_of(frame: &[u8]) -> Vec<u8> {
        let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
        let mut d = frame[14..14 + total].to_vec();
        let mut ip = Ipv4Packet::new_unchecked(&mut d[..]);
        ip.set_flags_and_offset(false, false, 0);
        ip.fill_checksum();
        d
    }

    /// Fragment frames of `dgram` (20-byte header) cut at payload offsets
    /// `ends` (the last being the payload length), sent from `src_mac` to
    /// `dst_mac`.
    fn fragments(dgram: &[u8], ends: &[usize], src_mac: Mac, dst_mac: Mac) -> Vec<Vec<u8>> {
        let data = &dgram[20..];
        let mut start = 0;
        ends.iter()
            .map(|&end| {
                let mut f = Vec::with_capacity(14 + 20 + end - start);
                f.extend_from_slice(&dst_mac.0);
                f.extend_from_slice(&src_mac.0);
                f.extend_from_slice(&[0x08, 0x00]);
                f.extend_from_slice(&dgram[..20]);
                f.extend_from_slice(&data[start..end]);
                {
                    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
                    ip.set_total_len((20 + end - start) as u16);
                    ip.set_flags_and_offset(false, end < data.len(), start as u16);
                    ip.fill_checksum();
                }
                while f.len() < 60 {
                    f.push(0);
                }
                start = end;
                f
            })
            .collect()
    }

    /// Ends of fragments of `chunk` payload bytes.
    fn even_ends(len: usize, chunk: usize) -> Vec<usize> {
        let mut ends: Vec<usize> = (1..).map(|i| i * chunk).take_while(|&e| e < len).collect();
        ends.push(len);
        ends
    }

    /// What the firewall should emit for `dgram` once forwarded: `src`/`dst`
    /// rewritten, TTL decremented, IP and transport checksums recomputed from
    /// scratch (independently of the pipeline's incremental updates).
    fn translated(dgram: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut d = dgram.to_vec();
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut d[..]);
            ip.set_src_addr(src);
            ip.set_dst_addr(dst);
            let ttl = ip.ttl() - 1;
            ip.set_ttl(ttl);
            ip.fill_checksum();
        }
        let proto = d[9];
        let at = match proto {
            17 => 20 + 6,
            6 => 20 + 16,
            _ => return d,
        };
        d[at..at + 2].copy_from_slice(&[0, 0]);
        let mut c = checksum::l4_checksum(src, dst, proto, &d[20..]);
        if proto == 17 && c == 0 {
            c = 0xffff;
        }
        d[at..at + 2].copy_from_slice(&c.to_be_bytes());
        d
    }

    /// One output fragment, checked: Ethernet addresses, IP header checksum
    /// (recomputed by etherparse), 8-byte alignment.
    struct Out {
        offset: usize,
        more: bool,
        dont_fragment: bool,
        ident: u16,
        header: Vec<u8>,
        data: Vec<u8>,
        frame_len: usize,
    }

    fn check_fragment(frame: &[u8], dst_mac: Mac, src_mac: Mac, mtu: usize) -> Out {
        assert_eq!(&frame[..6], &dst_mac.0, "destination MAC");
        assert_eq!(&frame[6..12], &src_mac.0, "source MAC");
        assert_eq!(&frame[12..14], &[0x08, 0x00]);
        let (h, _) = Ipv4Header::from_slice(&frame[14..]).expect("IPv4 header");
        assert_eq!(h.header_checksum, h.calc_header_checksum(), "IP checksum");
        let hl = h.header_len();
        let total = usize::from(h.total_len);
        assert!(total <= mtu, "fragment of {total} bytes over MTU {mtu}");
        assert!(frame.len() >= 60 && 14 + total <= frame.len());
        let out = Out {
            offset: usize::from(h.fragment_offset.value()) * 8,
            more: h.more_fragments,
            dont_fragment: h.dont_fragment,
            ident: h.identification,
            header: frame[14..14 + hl].to_vec(),
            data: frame[14 + hl..14 + total].to_vec(),
            frame_len: frame.len(),
        };
        if out.more {
            assert_eq!(out.data.len() % 8, 0, "non-last fragment length");
        }
        out
    }

    /// Reassembles the fragments the firewall sent on `port` (every frame
    /// must be a fragment of the same datagram, in offset order, tiling it)
    /// into the datagram, and returns it with the payload lengths of the
    /// fragments.
    fn reassemble_output(
        out: &[(usize, Vec<u8>)],
        port: usize,
        dst_mac: Mac,
        src_mac: Mac,
        mtu: usize,
    ) -> (Vec<u8>, Vec<usize>) {
        assert!(!out.is_empty(), "nothing transmitted");
        let frags: Vec<Out> = out
            .iter()
            .map(|(p, f)| {
                assert_eq!(*p, port, "egress port");
                check_fragment(f, dst_mac, src_mac, mtu)
            })
            .collect();
        let mut data = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            assert_eq!(f.offset, data.len(), "fragments in order, no gap");
            assert_eq!(f.more, i + 1 < frags.len(), "MF on all but the last");
            assert_eq!(f.ident, frags[0].ident);
            assert!(!f.dont_fragment);
            if i > 0 {
                assert_eq!(f.header.len(), 20);
                assert_eq!(f.header[12..20], frags[0].header[12..20]);
                assert_eq!(f.header[8..10], frags[0].header[8..10], "TTL, protocol");
            }
            data.extend_from_slice(&f.data);
        }
        let mut d = frags[0].header.clone();
        d.extend_from_slice(&data);
        let total = d.len() as u16;
        let mut ip = Ipv4Packet::new_unchecked(&mut d[..]);
        ip.set_total_len(total);
        ip.set_flags_and_offset(false, false, 0);
        ip.fill_checksum();
        let lens = frags.iter().map(|f| f.data.len()).collect();
        (d, lens)
    }

    /// The transport checksum of a whole datagram, verified by recomputation.
    fn assert_l4_checksum(d: &[u8]) {
        let src = Ipv4Addr::new(d[12], d[13], d[14], d[15]);
        let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
        let hl = usize::from(d[0] & 0x0f) * 4;
        assert!(
            checksum::l4_checksum_valid(src, dst, d[9], &d[hl..]),
            "transport checksum"
        );
    }

    fn lengths(ends: &[usize]) -> Vec<usize> {
        let mut start = 0;
        ends.iter()
            .map(|&e| {
                let l = e - start;
                start = e;
                l
            })
            .collect()
    }

    fn udp_from_h5(len: usize, seed: u8) -> Vec<u8> {
        let frame = udp(
            HOST5_MAC,
            FW_INSIDE_MAC,
            sa(H5, 40_000 + u16::from(seed)),
            sa(DNS, 5353),
            &payload(len - 8, seed),
        );
        datagram_of(&frame)
    }

    /// A 4000-byte UDP datagram from 10.10.10.5 in three fragments, in order:
    /// three fragments leave on the outside along the same boundaries, with
    /// the translated source; they reassemble to the translated datagram.
    #[test]
    fn udp_4000_in_order_leaves_along_the_arrival_boundaries() {
        let mut lab = SeedLab::new(&[]);
        let dgram = udp_from_h5(4000, 1);
        let ends = [1480, 2960, 4000];
        let frags = fragments(&dgram, &ends, HOST5_MAC, FW_INSIDE_MAC);
        assert!(lab.send(INSIDE, &frags[0]).is_empty());
        assert!(lab.send(INSIDE, &frags[1]).is_empty());
        let out = lab.send(INSIDE, &frags[2]);
        assert_eq!(out.len(), 3);
        let (got, lens) = reassemble_output(&out, OUTSIDE, ISP_MAC, FW_OUTSIDE_MAC, 1500);
        assert_eq!(lens, lengths(&ends));
        assert_eq!(got, translated(&dgram, H5_GLOBAL, DNS));
        assert_l4_checksum(&got);
        assert_eq!(got[4..6], [0x12, 0x34], "IP ID kept");
        assert_eq!(out[0].1.len(), 14 + 1500);
        assert_eq!(lab.fw.drops().total(), 0);
        assert_eq!(lab.report().sessions.len(), 1);
    }

    /// The same datagram with the fragments reversed and shuffled, and
    /// uneven boundaries.
    #[test]
    fn udp_4000_out_of_order() {
        let mut lab = SeedLab::new(&[]);
        let dgram = udp_from_h5(4000, 2);
        let ends = [512, 1016, 2000, 3000, 3008, 4000];
        let frags = fragments(&dgram, &ends, HOST5_MAC, FW_INSIDE_MAC);
        for i in [5, 2, 4, 0, 3] {
            assert!(lab.send(INSIDE, &frags[i]).is_empty());
        }
        let out = lab.send(INSIDE, &frags[1]);
        let (got, lens) = reassemble_output(&out, OUTSIDE, ISP_MAC, FW_OUTSIDE_MAC, 1500);
        assert_eq!(lens, lengths(&ends), "original boundaries, in offset order");
        assert_eq!(got, translated(&dgram, H5_GLOBAL, DNS));
        assert_l4_checksum(&got);
    }

    /// A smaller egress MTU: each arrival piece is split further on 8-byte
    /// multiples, none crosses an arrival boundary.
    #[test]
    fn smaller_egress_mtu_splits_further() {
        let mut lab = SeedLab::new(&[]);
        assert_eq!(lab.fw.set_ip_mtu(OUTSIDE, 576), 576);
        assert_eq!(lab.fw.ip_mtu(OUTSIDE), 576);
        assert_eq!(
            lab.fw.set_ip_mtu(INSIDE, 10),
            68,
            "clamped to RFC 791's minimum"
        );
        lab.fw.set_ip_mtu(INSIDE, 1500);
        let dgram = udp_from_h5(4000, 3);
        let frags = fragments(&dgram, &[1480, 2960, 4000], HOST5_MAC, FW_INSIDE_MAC);
        lab.send(INSIDE, &frags[2]);
        lab.send(INSIDE, &frags[0]);
        let out = lab.send(INSIDE, &frags[1]);
        let (got, lens) = reassemble_output(&out, OUTSIDE, ISP_MAC, FW_OUTSIDE_MAC, 576);
        assert_eq!(lens, [552, 552, 376, 552, 552, 376, 552, 488]);
        assert_eq!(got, translated(&dgram, H5_GLOBAL, DNS));
        assert_l4_checksum(&got);
    }

    /// The egress MTU is the lower of the device's and the configuration's
    /// (`ip mtu`, bounded by `mtu`), follows a configuration change, and a
    /// pinned value wins over both.
    #[test]
    fn egress_mtu_from_device_and_configuration() {
        let mut lab = SeedLab::new(&[]);
        assert_eq!(lab.fw.ip_mtu(OUTSIDE), 1500, "neither known: 1500");
        assert_eq!(
            lab.fw.set_device_mtu(OUTSIDE, 9000),
            2034,
            "a TX slot's worth"
        );
        assert_eq!(lab.fw.set_device_mtu(OUTSIDE, 1400), 1400, "device alone");
        let with_lines = |lines: &[&str]| {
            let (mut cfg, _) = crate::config::Config::load(SEED_CONFIG).unwrap();
            let mut session = crate::config::ConfigSession::new();
            for line in lines {
                session.apply_line(&mut cfg, line).unwrap();
            }
            SeedLab::with_config(cfg)
        };
        let mut lab = with_lines(&["interface Ethernet2/0", " ip mtu 1300"]);
        assert_eq!(lab.fw.ip_mtu(OUTSIDE), 1300, "configuration alone");
        assert_eq!(lab.fw.set_device_mtu(OUTSIDE, 1400), 1300, "the lower");
        assert_eq!(lab.fw.set_device_mtu(OUTSIDE, 1000), 1000, "the lower");
        assert_eq!(lab.fw.ip_mtu(INSIDE), 1500);

        // 1200 bytes leave whole through a 1300 MTU, then the device drops to
        // 1000: cut to 1000.
        let mut lab = with_lines(&["interface Ethernet2/0", " mtu 1300"]);
        let frame = udp(
            HOST5_MAC,
            FW_INSIDE_MAC,
            sa(H5, 40_500),
            sa(DNS, 53),
            &payload(1172, 1),
        );
        let mut nodf = frame.clone();
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut nodf[14..]);
            ip.set_flags_and_offset(false, false, 0);
            ip.fill_checksum();
        }
        assert_eq!(lab.send(INSIDE, &nodf).len(), 1);
        lab.fw.set_device_mtu(OUTSIDE, 1000);
        let out = lab.send(INSIDE, &nodf);
        let (got, lens) = reassemble_output(&out, OUTSIDE, ISP_MAC, FW_OUTSIDE_MAC, 1000);
        assert_eq!(lens, [976, 204]);
        assert_eq!(got, translated(&datagram_of(&nodf), H5_GLOBAL, DNS));

        // A configuration change (a new generation) is followed at once.
        let rt = lab.shared.runtime();
        let mut cfg = rt.config.clone();
        let mut session = crate::config::ConfigSession::new();
        session
            .apply_line(&mut cfg, "interface Ethernet2/0")
            .unwrap();
        session.apply_line(&mut cfg, " ip mtu 576").unwrap();
        let next =
            crate::runtime::Runtime::build(cfg, rt.ports.clone(), rt.generation + 1).unwrap();
        lab.shared.install(next).unwrap();
        crate::worker::Processor::tick(&mut lab.fw, lab.now, &mut lab.tx);
        let out = lab.send(INSIDE, &nodf);
        let (_, lens) = reassemble_output(&out, OUTSIDE, ISP_MAC, FW_OUTSIDE_MAC, 576);
        assert_eq!(lens, [552, 552, 76]);
        assert_eq!(lab.fw.ip_mtu(OUTSIDE), 576);
        assert_eq!(lab.fw.set_ip_mtu(OUTSIDE, 1500), 1500, "pinned");
        assert_eq!(lab.fw.ip_mtu(OUTSIDE), 1500);
    }

    /// An echo request of 4000 bytes to the inside interface's address,
    /// fragmented: the router's reply leaves as fragments along the request's
    /// layout (the request's IP ID and length), and through a smaller MTU cut
    /// to it; DF on the request does not stop the router's own reply.
    #[test]
    fn large_echo_to_the_router_is_answered_in_fragments() {
        let mut lab = SeedLab::new(&[]);
        let gw = Ipv4Addr::new(10, 10, 10, 1);
        let mut body = echo_body(0x77, 1);
        body.extend(payload(4000 - 20 - 4 - 12, 9));
        let req = icmp(HOST5_MAC, FW_INSIDE_MAC, H5, gw, 8, 0, &body);
        let dgram = datagram_of(&req);
        assert_eq!(dgram.len(), 4000);
        let frags = fragments(&dgram, &[1480, 2960, 3980], HOST5_MAC, FW_INSIDE_MAC);
        lab.send(INSIDE, &frags[1]);
        lab.send(INSIDE, &frags[2]);
        let out = lab.send(INSIDE, &frags[0]);
        let (got, lens) = reassemble_output(&out, INSIDE, HOST5_MAC, FW_INSIDE_MAC, 1500);
        assert_eq!(lens, [1480, 1480, 1020]);
        assert_eq!(&got[12..16], &gw.octets());
        assert_eq!(&got[16..20], &H5.octets());
        assert_eq!(got[20], 0, "echo reply");
        assert_eq!(
            got[24..],
            dgram[24..],
            "identifier, sequence and data echoed"
        );
        assert!(checksum::checksum(&got[20..]) == 0, "ICMP checksum");
        assert_eq!(lab.fw.drops().total(), 0, "{:?}", lab.fw.drops());

        // Through a 576-byte MTU, with DF on the request's first fragment.
        lab.fw.set_ip_mtu(INSIDE, 576);
        let mut frags = fragments(&dgram, &[1480, 3980], HOST5_MAC, FW_INSIDE_MAC);
        let mut d2 = frags[0].clone();
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut d2[14..]);
            ip.set_ident(0x4444);
            ip.set_flags_and_offset(true, true, 0);
            ip.fill_checksum();
        }
        frags[0] = d2;
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut frags[1][14..]);
            ip.set_ident(0x4444);
            ip.fill_checksum();
        }
        lab.send(INSIDE, &frags[1]);
        let out = lab.send(INSIDE, &frags[0]);
        let (got, lens) = reassemble_output(&out, INSIDE, HOST5_MAC, FW_INSIDE_MAC, 576);
        assert_eq!(lens, [552, 552, 376, 552, 552, 552, 552, 292]);
        assert_eq!(got[24..], dgram[24..]);
    }

    /// An unfragmented datagram over the egress MTU without DF is fragmented
    /// to the MTU.
    #[test]
    fn oversize_datagram_without_df_is_fragmented() {
        let mut lab = SeedLab::new(&[]);
        let dgram = udp_from_h5(3000, 4);
        let mut frame = vec![0u8; 14];
        frame[..6].copy_from_slice(&FW_INSIDE_MAC.0);
        frame[6..12].copy_from_slice(&HOST5_MAC.0);
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&dgram);
        let out = lab.send(INSIDE, &frame);
        let (got, lens) = reassemble_output(&out, OUTSIDE, ISP_MAC, FW_OUTSIDE_MAC, 1500);
        assert_eq!(lens, [1480, 1480, 40]);
        assert_eq!(got, translated(&dgram, H5_GLOBAL, DNS));
        assert_l4_checksum(&got);
    }

    /// Without `ip virtual-reassembly` an initial fragment is judged by its
    /// headers; if it is over the egress MTU it is cut further, every piece
    /// keeping MF (later fragments of the datagram follow).
    #[test]
    fn initial_fragment_without_vfr_is_cut_keeping_mf() {
        // The seed with `ip virtual-reassembly` on Ethernet2/0 only.
        const VFR: &str = " ip virtual-reassembly\n";
        let at = SEED_CONFIG.rfind(VFR).expect("Ethernet2/1 has VFR");
        let text = format!("{}{}", &SEED_CONFIG[..at], &SEED_CONFIG[at + VFR.len()..]);
        let (cfg, _) = crate::config::Config::load(&text).expect("config loads");
        let mut lab = SeedLab::with_config(cfg);
        let dgram = udp_from_h5(4000, 15);
        let frags = fragments(&dgram, &[1800, 4000], HOST5_MAC, FW_INSIDE_MAC);
        let out = lab.send(INSIDE, &frags[0]);
        assert_eq!(out.len(), 2);
        let pieces: Vec<Out> = out
            .iter()
            .map(|(p, f)| {
                assert_eq!(*p, OUTSIDE);
                check_fragment(f, ISP_MAC, FW_OUTSIDE_MAC, 1500)
            })
            .collect();
        assert_eq!((pieces[0].offset, pieces[0].data.len()), (0, 1480));
        assert_eq!((pieces[1].offset, pieces[1].data.len()), (1480, 320));
        assert!(pieces.iter().all(|p| p.more), "MF kept on every piece");
        assert_eq!(&pieces[0].header[12..16], &H5_GLOBAL.octets());
        assert_eq!(&pieces[1].data[..], &dgram[20 + 1480..20 + 1800]);
        // The non-initial fragment cannot be judged: dropped, counted.
        assert!(lab.send(INSIDE, &frags[1]).is_empty());
        assert_eq!(lab.fw.drops().0[DropReason::Fragment.index()], 1);
    }

    /// Checks an ICMP fragmentation-needed frame: addresses, type/code, the
    /// next-hop MTU, checksums, and that the quote is `sent` (header and first
    /// 8 payload bytes) exactly as the sender sent it.
    fn assert_frag_needed(
        frame: &[u8],
        to_mac: Mac,
        from_mac: Mac,
        from: Ipv4Addr,
        mtu: u16,
        sent: &[u8],
    ) {
        assert_eq!(&frame[..6], &to_mac.0);
        assert_eq!(&frame[6..12], &from_mac.0);
        let (h, rest) = Ipv4Header::from_slice(&frame[14..]).expect("ip");
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(h.protocol.0, 1);
        assert_eq!(Ipv4Addr::from(h.source), from);
        assert_eq!(&h.destination, &sent[12..16], "to the original sender");
        let icmp = &rest[..usize::from(h.total_len) - 20];
        assert_eq!((icmp[0], icmp[1]), (3, 4), "fragmentation needed");
        assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), mtu, "next-hop MTU");
        assert_eq!(checksum::checksum(icmp), 0, "ICMP checksum");
        assert_eq!(&icmp[8..], &sent[..28], "quote as sent");
    }

    /// DF set and larger than the egress MTU: dropped, ICMP 3/4 with the MTU
    /// back to the inside sender quoting its own (untranslated) header; a
    /// second one within the rate limit gets no ICMP.
    #[test]
    fn df_oversize_gets_fragmentation_needed_inside_to_outside() {
        let mut lab = SeedLab::new(&[]);
        let frame = udp(
            HOST5_MAC,
            FW_INSIDE_MAC,
            sa(H5, 40_100),
            sa(DNS, 5353),
            &payload(1600, 5),
        );
        assert_eq!(frame[20] & 0x40, 0x40, "DF");
        let out = lab.send(INSIDE, &frame);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, INSIDE);
        assert_frag_needed(
            &out[0].1,
            HOST5_MAC,
            FW_INSIDE_MAC,
            Ipv4Addr::new(10, 10, 10, 1),
            1500,
            &frame[14..],
        );
        assert_eq!(lab.fw.drops().0[DropReason::TooBig.index()], 1);
        assert!(lab.send(INSIDE, &frame).is_empty(), "rate-limited");
        assert_eq!(lab.fw.drops().0[DropReason::TooBig.index()], 2);
        // A smaller MTU is what the ICMP announces.
        lab.now += 1_000_000_000;
        lab.fw.set_ip_mtu(OUTSIDE, 1400);
        let small = udp(
            HOST5_MAC,
            FW_INSIDE_MAC,
            sa(H5, 40_100),
            sa(DNS, 5353),
            &payload(1450, 6),
        );
        let out = lab.send(INSIDE, &small);
        assert_eq!(out.len(), 1);
        assert_frag_needed(
            &out[0].1,
            HOST5_MAC,
            FW_INSIDE_MAC,
            Ipv4Addr::new(10, 10, 10, 1),
            1400,
            &small[14..],
        );
    }

    /// Opens host5:40200 → C:80 and returns the sequence numbers to continue
    /// with (client next, server next).
    fn tcp_session(lab: &mut SeedLab) -> (u32, u32) {
        let syn = tcp(
            HOST5_MAC,
            FW_INSIDE_MAC,
            sa(H5, 40_200),
            sa(C, 80),
            1000,
            0,
            SYN,
            &[],
        );
        assert_eq!(lab.send(INSIDE, &syn).len(), 1);
        let syn_ack = tcp(
            ISP_MAC,
            FW_OUTSIDE_MAC,
            sa(C, 80),
            sa(H5_GLOBAL, 40_200),
            5000,
            1001,
            SYN | ACK,
            &[],
        );
        assert_eq!(lab.send(OUTSIDE, &syn_ack).len(), 1);
        let ack = tcp(
            HOST5_MAC,
            FW_INSIDE_MAC,
            sa(H5, 40_200),
            sa(C, 80),
            1001,
            5001,
            ACK,
            &[],
        );
        assert_eq!(lab.send(INSIDE, &ack).len(), 1);
        (1001, 5001)
    }

    /// A TCP segment of 4000 bytes through NAT, both ways: fragmented on
    /// arrival, it leaves fragmented along the same boundaries, translated,
    /// with a TCP checksum (in the first fragment) that covers the whole
    /// translated segment.
    #[test]
    fn tcp_segment_through_nat_both_ways() {
        let mut lab = SeedLab::new(&[]);
        let (cseq, sseq) = tcp_session(&mut lab);
        let data = payload(4000 - 20, 7);
        let seg = tcp(
            HOST5_MAC,
            FW_INSIDE_MAC,
            sa(H5, 40_200),
            sa(C, 80),
            cseq,
            sseq,
            ACK | PSH,
            &data,
        );
        let dgram = datagram_of(&seg);
        let ends = [1480, 2960, 4000];
        let frags = fragments(&dgram, &ends, HOST5_MAC, FW_INSIDE_MAC);
        lab.send(INSIDE, &frags[1]);
        lab.send(INSIDE, &frags[2]);
        let out = lab.send(INSIDE, &frags[0]);
        let (got, lens) = reassemble_output(&out, OUTSIDE, ISP_MAC, FW_OUTSIDE_MAC, 1500);
        assert_eq!(lens, lengths(&ends));
        assert_eq!(got, translated(&dgram, H5_GLOBAL, C));
        assert_l4_checksum(&got);

        // The answer: 3000 bytes from C to the global address, in two
        // fragments, reaches host5 translated back.
        let data = payload(3000 - 20, 8);
        let seg = tcp(
            ISP_MAC,
            FW_OUTSIDE_MAC,
            sa(C, 80),
            sa(H5_GLOBAL, 40_200),
            sseq,
            cseq + 3980,
            ACK | PSH,
            &data,
        );
        let dgram = datagram_of(&seg);
        let ends = [1200, 3000];
        let frags = fragments(&dgram, &ends, ISP_MAC, FW_OUTSIDE_MAC);
        lab.send(OUTSIDE, &frags[1]);
        let out = lab.send(OUTSIDE, &frags[0]);
        let (got, lens) = reassemble_output(&out, INSIDE, HOST5_MAC, FW_INSIDE_MAC, 1500);
        // The 1800-byte second piece (a jumbo hop upstream) is cut to 1500.
        assert_eq!(lens, [1200, 1480, 320]);
        assert_eq!(got, translated(&dgram, C, H5));
        assert_l4_checksum(&got);
        assert_eq!(lab.fw.drops().total(), 0);
    }

    /// Outside → inside with DF over the inside MTU: the ICMP goes back out
    /// of the outside interface, from its address, to the upstream router's
    /// MAC, quoting the global destination the sender used.
    #[test]
    fn df_oversize_gets_fragmentation_needed_outside_to_inside() {
        let mut lab = SeedLab::new(&[]);
        let (cseq, sseq) = tcp_session(&mut lab);
        lab.fw.set_ip_mtu(INSIDE, 1280);
        let seg = tcp(
            ISP_MAC,
            FW_OUTSIDE_MAC,
            sa(C, 80),
            sa(H5_GLOBAL, 40_200),
            sseq,
            cseq,
            ACK | PSH,
            &payload(1300, 9),
        );
        let out = lab.send(OUTSIDE, &seg);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, OUTSIDE);
        assert_frag_needed(
            &out[0].1,
            ISP_MAC,
            FW_OUTSIDE_MAC,
            Ipv4Addr::new(172, 22, 1, 16),
            1280,
            &seg[14..],
        );
        assert_eq!(lab.fw.drops().0[DropReason::TooBig.index()], 1);
    }

    /// A reassembled datagram whose first fragment carries DF, with pieces
    /// larger than the egress MTU: fragmentation-needed, nothing forwarded.
    #[test]
    fn df_on_reassembled_datagram_over_mtu() {
        let mut lab = SeedLab::new(&[]);
        lab.fw.set_ip_mtu(OUTSIDE, 1000);
        let dgram = udp_from_h5(3000, 10);
        let mut frags = fragments(&dgram, &[1480, 3000], HOST5_MAC, FW_INSIDE_MAC);
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut frags[0][14..]);
            ip.set_flags_and_offset(true, true, 0);
            ip.fill_checksum();
        }
        lab.send(INSIDE, &frags[1]);
        let out = lab.send(INSIDE, &frags[0]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0, INSIDE);
        let icmp = &out[0].1[34..];
        assert_eq!((icmp[0], icmp[1]), (3, 4));
        assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1000);
        // The quote is the reassembled header as sent: local source, TTL 64.
        assert_eq!(&icmp[8 + 12..8 + 16], &H5.octets());
        assert_eq!(icmp[8 + 8], 64);
    }

    /// Overlapping fragments drop the datagram (counted `vfr_overlap`), an
    /// exact duplicate is dropped alone and the first copy is forwarded.
    #[test]
    fn overlapping_and_duplicate_fragments() {
        let mut lab = SeedLab::new(&[]);
        let dgram = udp_from_h5(3000, 11);
        let frags = fragments(&dgram, &[1000, 2000, 3000], HOST5_MAC, FW_INSIDE_MAC);
        assert!(lab.send(INSIDE, &frags[0]).is_empty());
        // 992..1992 overlaps the first fragment.
        let mut evil = fragments(&dgram, &[992, 1992, 3000], HOST5_MAC, FW_INSIDE_MAC)[1].clone();
        evil[40..60].fill(0xee);
        assert!(lab.send(INSIDE, &evil).is_empty());
        assert!(lab.send(INSIDE, &frags[1]).is_empty());
        assert!(lab.send(INSIDE, &frags[2]).is_empty());
        let d = lab.fw.drops();
        assert_eq!(
            d.0[DropReason::VfrOverlap.index()],
            3,
            "overlap + 2 poisoned"
        );

        // Another datagram (another IP ID: the first one stays poisoned
        // until its timeout): a duplicate of the middle fragment with other
        // bytes; the first copy wins.
        let mut dgram = udp_from_h5(3000, 12);
        dgram[4..6].copy_from_slice(&0x4321u16.to_be_bytes());
        Ipv4Packet::new_unchecked(&mut dgram[..]).fill_checksum();
        let frags = fragments(&dgram, &[1000, 2000, 3000], HOST5_MAC, FW_INSIDE_MAC);
        let mut dup = frags[1].clone();
        dup[34..34 + 1000].fill(0x55);
        assert!(lab.send(INSIDE, &frags[1]).is_empty());
        assert!(lab.send(INSIDE, &dup).is_empty());
        assert!(lab.send(INSIDE, &frags[0]).is_empty());
        let out = lab.send(INSIDE, &frags[2]);
        let (got, _) = reassemble_output(&out, OUTSIDE, ISP_MAC, FW_OUTSIDE_MAC, 1500);
        assert_eq!(got, translated(&dgram, H5_GLOBAL, DNS));
        assert_eq!(lab.fw.drops().0[DropReason::VfrOverlap.index()], 4);
    }

    /// The reassembly table's limits are counted drops with their own names,
    /// and a timed-out datagram counts once.
    #[test]
    fn vfr_limits_are_named_drops() {
        let mut lab = SeedLab::new(&[]);
        for i in 0..17u8 {
            let dgram = udp_from_h5(2000, 20 + i);
            let mut f = fragments(&dgram, &[1000, 2000], HOST5_MAC, FW_INSIDE_MAC)[0].clone();
            f[18..20].copy_from_slice(&[0x40, i]);
            let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
            ip.fill_checksum();
            assert!(lab.send(INSIDE, &f).is_empty());
        }
        assert_eq!(lab.fw.drops().0[DropReason::VfrTableFull.index()], 1);
        // Three seconds later the 16 incomplete datagrams time out.
        lab.now += 3_000_000_000;
        let dgram = udp_from_h5(80, 60);
        let frags = fragments(&dgram, &[8, 80], HOST5_MAC, FW_INSIDE_MAC);
        assert!(lab.send(INSIDE, &frags[0]).is_empty());
        assert_eq!(lab.fw.drops().0[DropReason::VfrTimeout.index()], 16);
        assert_eq!(lab.send(INSIDE, &frags[1]).len(), 2);
        // 33 fragments of 8 bytes: too many.
        let dgram = udp_from_h5(8 * 33, 61);
        let frags = fragments(&dgram, &even_ends(8 * 33, 8), HOST5_MAC, FW_INSIDE_MAC);
        for f in &frags {
            assert!(lab.send(INSIDE, f).is_empty());
        }
        assert_eq!(lab.fw.drops().0[DropReason::VfrTooManyFragments.index()], 1);
        // Each limit is logged: the full table once for its episode, the
        // datagram with too many fragments once (§8.3 texts).
        let logs = lab.logs();
        let vfr: Vec<&String> = logs.iter().filter(|l| l.contains("%IP_VFR")).collect();
        assert_eq!(
            vfr,
            [
                "%IP_VFR-4-FRAG_TABLE_OVERFLOW: Ethernet2/1: the virtual reassembly table is full",
                "%IP_VFR-4-TOO_MANY_FRAGMENTS: Ethernet2/1: Too many fragments per datagram \
                 (more than 32) - sent by 10.10.10.5",
            ],
            "{logs:?}"
        );
    }

    /// Largest datagram: 65535 bytes in 32 fragments of 2048 bytes (a jumbo
    /// ingress) leave cut to the 1500-byte egress MTU.
    #[test]
    fn largest_datagram_is_forwarded() {
        let mut lab = SeedLab::new(&[]);
        let dgram = udp_from_h5(65_535 - 20, 13);
        let ends = even_ends(65_515, 2048);
        assert_eq!(ends.len(), 32);
        let frags = fragments(&dgram, &ends, HOST5_MAC, FW_INSIDE_MAC);
        let mut out = Vec::new();
        for f in &frags {
            out = lab.send(INSIDE, f);
        }
        let (got, lens) = reassemble_output(&out, OUTSIDE, ISP_MAC, FW_OUTSIDE_MAC, 1500);
        assert_eq!(lens.len(), 64, "each 2048-byte piece in two");
        assert_eq!(got.len(), 65_535);
        assert_eq!(got, translated(&dgram, H5_GLOBAL, DNS));
        assert_l4_checksum(&got);
        assert!(out.iter().all(|(_, f)| f.len() <= crate::io::MAX_FRAME));
        let _ = out
            .iter()
            .map(|(_, f)| check_fragment(f, ISP_MAC, FW_OUTSIDE_MAC, 1500).frame_len);
    }

    /// The next hop not yet resolved: the fragments wait in the neighbour
    /// queue and leave, all of them, when the ARP reply arrives.
    #[test]
    fn fragments_wait_for_arp() {
        let mut lab = SeedLab::new(&["ip route 203.0.113.0 255.255.255.0 172.22.1.2"]);
        let web = Ipv4Addr::new(203, 0, 113, 9);
        let frame = udp(
            HOST5_MAC,
            FW_INSIDE_MAC,
            sa(H5, 40_300),
            sa(web, 53),
            &payload(3992, 14),
        );
        let dgram = datagram_of(&frame);
        let ends = [1480, 2960, 4000];
        let frags = fragments(&dgram, &ends, HOST5_MAC, FW_INSIDE_MAC);
        lab.send(INSIDE, &frags[0]);
        lab.send(INSIDE, &frags[1]);
        let out = lab.send(INSIDE, &frags[2]);
        assert_eq!(out.len(), 1, "only the who-has");
        assert_eq!(&out[0].1[12..14], &[0x08, 0x06]);
        let r2 = Mac([2, 0x15, 0, 0, 0, 2]);
        let mut reply = arp_request(
            r2,
            Ipv4Addr::new(172, 22, 1, 2),
            Ipv4Addr::new(172, 22, 1, 16),
        );
        reply[21] = 2; // opcode reply
        reply[..6].copy_from_slice(&FW_OUTSIDE_MAC.0);
        reply[32..38].copy_from_slice(&FW_OUTSIDE_MAC.0);
        let out = lab.send(OUTSIDE, &reply);
        let (got, lens) = reassemble_output(&out, OUTSIDE, r2, FW_OUTSIDE_MAC, 1500);
        assert_eq!(lens, lengths(&ends));
        assert_eq!(got, translated(&dgram, H5_GLOBAL, web));
    }

    /// Two workers on the seed configuration, driven by hand the way
    /// `worker::run_worker` drives them: each frame is received by the worker
    /// its steering hash names, then each worker's handoffs are drained into
    /// the mesh and the receivers process them (handed-over fragments marked)
    /// until nothing moves.
    mod two_workers {
        use std::sync::Arc;

        use super::super::{QUEUE_BYTES, QUEUE_FRAMES};
        use super::*;
        use crate::config::Config;
        use crate::handoff::{mesh, HandoffKind, HandoffLinks, Outlet};
        use crate::io::TxSink;
        use crate::logging::{DebugFlags, LogQueues};
        use crate::pipeline::{Firewall, FirewallSizing};
        use crate::runtime::Runtime;
        use crate::shared::Shared;
        use crate::worker::{OwnerHandoff, Processor};

        pub(super) struct Pair {
            pub fws: Vec<Firewall>,
            links: Vec<HandoffLinks>,
            tx: TxSink,
            now: u64,
            _queues: LogQueues,
            /// Frames each worker received from the wire.
            pub received: [usize; 2],
            /// Frames that crossed as `Reassemble`, and frames refused.
            pub handed: u64,
            pub refused: u64,
        }

        impl Pair {
            pub fn new(ring: usize) -> Pair {
                let (cfg, _) = Config::load(SEED_CONFIG).unwrap();
                let rt = Runtime::build(cfg, crate::sim::seed_ports(), 1).unwrap();
                let debug = Arc::new(DebugFlags::new());
                let now = 1_000_000_000;
                let shared =
                    Arc::new(Shared::new(rt, 2, 4096, now, 0, Arc::clone(&debug)).unwrap());
                let (mut producers, queues) = LogQueues::new(2, 4096, debug);
                let fws = (0..2)
                    .map(|w| {
                        Firewall::new(
                            w,
                            Arc::clone(&shared),
                            producers.remove(0),
                            FirewallSizing::default(),
                            now,
                        )
                        .unwrap()
                    })
                    .collect();
                let mut pair = Pair {
                    fws,
                    links: mesh(2, ring),
                    tx: TxSink::with_capacity(512),
                    now,
                    _queues: queues,
                    received: [0; 2],
                    handed: 0,
                    refused: 0,
                };
                // The neighbour table is shared: one worker learns for both.
                for (port, mac, ip, fw_ip) in [
                    (OUTSIDE, ISP_MAC, [172, 22, 1, 1], [172, 22, 1, 16]),
                    (INSIDE, HOST5_MAC, [10, 10, 10, 5], [10, 10, 10, 1]),
                ] {
                    let mut f = arp_request(mac, ip.into(), fw_ip.into());
                    pair.fws[0].process(now, port, &mut f, &mut pair.tx);
                }
                pair.tx.clear();
                pair
            }

            /// The worker a frame received on `port` is processed by.
            pub fn steer(&self, port: usize, frame: &[u8]) -> usize {
                self.fws[0]
                    .steer(port, frame)
                    .map_or(0, |h| (h % 2) as usize)
            }

            /// Receives `frame` on `port`; returns what left the firewall.
            pub fn send(&mut self, port: usize, frame: &[u8]) -> Vec<(usize, Vec<u8>)> {
                self.tx.clear();
                let w = self.steer(port, frame);
                assert_eq!(
                    self.fws[1 - w].steer(port, frame).map(|h| h % 2),
                    self.fws[w].steer(port, frame).map(|h| h % 2)
                );
                self.received[w] += 1;
                let mut f = frame.to_vec();
                self.fws[w].process(self.now, port, &mut f, &mut self.tx);
                loop {
                    let mut moved = 0;
                    for w in 0..2 {
                        let mut out = Outlet::new(&mut self.links[w].to);
                        self.fws[w].drain_handoffs(&mut out);
                        self.handed += out.handed;
                        self.refused += out.dropped;
                        moved += out.handed;
                    }
                    for w in 0..2 {
                        let (fws, links, tx, now) =
                            (&mut self.fws, &mut self.links, &mut self.tx, self.now);
                        for c in links[w].from.iter_mut() {
                            c.pop_burst_kind(64, |port, kind, frame| {
                                assert_eq!(kind, HandoffKind::Reassemble);
                                fws[w].set_handed_over(true);
                                fws[w].process(now, port, frame, tx);
                                fws[w].set_handed_over(false);
                            });
                        }
                    }
                    if moved == 0 {
                        break;
                    }
                }
                self.tx.iter().map(|(p, f)| (p, f.to_vec())).collect()
            }
        }

        fn with_ident(mut dgram: Vec<u8>, ident: u16) -> Vec<u8> {
            dgram[4..6].copy_from_slice(&ident.to_be_bytes());
            Ipv4Packet::new_unchecked(&mut dgram[..]).fill_checksum();
            dgram
        }

        /// 40 UDP flows of 4000-byte datagrams from 10.10.10.5 and their
        /// 3000-byte answers, fragments in a scrambled order: every datagram
        /// leaves once, translated, whichever worker owns its flow; all the
        /// fragments of one datagram meet on one worker; the flows whose owner
        /// is the other worker cross as `Reassemble` fragments; each session
        /// lives on the owner a whole packet of the flow is steered to, and
        /// the answers find it there.
        #[test]
        fn fragmented_flows_are_processed_by_their_owner() {
            let mut pair = Pair::new(64);
            let rx_before: u64 = pair.fws.iter().map(|f| f.ports[INSIDE].rx_packets).sum();
            let mut crossed = 0;
            let mut owners = [0usize; 2];
            for i in 0..40u16 {
                let sport = 41_000 + i;
                let dgram = with_ident(
                    datagram_of(&udp(
                        HOST5_MAC,
                        FW_INSIDE_MAC,
                        sa(H5, sport),
                        sa(DNS, 5353),
                        &payload(3992, i as u8),
                    )),
                    0x100 + i,
                );
                let whole = udp(HOST5_MAC, FW_INSIDE_MAC, sa(H5, sport), sa(DNS, 5353), b"x");
                let owner = pair.steer(INSIDE, &whole);
                owners[owner] += 1;
                let frags = fragments(&dgram, &[1480, 2960, 4000], HOST5_MAC, FW_INSIDE_MAC);
                let at = pair.steer(INSIDE, &frags[0]);
                assert!(frags.iter().all(|f| pair.steer(INSIDE, f) == at));
                if at != owner {
                    crossed += 1;
                }
                let handed = pair.handed;
                assert!(pair.send(INSIDE, &frags[2]).is_empty());
                assert!(pair.send(INSIDE, &frags[0]).is_empty());
                let out = pair.send(INSIDE, &frags[1]);
                let (got, lens) = reassemble_output(&out, OUTSIDE, ISP_MAC, FW_OUTSIDE_MAC, 1500);
                assert_eq!(lens, [1480, 1480, 1040]);
                assert_eq!(got, translated(&dgram, H5_GLOBAL, DNS));
                assert_eq!(pair.handed - handed, if at == owner { 0 } else { 3 });
                let sessions: Vec<usize> = pair.fws.iter().map(|f| f.session_count()).collect();
                assert_eq!(
                    sessions[owner], owners[owner],
                    "session on the owner {sessions:?}"
                );
                assert_eq!(sessions[1 - owner], owners[1 - owner]);

                // The answer, fragmented, from outside: back to host5.
                let answer = with_ident(
                    datagram_of(&udp(
                        ISP_MAC,
                        FW_OUTSIDE_MAC,
                        sa(DNS, 5353),
                        sa(H5_GLOBAL, sport),
                        &payload(2992, 7),
                    )),
                    0x900 + i,
                );
                let frags = fragments(&answer, &[1200, 3000], ISP_MAC, FW_OUTSIDE_MAC);
                assert!(pair.send(OUTSIDE, &frags[1]).is_empty());
                let out = pair.send(OUTSIDE, &frags[0]);
                let (got, _) = reassemble_output(&out, INSIDE, HOST5_MAC, FW_INSIDE_MAC, 1500);
                assert_eq!(got, translated(&answer, DNS, H5));
            }
            assert!(owners[0] > 5 && owners[1] > 5, "{owners:?}");
            assert!(crossed > 5, "some datagrams crossed: {crossed}");
            assert_eq!(pair.refused, 0);
            for fw in &pair.fws {
                assert_eq!(fw.drops().total(), 0, "{:?}", fw.drops());
            }
            let total: usize = pair.fws.iter().map(|f| f.session_count()).sum();
            assert_eq!(total, 40, "one session per flow, none duplicated");
            // Handed-over fragments are counted once, by the receiving worker.
            let rx: u64 = pair.fws.iter().map(|f| f.ports[INSIDE].rx_packets).sum();
            assert_eq!(rx - rx_before, 40 * 3);
        }

        /// A handed-over datagram is processed where it lands even if this
        /// worker does not think it owns the flow: never handed on.
        #[test]
        fn handed_over_fragments_are_never_handed_on() {
            let mut pair = Pair::new(64);
            let mut sport = 42_000;
            let dgram = loop {
                let whole = udp(HOST5_MAC, FW_INSIDE_MAC, sa(H5, sport), sa(DNS, 53), b"x");
                if pair.steer(INSIDE, &whole) == 0 {
                    break datagram_of(&udp(
                        HOST5_MAC,
                        FW_INSIDE_MAC,
                        sa(H5, sport),
                        sa(DNS, 53),
                        &payload(1992, 3),
                    ));
                }
                sport += 1;
            };
            let frags = fragments(&dgram, &[1000, 2000], HOST5_MAC, FW_INSIDE_MAC);
            let mut tx = TxSink::with_capacity(64);
            let fw = &mut pair.fws[1];
            fw.set_handed_over(true);
            for f in &frags {
                fw.process(pair.now, INSIDE, &mut f.clone(), &mut tx);
            }
            fw.set_handed_over(false);
            let mut out = Outlet::new(&mut pair.links[1].to);
            fw.drain_handoffs(&mut out);
            assert_eq!(out.handed + out.dropped, 0, "nothing queued");
            assert_eq!(tx.len(), 2, "forwarded by worker 1 itself");
            assert_eq!(fw.session_count(), 1);
        }

        /// A ring toward the owner without room for all the fragments: the
        /// datagram is refused whole (counted), nothing half-delivered.
        #[test]
        fn full_ring_refuses_the_whole_datagram() {
            let mut pair = Pair::new(2);
            let mut sport = 43_000;
            loop {
                let whole = udp(HOST5_MAC, FW_INSIDE_MAC, sa(H5, sport), sa(DNS, 53), b"x");
                let dgram = datagram_of(&udp(
                    HOST5_MAC,
                    FW_INSIDE_MAC,
                    sa(H5, sport),
                    sa(DNS, 53),
                    &payload(3992, 4),
                ));
                let frags = fragments(&dgram, &[1480, 2960, 4000], HOST5_MAC, FW_INSIDE_MAC);
                if pair.steer(INSIDE, &whole) != pair.steer(INSIDE, &frags[0]) {
                    for f in &frags {
                        assert!(pair.send(INSIDE, f).is_empty());
                    }
                    break;
                }
                sport += 1;
            }
            assert_eq!((pair.handed, pair.refused), (0, 3));
            assert_eq!(pair.fws.iter().map(|f| f.session_count()).sum::<usize>(), 0);
        }

        /// The queue toward other workers is bounded: datagrams beyond it are
        /// counted drops (`handoff_full`), and it empties on every drain.
        #[test]
        fn queue_overflow_is_a_counted_drop() {
            let mut pair = Pair::new(1024);
            let at = pair.steer(
                INSIDE,
                &fragments(
                    &udp_from_h5(4000, 0),
                    &[1480, 4000],
                    HOST5_MAC,
                    FW_INSIDE_MAC,
                )[0],
            );
            let mut tx = TxSink::with_capacity(64);
            let mut queued = 0;
            let mut sport = 44_000u16;
            // 70 datagrams of 3 fragments for the other worker, without a drain.
            while queued < 70 {
                let whole = udp(HOST5_MAC, FW_INSIDE_MAC, sa(H5, sport), sa(DNS, 53), b"x");
                if pair.steer(INSIDE, &whole) != at {
                    let dgram = with_ident(
                        datagram_of(&udp(
                            HOST5_MAC,
                            FW_INSIDE_MAC,
                            sa(H5, sport),
                            sa(DNS, 53),
                            &payload(3992, 5),
                        )),
                        sport,
                    );
                    for f in fragments(&dgram, &[1480, 2960, 4000], HOST5_MAC, FW_INSIDE_MAC) {
                        pair.fws[at].process(pair.now, INSIDE, &mut f.clone(), &mut tx);
                    }
                    queued += 1;
                }
                sport += 1;
            }
            // Each datagram takes 1514 + 1514 + 1074 bytes of the queue;
            // what does not fit is refused.
            let fit = (QUEUE_BYTES / (1514 + 1514 + 1074)).min(QUEUE_FRAMES / 3);
            assert!(fit < 70);
            let dropped = pair.fws[at].drops().0[DropReason::HandoffFull.index()];
            assert_eq!(dropped, 70 - fit as u64);
            let mut out = Outlet::new(&mut pair.links[at].to);
            pair.fws[at].drain_handoffs(&mut out);
            assert_eq!((out.handed, out.dropped), (fit as u64 * 3, 0));
            assert!(pair.fws[at].refrag.handoff.is_empty());
            assert!(tx.is_empty());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]
        /// Random datagrams cut at random 8-byte boundaries, offered in a
        /// random order, through a random egress MTU: the output reassembles
        /// to the NAT-translated input, every fragment fits the MTU and no
        /// output fragment crosses an arrival boundary.
        #[test]
        fn random_fragmentations_reassemble_to_the_translated_datagram(
            len in 16usize..9000,
            cuts in proptest::collection::vec(1usize..300, 1..20),
            mtu in 68u16..2034,
            seed in any::<u64>(),
        ) {
            let mut ends = Vec::new();
            let mut at = 0;
            for c in cuts {
                at += c * 8;
                if at >= len {
                    break;
                }
                ends.push(at);
            }
            ends.push(len);
            prop_assume!(ends.len() >= 2);
            let mut lab = SeedLab::new(&[]);
            lab.fw.set_ip_mtu(OUTSIDE, mtu);
            let dgram = udp_from_h5(len, (seed & 0xff) as u8);
            let frags = fragments(&dgram, &ends, HOST5_MAC, FW_INSIDE_MAC);
            let mut order: Vec<usize> = (0..frags.len()).collect();
            let mut s = seed;
            for i in (1..order.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut out = Vec::new();
            for (k, &i) in order.iter().enumerate() {
                let o = lab.send(INSIDE, &frags[i]);
                if k + 1 < order.len() {
                    prop_assert!(o.is_empty());
                } else {
                    out = o;
                }
            }
            let (got, lens) =
                reassemble_output(&out, OUTSIDE, ISP_MAC, FW_OUTSIDE_MAC, usize::from(mtu));
            prop_assert_eq!(&got, &translated(&dgram, H5_GLOBAL, DNS));
            let mut pos = 0;
            for l in lens {
                let inside = ends.iter().all(|&e| e <= pos || e >= pos + l);
                prop_assert!(inside);
                pos += l;
            }
        }
    }
}
