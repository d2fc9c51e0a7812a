//! Streaming parser for SMTP server replies (RFC 5321 §4.2): `NNN-text` continuation lines
//! and a final `NNN text` line, CRLF-terminated, possibly split anywhere across reads.
//!
//! The generator only needs each reply's code, whether a line is the last, and the start of
//! each line's text (to spot `PIPELINING` in the EHLO reply), so the parser keeps a few
//! bytes of state instead of buffering lines: no allocation per reply.

/// Longest reply line accepted (RFC 5321 §4.5.3.1.5 says 512 including CRLF; we allow
/// generous slack for real servers' long EHLO lines).
pub const MAX_LINE: usize = 2048;
/// How many bytes of each line's text are kept for keyword matching.
pub const KEEP: usize = 24;

/// A malformed reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply line does not start with a 3-digit code")]
    BadCode,
    #[error("reply code separator is neither ' ' nor '-'")]
    BadSeparator,
    #[error("continuation line code differs from the first line's")]
    CodeChanged,
    #[error("reply line longer than {MAX_LINE} bytes")]
    TooLong,
}

/// One complete reply line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub code: u16,
    /// True for the final line of a reply (`NNN ` or a bare `NNN`).
    pub last: bool,
    text: [u8; KEEP],
    text_len: u8,
}

impl Line {
    /// The first bytes (up to [`KEEP`]) of the line's text, without the code and CRLF.
    pub fn text(&self) -> &[u8] {
        &self.text[..usize::from(self.text_len)]
    }
}

/// Parser state carried between reads.
#[derive(Debug, Clone, Default)]
pub struct ReplyParser {
    head: [u8; 4],
    len: usize,
    text: [u8; KEEP],
    text_len: usize,
    reply_code: Option<u16>,
}

impl ReplyParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// True when no partial line or unfinished multi-line reply is pending.
    pub fn is_idle(&self) -> bool {
        self.len == 0 && self.reply_code.is_none()
    }

    /// Feeds bytes; calls `on_line` for every complete line. Stops at the first error.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut on_line: impl FnMut(Line),
    ) -> Result<(), ReplyError> {
        while !data.is_empty() {
            // Fill the 4-byte head (code + separator) byte by byte.
            while self.len < 4 && !data.is_empty() {
                let b = data[0];
                if b == b'\n' || b == b'\r' {
                    break;
                }
                self.head[self.len] = b;
                self.len += 1;
                data = &data[1..];
            }
            if data.is_empty() {
                return Ok(());
            }
            if self.len < 4 {
                // A line that ends after 3 bytes: a bare code is a valid final line.
                if data[0] == b'\r' {
                    data = &data[1..];
                    if data.is_empty() {
                        return Ok(());
                    }
                }
                if data[0] != b'\n' {
                    return Err(ReplyError::BadCode);
                }
                if self.len != 3 {
                    return Err(ReplyError::BadCode);
                }
                data = &data[1..];
                let code = self.code()?;
                self.finish(code, true, &mut on_line)?;
                continue;
            }
            // Rest of the line: keep the start of the text, find the end.
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    let chunk = &data[..i];
                    self.keep(chunk);
                    self.len += i + 1;
                    data = &data[i + 1..];
                    if self.len > MAX_LINE {
                        return Err(ReplyError::TooLong);
                    }
                    let code = self.code()?;
                    let last = match self.head[3] {
                        b' ' => true,
                        b'-' => false,
                        _ => return Err(ReplyError::BadSeparator),
                    };
                    self.finish(code, last, &mut on_line)?;
                }
                None => {
                    self.keep(data);
                    self.len += data.len();
                    if self.len > MAX_LINE {
                        return Err(ReplyError::TooLong);
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn keep(&mut self, chunk: &[u8]) {
        let room = KEEP - self.text_len;
        let n = room.min(chunk.len());
        self.text[self.text_len..self.text_len + n].copy_from_slice(&chunk[..n]);
        self.text_len += n;
    }

    fn code(&self) -> Result<u16, ReplyError> {
        let d = &self.head[..3];
        if !d.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&d[0]) {
            return Err(ReplyError::BadCode);
        }
        Ok(u16::from(d[0] - b'0') * 100 + u16::from(d[1] - b'0') * 10 + u16::from(d[2] - b'0'))
    }

    fn finish(
        &mut self,
        code: u16,
        last: bool,
        on_line: &mut impl FnMut(Line),
    ) -> Result<(), ReplyError> {
        if let Some(c) = self.reply_code {
            if c != code {
                return Err(ReplyError::CodeChanged);
            }
        }
        let mut text_len = self.text_len;
        let whole_text_kept = self.len >= 5 && text_len == self.len - 5;
        if whole_text_kept && text_len > 0 && self.text[text_len - 1] == b'\r' {
            text_len -= 1;
        }
        let line = Line {
            code,
            last,
            text: self.text,
            text_len: text_len as u8,
        };
        self.reply_code = if last { None } else { Some(code) };
        self.len = 0;
        self.text_len = 0;
        on_line(line);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Result<Vec<(u16, bool, Vec<u8>)>, ReplyError> {
        let mut p = ReplyParser::new();
        let mut v = Vec::new();
        for c in chunks {
            p.feed(c, |l| v.push((l.code, l.last, l.text().to_vec())))?;
        }
        Ok(v)
    }

    #[test]
    fn single_line_reply() {
        let v = parse_all(&[b"220 mail.example ESMTP\r\n"]).unwrap();
        assert_eq!(v, vec![(220, true, b"mail.example ESMTP".to_vec())]);
    }

    #[test]
    fn multi_line_ehlo_split_everywhere() {
        let whole: &[u8] = b"250-mail.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
        for cut in 0..whole.len() {
            let v = parse_all(&[&whole[..cut], &whole[cut..]]).unwrap();
            assert_eq!(v.len(), 3, "cut {cut}");
            assert_eq!(v[1], (250, false, b"PIPELINING".to_vec()), "cut {cut}");
            assert!(v[2].1);
        }
    }

    #[test]
    fn bare_code_line_is_final() {
        let v = parse_all(&[b"250\r\n354\r", b"\n"]).unwrap();
        assert_eq!(v, vec![(250, true, vec![]), (354, true, vec![])]);
    }

    #[test]
    fn errors() {
        assert_eq!(parse_all(&[b"hello\r\n"]), Err(ReplyError::BadCode));
        assert_eq!(parse_all(&[b"250x\r\n"]), Err(ReplyError::BadSeparator));
        assert_eq!(
            parse_all(&[b"250-a\r\n251 b\r\n"]),
            Err(ReplyError::CodeChanged)
        );
        assert_eq!(parse_all(&[b"650 x\r\n"]), Err(ReplyError::BadCode));
        let long = vec![b'a'; MAX_LINE + 10];
        assert_eq!(parse_all(&[b"250 ", &long]), Err(ReplyError::TooLong));
    }

    #[test]
    fn text_is_truncated_to_keep() {
        let v = parse_all(&[b"250 abcdefghijklmnopqrstuvwxyz0123456789\r\n"]).unwrap();
        assert_eq!(v[0].2.len(), KEEP);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_any_split_agrees(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), cut in 0usize..200) {
            let cut = cut.min(data.len());
            let a = parse_all(&[&data]);
            let b = parse_all(&[&data[..cut], &data[cut..]]);
            if let (Ok(a), Ok(b)) = (a, b) {
                proptest::prop_assert_eq!(a, b);
            }
        }
    }
}
