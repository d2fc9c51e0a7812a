//! Differential property test of the server→client (reply) fast path against
//! the byte-wise reply path alone (`Inspector::set_fast_paths(false)`).
//!
//! Reply streams mix multi-line replies with mixed codes, EHLO keyword lines
//! (supported, unsupported, folded case, long keywords, keywords cut short),
//! the replies the state machine acts upon (EHLO, 354 to DATA, 334 to AUTH,
//! 220 to STARTTLS under allow-tls, 421), over-long lines, bare LF, CR CR LF,
//! malformed heads and random bytes. The stream is cut into random segments
//! (1-byte segments and lines split across segments included) and fed
//! between client command groups that fill the reply FIFO. After every call
//! both inspectors must agree on the verdict, the rewritten bytes, the
//! events, the counters and the session flags.

use proptest::prelude::*;

use crate::inspector::differential::{feed_both, pair};
use crate::policy::{Mode, Policy};

/// One reply line (or a piece of junk).
fn reply_line() -> impl Strategy<Value = Vec<u8>> {
    let code = proptest::sample::select(vec![
        &b"250"[..],
        b"250",
        b"250",
        b"220",
        b"221",
        b"354",
        b"334",
        b"421",
        b"450",
        b"550",
        b"25x",
        b"2",
        b"",
    ]);
    let sep = proptest::sample::select(vec![&b"-"[..], b"-", b" ", b" ", b"", b"\t"]);
    let body = prop_oneof![
        6 => proptest::sample::select(vec![
            &b"2.1.0 Ok"[..], b"mail.example.test", b"PIPELINING", b"pipelining", b"SIZE 52428800",
            b"ETRN", b"AUTH PLAIN LOGIN", b"ENHANCEDSTATUSCODES", b"8BITMIME", b"DSN", b"STARTTLS",
            b"CHUNKING", b"BINARYMIME", b"XFOO bar", b"SIZEX", b"ENHANCEDSTATUSCODE", b"",
            b"End data with <CR><LF>.<CR><LF>", b"2.0.0 Ok: queued as 4F1A2B3C", b"VXNlcm5hbWU6",
            b"closing", b"go ahead",
        ]).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => (500usize..700).prop_map(|n| vec![b'a'; n]),
    ];
    let end = proptest::sample::select(vec![&b"\r\n"[..], b"\r\n", b"\r\n", b"\n", b"\r\r\n"]);
    (code, sep, body, end).prop_map(|(c, s, b, e)| [c, s, &b, e].concat())
}

/// A client command group (fills the reply FIFO with what replies answer).
fn command_group() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        proptest::sample::select(vec![
            &b"MAIL FROM:<a@example.net>\r\n"[..],
            b"RCPT TO:<b@example.test>\r\n",
            b"RCPT TO:<c@example.test>\r\n",
            b"NOOP\r\n",
            b"RSET\r\n",
            b"DATA\r\n",
            b"STARTTLS\r\n",
            b"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n",
            b"EHLO relay.example.net\r\n",
            b"HELO relay.example.net\r\n",
            b"QUIT\r\n",
        ]),
        1..6,
    )
    .prop_map(|v| v.concat())
}

/// `stream` cut into segments of the sizes in `cuts` (cycled).
fn segments(stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    for c in cuts.iter().cycle() {
        if pos >= stream.len() {
            break;
        }
        let n = (*c).max(1).min(stream.len() - pos);
        out.push(stream[pos..pos + n].to_vec());
        pos += n;
    }
    out
}

fn cut() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..6, 1usize..90, Just(4096)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)))]

    #[test]
    fn reply_fast_path_matches_the_byte_wise_path(
        flags in 0u8..16,
        ehlo in proptest::collection::vec(reply_line(), 1..10),
        groups in proptest::collection::vec(
            (command_group(), proptest::collection::vec(reply_line(), 0..10)),
            1..4,
        ),
        cuts in proptest::collection::vec(cut(), 1..10),
    ) {
        let policy = Policy {
            mode: if flags & 1 != 0 { Mode::Smtp } else { Mode::Esmtp },
            allow_tls: flags & 2 != 0,
            bdat: flags & 4 != 0,
            mask_banner: flags & 8 != 0,
            ..Policy::esmtp()
        };
        let mut sides = pair(&policy);
        let mut script: Vec<(bool, Vec<u8>)> = vec![
            (false, b"220 mail.example.test ESMTP Postfix\r\n".to_vec()),
            (true, b"EHLO relay.example.net\r\n".to_vec()),
        ];
        // The EHLO reply: a positive first line, then random lines.
        let reply = [&b"250-mail.example.test\r\n"[..], &ehlo.concat()].concat();
        script.extend(segments(&reply, &cuts).into_iter().map(|s| (false, s)));
        for (group, replies) in &groups {
            script.push((true, group.clone()));
            script.extend(segments(&replies.concat(), &cuts).into_iter().map(|s| (false, s)));
        }
        for (client, seg) in &script {
            let [fast, slow] = feed_both(&mut sides, *client, seg);
            prop_assert_eq!(fast, slow, "client={} seg={:?}", client, String::from_utf8_lossy(seg));
        }
    }
}
