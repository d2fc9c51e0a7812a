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

/// Parses a frame that may take the established fast path: destination MAC and the
/// datagram summary, or `None` when the frame needs the full parse.
#[inline]
pub fn parse_established(frame: &[u8]) -> Option<(Mac, Ipv4Info)> {
    let h: &[u8; L4_OFFSET] = frame.get(..L4_OFFSET)?.try_into().ok()?;
    if h[12..14] != ethernet::ethertype::IPV4.to_be_bytes() || h[L3] != VER_IHL_NO_OPTIONS {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes([h[L3 + 2], h[L3 + 3]]));
    let flags_offset = u16::from_be_bytes([h[L3 + 6], h[L3 + 7]]);
    if total_len < IP_HEADER_LEN
        || total_len > frame.len() - L3
        || flags_offset & MF_AND_OFFSET != 0
    {
        return None;
    }
    let seg = &frame[L4_OFFSET..L3 + total_len];
    let proto = h[L3 + 9];
    let l4 = match proto {
        protocol::TCP => L4::Tcp(tcp(seg)?),
        protocol::UDP => L4::Udp(udp(seg)?),
        _ => return None,
    };
    // Last, so that a SYN, FIN or RST is turned away before the sum.
    if checksum::header_sum20(&ip_header(h)) != 0xffff {
        return None;
    }
    let dst_mac = Mac([h[0], h[1], h[2], h[3], h[4], h[5]]);
    let ip = Ipv4Info {
        l3_offset: L3,
        header_len: IP_HEADER_LEN,
        total_len,
        src: Ipv4Addr::new(h[L3 + 12], h[L3 + 13], h[L3 + 14], h[L3 + 15]),
        dst: Ipv4Addr::new(h[L3 + 16], h[L3 + 17], h[L3 + 18], h[L3 + 19]),
        protocol: proto,
        ttl: h[L3 + 8],
        ident: u16::from_be_bytes([h[L3 + 4], h[L3 + 5]]),
        dont_fragment: flags_offset & DF != 0,
        more_fragments: false,
        frag_offset: 0,
        l4_offset: L4_OFFSET,
        l4,
    };
    Some((dst_mac, ip))
}

/// The IPv4 header of the first [`L4_OFFSET`] bytes of a frame.
#[inline]
fn ip_header(h: &[u8; L4_OFFSET]) -> [u8; IP_HEADER_LEN] {
    let mut out = [0u8; IP_HEADER_LEN];
    out.copy_from_slice(&h[L3..]);
    out
}

/// A TCP segment with ACK and without SYN, FIN or RST.
#[inline]
fn tcp(seg: &[u8]) -> Option<TcpInfo> {
    let h: &[u8; 20] = seg.get(..20)?.try_into().ok()?;
    let header_len = usize::from(h[12] >> 4) * 4;
    let flags = h[13];
    if header_len < 20 || header_len > seg.len() || flags & STATE_FLAGS != 0 {
        return None;
    }
    if flags & TcpFlags::ACK.0 == 0 {
        return None;
    }
    Some(TcpInfo {
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        seq: SeqNumber(u32::from_be_bytes([h[4], h[5], h[6], h[7]])),
        ack: SeqNumber(u32::from_be_bytes([h[8], h[9], h[10], h[11]])),
        flags: TcpFlags(flags),
        window: u16::from_be_bytes([h[14], h[15]]),
        header_len,
        options: TcpOptions::default(),
        payload_offset: L4_OFFSET + header_len,
        payload_len: seg.len() - header_len,
    })
}

/// A UDP datagram whose length field fits the IP payload.
#[inline]
fn udp(dgram: &[u8]) -> Option<UdpInfo> {
    let h: &[u8; 8] = dgram.get(..8)?.try_into().ok()?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    if len < 8 || len > dgram.len() {
        return None;
    }
    Some(UdpInfo {
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        has_checksum: h[6] != 0 || h[7] != 0,
        payload_offset: L4_OFFSET + 8,
        payload_len: len - 8,
    })
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
        }
    }
}
