#![no_main]
//! Fuzz target: the CycloneDX VEX reader must never panic or overflow the stack, and
//! every mute it produces must compile into a mute set.
use libfuzzer_sys::fuzz_target;
use stella_core::policy::mute::MuteSet;
use stella_core::policy::vex::{VexLimits, cyclonedx};

fuzz_target!(|data: &[u8]| {
    if let Ok(import) = cyclonedx::parse(data, "fuzz", &VexLimits::default()) {
        for mute in &import.mutes {
            assert!(!mute.id.trim().is_empty());
            assert!(mute.provenance.is_some());
        }
        assert!(MuteSet::compile(import.mutes).is_ok());
    }
});
