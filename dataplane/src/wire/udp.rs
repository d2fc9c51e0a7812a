//! UDP headers (RFC 768): a view checked once. The length field must lie between 8 and the
//! bytes the IP header says are there; bytes after it (allowed by RFC 768) are ignored.

use super::ParseError;

mod field {
    use std::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of a UDP header.
pub const HEADER_LEN: usize = 8;
/// Offset of the checksum field inside the UDP header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// A view over a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checks.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a datagram after checking the header and the length field.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(ParseError::BadUdpHeader);
        }
        let p = UdpPacket { buffer };
        let l = usize::from(p.len());
        if l < HEADER_LEN || l > len {
            return Err(ParseError::BadUdpHeader);
        }
        Ok(p)
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT.start)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT.start)
    }

    /// Length field (header and payload).
    #[inline]
    pub fn len(&self) -> u16 {
        self.u16_at(field::LENGTH.start)
    }

    /// Whether the datagram has no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == HEADER_LEN
    }

    /// Checksum field (0 = none).
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    /// Header and payload as covered by the length field.
    #[inline]
    pub fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    /// Payload as covered by the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    #[inline]
    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        self.set_u16(field::SRC_PORT.start, v);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        self.set_u16(field::DST_PORT.start, v);
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, v: u16) {
        self.set_u16(field::LENGTH.start, v);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHECKSUM.start, v);
    }

    #[inline]
    fn set_u16(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_field_checked() {
        let b = [
            0x13, 0x88, 0x00, 0x35, 0x00, 0x0a, 0x00, 0x00, 0xab, 0xcd, 0xee,
        ];
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 5000);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.payload(), &[0xab, 0xcd]);
        assert_eq!(
            UdpPacket::new_checked(&b[..9]).unwrap_err(),
            ParseError::BadUdpHeader
        );
        let mut short = b;
        short[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&short[..]).unwrap_err(),
            ParseError::BadUdpHeader
        );
    }
}
