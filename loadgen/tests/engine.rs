//! The generator against the in-crate responder on 127.0.0.1: counts are exact, the
//! open-loop schedule holds its rate, failures are classified, and the report adds up.
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use loadgen::engine::{self, EngineConfig, Load, Workload};
use loadgen::mix::Mix;
use loadgen::report::Stats;
use loadgen::responder::{Responder, ResponderConfig};
use loadgen::smtp_client::{message_body, Script, SessionKind, SmtpPlan};

fn lo(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

fn responder() -> Responder {
    Responder::spawn(ResponderConfig {
        smtp: Some(lo(0)),
        echo: Some(lo(0)),
        udp: Some(lo(0)),
        max_connections: 1024,
        ..ResponderConfig::default()
    })
    .expect("responder")
}

fn plan(ehlo: bool) -> SmtpPlan {
    SmtpPlan {
        ehlo,
        helo_name: "client.example".into(),
        mail_from: "a@client.example".into(),
        rcpts: vec!["b@mail.example".into(), "c@mail.example".into()],
        illegal_command: "XSHELL ls".into(),
        body: 0,
        large_body: 1,
    }
}

fn smtp_cfg(
    target: SocketAddrV4,
    mix: &str,
    load: Load,
    count: Option<u64>,
    duration: Option<Duration>,
) -> EngineConfig {
    EngineConfig {
        target,
        sources: vec![],
        load,
        count,
        duration,
        session_timeout: Duration::from_secs(10),
        shared: vec![
            Arc::from(message_body(100, "a@client.example", "b@mail.example")),
            Arc::from(message_body(200_000, "a@client.example", "b@mail.example")),
        ],
        recv_size: 4096,
        workload: Workload::Smtp {
            plan: plan(false),
            mix: Mix::parse(mix).unwrap(),
            rcpts: 2,
        },
    }
}

fn echo_cfg(target: SocketAddrV4, workload: Workload, load: Load, count: u64) -> EngineConfig {
    EngineConfig {
        target,
        sources: vec![],
        load,
        count: Some(count),
        duration: None,
        session_timeout: Duration::from_secs(5),
        shared: vec![Arc::from(
            &b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"[..],
        )],
        recv_size: 2048,
        workload,
    }
}

/// The machine has two cores: tests that measure rates run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A responder counter once it has caught up: the responder counts after it
/// answered, so the client can see the answer (and the test read the counter)
/// a moment before the responder's thread adds it. Waits up to 5 s for `want`,
/// then returns whatever the counter says.
fn settled(counter: &std::sync::atomic::AtomicU64, want: u64) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = counter.load(Ordering::Relaxed);
        if n >= want || std::time::Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn go(cfg: &EngineConfig) -> Stats {
    engine::run(cfg, &mut |_, _| {}, &|| false).expect("engine run")
}

#[test]
fn smtp_mix_counts_are_exact() {
    let _serial = serial();
    let r = responder();
    let cfg = smtp_cfg(
        r.smtp.unwrap(),
        "legal=1,pipelined=1,illegal=1,large=1",
        Load::Concurrency(40),
        Some(400),
        None,
    );
    let s = go(&cfg);
    assert_eq!(s.started, 400);
    assert_eq!(s.ok, 400, "failures {:?}", s.failures);
    assert_eq!(s.failed(), 0);
    assert_eq!(s.connect.len(), 400);
    assert_eq!(s.session.len(), 400);
    // Every session got exactly its script's replies; illegal sessions one 500 each.
    let per_kind: u64 = SessionKind::ALL
        .iter()
        .map(|&k| Script::new(k, 2).replies() as u64)
        .sum();
    assert_eq!(s.replies.total(), 100 * per_kind);
    assert_eq!(s.replies.get(500), 100);
    assert_eq!(s.replies.get(220), 400);
    assert_eq!(s.replies.get(221), 400);
    assert_eq!(s.replies.get(354), 400);
    assert_eq!(settled(&r.counters.messages, 400), 400);
    assert_eq!(settled(&r.counters.accepted, 400), 400);
}

#[test]
fn tcp_echo_and_udp_counts_are_exact() {
    let _serial = serial();
    let r = responder();
    let s = go(&echo_cfg(
        r.echo.unwrap(),
        Workload::TcpEcho,
        Load::Concurrency(16),
        1000,
    ));
    assert_eq!(
        (s.started, s.ok, s.failed()),
        (1000, 1000, 0),
        "{:?}",
        s.failures
    );
    assert_eq!(s.bytes_sent, 64 * 1000);
    assert_eq!(s.bytes_received, 64 * 1000);
    let s = go(&echo_cfg(
        r.udp.unwrap(),
        Workload::Udp,
        Load::Concurrency(8),
        2000,
    ));
    assert_eq!(
        (s.started, s.ok, s.failed()),
        (2000, 2000, 0),
        "{:?}",
        s.failures
    );
    assert_eq!(settled(&r.counters.udp_echoed, 2000), 2000);
}

#[test]
fn open_loop_rate_within_two_percent_and_count_exact() {
    let _serial = serial();
    let r = responder();
    let rate = 2000.0;
    let cfg = smtp_cfg(
        r.smtp.unwrap(),
        "legal",
        Load::Rate {
            per_s: rate,
            max_in_flight: 3000,
        },
        None,
        Some(Duration::from_millis(2000)),
    );
    let s = go(&cfg);
    // A 2 s schedule at 2000/s has exactly 4000 starts (due times 0 … 1.9995 s).
    assert_eq!(s.started, 4000);
    assert_eq!(s.ok + s.failed(), 4000);
    assert_eq!(s.ok, 4000, "{:?}", s.failures);
    let achieved = s.fitted_start_rate();
    assert!(
        (achieved - rate).abs() / rate < 0.02,
        "achieved {achieved}/s vs {rate}/s"
    );
    assert_eq!(s.start_lag.len(), 4000);
}

#[test]
fn open_loop_udp_rate_with_count() {
    let _serial = serial();
    let r = responder();
    let cfg = echo_cfg(
        r.udp.unwrap(),
        Workload::Udp,
        Load::Rate {
            per_s: 5000.0,
            max_in_flight: 256,
        },
        5000,
    );
    let s = go(&cfg);
    assert_eq!(s.started, 5000);
    assert_eq!(s.ok, 5000, "{:?}", s.failures);
    let achieved = s.fitted_start_rate();
    assert!(
        (achieved - 5000.0).abs() / 5000.0 < 0.02,
        "achieved {achieved}/s"
    );
}

#[test]
fn refused_and_silent_servers_are_classified() {
    let _serial = serial();
    // A port with no listener: every connect is refused.
    let port = {
        let l = TcpListener::bind(lo(0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let s = go(&echo_cfg(
        lo(port),
        Workload::TcpEcho,
        Load::Concurrency(4),
        20,
    ));
    assert_eq!(
        s.failures[loadgen::outcome::FailureKind::ConnectRefused.index()],
        20
    );
    assert_eq!(s.ok, 0);

    // A listener that completes handshakes (backlog) but never speaks: SMTP sessions wait
    // for a banner until the session timeout.
    let silent = TcpListener::bind(lo(0)).unwrap();
    let a = match silent.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        _ => unreachable!(),
    };
    let mut cfg = smtp_cfg(a, "legal", Load::Concurrency(5), Some(5), None);
    cfg.session_timeout = Duration::from_millis(300);
    let t = std::time::Instant::now();
    let s = go(&cfg);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "bounded by the session timeout"
    );
    assert_eq!(
        s.failures[loadgen::outcome::FailureKind::Timeout.index()],
        5,
        "{:?}",
        s.failures
    );

    // Open loop with one slot against the silent server: the busy slot makes later starts
    // NoSlot, and the total still adds up exactly.
    let mut cfg = smtp_cfg(
        a,
        "legal",
        Load::Rate {
            per_s: 200.0,
            max_in_flight: 1,
        },
        Some(20),
        None,
    );
    cfg.session_timeout = Duration::from_millis(200);
    let s = go(&cfg);
    assert_eq!(s.started, 20);
    assert_eq!(s.ok + s.failed(), 20);
    assert!(
        s.failures[loadgen::outcome::FailureKind::NoSlot.index()] >= 10,
        "{:?}",
        s.failures
    );
}

#[test]
fn stop_flag_ends_a_long_run_promptly() {
    let _serial = serial();
    let r = responder();
    let cfg = echo_cfg(
        r.echo.unwrap(),
        Workload::TcpEcho,
        Load::Concurrency(4),
        u64::MAX,
    );
    let t = std::time::Instant::now();
    let s = engine::run(&cfg, &mut |_, _| {}, &|| {
        t.elapsed() > Duration::from_millis(300)
    })
    .unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(s.ok > 0);
    assert_eq!(s.ok + s.failed(), s.started);
}

#[test]
fn two_pinned_engines_split_the_count_exactly() {
    let _serial = serial();
    let r = responder();
    let cfg = echo_cfg(
        r.echo.unwrap(),
        Workload::TcpEcho,
        Load::Concurrency(8),
        1001,
    );
    let place = loadgen::run::Placement {
        netns: None,
        cpus: vec![0, 1],
        progress: false,
    };
    let rep = loadgen::run::run(&cfg, &place, Arc::new(|| false)).expect("run");
    assert_eq!((rep.started, rep.ok, rep.failed), (1001, 1001, 0));
    assert_eq!(rep.session_latency.count, 1001);
    assert!(rep.load.contains("2 engines"), "{}", rep.load);
    assert!(rep.cpu.generator_s > 0.0);
    assert!(rep.ok_per_generator_cpu_s > 0.0);
}
