//! On-disk cache of layer extracts, keyed by layer digest and by what was kept of
//! the layer, so a second scan of an image that shares layers with an earlier one
//! reads only the new layers.
//!
//! Only content-addressed digests (`sha256:<hex>`, verified while the layer was
//! read) are cache keys. An entry is a zstd-compressed postcard encoding of a
//! [`LayerExtract`], written to a temporary file and renamed into place, so a
//! reader never sees half an entry. A corrupt or unreadable entry is a miss.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::layer_tar::{LayerExtract, LayerLimits};
use crate::hex::encode as hex;

/// Bumped whenever what a layer extract holds changes meaning (the layer reader,
/// an analyzer's `wants` or `reduce`): old entries then simply stop matching.
const FORMAT: &str = "stella-layer-extract-v1";

/// Largest decoded cache entry accepted (an extract holds at most the wanted
/// contents, bounded by `LayerLimits::max_total_bytes`, plus paths).
const MAX_ENTRY_BYTES: u64 = 4 << 30;

/// A directory of cached layer extracts.
#[derive(Debug, Clone)]
pub struct LayerCache {
    dir: PathBuf,
}

/// Why a cache entry could not be written (reads never fail: they miss).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache directory or entry could not be written.
    #[error("layer cache {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The extract could not be encoded.
    #[error("layer cache: encoding an extract: {0}")]
    Encode(String),
}

impl LayerCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache named by the environment: `STELLA_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/stellaops`, else `$HOME/.cache/stellaops`; `None` when
    /// none is set.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("STELLA_CACHE_DIR") {
            return Some(Self::new(dir));
        }
        if let Some(xdg) = var("XDG_CACHE_HOME") {
            return Some(Self::new(Path::new(&xdg).join("stellaops")));
        }
        var("HOME").map(|home| Self::new(Path::new(&home).join(".cache").join("stellaops")))
    }

    /// The directory the cache lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for a layer read with `selection_id` and `limits`, if cached.
    pub fn get(
        &self,
        digest: &str,
        selection_id: &str,
        limits: &LayerLimits,
    ) -> Option<LayerExtract> {
        let path = self.entry_path(digest, selection_id, limits)?;
        let file = std::fs::File::open(&path).ok()?;
        let mut bytes = Vec::new();
        let decoder = zstd::stream::read::Decoder::new(file).ok()?;
        decoder
            .take(MAX_ENTRY_BYTES + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        if bytes.len() as u64 > MAX_ENTRY_BYTES {
            return None;
        }
        match decode(&bytes) {
            // The digest inside guards against a renamed or colliding file.
            Ok(extract) if extract.digest() == digest => Some(extract),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring corrupt layer cache entry");
                None
            }
        }
    }

    /// Stores the extract of a layer (a no-op for layers without a sha256 digest).
    pub fn put(
        &self,
        extract: &LayerExtract,
        selection_id: &str,
        limits: &LayerLimits,
    ) -> Result<(), CacheError> {
        let Some(path) = self.entry_path(extract.digest(), selection_id, limits) else {
            return Ok(());
        };
        let io_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| CacheError::Io { path, source }
        };
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let encoded = encode(extract)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
        {
            let mut encoder =
                zstd::stream::write::Encoder::new(tmp.as_file_mut(), 3).map_err(io_err(&path))?;
            encoder.write_all(&encoded).map_err(io_err(&path))?;
            encoder.finish().map_err(io_err(&path))?;
        }
        tmp.persist(&path).map_err(|e| io_err(&path)(e.error))?;
        Ok(())
    }

    /// `<dir>/layers/<key>.zst`, where the key hashes the format, the crate version,
    /// the digest, the selection and the limits that shape an extract.
    fn entry_path(
        &self,
        digest: &str,
        selection_id: &str,
        limits: &LayerLimits,
    ) -> Option<PathBuf> {
        let hex_part = digest.strip_prefix("sha256:")?;
        if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut h = Sha256::new();
        for part in [
            FORMAT,
            env!("CARGO_PKG_VERSION"),
            digest,
            selection_id,
            &limits.max_file_bytes.to_string(),
            &limits.max_reduce_bytes.to_string(),
            &limits.max_path_bytes.to_string(),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        Some(
            self.dir
                .join("layers")
                .join(format!("{}.zst", hex(&h.finalize()))),
        )
    }
}

/// The cache encoding of an extract (before compression).
pub fn encode(extract: &LayerExtract) -> Result<Vec<u8>, CacheError> {
    postcard::to_stdvec(extract).map_err(|e| CacheError::Encode(e.to_string()))
}

/// Decodes [`encode`]'s output; any other bytes give an error, never a panic.
pub fn decode(bytes: &[u8]) -> Result<LayerExtract, postcard::Error> {
    postcard::from_bytes(bytes)
}
