//! The lab variants behave like the seed: the kernel-firewall ruleset lets only SMTP to the
//! static translation in, translates inside hosts on the way out, and drops the rest
//! silently; plain forwarding filters nothing. And the mailguard-driven commands fail
//! quickly and clearly (leaving no namespace behind) when mailguard cannot run.
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loadgen::engine::{EngineConfig, Load, Workload};
use loadgen::outcome::FailureKind;
use loadgen::report::Report;
use loadgen::responder::{Responder, ResponderConfig};
use loadgen::run::{run, Placement};
use loadgen::smtp_client::{message_body, SmtpPlan};
use loadgen::topo::{unique_id, Lab, Variant};

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn smtp(target: SocketAddrV4, count: u64) -> EngineConfig {
    EngineConfig {
        target,
        sources: vec![
            Ipv4Addr::new(198, 51, 100, 7),
            Ipv4Addr::new(198, 51, 100, 8),
        ],
        load: Load::Concurrency(2),
        count: Some(count),
        duration: None,
        session_timeout: Duration::from_secs(5),
        shared: vec![
            Arc::from(message_body(100, "a@b", "c@d")),
            Arc::from(message_body(100, "a@b", "c@d")),
        ],
        recv_size: 4096,
        workload: Workload::Smtp {
            plan: SmtpPlan {
                ehlo: false,
                helo_name: "client.example".into(),
                mail_from: "a@client.example".into(),
                rcpts: vec!["b@mail.example".into()],
                illegal_command: "XSHELL".into(),
                body: 0,
                large_body: 1,
            },
            mix: loadgen::mix::Mix::parse("legal").unwrap(),
            rcpts: 1,
        },
    }
}

fn tcp(target: SocketAddrV4, count: u64, timeout_ms: u64) -> EngineConfig {
    EngineConfig {
        target,
        sources: vec![],
        load: Load::Concurrency(1),
        count: Some(count),
        duration: None,
        session_timeout: Duration::from_millis(timeout_ms),
        shared: vec![Arc::from(&b"hello"[..])],
        recv_size: 1024,
        workload: Workload::TcpEcho,
    }
}

fn go(cfg: &EngineConfig, ns: &str) -> Report {
    run(
        cfg,
        &Placement {
            netns: Some(ns.into()),
            cpus: vec![],
            progress: false,
        },
        Arc::new(|| false),
    )
    .expect("run")
}

fn failures(r: &Report, k: FailureKind) -> u64 {
    r.failures.get(k.name()).copied().unwrap_or(0)
}

/// Accepts one connection inside `ns` and returns the peer's address.
fn peer_seen(ns: &str, listen: SocketAddrV4, connect_from: &str) -> Ipv4Addr {
    let (tx, rx) = std::sync::mpsc::channel();
    let ns_l = ns.to_string();
    let srv = std::thread::spawn(move || {
        loadgen::sys::netns::enter(&ns_l).unwrap();
        let l = TcpListener::bind(listen).unwrap();
        tx.send(()).unwrap();
        let (_, peer) = l.accept().unwrap();
        match peer {
            std::net::SocketAddr::V4(p) => *p.ip(),
            _ => unreachable!(),
        }
    });
    rx.recv().unwrap();
    let from = connect_from.to_string();
    std::thread::spawn(move || {
        loadgen::sys::netns::enter(&from).unwrap();
        TcpStream::connect_timeout(&listen.into(), Duration::from_secs(5)).unwrap();
    })
    .join()
    .unwrap();
    srv.join().unwrap()
}

#[test]
fn kernel_firewall_is_the_seed_policy() {
    if !is_root() {
        return;
    }
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up(&unique_id(), Variant::KernelFirewall).expect("lab");
    let _mail = Responder::spawn(ResponderConfig {
        smtp: Some(SocketAddrV4::new(Ipv4Addr::new(10, 10, 10, 2), 25)),
        echo: Some(SocketAddrV4::new(Ipv4Addr::new(10, 10, 10, 2), 80)),
        netns: Some(lab.ns.mail.clone()),
        ..ResponderConfig::default()
    })
    .unwrap();
    // access-list 101 + static NAT: SMTP to 172.22.1.110 gets through.
    let r = go(
        &smtp(SocketAddrV4::new(Ipv4Addr::new(172, 22, 1, 110), 25), 6),
        &lab.ns.client,
    );
    assert_eq!(r.ok, 6, "{:?}", r.failures);
    // Anything else inbound is dropped silently (no RST): port 80 on the mail server, and
    // port 25 on host5's translation (host5 would refuse it if it were forwarded).
    let r = go(
        &tcp(
            SocketAddrV4::new(Ipv4Addr::new(172, 22, 1, 110), 80),
            2,
            700,
        ),
        &lab.ns.client,
    );
    assert_eq!(
        failures(&r, FailureKind::ConnectTimeout),
        2,
        "{:?}",
        r.failures
    );
    let r = go(
        &tcp(
            SocketAddrV4::new(Ipv4Addr::new(172, 22, 1, 111), 25),
            2,
            700,
        ),
        &lab.ns.client,
    );
    assert_eq!(
        failures(&r, FailureKind::ConnectTimeout),
        2,
        "{:?}",
        r.failures
    );
    // Inside → outside is inspected and source-translated to the static address.
    let web = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 8080);
    assert_eq!(
        peer_seen(&lab.ns.client, web, &lab.ns.host5),
        Ipv4Addr::new(172, 22, 1, 111)
    );
    let web2 = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 8081);
    assert_eq!(
        peer_seen(&lab.ns.client, web2, &lab.ns.mail),
        Ipv4Addr::new(172, 22, 1, 110)
    );
}

#[test]
fn plain_forwarding_filters_nothing() {
    if !is_root() {
        return;
    }
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::up(&unique_id(), Variant::Plain).expect("lab");
    let _mail = Responder::spawn(ResponderConfig {
        smtp: Some(SocketAddrV4::new(Ipv4Addr::new(10, 10, 10, 2), 25)),
        netns: Some(lab.ns.mail.clone()),
        ..ResponderConfig::default()
    })
    .unwrap();
    assert_eq!(
        lab.smtp_target(),
        SocketAddrV4::new(Ipv4Addr::new(10, 10, 10, 2), 25)
    );
    let r = go(&smtp(lab.smtp_target(), 4), &lab.ns.client);
    assert_eq!(r.ok, 4, "{:?}", r.failures);
    // Nothing filters: host5 itself refuses port 25 with a RST.
    let r = go(
        &tcp(SocketAddrV4::new(Ipv4Addr::new(10, 10, 10, 5), 25), 2, 2000),
        &lab.ns.client,
    );
    assert_eq!(
        failures(&r, FailureKind::ConnectRefused),
        2,
        "{:?}",
        r.failures
    );
    // No translation: the outside sees the inside address.
    let web = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 8080);
    assert_eq!(
        peer_seen(&lab.ns.client, web, &lab.ns.host5),
        Ipv4Addr::new(10, 10, 10, 5)
    );
}

#[test]
fn missing_mailguard_is_a_quick_clear_error_and_leaves_nothing() {
    if !is_root() {
        return;
    }
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = Instant::now();
    let args = loadgen::thresholds::ThresholdArgs {
        mailguard: Some("/nonexistent/mailguard".into()),
        config: None,
        phases: vec!["host".into()],
        skip_off: true,
        workers: 1,
        dut_cpus: "0".into(),
        ready_timeout: 3,
        json: false,
    };
    let e = loadgen::thresholds::main(&args, Arc::new(|| false)).unwrap_err();
    assert!(e.contains("not found"), "{e}");
    // A binary that exits at once (`false`) is reported with its exit status.
    let args = loadgen::thresholds::ThresholdArgs {
        mailguard: Some("/bin/false".into()),
        ..args
    };
    let e = loadgen::thresholds::main(&args, Arc::new(|| false)).unwrap_err();
    assert!(e.contains("exited") || e.contains("did not answer"), "{e}");
    // A binary that starts but never answers hits the readiness deadline.
    let hung = std::env::temp_dir().join(format!("loadgen-hung-{}", std::process::id()));
    std::fs::write(&hung, "#!/bin/sh\nexec sleep 30\n").unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&hung)
        .status()
        .unwrap();
    let args = loadgen::thresholds::ThresholdArgs {
        mailguard: Some(hung.clone()),
        ..args
    };
    let e = loadgen::thresholds::main(&args, Arc::new(|| false)).unwrap_err();
    let _ = std::fs::remove_file(&hung);
    assert!(
        e.contains("did not answer on its control socket within 3 s"),
        "{e}"
    );
    assert!(t.elapsed() < Duration::from_secs(30));
    let pid = std::process::id().to_string();
    let left = loadgen::topo::run(&["ip", "netns", "list"]).unwrap();
    assert!(
        !left.lines().any(|l| l.starts_with(&format!("mg{pid}"))),
        "left behind: {left}"
    );
}
