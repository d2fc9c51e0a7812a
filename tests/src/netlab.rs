//! The seed lab with the real `mailguard` binary in it: network namespaces
//! (`dataplane::lab`), the firewall started on the seed configuration (plus
//! extra lines) with N workers, and helpers to drive it over its control
//! socket and to run real clients and servers in the lab's namespaces.
//!
//! Everything is torn down on drop: the firewall gets SIGTERM (so it flushes
//! its log), then the lab kills whatever is left in its namespaces and
//! deletes them.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use dataplane::lab::{unique_id, Lab, LabKind};

/// The `mailguard` binary next to the test executable
/// (`target/<profile>/mailguard`), or `$MAILGUARD_BIN`.
pub fn mailguard_bin() -> PathBuf {
    if let Ok(p) = std::env::var("MAILGUARD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/mailguard
    exe.parent()
        .and_then(Path::parent)
        .map(|d| d.join("mailguard"))
        .expect("target directory")
}

/// Whether this machine can run namespace tests (root, `ip netns`).
pub fn can_run() -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    root && mailguard_bin().exists()
}

/// A running seed lab with mailguard in it.
pub struct FirewallLab {
    /// The namespaces.
    pub lab: Lab,
    firewall: Option<Child>,
    /// Control socket.
    pub control: PathBuf,
    /// Log file of the firewall.
    pub log: PathBuf,
    dir: PathBuf,
}

impl FirewallLab {
    /// Builds the lab and starts mailguard with `workers` workers on the seed
    /// configuration followed by `extra` lines.
    pub fn start(workers: usize, extra: &[&str]) -> FirewallLab {
        let id = unique_id();
        let dir = std::env::temp_dir().join(format!("mailguard-test-{id}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut config = dataplane::sim::SEED_CONFIG.replace("\nend\n", "\n");
        for line in extra {
            config.push_str(line);
            config.push('\n');
        }
        config.push_str("end\n");
        let cfg_path = dir.join("mailguard.cfg");
        std::fs::write(&cfg_path, config).expect("write config");
        let control = dir.join("control.sock");
        let log = dir.join("mailguard.log");
        let lab = Lab::up(&id, LabKind::Dataplane).expect("lab up");
        let bin = mailguard_bin();
        let workers_s = workers.to_string();
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &lab.ns.fw])
            .arg(&bin)
            .args(["run", "--config"])
            .arg(&cfg_path)
            .args([
                "--map",
                "Ethernet2/0=e20",
                "--map",
                "Ethernet2/1=e21",
                "--workers",
                &workers_s,
            ])
            .arg("--control")
            .arg(&control)
            .arg("--log")
            .arg(&log)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start mailguard");
        let me = FirewallLab {
            lab,
            firewall: Some(child),
            control,
            log,
            dir,
        };
        me.wait_ready();
        me
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.try_show("show ip inspect all").is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("mailguard did not answer on {}", self.control.display());
    }

    fn try_show(&self, line: &str) -> Result<String, String> {
        dataplane::control::request(&self.control, line, false).map_err(|e| e.to_string())
    }

    /// Runs an IOS command over the control socket (panics on error).
    pub fn cmd(&self, line: &str) -> String {
        self.try_show(line)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// Runs an IOS command and returns the error text, if any.
    pub fn cmd_result(&self, line: &str) -> Result<String, String> {
        self.try_show(line)
    }

    /// The firewall's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle` (the logger writes
    /// asynchronously); returns the log.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.log_text();
            if text.contains(needle) || Instant::now() >= deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a command in a namespace and returns (success, stdout+stderr).
    pub fn run(&self, ns: &str, cmd: &[&str]) -> (bool, String) {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", ns])
            .args(cmd)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("ip netns exec");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// Starts a background process in a namespace (killed with the lab).
    pub fn spawn(&mut self, ns: &str, cmd: &[&str]) {
        self.lab
            .spawn(ns, cmd)
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    }

    /// A scratch directory of this lab (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for FirewallLab {
    fn drop(&mut self) {
        if let Some(mut c) = self.firewall.take() {
            // SIGTERM first so the firewall flushes its log and exits cleanly.
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.lab.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
