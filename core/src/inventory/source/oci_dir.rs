//! `oci-dir:PATH[:TAG]`: an OCI image layout (`oci-layout`, `index.json`, `blobs/`).

use std::fs::File;
use std::path::{Path, PathBuf};

use super::oci::{Descriptor, INDEX_TYPES, ManifestOrIndex, choose_platform};
use super::{
    ImageConfig, ImageMetadata, ImageSource, LayerData, LayerInfo, SourceError, VerifyingReader,
    parse_json, read_verified, sha256_hex,
};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Most nested indexes followed from `index.json`.
const MAX_INDEX_DEPTH: usize = 4;

/// An image in an OCI image layout directory.
#[derive(Debug)]
pub struct OciDirSource {
    root: PathBuf,
    metadata: ImageMetadata,
    layers: Vec<LayerInfo>,
}

impl OciDirSource {
    /// Opens the layout at `path`, choosing the manifest tagged `tag` (annotation
    /// `org.opencontainers.image.ref.name`) or the only one, and in an index the
    /// manifest for `platform` (`os/arch[/variant]`).
    pub fn open(
        path: &str,
        tag: Option<&str>,
        platform: &str,
        name: &str,
    ) -> Result<Self, SourceError> {
        let root = PathBuf::from(path);
        let index_path = root.join("index.json");
        let index_file = File::open(&index_path).map_err(|source| SourceError::Io {
            path: index_path.display().to_string(),
            source,
        })?;
        let index: ManifestOrIndex = parse_json(
            &read_verified(index_file, None, "index.json")?,
            "index.json",
        )?;
        let mut candidates = index.manifests.unwrap_or_default();
        if let Some(tag) = tag {
            candidates.retain(|d| d.annotations.get(REF_NAME).map(String::as_str) == Some(tag));
            if candidates.is_empty() {
                return Err(SourceError::NotFound(format!("tag {tag:?} in {path}")));
            }
        }
        let mut depth = 0;
        let (manifest_digest, manifest) = loop {
            let chosen = choose(&candidates, platform, path)?;
            let doc: ManifestOrIndex = parse_json(
                &read_verified(
                    open_blob(&root, &chosen.digest)?,
                    Some(&chosen.digest),
                    &chosen.digest,
                )?,
                &chosen.digest,
            )?;
            let is_index = doc.manifests.is_some()
                || chosen
                    .media_type
                    .as_deref()
                    .or(doc.media_type.as_deref())
                    .is_some_and(|t| INDEX_TYPES.contains(&t));
            if !is_index {
                break (chosen.digest, doc);
            }
            depth += 1;
            if depth > MAX_INDEX_DEPTH {
                return Err(SourceError::Invalid(format!(
                    "{path}: indexes nested deeper than {MAX_INDEX_DEPTH}"
                )));
            }
            candidates = doc.manifests.unwrap_or_default();
        };
        let config_desc = manifest.config.ok_or_else(|| {
            SourceError::Invalid(format!("manifest {manifest_digest}: no config"))
        })?;
        let config: ImageConfig = parse_json(
            &read_verified(
                open_blob(&root, &config_desc.digest)?,
                Some(&config_desc.digest),
                &config_desc.digest,
            )?,
            &config_desc.digest,
        )?;
        let mut layers = Vec::new();
        for d in manifest.layers.unwrap_or_default() {
            sha256_hex(&d.digest)?;
            layers.push(LayerInfo {
                digest: Some(d.digest),
                media_type: d.media_type,
                size: d.size,
            });
        }
        Ok(Self {
            root,
            metadata: ImageMetadata {
                name: name.to_string(),
                manifest_digest: Some(manifest_digest),
                config_digest: Some(config_desc.digest),
                os: config.os,
                arch: config.architecture,
                variant: config.variant,
                diff_ids: config.rootfs.map(|r| r.diff_ids).unwrap_or_default(),
            },
            layers,
        })
    }
}

/// Picks the single candidate, else the one for `platform`.
fn choose(
    candidates: &[Descriptor],
    platform: &str,
    path: &str,
) -> Result<Descriptor, SourceError> {
    match candidates {
        [] => Err(SourceError::NotFound(format!(
            "{path}: index lists no manifest"
        ))),
        [only] => Ok(only.clone()),
        many => match choose_platform(many, platform) {
            Some(one) => Ok(one.clone()),
            None => {
                let tags: Vec<&str> = many
                    .iter()
                    .filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str))
                    .collect();
                Err(SourceError::NotFound(format!(
                    "platform {platform} in {path} (tags: {})",
                    tags.join(", ")
                )))
            }
        },
    }
}

fn open_blob(root: &Path, digest: &str) -> Result<File, SourceError> {
    let hex = sha256_hex(digest)?;
    let path = root.join("blobs").join("sha256").join(hex);
    File::open(&path).map_err(|source| SourceError::Io {
        path: path.display().to_string(),
        source,
    })
}

impl ImageSource for OciDirSource {
    fn metadata(&self) -> &ImageMetadata {
        &self.metadata
    }

    fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    fn open_layer(&self, index: usize) -> Result<LayerData<'_>, SourceError> {
        let info = self.layers.get(index).ok_or(SourceError::NoLayer(index))?;
        let digest = info.digest.clone().unwrap_or_default();
        let file = open_blob(&self.root, &digest)?;
        Ok(LayerData::Tar(Box::new(VerifyingReader {
            inner: std::io::BufReader::new(file),
            hasher: Default::default(),
            expected: digest,
            size: info.size,
            count: 0,
        })))
    }
}
