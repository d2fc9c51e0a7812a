//! The seed lab (`spec/seed-scenario.md` §1.1) in network namespaces, in the three
//! variants `compare` needs: mailguard in the firewall namespace, the Linux kernel as the
//! firewall (nftables + conntrack + static NAT + ACL 101, `nft/seed-firewall.nft`), and
//! plain kernel forwarding.
//!
//! The namespaces, links and addresses are built by `dataplane::lab` (the same lab the
//! firewall's own tests and `mailguard lab` use), so results from both harnesses describe
//! the same network. This module adds only what the comparison needs on top: client-side
//! sysctls for high connection rates, the kernel-firewall ruleset and conntrack timeouts,
//! and the plain-forwarding route.
//!
//! Everything is created inside namespaces the lab owns; `Drop` kills what runs in them
//! and deletes them, also after a failure half-way through `up` or an interrupted run.
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub use dataplane::lab::{run, LabError, LabKind, LabNamespaces};

/// The seed ruleset for the kernel-firewall variant.
pub const SEED_NFT: &str = include_str!("../nft/seed-firewall.nft");

pub use dataplane::lab::ifname::{CLIENT as CLIENT_IF, FW_INSIDE, FW_OUTSIDE};

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

/// A lab id unique in this process and across concurrent processes (pid + counter).
/// The `l` tag tells [`is_stale`] which namespaces are this tool's.
pub fn unique_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}l{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A built lab. Dropping it tears it down.
#[derive(Debug)]
pub struct Lab {
    pub id: String,
    pub variant: Variant,
    /// Namespace names (`mg<id>-client|isp|fw|sw|mail|host5`).
    pub ns: LabNamespaces,
    lab: dataplane::lab::Lab,
}

impl Lab {
    /// Builds the seed lab for `variant` (`id`: 1–16 ASCII alphanumerics).
    pub fn up(id: &str, variant: Variant) -> Result<Lab, LabError> {
        let kind = match variant {
            Variant::Mailguard => LabKind::Dataplane,
            Variant::KernelFirewall | Variant::Plain => LabKind::KernelRouter,
        };
        let lab = dataplane::lab::Lab::up(id, kind)?;
        // From here on a failure drops `lab`, which removes what was made.
        let lab = Lab {
            id: id.into(),
            variant,
            ns: lab.ns.clone(),
            lab,
        };
        lab.for_load()?;
        Ok(lab)
    }

    /// Runs `cmd` inside namespace `ns`.
    pub fn exec(&self, ns: &str, cmd: &[&str]) -> Result<String, LabError> {
        self.lab.exec(ns, cmd)
    }

    /// Starts `cmd` inside `ns` (stdout/stderr to the given file, or null); killed on drop.
    pub fn spawn(
        &mut self,
        ns: &str,
        cmd: &[&str],
        log: Option<&std::path::Path>,
    ) -> Result<&mut Child, LabError> {
        let (out, err) = match log {
            Some(p) => {
                let file_error = |source| LabError::Spawn {
                    command: format!("create {}", p.display()),
                    source,
                };
                let f = std::fs::File::create(p).map_err(file_error)?;
                let g = f.try_clone().map_err(file_error)?;
                (Stdio::from(f), Stdio::from(g))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        self.lab.spawn_with(ns, cmd, out, err)
    }

    fn sysctl(&self, ns: &str, kv: &str) -> Result<(), LabError> {
        self.exec(ns, &["sysctl", "-qw", kv]).map(|_| ())
    }

    /// What the load tests need on top of the seed lab.
    fn for_load(&self) -> Result<(), LabError> {
        // Connection-heavy clients: reuse TIME_WAIT ports for new outgoing connections and
        // use the whole port range (per-namespace sysctls).
        for name in [&self.ns.client, &self.ns.host5] {
            self.sysctl(name, "net.ipv4.tcp_tw_reuse=1")?;
            self.sysctl(name, "net.ipv4.ip_local_port_range=1024 65535")?;
        }
        match self.variant {
            Variant::Mailguard => Ok(()),
            Variant::KernelFirewall => self.kernel_firewall(),
            Variant::Plain => self
                .exec(
                    &self.ns.isp,
                    &["ip", "route", "add", "10.10.10.0/24", "via", "172.22.1.16"],
                )
                .map(|_| ()),
        }
    }

    fn kernel_firewall(&self) -> Result<(), LabError> {
        let fw = self.ns.fw.clone();
        // Static translations answer ARP like the router's NAT aliases.
        for alias in ["172.22.1.110/32", "172.22.1.111/32"] {
            self.exec(&fw, &["ip", "addr", "add", alias, "dev", FW_OUTSIDE])?;
        }
        let path = std::env::temp_dir().join(format!("loadgen-seed-{}.nft", self.id));
        std::fs::write(&path, SEED_NFT).map_err(|source| LabError::Spawn {
            command: format!("write {}", path.display()),
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
        let _ = self.lab.down();
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
    pub fn up(id: &str) -> Result<VethPair, LabError> {
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
    fn bad_ids_are_refused() {
        assert!(matches!(
            Lab::up("bad id!", Variant::Plain),
            Err(LabError::BadId(_))
        ));
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
