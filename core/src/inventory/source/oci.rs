//! OCI image types shared by the image layout (`oci-dir:`) and registry sources: the
//! descriptor, platform, manifest-or-index documents, and how a platform is chosen
//! from an index.

use std::collections::BTreeMap;

/// Index media types (OCI and Docker's manifest list).
pub(super) const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// An OCI content descriptor (a manifest entry of an index, a config or a layer).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Descriptor {
    /// The content's media type.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The content's digest (`sha256:…`).
    pub digest: String,
    /// The content's size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// Annotations (the layout's tag is `org.opencontainers.image.ref.name`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The platform of an index entry.
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// The platform of an index entry.
#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct Platform {
    /// CPU architecture (`amd64`, `arm64`, …).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`, …).
    #[serde(default)]
    pub os: String,
    /// CPU variant (`v7`, `v8`, …).
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// Does this platform match `wanted` (`os/arch[/variant]`)? Without a wanted
    /// variant any variant matches. arm64's default variant is `v8` (OCI image index
    /// spec, containerd's matcher): `arm64` and `arm64/v8` are the same platform.
    pub fn matches(&self, wanted: &str) -> bool {
        let mut parts = wanted.split('/');
        let os = parts.next().unwrap_or_default();
        let arch = parts.next().unwrap_or_default();
        let variant = parts.next();
        self.os == os
            && self.architecture == arch
            && match variant {
                None => true,
                Some(v) => default_variant(arch, self.variant.as_deref()) == v,
            }
    }
}

/// `variant`, or the architecture's default variant when there is none (arm64: v8).
fn default_variant<'a>(arch: &str, variant: Option<&'a str>) -> &'a str {
    match variant {
        Some(v) => v,
        None if arch == "arm64" => "v8",
        None => "",
    }
}

/// A manifest or an index (told apart by which fields are present).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ManifestOrIndex {
    /// The document's media type, when it names one.
    #[serde(default)]
    pub media_type: Option<String>,
    /// A manifest's config.
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// A manifest's layers.
    #[serde(default)]
    pub layers: Option<Vec<Descriptor>>,
    /// An index's manifests.
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
}

/// The first index entry for `platform` (`os/arch[/variant]`). Several entries can
/// share a platform (attestations do): the first wins.
pub(super) fn choose_platform<'a>(
    entries: &'a [Descriptor],
    platform: &str,
) -> Option<&'a Descriptor> {
    entries
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| p.matches(platform)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plat(os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: None,
            digest: format!("sha256:{os}{arch}{}", variant.unwrap_or_default()),
            size: None,
            annotations: BTreeMap::new(),
            platform: Some(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(Into::into),
            }),
        }
    }

    fn pick(entries: &[Descriptor], p: &str) -> Option<String> {
        choose_platform(entries, p).map(|d| d.digest.clone())
    }

    #[test]
    fn arm64_without_variant_is_v8() {
        // The index lists arm64 without a variant; the user asks for v8.
        let bare = vec![plat("linux", "amd64", None), plat("linux", "arm64", None)];
        assert_eq!(
            pick(&bare, "linux/arm64/v8").as_deref(),
            Some("sha256:linuxarm64")
        );
        assert_eq!(
            pick(&bare, "linux/arm64").as_deref(),
            Some("sha256:linuxarm64")
        );
        // The index lists arm64/v8; the user asks for plain arm64, or v8.
        let v8 = vec![
            plat("linux", "amd64", None),
            plat("linux", "arm64", Some("v8")),
        ];
        assert_eq!(
            pick(&v8, "linux/arm64").as_deref(),
            Some("sha256:linuxarm64v8")
        );
        assert_eq!(
            pick(&v8, "linux/arm64/v8").as_deref(),
            Some("sha256:linuxarm64v8")
        );
        // Another arm64 variant is not v8.
        let v9 = vec![plat("linux", "arm64", Some("v9"))];
        assert_eq!(pick(&v9, "linux/arm64/v8"), None);
        assert_eq!(pick(&bare, "linux/arm64/v9"), None);
    }

    #[test]
    fn other_platforms_match_exactly() {
        let entries = vec![
            plat("linux", "amd64", None),
            plat("linux", "arm", Some("v7")),
            plat("unknown", "unknown", None),
            plat("linux", "amd64", Some("v2")),
        ];
        assert_eq!(
            pick(&entries, "linux/amd64").as_deref(),
            Some("sha256:linuxamd64")
        );
        assert_eq!(
            pick(&entries, "linux/arm/v7").as_deref(),
            Some("sha256:linuxarmv7")
        );
        // Without a wanted variant any variant matches.
        assert_eq!(
            pick(&entries, "linux/arm").as_deref(),
            Some("sha256:linuxarmv7")
        );
        // The default variant rule is arm64's only.
        assert_eq!(pick(&entries, "linux/arm/v6"), None);
        assert_eq!(
            pick(&entries, "linux/amd64/v2").as_deref(),
            Some("sha256:linuxamd64v2")
        );
        assert_eq!(pick(&entries, "windows/amd64"), None);
        assert_eq!(pick(&[], "linux/amd64"), None);
        let p = entries[1].platform.as_ref().unwrap();
        assert_eq!(p.to_string(), "linux/arm/v7");
    }
}
