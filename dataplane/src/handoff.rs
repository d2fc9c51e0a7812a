//! Handoff of frames to the worker that owns their flow: bounded
//! single-producer/single-consumer rings, one per ordered pair of workers.
//!
//! Why hand-written: a frame is copied once into a preallocated slot by the
//! producer and processed *in place* in that slot by the consumer (the
//! pipeline rewrites frames), then the slot is released — no allocation, no
//! lock, no second copy. `crossbeam::queue::ArrayQueue<[u8; N]>` would copy each
//! frame twice (push and pop by value) and is multi-producer (a CAS per
//! operation); see `tests::measure_spsc_vs_array_queue` for the measurement.
//!
//! Overflow is a counted drop ([`HandoffFull`]), never a wait: a worker must
//! not block on another worker.
//!
//! Two kinds of frames cross ([`HandoffKind`]): frames steered on receipt
//! (the receiving worker does not own their flow), and the fragments of a
//! datagram that a worker reassembled for a flow another worker owns
//! ([`Outlet`], `pipeline/fragments.rs`): the owner reassembles them again in
//! its own table and must never hand them on.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam::utils::CachePadded;

use crate::io::MAX_FRAME;

/// Why a frame could not be handed off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandoffFull {
    /// The ring toward the owner is full.
    #[error("handoff ring full")]
    Full,
    /// The frame is longer than a slot.
    #[error("frame longer than a handoff slot")]
    TooLong,
    /// The port number does not fit a slot's port byte.
    #[error("port number above {}", crate::io::MAX_PORT)]
    BadPort,
}

/// Why a frame crosses to another worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffKind {
    /// Steered on receipt: the receiving worker does not own the frame's flow.
    Steered,
    /// A fragment of a datagram the sending worker reassembled and whose flow
    /// the receiving worker owns: reassemble and process it here, never hand
    /// it on.
    Reassemble,
}

struct Slot {
    port: u8,
    kind: HandoffKind,
    len: u16,
    data: [u8; MAX_FRAME],
}

/// The shared ring. Slots `tail..head` (mod capacity) hold frames.
pub struct SpscRing {
    slots: Box<[UnsafeCell<Slot>]>,
    mask: usize,
    /// Next slot the producer writes; only the producer stores it.
    head: CachePadded<AtomicUsize>,
    /// Next slot the consumer reads; only the consumer stores it.
    tail: CachePadded<AtomicUsize>,
}

impl std::fmt::Debug for SpscRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpscRing")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish()
    }
}

// SAFETY: slots are only accessed through the single Producer (slots in
// head..tail+capacity, i.e. free ones) and the single Consumer (slots in
// tail..head, i.e. published ones); the Release/Acquire pairs on head and tail
// hand each slot over between them, so no slot is ever accessed by both.
unsafe impl Sync for SpscRing {}

impl SpscRing {
    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Frames waiting (occupancy), readable from any thread.
    pub fn len(&self) -> usize {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        head.wrapping_sub(tail).min(self.capacity())
    }

    /// No frame waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Create a ring of `capacity` slots (rounded up to a power of two, ≥ 2).
pub fn spsc(capacity: usize) -> (Producer, Consumer) {
    let cap = capacity.max(2).next_power_of_two();
    let slots = (0..cap)
        .map(|_| {
            UnsafeCell::new(Slot {
                port: 0,
                kind: HandoffKind::Steered,
                len: 0,
                data: [0; MAX_FRAME],
            })
        })
        .collect();
    let ring = Arc::new(SpscRing {
        slots,
        mask: cap - 1,
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
    });
    (
        Producer {
            ring: ring.clone(),
            head: 0,
            cached_tail: 0,
        },
        Consumer {
            ring,
            tail: 0,
            cached_head: 0,
        },
    )
}

/// The sending end (owned by one worker).
#[derive(Debug)]
pub struct Producer {
    ring: Arc<SpscRing>,
    head: usize,
    cached_tail: usize,
}

impl Producer {
    /// Copy `frame` received on `port` into the ring and publish it
    /// ([`HandoffKind::Steered`]).
    pub fn push(&mut self, port: usize, frame: &[u8]) -> Result<(), HandoffFull> {
        self.push_kind(port, HandoffKind::Steered, frame)
    }

    /// Free slots (at least this many pushes will succeed).
    pub fn room(&mut self) -> usize {
        let cap = self.ring.capacity();
        self.cached_tail = self.ring.tail.load(Ordering::Acquire);
        cap - self.head.wrapping_sub(self.cached_tail).min(cap)
    }

    /// [`push`](Self::push) with the reason the frame crosses.
    pub fn push_kind(
        &mut self,
        port: usize,
        kind: HandoffKind,
        frame: &[u8],
    ) -> Result<(), HandoffFull> {
        if frame.len() > MAX_FRAME {
            return Err(HandoffFull::TooLong);
        }
        if port > crate::io::MAX_PORT {
            return Err(HandoffFull::BadPort);
        }
        let cap = self.ring.capacity();
        if self.head.wrapping_sub(self.cached_tail) >= cap {
            self.cached_tail = self.ring.tail.load(Ordering::Acquire);
            if self.head.wrapping_sub(self.cached_tail) >= cap {
                return Err(HandoffFull::Full);
            }
        }
        let cell = &self.ring.slots[self.head & self.ring.mask];
        // SAFETY: slot `head` is free (head - tail < capacity, with tail read
        // with Acquire so the consumer is done with it) and only this single
        // producer writes free slots.
        let slot = unsafe { &mut *cell.get() };
        slot.port = port as u8;
        slot.kind = kind;
        slot.len = frame.len() as u16;
        slot.data[..frame.len()].copy_from_slice(frame);
        self.head = self.head.wrapping_add(1);
        self.ring.head.store(self.head, Ordering::Release);
        Ok(())
    }

    /// The shared ring (for occupancy).
    pub fn ring(&self) -> &Arc<SpscRing> {
        &self.ring
    }
}

/// The receiving end (owned by the flow's owner worker).
#[derive(Debug)]
pub struct Consumer {
    ring: Arc<SpscRing>,
    tail: usize,
    cached_head: usize,
}

impl Consumer {
    /// Lend up to `max` waiting frames, one at a time and in order, to `f` as
    /// `(port, frame)` to process in place; then release their slots.
    pub fn pop_burst<F>(&mut self, max: usize, mut f: F) -> usize
    where
        F: FnMut(usize, &mut [u8]),
    {
        self.pop_burst_kind(max, |port, _, frame| f(port, frame))
    }

    /// [`pop_burst`](Self::pop_burst), also telling why each frame crossed.
    pub fn pop_burst_kind<F>(&mut self, max: usize, mut f: F) -> usize
    where
        F: FnMut(usize, HandoffKind, &mut [u8]),
    {
        if self.cached_head.wrapping_sub(self.tail) < max {
            self.cached_head = self.ring.head.load(Ordering::Acquire);
        }
        let avail = self.cached_head.wrapping_sub(self.tail).min(max);
        for i in 0..avail {
            let cell = &self.ring.slots[self.tail.wrapping_add(i) & self.ring.mask];
            // SAFETY: the slot is in tail..head: published by the producer
            // (head read with Acquire) and not yet released, so only this
            // single consumer accesses it.
            let slot = unsafe { &mut *cell.get() };
            let len = usize::from(slot.len);
            f(usize::from(slot.port), slot.kind, &mut slot.data[..len]);
        }
        self.tail = self.tail.wrapping_add(avail);
        if avail > 0 {
            self.ring.tail.store(self.tail, Ordering::Release);
        }
        avail
    }

    /// The shared ring (for occupancy).
    pub fn ring(&self) -> &Arc<SpscRing> {
        &self.ring
    }
}

/// A worker's producers lent to its processor, for the datagrams it hands to
/// their owner by itself ([`HandoffKind::Reassemble`]); counts what crossed
/// and what was refused.
#[derive(Debug)]
pub struct Outlet<'a> {
    to: &'a mut [Option<Producer>],
    /// Frames pushed.
    pub handed: u64,
    /// Frames refused (no room, or no ring toward that worker).
    pub dropped: u64,
}

impl<'a> Outlet<'a> {
    /// An outlet over `to` (`to[w]`: the ring toward worker `w`).
    pub fn new(to: &'a mut [Option<Producer>]) -> Self {
        Outlet {
            to,
            handed: 0,
            dropped: 0,
        }
    }

    /// Free slots toward `worker` (0 when there is no ring toward it).
    pub fn room(&mut self, worker: usize) -> usize {
        match self.to.get_mut(worker) {
            Some(Some(p)) => p.room(),
            _ => 0,
        }
    }

    /// Hands `frame` (to be processed as received on `port`) to `worker`
    /// as [`HandoffKind::Reassemble`]; a refusal is counted in `dropped`.
    pub fn push(&mut self, worker: usize, port: usize, frame: &[u8]) -> Result<(), HandoffFull> {
        let r = match self.to.get_mut(worker) {
            Some(Some(p)) => p.push_kind(port, HandoffKind::Reassemble, frame),
            _ => Err(HandoffFull::Full),
        };
        match r {
            Ok(()) => self.handed += 1,
            Err(_) => self.dropped += 1,
        }
        r
    }

    /// Counts `n` frames refused before reaching a ring (e.g. a datagram
    /// whose fragments did not all fit).
    pub fn count_dropped(&mut self, n: u64) {
        self.dropped += n;
    }
}

/// One worker's ends of the handoff mesh.
#[derive(Debug)]
pub struct HandoffLinks {
    /// This worker's index.
    pub me: usize,
    /// `to[w]`: ring toward worker `w` (`None` for `w == me`).
    pub to: Vec<Option<Producer>>,
    /// Rings from every other worker toward this one.
    pub from: Vec<Consumer>,
}

/// Build the full mesh for `workers` workers: `links[w]` belongs to worker w.
pub fn mesh(workers: usize, capacity: usize) -> Vec<HandoffLinks> {
    let mut links: Vec<HandoffLinks> = (0..workers)
        .map(|me| HandoffLinks {
            me,
            to: (0..workers).map(|_| None).collect(),
            from: Vec::new(),
        })
        .collect();
    for src in 0..workers {
        for dst in 0..workers {
            if src != dst {
                let (p, c) = spsc(capacity);
                links[src].to[dst] = Some(p);
                links[dst].from.push(c);
            }
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_in_order_and_overflow_is_refused() {
        let (mut p, mut c) = spsc(3); // rounds to 4
        for i in 0..4u8 {
            p.push(usize::from(i % 2), &[i, i]).unwrap();
        }
        assert_eq!(p.push(0, &[9]), Err(HandoffFull::Full));
        assert_eq!(p.ring().len(), 4);
        let mut seen = Vec::new();
        assert_eq!(
            c.pop_burst(3, |port, f| {
                f[0] += 100;
                seen.push((port, f.to_vec()));
            }),
            3
        );
        assert_eq!(
            seen,
            vec![(0, vec![100, 0]), (1, vec![101, 1]), (0, vec![102, 2])]
        );
        p.push(1, &[7]).unwrap();
        let mut rest = Vec::new();
        c.pop_burst(10, |_, f| rest.push(f.to_vec()));
        assert_eq!(rest, vec![vec![3, 3], vec![7]]);
        assert!(c.ring().is_empty());
        assert_eq!(p.push(0, &[0; MAX_FRAME + 1]), Err(HandoffFull::TooLong));
    }

    #[test]
    fn kinds_cross_and_room_is_exact() {
        let (mut p, mut c) = spsc(4);
        assert_eq!(p.room(), 4);
        p.push(1, &[1]).unwrap();
        p.push_kind(0, HandoffKind::Reassemble, &[2]).unwrap();
        assert_eq!(p.room(), 2);
        let mut got = Vec::new();
        c.pop_burst_kind(8, |port, kind, f| got.push((port, kind, f[0])));
        assert_eq!(
            got,
            vec![
                (1, HandoffKind::Steered, 1),
                (0, HandoffKind::Reassemble, 2)
            ]
        );
        assert_eq!(p.room(), 4);
    }

    #[test]
    fn outlet_pushes_reassembly_frames_and_counts_refusals() {
        let mut links = mesh(2, 2);
        let mut out = Outlet::new(&mut links[0].to);
        assert_eq!(out.room(1), 2);
        assert_eq!(out.room(0), 0, "no ring toward itself");
        out.push(1, 1, &[7]).unwrap();
        out.push(1, 1, &[8]).unwrap();
        assert_eq!(out.push(1, 1, &[9]), Err(HandoffFull::Full));
        assert_eq!(out.push(0, 1, &[9]), Err(HandoffFull::Full));
        out.count_dropped(3);
        assert_eq!((out.handed, out.dropped), (2, 5));
        let mut got = Vec::new();
        links[1].from[0].pop_burst_kind(8, |port, kind, f| got.push((port, kind, f[0])));
        assert_eq!(
            got,
            vec![
                (1, HandoffKind::Reassemble, 7),
                (1, HandoffKind::Reassemble, 8)
            ]
        );
    }

    #[test]
    fn mesh_connects_every_ordered_pair() {
        let mut links = mesh(3, 8);
        assert!(links[1].to[1].is_none());
        links[0].to[2].as_mut().unwrap().push(0, &[0xaa]).unwrap();
        links[1].to[2].as_mut().unwrap().push(1, &[0xbb]).unwrap();
        let mut got = Vec::new();
        for c in &mut links[2].from {
            c.pop_burst(8, |port, f| got.push((port, f[0])));
        }
        got.sort();
        assert_eq!(got, vec![(0, 0xaa), (1, 0xbb)]);
        assert_eq!(links[0].from.len(), 2);
    }

    #[test]
    fn two_threads_move_many_frames_without_loss_or_reorder() {
        let (mut p, mut c) = spsc(256);
        let n = 200_000u32;
        let prod = std::thread::spawn(move || {
            let mut i = 0u32;
            while i < n {
                if p.push(0, &i.to_le_bytes()).is_ok() {
                    i += 1;
                }
            }
        });
        let mut next = 0u32;
        while next < n {
            c.pop_burst(64, |_, f| {
                let v = u32::from_le_bytes([f[0], f[1], f[2], f[3]]);
                assert_eq!(v, next);
                next += 1;
            });
        }
        prod.join().unwrap();
    }

    /// Measurement (run with `--ignored --nocapture`, release): CPU cost per
    /// frame of a handoff (push + pop of a 64-byte frame, in bursts of 64) for
    /// this ring vs `ArrayQueue` of fixed-size frames. Single-threaded on
    /// purpose: it measures the work a worker spends, not the scheduler
    /// (two spinning threads on a shared 2-core machine measured noise).
    #[test]
    #[ignore]
    fn measure_spsc_vs_array_queue() {
        use crossbeam::queue::ArrayQueue;
        use std::time::Instant;
        let rounds = 50_000u64;
        let frame = [0x5au8; 64];
        let mut sum = 0u64;

        let (mut p, mut c) = spsc(1024);
        let t = Instant::now();
        for _ in 0..rounds {
            for _ in 0..64 {
                let _ = p.push(0, &frame);
            }
            c.pop_burst(64, |_, f| sum += u64::from(f[63]));
        }
        let spsc_ns = t.elapsed().as_nanos() as f64 / (rounds * 64) as f64;

        struct Frame {
            len: u16,
            data: [u8; MAX_FRAME],
        }
        let q = ArrayQueue::<Frame>::new(1024);
        let t = Instant::now();
        for _ in 0..rounds {
            for _ in 0..64 {
                let mut f = Frame {
                    len: 64,
                    data: [0; MAX_FRAME],
                };
                f.data[..64].copy_from_slice(&frame);
                let _ = q.push(f);
            }
            while let Some(f) = q.pop() {
                sum += u64::from(f.data[usize::from(f.len) - 1]);
            }
        }
        let aq_ns = t.elapsed().as_nanos() as f64 / (rounds * 64) as f64;
        println!(
            "handoff cost per 64-byte frame: spsc ring {spsc_ns:.1} ns; ArrayQueue<[u8;{MAX_FRAME}]> {aq_ns:.1} ns (checksum {sum})"
        );
    }
}
