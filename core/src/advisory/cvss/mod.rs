//! CVSS base scores computed from vectors (v2.0, v3.0, v3.1, v4.0).
//!
//! Parsing is strict: every mandatory base metric exactly once, every metric and value known
//! to its version, no empty or duplicate components. Metric order is not enforced (real feeds
//! reorder temporal/environmental metrics). Optional temporal/threat/environmental metrics are
//! validated; v2/v3 ignore them for the base score, v4 scores the vector as written (as
//! FIRST's calculator does), so a v4 vector with threat/environmental metrics gives CVSS-BTE.

pub mod v2;
pub mod v3;
pub mod v4;

use serde::{Deserialize, Serialize};

/// A CVSS base score with the vector it was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvssScore {
    /// `2.0`, `3.0`, `3.1` or `4.0`.
    pub version: String,
    /// The vector string.
    pub vector: String,
    /// Base score, 0.0–10.0.
    pub score: f64,
}

/// Why a CVSS vector could not be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CvssError {
    /// The vector is empty.
    #[error("empty CVSS vector")]
    Empty,
    /// A `CVSS:x.y/` prefix names a version we do not know.
    #[error("unsupported CVSS version `{version}` in `{vector}`")]
    UnknownVersion {
        /// The version text after `CVSS:`.
        version: String,
        /// The whole vector.
        vector: String,
    },
    /// A component is not of the form `METRIC:VALUE`.
    #[error("malformed component `{component}` in CVSS vector `{vector}`")]
    Malformed {
        /// The offending component.
        component: String,
        /// The whole vector.
        vector: String,
    },
    /// A metric this version does not define.
    #[error("unknown metric `{metric}` in CVSS vector `{vector}`")]
    UnknownMetric {
        /// The metric name.
        metric: String,
        /// The whole vector.
        vector: String,
    },
    /// A metric given twice.
    #[error("metric `{metric}` appears twice in CVSS vector `{vector}`")]
    DuplicateMetric {
        /// The metric name.
        metric: String,
        /// The whole vector.
        vector: String,
    },
    /// A value the metric does not allow.
    #[error("invalid value `{value}` for metric `{metric}` in CVSS vector `{vector}`")]
    InvalidValue {
        /// The metric name.
        metric: String,
        /// The value given.
        value: String,
        /// The whole vector.
        vector: String,
    },
    /// A mandatory base metric is absent.
    #[error("mandatory metric `{metric}` missing from CVSS vector `{vector}`")]
    MissingMetric {
        /// The metric name.
        metric: String,
        /// The whole vector.
        vector: String,
    },
}

/// Computes the base score of a CVSS vector, choosing the version by its prefix
/// (`CVSS:3.0/`, `CVSS:3.1/`, `CVSS:4.0/`; no prefix means v2, e.g. `AV:N/AC:L/Au:N/...`).
pub fn score(vector: &str) -> Result<CvssScore, CvssError> {
    let trimmed = vector.trim();
    if trimmed.is_empty() {
        return Err(CvssError::Empty);
    }
    let (version, value) = if let Some(rest) = trimmed.strip_prefix("CVSS:") {
        let (version, body) = rest.split_once('/').unwrap_or((rest, ""));
        let value = match version {
            "3.0" => v3::base_score(body, v3::Version::V30, trimmed)?,
            "3.1" => v3::base_score(body, v3::Version::V31, trimmed)?,
            "4.0" => v4::score(body, trimmed)?,
            other => {
                return Err(CvssError::UnknownVersion {
                    version: other.to_owned(),
                    vector: trimmed.to_owned(),
                });
            }
        };
        (version, value)
    } else {
        ("2.0", v2::base_score(trimmed)?)
    };
    Ok(CvssScore {
        version: version.to_owned(),
        vector: trimmed.to_owned(),
        score: value,
    })
}

/// One metric a version defines: its name, allowed values, and whether it is mandatory.
pub(crate) struct MetricDef {
    pub(crate) name: &'static str,
    pub(crate) values: &'static [&'static str],
    pub(crate) mandatory: bool,
}

/// Splits `body` (`K:V/K:V/...`) against `defs`; returns the value per def, in def order.
pub(crate) fn parse_metrics<'a>(
    body: &'a str,
    defs: &[MetricDef],
    vector: &str,
) -> Result<Vec<Option<&'a str>>, CvssError> {
    let mut values: Vec<Option<&'a str>> = vec![None; defs.len()];
    for component in body.split('/') {
        let Some((key, value)) = component.split_once(':') else {
            return Err(CvssError::Malformed {
                component: component.to_owned(),
                vector: vector.to_owned(),
            });
        };
        let Some(index) = defs.iter().position(|d| d.name == key) else {
            return Err(CvssError::UnknownMetric {
                metric: key.to_owned(),
                vector: vector.to_owned(),
            });
        };
        let (Some(def), Some(slot)) = (defs.get(index), values.get_mut(index)) else {
            continue;
        };
        if slot.is_some() {
            return Err(CvssError::DuplicateMetric {
                metric: key.to_owned(),
                vector: vector.to_owned(),
            });
        }
        if !def.values.contains(&value) {
            return Err(CvssError::InvalidValue {
                metric: key.to_owned(),
                value: value.to_owned(),
                vector: vector.to_owned(),
            });
        }
        *slot = Some(value);
    }
    for (def, value) in defs.iter().zip(&values) {
        if def.mandatory && value.is_none() {
            return Err(CvssError::MissingMetric {
                metric: def.name.to_owned(),
                vector: vector.to_owned(),
            });
        }
    }
    Ok(values)
}

/// The value given for `name`, if any.
pub(crate) fn value_of<'a>(
    defs: &[MetricDef],
    values: &[Option<&'a str>],
    name: &str,
) -> Option<&'a str> {
    defs.iter()
        .position(|d| d.name == name)
        .and_then(|i| values.get(i).copied().flatten())
}

/// Rounds half up to one decimal, as JavaScript's `Math.round(x * 10) / 10` does for x ≥ 0.
pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(vector: &str) -> f64 {
        match score(vector) {
            Ok(s) => s.score,
            Err(e) => panic!("{vector}: {e}"),
        }
    }

    #[test]
    fn v31_worked_examples() {
        // Examples from FIRST's v3.1 specification / user guide.
        assert_eq!(s("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), 9.8);
        assert_eq!(s("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"), 10.0);
        assert_eq!(s("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"), 6.1);
        assert_eq!(s("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"), 7.8);
        assert_eq!(s("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:N"), 0.0);
        assert_eq!(s("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"), 1.6);
        // Temporal/environmental metrics are validated but do not change the base score.
        assert_eq!(
            s("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:R/CR:L/MAV:P"),
            9.8
        );
        // Metric order is not enforced.
        assert_eq!(s("CVSS:3.1/S:U/AV:N/AC:L/PR:N/UI:N/C:H/I:H/A:H"), 9.8);
        let full = score("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:N/A:N").expect("v3.0");
        assert_eq!((full.version.as_str(), full.score), ("3.0", 6.5));
    }

    #[test]
    fn v30_and_v31_roundup_differ_as_specified() {
        assert_eq!(v3::roundup_for_tests(4.000_001, v3::Version::V30), 4.1);
        assert_eq!(v3::roundup_for_tests(4.000_001, v3::Version::V31), 4.0);
        assert_eq!(v3::roundup_for_tests(4.02, v3::Version::V31), 4.1);
        assert_eq!(v3::roundup_for_tests(4.0, v3::Version::V31), 4.0);
    }

    #[test]
    fn v2_worked_examples() {
        // The CVE examples of the CVSS v2 Complete Guide, section 3.3.
        assert_eq!(s("AV:N/AC:L/Au:N/C:N/I:N/A:C"), 7.8); // CVE-2002-0392
        assert_eq!(s("AV:N/AC:L/Au:N/C:C/I:C/A:C"), 10.0); // CVE-2003-0818
        assert_eq!(s("AV:L/AC:H/Au:N/C:C/I:C/A:C"), 6.2); // CVE-2003-0062
        assert_eq!(s("AV:N/AC:L/Au:N/C:P/I:P/A:P"), 7.5);
        assert_eq!(s("AV:L/AC:H/Au:M/C:N/I:N/A:N"), 0.0);
        assert_eq!(s("(AV:N/AC:L/Au:N/C:P/I:P/A:P)"), 7.5);
        assert_eq!(s("AV:N/AC:L/Au:N/C:P/I:P/A:P/E:POC/RL:OF/RC:C"), 7.5);
        assert_eq!(
            score("AV:N/AC:L/Au:N/C:P/I:P/A:P").map(|x| x.version),
            Ok("2.0".into())
        );
    }

    #[test]
    fn v4_reference_vectors() {
        // Vector/score pairs from FIRST's v4.0 calculator test data.
        let cases = [
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                9.3,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:H/VA:L/SC:N/SI:H/SA:L",
                9.2,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:H/SI:N/SA:L",
                7.8,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:N/SC:N/SI:L/SA:N",
                6.9,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:H/SI:L/SA:H",
                7.9,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:N/VA:N/SC:L/SI:N/SA:L",
                5.3,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:H/VI:H/VA:N/SC:N/SI:L/SA:L",
                8.5,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:A/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N",
                5.1,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:L/VI:L/VA:N/SC:H/SI:L/SA:L",
                6.4,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:P/VC:H/VI:L/VA:L/SC:L/SI:L/SA:L",
                7.0,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:P/VC:L/VI:L/VA:N/SC:L/SI:N/SA:N",
                4.8,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:A/VC:L/VI:N/VA:N/SC:H/SI:N/SA:H",
                6.0,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:N/SA:H",
                9.5,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:P/VC:L/VI:L/VA:N/SC:H/SI:N/SA:N",
                4.9,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:A/VC:N/VI:N/VA:N/SC:L/SI:N/SA:N",
                2.1,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:N/VC:N/VI:N/VA:N/SC:N/SI:L/SA:N",
                2.3,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:P/PR:H/UI:A/VC:N/VI:L/VA:L/SC:L/SI:N/SA:N",
                1.8,
            ),
            (
                "CVSS:4.0/AV:N/AC:H/AT:N/PR:N/UI:N/VC:H/VI:H/VA:N/SC:L/SI:H/SA:L",
                9.4,
            ),
            (
                "CVSS:4.0/AV:N/AC:H/AT:N/PR:L/UI:A/VC:L/VI:L/VA:L/SC:H/SI:H/SA:H",
                5.2,
            ),
            (
                "CVSS:4.0/AV:N/AC:H/AT:N/PR:H/UI:A/VC:N/VI:N/VA:N/SC:N/SI:H/SA:N",
                4.0,
            ),
            (
                "CVSS:4.0/AV:N/AC:H/AT:P/PR:N/UI:N/VC:N/VI:L/VA:N/SC:L/SI:H/SA:L",
                7.0,
            ),
            // Threat metric.
            (
                "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:A",
                7.3,
            ),
            (
                "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:P",
                5.9,
            ),
            (
                "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:U",
                4.1,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/E:U",
                0.0,
            ),
            // Security requirements.
            (
                "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:H/IR:H/AR:M",
                7.2,
            ),
            (
                "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:H/IR:M/AR:L",
                7.1,
            ),
            (
                "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:M/IR:M/AR:M",
                5.5,
            ),
            (
                "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:L/IR:L/AR:L",
                5.4,
            ),
        ];
        for (vector, expected) in cases {
            assert_eq!(s(vector), expected, "{vector}");
        }
    }

    #[test]
    fn v4_modified_metrics_override_base_metrics() {
        let base = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        // MAV:P makes the vector exactly as severe as one written with AV:P.
        let physical = "CVSS:4.0/AV:P/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        assert_eq!(s(&format!("{base}/MAV:P")), s(physical));
        assert!(s(physical) < s(base));
        // MSI:S (safety) raises the subsequent-system class above anything SI:H reaches.
        assert!(s(&format!("{base}/MSI:S")) >= s(base));
        // All-X optional metrics (as NVD writes them) change nothing.
        assert_eq!(s(&format!("{base}/E:X/CR:X/MAV:X/U:X")), s(base));
    }

    #[test]
    fn strict_parsing_errors() {
        type Check = fn(&CvssError) -> bool;
        let cases: [(&str, Check); 10] = [
            ("", |e| matches!(e, CvssError::Empty)),
            ("CVSS:3.2/AV:N", |e| {
                matches!(e, CvssError::UnknownVersion { .. })
            }),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
                |e| matches!(e, CvssError::MissingMetric { metric, .. } if metric == "A"),
            ),
            (
                "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                |e| matches!(e, CvssError::DuplicateMetric { metric, .. } if metric == "AV"),
            ),
            (
                "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                |e| matches!(e, CvssError::InvalidValue { metric, value, .. } if metric == "AV" && value == "X"),
            ),
            (
                "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1",
                |e| matches!(e, CvssError::UnknownMetric { metric, .. } if metric == "ZZ"),
            ),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/", |e| {
                matches!(e, CvssError::Malformed { .. })
            }),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
                |e| matches!(e, CvssError::MissingMetric { metric, .. } if metric == "SA"),
            ),
            // v3 metric names are not v4 metrics.
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:R/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                |e| matches!(e, CvssError::InvalidValue { metric, .. } if metric == "UI"),
            ),
            (
                "AV:N/AC:L/Au:N/C:P/I:P",
                |e| matches!(e, CvssError::MissingMetric { metric, .. } if metric == "A"),
            ),
        ];
        for (vector, check) in cases {
            match score(vector) {
                Ok(s) => panic!("{vector}: unexpectedly scored {}", s.score),
                Err(e) => assert!(check(&e), "{vector}: wrong error {e:?}"),
            }
        }
    }

    /// A random well-formed vector of the given metric definitions.
    fn vector_strategy(
        prefix: &'static str,
        defs: &'static [MetricDef],
    ) -> impl Strategy<Value = String> {
        let picks: Vec<_> = defs
            .iter()
            .map(|d| (0..d.values.len(), proptest::bool::ANY))
            .collect();
        picks.prop_map(move |choices| {
            let mut parts = Vec::new();
            for (def, (i, include)) in defs.iter().zip(choices) {
                if let Some(v) = def.values.get(i)
                    && (def.mandatory || include)
                {
                    parts.push(format!("{}:{v}", def.name));
                }
            }
            format!("{prefix}{}", parts.join("/"))
        })
    }

    proptest! {
        #[test]
        fn score_never_panics_on_arbitrary_text(text in ".{0,200}") {
            let _ = score(&text);
        }

        #[test]
        fn score_never_panics_on_vector_like_text(
            text in "(CVSS:(3\\.0|3\\.1|4\\.0|9)/)?([A-Z]{1,3}:[A-Za-z]{0,5}/?){0,40}"
        ) {
            let _ = score(&text);
        }

        #[test]
        fn valid_v4_vectors_score_within_range(v in vector_strategy("CVSS:4.0/", v4::DEFS_FOR_TESTS)) {
            let s = score(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!((0.0..=10.0).contains(&s.score), "{v}: {}", s.score);
            prop_assert_eq!((s.score * 10.0).round() / 10.0, s.score);
        }

        #[test]
        fn valid_v3_vectors_score_within_range(v in vector_strategy("CVSS:3.1/", v3::DEFS_FOR_TESTS)) {
            let s = score(&v).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!((0.0..=10.0).contains(&s.score), "{v}: {}", s.score);
            // v3.0's cruder roundup never gives less than v3.1's.
            let v30 = score(&v.replacen("CVSS:3.1/", "CVSS:3.0/", 1))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(v30.score >= s.score);
        }

        #[test]
        fn dropping_a_mandatory_v4_metric_is_an_error(
            v in vector_strategy("CVSS:4.0/", v4::DEFS_FOR_TESTS),
            drop in 0usize..11,
        ) {
            let parts: Vec<&str> = v.split('/').collect();
            let kept: Vec<&str> = parts.iter().enumerate().filter(|(i, _)| *i != drop + 1).map(|(_, p)| *p).collect();
            let is_missing = matches!(score(&kept.join("/")), Err(CvssError::MissingMetric { .. }));
            prop_assert!(is_missing);
        }
    }
}
