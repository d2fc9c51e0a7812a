//! The IOS-style configuration: loading a running-config file atomically,
//! applying interactive commands line by line, and regenerating the
//! running-config (`config-and-nat.md` §1–§2, `cbac-sessions.md` §6, §9).
//!
//! A file is read top to bottom with the mode rules of §1.2: `interface X`
//! enters interface mode; `controller`, `voice-port`, `line`, `control-plane`
//! enter *ignored* sub-modes whose lines are each warned about; a line that is
//! not valid in the current sub-mode but valid globally leaves the sub-mode.
//! Every line is classified implement / accept / ignore+warn / error; a file
//! with any error loads nothing (decision 7). Interactive commands go through a
//! [`ConfigSession`], which keeps the current mode between lines and applies
//! each line all-or-nothing. Unique-prefix abbreviations (`int e2/0`) are
//! accepted in both, so that every line accepted interactively also reloads
//! from the running-config it is kept in.
//!
//! The pipeline never looks at this text model per packet: it uses
//! [`compiled::CompiledConfig`], built once per configuration change.

pub mod compiled;
pub mod error;
pub mod lexer;
pub mod model;
pub mod parse;
pub mod running;
pub mod secrets;

use std::collections::HashMap;

pub use compiled::CompiledConfig;
pub use error::{ConfigError, ErrorKind, LoadErrors, Warning, WarningKind};
pub use model::*;
pub use parse::Mode;

use lexer::{tokenize, Cursor, SyntaxError};
use parse::{global_command, interface_mode_command, LineError, Outcome, ParseOptions};
use secrets::mask_secrets;

impl Config {
    /// Loads a configuration file atomically: either every line is valid and
    /// the model is returned with the warnings, or every error is reported
    /// (with line and column) and nothing is loaded.
    pub fn load(text: &str) -> Result<(Config, Vec<Warning>), LoadErrors> {
        Loader::default().run(text)
    }

    /// Applies one interactive command in global mode (`mailguard configure
    /// "LINE"`). Returns the console message to print, if any. On error the
    /// configuration is unchanged. Use a [`ConfigSession`] to keep an
    /// `interface X` context across lines.
    pub fn apply_line(&mut self, line: &str) -> Result<Option<String>, ConfigError> {
        ConfigSession::new().apply_line(self, line)
    }

    /// The running-config text (`show running-config`), secrets masked.
    pub fn running_config(&self) -> String {
        running::running_config(self)
    }

    /// Warnings for interfaces that are not shut down but have no host
    /// network device bound to them (`config-and-nat.md` §1.3): their
    /// traffic is dropped. `is_bound` answers for a normalised IOS name.
    pub fn binding_warnings(&self, is_bound: impl Fn(&str) -> bool) -> Vec<String> {
        self.interfaces
            .iter()
            .filter(|i| !i.shutdown && !is_bound(&i.name))
            .map(|i| {
                format!(
                    "% Warning: interface {} is not bound to a network device; its traffic is dropped",
                    i.name
                )
            })
            .collect()
    }

    /// Precomputed lookups for the packet pipeline.
    pub fn compile(&self) -> CompiledConfig {
        CompiledConfig::new(self)
    }
}

/// What `mailguard check` prints for a file: every warning and error with
/// line (and column for errors), and a verdict line. The boolean is true when
/// the file would load.
pub fn check_report(text: &str) -> (String, bool) {
    let mut out = String::new();
    match Config::load(text) {
        Ok((cfg, warnings)) => {
            for w in &warnings {
                out.push_str(&w.to_string());
                out.push('\n');
            }
            out.push_str(&format!(
                "% Configuration OK: {} interface(s), {} inspection rule(s), {} access list(s), {} static translation(s), {} warning(s), 0 errors\n",
                cfg.interfaces.len(),
                cfg.rules.len(),
                cfg.access_lists.len(),
                cfg.static_nat.len(),
                warnings.len()
            ));
            (out, true)
        }
        Err(errors) => {
            // Errors and warnings interleaved in line order.
            let mut lines: Vec<(usize, u8, String)> = errors
                .errors
                .iter()
                .map(|e| (e.line, 0, e.to_string()))
                .chain(errors.warnings.iter().map(|w| (w.line, 1, w.to_string())))
                .collect();
            lines.sort_by_key(|l| (l.0, l.1));
            for (_, _, text) in lines {
                out.push_str(&text);
                out.push('\n');
            }
            out.push_str(&format!(
                "% Configuration rejected: {} error(s), {} warning(s); nothing would be loaded\n",
                errors.errors.len(),
                errors.warnings.len()
            ));
            (out, false)
        }
    }
}

/// Whether a trimmed line is one of the framing lines `show running-config`
/// prints around the configuration.
fn is_framing_line(trimmed: &str) -> bool {
    if trimmed == "Building configuration..." {
        return true;
    }
    let Some(rest) = trimmed.strip_prefix("Current configuration") else {
        return false;
    };
    let rest = rest.trim_start();
    let Some(rest) = rest.strip_prefix(':') else {
        return false;
    };
    let mut words = rest.split_whitespace();
    matches!(
        (words.next(), words.next(), words.next()),
        (Some(n), Some("bytes"), None) if n.bytes().all(|b| b.is_ascii_digit())
    )
}

/// The result of reading one non-comment line in some mode.
struct Step {
    outcome: Outcome,
    /// The mode the line was interpreted in (global after leaving a sub-mode).
    read_in: Mode,
}

/// Reads one line in `mode`: interface commands first, then global ones (as
/// IOS does when a config is pasted). Exact keywords are tried before
/// abbreviations, so that `ip route` in interface mode is the global command
/// and not an abbreviation of the interface command `ip route-cache`. Each
/// attempt works on a copy, so a failed attempt leaves nothing behind.
fn step(
    cfg: &mut Config,
    mode: Mode,
    raw: &str,
    abbreviations: bool,
    opts: ParseOptions,
) -> Result<Step, LineError> {
    let tokens = tokenize(raw);
    let end_column = raw.chars().count() + 1;
    let first_column = tokens.first().map_or(1, |t| t.column);
    let mut first_error: Option<LineError> = None;
    let passes: &[bool] = if abbreviations {
        &[false, true]
    } else {
        &[false]
    };
    for &abbreviate in passes {
        if let Mode::Interface(index) = mode {
            let mut trial = cfg.clone();
            let mut cur = Cursor::new(&tokens, end_column, abbreviate);
            match interface_mode_command(&mut trial, index, &mut cur) {
                Ok(Outcome::NotMine) => {}
                Ok(outcome) => {
                    *cfg = trial;
                    return Ok(Step {
                        outcome,
                        read_in: mode,
                    });
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let mut trial = cfg.clone();
        let mut cur = Cursor::new(&tokens, end_column, abbreviate);
        match global_command(&mut trial, &mut cur, opts) {
            Ok(Outcome::NotMine) => {}
            // An ignored global command (` logging synchronous` under `line`)
            // does not end an ignored sub-mode: only commands that do
            // something do.
            Ok(Outcome::Ignored) if mode == Mode::Ignored => {
                *cfg = trial;
                return Ok(Step {
                    outcome: Outcome::Ignored,
                    read_in: Mode::Ignored,
                });
            }
            Ok(outcome) => {
                *cfg = trial;
                return Ok(Step {
                    outcome,
                    read_in: Mode::Global,
                });
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    match mode {
        Mode::Ignored => Ok(Step {
            outcome: Outcome::Ignored,
            read_in: Mode::Ignored,
        }),
        Mode::Interface(_) => Err(SyntaxError::new(
            first_column,
            "not an interface or global configuration command",
        )
        .into()),
        Mode::Global => Err(SyntaxError::new(first_column, "unknown command").into()),
    }
}

/// The mode after a line read in `read_in` with `outcome`.
fn next_mode(read_in: Mode, outcome: &Outcome) -> Mode {
    match outcome {
        Outcome::EnterInterface(index) => Mode::Interface(*index),
        Outcome::EnterIgnored => Mode::Ignored,
        Outcome::Exit | Outcome::End => Mode::Global,
        _ => read_in,
    }
}

/// File loader state.
#[derive(Default)]
struct Loader {
    cfg: Config,
    mode: Option<Mode>,
    warnings: Vec<Warning>,
    errors: Vec<ConfigError>,
    /// `!` lines not yet placed in the layout.
    pending_separators: usize,
    /// Last `max-incomplete`/`one-minute` line (checked at the end).
    threshold_line: Option<(usize, String)>,
    /// Where each interface's access groups were last set.
    access_group_lines: HashMap<(String, bool), (usize, String)>,
}

impl Loader {
    fn run(mut self, text: &str) -> Result<(Config, Vec<Warning>), LoadErrors> {
        for (index, raw) in text.lines().enumerate() {
            self.line(index + 1, raw.trim_end_matches(['\r', ' ', '\t']));
        }
        self.flush_separators();
        self.final_checks();
        if self.errors.is_empty() {
            Ok((self.cfg, self.warnings))
        } else {
            Err(LoadErrors {
                errors: self.errors,
                warnings: self.warnings,
            })
        }
    }

    fn flush_separators(&mut self) {
        for _ in 0..self.pending_separators {
            self.cfg.layout.push(LayoutItem::Verbatim("!".to_string()));
        }
        self.pending_separators = 0;
    }

    fn place_section(&mut self, section: Section) {
        let last = self.cfg.layout.last();
        if last == Some(&LayoutItem::Section(section)) {
            // Separators inside a section are regenerated by its printer.
            self.pending_separators = 0;
            return;
        }
        self.flush_separators();
        if !self.cfg.layout.contains(&LayoutItem::Section(section)) {
            self.cfg.layout.push(LayoutItem::Section(section));
        }
    }

    fn place_verbatim(&mut self, text: String) {
        self.flush_separators();
        self.cfg.layout.push(LayoutItem::Verbatim(text));
    }

    fn line(&mut self, line_no: usize, raw: &str) {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() {
            return;
        }
        if trimmed.starts_with('!') {
            if trimmed == "!" {
                self.pending_separators += 1;
            }
            return;
        }
        if is_framing_line(trimmed) {
            return;
        }
        let masked = mask_secrets(raw);
        let text = masked.trim_start().to_string();
        let mode = self.mode.unwrap_or(Mode::Global);
        let groups_before = match mode {
            Mode::Interface(i) => Some(self.interface_groups(i)),
            _ => None,
        };
        let opts = ParseOptions {
            check_thresholds_now: false,
        };
        // Abbreviations are accepted in files too (IOS reads a pasted config
        // with the same parser), so every interactive line reloads.
        let step = match step(&mut self.cfg, mode, raw, true, opts) {
            Ok(step) => step,
            Err(e) => {
                self.errors.push(ConfigError {
                    line: line_no,
                    column: e.column,
                    text,
                    kind: e.kind,
                });
                return;
            }
        };
        if let (Mode::Interface(i), Some(before)) = (step.read_in, groups_before) {
            let after = self.interface_groups(i);
            let name = self.cfg.interfaces[i].name.clone();
            if before.0 != after.0 {
                self.access_group_lines
                    .insert((name.clone(), true), (line_no, text.clone()));
            }
            if before.1 != after.1 {
                self.access_group_lines
                    .insert((name, false), (line_no, text.clone()));
            }
        }
        if is_threshold_line(&text) {
            self.threshold_line = Some((line_no, text.clone()));
        }
        let warn = |kind| Warning {
            line: line_no,
            text: text.clone(),
            kind,
        };
        match &step.outcome {
            Outcome::Applied { section, warning } => {
                self.place_section(*section);
                if let Some(kind) = warning {
                    self.warnings.push(warn(kind.clone()));
                }
            }
            Outcome::EnterInterface(_) => self.place_section(Section::Interfaces),
            Outcome::Accepted | Outcome::Ignored | Outcome::Warned(_) | Outcome::EnterIgnored => {
                match &step.outcome {
                    Outcome::Accepted => {}
                    Outcome::Warned(kind) => self.warnings.push(warn(kind.clone())),
                    _ => self.warnings.push(warn(WarningKind::Ignored)),
                }
                match step.read_in {
                    Mode::Interface(i) => {
                        self.pending_separators = 0;
                        self.cfg.interfaces[i].extra_lines.push(text.clone());
                    }
                    _ => self.place_verbatim(masked.clone()),
                }
            }
            Outcome::Exit | Outcome::End | Outcome::NotMine => {}
        }
        self.mode = Some(next_mode(step.read_in, &step.outcome));
    }

    fn interface_groups(&self, index: usize) -> (Option<u16>, Option<u16>) {
        let i = &self.cfg.interfaces[index];
        (i.access_group_in, i.access_group_out)
    }

    fn final_checks(&mut self) {
        let g = &self.cfg.inspect;
        if g.max_incomplete_low > g.max_incomplete_high || g.one_minute_low > g.one_minute_high {
            let (line, text) = self.threshold_line.clone().unwrap_or((0, String::new()));
            let column = text.rfind(' ').map_or(1, |i| i + 2);
            self.errors.push(ConfigError {
                line,
                column,
                text,
                kind: ErrorKind::LowAboveHigh,
            });
        }
        let mut notes = Vec::new();
        for iface in &self.cfg.interfaces {
            for (inbound, group) in [
                (true, iface.access_group_in),
                (false, iface.access_group_out),
            ] {
                let Some(number) = group else { continue };
                let empty = self
                    .cfg
                    .access_lists
                    .get(&number)
                    .is_none_or(|l| l.entries.is_empty());
                if empty {
                    let (line, text) = self
                        .access_group_lines
                        .get(&(iface.name.clone(), inbound))
                        .cloned()
                        .unwrap_or((0, String::new()));
                    notes.push(Warning {
                        line,
                        text,
                        kind: WarningKind::Note(format!(
                            "access list {number} has no entries: ip access-group {number} {} on {} permits everything",
                            if inbound { "in" } else { "out" },
                            iface.name
                        )),
                    });
                }
            }
        }
        self.warnings.extend(notes);
        self.warnings.sort_by_key(|w| w.line);
        self.errors.sort_by_key(|e| e.line);
    }
}

fn is_threshold_line(text: &str) -> bool {
    let words: Vec<String> = text
        .split_whitespace()
        .take(4)
        .map(str::to_ascii_lowercase)
        .collect();
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        w.as_slice(),
        ["ip", "inspect", "max-incomplete" | "one-minute", ..]
            | ["no", "ip", "inspect", "max-incomplete" | "one-minute"]
    )
}

/// An interactive configuration session: the current mode between lines
/// (`interface X` then ` ip inspect NAME in`), abbreviations accepted, and
/// every line applied all-or-nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigSession {
    mode: Mode,
}

impl Default for ConfigSession {
    fn default() -> Self {
        ConfigSession::new()
    }
}

impl ConfigSession {
    /// A session in global configuration mode.
    pub fn new() -> Self {
        ConfigSession { mode: Mode::Global }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The IOS prompt for the current mode (`3640-123(config-if)#`).
    pub fn prompt(&self, cfg: &Config) -> String {
        let suffix = match self.mode {
            Mode::Global => "config",
            Mode::Interface(_) => "config-if",
            Mode::Ignored => "config-line",
        };
        format!("{}({suffix})#", cfg.hostname)
    }

    /// Applies one line. `Ok(Some(text))` carries a console message (warning);
    /// on error the configuration and the mode are unchanged.
    pub fn apply_line(
        &mut self,
        cfg: &mut Config,
        line: &str,
    ) -> Result<Option<String>, ConfigError> {
        let raw = line.trim_end_matches(['\r', '\n', ' ', '\t']);
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('!') || is_framing_line(trimmed) {
            return Ok(None);
        }
        let masked = mask_secrets(raw);
        let text = masked.trim_start().to_string();
        let mut candidate = cfg.clone();
        // An interface index stays valid only while the interface exists.
        let mode = match self.mode {
            Mode::Interface(i) if i >= candidate.interfaces.len() => Mode::Global,
            m => m,
        };
        let opts = ParseOptions {
            check_thresholds_now: true,
        };
        let step = step(&mut candidate, mode, raw, true, opts).map_err(|e| ConfigError {
            line: 1,
            column: e.column,
            text: text.clone(),
            kind: e.kind,
        })?;
        let warning = |kind: WarningKind| {
            Warning {
                line: 1,
                text: text.clone(),
                kind,
            }
            .console()
        };
        let mut message = None;
        match &step.outcome {
            Outcome::Applied {
                section,
                warning: w,
            } => {
                candidate.insert_section(*section);
                message = w.clone().map(warning);
                if let Mode::Interface(i) = step.read_in {
                    message = message.or_else(|| empty_group_note(&candidate, i).map(warning));
                }
            }
            Outcome::EnterInterface(_) => candidate.insert_section(Section::Interfaces),
            Outcome::Accepted | Outcome::Ignored | Outcome::Warned(_) | Outcome::EnterIgnored => {
                message = match &step.outcome {
                    Outcome::Accepted => None,
                    Outcome::Warned(kind) => Some(warning(kind.clone())),
                    _ => Some(warning(WarningKind::Ignored)),
                };
                match step.read_in {
                    Mode::Interface(i) => candidate.interfaces[i].extra_lines.push(text.clone()),
                    _ => candidate.layout.push(LayoutItem::Verbatim(masked.clone())),
                }
            }
            Outcome::Exit | Outcome::End | Outcome::NotMine => {}
        }
        self.mode = next_mode(step.read_in, &step.outcome);
        *cfg = candidate;
        Ok(message)
    }
}

fn empty_group_note(cfg: &Config, index: usize) -> Option<WarningKind> {
    let iface = &cfg.interfaces[index];
    for (dir, group) in [
        ("in", iface.access_group_in),
        ("out", iface.access_group_out),
    ] {
        if let Some(n) = group {
            if cfg
                .access_lists
                .get(&n)
                .is_none_or(|l| l.entries.is_empty())
            {
                return Some(WarningKind::Note(format!(
                    "access list {n} has no entries: ip access-group {n} {dir} on {} permits everything",
                    iface.name
                )));
            }
        }
    }
    None
}

impl Config {
    /// Places a model section in the layout at its IOS position if it is not
    /// there yet (interactive additions).
    fn insert_section(&mut self, section: Section) {
        if self.layout.contains(&LayoutItem::Section(section)) {
            return;
        }
        let position = self
            .layout
            .iter()
            .position(|item| matches!(item, LayoutItem::Section(s) if *s > section))
            .unwrap_or(self.layout.len());
        self.layout.insert(position, LayoutItem::Section(section));
    }
}

#[cfg(test)]
mod tests;
