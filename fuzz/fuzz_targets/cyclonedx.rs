#![no_main]
//! Fuzz target: the cyclonedx reader must never panic; whatever it accepts must survive
//! write then read unchanged, and the writer must be deterministic.
use libfuzzer_sys::fuzz_target;
use stella_core::sbom::{Limits, cyclonedx};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(sbom) = cyclonedx::read(data, &limits) {
        let out = cyclonedx::write(&sbom);
        let again = cyclonedx::read(&out, &limits).expect("written document must read back");
        assert_eq!(
            cyclonedx::write(&again),
            out,
            "write(read(write(s))) != write(s)"
        );
    }
});
