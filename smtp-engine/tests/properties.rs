//! Property tests (proptest) of the inspector as a whole:
//!
//! 1. segmentation invariance: any split of the client and server streams
//!    (1-byte segments included) gives the same bytes at both ends, the same
//!    events and the same final verdict as presenting everything at once, up
//!    to the documented differences: a legal prefix forwarded in an earlier
//!    segment is not masked retroactively (spec §2.5 item 2, §4.4), and a
//!    reply-and-close drops the whole offending segment (§9.2.1). Withholding
//!    is modelled: withheld bytes are presented again after the server's
//!    replies, like a sender's retransmission. Bare CRs are excluded from the
//!    generated streams because their treatment deliberately depends on
//!    whether the next byte is in the same segment (§2.3, §7.2);
//! 2. lengths never change and unconsumed bytes are left untouched;
//! 3. arbitrary bytes never panic, in any direction, mode or state;
//! 4. a random valid RFC 5321 session passes byte-for-byte unaltered.

mod common;

use common::{scripted_reply, GREETING};
use proptest::prelude::*;
use smtp_engine::{Action, Event, Inspector, Mode, Policy, SignatureSet, SmtpStats};

/// A scripted mail server that parses what it receives like a real one would.
struct Server {
    line: Vec<u8>,
    in_data: bool,
    data_state: u8,
    out: Vec<u8>,
    ehlo: &'static [u8],
}

impl Server {
    fn new(ehlo: &'static [u8]) -> Self {
        Server {
            line: Vec::new(),
            in_data: false,
            data_state: 2,
            out: GREETING.to_vec(),
            ehlo,
        }
    }

    fn receive(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_data {
                // \r\n.\r\n with the DATA line's own CRLF counting as the first.
                self.data_state = match (self.data_state, b) {
                    (_, b'\r') if self.data_state != 3 => 1,
                    (1, b'\n') => 2,
                    (2, b'.') => 3,
                    (3, b'\r') => 4,
                    (4, b'\n') => 5,
                    _ => 0,
                };
                if self.data_state == 5 {
                    self.in_data = false;
                    self.out.extend_from_slice(b"250 2.0.0 Ok: queued\r\n");
                }
                continue;
            }
            self.line.push(b);
            if b == b'\n' {
                let up: Vec<u8> = self
                    .line
                    .iter()
                    .take(4)
                    .map(|c| c.to_ascii_uppercase())
                    .collect();
                let reply = if up == b"EHLO" {
                    self.ehlo
                } else {
                    scripted_reply(&self.line)
                };
                if up == b"DATA" {
                    self.in_data = true;
                    self.data_state = 2;
                }
                self.out.extend_from_slice(reply);
                self.line.clear();
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    server_rx: Vec<u8>,
    client_rx: Vec<u8>,
    events: Vec<Event>,
    final_action: Action,
    masked: u64,
}

/// Drive a session: the client stream is presented in segments of the given
/// sizes (cycled; 0 = everything remaining), withheld bytes are presented again
/// after the server's replies; server replies are split by `ssplit`.
fn drive(
    policy: Policy,
    client: &[u8],
    csplit: &[usize],
    ssplit: &[usize],
    ehlo: &'static [u8],
) -> Outcome {
    let mut insp = Inspector::new(&policy);
    let mut stats = SmtpStats::default();
    let mut server = Server::new(ehlo);
    let mut o = Outcome {
        server_rx: vec![],
        client_rx: vec![],
        events: vec![],
        final_action: Action::Continue,
        masked: 0,
    };
    let mut sent_to_client = 0usize;
    let (mut pos, mut k, mut sk) = (0usize, 0usize, 0usize);
    let mut stalls = 0;
    loop {
        // Deliver the server's pending output to the client through the inspector.
        while sent_to_client < server.out.len() && o.final_action == Action::Continue {
            let rest = server.out.len() - sent_to_client;
            let n = match ssplit[sk % ssplit.len()] {
                0 => rest,
                n => n.min(rest),
            };
            sk += 1;
            let mut seg = server.out[sent_to_client..sent_to_client + n].to_vec();
            let v = insp.handle_server(&mut seg, &mut stats);
            assert_eq!(v.forward, n, "server bytes are never withheld");
            o.client_rx.extend_from_slice(&seg[..v.forward]);
            sent_to_client += n;
            while let Some(e) = insp.poll_event() {
                o.events.push(e);
            }
            if v.action != Action::Continue {
                o.final_action = v.action;
            }
        }
        if pos >= client.len() || o.final_action != Action::Continue {
            break;
        }
        let rest = client.len() - pos;
        let n = match csplit[k % csplit.len()] {
            0 => rest,
            n => n.min(rest),
        };
        k += 1;
        let orig = client[pos..pos + n].to_vec();
        let mut seg = orig.clone();
        let v = insp.handle_client(&mut seg, &mut stats);
        assert!(v.forward <= n);
        if v.action == Action::Continue {
            assert_eq!(
                &seg[v.forward..],
                &orig[v.forward..],
                "unconsumed bytes untouched"
            );
        }
        o.server_rx.extend_from_slice(&seg[..v.forward]);
        server.receive(&seg[..v.forward]);
        pos += v.forward;
        while let Some(e) = insp.poll_event() {
            o.events.push(e);
        }
        if v.action != Action::Continue {
            o.final_action = v.action;
            if let Action::ReplyAndClose { reply, .. } = v.action {
                o.client_rx.extend_from_slice(reply);
            }
            break;
        }
        if v.forward == 0 && sent_to_client == server.out.len() {
            stalls += 1;
            assert!(stalls < 3, "client stream stuck at {pos}");
        } else {
            stalls = 0;
        }
    }
    o.masked = stats.cmd_masked;
    o
}

/// Building blocks of client streams (no bare CR anywhere).
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"HELO a.example\r\n".to_vec()),
        Just(b"EHLO client.example.net\r\n".to_vec()),
        Just(b"MAIL FROM:<a@example.org>\r\n".to_vec()),
        Just(b"MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME\r\n".to_vec()),
        Just(b"RCPT TO:<b@example.test>\r\n".to_vec()),
        Just(b"RCPT TO:<b@example.test> NOTIFY=SUCCESS,DELAY\r\n".to_vec()),
        Just(b"DATA\r\nSubject: x\r\n\r\nbody\r\n..dot\r\nEXPN in body\n.\r\n".to_vec()),
        Just(b"DATA\r\n.\r\n".to_vec()),
        Just(b"NOOP\r\n".to_vec()),
        Just(b"RSET\r\n".to_vec()),
        Just(b"VRFY root\r\n".to_vec()),
        Just(b"HELP\n".to_vec()),
        Just(b"EXPN staff\r\n".to_vec()),
        Just(b"eXpN x\r\n".to_vec()),
        Just(b"STARTTLS\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"HE\0LO x\r\n".to_vec()),
        Just(b"HELO a\tb\r\n".to_vec()),
        Just(b"MAIL FROM:<a@example.org> SMTPUTF8\r\n".to_vec()),
        Just(b"RCPT TO:<|/bin/sh@x>\r\n".to_vec()),
        Just(b"WIZ\r\n".to_vec()),
        Just(b"ETRN @example.net\r\n".to_vec()),
        Just(b"MAIL FROM:<a@b> ENVID=x+2B\r\n".to_vec()),
        Just(b"RCPT TO:<b@x> NOTIFY=NEVER\r\n".to_vec()),
        Just(b"RCPT TO:<decode@x>\r\n".to_vec()),
        Just(b"MAIL FROM:<\"q b\"@x> SIZE=5\r\n".to_vec()),
        Just(b"RCPT TO:<b@x> ORCPT=rfc822;b@x\n".to_vec()),
        Just(b"MAIL FROM:<a@b> SIZE=1 SIZE=2\r\n".to_vec()),
        Just(b"VRFY postmaster\n".to_vec()),
        // MAIL/RCPT with random parameter soup: exercises the whole-line fast
        // path against the streaming parser.
        (
            any::<bool>(),
            proptest::collection::vec(
                prop_oneof![
                    b'A'..=b'Z',
                    b'0'..=b'9',
                    Just(b'='),
                    Just(b','),
                    Just(b';'),
                    Just(b'+'),
                    Just(b' '),
                    Just(b'<'),
                    Just(b'>'),
                    Just(b'"'),
                    Just(b'|'),
                    Just(0xC3u8)
                ],
                0..30
            ),
            prop_oneof![
                Just(&b"SIZE="[..]),
                Just(&b"BODY="[..]),
                Just(&b"NOTIFY="[..]),
                Just(&b"ORCPT="[..]),
                Just(&b"ENVID="[..]),
                Just(&b"AUTH="[..]),
                Just(&b"RET="[..]),
                Just(&b""[..])
            ]
        )
            .prop_map(|(mail, soup, kw)| {
                let mut v = if mail {
                    b"MAIL FROM:<a@b> ".to_vec()
                } else {
                    b"RCPT TO:<b@x> ".to_vec()
                };
                v.extend_from_slice(kw);
                v.extend_from_slice(&soup);
                v.extend_from_slice(b"\r\n");
                v
            }),
        proptest::collection::vec(
            prop_oneof![b'a'..=b'z', Just(b' '), Just(b':'), Just(0u8), Just(b'\t')],
            0..20
        )
        .prop_map(|mut v| {
            v.extend_from_slice(b"\r\n");
            v
        }),
    ]
}

const EHLO_ALL_SUPPORTED: &[u8] = b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 DSN\r\n";

fn split() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        Just(vec![1]),
        Just(vec![0]),
        proptest::collection::vec(0usize..12, 1..8),
    ]
}

/// `got` equals `want` except where `want` masked a byte that `got`
/// forwarded unchanged as part of a legal prefix.
fn same_modulo_prefix_masking(got: &[u8], want: &[u8], orig: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what} lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w || (w == b'X' && g == orig[i]),
            "{what} byte {i}: got {g:?} want {w:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400)))]

    #[test]
    fn segmentation_invariance(
        esmtp in any::<bool>(),
        pieces in proptest::collection::vec(piece(), 1..12),
        csplit in split(),
        ssplit in split(),
    ) {
        let policy = Policy { mode: if esmtp { Mode::Esmtp } else { Mode::Smtp }, ..Policy::default() };
        let client: Vec<u8> = pieces.concat();
        let reference = drive(policy, &client, &[0], &[0], common::EHLO_REPLY);
        let split_run = drive(policy, &client, &csplit, &ssplit, common::EHLO_REPLY);
        prop_assert_eq!(&split_run.events, &reference.events);
        prop_assert_eq!(split_run.final_action, reference.final_action);
        prop_assert_eq!(split_run.masked, reference.masked);
        if reference.final_action == Action::Continue {
            same_modulo_prefix_masking(&split_run.server_rx, &reference.server_rx, &client, "server_rx");
        } else {
            // The reference dropped its whole last segment; the split run may have
            // forwarded more of it before the deciding byte.
            prop_assert!(split_run.server_rx.len() >= reference.server_rx.len());
            same_modulo_prefix_masking(&split_run.server_rx[..reference.server_rx.len()], &reference.server_rx, &client, "server_rx");
        }
        // Replies: EHLO keyword masking may keep a legal prefix forwarded earlier.
        // (After a close the reference run has fewer replies: lines pipelined in
        // front of the violation were dropped with its segment.)
        if reference.final_action != Action::Continue {
            return Ok(());
        }
        prop_assert_eq!(split_run.client_rx.len(), reference.client_rx.len());
        for (i, (&g, &w)) in split_run.client_rx.iter().zip(&reference.client_rx).enumerate() {
            prop_assert!(g == w || (w == b'X' && g != b'\r' && g != b'\n'), "client_rx byte {}", i);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        mode in any::<bool>(),
        flags in any::<u8>(),
        max_data in 1u64..5000,
        chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..30),
    ) {
        let policy = Policy {
            mode: if mode { Mode::Esmtp } else { Mode::Smtp },
            max_data,
            allow_tls: flags & 1 != 0,
            mask_banner: flags & 2 != 0,
            bdat: flags & 4 != 0,
            legacy_pre_12_3_7t: flags & 8 != 0,
            debug: flags & 16 != 0,
            signatures: if flags & 32 != 0 { SignatureSet::all() } else { SignatureSet::default() },
            spam_threshold: 2,
        };
        let mut insp = Inspector::new(&policy);
        let mut stats = SmtpStats::default();
        for (client, bytes) in chunks {
            let orig = bytes.clone();
            let mut b = bytes;
            let v = if client { insp.handle_client(&mut b, &mut stats) } else { insp.handle_server(&mut b, &mut stats) };
            prop_assert!(v.forward <= b.len());
            prop_assert_eq!(b.len(), orig.len());
            if v.action == Action::Continue {
                prop_assert_eq!(&b[v.forward..], &orig[v.forward..]);
            }
            let mut n = 0;
            while insp.poll_event().is_some() {
                n += 1;
            }
            prop_assert!(n <= smtp_engine::EVENT_QUEUE_LEN);
        }
        insp.end_of_stream(&mut stats);
    }

    #[test]
    fn arbitrary_bytes_in_a_live_session(
        esmtp in any::<bool>(),
        prefix in proptest::collection::vec(piece(), 0..5),
        noise in proptest::collection::vec(any::<u8>(), 0..400),
        csplit in split(),
    ) {
        let policy = Policy { mode: if esmtp { Mode::Esmtp } else { Mode::Smtp }, ..Policy::default() };
        let client = [prefix.concat(), noise].concat();
        let _ = drive(policy, &client, &csplit, &[0], common::EHLO_REPLY);
    }

    #[test]
    fn valid_sessions_pass_unaltered(
        esmtp in any::<bool>(),
        txns in proptest::collection::vec(
            (proptest::collection::vec("[a-z]{1,8}", 1..4),
             proptest::collection::vec("[ -~]{0,60}", 0..6)),
            1..4),
        csplit in split(),
        ssplit in split(),
    ) {
        let policy = Policy { mode: if esmtp { Mode::Esmtp } else { Mode::Smtp }, ..Policy::default() };
        let mut client = Vec::new();
        client.extend_from_slice(if esmtp { b"EHLO client.example.net\r\n" } else { b"HELO client.example.net\r\n" });
        for (rcpts, body) in &txns {
            client.extend_from_slice(b"MAIL FROM:<alice@example.org>\r\n");
            for r in rcpts {
                client.extend_from_slice(format!("RCPT TO:<{r}@example.test>\r\n").as_bytes());
            }
            client.extend_from_slice(b"DATA\r\nSubject: hello\r\n\r\n");
            for l in body {
                // dot-stuffing (RFC 5321 §4.5.2)
                if l.starts_with('.') {
                    client.push(b'.');
                }
                client.extend_from_slice(l.as_bytes());
                client.extend_from_slice(b"\r\n");
            }
            client.extend_from_slice(b".\r\n");
        }
        client.extend_from_slice(b"QUIT\r\n");
        let o = drive(policy, &client, &csplit, &ssplit, EHLO_ALL_SUPPORTED);
        prop_assert_eq!(o.final_action, Action::Continue);
        prop_assert_eq!(&o.server_rx, &client);
        prop_assert!(o.events.is_empty(), "{:?}", o.events);
        prop_assert_eq!(o.masked, 0);
        // Every reply reached the client unchanged: greeting + one per command.
        let mut server = Server::new(EHLO_ALL_SUPPORTED);
        server.receive(&client);
        prop_assert_eq!(&o.client_rx, &server.out);
    }
}
