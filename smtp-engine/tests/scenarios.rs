//! Engine-level acceptance cases D1–D19 of seed-scenario.md §5 and the rules of
//! smtp-inspection.md: bytes in → bytes forwarded, verdicts, events, counters.

mod common;

use common::*;
use smtp_engine::{
    fmt, Action, CloseReason, DebugEvent, Event, Mode, Policy, Signature, SignatureSet, SmtpStats,
};

fn smtp() -> Policy {
    Policy::default()
}

fn esmtp() -> Policy {
    Policy::esmtp()
}

/// ESMTP session after EHLO with the D8 reply (PIPELINING visible).
fn esmtp_after_ehlo(p: Policy) -> Sim {
    let mut s = Sim::greeted(p);
    s.client_ok(b"EHLO client.example.net\r\n");
    s.server(EHLO_REPLY);
    s
}

fn close_reason(s: &Sim) -> Option<CloseReason> {
    match s.last.unwrap().action {
        Action::ReplyAndClose { reason, .. } => Some(reason),
        _ => None,
    }
}

// ---------------------------------------------------------------- D1

#[test]
fn d1_seed_transcript_one_keystroke_per_segment() {
    let mut s = Sim::new(Policy {
        debug: true,
        ..smtp()
    });
    s.server_ok(GREETING);
    let script: &[(&[&[u8]], &[u8])] = &[
        (
            &[
                b"H", b"E", b"L", b"O", b" ", b"c", b"i", b"sc", b"o", b"\r\n",
            ],
            b"250 mail.example.test\r\n",
        ),
        (
            &[
                b"V", b"R", b"F", b"Y", b" ", b"a", b"b", b"@", b"c", b"\r\n",
            ],
            b"252 2.0.0 Cannot VRFY user\r\n",
        ),
        (
            &[
                b"V", b"R", b"F", b"Y", b" ", b"c", b"i", b"sc", b"o", b"\r\n",
            ],
            b"252 2.0.0 Cannot VRFY user\r\n",
        ),
        (
            &[b"H", b"E", b"L", b"P", b"\r\n"],
            b"214 2.0.0 Commands supported\r\n",
        ),
        (&[b"Q", b"UI", b"T", b"\r\n"], b"221 2.0.0 Bye\r\n"),
    ];
    for (segs, reply) in script {
        for seg in *segs {
            s.client_ok(seg);
        }
        s.server_ok(reply);
    }
    assert_eq!(s.stats.cmd_lines, 5);
    assert_eq!(s.stats.cmd_masked, 0);
    assert!(s.logs().is_empty(), "{:?}", s.logs());
    let ids: Vec<u8> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Debug(DebugEvent::VerbMatch { id }) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, [5, 15, 15, 6, 9]);
    let ends: Vec<(u32, u32)> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Debug(DebugEvent::EndOfCommandLine { index, len }) => Some((*index, *len)),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [(1, 12), (2, 11), (3, 12), (4, 6), (5, 6)]);
}

// ---------------------------------------------------------------- D2, D3

#[test]
fn d2_illegal_verbs_masked_and_logged() {
    let mut s = Sim::greeted(smtp());
    s.client(b"EXPN root\r\n");
    s.server_ok(b"500 5.5.2 Error: command not recognized\r\n");
    s.client(b"eXpN root\r\n");
    s.server_ok(b"500 5.5.2 Error: command not recognized\r\n");
    s.client_ok(b"helo a.example\r\n");
    assert_eq!(s.server_rx, b"XXXXXXXXX\r\nXXXXXXXXX\r\nhelo a.example\r\n");
    assert_eq!(
        s.logs(),
        [
            "%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) (total 11 chars) from initiator (198.51.100.7:40012)",
            "%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (eXpN) (total 11 chars) from initiator (198.51.100.7:40012)",
        ]
    );
    assert_eq!(s.stats.cmd_masked, 2);
}

#[test]
fn d3_ehlo_in_smtp_mode() {
    let mut s = Sim::greeted(smtp());
    let v = s.client(b"EHLO client.example.net\r\n");
    assert_eq!(v.forward, 25);
    assert_eq!(s.server_rx, [&[b'X'; 23][..], b"\r\n"].concat());
    s.server_ok(b"500 5.5.2 Error: command not recognized\r\n");
    s.client_ok(b"HELO client.example.net\r\n");
    assert_eq!(
        s.logs(),
        ["%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EHLO) (total 25 chars) from initiator (198.51.100.7:40012)"]
    );
}

// ---------------------------------------------------------------- D4 framing

#[test]
fn d4a_bare_lf_terminates_commands() {
    let mut s = Sim::greeted(smtp());
    // The first line is forwarded; the second waits for the first reply (no pipelining).
    let v = s.client(b"HELO a\nEXPN b\n");
    assert_eq!(v.forward, 7);
    s.server_ok(b"250 mail.example.test\r\n");
    s.client(b"EXPN b\n");
    assert_eq!(s.server_rx, b"HELO a\nXXXXXX\n");
    assert_eq!(s.stats.bare_lf_cmd, 2);
    assert_eq!(
        s.logs(),
        ["%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) (total 7 chars) from initiator (198.51.100.7:40012)"]
    );
}

#[test]
fn d4b_nul_in_verb() {
    let mut s = Sim::greeted(smtp());
    s.client(b"HE\0LO x\r\n");
    assert_eq!(s.server_rx, b"XXXXXXX\r\n");
    assert_eq!(
        s.logs(),
        ["%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (HE.LO) (total 9 chars) from initiator (198.51.100.7:40012)"]
    );
}

#[test]
fn d4c_bare_cr_becomes_space() {
    let mut s = Sim::greeted(smtp());
    s.client(b"HELO a\rEXPN b\r\n");
    assert_eq!(s.server_rx, b"HELO a EXPN b\r\n");
    assert_eq!(s.stats.bare_cr_rewritten, 1);
    assert_eq!(s.stats.cmd_masked, 0);
    assert!(s.logs().is_empty());
}

#[test]
fn control_byte_in_arguments_masks_rest_of_line() {
    let mut s = Sim::greeted(smtp());
    s.client(b"HELO a");
    s.client(b"b\0c\r\n");
    assert_eq!(s.server_rx, b"HELO aXXX\r\n");
    assert_eq!(s.stats.cmd_masked, 1);
    // whole line in one segment: everything masked
    let mut s = Sim::greeted(smtp());
    s.client(b"HELO a\x7fb\r\n");
    assert_eq!(s.server_rx, b"XXXXXXXX\r\n");
}

#[test]
fn tab_rules() {
    let mut s = Sim::greeted(smtp());
    s.client(b"HELO\ta\r\n");
    assert_eq!(s.server_rx, b"XXXXXX\r\n");
    let mut s = Sim::greeted(smtp());
    s.client_ok(b"HELO a\tb\r\n");
}

#[test]
fn cr_at_segment_end_pending() {
    // CR then LF in the next segment: normal terminator.
    let mut s = Sim::greeted(smtp());
    s.client_ok(b"HELO a\r");
    s.client_ok(b"\n");
    assert_eq!(s.stats.cmd_lines, 1);
    // CR then something else: rest of the line masked.
    let mut s = Sim::greeted(smtp());
    s.client_ok(b"HELO a\r");
    s.client(b"EXPN b\r\n");
    assert_eq!(s.server_rx, b"HELO a\rXXXXXX\r\n");
    assert_eq!(s.stats.cmd_masked, 1);
}

#[test]
fn empty_line_and_leading_space() {
    let mut s = Sim::greeted(smtp());
    s.client_ok(b"\r\n");
    assert_eq!(
        s.logs(),
        ["%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command () (total 2 chars) from initiator (198.51.100.7:40012)"]
    );
    s.server_ok(b"500 5.5.2 Error: command not recognized\r\n");
    s.client(b" HELO a\r\n");
    assert_eq!(&s.server_rx[2..], b"XXXXXXX\r\n");
}

// ---------------------------------------------------------------- D5 limits

#[test]
fn d5_overlong_command_line_closes() {
    let mut s = Sim::greeted(smtp());
    let mut line = b"HELO ".to_vec();
    line.extend(std::iter::repeat_n(b'a', 600));
    line.extend_from_slice(b"\r\n");
    assert_eq!(line.len(), 607);
    let v = s.client(&line);
    assert_eq!(v.forward, 0);
    assert_eq!(
        v.action,
        Action::ReplyAndClose {
            reply: b"554 Transaction failed\r\n",
            reason: CloseReason::Signature(Signature::F6OverlongCommand)
        }
    );
    assert!(s.server_rx.is_empty());
    assert_eq!(
        s.logs(),
        ["%FW-4-TCP_SENDMAIL_INVALID_COMMAND: Invalid SMTP command - 198.51.100.7 to 172.22.1.110"]
    );
    assert!(s.insp.is_closed());
    assert_eq!(s.client(b"QUIT\r\n").forward, 0);
    assert_eq!(s.stats.reply_close, 1);
}

#[test]
fn line_limits_are_inclusive_of_terminator() {
    for (mode, verb, limit) in [
        (Mode::Smtp, &b"HELO "[..], 512usize),
        (Mode::Smtp, &b"MAIL FROM:"[..], 512),
        (Mode::Esmtp, &b"MAIL FROM:"[..], 1024),
        (Mode::Esmtp, &b"HELO "[..], 512),
    ] {
        for (total, ok) in [(limit, true), (limit + 1, false)] {
            let mut s = Sim::greeted(Policy {
                mode,
                ..Policy::default()
            });
            let mut line = verb.to_vec();
            line.extend(std::iter::repeat_n(b'a', total - verb.len() - 2));
            line.extend_from_slice(b"\r\n");
            // one byte per segment and whole: same outcome
            let v = s.client(&line);
            assert_eq!(v.action == Action::Continue, ok, "{mode:?} {total}");
            let mut s = Sim::greeted(Policy {
                mode,
                ..Policy::default()
            });
            let mut closed = false;
            for b in &line {
                closed |= s.client(std::slice::from_ref(b)).action != Action::Continue;
            }
            assert_eq!(!closed, ok);
        }
    }
    // F6 disabled: overlong lines pass.
    let mut s = Sim::greeted(Policy {
        signatures: SignatureSet::default().without(Signature::F6OverlongCommand),
        ..smtp()
    });
    let line = [b"HELO ".as_slice(), &[b'a'; 700], b"\r\n"].concat();
    s.client_ok(&line);
}

#[test]
fn auth_lines_have_12288_limit() {
    let mut s = esmtp_after_ehlo(esmtp());
    let line = [b"AUTH PLAIN ".as_slice(), &[b'A'; 12_000], b"\r\n"].concat();
    s.client_ok(&line);
    s.server_ok(b"334 \r\n");
    let cont = [&[b'A'; 12_287][..], b"\r\n"].concat();
    assert_ne!(s.client(&cont).action, Action::Continue);
}

// ---------------------------------------------------------------- D6

#[test]
fn d6_split_illegal_verb() {
    let mut s = Sim::greeted(smtp());
    let mut segs = Vec::new();
    for b in b"EXPN a\r\n" {
        let before = s.server_rx.len();
        s.client(std::slice::from_ref(b));
        segs.push(s.server_rx[before..].to_vec());
    }
    assert_eq!(segs.concat(), b"XXXXXX\r\n");
    assert_eq!(s.logs().len(), 1);

    let mut s = esmtp_after_ehlo(esmtp());
    let start = s.server_rx.len();
    for (k, b) in b"EXPN a\r\n".iter().enumerate() {
        s.client(std::slice::from_ref(b));
        if k < 7 {
            assert!(s.logs().is_empty(), "logged before the LF");
        }
    }
    assert_eq!(&s.server_rx[start..], b"EXXXXX\r\n");
    assert_eq!(s.logs().len(), 1);

    for p in [smtp(), esmtp()] {
        let mut s = Sim::greeted(p);
        for b in b"HELO a\r\n" {
            s.client_ok(std::slice::from_ref(b));
        }
    }
}

// ---------------------------------------------------------------- D7

#[test]
fn d7_no_pipelining_in_smtp_mode() {
    let mut s = Sim::greeted(smtp());
    let seg = b"HELO a\r\nMAIL FROM:<b@example.org>\r\n";
    let v = s.client(seg);
    assert_eq!(v.forward, 8);
    assert_eq!(v.action, Action::Continue);
    assert_eq!(s.server_rx, b"HELO a\r\n");
    assert!(s.stats.withheld_bytes >= 27);
    // Retransmission before the reply is withheld again (dropped).
    assert_eq!(s.client(&seg[8..]).forward, 0);
    s.server_ok(b"250 mail.example.test\r\n");
    s.client_ok(&seg[8..]);
    s.server_ok(b"250 2.1.0 Ok\r\n");
    assert!(s.logs().is_empty());
}

#[test]
fn client_waits_for_greeting() {
    let mut s = Sim::new(smtp());
    assert_eq!(s.client(b"HELO a\r\n").forward, 0);
    s.server_ok(GREETING);
    s.client_ok(b"HELO a\r\n");
}

// ---------------------------------------------------------------- D8

const D8_MASKED: &[u8] = b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-XXXX\r\n250-ETRN\r\n250-XXXXXXXX\r\n250-AUTH PLAIN LOGIN\r\n250-XXXXXXXXXXXXXXXX\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-XXXXXXXX\r\n250 XXXXXXXX\r\n";

#[test]
fn d8_ehlo_reply_masking() {
    let mut s = Sim::greeted(esmtp());
    s.client_ok(b"EHLO client.example.net\r\n");
    let start = s.client_rx.len();
    assert_eq!(EHLO_REPLY.len(), 212);
    let v = s.server(EHLO_REPLY);
    assert_eq!(v.forward, 212);
    assert_eq!(&s.client_rx[start..], D8_MASKED);
    assert_eq!(s.stats.ehlo_keywords_masked, 5);
    assert!(s.logs().is_empty());
    assert!(s.insp.pipelining());
}

#[test]
fn d8_split_after_250_s() {
    let mut s = Sim::greeted(esmtp());
    s.client_ok(b"EHLO client.example.net\r\n");
    let start = s.client_rx.len();
    let cut = memchr::memmem::find(EHLO_REPLY, b"250-STARTTLS").unwrap() + 5;
    s.server(&EHLO_REPLY[..cut]);
    assert!(s.client_rx.ends_with(b"250-S"));
    s.server(&EHLO_REPLY[cut..]);
    assert!(s.client_rx[start + cut..].starts_with(b"XXXXXXX\r\n"));
    // Every segmentation gives the same bytes here (split inside a masked keyword
    // keeps the supported prefix only when it is a legal prefix).
    for cut in 1..EHLO_REPLY.len() {
        let mut s = Sim::greeted(esmtp());
        s.client_ok(b"EHLO x\r\n");
        let start = s.client_rx.len();
        s.server(&EHLO_REPLY[..cut]);
        s.server(&EHLO_REPLY[cut..]);
        let got = &s.client_rx[start..];
        for (k, (&g, &m)) in got.iter().zip(D8_MASKED).enumerate() {
            assert!(
                g == m || (m == b'X' && g == EHLO_REPLY[k]),
                "cut {cut} at {k}"
            );
        }
        assert!(s.insp.pipelining());
    }
}

#[test]
fn allow_tls_and_bdat_keep_their_keywords() {
    let mut s = Sim::greeted(Policy {
        allow_tls: true,
        bdat: true,
        ..esmtp()
    });
    s.client_ok(b"EHLO x\r\n");
    let start = s.client_rx.len();
    s.server(EHLO_REPLY);
    let got = String::from_utf8(s.client_rx[start..].to_vec()).unwrap();
    assert!(
        got.contains("250-STARTTLS\r\n") && got.contains("250 CHUNKING\r\n"),
        "{got}"
    );
    assert_eq!(s.stats.ehlo_keywords_masked, 3);
}

#[test]
fn negative_ehlo_reply_means_no_pipelining() {
    let mut s = Sim::greeted(esmtp());
    s.client_ok(b"EHLO x\r\n");
    s.server_ok(b"502 5.5.1 no\r\n");
    assert!(!s.insp.pipelining());
    s.client_ok(b"HELO x\r\n");
    assert_eq!(s.client(b"MAIL FROM:<a>\r\n").forward, 0);
}

#[test]
fn no_pipelining_keyword_means_one_outstanding() {
    let mut s = Sim::greeted(esmtp());
    s.client_ok(b"EHLO x\r\n");
    s.server_ok(b"250-mail\r\n250 SIZE 100\r\n");
    assert!(!s.insp.pipelining());
    assert_eq!(s.client(b"MAIL FROM:<a>\r\nRCPT TO:<b>\r\n").forward, 15);
}

// ---------------------------------------------------------------- D9–D11

#[test]
fn d9_valid_esmtp_parameters() {
    let mut s = esmtp_after_ehlo(esmtp());
    let m = b"MAIL FROM:<alice@example.org> SIZE=1024 BODY=8BITMIME RET=HDRS ENVID=QQ314159\r\n";
    let r = b"RCPT TO:<bob@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.test\r\n";
    let e = b"ETRN @example.net\r\n";
    assert_eq!((m.len(), r.len(), e.len()), (79, 81, 19));
    s.client_ok(m);
    s.server_ok(b"250 2.1.0 Ok\r\n");
    s.client_ok(r);
    s.server_ok(b"250 2.1.5 Ok\r\n");
    s.client_ok(e);
    assert!(s.logs().is_empty());
}

#[test]
fn d10_unsupported_parameter_closes() {
    let mut s = esmtp_after_ehlo(esmtp());
    let before = s.server_rx.len();
    let v = s.client(b"MAIL FROM:<alice@example.org> SMTPUTF8\r\n");
    assert_eq!(v.forward, 0);
    assert_eq!(
        v.action,
        Action::ReplyAndClose {
            reply: b"555 Unsupported parameter\r\n",
            reason: CloseReason::UnsupportedParameter
        }
    );
    assert_eq!(s.server_rx.len(), before);
    let logs = log_lines(&s.events, "198.51.100.7:40020");
    assert_eq!(
        logs,
        ["%FW-3-SMTP_INVALID_PARAMETER: Invalid SMTP parameter (SMTPUTF8) from initiator (198.51.100.7:40020)"]
    );
    assert_eq!(s.stats.param_violations, 1);
}

#[test]
fn d11_invalid_parameter_values() {
    let mut s = esmtp_after_ehlo(esmtp());
    s.client_ok(b"MAIL FROM:<a@example.org>\r\n");
    s.server_ok(b"250 2.1.0 Ok\r\n");
    let v = s.client(b"RCPT TO:<bob@example.test> NOTIFY=NEVER,DELAY\r\n");
    assert_eq!(
        v.action,
        Action::ReplyAndClose {
            reply: b"501 Invalid parameter\r\n",
            reason: CloseReason::InvalidParameter
        }
    );
    assert!(s.logs()[0].contains("(NOTIFY=NEVER,DELAY)"));

    let mut s = esmtp_after_ehlo(esmtp());
    let v = s.client(b"MAIL FROM:<a@example.org> SIZE=12ab\r\n");
    assert_eq!(v.forward, 0);
    assert_eq!(close_reason(&s), Some(CloseReason::InvalidParameter));
    assert!(s.logs()[0].contains("(SIZE=12ab)"));
}

#[test]
fn parameters_not_checked_in_smtp_mode() {
    let mut s = Sim::greeted(smtp());
    s.client_ok(b"HELO a\r\n");
    s.server_ok(b"250 ok\r\n");
    s.client_ok(b"MAIL FROM:<a@example.org> SMTPUTF8\r\n");
}

#[test]
fn utf8_path_is_unsupported_in_esmtp() {
    let mut s = esmtp_after_ehlo(esmtp());
    s.client("MAIL FROM:<jörg@example.org>\r\n".as_bytes());
    assert_eq!(close_reason(&s), Some(CloseReason::UnsupportedParameter));
}

#[test]
fn etrn_without_argument_closes() {
    let mut s = esmtp_after_ehlo(esmtp());
    s.client(b"ETRN\r\n");
    assert_eq!(close_reason(&s), Some(CloseReason::InvalidParameter));
    assert!(s.logs()[0].contains("(ETRN)"));
}

// ---------------------------------------------------------------- D12, D13

#[test]
fn d12_pipelined_group_with_illegal_line() {
    let mut s = esmtp_after_ehlo(esmtp());
    let seg = b"MAIL FROM:<a@example.org>\r\nEXPN staff\r\nRCPT TO:<b@example.test>\r\n";
    assert_eq!(seg.len(), 65);
    let start = s.server_rx.len();
    let v = s.client(seg);
    assert_eq!(v.forward, 65);
    assert_eq!(
        &s.server_rx[start..],
        b"MAIL FROM:<a@example.org>\r\nXXXXXXXXXX\r\nRCPT TO:<b@example.test>\r\n"
    );
    for r in [
        &b"250 2.1.0 Ok\r\n"[..],
        b"500 5.5.2 Error: command not recognized\r\n",
        b"250 2.1.5 Ok\r\n",
    ] {
        s.server_ok(r);
    }
    assert_eq!(
        s.logs(),
        ["%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) (total 12 chars) from initiator (198.51.100.7:40012)"]
    );
    s.client_ok(b"DATA\r\n");
    s.server_ok(b"354 End data with <CR><LF>.<CR><LF>\r\n");
    assert!(s.insp.in_data());
}

#[test]
fn d13_bytes_after_data_withheld_until_354() {
    let mut s = esmtp_after_ehlo(esmtp());
    s.client_ok(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n");
    s.server_ok(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
    let start = s.server_rx.len();
    let v = s.client(b"DATA\r\nSubject: x\r\n");
    assert_eq!(v.forward, 6);
    assert_eq!(s.stats.withheld_bytes, 12);
    s.server_ok(b"354 End data with <CR><LF>.<CR><LF>\r\n");
    s.client_ok(b"Subject: x\r\n");
    assert!(s.insp.in_data());
    assert_eq!(&s.server_rx[start..], b"DATA\r\nSubject: x\r\n");

    // Variant: DATA refused → the retransmitted bytes are a command line.
    let mut s = esmtp_after_ehlo(esmtp());
    s.client_ok(b"MAIL FROM:<a@example.org>\r\n");
    s.server_ok(b"250 2.1.0 Ok\r\n");
    s.client(b"DATA\r\nSubject: x\r\n");
    s.server_ok(b"554 5.5.1 Error: no valid recipients\r\n");
    let start = s.server_rx.len();
    s.client(b"Subject: x\r\n");
    assert_eq!(&s.server_rx[start..], b"XXXXXXXXXX\r\n");
    assert_eq!(
        s.logs(),
        ["%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (Subject:) (total 12 chars) from initiator (198.51.100.7:40012)"]
    );
}

// ---------------------------------------------------------------- D14, D15

fn in_data(p: Policy) -> Sim {
    let mut s = Sim::greeted(p);
    for cmd in [
        &b"HELO a.example\r\n"[..],
        b"MAIL FROM:<a@example.org>\r\n",
        b"RCPT TO:<b@example.test>\r\n",
        b"DATA\r\n",
    ] {
        s.client_ok(cmd);
        s.server_ok(scripted_reply(cmd));
    }
    assert!(s.insp.in_data());
    s
}

#[test]
fn d14_message_content_not_command_inspected() {
    let mut s = in_data(smtp());
    let body = b"Subject: test\r\n\r\nEXPN root\r\n..hidden\r\n.\r\n";
    assert_eq!(body.len(), 41);
    s.client_ok(body);
    assert!(!s.insp.in_data());
    assert_eq!(s.insp.data_bytes(), 41);
    s.server_ok(b"250 2.0.0 Ok: queued\r\n");
    s.client_ok(b"QUIT\r\n");
    assert!(s.logs().is_empty());
}

#[test]
fn d15_smuggling_rewritten() {
    let mut s = in_data(smtp());
    let seg = b"Subject: s\r\n\r\nhello\n.\r\nMAIL FROM:<evil@example.net>\r\n.\r\n";
    assert_eq!(seg.len(), 56);
    let start = s.server_rx.len();
    s.client(seg);
    assert_eq!(
        &s.server_rx[start..],
        b"Subject: s\r\n\r\nhello .\r\nMAIL FROM:<evil@example.net>\r\n.\r\n"
    );
    assert_eq!(s.stats.data_bare_eol_rewritten, 1);
    assert!(!s.insp.in_data());
    assert_eq!(s.stats.messages, 1);
}

#[test]
fn data_bare_cr_variants() {
    // bare CR inside a segment
    let mut s = in_data(smtp());
    let start = s.server_rx.len();
    s.client(b"a\r.\rb\r\n.\r\n");
    assert_eq!(&s.server_rx[start..], b"a .\x20b\r\n.\r\n");
    assert_eq!(s.stats.data_bare_eol_rewritten, 2);
    // CR ending a segment, then `.`
    let mut s = in_data(smtp());
    let start = s.server_rx.len();
    s.client(b"a\r");
    s.client(b".\r\n.\r\n");
    assert_eq!(&s.server_rx[start..], b"a\r \r\n.\r\n");
    assert!(!s.insp.in_data());
    // end of data split everywhere
    let msg = b"Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\n";
    for cut in 0..=msg.len() {
        let mut s = in_data(smtp());
        s.client_ok(&msg[..cut]);
        s.client_ok(&msg[cut..]);
        assert!(!s.insp.in_data(), "cut {cut}");
        assert_eq!(s.insp.data_bytes(), msg.len() as u64);
    }
    // empty message
    let mut s = in_data(smtp());
    s.client_ok(b".\r\n");
    assert!(!s.insp.in_data());
}

#[test]
fn after_end_of_data_smtp_withholds_esmtp_pipelines() {
    let mut s = in_data(smtp());
    assert_eq!(s.client(b"x\r\n.\r\nQUIT\r\n").forward, 6);
    let mut s = esmtp_after_ehlo(esmtp());
    s.client_ok(b"MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n");
    s.server_ok(b"250 ok\r\n250 ok\r\n354 go\r\n");
    s.client_ok(b"x\r\n.\r\nMAIL FROM:<c>\r\n");
}

// ---------------------------------------------------------------- D16, D17

#[test]
fn d16_auth_exchange() {
    let mut s = esmtp_after_ehlo(esmtp());
    s.client_ok(b"AUTH LOGIN\r\n");
    s.server_ok(b"334 VXNlcm5hbWU6\r\n");
    s.client_ok(b"YWxpY2U=\r\n");
    s.server_ok(b"334 UGFzc3dvcmQ6\r\n");
    s.client_ok(b"c2VjcmV0\r\n");
    s.server_ok(b"235 2.7.0 Authentication successful\r\n");
    s.client_ok(b"MAIL FROM:<alice@example.org> AUTH=<>\r\n");
    s.server_ok(b"250 2.1.0 Ok\r\n");
    assert!(s.logs().is_empty());
    assert_eq!(s.stats.cmd_masked, 0);

    let mut s = esmtp_after_ehlo(esmtp());
    s.client_ok(b"AUTH LOGIN\r\n");
    s.server_ok(b"334 VXNlcm5hbWU6\r\n");
    let v = s.client(b"HELO x\r\n");
    assert_eq!(v.forward, 0);
    assert_eq!(close_reason(&s), Some(CloseReason::InvalidParameter));
    assert_eq!(
        s.logs(),
        ["%FW-3-SMTP_INVALID_PARAMETER: Invalid SMTP parameter (HELO x) from initiator (198.51.100.7:40012)"]
    );
}

#[test]
fn auth_cancel_and_empty_continuation() {
    let mut s = esmtp_after_ehlo(esmtp());
    s.client_ok(b"AUTH PLAIN\r\n");
    s.server_ok(b"334 \r\n");
    s.client_ok(b"*\r\n");
    s.server_ok(b"501 cancelled\r\n");
    s.client_ok(b"AUTH LOGIN\r\n");
    s.server_ok(b"334 VXNlcm5hbWU6\r\n");
    s.client_ok(b"\r\n");
    s.server_ok(b"535 no\r\n");
    s.client_ok(b"QUIT\r\n");
}

#[test]
fn d17_starttls_masked_by_default() {
    let mut s = esmtp_after_ehlo(esmtp());
    let start = s.server_rx.len();
    s.client(b"STARTTLS\r\n");
    assert_eq!(&s.server_rx[start..], b"XXXXXXXX\r\n");
    s.server_ok(b"500 5.5.2 Error: command not recognized\r\n");
    assert!(s.logs()[0].contains("(STARTTLS) (total 10 chars)"));
    s.client_ok(b"MAIL FROM:<a@example.org>\r\n");
}

#[test]
fn allow_tls_stops_inspection_after_220() {
    let mut s = esmtp_after_ehlo(Policy {
        allow_tls: true,
        ..esmtp()
    });
    assert_eq!(s.client(b"STARTTLS\r\n\x16\x03\x01").forward, 10);
    let v = s.server(b"220 2.0.0 Ready to start TLS\r\n");
    assert_eq!(v.action, Action::StopInspection);
    assert!(s.insp.is_passthrough());
    assert_eq!(s.events.last(), Some(&Event::TlsStarted));
    s.client_ok(b"\x16\x03\x01\x00\x05EXPN\0\r\n");
    s.server_ok(b"\x16\x03\x03 anything");
    assert_eq!(s.stats.tls_passthrough, 1);
    let logs = s.logs();
    assert_eq!(
        logs.last().unwrap(),
        "%FW-6-SMTP_TLS_STARTED: TLS negotiated, SMTP inspection stopped for initiator (198.51.100.7:40012)"
    );
    // a refused STARTTLS keeps inspecting
    let mut s = esmtp_after_ehlo(Policy {
        allow_tls: true,
        ..esmtp()
    });
    s.client_ok(b"STARTTLS\r\n");
    s.server_ok(b"454 TLS not available\r\n");
    s.client(b"EXPN a\r\n");
    assert_eq!(s.stats.cmd_masked, 1);
}

// ---------------------------------------------------------------- D18

fn after_helo(p: Policy) -> Sim {
    let mut s = Sim::greeted(p);
    s.client_ok(b"HELO a.example\r\n");
    s.server_ok(b"250 mail.example.test\r\n");
    s
}

#[test]
fn d18_ids_signatures() {
    let cases: [(&[u8], bool, Signature, &str); 4] = [
        (b"RCPT TO:<|/usr/bin/id@example.test>\r\n", true, Signature::F1InvalidRecipient,
         "%FW-4-TCP_SENDMAIL_BAD_TO_SIG: Sendmail Invalid Recipient - from 198.51.100.7 to 172.22.1.110"),
        (b"MAIL FROM:<a|b@example.org>\r\n", false, Signature::F2InvalidSender,
         "%FW-4-TCP_SENDMAIL_BAD_FROM_SIG: Sendmail Invalid Sender - from 198.51.100.7 to 172.22.1.110"),
        (b"WIZ\r\n", false, Signature::F3ArchaicSendmail,
         "%FW-4-TCP_SENDMAIL_OLD_SIG: Archaic Sendmail Attacks - from 198.51.100.7 to 172.22.1.110"),
        (b"RCPT TO:<decode@example.test>\r\n", true, Signature::F4DecodeAlias,
         "%FW-4-TCP_SENDMAIL_DECODE: Sendmail Decode Alias - from 198.51.100.7 to 172.22.1.110"),
    ];
    for (line, needs_mail, sig, log) in cases {
        for mode in [Mode::Smtp, Mode::Esmtp] {
            let mut s = after_helo(Policy {
                mode,
                ..Policy::default()
            });
            if needs_mail {
                s.client_ok(b"MAIL FROM:<a@example.org>\r\n");
                s.server_ok(b"250 2.1.0 Ok\r\n");
            }
            let before = s.server_rx.len();
            let v = s.client(line);
            assert_eq!(v.forward, 0);
            assert_eq!(
                v.action,
                Action::ReplyAndClose {
                    reply: b"554 Transaction failed\r\n",
                    reason: CloseReason::Signature(sig)
                }
            );
            assert_eq!(s.server_rx.len(), before);
            assert_eq!(s.logs(), [log], "{mode:?}");
            assert_eq!(s.stats.sig(sig), 1);
            // byte by byte: same signature, same close
            let mut s = after_helo(Policy {
                mode,
                ..Policy::default()
            });
            if needs_mail {
                s.client_ok(b"MAIL FROM:<a@example.org>\r\n");
                s.server_ok(b"250 2.1.0 Ok\r\n");
            }
            for b in line {
                if s.client(std::slice::from_ref(b)).action != Action::Continue {
                    break;
                }
            }
            assert_eq!(close_reason(&s), Some(CloseReason::Signature(sig)));
            assert_eq!(s.logs(), [log]);
        }
    }
    // (e) VRFY: 3103 is off by default.
    let mut s = after_helo(smtp());
    s.client_ok(b"VRFY root\r\n");
    assert!(s.logs().is_empty());
}

#[test]
fn ids_signatures_when_enabled() {
    let p = Policy {
        signatures: SignatureSet::all().without(Signature::F2InvalidSender),
        spam_threshold: 2,
        ..smtp()
    };
    let mut s = after_helo(p);
    s.client_ok(b"VRFY root\r\n");
    s.server_ok(b"252 x\r\n");
    s.client(b"EXPN root\r\n");
    s.server_ok(b"500 x\r\n");
    s.client_ok(b"MAIL FROM:<|/bin/sh@x>\r\n");
    s.server_ok(b"250 x\r\n");
    for _ in 0..3 {
        s.client_ok(b"RCPT TO:<b@x>\r\n");
        s.server_ok(b"250 x\r\n");
    }
    let sigs: Vec<Signature> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Signature { sig } => Some(*sig),
            _ => None,
        })
        .collect();
    assert_eq!(
        sigs,
        [
            Signature::I2Reconnaissance,
            Signature::I2Reconnaissance,
            Signature::I1SmailAttack,
            Signature::I3MailSpam
        ]
    );
    assert!(s.logs().contains(
        &"%IDS-4-SMTP_SIG: Sig:3103:Sendmail Reconnaissance - from 198.51.100.7 to 172.22.1.110"
            .to_string()
    ));
}

/// I3 fires on "more than N" RCPT lines: not on the Nth, on the N+1th,
/// once per transaction (ESMTP pipelined, so the fast path counts them).
#[test]
fn mail_spam_fires_past_the_threshold_only() {
    let p = Policy {
        signatures: SignatureSet::default().with(Signature::I3MailSpam),
        spam_threshold: 2,
        ..Policy::esmtp()
    };
    let spam = |s: &Sim| {
        s.events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::Signature {
                        sig: Signature::I3MailSpam
                    }
                )
            })
            .count()
    };
    let mut s = Sim::greeted(p);
    s.client_ok(b"EHLO a.example\r\n");
    s.server_ok(b"250-mail.example.test\r\n250 PIPELINING\r\n");
    s.client_ok(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\n");
    assert_eq!(spam(&s), 0, "two RCPTs are not more than two");
    s.server_ok(b"250 ok\r\n250 ok\r\n250 ok\r\n");
    s.client_ok(b"RCPT TO:<d@x>\r\nRCPT TO:<e@x>\r\n");
    assert_eq!(spam(&s), 1, "the third fires, the fourth does not again");
    s.server_ok(b"250 ok\r\n250 ok\r\n");
    // A new transaction counts afresh.
    s.client_ok(b"RSET\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\n");
    assert_eq!(spam(&s), 1);
}

#[test]
fn header_signatures_close_in_data() {
    for (hdr, sig) in [
        (
            &b"Reply-To: `/bin/sh`@x\r\n"[..],
            Signature::F5MajordomoExec,
        ),
        (b"To: decode@example.test\r\n", Signature::F4DecodeAlias),
    ] {
        let mut s = in_data(smtp());
        let before = s.server_rx.len();
        let v = s.client(&[b"Subject: a\r\n", hdr, b"\r\nbody\r\n.\r\n"].concat());
        assert_eq!(v.forward, 0);
        assert_eq!(close_reason(&s), Some(CloseReason::Signature(sig)));
        assert_eq!(s.server_rx.len(), before);
    }
    // in the body they are content
    let mut s = in_data(smtp());
    s.client_ok(b"Subject: a\r\n\r\nReply-To: `x`\r\nTo: decode@x\r\n.\r\n");
}

#[test]
fn i4_i5_data_signatures() {
    let p = Policy {
        signatures: SignatureSet::all(),
        ..smtp()
    };
    let mut s = in_data(p);
    let name = [
        b"Content-Type: text/plain; name=\"".as_slice(),
        &[b'a'; 300],
        b"\"\r\n\r\n",
    ]
    .concat();
    s.client_ok(&name);
    s.client_ok(&[&[b'b'; 1200][..], b"\r\n.\r\n"].concat());
    let sigs: Vec<Signature> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Signature { sig } => Some(*sig),
            _ => None,
        })
        .collect();
    assert_eq!(
        sigs,
        [Signature::I4MimeFilename, Signature::I5OverlongDataLine]
    );
}

#[test]
fn signature_beats_illegal_line() {
    let mut s = after_helo(smtp());
    s.client(b"DEBUG\r\n");
    assert_eq!(
        close_reason(&s),
        Some(CloseReason::Signature(Signature::F3ArchaicSendmail))
    );
    assert_eq!(s.events.len(), 1);
    // F3 disabled: just an illegal command.
    let mut s = after_helo(Policy {
        signatures: SignatureSet::empty(),
        ..smtp()
    });
    s.client(b"WIZ\r\n");
    assert_eq!(s.stats.cmd_masked, 1);
}

// ---------------------------------------------------------------- D19

#[test]
fn d19_max_data() {
    let p = Policy {
        max_data: 1000,
        ..smtp()
    };
    // (a) exactly 1000 bytes of data section
    let mut s = in_data(p);
    let mut msg = vec![b'a'; 1000 - 5 - 2];
    msg.extend_from_slice(b"\r\n.\r\n");
    msg.splice(0..0, *b"\r\n");
    assert_eq!(msg.len(), 1000);
    s.client_ok(&msg);
    assert!(!s.insp.in_data());
    s.server_ok(b"250 2.0.0 Ok: queued\r\n");
    // (b) 700 + 800
    let mut s = in_data(p);
    let data = vec![b'x'; 1500];
    s.client_ok(&data[..700]);
    let before = s.server_rx.len();
    let v = s.client(&data[700..]);
    assert_eq!(v.forward, 300);
    assert_eq!(
        v.action,
        Action::ReplyAndClose {
            reply: b"552 Message size exceeds limit\r\n",
            reason: CloseReason::MaxData
        }
    );
    assert_eq!(s.server_rx.len() - before, 300);
    assert_eq!(
        log_lines(&s.events, "198.51.100.7:40031"),
        ["%FW-4-SMTP_MAX_DATA: SMTP session initiator (198.51.100.7:40031) exceeded max-data (1000 bytes), session closed"]
    );
    assert_eq!(s.stats.max_data_closes, 1);
}

#[test]
fn max_data_is_cumulative_per_session() {
    let p = Policy {
        max_data: 20,
        ..smtp()
    };
    let mut s = in_data(p);
    s.client_ok(b"0123456789\r\n.\r\n");
    s.server_ok(b"250 ok\r\n");
    s.client_ok(b"DATA\r\n");
    s.server_ok(b"354 go\r\n");
    let v = s.client(b"abcdefgh\r\n.\r\n");
    assert_eq!(v.forward, 5);
    assert_eq!(close_reason(&s), Some(CloseReason::MaxData));
}

// ---------------------------------------------------------------- BDAT (decision 3)

#[test]
fn bdat_illegal_by_default() {
    let mut s = esmtp_after_ehlo(esmtp());
    s.client(b"BDAT 5 LAST\r\n");
    assert_eq!(s.stats.cmd_masked, 1);
}

#[test]
fn bdat_option_counts_chunks() {
    let p = Policy {
        bdat: true,
        max_data: 12,
        ..esmtp()
    };
    let mut s = esmtp_after_ehlo(p);
    s.client_ok(b"MAIL FROM:<a> BODY=BINARYMIME\r\nRCPT TO:<b>\r\n");
    s.server_ok(b"250 ok\r\n250 ok\r\n");
    // Chunk data follows the command at once and may contain anything.
    s.client_ok(b"BDAT 6\r\nEXPN\r\n");
    s.client_ok(b"BDAT 0 LAST\r\n");
    s.server_ok(b"250 ok\r\n250 ok\r\n");
    assert_eq!(s.stats.messages, 1);
    assert_eq!(s.insp.data_bytes(), 6);
    s.client_ok(b"MAIL FROM:<a>\r\n");
    s.server_ok(b"250 ok\r\n");
    let v = s.client(b"BDAT 10 LAST\r\n0123456789");
    assert_eq!(v.forward, 14 + 6);
    assert_eq!(close_reason(&s), Some(CloseReason::MaxData));
    let mut s = esmtp_after_ehlo(Policy {
        bdat: true,
        ..esmtp()
    });
    s.client(b"BDAT x\r\n");
    assert_eq!(close_reason(&s), Some(CloseReason::InvalidParameter));
}

// ---------------------------------------------------------------- knobs

#[test]
fn mask_banner() {
    let mut s = Sim::new(Policy {
        mask_banner: true,
        ..smtp()
    });
    s.server(GREETING);
    let masked = [b"220 ".as_slice(), &[b'*'; 23], b"\r\n"].concat();
    assert_eq!(s.client_rx, masked);
    let mut s = Sim::new(smtp());
    s.server_ok(GREETING);
}

#[test]
fn legacy_pre_12_3_7t() {
    let p = Policy {
        legacy_pre_12_3_7t: true,
        ..esmtp()
    };
    let mut s = Sim::greeted(p);
    s.client(b"EHLO client.example.net\r\n");
    assert_eq!(s.server_rx, b"NOOP client.example.net\r\n");
    s.server(b"250 2.0.0 Ok\r\n");
    assert!(s.client_rx.ends_with(b"502 2.0.0 Ok\r\n"));
    s.client_ok(b"HELO a\r\n");
    s.server_ok(b"250 ok\r\n");
    let v = s.client(b"EXPN root\r\n");
    assert_eq!(v.forward, 0);
    assert_eq!(
        v.action,
        Action::Reset {
            reason: CloseReason::InvalidCommand
        }
    );
    assert_eq!(s.stats.legacy_resets, 1);
    let mut s = Sim::greeted(p);
    s.client_ok(b"HELO a\r\n");
    s.server_ok(b"250 ok\r\n");
    let v = s.client(b"WIZ\r\n");
    assert_eq!(
        v.action,
        Action::Reset {
            reason: CloseReason::Signature(Signature::F3ArchaicSendmail)
        }
    );
}

// ---------------------------------------------------------------- replies

#[test]
fn replies_malformed_multiline_unsolicited() {
    let mut s = Sim::greeted(smtp());
    s.client_ok(b"HELP\r\n");
    s.server_ok(b"214-help\r\n214-\r\nnot a reply line\r\n214\n");
    assert_eq!(s.stats.reply_malformed, 1);
    s.client_ok(b"NOOP\r\n");
    s.server_ok(b"250 ok\r\n");
    s.server_ok(b"421 shutting down\r\n");
    assert_eq!(s.stats.reply_unsolicited, 1);
    assert!(s.insp.server_closing());
    // replies split one byte at a time
    s.client_ok(b"NOOP\r\n");
    for b in b"250-a\r\n250 b\r\n" {
        s.server_ok(std::slice::from_ref(b));
    }
    s.client_ok(b"QUIT\r\n");
}

#[test]
fn end_of_stream_logs_open_masked_line() {
    let mut s = Sim::greeted(smtp());
    s.client(b"EXPN ro");
    assert!(s.logs().is_empty());
    s.insp.end_of_stream(&mut s.stats);
    while let Some(e) = s.insp.poll_event() {
        s.events.push(e);
    }
    assert_eq!(
        s.logs(),
        ["%FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) (total 7 chars) from initiator (198.51.100.7:40012)"]
    );
}

#[test]
fn event_queue_overflow_is_counted() {
    let mut s = esmtp_after_ehlo(esmtp());
    s.client_ok(b"MAIL FROM:<a>\r\n");
    s.server_ok(b"250 ok\r\n");
    let burst: Vec<u8> = (0..12)
        .flat_map(|_| b"EXPN a\r\n".iter().copied())
        .collect();
    let mut b = burst.clone();
    let v = s.insp.handle_client(&mut b, &mut s.stats);
    assert_eq!(v.forward, burst.len());
    assert_eq!(
        s.stats.events_dropped,
        12 - smtp_engine::EVENT_QUEUE_LEN as u64
    );
}

#[test]
fn reply_fifo_bound_withholds() {
    let mut s = esmtp_after_ehlo(esmtp());
    let burst: Vec<u8> = (0..40)
        .flat_map(|_| b"RCPT TO:<b@x>\r\n".iter().copied())
        .collect();
    let v = s.client(&burst);
    assert_eq!(v.forward, 32 * 15);
}

#[test]
fn stats_add_and_seed_debug_format() {
    let mut a = SmtpStats::default();
    let b = SmtpStats {
        cmd_lines: 3,
        ..SmtpStats::default()
    };
    a.add(&b);
    a.add(&b);
    assert_eq!(a.cmd_lines, 6);
    let mut out = String::new();
    fmt::write_debug(
        &DebugEvent::EndOfCommandLine { index: 1, len: 12 },
        &mut out,
    )
    .unwrap();
    assert_eq!(out, "CBAC SMTP: End Of Command Line - index:1, len:12");
}
