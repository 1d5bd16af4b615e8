//! Where the real test data lives: `testdata/` at the root of the repository (real
//! advisories and the oracle cases; `testdata/README.md` says where they come from).
//! Shared by the integration tests, the benches and the crate's own unit tests.

use std::path::{Path, PathBuf};

/// The repository's test data folder (`feeds-sample/`, `oracle/`).
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// Every file under `dir` (recursively) whose name ends in `suffix`, sorted by path.
/// Not every test that includes this module walks folders.
#[allow(dead_code)]
pub fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
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
