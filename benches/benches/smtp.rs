//! SMTP inspector throughput (criterion, `Throughput::Bytes`):
//! - `smtp_command`: whole ESMTP transcripts (commands, pipelined groups,
//!   replies incl. the EHLO reply) through fresh inspectors, against a memchr
//!   line split of the same bytes;
//! - `smtp_command_lines`: command lines/s, for the transcripts and for
//!   established sessions (ESMTP pipelined groups, SMTP lockstep);
//! - `smtp_data`: a 256 KiB realistic message in MSS-sized segments through an
//!   inspector in DATA state, against a memchr line split of the same bytes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mailguard_benches::smtp_corpus::{
    command_rounds, corpus_bytes, ehlo_reply, memchr_line_split, message_body, transcript_corpus,
    COMMAND_LINES_PER_SESSION,
};
use smtp_engine::{Action, Inspector, Policy, SmtpStats};

const SESSIONS: usize = 256;
const MSS: usize = 1448;

fn run_transcripts(
    corpus: &mut [Vec<(bool, Vec<u8>)>],
    policy: &Policy,
    stats: &mut SmtpStats,
) -> usize {
    let mut forwarded = 0;
    for session in corpus.iter_mut() {
        let mut insp = Inspector::new(policy);
        for (client, seg) in session.iter_mut() {
            let v = if *client {
                insp.handle_client(seg, stats)
            } else {
                insp.handle_server(seg, stats)
            };
            forwarded += v.forward;
            while let Some(e) = insp.poll_event() {
                black_box(e);
            }
        }
    }
    forwarded
}

fn command_phase(c: &mut Criterion) {
    let policy = Policy::esmtp();
    let mut corpus = transcript_corpus(SESSIONS);
    let bytes = corpus_bytes(&corpus);
    // Sanity: the corpus is legal and passes whole.
    let mut stats = SmtpStats::default();
    assert_eq!(
        run_transcripts(&mut corpus, &policy, &mut stats) as u64,
        bytes
    );
    assert_eq!(
        stats.cmd_masked + stats.withheld_bytes + stats.reply_close,
        0
    );

    let mut g = c.benchmark_group("smtp_command");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("inspector", |b| {
        let mut stats = SmtpStats::default();
        b.iter(|| black_box(run_transcripts(&mut corpus, &policy, &mut stats)))
    });
    g.bench_function("memchr_lines", |b| {
        b.iter(|| {
            let mut n = (0, 0);
            for (_, seg) in corpus.iter().flatten() {
                let (l, t) = memchr_line_split(black_box(seg));
                n.0 += l;
                n.1 += t;
            }
            black_box(n)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("smtp_command_lines");
    g.throughput(Throughput::Elements(
        COMMAND_LINES_PER_SESSION * SESSIONS as u64,
    ));
    g.bench_function("transcripts", |b| {
        let mut stats = SmtpStats::default();
        b.iter(|| black_box(run_transcripts(&mut corpus, &policy, &mut stats)))
    });
    // Established sessions: command lines and their replies only.
    for (name, pipelined) in [("esmtp_pipelined", true), ("smtp_lockstep", false)] {
        let policy = if pipelined {
            Policy::esmtp()
        } else {
            Policy::default()
        };
        let mut stats = SmtpStats::default();
        let mut insp = Inspector::new(&policy);
        let mut prelude: Vec<(bool, Vec<u8>)> =
            vec![(false, b"220 mail.example.test ESMTP\r\n".to_vec())];
        if pipelined {
            prelude.push((true, b"EHLO relay.example.net\r\n".to_vec()));
            prelude.push((false, ehlo_reply().to_vec()));
        }
        for (client, mut seg) in prelude {
            if client {
                insp.handle_client(&mut seg, &mut stats);
            } else {
                insp.handle_server(&mut seg, &mut stats);
            }
        }
        let mut rounds = command_rounds(pipelined);
        const REPEAT: u64 = 64;
        let lines: u64 = rounds.iter().map(|r| r.2).sum::<u64>() * REPEAT;
        let mut check = insp.clone();
        for (c, r, _) in rounds.iter_mut() {
            assert_eq!(check.handle_client(c, &mut stats).forward, c.len());
            assert_eq!(check.handle_server(r, &mut stats).forward, r.len());
        }
        g.throughput(Throughput::Elements(lines));
        g.bench_function(name, |b| {
            let mut stats = SmtpStats::default();
            b.iter(|| {
                let mut fwd = 0;
                for _ in 0..REPEAT {
                    for (c, r, _) in rounds.iter_mut() {
                        fwd += insp.handle_client(c, &mut stats).forward;
                        fwd += insp.handle_server(r, &mut stats).forward;
                    }
                }
                black_box(fwd)
            })
        });
    }
    g.finish();
}

fn data_phase(c: &mut Criterion) {
    let policy = Policy::default();
    let mut stats = SmtpStats::default();
    let mut ready = Inspector::new(&policy);
    for (client, seg) in [
        (false, &b"220 mail.example.test ESMTP\r\n"[..]),
        (true, b"HELO relay.example.net\r\n"),
        (false, b"250 mail.example.test\r\n"),
        (true, b"MAIL FROM:<alice@example.net>\r\n"),
        (false, b"250 2.1.0 Ok\r\n"),
        (true, b"RCPT TO:<bob@example.test>\r\n"),
        (false, b"250 2.1.5 Ok\r\n"),
        (true, b"DATA\r\n"),
        (false, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
    ] {
        let mut b = seg.to_vec();
        if client {
            ready.handle_client(&mut b, &mut stats);
        } else {
            ready.handle_server(&mut b, &mut stats);
        }
    }
    assert!(ready.in_data());
    let mut body = message_body(256 * 1024);
    let len = body.len();
    {
        let mut insp = ready.clone();
        let mut fwd = 0;
        for seg in body.chunks_mut(MSS) {
            let v = insp.handle_client(seg, &mut stats);
            assert_eq!(v.action, Action::Continue);
            fwd += v.forward;
        }
        assert_eq!(fwd, len);
        assert!(!insp.in_data());
    }

    let mut g = c.benchmark_group("smtp_data");
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("inspector", |b| {
        let mut stats = SmtpStats::default();
        b.iter(|| {
            let mut insp = ready.clone();
            let mut fwd = 0;
            for seg in body.chunks_mut(MSS) {
                fwd += insp.handle_client(seg, &mut stats).forward;
            }
            black_box(fwd)
        })
    });
    g.bench_function("memchr_lines", |b| {
        b.iter(|| {
            let mut n = (0, 0);
            for seg in body.chunks(MSS) {
                let (l, t) = memchr_line_split(black_box(seg));
                n.0 += l;
                n.1 += t;
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, command_phase, data_phase);
criterion_main!(benches);
