//! Raw AF_PACKET sockets bound to one interface: a transmit socket (batched `sendmmsg`,
//! `PACKET_QDISC_BYPASS`, no receive queue) for the SYN flood, and a capture socket used by
//! tests and by the flood's self-check. Interface index and MAC come from ioctls so they are
//! read in the calling thread's network namespace.
use std::io;
use std::time::Duration;

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    // SAFETY: all-zero is a valid ifreq.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(ifr)
}

/// Interface index and MAC address of `name` in the current network namespace.
pub fn interface(name: &str) -> io::Result<(i32, [u8; 6])> {
    // SAFETY: plain socket(2) call.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    let res = (|| {
        let mut ifr = ifreq(name)?;
        // SAFETY: `ifr` is a valid ifreq with a NUL-terminated name; the kernel fills the union.
        check(unsafe { libc::ioctl(fd, libc::SIOCGIFINDEX, &mut ifr) })
            .map_err(|e| io::Error::new(e.kind(), format!("interface {name}: {e}")))?;
        // SAFETY: SIOCGIFINDEX filled the ifindex member of the union.
        let index = unsafe { ifr.ifr_ifru.ifru_ifindex };
        let mut ifr = ifreq(name)?;
        // SAFETY: as above, for the hardware address.
        check(unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut ifr) })?;
        // SAFETY: SIOCGIFHWADDR filled the hwaddr member of the union.
        let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
        let mut mac = [0u8; 6];
        for (m, b) in mac.iter_mut().zip(sa.sa_data.iter()) {
            *m = *b as u8;
        }
        Ok((index, mac))
    })();
    super::sock::close(fd);
    res
}

fn sockaddr_ll(ifindex: i32, protocol: u16) -> libc::sockaddr_ll {
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex;
    sll
}

/// An AF_PACKET socket bound to one interface.
pub struct PacketSocket {
    fd: i32,
}

impl PacketSocket {
    fn open(ifindex: i32, protocol: u16) -> io::Result<Self> {
        // SAFETY: plain socket(2) call.
        let fd = check(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(protocol.to_be()),
            )
        })?;
        let s = PacketSocket { fd };
        let sll = sockaddr_ll(ifindex, protocol);
        // SAFETY: `sll` is a valid sockaddr_ll for the call, its size passed.
        check(unsafe {
            libc::bind(
                fd,
                std::ptr::addr_of!(sll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        Ok(s)
    }

    /// A transmit-only socket (protocol 0: receives nothing) with `PACKET_QDISC_BYPASS`.
    pub fn transmitter(ifindex: i32) -> io::Result<Self> {
        let s = Self::open(ifindex, 0)?;
        let one: i32 = 1;
        // SAFETY: `one` valid for the call, size passed. Failure only loses the bypass.
        unsafe {
            libc::setsockopt(
                s.fd,
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                std::ptr::addr_of!(one).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            );
        }
        Ok(s)
    }

    /// A capture socket for every frame on the interface (`ETH_P_ALL`), with a receive
    /// timeout so reads are bounded.
    pub fn capture(ifindex: i32, timeout: Duration) -> io::Result<Self> {
        let s = Self::open(ifindex, libc::ETH_P_ALL as u16)?;
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: `tv` valid for the call, size passed.
        check(unsafe {
            libc::setsockopt(
                s.fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                std::ptr::addr_of!(tv).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
        Ok(s)
    }

    /// Sends every frame of `frames` with as few `sendmmsg` calls as the kernel allows;
    /// returns how many were accepted (the rest hit a full queue: `ENOBUFS`/`EAGAIN`).
    pub fn send_batch(&self, frames: &[&[u8]]) -> io::Result<usize> {
        const MAX: usize = 64;
        let mut sent = 0;
        while sent < frames.len() {
            let n = (frames.len() - sent).min(MAX);
            // SAFETY: all-zero iovec/mmsghdr are valid; they are filled below.
            let mut iov: [libc::iovec; MAX] = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let mut msgs: [libc::mmsghdr; MAX] = unsafe { std::mem::zeroed() };
            for i in 0..n {
                let f = frames[sent + i];
                iov[i].iov_base = f.as_ptr() as *mut libc::c_void;
                iov[i].iov_len = f.len();
                msgs[i].msg_hdr.msg_iov = std::ptr::addr_of_mut!(iov[i]);
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: `msgs[..n]` point to `iov[..n]`, which point into `frames`; all of it
            // lives until the call returns and the kernel only reads it.
            let r = unsafe { libc::sendmmsg(self.fd, msgs.as_mut_ptr(), n as u32, 0) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if matches!(e.raw_os_error(), Some(libc::ENOBUFS) | Some(libc::EAGAIN)) {
                    return Ok(sent);
                }
                return Err(e);
            }
            sent += r as usize;
            if (r as usize) < n {
                return Ok(sent);
            }
        }
        Ok(sent)
    }

    /// Receives one frame into `buf`; `Ok(None)` when the timeout expired.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call.
        let r = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) {
                return Ok(None);
            }
            return Err(e);
        }
        Ok(Some(r as usize))
    }
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        super::sock::close(self.fd);
    }
}
