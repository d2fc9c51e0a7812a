//! The Internet checksum: the full RFC 1071 sum and the RFC 1624 incremental update.
//!
//! Every rewrite the firewall makes (static translation of an address, TTL decrement,
//! masking of SMTP bytes) changes a few words of a packet whose checksum was valid; RFC 1624
//! lets us fix the checksum from the old and new words alone instead of summing the packet
//! again. The full sum is needed to verify incoming packets and to build router-originated
//! ones; it processes eight bytes per step (ones'-complement addition is associative, and
//! 2^16 − 1 divides 2^64 − 1, so a 64-bit end-around-carry sum folds to the same 16-bit sum).
//!
//! Conventions: a *sum* is the folded ones'-complement sum (not inverted); a *checksum* is
//! the inverted sum as stored in a header. A header whose stored checksum is right sums to
//! `0xffff` over its covered bytes.

use std::net::Ipv4Addr;

/// Adds two folded ones'-complement sums.
#[inline]
pub fn combine(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// Folds a 64-bit end-around-carry accumulator to 16 bits.
#[inline]
fn fold(mut s: u64) -> u16 {
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The folded ones'-complement sum of `data`, read as big-endian 16-bit words starting at an
/// even offset (an odd trailing byte is padded with a zero byte, RFC 1071).
pub fn ones_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let (s, carry) = acc.overflowing_add(v);
        acc = s + u64::from(carry);
    }
    let rest = chunks.remainder();
    let mut tail: u64 = 0;
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        tail += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        tail += u64::from(*last) << 8;
    }
    let (s, carry) = acc.overflowing_add(tail);
    // A carry out of bit 63 is worth 2^64, which is 1 modulo 2^16 - 1.
    combine(fold(s), u16::from(carry))
}

/// [`ones_sum`] of an IPv4 header without options (20 bytes), in five 32-bit words: the
/// per-packet header check of the forwarding fast path.
#[inline]
pub fn header_sum20(h: &[u8; 20]) -> u16 {
    let w = |i: usize| u64::from(u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
    fold(w(0) + w(4) + w(8) + w(12) + w(16))
}

/// The Internet checksum of `data` (the value to store in a header whose checksum field
/// was zero while summing).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !ones_sum(data)
}

/// The sum of the IPv4 pseudo-header used by TCP and UDP (RFC 793, RFC 768).
#[inline]
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4_len: u16) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let mut acc = u32::from(u16::from_be_bytes([s[0], s[1]]));
    acc += u32::from(u16::from_be_bytes([s[2], s[3]]));
    acc += u32::from(u16::from_be_bytes([d[0], d[1]]));
    acc += u32::from(u16::from_be_bytes([d[2], d[3]]));
    acc += u32::from(protocol);
    acc += u32::from(l4_len);
    fold(u64::from(acc))
}

/// The checksum of a TCP or UDP segment (`segment` with its checksum field zeroed).
/// For UDP the caller stores `0xffff` when this returns 0 (RFC 768).
#[inline]
pub fn l4_checksum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    let len = segment.len() as u16;
    !combine(
        pseudo_header_sum(src, dst, protocol, len),
        ones_sum(segment),
    )
}

/// Whether a TCP or UDP segment (checksum field included) carries a valid checksum.
#[inline]
pub fn l4_checksum_valid(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> bool {
    let len = segment.len() as u16;
    combine(
        pseudo_header_sum(src, dst, protocol, len),
        ones_sum(segment),
    ) == 0xffff
}

/// RFC 1624 equation 3: the new checksum after one 16-bit word changed from `old` to `new`:
/// `HC' = ~(~HC + ~m + m')`.
#[inline]
pub fn update_u16(checksum: u16, old: u16, new: u16) -> u16 {
    !combine(combine(!checksum, !old), new)
}

/// The change of one 16-bit word from `old` to `new` as an unfolded ones'-complement
/// addend (`~m + m'` of RFC 1624 equation 3). Deltas add up as plain integers and are
/// applied with [`apply_delta`]; several changes then cost one fold per checksum.
#[inline]
pub fn word_delta(old: u16, new: u16) -> u32 {
    u32::from(!old) + u32::from(new)
}

/// [`word_delta`] of an IPv4 address (its two words), as in the IPv4 header and the
/// TCP/UDP pseudo-header.
#[inline]
pub fn addr_delta(old: Ipv4Addr, new: Ipv4Addr) -> u32 {
    let (o, n) = (u32::from(old), u32::from(new));
    word_delta((o >> 16) as u16, (n >> 16) as u16) + word_delta(o as u16, n as u16)
}

/// The new checksum after the changes summed in `delta` (at most 256 word deltas):
/// bit-identical to applying [`update_u16`] once per changed word, in any order (an
/// end-around-carry sum is zero only when every addend is, and otherwise has a single
/// representation of each value modulo 0xffff).
#[inline]
pub fn apply_delta(checksum: u16, delta: u32) -> u16 {
    let mut s = u32::from(!checksum) + delta;
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// The new checksum after a 32-bit field (two aligned words) changed.
#[inline]
pub fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    let c = update_u16(checksum, (old >> 16) as u16, (new >> 16) as u16);
    update_u16(c, old as u16, new as u16)
}

/// The new checksum after an IPv4 address (in the header or the pseudo-header) changed.
#[inline]
pub fn update_addr(checksum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    update_u32(checksum, u32::from(old), u32::from(new))
}

/// UDP flavour of [`update_addr`]: a checksum of 0 means "none" and stays 0, and a computed
/// 0 is sent as `0xffff` (RFC 768).
#[inline]
pub fn update_udp_addr(checksum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    if checksum == 0 {
        return 0;
    }
    match update_addr(checksum, old, new) {
        0 => 0xffff,
        c => c,
    }
}

/// The sum of a byte range that starts `offset` bytes after the start of the checksummed
/// area: a range at an odd offset contributes its bytes in swapped positions, which is the
/// byte-swapped sum (RFC 1071 §2(B)).
#[inline]
pub fn range_sum(data: &[u8], offset: usize) -> u16 {
    let s = ones_sum(data);
    if offset % 2 == 1 {
        s.swap_bytes()
    } else {
        s
    }
}

/// The new checksum after the bytes of one range (same length before and after) changed,
/// given the range's sums before and after (see [`range_sum`]). This is how masking of SMTP
/// bytes fixes the TCP checksum without summing the whole segment.
#[inline]
pub fn update_range_sum(checksum: u16, old_sum: u16, new_sum: u16) -> u16 {
    update_u16(checksum, old_sum, new_sum)
}

/// The new checksum after `old` (starting `offset` bytes into the checksummed area) was
/// replaced by `new` of the same length.
#[inline]
pub fn update_range(checksum: u16, offset: usize, old: &[u8], new: &[u8]) -> u16 {
    debug_assert_eq!(old.len(), new.len());
    update_range_sum(checksum, range_sum(old, offset), range_sum(new, offset))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Naive RFC 1071 oracle: 16 bits at a time.
    fn naive_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for p in data.chunks(2) {
            let w = if p.len() == 2 {
                u16::from_be_bytes([p[0], p[1]])
            } else {
                u16::from(p[0]) << 8
            };
            acc += u32::from(w);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn ipv4_header_known_checksum() {
        // A classic example header whose checksum is 0xb861.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(ones_sum(&h), 0xffff);
    }

    #[test]
    fn all_ones_carry_out_of_64_bits() {
        let data = [0xffu8; 24];
        assert_eq!(ones_sum(&data), naive_sum(&data));
    }

    #[test]
    fn udp_zero_stays_zero() {
        let a = Ipv4Addr::new(10, 10, 10, 5);
        let b = Ipv4Addr::new(172, 22, 1, 111);
        assert_eq!(update_udp_addr(0, a, b), 0);
    }

    proptest! {
        /// One delta applied at once equals the word-by-word updates, bit for bit.
        #[test]
        fn summed_deltas_match_sequential_updates(
            c in prop_oneof![Just(0u16), Just(0xffffu16), any::<u16>()],
            old in any::<u32>(),
            new in any::<u32>(),
            ttl in any::<u16>(),
            ttl_new in any::<u16>(),
        ) {
            let (old, new) = (Ipv4Addr::from(old), Ipv4Addr::from(new));
            prop_assert_eq!(apply_delta(c, addr_delta(old, new)), update_addr(c, old, new));
            prop_assert_eq!(
                apply_delta(c, addr_delta(old, new) + word_delta(ttl, ttl_new)),
                update_u16(update_addr(c, old, new), ttl, ttl_new)
            );
            prop_assert_eq!(apply_delta(c, word_delta(ttl, ttl_new)), update_u16(c, ttl, ttl_new));
        }

        #[test]
        fn header_sum20_matches_ones_sum(h in proptest::array::uniform20(any::<u8>())) {
            prop_assert_eq!(header_sum20(&h), ones_sum(&h));
        }

        #[test]
        fn fast_sum_matches_naive(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(ones_sum(&data), naive_sum(&data));
        }

        #[test]
        fn incremental_word_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 4..200),
            word in 0usize..100,
            new in any::<u16>(),
        ) {
            // Last two bytes hold the checksum over the rest.
            let n = data.len() & !1;
            data.truncate(n);
            prop_assume!(n >= 4);
            let csum_at = n - 2;
            data[csum_at] = 0;
            data[csum_at + 1] = 0;
            let c = checksum(&data);
            data[csum_at..].copy_from_slice(&c.to_be_bytes());
            let w = (word % (csum_at / 2)) * 2;
            let old = u16::from_be_bytes([data[w], data[w + 1]]);
            data[w..w + 2].copy_from_slice(&new.to_be_bytes());
            let inc = update_u16(c, old, new);
            data[csum_at] = 0;
            data[csum_at + 1] = 0;
            let full = checksum(&data);
            // 0x0000 and 0xffff are the same number in ones' complement; the stored value
            // must still verify.
            data[csum_at..].copy_from_slice(&inc.to_be_bytes());
            prop_assert_eq!(ones_sum(&data), 0xffff);
            prop_assert!(inc == full || (inc ^ full) == 0xffff);
        }

        #[test]
        fn incremental_range_matches_recompute(
            data in proptest::collection::vec(any::<u8>(), 2..300),
            start in 0usize..300,
            len in 0usize..64,
            fill in any::<u8>(),
        ) {
            let mut data = data;
            let start = start % data.len();
            let end = (start + len).min(data.len());
            let c = checksum(&data);
            let old = data[start..end].to_vec();
            for b in &mut data[start..end] {
                *b = fill;
            }
            let inc = update_range(c, start, &old, &data[start..end]);
            let full = checksum(&data);
            prop_assert!(inc == full || (inc ^ full) == 0xffff, "inc {:04x} full {:04x}", inc, full);
        }
    }
}
