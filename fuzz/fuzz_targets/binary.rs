#![no_main]
//! Fuzz target: any bytes, offered as an executable to the binary analyzer's
//! `reduce` (ELF, Go build info, cargo-auditable sections) and as evidence to
//! its `analyze`, must give packages or per-file errors, never a panic.
use libfuzzer_sys::fuzz_target;
use stella_core::inventory::FileEntry;
use stella_core::inventory::analyzer::binary::{BinaryAnalyzer, EVIDENCE_MAGIC};
use stella_core::inventory::analyzer::{Analyzer, Reduced};

fn analyze(contents: Vec<u8>) {
    let entry = FileEntry {
        path: "usr/bin/fuzz".into(),
        contents,
        layer_digest: Some("sha256:fuzz".into()),
    };
    if BinaryAnalyzer.accepts(&entry) {
        let _ = BinaryAnalyzer.analyze(&[&entry], None);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Reduced::Evidence(ev) = BinaryAnalyzer.reduce("usr/bin/fuzz", data) {
        analyze(ev);
    }
    // The same bytes as evidence records (the magic is hard to guess).
    let mut ev = EVIDENCE_MAGIC.to_vec();
    ev.extend_from_slice(data.strip_prefix(EVIDENCE_MAGIC.as_slice()).unwrap_or(data));
    analyze(ev);
});
