//! The flow hash: computed once per packet, reused for core steering, lookup and insert.
//!
//! Choice: a seeded *folded multiply* (the mixing step of wyhash/foldhash) over the
//! canonical key packed into two 64-bit words. `fold(x, y)` multiplies to 128 bits
//! and xors the halves, which diffuses every input bit into both the low bits
//! (hashbrown's probe position) and the high bits (its 7-bit tag, bits 57..64). Two folds
//! cost a few nanoseconds, need no table and no `unsafe`. The per-process seed
//! (drawn at start-up by the dataplane) keeps an outside attacker from precomputing
//! colliding tuples; all workers must share one [`FlowHasher`] so that steering is
//! consistent.
//!
//! The hash is **symmetric**: it is taken over [`FlowKey::canonical`], so a packet
//! and its reply hash equally. Steering: the dataplane hashes the session's
//! *inside-form* key (after static NAT), so both directions on both interfaces land
//! on the same owner ([`FlowHash::owner`]); that hash is also the index hash of the
//! session's inside-form key, so the owner's lookup needs no second hash.

use crate::key::FlowKey;

const K0: u64 = 0x243f_6a88_85a3_08d3;
const K1: u64 = 0x1319_8a2e_0370_7344;
const K2: u64 = 0xa409_3822_299f_31d0;
const K3: u64 = 0x082e_fa98_ec4e_6c89;

#[inline(always)]
const fn fold(x: u64, y: u64) -> u64 {
    let r = (x as u128).wrapping_mul(y as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

/// A precomputed flow hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowHash(pub u64);

impl FlowHash {
    /// The worker that owns this flow among `workers` (≥ 1): a multiply-shift range
    /// reduction (Lemire) over bits 25..57. The owner is decided by the top
    /// bits of that window (bits 48..57 for up to 512 workers), so within
    /// one worker's table the index's probe position (the low bits) and
    /// hashbrown's tag (bits 57..64) still vary freely.
    #[inline]
    pub const fn owner(self, workers: u32) -> u32 {
        let mid = (self.0 >> 25) as u32 as u64;
        ((mid * workers as u64) >> 32) as u32
    }
}

/// Seeded symmetric flow hasher; `Copy`, share one value between all workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowHasher {
    seed: u64,
}

impl FlowHasher {
    /// A hasher with the given seed (draw it at random once per process).
    pub const fn new(seed: u64) -> FlowHasher {
        FlowHasher { seed }
    }

    /// The symmetric hash of `key` (equal for `key` and `key.reversed()`).
    #[inline]
    pub const fn hash(&self, key: &FlowKey) -> FlowHash {
        let (a, b) = key.packed_canonical();
        let h = fold(a ^ self.seed ^ K0, b ^ K1);
        FlowHash(fold(h ^ K2, self.seed ^ K3))
    }
}

impl Default for FlowHasher {
    fn default() -> Self {
        FlowHasher::new(0x9e37_79b9_7f4a_7c15)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::IPPROTO_TCP;
    use core::net::Ipv4Addr;

    fn key(port: u16) -> FlowKey {
        FlowKey::new(
            IPPROTO_TCP,
            Ipv4Addr::new(198, 51, 100, 7),
            port,
            Ipv4Addr::new(172, 22, 1, 110),
            25,
            0,
        )
    }

    #[test]
    fn symmetric_and_seeded() {
        let h = FlowHasher::default();
        let k = key(40001);
        assert_eq!(h.hash(&k), h.hash(&k.reversed()));
        assert_ne!(h.hash(&k), h.hash(&key(40002)));
        assert_ne!(h.hash(&k), FlowHasher::new(1).hash(&k));
        let mut z = k;
        z.zone = 1;
        assert_ne!(h.hash(&k), h.hash(&z));
    }

    #[test]
    fn owner_in_range_and_balanced() {
        let h = FlowHasher::default();
        for workers in [1u32, 2, 3, 8] {
            let mut counts = vec![0u32; workers as usize];
            for p in 0..20_000u16 {
                let o = h.hash(&key(p)).owner(workers);
                assert!(o < workers);
                counts[o as usize] += 1;
            }
            let ideal = 20_000 / workers;
            for c in counts {
                assert!(c > ideal * 9 / 10 && c < ideal * 11 / 10, "{c} vs {ideal}");
            }
        }
    }

    #[test]
    fn bits_spread() {
        // Sequential ports must flip about half of the low and the high bits.
        let h = FlowHasher::default();
        let mut low = [0u32; 16];
        let mut high = [0u32; 7];
        for p in 0..4096u16 {
            let v = h.hash(&key(p)).0;
            for (i, c) in low.iter_mut().enumerate() {
                *c += ((v >> i) & 1) as u32;
            }
            for (i, c) in high.iter_mut().enumerate() {
                *c += ((v >> (57 + i)) & 1) as u32;
            }
        }
        for c in low.iter().chain(high.iter()) {
            assert!((1700..2400).contains(c), "bit bias {c}/4096");
        }
    }
}
