//! Helpers shared by the frame-driven targets (included with `#[path]`).

use std::net::Ipv4Addr;

use dataplane::wire::checksum;

/// Makes the IPv4 header checksum and, for an unfragmented TCP/UDP/ICMP datagram, the
/// transport checksum valid, so that mutated frames get past the parser's checksum checks
/// and reach the stages behind it. Frames that are not Ethernet/IPv4 are left alone.
pub fn fix_checksums(f: &mut [u8]) {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] {
        return;
    }
    let hl = usize::from(f[14] & 0x0f) * 4;
    if hl < 20 || 14 + hl > f.len() {
        return;
    }
    f[24] = 0;
    f[25] = 0;
    let c = checksum::checksum(&f[14..14 + hl]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let fragment = u16::from_be_bytes([f[20], f[21]]) & 0x3fff != 0;
    let end = 14 + total;
    if fragment || total < hl || end > f.len() {
        return;
    }
    let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
    let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
    let proto = f[23];
    let seg = &mut f[14 + hl..end];
    let at = match proto {
        1 => 2,
        6 => 16,
        17 => 6,
        _ => return,
    };
    if seg.len() < at + 2 {
        return;
    }
    seg[at] = 0;
    seg[at + 1] = 0;
    let c = match proto {
        1 => checksum::checksum(seg),
        17 => match checksum::l4_checksum(src, dst, proto, seg) {
            0 => 0xffff,
            c => c,
        },
        _ => checksum::l4_checksum(src, dst, proto, seg),
    };
    seg[at..at + 2].copy_from_slice(&c.to_be_bytes());
}
