//! Scan reports: one [`ScanReport`] value rendered as JSON ([`to_json`]), a
//! human table ([`table`]) or SARIF 2.1.0 ([`sarif`]).
//!
//! Every renderer is deterministic: findings are ordered by [`finding_order`]
//! (severity, most severe first, then package, id and purl), and nothing depends
//! on the clock or hash-map order.

pub mod sarif;
pub mod table;

use crate::advisory_db::sqlite::DbStats;
use crate::matcher::{Finding, MatchStats};
use crate::pipeline::ScanOutcome;
use crate::sbom::SbomFormat;
use crate::verdict::Action;
use crate::verdict::{DecidedFinding, Status, Verdict};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Version of the JSON report layout; bumped on incompatible changes.
pub const SCHEMA_VERSION: &str = "2";

/// Everything a scan produced, ready to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: String,
    /// The scanner.
    pub tool: ToolInfo,
    /// What was scanned (image reference, project name), when known.
    pub subject: Option<String>,
    /// The SBOM the findings came from.
    pub sbom: SbomInfo,
    /// The advisory database used.
    pub database: DatabaseInfo,
    /// Findings the policy fails or warns on, each with its action and rule, in
    /// [`finding_order`].
    pub findings: Vec<DecidedFinding>,
    /// The policy verdict.
    pub verdict: Verdict,
    /// Headline numbers.
    pub summary: Summary,
    /// Which components were matched, and which were skipped and why.
    pub coverage: MatchStats,
}

/// Name and version of the scanner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolInfo {
    /// Tool name, e.g. `stella`.
    pub name: String,
    /// Tool version.
    pub version: String,
}

/// The scanned SBOM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SbomInfo {
    /// `cyclonedx` or `spdx`.
    pub format: String,
    /// Path of the SBOM file as given by the user, when read from a file.
    pub path: Option<String>,
    /// Number of components in it.
    pub components: usize,
}

impl SbomInfo {
    /// Describes an SBOM of `format` with `components` components.
    pub fn new(format: SbomFormat, path: Option<String>, components: usize) -> Self {
        Self {
            format: format.name().to_owned(),
            path,
            components,
        }
    }
}

/// The advisory database a scan used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseInfo {
    /// Where it is, when local.
    pub path: Option<String>,
    /// Number of advisories in it.
    pub advisories: usize,
    /// When the snapshot was built.
    pub built_at: Option<DateTime<Utc>>,
    /// When the newest advisory in it was modified.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Headline numbers of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Components in the SBOM.
    pub components: usize,
    /// Distinct purls with at least one `fail` or `warn` finding.
    pub vulnerable_components: usize,
    /// Findings with action `fail` or `warn`.
    pub findings: usize,
    /// Findings with action `fail`.
    pub failing: usize,
    /// Findings with action `warn`.
    pub warning: usize,
    /// Findings with action `ignore`.
    pub ignored: usize,
    /// Muted findings.
    pub muted: usize,
    /// Mute rules that have expired.
    pub expired_mutes: usize,
    /// The verdict's status.
    pub status: Status,
}

impl ScanReport {
    /// Assembles a report; findings are taken from the verdict and sorted.
    pub fn new(
        tool: ToolInfo,
        subject: Option<String>,
        sbom: SbomInfo,
        database: DatabaseInfo,
        verdict: Verdict,
    ) -> Self {
        let mut findings = verdict.findings.clone();
        findings.sort_by(|a, b| finding_order(&a.finding, &b.finding));
        let count = |action| findings.iter().filter(|f| f.action == action).count();
        let summary = Summary {
            components: sbom.components,
            vulnerable_components: findings
                .iter()
                .map(|f| f.finding.purl.as_str())
                .collect::<BTreeSet<_>>()
                .len(),
            findings: findings.len(),
            failing: count(Action::Fail),
            warning: count(Action::Warn),
            ignored: verdict.ignored.len(),
            muted: verdict.muted.len(),
            expired_mutes: verdict.expired_mutes.len(),
            status: verdict.status,
        };
        Self {
            schema_version: SCHEMA_VERSION.to_owned(),
            tool,
            subject,
            sbom,
            database,
            findings,
            verdict,
            summary,
            coverage: MatchStats::default(),
        }
    }

    /// The report of a finished scan by `tool`, against the DB `database`.
    pub fn of_outcome(
        tool: ToolInfo,
        outcome: ScanOutcome,
        sbom_path: Option<String>,
        database: DatabaseInfo,
    ) -> Self {
        let mut report = Self::new(
            tool,
            outcome.sbom.subject.clone(),
            SbomInfo::new(outcome.format, sbom_path, outcome.sbom.components.len()),
            database,
            outcome.verdict,
        );
        report.coverage = outcome.stats;
        report
    }
}

impl DatabaseInfo {
    /// Describes the DB at `path` from its statistics.
    pub fn of(path: Option<String>, stats: &DbStats) -> Self {
        Self {
            path,
            advisories: stats.advisories as usize,
            built_at: stats
                .last_import
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            ..Self::default()
        }
    }
}

/// Report order: most severe first, then package name, id, purl and installed version.
pub fn finding_order(a: &Finding, b: &Finding) -> Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| a.package_name.cmp(&b.package_name))
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.purl.cmp(&b.purl))
        .then_with(|| a.installed_version.cmp(&b.installed_version))
}

/// The report as pretty-printed JSON (see `docs/json-output.md`).
pub fn to_json(report: &ScanReport) -> String {
    // Serialisation cannot fail: every map key is a string and there is no custom
    // Serialize impl that errors. The fallback keeps the output JSON regardless.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot serialise report: {e}") }).to_string()
    })
}

/// Reads a JSON report (as [`to_json`] writes it, e.g. a stella-server's answer).
/// The verdict's `fail`/`warn` findings, which the JSON carries only once (at the top
/// level, sorted), are restored into [`Verdict::findings`] in that order.
pub fn from_json(value: serde_json::Value) -> Result<ScanReport, serde_json::Error> {
    let mut report: ScanReport = serde_json::from_value(value)?;
    report.verdict.findings = report.findings.clone();
    Ok(report)
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Findings and reports shared by the renderer tests.

    use super::*;
    use crate::advisory::Severity;
    use crate::advisory::cvss::CvssScore;
    use crate::policy::generated::{VerdictConfig, evaluate};
    use chrono::TimeZone;

    /// A finding with the fields renderers show.
    pub fn finding(
        id: &str,
        package: &str,
        version: &str,
        severity: Severity,
        fixed: &[&str],
    ) -> Finding {
        Finding {
            id: id.to_owned(),
            aliases: vec![],
            advisories: vec![id.to_owned()],
            component_ref: format!("{package}@{version}"),
            package_name: package.to_owned(),
            purl: format!("pkg:pypi/{package}@{version}"),
            installed_version: version.to_owned(),
            fixed_versions: fixed.iter().map(|v| (*v).to_owned()).collect(),
            severity,
            cvss: None,
            summary: Some(format!("{package} is vulnerable to {id}")),
            published: None,
            layer_digest: None,
        }
    }

    /// A CVSS score.
    pub fn cvss(score: f64) -> Option<CvssScore> {
        Some(CvssScore {
            version: "3.1".to_owned(),
            vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".to_owned(),
            score,
        })
    }

    /// The clock the tests evaluate at.
    pub fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).unwrap()
    }

    /// A report over `findings` with `cfg`.
    pub fn report(findings: Vec<Finding>, cfg: &VerdictConfig) -> ScanReport {
        let verdict = evaluate(findings, cfg, now());
        ScanReport::new(
            ToolInfo {
                name: "stella".into(),
                version: "0.1.0".into(),
            },
            Some("registry.example/app:1.0".into()),
            SbomInfo::new(SbomFormat::CycloneDx, Some("sboms/app bom.json".into()), 42),
            DatabaseInfo {
                path: Some("/var/lib/stella/db.sqlite".into()),
                advisories: 1234,
                built_at: Some(Utc.with_ymd_and_hms(2026, 6, 14, 0, 0, 0).unwrap()),
                updated_at: None,
            },
            verdict,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::advisory::Severity;
    use crate::policy::generated::VerdictConfig;
    use crate::policy::ignore::IgnoreFile;

    fn sample() -> ScanReport {
        let mut a = finding("CVE-2024-1", "zlib", "1.0", Severity::Low, &[]);
        a.aliases = vec!["GHSA-aaaa-bbbb-cccc".into()];
        a.cvss = cvss(3.1);
        let b = finding(
            "CVE-2024-2",
            "attrs",
            "2.0",
            Severity::Critical,
            &["2.1", "3.0"],
        );
        let c = finding(
            "GHSA-zzzz-yyyy-xxxx",
            "attrs",
            "2.0",
            Severity::Critical,
            &[],
        );
        let d = finding("CVE-2024-3", "idna", "3.0", Severity::Medium, &["3.7"]);
        report(
            vec![a, b, c, d],
            &VerdictConfig {
                fail_on: Some(Severity::High),
                ignore_unfixed: false,
                ignores: IgnoreFile::parse(
                    "ignores:\n  - id: CVE-2024-3\n    reason: test\n  - id: OLD\n    expires: 2020-01-01\n",
                )
                .unwrap(),
            },
        )
    }

    #[test]
    fn json_has_required_fields() {
        let json: serde_json::Value = serde_json::from_str(&to_json(&sample())).unwrap();
        assert_eq!(json["schemaVersion"], "2");
        assert_eq!(json["tool"]["name"], "stella");
        assert_eq!(json["tool"]["version"], "0.1.0");
        assert_eq!(json["subject"], "registry.example/app:1.0");
        assert_eq!(json["sbom"]["format"], "cyclonedx");
        assert_eq!(json["sbom"]["components"], 42);
        assert_eq!(json["database"]["advisories"], 1234);
        assert_eq!(json["database"]["builtAt"], "2026-06-14T00:00:00Z");
        assert!(json["database"]["updatedAt"].is_null());

        let findings = json["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 3);
        let ids: Vec<&str> = findings.iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["CVE-2024-2", "GHSA-zzzz-yyyy-xxxx", "CVE-2024-1"]);
        let low = &findings[2];
        assert_eq!(low["aliases"], serde_json::json!(["GHSA-aaaa-bbbb-cccc"]));
        assert_eq!(low["purl"], "pkg:pypi/zlib@1.0");
        assert_eq!(low["installedVersion"], "1.0");
        assert_eq!(low["fixedVersions"], serde_json::json!([]));
        assert_eq!(low["severity"], "low");
        assert_eq!(low["cvss"]["score"], 3.1);
        assert_eq!(
            findings[0]["fixedVersions"],
            serde_json::json!(["2.1", "3.0"])
        );
        assert_eq!(findings[0]["severity"], "critical");
        assert_eq!(findings[0]["action"], "fail");
        assert_eq!(findings[0]["rule"], "fail-on-high");
        assert_eq!(low["action"], "warn");
        assert_eq!(low["rule"], "(default)");

        let verdict = &json["verdict"];
        assert_eq!(verdict["status"], "fail");
        assert_eq!(verdict["policy"]["name"], "stella-cli-flags");
        assert_eq!(verdict["policy"]["generated"], true);
        assert!(
            verdict["policy"]["digest"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        let rules = verdict["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["name"], "fail-on-high");
        assert_eq!(rules[0]["findings"], 2);
        assert_eq!(rules[1]["name"], "(default)");
        assert!(rules[1]["index"].is_null());
        assert_eq!(verdict["muted"][0]["finding"]["id"], "CVE-2024-3");
        assert_eq!(verdict["muted"][0]["mute"]["reason"], "test");
        assert_eq!(verdict["muted"][0]["mute"]["provenance"]["kind"], "file");
        assert_eq!(verdict["expiredMutes"][0]["mute"]["id"], "OLD");
        assert_eq!(verdict["counts"]["critical"], 2);
        assert_eq!(verdict["counts"]["low"], 1);
        assert_eq!(verdict["counts"]["medium"], 0);
        assert_eq!(verdict["counts"]["total"], 3);
        assert!(verdict.get("findings").is_none());

        let summary = &json["summary"];
        assert_eq!(summary["components"], 42);
        assert_eq!(summary["vulnerableComponents"], 2);
        assert_eq!(summary["findings"], 3);
        assert_eq!(summary["failing"], 2);
        assert_eq!(summary["warning"], 1);
        assert_eq!(summary["ignored"], 0);
        assert_eq!(summary["muted"], 1);
        assert_eq!(summary["expiredMutes"], 1);
        assert_eq!(summary["status"], "fail");
    }

    #[test]
    fn json_reads_back_into_the_same_report() {
        let report = sample();
        assert!(!report.verdict.findings.is_empty());
        let value: serde_json::Value = serde_json::from_str(&to_json(&report)).unwrap();
        let back = from_json(value).unwrap();
        // The verdict keeps findings in input order; the JSON has them once, sorted.
        let mut expected = report.clone();
        expected.verdict.findings = report.findings.clone();
        assert_eq!(back, expected);
        assert_eq!(back.verdict.exit_code(), report.verdict.exit_code());
        assert_eq!(to_json(&back), to_json(&report));
        assert_eq!(
            table::render(&back, 120, false),
            table::render(&report, 120, false)
        );
    }

    #[test]
    fn json_is_deterministic_regardless_of_input_order() {
        let one = to_json(&sample());
        assert_eq!(one, to_json(&sample()));
        let mut findings: Vec<Finding> = sample()
            .verdict
            .findings
            .into_iter()
            .map(|d| d.finding)
            .collect();
        findings.reverse();
        let reversed = report(
            findings,
            &VerdictConfig {
                fail_on: Some(Severity::High),
                ..VerdictConfig::default()
            },
        );
        let ids = |r: &ScanReport| {
            r.findings
                .iter()
                .map(|f| f.finding.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&reversed), ids(&sample()));
    }

    #[test]
    fn warning_report_without_fail_on() {
        let r = report(
            vec![finding("CVE-1", "a", "1", Severity::Critical, &[])],
            &VerdictConfig::default(),
        );
        let json: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
        assert_eq!(json["verdict"]["status"], "warn");
        assert_eq!(r.verdict.exit_code(), 0);
        assert_eq!(json["verdict"]["rules"][0]["name"], "(default)");
        let empty = report(vec![], &VerdictConfig::default());
        assert_eq!(empty.verdict.status, crate::verdict::Status::Pass);
    }
}
