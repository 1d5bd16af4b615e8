#![no_main]
//! Fuzz target: the KEV catalog reader must never panic, and every entry of a catalog it
//! accepts must be found again by its id, in either case.
use libfuzzer_sys::fuzz_target;
use stella_core::policy::kev::{KevCatalog, KevLimits};

fuzz_target!(|data: &[u8]| {
    if let Ok(kev) = KevCatalog::parse(data, KevLimits::default()) {
        assert!(kev.len() <= KevLimits::default().max_entries);
        for entry in kev.entries() {
            assert!(kev.contains(&entry.cve_id));
            assert!(kev.contains(&entry.cve_id.to_ascii_lowercase()));
        }
    }
});
