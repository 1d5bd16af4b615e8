//! The offline kit: one signed `.tar.zst` carrying an export (see [`super::export`]) to
//! machines without network access.
//!
//! Archive: a zstd frame holding a tar of `manifest.json`, `manifest.sig`, then every file
//! of the manifest in path order; regular files only, mode 0644, uid/gid 0, mtime the
//! manifest's `created`, so one export and one key always give the same bytes (Ed25519
//! signatures are deterministic).
//!
//! `manifest.sig` is a compact JWS (EdDSA, signed with `jsonwebtoken`) over
//! [`KitClaims`]: the SHA-256 of the exact `manifest.json` bytes, the root digest, the
//! `created` time and the key id. Its header carries the key id too, which is
//! [`key_id`]: the SHA-256 (hex) of the public key's SPKI DER, i.e.
//! `openssl pkey -pubin -in key.pub -outform DER | sha256sum`.
//!
//! [`import`] reads the archive under [`KitLimits`] into a private temporary directory,
//! verifies the signature against a trusted key, then every file's size and SHA-256 and
//! the root digest against the manifest, and only then parses the advisories.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::export::{
    self, ADVISORIES_DIR, ADVISORIES_JSONL, ExportManifest, FORMAT, FORMAT_VERSION, HashingWriter,
    Layout, MANIFEST, MATCHER_DB, ManifestFile,
};
use crate::advisory::canonical::{CanonicalAdvisory, sha256_hex};
use crate::advisory_db::AdvisoryDb;
use crate::signing_key::{self, Ed25519Key};

/// Name of the signature file inside a kit.
pub const SIGNATURE: &str = "manifest.sig";
/// `format` claim of every kit signature.
pub const KIT_FORMAT: &str = "stellaops-feed-kit";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitClaims {
    /// Always [`KIT_FORMAT`].
    pub format: String,
    /// SHA-256 (hex) of the exact `manifest.json` bytes.
    pub manifest_sha256: String,
    /// The manifest's root digest.
    pub root_digest: String,
    /// The manifest's `created`.
    pub created: String,
    /// Number of advisories.
    pub advisory_count: u64,
    /// [`key_id`] of the signing key.
    pub kid: String,
}

/// What identifies a kit: enough to decide whether another kit is newer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitInfo {
    /// The manifest's `created`.
    pub created: String,
    /// The manifest's root digest.
    pub root_digest: String,
    /// SHA-256 (hex) of `manifest.json`.
    pub manifest_sha256: String,
    /// [`key_id`] of the key that signed it.
    pub key_id: String,
    /// Number of advisories.
    pub advisory_count: u64,
}

/// Limits applied while reading a kit (it may come from anywhere until verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitLimits {
    /// Most archive entries.
    pub max_entries: usize,
    /// Largest single file, in bytes.
    pub max_file_bytes: u64,
    /// Most bytes of all files together (also bounds a decompression bomb).
    pub max_total_bytes: u64,
    /// Largest `manifest.json`.
    pub max_manifest_bytes: u64,
    /// Largest `manifest.sig`.
    pub max_signature_bytes: u64,
    /// Largest single advisory JSON (a file, or a line of the JSONL).
    pub max_advisory_bytes: usize,
    /// Deepest JSON nesting of the manifest and of an advisory.
    pub max_json_depth: usize,
    /// Longest entry path, in bytes.
    pub max_path_bytes: usize,
    /// Largest zstd window (log2 bytes): bounds the decoder's memory.
    pub zstd_window_log_max: u32,
}

impl Default for KitLimits {
    fn default() -> Self {
        // An export of ~300k advisories: that many files plus a matcher DB of a few GB.
        Self {
            max_entries: 2_000_000,
            max_file_bytes: 16 << 30,
            max_total_bytes: 64 << 30,
            max_manifest_bytes: 512 << 20,
            max_signature_bytes: 64 << 10,
            max_advisory_bytes: 16 << 20,
            max_json_depth: 128,
            max_path_bytes: 512,
            zstd_window_log_max: 27,
        }
    }
}

/// Options of [`import_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Reading limits.
    pub limits: KitLimits,
    /// Where the verified files are unpacked (a new temporary directory is made inside);
    /// default: the system temporary directory. Use the install target's filesystem to
    /// install `matcher.db` by a rename.
    pub work_dir: Option<PathBuf>,
}

/// A verified kit.
#[derive(Debug)]
pub struct ImportedKit {
    /// What identifies it.
    pub info: KitInfo,
    /// Its manifest.
    pub manifest: ExportManifest,
    /// Its advisories, sorted by id.
    pub advisories: Vec<CanonicalAdvisory>,
    /// The verified export (manifest, signature, every file), removed on drop.
    pub dir: tempfile::TempDir,
}

impl ImportedKit {
    /// The verified `matcher.db`, when the kit has one.
    pub fn matcher_db(&self) -> Option<PathBuf> {
        self.manifest
            .files
            .iter()
            .any(|f| f.path == MATCHER_DB)
            .then(|| self.dir.path().join(MATCHER_DB))
    }
}

/// A file read from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedFile {
    /// Its path in the archive.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// Why a kit could not be built or imported.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The private key is not an Ed25519 PKCS#8 PEM key.
    #[error("signing key: {reason}")]
    PrivateKey {
        /// What is wrong.
        reason: String,
    },
    /// A trusted public key is not an Ed25519 SPKI PEM key.
    #[error("trusted key #{index}: {reason}")]
    TrustedKey {
        /// Its position in the list given.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The kit was signed by a key that is not trusted.
    #[error("kit is signed by key {kid}, which is not among the {trusted} trusted key(s)")]
    UnknownKey {
        /// The signer's key id.
        kid: String,
        /// How many keys are trusted.
        trusted: usize,
    },
    /// The signature does not verify (or is not a JWS at all).
    #[error("bad kit signature: {reason}")]
    BadSignature {
        /// What failed.
        reason: String,
    },
    /// `manifest.json` is not the one that was signed.
    #[error(
        "manifest.json was changed after signing: its SHA-256 is {found}, the signature covers {expected}"
    )]
    ManifestTampered {
        /// Digest in the signature.
        expected: String,
        /// Digest of the manifest found.
        found: String,
    },
    /// The manifest is malformed or disagrees with its signature.
    #[error("invalid manifest: {reason}")]
    Manifest {
        /// What is wrong.
        reason: String,
    },
    /// The archive is malformed.
    #[error("invalid kit archive: {reason}")]
    Archive {
        /// What is wrong.
        reason: String,
    },
    /// An archive entry is not a plain relative file path.
    #[error("refused archive entry {path:?}: {reason}")]
    UnsafeEntry {
        /// The entry's path, as text.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// Something is larger than a limit.
    #[error("{what} is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// What (`entry advisories/ab/X.json`, `all files`).
        what: String,
        /// Its size (or the size reached when reading stopped).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// More archive entries than allowed.
    #[error("kit has more than {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// A file the manifest lists is not in the archive.
    #[error("{path} is listed in the manifest but missing from the kit")]
    MissingFile {
        /// The file.
        path: String,
    },
    /// The archive holds a file the manifest does not list.
    #[error("{path} is in the kit but not listed in the manifest")]
    UnexpectedFile {
        /// The file.
        path: String,
    },
    /// A file's content differs from the manifest.
    #[error("{path}: digest mismatch: manifest says {expected}, file has {found}")]
    DigestMismatch {
        /// The file.
        path: String,
        /// `sha256` (and size) from the manifest.
        expected: String,
        /// What the file has.
        found: String,
    },
    /// The root digest differs from the one recomputed from the files.
    #[error("root digest mismatch: {which} says {expected}, the files give {found}")]
    RootDigestMismatch {
        /// `manifest` or `signature`.
        which: &'static str,
        /// The recorded digest.
        expected: String,
        /// The recomputed digest.
        found: String,
    },
    /// The kit is older than the installed one.
    #[error(
        "kit created {kit_created} is older than the installed data created {installed_created} (use --force to install it anyway)"
    )]
    Older {
        /// `created` of the kit.
        kit_created: String,
        /// `created` of the installed data.
        installed_created: String,
    },
    /// The kit's data is already installed.
    #[error(
        "kit created {created} with root digest {root_digest} is already installed (use --force to reinstall)"
    )]
    AlreadyInstalled {
        /// `created` of the kit.
        created: String,
        /// Its root digest.
        root_digest: String,
    },
    /// An advisory file does not parse or does not belong where it is.
    #[error("{path}: invalid advisory: {reason}")]
    Advisory {
        /// The file (and line for JSONL).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The matcher DB does not open as an advisory DB.
    #[error("matcher.db: {0}")]
    MatcherDb(#[from] crate::advisory_db::AdvisoryDbError),
    /// Signing failed.
    #[error("signing failed: {reason}")]
    Sign {
        /// What failed.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> KitError + '_ {
    move |source| KitError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The key id old kits carry (before kits used [`signing_key::key_id`]): SHA-256
/// (hex) of the public key's SPKI DER. Only read: a kit whose signature names a
/// trusted key by this id still verifies; new kits are signed with the one rule.
fn legacy_key_id(public_key: &[u8; 32]) -> String {
    sha256_hex(&signing_key::spki_der(public_key))
}

/// Builds `out_path` (a `.tar.zst`) from the export in `export_dir`, signed with
/// `private_key_pem`. The export is checked against its manifest first, so a damaged
/// export is never signed. Same export and key: byte-identical kit.
pub fn build(
    export_dir: &Path,
    private_key_pem: &str,
    out_path: &Path,
) -> Result<KitInfo, KitError> {
    let key = Ed25519Key::from_pkcs8_pem(private_key_pem).map_err(|e| KitError::PrivateKey {
        reason: e.to_string(),
    })?;
    sign_and_pack(export_dir, &key, &key.key_id(), out_path)
}

/// [`build`] once the key is read, with the key id the signature names (a test
/// builds a kit with the legacy id).
fn sign_and_pack(
    export_dir: &Path,
    key: &Ed25519Key,
    kid: &str,
    out_path: &Path,
) -> Result<KitInfo, KitError> {
    let limits = KitLimits::default();
    let manifest_path = export_dir.join(MANIFEST);
    let manifest_bytes = read_bounded(&manifest_path, limits.max_manifest_bytes, "manifest.json")?;
    let manifest = parse_manifest(&manifest_bytes, &limits)?;
    for f in &manifest.files {
        let path = export_dir.join(&f.path);
        let (size, sha256) = export::hash_path(&path).map_err(io_err(&path))?;
        check_file(f, &sha256, size)?;
    }
    let kid = kid.to_owned();
    let claims = KitClaims {
        format: KIT_FORMAT.into(),
        manifest_sha256: sha256_hex(&manifest_bytes),
        root_digest: manifest.root_digest.clone(),
        created: manifest.created.clone(),
        advisory_count: manifest.advisory_count,
        kid: kid.clone(),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.clone());
    let encoding = EncodingKey::from_ed_der(&key.pkcs8_der());
    let signature =
        jsonwebtoken::encode(&header, &claims, &encoding).map_err(|e| KitError::Sign {
            reason: e.to_string(),
        })?;

    let mtime = export::parse_time(&manifest.created)
        .map(|t| t.timestamp().max(0) as u64)
        .unwrap_or(0);
    let parent = match out_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::NamedTempFile::new_in(&parent).map_err(io_err(&parent))?;
    let werr = io_err(out_path);
    {
        let file = std::io::BufWriter::new(tmp.as_file());
        let mut zst = zstd::stream::write::Encoder::new(file, 10).map_err(&werr)?;
        zst.include_checksum(true).map_err(&werr)?;
        let mut tar = tar::Builder::new(zst);
        let mut append = |path: &str, size: u64, data: &mut dyn Read| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(mtime);
            tar.append_data(&mut h, path, data)
        };
        append(
            MANIFEST,
            manifest_bytes.len() as u64,
            &mut manifest_bytes.as_slice(),
        )
        .map_err(&werr)?;
        append(SIGNATURE, signature.len() as u64, &mut signature.as_bytes()).map_err(&werr)?;
        for f in &manifest.files {
            let path = export_dir.join(&f.path);
            let file = std::fs::File::open(&path).map_err(io_err(&path))?;
            // Exactly the verified size, even if the file grew meanwhile.
            append(&f.path, f.size, &mut file.take(f.size)).map_err(io_err(&path))?;
        }
        let zst = tar.into_inner().map_err(&werr)?;
        let mut file = zst.finish().map_err(&werr)?;
        file.flush().map_err(&werr)?;
    }
    tmp.persist(out_path).map_err(|e| KitError::Io {
        path: out_path.display().to_string(),
        source: e.error,
    })?;
    Ok(KitInfo {
        created: manifest.created,
        root_digest: manifest.root_digest,
        manifest_sha256: claims.manifest_sha256,
        key_id: kid,
        advisory_count: manifest.advisory_count,
    })
}

/// Imports a kit with default limits into the system temporary directory: see
/// [`import_with`].
pub fn import(
    kit_path: &Path,
    trusted_public_keys: &[String],
    installed: Option<&KitInfo>,
    force: bool,
) -> Result<ImportedKit, KitError> {
    import_with(
        kit_path,
        trusted_public_keys,
        installed,
        force,
        &ImportOptions::default(),
    )
}

/// Reads and verifies a kit: archive within limits; signature by one of
/// `trusted_public_keys` (SPKI PEM); every file's size and SHA-256 and the root digest
/// against the manifest; then refuses a kit older than `installed` (by `created`) or
/// with the same root digest, unless `force`; then parses the advisories.
pub fn import_with(
    kit_path: &Path,
    trusted_public_keys: &[String],
    installed: Option<&KitInfo>,
    force: bool,
    options: &ImportOptions,
) -> Result<ImportedKit, KitError> {
    let limits = &options.limits;
    let trusted = trusted_keys(trusted_public_keys)?;
    let dir = match &options.work_dir {
        Some(w) => tempfile::Builder::new()
            .prefix("stella-kit-")
            .tempdir_in(w)
            .map_err(io_err(w))?,
        None => tempfile::Builder::new()
            .prefix("stella-kit-")
            .tempdir()
            .map_err(io_err(Path::new("temporary directory")))?,
    };
    let file = std::fs::File::open(kit_path).map_err(io_err(kit_path))?;
    // The signed manifest comes first: once it is verified, an entry it does not list
    // or of another size stops the import before more is written to disk.
    let mut verified: Option<Verified> = None;
    let archived = {
        let dest = dir.path();
        let mut check = |index: usize, path: &str, size: u64| -> Result<(), KitError> {
            match (index, path) {
                (0, MANIFEST) | (1, SIGNATURE) => return Ok(()),
                (0 | 1, _) => {
                    return Err(KitError::Archive {
                        reason: format!(
                            "a kit starts with {MANIFEST} then {SIGNATURE}; entry {index} is {path}"
                        ),
                    });
                }
                _ => {}
            }
            if verified.is_none() {
                verified = Some(verify_manifest(dest, &trusted, limits)?);
            }
            match verified.as_ref().and_then(|v| v.sizes.get(path)) {
                None => Err(KitError::UnexpectedFile { path: path.into() }),
                Some(&listed) if listed != size => Err(KitError::DigestMismatch {
                    path: path.into(),
                    expected: format!("{listed} bytes"),
                    found: format!("{size} bytes"),
                }),
                Some(_) => Ok(()),
            }
        };
        read_archive_with(file, dest, limits, &mut check)?
    };
    let names: BTreeSet<&str> = archived.iter().map(|f| f.path.as_str()).collect();
    for name in [MANIFEST, SIGNATURE] {
        if !names.contains(name) {
            return Err(KitError::MissingFile { path: name.into() });
        }
    }
    let Verified {
        claims,
        manifest,
        manifest_sha256,
        ..
    } = match verified {
        Some(v) => v,
        // A kit of manifest and signature alone (an empty export).
        None => verify_manifest(dir.path(), &trusted, limits)?,
    };
    let by_path: BTreeMap<&str, &ArchivedFile> =
        archived.iter().map(|f| (f.path.as_str(), f)).collect();
    // Every listed file present and intact, nothing unlisted.
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    for f in &manifest.files {
        let found = by_path
            .get(f.path.as_str())
            .ok_or_else(|| KitError::MissingFile {
                path: f.path.clone(),
            })?;
        check_file(f, &found.sha256, found.size)?;
    }
    if let Some(extra) = archived
        .iter()
        .find(|a| a.path != MANIFEST && a.path != SIGNATURE && !listed.contains(a.path.as_str()))
    {
        return Err(KitError::UnexpectedFile {
            path: extra.path.clone(),
        });
    }
    let info = KitInfo {
        created: manifest.created.clone(),
        root_digest: manifest.root_digest.clone(),
        manifest_sha256,
        key_id: claims.kid,
        advisory_count: manifest.advisory_count,
    };
    if let Some(old) = installed
        && !force
    {
        check_newer(&info, old)?;
    }
    let advisories = read_advisories(dir.path(), &manifest, limits)?;
    if listed.contains(MATCHER_DB) {
        AdvisoryDb::open_read_only(&dir.path().join(MATCHER_DB))?;
    }
    Ok(ImportedKit {
        info,
        manifest,
        advisories,
        dir,
    })
}

/// A manifest whose signature verified.
#[derive(Debug)]
struct Verified {
    claims: KitClaims,
    manifest: ExportManifest,
    manifest_sha256: String,
    /// Listed size of each file, by path.
    sizes: BTreeMap<String, u64>,
}

/// Verifies the unpacked `manifest.sig` against `trusted` and the unpacked
/// `manifest.json` against the signed claims.
fn verify_manifest(
    dir: &Path,
    trusted: &[TrustedKey],
    limits: &KitLimits,
) -> Result<Verified, KitError> {
    let manifest_bytes = read_bounded(&dir.join(MANIFEST), limits.max_manifest_bytes, MANIFEST)?;
    let signature = read_bounded(&dir.join(SIGNATURE), limits.max_signature_bytes, SIGNATURE)?;
    let claims = verify_signature(&signature, trusted)?;
    let manifest_sha256 = sha256_hex(&manifest_bytes);
    if claims.manifest_sha256 != manifest_sha256 {
        return Err(KitError::ManifestTampered {
            expected: claims.manifest_sha256,
            found: manifest_sha256,
        });
    }
    let manifest = parse_manifest(&manifest_bytes, limits)?;
    if claims.root_digest != manifest.root_digest {
        return Err(KitError::RootDigestMismatch {
            which: "signature",
            expected: claims.root_digest,
            found: manifest.root_digest,
        });
    }
    if claims.created != manifest.created || claims.advisory_count != manifest.advisory_count {
        return Err(KitError::Manifest {
            reason: "created or advisory_count differ from the signed claims".into(),
        });
    }
    let sizes = manifest
        .files
        .iter()
        .map(|f| (f.path.clone(), f.size))
        .collect();
    Ok(Verified {
        claims,
        manifest,
        manifest_sha256,
        sizes,
    })
}

/// Refuses `kit` when it is older than `installed`, or carries the same data.
pub fn check_newer(kit: &KitInfo, installed: &KitInfo) -> Result<(), KitError> {
    let (new, old) = (
        export::parse_time(&kit.created),
        export::parse_time(&installed.created),
    );
    let older = match (new, old) {
        (Some(n), Some(o)) => n < o,
        // An unreadable installed time cannot make a verified kit look old.
        _ => false,
    };
    if older {
        return Err(KitError::Older {
            kit_created: kit.created.clone(),
            installed_created: installed.created.clone(),
        });
    }
    if kit.root_digest == installed.root_digest {
        return Err(KitError::AlreadyInstalled {
            created: kit.created.clone(),
            root_digest: kit.root_digest.clone(),
        });
    }
    Ok(())
}

/// A trusted public key and the two ids a kit's signature may name it by.
struct TrustedKey {
    kid: String,
    legacy_kid: String,
    key: DecodingKey,
}

fn trusted_keys(pems: &[String]) -> Result<Vec<TrustedKey>, KitError> {
    pems.iter()
        .enumerate()
        .map(|(index, pem)| {
            let public =
                signing_key::public_key_from_pem(pem).map_err(|e| KitError::TrustedKey {
                    index,
                    reason: e.to_string(),
                })?;
            Ok(TrustedKey {
                kid: signing_key::key_id(&public),
                legacy_kid: legacy_key_id(&public),
                // jsonwebtoken's rust_crypto verifier takes the raw 32-byte public key.
                key: DecodingKey::from_ed_der(&public),
            })
        })
        .collect()
}

fn verify_signature(signature: &[u8], trusted: &[TrustedKey]) -> Result<KitClaims, KitError> {
    let bad = |reason: String| KitError::BadSignature { reason };
    let token = std::str::from_utf8(signature)
        .map_err(|_| bad("manifest.sig is not text".into()))?
        .trim();
    let header = jsonwebtoken::decode_header(token).map_err(|e| bad(e.to_string()))?;
    if header.alg != Algorithm::EdDSA {
        return Err(bad(format!("algorithm {:?}, expected EdDSA", header.alg)));
    }
    let kid = header
        .kid
        .ok_or_else(|| bad("no key id in the header".into()))?;
    // Kits signed before the one key id rule name their key by the legacy id.
    let key = &trusted
        .iter()
        .find(|t| t.kid == kid || t.legacy_kid == kid)
        .ok_or_else(|| KitError::UnknownKey {
            kid: kid.clone(),
            trusted: trusted.len(),
        })?
        .key;
    let mut validation = Validation::new(Algorithm::EdDSA);
    // The claims carry no expiry: a kit stays valid; freshness is `created` vs installed.
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<KitClaims>(token, key, &validation)
        .map_err(|e| bad(e.to_string()))?;
    let claims = data.claims;
    if claims.format != KIT_FORMAT {
        return Err(bad(format!("format claim {:?}", claims.format)));
    }
    if claims.kid != kid {
        return Err(bad("key id in the claims differs from the header".into()));
    }
    Ok(claims)
}

fn check_file(listed: &ManifestFile, sha256: &str, size: u64) -> Result<(), KitError> {
    if listed.sha256 != sha256 || listed.size != size {
        return Err(KitError::DigestMismatch {
            path: listed.path.clone(),
            expected: format!("{} ({} bytes)", listed.sha256, listed.size),
            found: format!("{sha256} ({size} bytes)"),
        });
    }
    Ok(())
}

fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, KitError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut out = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(io_err(path))?;
    if out.len() as u64 > max {
        return Err(KitError::TooLarge {
            what: what.into(),
            size: out.len() as u64,
            limit: max,
        });
    }
    Ok(out)
}

/// Parses and checks a manifest: size and depth limits, known format and version, safe
/// sorted unique paths, hex digests, and a root digest that matches its file list.
pub fn parse_manifest(bytes: &[u8], limits: &KitLimits) -> Result<ExportManifest, KitError> {
    let bad = |reason: String| KitError::Manifest { reason };
    if bytes.len() as u64 > limits.max_manifest_bytes {
        return Err(KitError::TooLarge {
            what: MANIFEST.into(),
            size: bytes.len() as u64,
            limit: limits.max_manifest_bytes,
        });
    }
    if crate::json_depth::exceeds(bytes, limits.max_json_depth) {
        return Err(bad(format!(
            "nests deeper than the limit of {}",
            limits.max_json_depth
        )));
    }
    let manifest: ExportManifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if manifest.format != FORMAT {
        return Err(bad(format!(
            "format {:?}, expected {FORMAT}",
            manifest.format
        )));
    }
    if manifest.format_version != FORMAT_VERSION {
        return Err(bad(format!(
            "format version {}, this build reads {FORMAT_VERSION}",
            manifest.format_version
        )));
    }
    if export::parse_time(&manifest.created).is_none() {
        return Err(bad(format!(
            "created {:?} is not RFC 3339",
            manifest.created
        )));
    }
    let mut previous: Option<&str> = None;
    for f in &manifest.files {
        check_path(&f.path, limits)?;
        if f.path == MANIFEST || f.path == SIGNATURE {
            return Err(bad(format!("lists {}", f.path)));
        }
        if previous.is_some_and(|p| p.as_bytes() >= f.path.as_bytes()) {
            return Err(bad(format!("files not sorted or repeated at {}", f.path)));
        }
        previous = Some(&f.path);
        if !is_sha256_hex(&f.sha256) {
            return Err(bad(format!("{}: sha256 is not 64 lower-case hex", f.path)));
        }
    }
    let root = export::root_digest(&manifest.files);
    if root != manifest.root_digest {
        return Err(KitError::RootDigestMismatch {
            which: "manifest",
            expected: manifest.root_digest,
            found: root,
        });
    }
    Ok(manifest)
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Accepts only plain relative paths of the export's alphabet: no absolute path, no
/// `.`/`..`/empty component, no backslash, at most 4 components.
fn check_path(path: &str, limits: &KitLimits) -> Result<(), KitError> {
    let refuse = |reason: &str| KitError::UnsafeEntry {
        path: path.to_string(),
        reason: reason.into(),
    };
    if path.is_empty() || path.len() > limits.max_path_bytes {
        return Err(refuse("empty or too long"));
    }
    if path.starts_with('/') {
        return Err(refuse("absolute path"));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() > 4 {
        return Err(refuse("nested too deep"));
    }
    for part in parts {
        if part == ".." {
            return Err(refuse("parent directory component"));
        }
        if part.is_empty() || part == "." {
            return Err(refuse("empty or `.` component"));
        }
        if !part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'%'))
        {
            return Err(refuse("characters outside A-Z a-z 0-9 - _ . %"));
        }
    }
    Ok(())
}

/// Unpacks a `.tar.zst` kit read from `reader` into `dest` (an empty directory) under
/// `limits`; see [`read_tar`].
pub fn read_archive(
    reader: impl Read,
    dest: &Path,
    limits: &KitLimits,
) -> Result<Vec<ArchivedFile>, KitError> {
    read_archive_with(reader, dest, limits, &mut |_, _, _| Ok(()))
}

/// A check run on each archive entry (index, path, size) before it is written.
type EntryCheck<'a> = dyn FnMut(usize, &str, u64) -> Result<(), KitError> + 'a;

fn read_archive_with(
    reader: impl Read,
    dest: &Path,
    limits: &KitLimits,
    check: &mut EntryCheck<'_>,
) -> Result<Vec<ArchivedFile>, KitError> {
    let arch = |e: std::io::Error| KitError::Archive {
        reason: format!("zstd: {e}"),
    };
    let mut zst = zstd::stream::read::Decoder::new(reader).map_err(arch)?;
    zst.window_log_max(limits.zstd_window_log_max)
        .map_err(arch)?;
    read_tar_with(zst, dest, limits, check)
}

/// Unpacks a tar into `dest`, hashing each file: regular files only (no links,
/// directories or devices), safe relative paths, no repeated path, within the entry
/// count and size limits. Nothing is trusted yet: the caller verifies the digests.
pub fn read_tar(
    reader: impl Read,
    dest: &Path,
    limits: &KitLimits,
) -> Result<Vec<ArchivedFile>, KitError> {
    read_tar_with(reader, dest, limits, &mut |_, _, _| Ok(()))
}

fn read_tar_with(
    reader: impl Read,
    dest: &Path,
    limits: &KitLimits,
    check: &mut EntryCheck<'_>,
) -> Result<Vec<ArchivedFile>, KitError> {
    let arch = |e: std::io::Error| KitError::Archive {
        reason: e.to_string(),
    };
    let mut archive = tar::Archive::new(reader);
    let mut out: Vec<ArchivedFile> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut total: u64 = 0;
    for entry in archive.entries().map_err(arch)? {
        let mut entry = entry.map_err(arch)?;
        if out.len() >= limits.max_entries {
            return Err(KitError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8(raw).map_err(|e| KitError::UnsafeEntry {
            path: String::from_utf8_lossy(e.as_bytes()).into_owned(),
            reason: "path is not UTF-8".into(),
        })?;
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(KitError::UnsafeEntry {
                path,
                reason: format!("not a regular file ({kind:?})"),
            });
        }
        check_path(&path, limits)?;
        if !seen.insert(path.clone()) {
            return Err(KitError::Archive {
                reason: format!("{path} appears twice"),
            });
        }
        let size = entry.header().size().map_err(arch)?;
        if size > limits.max_file_bytes {
            return Err(KitError::TooLarge {
                what: format!("entry {path}"),
                size,
                limit: limits.max_file_bytes,
            });
        }
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(KitError::TooLarge {
                what: "all files".into(),
                size: total,
                limit: limits.max_total_bytes,
            });
        }
        check(out.len(), &path, size)?;
        let target = dest.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| KitError::Archive {
                reason: format!("{path}: {e}"),
            })?;
        }
        let file = std::fs::File::create_new(&target).map_err(|e| KitError::Archive {
            reason: format!("{path}: {e}"),
        })?;
        let mut w = HashingWriter::new(std::io::BufWriter::new(file));
        // The header's size was checked; `take` keeps a lying stream to it.
        std::io::copy(&mut (&mut entry).take(size), &mut w).map_err(arch)?;
        let (written, sha256) = w.finish().map_err(io_err(&target))?;
        if written != size {
            return Err(KitError::Archive {
                reason: format!("{path}: truncated ({written} of {size} bytes)"),
            });
        }
        out.push(ArchivedFile { path, size, sha256 });
    }
    Ok(out)
}

/// Parses the verified advisories of an unpacked export, checking each is where its
/// id says and that the count matches the manifest.
fn read_advisories(
    dir: &Path,
    manifest: &ExportManifest,
    limits: &KitLimits,
) -> Result<Vec<CanonicalAdvisory>, KitError> {
    let mut out = Vec::with_capacity(usize::try_from(manifest.advisory_count).unwrap_or(0));
    match manifest.layout {
        Layout::Files => {
            let prefix = format!("{ADVISORIES_DIR}/");
            for f in manifest
                .files
                .iter()
                .filter(|f| f.path.starts_with(&prefix))
            {
                let path = dir.join(&f.path);
                let bytes = read_bounded(&path, limits.max_advisory_bytes as u64, &f.path)?;
                let a = parse_advisory(&bytes, &f.path, limits)?;
                if export::advisory_path(&a.id) != f.path {
                    return Err(KitError::Advisory {
                        path: f.path.clone(),
                        reason: format!("holds {}, which belongs elsewhere", a.id),
                    });
                }
                out.push(a);
            }
        }
        Layout::Jsonl => {
            if manifest.files.iter().any(|f| f.path == ADVISORIES_JSONL) {
                let path = dir.join(ADVISORIES_JSONL);
                let file = std::fs::File::open(&path).map_err(io_err(&path))?;
                let mut reader = std::io::BufReader::new(file);
                let mut line = Vec::new();
                let mut n = 0usize;
                loop {
                    line.clear();
                    n += 1;
                    let what = format!("{ADVISORIES_JSONL}:{n}");
                    let read = (&mut reader)
                        .take(limits.max_advisory_bytes as u64 + 1)
                        .read_until(b'\n', &mut line)
                        .map_err(io_err(&path))?;
                    if read == 0 {
                        break;
                    }
                    if line.last() != Some(&b'\n') {
                        if line.len() > limits.max_advisory_bytes {
                            return Err(KitError::TooLarge {
                                what,
                                size: line.len() as u64,
                                limit: limits.max_advisory_bytes as u64,
                            });
                        }
                        return Err(KitError::Advisory {
                            path: what,
                            reason: "last line does not end in a newline".into(),
                        });
                    }
                    line.pop();
                    out.push(parse_advisory(&line, &what, limits)?);
                }
            }
        }
    }
    if out.windows(2).any(|w| w[0].id >= w[1].id) && manifest.layout == Layout::Jsonl {
        return Err(KitError::Advisory {
            path: ADVISORIES_JSONL.into(),
            reason: "advisories not sorted by id or repeated".into(),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(w) = out.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(KitError::Advisory {
            path: ADVISORIES_DIR.into(),
            reason: format!("{} appears twice", w[0].id),
        });
    }
    if out.len() as u64 != manifest.advisory_count {
        return Err(KitError::Manifest {
            reason: format!(
                "advisory_count is {} but the kit holds {}",
                manifest.advisory_count,
                out.len()
            ),
        });
    }
    Ok(out)
}

fn parse_advisory(
    bytes: &[u8],
    what: &str,
    limits: &KitLimits,
) -> Result<CanonicalAdvisory, KitError> {
    let bad = |reason: String| KitError::Advisory {
        path: what.to_string(),
        reason,
    };
    if crate::json_depth::exceeds(bytes, limits.max_json_depth) {
        return Err(bad(format!(
            "nests deeper than the limit of {}",
            limits.max_json_depth
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kits_signed_with_the_legacy_key_id_still_verify() {
        let tmp = tempfile::tempdir().unwrap();
        let export_dir = tmp.path().join("export");
        export::write(&[], &export_dir, &export::ExportOptions::default()).unwrap();
        let key = Ed25519Key::generate().unwrap();
        // The old rule: SHA-256 (hex) of the SPKI DER, as old kits carry it.
        let legacy = legacy_key_id(key.public_key());
        assert_eq!(legacy, sha256_hex(&signing_key::spki_der(key.public_key())));
        assert_eq!(legacy.len(), 64);
        let old_kit = tmp.path().join("old.tar.zst");
        let info = sign_and_pack(&export_dir, &key, &legacy, &old_kit).unwrap();
        assert_eq!(info.key_id, legacy);
        let imported = import(&old_kit, &[key.public_pem()], None, false).unwrap();
        assert_eq!(imported.info.key_id, legacy);
        // New kits name their key by the one rule, and verify too.
        let new_kit = tmp.path().join("new.tar.zst");
        let info = build(&export_dir, &key.pkcs8_pem(), &new_kit).unwrap();
        assert_eq!(info.key_id, key.key_id());
        import(&new_kit, &[key.public_pem()], None, false).unwrap();
        // A legacy id of another key is still unknown.
        let other = Ed25519Key::generate().unwrap();
        assert!(matches!(
            import(&old_kit, &[other.public_pem()], None, false),
            Err(KitError::UnknownKey { .. })
        ));
    }

    #[test]
    fn paths_outside_the_alphabet_are_refused() {
        let l = KitLimits::default();
        for ok in ["manifest.json", "advisories/ab/CVE-2023-1.json", "a%2Fb"] {
            assert!(check_path(ok, &l).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "./a",
            "a\\b",
            "a b",
            "a/b/c/d/e",
        ] {
            assert!(check_path(bad, &l).is_err(), "{bad}");
        }
    }

    #[test]
    fn newer_kits_pass_older_and_same_are_refused() {
        let info = |created: &str, root: &str| KitInfo {
            created: created.into(),
            root_digest: root.into(),
            manifest_sha256: String::new(),
            key_id: String::new(),
            advisory_count: 0,
        };
        let installed = info("2024-05-01T00:00:00Z", "r1");
        assert!(check_newer(&info("2024-06-01T00:00:00Z", "r2"), &installed).is_ok());
        let err = check_newer(&info("2024-04-01T00:00:00Z", "r2"), &installed).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("2024-04-01T00:00:00Z") && text.contains("2024-05-01T00:00:00Z"),
            "{text}"
        );
        assert!(matches!(
            check_newer(&info("2024-05-01T00:00:00Z", "r1"), &installed),
            Err(KitError::AlreadyInstalled { .. })
        ));
    }
}
