//! SBOM model shared by every format: components, purls, dependency edges.

pub mod cyclonedx;
pub mod error;
mod json;
pub mod limits;
pub mod purl;
pub mod spdx;

pub use error::SbomError;
pub use limits::Limits;
pub use purl::{Purl, PurlError};

/// Read an SBOM in whichever supported format it is (CycloneDX or SPDX JSON).
pub fn read_any(bytes: &[u8], limits: &Limits) -> Result<(SbomFormat, Sbom), SbomError> {
    let doc = json::parse(bytes, limits)?;
    let obj = doc.as_object().ok_or(SbomError::UnknownFormat)?;
    if obj.contains_key("bomFormat") {
        Ok((SbomFormat::CycloneDx, cyclonedx::from_value(&doc, limits)?))
    } else if obj.contains_key("spdxVersion") {
        Ok((SbomFormat::Spdx, spdx::from_value(&doc, limits)?))
    } else {
        Err(SbomError::UnknownFormat)
    }
}

impl SbomFormat {
    /// Write `sbom` in this format.
    pub fn write(self, sbom: &Sbom) -> Vec<u8> {
        match self {
            SbomFormat::CycloneDx => cyclonedx::write(sbom),
            SbomFormat::Spdx => spdx::write(sbom),
        }
    }
}

/// Which document format an SBOM was read from (or will be written as).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SbomFormat {
    /// CycloneDX JSON (1.4, 1.5, 1.6).
    CycloneDx,
    /// SPDX 2.3 JSON.
    Spdx,
}

impl SbomFormat {
    /// `cyclonedx` or `spdx`.
    pub fn name(self) -> &'static str {
        match self {
            Self::CycloneDx => "cyclonedx",
            Self::Spdx => "spdx",
        }
    }
}

/// One software bill of materials, independent of its source format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sbom {
    /// Name of the thing described (image reference, project name), when given.
    pub subject: Option<String>,
    /// Every component, in document order.
    pub components: Vec<Component>,
    /// Dependency edges between components, by `bom_ref`.
    pub dependencies: Vec<Dependency>,
}

/// A package found in the subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Component {
    /// Document-local identifier (CycloneDX `bom-ref`, SPDX `SPDXID`).
    pub bom_ref: String,
    /// Package name as the document gives it.
    pub name: String,
    /// Version as the document gives it.
    pub version: Option<String>,
    /// Parsed and normalised package URL.
    pub purl: Option<Purl>,
    /// Digest of the image layer that introduced the component, when known.
    pub layer_digest: Option<String>,
    /// Files that belong to the component, when known.
    pub files: Vec<String>,
    /// SPDX license expression or names, when given.
    pub licenses: Vec<String>,
    /// `bom_ref` of the OS package that owns this component's files (pip's
    /// dist-info installed by `python3-pip`), when known.
    pub owned_by: Option<String>,
}

/// `from` depends on each of `to` (by `bom_ref`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependency {
    /// The depending component.
    pub from: String,
    /// The components it depends on.
    pub to: Vec<String>,
}
