//! Ethernet II frames: a view over the 14-byte header and the MAC address type.
//!
//! 802.1Q decision: the dataplane handles untagged frames only. A tagged frame
//! (`0x8100`/`0x88a8`) is dropped as `unsupported-ethertype`. AF_PACKET delivers frames with
//! the VLAN tag stripped into ring metadata when the NIC offloads it, and the seed topology
//! has no VLANs; supporting tags would mean carrying the tag through every emitter.

use std::fmt;

use super::ParseError;

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    /// 00:00:00:00:00:00 (the unknown target of an ARP request).
    pub const ZERO: Mac = Mac([0; 6]);

    /// Reads a MAC address from the first six bytes of `b` (which must hold six bytes).
    #[inline]
    pub fn from_bytes(b: &[u8]) -> Mac {
        let mut m = [0u8; 6];
        m.copy_from_slice(&b[..6]);
        Mac(m)
    }

    /// The six bytes.
    #[inline]
    pub fn octets(self) -> [u8; 6] {
        self.0
    }

    /// Group bit set (multicast or broadcast).
    #[inline]
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// ff:ff:ff:ff:ff:ff.
    #[inline]
    pub fn is_broadcast(self) -> bool {
        self == Mac::BROADCAST
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// EtherType values the dataplane knows.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q VLAN tag (not supported, see the module docs).
    pub const VLAN: u16 = 0x8100;
    /// IPv6 (not forwarded by v1).
    pub const IPV6: u16 = 0x86dd;
}

mod field {
    use std::ops::Range;

    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view over an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking its length; field reads may panic if it is short.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer after checking that it holds a full header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::TooShort);
        }
        Ok(EthernetFrame { buffer })
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC.
    #[inline]
    pub fn dst_addr(&self) -> Mac {
        Mac::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }

    /// Source MAC.
    #[inline]
    pub fn src_addr(&self) -> Mac {
        Mac::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }

    /// EtherType.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Everything after the header (may include Ethernet padding).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC.
    #[inline]
    pub fn set_dst_addr(&mut self, mac: Mac) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&mac.0);
    }

    /// Sets the source MAC.
    #[inline]
    pub fn set_src_addr(&mut self, mac: Mac) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&mac.0);
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&ethertype.to_be_bytes());
    }

    /// Mutable payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// Writes an Ethernet II header into the first 14 bytes of `buf` (which must hold them).
#[inline]
pub fn write_header(buf: &mut [u8], dst: Mac, src: Mac, ethertype: u16) {
    // One length check for the three fields (this runs once per forwarded frame).
    let h = &mut buf[..HEADER_LEN];
    h[field::DESTINATION].copy_from_slice(&dst.0);
    h[field::SOURCE].copy_from_slice(&src.0);
    h[field::ETHERTYPE].copy_from_slice(&ethertype.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_fields() {
        let mut b = [0u8; 20];
        write_header(
            &mut b,
            Mac::BROADCAST,
            Mac([2, 0, 0, 0, 0, 1]),
            ethertype::ARP,
        );
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert!(f.dst_addr().is_broadcast());
        assert_eq!(f.src_addr().to_string(), "02:00:00:00:00:01");
        assert_eq!(f.ethertype(), 0x0806);
        assert_eq!(f.payload().len(), 6);
    }

    #[test]
    fn short_frame_is_an_error() {
        assert_eq!(
            EthernetFrame::new_checked(&[0u8; 13][..]).unwrap_err(),
            ParseError::TooShort
        );
    }
}
