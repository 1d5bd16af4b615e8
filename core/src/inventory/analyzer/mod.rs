//! Analyzers: one per package database or manifest format, each a pure function
//! of the files it asked for. They never touch the file system themselves.

pub mod apk;
pub mod bdb;
pub mod cargo_lock;
pub mod dpkg;
pub mod npm;
pub mod os_release;
pub mod python;
pub mod rpm;

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

/// A package database or manifest reader.
pub trait Analyzer: Send + Sync + std::fmt::Debug {
    /// Short name (`dpkg`, `python`, ...).
    fn name(&self) -> &'static str;
    /// True for the paths (relative, no leading `/`) whose contents this analyzer needs.
    fn wants(&self, path: &str) -> bool;
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
    ]
}
