//! AF_PACKET backend: a TPACKET_V3 mmap RX ring per port (per worker) and
//! `sendmmsg` on a second socket with `PACKET_QDISC_BYPASS` for TX.
//!
//! Why this combination: on this kind of machine it measured best of every
//! kernel path we tried (`MACHINE.md`: ~857 kpps/core for a do-nothing
//! forwarder, vs ~760 kpps with a TX ring and ~500 kpps with io_uring).
//!
//! - RX: frames arrive in blocks the kernel hands to user space
//!   (`TP_STATUS_USER`); we lend up to [`BURST`](super::BURST) of them at a
//!   time *in place* (the pipeline may rewrite them) and give a block back
//!   (`TP_STATUS_KERNEL`) once every frame in it has been lent and the burst
//!   has returned. The socket is created with protocol 0 and bound with
//!   `ETH_P_ALL` only after the ring exists, so nothing queues before it.
//!   `PACKET_IGNORE_OUTGOING` hides our own transmissions.
//! - Several workers on one port join a `PACKET_FANOUT` group. The choice is
//!   [`FanoutMode::PeerHash`]: a classic BPF program computing the same
//!   NAT-invariant flow hash as the workers ([`super::steer`]), so a frame
//!   arrives at the worker that owns its flow and handoff is the exception
//!   (fragments, ICMP errors). `PACKET_FANOUT_HASH` is symmetric but its hash
//!   (keyed, and over the translated addresses) cannot be reproduced by the
//!   workers: with 2 workers half of the frames needed a handoff.
//!   `PACKET_FANOUT_CPU` is wrong on veth: the receive work runs on the
//!   *sending* core, so one generator core would feed a single worker.
//! - TX: one `sendmmsg` per port per flush (the whole [`TxSink`]); the socket
//!   bypasses the qdisc layer. A full socket is retried a few times, then the
//!   rest of the batch is counted in `tx_errors` (never a busy hang).
//! - Offloads: the lab turns GRO/GSO/TSO/checksum offloads and VLAN offload
//!   off. Frames that still arrive offloaded are handled explicitly: frames
//!   longer than MTU + 18 (GRO super-frames) and truncated frames are counted
//!   and dropped; `TP_STATUS_CSUMNOTREADY` frames get their TCP/UDP checksum
//!   completed in software ([`super::csum`]); frames whose VLAN tag the kernel
//!   stripped (`TP_STATUS_VLAN_VALID`) are counted and dropped.
//!
//! All `unsafe` of the packet path lives in this file.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{fence, Ordering};
use std::time::Duration;

use super::csum::{complete_l4_checksum, CsumOutcome};
use super::steer::{peer_hash_program, PeerSide, SockFilter};
use super::{IoError, PortIo, PortStats, TxSink, BURST};

const ETH_P_ALL: u16 = 0x0003;
const TPACKET_V3: libc::c_int = 2;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_FANOUT: libc::c_int = 18;
const PACKET_QDISC_BYPASS: libc::c_int = 20;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_FANOUT_HASH: u32 = 0;
const PACKET_FANOUT_LB: u32 = 1;
const PACKET_FANOUT_CPU: u32 = 2;
const PACKET_FANOUT_CBPF: u32 = 6;
const PACKET_FANOUT_DATA: libc::c_int = 22;
const PACKET_OUTGOING: u8 = 4;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const SIOCGIFINDEX: libc::c_ulong = 0x8933;
const SIOCGIFMTU: libc::c_ulong = 0x8921;
const SIOCGIFHWADDR: libc::c_ulong = 0x8927;
/// Headroom over the MTU for the Ethernet header and one VLAN tag.
const L2_OVERHEAD: u32 = 18;
/// `sendmmsg` retries on a full socket before the rest of a batch is dropped.
const TX_RETRIES: u32 = 16;

/// `struct tpacket_req3` (linux/if_packet.h).
#[allow(dead_code)] // mirrors the kernel layout; not every field is read
#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

/// `struct tpacket_block_desc` with the `tpacket_hdr_v1` header inlined.
#[allow(dead_code)] // mirrors the kernel layout; not every field is read
#[repr(C)]
struct BlockDesc {
    version: u32,
    offset_to_priv: u32,
    block_status: u32,
    num_pkts: u32,
    offset_to_first_pkt: u32,
    blk_len: u32,
    seq_num: u64,
}

/// `struct tpacket3_hdr` (the part we read).
#[allow(dead_code)] // mirrors the kernel layout; not every field is read
#[repr(C)]
struct Tpacket3Hdr {
    tp_next_offset: u32,
    tp_sec: u32,
    tp_nsec: u32,
    tp_snaplen: u32,
    tp_len: u32,
    tp_status: u32,
    tp_mac: u16,
    tp_net: u16,
}

/// `struct tpacket_stats_v3`.
#[allow(dead_code)] // mirrors the kernel layout; not every field is read
#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// How several RX sockets on one port share its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanoutMode {
    /// By [`super::steer::peer_hash`] run in the kernel as a classic BPF
    /// program (`PACKET_FANOUT_CBPF`): member `i` (the i-th socket to join)
    /// receives the frames whose `peer_hash % members == i`, so a worker
    /// steering with the same hash receives exactly the flows it owns.
    PeerHash(PeerSide),
    /// By the kernel's symmetric flow hash (not reproducible in user space:
    /// every other frame needs a handoff with 2 workers).
    Hash,
    /// By the CPU the frame was received on (bad on veth).
    Cpu,
    /// Round robin (breaks flow affinity; for measurement only).
    RoundRobin,
}

/// Joining a fanout group: every worker's socket on a port uses the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fanout {
    /// Group id, unique per port in the network namespace.
    pub group_id: u16,
    /// Distribution mode.
    pub mode: FanoutMode,
}

/// Geometry of the RX ring of one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Bytes per block (power of two, multiple of the page size).
    pub block_size: u32,
    /// Number of blocks.
    pub block_nr: u32,
    /// Frame slot size (power of two ≥ 2048 for a 1500-byte MTU).
    pub frame_size: u32,
    /// Milliseconds before the kernel hands over a partly filled block.
    pub retire_blk_tov_ms: u32,
}

/// 256 blocks of 64 KiB (16 MiB per port and worker), retired after 1 ms.
///
/// Why many small blocks: the kernel closes a block when it is full *or*
/// when the retire timeout passes, so at low rates every block holds only a
/// millisecond of traffic and the ring absorbs a stall of the worker of about
/// `block_nr` × 1 ms. With 16 blocks of 256 KiB a worker descheduled for
/// 20 ms on a busy 2-core machine lost most frames; 256 blocks ride out a
/// quarter second at the same memory. 1 ms bounds the latency a lone frame
/// waits for its block to be handed over.
impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            block_size: 1 << 16,
            block_nr: 256,
            frame_size: 2048,
            retire_blk_tov_ms: 1,
        }
    }
}

impl RingConfig {
    fn validate(&self) -> Result<(), IoError> {
        if !self.block_size.is_power_of_two() || self.block_size < 4096 {
            return Err(IoError::BadConfig(
                "block_size must be a power of two >= 4096",
            ));
        }
        if !self.frame_size.is_power_of_two() || self.frame_size < 256 {
            return Err(IoError::BadConfig(
                "frame_size must be a power of two >= 256",
            ));
        }
        if self.frame_size > self.block_size || self.block_nr == 0 {
            return Err(IoError::BadConfig(
                "need block_nr > 0 and frame_size <= block_size",
            ));
        }
        Ok(())
    }
}

/// One port's configuration: the interface and its ring.
#[derive(Debug, Clone)]
pub struct PortConfig {
    /// Linux interface name in the current network namespace.
    pub ifname: String,
    /// RX ring geometry.
    pub ring: RingConfig,
    /// Fanout group to join when several workers share the port.
    pub fanout: Option<Fanout>,
}

fn sys_err(op: &'static str, ifname: &str) -> IoError {
    IoError::Sys {
        op,
        ifname: ifname.to_string(),
        source: std::io::Error::last_os_error(),
    }
}

fn packet_socket(ifname: &str) -> Result<OwnedFd, IoError> {
    // SAFETY: plain socket(2) call; the returned fd is checked and then owned.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(sys_err("socket", ifname));
    }
    // SAFETY: fd is a freshly created, valid descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int_opt(
    fd: &OwnedFd,
    level: libc::c_int,
    opt: libc::c_int,
    value: libc::c_int,
    op: &'static str,
    ifname: &str,
) -> Result<(), IoError> {
    // SAFETY: value lives across the call; the length matches its type.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(sys_err(op, ifname));
    }
    Ok(())
}

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

fn set_fanout_program(fd: &OwnedFd, prog: &[SockFilter], ifname: &str) -> Result<(), IoError> {
    let fprog = SockFprog {
        len: prog.len() as u16,
        filter: prog.as_ptr(),
    };
    // SAFETY: fprog points at `prog`, alive across the call; the kernel
    // copies and verifies the program.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_FANOUT_DATA,
            (&fprog as *const SockFprog).cast(),
            std::mem::size_of::<SockFprog>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(sys_err("PACKET_FANOUT_DATA", ifname));
    }
    Ok(())
}

fn ifreq_for(ifname: &str) -> Result<libc::ifreq, IoError> {
    let name = CString::new(ifname).map_err(|_| IoError::NoSuchInterface(ifname.into()))?;
    let bytes = name.as_bytes_with_nul();
    if bytes.len() > libc::IFNAMSIZ {
        return Err(IoError::NoSuchInterface(ifname.into()));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Ok(req)
}

fn ioctl_ifreq(fd: &OwnedFd, ifname: &str, request: libc::c_ulong) -> Result<libc::ifreq, IoError> {
    let mut req = ifreq_for(ifname)?;
    // SAFETY: `req` is a valid ifreq with a NUL-terminated name; the three
    // requests used here (SIOCGIFINDEX/MTU/HWADDR) only write into it.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, &mut req as *mut libc::ifreq) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENODEV) {
            return Err(IoError::NoSuchInterface(ifname.into()));
        }
        return Err(IoError::Sys {
            op: "ioctl",
            ifname: ifname.into(),
            source: e,
        });
    }
    Ok(req)
}

fn bind_to(fd: &OwnedFd, ifindex: i32, protocol: u16, ifname: &str) -> Result<(), IoError> {
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: sll is a valid sockaddr_ll and the length is its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(sys_err("bind", ifname));
    }
    Ok(())
}

/// The mmap'ed TPACKET_V3 receive ring of one socket.
struct RxRing {
    map: NonNull<u8>,
    map_len: usize,
    block_size: usize,
    block_nr: usize,
    /// Block being read.
    cur_block: usize,
    /// Frames of `cur_block` already lent.
    cur_pkt: u32,
    /// Offset in `cur_block` of the next frame.
    cur_off: usize,
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: map/map_len are exactly what mmap returned; no slice into the
        // ring outlives a `rx_burst` call, so nothing references it any more.
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.map_len);
        }
    }
}

impl RxRing {
    fn block(&self, i: usize) -> *mut BlockDesc {
        // SAFETY: i < block_nr, so the offset is inside the mapping.
        unsafe { self.map.as_ptr().add(i * self.block_size).cast() }
    }

    /// Is block `i` owned by user space?
    fn block_ready(&self, i: usize) -> bool {
        let b = self.block(i);
        // SAFETY: b points at a block header inside the mapping; the kernel
        // writes block_status concurrently, hence the volatile read, and the
        // acquire fence orders our later reads of the block after it.
        let status = unsafe { std::ptr::addr_of!((*b).block_status).read_volatile() };
        if status & TP_STATUS_USER != 0 {
            fence(Ordering::Acquire);
            true
        } else {
            false
        }
    }

    /// Percent of blocks owned by user space (filled, not yet released).
    fn used_pct(&self) -> u64 {
        let used = (0..self.block_nr).filter(|&i| self.block_ready(i)).count();
        (used * 100 / self.block_nr) as u64
    }

    fn release_block(&self, i: usize) {
        let b = self.block(i);
        fence(Ordering::Release);
        // SAFETY: we own block i (TP_STATUS_USER) and no frame of it is lent
        // any more; handing it back is a single aligned u32 store.
        unsafe { std::ptr::addr_of_mut!((*b).block_status).write_volatile(TP_STATUS_KERNEL) };
    }
}

/// One port: RX ring socket, TX socket and counters.
struct AfPacketPort {
    ifname: String,
    rx_fd: OwnedFd,
    tx_fd: OwnedFd,
    ring: RxRing,
    mtu: u32,
    mac: [u8; 6],
    stats: PortStats,
}

impl AfPacketPort {
    fn open(cfg: &PortConfig) -> Result<Self, IoError> {
        cfg.ring.validate()?;
        let ifname = cfg.ifname.as_str();
        let rx_fd = packet_socket(ifname)?;
        // SAFETY: reading the union members the ioctls just filled in.
        let ifindex = unsafe {
            ioctl_ifreq(&rx_fd, ifname, SIOCGIFINDEX)?
                .ifr_ifru
                .ifru_ifindex
        };
        // SAFETY: as above, SIOCGIFMTU fills ifru_mtu.
        let mtu = unsafe { ioctl_ifreq(&rx_fd, ifname, SIOCGIFMTU)?.ifr_ifru.ifru_mtu };
        // SAFETY: as above, SIOCGIFHWADDR fills ifru_hwaddr.
        let hw = unsafe {
            ioctl_ifreq(&rx_fd, ifname, SIOCGIFHWADDR)?
                .ifr_ifru
                .ifru_hwaddr
        };
        let mut mac = [0u8; 6];
        for (d, s) in mac.iter_mut().zip(hw.sa_data.iter()) {
            *d = *s as u8;
        }

        set_int_opt(
            &rx_fd,
            libc::SOL_PACKET,
            PACKET_VERSION,
            TPACKET_V3,
            "PACKET_VERSION",
            ifname,
        )?;
        let r = cfg.ring;
        let req = TpacketReq3 {
            block_size: r.block_size,
            block_nr: r.block_nr,
            frame_size: r.frame_size,
            frame_nr: (r.block_size / r.frame_size) * r.block_nr,
            retire_blk_tov: r.retire_blk_tov_ms,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        // SAFETY: req is a valid tpacket_req3 living across the call.
        let rc = unsafe {
            libc::setsockopt(
                rx_fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_RX_RING,
                (&req as *const TpacketReq3).cast(),
                std::mem::size_of::<TpacketReq3>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(sys_err("PACKET_RX_RING", ifname));
        }
        let map_len = r.block_size as usize * r.block_nr as usize;
        // SAFETY: mapping the ring the kernel just allocated for this socket,
        // with the exact size it was configured with.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                rx_fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(sys_err("mmap", ifname));
        }
        let ring = RxRing {
            map: NonNull::new(map.cast()).ok_or(IoError::BadConfig("mmap returned null"))?,
            map_len,
            block_size: r.block_size as usize,
            block_nr: r.block_nr as usize,
            cur_block: 0,
            cur_pkt: 0,
            cur_off: 0,
        };
        // Best effort (kernel >= 4.20); outgoing frames are also skipped below.
        let _ = set_int_opt(
            &rx_fd,
            libc::SOL_PACKET,
            PACKET_IGNORE_OUTGOING,
            1,
            "PACKET_IGNORE_OUTGOING",
            ifname,
        );
        bind_to(&rx_fd, ifindex, ETH_P_ALL, ifname)?;
        if let Some(f) = cfg.fanout {
            // No FLAG_DEFRAG: reassembled datagrams would exceed the MTU
            // and be dropped as oversize; fragments are handed off instead.
            let mode = match f.mode {
                FanoutMode::PeerHash(_) => PACKET_FANOUT_CBPF,
                FanoutMode::Hash => PACKET_FANOUT_HASH,
                FanoutMode::Cpu => PACKET_FANOUT_CPU,
                FanoutMode::RoundRobin => PACKET_FANOUT_LB,
            };
            let arg = (u32::from(f.group_id) | (mode << 16)) as libc::c_int;
            set_int_opt(
                &rx_fd,
                libc::SOL_PACKET,
                PACKET_FANOUT,
                arg,
                "PACKET_FANOUT",
                ifname,
            )?;
            if let FanoutMode::PeerHash(side) = f.mode {
                set_fanout_program(&rx_fd, &peer_hash_program(side), ifname)?;
            }
        }

        let tx_fd = packet_socket(ifname)?;
        set_int_opt(
            &tx_fd,
            libc::SOL_PACKET,
            PACKET_QDISC_BYPASS,
            1,
            "PACKET_QDISC_BYPASS",
            ifname,
        )?;
        set_int_opt(
            &tx_fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            4 << 20,
            "SO_SNDBUF",
            ifname,
        )?;
        // Protocol 0: this socket never receives.
        bind_to(&tx_fd, ifindex, 0, ifname)?;
        Ok(AfPacketPort {
            ifname: cfg.ifname.clone(),
            rx_fd,
            tx_fd,
            ring,
            mtu: mtu.max(0) as u32,
            mac,
            stats: PortStats::default(),
        })
    }

    fn rx_burst<F>(&mut self, f: F) -> usize
    where
        F: FnOnce(&mut [&mut [u8]]),
    {
        let mut burst: [&mut [u8]; BURST] = std::array::from_fn(|_| Default::default());
        let mut n = 0;
        let first_block = self.ring.cur_block;
        let mut finished_blocks = 0usize;
        let max_len = self.mtu + L2_OVERHEAD;
        while n < BURST
            && finished_blocks < self.ring.block_nr
            && self.ring.block_ready(self.ring.cur_block)
        {
            let block = self.ring.block(self.ring.cur_block);
            // SAFETY: the block is owned by user space (checked above), and
            // its header is only read here.
            let (num_pkts, first_off) =
                unsafe { ((*block).num_pkts, (*block).offset_to_first_pkt as usize) };
            if self.ring.cur_pkt == 0 {
                self.ring.cur_off = first_off;
            }
            while self.ring.cur_pkt < num_pkts && n < BURST {
                if self.ring.cur_off + std::mem::size_of::<Tpacket3Hdr>() > self.ring.block_size {
                    // Corrupt offset: abandon the rest of this block.
                    self.ring.cur_pkt = num_pkts;
                    break;
                }
                // SAFETY: cur_off was checked to leave room for a header inside
                // the block, which user space owns.
                let hdr: *mut Tpacket3Hdr =
                    unsafe { (block as *mut u8).add(self.ring.cur_off).cast() };
                // SAFETY: hdr points at a frame header inside an owned block.
                let (next, snaplen, len, status, mac) = unsafe {
                    (
                        (*hdr).tp_next_offset as usize,
                        (*hdr).tp_snaplen,
                        (*hdr).tp_len,
                        (*hdr).tp_status,
                        usize::from((*hdr).tp_mac),
                    )
                };
                let frame_off = self.ring.cur_off + mac;
                self.ring.cur_pkt += 1;
                self.ring.cur_off += next;
                if frame_off + snaplen as usize > self.ring.block_size {
                    self.stats.rx_truncated += 1;
                    continue;
                }
                if status & TP_STATUS_VLAN_VALID != 0 {
                    self.stats.rx_vlan_stripped += 1;
                    continue;
                }
                if snaplen < len {
                    self.stats.rx_truncated += 1;
                    continue;
                }
                if len > max_len {
                    self.stats.rx_oversize += 1;
                    continue;
                }
                if Self::is_outgoing(hdr) {
                    continue;
                }
                // SAFETY: the frame lies inside the owned block (checked
                // above), frames do not overlap, and each is lent at most once
                // per block ownership, so the slices are disjoint.
                let frame: &mut [u8] = unsafe {
                    std::slice::from_raw_parts_mut(
                        (block as *mut u8).add(frame_off),
                        snaplen as usize,
                    )
                };
                if status & TP_STATUS_CSUMNOTREADY != 0
                    && complete_l4_checksum(frame) == CsumOutcome::Completed
                {
                    self.stats.rx_csum_completed += 1;
                }
                self.stats.rx_frames += 1;
                self.stats.rx_bytes += u64::from(len);
                burst[n] = frame;
                n += 1;
            }
            if self.ring.cur_pkt >= num_pkts {
                finished_blocks += 1;
                self.ring.cur_pkt = 0;
                self.ring.cur_block = (self.ring.cur_block + 1) % self.ring.block_nr;
            }
        }
        if n > 0 {
            f(&mut burst[..n]);
        }
        for k in 0..finished_blocks {
            self.ring
                .release_block((first_block + k) % self.ring.block_nr);
        }
        n
    }

    /// Was this frame sent by this host (seen when `PACKET_IGNORE_OUTGOING`
    /// is unsupported)? The kernel writes a `sockaddr_ll` right after the
    /// aligned frame header; `sll_pkttype` says the direction.
    fn is_outgoing(hdr: *const Tpacket3Hdr) -> bool {
        // SAFETY: hdr points at a frame header inside an owned block; the
        // sockaddr_ll lies between the header and tp_mac (checked), all inside
        // the frame's slot.
        unsafe {
            let mac = usize::from((*hdr).tp_mac);
            if TPACKET3_HDRLEN_ALIGNED + std::mem::size_of::<libc::sockaddr_ll>() > mac {
                return false;
            }
            let sll: *const libc::sockaddr_ll =
                (hdr as *const u8).add(TPACKET3_HDRLEN_ALIGNED).cast();
            (*sll).sll_pkttype == PACKET_OUTGOING
        }
    }

    fn tx_batch(
        &mut self,
        port: usize,
        tx: &TxSink,
        msgs: &mut Vec<libc::mmsghdr>,
        iovs: &mut Vec<libc::iovec>,
    ) -> usize {
        iovs.clear();
        for (p, frame) in tx.iter() {
            if p == port {
                iovs.push(libc::iovec {
                    iov_base: frame.as_ptr() as *mut libc::c_void,
                    iov_len: frame.len(),
                });
            }
        }
        if iovs.is_empty() {
            return 0;
        }
        msgs.clear();
        for iov in iovs.iter_mut() {
            // SAFETY: mmsghdr is plain old data; all-zero is valid.
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov as *mut libc::iovec;
            m.msg_hdr.msg_iovlen = 1;
            msgs.push(m);
        }
        let total = msgs.len();
        let mut done = 0usize;
        let mut retries = 0;
        while done < total {
            let remaining = (total - done).min(1024) as libc::c_uint;
            // SAFETY: msgs[done..] are valid mmsghdrs whose iovecs point into
            // `tx`, which is borrowed (and not modified) for this whole call;
            // the kernel only reads them.
            let rc = unsafe {
                libc::sendmmsg(
                    self.tx_fd.as_raw_fd(),
                    msgs.as_mut_ptr().add(done),
                    remaining,
                    libc::MSG_DONTWAIT,
                )
            };
            self.stats.tx_calls += 1;
            if rc > 0 {
                let sent = rc as usize;
                for iov in &iovs[done..done + sent] {
                    self.stats.tx_bytes += iov.iov_len as u64;
                }
                self.stats.tx_frames += sent as u64;
                done += sent;
                continue;
            }
            let err = std::io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR)
                    if retries < TX_RETRIES =>
                {
                    retries += 1;
                    std::hint::spin_loop();
                }
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) => {
                    self.stats.tx_errors += (total - done) as u64;
                    break;
                }
                _ => {
                    // The first message of the rest failed on its own
                    // (e.g. EMSGSIZE): count it and go on with the next.
                    self.stats.tx_errors += 1;
                    done += 1;
                }
            }
        }
        done
    }

    fn refresh_kernel_stats(&mut self) {
        let mut st = TpacketStatsV3::default();
        let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: st and len are valid for writing; the kernel fills at most len bytes.
        let rc = unsafe {
            libc::getsockopt(
                self.rx_fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                (&mut st as *mut TpacketStatsV3).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            // The kernel resets its counters on each read: accumulate.
            self.stats.rx_ring_drops += u64::from(st.drops);
        }
    }
}

/// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`: where the kernel puts the
/// `sockaddr_ll` of each frame (tpacket3_hdr is 48 bytes).
const TPACKET3_HDRLEN_ALIGNED: usize = 48;

/// AF_PACKET ports of one worker.
pub struct AfPacketIo {
    ports: Vec<AfPacketPort>,
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    pollfds: Vec<libc::pollfd>,
}

impl std::fmt::Debug for AfPacketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfPacketIo")
            .field(
                "ports",
                &self.ports.iter().map(|p| &p.ifname).collect::<Vec<_>>(),
            )
            .finish()
    }
}

// SAFETY: the raw pointers inside (the ring mapping, and iovec/mmsghdr
// scratch pointers that are rebuilt on every flush and never dereferenced
// outside it) belong to this value alone; moving it to another thread moves
// sole ownership of the mapping and sockets with it.
unsafe impl Send for AfPacketIo {}

impl AfPacketIo {
    /// Open every port (in the calling thread's network namespace).
    pub fn open(ports: &[PortConfig]) -> Result<Self, IoError> {
        let ports = ports
            .iter()
            .map(AfPacketPort::open)
            .collect::<Result<Vec<_>, _>>()?;
        let pollfds = ports
            .iter()
            .map(|p| libc::pollfd {
                fd: p.rx_fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        Ok(AfPacketIo {
            ports,
            msgs: Vec::with_capacity(256),
            iovs: Vec::with_capacity(256),
            pollfds,
        })
    }

    /// MAC address of `port`'s interface.
    pub fn mac(&self, port: usize) -> Option<[u8; 6]> {
        self.ports.get(port).map(|p| p.mac)
    }

    /// MTU of `port`'s interface.
    pub fn mtu(&self, port: usize) -> Option<u32> {
        self.ports.get(port).map(|p| p.mtu)
    }
}

impl PortIo for AfPacketIo {
    fn port_count(&self) -> usize {
        self.ports.len()
    }

    fn rx_burst<F>(&mut self, port: usize, f: F) -> Result<usize, IoError>
    where
        F: FnOnce(&mut [&mut [u8]]),
    {
        let ports = self.ports.len();
        let p = self
            .ports
            .get_mut(port)
            .ok_or(IoError::NoSuchPort { port, ports })?;
        Ok(p.rx_burst(f))
    }

    fn tx_flush(&mut self, tx: &mut TxSink) -> Result<usize, IoError> {
        if tx.is_empty() {
            return Ok(0);
        }
        let mut sent = 0;
        for port in 0..self.ports.len() {
            sent += self.ports[port].tx_batch(port, tx, &mut self.msgs, &mut self.iovs);
        }
        let unknown = tx.iter().filter(|(p, _)| *p >= self.ports.len()).count();
        for _ in 0..unknown {
            tx.count_drop();
        }
        tx.clear();
        Ok(sent)
    }

    fn wait_rx(&mut self, timeout: Duration) -> Result<bool, IoError> {
        for p in &mut self.pollfds {
            p.revents = 0;
        }
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: pollfds is a valid array of len pollfd structs; ts lives
        // across the call; no signal mask is passed.
        let rc = unsafe {
            libc::ppoll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                &ts,
                std::ptr::null(),
            )
        };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(false);
            }
            return Err(IoError::Sys {
                op: "ppoll",
                ifname: String::new(),
                source: e,
            });
        }
        Ok(rc > 0)
    }

    fn port_stats(&mut self, port: usize) -> PortStats {
        match self.ports.get_mut(port) {
            Some(p) => {
                p.refresh_kernel_stats();
                p.stats.rx_ring_used_pct = p.ring.used_pct();
                p.stats
            }
            None => PortStats::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_struct_layouts_match_if_packet_h() {
        assert_eq!(std::mem::size_of::<TpacketReq3>(), 28);
        assert_eq!(std::mem::size_of::<Tpacket3Hdr>(), 28);
        assert_eq!(
            std::mem::size_of::<libc::tpacket3_hdr>(),
            TPACKET3_HDRLEN_ALIGNED
        );
        assert_eq!(std::mem::offset_of!(BlockDesc, block_status), 8);
        assert_eq!(std::mem::offset_of!(BlockDesc, num_pkts), 12);
        assert_eq!(std::mem::offset_of!(BlockDesc, offset_to_first_pkt), 16);
    }

    #[test]
    fn bad_ring_geometry_is_refused() {
        let mut r = RingConfig::default();
        assert!(r.validate().is_ok());
        r.block_size = 5000;
        assert!(matches!(r.validate(), Err(IoError::BadConfig(_))));
        let r = RingConfig {
            frame_size: 1 << 20,
            ..RingConfig::default()
        };
        assert!(r.validate().is_err());
    }

    #[test]
    fn missing_interface_is_a_typed_error() {
        let cfg = PortConfig {
            ifname: "mg-no-such-if".into(),
            ring: RingConfig::default(),
            fanout: None,
        };
        match AfPacketIo::open(&[cfg]) {
            Err(IoError::NoSuchInterface(n)) => assert_eq!(n, "mg-no-such-if"),
            Err(IoError::Sys { op: "socket", .. }) => {} // not root: no packet sockets
            other => panic!("unexpected {other:?}"),
        }
    }
}
