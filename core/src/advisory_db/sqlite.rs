//! The embedded SQLite advisory DB: OSV records indexed by ecosystem and
//! normalised package name, read by the matcher.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::AdvisoryDbError;
use super::migrations::STEPS;
use crate::advisory::cvss::CvssScore;
use crate::advisory::severity::assess;
use crate::advisory::{Affected, OsvRecord, Severity};
use crate::ecosystem::{Ecosystem, normalise_name};
use crate::sqlite;

/// An open advisory DB.
#[derive(Debug)]
pub struct AdvisoryDb {
    conn: Connection,
    path: String,
}

/// One affected entry of one advisory, as the matcher needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Advisory id.
    pub advisory_id: String,
    /// The advisory's aliases.
    pub aliases: Vec<String>,
    /// One-line summary.
    pub summary: Option<String>,
    /// True when the advisory is withdrawn.
    pub withdrawn: bool,
    /// The affected entry to evaluate.
    pub affected: Affected,
    /// Severity assessed at import.
    pub severity: Severity,
    /// Best CVSS score assessed at import.
    pub cvss: Option<CvssScore>,
    /// When the advisory was first published (its OSV `published`); `None` when the
    /// record has none, or an unparsable or placeholder (`0001-01-01…`) timestamp.
    pub published: Option<DateTime<Utc>>,
}

/// An OSV record ready to store: keys, digest and assessed severities computed.
#[derive(Debug, Clone)]
pub struct PreparedRecord {
    record: OsvRecord,
    json: String,
    digest: String,
    entries: Vec<PreparedEntry>,
}

#[derive(Debug, Clone)]
struct PreparedEntry {
    idx: usize,
    ecosystem: String,
    name: String,
    severity: Severity,
    cvss: Option<String>,
    entry: String,
}

/// What an upsert did to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// The id was new.
    Inserted,
    /// The id existed with different content; it was replaced.
    Updated,
    /// The id existed with identical content.
    Unchanged,
}

/// Counts describing a DB.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DbStats {
    /// Advisories stored.
    pub advisories: u64,
    /// Of which withdrawn.
    pub withdrawn: u64,
    /// Affected entries indexed for matching.
    pub affected_entries: u64,
    /// Affected entries per ecosystem key.
    pub by_ecosystem: Vec<(String, u64)>,
    /// Schema version of the file.
    pub schema_version: i64,
    /// Time of the last import (RFC 3339), if any.
    pub last_import: Option<String>,
}

/// `value` as canonical JSON text. Serialising a parsed record is infallible: only
/// strings, numbers and JSON values that came from a parser.
fn canonical_text(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .map(|v| {
            String::from_utf8_lossy(&crate::advisory::canonical::canonical_json(&v)).into_owned()
        })
        .unwrap_or_default()
}

impl PreparedRecord {
    /// Compute the index keys, digest and severities of a record.
    /// Affected entries whose ecosystem StellaOps does not know are kept in the
    /// record but not indexed.
    pub fn new(record: OsvRecord) -> PreparedRecord {
        // Canonical JSON (keys sorted): `serde_json` may be built with `preserve_order`
        // (bson enables it), and then the text would depend on how the record's free-form
        // maps were read, making snapshots of the same advisories differ.
        let json = canonical_text(&record);
        let digest = crate::hex::encode(&Sha256::digest(json.as_bytes()));
        let mut entries = Vec::new();
        for (idx, affected) in record.affected.iter().enumerate() {
            let Some(package) = &affected.package else {
                continue;
            };
            let Some(eco) = Ecosystem::from_osv(&package.ecosystem) else {
                continue;
            };
            let assessment = assess(&record, affected);
            entries.push(PreparedEntry {
                idx,
                ecosystem: eco.key(),
                name: normalise_name(eco.kind, None, &package.name),
                severity: assessment.severity,
                cvss: assessment
                    .cvss
                    .as_ref()
                    .and_then(|c| serde_json::to_string(c).ok()),
                entry: canonical_text(affected),
            });
        }
        PreparedRecord {
            record,
            json,
            digest,
            entries,
        }
    }

    /// The record's id.
    pub fn id(&self) -> &str {
        &self.record.id
    }
}

impl AdvisoryDb {
    /// Open (creating and migrating as needed) a DB file for writing.
    pub fn open(path: &Path) -> Result<AdvisoryDb, AdvisoryDbError> {
        Self::init(sqlite::open(path)?, path.display().to_string())
    }

    /// Open an existing DB for reading only; a missing file is an error.
    pub fn open_read_only(path: &Path) -> Result<AdvisoryDb, AdvisoryDbError> {
        let p = path.display().to_string();
        let conn = sqlite::open_read_only(path)?;
        let found = sqlite::check_not_newer(&conn, &p, STEPS)?;
        let known = STEPS.len() as i64;
        if found < known {
            // Older files are migrated by a writer; refuse to read a half-known layout.
            return Err(AdvisoryDbError::Corrupt {
                path: p,
                advisory: String::new(),
                reason: format!(
                    "schema version {found} is older than {known}: run `stella db import` once to migrate"
                ),
            });
        }
        Ok(AdvisoryDb { conn, path: p })
    }

    /// An in-memory DB (tests, benchmarks).
    pub fn open_in_memory() -> Result<AdvisoryDb, AdvisoryDbError> {
        Self::init(sqlite::open_in_memory()?, ":memory:".to_string())
    }

    fn init(mut conn: Connection, path: String) -> Result<AdvisoryDb, AdvisoryDbError> {
        sqlite::migrate(&mut conn, &path, STEPS)?;
        Ok(AdvisoryDb { conn, path })
    }

    /// Insert or replace records in one transaction; unchanged records are left alone.
    pub fn upsert_batch(
        &mut self,
        records: &[PreparedRecord],
    ) -> Result<Vec<UpsertOutcome>, AdvisoryDbError> {
        let path = self.path.clone();
        let e = |source| sqlite(&path, source);
        let tx = self.conn.transaction().map_err(e)?;
        let mut outcomes = Vec::with_capacity(records.len());
        {
            let mut get = tx
                .prepare_cached("SELECT digest FROM advisory WHERE id = ?1")
                .map_err(e)?;
            let mut del = tx
                .prepare_cached("DELETE FROM advisory WHERE id = ?1")
                .map_err(e)?;
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO advisory (id, modified, published, withdrawn, summary, aliases, digest, record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(e)?;
            let mut ins_alias = tx
                .prepare_cached("INSERT OR IGNORE INTO alias (advisory_id, alias) VALUES (?1, ?2)")
                .map_err(e)?;
            let mut ins_aff = tx
                .prepare_cached(
                    "INSERT INTO affected (advisory_id, idx, ecosystem, name, aliases, summary, withdrawn, severity, cvss, entry)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(e)?;
            for rec in records {
                let r = &rec.record;
                let existing: Option<String> = get
                    .query_row(params![r.id], |row| row.get(0))
                    .optional()
                    .map_err(e)?;
                let outcome = match existing {
                    Some(d) if d == rec.digest => {
                        outcomes.push(UpsertOutcome::Unchanged);
                        continue;
                    }
                    Some(_) => {
                        del.execute(params![r.id]).map_err(e)?;
                        UpsertOutcome::Updated
                    }
                    None => UpsertOutcome::Inserted,
                };
                let aliases = serde_json::to_string(&r.aliases).unwrap_or_else(|_| "[]".into());
                ins.execute(params![
                    r.id,
                    r.modified,
                    r.published,
                    r.withdrawn,
                    r.summary,
                    aliases,
                    rec.digest,
                    rec.json
                ])
                .map_err(e)?;
                for a in &r.aliases {
                    ins_alias.execute(params![r.id, a]).map_err(e)?;
                }
                for en in &rec.entries {
                    ins_aff
                        .execute(params![
                            r.id,
                            en.idx as i64,
                            en.ecosystem,
                            en.name,
                            aliases,
                            r.summary,
                            r.withdrawn.is_some(),
                            en.severity.as_str(),
                            en.cvss,
                            en.entry
                        ])
                        .map_err(e)?;
                }
                outcomes.push(outcome);
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('last_import', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)],
        )
        .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(outcomes)
    }

    /// Affected entries indexed under an ecosystem key and normalised name.
    pub fn candidates(
        &self,
        ecosystem: &str,
        name: &str,
    ) -> Result<Vec<Candidate>, AdvisoryDbError> {
        let e = |source| sqlite(&self.path, source);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT advisory_id, aliases, summary, withdrawn, entry, severity, cvss, idx
                 FROM affected WHERE ecosystem = ?1 AND name = ?2",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map(params![ecosystem, name], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, bool>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, i64>(7)?,
                ))
            })
            .map_err(e)?;
        // Sorted here, not in SQL: see the note on the affected table's columns.
        let mut rows = rows.collect::<Result<Vec<_>, _>>().map_err(e)?;
        rows.sort_by(|a, b| (&a.0, a.7).cmp(&(&b.0, b.7)));
        // `published` lives on the advisory row (schema 1 has it there, not on
        // `affected`): one more single-statement query per lookup, not a JOIN (see above).
        let mut published_stmt = self
            .conn
            .prepare_cached(
                "SELECT id, published FROM advisory WHERE id IN
                 (SELECT advisory_id FROM affected WHERE ecosystem = ?1 AND name = ?2)",
            )
            .map_err(e)?;
        let published: HashMap<String, Option<DateTime<Utc>>> = if rows.is_empty() {
            HashMap::new()
        } else {
            published_stmt
                .query_map(params![ecosystem, name], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
                })
                .map_err(e)?
                .map(|r| r.map(|(id, text)| (id, text.as_deref().and_then(parse_published))))
                .collect::<Result<_, _>>()
                .map_err(e)?
        };
        let mut out = Vec::with_capacity(rows.len());
        for (id, aliases, summary, withdrawn, entry, severity, cvss, _) in rows {
            let corrupt = |reason: String| AdvisoryDbError::Corrupt {
                path: self.path.clone(),
                advisory: id.clone(),
                reason,
            };
            let aliases: Vec<String> =
                serde_json::from_str(&aliases).map_err(|x| corrupt(format!("aliases: {x}")))?;
            let affected: Affected =
                serde_json::from_str(&entry).map_err(|x| corrupt(format!("affected: {x}")))?;
            let cvss = match cvss {
                Some(c) => {
                    Some(serde_json::from_str(&c).map_err(|x| corrupt(format!("cvss: {x}")))?)
                }
                None => None,
            };
            out.push(Candidate {
                advisory_id: id.clone(),
                aliases,
                summary,
                withdrawn,
                affected,
                severity: severity.parse().unwrap_or(Severity::Unknown),
                cvss,
                published: published.get(&id).copied().flatten(),
            });
        }
        Ok(out)
    }

    /// Counts for `stella db info` and reports.
    pub fn stats(&self) -> Result<DbStats, AdvisoryDbError> {
        let e = |source| sqlite(&self.path, source);
        let count = |sql: &str| -> Result<u64, AdvisoryDbError> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(e)
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT ecosystem, COUNT(*) FROM affected GROUP BY ecosystem ORDER BY ecosystem",
            )
            .map_err(e)?;
        let by_ecosystem = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e)?;
        let last_import = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'last_import'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(e)?;
        Ok(DbStats {
            advisories: count("SELECT COUNT(*) FROM advisory")?,
            withdrawn: count("SELECT COUNT(*) FROM advisory WHERE withdrawn IS NOT NULL")?,
            affected_entries: count("SELECT COUNT(*) FROM affected")?,
            by_ecosystem,
            schema_version: sqlite::schema_version(&self.conn, &self.path)?,
            last_import,
        })
    }

    /// Every (ecosystem key, normalised name) that has advisories, sorted.
    pub fn packages(&self) -> Result<Vec<(String, String)>, AdvisoryDbError> {
        let e = |source| sqlite(&self.path, source);
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT ecosystem, name FROM affected ORDER BY ecosystem, name")
            .map_err(e)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e)
    }

    /// The stored OSV record of an advisory, by id.
    pub fn record(&self, id: &str) -> Result<Option<OsvRecord>, AdvisoryDbError> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT record FROM advisory WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|source| sqlite(&self.path, source))?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|x| AdvisoryDbError::Corrupt {
                path: self.path.clone(),
                advisory: id.to_string(),
                reason: x.to_string(),
            })
        })
        .transpose()
    }
}

/// An OSV `published` timestamp as a time. Unparsable text and placeholder dates are
/// `None`: Go's repository writes `0001-01-01T00:00:00Z` for "unknown", and other
/// exporters write the Unix epoch, and an advisory age computed from either would be
/// absurd. Nothing was published before 1980, so anything earlier is a placeholder.
pub(crate) fn parse_published(text: &str) -> Option<DateTime<Utc>> {
    let time = DateTime::parse_from_rfc3339(text.trim())
        .ok()?
        .with_timezone(&Utc);
    (chrono::Datelike::year(&time) >= 1980).then_some(time)
}

fn sqlite(path: &str, source: rusqlite::Error) -> AdvisoryDbError {
    AdvisoryDbError::Sqlite {
        path: path.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_published;

    #[test]
    fn published_times_are_rfc3339_and_placeholders_are_none() {
        let t = parse_published(" 2023-02-14T20:15:00Z ").expect("valid");
        assert_eq!(t.to_rfc3339(), "2023-02-14T20:15:00+00:00");
        // Offsets are converted to UTC.
        let t = parse_published("2021-12-10T02:00:00+02:00").expect("valid");
        assert_eq!(t.to_rfc3339(), "2021-12-10T00:00:00+00:00");
        for text in [
            "0001-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "2023-02-14",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_published(text), None, "{text:?}");
        }
    }
}
