//! Rust crates from the dependency list `cargo auditable` embeds in executables:
//! the `.dep-v0` section holds zlib-compressed JSON,
//! `{"packages":[{"name","version","source","kind","dependencies","root"}]}`
//! (rust-secure-code/cargo-auditable's `auditable-serde` format). `source` is
//! `crates.io`, `registry`, `git`, `local` or another string.

use std::io::Read;

use serde::Deserialize;

use crate::sbom::Purl;

/// The ELF section name.
pub const SECTION: &str = ".dep-v0";
/// Compressed data larger than this is refused (real sections are a few KiB).
pub const MAX_COMPRESSED: usize = 1024 * 1024;
/// Inflated JSON larger than this is refused (a zlib bomb stops here).
pub const MAX_INFLATED: usize = 8 * 1024 * 1024;

/// Why audit data could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditableError {
    /// More compressed bytes than [`MAX_COMPRESSED`].
    #[error("{0} compressed bytes is more than audit data has")]
    TooLarge(usize),
    /// Not valid zlib data.
    #[error("not zlib data: {0}")]
    Inflate(String),
    /// Inflates to more than [`MAX_INFLATED`] bytes.
    #[error("inflates to more than {MAX_INFLATED} bytes")]
    TooLargeInflated,
    /// Not the audit JSON.
    #[error("not cargo-auditable JSON: {0}")]
    Json(String),
}

/// The audit data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VersionInfo {
    /// Every package of the build, in order (dependencies refer to indexes).
    pub packages: Vec<Package>,
}

/// One package of the dependency tree.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Package {
    /// Crate name.
    pub name: String,
    /// Version (SemVer).
    pub version: String,
    /// `crates.io`, `registry`, `git`, `local`, or another source kind.
    pub source: String,
    /// `build` or `runtime` (the default).
    #[serde(default)]
    pub kind: Option<String>,
    /// Indexes of the packages this one depends on.
    #[serde(default)]
    pub dependencies: Vec<usize>,
    /// True for the package the binary was built from.
    #[serde(default)]
    pub root: bool,
}

impl Package {
    /// True for crates that come from a registry or a git repository: those have
    /// advisories. `local` path crates (the project itself) do not.
    pub fn is_published(&self) -> bool {
        matches!(self.source.as_str(), "crates.io" | "registry" | "git")
    }

    /// Its `pkg:cargo` purl.
    pub fn purl(&self) -> Purl {
        Purl {
            ty: "cargo".into(),
            namespace: None,
            name: self.name.clone(),
            version: Some(self.version.clone()),
            qualifiers: Default::default(),
            subpath: None,
        }
    }
}

/// Inflate and parse a `.dep-v0` section.
pub fn decode(compressed: &[u8]) -> Result<VersionInfo, AuditableError> {
    if compressed.len() > MAX_COMPRESSED {
        return Err(AuditableError::TooLarge(compressed.len()));
    }
    let mut json = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|e| AuditableError::Inflate(e.to_string()))?;
    if json.len() > MAX_INFLATED {
        return Err(AuditableError::TooLargeInflated);
    }
    serde_json::from_slice(&json).map_err(|e| AuditableError::Json(e.to_string()))
}

/// The published crates of the audit data: registry and git packages (build
/// dependencies too), the root included only when it is one of those.
pub fn published(info: &VersionInfo) -> impl Iterator<Item = &Package> {
    info.packages
        .iter()
        .filter(|p| p.is_published() && !p.name.is_empty() && !p.version.is_empty())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;

    /// zlib-compress `json`, as cargo-auditable does.
    pub(crate) fn compress(json: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(json).expect("in memory");
        z.finish().expect("in memory")
    }

    #[test]
    fn registry_and_git_crates_not_local_ones() {
        let json = br#"{"packages":[
            {"name":"app","version":"0.1.0","source":"local","dependencies":[1,2,3],"root":true},
            {"name":"regex","version":"1.5.4","source":"crates.io","dependencies":[]},
            {"name":"cc","version":"1.0.0","source":"crates.io","kind":"build"},
            {"name":"forked","version":"0.2.0","source":"git"},
            {"name":"helper","version":"0.0.1","source":"local"}
        ],"format":1}"#;
        let info = decode(&compress(json)).expect("decodes");
        assert_eq!(info.packages.len(), 5);
        let got: Vec<String> = published(&info).map(|p| p.purl().to_string()).collect();
        assert_eq!(
            got,
            [
                "pkg:cargo/regex@1.5.4",
                "pkg:cargo/cc@1.0.0",
                "pkg:cargo/forked@0.2.0"
            ]
        );
    }

    #[test]
    fn bad_and_oversized_data() {
        assert!(matches!(
            decode(b"not zlib"),
            Err(AuditableError::Inflate(_))
        ));
        assert!(matches!(
            decode(&compress(b"{\"pkgs\":[]}")),
            Err(AuditableError::Json(_))
        ));
        // A zlib bomb: 9 MiB of spaces compresses to a few KiB and stops at the bound.
        let bomb = compress(&vec![b' '; MAX_INFLATED + 1024 * 1024]);
        assert!(bomb.len() < MAX_COMPRESSED);
        assert_eq!(decode(&bomb), Err(AuditableError::TooLargeInflated));
        assert_eq!(
            decode(&vec![0; MAX_COMPRESSED + 1]),
            Err(AuditableError::TooLarge(MAX_COMPRESSED + 1))
        );
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1024)) {
            let _ = decode(&bytes);
            let _ = decode(&compress(&bytes));
        }

        #[test]
        fn round_trip(pkgs in proptest::collection::vec(("[a-z][a-z0-9_-]{0,12}", "[0-9]\\.[0-9]{1,2}\\.[0-9]", proptest::sample::select(vec!["crates.io", "registry", "git", "local", "other"])), 0..30)) {
            let list: Vec<serde_json::Value> = pkgs.iter().map(|(n, v, s)| serde_json::json!({"name": n, "version": v, "source": s})).collect();
            let json = serde_json::to_vec(&serde_json::json!({"packages": list})).expect("json");
            let info = decode(&compress(&json)).expect("decodes");
            let got: Vec<(String, String)> = published(&info).map(|p| (p.name.clone(), p.version.clone())).collect();
            let want: Vec<(String, String)> = pkgs.iter().filter(|(_, _, s)| ["crates.io", "registry", "git"].contains(s)).map(|(n, v, _)| (n.clone(), v.clone())).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
