//! SIGINT/SIGTERM turn into a flag that the run loops poll, so an interrupted run stops
//! starting sessions, drains, reports and lets every Drop guard (namespaces, child
//! processes) clean up instead of dying mid-way.
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Installs the handler for SIGINT and SIGTERM (idempotent).
pub fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// True once SIGINT or SIGTERM has been received.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Marks the process as interrupted (used by tests and by fatal setup errors).
pub fn request_stop() {
    INTERRUPTED.store(true, Ordering::Relaxed);
}
