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
//! Cost per line (issue #2), in two tiers. The lean tier (`lean_line`)
//! comes first on every line and takes the common shapes in leaf functions,
//! which keep their state in the registers a leaf has (no call, so nothing
//! to save around one). The first four bytes are one folded word looked up
//! in a compile-time perfect hash that gives the verb's index; what the
//! verb needs is one shift and mask of the per-session class word
//! ([`fast_classes`], built from the policy with a few bit operations when
//! the session starts) instead of a chain of policy checks. A verb without
//! arguments is taken right in the dispatch; other arguments in
//! `lean_plain`, by one pass of 16-byte SIMD blocks that frames them and
//! proves them clean ([`framing::first_plain_stop`]); an ESMTP MAIL or RCPT
//! line in `lean_mail`/`lean_rcpt`, straight-line code which takes the
//! path's first thirty-two bytes as one window that must hold its `>`
//! ([`framing::window_mask`]) and only the commonest parameter shapes after
//! it, each compared whole up to the line's CRLF (none; a RCPT's
//! `NOTIFY=FAILURE`; a MAIL's `SIZE=` digits, alone or with
//! `BODY=8BITMIME`: [`common_params_crlf`], sixteen-byte compares), which
//! proves their bytes clean and finds the line end, so no byte is read
//! twice and no line it takes can reach a length limit
//! ([`LEAN_PATH_MAX`]); the F4 alias check is two compares of one word at
//! the path's `<` ([`may_be_alias_word`]: a possible alias is declined).
//! Every leaf answers the bytes left after the lines it took and hands the
//! next line on as a slice, so no offset stays live. They go on from line
//! to line while RCPT lines follow that may start (a tail call to the other
//! copy of the leaf, so a run of RCPTs skips the group loop's dispatch) and
//! take the DATA that ends a group (RFC 2920). Whatever a leaf cannot
//! finish (a longer path or one in the segment's last bytes, other
//! parameters or line ends: the keyword-and-value loop, [`params_from`])
//! it hands to its full variant in a tail call; a line that might be an F4
//! alias outside ESMTP, or a RCPT that would fire I3, it declines with
//! nothing changed. The scans stop at a few rare legal bytes too (SP, `!`,
//! `}`, `~` in a path; `}`, `~` elsewhere): such a line is simply left to
//! the next tier. (Measured and kept out: the dispatch inline in the group
//! loop, fewer instructions but slower pipelined groups in CPU time; a loop
//! over a RCPT run instead of the tail calls, whose hoisted fields cost
//! more than they saved; the line's last sixteen bytes as one overlapping
//! block, slower on lockstep lines; the verb classes as one byte per verb
//! instead of two bits of one word, one instruction more a session.)
//!
//! `general_line` takes every other line the fast path may accept (verbs
//! that are not four letters, `|` and 8-bit bytes classified byte by byte,
//! any ESMTP parameters), out of line. The reply expectation comes from a
//! static table. `tests/fast_path.rs` runs random legal and hostile command
//! streams (and MAIL/RCPT lines assembled from ordinary and odd parts), in
//! any segmentation and with random replies, through an inspector with the
//! fast paths and one without (`Inspector::set_fast_paths(false)`) and
//! requires identical results; the tests below do the same for pipelined
//! groups of corpus lines around one variant line, with one byte anywhere
//! replaced and the group cut anywhere, and hold the lean tier to the
//! second: every line it takes, `general_line` takes with the same length,
//! inspector state and counters.

use crate::framing::{self, LIMIT_DEFAULT, LIMIT_ESMTP_PATH};
use crate::inspector::{Expect, Inspector};
use crate::params::ArgKind;
use crate::policy::Mode;
use crate::signatures::{RcptLocalPart, Signature, SignatureSet};
use crate::stats::SmtpStats;
use crate::verbs::{self, Verb, ALL_VERBS};
use wide::u8x16;

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

/// Per-session fast-path tables: the class of every verb, two bits per verb
/// index in one word (one shift and mask per line; a new session builds it
/// from three verb bit sets with a few bit operations instead of a per-verb
/// loop), and the longest line each class may accept (the length limit where
/// F6 would close the session, else the fast path's own bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FastClasses {
    classes: u64,
    pub(crate) max_total: [u16; 4],
}

impl FastClasses {
    /// The class of the verb with index `verb` (below 32).
    #[inline(always)]
    pub(crate) fn of_index(&self, verb: usize) -> u8 {
        (self.classes >> (2 * (verb & 31)) & 3) as u8
    }

    /// The class of the verb with bit `bit` ([`class::SLOW`] for no verb).
    #[inline(always)]
    pub(crate) fn of(&self, bit: u32) -> u8 {
        (self
            .classes
            .checked_shr(2 * bit.trailing_zeros())
            .unwrap_or(0)
            & 3) as u8
    }
}

/// Bit `i` of `x` to bit `2i` of the result (the other bits clear).
const fn spread(x: u32) -> u64 {
    let mut x = x as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

const _: () = assert!(verbs::VERBS.len() <= 32);
const _: () = assert!(class::PLAIN == 1 && class::MAIL == 2 && class::RCPT == 3);

const MAIL_VERBS: u32 = Verb::Mail.bit() | Verb::Saml.bit() | Verb::Send.bit() | Verb::Soml.bit();
/// Verbs with argument state the streaming path parses (AUTH, ETRN, BDAT).
const STATEFUL_VERBS: u32 = Verb::Etrn.bit() | Verb::Auth.bit() | Verb::Bdat.bit();

/// The fast-path tables for a session with these verbs allowed, signatures
/// enabled and mode. Mirrors the checks the streaming path makes at the verb
/// delimiter (`verb_end`): anything that could log, close or parse
/// arguments statefully is [`class::SLOW`].
pub(crate) const fn fast_classes(allowed: u32, sigs: SignatureSet, mode: Mode) -> FastClasses {
    let esmtp = matches!(mode, Mode::Esmtp);
    // Signature verbs log or close, except VRFY while I2 is off.
    let sig_slow = if sigs.contains(Signature::I2Reconnaissance) {
        SIG_VERBS
    } else {
        SIG_VERBS & !Verb::Vrfy.bit()
    };
    let usable = allowed & !sig_slow & !STATEFUL_VERBS;
    let mail = if sigs.contains(Signature::I1SmailAttack) {
        0
    } else {
        usable & MAIL_VERBS
    };
    let rcpt = usable & Verb::Rcpt.bit();
    let plain = usable & !MAIL_VERBS & !Verb::Rcpt.bit();
    let path = if esmtp {
        LIMIT_ESMTP_PATH
    } else {
        LIMIT_DEFAULT
    };
    // The longest line a class takes: where F6 would close the session,
    // else the fast path's own bound.
    let (plain_max, path_max) = if sigs.contains(Signature::F6OverlongCommand) {
        (LIMIT_DEFAULT as u16, path as u16)
    } else {
        (LIMIT_ESMTP_PATH as u16, LIMIT_ESMTP_PATH as u16)
    };
    // The sets are disjoint: each verb's two bits hold its class.
    FastClasses {
        classes: (spread(plain) * (class::PLAIN as u64))
            | (spread(mail) * (class::MAIL as u64))
            | (spread(rcpt) * (class::RCPT as u64)),
        max_total: [0, plain_max, path_max, path_max],
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
        let left = self.lean_line(rest, stats);
        let next = if left != rest.len() {
            buf.len() - left
        } else {
            self.general_line_at(buf, start, stats)
        };
        (next != start).then_some(next)
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
    /// neither. (Out of line, so that the entry point stays small. Measured
    /// and kept out: the first line's `lean_line` call inline in the entry
    /// point and the rest of the loop out of line, 2 516 instructions a
    /// transcript session against 2 606 and lockstep lines 11 % faster, but
    /// pipelined groups 11 % slower in CPU time.)
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
            let left = self.lean_line(rest, stats);
            if left != rest.len() {
                i = buf.len() - left;
                continue;
            }
            let next = self.general_line_at(buf, i, stats);
            if next == i {
                break;
            }
            i = next;
        }
        i
    }

    /// The second tier for the line at `buf[at..]` (one the lean tier did
    /// not take): [`Self::general_line`], then accepted; the offset after
    /// it, or `at` (nothing changed) when the streaming path decides. (Out
    /// of line: the group loop then keeps no line in memory.)
    #[inline(never)]
    fn general_line_at(&mut self, buf: &[u8], at: usize, stats: &mut SmtpStats) -> usize {
        let Some(line) = buf.get(at..).and_then(|rest| self.general_line(rest)) else {
            return at;
        };
        self.accept_line(line, stats);
        at + line.total
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
        let cls = self.fast_classes.of(complete);
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

    /// The lean tier, tried first on every line: a subset of what
    /// [`Self::general_line`] accepts, in code small enough to keep its
    /// state in registers. A line without arguments is taken here; a line
    /// with arguments goes to a leaf function for its class
    /// ([`Self::lean_plain`], [`Self::lean_path`]). Each accepts the line(s)
    /// itself and answers how many bytes of `rest` are left after them;
    /// `rest.len()` = not taken (nothing changed), `general_line` decides.
    /// (Bytes left rather than taken: a leaf then hands the next line on
    /// as a slice, and its answer is its caller's, with no offset to add
    /// or keep in a register.) The caller knows that a command
    /// line may start at `rest` and [`Self::fast_lines_allowed`]. (Out of
    /// line: inline in the group loop it took fewer instructions but ran
    /// pipelined groups slower. Offsets into the whole segment instead of
    /// `rest`, like the leaves', measured 3 to 6 instructions a call more.)
    #[inline(never)]
    pub(crate) fn lean_line(&mut self, rest: &[u8], stats: &mut SmtpStats) -> usize {
        // (Five bytes at least: the shortest line, `NOOP` LF, has five.)
        let Some((&[v0, v1, v2, v3, sep], after)) = rest.split_first_chunk::<5>() else {
            return rest.len();
        };
        let k = u32::from_le_bytes([v0, v1, v2, v3]) | 0x2020_2020;
        let (key, verb) = VERB4_INDEX[verb4_slot(k, VERB4_MUL)];
        if key != k {
            return rest.len();
        }
        let verb = verb as usize;
        let cls = self.fast_classes.of_index(verb);
        // (SP first: most lines have arguments.)
        if sep == b' ' {
            return {
                if cls == class::PLAIN {
                    self.lean_plain::<{ class::PLAIN }>(rest, stats, verb)
                } else if self.mode != Mode::Esmtp {
                    // MAIL and RCPT outside ESMTP: their arguments are
                    // plain text.
                    if cls == class::MAIL {
                        self.lean_plain::<{ class::MAIL }>(rest, stats, verb)
                    } else if cls == class::RCPT {
                        self.lean_plain::<{ class::RCPT }>(rest, stats, verb)
                    } else {
                        rest.len()
                    }
                } else if cls == class::MAIL {
                    self.lean_mail(rest, stats)
                } else if cls == class::RCPT {
                    self.lean_rcpt(rest, stats)
                } else {
                    rest.len()
                }
            };
        }
        // No arguments: only the line end may follow (`NOOP`, `RSET`,
        // `DATA`, `QUIT`); far below every length limit. (The class first:
        // then the compiler tests SP before the line ends.)
        if cls != class::PLAIN {
            return rest.len();
        }
        let (next, cr) = match (sep, after) {
            (b'\r', [b'\n', next @ ..]) => (next, true),
            (b'\n', next) => (next, false),
            _ => return rest.len(),
        };
        self.accept_lean(verb, cls, cr, stats);
        next.len()
    }

    /// A line of a four-letter verb `verb` of class `CLS` (`PLAIN`, or
    /// outside ESMTP `MAIL`/`RCPT`) with SP and arguments at `rest[5..]`:
    /// exactly what [`Self::general_line`] and [`Self::accept_line`] do
    /// with it, less the alias check's call (`RcptLocalPart::matches`) and
    /// I3 firing, which leave it (`rest.len()`: not taken); the bytes of
    /// `rest` after the line otherwise. A leaf.
    #[inline(never)]
    fn lean_plain<const CLS: u8>(
        &mut self,
        rest: &[u8],
        stats: &mut SmtpStats,
        verb: usize,
    ) -> usize {
        let Some(args) = rest.get(5..) else {
            return rest.len();
        };
        let (end, after) = framing::first_plain_stop(args);
        let (next, cr) = match after {
            [b'\r', b'\n', next @ ..] => (next, true),
            [b'\n', next @ ..] => (next, false),
            _ => return rest.len(),
        };
        // The line's length: the verb, its SP, the arguments, the line end.
        if rest.len() - next.len() > usize::from(self.fast_classes.max_total[CLS as usize]) {
            return rest.len();
        }
        if CLS == class::RCPT
            && ((self.sigs.contains(Signature::F4DecodeAlias)
                && may_be_alias(args.get(..end).unwrap_or_default()))
                || self.quiet_rcpt_count().is_none())
        {
            return rest.len();
        }
        self.accept_lean(verb, CLS, cr, stats);
        next.len()
    }

    /// ESMTP MAIL and RCPT lines from the start of `line`: the bytes of
    /// `line` left after the last line taken, `line.len()` for none. The
    /// line has a verb of class `MAIL` (`RCPT` false) or RCPT and its SP.
    /// Each line taken is exactly what [`Self::general_line`] and
    /// [`Self::accept_line`] do with it unless a RCPT would fire I3 (not
    /// taken). A run goes on while a RCPT line follows that may start (spec
    /// §6.3), without the group loop's dispatch. A leaf in straight-line
    /// code: the path in whole sixteen-byte blocks, then only the commonest
    /// parameter shapes of a line that ends in CRLF ([`common_params_crlf`]);
    /// anything else (the path's last bytes in a short tail, other
    /// parameters, a bare LF) it hands to [`Self::lean_path_full`] in a tail
    /// call, which takes that one line. (Every position is a slice of the
    /// segment and every answer the bytes left, so the next line goes on
    /// as a slice and nothing else stays live: the leaf keeps within the
    /// registers a leaf has. Measured and kept out: the full variant
    /// scanning the path on from where the leaf stopped, 3 instructions
    /// less a pipelined group but 3 % slower in CPU time.)
    #[inline(always)]
    fn lean_path<const RCPT: bool, const ALT: bool>(
        &mut self,
        line: &[u8],
        stats: &mut SmtpStats,
    ) -> usize {
        // After the verb and its SP: `TO:<` / `FROM:<` as one folded word
        // (`| 0x20` on the letters only; an SP before the `<` goes to the
        // full variant), then the path's first thirty-two bytes as one
        // window, which must hold its end; with the path's first eight
        // bytes in the twelve after the verb (the F4 alias check's word,
        // read without another bounds check).
        let open_len = if RCPT { 4 } else { 6 };
        let path_at = 5 + open_len;
        let Some(window) = line
            .get(path_at..path_at + 32)
            .and_then(|w| w.first_chunk::<32>())
        else {
            // The path's window reaches past the segment: the full variant
            // decides (a tail call, so this function keeps no state across
            // it).
            return self.lean_path_full::<RCPT>(line, stats);
        };
        // (In bounds, as the window is: no further test.)
        let path = line.get(path_at..).unwrap_or_default();
        let Some(head) = line.get(5..17).and_then(|h| h.first_chunk::<12>()) else {
            return line.len();
        };
        let word = u64::from_le_bytes(*head.first_chunk::<8>().unwrap_or(&[0; 8]));
        let opened = if RCPT {
            word as u32 | 0x2020 == TO_OPEN
        } else {
            (word | 0x2020_2020) & 0xFFFF_FFFF_FFFF == FROM_OPEN
        };
        if !opened {
            return self.lean_path_full::<RCPT>(line, stats);
        }
        let m = framing::window_mask(window, framing::path_stop16);
        if m == 0 {
            // A path of thirty-two bytes or more: the full variant.
            return self.lean_path_full::<RCPT>(line, stats);
        }
        let Some((b'>', params)) = path
            .get(m.trailing_zeros() as usize..)
            .and_then(|s| s.split_first())
        else {
            return line.len();
        };
        let Some(next) = common_params_crlf::<RCPT>(params) else {
            // Another parameter or line end: the full variant decides.
            return self.lean_path_full::<RCPT>(line, stats);
        };
        // (Within every class's length limit: [`LEAN_PATH_MAX`].)
        // (For a RCPT the path's first eight bytes are the last eight of
        // `head`; a MAIL has no alias check.)
        let path_head = if RCPT { head.last_chunk::<8>() } else { None };
        if !self.take_path_line::<RCPT, false>(line.len() - next.len(), path_head, true, stats) {
            return line.len();
        }
        self.run_goes_on::<RCPT, ALT>(next, stats)
    }

    /// After a MAIL (`RCPT` false) or RCPT line a leaf took, the lines
    /// `next` starts with: the run goes on at a RCPT line (its verb and
    /// SP) that may start, in the other copy of the leaf (`ALT`), and a
    /// DATA that ends the group is taken; the bytes of `next` left after
    /// them.
    #[inline(always)]
    fn run_goes_on<const RCPT: bool, const ALT: bool>(
        &mut self,
        next: &[u8],
        stats: &mut SmtpStats,
    ) -> usize {
        // The run goes on at a RCPT line (its verb and SP) that may start.
        // (A tail call to the other copy of the leaf rather than a loop: in
        // a loop the compiler keeps the session's fields in registers
        // across lines, which costs more to set up and spill than it
        // saves.) This line was allowed to start and added no barrier, so
        // another may start exactly when pipelining and the FIFO is not
        // full (spec §6.3).
        let may_start = self.pipelining && !self.fifo.is_full();
        debug_assert_eq!(may_start, self.may_start_line());
        if !may_start {
            return next.len();
        }
        let Some(&[a, b, c, d, e, f]) = next.first_chunk::<6>() else {
            return next.len();
        };
        let verb = u32::from_le_bytes([a, b, c, d]) | 0x2020_2020;
        if verb != key4(b"RCPT")
            || e != b' '
            || (!RCPT && self.fast_classes.of_index(RCPT_INDEX) != class::RCPT)
        {
            // A group commonly ends with DATA (RFC 2920): taken here too.
            if RCPT
                && verb == key4(b"DATA")
                && [e, f] == *b"\r\n"
                && self.fast_classes.of_index(DATA_INDEX) == class::PLAIN
            {
                return self.lean_data(next, stats);
            }
            return next.len();
        }
        if ALT {
            self.lean_rcpt(next, stats)
        } else {
            self.lean_rcpt_alt(next, stats)
        }
    }

    /// Take the `DATA` CRLF at the start of `rest` that ends a RCPT run
    /// (the caller has seen it and its class): the bytes left after it.
    /// (Out of line, in a tail call: inline, the compiler merged its
    /// counting with the RCPT line's before it, which kept both counters
    /// in registers on every RCPT line.)
    #[inline(never)]
    fn lean_data(&mut self, rest: &[u8], stats: &mut SmtpStats) -> usize {
        self.accept_lean(DATA_INDEX, class::PLAIN, true, stats);
        rest.len() - 6
    }

    /// [`Self::lean_path`] for a line of class `MAIL` (a leaf).
    #[inline(never)]
    fn lean_mail(&mut self, line: &[u8], stats: &mut SmtpStats) -> usize {
        self.lean_path::<false, true>(line, stats)
    }

    /// [`Self::lean_path`] for RCPT lines (a leaf; the next line of a run
    /// goes to [`Self::lean_rcpt_alt`]).
    #[inline(never)]
    fn lean_rcpt(&mut self, line: &[u8], stats: &mut SmtpStats) -> usize {
        self.lean_path::<true, false>(line, stats)
    }

    /// [`Self::lean_rcpt`] for every other line of a run.
    #[inline(never)]
    fn lean_rcpt_alt(&mut self, line: &[u8], stats: &mut SmtpStats) -> usize {
        self.lean_path::<true, true>(line, stats)
    }

    /// The one MAIL (`RCPT` false) or RCPT line at the start of `line`
    /// that the leaf [`Self::lean_path`] handed on, in full: `FROM:`/`TO:`
    /// with an optional SP, the path to its end, any parameters the fast
    /// path knows ([`params_in_place`]), CRLF or a bare LF. The bytes of
    /// `line` left after it when taken, else `line.len()`.
    #[inline(never)]
    fn lean_path_full<const RCPT: bool>(&mut self, line: &[u8], stats: &mut SmtpStats) -> usize {
        let (cls, kind) = if RCPT {
            (class::RCPT, ArgKind::Rcpt)
        } else {
            (class::MAIL, ArgKind::Mail)
        };
        let Some(open) = line.get(5..).and_then(|args| path_open(cls, args)) else {
            return line.len();
        };
        let open = 5 + open;
        let Some(path) = line.get(open + 1..) else {
            return line.len();
        };
        let close = open + 1 + framing::first_path_stop(path);
        if line.get(close) != Some(&b'>') {
            return line.len();
        }
        let Some(end) = line
            .get(close + 1..)
            .and_then(|p| params_in_place(kind, p))
            .map(|p| close + 1 + p)
        else {
            return line.len();
        };
        let (total, cr) = match line.get(end..end.wrapping_add(2)) {
            Some([b'\r', b'\n']) => (end + 2, true),
            _ if line.get(end) == Some(&b'\n') => (end + 1, false),
            _ => return line.len(),
        };
        if !self.take_path_line::<RCPT, true>(total, path.first_chunk::<8>(), cr, stats) {
            return line.len();
        }
        // (A run of long paths goes on without the group loop's dispatch,
        // as the leaf's does.)
        self.run_goes_on::<RCPT, false>(line.get(total..).unwrap_or_default(), stats)
    }

    /// Take a MAIL (`RCPT` false) or RCPT line of `total` bytes whose path
    /// starts with `path_head` (`None`: fewer than eight bytes), its
    /// parameters proven: false (nothing changed) when it is over the
    /// class's length limit (checked when `LIMIT`: the leaf's lines are
    /// all within it, [`LEAN_PATH_MAX`]), or a RCPT whose local part may
    /// be an F4 alias (`general_line` decides exactly:
    /// `RcptLocalPart::matches`; the check here takes no registers for that
    /// rare case) or that would fire I3.
    #[inline(always)]
    fn take_path_line<const RCPT: bool, const LIMIT: bool>(
        &mut self,
        total: usize,
        path_head: Option<&[u8; 8]>,
        cr: bool,
        stats: &mut SmtpStats,
    ) -> bool {
        let cls = if RCPT { class::RCPT } else { class::MAIL };
        debug_assert!(LIMIT || total <= LEAN_PATH_MAX);
        if LIMIT && total > usize::from(self.fast_classes.max_total[cls as usize]) {
            return false;
        }
        if RCPT
            && ((self.sigs.contains(Signature::F4DecodeAlias) && may_be_alias_word(path_head))
                || self.quiet_rcpt_count().is_none())
        {
            return false;
        }
        // (Every verb of class MAIL expects what MAIL does.)
        self.accept_lean(if RCPT { RCPT_INDEX } else { MAIL_INDEX }, cls, cr, stats);
        true
    }

    /// [`Self::accept_line`] for a line the lean tier took: a RCPT there
    /// does not fire I3 ([`Self::rcpt_fires_spam`]), so it only counts.
    #[inline(always)]
    fn accept_lean(&mut self, verb: usize, cls: u8, cr: bool, stats: &mut SmtpStats) {
        match cls {
            class::MAIL => self.reset_transaction(),
            class::RCPT => self.rcpt_count = self.rcpt_count.saturating_add(1),
            _ if RESETS_TRANSACTION & (1 << verb) != 0 => self.reset_transaction(),
            _ => {}
        }
        if !cr {
            stats.bare_lf_cmd += 1;
        }
        stats.cmd_lines += 1;
        self.cmd_index += 1;
        self.fifo.push_unchecked(EXPECT_BY_INDEX[verb & 31]);
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
        // Room proven by `may_start_line`, which every caller checked for
        // this line.
        self.fifo.push_unchecked(EXPECT_OF_VERB[line.verb]);
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

/// The longest MAIL or RCPT line the leaf [`Inspector::lean_path`] takes:
/// `MAIL FROM:<` (11 bytes), a path that ends within the thirty-two-byte
/// window (its `>` included), then at most ` SIZE=` with seven digits and
/// ` BODY=8BITMIME` CRLF ([`common_params_crlf`]; a RCPT's parameters are
/// shorter). Below the smallest length limit of both classes
/// ([`fast_classes`]), so the leaf checks none.
const LEAN_PATH_MAX: usize = 11 + 32 + (6 + 7) + 16;
const _: () = assert!(LEAN_PATH_MAX <= LIMIT_DEFAULT as usize);

/// `TO:<` and `FROM:<` as little-endian words folded like [`key4`] (the
/// letters' `0x20` bits set; `:` and `<` as they are).
const TO_OPEN: u32 = u32::from_le_bytes(*b"to:<");
const FROM_OPEN: u64 = u64::from_le_bytes(*b"from:<\0\0");

/// The verb indices of MAIL, RCPT and DATA.
const MAIL_INDEX: usize = Verb::Mail.bit().trailing_zeros() as usize;
const RCPT_INDEX: usize = Verb::Rcpt.bit().trailing_zeros() as usize;
const DATA_INDEX: usize = Verb::Data.bit().trailing_zeros() as usize;

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

/// [`EXPECT_OF_VERB`] over every index below 32 (a verb index masked to
/// five bits needs no bounds check).
static EXPECT_BY_INDEX: [Expect; 32] = {
    let mut t = [Expect::Other; 32];
    let mut i = 0;
    while i < verbs::VERBS.len() {
        t[i] = EXPECT_OF_VERB[i];
        i += 1;
    }
    t
};

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

/// [`VERB4`] with each verb's index (its bit's position) instead of its bit.
static VERB4_INDEX: [(u32, u32); VERB4_SLOTS] = {
    let mut t = [(0u32, 0u32); VERB4_SLOTS];
    let mut i = 0;
    while i < VERB4_SLOTS {
        t[i] = (VERB4[i].0, VERB4[i].1.trailing_zeros() & 31);
        i += 1;
    }
    t
};

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

/// Could the local part at the start of `path` (after the `<`) be an F4
/// alias ([`RcptLocalPart::local_is_alias`])? The local part must start
/// with `decode` or `uudecode`: folded, the first four bytes `deco` or the
/// first two `uu` (all letters, for which ORing in `0x20` is exactly case
/// folding), in the low bits of one word; every other local part is ruled
/// out. The lean tier's check on the path's first eight bytes (`None`:
/// fewer): it declines every line this flags (true also with fewer than
/// eight bytes), and `general_line` decides exactly. (The exact check
/// inline in the leaf took two more registers, saved and restored on
/// every line; `deco` at offset 2 instead of `uu` at 0, a shift the
/// compiler turned into a mask and a compare with two 64-bit constants.)
#[inline(always)]
fn may_be_alias_word(path_head: Option<&[u8; 8]>) -> bool {
    let Some(head) = path_head else {
        return true;
    };
    let w = u64::from_le_bytes(*head);
    w as u32 | 0x2020_2020 == u32::from_le_bytes(*b"deco")
        || w as u16 | 0x2020 == u16::from_le_bytes(*b"uu")
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
        let Some(val_len) = quick_value_len(bit, rest) else {
            return false;
        };
        if seen & bit != 0 {
            return false;
        }
        seen |= bit;
        rest = &rest[val_len..];
    }
}

/// The ESMTP parameters of a MAIL/RCPT line in place: `rest` starts right
/// after the path's `>` and runs on past the line end. Answers the offset of
/// the first CR or LF when every parameter is certainly valid
/// ([`quick_params_valid`] of the bytes before it) and every byte before it is
/// printable ASCII other than `|` (so [`framing::first_unusual`] would stop
/// exactly there): each byte is proven by the compare that parses it, so the
/// parameters are read once. `None`: not certainly so (or no line end).
///
/// Inline, the commonest whole parameters only ([`common_param`]: two or
/// three word compares each); at the first other parameter the general
/// loop takes over out of line ([`params_from`]).
#[inline(always)]
fn params_in_place(kind: ArgKind, rest: &[u8]) -> Option<usize> {
    let mut seen = 0u8;
    let mut at = 0;
    loop {
        if matches!(*rest.get(at)?, b'\r' | b'\n') {
            return Some(at);
        }
        match common_param(kind, rest.get(at..)?) {
            Some((bit, n)) if seen & bit == 0 => {
                seen |= bit;
                at += n;
            }
            Some(_) => return None,
            None => return params_from(kind, rest, at, seen),
        }
    }
}

/// The lean tier's parameters and line end: `params` starts right after a
/// MAIL (`RCPT` false) or RCPT path's `>`; its bytes after the line's
/// CRLF when the line ends there in one of its commonest shapes,
/// each compared whole: no parameter; a RCPT's ` NOTIFY=FAILURE` (one
/// sixteen-byte compare with its SP and the CR, [`W16_SP_NOTIFY_CR`]); a MAIL's
/// ` SIZE=` with one to seven digits, alone or followed by
/// ` BODY=8BITMIME` (one sixteen-byte compare with the CRLF,
/// [`W16_SP_BODY_CRLF`]). Exactly what [`params_in_place`] and the line
/// end after it take for the same bytes. `None` for anything else (other
/// parameters, other values, another order, a bare LF, fewer bytes than a
/// compare reads): the full variant decides. (Straight-line code instead
/// of a loop over the parameters: a loop kept its constants in registers
/// that the leaf had to save and restore.)
#[inline(always)]
fn common_params_crlf<const RCPT: bool>(params: &[u8]) -> Option<&[u8]> {
    if let [b'\r', b'\n', next @ ..] = params {
        return Some(next);
    }
    if RCPT {
        // ` NOTIFY=FAILURE` CR as one compare, then the LF.
        let (chunk, tail) = params.split_first_chunk::<16>()?;
        return match tail {
            [b'\n', next @ ..] if W16_SP_NOTIFY_CR.held_by(chunk) => Some(next),
            _ => None,
        };
    }
    // ` SIZE=` and its digits, seven at most, so that the byte after them
    // is read.
    let w0 = word_at(params, 0)?;
    let w6 = word_at(params, 6)?;
    if !holds(w0, W_SP_SIZE_EQ) {
        return None;
    }
    let d = leading_digits(w6);
    if d == 0 || d == 8 {
        return None;
    }
    match params.get(6 + d..)? {
        [b'\r', b'\n', next @ ..] => Some(next),
        body => {
            let (chunk, next) = body.split_first_chunk::<16>()?;
            W16_SP_BODY_CRLF.held_by(chunk).then_some(next)
        }
    }
}

/// Sixteen bytes to compare with input as one SSE2 vector, case-insensitive
/// for the letters only (like [`folded`]): `por`, `pcmpeqb`, `pmovmskb`.
struct Folded16 {
    /// The bytes with the letters in lower case.
    lower: u8x16,
    /// `0x20` at the letters, 0 elsewhere.
    fold: u8x16,
}

impl Folded16 {
    const fn of(word: &[u8; 16]) -> Self {
        let (mut lower, mut fold) = ([0u8; 16], [0u8; 16]);
        let mut i = 0;
        while i < 16 {
            lower[i] = word[i].to_ascii_lowercase();
            if word[i].is_ascii_alphabetic() {
                fold[i] = 0x20;
            }
            i += 1;
        }
        Folded16 {
            lower: u8x16::new(lower),
            fold: u8x16::new(fold),
        }
    }

    /// Do these sixteen bytes hold the word (letters in either case, the
    /// other bytes exactly)?
    #[inline(always)]
    fn held_by(&self, bytes: &[u8; 16]) -> bool {
        (u8x16::new(*bytes) | self.fold)
            .simd_eq(self.lower)
            .to_bitmask()
            == 0xFFFF
    }
}

const W16_SP_BODY_CRLF: Folded16 = Folded16::of(b" BODY=8BITMIME\r\n");
const W16_SP_NOTIFY_CR: Folded16 = Folded16::of(b" NOTIFY=FAILURE\r");

/// [`params_in_place`] from offset `at` (a parameter's leading SP or the
/// line end), with the parameters in `seen` already taken: parameter by
/// parameter, every keyword and value the fast path knows. (Out of line: its
/// state would make the line loop spill registers.)
#[inline(never)]
fn params_from(kind: ArgKind, rest: &[u8], mut at: usize, mut seen: u8) -> Option<usize> {
    loop {
        // The line end, or one or more SP before a parameter (or the end).
        match *rest.get(at)? {
            b'\r' | b'\n' => return Some(at),
            b' ' => at += 1,
            _ => return None,
        }
        while rest.get(at) == Some(&b' ') {
            at += 1;
        }
        let tok = rest.get(at..)?;
        if matches!(tok.first(), Some(b'\r' | b'\n')) {
            return Some(at);
        }
        let (bit, kw_len) = quick_keyword(kind, tok)?;
        at += kw_len + 1;
        // The value ends at SP or the line end (checked at the loop top).
        at += quick_value_len(bit, rest.get(at..)?)?;
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
    }
}

/// The folded little-endian word of `word` (up to eight bytes; the bytes
/// past its end zero) and the mask of its letters' `0x20` bits: a word `w`
/// of input holds `word` (letters in either case, other bytes exactly) iff
/// `(w | mask) & keep == lower`, with `keep` covering `word`'s bytes.
const fn folded(word: &[u8]) -> (u64, u64, u64) {
    let (mut lower, mut mask, mut keep) = (0u64, 0u64, 0u64);
    let mut i = 0;
    while i < word.len() {
        let b = word[i].to_ascii_lowercase();
        lower |= (b as u64) << (8 * i);
        if b.is_ascii_lowercase() {
            mask |= 0x20 << (8 * i);
        }
        keep |= 0xFF << (8 * i);
        i += 1;
    }
    (lower, mask, keep)
}

/// Does the word `w` hold `word` (see [`folded`]) in its low bytes?
#[inline(always)]
fn holds(w: u64, word: (u64, u64, u64)) -> bool {
    (w | word.1) & word.2 == word.0
}

const W_SP_BODY_8B: (u64, u64, u64) = folded(b" BODY=8B");
const W_8BITMIME: (u64, u64, u64) = folded(b"8BITMIME");
const W_SP_SIZE_EQ: (u64, u64, u64) = folded(b" SIZE=");
const W_SP_NOTIFY_EQ: (u64, u64, u64) = folded(b" NOTIFY=");
const W_FAILURE: (u64, u64, u64) = folded(b"FAILURE");

/// Eight bytes of `tok` from `at` as a little-endian word, if there are eight.
#[inline(always)]
fn word_at(tok: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*tok.get(at..)?.first_chunk::<8>()?))
}

/// The commonest parameters whole, at the start of `tok` (right after the
/// path or the previous value): one SP, then `SIZE=` digits or
/// `BODY=8BITMIME` (MAIL) or `NOTIFY=FAILURE` (RCPT), each ending at SP, CR
/// or LF: its bit and length (the SP included). Exactly what the
/// parameter-by-parameter loop of [`params_in_place`] would accept for the
/// same bytes; `None` = let that loop decide (other parameters, other
/// values, several SPs, fewer than 16 bytes left, ...). One sixteen-byte
/// read, the three words of it compared folded, the `SIZE=` digits by
/// [`leading_digits`], then the byte after the value.
#[inline(always)]
fn common_param(kind: ArgKind, tok: &[u8]) -> Option<(u8, usize)> {
    let chunk = tok.first_chunk::<16>()?;
    let w0 = u64::from_le_bytes(*chunk.first_chunk::<8>()?);
    let w6 = u64::from_le_bytes(*chunk[6..].first_chunk::<8>()?);
    let w8 = u64::from_le_bytes(*chunk.last_chunk::<8>()?);
    let (bit, n) = match kind {
        ArgKind::Mail if holds(w0, W_SP_BODY_8B) => holds(w6, W_8BITMIME).then_some((P_BODY, 14)),
        ArgKind::Mail if holds(w0, W_SP_SIZE_EQ) => {
            let d = leading_digits(w6);
            (d != 0 && d != 8).then_some((P_SIZE, 6 + d))
        }
        ArgKind::Rcpt if holds(w0, W_SP_NOTIFY_EQ) => {
            holds(w8, W_FAILURE).then_some((P_NOTIFY, 15))
        }
        _ => None,
    }?;
    is_value_end(*tok.get(n)?).then_some((bit, n))
}

/// How many ASCII digits the little-endian word `w` starts with (8: all
/// of it), by one SWAR test: byte `b` is one iff `b ^ '0'` is below 10,
/// and a byte is flagged (its 0x80 bit) iff it is not. (A byte from
/// `0x8A` carries into the next one when `0x76` is added, but it is
/// flagged itself: only the lowest flag is used.)
#[inline(always)]
fn leading_digits(w: u64) -> usize {
    let t = w ^ (0x30 * ONES);
    let non_digit = (t.wrapping_add(0x76 * ONES) | t) & (0x80 * ONES);
    (non_digit.trailing_zeros() / 8) as usize
}

const ONES: u64 = 0x0101_0101_0101_0101;

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

/// The length of the value of parameter `bit` at the start of `rest` (it
/// ends at the next SP, CR, LF or the end of `rest`) when it is certainly
/// valid and holds no `|`: [`quick_value`] of it, with the common values
/// recognised in place by folded word compares instead of finding the
/// value's end first. (Every value it accepts is printable ASCII.)
#[inline(always)]
fn quick_value_len(bit: u8, rest: &[u8]) -> Option<usize> {
    // A value of `n` bytes must end at SP, CR, LF or the end of `rest`.
    let ends = |n: usize| rest.get(n).is_none_or(|&b| is_value_end(b)).then_some(n);
    // (Bit tests rather than a `match` or `==` tests, which the compiler
    // makes a jump table whose indirect branch the parameters of
    // consecutive lines mispredict; `bit` has one bit set.)
    if bit & P_NOTIFY != 0 {
        return notify_len(rest);
    }
    if bit & P_SIZE != 0 {
        // Digits only: the digit run must reach the delimiter.
        let d = rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len());
        return if (1..=20).contains(&d) { ends(d) } else { None };
    }
    if bit & P_BODY != 0 && starts_folded(rest, b"8bitmime") {
        return ends(8);
    }
    if bit & P_BODY != 0 && starts_folded(rest, b"7bit") {
        return ends(4);
    }
    if bit & P_RET != 0 && (starts_folded(rest, b"hdrs") || starts_folded(rest, b"full")) {
        return ends(4);
    }
    let v = rest
        .iter()
        .position(|&b| is_value_end(b))
        .unwrap_or(rest.len());
    let val = &rest[..v];
    (quick_value(bit, val) && !val.contains(&b'|')).then_some(v)
}

/// Does a parameter value end at `b` (SP, or the line end)?
#[inline(always)]
fn is_value_end(b: u8) -> bool {
    matches!(b, b' ' | b'\r' | b'\n')
}

/// The length of a valid NOTIFY value at the start of `rest` (it ends at the
/// next SP or the end): a comma-separated list of distinct `SUCCESS`,
/// `FAILURE`, `DELAY`, or `NEVER` alone; each item is told by its first byte.
#[inline(always)]
fn notify_len(rest: &[u8]) -> Option<usize> {
    let mut seen = 0u8;
    let mut at = 0;
    loop {
        let item = rest.get(at..)?;
        let (bit, n, ok) = match item.first()? | 0x20 {
            b'f' => (4, 7, starts_folded(item, b"failure")),
            b's' => (2, 7, starts_folded(item, b"success")),
            b'd' => (8, 5, starts_folded(item, b"delay")),
            b'n' => (1, 5, starts_folded(item, b"never")),
            _ => return None,
        };
        if !ok || seen & bit != 0 {
            return None;
        }
        seen |= bit;
        if seen & 1 != 0 && seen != 1 {
            return None;
        }
        at += n;
        match rest.get(at) {
            Some(b',') => at += 1,
            Some(&b) if !is_value_end(b) => return None,
            _ => return Some(at),
        }
    }
}

/// Does `hay` start with `word` ASCII case-insensitively? `word` is in lower
/// case; one word compare: the `0x20` bit is ORed into the bytes where `word`
/// has a letter (for letters exactly case folding), the others compare as
/// they are.
#[inline(always)]
fn starts_folded<const N: usize>(hay: &[u8], word: &[u8; N]) -> bool {
    const { assert!(N <= 8) };
    let Some(head) = hay.first_chunk::<N>() else {
        return false;
    };
    let (mut h, mut w, mut m) = ([0u8; 8], [0u8; 8], [0u8; 8]);
    for i in 0..N {
        debug_assert!(!word[i].is_ascii_uppercase());
        h[i] = head[i];
        w[i] = word[i];
        m[i] = if word[i].is_ascii_lowercase() {
            0x20
        } else {
            0
        };
    }
    u64::from_le_bytes(h) | u64::from_le_bytes(m) == u64::from_le_bytes(w)
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

    /// Pieces of parameter values: the recognised words in several cases,
    /// near misses, delimiters, and bytes whose `0x20` bit lies.
    const VALUE_PARTS: &[&[u8]] = &[
        b"8BITMIME",
        b"8bitmime",
        b"8BiTmImE",
        b"\x18BITMIME",
        b"7BIT",
        b"7bIt",
        b"\x17bit",
        b"BINARYMIME",
        b"FULL",
        b"hdrs",
        b"HDRS",
        b"SUCCESS",
        b"failure",
        b"FAILURE",
        b"DELAY",
        b"NEVER",
        b"never",
        b"Delay",
        b",",
        b" ",
        b"x",
        b"0",
        b"12",
        b"=",
        b"+2B",
        b"8BITMIM",
        b"FAILUR",
        b"\t",
        b"\x06",
        b"rfc822;",
        b"a@b",
        b"\xc3",
        b"E",
        b"SUCCESS,FAILURE",
        b"\r",
        b"\n",
        b"|",
        b"QQ",
        b"\x7f",
    ];

    proptest::proptest! {
        /// `quick_value_len` (words recognised in place) against finding the
        /// value's end and checking it with `quick_value`.
        #[test]
        fn value_lengths_match_the_value_check(
            parts in proptest::collection::vec(proptest::sample::select(VALUE_PARTS), 0..6),
            bit in proptest::sample::select(&[P_SIZE, P_BODY, P_RET, P_ENVID, P_AUTH, P_NOTIFY, P_ORCPT][..]),
        ) {
            let rest = parts.concat();
            let v = rest.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n')).unwrap_or(rest.len());
            let val = &rest[..v];
            let want = (quick_value(bit, val) && !val.contains(&b'|')).then_some(v);
            if want.is_some() {
                proptest::prop_assert!(val.iter().all(|b| (0x21..0x7F).contains(b)));
            }
            proptest::prop_assert_eq!(quick_value_len(bit, &rest), want, "{:?}", String::from_utf8_lossy(&rest));
        }
    }

    /// Parts of ESMTP MAIL/RCPT lines for the in-place parameter parser:
    /// the common values alone and in lists, duplicates, `|` in xtext
    /// values, odd bytes right after a value, alias local parts.
    const LINE_HEADS: &[&[u8]] = &[b"MAIL FROM:", b"RCPT TO:", b"rcpt to: "];
    const LINE_PATHS: &[&[u8]] = &[
        b"<a@b>",
        b"<user0.5@example.test>",
        b"<decode@x>",
        b"<UUDECODE@x>",
        b"<decode>",
        b"<uudecodex@x>",
        b"<decod@x>",
        b"<>",
        b"<a|b@x>",
    ];
    const LINE_PARAMS: &[&[u8]] = &[
        b" SIZE=2048",
        b" BODY=8BITMIME",
        b" body=7bit",
        b" NOTIFY=FAILURE",
        b" NOTIFY=failure,delay",
        b" NOTIFY=SUCCESS,SUCCESS",
        b" NOTIFY=NEVER",
        b" NOTIFY=never,DELAY",
        b" NOTIFY=FAILURE,",
        b" ENVID=a|b",
        b" AUTH=a|b",
        b" ORCPT=rfc822;a|b",
        b" ORCPT=rfc822;bob",
        b" ENVID=QQ",
        b" AUTH=<>",
        b" RET=HDRS",
        b"  ",
        b" BODY=8BITMIMEX",
        b" SIZE=20481",
        b"\t",
        b"\x01",
        b"\x80",
        b"|",
        b"\r",
    ];

    const LINE_ENDS: &[&[u8]] = &[b"\r\n", b"\n", b"\r", b" \r\n", b"\rx\r\n"];

    proptest::proptest! {
        /// Whole ESMTP MAIL/RCPT lines through an inspector with the fast
        /// paths and one without: identical verdicts, bytes, events, stats.
        #[test]
        fn in_place_parameters_match_the_streaming_path(
            head in proptest::sample::select(LINE_HEADS),
            path in proptest::sample::select(LINE_PATHS),
            params in proptest::collection::vec(proptest::sample::select(LINE_PARAMS), 0..4),
            end in proptest::sample::select(LINE_ENDS),
            sigs in 0u8..3,
        ) {
            use crate::Policy;
            let policy = Policy {
                signatures: match sigs {
                    0 => SignatureSet::default(),
                    1 => SignatureSet::all(),
                    _ => SignatureSet::empty(),
                },
                ..Policy::esmtp()
            };
            let mut line = [head, path].concat();
            for p in &params {
                line.extend_from_slice(p);
            }
            line.extend_from_slice(end);
            line.extend_from_slice(b"RCPT TO:<c@d>\r\n");
            let mut sides = crate::inspector::differential::pair(&policy);
            for (client, seg) in [
                (false, &b"220 x\r\n"[..]),
                (true, b"EHLO a\r\n"),
                (false, b"250-x\r\n250-PIPELINING\r\n250 DSN\r\n"),
                (true, &line),
            ] {
                let [fast, slow] = crate::inspector::differential::feed_both(&mut sides, client, seg);
                proptest::prop_assert_eq!(fast, slow, "{:?}", String::from_utf8_lossy(&line));
            }
        }
    }

    /// Parts of whole command lines for the pipelined-group differential
    /// test: the corpus shapes, the same in odd case, and their near misses.
    const GROUP_HEADS: &[&[u8]] = &[
        b"MAIL FROM:",
        b"mail from: ",
        b"MaIl FrOm:",
        b"RCPT TO:",
        b"rcpt to: ",
        b"rCpT tO:",
        b"SEND FROM:",
    ];
    const GROUP_PATHS: &[&[u8]] = &[
        b"<sender12@example.net>",
        b"<user0.12@example.test>",
        b"<user1.255@example.test>",
        b"<>",
        b"<decode@x>",
        b"<UUDecode@example.test>",
        b"<uudecodex@x>",
        b"<decode>",
        b"<a b@x>",
        b"<a!b@x>",
        b"<a}b@x>",
        b"<a~b@x>",
        b"<a|b@x>",
        b"<\"a b\"@x>",
        // Paths around the sixteen-byte blocks of the path scan (from the
        // byte after `<`), with odd bytes in the second block.
        b"<abcdefghijklmn@x>",
        b"<abcdefghijklmno@x>",
        b"<abcdefghijklmnop@x>",
        b"<abcdefghijklmnopqrstuvwxyz0123@x>",
        b"<abcdefghijklmnopqrstuvwxyz01234@x>",
        b"<abcdefghijklmnopq|s@x>",
        b"<abcdefghijklmnopq s@x>",
        b"<abcdefghijklmnopq\x7Fs@x>",
        b"<abcdefghijklmnopq}s@x>",
        b"<abcdefghijklmnopq\"s@x>",
        b"<a\x80b@x>",
        b"<a\tb@x>",
        b"<@relay:a@b>",
        b"a@b",
    ];
    const GROUP_PARAMS: &[&[u8]] = &[
        b" SIZE=2048",
        b" size=1",
        b" SIZE=1234567",
        b" SIZE=12345678",
        b" SIZE=123456789012345678901",
        b" SIZE=",
        b" SIZE=12a",
        b" BODY=8BITMIME",
        b" body=8bitmime",
        b" BoDy=8BiTmImE",
        b" BODY=8BITMIMEX",
        b" BODY=8BITMIM",
        b" BODY=7BIT",
        b" NOTIFY=FAILURE",
        b" notify=failure",
        b" NOTIFY=FAILURE,DELAY",
        b" NOTIFY=FAILUREX",
        b" NOTIFY=FAILUR",
        b" NOTIFY=NEVER",
        b"  NOTIFY=FAILURE",
        b" RET=HDRS",
        b" ENVID=a|b",
        b" ORCPT=rfc822;a@b",
        b" X=1",
        b"  ",
    ];
    const GROUP_ENDS: &[&[u8]] = &[b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b" \r\n"];
    const GROUP_PLAIN: &[&[u8]] = &[
        b"EHLO relay12.example.net\r\n",
        b"ehlo relay12.example.net\n",
        b"DATA\r\n",
        b"QUIT\r\n",
        b"NOOP\r\n",
        b"RSET\r\n",
        b"HELO a}b\r\n",
        // Arguments around the sixteen-byte blocks of the plain scan.
        b"EHLO abcdefghijklmno\r\n",
        b"EHLO abcdefghijklmnop\r\n",
        b"EHLO abcdefghijklmnopq\r\n",
        b"EHLO mx-0123456789abcdefghijklmnopq.example\r\n",
        b"EHLO abcdefghijklmnopq|s\r\n",
        b"EHLO abcdefghijklmnopq\x7Fs\r\n",
        b"EHLO abcdefghijklmnopq\x80s\r\n",
        b"HELO abcdefghijklmnopq~s\r\n",
        b"HELO a~b\r\n",
        b"VRFY root\r\n",
        b"EXPN x\r\n",
        b"DATA x\r\n",
    ];
    /// Bytes a mutation puts anywhere in a group.
    const ODD_BYTES: &[u8] = &[
        0, 1, b'\t', b'\r', b'\n', b' ', b'!', b'"', b'<', b'>', b'|', b'}', b'~', 0x7F, 0x80,
        0xFF, b'x', b'=', b',', b':',
    ];

    /// One line of a group: a MAIL/RCPT line from parts (with an optional
    /// long local part, for the length limits) or a plain line.
    fn group_line() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let path_line = (
            proptest::sample::select(GROUP_HEADS),
            proptest::sample::select(GROUP_PATHS),
            prop_oneof![Just(0usize), Just(0), Just(0), Just(490), Just(1010)],
            proptest::collection::vec(proptest::sample::select(GROUP_PARAMS), 0..4),
            proptest::sample::select(GROUP_ENDS),
        )
            .prop_map(|(head, path, long, params, end)| {
                let mut l = head.to_vec();
                if long > 0 && path.first() == Some(&b'<') {
                    l.push(b'<');
                    l.resize(l.len() + long, b'a');
                    l.extend_from_slice(&path[1..]);
                } else {
                    l.extend_from_slice(path);
                }
                for p in params {
                    l.extend_from_slice(p);
                }
                l.extend_from_slice(end);
                l
            });
        prop_oneof![
            3 => path_line,
            1 => proptest::sample::select(GROUP_PLAIN).prop_map(<[u8]>::to_vec),
        ]
    }

    /// The corpus's own command lines (issue #2), as the lines around the
    /// variant one in a group.
    const CORPUS_LINES: &[&[u8]] = &[
        b"MAIL FROM:<sender12@example.net> SIZE=2048 BODY=8BITMIME\r\n",
        b"RCPT TO:<user0.12@example.test> NOTIFY=FAILURE\r\n",
        b"RCPT TO:<user2.255@example.test> NOTIFY=FAILURE\r\n",
        b"RCPT TO:<bob@example.test>\r\n",
        b"NOOP\r\n",
        b"RSET\r\n",
    ];

    /// A pipelined group: corpus lines with one variant line among them.
    fn group() -> impl proptest::strategy::Strategy<Value = Vec<Vec<u8>>> {
        use proptest::prelude::*;
        (
            proptest::collection::vec(proptest::sample::select(CORPUS_LINES), 0..5),
            group_line(),
            any::<proptest::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(|(base, variant, at, data)| {
                let mut lines: Vec<Vec<u8>> = base.iter().map(|l| l.to_vec()).collect();
                lines.insert(at.index(lines.len() + 1), variant);
                if data {
                    lines.push(b"DATA\r\n".to_vec());
                }
                lines
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]
        /// Pipelined groups of corpus-shaped lines and their near misses
        /// (parameters in odd case, order and duplicates, odd bytes in
        /// paths, every line end, long lines, alias local parts), with one
        /// byte anywhere replaced by an odd one, cut into two segments at any
        /// point (withheld bytes presented again, like a retransmission):
        /// the fast paths and the streaming path alone must agree on every
        /// verdict, byte, event and counter.
        #[test]
        fn pipelined_groups_match_the_streaming_path(
            lines in group(),
            mutate in proptest::option::of((proptest::prelude::any::<proptest::sample::Index>(), proptest::sample::select(ODD_BYTES))),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            policy_kind in 0u8..5,
        ) {
            use crate::Policy;
            let policy = match policy_kind {
                0 => Policy::esmtp(),
                1 => Policy { signatures: SignatureSet::all(), ..Policy::esmtp() },
                2 => Policy { signatures: SignatureSet::empty(), ..Policy::esmtp() },
                3 => Policy::default(),
                // I3 fires on the third RCPT of a transaction.
                _ => Policy { signatures: SignatureSet::all(), spam_threshold: 2, ..Policy::esmtp() },
            };
            let mut group = lines.concat();
            if let Some((at, b)) = mutate {
                let at = at.index(group.len());
                group[at] = b;
            }
            let mut sides = crate::inspector::differential::pair(&policy);
            for (client, seg) in [
                (false, &b"220 mail.example.test ESMTP\r\n"[..]),
                (true, b"EHLO relay.example.net\r\n"),
                (false, b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250 DSN\r\n"),
            ] {
                let [fast, slow] = crate::inspector::differential::feed_both(&mut sides, client, seg);
                proptest::prop_assert_eq!(fast, slow);
            }
            let cut = cut.index(group.len() + 1);
            let mut pending: Vec<u8> = Vec::new();
            for piece in [&group[..cut], &group[cut..]] {
                pending.extend_from_slice(piece);
                let [fast, slow] = crate::inspector::differential::feed_both(&mut sides, true, &pending);
                proptest::prop_assert_eq!(&fast, &slow, "{:?}", String::from_utf8_lossy(&pending));
                if fast.closed {
                    return Ok(());
                }
                pending.drain(..fast.verdict.forward);
            }
        }
    }

    /// An inspector after the greeting and an EHLO (with PIPELINING
    /// advertised in ESMTP mode) under one of several policies: default
    /// ESMTP, every signature, none, SMTP, and a low I3 threshold.
    fn session_for_group(policy_kind: u8) -> (Inspector, SmtpStats) {
        use crate::Policy;
        let policy = match policy_kind {
            0 => Policy::esmtp(),
            1 => Policy {
                signatures: SignatureSet::all(),
                ..Policy::esmtp()
            },
            2 => Policy {
                signatures: SignatureSet::empty(),
                ..Policy::esmtp()
            },
            3 => Policy::default(),
            _ => Policy {
                signatures: SignatureSet::all(),
                spam_threshold: 2,
                ..Policy::esmtp()
            },
        };
        let mut insp = Inspector::new(&policy);
        let mut stats = SmtpStats::default();
        for (client, seg) in [
            (false, &b"220 mail.example.test ESMTP\r\n"[..]),
            (true, b"EHLO relay.example.net\r\n"),
            (
                false,
                b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250 DSN\r\n",
            ),
        ] {
            let mut bytes = seg.to_vec();
            if client {
                insp.handle_client(&mut bytes, &mut stats);
            } else {
                insp.handle_server(&mut bytes, &mut stats);
            }
        }
        (insp, stats)
    }

    /// Parts of the lines of [`lean_group`]: dense in what the lean tier
    /// decides (the commonest parameters, their duplicates and near misses,
    /// every line end, SP before `<`, alias local parts, RCPT runs, the DATA
    /// that ends a group).
    const LEAN_MAIL_HEADS: &[&[u8]] = &[
        b"MAIL FROM:",
        b"mail from:",
        b"MAIL FROM: ",
        b"SEND FROM:",
        b"MAIL FROM;",
    ];
    const LEAN_RCPT_HEADS: &[&[u8]] = &[b"RCPT TO:", b"rcpt to:", b"RCPT TO: ", b"RCPT T0:"];
    const LEAN_PARAMS: &[&[u8]] = &[
        b" SIZE=2048",
        b" SIZE=1",
        b" SIZE=1234567",
        b" SIZE=12345678",
        b" size=",
        b" BODY=8BITMIME",
        b" body=8bitmime",
        b" BODY=8BITMIMEX",
        b" BODY=7BIT",
        b" NOTIFY=FAILURE",
        b" notify=failure",
        b" NOTIFY=FAILUREX",
        b" NOTIFY=FAILURE,DELAY",
        b" RET=HDRS",
        b"  ",
        b"|",
    ];
    const LEAN_LOCAL: &[&[u8]] = &[
        b"user0.12",
        b"decode",
        b"UUDecode",
        b"uudecodex",
        b"Decoy",
        b"xxdeco",
        b"uupc",
        b"UUdecod",
        b"",
        b"a b",
        b"a\"b",
    ];
    const LEAN_ENDS: &[&[u8]] = &[b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b" \r\n", b"\rx"];
    const LEAN_PLAIN: &[&[u8]] = &[
        b"DATA\r\n",
        b"DATA\r\n",
        b"data\n",
        b"DATA\rx",
        b"DATA \r\n",
        b"QUIT\r\n",
        b"RSET\r\n",
        b"NOOP\n",
        b"VRFY x\r\n",
        b"EHLO ",
        b"HELO ",
    ];

    /// One line of [`lean_group`]: MAIL or RCPT from parts (a local part
    /// of any length around the sixteen-byte blocks), or a plain line (a
    /// hostname of any length).
    fn lean_line_strategy() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let path = (
            proptest::sample::select(LEAN_LOCAL),
            0usize..40,
            any::<bool>(),
        )
            .prop_map(|(local, pad, domain)| {
                let mut p = b"<".to_vec();
                p.extend_from_slice(local);
                p.resize(p.len() + pad, b'x');
                if domain {
                    p.extend_from_slice(b"@example.test");
                }
                p.push(b'>');
                p
            });
        let path_line = (
            any::<bool>(),
            any::<proptest::sample::Index>(),
            path,
            proptest::collection::vec(proptest::sample::select(LEAN_PARAMS), 0..4),
            proptest::sample::select(LEAN_ENDS),
        )
            .prop_map(|(rcpt, head, path, params, end)| {
                let heads = if rcpt {
                    LEAN_RCPT_HEADS
                } else {
                    LEAN_MAIL_HEADS
                };
                let mut l = heads[head.index(heads.len())].to_vec();
                l.extend_from_slice(&path);
                for p in params {
                    l.extend_from_slice(p);
                }
                l.extend_from_slice(end);
                l
            });
        let plain_line = (proptest::sample::select(LEAN_PLAIN), 0usize..40).prop_map(|(l, n)| {
            let mut l = l.to_vec();
            if l.ends_with(b" ") {
                l.extend((0..n).map(|i| b"abcdefghij.-"[i % 12]));
                l.extend_from_slice(b"\r\n");
            }
            l
        });
        prop_oneof![4 => path_line, 1 => plain_line]
    }

    /// A group of one to six such lines (RCPT runs are common: half the
    /// path lines are RCPT).
    fn lean_group() -> impl proptest::strategy::Strategy<Value = Vec<Vec<u8>>> {
        proptest::collection::vec(lean_line_strategy(), 1..7)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// [`lean_tier_takes_only_what_general_line_takes`] on [`lean_group`]s.
        #[test]
        fn lean_tier_matches_general_line_on_dense_groups(
            lines in lean_group(),
            mutate in proptest::option::of((proptest::prelude::any::<proptest::sample::Index>(), proptest::sample::select(ODD_BYTES))),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            policy_kind in 0u8..5,
        ) {
            check_lean_against_general(&lines, mutate, cut, policy_kind)?;
        }
    }

    /// The body of the lean-tier differential tests: see
    /// [`lean_tier_takes_only_what_general_line_takes`].
    fn check_lean_against_general(
        lines: &[Vec<u8>],
        mutate: Option<(proptest::sample::Index, u8)>,
        cut: proptest::sample::Index,
        policy_kind: u8,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let mut seg = lines.concat();
        if let Some((at, b)) = mutate {
            let at = at.index(seg.len());
            seg[at] = b;
        }
        // Mostly whole groups; otherwise cut anywhere.
        let keep = cut.index(2 * seg.len() + 2);
        seg.truncate(keep.max(1));
        lean_agrees_with_general(&seg, policy_kind)
    }

    /// The check of [`check_lean_against_general`] on one segment.
    fn lean_agrees_with_general(
        seg: &[u8],
        policy_kind: u8,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let (insp, stats) = session_for_group(policy_kind);
        if !(insp.fast_lines_allowed() && insp.may_start_line()) {
            return Ok(());
        }
        let (mut lean, mut lean_stats) = (insp.clone(), stats);
        let (mut general, mut general_stats) = (insp.clone(), stats);
        let n = seg.len() - lean.lean_line(seg, &mut lean_stats);
        let mut i = 0;
        while i < n {
            proptest::prop_assert!(
                general.may_start_line(),
                "{:?}",
                String::from_utf8_lossy(seg)
            );
            let line = general.general_line(&seg[i..]);
            proptest::prop_assert!(
                line.is_some(),
                "lean took a line general_line does not: {:?}",
                String::from_utf8_lossy(&seg[i..])
            );
            let Some(line) = line else { break };
            general.accept_line(line, &mut general_stats);
            i += line.total;
        }
        proptest::prop_assert_eq!(i, n, "{:?}", String::from_utf8_lossy(seg));
        proptest::prop_assert_eq!(format!("{lean:?}"), format!("{general:?}"));
        proptest::prop_assert_eq!(lean_stats, general_stats);
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// The lean tier (`lean_line`: the leaves, the RCPT runs, the DATA
        /// that ends a group, the tail calls to the full variants) against
        /// the second tier (`general_line`, then `accept_line`) line by line
        /// on a copy of the same session: the lean tier may take fewer lines
        /// (0 = none, nothing changed), but every line it takes the second
        /// tier takes too, with the same length,
        /// and both leave the same inspector state (every field) and
        /// counters. Groups of corpus lines and near misses, one byte
        /// replaced anywhere, cut anywhere (the last line may end the
        /// segment, or be incomplete).
        #[test]
        fn lean_tier_takes_only_what_general_line_takes(
            lines in group(),
            mutate in proptest::option::of((proptest::prelude::any::<proptest::sample::Index>(), proptest::sample::select(ODD_BYTES))),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            policy_kind in 0u8..5,
        ) {
            check_lean_against_general(&lines, mutate, cut, policy_kind)?;
        }
    }

    /// The lean tier against the second tier on MAIL/RCPT lines that end
    /// the segment, with an odd byte at every position of paths of every
    /// length around the sixteen-byte blocks and the thirty-two-byte window,
    /// where the leaf hands the line to its full variant at the segment's
    /// end. (Random groups reach the few segment ends that matter too
    /// seldom.)
    #[test]
    fn lean_tier_matches_general_line_at_every_path_byte() {
        let shapes: [(&[u8], &[u8]); 4] = [
            (b"MAIL FROM:<", b"> SIZE=1\r\n"),
            (b"RCPT TO:<", b">\r\n"),
            (b"RCPT TO:<", b"> NOTIFY=FAILURE\r\n"),
            (b"RCPT TO:<", b"> ORCPT=rfc822;a@b\r\n"),
        ];
        let mut checked = 0;
        for (head, tail) in shapes {
            for len in (0..4).chain(12..20).chain(28..36).chain(44..52) {
                for pos in 0..len {
                    for &odd in &[b'"', b'|', 0x80, b'\r', b'>', b' '] {
                        let mut seg = head.to_vec();
                        seg.extend((0..len).map(|i| if i == pos { odd } else { b'a' }));
                        seg.extend_from_slice(tail);
                        for policy_kind in [0, 1] {
                            let r = lean_agrees_with_general(&seg, policy_kind);
                            assert!(r.is_ok(), "{r:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 5000, "{checked}");
    }

    /// The lean tier's whole-shape parameter compares against the
    /// parameter loop and the line end after it, on every sequence of up
    /// to two parameters (one byte anywhere replaced by an odd one) and
    /// every line end: [`common_params_crlf`] may only decline, or end the
    /// line exactly where [`params_in_place`] finds its CRLF.
    #[test]
    fn whole_shape_params_agree_with_the_parameter_loop() {
        fn check<const RCPT: bool>(params: &[u8]) -> bool {
            let kind = if RCPT { ArgKind::Rcpt } else { ArgKind::Mail };
            let Some(next) = common_params_crlf::<RCPT>(params) else {
                return false;
            };
            let at = params_in_place(kind, params).expect("the loop takes them");
            assert_eq!(&params[at..at + 2], b"\r\n", "{params:?}");
            assert_eq!(next, &params[at + 2..], "{params:?}");
            true
        }
        let mut taken = [0, 0];
        let firsts = GROUP_PARAMS.iter().copied().chain([&b""[..]]);
        for first in firsts {
            for second in GROUP_PARAMS.iter().copied().chain([&b""[..]]) {
                for end in [&b"\r\nRCPT TO:<a@b>\r\n"[..], b"\r\n", b"\n", b"\r", b"\rx"] {
                    let params = [first, second, end].concat();
                    for at in 0..=params.len() {
                        for &odd in ODD_BYTES {
                            let mut p = params.clone();
                            if at < p.len() {
                                p[at] = odd;
                            }
                            taken[0] += usize::from(check::<false>(&p));
                            taken[1] += usize::from(check::<true>(&p));
                        }
                    }
                }
            }
        }
        // The corpus shapes are taken (and near misses, which differ only
        // where no parameter is compared).
        assert!(taken[0] > 1000 && taken[1] > 100, "{taken:?}");
    }

    /// The whole-parameter word compares against the parameter-by-parameter
    /// loop on the same bytes: [`common_param`] may only decline or agree.
    #[test]
    fn common_params_agree_with_the_parameter_loop() {
        let mut checked = 0;
        for kind in [ArgKind::Mail, ArgKind::Rcpt] {
            for p in GROUP_PARAMS {
                for end in [
                    &b"\r\nRCPT TO:<a@b>\r\n"[..],
                    b" SIZE=1\r\n",
                    b"\r",
                    b"x\r\n",
                    b"\n",
                ] {
                    for &odd in ODD_BYTES {
                        for at in 0..=p.len() {
                            let mut tok = [p, end].concat();
                            if at < p.len() {
                                tok[at] = odd;
                            }
                            if let Some((bit, n)) = common_param(kind, &tok) {
                                // The loop reads one parameter from `tok`
                                // and must end it at the same offset.
                                let kw = quick_keyword(kind, &tok[1..]).map(|(b, k)| (b, k + 2));
                                let (kbit, vstart) = kw.expect("keyword");
                                assert_eq!(kbit, bit, "{tok:?}");
                                let vlen = quick_value_len(bit, &tok[vstart..]);
                                assert_eq!(vlen.map(|v| vstart + v), Some(n), "{tok:?}");
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 500, "{checked}");
    }

    /// The index table against the bit table it is built from, and the
    /// class by index against the class by bit, under varied policies.
    #[test]
    fn verb_index_table_matches_the_bit_table() {
        for (i, (&(key, bit), &(ikey, idx))) in VERB4.iter().zip(VERB4_INDEX.iter()).enumerate() {
            assert_eq!(key, ikey, "slot {i}");
            if key != 0 {
                assert_eq!(idx, bit.trailing_zeros(), "slot {i}");
            }
        }
        for sigs in [
            SignatureSet::default(),
            SignatureSet::all(),
            SignatureSet::empty(),
        ] {
            for mode in [Mode::Smtp, Mode::Esmtp] {
                for allowed in [verbs::SMTP_VERBS, verbs::ESMTP_VERBS, ALL_VERBS] {
                    let fc = fast_classes(allowed, sigs, mode);
                    for (v, _) in verbs::VERBS.iter() {
                        let bit = v.bit();
                        assert_eq!(fc.of_index(bit.trailing_zeros() as usize), fc.of(bit));
                    }
                }
            }
        }
    }

    #[test]
    fn folded_words() {
        assert!(starts_folded(b"8BITMIME x", b"8bitmime"));
        assert!(!starts_folded(b"\x18BITMIME", b"8bitmime"));
        assert!(starts_folded(b"FaIlUrE", b"failure"));
        assert!(!starts_folded(b"FAILUR", b"failure"));
        assert!(!starts_folded(b"FAILURF", b"failure"));
    }

    /// The per-verb table the class sets replaced, as the reference.
    fn class_table(allowed: u32, sigs: SignatureSet) -> [u8; verbs::VERBS.len()] {
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
        of_verb
    }

    #[test]
    fn class_sets_match_the_per_verb_table() {
        let mut k: u64 = 0x9E37_79B9_7F4A_7C15;
        for round in 0..20_000u32 {
            k = k
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let allowed = match round % 4 {
                0 => verbs::SMTP_VERBS,
                1 => verbs::ESMTP_VERBS,
                2 => ALL_VERBS,
                _ => (k >> 20) as u32 & ALL_VERBS,
            };
            let mut sigs = SignatureSet::empty();
            for (i, s) in Signature::ALL.iter().enumerate() {
                if k >> i & 1 != 0 {
                    sigs.enable(*s);
                }
            }
            let mode = if k >> 60 & 1 != 0 {
                Mode::Esmtp
            } else {
                Mode::Smtp
            };
            let fc = fast_classes(allowed, sigs, mode);
            let want = class_table(allowed, sigs);
            for (i, (v, _)) in verbs::VERBS.iter().enumerate() {
                assert_eq!(fc.of(v.bit()), want[i], "{v:?} {allowed:#x} {sigs:?}");
            }
        }
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
