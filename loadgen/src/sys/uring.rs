//! A fixed set of connection slots driven through one io_uring.
//!
//! Each slot owns one socket, one receive buffer and one outgoing buffer, and has at most one
//! operation in flight (connect, send, receive or close). The ring owns every buffer the
//! kernel may touch, so the memory handed to a submission stays valid and unaliased until
//! its completion is reaped: buffers are allocated once, never resized while an operation
//! references them, and the `Drop` impl waits for (or leaks past) every operation still in
//! the kernel. Callers see a safe API: `connect`, `send`, `recv`, `close`, `cancel`, `wait`.
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{opcode, types, IoUring};

use super::sock;

/// The kind of operation a completion belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Connect,
    Send,
    Recv,
    Close,
    Cancel,
    Accept,
}

impl Op {
    fn tag(self) -> u64 {
        match self {
            Op::Connect => 1,
            Op::Send => 2,
            Op::Recv => 3,
            Op::Close => 4,
            Op::Cancel => 5,
            Op::Accept => 6,
        }
    }
    fn from_tag(t: u64) -> Option<Op> {
        Some(match t {
            1 => Op::Connect,
            2 => Op::Send,
            3 => Op::Recv,
            4 => Op::Close,
            5 => Op::Cancel,
            6 => Op::Accept,
            _ => return None,
        })
    }
}

/// Where the bytes of a send come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The slot's own outgoing buffer (`out_mut`).
    Out,
    /// One of the shared payloads registered with [`SlotRing::new`] (message bodies).
    Shared(usize),
}

/// One reaped completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    pub slot: u32,
    pub op: Op,
    /// The kernel's result: bytes moved, 0, or a negative errno.
    pub result: i32,
}

/// Error for an operation asked of a slot that is busy or closed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlotError {
    #[error("slot {0} already has an operation in flight")]
    Busy(u32),
    #[error("slot {0} has no open socket")]
    NoSocket(u32),
    #[error("slot {0} out of range")]
    Range(u32),
    #[error("shared payload {0} not registered")]
    NoPayload(usize),
    #[error("send offset beyond the end of the buffer")]
    Offset,
}

struct Slot {
    fd: i32,
    pending: Option<(Op, Source)>,
    generation: u32,
    addr: libc::sockaddr_in,
    out: Vec<u8>,
}

/// The ring plus the slots whose memory it lends to the kernel.
pub struct SlotRing {
    ring: IoUring,
    slots: Vec<Slot>,
    recv_bufs: Box<[u8]>,
    recv_size: usize,
    shared: Vec<Arc<[u8]>>,
    in_flight: usize,
}

fn user_data(slot: u32, generation: u32, op: Op) -> u64 {
    (u64::from(slot) << 32) | (u64::from(generation & 0x00ff_ffff) << 8) | op.tag()
}

impl SlotRing {
    /// `slots` connection slots with `recv_size`-byte receive buffers; `shared` are read-only
    /// payloads any slot may send (kept alive as long as the ring).
    pub fn new(slots: usize, recv_size: usize, shared: Vec<Arc<[u8]>>) -> io::Result<Self> {
        let entries = (slots.max(8) * 2).next_power_of_two().min(32_768) as u32;
        let ring = IoUring::builder()
            .setup_cqsize(entries * 2)
            .build(entries)?;
        let slots = (0..slots)
            .map(|_| Slot {
                fd: -1,
                pending: None,
                generation: 0,
                addr: sock::sockaddr_in(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
                out: Vec::with_capacity(512),
            })
            .collect::<Vec<_>>();
        let recv_bufs = vec![0u8; slots.len() * recv_size].into_boxed_slice();
        Ok(SlotRing {
            ring,
            slots,
            recv_bufs,
            recv_size,
            shared,
            in_flight: 0,
        })
    }

    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    pub fn is_idle(&self, slot: u32) -> bool {
        self.slots
            .get(slot as usize)
            .is_some_and(|s| s.pending.is_none())
    }

    pub fn has_socket(&self, slot: u32) -> bool {
        self.slots.get(slot as usize).is_some_and(|s| s.fd >= 0)
    }

    /// Operations submitted (or queued) and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn idle_slot(&mut self, slot: u32) -> Result<&mut Slot, SlotError> {
        let s = self
            .slots
            .get_mut(slot as usize)
            .ok_or(SlotError::Range(slot))?;
        if s.pending.is_some() {
            return Err(SlotError::Busy(slot));
        }
        Ok(s)
    }

    /// Opens a TCP socket for `slot` (optionally bound to `source`, port chosen at connect).
    pub fn open_tcp(
        &mut self,
        slot: u32,
        source: Option<Ipv4Addr>,
    ) -> Result<io::Result<()>, SlotError> {
        let s = self.idle_slot(slot)?;
        if s.fd >= 0 {
            return Err(SlotError::Busy(slot));
        }
        Ok(sock::tcp_socket(source).map(|fd| s.fd = fd))
    }

    /// Opens a UDP socket for `slot`, connected to `dst` (no packet is sent by this).
    pub fn open_udp(
        &mut self,
        slot: u32,
        source: Option<Ipv4Addr>,
        dst: SocketAddrV4,
    ) -> Result<io::Result<()>, SlotError> {
        let s = self.idle_slot(slot)?;
        if s.fd >= 0 {
            return Err(SlotError::Busy(slot));
        }
        Ok(sock::udp_socket(source, dst).map(|fd| s.fd = fd))
    }

    /// The bytes of the slot's last completed receive together with its outgoing buffer
    /// (both usable only while no operation is in flight).
    pub fn received_and_out(
        &mut self,
        slot: u32,
        len: usize,
    ) -> Result<(&[u8], &mut Vec<u8>), SlotError> {
        let recv_size = self.recv_size;
        let s = self
            .slots
            .get_mut(slot as usize)
            .ok_or(SlotError::Range(slot))?;
        if s.pending.is_some() {
            return Err(SlotError::Busy(slot));
        }
        let start = slot as usize * recv_size;
        Ok((
            &self.recv_bufs[start..start + len.min(recv_size)],
            &mut s.out,
        ))
    }

    /// The slot's outgoing buffer, writable only while no operation is in flight.
    pub fn out_mut(&mut self, slot: u32) -> Result<&mut Vec<u8>, SlotError> {
        Ok(&mut self.idle_slot(slot)?.out)
    }

    /// The first `len` bytes received by the slot's last completed receive.
    pub fn received(&self, slot: u32, len: usize) -> Result<&[u8], SlotError> {
        let s = self
            .slots
            .get(slot as usize)
            .ok_or(SlotError::Range(slot))?;
        if s.pending.is_some() {
            return Err(SlotError::Busy(slot));
        }
        let start = slot as usize * self.recv_size;
        Ok(&self.recv_bufs[start..start + len.min(self.recv_size)])
    }

    fn push(&mut self, entry: io_uring::squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry pushed here points only into memory owned by `self`
            // (slot addresses, slot out buffers, receive buffers, shared payloads) which is
            // neither freed nor moved nor written by us until the entry's completion is
            // reaped in `wait` (enforced by `pending`), or until `Drop` has waited for it.
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                self.in_flight += 1;
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    fn begin(&mut self, slot: u32, op: Op, src: Source) -> Result<(i32, u64), SlotError> {
        let s = self.idle_slot(slot)?;
        if s.fd < 0 {
            return Err(SlotError::NoSocket(slot));
        }
        s.generation = s.generation.wrapping_add(1);
        s.pending = Some((op, src));
        Ok((s.fd, user_data(slot, s.generation, op)))
    }

    /// Starts a non-blocking connect of the slot's socket to `dst`.
    pub fn connect(&mut self, slot: u32, dst: SocketAddrV4) -> Result<io::Result<()>, SlotError> {
        let (fd, ud) = self.begin(slot, Op::Connect, Source::Out)?;
        let s = &mut self.slots[slot as usize];
        s.addr = sock::sockaddr_in(dst);
        let addr = std::ptr::addr_of!(s.addr).cast::<libc::sockaddr>();
        let e = opcode::Connect::new(
            types::Fd(fd),
            addr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
        .build()
        .user_data(ud);
        Ok(self.push(e))
    }

    /// Sends `src[offset..]` (one `send`; the completion tells how much went).
    pub fn send(
        &mut self,
        slot: u32,
        src: Source,
        offset: usize,
    ) -> Result<io::Result<()>, SlotError> {
        let (ptr, len) = match src {
            Source::Out => {
                let out = &self
                    .slots
                    .get(slot as usize)
                    .ok_or(SlotError::Range(slot))?
                    .out;
                (out.as_ptr(), out.len())
            }
            Source::Shared(i) => {
                let p = self.shared.get(i).ok_or(SlotError::NoPayload(i))?;
                (p.as_ptr(), p.len())
            }
        };
        if offset > len {
            return Err(SlotError::Offset);
        }
        let (fd, ud) = self.begin(slot, Op::Send, src)?;
        let chunk = (len - offset).min(u32::MAX as usize) as u32;
        // `ptr.wrapping_add` stays inside (or one past) the buffer because offset <= len.
        let e = opcode::Send::new(types::Fd(fd), ptr.wrapping_add(offset), chunk)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(ud);
        Ok(self.push(e))
    }

    /// Accepts one connection from `listener` (a listening socket the caller keeps open for
    /// the ring's lifetime) into the empty `slot`; at the completion the slot owns the new
    /// socket (result = its descriptor).
    pub fn accept(&mut self, slot: u32, listener: i32) -> Result<io::Result<()>, SlotError> {
        let s = self.idle_slot(slot)?;
        if s.fd >= 0 {
            return Err(SlotError::Busy(slot));
        }
        s.generation = s.generation.wrapping_add(1);
        s.pending = Some((Op::Accept, Source::Out));
        let ud = user_data(slot, s.generation, Op::Accept);
        let e = opcode::Accept::new(
            types::Fd(listener),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .user_data(ud);
        Ok(self.push(e))
    }

    /// Receives into the slot's buffer.
    pub fn recv(&mut self, slot: u32) -> Result<io::Result<()>, SlotError> {
        let (fd, ud) = self.begin(slot, Op::Recv, Source::Out)?;
        let start = slot as usize * self.recv_size;
        let ptr = self.recv_bufs[start..start + self.recv_size].as_mut_ptr();
        let e = opcode::Recv::new(types::Fd(fd), ptr, self.recv_size as u32)
            .build()
            .user_data(ud);
        Ok(self.push(e))
    }

    /// Closes the slot's socket through the ring; the slot is free again at its completion.
    pub fn close(&mut self, slot: u32) -> Result<io::Result<()>, SlotError> {
        let (fd, ud) = self.begin(slot, Op::Close, Source::Out)?;
        let e = opcode::Close::new(types::Fd(fd)).build().user_data(ud);
        Ok(self.push(e))
    }

    /// Asks the kernel to cancel the slot's in-flight operation (its completion then carries
    /// `-ECANCELED`, or its real result if it finished first). No-op for idle slots.
    pub fn cancel(&mut self, slot: u32) -> io::Result<()> {
        let Some(s) = self.slots.get(slot as usize) else {
            return Ok(());
        };
        let Some((op, _)) = s.pending else {
            return Ok(());
        };
        if op == Op::Close {
            return Ok(());
        }
        let target = user_data(slot, s.generation, op);
        let e = opcode::AsyncCancel::new(target)
            .build()
            .user_data(user_data(slot, 0, Op::Cancel));
        self.push(e)
    }

    /// Submits what is queued, waits up to `timeout` for at least one completion, and appends
    /// every available completion to `out` (cancel acknowledgements are not reported).
    pub fn wait(&mut self, timeout: Duration, out: &mut Vec<Completion>) -> io::Result<()> {
        if self.in_flight == 0 {
            // Nothing can complete: the kernel would return at once, so sleep instead.
            std::thread::sleep(timeout);
            return Ok(());
        }
        let ts = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&ts);
        let want = usize::from(self.in_flight > 0 && timeout > Duration::ZERO);
        match self.ring.submitter().submit_with_args(want, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        self.reap(out);
        Ok(())
    }

    fn reap(&mut self, out: &mut Vec<Completion>) {
        let mut cq = self.ring.completion();
        cq.sync();
        for cqe in &mut cq {
            self.in_flight = self.in_flight.saturating_sub(1);
            let ud = cqe.user_data();
            let Some(op) = Op::from_tag(ud & 0xff) else {
                continue;
            };
            if op == Op::Cancel {
                continue;
            }
            let slot = (ud >> 32) as u32;
            let generation = ((ud >> 8) & 0x00ff_ffff) as u32;
            let Some(s) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            if s.generation & 0x00ff_ffff != generation || s.pending.map(|p| p.0) != Some(op) {
                continue;
            }
            s.pending = None;
            if op == Op::Close {
                s.fd = -1;
            }
            if op == Op::Accept && cqe.result() >= 0 {
                s.fd = cqe.result();
            }
            out.push(Completion {
                slot,
                op,
                result: cqe.result(),
            });
        }
    }
}

impl Drop for SlotRing {
    fn drop(&mut self) {
        // Cancel everything still in the kernel and wait (bounded) for it to finish, so no
        // completion can write into memory we are about to free.
        let pending: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&i| !self.is_idle(i))
            .collect();
        for slot in pending {
            let _ = self.cancel(slot);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut sink = Vec::new();
        while self.in_flight > 0 && Instant::now() < deadline {
            if self.wait(Duration::from_millis(50), &mut sink).is_err() {
                break;
            }
            sink.clear();
        }
        for s in &mut self.slots {
            if s.fd >= 0 && s.pending.is_none() {
                sock::close(s.fd);
                s.fd = -1;
            }
        }
        if self.in_flight > 0 {
            // Some operation did not come back: keep its memory alive for the rest of the
            // process rather than risk the kernel writing into freed memory.
            std::mem::forget(std::mem::take(&mut self.recv_bufs));
            std::mem::forget(std::mem::take(&mut self.slots));
            std::mem::forget(std::mem::take(&mut self.shared));
        }
    }
}
