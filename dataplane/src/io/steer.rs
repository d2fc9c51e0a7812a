//! The peer hash: a flow hash the kernel's fanout and the workers compute
//! identically, so frames land on the worker that owns their flow and need
//! no handoff.
//!
//! Why "peer": the firewall does static *inside-source* translation, which
//! rewrites the inside host's address but never the outside peer's address
//! nor any port. Hashing (outside peer address, peer port, local port) is
//! therefore the same for both directions and both interfaces of a session:
//! on the outside port the peer is the *source*, on the inside port the
//! *destination*. The AF_PACKET backend installs [`peer_hash_program`] as a
//! `PACKET_FANOUT_CBPF` program per port (see `afpacket`), and a processor's
//! `steer` calls [`peer_hash`] with the same side: `hash % workers` is then
//! the fanout member, i.e. the worker, that received the frame.
//!
//! Fragments (MF set or a non-zero offset, the initial fragment included)
//! and non-TCP/UDP packets hash on the peer address alone, so every fragment
//! of a datagram reaches the same worker, whose `ip virtual-reassembly` table
//! can complete it (`pipeline/fragments.rs` then hands the whole datagram to
//! its flow's owner). Frames the program cannot read hash to 0 (worker 0).

/// Which address of a frame is the outside peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerSide {
    /// Outside port: frames come *from* the peer.
    Source,
    /// Inside port: frames go *to* the peer.
    Destination,
}

impl PeerSide {
    /// The peer's one of a (source, destination) pair.
    #[inline(always)]
    pub fn pick<T>(self, src: T, dst: T) -> T {
        match self {
            PeerSide::Source => src,
            PeerSide::Destination => dst,
        }
    }

    /// The other side: a datagram an ICMP error quotes travelled the
    /// opposite way to the error, so its peer is on the other side.
    #[inline]
    pub fn opposite(self) -> PeerSide {
        match self {
            PeerSide::Source => PeerSide::Destination,
            PeerSide::Destination => PeerSide::Source,
        }
    }
}

const FMIX1: u32 = 0x85eb_ca6b;
const FMIX2: u32 = 0xc2b2_ae35;
/// The more-fragments flag and the fragment offset: any bit set makes a
/// fragment (DF and the reserved bit do not).
const MF_AND_OFFSET: u16 = 0x3fff;

/// The peer hash of an Ethernet frame (`None` when it is not IPv4, in which
/// case the kernel program returns 0 too).
pub fn peer_hash(frame: &[u8], side: PeerSide) -> Option<u32> {
    if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let (ip_off, peer_port_k, local_port_k) = match side {
        PeerSide::Source => (26, 14, 16),
        PeerSide::Destination => (30, 16, 14),
    };
    // A cBPF load past the end aborts the program with 0.
    let Some(ip) = frame.get(ip_off..ip_off + 4) else {
        return Some(0);
    };
    let peer = u32::from_be_bytes([ip[0], ip[1], ip[2], ip[3]]);
    let proto = frame.get(23).copied();
    if matches!(proto, Some(6) | Some(17)) {
        let Some(frag) = frame.get(20..22) else {
            return Some(0);
        };
        if u16::from_be_bytes([frag[0], frag[1]]) & MF_AND_OFFSET == 0 {
            let ihl = usize::from(frame[14] & 0x0f) * 4;
            let at = |k: usize| {
                frame
                    .get(ihl + k..ihl + k + 2)
                    .map(|b| u32::from(u16::from_be_bytes([b[0], b[1]])))
            };
            let (Some(local), Some(peer_port)) = (at(local_port_k), at(peer_port_k)) else {
                return Some(0);
            };
            return Some(mix(peer ^ (peer_port << 16 | local)));
        }
    }
    Some(mix(peer))
}

/// The peer hash of a TCP or UDP flow (not a fragment) whose outside peer is
/// `peer:peer_port` and whose inside end uses `local_port`: what
/// [`peer_hash`] and the kernel program compute for its frames, from fields
/// the caller already parsed.
#[inline]
pub fn peer_flow_hash(peer: std::net::Ipv4Addr, peer_port: u16, local_port: u16) -> u32 {
    mix(u32::from(peer) ^ (u32::from(peer_port) << 16 | u32::from(local_port)))
}

/// The peer hash of a fragment (or a non-TCP/UDP datagram) whose outside
/// peer is `peer`: what [`peer_hash`] and the kernel program compute for it,
/// from an address the caller already parsed.
pub fn peer_address_hash(peer: std::net::Ipv4Addr) -> u32 {
    mix(u32::from(peer))
}

/// MurmurHash3's 32-bit finaliser: every input bit reaches every output
/// bit, the low ones included. (`hash % workers` reads the low bits. A single
/// multiply leaves them blind to the high input bits, where the peer port
/// sits, and Linux gives `connect()` even ports only: with two workers every
/// locally originated TCP flow of a peer landed on one worker.)
fn mix(a: u32) -> u32 {
    let mut h = a;
    h ^= h >> 16;
    h = h.wrapping_mul(FMIX1);
    h ^= h >> 13;
    h = h.wrapping_mul(FMIX2);
    h ^ (h >> 16)
}

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct SockFilter {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant.
    pub k: u32,
}

const fn ins(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

// Classic BPF opcodes (linux/filter.h).
const LD_H_ABS: u16 = 0x28;
const LD_W_ABS: u16 = 0x20;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LD_MEM: u16 = 0x60;
const LDX_MEM: u16 = 0x61;
const LDX_B_MSH: u16 = 0xb1;
const ST: u16 = 0x02;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const JA: u16 = 0x05;
const LSH_K: u16 = 0x64;
const RSH_K: u16 = 0x74;
const MUL_K: u16 = 0x24;
const OR_X: u16 = 0x4c;
const XOR_X: u16 = 0xac;
const RET_A: u16 = 0x16;
const RET_K: u16 = 0x06;
const TAX: u16 = 0x07;

/// `SKF_AD_OFF + SKF_AD_PROTOCOL`: the ancillary load of `skb->protocol`.
const ANC_PROTOCOL: u32 = 0xffff_f000;

/// The classic BPF program computing [`peer_hash`] in the kernel (the
/// kernel takes the result modulo the number of fanout members).
///
/// A fanout program runs before the packet socket pushes the link-layer
/// header back: absolute loads are relative to the *IPv4* header and the
/// EtherType comes from the ancillary `skb->protocol` load.
pub fn peer_hash_program(side: PeerSide) -> [SockFilter; 33] {
    let (ip_off, peer_k, local_k) = match side {
        PeerSide::Source => (12, 0, 2),
        PeerSide::Destination => (16, 2, 0),
    };
    [
        /* 0 */ ins(LD_W_ABS, 0, 0, ANC_PROTOCOL),
        /* 1 */ ins(JEQ_K, 0, 30, 0x0800), // not IPv4 -> 32
        /* 2 */ ins(LD_W_ABS, 0, 0, ip_off),
        /* 3 */ ins(ST, 0, 0, 0),
        /* 4 */ ins(LD_B_ABS, 0, 0, 9),
        /* 5 */ ins(JEQ_K, 1, 0, 6), // tcp -> 7
        /* 6 */ ins(JEQ_K, 0, 12, 17), // not udp -> 19
        /* 7 */ ins(LD_H_ABS, 0, 0, 6),
        /* 8 */ ins(JSET_K, 10, 0, MF_AND_OFFSET as u32), // fragment -> 19
        /* 9 */ ins(LDX_B_MSH, 0, 0, 0), // X = IHL * 4: the L4 header
        /* 10 */ ins(LD_H_IND, 0, 0, local_k),
        /* 11 */ ins(ST, 0, 0, 1),
        /* 12 */ ins(LD_H_IND, 0, 0, peer_k),
        /* 13 */ ins(LSH_K, 0, 0, 16),
        /* 14 */ ins(LDX_MEM, 0, 0, 1),
        /* 15 */ ins(OR_X, 0, 0, 0),
        /* 16 */ ins(LDX_MEM, 0, 0, 0),
        /* 17 */ ins(XOR_X, 0, 0, 0),
        /* 18 */ ins(JA, 0, 0, 1), // -> 20
        /* 19 */ ins(LD_MEM, 0, 0, 0),
        // `mix`: X = A; A >>= n; A ^= X for each shift-xor.
        /* 20 */
        ins(TAX, 0, 0, 0),
        /* 21 */ ins(RSH_K, 0, 0, 16),
        /* 22 */ ins(XOR_X, 0, 0, 0),
        /* 23 */ ins(MUL_K, 0, 0, FMIX1),
        /* 24 */ ins(TAX, 0, 0, 0),
        /* 25 */ ins(RSH_K, 0, 0, 13),
        /* 26 */ ins(XOR_X, 0, 0, 0),
        /* 27 */ ins(MUL_K, 0, 0, FMIX2),
        /* 28 */ ins(TAX, 0, 0, 0),
        /* 29 */ ins(RSH_K, 0, 0, 16),
        /* 30 */ ins(XOR_X, 0, 0, 0),
        /* 31 */ ins(RET_A, 0, 0, 0),
        /* 32 */ ins(RET_K, 0, 0, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny classic-BPF interpreter for the opcodes the program uses, with
    /// the kernel's fanout view of a frame (loads relative to the network
    /// header, `skb->protocol` as an ancillary load): the oracle that the
    /// kernel program and [`peer_hash`] agree.
    fn run_cbpf(prog: &[SockFilter], frame: &[u8]) -> u32 {
        if frame.len() < 14 {
            return 0; // never delivered by the kernel
        }
        let protocol = u32::from(u16::from_be_bytes([frame[12], frame[13]]));
        let pkt = &frame[14..];
        let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
        let ld = |off: usize, n: usize| -> Option<u32> {
            if off == ANC_PROTOCOL as usize {
                return Some(protocol);
            }
            pkt.get(off..off + n)
                .map(|b| b.iter().fold(0u32, |acc, &v| acc << 8 | u32::from(v)))
        };
        loop {
            let i = prog[pc];
            pc += 1;
            let k = i.k;
            match i.code {
                LD_H_ABS => match ld(k as usize, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_W_ABS => match ld(k as usize, 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_B_ABS => match ld(k as usize, 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_H_IND => match ld((x + k) as usize, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LD_MEM => a = mem[k as usize],
                LDX_MEM => x = mem[k as usize],
                LDX_B_MSH => match ld(k as usize, 1) {
                    Some(v) => x = (v & 0xf) * 4,
                    None => return 0,
                },
                ST => mem[k as usize] = a,
                JEQ_K => pc += usize::from(if a == k { i.jt } else { i.jf }),
                JSET_K => pc += usize::from(if a & k != 0 { i.jt } else { i.jf }),
                JA => pc += k as usize,
                LSH_K => a <<= k,
                RSH_K => a >>= k,
                MUL_K => a = a.wrapping_mul(k),
                OR_X => a |= x,
                XOR_X => a ^= x,
                TAX => x = a,
                RET_A => return a,
                RET_K => return k,
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 54];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[23] = 6;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn both_directions_and_both_sides_of_a_static_translation_agree() {
        // client 198.51.100.7:40000 -> 172.22.1.110:25 arrives outside;
        // the reply 10.10.10.2:25 -> 198.51.100.7:40000 arrives inside.
        let inbound = tcp([198, 51, 100, 7], [172, 22, 1, 110], 40000, 25);
        let reply = tcp([10, 10, 10, 2], [198, 51, 100, 7], 25, 40000);
        let h = peer_hash(&inbound, PeerSide::Source);
        assert!(h.is_some());
        assert_eq!(h, peer_hash(&reply, PeerSide::Destination));
        let other = tcp([198, 51, 100, 7], [172, 22, 1, 110], 40001, 25);
        assert_ne!(h, peer_hash(&other, PeerSide::Source));
    }

    /// Every fragment of a datagram — the initial one (MF set, offset 0,
    /// ports readable) and the later ones (no ports) — hashes alike: on the
    /// peer address only, in the kernel program and in Rust.
    #[test]
    fn all_fragments_of_a_datagram_hash_alike() {
        let whole = tcp([198, 51, 100, 7], [172, 22, 1, 110], 40000, 25);
        let mut first = whole.clone();
        first[20] = 0x20; // MF, offset 0
        let mut later = whole.clone();
        later[20] = 0x00;
        later[21] = 0xb9; // offset 185 (1480 bytes), last
        later[34..38].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // payload, not ports
        let mut df = whole.clone();
        df[20] = 0x40; // DF alone: not a fragment
        let prog = peer_hash_program(PeerSide::Source);
        let h = peer_hash(&first, PeerSide::Source);
        assert_eq!(h, peer_hash(&later, PeerSide::Source));
        assert_eq!(
            h,
            Some(peer_address_hash(std::net::Ipv4Addr::new(198, 51, 100, 7)))
        );
        assert_ne!(h, peer_hash(&whole, PeerSide::Source), "whole: ports too");
        assert_eq!(
            peer_hash(&df, PeerSide::Source),
            peer_hash(&whole, PeerSide::Source)
        );
        for f in [&whole, &first, &later, &df] {
            assert_eq!(run_cbpf(&prog, f), peer_hash(f, PeerSide::Source).unwrap());
        }
    }

    /// Linux gives `connect()` even ephemeral ports only: the flows of one
    /// peer to one service still spread evenly over 2, 3 and 4 workers, in
    /// the kernel program as in Rust.
    #[test]
    fn connect_ports_spread_over_the_workers() {
        let prog = peer_hash_program(PeerSide::Source);
        for workers in 2..=4u32 {
            let mut per = vec![0u32; workers as usize];
            for port in (32768..32768 + 2 * 1200).step_by(2) {
                let f = tcp([198, 51, 100, 7], [172, 22, 1, 110], port, 25);
                let h = peer_hash(&f, PeerSide::Source).unwrap();
                assert_eq!(run_cbpf(&prog, &f), h);
                per[(h % workers) as usize] += 1;
            }
            let fair = 1200 / workers;
            assert!(
                per.iter().all(|&n| n > fair * 8 / 10 && n < fair * 12 / 10),
                "{workers} workers: {per:?}"
            );
        }
    }

    #[test]
    fn non_ipv4_is_not_steered() {
        let mut arp = tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(peer_hash(&arp, PeerSide::Source), None);
        assert_eq!(run_cbpf(&peer_hash_program(PeerSide::Source), &arp), 0);
    }

    proptest::proptest! {
        #[test]
        fn kernel_program_and_rust_agree(
            mut frame in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            ipv4 in proptest::prelude::any::<bool>(),
            proto in proptest::sample::select(vec![6u8, 17, 1]),
            ihl in 5u8..8,
            frag in proptest::prelude::any::<bool>(),
        ) {
            if ipv4 && frame.len() >= 24 {
                frame[12] = 0x08;
                frame[13] = 0x00;
                frame[14] = 0x40 | ihl;
                frame[23] = proto;
                if !frag {
                    frame[20] &= 0xc0;
                    frame[21] = 0;
                }
            }
            for side in [PeerSide::Source, PeerSide::Destination] {
                let k = run_cbpf(&peer_hash_program(side), &frame);
                proptest::prop_assert_eq!(peer_hash(&frame, side).unwrap_or(0), k);
            }
        }
    }
}
