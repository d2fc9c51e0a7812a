//! One-pass parse of a received frame into everything the pipeline needs.
//!
//! [`parse_frame`] validates Ethernet, ARP or IPv4, and the transport header once, and
//! returns a small `Copy` summary with offsets into the frame, so later stages (session
//! lookup, ACL, NAT, TCP tracking, SMTP inspection) never re-parse or re-check lengths.
//!
//! Checksum decision: by default the IPv4 header checksum *and* the TCP/UDP/ICMP checksum of
//! every unfragmented datagram are verified ([`ChecksumPolicy::Verify`]). The firewall acts on
//! payload bytes (SMTP verbs, DATA boundaries, sequence numbers), so a corrupt segment must not
//! advance the tracker or the inspector; and rewrites use incremental checksum updates, which
//! would otherwise turn a corrupt packet into one that verifies. The lab's veth pairs run
//! with offloads off, so checksums on the wire are complete. A backend that gets
//! `TP_STATUS_CSUM_VALID` from the kernel may pass [`ChecksumPolicy::TrustL4`]. Fragments
//! cannot be verified one by one; the reassembled datagram is checked with
//! [`parse_ipv4_at`] by the reassembly stage. A UDP checksum of 0 means "none" (RFC 768).

use std::net::Ipv4Addr;

use super::arp::{ArpPacket, ArpRepr};
use super::ethernet::{self, ethertype, EthernetFrame, Mac};
use super::icmp::{self, Embedded, IcmpClass, IcmpPacket};
use super::ipv4::{protocol, Ipv4Packet};
use super::tcp::{self, SeqNumber, TcpFlags, TcpOptions, TcpPacket};
use super::udp::UdpPacket;
use super::{checksum, ParseError};

/// Whether transport checksums are verified while parsing (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumPolicy {
    /// Verify the IPv4 header checksum and the TCP/UDP/ICMP checksum.
    #[default]
    Verify,
    /// Verify the IPv4 header checksum only (the NIC already checked the transport).
    TrustL4,
}

/// A parsed frame: link-layer addresses and the network-layer summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedFrame {
    /// Destination MAC.
    pub dst_mac: Mac,
    /// Source MAC.
    pub src_mac: Mac,
    /// ARP or IPv4.
    pub l3: L3,
}

impl ParsedFrame {
    /// The IPv4 summary, if this is an IPv4 frame.
    #[inline]
    pub fn ipv4(&self) -> Option<&Ipv4Info> {
        match &self.l3 {
            L3::Ipv4(ip) => Some(ip),
            L3::Arp(_) => None,
        }
    }
}

/// Network layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3 {
    /// An ARP packet (for the local stack, `config-and-nat.md` §7).
    Arp(ArpRepr),
    /// An IPv4 datagram.
    Ipv4(Ipv4Info),
}

/// IPv4 header fields and transport summary. All offsets are from the start of the buffer
/// given to the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Info {
    /// Offset of the IPv4 header.
    pub l3_offset: usize,
    /// Header length (options included).
    pub header_len: usize,
    /// Total length field (the datagram ends at `l3_offset + total_len`; anything after is
    /// Ethernet padding).
    pub total_len: usize,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol number.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't-fragment flag.
    pub dont_fragment: bool,
    /// More-fragments flag.
    pub more_fragments: bool,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
    /// Offset of the transport header.
    pub l4_offset: usize,
    /// Transport summary.
    pub l4: L4,
}

impl Ipv4Info {
    /// Whether this datagram is a fragment (initial or not).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.more_fragments || self.frag_offset != 0
    }

    /// End of the datagram in the buffer (Ethernet padding excluded).
    #[inline]
    pub fn end(&self) -> usize {
        self.l3_offset + self.total_len
    }

    /// Forwarding TTL step (RFC 1812 §5.3.1): if the TTL is above 1, decrements it in
    /// `frame` with an incremental checksum update and returns true; otherwise leaves the
    /// frame untouched and returns false (the caller drops it and answers ICMP 11/0 —
    /// quoting the datagram as it arrived, i.e. before any destination translation).
    #[inline]
    pub fn decrement_ttl(&mut self, frame: &mut [u8]) -> bool {
        if self.ttl <= 1 || frame.len() < self.end() {
            return false;
        }
        self.ttl =
            Ipv4Packet::new_unchecked(&mut frame[self.l3_offset..self.end()]).decrement_ttl();
        true
    }

    /// Transport ports for TCP and UDP.
    #[inline]
    pub fn ports(&self) -> Option<(u16, u16)> {
        match &self.l4 {
            L4::Tcp(t) => Some((t.src_port, t.dst_port)),
            L4::Udp(u) => Some((u.src_port, u.dst_port)),
            _ => None,
        }
    }
}

/// Transport layer summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L4 {
    /// A TCP segment.
    Tcp(TcpInfo),
    /// A UDP datagram.
    Udp(UdpInfo),
    /// An ICMP message.
    Icmp(IcmpInfo),
    /// A non-initial fragment (no transport header in it).
    Fragment,
    /// Another protocol (GRE, ESP, ...), not parsed.
    Other,
}

/// TCP fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNumber,
    /// Acknowledgement number.
    pub ack: SeqNumber,
    /// Flags.
    pub flags: TcpFlags,
    /// Window (unscaled).
    pub window: u16,
    /// Header length (options included).
    pub header_len: usize,
    /// SYN options (default on non-SYN segments, whose options are not parsed).
    pub options: TcpOptions,
    /// Offset of the payload.
    pub payload_offset: usize,
    /// Payload length.
    pub payload_len: usize,
}

impl TcpInfo {
    /// Sequence space the segment occupies (payload, plus one each for SYN and FIN).
    #[inline]
    pub fn seq_len(&self) -> u32 {
        self.payload_len as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    /// Payload as a range of the frame.
    #[inline]
    pub fn payload_range(&self) -> std::ops::Range<usize> {
        self.payload_offset..self.payload_offset + self.payload_len
    }
}

/// UDP fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpInfo {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Whether a checksum is present (field non-zero).
    pub has_checksum: bool,
    /// Offset of the payload.
    pub payload_offset: usize,
    /// Payload length (from the UDP length field).
    pub payload_len: usize,
}

/// ICMP fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpInfo {
    /// Type.
    pub icmp_type: u8,
    /// Code.
    pub code: u8,
    /// Query, reply, error or other.
    pub class: IcmpClass,
    /// Identifier (meaningful for queries and replies).
    pub ident: u16,
    /// Sequence number (meaningful for queries and replies).
    pub seq: u16,
    /// Embedded datagram header of an error message; `ip_offset` is from the start of the
    /// buffer given to the parser.
    pub embedded: Option<Embedded>,
}

/// Parses a received Ethernet frame, verifying every checksum ([`ChecksumPolicy::Verify`]).
#[inline]
pub fn parse_frame(frame: &[u8]) -> Result<ParsedFrame, ParseError> {
    parse_frame_with(frame, ChecksumPolicy::Verify)
}

/// Parses a received Ethernet frame with the given checksum policy.
pub fn parse_frame_with(frame: &[u8], policy: ChecksumPolicy) -> Result<ParsedFrame, ParseError> {
    let eth = EthernetFrame::new_checked(frame)?;
    let dst_mac = eth.dst_addr();
    let src_mac = eth.src_addr();
    let l3 = match eth.ethertype() {
        ethertype::ARP => {
            let p = ArpPacket::new_checked(eth.payload())?;
            L3::Arp(ArpRepr::parse(&p))
        }
        ethertype::IPV4 => L3::Ipv4(parse_ipv4_at(frame, ethernet::HEADER_LEN, policy)?),
        _ => return Err(ParseError::UnsupportedEtherType),
    };
    Ok(ParsedFrame {
        dst_mac,
        src_mac,
        l3,
    })
}

/// Parses the IPv4 datagram starting at `l3_offset` of `buf` (offsets in the result are from
/// the start of `buf`). Used by [`parse_frame`] and for reassembled datagrams.
pub fn parse_ipv4_at(
    buf: &[u8],
    l3_offset: usize,
    policy: ChecksumPolicy,
) -> Result<Ipv4Info, ParseError> {
    let bytes = buf.get(l3_offset..).ok_or(ParseError::TooShort)?;
    let ip = Ipv4Packet::new_checked(bytes)?;
    if !ip.checksum_valid() {
        return Err(ParseError::BadIpChecksum);
    }
    let header_len = ip.header_len();
    let total_len = usize::from(ip.total_len());
    let l4_offset = l3_offset + header_len;
    let frag_offset = ip.frag_offset();
    let more_fragments = ip.more_fragments();
    let src = ip.src_addr();
    let dst = ip.dst_addr();
    let proto = ip.protocol();
    let l4_bytes = ip.payload();
    let verify = policy == ChecksumPolicy::Verify && !more_fragments && frag_offset == 0;
    let l4 = if frag_offset != 0 {
        L4::Fragment
    } else {
        match proto {
            protocol::TCP => L4::Tcp(parse_tcp(l4_bytes, l4_offset, src, dst, verify)?),
            protocol::UDP if more_fragments => {
                L4::Udp(parse_initial_udp_fragment(l4_bytes, l4_offset)?)
            }
            protocol::UDP => L4::Udp(parse_udp(l4_bytes, l4_offset, src, dst, verify)?),
            protocol::ICMP => L4::Icmp(parse_icmp(l4_bytes, l4_offset, verify)?),
            _ => L4::Other,
        }
    };
    Ok(Ipv4Info {
        l3_offset,
        header_len,
        total_len,
        src,
        dst,
        protocol: proto,
        ttl: ip.ttl(),
        ident: ip.ident(),
        dont_fragment: ip.dont_fragment(),
        more_fragments,
        frag_offset,
        l4_offset,
        l4,
    })
}

fn parse_tcp(
    seg: &[u8],
    offset: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    verify: bool,
) -> Result<TcpInfo, ParseError> {
    let t = TcpPacket::new_checked(seg)?;
    if verify && !checksum::l4_checksum_valid(src, dst, protocol::TCP, seg) {
        return Err(ParseError::BadL4Checksum);
    }
    let flags = t.flags();
    let options = if flags.syn() {
        tcp::parse_options(t.options())?
    } else {
        TcpOptions::default()
    };
    let header_len = t.header_len();
    Ok(TcpInfo {
        src_port: t.src_port(),
        dst_port: t.dst_port(),
        seq: t.seq_number(),
        ack: t.ack_number(),
        flags,
        window: t.window(),
        header_len,
        options,
        payload_offset: offset + header_len,
        payload_len: seg.len() - header_len,
    })
}

fn parse_udp(
    dgram: &[u8],
    offset: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    verify: bool,
) -> Result<UdpInfo, ParseError> {
    let u = UdpPacket::new_checked(dgram)?;
    let has_checksum = u.checksum() != 0;
    if verify && has_checksum && !checksum::l4_checksum_valid(src, dst, protocol::UDP, u.datagram())
    {
        return Err(ParseError::BadL4Checksum);
    }
    Ok(UdpInfo {
        src_port: u.src_port(),
        dst_port: u.dst_port(),
        has_checksum,
        payload_offset: offset + super::udp::HEADER_LEN,
        payload_len: u.payload().len(),
    })
}

/// The first fragment of a UDP datagram: its length field covers the whole datagram (at
/// least this fragment), so only the header is checked; the payload is what this fragment
/// carries. The checksum can only be verified after reassembly.
fn parse_initial_udp_fragment(bytes: &[u8], offset: usize) -> Result<UdpInfo, ParseError> {
    if bytes.len() < super::udp::HEADER_LEN {
        return Err(ParseError::BadUdpHeader);
    }
    let u = UdpPacket::new_unchecked(bytes);
    if usize::from(u.len()) < bytes.len() {
        return Err(ParseError::BadUdpHeader);
    }
    Ok(UdpInfo {
        src_port: u.src_port(),
        dst_port: u.dst_port(),
        has_checksum: u.checksum() != 0,
        payload_offset: offset + super::udp::HEADER_LEN,
        payload_len: bytes.len() - super::udp::HEADER_LEN,
    })
}

fn parse_icmp(msg: &[u8], offset: usize, verify: bool) -> Result<IcmpInfo, ParseError> {
    let p = IcmpPacket::new_checked(msg)?;
    if verify && !p.checksum_valid() {
        return Err(ParseError::BadL4Checksum);
    }
    let icmp_type = p.msg_type();
    let class = icmp::classify(icmp_type);
    let embedded = if class == IcmpClass::Error {
        let mut e = icmp::parse_embedded(msg)?;
        e.ip_offset += offset;
        Some(e)
    } else {
        None
    };
    Ok(IcmpInfo {
        icmp_type,
        code: p.code(),
        class,
        ident: p.ident(),
        seq: p.seq(),
        embedded,
    })
}

#[cfg(test)]
mod tests {
    use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
    use proptest::prelude::*;

    use super::super::icmp::EmbeddedL4;
    use super::*;

    const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x07];
    const FW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x20, 0x00];

    fn syn_frame() -> Vec<u8> {
        let b = PacketBuilder::ethernet2(CLIENT_MAC, FW_MAC)
            .ipv4([198, 51, 100, 7], [172, 22, 1, 110], 64)
            .tcp(40001, 25, 1000, 64240)
            .syn()
            .options(&[
                etherparse::TcpOptionElement::MaximumSegmentSize(1460),
                etherparse::TcpOptionElement::SelectiveAcknowledgementPermitted,
                etherparse::TcpOptionElement::Noop,
                etherparse::TcpOptionElement::WindowScale(7),
            ])
            .unwrap();
        let mut out = Vec::new();
        b.write(&mut out, &[]).unwrap();
        out
    }

    #[test]
    fn parses_syn() {
        let f = syn_frame();
        let p = parse_frame(&f).unwrap();
        assert_eq!(p.src_mac, Mac(CLIENT_MAC));
        let ip = p.ipv4().unwrap();
        assert_eq!(ip.src, Ipv4Addr::new(198, 51, 100, 7));
        assert_eq!(ip.dst, Ipv4Addr::new(172, 22, 1, 110));
        assert_eq!(ip.ports(), Some((40001, 25)));
        let L4::Tcp(t) = ip.l4 else { panic!("not tcp") };
        assert!(t.flags.syn() && !t.flags.ack());
        assert_eq!(t.seq, SeqNumber(1000));
        assert_eq!(t.options.mss, Some(1460));
        assert_eq!(t.options.window_scale, Some(7));
        assert!(t.options.sack_permitted);
        assert_eq!(t.payload_len, 0);
        assert_eq!(t.seq_len(), 1);
    }

    #[test]
    fn bad_checksums_are_named() {
        let mut f = syn_frame();
        f[14 + 10] ^= 1;
        assert_eq!(parse_frame(&f).unwrap_err(), ParseError::BadIpChecksum);
        let mut f = syn_frame();
        let tcp_csum = 14 + 20 + 16;
        f[tcp_csum] ^= 1;
        assert_eq!(parse_frame(&f).unwrap_err(), ParseError::BadL4Checksum);
        assert!(parse_frame_with(&f, ChecksumPolicy::TrustL4).is_ok());
    }

    #[test]
    fn ethernet_padding_is_ignored() {
        let mut f = syn_frame();
        let n = f.len();
        f.extend_from_slice(&[0u8; 6]);
        let ip = *parse_frame(&f).unwrap().ipv4().unwrap();
        assert_eq!(ip.end(), n);
    }

    #[test]
    fn udp_without_checksum() {
        let b = PacketBuilder::ethernet2(CLIENT_MAC, FW_MAC)
            .ipv4([10, 10, 10, 5], [192, 0, 2, 53], 64)
            .udp(53001, 5000);
        let mut f = Vec::new();
        b.write(&mut f, b"hello").unwrap();
        let csum = 14 + 20 + 6;
        f[csum] = 0;
        f[csum + 1] = 0;
        let ip = *parse_frame(&f).unwrap().ipv4().unwrap();
        let L4::Udp(u) = ip.l4 else { panic!("not udp") };
        assert!(!u.has_checksum);
        assert_eq!(
            &f[u.payload_offset..u.payload_offset + u.payload_len],
            b"hello"
        );
    }

    #[test]
    fn ttl_step() {
        let mut f = syn_frame();
        let mut ip = *parse_frame(&f).unwrap().ipv4().unwrap();
        assert!(ip.decrement_ttl(&mut f));
        assert_eq!(ip.ttl, 63);
        assert_eq!(*parse_frame(&f).unwrap().ipv4().unwrap(), ip);
        ip.ttl = 1;
        let before = f.clone();
        assert!(!ip.decrement_ttl(&mut f));
        assert_eq!(f, before);
    }

    #[test]
    fn non_initial_fragment() {
        let mut f = syn_frame();
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.set_flags_and_offset(false, false, 8);
        ip.fill_checksum();
        let p = *parse_frame(&f).unwrap().ipv4().unwrap();
        assert_eq!(p.l4, L4::Fragment);
        assert!(p.is_fragment());
    }

    #[test]
    fn initial_udp_fragment() {
        // A 3000-byte UDP datagram cut after its first 1480 bytes: the UDP length field
        // (3008) covers more than the fragment carries.
        let mut f = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, FW_MAC)
            .ipv4([192, 0, 2, 7], [172, 22, 1, 110], 64)
            .udp(4000, 53)
            .write(&mut f, &[7u8; 3000])
            .unwrap();
        f.truncate(14 + 20 + 1480);
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.set_total_len(20 + 1480);
        ip.set_flags_and_offset(false, true, 0);
        ip.fill_checksum();
        let p = *parse_frame(&f).unwrap().ipv4().unwrap();
        let L4::Udp(u) = p.l4 else { panic!("not udp") };
        assert_eq!((u.src_port, u.dst_port), (4000, 53));
        assert_eq!(u.payload_len, 1480 - 8);
        assert!(p.is_fragment());
        // A UDP length shorter than the fragment is still malformed.
        f[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(parse_frame(&f), Err(ParseError::BadUdpHeader));
        // So is a first fragment too short for the UDP header.
        let mut g = f[..14 + 20 + 4].to_vec();
        let mut ip = Ipv4Packet::new_unchecked(&mut g[14..]);
        ip.set_total_len(24);
        ip.fill_checksum();
        assert_eq!(parse_frame(&g), Err(ParseError::BadUdpHeader));
    }

    #[test]
    fn arp_and_other_ethertypes() {
        let mut f = vec![0u8; 60];
        let req = ArpRepr::request(
            Mac(CLIENT_MAC),
            Ipv4Addr::new(172, 22, 1, 1),
            Ipv4Addr::new(172, 22, 1, 110),
        );
        req.emit_frame(&mut f).unwrap();
        assert_eq!(parse_frame(&f).unwrap().l3, L3::Arp(req));
        f[12] = 0x86;
        f[13] = 0xdd;
        assert_eq!(
            parse_frame(&f).unwrap_err(),
            ParseError::UnsupportedEtherType
        );
    }

    #[test]
    fn icmp_error_embedded_tuple() {
        // Port unreachable from 192.0.2.53 about 172.22.1.111:53001 -> 192.0.2.53:5000 (B9).
        let mut inner = Vec::new();
        PacketBuilder::ipv4([172, 22, 1, 111], [192, 0, 2, 53], 63)
            .udp(53001, 5000)
            .write(&mut inner, b"query")
            .unwrap();
        let mut f = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, FW_MAC)
            .ipv4([192, 0, 2, 53], [172, 22, 1, 111], 62)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut f, &inner)
            .unwrap();
        let ip = *parse_frame(&f).unwrap().ipv4().unwrap();
        let L4::Icmp(i) = ip.l4 else {
            panic!("not icmp")
        };
        assert_eq!((i.icmp_type, i.code, i.class), (3, 3, IcmpClass::Error));
        let e = i.embedded.unwrap();
        assert_eq!(e.ip_offset, 14 + 20 + 8);
        assert_eq!(e.src, Ipv4Addr::new(172, 22, 1, 111));
        assert_eq!(
            e.l4,
            EmbeddedL4::Ports {
                src_port: 53001,
                dst_port: 5000
            }
        );
    }

    fn sample_frames() -> Vec<Vec<u8>> {
        let mut v = vec![syn_frame()];
        let mut f = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, FW_MAC)
            .ipv4([10, 10, 10, 5], [203, 0, 113, 9], 64)
            .icmpv4_echo_request(7, 1)
            .write(&mut f, b"abcdefgh")
            .unwrap();
        v.push(f);
        let mut f = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, FW_MAC)
            .ipv4([10, 10, 10, 5], [192, 0, 2, 53], 64)
            .udp(53000, 53)
            .write(&mut f, b"dns?")
            .unwrap();
        v.push(f);
        v
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_frame(&b);
            let _ = parse_frame_with(&b, ChecksumPolicy::TrustL4);
        }

        #[test]
        fn ipv4_headed_bytes_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..120),
            ihl in 0u8..16,
        ) {
            // Force the IPv4 ethertype and version so the deeper parsers get exercised.
            let mut f = vec![0u8; 14];
            f[12] = 0x08;
            let mut body = body;
            if !body.is_empty() {
                body[0] = 0x40 | ihl;
            }
            f.extend_from_slice(&body);
            let _ = parse_frame_with(&f, ChecksumPolicy::TrustL4);
        }

        #[test]
        fn mutated_frames_never_panic_and_agree_with_etherparse(
            which in 0usize..3,
            muts in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let mut f = sample_frames().swap_remove(which);
            for (at, v) in muts {
                let i = at % f.len();
                f[i] = v;
            }
            let keep = f.len() - cut % 16;
            f.truncate(keep);
            if let Ok(p) = parse_frame_with(&f, ChecksumPolicy::TrustL4) {
                // Whatever we accept as IPv4, etherparse must read the same addresses/ports.
                if let Some(ip) = p.ipv4() {
                    if let Ok(sp) = SlicedPacket::from_ethernet(&f) {
                        if let Some(NetSlice::Ipv4(h)) = sp.net {
                            prop_assert_eq!(h.header().source_addr(), ip.src);
                            prop_assert_eq!(h.header().destination_addr(), ip.dst);
                        }
                        match (sp.transport, ip.l4) {
                            (Some(TransportSlice::Tcp(t)), L4::Tcp(ti)) => {
                                prop_assert_eq!(t.source_port(), ti.src_port);
                                prop_assert_eq!(t.sequence_number(), ti.seq.0);
                            }
                            (Some(TransportSlice::Udp(u)), L4::Udp(ui)) => {
                                prop_assert_eq!(u.destination_port(), ui.dst_port);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}
