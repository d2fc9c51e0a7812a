//! IPv4 fragmentation on egress (RFC 791 §3.2, RFC 1812 §4.2.2.7 and §5.2.6).
//!
//! Why here, apart from the pipeline: cutting a datagram into fragments is pure header
//! arithmetic that deserves its own tests (8-byte boundaries, option copying, the MF bit of
//! a datagram that was itself a fragment), and the egress stage (`pipeline/transmit.rs`)
//! only has to decide *whether* to fragment and where the bytes go.
//!
//! * [`Pieces`] plans the fragments of a payload: along given boundaries (the fragment
//!   layout a virtually reassembled datagram arrived with, so the firewall forwards what
//!   the sender sent, as IOS VFR does), each boundary piece split further on 8-byte
//!   multiples where it does not fit the egress MTU.
//! * [`later_header`] builds the header of non-initial fragments: the fixed 20 bytes plus
//!   only the options whose *copied* flag is set (RFC 791 §3.1), padded with EOL.
//! * [`write_fragment`] writes one fragment frame (Ethernet header, IP header with total
//!   length, MF/offset and checksum, payload slice, padding to the 60-byte minimum).
//! * [`quote_as_sent`] turns the header of a datagram the pipeline already rewrote (NAT,
//!   TTL) back into what its sender sent, for the quote of an ICMP fragmentation-needed
//!   error (`config-and-nat.md` §4.3: the sender must recognise its own datagram, or path
//!   MTU discovery through NAT breaks).
//!
//! Nothing allocates; every writer takes a caller buffer and checks its length.

use std::net::Ipv4Addr;

use super::checksum;
use super::ethernet::{self, Mac};
use super::ipv4::{self, protocol, Ipv4Packet};
use super::udp;

/// Smallest MTU every IPv4 link must carry (RFC 791: a 60-byte header and 8 data bytes).
pub const MIN_MTU: usize = 68;
/// Largest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Shortest Ethernet frame sent (without FCS); shorter fragments are zero-padded.
pub const MIN_FRAME_LEN: usize = 60;

/// Why a fragment could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// The output buffer is shorter than the fragment frame.
    #[error("buffer too small for the fragment")]
    BufferTooSmall,
    /// The header template is not a valid IPv4 header length.
    #[error("bad header template")]
    BadHeader,
    /// Offset beyond 65528 or not a multiple of 8.
    #[error("bad fragment offset")]
    BadOffset,
}

/// One planned fragment: `len` payload bytes from payload offset `offset` (relative to the
/// payload of the datagram being fragmented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Offset in the payload (a multiple of 8).
    pub offset: usize,
    /// Payload bytes.
    pub len: usize,
}

impl Piece {
    /// End offset.
    pub fn end(&self) -> usize {
        self.offset + self.len
    }
}

/// Payload bytes a fragment with a `header_len`-byte header may carry on an `mtu`-byte link
/// (rounded down to 8; 0 if not even 8 bytes fit).
pub fn room(mtu: usize, header_len: usize) -> usize {
    mtu.saturating_sub(header_len) & !7
}

/// The fragments of a payload, in offset order: each boundary piece `[ends[i-1], ends[i])`
/// (the first starts at 0) cut into chunks of at most `first_room` bytes (the piece at
/// offset 0, which carries the full header) or `later_room` bytes (the others). Empty
/// boundary pieces are skipped. Rooms must be multiples of 8 and at least 8, and every
/// boundary but the last a multiple of 8, so every chunk but the last starts and ends on
/// an 8-byte boundary.
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    ends: &'a [u32],
    idx: usize,
    pos: usize,
    first_room: usize,
    later_room: usize,
}

impl<'a> Pieces<'a> {
    /// Plans along `ends` (sorted, increasing; the last is the payload length).
    pub fn new(ends: &'a [u32], first_room: usize, later_room: usize) -> Self {
        Pieces {
            ends,
            idx: 0,
            pos: 0,
            first_room: first_room.max(8),
            later_room: later_room.max(8),
        }
    }

    /// The largest chunk any piece gets: whether a boundary piece does not fit as is.
    pub fn splits(&self) -> bool {
        let mut start = 0usize;
        for &e in self.ends {
            let e = e as usize;
            let room = if start == 0 {
                self.first_room
            } else {
                self.later_room
            };
            if e > start && e - start > room {
                return true;
            }
            start = start.max(e);
        }
        false
    }
}

impl Iterator for Pieces<'_> {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        loop {
            let end = *self.ends.get(self.idx)? as usize;
            if end <= self.pos {
                self.idx += 1;
                continue;
            }
            let room = if self.pos == 0 {
                self.first_room
            } else {
                self.later_room
            };
            let len = (end - self.pos).min(room);
            let piece = Piece {
                offset: self.pos,
                len,
            };
            self.pos += len;
            if self.pos == end {
                self.idx += 1;
            }
            return Some(piece);
        }
    }
}

/// Writes into `out` the header of the non-initial fragments of a datagram whose first
/// header is `first` (20–60 bytes): the fixed part and the options with the copied flag
/// (type bit 0x80), padded with end-of-option-list to a multiple of 4; the IHL is set, the
/// other fields are left for [`write_fragment`]. Returns the new header length. A
/// malformed option list ends the copy at the malformed option.
pub fn later_header(first: &[u8], out: &mut [u8; MAX_HEADER_LEN]) -> usize {
    let hl = first.len().clamp(ipv4::MIN_HEADER_LEN, MAX_HEADER_LEN);
    if first.len() < ipv4::MIN_HEADER_LEN {
        out[..first.len()].copy_from_slice(first);
        return ipv4::MIN_HEADER_LEN;
    }
    out[..ipv4::MIN_HEADER_LEN].copy_from_slice(&first[..ipv4::MIN_HEADER_LEN]);
    let options = &first[ipv4::MIN_HEADER_LEN..hl];
    let mut n = ipv4::MIN_HEADER_LEN;
    let mut i = 0;
    while i < options.len() {
        let kind = options[i];
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let Some(&len) = options.get(i + 1) else {
                    break;
                };
                let len = usize::from(len);
                if len < 2 || i + len > options.len() {
                    break;
                }
                if kind & 0x80 != 0 {
                    out[n..n + len].copy_from_slice(&options[i..i + len]);
                    n += len;
                }
                i += len;
            }
        }
    }
    while !n.is_multiple_of(4) {
        out[n] = 0;
        n += 1;
    }
    Ipv4Packet::new_unchecked(&mut out[..n]).set_version_and_header_len(n);
    n
}

/// The frame length of a fragment with a `header_len`-byte header and `payload` bytes.
pub fn frame_len(header_len: usize, payload: usize) -> usize {
    (ethernet::HEADER_LEN + header_len + payload).max(MIN_FRAME_LEN)
}

/// Addresses and flags of one fragment frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentSpec {
    /// Ethernet destination.
    pub dst_mac: Mac,
    /// Ethernet source.
    pub src_mac: Mac,
    /// Fragment offset in bytes (absolute, a multiple of 8).
    pub offset: usize,
    /// More-fragments flag.
    pub more: bool,
    /// Don't-fragment flag (kept from the datagram).
    pub dont_fragment: bool,
}

/// Writes one fragment frame into `out`: Ethernet header, `header` (a whole IPv4 header
/// whose IHL matches its length: addresses, TTL, ident and options are taken as they are)
/// with total length, flags, offset and checksum set, then `payload`, then zero padding to
/// [`MIN_FRAME_LEN`]. Returns the frame length ([`frame_len`]).
pub fn write_fragment(
    out: &mut [u8],
    spec: &FragmentSpec,
    header: &[u8],
    payload: &[u8],
) -> Result<usize, FragmentError> {
    let hl = header.len();
    if !(ipv4::MIN_HEADER_LEN..=MAX_HEADER_LEN).contains(&hl) || !hl.is_multiple_of(4) {
        return Err(FragmentError::BadHeader);
    }
    if !spec.offset.is_multiple_of(8) || spec.offset > 0x1fff * 8 {
        return Err(FragmentError::BadOffset);
    }
    let total = hl + payload.len();
    if total > usize::from(u16::MAX) {
        return Err(FragmentError::BadHeader);
    }
    let len = frame_len(hl, payload.len());
    if out.len() < len {
        return Err(FragmentError::BufferTooSmall);
    }
    ethernet::write_header(out, spec.dst_mac, spec.src_mac, ethernet::ethertype::IPV4);
    let ip_start = ethernet::HEADER_LEN;
    let data_start = ip_start + hl;
    out[ip_start..data_start].copy_from_slice(header);
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut out[ip_start..data_start]);
        ip.set_version_and_header_len(hl);
        ip.set_total_len(total as u16);
        ip.set_flags_and_offset(spec.dont_fragment, spec.more, spec.offset as u16);
        ip.fill_checksum();
    }
    out[data_start..data_start + payload.len()].copy_from_slice(payload);
    out[data_start + payload.len()..len].fill(0);
    Ok(len)
}

/// Restores, in `quote` (an IPv4 header followed by at least the first bytes of its
/// payload, as an ICMP error quotes it), the addresses and TTL the datagram had when its
/// sender sent it: source `src`, destination `dst`, TTL + `hops`. The header checksum is
/// recomputed and a quoted UDP checksum adjusted for the pseudo-header change (a zero UDP
/// checksum stays zero; the TCP checksum lies beyond the 8 quoted bytes). Does nothing on a
/// quote shorter than its header.
pub fn quote_as_sent(quote: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, hops: u8) {
    let Ok(mut ip) = Ipv4Packet::new_header_checked(&mut *quote) else {
        return;
    };
    let hl = ip.header_len();
    let (old_src, old_dst) = (ip.src_addr(), ip.dst_addr());
    let first_fragment = ip.frag_offset() == 0;
    let proto = ip.protocol();
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    let ttl = ip.ttl().saturating_add(hops);
    ip.set_ttl(ttl);
    ip.fill_checksum();
    let at = hl + udp::CHECKSUM_OFFSET;
    if proto == protocol::UDP && first_fragment && quote.len() >= at + 2 {
        let mut c = u16::from_be_bytes([quote[at], quote[at + 1]]);
        c = checksum::update_udp_addr(c, old_src, src);
        c = checksum::update_udp_addr(c, old_dst, dst);
        quote[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use etherparse::{Ipv4Header, NetHeaders, PacketHeaders};
    use proptest::prelude::*;

    use super::*;

    const A: Mac = Mac([2, 0, 0, 0, 0, 1]);
    const B: Mac = Mac([2, 0, 0, 0, 0, 2]);

    fn header(options: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 20];
        h.extend_from_slice(options);
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut h[..]);
            ip.set_version_and_header_len(20 + options.len());
            ip.set_ident(0xbeef);
            ip.set_ttl(63);
            ip.set_protocol(17);
            ip.set_src_addr(Ipv4Addr::new(172, 22, 1, 111));
            ip.set_dst_addr(Ipv4Addr::new(198, 51, 100, 7));
        }
        h
    }

    #[test]
    fn pieces_follow_boundaries_and_split_on_eight() {
        // 4000 payload bytes arrived as 1480 + 1480 + 1040.
        let ends = [1480, 2960, 4000];
        let all: Vec<_> = Pieces::new(&ends, room(1500, 20), room(1500, 20)).collect();
        assert_eq!(
            all,
            [
                Piece {
                    offset: 0,
                    len: 1480
                },
                Piece {
                    offset: 1480,
                    len: 1480
                },
                Piece {
                    offset: 2960,
                    len: 1040
                }
            ]
        );
        assert!(!Pieces::new(&ends, 1480, 1480).splits());
        // A 576-byte MTU: 556 → 552 bytes per piece, each boundary piece split alone.
        let small: Vec<_> = Pieces::new(&ends, room(576, 20), room(576, 20)).collect();
        assert!(Pieces::new(&ends, 552, 552).splits());
        let lens: Vec<_> = small.iter().map(|p| (p.offset, p.len)).collect();
        assert_eq!(
            lens,
            [
                (0, 552),
                (552, 552),
                (1104, 376),
                (1480, 552),
                (2032, 552),
                (2584, 376),
                (2960, 552),
                (3512, 488)
            ]
        );
        // Empty pieces (a zero-length last fragment) are skipped.
        let ends = [16, 24, 24];
        let all: Vec<_> = Pieces::new(&ends, 8, 8).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[2].end(), 24);
        assert_eq!(Pieces::new(&[], 8, 8).count(), 0);
    }

    #[test]
    fn room_rounds_down_to_eight() {
        assert_eq!(room(1500, 20), 1480);
        assert_eq!(room(1500, 24), 1472);
        assert_eq!(room(68, 60), 8);
        assert_eq!(room(67, 60), 0);
        assert_eq!(room(10, 20), 0);
    }

    #[test]
    fn later_header_keeps_copied_options_only() {
        // Record route (7, not copied, len 7), NOP, security (130, copied, len 11), LSRR
        // (131, copied, len 3 + 4), then EOL padding.
        let mut opts = vec![7, 7, 4, 0, 0, 0, 0, 1, 130, 11, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        opts.extend_from_slice(&[131, 7, 4, 10, 0, 0, 1, 0]);
        assert_eq!(opts.len() % 4, 3);
        opts.push(0);
        let first = header(&opts);
        let mut out = [0xffu8; MAX_HEADER_LEN];
        let n = later_header(&first, &mut out);
        assert_eq!(n, 20 + 20);
        assert_eq!(&out[..20][1..], &first[1..20]);
        assert_eq!(out[0], 0x4a);
        assert_eq!(&out[20..31], &opts[8..19]);
        assert_eq!(&out[31..38], &opts[19..26]);
        assert_eq!(&out[38..40], &[0, 0]);
        // No options, or none copied.
        assert_eq!(later_header(&header(&[]), &mut out), 20);
        assert_eq!(out[0], 0x45);
        assert_eq!(later_header(&header(&[7, 3, 4, 0]), &mut out), 20);
        // Malformed length: copying stops there.
        assert_eq!(later_header(&header(&[130, 1, 0, 0]), &mut out), 20);
        assert_eq!(later_header(&header(&[130, 9, 0, 0]), &mut out), 20);
    }

    #[test]
    fn write_fragment_sets_fields_and_checksum() {
        let h = header(&[]);
        let payload = [0x11u8; 16];
        let mut out = [0u8; 128];
        let spec = FragmentSpec {
            dst_mac: A,
            src_mac: B,
            offset: 1480,
            more: true,
            dont_fragment: false,
        };
        let n = write_fragment(&mut out, &spec, &h, &payload).unwrap();
        assert_eq!(n, 60);
        let (ip, rest) = Ipv4Header::from_slice(&out[14..n]).unwrap();
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        assert_eq!(ip.fragment_offset.value(), 1480 / 8);
        assert!(ip.more_fragments && !ip.dont_fragment);
        assert_eq!(ip.total_len, 36);
        assert_eq!(ip.identification, 0xbeef);
        assert_eq!(&rest[..16], &payload);
        assert!(out[50..60].iter().all(|&b| b == 0), "zero padding");
        let p = PacketHeaders::from_ethernet_slice(&out[..n]).unwrap();
        assert!(matches!(p.net, Some(NetHeaders::Ipv4(..))));
        assert_eq!(&out[..6], &A.0);
        // Errors, never panics.
        assert_eq!(
            write_fragment(&mut out[..40], &spec, &h, &payload),
            Err(FragmentError::BufferTooSmall)
        );
        let odd = FragmentSpec { offset: 3, ..spec };
        assert_eq!(
            write_fragment(&mut out, &odd, &h, &payload),
            Err(FragmentError::BadOffset)
        );
        assert_eq!(
            write_fragment(&mut out, &spec, &h[..18], &payload),
            Err(FragmentError::BadHeader)
        );
    }

    #[test]
    fn quote_as_sent_restores_addresses_ttl_and_checksums() {
        // A UDP datagram 10.10.10.5:5000 → 198.51.100.7:53 as sent (TTL 64) ...
        let mut sent = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 10, 10, 5], [198, 51, 100, 7], 64)
            .udp(5000, 53)
            .write(&mut sent, &[7u8; 40])
            .unwrap();
        // ... and after NAT (source 172.22.1.111) and the TTL step, with the UDP checksum
        // updated incrementally as the pipeline does.
        let mut forwarded = sent.clone();
        let mut c = u16::from_be_bytes([forwarded[26], forwarded[27]]);
        c = checksum::update_udp_addr(
            c,
            Ipv4Addr::new(10, 10, 10, 5),
            Ipv4Addr::new(172, 22, 1, 111),
        );
        forwarded[26..28].copy_from_slice(&c.to_be_bytes());
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut forwarded[..]);
            ip.rewrite_src_addr(Ipv4Addr::new(172, 22, 1, 111));
            ip.decrement_ttl();
        }
        assert_ne!(forwarded[..28], sent[..28]);
        let mut quote = forwarded[..28].to_vec();
        quote_as_sent(
            &mut quote,
            Ipv4Addr::new(10, 10, 10, 5),
            Ipv4Addr::new(198, 51, 100, 7),
            1,
        );
        assert_eq!(quote[..], sent[..28]);
        // A truncated quote is left alone.
        let mut short = forwarded[..12].to_vec();
        quote_as_sent(&mut short, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1);
        assert_eq!(short[..], forwarded[..12]);
    }

    proptest! {
        /// Any payload length, boundaries and MTU: the pieces tile the payload exactly, in
        /// order, each fits its room, every piece but the last is a multiple of 8 long, and
        /// no piece crosses a boundary.
        #[test]
        fn pieces_tile_the_payload(
            cuts in proptest::collection::vec(1u32..400, 0..12),
            tail in 0u32..2000,
            mtu in MIN_MTU..2100,
            hl4 in 5usize..16,
        ) {
            let mut ends = Vec::new();
            let mut at = 0u32;
            for c in cuts {
                at += c * 8;
                ends.push(at);
            }
            ends.push(at + tail);
            let hl = hl4 * 4;
            let first = room(mtu, hl);
            let later = room(mtu, 20);
            prop_assume!(first >= 8);
            let pieces: Vec<_> = Pieces::new(&ends, first, later).collect();
            let mut pos = 0;
            for (i, p) in pieces.iter().enumerate() {
                prop_assert_eq!(p.offset, pos);
                prop_assert!(p.len > 0);
                let limit = if p.offset == 0 { first } else { later };
                prop_assert!(p.len <= limit);
                if i + 1 < pieces.len() {
                    prop_assert_eq!(p.len % 8, 0);
                }
                let inside = ends.iter().all(|&e| (e as usize) <= p.offset || (e as usize) >= p.end());
                prop_assert!(inside);
                pos = p.end();
            }
            prop_assert_eq!(pos, *ends.last().unwrap() as usize);
        }
    }
}
