//! Server reply parsing (spec §7.1) and the actions tied to replies: popping
//! the reply FIFO (§6.1), entering DATA on `354` (§7.2), AUTH continuation on
//! `334` (§5.5), pipelining on a positive EHLO reply that kept PIPELINING
//! (§4.5), STARTTLS pass-through on `220` with allow-tls (§7.4), plus the
//! only reply rewrites: EHLO keyword masking (§4, via [`crate::ehlo`]), the
//! optional banner mask (§4.6) and the legacy `250`→`502` code rewrite (§9.4).
//!
//! Reply lines end at LF (CRLF or bare LF). A complete `NNN-`/`NNN ` line at
//! a line start takes the whole-line fast path (the code by one word, the line
//! end by SSE2 sixteen bytes at a time, inline): the single-line replies only
//! popped (and DATA's) in one tight loop over the segment
//! ([`Inspector::reply_lines_fast`]: head by one word, expectation by one
//! bit test, line end by one block, or the first and last eight bytes of a
//! short segment, or two blocks for the long greeting-sized lines); a
//! positive EHLO reply, its first line
//! included, as one run ([`Inspector::ehlo_keyword_lines`]: each keyword
//! line's head by one compare, its keyword and line end from two sixteen-byte
//! blocks, the keyword by one vector compare, [`crate::ehlo::Keywords`]; the
//! lines at the segment's end from a zero-padded copy of its last bytes);
//! any other line, and every line under debug or legacy, takes the byte-wise
//! path, which examines the first four bytes byte by byte and skips the rest
//! of an ordinary line. Differential property tests hold the two paths equal
//! (here, in `crate::ehlo`, and in `crate::reply_differential`).

use crate::ehlo::{keyword_set, KeywordBody, Keywords, Kw, KwMatch, Tally};
use crate::events::{DebugEvent, Event};
use crate::framing::{self, LIMIT_REPLY};
use crate::inspector::{Action, Client, Expect, Inspector, Phase, Step, Verdict};
use crate::policy::Mode;
use crate::stats::SmtpStats;

/// The expectations whose reply [`Inspector::reply_complete`] acts upon
/// beyond popping the FIFO (every other reply only pops it).
const ACTS_ON_REPLY: u32 = Expect::Ehlo.bit()
    | Expect::Data.bit()
    | Expect::Auth.bit()
    | Expect::AuthCont.bit()
    | Expect::StartTls.bit();

/// The expectations whose single-line reply [`Inspector::reply_lines_fast`]
/// takes itself: those only popped, and DATA (`354` enters DATA).
const QUIET_REPLY: u32 = !ACTS_ON_REPLY | Expect::Data.bit();

/// The expectations whose single-line reply [`Inspector::reply_lines_fast`]
/// takes itself in a session whose banner is masked or not (the greeting
/// only when not), as bits of [`crate::inspector::ReplyFifo::front_raw`]
/// (none set for an empty FIFO); kept by the inspector for the session.
pub(crate) const fn quiet_expectations(mask_banner: bool) -> u32 {
    let quiet = QUIET_REPLY & (crate::inspector::FIFO_EMPTY_BIT - 1);
    if mask_banner {
        quiet & !Expect::Greeting.bit()
    } else {
        quiet
    }
}

/// [`Inspector::reply_lines_fast`]: inspection stopped (allow-tls, the
/// server accepted STARTTLS); the whole segment passes.
pub(crate) const PASSTHROUGH: usize = usize::MAX;

/// [`Inspector::reply_lines_other`]: added to the offset of a line the fast
/// path did not take (a segment's offsets stay far below it), so that one
/// compare tells a stop, or [`PASSTHROUGH`], from the offset to go on at.
const STOPPED: usize = 1 << (usize::BITS - 1);

/// A reply line's head (`NNN-` or `NNN `): the code digits read as one word
/// (their values in bytes 0 to 2, so that a code is compared or decoded
/// without a loop) and the separator; `None` when it is no such head.
#[inline(always)]
fn reply_head(head: &[u8; 4]) -> Option<(u32, u8)> {
    let d = u32::from_le_bytes(*head) ^ 0x0030_3030;
    let digits = (d & 0x00F0_F0F0) | (d.wrapping_add(0x0006_0606) & 0x0010_1010) == 0;
    let sep = head[3];
    (digits && (sep == b' ' || sep == b'-')).then_some((d & 0x00FF_FFFF, sep))
}

/// Is `d`, a line's first four bytes as a little-endian word XOR `"000 "`,
/// a quiet line's head: bytes 0 to 2 at most 9 (digits) and byte 3 zero
/// (SP)? One add, one OR, one test: a byte at most 9 plus `0x76` (byte 3:
/// zero plus `0x7F`) stays below `0x80`, any other byte gets its high bit
/// set, or had it already (`| d`); a carry out of a byte happens only when
/// that byte has its high bit set, so it never hides a failing byte.
#[inline(always)]
const fn quiet_head(d: u32) -> bool {
    (d.wrapping_add(0x7F76_7676) | d) & 0x8080_8080 == 0
}

/// The digits word [`reply_head`] gives for `code`.
const fn code_digits(code: &[u8; 3]) -> u32 {
    (code[0] - b'0') as u32 | ((code[1] - b'0') as u32) << 8 | ((code[2] - b'0') as u32) << 16
}

/// A digits word of [`reply_head`] as the code's value.
#[inline(always)]
fn code_value(d: u32) -> u16 {
    (d & 0xFF) as u16 * 100 + (d >> 8 & 0xFF) as u16 * 10 + (d >> 16 & 0xFF) as u16
}

const CODE_421: u32 = code_digits(b"421");
const CODE_354: u32 = code_digits(b"354");
const CODE_250: u32 = code_digits(b"250");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Plain,
    Keyword,
    KeywordMasking,
    Banner,
}

/// State of the reply line in progress.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplyLine {
    len: u32,
    code: [u8; 3],
    sep: u8,
    /// Is this line the first of its reply?
    first: bool,
    /// Code of the reply's first line.
    reply_code: u16,
    body: Body,
    kw: KwMatch,
    saw_pipelining: bool,
}

impl ReplyLine {
    /// Is no reply open (no reply line partly seen, and the next line opens
    /// a reply)?
    #[inline(always)]
    pub(crate) fn at_reply_start(&self) -> bool {
        self.len == 0 && self.first
    }

    pub(crate) fn new() -> Self {
        ReplyLine {
            len: 0,
            code: [0; 3],
            sep: 0,
            first: true,
            reply_code: 0,
            body: Body::Plain,
            kw: KwMatch::new(0),
            saw_pipelining: false,
        }
    }
}

fn code_of(c: [u8; 3]) -> Option<u16> {
    if c.iter().all(u8::is_ascii_digit) {
        Some((c[0] - b'0') as u16 * 100 + (c[1] - b'0') as u16 * 10 + (c[2] - b'0') as u16)
    } else {
        None
    }
}

impl Inspector {
    /// Process server bytes of the current reply line from `start`: the
    /// whole-line fast path, else the byte-wise path (kept out of line so the
    /// common case pays for no register set-up it does not use).
    #[inline(always)]
    pub(crate) fn reply_chunk(
        &mut self,
        buf: &mut [u8],
        start: usize,
        stats: &mut SmtpStats,
    ) -> Step {
        match self.reply_line_fast(buf, start, stats) {
            Some(_) if self.phase == Phase::Passthrough => Step::Done(Verdict {
                forward: buf.len(),
                action: Action::StopInspection,
            }),
            Some(next) => Step::Next(next),
            None => self.reply_chunk_slow(buf, start, stats),
        }
    }

    /// The byte-wise reply path (any line, any segmentation).
    #[inline(never)]
    fn reply_chunk_slow(&mut self, buf: &mut [u8], start: usize, stats: &mut SmtpStats) -> Step {
        let len = buf.len();
        let len0 = self.reply.len;
        let mut i = start;
        // Line head: the three code digits and the separator.
        while i < len && self.reply.len < 4 {
            let b = buf[i];
            let p = self.reply.len as usize;
            self.reply.len += 1;
            i += 1;
            if b == b'\n' {
                if p == 3 {
                    self.reply.sep = b'\n';
                }
                return self.reply_line_end(buf, i, len0, stats);
            }
            if p < 3 {
                self.reply.code[p] = b;
                if p == 2 {
                    self.head_complete(buf, start, i);
                }
            } else {
                self.reply.sep = b;
                self.choose_body();
            }
        }
        let body_from = i;
        while i < len {
            match self.reply.body {
                Body::Plain => match framing::find_byte(b'\n', &buf[i..]) {
                    Some(k) => {
                        self.reply.len += (k + 1) as u32;
                        return self.reply_line_end(buf, i + k + 1, len0, stats);
                    }
                    None => {
                        self.reply.len += (len - i) as u32;
                        i = len;
                    }
                },
                Body::Keyword => {
                    let b = buf[i];
                    match self.reply.kw.feed(b) {
                        Kw::Open => {}
                        Kw::Accepted { pipelining } => {
                            self.reply.saw_pipelining |= pipelining;
                            self.reply.body = Body::Plain;
                        }
                        Kw::Masked => {
                            stats.ehlo_keywords_masked += 1;
                            buf[body_from..i].fill(b'X');
                            self.reply.body = Body::KeywordMasking;
                            continue;
                        }
                    }
                    self.reply.len += 1;
                    i += 1;
                    if b == b'\n' {
                        return self.reply_line_end(buf, i, len0, stats);
                    }
                }
                Body::KeywordMasking | Body::Banner => {
                    let b = buf[i];
                    self.reply.len += 1;
                    i += 1;
                    if b == b'\n' {
                        return self.reply_line_end(buf, i, len0, stats);
                    }
                    if b != b'\r' {
                        buf[i - 1] = if self.reply.body == Body::Banner {
                            b'*'
                        } else {
                            b'X'
                        };
                    }
                }
            }
        }
        Step::Next(i)
    }

    /// The three code digits are known (`end` is just past the third).
    fn head_complete(&mut self, buf: &mut [u8], start: usize, end: usize) {
        if self.reply.first {
            self.reply.reply_code = code_of(self.reply.code).unwrap_or(0);
        }
        // Legacy: the reply to an EHLO turned NOOP must not look positive (§9.4).
        if self.legacy
            && self.fifo.front() == Some(Expect::EhloAsNoop)
            && &self.reply.code == b"250"
        {
            self.reply.code = *b"502";
            for (k, &c) in b"502".iter().enumerate() {
                let p = end - 3 + k;
                if p >= start && p < end {
                    buf[p] = c;
                }
            }
        }
    }

    /// Decide how the rest of the line is handled once its separator is known.
    fn choose_body(&mut self) {
        let r = &mut self.reply;
        r.body = Body::Plain;
        if r.sep != b'-' && r.sep != b' ' {
            return;
        }
        match self.fifo.front() {
            Some(Expect::Ehlo)
                if !r.first
                    && self.mode == Mode::Esmtp
                    && r.reply_code / 100 == 2
                    && code_of(r.code).is_some() =>
            {
                r.body = Body::Keyword;
                r.kw = KwMatch::new(keyword_set(self.allow_tls, self.bdat));
            }
            Some(Expect::Greeting) if r.first && self.mask_banner => r.body = Body::Banner,
            _ => {}
        }
    }

    /// A reply line ended just before `next`.
    fn reply_line_end(
        &mut self,
        buf: &mut [u8],
        next: usize,
        len0: u32,
        stats: &mut SmtpStats,
    ) -> Step {
        let line_len = self.reply.len;
        if line_len > LIMIT_REPLY {
            stats.reply_overlong += 1;
        }
        let code = code_of(self.reply.code).filter(|_| line_len >= 4);
        let valid = code.is_some() && matches!(self.reply.sep, b' ' | b'-' | b'\r' | b'\n');
        let last = valid && self.reply.sep != b'-';
        if !valid {
            stats.reply_malformed += 1;
        }
        let front = self.fifo.front();
        if self.debug {
            let acted = last && front.is_some_and(Expect::acted_upon);
            self.emit(Event::Debug(DebugEvent::ReplyType), stats);
            self.emit(
                Event::Debug(DebugEvent::Reply {
                    len: line_len,
                    match_len: line_len - len0,
                    state: if acted { 18 } else { 3 },
                }),
                stats,
            );
            self.emit(Event::Debug(DebugEvent::ReplyMatch { id: 13 }), stats);
            if acted {
                self.emit(Event::Debug(DebugEvent::ReplyMatch { id: 10 }), stats);
            }
            self.emit(
                Event::Debug(DebugEvent::EndOfReplyLine {
                    index: self.reply_index,
                    len: line_len,
                }),
                stats,
            );
        }
        self.reply_index += 1;
        let first = self.reply.first;
        let saw_pipelining = self.reply.saw_pipelining;
        let reply_code = self.reply.reply_code;
        self.reply = ReplyLine::new();
        if !last {
            // Continuation (or malformed line treated as one, spec §7.1). A
            // malformed first line leaves the next line to open the reply
            // (with no code yet, as every line that opens one: the quiet
            // lines of `reply_lines_fast` rely on it).
            self.reply.first = first && !valid;
            if !self.reply.first {
                self.reply.reply_code = reply_code;
            }
            self.reply.saw_pipelining = saw_pipelining;
            return Step::Next(next);
        }
        if self.reply_complete(reply_code, saw_pipelining, stats) {
            return Step::Done(Verdict {
                forward: buf.len(),
                action: Action::StopInspection,
            });
        }
        Step::Next(next)
    }

    /// The last line of a reply (code `code`) ended: pop the FIFO and act on
    /// the reply (spec §6.1, §7.2, §4.5, §5.5, §7.4). `true` when inspection
    /// stopped (allow-tls: the server accepted STARTTLS); the caller then
    /// forwards the whole segment with [`Action::StopInspection`].
    #[inline(never)]
    fn reply_complete(&mut self, code: u16, saw_pipelining: bool, stats: &mut SmtpStats) -> bool {
        if code == 421 {
            self.closing = true;
        }
        match self.fifo.pop() {
            None => stats.reply_unsolicited += 1,
            Some(Expect::Ehlo) => {
                self.pipelining = code / 100 == 2 && saw_pipelining && self.mode == Mode::Esmtp;
            }
            Some(Expect::Data) => {
                if code == 354 {
                    self.client = Client::Data;
                    self.data.start();
                }
            }
            Some(Expect::Auth) | Some(Expect::AuthCont) => self.auth_cont = code == 334,
            Some(Expect::StartTls) => {
                if code == 220 {
                    self.phase = Phase::Passthrough;
                    stats.tls_passthrough += 1;
                    self.emit(Event::TlsStarted, stats);
                    return true;
                }
            }
            Some(_) => {}
        }
        false
    }

    /// Whole-line fast path: a complete `NNN-`/`NNN ` line starting at
    /// `start`, at a line start, that is no masked banner (no legacy
    /// rewrite, no debug either: the fast paths are off then). Lines 2.. of
    /// a positive EHLO reply have their keyword checked, and masked in place
    /// when unsupported. Does exactly what the byte-wise path does for such a
    /// line: the offset after it (if inspection stopped there, the phase says
    /// so), or `None` (nothing changed) for anything else.
    #[inline]
    pub(crate) fn reply_line_fast(
        &mut self,
        buf: &mut [u8],
        start: usize,
        stats: &mut SmtpStats,
    ) -> Option<usize> {
        if self.reply.len != 0 || !self.fast {
            return None;
        }
        self.reply_line_fast_at_start(buf, start, stats)
    }

    /// [`Self::reply_line_fast`] where the caller knows that a line starts
    /// at `start` (no partial line pending) and the fast paths are on.
    #[inline(always)]
    pub(crate) fn reply_line_fast_at_start(
        &mut self,
        buf: &mut [u8],
        start: usize,
        stats: &mut SmtpStats,
    ) -> Option<usize> {
        let (d, sep) = reply_head(chunk_at::<4>(buf, start)?)?;
        let first = self.reply.first;
        let front = self.fifo.front();
        let k = match front {
            // Lines 2.. of a positive ESMTP EHLO reply: the keyword, as a
            // whole (`choose_body` and the keyword matcher of the byte-wise
            // path, for a complete line), then the line end from where the
            // keyword scan stopped (often right at the CR LF).
            // Its first line too, when a `2xx-` line opens the reply.
            Some(Expect::Ehlo)
                if self.mode == Mode::Esmtp
                    && if first {
                        sep == b'-' && d & 0xFF == 2
                    } else {
                        self.reply.reply_code / 100 == 2
                    } =>
            {
                return self.ehlo_keyword_lines(buf, start, d, first, stats);
            }
            // A masked banner goes through the masker.
            Some(Expect::Greeting) if first && self.mask_banner => return None,
            // Any other line is forwarded as it is: only its end matters.
            _ => find_lf_from(buf, start)? - (start + 4),
        };
        let line_len = 4 + k + 1;
        if line_len > LIMIT_REPLY as usize {
            stats.reply_overlong += 1;
        }
        self.reply_index += 1;
        let next = start + line_len;
        // At a line start the line state is fresh (as `ReplyLine::new`) except
        // for these three, which carry the reply across its lines.
        if sep == b'-' {
            if first {
                self.reply.first = false;
                self.reply.reply_code = code_value(d);
            }
            return Some(next);
        }
        // The reply's code, in decimal only where it is needed.
        let (is_421, code) = if first {
            (d == CODE_421, None)
        } else {
            let c = self.reply.reply_code;
            (c == 421, Some(c))
        };
        let saw_pipelining = self.reply.saw_pipelining;
        self.reply.first = true;
        self.reply.reply_code = 0;
        self.reply.saw_pipelining = false;
        // `reply_complete`, with its common outcome (a reply nothing acts
        // upon: MAIL, RCPT, RSET, NOOP, ...) decided by one bit test.
        if is_421 {
            self.closing = true;
        }
        match front {
            Some(e) if e.bit() & ACTS_ON_REPLY == 0 => self.fifo.drop_front(e),
            // The end of the DATA command's reply (`reply_complete`, inline).
            Some(Expect::Data) => {
                self.fifo.drop_front(Expect::Data);
                if code.unwrap_or_else(|| code_value(d)) == 354 {
                    self.client = Client::Data;
                    self.data.start();
                }
            }
            _ => {
                let code = code.unwrap_or_else(|| code_value(d));
                self.reply_complete(code, saw_pipelining, stats);
            }
        }
        Some(next)
    }

    /// The whole-line fast path over a segment from its start (a line start
    /// where no reply is open, fast paths on, inspecting): one tight loop
    /// over the common lines, the single-line replies (`NNN ` as the first
    /// line of its reply) whose expectation is only popped — MAIL, RCPT,
    /// RSET, NOOP, QUIT, end of data, an unmasked greeting — or is DATA's (a
    /// `354` enters DATA), which asks nothing of the line but its code and
    /// its end; every other line, and the rest of its reply, through
    /// [`Self::reply_lines_other`] out of line. The offset after the
    /// last line taken ([`PASSTHROUGH`] when inspection stopped: allow-tls
    /// and the `220` to STARTTLS).
    ///
    /// Per quiet line: the head (three digits and SP) by one word test, the
    /// expectation by one bit test of the session's quiet set
    /// (`Inspector::quiet_expect`; an empty FIFO has no bit in it), the line
    /// end by [`quiet_line_end`] (one block for the common short line), the
    /// completion without the code unless it is not 2xx (only a `421` or a
    /// `354` asks more), and no reply state written: a reply's first line
    /// already carries no code and no PIPELINING. No reply is open at a
    /// quiet line: the caller starts the loop only then, a quiet line
    /// leaves none open, any other line is taken through its reply's end.
    #[inline(always)]
    pub(crate) fn reply_lines_fast(&mut self, buf: &mut [u8], stats: &mut SmtpStats) -> usize {
        debug_assert!(self.reply.at_reply_start());
        let mut line = 0;
        // (The rest of the segment as a slice: one length test per block.)
        while let Some(rest) = buf.get(line..) {
            let Some(head) = rest.first_chunk::<4>() else {
                break;
            };
            // Three code digits and SP by one word: `d` holds the digits'
            // values in bytes 0 to 2 and zero for the SP (a flag: an
            // `Option` in the guard costs this loop more).
            let d = u32::from_le_bytes(*head) ^ 0x2030_3030;
            let quiet_head = quiet_head(d);
            // The front expectation as its bit number (none: a bit no
            // expectation has, so no test of its own), in the expectations
            // a quiet line may answer (the session's policy decided them:
            // `quiet_expectations`; read here, not kept in a register the
            // loop would spill).
            let e = self.fifo.front_raw();
            if quiet_head && self.quiet_expect >> e & 1 != 0 {
                let Some(lf) = quiet_line_end(rest, stats) else {
                    break;
                };
                // `reply_line_fast_at_start` for a first line that is
                // also the last: the reply's completion. (The reply
                // state is already what completion leaves: a first
                // line carries no code and no PIPELINING.)
                debug_assert!(
                    self.reply.first && self.reply.reply_code == 0 && !self.reply.saw_pipelining
                );
                self.reply_index += 1;
                self.fifo.drop_front_raw(e);
                // Only a code other than 2xx asks more: 421 closes, a
                // 354 to DATA enters DATA.
                if d & 0xFF != 2 {
                    self.quiet_reply_code(e, d & 0x00FF_FFFF);
                }
                line += lf + 1;
                // The common segment ends with its quiet line. (Never
                // beyond: the LF is in the segment. `>=` tells the
                // compiler so.)
                if line >= buf.len() {
                    return buf.len();
                }
                continue;
            }
            // Any other line, through the end of its reply (no quiet line
            // comes within one), out of line.
            let next = self.reply_lines_other(buf, line, u32::from_le_bytes(*head), stats);
            if next >= STOPPED {
                return if next == PASSTHROUGH {
                    PASSTHROUGH
                } else {
                    next - STOPPED
                };
            }
            line = next;
            // (The common EHLO reply ends its segment. Never beyond: `>=`
            // tells the compiler so, as above.)
            if line >= buf.len() {
                debug_assert_eq!(line, buf.len());
                return line;
            }
        }
        line
    }

    /// The end of a quiet line (digits `code`, answering `e`, just popped)
    /// whose code is not 2xx: `reply_complete`'s `421` and `354` cases.
    #[inline(always)]
    fn quiet_reply_code(&mut self, e: u32, code: u32) {
        if code == CODE_421 {
            self.closing = true;
        }
        if e == Expect::Data as u32 && code == CODE_354 {
            self.client = Client::Data;
            self.data.start();
        }
    }

    /// The lines [`Self::reply_lines_fast`] does not take itself, out of
    /// line: the line at `line` (which opens a reply; `head`, its first
    /// four bytes as a little-endian word) and the rest of its reply, each
    /// line by [`Self::reply_line_fast_at_start`]. The common one, a
    /// positive ESMTP EHLO reply opening with `250-`, goes straight to
    /// [`Self::ehlo_keyword_lines`] (where `reply_line_fast_at_start` sends
    /// it too), with its code known here: every head of the reply compared
    /// to a constant. The offset after the reply, where the quiet loop goes
    /// on; [`STOPPED`] plus the offset of a line the fast path does not take
    /// (the general path goes on there); [`PASSTHROUGH`] when inspection
    /// stopped. One word back, so that the loop tests it once.
    #[inline(never)]
    fn reply_lines_other(
        &mut self,
        buf: &mut [u8],
        mut line: usize,
        head: u32,
        stats: &mut SmtpStats,
    ) -> usize {
        debug_assert!(self.reply.at_reply_start());
        if head == u32::from_le_bytes(*b"250-")
            && self.fifo.front() == Some(Expect::Ehlo)
            && self.mode == Mode::Esmtp
        {
            // (The end of an EHLO reply never stops inspection.)
            match self.ehlo_keyword_lines(buf, line, CODE_250, true, stats) {
                Some(next) if self.reply.first => return next,
                Some(next) => line = next,
                None => return STOPPED + line,
            }
        }
        loop {
            match self.reply_line_fast_at_start(buf, line, stats) {
                Some(_) if self.phase == Phase::Passthrough => return PASSTHROUGH,
                Some(next) => line = next,
                None => return STOPPED + line,
            }
            if self.reply.first {
                return line;
            }
        }
    }

    /// A positive ESMTP EHLO reply from `start` (a line whose code digits
    /// `d` the caller read, as [`reply_head`] gives them; `first`: whether
    /// it opens the reply, as the caller knows it): its first line (`2xx-`)
    /// when it opens the reply here, then one tight loop over the
    /// keyword lines (what [`Self::reply_line_fast_at_start`] does for each
    /// of them, without asking again what cannot change within the reply),
    /// through the reply's last line and its completion. The offset after the
    /// last line taken, or `None` (nothing changed) when not even the first
    /// is complete in `buf`.
    ///
    /// The loop ([`keyword_lines_fast`]) takes a continuation line (the
    /// code of the line before and `-`, by one compare) that is whole within
    /// thirty-six bytes of its start and names a supported keyword: the LF
    /// bits of its body's first sixteen bytes, of the next sixteen only when
    /// those hold none ([`KeywordBody::first_lf`]), the keyword found by its
    /// first two bytes and compared by one vector operation
    /// ([`Keywords::keyword_of`]); the lines with fewer than thirty-six bytes
    /// left (the reply's last lines, as a rule) the same way, their bodies
    /// from a copy of the segment's last thirty-two bytes followed by zeros
    /// ([`TailWindow`]), and the reply's last line (the code and SP) too.
    /// Any other line (over thirty-two body bytes, masked, another code, cut
    /// by the segment's end) goes through [`ehlo_keyword_line`] out of line.
    /// The reply's state is written once, at the end.
    // Inline in `reply_lines_other` (its callers there: the `250-` entry and
    // `reply_line_fast_at_start`): 13 instructions per transcript session
    // less than a call, and, measured, it leaves the established-session
    // loops as fast as before (out of line they ran 4 % slower in lockstep
    // with the same instructions: code layout).
    #[inline(always)]
    fn ehlo_keyword_lines(
        &mut self,
        buf: &mut [u8],
        start: usize,
        d: u32,
        first: bool,
        stats: &mut SmtpStats,
    ) -> Option<usize> {
        let keywords = Keywords::new(self.allow_tls, self.bdat);
        // The head of a continuation line with the code of this one, and of
        // the reply's last line.
        let continued = (d ^ 0x0030_3030) | u32::from(b'-') << 24;
        let last_head = (d ^ 0x0030_3030) | u32::from(b' ') << 24;
        let mut line = start;
        if first {
            // The reply's first line (`2xx-`, the caller checked): what
            // `reply_line_fast_at_start` does for it (the reply's state
            // below, unless the reply ends here).
            // The line end from one or two blocks (a host name), else
            // further on.
            // (Only a line not ending within them may be over-long.)
            let body = buf.get(start..).and_then(|r| r.get(4..36));
            let lf = match body.and_then(<[u8]>::first_chunk::<32>) {
                Some(b) => match lf32(b) {
                    0 => first_line_end(buf, start, start + 36, stats)?,
                    m => start + 4 + (m.trailing_zeros() as usize & 31),
                },
                None => first_line_end(buf, start, start + 4, stats)?,
            };
            line = lf + 1;
        }
        // Lines taken (`reply_index` steps) and whether one kept
        // PIPELINING, stored once at the end.
        let mut tally = if first { Tally::LINE } else { Tally::default() };
        let n = buf.len();
        let window = TailWindow::of(buf);
        // `true` when the reply's last line was taken.
        let last = 'reply: loop {
            let Some(mut rest) = buf.get(line..) else {
                break 'reply false;
            };
            // The keyword lines: in place, then those with fewer than
            // thirty-six bytes left from the window.
            rest = keyword_lines_fast(rest, continued, keywords, &mut tally, in_place);
            if rest.len() < 36 {
                rest = keyword_lines_fast(rest, continued, keywords, &mut tally, |r| {
                    window.tail_parts(r)
                });
            }
            line = n - rest.len();
            // The reply's last line, the same way.
            if let Some((head, body)) = in_place(rest).or_else(|| window.tail_parts(rest)) {
                if head == last_head {
                    if let Some((len, kw)) = keyword_line(body, keywords) {
                        tally += kw;
                        line += len;
                        break 'reply true;
                    }
                }
            }
            // Any other line.
            match ehlo_keyword_line(buf, line, keywords, stats) {
                Some((next, sep, kw)) => {
                    tally += kw;
                    line = next;
                    if sep != b'-' {
                        break 'reply true;
                    }
                }
                None => break 'reply false,
            }
        };
        self.reply_index += tally.lines();
        if last {
            // The reply's last line (its code is 2xx: no 421): the
            // completion `reply_complete` gives an EHLO reply.
            let saw = self.reply.saw_pipelining | tally.pipelining();
            self.reply.first = true;
            self.reply.reply_code = 0;
            self.reply.saw_pipelining = false;
            self.fifo.drop_front(Expect::Ehlo);
            self.pipelining = saw;
            return Some(line);
        }
        if first {
            self.reply.first = false;
            self.reply.reply_code = code_value(d);
        }
        self.reply.saw_pipelining |= tally.pipelining();
        (line > start).then_some(line)
    }
}

/// The LF that ends an EHLO reply's first line (at `start`) from `from`
/// on, counting an over-long line.
#[inline(never)]
fn first_line_end(buf: &[u8], start: usize, from: usize, stats: &mut SmtpStats) -> Option<usize> {
    let lf = find_lf_from(buf, from)?;
    if lf + 1 - start > LIMIT_REPLY as usize {
        stats.reply_overlong += 1;
    }
    Some(lf)
}

/// The bytes [`keyword_line`] reads of the lines near the end of a segment:
/// its last thirty-two bytes, end-aligned (zeros before them in a shorter
/// segment), then thirty-two zeros. A line with `r` bytes left from its
/// start, fewer than thirty-six but at least its head, has its body at
/// `r - 4` bytes before the window's middle, zero-padded past the segment's
/// end (the reply's last lines, as a rule). Two blocks loaded, four stored,
/// once per EHLO reply.
struct TailWindow([[u8; 32]; 2]);

impl TailWindow {
    #[inline(always)]
    fn of(buf: &[u8]) -> Self {
        match buf.last_chunk::<32>() {
            Some(last) => TailWindow([*last, [0; 32]]),
            None => Self::of_short(buf),
        }
    }

    /// [`Self::of`] a segment under thirty-two bytes.
    #[cold]
    fn of_short(buf: &[u8]) -> Self {
        let mut w = [[0; 32]; 2];
        for (b, &x) in w[0].iter_mut().rev().zip(buf.iter().rev()) {
            *b = x;
        }
        TailWindow(w)
    }

    /// The head (as a little-endian word) and the first thirty-two body
    /// bytes (from the window) of the line at the start of `rest`, the rest
    /// of the segment, when at most thirty-six bytes are left (the caller
    /// asks for fewer) but at least a head.
    #[inline(always)]
    fn tail_parts<'a>(&'a self, rest: &[u8]) -> Option<(u32, &'a [u8; 32])> {
        let head = u32::from_le_bytes(*rest.first_chunk::<4>()?);
        let body = self
            .0
            .as_flattened()
            .get(36usize.checked_sub(rest.len())?..)?;
        Some((head, body.first_chunk::<32>()?))
    }
}

/// The head (as a little-endian word) and the first thirty-two body bytes
/// of the line at the start of `rest`, in place, when thirty-six bytes are
/// left.
#[inline(always)]
fn in_place(rest: &[u8]) -> Option<(u32, &[u8; 32])> {
    let c = rest.first_chunk::<36>()?;
    let head = u32::from_le_bytes(*c.first_chunk::<4>()?);
    Some((head, c.last_chunk::<32>()?))
}

/// The loop of [`Inspector::ehlo_keyword_lines`]: at the start of `rest`,
/// the continuation lines (head `continued`: the code of the reply and `-`,
/// by one compare) whose head and body `parts` gives ([`in_place`] or
/// [`TailWindow::tail_parts`]) and [`keyword_line`] takes. Counts the lines
/// taken into `tally`; the bytes from the first line it does not take.
#[inline(always)]
fn keyword_lines_fast<'a, 'w>(
    mut rest: &'a [u8],
    continued: u32,
    keywords: Keywords,
    tally: &mut Tally,
    parts: impl Fn(&'a [u8]) -> Option<(u32, &'w [u8; 32])>,
) -> &'a [u8] {
    while let Some((head, body)) = parts(rest) {
        if head != continued {
            break;
        }
        let Some((len, kw)) = keyword_line(body, keywords) else {
            break;
        };
        *tally += kw;
        rest = rest.get(len..).unwrap_or_default();
    }
    rest
}

/// The keyword line whose body starts `body` (thirty-two bytes,
/// zero-padded past the end of a segment; its head the caller checked)
/// when it ends within them and names a supported keyword: its length and
/// its [`Tally`], from its body's LF bits ([`KeywordBody::first_lf`]: the
/// second block only when the first holds no LF), the keyword by one
/// vector compare ([`Keywords::keyword_of`]).
#[inline(always)]
fn keyword_line(body: &[u8; 32], keywords: Keywords) -> Option<(usize, Tally)> {
    let body = KeywordBody::new(body);
    let lf = body.first_lf();
    if lf == 0 {
        return None;
    }
    let kw = keywords.keyword_of(&body)?;
    Some((5 + (lf.trailing_zeros() as usize & 31), kw))
}

/// One keyword line of a positive ESMTP EHLO reply at `line`, whatever its
/// length and wherever it ends (zero-padded blocks near the end of the
/// segment): what [`Inspector::ehlo_keyword_lines`] does for a line its loop
/// does not take itself (the keyword masked in place when unsupported,
/// over-long lines counted). The offset after the line, its separator and
/// its [`Tally`] (masked: no PIPELINING); `None` (nothing changed) when
/// the line has no reply head or does not end in `buf`.
#[inline(never)]
fn ehlo_keyword_line(
    buf: &mut [u8],
    line: usize,
    keywords: Keywords,
    stats: &mut SmtpStats,
) -> Option<(usize, u8, Tally)> {
    let (_, sep) = reply_head(chunk_at::<4>(buf, line)?)?;
    let at = line + 4;
    let mut pad = [0u8; 32];
    pad[..16].copy_from_slice(&padded16(buf, at));
    pad[16..].copy_from_slice(&padded16(buf, at + 16));
    let body = KeywordBody::new(&pad);
    let kw = keywords.keyword_of(&body);
    let lf = match body.first_lf() {
        0 => find_lf_from(buf, at + 32)?,
        m => at + m.trailing_zeros() as usize,
    };
    if lf - line >= LIMIT_REPLY as usize {
        stats.reply_overlong += 1;
    }
    if kw.is_none() {
        stats.ehlo_keywords_masked += 1;
        mask_keyword_line(buf.get_mut(at..lf).unwrap_or_default());
    }
    Some((lf + 1, sep, kw.unwrap_or(Tally::LINE)))
}

/// The sixteen bytes of `buf` from `at`, zero past its end: one load, or
/// near the end of a segment the last sixteen bytes shifted down (no copy),
/// or in a segment under sixteen bytes a copy.
#[inline(always)]
fn padded16(buf: &[u8], at: usize) -> [u8; 16] {
    if let Some(b) = buf.get(at..).and_then(<[u8]>::first_chunk::<16>) {
        return *b;
    }
    let n = buf.len();
    match buf.last_chunk::<16>() {
        // `at + 16 > n`: the bytes from `at` are the last `n - at` (none
        // when `at >= n`).
        Some(last) => u128::from_le_bytes(*last)
            .checked_shr(((at + 16 - n) * 8) as u32)
            .unwrap_or(0)
            .to_le_bytes(),
        None => {
            let mut block = [0u8; 16];
            for (b, &x) in block.iter_mut().zip(buf.get(at..).unwrap_or_default()) {
                *b = x;
            }
            block
        }
    }
}

/// The offset in `rest` of the LF that ends the quiet line at its start
/// (its head, digits and SP, holds no LF), counting an over-long line; `None`
/// when the line does not end in `rest`, or `rest` is under eight bytes (the
/// byte-wise path takes such a line). The first sixteen bytes by one block
/// (the common short line: no over-long line then); a `rest` under sixteen
/// bytes from its first and last eight bytes, overlapping, as one block; a
/// longer line by [`lf_after_first_block`].
#[inline(always)]
fn quiet_line_end(rest: &[u8], stats: &mut SmtpStats) -> Option<usize> {
    let n = rest.len();
    let Some(b) = rest.first_chunk::<16>() else {
        // Bytes 0 to 7, then bytes `n - 8` to `n - 1`: their LF bits, the
        // second eight moved to their offsets (those they share with the
        // first eight are the same bytes).
        let lo = u64::from_le_bytes(*rest.first_chunk::<8>()?);
        let hi = u64::from_le_bytes(*rest.last_chunk::<8>()?);
        let m = lf16(&(u128::from(lo) | u128::from(hi) << 64).to_le_bytes());
        let m = (m & 0xFF) | (m >> 8) << ((n - 8) & 7);
        return (m != 0).then(|| m.trailing_zeros() as usize);
    };
    let m = lf16(b);
    if m != 0 {
        return Some(m.trailing_zeros() as usize);
    }
    lf_after_first_block(rest, stats)
}

/// The first LF in `rest` (sixteen bytes or more, none LF in the first
/// sixteen) from offset sixteen on. Within forty-eight bytes (the long
/// single-line replies: greeting, `354`, `250 ... queued as`) from the
/// last sixteen or thirty-two bytes of `rest` as one mask, which hold every
/// byte from offset sixteen on, and no LF before it (the first block has
/// none); else the second block, else [`find_lf_from`] (only then may the
/// line be over-long: it is counted).
#[inline(always)]
fn lf_after_first_block(rest: &[u8], stats: &mut SmtpStats) -> Option<usize> {
    let n = rest.len();
    if n <= 48 {
        let (m, from) = match rest.last_chunk::<32>() {
            Some(last) => (lf32(last), n - 32),
            None => (rest.last_chunk::<16>().map_or(0, lf16), n - 16),
        };
        return (m != 0).then(|| from + m.trailing_zeros() as usize);
    }
    let m = chunk_at::<16>(rest, 16).map_or(0, lf16);
    if m != 0 {
        return Some(16 + m.trailing_zeros() as usize);
    }
    let lf = find_lf_from(rest, 32)?;
    if lf + 1 > LIMIT_REPLY as usize {
        stats.reply_overlong += 1;
    }
    Some(lf)
}

/// Offset of the first LF in `buf` at or after `from`: sixteen bytes at a
/// time by one SSE2 compare each (`wide`: pcmpeqb + pmovmskb, safe code),
/// inline (a reply line is one to three such blocks, which cost less than a
/// call to a searcher and the register spills around it), then the last
/// sixteen bytes of the buffer, overlapping, for the rest; the word-wise scan
/// in a buffer under sixteen bytes.
#[inline(always)]
fn find_lf_from(buf: &[u8], from: usize) -> Option<usize> {
    let n = buf.len();
    // The start of the last sixteen bytes (none in a buffer that short).
    let Some(last) = n.checked_sub(16) else {
        return framing::find_lf(buf.get(from..)?).map(|k| from + k);
    };
    let mut at = from;
    while at <= last {
        let m = lf16(chunk_at::<16>(buf, at)?);
        if m != 0 {
            return Some(at + m.trailing_zeros() as usize);
        }
        at += 16;
    }
    // Fewer than sixteen bytes left from `at`: the last sixteen, from `at`
    // on (the bits before it shifted out).
    if at >= n {
        return None;
    }
    let m = lf16(chunk_at::<16>(buf, last)?) >> (at - last);
    (m != 0).then(|| at + m.trailing_zeros() as usize)
}

/// The `N` bytes of `buf` from `at`, if there are (one bounds check).
#[inline(always)]
pub(crate) fn chunk_at<const N: usize>(buf: &[u8], at: usize) -> Option<&[u8; N]> {
    buf.get(at..at.wrapping_add(N))?.first_chunk::<N>()
}

/// LF bits of sixteen bytes: bit `k` set iff `block[k]` is LF.
#[inline(always)]
fn lf16(block: &[u8; 16]) -> u32 {
    wide::u8x16::new(*block)
        .simd_eq(wide::u8x16::splat(b'\n'))
        .to_bitmask()
}

/// [`lf16`] of thirty-two bytes: bit `k` set iff `block[k]` is LF.
#[inline(always)]
fn lf32(block: &[u8; 32]) -> u32 {
    framing::window_mask(block, lf16)
}

/// An EHLO reply line body whose keyword is not supported, up to its LF:
/// every byte but CR becomes `X` (what the byte-wise path does from the
/// divergence on, and to the keyword prefix before it).
#[cold]
fn mask_keyword_line(body: &mut [u8]) {
    for b in body.iter_mut().filter(|b| **b != b'\r') {
        *b = b'X';
    }
}

#[cfg(test)]
mod tests {
    use crate::{Inspector, Policy, SmtpStats};

    #[test]
    fn reply_completion_drives_the_fifo() {
        let mut i = Inspector::new(&Policy::esmtp());
        let mut st = SmtpStats::default();
        // A client line before the greeting is withheld; the greeting frees it.
        assert_eq!(
            i.handle_client(&mut b"EHLO a\r\n".to_vec(), &mut st)
                .forward,
            0
        );
        i.handle_server(&mut b"220-hello\r\n220 there\r\n".to_vec(), &mut st);
        assert_eq!(
            i.handle_client(&mut b"EHLO a\r\n".to_vec(), &mut st)
                .forward,
            8
        );
        let mut r = b"250-x\r\n250-PIPELINING\r\n250 XFOO bar\r\n".to_vec();
        i.handle_server(&mut r, &mut st);
        assert_eq!(&r, b"250-x\r\n250-PIPELINING\r\n250 XXXXXXXX\r\n");
        assert!(i.pipelining());
        assert_eq!(st.ehlo_keywords_masked, 1);
    }

    #[test]
    fn malformed_and_bare_lf_lines() {
        let mut i = Inspector::new(&Policy::default());
        let mut st = SmtpStats::default();
        i.handle_server(&mut b"hello\n220 ok\n".to_vec(), &mut st);
        assert_eq!(st.reply_malformed, 1);
        assert_eq!(
            i.handle_client(&mut b"NOOP\r\n".to_vec(), &mut st).forward,
            6
        );
    }

    fn ehlo_line() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let code =
            proptest::sample::select(vec![&b"250"[..], b"250", b"250", b"220", b"550", b"25x"]);
        let sep = proptest::sample::select(vec![&b"-"[..], b"-", b"-", b" ", b"", b"\t"]);
        let body = prop_oneof![
            6 => proptest::sample::select(vec![
                &b"mail.example.test"[..], b"PIPELINING", b"pipelining", b"SIZE 52428800", b"ETRN",
                b"AUTH PLAIN LOGIN", b"ENHANCEDSTATUSCODES", b"8BITMIME", b"8bitMIME", b"DSN",
                b"BINARYMIME", b"STARTTLS", b"CHUNKING", b"SMTPUTF8", b"AUTH=LOGIN PLAIN",
                b"X-EXPS GSSAPI NTLM", b"SIZEX", b"DSNN", b"\x18BITMIME", b"ENHANCEDSTATUSCODE",
                b"SIZE\t1", b"", b" SIZE", b"VRFY", b"Pipelining\rx",
            ]).prop_map(<[u8]>::to_vec),
            1 => proptest::collection::vec(any::<u8>(), 0..24),
            1 => (400usize..700).prop_map(|n| vec![b'a'; n]),
        ];
        let end = proptest::sample::select(vec![&b"\r\n"[..], b"\r\n", b"\n", b"\r\r\n"]);
        (code, sep, body, end).prop_map(|(c, s, b, e)| [c, s, &b, e].concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)))]

        /// EHLO replies (and what follows them) through the whole-line fast
        /// reply path and through the byte-wise path alone give the same
        /// verdicts, rewritten bytes, events, counters and pipelining, in any
        /// segmentation, under every policy knob the reply path reads.
        #[test]
        fn ehlo_reply_fast_path_matches_the_byte_wise_path(
            flags in 0u8..32,
            lines in proptest::collection::vec(ehlo_line(), 1..12),
            cuts in proptest::collection::vec(proptest::prop_oneof![1usize..6, 1usize..80, proptest::strategy::Just(4096)], 1..12),
            after in proptest::sample::select(vec![&b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"[..], b"250 ok\r\n", b"250-a\r\n250 b\r\n"]),
        ) {
            let policy = Policy {
                mode: if flags & 1 != 0 { crate::Mode::Smtp } else { crate::Mode::Esmtp },
                allow_tls: flags & 2 != 0,
                bdat: flags & 4 != 0,
                mask_banner: flags & 8 != 0,
                debug: flags & 16 != 0,
                ..Policy::esmtp()
            };
            let mut sides = crate::inspector::differential::pair(&policy);
            let reply: Vec<u8> = lines.concat();
            let mut script: Vec<(bool, Vec<u8>)> = vec![
                (false, b"220 mail.example.test ESMTP\r\n".to_vec()),
                (true, b"EHLO relay.example.net\r\n".to_vec()),
            ];
            let mut pos = 0;
            for c in cuts.iter().cycle() {
                if pos >= reply.len() {
                    break;
                }
                let n = (*c).min(reply.len() - pos);
                script.push((false, reply[pos..pos + n].to_vec()));
                pos += n;
            }
            script.push((false, b"250-mail.example.test\r\n250 DSN\r\n".to_vec()));
            script.push((true, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n".to_vec()));
            script.push((false, after.to_vec()));
            for (client, seg) in &script {
                let [fast, slow] = crate::inspector::differential::feed_both(&mut sides, *client, seg);
                proptest::prop_assert_eq!(fast, slow, "client={} seg={:?}", client, String::from_utf8_lossy(seg));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)))]

        /// allow-tls: the server's answer to STARTTLS, with reply lines
        /// before it and anything after it in the same segment (TLS bytes,
        /// more reply lines), gives the same verdicts, bytes, events and
        /// counters through the fast reply path as through the byte-wise path
        /// alone; a `220` stops inspection for the whole rest of its segment.
        #[test]
        fn starttls_reply_fast_path_matches_the_byte_wise_path(
            before in proptest::sample::select(vec![&b""[..], b"250 2.0.0 Ok\r\n", b"250-a\r\n250 b\r\n"]),
            code in proptest::sample::select(vec![&b"220"[..], b"220", b"454", b"501"]),
            tail in proptest::collection::vec(proptest::sample::select(vec![
                &b"250 2.1.0 Ok\r\n"[..], b"354 go\r\n", b"421 bye\r\n", b"\x16\x03\x01\x02\x00", b"\r\n", b"x",
            ]), 0..6),
            cut in 0usize..64,
        ) {
            let policy = Policy { allow_tls: true, ..Policy::esmtp() };
            let mut sides = crate::inspector::differential::pair(&policy);
            let answer = [before, code, b" go ahead\r\n", &tail.concat()].concat();
            let cut = cut.min(answer.len());
            let script: Vec<(bool, Vec<u8>)> = vec![
                (false, b"220 mail.example.test ESMTP\r\n".to_vec()),
                (true, b"EHLO relay.example.net\r\n".to_vec()),
                (false, b"250-mail.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n".to_vec()),
                // A NOOP before STARTTLS when its reply comes first.
                (true, if before.is_empty() { &b"STARTTLS\r\n"[..] } else { b"NOOP\r\nSTARTTLS\r\n" }.to_vec()),
                (false, answer[..cut].to_vec()),
                (false, answer[cut..].to_vec()),
                (true, b"\x16\x03\x01 MAIL FROM:<a@b>\r\n".to_vec()),
            ];
            for (client, seg) in &script {
                let [fast, slow] = crate::inspector::differential::feed_both(&mut sides, *client, seg);
                proptest::prop_assert_eq!(fast, slow, "client={} seg={:?}", client, String::from_utf8_lossy(seg));
            }
            proptest::prop_assert_eq!(sides[0].0.is_passthrough(), code == b"220");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)))]

        /// The line-end scan finds the first LF at or after any offset of
        /// any buffer, short and long rests alike, in whole blocks, in the
        /// overlapping last block and in buffers under sixteen bytes (LFs
        /// followed by 0x0B and 0x01 included: the bytes where a word-wise
        /// borrow could raise a false flag; 0x8A: LF with the high bit).
        #[test]
        fn line_end_scan_finds_the_first_lf(
            buf in proptest::collection::vec(proptest::sample::select(vec![b'\n', 0x0B, 0x01, 0, b'a', 0x8A, b'\r', b'a', b'a']), 0..90),
            from in 0usize..92,
        ) {
            let naive = buf.get(from..).and_then(|t| t.iter().position(|&b| b == b'\n')).map(|k| from + k);
            proptest::prop_assert_eq!(super::find_lf_from(&buf, from), naive);
        }
    }
}

#[cfg(test)]
mod tail_window_tests {
    use super::{in_place, TailWindow};

    /// The window gives every line with four to thirty-six bytes left the
    /// head in place and the thirty-two body bytes after it, zeros past the
    /// segment's end, in segments of every length under and over thirty-two
    /// bytes; a line with thirty-six bytes or more left is read in place
    /// the same, and one with less than a head not at all.
    #[test]
    fn tail_parts_are_the_zero_padded_line() {
        for n in 0..80usize {
            let buf: Vec<u8> = (0..n).map(|k| (k * 7 + 1) as u8).collect();
            let window = TailWindow::of(&buf);
            for line in 0..=n {
                let rest = &buf[line..];
                let mut padded = rest.to_vec();
                padded.resize(36.max(rest.len()), 0);
                let head = u32::from_le_bytes(padded[..4].try_into().unwrap());
                let body: &[u8] = &padded[4..36];
                let tail = window.tail_parts(rest);
                let whole = in_place(rest);
                if rest.len() < 4 {
                    assert!(tail.is_none() && whole.is_none(), "{n} {line}");
                    continue;
                }
                assert_eq!(whole.is_some(), rest.len() >= 36, "{n} {line}");
                assert_eq!(tail.is_some(), rest.len() <= 36, "{n} {line}");
                for (h, b) in [tail, whole].into_iter().flatten() {
                    assert_eq!((h, &b[..]), (head, body), "{n} {line}");
                }
            }
        }
    }
}

#[cfg(test)]
mod quiet_head_tests {
    use super::quiet_head;

    /// The byte-wise meaning of [`quiet_head`]: three ASCII digits and SP.
    fn is_quiet_head(h: [u8; 4]) -> bool {
        h[..3].iter().all(u8::is_ascii_digit) && h[3] == b' '
    }

    fn word(h: [u8; 4]) -> u32 {
        u32::from_le_bytes(h) ^ 0x2030_3030
    }

    #[test]
    fn one_add_head_test_is_three_digits_and_sp() {
        // Every pair of adjacent bytes over all values (the add's carry
        // goes from one byte into the next), the other two a digit / SP or
        // not.
        for fill in [
            *b"250 ", *b"999 ", *b"000 ", *b"2:0!", [0xFF; 4], [0x80; 4], [0; 4],
        ] {
            for at in 0..3 {
                for x in 0..=255u8 {
                    for y in 0..=255u8 {
                        let mut h = fill;
                        h[at] = x;
                        h[at + 1] = y;
                        assert_eq!(quiet_head(word(h)), is_quiet_head(h), "{h:?}");
                    }
                }
            }
        }
        assert!(quiet_head(word(*b"250 ")) && quiet_head(word(*b"909 ")));
        assert!(!quiet_head(word(*b"250-")) && !quiet_head(word(*b"2:0 ")));
    }
}
