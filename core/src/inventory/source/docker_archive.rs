//! `docker-archive:FILE[:REF]`: a tar as `docker save` or skopeo write it.
//! `manifest.json` lists each image's config and layer files inside the tar.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use super::{
    ImageConfig, ImageMetadata, ImageSource, LayerData, LayerInfo, SourceError, VerifyingReader,
    parse_json, read_verified, sha256_hex,
};

/// Most entries in the outer tar.
const MAX_ENTRIES: u64 = 100_000;
/// Most link hops when a member is a link to another (newer `docker save`).
const MAX_MEMBER_HOPS: usize = 8;

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Debug, Clone)]
enum Member {
    Data { offset: u64, size: u64 },
    Link(String),
}

/// An image in a `docker save` archive.
#[derive(Debug)]
pub struct DockerArchiveSource {
    file: PathBuf,
    members: BTreeMap<String, Member>,
    layer_paths: Vec<String>,
    metadata: ImageMetadata,
    layers: Vec<LayerInfo>,
}

fn normalise(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

impl DockerArchiveSource {
    /// Opens the archive at `path`; with several images in it, `reference` (a repo
    /// tag) picks one.
    pub fn open(path: &str, reference: Option<&str>, name: &str) -> Result<Self, SourceError> {
        let file = PathBuf::from(path);
        let io_err = |source| SourceError::Io {
            path: path.to_string(),
            source,
        };
        let handle = File::open(&file).map_err(io_err)?;
        let mut archive = tar::Archive::new(handle);
        let mut members = BTreeMap::new();
        let mut count = 0u64;
        for entry in archive.entries_with_seek().map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            count += 1;
            if count > MAX_ENTRIES {
                return Err(SourceError::Invalid(format!(
                    "{path}: more than {MAX_ENTRIES} entries"
                )));
            }
            let member_path = normalise(&String::from_utf8_lossy(&entry.path_bytes()));
            let kind = entry.header().entry_type();
            let member = if kind.is_symlink() || kind.is_hard_link() {
                let target = String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default())
                    .into_owned();
                // Symlink targets are relative to the link's directory; hard-link
                // targets to the archive root.
                let target = if kind.is_symlink() {
                    match member_path.rsplit_once('/') {
                        Some((dir, _)) if !target.starts_with('/') => format!("{dir}/{target}"),
                        _ => target,
                    }
                } else {
                    target
                };
                Member::Link(resolve_dots(&target))
            } else if kind.is_file() {
                Member::Data {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                }
            } else {
                continue;
            };
            members.insert(member_path, member);
        }
        let mut this = Self {
            file,
            members,
            layer_paths: Vec::new(),
            metadata: ImageMetadata::default(),
            layers: Vec::new(),
        };
        let manifest_bytes = read_verified(this.member("manifest.json")?, None, "manifest.json")?;
        let manifests: Vec<ManifestEntry> = parse_json(&manifest_bytes, "manifest.json")?;
        let chosen = match (reference, manifests.as_slice()) {
            (None, [only]) => only,
            (None, []) => return Err(SourceError::NotFound(format!("{path}: no image"))),
            (None, _) => {
                return Err(SourceError::Invalid(format!(
                    "{path}: several images, name one as docker-archive:FILE:REF"
                )));
            }
            (Some(r), all) => all
                .iter()
                .find(|m| m.repo_tags.iter().flatten().any(|t| t == r))
                .ok_or_else(|| SourceError::NotFound(format!("{r} in {path}")))?,
        };
        let config_bytes = read_verified(this.member(&chosen.config)?, None, &chosen.config)?;
        let config: ImageConfig = parse_json(&config_bytes, &chosen.config)?;
        let diff_ids = config.rootfs.map(|r| r.diff_ids).unwrap_or_default();
        let config_digest = format!(
            "sha256:{}",
            super::hex(&<sha2::Sha256 as sha2::Digest>::digest(&config_bytes))
        );
        for (i, layer_path) in chosen.layers.iter().enumerate() {
            let diff_id = diff_ids.get(i).cloned();
            this.layers.push(LayerInfo {
                digest: diff_id.or_else(|| blob_digest(layer_path)),
                media_type: None,
                size: None,
            });
            this.layer_paths.push(normalise(layer_path));
        }
        this.metadata = ImageMetadata {
            name: chosen
                .repo_tags
                .iter()
                .flatten()
                .next()
                .cloned()
                .unwrap_or_else(|| name.to_string()),
            manifest_digest: None,
            config_digest: Some(config_digest),
            os: config.os,
            arch: config.architecture,
            variant: config.variant,
            diff_ids,
        };
        Ok(this)
    }

    /// Opens a member of the outer tar, following links between members.
    fn member(&self, path: &str) -> Result<std::io::Take<File>, SourceError> {
        let mut current = normalise(path);
        for _ in 0..MAX_MEMBER_HOPS {
            match self.members.get(&current) {
                Some(Member::Data { offset, size }) => {
                    let io_err = |source| SourceError::Io {
                        path: format!("{}:{current}", self.file.display()),
                        source,
                    };
                    let mut f = File::open(&self.file).map_err(io_err)?;
                    f.seek(SeekFrom::Start(*offset)).map_err(io_err)?;
                    return Ok(f.take(*size));
                }
                Some(Member::Link(target)) => current = target.clone(),
                None => break,
            }
        }
        Err(SourceError::NotFound(format!(
            "{path} in {}",
            self.file.display()
        )))
    }
}

/// `blobs/sha256/<hex>` member paths (OCI-style `docker save`) name their digest.
fn blob_digest(path: &str) -> Option<String> {
    let hex = normalise(path).strip_prefix("blobs/sha256/")?.to_string();
    let digest = format!("sha256:{hex}");
    sha256_hex(&digest).ok()?;
    Some(digest)
}

fn resolve_dots(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

impl ImageSource for DockerArchiveSource {
    fn metadata(&self) -> &ImageMetadata {
        &self.metadata
    }

    fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    fn open_layer(&self, index: usize) -> Result<LayerData<'_>, SourceError> {
        let path = self
            .layer_paths
            .get(index)
            .ok_or(SourceError::NoLayer(index))?;
        let mut reader = self.member(path)?;
        // A blob path names the digest of the stored bytes; otherwise the diff_id
        // (digest of the uncompressed tar) checks the member when it is stored
        // uncompressed, as `docker save` and skopeo store it. A compressed member
        // without a blob path is read unverified.
        let mut head = [0u8; 4];
        let mut got = 0;
        while got < head.len() {
            match reader.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(SourceError::Io {
                        path: format!("{}:{path}", self.file.display()),
                        source,
                    });
                }
            }
        }
        let head = head.get(..got).unwrap_or_default().to_vec();
        let compressed =
            head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        let expected = blob_digest(path).or_else(|| {
            if compressed {
                None
            } else {
                self.metadata.diff_ids.get(index).cloned()
            }
        });
        let stream = std::io::BufReader::new(std::io::Cursor::new(head).chain(reader));
        match expected {
            Some(expected) if sha256_hex(&expected).is_ok() => {
                Ok(LayerData::Tar(Box::new(VerifyingReader {
                    inner: stream,
                    hasher: Default::default(),
                    expected,
                    size: None,
                    count: 0,
                })))
            }
            _ => Ok(LayerData::Tar(Box::new(stream))),
        }
    }
}
