//! CVSS v3.0 and v3.1 base scores (FIRST CVSS v3.1 specification, section 7 and appendix A).

use super::{CvssError, MetricDef, parse_metrics, value_of};

/// Which v3 minor version: they differ only in the Roundup function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v3.0: Roundup is a plain ceiling to one decimal.
    V30,
    /// v3.1: Roundup works on integers to avoid floating-point artefacts.
    V31,
}

const fn m(name: &'static str, values: &'static [&'static str], mandatory: bool) -> MetricDef {
    MetricDef {
        name,
        values,
        mandatory,
    }
}

/// Base, temporal and environmental metrics of v3.x.
const DEFS: &[MetricDef] = &[
    m("AV", &["N", "A", "L", "P"], true),
    m("AC", &["L", "H"], true),
    m("PR", &["N", "L", "H"], true),
    m("UI", &["N", "R"], true),
    m("S", &["U", "C"], true),
    m("C", &["H", "L", "N"], true),
    m("I", &["H", "L", "N"], true),
    m("A", &["H", "L", "N"], true),
    m("E", &["X", "U", "P", "F", "H"], false),
    m("RL", &["X", "O", "T", "W", "U"], false),
    m("RC", &["X", "U", "R", "C"], false),
    m("CR", &["X", "L", "M", "H"], false),
    m("IR", &["X", "L", "M", "H"], false),
    m("AR", &["X", "L", "M", "H"], false),
    m("MAV", &["X", "N", "A", "L", "P"], false),
    m("MAC", &["X", "L", "H"], false),
    m("MPR", &["X", "N", "L", "H"], false),
    m("MUI", &["X", "N", "R"], false),
    m("MS", &["X", "U", "C"], false),
    m("MC", &["X", "N", "L", "H"], false),
    m("MI", &["X", "N", "L", "H"], false),
    m("MA", &["X", "N", "L", "H"], false),
];

/// v3.0 Roundup: the smallest one-decimal number ≥ x.
fn roundup_v30(x: f64) -> f64 {
    (x * 10.0).ceil() / 10.0
}

/// v3.1 Roundup (appendix A): integer arithmetic so that e.g. 4.000000001 stays 4.0.
fn roundup_v31(x: f64) -> f64 {
    let int_input = (x * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}

fn cia(v: Option<&str>) -> f64 {
    match v {
        Some("H") => 0.56,
        Some("L") => 0.22,
        _ => 0.0,
    }
}

/// Base score of the metrics after `CVSS:3.x/`; `vector` is the whole string, for errors.
pub fn base_score(body: &str, version: Version, vector: &str) -> Result<f64, CvssError> {
    let values = parse_metrics(body, DEFS, vector)?;
    let get = |name| value_of(DEFS, &values, name);
    let changed = get("S") == Some("C");
    let av = match get("AV") {
        Some("N") => 0.85,
        Some("A") => 0.62,
        Some("L") => 0.55,
        _ => 0.2,
    };
    let ac = if get("AC") == Some("L") { 0.77 } else { 0.44 };
    let pr = match (get("PR"), changed) {
        (Some("N"), _) => 0.85,
        (Some("L"), false) => 0.62,
        (Some("L"), true) => 0.68,
        (_, false) => 0.27,
        (_, true) => 0.5,
    };
    let ui = if get("UI") == Some("N") { 0.85 } else { 0.62 };
    let iss = 1.0 - ((1.0 - cia(get("C"))) * (1.0 - cia(get("I"))) * (1.0 - cia(get("A"))));
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return Ok(0.0);
    }
    let raw = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Ok(match version {
        Version::V30 => roundup_v30(raw),
        Version::V31 => roundup_v31(raw),
    })
}

/// The metric definitions, for property tests elsewhere in the crate.
#[cfg(test)]
pub(crate) const DEFS_FOR_TESTS: &[MetricDef] = DEFS;

/// Roundup of the given version, for tests.
#[cfg(test)]
pub(crate) fn roundup_for_tests(x: f64, version: Version) -> f64 {
    match version {
        Version::V30 => roundup_v30(x),
        Version::V31 => roundup_v31(x),
    }
}
