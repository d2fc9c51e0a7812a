//! The responder's SMTP server dialogue, sans-IO: command lines in, replies out.
//!
//! Deterministic and minimal, like the seed's scripted mail server: banner 220; HELO 250;
//! EHLO 250 with PIPELINING; MAIL/RCPT/RSET/NOOP 250; DATA 354, then the message up to the
//! `CRLF.CRLF` marker, then 250; QUIT 221 and close; anything else (including lines the
//! firewall masked with `X`) 500. Pipelined commands are answered in one write.

/// Longest command line accepted (RFC 5321 §4.5.3.1.4: 512 octets with CRLF; generous).
pub const MAX_LINE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    LineStart,
    Dot,
    DotCr,
    Mid,
}

/// What to do after writing the replies produced by a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Keep reading (send `out` first if it is not empty).
    Read,
    /// Send `out`, then close.
    Close,
}

#[derive(Debug, Clone)]
pub struct SmtpServer {
    line: Vec<u8>,
    overlong: bool,
    in_data: bool,
    body: Body,
    closing: bool,
}

impl Default for SmtpServer {
    fn default() -> Self {
        SmtpServer {
            line: Vec::with_capacity(128),
            overlong: false,
            in_data: false,
            body: Body::LineStart,
            closing: false,
        }
    }
}

impl SmtpServer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Resets for a new connection (keeps the line buffer's capacity) and writes the banner.
    pub fn greet(&mut self, hostname: &str, out: &mut Vec<u8>) {
        self.line.clear();
        self.overlong = false;
        self.in_data = false;
        self.body = Body::LineStart;
        self.closing = false;
        out.clear();
        out.extend_from_slice(b"220 ");
        out.extend_from_slice(hostname.as_bytes());
        out.extend_from_slice(b" ESMTP loadgen\r\n");
    }

    /// Consumes client bytes, appending replies to `out`.
    pub fn on_data(&mut self, mut data: &[u8], hostname: &str, out: &mut Vec<u8>) -> Next {
        while !data.is_empty() && !self.closing {
            if self.in_data {
                let used = self.scan_body(data);
                data = &data[used..];
                if !self.in_data {
                    out.extend_from_slice(b"250 2.0.0 Ok: queued\r\n");
                }
                continue;
            }
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    if !self.overlong {
                        self.line.extend_from_slice(&data[..i]);
                    }
                    data = &data[i + 1..];
                    if self.overlong || self.line.len() > MAX_LINE {
                        out.extend_from_slice(b"500 5.5.6 line too long\r\n");
                    } else {
                        self.command(hostname, out);
                    }
                    self.line.clear();
                    self.overlong = false;
                }
                None => {
                    if self.line.len() + data.len() > MAX_LINE {
                        self.overlong = true;
                        self.line.clear();
                    } else {
                        self.line.extend_from_slice(data);
                    }
                    data = &[];
                }
            }
        }
        if self.closing {
            Next::Close
        } else {
            Next::Read
        }
    }

    fn command(&mut self, hostname: &str, out: &mut Vec<u8>) {
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let verb = &line[..verb_end];
        let is = |v: &[u8]| verb.eq_ignore_ascii_case(v);
        if is(b"HELO") {
            out.extend_from_slice(b"250 ");
            out.extend_from_slice(hostname.as_bytes());
            out.extend_from_slice(b"\r\n");
        } else if is(b"EHLO") {
            out.extend_from_slice(b"250-");
            out.extend_from_slice(hostname.as_bytes());
            out.extend_from_slice(b"\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250 8BITMIME\r\n");
        } else if is(b"MAIL") || is(b"RCPT") || is(b"RSET") || is(b"NOOP") {
            out.extend_from_slice(b"250 2.1.0 Ok\r\n");
        } else if is(b"DATA") {
            out.extend_from_slice(b"354 End data with <CR><LF>.<CR><LF>\r\n");
            self.in_data = true;
            self.body = Body::LineStart;
        } else if is(b"QUIT") {
            out.extend_from_slice(b"221 2.0.0 Bye\r\n");
            self.closing = true;
        } else {
            out.extend_from_slice(b"500 5.5.2 Error: command not recognized\r\n");
        }
    }

    /// Scans message bytes for the end-of-data line; returns how many bytes were consumed.
    fn scan_body(&mut self, data: &[u8]) -> usize {
        let mut i = 0;
        while i < data.len() {
            match self.body {
                Body::Mid => match memchr::memchr(b'\n', &data[i..]) {
                    Some(j) => {
                        i += j + 1;
                        self.body = Body::LineStart;
                    }
                    None => return data.len(),
                },
                Body::LineStart => {
                    self.body = if data[i] == b'.' {
                        Body::Dot
                    } else {
                        Body::Mid
                    };
                    if data[i] == b'\n' {
                        self.body = Body::LineStart;
                    }
                    i += 1;
                }
                Body::Dot => {
                    self.body = match data[i] {
                        b'\r' => Body::DotCr,
                        b'\n' => {
                            // Bare ".\n": accept as end of data (lenient).
                            self.in_data = false;
                            return i + 1;
                        }
                        _ => Body::Mid,
                    };
                    i += 1;
                }
                Body::DotCr => {
                    if data[i] == b'\n' {
                        self.in_data = false;
                        return i + 1;
                    }
                    self.body = Body::Mid;
                    i += 1;
                }
            }
        }
        data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talk(chunks: &[&[u8]]) -> (String, Next) {
        let mut s = SmtpServer::new();
        let mut out = Vec::new();
        s.greet("mx", &mut out);
        let mut next = Next::Read;
        for c in chunks {
            next = s.on_data(c, "mx", &mut out);
        }
        (String::from_utf8(out).unwrap(), next)
    }

    #[test]
    fn whole_dialogue_pipelined_in_one_chunk() {
        let (out, next) = talk(&[b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhello\r\n..dot\r\n.\r\nQUIT\r\n"]);
        assert_eq!(
            out,
            "220 mx ESMTP loadgen\r\n250-mx\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250 8BITMIME\r\n250 2.1.0 Ok\r\n250 2.1.0 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n"
        );
        assert_eq!(next, Next::Close);
    }

    #[test]
    fn end_of_data_split_byte_by_byte() {
        let msg = b"HELO c\r\nDATA\r\nline\r\n.\r\nNOOP\r\n";
        let chunks: Vec<&[u8]> = msg.chunks(1).collect();
        let (out, next) = talk(&chunks);
        assert!(
            out.ends_with(
                "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued\r\n250 2.1.0 Ok\r\n"
            ),
            "{out}"
        );
        assert_eq!(next, Next::Read);
    }

    #[test]
    fn masked_and_unknown_and_long_lines() {
        let (out, _) = talk(&[b"XXXXXXXXX\r\nexpn root\r\n"]);
        assert_eq!(out.matches("500 5.5.2").count(), 2);
        let long = vec![b'a'; 3000];
        let (out, _) = talk(&[&long, b"\r\nNOOP\r\n"]);
        assert!(
            out.contains("500 5.5.6 line too long\r\n250 2.1.0 Ok\r\n"),
            "{out}"
        );
    }

    #[test]
    fn body_lines_starting_with_dot_are_not_the_end() {
        let (out, _) = talk(&[b"DATA\r\n.x\r\n.\r", b"\n"]);
        assert!(out.ends_with("250 2.0.0 Ok: queued\r\n"));
        let (out, _) = talk(&[b"DATA\r\n.x\r\nabc\r\n"]);
        assert!(!out.contains("queued"));
    }
}
