//! Differential tests of the DATA-phase fast paths (the block walk over
//! whole message lines and the segment entry ahead of the general loop)
//! against the general streaming path alone (`Inspector::set_fast_paths(false)`).
//!
//! Two inspectors with the same policy see exactly the same calls; after
//! every call they must agree on the verdict, the rewritten segment, the
//! events, the counters and the visible state. The messages stress what the
//! walk decides on: the end of data split across segments at every byte,
//! dot-stuffing, bare CR/LF (also right at a 64-byte block edge), NUL and
//! 8-bit bytes, header lines that fire F4/F5/I4 or nearly do (`Reply-To:`
//! and its continuations, `: decode@` and what folds like it, addresses'
//! `@`, `name=`), header lines longer than a
//! block, over-long lines (I5), max-data crossed at every byte, header
//! lines starting with every byte value (the walk's first test of a header
//! line) and empty segments anywhere.

use proptest::prelude::*;

use crate::inspector::differential::{feed_both, pair, Outcome};
use crate::inspector::Inspector;
use crate::policy::Policy;
use crate::signatures::{Signature, SignatureSet};
use crate::stats::SmtpStats;

type Pair = [(Inspector, SmtpStats); 2];

/// Feeds `seg` to both sides and requires the same outcome: the fast side's.
fn same(sides: &mut Pair, client: bool, seg: &[u8]) -> Result<Outcome, TestCaseError> {
    let [f, s] = feed_both(sides, client, seg);
    prop_assert_eq!(
        &f,
        &s,
        "segment {:?} (client: {})",
        String::from_utf8_lossy(seg),
        client
    );
    Ok(f)
}

/// A fast and a slow inspector for `policy`, both in DATA state (ESMTP,
/// PIPELINING, a pipelined MAIL/RCPT/DATA group and its replies).
fn pair_in_data(policy: &Policy) -> Result<Pair, TestCaseError> {
    let mut sides = pair(policy);
    for (client, seg) in [
        (false, &b"220 mail.example.test ESMTP\r\n"[..]),
        (true, b"EHLO relay.example.net\r\n"),
        (
            false,
            b"250-mail.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
        ),
        (
            true,
            b"MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n",
        ),
        (false, b"250 ok\r\n250 ok\r\n354 go ahead\r\n"),
    ] {
        same(&mut sides, client, seg)?;
    }
    prop_assert!(sides[0].0.in_data());
    Ok(sides)
}

/// Feeds `stream` cut after the offsets `cuts` (cycled) to both sides and
/// compares after every call. Withheld bytes (commands after the end of
/// data) come again with the next segment; back in command state, the
/// server answers.
fn run(policy: &Policy, stream: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let mut sides = pair_in_data(policy)?;
    let mut pos = 0;
    for &n in cuts.iter().cycle() {
        if pos >= stream.len() || sides[0].0.is_closed() {
            break;
        }
        let end = (pos + n.max(1)).min(stream.len());
        let seg = &stream[pos..end];
        let f = same(&mut sides, true, seg)?;
        pos += if f.verdict.forward == 0 {
            seg.len()
        } else {
            f.verdict.forward
        };
        let insp = &sides[0].0;
        if !insp.in_data() && !insp.is_closed() {
            same(&mut sides, false, b"250 ok\r\n")?;
        }
    }
    Ok(())
}

/// How many signature sets [`policy`] tells apart.
const POLICIES: u8 = 5;

/// The signature sets worth telling apart here: the walk flags `@` only
/// under F4 and `=` only under I4, so every combination of the two (and I5
/// for the over-long lines).
fn policy(sigs: u8, max_data: u64) -> Policy {
    Policy {
        max_data,
        signatures: match sigs {
            0 => SignatureSet::default(),
            1 => SignatureSet::all(),
            2 => SignatureSet::empty(),
            3 => SignatureSet::default()
                .without(Signature::F4DecodeAlias)
                .with(Signature::I4MimeFilename)
                .with(Signature::I5OverlongDataLine),
            _ => SignatureSet::empty()
                .with(Signature::F4DecodeAlias)
                .with(Signature::I5OverlongDataLine),
        },
        ..Policy::esmtp()
    }
}

/// The transcript corpus's message (issue #2) and variants of it.
const CORPUS_MESSAGE: &[u8] =
    b"Subject: report 7\r\nFrom: sender7@example.net\r\n\r\nshort body line\r\n.\r\n";

/// A header line from parts: names, the patterns and their near misses.
fn header_line() -> impl Strategy<Value = Vec<u8>> {
    let parts: Vec<&'static [u8]> = vec![
        b"Subject: report",
        b"From: sender@example.net",
        b"To: decode@x",
        b"To: Decode",
        b"Cc: x, ::: UUDECODE@h",
        b"X-A: :decode@",
        b"X-B: \x1a\0DECODE@",
        b"To: a@b, c@d",
        b"Reply-To: a`b",
        b"reply-to: a",
        b"Reply-To",
        b"X-Reply-To: `x`",
        b" folded `x`",
        b"\tfolded",
        b"Content-Type: text/plain; name=",
        b"filename=\"",
        b"nam=",
        b"a=b",
        b"=",
        b":",
        b": ",
        b"`",
        b"\0",
        b"\x01",
        b"\xc3\xa9",
        b"\t",
        b"-",
        b"*",
        b" ",
        b"v",
    ];
    (
        proptest::collection::vec(proptest::sample::select(parts), 1..6),
        prop_oneof![6 => Just(0usize), 1 => 40usize..80, 1 => 250usize..262],
        proptest::sample::select(vec![
            &b"\r\n"[..],
            b"\r\n",
            b"\r\n",
            b"\n",
            b"\r",
            b"\rx\r\n",
        ]),
    )
        .prop_map(|(p, pad, end)| {
            let mut l = p.concat();
            l.extend(std::iter::repeat_n(b'v', pad));
            l.extend_from_slice(end);
            l
        })
}

/// A body line: ordinary, dot-stuffed, a lone dot, empty, bare CR/LF,
/// NUL/8-bit, long (I5), unterminated.
fn body_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => proptest::sample::select(vec![
            &b"short body line\r\n"[..],
            b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n",
            b"..dot-stuffed\r\n",
            b".x\r\n",
            b".\r\n",
            b"\r\n",
            b"a\rb\r\n",
            b"a\nb\r\n",
            b"\n",
            b"\r",
            b"x\0y\xff\x80\r\n",
            b"To: decode@x\r\n",
            b"tail",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => (990usize..1010, proptest::sample::select(vec![&b"\r\n"[..], b"\n", b"\r"]))
            .prop_map(|(n, end)| {
                let mut v = vec![b'q'; n];
                v.extend_from_slice(end);
                v
            }),
        1 => (1usize..70).prop_map(|n| {
            let mut v = vec![b'z'; n];
            v.extend_from_slice(b"\r\n");
            v
        }),
    ]
}

/// A message: header lines, maybe the empty line, body lines, maybe the end
/// of data and a command after it.
fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(header_line(), 0..6),
        any::<bool>(),
        proptest::collection::vec(body_line(), 0..12),
        proptest::sample::select(vec![
            &b"\r\n.\r\n"[..],
            b".\r\n",
            b"\r\n.\r\nQUIT\r\n",
            b"",
            b"\r\n.",
            b"\r\n.\r",
        ]),
    )
        .prop_map(|(h, blank, b, end)| {
            let mut m = h.concat();
            if blank {
                m.extend_from_slice(b"\r\n");
            }
            m.extend(b.concat());
            m.extend_from_slice(end);
            m
        })
}

#[test]
fn corpus_message_split_at_every_byte() {
    let mut msg = CORPUS_MESSAGE.to_vec();
    msg.extend_from_slice(b"QUIT\r\n");
    for sigs in 0..POLICIES {
        let p = policy(sigs, 20_000_000);
        run(&p, &msg, &[msg.len()]).unwrap();
        for k in 1..msg.len() {
            run(&p, &msg, &[k, msg.len()]).unwrap();
        }
    }
}

#[test]
fn end_of_data_split_at_every_byte_after_every_line_shape() {
    let heads: [&[u8]; 6] = [
        b"Subject: x\r\n\r\nbody\r\n",
        b"Subject: x\r\n\r\n..dot\r\n",
        b"Subject: x\r\n\r\nbare\rcr\r\n",
        b"Subject: x\r\n\r\nbare\nlf\r\n",
        b"Subject: x\r\n",
        b"",
    ];
    for head in heads {
        let mut msg = head.to_vec();
        msg.extend_from_slice(b".\r\nNOOP\r\n");
        for k in 0..=msg.len() {
            for j in k..=msg.len() {
                run(&policy(0, 20_000_000), &msg, &[k, j - k, msg.len()]).unwrap();
            }
        }
    }
}

#[test]
fn max_data_crossed_at_every_byte() {
    let mut msg = b"Subject: report 7\r\nX-Long: ".to_vec();
    msg.extend(std::iter::repeat_n(b'h', 70));
    msg.extend_from_slice(b"\r\n\r\nline one\r\n..two\r\n");
    msg.extend(std::iter::repeat_n(b'b', 100));
    msg.extend_from_slice(b"\r\n.\r\nQUIT\r\n");
    for limit in 0..=msg.len() as u64 + 1 {
        run(&policy(0, limit), &msg, &[msg.len()]).unwrap();
        run(&policy(1, limit), &msg, &[17, 64, 3]).unwrap();
    }
}

#[test]
fn bare_cr_lf_at_every_offset_of_a_block() {
    // A bare CR or LF (or a CRLF) placed at every offset of two blocks'
    // worth of header and body text.
    for bad in [&b"\r"[..], b"\n", b"\r\n", b"\0", b":", b"="] {
        for at in 0..140 {
            let mut body: Vec<u8> = b"Subject: s\r\nX-Pad: "
                .iter()
                .copied()
                .chain(std::iter::repeat_n(b'p', 60))
                .chain(*b"\r\n\r\n")
                .chain(std::iter::repeat_n(b'b', 70))
                .chain(*b"\r\n")
                .collect();
            let at = at.min(body.len());
            body.splice(at..at, bad.iter().copied());
            body.extend_from_slice(b"\r\n.\r\n");
            run(&policy(1, 20_000_000), &body, &[body.len()]).unwrap();
            run(&policy(1, 20_000_000), &body, &[64, 1, 7]).unwrap();
        }
    }
}

#[test]
fn every_corpus_message_whole_and_split_at_the_block_edge() {
    // The 256 message segments of the transcript corpus (67-72 bytes: a
    // full block and a short one), whole and cut around byte 64.
    for n in 0..256 {
        let msg = format!(
            "Subject: report {n}\r\nFrom: sender{n}@example.net\r\n\r\nshort body line\r\n.\r\nQUIT\r\n"
        )
        .into_bytes();
        for sigs in 0..POLICIES {
            let p = policy(sigs, 20_000_000);
            run(&p, &msg, &[msg.len()]).unwrap();
            for k in [1, 16, 48, 63, 64, 65, 66] {
                run(&p, &msg, &[k, msg.len()]).unwrap();
            }
        }
    }
}

#[test]
fn header_specials_at_every_offset_of_two_blocks() {
    // One header line with a `@`/`=` pattern (or a near miss) placed at
    // every offset of the first two blocks, so it sits at a block edge, at
    // the line start, right after the walk's start, and with its next bytes
    // in the next block or the next segment.
    let patterns: [&[u8]; 17] = [
        b": decode@x",
        b": Uudecode@x",
        b": DeCoDe@",
        b"uudecode@x",
        b"\x1a\0decode@x",
        b": decod@x",
        b"a@b@",
        b": dx",
        b": ux",
        b":d",
        b": ",
        b":",
        b"name=long",
        b"NaMe=\"q\"",
        b"ame=",
        b"=",
        b"Reply-To: a`b",
    ];
    for pat in patterns {
        for at in 0..130 {
            let mut msg = b"X-Pad: ".to_vec();
            msg.extend(std::iter::repeat_n(b'p', at));
            msg.extend_from_slice(pat);
            msg.extend_from_slice(b"\r\nSubject: s\r\n\r\nbody\r\n.\r\n");
            for sigs in 0..POLICIES {
                let p = policy(sigs, 20_000_000);
                run(&p, &msg, &[msg.len()]).unwrap();
                run(&p, &msg, &[at + 7, msg.len()]).unwrap();
                run(&p, &msg, &[64, 64, msg.len()]).unwrap();
            }
        }
    }
}

#[test]
fn lines_around_the_i5_limit_from_every_block_offset() {
    // Header and body lines of 990-1005 content bytes starting at several
    // offsets, so their LF lands anywhere in a block, with I5 on and off.
    for header in [true, false] {
        for len in 990..1006 {
            for lead in [0usize, 1, 30, 62, 63, 64, 100] {
                let mut msg = Vec::new();
                if !header {
                    msg.extend_from_slice(b"Subject: s\r\n\r\n");
                }
                msg.extend(std::iter::repeat_n(b'a', lead));
                msg.extend_from_slice(b"\r\n");
                msg.extend_from_slice(if header { b"X-Long: " } else { b"" });
                msg.extend(std::iter::repeat_n(b'q', len));
                // (A header line that fires I5 and then F4; a body line
                // that fires I5 starting with a dot.)
                msg.extend_from_slice(if header {
                    &b": decode@x\r\n\r\n.\r\n"[..]
                } else {
                    b"\r\n.."
                });
                msg.extend(std::iter::repeat_n(b'd', len));
                msg.extend_from_slice(b"\r\n.\r\n");
                for sigs in [0, 1, 3] {
                    run(&policy(sigs, 20_000_000), &msg, &[msg.len()]).unwrap();
                    run(&policy(sigs, 20_000_000), &msg, &[500, 1448]).unwrap();
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(800)
    ))]

    /// Arbitrary messages of the shapes above, any segmentation, any
    /// signature set, max-data anywhere.
    #[test]
    fn data_fast_paths_match_the_general_path(
        sigs in 0u8..POLICIES,
        max_data in prop_oneof![3 => Just(20_000_000u64), 1 => 0u64..400],
        msgs in proptest::collection::vec(message(), 1..3),
        cuts in proptest::collection::vec(prop_oneof![Just(1usize), 1usize..90, Just(4096)], 1..20),
    ) {
        run(&policy(sigs, max_data), &msgs.concat(), &cuts)?;
    }

    /// Random bytes rich in what the walk looks at, any segmentation.
    #[test]
    fn data_fast_paths_match_on_random_bytes(
        sigs in 0u8..POLICIES,
        bytes in proptest::collection::vec(
            prop_oneof![
                4 => proptest::sample::select(b"abc: =`.DdUu@n".to_vec()),
                2 => Just(b'\r'),
                2 => Just(b'\n'),
                1 => any::<u8>(),
            ],
            0..300,
        ),
        cuts in proptest::collection::vec(1usize..100, 1..10),
    ) {
        run(&policy(sigs, 20_000_000), &bytes, &cuts)?;
    }
}

#[test]
fn header_lines_starting_with_every_byte() {
    // The walk decides on a header line's first byte before anything
    // else (a control byte, `.`, `r`/`R` need a closer look): every byte
    // value, starting a `Reply-To:`-like line with a back-quote (F5 if it
    // is one) followed by a folded line with another, as the first line
    // and after another one.
    for b in 0..=255u8 {
        for lead in [&b""[..], b"X-A: 1\r\n"] {
            let mut msg = lead.to_vec();
            msg.push(b);
            msg.extend_from_slice(b"eply-To: a`b\r\n `c`\r\nSubject: s\r\n\r\nbody\r\n.\r\n");
            for sigs in 0..POLICIES {
                let p = policy(sigs, 20_000_000);
                run(&p, &msg, &[msg.len()]).unwrap();
                run(&p, &msg, &[lead.len() + 1, msg.len()]).unwrap();
                run(&p, &msg, &[lead.len() + 5, 9, msg.len()]).unwrap();
            }
        }
    }
}

#[test]
fn empty_segments_anywhere_in_the_message() {
    // An empty segment (a pure ACK's worth of payload) at the line start,
    // inside a line, between the CR and the LF and after the end of data.
    let mut msg = CORPUS_MESSAGE.to_vec();
    msg.extend_from_slice(b"QUIT\r\n");
    for sigs in 0..POLICIES {
        let p = policy(sigs, 20_000_000);
        for k in 0..=msg.len() {
            let mut sides = pair_in_data(&p).unwrap();
            same(&mut sides, true, b"").unwrap();
            let f = same(&mut sides, true, &msg[..k]).unwrap();
            same(&mut sides, true, b"").unwrap();
            let rest = &msg[f.verdict.forward..];
            same(&mut sides, true, rest).unwrap();
            same(&mut sides, true, b"").unwrap();
        }
    }
}
