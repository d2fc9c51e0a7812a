//! The logger: drains every producer's queue, applies the global rate limits,
//! formats each record once into its IOS line and writes it to the log file
//! (or stderr), to syslog when configured, and to an optional in-process tap
//! (the lab demo and integration tests read alerts from it).
//!
//! [`LogWriter::pump`] is one synchronous pass (tests and the pcap replay
//! call it directly); [`Logger::spawn`] runs it on its own thread.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam::channel::Sender;

use super::format_line;
use super::queue::{LogQueues, QueueCounters, QueueTotals, StampedRecord};
use super::ratelimit::{GlobalRateLimiter, DEBUG_PER_SECOND, GLOBAL_PER_SECOND};
use super::record::LogKind;
use super::syslog::SyslogSender;

/// Records taken per pass (bounds the logger's working memory).
const BATCH: usize = 1_024;
/// Idle sleep of the logger thread between empty passes.
const IDLE: Duration = Duration::from_millis(5);

/// Where the log lines go and how fast.
pub struct LoggerConfig {
    /// The log file or stderr (see [`open_sink`]).
    pub sink: Box<dyn Write + Send>,
    /// `--syslog HOST:PORT`.
    pub syslog: Option<SyslogSender>,
    /// Every formatted line (without newline), best effort: a full channel
    /// drops the line for the tap only.
    pub tap: Option<Sender<String>>,
    /// Global budget of rate-limited messages per second (§13: 100).
    pub global_per_second: u32,
    /// Global budget of debug lines per second.
    pub debug_per_second: u32,
}

impl LoggerConfig {
    /// Defaults: the spec's budgets, no syslog, no tap.
    pub fn new(sink: Box<dyn Write + Send>) -> Self {
        LoggerConfig {
            sink,
            syslog: None,
            tap: None,
            global_per_second: GLOBAL_PER_SECOND,
            debug_per_second: DEBUG_PER_SECOND,
        }
    }
}

impl std::fmt::Debug for LoggerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggerConfig")
            .field("syslog", &self.syslog)
            .field("tap", &self.tap.is_some())
            .field("global_per_second", &self.global_per_second)
            .field("debug_per_second", &self.debug_per_second)
            .finish()
    }
}

/// `--log FILE` (appended to) or stderr when `None`.
pub fn open_sink(path: Option<&Path>) -> io::Result<Box<dyn Write + Send>> {
    match path {
        Some(p) => {
            let file = OpenOptions::new().create(true).append(true).open(p)?;
            Ok(Box::new(BufWriter::new(file)))
        }
        None => Ok(Box::new(BufWriter::new(io::stderr()))),
    }
}

/// An in-memory sink (cloneable handle to one buffer) for simulations,
/// pcap replays and tests that compare log output.
#[derive(Clone, Debug, Default)]
pub struct MemorySink(Arc<Mutex<Vec<u8>>>);

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far (lossy UTF-8).
    pub fn text(&self) -> String {
        let buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Takes the text written so far, leaving the buffer empty.
    pub fn take_text(&self) -> String {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&buf).into_owned();
        buf.clear();
        text
    }
}

impl Write for MemorySink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counters of the logger, shared with metrics and `show logging`.
#[derive(Debug, Default)]
pub struct LoggerStats {
    emitted: [AtomicU64; LogKind::COUNT],
    /// Held back by the global limit (alerts and debug budgets together).
    pub global_suppressed: AtomicU64,
    pub write_errors: AtomicU64,
    pub syslog_sent: AtomicU64,
    pub syslog_errors: AtomicU64,
    pub tap_dropped: AtomicU64,
}

impl LoggerStats {
    /// Lines written, all types together.
    pub fn emitted_total(&self) -> u64 {
        self.emitted.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Lines written per message type.
    pub fn emitted(&self, kind: LogKind) -> u64 {
        self.emitted[kind.index()].load(Ordering::Relaxed)
    }

    /// `(mnemonic, count)` for every type, in [`LogKind::ALL`] order; the
    /// "alerts by kind" metric.
    pub fn emitted_by_kind(&self) -> Vec<(&'static str, u64)> {
        LogKind::ALL
            .iter()
            .map(|k| (k.name(), self.emitted(*k)))
            .collect()
    }
}

/// A snapshot of every logging counter (queues and logger).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoggingTotals {
    pub queues: QueueTotals,
    pub global_suppressed: u64,
    pub write_errors: u64,
    pub syslog_sent: u64,
    pub syslog_errors: u64,
}

/// The logger's synchronous core.
pub struct LogWriter {
    queues: LogQueues,
    config: LoggerConfig,
    global: GlobalRateLimiter,
    debug: GlobalRateLimiter,
    batch: Vec<StampedRecord>,
    line: String,
    stats: Arc<LoggerStats>,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("queues", &self.queues)
            .field("config", &self.config)
            .finish()
    }
}

impl LogWriter {
    pub fn new(queues: LogQueues, config: LoggerConfig) -> Self {
        let global = GlobalRateLimiter::new(config.global_per_second, config.global_per_second);
        let debug = GlobalRateLimiter::new(config.debug_per_second, config.debug_per_second);
        LogWriter {
            queues,
            config,
            global,
            debug,
            batch: Vec::with_capacity(BATCH),
            line: String::with_capacity(256),
            stats: Arc::new(LoggerStats::default()),
        }
    }

    pub fn stats(&self) -> Arc<LoggerStats> {
        Arc::clone(&self.stats)
    }

    pub fn totals(&self) -> LoggingTotals {
        totals(&self.queues.counters(), &self.stats)
    }

    /// One pass: drain up to a batch, order it by time, write what the
    /// global limits let through. Returns the number of records drained.
    pub fn pump(&mut self) -> usize {
        self.batch.clear();
        let n = self.queues.drain_into(&mut self.batch, BATCH);
        if n == 0 {
            return 0;
        }
        // Each queue is in order; merge the workers' records by time.
        self.batch.sort_by_key(|r| r.unix_ns);
        for i in 0..self.batch.len() {
            let StampedRecord { unix_ns, record } = self.batch[i];
            let kind = record.kind();
            let admitted = if kind == LogKind::Debug {
                self.debug.admit(unix_ns)
            } else if kind.globally_limited() {
                self.global.admit(unix_ns)
            } else {
                true
            };
            if !admitted {
                self.stats.global_suppressed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            self.line.clear();
            format_line(unix_ns, &record, &mut self.line);
            self.line.push('\n');
            if self.config.sink.write_all(self.line.as_bytes()).is_err() {
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(syslog) = self.config.syslog.as_mut() {
                let (sent, errors) = (syslog.sent(), syslog.errors());
                syslog.send(unix_ns, &record);
                self.stats
                    .syslog_sent
                    .fetch_add(syslog.sent() - sent, Ordering::Relaxed);
                self.stats
                    .syslog_errors
                    .fetch_add(syslog.errors() - errors, Ordering::Relaxed);
            }
            if let Some(tap) = self.config.tap.as_ref() {
                let text = self.line.trim_end_matches('\n').to_string();
                if tap.try_send(text).is_err() {
                    self.stats.tap_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.stats.emitted[kind.index()].fetch_add(1, Ordering::Relaxed);
        }
        if self.config.sink.flush().is_err() {
            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
        }
        n
    }

    /// Pumps until every queue is empty.
    pub fn pump_all(&mut self) -> usize {
        let mut total = 0;
        loop {
            let n = self.pump();
            total += n;
            if n == 0 {
                return total;
            }
        }
    }
}

/// Every logging counter from the queues' and the logger's shared handles
/// (what the control thread and metrics read while the logger runs).
pub fn totals(queues: &QueueCounters, stats: &LoggerStats) -> LoggingTotals {
    LoggingTotals {
        queues: queues.totals(),
        global_suppressed: stats.global_suppressed.load(Ordering::Relaxed),
        write_errors: stats.write_errors.load(Ordering::Relaxed),
        syslog_sent: stats.syslog_sent.load(Ordering::Relaxed),
        syslog_errors: stats.syslog_errors.load(Ordering::Relaxed),
    }
}

/// The logger thread.
#[derive(Debug)]
pub struct Logger {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<LogWriter>>,
    stats: Arc<LoggerStats>,
    queues: QueueCounters,
}

impl Logger {
    /// Starts the logger thread over `writer`.
    pub fn spawn(mut writer: LogWriter) -> io::Result<Logger> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = writer.stats();
        let queues = writer.queues.counters();
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("mailguard-log".into())
            .spawn(move || {
                loop {
                    if writer.pump() == 0 {
                        if thread_stop.load(Ordering::Acquire) {
                            break;
                        }
                        thread::sleep(IDLE);
                    }
                }
                writer.pump_all();
                writer
            })?;
        Ok(Logger {
            stop,
            thread: Some(thread),
            stats,
            queues,
        })
    }

    pub fn stats(&self) -> Arc<LoggerStats> {
        Arc::clone(&self.stats)
    }

    /// Every logging counter, for metrics and `show logging`.
    pub fn totals(&self) -> LoggingTotals {
        totals(&self.queues, &self.stats)
    }

    /// A handle on the producers' counters, readable from any thread.
    pub fn queue_counters(&self) -> QueueCounters {
        self.queues.clone()
    }

    /// Writes everything still queued, stops the thread and returns the
    /// writer (its counters stay readable).
    pub fn shutdown(mut self) -> Option<LogWriter> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Option<LogWriter> {
        self.stop.store(true, Ordering::Release);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::debug::{DebugCategory, DebugFlags};
    use crate::logging::record::{DebugLine, DebugRecord, LogRecord, VerbToken};

    const T0: u64 = 1_795_453_666_000_000_000; // 2026-11-23T17:07:46Z
    const MS: u64 = 1_000_000;

    fn invalid(port: u16) -> LogRecord {
        LogRecord::SmtpInvalidCommand {
            verb: VerbToken::new(b"EXPN"),
            total: 11,
            initiator: std::net::SocketAddrV4::new([198, 51, 100, 7].into(), port),
        }
    }

    #[test]
    fn lines_are_timestamped_and_merged_by_time() {
        let (p, q) = LogQueues::new(2, 64, Arc::default());
        let sink = MemorySink::new();
        let mut w = LogWriter::new(q, LoggerConfig::new(Box::new(sink.clone())));
        p[1].emit(T0 + 5 * MS, invalid(2));
        p[0].emit(T0 + 7 * MS, invalid(3));
        p[0].emit(T0 + 123 * MS, invalid(4));
        assert_eq!(w.pump_all(), 3);
        assert_eq!(
            sink.text(),
            "*Nov 23 17:07:46.005: %FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) (total 11 chars) from initiator (198.51.100.7:2)\n\
             *Nov 23 17:07:46.007: %FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) (total 11 chars) from initiator (198.51.100.7:3)\n\
             *Nov 23 17:07:46.123: %FW-3-SMTP_INVALID_COMMAND: Invalid SMTP command (EXPN) (total 11 chars) from initiator (198.51.100.7:4)\n"
        );
        assert_eq!(w.stats().emitted(LogKind::SmtpInvalidCommand), 3);
    }

    #[test]
    fn global_limit_counts_overflow_but_spares_dos_alerts() {
        let (p, q) = LogQueues::new(1, 4096, Arc::default());
        let sink = MemorySink::new();
        let mut w = LogWriter::new(q, LoggerConfig::new(Box::new(sink.clone())));
        for i in 0..250 {
            p[0].emit(T0, invalid(i));
        }
        for _ in 0..3 {
            p[0].emit(
                T0,
                LogRecord::AlertOn {
                    count: 500,
                    high: 500,
                    rate: 501,
                },
            );
        }
        w.pump_all();
        let text = sink.text();
        assert_eq!(text.matches("SMTP_INVALID_COMMAND").count(), 100);
        assert_eq!(text.matches("ALERT_ON").count(), 3);
        let totals = w.totals();
        assert_eq!(totals.global_suppressed, 150);
        assert_eq!(totals.queues.queued, 253);
    }

    #[test]
    fn debug_lines_have_no_mnemonic_and_their_own_budget() {
        let flags = Arc::new(DebugFlags::new());
        let (p, q) = LogQueues::new(1, 64, Arc::clone(&flags));
        let sink = MemorySink::new();
        let mut config = LoggerConfig::new(Box::new(sink.clone()));
        config.debug_per_second = 2;
        let mut w = LogWriter::new(q, config);
        assert!(!p[0].debug().enabled(DebugCategory::Smtp));
        flags.set(DebugCategory::Smtp, true);
        assert!(p[0].debug().enabled(DebugCategory::Smtp));
        for _ in 0..3 {
            let line = DebugLine::format(
                DebugCategory::Smtp,
                format_args!("CBAC SMTP: VERB - match id:{}", 5),
            );
            p[0].emit(T0 + 886 * MS, LogRecord::Debug(DebugRecord::Line(line)));
        }
        w.pump_all();
        assert_eq!(
            sink.text(),
            "*Nov 23 17:07:46.886: CBAC SMTP: VERB - match id:5\n\
             *Nov 23 17:07:46.886: CBAC SMTP: VERB - match id:5\n"
        );
        assert_eq!(w.totals().global_suppressed, 1);
    }

    #[test]
    fn thread_drains_on_shutdown_and_feeds_the_tap() {
        let (p, q) = LogQueues::new(1, 64, Arc::default());
        let sink = MemorySink::new();
        let (tx, rx) = crossbeam::channel::bounded(16);
        let mut config = LoggerConfig::new(Box::new(sink.clone()));
        config.tap = Some(tx);
        let logger = Logger::spawn(LogWriter::new(q, config)).unwrap();
        p[0].emit(
            T0,
            LogRecord::UnblockHost {
                host: [172, 22, 1, 110].into(),
            },
        );
        let line = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            line,
            "*Nov 23 17:07:46.000: %FW-4-UNBLOCK_HOST: New TCP connections to host 172.22.1.110 no longer blocked"
        );
        p[0].emit(T0 + MS, invalid(9));
        assert_eq!(logger.totals().queues.queued, 2);
        let writer = logger.shutdown().unwrap();
        assert_eq!(writer.stats().emitted(LogKind::UnblockHost), 1);
        assert_eq!(sink.text().lines().count(), 2);
    }

    #[test]
    fn log_file_is_appended() {
        let dir = std::env::temp_dir().join(format!("mg-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fw.log");
        std::fs::write(&path, "old line\n").unwrap();
        let (p, q) = LogQueues::new(1, 8, Arc::default());
        let mut w = LogWriter::new(q, LoggerConfig::new(open_sink(Some(&path)).unwrap()));
        p[0].emit(T0, invalid(1));
        w.pump_all();
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(text.starts_with("old line\n*Nov 23 17:07:46.000: %FW-3-"));
    }
}
