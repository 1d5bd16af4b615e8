//! Archives: zip (osv.dev's `all.zip`), tar, tar.gz and tar.zst, read one entry at a time;
//! and a lone gzip / zstd compressed document (`nvdcve.json.gz`).
//!
//! Entries are named `archive!path/in/archive`. Directories, links and hidden entries are
//! skipped; an entry's size is checked while it is read (declared sizes are not trusted, so
//! a zip bomb stops at the document limit).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::{FetchError, FetchOptions, Run, is_hidden};

/// What an archive file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// A zip archive.
    Zip,
    /// An uncompressed tar.
    Tar,
    /// A gzip-compressed tar.
    TarGz,
    /// A zstd-compressed tar.
    TarZst,
    /// One gzip-compressed document.
    Gz,
    /// One zstd-compressed document.
    Zst,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Whether the first 512 bytes of a stream are a tar header (`ustar` at offset 257).
fn is_tar_header(head: &[u8]) -> bool {
    head.get(257..262) == Some(b"ustar".as_slice())
}

/// Reads up to `n` bytes (fewer at end of stream).
fn read_head(reader: impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    reader.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// The archive format of a file, by magic bytes first and file name second
/// (`.tar` without the POSIX magic), or `None` for a plain document.
pub fn detect_file(path: &Path) -> io::Result<Option<ArchiveFormat>> {
    let mut file = File::open(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    detect_reader(&mut file, &name)
}

/// Like [`detect_file`] for an open file and a (lower-case) name hint; the file's
/// position is left anywhere.
pub fn detect_reader(file: &mut File, name: &str) -> io::Result<Option<ArchiveFormat>> {
    file.seek(SeekFrom::Start(0))?;
    let head = read_head(&mut *file, 512)?;
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(Some(ArchiveFormat::Zip));
    }
    if is_tar_header(&head) {
        return Ok(Some(ArchiveFormat::Tar));
    }
    if head.starts_with(&GZIP_MAGIC) {
        file.seek(SeekFrom::Start(0))?;
        let inner = read_head(
            flate2::read::GzDecoder::new(BufReader::new(&mut *file)),
            512,
        )?;
        return Ok(Some(if is_tar_header(&inner) || name.ends_with(".tgz") {
            ArchiveFormat::TarGz
        } else {
            ArchiveFormat::Gz
        }));
    }
    if head.starts_with(&ZSTD_MAGIC) {
        file.seek(SeekFrom::Start(0))?;
        let inner = read_head(zstd::stream::read::Decoder::new(&mut *file)?, 512)?;
        return Ok(Some(if is_tar_header(&inner) || name.ends_with(".tzst") {
            ArchiveFormat::TarZst
        } else {
            ArchiveFormat::Zst
        }));
    }
    if name.ends_with(".tar") && head.len() >= 512 {
        return Ok(Some(ArchiveFormat::Tar));
    }
    Ok(None)
}

/// Whether a path inside an archive has a hidden component (`.git/`, `__MACOSX/._x`).
fn hidden_path(path: &str) -> bool {
    path.split('/')
        .any(|c| is_hidden(c) && c != "." && c != "..")
        || path.starts_with("__MACOSX/")
}

fn archive_error(archive: &str, reason: impl std::fmt::Display) -> FetchError {
    FetchError::Archive {
        archive: archive.to_owned(),
        reason: reason.to_string(),
    }
}

/// Reads one entry, refusing more than `limit` bytes.
fn read_entry(reader: impl Read, name: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| archive_error(name, e))?;
    if bytes.len() as u64 > limit {
        return Err(FetchError::TooLarge {
            name: name.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// Hands out every wanted entry of the archive at `path`, naming entries `label!entry`.
pub(crate) fn fetch_archive_file(
    path: &Path,
    format: ArchiveFormat,
    label: &str,
    options: &FetchOptions,
    run: &mut Run<'_>,
) -> Result<(), FetchError> {
    let open = || {
        File::open(path).map_err(|e| FetchError::Io {
            path: path.display().to_string(),
            source: e,
        })
    };
    match format {
        ArchiveFormat::Zip => fetch_zip(open()?, label, options, run),
        ArchiveFormat::Tar => fetch_tar(BufReader::new(open()?), label, options, run),
        ArchiveFormat::TarGz => fetch_tar(
            flate2::read::GzDecoder::new(BufReader::new(open()?)),
            label,
            options,
            run,
        ),
        ArchiveFormat::TarZst => {
            let decoder =
                zstd::stream::read::Decoder::new(open()?).map_err(|e| archive_error(label, e))?;
            fetch_tar(decoder, label, options, run)
        }
        ArchiveFormat::Gz | ArchiveFormat::Zst => {
            let inner = label
                .rsplit_once('.')
                .map(|(stem, _)| stem)
                .unwrap_or(label);
            let name = format!("{label}!{inner}");
            if !options.filter.accepts(inner) {
                run.stats.filtered += 1;
                return Ok(());
            }
            let bytes = if format == ArchiveFormat::Gz {
                read_entry(
                    flate2::read::GzDecoder::new(BufReader::new(open()?)),
                    &name,
                    options.max_document_bytes,
                )?
            } else {
                let decoder = zstd::stream::read::Decoder::new(open()?)
                    .map_err(|e| archive_error(label, e))?;
                read_entry(decoder, &name, options.max_document_bytes)?
            };
            run.document(name, bytes);
            Ok(())
        }
    }
}

fn fetch_zip(
    file: File,
    label: &str,
    options: &FetchOptions,
    run: &mut Run<'_>,
) -> Result<(), FetchError> {
    let mut zip =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| archive_error(label, e))?;
    for index in 0..zip.len() {
        if run.stopped() {
            break;
        }
        let entry = zip.by_index(index).map_err(|e| archive_error(label, e))?;
        let entry_name = entry
            .name()
            .map_err(|e| archive_error(label, e))?
            .into_owned();
        let is_file = !entry.is_dir() && !entry.is_symlink();
        take_entry(entry, &entry_name, is_file, label, options, run)?;
    }
    Ok(())
}

fn fetch_tar(
    reader: impl Read,
    label: &str,
    options: &FetchOptions,
    run: &mut Run<'_>,
) -> Result<(), FetchError> {
    let mut tar = tar::Archive::new(reader);
    let entries = tar.entries().map_err(|e| archive_error(label, e))?;
    for entry in entries {
        if run.stopped() {
            break;
        }
        let entry = entry.map_err(|e| archive_error(label, e))?;
        let entry_name = entry
            .path()
            .map_err(|e| archive_error(label, e))?
            .to_string_lossy()
            .replace('\\', "/");
        let entry_name = entry_name.trim_start_matches("./").to_owned();
        let is_file = entry.header().entry_type().is_file();
        take_entry(entry, &entry_name, is_file, label, options, run)?;
    }
    Ok(())
}

/// Hands one archive member to the run as document `LABEL!NAME`, or counts it as
/// filtered (directories, links, hidden paths, names the feed's filter rejects).
fn take_entry(
    entry: impl Read,
    entry_name: &str,
    is_file: bool,
    label: &str,
    options: &FetchOptions,
    run: &mut Run<'_>,
) -> Result<(), FetchError> {
    if !is_file || hidden_path(entry_name) || !options.filter.accepts(entry_name) {
        run.stats.filtered += 1;
        return Ok(());
    }
    let name = format!("{label}!{entry_name}");
    let bytes = read_entry(entry, &name, options.max_document_bytes)?;
    run.document(name, bytes);
    Ok(())
}
