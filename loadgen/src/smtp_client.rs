//! The SMTP client dialogue as a sans-IO state machine: bytes in, bytes out, no clock.
//!
//! A session follows a *script* chosen by the mix (legal, pipelined, illegal verb, large
//! message): each step is a command and the reply it must get. Steps are grouped: a group
//! is written in one send and its replies are checked in order (a pipelined group holds
//! MAIL, every RCPT and DATA). Every reply is counted by code; the first reply that does not
//! match ends the session with `UnexpectedReply`.
use crate::outcome::{Action, FailureKind, Payload};
use crate::reply::ReplyParser;
use crate::report::ReplyCodes;

/// Most recipients per message.
pub const MAX_RCPTS: usize = 8;
const MAX_STEPS: usize = 8 + MAX_RCPTS;

/// The kinds of session in a mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// Banner, HELO/EHLO, MAIL, RCPT…, DATA, body, QUIT, one command per write.
    Legal,
    /// As `Legal` but MAIL, RCPT… and DATA go in one write (RFC 2920 style).
    Pipelined,
    /// As `Legal` with a command the policy refuses, which must get a 5xx, after the greeting.
    Illegal,
    /// As `Legal` with the large body.
    Large,
}

impl SessionKind {
    pub const ALL: [SessionKind; 4] = [
        SessionKind::Legal,
        SessionKind::Pipelined,
        SessionKind::Illegal,
        SessionKind::Large,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SessionKind::Legal => "legal",
            SessionKind::Pipelined => "pipelined",
            SessionKind::Illegal => "illegal",
            SessionKind::Large => "large",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// The envelope and message shape shared by every session of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpPlan {
    /// Use EHLO instead of HELO (the seed's SMTP mode refuses EHLO, so HELO is the default).
    pub ehlo: bool,
    pub helo_name: String,
    pub mail_from: String,
    pub rcpts: Vec<String>,
    /// The verb line sent by `Illegal` sessions (without CRLF).
    pub illegal_command: String,
    /// Index of the shared payload holding the normal body (ends with `.\r\n`).
    pub body: usize,
    /// Index of the shared payload holding the large body.
    pub large_body: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Banner,
    Greeting,
    Mail,
    Rcpt(u8),
    Data,
    Body { large: bool },
    Illegal,
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Code(u16),
    /// Any reply whose first digit is this (the policy may choose 500, 502, …).
    Class(u16),
}

impl Expect {
    fn accepts(self, code: u16) -> bool {
        match self {
            Expect::Code(c) => c == code,
            Expect::Class(c) => code / 100 == c,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step {
    cmd: Cmd,
    expect: Expect,
    /// Last step of its write group.
    flush: bool,
}

/// A fixed list of steps (no allocation per session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Script {
    steps: [Step; MAX_STEPS],
    len: usize,
}

impl Script {
    /// The script for `kind` with `rcpts` recipients (clamped to 1..=MAX_RCPTS).
    pub fn new(kind: SessionKind, rcpts: usize) -> Self {
        let rcpts = rcpts.clamp(1, MAX_RCPTS);
        let filler = Step {
            cmd: Cmd::Quit,
            expect: Expect::Code(221),
            flush: true,
        };
        let mut s = Script {
            steps: [filler; MAX_STEPS],
            len: 0,
        };
        let pipelined = kind == SessionKind::Pipelined;
        s.push(Cmd::Banner, Expect::Code(220), true);
        s.push(Cmd::Greeting, Expect::Code(250), true);
        if kind == SessionKind::Illegal {
            s.push(Cmd::Illegal, Expect::Class(5), true);
        }
        s.push(Cmd::Mail, Expect::Code(250), !pipelined);
        for i in 0..rcpts {
            s.push(Cmd::Rcpt(i as u8), Expect::Code(250), !pipelined);
        }
        s.push(Cmd::Data, Expect::Code(354), true);
        s.push(
            Cmd::Body {
                large: kind == SessionKind::Large,
            },
            Expect::Code(250),
            true,
        );
        s.push(Cmd::Quit, Expect::Code(221), true);
        s
    }

    fn push(&mut self, cmd: Cmd, expect: Expect, flush: bool) {
        self.steps[self.len] = Step { cmd, expect, flush };
        self.len += 1;
    }

    /// Number of replies a successful session receives.
    pub fn replies(&self) -> usize {
        self.len
    }
}

/// One session's dialogue state.
#[derive(Debug, Clone)]
pub struct SmtpClient {
    script: Script,
    /// Next step whose reply is awaited.
    expect_at: usize,
    /// First step not yet sent.
    send_at: usize,
    parser: ReplyParser,
    done: bool,
}

impl SmtpClient {
    pub fn new(script: Script) -> Self {
        SmtpClient {
            script,
            expect_at: 0,
            send_at: 1, // the banner is "sent" by connecting
            parser: ReplyParser::new(),
            done: false,
        }
    }

    /// Called once the TCP connection is up: wait for the banner.
    pub fn on_connected(&mut self) -> Action {
        Action::Recv
    }

    /// Called when a send has completed in full.
    pub fn on_sent(&mut self) -> Action {
        Action::Recv
    }

    /// The peer closed its side.
    pub fn on_eof(&mut self) -> Action {
        self.done = true;
        Action::Finish(Err(FailureKind::UnexpectedClose))
    }

    /// Bytes from the server. `out` is the slot's send buffer (cleared here when the next
    /// group is written); `codes` counts every reply by code.
    pub fn on_recv(
        &mut self,
        plan: &SmtpPlan,
        data: &[u8],
        out: &mut Vec<u8>,
        codes: &mut ReplyCodes,
    ) -> Action {
        if self.done {
            return Action::Finish(Err(FailureKind::UnexpectedReply));
        }
        let mut verdict: Option<FailureKind> = None;
        let script = &self.script;
        let expect_at = &mut self.expect_at;
        let send_at = self.send_at;
        let parsed = self.parser.feed(data, |line| {
            if !line.last || verdict.is_some() {
                return;
            }
            codes.count(line.code);
            if *expect_at >= send_at || *expect_at >= script.len {
                verdict = Some(FailureKind::UnexpectedReply);
                return;
            }
            if !script.steps[*expect_at].expect.accepts(line.code) {
                verdict = Some(FailureKind::UnexpectedReply);
                return;
            }
            *expect_at += 1;
        });
        if parsed.is_err() {
            self.done = true;
            return Action::Finish(Err(FailureKind::MalformedReply));
        }
        if let Some(kind) = verdict {
            self.done = true;
            return Action::Finish(Err(kind));
        }
        if self.expect_at < self.send_at {
            return Action::Recv; // more replies of this group to come
        }
        if !self.parser.is_idle() {
            return Action::Recv;
        }
        if self.send_at >= self.script.len {
            self.done = true;
            return Action::Finish(Ok(()));
        }
        self.write_group(plan, out)
    }

    fn write_group(&mut self, plan: &SmtpPlan, out: &mut Vec<u8>) -> Action {
        out.clear();
        while self.send_at < self.script.len {
            let step = self.script.steps[self.send_at];
            self.send_at += 1;
            match step.cmd {
                Cmd::Body { large } => {
                    // Bodies are shared payloads, always alone in their group.
                    let idx = if large { plan.large_body } else { plan.body };
                    return Action::Send(Payload::Shared(idx));
                }
                cmd => write_command(plan, cmd, out),
            }
            if step.flush {
                break;
            }
        }
        Action::Send(Payload::Out)
    }
}

fn write_command(plan: &SmtpPlan, cmd: Cmd, out: &mut Vec<u8>) {
    match cmd {
        Cmd::Banner | Cmd::Body { .. } => {}
        Cmd::Greeting => {
            out.extend_from_slice(if plan.ehlo { b"EHLO " } else { b"HELO " });
            out.extend_from_slice(plan.helo_name.as_bytes());
        }
        Cmd::Mail => {
            out.extend_from_slice(b"MAIL FROM:<");
            out.extend_from_slice(plan.mail_from.as_bytes());
            out.push(b'>');
        }
        Cmd::Rcpt(i) => {
            let r = &plan.rcpts[usize::from(i) % plan.rcpts.len().max(1)];
            out.extend_from_slice(b"RCPT TO:<");
            out.extend_from_slice(r.as_bytes());
            out.push(b'>');
        }
        Cmd::Data => out.extend_from_slice(b"DATA"),
        Cmd::Illegal => out.extend_from_slice(plan.illegal_command.as_bytes()),
        Cmd::Quit => out.extend_from_slice(b"QUIT"),
    }
    out.extend_from_slice(b"\r\n");
}

/// A message of about `size` bytes (headers + 78-byte lines), ending with the
/// end-of-data marker `.\r\n`. No line starts with '.', so no dot-stuffing is needed.
pub fn message_body(size: usize, from: &str, to: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(size + 128);
    b.extend_from_slice(
        format!("From: <{from}>\r\nTo: <{to}>\r\nSubject: loadgen\r\n\r\n").as_bytes(),
    );
    const LINE: &[u8] =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnop\r\n";
    while b.len() + LINE.len() <= size {
        b.extend_from_slice(LINE);
    }
    let rest = size.saturating_sub(b.len());
    if rest >= 3 {
        b.extend_from_slice(&LINE[LINE.len() - rest..]);
    }
    b.extend_from_slice(b".\r\n");
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SmtpPlan {
        SmtpPlan {
            ehlo: false,
            helo_name: "client.example".into(),
            mail_from: "a@client.example".into(),
            rcpts: vec!["b@mail.example".into(), "c@mail.example".into()],
            illegal_command: "XSHELL ls".into(),
            body: 0,
            large_body: 1,
        }
    }

    /// Drives a client against canned server bytes, returning what it wrote and the end.
    fn run(kind: SessionKind, server: &[&[u8]]) -> (Vec<Vec<u8>>, Action, ReplyCodes) {
        let p = plan();
        let mut c = SmtpClient::new(Script::new(kind, 2));
        let mut codes = ReplyCodes::default();
        let mut out = Vec::new();
        let mut writes = Vec::new();
        assert_eq!(c.on_connected(), Action::Recv);
        let mut last = Action::Recv;
        for chunk in server {
            last = c.on_recv(&p, chunk, &mut out, &mut codes);
            match last {
                Action::Send(Payload::Out) => {
                    writes.push(out.clone());
                    assert_eq!(c.on_sent(), Action::Recv);
                }
                Action::Send(Payload::Shared(i)) => {
                    writes.push(format!("<body {i}>").into_bytes());
                    assert_eq!(c.on_sent(), Action::Recv);
                }
                _ => {}
            }
        }
        (writes, last, codes)
    }

    #[test]
    fn legal_session_one_command_per_write() {
        let (w, end, codes) = run(
            SessionKind::Legal,
            &[
                b"220 mail ESMTP\r\n",
                b"250 hi\r\n",
                b"250 ok\r\n",
                b"250 ok\r\n",
                b"250 ok\r\n",
                b"354 go\r\n",
                b"250 queued\r\n",
                b"221 bye\r\n",
            ],
        );
        let w: Vec<&[u8]> = w.iter().map(Vec::as_slice).collect();
        assert_eq!(
            w,
            vec![
                &b"HELO client.example\r\n"[..],
                b"MAIL FROM:<a@client.example>\r\n",
                b"RCPT TO:<b@mail.example>\r\n",
                b"RCPT TO:<c@mail.example>\r\n",
                b"DATA\r\n",
                b"<body 0>",
                b"QUIT\r\n"
            ]
        );
        assert_eq!(end, Action::Finish(Ok(())));
        assert_eq!(codes.get(250), 5);
        assert_eq!(codes.get(221), 1);
        assert_eq!(codes.total(), 8);
    }

    #[test]
    fn pipelined_group_in_one_write_and_replies_in_one_read() {
        let (w, end, _) = run(
            SessionKind::Pipelined,
            &[
                b"220 x\r\n",
                b"250 x\r\n",
                b"250 a\r\n250 b\r\n250 c\r\n354 d\r\n",
                b"250 e\r\n",
                b"221 f\r\n",
            ],
        );
        assert_eq!(w[1], b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@mail.example>\r\nRCPT TO:<c@mail.example>\r\nDATA\r\n".to_vec());
        assert_eq!(w[2], b"<body 0>".to_vec());
        assert_eq!(end, Action::Finish(Ok(())));
    }

    #[test]
    fn pipelined_replies_split_across_reads() {
        let (_, end, _) = run(
            SessionKind::Pipelined,
            &[
                b"220 x\r\n",
                b"250 x\r\n",
                b"250 a\r\n25",
                b"0 b\r\n250 c\r\n",
                b"354 d\r\n",
                b"250 e\r\n",
                b"221 f\r\n",
            ],
        );
        assert_eq!(end, Action::Finish(Ok(())));
    }

    #[test]
    fn illegal_verb_needs_a_5xx() {
        let (w, end, codes) = run(
            SessionKind::Illegal,
            &[
                b"220 x\r\n",
                b"250 x\r\n",
                b"500 5.5.1 unrecognized\r\n",
                b"250 a\r\n",
                b"250 a\r\n",
                b"250 a\r\n",
                b"354 d\r\n",
                b"250 e\r\n",
                b"221 f\r\n",
            ],
        );
        assert_eq!(w[1], b"XSHELL ls\r\n".to_vec());
        assert_eq!(end, Action::Finish(Ok(())));
        assert_eq!(codes.get(500), 1);
        let (_, end, _) = run(
            SessionKind::Illegal,
            &[b"220 x\r\n", b"250 x\r\n", b"250 ok?\r\n"],
        );
        assert_eq!(end, Action::Finish(Err(FailureKind::UnexpectedReply)));
    }

    #[test]
    fn large_uses_large_body() {
        let (w, _, _) = run(
            SessionKind::Large,
            &[
                b"220 x\r\n",
                b"250 x\r\n",
                b"250 a\r\n",
                b"250 a\r\n",
                b"250 a\r\n",
                b"354 d\r\n",
            ],
        );
        assert_eq!(w.last().unwrap(), &b"<body 1>".to_vec());
    }

    #[test]
    fn wrong_banner_and_garbage_and_extra_reply() {
        let (_, end, codes) = run(SessionKind::Legal, &[b"554 go away\r\n"]);
        assert_eq!(end, Action::Finish(Err(FailureKind::UnexpectedReply)));
        assert_eq!(codes.get(554), 1);
        let (_, end, _) = run(SessionKind::Legal, &[b"HTTP/1.1 200 OK\r\n"]);
        assert_eq!(end, Action::Finish(Err(FailureKind::MalformedReply)));
        let (_, end, _) = run(SessionKind::Legal, &[b"220 x\r\n250 unasked\r\n"]);
        assert_eq!(end, Action::Finish(Err(FailureKind::UnexpectedReply)));
    }

    #[test]
    fn multiline_banner_and_ehlo() {
        let mut p = plan();
        p.ehlo = true;
        let mut c = SmtpClient::new(Script::new(SessionKind::Legal, 1));
        let mut codes = ReplyCodes::default();
        let mut out = Vec::new();
        assert_eq!(
            c.on_recv(&p, b"220-hello\r\n", &mut out, &mut codes),
            Action::Recv
        );
        assert_eq!(
            c.on_recv(&p, b"220 there\r\n", &mut out, &mut codes),
            Action::Send(Payload::Out)
        );
        assert_eq!(out, b"EHLO client.example\r\n");
        assert_eq!(codes.total(), 1);
    }

    #[test]
    fn eof_is_unexpected_close() {
        let mut c = SmtpClient::new(Script::new(SessionKind::Legal, 1));
        assert_eq!(
            c.on_eof(),
            Action::Finish(Err(FailureKind::UnexpectedClose))
        );
    }

    #[test]
    fn body_size_and_terminator() {
        for size in [0, 10, 100, 1000, 65_536] {
            let b = message_body(size, "a@x", "b@y");
            assert!(b.ends_with(b"\r\n.\r\n"), "size {size}");
            assert!(
                !b.windows(3).any(|w| w == b"\n.."),
                "no dot-stuffing needed"
            );
            if size >= 200 {
                // exact to within the 2 bytes a line tail cannot be cut to
                assert!(
                    b.len() <= size + 3 && b.len() + 2 >= size + 3,
                    "size {size}: {}",
                    b.len()
                );
            }
        }
    }
}
