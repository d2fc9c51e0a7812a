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

/// The policy a test's `flags` select: SMTP mode, allow-tls, BDAT, a masked
/// banner (bits 0 to 3).
fn policy_of(flags: u8) -> Policy {
    Policy {
        mode: if flags & 1 != 0 {
            Mode::Smtp
        } else {
            Mode::Esmtp
        },
        allow_tls: flags & 2 != 0,
        bdat: flags & 4 != 0,
        mask_banner: flags & 8 != 0,
        ..Policy::esmtp()
    }
}

/// Feeds `script` (client → server when `.0`) to a fast and a byte-wise
/// inspector under `policy`; they must agree after every segment.
fn same_outcomes(policy: &Policy, script: &[(bool, Vec<u8>)]) -> Result<(), TestCaseError> {
    let mut sides = pair(policy);
    for (client, seg) in script {
        let [fast, slow] = feed_both(&mut sides, *client, seg);
        prop_assert_eq!(
            fast,
            slow,
            "client={} seg={:?}",
            client,
            String::from_utf8_lossy(seg)
        );
    }
    Ok(())
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
        let policy = policy_of(flags);
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
        same_outcomes(&policy, &script)?;
    }
}

/// A single-line reply (`NNN ` + body of `n` bytes), now and then a
/// continuation or malformed line: line lengths around the sixteen- and
/// thirty-two-byte blocks of the quiet-line loop.
fn quiet_line() -> impl Strategy<Value = Vec<u8>> {
    let code = proptest::sample::select(vec![
        &b"250"[..],
        b"250",
        b"250",
        b"251",
        b"221",
        b"354",
        b"421",
        b"220",
        b"334",
        b"550",
        b"25x",
    ]);
    let sep = proptest::sample::select(vec![&b" "[..], b" ", b" ", b" ", b"-", b"\t", b""]);
    let end = proptest::sample::select(vec![&b"\r\n"[..], b"\r\n", b"\n", b"\r\r\n"]);
    let body = prop_oneof![
        4 => (0usize..40).prop_map(|n| (0..n).map(|k| b"2.1.0 Ok: queued as 4F"[k % 22]).collect::<Vec<u8>>()),
        1 => (500usize..560).prop_map(|n| vec![b'a'; n]),
        1 => proptest::collection::vec(any::<u8>(), 0..20),
    ];
    (code, sep, body, end).prop_map(|(c, s, b, e)| [c, s, &b, e].concat())
}

/// A command group whose replies the quiet-line loop takes (or must leave:
/// DATA, STARTTLS, EHLO, AUTH).
fn quiet_group() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        proptest::sample::select(vec![
            &b"MAIL FROM:<a@example.net>\r\n"[..],
            b"RCPT TO:<b@example.test>\r\n",
            b"RCPT TO:<b@example.test>\r\n",
            b"NOOP\r\n",
            b"RSET\r\n",
            b"VRFY x\r\n",
            b"DATA\r\n",
            b"STARTTLS\r\n",
            b"EHLO relay.example.net\r\n",
            b"AUTH LOGIN\r\n",
            b"QUIT\r\n",
        ]),
        1..8,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)))]

    /// Runs of single-line replies (the quiet-line loop of the fast path:
    /// MAIL/RCPT/NOOP/RSET/QUIT/end-of-data replies, the greeting, `354` to
    /// DATA, `421` anywhere, `220` to STARTTLS and EHLO/AUTH replies in the
    /// middle of a run, lines of 0 to 40 body bytes around the block sizes,
    /// over-long lines, the greeting masked or not) cut anywhere, even the
    /// greeting: the fast path and the byte-wise path agree.
    #[test]
    fn quiet_reply_runs_match_the_byte_wise_path(
        flags in 0u8..16,
        greeting in quiet_line(),
        groups in proptest::collection::vec(
            (quiet_group(), proptest::collection::vec(quiet_line(), 0..10)),
            1..4,
        ),
        cuts in proptest::collection::vec(cut(), 1..10),
    ) {
        let policy = policy_of(flags);
        let mut script: Vec<(bool, Vec<u8>)> = Vec::new();
        // The greeting: a quiet line too (unless masked).
        script.extend(segments(&[&b"220 "[..], &greeting[4.min(greeting.len())..]].concat(), &cuts).into_iter().map(|s| (false, s)));
        script.push((true, b"HELO relay.example.net\r\n".to_vec()));
        script.push((false, b"250 mail.example.test\r\n".to_vec()));
        for (group, replies) in &groups {
            script.push((true, group.clone()));
            script.extend(segments(&replies.concat(), &cuts).into_iter().map(|s| (false, s)));
        }
        same_outcomes(&policy, &script)?;
    }
}

/// A reply line for the quiet-line loop: a single-line head (2xx, the
/// codes acted upon, and near misses of the one-word head test: a byte
/// next to a digit, a high bit, an LF in the head) or another, then a
/// body whose LF falls on every offset around the loop's blocks (under
/// eight bytes, under sixteen, in the second block, within forty-eight
/// bytes, beyond), now and then an early bare LF or no line end at all.
fn quiet_run_line() -> impl Strategy<Value = Vec<u8>> {
    let head = proptest::sample::select(vec![
        &b"250 "[..],
        b"250 ",
        b"250 ",
        b"221 ",
        b"220 ",
        b"251 ",
        b"354 ",
        b"421 ",
        b"334 ",
        b"550 ",
        b"299 ",
        b"200 ",
        b"209 ",
        b"2:0 ",
        b"2/0 ",
        b"20: ",
        b"25/ ",
        b"/50 ",
        b":50 ",
        b"\xb250 ",
        b"2\xb00 ",
        b"25\xb0 ",
        b"250\xa0",
        b"250\x00",
        b"250!",
        b"250-",
        b"250\n",
        b"2\n0 ",
        b"250",
        b"",
        b"\x32\x35\x30\x20",
    ]);
    let body = prop_oneof![
        4 => (0usize..60).prop_map(|n| (0..n).map(|k| b"2.0.0 Ok: queued as 4F1A2B3C End data "[k % 38]).collect::<Vec<u8>>()),
        1 => proptest::collection::vec(proptest::sample::select(vec![b'a', b' ', b'\r', b'\n', 0x8A, 0x0B]), 0..60),
        1 => (500usize..540).prop_map(|n| vec![b'q'; n]),
    ];
    let end = proptest::sample::select(vec![&b"\r\n"[..], b"\r\n", b"\n", b""]);
    (head, body, end).prop_map(|(h, b, e)| [h, &b, e].concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1500)))]

    /// The quiet-line loop's own shapes (one-word head test, 2xx without
    /// code checks, the line end from one block, from the first and last
    /// eight bytes of a short rest, from the second block or the last
    /// sixteen bytes of a long one): the greeting and runs of replies to
    /// command groups, cut anywhere, under every policy knob the reply path
    /// reads, agree after every segment.
    #[test]
    fn quiet_line_ends_and_heads_match_the_byte_wise_path(
        flags in 0u8..16,
        greeting in quiet_run_line(),
        groups in proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    &b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@d>\r\n"[..],
                    b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
                    b"NOOP\r\nRSET\r\nNOOP\r\nNOOP\r\n",
                    b"QUIT\r\n",
                    b"EHLO relay.example.net\r\n",
                ]),
                proptest::collection::vec(quiet_run_line(), 0..8),
            ),
            1..4,
        ),
        cuts in proptest::collection::vec(cut(), 1..8),
    ) {
        let policy = policy_of(flags);
        let mut script: Vec<(bool, Vec<u8>)> =
            segments(&greeting, &cuts).into_iter().map(|s| (false, s)).collect();
        script.push((false, b"220 mail.example.test ESMTP\r\n".to_vec()));
        script.push((true, b"HELO relay.example.net\r\n".to_vec()));
        script.push((false, b"250 mail.example.test\r\n".to_vec()));
        for (group, replies) in &groups {
            script.push((true, group.to_vec()));
            script.extend(segments(&replies.concat(), &cuts).into_iter().map(|s| (false, s)));
        }
        same_outcomes(&policy, &script)?;
    }
}

/// A keyword of exactly `n` bytes: a supported one where one has that
/// length, else letters (16, 17, 31, 32, 33 bytes: no supported keyword, so
/// masked; ENHANCEDSTATUSCODES cut or padded to `n`).
fn keyword_of_len(n: usize, lower: bool) -> Vec<u8> {
    let base: &[u8] = b"ENHANCEDSTATUSCODESXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
    let kw = crate::ehlo::KEYWORDS
        .iter()
        .find(|k| k.len() == n)
        .map_or_else(|| base[..n].to_vec(), |k| k.to_vec());
    if lower {
        kw.to_ascii_lowercase()
    } else {
        kw
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)))]

    /// EHLO replies whose first line opens the keyword loop (`2xx-`, else
    /// not), keyword lines with keywords of 3 to 19 bytes and of 15, 16, 17,
    /// 31, 32 and 33 bytes, lowercase, masked ones in the middle of the run,
    /// parameters, and a `421`/`354`/`220` line or a STARTTLS keyword in the
    /// run, cut into two segments at any byte: the fast path and the
    /// byte-wise path agree.
    #[test]
    fn ehlo_keyword_runs_match_the_byte_wise_path(
        flags in 0u8..16,
        first in proptest::sample::select(vec![&b"250-mail.example.test"[..], b"250-x", b"220-mail", b"550-no", b"250 mail.example.test"]),
        lines in proptest::collection::vec(
            (
                prop_oneof![
                    3 => proptest::sample::select(vec![3usize, 4, 8, 10, 19]),
                    2 => proptest::sample::select(vec![15usize, 16, 17, 31, 32, 33]),
                ],
                proptest::prelude::any::<bool>(),
                proptest::sample::select(vec![&b""[..], b"", b" 52428800", b" PLAIN LOGIN", b"=x"]),
                proptest::sample::select(vec![&b"250-"[..], b"250-", b"250-", b"250 ", b"421-", b"354 ", b"220-", b"25x-"]),
            ),
            1..10,
        ),
        last in proptest::sample::select(vec![&b"250 DSN\r\n"[..], b"250 STARTTLS\r\n", b"250 8bitmime\n", b"421 bye\r\n"]),
        cut in 0usize..400,
        tail in proptest::sample::select(vec![&b""[..], b"250 2.1.0 Ok\r\n"]),
    ) {
        let policy = policy_of(flags);
        let mut reply = [first, b"\r\n"].concat();
        for (n, lower, params, head) in &lines {
            reply.extend_from_slice(head);
            reply.extend_from_slice(&keyword_of_len(*n, *lower));
            reply.extend_from_slice(params);
            reply.extend_from_slice(b"\r\n");
        }
        reply.extend_from_slice(last);
        reply.extend_from_slice(tail);
        let cut = cut.min(reply.len());
        let script: Vec<(bool, Vec<u8>)> = vec![
            (false, b"220 mail.example.test ESMTP\r\n".to_vec()),
            (true, b"EHLO relay.example.net\r\n".to_vec()),
            (false, reply[..cut].to_vec()),
            (false, reply[cut..].to_vec()),
            (true, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n".to_vec()),
            (false, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n".to_vec()),
        ];
        same_outcomes(&policy, &script)?;
    }
}

/// The corpus EHLO reply and a pipelined reply group, each cut into two
/// segments at every byte (and fed whole, and byte by byte): the fast path
/// and the byte-wise path agree.
#[test]
fn corpus_replies_cut_at_every_byte_match_the_byte_wise_path() {
    let ehlo: &[u8] = b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-enhancedstatuscodesx\r\n250-XENHANCEDSTATUSCODESXXXXXXXXXX\r\n250 DSN\r\n";
    let group: &[u8] = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Recipient address accepted\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n";
    let greeting: &[u8] = b"220 mail.example.test ESMTP Postfix\r\n";
    for mask_banner in [false, true] {
        let policy = Policy {
            mask_banner,
            ..Policy::esmtp()
        };
        for cut in 0..=ehlo.len().max(group.len()) {
            let mut sides = pair(&policy);
            let c = |s: &[u8]| cut.min(s.len());
            let script: Vec<(bool, &[u8])> = vec![
                (false, &greeting[..c(greeting)]),
                (false, &greeting[c(greeting)..]),
                (true, b"EHLO relay.example.net\r\n"),
                (false, &ehlo[..c(ehlo)]),
                (false, &ehlo[c(ehlo)..]),
                (
                    true,
                    b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@d>\r\nRCPT TO:<f@d>\r\nDATA\r\n",
                ),
                (false, &group[..c(group)]),
                (false, &group[c(group)..]),
                (true, b"x\r\n.\r\n"),
                (false, b"250 2.0.0 Ok: queued as 4F1A2B3C\r\n"),
                (true, b"QUIT\r\n"),
                (false, b"221 2.0.0 Bye\r\n"),
            ];
            for (client, seg) in script {
                let [fast, slow] = feed_both(&mut sides, client, seg);
                assert_eq!(fast, slow, "cut={cut} client={client} seg={seg:?}");
            }
        }
    }
}

/// A keyword line body for [`ehlo_lines_around_block_edges_match_the_byte_wise_path`]:
/// a supported keyword or a near miss (the same first two bytes, and so
/// the same classifier slot; one byte short or long; a control byte after
/// it), in random case, then parameters of `n` bytes so that the line's LF
/// falls on every offset around the sixteen- and thirty-two-byte blocks.
fn edge_body() -> impl Strategy<Value = Vec<u8>> {
    let word = prop_oneof![
        4 => proptest::sample::select(crate::ehlo::KEYWORDS.to_vec()).prop_map(<[u8]>::to_vec),
        3 => proptest::sample::select(vec![
            &b"SIGN"[..], b"SIZ", b"SIZES", b"ETR", b"BINARYMIM", b"PIPELININGS", b"PIPE", b"AUT",
            b"AUTHX", b"DS", b"DSNN", b"ENHANCEDSTATUSCODE", b"ENHANCEDSTATUSCODESX",
            b"ENHANCEDSTATUSCO", b"ENHANCEDSTATUSCOD", b"ENHANCED", b"8BITMIM", b"8BIT", b"STARTTL",
            b"STARTTLSS", b"CHUNKIN", b"CHUNKINGS", b"X-EXPS", b"SMTPUTF8", b"\x18BITMIME",
            b"SIZE\t", b"DSN\0", b"PIPELINING\x0b", b"ENHANCEDSTATUSCODES\t", b"", b"-",
        ]).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..24),
    ];
    (word, any::<u32>(), 0usize..40, any::<bool>()).prop_map(|(w, flips, n, spaced)| {
        let mut v: Vec<u8> = w
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if flips >> (i % 32) & 1 != 0 {
                    b.to_ascii_lowercase()
                } else {
                    b
                }
            })
            .collect();
        if n > 0 {
            v.push(if spaced { b' ' } else { b'=' });
            v.extend((1..n).map(|k| b"PLAIN LOGIN 52428800"[k % 20]));
        }
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1500)))]

    /// The EHLO keyword-line loop (one or two sixteen-byte blocks per line,
    /// the bodies of the lines near the segment's end from its last
    /// thirty-two bytes zero-padded, the head by one compare
    /// when it continues the code before it) against the byte-wise path:
    /// keyword lines whose LF falls on every offset around the blocks,
    /// supported keywords and near misses that share their classifier slot,
    /// mixed codes and heads within the reply (`251-` after `250-`, a last
    /// line with another code, malformed heads), under every policy, the
    /// reply cut into up to three segments anywhere (segments under sixteen
    /// and thirty-six bytes included), then a pipelined command group and
    /// its replies.
    #[test]
    fn ehlo_lines_around_block_edges_match_the_byte_wise_path(
        flags in 0u8..16,
        first in proptest::sample::select(vec![&b"250-mail.example.test"[..], b"250-x", b"250-a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", b"251-m", b"250 m"]),
        lines in proptest::collection::vec(
            (
                proptest::sample::select(vec![&b"250-"[..], b"250-", b"250-", b"250-", b"251-", b"250 ", b"251 ", b"25x-", b"250\t", b"2500"]),
                edge_body(),
                proptest::sample::select(vec![&b"\r\n"[..], b"\r\n", b"\n", b"\r\r\n"]),
            ),
            1..10,
        ),
        last in proptest::sample::select(vec![&b"250 DSN\r\n"[..], b"250 dsn\n", b"251 DSN\r\n", b"250 STARTTLS\r\n", b"250 CHUNKING\r\n", b"250 X\r\n", b""]),
        cuts in (0usize..600, 0usize..600),
    ) {
        let policy = policy_of(flags);
        let mut reply = [first, b"\r\n"].concat();
        for (head, body, end) in &lines {
            reply.extend_from_slice(head);
            reply.extend_from_slice(body);
            reply.extend_from_slice(end);
        }
        reply.extend_from_slice(last);
        let (a, b) = (cuts.0.min(reply.len()), cuts.1.min(reply.len()));
        let (a, b) = (a.min(b), a.max(b));
        let script: Vec<(bool, Vec<u8>)> = vec![
            (false, b"220 mail.example.test ESMTP\r\n".to_vec()),
            (true, b"EHLO relay.example.net\r\n".to_vec()),
            (false, reply[..a].to_vec()),
            (false, reply[a..b].to_vec()),
            (false, reply[b..].to_vec()),
            (false, b"250 DSN\r\n".to_vec()),
            (true, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n".to_vec()),
            (false, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n".to_vec()),
        ];
        same_outcomes(&policy, &script)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1500)))]

    /// The end of an EHLO reply's segment, where the keyword-line loop reads
    /// the bodies of the lines that start in the segment's last thirty-five
    /// bytes from a zero-padded copy of its last thirty-two (end-aligned in
    /// a shorter segment; a reply whose first line is short fits in one
    /// under thirty-two bytes): replies of
    /// keyword lines (supported keywords and near misses in any case,
    /// ENHANCEDSTATUSCODES and parameters across the second block,
    /// PIPELINING on several lines, other codes and malformed heads) whose
    /// last segment holds the reply's last `k` bytes, `k` from 1 to 90
    /// (under, at and over thirty-six; a line cut or not), after a segment
    /// that opens the reply (`250-`, the fast entry) or continues it, then
    /// a pipelined command group and its replies (PIPELINING kept or not):
    /// the fast path and the byte-wise path agree.
    #[test]
    fn ehlo_reply_ends_match_the_byte_wise_path(
        flags in 0u8..16,
        lines in proptest::collection::vec(
            (
                proptest::sample::select(vec![&b"250-"[..], b"250-", b"250-", b"250-", b"250-", b"251-", b"250 ", b"25x-"]),
                prop_oneof![
                    3 => edge_body(),
                    1 => proptest::sample::select(vec![&b"PIPELINING"[..], b"pipelining", b"pIPELINING", b"ENHANCEDSTATUSCODES", b"eNHANCEDSTATUSCODES", b"Enhancedstatuscodes"]).prop_map(<[u8]>::to_vec),
                ],
                proptest::sample::select(vec![&b"\r\n"[..], b"\r\n", b"\n", b"\r\r\n"]),
            ),
            1..8,
        ),
        last in proptest::sample::select(vec![&b"250 DSN\r\n"[..], b"250 dSN\n", b"250 ENHANCEDSTATUSCODES\r\n", b"250 SIZE 52428800\r\n", b"250 CHUNKING\r\n", b"250 PIPELINING\r\n", b"250 XDSN\r\n", b"251 DSN\r\n"]),
        k in 1usize..90,
        open_separately in any::<bool>(),
        first in proptest::sample::select(vec![&b"250-mail.example.test\r\n"[..], b"250-x\r\n"]),
    ) {
        let policy = policy_of(flags);
        let mut reply = first.to_vec();
        for (head, body, end) in &lines {
            reply.extend_from_slice(head);
            reply.extend_from_slice(body);
            reply.extend_from_slice(end);
        }
        reply.extend_from_slice(last);
        let cut = reply.len() - k.min(reply.len() - first.len());
        let mut script: Vec<(bool, Vec<u8>)> = vec![
            (false, b"220 mail.example.test ESMTP\r\n".to_vec()),
            (true, b"EHLO relay.example.net\r\n".to_vec()),
        ];
        if open_separately {
            script.push((false, reply[..first.len()].to_vec()));
            script.push((false, reply[first.len()..cut].to_vec()));
        } else {
            script.push((false, reply[..cut].to_vec()));
        }
        script.push((false, reply[cut..].to_vec()));
        script.push((false, b"250 DSN\r\n".to_vec()));
        script.push((true, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n".to_vec()));
        script.push((false, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n".to_vec()));
        same_outcomes(&policy, &script)?;
    }
}
