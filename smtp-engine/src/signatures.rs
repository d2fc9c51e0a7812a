//! The eleven SMTP/ESMTP IDS signatures of spec §10 (README decision 2) and the
//! small streaming matchers that detect the content-based ones.
//!
//! F1–F6 are "hard-coded" and on by default: a hit closes the session with
//! `554 Transaction failed` (reply-and-close, §9). I1–I5 live "in the IDS code",
//! are off by default and only log. Every matcher here is a fixed-size state
//! machine fed one byte at a time, so a signature is found whatever the TCP
//! segmentation is.

/// One IDS signature (spec §10.1, §10.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signature {
    /// 3101 Sendmail Invalid Recipient: `|` in a RCPT argument.
    F1InvalidRecipient,
    /// 3102 Sendmail Invalid Sender: `|` in a MAIL/SAML/SEND/SOML argument.
    F2InvalidSender,
    /// 3104 Archaic Sendmail Attacks: verb `WIZ` or `DEBUG`.
    F3ArchaicSendmail,
    /// 3105 Sendmail Decode Alias: RCPT to `decode`/`uudecode`, or such a header.
    F4DecodeAlias,
    /// 3107 Majordomo Execute Attack: back-quote in a `Reply-To:` header.
    F5MajordomoExec,
    /// Invalid SMTP command: a command line longer than its limit.
    F6OverlongCommand,
    /// 3100 Smail Attack: `|` followed by `/` in a MAIL argument.
    I1SmailAttack,
    /// 3103 Sendmail Reconnaissance: verb `EXPN` or `VRFY`.
    I2Reconnaissance,
    /// 3106 Mail Spam: more RCPT lines per transaction than the threshold.
    I3MailSpam,
    /// MIME `name=`/`filename=` value longer than 255 bytes in a header (PROPOSED id 3108).
    I4MimeFilename,
    /// A message data line longer than 1000 octets (PROPOSED id 3109).
    I5OverlongDataLine,
}

impl Signature {
    /// All signatures in table order.
    pub const ALL: [Signature; 11] = [
        Signature::F1InvalidRecipient,
        Signature::F2InvalidSender,
        Signature::F3ArchaicSendmail,
        Signature::F4DecodeAlias,
        Signature::F5MajordomoExec,
        Signature::F6OverlongCommand,
        Signature::I1SmailAttack,
        Signature::I2Reconnaissance,
        Signature::I3MailSpam,
        Signature::I4MimeFilename,
        Signature::I5OverlongDataLine,
    ];

    /// Position in [`Signature::ALL`], also the index into `SmtpStats::sig_hits`.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The Cisco IDS signature number (PROPOSED for I4/I5; F6 has none and uses 0).
    pub const fn id(self) -> u16 {
        match self {
            Signature::F1InvalidRecipient => 3101,
            Signature::F2InvalidSender => 3102,
            Signature::F3ArchaicSendmail => 3104,
            Signature::F4DecodeAlias => 3105,
            Signature::F5MajordomoExec => 3107,
            Signature::F6OverlongCommand => 0,
            Signature::I1SmailAttack => 3100,
            Signature::I2Reconnaissance => 3103,
            Signature::I3MailSpam => 3106,
            Signature::I4MimeFilename => 3108,
            Signature::I5OverlongDataLine => 3109,
        }
    }

    /// Human title used in the log text.
    pub const fn title(self) -> &'static str {
        match self {
            Signature::F1InvalidRecipient => "Sendmail Invalid Recipient",
            Signature::F2InvalidSender => "Sendmail Invalid Sender",
            Signature::F3ArchaicSendmail => "Archaic Sendmail Attacks",
            Signature::F4DecodeAlias => "Sendmail Decode Alias",
            Signature::F5MajordomoExec => "Majordomo Execute Attack",
            Signature::F6OverlongCommand => "Invalid SMTP command",
            Signature::I1SmailAttack => "Smail Attack",
            Signature::I2Reconnaissance => "Sendmail Reconnaissance",
            Signature::I3MailSpam => "Mail Spam",
            Signature::I4MimeFilename => "MIME Filename Too Long",
            Signature::I5OverlongDataLine => "Overlong Message Line",
        }
    }

    /// Hard-coded (F*) signatures close the session; IDS (I*) ones only log.
    pub const fn closes_session(self) -> bool {
        (self as u8) <= Signature::F6OverlongCommand as u8
    }

    /// IOS default: F1–F6 on, I1–I5 off.
    pub const fn default_enabled(self) -> bool {
        self.closes_session()
    }
}

/// A set of enabled signatures (bit i = `Signature::ALL[i]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignatureSet(u16);

impl Default for SignatureSet {
    /// F1–F6 enabled, I1–I5 disabled (spec §10).
    fn default() -> Self {
        SignatureSet(0b11_1111)
    }
}

impl SignatureSet {
    /// No signature enabled.
    pub const fn empty() -> Self {
        SignatureSet(0)
    }
    /// Every signature enabled.
    pub const fn all() -> Self {
        SignatureSet((1 << 11) - 1)
    }
    /// Is `s` enabled?
    pub const fn contains(self, s: Signature) -> bool {
        self.0 & (1 << s.index()) != 0
    }
    /// Enable `s` (`ip inspect smtp ids-signature <id>`).
    pub fn enable(&mut self, s: Signature) {
        self.0 |= 1 << s.index();
    }
    /// Disable `s`.
    pub fn disable(&mut self, s: Signature) {
        self.0 &= !(1 << s.index());
    }
    /// Builder form of [`SignatureSet::enable`].
    pub const fn with(self, s: Signature) -> Self {
        SignatureSet(self.0 | (1 << s.index()))
    }
    /// Builder form of [`SignatureSet::disable`].
    pub const fn without(self, s: Signature) -> Self {
        SignatureSet(self.0 & !(1 << s.index()))
    }
}

const DECODE: &[u8] = b"DECODE";
const UUDECODE: &[u8] = b"UUDECODE";

/// F4 on the command side: is the local part of a `RCPT TO:` path `decode` or
/// `uudecode`? Fed the argument bytes of a RCPT line (after the verb's SP).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RcptLocalPart {
    /// 0..3: matching `TO:`; 3: optional SP; 4: optional `<`; 5: local part; 6: done.
    phase: u8,
    pos: u8,
    buf: [u8; 8],
    len: u8,
    over: bool,
}

impl RcptLocalPart {
    /// Feed one argument byte (CR/LF excluded; call [`Self::finish`] at line end).
    /// Returns true when the local part is complete and is a decode alias.
    #[inline]
    pub(crate) fn feed(&mut self, b: u8) -> bool {
        loop {
            match self.phase {
                0 => {
                    if b.to_ascii_uppercase() == b"TO:"[self.pos as usize] {
                        self.pos += 1;
                        if self.pos == 3 {
                            self.phase = 3;
                        }
                    } else {
                        self.phase = 6;
                    }
                    return false;
                }
                3 => {
                    self.phase = 4;
                    if b == b' ' {
                        return false;
                    }
                }
                4 => {
                    self.phase = 5;
                    if b == b'<' {
                        return false;
                    }
                }
                5 => {
                    if matches!(b, b'@' | b'>' | b' ') {
                        self.phase = 6;
                        return self.is_alias();
                    }
                    if (self.len as usize) < self.buf.len() {
                        self.buf[self.len as usize] = b.to_ascii_uppercase();
                        self.len += 1;
                    } else {
                        self.over = true;
                    }
                    return false;
                }
                _ => return false,
            }
        }
    }

    /// Has the local part been decided (nothing more to match on this line)?
    pub(crate) fn done(&self) -> bool {
        self.phase == 6
    }

    /// Whole-argument form of [`Self::feed`] + [`Self::finish`] for a RCPT
    /// argument list held in one slice.
    pub(crate) fn matches(args: &[u8]) -> bool {
        let Some((head, mut rest)) = args.split_first_chunk::<3>() else {
            return false;
        };
        if !head.eq_ignore_ascii_case(b"TO:") {
            return false;
        }
        if rest.first() == Some(&b' ') {
            rest = &rest[1..];
        }
        if rest.first() == Some(&b'<') {
            rest = &rest[1..];
        }
        Self::local_is_alias(rest)
    }

    /// Does the local part starting at `rest[0]` (after `TO:`, an optional
    /// SP and an optional `<`) make the arguments a decode alias:
    /// [`Self::matches`] past that prefix, for callers that have found the
    /// path's `<` already. Only `decode`/`uudecode` match, and the first byte
    /// says which: the local part must be exactly that word (all letters, so
    /// it holds no delimiter), then end at a delimiter or the end of `rest`.
    #[inline(always)]
    pub(crate) fn local_is_alias(rest: &[u8]) -> bool {
        // One word compare each: both words are all letters, for which
        // ORing in `0x20` is exactly ASCII case folding.
        let n = match rest.first() {
            Some(b'd' | b'D') => match rest.first_chunk::<6>() {
                Some(&[a, b, c, d, e, f]) => {
                    let w = u64::from_le_bytes([a, b, c, d, e, f, 0, 0]);
                    if w | 0x2020_2020_2020 != u64::from_le_bytes(*b"decode\0\0") {
                        return false;
                    }
                    DECODE.len()
                }
                None => return false,
            },
            Some(b'u' | b'U') => match rest.first_chunk::<8>() {
                Some(w)
                    if u64::from_le_bytes(*w) | 0x2020_2020_2020_2020
                        == u64::from_le_bytes(*b"uudecode") =>
                {
                    UUDECODE.len()
                }
                _ => return false,
            },
            _ => return false,
        };
        rest.get(n).is_none_or(|b| matches!(b, b'@' | b'>' | b' '))
    }

    /// Line end: a path without `@` (`RCPT TO:<decode>`) is complete here.
    pub(crate) fn finish(&mut self) -> bool {
        if self.phase == 5 {
            self.phase = 6;
            return self.is_alias();
        }
        false
    }

    fn is_alias(&self) -> bool {
        let l = &self.buf[..self.len as usize];
        !self.over && (l == DECODE || l == UUDECODE)
    }
}

const REPLY_TO: &[u8] = b"REPLY-TO:";
const HDR_DECODE: &[u8] = b": DECODE@";
const HDR_UUDECODE: &[u8] = b": UUDECODE@";
const NAME_EQ: &[u8] = b"NAME=";
/// ASA's default MIME filename limit, used for I4 (spec §10.2).
pub(crate) const MIME_NAME_LIMIT: u32 = 255;

/// Substring matcher for patterns whose first byte occurs nowhere else in the
/// pattern (`:` resp. `N`), so restarting on a mismatch is exact (KMP with an
/// all-zero failure function).
#[derive(Clone, Copy, Debug, Default)]
struct Needle {
    pos: u8,
}

impl Needle {
    #[inline]
    fn feed(&mut self, pat: &[u8], up: u8) -> bool {
        if up == pat[self.pos as usize] {
            self.pos += 1;
        } else {
            self.pos = u8::from(up == pat[0]);
        }
        if self.pos as usize == pat.len() {
            self.pos = 0;
            return true;
        }
        false
    }
}

/// Scanner for the header section of a message (F4 header form, F5, I4).
///
/// Its state at a message's start is all zero bytes (a new message's scan
/// is then a few wide stores of zero).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HeaderScan {
    /// Progress matching `Reply-To:` at the start of a header line; 0xFF = not this header.
    name: u8,
    in_reply_to: bool,
    decode: Needle,
    uudecode: Needle,
    name_eq: Needle,
    /// Is a MIME name value being measured (its length in `value_len`)?
    measuring: bool,
    /// Length of the MIME name value being measured.
    value_len: u32,
    value_quoted: bool,
    value_first: bool,
}

impl HeaderScan {
    /// The state at a message's start: all zero.
    pub(crate) fn new() -> Self {
        HeaderScan::default()
    }

    /// A new header line starts with byte `first` (folded lines start with SP/TAB
    /// and continue the previous field).
    #[inline]
    pub(crate) fn line_start(&mut self, first: u8) {
        if first != b' ' && first != b'\t' {
            self.in_reply_to = false;
            self.name = 0;
        } else {
            self.name = 0xFF;
        }
        self.decode = Needle::default();
        self.uudecode = Needle::default();
        self.name_eq = Needle::default();
        self.measuring = false;
    }

    /// Feed one header byte (CR/LF excluded). Returns the signatures it completes
    /// as a bit set over (F4, F5, I4).
    #[inline]
    pub(crate) fn feed(&mut self, b: u8) -> HeaderHits {
        let mut hits = HeaderHits::default();
        let up = b.to_ascii_uppercase();
        if self.name != 0xFF {
            if up == REPLY_TO[self.name as usize] {
                self.name += 1;
                if self.name as usize == REPLY_TO.len() {
                    self.in_reply_to = true;
                    self.name = 0xFF;
                }
            } else {
                self.name = 0xFF;
            }
        } else if self.in_reply_to && b == b'`' {
            hits.f5 = true;
        }
        if self.decode.feed(HDR_DECODE, up) | self.uudecode.feed(HDR_UUDECODE, up) {
            hits.f4 = true;
        }
        if self.measuring {
            if self.value_first && b == b'"' {
                self.value_quoted = true;
            } else if (self.value_quoted && b == b'"')
                || (!self.value_quoted && matches!(b, b';' | b' ' | b'\t'))
            {
                self.measuring = false;
            } else {
                self.value_len += 1;
                if self.value_len == MIME_NAME_LIMIT + 1 {
                    hits.i4 = true;
                }
            }
            self.value_first = false;
        } else if self.name_eq.feed(NAME_EQ, up) {
            self.measuring = true;
            self.value_len = 0;
            self.value_quoted = false;
            self.value_first = true;
        }
        hits
    }
}

impl HeaderScan {
    /// Is the scanner in its resting state, where only `:` (start of the
    /// `: DECODE@` needles) or `N` (start of `NAME=`) can change anything?
    #[inline]
    fn resting(&self) -> bool {
        self.name == 0xFF
            && !self.in_reply_to
            && self.decode.pos == 0
            && self.uudecode.pos == 0
            && self.name_eq.pos == 0
            && !self.measuring
    }

    /// Feeds `bytes` (CR/LF excluded) and stops after the first byte that
    /// completes a signature. Returns the hits of that byte (none if the
    /// slice ran out) and how many bytes were consumed.
    ///
    /// Exactly [`Self::feed`] byte by byte, but in the resting state it skips
    /// with `memchr3` to the next `:`, `N` or `n`: every other byte leaves a
    /// resting scanner unchanged, so most header bytes cost what a vector
    /// scan costs instead of a trip through three matchers.
    pub(crate) fn feed_slice(&mut self, bytes: &[u8]) -> (HeaderHits, usize) {
        let mut i = 0;
        while i < bytes.len() {
            if self.resting() {
                match memchr::memchr3(b':', b'N', b'n', &bytes[i..]) {
                    Some(k) => i += k,
                    None => return (HeaderHits::default(), bytes.len()),
                }
            }
            let hits = self.feed(bytes[i]);
            i += 1;
            if hits != HeaderHits::default() {
                return (hits, i);
            }
        }
        (HeaderHits::default(), bytes.len())
    }
}

impl HeaderScan {
    /// The whole-line form for the common header line: `line` starts at a
    /// header line start (where [`Self::line_start`] would be called) and runs
    /// at least to the line's CRLF. When the line certainly completes no
    /// signature — no back-quote, no `NAME=`, no `: ` before a `D`/`U`, no
    /// bare CR or LF before its CRLF — this answers its content length
    /// (without the CRLF) and leaves the scanner as [`Self::line_start`] and
    /// [`Self::feed`] over the content would for every later line: the next
    /// line start resets everything but the `Reply-To:` state, which is set
    /// here. `None`: nothing was changed; feed the line byte by byte.
    ///
    /// Exact because every pattern is anchored on a byte this scan stops at:
    /// `REPLY-TO:` only at the line start, F5 on a back-quote, the F4 needles
    /// on `:` (their first byte occurs nowhere else in them), `NAME=` on its
    /// `=` (with the four bytes before it in this line).
    #[inline]
    pub(crate) fn quick_line(&mut self, line: &[u8]) -> Option<usize> {
        // (An empty line is no header line: it ends the header section.)
        line.first().filter(|&&b| b != b'\r' && b != b'\n')?;
        let mut k = 0;
        let end = loop {
            let p = k + crate::framing::first_header_special(line.get(k..)?);
            match *line.get(p)? {
                b'\r' if line.get(p + 1) == Some(&b'\n') => break p,
                _ if Self::special_is_inert(line, p) => {}
                _ => return None,
            }
            k = p + 1;
        };
        self.clean_line(line, end);
        Some(end)
    }

    /// The state after header lines that complete no signature, none of
    /// them a `Reply-To:` line or a continuation of one: what
    /// [`Self::clean_line`] leaves after the last of them (the next line
    /// start resets everything else).
    #[inline(always)]
    pub(crate) fn after_inert_lines(&mut self) {
        self.in_reply_to = false;
        self.name = 0xFF;
        self.decode = Needle::default();
        self.uudecode = Needle::default();
        self.name_eq = Needle::default();
        self.measuring = false;
    }

    /// Is the header line being scanned part of a `Reply-To:` field (a
    /// back-quote in it completes F5)?
    #[inline(always)]
    pub(crate) fn in_reply_to(&self) -> bool {
        self.in_reply_to
    }

    /// May the header byte `line[p]` (one [`crate::framing::first_header_special`]
    /// flags: a control byte, `:`, `=` or a back-quote) be passed over by a
    /// whole-line check, `line` starting at the header line's start? False
    /// for CR and LF (a line end or a bare one), a back-quote (F5), `: `
    /// before `D`/`U` (may start an F4 needle's match), a `@` after what
    /// may be `: DECODE` or `UUDECODE` (may complete one) and the `=` of
    /// `NAME=` (starts a MIME name value, I4); any other `:` or `=`, TAB or
    /// another control byte is content no pattern can complete on. Bytes
    /// after `p` are read only if present (a caller passing the line with
    /// its CRLF sees every byte the patterns could need).
    #[inline(always)]
    pub(crate) fn special_is_inert(line: &[u8], p: usize) -> bool {
        Self::special_is_inert_at(line, 0, p)
    }

    /// [`Self::special_is_inert`] for the byte `bytes[q]` of the header line
    /// that starts at `bytes[s]` (`s <= q`): `special_is_inert(&bytes[s..], q - s)`
    /// without the slice.
    #[inline(always)]
    pub(crate) fn special_is_inert_at(bytes: &[u8], s: usize, q: usize) -> bool {
        match bytes[q] {
            b'\r' | b'\n' | b'`' => false,
            b':' => Self::colon_is_inert(bytes, q),
            b'@' => Self::at_is_inert(bytes, q),
            // `name` in any case: all four are letters, for which ORing in
            // `0x20` is exactly ASCII case folding.
            b'=' => {
                !(q - s >= 4
                    && bytes
                        .get(q - 4..q)
                        .and_then(|w| w.first_chunk::<4>())
                        .is_some_and(|w| {
                            u32::from_le_bytes(*w) | 0x2020_2020 == u32::from_le_bytes(*b"name")
                        }))
            }
            _ => true,
        }
    }

    /// [`Self::special_is_inert_at`] for a `:` at `bytes[q]`: not `: `
    /// before `d`, `D`, `u` or `U`. (The two bytes after it as one word,
    /// with `0x20` ORed into the second: that folds exactly `D` to `d` and
    /// `U` to `u`.)
    #[inline(always)]
    pub(crate) fn colon_is_inert(bytes: &[u8], q: usize) -> bool {
        match bytes.get(q + 1..q + 3).and_then(|w| w.first_chunk::<2>()) {
            Some(w) => {
                let w = u16::from_le_bytes(*w) | 0x2000;
                w != u16::from_le_bytes(*b" d") && w != u16::from_le_bytes(*b" u")
            }
            None => true,
        }
    }

    /// [`Self::special_is_inert_at`] for a `@` at `bytes[q]`: false if it
    /// may be the byte that completes an F4 needle, `: DECODE@` or
    /// `: UUDECODE@` (the needles fire on their `@`, and only a `@` can
    /// complete them). Both end in `DECODE@`: the seven bytes up to the `@`
    /// as one word (read as eight, the first shifted out), with `0x20` ORed
    /// into the six letters' places, must not be `decode@`. That folds a
    /// letter's case and maps no other byte onto a letter, so every
    /// completion is found; a `@` after `decode` that completes none
    /// (`x-decode@`, or one whose `decode` reaches back past the line start,
    /// where its LF is, no letter) is flagged too, and the general path
    /// then takes its line, which is exact either way. Looks at no other
    /// byte, so the line's start need not be known.
    #[inline(always)]
    pub(crate) fn at_is_inert(bytes: &[u8], q: usize) -> bool {
        match bytes.get(..=q).and_then(|w| w.last_chunk::<8>()) {
            Some(w) => {
                (u64::from_le_bytes(*w) >> 8) | 0x2020_2020_2020
                    != u64::from_le_bytes(*b"decode@\0")
            }
            None => true,
        }
    }

    /// The state after a header line of `content_len` content bytes
    /// (`line` from its start, at least that long) that completes no
    /// signature: what [`Self::line_start`] and [`Self::feed`] over the
    /// content leave for every later line (the next line start resets
    /// everything but the `Reply-To:` state, which is set here).
    #[inline(always)]
    pub(crate) fn clean_line(&mut self, line: &[u8], content_len: usize) {
        let first = line[0];
        if first != b' ' && first != b'\t' {
            self.in_reply_to = content_len >= REPLY_TO.len()
                && line
                    .first_chunk::<9>()
                    .is_some_and(|h| h.eq_ignore_ascii_case(REPLY_TO));
        }
        self.name = 0xFF;
        self.decode = Needle::default();
        self.uudecode = Needle::default();
        self.name_eq = Needle::default();
        self.measuring = false;
    }
}

/// Signatures completed by one header byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeaderHits {
    pub(crate) f4: bool,
    pub(crate) f5: bool,
    pub(crate) i4: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(arg: &[u8]) -> bool {
        let mut m = RcptLocalPart::default();
        let mut hit = false;
        for &b in arg {
            hit |= m.feed(b);
        }
        let hit = hit | m.finish();
        assert_eq!(
            hit,
            RcptLocalPart::matches(arg),
            "{:?}",
            String::from_utf8_lossy(arg)
        );
        hit
    }

    #[test]
    fn decode_alias_in_rcpt() {
        assert!(local(b"TO:<decode@example.test>"));
        assert!(local(b"to: <UUDecode@x>"));
        assert!(local(b"TO:decode@x"));
        assert!(local(b"TO:<decode>"));
        assert!(!local(b"TO:<decoder@x>"));
        assert!(!local(b"TO:<bob@decode>"));
        assert!(!local(b"FROM:<decode@x>"));
        assert!(!local(b"TO:<uuudecode@x>"));
    }

    fn header(lines: &[&[u8]]) -> HeaderHits {
        let mut h = HeaderScan::new();
        let mut acc = HeaderHits::default();
        for l in lines {
            h.line_start(l[0]);
            for &b in *l {
                let x = h.feed(b);
                acc.f4 |= x.f4;
                acc.f5 |= x.f5;
                acc.i4 |= x.i4;
            }
        }
        acc
    }

    #[test]
    fn feed_slice_equals_feed_byte_by_byte() {
        // Deterministic pseudo-random header text rich in the bytes that
        // matter, split at every position, must give the same hits at the
        // same offsets as feeding byte by byte.
        let alphabet = b"NnAaMmEe=:;\" \t`dDeEcCoOuU@rReEpPlLyY-tTxX";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for round in 0..400 {
            let len = 1 + round % 300;
            let line: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let first = line[0];
            let mut reference = HeaderScan::new();
            reference.line_start(first);
            let expected: Vec<(usize, HeaderHits)> = line
                .iter()
                .enumerate()
                .map(|(k, &b)| (k, reference.feed(b)))
                .filter(|(_, h)| *h != HeaderHits::default())
                .collect();
            for split in 0..=line.len() {
                let mut scan = HeaderScan::new();
                scan.line_start(first);
                let mut got = Vec::new();
                for (base, part) in [(0, &line[..split]), (split, &line[split..])] {
                    let mut at = 0;
                    while at < part.len() {
                        let (h, n) = scan.feed_slice(&part[at..]);
                        at += n;
                        if h != HeaderHits::default() {
                            got.push((base + at - 1, h));
                        }
                    }
                }
                assert_eq!(
                    got,
                    expected,
                    "{:?} split {split}",
                    String::from_utf8_lossy(&line)
                );
            }
        }
        // The long MIME name (I4) and the Reply-To backquote (F5) also hit.
        let mut scan = HeaderScan::new();
        let mut hdr = b"Content-Type: text/plain; name=".to_vec();
        hdr.extend(std::iter::repeat_n(b'a', MIME_NAME_LIMIT as usize + 1));
        scan.line_start(hdr[0]);
        assert!(scan.feed_slice(&hdr).0.i4);
        let mut scan = HeaderScan::new();
        scan.line_start(b'R');
        assert!(scan.feed_slice(b"Reply-To: a`b").0.f5);
    }

    #[test]
    fn header_signatures() {
        assert!(header(&[b"Reply-To: `rm -rf /`@x"]).f5);
        assert!(header(&[b"reply-to: a", b"  b`c"]).f5);
        assert!(!header(&[b"Subject: `x`"]).f5);
        assert!(!header(&[b"X-Reply-To: `x`"]).f5);
        assert!(header(&[b"To: decode@example.test"]).f4);
        assert!(header(&[b"Cc: x, ::: UUDECODE@h"]).f4);
        assert!(!header(&[b"To: xdecode@example.test"]).f4);
        let long = [b"Content-Type: a; name=".as_slice(), &[b'f'; 256]].concat();
        assert!(header(&[&long]).i4);
        let ok = [
            b"Content-Disposition: a; filename=\"".as_slice(),
            &[b'f'; 255],
            b"\"",
        ]
        .concat();
        assert!(!header(&[&ok]).i4);
        let q = [
            b"Content-Disposition: a; filename=\"".as_slice(),
            &[b' '; 256],
            b"\"",
        ]
        .concat();
        assert!(header(&[&q]).i4);
    }

    /// Pieces of header lines: the patterns, their near misses, and the
    /// bytes the whole-line check stops at.
    const HEADER_PARTS: &[&[u8]] = &[
        b"Reply-To:",
        b"reply-to:",
        b"Reply-To",
        b"REPLY-TO: ",
        b": decode@",
        b": UUDECODE@",
        b": uudecod",
        b":decode@",
        b": Decode",
        b": dx",
        b"name=",
        b"NAME=",
        b"filename=\"",
        b"nam=",
        b"=",
        b":",
        b"`",
        b" ",
        b"\t",
        b"a",
        b"N",
        b"\"",
        b";",
        b"\x01",
        b"\x1a",
        b"\xc3",
        b"x@y",
        b"Subject",
        b"From: a@b",
    ];

    /// Pieces of RCPT arguments around the decode aliases.
    const LOCAL_PARTS: &[&[u8]] = &[
        b"TO:",
        b"to:",
        b"T0:",
        b" ",
        b"<",
        b">",
        b"@",
        b"decode",
        b"DeCoDe",
        b"uudecode",
        b"UUDECODE",
        b"uudecod",
        b"decod",
        b"x",
        b"u",
        b"d",
        b"\xc4",
        b"\x04ecode",
    ];

    /// A header line from pieces, with a long MIME name value now and then.
    fn header_line() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        (
            proptest::collection::vec(proptest::sample::select(HEADER_PARTS), 0..8),
            prop_oneof![4 => Just(0usize), 1 => 250usize..262],
        )
            .prop_map(|(parts, long)| {
                let mut l = parts.concat();
                l.extend(std::iter::repeat_n(b'v', long));
                l
            })
    }

    proptest::proptest! {
        /// `HeaderScan::quick_line` against `line_start` + `feed`: a line it
        /// takes completes no signature, and every later line scans alike.
        #[test]
        fn whole_header_lines_match_byte_feeding(
            lines in proptest::collection::vec(header_line(), 1..8),
        ) {
            let mut reference = HeaderScan::new();
            let mut quick = HeaderScan::new();
            for content in &lines {
                let mut want = Vec::new();
                if let Some(&first) = content.first() {
                    reference.line_start(first);
                }
                for (k, &b) in content.iter().enumerate() {
                    let h = reference.feed(b);
                    if h != HeaderHits::default() {
                        want.push((k, h));
                    }
                }
                let mut line = content.clone();
                line.extend_from_slice(b"\r\nnext");
                match quick.quick_line(&line) {
                    Some(n) => {
                        proptest::prop_assert_eq!(n, content.len());
                        proptest::prop_assert!(want.is_empty(), "{:?}", String::from_utf8_lossy(content));
                    }
                    None => {
                        let mut got = Vec::new();
                        if let Some(&first) = content.first() {
                            quick.line_start(first);
                        }
                        for (k, &b) in content.iter().enumerate() {
                            let h = quick.feed(b);
                            if h != HeaderHits::default() {
                                got.push((k, h));
                            }
                        }
                        proptest::prop_assert_eq!(got, want);
                    }
                }
                proptest::prop_assert_eq!(quick.in_reply_to, reference.in_reply_to);
                // A bare CR or LF, or no line end at all: never taken.
                for cut in [&b"a\rb\r\n"[..], b"a\nb\r\n", b"\r"] {
                    let mut l = content.clone();
                    l.extend_from_slice(cut);
                    let mut q = quick;
                    proptest::prop_assert_eq!(q.quick_line(&l), None);
                }
            }
        }

        /// `RcptLocalPart::matches` against feeding the arguments byte by byte.
        #[test]
        fn local_part_match_equals_feeding(
            parts in proptest::collection::vec(proptest::sample::select(LOCAL_PARTS), 0..6),
        ) {
            let args = parts.concat();
            let mut m = RcptLocalPart::default();
            let mut hit = false;
            for &b in &args {
                hit |= m.feed(b);
            }
            hit |= m.finish();
            proptest::prop_assert_eq!(RcptLocalPart::matches(&args), hit, "{:?}", String::from_utf8_lossy(&args));
        }
    }

    #[test]
    fn specials_that_may_start_a_pattern() {
        let line = b"To: decode@x, a: Uu, b:  d, c:d, name=x, NAME=, nam=, :";
        let live: Vec<usize> = (0..line.len())
            .filter(|&q| matches!(line[q], b':' | b'='))
            .filter(|&q| !HeaderScan::special_is_inert_at(line, 0, q))
            .collect();
        // `: d` at 2, `: U` at 15, `name=` at 37, `NAME=` at 45; not `:  d`,
        // `:d`, `nam=` or a `:` with nothing after it.
        assert_eq!(live, [2, 15, 37, 45]);
        for q in [2, 15] {
            assert!(!HeaderScan::colon_is_inert(line, q));
        }
        for q in [22, 29, line.len() - 1] {
            assert!(HeaderScan::colon_is_inert(line, q));
        }
        // `name=` needs its four letters in the line: from a later start
        // they are not looked at.
        assert!(HeaderScan::special_is_inert_at(line, 34, 37));
        assert!(!HeaderScan::special_is_inert_at(line, 33, 37));
        assert_eq!(
            HeaderScan::special_is_inert(&line[33..], 4),
            HeaderScan::special_is_inert_at(line, 33, 37)
        );
    }

    #[test]
    fn sets() {
        let s = SignatureSet::default();
        assert!(s.contains(Signature::F6OverlongCommand));
        assert!(!s.contains(Signature::I3MailSpam));
        let s = s
            .with(Signature::I3MailSpam)
            .without(Signature::F1InvalidRecipient);
        assert!(s.contains(Signature::I3MailSpam));
        assert!(!s.contains(Signature::F1InvalidRecipient));
        assert_eq!(SignatureSet::all().0.count_ones(), 11);
        for (i, s) in Signature::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }
}
