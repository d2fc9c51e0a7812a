//! Machine-wide busy CPU time from `/proc/stat` (not namespaced: it includes the firewall,
//! the responder, softirq work of every namespace), for per-CPU-second figures.
use std::time::Duration;

/// Busy and total jiffies from the aggregate `cpu` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    pub busy: u64,
    pub total: u64,
}

/// Parses the first (`cpu `) line of `/proc/stat`: busy = all fields except idle and iowait.
pub fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is
    // already included in user/nice, so it is not added again.
    let fields = &v[..v.len().min(8)];
    let total: u64 = fields.iter().sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total - idle.min(total),
        total,
    })
}

/// Reads `/proc/stat` now.
pub fn sample() -> Option<CpuTimes> {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .as_deref()
        .and_then(parse_proc_stat)
}

/// Busy CPU time between two samples.
pub fn busy_between(a: CpuTimes, b: CpuTimes) -> Duration {
    let ticks = b.busy.saturating_sub(a.busy);
    let hz = crate::sys::cpu::clock_ticks();
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aggregate_line() {
        let t = "cpu  100 5 50 1000 20 3 7 2 0 0\ncpu0 50 2 25 500 10 1 3 1 0 0\nintr 1 2\n";
        let c = parse_proc_stat(t).unwrap();
        assert_eq!(c.total, 100 + 5 + 50 + 1000 + 20 + 3 + 7 + 2);
        assert_eq!(c.busy, 100 + 5 + 50 + 3 + 7 + 2);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse_proc_stat("cpu x y\n"), None);
        assert_eq!(parse_proc_stat("intr 1\n"), None);
        assert_eq!(parse_proc_stat("cpu 1 2\n"), None);
    }
}

/// User + system CPU time of process `pid` from `/proc/PID/stat` (fields 14 and 15), or
/// `None` if it is gone or unreadable.
pub fn pid_cpu(pid: u32) -> Option<Duration> {
    let t = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_pid_stat(&t)
}

/// Parses utime + stime from a `/proc/PID/stat` line (the command name may hold spaces and
/// parentheses, so fields are counted after the last `)`).
pub fn parse_pid_stat(t: &str) -> Option<Duration> {
    let rest = &t[t.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let ut: u64 = f.get(11)?.parse().ok()?;
    let st: u64 = f.get(12)?.parse().ok()?;
    let hz = crate::sys::cpu::clock_ticks();
    Some(Duration::from_secs_f64((ut + st) as f64 / hz as f64))
}

/// CPU time of every `ksoftirqd/N` kernel thread (deferred packet processing).
pub fn ksoftirqd_cpu() -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.starts_with("ksoftirqd/"))
        })
        .filter_map(pid_cpu)
        .sum()
}

#[cfg(test)]
mod pid_tests {
    use super::*;

    #[test]
    fn pid_stat_with_awkward_name() {
        let hz = crate::sys::cpu::clock_ticks() as f64;
        let line =
            "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 0 0";
        let d = parse_pid_stat(line).unwrap();
        assert!((d.as_secs_f64() - 300.0 / hz).abs() < 1e-9);
        assert_eq!(parse_pid_stat("garbage"), None);
        assert!(pid_cpu(std::process::id()).is_some());
    }
}
