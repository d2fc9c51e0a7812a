//! IPv4 headers (RFC 791): a view checked once, then infallible reads and writes.
//!
//! `new_checked` validates version, IHL (≥ 5 words and within the buffer) and the total
//! length against the bytes available (Ethernet padding after the datagram is allowed and
//! ignored). The header checksum is verified separately ([`Ipv4Packet::checksum_valid`]) so
//! that the lenient parse of a header embedded in an ICMP error can skip it.

use std::net::Ipv4Addr;

use super::checksum;
use super::ParseError;

mod field {
    use std::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of an IPv4 header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// Offset of the source address inside the header (for incremental rewrites).
pub const SRC_ADDR_OFFSET: usize = field::SRC_ADDR.start;
/// Offset of the destination address inside the header.
pub const DST_ADDR_OFFSET: usize = field::DST_ADDR.start;
/// Offset of the header checksum.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;
/// Offset of the TTL field in the header.
pub const TTL_OFFSET: usize = field::TTL;

/// IP protocol numbers the dataplane knows.
pub mod protocol {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view over an IPv4 header and its payload.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checks.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after checking version, IHL and total length (not the checksum).
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Self::new_header_checked(buffer)?;
        let len = p.buffer.as_ref().len();
        let total = usize::from(p.total_len());
        if total < p.header_len() || total > len {
            return Err(ParseError::BadTotalLength);
        }
        Ok(p)
    }

    /// Wraps a buffer after checking version and IHL only: the lenient parse used for the
    /// header embedded in an ICMP error, whose datagram is truncated by design.
    pub fn new_header_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(ParseError::TooShort);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(ParseError::NotIpv4);
        }
        let p = Ipv4Packet { buffer };
        let hl = p.header_len();
        if hl < MIN_HEADER_LEN || hl > p.buffer.as_ref().len() {
            return Err(ParseError::BadIpHeaderLen);
        }
        Ok(p)
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// DSCP and ECN byte.
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Total length field.
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH.start)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT.start)
    }

    /// Don't-fragment flag.
    #[inline]
    pub fn dont_fragment(&self) -> bool {
        self.u16_at(field::FLG_OFF.start) & FLAG_DF != 0
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_fragments(&self) -> bool {
        self.u16_at(field::FLG_OFF.start) & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(field::FLG_OFF.start) & OFFSET_MASK) << 3
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol number.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Whether the header checksum is right.
    #[inline]
    pub fn checksum_valid(&self) -> bool {
        checksum::ones_sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// The payload up to the total length (checked by `new_checked`).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[self.header_len()..usize::from(self.total_len())]
    }

    #[inline]
    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Sets DSCP/ECN.
    #[inline]
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        self.set_u16(field::LENGTH.start, v);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        self.set_u16(field::IDENT.start, v);
    }

    /// Sets flags and fragment offset (offset in bytes, a multiple of 8).
    #[inline]
    pub fn set_flags_and_offset(&mut self, dont_fragment: bool, more_fragments: bool, offset: u16) {
        let mut v = (offset >> 3) & OFFSET_MASK;
        if dont_fragment {
            v |= FLAG_DF;
        }
        if more_fragments {
            v |= FLAG_MF;
        }
        self.set_u16(field::FLG_OFF.start, v);
    }

    /// Sets the TTL (checksum not updated).
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHECKSUM.start, v);
    }

    /// Sets the source address (checksum not updated).
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Sets the destination address (checksum not updated).
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Computes and stores the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }

    /// Decrements the TTL and fixes the checksum incrementally (RFC 1624; the TTL shares a
    /// word with the protocol). Returns the new TTL; a TTL of 0 or 1 must be answered with
    /// time-exceeded instead (the caller checks before forwarding).
    #[inline]
    pub fn decrement_ttl(&mut self) -> u8 {
        let ttl = self.ttl();
        let new = ttl.saturating_sub(1);
        let proto = self.protocol();
        let old_word = u16::from_be_bytes([ttl, proto]);
        let new_word = u16::from_be_bytes([new, proto]);
        let c = checksum::update_u16(self.checksum(), old_word, new_word);
        self.set_ttl(new);
        self.set_checksum(c);
        new
    }

    /// Rewrites the source address and fixes the header checksum incrementally.
    #[inline]
    pub fn rewrite_src_addr(&mut self, a: Ipv4Addr) {
        let c = checksum::update_addr(self.checksum(), self.src_addr(), a);
        self.set_src_addr(a);
        self.set_checksum(c);
    }

    /// Rewrites the destination address and fixes the header checksum incrementally.
    #[inline]
    pub fn rewrite_dst_addr(&mut self, a: Ipv4Addr) {
        let c = checksum::update_addr(self.checksum(), self.dst_addr(), a);
        self.set_dst_addr(a);
        self.set_checksum(c);
    }

    /// Mutable payload up to the total length.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let tl = usize::from(self.total_len());
        &mut self.buffer.as_mut()[hl..tl]
    }

    #[inline]
    fn set_u16(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
}

/// Fields of an option-less IPv4 header to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol number.
    pub protocol: u8,
    /// Payload length in bytes.
    pub payload_len: u16,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't-fragment flag.
    pub dont_fragment: bool,
}

impl Ipv4Repr {
    /// Writes a 20-byte header (checksum filled) into the start of `buf`.
    pub fn write(&self, buf: &mut [u8]) {
        let mut p = Ipv4Packet::new_unchecked(buf);
        p.set_version_and_header_len(MIN_HEADER_LEN);
        p.set_dscp_ecn(0);
        p.set_total_len(MIN_HEADER_LEN as u16 + self.payload_len);
        p.set_ident(self.ident);
        p.set_flags_and_offset(self.dont_fragment, false, 0);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src);
        p.set_dst_addr(self.dst);
        p.fill_checksum();
    }
}

/// Fresh IP identification values for router-originated packets (one per worker; a plain
/// counter is what RFC 6864 allows for atomic datagrams and what IOS does).
#[derive(Debug, Clone, Default)]
pub struct IpIdSequence {
    next: u16,
}

impl IpIdSequence {
    /// Starts at `seed` (e.g. derived from the worker index so workers differ).
    pub fn new(seed: u16) -> Self {
        IpIdSequence { next: seed }
    }

    /// The next identification value.
    #[inline]
    pub fn next_id(&mut self) -> u16 {
        let v = self.next;
        self.next = self.next.wrapping_add(1);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = vec![0u8; 28];
        Ipv4Repr {
            src: Ipv4Addr::new(198, 51, 100, 7),
            dst: Ipv4Addr::new(172, 22, 1, 110),
            protocol: protocol::UDP,
            payload_len: 8,
            ttl: 63,
            ident: 0x1234,
            dont_fragment: true,
        }
        .write(&mut b);
        b
    }

    #[test]
    fn emitted_header_matches_etherparse() {
        let b = sample();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(p.checksum_valid());
        let (h, _) = etherparse::Ipv4Header::from_slice(&b).unwrap();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(h.header_checksum, p.checksum());
        assert_eq!(h.source, [198, 51, 100, 7]);
        assert!(h.dont_fragment);
        assert_eq!(h.total_len, 28);
    }

    #[test]
    fn ttl_decrement_keeps_checksum_valid() {
        let mut b = sample();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.decrement_ttl(), 62);
        assert!(p.checksum_valid());
        let (h, _) = etherparse::Ipv4Header::from_slice(&b).unwrap();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(h.time_to_live, 62);
    }

    #[test]
    fn rejects_bad_headers() {
        let mut b = sample();
        assert_eq!(
            Ipv4Packet::new_checked(&b[..19]).unwrap_err(),
            ParseError::TooShort
        );
        assert_eq!(
            Ipv4Packet::new_checked(&b[..27]).unwrap_err(),
            ParseError::BadTotalLength
        );
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::BadIpHeaderLen
        );
        b[0] = 0x4f; // 60 bytes > 28
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::BadIpHeaderLen
        );
        b[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            ParseError::NotIpv4
        );
    }

    #[test]
    fn fragment_fields() {
        let mut b = sample();
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_flags_and_offset(false, true, 1480);
        assert!(p.more_fragments());
        assert!(!p.dont_fragment());
        assert_eq!(p.frag_offset(), 1480);
    }
}
