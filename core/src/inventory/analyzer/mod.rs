//! Analyzers: one per package database or manifest format, each a pure function
//! of the files it asked for. They never touch the file system themselves.

pub mod apk;
pub mod bdb;
pub mod binary;
pub mod cargo_auditable;
pub mod cargo_lock;
pub mod composer;
pub mod dotnet;
pub mod dpkg;
pub mod elf;
pub mod go_binary;
pub mod java;
pub mod npm;
pub mod os_release;
pub mod python;
pub mod rpm;
pub mod ruby;

use super::{FileEntry, FoundPackage, OsRelease};

/// Why an analyzer could not read a file (the scan goes on without it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{analyzer}: {path}: {reason}")]
pub struct AnalyzerError {
    /// The analyzer's name.
    pub analyzer: &'static str,
    /// The file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// What analyzers return: packages found, and files that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Packages found.
    pub packages: Vec<FoundPackage>,
    /// Files skipped, with why.
    pub errors: Vec<AnalyzerError>,
}

/// What the layer reader keeps of a file an analyzer wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reduced {
    /// The whole file.
    Whole,
    /// Only this evidence (what `analyze` will parse), e.g. the manifests inside a
    /// jar or the build-info sections of a binary.
    Evidence(Vec<u8>),
    /// Nothing: the file holds nothing this analyzer reads.
    Nothing,
}

impl Analysis {
    /// Runs `parse` on each file: its packages are kept, its error is listed under
    /// `analyzer` with the file's path, and the other files are still read.
    pub fn per_file(
        analyzer: &'static str,
        files: &[&FileEntry],
        parse: impl Fn(&FileEntry) -> Result<Vec<FoundPackage>, String>,
    ) -> Self {
        let mut out = Self::default();
        for f in files {
            match parse(f) {
                Ok(pkgs) => out.packages.extend(pkgs),
                Err(reason) => out.errors.push(AnalyzerError {
                    analyzer,
                    path: f.path.clone(),
                    reason,
                }),
            }
        }
        out
    }
}

/// A package database or manifest reader.
pub trait Analyzer: Send + Sync + std::fmt::Debug {
    /// Short name (`dpkg`, `python`, ...).
    fn name(&self) -> &'static str;
    /// True for the paths (relative, no leading `/`) whose contents this analyzer needs.
    fn wants(&self, path: &str) -> bool;
    /// True when this analyzer also wants every executable (a regular file with an
    /// execute bit that starts with the ELF magic), whatever its path; the layer
    /// reader hands such files to [`Analyzer::reduce`].
    fn wants_executables(&self) -> bool {
        false
    }
    /// True when [`Analyzer::reduce`] shrinks files: the layer reader then reads
    /// wanted files up to `LayerLimits::max_reduce_bytes` (not `max_file_bytes`),
    /// since only the evidence is kept.
    fn reduces(&self) -> bool {
        false
    }
    /// Called by the layer reader, at read time, with the bytes of a file this
    /// analyzer wants; returns what to keep. Analyzers of large files keep only the
    /// evidence they parse later, so archives and binaries are never held whole.
    fn reduce(&self, _path: &str, _bytes: &[u8]) -> Reduced {
        Reduced::Whole
    }
    /// True for the kept files this analyzer reads: by default those whose path it
    /// wants. Analyzers of executables recognise their evidence instead.
    fn accepts(&self, file: &FileEntry) -> bool {
        self.wants(&file.path)
    }
    /// Read the wanted files of one image. `os` is the detected distribution, for
    /// purl `distro` qualifiers.
    fn analyze(&self, files: &[&FileEntry], os: Option<&OsRelease>) -> Analysis;
}

/// Every analyzer StellaOps has, in a fixed order.
pub fn all() -> Vec<Box<dyn Analyzer>> {
    vec![
        Box::new(dpkg::DpkgAnalyzer),
        Box::new(apk::ApkAnalyzer),
        Box::new(rpm::RpmAnalyzer),
        Box::new(python::PythonAnalyzer),
        Box::new(npm::NpmAnalyzer),
        Box::new(cargo_lock::CargoLockAnalyzer),
        Box::new(java::JavaAnalyzer),
        Box::new(ruby::RubyAnalyzer),
        Box::new(composer::ComposerAnalyzer),
        Box::new(dotnet::DotnetAnalyzer),
        Box::new(binary::BinaryAnalyzer),
    ]
}
