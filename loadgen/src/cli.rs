//! Command-line surface of `loadgen` (clap derive). Parsing and translation into engine
//! configurations only; the work is done by `run`, `responder`, `synflood`, `compare`,
//! `thresholds`.
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::engine::{EngineConfig, Load, Workload};
use crate::mix::Mix;
use crate::smtp_client::{message_body, SmtpPlan, MAX_RCPTS};

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    version,
    about = "Traffic generator and benchmark harness for mailguard"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Real SMTP sessions (banner, HELO/EHLO, MAIL, RCPT…, DATA, QUIT), verified reply by reply.
    Smtp(SmtpArgs),
    /// Plain TCP connections (handshake, small echo exchange, close), or UDP transactions.
    Tcp(TcpArgs),
    /// Local responder: SMTP server, TCP echo, UDP echo (for tests and labs).
    Serve(ServeArgs),
    /// Half-open SYN flood over raw AF_PACKET, optionally alongside SMTP sessions.
    Synflood(crate::synflood::SynfloodArgs),
    /// Drive a running mailguard through its half-open thresholds and check the alarms.
    Thresholds(crate::thresholds::ThresholdArgs),
    /// The same workloads through mailguard, the kernel firewall and plain forwarding.
    Compare(crate::compare::CompareArgs),
    /// Build a seed lab (kernel firewall or plain forwarding) with responders, hold it for
    /// a bounded time (or until interrupted), then tear it down.
    Lab(LabArgs),
}

#[derive(Debug, Args, Clone)]
pub struct LabArgs {
    /// kernel (nftables seed firewall), plain (forwarding only) or mailguard.
    #[arg(long, default_value = "kernel")]
    pub variant: String,
    /// The mailguard binary (variant mailguard).
    #[arg(long)]
    pub mailguard: Option<PathBuf>,
    /// CPU list for mailguard (taskset / --cores syntax).
    #[arg(long, default_value = "1")]
    pub dut_cpus: String,
    /// Seconds to hold the lab up.
    #[arg(long, default_value_t = 600.0)]
    pub duration: f64,
    /// CPU for the responders.
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Only delete namespaces left by killed loadgen runs, then exit.
    #[arg(long)]
    pub clean: bool,
}

/// Options shared by every generating subcommand.
#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// Server address (ADDR:PORT).
    #[arg(long)]
    pub target: SocketAddrV4,
    /// Source address(es) to bind, used round-robin (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub source: Vec<Ipv4Addr>,
    /// Sessions kept in flight (closed loop).
    #[arg(long, conflicts_with = "rate")]
    pub concurrency: Option<usize>,
    /// Sessions started per second (open loop).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: most sessions in flight (starts beyond it count as `no-slot`).
    #[arg(long, default_value_t = 10_000)]
    pub max_in_flight: usize,
    /// Stop after this many sessions.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop starting after this many seconds.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Per-session timeout in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Run inside this network namespace (ip netns name).
    #[arg(long)]
    pub netns: Option<String>,
    /// Pin an engine thread to each listed CPU (one engine per CPU).
    #[arg(long, value_delimiter = ',')]
    pub cpu: Vec<usize>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress line even on a terminal.
    #[arg(long)]
    pub quiet: bool,
}

impl LoadArgs {
    pub fn load(&self) -> Load {
        match (self.rate, self.concurrency) {
            (Some(r), _) => Load::Rate {
                per_s: r,
                max_in_flight: self.max_in_flight,
            },
            (None, Some(c)) => Load::Concurrency(c),
            (None, None) => Load::Concurrency(64),
        }
    }

    fn base(&self, workload: Workload, shared: Vec<Arc<[u8]>>, recv_size: usize) -> EngineConfig {
        EngineConfig {
            target: self.target,
            sources: self.source.clone(),
            load: self.load(),
            count: self.count,
            duration: self.duration.map(Duration::from_secs_f64),
            session_timeout: Duration::from_secs_f64(self.timeout.max(0.001)),
            shared,
            recv_size,
            workload,
        }
    }

    /// Outside a namespace the generator only talks to loopback: traffic goes only to
    /// addresses inside namespaces (labs) or to this host itself.
    pub fn check_scope(&self) -> Result<(), String> {
        if self.netns.is_none() && !self.target.ip().is_loopback() {
            return Err(format!(
                "target {} is outside any lab: give --netns NAME (a lab namespace) or use a loopback target",
                self.target
            ));
        }
        Ok(())
    }

    pub fn placement(&self) -> crate::run::Placement {
        crate::run::Placement {
            netns: self.netns.clone(),
            cpus: self.cpu.clone(),
            progress: !self.quiet && !self.json,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct SmtpArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Session mix, KIND=WEIGHT,… with kinds legal, pipelined, illegal, large.
    #[arg(long, default_value = "legal")]
    pub mix: String,
    /// Greet with EHLO instead of HELO (the seed's SMTP mode refuses EHLO).
    #[arg(long)]
    pub ehlo: bool,
    #[arg(long, default_value = "client.example")]
    pub helo_name: String,
    #[arg(long, default_value = "loadgen@client.example")]
    pub from: String,
    /// Recipient address(es) (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', default_value = "postmaster@mail.example")]
    pub rcpt: Vec<String>,
    /// RCPT commands per message (1…8, cycling through --rcpt).
    #[arg(long, default_value_t = 1)]
    pub rcpts: usize,
    /// Message size in bytes (headers + body, before the final ".").
    #[arg(long, default_value_t = 100)]
    pub body_size: usize,
    /// Message size of `large` sessions.
    #[arg(long, default_value_t = 1 << 20)]
    pub large_size: usize,
    /// The command `illegal` sessions send (must get a 5xx).
    #[arg(long, default_value = "XSHELL /bin/sh")]
    pub illegal_command: String,
}

impl SmtpArgs {
    pub fn engine_config(&self) -> Result<EngineConfig, String> {
        self.load.check_scope()?;
        let mix = Mix::parse(&self.mix).map_err(|e| e.to_string())?;
        if self.rcpt.is_empty() {
            return Err("--rcpt needs at least one address".into());
        }
        if !(1..=MAX_RCPTS).contains(&self.rcpts) {
            return Err(format!("--rcpts must be 1…{MAX_RCPTS}"));
        }
        for s in [&self.helo_name, &self.from, &self.illegal_command]
            .into_iter()
            .chain(self.rcpt.iter())
        {
            if s.contains(['\r', '\n']) {
                return Err(format!("{s:?} contains a line break"));
            }
        }
        let to = &self.rcpt[0];
        let shared: Vec<Arc<[u8]>> = vec![
            Arc::from(message_body(self.body_size, &self.from, to)),
            Arc::from(message_body(self.large_size, &self.from, to)),
        ];
        let plan = SmtpPlan {
            ehlo: self.ehlo,
            helo_name: self.helo_name.clone(),
            mail_from: self.from.clone(),
            rcpts: self.rcpt.clone(),
            illegal_command: self.illegal_command.clone(),
            body: 0,
            large_body: 1,
        };
        Ok(self.load.base(
            Workload::Smtp {
                plan,
                mix,
                rcpts: self.rcpts,
            },
            shared,
            4096,
        ))
    }
}

#[derive(Debug, Args, Clone)]
pub struct TcpArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// UDP transactions (datagram + echo) instead of TCP connections.
    #[arg(long)]
    pub udp: bool,
    /// Bytes sent (and echoed) per connection or transaction.
    #[arg(long, default_value_t = 64)]
    pub payload_size: usize,
}

impl TcpArgs {
    pub fn engine_config(&self) -> Result<EngineConfig, String> {
        self.load.check_scope()?;
        if self.payload_size == 0 || self.payload_size > 65_000 {
            return Err("--payload-size must be 1…65000".into());
        }
        let payload: Vec<u8> = (0..self.payload_size)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        let w = if self.udp {
            Workload::Udp
        } else {
            Workload::TcpEcho
        };
        Ok(self
            .load
            .base(w, vec![Arc::from(payload)], self.payload_size.max(2048)))
    }
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// SMTP server address.
    #[arg(long)]
    pub smtp: Option<SocketAddrV4>,
    /// TCP echo address.
    #[arg(long)]
    pub echo: Option<SocketAddrV4>,
    /// UDP echo address.
    #[arg(long)]
    pub udp: Option<SocketAddrV4>,
    #[arg(long, default_value_t = 8192)]
    pub max_connections: usize,
    #[arg(long, default_value = "mail.example")]
    pub hostname: String,
    #[arg(long)]
    pub netns: Option<String>,
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Serve this many seconds (default: until interrupted).
    #[arg(long)]
    pub duration: Option<f64>,
}

/// Path of the `mailguard` binary when not given: next to this executable, else on PATH.
pub fn default_mailguard() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("mailguard")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("mailguard"))
}
