//! Completing partial checksums of frames the kernel marked
//! `TP_STATUS_CSUMNOTREADY`.
//!
//! With transmit checksum offload on, a locally sent TCP/UDP segment crosses
//! a veth with only the pseudo-header sum in its checksum field; a packet
//! socket sees it that way. The lab turns offloads off, but a firewall must
//! not forward (or judge) such frames as if they were corrupt: the AF_PACKET
//! backend recomputes the whole TCP/UDP checksum here before the pipeline
//! sees the frame. IPv4 and IPv6 (no extension headers), untagged Ethernet.

use crate::wire::checksum::{combine, ones_sum};

const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// What [`complete_l4_checksum`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsumOutcome {
    /// The TCP/UDP checksum was recomputed.
    Completed,
    /// Not TCP/UDP over IPv4/IPv6 or too short to tell: left unchanged.
    NotApplicable,
}

/// Recompute the TCP or UDP checksum of an Ethernet frame in place.
pub fn complete_l4_checksum(frame: &mut [u8]) -> CsumOutcome {
    if frame.len() < ETH_HLEN {
        return CsumOutcome::NotApplicable;
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let ip = &frame[ETH_HLEN..];
    let (proto, l4_off, l4_len, pseudo) = match ethertype {
        ETHERTYPE_IPV4 => {
            if ip.len() < 20 || ip[0] >> 4 != 4 {
                return CsumOutcome::NotApplicable;
            }
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
            if ihl < 20 || total < ihl || total > ip.len() || frag != 0 {
                return CsumOutcome::NotApplicable;
            }
            let l4_len = total - ihl;
            (
                ip[9],
                ETH_HLEN + ihl,
                l4_len,
                pseudo_sum(&ip[12..20], ip[9], l4_len),
            )
        }
        ETHERTYPE_IPV6 => {
            if ip.len() < 40 || ip[0] >> 4 != 6 {
                return CsumOutcome::NotApplicable;
            }
            let l4_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            if 40 + l4_len > ip.len() {
                return CsumOutcome::NotApplicable;
            }
            (
                ip[6],
                ETH_HLEN + 40,
                l4_len,
                pseudo_sum(&ip[8..40], ip[6], l4_len),
            )
        }
        _ => return CsumOutcome::NotApplicable,
    };
    let field = match proto {
        PROTO_TCP if l4_len >= 20 => 16,
        PROTO_UDP if l4_len >= 8 => 6,
        _ => return CsumOutcome::NotApplicable,
    };
    let seg = &mut frame[l4_off..l4_off + l4_len];
    seg[field] = 0;
    seg[field + 1] = 0;
    let mut c = !combine(pseudo, ones_sum(seg));
    if proto == PROTO_UDP && c == 0 {
        c = 0xffff;
    }
    seg[field..field + 2].copy_from_slice(&c.to_be_bytes());
    CsumOutcome::Completed
}

/// Internet checksum of `bytes` (ones' complement of the folded sum).
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    crate::wire::checksum::checksum(bytes)
}

/// Pseudo-header sum from the address bytes (IPv4 or IPv6), protocol and length.
fn pseudo_sum(addresses: &[u8], proto: u8, l4_len: usize) -> u16 {
    let len = combine((l4_len >> 16) as u16, l4_len as u16);
    combine(combine(ones_sum(addresses), u16::from(proto)), len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet/IPv4/UDP frame 192.0.2.1:1234 -> 192.0.2.2:80, payload "hi".
    fn udp_frame() -> Vec<u8> {
        let mut f = vec![
            2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, // ethernet
            0x45, 0, 0, 30, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, // ipv4
            0x04, 0xd2, 0, 80, 0, 10, 0, 0, b'h', b'i', // udp
        ];
        let c = internet_checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f
    }

    #[test]
    fn udp_checksum_matches_etherparse() {
        let mut f = udp_frame();
        f[40] = 0x12; // garbage "partial" sum
        assert_eq!(complete_l4_checksum(&mut f), CsumOutcome::Completed);
        let p = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("not ipv4")
        };
        let Some(etherparse::TransportSlice::Udp(udp)) = p.transport else {
            panic!("not udp")
        };
        let want = udp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), udp.payload())
            .unwrap();
        assert_eq!(u16::from_be_bytes([f[40], f[41]]), want);
    }

    #[test]
    fn a_correct_checksum_verifies_to_zero_and_short_frames_are_left_alone() {
        let mut f = udp_frame();
        complete_l4_checksum(&mut f);
        // pseudo header + segment sums to 0xffff when correct
        let pseudo = pseudo_sum(&f[26..34], 17, 10);
        assert_eq!(combine(pseudo, ones_sum(&f[34..])), 0xffff);
        let mut short = f[..20].to_vec();
        assert_eq!(complete_l4_checksum(&mut short), CsumOutcome::NotApplicable);
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(complete_l4_checksum(&mut arp), CsumOutcome::NotApplicable);
    }

    #[test]
    fn odd_length_is_padded() {
        assert_eq!(internet_checksum(&[0x01]), !0x0100);
    }
}
