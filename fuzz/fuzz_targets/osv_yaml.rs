#![no_main]
//! Fuzz target: osv_yaml (filled in by its owner).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|_data: &[u8]| {});
