//! Rust crates from `Cargo.lock` (lock file versions 1–4): every `[[package]]`
//! that comes from a registry or a git repository. Workspace members (no
//! `source`) are the project itself, not its dependencies.

use serde::Deserialize;

use super::{Analysis, Analyzer};
use crate::inventory::{FileEntry, FoundPackage, OsRelease};
use crate::sbom::Purl;

/// Lock files larger than this are refused (real ones are well under 1 MiB).
const MAX_LOCK_BYTES: usize = 16 * 1024 * 1024;

/// Reads `Cargo.lock` files.
#[derive(Debug, Default, Clone, Copy)]
pub struct CargoLockAnalyzer;

#[derive(Debug, Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Debug, Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    source: Option<String>,
}

impl Analyzer for CargoLockAnalyzer {
    fn name(&self) -> &'static str {
        "cargo"
    }

    fn wants(&self, path: &str) -> bool {
        path == "Cargo.lock" || path.ends_with("/Cargo.lock")
    }

    fn analyze(&self, files: &[&FileEntry], _os: Option<&OsRelease>) -> Analysis {
        Analysis::per_file("cargo", files, parse)
    }
}

fn parse(f: &FileEntry) -> Result<Vec<FoundPackage>, String> {
    if f.contents.len() > MAX_LOCK_BYTES {
        return Err(format!("larger than {MAX_LOCK_BYTES} bytes"));
    }
    let text = std::str::from_utf8(&f.contents).map_err(|e| format!("not UTF-8: {e}"))?;
    let lock: Lock = toml::from_str(text).map_err(|e| format!("not a Cargo.lock: {e}"))?;
    Ok(lock
        .package
        .into_iter()
        .filter(|p| p.source.is_some() && !p.name.is_empty() && !p.version.is_empty())
        .map(|p| FoundPackage {
            purl: Purl {
                ty: "cargo".into(),
                namespace: None,
                name: p.name.clone(),
                version: Some(p.version.clone()),
                qualifiers: Default::default(),
                subpath: None,
            },
            name: p.name,
            version: p.version,
            files: vec![f.path.clone()],
            layer_digest: f.layer_digest.clone(),
            licenses: Vec::new(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, bytes: &[u8]) -> FileEntry {
        FileEntry::new(path, bytes, Some("sha256:l6"))
    }

    #[test]
    fn reads_this_repositorys_own_lock_file() {
        let lock = include_str!("../../../../Cargo.lock");
        let e = entry("src/app/Cargo.lock", lock.as_bytes());
        assert!(CargoLockAnalyzer.wants(&e.path));
        let out = CargoLockAnalyzer.analyze(&[&e], None);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let registry = lock.matches("\nsource = \"registry+").count();
        assert_eq!(out.packages.len(), registry);
        let serde = out
            .packages
            .iter()
            .find(|p| p.name == "serde")
            .expect("serde is locked");
        assert!(serde.purl.to_string().starts_with("pkg:cargo/serde@1."));
        // Workspace members are the project, not dependencies.
        assert!(!out.packages.iter().any(|p| p.name == "stella-core"));
    }

    #[test]
    fn version_1_lock_files_and_bad_ones() {
        let v1 = b"[[package]]\nname = \"smallvec\"\nversion = \"0.6.9\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[metadata]\n\"checksum smallvec 0.6.9 (registry+https://github.com/rust-lang/crates.io-index)\" = \"abc\"\n";
        let out = CargoLockAnalyzer.analyze(&[&entry("Cargo.lock", v1)], None);
        assert_eq!(out.packages[0].purl.to_string(), "pkg:cargo/smallvec@0.6.9");
        let bad = CargoLockAnalyzer.analyze(&[&entry("Cargo.lock", b"[[package]\nname=")], None);
        assert!(bad.packages.is_empty() && bad.errors.len() == 1);
        assert!(!CargoLockAnalyzer.wants("src/Cargo.lock.orig"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let _ = CargoLockAnalyzer.analyze(&[&entry("Cargo.lock", &bytes)], None);
        }
    }
}
