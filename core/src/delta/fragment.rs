//! A layer's SBOM fragment: its [`LayerExtract`] (the files analyzers want, reduced,
//! plus whiteouts) in a versioned envelope, as a builder uploads it and the server
//! stores it.
//!
//! Layout: the magic `STLFRAG`, a format version byte, the analyzer selection id
//! (u16 little-endian length, UTF-8), then one zstd frame holding the postcard
//! encoding of the extract. The selection id travels outside the compressed part
//! so a server can refuse a fragment read for other analyzers without inflating it.

use std::io::Read;

use crate::inventory::layer_tar::{LayerExtract, LayerLimits};

/// First bytes of every fragment.
pub const MAGIC: &[u8; 7] = b"STLFRAG";

/// The envelope version this code writes and reads. Bumped when the envelope or
/// the meaning of an extract changes.
pub const FORMAT_VERSION: u8 = 1;

/// Longest selection id accepted in an envelope.
pub const MAX_SELECTION_BYTES: usize = 1024;

/// zstd level for fragments: fast, and layer extracts compress well at any level.
const ZSTD_LEVEL: i32 = 3;

/// Bounds on what decoding one fragment may cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentLimits {
    /// Largest fragment accepted as uploaded (compressed).
    pub max_compressed_bytes: u64,
    /// Largest postcard encoding a fragment may inflate to (decompression-bomb guard).
    pub max_decoded_bytes: u64,
    /// Limits the decoded extract must fit (paths, entries, contents), also used
    /// when fragments are stacked into an image.
    pub layer: LayerLimits,
}

impl Default for FragmentLimits {
    fn default() -> Self {
        let layer = LayerLimits::default();
        Self {
            max_compressed_bytes: 256 << 20,
            // The wanted contents of a layer, plus room for its paths.
            max_decoded_bytes: layer.max_total_bytes + (256 << 20),
            layer,
        }
    }
}

/// A decoded fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The analyzer selection the layer was read with.
    pub selection_id: String,
    /// What the layer contributes to the image's file system.
    pub extract: LayerExtract,
}

/// Why a fragment could not be encoded, decoded or accepted.
#[derive(Debug, thiserror::Error)]
pub enum FragmentError {
    /// The bytes do not start with [`MAGIC`].
    #[error("not a layer fragment (bad magic bytes)")]
    BadMagic,
    /// The envelope version is not [`FORMAT_VERSION`].
    #[error(
        "unsupported layer fragment format version {found} (this build reads {FORMAT_VERSION})"
    )]
    UnsupportedVersion {
        /// Version found.
        found: u8,
    },
    /// The fragment, as uploaded or once inflated, exceeds a limit.
    #[error("layer fragment {what} exceeds {limit} bytes")]
    TooLarge {
        /// `compressed` or `decoded`.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// The envelope or its contents are malformed.
    #[error("corrupt layer fragment: {0}")]
    Corrupt(String),
    /// The fragment is of another layer than the one it was given for.
    #[error("layer fragment is of layer {found:?}, not {expected}")]
    DigestMismatch {
        /// The digest it was given for.
        expected: String,
        /// The digest inside.
        found: String,
    },
    /// The fragment was read with other analyzers than expected.
    #[error("layer fragment was read with analyzer selection {found:?}, expected {expected:?}")]
    SelectionMismatch {
        /// The selection expected.
        expected: String,
        /// The selection inside.
        found: String,
    },
    /// The extract could not be encoded (selection id too long, encoder failure).
    #[error("encoding a layer fragment: {0}")]
    Encode(String),
}

impl Fragment {
    /// Checks the fragment is of layer `digest` (as named in the URL it was uploaded
    /// to, or in the manifest that uses it).
    pub fn check_digest(&self, digest: &str) -> Result<(), FragmentError> {
        if self.extract.digest() == digest {
            Ok(())
        } else {
            Err(FragmentError::DigestMismatch {
                expected: digest.to_string(),
                found: self.extract.digest().to_string(),
            })
        }
    }

    /// Checks the fragment was read with the analyzer selection `selection_id`.
    pub fn check_selection(&self, selection_id: &str) -> Result<(), FragmentError> {
        if self.selection_id == selection_id {
            Ok(())
        } else {
            Err(FragmentError::SelectionMismatch {
                expected: selection_id.to_string(),
                found: self.selection_id.clone(),
            })
        }
    }
}

/// Encodes a layer's extract, read with the analyzer selection `selection_id`.
pub fn encode_fragment(
    extract: &LayerExtract,
    selection_id: &str,
) -> Result<Vec<u8>, FragmentError> {
    if selection_id.len() > MAX_SELECTION_BYTES {
        return Err(FragmentError::Encode(format!(
            "selection id of {} bytes exceeds {MAX_SELECTION_BYTES}",
            selection_id.len()
        )));
    }
    let encoded = postcard::to_stdvec(extract).map_err(|e| FragmentError::Encode(e.to_string()))?;
    let compressed = zstd::stream::encode_all(encoded.as_slice(), ZSTD_LEVEL)
        .map_err(|e| FragmentError::Encode(e.to_string()))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 3 + selection_id.len() + compressed.len());
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    // Fits: checked against MAX_SELECTION_BYTES above.
    out.extend_from_slice(&(selection_id.len() as u16).to_le_bytes());
    out.extend_from_slice(selection_id.as_bytes());
    out.extend_from_slice(&compressed);
    Ok(out)
}

/// The selection id of a fragment, read from its envelope without inflating it.
pub fn peek_selection(bytes: &[u8]) -> Result<&str, FragmentError> {
    envelope(bytes).map(|(selection, _)| selection)
}

/// Splits the envelope: (selection id, compressed extract).
fn envelope(bytes: &[u8]) -> Result<(&str, &[u8]), FragmentError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(FragmentError::BadMagic)?;
    let (&version, rest) = rest
        .split_first()
        .ok_or_else(|| FragmentError::Corrupt("truncated before the version".to_string()))?;
    if version != FORMAT_VERSION {
        return Err(FragmentError::UnsupportedVersion { found: version });
    }
    let (len, rest) = rest
        .split_first_chunk::<2>()
        .ok_or_else(|| FragmentError::Corrupt("truncated before the selection id".to_string()))?;
    let len = usize::from(u16::from_le_bytes(*len));
    if len > MAX_SELECTION_BYTES {
        return Err(FragmentError::Corrupt(format!(
            "selection id of {len} bytes exceeds {MAX_SELECTION_BYTES}"
        )));
    }
    let (selection, compressed) = rest
        .split_at_checked(len)
        .ok_or_else(|| FragmentError::Corrupt("truncated selection id".to_string()))?;
    let selection = std::str::from_utf8(selection)
        .map_err(|_| FragmentError::Corrupt("selection id is not UTF-8".to_string()))?;
    Ok((selection, compressed))
}

/// Decodes a fragment within `limits`; any bytes give a fragment or an error,
/// never a panic. The extract is checked against `limits.layer`
/// ([`LayerExtract::validate`]); its digest and selection are not (see
/// [`Fragment::check_digest`], [`Fragment::check_selection`], [`decode_checked`]).
pub fn decode_fragment(bytes: &[u8], limits: &FragmentLimits) -> Result<Fragment, FragmentError> {
    if bytes.len() as u64 > limits.max_compressed_bytes {
        return Err(FragmentError::TooLarge {
            what: "compressed",
            limit: limits.max_compressed_bytes,
        });
    }
    let (selection, compressed) = envelope(bytes)?;
    let decoder = zstd::stream::read::Decoder::new(compressed)
        .map_err(|e| FragmentError::Corrupt(format!("zstd: {e}")))?;
    let mut decoded = Vec::new();
    decoder
        .take(limits.max_decoded_bytes.saturating_add(1))
        .read_to_end(&mut decoded)
        .map_err(|e| FragmentError::Corrupt(format!("zstd: {e}")))?;
    if decoded.len() as u64 > limits.max_decoded_bytes {
        return Err(FragmentError::TooLarge {
            what: "decoded",
            limit: limits.max_decoded_bytes,
        });
    }
    let (extract, rest): (LayerExtract, &[u8]) = postcard::take_from_bytes(&decoded)
        .map_err(|e| FragmentError::Corrupt(format!("extract: {e}")))?;
    if !rest.is_empty() {
        return Err(FragmentError::Corrupt(format!(
            "{} bytes after the extract",
            rest.len()
        )));
    }
    extract
        .validate(&limits.layer)
        .map_err(|e| FragmentError::Corrupt(format!("extract: {e}")))?;
    Ok(Fragment {
        selection_id: selection.to_string(),
        extract,
    })
}

/// Decodes a fragment and checks it is of layer `digest`, read with `selection_id`:
/// what the server does with an upload before storing it. The selection is checked
/// before the extract is inflated.
pub fn decode_checked(
    bytes: &[u8],
    digest: &str,
    selection_id: &str,
    limits: &FragmentLimits,
) -> Result<Fragment, FragmentError> {
    if bytes.len() as u64 <= limits.max_compressed_bytes {
        let found = peek_selection(bytes)?;
        if found != selection_id {
            return Err(FragmentError::SelectionMismatch {
                expected: selection_id.to_string(),
                found: found.to_string(),
            });
        }
    }
    let fragment = decode_fragment(bytes, limits)?;
    fragment.check_selection(selection_id)?;
    fragment.check_digest(digest)?;
    Ok(fragment)
}
