//! Running the `stella` binary on the shipped demo data, shared by the CLI test files.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `stella` with `args`, without `STELLA_DB` and colour.
pub fn stella(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stella"))
        .args(args)
        .env_remove("STELLA_DB")
        .env("NO_COLOR", "1")
        .output()
        .expect("run stella")
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Imports `data/demo/advisories` into a new DB under `dir`; returns its path.
pub fn demo_db(dir: &Path) -> String {
    let db = dir.join("adv.db").display().to_string();
    let advisories = repo().join("data/demo/advisories").display().to_string();
    let out = stella(&["db", "import", "--db", &db, "--output", "json", &advisories]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

/// The demo SBOM's path.
pub fn demo_sbom() -> String {
    repo().join("data/demo/sbom.cdx.json").display().to_string()
}

/// Stdout parsed as JSON, or a panic showing it.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `rel` (relative to the repository root) as a string argument.
pub fn path(rel: &str) -> String {
    repo().join(rel).display().to_string()
}
