//! The node's TOML configuration (`config::Config`): text that parses and validates prints
//! back to TOML (`toml::to_string`) that parses and validates again to the same TOML; parse
//! errors are errors (never a panic), with or without validation.
#![no_main]

use ass_node::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(text) = ass_node_fuzz::text(data) else { return };
    let Ok(config) = Config::from_toml(text) else { return };
    assert_ne!(config.node_id, 0);
    assert!(config.peers.iter().any(|p| p.id == config.node_id));
    assert_eq!(config.me().id, config.node_id);
    let printed = toml::to_string(&config).expect("a valid config prints as TOML");
    let again = Config::from_toml(&printed)
        .unwrap_or_else(|e| panic!("printed config does not load: {e}\n{printed}"));
    let reprinted = toml::to_string(&again).expect("prints");
    assert_eq!(printed, reprinted, "TOML round trip of a valid config changed it");
});
