//! A single-level timing wheel with lazy re-check, one per session table.
//!
//! Time is cut into ticks of `granularity` (default 10 ms); the wheel has `slots`
//! (a power of two, default 4096, i.e. a 41 s horizon) circular doubly linked
//! lists. Node `i` is the timer of table slot `i`; the list heads are sentinel
//! nodes stored after the session nodes, so linking, unlinking and moving a whole
//! slot are O(1) with no allocation (the node array is allocated once).
//!
//! * A timer with deadline `d` is filed under tick `ceil(d / granularity)`.
//!   Timers farther away than the horizon share slots with nearer ones ("rounds"):
//!   when their slot comes up early they are simply re-filed.
//! * Re-arming on activity is O(1) and usually free: a later deadline only
//!   overwrites the stored deadline and leaves the node where it is (it will be
//!   re-filed when its old slot comes up); an earlier deadline re-links the node.
//! * [`TimerWheel::advance`] expires, in bounded batches, exactly the timers with
//!   `ceil(d / granularity) * granularity <= now`: never early, at most one tick
//!   late. (A deadline already in the past when armed fires at the next
//!   unprocessed tick.)
//!
//! The node array is a [`PageArray`] (huge pages when the kernel gives them,
//! see [`crate::memory`]): arming and disarming touch random nodes of a large
//! table.

use bytemuck::{Pod, Zeroable};

use crate::memory::{Backing, PageArray, PagePolicy};
use crate::time::Nanos;

/// Wheel geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WheelConfig {
    /// Length of one tick (≥ 1 ns).
    pub granularity: Nanos,
    /// Number of slots; rounded up to a power of two.
    pub slots: u32,
}

impl Default for WheelConfig {
    fn default() -> Self {
        WheelConfig {
            granularity: Nanos::from_millis(10),
            slots: 4096,
        }
    }
}

#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
struct Node {
    prev: u32,
    next: u32,
    deadline: u64,
}

/// The outcome of one [`TimerWheel::advance`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Advance {
    /// Timers expired by this call.
    pub expired: usize,
    /// The budget ran out: call again with the same (or a later) `now`.
    pub more: bool,
}

/// Timers for `capacity` nodes.
#[derive(Debug)]
pub struct TimerWheel {
    granularity: u64,
    mask: u64,
    capacity: u32,
    next_tick: u64,
    armed: u32,
    nodes: PageArray<Node>,
}

impl TimerWheel {
    /// A wheel for nodes `0..capacity`, whose first tick is the one containing `now`.
    ///
    /// # Panics
    ///
    /// When the node array cannot be mapped (out of memory, like a `Vec`);
    /// [`with_pages`](Self::with_pages) returns the error instead.
    pub fn new(capacity: u32, config: WheelConfig, now: Nanos) -> TimerWheel {
        match TimerWheel::with_pages(capacity, config, now, PagePolicy::HugePages) {
            Ok(w) => w,
            Err(e) => panic!("timer wheel for {capacity} nodes: {e}"),
        }
    }

    /// [`new`](Self::new) with an explicit page policy; fails only when the
    /// node array cannot be mapped.
    pub fn with_pages(
        capacity: u32,
        config: WheelConfig,
        now: Nanos,
        policy: PagePolicy,
    ) -> std::io::Result<TimerWheel> {
        let granularity = config.granularity.0.max(1);
        let slots = config.slots.clamp(1, 1 << 24).next_power_of_two();
        let total = capacity as usize + slots as usize + 1;
        let mut nodes = PageArray::<Node>::zeroed(total, policy)?;
        for (i, node) in nodes.as_mut_slice().iter_mut().enumerate() {
            node.prev = i as u32;
            node.next = i as u32;
        }
        Ok(TimerWheel {
            granularity,
            mask: slots as u64 - 1,
            capacity,
            next_tick: now.0 / granularity,
            armed: 0,
            nodes,
        })
    }

    /// Number of armed timers.
    pub fn armed(&self) -> u32 {
        self.armed
    }

    /// Bytes of the node array.
    pub fn reserved_bytes(&self) -> usize {
        self.nodes.bytes()
    }

    /// What the node array got.
    pub fn backing(&self) -> Backing {
        self.nodes.backing()
    }

    /// Tick length.
    pub fn granularity(&self) -> Nanos {
        Nanos(self.granularity)
    }

    /// Whether node `i` has a running timer.
    #[inline]
    pub fn is_armed(&self, i: u32) -> bool {
        self.nodes.as_slice()[i as usize].next != i
    }

    /// The deadline of node `i`, if armed.
    #[inline]
    pub fn deadline(&self, i: u32) -> Option<Nanos> {
        self.is_armed(i)
            .then(|| Nanos(self.nodes.as_slice()[i as usize].deadline))
    }

    /// Sets node `i`'s deadline (arming it if needed). O(1); a later deadline on an
    /// armed node writes one word.
    #[inline]
    pub fn arm(&mut self, i: u32, deadline: Nanos) {
        debug_assert!(i < self.capacity);
        let head = self.sentinel(self.ceil_tick(deadline.0).max(self.next_tick));
        let nodes = self.nodes.as_mut_slice();
        let node = &mut nodes[i as usize];
        if node.next != i {
            if deadline.0 >= node.deadline {
                node.deadline = deadline.0;
                return;
            }
            unlink(nodes, i);
        } else {
            self.armed += 1;
        }
        nodes[i as usize].deadline = deadline.0;
        link(nodes, head, i);
    }

    /// Activity on node `i`: if armed, moves its deadline to `deadline`
    /// (usually a later one: one store, no division, one view of the node
    /// array; an earlier one re-files the node). Returns whether the node was
    /// armed (an unarmed node stays unarmed).
    #[inline]
    pub fn extend(&mut self, i: u32, deadline: Nanos) -> bool {
        debug_assert!(i < self.capacity);
        let nodes = self.nodes.as_mut_slice();
        let Some(node) = nodes.get_mut(i as usize) else {
            return false;
        };
        if node.next == i {
            return false;
        }
        if deadline.0 >= node.deadline {
            node.deadline = deadline.0;
        } else {
            self.refile_earlier(i, deadline);
        }
        true
    }

    /// An armed node's deadline moved earlier: unlink and file it anew.
    #[cold]
    fn refile_earlier(&mut self, i: u32, deadline: Nanos) {
        let head = self.sentinel(self.ceil_tick(deadline.0).max(self.next_tick));
        let nodes = self.nodes.as_mut_slice();
        unlink(nodes, i);
        nodes[i as usize].deadline = deadline.0;
        link(nodes, head, i);
    }

    /// Stops node `i`'s timer (no-op if not armed).
    #[inline]
    pub fn disarm(&mut self, i: u32) {
        let nodes = self.nodes.as_mut_slice();
        if nodes[i as usize].next != i {
            unlink(nodes, i);
            self.armed -= 1;
        }
    }

    /// Expires up to `budget` timers due at `now`, calling `on_expiry(node)` for
    /// each (the node is already disarmed). Returns how many expired and whether
    /// the budget ran out before all due timers were handled.
    pub fn advance(
        &mut self,
        now: Nanos,
        budget: usize,
        mut on_expiry: impl FnMut(u32),
    ) -> Advance {
        let target = now.0 / self.granularity;
        let slots = self.mask + 1;
        let mut out = Advance::default();
        if self.next_tick > target {
            return out;
        }
        if target - self.next_tick >= slots {
            // Every slot is visited once in the last `slots` ticks, and expiry is
            // decided against `target`, so older ticks need no separate visit.
            self.next_tick = target + 1 - slots;
        }
        let work = self.capacity + slots as u32;
        while self.next_tick <= target {
            let head = self.sentinel(self.next_tick);
            self.splice_all(head, work);
            loop {
                let i = self.nodes.as_slice()[work as usize].next;
                if i == work {
                    break;
                }
                if out.expired >= budget {
                    self.splice_all(work, head);
                    out.more = true;
                    return out;
                }
                self.unlink(i);
                let tick = self.ceil_tick(self.nodes.as_slice()[i as usize].deadline);
                if tick <= target {
                    self.armed -= 1;
                    out.expired += 1;
                    on_expiry(i);
                } else {
                    self.link(self.sentinel(tick), i);
                }
            }
            self.next_tick += 1;
        }
        out
    }

    #[inline]
    fn ceil_tick(&self, d: u64) -> u64 {
        d.div_ceil(self.granularity)
    }

    #[inline]
    fn sentinel(&self, tick: u64) -> u32 {
        self.capacity + (tick & self.mask) as u32
    }

    #[inline]
    fn link(&mut self, head: u32, i: u32) {
        link(self.nodes.as_mut_slice(), head, i);
    }

    #[inline]
    fn unlink(&mut self, i: u32) {
        unlink(self.nodes.as_mut_slice(), i);
    }

    /// Moves every node of list `from` to the front of list `to` (O(1)).
    fn splice_all(&mut self, from: u32, to: u32) {
        let nodes = self.nodes.as_mut_slice();
        let first = nodes[from as usize].next;
        if first == from {
            return;
        }
        let last = nodes[from as usize].prev;
        let to_first = nodes[to as usize].next;
        nodes[to as usize].next = first;
        nodes[first as usize].prev = to;
        nodes[last as usize].next = to_first;
        nodes[to_first as usize].prev = last;
        nodes[from as usize].next = from;
        nodes[from as usize].prev = from;
    }
}

/// Links node `i` at the front of the list headed by `head`.
#[inline(always)]
fn link(nodes: &mut [Node], head: u32, i: u32) {
    let first = nodes[head as usize].next;
    nodes[i as usize].prev = head;
    nodes[i as usize].next = first;
    nodes[first as usize].prev = i;
    nodes[head as usize].next = i;
}

/// Takes node `i` out of its list (it then points to itself: not armed).
#[inline(always)]
fn unlink(nodes: &mut [Node], i: u32) {
    let Node { prev, next, .. } = nodes[i as usize];
    nodes[prev as usize].next = next;
    nodes[next as usize].prev = prev;
    nodes[i as usize].prev = i;
    nodes[i as usize].next = i;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wheel(cap: u32, slots: u32) -> TimerWheel {
        TimerWheel::new(
            cap,
            WheelConfig {
                granularity: Nanos::from_millis(10),
                slots,
            },
            Nanos::ZERO,
        )
    }

    fn drain(w: &mut TimerWheel, now: Nanos) -> Vec<u32> {
        let mut v = Vec::new();
        let r = w.advance(now, usize::MAX, |i| v.push(i));
        assert!(!r.more);
        v.sort_unstable();
        v
    }

    #[test]
    fn never_early_at_most_one_tick_late() {
        let mut w = wheel(4, 8);
        w.arm(0, Nanos::from_millis(25)); // tick ceil = 3 → fires at 30 ms
        w.arm(1, Nanos::from_millis(30)); // exactly on a tick → fires at 30 ms
        assert!(drain(&mut w, Nanos::from_millis(29)).is_empty());
        assert_eq!(drain(&mut w, Nanos::from_millis(30)), vec![0, 1]);
        assert_eq!(w.armed(), 0);
        assert!(!w.is_armed(0));
    }

    #[test]
    fn beyond_horizon_is_refiled() {
        let mut w = wheel(2, 4); // horizon 40 ms
        w.arm(0, Nanos::from_millis(1000));
        for ms in (0..1000).step_by(7) {
            assert!(drain(&mut w, Nanos::from_millis(ms)).is_empty(), "{ms}");
        }
        assert_eq!(drain(&mut w, Nanos::from_millis(1000)), vec![0]);
    }

    #[test]
    fn lazy_extension_and_earlier_rearm() {
        let mut w = wheel(2, 8);
        w.arm(0, Nanos::from_millis(20));
        w.arm(0, Nanos::from_millis(50)); // later: stays filed at 20 ms
        assert!(drain(&mut w, Nanos::from_millis(40)).is_empty());
        assert_eq!(w.deadline(0), Some(Nanos::from_millis(50)));
        w.arm(0, Nanos::from_millis(45)); // earlier: re-linked
        assert_eq!(drain(&mut w, Nanos::from_millis(45)), Vec::<u32>::new());
        assert_eq!(drain(&mut w, Nanos::from_millis(50)), vec![0]);
    }

    #[test]
    fn disarm_and_budget() {
        let mut w = wheel(10, 8);
        for i in 0..10 {
            w.arm(i, Nanos::from_millis(10));
        }
        w.disarm(3);
        w.disarm(3);
        assert_eq!(w.armed(), 9);
        let mut got = Vec::new();
        let r = w.advance(Nanos::from_millis(10), 4, |i| got.push(i));
        assert_eq!(
            r,
            Advance {
                expired: 4,
                more: true
            }
        );
        let r = w.advance(Nanos::from_millis(10), 4, |i| got.push(i));
        assert_eq!(
            r,
            Advance {
                expired: 4,
                more: true
            }
        );
        let r = w.advance(Nanos::from_millis(11), 4, |i| got.push(i));
        assert_eq!(
            r,
            Advance {
                expired: 1,
                more: false
            }
        );
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn big_jump_expires_everything_due() {
        let mut w = wheel(3, 4);
        w.arm(0, Nanos::from_secs(5));
        w.arm(1, Nanos::from_secs(3600));
        w.arm(2, Nanos::from_secs(7200));
        assert_eq!(drain(&mut w, Nanos::from_secs(3600)), vec![0, 1]);
        assert_eq!(drain(&mut w, Nanos::from_secs(7199)), Vec::<u32>::new());
        assert_eq!(drain(&mut w, Nanos::from_secs(7200)), vec![2]);
    }

    #[test]
    fn past_deadline_fires_next_tick() {
        let mut w = wheel(1, 4);
        drain(&mut w, Nanos::from_millis(100));
        w.arm(0, Nanos::from_millis(50));
        assert_eq!(drain(&mut w, Nanos::from_millis(105)), Vec::<u32>::new());
        assert_eq!(drain(&mut w, Nanos::from_millis(110)), vec![0]);
    }
}
