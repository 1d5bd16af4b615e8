//! The server's policy state in SQLite: policy documents, versioned (every `PUT`
//! is a new version, none is rewritten), mute rules added and removed through the
//! API, and an append-only audit trail of both.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::audit::{self, MuteAudit};
use super::document::PolicyDocument;
use crate::verdict::mute_rule::MuteRule;

/// Why the policy store failed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyStoreError {
    /// SQLite failed.
    #[error("policy store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// Underlying error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored row could not be read back (written by an incompatible version).
    #[error("policy store: corrupt row: {0}")]
    Corrupt(String),
}

impl From<crate::sqlite::SqliteError> for PolicyStoreError {
    fn from(e: crate::sqlite::SqliteError) -> Self {
        let (path, source) = e.into_sqlite();
        PolicyStoreError::Sqlite { path, source }
    }
}

/// A policy document as stored: one version.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredPolicy {
    /// Version number, 1 for the first document stored, +1 for each later one.
    pub version: i64,
    /// The document's digest (SHA-256 of its canonical JSON).
    pub digest: String,
    /// The document.
    pub document: PolicyDocument,
    /// Who stored it (the token's subject).
    pub author: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

/// A mute rule added through the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMute {
    /// Server-assigned id (for `DELETE /policy/mute/{id}`).
    pub id: String,
    /// The rule.
    pub rule: MuteRule,
    /// Who added it.
    pub author: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// One audit record: a policy version stored, or a mute added or removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Position in the trail, increasing.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (the token's subject).
    pub actor: Option<String>,
    /// `policy` or `mute`.
    pub kind: String,
    /// What changed: for a policy, its version and the digests before and after; for
    /// a mute, the [`MuteAudit`] record.
    pub record: serde_json::Value,
}

/// The policy store.
#[derive(Debug)]
pub struct PolicyStore {
    conn: Mutex<Connection>,
    path: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS policy_versions (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    digest TEXT NOT NULL,
    document TEXT NOT NULL,
    author TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mutes (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    author TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT,
    kind TEXT NOT NULL,
    record TEXT NOT NULL
);
";

impl PolicyStore {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, PolicyStoreError> {
        Self::init(crate::sqlite::open(path)?, path.display().to_string())
    }

    /// A store in memory (tests).
    pub fn open_in_memory() -> Result<Self, PolicyStoreError> {
        Self::init(crate::sqlite::open_in_memory()?, ":memory:".into())
    }

    fn init(conn: Connection, path: String) -> Result<Self, PolicyStoreError> {
        conn.execute_batch(SCHEMA).map_err(sqlite(&path))?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest policy version, if any was stored.
    pub fn current(&self) -> Result<Option<StoredPolicy>, PolicyStoreError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT version, digest, document, author, created_at FROM policy_versions \
                 ORDER BY version DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(sqlite(&self.path))?;
        row.map(|(version, digest, document, author, created_at)| {
            Ok(StoredPolicy {
                version,
                digest,
                document: serde_json::from_str(&document)
                    .map_err(|e| PolicyStoreError::Corrupt(format!("policy {version}: {e}")))?,
                author,
                created_at: time(&created_at)?,
            })
        })
        .transpose()
    }

    /// Stores `document` (already validated) as the next version, with an audit record.
    pub fn put(
        &self,
        document: &PolicyDocument,
        digest: &str,
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StoredPolicy, PolicyStoreError> {
        let json = String::from_utf8_lossy(&document.canonical_json()).into_owned();
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sqlite(&self.path))?;
        let before: Option<(i64, String)> = tx
            .query_row(
                "SELECT version, digest FROM policy_versions ORDER BY version DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sqlite(&self.path))?;
        tx.execute(
            "INSERT INTO policy_versions (digest, document, author, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![digest, json, actor, now.to_rfc3339()],
        )
        .map_err(sqlite(&self.path))?;
        let version = tx.last_insert_rowid();
        let record = serde_json::json!({
            "version": version,
            "name": document.name,
            "digestBefore": before.as_ref().map(|(_, d)| d),
            "versionBefore": before.as_ref().map(|(v, _)| v),
            "digest": digest,
        });
        insert_audit(&tx, now, actor, "policy", &record).map_err(sqlite(&self.path))?;
        tx.commit().map_err(sqlite(&self.path))?;
        Ok(StoredPolicy {
            version,
            digest: digest.to_owned(),
            document: document.clone(),
            author: actor.map(str::to_owned),
            created_at: now,
        })
    }

    /// The mute rules added through the API, oldest first.
    pub fn mutes(&self) -> Result<Vec<StoredMute>, PolicyStoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, rule, author, created_at FROM mutes ORDER BY created_at, id")
            .map_err(sqlite(&self.path))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(sqlite(&self.path))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, rule, author, created_at) = row.map_err(sqlite(&self.path))?;
            out.push(StoredMute {
                rule: serde_json::from_str(&rule)
                    .map_err(|e| PolicyStoreError::Corrupt(format!("mute {id}: {e}")))?,
                id,
                author,
                created_at: time(&created_at)?,
            });
        }
        Ok(out)
    }

    /// Adds a mute rule (already validated), with an audit record.
    pub fn add_mute(
        &self,
        rule: &MuteRule,
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StoredMute, PolicyStoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let json = serde_json::to_string(rule)
            .map_err(|e| PolicyStoreError::Corrupt(format!("mute: {e}")))?;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sqlite(&self.path))?;
        tx.execute(
            "INSERT INTO mutes (id, rule, author, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, json, actor, now.to_rfc3339()],
        )
        .map_err(sqlite(&self.path))?;
        let records = audit::diff(
            &[],
            std::slice::from_ref(rule),
            &mute_source(&id),
            actor,
            now,
        );
        insert_mute_audits(&tx, now, actor, &records).map_err(sqlite(&self.path))?;
        tx.commit().map_err(sqlite(&self.path))?;
        Ok(StoredMute {
            id,
            rule: rule.clone(),
            author: actor.map(str::to_owned),
            created_at: now,
        })
    }

    /// Removes a mute rule; `None` when there is no such id.
    pub fn remove_mute(
        &self,
        id: &str,
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<MuteRule>, PolicyStoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sqlite(&self.path))?;
        let rule: Option<String> = tx
            .query_row("SELECT rule FROM mutes WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(sqlite(&self.path))?;
        let Some(rule) = rule else {
            return Ok(None);
        };
        let rule: MuteRule = serde_json::from_str(&rule)
            .map_err(|e| PolicyStoreError::Corrupt(format!("mute {id}: {e}")))?;
        tx.execute("DELETE FROM mutes WHERE id = ?1", [id])
            .map_err(sqlite(&self.path))?;
        let records = audit::diff(
            std::slice::from_ref(&rule),
            &[],
            &mute_source(id),
            actor,
            now,
        );
        insert_mute_audits(&tx, now, actor, &records).map_err(sqlite(&self.path))?;
        tx.commit().map_err(sqlite(&self.path))?;
        Ok(Some(rule))
    }

    /// The newest `limit` audit records, newest first.
    pub fn audit(&self, limit: usize) -> Result<Vec<AuditEntry>, PolicyStoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT seq, at, actor, kind, record FROM policy_audit ORDER BY seq DESC LIMIT ?1",
            )
            .map_err(sqlite(&self.path))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(sqlite(&self.path))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at, actor, kind, record) = row.map_err(sqlite(&self.path))?;
            out.push(AuditEntry {
                seq,
                at: time(&at)?,
                actor,
                kind,
                record: serde_json::from_str(&record)
                    .map_err(|e| PolicyStoreError::Corrupt(format!("audit {seq}: {e}")))?,
            });
        }
        Ok(out)
    }
}

/// The audit `source` of an API mute.
fn mute_source(id: &str) -> String {
    format!("api mute {id}")
}

fn insert_mute_audits(
    tx: &rusqlite::Transaction<'_>,
    now: DateTime<Utc>,
    actor: Option<&str>,
    records: &[MuteAudit],
) -> rusqlite::Result<()> {
    for r in records {
        let value = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
        insert_audit(tx, now, actor, "mute", &value)?;
    }
    Ok(())
}

fn insert_audit(
    tx: &rusqlite::Transaction<'_>,
    now: DateTime<Utc>,
    actor: Option<&str>,
    kind: &str,
    record: &serde_json::Value,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO policy_audit (at, actor, kind, record) VALUES (?1, ?2, ?3, ?4)",
        params![now.to_rfc3339(), actor, kind, record.to_string()],
    )?;
    Ok(())
}

fn time(text: &str) -> Result<DateTime<Utc>, PolicyStoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| PolicyStoreError::Corrupt(format!("time {text:?}: {e}")))
}

fn sqlite(path: &str) -> impl Fn(rusqlite::Error) -> PolicyStoreError + '_ {
    move |source| PolicyStoreError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::compiled::CompiledPolicy;

    fn policy(name: &str) -> CompiledPolicy {
        CompiledPolicy::from_yaml(&format!(
            "schemaVersion: 1\nname: {name}\ndefaultAction: fail\n"
        ))
        .expect("policy")
    }

    #[test]
    fn every_put_is_a_new_version_and_is_audited() {
        let store = PolicyStore::open_in_memory().expect("store");
        assert!(store.current().expect("current").is_none());
        let now = Utc::now();
        let a = policy("a");
        let b = policy("b");
        let v1 = store
            .put(a.document(), a.digest(), Some("alice"), now)
            .expect("put");
        let v2 = store
            .put(b.document(), b.digest(), Some("bob"), now)
            .expect("put");
        assert_eq!((v1.version, v2.version), (1, 2));
        let current = store.current().expect("current").expect("some");
        assert_eq!(current.document.name, "b");
        assert_eq!(current.digest, b.digest());
        let trail = store.audit(10).expect("audit");
        assert_eq!(trail.len(), 2);
        assert_eq!(trail[0].actor.as_deref(), Some("bob"));
        assert_eq!(trail[0].record["digestBefore"], a.digest());
        assert_eq!(trail[1].record["digestBefore"], serde_json::Value::Null);
    }

    #[test]
    fn mutes_are_added_removed_and_audited() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("policy.db");
        let now = Utc::now();
        let rule = MuteRule {
            id: "CVE-2021-44228".into(),
            reason: Some("not reachable".into()),
            ..MuteRule::default()
        };
        let id = {
            let store = PolicyStore::open(&path).expect("store");
            store.add_mute(&rule, Some("alice"), now).expect("add").id
        };
        // Persisted across a reopen.
        let store = PolicyStore::open(&path).expect("reopen");
        let mutes = store.mutes().expect("mutes");
        assert_eq!(mutes.len(), 1);
        assert_eq!(mutes[0].rule, rule);
        assert_eq!(mutes[0].id, id);
        assert_eq!(
            store.remove_mute(&id, Some("bob"), now).expect("remove"),
            Some(rule)
        );
        assert_eq!(store.remove_mute(&id, None, now).expect("again"), None);
        assert!(store.mutes().expect("mutes").is_empty());
        let trail = store.audit(10).expect("audit");
        let changes: Vec<&str> = trail
            .iter()
            .map(|e| e.record["change"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(changes, ["removed", "added"]);
        assert_eq!(trail[0].actor.as_deref(), Some("bob"));
    }
}
