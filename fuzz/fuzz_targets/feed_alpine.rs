#![no_main]
//! Fuzz target: the Alpine secdb reader must never panic, overflow the stack or run away;
//! every record it returns has an `ALPINE-` id and at most one affected package.
use libfuzzer_sys::fuzz_target;
use stella_core::feedser::connectors::alpine::parse_secdb;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = parse_secdb("fuzz", data) {
        for r in &parsed.records {
            assert!(r.record.id.starts_with("ALPINE-"));
            assert!(r.record.affected.len() <= 1);
            assert!(!r.record.aliases.is_empty());
        }
    }
});
