//! Real-packet checks of the ring path: the do-nothing [`Forwarder`] runs on
//! AF_PACKET rings in the lab's firewall namespace and raw frames are sent
//! and captured on its two sides; plus a small `sendmmsg` frame blaster to
//! measure forwarding rates.
//!
//! Why raw frames and an L2 test: the Forwarder is a wire (port 0 ⇄ port 1,
//! frames unchanged), it does not route. So the checks put the frame's
//! destination MAC on the far side's host (frames in == frames out, bytes
//! unchanged), and for ping/TCP the isp side gets an extra address in the
//! inside subnet ([`ISP_INSIDE_ALIAS`]) so ARP and IP cross the wire as on a
//! switch. Sender and receiver are threads that enter the namespaces
//! ([`super::netns::enter`]) and use this crate's own AF_PACKET backend.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::{ifname, netns, Lab, LabError};
use crate::io::afpacket::{AfPacketIo, Fanout, FanoutMode, PortConfig, RingConfig};
use crate::io::csum::{complete_l4_checksum, internet_checksum};
use crate::io::steer::PeerSide;
use crate::io::{IoError, PortIo, TxSink};
use crate::worker::{
    thread_cpu_ns, totals_of, CounterSnapshot, Forwarder, WorkerConfig, WorkerError, Workers,
};

/// Marker at the start of every test frame's UDP payload.
pub const MARKER: [u8; 4] = *b"MGFW";
/// Destination of inbound test frames: the mail server's MAC but an address
/// nobody owns, so its kernel drops them silently (forwarding is off there)
/// instead of answering with ICMP and ARPing for its gateway. Outbound test
/// frames go to 203.0.113.10+ (no route at isp, and no route back to this
/// source for an ICMP error): nothing but the test frames crosses the wire.
pub const SILENT_INSIDE: [u8; 4] = [10, 10, 10, 200];
/// EtherType no kernel protocol handles (IEEE 802 local experimental).
pub const ETHERTYPE_LOCAL_EXPERIMENTAL: u16 = 0x88b5;
/// Address given to isp's `i1` for the L2 ping/TCP check.
pub const ISP_INSIDE_ALIAS: &str = "10.10.10.99/24";

/// Errors of the checks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// Lab setup or command.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// Packet I/O.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Workers.
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// Sockets of the TCP check.
    #[error("tcp check: {0}")]
    Tcp(std::io::Error),
    /// A helper thread died.
    #[error("helper thread failed: {0}")]
    Thread(String),
}

/// Build an Ethernet/IPv4/UDP test frame of `len` bytes (≥ 50) carrying
/// [`MARKER`] and `seq`, with correct IPv4 and UDP checksums.
pub fn test_frame(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src_ip: [u8; 4],
    dst_ip: [u8; 4],
    sport: u16,
    seq: u32,
    len: usize,
) -> Vec<u8> {
    let len = len.max(50);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (len - 14) as u16;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[18..20].copy_from_slice(&(seq as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&src_ip);
    f[30..34].copy_from_slice(&dst_ip);
    let c = internet_checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes()); // discard
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f[42..46].copy_from_slice(&MARKER);
    f[46..50].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[50..].iter_mut().enumerate() {
        *b = (i as u8) ^ (seq as u8);
    }
    complete_l4_checksum(&mut f);
    f
}

fn is_test_frame(f: &[u8]) -> bool {
    f.len() >= 50 && f[12..14] == [0x08, 0x00] && f[23] == 17 && f[42..46] == MARKER
}

fn single_port(ifname: &str) -> Result<AfPacketIo, IoError> {
    AfPacketIo::open(&[PortConfig {
        ifname: ifname.to_string(),
        ring: RingConfig::default(),
        fanout: None,
    }])
}

/// How several forwarder workers share a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanoutChoice {
    /// `PACKET_FANOUT_CBPF` with the peer-hash program (the design's choice).
    PeerHash,
    /// `PACKET_FANOUT_HASH` (kernel flow hash), for comparison.
    KernelHash,
}

/// Start the Forwarder on the lab's firewall ports with `workers` workers
/// (pinned to `cores`, if any). Several workers share each port through a
/// fanout group and steer by the peer hash (handing off what the kernel
/// delivered elsewhere).
pub fn start_forwarder(
    lab: &Lab,
    workers: usize,
    cores: Vec<usize>,
    fanout: FanoutChoice,
) -> Result<Workers<AfPacketIo, Forwarder>, CheckError> {
    let fw_ns = lab.ns.fw.clone();
    let group_base = (std::process::id() as u16).wrapping_mul(2);
    let cfg = WorkerConfig {
        workers,
        cores,
        idle_timeout: Duration::from_micros(200),
        ..WorkerConfig::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let w = Workers::spawn(cfg, stop, move |i| {
        let setup = |reason: String| WorkerError::Setup { worker: i, reason };
        // Sockets stay in the namespace they were opened in: the thread
        // only needs to be there while opening them.
        let guard = netns::enter(&fw_ns).map_err(|e| setup(e.to_string()))?;
        let port = |name: &str, k: u16, side: PeerSide| PortConfig {
            ifname: name.to_string(),
            ring: RingConfig::default(),
            fanout: (workers > 1).then_some(Fanout {
                group_id: group_base.wrapping_add(k),
                mode: match fanout {
                    FanoutChoice::PeerHash => FanoutMode::PeerHash(side),
                    FanoutChoice::KernelHash => FanoutMode::Hash,
                },
            }),
        };
        let io = AfPacketIo::open(&[
            port(ifname::FW_OUTSIDE, 0, PeerSide::Source),
            port(ifname::FW_INSIDE, 1, PeerSide::Destination),
        ])
        .map_err(|source| WorkerError::Io { worker: i, source })?;
        drop(guard);
        Ok((
            io,
            Forwarder {
                steer_by_peer_hash: workers > 1,
            },
        ))
    })?;
    Ok(w)
}

/// A capture thread; joining it yields the test frames it saw.
type Collector = std::thread::JoinHandle<Result<Vec<Vec<u8>>, CheckError>>;

/// Capture test frames on `ifname` in namespace `ns` until `want` arrived or
/// `timeout` passed. Returns a receiver that yields the frames; `ready` is
/// signalled once the socket is open.
fn spawn_collector(
    ns: String,
    ifname: &'static str,
    want: usize,
    timeout: Duration,
) -> Result<Collector, CheckError> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let h = std::thread::spawn(move || -> Result<Vec<Vec<u8>>, CheckError> {
        let opened = netns::enter(&ns)
            .map_err(CheckError::from)
            .and_then(|g| Ok((g, single_port(ifname)?)));
        let (_guard, mut io) = match opened {
            Ok(v) => {
                let _ = ready_tx.send(Ok(()));
                v
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e.to_string()));
                return Err(e);
            }
        };
        let mut got = Vec::with_capacity(want);
        let deadline = Instant::now() + timeout;
        while got.len() < want && Instant::now() < deadline {
            let n = io.rx_burst(0, |b| {
                got.extend(b.iter().filter(|f| is_test_frame(f)).map(|f| f.to_vec()))
            })?;
            if n == 0 {
                io.wait_rx(Duration::from_millis(5))?;
            }
        }
        Ok(got)
    });
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(h),
        Ok(Err(e)) => {
            let _ = h.join();
            Err(CheckError::Thread(e))
        }
        Err(_) => Err(CheckError::Thread("collector died".into())),
    }
}

/// Send `frames` from `ifname` in namespace `ns`, in batches of 128 frames
/// per `sendmmsg`. Returns how many the kernel accepted.
pub fn send_frames(ns: &str, ifname: &str, frames: &[Vec<u8>]) -> Result<usize, CheckError> {
    let _guard = netns::enter(ns)?;
    let mut io = single_port(ifname)?;
    let mut tx = TxSink::with_capacity(128);
    let mut sent = 0;
    for chunk in frames.chunks(128) {
        for f in chunk {
            let _ = tx.push(0, f);
        }
        sent += io.tx_flush(&mut tx)?;
    }
    Ok(sent)
}

/// Result of [`frames_cross_unchanged`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossReport {
    /// Frames sent from isp toward the mail server.
    pub sent_in: usize,
    /// Of those, received by the mail server byte-identical.
    pub received_in: usize,
    /// Frames sent from the mail server toward isp.
    pub sent_out: usize,
    /// Of those, received by isp byte-identical.
    pub received_out: usize,
    /// Frames received that were not sent (changed or duplicated).
    pub unexpected: usize,
    /// Worker counters after the run.
    pub workers: CounterSnapshot,
    /// Frames each worker received from its rings (the fanout's spread).
    pub rx_per_worker: Vec<u64>,
}

/// Send `n` distinct test frames each way across the forwarder (isp `i1` →
/// mail `m0` and back) and compare what arrives with what was sent.
pub fn frames_cross_unchanged(
    lab: &Lab,
    n: usize,
    workers: usize,
    fanout: FanoutChoice,
) -> Result<CrossReport, CheckError> {
    let fw = start_forwarder(lab, workers, Vec::new(), fanout)?;
    let m = lab.macs;
    let inbound: Vec<Vec<u8>> = (0..n as u32)
        .map(|i| {
            let src = [198, 51, 100, (i % 200) as u8 + 1];
            test_frame(
                m.isp_fw,
                m.mail,
                src,
                SILENT_INSIDE,
                1024 + i as u16,
                i,
                60 + (i as usize % 1400),
            )
        })
        .collect();
    let outbound: Vec<Vec<u8>> = (0..n as u32)
        .map(|i| {
            let dst = [203, 0, 113, (i % 200) as u8 + 10];
            test_frame(
                m.mail,
                m.isp_fw,
                SILENT_INSIDE,
                dst,
                25,
                i,
                60 + (i as usize * 7 % 1400),
            )
        })
        .collect();
    let timeout = Duration::from_secs(5);
    let into_mail = spawn_collector(lab.ns.mail.clone(), ifname::MAIL, n, timeout)?;
    let into_isp = spawn_collector(lab.ns.isp.clone(), ifname::ISP_FW, n, timeout)?;
    let sent_in = send_frames(&lab.ns.isp, ifname::ISP_FW, &inbound)?;
    let sent_out = send_frames(&lab.ns.mail, ifname::MAIL, &outbound)?;
    let join = |h: Collector| {
        h.join()
            .map_err(|_| CheckError::Thread("collector panicked".into()))?
    };
    let got_in = join(into_mail)?;
    let got_out = join(into_isp)?;
    // Let the last counters land.
    std::thread::sleep(Duration::from_millis(20));
    let totals = fw.totals();
    let rx_per_worker = fw.counters().iter().map(|c| c.snapshot().rx).collect();
    fw.join()?;
    let (received_in, unexpected_in) = match_multiset(&inbound, got_in);
    let (received_out, unexpected_out) = match_multiset(&outbound, got_out);
    Ok(CrossReport {
        sent_in,
        received_in,
        sent_out,
        received_out,
        unexpected: unexpected_in + unexpected_out,
        workers: totals,
        rx_per_worker,
    })
}

/// Count received frames equal to a sent one (each sent frame matched at
/// most once); the rest are unexpected.
fn match_multiset(sent: &[Vec<u8>], mut got: Vec<Vec<u8>>) -> (usize, usize) {
    let mut want: Vec<&Vec<u8>> = sent.iter().collect();
    want.sort();
    got.sort();
    let (mut i, mut j, mut matched) = (0, 0, 0);
    while i < want.len() && j < got.len() {
        match want[i].cmp(&got[j]) {
            std::cmp::Ordering::Equal => {
                matched += 1;
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    (matched, got.len() - matched)
}

/// With the Forwarder running, give isp an inside-subnet alias and check that
/// isp pings the mail server and completes a TCP exchange with it.
pub fn ping_and_tcp_across(lab: &Lab, workers: usize) -> Result<CounterSnapshot, CheckError> {
    let fw = start_forwarder(lab, workers, Vec::new(), FanoutChoice::PeerHash)?;
    lab.exec(
        &lab.ns.isp,
        &["ip", "addr", "add", ISP_INSIDE_ALIAS, "dev", ifname::ISP_FW],
    )?;
    let ping = lab.exec(
        &lab.ns.isp,
        &["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.10.10.2"],
    );
    let tcp = tcp_exchange(lab);
    let _ = lab.exec(
        &lab.ns.isp,
        &["ip", "addr", "del", ISP_INSIDE_ALIAS, "dev", ifname::ISP_FW],
    );
    let totals = fw.totals();
    fw.join()?;
    ping?;
    tcp?;
    Ok(totals)
}

fn tcp_exchange(lab: &Lab) -> Result<(), CheckError> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let mail_ns = lab.ns.mail.clone();
    let server = std::thread::spawn(move || -> Result<Vec<u8>, CheckError> {
        let _g = netns::enter(&mail_ns)?;
        let l = TcpListener::bind("10.10.10.2:2525").map_err(CheckError::Tcp)?;
        let _ = ready_tx.send(());
        let (mut s, _) = l.accept().map_err(CheckError::Tcp)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(CheckError::Tcp)?;
        let mut buf = vec![0u8; 5000];
        s.read_exact(&mut buf).map_err(CheckError::Tcp)?;
        s.write_all(b"250 ok\r\n").map_err(CheckError::Tcp)?;
        Ok(buf)
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| CheckError::Thread("tcp server did not start".into()))?;
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let client = {
        let _g = netns::enter(&lab.ns.isp)?;
        let addr = "10.10.10.2:2525"
            .parse()
            .map_err(|_| CheckError::Thread("addr".into()))?;
        let mut c =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(CheckError::Tcp)?;
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(CheckError::Tcp)?;
        c.write_all(&payload).map_err(CheckError::Tcp)?;
        let mut reply = [0u8; 8];
        c.read_exact(&mut reply).map_err(CheckError::Tcp)?;
        reply
    };
    let got = server
        .join()
        .map_err(|_| CheckError::Thread("tcp server panicked".into()))??;
    if got != payload || &client != b"250 ok\r\n" {
        return Err(CheckError::Tcp(std::io::Error::other(
            "bytes changed in transit",
        )));
    }
    Ok(())
}

/// What [`blast_to_mail`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BlastReport {
    /// Frames the blaster handed to the kernel.
    pub sent: u64,
    /// Frames counted arriving at the mail server's interface.
    pub delivered: u64,
    /// Seconds of blasting.
    pub secs: f64,
    /// CPU time of the blaster thread, ns (on veth this includes the
    /// receive work of every hop the kernel does in the sender's context).
    pub blaster_cpu_ns: u64,
}

/// Result of a rate measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct RateReport {
    /// Frames the blaster handed to the kernel.
    pub sent: u64,
    /// Frames counted arriving at the mail server's interface.
    pub delivered: u64,
    /// Seconds of blasting.
    pub secs: f64,
    /// delivered / secs.
    pub pps: f64,
    /// CPU time of the blaster thread, ns.
    pub blaster_cpu_ns: u64,
    /// Forwarder counters (zero for the kernel path).
    pub workers: CounterSnapshot,
}

fn rx_packets(lab: &Lab, ns: &str, dev: &str) -> Result<u64, CheckError> {
    let out = lab.exec(
        ns,
        &[
            "cat",
            &format!("/sys/class/net/{dev}/statistics/rx_packets"),
        ],
    )?;
    out.trim().parse().map_err(|_| {
        CheckError::Lab(LabError::Parse {
            command: format!("cat rx_packets of {dev}"),
            output: out.clone(),
        })
    })
}

/// Blast 64-byte UDP frames (256 flows) from isp's `i1` toward the mail
/// server for `duration`, the blaster pinned to `gen_core`, and count what
/// reaches `m0`. `dst_mac` is the mail server's MAC for the L2 forwarder, or
/// the firewall's `e20` MAC for the kernel router.
pub fn blast_to_mail(
    lab: &Lab,
    dst_mac: [u8; 6],
    gen_core: Option<usize>,
    duration: Duration,
) -> Result<BlastReport, CheckError> {
    let m = lab.macs;
    let frames: Vec<Vec<u8>> = (0..256u32)
        .map(|i| {
            test_frame(
                m.isp_fw,
                dst_mac,
                [172, 22, 1, 1],
                [10, 10, 10, 2],
                1024 + i as u16,
                i,
                64,
            )
        })
        .collect();
    let before = rx_packets(lab, &lab.ns.mail, ifname::MAIL)?;
    let isp = lab.ns.isp.clone();
    let blaster = std::thread::spawn(move || -> Result<(u64, f64, u64), CheckError> {
        if let Some(c) = gen_core {
            core_affinity::set_for_current(core_affinity::CoreId { id: c });
        }
        let _g = netns::enter(&isp)?;
        let mut io = single_port(ifname::ISP_FW)?;
        let mut tx = TxSink::with_capacity(256);
        let start = Instant::now();
        let cpu0 = thread_cpu_ns().unwrap_or(0);
        let mut sent = 0u64;
        while start.elapsed() < duration {
            for f in &frames {
                let _ = tx.push(0, f);
            }
            sent += io.tx_flush(&mut tx)? as u64;
        }
        let cpu = thread_cpu_ns().unwrap_or(0).saturating_sub(cpu0);
        Ok((sent, start.elapsed().as_secs_f64(), cpu))
    });
    let (sent, secs, blaster_cpu_ns) = blaster
        .join()
        .map_err(|_| CheckError::Thread("blaster panicked".into()))??;
    std::thread::sleep(Duration::from_millis(50));
    let after = rx_packets(lab, &lab.ns.mail, ifname::MAIL)?;
    Ok(BlastReport {
        sent,
        delivered: after.saturating_sub(before),
        secs,
        blaster_cpu_ns,
    })
}

/// Measure the do-nothing forwarder: `workers` workers pinned to
/// `worker_cores`, blaster pinned to `gen_core`.
pub fn measure_forwarder(
    lab: &Lab,
    workers: usize,
    worker_cores: Vec<usize>,
    gen_core: Option<usize>,
    fanout: FanoutChoice,
    duration: Duration,
) -> Result<RateReport, CheckError> {
    let fw = start_forwarder(lab, workers, worker_cores, fanout)?;
    let b = blast_to_mail(lab, lab.macs.mail, gen_core, duration)?;
    // Workers publish their CPU time when they stop.
    let counters = fw.counters();
    fw.join()?;
    let totals = totals_of(&counters);
    Ok(RateReport {
        sent: b.sent,
        delivered: b.delivered,
        secs: b.secs,
        pps: b.delivered as f64 / b.secs,
        blaster_cpu_ns: b.blaster_cpu_ns,
        workers: totals,
    })
}

/// What [`measure_drain`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct DrainReport {
    /// Frames queued in the ring before the forwarder started.
    pub queued: u64,
    /// Frames forwarded during the drain.
    pub forwarded: u64,
    /// Wall-clock seconds of the drain.
    pub secs: f64,
    /// CPU time of the forwarding thread during the drain, ns.
    pub cpu_ns: u64,
}

impl DrainReport {
    /// CPU ns per forwarded frame: the 1-core ceiling is 1e9 / this.
    pub fn cpu_ns_per_frame(&self) -> f64 {
        self.cpu_ns as f64 / self.forwarded.max(1) as f64
    }
}

/// The 1-core ceiling of the do-nothing forwarder, as `MACHINE.md` took it:
/// with the forwarder's ring open but the forwarder paused, blast `frames`
/// 64-byte frames into it; then start one forwarder (pinned to `core`) and
/// time the drain alone, in wall-clock and in the thread's CPU time (the
/// latter stays meaningful on a machine shared with other work).
///
/// On veth the receive work of every later hop (the switch, the mail
/// server's kernel) runs in the forwarder's `sendmmsg`, so it is part of the
/// forwarder's CPU time. `cheap_sink` sends EtherType 0x88b5 (IEEE local
/// experimental) frames that the mail server's kernel discards on arrival;
/// otherwise IPv4 to [`SILENT_INSIDE`], which its IP layer drops after a
/// (costly) failed route lookup.
pub fn measure_drain(
    lab: &Lab,
    frames: u64,
    core: Option<usize>,
    cheap_sink: bool,
) -> Result<DrainReport, CheckError> {
    let fw_ns = lab.ns.fw.clone();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(crate::worker::WorkerCounters::default());
    let (stop2, counters2) = (stop.clone(), counters.clone());
    let forwarder = std::thread::Builder::new()
        .name("mg-drain".into())
        .spawn(move || -> Result<(f64, u64), CheckError> {
            if let Some(c) = core {
                core_affinity::set_for_current(core_affinity::CoreId { id: c });
            }
            // A deep ring (64 MiB) so the whole blast fits while paused, with a
            // long retire timeout so that blocks are closed full, not by time.
            let ring = RingConfig {
                block_size: 1 << 20,
                block_nr: 64,
                retire_blk_tov_ms: 1000,
                ..RingConfig::default()
            };
            let opened = netns::enter(&fw_ns)
                .map_err(CheckError::from)
                .and_then(|_g| {
                    Ok(AfPacketIo::open(&[
                        PortConfig {
                            ifname: ifname::FW_OUTSIDE.into(),
                            ring,
                            fanout: None,
                        },
                        PortConfig {
                            ifname: ifname::FW_INSIDE.into(),
                            ring: RingConfig::default(),
                            fanout: None,
                        },
                    ])?)
                });
            let mut io = match opened {
                Ok(io) => {
                    let _ = ready_tx.send(Ok(()));
                    io
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return Err(e);
                }
            };
            if go_rx.recv().is_err() {
                return Ok((0.0, 0));
            }
            let cfg = WorkerConfig::default();
            let links = crate::handoff::mesh(1, 2).remove(0);
            let start = Instant::now();
            let cpu0 = thread_cpu_ns().unwrap_or(0);
            crate::worker::run_worker(
                &cfg,
                links,
                &mut io,
                &mut Forwarder::default(),
                &counters2,
                &stop2,
            )?;
            Ok((
                start.elapsed().as_secs_f64(),
                thread_cpu_ns().unwrap_or(0).saturating_sub(cpu0),
            ))
        })
        .map_err(|e| CheckError::Thread(e.to_string()))?;
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = forwarder.join();
            return Err(CheckError::Thread(e));
        }
        Err(_) => return Err(CheckError::Thread("forwarder died".into())),
    }
    let m = lab.macs;
    let burst: Vec<Vec<u8>> = (0..256u32)
        .map(|i| {
            test_frame(
                m.isp_fw,
                m.mail,
                [172, 22, 1, 1],
                SILENT_INSIDE,
                1024 + i as u16,
                i,
                64,
            )
        })
        .map(|mut f| {
            if cheap_sink {
                f[12..14].copy_from_slice(&ETHERTYPE_LOCAL_EXPERIMENTAL.to_be_bytes());
            }
            f
        })
        .collect();
    let mut queued = 0u64;
    let blast = (|| -> Result<(), CheckError> {
        let _g = netns::enter(&lab.ns.isp)?;
        let mut io = single_port(ifname::ISP_FW)?;
        let mut tx = TxSink::with_capacity(256);
        while queued < frames {
            for f in &burst {
                let _ = tx.push(0, f);
            }
            queued += io.tx_flush(&mut tx)? as u64;
        }
        Ok(())
    })();
    let _ = go_tx.send(());
    // Stop as soon as everything queued is forwarded (checked every 1 ms),
    // or when the count stops growing for 50 ms (frames lost on the way).
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut last, mut last_change) = (0u64, Instant::now());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        let now = counters.tx.load(std::sync::atomic::Ordering::Relaxed);
        if now >= queued {
            break;
        }
        if now != last {
            (last, last_change) = (now, Instant::now());
        } else if last_change.elapsed() > Duration::from_millis(50) {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (secs, cpu_ns) = forwarder
        .join()
        .map_err(|_| CheckError::Thread("forwarder panicked".into()))??;
    blast?;
    let c = counters.snapshot();
    // At most ~1 ms of idle polling after the last frame is inside `secs`
    // and `cpu_ns` (50 ms if frames were lost).
    Ok(DrainReport {
        queued,
        forwarded: c.tx,
        secs,
        cpu_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::{unique_id, LabKind};
    use std::sync::Mutex;

    /// Real-network tests share the two CPUs; run them one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn test_frames_are_valid_udp() {
        let f = test_frame([2; 6], [4; 6], [1, 2, 3, 4], [5, 6, 7, 8], 7, 42, 100);
        assert_eq!(f.len(), 100);
        assert!(is_test_frame(&f));
        let p = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("not ipv4")
        };
        assert_eq!(internet_checksum(&f[14..34]), 0);
        let Some(etherparse::TransportSlice::Udp(udp)) = p.transport else {
            panic!("not udp")
        };
        let want = udp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), udp.payload())
            .unwrap();
        assert_eq!(udp.checksum(), want);
    }

    #[test]
    fn multiset_matching_counts_changes_and_duplicates() {
        let sent = vec![vec![1], vec![2], vec![2]];
        assert_eq!(
            match_multiset(&sent, vec![vec![2], vec![1], vec![2]]),
            (3, 0)
        );
        assert_eq!(
            match_multiset(&sent, vec![vec![1], vec![1], vec![3]]),
            (1, 2)
        );
    }

    fn cross(workers: usize, fanout: FanoutChoice) -> CrossReport {
        let _s = serial();
        let lab = Lab::up(&unique_id(), LabKind::Dataplane).unwrap();
        let r = frames_cross_unchanged(&lab, 2000, workers, fanout).unwrap();
        assert_eq!(r.sent_in, 2000, "{r:?}");
        assert_eq!(r.sent_out, 2000, "{r:?}");
        assert_eq!(r.received_in, 2000, "{r:?}");
        assert_eq!(r.received_out, 2000, "{r:?}");
        assert_eq!(r.unexpected, 0, "{r:?}");
        assert_eq!(r.workers.rx, 4000, "{r:?}");
        assert_eq!(r.workers.tx, 4000, "{r:?}");
        assert_eq!(r.workers.rx_bad_frames, 0, "{r:?}");
        if workers > 1 {
            assert_eq!(r.workers.handoff_in, r.workers.handoff_out, "{r:?}");
            assert_eq!(r.workers.handoff_drops, 0, "{r:?}");
        }
        r
    }

    #[test]
    fn frames_cross_the_forwarder_unchanged_with_one_worker() {
        let r = cross(1, FanoutChoice::PeerHash);
        assert_eq!(r.workers.handoff_out, 0, "{r:?}");
    }

    /// The kernel's cBPF fanout and the workers' steering agree: with the
    /// peer-hash program the frames spread over both workers and none needs
    /// a handoff.
    #[test]
    fn frames_cross_two_workers_with_peer_hash_fanout_and_no_handoff() {
        let r = cross(2, FanoutChoice::PeerHash);
        assert!(r.rx_per_worker.iter().all(|&n| n > 400), "{r:?}");
        assert_eq!(r.workers.handoff_out, 0, "{r:?}");
    }

    /// With the kernel's own hash, frames reach the wrong worker about half
    /// of the time and cross the handoff rings, still unchanged.
    #[test]
    fn frames_cross_two_workers_with_kernel_hash_fanout_through_handoff() {
        let r = cross(2, FanoutChoice::KernelHash);
        assert!(r.workers.handoff_out > 0, "{r:?}");
    }

    #[test]
    fn ping_and_tcp_work_across_the_forwarder() {
        let _s = serial();
        let lab = Lab::up(&unique_id(), LabKind::Dataplane).unwrap();
        let c = ping_and_tcp_across(&lab, 2).unwrap();
        assert!(c.tx > 0 && c.rx >= c.tx, "{c:?}");
    }

    #[test]
    fn oversize_frames_are_counted_and_dropped() {
        let _s = serial();
        let lab = Lab::up(&unique_id(), LabKind::Dataplane).unwrap();
        // The backend reads e20's MTU (1500) when it opens; raising the MTU
        // of both ends afterwards lets a 2000-byte frame reach the ring,
        // as a GRO super-frame would.
        let fw = start_forwarder(&lab, 1, Vec::new(), FanoutChoice::PeerHash).unwrap();
        for (ns, dev) in [
            (&lab.ns.isp, ifname::ISP_FW),
            (&lab.ns.fw, ifname::FW_OUTSIDE),
        ] {
            lab.exec(ns, &["ip", "link", "set", dev, "mtu", "4000"])
                .unwrap();
        }
        let m = lab.macs;
        let big = test_frame(m.isp_fw, m.mail, [1, 1, 1, 1], SILENT_INSIDE, 1, 1, 2000);
        let small = test_frame(m.isp_fw, m.mail, [1, 1, 1, 1], SILENT_INSIDE, 1, 2, 100);
        assert_eq!(
            send_frames(&lab.ns.isp, ifname::ISP_FW, &[big, small]).unwrap(),
            2
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while fw.totals().tx < 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(50));
        let t = fw.totals();
        fw.join().unwrap();
        assert_eq!(t.tx, 1, "{t:?}");
        assert_eq!(t.rx, 1, "{t:?}");
        assert_eq!(t.rx_bad_frames, 1, "{t:?}");
    }

    /// With transmit checksum offload turned back on at isp, its UDP
    /// datagrams reach the firewall with only a partial checksum
    /// (`TP_STATUS_CSUMNOTREADY`); the backend completes it, so the mail
    /// server (which verifies checksums in software: rx offload is off)
    /// accepts the datagram.
    #[test]
    fn partial_checksums_are_completed_on_the_way() {
        use std::net::UdpSocket;
        let _s = serial();
        let lab = Lab::up(&unique_id(), LabKind::Dataplane).unwrap();
        let fw = start_forwarder(&lab, 1, Vec::new(), FanoutChoice::PeerHash).unwrap();
        lab.exec(&lab.ns.isp, &["ethtool", "-K", ifname::ISP_FW, "tx", "on"])
            .unwrap();
        lab.exec(
            &lab.ns.isp,
            &["ip", "addr", "add", ISP_INSIDE_ALIAS, "dev", ifname::ISP_FW],
        )
        .unwrap();
        let server = {
            let _g = netns::enter(&lab.ns.mail).unwrap();
            UdpSocket::bind("10.10.10.2:5300").unwrap()
        };
        server
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let client = {
            let _g = netns::enter(&lab.ns.isp).unwrap();
            UdpSocket::bind("10.10.10.99:0").unwrap()
        };
        let mut buf = [0u8; 64];
        let mut got = None;
        for _ in 0..5 {
            client
                .send_to(b"partial checksum", "10.10.10.2:5300")
                .unwrap();
            if let Ok((n, _)) = server.recv_from(&mut buf) {
                got = Some(buf[..n].to_vec());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        let t = fw.totals();
        fw.join().unwrap();
        assert_eq!(got.as_deref(), Some(&b"partial checksum"[..]), "{t:?}");
        assert!(t.rx_csum_completed >= 1, "{t:?}");
    }

    /// Measurement, not a check (run with `--ignored --nocapture`, release).
    #[test]
    #[ignore]
    fn measure_do_nothing_forwarder_rate() {
        let _s = serial();
        let secs = Duration::from_secs(3);
        let lab = Lab::up(&unique_id(), LabKind::Dataplane).unwrap();
        // warm the bridge's FDB with the mail server's MAC
        let _ = lab.exec(&lab.ns.mail, &["ping", "-c1", "-W1", "10.10.10.5"]);
        let runs = [
            (
                "1 worker on core 1, blaster on core 0",
                1,
                vec![1],
                Some(0),
                FanoutChoice::PeerHash,
            ),
            (
                "1 worker unpinned, blaster unpinned",
                1,
                vec![],
                None,
                FanoutChoice::PeerHash,
            ),
            (
                "2 workers cores 0,1 peer-hash fanout, blaster core 0",
                2,
                vec![0, 1],
                Some(0),
                FanoutChoice::PeerHash,
            ),
            (
                "2 workers cores 0,1 kernel-hash fanout, blaster core 0",
                2,
                vec![0, 1],
                Some(0),
                FanoutChoice::KernelHash,
            ),
        ];
        for (label, workers, cores, gen, fanout) in runs {
            let r = measure_forwarder(&lab, workers, cores, gen, fanout, secs).unwrap();
            let w = r.workers;
            println!(
                "forwarder [{label}]: sent {} delivered {} in {:.2}s = {:.0} pps; \
                 CPU ns/frame: blaster {:.0}, workers {:.0}, total {:.0}; \
                 handoff {} (drops {}), ring drops {}, loops {}, idle waits {}, pinned {}",
                r.sent,
                r.delivered,
                r.secs,
                r.pps,
                r.blaster_cpu_ns as f64 / r.delivered.max(1) as f64,
                w.cpu_ns as f64 / r.delivered.max(1) as f64,
                (r.blaster_cpu_ns + w.cpu_ns) as f64 / r.delivered.max(1) as f64,
                w.handoff_out,
                w.handoff_drops,
                w.rx_ring_drops,
                w.loops,
                w.idle_waits,
                w.pinned,
            );
        }
        for (core, cheap_sink) in [(Some(1), true), (Some(1), false)] {
            let d = measure_drain(&lab, 300_000, core, cheap_sink).unwrap();
            println!(
                "drain [forwarder core {core:?}, non-IP sink {cheap_sink}]: queued {} forwarded {} in {:.3}s wall = {:.0} pps; \
                 CPU {:.0} ns/frame = 1-core ceiling {:.0} pps",
                d.queued,
                d.forwarded,
                d.secs,
                d.forwarded as f64 / d.secs,
                d.cpu_ns_per_frame(),
                1e9 / d.cpu_ns_per_frame()
            );
        }
        drop(lab);
        let lab = Lab::up(&unique_id(), LabKind::KernelRouter).unwrap();
        let _ = lab.exec(&lab.ns.mail, &["ping", "-c1", "-W1", "10.10.10.1"]);
        let b = blast_to_mail(&lab, lab.macs.fw_outside, Some(0), secs).unwrap();
        println!(
            "kernel router [blaster on core 0]: sent {} delivered {} in {:.2}s = {:.0} pps; \
             CPU ns/frame (blaster, incl. kernel forwarding in its context) {:.0}",
            b.sent,
            b.delivered,
            b.secs,
            b.delivered as f64 / b.secs,
            b.blaster_cpu_ns as f64 / b.delivered.max(1) as f64
        );
    }
}
