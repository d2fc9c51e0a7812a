//! A raw-socket TCP client and a wire tap for tests that need exact
//! segmentation: one byte per segment, overlapping segments, retransmissions
//! with other content, out-of-order delivery (`seed-scenario.md` D1, D4–D6,
//! D20–D22).
//!
//! Why not a kernel socket: the kernel decides segmentation, coalesces
//! writes, retransmits on its own and never sends two different payloads at
//! one sequence number. [`RawTcp`] speaks TCP itself over an `AF_PACKET`
//! socket in the client namespace, with the namespace's own address and MAC,
//! so every segment is exactly the one the test asked for. [`Tap`] watches
//! the other side of the firewall (the mail server's link) and records every
//! segment of the flow as it arrived, so a test can compare "what the server
//! received" segment by segment, sequence numbers included.
//!
//! The client kernel must not answer the flow it has no socket for (it would
//! reset it): [`RawTcp::open_in`] first installs, with `nft` run inside the
//! client namespace only, a table that drops the flow's packets on input and
//! any RST of its port on output. The packet socket still sees the frames:
//! packet taps run before the IP layer and its netfilter hooks.
//!
//! Every socket is opened on a thread that joined the namespace
//! ([`crate::netns`]); it keeps belonging to that namespace when used from the
//! test thread. Interface index and MAC come from the socket's namespace
//! (`if_nametoindex`, `SIOCGIFHWADDR`), never from `/sys`, which shows the
//! namespace that mounted it.
#![allow(unsafe_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// One TCP segment seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// TCP flags byte (see [`flags`]).
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// IP time to live.
    pub ttl: u8,
    /// Whether the IP header checksum and the TCP checksum were valid.
    pub checksums_ok: bool,
    /// Payload.
    pub payload: Vec<u8>,
    /// When the frame was read from the socket.
    pub at: Instant,
}

impl Segment {
    /// Whether all of `f` are set.
    pub fn has(&self, f: u8) -> bool {
        self.flags & f == f
    }

    /// Sequence space the segment occupies (payload, SYN and FIN).
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.flags & flags::SYN != 0)
            + u32::from(self.flags & flags::FIN != 0)
    }
}

/// `a` is after `b` in sequence space (RFC 9293 modular comparison).
pub fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Internet checksum of `data` with an initial partial sum.
pub fn checksum(data: &[u8], initial: u32) -> u16 {
    let mut sum = u64::from(initial);
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u64::from(*b) << 8;
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

/// Builds an Ethernet/IPv4/TCP frame (no options, DF set, TTL 64, valid
/// checksums).
#[allow(clippy::too_many_arguments)]
pub fn build_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: SocketAddrV4,
    dst: SocketAddrV4,
    ip_id: u16,
    seq: u32,
    ack: u32,
    tcp_flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let tcp_len = 20 + payload.len();
    let total = 20 + tcp_len;
    let mut f = vec![0u8; 14 + total];
    f[..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.ip().octets());
    ip[16..20].copy_from_slice(&dst.ip().octets());
    let c = checksum(ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let t = &mut f[34..];
    t[0..2].copy_from_slice(&src.port().to_be_bytes());
    t[2..4].copy_from_slice(&dst.port().to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = tcp_flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t[20..].copy_from_slice(payload);
    let c = checksum(t, pseudo_sum(*src.ip(), *dst.ip(), 6, tcp_len));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    f
}

/// Parses `frame` as a TCP segment from `src` to `dst` (both address and
/// port must match); anything else is `None`.
pub fn parse_frame(frame: &[u8], src: SocketAddrV4, dst: SocketAddrV4) -> Option<Segment> {
    if frame.len() < 54 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ip[0] >> 4 != 4 || ip[9] != 6 || ihl < 20 || total > ip.len() || total < ihl + 20 {
        return None;
    }
    if ip[12..16] != src.ip().octets() || ip[16..20] != dst.ip().octets() {
        return None;
    }
    // Non-initial fragments and fragmented segments are not ours to judge.
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
        return None;
    }
    let t = &ip[ihl..total];
    if u16::from_be_bytes([t[0], t[1]]) != src.port()
        || u16::from_be_bytes([t[2], t[3]]) != dst.port()
    {
        return None;
    }
    let doff = usize::from(t[12] >> 4) * 4;
    if doff < 20 || doff > t.len() {
        return None;
    }
    let ip_ok = checksum(&ip[..ihl], 0) == 0;
    let tcp_ok = checksum(t, pseudo_sum(*src.ip(), *dst.ip(), 6, t.len())) == 0;
    Some(Segment {
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
        ack: u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
        flags: t[13],
        window: u16::from_be_bytes([t[14], t[15]]),
        ttl: ip[8],
        checksums_ok: ip_ok && tcp_ok,
        payload: t[doff..].to_vec(),
        at: Instant::now(),
    })
}

/// Runs `nft -f -` with `script` inside network namespace `ns` (never in the
/// test's own namespace).
pub fn nft_in(ns: &str, script: &str) -> io::Result<()> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "nft in {ns}: {}\n{script}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// An `AF_PACKET` socket bound to one interface.
struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
    mac: [u8; 6],
}

impl PacketSocket {
    /// Opens the socket on `ifname` of the calling thread's namespace.
    fn open(ifname: &str, protocol: u16) -> io::Result<PacketSocket> {
        let c = std::ffi::CString::new(ifname)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name"))?;
        // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
        let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        let ifindex = ifindex as i32;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(protocol.to_be()),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a freshly opened descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // A deep receive buffer: tests read at their own pace.
        let size: libc::c_int = 4 << 20;
        // SAFETY: `size` is a valid c_int and its size is passed; failure is harmless
        // (the default buffer stays), so the result is ignored.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
        // SAFETY: ifreq is plain old data; zeroed is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in ifr.ifr_name.iter_mut().zip(c.as_bytes()) {
            *dst = *src as libc::c_char;
        }
        // SAFETY: `ifr` is a valid ifreq with a NUL-terminated name (zeroed tail,
        // names are shorter than IFNAMSIZ); SIOCGIFHWADDR writes only into it.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut ifr) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut mac = [0u8; 6];
        // SAFETY: SIOCGIFHWADDR filled the `ifru_hwaddr` member of the union.
        let hw = unsafe { ifr.ifr_ifru.ifru_hwaddr };
        for (m, b) in mac.iter_mut().zip(hw.sa_data.iter()) {
            *m = *b as u8;
        }
        // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = protocol.to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: `sll` is a valid sockaddr_ll and its size is passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PacketSocket { fd, ifindex, mac })
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = self.ifindex;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `frame` is valid for `frame.len()` bytes; `sll` is a valid address
        // whose size is passed.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
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
        if rc as usize != frame.len() {
            return Err(io::Error::other("short send"));
        }
        Ok(())
    }

    /// Next frame that arrived on the interface (frames this host sent are
    /// skipped), or `None` at the timeout.
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // Round up so that a sub-millisecond rest still waits.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            // SAFETY: `pfd` is one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if rc == 0 {
                return Ok(None);
            }
            // SAFETY: sockaddr_ll is plain old data; zeroed is a valid value.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes; `sll`/`len`
            // describe a writable sockaddr_ll.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut sll as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) {
                    continue;
                }
                return Err(e);
            }
            if sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            return Ok(Some(n as usize));
        }
    }
}

/// One TCP flow driven by hand from the client namespace.
pub struct RawTcp {
    sock: PacketSocket,
    gw_mac: [u8; 6],
    /// Local address (the client).
    pub local: SocketAddrV4,
    /// Remote address (the server as the client addresses it).
    pub remote: SocketAddrV4,
    /// Initial send sequence number.
    pub iss: u32,
    /// Next sequence number to send.
    pub snd_nxt: u32,
    /// Next sequence number expected from the peer (0 before the SYN-ACK).
    pub rcv_nxt: u32,
    /// The peer's initial sequence number (0 before the SYN-ACK).
    pub irs: u32,
    /// Highest acknowledgement number the peer sent.
    pub peer_ack: Option<u32>,
    /// The peer's in-order byte stream so far.
    pub received: Vec<u8>,
    /// Every segment of the flow the peer sent, in arrival order.
    pub segments: Vec<Segment>,
    /// The peer's FIN arrived in order.
    pub fin_received: bool,
    /// The peer reset the flow.
    pub rst_received: bool,
    ip_id: u16,
}

impl RawTcp {
    /// Prepares a flow `local` → `remote` on interface `ifname` of network
    /// namespace `ns`: silences the namespace kernel for `local`'s port (see the
    /// module docs), opens the packet socket there and resolves `gateway`'s MAC
    /// by ARP. `local` must be an address of that interface.
    pub fn open_in(
        ns: &str,
        ifname: &str,
        gateway: Ipv4Addr,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: u32,
    ) -> io::Result<RawTcp> {
        Self::silence_kernel(ns, local.port())?;
        let ifname = ifname.to_owned();
        let sock = crate::netns::run_in(ns, move || PacketSocket::open(&ifname, 0x0003))?;
        let mut me = RawTcp {
            sock,
            gw_mac: [0xff; 6],
            local,
            remote,
            iss,
            snd_nxt: iss,
            rcv_nxt: 0,
            irs: 0,
            peer_ack: None,
            received: Vec::new(),
            segments: Vec::new(),
            fin_received: false,
            rst_received: false,
            ip_id: 1,
        };
        me.gw_mac = me.resolve(gateway)?;
        Ok(me)
    }

    /// Installs in namespace `ns` a table (`rawtcp<port>`) that drops TCP to
    /// local `port` on input and RSTs from it on output, so the kernel neither
    /// sees nor resets a flow driven by a packet socket.
    pub fn silence_kernel(ns: &str, port: u16) -> io::Result<()> {
        nft_in(
            ns,
            &format!(
                "table inet rawtcp{port} {{\n\
                 \tchain in {{\n\t\ttype filter hook input priority -300; policy accept;\n\
                 \t\ttcp dport {port} drop\n\t}}\n\
                 \tchain out {{\n\t\ttype filter hook output priority -300; policy accept;\n\
                 \t\ttcp sport {port} tcp flags rst drop\n\t}}\n}}\n"
            ),
        )
    }

    /// The client's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.sock.mac
    }

    fn resolve(&mut self, ip: Ipv4Addr) -> io::Result<[u8; 6]> {
        let mut req = [0u8; 42];
        req[..6].copy_from_slice(&[0xff; 6]);
        req[6..12].copy_from_slice(&self.sock.mac);
        req[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        req[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        req[22..28].copy_from_slice(&self.sock.mac);
        req[28..32].copy_from_slice(&self.local.ip().octets());
        req[38..42].copy_from_slice(&ip.octets());
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            self.sock.send(&req)?;
            let until = Instant::now() + Duration::from_millis(500);
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                let Some(n) = self.sock.recv(&mut buf, left)? else {
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

    /// Sends one segment with explicit sequence and acknowledgement numbers
    /// and flags; changes no state.
    pub fn send_raw(
        &mut self,
        seq: u32,
        ack: u32,
        tcp_flags: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        let frame = build_frame(
            self.gw_mac,
            self.sock.mac,
            self.local,
            self.remote,
            self.ip_id,
            seq,
            ack,
            tcp_flags,
            payload,
        );
        self.ip_id = self.ip_id.wrapping_add(1);
        self.sock.send(&frame)
    }

    /// Three-way handshake (the SYN is repeated every second until the
    /// deadline); returns the SYN-ACK.
    pub fn connect(&mut self, timeout: Duration) -> io::Result<Segment> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        'syn: loop {
            self.send_raw(self.iss, 0, flags::SYN, &[])?;
            let next_syn = Instant::now() + Duration::from_secs(1);
            loop {
                let now = Instant::now();
                if now >= deadline {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no SYN-ACK"));
                }
                if now >= next_syn {
                    continue 'syn;
                }
                let Some(n) = self.sock.recv(&mut buf, next_syn.min(deadline) - now)? else {
                    continue;
                };
                let Some(seg) = parse_frame(&buf[..n], self.remote, self.local) else {
                    continue;
                };
                self.segments.push(seg.clone());
                if seg.has(flags::SYN | flags::ACK) && seg.ack == self.iss.wrapping_add(1) {
                    self.snd_nxt = self.iss.wrapping_add(1);
                    self.irs = seg.seq;
                    self.rcv_nxt = seg.seq.wrapping_add(1);
                    self.peer_ack = Some(seg.ack);
                    self.send_raw(self.snd_nxt, self.rcv_nxt, flags::ACK, &[])?;
                    return Ok(seg);
                }
                if seg.flags & flags::RST != 0 {
                    self.rst_received = true;
                    return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "RST"));
                }
            }
        }
    }

    /// Sends `payload` (PSH|ACK) at `snd_nxt` and advances `snd_nxt`.
    pub fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let seq = self.snd_nxt;
        self.send_at(seq, payload)
    }

    /// Sends `payload` (PSH|ACK) at `seq`, acknowledging what was received;
    /// `snd_nxt` moves to the segment's end if that is further.
    pub fn send_at(&mut self, seq: u32, payload: &[u8]) -> io::Result<()> {
        self.send_raw(seq, self.rcv_nxt, flags::PSH | flags::ACK, payload)?;
        let end = seq.wrapping_add(payload.len() as u32);
        if seq_after(end, self.snd_nxt) {
            self.snd_nxt = end;
        }
        Ok(())
    }

    /// Sends FIN|ACK at `snd_nxt` and advances it.
    pub fn send_fin(&mut self) -> io::Result<()> {
        self.send_raw(self.snd_nxt, self.rcv_nxt, flags::FIN | flags::ACK, &[])?;
        self.snd_nxt = self.snd_nxt.wrapping_add(1);
        Ok(())
    }

    /// Takes in one segment of the peer: in-order data (also the new tail of
    /// a partly old one) joins `received` and is acknowledged, as is a FIN.
    fn absorb(&mut self, seg: Segment) -> io::Result<()> {
        if seg.flags & flags::ACK != 0 && self.peer_ack.is_none_or(|a| seq_after(seg.ack, a)) {
            self.peer_ack = Some(seg.ack);
        }
        if seg.flags & flags::RST != 0 {
            self.rst_received = true;
            self.segments.push(seg);
            return Ok(());
        }
        let len = seg.payload.len() as u32;
        let offset = self.rcv_nxt.wrapping_sub(seg.seq);
        if !self.fin_received && (offset < len || (offset == len && seg.flags & flags::FIN != 0)) {
            let fresh = &seg.payload[offset as usize..];
            if !fresh.is_empty() {
                self.received.extend_from_slice(fresh);
                self.rcv_nxt = self.rcv_nxt.wrapping_add(fresh.len() as u32);
            }
            if seg.flags & flags::FIN != 0 {
                self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
                self.fin_received = true;
            }
        }
        if len > 0 || seg.flags & flags::FIN != 0 {
            // Acknowledge new data, and duplicates too (the peer retransmits
            // because it missed an ACK).
            self.send_raw(self.snd_nxt, self.rcv_nxt, flags::ACK, &[])?;
        }
        self.segments.push(seg);
        Ok(())
    }

    /// Processes the peer's segments until `done(self)` holds or `timeout`
    /// passes; returns whether `done` held.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&RawTcp) -> bool,
    ) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        loop {
            if done(self) {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let Some(n) = self.sock.recv(&mut buf, left)? else {
                continue;
            };
            if let Some(seg) = parse_frame(&buf[..n], self.remote, self.local) {
                self.absorb(seg)?;
            }
        }
    }

    /// Processes the segments that already arrived, without waiting.
    pub fn drain(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; 65536];
        while let Some(n) = self.sock.recv(&mut buf, Duration::ZERO)? {
            if let Some(seg) = parse_frame(&buf[..n], self.remote, self.local) {
                self.absorb(seg)?;
            }
        }
        Ok(())
    }

    /// Waits until the in-order stream from the peer holds `n` bytes (or the
    /// peer closed or reset); returns the stream.
    pub fn read_until_len(&mut self, n: usize, timeout: Duration) -> io::Result<&[u8]> {
        self.wait_until(timeout, |t| {
            t.received.len() >= n || t.fin_received || t.rst_received
        })?;
        Ok(&self.received)
    }

    /// Processes whatever the peer sends for `d` (for checks that something
    /// does *not* happen).
    pub fn idle(&mut self, d: Duration) -> io::Result<()> {
        self.wait_until(d, |_| false).map(|_| ())
    }
}

/// A passive tap on one interface: records the segments of one direction of
/// one flow as they arrive on the wire.
pub struct Tap {
    sock: PacketSocket,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    segments: Vec<Segment>,
}

impl Tap {
    /// Opens the tap on `ifname` in namespace `ns` for segments `src` → `dst`
    /// (addresses as they appear on that link).
    pub fn open_in(
        ns: &str,
        ifname: &str,
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) -> io::Result<Tap> {
        let ifname = ifname.to_owned();
        let sock = crate::netns::run_in(ns, move || PacketSocket::open(&ifname, 0x0800))?;
        Ok(Tap {
            sock,
            src,
            dst,
            segments: Vec::new(),
        })
    }

    /// Reads frames until `done(segments)` holds or `timeout` passes; returns
    /// whether `done` held.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Segment]) -> bool,
    ) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        loop {
            if done(&self.segments) {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let Some(n) = self.sock.recv(&mut buf, left)? else {
                continue;
            };
            if let Some(seg) = parse_frame(&buf[..n], self.src, self.dst) {
                self.segments.push(seg);
            }
        }
    }

    /// Records the segments that already arrived, without waiting; returns
    /// all recorded so far.
    pub fn drain(&mut self) -> io::Result<&[Segment]> {
        let mut buf = vec![0u8; 65536];
        while let Some(n) = self.sock.recv(&mut buf, Duration::ZERO)? {
            if let Some(seg) = parse_frame(&buf[..n], self.src, self.dst) {
                self.segments.push(seg);
            }
        }
        Ok(&self.segments)
    }

    /// Every segment recorded so far.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// `(seq, payload)` of the recorded segments that carry data, in arrival
    /// order.
    pub fn data(&self) -> Vec<(u32, Vec<u8>)> {
        data_of(&self.segments)
    }

    /// Waits until `n` data segments were recorded; returns them.
    pub fn wait_data(&mut self, n: usize, timeout: Duration) -> io::Result<Vec<(u32, Vec<u8>)>> {
        self.wait_until(timeout, |s| {
            s.iter().filter(|s| !s.payload.is_empty()).count() >= n
        })?;
        Ok(self.data())
    }
}

/// `(seq, payload)` of the segments that carry data.
pub fn data_of(segments: &[Segment]) -> Vec<(u32, Vec<u8>)> {
    segments
        .iter()
        .filter(|s| !s.payload.is_empty())
        .map(|s| (s.seq, s.payload.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3 example bytes: the one's-complement sum is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data, 0), !0xddf2u16);
        // Odd length: the last byte is the high half of a word.
        assert_eq!(checksum(&[0x01], 0), !0x0100u16);
    }

    #[test]
    fn built_frame_parses_back_with_valid_checksums() {
        let src = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 40011);
        let dst = SocketAddrV4::new(Ipv4Addr::new(172, 22, 1, 110), 25);
        let f = build_frame(
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            src,
            dst,
            7,
            0xffff_fffe,
            0x1234_5678,
            flags::PSH | flags::ACK,
            b"HEL",
        );
        assert_eq!(f.len(), 14 + 20 + 20 + 3);
        let s = parse_frame(&f, src, dst).expect("parses");
        assert_eq!(
            (s.seq, s.ack, s.flags, s.ttl, s.payload.as_slice()),
            (0xffff_fffe, 0x1234_5678, 0x18, 64, &b"HEL"[..])
        );
        assert!(s.checksums_ok);
        assert_eq!(s.seq_len(), 3);
        // The other direction and other ports are not this flow.
        assert!(parse_frame(&f, dst, src).is_none());
        let other = SocketAddrV4::new(*dst.ip(), 26);
        assert!(parse_frame(&f, src, other).is_none());
        // A flipped payload bit is caught by the TCP checksum.
        let mut bad = f.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(!parse_frame(&bad, src, dst).expect("parses").checksums_ok);
        // Truncated and non-IPv4 frames are refused.
        assert!(parse_frame(&f[..50], src, dst).is_none());
        let mut arp = f;
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(parse_frame(&arp, src, dst).is_none());
    }

    #[test]
    fn sequence_comparison_wraps() {
        assert!(seq_after(1, 0));
        assert!(seq_after(2, 0xffff_fff0));
        assert!(!seq_after(0xffff_fff0, 2));
        assert!(!seq_after(5, 5));
    }
}
