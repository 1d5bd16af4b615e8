//! Java archives (`.jar`, `.war`, `.ear`, `.jpi`, `.hpi`), nested ones included
//! (`WEB-INF/lib/*.jar`, `BOOT-INF/lib/*.jar`, the modules of an `.ear`).
//!
//! At read time [`JavaAnalyzer::reduce`] walks the archive from memory and keeps
//! only the evidence: every `META-INF/maven/**/pom.properties` and the
//! `META-INF/MANIFEST.MF` of each archive, tagged with the chain of nested archive
//! paths, in a compact length-prefixed format (see [`MAGIC`]). `analyze` reads
//! that evidence (or a whole archive, when it is handed one).
//!
//! Identification follows Syft's Java cataloger:
//! - every `pom.properties` with an `artifactId` and a `version` is one package,
//!   `pkg:maven/<groupId>/<artifactId>@<version>` (shaded jars give several);
//! - the archive itself is a package too unless one of its `pom.properties`
//!   describes it: artifactId equal to, or starting with, the name taken from the
//!   file name (Syft's test), or, for a renamed archive (`start.jar`), its only
//!   pom.properties has the version of the file name or manifest (`12.0.20` for
//!   `…-12.0.20-nolog.jar`). Its name is the file name's (`name-1.2.3.jar`), then the manifest's
//!   `Name`, `Bundle-Name`, `Short-Name`, `Extension-Name`, `Implementation-Title`;
//!   its version the file name's, then `Implementation-Version`,
//!   `Specification-Version`, `Plugin-Version`, `Bundle-Version`;
//! - its group is `Group-Id` or `Implementation-Vendor-Id` (Maven writes the
//!   project's groupId there; Syft ranks it lower, which picks package names such
//!   as `org.apache.commons.lang3` out of `Bundle-SymbolicName` instead), then the
//!   first of Syft's manifest fields whose value looks like a reverse domain name.
//!   With none, the purl has no namespace (Syft would repeat the name there; an
//!   invented group matches no advisory either way).
//!
//! Archives whose identity has no version are not reported.

use std::io::{Cursor, Read};

use super::{Analysis, Analyzer, AnalyzerError, Reduced};
use crate::inventory::{FileEntry, FoundPackage, OsRelease};
use crate::sbom::Purl;

/// First bytes of the evidence `reduce` keeps (never the start of a zip file).
pub const MAGIC: &[u8; 8] = b"STJAVA1\n";

/// Archives nested deeper than this (the outer archive is depth 0) are not opened.
const MAX_DEPTH: usize = 4;
/// Zip entries looked at, over all nested archives of one file.
const MAX_ENTRIES: usize = 500_000;
/// Archives opened (outer and nested) for one file.
const MAX_ARCHIVES: usize = 20_000;
/// Bytes inflated, over all nested archives and evidence files of one file.
const MAX_INFLATED: u64 = 1024 * 1024 * 1024;
/// One nested archive is inflated into memory only up to this size.
const MAX_NESTED_BYTES: u64 = 256 * 1024 * 1024;
/// Evidence files (pom.properties, MANIFEST.MF) longer than this are skipped.
const MAX_EVIDENCE_FILE: u64 = 1024 * 1024;
/// Total evidence kept for one file.
const MAX_EVIDENCE_BYTES: usize = 32 * 1024 * 1024;

/// Manifest attributes that give an archive's version, in Syft's order.
const VERSION_FIELDS: [&str; 4] = [
    "Implementation-Version",
    "Specification-Version",
    "Plugin-Version",
    "Bundle-Version",
];

/// Reads Java archives.
#[derive(Debug, Default, Clone, Copy)]
pub struct JavaAnalyzer;

impl Analyzer for JavaAnalyzer {
    fn name(&self) -> &'static str {
        "java"
    }

    fn wants(&self, path: &str) -> bool {
        is_archive_name(path)
    }

    fn reduces(&self) -> bool {
        true
    }

    fn reduce(&self, _path: &str, bytes: &[u8]) -> Reduced {
        if bytes.starts_with(MAGIC) {
            return Reduced::Whole;
        }
        Reduced::Evidence(evidence(bytes))
    }

    fn analyze(&self, files: &[&FileEntry], _os: Option<&OsRelease>) -> Analysis {
        let mut out = Analysis::default();
        for f in files {
            let owned;
            let ev: &[u8] = if f.contents.starts_with(MAGIC) {
                &f.contents
            } else {
                // Handed the archive itself (no reducing reader): reduce it now.
                owned = evidence(&f.contents);
                &owned
            };
            let (pkgs, errors) = packages(f, ev);
            out.packages.extend(pkgs);
            out.errors
                .extend(errors.into_iter().map(|reason| AnalyzerError {
                    analyzer: "java",
                    path: f.path.clone(),
                    reason,
                }));
        }
        out
    }
}

/// True for file names with a Java archive extension, in any case.
fn is_archive_name(path: &str) -> bool {
    let Some((_, ext)) = path.rsplit_once('.') else {
        return false;
    };
    ["jar", "war", "ear", "jpi", "hpi"]
        .iter()
        .any(|e| ext.eq_ignore_ascii_case(e))
        && !path.ends_with('/')
}

/// What one evidence record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An archive was opened (data empty); gives archives without evidence a name.
    Archive,
    /// `META-INF/MANIFEST.MF`.
    Manifest,
    /// A `pom.properties` (name = its path in the archive).
    PomProperties,
    /// Something could not be read (data = why).
    Error,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Archive => b'A',
            Kind::Manifest => b'M',
            Kind::PomProperties => b'P',
            Kind::Error => b'E',
        }
    }

    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            b'A' => Some(Kind::Archive),
            b'M' => Some(Kind::Manifest),
            b'P' => Some(Kind::PomProperties),
            b'E' => Some(Kind::Error),
            _ => None,
        }
    }
}

/// One evidence record: `kind`, the nested archive chain (`""` for the outer
/// archive, `WEB-INF/lib/a.jar!/lib/b.jar` deeper), an entry name, and data.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    kind: Kind,
    chain: String,
    name: String,
    data: Vec<u8>,
}

/// Serialised as `kind u8`, then chain, name and data each as a little-endian
/// `u32` length followed by the bytes.
fn encode(records: &[Record]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for r in records {
        out.push(r.kind.byte());
        for part in [r.chain.as_bytes(), r.name.as_bytes(), &r.data] {
            // Parts are bounded far below 4 GiB by the limits above.
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(part.get(..len as usize).unwrap_or(part));
        }
    }
    out
}

fn decode(bytes: &[u8]) -> Result<Vec<Record>, String> {
    let mut rest = bytes.strip_prefix(MAGIC).ok_or("no evidence header")?;
    let mut out = Vec::new();
    fn take<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], String> {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or("truncated evidence")?;
        let len = u32::from_le_bytes(*len) as usize;
        let part = tail.get(..len).ok_or("truncated evidence")?;
        *rest = tail.get(len..).unwrap_or_default();
        Ok(part)
    }
    while let Some((&k, tail)) = rest.split_first() {
        let kind = Kind::from_byte(k).ok_or("unknown evidence record")?;
        rest = tail;
        let chain = String::from_utf8_lossy(take(&mut rest)?).into_owned();
        let name = String::from_utf8_lossy(take(&mut rest)?).into_owned();
        let data = take(&mut rest)?.to_vec();
        out.push(Record {
            kind,
            chain,
            name,
            data,
        });
    }
    Ok(out)
}

/// Running totals that bound the walk of one file.
#[derive(Debug, Default)]
struct Budget {
    entries: usize,
    archives: usize,
    inflated: u64,
    kept: usize,
}

/// The evidence of an archive, encoded.
fn evidence(bytes: &[u8]) -> Vec<u8> {
    let mut records = Vec::new();
    let mut budget = Budget::default();
    walk(bytes, "", 0, &mut budget, &mut records);
    encode(&records)
}

fn is_evidence_name(name: &str) -> Option<Kind> {
    if name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") {
        return Some(Kind::Manifest);
    }
    if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
        return Some(Kind::PomProperties);
    }
    None
}

fn walk(bytes: &[u8], chain: &str, depth: usize, budget: &mut Budget, out: &mut Vec<Record>) {
    let error = |out: &mut Vec<Record>, why: String| {
        out.push(Record {
            kind: Kind::Error,
            chain: chain.to_string(),
            name: String::new(),
            data: why.into_bytes(),
        })
    };
    budget.archives += 1;
    if budget.archives > MAX_ARCHIVES {
        return error(out, format!("more than {MAX_ARCHIVES} nested archives"));
    }
    let mut zip = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(z) => z,
        Err(e) => return error(out, format!("not a readable zip archive: {e}")),
    };
    out.push(Record {
        kind: Kind::Archive,
        chain: chain.to_string(),
        name: String::new(),
        data: Vec::new(),
    });
    for i in 0..zip.len() {
        budget.entries += 1;
        if budget.entries > MAX_ENTRIES {
            return error(out, format!("more than {MAX_ENTRIES} zip entries"));
        }
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            // Encrypted or unsupported entries: nothing to read there.
            Err(_) => continue,
        };
        if entry.is_dir() {
            continue;
        }
        let Ok(name) = entry.name().map(|n| n.into_owned()) else {
            continue;
        };
        let kind = is_evidence_name(&name);
        let is_nested = kind.is_none() && is_archive_name(&name);
        if kind.is_none() && !is_nested {
            continue;
        }
        if is_nested && depth + 1 > MAX_DEPTH {
            error(out, format!("{name}: nested deeper than {MAX_DEPTH}"));
            continue;
        }
        let cap = if is_nested {
            MAX_NESTED_BYTES
        } else {
            MAX_EVIDENCE_FILE
        };
        let left = MAX_INFLATED.saturating_sub(budget.inflated);
        if left == 0 {
            return error(out, format!("more than {MAX_INFLATED} bytes inflated"));
        }
        // Read one byte past the cap to tell "exactly the cap" from "larger".
        let limit = cap.min(left);
        let mut data = Vec::new();
        let read = (&mut entry).take(limit + 1).read_to_end(&mut data);
        budget.inflated += data.len() as u64;
        if let Err(e) = read {
            error(out, format!("{name}: {e}"));
            continue;
        }
        if data.len() as u64 > limit {
            error(out, format!("{name}: larger than {limit} bytes, skipped"));
            continue;
        }
        match kind {
            Some(kind) => {
                budget.kept += data.len() + name.len() + chain.len() + 13;
                if budget.kept > MAX_EVIDENCE_BYTES {
                    return error(
                        out,
                        format!("more than {MAX_EVIDENCE_BYTES} bytes of evidence"),
                    );
                }
                out.push(Record {
                    kind,
                    chain: chain.to_string(),
                    name,
                    data,
                });
            }
            None => {
                // Opened right away, so at most one nested archive per level is
                // held in memory.
                drop(entry);
                let child = if chain.is_empty() {
                    name
                } else {
                    format!("{chain}!/{name}")
                };
                walk(&data, &child, depth + 1, budget, out);
            }
        }
    }
}

/// The evidence of one archive (outer or nested).
#[derive(Debug, Default)]
struct ArchiveEvidence {
    chain: String,
    manifest: Option<Manifest>,
    poms: Vec<PomProperties>,
}

/// The packages of one file from its evidence, and what could not be read.
fn packages(f: &FileEntry, ev: &[u8]) -> (Vec<FoundPackage>, Vec<String>) {
    let records = match decode(ev) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let mut errors = Vec::new();
    let mut archives: Vec<ArchiveEvidence> = Vec::new();
    for r in records {
        let at = match archives.iter().position(|a| a.chain == r.chain) {
            Some(i) => i,
            None => {
                if r.kind == Kind::Error {
                    errors.push(format!(
                        "{}{}",
                        place(&r.chain),
                        String::from_utf8_lossy(&r.data)
                    ));
                    continue;
                }
                archives.push(ArchiveEvidence {
                    chain: r.chain.clone(),
                    ..Default::default()
                });
                archives.len() - 1
            }
        };
        let Some(a) = archives.get_mut(at) else {
            continue;
        };
        match r.kind {
            Kind::Archive => {}
            Kind::Manifest => a.manifest = Some(Manifest::parse(&String::from_utf8_lossy(&r.data))),
            Kind::PomProperties => match PomProperties::parse(&String::from_utf8_lossy(&r.data)) {
                Some(p) => a.poms.push(p),
                None => errors.push(format!(
                    "{}: no artifactId or version",
                    display_chain(&r.chain, &r.name)
                )),
            },
            Kind::Error => errors.push(format!(
                "{}: {}",
                if r.chain.is_empty() {
                    "(outer)"
                } else {
                    &r.chain
                },
                String::from_utf8_lossy(&r.data)
            )),
        }
    }
    let mut out: Vec<FoundPackage> = Vec::new();
    for a in &archives {
        let location = if a.chain.is_empty() {
            f.path.clone()
        } else {
            format!("{}!/{}", f.path, a.chain)
        };
        let file_name = a
            .chain
            .rsplit("!/")
            .next()
            .filter(|c| !c.is_empty())
            .unwrap_or(&f.path);
        let from_file = FileNameId::parse(file_name);
        for p in &a.poms {
            match package(
                p.group_id.as_deref(),
                &p.artifact_id,
                &p.version,
                &location,
                f,
            ) {
                Ok(pkg) => push_unique(&mut out, pkg),
                Err(e) => errors.push(format!("{location}: {e}")),
            }
        }
        let m = a.manifest.as_ref();
        let by_name = a.poms.iter().any(|p| {
            !from_file.name.is_empty()
                && (p.artifact_id == from_file.name || p.artifact_id.starts_with(&from_file.name))
        });
        // A renamed archive (`start.jar`, Jetty's `org.eclipse.jetty.x-12.0.20-nolog.jar`)
        // with a single pom.properties of its own version is that artifact too.
        let by_version = match a.poms.as_slice() {
            [only] => {
                let mut versions = vec![from_file.version.clone()];
                versions.extend(VERSION_FIELDS.iter().map(|k| m.and_then(|m| m.any(k))));
                versions.iter().flatten().any(|v| {
                    v == &only.version || v.split_once('-').is_some_and(|(v, _)| v == only.version)
                })
            }
            _ => false,
        };
        if by_name || by_version {
            continue;
        }
        let name = Some(from_file.name.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| {
                m.and_then(|m| {
                    [
                        "Name",
                        "Bundle-Name",
                        "Short-Name",
                        "Extension-Name",
                        "Implementation-Title",
                    ]
                    .iter()
                    .find_map(|k| m.main(k))
                })
            });
        let version = from_file
            .version
            .clone()
            .or_else(|| m.and_then(|m| VERSION_FIELDS.iter().find_map(|k| m.any(k))));
        let (Some(name), Some(version)) = (name, version) else {
            continue;
        };
        // The same artifact as one of its pom.properties (by name): already listed.
        if a.poms.iter().any(|p| p.artifact_id == name) {
            continue;
        }
        let group = m.and_then(Manifest::group_id);
        match package(group.as_deref(), &name, &version, &location, f) {
            Ok(pkg) => push_unique(&mut out, pkg),
            Err(e) => errors.push(format!("{location}: {e}")),
        }
    }
    (out, errors)
}

/// `chain: ` before a message about a nested archive, nothing for the outer one.
fn place(chain: &str) -> String {
    if chain.is_empty() {
        String::new()
    } else {
        format!("{chain}: ")
    }
}

fn display_chain(chain: &str, name: &str) -> String {
    if chain.is_empty() {
        name.to_string()
    } else {
        format!("{chain}!/{name}")
    }
}

fn push_unique(out: &mut Vec<FoundPackage>, pkg: FoundPackage) {
    if !out
        .iter()
        .any(|p| p.purl == pkg.purl && p.files == pkg.files)
    {
        out.push(pkg);
    }
}

fn package(
    group: Option<&str>,
    name: &str,
    version: &str,
    location: &str,
    f: &FileEntry,
) -> Result<FoundPackage, String> {
    if name.is_empty() || version.is_empty() {
        return Err("empty name or version".into());
    }
    let purl = Purl {
        ty: "maven".into(),
        namespace: group.map(str::to_string),
        name: name.to_string(),
        version: Some(version.to_string()),
        qualifiers: Default::default(),
        subpath: None,
    };
    // Round-trip through the parser so the purl is canonical (and valid).
    let purl = Purl::parse(&purl.to_string()).map_err(|e| e.to_string())?;
    Ok(FoundPackage {
        purl,
        name: match group {
            Some(g) => format!("{g}:{name}"),
            None => name.to_string(),
        },
        version: version.to_string(),
        files: vec![location.to_string()],
        layer_digest: f.layer_digest.clone(),
        licenses: Vec::new(),
    })
}

/// `pom.properties` (Java properties: `key=value`, `key: value` or `key value`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PomProperties {
    group_id: Option<String>,
    artifact_id: String,
    version: String,
}

impl PomProperties {
    fn parse(text: &str) -> Option<PomProperties> {
        let (mut group, mut artifact, mut version) = (None, None, None);
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with(['#', '!']) {
                continue;
            }
            let split = line
                .find(['=', ':'])
                .or_else(|| line.find([' ', '\t']))
                .unwrap_or(line.len());
            let key = line.get(..split).unwrap_or_default().trim();
            let value = line.get(split + 1..).unwrap_or_default().trim();
            let value = unescape(value);
            match key {
                "groupId" => group = Some(value),
                "artifactId" => artifact = Some(value),
                "version" => version = Some(value),
                _ => {}
            }
        }
        let artifact = artifact.filter(|a| !a.is_empty())?;
        let version = version.filter(|v| !v.is_empty())?;
        let group = group.filter(|g| !g.is_empty()).map(|g| clean_group(&g));
        Some(PomProperties {
            group_id: group,
            artifact_id: artifact,
            version,
        })
    }
}

/// Java properties escapes that real pom.properties use (`\:`, `\=`, `\\`).
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Drops OSGi directives (`org.bar;uses:="org.foo"` → `org.bar`).
fn clean_group(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `META-INF/MANIFEST.MF`: the main section and the named ones.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Manifest {
    sections: Vec<Vec<(String, String)>>,
}

impl Manifest {
    /// Lines end in CR LF, LF or CR; a line starting with one space continues the
    /// previous one (values are wrapped at 72 bytes, mid-word), the space dropped.
    fn parse(text: &str) -> Manifest {
        let mut sections: Vec<Vec<(String, String)>> = vec![Vec::new()];
        let mut last: Option<usize> = None;
        for line in text.split("\r\n").flat_map(|l| l.split(['\n', '\r'])) {
            if line.is_empty() {
                if sections.last().is_some_and(|s| !s.is_empty()) {
                    sections.push(Vec::new());
                }
                last = None;
                continue;
            }
            let Some(section) = sections.last_mut() else {
                continue;
            };
            if let Some(cont) = line.strip_prefix(' ') {
                if let Some((_, v)) = last.and_then(|i| section.get_mut(i)) {
                    v.push_str(cont);
                }
                continue;
            }
            let Some((k, v)) = line.split_once(':') else {
                last = None;
                continue;
            };
            section.push((
                k.trim().to_string(),
                v.strip_prefix(' ').unwrap_or(v).to_string(),
            ));
            last = Some(section.len() - 1);
        }
        Manifest { sections }
    }

    fn get<'a>(section: &'a [(String, String)], key: &str) -> Option<&'a str> {
        section
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A main-section attribute.
    fn main(&self, key: &str) -> Option<String> {
        Manifest::get(self.sections.first()?, key).map(str::to_string)
    }

    /// A main-section attribute, else the first named section's.
    fn any(&self, key: &str) -> Option<String> {
        self.sections
            .iter()
            .find_map(|s| Manifest::get(s, key))
            .map(str::to_string)
    }

    /// The group id the manifest suggests (see the module comment).
    fn group_id(&self) -> Option<String> {
        for key in ["Group-Id", "Implementation-Vendor-Id"] {
            if let Some(v) = self
                .main(key)
                .map(|v| clean_group(&v))
                .filter(|v| looks_like_group(v))
            {
                return Some(v);
            }
        }
        const FIELDS: &[(&str, bool)] = &[
            ("Bundle-SymbolicName", false),
            ("Extension-Name", false),
            ("Specification-Vendor", false),
            ("Implementation-Vendor", false),
            ("Implementation-Title", false),
            ("Bundle-Activator", true),
            ("Automatic-Module-Name", false),
            ("Main-Class", true),
            ("Package", false),
        ];
        FIELDS.iter().find_map(|(key, is_class)| {
            let v = clean_group(&self.main(key)?);
            // A class name: its package is the candidate.
            let v = if *is_class {
                v.rsplit_once('.')?.0.to_string()
            } else {
                v
            };
            let tld = v.split('.').next().unwrap_or_default();
            (looks_like_group(&v) && ["com", "org", "net", "io", "be"].contains(&tld)).then_some(v)
        })
    }
}

/// Dotted identifier (`org.slf4j`), nothing that reads as prose.
fn looks_like_group(v: &str) -> bool {
    v.contains('.')
        && !v.starts_with('.')
        && !v.ends_with('.')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Name and version read from an archive's file name (`commons-io-2.11.0.jar`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct FileNameId {
    name: String,
    version: Option<String>,
}

impl FileNameId {
    /// The version starts at the first `-` followed by a digit (as Syft's pattern).
    fn parse(path: &str) -> FileNameId {
        let base = path.rsplit('/').next().unwrap_or(path);
        let stem = base.rsplit_once('.').map_or(base, |(s, _)| s);
        let split = stem
            .char_indices()
            .find(|&(i, c)| {
                c == '-'
                    && stem
                        .get(i + 1..)
                        .and_then(|r| r.chars().next())
                        .is_some_and(|d| d.is_ascii_digit())
            })
            .map(|(i, _)| i);
        match split {
            Some(i) => FileNameId {
                name: stem.get(..i).unwrap_or_default().to_string(),
                version: stem.get(i + 1..).map(str::to_string),
            },
            None => FileNameId {
                name: stem.to_string(),
                version: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A zip with these entries (stored, as `jar` would with -0), from memory.
    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, data) in entries {
            w.start_file(*name, opts).expect("start");
            w.write_all(data).expect("write");
        }
        w.finish().expect("finish").into_inner()
    }

    fn entry(path: &str, bytes: Vec<u8>) -> FileEntry {
        FileEntry::new(path, bytes, Some("sha256:l7"))
    }

    fn reduced(path: &str, bytes: &[u8]) -> FileEntry {
        match JavaAnalyzer.reduce(path, bytes) {
            Reduced::Evidence(e) => entry(path, e),
            other => panic!("not evidence: {other:?}"),
        }
    }

    #[test]
    fn wants_archive_extensions_in_any_case() {
        let a = JavaAnalyzer;
        for p in [
            "a.jar",
            "opt/app/App.WAR",
            "x.ear",
            "var/jenkins/plugins/git.jpi",
            "p.hpi",
        ] {
            assert!(a.wants(p), "{p}");
        }
        for p in ["a.jar.sha1", "jar", "a.zip", "usr/share/java/"] {
            assert!(!a.wants(p), "{p}");
        }
        assert!(a.reduces());
    }

    #[test]
    fn manifest_continuations_and_sections() {
        let m = Manifest::parse(
            "Manifest-Version: 1.0\r\nImplementation-Title: very-long-na\r\n me\r\nBundle-Version: 2\r\n\r\nName: org/x/\r\nSpecification-Version: 3\r\n",
        );
        assert_eq!(
            m.main("implementation-title").as_deref(),
            Some("very-long-name")
        );
        assert_eq!(m.main("Specification-Version"), None);
        assert_eq!(m.any("Specification-Version").as_deref(), Some("3"));
    }

    #[test]
    fn file_names_give_name_and_version() {
        let f = FileNameId::parse("WEB-INF/lib/commons-io-2.11.0.jar");
        assert_eq!(
            (f.name.as_str(), f.version.as_deref()),
            ("commons-io", Some("2.11.0"))
        );
        let f = FileNameId::parse("usr/share/java/slf4j-api.jar");
        assert_eq!((f.name.as_str(), f.version), ("slf4j-api", None));
        let f = FileNameId::parse("log4j-1.2-api-2.17.1.jar");
        assert_eq!(f.name, "log4j");
    }

    #[test]
    fn shaded_poms_and_manifest_fallback() {
        let pom_a = b"groupId=com.example\nartifactId=app\nversion=1.0.0\n";
        let pom_b = b"#comment\ngroupId: org.shaded\nartifactId = lib\nversion=2.1\n";
        let fat = zip_of(&[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"),
            ("META-INF/maven/com.example/app/pom.properties", pom_a),
            ("META-INF/maven/org.shaded/lib/pom.properties", pom_b),
        ]);
        let bare = zip_of(&[(
            "META-INF/MANIFEST.MF",
            b"Implementation-Title: bare\nImplementation-Version: 0.9\nImplementation-Vendor-Id: org.bare\n",
        )]);
        let war = zip_of(&[
            ("WEB-INF/lib/app-1.0.0.jar", &fat),
            ("WEB-INF/lib/bare.jar", &bare),
            ("index.html", b"<html/>"),
        ]);
        let e = reduced("srv/site.war", &war);
        assert!(e.contents.len() < war.len());
        let out = JavaAnalyzer.analyze(&[&e], None);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let mut got: Vec<(String, String)> = out
            .packages
            .iter()
            .map(|p| (p.purl.to_string(), p.files.join(",")))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                (
                    "pkg:maven/com.example/app@1.0.0".to_string(),
                    "srv/site.war!/WEB-INF/lib/app-1.0.0.jar".to_string()
                ),
                (
                    "pkg:maven/org.bare/bare@0.9".to_string(),
                    "srv/site.war!/WEB-INF/lib/bare.jar".to_string()
                ),
                (
                    "pkg:maven/org.shaded/lib@2.1".to_string(),
                    "srv/site.war!/WEB-INF/lib/app-1.0.0.jar".to_string()
                ),
            ]
        );
        assert_eq!(out.packages[0].layer_digest.as_deref(), Some("sha256:l7"));
    }

    #[test]
    fn renamed_archives_are_their_only_pom() {
        let pom = b"groupId=org.eclipse.jetty\nartifactId=jetty-start\nversion=12.0.20\n";
        let mf = b"Manifest-Version: 1.0\nImplementation-Version: 12.0.20\n";
        let start = zip_of(&[
            ("META-INF/MANIFEST.MF", mf),
            (
                "META-INF/maven/org.eclipse.jetty/jetty-start/pom.properties",
                pom,
            ),
        ]);
        for name in ["start.jar", "org.eclipse.jetty.start-12.0.20-nolog.jar"] {
            let out = JavaAnalyzer.analyze(&[&reduced(name, &start)], None);
            let purls: Vec<String> = out.packages.iter().map(|p| p.purl.to_string()).collect();
            assert_eq!(
                purls,
                ["pkg:maven/org.eclipse.jetty/jetty-start@12.0.20"],
                "{name}"
            );
        }
        // A fat jar with one shaded dependency of another version is two packages.
        let fat = zip_of(&[
            ("META-INF/MANIFEST.MF", b"Implementation-Version: 1.0\n"),
            (
                "META-INF/maven/org.eclipse.jetty/jetty-start/pom.properties",
                pom,
            ),
        ]);
        let out = JavaAnalyzer.analyze(&[&reduced("tool.jar", &fat)], None);
        let mut purls: Vec<String> = out.packages.iter().map(|p| p.purl.to_string()).collect();
        purls.sort();
        assert_eq!(
            purls,
            [
                "pkg:maven/org.eclipse.jetty/jetty-start@12.0.20",
                "pkg:maven/tool@1.0"
            ]
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let mut inner = zip_of(&[(
            "META-INF/maven/g/deep/pom.properties",
            b"groupId=g\nartifactId=deep\nversion=1\n",
        )]);
        for _ in 0..=MAX_DEPTH {
            inner = zip_of(&[("lib/n.jar", &inner)]);
        }
        let e = reduced("deep.jar", &inner);
        let out = JavaAnalyzer.analyze(&[&e], None);
        assert!(out.packages.iter().all(|p| p.name != "g:deep"));
        assert!(
            out.errors
                .iter()
                .any(|e| e.reason.contains("nested deeper")),
            "{:?}",
            out.errors
        );
    }

    #[test]
    fn unreadable_archives_are_errors() {
        let e = reduced("broken.jar", b"PK\x03\x04 not really");
        let out = JavaAnalyzer.analyze(&[&e], None);
        assert!(out.packages.is_empty());
        assert!(out.errors[0].reason.contains("zip"), "{:?}", out.errors);
        // Whole archives (no reducing reader) are read as well.
        let whole = zip_of(&[(
            "META-INF/maven/g/a/pom.properties",
            b"groupId=g.x\nartifactId=a\nversion=3\n",
        )]);
        let out = JavaAnalyzer.analyze(&[&entry("a.jar", whole)], None);
        assert_eq!(out.packages[0].purl.to_string(), "pkg:maven/g.x/a@3");
    }

    /// A manifest header wrapped as `jar` writes it: lines of at most 72 bytes,
    /// continuation lines starting with one space.
    fn wrapped(key: &str, value: &str) -> String {
        let line = format!("{key}: {value}");
        let (head, mut rest) = line.split_at(line.len().min(72));
        let mut out = format!("{head}\r\n");
        while !rest.is_empty() {
            let (part, tail) = rest.split_at(rest.len().min(71));
            out.push_str(&format!(" {part}\r\n"));
            rest = tail;
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let _ = JavaAnalyzer.analyze(&[&entry("a.jar", bytes.clone())], None);
            let mut ev = MAGIC.to_vec();
            ev.extend_from_slice(&bytes);
            let _ = JavaAnalyzer.analyze(&[&entry("a.jar", ev)], None);
        }

        #[test]
        fn generated_pom_properties_round_trip(
            group in "[a-z]{1,8}(\\.[a-z0-9]{1,8}){0,3}",
            artifact in "[a-z][a-z0-9-]{0,20}",
            version in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}(-[A-Za-z0-9]{1,6})?",
        ) {
            let pom = format!("#Generated\ngroupId={group}\nartifactId={artifact}\nversion={version}\n");
            let jar = zip_of(&[(&format!("META-INF/maven/{group}/{artifact}/pom.properties"), pom.as_bytes())]);
            let out = JavaAnalyzer.analyze(&[&reduced("lib/x.jar", &jar)], None);
            proptest::prop_assert_eq!(out.packages.len(), 1);
            let p = &out.packages[0];
            proptest::prop_assert_eq!(p.purl.namespace.as_deref(), Some(group.as_str()));
            proptest::prop_assert_eq!(&p.purl.name, &artifact);
            proptest::prop_assert_eq!(p.purl.version.as_deref(), Some(version.as_str()));
        }

        #[test]
        fn generated_manifests_round_trip(
            group in "(org|com|io)(\\.[a-z0-9]{1,30}){1,4}",
            title in "[a-z][a-z0-9-]{0,90}",
            version in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}(-[A-Za-z0-9.]{1,60})?",
        ) {
            let mf = format!(
                "Manifest-Version: 1.0\r\n{}{}{}Created-By: test\r\n\r\n",
                wrapped("Implementation-Title", &title),
                wrapped("Implementation-Version", &version),
                wrapped("Implementation-Vendor-Id", &group),
            );
            let jar = zip_of(&[("META-INF/MANIFEST.MF", mf.as_bytes())]);
            // A file name without a version: identity from the manifest alone.
            let out = JavaAnalyzer.analyze(&[&reduced("lib/renamed.jar", &jar)], None);
            proptest::prop_assert_eq!(out.packages.len(), 1, "{:?}", out.errors);
            let p = &out.packages[0];
            proptest::prop_assert_eq!(p.purl.namespace.as_deref(), Some(group.as_str()));
            proptest::prop_assert_eq!(&p.purl.name, "renamed");
            proptest::prop_assert_eq!(&p.version, &version);
        }
    }
}
