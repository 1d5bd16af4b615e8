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
