//! A raw-socket TCP client for tests that need exact segmentation: one byte
//! per segment, overlapping segments, retransmissions with other content,
//! out-of-order delivery (`seed-scenario.md` D1, D6, D20–D22).
//!
//! It speaks TCP itself over an `AF_PACKET` socket in the client namespace,
//! using the namespace's own address and MAC. The caller must stop the
//! client kernel from answering the same flow (it has no socket for it and
//! would reset): [`RawTcp::silence_kernel_rsts`] installs an nftables rule
//! in the namespace that drops the kernel's outgoing RSTs.
#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

/// A received TCP segment of the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Payload.
    pub payload: Vec<u8>,
}

/// TCP flag bits.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// One TCP flow driven by hand.
pub struct RawTcp {
    fd: i32,
    ifindex: i32,
    my_mac: [u8; 6],
    gw_mac: [u8; 6],
    /// Local address.
    pub local: SocketAddrV4,
    /// Remote address.
    pub remote: SocketAddrV4,
    /// Initial send sequence number.
    pub iss: u32,
    /// Next sequence number to send.
    pub snd_nxt: u32,
    /// Next sequence number expected from the peer.
    pub rcv_nxt: u32,
    ip_id: u16,
}

fn htons(v: u16) -> u16 {
    v.to_be()
}

fn ifindex(name: &str) -> io::Result<i32> {
    let c = std::ffi::CString::new(name).map_err(|_| io::Error::other("bad ifname"))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(idx as i32)
}

fn mac_of(name: &str) -> io::Result<[u8; 6]> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{name}/address"))?;
    let mut mac = [0u8; 6];
    for (i, part) in s.trim().split(':').enumerate().take(6) {
        mac[i] = u8::from_str_radix(part, 16).map_err(|_| io::Error::other("bad mac"))?;
    }
    Ok(mac)
}

/// Internet checksum of `data` with an initial partial sum.
pub fn checksum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_sum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let s = src.octets();
    let d = dst.octets();
    u32::from(u16::from_be_bytes([s[0], s[1]]))
        + u32::from(u16::from_be_bytes([s[2], s[3]]))
        + u32::from(u16::from_be_bytes([d[0], d[1]]))
        + u32::from(u16::from_be_bytes([d[2], d[3]]))
        + u32::from(proto)
        + len as u32
}

impl RawTcp {
    /// Opens the raw socket on `ifname` (call inside the client namespace),
    /// resolves the gateway's MAC by ARP, and prepares a flow
    /// `local` → `remote` with initial sequence number `iss`.
    pub fn open(
        ifname: &str,
        gateway: Ipv4Addr,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: u32,
    ) -> io::Result<RawTcp> {
        let ifindex = ifindex(ifname)?;
        let my_mac = mac_of(ifname)?;
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW,
                i32::from(htons(libc::ETH_P_ALL as u16)),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = htons(libc::ETH_P_ALL as u16);
        sll.sll_ifindex = ifindex;
        // SAFETY: `sll` is a valid sockaddr_ll and its size is passed.
        let rc = unsafe {
            libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            // SAFETY: fd is ours and open.
            unsafe { libc::close(fd) };
            return Err(e);
        }
        let mut me = RawTcp {
            fd,
            ifindex,
            my_mac,
            gw_mac: [0xff; 6],
            local,
            remote,
            iss,
            snd_nxt: iss,
            rcv_nxt: 0,
            ip_id: 1,
        };
        me.gw_mac = me.resolve(gateway)?;
        Ok(me)
    }

    /// Installs (in the current namespace) an nftables rule that drops the
    /// kernel's outgoing TCP RSTs from `local`'s port, so the kernel does not
    /// reset a flow it has no socket for.
    pub fn silence_kernel_rsts(port: u16) -> io::Result<()> {
        let table = format!("rawtcp{port}");
        let script = format!(
            "table inet {table} {{ chain out {{ type filter hook output priority 0; tcp sport {port} tcp flags rst drop; }} }}"
        );
        let out = std::process::Command::new("nft").arg(script).output()?;
        if !out.status.success() {
            return Err(io::Error::other(
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        Ok(())
    }

    fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = self.ifindex;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `frame` is valid for `frame.len()` bytes; `sll` is a valid address.
        let rc = unsafe {
            libc::sendto(
                self.fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn recv_frame(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `pfd` is one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if rc == 0 {
            return Ok(None);
        }
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Some(n as usize))
    }

    fn resolve(&mut self, ip: Ipv4Addr) -> io::Result<[u8; 6]> {
        let mut req = [0u8; 42];
        req[..6].copy_from_slice(&[0xff; 6]);
        req[6..12].copy_from_slice(&self.my_mac);
        req[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        req[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        req[22..28].copy_from_slice(&self.my_mac);
        req[28..32].copy_from_slice(&self.local.ip().octets());
        req[38..42].copy_from_slice(&ip.octets());
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            self.send_frame(&req)?;
            let until = Instant::now() + Duration::from_millis(300);
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                let Some(n) = self.recv_frame(&mut buf, left)? else {
                    break;
                };
                let f = &buf[..n];
                if n >= 42
                    && f[12..14] == [0x08, 0x06]
                    && f[20..22] == [0, 2]
                    && f[28..32] == ip.octets()
                {
                    let mut mac = [0u8; 6];
                    mac.copy_from_slice(&f[22..28]);
                    return Ok(mac);
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no ARP reply from {ip}"),
        ))
    }

    /// Builds and sends one segment with an explicit sequence number.
    pub fn send_raw(&mut self, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> io::Result<()> {
        let tcp_len = 20 + payload.len();
        let total = 20 + tcp_len;
        let mut f = vec![0u8; 14 + total];
        f[..6].copy_from_slice(&self.gw_mac);
        f[6..12].copy_from_slice(&self.my_mac);
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        self.ip_id = self.ip_id.wrapping_add(1);
        ip[6] = 0x40;
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&self.local.ip().octets());
        ip[16..20].copy_from_slice(&self.remote.ip().octets());
        let c = checksum(ip, 0);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let t = &mut f[34..];
        t[0..2].copy_from_slice(&self.local.port().to_be_bytes());
        t[2..4].copy_from_slice(&self.remote.port().to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&64240u16.to_be_bytes());
        t[20..].copy_from_slice(payload);
        let c = checksum(
            t,
            pseudo_sum(*self.local.ip(), *self.remote.ip(), 6, tcp_len),
        );
        t[16..18].copy_from_slice(&c.to_be_bytes());
        self.send_frame(&f)
    }

    /// Receives the next segment of this flow (remote → local), or `None` at
    /// the timeout.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Option<Segment>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Some(n) = self.recv_frame(&mut buf, left)? else {
                return Ok(None);
            };
            if let Some(seg) = self.parse(&buf[..n]) {
                return Ok(Some(seg));
            }
        }
        Ok(None)
    }

    fn parse(&self, f: &[u8]) -> Option<Segment> {
        if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[0..6] != self.my_mac {
            return None;
        }
        let ip = &f[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        if ip[9] != 6 || ihl < 20 || total > ip.len() || total < ihl + 20 {
            return None;
        }
        if ip[12..16] != self.remote.ip().octets() || ip[16..20] != self.local.ip().octets() {
            return None;
        }
        let t = &ip[ihl..total];
        let sport = u16::from_be_bytes([t[0], t[1]]);
        let dport = u16::from_be_bytes([t[2], t[3]]);
        if sport != self.remote.port() || dport != self.local.port() {
            return None;
        }
        let doff = usize::from(t[12] >> 4) * 4;
        if doff < 20 || doff > t.len() {
            return None;
        }
        Some(Segment {
            seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
            ack: u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
            flags: t[13],
            window: u16::from_be_bytes([t[14], t[15]]),
            payload: t[doff..].to_vec(),
        })
    }

    /// Three-way handshake; returns the SYN-ACK.
    pub fn connect(&mut self, timeout: Duration) -> io::Result<Segment> {
        let deadline = Instant::now() + timeout;
        self.send_raw(self.iss, 0, flags::SYN, &[])?;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "no SYN-ACK"))?;
            let Some(seg) = self.recv(left.min(Duration::from_secs(1)))? else {
                self.send_raw(self.iss, 0, flags::SYN, &[])?;
                continue;
            };
            if seg.flags & (flags::SYN | flags::ACK) == flags::SYN | flags::ACK
                && seg.ack == self.iss.wrapping_add(1)
            {
                self.snd_nxt = self.iss.wrapping_add(1);
                self.rcv_nxt = seg.seq.wrapping_add(1);
                self.send_raw(self.snd_nxt, self.rcv_nxt, flags::ACK, &[])?;
                return Ok(seg);
            }
            if seg.flags & flags::RST != 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "RST"));
            }
        }
    }

    /// Sends `payload` at `snd_nxt` (PSH|ACK) and advances `snd_nxt`.
    pub fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send_raw(self.snd_nxt, self.rcv_nxt, flags::PSH | flags::ACK, payload)?;
        self.snd_nxt = self.snd_nxt.wrapping_add(payload.len() as u32);
        Ok(())
    }

    /// Receives in-order server data until `want` bytes arrived or the
    /// timeout; acknowledges what it receives. Returns the bytes and the
    /// segments seen (for flag checks).
    pub fn read_data(
        &mut self,
        want: usize,
        timeout: Duration,
    ) -> io::Result<(Vec<u8>, Vec<Segment>)> {
        let deadline = Instant::now() + timeout;
        let mut data = Vec::new();
        let mut segs = Vec::new();
        while data.len() < want {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            let Some(seg) = self.recv(left)? else { break };
            let fin = seg.flags & flags::FIN != 0;
            if seg.seq == self.rcv_nxt && (!seg.payload.is_empty() || fin) {
                data.extend_from_slice(&seg.payload);
                self.rcv_nxt = self
                    .rcv_nxt
                    .wrapping_add(seg.payload.len() as u32)
                    .wrapping_add(u32::from(fin));
                self.send_raw(self.snd_nxt, self.rcv_nxt, flags::ACK, &[])?;
            }
            let done = fin || seg.flags & flags::RST != 0;
            segs.push(seg);
            if done {
                break;
            }
        }
        Ok((data, segs))
    }
}

impl Drop for RawTcp {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value and closed once.
        unsafe { libc::close(self.fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3 example bytes.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data, 0), !0xddf2u16);
    }
}
