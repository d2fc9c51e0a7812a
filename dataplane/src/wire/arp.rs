//! ARP for IPv4 over Ethernet (RFC 826): a view over the 28-byte packet and its emitter.
//!
//! The firewall's interfaces have no kernel addresses, so the dataplane answers ARP for its
//! own interface addresses and for the static-translation aliases itself
//! (`config-and-nat.md` §4.4, §7) and resolves next hops (§6). Only hardware type Ethernet
//! (1), protocol IPv4 (0x0800), lengths 6 and 4 are accepted; anything else is `bad-arp`.

use std::net::Ipv4Addr;

use super::ethernet::{self, Mac};
use super::{EmitError, ParseError};

mod field {
    use std::ops::Range;

    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an ARP packet for IPv4 over Ethernet.
pub const PACKET_LEN: usize = 28;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOp {
    /// who-has (1).
    Request,
    /// is-at (2).
    Reply,
    /// Any other operation code (RARP and friends), ignored by the local stack.
    Other(u16),
}

impl ArpOp {
    fn from_u16(v: u16) -> ArpOp {
        match v {
            1 => ArpOp::Request,
            2 => ArpOp::Reply,
            o => ArpOp::Other(o),
        }
    }

    fn to_u16(self) -> u16 {
        match self {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
            ArpOp::Other(o) => o,
        }
    }
}

/// A view over an ARP packet (IPv4 over Ethernet).
#[derive(Debug, Clone)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps a buffer without checks.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps a buffer after checking length and the Ethernet/IPv4 type and length fields.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(ParseError::BadArp);
        }
        if b[field::HTYPE] != [0, 1]
            || b[field::PTYPE] != [0x08, 0x00]
            || b[field::HLEN] != 6
            || b[field::PLEN] != 4
        {
            return Err(ParseError::BadArp);
        }
        Ok(ArpPacket { buffer })
    }

    /// Operation.
    #[inline]
    pub fn operation(&self) -> ArpOp {
        let b = &self.buffer.as_ref()[field::OPER];
        ArpOp::from_u16(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Sender hardware address.
    #[inline]
    pub fn sender_mac(&self) -> Mac {
        Mac::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    /// Sender protocol address.
    #[inline]
    pub fn sender_ip(&self) -> Ipv4Addr {
        ip_at(&self.buffer.as_ref()[field::SPA])
    }

    /// Target hardware address.
    #[inline]
    pub fn target_mac(&self) -> Mac {
        Mac::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    /// Target protocol address.
    #[inline]
    pub fn target_ip(&self) -> Ipv4Addr {
        ip_at(&self.buffer.as_ref()[field::TPA])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Writes the fixed type/length fields for IPv4 over Ethernet.
    #[inline]
    pub fn set_ethernet_ipv4(&mut self) {
        let b = self.buffer.as_mut();
        b[field::HTYPE].copy_from_slice(&[0, 1]);
        b[field::PTYPE].copy_from_slice(&[0x08, 0x00]);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }

    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, op: ArpOp) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&op.to_u16().to_be_bytes());
    }

    /// Sets the sender addresses.
    #[inline]
    pub fn set_sender(&mut self, mac: Mac, ip: Ipv4Addr) {
        let b = self.buffer.as_mut();
        b[field::SHA].copy_from_slice(&mac.0);
        b[field::SPA].copy_from_slice(&ip.octets());
    }

    /// Sets the target addresses.
    #[inline]
    pub fn set_target(&mut self, mac: Mac, ip: Ipv4Addr) {
        let b = self.buffer.as_mut();
        b[field::THA].copy_from_slice(&mac.0);
        b[field::TPA].copy_from_slice(&ip.octets());
    }
}

#[inline]
fn ip_at(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// The fields of an ARP packet, as parsed or to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// Operation.
    pub op: ArpOp,
    /// Sender hardware address.
    pub sender_mac: Mac,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: Mac,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Reads the fields of a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> ArpRepr {
        ArpRepr {
            op: p.operation(),
            sender_mac: p.sender_mac(),
            sender_ip: p.sender_ip(),
            target_mac: p.target_mac(),
            target_ip: p.target_ip(),
        }
    }

    /// The reply to this request, answering that `ip` is at `mac`.
    pub fn reply_from(&self, mac: Mac, ip: Ipv4Addr) -> ArpRepr {
        ArpRepr {
            op: ArpOp::Reply,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }

    /// A who-has request for `target_ip`, sent from `mac`/`ip`.
    pub fn request(mac: Mac, ip: Ipv4Addr, target_ip: Ipv4Addr) -> ArpRepr {
        ArpRepr {
            op: ArpOp::Request,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: Mac::ZERO,
            target_ip,
        }
    }

    /// A gratuitous ARP announcing `ip` at `mac` (a request for its own address).
    pub fn gratuitous(mac: Mac, ip: Ipv4Addr) -> ArpRepr {
        ArpRepr {
            op: ArpOp::Request,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: Mac::ZERO,
            target_ip: ip,
        }
    }

    /// Writes the packet into the first [`PACKET_LEN`] bytes of `buf`.
    pub fn write(&self, buf: &mut [u8]) {
        let mut p = ArpPacket::new_unchecked(buf);
        p.set_ethernet_ipv4();
        p.set_operation(self.op);
        p.set_sender(self.sender_mac, self.sender_ip);
        p.set_target(self.target_mac, self.target_ip);
    }

    /// Emits a whole Ethernet frame carrying this packet into `buf`, padded to the Ethernet
    /// minimum of 60 bytes. Requests go to broadcast, replies to the target's MAC. Returns
    /// the frame length.
    pub fn emit_frame(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        const FRAME_LEN: usize = 60;
        let buf = buf.get_mut(..FRAME_LEN).ok_or(EmitError::BufferTooSmall)?;
        let dst = match self.op {
            ArpOp::Reply => self.target_mac,
            _ => Mac::BROADCAST,
        };
        ethernet::write_header(buf, dst, self.sender_mac, ethernet::ethertype::ARP);
        let body = &mut buf[ethernet::HEADER_LEN..];
        self.write(body);
        body[PACKET_LEN..].fill(0);
        Ok(FRAME_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_then_parse_round_trips() {
        let us = Mac([0x02, 0x00, 0x00, 0x00, 0x20, 0x00]);
        let req = ArpRepr::request(
            us,
            Ipv4Addr::new(172, 22, 1, 16),
            Ipv4Addr::new(172, 22, 1, 1),
        );
        let mut buf = [0u8; 64];
        let n = req.emit_frame(&mut buf).unwrap();
        assert_eq!(n, 60);
        let (eth, _) = etherparse::Ethernet2Header::from_slice(&buf[..n]).unwrap();
        assert_eq!(eth.destination, [0xff; 6]);
        assert_eq!(eth.ether_type, etherparse::EtherType::ARP);
        let p = ArpPacket::new_checked(&buf[14..n]).unwrap();
        assert_eq!(ArpRepr::parse(&p), req);
        let oracle = etherparse::ArpPacket::from_slice(&buf[14..n]).unwrap();
        assert_eq!(oracle.operation, etherparse::ArpOperation::REQUEST);
        assert_eq!(oracle.target_protocol_addr(), &[172, 22, 1, 1]);
    }

    #[test]
    fn rejects_non_ipv4_over_ethernet() {
        let mut b = [0u8; 28];
        ArpRepr::gratuitous(Mac([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1)).write(&mut b);
        assert!(ArpPacket::new_checked(&b[..]).is_ok());
        b[5] = 16;
        assert_eq!(
            ArpPacket::new_checked(&b[..]).unwrap_err(),
            ParseError::BadArp
        );
        assert_eq!(
            ArpPacket::new_checked(&b[..27]).unwrap_err(),
            ParseError::BadArp
        );
    }

    #[test]
    fn buffer_too_small() {
        let mut b = [0u8; 59];
        let r = ArpRepr::gratuitous(Mac::ZERO, Ipv4Addr::UNSPECIFIED).emit_frame(&mut b);
        assert_eq!(r, Err(EmitError::BufferTooSmall));
    }
}
