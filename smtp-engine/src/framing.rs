//! Byte classes for line framing of the client command stream (spec §2.3).
//!
//! A command line ends at LF (with or without a preceding CR). A NUL, any other
//! C0 control byte except TAB/CR/LF, or DEL makes the line illegal from that
//! byte on. These helpers let the command state machine skip runs of ordinary
//! argument bytes quickly: `memchr2` finds the next CR/LF, and a branch-free
//! fold (which the compiler vectorises) checks the run for forbidden bytes.
//! Whole lines are scanned eight bytes at a time (SWAR on `u64` words: the
//! crate forbids `unsafe`, and short lines do not repay `memchr`'s set-up):
//! [`first_unusual`] finds a command line's end and proves its content
//! clean in one pass; [`first_plain_stop`] is the whole-line fast path's
//! cheaper superset of it, and [`first_path_stop`] does the same for a
//! MAIL/RCPT path and stops at its `>` (a few rare legal bytes also stop
//! them, and the line is left to the general path). Those two run sixteen
//! bytes at a time where there are sixteen (`wide`'s safe SSE2: one add and
//! one or two compares per block, against three SWAR words of about ten
//! instructions for a 20–30-byte argument), inline so that the lean tier
//! of the command fast path makes no call ([`stop_in_blocks`]: whole blocks
//! only); [`first_header_special`] finds what
//! matters in a message header line; [`find_lf`] ends reply lines.

/// Is `b` forbidden inside a command line (NUL, C0 except TAB/CR/LF, DEL)?
#[inline]
pub(crate) const fn is_forbidden(b: u8) -> bool {
    (b < 0x20 && b != b'\t' && b != b'\r' && b != b'\n') || b == 0x7F
}

/// Offset of the first forbidden byte in `run` (which holds no CR/LF).
#[inline]
pub(crate) fn first_forbidden(run: &[u8]) -> Option<usize> {
    // Branch-free pre-check over the whole run, then locate the byte only if needed.
    let any = run.iter().fold(false, |acc, &b| {
        acc | ((b < 0x20) & (b != b'\t')) | (b == 0x7F)
    });
    if any {
        run.iter().position(|&b| is_forbidden(b))
    } else {
        None
    }
}

/// Offset of the next CR or LF at or after `from`, or `None`.
#[inline]
pub(crate) fn next_eol(buf: &[u8], from: usize) -> Option<usize> {
    memchr::memchr2(b'\r', b'\n', &buf[from..]).map(|k| from + k)
}

/// Offset of the first `needle` in `hay`. Command and reply lines are short:
/// a plain scan of the first 32 bytes beats the SIMD set-up cost of `memchr`,
/// which takes over for longer lines.
#[inline]
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const SHORT: usize = 32;
    if hay.len() <= SHORT {
        return hay.iter().position(|&b| b == needle);
    }
    match hay[..SHORT].iter().position(|&b| b == needle) {
        Some(k) => Some(k),
        None => memchr::memchr(needle, &hay[SHORT..]).map(|k| k + SHORT),
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Non-zero iff some byte of `w` is zero (exact as a yes/no answer).
#[inline(always)]
const fn has_zero(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// Non-zero iff some byte of `w` is below `0x20` (exact as a yes/no answer).
#[inline(always)]
const fn has_control(w: u64) -> u64 {
    w.wrapping_sub(ONES * 0x20) & !w & HIGHS
}

/// The first eight bytes of `hay` (callers guarantee there are eight) as a
/// little-endian word.
#[inline(always)]
fn load(hay: &[u8]) -> u64 {
    hay.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w))
}

/// Offset of the first LF in `hay`, eight bytes at a time (SWAR): reply and
/// command lines are too short for `memchr`'s SIMD set-up to pay off.
#[inline]
pub(crate) fn find_lf(hay: &[u8]) -> Option<usize> {
    let n = hay.len();
    if n < 8 {
        return hay.iter().position(|&b| b == b'\n');
    }
    let lf = |x: u64| has_zero(x ^ (ONES * u64::from(b'\n')));
    let mut words = hay.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let z = lf(load(w));
        if z != 0 {
            // The lowest flagged byte is exact (borrows only run upwards).
            return Some(at + (z.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    if words.remainder().is_empty() {
        return None;
    }
    // The last word overlaps the one before instead of leaving a remainder.
    let z = lf(load(&hay[n - 8..]));
    (z != 0).then(|| n - 8 + (z.trailing_zeros() / 8) as usize)
}

/// Offset of the first `a` or `b` in `hay`, eight bytes at a time (SWAR),
/// for short slices such as a MAIL/RCPT path.
#[inline]
pub(crate) fn find_either(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    let n = hay.len();
    if n < 8 {
        return hay.iter().position(|&c| c == a || c == b);
    }
    // Each term's lowest flagged byte is exact, so the lowest of both is.
    let hit = |x: u64| has_zero(x ^ (ONES * u64::from(a))) | has_zero(x ^ (ONES * u64::from(b)));
    let mut words = hay.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let z = hit(load(w));
        if z != 0 {
            return Some(at + (z.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    if words.remainder().is_empty() {
        return None;
    }
    // The last word overlaps the one before instead of leaving a remainder.
    let z = hit(load(&hay[n - 8..]));
    (z != 0).then(|| n - 8 + (z.trailing_zeros() / 8) as usize)
}

/// Non-zero iff some byte of `x` is unusual in a command line: a control
/// byte (CR and LF included), DEL, an 8-bit byte or `|`; the lowest flagged
/// byte is exact. Every 8-bit byte is flagged by `x` itself, so each other
/// term only needs to be right for bytes below `0x80`: `x - 0x20` wraps a
/// control byte, `x + 1` carries DEL into the top bit, `(x ^ '|') - 1` wraps
/// only a `|`. A term's borrow or carry crosses into the next byte only out
/// of a byte that term (or `x`) flags, so false flags lie above a true one.
#[inline(always)]
const fn unusual_word(x: u64) -> u64 {
    let ctrl = x.wrapping_sub(ONES * 0x20);
    let del = x.wrapping_add(ONES);
    let pipe = (x ^ (ONES * b'|' as u64)).wrapping_sub(ONES);
    (ctrl | del | pipe | x) & HIGHS
}

/// Is `b` unusual in a command line (see [`unusual_word`])?
#[inline(always)]
const fn is_unusual(b: u8) -> bool {
    b < 0x20 || b >= 0x7F || b == b'|'
}

/// Offset of the first unusual byte of `hay` (control byte, DEL, 8-bit byte
/// or `|`), or `hay.len()`: one pass, eight bytes at a time (SWAR). In an
/// ordinary command line the first unusual byte is the CR of its CRLF, so
/// this finds the line end and proves the content clean at once.
#[inline]
pub(crate) fn first_unusual(hay: &[u8]) -> usize {
    first_flagged(hay, unusual_word, is_unusual)
}

/// Non-zero iff some byte of `x` ends the fast path's scan of a MAIL/RCPT
/// path: a byte below `0x23` (control bytes, SP, `!`, `"`), `>`, or one of
/// `0x7C..=0xFF` (`|`, `}`, `~`, DEL, 8-bit). A superset of [`unusual_word`]
/// with `>` and `"`, in four terms instead of six: SP, `!`, `}` and `~` are
/// legal in a path but rare, and a path holding one just leaves the
/// line to the general path. The lowest flagged byte is exact: `x - 0x23`
/// borrows out of a byte only below `0x23`, `x + 4` carries out only of a
/// byte from `0xFC`, `(x ^ '>') - 1` borrows only out of a `>`.
#[inline(always)]
const fn path_stop_word(x: u64) -> u64 {
    let low = x.wrapping_sub(ONES * 0x23);
    let high = x.wrapping_add(ONES * 4);
    let gt = (x ^ (ONES * b'>' as u64)).wrapping_sub(ONES);
    (low | high | gt | x) & HIGHS
}

/// Is `b` flagged by [`path_stop_word`]?
#[inline(always)]
const fn is_path_stop(b: u8) -> bool {
    b < 0x23 || b >= 0x7C || b == b'>'
}

/// From just after a MAIL/RCPT path's `<`: the offset of the first byte
/// [`path_stop_word`] flags (in a path the fast path takes, its `>`), or
/// `hay.len()`; one pass, sixteen bytes at a time ([`first_flagged16`]).
#[inline]
pub(crate) fn first_path_stop(hay: &[u8]) -> usize {
    first_flagged16(hay, path_stop16, |h| {
        first_flagged(h, path_stop_word, is_path_stop)
    })
}

/// An offset into a slice and the slice's bytes from it on.
pub(crate) type At<'a> = (usize, &'a [u8]);

/// The first byte of `hay` that `block` flags (bit `k` for byte `k` of
/// sixteen: [`plain_stop16`], [`path_stop16`]) in its whole sixteen-byte
/// blocks: `Ok` its offset and the bytes of `hay` from it on, `Err` the
/// offset of the last fewer than sixteen bytes and those bytes (not read)
/// when the blocks hold none. (The slices come from the scan, so a caller
/// reads them without another bounds check.) The first thirty-two bytes,
/// when there are as many, are one window: both blocks' masks in one word,
/// one test and no loop branch between them (a MAIL or RCPT path is
/// commonly 17 to 32 bytes).
#[inline(always)]
pub(crate) fn stop_in_blocks(
    mut hay: &[u8],
    block: impl Fn(&[u8; 16]) -> u32,
) -> Result<At<'_>, At<'_>> {
    let mut at = 0;
    if let Some((w, tail)) = hay.split_first_chunk::<32>() {
        let m = window_mask(w, &block);
        if m != 0 {
            let k = m.trailing_zeros() as usize;
            return Ok((k, hay.get(k..).unwrap_or_default()));
        }
        at = 32;
        hay = tail;
    }
    while let Some((b, tail)) = hay.split_first_chunk::<16>() {
        let m = block(b);
        if m != 0 {
            let k = m.trailing_zeros() as usize;
            return Ok((at + k, hay.get(k..).unwrap_or_default()));
        }
        at += 16;
        hay = tail;
    }
    Err((at, hay))
}

/// The bytes of a thirty-two-byte window that `block` flags (bit `k` for
/// byte `k` of sixteen: [`plain_stop16`], [`path_stop16`]), as bits (bit
/// `k` for `w[k]`): both blocks' masks in one word.
#[inline(always)]
pub(crate) fn window_mask(w: &[u8; 32], block: impl Fn(&[u8; 16]) -> u32) -> u32 {
    let [lo, hi]: [[u8; 16]; 2] = wide::bytemuck::cast(*w);
    block(&lo) | block(&hi) << 16
}

/// The bytes of `block` that [`path_stop_word`] flags, as bits (bit `k` for
/// `block[k]`): with `x + 4` (wrapping) the legal bytes `0x23..=0x7B` become
/// exactly the signed bytes from `0x27` up, so one signed compare finds every
/// other byte and one equality compare the `>` (paddb, pcmpgtb, pcmpeqb, por,
/// pmovmskb).
#[inline(always)]
pub(crate) fn path_stop16(block: &[u8; 16]) -> u32 {
    use wide::i8x16;
    let v: i8x16 = wide::bytemuck::cast(*block);
    let shifted = v + i8x16::splat(4);
    (i8x16::splat(0x27).simd_gt(shifted) | v.simd_eq(i8x16::splat(b'>' as i8))).to_bitmask()
}

/// Non-zero iff some byte of `x` is below `0x20` (control bytes, CR and LF
/// included) or one of `0x7C..=0xFF` (`|`, `}`, `~`, DEL, 8-bit): a superset
/// of [`unusual_word`] in two terms instead of four (`}` and `~` are rare in
/// a command line and just leave it to the general path). The lowest
/// flagged byte is exact (see [`path_stop_word`]).
#[inline(always)]
const fn plain_stop_word(x: u64) -> u64 {
    (x.wrapping_sub(ONES * 0x20) | x.wrapping_add(ONES * 4) | x) & HIGHS
}

/// Is `b` flagged by [`plain_stop_word`]?
#[inline(always)]
const fn is_plain_stop(b: u8) -> bool {
    b < 0x20 || b >= 0x7C
}

/// The offset of the first byte [`plain_stop_word`] flags (in a line the
/// fast path takes, the CR of its CRLF or a bare LF), or `hay.len()`: whole
/// sixteen-byte blocks ([`plain_stop16`]), then the last fewer than sixteen
/// bytes by the SWAR scan, all inline (the lean tier of the command fast
/// path makes no call). The last sixteen bytes of the line as one more,
/// overlapping block took fewer instructions but measured slower on
/// lockstep lines (40.6 against 36.1 ns per line), as it had before.
///
/// With the offset, the bytes of `hay` from it on (empty when nothing is
/// flagged), from the same scan: the caller reads the flagged byte without
/// a second bounds check.
#[inline(always)]
pub(crate) fn first_plain_stop(hay: &[u8]) -> At<'_> {
    match stop_in_blocks(hay, plain_stop16) {
        Ok(stop) => stop,
        Err((at, short)) => {
            let k = first_flagged(short, plain_stop_word, is_plain_stop);
            (at + k, short.get(k..).unwrap_or_default())
        }
    }
}

/// The bytes of `block` that [`plain_stop_word`] flags, as bits: with
/// `x + 4` (wrapping) the legal bytes `0x20..=0x7B` become exactly the signed
/// bytes from `0x24` up (paddb, pcmpgtb, pmovmskb).
#[inline(always)]
pub(crate) fn plain_stop16(block: &[u8; 16]) -> u32 {
    use wide::i8x16;
    let v: i8x16 = wide::bytemuck::cast(*block);
    i8x16::splat(0x24).simd_gt(v + i8x16::splat(4)).to_bitmask()
}

/// Offset of the first byte of `hay` flagged by `block` (bit `k` for byte
/// `k` of sixteen), or `hay.len()`: sixteen bytes at a time (safe SSE2
/// through `wide`); the last fewer than sixteen by `short` (the SWAR scan).
/// (An overlapping last block instead took fewer instructions but ran ~9%
/// slower on lockstep lines, each of which ends its segment.)
#[inline(always)]
fn first_flagged16(
    hay: &[u8],
    block: impl Fn(&[u8; 16]) -> u32,
    short: impl Fn(&[u8]) -> usize,
) -> usize {
    let mut blocks = hay.chunks_exact(16);
    let mut at = 0;
    for b in &mut blocks {
        let m = block(b.first_chunk::<16>().unwrap_or(&[0; 16]));
        if m != 0 {
            return at + m.trailing_zeros() as usize;
        }
        at += 16;
    }
    at + short(blocks.remainder())
}

/// Non-zero iff some byte of `x` matters to the header scanner's whole-line
/// check: a control byte (CR, LF and TAB included), `:`, `=` or a
/// back-quote; the lowest flagged byte is exact (each term's is).
#[inline(always)]
const fn header_special_word(x: u64) -> u64 {
    has_control(x)
        | has_zero(x ^ (ONES * b':' as u64))
        | has_zero(x ^ (ONES * b'=' as u64))
        | has_zero(x ^ (ONES * b'`' as u64))
}

/// Is `b` flagged by [`header_special_word`]?
#[inline(always)]
const fn is_header_special(b: u8) -> bool {
    b < 0x20 || b == b':' || b == b'=' || b == b'`'
}

/// Offset of the first control byte, `:`, `=` or back-quote of `hay`, or
/// `hay.len()`: one pass, eight bytes at a time (SWAR). A header line of a
/// message is short; between these bytes no header signature can progress
/// (see `HeaderScan::quick_line`).
#[inline]
pub(crate) fn first_header_special(hay: &[u8]) -> usize {
    first_flagged(hay, header_special_word, is_header_special)
}

/// Offset of the first byte of `hay` flagged by `word` (the `0x80` bit of
/// each flagged byte of a little-endian word, the lowest one exact) and
/// `byte` (the same test for one byte), or `hay.len()`.
#[inline(always)]
fn first_flagged(hay: &[u8], word: impl Fn(u64) -> u64, byte: impl Fn(u8) -> bool) -> usize {
    let n = hay.len();
    if n >= 8 {
        let mut words = hay.chunks_exact(8);
        let mut at = 0;
        for w in &mut words {
            let m = word(load(w));
            if m != 0 {
                return at + (m.trailing_zeros() / 8) as usize;
            }
            at += 8;
        }
        if words.remainder().is_empty() {
            return n;
        }
        // The last word overlaps the one before: its re-read bytes are clean.
        let m = word(load(&hay[n - 8..]));
        return if m == 0 {
            n
        } else {
            n - 8 + (m.trailing_zeros() / 8) as usize
        };
    }
    if let (Some(lo), Some(hi)) = (hay.first_chunk::<4>(), hay.last_chunk::<4>()) {
        // Four to seven bytes: two overlapping halves in one word.
        let x = u64::from(u32::from_le_bytes(*lo)) | u64::from(u32::from_le_bytes(*hi)) << 32;
        let m = word(x);
        if m == 0 {
            return n;
        }
        let k = (m.trailing_zeros() / 8) as usize;
        return if k < 4 { k } else { n + k - 8 };
    }
    hay.iter().position(|&b| byte(b)).unwrap_or(n)
}

/// What [`scan_command_line`] learnt about a complete command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineScan {
    /// Offset of the terminating LF.
    pub(crate) lf: usize,
    /// The LF is preceded by CR (the CR is the terminator, not content).
    pub(crate) cr: bool,
    /// The content holds a bare CR or a forbidden byte (§2.3).
    pub(crate) bad: bool,
    /// The content holds a `|`.
    pub(crate) pipe: bool,
    /// Every content byte is printable ASCII (`0x20..=0x7E`).
    pub(crate) printable: bool,
}

/// Find the LF of a command line held whole in `hay` and classify its
/// content (everything before the LF, less a CR right before it), eight bytes
/// at a time (SWAR). A word holding anything unusual (a control byte, DEL,
/// `|`, an 8-bit byte) is classified byte by byte. `None` if there is no LF.
/// (Two light passes measured cheaper than one fused pass.)
#[inline]
pub(crate) fn scan_command_line(hay: &[u8]) -> Option<LineScan> {
    let lf = find_lf(hay)?;
    let cr = lf > 0 && hay[lf - 1] == b'\r';
    let content = &hay[..lf - usize::from(cr)];
    let mut flags = Flags::default();
    if content.len() < 8 {
        content.iter().for_each(|&b| flags.byte(b));
    } else {
        let mut rest = content;
        while let Some((w, tail)) = rest.split_first_chunk::<8>() {
            flags.word(w);
            rest = tail;
        }
        if let (false, Some(w)) = (rest.is_empty(), content.last_chunk::<8>()) {
            // The last word overlaps the one before: re-classifying content
            // bytes changes nothing.
            flags.word(w);
        }
    }
    Some(flags.scan(lf, cr))
}

/// Non-zero iff some byte of `x` is a control byte, DEL, `|` or 8-bit.
#[inline(always)]
fn unusual(x: u64) -> u64 {
    has_control(x)
        | has_zero(x ^ (ONES * 0x7F))
        | has_zero(x ^ (ONES * u64::from(b'|')))
        | (x & HIGHS)
}

/// Accumulated content classes of [`scan_command_line`].
#[derive(Clone, Copy, Default)]
struct Flags {
    bad: bool,
    pipe: bool,
    odd: bool,
}

impl Flags {
    /// Eight content bytes; the common all-printable, pipe-free word costs a
    /// handful of instructions.
    #[inline(always)]
    fn word(&mut self, w: &[u8; 8]) {
        let x = u64::from_le_bytes(*w);
        if unusual(x) != 0 {
            w.iter().for_each(|&b| self.byte(b));
        }
    }

    fn scan(self, lf: usize, cr: bool) -> LineScan {
        LineScan {
            lf,
            cr,
            bad: self.bad,
            pipe: self.pipe,
            printable: !self.odd,
        }
    }

    /// One content byte (a CR in the content is a bare CR).
    #[inline(always)]
    fn byte(&mut self, b: u8) {
        match b {
            b'|' => self.pipe = true,
            0x20..=0x7E => {}
            _ => {
                self.odd = true;
                self.bad |= b == b'\r' || is_forbidden(b);
            }
        }
    }
}

/// Command-line length limits including the terminator (spec §2.3).
pub(crate) const LIMIT_DEFAULT: u32 = 512;
/// ESMTP MAIL/RCPT/SAML/SEND/SOML lines.
pub(crate) const LIMIT_ESMTP_PATH: u32 = 1024;
/// AUTH command line and AUTH continuation lines (RFC 4954).
pub(crate) const LIMIT_AUTH: u32 = 12_288;
/// Reply lines longer than this are counted (spec §7.1).
pub(crate) const LIMIT_REPLY: u32 = 512;
/// Message text lines longer than this trigger I5 (RFC 5321 §4.5.3.1.6).
pub(crate) const LIMIT_DATA_LINE: u32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    /// The word tests against byte loops on many words mixing special
    /// bytes, so that borrows and carries between bytes are exercised.
    #[test]
    fn word_tests_find_the_lowest_flagged_byte_exactly() {
        let pool: [u8; 28] = [
            0, 1, 0x09, 0x0A, 0x0D, 0x1A, 0x1F, 0x20, 0x21, b'"', 0x23, b'=', b'>', b'?', b'a',
            b'z', b'{', b'|', b'}', 0x7E, 0x7F, 0x80, 0x81, 0xFE, 0xFF, b':', b'`', 0x40,
        ];
        let mut k: u64 = 0x1234_5678_9ABC_DEF1;
        for _ in 0..300_000 {
            let mut bytes = [0u8; 8];
            for b in bytes.iter_mut() {
                k = k
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                *b = pool[(k >> 33) as usize % pool.len()];
            }
            let x = u64::from_le_bytes(bytes);
            let first = |m: u64| (m != 0).then(|| (m.trailing_zeros() / 8) as usize);
            let want = bytes.iter().position(|&b| is_unusual(b));
            assert_eq!(first(unusual_word(x)), want, "{bytes:?}");
            let want = bytes.iter().position(|&b| is_header_special(b));
            assert_eq!(first(header_special_word(x)), want, "{bytes:?}");
            let want = bytes.iter().position(|&b| is_path_stop(b));
            assert_eq!(first(path_stop_word(x)), want, "{bytes:?}");
            let want = bytes.iter().position(|&b| is_plain_stop(b));
            assert_eq!(first(plain_stop_word(x)), want, "{bytes:?}");
        }
    }

    #[test]
    fn forbidden_bytes() {
        for b in 0u8..=255 {
            let naive = (b < 0x20 && ![9u8, 10, 13].contains(&b)) || b == 127;
            assert_eq!(is_forbidden(b), naive, "{b}");
        }
        assert_eq!(first_forbidden(b"abc\tdef"), None);
        assert_eq!(first_forbidden(b"ab\0c"), Some(2));
        assert_eq!(first_forbidden(b"abc\x7f"), Some(3));
        assert_eq!(first_forbidden("é".as_bytes()), None);
        assert_eq!(next_eol(b"ab\ncd\r", 0), Some(2));
        assert_eq!(next_eol(b"ab\ncd\r", 3), Some(5));
        assert_eq!(next_eol(b"ab", 0), None);
        for len in [0usize, 1, 31, 32, 33, 100] {
            for at in 0..len {
                let mut v = vec![b'a'; len];
                v[at] = b'\n';
                assert_eq!(find_byte(b'\n', &v), Some(at));
            }
            assert_eq!(find_byte(b'\n', &vec![b'a'; len]), None);
        }
    }

    /// Byte-by-byte reference for [`scan_command_line`].
    fn scan_naive(hay: &[u8]) -> Option<LineScan> {
        let lf = hay.iter().position(|&b| b == b'\n')?;
        let cr = lf > 0 && hay[lf - 1] == b'\r';
        let content = &hay[..lf - usize::from(cr)];
        Some(LineScan {
            lf,
            cr,
            bad: content.iter().any(|&b| b == b'\r' || is_forbidden(b)),
            pipe: content.contains(&b'|'),
            printable: content.iter().all(|b| (0x20..=0x7E).contains(b)),
        })
    }

    #[test]
    fn swar_scans_agree_with_byte_loops() {
        let specials = [
            b'\n', b'\r', b'|', b'\t', 0, 0x7F, 0x80, 0xFF, 0x1F, b' ', b'a', 0x7E, 0x20, b'>',
            b'"', b'=', b'?', b'!', b'#', b':', b'`', 0x1A,
        ];
        for len in 0..40usize {
            for at in 0..len {
                for &x in &specials {
                    for &y in &specials {
                        let mut v = vec![b'm'; len];
                        v[at] = x;
                        v[(at * 7 + 3) % len] = y;
                        assert_eq!(find_lf(&v), v.iter().position(|&b| b == b'\n'), "{v:?}");
                        assert_eq!(scan_command_line(&v), scan_naive(&v), "{v:?}");
                        assert_eq!(
                            find_either(b'|', 0x80, &v),
                            v.iter().position(|&b| b == b'|' || b == 0x80),
                            "{v:?}"
                        );

                        if len > 2 {
                            v[len - 2] = b'\r';
                            v[len - 1] = b'\n';
                            assert_eq!(scan_command_line(&v), scan_naive(&v), "{v:?}");
                        }
                    }
                }
            }
        }
        for len in 0..40usize {
            for at in 0..=len {
                for &x in &specials {
                    for &y in &specials {
                        let mut v = vec![b'm'; len];
                        if at < len {
                            v[at] = x;
                            v[(at * 5 + 1) % len] = y;
                        }
                        let want = v.iter().position(|&b| is_unusual(b)).unwrap_or(len);
                        assert_eq!(first_unusual(&v), want, "{v:?}");
                        let want = v.iter().position(|&b| is_header_special(b));
                        assert_eq!(first_header_special(&v), want.unwrap_or(len), "{v:?}");
                        let want = v.iter().position(|&b| is_path_stop(b));
                        assert_eq!(first_path_stop(&v), want.unwrap_or(len), "{v:?}");
                        let want = v.iter().position(|&b| is_plain_stop(b));
                        assert_eq!(first_plain_stop(&v).0, want.unwrap_or(len), "{v:?}");
                    }
                }
            }
        }
        for b in 0u8..=255 {
            let naive = matches!(b, 0..=0x1F | 0x7F..=0xFF | b'|');
            assert_eq!(is_unusual(b), naive);
            let w = u64::from_le_bytes([b, b'a', b'a', b'a', b'a', b'a', b'a', b'a']);
            assert_eq!(unusual_word(w) & 0x80 != 0, naive, "{b}");
            let path_stop = matches!(b, 0..=0x22 | b'>' | 0x7C..=0xFF);
            assert_eq!(is_path_stop(b), path_stop, "{b}");
            assert_eq!(path_stop_word(w) & 0x80 != 0, path_stop, "{b}");
            let plain_stop = matches!(b, 0..=0x1F | 0x7C..=0xFF);
            assert_eq!(is_plain_stop(b), plain_stop, "{b}");
            assert_eq!(plain_stop_word(w) & 0x80 != 0, plain_stop, "{b}");
            assert_eq!(
                first_path_stop(&[b'b', b'@', b'd', b'e', b, b'x', b'y', b'z', b'>']),
                8 - usize::from(path_stop) * 4
            );
            assert_eq!(
                first_plain_stop(&[b'a', b'b', b'c', b'd', b'e', b, b'\r']).0,
                6 - usize::from(plain_stop)
            );
            assert_eq!(
                first_unusual(&[b'a', b'b', b'c', b'd', b'e', b]),
                6 - usize::from(naive)
            );
        }
        assert_eq!(
            scan_command_line(b"MAIL FROM:<a|b@x>\r\n"),
            Some(LineScan {
                lf: 18,
                cr: true,
                bad: false,
                pipe: true,
                printable: true
            })
        );
        assert_eq!(scan_command_line(b"RCPT TO:<b@x>"), None);
    }

    /// The lean tier's scans against the byte predicates: every byte value
    /// in every position of slices around one, two and three blocks (and
    /// the thirty-two-byte first window), alone and before a CR;
    /// [`stop_in_blocks`] answers `Err` exactly when its whole blocks hold
    /// no flagged byte, with the offset of the rest; the slices answered are
    /// the bytes from the offset on.
    #[test]
    fn lean_scans_agree_with_byte_loops() {
        for len in (0..20).chain(28..36).chain(44..52) {
            for at in 0..len {
                for b in 0u8..=255 {
                    let mut v = vec![b'm'; len];
                    v[at] = b;
                    for _ in 0..2 {
                        let plain = v.iter().position(|&c| is_plain_stop(c)).unwrap_or(len);
                        assert_eq!(first_plain_stop(&v), (plain, &v[plain..]), "{v:?}");
                        let whole = len / 16 * 16;
                        let path = v.iter().position(|&c| is_path_stop(c));
                        let want = match path {
                            Some(p) if p < whole => Ok((p, &v[p..])),
                            _ => Err((whole, &v[whole..])),
                        };
                        assert_eq!(stop_in_blocks(&v, path_stop16), want, "{v:?}");
                        let want = if plain < whole {
                            Ok((plain, &v[plain..]))
                        } else {
                            Err((whole, &v[whole..]))
                        };
                        assert_eq!(stop_in_blocks(&v, plain_stop16), want, "{v:?}");
                        v[len - 1] = b'\r';
                    }
                }
            }
        }
    }

    /// The sixteen-byte scans (whole blocks, the overlapping last block, the
    /// SWAR scan below sixteen bytes) against the byte predicates: every
    /// byte value in every position of slices around one, two and three
    /// blocks, alone and behind an earlier flagged byte.
    #[test]
    fn block_scans_agree_with_byte_loops() {
        for b in 0u8..=255 {
            let block = [b; 16];
            let want = |f: fn(u8) -> bool| if f(b) { 0xFFFF } else { 0 };
            assert_eq!(plain_stop16(&block), want(is_plain_stop), "{b}");
            assert_eq!(path_stop16(&block), want(is_path_stop), "{b}");
        }
        for len in (0..20).chain(28..36).chain(44..52) {
            for at in 0..len {
                for b in 0u8..=255 {
                    let mut v = vec![b'm'; len];
                    v[at] = b;
                    let path = v.iter().position(|&c| is_path_stop(c)).unwrap_or(len);
                    let plain = v.iter().position(|&c| is_plain_stop(c)).unwrap_or(len);
                    assert_eq!(first_path_stop(&v), path, "{v:?}");
                    assert_eq!(first_plain_stop(&v).0, plain, "{v:?}");
                    // A second flagged byte after the first changes nothing.
                    v[len - 1] = b'\r';
                    let path = v.iter().position(|&c| is_path_stop(c)).unwrap_or(len);
                    let plain = v.iter().position(|&c| is_plain_stop(c)).unwrap_or(len);
                    assert_eq!(first_path_stop(&v), path, "{v:?}");
                    assert_eq!(first_plain_stop(&v).0, plain, "{v:?}");
                }
            }
        }
    }
}
