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

use super::FileEntry;

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
            max_total_bytes: 1 << 30,
            max_path_bytes: 4096,
            max_link_hops: 40,
        }
    }
}

/// How a layer blob was compressed (detected from its first bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

/// What reading one layer found.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    /// Regular file; contents only when wanted (or a wanted link's target).
    File(Option<Arc<Vec<u8>>>),
    /// Symlink, target as written.
    Symlink(String),
    /// Hard link whose target's contents were not at hand, normalised target.
    HardLink(String),
    /// Device, fifo and other entries.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: Kind,
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

impl FileSystem {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one layer blob (tar, gzip tar or zstd tar, detected by magic bytes) on top
    /// of the layers applied so far, keeping contents of files for which `wants` is
    /// true. The blob is read to its end so a verifying reader sees all of it.
    pub fn apply_layer(
        &mut self,
        digest: &str,
        reader: impl Read,
        wants: &dyn Fn(&str) -> bool,
        limits: &LayerLimits,
    ) -> Result<LayerStats, LayerError> {
        self.max_link_hops = limits.max_link_hops;
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
        let mut stats = LayerStats {
            compression,
            entries: 0,
            decompressed_bytes: 0,
            blob_bytes: 0,
            collected: 0,
            whiteouts: 0,
            oversized: Vec::new(),
        };
        let tar_exceeded = Rc::new(Cell::new(false));
        {
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
            let result = self.read_tar(&layer, &mut tar_stream, wants, limits, &mut stats);
            // Drain what follows the end-of-archive marker: verifying readers and the
            // decompressor's own checks need the whole stream.
            let result = result.and_then(|()| {
                io::copy(&mut tar_stream, &mut io::sink())
                    .map(|_| ())
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
            })?;
        }
        io::copy(&mut raw, &mut io::sink())
            .map_err(|e| read_err("reading blob trailer", e, &blob_exceeded))?;
        stats.blob_bytes = raw.count;
        Ok(stats)
    }

    fn read_tar(
        &mut self,
        layer: &str,
        stream: &mut dyn Read,
        wants: &dyn Fn(&str) -> bool,
        limits: &LayerLimits,
        stats: &mut LayerStats,
    ) -> Result<(), LayerError> {
        let layer_arc: Option<Arc<str>> = if layer.is_empty() {
            None
        } else {
            Some(Arc::from(layer))
        };
        let read_err = |context: &'static str, source: io::Error| LayerError::Read {
            layer: layer.to_string(),
            context,
            source,
        };
        let mut archive = tar::Archive::new(stream);
        let entries = archive.entries().map_err(|e| read_err("reading tar", e))?;
        // This layer's entries, merged after its whiteouts hit the lower layers (a
        // whiteout never hides an entry of its own layer).
        let mut staged: BTreeMap<String, Node> = BTreeMap::new();
        let mut staged_bytes: u64 = 0;
        let mut whiteouts: BTreeSet<String> = BTreeSet::new();
        let mut opaque: BTreeSet<String> = BTreeSet::new();
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
            let wanted = wants(&path);
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
                    // does not affect the link.
                    let found = staged
                        .get(&target)
                        .or_else(|| self.nodes.get(&target))
                        .map(|n| n.kind.clone());
                    match found {
                        Some(Kind::File(Some(c))) if wanted => {
                            staged_bytes += c.len() as u64;
                            Kind::File(Some(c))
                        }
                        Some(Kind::File(_)) if !wanted => Kind::File(None),
                        _ => Kind::HardLink(target),
                    }
                }
                tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse => {
                    if wanted {
                        if size > limits.max_file_bytes {
                            stats.oversized.push(path.clone());
                            Kind::File(None)
                        } else {
                            // Bytes this entry replaces (in this layer or below) are freed.
                            let replaced = self.nodes.get(&path).map_or(0, node_bytes)
                                + staged.get(&path).map_or(0, node_bytes);
                            if self
                                .content_bytes
                                .saturating_add(staged_bytes)
                                .saturating_add(size)
                                .saturating_sub(replaced)
                                > limits.max_total_bytes
                            {
                                return Err(LayerError::ContentsTooLarge {
                                    layer: layer.to_string(),
                                    limit: limits.max_total_bytes,
                                });
                            }
                            let mut buf = Vec::new();
                            (&mut entry)
                                .take(limits.max_file_bytes)
                                .read_to_end(&mut buf)
                                .map_err(|e| read_err("reading file contents", e))?;
                            staged_bytes += buf.len() as u64;
                            stats.collected += 1;
                            Kind::File(Some(Arc::new(buf)))
                        }
                    } else {
                        Kind::File(None)
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
                    layer: layer_arc.clone(),
                    wanted,
                },
            ) {
                staged_bytes -= node_bytes(&old).min(staged_bytes);
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
        for (path, node) in staged {
            if node.kind != Kind::Dir {
                self.content_bytes -= remove_below(&mut self.nodes, &path).min(self.content_bytes);
            }
            self.content_bytes += node_bytes(&node);
            if let Some(old) = self.nodes.insert(path, node) {
                self.content_bytes -= node_bytes(&old).min(self.content_bytes);
            }
        }
        Ok(())
    }

    /// Reads a plain root file system (a directory) as one pseudo-layer without a
    /// digest. Symlinks are recorded, not followed; nothing outside `root` is read.
    pub fn apply_dir(
        &mut self,
        root: &Path,
        wants: &dyn Fn(&str) -> bool,
        limits: &LayerLimits,
    ) -> Result<LayerStats, LayerError> {
        self.max_link_hops = limits.max_link_hops;
        let mut stats = LayerStats {
            compression: Compression::None,
            entries: 0,
            decompressed_bytes: 0,
            blob_bytes: 0,
            collected: 0,
            whiteouts: 0,
            oversized: Vec::new(),
        };
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
                let wanted = wants(&path);
                let ft = meta.file_type();
                let kind = if ft.is_dir() {
                    stack.push((item.path(), path.clone()));
                    Kind::Dir
                } else if ft.is_symlink() {
                    let target =
                        std::fs::read_link(item.path()).map_err(|e| err("reading symlink", e))?;
                    Kind::Symlink(target.to_string_lossy().into_owned())
                } else if ft.is_file() {
                    if !wanted {
                        Kind::File(None)
                    } else if meta.len() > limits.max_file_bytes {
                        stats.oversized.push(path.clone());
                        Kind::File(None)
                    } else {
                        if self.content_bytes.saturating_add(meta.len()) > limits.max_total_bytes {
                            return Err(LayerError::ContentsTooLarge {
                                layer: "-".to_string(),
                                limit: limits.max_total_bytes,
                            });
                        }
                        let mut buf = Vec::new();
                        std::fs::File::open(item.path())
                            .and_then(|f| f.take(limits.max_file_bytes).read_to_end(&mut buf))
                            .map_err(|e| err("reading file contents", e))?;
                        self.content_bytes += buf.len() as u64;
                        stats.collected += 1;
                        Kind::File(Some(Arc::new(buf)))
                    }
                } else {
                    Kind::Other
                };
                self.nodes.insert(
                    path,
                    Node {
                        kind,
                        layer: None,
                        wanted,
                    },
                );
            }
        }
        Ok(stats)
    }

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
