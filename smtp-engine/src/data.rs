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
//! section is looked at byte by byte. Whole lines from a line start take a
//! block walk first (`message_lines`, a fast path off with the others): each
//! block of up to 64 bytes is classified once (`Block`: LF, CR and the header
//! bytes `:`/`=` as bit masks, 16 bytes per vector compare through the safe
//! `wide` crate), then every line is a `tzcnt`: header lines whose `:`/`=`
//! cannot advance a header signature, the empty line ending the header
//! section, body lines (for which the general state machine would only count
//! their length for I5); a `.` line right after them ends the message at once.

use crate::events::Event;
use crate::framing::LIMIT_DATA_LINE;
use crate::inspector::{Client, CloseReason, Expect, Inspector, Step};
use crate::signatures::{HeaderScan, Signature};
use crate::stats::SmtpStats;
use wide::u8x16;

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
    /// The common DATA segment from a line start, ahead of the general loop:
    /// whole message lines ([`Self::message_lines`]) and, right after them,
    /// the end of data, exactly as [`Self::data_chunk_at`] would take them.
    /// Only when the whole rest of the segment is within max-data (else
    /// nothing is touched: `Err(start)`). `Ok(i)`: the bytes up to `i` are
    /// done and counted (the segment, or the message); `Err(i)`: the walk
    /// stopped at the line start `i`, and [`Self::data_chunk_at`] must go on
    /// from there, counting from `start` as the general path would (which
    /// counts nothing if a signature closes the session). (A fast path: off
    /// with the others.)
    #[inline]
    pub(crate) fn data_lines_entry(
        &mut self,
        buf: &[u8],
        start: usize,
        stats: &mut SmtpStats,
    ) -> Result<usize, usize> {
        let len = buf.len();
        let budget = self.max_data.saturating_sub(self.data_bytes);
        if self.data.eol != Eol::LineStart || ((len - start) as u64) > budget {
            return Err(start);
        }
        let mut i = self.message_lines(buf, start, len, stats);
        let done = self.data.eol == Eol::LineStart && buf.get(i..i + 3) == Some(b".\r\n");
        if done {
            i += 3;
        } else if i < len {
            return Err(i);
        }
        self.data_consumed(i - start, done, stats);
        Ok(i)
    }

    /// Count `used` message bytes; at the end of data (`done`), finish the
    /// message and expect its reply.
    #[inline(always)]
    fn data_consumed(&mut self, used: usize, done: bool, stats: &mut SmtpStats) {
        let used = used as u64;
        self.data_bytes += used;
        stats.data_bytes += used;
        if done {
            self.message_done(stats);
            self.fifo.push(Expect::EndOfData);
        }
    }

    /// Process message bytes from `start`, of which those before `from`
    /// were already walked (by [`Self::data_lines_entry`]) but not counted.
    pub(crate) fn data_chunk_at(
        &mut self,
        buf: &mut [u8],
        start: usize,
        from: usize,
        stats: &mut SmtpStats,
    ) -> Step {
        let len = buf.len();
        let budget = self.max_data.saturating_sub(self.data_bytes);
        let end = start + (len - start).min(usize::try_from(budget).unwrap_or(usize::MAX));
        let mut i = from;
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
                            && buf.get(j..j + 3) == Some(b".\r\n")
                            && j + 3 <= end
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
        self.data_consumed(i - start, done, stats);
        if done {
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

    /// Whole message lines from the line start `i`, block by block: the
    /// general arms would only count such a line's length for I5 and go back
    /// to the line start, apart from what the header section adds (the
    /// header scanner, and the empty line that ends the section). Takes
    /// lines that end in CRLF within `end`, hold no bare CR or LF and do not
    /// start with `.`; a header line only if every `:` and `=` in it passes
    /// [`HeaderScan::special_is_inert`] (a `Reply-To:` line, where
    /// back-quotes count too, goes to [`HeaderScan::quick_line`]). Returns
    /// the start of the first line it does not take (a `.`, any other line
    /// it cannot prove, or `end`), still in state `LineStart`, with nothing
    /// of that line changed; or, for a body line that runs on past `end`,
    /// `end` in state `Mid` with its length counted. (A fast path: off with
    /// the others.)
    ///
    /// Each block of up to 64 bytes is classified once ([`Block::scan`]: LF,
    /// CR and, in the header section, `:`/`=`, one bit per byte, 16 bytes
    /// per vector compare), so a line costs one `tzcnt` and a few tests
    /// however long it is.
    #[inline]
    fn message_lines(&mut self, buf: &[u8], i: usize, end: usize, stats: &mut SmtpStats) -> usize {
        debug_assert!(self.data.eol == Eol::LineStart);
        let region = &buf[..end];
        // The start of the line being walked, and the block being scanned.
        let mut s = i;
        let mut base = i;
        // Was the byte before `base` a CR (an LF at `base` is not bare)?
        let mut cr_before = false;
        while base < end {
            let blk = Block::scan(region, base, self.data.in_header);
            let last = base + blk.n;
            // Only LFs before the first bare CR or LF end lines taken here.
            let bad = blk.bare(cr_before, region.get(last) == Some(&b'\n'));
            let mut lfs = blk.lf & bad.wrapping_sub(1) & !bad;
            // The `:`/`=` bits not yet passed (those of the line at `s` on).
            let mut specials = blk.special;
            while lfs != 0 {
                let k = lfs.trailing_zeros();
                lfs &= lfs - 1;
                let e = base + k as usize;
                // region[s..e - 1] is the content, region[e - 1] its CR.
                let line = &region[s..e + 1];
                if line[0] == b'.' {
                    return s;
                }
                let n = e - 1 - s;
                // (k < 64: the line's bits in this block are those below its LF.)
                let line_specials = specials & ((1u64 << k) - 1);
                specials ^= line_specials;
                if self.data.in_header {
                    if n == 0 {
                        // The empty line: the general arms would end the
                        // header section at its CR and the line at its LF.
                        self.data.in_header = false;
                    } else if self.header_line_may_start(line) {
                        // (Its bytes in earlier blocks were checked there.)
                        if !blk.specials_inert(line, s, line_specials) {
                            return s;
                        }
                        self.data.header.clean_line_not_reply_to(line[0]);
                    } else if self.data.header.quick_line(&region[s..]) != Some(n) {
                        return s;
                    }
                }
                self.i5_whole_line(n as u32, stats);
                s = e + 1;
            }
            if bad != 0 {
                return s;
            }
            if self.data.in_header
                && s < last
                && self.header_line_may_start(&region[s..])
                && !blk.specials_inert(&region[s..], s, specials)
            {
                // A header line going on into the next block: its part in
                // this block already rules it out.
                return s;
            }
            cr_before = blk.cr >> (blk.n - 1) & 1 != 0;
            base = last;
        }
        // A body line that goes on past `end` (no CR or LF left in it): the
        // general arms would count its content and stay inside it.
        if s < end && !self.data.in_header && region[s] != b'.' {
            let n = (end - s) as u32;
            self.i5_whole_line(n, stats);
            self.data.line_len = n;
            self.data.eol = Eol::Mid;
            return end;
        }
        s
    }

    /// May [`Self::message_lines`] check the header line `line` (from its
    /// start) by its `:`/`=` bytes alone? Not a `Reply-To:` line or a
    /// continuation of one: F5 looks at their back-quotes.
    #[inline(always)]
    fn header_line_may_start(&self, line: &[u8]) -> bool {
        match line[0] {
            b' ' | b'\t' => !self.data.header.in_reply_to(),
            b'r' | b'R' => !line
                .first_chunk::<9>()
                .is_some_and(|h| h.eq_ignore_ascii_case(b"Reply-To:")),
            _ => true,
        }
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

/// One block of message text (up to 64 bytes), classified: bit `k` of each
/// mask is byte `k` of the block.
#[derive(Clone, Copy, Debug)]
struct Block {
    /// LF bytes.
    lf: u64,
    /// CR bytes.
    cr: u64,
    /// `:` and `=` (what a header signature of a non-`Reply-To:` line can
    /// start to progress on): only in the header section, else 0.
    special: u64,
    /// Offset of the block's first byte.
    base: usize,
    /// Bytes in the block (at least 1).
    n: usize,
}

impl Block {
    /// Classifies `region[base..]`, at most its first 64 bytes, 16 at a
    /// time with vector compares (`wide`: pcmpeqb + pmovmskb on x86-64). A
    /// final partial chunk is read as the 16 bytes that end the block
    /// (bytes before `base` are in `region` and their bits are shifted out);
    /// only a region shorter than 16 bytes is copied into a padded chunk.
    #[inline(always)]
    fn scan(region: &[u8], base: usize, header: bool) -> Block {
        let n = (region.len() - base).min(64);
        let mut blk = Block {
            lf: 0,
            cr: 0,
            special: 0,
            base,
            n,
        };
        let full = n / 16;
        if let Some(block) = region.get(base..).and_then(|r| r.first_chunk::<64>()) {
            for (c, chunk) in block.as_chunks::<16>().0.iter().enumerate() {
                blk.add(chunk, header, 16 * c as u32, 0);
            }
            return blk;
        }
        for c in 0..full {
            let at = base + 16 * c;
            if let Some(chunk) = region.get(at..).and_then(|r| r.first_chunk::<16>()) {
                blk.add(chunk, header, 16 * c as u32, 0);
            }
        }
        let rest = n % 16;
        if rest != 0 {
            let stop = base + n;
            let at = 16 * full as u32;
            match stop
                .checked_sub(16)
                .and_then(|from| region.get(from..stop))
                .and_then(|r| r.first_chunk::<16>())
            {
                Some(chunk) => blk.add(chunk, header, at, 16 - rest as u32),
                None => {
                    let mut pad = [0u8; 16];
                    pad[..rest].copy_from_slice(&region[base + 16 * full..stop]);
                    blk.add(&pad, header, at, 0);
                }
            }
        }
        blk
    }

    /// Adds the classes of `chunk`, whose first `skip` bytes are not in the
    /// block, at bit `at`.
    #[inline(always)]
    fn add(&mut self, chunk: &[u8; 16], header: bool, at: u32, skip: u32) {
        let v = u8x16::new(*chunk);
        let lf = v.simd_eq(u8x16::splat(b'\n')).to_bitmask();
        let cr = v.simd_eq(u8x16::splat(b'\r')).to_bitmask();
        self.lf |= u64::from(lf >> skip) << at;
        self.cr |= u64::from(cr >> skip) << at;
        if header {
            let sp = (v.simd_eq(u8x16::splat(b':')) | v.simd_eq(u8x16::splat(b'='))).to_bitmask();
            self.special |= u64::from(sp >> skip) << at;
        }
    }

    /// The bare CRs and LFs of the block: a CR not followed by LF (the byte
    /// after the block is an LF iff `lf_after`), an LF not preceded by CR
    /// (the byte before the block is a CR iff `cr_before`).
    #[inline(always)]
    fn bare(&self, cr_before: bool, lf_after: bool) -> u64 {
        let lf_next = (self.lf >> 1) | (u64::from(lf_after) << (self.n - 1));
        let cr_prev = (self.cr << 1) | u64::from(cr_before);
        (self.cr & !lf_next) | (self.lf & !cr_prev)
    }

    /// Does every `:`/`=` flagged in `bits` (bits of this block) of the
    /// header line `line`, which starts at offset `s`, pass
    /// [`HeaderScan::special_is_inert`]?
    #[inline(always)]
    fn specials_inert(&self, line: &[u8], s: usize, mut bits: u64) -> bool {
        while bits != 0 {
            let q = self.base + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if !HeaderScan::special_is_inert(line, q - s) {
                return false;
            }
        }
        true
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
