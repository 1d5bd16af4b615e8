//! Audit records of mute changes: comparing two versions of a set of mute rules (a
//! policy file before and after a commit, a MuteRule resource before and after an
//! update) gives one record per rule added, removed or changed, with who and when.
//! Records are appended as JSON lines to an audit log that is never rewritten.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::verdict::mute_rule::MuteRule;

/// What happened to a mute rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MuteChange {
    /// A new rule.
    Added,
    /// A rule that is gone.
    Removed,
    /// The same rule (same advisory and scope) with other terms: expiry,
    /// justification, reason or author.
    Changed,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MuteAudit {
    /// When the change was recorded.
    pub at: DateTime<Utc>,
    /// Who made it (a Git author, a Kubernetes user), when known.
    pub actor: Option<String>,
    /// Where the rules live (policy file, MuteRule resource).
    pub source: String,
    /// What happened.
    pub change: MuteChange,
    /// The advisory id the rule mutes.
    pub id: String,
    /// Fields that differ, for `changed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The rule before the change.
    pub before: Option<MuteRule>,
    /// The rule after the change.
    pub after: Option<MuteRule>,
}

/// A rule's identity: what it mutes and where. Two versions of a rule with the same
/// identity are one rule changed, not one removed and one added.
fn identity(rule: &MuteRule) -> Identity {
    let mut images = rule.images.clone();
    images.sort();
    let mut namespaces = rule.namespaces.clone();
    namespaces.sort();
    (
        rule.id.trim().to_ascii_uppercase(),
        rule.purl.as_ref().map(|p| p.trim().to_owned()),
        images,
        namespaces,
    )
}

fn changed_fields(before: &MuteRule, after: &MuteRule) -> Vec<String> {
    let mut fields = Vec::new();
    if before.expires != after.expires {
        fields.push("expires".to_owned());
    }
    if before.justification != after.justification {
        fields.push("justification".to_owned());
    }
    if before.reason != after.reason {
        fields.push("reason".to_owned());
    }
    if before.author != after.author {
        fields.push("author".to_owned());
    }
    if before.id != after.id {
        fields.push("id".to_owned());
    }
    fields
}

type Identity = (String, Option<String>, Vec<String>, Vec<String>);

fn by_identity(rules: &[MuteRule]) -> BTreeMap<Identity, &MuteRule> {
    let mut map = BTreeMap::new();
    for rule in rules {
        // A duplicate identity keeps the first rule, as matching does.
        map.entry(identity(rule)).or_insert(rule);
    }
    map
}

/// The audit records that turn `before` into `after`, in a stable order (by identity).
/// Provenance is ignored: moving a rule within a file is not a change.
pub fn diff(
    before: &[MuteRule],
    after: &[MuteRule],
    source: &str,
    actor: Option<&str>,
    at: DateTime<Utc>,
) -> Vec<MuteAudit> {
    let old = by_identity(before);
    let new = by_identity(after);
    let record = |change, id: &str, fields, before: Option<&MuteRule>, after: Option<&MuteRule>| {
        let strip = |r: &MuteRule| MuteRule {
            provenance: None,
            ..r.clone()
        };
        MuteAudit {
            at,
            actor: actor.map(str::to_owned),
            source: source.to_owned(),
            change,
            id: id.to_owned(),
            fields,
            before: before.map(strip),
            after: after.map(strip),
        }
    };
    let mut out = Vec::new();
    for (key, rule) in &old {
        match new.get(key) {
            None => out.push(record(
                MuteChange::Removed,
                &rule.id,
                Vec::new(),
                Some(rule),
                None,
            )),
            Some(next) => {
                let fields = changed_fields(rule, next);
                if !fields.is_empty() {
                    out.push(record(
                        MuteChange::Changed,
                        &next.id,
                        fields,
                        Some(rule),
                        Some(next),
                    ));
                }
            }
        }
    }
    for (key, rule) in &new {
        if !old.contains_key(key) {
            out.push(record(
                MuteChange::Added,
                &rule.id,
                Vec::new(),
                None,
                Some(rule),
            ));
        }
    }
    out
}

/// Appends `records` to the JSON-lines audit log at `path` (created if missing).
pub fn append(path: &Path, records: &[MuteAudit]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut text = String::new();
    for record in records {
        text.push_str(&serde_json::to_string(record).map_err(std::io::Error::other)?);
        text.push('\n');
    }
    // One write per batch, so concurrent appenders do not interleave within a line.
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::mute_rule::{Justification, Provenance};
    use chrono::TimeZone;

    fn rule(id: &str, purl: Option<&str>, expires: Option<&str>) -> MuteRule {
        MuteRule {
            id: id.to_owned(),
            purl: purl.map(str::to_owned),
            expires: expires.map(str::to_owned),
            ..MuteRule::default()
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 10, 0, 0).unwrap()
    }

    #[test]
    fn added_removed_and_changed() {
        let before = vec![
            rule("CVE-1", None, Some("2026-12-31")),
            rule("CVE-2", Some("pkg:npm/a*"), None),
            rule("CVE-3", None, None),
        ];
        let mut extended = rule("cve-1", None, Some("2027-03-31"));
        extended.justification = Some(Justification::ComponentNotPresent);
        extended.provenance = Some(Provenance::File {
            path: "p.yaml".to_owned(),
            index: 4,
        });
        let after = vec![
            rule("CVE-3", None, None),
            extended,
            // Same id, other package: a different rule.
            rule("CVE-2", Some("pkg:npm/b*"), None),
        ];
        let records = diff(&before, &after, "policy.yaml", Some("alice"), at());
        let summary: Vec<(MuteChange, &str, Vec<String>)> = records
            .iter()
            .map(|r| (r.change, r.id.as_str(), r.fields.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    MuteChange::Changed,
                    "cve-1",
                    vec![
                        "expires".to_owned(),
                        "justification".to_owned(),
                        "id".to_owned()
                    ]
                ),
                (MuteChange::Removed, "CVE-2", vec![]),
                (MuteChange::Added, "CVE-2", vec![]),
            ]
        );
        assert_eq!(records[0].actor.as_deref(), Some("alice"));
        assert!(records[0].after.as_ref().unwrap().provenance.is_none());
        assert_eq!(
            records[1].before.as_ref().unwrap().purl.as_deref(),
            Some("pkg:npm/a*")
        );
        // No change, no record; reordering is not a change.
        let reordered: Vec<MuteRule> = before.iter().rev().cloned().collect();
        assert!(diff(&before, &reordered, "p", None, at()).is_empty());
    }

    #[test]
    fn log_is_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let first = diff(&[], &[rule("CVE-1", None, None)], "a", None, at());
        let second = diff(&[rule("CVE-1", None, None)], &[], "a", Some("bob"), at());
        append(&log, &first).unwrap();
        append(&log, &second).unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["change"], "added");
        assert_eq!(lines[1]["change"], "removed");
        assert_eq!(lines[1]["actor"], "bob");
        assert_eq!(lines[0]["at"], "2026-11-29T10:00:00Z");
    }
}
