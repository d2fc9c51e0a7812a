//! Router-originated packets, written into caller-provided buffers without allocation:
//! the ICMP echo reply (turned around in place), ICMP errors (RFC 792, RFC 1812 §4.3.2), and
//! whole TCP segments for the firewall's injected replies and resets
//! (`smtp-inspection.md` §9.2, `cbac-sessions.md` §3.5, README decision 6).
//!
//! Router-originated packets use TTL 64 ([`ROUTER_TTL`]) and a fresh IP identification from
//! the caller's [`super::ipv4::IpIdSequence`]. Frames shorter than the Ethernet minimum are
//! padded to 60 bytes with zeros.

use std::net::Ipv4Addr;

use super::ethernet::{self, ethertype, Mac};
use super::frame::{Ipv4Info, ParsedFrame, L4};
use super::icmp::{self, IcmpClass, IcmpPacket};
use super::ipv4::{self, protocol, Ipv4Packet, Ipv4Repr};
use super::tcp::{self, SeqNumber, TcpFlags, TcpPacket};
use super::{checksum, EmitError};

/// TTL of router-originated packets.
pub const ROUTER_TTL: u8 = 64;
/// Shortest Ethernet frame (without FCS).
pub const MIN_FRAME_LEN: usize = 60;
/// Bytes of the offending datagram's payload quoted in an ICMP error (RFC 792).
pub const ICMP_ERROR_QUOTE: usize = 8;

fn pad(buf: &mut [u8], len: usize) -> Result<usize, EmitError> {
    if len >= MIN_FRAME_LEN {
        return Ok(len);
    }
    buf.get_mut(len..MIN_FRAME_LEN)
        .ok_or(EmitError::BufferTooSmall)?
        .fill(0);
    Ok(MIN_FRAME_LEN)
}

/// Turns a received ICMP echo request addressed to the router into its echo reply, in
/// place: MACs and addresses swapped (the reply leaves by the ingress interface, to the
/// neighbour that sent the request), TTL 64, type 0, checksums updated. `our_mac` is the
/// ingress interface's MAC. Returns the reply's frame length (the datagram, padded to 60
/// bytes when the buffer allows).
pub fn echo_reply_in_place(
    frame: &mut [u8],
    parsed: &ParsedFrame,
    our_mac: Mac,
) -> Result<usize, EmitError> {
    let ip = parsed.ipv4().ok_or(EmitError::NotAnEchoRequest)?;
    let L4::Icmp(i) = ip.l4 else {
        return Err(EmitError::NotAnEchoRequest);
    };
    if i.icmp_type != icmp::types::ECHO_REQUEST || ip.is_fragment() || ip.end() > frame.len() {
        return Err(EmitError::NotAnEchoRequest);
    }
    ethernet::write_header(frame, parsed.src_mac, our_mac, ethertype::IPV4);
    {
        let mut p = Ipv4Packet::new_unchecked(&mut frame[ip.l3_offset..ip.end()]);
        p.set_src_addr(ip.dst);
        p.set_dst_addr(ip.src);
        p.set_ttl(ROUTER_TTL);
        p.fill_checksum();
    }
    let mut m = IcmpPacket::new_unchecked(&mut frame[ip.l4_offset..ip.end()]);
    let old = u16::from_be_bytes([icmp::types::ECHO_REQUEST, i.code]);
    let new = u16::from_be_bytes([icmp::types::ECHO_REPLY, i.code]);
    let c = checksum::update_u16(m.checksum(), old, new);
    m.set_msg_type(icmp::types::ECHO_REPLY);
    m.set_checksum(c);
    if frame.len() < MIN_FRAME_LEN {
        // The request itself came unpadded (virtual links allow that): answer the same way.
        return Ok(ip.end());
    }
    pad(frame, ip.end())
}

/// Whether RFC 1812 §4.3.2.7 allows an ICMP error about this datagram: never about an ICMP
/// error, a non-initial fragment, a link-layer or IP broadcast/multicast, or a datagram whose
/// source is not a unicast host (0.0.0.0, loopback, multicast, broadcast).
pub fn icmp_error_allowed(dst_mac: Mac, ip: &Ipv4Info) -> bool {
    if dst_mac.is_multicast() || ip.frag_offset != 0 {
        return false;
    }
    if let L4::Icmp(i) = ip.l4 {
        if i.class == IcmpClass::Error {
            return false;
        }
    }
    let s = ip.src;
    let bad_src = s.is_unspecified() || s.is_loopback() || s.is_multicast() || s.is_broadcast();
    let bad_dst = ip.dst.is_multicast() || ip.dst.is_broadcast();
    !(bad_src || bad_dst)
}

/// An ICMP error to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpErrorSpec {
    /// Type (3 unreachable, 11 time exceeded, ...).
    pub icmp_type: u8,
    /// Code.
    pub code: u8,
    /// The 4 bytes after the checksum (zero, or next-hop MTU for 3/4, pointer for 12).
    pub rest_of_header: [u8; 4],
}

impl IcmpErrorSpec {
    /// Destination unreachable with `code` (see [`icmp::unreachable`]).
    pub fn unreachable(code: u8) -> Self {
        IcmpErrorSpec {
            icmp_type: icmp::types::DEST_UNREACHABLE,
            code,
            rest_of_header: [0; 4],
        }
    }

    /// Fragmentation needed and DF set, with the next-hop MTU (RFC 1191).
    pub fn fragmentation_needed(mtu: u16) -> Self {
        let m = mtu.to_be_bytes();
        IcmpErrorSpec {
            icmp_type: icmp::types::DEST_UNREACHABLE,
            code: icmp::unreachable::FRAG_NEEDED,
            rest_of_header: [0, 0, m[0], m[1]],
        }
    }

    /// Time exceeded in transit (TTL expired, code 0).
    pub fn ttl_exceeded() -> Self {
        IcmpErrorSpec {
            icmp_type: icmp::types::TIME_EXCEEDED,
            code: 0,
            rest_of_header: [0; 4],
        }
    }
}

/// Link and network addressing of a router-originated packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// Source MAC (the egress interface).
    pub src_mac: Mac,
    /// Destination MAC (the next hop).
    pub dst_mac: Mac,
    /// Source address (an interface address of the router).
    pub src_ip: Ipv4Addr,
    /// IP identification to use.
    pub ident: u16,
}

/// Emits an ICMP error about `offending` (the offending datagram from its IP header on; bytes
/// past its total length are ignored) to the datagram's source address, quoting its IP
/// header and first 8 payload bytes. Returns the frame length.
pub fn emit_icmp_error(
    buf: &mut [u8],
    origin: &Origin,
    spec: &IcmpErrorSpec,
    offending: &[u8],
) -> Result<usize, EmitError> {
    let off =
        Ipv4Packet::new_header_checked(offending).map_err(|_| EmitError::BadOffendingDatagram)?;
    let hl = off.header_len();
    let dgram_len = usize::from(off.total_len()).clamp(hl, offending.len());
    let quote_len = (hl + ICMP_ERROR_QUOTE).min(dgram_len);
    let dst = off.src_addr();
    let icmp_len = icmp::HEADER_LEN + quote_len;
    let ip_start = ethernet::HEADER_LEN;
    let icmp_start = ip_start + ipv4::MIN_HEADER_LEN;
    let len = icmp_start + icmp_len;
    if buf.len() < len.max(MIN_FRAME_LEN) {
        return Err(EmitError::BufferTooSmall);
    }
    ethernet::write_header(buf, origin.dst_mac, origin.src_mac, ethertype::IPV4);
    Ipv4Repr {
        src: origin.src_ip,
        dst,
        protocol: protocol::ICMP,
        payload_len: icmp_len as u16,
        ttl: ROUTER_TTL,
        ident: origin.ident,
        dont_fragment: false,
    }
    .write(&mut buf[ip_start..icmp_start]);
    let mut m = IcmpPacket::new_unchecked(&mut buf[icmp_start..len]);
    m.set_msg_type(spec.icmp_type);
    m.set_code(spec.code);
    m.set_rest_of_header(spec.rest_of_header);
    m.data_mut().copy_from_slice(&offending[..quote_len]);
    m.fill_checksum();
    pad(buf, len)
}

/// A TCP segment the firewall injects in an endpoint's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegmentSpec {
    /// Link and IP source (src_ip is the endpoint the segment impersonates).
    pub origin: Origin,
    /// Destination address.
    pub dst_ip: Ipv4Addr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNumber,
    /// Acknowledgement number.
    pub ack: SeqNumber,
    /// Flags (`ACK|PSH|FIN` for the reply toward the client, `RST|ACK` toward the server).
    pub flags: TcpFlags,
    /// Window.
    pub window: u16,
    /// TTL ([`ROUTER_TTL`] for injected segments).
    pub ttl: u8,
    /// Don't-fragment flag (set for injected segments).
    pub dont_fragment: bool,
}

/// Emits an Ethernet + IPv4 + TCP (no options) frame carrying `payload`. Returns the frame
/// length.
pub fn emit_tcp_segment(
    buf: &mut [u8],
    spec: &TcpSegmentSpec,
    payload: &[u8],
) -> Result<usize, EmitError> {
    let ip_start = ethernet::HEADER_LEN;
    let tcp_start = ip_start + ipv4::MIN_HEADER_LEN;
    let tcp_len = tcp::MIN_HEADER_LEN + payload.len();
    let len = tcp_start + tcp_len;
    if ipv4::MIN_HEADER_LEN + tcp_len > usize::from(u16::MAX) {
        return Err(EmitError::PayloadTooLarge);
    }
    if buf.len() < len.max(MIN_FRAME_LEN) {
        return Err(EmitError::BufferTooSmall);
    }
    let o = &spec.origin;
    ethernet::write_header(buf, o.dst_mac, o.src_mac, ethertype::IPV4);
    Ipv4Repr {
        src: o.src_ip,
        dst: spec.dst_ip,
        protocol: protocol::TCP,
        payload_len: tcp_len as u16,
        ttl: spec.ttl,
        ident: o.ident,
        dont_fragment: spec.dont_fragment,
    }
    .write(&mut buf[ip_start..tcp_start]);
    let seg = &mut buf[tcp_start..len];
    let mut t = TcpPacket::new_unchecked(&mut *seg);
    t.set_src_port(spec.src_port);
    t.set_dst_port(spec.dst_port);
    t.set_seq_number(spec.seq);
    t.set_ack_number(spec.ack);
    t.set_header_len(tcp::MIN_HEADER_LEN);
    t.set_flags(spec.flags);
    t.set_window(spec.window);
    t.set_checksum(0);
    t.set_urgent(0);
    t.payload_mut().copy_from_slice(payload);
    let c = checksum::l4_checksum(o.src_ip, spec.dst_ip, protocol::TCP, seg);
    TcpPacket::new_unchecked(seg).set_checksum(c);
    pad(buf, len)
}

#[cfg(test)]
mod tests {
    use etherparse::{Icmpv4Type, PacketBuilder, SlicedPacket, TransportSlice};

    use super::super::frame::parse_frame;
    use super::*;

    const HOST5_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x05];
    const E21_MAC: Mac = Mac([0x02, 0, 0, 0, 0x21, 0x00]);
    const E20_MAC: Mac = Mac([0x02, 0, 0, 0, 0x20, 0x00]);
    const ISP_MAC: Mac = Mac([0x02, 0, 0, 0, 0, 0x01]);

    #[test]
    fn echo_to_inside_interface_is_answered_in_place() {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(HOST5_MAC, E21_MAC.0)
            .ipv4([10, 10, 10, 5], [10, 10, 10, 1], 64)
            .icmpv4_echo_request(0x1234, 9)
            .write(&mut f, b"0123456789abcdef")
            .unwrap();
        let p = parse_frame(&f).unwrap();
        let n = echo_reply_in_place(&mut f, &p, E21_MAC).unwrap();
        let r = SlicedPacket::from_ethernet(&f[..n]).unwrap();
        let Some(etherparse::LinkSlice::Ethernet2(eth)) = r.link else {
            panic!()
        };
        assert_eq!(eth.destination(), HOST5_MAC);
        assert_eq!(eth.source(), E21_MAC.0);
        let Some(etherparse::NetSlice::Ipv4(ip)) = &r.net else {
            panic!()
        };
        assert_eq!(ip.header().source(), [10, 10, 10, 1]);
        assert_eq!(ip.header().destination(), [10, 10, 10, 5]);
        assert_eq!(ip.header().ttl(), 64);
        let Some(TransportSlice::Icmpv4(icmp)) = r.transport else {
            panic!()
        };
        assert_eq!(
            icmp.icmp_type(),
            Icmpv4Type::EchoReply(etherparse::IcmpEchoHeader { id: 0x1234, seq: 9 })
        );
        // Our own parser verifies both checksums.
        parse_frame(&f[..n]).unwrap();
    }

    #[test]
    fn b2_admin_prohibited_from_outside_interface() {
        // C:40002 SYN to 172.22.1.110:80 denied by list 101: 3/13 from 172.22.1.16 to C.
        let mut f = Vec::new();
        PacketBuilder::ethernet2(ISP_MAC.0, E20_MAC.0)
            .ipv4([198, 51, 100, 7], [172, 22, 1, 110], 63)
            .tcp(40002, 80, 5000, 64240)
            .syn()
            .write(&mut f, &[])
            .unwrap();
        let p = parse_frame(&f).unwrap();
        let ip = *p.ipv4().unwrap();
        assert!(icmp_error_allowed(p.dst_mac, &ip));
        let origin = Origin {
            src_mac: E20_MAC,
            dst_mac: p.src_mac,
            src_ip: Ipv4Addr::new(172, 22, 1, 16),
            ident: 77,
        };
        let mut out = [0u8; 128];
        let spec = IcmpErrorSpec::unreachable(icmp::unreachable::ADMIN_PROHIBITED);
        let n = emit_icmp_error(&mut out, &origin, &spec, &f[14..]).unwrap();
        assert_eq!(n, 14 + 20 + 8 + 28);
        // Exact bytes of the ICMP part: type 3 code 13, checksum, unused, quoted header+8.
        assert_eq!(&out[34..36], &[3, 13]);
        assert_eq!(&out[38..42], &[0, 0, 0, 0]);
        assert_eq!(&out[42..70], &f[14..42]);
        let r = SlicedPacket::from_ethernet(&out[..n]).unwrap();
        let Some(etherparse::NetSlice::Ipv4(h)) = &r.net else {
            panic!()
        };
        assert_eq!(h.header().source(), [172, 22, 1, 16]);
        assert_eq!(h.header().destination(), [198, 51, 100, 7]);
        let Some(TransportSlice::Icmpv4(icmp)) = r.transport else {
            panic!()
        };
        assert_eq!(
            icmp.icmp_type(),
            Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FilterProhibited
            )
        );
        let parsed = parse_frame(&out[..n]).unwrap();
        let L4::Icmp(i) = parsed.ipv4().unwrap().l4 else {
            panic!()
        };
        assert_eq!(i.embedded.unwrap().src, Ipv4Addr::new(198, 51, 100, 7));
    }

    #[test]
    fn no_error_about_errors_or_broadcasts() {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(ISP_MAC.0, E20_MAC.0)
            .ipv4([198, 51, 100, 7], [255, 255, 255, 255], 63)
            .udp(1, 2)
            .write(&mut f, &[])
            .unwrap();
        let p = parse_frame(&f).unwrap();
        assert!(!icmp_error_allowed(p.dst_mac, p.ipv4().unwrap()));
        assert!(!icmp_error_allowed(Mac::BROADCAST, p.ipv4().unwrap()));
    }

    #[test]
    fn reply_and_fin_toward_client() {
        let spec = TcpSegmentSpec {
            origin: Origin {
                src_mac: E20_MAC,
                dst_mac: ISP_MAC,
                src_ip: Ipv4Addr::new(172, 22, 1, 110),
                ident: 4242,
            },
            dst_ip: Ipv4Addr::new(198, 51, 100, 7),
            src_port: 25,
            dst_port: 40001,
            seq: SeqNumber(0xffff_fff0),
            ack: SeqNumber(1234),
            flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN,
            window: 29200,
            ttl: ROUTER_TTL,
            dont_fragment: true,
        };
        let reply = b"500 5.5.1 Command unrecognized\r\n";
        let mut buf = [0u8; 256];
        let n = emit_tcp_segment(&mut buf, &spec, reply).unwrap();
        let r = SlicedPacket::from_ethernet(&buf[..n]).unwrap();
        let Some(etherparse::NetSlice::Ipv4(h)) = &r.net else {
            panic!()
        };
        assert!(h.header().dont_fragment());
        assert_eq!(h.header().identification(), 4242);
        assert_eq!(h.header().ttl(), 64);
        let Some(TransportSlice::Tcp(t)) = r.transport else {
            panic!()
        };
        assert!(t.fin() && t.psh() && t.ack() && !t.rst() && !t.syn());
        assert_eq!(t.sequence_number(), 0xffff_fff0);
        assert_eq!(t.acknowledgment_number(), 1234);
        assert_eq!(t.window_size(), 29200);
        assert_eq!(t.payload(), reply);
        let expect = t
            .to_header()
            .calc_checksum_ipv4_raw([172, 22, 1, 110], [198, 51, 100, 7], reply)
            .unwrap();
        assert_eq!(t.checksum(), expect);
        parse_frame(&buf[..n]).unwrap();
    }

    #[test]
    fn rst_is_padded_and_small_buffers_fail() {
        let spec = TcpSegmentSpec {
            origin: Origin {
                src_mac: E21_MAC,
                dst_mac: Mac(HOST5_MAC),
                src_ip: Ipv4Addr::new(198, 51, 100, 7),
                ident: 1,
            },
            dst_ip: Ipv4Addr::new(10, 10, 10, 2),
            src_port: 40001,
            dst_port: 25,
            seq: SeqNumber(1),
            ack: SeqNumber(2),
            flags: TcpFlags::RST | TcpFlags::ACK,
            window: 0,
            ttl: ROUTER_TTL,
            dont_fragment: true,
        };
        let mut buf = [0xaau8; 64];
        assert_eq!(emit_tcp_segment(&mut buf, &spec, &[]), Ok(60));
        assert_eq!(&buf[54..60], &[0; 6]);
        parse_frame(&buf[..60]).unwrap();
        assert_eq!(
            emit_tcp_segment(&mut buf[..59], &spec, &[]),
            Err(EmitError::BufferTooSmall)
        );
    }

    proptest::proptest! {
        #[test]
        fn emitted_segments_round_trip(
            src in proptest::prelude::any::<[u8; 4]>(),
            dst in proptest::prelude::any::<[u8; 4]>(),
            ports in proptest::prelude::any::<(u16, u16)>(),
            seq in proptest::prelude::any::<u32>(),
            ack in proptest::prelude::any::<u32>(),
            flags in proptest::prelude::any::<u8>(),
            window in proptest::prelude::any::<u16>(),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let spec = TcpSegmentSpec {
                origin: Origin {
                    src_mac: E20_MAC,
                    dst_mac: ISP_MAC,
                    src_ip: Ipv4Addr::from(src),
                    ident: 9,
                },
                dst_ip: Ipv4Addr::from(dst),
                src_port: ports.0,
                dst_port: ports.1,
                seq: SeqNumber(seq),
                ack: SeqNumber(ack),
                flags: TcpFlags(flags),
                window,
                ttl: ROUTER_TTL,
                dont_fragment: true,
            };
            let mut buf = [0u8; 512];
            let n = emit_tcp_segment(&mut buf, &spec, &payload).unwrap();
            let p = parse_frame(&buf[..n]).unwrap();
            let ip = p.ipv4().unwrap();
            let L4::Tcp(t) = ip.l4 else { panic!("not tcp") };
            proptest::prop_assert_eq!((t.src_port, t.dst_port), ports);
            proptest::prop_assert_eq!((t.seq.0, t.ack.0, t.flags.0, t.window), (seq, ack, flags, window));
            proptest::prop_assert_eq!(&buf[t.payload_range()], &payload[..]);
            let r = SlicedPacket::from_ethernet(&buf[..n]).unwrap();
            let Some(TransportSlice::Tcp(et)) = r.transport else { panic!("not tcp") };
            let c = et.to_header().calc_checksum_ipv4_raw(src, dst, &payload).unwrap();
            proptest::prop_assert_eq!(et.checksum(), c);
        }
    }
}
