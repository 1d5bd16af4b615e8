//! RPM packages from the SQLite rpmdb (`var/lib/rpm/rpmdb.sqlite`, or
//! `usr/lib/sysimage/rpm/rpmdb.sqlite` on newer Fedora/openSUSE). Each row of its
//! `Packages` table is an rpm header blob without the lead magic: `il` and `dl`
//! (big-endian u32), `il` index entries of 16 bytes (tag, type, offset, count),
//! then `dl` bytes of data (rpm's `lib/header.c`, `headerImport`).
//!
//! The Berkeley DB rpmdb of RHEL/CentOS ≤ 8 (`var/lib/rpm/Packages`) is read too
//! (see [`super::bdb`]), unless an SQLite one is present (then it is a leftover of
//! the migration). The ndb format (`Packages.db`, SUSE) is not read.
//!
//! The purl follows PURL-TYPES: version is `<version>-<release>`, the epoch is an
//! `epoch` qualifier. [`FoundPackage::version`] is the full EVR
//! (`2:1.2.3-4.el9`), which is what rpm advisories compare.

use std::collections::BTreeMap;
use std::io::Read;

use super::bdb;
use super::os_release::distro_qualifier;
use super::{Analysis, Analyzer, AnalyzerError};
use crate::inventory::{FileEntry, FoundPackage, OsRelease};
use crate::sbom::Purl;

/// The SQLite rpmdb locations read.
pub const PATHS: [&str; 2] = [
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
];
/// The Berkeley DB rpmdb locations read.
pub const BDB_PATHS: [&str; 2] = ["var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages"];

/// Most packages read from one database.
pub const MAX_PACKAGES: usize = 200_000;
/// Largest database accepted (SQLite's deserialise takes an `int` size).
pub const MAX_DB_BYTES: usize = 1 << 30;
/// Most index entries in one header (rpm's own `hdrchkTags`).
const MAX_TAGS: u32 = 0xffff;
/// Largest header data store (rpm's own `hdrchkData`).
const MAX_DATA: u32 = 256 * 1024 * 1024;
/// Largest header blob taken from a Berkeley DB (index + data store limits).
const MAX_BLOB: usize = 8 + MAX_TAGS as usize * 16 + MAX_DATA as usize;
/// Most owned files kept per package.
pub const MAX_FILES_PER_PACKAGE: usize = 100_000;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_LICENSE: u32 = 1014;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;
const TAG_DIRINDEXES: u32 = 1116;
const TAG_BASENAMES: u32 = 1117;
const TAG_DIRNAMES: u32 = 1118;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// Reads the SQLite rpmdb.
#[derive(Debug, Default, Clone, Copy)]
pub struct RpmAnalyzer;

/// Why a header blob could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Shorter than its own counts say.
    #[error("header truncated: {0}")]
    Truncated(&'static str),
    /// Counts beyond rpm's own limits.
    #[error("header too large: {0}")]
    TooLarge(&'static str),
    /// A required tag is missing or of the wrong type.
    #[error("header lacks tag {0}")]
    MissingTag(u32),
}

/// The fields of one installed package's header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpmHeader {
    /// `NAME`.
    pub name: String,
    /// `EPOCH`, when set.
    pub epoch: Option<i32>,
    /// `VERSION`.
    pub version: String,
    /// `RELEASE`.
    pub release: String,
    /// `ARCH` (absent on `gpg-pubkey` pseudo-packages).
    pub arch: Option<String>,
    /// `SOURCERPM` (`openssl-3.0.7-24.el9.src.rpm`).
    pub source_rpm: Option<String>,
    /// `LICENSE`.
    pub license: Option<String>,
    /// Owned files, from `DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]`, without the
    /// leading `/`.
    pub files: Vec<String>,
}

impl RpmHeader {
    /// `[epoch:]version-release`.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }
}

struct Entry {
    tag: u32,
    ty: u32,
    offset: usize,
    count: usize,
}

/// Parse an rpm header blob as the SQLite rpmdb stores it.
pub fn parse_header(blob: &[u8]) -> Result<RpmHeader, HeaderError> {
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        let bytes: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u32::from_be_bytes(bytes))
    };
    let il = u32_at(blob, 0).ok_or(HeaderError::Truncated("no index length"))?;
    let dl = u32_at(blob, 4).ok_or(HeaderError::Truncated("no data length"))?;
    if il == 0 || il > MAX_TAGS {
        return Err(HeaderError::TooLarge("index entry count"));
    }
    if dl > MAX_DATA {
        return Err(HeaderError::TooLarge("data length"));
    }
    let index_end = 8 + il as usize * 16;
    let data = blob
        .get(index_end..index_end + dl as usize)
        .ok_or(HeaderError::Truncated("index or data beyond blob"))?;
    let mut entries = Vec::with_capacity(il as usize);
    for i in 0..il as usize {
        let at = 8 + i * 16;
        let field = |k: usize| u32_at(blob, at + k * 4).ok_or(HeaderError::Truncated("index"));
        entries.push(Entry {
            tag: field(0)?,
            ty: field(1)?,
            offset: field(2)? as usize,
            count: field(3)? as usize,
        });
    }
    let find = |tag: u32| entries.iter().find(|e| e.tag == tag);
    let string = |tag: u32| -> Option<String> {
        let e = find(tag)?;
        if !matches!(e.ty, TYPE_STRING | TYPE_I18NSTRING | TYPE_STRING_ARRAY) {
            return None;
        }
        // For I18N and array types the first string is the default / first one.
        read_strings(data, e.offset, 1).into_iter().next()
    };
    let strings = |tag: u32| -> Vec<String> {
        match find(tag) {
            Some(e) if e.ty == TYPE_STRING_ARRAY => {
                read_strings(data, e.offset, e.count.min(MAX_FILES_PER_PACKAGE))
            }
            _ => Vec::new(),
        }
    };
    let int32s = |tag: u32| -> Vec<i32> {
        match find(tag) {
            Some(e) if e.ty == TYPE_INT32 => (0..e.count.min(MAX_FILES_PER_PACKAGE))
                .map_while(|i| {
                    let at = e.offset.checked_add(i.checked_mul(4)?)?;
                    u32_at(data, at).map(|v| v as i32)
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let name = string(TAG_NAME).ok_or(HeaderError::MissingTag(TAG_NAME))?;
    let version = string(TAG_VERSION).ok_or(HeaderError::MissingTag(TAG_VERSION))?;
    let release = string(TAG_RELEASE).ok_or(HeaderError::MissingTag(TAG_RELEASE))?;
    let epoch = int32s(TAG_EPOCH).first().copied();
    let dirs = strings(TAG_DIRNAMES);
    let files = int32s(TAG_DIRINDEXES)
        .into_iter()
        .zip(strings(TAG_BASENAMES))
        .filter_map(|(di, base)| {
            let dir = dirs.get(usize::try_from(di).ok()?)?;
            let path = format!("{dir}{base}");
            let path = path.trim_start_matches('/');
            (!path.is_empty()).then(|| path.to_string())
        })
        .collect();
    Ok(RpmHeader {
        name,
        epoch,
        version,
        release,
        arch: string(TAG_ARCH),
        source_rpm: string(TAG_SOURCERPM),
        license: string(TAG_LICENSE),
        files,
    })
}

/// Up to `n` NUL-terminated strings from `offset`; stops at the first malformed one.
fn read_strings(data: &[u8], offset: usize, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = offset;
    while out.len() < n {
        let Some(rest) = data.get(at..) else { break };
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            break;
        };
        out.push(String::from_utf8_lossy(rest.get(..len).unwrap_or_default()).into_owned());
        at += len + 1;
    }
    out
}

/// Header blobs of an SQLite rpmdb, in `hnum` order.
pub fn read_sqlite_blobs(db: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if db.len() > MAX_DB_BYTES {
        return Err(format!("database larger than {MAX_DB_BYTES} bytes"));
    }
    if db.len() < 100 || !db.starts_with(b"SQLite format 3\0") {
        return Err("not an SQLite database".into());
    }
    let mut conn = rusqlite::Connection::open_in_memory().map_err(|e| e.to_string())?;
    // rpm keeps its database in WAL mode; an in-memory copy has no WAL file and
    // SQLite refuses to read it unless the header says rollback journal (1, 1).
    let (head, tail) = db.split_at(18);
    let fixed: [u8; 2] = match db.get(18..20) {
        Some([2, 2]) => [1, 1],
        Some(&[a, b]) => [a, b],
        _ => return Err("not an SQLite database".into()),
    };
    let reader = head
        .chain(&fixed[..])
        .chain(tail.get(2..).unwrap_or_default());
    conn.deserialize_read_exact(rusqlite::MAIN_DB, reader, db.len(), true)
        .map_err(|e| e.to_string())?;
    let mut stmt = conn
        .prepare("SELECT blob FROM Packages ORDER BY hnum LIMIT ?1")
        .map_err(|e| e.to_string())?;
    let limit = i64::try_from(MAX_PACKAGES + 1).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map([limit], |r| r.get::<_, Vec<u8>>(0))
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// The purl namespace (vendor) for an OS `ID`.
pub fn vendor(os_id: &str) -> String {
    match os_id {
        "rhel" | "redhat" => "redhat",
        "rocky" => "rocky",
        "almalinux" => "almalinux",
        "centos" => "centos",
        "fedora" => "fedora",
        "ol" => "oracle",
        "amzn" => "amazon",
        "sles" | "sled" | "sle-micro" => "suse",
        id if id.starts_with("opensuse") => "opensuse",
        id => id,
    }
    .to_string()
}

/// Source package name from `SOURCERPM` (`openssl-3.0.7-24.el9.src.rpm` ->
/// `openssl`): the file name minus `-version-release.arch.rpm`.
fn source_name(source_rpm: &str) -> Option<&str> {
    let stem = source_rpm.strip_suffix(".rpm")?;
    let (nvr, _arch) = stem.rsplit_once('.')?;
    let (nv, _release) = nvr.rsplit_once('-')?;
    let (n, _version) = nv.rsplit_once('-')?;
    (!n.is_empty()).then_some(n)
}

fn rpm_purl(h: &RpmHeader, os: Option<&OsRelease>) -> Result<Purl, String> {
    let mut qualifiers = BTreeMap::new();
    if let Some(a) = h.arch.as_ref().filter(|a| !a.is_empty()) {
        qualifiers.insert("arch".to_string(), a.clone());
    }
    if let Some(e) = h.epoch {
        qualifiers.insert("epoch".to_string(), e.to_string());
    }
    if let Some(d) = os.and_then(distro_qualifier) {
        qualifiers.insert("distro".to_string(), d);
    }
    if let Some(src) = h.source_rpm.as_deref().and_then(source_name)
        && src != h.name
    {
        qualifiers.insert("upstream".to_string(), src.to_string());
    }
    let raw = Purl {
        ty: "rpm".into(),
        namespace: os
            .map(|o| vendor(&o.id.trim().to_ascii_lowercase()))
            .filter(|v| !v.is_empty()),
        name: h.name.clone(),
        version: Some(format!("{}-{}", h.version, h.release)),
        qualifiers,
        subpath: None,
    };
    Purl::parse(&raw.to_string()).map_err(|e| e.to_string())
}

impl Analyzer for RpmAnalyzer {
    fn name(&self) -> &'static str {
        "rpm"
    }

    fn wants(&self, path: &str) -> bool {
        PATHS.contains(&path) || BDB_PATHS.contains(&path)
    }

    fn analyze(&self, files: &[&FileEntry], os: Option<&OsRelease>) -> Analysis {
        let mut out = Analysis::default();
        let has_sqlite = files.iter().any(|f| PATHS.contains(&f.path.as_str()));
        let dbs = files.iter().filter(|f| {
            PATHS.contains(&f.path.as_str())
                || (!has_sqlite && BDB_PATHS.contains(&f.path.as_str()))
        });
        for db in dbs {
            let err = |reason: String| AnalyzerError {
                analyzer: "rpm",
                path: db.path.clone(),
                reason,
            };
            let read = if BDB_PATHS.contains(&db.path.as_str()) {
                bdb::hash_values(&db.contents, MAX_PACKAGES + 1, MAX_BLOB)
                    .map_err(|e| e.to_string())
            } else {
                read_sqlite_blobs(&db.contents)
            };
            let mut blobs = match read {
                Ok(b) => b,
                Err(e) => {
                    out.errors.push(err(e));
                    continue;
                }
            };
            if blobs.len() > MAX_PACKAGES {
                blobs.truncate(MAX_PACKAGES);
                out.errors.push(err(format!(
                    "more than {MAX_PACKAGES} packages; rest skipped"
                )));
            }
            for (i, blob) in blobs.iter().enumerate() {
                let h = match parse_header(blob) {
                    Ok(h) => h,
                    Err(e) => {
                        out.errors.push(err(format!("package row {}: {e}", i + 1)));
                        continue;
                    }
                };
                // Imported signing keys are stored as packages without an arch.
                if h.name == "gpg-pubkey" {
                    continue;
                }
                let purl = match rpm_purl(&h, os) {
                    Ok(p) => p,
                    Err(e) => {
                        out.errors.push(err(format!("package {}: {e}", h.name)));
                        continue;
                    }
                };
                let version = h.evr();
                let mut owned = Vec::with_capacity(h.files.len() + 1);
                owned.push(db.path.clone());
                owned.extend(h.files);
                out.packages.push(FoundPackage {
                    purl,
                    name: h.name,
                    version,
                    files: owned,
                    layer_digest: db.layer_digest.clone(),
                    licenses: h.license.into_iter().filter(|l| !l.is_empty()).collect(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecosystem::{Ecosystem, EcosystemKind};

    fn fixture() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/inventory/rpmdb.sqlite"
        );
        std::fs::read(path).expect("rpmdb.sqlite fixture")
    }

    fn rhel() -> OsRelease {
        OsRelease {
            id: "rhel".into(),
            version_id: Some("9.3".into()),
            ..OsRelease::default()
        }
    }

    /// A header blob from (tag, type, count, data) entries, laid out like rpm's.
    fn build_header(entries: &[(u32, u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, count, bytes) in entries {
            if *ty == TYPE_INT32 {
                while data.len() % 4 != 0 {
                    data.push(0);
                }
            }
            for v in [*tag, *ty, data.len() as u32, *count] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            data.extend_from_slice(bytes);
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        blob.extend(index);
        blob.extend(data);
        blob
    }

    fn s(v: &str) -> Vec<u8> {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        b
    }

    // The fixture was made with rpm 4.18: `rpmbuild -bb` of two trivial specs, then
    // `rpm --define '_db_backend sqlite' --root R --initdb` and `rpm -i` into it.
    // `rpm -qa` on it prints:
    //   hello-stella 2 1.2.3 4.el9 x86_64 hello-stella-1.2.3-4.el9.src.rpm MIT AND (Apache-2.0 OR BSD-3-Clause)
    //   plain (none) 0.9 1 noarch plain-0.9-1.src.rpm GPL-2.0-only
    //   gpg-pubkey (none) 58e0168a 6b0bd403 (none) (none) pubkey
    // (the last from `rpm --import` of a throwaway key: signing keys live in the
    // Packages table too, and are not packages).
    #[test]
    fn reads_a_real_rpmdb() {
        let db = FileEntry {
            path: PATHS[0].into(),
            contents: fixture(),
            layer_digest: Some("sha256:rpm".into()),
        };
        // rpm leaves the database in WAL mode; the reader must cope with that.
        assert_eq!(db.contents.get(18..20), Some(&[2u8, 2][..]));
        let a = RpmAnalyzer.analyze(&[&db], Some(&rhel()));
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        let blobs = read_sqlite_blobs(&db.contents).expect("blobs");
        assert_eq!(blobs.len(), 3);
        let key = parse_header(blobs.get(2).map(Vec::as_slice).unwrap_or_default()).expect("key");
        assert_eq!(
            (key.name.as_str(), key.arch.as_deref()),
            ("gpg-pubkey", None)
        );
        assert_eq!(a.packages.len(), 2);
        let hello = &a.packages[0];
        assert_eq!(hello.name, "hello-stella");
        assert_eq!(hello.version, "2:1.2.3-4.el9");
        assert_eq!(
            hello.purl.to_string(),
            "pkg:rpm/redhat/hello-stella@1.2.3-4.el9?arch=x86_64&distro=rhel-9.3&epoch=2"
        );
        assert_eq!(hello.licenses, ["MIT AND (Apache-2.0 OR BSD-3-Clause)"]);
        assert_eq!(hello.files, [PATHS[0], "usr/share/hello-stella/README"]);
        assert_eq!(hello.layer_digest.as_deref(), Some("sha256:rpm"));
        let plain = &a.packages[1];
        assert_eq!(plain.version, "0.9-1");
        assert_eq!(
            plain.purl.to_string(),
            "pkg:rpm/redhat/plain@0.9-1?arch=noarch&distro=rhel-9.3"
        );
        let eco = Ecosystem::from_purl(&plain.purl).expect("ecosystem");
        assert_eq!(
            (eco.kind, eco.release.as_deref()),
            (EcosystemKind::RedHat, Some("9"))
        );
    }

    // The same three headers in a Berkeley DB hash file, as RHEL ≤ 8 keeps them:
    // made with `db5.3_load -t hash -c db_pagesize=1024` from the blobs above (keys
    // are the package numbers); rpm's own `bdb_ro` backend lists the same packages.
    #[test]
    fn reads_a_berkeley_db_rpmdb_unless_sqlite_is_there() {
        let bdb_bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/inventory/rpmdb-bdb-Packages"
        ))
        .expect("bdb fixture");
        let db = FileEntry {
            path: BDB_PATHS[0].into(),
            contents: bdb_bytes,
            layer_digest: None,
        };
        let centos = OsRelease {
            id: "centos".into(),
            version_id: Some("7".into()),
            ..OsRelease::default()
        };
        assert!(RpmAnalyzer.wants(&db.path));
        let a = RpmAnalyzer.analyze(&[&db], Some(&centos));
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        let mut got: Vec<String> = a.packages.iter().map(|p| p.purl.to_string()).collect();
        got.sort();
        assert_eq!(
            got,
            [
                "pkg:rpm/centos/hello-stella@1.2.3-4.el9?arch=x86_64&distro=centos-7&epoch=2",
                "pkg:rpm/centos/plain@0.9-1?arch=noarch&distro=centos-7",
            ]
        );
        let sqlite = FileEntry {
            path: PATHS[0].into(),
            contents: fixture(),
            layer_digest: None,
        };
        let both = RpmAnalyzer.analyze(&[&db, &sqlite], Some(&centos));
        assert_eq!(both.packages.len(), 2);
        assert!(
            both.packages
                .iter()
                .all(|p| p.files.first().map(String::as_str) == Some(PATHS[0]))
        );
    }

    #[test]
    fn hand_built_header_with_source_and_files() {
        let mut dirindexes = Vec::new();
        for i in [0i32, 1, 1] {
            dirindexes.extend_from_slice(&i.to_be_bytes());
        }
        let blob = build_header(&[
            (TAG_NAME, TYPE_STRING, 1, s("openssl-libs")),
            (TAG_VERSION, TYPE_STRING, 1, s("3.0.7")),
            (TAG_RELEASE, TYPE_STRING, 1, s("24.el9")),
            (TAG_EPOCH, TYPE_INT32, 1, 1i32.to_be_bytes().to_vec()),
            (TAG_LICENSE, TYPE_STRING, 1, s("ASL 2.0")),
            (TAG_ARCH, TYPE_STRING, 1, s("x86_64")),
            (
                TAG_SOURCERPM,
                TYPE_STRING,
                1,
                s("openssl-3.0.7-24.el9.src.rpm"),
            ),
            (TAG_DIRINDEXES, TYPE_INT32, 3, dirindexes),
            (
                TAG_BASENAMES,
                TYPE_STRING_ARRAY,
                3,
                [s("openssl.cnf"), s("libssl.so.3"), s("libcrypto.so.3")].concat(),
            ),
            (
                TAG_DIRNAMES,
                TYPE_STRING_ARRAY,
                2,
                [s("/etc/pki/tls/"), s("/usr/lib64/")].concat(),
            ),
        ]);
        let h = parse_header(&blob).expect("header");
        assert_eq!(h.evr(), "1:3.0.7-24.el9");
        assert_eq!(
            h.files,
            [
                "etc/pki/tls/openssl.cnf",
                "usr/lib64/libssl.so.3",
                "usr/lib64/libcrypto.so.3"
            ]
        );
        let rocky = OsRelease {
            id: "rocky".into(),
            version_id: Some("9.3".into()),
            ..OsRelease::default()
        };
        let purl = rpm_purl(&h, Some(&rocky)).expect("purl");
        assert_eq!(
            purl.to_string(),
            "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rocky-9.3&epoch=1&upstream=openssl"
        );
        let eco = Ecosystem::from_purl(&purl).expect("ecosystem");
        assert_eq!(
            (eco.kind, eco.release.as_deref()),
            (EcosystemKind::Rocky, Some("9"))
        );
        // Every truncation of a valid header fails cleanly or parses fewer fields.
        for n in 0..blob.len() {
            let _ = parse_header(blob.get(..n).unwrap_or_default());
        }
        assert_eq!(
            parse_header(&build_header(&[(TAG_VERSION, TYPE_STRING, 1, s("1"))])),
            Err(HeaderError::MissingTag(TAG_NAME))
        );
    }

    #[test]
    fn hostile_headers_are_rejected() {
        assert!(matches!(parse_header(&[]), Err(HeaderError::Truncated(_))));
        let huge = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(parse_header(&huge), Err(HeaderError::TooLarge(_))));
        let short = [0, 0, 0, 1, 0, 0, 0, 8, 0, 0];
        assert!(matches!(
            parse_header(&short),
            Err(HeaderError::Truncated(_))
        ));
        // Offset pointing past the data store: the tag reads as absent.
        let mut blob = build_header(&[(TAG_NAME, TYPE_STRING, 1, s("x"))]);
        if let Some(off) = blob.get_mut(16..20) {
            off.copy_from_slice(&1000u32.to_be_bytes());
        }
        assert_eq!(parse_header(&blob), Err(HeaderError::MissingTag(TAG_NAME)));
    }

    #[test]
    fn non_sqlite_and_corrupt_databases_are_errors() {
        for contents in [b"not a db".to_vec(), {
            let mut v = fixture();
            v.truncate(4096);
            v
        }] {
            let db = FileEntry {
                path: PATHS[1].into(),
                contents,
                layer_digest: None,
            };
            let a = RpmAnalyzer.analyze(&[&db], None);
            assert!(a.packages.is_empty());
            assert_eq!(a.errors.len(), 1, "{:?}", a.errors);
        }
        assert_eq!(source_name("openssl-3.0.7-24.el9.src.rpm"), Some("openssl"));
        assert_eq!(source_name("garbage"), None);
        assert_eq!(vendor("almalinux"), "almalinux");
        assert_eq!(vendor("rhel"), "redhat");
    }

    proptest::proptest! {
        #[test]
        fn header_parser_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse_header(&bytes);
        }

        #[test]
        fn mutated_real_header_never_panics(pos in 0usize..1864, byte in proptest::prelude::any::<u8>()) {
            let blobs = read_sqlite_blobs(&fixture()).expect("blobs");
            let mut blob = blobs.first().cloned().unwrap_or_default();
            if let Some(b) = blob.get_mut(pos) {
                *b = byte;
            }
            let _ = parse_header(&blob);
        }
    }
}
