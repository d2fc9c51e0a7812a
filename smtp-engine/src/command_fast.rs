//! Whole-line fast path for the common case: a complete, legal command line
//! that lies entirely in the current segment.
//!
//! The streaming state machine in [`crate::command`] is the reference; this
//! path only *accepts* lines it can prove the reference would forward
//! unchanged without any event (legal verb, no forbidden byte, no bare CR, no
//! signature, within the length limit, and — in ESMTP mode — MAIL/RCPT
//! arguments in their ordinary form). Anything else returns `None` before any
//! state is touched and the streaming path handles the line. The property test
//! that compares one-byte segments (always streaming) with whole segments
//! (mostly fast) checks that both agree.

use crate::framing::{self, LIMIT_DEFAULT, LIMIT_ESMTP_PATH};
use crate::inspector::{Inspector, Step};
use crate::params::ArgKind;
use crate::policy::Mode;
use crate::signatures::{RcptLocalPart, Signature};
use crate::stats::SmtpStats;
use crate::verbs::{self, Verb, ALL_VERBS};

const SIG_VERBS: u32 = Verb::Wiz.bit() | Verb::Debug.bit() | Verb::Expn.bit() | Verb::Vrfy.bit();

impl Inspector {
    /// Try to inspect the whole line starting at `start`; `None` = use the
    /// streaming path (nothing was changed).
    #[inline]
    pub(crate) fn command_line_fast(
        &mut self,
        buf: &[u8],
        start: usize,
        stats: &mut SmtpStats,
    ) -> Option<Step> {
        if self.debug || self.legacy || self.auth_cont {
            return None;
        }
        let rest = &buf[start..];
        // One SWAR pass: the LF, and whether the content holds a bare CR, a
        // forbidden byte, a pipe or anything not printable. A bad byte in the
        // verb would fail the verb match anyway, so the whole content counts.
        let scan = framing::scan_command_line(rest)?;
        let lf = scan.lf;
        let content = &rest[..lf - usize::from(scan.cr)];
        let total = lf + 1;
        if total > LIMIT_ESMTP_PATH as usize || scan.bad {
            return None;
        }
        // The verb: up to the first SP. Four-letter verbs by one word compare.
        let (sp, complete) = match verb4(content) {
            Some(bit) => ((content.len() > 4).then_some(4), bit),
            None => {
                let sp = content
                    .iter()
                    .take(verbs::MAX_VERB + 1)
                    .position(|&b| b == b' ');
                let vlen = sp.unwrap_or(content.len());
                if vlen == 0 || vlen > verbs::MAX_VERB {
                    return None;
                }
                let mut cands = ALL_VERBS;
                for (p, &b) in content[..vlen].iter().enumerate() {
                    cands = verbs::step(cands, p, b);
                }
                (sp, verbs::exact(cands, vlen))
            }
        };
        // Signature verbs take the streaming path, except VRFY while I2 is off.
        let quiet_vrfy =
            complete == Verb::Vrfy.bit() && !self.sigs.contains(Signature::I2Reconnaissance);
        if complete & SIG_VERBS != 0 && !quiet_vrfy {
            return None;
        }
        let verb = Verb::from_bits(complete & self.allowed)?;
        let args = sp.map_or(&content[..0], |s| &content[s + 1..]);
        let pipe = scan.pipe;
        let esmtp = self.mode == Mode::Esmtp;
        let limit = match verb {
            Verb::Mail | Verb::Saml | Verb::Send | Verb::Soml | Verb::Rcpt if esmtp => {
                LIMIT_ESMTP_PATH
            }
            Verb::Etrn | Verb::Auth | Verb::Bdat => return None,
            _ => LIMIT_DEFAULT,
        };
        if total > limit as usize && self.sigs.contains(Signature::F6OverlongCommand) {
            return None;
        }
        match verb {
            Verb::Mail | Verb::Saml | Verb::Send | Verb::Soml
                if self.sigs.contains(Signature::I1SmailAttack)
                    || (self.sigs.contains(Signature::F2InvalidSender) && pipe)
                    || (esmtp && !quick_args_valid(ArgKind::Mail, args, scan.printable)) =>
            {
                return None;
            }
            Verb::Rcpt => {
                if self.sigs.contains(Signature::F1InvalidRecipient) && pipe {
                    return None;
                }
                if self.sigs.contains(Signature::F4DecodeAlias) && RcptLocalPart::matches(args) {
                    return None;
                }
                if esmtp && !quick_args_valid(ArgKind::Rcpt, args, scan.printable) {
                    return None;
                }
            }
            _ => {}
        }
        // Accepted: the same bookkeeping as the streaming path's line end.
        if !scan.cr {
            stats.bare_lf_cmd += 1;
        }
        stats.cmd_lines += 1;
        self.cmd_index += 1;
        let expect = self.verb_effects(verb, stats);
        self.fifo.push(expect);
        Some(Step::Next(start + total))
    }
}

/// A four-letter verb as one little-endian word with every byte's `0x20` bit
/// set. For letters this is exactly ASCII case folding: `b | 0x20 == l` only
/// for `b` = `l` or its upper case.
const fn key4(name: &[u8]) -> u32 {
    u32::from_le_bytes([name[0], name[1], name[2], name[3]]) | 0x2020_2020
}

const fn build_verb4() -> [(u32, u32); 17] {
    let mut t = [(0u32, 0u32); 17];
    let mut n = 0;
    let mut i = 0;
    while i < verbs::VERBS.len() {
        let (v, name) = verbs::VERBS[i];
        if name.len() == 4 {
            t[n] = (key4(name), v.bit());
            n += 1;
        }
        i += 1;
    }
    assert!(n == 17);
    t
}

/// Every four-letter verb (all letters) with its bit, in table order.
static VERB4: [(u32, u32); 17] = build_verb4();

/// The verb bit of a line starting with a four-letter verb followed by SP or
/// the line end; `None` = not such a line (the byte automaton decides).
#[inline]
fn verb4(content: &[u8]) -> Option<u32> {
    let (head, tail) = content.split_first_chunk::<4>()?;
    if tail.first().is_some_and(|&b| b != b' ') {
        return None;
    }
    let k = u32::from_le_bytes(*head) | 0x2020_2020;
    VERB4.iter().find(|e| e.0 == k).map(|e| e.1)
}

/// Is this MAIL/RCPT argument list certainly valid for the streaming parser?
/// Only the ordinary form is recognised: `FROM:`/`TO:`, optional SP, `<path>`
/// of printable ASCII without quotes, then known parameters whose values need
/// no hex escapes. `false` means "let the streaming parser decide".
/// `printable`: the caller already knows every byte of `args` is printable ASCII.
fn quick_args_valid(kind: ArgKind, args: &[u8], printable: bool) -> bool {
    // `FROM:` / `TO:` case-insensitively, by word compares (`| 0x20` folds
    // exactly the letters; `:` is compared as is).
    let mut rest = match kind {
        ArgKind::Mail => match args.split_first_chunk::<5>() {
            Some(([f, r, o, m, b':'], rest))
                if u32::from_le_bytes([*f, *r, *o, *m]) | 0x2020_2020 == key4(b"FROM") =>
            {
                rest
            }
            _ => return false,
        },
        _ => match args.split_first_chunk::<3>() {
            Some(([t, o, b':'], rest)) if u16::from_le_bytes([*t, *o]) | 0x2020 == 0x6f74 => rest,
            _ => return false,
        },
    };
    if rest.first() == Some(&b' ') {
        rest = &rest[1..];
    }
    if rest.first() != Some(&b'<') {
        return false;
    }
    // Paths are short: a word-at-a-time scan beats memchr's set-up.
    let Some(close) = framing::find_either(b'>', b'"', rest) else {
        return false;
    };
    if rest[close] != b'>'
        || !(printable || rest[1..close].iter().all(|b| (0x20..0x7F).contains(b)))
    {
        return false;
    }
    rest = &rest[close + 1..];
    let mut seen = 0u8;
    loop {
        if rest.is_empty() {
            return true;
        }
        if rest[0] != b' ' {
            return false;
        }
        let skip = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
        rest = &rest[skip..];
        if rest.is_empty() {
            return true;
        }
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let Some(bit) = quick_param(kind, &rest[..end]) else {
            return false;
        };
        if seen & bit != 0 {
            return false;
        }
        seen |= bit;
        rest = &rest[end..];
    }
}

/// A well-formed parameter of `kind`'s list: its bit, or `None`.
fn quick_param(kind: ArgKind, tok: &[u8]) -> Option<u8> {
    let eq = tok.iter().position(|&b| b == b'=')?;
    let (kw, val) = (&tok[..eq], &tok[eq + 1..]);
    let is = |k: &[u8]| kw.eq_ignore_ascii_case(k);
    let xtext_plain = |v: &[u8], max: usize| {
        (1..=max).contains(&v.len())
            && v.iter()
                .all(|&b| (0x21..=0x7E).contains(&b) && b != b'+' && b != b'=')
    };
    let ok = match kind {
        ArgKind::Mail if is(b"SIZE") => (
            1,
            (1..=20).contains(&val.len()) && val.iter().all(u8::is_ascii_digit),
        ),
        ArgKind::Mail if is(b"BODY") => (2, {
            val.eq_ignore_ascii_case(b"7BIT")
                || val.eq_ignore_ascii_case(b"8BITMIME")
                || val.eq_ignore_ascii_case(b"BINARYMIME")
        }),
        ArgKind::Mail if is(b"RET") => (
            4,
            val.eq_ignore_ascii_case(b"FULL") || val.eq_ignore_ascii_case(b"HDRS"),
        ),
        ArgKind::Mail if is(b"ENVID") => (8, xtext_plain(val, 100)),
        ArgKind::Mail if is(b"AUTH") => (16, xtext_plain(val, 500)),
        ArgKind::Rcpt if is(b"NOTIFY") => (32, {
            let mut seen = 0u8;
            val.split(|&b| b == b',').all(|item| {
                let bit = if item.eq_ignore_ascii_case(b"NEVER") {
                    1
                } else if item.eq_ignore_ascii_case(b"SUCCESS") {
                    2
                } else if item.eq_ignore_ascii_case(b"FAILURE") {
                    4
                } else if item.eq_ignore_ascii_case(b"DELAY") {
                    8
                } else {
                    0
                };
                let fresh = bit != 0 && seen & bit == 0;
                seen |= bit;
                fresh && (seen == 1 || seen & 1 == 0)
            })
        }),
        ArgKind::Rcpt if is(b"ORCPT") => (
            64,
            match memchr::memchr(b';', val) {
                Some(semi) => {
                    val.len() <= 500
                        && semi > 0
                        && val[..semi]
                            .iter()
                            .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
                        && xtext_plain(&val[semi + 1..], 500)
                }
                None => false,
            },
        ),
        _ => (0, false),
    };
    let (bit, ok) = ok;
    ok.then_some(bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_validator_accepts_only_ordinary_forms() {
        assert!(quick_args_valid(
            ArgKind::Mail,
            b"FROM:<a@b> SIZE=1 BODY=8BITMIME RET=HDRS ENVID=QQ1 AUTH=<>",
            false
        ));
        assert!(quick_args_valid(
            ArgKind::Rcpt,
            b"TO:<b@x> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@x",
            false
        ));
        assert!(quick_args_valid(ArgKind::Mail, b"from: <>", false));
        assert!(!quick_args_valid(
            ArgKind::Mail,
            b"FROM:<a@b> SIZE=1 SIZE=2",
            false
        ));
        assert!(!quick_args_valid(
            ArgKind::Mail,
            b"FROM:<a@b> SMTPUTF8",
            false
        ));
        assert!(!quick_args_valid(
            ArgKind::Rcpt,
            b"TO:<b@x> NOTIFY=NEVER,DELAY",
            false
        ));
        assert!(!quick_args_valid(
            ArgKind::Rcpt,
            b"TO:<b@x> NOTIFY=DELAY,NEVER",
            false
        ));
        assert!(quick_args_valid(
            ArgKind::Rcpt,
            b"TO:<b@x> NOTIFY=NEVER",
            false
        ));
        assert!(!quick_args_valid(ArgKind::Mail, b"FROM:<\"a b\"@x>", false));
        assert!(!quick_args_valid(ArgKind::Mail, b"FROM:a@b", false));
        assert!(!quick_args_valid(
            ArgKind::Mail,
            b"FROM:<a@b> ENVID=a+2B",
            false
        ));
        assert!(!quick_args_valid(ArgKind::Rcpt, b"TO:<b@x> SIZE=1", false));
        assert!(!quick_args_valid(ArgKind::Rcpt, b"TO:<b\t@x>", false));
        assert!(quick_args_valid(ArgKind::Rcpt, b"tO:<b@x>", false));
        assert!(quick_args_valid(ArgKind::Mail, b"fRoM:<b@x>", false));
        assert!(!quick_args_valid(ArgKind::Rcpt, b"T\x0f:<b@x>", false));
        assert!(!quick_args_valid(ArgKind::Mail, b"FROM;<b@x>", false));
        assert!(!quick_args_valid(ArgKind::Mail, b"FRO", false));
    }

    #[test]
    fn verb_words_match_the_automaton() {
        for line in [
            &b"MAIL FROM:<a@b>"[..],
            b"mail",
            b"RcPt TO:<x>",
            b"QUIT",
            b"DATA ",
            b"EXPN x",
            b"MAILX",
            b"MAI",
            b"M@IL x",
            b"WIZ x",
            b"STARTTLS",
            b"NOOP\tx",
            b"rset",
            b"BdAt 1",
        ] {
            let vlen = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
            let mut c = ALL_VERBS;
            for (p, &b) in line[..vlen].iter().enumerate() {
                c = verbs::step(c, p, b);
            }
            let want = verbs::exact(c, vlen);
            match verb4(line) {
                Some(bit) => assert_eq!(bit, want, "{line:?}"),
                None => assert!(vlen != 4 || want == 0, "{line:?}"),
            }
        }
    }
}
