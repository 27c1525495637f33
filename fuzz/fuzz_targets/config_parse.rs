//! A configuration file's text: merged over the defaults and checked by the server's `resolve`,
//! and when valid, described as `centralita config check` prints it. No panic.

#![no_main]

use std::path::Path;

use centralita::config::{self, ConfigFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &[u8]| {
    let Ok(text) = std::str::from_utf8(text) else { return };
    let file = ConfigFile { path: Path::new("/etc/centralita/centralita.toml"), text };
    if let Ok(settings) = config::resolve(Some(file), &[], &[]) {
        let _ = settings.describe();
    }
});
