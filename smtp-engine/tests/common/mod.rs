//! Test driver shared by the scenario and property tests: one inspector
//! between a scripted client and server, recording what each side receives.
#![allow(dead_code)]

pub mod differential;

use std::net::SocketAddrV4;

use smtp_engine::{fmt, Action, Event, Inspector, Policy, SmtpStats, Verdict};

pub const GREETING: &[u8] = b"220 mail.example.test ESMTP\r\n";
pub const EHLO_REPLY: &[u8] = b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

pub struct Sim {
    pub insp: Inspector,
    pub stats: SmtpStats,
    /// Bytes the server received.
    pub server_rx: Vec<u8>,
    /// Bytes the client received (forwarded replies and injected ones).
    pub client_rx: Vec<u8>,
    pub events: Vec<Event>,
    pub last: Option<Verdict>,
}

impl Sim {
    pub fn new(policy: Policy) -> Self {
        Sim {
            insp: Inspector::new(&policy),
            stats: SmtpStats::default(),
            server_rx: Vec::new(),
            client_rx: Vec::new(),
            events: Vec::new(),
            last: None,
        }
    }

    /// New session with the greeting already passed.
    pub fn greeted(policy: Policy) -> Self {
        let mut s = Sim::new(policy);
        s.server(GREETING);
        s
    }

    fn drain(&mut self) {
        while let Some(e) = self.insp.poll_event() {
            self.events.push(e);
        }
    }

    /// One client segment; returns the verdict. Forwarded bytes go to `server_rx`.
    pub fn client(&mut self, seg: &[u8]) -> Verdict {
        let mut b = seg.to_vec();
        let v = self.insp.handle_client(&mut b, &mut self.stats);
        assert!(v.forward <= b.len());
        self.server_rx.extend_from_slice(&b[..v.forward]);
        if let Action::ReplyAndClose { reply, .. } = v.action {
            self.client_rx.extend_from_slice(reply);
        }
        self.drain();
        self.last = Some(v);
        v
    }

    /// One server segment.
    pub fn server(&mut self, seg: &[u8]) -> Verdict {
        let mut b = seg.to_vec();
        let v = self.insp.handle_server(&mut b, &mut self.stats);
        assert!(v.forward <= b.len());
        self.client_rx.extend_from_slice(&b[..v.forward]);
        self.drain();
        self.last = Some(v);
        v
    }

    /// Client sends `seg` and must be forwarded whole and unchanged.
    pub fn client_ok(&mut self, seg: &[u8]) {
        let before = self.server_rx.len();
        let v = self.client(seg);
        assert_eq!(
            v.action,
            Action::Continue,
            "{:?}",
            String::from_utf8_lossy(seg)
        );
        assert_eq!(v.forward, seg.len(), "{:?}", String::from_utf8_lossy(seg));
        assert_eq!(&self.server_rx[before..], seg);
    }

    /// Server sends `seg` and it must be forwarded whole and unchanged.
    pub fn server_ok(&mut self, seg: &[u8]) {
        let before = self.client_rx.len();
        let v = self.server(seg);
        assert_eq!(v.forward, seg.len());
        assert_eq!(&self.client_rx[before..], seg);
    }

    /// Rendered log lines of the non-debug events so far.
    pub fn logs(&self) -> Vec<String> {
        log_lines(&self.events, "198.51.100.7:40012")
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

pub fn log_lines(events: &[Event], client: &str) -> Vec<String> {
    let c: SocketAddrV4 = client.parse().unwrap();
    let s: SocketAddrV4 = "172.22.1.110:25".parse().unwrap();
    events
        .iter()
        .filter(|e| !matches!(e, Event::Debug(_)))
        .map(|e| {
            let mut out = String::new();
            fmt::write_message(e, c, s, &mut out).unwrap();
            out
        })
        .collect()
}

/// Scripted server replies of seed-scenario.md §4.
pub fn scripted_reply(cmd: &[u8]) -> &'static [u8] {
    let up: Vec<u8> = cmd.iter().take(4).map(|b| b.to_ascii_uppercase()).collect();
    match &up[..] {
        b"HELO" => b"250 mail.example.test\r\n",
        b"EHLO" => EHLO_REPLY,
        b"MAIL" => b"250 2.1.0 Ok\r\n",
        b"RCPT" => b"250 2.1.5 Ok\r\n",
        b"DATA" => b"354 End data with <CR><LF>.<CR><LF>\r\n",
        b"VRFY" => b"252 2.0.0 Cannot VRFY user\r\n",
        b"HELP" => b"214 2.0.0 Commands supported\r\n",
        b"NOOP" => b"250 2.0.0 Ok\r\n",
        b"QUIT" => b"221 2.0.0 Bye\r\n",
        b"RSET" => b"250 2.0.0 Ok\r\n",
        _ => b"500 5.5.2 Error: command not recognized\r\n",
    }
}
