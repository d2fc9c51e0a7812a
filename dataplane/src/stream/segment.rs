//! What the stream layer needs to know about one TCP segment, already parsed.
//!
//! The wire module parses headers; the pipeline copies the few fields the tracker needs
//! into a [`SegmentInfo`] (plain `Copy` values, no borrow of the frame), so the state
//! machines here never see raw bytes and can be tested with hand-written numbers.

use core::fmt;

use super::seq::Seq;

/// Which end of a session sent a segment (or, for injected segments, which end receives it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The end that sent the first SYN (the SMTP client for an inbound mail session).
    Initiator,
    /// The end that answered with SYN+ACK (the mail server).
    Responder,
}

impl Side {
    /// The other end.
    pub const fn peer(self) -> Side {
        match self {
            Side::Initiator => Side::Responder,
            Side::Responder => Side::Initiator,
        }
    }

    /// 0 for the initiator, 1 for the responder (index into per-side arrays).
    pub const fn index(self) -> usize {
        match self {
            Side::Initiator => 0,
            Side::Responder => 1,
        }
    }
}

/// TCP header flags (the low byte of the flags field, RFC 9293 §3.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const NONE: TcpFlags = TcpFlags(0);

    /// True when every flag of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two flag sets.
    pub const fn with(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }

    /// `self` without the flags of `other`.
    pub const fn without(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }

    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.with(rhs)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 6] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::URG, "URG"),
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

/// The fields of one TCP segment that the tracker and the stream layer use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub seq: Seq,
    /// Meaningful only when `flags` has ACK.
    pub ack: Seq,
    pub flags: TcpFlags,
    /// The window field as on the wire (not scaled).
    pub window: u16,
    pub payload_len: u32,
    /// Window-scale option (shift count), only read on SYN segments.
    pub wscale: Option<u8>,
    /// MSS option, only read on SYN segments.
    pub mss: Option<u16>,
}

impl SegmentInfo {
    /// A segment without options (tests and injected segments).
    pub const fn new(seq: u32, ack: u32, flags: TcpFlags, window: u16, payload_len: u32) -> Self {
        SegmentInfo {
            seq: Seq(seq),
            ack: Seq(ack),
            flags,
            window,
            payload_len,
            wscale: None,
            mss: None,
        }
    }

    /// Builder: the SYN options.
    pub const fn with_options(mut self, wscale: Option<u8>, mss: Option<u16>) -> Self {
        self.wscale = wscale;
        self.mss = mss;
        self
    }

    /// Sequence space the segment occupies: payload plus one for SYN and one for FIN.
    pub const fn seq_len(&self) -> u32 {
        self.payload_len + self.flags.syn() as u32 + self.flags.fin() as u32
    }

    /// The sequence number just after the segment (SYN and FIN included).
    pub fn seq_end(&self) -> Seq {
        self.seq + self.seq_len()
    }
}

/// A segment the firewall originates (reply-and-close, half-open reset): the header fields;
/// the pipeline fills in addresses and ports of `toward` as that end sees the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectedSegment {
    /// The end that receives the segment (it is sent in the other end's name).
    pub toward: Side,
    pub seq: Seq,
    pub ack: Seq,
    pub flags: TcpFlags,
    /// Window field as written on the wire.
    pub window: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_debug_and_seq_len() {
        let f = TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN;
        assert_eq!(format!("{f:?}"), "ACK|PSH|FIN");
        assert_eq!(format!("{:?}", TcpFlags::NONE), "-");
        let s = SegmentInfo::new(u32::MAX, 0, TcpFlags::SYN | TcpFlags::FIN, 0, 3);
        assert_eq!(s.seq_len(), 5);
        assert_eq!(s.seq_end(), Seq(4));
        assert!(f.without(TcpFlags::FIN).ack() && !f.without(TcpFlags::FIN).fin());
    }

    #[test]
    fn side_peer_and_index() {
        assert_eq!(Side::Initiator.peer(), Side::Responder);
        assert_eq!(Side::Responder.peer().index(), 0);
    }
}
