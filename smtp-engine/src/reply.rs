//! Server reply parsing (spec §7.1) and the actions tied to replies: popping
//! the reply FIFO (§6.1), entering DATA on `354` (§7.2), AUTH continuation on
//! `334` (§5.5), pipelining on a positive EHLO reply that kept PIPELINING
//! (§4.5), STARTTLS pass-through on `220` with allow-tls (§7.4), plus the
//! only reply rewrites: EHLO keyword masking (§4, via [`crate::ehlo`]), the
//! optional banner mask (§4.6) and the legacy `250`→`502` code rewrite (§9.4).
//!
//! Reply lines end at LF (CRLF or bare LF). Each line's first four bytes are
//! examined byte by byte; the rest of an ordinary line is skipped with `memchr`.

use crate::ehlo::{keyword_set, Kw, KwMatch};
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
    /// Is no reply line partly seen?
    #[inline(always)]
    pub(crate) fn at_line_start(&self) -> bool {
        self.len == 0
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
            // malformed first line leaves the next line to open the reply.
            self.reply.first = first && !valid;
            self.reply.reply_code = reply_code;
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
    /// `start`, at a line start, whose body nobody rewrites (no EHLO keyword
    /// reply, no masked banner, no legacy rewrite, no debug). Does exactly
    /// what the byte-wise path does for such a line: the offset after it
    /// (if inspection stopped there, the phase says so), or `None` (nothing
    /// changed) for anything else.
    #[inline]
    pub(crate) fn reply_line_fast(
        &mut self,
        buf: &[u8],
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
        buf: &[u8],
        start: usize,
        stats: &mut SmtpStats,
    ) -> Option<usize> {
        let (head, body) = buf.get(start..)?.split_first_chunk::<4>()?;
        // The three code digits by one word: `d` holds each digit's value
        // (0..=9) in its byte iff the byte was a digit.
        let d = u32::from_le_bytes(*head) ^ 0x0030_3030;
        if (d & 0x00F0_F0F0) | (d.wrapping_add(0x0006_0606) & 0x0010_1010) != 0 {
            return None;
        }
        let sep = head[3];
        if sep != b' ' && sep != b'-' {
            return None;
        }
        // The line end first (nothing is live across the scan but the head).
        let k = framing::find_lf(body)?;
        let first = self.reply.first;
        let front = self.fifo.front();
        match front {
            // EHLO replies go through the keyword matcher, a masked banner
            // through the masker.
            Some(Expect::Ehlo) => return None,
            Some(Expect::Greeting) if first && self.mask_banner => return None,
            _ => {}
        }
        let line_len = 4 + k + 1;
        if line_len > LIMIT_REPLY as usize {
            stats.reply_overlong += 1;
        }
        self.reply_index += 1;
        // The reply's code, in decimal only where it is needed.
        let decimal = |d: u32| {
            (d & 0xFF) as u16 * 100 + (d >> 8 & 0xFF) as u16 * 10 + (d >> 16 & 0xFF) as u16
        };
        let next = start + line_len;
        // At a line start the line state is fresh (as `ReplyLine::new`) except
        // for these three, which carry the reply across its lines.
        if sep == b'-' {
            if first {
                self.reply.first = false;
                self.reply.reply_code = decimal(d);
            }
            return Some(next);
        }
        let (is_421, code) = if first {
            // `d` holds the digit values: 4, 2, 1 in its low three bytes.
            (d & 0x00FF_FFFF == 0x0001_0204, None)
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
            _ => {
                let code = code.unwrap_or_else(|| decimal(d));
                self.reply_complete(code, saw_pipelining, stats);
            }
        }
        Some(next)
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
}
