//! Running code inside a network namespace from a test.
//!
//! A network namespace is a per-thread attribute on Linux (`setns(2)` with
//! `CLONE_NEWNET` changes only the calling thread), so each closure runs on a
//! fresh thread that first joins the namespace: sockets it creates belong to
//! that namespace for their whole life, even when used from other threads.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::thread::JoinHandle;

/// Joins the calling thread to the named network namespace (`ip netns add NAME`).
pub fn enter(name: &str) -> io::Result<()> {
    let file = File::open(format!("/run/netns/{name}"))?;
    // SAFETY: `file` is an open descriptor of a namespace file for the whole call;
    // setns only reads it and changes the calling thread's network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a new thread inside namespace `name` and returns its handle.
pub fn spawn_in<T, F>(name: &str, f: F) -> JoinHandle<io::Result<T>>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let name = name.to_owned();
    std::thread::spawn(move || {
        enter(&name)?;
        f()
    })
}

/// Runs `f` inside namespace `name` and waits for it.
pub fn run_in<T, F>(name: &str, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    spawn_in(name, f)
        .join()
        .map_err(|_| io::Error::other("thread in namespace panicked"))?
}
