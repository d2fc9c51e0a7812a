//! Packet I/O: the ring abstraction the pipeline is generic over.
//!
//! Why a trait: the same pipeline runs on AF_PACKET rings in production, on
//! in-memory rings in tests and benchmarks, and on pcap files for replay. The
//! shape is chosen for a vector dataplane:
//!
//! - [`PortIo::rx_burst`] lends a whole burst of received frames at once, as
//!   disjoint `&mut [u8]`, so a pipeline can parse and hash the burst first and
//!   rewrite frames *in place* (NAT, masking) without copying.
//! - Output goes to a [`TxSink`], a preallocated batch of frames tagged with
//!   their egress port. Forwarded frames are copied in; locally built frames
//!   (ICMP errors, injected TCP segments, ARP replies) are written straight
//!   into a reserved slot with [`TxSink::build`]. [`PortIo::tx_flush`] sends the
//!   whole batch with one syscall per port (`sendmmsg`) — never one per packet.
//! - [`PortIo::wait_rx`] is the only place a worker sleeps (poll with timeout).
//!
//! Backends: [`afpacket`] (TPACKET_V3 RX ring + `sendmmsg` with
//! `PACKET_QDISC_BYPASS`, see `MACHINE.md` for why), [`memory`] (Vec-of-frames
//! rings) and [`pcap`] (classic libpcap files, for replay and capture).
//! [`csum`] completes partial checksums of offloaded frames; [`steer`] is the
//! flow hash shared by the kernel fanout program and the workers.

pub mod afpacket;
pub mod csum;
pub mod memory;
pub mod pcap;
pub mod steer;

use std::time::Duration;

/// Most frames one `rx_burst` lends at once.
pub const BURST: usize = 64;

/// Largest frame a [`TxSink`] slot or a handoff slot holds (MTU 1500 + Ethernet
/// + VLAN, rounded up). Frames longer than this are counted and dropped.
pub const MAX_FRAME: usize = 2048;

/// Errors of the I/O layer (setup and syscalls; never per packet allocation).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// A syscall failed during setup or operation.
    #[error("{op} on {ifname}: {source}")]
    Sys {
        /// What was being done (`"socket"`, `"mmap"`, `"bind"`…).
        op: &'static str,
        /// Interface concerned (empty when none).
        ifname: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The named interface does not exist in the current network namespace.
    #[error("no interface named {0:?}")]
    NoSuchInterface(String),
    /// A ring parameter is not acceptable (e.g. not a power of two).
    #[error("bad ring configuration: {0}")]
    BadConfig(&'static str),
    /// A port index out of range.
    #[error("port {port} out of range (backend has {ports} ports)")]
    NoSuchPort {
        /// Requested port.
        port: usize,
        /// Ports of the backend.
        ports: usize,
    },
    /// A pcap file could not be read or written.
    #[error("pcap: {0}")]
    Pcap(#[from] pcap::PcapError),
}

/// Per-port counters kept by a backend (plain integers: owned by one worker).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortStats {
    /// Frames handed to the pipeline.
    pub rx_frames: u64,
    /// Bytes handed to the pipeline.
    pub rx_bytes: u64,
    /// Frames longer than the interface MTU (GSO/GRO super-frames): dropped.
    pub rx_oversize: u64,
    /// Frames the kernel truncated to the ring's frame size: dropped.
    pub rx_truncated: u64,
    /// Frames with a partial (offloaded) checksum completed in software.
    pub rx_csum_completed: u64,
    /// Frames whose VLAN tag the kernel stripped (rx-vlan offload): dropped.
    pub rx_vlan_stripped: u64,
    /// Frames the kernel dropped because the ring was full (`PACKET_STATISTICS`).
    pub rx_ring_drops: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames that could not be sent (socket full after retries, send error).
    pub tx_errors: u64,
    /// Number of send syscalls (to check batching: frames / calls).
    pub tx_calls: u64,
    /// Gauge, sampled by `port_stats`: percent of the RX ring holding
    /// frames not yet consumed (0 for backends without a kernel ring).
    pub rx_ring_used_pct: u64,
}

/// A packet I/O backend with one or more ports.
pub trait PortIo {
    /// Number of ports (0 = Ethernet2/0 side, 1 = Ethernet2/1 side, …).
    fn port_count(&self) -> usize;

    /// Lend up to [`BURST`] received frames of `port` to `f` as disjoint
    /// mutable slices; they are released when `f` returns. Returns how many
    /// frames were lent (`f` is not called when none are ready). Never blocks.
    fn rx_burst<F>(&mut self, port: usize, f: F) -> Result<usize, IoError>
    where
        F: FnOnce(&mut [&mut [u8]]);

    /// Send every frame of `tx` on its port, batched, and empty it. Returns the
    /// number of frames sent; failures are counted in [`PortStats::tx_errors`].
    fn tx_flush(&mut self, tx: &mut TxSink) -> Result<usize, IoError>;

    /// Sleep until some port may have frames or `timeout` passes. Returns
    /// `true` when a port became readable.
    fn wait_rx(&mut self, timeout: Duration) -> Result<bool, IoError>;

    /// Counters of `port` (refreshing kernel-side counters where that is cheap).
    fn port_stats(&mut self, port: usize) -> PortStats;
}

/// Why a frame did not fit in a [`TxSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxFull {
    /// Every slot is taken: flush first.
    NoSlot,
    /// The frame is longer than [`MAX_FRAME`].
    TooLong,
    /// The port number is above [`MAX_PORT`].
    BadPort,
}

/// Highest port number a [`TxSink`] can tag (ports are stored as bytes).
pub const MAX_PORT: usize = 255;

/// A preallocated batch of frames waiting to be sent, each tagged with its
/// egress port. Filling it never allocates; when full, pushes fail and are
/// counted in [`TxSink::dropped`].
pub struct TxSink {
    data: Box<[u8]>,
    lens: Box<[u16]>,
    ports: Box<[u8]>,
    len: usize,
    dropped: u64,
}

impl std::fmt::Debug for TxSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxSink")
            .field("len", &self.len)
            .field("capacity", &self.lens.len())
            .field("dropped", &self.dropped)
            .finish()
    }
}

impl TxSink {
    /// A sink for up to `frames` frames (allocated once, here).
    pub fn with_capacity(frames: usize) -> Self {
        let frames = frames.max(1);
        TxSink {
            data: vec![0u8; frames * MAX_FRAME].into_boxed_slice(),
            lens: vec![0u16; frames].into_boxed_slice(),
            ports: vec![0u8; frames].into_boxed_slice(),
            len: 0,
            dropped: 0,
        }
    }

    /// Queue a copy of `frame` for `port`.
    pub fn push(&mut self, port: usize, frame: &[u8]) -> Result<(), TxFull> {
        let slot = self.build(port, frame.len())?;
        slot.copy_from_slice(frame);
        Ok(())
    }

    /// Reserve a slot of `len` bytes for `port` and return it to be written
    /// (contents are stale bytes of an earlier frame: write all of it).
    ///
    /// Inlined with one combined check: the forwarding fast path reserves a
    /// slot per frame; why a slot was refused is worked out out of line.
    #[inline]
    pub fn build(&mut self, port: usize, len: usize) -> Result<&mut [u8], TxFull> {
        let i = self.len;
        if len > MAX_FRAME || port > MAX_PORT || i >= self.lens.len() {
            return Err(self.refuse(port, len));
        }
        self.len += 1;
        // Both fit: len <= MAX_FRAME (2048) < u16::MAX and port <= MAX_PORT.
        self.lens[i] = len as u16;
        self.ports[i] = port as u8;
        Ok(&mut self.data[i * MAX_FRAME..i * MAX_FRAME + len])
    }

    /// Counts a refused [`build`](Self::build) and says why.
    #[cold]
    #[inline(never)]
    fn refuse(&mut self, port: usize, len: usize) -> TxFull {
        self.dropped += 1;
        if len > MAX_FRAME {
            TxFull::TooLong
        } else if port > MAX_PORT {
            TxFull::BadPort
        } else {
            TxFull::NoSlot
        }
    }

    /// Shorten the frame most recently reserved (after building it).
    pub fn truncate_last(&mut self, len: usize) {
        if let Some(i) = self.len.checked_sub(1) {
            self.lens[i] = self.lens[i].min(len as u16);
        }
    }

    /// Frames queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No frame queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots still free.
    pub fn room(&self) -> usize {
        self.lens.len() - self.len
    }

    /// Frames refused because the sink was full or a frame too long.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Count a drop decided by a backend (e.g. a frame for a missing port).
    pub fn count_drop(&mut self) {
        self.dropped += 1;
    }

    /// Frame `i` as `(port, bytes)`.
    pub fn frame(&self, i: usize) -> (usize, &[u8]) {
        let len = usize::from(self.lens[i]);
        (
            usize::from(self.ports[i]),
            &self.data[i * MAX_FRAME..i * MAX_FRAME + len],
        )
    }

    /// Iterate over queued frames as `(port, bytes)`.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &[u8])> + '_ {
        (0..self.len).map(move |i| self.frame(i))
    }

    /// Forget every queued frame (after sending).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// Lend frames to `f` as a burst on the stack (no allocation): collects up to
/// [`BURST`] slices from `frames` and calls `f` once. Returns how many.
pub(crate) fn lend_burst<'a, I, F>(frames: I, f: F) -> usize
where
    I: Iterator<Item = &'a mut [u8]>,
    F: FnOnce(&mut [&mut [u8]]),
{
    let mut burst: [&mut [u8]; BURST] = std::array::from_fn(|_| Default::default());
    let mut n = 0;
    for frame in frames.take(BURST) {
        burst[n] = frame;
        n += 1;
    }
    if n > 0 {
        f(&mut burst[..n]);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_push_build_and_overflow_are_counted() {
        let mut tx = TxSink::with_capacity(2);
        tx.push(1, &[1, 2, 3]).unwrap();
        let slot = tx.build(0, 4).unwrap();
        slot.copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(tx.push(0, &[0]), Err(TxFull::NoSlot));
        assert_eq!(tx.dropped(), 1);
        let frames: Vec<(usize, Vec<u8>)> = tx.iter().map(|(p, f)| (p, f.to_vec())).collect();
        assert_eq!(frames, vec![(1, vec![1, 2, 3]), (0, vec![9, 9, 9, 9])]);
        tx.clear();
        assert!(tx.is_empty());
        assert_eq!(tx.push(0, &[0u8; MAX_FRAME + 1]), Err(TxFull::TooLong));
        assert_eq!(tx.push(MAX_PORT + 1, &[0]), Err(TxFull::BadPort));
        assert_eq!(tx.dropped(), 3);
    }

    #[test]
    fn truncate_last_shortens_only_the_last_frame() {
        let mut tx = TxSink::with_capacity(4);
        tx.push(0, &[1, 2, 3, 4]).unwrap();
        tx.build(1, 100).unwrap()[..3].copy_from_slice(&[7, 8, 9]);
        tx.truncate_last(3);
        assert_eq!(tx.frame(0).1, &[1, 2, 3, 4]);
        assert_eq!(tx.frame(1), (1, &[7u8, 8, 9][..]));
    }

    #[test]
    fn lend_burst_caps_at_burst_and_skips_empty() {
        let mut store = vec![vec![0u8; 3]; BURST + 5];
        let n = lend_burst(store.iter_mut().map(|v| v.as_mut_slice()), |b| {
            for f in b.iter_mut() {
                f[0] = 1;
            }
        });
        assert_eq!(n, BURST);
        assert_eq!(store.iter().filter(|v| v[0] == 1).count(), BURST);
        let mut called = false;
        let none: Vec<Vec<u8>> = Vec::new();
        let mut none = none;
        assert_eq!(
            lend_burst(none.iter_mut().map(|v| v.as_mut_slice()), |_| called = true),
            0
        );
        assert!(!called);
    }
}
