//! Merge: source records that describe the same vulnerability become one
//! [`CanonicalAdvisory`], and a diff against the previous set says what changed.
//!
//! # Clustering
//! Each record names ids: its own `id` and its `aliases`. Records meet through shared ids,
//! transitively (union-find over ids), with one exception: a record naming two or more CVE
//! ids (a DSA/DLA, an Alpine secfix entry, any record with ≥2 CVE aliases) states "these
//! CVEs are fixed together", not "these CVEs are one vulnerability". Such a record takes no
//! part in the union; afterwards it contributes separately to the cluster of EACH of its
//! CVEs (creating that cluster if no other record names the CVE), bringing its own id and
//! that one CVE as ids, and all its affected packages. Records with ≤1 CVE union through all
//! their ids. The result depends only on the SET of records: union-find components do not
//! depend on the order of unions, and every later step sorts by content.
//!
//! # Fields
//! See [`Precedence`] for which source wins which field; [`CanonicalAdvisory`] documents
//! the rest (earliest `published`, latest `modified`, `withdrawn` only when every
//! contributing record is withdrawn). Identical records given twice (same source,
//! document, location and content digest) count once.
//!
//! # Diff
//! [`diff`] compares the advisories built from the new record set with the previous ones
//! by canonical id and digest: same digest → no event; otherwise Created / Updated /
//! Retracted. Removing a record therefore touches only the advisories it contributed to
//! (and, when it was the glue between two groups of records, the advisories they split into).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::advisory::canonical::{
    AffectedChoice, CanonicalAdvisory, CanonicalAffected, CanonicalReference, CanonicalSeverity,
    FieldProvenance, RecordProvenance, RecordRef, record_sha256,
};
use crate::advisory::cvss;
use crate::advisory::osv::{Affected, OsvRecord};
use crate::ecosystem::{Ecosystem, normalise_name};
use crate::feedser::{Source, SourceRecord, parallel_map};

/// Which source wins which field. Each list is an order, first wins; a source missing
/// from a list ranks after every listed one (then by [`Source`] order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precedence {
    /// Affected packages in distro ecosystems (`Debian:11`, `Alpine:v3.19`).
    pub distro_packages: Vec<Source>,
    /// Affected packages in language ecosystems (PyPI, Go, crates.io, npm, ...).
    pub language_packages: Vec<Source>,
    /// `summary`, `details` and the reference type of a URL several sources cite.
    pub text: Vec<Source>,
    /// The primary CVSS entry ([`CanonicalAdvisory::cvss`]).
    pub cvss: Vec<Source>,
}

impl Default for Precedence {
    /// Distros win for their packages, GHSA and the ecosystem databases for language
    /// packages and text; NVD comes last everywhere, so it fills gaps only.
    fn default() -> Self {
        use Source::*;
        Self {
            distro_packages: vec![Debian, Alpine, Osv, Ghsa, Rustsec, NodejsWg, Nvd],
            language_packages: vec![Ghsa, Osv, Rustsec, NodejsWg, Debian, Alpine, Nvd],
            text: vec![Ghsa, Osv, Rustsec, NodejsWg, Debian, Alpine, Nvd],
            cvss: vec![Ghsa, Osv, Rustsec, NodejsWg, Debian, Alpine, Nvd],
        }
    }
}

/// Rank of `source` in `order` (lower wins).
fn rank(order: &[Source], source: Source) -> usize {
    order
        .iter()
        .position(|s| *s == source)
        .unwrap_or(order.len() + source as usize)
}

/// Why an advisory appears in [`MergeOutcome::events`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeReason {
    /// The advisory did not exist before.
    Created,
    /// The advisory exists before and after, with different content.
    Updated,
    /// The advisory no longer exists (no record contributes to it any more).
    Retracted,
}

/// One changed canonical advisory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeEvent {
    /// The canonical id.
    pub canonical_id: String,
    /// Digest before (`None` when created).
    pub before_digest: Option<String>,
    /// Digest after (`None` when retracted).
    pub after_digest: Option<String>,
    /// Names of the sources whose contributions changed (all contributors when the
    /// contributions are the same but the result differs, e.g. after a precedence change).
    pub sources: Vec<String>,
    /// What happened.
    pub reason: MergeReason,
}

/// The merged advisories and what changed relative to the previous set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeOutcome {
    /// Canonical advisories, sorted by id.
    pub advisories: Vec<CanonicalAdvisory>,
    /// Changes, sorted by canonical id.
    pub events: Vec<MergeEvent>,
}

/// Merges `records` from scratch: every advisory is reported [`MergeReason::Created`].
pub fn merge(records: &[SourceRecord], precedence: &Precedence) -> MergeOutcome {
    diff(&[], records, precedence)
}

/// Merges `records` and reports how the result differs from `previous` (the canonical
/// advisories of the last run). Re-running with the same records reports nothing.
pub fn diff(
    previous: &[CanonicalAdvisory],
    records: &[SourceRecord],
    precedence: &Precedence,
) -> MergeOutcome {
    let advisories = build(records, precedence);
    let events = events(previous, &advisories);
    MergeOutcome { advisories, events }
}

/// The canonical advisories of `records`, sorted by id.
pub fn build(records: &[SourceRecord], precedence: &Precedence) -> Vec<CanonicalAdvisory> {
    let prepared = prepare(records);
    let clusters = cluster(&prepared);
    let mut out: Vec<CanonicalAdvisory> = parallel_map(&clusters, |members| {
        assemble(&prepared, members, precedence)
    });
    // Ids are unique: a CVE node lies in one cluster, and a cluster without exactly one
    // CVE takes its id from a record with at most one CVE, which lies in one cluster only.
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Advisories keyed by id, with their digests.
fn with_digests(list: &[CanonicalAdvisory]) -> BTreeMap<&str, (&CanonicalAdvisory, String)> {
    let digests = parallel_map(list, CanonicalAdvisory::digest);
    list.iter()
        .zip(digests)
        .map(|(a, d)| (a.id.as_str(), (a, d)))
        .collect()
}

/// The events turning `previous` into `current` (both keyed by canonical id).
pub fn events(previous: &[CanonicalAdvisory], current: &[CanonicalAdvisory]) -> Vec<MergeEvent> {
    // Digests are the costly part (canonical JSON of every advisory): compute in parallel.
    let (before, after) = (with_digests(previous), with_digests(current));
    let ids: BTreeSet<&str> = before.keys().chain(after.keys()).copied().collect();
    let mut out = Vec::new();
    for id in ids {
        let b = before.get(id).map(|x| x.0);
        let a = after.get(id).map(|x| x.0);
        let (bd, ad) = (
            before.get(id).map(|x| x.1.clone()),
            after.get(id).map(|x| x.1.clone()),
        );
        if bd == ad {
            continue;
        }
        let reason = match (b, a) {
            (None, _) => MergeReason::Created,
            (_, None) => MergeReason::Retracted,
            _ => MergeReason::Updated,
        };
        let prov = |x: Option<&CanonicalAdvisory>| -> BTreeSet<RecordProvenance> {
            x.map(|x| x.provenance.iter().cloned().collect())
                .unwrap_or_default()
        };
        let (pb, pa) = (prov(b), prov(a));
        let changed: BTreeSet<String> = pb
            .symmetric_difference(&pa)
            .map(|p| p.source.clone())
            .collect();
        let sources = if changed.is_empty() {
            pb.union(&pa).map(|p| p.source.clone()).collect()
        } else {
            changed
        };
        out.push(MergeEvent {
            canonical_id: id.to_owned(),
            before_digest: bd,
            after_digest: ad,
            sources: sources.into_iter().collect(),
            reason,
        });
    }
    out
}

/// A record with what the merge needs computed once: its ids, CVEs, provenance.
struct Prepared<'a> {
    rec: &'a SourceRecord,
    ids: Vec<String>,
    cves: Vec<String>,
    prov: RecordProvenance,
    reference: RecordRef,
}

fn is_cve(id: &str) -> bool {
    id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("CVE-"))
}

/// Ids, CVEs and provenance of every record; exact duplicates dropped; sorted by
/// provenance so that later steps never see input order.
fn prepare(records: &[SourceRecord]) -> Vec<Prepared<'_>> {
    let mut out: Vec<Prepared<'_>> = parallel_map(records, |rec| {
        let mut ids: Vec<String> = std::iter::once(&rec.record.id)
            .chain(&rec.record.aliases)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            // CVE ids are case-insensitive; other schemes keep their spelling.
            .map(|s| {
                if is_cve(s) {
                    s.to_ascii_uppercase()
                } else {
                    s.to_owned()
                }
            })
            .collect();
        ids.sort();
        ids.dedup();
        let cves = ids.iter().filter(|i| is_cve(i)).cloned().collect();
        let sha256 = record_sha256(&rec.record);
        let prov = RecordProvenance {
            source: rec.source.name().to_owned(),
            record_id: rec.record.id.trim().to_owned(),
            document: rec.document.clone(),
            location: rec.location.clone(),
            sha256,
            fetch: None,
        };
        let reference = RecordRef {
            source: prov.source.clone(),
            record_id: prov.record_id.clone(),
            location: prov.location.clone(),
        };
        Prepared {
            rec,
            ids,
            cves,
            prov,
            reference,
        }
    });
    out.sort_by(|a, b| a.prov.cmp(&b.prov));
    out.dedup_by(|a, b| a.prov == b.prov);
    out
}

/// One record's part in one cluster: the record (index into the prepared list) and, for
/// a multi-CVE record, the one CVE it contributes to here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Member {
    record: usize,
    cve: Option<String>,
}

/// Union-find over interned ids.
struct Forest {
    parent: Vec<usize>,
}

impl Forest {
    fn find(&mut self, mut x: usize) -> usize {
        let mut root = x;
        while let Some(&p) = self.parent.get(root) {
            if p == root {
                break;
            }
            root = p;
        }
        // Path compression.
        while let Some(&p) = self.parent.get(x) {
            if p == root {
                break;
            }
            if let Some(slot) = self.parent.get_mut(x) {
                *slot = root;
            }
            x = p;
        }
        root
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The smaller index becomes the root: any fixed rule would do.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            if let Some(slot) = self.parent.get_mut(hi) {
                *slot = lo;
            }
        }
    }
}

/// The clusters (see the module documentation), each a sorted list of members.
fn cluster(prepared: &[Prepared<'_>]) -> Vec<Vec<Member>> {
    fn node<'a>(id: &'a str, index: &mut HashMap<&'a str, usize>, forest: &mut Forest) -> usize {
        *index.entry(id).or_insert_with(|| {
            let n = forest.parent.len();
            forest.parent.push(n);
            n
        })
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut forest = Forest { parent: Vec::new() };
    for p in prepared {
        if p.cves.len() >= 2 {
            // Its CVEs get nodes (a cluster of their own if nobody else names them), but
            // the record unites nothing.
            for c in &p.cves {
                node(c, &mut index, &mut forest);
            }
            continue;
        }
        let mut first = None;
        for id in &p.ids {
            let n = node(id, &mut index, &mut forest);
            match first {
                None => first = Some(n),
                Some(f) => forest.union(f, n),
            }
        }
    }
    // Keyed by root node; records without any id (hand-built) form their own clusters,
    // keyed past every node.
    let mut groups: BTreeMap<usize, Vec<Member>> = BTreeMap::new();
    let lonely_base = forest.parent.len();
    for (i, p) in prepared.iter().enumerate() {
        if p.cves.len() >= 2 {
            for c in &p.cves {
                if let Some(&n) = index.get(c.as_str()) {
                    groups.entry(forest.find(n)).or_default().push(Member {
                        record: i,
                        cve: Some(c.clone()),
                    });
                }
            }
            continue;
        }
        let key = match p.ids.first().and_then(|id| index.get(id.as_str())) {
            Some(&n) => forest.find(n),
            None => lonely_base + i,
        };
        groups.entry(key).or_default().push(Member {
            record: i,
            cve: None,
        });
    }
    groups.into_values().collect()
}

/// An RFC 3339 time, ignoring placeholders before 1970 (Go's `0001-01-01T00:00:00Z`).
fn time(text: Option<&str>) -> Option<DateTime<FixedOffset>> {
    text.and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
        .filter(|t| t.year() >= 1970)
}

/// Rank of a CVSS version for choosing the primary entry: newer first.
fn version_rank(version: Option<&str>) -> u8 {
    match version {
        Some("4.0") => 0,
        Some("3.1") => 1,
        Some("3.0") => 2,
        Some(_) => 3,
        None => 4,
    }
}

/// The ecosystem key, normalised name and distro flag of an affected entry.
fn package_key(affected: &Affected) -> (String, String, bool) {
    let Some(pkg) = &affected.package else {
        return (String::new(), String::new(), false);
    };
    match Ecosystem::from_osv(pkg.ecosystem.trim()) {
        Some(eco) => (
            eco.key(),
            normalise_name(eco.kind, None, pkg.name.trim()),
            eco.kind.is_distro(),
        ),
        None => (
            pkg.ecosystem.trim().to_owned(),
            pkg.name.trim().to_owned(),
            false,
        ),
    }
}

/// Builds the advisory of one cluster.
fn assemble(prepared: &[Prepared<'_>], members: &[Member], p: &Precedence) -> CanonicalAdvisory {
    // Members are sorted by record index, and records by provenance.
    let mut contribs: Vec<&Prepared<'_>> = members
        .iter()
        .filter_map(|m| prepared.get(m.record))
        .collect();
    contribs.dedup_by(|a, b| a.prov == b.prov);
    let records: Vec<&OsvRecord> = contribs.iter().map(|c| &c.rec.record).collect();

    // Ids: a multi-CVE record brings only its own id and this cluster's CVE.
    let mut ids: BTreeSet<String> = BTreeSet::new();
    for m in members {
        let Some(pr) = prepared.get(m.record) else {
            continue;
        };
        match &m.cve {
            None => ids.extend(pr.ids.iter().cloned()),
            Some(c) => {
                ids.insert(c.clone());
                // Its own id joins unless it is a CVE: then it is one of the CVEs it names,
                // and belongs to that CVE's cluster only.
                if !pr.prov.record_id.is_empty() && !is_cve(&pr.prov.record_id) {
                    ids.insert(pr.prov.record_id.clone());
                }
            }
        }
    }
    let cves: Vec<&String> = ids.iter().filter(|i| is_cve(i)).collect();
    let id = match cves.as_slice() {
        [only] => (*only).clone(),
        // Only records with at most one CVE (members without a `cve`) are candidates:
        // a multi-CVE record's id is in several clusters and would not be unique.
        _ => members
            .iter()
            .filter(|m| m.cve.is_none())
            .filter_map(|m| prepared.get(m.record))
            .min_by(|a, b| {
                let ta = time(a.rec.record.published.as_deref());
                let tb = time(b.rec.record.published.as_deref());
                (ta.is_none(), ta, &a.prov.record_id).cmp(&(tb.is_none(), tb, &b.prov.record_id))
            })
            .map(|c| c.prov.record_id.clone())
            .unwrap_or_default(),
    };
    let aliases: Vec<String> = ids.into_iter().filter(|i| *i != id).collect();

    let mut fields = FieldProvenance::default();

    // Text: highest-precedence record with a non-empty value.
    let mut by_text: Vec<&Prepared<'_>> = contribs.clone();
    by_text.sort_by_key(|c| (rank(&p.text, c.rec.source), &c.prov));
    let pick = |get: fn(&OsvRecord) -> Option<&String>| {
        by_text.iter().find_map(|c| {
            get(&c.rec.record)
                .filter(|s| !s.trim().is_empty())
                .map(|s| (s.clone(), c.reference.clone()))
        })
    };
    let summary = pick(|r| r.summary.as_ref());
    let details = pick(|r| r.details.as_ref());
    fields.summary = summary.as_ref().map(|s| s.1.clone());
    fields.details = details.as_ref().map(|s| s.1.clone());

    // Times: earliest published, latest modified; ties go to the first record in order.
    let mut published: Option<(DateTime<FixedOffset>, &Prepared<'_>)> = None;
    let mut modified: Option<(DateTime<FixedOffset>, &Prepared<'_>)> = None;
    for c in &contribs {
        if let Some(t) = time(c.rec.record.published.as_deref())
            && published.is_none_or(|(b, _)| t < b)
        {
            published = Some((t, c));
        }
        if let Some(t) = time(Some(&c.rec.record.modified))
            && modified.is_none_or(|(b, _)| t > b)
        {
            modified = Some((t, c));
        }
    }
    fields.published = published.map(|(_, c)| c.reference.clone());
    fields.modified = modified.map(|(_, c)| c.reference.clone());
    let withdrawn = if !records.is_empty() && records.iter().all(|r| r.withdrawn.is_some()) {
        records
            .iter()
            .filter_map(|r| r.withdrawn.as_ref())
            .max_by(|a, b| (time(Some(a)), *a).cmp(&(time(Some(b)), *b)))
            .cloned()
    } else {
        None
    };

    // Severities: every entry of every record, scored; the primary one by precedence.
    let mut severities: Vec<(usize, CanonicalSeverity)> = Vec::new();
    for c in &contribs {
        for e in &c.rec.record.severity {
            let scored = e
                .kind
                .to_ascii_uppercase()
                .starts_with("CVSS_")
                .then(|| cvss::score(&e.score).ok())
                .flatten();
            severities.push((
                rank(&p.cvss, c.rec.source),
                CanonicalSeverity {
                    kind: e.kind.clone(),
                    vector: e.score.trim().to_owned(),
                    cvss_version: scored.as_ref().map(|s| s.version.clone()),
                    score: scored.map(|s| s.score),
                    source: c.reference.clone(),
                },
            ));
        }
    }
    let cvss_primary = severities
        .iter()
        .filter(|(_, s)| s.score.is_some())
        .min_by(|(ra, a), (rb, b)| {
            (
                ra,
                version_rank(a.cvss_version.as_deref()),
                &a.source,
                &a.vector,
            )
                .cmp(&(
                    rb,
                    version_rank(b.cvss_version.as_deref()),
                    &b.source,
                    &b.vector,
                ))
        })
        .map(|(_, s)| s.clone());
    let mut severities: Vec<CanonicalSeverity> = severities.into_iter().map(|(_, s)| s).collect();
    severities
        .sort_by(|a, b| (&a.source, &a.kind, &a.vector).cmp(&(&b.source, &b.kind, &b.vector)));
    severities.dedup();

    // CWEs.
    let cwes: BTreeSet<String> = records
        .iter()
        .filter_map(|r| r.database_specific.as_ref())
        .filter_map(|d| d.get("cwe_ids"))
        .filter_map(|v| v.as_array())
        .flatten()
        .filter_map(|v| v.as_str())
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();

    // References by URL; the type from the highest-precedence citing record.
    let mut refs: BTreeMap<String, (usize, String, BTreeSet<String>)> = BTreeMap::new();
    for c in &by_text {
        let r = rank(&p.text, c.rec.source);
        for reference in &c.rec.record.references {
            let url = reference.url.trim();
            if url.is_empty() {
                continue;
            }
            let entry = refs
                .entry(url.to_owned())
                .or_insert_with(|| (r, reference.kind.clone(), BTreeSet::new()));
            entry.2.insert(c.prov.source.clone());
        }
    }
    let references = refs
        .into_iter()
        .map(|(url, (_, kind, sources))| CanonicalReference {
            kind,
            url,
            sources: sources.into_iter().collect(),
        })
        .collect();

    // Affected packages: per (ecosystem key, name), only the winning source's entries.
    type Group<'r> = Vec<(&'r Prepared<'r>, &'r Affected, bool)>;
    let mut packages: BTreeMap<(String, String), Group<'_>> = BTreeMap::new();
    for c in &contribs {
        for a in &c.rec.record.affected {
            let (key, name, distro) = package_key(a);
            packages
                .entry((key, name))
                .or_default()
                .push((c, a, distro));
        }
    }
    let mut affected: Vec<CanonicalAffected> = Vec::new();
    for ((key, name), group) in packages {
        let order = |distro: bool| {
            if distro {
                &p.distro_packages
            } else {
                &p.language_packages
            }
        };
        let Some(winner) = group
            .iter()
            .map(|(c, _, distro)| (rank(order(*distro), c.rec.source), c.rec.source))
            .min()
            .map(|(_, s)| s)
        else {
            continue;
        };
        let mut choice = AffectedChoice {
            source: winner.name().to_owned(),
            ..AffectedChoice::default()
        };
        let mut entries: Vec<CanonicalAffected> = Vec::new();
        for (c, a, _) in &group {
            if c.rec.source != winner {
                choice.overridden.push(c.reference.clone());
                continue;
            }
            choice.kept.push(c.reference.clone());
            let mut versions: Vec<String> =
                a.versions.iter().map(|v| v.trim().to_owned()).collect();
            versions.sort();
            versions.dedup();
            let pkg = a.package.as_ref();
            let entry = CanonicalAffected {
                ecosystem: pkg
                    .map(|x| x.ecosystem.trim().to_owned())
                    .unwrap_or_default(),
                ecosystem_key: key.clone(),
                name: name.clone(),
                purl: pkg.and_then(|x| x.purl.clone()),
                ranges: a.ranges.clone(),
                versions,
                severity: a.severity.clone(),
                ecosystem_specific: a.ecosystem_specific.clone(),
                database_specific: a.database_specific.clone(),
                source: c.reference.clone(),
            };
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
        choice.kept.dedup();
        choice.overridden.sort();
        choice.overridden.dedup();
        fields.affected.insert(format!("{key}|{name}"), choice);
        affected.extend(entries);
    }

    CanonicalAdvisory {
        id,
        aliases,
        summary: summary.map(|s| s.0),
        details: details.map(|s| s.0),
        affected,
        severities,
        cvss: cvss_primary,
        cwes: cwes.into_iter().collect(),
        references,
        published: published.and_then(|(_, c)| c.rec.record.published.clone()),
        modified: modified.map(|(_, c)| c.rec.record.modified.clone()),
        withdrawn,
        provenance: contribs.iter().map(|c| c.prov.clone()).collect(),
        field_provenance: fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::osv::{Event, Package, Range, RangeType, Reference, SeverityEntry};
    use proptest::prelude::*;

    fn rec(source: Source, id: &str, aliases: &[&str]) -> SourceRecord {
        SourceRecord {
            source,
            document: format!("{}/{id}", source.name()),
            location: "$".into(),
            record: OsvRecord {
                id: id.into(),
                modified: "2024-01-01T00:00:00Z".into(),
                aliases: aliases.iter().map(|s| s.to_string()).collect(),
                ..OsvRecord::default()
            },
        }
    }

    fn pkg(ecosystem: &str, name: &str, fixed: &str) -> Affected {
        Affected {
            package: Some(Package {
                ecosystem: ecosystem.into(),
                name: name.into(),
                purl: None,
            }),
            ranges: vec![Range {
                kind: RangeType::Ecosystem,
                repo: None,
                events: vec![Event::Introduced("0".into()), Event::Fixed(fixed.into())],
            }],
            ..Affected::default()
        }
    }

    fn with(mut r: SourceRecord, f: impl FnOnce(&mut OsvRecord)) -> SourceRecord {
        f(&mut r.record);
        r
    }

    fn by_id<'a>(out: &'a [CanonicalAdvisory], id: &str) -> &'a CanonicalAdvisory {
        out.iter()
            .find(|a| a.id == id)
            .unwrap_or_else(|| panic!("no advisory {id} in {:?}", ids(out)))
    }

    fn ids(out: &[CanonicalAdvisory]) -> Vec<&str> {
        out.iter().map(|a| a.id.as_str()).collect()
    }

    fn sources(a: &CanonicalAdvisory) -> Vec<&str> {
        a.provenance.iter().map(|p| p.source.as_str()).collect()
    }

    /// An NVD record in the shape the NVD connector produces.
    fn nvd(cve: &str) -> SourceRecord {
        with(rec(Source::Nvd, cve, &[]), |r| {
            r.details = Some("NVD description".into());
            r.published = Some("2022-03-02T00:00:00Z".into());
            r.severity = vec![SeverityEntry {
                kind: "CVSS_V3".into(),
                score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into(),
            }];
            r.database_specific = Some(serde_json::json!({"cwe_ids": ["CWE-200", "cwe-20"]}));
            r.references = vec![Reference {
                kind: "WEB".into(),
                url: "https://example.org/a".into(),
            }];
        })
    }

    /// A Debian DSA naming three CVEs, in the shape the Debian connector produces.
    fn dsa() -> SourceRecord {
        with(
            rec(
                Source::Debian,
                "DSA-5091-1",
                &["CVE-2022-23648", "CVE-2022-0001", "CVE-2022-0002"],
            ),
            |r| {
                r.summary = Some("containerd security update".into());
                r.published = Some("2022-03-05T00:00:00Z".into());
                r.affected = vec![pkg("Debian:11", "containerd", "1.4.13~ds1-1~deb11u1")];
            },
        )
    }

    fn ghsa_go() -> SourceRecord {
        with(
            rec(Source::Ghsa, "GHSA-crp2-qrr5-8pq7", &["CVE-2022-23648"]),
            |r| {
                r.summary = Some("containerd CRI plugin: host file access".into());
                r.published = Some("2022-03-03T00:00:00Z".into());
                r.severity = vec![SeverityEntry {
                    kind: "CVSS_V3".into(),
                    score: "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:N/A:N".into(),
                }];
                r.affected = vec![pkg("Go", "github.com/containerd/containerd", "1.6.1")];
                r.references = vec![Reference {
                    kind: "ADVISORY".into(),
                    url: "https://example.org/a".into(),
                }];
                r.database_specific = Some(serde_json::json!({"cwe_ids": ["CWE-200"]}));
            },
        )
    }

    #[test]
    fn a_multi_cve_record_contributes_to_each_cve_separately() {
        let go = with(
            rec(
                Source::Osv,
                "GO-2022-0344",
                &["CVE-2022-23648", "GHSA-crp2-qrr5-8pq7"],
            ),
            |r| {
                r.affected = vec![pkg("Go", "github.com/containerd/containerd", "1.6.1")];
            },
        );
        let records = vec![dsa(), ghsa_go(), go, nvd("CVE-2022-23648")];
        let out = build(&records, &Precedence::default());
        assert_eq!(
            ids(&out),
            vec!["CVE-2022-0001", "CVE-2022-0002", "CVE-2022-23648"]
        );
        let main = by_id(&out, "CVE-2022-23648");
        assert_eq!(sources(main), vec!["debian", "ghsa", "nvd", "osv"]);
        // The DSA's other CVEs are not aliases of this vulnerability.
        assert_eq!(
            main.aliases,
            vec!["DSA-5091-1", "GHSA-crp2-qrr5-8pq7", "GO-2022-0344"]
        );
        for other in ["CVE-2022-0001", "CVE-2022-0002"] {
            let a = by_id(&out, other);
            assert_eq!(sources(a), vec!["debian"]);
            assert_eq!(a.aliases, vec!["DSA-5091-1"]);
            assert_eq!(a.affected.len(), 1);
            assert_eq!(a.affected[0].ecosystem_key, "deb/debian/11");
        }
        // Both the Debian and the Go package are there, each from its winning source.
        let keys: Vec<(&str, &str, &str)> = main
            .affected
            .iter()
            .map(|a| {
                (
                    a.ecosystem_key.as_str(),
                    a.name.as_str(),
                    a.source.source.as_str(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                ("deb/debian/11", "containerd", "debian"),
                ("golang", "github.com/containerd/containerd", "ghsa"),
            ]
        );
        let go_choice = &main.field_provenance.affected["golang|github.com/containerd/containerd"];
        assert_eq!(go_choice.source, "ghsa");
        assert_eq!(go_choice.overridden.len(), 1);
        assert_eq!(go_choice.overridden[0].record_id, "GO-2022-0344");
    }

    #[test]
    fn records_with_at_most_one_cve_union_transitively() {
        let records = vec![
            rec(Source::Osv, "PYSEC-1", &["GHSA-a"]),
            rec(Source::Ghsa, "GHSA-a", &["CVE-2020-1"]),
            rec(Source::Osv, "GO-1", &["GHSA-a"]),
            rec(Source::Osv, "GO-2", &[]),
        ];
        let out = build(&records, &Precedence::default());
        assert_eq!(ids(&out), vec!["CVE-2020-1", "GO-2"]);
        // CVE ids meet whatever their case.
        let lower = build(
            &[
                rec(Source::Nvd, "CVE-2020-1", &[]),
                rec(Source::Osv, "GO-3", &["cve-2020-1"]),
            ],
            &Precedence::default(),
        );
        assert_eq!(ids(&lower), vec!["CVE-2020-1"]);
        assert_eq!(
            by_id(&out, "CVE-2020-1").aliases,
            vec!["GHSA-a", "GO-1", "PYSEC-1"]
        );
    }

    #[test]
    fn without_exactly_one_cve_the_earliest_published_id_wins() {
        let at = |id: &str, aliases: &[&str], published: Option<&str>| {
            with(rec(Source::Osv, id, aliases), |r| {
                r.published = published.map(Into::into)
            })
        };
        // No CVE: earliest published; the record without a date loses.
        let out = build(
            &[
                at("B-1", &["A-1"], Some("2021-01-01T00:00:00Z")),
                at("A-1", &[], Some("2022-01-01T00:00:00Z")),
                at("0-1", &["A-1"], None),
            ],
            &Precedence::default(),
        );
        assert_eq!(ids(&out), vec!["B-1"]);
        // Two CVEs glued by single-CVE records: equal dates, so the smaller id.
        let out = build(
            &[
                at("X-2", &["CVE-1", "G-1"], Some("2021-01-01T00:00:00Z")),
                at("X-1", &["CVE-2", "G-1"], Some("2021-01-01T00:00:00Z")),
            ],
            &Precedence::default(),
        );
        assert_eq!(ids(&out), vec!["X-1"]);
        assert_eq!(out[0].aliases, vec!["CVE-1", "CVE-2", "G-1", "X-2"]);
    }

    #[test]
    fn nvd_fills_gaps_only() {
        let p = Precedence::default();
        let out = build(&[ghsa_go(), nvd("CVE-2022-23648")], &p);
        let a = by_id(&out, "CVE-2022-23648");
        assert_eq!(
            a.summary.as_deref(),
            Some("containerd CRI plugin: host file access")
        );
        // GHSA has no details: NVD's fill the gap.
        assert_eq!(a.details.as_deref(), Some("NVD description"));
        assert_eq!(
            a.field_provenance
                .details
                .as_ref()
                .map(|r| r.source.as_str()),
            Some("nvd")
        );
        let cvss = a.cvss.as_ref().expect("primary CVSS");
        assert_eq!(
            (cvss.source.source.as_str(), cvss.score),
            ("ghsa", Some(7.7))
        );
        assert_eq!(a.severities.len(), 2);
        assert_eq!(a.cwes, vec!["CWE-20", "CWE-200"]);
        // One reference, cited by both, typed by the GHSA.
        assert_eq!(a.references.len(), 1);
        assert_eq!(a.references[0].kind, "ADVISORY");
        assert_eq!(a.references[0].sources, vec!["ghsa", "nvd"]);
        assert_eq!(a.published.as_deref(), Some("2022-03-02T00:00:00Z"));
        // NVD alone supplies everything.
        let out = build(&[nvd("CVE-2022-23648")], &p);
        let cvss = out[0].cvss.as_ref().expect("NVD CVSS");
        assert_eq!(
            (cvss.source.source.as_str(), cvss.score),
            ("nvd", Some(9.8))
        );
        // Precedence is configurable.
        let nvd_first = Precedence {
            cvss: vec![Source::Nvd],
            ..Precedence::default()
        };
        let out = build(&[ghsa_go(), nvd("CVE-2022-23648")], &nvd_first);
        assert_eq!(
            out[0].cvss.as_ref().map(|c| c.source.source.as_str()),
            Some("nvd")
        );
    }

    #[test]
    fn distro_sources_win_distro_packages_and_names_are_normalised() {
        let debian = with(rec(Source::Debian, "DLA-1", &["CVE-1"]), |r| {
            r.affected = vec![pkg("Debian:11", "python-werkzeug", "2.2.2-3")];
        });
        let osv = with(rec(Source::Osv, "PYSEC-1", &["CVE-1"]), |r| {
            r.affected = vec![
                pkg("Debian:11", "python-werkzeug", "9.9"),
                pkg("PyPI", "Werkzeug", "2.2.3"),
            ];
        });
        let ghsa = with(rec(Source::Ghsa, "GHSA-1", &["CVE-1"]), |r| {
            r.affected = vec![pkg("PyPI", "werkzeug", "2.2.3")];
        });
        let out = build(&[debian, osv, ghsa], &Precedence::default());
        let a = &out[0];
        let got: Vec<(&str, &str, &str)> = a
            .affected
            .iter()
            .map(|x| {
                (
                    x.ecosystem_key.as_str(),
                    x.name.as_str(),
                    x.source.record_id.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("deb/debian/11", "python-werkzeug", "DLA-1"),
                ("pypi", "werkzeug", "GHSA-1")
            ]
        );
        assert_eq!(
            a.field_provenance.affected["pypi|werkzeug"].overridden[0].record_id,
            "PYSEC-1"
        );
        assert_eq!(
            a.field_provenance.affected["deb/debian/11|python-werkzeug"].overridden[0].record_id,
            "PYSEC-1"
        );
    }

    #[test]
    fn times_and_withdrawal() {
        let r1 = with(rec(Source::Osv, "GO-1", &["CVE-1"]), |r| {
            r.modified = "0001-01-01T00:00:00Z".into();
            r.published = Some("2022-05-01T00:00:00Z".into());
            r.withdrawn = Some("2023-01-01T00:00:00Z".into());
        });
        let r2 = with(rec(Source::Ghsa, "GHSA-1", &["CVE-1"]), |r| {
            r.modified = "2023-06-01T00:00:00+02:00".into();
            r.published = Some("2022-04-30T23:00:00-02:00".into());
        });
        let out = build(&[r1.clone(), r2.clone()], &Precedence::default());
        let a = &out[0];
        // 2022-04-30T23:00-02:00 is 2022-05-01T01:00Z, later than GO's.
        assert_eq!(a.published.as_deref(), Some("2022-05-01T00:00:00Z"));
        assert_eq!(a.modified.as_deref(), Some("2023-06-01T00:00:00+02:00"));
        assert_eq!(a.withdrawn, None, "GHSA still asserts it");
        let r2w = with(r2, |r| r.withdrawn = Some("2023-02-01T00:00:00Z".into()));
        let out = build(&[r1, r2w], &Precedence::default());
        assert_eq!(out[0].withdrawn.as_deref(), Some("2023-02-01T00:00:00Z"));
    }

    #[test]
    fn diff_reports_created_updated_retracted_and_nothing_on_rerun() {
        let p = Precedence::default();
        let records = vec![dsa(), ghsa_go(), nvd("CVE-2022-23648")];
        let first = merge(&records, &p);
        assert_eq!(first.events.len(), 3);
        assert!(
            first
                .events
                .iter()
                .all(|e| e.reason == MergeReason::Created)
        );
        assert!(diff(&first.advisories, &records, &p).events.is_empty());
        // Drop the DSA: two advisories go, one is updated, and only debian is blamed.
        let second = diff(&first.advisories, &records[1..], &p);
        let got: Vec<(&str, MergeReason, Vec<String>)> = second
            .events
            .iter()
            .map(|e| (e.canonical_id.as_str(), e.reason, e.sources.clone()))
            .collect();
        let deb = vec!["debian".to_string()];
        assert_eq!(
            got,
            vec![
                ("CVE-2022-0001", MergeReason::Retracted, deb.clone()),
                ("CVE-2022-0002", MergeReason::Retracted, deb.clone()),
                ("CVE-2022-23648", MergeReason::Updated, deb),
            ]
        );
        let upd = &second.events[2];
        assert_eq!(upd.before_digest, Some(first.advisories[2].digest()));
        assert_eq!(upd.after_digest, Some(second.advisories[0].digest()));
        assert_eq!(sources(&second.advisories[0]), vec!["ghsa", "nvd"]);
    }

    #[test]
    fn the_canonical_form_round_trips_through_json() {
        let out = build(
            &[dsa(), ghsa_go(), nvd("CVE-2022-23648")],
            &Precedence::default(),
        );
        for a in &out {
            let back: CanonicalAdvisory =
                serde_json::from_slice(&a.canonical_json()).expect("reads back");
            assert_eq!(&back, a);
            assert_eq!(back.digest(), a.digest());
        }
    }

    /// A small random universe of records whose ids and aliases collide often.
    fn arb_record() -> impl Strategy<Value = SourceRecord> {
        let source = prop::sample::select(Source::ALL.to_vec());
        let id = prop::sample::select(vec![
            "GHSA-a", "GHSA-b", "PYSEC-1", "PYSEC-2", "GO-1", "DSA-1", "DSA-2", "CVE-1", "X-1",
        ]);
        let aliases = prop::collection::vec(
            prop::sample::select(vec![
                "CVE-1", "CVE-2", "CVE-3", "CVE-4", "GHSA-a", "GHSA-b", "GO-1",
            ]),
            0..4,
        );
        let package = prop::option::of((
            prop::sample::select(vec!["PyPI", "Debian:11", "Go", "Alpine:v3.10"]),
            prop::sample::select(vec!["Werkzeug", "werkzeug", "pkg"]),
            0u8..3,
        ));
        let published = prop::option::of(prop::sample::select(vec![
            "2021-01-01T00:00:00Z",
            "2022-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
        ]));
        let text = prop::option::of(prop::sample::select(vec!["s1", "s2"]));
        let withdrawn = any::<bool>();
        let loc = 0u8..2;
        (
            source, id, aliases, package, published, text, withdrawn, loc,
        )
            .prop_map(
                |(source, id, aliases, package, published, text, withdrawn, loc)| {
                    let mut r = rec(source, id, &aliases);
                    r.location = format!("$[{loc}]");
                    r.record.published = published.map(Into::into);
                    r.record.summary = text.map(Into::into);
                    r.record.withdrawn = withdrawn.then(|| "2024-02-02T00:00:00Z".into());
                    if let Some((eco, name, v)) = package {
                        r.record.affected = vec![pkg(eco, name, &format!("1.{v}"))];
                    }
                    r
                },
            )
    }

    fn json_of(out: &[CanonicalAdvisory]) -> Vec<Vec<u8>> {
        out.iter().map(CanonicalAdvisory::canonical_json).collect()
    }

    /// Every (record provenance, CVE-or-none) contribution across a set of advisories.
    fn contributions(out: &[CanonicalAdvisory]) -> BTreeSet<RecordProvenance> {
        out.iter()
            .flat_map(|a| a.provenance.iter().cloned())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn order_independent(
            (records, shuffled) in prop::collection::vec(arb_record(), 0..12)
                .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
        ) {
            let p = Precedence::default();
            let a = build(&records, &p);
            let b = build(&shuffled, &p);
            prop_assert_eq!(json_of(&a), json_of(&b));
            // Canonical ids are unique.
            let unique: BTreeSet<&str> = a.iter().map(|x| x.id.as_str()).collect();
            prop_assert_eq!(unique.len(), a.len());
        }

        #[test]
        fn idempotent(records in prop::collection::vec(arb_record(), 0..12)) {
            let p = Precedence::default();
            let first = merge(&records, &p);
            prop_assert!(diff(&first.advisories, &records, &p).events.is_empty());
            // The same records given twice change nothing either.
            let doubled: Vec<SourceRecord> = records.iter().chain(&records).cloned().collect();
            prop_assert_eq!(json_of(&build(&doubled, &p)), json_of(&first.advisories));
            // Every record is accounted for.
            let all: BTreeSet<(String, String)> = records
                .iter()
                .map(|r| (r.source.name().to_owned(), r.record.id.clone()))
                .collect();
            let seen: BTreeSet<(String, String)> = contributions(&first.advisories)
                .into_iter()
                .map(|p| (p.source, p.record_id))
                .collect();
            prop_assert_eq!(all, seen);
        }

        #[test]
        fn retraction_removes_only_that_contribution(
            records in prop::collection::vec(arb_record(), 1..12),
            pick in any::<prop::sample::Index>(),
        ) {
            let p = Precedence::default();
            let before = build(&records, &p);
            let k = pick.index(records.len());
            let removed = &records[k];
            let rest: Vec<SourceRecord> = records
                .iter()
                .filter(|r| *r != removed)
                .cloned()
                .collect();
            let outcome = diff(&before, &rest, &p);
            let sha = record_sha256(&removed.record);
            let is_removed = |x: &RecordProvenance| {
                x.source == removed.source.name()
                    && x.record_id == removed.record.id
                    && x.location == removed.location
                    && x.document == removed.document
                    && x.sha256 == sha
            };
            let gone = |a: &CanonicalAdvisory| a.provenance.iter().any(is_removed);
            // Nothing carries the removed record any more.
            prop_assert!(!outcome.advisories.iter().any(gone));
            // Advisories it did not contribute to are untouched (no event, same bytes).
            let touched: BTreeSet<&str> =
                outcome.events.iter().map(|e| e.canonical_id.as_str()).collect();
            for a in before.iter().filter(|a| !gone(a)) {
                prop_assert!(!touched.contains(a.id.as_str()), "{} changed", a.id);
                prop_assert!(outcome.advisories.contains(a));
            }
            // Every other contribution survives.
            let mut expected = contributions(&before);
            expected.retain(|x| !is_removed(x));
            prop_assert_eq!(contributions(&outcome.advisories), expected);
            // Only the removed record's advisories can be the subject of an event.
            for e in &outcome.events {
                let was = before.iter().find(|a| a.id == e.canonical_id);
                let now = outcome.advisories.iter().find(|a| a.id == e.canonical_id);
                prop_assert!(was.is_none_or(gone) && (was.is_some() || now.is_some()));
            }
        }
    }
}
