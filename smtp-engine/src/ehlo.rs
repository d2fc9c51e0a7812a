//! EHLO-reply keyword masking (spec §4).
//!
//! Lines 2.. of a positive EHLO reply are `250-`/`250 ` + keyword `[params]`.
//! The keyword is run through a small prefix automaton over the supported
//! set (the eight of §4.2, plus STARTTLS with allow-tls and CHUNKING with the
//! BDAT option). At the first byte with no supported continuation — or at a
//! delimiter after an incomplete keyword — every not-yet-forwarded byte of the
//! line after the 4-byte prefix becomes `X` up to the terminator, which turns
//! the extension into a "private" `X…` keyword the client ignores.
//!
//! The reply path's fast form of the same decision ([`Keywords`]) works on a
//! whole line at once: the only supported keyword a body can be is found by
//! a perfect hash of its first two bytes (in either case), and one SSE2
//! compare of sixteen body bytes with that keyword (case-folded, the byte
//! after it required to be at most SP; a second for the one keyword longer
//! than that) and a test of that byte (SP, CR or LF) decide it. One table
//! per policy (allow-tls, BDAT) leaves unsupported keywords out, so the
//! decision asks nothing else; each slot also holds the [`Tally`] of a line
//! of its keyword, which the reply path sums in one `add` per line.
//! Property tests hold it equal to the automaton.

use wide::u8x16;

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
pub(crate) const fn keyword_set(allow_tls: bool, bdat: bool) -> u16 {
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

/// One slot of the whole-line classifier's table, a cache line: a keyword
/// as three SSE2 vectors, so that one `por`, `psubusb`, `pand`, `pcmpeqb`
/// compare sixteen body bytes with it: `fold` sets `0x20` on letters only
/// (so `A` and `a` fold together but a digit matches only itself), the
/// bytes then drop by SP, saturating (a byte at most SP becomes zero, any
/// other stays apart: the keyword bytes all lie above SP), and `mask` keeps
/// the keyword's bytes and the one after it, which must be at most SP
/// (`lower` holds zero there, the keyword's bytes in lower case less SP
/// before it): sixteen body bytes match iff their keyword is exactly this
/// one, ended by a byte at most SP. A keyword of sixteen bytes or more has
/// its first sixteen here and the rest in [`LONG_TAIL`].
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    lower: u8x16,
    mask: u8x16,
    fold: u8x16,
    /// The keyword's length, the offset of the byte that ends it in the
    /// line body; zero for a long keyword (the offset of one of its
    /// letters: no delimiter, so its compare goes on to [`LONG_TAIL`]).
    len: u8,
    /// A long keyword's length (else zero: no long keyword).
    long_len: u8,
    /// A line of this keyword, as the loop over lines counts it.
    tally: Tally,
}

/// EHLO reply lines taken, as one word that a run of lines sums by one
/// `add` per line (each supported keyword's slot holds the word of one of
/// its lines): the count of lines in the low half, of PIPELINING lines in
/// the high half.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally(u64);

impl Tally {
    /// One line that keeps no PIPELINING.
    pub(crate) const LINE: Tally = Tally(1);
    /// One PIPELINING line.
    const PIPELINING_LINE: Tally = Tally(1 | 1 << 32);

    /// Lines counted (a segment holds far fewer than 2³² lines).
    #[inline(always)]
    pub(crate) fn lines(self) -> u32 {
        self.0 as u32
    }

    /// Did one of them keep PIPELINING?
    #[inline(always)]
    pub(crate) fn pipelining(self) -> bool {
        self.0 >> 32 != 0
    }
}

impl core::ops::AddAssign for Tally {
    #[inline(always)]
    fn add_assign(&mut self, other: Tally) {
        self.0 += other.0;
    }
}

/// A slot that no body matches: position 0 must be zero less SP and above
/// SP at once (`mask` keeps it, `lower` wants `0xFF`).
const EMPTY_SLOT: Slot = Slot {
    lower: u8x16::new([0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    mask: u8x16::new([0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    fold: u8x16::ZERO,
    len: 0,
    long_len: 0,
    tally: Tally::LINE,
};

/// Slot of a keyword by its first two bytes as they are: a perfect hash of
/// the supported keywords' prefixes in either case (SI, ET, BI, PI, AU,
/// DS, EN, 8B, ST, CH; a keyword sits in the slot of each case of its
/// first two bytes; checked when the table is built), one `imul` and one
/// `and` for the slot's byte offset (no case fold: the product's bits 6 to
/// 10 see the first byte and the low three bits of the second, which tell
/// the prefixes apart in either case).
#[inline(always)]
const fn slot_of(first_two: [u8; 2]) -> usize {
    let x = u16::from_le_bytes(first_two) as u32;
    ((x * 98) >> 6 & 31) as usize
}

/// The first two bytes of `kw` in upper or lower case, by the bits of
/// `case` (bit 0: the first byte, bit 1: the second).
const fn prefix_case(kw: &[u8], case: u8) -> [u8; 2] {
    let mut p = [kw[0], kw[1]];
    let mut i = 0;
    while i < 2 {
        if case >> i & 1 != 0 {
            p[i] = p[i].to_ascii_lowercase();
        }
        i += 1;
    }
    p
}

/// A keyword (its first `end` bytes, at most sixteen) as the `lower`,
/// `mask` and `fold` vectors of a [`Slot`]; with `stop`, the byte after
/// it in `mask` too.
const fn keyword_vectors(kw: &[u8], end: usize, stop: bool) -> [u8x16; 3] {
    let (mut lower, mut mask, mut fold) = ([0u8; 16], [0u8; 16], [0u8; 16]);
    let mut p = 0;
    while p < end {
        let b = kw[p];
        lower[p] = b.to_ascii_lowercase() - b' ';
        mask[p] = 0xFF;
        if b.is_ascii_alphabetic() {
            fold[p] = 0x20;
        }
        p += 1;
    }
    if stop {
        mask[end] = 0xFF;
    }
    [u8x16::new(lower), u8x16::new(mask), u8x16::new(fold)]
}

/// The slot table of the keyword set `set`: each of its keywords in its
/// slot.
const fn build_slots(set: u16) -> [Slot; 32] {
    let mut t = [EMPTY_SLOT; 32];
    // The keyword in each slot, plus one (zero: none).
    let mut owner = [0usize; 32];
    let mut k = 0;
    while k < KEYWORDS.len() {
        let kw = KEYWORDS[k];
        let short = kw.len() < 16;
        let [lower, mask, fold] = keyword_vectors(kw, if short { kw.len() } else { 16 }, short);
        let mut case = 0;
        while case < 4 {
            let s = slot_of(prefix_case(kw, case));
            assert!(owner[s] == 0 || owner[s] == k + 1, "keyword slots collide");
            owner[s] = k + 1;
            if set & 1 << k != 0 {
                t[s] = Slot {
                    lower,
                    mask,
                    fold,
                    long_len: if short { 0 } else { kw.len() as u8 },
                    len: if short { kw.len() as u8 } else { 0 },
                    tally: if 1 << k == PIPELINING_BIT {
                        Tally::PIPELINING_LINE
                    } else {
                        Tally::LINE
                    },
                };
            }
            case += 1;
        }
        k += 1;
    }
    t
}

/// The slot tables of the four policies (allow-tls, BDAT), by
/// [`Keywords::new`]'s index.
static SLOTS: [[Slot; 32]; 4] = [
    build_slots(keyword_set(false, false)),
    build_slots(keyword_set(true, false)),
    build_slots(keyword_set(false, true)),
    build_slots(keyword_set(true, true)),
];

/// The one supported keyword of sixteen bytes or more.
const LONG_KEYWORD: &[u8] = b"ENHANCEDSTATUSCODES";
const _: () = {
    // ... which every policy supports, and no other keyword is that long.
    let mut k = 0;
    while k < KEYWORDS.len() {
        let kw = KEYWORDS[k];
        let long = kw.len() == LONG_KEYWORD.len() && kw[0] == LONG_KEYWORD[0];
        assert!(kw.len() < 16 || long && BASE_KEYWORDS & 1 << k != 0);
        k += 1;
    }
    assert!(LONG_KEYWORD.len() > 16 && LONG_KEYWORD.len() < 32);
};

/// [`LONG_KEYWORD`]'s bytes from the seventeenth on and the stop byte
/// after them as slot vectors.
static LONG_TAIL: [u8x16; 3] = {
    let (_, tail) = LONG_KEYWORD.split_at(16);
    keyword_vectors(tail, tail.len(), true)
};

/// SP, CR and LF as a bit set over byte values below 64.
const DELIMITERS: u64 = 1 << b' ' | 1 << b'\r' | 1 << b'\n';

/// Is `b`, a byte at most SP, SP, CR or LF (one `bt`)?
#[inline(always)]
fn is_delimiter_low(b: u8) -> bool {
    DELIMITERS >> (b & 63) & 1 != 0
}

/// The classifier's view of the first thirty-two bytes of an EHLO reply
/// line body (after `250-`/`250 `; zero-padded past the end of a segment):
/// the bytes (in the segment, or a padded copy) and the first sixteen as a
/// vector. The second sixteen are loaded only when asked for (the line end
/// past the first block, the rest of the long keyword): most keyword lines
/// end within the first, and then no instruction looks at the second.
/// Padding zeros end a keyword, but are no delimiter, and no LF.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeywordBody<'a> {
    pub(crate) bytes: &'a [u8; 32],
    v0: u8x16,
}

impl<'a> KeywordBody<'a> {
    #[inline(always)]
    pub(crate) fn new(bytes: &'a [u8; 32]) -> Self {
        KeywordBody {
            bytes,
            v0: u8x16::new(*bytes.first_chunk::<16>().unwrap_or(&[0; 16])),
        }
    }

    /// The second sixteen bytes as a vector.
    #[inline(always)]
    fn v1(&self) -> u8x16 {
        u8x16::new(*self.bytes.last_chunk::<16>().unwrap_or(&[0; 16]))
    }

    /// LF bits of the thirty-two bytes whose lowest is the first LF (the
    /// line's end), zero when there is none: the first block's (one
    /// `pcmpeqb`/`pmovmskb`) when it holds one, else the second block's,
    /// moved to its offsets.
    #[inline(always)]
    pub(crate) fn first_lf(&self) -> u32 {
        let lf = u8x16::splat(b'\n');
        match self.v0.simd_eq(lf).to_bitmask() {
            0 => self.v1().simd_eq(lf).to_bitmask() << 16,
            m0 => m0,
        }
    }
}

/// Do the sixteen bytes `v` match the slot vectors `[lower, mask, fold]`?
#[inline(always)]
fn matches(v: u8x16, [lower, mask, fold]: [u8x16; 3]) -> bool {
    ((v | fold).saturating_sub(u8x16::splat(b' ')) & mask)
        .simd_eq(lower)
        .to_bitmask()
        == 0xFFFF
}

/// The supported keywords of a policy, as the whole-line classifier's slot
/// table.
#[derive(Clone, Copy)]
pub(crate) struct Keywords {
    slots: &'static [Slot; 32],
}

impl Keywords {
    /// The keywords supported with allow-tls and the BDAT option as given
    /// (those of [`keyword_set`]).
    #[inline(always)]
    pub(crate) fn new(allow_tls: bool, bdat: bool) -> Self {
        Keywords {
            slots: &SLOTS[usize::from(allow_tls) | usize::from(bdat) << 1],
        }
    }

    /// Whole-line form of [`KwMatch`] for the fast reply path, for a line
    /// body (its first thirty-two bytes `b`, its LF anywhere): the outcome
    /// the byte-wise automaton reaches on it: `Some` (`Kw::Accepted`,
    /// the line's [`Tally`]) iff the bytes before the first SP/CR/LF spell
    /// a supported keyword (case-insensitively), else `None` (`Kw::Masked`;
    /// a keyword cut short by the zero padding is none either: a zero is no
    /// delimiter). Thirty-two bytes decide it wherever the LF is: the
    /// longest keyword has nineteen. The only slot whose keyword the body
    /// can be, by its first two bytes; one vector compare with it (a second
    /// for a keyword longer than a block: ENHANCEDSTATUSCODES) and one test
    /// of the byte after it.
    #[inline(always)]
    pub(crate) fn keyword_of(self, b: &KeywordBody<'_>) -> Option<Tally> {
        let s = &self.slots[slot_of([b.bytes[0], b.bytes[1]])];
        if !matches(b.v0, [s.lower, s.mask, s.fold]) {
            return None;
        }
        // The slot compare checks that the keyword ends at its length (an
        // LF in the first block fails a long keyword's compare); a
        // delimiter there keeps it.
        if is_delimiter_low(b.bytes[usize::from(s.len) & 31]) {
            return Some(s.tally);
        }
        // A long keyword's slot gives offset zero, one of the letters just
        // compared (no delimiter, so no test of its own on the way here):
        // the rest of it in the second block, and the byte after it (at
        // `long_len`: read from memory, not taken out of `v1`, which LLVM
        // then keeps on the stack for every line).
        (s.long_len != 0
            && matches(b.v1(), LONG_TAIL)
            && is_delimiter_low(b.bytes[usize::from(s.long_len) & 31]))
        .then_some(s.tally)
    }
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

    /// The four policies' keyword sets, with their classifier tables.
    const POLICIES: [(bool, bool); 4] =
        [(false, false), (true, false), (false, true), (true, true)];

    /// The whole-line classifier on the line body starting at `at` in
    /// `buf`, as the reply path runs it: thirty-two bytes zero-padded past
    /// the end of `buf`.
    fn classify(buf: &[u8], at: usize, keywords: Keywords) -> Option<bool> {
        let mut b = [0u8; 32];
        let rest = buf.get(at..).unwrap_or_default();
        let n = rest.len().min(32);
        b[..n].copy_from_slice(&rest[..n]);
        keywords
            .keyword_of(&KeywordBody::new(&b))
            .map(Tally::pipelining)
    }

    /// Every keyword, upper or lower case, its first two bytes in each
    /// case (the slot hash does not fold case: each case has its slot),
    /// under every policy: accepted iff the policy supports it.
    #[test]
    fn keywords_in_every_case_find_their_slot() {
        for (p, &(allow_tls, bdat)) in POLICIES.iter().enumerate() {
            let (set, keywords) = (keyword_set(allow_tls, bdat), Keywords::new(allow_tls, bdat));
            for (k, kw) in KEYWORDS.iter().enumerate() {
                for lower_rest in [false, true] {
                    for case in 0..4 {
                        let mut line = b"250-".to_vec();
                        line.extend_from_slice(&prefix_case(kw, case));
                        line.extend(kw[2..].iter().map(|b| {
                            if lower_rest {
                                b.to_ascii_lowercase()
                            } else {
                                *b
                            }
                        }));
                        line.extend_from_slice(b"\r\n");
                        let expected = (set & 1 << k != 0).then_some(1 << k == PIPELINING_BIT);
                        assert_eq!(
                            classify(&line, 4, keywords),
                            expected,
                            "policy {p} line {:?}",
                            String::from_utf8_lossy(&line)
                        );
                    }
                }
            }
        }
    }

    /// The automaton's outcome as the classifier gives it.
    fn accepted(kw: Kw) -> Option<bool> {
        match kw {
            Kw::Accepted { pipelining } => Some(pipelining),
            Kw::Open | Kw::Masked => None,
        }
    }

    #[test]
    fn whole_line_keywords() {
        let base = Keywords::new(false, false);
        let kw = |line: &[u8], k| classify(line, 4, k);
        assert_eq!(kw(b"250-DSN\r\n", base), Some(false));
        assert_eq!(kw(b"250-pipelining\r\n", base), Some(true));
        assert_eq!(kw(b"250-PiPeLiNiNg SOON\n", base), Some(true));
        assert_eq!(kw(b"250-ENHANCEDSTATUSCODES\r\n", base), Some(false));
        assert_eq!(kw(b"250-enhancedStatusCodes x\r\n", base), Some(false));
        assert_eq!(kw(b"250 8bitmime\n", base), Some(false));
        assert_eq!(kw(b"250-SIZE 52428800\r\n", base), Some(false));
        assert_eq!(kw(b"250-AUTH PLAIN LOGIN CRAM-MD5\r\n", base), Some(false));
        // A digit folds to nothing: 0x18 is not '8'.
        assert_eq!(kw(b"250 \x18BITMIME\r\n", base), None);
        assert_eq!(kw(b"250-AUTH=LOGIN\r\n", base), None);
        assert_eq!(kw(b"250-SIZE\t1\r\n", base), None);
        assert_eq!(kw(b"250-SIZE\x001\r\n", base), None);
        assert_eq!(kw(b"250-\r\n", base), None);
        assert_eq!(kw(b"250- SIZE\r\n", base), None);
        assert_eq!(kw(b"250-DSNX\r\n", base), None);
        assert_eq!(kw(b"250-DS\r\n", base), None);
        assert_eq!(kw(b"250-SIZ\r\n", base), None);
        // Same first two bytes (and slot) as a keyword, another keyword.
        assert_eq!(kw(b"250-SIGN\r\n", base), None);
        assert_eq!(kw(b"250-ENHANCEDSTATUSCODE\r\n", base), None);
        assert_eq!(kw(b"250-ENHANCEDSTATUSCODESS\r\n", base), None);
        assert_eq!(kw(b"250-ENHANCEDSTATUSCODES\tx\r\n", base), None);
        assert_eq!(kw(b"250-ENHANCEDSTATUSCO\r\n", base), None);
        assert_eq!(kw(b"250-STARTTLS\r\n", base), None);
        assert_eq!(kw(b"250-CHUNKING\r\n", base), None);
        assert_eq!(
            kw(b"250-STARTTLS\r\n", Keywords::new(true, false)),
            Some(false)
        );
        assert_eq!(
            kw(b"250-CHUNKING\r\n", Keywords::new(false, true)),
            Some(false)
        );
        assert_eq!(kw(b"250-XXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n", base), None);
    }

    /// The automaton's outcome on a complete line body.
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
                proptest::sample::select(vec![b'A', b'z', b'8', 0x18, b'=', b'\t', 0, 0x80, 0xC5, b'-', b'X', b'S', b'I']),
                0..30,
            ),
            1 => proptest::collection::vec(any::<u8>(), 0..30),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4000)))]

        /// The whole-line classifier agrees with the byte-wise automaton on
        /// every complete line whose LF lies within thirty-two body bytes,
        /// under every policy, wherever the line sits in its segment (also
        /// with nothing, or only zero padding, after its LF).
        #[test]
        fn whole_line_matches_automaton(
            before in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
            tok in token(),
            delim in proptest::sample::select(vec![&b"\r\n"[..], b"\n", b" 52428800\r\n", b" PLAIN LOGIN\n", b"\r\r\n", b"\rx\n", b" PLAIN LOGIN CRAM-MD5 DIGEST-MD5 GSSAPI\r\n", b"\tx\n", b"\0\n"]),
            after in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            policy in 0usize..4,
        ) {
            let (allow_tls, bdat) = POLICIES[policy];
            let (set, keywords) = (keyword_set(allow_tls, bdat), Keywords::new(allow_tls, bdat));
            let mut seg = before.clone();
            let at = seg.len();
            seg.extend_from_slice(&tok);
            seg.extend_from_slice(delim);
            let lf = at + memchr::memchr(b'\n', &seg[at..]).unwrap_or(0);
            seg.extend_from_slice(&after);
            let reference = accepted(automaton(&seg[at..=lf], set));
            if lf - at < 32 {
                proptest::prop_assert_eq!(classify(&seg, at, keywords), reference);
                proptest::prop_assert_eq!(classify(&seg[..=lf], at, keywords), reference);
            }
            // Past thirty-two bytes the two blocks still decide the keyword.
            let mut b = [0u8; 32];
            let rest = seg.get(at..=lf).unwrap_or_default();
            let n = rest.len().min(32);
            b[..n].copy_from_slice(&rest[..n]);
            let got = keywords.keyword_of(&KeywordBody::new(&b)).map(Tally::pipelining);
            proptest::prop_assert_eq!(got, reference);
        }
    }
}
