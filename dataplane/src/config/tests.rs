//! Tests of loading, interactive configuration and the running-config
//! (`seed-scenario.md` A1, A3; `config-and-nat.md` §1–§4).

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::acl::{proto, AclPacket, Verdict};
use crate::config::compiled::{InterfaceId, SmtpMode};

const SEED: &str = include_str!("../../../fixtures/seed.cfg");
const SEED_ANNOTATED: &str = include_str!("../../../fixtures/seed-annotated.cfg");
const SECRETS: [&str; 2] = ["02050D4808095E731F", "121A0C0411045D5679"];

/// The 26 warning texts of case A1, in order (shared with the namespace
/// test of `mailguard check`).
const A1_WARNINGS: &str = include_str!("../../../fixtures/seed-a1-warnings.txt");

fn a1_warnings() -> Vec<&'static str> {
    let texts: Vec<&str> = A1_WARNINGS.lines().collect();
    assert_eq!(texts.len(), 26, "fixture seed-a1-warnings.txt");
    texts
}

fn seed() -> Config {
    Config::load(SEED).unwrap().0
}

fn assert_no_secret(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "secret {s} leaked in:\n{text}");
    }
}

fn load_err(text: &str) -> LoadErrors {
    Config::load(text).unwrap_err()
}

/// The running-config without the `Current configuration` line.
fn body(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("Current configuration"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a1_both_seed_files_load_with_exactly_26_warnings() {
    for text in [SEED, SEED_ANNOTATED] {
        let (cfg, warnings) = Config::load(text).unwrap();
        let texts: Vec<&str> = warnings.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, a1_warnings());
        assert!(matches!(warnings[6].kind, WarningKind::PartialSupport(_)));
        assert!(matches!(warnings[7].kind, WarningKind::PartialSupport(_)));
        assert_eq!(
            warnings[2].to_string(),
            format!(
                "% Warning: line {} ignored (not supported): enable password 7 <removed>",
                warnings[2].line
            )
        );
        for w in &warnings {
            assert_no_secret(&w.to_string());
            assert_no_secret(&w.console());
        }
        assert_no_secret(&format!("{cfg:?}"));
        assert_no_secret(&cfg.running_config());
        assert_no_secret(&serde_json::to_string(&cfg).unwrap());
        assert_no_secret(&check_report(text).0);
        assert_eq!(cfg.hostname, "3640-123");
        assert_eq!(cfg.version.as_deref(), Some("12.3"));
        assert_eq!(cfg.interfaces.len(), 3);
        assert_eq!(cfg.rules.len(), 2);
        assert_eq!(cfg.static_nat.len(), 2);
        assert_eq!(cfg.routes.len(), 1);
    }
}

#[test]
fn seed_model_details() {
    let cfg = seed();
    let e20 = cfg.interface("Ethernet2/0").unwrap();
    assert_eq!(
        e20.address,
        Some(InterfaceAddress {
            address: Ipv4Addr::new(172, 22, 1, 16),
            mask: Ipv4Addr::new(255, 255, 255, 0)
        })
    );
    assert_eq!(e20.access_group_in, Some(101));
    assert_eq!(e20.nat, Some(NatRole::Outside));
    assert_eq!(e20.inspect_in.as_deref(), Some("OUT-IN"));
    assert!(e20.virtual_reassembly.is_some());
    assert!(e20.unreachables);
    assert_eq!(e20.extra_lines, vec!["half-duplex".to_string()]);
    let s20 = cfg.interface("Serial2/0").unwrap();
    assert!(s20.shutdown && s20.address.is_none());
    assert_eq!(
        cfg.interface("Ethernet2/1").unwrap().nat,
        Some(NatRole::Inside)
    );
    let debug = TimestampStyle::Datetime {
        msec: true,
        localtime: false,
        show_timezone: false,
        year: false,
    };
    assert_eq!(cfg.timestamps.debug, debug);
    assert_eq!(cfg.timestamps.log, debug);
    let in_out: Vec<&str> = cfg.rules[0]
        .entries
        .iter()
        .map(|e| e.protocol.keyword())
        .collect();
    assert_eq!(in_out, ["tcp", "udp", "ftp", "http", "icmp"]);
    assert_eq!(cfg.rules[1].entries[0].protocol, InspectProtocol::Smtp);
    assert_eq!(cfg.routes[0].next_hop, Some(Ipv4Addr::new(172, 22, 1, 1)));
    assert_eq!(cfg.inspect, InspectGlobals::default());
    // Serial2/0 is shut down and needs no binding.
    let unbound = cfg.binding_warnings(|name| name == "Ethernet2/0");
    assert_eq!(
        unbound,
        ["% Warning: interface Ethernet2/1 is not bound to a network device; its traffic is dropped"]
    );
}

#[test]
fn running_config_reproduces_the_seed_and_round_trips() {
    let cfg = seed();
    let text = cfg.running_config();
    let expected = SEED
        .replace("02050D4808095E731F", "<removed>")
        .replace("121A0C0411045D5679", "<removed>");
    assert_eq!(body(&text), body(&expected));
    let (again, warnings) = Config::load(&text).unwrap();
    assert_eq!(warnings.len(), 26);
    assert_eq!(again, cfg);
    assert_eq!(again.running_config(), text);
    // The byte count is the body's length.
    let count: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("Current configuration : "))
        .and_then(|l| l.strip_suffix(" bytes"))
        .unwrap()
        .parse()
        .unwrap();
    let after = text.find("bytes\n").unwrap() + "bytes\n".len();
    assert_eq!(count, text.len() - after);
    // The annotated copy gives the same model (annotations are comments).
    let (annotated, _) = Config::load(SEED_ANNOTATED).unwrap();
    let rc = annotated.running_config();
    assert_eq!(Config::load(&rc).unwrap().0.running_config(), rc);
    assert_eq!(annotated.interfaces, cfg.interfaces);
    assert_eq!(annotated.rules, cfg.rules);
}

#[test]
fn a3_rule_syntax_steps() {
    let mut cfg = seed();
    let before = cfg.clone();
    // 1.
    let e = cfg.apply_line("ip inspect name OUT-IN esmtp").unwrap_err();
    assert_eq!(
        e.console(),
        "%ESMTP cannot coexist with SMTP, please unconfigure SMTP and try again..."
    );
    assert_eq!(cfg, before);
    // 2.
    assert_eq!(
        cfg.apply_line("no ip inspect name OUT-IN smtp").unwrap(),
        None
    );
    assert_eq!(
        cfg.apply_line("ip inspect name OUT-IN esmtp").unwrap(),
        None
    );
    let mut out = String::new();
    crate::show::show_ip_inspect(
        &cfg,
        &crate::show::InspectView::All,
        &[],
        &Default::default(),
        &mut out,
    );
    let esmtp = "    esmtp max-data 20000000 alert is on audit-trail is off timeout 3600\n";
    assert_eq!(out.matches(esmtp).count(), 2, "{out}");
    assert!(!out.contains("    smtp "));
    // 3.
    let after_step2 = cfg.clone();
    let e = cfg.apply_line("ip inspect name OUT-IN smtp").unwrap_err();
    assert_eq!(
        e.console(),
        "%SMTP cannot coexist with ESMTP, please unconfigure ESMTP and try again..."
    );
    assert_eq!(cfg, after_step2);
    // Re-entering the keyword a rule already has is not an error.
    cfg.apply_line("ip inspect name OUT-IN esmtp").unwrap();
    // 4.
    cfg.apply_line("ip inspect name ABCDEFGHIJKLMNOPQRST tcp")
        .unwrap();
    assert_eq!(cfg.rules.last().unwrap().name, "ABCDEFGHIJKLMNOP");
    let mut out = String::new();
    crate::show::show_ip_inspect(
        &cfg,
        &crate::show::InspectView::Config,
        &[],
        &Default::default(),
        &mut out,
    );
    assert!(out.contains("\n Inspection name ABCDEFGHIJKLMNOP\n    tcp alert"));
    // 5.
    let before = cfg.clone();
    let e = cfg.apply_line("ip inspect one-minute low 600").unwrap_err();
    assert_eq!(
        e.console(),
        "% low threshold must not exceed high threshold"
    );
    assert_eq!(e.column, 27);
    assert_eq!(cfg, before);
    let e = cfg
        .apply_line("ip inspect max-incomplete high 300")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::LowAboveHigh);
    cfg.apply_line("ip inspect one-minute high 700").unwrap();
    cfg.apply_line("ip inspect one-minute low 600").unwrap();
    assert_eq!(
        (cfg.inspect.one_minute_low, cfg.inspect.one_minute_high),
        (600, 700)
    );
}

#[test]
fn smtp_esmtp_conflict_in_a_file_is_an_error() {
    let e = load_err("ip inspect name R smtp\nip inspect name R esmtp max-data 5\n");
    assert_eq!(e.errors.len(), 1);
    assert_eq!((e.errors[0].line, e.errors[0].column), (2, 19));
    assert_eq!(e.errors[0].kind, ErrorKind::EsmtpWithSmtp);
}

#[test]
fn thresholds_in_a_file_are_checked_after_the_whole_file() {
    // The order of the two lines does not matter in a file...
    let (cfg, _) =
        Config::load("ip inspect max-incomplete low 600\nip inspect max-incomplete high 700\n")
            .unwrap();
    assert_eq!(cfg.inspect.max_incomplete_low, 600);
    // ...but the final values must be consistent.
    let e = load_err("ip inspect one-minute low 600\n!\n");
    assert_eq!(e.errors[0].kind, ErrorKind::LowAboveHigh);
    assert_eq!((e.errors[0].line, e.errors[0].column), (1, 27));
}

#[test]
fn errors_carry_line_and_column_and_nothing_loads() {
    let text = "hostname fw\n\
                ip inspect name X smtpp\n\
                interface Ethernet2/0\n \
                ip address 10.0.0.300 255.255.255.0\n \
                ip access-group 101 sideways\n\
                access-list 101 permit tcp any any eq 70000\n\
                access-list 101 permit tcp any any dscp ef\n\
                access-list 300 permit ip any any\n\
                ip inspect tcp idle-time 0\n\
                ip nat inside source static 10.0.0.1 1.1.1.1\n\
                ip nat inside source static 10.0.0.2 1.1.1.1\n\
                frobnicate now\n\
                ip route 10.0.0.1 255.255.255.0 1.1.1.1\n\
                ip inspect name X tcp max-data 5\n";
    let e = load_err(text);
    let found: Vec<(usize, usize)> = e.errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(
        found,
        [
            (2, 19),
            (4, 13),
            (5, 22),
            (6, 39),
            (7, 36),
            (8, 13),
            (9, 26),
            (11, 38),
            (12, 1),
            (13, 10),
            (14, 23)
        ],
        "{e}"
    );
    assert_eq!(
        e.errors[9].kind,
        ErrorKind::Rejected("Inconsistent address and mask".into())
    );
    assert_eq!(
        e.errors[7].console(),
        "% 1.1.1.1 already mapped (10.0.0.1 -> 1.1.1.1)"
    );
    let shown = e.errors[0].to_string();
    assert!(
        shown.starts_with("% Invalid input detected at line 2, column 19: ip inspect name X smtpp")
    );
    let (report, ok) = check_report(text);
    assert!(!ok);
    assert!(report.contains("line 12, column 1: frobnicate now"));
    assert!(report.ends_with(
        "% Configuration rejected: 11 error(s), 0 warning(s); nothing would be loaded\n"
    ));
    let (report, ok) = check_report(SEED);
    assert!(ok);
    assert_eq!(report.lines().count(), 27);
}

#[test]
fn modes_follow_ios_paste_rules() {
    let text = "controller T1 3/0\n framing sf\n!\n password 7 hunter2\nip cef\n login\n";
    let e = load_err(text);
    // `login` after a known global command is no longer in the ignored sub-mode.
    assert_eq!(e.errors.len(), 1);
    assert_eq!((e.errors[0].line, e.errors[0].column), (6, 2));
    assert_eq!(e.warnings.len(), 3);
    assert_eq!(e.warnings[2].text, "password 7 <removed>");
    // A global command inside interface mode leaves it; later interface
    // words are errors.
    let e =
        load_err("interface e2/0\n ip nat inside\nip route 0.0.0.0 0.0.0.0 1.1.1.1\n shutdown\n");
    assert_eq!((e.errors[0].line, e.errors[0].column), (4, 2));
    // Indentation does not matter; `exit` and `end` close a sub-mode.
    let (cfg, _) = Config::load("interface eth2/0\nip address 1.1.1.1 255.0.0.0\nexit\ninterface Ethernet 2/1\nshutdown\nend\n").unwrap();
    assert_eq!(cfg.interfaces[0].name, "Ethernet2/0");
    assert!(cfg.interfaces[0].address.is_some());
    assert_eq!(cfg.interfaces[1].name, "Ethernet2/1");
    assert!(cfg.interfaces[1].shutdown);
    // Abbreviations load from files too (a pasted IOS config may use them),
    // so anything accepted interactively reloads from the running-config.
    let (cfg, _) = Config::load("int e2/0\n ip add 1.1.1.1 255.0.0.0\n").unwrap();
    assert!(cfg.interfaces[0].address.is_some());
    // Ignored global commands do not end an ignored sub-mode.
    let (_, w) = Config::load("line con 0\n logging synchronous\n login\n").unwrap();
    assert_eq!(w.len(), 3);
}

#[test]
fn interactive_session_keeps_interface_context_and_accepts_abbreviations() {
    let mut cfg = seed();
    let mut session = ConfigSession::new();
    assert_eq!(session.prompt(&cfg), "3640-123(config)#");
    session.apply_line(&mut cfg, "int e2/1").unwrap();
    assert_eq!(session.prompt(&cfg), "3640-123(config-if)#");
    session.apply_line(&mut cfg, "ip insp OUT-IN out").unwrap();
    let note = session
        .apply_line(&mut cfg, "ip access-g 150 out")
        .unwrap()
        .unwrap();
    assert!(note.contains("access list 150 has no entries"), "{note}");
    session.apply_line(&mut cfg, "no ip unreach").unwrap();
    let e20 = cfg.interface("Ethernet2/1").unwrap();
    assert_eq!(e20.inspect_out.as_deref(), Some("OUT-IN"));
    assert_eq!(e20.access_group_out, Some(150));
    assert!(!e20.unreachables);
    // A global command leaves interface mode.
    session
        .apply_line(&mut cfg, "ip insp tcp synwait-time 10")
        .unwrap();
    assert_eq!(session.mode(), Mode::Global);
    assert_eq!(cfg.inspect.tcp_synwait_time, 10);
    // Errors leave config and mode unchanged.
    session
        .apply_line(&mut cfg, "interface Ethernet2/0")
        .unwrap();
    let before = cfg.clone();
    let e = session
        .apply_line(&mut cfg, "ip access-group 101 sideways")
        .unwrap_err();
    assert_eq!(e.column, 21);
    assert_eq!(cfg, before);
    assert!(matches!(session.mode(), Mode::Interface(_)));
    let e = session.apply_line(&mut cfg, "i").unwrap_err();
    assert!(e.console().contains("ambiguous"), "{}", e.console());
    // Replacing an applied rule warns.
    let note = session
        .apply_line(&mut cfg, "ip inspect IN-OUT in")
        .unwrap()
        .unwrap();
    assert!(note.contains("OUT-IN replaced by IN-OUT"), "{note}");
    // Ignored commands warn and are kept for the running-config.
    session.apply_line(&mut cfg, "exit").unwrap();
    let w = session
        .apply_line(&mut cfg, "enable secret 5 $1$abc")
        .unwrap()
        .unwrap();
    assert_eq!(
        w,
        "% Warning: ignored (not supported): enable secret 5 <removed>"
    );
    assert!(cfg
        .running_config()
        .contains("\nenable secret 5 <removed>\n"));
    assert!(!cfg.running_config().contains("$1$abc"));
    // Most recently configured interface is listed first.
    let order: Vec<&str> = cfg
        .inspected_interfaces()
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(order, ["Ethernet2/0", "Ethernet2/1"]);
}

#[test]
fn no_forms_restore_and_remove() {
    let mut cfg = seed();
    cfg.apply_line("ip inspect tcp idle-time 100").unwrap();
    cfg.apply_line("no ip inspect tcp idle-time").unwrap();
    assert_eq!(cfg.inspect.tcp_idle_time, 3600);
    cfg.apply_line("no ip nat inside source static 10.10.10.5 172.22.1.111")
        .unwrap();
    assert_eq!(cfg.static_nat.len(), 1);
    assert!(cfg
        .apply_line("no ip nat inside source static 10.10.10.5 172.22.1.111")
        .is_err());
    cfg.apply_line("no access-list 101").unwrap();
    assert!(cfg.access_lists.is_empty());
    cfg.apply_line("no ip route 0.0.0.0 0.0.0.0").unwrap();
    assert!(cfg.routes.is_empty());
    cfg.apply_line("no ip inspect name IN-OUT").unwrap();
    assert_eq!(cfg.rules.len(), 1);
    cfg.apply_line("no ip inspect name").unwrap();
    assert!(cfg.rules.is_empty());
    let text = cfg.running_config();
    assert!(
        !text.contains("ip inspect name")
            && !text.contains("access-list")
            && !text.contains("ip route")
    );
    // The round trip still holds after edits.
    assert_eq!(Config::load(&text).unwrap().0.running_config(), text);
}

#[test]
fn globals_ids_signatures_and_extensions_round_trip() {
    let mut cfg = seed();
    for line in [
        "ip inspect audit-trail",
        "ip inspect alert-off",
        "ip inspect max-incomplete high 900",
        "ip inspect max-incomplete low 800",
        "ip inspect tcp max-incomplete host 20 block-time 2",
        "ip inspect tcp reassembly queue length 32",
        "ip inspect tcp reassembly memory limit 2048",
        "ip inspect tcp reassembly timeout 7",
        "ip inspect tcp reassembly alarm off",
        "ip inspect dns-timeout 7",
        "ip inspect tcp finwait-time 9",
        "ip inspect smtp ids-signature 3103",
        "no ip inspect smtp ids-signature 3101",
        "ip audit smtp spam 100",
        "ip inspect name OUT-IN smtp max-data 5000 mask-banner legacy-pre-12.3-7T bdat alert off timeout 20",
        "ip inspect name IN-OUT http urlfilter java-list 5",
        "ip route 192.0.2.0 255.255.255.0 Ethernet2/0 172.22.1.2 5",
        "ip nat inside source static 10.10.10.9 172.22.1.119 extendable",
        "service timestamps log uptime",
        "access-list 150 remark outbound web",
        "access-list 150 permit tcp 10.10.10.0 0.0.0.255 any range 8000 8080 log",
    ] {
        cfg.apply_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    let g = &cfg.inspect;
    assert!(g.ids_signatures.is_enabled(3103) && !g.ids_signatures.is_enabled(3101));
    assert!(g.ids_signatures.is_enabled(3102));
    assert_eq!((g.max_incomplete_host, g.block_time_minutes), (20, 2));
    let smtp = cfg.rule("OUT-IN").unwrap().entries[0].clone();
    assert_eq!(smtp.max_data, Some(5000));
    assert!(smtp.smtp.mask_banner && smtp.smtp.legacy_pre_12_3_7t && smtp.smtp.bdat);
    assert_eq!(
        cfg.rule("IN-OUT").unwrap().entries.len(),
        5,
        "http replaced in place"
    );
    let text = cfg.running_config();
    let (again, _) = Config::load(&text).unwrap();
    assert_eq!(again.inspect, cfg.inspect);
    assert_eq!(again.rules, cfg.rules);
    assert_eq!(again.routes, cfg.routes);
    assert_eq!(again.static_nat, cfg.static_nat);
    assert_eq!(again.access_lists, cfg.access_lists);
    assert_eq!(again.timestamps, cfg.timestamps);
    assert_eq!(again.running_config(), text);
    assert!(cfg
        .apply_line("ip inspect smtp ids-signature 4000")
        .is_err());
    assert!(cfg
        .apply_line("ip inspect tcp max-incomplete host 251")
        .is_err());
    assert!(cfg
        .apply_line("ip inspect name R tcp alert on alert off")
        .is_err());
    assert!(cfg.apply_line("ip inspect name R tcp max-data 5").is_err());
    assert!(cfg.apply_line("ip inspect name R fragment max 10").is_err());
    assert!(cfg.apply_line("ip inspect name R rpc").is_err());
}

#[test]
fn compiled_lookups_for_the_pipeline() {
    let cfg = seed();
    let c = cfg.compile();
    let outside = c.interface_id("Ethernet2/0").unwrap();
    let inside = c.interface_id("Ethernet2/1").unwrap();
    assert_eq!(outside, InterfaceId(0));
    let out_in = c.rule(outside, Direction::In).unwrap();
    let smtp = out_in.match_flow(proto::TCP, 25).unwrap();
    assert_eq!(smtp.protocol, InspectProtocol::Smtp);
    assert_eq!(smtp.smtp_mode, Some(SmtpMode::Smtp));
    assert_eq!(
        (
            smtp.max_data,
            smtp.timeout_secs,
            smtp.alert,
            smtp.audit_trail
        ),
        (20_000_000, 3600, true, false)
    );
    assert!(out_in.match_flow(proto::TCP, 80).is_none());
    assert!(out_in.match_flow(proto::UDP, 25).is_none());
    assert!(c.rule(outside, Direction::Out).is_none());
    let in_out = c.rule(inside, Direction::In).unwrap();
    assert_eq!(
        in_out.match_flow(proto::TCP, 80).unwrap().protocol,
        InspectProtocol::Http
    );
    assert_eq!(
        in_out.match_flow(proto::TCP, 21).unwrap().protocol,
        InspectProtocol::Ftp
    );
    assert_eq!(
        in_out.match_flow(proto::TCP, 22).unwrap().protocol,
        InspectProtocol::Tcp
    );
    let udp = in_out.match_flow(proto::UDP, 53).unwrap();
    assert_eq!(udp.protocol, InspectProtocol::Udp);
    assert_eq!(c.session_timeout(udp, proto::UDP, 53), 5);
    assert_eq!(c.session_timeout(udp, proto::UDP, 123), 30);
    assert_eq!(in_out.match_flow(proto::ICMP, 0).unwrap().timeout_secs, 10);
    assert!(in_out.match_flow(47, 0).is_none());
    let acl = c.access_list(outside, Direction::In).unwrap();
    let syn = AclPacket {
        proto: proto::TCP,
        src: Ipv4Addr::new(198, 51, 100, 7),
        dst: Ipv4Addr::new(172, 22, 1, 110),
        sport: 40001,
        dport: 25,
        icmp_type: 0,
        icmp_code: 0,
        tcp_flags: 0x02,
        non_initial_fragment: false,
    };
    assert_eq!(acl.evaluate(&syn), (Verdict::Permit, Some(0)));
    assert!(c.access_list(inside, Direction::In).is_none());
    // ARP: own address plus the NAT aliases on the outside interface (B8).
    let arp = &c.interfaces[usize::from(outside.0)].arp_addresses;
    assert_eq!(
        arp,
        &[
            Ipv4Addr::new(172, 22, 1, 16),
            Ipv4Addr::new(172, 22, 1, 110),
            Ipv4Addr::new(172, 22, 1, 111)
        ]
    );
    assert_eq!(
        c.interfaces[usize::from(inside.0)].arp_addresses,
        [Ipv4Addr::new(10, 10, 10, 1)]
    );
    // Connected routes for interfaces that are up, then the static default.
    assert_eq!(c.routes.len(), 3);
    assert_eq!(c.routes[2].prefix_len, 0);
    // A rule timeout overrides the global default for new sessions.
    let mut cfg = cfg;
    cfg.apply_line("ip inspect name OUT-IN smtp timeout 20")
        .unwrap();
    cfg.apply_line("ip inspect audit-trail").unwrap();
    let c = cfg.compile();
    let smtp = c
        .rule(outside, Direction::In)
        .unwrap()
        .match_flow(proto::TCP, 25)
        .unwrap();
    assert_eq!((smtp.timeout_secs, smtp.audit_trail), (20, true));
    // An access group naming an empty list permits everything (no list).
    cfg.apply_line("no access-list 101").unwrap();
    assert!(cfg.compile().access_list(outside, Direction::In).is_none());
    let (_, warnings) = Config::load(&cfg.running_config()).unwrap();
    assert!(warnings
        .iter()
        .any(|w| w.to_string().contains("access list 101 has no entries")));
}

fn token_soup() -> impl Strategy<Value = String> {
    let words = prop_oneof![
        Just("ip"),
        Just("inspect"),
        Just("name"),
        Just("OUT-IN"),
        Just("smtp"),
        Just("esmtp"),
        Just("tcp"),
        Just("no"),
        Just("interface"),
        Just("e2/0"),
        Just("Ethernet2/0"),
        Just("access-list"),
        Just("101"),
        Just("permit"),
        Just("any"),
        Just("host"),
        Just("10.0.0.1"),
        Just("255.255.255.0"),
        Just("eq"),
        Just("route"),
        Just("nat"),
        Just("inside"),
        Just("source"),
        Just("static"),
        Just("in"),
        Just("out"),
        Just("max-incomplete"),
        Just("low"),
        Just("high"),
        Just("600"),
        Just("timeout"),
        Just("controller"),
        Just("line"),
        Just("!"),
        Just(" "),
        Just("password"),
        Just("7"),
        Just("end"),
        Just("exit"),
        Just("\u{e9}"),
        Just("address"),
        Just("shutdown"),
        Just("one-minute"),
        Just("fragment"),
        Just("rpc"),
        Just("program-number"),
    ];
    proptest::collection::vec(words, 0..12).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn load_never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
        let _ = Config::load(&text);
        let _ = check_report(&text);
    }

    #[test]
    fn load_never_panics_on_keyword_soup(lines in proptest::collection::vec(token_soup(), 0..20)) {
        let text = lines.join("\n");
        if let Ok((cfg, _)) = Config::load(&text) {
            // Whatever loads, reloads to the same running-config.
            let rc = cfg.running_config();
            let (again, _) = Config::load(&rc).unwrap();
            prop_assert_eq!(again.running_config(), rc);
        }
    }

    #[test]
    fn apply_line_is_all_or_nothing(lines in proptest::collection::vec(token_soup(), 0..20)) {
        let mut cfg = seed();
        let mut session = ConfigSession::new();
        for line in &lines {
            let before = cfg.clone();
            let mode = session.mode();
            match session.apply_line(&mut cfg, line) {
                Ok(_) => {}
                Err(e) => {
                    prop_assert_eq!(&cfg, &before);
                    prop_assert_eq!(session.mode(), mode);
                    prop_assert!(e.column >= 1);
                }
            }
        }
        let rc = cfg.running_config();
        let (again, _) = Config::load(&rc).unwrap();
        prop_assert_eq!(again.running_config(), rc);
    }
}

/// `mtu N` and `ip mtu N` on interfaces: applied (the lower one is the IP
/// MTU), shown in the running-config, removed by `no`, and out-of-range or
/// non-numeric values are errors with their line and column.
#[test]
fn interface_mtu_and_ip_mtu() {
    let text = "interface Ethernet2/0\n mtu 1400\n ip address 10.0.0.1 255.0.0.0\n ip mtu 1300\n\
                interface Ethernet2/1\n ip mtu 1492\ninterface Ethernet2/2\n mtu 1200\n ip mtu 1500\n";
    let (cfg, warnings) = Config::load(text).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let e0 = cfg.interface("Ethernet2/0").unwrap();
    assert_eq!((e0.mtu, e0.ip_mtu), (Some(1400), Some(1300)));
    assert_eq!(e0.configured_ip_mtu(), Some(1300));
    assert_eq!(
        cfg.interface("Ethernet2/1").unwrap().configured_ip_mtu(),
        Some(1492)
    );
    assert_eq!(
        cfg.interface("Ethernet2/2").unwrap().configured_ip_mtu(),
        Some(1200)
    );
    let running = cfg.running_config();
    assert!(
        running.contains(
            "interface Ethernet2/0\n mtu 1400\n ip address 10.0.0.1 255.0.0.0\n ip mtu 1300\n"
        ),
        "{running}"
    );
    let (again, _) = Config::load(&running).unwrap();
    assert_eq!(again.interface("Ethernet2/0"), cfg.interface("Ethernet2/0"));
    let mut cfg = cfg;
    let mut session = ConfigSession::new();
    session
        .apply_line(&mut cfg, "interface Ethernet2/0")
        .unwrap();
    session.apply_line(&mut cfg, " no ip mtu").unwrap();
    session.apply_line(&mut cfg, " no mtu 1400").unwrap();
    let e0 = cfg.interface("Ethernet2/0").unwrap();
    assert_eq!(
        (e0.mtu, e0.ip_mtu, e0.configured_ip_mtu()),
        (None, None, None)
    );

    for (line, column) in [
        (" ip mtu 40", 9),
        (" ip mtu 20000", 9),
        (" mtu 1500x", 6),
        (" mtu", 5),
        (" ip mtu 1500 1400", 14),
    ] {
        let e = load_err(&format!("interface Ethernet2/0\n{line}\n"));
        assert_eq!(e.errors.len(), 1, "{line}: {:?}", e.errors);
        assert_eq!(
            (e.errors[0].line, e.errors[0].column),
            (2, column),
            "{line}: {:?}",
            e.errors
        );
    }
}
