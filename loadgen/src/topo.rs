//! The seed lab (`spec/seed-scenario.md` §1.1) in network namespaces, in the three
//! variants `compare` needs: mailguard in the firewall namespace, the Linux kernel as the
//! firewall (nftables + conntrack + static NAT + ACL 101, `nft/seed-firewall.nft`), and
//! plain kernel forwarding.
//!
//! Names, interfaces and addresses are those of `dataplane::lab` (c0/i0/i1/e20/e21/s0/s2/
//! s5/br0/m0/h0, namespaces `mg<id>-client|isp|fw|sw|mail|host5`), so results from both
//! harnesses describe the same network. This copy exists because `loadgen` must build and
//! test on its own while `dataplane` is being written; it adds only what the comparison
//! needs on top (client-side sysctls for high connection rates, the kernel-firewall
//! ruleset and timeouts, the plain-forwarding route).
//!
//! Everything is created inside namespaces the lab owns; `Drop` kills what runs in them
//! and deletes them, also after a failure half-way through `up` or an interrupted run.
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The seed ruleset for the kernel-firewall variant.
pub const SEED_NFT: &str = include_str!("../nft/seed-firewall.nft");

pub const CLIENT_IF: &str = "c0";
pub const FW_OUTSIDE: &str = "e20";
pub const FW_INSIDE: &str = "e21";

/// What sits in the firewall namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// mailguard: `e20`/`e21` up without addresses (mailguard owns ARP, addresses, NAT).
    Mailguard,
    /// Linux as the firewall: router addresses, NAT aliases, nftables seed ruleset,
    /// conntrack timeouts set to the seed's CBAC values.
    KernelFirewall,
    /// Linux as a plain router: no filtering, no NAT, no conntrack; the isp routes the
    /// inside subnet to the firewall, clients address inside hosts directly.
    Plain,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Mailguard => "mailguard",
            Variant::KernelFirewall => "kernel-firewall",
            Variant::Plain => "plain-forwarding",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TopoError {
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("bad lab id {0:?} (1–12 ASCII alphanumerics)")]
    BadId(String),
}

/// A lab id unique in this process and across concurrent processes (pid + counter).
pub fn unique_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}l{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs a command, returning stdout; a failure carries the command line and stderr.
pub fn run(args: &[&str]) -> Result<String, TopoError> {
    let command = args.join(" ");
    let Some((prog, rest)) = args.split_first() else {
        return Err(TopoError::Spawn {
            command,
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        });
    };
    let out = Command::new(prog)
        .args(rest)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| TopoError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(TopoError::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Namespace names of one lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub client: String,
    pub isp: String,
    pub fw: String,
    pub sw: String,
    pub mail: String,
    pub host5: String,
}

impl Names {
    pub fn for_id(id: &str) -> Self {
        let n = |r: &str| format!("mg{id}-{r}");
        Names {
            client: n("client"),
            isp: n("isp"),
            fw: n("fw"),
            sw: n("sw"),
            mail: n("mail"),
            host5: n("host5"),
        }
    }
    pub fn all(&self) -> [&str; 6] {
        [
            &self.client,
            &self.isp,
            &self.fw,
            &self.sw,
            &self.mail,
            &self.host5,
        ]
    }
}

/// A built lab. Dropping it tears it down.
#[derive(Debug)]
pub struct Lab {
    pub id: String,
    pub variant: Variant,
    pub ns: Names,
    created: Vec<String>,
    children: Vec<Child>,
}

impl Lab {
    pub fn up(id: &str, variant: Variant) -> Result<Lab, TopoError> {
        if id.is_empty() || id.len() > 12 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(TopoError::BadId(id.into()));
        }
        let mut lab = Lab {
            id: id.into(),
            variant,
            ns: Names::for_id(id),
            created: Vec::new(),
            children: Vec::new(),
        };
        lab.build()?;
        Ok(lab)
    }

    /// Runs `cmd` inside namespace `ns`.
    pub fn exec(&self, ns: &str, cmd: &[&str]) -> Result<String, TopoError> {
        let mut v = vec!["ip", "netns", "exec", ns];
        v.extend_from_slice(cmd);
        run(&v)
    }

    /// Starts `cmd` inside `ns` (stdout/stderr to the given files or null); killed on drop.
    pub fn spawn(
        &mut self,
        ns: &str,
        cmd: &[&str],
        log: Option<&std::path::Path>,
    ) -> Result<&mut Child, TopoError> {
        let mut v = vec!["ip", "netns", "exec", ns];
        v.extend_from_slice(cmd);
        let command = v.join(" ");
        let (out, err) = match log {
            Some(p) => {
                let f = std::fs::File::create(p).map_err(|source| TopoError::Spawn {
                    command: command.clone(),
                    source,
                })?;
                let g = f.try_clone().map_err(|source| TopoError::Spawn {
                    command: command.clone(),
                    source,
                })?;
                (Stdio::from(f), Stdio::from(g))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let child = Command::new(v[0])
            .args(&v[1..])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| TopoError::Spawn { command, source })?;
        self.children.push(child);
        let last = self.children.len() - 1;
        Ok(&mut self.children[last])
    }

    fn sysctl(&self, ns: &str, kv: &str) -> Result<(), TopoError> {
        self.exec(ns, &["sysctl", "-qw", kv]).map(|_| ())
    }

    fn link_up(&self, ns: &str, dev: &str) -> Result<(), TopoError> {
        self.exec(ns, &["ip", "link", "set", dev, "multicast", "off", "up"])
            .map(|_| ())
    }

    fn addr(&self, ns: &str, cidr: &str, dev: &str) -> Result<(), TopoError> {
        self.exec(ns, &["ip", "addr", "add", cidr, "dev", dev])
            .map(|_| ())
    }

    fn build(&mut self) -> Result<(), TopoError> {
        let ns = self.ns.clone();
        for name in ns.all() {
            run(&["ip", "netns", "add", name])?;
            self.created.push(name.to_string());
            self.sysctl(name, "net.ipv6.conf.all.disable_ipv6=1")?;
            self.sysctl(name, "net.ipv6.conf.default.disable_ipv6=1")?;
            self.link_up(name, "lo")?;
        }
        let links = [
            (&ns.client, CLIENT_IF, &ns.isp, "i0"),
            (&ns.isp, "i1", &ns.fw, FW_OUTSIDE),
            (&ns.fw, FW_INSIDE, &ns.sw, "s0"),
            (&ns.sw, "s2", &ns.mail, "m0"),
            (&ns.sw, "s5", &ns.host5, "h0"),
        ];
        for (a, a_if, b, b_if) in links {
            self.exec(
                a,
                &[
                    "ip", "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b,
                ],
            )?;
            for (n, d) in [(a, a_if), (b, b_if)] {
                self.exec(
                    n,
                    &[
                        "ethtool", "-K", d, "rx", "off", "tx", "off", "tso", "off", "gso", "off",
                        "gro", "off",
                    ],
                )?;
            }
        }
        self.exec(
            &ns.sw,
            &[
                "ip",
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "stp_state",
                "0",
                "mcast_snooping",
                "0",
            ],
        )?;
        for port in ["s0", "s2", "s5"] {
            self.exec(&ns.sw, &["ip", "link", "set", port, "master", "br0"])?;
            self.link_up(&ns.sw, port)?;
        }
        self.link_up(&ns.sw, "br0")?;

        self.addr(&ns.client, "198.51.100.7/24", CLIENT_IF)?;
        self.addr(&ns.client, "198.51.100.8/24", CLIENT_IF)?;
        self.addr(&ns.client, "203.0.113.9/32", "lo")?;
        self.addr(&ns.client, "192.0.2.53/32", "lo")?;
        self.link_up(&ns.client, CLIENT_IF)?;
        self.exec(
            &ns.client,
            &["ip", "route", "add", "default", "via", "198.51.100.1"],
        )?;

        self.addr(&ns.isp, "198.51.100.1/24", "i0")?;
        self.addr(&ns.isp, "172.22.1.1/24", "i1")?;
        self.link_up(&ns.isp, "i0")?;
        self.link_up(&ns.isp, "i1")?;
        for host in ["203.0.113.9/32", "192.0.2.53/32"] {
            self.exec(
                &ns.isp,
                &["ip", "route", "add", host, "via", "198.51.100.7"],
            )?;
        }
        self.sysctl(&ns.isp, "net.ipv4.ip_forward=1")?;

        let routed = self.variant != Variant::Mailguard;
        if routed {
            self.addr(&ns.fw, "172.22.1.16/24", FW_OUTSIDE)?;
            self.addr(&ns.fw, "10.10.10.1/24", FW_INSIDE)?;
            self.sysctl(&ns.fw, "net.ipv4.ip_forward=1")?;
        }
        self.link_up(&ns.fw, FW_OUTSIDE)?;
        self.link_up(&ns.fw, FW_INSIDE)?;
        if routed {
            self.exec(
                &ns.fw,
                &["ip", "route", "add", "default", "via", "172.22.1.1"],
            )?;
        }
        for (name, ifn, addr) in [
            (&ns.mail, "m0", "10.10.10.2/24"),
            (&ns.host5, "h0", "10.10.10.5/24"),
        ] {
            self.addr(name, addr, ifn)?;
            self.link_up(name, ifn)?;
            self.exec(
                name,
                &["ip", "route", "add", "default", "via", "10.10.10.1"],
            )?;
        }
        // Connection-heavy clients: reuse TIME_WAIT ports for new outgoing connections and
        // use the whole port range (per-namespace sysctls).
        for name in [&ns.client, &ns.host5] {
            self.sysctl(name, "net.ipv4.tcp_tw_reuse=1")?;
            self.sysctl(name, "net.ipv4.ip_local_port_range=1024 65535")?;
        }
        match self.variant {
            Variant::Mailguard => {}
            Variant::KernelFirewall => self.kernel_firewall()?,
            Variant::Plain => {
                self.exec(
                    &ns.isp,
                    &["ip", "route", "add", "10.10.10.0/24", "via", "172.22.1.16"],
                )?;
            }
        }
        Ok(())
    }

    fn kernel_firewall(&self) -> Result<(), TopoError> {
        let fw = self.ns.fw.clone();
        // Static translations answer ARP like the router's NAT aliases.
        self.addr(&fw, "172.22.1.110/32", FW_OUTSIDE)?;
        self.addr(&fw, "172.22.1.111/32", FW_OUTSIDE)?;
        let path = std::env::temp_dir().join(format!("loadgen-seed-{}.nft", self.id));
        std::fs::write(&path, SEED_NFT).map_err(|source| TopoError::Spawn {
            command: "write ruleset".into(),
            source,
        })?;
        let p = path.to_string_lossy().into_owned();
        let r = self.exec(&fw, &["nft", "-f", &p]);
        let _ = std::fs::remove_file(&path);
        r?;
        // Conntrack timeouts = the seed's CBAC timeouts (cbac-sessions.md §6).
        for kv in [
            "net.netfilter.nf_conntrack_tcp_timeout_syn_sent=30",
            "net.netfilter.nf_conntrack_tcp_timeout_syn_recv=30",
            "net.netfilter.nf_conntrack_tcp_timeout_established=3600",
            "net.netfilter.nf_conntrack_tcp_timeout_fin_wait=5",
            "net.netfilter.nf_conntrack_tcp_timeout_close_wait=5",
            "net.netfilter.nf_conntrack_tcp_timeout_last_ack=5",
            "net.netfilter.nf_conntrack_tcp_timeout_time_wait=5",
            "net.netfilter.nf_conntrack_tcp_timeout_close=5",
            "net.netfilter.nf_conntrack_udp_timeout=30",
            "net.netfilter.nf_conntrack_udp_timeout_stream=30",
            "net.netfilter.nf_conntrack_icmp_timeout=10",
        ] {
            self.sysctl(&fw, kv)?;
        }
        Ok(())
    }

    /// Where SMTP clients connect: the static translation, or the server itself when the
    /// variant does no NAT.
    pub fn smtp_target(&self) -> std::net::SocketAddrV4 {
        let ip = if self.variant == Variant::Plain {
            [10, 10, 10, 2]
        } else {
            [172, 22, 1, 110]
        };
        std::net::SocketAddrV4::new(ip.into(), 25)
    }

    /// Tears the lab down now (also done by Drop).
    pub fn down(&mut self) {
        for mut c in self.children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        for name in self.created.drain(..).rev() {
            if let Ok(pids) = run(&["ip", "netns", "pids", &name]) {
                for pid in pids.split_whitespace() {
                    if pid.parse::<u32>().is_ok_and(|p| p != std::process::id()) {
                        let _ = run(&["kill", "-9", pid]);
                    }
                }
            }
            let _ = run(&["ip", "netns", "del", &name]);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.down();
    }
}

/// Two namespaces joined by one veth pair (`a` ↔ `b`), for tests of raw frames.
#[derive(Debug)]
pub struct VethPair {
    pub ns_a: String,
    pub ns_b: String,
    pub if_a: String,
    pub if_b: String,
    created: Vec<String>,
}

impl VethPair {
    pub fn up(id: &str) -> Result<VethPair, TopoError> {
        let mut p = VethPair {
            ns_a: format!("lg{id}-a"),
            ns_b: format!("lg{id}-b"),
            if_a: "va".into(),
            if_b: "vb".into(),
            created: Vec::new(),
        };
        for n in [p.ns_a.clone(), p.ns_b.clone()] {
            run(&["ip", "netns", "add", &n])?;
            p.created.push(n.clone());
            run(&[
                "ip",
                "netns",
                "exec",
                &n,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ])?;
            run(&[
                "ip",
                "netns",
                "exec",
                &n,
                "sysctl",
                "-qw",
                "net.ipv6.conf.default.disable_ipv6=1",
            ])?;
        }
        run(&[
            "ip", "netns", "exec", &p.ns_a, "ip", "link", "add", &p.if_a, "type", "veth", "peer",
            "name", &p.if_b, "netns", &p.ns_b,
        ])?;
        for (n, d) in [(&p.ns_a, &p.if_a), (&p.ns_b, &p.if_b)] {
            run(&[
                "ip", "netns", "exec", n, "ethtool", "-K", d, "rx", "off", "tx", "off", "tso",
                "off", "gso", "off", "gro", "off",
            ])?;
            run(&[
                "ip",
                "netns",
                "exec",
                n,
                "ip",
                "link",
                "set",
                d,
                "multicast",
                "off",
                "up",
            ])?;
        }
        Ok(p)
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for n in self.created.drain(..).rev() {
            let _ = run(&["ip", "netns", "del", &n]);
        }
    }
}

/// Is `name` a namespace made by this tool (`mg<pid>l<n>-…` labs, `lg<pid>t<n>-…` veth
/// pairs) whose process is gone (`alive(pid)` false)?
pub fn is_stale(name: &str, alive: impl Fn(u32) -> bool) -> bool {
    let Some(rest) = name.strip_prefix("mg").or_else(|| name.strip_prefix("lg")) else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let tagged = matches!(rest.as_bytes().get(digits), Some(b'l') | Some(b't'));
    tagged && rest[..digits].parse::<u32>().is_ok_and(|p| !alive(p))
}

/// Namespaces left behind by killed (SIGKILL) runs of this tool.
pub fn stale_namespaces() -> Vec<String> {
    let Ok(list) = run(&["ip", "netns", "list"]) else {
        return Vec::new();
    };
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| is_stale(n, |p| std::path::Path::new(&format!("/proc/{p}")).exists()))
        .map(str::to_string)
        .collect()
}

/// Deletes the namespaces of `stale_namespaces`; returns their names.
pub fn clean_stale() -> Vec<String> {
    let v = stale_namespaces();
    for n in &v {
        if let Ok(pids) = run(&["ip", "netns", "pids", n]) {
            for pid in pids.split_whitespace() {
                let _ = run(&["kill", "-9", pid]);
            }
        }
        let _ = run(&["ip", "netns", "del", n]);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        let n = Names::for_id("42l0");
        assert_eq!(n.client, "mg42l0-client");
        assert_eq!(n.all().len(), 6);
        assert!(Lab::up("bad id!", Variant::Plain).is_err());
    }

    #[test]
    fn stale_namespace_names() {
        let alive = |p: u32| p == 7;
        assert!(is_stale("mg123l0-client", alive));
        assert!(is_stale("lg123t0-a", alive));
        assert!(!is_stale("mg7l0-client", alive), "owner alive");
        assert!(
            !is_stale("mg123x0-client", alive),
            "dataplane::lab's namespaces are not ours"
        );
        assert!(!is_stale("other", alive));
        assert!(!is_stale("mgl0-x", alive));
    }

    #[test]
    fn ruleset_touches_only_its_table() {
        let commands: Vec<&str> = SEED_NFT
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .collect();
        assert!(
            !commands.iter().any(|l| l.contains("flush")),
            "never flushes"
        );
        assert!(SEED_NFT.contains("delete table ip seed"));
        assert!(SEED_NFT.contains("dnat to 10.10.10.2"));
        assert!(SEED_NFT.contains("snat to 172.22.1.111"));
    }
}
