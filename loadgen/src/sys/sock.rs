//! Socket creation with the options the generator needs (`TCP_NODELAY`, source binding
//! without an early port choice, `SO_REUSEADDR`), and the file-descriptor limit.
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};

/// A `sockaddr_in` for `a` in network byte order.
pub fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn set_int(fd: i32, level: i32, name: i32, v: i32) -> io::Result<()> {
    // SAFETY: `v` lives for the call, its size is passed, `fd` is a socket we own.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::addr_of!(v).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    check(r).map(|_| ())
}

fn bind(fd: i32, a: SocketAddrV4) -> io::Result<()> {
    let sa = sockaddr_in(a);
    // SAFETY: `sa` is a valid sockaddr_in for the duration of the call, size passed.
    let r = unsafe {
        libc::bind(
            fd,
            std::ptr::addr_of!(sa).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    check(r).map(|_| ())
}

fn new_socket(ty: i32) -> io::Result<i32> {
    // SAFETY: plain socket(2) call, no pointers.
    check(unsafe { libc::socket(libc::AF_INET, ty | libc::SOCK_CLOEXEC, 0) })
}

/// A blocking TCP socket (io_uring does the waiting) with `TCP_NODELAY`, bound to `source`
/// with `IP_BIND_ADDRESS_NO_PORT` so the port is picked at connect time per 4-tuple.
pub fn tcp_socket(source: Option<Ipv4Addr>) -> io::Result<i32> {
    let fd = new_socket(libc::SOCK_STREAM)?;
    let r = (|| {
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
        if let Some(src) = source {
            set_int(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
            bind(fd, SocketAddrV4::new(src, 0))?;
        }
        Ok(())
    })();
    match r {
        Ok(()) => Ok(fd),
        Err(e) => {
            close(fd);
            Err(e)
        }
    }
}

/// A UDP socket connected to `dst` (optionally bound to `source`).
pub fn udp_socket(source: Option<Ipv4Addr>, dst: SocketAddrV4) -> io::Result<i32> {
    let fd = new_socket(libc::SOCK_DGRAM)?;
    let r = (|| {
        if let Some(src) = source {
            bind(fd, SocketAddrV4::new(src, 0))?;
        }
        let sa = sockaddr_in(dst);
        // SAFETY: `sa` valid for the call, size passed; UDP connect does not block.
        let r = unsafe {
            libc::connect(
                fd,
                std::ptr::addr_of!(sa).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        check(r).map(|_| ())
    })();
    match r {
        Ok(()) => Ok(fd),
        Err(e) => {
            close(fd);
            Err(e)
        }
    }
}

/// Closes a descriptor we own (errors are irrelevant on this path).
pub fn close(fd: i32) {
    // SAFETY: `fd` is owned by the caller and not used after this call.
    unsafe {
        libc::close(fd);
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a valid out-pointer for the call.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) })?;
    rl.rlim_cur = rl.rlim_max;
    // SAFETY: `rl` is a valid in-pointer for the call.
    check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) })?;
    Ok(rl.rlim_cur)
}

/// Re-`listen`s a listening socket with a deeper accept queue (std's default of 128 drops
/// handshakes under connection bursts; the kernel caps the value at `somaxconn`).
pub fn set_backlog(fd: i32, backlog: i32) -> io::Result<()> {
    // SAFETY: listen(2) on a descriptor the caller owns; no pointers.
    check(unsafe { libc::listen(fd, backlog) }).map(|_| ())
}

/// Sets a socket's receive buffer (`SO_RCVBUFFORCE` when allowed, else `SO_RCVBUF`, which
/// the kernel caps at `rmem_max`), so a responder absorbs bursts from many clients.
pub fn set_recv_buffer(fd: i32, bytes: i32) -> io::Result<()> {
    set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes)
        .or_else(|_| set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes))
}
