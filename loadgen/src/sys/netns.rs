//! Entering a named network namespace (`ip netns` style, `/var/run/netns/NAME`) on the
//! calling thread, so the generator's sockets live inside the lab.
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Moves the calling thread into network namespace `name`. Sockets created afterwards by
/// this thread belong to it; other threads are unaffected.
pub fn enter(name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad netns name {name:?}"),
        ));
    }
    let f = File::open(format!("/var/run/netns/{name}"))
        .map_err(|e| io::Error::new(e.kind(), format!("netns {name}: {e}")))?;
    // SAFETY: `f` is an open namespace file descriptor for the duration of the call.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("setns {name}: {e}")));
    }
    Ok(())
}
