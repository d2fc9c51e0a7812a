//! The per-worker byte arena behind the inspected streams.
//!
//! Two kinds of bytes must be held for inspected sessions (`smtp-inspection.md` §11): the
//! bytes already forwarded but not yet acknowledged (first copy wins, rule 2) and the
//! out-of-order frames waiting for a gap to fill (rule 1). Both are attacker-controlled, so
//! both live in one arena allocated once when the worker starts: fixed 2 KiB chunks linked
//! into chains, two separate budgets (the retransmission store and the 1 MiB out-of-order
//! budget), and a free stack whose capacity is the chunk count, so taking or returning a
//! chunk never touches the heap. When a budget is exhausted the caller gets fewer bytes
//! than it asked for and counts it; it never grows anything.

/// Size of one arena chunk.
pub const CHUNK_SIZE: usize = 2048;
/// Out-of-order memory per worker (`smtp-inspection.md` §11 rule 1: 1 MiB total per worker).
pub const OOO_BYTES_PER_WORKER: usize = 1 << 20;
/// A default retransmission-store budget per worker (the pipeline may choose another).
pub const DEFAULT_STORE_BYTES_PER_WORKER: usize = 32 << 20;

const NIL: u32 = u32::MAX;

/// Which budget a chunk is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Budget {
    /// Bytes forwarded and not yet acknowledged (first copy wins).
    Store,
    /// Out-of-order frames.
    Ooo,
}

/// Per-worker arena of fixed chunks with a store budget and an out-of-order budget.
pub struct StreamPool {
    mem: Box<[u8]>,
    link: Box<[u32]>,
    free: Vec<u32>,
    in_use: [u32; 2],
    limit: [u32; 2],
}

impl core::fmt::Debug for StreamPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamPool")
            .field("chunks", &self.link.len())
            .field("free", &self.free.len())
            .field("store_chunks", &self.in_use[0])
            .field("ooo_chunks", &self.in_use[1])
            .finish()
    }
}

impl StreamPool {
    /// Allocates the whole arena: `store_bytes` for retransmission stores and `ooo_bytes`
    /// for out-of-order frames (each rounded up to whole chunks). Called once per worker
    /// at start-up; nothing allocates afterwards.
    pub fn new(store_bytes: usize, ooo_bytes: usize) -> StreamPool {
        // Chunk ids are u32 with one value reserved for "none".
        let max = (NIL as usize - 1) / 2;
        let store_chunks = store_bytes.div_ceil(CHUNK_SIZE).min(max);
        let ooo_chunks = ooo_bytes.div_ceil(CHUNK_SIZE).min(max);
        let total = store_chunks + ooo_chunks;
        let free: Vec<u32> = (0..total as u32).rev().collect();
        StreamPool {
            mem: vec![0u8; total * CHUNK_SIZE].into_boxed_slice(),
            link: vec![NIL; total].into_boxed_slice(),
            free,
            in_use: [0, 0],
            limit: [store_chunks as u32, ooo_chunks as u32],
        }
    }

    /// The pool a worker uses by default: 32 MiB of store, 1 MiB out-of-order.
    pub fn with_defaults() -> StreamPool {
        StreamPool::new(DEFAULT_STORE_BYTES_PER_WORKER, OOO_BYTES_PER_WORKER)
    }

    /// Bytes (whole chunks) currently held for retransmission stores.
    pub fn store_bytes_in_use(&self) -> usize {
        self.in_use[0] as usize * CHUNK_SIZE
    }

    /// Bytes (whole chunks) currently held for out-of-order frames.
    pub fn ooo_bytes_in_use(&self) -> usize {
        self.in_use[1] as usize * CHUNK_SIZE
    }

    /// The budgets, in bytes: (store, out-of-order).
    pub fn capacity(&self) -> (usize, usize) {
        (
            self.limit[0] as usize * CHUNK_SIZE,
            self.limit[1] as usize * CHUNK_SIZE,
        )
    }

    /// Chunks not in use by anybody.
    pub fn free_chunks(&self) -> usize {
        self.free.len()
    }

    /// How many more bytes `budget` can take in fresh chunks.
    pub(crate) fn room(&self, budget: Budget) -> usize {
        let b = budget as usize;
        let left = (self.limit[b] - self.in_use[b]) as usize;
        left.min(self.free.len()) * CHUNK_SIZE
    }

    fn alloc(&mut self, budget: Budget) -> Option<u32> {
        let b = budget as usize;
        if self.in_use[b] >= self.limit[b] {
            return None;
        }
        let id = self.free.pop()?;
        self.in_use[b] += 1;
        self.link[id as usize] = NIL;
        Some(id)
    }

    fn release(&mut self, budget: Budget, id: u32) {
        let b = budget as usize;
        debug_assert!(self.in_use[b] > 0 && self.free.len() < self.link.len());
        self.in_use[b] = self.in_use[b].saturating_sub(1);
        // Every id pushed was popped before, so this never exceeds the capacity reserved
        // in `new`; the guard keeps a bookkeeping bug from ever growing the heap.
        if self.free.len() < self.link.len() {
            self.free.push(id);
        }
    }

    fn chunk(&self, id: u32) -> &[u8] {
        let at = id as usize * CHUNK_SIZE;
        &self.mem[at..at + CHUNK_SIZE]
    }

    fn chunk_mut(&mut self, id: u32) -> &mut [u8] {
        let at = id as usize * CHUNK_SIZE;
        &mut self.mem[at..at + CHUNK_SIZE]
    }
}

/// A byte queue made of linked pool chunks. Every chunk but the tail is full from the
/// head offset on, so byte `i` of the queue is at chunk `(head_off + i) / CHUNK_SIZE`.
/// The owner must return its chunks with [`Chain::clear`] before forgetting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chain {
    head: u32,
    tail: u32,
    head_off: u32,
    tail_used: u32,
    len: u32,
}

impl Default for Chain {
    fn default() -> Self {
        Chain::EMPTY
    }
}

impl Chain {
    pub(crate) const EMPTY: Chain = Chain {
        head: NIL,
        tail: NIL,
        head_off: 0,
        tail_used: 0,
        len: 0,
    };

    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Bytes that fit without a new chunk.
    pub(crate) fn tail_room(&self) -> usize {
        if self.tail == NIL {
            0
        } else {
            CHUNK_SIZE - self.tail_used as usize
        }
    }

    /// Appends as much of `data` as the budget allows; returns how many bytes were taken.
    pub(crate) fn push(&mut self, pool: &mut StreamPool, budget: Budget, data: &[u8]) -> usize {
        let mut done = 0;
        while done < data.len() {
            if self.tail == NIL || self.tail_used as usize == CHUNK_SIZE {
                let Some(id) = pool.alloc(budget) else {
                    break;
                };
                if self.tail == NIL {
                    self.head = id;
                    self.head_off = 0;
                } else {
                    pool.link[self.tail as usize] = id;
                }
                self.tail = id;
                self.tail_used = 0;
            }
            let used = self.tail_used as usize;
            let n = (CHUNK_SIZE - used).min(data.len() - done);
            pool.chunk_mut(self.tail)[used..used + n].copy_from_slice(&data[done..done + n]);
            self.tail_used += n as u32;
            self.len += n as u32;
            done += n;
        }
        done
    }

    /// Removes the first `n` bytes (fewer if the queue is shorter), returning emptied chunks.
    pub(crate) fn pop_front(&mut self, pool: &mut StreamPool, budget: Budget, n: usize) {
        let mut n = n.min(self.len as usize) as u32;
        while n > 0 {
            let head_end = if self.head == self.tail {
                self.tail_used
            } else {
                CHUNK_SIZE as u32
            };
            let k = n.min(head_end - self.head_off);
            self.head_off += k;
            self.len -= k;
            n -= k;
            if self.head_off == head_end {
                let old = self.head;
                if self.head == self.tail {
                    *self = Chain::EMPTY;
                } else {
                    self.head = pool.link[old as usize];
                    self.head_off = 0;
                }
                pool.release(budget, old);
            }
        }
    }

    /// Returns every chunk to the pool.
    pub(crate) fn clear(&mut self, pool: &mut StreamPool, budget: Budget) {
        let mut id = self.head;
        while id != NIL {
            let next = if id == self.tail {
                NIL
            } else {
                pool.link[id as usize]
            };
            pool.release(budget, id);
            id = next;
        }
        *self = Chain::EMPTY;
    }

    /// Calls `f(range_in_buf, stored_bytes)` for the pieces covering `[offset, offset + len)`.
    fn for_each_piece(
        &self,
        pool: &StreamPool,
        offset: usize,
        len: usize,
        mut f: impl FnMut(core::ops::Range<usize>, &[u8]),
    ) {
        let len = len.min((self.len as usize).saturating_sub(offset));
        if len == 0 {
            return;
        }
        let abs = self.head_off as usize + offset;
        let mut id = self.head;
        for _ in 0..abs / CHUNK_SIZE {
            id = pool.link[id as usize];
        }
        let mut in_chunk = abs % CHUNK_SIZE;
        let mut done = 0;
        while done < len {
            let n = (CHUNK_SIZE - in_chunk).min(len - done);
            f(done..done + n, &pool.chunk(id)[in_chunk..in_chunk + n]);
            done += n;
            in_chunk = 0;
            if done < len {
                id = pool.link[id as usize];
            }
        }
    }

    /// Copies `[offset, offset + out.len())` into `out`; returns the bytes copied.
    pub(crate) fn read(&self, pool: &StreamPool, offset: usize, out: &mut [u8]) -> usize {
        let mut copied = 0;
        self.for_each_piece(pool, offset, out.len(), |r, stored| {
            copied = r.end;
            out[r].copy_from_slice(stored);
        });
        copied
    }

    /// Overwrites `buf` with the stored bytes at `[offset, offset + buf.len())`; returns
    /// true when any byte differed.
    pub(crate) fn overwrite(&self, pool: &StreamPool, offset: usize, buf: &mut [u8]) -> bool {
        let mut differs = false;
        self.for_each_piece(pool, offset, buf.len(), |r, stored| {
            if buf[r.clone()] != *stored {
                differs = true;
                buf[r].copy_from_slice(stored);
            }
        });
        differs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize, salt: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
            .collect()
    }

    #[test]
    fn push_read_pop_across_chunks() {
        let mut pool = StreamPool::new(4 * CHUNK_SIZE, CHUNK_SIZE);
        let mut c = Chain::EMPTY;
        let data = bytes(5000, 7);
        assert_eq!(c.push(&mut pool, Budget::Store, &data), 5000);
        assert_eq!(pool.store_bytes_in_use(), 3 * CHUNK_SIZE);
        let mut out = vec![0u8; 3000];
        assert_eq!(c.read(&pool, 1500, &mut out), 3000);
        assert_eq!(out, data[1500..4500]);
        c.pop_front(&mut pool, Budget::Store, 2100);
        assert_eq!(c.len(), 2900);
        assert_eq!(pool.store_bytes_in_use(), 2 * CHUNK_SIZE);
        let mut out = vec![0u8; 2900];
        assert_eq!(c.read(&pool, 0, &mut out), 2900);
        assert_eq!(out, data[2100..]);
        c.pop_front(&mut pool, Budget::Store, 10_000);
        assert_eq!(c, Chain::EMPTY);
        assert_eq!(pool.store_bytes_in_use(), 0);
        assert_eq!(pool.free_chunks(), 5);
    }

    #[test]
    fn budgets_are_hard_limits() {
        let mut pool = StreamPool::new(2 * CHUNK_SIZE, CHUNK_SIZE);
        let mut store = Chain::EMPTY;
        let mut ooo = Chain::EMPTY;
        assert_eq!(
            store.push(&mut pool, Budget::Store, &bytes(10_000, 1)),
            2 * CHUNK_SIZE
        );
        assert_eq!(pool.room(Budget::Store), 0);
        assert_eq!(pool.room(Budget::Ooo), CHUNK_SIZE);
        assert_eq!(
            ooo.push(&mut pool, Budget::Ooo, &bytes(3000, 2)),
            CHUNK_SIZE
        );
        assert_eq!(pool.free_chunks(), 0);
        store.clear(&mut pool, Budget::Store);
        ooo.clear(&mut pool, Budget::Ooo);
        assert_eq!(pool.free_chunks(), 3);
        assert_eq!(pool.store_bytes_in_use() + pool.ooo_bytes_in_use(), 0);
    }

    #[test]
    fn overwrite_reports_differences_and_restores_stored_bytes() {
        let mut pool = StreamPool::new(2 * CHUNK_SIZE, 0);
        let mut c = Chain::EMPTY;
        let data = bytes(3000, 3);
        c.push(&mut pool, Budget::Store, &data);
        let mut same = data[2000..2100].to_vec();
        assert!(!c.overwrite(&pool, 2000, &mut same));
        let mut other = vec![0xAA; 200];
        assert!(c.overwrite(&pool, 1950, &mut other));
        assert_eq!(other, data[1950..2150]);
        c.clear(&mut pool, Budget::Store);
    }

    #[test]
    fn tail_room_and_reuse_after_pop() {
        let mut pool = StreamPool::new(CHUNK_SIZE, 0);
        let mut c = Chain::EMPTY;
        assert_eq!(c.tail_room(), 0);
        c.push(&mut pool, Budget::Store, b"HELO a\r\n");
        assert_eq!(c.tail_room(), CHUNK_SIZE - 8);
        c.pop_front(&mut pool, Budget::Store, 8);
        assert_eq!(pool.free_chunks(), 1, "an emptied chain returns its chunk");
        assert_eq!(c.push(&mut pool, Budget::Store, b"MAIL"), 4);
        let mut out = [0u8; 4];
        c.read(&pool, 0, &mut out);
        assert_eq!(&out, b"MAIL");
        c.clear(&mut pool, Budget::Store);
    }
}
