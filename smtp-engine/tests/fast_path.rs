//! Differential property test of the whole-line fast paths (commands and
//! replies) against the general streaming path alone.
//!
//! Two inspectors with the same policy see exactly the same calls: one with
//! the fast paths on (the default), one with them turned off
//! (`Inspector::set_fast_paths(false)`). Client streams mix legal lines,
//! hostile lines (illegal verbs, signature verbs, pipes, control bytes, bare
//! CR/LF, 8-bit bytes, over-long lines, bad ESMTP parameters) and random
//! bytes, cut into random segments (1-byte segments included); server replies
//! are interleaved at random (positive, 354, 334, EHLO with PIPELINING, 421,
//! malformed, split lines), so every client state is reached. Unconsumed
//! (withheld) client bytes are presented again with the next segment, like a
//! retransmission. After every call both must agree on the verdict, the
//! rewritten segment, the events and the counters.

use proptest::prelude::*;
mod common;

use common::differential::Side;
use smtp_engine::{Mode, Policy, SignatureSet};

fn line() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"HELO a.example\r\n",
        b"EHLO client.example.net\r\n",
        b"ehlo x\r\n",
        b"MAIL FROM:<a@example.org>\r\n",
        b"MAIL FROM:<sender@example.net> SIZE=2048 BODY=8BITMIME\r\n",
        b"mail from: <> RET=HDRS ENVID=QQ1 AUTH=<>\r\n",
        b"MAIL FROM:<a@b> SIZE=123456789012345678901\r\n",
        b"MAIL FROM:<a@b> SIZE=1 SIZE=2\r\n",
        b"MAIL FROM:<a@b> SIZE=12x\r\n",
        b"MAIL FROM:<a@b> ENVID=x+2B\r\n",
        b"MAIL FROM:<\"q b\"@x> SIZE=5\r\n",
        b"MAIL FROM:<a|b@x>\r\n",
        b"MAIL FROM:<a@b> SMTPUTF8\r\n",
        b"MAIL FROM:<\xc3\xa9@x>\r\n",
        b"SAML FROM:<a@b>\r\n",
        b"RCPT TO:<b@example.test>\r\n",
        b"rcpt to:<user1.7@example.test> NOTIFY=FAILURE\r\n",
        b"RCPT TO:<b@x> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@x\r\n",
        b"RCPT TO:<b@x> NOTIFY=NEVER,DELAY\r\n",
        b"RCPT TO:<decode@x>\r\n",
        b"RCPT TO: <UUDECODE@x>\r\n",
        b"RCPT TO:<dave@x>\r\n",
        b"RCPT TO:<|/bin/sh@x>\r\n",
        b"RCPT TO:<b@x> SIZE=1\r\n",
        b"RCPT TO:<b@x>\n",
        b"DATA\r\n",
        b"BDAT 5 LAST\r\n",
        b"BDAT 0\r\n",
        b"AUTH PLAIN dGVzdA==\r\n",
        b"AUTH LOGIN\r\n",
        b"dGVzdA==\r\n",
        b"*\r\n",
        b"ETRN @example.net\r\n",
        b"STARTTLS\r\n",
        b"NOOP\r\n",
        b"RSET\r\n",
        b"QUIT\r\n",
        b"HELP\n",
        b"VRFY root\r\n",
        b"EXPN staff\r\n",
        b"WIZ\r\n",
        b"DEBUG\r\n",
        b"SEND FROM:<a@b>\r\n",
        b"\r\n",
        b"\n",
        b"HE\0LO x\r\n",
        b"HELO a\tb\r\n",
        b"HELO a\rb\r\n",
        b"HELO a\x7fb\r\n",
        b"MAILX FROM:<a@b>\r\n",
        b"MAI\r\n",
        b"Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\n",
        b"Subject: y\r\n\r\n",
        b"a message body line of ordinary text\r\n",
        b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n",
        b".leading dot\r\n",
        b"\r\n",
        b"bare\rcr\r\n",
        b"bare\nlf\r\n",
        b"end\r\n.\r\n",
    ];
    prop_oneof![
        4 => proptest::sample::select(fixed).prop_map(<[u8]>::to_vec),
        // An over-long line (past 512 and 1024 bytes).
        1 => (proptest::sample::select(vec![&b"NOOP "[..], b"RCPT TO:<", b"MAIL FROM:<a@b> ENVID="]), 500usize..1100)
            .prop_map(|(head, n)| {
                let mut v = head.to_vec();
                v.resize(head.len() + n, b'a');
                v.extend_from_slice(b"\r\n");
                v
            }),
        // Random printable-ish content after a verb.
        2 => (
            proptest::sample::select(vec![&b"MAIL FROM:<a@b> "[..], b"RCPT TO:<b@x> ", b"HELO ", b"NOOP", b"VRFY "]),
            proptest::collection::vec(
                prop_oneof![
                    b'A'..=b'Z', b'a'..=b'z', b'0'..=b'9',
                    Just(b'='), Just(b','), Just(b';'), Just(b'+'), Just(b' '), Just(b'<'),
                    Just(b'>'), Just(b'"'), Just(b'|'), Just(b'/'), Just(0xC3u8), Just(b'\t'),
                ],
                0..40,
            ),
            proptest::sample::select(vec![&b"\r\n"[..], b"\n"]),
        )
            .prop_map(|(head, body, end)| [head, &body[..], end].concat()),
        // Arbitrary bytes.
        1 => proptest::collection::vec(any::<u8>(), 0..40),
        // MAIL/RCPT lines assembled from ordinary and odd parts.
        3 => mail_rcpt_line(),
        // Four-letter verbs followed by every kind of delimiter.
        1 => (
            proptest::sample::select(vec![&b"NOOP"[..], b"rset", b"QuIt", b"DATA", b"HELO", b"MAIL", b"RCPT", b"VRFY", b"TURN", b"ETRN", b"XXXX"]),
            proptest::sample::select(vec![&b"\r\n"[..], b"\n", b"\r", b"\rx\r\n", b" \r\n", b"\t\r\n", b" a\r\n", b"x\r\n", b"\0\r\n", b"\r\r\n", b" <a@b>\r\n"]),
        )
            .prop_map(|(verb, tail)| [verb, tail].concat()),
    ]
}

/// MAIL/RCPT lines from parts: the verb and `FROM:`/`TO:` in any case,
/// optional SP, paths (ordinary, empty, quoted, unclosed, with 8-bit, control
/// or `|` bytes, alias local parts), parameter lists (every known keyword,
/// odd values, duplicates, unknown keywords, stray `>`), any terminator.
fn mail_rcpt_line() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::sample::select(vec![
            &b"MAIL FROM:"[..],
            b"mail from:",
            b"MaIl FrOm:",
            b"RCPT TO:",
            b"rcpt to:",
            b"RcPt tO:",
            b"SEND FROM:",
            b"MAIL FRUM:",
            b"RCPT T0:",
            b"MAIL FROM;",
            b"RCPT TO",
        ]),
        proptest::sample::select(vec![&b""[..], b" ", b"  "]),
        proptest::sample::select(vec![
            &b"<alice@example.net>"[..],
            b"<>",
            b"<bob@example.test>",
            b"<decode@x>",
            b"<Uudecode@x>",
            b"<\"a b\"@x>",
            b"<a\"b@x>",
            b"<a@b",
            b"a@b",
            b"<a|b@x>",
            b"<a\x80b@x>",
            b"<a\tb@x>",
            b"<a\rb@x>",
            b"<a>b@x>",
            b"<@relay:a@b>",
            b"<a\x7fb@x>",
        ]),
        proptest::collection::vec(
            proptest::sample::select(vec![
                &b" SIZE=2048"[..],
                b" size=0",
                b" SIZE=",
                b" SIZE=12345678901234567890",
                b" SIZE=123456789012345678901",
                b" SIZE=1x",
                b" BODY=8BITMIME",
                b" body=7bit",
                b" BODY=BINARYMIME",
                b" BODY=9BIT",
                b" RET=HDRS",
                b" ret=full",
                b" RET=NONE",
                b" ENVID=QQ314159",
                b" ENVID=a+2Bb",
                b" ENVID=a=b",
                b" AUTH=<>",
                b" AUTH=alice@example.net",
                b" NOTIFY=SUCCESS,FAILURE",
                b" notify=never",
                b" NOTIFY=NEVER,DELAY",
                b" NOTIFY=DELAY,DELAY",
                b" NOTIFY=",
                b" ORCPT=rfc822;bob@example.test",
                b" ORCPT=rfc822",
                b" ORCPT=;x",
                b" ORCPT=rfc822;a+40b",
                b" SMTPUTF8",
                b" XFOO=1",
                b"  SIZE=1",
                b" >",
                b" SIZE=1>",
                b"\tSIZE=1",
                b" ",
                b" SIZE",
                b" NOTIFYX=1",
                b" ENVIDX=1",
            ]),
            0..4,
        ),
        proptest::sample::select(vec![&b"\r\n"[..], b"\n", b" \r\n", b"\r"]),
    )
        .prop_map(|(head, sp, path, params, end)| {
            let mut v = [head, sp, path].concat();
            for p in params {
                v.extend_from_slice(p);
            }
            v.extend_from_slice(end);
            v
        })
}

fn reply() -> impl Strategy<Value = &'static [u8]> {
    proptest::sample::select(vec![
        &b"220 mail.example.test ESMTP\r\n"[..],
        b"250 2.1.0 Ok\r\n",
        b"250 ok\n",
        b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-XFOO\r\n250 DSN\r\n",
        b"250-mail.example.test\r\n250 8BITMIME\r\n",
        b"354 End data with <CR><LF>.<CR><LF>\r\n",
        b"334 VXNlcm5hbWU6\r\n",
        b"235 ok\r\n",
        b"221 2.0.0 Bye\r\n",
        b"421 closing\r\n",
        b"500 5.5.1 unknown\r\n",
        b"502 no\r\n",
        b"hello\r\n",
        b"25",
        b"0 ok\r\n",
        b"250-a\r\n",
        b"250 b\r\n",
    ])
}

#[derive(Debug, Clone)]
enum Op {
    /// Present the next `n` bytes of the client stream (with any withheld bytes).
    Client(usize),
    /// Present this server segment.
    Server(&'static [u8]),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop_oneof![Just(1usize), 0usize..80, Just(4096)].prop_map(Op::Client),
        2 => reply().prop_map(Op::Server),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(600)))]

    #[test]
    fn fast_paths_match_the_general_path(
        esmtp in any::<bool>(),
        flags in any::<u8>(),
        lines in proptest::collection::vec(line(), 1..16),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let policy = Policy {
            mode: if esmtp { Mode::Esmtp } else { Mode::Smtp },
            allow_tls: flags & 1 != 0,
            mask_banner: flags & 2 != 0,
            bdat: flags & 4 != 0,
            signatures: match flags >> 3 & 3 {
                0 => SignatureSet::default(),
                1 => SignatureSet::all(),
                2 => SignatureSet::empty(),
                _ => {
                    let mut s = SignatureSet::default();
                    s.enable(smtp_engine::Signature::I2Reconnaissance);
                    s.disable(smtp_engine::Signature::F6OverlongCommand);
                    s
                }
            },
            spam_threshold: if flags & 32 != 0 { 1 } else { 250 },
            max_data: if flags & 64 != 0 { 40 } else { 20_000_000 },
            debug: flags & 128 != 0 && flags & 1 != 0,
            ..Policy::default()
        };
        let stream: Vec<u8> = lines.concat();
        let mut fast = Side::new(&policy, true);
        let mut slow = Side::new(&policy, false);
        let mut pos = 0usize;
        let mut pending: Vec<u8> = Vec::new();
        for op in ops {
            let (client, seg) = match op {
                Op::Client(n) => {
                    let n = n.min(stream.len() - pos);
                    pending.extend_from_slice(&stream[pos..pos + n]);
                    pos += n;
                    (true, pending.clone())
                }
                Op::Server(s) => (false, s.to_vec()),
            };
            let f = fast.call(client, &seg);
            let s = slow.call(client, &seg);
            prop_assert_eq!(&f, &s, "client={} seg={:?}", client, String::from_utf8_lossy(&seg));
            prop_assert_eq!(fast.stats, slow.stats);
            if client {
                // Withheld bytes come again, first, with the next client segment.
                pending.drain(..f.verdict.forward);
            }
            prop_assert_eq!(fast.insp.is_closed(), slow.insp.is_closed());
            prop_assert_eq!(fast.insp.in_data(), slow.insp.in_data());
            prop_assert_eq!(fast.insp.pipelining(), slow.insp.pipelining());
            if fast.insp.is_closed() {
                break;
            }
        }
        fast.insp.end_of_stream(&mut fast.stats);
        slow.insp.end_of_stream(&mut slow.stats);
        prop_assert_eq!(fast.stats, slow.stats);
        prop_assert_eq!(fast.insp.poll_event(), slow.insp.poll_event());
    }

    /// The lockstep shape of the benchmark: one command per segment, one reply
    /// per segment, many rounds; and the pipelined shape: groups in one segment.
    #[test]
    fn fast_paths_match_in_lockstep_and_pipelined_rounds(
        esmtp in any::<bool>(),
        rounds in proptest::collection::vec((proptest::collection::vec(line(), 1..5), proptest::collection::vec(reply(), 1..5)), 1..12),
    ) {
        let policy = if esmtp { Policy::esmtp() } else { Policy::default() };
        let mut fast = Side::new(&policy, true);
        let mut slow = Side::new(&policy, false);
        let greeting = b"220 x ESMTP\r\n";
        prop_assert_eq!(fast.call(false, greeting), slow.call(false, greeting));
        if esmtp {
            for (c, seg) in [(true, &b"EHLO a\r\n"[..]), (false, b"250-x\r\n250-PIPELINING\r\n250 SIZE 1\r\n")] {
                prop_assert_eq!(fast.call(c, seg), slow.call(c, seg));
            }
        }
        for (cmds, replies) in rounds {
            let c = cmds.concat();
            prop_assert_eq!(fast.call(true, &c), slow.call(true, &c));
            let r = replies.concat();
            prop_assert_eq!(fast.call(false, &r), slow.call(false, &r));
            prop_assert_eq!(fast.stats, slow.stats);
        }
    }
}

/// A message line for the DATA-phase property: headers, the blank line,
/// ordinary and odd body lines (dot-leading, over-long, bare CR/LF, empty),
/// the end of data.
fn message_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::sample::select(vec![
            &b"From: Alice <alice@example.net>\r\n"[..],
            b"Subject: figures\r\n",
            b"Content-Type: application/octet-stream; name=\"x.exe\"\r\n",
            b"To: decode@x\r\n",
            b"\r\n",
            b"Hello Bob, please find the figures attached.\r\n",
            b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n",
            b"..dot-stuffed\r\n",
            b".\r\n",
            b".x\r\n",
            b"a\rb\r\n",
            b"a\nb\r\n",
            b"tail\r",
            b"\n",
            b"\r",
            b"x",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => (990usize..1010).prop_map(|n| {
            let mut v = vec![b'q'; n];
            v.extend_from_slice(b"\r\n");
            v
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(600)))]

    /// The DATA phase (message body lines included) in any segmentation.
    #[test]
    fn fast_paths_match_in_the_data_phase(
        small_max in any::<bool>(),
        sigs in 0u8..3,
        lines in proptest::collection::vec(message_line(), 1..40),
        cuts in proptest::collection::vec(prop_oneof![Just(1usize), 1usize..200, Just(4096)], 1..30),
    ) {
        let policy = Policy {
            max_data: if small_max { 700 } else { 20_000_000 },
            signatures: match sigs {
                0 => SignatureSet::default(),
                1 => SignatureSet::all(),
                _ => SignatureSet::empty(),
            },
            ..Policy::default()
        };
        let mut fast = Side::new(&policy, true);
        let mut slow = Side::new(&policy, false);
        for (c, seg) in [
            (false, &b"220 x\r\n"[..]),
            (true, b"HELO a\r\n"),
            (false, b"250 x\r\n"),
            (true, b"MAIL FROM:<a@b>\r\n"),
            (false, b"250 ok\r\n"),
            (true, b"RCPT TO:<b@c>\r\n"),
            (false, b"250 ok\r\n"),
            (true, b"DATA\r\n"),
            (false, b"354 go\r\n"),
        ] {
            prop_assert_eq!(fast.call(c, seg), slow.call(c, seg));
        }
        let stream: Vec<u8> = lines.concat();
        let mut pos = 0;
        for n in cuts.into_iter().cycle() {
            if pos >= stream.len() || fast.insp.is_closed() {
                break;
            }
            let end = (pos + n).min(stream.len());
            let seg = &stream[pos..end];
            let f = fast.call(true, seg);
            prop_assert_eq!(&f, &slow.call(true, seg));
            prop_assert_eq!(fast.stats, slow.stats);
            // Withheld bytes (commands after the end of data) come again,
            // unless nothing at all was taken: then the next bytes come.
            pos += if f.verdict.forward == 0 { seg.len() } else { f.verdict.forward };
            if !fast.insp.in_data() && !fast.insp.is_closed() {
                // Back in command state: answer whatever was sent.
                prop_assert_eq!(fast.call(false, b"250 ok\r\n"), slow.call(false, b"250 ok\r\n"));
            }
        }
    }
}
