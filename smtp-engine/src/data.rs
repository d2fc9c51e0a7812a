//! The DATA phase (spec §7.2, §8) and the BDAT chunk counter (decision 3).
//!
//! In data state the client stream is message text. The scanner finds the
//! end of data `\r\n.\r\n` across any segmentation (the first CRLF may be the
//! DATA command's own), neutralises smuggling attempts (decision 10: a bare LF,
//! a bare CR inside a segment, and a `.` right after a segment-final bare CR
//! become SP, so only a real `\r\n.\r\n` can end the message for the server
//! too), counts message bytes against max-data (trimming the segment at exactly
//! the limit), and scans the header section for F4/F5/I4 and every line for I5.
//!
//! Runs of ordinary bytes are skipped with `memchr2(CR, LF)`; only the header
//! section is looked at byte by byte. Whole lines from a line start take
//! tight loops first (`message_lines`, a fast path off with the others):
//! header lines that one SWAR pass proves unable to complete a header
//! signature (`HeaderScan::quick_line`), the empty line ending the header
//! section, then body lines (`body_lines`), for which the general state
//! machine would only count their length for I5; and a `.` line right after
//! them ends the message at once.

use crate::events::Event;
use crate::framing::LIMIT_DATA_LINE;
use crate::inspector::{Client, CloseReason, Expect, Inspector, Step};
use crate::signatures::{HeaderScan, Signature};
use crate::stats::SmtpStats;

/// Where the scanner is relative to line ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Eol {
    /// At the start of a line (after CRLF).
    LineStart,
    /// Inside a line.
    Mid,
    /// After CRLF + `.`.
    Dot,
    /// After CRLF + `.` + CR that ended a segment.
    DotCr,
    /// A CR ended the previous segment inside a line.
    CrPending,
}

/// DATA-phase state of a session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DataScan {
    eol: Eol,
    in_header: bool,
    line_len: u32,
    header: HeaderScan,
    i4_fired: bool,
    i5_fired: bool,
}

impl DataScan {
    pub(crate) fn new() -> Self {
        DataScan {
            eol: Eol::LineStart,
            in_header: true,
            line_len: 0,
            header: HeaderScan::new(),
            i4_fired: false,
            i5_fired: false,
        }
    }

    /// A new message starts (after the 354).
    pub(crate) fn start(&mut self) {
        *self = DataScan::new();
    }
}

impl Inspector {
    /// Process message bytes from `start`.
    pub(crate) fn data_chunk(
        &mut self,
        buf: &mut [u8],
        start: usize,
        stats: &mut SmtpStats,
    ) -> Step {
        let len = buf.len();
        let budget = self.max_data.saturating_sub(self.data_bytes);
        let end = start + (len - start).min(usize::try_from(budget).unwrap_or(usize::MAX));
        let mut i = start;
        let mut done = false;
        while i < end {
            match self.data.eol {
                Eol::CrPending | Eol::DotCr => {
                    if buf[i] == b'\n' {
                        i += 1;
                        if self.data.eol == Eol::DotCr {
                            done = true;
                            break;
                        }
                        self.data_line_done();
                        continue;
                    }
                    // The forwarded CR was bare; a `.` after it could end the
                    // message for a lenient server (§7.2 rule 3).
                    if buf[i] == b'.' {
                        buf[i] = b' ';
                        stats.data_bare_eol_rewritten += 1;
                    }
                    self.data.eol = Eol::Mid;
                }
                Eol::LineStart => {
                    if self.fast {
                        // Whole lines first; the arms below take what they leave.
                        let j = self.message_lines(buf, i, end, stats);
                        if self.data.eol == Eol::LineStart
                            && j + 3 <= end
                            && buf.get(j..j + 3) == Some(b".\r\n")
                        {
                            // The end of data, as the arms below would find it
                            // (a `.` line completes no header signature).
                            i = j + 3;
                            done = true;
                            break;
                        }
                        if j != i || self.data.eol != Eol::LineStart {
                            i = j;
                            continue;
                        }
                    }
                    let b = buf[i];
                    self.data.line_len = 0;
                    if self.data.in_header {
                        if b == b'\r' || b == b'\n' {
                            self.data.in_header = false;
                        } else {
                            self.data.header.line_start(b);
                        }
                    }
                    if b == b'.' {
                        if let Some(s) = self.content(buf, i, i + 1, stats) {
                            return s;
                        }
                        i += 1;
                        self.data.eol = Eol::Dot;
                    } else {
                        self.data.eol = Eol::Mid;
                    }
                }
                Eol::Dot => match buf[i] {
                    b'\r' if i + 1 < end && buf[i + 1] == b'\n' => {
                        i += 2;
                        done = true;
                        break;
                    }
                    b'\r' if i + 1 == len || i + 1 == end => {
                        i += 1;
                        self.data.eol = Eol::DotCr;
                    }
                    _ => self.data.eol = Eol::Mid,
                },
                Eol::Mid => {
                    let j = memchr::memchr2(b'\r', b'\n', &buf[i..end]).map_or(end, |k| i + k);
                    if j > i {
                        if let Some(s) = self.content(buf, i, j, stats) {
                            return s;
                        }
                        i = j;
                        if i == end {
                            break;
                        }
                    }
                    if buf[i] == b'\r' {
                        if i + 1 < end && buf[i + 1] == b'\n' {
                            i += 2;
                            self.data_line_done();
                            if self.fast {
                                i = self.message_lines(buf, i, end, stats);
                            }
                            continue;
                        }
                        if i + 1 < len && buf[i + 1] != b'\n' {
                            buf[i] = b' ';
                            stats.data_bare_eol_rewritten += 1;
                            if let Some(s) = self.content(buf, i, i + 1, stats) {
                                return s;
                            }
                            i += 1;
                            continue;
                        }
                        // Segment (or budget) ends after this CR.
                        i += 1;
                        self.data.eol = Eol::CrPending;
                    } else {
                        // Bare LF (§7.2 rule 1).
                        buf[i] = b' ';
                        stats.data_bare_eol_rewritten += 1;
                        if let Some(s) = self.content(buf, i, i + 1, stats) {
                            return s;
                        }
                        i += 1;
                    }
                }
            }
        }
        let used = (i - start) as u64;
        self.data_bytes += used;
        stats.data_bytes += used;
        if done {
            self.message_done(stats);
            self.fifo.push(Expect::EndOfData);
            return Step::Next(i);
        }
        if i < len {
            // Budget exhausted with message bytes left: forward exactly up to
            // max-data, then reply-and-close (§8).
            self.emit(
                Event::MaxData {
                    limit: self.max_data,
                },
                stats,
            );
            return self.close(i, CloseReason::MaxData, stats);
        }
        Step::Next(i)
    }

    /// Whole message lines from the line start `i`, in tight loops: header
    /// lines the header scanner proves free of signatures
    /// ([`HeaderScan::quick_line`], only I5 left to check), the empty line
    /// that ends the header section, then body lines ([`Self::body_lines`]).
    /// Returns where the general arms go on: a line start in state
    /// `LineStart` (a `.`, a line this cannot take, or `end`), or what
    /// [`Self::body_lines`] leaves. (A fast path: off with the others.)
    #[inline]
    fn message_lines(
        &mut self,
        buf: &[u8],
        mut i: usize,
        end: usize,
        stats: &mut SmtpStats,
    ) -> usize {
        debug_assert!(self.data.eol == Eol::LineStart);
        while self.data.in_header {
            let line = &buf[i..end];
            match line.first() {
                // The empty line: the general arms would end the header
                // section at its CR and the line at its LF.
                Some(b'\r') if line.get(1) == Some(&b'\n') => {
                    self.data.in_header = false;
                    i += 2;
                }
                None | Some(b'.' | b'\r' | b'\n') => return i,
                Some(_) => match self.data.header.quick_line(line) {
                    Some(n) => {
                        self.i5_whole_line(n as u32, stats);
                        i += n + 2;
                    }
                    None => return i,
                },
            }
        }
        self.body_lines(buf, i, end, stats)
    }

    /// I5 for a whole line of `n` content bytes (what [`Self::content`]
    /// checks for a line from its start).
    #[inline(always)]
    fn i5_whole_line(&mut self, n: u32, stats: &mut SmtpStats) {
        if n > LIMIT_DATA_LINE - 2
            && !self.data.i5_fired
            && self.sigs.contains(Signature::I5OverlongDataLine)
        {
            self.data.i5_fired = true;
            self.sig_hit(Signature::I5OverlongDataLine, stats);
        }
    }

    /// Whole message-body lines (past the header section) from the line
    /// start `i`, in a tight loop: for a line that does not start with `.`
    /// and ends in CRLF within `end`, the general arms would only add its
    /// length for I5 ([`Self::content`] outside the header section) and go
    /// back to the line start. The first line that is anything else is left
    /// to them: at its start (a `.`, or `end`), or, after its content, at
    /// its CR/LF or `end`, in state `Mid` with its length counted. (A fast
    /// path: off with the others, so the differential tests compare it.)
    #[inline]
    fn body_lines(&mut self, buf: &[u8], mut i: usize, end: usize, stats: &mut SmtpStats) -> usize {
        debug_assert!(self.data.eol == Eol::LineStart && !self.data.in_header);
        loop {
            if i >= end || buf[i] == b'.' {
                return i;
            }
            let j = memchr::memchr2(b'\r', b'\n', &buf[i..end]).map_or(end, |k| i + k);
            // At a line start the line length is 0: this is `content(i, j)`.
            let n = (j - i) as u32;
            self.i5_whole_line(n, stats);
            if j + 1 < end && buf[j] == b'\r' && buf[j + 1] == b'\n' {
                i = j + 2;
                continue;
            }
            self.data.line_len = n;
            self.data.eol = Eol::Mid;
            return j;
        }
    }

    /// Content bytes `buf[from..to]` of the current line (no CR/LF, except a
    /// rewritten one): line-length and header signatures.
    #[inline]
    fn content(
        &mut self,
        buf: &[u8],
        from: usize,
        to: usize,
        stats: &mut SmtpStats,
    ) -> Option<Step> {
        self.data.line_len = self.data.line_len.saturating_add((to - from) as u32);
        if self.data.line_len + 2 > LIMIT_DATA_LINE
            && !self.data.i5_fired
            && self.sigs.contains(Signature::I5OverlongDataLine)
        {
            self.data.i5_fired = true;
            self.sig_hit(Signature::I5OverlongDataLine, stats);
        }
        if self.data.in_header {
            let mut at = from;
            while at < to {
                let (h, n) = self.data.header.feed_slice(&buf[at..to]);
                at += n;
                if h.f4 && self.sigs.contains(Signature::F4DecodeAlias) {
                    return Some(self.sig_close(Signature::F4DecodeAlias, stats));
                }
                if h.f5 && self.sigs.contains(Signature::F5MajordomoExec) {
                    return Some(self.sig_close(Signature::F5MajordomoExec, stats));
                }
                if h.i4 && !self.data.i4_fired && self.sigs.contains(Signature::I4MimeFilename) {
                    self.data.i4_fired = true;
                    self.sig_hit(Signature::I4MimeFilename, stats);
                }
            }
        }
        None
    }

    #[inline]
    fn data_line_done(&mut self) {
        self.data.eol = Eol::LineStart;
    }

    /// End of data seen: back to command state (§7.2).
    fn message_done(&mut self, stats: &mut SmtpStats) {
        stats.messages += 1;
        self.client = Client::Command;
        self.data.start();
        self.reset_transaction();
    }

    /// BDAT chunk bytes (decision 3): counted against max-data, not inspected.
    pub(crate) fn bdat_chunk(
        &mut self,
        buf: &mut [u8],
        start: usize,
        stats: &mut SmtpStats,
    ) -> Step {
        let avail = (buf.len() - start) as u64;
        let take = avail.min(self.bdat_remaining);
        let budget = self.max_data.saturating_sub(self.data_bytes);
        if take > budget {
            self.data_bytes += budget;
            stats.data_bytes += budget;
            self.emit(
                Event::MaxData {
                    limit: self.max_data,
                },
                stats,
            );
            return self.close(start + budget as usize, CloseReason::MaxData, stats);
        }
        self.data_bytes += take;
        stats.data_bytes += take;
        self.bdat_remaining -= take;
        if self.bdat_remaining == 0 {
            self.bdat_chunk_done(stats);
        }
        Step::Next(start + take as usize)
    }

    /// The chunk of the last BDAT command is complete.
    pub(crate) fn bdat_chunk_done(&mut self, stats: &mut SmtpStats) {
        self.client = Client::Command;
        if self.bdat_last {
            self.bdat_last = false;
            stats.messages += 1;
            self.reset_transaction();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Action, Inspector, Policy, SmtpStats};

    /// An SMTP-mode inspector in data state.
    fn in_data(max_data: u64) -> (Inspector, SmtpStats) {
        let mut i = Inspector::new(&Policy {
            max_data,
            ..Policy::default()
        });
        let mut st = SmtpStats::default();
        for (c, b) in [
            (false, &b"220 x\r\n"[..]),
            (true, b"HELO a\r\n"),
            (false, b"250 x\r\n"),
            (true, b"DATA\r\n"),
            (false, b"354 go\r\n"),
        ] {
            let mut v = b.to_vec();
            if c {
                i.handle_client(&mut v, &mut st);
            } else {
                i.handle_server(&mut v, &mut st);
            }
        }
        assert!(i.in_data());
        (i, st)
    }

    /// Feed `segs`; return the forwarded bytes and whether data state ended.
    fn run(segs: &[&[u8]]) -> (Vec<u8>, bool) {
        let (mut i, mut st) = in_data(1 << 20);
        let mut out = Vec::new();
        for s in segs {
            let mut b = s.to_vec();
            let v = i.handle_client(&mut b, &mut st);
            assert_eq!(v.action, Action::Continue);
            out.extend_from_slice(&b[..v.forward]);
        }
        (out, !i.in_data())
    }

    #[test]
    fn end_of_data_forms() {
        assert_eq!(run(&[b".\r\n"]), (b".\r\n".to_vec(), true));
        assert_eq!(run(&[b"a\r\n.\r\n"]), (b"a\r\n.\r\n".to_vec(), true));
        assert_eq!(run(&[b"a\r\n..\r\n"]), (b"a\r\n..\r\n".to_vec(), false));
        assert_eq!(
            run(&[b"a\r\n.", b"\r", b"\n"]),
            (b"a\r\n.\r\n".to_vec(), true)
        );
        assert_eq!(run(&[b"a\n.\n"]), (b"a . ".to_vec(), false));
        assert_eq!(run(&[b"a\r.\r"]).0, b"a .\r".to_vec());
        assert_eq!(run(&[b"a\r", b".\r\n"]).0, b"a\r \r\n".to_vec());
        assert_eq!(run(&[b"a\r\n.x\r\n"]), (b"a\r\n.x\r\n".to_vec(), false));
        assert_eq!(run(&[b"a\r\n.\rx"]).0, b"a\r\n. x".to_vec());
    }

    #[test]
    fn max_data_trims_at_the_limit() {
        let (mut i, mut st) = in_data(4);
        let mut b = b"abcdef".to_vec();
        let v = i.handle_client(&mut b, &mut st);
        assert_eq!(v.forward, 4);
        assert!(matches!(v.action, Action::ReplyAndClose { .. }));
        let (mut i, mut st) = in_data(5);
        let mut b = b"a\r\n.\r\nQUIT\r\n".to_vec();
        // exactly 5 message bytes ("a\r\n" is not the end; ".\r\n" ends it at 6) → close
        let v = i.handle_client(&mut b, &mut st);
        assert_eq!(v.forward, 5);
    }
}
