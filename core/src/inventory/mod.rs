//! Image inventory (the SBOM builder): read an image's layers into its final file
//! system view, hand the files analyzers ask for to them, and turn what they find
//! into SBOM components that carry the digest of the layer that introduced them.

pub mod analyzer;
pub mod builder;
pub mod cache;
pub mod compose;
pub mod layer_tar;
pub mod source;

use crate::sbom::Purl;

/// A file of the image's final file system, as an analyzer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the root, `/`-separated, normalised, no leading `/`
    /// (`var/lib/dpkg/status`).
    pub path: String,
    /// The file's bytes (bounded by the layer reader's per-file limit).
    pub contents: Vec<u8>,
    /// Digest of the layer whose version of the file is the final one.
    pub layer_digest: Option<String>,
}

impl FileEntry {
    /// A file with these contents, last written by layer `layer`.
    pub fn new(path: impl Into<String>, contents: impl Into<Vec<u8>>, layer: Option<&str>) -> Self {
        Self {
            path: path.into(),
            contents: contents.into(),
            layer_digest: layer.map(str::to_string),
        }
    }
}

/// The distribution the image is built on (`/etc/os-release` and friends).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `ID` (`debian`, `alpine`, `rhel`, `ubuntu`, ...).
    pub id: String,
    /// `VERSION_ID` (`12`, `3.19.1`, `22.04`, `9.3`).
    pub version_id: Option<String>,
    /// `VERSION_CODENAME` (`bookworm`).
    pub version_codename: Option<String>,
    /// `PRETTY_NAME`.
    pub pretty_name: Option<String>,
}

/// A package an analyzer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundPackage {
    /// Package URL, with the distro qualifier for OS packages.
    pub purl: Purl,
    /// Name as the package database spells it.
    pub name: String,
    /// Version as the package database spells it (with epoch / revision for OS packages).
    pub version: String,
    /// Files that are evidence of the package (its database entry, its manifest),
    /// and for OS packages the files it owns when the database lists them.
    pub files: Vec<String>,
    /// Digest of the layer whose file revealed the package.
    pub layer_digest: Option<String>,
    /// License names or SPDX expressions, as declared.
    pub licenses: Vec<String>,
}
