//! Image sources: where layers come from. `oci-dir:PATH[:TAG]` (an OCI image layout),
//! `docker-archive:FILE` (what `docker save` / skopeo write), `dir:PATH` (a plain
//! root file system) and `registry:REF` or a bare image reference (pulled from a
//! registry). Each yields its layers bottom first, plus image metadata.
//!
//! Reported layer digests: for an OCI layout and a registry, the digest of the blob
//! as stored (usually compressed); for a docker archive, the config's
//! `diff_id` (digest of the uncompressed tar, which is what `docker save` stores);
//! for `dir:`, none.

mod dir;
mod docker_archive;
mod oci;
mod oci_dir;
mod registry;

use crate::hex::encode as hex;
use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::layer_tar::{FileSystem, LayerError, LayerLimits, LayerStats};

pub use dir::DirSource;
pub use docker_archive::DockerArchiveSource;
pub use oci_dir::OciDirSource;
pub use registry::{
    Credentials, DOCKER_HUB, ImageReference, Insecure, ReferenceError, RegistryOptions,
    RegistrySource, credentials_from_docker_config, docker_config_path,
};

/// Default platform picked from a multi-platform image.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

/// What is known about the image as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageMetadata {
    /// The source string or reference the image was opened from.
    pub name: String,
    /// Digest of the image manifest, when there is one.
    pub manifest_digest: Option<String>,
    /// Digest of the image config blob.
    pub config_digest: Option<String>,
    /// `os` from the config.
    pub os: Option<String>,
    /// `architecture` from the config.
    pub arch: Option<String>,
    /// `variant` from the config.
    pub variant: Option<String>,
    /// `rootfs.diff_ids` from the config (digests of the uncompressed layers).
    pub diff_ids: Vec<String>,
}

/// One layer as the source lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// The digest reported for the layer (see the module docs), if any.
    pub digest: Option<String>,
    /// Media type, when the source declares one.
    pub media_type: Option<String>,
    /// Size of the blob as stored, when declared.
    pub size: Option<u64>,
}

/// A layer's data: a tar stream (maybe compressed) or a directory tree.
pub enum LayerData<'a> {
    /// A tar blob; when the source knows the blob's digest, the reader fails at its
    /// end if the bytes do not match it.
    Tar(Box<dyn Read + 'a>),
    /// A plain directory holding the root file system.
    Dir(PathBuf),
}

impl std::fmt::Debug for LayerData<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tar(_) => f.write_str("LayerData::Tar(..)"),
            Self::Dir(p) => f.debug_tuple("LayerData::Dir").field(p).finish(),
        }
    }
}

/// A container image whose layers can be read in order.
pub trait ImageSource: std::fmt::Debug + Send + Sync {
    /// Image metadata.
    fn metadata(&self) -> &ImageMetadata;
    /// The layers, bottom first.
    fn layers(&self) -> &[LayerInfo];
    /// Opens layer `index` (0 = bottom). May be called more than once.
    fn open_layer(&self, index: usize) -> Result<LayerData<'_>, SourceError>;
}

/// Why an image could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source string has no known scheme.
    #[error(
        "unknown image source {0:?} (expected oci-dir:PATH[:TAG], docker-archive:FILE, dir:PATH, \
         or an image reference such as registry.example/repo:tag, optionally as registry:REF)"
    )]
    UnknownScheme(String),
    /// A registry request failed; the message names the image and the cause.
    #[error("{0}")]
    Registry(String),
    /// Registry credentials could not be found or used.
    #[error("{0}")]
    Credentials(String),
    /// A file of the image could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// A JSON document of the image is malformed.
    #[error("{what}: {reason}")]
    Json {
        /// Which document.
        what: String,
        /// Parser message.
        reason: String,
    },
    /// The image layout is invalid or does not contain what was asked.
    #[error("{0}")]
    Invalid(String),
    /// A blob's bytes do not match its digest.
    #[error("blob {expected}: digest mismatch (got {actual})")]
    DigestMismatch {
        /// Digest the blob should have.
        expected: String,
        /// Digest it has.
        actual: String,
    },
    /// No manifest matches the requested tag or platform.
    #[error("no image for {0}")]
    NotFound(String),
    /// A layer could not be read.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Layer index out of range.
    #[error("no layer {0}")]
    NoLayer(usize),
}

/// How to open a source: the platform to pick and how to reach registries.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// `os/arch[/variant]` to pick from a multi-platform image; `linux/amd64` if `None`.
    pub platform: Option<String>,
    /// Credentials, plain-HTTP hosts and timeouts for registry sources.
    pub registry: RegistryOptions,
}

/// Opens an image source string: `oci-dir:PATH[:TAG]`, `docker-archive:FILE[:REF]`,
/// `dir:PATH`, `registry:REF` or a bare image reference. `platform`
/// (`os/arch[/variant]`) picks an image from a multi-platform index; the default is
/// `linux/amd64`. Registries are reached with default options (see [`open_with`]).
pub fn open(source: &str, platform: Option<&str>) -> Result<Box<dyn ImageSource>, SourceError> {
    open_with(
        source,
        &OpenOptions {
            platform: platform.map(str::to_string),
            ..OpenOptions::default()
        },
    )
}

/// [`open`] with registry options. Explicit schemes win; otherwise a string that
/// parses as an image reference is pulled from its registry, except when it names
/// a local file or directory (then the scheme must be said).
pub fn open_with(source: &str, options: &OpenOptions) -> Result<Box<dyn ImageSource>, SourceError> {
    let platform = options.platform.as_deref();
    if let Some(rest) = source.strip_prefix("oci-dir:") {
        let (path, tag) = split_ref(rest, |p| p.is_dir());
        return Ok(Box::new(OciDirSource::open(
            path,
            tag,
            platform.unwrap_or(DEFAULT_PLATFORM),
            source,
        )?));
    }
    if let Some(rest) = source.strip_prefix("docker-archive:") {
        let (path, reference) = split_ref(rest, |p| p.is_file());
        return Ok(Box::new(DockerArchiveSource::open(
            path, reference, source,
        )?));
    }
    if let Some(rest) = source.strip_prefix("dir:") {
        return Ok(Box::new(DirSource::open(rest, source)?));
    }
    let platform = platform.unwrap_or(DEFAULT_PLATFORM);
    if let Some(reference) = source.strip_prefix("registry:") {
        return Ok(Box::new(RegistrySource::open(
            reference,
            platform,
            &options.registry,
            source,
        )?));
    }
    if ImageReference::parse(source).is_ok() {
        if std::path::Path::new(source).exists() {
            return Err(SourceError::Invalid(format!(
                "{source:?} is both a local path and an image reference: say \
                 oci-dir:{source}, docker-archive:{source} or dir:{source} for the local \
                 one, or registry:{source} to pull it"
            )));
        }
        return Ok(Box::new(RegistrySource::open(
            source,
            platform,
            &options.registry,
            source,
        )?));
    }
    Err(SourceError::UnknownScheme(source.to_string()))
}

/// Splits `PATH[:REF]`: the whole string is the path when it names something that
/// exists (paths may contain `:`), else the shortest prefix before a `:` that
/// exists is the path and the rest (which may hold `:` and `/`) the reference.
fn split_ref(rest: &str, exists: impl Fn(&std::path::Path) -> bool) -> (&str, Option<&str>) {
    if exists(std::path::Path::new(rest)) {
        return (rest, None);
    }
    for (i, _) in rest.match_indices(':') {
        let (path, tag) = (rest.get(..i).unwrap_or_default(), rest.get(i + 1..));
        if exists(std::path::Path::new(path)) {
            return (path, tag.filter(|t| !t.is_empty()));
        }
    }
    (rest, None)
}

/// Most symlink-target re-reads of the image (each one a full pass).
const MAX_LINK_PASSES: usize = 2;

/// Reads every layer of `source` into a file-system view, keeping the files `wants`
/// asks for. When wanted links point to files that were not wanted, the image is
/// read again with those targets added (at most twice), so the links resolve.
pub fn build_file_system(
    source: &dyn ImageSource,
    wants: &dyn Fn(&str) -> bool,
    limits: &LayerLimits,
) -> Result<(FileSystem, Vec<LayerStats>), SourceError> {
    let mut extra: BTreeSet<String> = BTreeSet::new();
    let mut pass = 0;
    loop {
        let wanted = |p: &str| wants(p) || extra.contains(p);
        let (fs, stats) = read_all_layers(source, &wanted, limits)?;
        let missing: BTreeSet<String> = fs
            .missing_link_targets()
            .into_iter()
            .filter(|p| !extra.contains(p))
            .collect();
        if missing.is_empty() || pass >= MAX_LINK_PASSES {
            return Ok((fs, stats));
        }
        extra.extend(missing);
        pass += 1;
    }
}

fn read_all_layers(
    source: &dyn ImageSource,
    wants: &dyn Fn(&str) -> bool,
    limits: &LayerLimits,
) -> Result<(FileSystem, Vec<LayerStats>), SourceError> {
    let mut fs = FileSystem::new();
    let mut stats = Vec::new();
    for (i, info) in source.layers().iter().enumerate() {
        let digest = info.digest.clone().unwrap_or_default();
        let s = match source.open_layer(i)? {
            LayerData::Tar(reader) => fs.apply_layer(&digest, reader, &wants, limits)?,
            LayerData::Dir(root) => fs.apply_dir(&root, &wants, limits)?,
        };
        stats.push(s);
    }
    Ok((fs, stats))
}

/// Checks a digest string is `sha256:` and 64 lowercase hex digits (it becomes a
/// file name, so nothing else may pass); returns the hex part.
fn sha256_hex(digest: &str) -> Result<&str, SourceError> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(hex)
        }
        _ => Err(SourceError::Invalid(format!(
            "unsupported or malformed digest {digest:?} (expected sha256:<64 hex>)"
        ))),
    }
}

/// Reads a small JSON blob fully (bounded) and checks its digest.
fn read_verified(
    mut reader: impl Read,
    expected: Option<&str>,
    what: &str,
) -> Result<Vec<u8>, SourceError> {
    const MAX_JSON: u64 = 8 << 20;
    let mut buf = Vec::new();
    (&mut reader)
        .take(MAX_JSON + 1)
        .read_to_end(&mut buf)
        .map_err(|source| SourceError::Io {
            path: what.to_string(),
            source,
        })?;
    if buf.len() as u64 > MAX_JSON {
        return Err(SourceError::Invalid(format!(
            "{what}: larger than {MAX_JSON} bytes"
        )));
    }
    if let Some(expected) = expected {
        let actual = format!("sha256:{}", hex(&Sha256::digest(&buf)));
        if actual != expected {
            return Err(SourceError::DigestMismatch {
                expected: expected.to_string(),
                actual,
            });
        }
    }
    Ok(buf)
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, SourceError> {
    serde_json::from_slice(bytes).map_err(|e| SourceError::Json {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

/// Hashes a blob as it streams and fails at its end when the digest (or declared
/// size) does not match, so a tampered layer is an error, not a silent scan.
struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: String,
    size: Option<u64>,
    count: u64,
}

impl<R> VerifyingReader<R> {
    /// Wraps `inner`, expecting the digest `expected` and, if given, `size` bytes.
    fn new(inner: R, expected: String, size: Option<u64>) -> Self {
        Self {
            inner,
            hasher: Sha256::default(),
            expected,
            size,
            count: 0,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let actual = format!("sha256:{}", hex(&self.hasher.clone().finalize()));
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("digest mismatch: expected {}, got {actual}", self.expected),
                ));
            }
            if let Some(size) = self.size
                && size != self.count
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "size mismatch: descriptor says {size}, blob has {}",
                        self.count
                    ),
                ));
            }
            return Ok(0);
        }
        let chunk = buf.get(..n).unwrap_or_default();
        self.hasher.update(chunk);
        self.count += n as u64;
        Ok(n)
    }
}

/// Config blob fields the sources use.
#[derive(Debug, Default, serde::Deserialize)]
struct ImageConfig {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    rootfs: Option<RootFs>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}
