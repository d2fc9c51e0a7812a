//! Entering a named network namespace from the *current thread*.
//!
//! `setns(CLONE_NEWNET)` is per thread: a worker thread can open its packet
//! sockets inside the firewall's namespace while the test (or the lab
//! command) keeps running in the original one. Sockets stay in the namespace
//! they were created in, whatever thread uses them later. [`NetnsGuard`]
//! switches back when dropped, so a reused thread is left as it was found.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use super::LabError;

/// Where `ip netns add` puts its namespace handles.
const NETNS_DIRS: [&str; 2] = ["/run/netns", "/var/run/netns"];

/// Path of the handle of namespace `name`.
pub fn netns_path(name: &str) -> Option<PathBuf> {
    NETNS_DIRS
        .iter()
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.exists())
}

/// While alive, the current thread is in another network namespace.
#[derive(Debug)]
pub struct NetnsGuard {
    original: File,
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        // Best effort: a failure here leaves the thread where it was; threads
        // that enter namespaces are dedicated ones in this crate.
        let _ = setns(&self.original);
    }
}

fn setns(file: &File) -> std::io::Result<()> {
    // SAFETY: setns(2) on a valid open namespace fd; it only changes the
    // calling thread's network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Move the current thread into namespace `name` until the guard drops.
pub fn enter(name: &str) -> Result<NetnsGuard, LabError> {
    let err = |source| LabError::Netns {
        ns: name.to_string(),
        source,
    };
    let original = File::open("/proc/thread-self/ns/net").map_err(err)?;
    let path = netns_path(name).ok_or_else(|| {
        err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such network namespace",
        ))
    })?;
    let target = File::open(path).map_err(err)?;
    setns(&target).map_err(err)?;
    Ok(NetnsGuard { original })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_namespace_is_a_typed_error() {
        match enter("mg-no-such-namespace") {
            Err(LabError::Netns { ns, .. }) => assert_eq!(ns, "mg-no-such-namespace"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
