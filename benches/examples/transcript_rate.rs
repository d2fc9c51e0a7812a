//! The transcript corpus of `benches/smtp.rs` (`smtp_command_lines/transcripts`)
//! in CPU time, for profiling under callgrind:
//! `cargo run --release -p mailguard-benches --example transcript_rate`
//! (`TRANSCRIPT_ROUNDS=N` passes over the 256-session corpus, default 2 000).

use mailguard_benches::smtp_corpus::{transcript_corpus, COMMAND_LINES_PER_SESSION};
use smtp_engine::{Inspector, Policy, SmtpStats};

/// On-CPU nanoseconds of the calling thread.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let rounds: usize = std::env::var("TRANSCRIPT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let policy = Policy::esmtp();
    let mut corpus = transcript_corpus(256);
    let mut stats = SmtpStats::default();
    let c0 = cpu_ns();
    let mut forwarded = 0usize;
    for _ in 0..rounds {
        for session in corpus.iter_mut() {
            let mut insp = Inspector::new(&policy);
            for (client, seg) in session.iter_mut() {
                let v = if *client {
                    insp.handle_client(seg, &mut stats)
                } else {
                    insp.handle_server(seg, &mut stats)
                };
                forwarded += v.forward;
                while let Some(e) = insp.poll_event() {
                    std::hint::black_box(e);
                }
            }
        }
    }
    let ns = (cpu_ns() - c0) as f64;
    let sessions = (rounds * corpus.len()) as f64;
    let lines = sessions * COMMAND_LINES_PER_SESSION as f64;
    println!(
        "transcripts sessions={sessions} fwd={forwarded} cpu {:.1} ns/session -> {:.2} M command lines/s per core (cpu time)",
        ns / sessions,
        lines / ns * 1e3
    );
}
