//! The `loadgen` binary: parses the command line and dispatches (see `loadgen --help`).
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use loadgen::cli::{Cli, Command};
use loadgen::responder::{Responder, ResponderConfig};
use loadgen::sys::signal;
use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("loadgen: {msg}");
    ExitCode::from(2)
}

fn json_or_text<T: serde::Serialize>(json: bool, v: &T, text: impl FnOnce() -> String) {
    if json {
        match serde_json::to_string_pretty(v) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("loadgen: json: {e}"),
        }
    } else {
        print!("{}", text());
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    signal::install();
    let stop: Arc<dyn Fn() -> bool + Send + Sync> = Arc::new(signal::interrupted);
    match cli.cmd {
        Command::Smtp(a) => {
            let cfg = match a.engine_config() {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            match loadgen::run::run(&cfg, &a.load.placement(), stop) {
                Ok(r) => {
                    json_or_text(a.load.json, &r, || r.to_text());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Tcp(a) => {
            let cfg = match a.engine_config() {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            match loadgen::run::run(&cfg, &a.load.placement(), stop) {
                Ok(r) => {
                    json_or_text(a.load.json, &r, || r.to_text());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Serve(a) => {
            if a.smtp.is_none() && a.echo.is_none() && a.udp.is_none() {
                return fail("give at least one of --smtp, --echo, --udp");
            }
            let r = Responder::spawn(ResponderConfig {
                smtp: a.smtp,
                echo: a.echo,
                udp: a.udp,
                max_connections: a.max_connections,
                hostname: a.hostname.clone(),
                netns: a.netns.clone(),
                cpu: a.cpu,
            });
            match r {
                Ok(r) => {
                    eprintln!(
                        "loadgen: serving smtp {:?} echo {:?} udp {:?}",
                        r.smtp, r.echo, r.udp
                    );
                    let until = a
                        .duration
                        .map(|d| std::time::Instant::now() + Duration::from_secs_f64(d));
                    r.serve_until(|| {
                        signal::interrupted()
                            || until.is_some_and(|u| std::time::Instant::now() >= u)
                    });
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Synflood(a) => match loadgen::synflood::main(&a, stop) {
            Ok(r) => {
                json_or_text(a.json, &r, || {
                    let mut s = format!(
                        "synflood: sent {} SYNs in {:.3} s ({:.0}/s), {} distinct sources, queue-full batches {}\n",
                        r.flood.sent, r.flood.elapsed_s, r.flood.achieved_pps, r.flood.distinct_sources, r.flood.queue_full
                    );
                    if let (Some(l), Some(ok)) = (&r.legit, r.legit_success_rate) {
                        s.push_str(&format!(
                            "legitimate sessions under attack: success {:.2} %\n",
                            ok * 100.0
                        ));
                        s.push_str(&l.to_text());
                    }
                    s
                });
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Thresholds(a) => match loadgen::thresholds::main(&a, stop) {
            Ok(r) => {
                json_or_text(a.json, &r, || loadgen::thresholds::to_text(&r));
                if r.pass {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(e),
        },
        Command::Compare(a) => match loadgen::compare::main(&a, stop) {
            Ok(r) => {
                json_or_text(a.json, &r, || loadgen::compare::to_text(&r));
                eprintln!("loadgen: chart written to {}", a.svg.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
    }
}
