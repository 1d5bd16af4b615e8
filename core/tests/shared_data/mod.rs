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

/// Every file under `dir` (recursively) whose name ends in `suffix`, sorted by path.
/// Not every test that includes this module walks folders.
#[allow(dead_code)]
pub fn files(dir: &std::path::Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = entry.expect("directory entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
