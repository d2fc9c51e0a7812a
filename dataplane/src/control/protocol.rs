//! The control socket's framing: one request line, one length-prefixed reply.
//!
//! ```text
//! request  = "MAILGUARD/1 " ("TEXT" / "JSON") " " command-line LF      ; ≤ 4096 bytes
//! response = "MAILGUARD/1 " ("OK" / "ERR") " " length LF body         ; body ≤ 64 MiB
//! ```
//! The request is a line so that `socat`/`nc -U` work for a human; the
//! response is length-prefixed because `show` output is multi-line text.
//! Several requests may follow each other on one connection. Every read is
//! bounded; anything malformed ends the connection after an `ERR` reply.

use std::io::{BufRead, Read, Write};

use super::error::ControlError;

/// Protocol version tag opening every message.
pub const MAGIC: &str = "MAILGUARD/1";
/// Longest request line including its LF.
pub const MAX_REQUEST: usize = 4_096;
/// Largest response body (a big session table in `show … detail`).
pub const MAX_RESPONSE: usize = 64 << 20;
/// Longest response header line.
const MAX_RESPONSE_HEADER: usize = 64;

/// One request: the command line and whether the reply should be JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub line: String,
    pub json: bool,
}

/// The reply status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Err,
}

/// The request bytes for `line` (validated: one line, printable).
pub fn encode_request(line: &str, json: bool) -> Result<Vec<u8>, ControlError> {
    check_line(line)?;
    let mut out = Vec::with_capacity(MAGIC.len() + 7 + line.len());
    out.extend_from_slice(MAGIC.as_bytes());
    out.extend_from_slice(if json { b" JSON " } else { b" TEXT " });
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    if out.len() > MAX_REQUEST {
        return Err(ControlError::TooLarge {
            len: out.len(),
            max: MAX_REQUEST,
        });
    }
    Ok(out)
}

fn check_line(line: &str) -> Result<(), ControlError> {
    match line.chars().find(|c| c.is_control() && *c != '\t') {
        Some(c) => Err(ControlError::Protocol(format!(
            "control character U+{:04X} in command line",
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

/// Reads one request. `Ok(None)` at a clean end of stream.
pub fn read_request<R: BufRead>(reader: &mut R) -> Result<Option<Request>, ControlError> {
    let mut buf = Vec::with_capacity(128);
    let n = reader
        .take(MAX_REQUEST as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(if buf.len() > MAX_REQUEST {
            ControlError::TooLarge {
                len: buf.len(),
                max: MAX_REQUEST,
            }
        } else {
            ControlError::Protocol("request not terminated by LF".into())
        });
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    let text = std::str::from_utf8(&buf)
        .map_err(|_| ControlError::Protocol("request is not UTF-8".into()))?;
    let rest = text
        .strip_prefix(MAGIC)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| ControlError::Protocol(format!("request must start with {MAGIC}")))?;
    let (json, line) = if let Some(line) = rest.strip_prefix("TEXT") {
        (false, line)
    } else if let Some(line) = rest.strip_prefix("JSON") {
        (true, line)
    } else {
        return Err(ControlError::Protocol("format must be TEXT or JSON".into()));
    };
    let line = match line.strip_prefix(' ') {
        Some(l) => l,
        None if line.is_empty() => line,
        None => return Err(ControlError::Protocol("format must be TEXT or JSON".into())),
    };
    check_line(line)?;
    Ok(Some(Request {
        line: line.to_string(),
        json,
    }))
}

/// Writes one response.
pub fn write_response<W: Write>(writer: &mut W, status: Status, body: &str) -> std::io::Result<()> {
    let status = match status {
        Status::Ok => "OK",
        Status::Err => "ERR",
    };
    let body = if body.len() > MAX_RESPONSE {
        // Never send what the client must refuse; cut at a char boundary.
        let mut end = MAX_RESPONSE;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        &body[..end]
    } else {
        body
    };
    writeln!(writer, "{MAGIC} {status} {}", body.len())?;
    writer.write_all(body.as_bytes())?;
    writer.flush()
}

/// Reads one response.
pub fn read_response<R: BufRead>(reader: &mut R) -> Result<(Status, String), ControlError> {
    let mut header = Vec::with_capacity(32);
    reader
        .take(MAX_RESPONSE_HEADER as u64)
        .read_until(b'\n', &mut header)?;
    if header.is_empty() {
        return Err(ControlError::Protocol(
            "connection closed before the response".into(),
        ));
    }
    if header.last() != Some(&b'\n') {
        return Err(ControlError::Protocol("bad response header".into()));
    }
    header.pop();
    let header = std::str::from_utf8(&header)
        .map_err(|_| ControlError::Protocol("bad response header".into()))?;
    let mut parts = header.split(' ');
    let (Some(MAGIC), Some(status), Some(len), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ControlError::Protocol(format!(
            "bad response header {header:?}"
        )));
    };
    let status = match status {
        "OK" => Status::Ok,
        "ERR" => Status::Err,
        _ => return Err(ControlError::Protocol(format!("bad status {status:?}"))),
    };
    let len: usize = len
        .parse()
        .map_err(|_| ControlError::Protocol(format!("bad length {len:?}")))?;
    if len > MAX_RESPONSE {
        return Err(ControlError::TooLarge {
            len,
            max: MAX_RESPONSE,
        });
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8(body)
        .map_err(|_| ControlError::Protocol("response is not UTF-8".into()))?;
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    #[test]
    fn request_round_trip() {
        let bytes = encode_request("show ip inspect all", true).unwrap();
        assert_eq!(bytes, b"MAILGUARD/1 JSON show ip inspect all\n");
        let mut r = Cursor::new(bytes);
        assert_eq!(
            read_request(&mut r).unwrap(),
            Some(Request {
                line: "show ip inspect all".into(),
                json: true
            })
        );
        assert_eq!(read_request(&mut r).unwrap(), None);
    }

    #[test]
    fn several_requests_and_crlf() {
        let mut r = Cursor::new(b"MAILGUARD/1 TEXT sh run\r\nMAILGUARD/1 TEXT\n".to_vec());
        assert_eq!(read_request(&mut r).unwrap().unwrap().line, "sh run");
        let empty = read_request(&mut r).unwrap().unwrap();
        assert_eq!(empty.line, "");
        assert!(!empty.json);
    }

    #[test]
    fn malformed_requests() {
        for bad in [
            &b"GET / HTTP/1.1\n"[..],
            b"MAILGUARD/1 XML show\n",
            b"MAILGUARD/1 TEXTshow\n",
            b"MAILGUARD/1 TEXT sh\x01ow\n",
            b"MAILGUARD/1 TEXT \xff\xfe\n",
            b"MAILGUARD/1 TEXT no newline",
            b"MAILGUARD/2 TEXT show\n",
        ] {
            let mut r = Cursor::new(bad.to_vec());
            assert!(
                matches!(read_request(&mut r), Err(ControlError::Protocol(_))),
                "{bad:?}"
            );
        }
        let mut big = b"MAILGUARD/1 TEXT ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_REQUEST));
        big.push(b'\n');
        assert!(matches!(
            read_request(&mut Cursor::new(big)),
            Err(ControlError::TooLarge { .. })
        ));
        assert!(encode_request("a\nb", false).is_err());
        assert!(encode_request(&"a".repeat(MAX_REQUEST), false).is_err());
    }

    #[test]
    fn response_round_trip() {
        let mut out = Vec::new();
        write_response(&mut out, Status::Ok, "line 1\nline 2\n").unwrap();
        write_response(&mut out, Status::Err, "% Incomplete command.").unwrap();
        assert!(out.starts_with(b"MAILGUARD/1 OK 14\nline 1\nline 2\n"));
        let mut r = Cursor::new(out);
        assert_eq!(
            read_response(&mut r).unwrap(),
            (Status::Ok, "line 1\nline 2\n".to_string())
        );
        assert_eq!(
            read_response(&mut r).unwrap(),
            (Status::Err, "% Incomplete command.".to_string())
        );
        assert!(matches!(
            read_response(&mut r),
            Err(ControlError::Protocol(_))
        ));
    }

    #[test]
    fn malformed_responses() {
        for bad in [
            &b"MAILGUARD/1 OK\n"[..],
            b"MAILGUARD/1 MAYBE 1\nx",
            b"MAILGUARD/1 OK -1\n",
            b"MAILGUARD/1 OK 99999999999999999999999\n",
            b"HTTP/1.1 200 OK\r\n",
        ] {
            assert!(
                read_response(&mut Cursor::new(bad.to_vec())).is_err(),
                "{bad:?}"
            );
        }
        assert!(matches!(
            read_response(&mut Cursor::new(b"MAILGUARD/1 OK 999999999\n".to_vec())),
            Err(ControlError::TooLarge { .. })
        ));
        // truncated body
        assert!(read_response(&mut Cursor::new(b"MAILGUARD/1 OK 10\nabc".to_vec())).is_err());
    }

    proptest! {
        #[test]
        fn read_request_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut r = Cursor::new(bytes);
            for _ in 0..4 {
                if !matches!(read_request(&mut r), Ok(Some(_))) {
                    break;
                }
            }
        }

        #[test]
        fn encode_then_read(line in "[ -~\t]{0,300}", json: bool) {
            let bytes = encode_request(&line, json).unwrap();
            let req = read_request(&mut Cursor::new(bytes)).unwrap().unwrap();
            prop_assert_eq!(req, Request { line, json });
        }
    }
}
