//! The control-socket command parser (`control::Command::parse`). A command
//! that parses must print (its canonical form, used in audit records and the
//! client echo) to text that parses back to the same command.
#![no_main]

use dataplane::control::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &str| {
    if let Ok(cmd) = Command::parse(line) {
        let canonical = cmd.to_string();
        assert_eq!(
            Command::parse(&canonical).as_ref(),
            Ok(&cmd),
            "canonical form {canonical:?} of {line:?} does not parse back"
        );
    }
});
