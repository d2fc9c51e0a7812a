//! `Config::load` on arbitrary UTF-8 text. A configuration that loads must
//! compile for the workers, render as a running-config, and that running-config
//! must load again to the same running-config (the round trip `show
//! running-config` → file → restart relies on).
#![no_main]

use dataplane::config::{CompiledConfig, Config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok((cfg, _warnings)) = Config::load(text) else {
        return;
    };
    let _ = CompiledConfig::new(&cfg);
    let shown = cfg.running_config();
    // Secrets are masked in the running-config (type 7 / 5 forms), which load
    // again; everything else must round-trip exactly.
    match Config::load(&shown) {
        Ok((again, _)) => assert_eq!(
            again.running_config(),
            shown,
            "running-config is not stable"
        ),
        Err(e) => panic!("running-config does not load again: {e:?}\n{shown}"),
    }
});
