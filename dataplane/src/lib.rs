//! mailguard's dataplane: IOS configuration, the packet pipeline, NAT, ACL,
//! CBAC sessions, rings and workers, control socket, logging and metrics.
//!
//! The path of a packet is `pipeline.rs`, read top to bottom: it calls one
//! module per stage (wire → flow/handoff → acl → nat → cbac → stream → smtp →
//! rewrite → tx). Everything below `pipeline` is sans-IO; only `io`, `worker`,
//! `control`, `lab` and the binary touch the operating system.

pub mod acl;
pub mod config;
pub mod control;
pub mod control_handler;
pub mod drop_reason;
pub mod engine;
pub mod handoff;
pub mod io;
pub mod lab;
pub mod logging;
pub mod metrics;
pub mod nat;
pub mod pipeline;
pub mod reassembly;
pub mod routing;
pub mod runtime;
pub mod session;
pub mod shared;
pub mod show;
pub mod sim;
pub mod smtp_path;
pub mod stream;
pub mod wire;
pub mod worker;
