#![no_main]
//! Fuzz target: the nodejs_wg feed connector must never panic, overflow the stack or run away;
//! every record it returns has an id and, for ranges, at least one event.
use libfuzzer_sys::fuzz_target;
use stella_core::feedser::connectors::nodejs_wg;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = nodejs_wg::parse("fuzz", data) {
        for rec in &parsed.records {
            assert!(!rec.record.id.trim().is_empty());
            for affected in &rec.record.affected {
                for range in &affected.ranges {
                    assert!(!range.events.is_empty());
                }
            }
        }
    }
});
