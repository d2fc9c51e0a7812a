//! The access-list entry parser (`acl::parse_entry`, the words after
//! `access-list N`). The first byte picks a standard or an extended list and
//! whether IOS abbreviations are on; the rest is the line. An entry that
//! parses must print (`to_ios`, as `show access-lists` and the running-config
//! do) to text that parses back to the same entry.
#![no_main]

use dataplane::acl::{parse_entry, AclCommand, AclEntry, AclKind};
use dataplane::config::lexer::{tokenize, Cursor, SyntaxError};
use libfuzzer_sys::fuzz_target;

fn parse(kind: AclKind, text: &str, abbreviations: bool) -> Result<AclCommand, SyntaxError> {
    let tokens = tokenize(text);
    let mut cur = Cursor::new(&tokens, text.chars().count() + 1, abbreviations);
    let command = parse_entry(kind, &mut cur)?;
    cur.finish()?;
    Ok(command)
}

fn reparse(kind: AclKind, entry: &AclEntry) {
    let text = entry.to_ios(kind);
    match parse(kind, &text, false) {
        Ok(AclCommand::Entry(again)) => assert_eq!(&again, entry, "{text}"),
        other => panic!("printed entry {text:?} parses as {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let kind = if flags & 1 == 0 {
        AclKind::Extended
    } else {
        AclKind::Standard
    };
    if let Ok(AclCommand::Entry(entry)) = parse(kind, text, flags & 2 != 0) {
        reparse(kind, &entry);
    }
});
