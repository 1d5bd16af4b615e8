#![no_main]
//! Fuzz target: the spdx reader must never panic; whatever it accepts must survive
//! write then read unchanged, and the writer must be deterministic.
use libfuzzer_sys::fuzz_target;
use stella_core::sbom::{Limits, spdx};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(sbom) = spdx::read(data, &limits) {
        let out = spdx::write(&sbom);
        let again = spdx::read(&out, &limits).expect("written document must read back");
        assert_eq!(
            spdx::write(&again),
            out,
            "write(read(write(s))) != write(s)"
        );
    }
});
