//! Packet views, checksums, parsing and router-originated packets.
//!
//! The contract (smoltcp style): a header view is built with `new_checked`, which checks the
//! lengths once; afterwards every field read and write is infallible. [`parse_frame`] runs
//! all views over a received frame in one pass and returns a small `Copy` [`ParsedFrame`] of
//! offsets and fields; a malformed frame gives a [`ParseError`] whose variants map one to one
//! to named drop reasons (`cbac`/`pipeline` count them), never a panic. Emitters write into
//! caller-provided buffers and return lengths; nothing here allocates.
//!
//! Layers, one file each: [`ethernet`], [`arp`], [`ipv4`], [`tcp`], [`udp`], [`icmp`];
//! [`checksum`] (RFC 1071 full sum, RFC 1624 incremental update); [`frame`] (the one-pass
//! parse); [`established`] (the short parse of the established-flow fast path); [`emit`] (ICMP echo reply and errors, injected TCP segments).

pub mod arp;
pub mod checksum;
pub mod emit;
pub mod established;
pub mod ethernet;
pub mod fragment;
pub mod frame;
pub mod icmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;

pub use arp::{ArpOp, ArpRepr};
pub use ethernet::Mac;
pub use frame::{
    parse_frame, parse_frame_with, parse_ipv4_at, ChecksumPolicy, IcmpInfo, Ipv4Info, ParsedFrame,
    TcpInfo, UdpInfo, L3, L4,
};
pub use icmp::{Embedded, EmbeddedL4, IcmpClass};
pub use tcp::{SeqNumber, TcpFlags, TcpOptions};

/// Why a received frame is malformed. Each variant is a named drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Shorter than the header it claims to carry (Ethernet or IPv4).
    #[error("frame too short")]
    TooShort,
    /// EtherType other than IPv4 and ARP (IPv6, 802.1Q tags, ...).
    #[error("unsupported ethertype")]
    UnsupportedEtherType,
    /// ARP that is not IPv4 over Ethernet, or truncated.
    #[error("malformed ARP")]
    BadArp,
    /// IPv4 ethertype but IP version is not 4.
    #[error("IP version is not 4")]
    NotIpv4,
    /// IHL below 5 or beyond the bytes present.
    #[error("bad IPv4 header length")]
    BadIpHeaderLen,
    /// IPv4 header checksum wrong.
    #[error("bad IPv4 header checksum")]
    BadIpChecksum,
    /// Total length shorter than the header or longer than the frame.
    #[error("bad IPv4 total length")]
    BadTotalLength,
    /// TCP header truncated or data offset out of range.
    #[error("malformed TCP header")]
    BadTcpHeader,
    /// TCP option list malformed.
    #[error("malformed TCP options")]
    BadTcpOptions,
    /// UDP header truncated or length field out of range.
    #[error("malformed UDP header")]
    BadUdpHeader,
    /// ICMP message shorter than its 8-byte header.
    #[error("malformed ICMP header")]
    BadIcmpHeader,
    /// ICMP error without a usable embedded IPv4 header.
    #[error("ICMP error without embedded header")]
    BadIcmpError,
    /// TCP, UDP or ICMP checksum wrong.
    #[error("bad transport checksum")]
    BadL4Checksum,
}

impl ParseError {
    /// Every variant, in counter order.
    pub const ALL: [ParseError; 13] = [
        ParseError::TooShort,
        ParseError::UnsupportedEtherType,
        ParseError::BadArp,
        ParseError::NotIpv4,
        ParseError::BadIpHeaderLen,
        ParseError::BadIpChecksum,
        ParseError::BadTotalLength,
        ParseError::BadTcpHeader,
        ParseError::BadTcpOptions,
        ParseError::BadUdpHeader,
        ParseError::BadIcmpHeader,
        ParseError::BadIcmpError,
        ParseError::BadL4Checksum,
    ];

    /// The drop-reason name used in counters and metrics.
    pub fn name(self) -> &'static str {
        match self {
            ParseError::TooShort => "too-short",
            ParseError::UnsupportedEtherType => "unsupported-ethertype",
            ParseError::BadArp => "bad-arp",
            ParseError::NotIpv4 => "not-ipv4",
            ParseError::BadIpHeaderLen => "bad-ip-header-len",
            ParseError::BadIpChecksum => "bad-ip-checksum",
            ParseError::BadTotalLength => "bad-total-length",
            ParseError::BadTcpHeader => "bad-tcp-header",
            ParseError::BadTcpOptions => "bad-tcp-options",
            ParseError::BadUdpHeader => "bad-udp-header",
            ParseError::BadIcmpHeader => "bad-icmp-header",
            ParseError::BadIcmpError => "bad-icmp-error",
            ParseError::BadL4Checksum => "bad-l4-checksum",
        }
    }

    /// The layer the defect is in, for coarse drop counters (malformed L2 / IP / L4).
    pub fn layer(self) -> MalformedLayer {
        match self {
            ParseError::TooShort | ParseError::UnsupportedEtherType | ParseError::BadArp => {
                MalformedLayer::L2
            }
            ParseError::NotIpv4
            | ParseError::BadIpHeaderLen
            | ParseError::BadIpChecksum
            | ParseError::BadTotalLength => MalformedLayer::Ip,
            ParseError::BadTcpHeader
            | ParseError::BadTcpOptions
            | ParseError::BadUdpHeader
            | ParseError::BadIcmpHeader
            | ParseError::BadIcmpError
            | ParseError::BadL4Checksum => MalformedLayer::L4,
        }
    }

    /// Index into a per-reason counter array (position in [`ParseError::ALL`]).
    pub fn index(self) -> usize {
        ParseError::ALL.iter().position(|e| *e == self).unwrap_or(0)
    }
}

/// The layer of a [`ParseError`] (ARP counts as link layer: it never reaches IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MalformedLayer {
    /// Ethernet or ARP.
    L2,
    /// IPv4 header.
    Ip,
    /// TCP, UDP or ICMP.
    L4,
}

/// Why a packet could not be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer cannot hold the frame.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// The payload does not fit in one IPv4 datagram.
    #[error("payload too large for one datagram")]
    PayloadTooLarge,
    /// Echo turnaround asked for a frame that is not an unfragmented echo request.
    #[error("not an echo request")]
    NotAnEchoRequest,
    /// The datagram to quote in an ICMP error has no valid IPv4 header.
    #[error("offending datagram has no IPv4 header")]
    BadOffendingDatagram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_names_are_unique_and_indexed() {
        let mut names: Vec<_> = ParseError::ALL.iter().map(|e| e.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ParseError::ALL.len());
        for (i, e) in ParseError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
        }
    }
}
