//! Differential property tests of the segment entries and the quiet reply
//! loop against the general path alone (`Inspector::set_fast_paths(false)`).
//!
//! What they aim at:
//! - the entry gate of `handle_client` / `handle_server`, read as one word
//!   (`client`, `phase`, `fast`, `auth_cont`): sessions that pass through
//!   every state it tells apart (command, DATA, AUTH continuation due,
//!   closed, passthrough after STARTTLS with allow-tls);
//! - the quiet loop's start only where no reply is open: multi-line
//!   replies cut anywhere, so that segments start inside a reply, inside a
//!   line, or right after a continuation line;
//! - the quiet loop's one-add head test: heads of any four bytes, and the
//!   near misses of digits and SP (a byte next to `0`/`9`, high bits, NUL,
//!   DEL, LF), on single-line replies to every expectation.
//!
//! Both inspectors see exactly the same calls; after every call they must
//! agree on the verdict, the (possibly rewritten) bytes, the events, the
//! counters and the session flags.

use proptest::prelude::*;
mod common;

use common::differential::Side;
use smtp_engine::{Mode, Policy};

/// Runs `script` through a fast and a general inspector; the first call
/// where they differ fails the case. Withheld client bytes are presented
/// again with the next client segment, as a retransmission would.
fn same_outcomes(policy: &Policy, script: &[(bool, Vec<u8>)]) -> Result<(), TestCaseError> {
    let mut fast = Side::new(policy, true);
    let mut general = Side::new(policy, false);
    let mut pending: Vec<u8> = Vec::new();
    for (k, (client, seg)) in script.iter().enumerate() {
        let seg = if *client {
            pending.extend_from_slice(seg);
            std::mem::take(&mut pending)
        } else {
            seg.clone()
        };
        let a = fast.call(*client, &seg);
        let b = general.call(*client, &seg);
        prop_assert_eq!(
            &a,
            &b,
            "call {} ({}): {:?}",
            k,
            if *client { "client" } else { "server" },
            String::from_utf8_lossy(&seg)
        );
        if *client && a.verdict.forward < seg.len() && !a.flags[1] {
            pending = seg[a.verdict.forward..].to_vec();
        }
    }
    Ok(())
}

/// `stream` cut at the offsets `cuts` (taken modulo its length, in order).
fn cut_into(stream: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    at.sort_unstable();
    at.dedup();
    let mut out = Vec::new();
    let mut from = 0;
    for c in at.into_iter().chain([stream.len()]) {
        if c > from {
            out.push(stream[from..c].to_vec());
            from = c;
        }
    }
    out
}

/// The policy knobs the entries and the reply path read.
fn policy_of(flags: u8) -> Policy {
    let mut p = if flags & 1 != 0 {
        Policy::esmtp()
    } else {
        Policy {
            mode: Mode::Smtp,
            ..Policy::esmtp()
        }
    };
    p.allow_tls = flags & 2 != 0;
    p.mask_banner = flags & 4 != 0;
    p.bdat = flags & 8 != 0;
    p
}

/// A reply head: the quiet head `NNN ` and its near misses byte by byte.
fn head() -> impl Strategy<Value = Vec<u8>> {
    let near = proptest::sample::select(vec![
        &b"250 "[..],
        b"250 ",
        b"221 ",
        b"220 ",
        b"354 ",
        b"421 ",
        b"334 ",
        b"550 ",
        b"209 ",
        b"290 ",
        b"2:0 ",
        b"2/0 ",
        b"25: ",
        b"25/ ",
        b":50 ",
        b"/50 ",
        b"250!",
        b"250\x1f",
        b"250\x00",
        b"250\xa0",
        b"\xb250 ",
        b"2\xb50 ",
        b"25\xb0 ",
        b"\x7f50 ",
        b"2\x7f0 ",
        b"250\x7f",
        b"2\n0 ",
        b"250\n",
        b"250-",
        b"250",
        b"",
    ]);
    prop_oneof![
        4 => near.prop_map(<[u8]>::to_vec),
        1 => any::<[u8; 4]>().prop_map(|h| h.to_vec()),
        1 => (0u8..=255, 0usize..3).prop_map(|(b, at)| {
            let mut h = b"250 ".to_vec();
            h[at] = b;
            h
        }),
    ]
}

/// A single-line reply: a head, a body around the loop's block sizes, an
/// end (CRLF, bare LF, none).
fn single_line() -> impl Strategy<Value = Vec<u8>> {
    let body = prop_oneof![
        4 => (0usize..52).prop_map(|n| (0..n).map(|k| b"2.1.5 Ok: queued as 4F1A2B3C End data "[k % 38]).collect::<Vec<u8>>()),
        1 => proptest::collection::vec(proptest::sample::select(vec![b'a', b' ', b'\r', b'\n', 0x85]), 0..30),
    ];
    let end = proptest::sample::select(vec![&b"\r\n"[..], b"\r\n", b"\n", b""]);
    (head(), body, end).prop_map(|(h, b, e)| [&h[..], &b, e].concat())
}

/// A multi-line reply (continuations then a last line), mixed codes.
fn multi_line() -> impl Strategy<Value = Vec<u8>> {
    let code = proptest::sample::select(vec![&b"250"[..], b"250", b"421", b"354", b"220", b"550"]);
    (
        code,
        proptest::collection::vec(
            proptest::sample::select(vec![
                &b"mail.example.test"[..],
                b"PIPELINING",
                b"SIZE 1000",
                b"XFOO",
                b"8BITMIME",
                b"",
            ]),
            1..5,
        ),
        single_line(),
    )
        .prop_map(|(c, bodies, last)| {
            let mut r = Vec::new();
            for b in bodies {
                r.extend_from_slice(c);
                r.push(b'-');
                r.extend_from_slice(b);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(&last);
            r
        })
}

/// Replies of a run: mostly single lines, now and then a multi-line one.
fn reply() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![4 => single_line(), 1 => multi_line()]
}

/// A client segment that moves the session through the states the entry
/// gate tells apart.
fn client_segment() -> impl Strategy<Value = Vec<u8>> {
    proptest::sample::select(vec![
        &b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.test>\r\n"[..],
        b"RCPT TO:<c@example.test>\r\n",
        b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
        b"DATA\r\n",
        b"Subject: x\r\n\r\nbody\r\n.\r\n",
        b"body line\r\n",
        b".\r\n",
        b"NOOP\r\nRSET\r\n",
        b"AUTH LOGIN\r\n",
        b"dGVzdA==\r\n",
        b"*\r\n",
        b"STARTTLS\r\n",
        b"EHLO relay.example.net\r\n",
        b"QUIT\r\n",
        b"VRFY x\r\n",
        b"MAIL FROM:<a@b> SIZE=1 SIZE=2\r\n",
        b"MAIL FR",
        b"OM:<a@b>\r\n",
    ])
    .prop_map(<[u8]>::to_vec)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000)))]

    /// Sessions through every state the entry gate tells apart (an AUTH
    /// continuation due before any client segment now and then), with reply
    /// runs (single- and multi-line, every head near miss) cut anywhere:
    /// segments that start inside a reply or a line included.
    #[test]
    fn entries_and_quiet_runs_match_the_general_path(
        flags in 0u8..16,
        greeting in reply(),
        rounds in proptest::collection::vec(
            (any::<bool>(), client_segment(), proptest::collection::vec(reply(), 0..6)),
            1..8,
        ),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let policy = policy_of(flags);
        let mut script: Vec<(bool, Vec<u8>)> = Vec::new();
        script.extend(cut_into(&greeting, &cuts).into_iter().map(|s| (false, s)));
        script.push((false, b"220 mail.example.test ESMTP\r\n".to_vec()));
        script.push((true, b"EHLO relay.example.net\r\n".to_vec()));
        script.push((false, b"250-mail.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n".to_vec()));
        for (auth, client, replies) in &rounds {
            if *auth {
                // An AUTH continuation due: the round's client segment is
                // the continuation line (the gate's `auth_cont` byte).
                script.push((true, b"AUTH LOGIN\r\n".to_vec()));
                script.push((false, b"334 VXNlcm5hbWU6\r\n".to_vec()));
            }
            script.push((true, client.clone()));
            script.extend(cut_into(&replies.concat(), &cuts).into_iter().map(|s| (false, s)));
        }
        same_outcomes(&policy, &script)?;
    }

    /// The transcript corpus' shape (greeting, EHLO, a pipelined group and
    /// its five replies in one segment, a message, the queued reply, QUIT,
    /// 221) with every reply line's head replaced by a drawn one: the quiet
    /// loop's head test decides each, and both paths agree.
    #[test]
    fn corpus_shaped_sessions_with_any_heads_match_the_general_path(
        flags in 0u8..16,
        heads in proptest::collection::vec(head(), 9),
    ) {
        let policy = policy_of(flags);
        let line = |h: &[u8], body: &[u8]| [h, body, b"\r\n"].concat();
        let script: Vec<(bool, Vec<u8>)> = vec![
            (false, line(&heads[0], b"mail.example.test ESMTP Postfix")),
            (true, b"EHLO relay7.example.net\r\n".to_vec()),
            (false, b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250 DSN\r\n".to_vec()),
            (true, b"MAIL FROM:<s@example.net> SIZE=2048 BODY=8BITMIME\r\nRCPT TO:<u0@example.test> NOTIFY=FAILURE\r\nRCPT TO:<u1@example.test> NOTIFY=FAILURE\r\nRCPT TO:<u2@example.test> NOTIFY=FAILURE\r\nDATA\r\n".to_vec()),
            (false, [
                line(&heads[1], b"2.1.0 Ok"),
                line(&heads[2], b"2.1.5 Ok"),
                line(&heads[3], b"2.1.5 Ok"),
                line(&heads[4], b"2.1.5 Ok"),
                line(&heads[5], b"End data with <CR><LF>.<CR><LF>"),
            ].concat()),
            (true, b"Subject: report 7\r\nFrom: s@example.net\r\n\r\nshort body line\r\n.\r\n".to_vec()),
            (false, line(&heads[6], b"2.0.0 Ok: queued as 00000007")),
            (true, b"QUIT\r\n".to_vec()),
            (false, line(&heads[7], b"2.0.0 Bye")),
            (false, line(&heads[8], b"late")),
        ];
        same_outcomes(&policy, &script)?;
    }
}

/// The corpus session itself, cut at every byte of every reply segment:
/// the quiet loop starting inside a line or a reply, or not at all.
#[test]
fn corpus_session_cut_anywhere_matches_the_general_path() {
    let session: Vec<(bool, &[u8])> = vec![
        (false, b"220 mail.example.test ESMTP Postfix\r\n"),
        (true, b"EHLO relay7.example.net\r\n"),
        (false, b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 DSN\r\n"),
        (true, b"MAIL FROM:<s@example.net> SIZE=2048 BODY=8BITMIME\r\nRCPT TO:<u0@example.test> NOTIFY=FAILURE\r\nDATA\r\n"),
        (false, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
        (true, b"Subject: report 7\r\n\r\nshort body line\r\n.\r\n"),
        (false, b"250 2.0.0 Ok: queued as 00000007\r\n"),
        (true, b"QUIT\r\n"),
        (false, b"221 2.0.0 Bye\r\n"),
    ];
    for (k, &(_, seg)) in session.iter().enumerate().filter(|(_, s)| !s.0) {
        for at in 0..=seg.len() {
            for flags in [0u8, 1, 3, 5, 15] {
                let mut script: Vec<(bool, Vec<u8>)> = Vec::new();
                for (j, &(client, s)) in session.iter().enumerate() {
                    if j == k {
                        script.push((false, s[..at].to_vec()));
                        script.push((false, s[at..].to_vec()));
                    } else {
                        script.push((client, s.to_vec()));
                    }
                }
                if let Err(e) = same_outcomes(&policy_of(flags), &script) {
                    panic!("segment {k} cut at {at}, flags {flags}: {e}");
                }
            }
        }
    }
}
