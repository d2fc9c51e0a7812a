//! Running the device under test: `mailguard run` inside a lab's firewall namespace,
//! waiting (bounded) until its control socket answers, and `mailguard show …` queries.
//! Every step has a deadline, so a mailguard that does not start or does not answer is a
//! clear error, never a hang.
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::topo::{Lab, FW_INSIDE, FW_OUTSIDE};

/// The seed configuration, embedded (the repo's fixture), used when no `--config` is given.
pub const SEED_CFG: &str = include_str!("../../fixtures/seed.cfg");

#[derive(Debug, thiserror::Error)]
pub enum MailguardError {
    #[error("mailguard binary {0} not found (build it with `cargo build --release -p dataplane`, or pass --mailguard PATH)")]
    NotFound(PathBuf),
    #[error("mailguard exited during start-up ({status}); its output:\n{log}")]
    Exited { status: String, log: String },
    #[error("mailguard did not answer on its control socket within {secs} s; its output:\n{log}")]
    NotReady { secs: u64, log: String },
    #[error("`{command}` failed: {detail}")]
    Show { command: String, detail: String },
    #[error("lab: {0}")]
    Lab(#[from] crate::topo::LabError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// A started mailguard (killed with the lab, or explicitly by `stop`).
#[derive(Debug)]
pub struct Mailguard {
    /// Process id (the `ip netns exec` → `taskset` → `mailguard` chain execs in place).
    pub pid: u32,
    pub binary: PathBuf,
    pub control: PathBuf,
    pub log: PathBuf,
    pub output: PathBuf,
    dir: PathBuf,
}

fn tail(path: &Path, max: usize) -> String {
    let t = std::fs::read_to_string(path).unwrap_or_default();
    let start = t.len().saturating_sub(max);
    let start = (start..t.len())
        .find(|&i| t.is_char_boundary(i))
        .unwrap_or(t.len());
    t[start..].to_string()
}

/// Runs a command with a deadline; returns stdout or an error with stderr.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut out = String::new();
                let mut err = String::new();
                if let Some(mut o) = child.stdout.take() {
                    let _ = o.read_to_string(&mut out);
                }
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return if status.success() {
                    Ok(out)
                } else {
                    Err(format!("{status}: {}", err.trim()))
                };
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {} s", timeout.as_secs()));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

impl Mailguard {
    /// Starts `binary run` in the lab's firewall namespace on `config_text`, pinned to
    /// `cpus` (taskset list) with `workers` workers, and waits up to `ready_within` for
    /// its control socket to answer `show ip inspect all`.
    pub fn start(
        lab: &mut Lab,
        binary: &Path,
        config_text: &str,
        workers: usize,
        cpus: &str,
        ready_within: Duration,
    ) -> Result<Mailguard, MailguardError> {
        let resolved = if binary.components().count() > 1 {
            binary.exists().then(|| binary.to_path_buf())
        } else {
            std::env::var_os("PATH").and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(binary))
                    .find(|c| c.exists())
            })
        };
        let Some(binary) = resolved else {
            return Err(MailguardError::NotFound(binary.to_path_buf()));
        };
        let dir = std::env::temp_dir().join(format!("loadgen-mg-{}", lab.id));
        std::fs::create_dir_all(&dir)?;
        let cfg = dir.join("running-config.cfg");
        std::fs::write(&cfg, config_text)?;
        let mut mg = Mailguard {
            pid: 0,
            binary: binary.clone(),
            control: dir.join("control.sock"),
            log: dir.join("mailguard.log"),
            output: dir.join("mailguard.out"),
            dir,
        };
        let bin = binary.to_string_lossy().into_owned();
        let cfg_s = cfg.to_string_lossy().into_owned();
        let ctl = mg.control.to_string_lossy().into_owned();
        let log = mg.log.to_string_lossy().into_owned();
        let workers_s = workers.max(1).to_string();
        let map_out = format!("Ethernet2/0={FW_OUTSIDE}");
        let map_in = format!("Ethernet2/1={FW_INSIDE}");
        let fw = lab.ns.fw.clone();
        let args = [
            "taskset",
            "-c",
            cpus,
            &bin,
            "run",
            "--config",
            &cfg_s,
            "--map",
            &map_out,
            "--map",
            &map_in,
            "--workers",
            &workers_s,
            "--cores",
            cpus,
            "--control",
            &ctl,
            "--log",
            &log,
        ];
        let child = lab.spawn(&fw, &args, Some(&mg.output))?;
        mg.pid = child.id();
        let deadline = Instant::now() + ready_within;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(MailguardError::Exited {
                    status: status.to_string(),
                    log: tail(&mg.output, 4000),
                });
            }
            if mg.control.exists() && mg.show(&["ip", "inspect", "all"], false).is_ok() {
                return Ok(mg);
            }
            if Instant::now() > deadline {
                return Err(MailguardError::NotReady {
                    secs: ready_within.as_secs(),
                    log: tail(&mg.output, 4000),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `mailguard show --control SOCK [--json] WORDS…` (5 s deadline).
    pub fn show(&self, words: &[&str], json: bool) -> Result<String, MailguardError> {
        let mut c = Command::new(&self.binary);
        c.arg("show").arg("--control").arg(&self.control);
        if json {
            c.arg("--json");
        }
        c.args(words);
        run_with_timeout(&mut c, Duration::from_secs(5)).map_err(|detail| MailguardError::Show {
            command: format!("mailguard show {}", words.join(" ")),
            detail,
        })
    }

    /// `mailguard configure "LINE"` (5 s deadline).
    pub fn configure(&self, line: &str) -> Result<String, MailguardError> {
        let mut c = Command::new(&self.binary);
        c.arg("configure")
            .arg("--control")
            .arg(&self.control)
            .arg(line);
        run_with_timeout(&mut c, Duration::from_secs(5)).map_err(|detail| MailguardError::Show {
            command: format!("mailguard configure {line:?}"),
            detail,
        })
    }

    /// The alert/audit log written so far.
    pub fn log_text(&self) -> String {
        let a = std::fs::read_to_string(&self.log).unwrap_or_default();
        let b = std::fs::read_to_string(&self.output).unwrap_or_default();
        if a.is_empty() {
            b
        } else {
            a
        }
    }
}

impl Drop for Mailguard {
    fn drop(&mut self) {
        // The process itself is killed by the lab; remove our scratch files.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_kills_a_silent_command() {
        let t = Instant::now();
        let r = run_with_timeout(Command::new("sleep").arg("5"), Duration::from_millis(200));
        assert!(r.unwrap_err().contains("no answer"));
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(
            run_with_timeout(Command::new("echo").arg("hi"), Duration::from_secs(2)).unwrap(),
            "hi\n"
        );
        assert!(run_with_timeout(&mut Command::new("false"), Duration::from_secs(2)).is_err());
    }

    #[test]
    fn embedded_seed_config_is_the_seed() {
        assert!(SEED_CFG.contains("ip nat inside source static 10.10.10.2 172.22.1.110"));
        assert!(SEED_CFG.contains("access-list 101 permit tcp any host 172.22.1.110 eq smtp"));
    }
}
