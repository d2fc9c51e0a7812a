//! CPU time accounting: the generator's own CPU-seconds (`getrusage`) and the whole
//! machine's busy CPU-seconds (`/proc/stat`, not namespaced), so results can be given per
//! CPU-second as well as per second.
use std::io;
use std::time::Duration;

fn tv(t: libc::timeval) -> Duration {
    Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000)
}

fn rusage(who: libc::c_int) -> io::Result<Duration> {
    // SAFETY: all-zero is a valid `rusage`.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid out-pointer for the call.
    let r = unsafe { libc::getrusage(who, &mut ru) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(tv(ru.ru_utime) + tv(ru.ru_stime))
}

/// User + system CPU time consumed so far by the calling thread.
pub fn thread_cpu() -> io::Result<Duration> {
    rusage(libc::RUSAGE_THREAD)
}

/// User + system CPU time consumed so far by this process (all threads).
pub fn process_cpu() -> io::Result<Duration> {
    rusage(libc::RUSAGE_SELF)
}

/// Clock ticks per second for `/proc/stat`.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Number of online CPUs.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
