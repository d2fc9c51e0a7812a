//! The short parse of the established-flow fast path.
//!
//! Most packets a firewall forwards belong to a live TCP or UDP session and carry nothing
//! the session path must judge specially: a TCP segment with ACK and without SYN, FIN or
//! RST, or a UDP datagram, in an unfragmented IPv4 datagram without options.
//! [`parse_established`] recognises exactly those frames at fixed offsets and returns the
//! same [`Ipv4Info`] that [`parse_frame_with`](super::frame::parse_frame_with) with
//! [`ChecksumPolicy::TrustL4`](super::frame::ChecksumPolicy::TrustL4) would return (the
//! property test below holds it to that); every other frame gives `None`, and the caller
//! takes the full parse. Nothing is rejected here: `None` never means "drop".
//!
//! The burst fast path uses the same parse in its compact form ([`parse_forwardable`],
//! a small `Copy` [`Forwardable`]), re-reads the TCP fields it needs from the frame
//! ([`segment_fields`]) instead of carrying them through a burst, and forwards the frame in
//! place with [`forward_in_place`] (TTL step and static translation, both checksums updated
//! incrementally, bit-identical to `nat.rs` plus the TTL decrement).
//!
//! Checksums: the IPv4 header checksum is verified (RFC 1812 §5.2.2: a router must not
//! forward a datagram whose header checksum is wrong); the transport checksum is *not*.
//! The pipeline decides where it must be (see `pipeline/session_path.rs`,
//! `forward_established`): segments that change session state (SYN, FIN, RST), segments of
//! SMTP-inspected sessions and the first packets of a flow never take this path, so they
//! keep the full verification of [`parse_frame`](super::frame::parse_frame).

use std::net::Ipv4Addr;

use super::checksum;
use super::ethernet::{self, Mac};
use super::frame::{Ipv4Info, TcpInfo, UdpInfo, L4};
use super::ipv4::protocol;
use super::tcp::{SeqNumber, TcpFlags, TcpOptions};

/// Offset of the IPv4 header (untagged Ethernet).
pub const L3_OFFSET: usize = ethernet::HEADER_LEN;
const L3: usize = L3_OFFSET;
/// IPv4 header without options.
const IP_HEADER_LEN: usize = 20;
/// Offset of the transport header.
pub const L4_OFFSET: usize = L3 + IP_HEADER_LEN;
/// Version 4, IHL 5.
const VER_IHL_NO_OPTIONS: u8 = 0x45;
/// Flags and fragment offset: MF and the offset (DF and the reserved bit pass).
const MF_AND_OFFSET: u16 = 0x3fff;
const DF: u16 = 0x4000;
/// SYN, FIN and RST: segments that change the session's state.
const STATE_FLAGS: u8 = TcpFlags::SYN.0 | TcpFlags::FIN.0 | TcpFlags::RST.0;

/// The transport part of a [`Forwardable`] frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardableL4 {
    /// A TCP segment with ACK and without SYN, FIN or RST.
    Tcp {
        /// Sequence number.
        seq: u32,
        /// Acknowledgement number.
        ack: u32,
        /// Flags (ACK set; SYN, FIN and RST clear).
        flags: u8,
        /// Window field (unscaled).
        window: u16,
        /// Header length (options included), 20–60.
        header_len: u8,
    },
    /// A UDP datagram.
    Udp {
        /// Whether the checksum field is non-zero.
        has_checksum: bool,
    },
}

/// What the burst fast path needs of a frame [`parse_forwardable`] accepted: the
/// fields of [`Ipv4Info`] that can vary on such a frame (every offset is fixed), without
/// `Ipv4Info`'s general layout (ICMP, options, fragments), so that the burst loop keeps
/// it in registers. [`Forwardable::ipv4_info`] gives the general summary back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwardable {
    /// Destination MAC of the frame.
    pub dst_mac: Mac,
    /// Protocol number (TCP or UDP).
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// IPv4 total length (the datagram ends at `L3_OFFSET + total_len`).
    pub total_len: u16,
    /// Identification.
    pub ident: u16,
    /// Transport payload length (TCP: after the header; UDP: the length field − 8).
    pub payload_len: u16,
    /// Don't-fragment flag.
    pub dont_fragment: bool,
    /// Transport fields.
    pub l4: ForwardableL4,
}

impl Forwardable {
    /// End of the datagram in the frame (Ethernet padding excluded).
    #[inline]
    pub fn end(&self) -> usize {
        L3 + usize::from(self.total_len)
    }

    /// The same summary as [`parse_frame_with`](super::frame::parse_frame_with) with
    /// [`ChecksumPolicy::TrustL4`](super::frame::ChecksumPolicy::TrustL4) gives for
    /// the frame (the property tests below hold it to that).
    #[inline]
    pub fn ipv4_info(&self) -> Ipv4Info {
        let total_len = usize::from(self.total_len);
        let l4 = match self.l4 {
            ForwardableL4::Tcp {
                seq,
                ack,
                flags,
                window,
                header_len,
            } => L4::Tcp(TcpInfo {
                src_port: self.src_port,
                dst_port: self.dst_port,
                seq: SeqNumber(seq),
                ack: SeqNumber(ack),
                flags: TcpFlags(flags),
                window,
                header_len: usize::from(header_len),
                options: TcpOptions::default(),
                payload_offset: L4_OFFSET + usize::from(header_len),
                payload_len: usize::from(self.payload_len),
            }),
            ForwardableL4::Udp { has_checksum } => L4::Udp(UdpInfo {
                src_port: self.src_port,
                dst_port: self.dst_port,
                has_checksum,
                payload_offset: L4_OFFSET + 8,
                payload_len: usize::from(self.payload_len),
            }),
        };
        Ipv4Info {
            l3_offset: L3,
            header_len: IP_HEADER_LEN,
            total_len,
            src: self.src,
            dst: self.dst,
            protocol: self.protocol,
            ttl: self.ttl,
            ident: self.ident,
            dont_fragment: self.dont_fragment,
            more_fragments: false,
            frag_offset: 0,
            l4_offset: L4_OFFSET,
            l4,
        }
    }
}

/// Parses a frame that may take the established fast path: destination MAC and the
/// datagram summary, or `None` when the frame needs the full parse.
#[inline]
pub fn parse_established(frame: &[u8]) -> Option<(Mac, Ipv4Info)> {
    let f = parse_forwardable(frame)?;
    Some((f.dst_mac, f.ipv4_info()))
}

/// [`parse_established`] in the compact form of the burst fast path.
#[inline]
pub fn parse_forwardable(frame: &[u8]) -> Option<Forwardable> {
    let h: &[u8; L4_OFFSET] = frame.get(..L4_OFFSET)?.try_into().ok()?;
    if h[12..14] != ethernet::ethertype::IPV4.to_be_bytes() || h[L3] != VER_IHL_NO_OPTIONS {
        return None;
    }
    let total_len = u16::from_be_bytes([h[L3 + 2], h[L3 + 3]]);
    let flags_offset = u16::from_be_bytes([h[L3 + 6], h[L3 + 7]]);
    if usize::from(total_len) < IP_HEADER_LEN
        || usize::from(total_len) > frame.len() - L3
        || flags_offset & MF_AND_OFFSET != 0
    {
        return None;
    }
    let seg = &frame[L4_OFFSET..L3 + usize::from(total_len)];
    let proto = h[L3 + 9];
    let (src_port, dst_port, payload_len, l4) = match proto {
        protocol::TCP => tcp(seg)?,
        protocol::UDP => udp(seg)?,
        _ => return None,
    };
    // Last, so that a SYN, FIN or RST is turned away before the sum.
    if checksum::header_sum20(&ip_header(h)) != 0xffff {
        return None;
    }
    Some(Forwardable {
        dst_mac: Mac([h[0], h[1], h[2], h[3], h[4], h[5]]),
        protocol: proto,
        ttl: h[L3 + 8],
        src: Ipv4Addr::new(h[L3 + 12], h[L3 + 13], h[L3 + 14], h[L3 + 15]),
        dst: Ipv4Addr::new(h[L3 + 16], h[L3 + 17], h[L3 + 18], h[L3 + 19]),
        src_port,
        dst_port,
        total_len,
        ident: u16::from_be_bytes([h[L3 + 4], h[L3 + 5]]),
        payload_len,
        dont_fragment: flags_offset & DF != 0,
        l4,
    })
}

/// Which address of the IPv4 header a static translation rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    /// None: the datagram is forwarded untranslated.
    None,
    /// The source address becomes this one.
    Source(Ipv4Addr),
    /// The destination address becomes this one.
    Destination(Ipv4Addr),
}

/// The TCP fields window tracking reads, at their fixed offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentFields {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags.
    pub flags: u8,
    /// Window field (unscaled).
    pub window: u16,
}

/// End of a TCP header without options in a [`Forwardable`] frame.
const TCP_FIXED_END: usize = L4_OFFSET + 20;

/// The [`SegmentFields`] of a frame [`parse_forwardable`] accepted as TCP, read again
/// from the frame (cheaper than carrying them through a burst); `None` only for a frame
/// too short to hold a TCP header at [`L4_OFFSET`].
#[inline]
pub fn segment_fields(frame: &[u8]) -> Option<SegmentFields> {
    let h: &[u8; TCP_FIXED_END] = frame.get(..TCP_FIXED_END)?.try_into().ok()?;
    let t = L4_OFFSET;
    Some(SegmentFields {
        seq: u32::from_be_bytes([h[t + 4], h[t + 5], h[t + 6], h[t + 7]]),
        ack: u32::from_be_bytes([h[t + 8], h[t + 9], h[t + 10], h[t + 11]]),
        flags: h[t + 13],
        window: u16::from_be_bytes([h[t + 14], h[t + 15]]),
    })
}

/// Forwards a frame [`parse_forwardable`] accepted, in place: the TTL step and the
/// translation in one incremental update of the IPv4 header checksum, and the
/// transport checksum fixed for the address change (RFC 1624; a UDP checksum of 0
/// means "none" and stays 0, a computed 0 is sent as `0xffff`, RFC 768). The result is
/// bit-identical to the translation of `nat.rs` followed by
/// [`Ipv4Info::decrement_ttl`]: ones'-complement updates commute, and a sum with a
/// non-zero operand has one representation (an address rewritten to itself is left
/// out of the sum, as `nat.rs` leaves it untouched; the property test below holds the
/// two equal).
///
/// Returns `false`, with the frame unchanged, when the TTL is 1 or 0 or the frame is
/// shorter than an IPv4 header without options at [`L3_OFFSET`].
#[inline]
pub fn forward_in_place(frame: &mut [u8], translation: Translation) -> bool {
    use super::ipv4::{CHECKSUM_OFFSET, DST_ADDR_OFFSET, SRC_ADDR_OFFSET, TTL_OFFSET};
    let Some(header) = frame.get_mut(L3..L4_OFFSET) else {
        return false;
    };
    let Ok(header): Result<&mut [u8; IP_HEADER_LEN], _> = header.try_into() else {
        return false;
    };
    let ttl = header[TTL_OFFSET];
    if ttl <= 1 {
        return false;
    }
    let proto = header[TTL_OFFSET + 1];
    header[TTL_OFFSET] = ttl - 1;
    let mut delta = checksum::word_delta(
        u16::from_be_bytes([ttl, proto]),
        u16::from_be_bytes([ttl - 1, proto]),
    );
    let change = match translation {
        Translation::Source(new) => Some((SRC_ADDR_OFFSET, new)),
        Translation::Destination(new) => Some((DST_ADDR_OFFSET, new)),
        Translation::None => None,
    };
    let mut l4_delta = None;
    if let Some((at, new)) = change {
        let old = Ipv4Addr::new(header[at], header[at + 1], header[at + 2], header[at + 3]);
        if old != new {
            header[at..at + 4].copy_from_slice(&new.octets());
            let d = checksum::addr_delta(old, new);
            delta += d;
            l4_delta = Some(d);
        }
    }
    let c = u16::from_be_bytes([header[CHECKSUM_OFFSET], header[CHECKSUM_OFFSET + 1]]);
    header[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2]
        .copy_from_slice(&checksum::apply_delta(c, delta).to_be_bytes());
    let Some(d) = l4_delta else { return true };
    let (at, udp) = if proto == protocol::UDP {
        (L4_OFFSET + super::udp::CHECKSUM_OFFSET, true)
    } else {
        (L4_OFFSET + super::tcp::CHECKSUM_OFFSET, false)
    };
    let Some(field) = frame.get_mut(at..at + 2) else {
        return true;
    };
    let c = u16::from_be_bytes([field[0], field[1]]);
    let c = match (udp, c) {
        (true, 0) => 0,
        (true, c) => match checksum::apply_delta(c, d) {
            0 => 0xffff,
            c => c,
        },
        (false, c) => checksum::apply_delta(c, d),
    };
    field.copy_from_slice(&c.to_be_bytes());
    true
}

/// The IPv4 header of the first [`L4_OFFSET`] bytes of a frame.
#[inline]
fn ip_header(h: &[u8; L4_OFFSET]) -> [u8; IP_HEADER_LEN] {
    let mut out = [0u8; IP_HEADER_LEN];
    out.copy_from_slice(&h[L3..]);
    out
}

/// A TCP segment with ACK and without SYN, FIN or RST: ports, payload length, fields.
#[inline]
fn tcp(seg: &[u8]) -> Option<(u16, u16, u16, ForwardableL4)> {
    let h: &[u8; 20] = seg.get(..20)?.try_into().ok()?;
    let header_len = usize::from(h[12] >> 4) * 4;
    let flags = h[13];
    if header_len < 20 || header_len > seg.len() || flags & STATE_FLAGS != 0 {
        return None;
    }
    if flags & TcpFlags::ACK.0 == 0 {
        return None;
    }
    Some((
        u16::from_be_bytes([h[0], h[1]]),
        u16::from_be_bytes([h[2], h[3]]),
        // seg is at most 65 535 − 20 bytes long.
        (seg.len() - header_len) as u16,
        ForwardableL4::Tcp {
            seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            flags,
            window: u16::from_be_bytes([h[14], h[15]]),
            header_len: header_len as u8,
        },
    ))
}

/// A UDP datagram whose length field fits the IP payload.
#[inline]
fn udp(dgram: &[u8]) -> Option<(u16, u16, u16, ForwardableL4)> {
    let h: &[u8; 8] = dgram.get(..8)?.try_into().ok()?;
    let len = u16::from_be_bytes([h[4], h[5]]);
    if len < 8 || usize::from(len) > dgram.len() {
        return None;
    }
    Some((
        u16::from_be_bytes([h[0], h[1]]),
        u16::from_be_bytes([h[2], h[3]]),
        len - 8,
        ForwardableL4::Udp {
            has_checksum: h[6] != 0 || h[7] != 0,
        },
    ))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::frame::{parse_frame_with, ChecksumPolicy};
    use super::*;

    const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x07];
    const FW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x20, 0x00];

    /// 198.51.100.7:40001 → 172.22.1.110:25, ACK|PSH, 5 payload bytes, hand-written.
    fn ack_frame() -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&FW_MAC);
        f.extend_from_slice(&CLIENT_MAC);
        f.extend_from_slice(&[0x08, 0x00]);
        // IPv4: 45 00 len=45 id=1 DF ttl 64 proto 6 csum 0 src dst
        f.extend_from_slice(&[0x45, 0x00, 0x00, 45, 0x00, 0x01, 0x40, 0x00, 64, 6, 0, 0]);
        f.extend_from_slice(&[198, 51, 100, 7, 172, 22, 1, 110]);
        // TCP: ports, seq 1000, ack 5001, doff 5, flags ACK|PSH, window 64240, csum 0, urg 0
        f.extend_from_slice(&[0x9c, 0x41, 0x00, 0x19, 0, 0, 0x03, 0xe8, 0, 0, 0x13, 0x89]);
        f.extend_from_slice(&[0x50, 0x18, 0xfa, 0xf0, 0, 0, 0, 0]);
        f.extend_from_slice(b"HELO\n");
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        let c = checksum::l4_checksum(
            Ipv4Addr::new(198, 51, 100, 7),
            Ipv4Addr::new(172, 22, 1, 110),
            6,
            &f[34..],
        );
        f[50..52].copy_from_slice(&c.to_be_bytes());
        f
    }

    fn udp_frame() -> Vec<u8> {
        let mut f = Vec::new();
        etherparse::PacketBuilder::ethernet2(CLIENT_MAC, FW_MAC)
            .ipv4([10, 10, 10, 5], [192, 0, 2, 53], 64)
            .udp(53001, 53)
            .write(&mut f, b"query")
            .unwrap();
        f
    }

    #[test]
    fn parses_an_ack_segment_like_the_full_parse() {
        let f = ack_frame();
        let (mac, ip) = parse_established(&f).expect("fast path frame");
        assert_eq!(mac, Mac(FW_MAC));
        let full = parse_frame_with(&f, ChecksumPolicy::Verify).unwrap();
        assert_eq!(full.ipv4(), Some(&ip));
        let L4::Tcp(t) = ip.l4 else { panic!("tcp") };
        assert_eq!((t.src_port, t.dst_port, t.payload_len), (40001, 25, 5));
        assert_eq!((t.seq, t.ack), (SeqNumber(1000), SeqNumber(5001)));
    }

    #[test]
    fn parses_udp_like_the_full_parse() {
        let f = udp_frame();
        let (_, ip) = parse_established(&f).expect("fast path frame");
        assert_eq!(
            parse_frame_with(&f, ChecksumPolicy::Verify).unwrap().ipv4(),
            Some(&ip)
        );
    }

    #[test]
    fn state_changing_and_unusual_frames_take_the_full_parse() {
        for flags in [0x02, 0x12, 0x11, 0x14, 0x04, 0x01, 0x00, 0x08] {
            let mut f = ack_frame();
            f[47] = flags;
            assert_eq!(parse_established(&f), None, "flags {flags:#x}");
        }
        // IP options, a fragment, a bad header checksum, a truncated datagram, ARP.
        let mut f = ack_frame();
        f[14] = 0x46;
        assert_eq!(parse_established(&f), None);
        let mut f = ack_frame();
        f[20] = 0x20; // MF
        assert_eq!(parse_established(&f), None);
        let mut f = ack_frame();
        f[24] ^= 1;
        assert_eq!(parse_established(&f), None);
        let f = ack_frame();
        assert_eq!(parse_established(&f[..f.len() - 1]), None);
        let mut f = ack_frame();
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(parse_established(&f), None);
    }

    #[test]
    fn transport_checksum_is_left_to_the_pipeline() {
        let mut f = ack_frame();
        f[51] ^= 1;
        assert!(parse_established(&f).is_some());
        assert!(parse_frame_with(&f, ChecksumPolicy::Verify).is_err());
    }

    proptest! {
        /// Whatever the fast parse accepts, the full parse (transport checksum trusted)
        /// accepts with the same summary.
        #[test]
        fn agrees_with_the_full_parse(
            which in 0usize..2,
            muts in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            cut in 0usize..8,
            pad in 0usize..8,
        ) {
            let mut f = if which == 0 { ack_frame() } else { udp_frame() };
            for (at, v) in muts {
                let i = at % f.len();
                f[i] = v;
            }
            // Keep the header checksum right most of the time so mutations reach L4.
            let c = checksum::checksum(&{
                let mut h = f[14..34].to_vec();
                h[10] = 0;
                h[11] = 0;
                h
            });
            if f[14] == 0x45 {
                f[24..26].copy_from_slice(&c.to_be_bytes());
            }
            f.truncate(f.len() - cut);
            f.extend(std::iter::repeat_n(0u8, pad));
            if let Some((mac, ip)) = parse_established(&f) {
                let full = parse_frame_with(&f, ChecksumPolicy::TrustL4);
                prop_assert!(full.is_ok(), "{:?}", full);
                let full = full.unwrap();
                prop_assert_eq!(full.dst_mac, mac);
                prop_assert_eq!(full.ipv4(), Some(&ip));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = parse_established(&b);
            let _ = segment_fields(&b);
            let mut b = b;
            let _ = forward_in_place(&mut b, Translation::Source(Ipv4Addr::LOCALHOST));
        }

        /// The compact parse, its summary and the re-read TCP fields agree with
        /// `parse_established` on whatever it accepts.
        #[test]
        fn compact_form_agrees(
            which in 0usize..2,
            muts in proptest::collection::vec((34usize..60, any::<u8>()), 0..4),
        ) {
            let mut f = if which == 0 { ack_frame() } else { udp_frame() };
            for (at, v) in muts {
                let i = at % f.len();
                f[i] = v;
            }
            let full = parse_established(&f);
            let compact = parse_forwardable(&f);
            prop_assert_eq!(full, compact.map(|c| (c.dst_mac, c.ipv4_info())));
            if let Some((_, ip)) = full {
                if let L4::Tcp(t) = ip.l4 {
                    prop_assert_eq!(
                        segment_fields(&f),
                        Some(SegmentFields {
                            seq: t.seq.0,
                            ack: t.ack.0,
                            flags: t.flags.0,
                            window: t.window,
                        })
                    );
                }
                let c = compact.unwrap();
                prop_assert_eq!(usize::from(c.payload_len), match ip.l4 {
                    L4::Tcp(t) => t.payload_len,
                    L4::Udp(u) => u.payload_len,
                    _ => usize::MAX,
                });
            }
        }

        /// `forward_in_place` writes the bytes of `nat.rs`'s translation followed by
        /// `Ipv4Info::decrement_ttl`, for TCP and UDP (with and without a UDP checksum),
        /// either address, a new address or the same one, any TTL above 1; a TTL of 0 or
        /// 1 leaves the frame unchanged.
        #[test]
        fn forward_in_place_is_translation_then_ttl_step(
            which in 0usize..2,
            ttl in 0u8..=255,
            side in 0u8..3,
            new in any::<u32>(),
            same in any::<bool>(),
            no_udp_checksum in any::<bool>(),
        ) {
            let mut f = if which == 0 { ack_frame() } else { udp_frame() };
            f[L3 + 8] = ttl;
            f[L3 + 10..L3 + 12].copy_from_slice(&[0, 0]);
            let c = checksum::checksum(&f[L3..L4_OFFSET]);
            f[L3 + 10..L3 + 12].copy_from_slice(&c.to_be_bytes());
            if which == 1 && no_udp_checksum {
                f[L4_OFFSET + 6..L4_OFFSET + 8].copy_from_slice(&[0, 0]);
            }
            let (_, mut ip) = parse_established(&f).expect("fast path frame");
            let pick = |old: Ipv4Addr| if same { old } else { Ipv4Addr::from_bits(new) };
            let translation = match side {
                0 => Translation::None,
                1 => Translation::Source(pick(ip.src)),
                _ => Translation::Destination(pick(ip.dst)),
            };
            let mut fast = f.clone();
            let forwarded = forward_in_place(&mut fast, translation);
            if ttl <= 1 {
                prop_assert!(!forwarded);
                prop_assert_eq!(fast, f);
                return Ok(());
            }
            prop_assert!(forwarded);
            let mut general = f.clone();
            match translation {
                Translation::None => {}
                Translation::Source(a) => crate::nat::translate_source(&mut general, &mut ip, a),
                Translation::Destination(a) => {
                    crate::nat::translate_destination(&mut general, &mut ip, a)
                }
            }
            prop_assert!(ip.decrement_ttl(&mut general));
            prop_assert_eq!(fast, general);
        }
    }
}
