//! Prometheus metrics: per-reason drop counters, per-worker packet, handoff
//! and ring-occupancy figures, sessions by state, half-open count, aggressive
//! mode, alerts by kind, and the SMTP counters of `smtp-inspection.md` §14,
//! served as text exposition 0.0.4 on `--metrics ADDR:PORT` at `/metrics`.
//!
//! The binary supplies a closure that gathers a [`MetricsSnapshot`] from the
//! workers' counters when a scrape arrives; this module only renders and
//! serves it ([`snapshot`] → [`exposition`] → [`http`]), so nothing here runs
//! on the packet path.
//!
//! ```ignore
//! let server = MetricsServer::bind(addr, Arc::new(move || gather(&shared)))?;
//! ```

pub mod exposition;
pub mod http;
pub mod snapshot;

pub use exposition::{render, CONTENT_TYPE};
pub use http::{MetricsServer, SnapshotSource};
pub use snapshot::{
    MetricsSnapshot, RingOccupancy, SessionCounts, SmtpCounters, VfrMetrics, WorkerMetrics,
};
