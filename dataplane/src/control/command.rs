//! The control commands, parsed from IOS command words into a typed
//! [`Command`]. Keywords match case-insensitively by unique prefix, as on an
//! IOS router (`sh ip insp sess det` = `show ip inspect session detail`); an
//! unknown or ambiguous word gives the IOS error text
//! (`% Invalid input detected at '^' marker.` with the caret under the word,
//! `% Ambiguous command:  "…"`, `% Incomplete command.`).
//!
//! Grammar (`cbac-sessions.md` §11–12, `config-and-nat.md` §3.2/§4.6):
//! ```text
//! show ip inspect {all | config | interfaces | name NAME | session [detail] | statistics}
//! show ip nat translations [verbose]
//! show access-lists [NUMBER]
//! show interfaces [IFNAME]
//! show running-config | show debugging | show logging
//! debug ip inspect CATEGORY
//! {undebug | no debug} {all | ip inspect CATEGORY}
//! clear ip inspect statistics | clear access-list counters [NUMBER]
//! configure LINE            (one configuration line, applied line by line)
//! ```

use std::fmt;

use crate::logging::DebugCategory;

/// Longest accepted command line, in bytes.
pub const MAX_LINE: usize = 4_000;

/// A parsed control command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Show(ShowCommand),
    /// `debug ip inspect X` (`on`), `undebug ip inspect X` / `no debug ip inspect X`.
    Debug {
        category: DebugCategory,
        on: bool,
    },
    /// `undebug all` / `no debug all`.
    UndebugAll,
    /// `configure LINE`: the configuration line exactly as typed (trimmed).
    Configure(String),
    /// `clear ip inspect statistics`.
    ClearInspectStatistics,
    /// `clear access-list counters [N]`.
    ClearAccessListCounters(Option<u16>),
}

/// The `show` commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShowCommand {
    InspectAll,
    InspectConfig,
    InspectInterfaces,
    InspectName(String),
    InspectSessions {
        detail: bool,
    },
    InspectStatistics,
    NatTranslations {
        verbose: bool,
    },
    AccessLists(Option<u16>),
    Interfaces(Option<String>),
    /// `show ip virtual-reassembly [interface]`.
    VirtualReassembly(Option<String>),
    RunningConfig,
    Debugging,
    Logging,
}

/// Why a command line was refused, with the IOS wording.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `% Invalid input detected at '^' marker.`; `column` is the character
    /// position of the offending word in `line`.
    #[error("{}", invalid_text(.line, *.column))]
    Invalid { line: String, column: usize },
    /// `% Ambiguous command:  "<input up to the ambiguous word>"`.
    #[error("% Ambiguous command:  \"{input}\"")]
    Ambiguous { input: String },
    /// `% Incomplete command.`
    #[error("% Incomplete command.")]
    Incomplete,
    /// Longer than [`MAX_LINE`].
    #[error("% Command line too long ({len} bytes, max {max})")]
    TooLong { len: usize, max: usize },
}

fn invalid_text(line: &str, column: usize) -> String {
    format!(
        "{line}\n{}^\n% Invalid input detected at '^' marker.",
        " ".repeat(column)
    )
}

impl Command {
    /// Parses one command line.
    pub fn parse(line: &str) -> Result<Command, ParseError> {
        if line.len() > MAX_LINE {
            return Err(ParseError::TooLong {
                len: line.len(),
                max: MAX_LINE,
            });
        }
        let mut p = Words::new(line);
        let command = match p.keyword(&["show", "debug", "undebug", "no", "configure", "clear"])? {
            "show" => Command::Show(parse_show(&mut p)?),
            "debug" => parse_debug(&mut p, true)?,
            "undebug" => parse_debug(&mut p, false)?,
            "no" => {
                p.keyword(&["debug"])?;
                parse_debug(&mut p, false)?
            }
            "configure" => {
                let rest = p.rest().ok_or(ParseError::Incomplete)?;
                return Ok(Command::Configure(rest.to_string()));
            }
            _ => parse_clear(&mut p)?,
        };
        p.end()?;
        Ok(command)
    }

    /// The full IOS words of the command (`show ip inspect session detail`).
    pub fn canonical(&self) -> String {
        self.to_string()
    }

    /// Whether the command changes state (configuration, counters, debug).
    pub fn is_mutating(&self) -> bool {
        !matches!(self, Command::Show(_))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Show(s) => write!(f, "show {s}"),
            Command::Debug { category, on } => write!(
                f,
                "{}debug ip inspect {}",
                if *on { "" } else { "un" },
                category.word()
            ),
            Command::UndebugAll => f.write_str("undebug all"),
            Command::Configure(line) => write!(f, "configure {line}"),
            Command::ClearInspectStatistics => f.write_str("clear ip inspect statistics"),
            Command::ClearAccessListCounters(None) => f.write_str("clear access-list counters"),
            Command::ClearAccessListCounters(Some(n)) => {
                write!(f, "clear access-list counters {n}")
            }
        }
    }
}

impl fmt::Display for ShowCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShowCommand::InspectAll => f.write_str("ip inspect all"),
            ShowCommand::InspectConfig => f.write_str("ip inspect config"),
            ShowCommand::InspectInterfaces => f.write_str("ip inspect interfaces"),
            ShowCommand::InspectName(n) => write!(f, "ip inspect name {n}"),
            ShowCommand::InspectSessions { detail: false } => f.write_str("ip inspect session"),
            ShowCommand::InspectSessions { detail: true } => {
                f.write_str("ip inspect session detail")
            }
            ShowCommand::InspectStatistics => f.write_str("ip inspect statistics"),
            ShowCommand::NatTranslations { verbose: false } => f.write_str("ip nat translations"),
            ShowCommand::NatTranslations { verbose: true } => {
                f.write_str("ip nat translations verbose")
            }
            ShowCommand::AccessLists(None) => f.write_str("access-lists"),
            ShowCommand::AccessLists(Some(n)) => write!(f, "access-lists {n}"),
            ShowCommand::Interfaces(None) => f.write_str("interfaces"),
            ShowCommand::Interfaces(Some(i)) => write!(f, "interfaces {i}"),
            ShowCommand::VirtualReassembly(None) => f.write_str("ip virtual-reassembly"),
            ShowCommand::VirtualReassembly(Some(i)) => write!(f, "ip virtual-reassembly {i}"),
            ShowCommand::RunningConfig => f.write_str("running-config"),
            ShowCommand::Debugging => f.write_str("debugging"),
            ShowCommand::Logging => f.write_str("logging"),
        }
    }
}

fn parse_show(p: &mut Words<'_>) -> Result<ShowCommand, ParseError> {
    Ok(
        match p.keyword(&[
            "ip",
            "access-lists",
            "interfaces",
            "running-config",
            "debugging",
            "logging",
        ])? {
            "ip" => match p.keyword(&["inspect", "nat", "virtual-reassembly"])? {
                "inspect" => match p.keyword(&[
                    "all",
                    "config",
                    "interfaces",
                    "name",
                    "session",
                    "statistics",
                ])? {
                    "all" => ShowCommand::InspectAll,
                    "config" => ShowCommand::InspectConfig,
                    "interfaces" => ShowCommand::InspectInterfaces,
                    "name" => ShowCommand::InspectName(p.word()?.to_string()),
                    "session" => ShowCommand::InspectSessions {
                        detail: p.optional_keyword(&["detail"])?.is_some(),
                    },
                    _ => ShowCommand::InspectStatistics,
                },
                "virtual-reassembly" => ShowCommand::VirtualReassembly(interface_name(p)),
                _ => {
                    p.keyword(&["translations"])?;
                    ShowCommand::NatTranslations {
                        verbose: p.optional_keyword(&["verbose"])?.is_some(),
                    }
                }
            },
            "access-lists" => ShowCommand::AccessLists(p.optional_number()?),
            "interfaces" => ShowCommand::Interfaces(interface_name(p)),
            "running-config" => ShowCommand::RunningConfig,
            "debugging" => ShowCommand::Debugging,
            _ => ShowCommand::Logging,
        },
    )
}

/// The rest of the line as an interface name: `Ethernet 2/0` = `Ethernet2/0`.
fn interface_name(p: &mut Words<'_>) -> Option<String> {
    p.rest()
        .map(|r| r.split_ascii_whitespace().collect::<String>())
}

fn parse_debug(p: &mut Words<'_>, on: bool) -> Result<Command, ParseError> {
    let first = if on {
        p.keyword(&["ip"])?
    } else {
        p.keyword(&["all", "ip"])?
    };
    if first == "all" {
        return Ok(Command::UndebugAll);
    }
    p.keyword(&["inspect"])?;
    const WORDS: [&str; 10] = [
        "smtp",
        "esmtp",
        "tcp",
        "udp",
        "icmp",
        "object-creation",
        "object-deletion",
        "events",
        "timers",
        "detailed",
    ];
    let word = p.keyword(&WORDS)?;
    let category = DebugCategory::from_word(word).ok_or(ParseError::Incomplete)?;
    Ok(Command::Debug { category, on })
}

fn parse_clear(p: &mut Words<'_>) -> Result<Command, ParseError> {
    match p.keyword(&["ip", "access-list"])? {
        "ip" => {
            p.keyword(&["inspect"])?;
            p.keyword(&["statistics"])?;
            Ok(Command::ClearInspectStatistics)
        }
        _ => {
            p.keyword(&["counters"])?;
            Ok(Command::ClearAccessListCounters(p.optional_number()?))
        }
    }
}

/// A cursor over the whitespace-separated words of a line, remembering each
/// word's character column for the caret.
struct Words<'a> {
    line: &'a str,
    /// (byte offset, word)
    words: Vec<(usize, &'a str)>,
    next: usize,
}

impl<'a> Words<'a> {
    fn new(line: &'a str) -> Self {
        let mut words = Vec::new();
        let mut start = None;
        for (i, c) in line.char_indices() {
            if c.is_ascii_whitespace() {
                if let Some(s) = start.take() {
                    words.push((s, &line[s..i]));
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            words.push((s, &line[s..]));
        }
        Words {
            line,
            words,
            next: 0,
        }
    }

    fn invalid_at(&self, index: usize) -> ParseError {
        let byte = self.words.get(index).map_or(self.line.len(), |w| w.0);
        ParseError::Invalid {
            line: self.line.to_string(),
            column: self.line[..byte].chars().count(),
        }
    }

    /// The next word, matched by unique prefix against `choices`.
    fn keyword(&mut self, choices: &[&'static str]) -> Result<&'static str, ParseError> {
        let Some(&(offset, word)) = self.words.get(self.next) else {
            return Err(ParseError::Incomplete);
        };
        let lower = word.to_ascii_lowercase();
        let found = if let Some(exact) = choices.iter().find(|c| **c == lower) {
            *exact
        } else {
            let mut matches = choices.iter().filter(|c| c.starts_with(lower.as_str()));
            match (matches.next(), matches.next()) {
                (Some(one), None) => *one,
                (None, _) => return Err(self.invalid_at(self.next)),
                (Some(_), Some(_)) => {
                    return Err(ParseError::Ambiguous {
                        input: self.line[..offset + word.len()].trim_start().to_string(),
                    })
                }
            }
        };
        self.next += 1;
        Ok(found)
    }

    /// Like [`Words::keyword`], but `None` at the end of the line.
    fn optional_keyword(
        &mut self,
        choices: &[&'static str],
    ) -> Result<Option<&'static str>, ParseError> {
        if self.next >= self.words.len() {
            Ok(None)
        } else {
            self.keyword(choices).map(Some)
        }
    }

    /// Any single word (a name).
    fn word(&mut self) -> Result<&'a str, ParseError> {
        let &(_, word) = self.words.get(self.next).ok_or(ParseError::Incomplete)?;
        self.next += 1;
        Ok(word)
    }

    fn optional_number(&mut self) -> Result<Option<u16>, ParseError> {
        let Some(&(_, word)) = self.words.get(self.next) else {
            return Ok(None);
        };
        let n = word
            .parse::<u16>()
            .map_err(|_| self.invalid_at(self.next))?;
        self.next += 1;
        Ok(Some(n))
    }

    /// The rest of the line from the next word on, trimmed; `None` if empty.
    fn rest(&mut self) -> Option<&'a str> {
        let &(offset, _) = self.words.get(self.next)?;
        self.next = self.words.len();
        // One definition of white space throughout (the word splitter's).
        let rest = self.line[offset..].trim_end_matches(|c: char| c.is_ascii_whitespace());
        (!rest.is_empty()).then_some(rest)
    }

    /// Fails on any word left over.
    fn end(&self) -> Result<(), ParseError> {
        if self.next < self.words.len() {
            Err(self.invalid_at(self.next))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Command {
        Command::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn full_words() {
        assert_eq!(
            parse("show ip inspect all"),
            Command::Show(ShowCommand::InspectAll)
        );
        assert_eq!(
            parse("show ip inspect session detail"),
            Command::Show(ShowCommand::InspectSessions { detail: true })
        );
        assert_eq!(
            parse("show ip inspect session"),
            Command::Show(ShowCommand::InspectSessions { detail: false })
        );
        assert_eq!(
            parse("show ip inspect statistics"),
            Command::Show(ShowCommand::InspectStatistics)
        );
        assert_eq!(
            parse("show ip inspect name OUT-IN"),
            Command::Show(ShowCommand::InspectName("OUT-IN".into()))
        );
        assert_eq!(
            parse("show ip nat translations"),
            Command::Show(ShowCommand::NatTranslations { verbose: false })
        );
        assert_eq!(
            parse("show ip virtual-reassembly"),
            Command::Show(ShowCommand::VirtualReassembly(None))
        );
        assert_eq!(
            parse("sh ip vir Ethernet 2/0"),
            Command::Show(ShowCommand::VirtualReassembly(Some("Ethernet2/0".into())))
        );
        assert_eq!(
            parse("show access-lists"),
            Command::Show(ShowCommand::AccessLists(None))
        );
        assert_eq!(
            parse("show access-lists 101"),
            Command::Show(ShowCommand::AccessLists(Some(101)))
        );
        assert_eq!(
            parse("show interfaces"),
            Command::Show(ShowCommand::Interfaces(None))
        );
        assert_eq!(
            parse("show interfaces Ethernet 2/0"),
            Command::Show(ShowCommand::Interfaces(Some("Ethernet2/0".into())))
        );
        assert_eq!(
            parse("show running-config"),
            Command::Show(ShowCommand::RunningConfig)
        );
        assert_eq!(
            parse("debug ip inspect smtp"),
            Command::Debug {
                category: DebugCategory::Smtp,
                on: true
            }
        );
        assert_eq!(parse("undebug all"), Command::UndebugAll);
        assert_eq!(parse("no debug all"), Command::UndebugAll);
        assert_eq!(
            parse("no debug ip inspect timers"),
            Command::Debug {
                category: DebugCategory::Timers,
                on: false
            }
        );
        assert_eq!(
            parse("clear ip inspect statistics"),
            Command::ClearInspectStatistics
        );
        assert_eq!(
            parse("clear access-list counters 101"),
            Command::ClearAccessListCounters(Some(101))
        );
    }

    #[test]
    fn abbreviations_and_case() {
        assert_eq!(parse("sh ip insp all"), parse("show ip inspect all"));
        assert_eq!(
            parse("show ip insp sess det"),
            parse("show ip inspect session detail")
        );
        assert_eq!(
            parse("SH IP INSP STAT"),
            parse("show ip inspect statistics")
        );
        assert_eq!(parse("sh ip nat tr"), parse("show ip nat translations"));
        assert_eq!(parse("sh acc"), parse("show access-lists"));
        assert_eq!(parse("sh run"), parse("show running-config"));
        assert_eq!(parse("  sh   int  "), parse("show interfaces"));
        assert_eq!(parse("deb ip insp smtp"), parse("debug ip inspect smtp"));
        assert_eq!(
            parse("deb ip insp object-c"),
            parse("debug ip inspect object-creation")
        );
        assert_eq!(parse("u all"), Command::UndebugAll);
        assert_eq!(parse("undeb al"), Command::UndebugAll);
        assert_eq!(parse("cl ip insp st"), Command::ClearInspectStatistics);
        // `s` alone is ambiguous below `inspect` (session, statistics) but
        // exact words win over prefixes: `tcp` is not confused with anything.
        assert_eq!(
            parse("debug ip inspect tcp"),
            Command::Debug {
                category: DebugCategory::Tcp,
                on: true
            }
        );
    }

    #[test]
    fn canonical_round_trip() {
        for line in [
            "show ip inspect all",
            "show ip inspect config",
            "show ip inspect interfaces",
            "show ip inspect name IN-OUT",
            "show ip inspect session",
            "show ip inspect session detail",
            "show ip inspect statistics",
            "show ip nat translations",
            "show ip nat translations verbose",
            "show access-lists",
            "show access-lists 101",
            "show interfaces",
            "show interfaces Ethernet2/0",
            "show running-config",
            "show debugging",
            "show logging",
            "debug ip inspect smtp",
            "undebug ip inspect object-deletion",
            "undebug all",
            "configure ip inspect name OUT-IN smtp max-data 1000",
            "clear ip inspect statistics",
            "clear access-list counters",
            "clear access-list counters 101",
        ] {
            assert_eq!(parse(line).canonical(), line);
        }
    }

    #[test]
    fn configure_keeps_the_line_as_typed() {
        assert_eq!(
            parse("conf   ip inspect name OUT-IN smtp alert off  "),
            Command::Configure("ip inspect name OUT-IN smtp alert off".into())
        );
        assert_eq!(
            parse("configure no ip inspect audit-trail"),
            Command::Configure("no ip inspect audit-trail".into())
        );
        assert_eq!(Command::parse("configure"), Err(ParseError::Incomplete));
        assert!(parse("configure x").is_mutating());
        assert!(!parse("sh run").is_mutating());
    }

    #[test]
    fn invalid_input_caret() {
        let e = Command::parse("show ip inspct all").unwrap_err();
        assert_eq!(
            e.to_string(),
            "show ip inspct all\n        ^\n% Invalid input detected at '^' marker."
        );
        let e = Command::parse("show ip inspect all extra").unwrap_err();
        assert_eq!(
            e,
            ParseError::Invalid {
                line: "show ip inspect all extra".into(),
                column: 20
            }
        );
        let e = Command::parse("frobnicate").unwrap_err();
        assert_eq!(
            e,
            ParseError::Invalid {
                line: "frobnicate".into(),
                column: 0
            }
        );
        let e = Command::parse("show access-lists abc").unwrap_err();
        assert!(matches!(e, ParseError::Invalid { column: 18, .. }));
        // `debug all` is not offered (it would flood); only `undebug all`.
        assert!(matches!(
            Command::parse("debug all"),
            Err(ParseError::Invalid { column: 6, .. })
        ));
        // columns count characters, not bytes
        let e = Command::parse("show é").unwrap_err();
        assert!(matches!(e, ParseError::Invalid { column: 5, .. }));
    }

    #[test]
    fn ambiguous_and_incomplete() {
        assert_eq!(
            Command::parse("c x").unwrap_err().to_string(),
            "% Ambiguous command:  \"c\""
        );
        assert_eq!(
            Command::parse("sh i").unwrap_err().to_string(),
            "% Ambiguous command:  \"sh i\""
        );
        assert_eq!(
            Command::parse("sh ip insp s").unwrap_err(),
            ParseError::Ambiguous {
                input: "sh ip insp s".into()
            }
        );
        assert_eq!(
            Command::parse("debug ip inspect o").unwrap_err(),
            ParseError::Ambiguous {
                input: "debug ip inspect o".into()
            }
        );
        for line in [
            "",
            "   ",
            "show",
            "show ip",
            "show ip inspect",
            "debug ip inspect",
        ] {
            assert_eq!(
                Command::parse(line),
                Err(ParseError::Incomplete),
                "{line:?}"
            );
        }
        assert_eq!(ParseError::Incomplete.to_string(), "% Incomplete command.");
    }

    #[test]
    fn too_long() {
        let line = format!("show {}", "x".repeat(MAX_LINE));
        assert!(matches!(
            Command::parse(&line),
            Err(ParseError::TooLong { .. })
        ));
    }

    proptest! {
        #[test]
        fn never_panics(line in "\\PC{0,200}") {
            let _ = Command::parse(&line);
        }

        #[test]
        fn never_panics_on_keyword_soup(words in proptest::collection::vec(
            prop_oneof![
                Just("show"), Just("sh"), Just("ip"), Just("insp"), Just("all"),
                Just("session"), Just("det"), Just("debug"), Just("no"), Just("undebug"),
                Just("configure"), Just("clear"), Just("s"), Just("101"), Just("é"),
                Just("access-lists"), Just("nat"), Just("tr"), Just("virtual-reassembly"),
                Just("vir"), Just("Ethernet2/0"),
            ], 0..8)) {
            let line = words.join(" ");
            match Command::parse(&line) {
                Ok(cmd) => {
                    // the canonical form parses back to the same command
                    prop_assert_eq!(Command::parse(&cmd.canonical()), Ok(cmd));
                }
                Err(ParseError::Invalid { column, .. }) => {
                    prop_assert!(column <= line.chars().count());
                }
                Err(_) => {}
            }
        }
    }

    #[test]
    fn configure_with_only_odd_white_space_is_incomplete() {
        // Found by the control_command fuzz target.
        // A vertical tab is not white space for the word splitter, so it is
        // the (invalid) configuration line itself, never an empty one.
        assert!(
            !matches!(Command::parse("configure \x0b"), Ok(Command::Configure(ref l)) if l.is_empty())
        );
        assert!(Command::parse("configure ").is_err());
    }
}
