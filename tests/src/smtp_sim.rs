//! A sans-IO SMTP dialogue through the whole firewall pipeline, on a virtual clock.
//!
//! Why: the acceptance cases D1–D22 of `seed-scenario.md` §5 are statements about what a
//! real client and a real mail server observe, byte for byte, when the firewall sits between
//! them (ARP-resolved neighbours, access list 101, the static translation
//! 172.22.1.110↔10.10.10.2, session creation, TCP tracking, SMTP inspection, injected
//! replies). [`SmtpSim`] plays both ends around a [`SeedLab`]: a scripted client and the
//! scripted server of §4, each keeping its own sequence numbers, acknowledging like a TCP
//! receiver (in order, first copy wins, so withheld bytes stay unacknowledged) and the server
//! auto-replying per §4. Every segment either end receives is recorded, so a test can check
//! what the server received and what the client got back exactly. Retransmission after a
//! (virtual) retransmission timeout is explicit: [`SmtpSim::client_retransmit`].

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use dataplane::sim::{
    tcp, SeedLab, FW_INSIDE_MAC, FW_OUTSIDE_MAC, INSIDE, ISP_MAC, MAIL_MAC, OUTSIDE,
};
use dataplane::wire::frame::{parse_frame, L4};

/// The SMTP client on the Internet side.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
/// The mail server's global (translated) address.
pub const SERVER_GLOBAL: Ipv4Addr = Ipv4Addr::new(172, 22, 1, 110);
/// The mail server's inside address.
pub const SERVER_LOCAL: Ipv4Addr = Ipv4Addr::new(10, 10, 10, 2);

/// TCP flag bits.
pub const FIN: u8 = 0x01;
/// SYN.
pub const SYN: u8 = 0x02;
/// RST.
pub const RST: u8 = 0x04;
/// PSH.
pub const PSH: u8 = 0x08;
/// ACK.
pub const ACK: u8 = 0x10;

/// The client's initial sequence number.
pub const CLIENT_ISN: u32 = 0x1000_0000;
/// The server's initial sequence number.
pub const SERVER_ISN: u32 = 0x7000_0000;
/// Virtual retransmission timeout of the client.
pub const RTO_NS: u64 = 1_000_000_000;
/// One second of virtual time.
pub const SEC: u64 = 1_000_000_000;

/// §4: the greeting (29 bytes).
pub const GREETING: &[u8] = b"220 mail.example.test ESMTP\r\n";
/// §4: the reply to HELO (23 bytes).
pub const HELO_REPLY: &[u8] = b"250 mail.example.test\r\n";
/// §4/D8: the 13-line reply to EHLO (212 bytes).
pub const EHLO_REPLY: &[u8] = b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n\
250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
/// D8: the EHLO reply as the client must receive it in ESMTP mode.
pub const EHLO_REPLY_MASKED: &[u8] = b"250-mail.example.test\r\n250-PIPELINING\r\n\
250-SIZE 10240000\r\n250-XXXX\r\n250-ETRN\r\n250-XXXXXXXX\r\n250-AUTH PLAIN LOGIN\r\n\
250-XXXXXXXXXXXXXXXX\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n\
250-XXXXXXXX\r\n250 XXXXXXXX\r\n";
/// §4: MAIL accepted.
pub const MAIL_OK: &[u8] = b"250 2.1.0 Ok\r\n";
/// §4: RCPT accepted.
pub const RCPT_OK: &[u8] = b"250 2.1.5 Ok\r\n";
/// §4: DATA accepted.
pub const DATA_GO: &[u8] = b"354 End data with <CR><LF>.<CR><LF>\r\n";
/// §4: end of data.
pub const QUEUED: &[u8] = b"250 2.0.0 Ok: queued\r\n";
/// §4: VRFY.
pub const VRFY_REPLY: &[u8] = b"252 2.0.0 Cannot VRFY user\r\n";
/// §4: HELP.
pub const HELP_REPLY: &[u8] = b"214 2.0.0 Commands supported\r\n";
/// §4: NOOP.
pub const NOOP_REPLY: &[u8] = b"250 2.0.0 Ok\r\n";
/// §4: QUIT (then FIN).
pub const BYE: &[u8] = b"221 2.0.0 Bye\r\n";

/// Case D1: the seed trace's keystrokes, one segment each, per command,
/// and the scripted server's reply to the command.
pub const D1_KEYSTROKES: [(&[&[u8]], &[u8]); 5] = [
    (
        &[
            b"H", b"E", b"L", b"O", b" ", b"c", b"i", b"sc", b"o", b"\r\n",
        ],
        HELO_REPLY,
    ),
    (
        &[
            b"V", b"R", b"F", b"Y", b" ", b"a", b"b", b"@", b"c", b"\r\n",
        ],
        VRFY_REPLY,
    ),
    (
        &[
            b"V", b"R", b"F", b"Y", b" ", b"c", b"i", b"sc", b"o", b"\r\n",
        ],
        VRFY_REPLY,
    ),
    (&[b"H", b"E", b"L", b"P", b"\r\n"], HELP_REPLY),
    (&[b"Q", b"UI", b"T", b"\r\n"], BYE),
];
/// §4: anything else (41 bytes).
pub const UNRECOGNIZED: &[u8] = b"500 5.5.2 Error: command not recognized\r\n";

/// One TCP segment as an endpoint received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Source address and port.
    pub src: SocketAddrV4,
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag bits.
    pub flags: u8,
    /// Payload.
    pub payload: Vec<u8>,
    /// IP time to live.
    pub ttl: u8,
}

impl Segment {
    /// Parses a frame (checksums verified); `None` if it is not a valid TCP/IPv4 frame.
    pub fn parse(frame: &[u8]) -> Option<Segment> {
        let parsed = parse_frame(frame).ok()?;
        let ip = parsed.ipv4()?;
        let L4::Tcp(t) = ip.l4 else { return None };
        Some(Segment {
            src: SocketAddrV4::new(ip.src, t.src_port),
            dst: SocketAddrV4::new(ip.dst, t.dst_port),
            seq: t.seq.0,
            ack: t.ack.0,
            flags: t.flags.0,
            payload: frame[t.payload_range()].to_vec(),
            ttl: ip.ttl,
        })
    }

    /// Whether every bit of `flags` is set.
    pub fn has(&self, flags: u8) -> bool {
        self.flags & flags == flags
    }

    /// Sequence space used (payload, SYN, FIN).
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.has(SYN)) + u32::from(self.has(FIN))
    }
}

/// `a - b` in sequence space.
fn dist(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// The receive side of a TCP endpoint: the in-order byte stream, first copy wins, with
/// out-of-order segments held until the gap fills.
#[derive(Debug, Default)]
pub struct Receiver {
    /// Next expected sequence number (RCV.NXT).
    pub next: u32,
    /// Every byte received in order, each the first copy that arrived.
    pub stream: Vec<u8>,
    /// Whether the peer's FIN was received in order.
    pub fin: bool,
    held: Vec<(u32, Vec<u8>, bool)>,
}

impl Receiver {
    fn start(&mut self, next: u32) {
        self.next = next;
    }

    /// Takes one segment; returns whether it carried data or FIN (needs an ACK).
    fn accept(&mut self, seq: u32, payload: &[u8], fin: bool) -> bool {
        if payload.is_empty() && !fin {
            return false;
        }
        self.held.push((seq, payload.to_vec(), fin));
        loop {
            let mut progressed = false;
            let mut i = 0;
            while i < self.held.len() {
                let (s, ref p, f) = self.held[i];
                let rel = dist(s, self.next);
                if rel > 0 {
                    i += 1;
                    continue;
                }
                let skip = (-rel) as usize;
                if skip < p.len() {
                    let fresh = p[skip..].to_vec();
                    self.next = self.next.wrapping_add(fresh.len() as u32);
                    self.stream.extend_from_slice(&fresh);
                    progressed = true;
                }
                if f && !self.fin && dist(s.wrapping_add(p.len() as u32), self.next) == 0 {
                    self.fin = true;
                    self.next = self.next.wrapping_add(1);
                    progressed = true;
                }
                self.held.swap_remove(i);
            }
            if !progressed {
                break;
            }
        }
        true
    }
}

/// One reply of the scripted server: the segments it is sent as.
pub type Reply = Vec<Vec<u8>>;

/// The scripted mail server of `seed-scenario.md` §4 (deterministic replies).
#[derive(Debug, Default)]
pub struct ServerScript {
    line: Vec<u8>,
    data: bool,
    window: Vec<u8>,
    /// Replies to use, in order, instead of §4's for the next commands.
    pub overrides: VecDeque<Reply>,
    /// Command lines received (with their terminators).
    pub commands: Vec<Vec<u8>>,
    /// Messages queued (end of data seen).
    pub messages: usize,
    /// Message bodies queued (data section without the final `.\r\n`).
    pub bodies: Vec<Vec<u8>>,
    body: Vec<u8>,
    /// QUIT was answered (the server closes).
    pub quit: bool,
}

impl ServerScript {
    fn default_reply(line: &[u8]) -> &'static [u8] {
        let verb: Vec<u8> = line
            .iter()
            .take_while(|&&b| b != b' ' && b != b'\r' && b != b'\n')
            .map(u8::to_ascii_uppercase)
            .collect();
        match verb.as_slice() {
            b"HELO" => HELO_REPLY,
            b"EHLO" => EHLO_REPLY,
            b"MAIL" => MAIL_OK,
            b"RCPT" => RCPT_OK,
            b"DATA" => DATA_GO,
            b"VRFY" => VRFY_REPLY,
            b"HELP" => HELP_REPLY,
            b"NOOP" => NOOP_REPLY,
            b"QUIT" => BYE,
            _ => UNRECOGNIZED,
        }
    }

    /// Feeds bytes received in order; returns the replies to send and whether to close.
    pub fn feed(&mut self, bytes: &[u8]) -> (Vec<Reply>, bool) {
        let mut replies = Vec::new();
        for &b in bytes {
            if self.quit {
                break;
            }
            if self.data {
                self.body.push(b);
                self.window.push(b);
                if self.window.len() > 5 {
                    self.window.remove(0);
                }
                if self.window == b"\r\n.\r\n" {
                    self.data = false;
                    self.messages += 1;
                    let n = self.body.len() - 3;
                    self.bodies.push(self.body[..n].to_vec());
                    self.body.clear();
                    replies.push(vec![QUEUED.to_vec()]);
                }
                continue;
            }
            self.line.push(b);
            if b != b'\n' {
                continue;
            }
            let line = std::mem::take(&mut self.line);
            let reply = self
                .overrides
                .pop_front()
                .unwrap_or_else(|| vec![Self::default_reply(&line).to_vec()]);
            let code: Vec<u8> = reply.concat().into_iter().take(3).collect();
            let upper = line.to_ascii_uppercase();
            if upper.starts_with(b"DATA") && code == b"354" {
                self.data = true;
                self.window = b"\r\n".to_vec();
            }
            if upper.starts_with(b"QUIT") {
                self.quit = true;
            }
            self.commands.push(line);
            replies.push(reply);
        }
        (replies, self.quit)
    }
}

/// What one action made the two endpoints receive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Segments delivered to the server, in order.
    pub to_server: Vec<Segment>,
    /// Segments delivered to the client, in order.
    pub to_client: Vec<Segment>,
}

impl Step {
    /// Payloads (non-empty) the server received.
    pub fn server_payloads(&self) -> Vec<&[u8]> {
        payloads(&self.to_server)
    }

    /// Payloads (non-empty) the client received.
    pub fn client_payloads(&self) -> Vec<&[u8]> {
        payloads(&self.to_client)
    }
}

/// The non-empty payloads of `segs`.
pub fn payloads(segs: &[Segment]) -> Vec<&[u8]> {
    segs.iter()
        .filter(|s| !s.payload.is_empty())
        .map(|s| s.payload.as_slice())
        .collect()
}

/// A client and the scripted server talking through a [`SeedLab`].
#[derive(Debug)]
pub struct SmtpSim {
    /// The firewall.
    pub lab: SeedLab,
    /// The client's address (198.51.100.7:port).
    pub client: SocketAddrV4,
    /// The client's initial sequence number.
    pub c_isn: u32,
    /// The server's initial sequence number.
    pub s_isn: u32,
    /// Client SND.UNA (highest acknowledged by what the client received).
    pub c_una: u32,
    /// Client SND.NXT.
    pub c_nxt: u32,
    c_out: Vec<u8>,
    c_fin: bool,
    /// The client's receive side (what it got from 172.22.1.110:25).
    pub c_rx: Receiver,
    /// Server SND.NXT.
    pub s_nxt: u32,
    /// Server SND.UNA.
    pub s_una: u32,
    s_fin: bool,
    /// The server's receive side (what it got from the client, through the firewall).
    pub s_rx: Receiver,
    s_fed: usize,
    /// The §4 script.
    pub script: ServerScript,
    /// Whether the server acknowledges and replies as segments arrive (else: only on
    /// [`SmtpSim::server_flush`]).
    pub server_auto: bool,
    /// Whether the client acknowledges data and FIN as they arrive.
    pub client_auto_ack: bool,
    /// The server received an RST.
    pub server_reset: bool,
    /// The client received an RST.
    pub client_reset: bool,
    /// Every segment the server received.
    pub to_server: Vec<Segment>,
    /// Every segment the client received.
    pub to_client: Vec<Segment>,
    step: Step,
}

impl SmtpSim {
    /// A lab on the seed configuration plus `extra` lines; the client uses `port`.
    pub fn new(extra: &[&str], port: u16) -> SmtpSim {
        Self::with_lab(SeedLab::new(extra), port)
    }

    /// A dialogue on an existing lab.
    pub fn with_lab(lab: SeedLab, port: u16) -> SmtpSim {
        SmtpSim {
            lab,
            client: SocketAddrV4::new(CLIENT_IP, port),
            c_isn: CLIENT_ISN,
            s_isn: SERVER_ISN,
            c_una: CLIENT_ISN,
            c_nxt: CLIENT_ISN,
            c_out: Vec::new(),
            c_fin: false,
            c_rx: Receiver::default(),
            s_nxt: SERVER_ISN,
            s_una: SERVER_ISN,
            s_fin: false,
            s_rx: Receiver::default(),
            s_fed: 0,
            script: ServerScript::default(),
            server_auto: true,
            client_auto_ack: true,
            server_reset: false,
            client_reset: false,
            to_server: Vec::new(),
            to_client: Vec::new(),
            step: Step::default(),
        }
    }

    /// Seed lab in ESMTP mode (A3 step 2) plus `extra` lines.
    pub fn esmtp(extra: &[&str], port: u16) -> SmtpSim {
        let mut lines = vec![
            "no ip inspect name OUT-IN smtp",
            "ip inspect name OUT-IN esmtp",
        ];
        lines.extend_from_slice(extra);
        Self::new(&lines, port)
    }

    fn server_global(&self) -> SocketAddrV4 {
        SocketAddrV4::new(SERVER_GLOBAL, 25)
    }

    fn server_local(&self) -> SocketAddrV4 {
        SocketAddrV4::new(SERVER_LOCAL, 25)
    }

    /// Uses other initial sequence numbers (before [`SmtpSim::prelude`]), e.g. close to
    /// 2^32 so that the dialogue wraps the sequence space.
    pub fn set_isns(&mut self, client: u32, server: u32) {
        self.c_isn = client;
        self.s_isn = server;
        self.c_una = client;
        self.c_nxt = client;
        self.s_nxt = server;
        self.s_una = server;
    }

    /// Offset of `seq` in the client's byte stream.
    fn c_off(&self, seq: u32) -> usize {
        seq.wrapping_sub(self.c_isn.wrapping_add(1)) as usize
    }

    /// The client's first data byte.
    pub fn client_data_start(&self) -> u32 {
        self.c_isn.wrapping_add(1)
    }

    /// The server's first data byte (greeting).
    pub fn server_data_start(&self) -> u32 {
        self.s_isn.wrapping_add(1)
    }

    /// Handshake plus greeting; panics if any of it does not get through.
    pub fn prelude(&mut self) -> Step {
        let syn = self.client_frame(self.c_isn, 0, SYN, b"");
        self.c_nxt = self.c_isn.wrapping_add(1);
        self.c_una = self.c_isn;
        let mut step = self.pump(OUTSIDE, syn);
        let got_syn = step.to_server.iter().any(|s| s.has(SYN) && !s.has(ACK));
        assert!(got_syn, "SYN not forwarded: {step:?}");
        // The server answered with SYN-ACK (`server_receive`), the client with its ACK
        // (`client_receive`), all within that one pump.
        assert!(
            step.to_client.iter().any(|s| s.has(SYN | ACK)),
            "SYN-ACK not forwarded: {step:?}"
        );
        let greet = self.server_send(&[GREETING]);
        assert_eq!(greet.client_payloads(), [GREETING], "greeting: {greet:?}");
        step.to_server.extend(greet.to_server);
        step.to_client.extend(greet.to_client);
        step
    }

    fn client_frame(&self, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        tcp(
            ISP_MAC,
            FW_OUTSIDE_MAC,
            self.client,
            self.server_global(),
            seq,
            ack,
            flags,
            payload,
        )
    }

    fn server_frame(&self, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        tcp(
            MAIL_MAC,
            FW_INSIDE_MAC,
            self.server_local(),
            self.client,
            seq,
            ack,
            flags,
            payload,
        )
    }

    /// The client sends `payload` as one segment (PSH|ACK) at SND.NXT.
    pub fn client_send(&mut self, payload: &[u8]) -> Step {
        let seq = self.c_nxt;
        self.c_out.extend_from_slice(payload);
        self.c_nxt = self.c_nxt.wrapping_add(payload.len() as u32);
        let f = self.client_frame(seq, self.c_rx.next, PSH | ACK, payload);
        self.pump(OUTSIDE, f)
    }

    /// The client sends each of `segments` in turn (one segment each).
    pub fn client_send_all(&mut self, segments: &[&[u8]]) -> Step {
        let mut step = Step::default();
        for s in segments {
            let st = self.client_send(s);
            step.to_server.extend(st.to_server);
            step.to_client.extend(st.to_client);
        }
        step
    }

    /// A hand-made client segment (packet-level cases): `seq`, `flags`, `payload`, acking
    /// what the client has received. SND.NXT moves to its end if that is further.
    pub fn client_raw(&mut self, seq: u32, flags: u8, payload: &[u8]) -> Step {
        let end = seq.wrapping_add(payload.len() as u32);
        if dist(end, self.c_nxt) > 0 {
            self.c_nxt = end;
        }
        let f = self.client_frame(seq, self.c_rx.next, flags, payload);
        self.pump(OUTSIDE, f)
    }

    /// The client closes (FIN|ACK at SND.NXT).
    pub fn client_fin(&mut self) -> Step {
        let seq = self.c_nxt;
        self.c_fin = true;
        self.c_nxt = self.c_nxt.wrapping_add(1);
        let f = self.client_frame(seq, self.c_rx.next, FIN | ACK, b"");
        self.pump(OUTSIDE, f)
    }

    /// Bytes the client has sent that the server has not acknowledged.
    pub fn client_unacked(&self) -> &[u8] {
        let from = self.c_off(self.c_una.max_seq(self.client_data_start()));
        let to = self.c_off(self.c_nxt).min(self.c_out.len());
        &self.c_out[from.min(to)..to]
    }

    /// The client's retransmission timer fires: the virtual clock advances by [`RTO_NS`]
    /// and the unacknowledged bytes are sent again as one segment from SND.UNA.
    pub fn client_retransmit(&mut self) -> Step {
        let mut step = self.advance(RTO_NS);
        let bytes = self.client_unacked().to_vec();
        if bytes.is_empty() {
            return step;
        }
        let seq = self.c_una.max_seq(self.client_data_start());
        let f = self.client_frame(seq, self.c_rx.next, PSH | ACK, &bytes);
        let st = self.pump(OUTSIDE, f);
        step.to_server.extend(st.to_server);
        step.to_client.extend(st.to_client);
        step
    }

    /// The server sends `segments` of data on its own (not as an auto-reply).
    pub fn server_send(&mut self, segments: &[&[u8]]) -> Step {
        let mut step = Step::default();
        for p in segments {
            let seq = self.s_nxt;
            self.s_nxt = self.s_nxt.wrapping_add(p.len() as u32);
            let f = self.server_frame(seq, self.s_rx.next, PSH | ACK, p);
            let st = self.pump(INSIDE, f);
            step.to_server.extend(st.to_server);
            step.to_client.extend(st.to_client);
        }
        step
    }

    /// A hand-made server segment (retransmissions, keep-alives): `seq`, `flags`,
    /// `payload`, acknowledging what the server has received. SND.NXT moves to its end if
    /// that is further.
    pub fn server_raw(&mut self, seq: u32, flags: u8, payload: &[u8]) -> Step {
        let end = seq.wrapping_add(payload.len() as u32);
        if dist(end, self.s_nxt) > 0 {
            self.s_nxt = end;
        }
        let f = self.server_frame(seq, self.s_rx.next, flags, payload);
        self.pump(INSIDE, f)
    }

    /// With `server_auto` off: the server now acknowledges and answers what it received.
    pub fn server_flush(&mut self) -> Step {
        let frames = self.server_respond(true);
        let mut step = Step::default();
        for f in frames {
            let st = self.pump(INSIDE, f);
            step.to_server.extend(st.to_server);
            step.to_client.extend(st.to_client);
        }
        step
    }

    /// Advances the virtual clock, delivering whatever the timers transmit.
    pub fn advance(&mut self, ns: u64) -> Step {
        let out = self.lab.advance(ns);
        self.deliver_all(out.into());
        self.take_step()
    }

    fn take_step(&mut self) -> Step {
        std::mem::take(&mut self.step)
    }

    /// Feeds one frame into the lab and delivers everything that results (replies
    /// included) until the network is quiet.
    fn pump(&mut self, port: usize, frame: Vec<u8>) -> Step {
        let out = self.lab.send(port, &frame);
        self.deliver_all(out.into());
        self.take_step()
    }

    fn deliver_all(&mut self, mut queue: VecDeque<(usize, Vec<u8>)>) {
        let mut rounds = 0;
        while let Some((port, frame)) = queue.pop_front() {
            rounds += 1;
            assert!(rounds < 100_000, "dialogue does not settle");
            let replies = if port == INSIDE {
                self.check_inside(&frame);
                let seg = Segment::parse(&frame).expect("valid TCP frame toward the server");
                let frames = self.server_receive(seg);
                frames.into_iter().map(|f| (INSIDE, f)).collect::<Vec<_>>()
            } else {
                assert_eq!(port, OUTSIDE, "unknown port");
                self.check_outside(&frame);
                let seg = Segment::parse(&frame).expect("valid TCP frame toward the client");
                let frames = self.client_receive(seg);
                frames.into_iter().map(|f| (OUTSIDE, f)).collect::<Vec<_>>()
            };
            for (p, f) in replies {
                queue.extend(self.lab.send(p, &f));
            }
        }
    }

    fn check_inside(&self, frame: &[u8]) {
        let p = parse_frame(frame).expect("valid frame toward the server");
        assert_eq!(p.dst_mac, MAIL_MAC, "toward the server: destination MAC");
        assert_eq!(p.src_mac, FW_INSIDE_MAC, "toward the server: source MAC");
        let ip = p.ipv4().expect("IPv4 toward the server");
        assert_eq!(ip.dst, SERVER_LOCAL, "NAT: the server sees its own address");
        assert_eq!(ip.src, CLIENT_IP, "the server sees the client's address");
    }

    fn check_outside(&self, frame: &[u8]) {
        let p = parse_frame(frame).expect("valid frame toward the client");
        assert_eq!(p.dst_mac, ISP_MAC, "toward the client: destination MAC");
        assert_eq!(p.src_mac, FW_OUTSIDE_MAC, "toward the client: source MAC");
        let ip = p.ipv4().expect("IPv4 toward the client");
        assert_eq!(ip.src, SERVER_GLOBAL, "NAT: the client sees 172.22.1.110");
        assert_eq!(ip.dst, CLIENT_IP, "toward the client: destination");
    }

    fn server_receive(&mut self, seg: Segment) -> Vec<Vec<u8>> {
        assert_eq!(seg.src, self.client, "segment from the client's port");
        assert_eq!(seg.dst, self.server_local(), "segment to 10.10.10.2:25");
        self.to_server.push(seg.clone());
        self.step.to_server.push(seg.clone());
        if self.server_reset {
            return Vec::new();
        }
        if seg.has(RST) {
            self.server_reset = true;
            return Vec::new();
        }
        if seg.has(SYN) {
            self.s_rx.start(seg.seq.wrapping_add(1));
            self.s_nxt = self.s_isn.wrapping_add(1);
            return vec![self.server_frame(self.s_isn, self.s_rx.next, SYN | ACK, b"")];
        }
        if seg.has(ACK) && dist(seg.ack, self.s_una) > 0 {
            self.s_una = seg.ack;
        }
        let needs_ack = self.s_rx.accept(seg.seq, &seg.payload, seg.has(FIN));
        if !self.server_auto {
            return Vec::new();
        }
        self.server_respond(needs_ack)
    }

    fn server_respond(&mut self, needs_ack: bool) -> Vec<Vec<u8>> {
        let fresh = self.s_rx.stream[self.s_fed..].to_vec();
        self.s_fed = self.s_rx.stream.len();
        let (replies, close) = self.script.feed(&fresh);
        let mut frames = Vec::new();
        for reply in replies {
            for p in reply {
                let f = self.server_frame(self.s_nxt, self.s_rx.next, PSH | ACK, &p);
                self.s_nxt = self.s_nxt.wrapping_add(p.len() as u32);
                frames.push(f);
            }
        }
        if (close || self.s_rx.fin) && !self.s_fin {
            self.s_fin = true;
            frames.push(self.server_frame(self.s_nxt, self.s_rx.next, FIN | ACK, b""));
            self.s_nxt = self.s_nxt.wrapping_add(1);
        }
        if frames.is_empty() && needs_ack {
            frames.push(self.server_frame(self.s_nxt, self.s_rx.next, ACK, b""));
        }
        frames
    }

    fn client_receive(&mut self, seg: Segment) -> Vec<Vec<u8>> {
        assert_eq!(
            seg.src,
            self.server_global(),
            "segment from 172.22.1.110:25"
        );
        assert_eq!(seg.dst, self.client, "segment to the client");
        self.to_client.push(seg.clone());
        self.step.to_client.push(seg.clone());
        if self.client_reset {
            return Vec::new();
        }
        if seg.has(RST) {
            self.client_reset = true;
            return Vec::new();
        }
        if seg.has(SYN | ACK) {
            self.c_rx.start(seg.seq.wrapping_add(1));
            self.c_una = seg.ack;
            return vec![self.client_frame(self.c_nxt, self.c_rx.next, ACK, b"")];
        }
        if seg.has(ACK) && dist(seg.ack, self.c_una) > 0 {
            self.c_una = seg.ack;
        }
        let needs_ack = self.c_rx.accept(seg.seq, &seg.payload, seg.has(FIN));
        if needs_ack && self.client_auto_ack {
            return vec![self.client_frame(self.c_nxt, self.c_rx.next, ACK, b"")];
        }
        Vec::new()
    }

    /// Log lines (drained), without the timestamp.
    pub fn logs(&mut self) -> Vec<String> {
        self.lab.logs()
    }

    /// Log lines that are not `debug` output (drained).
    pub fn alerts(&mut self) -> Vec<String> {
        self.lab
            .logs()
            .into_iter()
            .filter(|l| l.starts_with('%'))
            .collect()
    }

    /// Whether the client's FIN was sent.
    pub fn client_closed(&self) -> bool {
        self.c_fin
    }
}

/// Sequence-space maximum for `u32` sequence numbers.
trait SeqMax {
    fn max_seq(self, other: u32) -> u32;
}

impl SeqMax for u32 {
    fn max_seq(self, other: u32) -> u32 {
        if dist(self, other) >= 0 {
            self
        } else {
            other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_keeps_first_copy_and_holds_out_of_order() {
        let mut r = Receiver::default();
        r.start(100);
        assert!(r.accept(103, b"O a\r\n", false));
        assert!(r.stream.is_empty());
        assert!(r.accept(100, b"HEL", false));
        assert_eq!(r.stream, b"HELO a\r\n");
        r.accept(100, b"EXPN", false);
        assert_eq!(r.stream, b"HELO a\r\n");
        r.accept(108, b"", true);
        assert!(r.fin);
        assert_eq!(r.next, 109);
    }

    #[test]
    fn script_answers_per_section_4() {
        let mut s = ServerScript::default();
        let (r, close) = s.feed(b"HELO a\r\nDATA\r\nx\r\n.\r\nQUIT\r\n");
        assert_eq!(
            r,
            vec![
                vec![HELO_REPLY.to_vec()],
                vec![DATA_GO.to_vec()],
                vec![QUEUED.to_vec()],
                vec![BYE.to_vec()]
            ]
        );
        assert!(close);
        assert_eq!(s.bodies, vec![b"x\r\n".to_vec()]);
        assert_eq!(EHLO_REPLY.len(), 212);
        assert_eq!(EHLO_REPLY_MASKED.len(), 212);
    }
}
