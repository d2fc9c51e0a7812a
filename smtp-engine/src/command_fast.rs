//! Whole-line fast path for the common case: a complete, legal command line
//! that lies entirely in the current segment.
//!
//! The streaming state machine in [`crate::command`] is the reference; this
//! path only *accepts* lines it can prove the reference would forward
//! unchanged without any event (legal verb, no forbidden byte, no bare CR, no
//! signature, within the length limit, and — in ESMTP mode — MAIL/RCPT
//! arguments in their ordinary form). Anything else returns `None` before any
//! state is touched and the streaming path handles the line.
//!
//! Cost per line (issue #2), in two tiers. `quick_line` takes the common
//! shapes: the first four bytes are one folded word looked up in a
//! compile-time perfect hash; what the verb needs is one byte of a
//! per-session class table ([`fast_classes`], built from the policy when the
//! session starts) instead of a chain of policy checks; a verb followed by
//! the line end needs no scan at all; otherwise one SWAR pass frames the
//! arguments and proves them clean ([`framing::first_unusual`]), and for an
//! ESMTP MAIL/RCPT line the same pass stops at the path's `>` on the way
//! ([`framing::frame_path`]), so the path is never read twice and only the
//! parameters after it are parsed ([`quick_params_valid`], keywords by folded
//! words). It accepts the line itself, out of line, so the loop over a
//! pipelined group stays small. `general_line` takes every other line the
//! fast path may accept (verbs that are not four letters, `|` and 8-bit
//! bytes classified byte by byte). The reply expectation comes from a static
//! table. `tests/fast_path.rs` runs random legal and hostile command streams
//! (and MAIL/RCPT lines assembled from ordinary and odd parts), in any
//! segmentation and with random replies, through an inspector with the fast
//! paths and one without (`Inspector::set_fast_paths(false)`) and requires
//! identical results.

use crate::framing::{self, LIMIT_DEFAULT, LIMIT_ESMTP_PATH};
use crate::inspector::{Expect, Inspector};
use crate::params::ArgKind;
use crate::policy::Mode;
use crate::signatures::{RcptLocalPart, Signature, SignatureSet};
use crate::stats::SmtpStats;
use crate::verbs::{self, Verb, ALL_VERBS};

const SIG_VERBS: u32 = Verb::Wiz.bit() | Verb::Debug.bit() | Verb::Expn.bit() | Verb::Vrfy.bit();

/// What the fast path does with a line of a given verb under a session's
/// policy (computed once per session by [`fast_classes`]).
pub(crate) mod class {
    /// The streaming path decides (signature verbs, illegal verbs, verbs with
    /// argument state such as AUTH/ETRN/BDAT).
    pub(crate) const SLOW: u8 = 0;
    /// Accepted with the default length limit, no argument checks.
    pub(crate) const PLAIN: u8 = 1;
    /// MAIL/SAML/SEND/SOML: pipe signature and (ESMTP) parameter checks.
    pub(crate) const MAIL: u8 = 2;
    /// RCPT: pipe and alias signatures and (ESMTP) parameter checks.
    pub(crate) const RCPT: u8 = 3;
}

/// Per-session fast-path tables: the class of every verb (by verb index)
/// and the longest line each class may accept (the length limit where F6
/// would close the session, else the fast path's own bound).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastClasses {
    pub(crate) of_verb: [u8; verbs::VERBS.len()],
    pub(crate) max_total: [u16; 4],
}

/// The fast-path tables for a session with these verbs allowed, signatures
/// enabled and mode. Mirrors the checks the streaming path makes at the verb
/// delimiter (`verb_end`): anything that could log, close or parse
/// arguments statefully is [`class::SLOW`].
pub(crate) fn fast_classes(allowed: u32, sigs: SignatureSet, mode: Mode) -> FastClasses {
    let esmtp = mode == Mode::Esmtp;
    let mut of_verb = [class::SLOW; verbs::VERBS.len()];
    for (i, (v, _)) in verbs::VERBS.iter().enumerate() {
        let bit = v.bit();
        let quiet_vrfy = *v == Verb::Vrfy && !sigs.contains(Signature::I2Reconnaissance);
        if allowed & bit == 0 || (bit & SIG_VERBS != 0 && !quiet_vrfy) {
            continue;
        }
        of_verb[i] = match v {
            Verb::Etrn | Verb::Auth | Verb::Bdat => class::SLOW,
            Verb::Mail | Verb::Saml | Verb::Send | Verb::Soml
                if sigs.contains(Signature::I1SmailAttack) =>
            {
                class::SLOW
            }
            Verb::Mail | Verb::Saml | Verb::Send | Verb::Soml => class::MAIL,
            Verb::Rcpt => class::RCPT,
            _ => class::PLAIN,
        };
    }
    let f6 = sigs.contains(Signature::F6OverlongCommand);
    let limit = |l: u32| (if f6 { l } else { LIMIT_ESMTP_PATH }) as u16;
    let path = if esmtp {
        LIMIT_ESMTP_PATH
    } else {
        LIMIT_DEFAULT
    };
    FastClasses {
        of_verb,
        max_total: [0, limit(LIMIT_DEFAULT), limit(path), limit(path)],
    }
}

impl Inspector {
    /// Try to inspect the whole line starting at `start`: the offset after it,
    /// or `None` = use the streaming path (nothing was changed).
    #[inline(always)]
    pub(crate) fn command_line_fast(
        &mut self,
        buf: &[u8],
        start: usize,
        stats: &mut SmtpStats,
    ) -> Option<usize> {
        if !self.fast_lines_allowed() {
            return None;
        }
        let rest = buf.get(start..)?;
        let total = self.quick_line(rest, stats);
        if total != 0 {
            return Some(start + total);
        }
        let line = self.general_line(rest)?;
        self.accept_line(line, stats);
        Some(start + line.total)
    }

    /// May whole lines take the fast path (not debug, legacy or a
    /// differential test, and no AUTH continuation line due)?
    #[inline(always)]
    pub(crate) fn fast_lines_allowed(&self) -> bool {
        self.fast && !self.auth_cont
    }

    /// The rest of a pipelined group: whole command lines from `start` (a
    /// line start) by the fast path, while a line may start (spec §3.3,
    /// §6.3, §6.4) and the fast path takes it: the offset where the general
    /// path goes on. The caller knows that the client stream is at a command
    /// line start and [`Self::fast_lines_allowed`]; accepting a line changes
    /// neither. (Out of line, so that the entry point stays small.)
    #[inline(never)]
    pub(crate) fn command_lines_fast(
        &mut self,
        buf: &[u8],
        start: usize,
        stats: &mut SmtpStats,
    ) -> usize {
        let mut i = start;
        while let Some(rest) = buf.get(i..).filter(|r| !r.is_empty()) {
            if !self.may_start_line() {
                break;
            }
            let total = self.quick_line(rest, stats);
            if total != 0 {
                i += total;
                continue;
            }
            match self.general_line(rest) {
                Some(line) => {
                    self.accept_line(line, stats);
                    i += line.total;
                }
                None => break,
            }
        }
        i
    }

    /// The common shapes in straight-line code: a four-letter verb (one
    /// hashed word) followed by the line end, or by SP and arguments that one
    /// scan frames and proves clean; for ESMTP MAIL/RCPT the same scan stops
    /// at the path's `>` first, so the path is never re-read. `None` = not
    /// such a line (or not certainly legal): [`Self::general_line`] decides.
    ///
    /// Accepts the line itself and answers its length (0 = not taken), out of
    /// line: the caller's loop over a pipelined group stays small enough to
    /// keep its state in registers. The caller knows that a command line may
    /// start at `rest` and [`Self::fast_lines_allowed`].
    #[inline(never)]
    fn quick_line(&mut self, rest: &[u8], stats: &mut SmtpStats) -> usize {
        match self.quick_line_checked(rest) {
            Some(line) => {
                self.accept_line(line, stats);
                line.total
            }
            None => 0,
        }
    }

    #[inline(always)]
    fn quick_line_checked(&self, rest: &[u8]) -> Option<FastLine> {
        let (head, tail) = rest.split_first_chunk::<4>()?;
        let k = u32::from_le_bytes(*head) | 0x2020_2020;
        let (key, bit) = VERB4[verb4_slot(k, VERB4_MUL)];
        if key != k {
            return None;
        }
        let verb = bit.trailing_zeros() as usize;
        let cls = *self.fast_classes.of_verb.get(verb)?;
        let (&delim, args) = tail.split_first()?;
        if delim != b' ' {
            // No arguments: only the line end may follow (`NOOP`, `RSET`,
            // `DATA`, `QUIT`); far below every length limit.
            if cls != class::PLAIN {
                return None;
            }
            return match (delim, args.first()) {
                (b'\r', Some(b'\n')) => Some(FastLine {
                    verb,
                    cls,
                    total: 6,
                    cr: true,
                }),
                (b'\n', _) => Some(FastLine {
                    verb,
                    cls,
                    total: 5,
                    cr: false,
                }),
                _ => None,
            };
        }
        let esmtp = self.mode == Mode::Esmtp;
        // `end`: the line end in `args`; `params`: where ESMTP parameters start.
        let (end, params, open) = match cls {
            class::PLAIN => (framing::first_unusual(args), 0, 0),
            class::MAIL | class::RCPT if esmtp => {
                let open = path_open(cls, args)?;
                let (close, end) = framing::frame_path(args.get(open + 1..)?);
                if args.get(open + 1 + close) != Some(&b'>') {
                    return None;
                }
                (open + 1 + end, open + 2 + close, open)
            }
            class::MAIL | class::RCPT => (framing::first_unusual(args), 0, 0),
            _ => return None,
        };
        let (total, cr) = match (args.get(end), args.get(end + 1)) {
            (Some(b'\r'), Some(b'\n')) => (5 + end + 2, true),
            (Some(b'\n'), _) => (5 + end + 1, false),
            _ => return None,
        };
        if total > usize::from(self.fast_classes.max_total[cls as usize]) {
            return None;
        }
        let args = args.get(..end)?;
        if cls == class::RCPT && self.sigs.contains(Signature::F4DecodeAlias) {
            // The alias pre-check: with the path's `<` known, its first byte.
            let maybe = if esmtp {
                matches!(args.get(open + 1), Some(b'd' | b'D' | b'u' | b'U'))
            } else {
                may_be_alias(args)
            };
            if maybe && RcptLocalPart::matches(args) {
                return None;
            }
        }
        if esmtp && cls != class::PLAIN {
            let params = args.get(params..)?;
            let kind = if cls == class::MAIL {
                ArgKind::Mail
            } else {
                ArgKind::Rcpt
            };
            if !params.is_empty() && !quick_params_valid(kind, params) {
                return None;
            }
        }
        Some(FastLine {
            verb,
            cls,
            total,
            cr,
        })
    }

    /// Every other line the fast path may take: any verb (the byte automaton
    /// for verbs that are not four letters), a `|` or 8-bit bytes classified
    /// byte by byte, MAIL/RCPT arguments by [`quick_args_valid`]. Kept out of
    /// line so the common case carries none of its state.
    #[inline(never)]
    fn general_line(&self, rest: &[u8]) -> Option<FastLine> {
        // One SWAR pass finds the first unusual byte; in an ordinary line that
        // is the CR of its CRLF (or a bare LF), which proves the content
        // printable ASCII without a `|`. Anything else is classified byte by
        // byte: a bare CR or forbidden byte takes the streaming path.
        let p = framing::first_unusual(rest);
        let (content_len, total, cr, pipe, printable) = match rest.get(p) {
            Some(b'\r') if rest.get(p + 1) == Some(&b'\n') => (p, p + 2, true, false, true),
            Some(b'\n') => (p, p + 1, false, false, true),
            Some(_) => {
                let scan = framing::scan_command_line(rest)?;
                if scan.bad {
                    return None;
                }
                let lf = scan.lf;
                let cl = lf - usize::from(scan.cr);
                (cl, lf + 1, scan.cr, scan.pipe, scan.printable)
            }
            None => return None,
        };
        let content = rest.get(..content_len)?;
        // The verb (up to the first SP): four-letter verbs by one hashed word
        // compare, the others by the byte automaton. At most one verb matches.
        let (complete, args) = match verb4(content) {
            Some(bit) => (bit, content.get(5..).unwrap_or_default()),
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
                let args = sp.map_or(&content[..0], |s| &content[s + 1..]);
                (verbs::exact(cands, vlen), args)
            }
        };
        if complete == 0 {
            return None;
        }
        let verb = complete.trailing_zeros() as usize;
        let cls = *self.fast_classes.of_verb.get(verb)?;
        if cls == class::SLOW || total > usize::from(self.fast_classes.max_total[cls as usize]) {
            return None;
        }
        let esmtp = self.mode == Mode::Esmtp;
        if cls == class::MAIL {
            if (pipe && self.sigs.contains(Signature::F2InvalidSender))
                || (esmtp && !quick_args_valid(ArgKind::Mail, args, printable))
            {
                return None;
            }
        } else if cls == class::RCPT
            && ((pipe && self.sigs.contains(Signature::F1InvalidRecipient))
                || (self.sigs.contains(Signature::F4DecodeAlias)
                    && may_be_alias(args)
                    && RcptLocalPart::matches(args))
                || (esmtp && !quick_args_valid(ArgKind::Rcpt, args, printable)))
        {
            return None;
        }
        Some(FastLine {
            verb,
            cls,
            total,
            cr,
        })
    }

    /// Accept a line: the same bookkeeping as the streaming path's line end.
    #[inline(always)]
    fn accept_line(&mut self, line: FastLine, stats: &mut SmtpStats) {
        match line.cls {
            class::MAIL => self.reset_transaction(),
            class::RCPT => self.count_rcpt(stats),
            _ if RESETS_TRANSACTION & (1 << line.verb) != 0 => self.reset_transaction(),
            _ => {}
        }
        if !line.cr {
            stats.bare_lf_cmd += 1;
        }
        stats.cmd_lines += 1;
        self.cmd_index += 1;
        self.fifo.push(EXPECT_OF_VERB[line.verb]);
    }
}

/// A line the fast path accepts: its verb (index), class, length with the
/// terminator, and whether that was CRLF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FastLine {
    verb: usize,
    cls: u8,
    total: usize,
    cr: bool,
}

/// Offset of the `<` opening a MAIL/RCPT path in its arguments: `FROM:` /
/// `TO:` case-insensitively (by word compares: `| 0x20` folds exactly the
/// letters; `:` is compared as is), an optional SP, then `<`.
#[inline(always)]
fn path_open(cls: u8, args: &[u8]) -> Option<usize> {
    let at = if cls == class::MAIL {
        match args.split_first_chunk::<5>() {
            Some(([f, r, o, m, b':'], _))
                if u32::from_le_bytes([*f, *r, *o, *m]) | 0x2020_2020 == key4(b"FROM") =>
            {
                5
            }
            _ => return None,
        }
    } else {
        match args.split_first_chunk::<3>() {
            Some(([t, o, b':'], _)) if u16::from_le_bytes([*t, *o]) | 0x2020 == 0x6f74 => 3,
            _ => return None,
        }
    };
    match args.get(at) {
        Some(b'<') => Some(at),
        Some(b' ') if args.get(at + 1) == Some(&b'<') => Some(at + 1),
        _ => None,
    }
}

/// Verbs whose acceptance starts a new transaction (besides the MAIL family).
const RESETS_TRANSACTION: u32 = Verb::Rset.bit() | Verb::Helo.bit() | Verb::Ehlo.bit();

const fn build_expect_of_verb() -> [Expect; verbs::VERBS.len()] {
    let mut t = [Expect::Other; verbs::VERBS.len()];
    let mut i = 0;
    while i < t.len() {
        t[i] = Expect::for_verb(verbs::VERBS[i].0, false);
        i += 1;
    }
    t
}

/// The reply expectation of each verb (by verb index) outside legacy mode,
/// which never takes the fast path.
static EXPECT_OF_VERB: [Expect; verbs::VERBS.len()] = build_expect_of_verb();

/// A four-letter verb as one little-endian word with every byte's `0x20` bit
/// set. For letters this is exactly ASCII case folding: `b | 0x20 == l` only
/// for `b` = `l` or its upper case.
const fn key4(name: &[u8]) -> u32 {
    u32::from_le_bytes([name[0], name[1], name[2], name[3]]) | 0x2020_2020
}

/// Slots of the four-letter verb table (a power of two).
const VERB4_SLOTS: usize = 64;

/// The four-letter verbs' keys with their bits.
const fn verb4_keys() -> [(u32, u32); 17] {
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

/// Slot of `key` under multiplier `m` (multiplicative hashing: the top bits).
const fn verb4_slot(key: u32, m: u32) -> usize {
    (key.wrapping_mul(m) >> (32 - VERB4_SLOTS.trailing_zeros())) as usize
}

/// The first odd multiplier (from a fixed sequence) that gives every
/// four-letter verb its own slot: a perfect hash, found at compile time.
const fn verb4_multiplier() -> u32 {
    let keys = verb4_keys();
    let mut m: u32 = 0x9E37_79B1;
    loop {
        let mut used = 0u64;
        let mut ok = true;
        let mut i = 0;
        while i < keys.len() {
            let bit = 1u64 << verb4_slot(keys[i].0, m);
            if used & bit != 0 {
                ok = false;
            }
            used |= bit;
            i += 1;
        }
        if ok {
            return m;
        }
        m = m.wrapping_add(0x6A09_E668);
    }
}

const VERB4_MUL: u32 = verb4_multiplier();

const fn build_verb4() -> [(u32, u32); VERB4_SLOTS] {
    let keys = verb4_keys();
    let mut t = [(0u32, 0u32); VERB4_SLOTS];
    let mut i = 0;
    while i < keys.len() {
        t[verb4_slot(keys[i].0, VERB4_MUL)] = keys[i];
        i += 1;
    }
    t
}

/// Every four-letter verb (all letters) with its bit, at its perfect-hash
/// slot; empty slots hold key 0, which no input matches (every key has the
/// `0x20` bits set).
static VERB4: [(u32, u32); VERB4_SLOTS] = build_verb4();

/// The verb bit of a line starting with a four-letter verb followed by SP or
/// the line end; `None` = not such a line (the byte automaton decides).
#[inline]
fn verb4(content: &[u8]) -> Option<u32> {
    let (head, tail) = content.split_first_chunk::<4>()?;
    if tail.first().is_some_and(|&b| b != b' ') {
        return None;
    }
    let k = u32::from_le_bytes(*head) | 0x2020_2020;
    let (key, bit) = VERB4[verb4_slot(k, VERB4_MUL)];
    (key == k).then_some(bit)
}

/// Could `RcptLocalPart::matches` hold for these RCPT arguments? A cheap
/// inline pre-check (`TO:`, optional SP and `<`, then `d`/`u`): most local
/// parts fail on their first byte, and only those that pass pay for the call.
#[inline(always)]
fn may_be_alias(args: &[u8]) -> bool {
    let Some(([t, o, b':'], mut rest)) = args.split_first_chunk::<3>() else {
        return false;
    };
    if u16::from_le_bytes([*t, *o]) | 0x2020 != 0x6f74 {
        return false;
    }
    if rest.first() == Some(&b' ') {
        rest = &rest[1..];
    }
    if rest.first() == Some(&b'<') {
        rest = &rest[1..];
    }
    matches!(rest.first(), Some(b'd' | b'D' | b'u' | b'U'))
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
    quick_params_valid(kind, &rest[close + 1..])
}

/// Are these MAIL/RCPT parameters (everything after the path's `>`)
/// certainly valid for the streaming parser? Known keywords only, each once,
/// with values that need no hex escapes; `false` = let the parser decide.
fn quick_params_valid(kind: ArgKind, mut rest: &[u8]) -> bool {
    let mut seen = 0u8;
    loop {
        // Each parameter follows one or more SP.
        match rest.split_first() {
            None => return true,
            Some((b' ', r)) => rest = r,
            Some(_) => return false,
        }
        while let Some((b' ', r)) = rest.split_first() {
            rest = r;
        }
        if rest.is_empty() {
            return true;
        }
        let Some((bit, kw_len)) = quick_keyword(kind, rest) else {
            return false;
        };
        rest = &rest[kw_len + 1..];
        // The value: after `=`, up to the next SP or the end.
        let val_len = if bit == P_SIZE {
            // Digits only: the digit run must reach the delimiter.
            let d = rest
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(rest.len());
            if !(1..=20).contains(&d) || rest.get(d).is_some_and(|&b| b != b' ') {
                return false;
            }
            d
        } else {
            let v = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            if !quick_value(bit, &rest[..v]) {
                return false;
            }
            v
        };
        if seen & bit != 0 {
            return false;
        }
        seen |= bit;
        rest = &rest[val_len..];
    }
}

/// Parameter bits of [`quick_keyword`] (one per keyword, for duplicates).
const P_SIZE: u8 = 1;
const P_BODY: u8 = 2;
const P_RET: u8 = 4;
const P_ENVID: u8 = 8;
const P_AUTH: u8 = 16;
const P_NOTIFY: u8 = 32;
const P_ORCPT: u8 = 64;

/// The keyword at the start of `tok` if it is one of `kind`'s list followed
/// by `=`: its bit and length. The first four bytes are compared as one
/// folded word (`| 0x20` folds exactly the letters; `=` is compared as is).
#[inline(always)]
fn quick_keyword(kind: ArgKind, tok: &[u8]) -> Option<(u8, usize)> {
    let (head, tail) = tok.split_first_chunk::<4>()?;
    let k = u32::from_le_bytes(*head) | 0x2020_2020;
    let eq_at = |n: usize| tok.get(n) == Some(&b'=');
    // The byte after the first four, folded (`=` stays `=`).
    let t0 = tail.first().map(|&b| b | 0x20);
    let hit = match kind {
        ArgKind::Mail if k == key4(b"SIZE") && eq_at(4) => (P_SIZE, 4),
        ArgKind::Mail if k == key4(b"BODY") && eq_at(4) => (P_BODY, 4),
        ArgKind::Mail if k == key4(b"AUTH") && eq_at(4) => (P_AUTH, 4),
        ArgKind::Mail if k == key4(b"RET=") && head[3] == b'=' => (P_RET, 3),
        ArgKind::Mail if k == key4(b"ENVI") && t0 == Some(b'd') && eq_at(5) => (P_ENVID, 5),
        ArgKind::Rcpt
            if k == key4(b"NOTI")
                && t0 == Some(b'f')
                && tail.get(1).map(|&b| b | 0x20) == Some(b'y')
                && eq_at(6) =>
        {
            (P_NOTIFY, 6)
        }
        ArgKind::Rcpt if k == key4(b"ORCP") && t0 == Some(b't') && eq_at(5) => (P_ORCPT, 5),
        _ => return None,
    };
    Some(hit)
}

/// Is `val` certainly a valid value of the parameter `bit`?
fn quick_value(bit: u8, val: &[u8]) -> bool {
    let xtext_plain = |v: &[u8], max: usize| {
        (1..=max).contains(&v.len())
            && v.iter()
                .all(|&b| (0x21..=0x7E).contains(&b) && b != b'+' && b != b'=')
    };
    match bit {
        P_SIZE => (1..=20).contains(&val.len()) && val.iter().all(u8::is_ascii_digit),
        P_BODY => {
            val.eq_ignore_ascii_case(b"7BIT")
                || val.eq_ignore_ascii_case(b"8BITMIME")
                || val.eq_ignore_ascii_case(b"BINARYMIME")
        }
        P_RET => val.eq_ignore_ascii_case(b"FULL") || val.eq_ignore_ascii_case(b"HDRS"),
        P_ENVID => xtext_plain(val, 100),
        P_AUTH => xtext_plain(val, 500),
        P_NOTIFY => {
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
        }
        P_ORCPT => match memchr::memchr(b';', val) {
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
        _ => false,
    }
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

    /// The perfect hash against the byte automaton: every four-letter verb in
    /// every case mix, and every word one byte away from one.
    #[test]
    fn verb4_hash_matches_the_automaton_near_every_verb() {
        let automaton = |w: &[u8]| {
            let mut c = ALL_VERBS;
            for (p, &b) in w.iter().enumerate() {
                c = verbs::step(c, p, b);
            }
            verbs::exact(c, w.len())
        };
        let mut checked = 0;
        for (_, name) in verbs::VERBS.iter().filter(|(_, n)| n.len() == 4) {
            for case in 0..16u8 {
                let w: Vec<u8> = name
                    .iter()
                    .enumerate()
                    .map(|(i, &b)| {
                        if case >> i & 1 != 0 {
                            b.to_ascii_lowercase()
                        } else {
                            b
                        }
                    })
                    .collect();
                assert_eq!(verb4(&w), Some(automaton(&w)), "{w:?}");
                for pos in 0..4 {
                    for b in 0..=255u8 {
                        let mut v = w.clone();
                        v[pos] = b;
                        let want = automaton(&v);
                        match verb4(&v) {
                            Some(bit) => assert_eq!(bit, want, "{v:?}"),
                            None => assert_eq!(want, 0, "{v:?}"),
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 17 * 16 * 4 * 256);
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
