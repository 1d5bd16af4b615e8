//! Image references and Docker `config.json` credentials: parsers of user input that
//! must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stella_core::inventory::source::{ImageReference, credentials_from_docker_config};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(r) = ImageReference::parse(text)
    {
        // What parses prints back to something that parses to the same reference.
        assert_eq!(ImageReference::parse(&r.to_string()).ok(), Some(r));
    }
    let _ = credentials_from_docker_config(data, "docker.io");
    let _ = credentials_from_docker_config(data, "127.0.0.1:5000");
});
