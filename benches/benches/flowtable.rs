//! Session-table benchmarks: lookup hit/miss at 10 k, 1 M and 10 M sessions
//! (one at a time, 32 singles in a row, and the burst API), create+delete rate
//! at 10 k and 1 M live sessions (one at a time, and shaped like the
//! pipeline: a burst lookup that misses, then the creations), the established
//! path's `get_mut` + `touch` (two calls vs `get_mut_touch`), expiry rate, and
//! bytes per session (printed to stderr with each table size); and the
//! machine's memory floor (`memory_floor`: random 64-byte line reads over
//! 128 MB on huge and on ordinary pages, independent and dependent), so that
//! the table's figures can be read against what the memory allows in the same
//! run.
//!
//! Keys look like the seed's traffic: many clients toward a few servers through
//! static NAT (two keys per session). Lookups use the packet's precomputed flow
//! hash (the pipeline hashes once per packet); `hash` measures that hash alone.
//!
//! The clock is this thread's CPU time (`/proc/thread-self/schedstat`), not wall
//! time: the build machine has two cores shared by several concurrent compilers,
//! and wall time mostly measured how often the benchmark was descheduled. CPU
//! time still includes the cache and TLB misses caused by the neighbours. Set
//! `FLOWTABLE_BENCH_WALL=1` to measure wall time instead.

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};
use flowtable::key::IPPROTO_TCP;
use flowtable::{
    FlowHash, FlowHasher, FlowKey, FlowTable, Nanos, SessionKeys, TableConfig, TimeoutKind, BURST,
};

/// Session `i`: client 100.64.0.0 + i/50000, port 10000 + i%50000, toward one of
/// 16 public servers :25, translated to 10.10.10.x.
fn session(i: u64) -> SessionKeys {
    let client = Ipv4Addr::from_bits(0x6440_0000 + (i / 50_000) as u32);
    let port = 10_000 + (i % 50_000) as u16;
    let server = (i % 16) as u8;
    SessionKeys {
        initiator: FlowKey::new(
            IPPROTO_TCP,
            client,
            port,
            Ipv4Addr::new(172, 22, 1, 100 + server),
            25,
            0,
        ),
        responder: FlowKey::new(
            IPPROTO_TCP,
            client,
            port,
            Ipv4Addr::new(10, 10, 10, 100 + server),
            25,
            1,
        ),
    }
}

fn filled(n: u64, hasher: FlowHasher) -> FlowTable<u64> {
    let mut t = FlowTable::new(TableConfig::with_capacity(n as u32), hasher, Nanos::ZERO)
        .expect("capacity");
    for i in 0..n {
        let h = t.insert(session(i), i, Nanos::ZERO).expect("fits");
        t.arm(h, TimeoutKind::TcpIdle, Nanos::from_secs(3600), Nanos::ZERO);
    }
    t
}

/// Probe keys (and handles, and first lines of the memory floor) per case: a
/// million, so that the lines a case reads are spread over the whole table
/// (with 64 k probes the ~12 MB of lines they touch stayed partly in the
/// 8 MB L3 cache and flattered the 1 M and 10 M figures).
const PROBES: usize = 1 << 20;

/// [`PROBES`] probe keys spread over the table (both sides, both directions),
/// with their flow hashes (the pipeline hashes each packet once, before the
/// lookup).
fn probes(n: u64, hasher: FlowHasher, hit: bool) -> (Vec<FlowKey>, Vec<FlowHash>) {
    let mut x = 0x243f_6a88_85a3_08d3u64;
    let keys: Vec<FlowKey> = (0..PROBES as u64)
        .map(|j| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = if hit { x % n } else { n + x % n };
            let keys = session(i);
            match j & 3 {
                0 => keys.initiator,
                1 => keys.initiator.reversed(),
                2 => keys.responder,
                _ => keys.responder.reversed(),
            }
        })
        .collect();
    let hashes = keys.iter().map(|k| hasher.hash(k)).collect();
    (keys, hashes)
}

fn lookups(c: &mut Criterion<Clock>) {
    let hasher = FlowHasher::new(0x5eed);
    let mut g = group(c, "flowtable_lookup");
    for (label, n) in [("10k", 10_000u64), ("1M", 1_000_000), ("10M", 10_000_000)] {
        // Built on first use, so that a filter that skips a size also skips
        // filling its table.
        let cell = std::cell::OnceCell::new();
        let table = || {
            cell.get_or_init(|| {
                let t = filled(n, hasher);
                let tag = core::mem::size_of::<Option<u64>>() - core::mem::size_of::<u64>();
                eprintln!(
                    "flowtable {label}: {} sessions; table overhead {:.1} bytes/session \
                     excluding T and its Option tag (entry {} B + index + wheel), {:.1} with \
                     the tag; {:.1} bytes/session with T = u64 stored as Option<u64>; \
                     {:?}: {} MB advised huge, {} MB plain; process AnonHugePages {} MB",
                    t.len(),
                    (t.overhead_bytes() - tag * t.capacity()) as f64 / t.capacity() as f64,
                    FlowTable::<()>::slot_size() - 1,
                    t.overhead_bytes() as f64 / t.capacity() as f64,
                    t.reserved_bytes() as f64 / t.capacity() as f64,
                    t.backing(),
                    t.stats().huge_page_bytes.get() >> 20,
                    t.stats().plain_page_bytes.get() >> 20,
                    flowtable::memory::process_anon_huge_kb() >> 10,
                );
                t
            })
        };
        for hit in [true, false] {
            let (keys, hashes) = probes(n, hasher, hit);
            let mut i = 0usize;
            let name = if hit { "hit" } else { "miss" };
            // One lookup at a time: the latency of one packet's lookup.
            g.throughput(Throughput::Elements(1));
            g.bench_function(BenchmarkId::new(name, label), |b| {
                let t = table();
                b.iter(|| {
                    i = (i + 1) & (PROBES - 1);
                    black_box(t.lookup(&keys[i], hashes[i]))
                })
            });
            g.throughput(Throughput::Elements(BURST as u64));
            // 32 single lookups in a row (what the pipeline did before the
            // burst API): the core overlaps only what fits its window.
            g.bench_function(BenchmarkId::new(format!("{name}_singles32"), label), |b| {
                let t = table();
                b.iter(|| {
                    i = (i + BURST) & (PROBES - BURST);
                    let mut found = 0u32;
                    for (k, h) in keys[i..i + BURST].iter().zip(&hashes[i..i + BURST]) {
                        found += u32::from(t.lookup(k, *h).is_some());
                    }
                    black_box(found)
                })
            });
            // The burst API: phases that overlap the whole burst's misses.
            let mut out = [None; BURST];
            g.bench_function(BenchmarkId::new(format!("{name}_burst32"), label), |b| {
                let t = table();
                b.iter(|| {
                    i = (i + BURST) & (PROBES - BURST);
                    t.lookup_burst(&keys[i..i + BURST], &hashes[i..i + BURST], &mut out);
                    black_box(&out);
                })
            });
            if hit {
                // ... plus the caller's session data brought in (what the
                // pipeline reads next).
                g.bench_function(BenchmarkId::new("hit_burst32_values", label), |b| {
                    let t = table();
                    b.iter(|| {
                        i = (i + BURST) & (PROBES - BURST);
                        t.lookup_burst(&keys[i..i + BURST], &hashes[i..i + BURST], &mut out);
                        t.touch_values(&out);
                        black_box(&out);
                    })
                });
            }
        }
    }
    g.finish();
}

/// One 64-byte cache line of the floor benchmark: word 0 holds the index of
/// another line (for dependent reads).
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([u64; 8]);

/// The memory floor of this machine (safe code only): random 64-byte line
/// reads over 128 MB, on huge pages (a `Vec` allocated through `hugealloc`,
/// as the session index is) and on ordinary pages (the global allocator).
///
/// * `independent_x32`: 32 reads whose addresses are all known up front,
///   folded into one value: what a burst phase costs per line at best.
/// * `phased3_x32`: 32 items of three dependent reads each, read phase by
///   phase (all first reads, then all second, then all third): the shape of
///   `lookup_burst` (control group, bucket, session entry); per item.
/// * `chase`: one read at a time, each address from the previous read: the
///   latency of one miss.
fn memory_floor(c: &mut Criterion<Clock>) {
    use allocator_api2::vec::Vec as AVec;
    const BYTES: usize = 128 << 20;
    let n = BYTES / 64;
    // Word 0 of line i is the next line of one random cycle through all the
    // lines (Sattolo's shuffle), so a chase never falls into a short cycle
    // that the caches would hold.
    let mut cycle: Vec<u32> = (0..n as u32).collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        cycle.swap(i, (x % i as u64) as usize);
    }
    let fill = |v: &mut dyn FnMut(Line)| {
        for &to in &cycle {
            let mut l = Line::default();
            l.0[0] = u64::from(to);
            v(l);
        }
    };
    let mut huge: AVec<Line, hugealloc::HugeAlloc> =
        AVec::with_capacity_in(n, hugealloc::HugeAlloc);
    fill(&mut |l| huge.push(l));
    let mut plain: Vec<Line> = Vec::with_capacity(n);
    fill(&mut |l| plain.push(l));
    eprintln!(
        "memory_floor: 2 x {} MB of lines; process AnonHugePages {} MB (the huge-page copy)",
        BYTES >> 20,
        flowtable::memory::process_anon_huge_kb() >> 10
    );
    // Random first lines, as many as [`PROBES`]: every read of every case is
    // a line of the whole 128 MB.
    let starts: Vec<usize> = (0..PROBES as u64)
        .map(|j| ((j.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20) % n as u64) as usize)
        .collect();
    let mut g = group(c, "memory_floor");
    for (label, lines) in [("huge", &huge[..]), ("4k", &plain[..])] {
        let mut i = 0usize;
        g.throughput(Throughput::Elements(BURST as u64));
        g.bench_function(BenchmarkId::new("independent_x32", label), |b| {
            b.iter(|| {
                i = (i + BURST) & (PROBES - BURST);
                let mut sink = 0u64;
                for &s in &starts[i..i + BURST] {
                    sink ^= lines[s].0[0];
                }
                black_box(sink)
            })
        });
        g.bench_function(BenchmarkId::new("phased3_x32", label), |b| {
            b.iter(|| {
                i = (i + BURST) & (PROBES - BURST);
                let mut at = [0usize; BURST];
                for (a, &s) in at.iter_mut().zip(&starts[i..i + BURST]) {
                    *a = lines[s].0[0] as usize;
                }
                for a in &mut at {
                    *a = lines[*a].0[0] as usize;
                }
                let mut sink = 0u64;
                for &a in &at {
                    sink ^= lines[a].0[0];
                }
                black_box(sink)
            })
        });
        g.throughput(Throughput::Elements(1));
        let mut at = 0usize;
        g.bench_function(BenchmarkId::new("chase", label), |b| {
            b.iter(|| {
                at = lines[at].0[0] as usize;
                black_box(at)
            })
        });
    }
    g.finish();
}

fn hashing(c: &mut Criterion<Clock>) {
    let hasher = FlowHasher::new(0x5eed);
    let keys: Vec<FlowKey> = (0..1024).map(|i| session(i).initiator).collect();
    let mut i = 0usize;
    let mut g = group(c, "flowtable_hash");
    g.throughput(Throughput::Elements(1));
    g.bench_function("symmetric", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(hasher.hash(black_box(&keys[i])))
        })
    });
    g.finish();
}

fn create_delete(c: &mut Criterion<Clock>) {
    let hasher = FlowHasher::new(0x5eed);
    let mut g = group(c, "flowtable_create_delete");
    g.throughput(Throughput::Elements(1));
    for (label, live, random) in [
        ("10k", 10_000u64, false),
        ("1M", 1_000_000, false),
        ("1M_random", 1_000_000, true),
    ] {
        // Steady state: `live` sessions; each iteration deletes one (the oldest,
        // or with `random` any live one: its entry, wheel neighbours and
        // index buckets are then all cold) and creates one (hashes, insert, arm
        // synwait).
        let mut t = filled(live, hasher);
        let mut ring: Vec<_> = (0..live)
            .map(|i| t.lookup_key(&session(i).initiator).expect("present").handle)
            .collect();
        let mut next = live;
        let mut pos = 0usize;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        g.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                if random {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    pos = (x % live) as usize;
                }
                black_box(t.remove(ring[pos]));
                let keys = session(next);
                let hashes = [hasher.hash(&keys.initiator), hasher.hash(&keys.responder)];
                let h = t
                    .insert_hashed(keys, hashes, next, Nanos::ZERO)
                    .expect("room");
                t.arm(h, TimeoutKind::SynWait, Nanos::from_secs(30), Nanos::ZERO);
                ring[pos] = h;
                pos = if pos + 1 == ring.len() { 0 } else { pos + 1 };
                next = if next == 40_000_000 { live } else { next + 1 };
            })
        });
    }
    g.finish();
}

/// The dataplane's key for session `i`: the inside form only (zone 0), as
/// both keys of the session (`dataplane/src/pipeline/new_flow.rs` indexes
/// every session once, under the inside-form key's hash).
fn inside_key(i: u64) -> FlowKey {
    let k = session(i).responder;
    FlowKey::new(
        IPPROTO_TCP,
        Ipv4Addr::from_bits(k.src),
        k.src_port,
        Ipv4Addr::from_bits(k.dst),
        k.dst_port,
        0,
    )
}

/// Create+delete shaped like the pipeline (`dataplane/src/pipeline/mod.rs`):
/// every packet of a receive burst is keyed, hashed and looked up with
/// `lookup_burst`; a packet whose session is not found takes the full path,
/// which looks it up once more (`dispatch`) before the new-flow path creates
/// the session (`insert_hashed` with the inside-form key as both keys and the
/// packet's hash for both) and arms SYN-wait. So a creation is always
/// preceded by two lookups that missed it. Each iteration is one burst of 32
/// new flows, after the 32 oldest sessions were deleted (as their timers or
/// a FIN/RST would, in an earlier burst), at `live` sessions (steady state).
fn create_delete_pipeline(c: &mut Criterion<Clock>) {
    let hasher = FlowHasher::new(0x5eed);
    let mut g = group(c, "flowtable_create_delete");
    g.throughput(Throughput::Elements(BURST as u64));
    for (label, live) in [("10k", 10_000u64), ("1M", 1_000_000)] {
        let mut t: FlowTable<u64> =
            FlowTable::new(TableConfig::with_capacity(live as u32), hasher, Nanos::ZERO)
                .expect("capacity");
        let mut ring: Vec<_> = (0..live)
            .map(|i| {
                let k = inside_key(i);
                let keys = SessionKeys {
                    initiator: k,
                    responder: k,
                };
                let h = t.insert(keys, i, Nanos::ZERO).expect("fits");
                t.arm(h, TimeoutKind::TcpIdle, Nanos::from_secs(3600), Nanos::ZERO);
                h
            })
            .collect();
        let mut next = live;
        let mut pos = 0usize;
        let mut keys = [FlowKey::default(); BURST];
        let mut hashes = [FlowHash(0); BURST];
        let mut hits = [None; BURST];
        g.bench_function(BenchmarkId::new("pipeline_burst32", label), |b| {
            b.iter(|| {
                // Deletions of the oldest sessions (earlier bursts' work).
                for h in &ring[pos..pos + BURST] {
                    black_box(t.remove(*h));
                }
                // One receive burst of new flows: key + hash, burst lookup.
                for (j, (k, h)) in keys.iter_mut().zip(&mut hashes).enumerate() {
                    *k = inside_key(next + j as u64);
                    *h = hasher.hash(k);
                }
                t.lookup_burst(&keys, &hashes, &mut hits);
                // Per missed packet: the full path's lookup, then creation.
                for j in 0..BURST {
                    if hits[j].is_some() || t.lookup(&keys[j], hashes[j]).is_some() {
                        continue;
                    }
                    let both = SessionKeys {
                        initiator: keys[j],
                        responder: keys[j],
                    };
                    let h = t
                        .insert_hashed(both, [hashes[j]; 2], next + j as u64, Nanos::ZERO)
                        .expect("room");
                    t.arm(h, TimeoutKind::SynWait, Nanos::from_secs(30), Nanos::ZERO);
                    ring[pos + j] = h;
                }
                pos += BURST;
                if pos + BURST > ring.len() {
                    pos = 0;
                }
                next = if next >= 40_000_000 {
                    live
                } else {
                    next + BURST as u64
                };
            })
        });
    }
    g.finish();
}

/// The established path's per-packet session work after the lookup: the
/// caller's data (mutably) and the idle timer restarted, as two calls
/// (`get_mut` + `touch`) and as one (`get_mut_touch`), at 10 k and 1 M live
/// sessions with random handles.
fn touches(c: &mut Criterion<Clock>) {
    let hasher = FlowHasher::new(0x5eed);
    let mut g = group(c, "flowtable_touch");
    g.throughput(Throughput::Elements(1));
    for (label, n) in [("10k", 10_000u64), ("1M", 1_000_000)] {
        let mut t = filled(n, hasher);
        let handles: Vec<_> = (0..PROBES as u64)
            .map(|j| {
                let i = j.wrapping_mul(0x9e37_79b9_7f4a_7c15) % n;
                t.lookup_key(&session(i).initiator).expect("present").handle
            })
            .collect();
        let mut i = 0usize;
        let mut now = 0u64;
        g.bench_function(BenchmarkId::new("get_mut+touch", label), |b| {
            b.iter(|| {
                i = (i + 1) & (PROBES - 1);
                now += 1_000;
                let h = handles[i];
                if let Some(v) = t.get_mut(h) {
                    *v += 1;
                }
                black_box(t.touch(h, Nanos(now)))
            })
        });
        g.bench_function(BenchmarkId::new("get_mut_touch", label), |b| {
            b.iter(|| {
                i = (i + 1) & (PROBES - 1);
                now += 1_000;
                if let Some(v) = t.get_mut_touch(handles[i], Nanos(now)) {
                    *v += 1;
                }
            })
        });
    }
    g.finish();
}

fn expiry(c: &mut Criterion<Clock>) {
    let hasher = FlowHasher::new(0x5eed);
    let n = 100_000u64;
    let mut g = group(c, "flowtable_expiry");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("100k_sessions", |b| {
        let clock = Clock::from_env();
        b.iter_custom(|iters| {
            let mut total = 0u64;
            for _ in 0..iters {
                let mut t = filled_with_spread(n, hasher);
                let start = clock.start();
                let mut expired = 0u64;
                let mut now = Nanos::ZERO;
                while !t.is_empty() {
                    now = now + Nanos::from_millis(10);
                    t.advance(now, 1024, |e| {
                        expired += 1;
                        black_box(e.value);
                    });
                }
                total += clock.end(start);
                assert_eq!(expired, n);
            }
            total
        })
    });
    g.finish();
}

/// `n` sessions with synwait deadlines spread over 30 s.
fn filled_with_spread(n: u64, hasher: FlowHasher) -> FlowTable<u64> {
    let mut t = FlowTable::new(TableConfig::with_capacity(n as u32), hasher, Nanos::ZERO)
        .expect("capacity");
    for i in 0..n {
        let h = t.insert(session(i), i, Nanos::ZERO).expect("fits");
        t.arm(h, TimeoutKind::SynWait, Nanos(1 + i * 300_000), Nanos::ZERO);
    }
    t
}

/// A group with equal-sized samples (`Flat`): each sample must be much longer
/// than the scheduler tick that updates the CPU-time counter.
fn group<'a>(c: &'a mut Criterion<Clock>, name: &str) -> BenchmarkGroup<'a, Clock> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(20);
    g
}

/// Nanoseconds of CPU time of this thread (or wall time, see the module docs).
struct Clock {
    wall: bool,
    origin: std::time::Instant,
}

impl Clock {
    fn from_env() -> Clock {
        Clock {
            wall: std::env::var_os("FLOWTABLE_BENCH_WALL").is_some(),
            origin: std::time::Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        if self.wall {
            return self.origin.elapsed().as_nanos() as u64;
        }
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
        stat.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .expect("schedstat format")
    }
}

impl Measurement for Clock {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        self.now()
    }
    fn end(&self, start: u64) -> u64 {
        self.now().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &NanosFormatter
    }
}

struct NanosFormatter;

impl ValueFormatter for NanosFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if ns < 1e3 {
            (1.0, "ns")
        } else if ns < 1e6 {
            (1e-3, "µs")
        } else if ns < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(
        &self,
        ns: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per = match *throughput {
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => n as f64,
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => n as f64,
            Throughput::Bits(n) => n as f64,
        };
        let rate = per * 1e9 / ns;
        let (factor, unit) = if rate < 1e3 {
            (1.0, "elem/s")
        } else if rate < 1e6 {
            (1e-3, "Kelem/s")
        } else if rate < 1e9 {
            (1e-6, "Melem/s")
        } else {
            (1e-9, "Gelem/s")
        };
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v * factor);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(Clock::from_env());
    targets = memory_floor, hashing, lookups, create_delete, create_delete_pipeline, touches, expiry
}
criterion_main!(benches);
