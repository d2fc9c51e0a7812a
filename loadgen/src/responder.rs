//! A local responder for tests and labs: an SMTP server (`smtp_server`), a TCP echo server
//! and a UDP echo server, so the generator can be verified against something whose
//! behaviour is known exactly and whose cost is small.
//!
//! TCP services share one io_uring (`SlotRing`, with accepts kept outstanding); UDP echo is a
//! plain blocking loop. Everything runs in background threads (optionally inside a network
//! namespace and pinned to a core) and stops when the `Responder` is dropped.
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::smtp_server::{Next, SmtpServer};
use crate::sys::uring::{Completion, Op, SlotRing, Source};

/// Which services to run and where.
#[derive(Debug, Clone)]
pub struct ResponderConfig {
    pub smtp: Option<SocketAddrV4>,
    pub echo: Option<SocketAddrV4>,
    pub udp: Option<SocketAddrV4>,
    /// Concurrent TCP connections served.
    pub max_connections: usize,
    pub hostname: String,
    /// Run inside this network namespace.
    pub netns: Option<String>,
    /// Pin the responder threads to this CPU.
    pub cpu: Option<usize>,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        ResponderConfig {
            smtp: None,
            echo: None,
            udp: None,
            max_connections: 4096,
            hostname: "mail.example".into(),
            netns: None,
            cpu: None,
        }
    }
}

/// Counters the responder keeps (read by tests).
#[derive(Debug, Default)]
pub struct ResponderCounters {
    pub accepted: AtomicU64,
    pub messages: AtomicU64,
    pub udp_echoed: AtomicU64,
}

/// Running services; dropping stops and joins them.
pub struct Responder {
    pub smtp: Option<SocketAddrV4>,
    pub echo: Option<SocketAddrV4>,
    pub udp: Option<SocketAddrV4>,
    pub counters: Arc<ResponderCounters>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("smtp", &self.smtp)
            .field("echo", &self.echo)
            .field("udp", &self.udp)
            .finish()
    }
}

fn local_v4(l: &TcpListener) -> io::Result<SocketAddrV4> {
    match l.local_addr()? {
        std::net::SocketAddr::V4(a) => Ok(a),
        std::net::SocketAddr::V6(_) => Err(io::Error::other("IPv6 listener")),
    }
}

fn enter(netns: &Option<String>, cpu: Option<usize>) -> io::Result<()> {
    if let Some(ns) = netns {
        crate::sys::netns::enter(ns)?;
    }
    if let Some(c) = cpu {
        crate::pin(c)?;
    }
    Ok(())
}

impl Responder {
    /// Binds every configured service (port 0 picks a free port) and starts serving.
    pub fn spawn(cfg: ResponderConfig) -> io::Result<Responder> {
        let _ = crate::sys::sock::raise_nofile_limit();
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(ResponderCounters::default());
        let mut threads = Vec::new();
        let (tx, rx) = mpsc::channel::<io::Result<(Option<SocketAddrV4>, Option<SocketAddrV4>)>>();
        let mut smtp = None;
        let mut echo = None;
        if cfg.smtp.is_some() || cfg.echo.is_some() {
            let c = cfg.clone();
            let st = Arc::clone(&stop);
            let ctr = Arc::clone(&counters);
            threads.push(
                std::thread::Builder::new()
                    .name("responder-tcp".into())
                    .spawn(move || {
                        let setup = (|| {
                            enter(&c.netns, c.cpu)?;
                            let s = c.smtp.map(TcpListener::bind).transpose()?;
                            let e = c.echo.map(TcpListener::bind).transpose()?;
                            for l in s.iter().chain(e.iter()) {
                                crate::sys::sock::set_backlog(l.as_raw_fd(), 4096)?;
                            }
                            Ok((s, e))
                        })();
                        match setup {
                            Ok((s, e)) => {
                                let addrs = (|| {
                                    Ok((
                                        s.as_ref().map(local_v4).transpose()?,
                                        e.as_ref().map(local_v4).transpose()?,
                                    ))
                                })();
                                let ok = addrs.is_ok();
                                let _ = tx.send(addrs);
                                if ok {
                                    if let Err(err) =
                                        serve_tcp(&c, s.as_ref(), e.as_ref(), &st, &ctr)
                                    {
                                        eprintln!("loadgen responder: {err}");
                                    }
                                }
                            }
                            Err(e) => {
                                let _ = tx.send(Err(e));
                            }
                        }
                    })?,
            );
            let (s, e) = rx
                .recv()
                .map_err(|_| io::Error::other("responder thread died"))??;
            smtp = s;
            echo = e;
        }
        let mut udp = None;
        if let Some(addr) = cfg.udp {
            let (utx, urx) = mpsc::channel::<io::Result<SocketAddrV4>>();
            let c = cfg.clone();
            let st = Arc::clone(&stop);
            let ctr = Arc::clone(&counters);
            threads.push(
                std::thread::Builder::new()
                    .name("responder-udp".into())
                    .spawn(move || {
                        let sock = (|| {
                            enter(&c.netns, c.cpu)?;
                            let s = UdpSocket::bind(addr)?;
                            crate::sys::sock::set_recv_buffer(s.as_raw_fd(), 8 << 20)?;
                            s.set_read_timeout(Some(Duration::from_millis(100)))?;
                            Ok(s)
                        })();
                        match sock {
                            Ok(s) => {
                                let a = s.local_addr().map(|a| match a {
                                    std::net::SocketAddr::V4(a) => a,
                                    std::net::SocketAddr::V6(_) => {
                                        SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)
                                    }
                                });
                                let _ = utx.send(a);
                                serve_udp(&s, &st, &ctr);
                            }
                            Err(e) => {
                                let _ = utx.send(Err(e));
                            }
                        }
                    })?,
            );
            match urx.recv() {
                Ok(Ok(a)) => udp = Some(a),
                Ok(Err(e)) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                Err(_) => return Err(io::Error::other("responder udp thread died")),
            }
        }
        Ok(Responder {
            smtp,
            echo,
            udp,
            counters,
            stop,
            threads,
        })
    }

    /// Serves until `stop` returns true (polled every 100 ms), then shuts down.
    pub fn serve_until(self, stop: impl Fn() -> bool) {
        while !stop() {
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(self);
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve_udp(s: &UdpSocket, stop: &AtomicBool, ctr: &ResponderCounters) {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        match s.recv_from(&mut buf) {
            Ok((n, peer)) => {
                if s.send_to(&buf[..n], peer).is_ok() {
                    ctr.udp_echoed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Smtp,
    Echo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnPhase {
    Free,
    Accepting(Service),
    Open(Service),
    Closing,
}

/// Accepts kept outstanding per listener.
const ACCEPT_DEPTH: usize = 32;

fn serve_tcp(
    cfg: &ResponderConfig,
    smtp: Option<&TcpListener>,
    echo: Option<&TcpListener>,
    stop: &AtomicBool,
    ctr: &ResponderCounters,
) -> io::Result<()> {
    let n = cfg.max_connections.max(2 * ACCEPT_DEPTH + 2);
    let mut ring = SlotRing::new(n, 16 * 1024, Vec::new())?;
    let mut phase = vec![ConnPhase::Free; n];
    let mut servers: Vec<SmtpServer> = (0..n).map(|_| SmtpServer::new()).collect();
    let mut close_after = vec![false; n];
    let mut send_len = vec![0usize; n];
    let mut send_off = vec![0usize; n];
    let mut free: Vec<u32> = (0..n as u32).rev().collect();
    let listeners: Vec<(Service, i32)> = [(Service::Smtp, smtp), (Service::Echo, echo)]
        .into_iter()
        .filter_map(|(s, l)| l.map(|l| (s, l.as_raw_fd())))
        .collect();
    let mut accepting = vec![0usize; listeners.len()];
    let mut done: Vec<Completion> = Vec::with_capacity(n);
    let hostname = cfg.hostname.as_str();
    while !stop.load(Ordering::Relaxed) {
        for (li, &(svc, lfd)) in listeners.iter().enumerate() {
            while accepting[li] < ACCEPT_DEPTH {
                let Some(slot) = free.pop() else { break };
                match ring.accept(slot, lfd) {
                    Ok(Ok(())) => {
                        phase[slot as usize] = ConnPhase::Accepting(svc);
                        accepting[li] += 1;
                    }
                    _ => {
                        free.push(slot);
                        break;
                    }
                }
            }
        }
        done.clear();
        ring.wait(Duration::from_millis(50), &mut done)?;
        for c in done.iter().copied() {
            let i = c.slot as usize;
            let mut next: Option<Step> = None;
            match (c.op, phase[i]) {
                (Op::Accept, ConnPhase::Accepting(svc)) => {
                    if let Some(li) = listeners.iter().position(|l| l.0 == svc) {
                        accepting[li] -= 1;
                    }
                    if c.result < 0 {
                        phase[i] = ConnPhase::Free;
                        free.push(c.slot);
                        if c.result == -libc::EMFILE || c.result == -libc::ENFILE {
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        continue;
                    }
                    ctr.accepted.fetch_add(1, Ordering::Relaxed);
                    phase[i] = ConnPhase::Open(svc);
                    close_after[i] = false;
                    next = Some(match svc {
                        Service::Smtp => match ring.out_mut(c.slot) {
                            Ok(out) => {
                                servers[i].greet(hostname, out);
                                Step::Send
                            }
                            Err(_) => Step::Close,
                        },
                        Service::Echo => Step::Recv,
                    });
                }
                (Op::Recv, ConnPhase::Open(svc)) => {
                    if c.result <= 0 {
                        next = Some(Step::Close);
                    } else {
                        let len = c.result as usize;
                        next = Some(match ring.received_and_out(c.slot, len) {
                            Ok((data, out)) => match svc {
                                Service::Smtp => {
                                    out.clear();
                                    let nx = servers[i].on_data(data, hostname, out);
                                    let queued = count_queued(out);
                                    if queued > 0 {
                                        ctr.messages.fetch_add(queued, Ordering::Relaxed);
                                    }
                                    close_after[i] = nx == Next::Close;
                                    if out.is_empty() {
                                        Step::Recv
                                    } else {
                                        Step::Send
                                    }
                                }
                                Service::Echo => {
                                    out.clear();
                                    out.extend_from_slice(data);
                                    Step::Send
                                }
                            },
                            Err(_) => Step::Close,
                        });
                    }
                }
                (Op::Send, ConnPhase::Open(_)) => {
                    if c.result <= 0 {
                        next = Some(Step::Close);
                    } else {
                        send_off[i] += c.result as usize;
                        next = Some(if send_off[i] < send_len[i] {
                            Step::SendMore
                        } else if close_after[i] {
                            Step::Close
                        } else {
                            Step::Recv
                        });
                    }
                }
                (Op::Close, _) => {
                    phase[i] = ConnPhase::Free;
                    free.push(c.slot);
                }
                _ => {}
            }
            let Some(step) = next else { continue };
            let ok = match step {
                Step::Send => {
                    send_len[i] = ring.out_mut(c.slot).map(|o| o.len()).unwrap_or(0);
                    send_off[i] = 0;
                    matches!(ring.send(c.slot, Source::Out, 0), Ok(Ok(())))
                }
                Step::SendMore => matches!(ring.send(c.slot, Source::Out, send_off[i]), Ok(Ok(()))),
                Step::Recv => matches!(ring.recv(c.slot), Ok(Ok(()))),
                Step::Close => {
                    phase[i] = ConnPhase::Closing;
                    matches!(ring.close(c.slot), Ok(Ok(())))
                }
            };
            if !ok {
                phase[i] = ConnPhase::Closing;
                if !matches!(ring.close(c.slot), Ok(Ok(()))) {
                    phase[i] = ConnPhase::Free;
                    free.push(c.slot);
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Send,
    SendMore,
    Recv,
    Close,
}

/// Number of "message queued" replies in a reply batch (for the responder's counters).
fn count_queued(out: &[u8]) -> u64 {
    memchr::memmem::find_iter(out, b"250 2.0.0 Ok: queued").count() as u64
}
