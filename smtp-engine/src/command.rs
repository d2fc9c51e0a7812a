//! The client command-line state machine (spec §2, §3, §5 entry, §6).
//!
//! One [`CmdLine`] describes the line in progress. [`Inspector::command_chunk`]
//! consumes the bytes of one line that lie in the current segment (or up to
//! the segment end) and applies, in stream order:
//!
//! - **withholding** at a line start when the reply FIFO says the client must
//!   wait (one outstanding command without PIPELINING, group-ending commands
//!   with it, a full FIFO) — §3.3, §6.3, §6.4;
//! - **framing**: CRLF or bare LF ends the line (bare LF counted), a bare CR
//!   inside a segment becomes SP, a segment-final CR stays pending, forbidden
//!   control bytes make the line illegal — §2.3;
//! - the **verb automaton** and masking from the divergence byte with
//!   decision 1 (every not-yet-forwarded content byte of an illegal line → `X`);
//! - **length limits** (F6), **signatures** F1–F4/I1–I3 and, in ESMTP mode,
//!   **parameter inspection** (§5) with reply-and-close on a violation;
//! - AUTH continuation lines after a `334` (§5.5).
//!
//! Runs of ordinary argument bytes are skipped with `memchr2` plus a
//! vectorised control-byte check instead of a per-byte loop.

use crate::events::{DebugEvent, Event};
use crate::framing::{self, is_forbidden, LIMIT_AUTH, LIMIT_DEFAULT, LIMIT_ESMTP_PATH};
use crate::inspector::{Client, CloseReason, Expect, Inspector, Step};
use crate::params::{is_base64, ArgKind, ArgParser, Violation};
use crate::policy::Mode;
use crate::signatures::{RcptLocalPart, Signature};
use crate::stats::SmtpStats;
use crate::verbs::{self, Verb, ALL_VERBS};

/// Sig verbs that are never legal.
const F3_VERBS: u32 = Verb::Wiz.bit() | Verb::Debug.bit();
const I2_VERBS: u32 = Verb::Expn.bit() | Verb::Vrfy.bit();

/// I1 (Smail) progress on a MAIL line.
const SMAIL_OFF: u8 = 0;
const SMAIL_WAIT_PIPE: u8 = 1;
const SMAIL_WAIT_SLASH: u8 = 2;

/// State of the client line in progress.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CmdLine {
    pub(crate) active: bool,
    /// An AUTH continuation line, not a command (§5.5).
    pub(crate) auth: bool,
    pub(crate) auth_bad: bool,
    pub(crate) len: u32,
    pub(crate) limit: u32,
    pub(crate) in_verb: bool,
    pub(crate) vpos: u8,
    pub(crate) cands: u32,
    pub(crate) verb: Option<Verb>,
    pub(crate) token: [u8; 16],
    pub(crate) token_len: u8,
    pub(crate) masked: bool,
    pub(crate) cr_pending: bool,
    pub(crate) tokens_done: bool,
    pub(crate) args: Option<ArgParser>,
    pub(crate) pipe_sig: Option<Signature>,
    pub(crate) smail: u8,
    pub(crate) local: Option<RcptLocalPart>,
}

impl CmdLine {
    pub(crate) fn new() -> Self {
        CmdLine {
            active: false,
            auth: false,
            auth_bad: false,
            len: 0,
            limit: LIMIT_DEFAULT,
            in_verb: true,
            vpos: 0,
            cands: ALL_VERBS,
            verb: None,
            token: [0; 16],
            token_len: 0,
            masked: false,
            cr_pending: false,
            tokens_done: false,
            args: None,
            pipe_sig: None,
            smail: SMAIL_OFF,
            local: None,
        }
    }

    pub(crate) fn reset(&mut self) {
        *self = CmdLine::new();
    }

    /// Can the argument run be skipped with memchr (nothing parses it byte by byte)?
    #[inline]
    fn plain_args(&self) -> bool {
        !self.in_verb
            && !self.auth
            && self.args.is_none()
            && self.local.is_none()
            && self.smail == SMAIL_OFF
    }
}

/// Per-chunk debug bookkeeping (only used when `debug` is on).
#[derive(Clone, Copy, Default)]
struct Dbg {
    len0: u32,
    verb_bytes: u32,
    verb_len: u32,
    matched: Option<u8>,
}

impl Inspector {
    /// Process the bytes of the current command line that lie in `buf[start..]`:
    /// the whole-line fast path when a line starts, else the streaming path
    /// (kept out of line so the common case pays for no set-up it does not use).
    #[inline(always)]
    pub(crate) fn command_chunk(
        &mut self,
        buf: &mut [u8],
        start: usize,
        stats: &mut SmtpStats,
    ) -> Step {
        if !self.line.active {
            if !self.may_start_line() {
                return Step::Withhold;
            }
            if let Some(next) = self.command_line_fast(buf, start, stats) {
                return Step::Next(next);
            }
            self.begin_line();
        }
        self.command_chunk_slow(buf, start, stats)
    }

    /// The streaming path: the bytes of an active line in `buf[start..]`.
    #[inline(never)]
    fn command_chunk_slow(&mut self, buf: &mut [u8], start: usize, stats: &mut SmtpStats) -> Step {
        let len = buf.len();
        let chunk = start;
        let mut i = start;
        let mut dbg = Dbg {
            len0: self.line.len,
            ..Dbg::default()
        };

        if self.line.cr_pending {
            self.line.cr_pending = false;
            self.line.len += 1;
            if buf[i] == b'\n' {
                if let Some(s) = self.over_limit(stats) {
                    return s;
                }
                return self.line_end(buf, chunk, i, i + 1, false, &dbg, stats);
            }
            // The CR already forwarded was a bare CR: the rest of the line is illegal (§2.3).
            self.line.len -= 1;
            if self.line.auth {
                self.line.auth_bad = true;
            } else if !self.line.masked {
                if let Some(s) = self.make_illegal(buf, chunk, i, stats) {
                    return s;
                }
            }
        }

        while i < len {
            // Fast path: a run of argument bytes nobody parses byte by byte.
            if self.line.plain_args() {
                let end = framing::next_eol(buf, i).unwrap_or(len);
                if end > i {
                    let run_len = (end - i) as u32;
                    if self.line.len + run_len > self.line.limit
                        && self.sigs.contains(Signature::F6OverlongCommand)
                    {
                        return self.sig_close(Signature::F6OverlongCommand, stats);
                    }
                    if let Some(sig) = self.line.pipe_sig {
                        if memchr::memchr(b'|', &buf[i..end]).is_some() {
                            return self.sig_close(sig, stats);
                        }
                    }
                    if !self.line.masked {
                        if let Some(k) = framing::first_forbidden(&buf[i..end]) {
                            if let Some(s) = self.make_illegal(buf, chunk, i + k, stats) {
                                return s;
                            }
                        }
                    }
                    if self.line.masked {
                        buf[i..end].fill(b'X');
                    }
                    self.line.len += run_len;
                    i = end;
                    if i == len {
                        break;
                    }
                }
            }

            // Fast path: the bulk of a MAIL/RCPT path, which the ESMTP parser
            // only needs to record.
            if !self.line.in_verb
                && !self.line.masked
                && self.line.local.is_none()
                && self.line.smail == SMAIL_OFF
            {
                if let Some(a) = self.line.args.as_mut() {
                    let n = a.skip_run(&buf[i..]);
                    if n > 0 {
                        self.line.len += n as u32;
                        if let Some(s) = self.over_limit(stats) {
                            return s;
                        }
                        i += n;
                        if i == len {
                            break;
                        }
                    }
                }
            }

            let mut b = buf[i];
            self.line.len += 1;
            if let Some(s) = self.over_limit(stats) {
                return s;
            }
            let mut bare_cr = false;
            if b == b'\n' {
                return self.line_end(buf, chunk, i, i + 1, true, &dbg, stats);
            }
            if b == b'\r' {
                if i + 1 < len {
                    if buf[i + 1] == b'\n' {
                        self.line.len += 1;
                        if let Some(s) = self.over_limit(stats) {
                            return s;
                        }
                        return self.line_end(buf, chunk, i, i + 2, false, &dbg, stats);
                    }
                    bare_cr = true;
                    b = b' ';
                } else {
                    // CR at the segment end: its fate is decided by the next byte.
                    self.line.len -= 1;
                    if let Some(s) = self.finish_tokens(buf, chunk, i, stats) {
                        return s;
                    }
                    self.line.len += 1;
                    self.line.cr_pending = true;
                    i += 1;
                    break;
                }
            }

            if self.line.in_verb {
                if b == b' ' {
                    if let Some(s) = self.verb_end(buf, chunk, i, stats) {
                        return s;
                    }
                } else {
                    dbg.verb_bytes += 1;
                    dbg.verb_len = self.line.len;
                    if (self.line.token_len as usize) < self.line.token.len() {
                        self.line.token[self.line.token_len as usize] = b;
                        self.line.token_len += 1;
                    }
                    let pos = self.line.vpos as usize;
                    self.line.vpos = self.line.vpos.saturating_add(1);
                    self.line.cands = verbs::step(self.line.cands, pos, b);
                    if !self.line.masked {
                        if self.line.cands & self.allowed == 0 {
                            if let Some(s) = self.make_illegal(buf, chunk, i, stats) {
                                return s;
                            }
                        } else if let Some(v) =
                            Verb::from_bits(verbs::exact(self.line.cands & self.allowed, pos + 1))
                        {
                            dbg.matched = Some(v.id());
                        }
                    }
                    if self.line.masked {
                        buf[i] = b'X';
                    }
                    i += 1;
                    continue;
                }
            } else if let Some(s) = self.arg_byte(buf, chunk, i, b, stats) {
                return s;
            }

            if self.line.masked {
                buf[i] = b'X';
            } else if bare_cr {
                buf[i] = b' ';
                stats.bare_cr_rewritten += 1;
            }
            i += 1;
        }
        if self.debug {
            self.debug_chunk(&dbg, false, stats);
        }
        Step::Next(i)
    }

    /// Start a line (the state was reset when the previous line ended).
    fn begin_line(&mut self) {
        self.line.active = true;
        if self.auth_cont {
            self.auth_cont = false;
            self.line.auth = true;
            self.line.in_verb = false;
            self.line.limit = LIMIT_AUTH;
        }
    }

    #[inline]
    fn over_limit(&mut self, stats: &mut SmtpStats) -> Option<Step> {
        if self.line.len > self.line.limit && self.sigs.contains(Signature::F6OverlongCommand) {
            return Some(self.sig_close(Signature::F6OverlongCommand, stats));
        }
        None
    }

    /// The line becomes illegal at `at`: mask its unforwarded bytes before `at`
    /// (decision 1); the caller masks `at` itself and everything after.
    ///
    /// In legacy mode the line is reset instead, at its verb delimiter (so that
    /// a signature verb is still recognised first) or at its end.
    fn make_illegal(
        &mut self,
        buf: &mut [u8],
        chunk: usize,
        at: usize,
        stats: &mut SmtpStats,
    ) -> Option<Step> {
        if self.legacy && !self.line.in_verb {
            return Some(self.legacy_reset(stats));
        }
        self.line.masked = true;
        self.line.args = None;
        buf[chunk..at].fill(b'X');
        None
    }

    /// Legacy (pre-12.3(7)T): an illegal command resets the connection (§9.4).
    fn legacy_reset(&mut self, stats: &mut SmtpStats) -> Step {
        self.log_invalid_command(stats);
        stats.cmd_masked += 1;
        self.close(0, CloseReason::InvalidCommand, stats)
    }

    /// The verb's delimiter (SP, CR or LF) arrived at `at`.
    fn verb_end(
        &mut self,
        buf: &mut [u8],
        chunk: usize,
        at: usize,
        stats: &mut SmtpStats,
    ) -> Option<Step> {
        self.line.in_verb = false;
        let complete = verbs::exact(self.line.cands, self.line.vpos as usize);
        if complete & F3_VERBS != 0 && self.sigs.contains(Signature::F3ArchaicSendmail) {
            return Some(self.sig_close(Signature::F3ArchaicSendmail, stats));
        }
        if complete & I2_VERBS != 0 && self.sigs.contains(Signature::I2Reconnaissance) {
            self.sig_hit(Signature::I2Reconnaissance, stats);
        }
        if self.line.masked {
            return self.legacy.then(|| self.legacy_reset(stats));
        }
        let Some(verb) = Verb::from_bits(complete & self.allowed) else {
            return self.make_illegal(buf, chunk, at, stats);
        };
        self.line.verb = Some(verb);
        let esmtp = self.mode == Mode::Esmtp;
        match verb {
            Verb::Mail | Verb::Saml | Verb::Send | Verb::Soml => {
                if esmtp {
                    self.line.args = Some(ArgParser::new(ArgKind::Mail));
                    self.line.limit = LIMIT_ESMTP_PATH;
                }
                if self.sigs.contains(Signature::F2InvalidSender) {
                    self.line.pipe_sig = Some(Signature::F2InvalidSender);
                }
                if self.sigs.contains(Signature::I1SmailAttack) {
                    self.line.smail = SMAIL_WAIT_PIPE;
                }
            }
            Verb::Rcpt => {
                if esmtp {
                    self.line.args = Some(ArgParser::new(ArgKind::Rcpt));
                    self.line.limit = LIMIT_ESMTP_PATH;
                }
                if self.sigs.contains(Signature::F1InvalidRecipient) {
                    self.line.pipe_sig = Some(Signature::F1InvalidRecipient);
                }
                if self.sigs.contains(Signature::F4DecodeAlias) {
                    self.line.local = Some(RcptLocalPart::default());
                }
            }
            Verb::Etrn => self.line.args = Some(ArgParser::new(ArgKind::Etrn)),
            Verb::Auth => {
                self.line.args = Some(ArgParser::new(ArgKind::Auth));
                self.line.limit = LIMIT_AUTH;
            }
            Verb::Bdat => self.line.args = Some(ArgParser::new(ArgKind::Bdat)),
            Verb::Ehlo if self.legacy => {
                // Pre-12.3(7)T: EHLO becomes NOOP, same length (§9.4). Bytes of the
                // verb forwarded in earlier segments cannot be rewritten any more.
                for (k, &c) in b"NOOP".iter().enumerate() {
                    if let Some(p) = (at + k).checked_sub(4) {
                        if p >= chunk {
                            buf[p] = c;
                        }
                    }
                }
            }
            _ => {}
        }
        None
    }

    /// One argument byte (after the verb delimiter; `b` is SP for a bare CR).
    #[inline]
    fn arg_byte(
        &mut self,
        buf: &mut [u8],
        chunk: usize,
        i: usize,
        b: u8,
        stats: &mut SmtpStats,
    ) -> Option<Step> {
        if self.line.auth {
            // AUTH continuation: base64 or a lone `*` (§5.5); never masked.
            let ok = is_base64(b) || (b == b'*' && self.line.len == 1);
            self.line.auth_bad |= !ok;
            if self.line.len == 2 && self.line.token.first() == Some(&b'*') {
                self.line.auth_bad = true;
            }
            self.push_token(b);
            return None;
        }
        if is_forbidden(b) && !self.line.masked {
            if let Some(s) = self.make_illegal(buf, chunk, i, stats) {
                return Some(s);
            }
        }
        if b == b'|' {
            if let Some(sig) = self.line.pipe_sig {
                return Some(self.sig_close(sig, stats));
            }
            if self.line.smail == SMAIL_WAIT_PIPE {
                self.line.smail = SMAIL_WAIT_SLASH;
            }
        } else if b == b'/' && self.line.smail == SMAIL_WAIT_SLASH {
            self.line.smail = SMAIL_OFF;
            self.sig_hit(Signature::I1SmailAttack, stats);
        }
        if let Some(l) = self.line.local.as_mut() {
            if l.feed(b) {
                return Some(self.sig_close(Signature::F4DecodeAlias, stats));
            }
            if l.done() {
                self.line.local = None;
            }
        }
        if let Some(a) = self.line.args.as_mut() {
            if let Err(v) = a.feed(b) {
                let t = a.token();
                let mut token = [0u8; 64];
                token[..t.len()].copy_from_slice(t);
                let n = t.len() as u8;
                return Some(self.param_violation(v, token, n, stats));
            }
        }
        None
    }

    fn push_token(&mut self, b: u8) {
        if (self.line.token_len as usize) < self.line.token.len() {
            self.line.token[self.line.token_len as usize] = b;
            self.line.token_len += 1;
        }
    }

    /// A line terminator starts at `at` (a pending CR, or CR/LF): end the verb
    /// and the last argument token and run the line-level checks. Runs once per line.
    fn finish_tokens(
        &mut self,
        buf: &mut [u8],
        chunk: usize,
        at: usize,
        stats: &mut SmtpStats,
    ) -> Option<Step> {
        if self.line.tokens_done {
            return None;
        }
        self.line.tokens_done = true;
        if self.line.auth {
            return None;
        }
        if self.line.in_verb {
            if let Some(s) = self.verb_end(buf, chunk, at, stats) {
                return Some(s);
            }
        }
        let verb = self.line.verb;
        if let Some(a) = self.line.args.as_mut() {
            if let Err(v) = a.finish() {
                // AUTH/ETRN/BDAT without an argument are logged with the verb.
                let t = if a.tok_len == 0 {
                    verb.map(|v| v.name()).unwrap_or(b"")
                } else {
                    a.token()
                };
                let mut token = [0u8; 64];
                token[..t.len()].copy_from_slice(t);
                let n = t.len() as u8;
                return Some(self.param_violation(v, token, n, stats));
            }
        }
        if let Some(l) = self.line.local.as_mut() {
            if l.finish() {
                return Some(self.sig_close(Signature::F4DecodeAlias, stats));
            }
        }
        None
    }

    fn param_violation(
        &mut self,
        v: Violation,
        token: [u8; 64],
        len: u8,
        stats: &mut SmtpStats,
    ) -> Step {
        stats.param_violations += 1;
        self.emit(Event::InvalidParameter { token, len }, stats);
        let reason = match v {
            Violation::Unsupported => CloseReason::UnsupportedParameter,
            Violation::Invalid => CloseReason::InvalidParameter,
        };
        self.close(0, reason, stats)
    }

    pub(crate) fn log_invalid_command(&mut self, stats: &mut SmtpStats) {
        let ev = Event::InvalidCommand {
            verb: self.line.token,
            verb_len: self.line.token_len,
            total_len: self.line.len,
        };
        self.emit(ev, stats);
    }

    /// The line's terminator starts at `at` and ends before `next`.
    #[allow(clippy::too_many_arguments)]
    fn line_end(
        &mut self,
        buf: &mut [u8],
        chunk: usize,
        at: usize,
        next: usize,
        bare_lf: bool,
        dbg: &Dbg,
        stats: &mut SmtpStats,
    ) -> Step {
        if let Some(s) = self.finish_tokens(buf, chunk, at, stats) {
            return s;
        }
        if bare_lf {
            stats.bare_lf_cmd += 1;
        }
        if self.line.auth {
            if self.line.auth_bad {
                stats.param_violations += 1;
                let mut token = [0u8; 64];
                let n = self.line.token_len as usize;
                token[..n].copy_from_slice(&self.line.token[..n]);
                self.emit(
                    Event::InvalidParameter {
                        token,
                        len: n as u8,
                    },
                    stats,
                );
                return self.close(0, CloseReason::InvalidParameter, stats);
            }
            self.fifo.push(Expect::AuthCont);
            self.line.reset();
            return Step::Next(next);
        }
        stats.cmd_lines += 1;
        self.cmd_index += 1;
        let expect = match (self.line.masked, self.line.verb) {
            (false, Some(v)) => self.verb_effects(v, stats),
            _ => {
                self.log_invalid_command(stats);
                stats.cmd_masked += 1;
                Expect::Masked
            }
        };
        self.fifo.push(expect);
        if self.debug {
            self.debug_chunk(dbg, true, stats);
        }
        self.line.reset();
        Step::Next(next)
    }

    /// State changes of a forwarded legal command; returns its reply expectation.
    pub(crate) fn verb_effects(&mut self, v: Verb, stats: &mut SmtpStats) -> Expect {
        match v {
            Verb::Mail
            | Verb::Saml
            | Verb::Send
            | Verb::Soml
            | Verb::Rset
            | Verb::Helo
            | Verb::Ehlo => self.reset_transaction(),
            Verb::Rcpt => self.count_rcpt(stats),
            Verb::Bdat => {
                let (size, last) = self
                    .line
                    .args
                    .as_ref()
                    .map(|a| (a.bdat_size, a.bdat_last))
                    .unwrap_or((0, false));
                self.bdat_remaining = size;
                self.bdat_last = last;
                if size > 0 {
                    self.client = Client::Bdat;
                } else {
                    self.bdat_chunk_done(stats);
                }
            }
            _ => {}
        }
        Expect::for_verb(v, self.legacy)
    }

    /// Would counting one more RCPT fire I3 (spec §10: the recipient
    /// count passes the spam threshold, the first time in this transaction,
    /// with the signature on)?
    #[inline(always)]
    pub(crate) fn rcpt_fires_spam(&self) -> bool {
        self.spam_fires_at(self.rcpt_count.saturating_add(1))
    }

    /// Does I3 fire when the recipient count becomes `count`?
    #[inline(always)]
    fn spam_fires_at(&self, count: u32) -> bool {
        count > self.spam_threshold && !self.spam_fired && self.sigs.contains(Signature::I3MailSpam)
    }

    /// The recipient count after one more RCPT when counting it is all
    /// there is to do: `None` when it would fire I3
    /// ([`Self::rcpt_fires_spam`]) or the count is at its ceiling (where
    /// [`Self::count_rcpt`] saturates). The lean tier's check: one add
    /// whose carry tells the ceiling, instead of a saturating add.
    #[inline(always)]
    pub(crate) fn quiet_rcpt_count(&self) -> Option<u32> {
        let n = self.rcpt_count.checked_add(1)?;
        (!self.spam_fires_at(n)).then_some(n)
    }

    /// One more RCPT in the transaction: I3 (Mail Spam) past the threshold.
    #[inline]
    pub(crate) fn count_rcpt(&mut self, stats: &mut SmtpStats) {
        let fires = self.rcpt_fires_spam();
        self.rcpt_count = self.rcpt_count.saturating_add(1);
        if fires {
            self.spam_fired = true;
            self.sig_hit(Signature::I3MailSpam, stats);
        }
    }

    fn debug_chunk(&mut self, dbg: &Dbg, at_end: bool, stats: &mut SmtpStats) {
        let state =
            (self.line.vpos as u16) * 16 + (self.line.cands & self.allowed).count_ones() as u16;
        if dbg.verb_bytes > 0 {
            self.emit(
                Event::Debug(DebugEvent::Verb {
                    cmd_len: dbg.verb_len,
                    match_len: dbg.verb_bytes,
                    state,
                }),
                stats,
            );
        }
        if let Some(id) = dbg.matched {
            self.emit(Event::Debug(DebugEvent::VerbMatch { id }), stats);
        }
        let param_bytes = (self.line.len - dbg.len0).saturating_sub(dbg.verb_bytes);
        if param_bytes > 0 {
            self.emit(
                Event::Debug(DebugEvent::Param {
                    cmd_len: self.line.len,
                    match_len: param_bytes,
                    state: if at_end { 3 } else { 2 },
                }),
                stats,
            );
        }
        if at_end {
            self.emit(Event::Debug(DebugEvent::ParamMatch { id: 6 }), stats);
            self.emit(
                Event::Debug(DebugEvent::EndOfCommandLine {
                    index: self.cmd_index,
                    len: self.line.len,
                }),
                stats,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Action, Inspector, Mode, Policy, SmtpStats};

    fn greeted(mode: Mode) -> (Inspector, SmtpStats) {
        let mut i = Inspector::new(&Policy {
            mode,
            ..Policy::default()
        });
        let mut st = SmtpStats::default();
        i.handle_server(&mut b"220 x\r\n".to_vec(), &mut st);
        (i, st)
    }

    fn send(mode: Mode, segs: &[&[u8]]) -> Vec<u8> {
        let (mut i, mut st) = greeted(mode);
        let mut out = Vec::new();
        for s in segs {
            let mut b = s.to_vec();
            let v = i.handle_client(&mut b, &mut st);
            assert_eq!(v.action, Action::Continue);
            out.extend_from_slice(&b[..v.forward]);
        }
        out
    }

    #[test]
    fn masking_examples_of_spec_2_5() {
        assert_eq!(send(Mode::Smtp, &[b"EXPN root\r\n"]), b"XXXXXXXXX\r\n");
        assert_eq!(send(Mode::Smtp, &[b"HE\0LO x\r\n"]), b"XXXXXXX\r\n");
        assert_eq!(send(Mode::Esmtp, &[b"STARTTLS\r\n"]), b"XXXXXXXX\r\n");
        assert_eq!(send(Mode::Smtp, &[b"\r\n"]), b"\r\n");
        assert_eq!(send(Mode::Smtp, &[b"HEL", b"X a\r\n"]), b"HELXXX\r\n");
        assert_eq!(send(Mode::Smtp, &[b"HELO", b"X a\r\n"]), b"HELOXXX\r\n");
        assert_eq!(
            send(Mode::Smtp, &[b"HELO a", b"\x01b\r\n"]),
            b"HELO aXX\r\n"
        );
        assert_eq!(send(Mode::Esmtp, &[b"E", b"XPN a\r\n"]), b"EXXXXX\r\n");
        assert_eq!(send(Mode::Smtp, &[b"helo x\r\n"]), b"helo x\r\n");
    }

    #[test]
    fn one_line_at_a_time_without_pipelining() {
        let (mut i, mut st) = greeted(Mode::Smtp);
        let mut b = b"NOOP\r\nNOOP\r\n".to_vec();
        assert_eq!(i.handle_client(&mut b, &mut st).forward, 6);
        assert_eq!(st.withheld_bytes, 6);
    }
}
