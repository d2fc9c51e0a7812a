//! EHLO-reply keyword masking (spec §4).
//!
//! Lines 2.. of a positive EHLO reply are `250-`/`250 ` + keyword `[params]`.
//! The keyword is run through a small prefix automaton over the supported
//! set (the eight of §4.2, plus STARTTLS with allow-tls and CHUNKING with the
//! BDAT option). At the first byte with no supported continuation — or at a
//! delimiter after an incomplete keyword — every not-yet-forwarded byte of the
//! line after the 4-byte prefix becomes `X` up to the terminator, which turns
//! the extension into a "private" `X…` keyword the client ignores.

/// Supported keywords; bit i = `KEYWORDS[i]`.
pub(crate) const KEYWORDS: [&[u8]; 10] = [
    b"SIZE",
    b"ETRN",
    b"BINARYMIME",
    b"PIPELINING",
    b"AUTH",
    b"DSN",
    b"ENHANCEDSTATUSCODES",
    b"8BITMIME",
    b"STARTTLS",
    b"CHUNKING",
];
const PIPELINING_BIT: u16 = 1 << 3;
/// The eight IOS keywords.
const BASE_KEYWORDS: u16 = 0xFF;
const STARTTLS_BIT: u16 = 1 << 8;
const CHUNKING_BIT: u16 = 1 << 9;

/// The supported keyword set for a policy.
pub(crate) fn keyword_set(allow_tls: bool, bdat: bool) -> u16 {
    let mut s = BASE_KEYWORDS;
    if allow_tls {
        s |= STARTTLS_BIT;
    }
    if bdat {
        s |= CHUNKING_BIT;
    }
    s
}

/// Outcome of one keyword byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kw {
    /// Still a prefix of a supported keyword.
    Open,
    /// A supported keyword followed by its delimiter; `pipelining` if it was PIPELINING.
    Accepted { pipelining: bool },
    /// No supported keyword: mask the line.
    Masked,
}

/// Longest keyword (ENHANCEDSTATUSCODES).
const MAX_KW: usize = 19;

const fn build_step() -> [[u16; 256]; MAX_KW] {
    let mut t = [[0u16; 256]; MAX_KW];
    let mut k = 0;
    while k < KEYWORDS.len() {
        let kw = KEYWORDS[k];
        let mut p = 0;
        while p < kw.len() {
            t[p][kw[p] as usize] |= 1 << k;
            t[p][kw[p].to_ascii_lowercase() as usize] |= 1 << k;
            p += 1;
        }
        k += 1;
    }
    t
}

const fn build_exact() -> [u16; MAX_KW + 1] {
    let mut t = [0u16; MAX_KW + 1];
    let mut k = 0;
    while k < KEYWORDS.len() {
        t[KEYWORDS[k].len()] |= 1 << k;
        k += 1;
    }
    t
}

/// `STEP[pos][byte]`: keywords whose byte at `pos` is `byte` (case-insensitive).
static STEP: [[u16; 256]; MAX_KW] = build_step();
/// `EXACT[len]`: keywords of exactly `len` bytes.
static EXACT: [u16; MAX_KW + 1] = build_exact();

/// Prefix automaton state for one keyword.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KwMatch {
    cands: u16,
    pos: u8,
}

impl KwMatch {
    pub(crate) fn new(set: u16) -> Self {
        KwMatch { cands: set, pos: 0 }
    }

    /// Feed one byte after the `250-` prefix (`b` may be the delimiter SP/CR/LF).
    #[inline]
    pub(crate) fn feed(&mut self, b: u8) -> Kw {
        let p = self.pos as usize;
        if b == b' ' || b == b'\r' || b == b'\n' {
            let complete = if p <= MAX_KW {
                self.cands & EXACT[p]
            } else {
                0
            };
            return if complete != 0 {
                Kw::Accepted {
                    pipelining: complete & PIPELINING_BIT != 0,
                }
            } else {
                Kw::Masked
            };
        }
        self.cands = if p < MAX_KW {
            self.cands & STEP[p][b as usize]
        } else {
            0
        };
        self.pos = self.pos.saturating_add(1);
        if self.cands == 0 {
            Kw::Masked
        } else {
            Kw::Open
        }
    }
}

/// One slot of the whole-line classifier's table: a keyword in lower case,
/// eight bytes per little-endian word, the bytes it covers (`mask`) and the
/// bit to set before comparing (`fold`: `0x20` on letters only, so `A` and
/// `a` fold together but a digit matches only itself).
#[derive(Clone, Copy)]
struct Slot {
    /// Keyword length; `u8::MAX` for an empty slot.
    len: u8,
    /// The keyword's bit in a keyword set (`KEYWORDS` order).
    bit: u16,
    lower: [u64; 3],
    mask: [u64; 3],
    fold: [u64; 3],
}

/// Slot of a keyword of `len` bytes starting with `first`. The supported
/// keywords differ in length or first letter, and `(first + len) % 32` keeps
/// them apart (checked when the table is built); a letter's two cases differ
/// by `0x20`, so the slot does not depend on case.
#[inline(always)]
const fn slot_of(len: usize, first: u8) -> usize {
    (first as usize + len) % 32
}

const fn build_slots() -> [Slot; 32] {
    let mut t = [Slot {
        len: u8::MAX,
        bit: 0,
        lower: [0; 3],
        mask: [0; 3],
        fold: [0; 3],
    }; 32];
    let mut k = 0;
    while k < KEYWORDS.len() {
        let kw = KEYWORDS[k];
        let s = slot_of(kw.len(), kw[0]);
        assert!(t[s].len == u8::MAX, "keyword slots collide");
        t[s].len = kw.len() as u8;
        t[s].bit = 1 << k;
        let mut p = 0;
        while p < kw.len() {
            let b = kw[p];
            let shift = 8 * (p % 8);
            t[s].lower[p / 8] |= (b.to_ascii_lowercase() as u64) << shift;
            t[s].mask[p / 8] |= 0xFF << shift;
            if b.is_ascii_alphabetic() {
                t[s].fold[p / 8] |= 0x20 << shift;
            }
            p += 1;
        }
        k += 1;
    }
    t
}

static SLOTS: [Slot; 32] = build_slots();

/// SP, CR and LF as a bit set over byte values below 64.
const DELIMITERS: u64 = 1 << b' ' | 1 << b'\r' | 1 << b'\n';

/// Whole-line form of [`KwMatch`] for the fast reply path, on thirty-two
/// bytes of an EHLO reply line body (after `250-`/`250 `) at once (two SSE2
/// blocks via `wide`: one compare each finds where the keyword ends, one
/// where the line ends), so that the longest keyword (ENHANCEDSTATUSCODES)
/// and lines of up to thirty-two body bytes (`AUTH PLAIN LOGIN`) need no
/// second scan. Gives the outcome the byte-wise automaton reaches on a body
/// whose LF lies in the block: `Accepted` iff the bytes before the first
/// SP/CR/LF spell a keyword of `set` (case-insensitively), else `Masked`
/// (never `Open`: the line is complete; a block where no byte ends the
/// keyword holds no supported keyword); and the LF bits of the block (bit
/// `k` for `block[k]`; the line's own LF is the lowest: a keyword never
/// runs past an LF). Zero bytes after the end of a segment (a caller's
/// padding) are control bytes: they end a keyword but are no delimiter, and
/// no LF.
#[inline(always)]
pub(crate) fn keyword_of_block32(block: &[u8; 32], set: u16) -> (Kw, u32) {
    use wide::u8x16;
    let (b0, b1) = block.split_at(16);
    let half = |b: &[u8]| u8x16::new(b.first_chunk::<16>().copied().unwrap_or([0; 16]));
    let (v0, v1) = (half(b0), half(b1));
    // Bytes at most SP: `min(b, SP) == b`; LF bytes.
    let low = |v: u8x16| v.min(u8x16::splat(b' ')).simd_eq(v).to_bitmask();
    let lf = |v: u8x16| v.simd_eq(u8x16::splat(b'\n')).to_bitmask();
    let lfs = lf(v0) | lf(v1) << 16;
    let low = low(v0) | low(v1) << 16;
    if low == 0 {
        return (Kw::Masked, lfs);
    }
    let len = low.trailing_zeros() as usize;
    let stop = block[len];
    // `stop` is at most SP, so the shift stays inside the word.
    let delimited = DELIMITERS >> (stop & 63) & 1 != 0;
    let s = &SLOTS[slot_of(len, block[0])];
    if !delimited || s.len as usize != len || s.bit & set == 0 {
        return (Kw::Masked, lfs);
    }
    let word = |k: usize| {
        block[8 * k..]
            .first_chunk::<8>()
            .map_or(0, |w| u64::from_le_bytes(*w))
    };
    // Bytes past the keyword are outside the slot's mask.
    let diff = ((word(0) | s.fold[0]) & s.mask[0]) ^ s.lower[0]
        | ((word(1) | s.fold[1]) & s.mask[1]) ^ s.lower[1]
        | ((word(2) | s.fold[2]) & s.mask[2]) ^ s.lower[2];
    let kw = if diff == 0 {
        Kw::Accepted {
            pipelining: s.bit == PIPELINING_BIT,
        }
    } else {
        Kw::Masked
    };
    (kw, lfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kw: &[u8], set: u16) -> Kw {
        let mut m = KwMatch::new(set);
        for &b in kw {
            match m.feed(b) {
                Kw::Open => {}
                r => return r,
            }
        }
        Kw::Open
    }

    #[test]
    fn keywords_of_spec_4() {
        let set = keyword_set(false, false);
        assert_eq!(run(b"PIPELINING\r", set), Kw::Accepted { pipelining: true });
        assert_eq!(
            run(b"size 10240000", set),
            Kw::Accepted { pipelining: false }
        );
        assert_eq!(
            run(b"ENHANCEDSTATUSCODES\r", set),
            Kw::Accepted { pipelining: false }
        );
        assert_eq!(run(b"ENHANCEDSTATUSCODE\r", set), Kw::Masked);
        assert_eq!(run(b"STARTTLS\r", set), Kw::Masked);
        assert_eq!(run(b"CHUNKING\r", set), Kw::Masked);
        assert_eq!(run(b"AUTH=LOGIN", set), Kw::Masked);
        assert_eq!(run(b"SIZEX", set), Kw::Masked);
        assert_eq!(run(b"VRFY", set), Kw::Masked);
        assert_eq!(run(b"\r", set), Kw::Masked);
        assert_eq!(
            run(b"STARTTLS\r", keyword_set(true, false)),
            Kw::Accepted { pipelining: false }
        );
        assert_eq!(
            run(b"CHUNKING\r", keyword_set(false, true)),
            Kw::Accepted { pipelining: false }
        );
    }

    #[test]
    fn whole_line_keywords() {
        let set = keyword_set(false, false);
        let kw = |line: &[u8], set| block_kw(line, 4, set).0;
        assert_eq!(kw(b"250-DSN\r\n", set), Kw::Accepted { pipelining: false });
        assert_eq!(
            kw(b"250-pipelining\r\n", set),
            Kw::Accepted { pipelining: true }
        );
        assert_eq!(
            kw(b"250-ENHANCEDSTATUSCODES\r\n", set),
            Kw::Accepted { pipelining: false }
        );
        assert_eq!(
            kw(b"250 8bitmime\n", set),
            Kw::Accepted { pipelining: false }
        );
        // A digit folds to nothing: 0x18 is not '8'.
        assert_eq!(kw(b"250 \x18BITMIME\r\n", set), Kw::Masked);
        assert_eq!(kw(b"250-AUTH=LOGIN\r\n", set), Kw::Masked);
        assert_eq!(kw(b"250-SIZE\t1\r\n", set), Kw::Masked);
        assert_eq!(kw(b"250-\r\n", set), Kw::Masked);
        assert_eq!(kw(b"250-STARTTLS\r\n", set), Kw::Masked);
        assert_eq!(
            kw(b"250-STARTTLS\r\n", keyword_set(true, false)),
            Kw::Accepted { pipelining: false }
        );
        assert_eq!(kw(b"250-ENHANCEDSTATUSCODESS\r\n", set), Kw::Masked);
        assert_eq!(kw(b"250-XXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n", set), Kw::Masked);
    }

    /// [`keyword_of_block32`] on the bytes of `buf` from `at`, zero-padded
    /// to thirty-two (what the reply path gives it near a segment's end).
    fn block_kw(buf: &[u8], at: usize, set: u16) -> (Kw, u32) {
        let mut block = [0u8; 32];
        let rest = &buf[at..buf.len().min(at + 32)];
        block[..rest.len()].copy_from_slice(rest);
        keyword_of_block32(&block, set)
    }

    /// The byte-wise automaton's outcome on a complete line body.
    fn automaton(body: &[u8], set: u16) -> Kw {
        let mut m = KwMatch::new(set);
        for &b in body {
            match m.feed(b) {
                Kw::Open => {}
                r => return r,
            }
        }
        Kw::Open
    }

    fn token() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let base = proptest::sample::select(KEYWORDS.to_vec());
        prop_oneof![
            // A keyword with random case flips, maybe cut, extended or with
            // one byte changed.
            4 => (base, any::<u32>(), 0usize..4, proptest::collection::vec(any::<u8>(), 1..3))
                .prop_map(|(kw, flips, how, extra)| {
                    let mut v: Vec<u8> = kw
                        .iter()
                        .enumerate()
                        .map(|(i, &b)| if flips >> (i % 32) & 1 != 0 { b.to_ascii_lowercase() } else { b })
                        .collect();
                    match how {
                        1 => { v.pop(); }
                        2 => v.extend_from_slice(&extra),
                        3 => {
                            let at = flips as usize % v.len();
                            v[at] = extra[0];
                        }
                        _ => {}
                    }
                    v
                }),
            1 => proptest::collection::vec(
                proptest::sample::select(vec![b'A', b'z', b'8', 0x18, b'=', b'\t', 0, 0x80, 0xC5, b'-', b'X']),
                0..30,
            ),
            1 => proptest::collection::vec(any::<u8>(), 0..30),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)))]

        /// The whole-line classifier agrees with the byte-wise automaton on
        /// every complete line, wherever the line sits in its segment.
        #[test]
        fn whole_line_matches_automaton(
            before in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
            tok in token(),
            delim in proptest::sample::select(vec![&b"\r\n"[..], b"\n", b" 52428800\r\n", b" PLAIN LOGIN\n", b"\r\r\n", b"\rx\n", b" PLAIN LOGIN CRAM-MD5 DIGEST-MD5 GSSAPI\r\n"]),
            after in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
            set in 0u16..0x400,
        ) {
            let mut seg = before.clone();
            let at = seg.len();
            seg.extend_from_slice(&tok);
            seg.extend_from_slice(delim);
            let lf = at + memchr::memchr(b'\n', &seg[at..]).unwrap_or(0);
            seg.extend_from_slice(&after);
            let reference = automaton(&seg[at..=lf], set);
            let first_lf = (lf - at < 32).then_some(lf - at);
            let lfs_first = |lfs: u32| (lfs != 0).then(|| lfs.trailing_zeros() as usize);
            // Thirty-two real bytes from `at`: the outcome whatever the
            // line's length (the line end may lie beyond the block).
            if let Some(block) = seg.get(at..).and_then(<[u8]>::first_chunk::<32>) {
                let (kw, lfs) = keyword_of_block32(block, set);
                proptest::prop_assert_eq!(kw, reference);
                proptest::prop_assert_eq!(lfs_first(lfs), first_lf);
            }
            // Zero-padded past the end of the segment (as the reply path
            // does near a segment's end), where the line's LF is in the
            // block: the line with what follows it, alone, and with only its
            // LF after it.
            if let Some(k) = first_lf {
                let (kw, lfs) = block_kw(&seg, at, set);
                proptest::prop_assert_eq!((kw, lfs_first(lfs)), (reference, Some(k)));
                proptest::prop_assert_eq!(block_kw(&seg[at..=lf], 0, set), (reference, 1 << k));
                proptest::prop_assert_eq!(block_kw(&seg[..=lf], at, set).0, reference);
            }
        }
    }
}
