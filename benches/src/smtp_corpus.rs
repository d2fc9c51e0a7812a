//! Corpora for the SMTP inspector benchmark (`benches/smtp.rs`): realistic
//! ESMTP transcripts (command/reply phase) and message bodies (DATA phase),
//! plus the `memchr` line-split reference the inspector is compared against.

/// One direction's segment of a transcript: `true` = client → server.
pub type Segment = (bool, Vec<u8>);

const EHLO_REPLY: &[u8] = b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 DSN\r\n";

/// A realistic ESMTP session (greeting, EHLO, MAIL with parameters, several
/// RCPTs pipelined, a short message, QUIT), one TCP segment per line or
/// pipelined group as a real MTA sends it. `n` varies the addresses.
pub fn esmtp_session(n: usize) -> Vec<Segment> {
    let mut s: Vec<Segment> = Vec::new();
    s.push((false, b"220 mail.example.test ESMTP Postfix\r\n".to_vec()));
    s.push((true, format!("EHLO relay{n}.example.net\r\n").into_bytes()));
    s.push((false, EHLO_REPLY.to_vec()));
    let mut group =
        format!("MAIL FROM:<sender{n}@example.net> SIZE=2048 BODY=8BITMIME\r\n").into_bytes();
    for r in 0..3 {
        group.extend_from_slice(
            format!("RCPT TO:<user{r}.{n}@example.test> NOTIFY=FAILURE\r\n").as_bytes(),
        );
    }
    group.extend_from_slice(b"DATA\r\n");
    s.push((true, group));
    s.push((
        false,
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n".to_vec(),
    ));
    s.push((
        true,
        format!(
            "Subject: report {n}\r\nFrom: sender{n}@example.net\r\n\r\nshort body line\r\n.\r\n"
        )
        .into_bytes(),
    ));
    s.push((
        false,
        format!("250 2.0.0 Ok: queued as {n:08X}\r\n").into_bytes(),
    ));
    s.push((true, b"QUIT\r\n".to_vec()));
    s.push((false, b"221 2.0.0 Bye\r\n".to_vec()));
    s
}

/// Command lines the client sends in [`esmtp_session`] (EHLO, MAIL, 3×RCPT, DATA, QUIT).
pub const COMMAND_LINES_PER_SESSION: u64 = 7;

/// Command/reply rounds for an established session: `(client segment,
/// server segment, command lines in the client segment)`. ESMTP with
/// PIPELINING sends a 4-command group per segment; SMTP mode sends one
/// command per segment and waits for its reply (lockstep).
pub fn command_rounds(pipelined: bool) -> Vec<(Vec<u8>, Vec<u8>, u64)> {
    let cmds: [(&[u8], &[u8]); 4] = [
        (
            b"MAIL FROM:<alice@example.net> SIZE=2048\r\n",
            b"250 2.1.0 Ok\r\n",
        ),
        (b"RCPT TO:<bob@example.test>\r\n", b"250 2.1.5 Ok\r\n"),
        (b"RCPT TO:<carol@example.test>\r\n", b"250 2.1.5 Ok\r\n"),
        (b"RSET\r\n", b"250 2.0.0 Ok\r\n"),
    ];
    if pipelined {
        let c: Vec<u8> = cmds.iter().flat_map(|c| c.0.iter().copied()).collect();
        let r: Vec<u8> = cmds.iter().flat_map(|c| c.1.iter().copied()).collect();
        vec![(c, r, 4)]
    } else {
        cmds.iter()
            .map(|(c, r)| (c.to_vec(), r.to_vec(), 1))
            .collect()
    }
}

/// The EHLO reply used by the corpora (PIPELINING advertised).
pub fn ehlo_reply() -> &'static [u8] {
    EHLO_REPLY
}

/// `sessions` transcripts.
pub fn transcript_corpus(sessions: usize) -> Vec<Vec<Segment>> {
    (0..sessions).map(esmtp_session).collect()
}

/// Total bytes (both directions) of a corpus.
pub fn corpus_bytes(corpus: &[Vec<Segment>]) -> u64 {
    corpus.iter().flatten().map(|(_, b)| b.len() as u64).sum()
}

/// A realistic message of about `size` bytes: RFC 5322 headers, a text part
/// and a base64 attachment with 76-character lines, ending with `\r\n.\r\n`.
pub fn message_body(size: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(size + 512);
    m.extend_from_slice(
        b"Received: from relay.example.net (relay.example.net [198.51.100.7])\r\n\tby mail.example.test (Postfix) with ESMTP id 4F1A2B3C\r\n\
From: Alice <alice@example.net>\r\nTo: Bob <bob@example.test>\r\nSubject: quarterly figures\r\n\
Message-ID: <20261123171200.12345@example.net>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
    );
    let text =
        b"Hello Bob, please find the figures attached. Let me know if anything is unclear.\r\n";
    for _ in 0..8 {
        m.extend_from_slice(text);
    }
    m.extend_from_slice(b"\r\n--b1\r\nContent-Type: application/pdf; name=\"figures.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut k = 0usize;
    while m.len() + 80 < size {
        for _ in 0..76 {
            k = k.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            m.push(B64[(k >> 16) % 64]);
        }
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--b1--\r\n.\r\n");
    m
}

/// The reference: split `bytes` into lines with `memchr` and return the number
/// of lines and the sum of their lengths (so the work cannot be optimised away).
#[inline]
pub fn memchr_line_split(bytes: &[u8]) -> (usize, usize) {
    let mut lines = 0;
    let mut total = 0;
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', bytes) {
        lines += 1;
        total += nl + 1 - start;
        start = nl + 1;
    }
    (lines, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpora_are_well_formed() {
        let s = esmtp_session(3);
        let client_lines: usize = s
            .iter()
            .filter(|(c, _)| *c)
            .map(|(_, b)| memchr_line_split(b).0)
            .sum();
        // 7 commands + 5 message lines (2 headers, blank line, text, ".")
        assert_eq!(client_lines as u64, COMMAND_LINES_PER_SESSION + 5);
        let m = message_body(64 * 1024);
        assert!(m.len() >= 60 * 1024 && m.ends_with(b"\r\n.\r\n"));
        assert_eq!(memchr_line_split(b"a\r\nbc\n").0, 2);
    }
}
