//! ICMP messages (RFC 792): a view over the 8-byte header, message classes, and the lenient
//! parse of the datagram header embedded in an error message.
//!
//! Queries (echo, timestamp, information, address mask; requests and replies) carry an
//! identifier and sequence number that key ICMP sessions (`cbac-sessions.md` §5.1). Errors
//! (unreachable, source quench, redirect, time exceeded, parameter problem) embed the IP
//! header of the offending datagram and at least its first 8 bytes; that header is parsed
//! leniently: its checksum is not verified and its total length does not have to match the
//! (truncated) bytes present. Only a version-4 header with a sane IHL that fits is required.

use std::net::Ipv4Addr;

use super::ipv4::{protocol, Ipv4Packet};
use super::ParseError;

mod field {
    use std::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const SEQ: Range<usize> = 6..8;
    pub const DATA: usize = 8;
}

/// Length of the ICMP header (type, code, checksum, rest-of-header).
pub const HEADER_LEN: usize = field::DATA;
/// Offset of the checksum inside the ICMP header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// ICMP type numbers.
pub mod types {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Source quench.
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAMETER_PROBLEM: u8 = 12;
    /// Timestamp request.
    pub const TIMESTAMP_REQUEST: u8 = 13;
    /// Timestamp reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
    /// Information request.
    pub const INFO_REQUEST: u8 = 15;
    /// Information reply.
    pub const INFO_REPLY: u8 = 16;
    /// Address mask request.
    pub const MASK_REQUEST: u8 = 17;
    /// Address mask reply.
    pub const MASK_REPLY: u8 = 18;
}

/// Destination-unreachable codes the router sends.
pub mod unreachable {
    /// Network unreachable (no route).
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set.
    pub const FRAG_NEEDED: u8 = 4;
    /// Communication administratively prohibited (ACL deny).
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// What kind of message an ICMP type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpClass {
    /// A request that may open an ICMP session (echo, timestamp, information, mask).
    QueryRequest,
    /// The reply to such a request.
    QueryReply,
    /// An error message carrying an embedded datagram header.
    Error,
    /// Anything else (router advertisement, traceroute, unknown types).
    Other,
}

/// Classifies an ICMP type.
pub fn classify(icmp_type: u8) -> IcmpClass {
    use types::*;
    match icmp_type {
        ECHO_REQUEST | TIMESTAMP_REQUEST | INFO_REQUEST | MASK_REQUEST => IcmpClass::QueryRequest,
        ECHO_REPLY | TIMESTAMP_REPLY | INFO_REPLY | MASK_REPLY => IcmpClass::QueryReply,
        DEST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAMETER_PROBLEM => {
            IcmpClass::Error
        }
        _ => IcmpClass::Other,
    }
}

/// The reply type of a query request type.
pub fn reply_type(request_type: u8) -> Option<u8> {
    use types::*;
    match request_type {
        ECHO_REQUEST => Some(ECHO_REPLY),
        TIMESTAMP_REQUEST => Some(TIMESTAMP_REPLY),
        INFO_REQUEST => Some(INFO_REPLY),
        MASK_REQUEST => Some(MASK_REPLY),
        _ => None,
    }
}

/// A view over an ICMP message.
#[derive(Debug, Clone)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wraps a buffer without checks.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    /// Wraps a message after checking it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::BadIcmpHeader);
        }
        Ok(IcmpPacket { buffer })
    }

    /// Type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    /// Identifier (queries).
    #[inline]
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT.start)
    }

    /// Sequence number (queries).
    #[inline]
    pub fn seq(&self) -> u16 {
        self.u16_at(field::SEQ.start)
    }

    /// Data after the 8-byte header (the embedded datagram of an error).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA..]
    }

    /// Whether the checksum over the whole message is right.
    #[inline]
    pub fn checksum_valid(&self) -> bool {
        super::checksum::ones_sum(self.buffer.as_ref()) == 0xffff
    }

    #[inline]
    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets the type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Sets the code.
    #[inline]
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the 4-byte rest-of-header (identifier/sequence, unused, pointer or MTU).
    #[inline]
    pub fn set_rest_of_header(&mut self, v: [u8; 4]) {
        self.buffer.as_mut()[field::IDENT.start..field::DATA].copy_from_slice(&v);
    }

    /// Computes and stores the checksum over the whole message.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = super::checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Mutable data after the header.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA..]
    }
}

/// The transport part of a datagram embedded in an ICMP error, as far as it is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddedL4 {
    /// TCP or UDP ports (the first 4 bytes were present).
    Ports {
        /// Source port of the offending datagram.
        src_port: u16,
        /// Destination port of the offending datagram.
        dst_port: u16,
    },
    /// An ICMP query (type and identifier present).
    IcmpQuery {
        /// Type of the embedded message (echo request, ...).
        icmp_type: u8,
        /// Its identifier.
        ident: u16,
    },
    /// Another protocol, a non-initial fragment, or too few bytes to tell.
    Unknown,
}

/// The datagram header embedded in an ICMP error, parsed leniently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Embedded {
    /// Offset of the embedded IP header, from the start of the ICMP message.
    pub ip_offset: usize,
    /// Length of the embedded IP header.
    pub header_len: usize,
    /// Bytes of the embedded datagram present in the message (header included).
    pub present_len: usize,
    /// Source address of the offending datagram.
    pub src: Ipv4Addr,
    /// Destination address of the offending datagram.
    pub dst: Ipv4Addr,
    /// Its protocol.
    pub protocol: u8,
    /// Its transport header, as far as present.
    pub l4: EmbeddedL4,
}

/// Parses the datagram embedded in an ICMP error message (`msg` starts at the ICMP header).
pub fn parse_embedded(msg: &[u8]) -> Result<Embedded, ParseError> {
    let data = msg.get(HEADER_LEN..).ok_or(ParseError::BadIcmpHeader)?;
    let ip = Ipv4Packet::new_header_checked(data).map_err(|_| ParseError::BadIcmpError)?;
    let hl = ip.header_len();
    let l4 = &data[hl..];
    let first_fragment = ip.frag_offset() == 0;
    let proto = ip.protocol();
    let l4_info = match proto {
        protocol::TCP | protocol::UDP if first_fragment && l4.len() >= 4 => EmbeddedL4::Ports {
            src_port: u16::from_be_bytes([l4[0], l4[1]]),
            dst_port: u16::from_be_bytes([l4[2], l4[3]]),
        },
        protocol::ICMP
            if first_fragment && l4.len() >= 6 && classify(l4[0]) != IcmpClass::Error =>
        {
            EmbeddedL4::IcmpQuery {
                icmp_type: l4[0],
                ident: u16::from_be_bytes([l4[4], l4[5]]),
            }
        }
        _ => EmbeddedL4::Unknown,
    };
    Ok(Embedded {
        ip_offset: HEADER_LEN,
        header_len: hl,
        present_len: data.len(),
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        protocol: proto,
        l4: l4_info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify(8), IcmpClass::QueryRequest);
        assert_eq!(classify(14), IcmpClass::QueryReply);
        assert_eq!(classify(11), IcmpClass::Error);
        assert_eq!(classify(9), IcmpClass::Other);
        assert_eq!(reply_type(17), Some(18));
        assert_eq!(reply_type(0), None);
    }

    #[test]
    fn embedded_echo_request() {
        // Time exceeded, then IP header 172.22.1.111 -> 203.0.113.9 proto 1, echo id 7.
        let msg = [
            11, 0, 0, 0, 0, 0, 0, 0, // icmp header
            0x45, 0, 0, 84, 0, 1, 0x40, 0, 1, 1, 0, 0, 172, 22, 1, 111, 203, 0, 113, 9, // ip
            8, 0, 0xaa, 0xbb, 0, 7, 0, 1, // echo header
        ];
        let e = parse_embedded(&msg).unwrap();
        assert_eq!(e.src, Ipv4Addr::new(172, 22, 1, 111));
        assert_eq!(e.dst, Ipv4Addr::new(203, 0, 113, 9));
        assert_eq!(
            e.l4,
            EmbeddedL4::IcmpQuery {
                icmp_type: 8,
                ident: 7
            }
        );
        assert_eq!(e.present_len, 28);
    }

    #[test]
    fn embedded_truncated() {
        let msg = [3, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 84];
        assert_eq!(parse_embedded(&msg).unwrap_err(), ParseError::BadIcmpError);
        let msg = [
            3, 3, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 84, 0, 1, 0x40, 0, 1, 17, 0, 0, 10, 0, 0, 1, 10, 0,
            0, 2, 0x13,
        ];
        assert_eq!(parse_embedded(&msg).unwrap().l4, EmbeddedL4::Unknown);
    }
}
