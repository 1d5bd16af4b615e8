#![no_main]
//! Fuzz target: the OSV JSON reader must never panic, overflow the stack or run away;
//! records it accepts are then assessed, which scores every CVSS vector they carry.
use libfuzzer_sys::fuzz_target;
use stella_core::advisory::osv::{OsvLimits, parse_json};
use stella_core::advisory::severity::assess;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = parse_json(data, &OsvLimits::default()) {
        assert!(!record.id.trim().is_empty());
        for affected in &record.affected {
            let assessment = assess(&record, affected);
            if let Some(cvss) = assessment.cvss {
                assert!((0.0..=10.0).contains(&cvss.score));
            }
        }
    }
});
