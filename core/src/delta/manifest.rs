//! The layer manifest a builder posts to `/api/v1/scan` instead of an SBOM: the
//! image's layer digests, bottom first, and the analyzer selection its fragments
//! were read with. The server composes the image SBOM from the stored fragments.
//!
//! ```json
//! {"schema": "stella.layer-manifest/v1",
//!  "image": {"name": "registry.example/app:1", "digest": "sha256:…", "platform": "linux/amd64"},
//!  "selection": "…",
//!  "layers": ["sha256:…", "sha256:…"]}
//! ```

use serde::{Deserialize, Serialize};

/// The `schema` value of this manifest version.
pub const SCHEMA: &str = "stella.layer-manifest/v1";

/// What every layer-manifest `schema` value starts with, whatever its version.
const SCHEMA_FAMILY: &str = "stella.layer-manifest/";

/// Most digests in one manifest or one `layers/missing` request (real images stay
/// far below; the OCI spec recommends at most 127 layers).
pub const MAX_LAYERS: usize = 512;

/// An image described by its layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerManifest {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The image the layers make up.
    pub image: ManifestImage,
    /// The analyzer selection id the fragments were read with.
    pub selection: String,
    /// Layer digests, bottom first (a digest may repeat, as in real images).
    pub layers: Vec<String>,
}

/// The image a manifest describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestImage {
    /// Its name or reference (the SBOM's subject).
    pub name: String,
    /// Digest of the image manifest, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `os/arch[/variant]`, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// Bounds on a manifest from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestLimits {
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Most layers.
    pub max_layers: usize,
    /// Longest image name.
    pub max_name_bytes: usize,
    /// Longest selection id.
    pub max_selection_bytes: usize,
}

impl Default for ManifestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 << 10,
            max_layers: MAX_LAYERS,
            max_name_bytes: 1024,
            max_selection_bytes: super::fragment::MAX_SELECTION_BYTES,
        }
    }
}

/// Why a digest string is not a layer digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {shown:?}: expected sha256: and 64 lowercase hex digits")]
pub struct DigestError {
    /// The digest as given, cut to 80 characters.
    pub shown: String,
}

/// Why a manifest (or a digest list) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The body exceeds `max_body_bytes`.
    #[error("layer manifest of {size} bytes exceeds {limit}")]
    TooLarge {
        /// Body size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The body is not a JSON layer manifest.
    #[error("layer manifest: {0}")]
    Json(String),
    /// The `schema` is not [`SCHEMA`].
    #[error("unsupported layer manifest schema {0:?} (expected {SCHEMA:?})")]
    Schema(String),
    /// More layers (or digests) than allowed.
    #[error("{count} layers exceed the limit {limit}")]
    TooManyLayers {
        /// Layers given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// No layers at all.
    #[error("layer manifest lists no layers")]
    NoLayers,
    /// A layer digest is malformed.
    #[error("layer {index}: {error}")]
    Layer {
        /// Position in the list.
        index: usize,
        /// What is wrong.
        error: DigestError,
    },
    /// Another field is malformed.
    #[error("layer manifest {field}: {reason}")]
    Field {
        /// The field (`image.name`, `image.digest`, `image.platform`, `selection`).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Checks `digest` is `sha256:` followed by exactly 64 lowercase hex digits.
pub fn validate_digest(digest: &str) -> Result<(), DigestError> {
    let ok = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if ok {
        Ok(())
    } else {
        Err(DigestError {
            shown: digest.chars().take(80).collect(),
        })
    }
}

/// Checks a list of layer digests from outside (a `layers/missing` body): at most
/// [`MAX_LAYERS`], each valid.
pub fn validate_digests(digests: &[String]) -> Result<(), ManifestError> {
    if digests.len() > MAX_LAYERS {
        return Err(ManifestError::TooManyLayers {
            count: digests.len(),
            limit: MAX_LAYERS,
        });
    }
    for (index, d) in digests.iter().enumerate() {
        validate_digest(d).map_err(|error| ManifestError::Layer { index, error })?;
    }
    Ok(())
}

/// True when a JSON document is a layer manifest (of any version) by its `schema`
/// field, so `POST /scan` can tell it from a CycloneDX or SPDX SBOM.
pub fn is_layer_manifest(json: &serde_json::Value) -> bool {
    json.get("schema")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|s| s.starts_with(SCHEMA_FAMILY))
}

impl LayerManifest {
    /// A manifest of these layers.
    pub fn new(image: ManifestImage, selection: impl Into<String>, layers: Vec<String>) -> Self {
        Self {
            schema: SCHEMA.to_string(),
            image,
            selection: selection.into(),
            layers,
        }
    }

    /// Parses and validates a manifest from outside.
    pub fn parse(bytes: &[u8], limits: &ManifestLimits) -> Result<Self, ManifestError> {
        if bytes.len() > limits.max_body_bytes {
            return Err(ManifestError::TooLarge {
                size: bytes.len(),
                limit: limits.max_body_bytes,
            });
        }
        let manifest: Self =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        manifest.validate(limits)?;
        Ok(manifest)
    }

    /// [`LayerManifest::parse`] for a JSON value already parsed (e.g. after
    /// [`is_layer_manifest`]); the body size was the caller's to bound.
    pub fn from_value(
        json: serde_json::Value,
        limits: &ManifestLimits,
    ) -> Result<Self, ManifestError> {
        let manifest: Self =
            serde_json::from_value(json).map_err(|e| ManifestError::Json(e.to_string()))?;
        manifest.validate(limits)?;
        Ok(manifest)
    }

    /// Checks every field against the schema and `limits`.
    pub fn validate(&self, limits: &ManifestLimits) -> Result<(), ManifestError> {
        if self.schema != SCHEMA {
            return Err(ManifestError::Schema(
                self.schema.chars().take(80).collect(),
            ));
        }
        let field = |field, reason: String| Err(ManifestError::Field { field, reason });
        let name = &self.image.name;
        if name.is_empty() {
            return field("image.name", "empty".to_string());
        }
        if name.len() > limits.max_name_bytes {
            return field(
                "image.name",
                format!("{} bytes exceed {}", name.len(), limits.max_name_bytes),
            );
        }
        if name.chars().any(char::is_control) {
            return field("image.name", "contains control characters".to_string());
        }
        if let Some(d) = &self.image.digest {
            validate_digest(d).map_err(|e| ManifestError::Field {
                field: "image.digest",
                reason: e.to_string(),
            })?;
        }
        if let Some(p) = &self.image.platform
            && !valid_platform(p)
        {
            return field(
                "image.platform",
                format!(
                    "{:?} is not os/arch[/variant]",
                    p.chars().take(80).collect::<String>()
                ),
            );
        }
        if self.selection.is_empty() || self.selection.len() > limits.max_selection_bytes {
            return field(
                "selection",
                format!(
                    "must be 1 to {} bytes, got {}",
                    limits.max_selection_bytes,
                    self.selection.len()
                ),
            );
        }
        if self.layers.is_empty() {
            return Err(ManifestError::NoLayers);
        }
        if self.layers.len() > limits.max_layers {
            return Err(ManifestError::TooManyLayers {
                count: self.layers.len(),
                limit: limits.max_layers,
            });
        }
        for (index, d) in self.layers.iter().enumerate() {
            validate_digest(d).map_err(|error| ManifestError::Layer { index, error })?;
        }
        Ok(())
    }

    /// The layer digests without repeats, in first-seen order.
    pub fn unique_layers(&self) -> Vec<String> {
        let mut seen = std::collections::BTreeSet::new();
        self.layers
            .iter()
            .filter(|d| seen.insert(d.as_str()))
            .cloned()
            .collect()
    }

    /// The manifest as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Strings and lists only: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// `os/arch[/variant]`, each part 1-64 of `[a-z0-9._-]`.
pub(crate) fn valid_platform(p: &str) -> bool {
    let parts: Vec<&str> = p.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|part| {
            !part.is_empty()
                && part.len() <= 64
                && part
                    .bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
        })
}
