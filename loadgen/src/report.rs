//! Run statistics and the report: counters, HDR latency histograms, CPU time, and the
//! text and JSON renderings. The maths (rates, percentiles, per-CPU-second figures, ratios)
//! lives here as plain functions over recorded data so it is unit-tested on fixed inputs.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::outcome::FailureKind;

/// Highest latency a histogram records (longer values are clamped): 10 minutes in µs.
const MAX_US: u64 = 600_000_000;

/// Replies counted by code (100..=599), fixed-size, no allocation per reply.
#[derive(Debug, Clone)]
pub struct ReplyCodes([u64; 600]);

impl Default for ReplyCodes {
    fn default() -> Self {
        ReplyCodes([0; 600])
    }
}

impl ReplyCodes {
    pub fn count(&mut self, code: u16) {
        if let Some(c) = self.0.get_mut(usize::from(code)) {
            *c += 1;
        }
    }
    pub fn get(&self, code: u16) -> u64 {
        self.0.get(usize::from(code)).copied().unwrap_or(0)
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    pub fn merge(&mut self, o: &ReplyCodes) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a += b;
        }
    }
    fn to_map(&self) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(c, &n)| (c.to_string(), n))
            .collect()
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

/// Latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency(new_hist())
    }
}

impl Latency {
    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, MAX_US);
        // Within bounds by the clamp, so this cannot fail.
        let _ = self.0.record(us);
    }
    pub fn record_ns(&mut self, ns: u64) {
        self.record(Duration::from_nanos(ns));
    }
    pub fn merge(&mut self, o: &Latency) {
        let _ = self.0.add(&o.0);
    }
    pub fn len(&self) -> u64 {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn summary(&self) -> Percentiles {
        let h = &self.0;
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            min_us: h.min(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// Latency summary (microseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

/// Everything one engine records during a run (mergeable across engines).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Sessions (or UDP transactions) attempted, `NoSlot` included.
    pub started: u64,
    pub ok: u64,
    pub failures: [u64; FailureKind::ALL.len()],
    pub replies: ReplyCodes,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub connect: Latency,
    pub session: Latency,
    /// Open loop: how late each start was against its schedule.
    pub start_lag: Latency,
    /// Time of the first and last start, ns since the run's origin.
    pub first_start_ns: Option<u64>,
    pub last_start_ns: u64,
    /// Least-squares fit of start time against start index (open-loop rate check).
    pub fit: StartFit,
    merged_fit_rate: f64,
}

/// Running least-squares fit of `t_k` (seconds) against `k`: the slope is the mean interval
/// between starts. Unlike `(n−1)/(last−first)` it is not swayed by one late final start.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StartFit {
    n: f64,
    sk: f64,
    st: f64,
    skk: f64,
    skt: f64,
}

impl StartFit {
    pub fn add(&mut self, k: u64, t_ns: u64) {
        let (k, t) = (k as f64, t_ns as f64 * 1e-9);
        self.n += 1.0;
        self.sk += k;
        self.st += t;
        self.skk += k * k;
        self.skt += k * t;
    }
    /// Starts per second implied by the fitted slope; 0 when undefined.
    pub fn rate(&self) -> f64 {
        let den = self.n * self.skk - self.sk * self.sk;
        if self.n < 2.0 || den == 0.0 {
            return 0.0;
        }
        let slope = (self.n * self.skt - self.sk * self.st) / den;
        if slope > 0.0 {
            1.0 / slope
        } else {
            0.0
        }
    }
    /// Merging fits of different engines is not meaningful (their `k` overlap); the merged
    /// report keeps the sum of per-engine rates instead.
    fn merge_rate(a: f64, b: f64) -> f64 {
        a + b
    }
}

impl Stats {
    pub fn fail(&mut self, k: FailureKind) {
        self.failures[k.index()] += 1;
    }
    pub fn failed(&self) -> u64 {
        self.failures.iter().sum()
    }
    pub fn note_start(&mut self, now_ns: u64) {
        self.fit.add(self.started, now_ns);
        self.started += 1;
        if self.first_start_ns.is_none() {
            self.first_start_ns = Some(now_ns);
        }
        self.last_start_ns = now_ns;
    }
    pub fn merge(&mut self, o: &Stats) {
        self.started += o.started;
        self.ok += o.ok;
        for (a, b) in self.failures.iter_mut().zip(o.failures.iter()) {
            *a += b;
        }
        self.replies.merge(&o.replies);
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.connect.merge(&o.connect);
        self.session.merge(&o.session);
        self.start_lag.merge(&o.start_lag);
        self.first_start_ns = match (self.first_start_ns, o.first_start_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_start_ns = self.last_start_ns.max(o.last_start_ns);
        self.merged_fit_rate =
            StartFit::merge_rate(self.fitted_start_rate(), o.fitted_start_rate());
        self.fit = StartFit::default();
    }
    /// Start rate from the least-squares fit (sum over engines after a merge).
    pub fn fitted_start_rate(&self) -> f64 {
        if self.fit.n >= 2.0 {
            self.fit.rate()
        } else {
            self.merged_fit_rate
        }
    }
    /// Achieved start rate: starts after the first, over the span between first and last.
    pub fn achieved_start_rate(&self) -> f64 {
        start_rate(
            self.started,
            self.first_start_ns.unwrap_or(0),
            self.last_start_ns,
        )
    }
}

/// `(n − 1) / (last − first)` per second: the rate that a schedule of `n` evenly spaced
/// starts between `first` and `last` has. 0 when undefined.
pub fn start_rate(n: u64, first_ns: u64, last_ns: u64) -> f64 {
    if n < 2 || last_ns <= first_ns {
        return 0.0;
    }
    (n - 1) as f64 * 1e9 / (last_ns - first_ns) as f64
}

/// `count / seconds`, 0 when `seconds` is 0.
pub fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// `a / b`, or `None` when `b` is 0 (ratios of rates in `compare`).
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b != 0.0).then(|| a / b)
}

/// Median of a sample (mean of the middle two for even sizes); `None` when empty.
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

/// CPU time spent during a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuUse {
    /// CPU-seconds used by the generator's engine threads.
    pub generator_s: f64,
    /// Busy CPU-seconds of the whole machine (all processes and the kernel), from /proc/stat.
    pub machine_s: f64,
    /// Online CPUs.
    pub cpus: usize,
}

/// The rendered result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub workload: String,
    pub target: String,
    pub load: String,
    pub elapsed_s: f64,
    pub started: u64,
    pub ok: u64,
    pub failed: u64,
    /// Successful sessions (transactions) per second of elapsed time.
    pub ok_per_s: f64,
    /// Starts per second between the first and the last start.
    pub start_rate_per_s: f64,
    /// Starts per second from a least-squares fit of start times (open-loop check).
    pub fitted_start_rate_per_s: f64,
    pub failures: BTreeMap<String, u64>,
    pub replies: BTreeMap<String, u64>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub connect_latency: Percentiles,
    pub session_latency: Percentiles,
    pub start_lag: Percentiles,
    pub cpu: CpuUse,
    /// Successful sessions per generator CPU-second.
    pub ok_per_generator_cpu_s: f64,
    /// Successful sessions per machine busy CPU-second (generator + firewall + server + kernel).
    pub ok_per_machine_cpu_s: f64,
    pub interrupted: bool,
}

impl Report {
    pub fn new(
        workload: &str,
        target: &str,
        load: &str,
        stats: &Stats,
        elapsed: Duration,
        cpu: CpuUse,
        interrupted: bool,
    ) -> Self {
        let secs = elapsed.as_secs_f64();
        let failures = FailureKind::ALL
            .iter()
            .filter(|k| stats.failures[k.index()] > 0)
            .map(|k| (k.name().to_string(), stats.failures[k.index()]))
            .collect();
        Report {
            workload: workload.into(),
            target: target.into(),
            load: load.into(),
            elapsed_s: secs,
            started: stats.started,
            ok: stats.ok,
            failed: stats.failed(),
            ok_per_s: per_second(stats.ok, secs),
            start_rate_per_s: stats.achieved_start_rate(),
            fitted_start_rate_per_s: stats.fitted_start_rate(),
            failures,
            replies: stats.replies.to_map(),
            bytes_sent: stats.bytes_sent,
            bytes_received: stats.bytes_received,
            connect_latency: stats.connect.summary(),
            session_latency: stats.session.summary(),
            start_lag: stats.start_lag.summary(),
            ok_per_generator_cpu_s: per_second(stats.ok, cpu.generator_s),
            ok_per_machine_cpu_s: per_second(stats.ok, cpu.machine_s),
            cpu,
            interrupted,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} to {} ({}){}",
            self.workload,
            self.target,
            self.load,
            if self.interrupted {
                " [interrupted]"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "  elapsed {:.3} s, started {}, ok {}, failed {}",
            self.elapsed_s, self.started, self.ok, self.failed
        );
        let _ = writeln!(
            s,
            "  ok/s {:.1}, start rate {:.1}/s (fitted {:.1}/s)",
            self.ok_per_s, self.start_rate_per_s, self.fitted_start_rate_per_s
        );
        let _ = writeln!(
            s,
            "  cpu: generator {:.3} s ({:.0} ok per cpu-s), machine {:.3} s busy of {} cpus ({:.0} ok per cpu-s)",
            self.cpu.generator_s, self.ok_per_generator_cpu_s, self.cpu.machine_s, self.cpu.cpus, self.ok_per_machine_cpu_s
        );
        for (name, p) in [
            ("connect", &self.connect_latency),
            ("session", &self.session_latency),
            ("start lag", &self.start_lag),
        ] {
            if p.count > 0 {
                let _ = writeln!(
                    s,
                    "  {name:9} µs: p50 {} p90 {} p99 {} p99.9 {} max {} (n {})",
                    p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us, p.count
                );
            }
        }
        if !self.failures.is_empty() {
            let f: Vec<String> = self
                .failures
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "  failures: {}", f.join(", "));
        }
        if !self.replies.is_empty() {
            let r: Vec<String> = self
                .replies
                .iter()
                .map(|(k, v)| format!("{k}×{v}"))
                .collect();
            let _ = writeln!(s, "  replies: {}", r.join(" "));
        }
        let _ = writeln!(
            s,
            "  bytes sent {} received {}",
            self.bytes_sent, self.bytes_received
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_on_fixed_data() {
        let mut l = Latency::default();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        let p = l.summary();
        assert_eq!(p.count, 1000);
        assert_eq!(p.min_us, 1);
        assert_eq!(p.max_us, 1000);
        assert_eq!(p.p50_us, 500);
        assert_eq!(p.p90_us, 900);
        assert_eq!(p.p99_us, 990);
        assert!((p.mean_us - 500.5).abs() < 0.01);
    }

    #[test]
    fn percentile_precision_is_three_digits() {
        let mut l = Latency::default();
        l.record(Duration::from_micros(123_456));
        let v = l.summary().p50_us;
        assert!((123_300..=123_600).contains(&v), "{v}");
    }

    #[test]
    fn rates_and_ratios() {
        // 1001 starts exactly 1 ms apart: 1000 intervals in 1 s → 1000/s.
        assert_eq!(start_rate(1001, 5_000, 1_000_005_000), 1000.0);
        assert_eq!(start_rate(1, 0, 10), 0.0);
        assert_eq!(per_second(300, 1.5), 200.0);
        assert_eq!(per_second(3, 0.0), 0.0);
        assert_eq!(ratio(7.5, 2.5), Some(3.0));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn merge_and_report() {
        let mut a = Stats::default();
        a.note_start(1_000);
        a.ok += 1;
        a.session.record(Duration::from_millis(2));
        a.replies.count(250);
        let mut b = Stats::default();
        b.note_start(500);
        b.note_start(2_000_000_500);
        b.ok += 1;
        b.fail(FailureKind::Reset);
        b.session.record(Duration::from_millis(4));
        b.replies.count(250);
        b.replies.count(221);
        a.merge(&b);
        assert_eq!(a.started, 3);
        assert_eq!(a.failed(), 1);
        assert_eq!(a.achieved_start_rate(), 1.0);
        let cpu = CpuUse {
            generator_s: 0.5,
            machine_s: 2.0,
            cpus: 2,
        };
        let r = Report::new(
            "smtp",
            "127.0.0.1:25",
            "concurrency 1",
            &a,
            Duration::from_secs(2),
            cpu,
            false,
        );
        assert_eq!(r.ok_per_s, 1.0);
        assert_eq!(r.ok_per_generator_cpu_s, 4.0);
        assert_eq!(r.ok_per_machine_cpu_s, 1.0);
        assert_eq!(r.failures.get("reset"), Some(&1));
        assert_eq!(r.replies.get("250"), Some(&2));
        assert_eq!(r.session_latency.count, 2);
        let j: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(j["ok"], 2);
        assert_eq!(j["failures"]["reset"], 1);
        let t = r.to_text();
        assert!(t.contains("failures: reset 1"), "{t}");
        assert!(t.contains("replies: 221×1 250×2"), "{t}");
    }

    #[test]
    fn fitted_rate_resists_a_late_last_start() {
        let mut s = Stats::default();
        for k in 0..1000u64 {
            s.note_start(k * 1_000_000); // 1000/s
        }
        assert!((s.fitted_start_rate() - 1000.0).abs() < 1e-6);
        let mut late = Stats::default();
        for k in 0..1000u64 {
            let t = k * 1_000_000 + if k == 999 { 100_000_000 } else { 0 };
            late.note_start(t);
        }
        // One start 100 ms late: end-to-end rate drops ~9 %, the fit moves < 0.1 %.
        assert!(late.achieved_start_rate() < 920.0);
        assert!(
            (late.fitted_start_rate() - 1000.0).abs() < 1.0,
            "{}",
            late.fitted_start_rate()
        );
        let mut m = s.clone();
        m.merge(&late);
        assert!((m.fitted_start_rate() - 2000.0).abs() < 2.0);
    }

    #[test]
    fn reply_codes_ignore_out_of_range() {
        let mut c = ReplyCodes::default();
        c.count(999);
        c.count(250);
        assert_eq!(c.total(), 1);
    }
}
