//! CVSS v2.0 base score (FIRST CVSS v2 Complete Guide, section 3.2.1).

use super::{CvssError, MetricDef, parse_metrics, round1, value_of};

const fn m(name: &'static str, values: &'static [&'static str], mandatory: bool) -> MetricDef {
    MetricDef {
        name,
        values,
        mandatory,
    }
}

/// Base, temporal and environmental metrics of v2.
const DEFS: &[MetricDef] = &[
    m("AV", &["L", "A", "N"], true),
    m("AC", &["H", "M", "L"], true),
    m("Au", &["M", "S", "N"], true),
    m("C", &["N", "P", "C"], true),
    m("I", &["N", "P", "C"], true),
    m("A", &["N", "P", "C"], true),
    m("E", &["U", "POC", "F", "H", "ND"], false),
    m("RL", &["OF", "TF", "W", "U", "ND"], false),
    m("RC", &["UC", "UR", "C", "ND"], false),
    m("CDP", &["N", "L", "LM", "MH", "H", "ND"], false),
    m("TD", &["N", "L", "M", "H", "ND"], false),
    m("CR", &["L", "M", "H", "ND"], false),
    m("IR", &["L", "M", "H", "ND"], false),
    m("AR", &["L", "M", "H", "ND"], false),
];

fn impact(v: Option<&str>) -> f64 {
    match v {
        Some("P") => 0.275,
        Some("C") => 0.660,
        _ => 0.0,
    }
}

/// Base score of a v2 vector (`AV:N/AC:L/Au:N/C:P/I:P/A:P`, optionally in parentheses).
pub fn base_score(vector: &str) -> Result<f64, CvssError> {
    // NVD's older feeds wrap v2 vectors in parentheses.
    let body = vector
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or(vector);
    let values = parse_metrics(body, DEFS, vector)?;
    let get = |name| value_of(DEFS, &values, name);
    let av = match get("AV") {
        Some("L") => 0.395,
        Some("A") => 0.646,
        _ => 1.0,
    };
    let ac = match get("AC") {
        Some("H") => 0.35,
        Some("M") => 0.61,
        _ => 0.71,
    };
    let au = match get("Au") {
        Some("M") => 0.45,
        Some("S") => 0.56,
        _ => 0.704,
    };
    let (c, i, a) = (impact(get("C")), impact(get("I")), impact(get("A")));
    let impact = 10.41 * (1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a));
    let exploitability = 20.0 * av * ac * au;
    let f = if impact == 0.0 { 0.0 } else { 1.176 };
    Ok(round1(((0.6 * impact) + (0.4 * exploitability) - 1.5) * f))
}
