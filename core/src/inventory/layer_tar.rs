//! Layer reader: streams layer blobs (tar, gzip tar or zstd tar) without unpacking
//! them, applies OCI whiteouts across layers, and keeps the contents of the files a
//! caller asks for. The result is the image's final file-system view.
//!
//! Paths are kept relative to the image root, `/`-separated, without `.`/`..`
//! components. Symlink targets are resolved inside the image: `..` at the root stays
//! at the root and absolute targets start from the image root, so resolution never
//! leaves the image.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::FileEntry;
use super::analyzer::Reduced;

/// Bounds on what one layer (and the whole file system) may cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerLimits {
    /// Most bytes a layer may decompress to (decompression-bomb guard).
    pub max_layer_bytes: u64,
    /// Most bytes read from a layer blob as stored (compressed), trailing data included.
    pub max_blob_bytes: u64,
    /// Most tar entries in one layer.
    pub max_entries: u64,
    /// Largest wanted file whose contents are kept; larger ones are skipped and listed.
    pub max_file_bytes: u64,
    /// Largest file read to be reduced to evidence (archives, executables); only
    /// the evidence is kept, so this bounds a transient buffer.
    pub max_reduce_bytes: u64,
    /// Most bytes of wanted contents held for the whole file system.
    pub max_total_bytes: u64,
    /// Longest entry path or link target, in bytes.
    pub max_path_bytes: usize,
    /// Most symlink hops while resolving one path (Linux uses 40).
    pub max_link_hops: usize,
}

impl Default for LayerLimits {
    fn default() -> Self {
        Self {
            max_layer_bytes: 8 << 30,
            max_blob_bytes: 8 << 30,
            max_entries: 2_000_000,
            max_file_bytes: 64 << 20,
            max_reduce_bytes: 512 << 20,
            max_total_bytes: 1 << 30,
            max_path_bytes: 4096,
            max_link_hops: 40,
        }
    }
}

/// How a layer blob was compressed (detected from its first bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

/// What reading one layer found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStats {
    /// Compression detected.
    pub compression: Compression,
    /// Tar entries read (extension headers excluded).
    pub entries: u64,
    /// Bytes of tar stream after decompression.
    pub decompressed_bytes: u64,
    /// Bytes of the blob as stored.
    pub blob_bytes: u64,
    /// Wanted files whose contents were kept.
    pub collected: u64,
    /// Whiteout entries (`.wh.<name>` and opaque markers).
    pub whiteouts: u64,
    /// Wanted files skipped because they exceed `max_file_bytes`.
    pub oversized: Vec<String>,
    /// True when the layer's extract came from the on-disk cache, not the blob.
    #[serde(skip)]
    pub from_cache: bool,
}

impl LayerStats {
    /// Empty statistics for a layer compressed as given.
    pub fn new(compression: Compression) -> Self {
        Self {
            compression,
            entries: 0,
            decompressed_bytes: 0,
            blob_bytes: 0,
            collected: 0,
            whiteouts: 0,
            oversized: Vec::new(),
            from_cache: false,
        }
    }
}

/// Why a layer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The tar or compressed stream is corrupt or truncated, or reading failed.
    #[error("layer {layer}: {context}: {source}")]
    Read {
        /// Layer digest (or `-`).
        layer: String,
        /// What was being read.
        context: &'static str,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// The layer decompresses to more than the limit (a decompression bomb?).
    #[error("layer {layer}: decompressed size exceeds {limit} bytes")]
    DecompressedTooLarge {
        /// Layer digest.
        layer: String,
        /// The limit.
        limit: u64,
    },
    /// The blob as stored is larger than the limit.
    #[error("layer {layer}: blob exceeds {limit} bytes")]
    BlobTooLarge {
        /// Layer digest.
        layer: String,
        /// The limit.
        limit: u64,
    },
    /// The layer has more entries than the limit.
    #[error("layer {layer}: more than {limit} tar entries")]
    TooManyEntries {
        /// Layer digest.
        layer: String,
        /// The limit.
        limit: u64,
    },
    /// An entry's header claims a size larger than the whole layer may be.
    #[error("layer {layer}: entry {path:?} claims {size} bytes, over the layer limit {limit}")]
    EntryTooLarge {
        /// Layer digest.
        layer: String,
        /// Entry path.
        path: String,
        /// Claimed size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An entry path (or hard-link target) climbs out of the image root.
    #[error("layer {layer}: entry path {path:?} escapes the image root")]
    UnsafePath {
        /// Layer digest.
        layer: String,
        /// The path as written in the tar.
        path: String,
    },
    /// An entry path or link target is longer than the limit.
    #[error("layer {layer}: path of {len} bytes exceeds {limit}")]
    PathTooLong {
        /// Layer digest.
        layer: String,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The wanted files together exceed the total-contents limit.
    #[error("layer {layer}: wanted file contents exceed {limit} bytes in total")]
    ContentsTooLarge {
        /// Layer digest.
        layer: String,
        /// The limit.
        limit: u64,
    },
    /// The blob uses a compression this reader does not support.
    #[error("layer {layer}: unsupported compression {format}")]
    UnsupportedCompression {
        /// Layer digest.
        layer: String,
        /// Format recognised from the magic bytes.
        format: &'static str,
    },
}

/// A node of the file-system view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    Dir,
    /// Regular file; contents only when wanted (or a wanted link's target).
    File(Option<Arc<Vec<u8>>>),
    /// Symlink, target as written.
    Symlink(String),
    /// Hard link whose target's contents were not at hand, normalised target.
    HardLink(String),
    /// Hard link to a lower layer's file, resolved when the layer is applied.
    LowerLink(String),
    /// Device, fifo and other entries.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Node {
    kind: Kind,
    /// Set when the layer is applied (an extract's nodes all belong to it).
    #[serde(skip)]
    layer: Option<Arc<str>>,
    /// The caller wanted this path (kept so links can be resolved afterwards).
    wanted: bool,
}

/// The final file-system view of an image, built one layer at a time, bottom first.
#[derive(Debug, Clone, Default)]
pub struct FileSystem {
    nodes: BTreeMap<String, Node>,
    content_bytes: u64,
    max_link_hops: usize,
}

/// Counts bytes through a reader and fails once a limit is passed; the shared flag
/// tells the limit apart from other I/O errors after the tar reader wrapped it.
struct Limited<R> {
    inner: R,
    count: u64,
    limit: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count = self.count.saturating_add(n as u64);
        if self.count > self.limit {
            self.exceeded.set(true);
            return Err(io::Error::other("size limit exceeded"));
        }
        Ok(n)
    }
}

/// Normalises a tar path: strips leading `/` and `./`, drops `.`, applies `..`.
/// `None` when `..` climbs above the root.
fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn split_parent(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((dir, name)) => (dir, name),
        None => ("", path),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Removes `path`'s descendants (not `path` itself) from `nodes`; returns freed content bytes.
fn remove_below(nodes: &mut BTreeMap<String, Node>, path: &str) -> u64 {
    let keys: Vec<String> = if path.is_empty() {
        nodes.keys().cloned().collect()
    } else {
        let prefix = format!("{path}/");
        nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect()
    };
    let mut freed = 0;
    for k in keys {
        if let Some(node) = nodes.remove(&k) {
            freed += node_bytes(&node);
        }
    }
    freed
}

fn node_bytes(node: &Node) -> u64 {
    match &node.kind {
        Kind::File(Some(c)) => c.len() as u64,
        _ => 0,
    }
}

/// Contents found for a path, and the layer that wrote them.
type Found<'a> = (&'a Arc<Vec<u8>>, Option<&'a Arc<str>>);

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// How the layer reader treats a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Not wanted: the path is recorded, its contents are not.
    No,
    /// Keep the whole file (up to `max_file_bytes`).
    Whole,
    /// Read the file (up to `max_reduce_bytes`) and keep what [`Selection::reduce`] returns.
    Reduce,
}

/// The caller's choice of what to keep from each layer.
pub trait Selection {
    /// How to treat the file at `path`.
    fn want(&self, path: &str) -> Want;
    /// True when executables that `want` passes over (regular files with an execute
    /// bit that start with the ELF magic) go to [`Selection::reduce_executable`].
    fn wants_executables(&self) -> bool {
        false
    }
    /// What to keep of a [`Want::Reduce`] file.
    fn reduce(&self, _path: &str, _bytes: &[u8]) -> Reduced {
        Reduced::Whole
    }
    /// What to keep of an executable.
    fn reduce_executable(&self, _path: &str, _bytes: &[u8]) -> Reduced {
        Reduced::Nothing
    }
}

impl<F: Fn(&str) -> bool> Selection for F {
    fn want(&self, path: &str) -> Want {
        if self(path) { Want::Whole } else { Want::No }
    }
}

/// What one layer contributes, read on its own so that layers can be read in
/// parallel and cached by digest: its entries, whiteouts and opaque directories.
/// [`FileSystem::apply`] puts it on top of the layers below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerExtract {
    digest: String,
    entries: BTreeMap<String, Node>,
    whiteouts: BTreeSet<String>,
    opaque: BTreeSet<String>,
    /// What reading the layer found.
    pub stats: LayerStats,
}

impl LayerExtract {
    /// The digest the layer was read under (empty when unknown).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Checks an extract that came from outside (a decoded fragment) has the shape
    /// [`read_layer`] gives and fits `limits`: normalised relative paths and link
    /// targets within `max_path_bytes`, at most `max_entries` entries, contents within
    /// `max_total_bytes`. Returns the first violation.
    pub fn validate(&self, limits: &LayerLimits) -> Result<(), String> {
        let count = self.entries.len() + self.whiteouts.len() + self.opaque.len();
        if count as u64 > limits.max_entries {
            return Err(format!(
                "{count} entries, over the limit {}",
                limits.max_entries
            ));
        }
        let path_ok = |p: &str, root_ok: bool| {
            p.len() <= limits.max_path_bytes
                && (root_ok || !p.is_empty())
                && normalise(p).as_deref() == Some(p)
        };
        let mut content: u64 = 0;
        for (path, node) in &self.entries {
            if !path_ok(path, false) {
                return Err(format!(
                    "entry path {path:?} is not a normalised relative path"
                ));
            }
            match &node.kind {
                Kind::Symlink(t) if t.len() > limits.max_path_bytes => {
                    return Err(format!("link target of {path:?} is too long"));
                }
                Kind::HardLink(t) | Kind::LowerLink(t) if !path_ok(t, false) => {
                    return Err(format!("hard link target of {path:?} is not normalised"));
                }
                _ => {}
            }
            content = content.saturating_add(node_bytes(node));
        }
        if content > limits.max_total_bytes {
            return Err(format!(
                "{content} bytes of contents, over the limit {}",
                limits.max_total_bytes
            ));
        }
        // Whiteouts name one path component as written (`.wh...` gives `dir/..`), so
        // only their length is bounded; opaque markers name a directory or the root.
        if let Some(p) = self
            .whiteouts
            .iter()
            .find(|p| p.len() > limits.max_path_bytes)
        {
            return Err(format!("whiteout of {} bytes is too long", p.len()));
        }
        if let Some(p) = self.opaque.iter().find(|p| !path_ok(p, true)) {
            return Err(format!(
                "opaque directory {p:?} is not a normalised relative path"
            ));
        }
        Ok(())
    }
}

const ELF_MAGIC: &[u8] = b"\x7fELF";

/// Reads one layer blob (tar, gzip tar or zstd tar, detected by magic bytes) on its
/// own, keeping what `selection` asks for. The blob is read to its end so a
/// verifying reader sees all of it.
pub fn read_layer(
    digest: &str,
    reader: impl Read,
    selection: &dyn Selection,
    limits: &LayerLimits,
) -> Result<LayerExtract, LayerError> {
    let layer = digest.to_string();
    let blob_exceeded = Rc::new(Cell::new(false));
    let mut raw = Limited {
        inner: reader,
        count: 0,
        limit: limits.max_blob_bytes,
        exceeded: blob_exceeded.clone(),
    };
    let read_err = |context: &'static str, source: io::Error, blob: &Rc<Cell<bool>>| {
        if blob.get() {
            LayerError::BlobTooLarge {
                layer: layer.clone(),
                limit: limits.max_blob_bytes,
            }
        } else {
            LayerError::Read {
                layer: layer.clone(),
                context,
                source,
            }
        }
    };
    // Peek at the magic bytes, then hand them back in front of the rest.
    let mut magic = [0u8; 6];
    let mut got = 0;
    while got < magic.len() {
        match raw.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_err("reading blob", e, &blob_exceeded)),
        }
    }
    let head = magic.get(..got).unwrap_or_default();
    let compression = if head.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else if head.starts_with(b"BZh") {
        return Err(LayerError::UnsupportedCompression {
            layer,
            format: "bzip2",
        });
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(LayerError::UnsupportedCompression {
            layer,
            format: "xz",
        });
    } else {
        Compression::None
    };
    let mut stats = LayerStats::new(compression);
    let tar_exceeded = Rc::new(Cell::new(false));
    let staged = {
        let chained = io::Cursor::new(head.to_vec()).chain(&mut raw);
        let decoded: Box<dyn Read + '_> = match compression {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(chained)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::new(chained)
                    .map_err(|e| read_err("starting zstd", e, &blob_exceeded))?,
            ),
            Compression::None => Box::new(chained),
        };
        let mut tar_stream = Limited {
            inner: decoded,
            count: 0,
            limit: limits.max_layer_bytes,
            exceeded: tar_exceeded.clone(),
        };
        let result = read_entries(&layer, &mut tar_stream, selection, limits, &mut stats);
        // Drain what follows the end-of-archive marker: verifying readers and the
        // decompressor's own checks need the whole stream.
        let result = result.and_then(|staged| {
            io::copy(&mut tar_stream, &mut io::sink())
                .map(|_| staged)
                .map_err(|e| read_err("reading past end of archive", e, &blob_exceeded))
        });
        stats.decompressed_bytes = tar_stream.count;
        if tar_exceeded.get() {
            return Err(LayerError::DecompressedTooLarge {
                layer,
                limit: limits.max_layer_bytes,
            });
        }
        result.map_err(|e| match e {
            LayerError::Read {
                source, context, ..
            } => read_err(context, source, &blob_exceeded),
            other => other,
        })?
    };
    io::copy(&mut raw, &mut io::sink())
        .map_err(|e| read_err("reading blob trailer", e, &blob_exceeded))?;
    stats.blob_bytes = raw.count;
    Ok(LayerExtract {
        digest: layer,
        entries: staged.entries,
        whiteouts: staged.whiteouts,
        opaque: staged.opaque,
        stats,
    })
}

/// A layer's own entries, before they meet the layers below.
struct Staged {
    entries: BTreeMap<String, Node>,
    whiteouts: BTreeSet<String>,
    opaque: BTreeSet<String>,
}

/// What to keep of a file `want`ed (or an executable), given its bytes.
fn keep(reduced: Reduced, bytes: Vec<u8>) -> Option<Vec<u8>> {
    match reduced {
        Reduced::Whole => Some(bytes),
        Reduced::Evidence(e) => Some(e),
        Reduced::Nothing => None,
    }
}

/// Reads what `selection` keeps of one regular file of `size` bytes from `src`;
/// `None` when nothing is kept. Files over their cap are listed as oversized.
#[allow(clippy::too_many_arguments)]
fn read_kept(
    path: &str,
    size: u64,
    want: Want,
    executable: bool,
    selection: &dyn Selection,
    limits: &LayerLimits,
    stats: &mut LayerStats,
    mut src: impl Read,
) -> io::Result<Option<Vec<u8>>> {
    if want == Want::No && !executable {
        return Ok(None);
    }
    let cap = if want == Want::Whole {
        limits.max_file_bytes
    } else {
        limits.max_reduce_bytes
    };
    if size > cap {
        stats.oversized.push(path.to_string());
        return Ok(None);
    }
    let mut buf = Vec::new();
    if want == Want::No {
        // An executable is read past its first bytes only when it is ELF.
        (&mut src)
            .take(ELF_MAGIC.len() as u64)
            .read_to_end(&mut buf)?;
        if buf != ELF_MAGIC {
            return Ok(None);
        }
    }
    (&mut src)
        .take(cap.saturating_sub(buf.len() as u64))
        .read_to_end(&mut buf)?;
    let kept = match want {
        Want::Whole => Some(buf),
        Want::Reduce => keep(selection.reduce(path, &buf), buf),
        Want::No => keep(selection.reduce_executable(path, &buf), buf),
    };
    match kept {
        Some(c) if c.len() as u64 > limits.max_file_bytes => {
            stats.oversized.push(path.to_string());
            Ok(None)
        }
        other => Ok(other),
    }
}

fn read_entries(
    layer: &str,
    stream: &mut dyn Read,
    selection: &dyn Selection,
    limits: &LayerLimits,
    stats: &mut LayerStats,
) -> Result<Staged, LayerError> {
    let read_err = |context: &'static str, source: io::Error| LayerError::Read {
        layer: layer.to_string(),
        context,
        source,
    };
    let mut archive = tar::Archive::new(stream);
    let entries = archive.entries().map_err(|e| read_err("reading tar", e))?;
    // This layer's entries are merged after its whiteouts hit the lower layers (a
    // whiteout never hides an entry of its own layer).
    let mut staged: BTreeMap<String, Node> = BTreeMap::new();
    let mut staged_bytes: u64 = 0;
    let mut whiteouts: BTreeSet<String> = BTreeSet::new();
    let mut opaque: BTreeSet<String> = BTreeSet::new();
    let executables = selection.wants_executables();
    for entry in entries {
        let mut entry = entry.map_err(|e| read_err("reading tar entry", e))?;
        stats.entries += 1;
        if stats.entries > limits.max_entries {
            return Err(LayerError::TooManyEntries {
                layer: layer.to_string(),
                limit: limits.max_entries,
            });
        }
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if raw_path.len() > limits.max_path_bytes {
            return Err(LayerError::PathTooLong {
                layer: layer.to_string(),
                len: raw_path.len(),
                limit: limits.max_path_bytes,
            });
        }
        let path = normalise(&raw_path).ok_or_else(|| LayerError::UnsafePath {
            layer: layer.to_string(),
            path: raw_path.clone(),
        })?;
        let size = entry.size();
        if size > limits.max_layer_bytes {
            return Err(LayerError::EntryTooLarge {
                layer: layer.to_string(),
                path,
                size,
                limit: limits.max_layer_bytes,
            });
        }
        if path.is_empty() {
            continue; // the root directory itself
        }
        let (dir, name) = split_parent(&path);
        if name == OPAQUE {
            stats.whiteouts += 1;
            opaque.insert(dir.to_string());
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            stats.whiteouts += 1;
            // `.wh..wh.*` other than the opaque marker are aufs bookkeeping.
            if !hidden.starts_with(WHITEOUT) && !hidden.is_empty() {
                whiteouts.insert(join(dir, hidden));
            }
            continue;
        }
        let link_target = || -> Result<String, LayerError> {
            let bytes = entry.link_name_bytes().unwrap_or_default();
            if bytes.len() > limits.max_path_bytes {
                return Err(LayerError::PathTooLong {
                    layer: layer.to_string(),
                    len: bytes.len(),
                    limit: limits.max_path_bytes,
                });
            }
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        let want = selection.want(&path);
        let mut wanted = want != Want::No;
        let entry_type = entry.header().entry_type();
        let kind = match entry_type {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink(link_target()?),
            tar::EntryType::Link => {
                let raw_target = link_target()?;
                let target = normalise(&raw_target).ok_or_else(|| LayerError::UnsafePath {
                    layer: layer.to_string(),
                    path: raw_target.clone(),
                })?;
                // Copy the target's contents now: a later whiteout of the target
                // does not affect the link. A target in a lower layer is looked up
                // when the layer is applied.
                match staged.get(&target).map(|n| &n.kind) {
                    Some(Kind::File(Some(c))) if wanted => {
                        staged_bytes += c.len() as u64;
                        Kind::File(Some(c.clone()))
                    }
                    Some(Kind::File(_)) if !wanted => Kind::File(None),
                    Some(_) => Kind::HardLink(target),
                    None => Kind::LowerLink(target),
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let executable = want == Want::No
                    && executables
                    && size >= ELF_MAGIC.len() as u64
                    && entry.header().mode().is_ok_and(|m| m & 0o111 != 0);
                let kept = read_kept(
                    &path, size, want, executable, selection, limits, stats, &mut entry,
                )
                .map_err(|e| read_err("reading file contents", e))?;
                match kept {
                    Some(c) => {
                        // Bytes this entry replaces in this layer are freed.
                        let replaced = staged.get(&path).map_or(0, node_bytes);
                        if staged_bytes
                            .saturating_add(c.len() as u64)
                            .saturating_sub(replaced)
                            > limits.max_total_bytes
                        {
                            return Err(LayerError::ContentsTooLarge {
                                layer: layer.to_string(),
                                limit: limits.max_total_bytes,
                            });
                        }
                        staged_bytes += c.len() as u64;
                        stats.collected += 1;
                        wanted = true;
                        Kind::File(Some(Arc::new(c)))
                    }
                    None => Kind::File(None),
                }
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => Kind::Other,
            // Extension headers the tar reader did not fold in: not file-system entries.
            _ => continue,
        };
        // A non-directory replaces whatever this layer put below the same path.
        if kind != Kind::Dir {
            staged_bytes -= remove_below(&mut staged, &path).min(staged_bytes);
        }
        if let Some(old) = staged.insert(
            path,
            Node {
                kind,
                layer: None,
                wanted,
            },
        ) {
            staged_bytes -= node_bytes(&old).min(staged_bytes);
        }
    }
    Ok(Staged {
        entries: staged,
        whiteouts,
        opaque,
    })
}

impl FileSystem {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one layer blob with [`read_layer`] and applies it on top of the layers
    /// applied so far.
    pub fn apply_layer(
        &mut self,
        digest: &str,
        reader: impl Read,
        selection: &dyn Selection,
        limits: &LayerLimits,
    ) -> Result<LayerStats, LayerError> {
        let extract = read_layer(digest, reader, selection, limits)?;
        self.apply(extract, limits)
    }

    /// Puts a layer read by [`read_layer`] on top of the layers applied so far.
    pub fn apply(
        &mut self,
        extract: LayerExtract,
        limits: &LayerLimits,
    ) -> Result<LayerStats, LayerError> {
        self.max_link_hops = limits.max_link_hops;
        let LayerExtract {
            digest,
            mut entries,
            whiteouts,
            opaque,
            stats,
        } = extract;
        let layer: Option<Arc<str>> = (!digest.is_empty()).then(|| Arc::from(digest.as_str()));
        for node in entries.values_mut() {
            node.layer = layer.clone();
            // Hard links into lower layers take the target's contents as they are now.
            if let Kind::LowerLink(target) = &node.kind {
                node.kind = match self.nodes.get(target).map(|n| &n.kind) {
                    Some(Kind::File(Some(c))) if node.wanted => Kind::File(Some(c.clone())),
                    Some(Kind::File(_)) if !node.wanted => Kind::File(None),
                    _ => Kind::HardLink(target.clone()),
                };
            }
        }
        // Whiteouts and opaque markers act on the lower layers only.
        for dir in &opaque {
            self.content_bytes -= remove_below(&mut self.nodes, dir).min(self.content_bytes);
        }
        for path in &whiteouts {
            self.content_bytes -= remove_below(&mut self.nodes, path).min(self.content_bytes);
            if let Some(old) = self.nodes.remove(path) {
                self.content_bytes -= node_bytes(&old).min(self.content_bytes);
            }
        }
        for (path, node) in entries {
            if node.kind != Kind::Dir {
                self.content_bytes -= remove_below(&mut self.nodes, &path).min(self.content_bytes);
            }
            self.content_bytes += node_bytes(&node);
            if let Some(old) = self.nodes.insert(path, node) {
                self.content_bytes -= node_bytes(&old).min(self.content_bytes);
            }
        }
        if self.content_bytes > limits.max_total_bytes {
            return Err(LayerError::ContentsTooLarge {
                layer: digest,
                limit: limits.max_total_bytes,
            });
        }
        Ok(stats)
    }

    /// Reads a plain root file system (a directory) as one pseudo-layer without a
    /// digest. Symlinks are recorded, not followed; nothing outside `root` is read.
    pub fn apply_dir(
        &mut self,
        root: &Path,
        selection: &dyn Selection,
        limits: &LayerLimits,
    ) -> Result<LayerStats, LayerError> {
        let extract = read_dir(root, selection, limits)?;
        self.apply(extract, limits)
    }
}

/// Reads a plain root file system (a directory) as one pseudo-layer without a
/// digest. Symlinks are recorded, not followed; nothing outside `root` is read.
pub fn read_dir(
    root: &Path,
    selection: &dyn Selection,
    limits: &LayerLimits,
) -> Result<LayerExtract, LayerError> {
    let mut entries: BTreeMap<String, Node> = BTreeMap::new();
    let mut content_bytes: u64 = 0;
    let mut stats = LayerStats::new(Compression::None);
    let executables = selection.wants_executables();
    let err = |context: &'static str, source: io::Error| LayerError::Read {
        layer: "-".to_string(),
        context,
        source,
    };
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let read = std::fs::read_dir(&dir).map_err(|e| err("listing directory", e))?;
        for item in read {
            let item = item.map_err(|e| err("listing directory", e))?;
            stats.entries += 1;
            if stats.entries > limits.max_entries {
                return Err(LayerError::TooManyEntries {
                    layer: "-".to_string(),
                    limit: limits.max_entries,
                });
            }
            let name = item.file_name().to_string_lossy().into_owned();
            let path = join(&rel, &name);
            if path.len() > limits.max_path_bytes {
                return Err(LayerError::PathTooLong {
                    layer: "-".to_string(),
                    len: path.len(),
                    limit: limits.max_path_bytes,
                });
            }
            let meta = std::fs::symlink_metadata(item.path())
                .map_err(|e| err("reading file metadata", e))?;
            let want = selection.want(&path);
            let mut wanted = want != Want::No;
            let ft = meta.file_type();
            let kind = if ft.is_dir() {
                stack.push((item.path(), path.clone()));
                Kind::Dir
            } else if ft.is_symlink() {
                let target =
                    std::fs::read_link(item.path()).map_err(|e| err("reading symlink", e))?;
                Kind::Symlink(target.to_string_lossy().into_owned())
            } else if ft.is_file() {
                let executable = want == Want::No
                    && executables
                    && std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
                let kept = if want == Want::No && !executable {
                    None
                } else {
                    let file = std::fs::File::open(item.path())
                        .map_err(|e| err("reading file contents", e))?;
                    read_kept(
                        &path,
                        meta.len(),
                        want,
                        executable,
                        selection,
                        limits,
                        &mut stats,
                        file,
                    )
                    .map_err(|e| err("reading file contents", e))?
                };
                match kept {
                    Some(c) => {
                        if content_bytes.saturating_add(c.len() as u64) > limits.max_total_bytes {
                            return Err(LayerError::ContentsTooLarge {
                                layer: "-".to_string(),
                                limit: limits.max_total_bytes,
                            });
                        }
                        content_bytes += c.len() as u64;
                        stats.collected += 1;
                        wanted = true;
                        Kind::File(Some(Arc::new(c)))
                    }
                    None => Kind::File(None),
                }
            } else {
                Kind::Other
            };
            entries.insert(
                path,
                Node {
                    kind,
                    layer: None,
                    wanted,
                },
            );
        }
    }
    Ok(LayerExtract {
        digest: String::new(),
        entries,
        whiteouts: BTreeSet::new(),
        opaque: BTreeSet::new(),
        stats,
    })
}

impl FileSystem {
    /// Resolves `path` in the final view, following symlinks in every component and
    /// a hard link in the last; returns the real path, or `None` when a component is
    /// missing or the hop budget runs out. Never leaves the image root.
    pub fn resolve(&self, path: &str) -> Option<String> {
        let hops_max = if self.max_link_hops == 0 {
            40
        } else {
            self.max_link_hops
        };
        let mut pending: Vec<String> = path
            .split('/')
            .rev()
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    cur.pop(); // `..` at the root stays at the root
                    continue;
                }
                _ => {}
            }
            cur.push(part);
            let here = cur.join("/");
            let Some(node) = self.nodes.get(&here) else {
                // Layers may omit parent directories: a path with entries below it
                // is an implicit directory.
                if self.has_below(&here) {
                    continue;
                }
                return None;
            };
            let target = match &node.kind {
                Kind::Symlink(t) => t.clone(),
                Kind::HardLink(t) if pending.is_empty() => format!("/{t}"),
                _ => continue,
            };
            hops += 1;
            if hops > hops_max {
                return None;
            }
            cur.pop();
            if target.starts_with('/') {
                cur.clear();
            }
            pending.extend(
                target
                    .split('/')
                    .rev()
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
            );
        }
        Some(cur.join("/"))
    }

    fn has_below(&self, path: &str) -> bool {
        let prefix = format!("{path}/");
        self.nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// The layer digest that last wrote `path` (`None` for a pseudo-layer or a missing path).
    pub fn layer_of(&self, path: &str) -> Option<&str> {
        self.nodes.get(path).and_then(|n| n.layer.as_deref())
    }

    /// True when `path` exists in the final view (links not followed).
    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    /// Number of paths in the final view.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no path is present.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn contents_at(&self, real: &str) -> Option<Found<'_>> {
        match self.nodes.get(real) {
            Some(Node {
                kind: Kind::File(Some(c)),
                layer,
                ..
            }) => Some((c, layer.as_ref())),
            _ => None,
        }
    }

    /// Real paths that wanted links point to whose contents were not kept (the
    /// target was not wanted itself). Re-reading the image with these added to the
    /// wanted set fills them in.
    pub fn missing_link_targets(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (path, node) in &self.nodes {
            if !node.wanted || !matches!(node.kind, Kind::Symlink(_) | Kind::HardLink(_)) {
                continue;
            }
            if let Some(real) = self.resolve(path)
                && matches!(
                    self.nodes.get(&real).map(|n| &n.kind),
                    Some(Kind::File(None))
                )
            {
                out.insert(real);
            }
        }
        out
    }

    /// The wanted files of the final view, sorted by path. A wanted symlink or hard
    /// link appears under its own path with its target's contents and the digest of
    /// the layer that wrote the target.
    pub fn files(&self) -> Vec<FileEntry> {
        let mut out = Vec::new();
        for (path, node) in &self.nodes {
            let found = match &node.kind {
                Kind::File(Some(c)) if node.wanted => Some((c, node.layer.as_ref())),
                Kind::Symlink(_) | Kind::HardLink(_) if node.wanted => {
                    self.resolve(path).and_then(|real| self.contents_at(&real))
                }
                _ => None,
            };
            if let Some((contents, layer)) = found {
                out.push(FileEntry {
                    path: path.clone(),
                    contents: contents.as_ref().clone(),
                    layer_digest: layer.map(|l| l.to_string()),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_paths() {
        assert_eq!(normalise("./etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(normalise("/usr//lib/").as_deref(), Some("usr/lib"));
        assert_eq!(normalise("a/../b").as_deref(), Some("b"));
        assert_eq!(normalise("../etc/passwd"), None);
        assert_eq!(normalise("a/../../b"), None);
    }
}
