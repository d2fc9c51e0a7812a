//! The half-open figures are global and exact with several workers: N threads
//! create, establish, time out and drain half-open sessions concurrently on one
//! registry; every operation's global order number lets the test replay the
//! run sequentially through the reference model (`common/model.rs`) and demand
//! the same results, events, deletion notices and final figures.

mod common;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use common::model::{HalfOpenModel, MRelease};
use flowtable::{
    Admission, DeleteReason, HalfOpenConfig, HalfOpenId, HalfOpenRegistry, Handle, Nanos, Refusal,
    RegistrySizing, Release, RemoveCause, Transport,
};

#[derive(Debug, Clone)]
enum Op {
    Attempt {
        worker: u16,
        n: u64,
        tcp: bool,
        dst: u32,
        result: Result<(), Refusal>,
    },
    Release {
        n: u64,
        timed_out: Option<bool>,
        result: Release,
    },
    Poll,
    Take {
        worker: u16,
        got: Vec<(u64, DeleteReason)>,
    },
}

struct Record {
    seq: u64,
    now: Nanos,
    op: Op,
}

/// xorshift64*, one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn worker_thread(
    reg: Arc<HalfOpenRegistry>,
    clock: Arc<AtomicU64>,
    barrier: Arc<Barrier>,
    worker: u16,
    ops: usize,
) -> Vec<Record> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((worker as u64 + 1) * 0x1234_5678_9abc));
    let mut live: Vec<(u64, HalfOpenId)> = Vec::new();
    let mut records = Vec::with_capacity(ops);
    let mut out = Vec::new();
    let mut next = 0u64;
    barrier.wait();
    for i in 0..ops {
        if i % 8 == 0 {
            // Two cores for everyone: give the other workers a chance to run.
            std::thread::yield_now();
        }
        // Virtual time advances by up to 20 ms per operation, shared by all.
        let now = Nanos(clock.fetch_add(rng.next() % 20_000_000, Ordering::Relaxed));
        let r = rng.next() % 100;
        if r < 55 {
            let n = ((worker as u64) << 32) | next;
            next += 1;
            let tcp = !rng.next().is_multiple_of(3);
            let dst = Ipv4Addr::new(172, 22, 1, 110 + (rng.next() % 4) as u8);
            let t = if tcp { Transport::Tcp } else { Transport::Udp };
            let (seq, a) = reg.attempt_numbered(
                worker,
                Handle::test_new(n as u32, worker as u32),
                t,
                dst,
                now,
            );
            let result = match a {
                Admission::Admitted(id) => {
                    live.push((n, id));
                    Ok(())
                }
                Admission::Refused(why) => Err(why),
            };
            records.push(Record {
                seq,
                now,
                op: Op::Attempt {
                    worker,
                    n,
                    tcp,
                    dst: dst.to_bits(),
                    result,
                },
            });
        } else if r < 85 && !live.is_empty() {
            let (n, id) = live.swap_remove((rng.next() % live.len() as u64) as usize);
            let timed_out = match rng.next() % 3 {
                0 => None,
                1 => Some(true),
                _ => Some(false),
            };
            let cause = timed_out.map(|t| {
                if t {
                    RemoveCause::TimedOut
                } else {
                    RemoveCause::Closed
                }
            });
            let (seq, result) = reg.release_numbered(id, cause, now);
            records.push(Record {
                seq,
                now,
                op: Op::Release {
                    n,
                    timed_out,
                    result,
                },
            });
        } else if r < 95 {
            out.clear();
            let seq = reg.take_deletions(worker, &mut out);
            let got: Vec<(u64, DeleteReason)> = out
                .iter()
                .map(|d| {
                    (
                        ((d.handle.generation() as u64) << 32) | d.handle.slot() as u64,
                        d.reason,
                    )
                })
                .collect();
            for (n, _) in &got {
                if let Some(p) = live.iter().position(|(x, _)| x == n) {
                    live.swap_remove(p);
                }
            }
            records.push(Record {
                seq,
                now,
                op: Op::Take { worker, got },
            });
        } else {
            let seq = reg.poll(now);
            records.push(Record {
                seq,
                now,
                op: Op::Poll,
            });
        }
    }
    records
}

fn run(config: HalfOpenConfig, workers: u16, ops: usize) {
    let reg = Arc::new(
        HalfOpenRegistry::new(
            config,
            RegistrySizing {
                workers,
                capacity: 1 << 20,
                hosts: 64,
                events: 1 << 20,
            },
            Nanos::ZERO,
        )
        .unwrap(),
    );
    let clock = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(workers as usize));
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let (reg, clock, barrier) = (reg.clone(), clock.clone(), barrier.clone());
            std::thread::spawn(move || worker_thread(reg, clock, barrier, w, ops))
        })
        .collect();
    let mut records: Vec<Record> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    records.sort_by_key(|r| r.seq);
    let mut events = Vec::new();
    reg.take_events(&mut events);

    // Sequential replay in the registry's own order.
    let mut model = HalfOpenModel::new(config, workers);
    let mut ev = events.iter().peekable();
    let mut interleaved = 0u64;
    let mut last_worker = u16::MAX;
    let mut max_h = 0;
    let mut cross_worker = 0u64;
    for r in &records {
        match &r.op {
            Op::Attempt {
                worker,
                n,
                tcp,
                dst,
                result,
            } => {
                if *worker != last_worker {
                    interleaved += 1;
                    last_worker = *worker;
                }
                let others = |m: &HalfOpenModel| {
                    (0..workers)
                        .filter(|w| w != worker)
                        .map(|w| m.pending(w))
                        .sum::<usize>()
                };
                let before = others(&model);
                let m = model.attempt(*worker, *n, *tcp, *dst, r.now);
                if others(&model) > before {
                    cross_worker += 1;
                }
                assert_eq!(&m, result, "seq {} attempt", r.seq);
            }
            Op::Release {
                n,
                timed_out,
                result,
            } => {
                let m = model.release(*n, *timed_out, r.now);
                let same = matches!(
                    (result, m),
                    (Release::Released, MRelease::Released) | (Release::Unknown, MRelease::Unknown)
                ) || matches!((result, m), (Release::AlreadyDeleted(a), MRelease::AlreadyDeleted(b)) if *a == b);
                assert!(same, "seq {}: real {result:?} model {m:?}", r.seq);
            }
            Op::Poll => model.poll(r.now),
            Op::Take { worker, got } => {
                assert_eq!(&model.take_deletions(*worker), got, "seq {} take", r.seq);
            }
        }
        max_h = max_h.max(model.h());
        // Events produced by this operation, in order.
        let mut mine = Vec::new();
        while let Some(e) = ev.next_if(|e| e.seq == r.seq) {
            mine.push(e.event);
        }
        assert_eq!(
            mine,
            std::mem::take(&mut model.events),
            "events of seq {}",
            r.seq
        );
    }
    assert!(ev.next().is_none(), "events without an operation");
    let s = reg.snapshot();
    eprintln!(
        "{workers} workers, {} registry operations, {interleaved} worker switches between attempts, \
         {cross_worker} attempts deleted another worker's session, max H {max_h}, {s:?}",
        records.len()
    );
    assert_eq!(s.halfopen, model.h());
    assert_eq!(s.halfopen_maxever, model.maxever);
    assert_eq!(
        (s.aggressive, s.aggressive_entered),
        (model.aggressive, model.entered)
    );
    assert_eq!(
        [
            s.deleted.synwait,
            s.deleted.aggressive,
            s.deleted.host,
            s.deleted.block
        ],
        model.deleted
    );
    assert_eq!(s.block_events, model.block_events);
    // The thresholds held: in aggressive mode H never exceeds max-incomplete high.
    assert!(max_h <= config.max_incomplete_high, "H reached {max_h}");
    assert!(
        s.aggressive_entered > 0,
        "the run must exercise aggressive mode"
    );
    assert!(s.deleted.aggressive > 0 && (s.deleted.host > 0 || s.deleted.block > 0));
    assert!(
        cross_worker > 10,
        "deletions of other workers' sessions ({cross_worker})"
    );
    assert!(
        interleaved > 100,
        "threads must actually interleave ({interleaved})"
    );
}

#[test]
fn four_workers_match_sequential_replay() {
    let config = HalfOpenConfig {
        max_incomplete_high: 40,
        max_incomplete_low: 20,
        one_minute_high: 600,
        one_minute_low: 300,
        host_limit: 12,
        block_time_minutes: 0,
        period: Nanos::from_secs(60),
    };
    run(config, 4, 20_000);
}

#[test]
fn four_workers_with_block_time_match_sequential_replay() {
    let config = HalfOpenConfig {
        max_incomplete_high: 40,
        max_incomplete_low: 20,
        one_minute_high: 600,
        one_minute_low: 300,
        host_limit: 12,
        block_time_minutes: 1,
        period: Nanos::from_secs(60),
    };
    run(config, 4, 20_000);
}
