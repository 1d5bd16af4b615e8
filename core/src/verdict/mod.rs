//! Policy verdict v0: drop accepted findings, then pass or fail on a severity threshold.
//!
//! Rules, in order, for each finding:
//! 1. a live (unexpired) ignore-file entry that matches it removes it (reason
//!    `ignoreRule`, the lowest-index matching entry wins);
//! 2. otherwise, with `ignore_unfixed`, a finding without any fixed version is
//!    removed (reason `unfixed`);
//! 3. otherwise it is kept.
//!
//! The verdict fails iff some kept finding has `severity >= fail_on`. Severities are
//! ordered `unknown < low < medium < high < critical`, so an `unknown` finding fails
//! only with `fail_on = unknown`, which therefore means "fail on any finding".
//! Without `fail_on` the verdict always passes (like Trivy's default exit code 0):
//! findings are reported, never enforced.

pub mod ignore;

pub use ignore::{IgnoreEntry, IgnoreError, IgnoreFile, PurlGlob};

use crate::advisory::Severity;
use crate::matcher::Finding;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Exit code of a passing verdict.
pub const EXIT_PASS: i32 = 0;
/// Exit code of a failing verdict.
pub const EXIT_FAIL: i32 = 1;
/// Exit code for usage or input errors (set by the CLI, never by a verdict).
pub const EXIT_USAGE_OR_INPUT: i32 = 2;

/// What the verdict is computed from.
#[derive(Debug, Clone, Default)]
pub struct VerdictConfig {
    /// Fail when a kept finding is at least this severe; `None` never fails.
    pub fail_on: Option<Severity>,
    /// Drop findings that have no fixed version.
    pub ignore_unfixed: bool,
    /// Accepted vulnerabilities.
    pub ignores: IgnoreFile,
}

/// Pass or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No kept finding reaches the threshold.
    Pass,
    /// Some kept finding reaches the threshold.
    Fail,
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Pass or fail.
    pub status: Status,
    /// The threshold applied, if any.
    pub fail_on: Option<Severity>,
    /// The kept findings that made it fail, in input order (empty when passing).
    pub reasons: Vec<FailReason>,
    /// Findings left after ignoring, in input order (serialised by the report, not here).
    #[serde(skip)]
    pub findings: Vec<Finding>,
    /// Findings removed, with why, in input order.
    pub ignored: Vec<IgnoredFinding>,
    /// Ignore entries whose expiry has passed, in file order.
    pub expired_ignores: Vec<ExpiredIgnore>,
    /// Kept findings per severity.
    pub counts: SeverityCounts,
}

/// A kept finding at or above the threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailReason {
    /// Vulnerability id.
    pub id: String,
    /// Component purl.
    pub purl: String,
    /// Its severity.
    pub severity: Severity,
}

/// A finding the verdict did not count.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoredFinding {
    /// The finding.
    pub finding: Finding,
    /// Why it was dropped.
    pub reason: IgnoreReason,
}

/// Why a finding was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum IgnoreReason {
    /// `ignore_unfixed` was set and no fixed version is known.
    Unfixed,
    /// An ignore-file entry matched.
    IgnoreRule {
        /// The entry's position in the file.
        index: usize,
        /// The entry's id.
        id: String,
        /// The entry's reason, if given.
        reason: Option<String>,
    },
}

/// An ignore entry that no longer applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpiredIgnore {
    /// The entry's position in the file.
    pub index: usize,
    /// The entry's id.
    pub id: String,
    /// When it expired.
    pub expires: DateTime<Utc>,
    /// How many findings it would still match (now kept because it expired).
    pub matching_findings: usize,
}

/// Number of findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeverityCounts {
    /// Critical.
    pub critical: usize,
    /// High.
    pub high: usize,
    /// Medium.
    pub medium: usize,
    /// Low.
    pub low: usize,
    /// Unknown.
    pub unknown: usize,
    /// All of them.
    pub total: usize,
}

impl SeverityCounts {
    /// Counts `findings` by severity.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut counts = Self::default();
        for finding in findings {
            counts.add(finding.severity);
        }
        counts
    }

    fn add(&mut self, severity: Severity) {
        let slot = match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Unknown => &mut self.unknown,
        };
        *slot += 1;
        self.total += 1;
    }

    /// The count for one severity.
    pub fn get(&self, severity: Severity) -> usize {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Unknown => self.unknown,
        }
    }
}

impl Verdict {
    /// Process exit code: 0 pass, 1 fail (2 is reserved for usage/input errors).
    pub fn exit_code(&self) -> i32 {
        match self.status {
            Status::Pass => EXIT_PASS,
            Status::Fail => EXIT_FAIL,
        }
    }
}

/// Applies `cfg` to `findings` at time `now`.
pub fn evaluate(findings: Vec<Finding>, cfg: &VerdictConfig, now: DateTime<Utc>) -> Verdict {
    let mut kept = Vec::with_capacity(findings.len());
    let mut ignored = Vec::new();
    for finding in findings {
        if let Some(entry) = cfg.ignores.first_match(&finding, now) {
            let reason = IgnoreReason::IgnoreRule {
                index: entry.index,
                id: entry.id.clone(),
                reason: entry.reason.clone(),
            };
            ignored.push(IgnoredFinding { finding, reason });
        } else if cfg.ignore_unfixed && finding.fixed_versions.is_empty() {
            ignored.push(IgnoredFinding {
                finding,
                reason: IgnoreReason::Unfixed,
            });
        } else {
            kept.push(finding);
        }
    }

    let expired_ignores = cfg
        .ignores
        .entries
        .iter()
        .filter_map(|entry| {
            let expires = entry.expires.filter(|_| entry.is_expired(now))?;
            Some(ExpiredIgnore {
                index: entry.index,
                id: entry.id.clone(),
                expires,
                matching_findings: kept.iter().filter(|f| entry.matches(f)).count(),
            })
        })
        .collect();

    let reasons: Vec<FailReason> = match cfg.fail_on {
        None => Vec::new(),
        Some(threshold) => kept
            .iter()
            .filter(|f| f.severity >= threshold)
            .map(|f| FailReason {
                id: f.id.clone(),
                purl: f.purl.clone(),
                severity: f.severity,
            })
            .collect(),
    };
    let status = if reasons.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };

    Verdict {
        status,
        fail_on: cfg.fail_on,
        reasons,
        counts: SeverityCounts::of(&kept),
        findings: kept,
        ignored,
        expired_ignores,
    }
}

/// A `--fail-on` value that is not a severity name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?}: expected one of critical, high, medium, low, unknown")]
pub struct ParseSeverityError(pub String);

/// Parses a threshold name (`critical|high|medium|low|unknown`, any ASCII case).
///
/// `unknown` is the lowest threshold: it fails on any kept finding.
pub fn parse_fail_on(text: &str) -> Result<Severity, ParseSeverityError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "critical" => Ok(Severity::Critical),
        "high" => Ok(Severity::High),
        "medium" => Ok(Severity::Medium),
        "low" => Ok(Severity::Low),
        "unknown" => Ok(Severity::Unknown),
        _ => Err(ParseSeverityError(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const ALL: [Severity; 5] = [
        Severity::Unknown,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    fn finding(id: &str, purl: &str, severity: Severity, fixed: &[&str]) -> Finding {
        Finding {
            id: id.to_owned(),
            aliases: vec![format!("GHSA-{id}")],
            advisories: vec![id.to_owned()],
            component_ref: purl.to_owned(),
            package_name: purl.rsplit('/').next().unwrap_or(purl).to_owned(),
            purl: purl.to_owned(),
            installed_version: "1.0".to_owned(),
            fixed_versions: fixed.iter().map(|v| (*v).to_owned()).collect(),
            severity,
            cvss: None,
            summary: None,
            published: None,
            layer_digest: None,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).unwrap()
    }

    fn cfg(fail_on: Option<Severity>, ignore_unfixed: bool, ignores: &str) -> VerdictConfig {
        VerdictConfig {
            fail_on,
            ignore_unfixed,
            ignores: IgnoreFile::parse(ignores).unwrap(),
        }
    }

    #[test]
    fn threshold_table() {
        // (finding severity, fail_on, fails?)
        for sev in ALL {
            for threshold in ALL {
                let v = evaluate(
                    vec![finding("CVE-1", "pkg:pypi/a@1", sev, &["2"])],
                    &cfg(Some(threshold), false, ""),
                    now(),
                );
                let want = sev >= threshold;
                assert_eq!(v.status == Status::Fail, want, "{sev:?} vs {threshold:?}");
                assert_eq!(v.reasons.len(), usize::from(want));
                assert_eq!(v.exit_code(), if want { 1 } else { 0 });
                assert_eq!(v.fail_on, Some(threshold));
            }
        }
        // Spelled out: unknown only fails with fail_on = unknown.
        let unknown = || vec![finding("CVE-1", "pkg:pypi/a@1", Severity::Unknown, &[])];
        assert_eq!(
            evaluate(unknown(), &cfg(Some(Severity::Low), false, ""), now()).status,
            Status::Pass
        );
        assert_eq!(
            evaluate(unknown(), &cfg(Some(Severity::Unknown), false, ""), now()).status,
            Status::Fail
        );
    }

    #[test]
    fn without_fail_on_always_passes() {
        let findings: Vec<Finding> = ALL
            .iter()
            .enumerate()
            .map(|(i, s)| finding(&format!("CVE-{i}"), "pkg:pypi/a@1", *s, &[]))
            .collect();
        let v = evaluate(findings, &cfg(None, false, ""), now());
        assert_eq!(v.status, Status::Pass);
        assert_eq!(v.exit_code(), EXIT_PASS);
        assert!(v.reasons.is_empty());
        assert_eq!(v.findings.len(), 5);
        assert_eq!(v.counts.total, 5);
    }

    #[test]
    fn empty_input_passes_with_zero_counts() {
        let v = evaluate(vec![], &cfg(Some(Severity::Unknown), true, ""), now());
        assert_eq!(v.status, Status::Pass);
        assert_eq!(v.counts, SeverityCounts::default());
        assert!(v.findings.is_empty() && v.ignored.is_empty() && v.expired_ignores.is_empty());
    }

    #[test]
    fn reasons_list_only_findings_at_or_above_threshold() {
        let v = evaluate(
            vec![
                finding("CVE-1", "pkg:pypi/a@1", Severity::Low, &[]),
                finding("CVE-2", "pkg:pypi/b@1", Severity::Critical, &[]),
                finding("CVE-3", "pkg:pypi/c@1", Severity::Medium, &[]),
                finding("CVE-4", "pkg:pypi/d@1", Severity::High, &[]),
            ],
            &cfg(Some(Severity::High), false, ""),
            now(),
        );
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.reasons,
            vec![
                FailReason {
                    id: "CVE-2".into(),
                    purl: "pkg:pypi/b@1".into(),
                    severity: Severity::Critical
                },
                FailReason {
                    id: "CVE-4".into(),
                    purl: "pkg:pypi/d@1".into(),
                    severity: Severity::High
                },
            ]
        );
    }

    #[test]
    fn counts_per_severity() {
        let sevs = [
            Severity::Critical,
            Severity::High,
            Severity::High,
            Severity::Medium,
            Severity::Medium,
            Severity::Medium,
            Severity::Low,
            Severity::Unknown,
            Severity::Unknown,
        ];
        let findings = sevs
            .iter()
            .enumerate()
            .map(|(i, s)| finding(&format!("CVE-{i}"), "pkg:pypi/a@1", *s, &["9"]))
            .collect();
        let v = evaluate(findings, &cfg(None, false, ""), now());
        assert_eq!(
            v.counts,
            SeverityCounts {
                critical: 1,
                high: 2,
                medium: 3,
                low: 1,
                unknown: 2,
                total: 9
            }
        );
        for sev in ALL {
            assert_eq!(
                v.counts.get(sev),
                sevs.iter().filter(|s| **s == sev).count()
            );
        }
    }

    #[test]
    fn ignore_unfixed_drops_only_findings_without_fix() {
        let findings = || {
            vec![
                finding("CVE-1", "pkg:pypi/a@1", Severity::Critical, &[]),
                finding("CVE-2", "pkg:pypi/b@1", Severity::Low, &["1.1"]),
            ]
        };
        let on = evaluate(findings(), &cfg(Some(Severity::High), true, ""), now());
        assert_eq!(on.status, Status::Pass);
        assert_eq!(on.findings.len(), 1);
        assert_eq!(on.findings[0].id, "CVE-2");
        assert_eq!(on.ignored.len(), 1);
        assert_eq!(on.ignored[0].finding.id, "CVE-1");
        assert_eq!(on.ignored[0].reason, IgnoreReason::Unfixed);
        assert_eq!(on.counts.critical, 0);
        assert_eq!(on.counts.low, 1);

        let off = evaluate(findings(), &cfg(Some(Severity::High), false, ""), now());
        assert_eq!(off.status, Status::Fail);
        assert!(off.ignored.is_empty());
    }

    #[test]
    fn ignore_rule_beats_unfixed_and_records_entry() {
        let v = evaluate(
            vec![
                finding("CVE-1", "pkg:pypi/a@1", Severity::Critical, &[]),
                finding("CVE-2", "pkg:npm/b@1", Severity::Critical, &["2"]),
            ],
            &cfg(
                Some(Severity::High),
                true,
                "ignores:\n  - id: nope\n  - id: cve-1\n    reason: accepted risk\n  - id: GHSA-CVE-2\n    purl: \"pkg:npm/*\"\n",
            ),
            now(),
        );
        assert_eq!(v.status, Status::Pass);
        assert!(v.findings.is_empty());
        assert_eq!(
            v.ignored[0].reason,
            IgnoreReason::IgnoreRule {
                index: 1,
                id: "cve-1".into(),
                reason: Some("accepted risk".into())
            }
        );
        // Matched through an alias and a purl glob.
        assert_eq!(
            v.ignored[1].reason,
            IgnoreReason::IgnoreRule {
                index: 2,
                id: "GHSA-CVE-2".into(),
                reason: None
            }
        );
    }

    #[test]
    fn purl_glob_restricts_ignore() {
        let v = evaluate(
            vec![
                finding("CVE-1", "pkg:pypi/a@1", Severity::High, &["2"]),
                finding("CVE-1", "pkg:npm/a@1", Severity::High, &["2"]),
            ],
            &cfg(
                Some(Severity::High),
                false,
                "ignores:\n  - id: CVE-1\n    purl: \"pkg:pypi/*\"\n",
            ),
            now(),
        );
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.findings.len(), 1);
        assert_eq!(v.findings[0].purl, "pkg:npm/a@1");
        assert_eq!(v.reasons[0].purl, "pkg:npm/a@1");
        assert_eq!(v.ignored[0].finding.purl, "pkg:pypi/a@1");
    }

    #[test]
    fn expired_ignore_stops_applying_and_is_reported() {
        let ignores = "ignores:\n  - id: CVE-1\n    expires: 2026-06-14\n  - id: CVE-9\n    expires: 2026-01-01T00:00:00Z\n  - id: CVE-2\n    expires: 2026-06-15\n";
        let findings = || {
            vec![
                finding("CVE-1", "pkg:pypi/a@1", Severity::High, &["2"]),
                finding("CVE-2", "pkg:pypi/b@1", Severity::High, &["2"]),
            ]
        };
        let v = evaluate(
            findings(),
            &cfg(Some(Severity::High), false, ignores),
            now(),
        );
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.reasons.len(), 1);
        assert_eq!(v.reasons[0].id, "CVE-1");
        assert_eq!(v.findings.len(), 1);
        assert_eq!(v.ignored.len(), 1);
        assert_eq!(v.ignored[0].finding.id, "CVE-2");
        assert_eq!(
            v.expired_ignores,
            vec![
                ExpiredIgnore {
                    index: 0,
                    id: "CVE-1".into(),
                    expires: ignore::parse_expires("2026-06-14").unwrap(),
                    matching_findings: 1,
                },
                ExpiredIgnore {
                    index: 1,
                    id: "CVE-9".into(),
                    expires: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
                    matching_findings: 0,
                },
            ]
        );
    }

    #[test]
    fn expiry_boundary_through_evaluate() {
        let ignores = "ignores:\n  - id: CVE-1\n    expires: 2026-06-15T12:00:00Z\n";
        let run = |at: DateTime<Utc>| {
            evaluate(
                vec![finding("CVE-1", "pkg:pypi/a@1", Severity::Critical, &[])],
                &cfg(Some(Severity::Low), false, ignores),
                at,
            )
        };
        let at_expiry = run(now());
        assert_eq!(at_expiry.status, Status::Pass);
        assert!(at_expiry.expired_ignores.is_empty());
        let just_after = run(now() + chrono::Duration::nanoseconds(1));
        assert_eq!(just_after.status, Status::Fail);
        assert_eq!(just_after.expired_ignores.len(), 1);

        let date_only = "ignores:\n  - id: CVE-1\n    expires: 2026-06-15\n";
        let run_date = |at: DateTime<Utc>| {
            evaluate(
                vec![finding("CVE-1", "pkg:pypi/a@1", Severity::Critical, &[])],
                &cfg(Some(Severity::Low), false, date_only),
                at,
            )
            .status
        };
        let end = Utc.with_ymd_and_hms(2026, 6, 15, 23, 59, 59).unwrap()
            + chrono::Duration::nanoseconds(999_999_999);
        assert_eq!(run_date(end), Status::Pass);
        assert_eq!(
            run_date(Utc.with_ymd_and_hms(2026, 6, 16, 0, 0, 0).unwrap()),
            Status::Fail
        );
    }

    #[test]
    fn kept_and_ignored_preserve_input_order() {
        let ids = ["CVE-5", "CVE-3", "CVE-9", "CVE-1"];
        let findings = ids
            .iter()
            .map(|id| finding(id, "pkg:pypi/a@1", Severity::Medium, &[]))
            .collect();
        let v = evaluate(
            findings,
            &cfg(None, false, "ignores:\n  - id: CVE-3\n  - id: CVE-1\n"),
            now(),
        );
        let kept: Vec<&str> = v.findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(kept, ["CVE-5", "CVE-9"]);
        let ignored: Vec<&str> = v.ignored.iter().map(|i| i.finding.id.as_str()).collect();
        assert_eq!(ignored, ["CVE-3", "CVE-1"]);
    }

    #[test]
    fn serialises_camel_case_with_lowercase_enums() {
        let v = evaluate(
            vec![
                finding("CVE-1", "pkg:pypi/a@1", Severity::High, &[]),
                finding("CVE-2", "pkg:pypi/b@1", Severity::Low, &[]),
            ],
            &cfg(
                Some(Severity::Medium),
                true,
                "ignores:\n  - id: CVE-2\n    reason: r\n  - id: X\n    expires: 2000-01-01\n",
            ),
            now(),
        );
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["status"], "pass");
        assert_eq!(json["failOn"], "medium");
        assert_eq!(json["ignored"][0]["reason"]["kind"], "unfixed");
        assert_eq!(json["ignored"][1]["reason"]["kind"], "ignoreRule");
        assert_eq!(json["ignored"][1]["reason"]["index"], 0);
        assert_eq!(json["ignored"][1]["reason"]["reason"], "r");
        assert_eq!(json["expiredIgnores"][0]["id"], "X");
        assert_eq!(
            json["expiredIgnores"][0]["expires"],
            "2000-01-01T23:59:59.999999999Z"
        );
        assert_eq!(json["counts"]["total"], 0);
        assert!(json.get("findings").is_none());
    }

    #[test]
    fn parse_fail_on_table() {
        for (text, want) in [
            ("critical", Severity::Critical),
            ("HIGH", Severity::High),
            (" Medium ", Severity::Medium),
            ("low", Severity::Low),
            ("unknown", Severity::Unknown),
        ] {
            assert_eq!(parse_fail_on(text), Ok(want), "{text}");
        }
        for bad in ["", "severe", "moderate", "hi"] {
            assert_eq!(parse_fail_on(bad), Err(ParseSeverityError(bad.to_owned())));
        }
    }
}
