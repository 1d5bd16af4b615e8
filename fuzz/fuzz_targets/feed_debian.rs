#![no_main]
//! Fuzz target: the Debian tracker list and JSON readers must never panic or run away;
//! every record they return has a non-empty id and well-formed ranges.
use libfuzzer_sys::fuzz_target;
use stella_core::feedser::connectors::debian::{ListKind, parse_tracker_json, parse_tracker_list};

fuzz_target!(|data: &[u8]| {
    for kind in [ListKind::Dsa, ListKind::Dla] {
        if let Ok(parsed) = parse_tracker_list("fuzz", data, kind) {
            for r in &parsed.records {
                assert!(r.record.id.starts_with(kind.prefix()));
                for a in &r.record.affected {
                    assert!(a.ranges.iter().all(|range| !range.events.is_empty()));
                }
            }
        }
    }
    if let Ok(parsed) = parse_tracker_json("fuzz", data) {
        for r in &parsed.records {
            assert!(r.record.id.starts_with("DEBIAN-"));
        }
    }
});
