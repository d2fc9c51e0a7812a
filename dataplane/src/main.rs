//! The `mailguard` binary: `run` the firewall, `check` a configuration, and
//! talk to a running one with IOS words (`show`, `debug`, `undebug`,
//! `configure`, `clear`) over its control socket; `lab` builds the seed
//! scenario in network namespaces.
//!
//! This file only parses arguments and dispatches: the engine
//! (`dataplane::engine`) runs the firewall, `dataplane::control` carries the
//! commands, `dataplane::lab` owns the namespaces.
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dataplane::config::check_report;
use dataplane::control::{self, ControlError};
use dataplane::engine::{self, ConfigSource, PortMap, RunOptions};
use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// Default control socket.
const DEFAULT_CONTROL: &str = "/run/mailguard.sock";

/// mailguard: a multi-core stateful firewall with an IOS-style configuration
/// and SMTP inspection.
#[derive(Debug, Parser)]
#[command(name = "mailguard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the firewall until SIGINT/SIGTERM (SIGHUP reloads the configuration).
    Run(RunArgs),
    /// Check a configuration file: every warning and error, exit 1 on errors.
    Check {
        /// Configuration file (`seed` for the embedded seed configuration).
        #[arg(long)]
        config: String,
    },
    /// `show ...` on the running firewall (`mailguard show ip inspect all`).
    Show {
        /// The words after `show`.
        #[arg(required = true)]
        words: Vec<String>,
        /// JSON instead of IOS text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        control: ControlArg,
    },
    /// `debug ip inspect CATEGORY`.
    Debug {
        /// The words after `debug`.
        #[arg(required = true)]
        words: Vec<String>,
        #[command(flatten)]
        control: ControlArg,
    },
    /// `undebug all` / `undebug ip inspect CATEGORY`.
    Undebug {
        /// The words after `undebug`.
        #[arg(required = true)]
        words: Vec<String>,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Apply one configuration line (`mailguard configure "ip inspect audit-trail"`).
    Configure {
        /// The line (several arguments are joined with spaces).
        #[arg(required = true)]
        line: Vec<String>,
        #[command(flatten)]
        control: ControlArg,
    },
    /// `clear ip inspect statistics` / `clear access-list counters [N]`.
    Clear {
        /// The words after `clear`.
        #[arg(required = true)]
        words: Vec<String>,
        #[command(flatten)]
        control: ControlArg,
    },
    /// The seed lab in network namespaces.
    Lab(LabArgs),
}

#[derive(Debug, Args)]
struct ControlArg {
    /// Control socket of the running firewall.
    #[arg(long = "control", default_value = DEFAULT_CONTROL)]
    path: PathBuf,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Configuration file, or `seed` for the embedded seed configuration.
    #[arg(long)]
    config: String,
    /// Bind an IOS interface to a host network device (repeat per port).
    #[arg(long = "map", value_name = "IOSNAME=LINUXIF", required = true, value_parser = engine::parse_map)]
    maps: Vec<PortMap>,
    /// Number of workers (one per core).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// Cores to pin the workers to (`2,3` or `2-3`); default: the last N cores.
    #[arg(long, value_parser = parse_cores)]
    cores: Option<CoreList>,
    /// Session-table size of each worker.
    #[arg(long, default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(16..=16_777_216))]
    sessions: u32,
    /// Control socket path.
    #[arg(long, default_value = DEFAULT_CONTROL)]
    control: PathBuf,
    /// Log file (appended to); default stderr.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Also send log messages as RFC 5424 syslog datagrams to HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    syslog: Option<String>,
    /// Serve Prometheus metrics on ADDR:PORT (`/metrics`).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<std::net::SocketAddr>,
}

/// A parsed `--cores` list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CoreList(Vec<usize>);

/// Parses `0,2,4-6`.
fn parse_cores(text: &str) -> Result<CoreList, String> {
    let mut cores = Vec::new();
    for part in text.split(',').map(str::trim) {
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n < 4096)
                .ok_or_else(|| format!("'{s}': not a core number"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("'{part}': empty range"));
                }
                cores.extend(a..=b);
            }
            None => cores.push(num(part)?),
        }
    }
    if cores.is_empty() {
        return Err("no cores given".into());
    }
    Ok(CoreList(cores))
}

#[derive(Debug, Args)]
struct LabArgs {
    /// What to do.
    action: LabAction,
    /// Lab id: namespaces are `mg<ID>-client`, `mg<ID>-fw`, ...
    #[arg(long, default_value = DEFAULT_LAB_ID)]
    id: String,
    /// Workers of the firewall.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// Configuration of the firewall (`seed` = the embedded seed configuration).
    #[arg(long, default_value = "seed")]
    config: String,
    /// Control socket of the lab's firewall.
    #[arg(long = "control", default_value = DEFAULT_CONTROL)]
    control: PathBuf,
}

/// Lab id when none is given.
const DEFAULT_LAB_ID: &str = "0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LabAction {
    /// Build the lab and start the firewall in it (in the background).
    Up,
    /// Stop the lab's firewall and remove its namespaces.
    Down,
    /// Build the lab, run the firewall and the seed scenario, tear down.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run(args) => run(args),
        Cmd::Check { config } => check(&config),
        Cmd::Show {
            words,
            json,
            control,
        } => remote(&control.path, &format!("show {}", words.join(" ")), json),
        Cmd::Debug { words, control } => {
            remote(&control.path, &format!("debug {}", words.join(" ")), false)
        }
        Cmd::Undebug { words, control } => remote(
            &control.path,
            &format!("undebug {}", words.join(" ")),
            false,
        ),
        Cmd::Configure { line, control } => remote(
            &control.path,
            &format!("configure {}", line.join(" ")),
            false,
        ),
        Cmd::Clear { words, control } => {
            remote(&control.path, &format!("clear {}", words.join(" ")), false)
        }
        Cmd::Lab(args) => lab(args),
    }
}

fn run(args: RunArgs) -> ExitCode {
    let opts = RunOptions {
        config: ConfigSource::from_arg(&args.config),
        maps: args.maps,
        workers: usize::from(args.workers),
        cores: args.cores.map(|c| c.0),
        sessions: args.sessions,
        control: args.control,
        log: args.log,
        syslog: args.syslog,
        metrics: args.metrics,
    };
    match engine::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailguard: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check(config: &str) -> ExitCode {
    let text = match ConfigSource::from_arg(config).read() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mailguard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (report, ok) = check_report(&text);
    print!("{report}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Sends one command line to the running firewall and prints the reply.
fn remote(socket: &Path, line: &str, json: bool) -> ExitCode {
    match control::request(socket, line, json) {
        Ok(reply) => {
            print!("{reply}");
            if !reply.is_empty() && !reply.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(ControlError::Remote(text)) => {
            eprintln!("{text}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("mailguard: {e}");
            ExitCode::from(2)
        }
    }
}

fn lab(args: LabArgs) -> ExitCode {
    match args.action {
        LabAction::Up => lab_up(&args),
        LabAction::Down => lab_down(&args.id),
        LabAction::Demo => {
            let opts = dataplane::lab::demo::DemoOptions {
                id: args.id.clone(),
                workers: args.workers,
                config: args.config.clone(),
                control: args.control.clone(),
            };
            let result = std::env::current_exe()
                .map_err(|e| format!("cannot find this program: {e}"))
                .and_then(|exe| {
                    dataplane::lab::demo::run_demo(&opts, &exe, &mut std::io::stdout().lock())
                        .map_err(|e| e.to_string())
                });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mailguard: lab demo failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Builds the lab and starts `mailguard run` in its firewall namespace,
/// detached; returns once the firewall answers on its control socket.
fn lab_up(args: &LabArgs) -> ExitCode {
    use dataplane::lab;
    let fail = |what: String| {
        eprintln!("mailguard: lab up: {what}");
        ExitCode::FAILURE
    };
    if control::request(&args.control, "show debugging", false).is_ok() {
        return fail(format!(
            "a firewall already answers on {}; stop it or use --control",
            args.control.display()
        ));
    }
    if let Err(e) = ConfigSource::from_arg(&args.config).read() {
        return fail(e.to_string());
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot find this program: {e}")),
    };
    let built = match lab::Lab::up(&args.id, lab::LabKind::Dataplane) {
        Ok(b) => b,
        Err(e) => return fail(e.to_string()),
    };
    let log = std::env::temp_dir().join(format!("mailguard-lab-{}.log", args.id));
    let sink = match std::fs::File::create(&log).and_then(|f| Ok((f.try_clone()?, f))) {
        Ok(s) => s,
        Err(e) => return fail(format!("{}: {e}", log.display())),
    };
    let outside = format!("Ethernet2/0={}", lab::ifname::FW_OUTSIDE);
    let inside = format!("Ethernet2/1={}", lab::ifname::FW_INSIDE);
    let spawned = std::process::Command::new("ip")
        .args(["netns", "exec", &built.ns.fw])
        .arg(&exe)
        .args([
            "run",
            "--config",
            &args.config,
            "--map",
            &outside,
            "--map",
            &inside,
        ])
        .args(["--workers", &args.workers.to_string()])
        .arg("--control")
        .arg(&args.control)
        .stdin(std::process::Stdio::null())
        .stdout(sink.0)
        .stderr(sink.1)
        // Its own process group: the terminal's Ctrl-C is not for it.
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start the firewall: {e}")),
    };
    let start = std::time::Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return fail(format!("the firewall exited ({status}):\n{text}"));
        }
        if control::request(&args.control, "show debugging", false).is_ok() {
            break;
        }
        if start.elapsed() > std::time::Duration::from_secs(15) {
            let _ = child.kill();
            let _ = child.wait();
            return fail("the firewall did not answer within 15 s".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    println!(
        "lab {} is up: namespaces {}",
        args.id,
        built.ns.all().join(" ")
    );
    println!(
        "firewall pid {} in {} (log {}), control socket {}",
        child.id(),
        built.ns.fw,
        log.display(),
        args.control.display()
    );
    println!(
        "try: ip netns exec {} ping -c1 198.51.100.7; mailguard show ip inspect session{}; mailguard lab down --id {}",
        built.ns.mail,
        if args.control == Path::new(DEFAULT_CONTROL) {
            String::new()
        } else {
            format!(" --control {}", args.control.display())
        },
        args.id
    );
    // Both outlive this command: `mailguard lab down` stops and removes them.
    std::mem::forget(built);
    drop(child);
    ExitCode::SUCCESS
}

/// Stops what runs in lab `id` (SIGTERM, then SIGKILL after 5 s) and
/// removes its namespaces.
fn lab_down(id: &str) -> ExitCode {
    use dataplane::lab;
    let names = match lab::leftover_namespaces(id) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("mailguard: lab down: {e}");
            return ExitCode::FAILURE;
        }
    };
    if names.is_empty() {
        eprintln!("mailguard: lab down: no lab with id {id}");
        return ExitCode::FAILURE;
    }
    let me = std::process::id().to_string();
    let pids = |name: &str| -> Vec<String> {
        lab::run(&["ip", "netns", "pids", name])
            .map(|out| {
                out.split_whitespace()
                    .filter(|p| *p != me)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    // A clean stop first: the firewall removes its control socket.
    for name in &names {
        for pid in pids(name) {
            let _ = lab::run(&["kill", "-TERM", &pid]);
        }
    }
    let start = std::time::Instant::now();
    while names.iter().any(|n| !pids(n).is_empty())
        && start.elapsed() < std::time::Duration::from_secs(5)
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut failed = false;
    for name in names.iter().rev() {
        for pid in pids(name) {
            let _ = lab::run(&["kill", "-9", &pid]);
        }
        if let Err(e) = lab::run(&["ip", "netns", "del", name]) {
            eprintln!("mailguard: lab down: {e}");
            failed = true;
        }
    }
    if failed {
        return ExitCode::FAILURE;
    }
    println!("lab {id} removed ({} namespaces)", names.len());
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mailguard").chain(args.iter().copied()))
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_arguments() {
        let cli = parse(&[
            "run",
            "--config",
            "seed",
            "--map",
            "Ethernet2/0=e20",
            "--map",
            "e2/1=e21",
            "--workers",
            "2",
            "--cores",
            "1,3-4",
            "--sessions",
            "4096",
            "--control",
            "/tmp/x.sock",
            "--log",
            "/tmp/mg.log",
            "--syslog",
            "127.0.0.1:514",
            "--metrics",
            "127.0.0.1:9100",
        ])
        .unwrap();
        let Cmd::Run(r) = cli.command else {
            panic!("not run")
        };
        assert_eq!(r.config, "seed");
        assert_eq!(r.maps.len(), 2);
        assert_eq!(r.maps[1].ios_name, "Ethernet2/1");
        assert_eq!(r.maps[1].linux_name, "e21");
        assert_eq!(r.workers, 2);
        assert_eq!(r.cores, Some(CoreList(vec![1, 3, 4])));
        assert_eq!(r.sessions, 4096);
        assert_eq!(r.control, PathBuf::from("/tmp/x.sock"));
        assert_eq!(r.metrics, Some("127.0.0.1:9100".parse().unwrap()));
        // Defaults.
        let cli = parse(&["run", "--config", "x.cfg", "--map", "Ethernet2/0=e20"]).unwrap();
        let Cmd::Run(r) = cli.command else {
            panic!("not run")
        };
        assert_eq!(r.workers, 1);
        assert_eq!(r.control, PathBuf::from(DEFAULT_CONTROL));
        assert!(r.cores.is_none() && r.log.is_none() && r.metrics.is_none());
    }

    #[test]
    fn run_rejects_bad_arguments() {
        assert!(
            parse(&["run", "--config", "seed"]).is_err(),
            "a --map is required"
        );
        assert!(parse(&["run", "--config", "seed", "--map", "nonsense"]).is_err());
        assert!(parse(&[
            "run",
            "--config",
            "seed",
            "--map",
            "e2/0=e20",
            "--workers",
            "0"
        ])
        .is_err());
        assert!(
            parse(&["run", "--config", "seed", "--map", "e2/0=e20", "--cores", "3-1"]).is_err()
        );
        assert!(parse(&[
            "run",
            "--config",
            "seed",
            "--map",
            "e2/0=e20",
            "--metrics",
            "nowhere"
        ])
        .is_err());
    }

    #[test]
    fn control_commands() {
        let cli = parse(&[
            "show",
            "ip",
            "inspect",
            "all",
            "--json",
            "--control",
            "/tmp/s",
        ])
        .unwrap();
        match cli.command {
            Cmd::Show {
                words,
                json,
                control,
            } => {
                assert_eq!(words.join(" "), "ip inspect all");
                assert!(json);
                assert_eq!(control.path, PathBuf::from("/tmp/s"));
            }
            other => panic!("{other:?}"),
        }
        let cli = parse(&["configure", "ip inspect name X smtp", "--control", "/tmp/c"]).unwrap();
        assert!(
            matches!(cli.command, Cmd::Configure { ref line, ref control } if line == &["ip inspect name X smtp"] && control.path == Path::new("/tmp/c"))
        );
        let cli = parse(&["undebug", "all"]).unwrap();
        assert!(matches!(cli.command, Cmd::Undebug { ref words, .. } if words == &["all"]));
        let cli = parse(&["clear", "ip", "inspect", "statistics"]).unwrap();
        assert!(matches!(cli.command, Cmd::Clear { ref words, .. } if words.len() == 3));
        assert!(parse(&["show"]).is_err());
        assert!(parse(&["check"]).is_err());
    }

    #[test]
    fn lab_commands() {
        let cli = parse(&["lab", "up", "--id", "t1"]).unwrap();
        let Cmd::Lab(l) = cli.command else {
            panic!("not lab")
        };
        assert_eq!(
            (l.action, l.id.as_str(), l.workers),
            (LabAction::Up, "t1", 1)
        );
        assert_eq!(
            (l.config.as_str(), l.control.as_path()),
            ("seed", Path::new(DEFAULT_CONTROL))
        );
        let cli = parse(&["lab", "demo", "--workers", "2"]).unwrap();
        let Cmd::Lab(l) = cli.command else {
            panic!("not lab")
        };
        assert_eq!(
            (l.action, l.id.as_str(), l.workers),
            (LabAction::Demo, DEFAULT_LAB_ID, 2)
        );
        assert!(parse(&["lab", "sideways"]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn core_list_parser_never_panics(text in "[0-9, -]{0,24}") {
            if let Ok(CoreList(cores)) = parse_cores(&text) {
                proptest::prop_assert!(!cores.is_empty() && cores.iter().all(|c| *c < 4096));
            }
        }
    }

    #[test]
    fn core_lists() {
        assert_eq!(parse_cores("0,2,4-6"), Ok(CoreList(vec![0, 2, 4, 5, 6])));
        assert!(parse_cores("").is_err());
        assert!(parse_cores("a").is_err());
        assert!(parse_cores("5-2").is_err());
        assert!(parse_cores("99999").is_err());
    }
}
