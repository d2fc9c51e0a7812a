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
}
