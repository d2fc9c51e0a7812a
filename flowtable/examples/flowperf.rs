//! A small driver for `valgrind --tool=callgrind` (instructions per operation)
//! and quick wall-clock checks of the session table, without criterion.
//!
//! `cargo run --release -p flowtable --example flowperf -- MODE SESSIONS OPS`
//! with MODE one of `hit`, `burst`, `burst_values`, `miss_burst`, `churn`,
//! `expiry`, `mlp` / `mlp_huge` (independent random reads over the same number
//! of bytes, on ordinary or huge pages: what the memory system allows at best). Only the `measure_*` functions do the measured work, so
//! `valgrind --tool=callgrind --toggle-collect='*measure_*'` counts exactly the
//! OPS operations (divide `Ir` by OPS). Times are wall and this thread's CPU
//! time; `FLOWPERF_PLAIN=1` maps the table on ordinary pages (the fallback);
//! the header line says how much the kernel put on huge pages.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use flowtable::key::IPPROTO_TCP;
use flowtable::{
    FlowHash, FlowHasher, FlowKey, FlowTable, Handle, Lookup, Nanos, PagePolicy, SessionKeys,
    TableConfig, TimeoutKind, BURST,
};

/// Session `i`, as in `benches/benches/flowtable.rs`.
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

fn probes(n: u64, hasher: FlowHasher, hit: bool) -> (Vec<FlowKey>, Vec<FlowHash>) {
    let mut x = 0x243f_6a88_85a3_08d3u64;
    let keys: Vec<FlowKey> = (0..1u64 << 16)
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

#[inline(never)]
fn measure_hit(t: &FlowTable<u64>, keys: &[FlowKey], hashes: &[FlowHash], ops: usize) -> usize {
    let mut found = 0;
    for j in 0..ops {
        let i = j & 0xffff;
        found += usize::from(t.lookup(&keys[i], hashes[i]).is_some());
    }
    found
}

#[inline(never)]
fn measure_burst(
    t: &FlowTable<u64>,
    keys: &[FlowKey],
    hashes: &[FlowHash],
    ops: usize,
    values: bool,
) -> usize {
    let mut out = [None::<Lookup>; BURST];
    let mut found = 0;
    for j in 0..ops / BURST {
        let i = (j * BURST) & 0xffff;
        t.lookup_burst(&keys[i..i + BURST], &hashes[i..i + BURST], &mut out);
        if values {
            t.touch_values(&out);
        }
        found += out.iter().filter(|h| h.is_some()).count();
    }
    found
}

#[inline(never)]
fn measure_churn(
    t: &mut FlowTable<u64>,
    hasher: FlowHasher,
    ring: &mut [Handle],
    live: u64,
    ops: usize,
) {
    let mut pos = 0usize;
    for next in (live..).take(ops) {
        black_box(t.remove(ring[pos]));
        let keys = session(next);
        let hashes = [hasher.hash(&keys.initiator), hasher.hash(&keys.responder)];
        let h = t
            .insert_hashed(keys, hashes, next, Nanos::ZERO)
            .expect("room");
        t.arm(h, TimeoutKind::SynWait, Nanos::from_secs(30), Nanos::ZERO);
        ring[pos] = h;
        pos = if pos + 1 == ring.len() { 0 } else { pos + 1 };
    }
}

#[inline(never)]
fn measure_reads(memory: &[u64], picks: &[usize], ops: usize) -> u64 {
    let mut sum = 0u64;
    for j in 0..ops {
        sum = sum.wrapping_add(memory[picks[j & 0xffff]]);
    }
    sum
}

#[inline(never)]
fn measure_expiry(t: &mut FlowTable<u64>) -> u64 {
    let mut expired = 0u64;
    let mut now = Nanos::ZERO;
    while !t.is_empty() {
        now = now + Nanos::from_millis(10);
        t.advance(now, 1024, |e| {
            expired += 1;
            black_box(e.value);
        });
    }
    expired
}

/// `FLOWPERF_PLAIN=1` maps the table on ordinary pages (the fallback).
fn filled(n: u64, hasher: FlowHasher, spread: bool) -> FlowTable<u64> {
    let policy = if std::env::var_os("FLOWPERF_PLAIN").is_some() {
        PagePolicy::Plain
    } else {
        PagePolicy::HugePages
    };
    let mut t = FlowTable::with_pages(
        TableConfig::with_capacity(n as u32),
        hasher,
        Nanos::ZERO,
        policy,
    )
    .expect("capacity");
    for i in 0..n {
        let h = t.insert(session(i), i, Nanos::ZERO).expect("fits");
        let timeout = if spread {
            Nanos(1 + i * (30_000_000_000 / n))
        } else {
            Nanos::from_secs(3600)
        };
        t.arm(h, TimeoutKind::TcpIdle, timeout, Nanos::ZERO);
    }
    t
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage =
        "usage: flowperf hit|burst|burst_values|miss_burst|churn|expiry|mlp|mlp_huge SESSIONS OPS";
    let (Some(mode), Some(n), Some(ops)) = (
        args.get(1),
        args.get(2).and_then(|v| v.parse::<u64>().ok()),
        args.get(3).and_then(|v| v.parse::<usize>().ok()),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let hasher = FlowHasher::new(0x5eed);
    let mut t = filled(n, hasher, mode == "expiry");
    eprintln!(
        "{n} sessions: {:.1} bytes/session overhead, {:.1} with the u64 values; {:?}, \
         {} MB advised huge, process AnonHugePages {} MB",
        t.overhead_bytes() as f64 / n as f64,
        t.reserved_bytes() as f64 / n as f64,
        t.backing(),
        t.stats().huge_page_bytes.get() >> 20,
        flowtable::memory::process_anon_huge_kb() >> 10,
    );
    let start = start_clock();
    let done = match mode.as_str() {
        "hit" => {
            let (k, h) = probes(n, hasher, true);
            let start = start_clock();
            black_box(measure_hit(&t, &k, &h, ops));
            report(mode, start, ops);
            return;
        }
        "burst" | "burst_values" | "miss_burst" => {
            let (k, h) = probes(n, hasher, mode != "miss_burst");
            let start = start_clock();
            black_box(measure_burst(&t, &k, &h, ops, mode == "burst_values"));
            report(mode, start, ops);
            return;
        }
        "churn" => {
            let mut ring: Vec<Handle> = (0..n)
                .map(|i| t.lookup_key(&session(i).initiator).expect("present").handle)
                .collect();
            let start = start_clock();
            measure_churn(&mut t, hasher, &mut ring, n, ops);
            report(mode, start, ops);
            return;
        }
        "expiry" => measure_expiry(&mut t) as usize,
        "mlp" | "mlp_huge" => {
            // The machine's ceiling: independent random 8-byte reads over as
            // many bytes as the table reserves (no table work at all), on
            // ordinary pages (`mlp`) or advised huge pages (`mlp_huge`).
            let words = t.reserved_bytes() / 8;
            let mut mapped = flowtable::memory::PageArray::<u64>::zeroed(
                words,
                if mode == "mlp_huge" {
                    PagePolicy::HugePages
                } else {
                    PagePolicy::Plain
                },
            )
            .expect("mapping");
            for (i, w) in mapped.as_mut_slice().iter_mut().enumerate() {
                *w = i as u64;
            }
            eprintln!("reads over {} MB, {:?}", words >> 17, mapped.backing());
            let memory = &mapped.as_slice()[..words];
            let mut x = 0x2545_f491_4f6c_dd1du64;
            let picks: Vec<usize> = (0..1 << 16)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % words as u64) as usize
                })
                .collect();
            let start = start_clock();
            black_box(measure_reads(memory, &picks, ops));
            report(mode, start, ops);
            return;
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    report(mode, start, done);
}

fn report(mode: &str, start: Instant, ops: usize) {
    let ns = start.elapsed().as_nanos() as f64 / ops.max(1) as f64;
    let cpu = cpu_ns().saturating_sub(CPU_START.with(|c| c.get())) as f64 / ops.max(1) as f64;
    println!("{mode}: {ops} ops, {ns:.1} ns/op wall, {cpu:.1} ns/op cpu");
}

thread_local! {
    static CPU_START: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// CPU time of this thread (ns), as the criterion bench measures it: on the
/// shared build machine wall time mostly measures the neighbours.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Starts the clocks of [`report`].
fn start_clock() -> Instant {
    CPU_START.with(|c| c.set(cpu_ns()));
    Instant::now()
}
