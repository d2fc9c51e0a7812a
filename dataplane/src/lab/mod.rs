//! The seed lab (`spec/seed-scenario.md` §1.1) in network namespaces.
//!
//! ```text
//!  mg<id>-client            mg<id>-isp                mg<id>-fw           mg<id>-sw         mg<id>-mail
//!  c0 198.51.100.7/24 ─── i0 198.51.100.1/24                                        ┌── s2 ─── m0 10.10.10.2/24
//!     198.51.100.8/24     i1 172.22.1.1/24 ──────── e20 (Ethernet2/0)                │         mg<id>-host5
//!  lo 203.0.113.9/32                                 e21 (Ethernet2/1) ─── s0 ─ br0 ─┴── s5 ─── h0 10.10.10.5/24
//!     192.0.2.53/32
//! ```
//!
//! Why namespaces and not containers: they cost nothing, need only `ip`, and a
//! thread can enter one ([`netns::enter`]) to open packet sockets there. The
//! firewall namespace's veths carry no addresses in the [`LabKind::Dataplane`]
//! variant (mailguard owns ARP and its addresses); [`LabKind::KernelRouter`]
//! gives them the router addresses so nftables can do the job for comparison.
//!
//! Everything is created *inside* the lab's namespaces (veth pairs are made
//! in one namespace with their peer in another), so deleting the namespaces
//! removes every link. IPv6 is disabled in every namespace before any link
//! exists (no ND/MLD noise), multicast is off on every link and the bridge
//! does no IGMP snooping (it would send IGMP reports itself), and
//! every veth has its offloads off (no GSO/GRO
//! super-frames, no partial checksums, no VLAN stripping). The [`Drop`] guard
//! kills every process left in the lab's namespaces and deletes them, also
//! for a lab that failed half-way through [`Lab::up`].

pub mod demo;
pub mod forwarder_check;
pub mod netns;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Which device sits in the firewall namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabKind {
    /// mailguard: `e20`/`e21` up with no addresses and no forwarding.
    Dataplane,
    /// The Linux kernel as the router/firewall: `e20` 172.22.1.16/24,
    /// `e21` 10.10.10.1/24, default via 172.22.1.1, `ip_forward=1` (the
    /// ruleset and the NAT aliases are the caller's).
    KernelRouter,
}

/// Errors building, using or tearing down the lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it wrote on stderr (trimmed).
        stderr: String,
    },
    /// A command could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// Entering a namespace failed.
    #[error("cannot enter network namespace {ns}: {source}")]
    Netns {
        /// Namespace name.
        ns: String,
        /// Why.
        source: std::io::Error,
    },
    /// A lab id must be 1–16 ASCII letters/digits.
    #[error("bad lab id {0:?} (1-16 ASCII letters or digits)")]
    BadId(String),
    /// The output of a command was not what was expected.
    #[error("unexpected output of `{command}`: {output}")]
    Parse {
        /// The command line.
        command: String,
        /// Its output.
        output: String,
    },
}

/// Namespace names of one lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabNamespaces {
    /// SMTP clients, web and DNS servers (Internet side).
    pub client: String,
    /// Upstream router.
    pub isp: String,
    /// The firewall.
    pub fw: String,
    /// The inside L2 segment (bridge `br0`).
    pub sw: String,
    /// Mail server 10.10.10.2.
    pub mail: String,
    /// Inside host 10.10.10.5.
    pub host5: String,
}

impl LabNamespaces {
    fn for_id(id: &str) -> Self {
        let n = |role: &str| format!("mg{id}-{role}");
        LabNamespaces {
            client: n("client"),
            isp: n("isp"),
            fw: n("fw"),
            sw: n("sw"),
            mail: n("mail"),
            host5: n("host5"),
        }
    }

    /// All namespaces, in creation order.
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

/// Interface names inside the lab (fixed: each namespace has its own).
pub mod ifname {
    /// Client side toward isp.
    pub const CLIENT: &str = "c0";
    /// isp toward client.
    pub const ISP_CLIENT: &str = "i0";
    /// isp toward the firewall.
    pub const ISP_FW: &str = "i1";
    /// Firewall outside (IOS `Ethernet2/0`).
    pub const FW_OUTSIDE: &str = "e20";
    /// Firewall inside (IOS `Ethernet2/1`).
    pub const FW_INSIDE: &str = "e21";
    /// Switch port toward the firewall.
    pub const SW_FW: &str = "s0";
    /// Switch port toward the mail server.
    pub const SW_MAIL: &str = "s2";
    /// Switch port toward host5.
    pub const SW_HOST5: &str = "s5";
    /// The switch's bridge.
    pub const SW_BRIDGE: &str = "br0";
    /// Mail server's interface.
    pub const MAIL: &str = "m0";
    /// host5's interface.
    pub const HOST5: &str = "h0";
}

/// MAC addresses of the interfaces the dataplane talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabMacs {
    /// fw `e20` (Ethernet2/0).
    pub fw_outside: [u8; 6],
    /// fw `e21` (Ethernet2/1).
    pub fw_inside: [u8; 6],
    /// isp `i1` (172.22.1.1, the outside gateway).
    pub isp_fw: [u8; 6],
    /// mail `m0`.
    pub mail: [u8; 6],
    /// host5 `h0`.
    pub host5: [u8; 6],
    /// client `c0`.
    pub client: [u8; 6],
}

/// A built lab. Dropping it tears everything down.
#[derive(Debug)]
pub struct Lab {
    id: String,
    kind: LabKind,
    /// Namespace names.
    pub ns: LabNamespaces,
    /// MAC addresses (known once `up` succeeded).
    pub macs: LabMacs,
    created: Vec<String>,
    children: Vec<Child>,
}

/// A fresh lab id: the pid and a per-process counter (unique per run).
pub fn unique_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn render(args: &[&str]) -> String {
    args.join(" ")
}

/// Run a command in the current namespace; stdout on success.
pub fn run(args: &[&str]) -> Result<String, LabError> {
    let command = render(args);
    let (prog, rest) = args.split_first().ok_or_else(|| LabError::Spawn {
        command: command.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
    })?;
    let out = Command::new(prog)
        .args(rest)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(LabError::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ns_args<'a>(ns: &'a str, cmd: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(cmd);
    v
}

fn parse_mac(command: &str, output: &str) -> Result<[u8; 6], LabError> {
    let bad = || LabError::Parse {
        command: command.to_string(),
        output: output.trim().to_string(),
    };
    let text = output
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .ok_or_else(bad)?;
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next().ok_or_else(bad)?, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

impl Lab {
    /// Build the lab with id `id` (1–16 ASCII alphanumerics; see [`unique_id`]).
    pub fn up(id: &str, kind: LabKind) -> Result<Lab, LabError> {
        if id.is_empty() || id.len() > 16 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(LabError::BadId(id.to_string()));
        }
        let mut lab = Lab {
            id: id.to_string(),
            kind,
            ns: LabNamespaces::for_id(id),
            macs: LabMacs {
                fw_outside: [0; 6],
                fw_inside: [0; 6],
                isp_fw: [0; 6],
                mail: [0; 6],
                host5: [0; 6],
                client: [0; 6],
            },
            created: Vec::new(),
            children: Vec::new(),
        };
        // On any error below, `lab` drops and removes what was made.
        lab.build()?;
        Ok(lab)
    }

    fn build(&mut self) -> Result<(), LabError> {
        use ifname::*;
        let ns = self.ns.clone();
        for name in ns.all() {
            run(&["ip", "netns", "add", name])?;
            self.created.push(name.to_string());
            for cmd in [
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ] {
                self.exec(name, &["sysctl", "-qw", cmd])?;
            }
            self.exec(name, &["ip", "link", "set", "lo", "up"])?;
        }
        let links = [
            (&ns.client, CLIENT, &ns.isp, ISP_CLIENT),
            (&ns.isp, ISP_FW, &ns.fw, FW_OUTSIDE),
            (&ns.fw, FW_INSIDE, &ns.sw, SW_FW),
            (&ns.sw, SW_MAIL, &ns.mail, MAIL),
            (&ns.sw, SW_HOST5, &ns.host5, HOST5),
        ];
        for (a, a_if, b, b_if) in links {
            self.exec(
                a,
                &[
                    "ip", "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b,
                ],
            )?;
            self.offloads_off(a, a_if)?;
            self.offloads_off(b, b_if)?;
        }
        // Inside L2 segment.
        self.exec(
            &ns.sw,
            &[
                "ip",
                "link",
                "add",
                SW_BRIDGE,
                "type",
                "bridge",
                "stp_state",
                "0",
                "mcast_snooping",
                "0",
            ],
        )?;
        for port in [SW_FW, SW_MAIL, SW_HOST5] {
            self.exec(&ns.sw, &["ip", "link", "set", port, "master", SW_BRIDGE])?;
            self.up_link(&ns.sw, port)?;
        }
        self.up_link(&ns.sw, SW_BRIDGE)?;
        // A plain switch: if br_netfilter is loaded, keep the bridge from
        // running iptables hooks on every frame (costly, and not a switch's
        // job). Without the module the keys do not exist: nothing to do.
        for key in [
            "net.bridge.bridge-nf-call-iptables=0",
            "net.bridge.bridge-nf-call-ip6tables=0",
            "net.bridge.bridge-nf-call-arptables=0",
        ] {
            let _ = self.exec(&ns.sw, &["sysctl", "-qw", key]);
        }

        // Client (Internet side).
        self.addr(&ns.client, "198.51.100.7/24", CLIENT)?;
        self.addr(&ns.client, "198.51.100.8/24", CLIENT)?;
        self.addr(&ns.client, "203.0.113.9/32", "lo")?;
        self.addr(&ns.client, "192.0.2.53/32", "lo")?;
        self.up_link(&ns.client, CLIENT)?;
        self.exec(
            &ns.client,
            &["ip", "route", "add", "default", "via", "198.51.100.1"],
        )?;

        // isp router.
        self.addr(&ns.isp, "198.51.100.1/24", ISP_CLIENT)?;
        self.addr(&ns.isp, "172.22.1.1/24", ISP_FW)?;
        self.up_link(&ns.isp, ISP_CLIENT)?;
        self.up_link(&ns.isp, ISP_FW)?;
        for host in ["203.0.113.9/32", "192.0.2.53/32"] {
            self.exec(
                &ns.isp,
                &["ip", "route", "add", host, "via", "198.51.100.7"],
            )?;
        }
        self.exec(&ns.isp, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;

        // Firewall.
        if self.kind == LabKind::KernelRouter {
            self.addr(&ns.fw, "172.22.1.16/24", FW_OUTSIDE)?;
            self.addr(&ns.fw, "10.10.10.1/24", FW_INSIDE)?;
            self.exec(&ns.fw, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        }
        self.up_link(&ns.fw, FW_OUTSIDE)?;
        self.up_link(&ns.fw, FW_INSIDE)?;
        if self.kind == LabKind::KernelRouter {
            // The seed's `ip route 0.0.0.0 0.0.0.0 172.22.1.1`.
            self.exec(
                &ns.fw,
                &["ip", "route", "add", "default", "via", "172.22.1.1"],
            )?;
        }

        // Inside hosts.
        for (name, ifn, addr) in [
            (&ns.mail, MAIL, "10.10.10.2/24"),
            (&ns.host5, HOST5, "10.10.10.5/24"),
        ] {
            self.addr(name, addr, ifn)?;
            self.up_link(name, ifn)?;
            self.exec(
                name,
                &["ip", "route", "add", "default", "via", "10.10.10.1"],
            )?;
        }

        self.macs = LabMacs {
            fw_outside: self.mac(&ns.fw, FW_OUTSIDE)?,
            fw_inside: self.mac(&ns.fw, FW_INSIDE)?,
            isp_fw: self.mac(&ns.isp, ISP_FW)?,
            mail: self.mac(&ns.mail, MAIL)?,
            host5: self.mac(&ns.host5, HOST5)?,
            client: self.mac(&ns.client, CLIENT)?,
        };
        Ok(())
    }

    fn offloads_off(&self, ns: &str, dev: &str) -> Result<(), LabError> {
        self.exec(
            ns,
            &[
                "ethtool", "-K", dev, "rx", "off", "tx", "off", "tso", "off", "gso", "off", "gro",
                "off", "rxvlan", "off", "txvlan", "off",
            ],
        )?;
        Ok(())
    }

    fn addr(&self, ns: &str, cidr: &str, dev: &str) -> Result<(), LabError> {
        self.exec(ns, &["ip", "addr", "add", cidr, "dev", dev])?;
        Ok(())
    }

    /// Bring `dev` up with multicast off: no IGMP reports (the bridge's own
    /// would otherwise reach the firewall), ARP still works (broadcast).
    fn up_link(&self, ns: &str, dev: &str) -> Result<(), LabError> {
        self.exec(ns, &["ip", "link", "set", dev, "multicast", "off", "up"])?;
        Ok(())
    }

    /// MAC address of `dev` in namespace `ns`.
    pub fn mac(&self, ns: &str, dev: &str) -> Result<[u8; 6], LabError> {
        let args = ns_args(ns, &["ip", "-o", "link", "show", "dev", dev]);
        let out = run(&args)?;
        parse_mac(&render(&args), &out)
    }

    /// The lab id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Which firewall variant this lab was built for.
    pub fn kind(&self) -> LabKind {
        self.kind
    }

    /// Run `cmd` in namespace `ns` and return its stdout; a non-zero exit is
    /// an error carrying the command and its stderr.
    pub fn exec(&self, ns: &str, cmd: &[&str]) -> Result<String, LabError> {
        run(&ns_args(ns, cmd))
    }

    /// Start `cmd` in namespace `ns` (stdin null, stdout/stderr piped). The
    /// child is killed when the lab is torn down; take its pipes from the
    /// returned handle.
    pub fn spawn(&mut self, ns: &str, cmd: &[&str]) -> Result<&mut Child, LabError> {
        self.spawn_with(ns, cmd, Stdio::piped(), Stdio::piped())
    }

    /// [`Lab::spawn`] with the child's stdout and stderr given (a log file,
    /// null): for long-running children whose output nobody reads as it
    /// comes, which a pipe would stall once full.
    pub fn spawn_with(
        &mut self,
        ns: &str,
        cmd: &[&str],
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<&mut Child, LabError> {
        let args = ns_args(ns, cmd);
        let child = Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|source| LabError::Spawn {
                command: render(&args),
                source,
            })?;
        self.children.push(child);
        let last = self.children.len() - 1;
        Ok(&mut self.children[last])
    }

    /// Tear the lab down now (also done on drop). Returns the first error;
    /// keeps going past errors so that as much as possible is removed.
    ///
    /// Stop packet workers first: a namespace lives on (with its veths)
    /// while a socket opened in it is open, even after its name is deleted.
    pub fn down(&mut self) -> Result<(), LabError> {
        let mut first = None;
        for mut c in self.children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        for name in self.created.drain(..).rev() {
            // Processes still living in the namespace (started by anyone
            // through this lab) would keep nothing alive but their own
            // sockets; kill them by pid so nothing keeps running.
            if let Ok(pids) = run(&["ip", "netns", "pids", &name]) {
                let me = std::process::id().to_string();
                for pid in pids.split_whitespace().filter(|p| *p != me) {
                    let _ = run(&["kill", "-9", pid]);
                }
            }
            if let Err(e) = run(&["ip", "netns", "del", &name]) {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.down();
    }
}

/// Names of existing namespaces that belong to lab `id`.
pub fn leftover_namespaces(id: &str) -> Result<Vec<String>, LabError> {
    let prefix = format!("mg{id}-");
    let out = run(&["ip", "netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_is_parsed_from_ip_link_output() {
        let out = "2: e20@if3: <BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state UP \\    link/ether 66:b7:04:3c:84:27 brd ff:ff:ff:ff:ff:ff";
        assert_eq!(
            parse_mac("ip", out).unwrap(),
            [0x66, 0xb7, 0x04, 0x3c, 0x84, 0x27]
        );
        assert!(matches!(
            parse_mac("ip", "no mac here"),
            Err(LabError::Parse { .. })
        ));
    }

    #[test]
    fn bad_ids_are_refused_before_anything_is_made() {
        for id in ["", "a-b", "12345678901234567", "x y"] {
            assert!(matches!(
                Lab::up(id, LabKind::Dataplane),
                Err(LabError::BadId(_))
            ));
        }
        assert_ne!(unique_id(), unique_id());
    }

    #[test]
    fn failed_command_reports_command_and_stderr() {
        match run(&["ip", "link", "show", "dev", "mg-no-such-dev"]) {
            Err(LabError::Command {
                command, stderr, ..
            }) => {
                assert!(command.contains("mg-no-such-dev"));
                assert!(!stderr.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn lab_up_builds_the_seed_topology_and_down_leaves_nothing() {
        let id = unique_id();
        let mut lab = Lab::up(&id, LabKind::Dataplane).unwrap();
        let ns = lab.ns.clone();
        // isp reaches the client and has the documented routes.
        lab.exec(&ns.isp, &["ping", "-c1", "-W2", "198.51.100.7"])
            .unwrap();
        let routes = lab.exec(&ns.isp, &["ip", "route"]).unwrap();
        assert!(routes.contains("203.0.113.9 via 198.51.100.7"), "{routes}");
        // Inside hosts share the L2 segment.
        lab.exec(&ns.mail, &["ping", "-c1", "-W2", "10.10.10.5"])
            .unwrap();
        // The firewall's ports have no addresses and IPv6 is off.
        let fw_addrs = lab
            .exec(
                &ns.fw,
                &["ip", "-o", "addr", "show", "dev", ifname::FW_OUTSIDE],
            )
            .unwrap();
        assert!(fw_addrs.trim().is_empty(), "{fw_addrs}");
        let v6 = lab
            .exec(&ns.fw, &["sysctl", "-n", "net.ipv6.conf.e21.disable_ipv6"])
            .unwrap();
        assert_eq!(v6.trim(), "1");
        let k = lab
            .exec(&ns.fw, &["ethtool", "-k", ifname::FW_INSIDE])
            .unwrap();
        assert!(k.contains("generic-receive-offload: off"), "{k}");
        assert!(k.contains("tx-checksumming: off"), "{k}");
        assert_ne!(lab.macs.fw_outside, [0; 6]);
        // A spawned process is killed on teardown.
        let child = lab.spawn(&ns.client, &["sleep", "60"]).unwrap();
        let pid = child.id();
        assert_eq!(leftover_namespaces(&id).unwrap().len(), 6);
        lab.down().unwrap();
        assert!(leftover_namespaces(&id).unwrap().is_empty());
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn kernel_router_variant_routes_client_to_mail() {
        let id = unique_id();
        let lab = Lab::up(&id, LabKind::KernelRouter).unwrap();
        // isp has no route to 10.10.10.0/24 (only NAT aliases reach inside),
        // so test the router from its own neighbours.
        lab.exec(&lab.ns.isp, &["ping", "-c1", "-W2", "172.22.1.16"])
            .unwrap();
        lab.exec(&lab.ns.mail, &["ping", "-c1", "-W2", "10.10.10.1"])
            .unwrap();
        drop(lab);
        assert!(leftover_namespaces(&id).unwrap().is_empty());
    }

    #[test]
    fn a_step_failing_half_way_leaves_nothing_behind() {
        let id = unique_id();
        // Occupy the mail namespace name: `ip netns add` fails at step 5,
        // after client, isp, fw and sw exist.
        let blocker = format!("mg{id}-mail");
        run(&["ip", "netns", "add", &blocker]).unwrap();
        let r = Lab::up(&id, LabKind::Dataplane);
        let left = leftover_namespaces(&id).unwrap();
        let _ = run(&["ip", "netns", "del", &blocker]);
        match r {
            Err(LabError::Command { command, .. }) => {
                assert!(command.contains(&blocker), "{command}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(left, vec![blocker]);
        assert!(leftover_namespaces(&id).unwrap().is_empty());
    }
}
