//! Byte classes for line framing of the client command stream (spec §2.3).
//!
//! A command line ends at LF (with or without a preceding CR). A NUL, any other
//! C0 control byte except TAB/CR/LF, or DEL makes the line illegal from that
//! byte on. These helpers let the command state machine skip runs of ordinary
//! argument bytes quickly: `memchr2` finds the next CR/LF, and a branch-free
//! fold (which the compiler vectorises) checks the run for forbidden bytes.

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
}
