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
                        "synflood: sent {} SYNs in {:.3} s ({:.0}/s), {} distinct (source, port) pairs, queue-full batches {}\n",
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
        Command::Lab(a) => lab(&a),
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

/// `loadgen lab`: a lab with responders for manual runs of the other subcommands.
fn lab(a: &loadgen::cli::LabArgs) -> ExitCode {
    use loadgen::topo::{unique_id, Lab, Variant};
    use std::net::{Ipv4Addr, SocketAddrV4};
    if a.clean {
        for n in loadgen::topo::clean_stale() {
            println!("deleted stale namespace {n}");
        }
        return ExitCode::SUCCESS;
    }
    let variant = match a.variant.as_str() {
        "kernel" => Variant::KernelFirewall,
        "plain" => Variant::Plain,
        "mailguard" => Variant::Mailguard,
        v => {
            return fail(format!(
                "unknown lab variant {v:?} (kernel, plain, mailguard)"
            ))
        }
    };
    if !(a.duration > 0.0 && a.duration <= 86_400.0) {
        return fail("--duration must be in (0, 86400] s");
    }
    let mut lab = match Lab::up(&unique_id(), variant) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let mg = if variant == Variant::Mailguard {
        let bin = a
            .mailguard
            .clone()
            .unwrap_or_else(loadgen::cli::default_mailguard);
        match loadgen::mailguard::Mailguard::start(
            &mut lab,
            &bin,
            loadgen::mailguard::SEED_CFG,
            1,
            &a.dut_cpus,
            Duration::from_secs(10),
        ) {
            Ok(m) => {
                println!(
                    "mailguard pid {} control {} log {}",
                    m.pid,
                    m.control.display(),
                    m.log.display()
                );
                Some(m)
            }
            Err(e) => return fail(e),
        }
    } else {
        None
    };
    let mail = Responder::spawn(ResponderConfig {
        smtp: Some(SocketAddrV4::new(Ipv4Addr::new(10, 10, 10, 2), 25)),
        netns: Some(lab.ns.mail.clone()),
        cpu: a.cpu,
        ..ResponderConfig::default()
    });
    let web = Responder::spawn(ResponderConfig {
        echo: Some(SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 80)),
        udp: Some(SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 7)),
        netns: Some(lab.ns.client.clone()),
        cpu: a.cpu,
        ..ResponderConfig::default()
    });
    let (mail, web) = match (mail, web) {
        (Ok(m), Ok(w)) => (m, w),
        (Err(e), _) | (_, Err(e)) => return fail(format!("responders: {e}")),
    };
    println!(
        "lab {} ({}) up for {} s; namespaces:",
        lab.id,
        variant.name(),
        a.duration
    );
    for n in lab.ns.all() {
        println!("  {n}");
    }
    println!("SMTP target {} from {} (sources 198.51.100.7, .8; client interface c0, gateway 198.51.100.1)", lab.smtp_target(), lab.ns.client);
    println!(
        "TCP echo 203.0.113.9:80, UDP echo 203.0.113.9:7 from {}",
        lab.ns.host5
    );
    let until = std::time::Instant::now() + Duration::from_secs_f64(a.duration);
    while !signal::interrupted() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(web);
    drop(mail);
    drop(lab);
    drop(mg);
    eprintln!("loadgen: lab torn down");
    ExitCode::SUCCESS
}
