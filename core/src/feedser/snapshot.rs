//! The matcher snapshot: canonical advisories turned back into OSV records and stored
//! in an [`AdvisoryDb`] file that the scan pipeline reads unchanged.
//!
//! Determinism: records are inserted in id order, in fixed-size batches, the one
//! time-dependent value (`meta.last_import`) is set to the export's `created`, and the
//! file is finished by a WAL checkpoint, `journal_mode = DELETE` and `VACUUM`, so the
//! same advisories always give the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::{Connection, params};

use crate::advisory::canonical::{CanonicalAdvisory, CanonicalSeverity};
use crate::advisory::osv::{Affected, OsvRecord, Package, SeverityEntry};
use crate::advisory_db::{AdvisoryDb, AdvisoryDbError, PreparedRecord};

/// Records prepared and inserted per transaction (bounds memory on 300k advisories).
const BATCH: usize = 2_000;

/// Why a matcher snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The target file already exists (a snapshot is always built from scratch).
    #[error("matcher snapshot {path}: file already exists")]
    Exists {
        /// The target file.
        path: String,
    },
    /// Two advisories share an id.
    #[error("matcher snapshot: advisory id {id} appears more than once")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// The advisory DB refused the records.
    #[error("matcher snapshot: {0}")]
    Store(#[from] AdvisoryDbError),
    /// The snapshot could not be put in place.
    #[error("matcher snapshot {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The deterministic finish (checkpoint, journal mode, vacuum) failed.
    #[error("matcher snapshot {path}: {source}")]
    Sqlite {
        /// The DB file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
}

/// Counts of a built snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Advisories stored.
    pub advisories: u64,
    /// Affected entries indexed for matching.
    pub affected_entries: u64,
}

/// The OSV record the matcher sees for a canonical advisory.
///
/// - `id` is the canonical id and `aliases` every other id, so a finding, a policy or a
///   VEX statement keyed by the CVE, the GHSA or the PYSEC id all meet it;
/// - `affected` is what precedence kept, one OSV entry per kept package entry;
/// - `severity` is the chosen [`CanonicalAdvisory::cvss`] first, then every entry that
///   did not score as CVSS (qualitative labels such as `Ubuntu`, unreadable vectors).
///   Other sources' scored CVSS vectors are left out: the verdict code takes the highest
///   score it finds, which would overrule the precedence that chose `cvss`.
pub fn to_osv(advisory: &CanonicalAdvisory) -> OsvRecord {
    let mut severity: Vec<SeverityEntry> = Vec::new();
    let entry = |s: &CanonicalSeverity| SeverityEntry {
        kind: s.kind.clone(),
        score: s.vector.clone(),
    };
    if let Some(chosen) = &advisory.cvss {
        severity.push(entry(chosen));
    }
    for s in advisory.severities.iter().filter(|s| s.score.is_none()) {
        let e = entry(s);
        if !severity.contains(&e) {
            severity.push(e);
        }
    }
    let affected = advisory
        .affected
        .iter()
        .map(|a| Affected {
            package: Some(Package {
                ecosystem: a.ecosystem.clone(),
                name: a.name.clone(),
                purl: a.purl.clone(),
            }),
            severity: a.severity.clone(),
            ranges: a.ranges.clone(),
            versions: a.versions.clone(),
            ecosystem_specific: a.ecosystem_specific.clone(),
            database_specific: a.database_specific.clone(),
        })
        .collect();
    OsvRecord {
        id: advisory.id.clone(),
        modified: advisory.modified.clone().unwrap_or_default(),
        published: advisory.published.clone(),
        withdrawn: advisory.withdrawn.clone(),
        aliases: advisory.aliases.clone(),
        related: Vec::new(),
        summary: advisory.summary.clone(),
        details: advisory.details.clone(),
        severity,
        affected,
        references: Vec::new(),
        database_specific: None,
    }
}

/// The OSV records of the matcher snapshot, sorted by id: [`to_osv`] of each advisory,
/// except that an alias naming several advisories moves to `related`.
///
/// A Debian or Alpine advisory fixes several CVEs at once, so `DLA-3346-1` is an alias of
/// both CVE-2023-23934 and CVE-2023-25577. The matcher treats advisories sharing an id as
/// one vulnerability, and would report the two CVEs as one finding; as `related` the id
/// is kept in the record but no longer joins them.
pub fn matcher_records(advisories: &[CanonicalAdvisory]) -> Vec<OsvRecord> {
    let shared = shared_aliases(advisories.iter());
    let mut out: Vec<OsvRecord> = advisories
        .iter()
        .map(|a| matcher_record(a, &shared))
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Ids named by more than one advisory (as id or alias).
fn shared_aliases<'a>(advisories: impl Iterator<Item = &'a CanonicalAdvisory>) -> BTreeSet<String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for a in advisories {
        let ids: BTreeSet<&str> = std::iter::once(a.id.as_str())
            .chain(a.aliases.iter().map(String::as_str))
            .collect();
        for id in ids {
            *count.entry(id).or_default() += 1;
        }
    }
    count
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id.to_string())
        .collect()
}

fn matcher_record(advisory: &CanonicalAdvisory, shared: &BTreeSet<String>) -> OsvRecord {
    let mut record = to_osv(advisory);
    let (related, aliases): (Vec<String>, Vec<String>) = std::mem::take(&mut record.aliases)
        .into_iter()
        .partition(|a| shared.contains(a));
    record.aliases = aliases;
    record.related = related;
    record
}

/// Rebuilds the matcher snapshot at `path` from `advisories`: built beside it, then
/// renamed over it, so a scan never sees a half-written DB.
pub fn install(
    advisories: &[CanonicalAdvisory],
    path: &Path,
    created: &str,
) -> Result<SnapshotStats, SnapshotError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| SnapshotError::Io { path, source }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let work = tempfile::Builder::new()
        .prefix(".stella-snapshot-")
        .tempdir_in(dir)
        .map_err(io(dir))?;
    let tmp = work.path().join("advisories.db");
    let stats = build_db(advisories, &tmp, created)?;
    install_file(&tmp, path)?;
    Ok(stats)
}

/// Moves a finished DB file over `path`. Stale WAL files of the old DB go first: SQLite
/// would otherwise replay them into the new file.
pub fn install_file(from: &Path, path: &Path) -> Result<(), SnapshotError> {
    for suffix in ["-wal", "-shm"] {
        let mut stale = path.as_os_str().to_owned();
        stale.push(suffix);
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(SnapshotError::Io {
                    path: Path::new(&stale).display().to_string(),
                    source,
                });
            }
        }
    }
    std::fs::rename(from, path).map_err(|source| SnapshotError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Builds the matcher DB at `path` (which must not exist) from [`matcher_records`] of
/// `advisories`, in any order; `created` is stored as the DB's `last_import` instead of
/// the wall clock. The same advisories and `created` give a byte-identical file.
pub fn build_db(
    advisories: &[CanonicalAdvisory],
    path: &Path,
    created: &str,
) -> Result<SnapshotStats, SnapshotError> {
    let p = path.display().to_string();
    if path.exists() {
        return Err(SnapshotError::Exists { path: p });
    }
    let mut sorted: Vec<&CanonicalAdvisory> = advisories.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(w) = sorted.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(SnapshotError::DuplicateId {
            id: w[0].id.clone(),
        });
    }
    let shared = shared_aliases(sorted.iter().copied());
    {
        let mut db = AdvisoryDb::open(path)?;
        for chunk in sorted.chunks(BATCH) {
            let prepared: Vec<PreparedRecord> = chunk
                .iter()
                .map(|a| PreparedRecord::new(matcher_record(a, &shared)))
                .collect();
            db.upsert_batch(&prepared)?;
        }
    }
    finish(path, created).map_err(|source| SnapshotError::Sqlite {
        path: p.clone(),
        source,
    })?;
    let stats = AdvisoryDb::open_read_only(path)?.stats()?;
    Ok(SnapshotStats {
        advisories: stats.advisories,
        affected_entries: stats.affected_entries,
    })
}

/// Replaces the wall-clock import time and rewrites the file into its canonical form.
fn finish(path: &Path, created: &str) -> Result<(), rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'last_import'",
        params![created],
    )?;
    // Fold the WAL into the main file, leave WAL mode (no -wal/-shm beside the file, a
    // read-only reader needs none) and rebuild every page in key order.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    conn.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    conn.execute_batch("VACUUM")?;
    conn.close().map_err(|(_, e)| e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::canonical::{CanonicalAffected, FieldProvenance, RecordRef, sha256_hex};
    use crate::advisory::osv::{Event, Range, RangeType};

    fn source(s: &str, id: &str) -> RecordRef {
        RecordRef {
            source: s.into(),
            record_id: id.into(),
            location: String::new(),
        }
    }

    fn severity(kind: &str, vector: &str, score: Option<f64>, src: &str) -> CanonicalSeverity {
        CanonicalSeverity {
            kind: kind.into(),
            vector: vector.into(),
            cvss_version: score.map(|_| "3.1".into()),
            score,
            source: source(src, "X"),
        }
    }

    fn advisory(id: &str) -> CanonicalAdvisory {
        CanonicalAdvisory {
            id: id.into(),
            aliases: vec!["GHSA-aaaa-bbbb-cccc".into(), "PYSEC-2023-1".into()],
            summary: Some("s".into()),
            details: None,
            affected: vec![CanonicalAffected {
                ecosystem: "PyPI".into(),
                ecosystem_key: "pypi".into(),
                name: "demo-pkg".into(),
                purl: None,
                ranges: vec![Range {
                    kind: RangeType::Ecosystem,
                    repo: None,
                    events: vec![Event::Introduced("0".into()), Event::Fixed("2.0".into())],
                }],
                versions: vec![],
                severity: vec![],
                ecosystem_specific: None,
                database_specific: None,
                source: source("ghsa", "GHSA-aaaa-bbbb-cccc"),
            }],
            severities: vec![
                severity(
                    "CVSS_V3",
                    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    Some(9.8),
                    "nvd",
                ),
                severity(
                    "CVSS_V3",
                    "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N",
                    Some(3.7),
                    "ghsa",
                ),
                severity("Ubuntu", "medium", None, "osv"),
            ],
            cvss: Some(severity(
                "CVSS_V3",
                "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N",
                Some(3.7),
                "ghsa",
            )),
            cwes: vec![],
            references: vec![],
            published: Some("2023-01-01T00:00:00Z".into()),
            modified: Some("2023-02-01T00:00:00Z".into()),
            withdrawn: None,
            provenance: vec![],
            field_provenance: FieldProvenance::default(),
        }
    }

    #[test]
    fn chosen_cvss_decides_the_matcher_severity() {
        let a = advisory("CVE-2023-0001");
        let osv = to_osv(&a);
        assert_eq!(osv.aliases, a.aliases);
        // The chosen GHSA vector first, the qualitative label kept, NVD's 9.8 left out.
        let kinds: Vec<(&str, &str)> = osv
            .severity
            .iter()
            .map(|s| (s.kind.as_str(), s.score.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("CVSS_V3", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:L/I:N/A:N"),
                ("Ubuntu", "medium")
            ]
        );
        let assessed = crate::advisory::severity::assess(&osv, &osv.affected[0]);
        assert_eq!(assessed.severity, crate::advisory::Severity::Low);
    }

    #[test]
    fn an_alias_of_several_advisories_becomes_related() {
        let mut a = advisory("CVE-2023-0001");
        a.aliases = vec!["DLA-1-1".into(), "GHSA-aaaa-bbbb-cccc".into()];
        let mut b = advisory("CVE-2023-0002");
        b.aliases = vec!["DLA-1-1".into(), "GHSA-dddd-eeee-ffff".into()];
        let records = matcher_records(&[b, a]);
        assert_eq!(records[0].id, "CVE-2023-0001");
        assert_eq!(records[0].aliases, vec!["GHSA-aaaa-bbbb-cccc".to_string()]);
        assert_eq!(records[0].related, vec!["DLA-1-1".to_string()]);
        assert_eq!(records[1].aliases, vec!["GHSA-dddd-eeee-ffff".to_string()]);
    }

    #[test]
    fn two_builds_are_byte_identical_and_ignore_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let items = vec![advisory("CVE-2023-0002"), advisory("CVE-2023-0001")];
        let reversed: Vec<_> = items.iter().rev().cloned().collect();
        let a = dir.path().join("a.db");
        let b = dir.path().join("b.db");
        let stats = build_db(&items, &a, "2023-02-01T00:00:00Z").unwrap();
        assert_eq!(stats.advisories, 2);
        assert_eq!(stats.affected_entries, 2);
        build_db(&reversed, &b, "2023-02-01T00:00:00Z").unwrap();
        let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(sha256_hex(&ba), sha256_hex(&bb));
        assert!(!dir.path().join("a.db-wal").exists());
        let db = AdvisoryDb::open_read_only(&a).unwrap();
        assert_eq!(
            db.stats().unwrap().last_import.as_deref(),
            Some("2023-02-01T00:00:00Z")
        );
        assert!(matches!(
            build_db(&items, &a, "x"),
            Err(SnapshotError::Exists { .. })
        ));
        let dup = vec![advisory("CVE-1"), advisory("CVE-1")];
        assert!(matches!(
            build_db(&dup, &dir.path().join("c.db"), "x"),
            Err(SnapshotError::DuplicateId { .. })
        ));
    }
}
