//! `loadgen`: the traffic generator and side-by-side benchmark harness for mailguard.
//!
//! Layers, bottom-up: `sys` (the only unsafe code: io_uring slots, raw packet sockets,
//! setns, rusage), `smtp_client` and `reply` (sans-IO SMTP client and reply parser),
//! `engine` (many concurrent client state machines on one ring, open-loop or fixed
//! concurrency), `report` (HDR histograms, text and JSON), `responder` (a local SMTP/echo
//! server for tests and labs), `synflood`, `topo` (lab namespaces), `compare`,
//! `thresholds`.
pub mod echo_client;
pub mod engine;
pub mod mix;
pub mod outcome;
pub mod reply;
pub mod report;
pub mod responder;
pub mod smtp_client;
pub mod smtp_server;
pub mod sys;

/// Pins the calling thread to CPU `cpu` (`--cpu N`), so the generator's work stays on one
/// core and the firewall's on the others (see BENCHMARKS.md for the layout).
pub fn pin(cpu: usize) -> std::io::Result<()> {
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    let id = ids.into_iter().find(|c| c.id == cpu).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("no CPU {cpu} on this machine"),
        )
    })?;
    if core_affinity::set_for_current(id) {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("could not pin to CPU {cpu}")))
    }
}
pub mod cli;
pub mod compare;
pub mod cpustat;
pub mod mailguard;
pub mod run;
pub mod svg;
pub mod synflood;
pub mod synframe;
pub mod thresholds;
pub mod topo;
