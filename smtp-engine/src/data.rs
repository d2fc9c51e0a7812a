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
//! bytes `@`/`=` that matter under the policy as bit masks, 16 bytes per
//! vector compare through the safe `wide` crate; the first of those bytes a
//! header line may not pass over is found once per block), then every line
//! is a `tzcnt` and a test of its first byte: header lines whose `@`/`=`
//! cannot complete or advance a header signature, the empty line ending the header
//! section, body lines (for which the general state machine would only count
//! their length for I5); a `.\r\n` line right after them ends the message at
//! once. The header section and the body are walked by two loops (the
//! header's compiled once per policy shape), each keeping only its own state
//! in registers. The common message segment (a short message from its first
//! header line to the end of data) is all one walk: no general loop runs for
//! it.

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
///
/// A new message's state is all zero bytes (the line start, the header
/// section, a fresh header scanner), so that starting one, at every 354 to
/// DATA and in every new session, is a few wide stores of zero.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DataScan {
    eol: Eol,
    /// Past the empty line that ends the header section?
    in_body: bool,
    line_len: u32,
    header: HeaderScan,
    i4_fired: bool,
    i5_fired: bool,
}

impl DataScan {
    pub(crate) fn new() -> Self {
        DataScan {
            eol: Eol::LineStart,
            in_body: false,
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
        let (mut i, done) = self.message_lines(buf, start, len, stats);
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
        if done {
            self.message_done(stats);
            self.fifo.push(Expect::EndOfData);
        }
        stats.data_bytes += used;
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
                        let (j, end_of_data) = self.message_lines(buf, i, end, stats);
                        if end_of_data {
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
                    if !self.data.in_body {
                        if b == b'\r' || b == b'\n' {
                            self.data.in_body = true;
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
    /// start with `.`; a header line only if every `@` (under F4) and `=`
    /// (under I4) in it passes [`HeaderScan::special_is_inert`] (a
    /// `Reply-To:` line, where back-quotes count too, goes to
    /// [`HeaderScan::quick_line`]). Returns
    /// the start of the first line it does not take (a `.`, any other line
    /// it cannot prove, or `end`), still in state `LineStart`, with nothing
    /// of that line changed, and whether that line is the end of data
    /// `.\r\n` (ending before `end`); or, for a body line that runs on past
    /// `end`, `end` in state `Mid` with its length counted. (A fast path:
    /// off with the others.)
    ///
    /// Each block of up to 64 bytes is classified once ([`Block::scan`]: LF,
    /// CR and, in the header section, `@`/`=`, one bit per byte, 16 bytes
    /// per vector compare), so a line costs one `tzcnt` and a few tests
    /// however long it is. The walk has two loops: the header section's
    /// ([`Self::header_lines`], compiled once per policy shape: which of
    /// `@`/`=` matter is fixed for the walk) and, after its empty line (in
    /// the same block or a later one), the body's ([`Self::body_lines`]):
    /// each loop keeps only its own state live, and the body's is the tight
    /// one large messages spend their time in.
    #[inline(always)]
    fn message_lines(
        &mut self,
        buf: &[u8],
        i: usize,
        end: usize,
        stats: &mut SmtpStats,
    ) -> (usize, bool) {
        debug_assert!(self.data.eol == Eol::LineStart);
        let region = &buf[..end];
        if i >= end {
            return (i, false);
        }
        let at = if !self.data.in_body {
            // A `@` can only matter to F4 (`: decode@`, completed on its
            // `@`), a `=` only to I4 (`name=`): with the signature off, no
            // pattern has any effect there, and the next line start resets
            // its matcher.
            let ats = self.sigs.contains(Signature::F4DecodeAlias);
            let equals = self.sigs.contains(Signature::I4MimeFilename);
            let header = match (ats, equals) {
                (false, false) => self.header_lines::<false, false>(region, i, stats),
                (true, false) => self.header_lines::<true, false>(region, i, stats),
                (false, true) => self.header_lines::<false, true>(region, i, stats),
                (true, true) => self.header_lines::<true, true>(region, i, stats),
            };
            match header {
                HeaderEnd::Stop(s, end_of_data) => return (s, end_of_data),
                HeaderEnd::Body(at) => {
                    self.data.in_body = true;
                    at
                }
            }
        } else {
            let blk = Block::scan::<false, false>(region, i);
            self.block_lines(blk, 0, i, i, stats)
        };
        self.body_lines(region, at, stats)
    }

    /// The header section's part of [`Self::message_lines`], from the line
    /// start `i` (in the header section) of `region`, with `@` flagged if
    /// `AT` and `=` if `EQUALS`: header lines, up to the empty line that
    /// ends the section (`Body`: the body's lines go on from the line after
    /// it, in the same block), or the first line it does not take
    /// (`Stop`, the header scanner written as the lines taken leave it).
    ///
    /// Header lines taken by their `@`/`=` alone all leave the header
    /// scanner in the same clean state, so it is written once at the end
    /// (and not at all once the section is over: nothing reads it in the
    /// body).
    #[inline(always)]
    fn header_lines<const AT: bool, const EQUALS: bool>(
        &mut self,
        region: &[u8],
        i: usize,
        stats: &mut SmtpStats,
    ) -> HeaderEnd {
        let end = region.len();
        // Where the scanner was last written ([`HeaderScan::quick_line`]
        // writes it): header lines taken after it, by their `@`/`=` alone,
        // left it clean (its `Reply-To:` flag off) but unwritten.
        let mut written = i;
        // The start of the line being walked, and the block being scanned.
        let mut s = i;
        let mut base = i;
        // The block: its `@`/`=` bytes that matter under this policy, and
        // the first of them a whole-line check may not pass over (a header
        // line with one is not taken here), or `usize::MAX`. (The first
        // block starts at the line start: no I5 for it to check.)
        let (mut blk, mut live) = Block::scan_header::<AT, EQUALS>(region, base, i);
        let mut at = self.block_lines(blk, 0, base, s, stats);
        let stop = 'walk: loop {
            let mut lfs = at.lfs;
            while lfs != 0 {
                // region[s..e - 1] is the content, region[e - 1] its CR.
                let e = base + lfs.trailing_zeros() as usize;
                lfs &= lfs - 1;
                // (Most header lines start with a letter other than `r`:
                // only their `@`/`=` bytes are left to check.)
                let first = region[s];
                if header_first_byte_needs_a_look(first) {
                    let n = e - 1 - s;
                    if n == 0 {
                        // The empty line (its first byte is its CR): the
                        // general arms would end the header section at its
                        // CR and the line at its LF.
                        return HeaderEnd::Body(Lines {
                            lfs,
                            s: e + 1,
                            base,
                            ..at
                        });
                    }
                    if first == b'.' {
                        break 'walk (s, n == 1);
                    }
                    // (A `Reply-To:` field is one only if no line was taken
                    // since the scanner was written.)
                    if !header_line_may_start(
                        &region[s..],
                        s == written && self.data.header.in_reply_to(),
                    ) {
                        if !self.reply_to_line(&region[s..], n) {
                            break 'walk (s, false);
                        }
                        written = e + 1;
                        s = e + 1;
                        continue;
                    }
                }
                // (No live one before `s` in this block: those lines were
                // taken. Its bytes in earlier blocks were checked there.)
                if live < e {
                    break 'walk (s, false);
                }
                s = e + 1;
            }
            let next = base + blk.n;
            if s < next
                && live < next
                && header_line_may_start(
                    &region[s..],
                    s == written && self.data.header.in_reply_to(),
                )
            {
                // A header line going on into the next block: its part in
                // this block already rules it out.
                break 'walk (s, false);
            }
            if at.bad != 0 {
                break 'walk (s, false);
            }
            base = next;
            if base >= end {
                break 'walk (s, false);
            }
            // (Only a full block can have a next one: its last byte may be
            // a CR.)
            (blk, live) = Block::scan_header::<AT, EQUALS>(region, base, i);
            at = self.block_lines(blk, blk_cr_carry(at.cr), base, s, stats);
        };
        // (At the end of data both callers finish the message, which
        // starts the next one's scan afresh.)
        if !stop.1 && stop.0 != written {
            self.data.header.after_inert_lines();
        }
        HeaderEnd::Stop(stop.0, stop.1)
    }

    /// The body's part of [`Self::message_lines`]: the lines `at` left of
    /// its block, then block after block. The general arms would only
    /// count a body line's length (for I5) and go back to the line start;
    /// a line starting with `.` stops the walk (the end of data `.\r\n`,
    /// or dot-stuffing for the general arms).
    #[inline(always)]
    fn body_lines(&mut self, region: &[u8], mut at: Lines, stats: &mut SmtpStats) -> (usize, bool) {
        let end = region.len();
        let mut s = at.s;
        let mut base = at.base;
        loop {
            let mut lfs = at.lfs;
            while lfs != 0 {
                let e = base + lfs.trailing_zeros() as usize;
                lfs &= lfs - 1;
                if region[s] == b'.' {
                    return (s, e - s == 2);
                }
                s = e + 1;
            }
            if at.bad != 0 {
                return (s, false);
            }
            base += at.n;
            if base >= end {
                break;
            }
            // (Only a full block can have a next one.)
            let blk = Block::scan::<false, false>(region, base);
            at = self.block_lines(blk, blk_cr_carry(at.cr), base, s, stats);
        }
        // A body line that goes on past `end` (no CR or LF left in it): the
        // general arms would count its content and stay inside it.
        if s < end && blk_cr_carry(at.cr) == 0 && region[s] != b'.' {
            let n = end - s;
            self.i5_whole_line(n, stats);
            self.data.line_len = n as u32;
            self.data.eol = Eol::Mid;
            return (end, false);
        }
        (s, false)
    }

    /// The lines that end in `blk` (at `base`, the byte before it a CR if
    /// `cr_carry` is 1), the line being walked starting at `s`: the LFs
    /// before the first bare CR or LF, and I5 for the first of them.
    ///
    /// Only the first line ending in a block can have started before it,
    /// so only that one can be long enough for I5, which is checked before
    /// anything else of the line (as the general arms count a run's length
    /// before they scan it: a line not taken then finds I5 fired already,
    /// and its other hits come after it either way).
    #[inline(always)]
    fn block_lines(
        &mut self,
        blk: Block,
        cr_carry: u64,
        base: usize,
        s: usize,
        stats: &mut SmtpStats,
    ) -> Lines {
        // Bit `k`: byte `k - 1` is a CR xor byte `k` is an LF, so the
        // lowest one is the first bare LF, or the byte after the first bare
        // CR (bit `n` for a CR ending the region).
        let bad = ((blk.cr << 1) | cr_carry) ^ blk.lf;
        // Only LFs before it end lines taken here.
        let lfs = blk.lf & bad.wrapping_sub(1) & !bad;
        // (Its LF is at most `base + 63`: no I5 unless it started more than
        // `LIMIT_DATA_LINE - 65` bytes before the block.)
        if base - s > (LIMIT_DATA_LINE - 65) as usize && lfs != 0 {
            let n = base + lfs.trailing_zeros() as usize - 1 - s;
            self.i5_whole_line(n, stats);
        }
        Lines {
            lfs,
            bad,
            cr: blk.cr,
            n: blk.n,
            s,
            base,
        }
    }

    /// A `Reply-To:` header line, or a continuation of one, of `n` content
    /// bytes (`line` from its start, at least to its CRLF), taken whole if
    /// [`HeaderScan::quick_line`] can (which writes the scanner's state);
    /// false: nothing changed. (Rare: out of the walk's loop.)
    #[cold]
    #[inline(never)]
    fn reply_to_line(&mut self, line: &[u8], n: usize) -> bool {
        self.data.header.quick_line(line) == Some(n)
    }

    /// I5 for a line of `n` content bytes from its start (what
    /// [`Self::content`] checks for it).
    #[inline(always)]
    fn i5_whole_line(&mut self, n: usize, stats: &mut SmtpStats) {
        if n > (LIMIT_DATA_LINE - 2) as usize
            && !self.data.i5_fired
            && self.sigs.contains(Signature::I5OverlongDataLine)
        {
            self.i5_hit(stats);
        }
    }

    /// I5 fires (its first hit in this message, the signature enabled).
    #[cold]
    #[inline(never)]
    fn i5_hit(&mut self, stats: &mut SmtpStats) {
        self.data.i5_fired = true;
        self.sig_hit(Signature::I5OverlongDataLine, stats);
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
        if !self.data.in_body {
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
        // (The DATA scan is left as it is: nothing reads it outside data
        // state, and every way into data state, the 354 to DATA, starts it
        // afresh.)
        self.client = Client::Command;
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

/// Must [`Inspector::message_lines`] look at a header line starting with
/// `first` before it checks the line's `@`/`=` bytes? A control byte (the
/// empty line's CR, a bare LF, a fold's SP/TAB), a space, `.` (dot-stuffing,
/// the end of data) and `r`/`R` (a `Reply-To:` field) do; any other first
/// byte starts a line only its `@`/`=` bytes can make a signature progress on.
/// (One load from a table: a chain of compares cost five instructions more
/// per header line.)
#[inline(always)]
fn header_first_byte_needs_a_look(first: u8) -> bool {
    /// [`header_first_byte_needs_a_look`] of every byte.
    const LOOK: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 256 {
            t[b] = matches!(b as u8, 0..=b' ' | b'.' | b'r' | b'R');
            b += 1;
        }
        t
    };
    LOOK[usize::from(first)]
}

/// May [`Inspector::message_lines`] check the header line `line` (from its
/// start) by its `@`/`=` bytes alone? Not a `Reply-To:` line, nor a
/// continuation of one (`reply_to`: the field being scanned is one): F5
/// looks at their back-quotes.
#[inline(always)]
fn header_line_may_start(line: &[u8], reply_to: bool) -> bool {
    match line[0] {
        b' ' | b'\t' => !reply_to,
        b'r' | b'R' => !line
            .first_chunk::<9>()
            .is_some_and(|h| h.eq_ignore_ascii_case(b"Reply-To:")),
        _ => true,
    }
}

/// 1 if the full block whose CR bytes are `cr` ends in a CR (the first
/// half of a CRLF split between two blocks, or cut by the region's end),
/// else 0. (A short block ends the region, and its bit for a last CR is
/// in `bad`, see [`Inspector::block_lines`].)
#[inline(always)]
fn blk_cr_carry(cr: u64) -> u64 {
    cr >> 63
}

/// How the header section's walk ended ([`Inspector::header_lines`]).
enum HeaderEnd {
    /// At this line start, not taken (and whether it is the end of data).
    Stop(usize, bool),
    /// At the empty line: the body goes on from the line after it.
    Body(Lines),
}

/// The lines a block ends that [`Inspector::message_lines`] may take, and
/// where the walk is in it.
#[derive(Clone, Copy, Debug)]
struct Lines {
    /// The LFs left to walk (those before the first bare CR or LF).
    lfs: u64,
    /// Nonzero if the block holds a bare CR or LF (the walk stops there).
    bad: u64,
    /// The block's CR bytes (its last one carries into the next block).
    cr: u64,
    /// Bytes in the block.
    n: usize,
    /// The start of the line being walked.
    s: usize,
    /// Where the block starts.
    base: usize,
}

/// One block of message text (up to 64 bytes), classified: bit `k` of each
/// mask is byte `k` of the block.
#[derive(Clone, Copy, Debug)]
struct Block {
    /// LF bytes.
    lf: u64,
    /// CR bytes.
    cr: u64,
    /// `@` and `=` (the bytes a header signature of a non-`Reply-To:`
    /// line can complete resp. start to progress on: F4's needles end in
    /// `@`, I4's value starts after `NAME=`), those that matter under the
    /// policy: only in
    /// the header section, else 0.
    special: u64,
    /// Bytes in the block (at least 1).
    n: usize,
}

impl Block {
    /// Classifies `region[base..]`, at most its first 64 bytes, 16 at a
    /// time with vector compares (`wide`: pcmpeqb + pmovmskb on x86-64):
    /// LF, CR and, as `special`, `@` if `AT` and `=` if `EQUALS`. A short
    /// block (it ends the region) takes the 16 bytes that end it first,
    /// reaching back before `base` or overlapping its whole chunks (the
    /// classes of a byte are the same in either chunk, and bits before the
    /// block are shifted out), then those whole chunks: the common short
    /// block, a message's last few bytes, is one chunk and no merging.
    /// Only a region shorter than 16 bytes is copied into a padded chunk.
    #[inline(always)]
    fn scan<const AT: bool, const EQUALS: bool>(region: &[u8], base: usize) -> Block {
        let rest = &region[base..];
        let mut blk = Block {
            lf: 0,
            cr: 0,
            special: 0,
            n: 64,
        };
        if let Some(block) = rest.first_chunk::<64>() {
            for (c, chunk) in block.as_chunks::<16>().0.iter().enumerate() {
                blk.add::<AT, EQUALS>(chunk, |m| u64::from(m) << (16 * c));
            }
            return blk;
        }
        // A short block ends the region: the 16 bytes that end it (so a
        // tail of a few bytes costs one chunk), then its whole chunks
        // before those.
        let n = rest.len();
        blk.n = n;
        // Bit `j` of the last 16 bytes is byte `n - 16 + j` of the block
        // (`n < 64`: the shift is 1..=63).
        let place = |m: u16| (u64::from(m) << 48) >> (64 - n);
        match region.last_chunk::<16>() {
            Some(chunk) => blk.add::<AT, EQUALS>(chunk, place),
            None => {
                let mut pad = [0u8; 16];
                pad[16 - n..].copy_from_slice(rest);
                blk.add::<AT, EQUALS>(&pad, place);
            }
        }
        let mut at = 0;
        while at + 16 < n {
            if let Some(chunk) = rest[at..].first_chunk::<16>() {
                blk.add::<AT, EQUALS>(chunk, |m| u64::from(m) << at);
            }
            at += 16;
        }
        blk
    }

    /// [`Self::scan`] of a header block, and its first `@`/`=` that fails
    /// [`HeaderScan::special_is_inert`] for the header line it is in (or
    /// `usize::MAX`), the walk having started at the line start `i`.
    /// (Exact without knowing where that line starts: `NAME=` looks back
    /// four bytes, `: DECODE@` eight, and bytes that reach back past a line
    /// start hold its LF, which is in neither pattern; before `i` nothing is
    /// looked at. Flagging `@`, where F4 completes, and not the `:` where it
    /// starts: a header line holds a `:` or more, a `@` seldom.)
    #[inline(always)]
    fn scan_header<const AT: bool, const EQUALS: bool>(
        region: &[u8],
        base: usize,
        i: usize,
    ) -> (Block, usize) {
        let blk = Self::scan::<AT, EQUALS>(region, base);
        let mut bits = blk.special;
        while bits != 0 {
            let q = base + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            // (With one kind flagged, the byte is known.)
            let inert = match (AT, EQUALS) {
                (true, false) => HeaderScan::at_is_inert(region, q),
                _ => HeaderScan::special_is_inert_at(region, i, q),
            };
            if !inert {
                return (blk, q);
            }
        }
        (blk, usize::MAX)
    }

    /// Adds the classes of `chunk`, each 16-bit mask placed in the block by
    /// `place`.
    #[inline(always)]
    fn add<const AT: bool, const EQUALS: bool>(
        &mut self,
        chunk: &[u8; 16],
        place: impl Fn(u16) -> u64,
    ) {
        let v = u8x16::new(*chunk);
        let bits = |m: u32| place(m as u16);
        self.lf |= bits(v.simd_eq(u8x16::splat(b'\n')).to_bitmask());
        self.cr |= bits(v.simd_eq(u8x16::splat(b'\r')).to_bitmask());
        let special = match (AT, EQUALS) {
            (false, false) => return,
            (true, false) => v.simd_eq(u8x16::splat(b'@')),
            (false, true) => v.simd_eq(u8x16::splat(b'=')),
            (true, true) => v.simd_eq(u8x16::splat(b'@')) | v.simd_eq(u8x16::splat(b'=')),
        };
        self.special |= bits(special.to_bitmask());
    }
}

#[cfg(test)]
mod tests {
    use super::Block;
    use crate::{Action, Inspector, Policy, SmtpStats};

    /// The bits of `bytes` equal to one of `set`, as [`Block::scan`] should
    /// give them for the block at `base`.
    fn bits(bytes: &[u8], base: usize, set: &[u8]) -> u64 {
        bytes[base..]
            .iter()
            .take(64)
            .enumerate()
            .filter(|(_, b)| set.contains(b))
            .fold(0, |m, (k, _)| m | 1 << k)
    }

    #[test]
    fn block_scan_classifies_every_shape() {
        // The corpus message (a full block, then a short one read as the
        // 16 bytes that end it), a region shorter than 16 bytes (padded),
        // and whole chunks plus an overlapping last one.
        let corpus =
            b"Subject: report 17\r\nFrom: sender17@example.net\r\n\r\nshort body line\r\n.\r\n";
        let cases: [(&[u8], usize); 7] = [
            (corpus, 0),
            (corpus, 64),
            (corpus, 60),
            (b".\r\n", 0),
            (b"a@b=c\r\n", 2),
            (b"0123456789abcdef@=\r\nxyz0123456789abcdef@=\r", 0),
            (b"0123456789abcdef@=\r\nxyz0123456789abcdef@=\r", 5),
        ];
        for (bytes, base) in cases {
            let n = (bytes.len() - base).min(64);
            let blk = Block::scan::<true, true>(bytes, base);
            assert_eq!(blk.n, n);
            assert_eq!(blk.lf, bits(bytes, base, b"\n"), "{base} {bytes:?}");
            assert_eq!(blk.cr, bits(bytes, base, b"\r"), "{base} {bytes:?}");
            assert_eq!(blk.special, bits(bytes, base, b"@="), "{base} {bytes:?}");
            assert_eq!(
                Block::scan::<true, false>(bytes, base).special,
                bits(bytes, base, b"@")
            );
            assert_eq!(
                Block::scan::<false, true>(bytes, base).special,
                bits(bytes, base, b"=")
            );
            assert_eq!(Block::scan::<false, false>(bytes, base).special, 0);
        }
    }

    #[test]
    fn block_scan_of_every_length_and_start() {
        // Every region length up to two blocks and a half and every block
        // start in it: full blocks, short ones of every length (their last
        // 16 bytes first, reaching back before the block or overlapping its
        // whole chunks), and regions shorter than 16 bytes (padded).
        let text: Vec<u8> = (0..160u32)
            .map(|k| b"\r\n@=ab\rx"[(k * 7 % 11) as usize % 8])
            .collect();
        for len in 1..=text.len() {
            let region = &text[..len];
            for base in 0..len {
                let blk = Block::scan::<true, true>(region, base);
                assert_eq!(blk.n, (len - base).min(64), "{len} {base}");
                assert_eq!(blk.lf, bits(region, base, b"\n"), "{len} {base}");
                assert_eq!(blk.cr, bits(region, base, b"\r"), "{len} {base}");
                assert_eq!(blk.special, bits(region, base, b"@="), "{len} {base}");
            }
        }
    }

    #[test]
    fn a_new_message_is_scanned_afresh() {
        // The first message ends inside a `Reply-To:` field; the end of
        // data leaves its scan as it is, and the 354 to the next DATA
        // starts the next one's: a folded back-quote line there is no F5.
        for fast in [true, false] {
            let (mut i, mut st) = in_data(1 << 20);
            i.set_fast_paths(fast);
            let mut b = b"Reply-To: a\r\n.\r\n".to_vec();
            assert_eq!(i.handle_client(&mut b, &mut st).forward, b.len());
            assert!(!i.in_data());
            for (c, seg) in [
                (false, &b"250 ok\r\n"[..]),
                (true, b"MAIL FROM:<a@b>\r\n"),
                (false, b"250 ok\r\n"),
                (true, b"RCPT TO:<c@d>\r\n"),
                (false, b"250 ok\r\n"),
                (true, b"DATA\r\n"),
                (false, b"354 go\r\n"),
            ] {
                let mut v = seg.to_vec();
                let verdict = if c {
                    i.handle_client(&mut v, &mut st)
                } else {
                    i.handle_server(&mut v, &mut st)
                };
                assert_eq!(verdict.action, Action::Continue);
            }
            assert!(i.in_data());
            let mut b = b" `x`\r\n\r\nbody\r\n.\r\n".to_vec();
            let v = i.handle_client(&mut b, &mut st);
            assert_eq!((v.forward, v.action), (b.len(), Action::Continue));
            assert_eq!(st.messages, 2);
        }
    }

    #[test]
    fn header_scan_finds_the_first_live_special() {
        let hdr = b"To: a\r\nCc: x, ::: UUDECODE@h\r\nContent-Type: a; name=b\r\n";
        // The `@` at 26 is the first that completes F4 (`: UUDECODE@`);
        // `name=` (its `=` at 51) the first I4 start.
        assert_eq!(Block::scan_header::<true, false>(hdr, 0, 0).1, 26);
        assert_eq!(Block::scan_header::<false, true>(hdr, 0, 0).1, 51);
        assert_eq!(Block::scan_header::<true, true>(hdr, 0, 0).1, 26);
        // (From any start before the `@`: it looks at `DECODE@` alone.)
        assert_eq!(Block::scan_header::<true, false>(hdr, 24, 24).1, 26);
        assert_eq!(Block::scan_header::<true, true>(hdr, 27, 27).1, 51);
        // Fewer than seven bytes before a `@`: no `DECODE` before it.
        assert_eq!(
            Block::scan_header::<true, false>(b"code@\r\n", 0, 0).1,
            usize::MAX
        );
        assert_eq!(
            Block::scan_header::<true, false>(b"decode@\r\n", 0, 0).1,
            usize::MAX
        );
        // An address's `@` is inert; `: dEcOdE@` in any case is not, nor
        // (conservatively) any other `decode@`.
        for (line, live) in [
            (&b"From: sender7@example.net\r\n"[..], usize::MAX),
            (b"To: x, decod@h, ecode@i\r\n", usize::MAX),
            (b"To: a, : dEcOdE@h\r\n", 15),
            (b"To: a, : uUdEcOdE@h\r\n", 17),
            (b"To: x, decode@h\r\n", 13),
            (b"X-A: :decode@\r\n", 12),
            (b"To: xuudecode@h\r\n", 13),
        ] {
            assert_eq!(Block::scan_header::<true, false>(line, 0, 0).1, live);
        }
        // A `name` before the walk's start is not looked at.
        assert_eq!(Block::scan_header::<false, true>(hdr, 51, 51).1, usize::MAX);
        assert_eq!(Block::scan_header::<false, true>(hdr, 48, 48).1, usize::MAX);
        assert_eq!(Block::scan_header::<false, true>(hdr, 47, 47).1, 51);
    }

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
