//! Qualitative severity and how it is derived from OSV records.
//!
//! Order of evidence in [`assess`]:
//! 1. CVSS vectors (`CVSS_V2`/`CVSS_V3`/`CVSS_V4`) in the affected entry's and the record's
//!    `severity[]`: the highest computed base score wins; on equal scores the newer CVSS
//!    version wins (v4.0 > v3.1 > v3.0 > v2.0), being the more current assessment. Vectors
//!    that do not parse are skipped. The rating follows the CVSS v3/v4 scale (0.1–3.9 Low,
//!    4.0–6.9 Medium, 7.0–8.9 High, 9.0–10.0 Critical); v2 scores use NVD's v2 scale, which
//!    has no Critical (7.0–10.0 High). A 0.0 score maps to Low, not Unknown: we do know the
//!    severity, it is just minimal; Unknown is kept for "no information at all".
//! 2. Otherwise qualitative labels, most specific first: `Ubuntu` entries in `severity[]`
//!    (affected, then record), the affected entry's `ecosystem_specific.severity`, its
//!    `ecosystem_specific.urgency` (Debian), its `database_specific.severity`, then the
//!    record's `database_specific.severity` (GHSA: LOW/MODERATE/HIGH/CRITICAL).
//! 3. Otherwise [`Severity::Unknown`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::cvss::{self, CvssScore};
use super::osv::{Affected, OsvRecord, SeverityEntry};

/// Qualitative severity, ordered from least to most severe.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// No severity is known.
    Unknown,
    /// Low.
    Low,
    /// Medium (moderate).
    Medium,
    /// High (important).
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The lowercase name (`unknown`, `low`, `medium`, `high`, `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Rating of a CVSS v3/v4 base score (0.0 counts as Low; out-of-range as Unknown).
    pub fn from_cvss_score(score: f64) -> Severity {
        match score {
            s if (0.0..4.0).contains(&s) => Severity::Low,
            s if (4.0..7.0).contains(&s) => Severity::Medium,
            s if (7.0..9.0).contains(&s) => Severity::High,
            s if (9.0..=10.0).contains(&s) => Severity::Critical,
            _ => Severity::Unknown,
        }
    }

    /// Rating of a computed score, using NVD's v2 scale for version `2.0`.
    pub fn from_cvss(score: &CvssScore) -> Severity {
        match Severity::from_cvss_score(score.score) {
            Severity::Critical if score.version == "2.0" => Severity::High,
            other => other,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity label that is not one we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity label `{0}`")]
pub struct SeverityParseError(pub String);

impl FromStr for Severity {
    type Err = SeverityParseError;

    /// Case-insensitive; accepts GHSA, Debian, Ubuntu and Red Hat vocabularies.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Debian writes urgencies like `low**` or `(medium)`; the decoration carries no rank.
        let label = s
            .trim()
            .trim_matches(|c| c == '(' || c == ')')
            .trim_end_matches('*')
            .trim()
            .to_ascii_lowercase();
        match label.as_str() {
            "unknown" | "none" | "untriaged" | "not yet assigned" | "unassigned" => {
                Ok(Severity::Unknown)
            }
            "low" | "negligible" | "unimportant" | "minor" => Ok(Severity::Low),
            "medium" | "moderate" => Ok(Severity::Medium),
            "high" | "important" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(SeverityParseError(s.to_owned())),
        }
    }
}

/// The severity StellaOps assigns to one affected entry of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The qualitative severity.
    pub severity: Severity,
    /// The CVSS score it came from, when it came from one.
    pub cvss: Option<CvssScore>,
}

/// Rank of a CVSS version for tie-breaking: newer is preferred.
fn version_rank(version: &str) -> u8 {
    match version {
        "4.0" => 4,
        "3.1" => 3,
        "3.0" => 2,
        _ => 1,
    }
}

fn is_cvss_entry(entry: &SeverityEntry) -> bool {
    entry.kind.to_ascii_uppercase().starts_with("CVSS_")
}

/// Assesses `affected` (an entry of `record`): see the module documentation for the order.
pub fn assess(record: &OsvRecord, affected: &Affected) -> Assessment {
    let mut best: Option<CvssScore> = None;
    for entry in affected
        .severity
        .iter()
        .chain(&record.severity)
        .filter(|e| is_cvss_entry(e))
    {
        let Ok(candidate) = cvss::score(&entry.score) else {
            continue;
        };
        let better = match &best {
            None => true,
            Some(b) => {
                candidate.score > b.score
                    || (candidate.score == b.score
                        && version_rank(&candidate.version) > version_rank(&b.version))
            }
        };
        if better {
            best = Some(candidate);
        }
    }
    if let Some(score) = best {
        return Assessment {
            severity: Severity::from_cvss(&score),
            cvss: Some(score),
        };
    }
    Assessment {
        severity: qualitative(record, affected).unwrap_or(Severity::Unknown),
        cvss: None,
    }
}

/// The first known qualitative label, most specific source first.
fn qualitative(record: &OsvRecord, affected: &Affected) -> Option<Severity> {
    let known = |s: &str| {
        s.parse::<Severity>()
            .ok()
            .filter(|s| *s != Severity::Unknown)
    };
    let ubuntu = affected
        .severity
        .iter()
        .chain(&record.severity)
        .filter(|e| e.kind.eq_ignore_ascii_case("ubuntu"))
        .find_map(|e| known(&e.score));
    let field = |value: &Option<serde_json::Value>, key: &str| {
        value
            .as_ref()
            .and_then(|v| v.get(key))
            .and_then(|v| v.as_str())
            .and_then(known)
    };
    ubuntu
        .or_else(|| field(&affected.ecosystem_specific, "severity"))
        .or_else(|| field(&affected.ecosystem_specific, "urgency"))
        .or_else(|| field(&affected.database_specific, "severity"))
        .or_else(|| field(&record.database_specific, "severity"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, score: &str) -> SeverityEntry {
        SeverityEntry {
            kind: kind.to_owned(),
            score: score.to_owned(),
        }
    }

    #[test]
    fn labels_parse_case_insensitively() {
        let table = [
            ("LOW", Severity::Low),
            ("Moderate", Severity::Medium),
            ("medium", Severity::Medium),
            ("HIGH", Severity::High),
            ("Important", Severity::High),
            ("CRITICAL", Severity::Critical),
            ("unimportant", Severity::Low),
            ("negligible", Severity::Low),
            ("low**", Severity::Low),
            ("(medium)", Severity::Medium),
            ("not yet assigned", Severity::Unknown),
            ("unknown", Severity::Unknown),
        ];
        for (text, expected) in table {
            assert_eq!(text.parse::<Severity>(), Ok(expected), "{text}");
        }
        assert!("severe".parse::<Severity>().is_err());
        assert!("".parse::<Severity>().is_err());
    }

    #[test]
    fn display_round_trips_through_from_str() {
        for s in [
            Severity::Unknown,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            assert_eq!(s.to_string().parse::<Severity>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).ok(), Some(format!("\"{s}\"")));
        }
    }

    #[test]
    fn rating_scale_boundaries() {
        let table = [
            (0.0, Severity::Low),
            (0.1, Severity::Low),
            (3.9, Severity::Low),
            (4.0, Severity::Medium),
            (6.9, Severity::Medium),
            (7.0, Severity::High),
            (8.9, Severity::High),
            (9.0, Severity::Critical),
            (10.0, Severity::Critical),
            (10.1, Severity::Unknown),
            (f64::NAN, Severity::Unknown),
        ];
        for (score, expected) in table {
            assert_eq!(Severity::from_cvss_score(score), expected, "{score}");
        }
    }

    #[test]
    fn highest_cvss_wins_across_record_and_affected() {
        let record = OsvRecord {
            id: "X-1".into(),
            severity: vec![entry(
                "CVSS_V3",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
            )],
            ..OsvRecord::default()
        };
        let affected = Affected {
            severity: vec![entry(
                "CVSS_V3",
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
            )],
            ..Affected::default()
        };
        let a = assess(&record, &affected);
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.cvss.map(|c| c.score), Some(10.0));
        // Without the affected entry's vector the record's 7.5 applies.
        let a = assess(&record, &Affected::default());
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.cvss.map(|c| c.score), Some(7.5));
    }

    #[test]
    fn equal_scores_prefer_the_newer_version() {
        // Both score 7.5; the v2 entry comes first but v3.1 is preferred.
        let record = OsvRecord {
            id: "X-2".into(),
            severity: vec![
                entry("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P"),
                entry("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
            ],
            ..OsvRecord::default()
        };
        let a = assess(&record, &Affected::default());
        let cvss = a.cvss.expect("cvss");
        assert_eq!((cvss.version.as_str(), cvss.score), ("3.1", 7.5));
    }

    #[test]
    fn v2_scores_never_rate_critical() {
        let record = OsvRecord {
            id: "X-3".into(),
            severity: vec![entry("CVSS_V2", "AV:N/AC:L/Au:N/C:C/I:C/A:C")],
            ..OsvRecord::default()
        };
        let a = assess(&record, &Affected::default());
        assert_eq!(a.cvss.as_ref().map(|c| c.score), Some(10.0));
        assert_eq!(a.severity, Severity::High);
    }

    #[test]
    fn unparsable_vectors_fall_back_to_labels() {
        let record = OsvRecord {
            id: "X-4".into(),
            severity: vec![entry("CVSS_V3", "CVSS:3.1/AV:N/garbage")],
            database_specific: Some(serde_json::json!({"severity": "MODERATE"})),
            ..OsvRecord::default()
        };
        let a = assess(&record, &Affected::default());
        assert_eq!((a.severity, a.cvss), (Severity::Medium, None));
    }

    #[test]
    fn qualitative_sources_most_specific_first() {
        let record = OsvRecord {
            id: "X-5".into(),
            database_specific: Some(serde_json::json!({"severity": "LOW"})),
            ..OsvRecord::default()
        };
        let debian = Affected {
            ecosystem_specific: Some(serde_json::json!({"urgency": "high"})),
            ..Affected::default()
        };
        assert_eq!(assess(&record, &debian).severity, Severity::High);
        let ubuntu = Affected {
            severity: vec![entry("Ubuntu", "medium")],
            ecosystem_specific: Some(serde_json::json!({"urgency": "high"})),
            ..Affected::default()
        };
        assert_eq!(assess(&record, &ubuntu).severity, Severity::Medium);
        let db = Affected {
            database_specific: Some(serde_json::json!({"severity": "CRITICAL"})),
            ..Affected::default()
        };
        assert_eq!(assess(&record, &db).severity, Severity::Critical);
        // An unassigned label does not hide a known one further down.
        let unassigned = Affected {
            ecosystem_specific: Some(serde_json::json!({"urgency": "not yet assigned"})),
            ..Affected::default()
        };
        assert_eq!(assess(&record, &unassigned).severity, Severity::Low);
        assert_eq!(
            assess(&OsvRecord::default(), &Affected::default()),
            Assessment {
                severity: Severity::Unknown,
                cvss: None
            }
        );
    }
}
