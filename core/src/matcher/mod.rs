//! Matching SBOM components against advisories: one finding per
//! (component, vulnerability), whichever ids the advisories use.

pub mod range;

use crate::advisory::Severity;
use crate::advisory::cvss::CvssScore;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A vulnerability found in one component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Primary id: the CVE when one is known, else the first advisory id.
    pub id: String,
    /// Every other id of the vulnerability (advisory ids and their aliases), sorted.
    pub aliases: Vec<String>,
    /// Ids of the advisory records that matched. An advisory naming several CVEs
    /// contributes to each of their findings.
    pub advisories: Vec<String>,
    /// The component's `bom_ref`.
    pub component_ref: String,
    /// Component name.
    pub package_name: String,
    /// Component purl (canonical form).
    pub purl: String,
    /// Installed version.
    pub installed_version: String,
    /// Versions that fix it (from `fixed` events of the matching ranges), sorted.
    pub fixed_versions: Vec<String>,
    /// Highest severity any matching advisory gives.
    pub severity: Severity,
    /// Highest CVSS base score any matching advisory gives, with its vector.
    pub cvss: Option<CvssScore>,
    /// One-line summary from the first advisory that has one.
    pub summary: Option<String>,
    /// Earliest publication time among the matching advisories (advisory age is
    /// measured from it); absent when none of them gives a usable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<DateTime<Utc>>,
    /// Digest of the layer that introduced the component, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer_digest: Option<String>,
}

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::advisory_db::{AdvisoryDb, AdvisoryDbError, Candidate};
use crate::ecosystem::{Ecosystem, normalise_name};
use crate::matcher::range::evaluate;
use crate::sbom::{Component, Sbom};
use crate::version;

/// Where the matcher finds advisories for a package (the advisory DB, or a test table).
pub trait CandidateSource {
    /// Affected entries for an ecosystem key and normalised name.
    fn candidates(&self, ecosystem: &str, name: &str) -> Result<Vec<Candidate>, AdvisoryDbError>;
}

impl CandidateSource for AdvisoryDb {
    fn candidates(&self, ecosystem: &str, name: &str) -> Result<Vec<Candidate>, AdvisoryDbError> {
        AdvisoryDb::candidates(self, ecosystem, name)
    }
}

/// Why components were not matched, and how many were.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchStats {
    /// Components in the SBOM.
    pub components: usize,
    /// Components looked up in the advisory DB.
    pub matched_against: usize,
    /// Components with at least one finding.
    pub vulnerable: usize,
    /// Skipped: no purl.
    pub without_purl: usize,
    /// Skipped: no version.
    pub without_version: usize,
    /// Skipped: a purl type StellaOps has no advisories for.
    pub unsupported_ecosystem: usize,
    /// Skipped: an OS package whose purl names no distro release
    /// (distro packages only match advisories of their own release).
    pub distro_without_release: usize,
}

/// Findings and statistics of one match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchOutcome {
    /// One finding per (component, vulnerability), in component order then id.
    pub findings: Vec<Finding>,
    /// Counts.
    pub stats: MatchStats,
}

/// Match every component of an SBOM.
pub fn match_sbom(
    sbom: &Sbom,
    source: &impl CandidateSource,
) -> Result<MatchOutcome, AdvisoryDbError> {
    let mut out = MatchOutcome::default();
    out.stats.components = sbom.components.len();
    // Images repeat packages (several layers, several components of one name):
    // look each key up once per scan.
    let mut cache: HashMap<(String, String), Vec<Candidate>> = HashMap::new();
    for component in &sbom.components {
        let Some(purl) = &component.purl else {
            out.stats.without_purl += 1;
            continue;
        };
        let Some(eco) = Ecosystem::from_purl(purl) else {
            out.stats.unsupported_ecosystem += 1;
            continue;
        };
        if eco.kind.is_distro() && eco.release.is_none() {
            out.stats.distro_without_release += 1;
            continue;
        }
        let Some(version) = purl.version.as_deref().or(component.version.as_deref()) else {
            out.stats.without_version += 1;
            continue;
        };
        // rpm purls carry the epoch as a qualifier; advisories compare full EVRs.
        let version = match purl.qualifiers.get("epoch") {
            Some(epoch) if purl.ty == "rpm" && !version.contains(':') => {
                format!("{epoch}:{version}")
            }
            _ => version.to_string(),
        };
        let version = version.as_str();
        out.stats.matched_against += 1;
        let key = eco.key();
        let mut lookups = vec![(
            normalise_name(eco.kind, purl.namespace.as_deref(), &purl.name),
            version.to_string(),
        )];
        // Distro advisories name source packages: a binary package is also looked
        // up by its `upstream` qualifier (`openssl` or `openssl@3.0.11-1`).
        if eco.kind.is_distro()
            && let Some(up) = purl.qualifiers.get("upstream")
        {
            let (name, ver) = up.split_once('@').unwrap_or((up.as_str(), version));
            let name = normalise_name(eco.kind, None, name.trim());
            if !lookups.iter().any(|(n, _)| *n == name) {
                lookups.push((name, ver.trim().to_string()));
            }
        }
        for (name, _) in &lookups {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                cache.entry((key.clone(), name.clone()))
            {
                slot.insert(source.candidates(&key, name)?);
            }
        }
        let mut hits = Vec::new();
        for (name, ver) in &lookups {
            let Some(cands) = cache.get(&(key.clone(), name.clone())) else {
                continue;
            };
            for cand in cands.iter().filter(|c| !c.withdrawn) {
                let ev = evaluate(&cand.affected, eco.kind, ver);
                if ev.affected {
                    hits.push((cand, ev.fixed));
                }
            }
        }
        let findings = group(component, purl.to_string(), version, eco, hits);
        if !findings.is_empty() {
            out.stats.vulnerable += 1;
        }
        out.findings.extend(findings);
    }
    Ok(out)
}

fn is_cve(id: &str) -> bool {
    id.starts_with("CVE-")
}

/// Turn the matching advisories of one component into one finding per
/// vulnerability. Advisories meet through shared ids (GHSA ↔ PYSEC ↔ CVE); an
/// advisory naming several CVEs (a DSA, an Alpine secfix) contributes to each
/// of them instead of gluing them together.
fn group(
    component: &Component,
    purl: String,
    version: &str,
    eco: Ecosystem,
    hits: Vec<(&Candidate, Vec<String>)>,
) -> Vec<Finding> {
    let mut uf = UnionFind::default();
    for (cand, _) in &hits {
        let ids = ids_of(cand);
        let cves = ids.iter().filter(|i| is_cve(i)).count();
        let first = uf.node(&cand.advisory_id);
        if cves <= 1 {
            for id in &ids {
                let n = uf.node(id);
                uf.union(first, n);
            }
        }
    }
    // Vulnerability groups: root -> (ids, contributing hits).
    let mut groups: BTreeMap<usize, (BTreeSet<String>, Vec<usize>)> = BTreeMap::new();
    for (h, (cand, _)) in hits.iter().enumerate() {
        let ids = ids_of(cand);
        let cves: Vec<&String> = ids.iter().filter(|i| is_cve(i)).collect();
        if cves.len() <= 1 {
            let root = uf.find_id(&cand.advisory_id);
            let g = groups.entry(root).or_default();
            g.0.extend(ids.iter().cloned());
            g.1.push(h);
        } else {
            for cve in cves {
                let n = uf.node(cve);
                let root = uf.find(n);
                let g = groups.entry(root).or_default();
                g.0.insert(cve.clone());
                // The record's own id names this finding too, unless it is one of
                // its other CVEs (then it is that CVE's finding, not this one's).
                if !is_cve(&cand.advisory_id) {
                    g.0.insert(cand.advisory_id.clone());
                }
                g.1.push(h);
            }
        }
    }
    let scheme = eco.kind.scheme();
    let mut findings: Vec<Finding> = groups
        .into_values()
        .map(|(ids, members)| {
            let id = ids
                .iter()
                .find(|i| is_cve(i))
                .or_else(|| ids.iter().next())
                .cloned()
                .unwrap_or_default();
            let aliases: Vec<String> = ids.iter().filter(|i| **i != id).cloned().collect();
            let mut advisories = BTreeSet::new();
            let mut fixed = BTreeSet::new();
            let mut severity = crate::advisory::Severity::Unknown;
            let mut cvss: Option<CvssScore> = None;
            let mut summary = None;
            let mut published: Option<DateTime<Utc>> = None;
            for &m in &members {
                let (cand, fx) = &hits[m];
                advisories.insert(cand.advisory_id.clone());
                fixed.extend(fx.iter().cloned());
                severity = severity.max(cand.severity);
                if let Some(p) = cand.published {
                    published = Some(published.map_or(p, |q| q.min(p)));
                }
                if let Some(c) = &cand.cvss
                    && cvss.as_ref().is_none_or(|best| c.score > best.score)
                {
                    cvss = Some(c.clone());
                }
            }
            // Summary from the first advisory (by id) that has one: stable output.
            for adv in &advisories {
                if let Some(s) = members
                    .iter()
                    .map(|&m| hits[m].0)
                    .find(|c| &c.advisory_id == adv)
                    .and_then(|c| c.summary.clone())
                {
                    summary = Some(s);
                    break;
                }
            }
            let mut fixed_versions: Vec<String> = fixed.into_iter().collect();
            if let Some(scheme) = scheme {
                fixed_versions
                    .sort_by(|a, b| version::compare(scheme, a, b).unwrap_or_else(|_| a.cmp(b)));
            }
            Finding {
                id,
                aliases,
                advisories: advisories.into_iter().collect(),
                component_ref: component.bom_ref.clone(),
                package_name: component.name.clone(),
                purl: purl.clone(),
                installed_version: version.to_string(),
                fixed_versions,
                severity,
                cvss,
                summary,
                published,
                layer_digest: component.layer_digest.clone(),
            }
        })
        .collect();
    findings.sort_by(|a, b| a.id.cmp(&b.id));
    findings
}

fn ids_of(c: &Candidate) -> Vec<String> {
    let mut ids = vec![c.advisory_id.clone()];
    ids.extend(c.aliases.iter().cloned());
    ids
}

/// Union-find over advisory ids, for grouping.
#[derive(Debug, Default)]
struct UnionFind {
    index: HashMap<String, usize>,
    parent: Vec<usize>,
}

impl UnionFind {
    fn node(&mut self, id: &str) -> usize {
        if let Some(&n) = self.index.get(id) {
            return n;
        }
        let n = self.parent.len();
        self.parent.push(n);
        self.index.insert(id.to_string(), n);
        n
    }

    fn find(&mut self, mut n: usize) -> usize {
        while self.parent[n] != n {
            self.parent[n] = self.parent[self.parent[n]];
            n = self.parent[n];
        }
        n
    }

    fn find_id(&mut self, id: &str) -> usize {
        let n = self.node(id);
        self.find(n)
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // Smaller index wins: roots (and so output order) do not depend on hash order.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::osv::{Event, Package, Range, RangeType};
    use crate::advisory::{Affected, Severity};

    /// An in-memory candidate table keyed like the DB.
    #[derive(Default)]
    struct Table(Vec<(String, String, Candidate)>);

    impl CandidateSource for Table {
        fn candidates(&self, eco: &str, name: &str) -> Result<Vec<Candidate>, AdvisoryDbError> {
            Ok(self
                .0
                .iter()
                .filter(|(e, n, _)| e == eco && n == name)
                .map(|(_, _, c)| c.clone())
                .collect())
        }
    }

    fn cand(
        id: &str,
        aliases: &[&str],
        eco: &str,
        name: &str,
        fixed: &str,
        sev: Severity,
    ) -> Candidate {
        Candidate {
            advisory_id: id.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            summary: Some(format!("summary of {id}")),
            withdrawn: false,
            affected: Affected {
                package: Some(Package {
                    ecosystem: eco.into(),
                    name: name.into(),
                    purl: None,
                }),
                ranges: vec![Range {
                    kind: RangeType::Ecosystem,
                    repo: None,
                    events: vec![Event::Introduced("0".into()), Event::Fixed(fixed.into())],
                }],
                ..Affected::default()
            },
            severity: sev,
            cvss: None,
            published: None,
        }
    }

    fn sbom(purls: &[&str]) -> Sbom {
        Sbom {
            components: purls
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let purl = crate::sbom::Purl::parse(p).expect("test purl");
                    Component {
                        bom_ref: format!("c{i}"),
                        name: purl.name.clone(),
                        version: purl.version.clone(),
                        purl: Some(purl),
                        ..Component::default()
                    }
                })
                .collect(),
            ..Sbom::default()
        }
    }

    #[test]
    fn ghsa_and_pysec_for_one_cve_are_one_finding() {
        let mut t = Table::default();
        let ghsa = cand(
            "GHSA-px8h-6qxv-m22q",
            &["CVE-2023-23934"],
            "PyPI",
            "Werkzeug",
            "2.2.3",
            Severity::Low,
        );
        let pysec = cand(
            "PYSEC-2023-57",
            &["CVE-2023-23934", "GHSA-px8h-6qxv-m22q"],
            "PyPI",
            "werkzeug",
            "2.2.3",
            Severity::Unknown,
        );
        t.0.push(("pypi".into(), "werkzeug".into(), ghsa));
        t.0.push(("pypi".into(), "werkzeug".into(), pysec));
        let out = match_sbom(&sbom(&["pkg:pypi/Werkzeug@2.2.2"]), &t).expect("match");
        assert_eq!(out.findings.len(), 1, "{:#?}", out.findings);
        let f = &out.findings[0];
        assert_eq!(f.id, "CVE-2023-23934");
        assert_eq!(f.aliases, ["GHSA-px8h-6qxv-m22q", "PYSEC-2023-57"]);
        assert_eq!(f.advisories, ["GHSA-px8h-6qxv-m22q", "PYSEC-2023-57"]);
        assert_eq!(f.fixed_versions, ["2.2.3"]);
        assert_eq!(f.severity, Severity::Low, "highest severity of the group");
        assert_eq!(f.summary.as_deref(), Some("summary of GHSA-px8h-6qxv-m22q"));
        // The fixed version itself is not affected.
        let out = match_sbom(&sbom(&["pkg:pypi/werkzeug@2.2.3"]), &t).expect("match");
        assert!(out.findings.is_empty());
    }

    #[test]
    fn an_advisory_naming_several_cves_contributes_to_each() {
        let mut t = Table::default();
        let dsa = cand(
            "DSA-5283-1",
            &["CVE-2020-36518", "CVE-2022-42003", "CVE-2022-42004"],
            "Debian:11",
            "jackson-databind",
            "2.12.1-1+deb11u1",
            Severity::High,
        );
        let other = cand(
            "DLA-2990-1",
            &["CVE-2020-36518"],
            "Debian:11",
            "jackson-databind",
            "2.12.1-1+deb11u1",
            Severity::Medium,
        );
        t.0.push(("deb/debian/11".into(), "jackson-databind".into(), dsa));
        t.0.push(("deb/debian/11".into(), "jackson-databind".into(), other));
        let out = match_sbom(
            &sbom(&["pkg:deb/debian/libjackson2-databind-java@2.12.1-1?distro=debian-11&upstream=jackson-databind"]),
            &t,
        )
        .expect("match");
        let ids: Vec<&str> = out.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["CVE-2020-36518", "CVE-2022-42003", "CVE-2022-42004"]);
        assert_eq!(out.findings[0].advisories, ["DLA-2990-1", "DSA-5283-1"]);
        assert_eq!(out.findings[1].advisories, ["DSA-5283-1"]);
        assert!(
            !out.findings[1]
                .aliases
                .contains(&"CVE-2022-42004".to_string())
        );
    }

    #[test]
    fn a_cve_record_aliasing_another_cve_gives_two_distinct_findings() {
        // Found by the grouping property test: the record's own id once leaked
        // into the other CVE's finding and both findings were named CVE-2024-0.
        let mut t = Table::default();
        for (id, aliases) in [("CVE-2024-0", vec!["CVE-2024-2"]), ("CVE-2024-2", vec![])] {
            t.0.push((
                "pypi".into(),
                "pkg".into(),
                cand(id, &aliases, "PyPI", "pkg", "2.0", Severity::Low),
            ));
        }
        let out = match_sbom(&sbom(&["pkg:pypi/pkg@1.0"]), &t).expect("match");
        let ids: Vec<&str> = out.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["CVE-2024-0", "CVE-2024-2"]);
        assert_eq!(out.findings[1].advisories, ["CVE-2024-0", "CVE-2024-2"]);
    }

    #[test]
    fn rpm_epoch_qualifier_is_part_of_the_compared_version() {
        let mut t = Table::default();
        t.0.push((
            "rpm/redhat/9".into(),
            "openssl".into(),
            cand(
                "RHSA-1",
                &["CVE-9"],
                "Red Hat:enterprise_linux:9",
                "openssl",
                "1:3.0.7-27.el9",
                Severity::High,
            ),
        ));
        let s = sbom(&[
            "pkg:rpm/redhat/openssl@3.0.7-20.el9?epoch=1&distro=rhel-9.3",
            "pkg:rpm/redhat/openssl@3.0.7-20.el9?epoch=2&distro=rhel-9.3",
        ]);
        let out = match_sbom(&s, &t).expect("match");
        assert_eq!(out.findings.len(), 1, "{:#?}", out.findings);
        assert_eq!(out.findings[0].installed_version, "1:3.0.7-20.el9");
    }

    #[test]
    fn distro_packages_match_only_their_release() {
        let mut t = Table::default();
        t.0.push((
            "deb/debian/12".into(),
            "openssl".into(),
            cand(
                "DSA-1",
                &["CVE-1"],
                "Debian:12",
                "openssl",
                "3.0.11-1",
                Severity::High,
            ),
        ));
        let s = sbom(&[
            "pkg:deb/debian/openssl@3.0.9-1?distro=debian-11",
            "pkg:deb/debian/openssl@3.0.9-1?distro=debian-12",
            "pkg:deb/debian/openssl@3.0.9-1",
        ]);
        let out = match_sbom(&s, &t).expect("match");
        assert_eq!(out.findings.len(), 1);
        assert_eq!(out.findings[0].component_ref, "c1");
        assert_eq!(out.stats.distro_without_release, 1);
        assert_eq!(out.stats.matched_against, 2);
    }

    #[test]
    fn withdrawn_advisories_never_match_and_skips_are_counted() {
        let mut t = Table::default();
        let mut w = cand("GHSA-w", &[], "npm", "qs", "6.5.3", Severity::High);
        w.withdrawn = true;
        t.0.push(("npm".into(), "qs".into(), w));
        let mut s = sbom(&["pkg:npm/qs@6.5.2", "pkg:hackage/foo@1"]);
        s.components.push(Component {
            bom_ref: "nopurl".into(),
            name: "mystery".into(),
            ..Component::default()
        });
        let out = match_sbom(&s, &t).expect("match");
        assert!(out.findings.is_empty());
        assert_eq!(out.stats.components, 3);
        assert_eq!(out.stats.without_purl, 1);
        assert_eq!(out.stats.unsupported_ecosystem, 1);
    }

    mod grouping_properties {
        use super::*;
        use proptest::prelude::*;

        /// Advisories with ids drawn from a small pool, so aliases collide often.
        fn advisories() -> impl Strategy<Value = Vec<(String, Vec<String>)>> {
            let id = prop_oneof![
                (0..4u8).prop_map(|n| format!("CVE-2024-000{n}")),
                (0..4u8).prop_map(|n| format!("GHSA-{n}")),
                (0..4u8).prop_map(|n| format!("PYSEC-{n}")),
            ];
            // One record per id, as in the DB (the id is its primary key).
            proptest::collection::btree_map(id.clone(), proptest::collection::vec(id, 0..4), 1..8)
                .prop_map(|m| m.into_iter().collect())
        }

        fn findings_for(advs: &[(String, Vec<String>)]) -> Vec<Finding> {
            let mut t = Table::default();
            for (id, aliases) in advs {
                let aliases: Vec<&str> = aliases.iter().map(String::as_str).collect();
                t.0.push((
                    "pypi".into(),
                    "pkg".into(),
                    cand(id, &aliases, "PyPI", "pkg", "2.0", Severity::Medium),
                ));
            }
            match_sbom(&sbom(&["pkg:pypi/pkg@1.0"]), &t)
                .expect("match")
                .findings
        }

        proptest! {
            #[test]
            fn one_finding_per_vulnerability_and_no_advisory_lost(advs in advisories()) {
                let findings = findings_for(&advs);
                let mut ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
                let n = ids.len();
                ids.dedup();
                prop_assert_eq!(ids.len(), n, "ids unique and sorted");
                for (id, aliases) in &advs {
                    prop_assert!(findings.iter().any(|f| f.advisories.contains(id)));
                    // An advisory with at most one CVE sits in exactly one finding.
                    let cves = std::iter::once(id).chain(aliases).filter(|i| is_cve(i)).collect::<BTreeSet<_>>();
                    let holding = findings.iter().filter(|f| f.advisories.contains(id)).count();
                    if cves.len() <= 1 {
                        prop_assert_eq!(holding, 1);
                    } else {
                        // Two of its CVEs may meet in one finding through other records.
                        prop_assert!(holding >= 1 && holding <= cves.len());
                    }
                }
                for f in &findings {
                    prop_assert!(!f.aliases.contains(&f.id));
                    if f.aliases.iter().any(|a| is_cve(a)) {
                        prop_assert!(is_cve(&f.id), "a CVE is preferred as the id: {:?}", f);
                    }
                }
            }

            #[test]
            fn grouping_does_not_depend_on_advisory_order(advs in advisories()) {
                let mut reversed = advs.clone();
                reversed.reverse();
                prop_assert_eq!(findings_for(&advs), findings_for(&reversed));
            }
        }
    }
}
