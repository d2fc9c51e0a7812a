//! Static inside-source NAT (`config-and-nat.md` §4): the compiled translation table and
//! the in-place rewrites with incremental checksum updates.
//!
//! `ip nat inside source static LOCAL GLOBAL` maps one address both ways: inside → outside
//! rewrites the source LOCAL → GLOBAL, outside → inside rewrites the destination
//! GLOBAL → LOCAL; ports never change. Lookups are O(1) both ways (two hash maps).
//!
//! Checksums (§4.3), all by RFC 1624 incremental update: the IPv4 header checksum always;
//! TCP and UDP for the pseudo-header change (a UDP checksum of 0 stays 0); ICMP queries need
//! nothing (the ICMP checksum has no pseudo-header). ICMP errors: the outer header is
//! translated as any packet, and the embedded datagram header in the reverse sense (an
//! outer destination rewrite X → Y rewrites the embedded *source* X → Y, an outer source
//! rewrite the embedded *destination*), fixing the embedded IP checksum and the ICMP
//! checksum. The embedded transport checksum is adjusted too when its field is among the
//! quoted bytes (always for UDP, whose checksum is within the first 8 bytes; for TCP only
//! when the sender quoted at least 18 bytes of the segment): it covers the original, whole
//! segment, so the pseudo-header adjustment keeps it exact; when it is not quoted there is
//! nothing to fix.

use std::net::Ipv4Addr;

use hashbrown::HashMap;

use crate::routing::{Interface, NatRole};
use crate::wire::checksum;
use crate::wire::frame::{Ipv4Info, L4};
use crate::wire::icmp::{self, Embedded};
use crate::wire::ipv4::{self, protocol, Ipv4Packet};
use crate::wire::{tcp, udp};

/// One `ip nat inside source static LOCAL GLOBAL` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StaticTranslation {
    /// Inside local address.
    pub local: Ipv4Addr,
    /// Inside global address.
    pub global: Ipv4Addr,
}

/// Why a static translation was refused (§4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NatError {
    /// LOCAL or GLOBAL is already used by another mapping.
    #[error("% {addr} already mapped ({local} -> {global})")]
    AlreadyMapped {
        /// The address that conflicts.
        addr: Ipv4Addr,
        /// The existing mapping's local address.
        local: Ipv4Addr,
        /// The existing mapping's global address.
        global: Ipv4Addr,
    },
}

/// Which way a packet crosses the NAT boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatDirection {
    /// From an `ip nat inside` interface to an `ip nat outside` one: source LOCAL → GLOBAL.
    InsideToOutside,
    /// Arriving on an `ip nat outside` interface: destination GLOBAL → LOCAL.
    OutsideToInside,
}

/// The compiled static translation table.
#[derive(Debug, Clone, Default)]
pub struct StaticNatTable {
    translations: Vec<StaticTranslation>,
    to_global: HashMap<Ipv4Addr, Ipv4Addr>,
    to_local: HashMap<Ipv4Addr, Ipv4Addr>,
}

impl StaticNatTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a mapping. Re-adding an identical mapping is accepted; a mapping that reuses
    /// LOCAL or GLOBAL of another is refused.
    pub fn insert(&mut self, local: Ipv4Addr, global: Ipv4Addr) -> Result<(), NatError> {
        let existing = self
            .translations
            .iter()
            .find(|t| t.local == local || t.global == global);
        if let Some(t) = existing {
            if t.local == local && t.global == global {
                return Ok(());
            }
            let addr = if t.local == local { local } else { global };
            return Err(NatError::AlreadyMapped {
                addr,
                local: t.local,
                global: t.global,
            });
        }
        self.translations.push(StaticTranslation { local, global });
        self.to_global.insert(local, global);
        self.to_local.insert(global, local);
        Ok(())
    }

    /// Removes a mapping (`no ip nat inside source static LOCAL GLOBAL`). Returns whether it
    /// existed.
    pub fn remove(&mut self, local: Ipv4Addr, global: Ipv4Addr) -> bool {
        let before = self.translations.len();
        self.translations
            .retain(|t| !(t.local == local && t.global == global));
        if self.translations.len() == before {
            return false;
        }
        self.to_global.remove(&local);
        self.to_local.remove(&global);
        true
    }

    /// The mappings in configuration order.
    pub fn translations(&self) -> &[StaticTranslation] {
        &self.translations
    }

    /// GLOBAL of a LOCAL address.
    #[inline]
    pub fn global_of(&self, local: Ipv4Addr) -> Option<Ipv4Addr> {
        self.to_global.get(&local).copied()
    }

    /// LOCAL of a GLOBAL address.
    #[inline]
    pub fn local_of(&self, global: Ipv4Addr) -> Option<Ipv4Addr> {
        self.to_local.get(&global).copied()
    }

    /// Whether the router must answer ARP for `addr` on `iface` as a NAT alias (§4.4): the
    /// interface is up and `ip nat outside`, `addr` is a GLOBAL address in its subnet.
    pub fn is_alias(&self, addr: Ipv4Addr, iface: &Interface) -> bool {
        iface.up
            && iface.nat == NatRole::Outside
            && iface
                .address
                .is_some_and(|a| a.contains(addr) && a.addr() != addr)
            && self.to_local.contains_key(&addr)
    }

    /// Applies the static translation for `direction` to the datagram in `frame` described
    /// by `ip` (which is updated to the new addresses). Returns whether anything changed;
    /// an address without a mapping passes untranslated (§4.2).
    pub fn translate(&self, frame: &mut [u8], ip: &mut Ipv4Info, direction: NatDirection) -> bool {
        match direction {
            NatDirection::InsideToOutside => match self.global_of(ip.src) {
                Some(g) => {
                    translate_source(frame, ip, g);
                    true
                }
                None => false,
            },
            NatDirection::OutsideToInside => match self.local_of(ip.dst) {
                Some(l) => {
                    translate_destination(frame, ip, l);
                    true
                }
                None => false,
            },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Source,
    Destination,
}

/// Rewrites the source address of the datagram to `new` (checksums fixed; for an ICMP error
/// the embedded destination is rewritten too when it was the old source).
pub fn translate_source(frame: &mut [u8], ip: &mut Ipv4Info, new: Ipv4Addr) {
    rewrite(frame, ip, Side::Source, new);
}

/// Rewrites the destination address of the datagram to `new` (checksums fixed; for an ICMP
/// error the embedded source is rewritten too when it was the old destination).
pub fn translate_destination(frame: &mut [u8], ip: &mut Ipv4Info, new: Ipv4Addr) {
    rewrite(frame, ip, Side::Destination, new);
}

#[inline]
fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn write_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn rewrite(frame: &mut [u8], ip: &mut Ipv4Info, side: Side, new: Ipv4Addr) {
    let old = match side {
        Side::Source => ip.src,
        Side::Destination => ip.dst,
    };
    if old == new || frame.len() < ip.end() {
        return;
    }
    {
        let mut p = Ipv4Packet::new_unchecked(&mut frame[ip.l3_offset..ip.end()]);
        match side {
            Side::Source => p.rewrite_src_addr(new),
            Side::Destination => p.rewrite_dst_addr(new),
        }
    }
    match side {
        Side::Source => ip.src = new,
        Side::Destination => ip.dst = new,
    }
    match &mut ip.l4 {
        L4::Tcp(_) => {
            let at = ip.l4_offset + tcp::CHECKSUM_OFFSET;
            let c = checksum::update_addr(read_u16(frame, at), old, new);
            write_u16(frame, at, c);
        }
        L4::Udp(_) => {
            let at = ip.l4_offset + udp::CHECKSUM_OFFSET;
            let c = checksum::update_udp_addr(read_u16(frame, at), old, new);
            write_u16(frame, at, c);
        }
        L4::Icmp(i) => {
            if let Some(e) = &mut i.embedded {
                // Reverse sense: the offending datagram travelled the other way.
                let inner_side = match side {
                    Side::Source => Side::Destination,
                    Side::Destination => Side::Source,
                };
                rewrite_embedded(frame, ip.l4_offset, e, inner_side, old, new);
            }
        }
        L4::Fragment | L4::Other => {}
    }
}

/// Rewrites one address of the datagram embedded in the ICMP error at `icmp_offset`, if it
/// equals `old`, fixing the embedded IP checksum, the quoted transport checksum and the ICMP
/// checksum. All fields sit at even offsets from the ICMP header (8 + a multiple of 4), so
/// word-wise updates of the ICMP checksum are exact.
fn rewrite_embedded(
    frame: &mut [u8],
    icmp_offset: usize,
    e: &mut Embedded,
    side: Side,
    old: Ipv4Addr,
    new: Ipv4Addr,
) {
    let current = match side {
        Side::Source => e.src,
        Side::Destination => e.dst,
    };
    if current != old {
        return;
    }
    let icmp_csum_at = icmp_offset + icmp::CHECKSUM_OFFSET;
    let mut icmp_csum = read_u16(frame, icmp_csum_at);

    let addr_at = e.ip_offset
        + match side {
            Side::Source => ipv4::SRC_ADDR_OFFSET,
            Side::Destination => ipv4::DST_ADDR_OFFSET,
        };
    frame[addr_at..addr_at + 4].copy_from_slice(&new.octets());
    icmp_csum = checksum::update_addr(icmp_csum, old, new);

    let ip_csum_at = e.ip_offset + ipv4::CHECKSUM_OFFSET;
    let old_ip_csum = read_u16(frame, ip_csum_at);
    let new_ip_csum = checksum::update_addr(old_ip_csum, old, new);
    write_u16(frame, ip_csum_at, new_ip_csum);
    icmp_csum = checksum::update_u16(icmp_csum, old_ip_csum, new_ip_csum);

    let quoted_l4 = e.present_len.saturating_sub(e.header_len);
    let l4_at = e.ip_offset + e.header_len;
    let first_fragment = matches!(e.l4, crate::wire::icmp::EmbeddedL4::Ports { .. });
    let l4_csum = match e.protocol {
        protocol::UDP if first_fragment && quoted_l4 >= udp::HEADER_LEN => {
            Some((l4_at + udp::CHECKSUM_OFFSET, true))
        }
        protocol::TCP if first_fragment && quoted_l4 >= tcp::CHECKSUM_OFFSET + 2 => {
            Some((l4_at + tcp::CHECKSUM_OFFSET, false))
        }
        _ => None,
    };
    if let Some((at, is_udp)) = l4_csum {
        let old_l4 = read_u16(frame, at);
        let new_l4 = if is_udp {
            checksum::update_udp_addr(old_l4, old, new)
        } else {
            checksum::update_addr(old_l4, old, new)
        };
        write_u16(frame, at, new_l4);
        icmp_csum = checksum::update_u16(icmp_csum, old_l4, new_l4);
    }
    write_u16(frame, icmp_csum_at, icmp_csum);
    match side {
        Side::Source => e.src = new,
        Side::Destination => e.dst = new,
    }
}

#[cfg(test)]
mod tests {
    use etherparse::{Icmpv4Type, PacketBuilder, SlicedPacket, TransportSlice};
    use proptest::prelude::*;

    use super::*;
    use crate::routing::{IfIndex, Ipv4Cidr};
    use crate::wire::ethernet::Mac;
    use crate::wire::frame::parse_frame;
    use crate::wire::icmp::EmbeddedL4;

    const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const B: [u8; 6] = [0x02, 0, 0, 0, 0x20, 0x00];

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn seed_table() -> StaticNatTable {
        let mut t = StaticNatTable::new();
        t.insert(ip("10.10.10.2"), ip("172.22.1.110")).unwrap();
        t.insert(ip("10.10.10.5"), ip("172.22.1.111")).unwrap();
        t
    }

    fn ipv4_of(f: &[u8]) -> Ipv4Info {
        *parse_frame(f).unwrap().ipv4().unwrap()
    }

    /// Checks every checksum of the frame with etherparse as the oracle.
    fn assert_checksums_valid(f: &[u8]) {
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(etherparse::NetSlice::Ipv4(h)) = &p.net else {
            panic!("not ipv4")
        };
        let hdr = h.header().to_header();
        assert_eq!(hdr.header_checksum, hdr.calc_header_checksum());
        match &p.transport {
            Some(TransportSlice::Tcp(t)) => {
                let c = t.to_header().calc_checksum_ipv4(&hdr, t.payload()).unwrap();
                assert_eq!(t.checksum(), c);
            }
            Some(TransportSlice::Udp(u)) if u.checksum() != 0 => {
                let c = u.to_header().calc_checksum_ipv4(&hdr, u.payload()).unwrap();
                assert_eq!(u.checksum(), c);
            }
            Some(TransportSlice::Icmpv4(i)) => {
                let c = i.header().icmp_type.calc_checksum(i.payload());
                assert_eq!(i.checksum(), c);
            }
            _ => {}
        }
        // Our own parser must accept it with full verification as well.
        parse_frame(f).unwrap();
    }

    #[test]
    fn conflicts_are_refused_with_the_ios_text() {
        let mut t = seed_table();
        assert!(t.insert(ip("10.10.10.2"), ip("172.22.1.110")).is_ok());
        let e = t.insert(ip("10.10.10.2"), ip("172.22.1.120")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "% 10.10.10.2 already mapped (10.10.10.2 -> 172.22.1.110)"
        );
        let e = t.insert(ip("10.10.10.9"), ip("172.22.1.111")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "% 172.22.1.111 already mapped (10.10.10.5 -> 172.22.1.111)"
        );
        assert!(t.remove(ip("10.10.10.5"), ip("172.22.1.111")));
        assert!(!t.remove(ip("10.10.10.5"), ip("172.22.1.111")));
        assert_eq!(t.local_of(ip("172.22.1.111")), None);
        assert!(t.insert(ip("10.10.10.9"), ip("172.22.1.111")).is_ok());
        assert_eq!(t.global_of(ip("10.10.10.9")), Some(ip("172.22.1.111")));
    }

    #[test]
    fn aliases_only_on_nat_outside_in_subnet() {
        let t = seed_table();
        let outside = Interface {
            index: IfIndex(0),
            mac: Mac(B),
            address: Some(Ipv4Cidr::new(ip("172.22.1.16"), 24)),
            nat: NatRole::Outside,
            up: true,
        };
        assert!(t.is_alias(ip("172.22.1.110"), &outside));
        assert!(t.is_alias(ip("172.22.1.111"), &outside));
        assert!(!t.is_alias(ip("172.22.1.112"), &outside));
        assert!(!t.is_alias(ip("172.22.1.16"), &outside));
        let inside = Interface {
            nat: NatRole::Inside,
            address: Some(Ipv4Cidr::new(ip("10.10.10.1"), 24)),
            ..outside
        };
        assert!(!t.is_alias(ip("172.22.1.110"), &inside));
        let elsewhere = Interface {
            address: Some(Ipv4Cidr::new(ip("192.0.2.1"), 24)),
            ..outside
        };
        assert!(!t.is_alias(ip("172.22.1.110"), &elsewhere));
    }

    #[test]
    fn b1_inbound_syn_to_mail_server() {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([198, 51, 100, 7], [172, 22, 1, 110], 64)
            .tcp(40001, 25, 0x1000_0000, 64240)
            .syn()
            .options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)])
            .unwrap()
            .write(&mut f, &[])
            .unwrap();
        let before = f.clone();
        let mut info = ipv4_of(&f);
        assert!(seed_table().translate(&mut f, &mut info, NatDirection::OutsideToInside));
        let ttl = Ipv4Packet::new_unchecked(&mut f[14..]).decrement_ttl();
        assert_eq!(ttl, 63);
        assert_eq!(info.dst, ip("10.10.10.2"));
        assert_checksums_valid(&f);
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(etherparse::NetSlice::Ipv4(h)) = &p.net else {
            panic!()
        };
        assert_eq!(h.header().destination(), [10, 10, 10, 2]);
        assert_eq!(h.header().source(), [198, 51, 100, 7]);
        assert_eq!(h.header().ttl(), 63);
        // TCP header otherwise identical: only the checksum bytes differ.
        let tcp = 14 + 20;
        assert_eq!(&f[tcp..tcp + 16], &before[tcp..tcp + 16]);
        assert_eq!(&f[tcp + 18..], &before[tcp + 18..]);
    }

    #[test]
    fn b3_outbound_session_both_directions() {
        let t = seed_table();
        let mut f = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 10, 10, 5], [203, 0, 113, 9], 64)
            .tcp(50000, 80, 7, 64240)
            .syn()
            .write(&mut f, &[])
            .unwrap();
        let mut info = ipv4_of(&f);
        assert!(t.translate(&mut f, &mut info, NatDirection::InsideToOutside));
        assert_eq!(info.src, ip("172.22.1.111"));
        assert_checksums_valid(&f);
        assert_eq!(ipv4_of(&f).src, ip("172.22.1.111"));

        let mut r = Vec::new();
        PacketBuilder::ethernet2(B, A)
            .ipv4([203, 0, 113, 9], [172, 22, 1, 111], 60)
            .tcp(80, 50000, 99, 65535)
            .syn()
            .ack(8)
            .write(&mut r, &[])
            .unwrap();
        let mut info = ipv4_of(&r);
        assert!(t.translate(&mut r, &mut info, NatDirection::OutsideToInside));
        assert_checksums_valid(&r);
        assert_eq!(ipv4_of(&r).dst, ip("10.10.10.5"));
        // A destination without a mapping passes untranslated.
        let mut info = ipv4_of(&r);
        assert!(!t.translate(&mut r, &mut info, NatDirection::OutsideToInside));
    }

    /// B5 with hand-written bytes: time exceeded from 172.22.1.1 to 172.22.1.111 embedding
    /// host5's echo request (id 7) as it left Ethernet2/0.
    #[test]
    fn b5_time_exceeded_embedding_echo_request() {
        #[rustfmt::skip]
        let mut f: Vec<u8> = vec![
            // Ethernet: isp -> Ethernet2/0
            0x02, 0, 0, 0, 0x20, 0x00,  0x02, 0, 0, 0, 0, 0x01,  0x08, 0x00,
            // IPv4: len 56, id 0x0101, TTL 255, ICMP, csum 0, 172.22.1.1 -> 172.22.1.111
            0x45, 0x00, 0x00, 56, 0x01, 0x01, 0x00, 0x00, 255, 1, 0x00, 0x00,
            172, 22, 1, 1,  172, 22, 1, 111,
            // ICMP time exceeded, code 0, csum 0, unused
            11, 0, 0x00, 0x00, 0, 0, 0, 0,
            // Embedded IPv4: len 84, id 0x4242, DF, TTL 1, ICMP, csum 0,
            // 172.22.1.111 -> 203.0.113.9
            0x45, 0x00, 0x00, 84, 0x42, 0x42, 0x40, 0x00, 1, 1, 0x00, 0x00,
            172, 22, 1, 111,  203, 0, 113, 9,
            // Embedded echo request: id 7, seq 1 (checksum as the host sent it)
            8, 0, 0x3a, 0x5c, 0x00, 0x07, 0x00, 0x01,
        ];
        // Fill the checksums with the oracle's arithmetic.
        let inner = 14 + 20 + 8;
        let (h, _) = etherparse::Ipv4Header::from_slice(&f[inner..]).unwrap();
        f[inner + 10..inner + 12].copy_from_slice(&h.calc_header_checksum().to_be_bytes());
        let (h, _) = etherparse::Ipv4Header::from_slice(&f[14..]).unwrap();
        f[24..26].copy_from_slice(&h.calc_header_checksum().to_be_bytes());
        let c =
            Icmpv4Type::TimeExceeded(etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit)
                .calc_checksum(&f[42..]);
        f[36..38].copy_from_slice(&c.to_be_bytes());
        assert_checksums_valid(&f);

        let mut info = ipv4_of(&f);
        let L4::Icmp(i) = info.l4 else { panic!() };
        assert_eq!(
            i.embedded.unwrap().l4,
            EmbeddedL4::IcmpQuery {
                icmp_type: 8,
                ident: 7
            }
        );
        assert!(seed_table().translate(&mut f, &mut info, NatDirection::OutsideToInside));
        assert_checksums_valid(&f);
        // Outer destination and embedded source are now 10.10.10.5; nothing else moved.
        assert_eq!(&f[30..34], &[10, 10, 10, 5]);
        assert_eq!(&f[26..30], &[172, 22, 1, 1]);
        assert_eq!(&f[inner + 12..inner + 16], &[10, 10, 10, 5]);
        assert_eq!(&f[inner + 16..inner + 20], &[203, 0, 113, 9]);
        let (h, _) = etherparse::Ipv4Header::from_slice(&f[inner..]).unwrap();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        let L4::Icmp(i) = info.l4 else { panic!() };
        assert_eq!(i.embedded.unwrap().src, ip("10.10.10.5"));
        assert_eq!(ipv4_of(&f), info);
    }

    #[test]
    fn b5_echo_request_and_reply() {
        let t = seed_table();
        let mut f = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 10, 10, 5], [203, 0, 113, 9], 64)
            .icmpv4_echo_request(7, 1)
            .write(&mut f, b"ping payload")
            .unwrap();
        let icmp_before = f[34..].to_vec();
        let mut info = ipv4_of(&f);
        assert!(t.translate(&mut f, &mut info, NatDirection::InsideToOutside));
        assert_checksums_valid(&f);
        assert_eq!(info.src, ip("172.22.1.111"));
        // ICMP queries carry no pseudo-header: the message is untouched.
        assert_eq!(&f[34..], &icmp_before[..]);
        let mut r = Vec::new();
        PacketBuilder::ethernet2(B, A)
            .ipv4([203, 0, 113, 9], [172, 22, 1, 111], 60)
            .icmpv4_echo_reply(7, 1)
            .write(&mut r, b"ping payload")
            .unwrap();
        let mut info = ipv4_of(&r);
        assert!(t.translate(&mut r, &mut info, NatDirection::OutsideToInside));
        assert_checksums_valid(&r);
        assert_eq!(ipv4_of(&r).dst, ip("10.10.10.5"));
    }

    fn port_unreachable(
        from: [u8; 4],
        to: [u8; 4],
        inner_src: [u8; 4],
        inner_dst: [u8; 4],
        quote: Option<usize>,
        tcp: bool,
    ) -> Vec<u8> {
        let mut inner = Vec::new();
        let b = PacketBuilder::ipv4(inner_src, inner_dst, 63);
        if tcp {
            b.tcp(53001, 5000, 1, 100)
                .write(&mut inner, b"query")
                .unwrap();
        } else {
            b.udp(53001, 5000).write(&mut inner, b"query").unwrap();
        }
        if let Some(q) = quote {
            inner.truncate(q);
        }
        let mut f = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4(from, to, 62)
            .icmpv4(Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut f, &inner)
            .unwrap();
        f
    }

    #[test]
    fn b9_port_unreachable_of_udp_session() {
        let mut f = port_unreachable(
            [192, 0, 2, 53],
            [172, 22, 1, 111],
            [172, 22, 1, 111],
            [192, 0, 2, 53],
            None,
            false,
        );
        let mut info = ipv4_of(&f);
        assert!(seed_table().translate(&mut f, &mut info, NatDirection::OutsideToInside));
        assert_checksums_valid(&f);
        assert_eq!(info.dst, ip("10.10.10.5"));
        let L4::Icmp(i) = info.l4 else { panic!() };
        let e = i.embedded.unwrap();
        assert_eq!(e.src, ip("10.10.10.5"));
        assert_eq!(
            e.l4,
            EmbeddedL4::Ports {
                src_port: 53001,
                dst_port: 5000
            }
        );
        // The whole embedded datagram was quoted: its IP and UDP checksums verify as if
        // host5 had sent it from 10.10.10.5.
        let inner = SlicedPacket::from_ip(&f[e.ip_offset..]).unwrap();
        let Some(etherparse::NetSlice::Ipv4(h)) = &inner.net else {
            panic!()
        };
        let hdr = h.header().to_header();
        assert_eq!(hdr.source, [10, 10, 10, 5]);
        assert_eq!(hdr.header_checksum, hdr.calc_header_checksum());
        let Some(TransportSlice::Udp(u)) = inner.transport else {
            panic!()
        };
        assert_eq!(
            u.checksum(),
            u.to_header().calc_checksum_ipv4(&hdr, u.payload()).unwrap()
        );
    }

    #[test]
    fn icmp_error_from_inside_rewrites_embedded_destination() {
        // The mail server reports an unreachable port about a datagram the client sent to
        // 172.22.1.110 (which it saw as 10.10.10.2); only 8 bytes of TCP quoted, so the TCP
        // checksum is not present and only the IP and ICMP checksums change.
        let mut f = port_unreachable(
            [10, 10, 10, 2],
            [198, 51, 100, 7],
            [198, 51, 100, 7],
            [10, 10, 10, 2],
            Some(28),
            true,
        );
        let mut info = ipv4_of(&f);
        assert!(seed_table().translate(&mut f, &mut info, NatDirection::InsideToOutside));
        assert_checksums_valid(&f);
        let L4::Icmp(i) = info.l4 else { panic!() };
        let e = i.embedded.unwrap();
        assert_eq!(
            (info.src, e.dst, e.src),
            (ip("172.22.1.110"), ip("172.22.1.110"), ip("198.51.100.7"))
        );
        let (h, _) = etherparse::Ipv4Header::from_slice(&f[e.ip_offset..]).unwrap();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
    }

    #[test]
    fn embedded_tcp_checksum_adjusted_when_quoted() {
        let mut f = port_unreachable(
            [192, 0, 2, 53],
            [172, 22, 1, 111],
            [172, 22, 1, 111],
            [192, 0, 2, 53],
            None,
            true,
        );
        let mut info = ipv4_of(&f);
        assert!(seed_table().translate(&mut f, &mut info, NatDirection::OutsideToInside));
        assert_checksums_valid(&f);
        let L4::Icmp(i) = info.l4 else { panic!() };
        let inner = SlicedPacket::from_ip(&f[i.embedded.unwrap().ip_offset..]).unwrap();
        let Some(etherparse::NetSlice::Ipv4(h)) = &inner.net else {
            panic!()
        };
        let hdr = h.header().to_header();
        let Some(TransportSlice::Tcp(t)) = inner.transport else {
            panic!()
        };
        assert_eq!(
            t.checksum(),
            t.to_header().calc_checksum_ipv4(&hdr, t.payload()).unwrap()
        );
    }

    proptest! {
        #[test]
        fn icmp_error_rewrites_keep_every_checksum_valid(
            inner_src in any::<[u8; 4]>(),
            inner_dst in any::<[u8; 4]>(),
            new in any::<[u8; 4]>(),
            quote in 20usize..80,
            proto in 0u8..3,
            outer_dst_side in any::<bool>(),
        ) {
            let mut inner = Vec::new();
            let b = PacketBuilder::ipv4(inner_src, inner_dst, 9);
            match proto {
                0 => b.tcp(1000, 25, 5, 10).write(&mut inner, b"MAIL FROM:<a@b>\r\n").unwrap(),
                1 => b.udp(1000, 53).write(&mut inner, b"q").unwrap(),
                _ => b.icmpv4_echo_request(3, 4).write(&mut inner, b"ping").unwrap(),
            }
            inner.truncate(quote.min(inner.len()));
            // The error travels toward the offending datagram's source.
            let (from, to) = if outer_dst_side {
                ([192, 0, 2, 1], inner_src)
            } else {
                (inner_dst, [192, 0, 2, 1])
            };
            let mut f = Vec::new();
            PacketBuilder::ethernet2(A, B)
                .ipv4(from, to, 30)
                .icmpv4(Icmpv4Type::TimeExceeded(
                    etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
                ))
                .write(&mut f, &inner)
                .unwrap();
            let mut info = ipv4_of(&f);
            let new = Ipv4Addr::from(new);
            if outer_dst_side {
                translate_destination(&mut f, &mut info, new);
            } else {
                translate_source(&mut f, &mut info, new);
            }
            assert_checksums_valid(&f);
            let L4::Icmp(i) = info.l4 else { panic!("not icmp") };
            let e = i.embedded.unwrap();
            if outer_dst_side {
                prop_assert_eq!(e.src, new);
            } else {
                prop_assert_eq!(e.dst, new);
            }
            let (h, _) = etherparse::Ipv4Header::from_slice(&f[e.ip_offset..]).unwrap();
            prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
            prop_assert_eq!(ipv4_of(&f), info);
        }

        #[test]
        fn incremental_rewrite_equals_recompute(
            src in any::<[u8; 4]>(),
            dst in any::<[u8; 4]>(),
            new in any::<[u8; 4]>(),
            sport in any::<u16>(),
            dport in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            kind in 0u8..3,
            rewrite_dst in any::<bool>(),
        ) {
            let b = PacketBuilder::ethernet2(A, B).ipv4(src, dst, 64);
            let mut f = Vec::new();
            match kind {
                0 => b.tcp(sport, dport, 1, 100).write(&mut f, &payload).unwrap(),
                1 => b.udp(sport, dport).write(&mut f, &payload).unwrap(),
                _ => {
                    // UDP without checksum: must stay 0.
                    b.udp(sport, dport).write(&mut f, &payload).unwrap();
                    f[40] = 0;
                    f[41] = 0;
                }
            }
            let mut info = ipv4_of(&f);
            let new = Ipv4Addr::from(new);
            if rewrite_dst {
                translate_destination(&mut f, &mut info, new);
            } else {
                translate_source(&mut f, &mut info, new);
            }
            if kind == 2 {
                prop_assert_eq!(&f[40..42], &[0, 0]);
            }
            // Incremental result equals a full recomputation by the oracle.
            let p = SlicedPacket::from_ethernet(&f).unwrap();
            let Some(etherparse::NetSlice::Ipv4(h)) = &p.net else { panic!() };
            let hdr = h.header().to_header();
            prop_assert_eq!(hdr.header_checksum, hdr.calc_header_checksum());
            match p.transport {
                Some(TransportSlice::Tcp(t)) => {
                    prop_assert_eq!(t.checksum(), t.to_header().calc_checksum_ipv4(&hdr, t.payload()).unwrap());
                }
                Some(TransportSlice::Udp(u)) if kind == 1 => {
                    prop_assert_eq!(u.checksum(), u.to_header().calc_checksum_ipv4(&hdr, u.payload()).unwrap());
                }
                _ => {}
            }
            prop_assert!(parse_frame(&f).is_ok());
        }
    }
}
