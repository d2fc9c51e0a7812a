//! TCP headers (RFC 9293): a view, the flags, the SYN options the tracker needs, and the
//! wrapping sequence-number type.
//!
//! `new_checked` validates the data offset (≥ 5 words, within the segment). Options are
//! parsed only where they matter (MSS, window scale, SACK-permitted on SYN segments); an
//! option whose length byte is < 2 or runs past the header makes the segment malformed
//! (`bad-tcp-options`), other unknown options are skipped.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Sub};

use super::ParseError;

mod field {
    use std::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of a TCP header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Offset of the checksum field inside the TCP header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// A TCP sequence number: arithmetic and comparison wrap modulo 2^32 (RFC 9293 §3.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance `self − other`, meaningful while the two are within 2^31.
    #[inline]
    pub fn distance(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// The later of two sequence numbers.
    #[inline]
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self.distance(other) >= 0 {
            self
        } else {
            other
        }
    }

    /// The earlier of two sequence numbers.
    #[inline]
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if self.distance(other) <= 0 {
            self
        } else {
            other
        }
    }
}

impl PartialOrd for SeqNumber {
    #[inline]
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some(self.distance(*other).cmp(&0))
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

impl Sub<SeqNumber> for SeqNumber {
    type Output = i32;
    #[inline]
    fn sub(self, rhs: SeqNumber) -> i32 {
        self.distance(rhs)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNumber({})", self.0)
    }
}

/// The TCP flag byte (CWR/ECE included; NS is ignored).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECE.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// CWR.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Whether every flag of `other` is set.
    #[inline]
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    #[inline]
    pub fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// SYN.
    #[inline]
    pub fn syn(self) -> bool {
        self.contains(Self::SYN)
    }

    /// ACK.
    #[inline]
    pub fn ack(self) -> bool {
        self.contains(Self::ACK)
    }

    /// FIN.
    #[inline]
    pub fn fin(self) -> bool {
        self.contains(Self::FIN)
    }

    /// RST.
    #[inline]
    pub fn rst(self) -> bool {
        self.contains(Self::RST)
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 8] = [
            (TcpFlags::CWR, "CWR"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
        ];
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// The options of a SYN segment that the TCP tracker uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    /// Maximum segment size.
    pub mss: Option<u16>,
    /// Window scale shift (RFC 7323; values above 14 are clamped to 14 as the RFC says).
    pub window_scale: Option<u8>,
    /// SACK permitted (RFC 2018).
    pub sack_permitted: bool,
}

mod option_kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
}

/// Parses the option bytes of a TCP header (between the fixed header and the data offset).
pub fn parse_options(mut opts: &[u8]) -> Result<TcpOptions, ParseError> {
    let mut out = TcpOptions::default();
    while let Some(&kind) = opts.first() {
        match kind {
            option_kind::END => break,
            option_kind::NOP => {
                opts = &opts[1..];
                continue;
            }
            _ => {}
        }
        let len = usize::from(*opts.get(1).ok_or(ParseError::BadTcpOptions)?);
        if len < 2 || len > opts.len() {
            return Err(ParseError::BadTcpOptions);
        }
        let body = &opts[2..len];
        match (kind, body.len()) {
            (option_kind::MSS, 2) => out.mss = Some(u16::from_be_bytes([body[0], body[1]])),
            (option_kind::WINDOW_SCALE, 1) => out.window_scale = Some(body[0].min(14)),
            (option_kind::SACK_PERMITTED, 0) => out.sack_permitted = true,
            (option_kind::MSS | option_kind::WINDOW_SCALE | option_kind::SACK_PERMITTED, _) => {
                return Err(ParseError::BadTcpOptions)
            }
            _ => {}
        }
        opts = &opts[len..];
    }
    Ok(out)
}

/// A view over a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checks.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a segment after checking the fixed header and the data offset.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let len = buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(ParseError::BadTcpHeader);
        }
        let p = TcpPacket { buffer };
        let hl = p.header_len();
        if hl < MIN_HEADER_LEN || hl > len {
            return Err(ParseError::BadTcpHeader);
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(self.u32_at(field::SEQ_NUM.start))
    }

    /// Acknowledgement number.
    #[inline]
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(self.u32_at(field::ACK_NUM.start))
    }

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// Flags.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    /// Window (unscaled).
    #[inline]
    pub fn window(&self) -> u16 {
        self.u16_at(field::WINDOW.start)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM.start)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        self.u16_at(field::URGENT.start)
    }

    /// Option bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[MIN_HEADER_LEN..self.header_len()]
    }

    /// Payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    #[inline]
    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    #[inline]
    fn u32_at(&self, at: usize) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: SeqNumber) {
        self.buffer.as_mut()[field::SEQ_NUM].copy_from_slice(&v.0.to_be_bytes());
    }

    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack_number(&mut self, v: SeqNumber) {
        self.buffer.as_mut()[field::ACK_NUM].copy_from_slice(&v.0.to_be_bytes());
    }

    /// Sets the header length in bytes (a multiple of 4), clearing the reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::DATA_OFF] = ((len / 4) as u8) << 4;
    }

    /// Sets the flags.
    #[inline]
    pub fn set_flags(&mut self, f: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = f.0;
    }

    /// Sets the window.
    #[inline]
    pub fn set_window(&mut self, v: u16) {
        self.set_u16(field::WINDOW.start, v);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHECKSUM.start, v);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent(&mut self, v: u16) {
        self.set_u16(field::URGENT.start, v);
    }

    /// Mutable payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }

    #[inline]
    fn set_u16(&mut self, at: usize, v: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn seq_numbers_wrap() {
        let a = SeqNumber(0xffff_fff0);
        let b = a + 0x20;
        assert_eq!(b, SeqNumber(0x10));
        assert!(a < b);
        assert_eq!(b - a, 0x20);
        assert_eq!(a - b, -0x20);
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }

    #[test]
    fn syn_options() {
        // MSS 1460, SACK-permitted, timestamps, NOP, window scale 7 (a Linux SYN).
        let opts = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let o = parse_options(&opts).unwrap();
        assert_eq!(o.mss, Some(1460));
        assert!(o.sack_permitted);
        assert_eq!(o.window_scale, Some(7));
    }

    #[test]
    fn malformed_options() {
        assert_eq!(parse_options(&[2, 4, 5]), Err(ParseError::BadTcpOptions));
        assert_eq!(parse_options(&[8, 1, 0, 0]), Err(ParseError::BadTcpOptions));
        assert_eq!(parse_options(&[2, 3, 5]), Err(ParseError::BadTcpOptions));
        assert_eq!(parse_options(&[9]), Err(ParseError::BadTcpOptions));
        assert_eq!(parse_options(&[0, 0xff, 0xff]), Ok(TcpOptions::default()));
        assert_eq!(parse_options(&[3, 3, 20]).unwrap().window_scale, Some(14));
    }

    #[test]
    fn flags_debug() {
        assert_eq!(
            format!("{:?}", TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN),
            "ACK|PSH|FIN"
        );
    }

    proptest! {
        #[test]
        fn options_never_panic(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_options(&b);
        }
    }
}
