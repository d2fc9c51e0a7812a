//! Interactive configuration (`mailguard configure "LINE"`, a `ConfigSession`
//! that keeps the `interface X` context) on the seed configuration, one line
//! per input line. Every line is all-or-nothing: a rejected line must leave
//! the running-config exactly as it was, and whatever state results must still
//! compile for the workers.
#![no_main]

use std::sync::OnceLock;

use dataplane::config::{CompiledConfig, Config, ConfigSession};
use dataplane::sim::SEED_CONFIG;
use libfuzzer_sys::fuzz_target;

fn seed() -> &'static Config {
    static SEED: OnceLock<Config> = OnceLock::new();
    SEED.get_or_init(|| Config::load(SEED_CONFIG).expect("seed config loads").0)
}

fuzz_target!(|text: &str| {
    let mut cfg = seed().clone();
    let mut session = ConfigSession::new();
    for line in text.lines().take(32) {
        let before = cfg.running_config();
        if session.apply_line(&mut cfg, line).is_err() {
            assert_eq!(
                cfg.running_config(),
                before,
                "rejected line changed the config: {line:?}"
            );
        }
    }
    let _ = CompiledConfig::new(&cfg);
});
