//! Where the real test data lives: `STELLA_SHARED_DIR`, else `shared/` beside the
//! clone (as CI lays it out). Tests fail loudly when it is missing.

use std::path::PathBuf;

/// The shared data folder (`feeds-sample/`, `oracle/`).
pub fn dir() -> PathBuf {
    let dir = std::env::var_os("STELLA_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    assert!(
        dir.join("feeds-sample").is_dir() && dir.join("oracle/cases-dev.jsonl").is_file(),
        "shared data not found at {} (set STELLA_SHARED_DIR)",
        dir.display()
    );
    dir
}
