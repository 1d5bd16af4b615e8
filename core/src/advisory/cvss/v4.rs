//! CVSS v4.0 score by FIRST's MacroVector method (CVSS v4.0 specification, section 8).
//!
//! The vector is mapped to a MacroVector (EQ1–EQ6), whose score comes from FIRST's lookup
//! table; the score is then lowered by the mean proportional severity distance of the vector
//! from the highest-severity vectors of that MacroVector. Arithmetic follows FIRST's reference
//! calculator step by step (same constants, same order of floating-point operations) so that
//! results agree to the last rounding.

use super::{CvssError, MetricDef, parse_metrics, round1, value_of};

const fn m(name: &'static str, values: &'static [&'static str], mandatory: bool) -> MetricDef {
    MetricDef {
        name,
        values,
        mandatory,
    }
}

/// All v4.0 metrics: 11 mandatory base, then threat, environmental and supplemental.
const DEFS: &[MetricDef] = &[
    m("AV", &["N", "A", "L", "P"], true),
    m("AC", &["L", "H"], true),
    m("AT", &["N", "P"], true),
    m("PR", &["N", "L", "H"], true),
    m("UI", &["N", "P", "A"], true),
    m("VC", &["N", "L", "H"], true),
    m("VI", &["N", "L", "H"], true),
    m("VA", &["N", "L", "H"], true),
    m("SC", &["N", "L", "H"], true),
    m("SI", &["N", "L", "H"], true),
    m("SA", &["N", "L", "H"], true),
    m("E", &["X", "A", "P", "U"], false),
    m("CR", &["X", "H", "M", "L"], false),
    m("IR", &["X", "H", "M", "L"], false),
    m("AR", &["X", "H", "M", "L"], false),
    m("MAV", &["X", "N", "A", "L", "P"], false),
    m("MAC", &["X", "L", "H"], false),
    m("MAT", &["X", "N", "P"], false),
    m("MPR", &["X", "N", "L", "H"], false),
    m("MUI", &["X", "N", "P", "A"], false),
    m("MVC", &["X", "H", "L", "N"], false),
    m("MVI", &["X", "H", "L", "N"], false),
    m("MVA", &["X", "H", "L", "N"], false),
    m("MSC", &["X", "H", "L", "N"], false),
    m("MSI", &["X", "S", "H", "L", "N"], false),
    m("MSA", &["X", "S", "H", "L", "N"], false),
    m("S", &["X", "N", "P"], false),
    m("AU", &["X", "N", "Y"], false),
    m("R", &["X", "A", "U", "I"], false),
    m("V", &["X", "D", "C"], false),
    m("RE", &["X", "L", "M", "H"], false),
    m("U", &["X", "Clear", "Green", "Amber", "Red"], false),
];

/// FIRST's MacroVector score table (`cvss_lookup.js`), sorted by MacroVector.
const LOOKUP: &[(&str, f64)] = &[
    ("000000", 10.0),
    ("000001", 9.9),
    ("000010", 9.8),
    ("000011", 9.5),
    ("000020", 9.5),
    ("000021", 9.2),
    ("000100", 10.0),
    ("000101", 9.6),
    ("000110", 9.3),
    ("000111", 8.7),
    ("000120", 9.1),
    ("000121", 8.1),
    ("000200", 9.3),
    ("000201", 9.0),
    ("000210", 8.9),
    ("000211", 8.0),
    ("000220", 8.1),
    ("000221", 6.8),
    ("001000", 9.8),
    ("001001", 9.5),
    ("001010", 9.5),
    ("001011", 9.2),
    ("001020", 9.0),
    ("001021", 8.4),
    ("001100", 9.3),
    ("001101", 9.2),
    ("001110", 8.9),
    ("001111", 8.1),
    ("001120", 8.1),
    ("001121", 6.5),
    ("001200", 8.8),
    ("001201", 8.0),
    ("001210", 7.8),
    ("001211", 7.0),
    ("001220", 6.9),
    ("001221", 4.8),
    ("002001", 9.2),
    ("002011", 8.2),
    ("002021", 7.2),
    ("002101", 7.9),
    ("002111", 6.9),
    ("002121", 5.0),
    ("002201", 6.9),
    ("002211", 5.5),
    ("002221", 2.7),
    ("010000", 9.9),
    ("010001", 9.7),
    ("010010", 9.5),
    ("010011", 9.2),
    ("010020", 9.2),
    ("010021", 8.5),
    ("010100", 9.5),
    ("010101", 9.1),
    ("010110", 9.0),
    ("010111", 8.3),
    ("010120", 8.4),
    ("010121", 7.1),
    ("010200", 9.2),
    ("010201", 8.1),
    ("010210", 8.2),
    ("010211", 7.1),
    ("010220", 7.2),
    ("010221", 5.3),
    ("011000", 9.5),
    ("011001", 9.3),
    ("011010", 9.2),
    ("011011", 8.5),
    ("011020", 8.5),
    ("011021", 7.3),
    ("011100", 9.2),
    ("011101", 8.2),
    ("011110", 8.0),
    ("011111", 7.2),
    ("011120", 7.0),
    ("011121", 5.9),
    ("011200", 8.4),
    ("011201", 7.0),
    ("011210", 7.1),
    ("011211", 5.2),
    ("011220", 5.0),
    ("011221", 3.0),
    ("012001", 8.6),
    ("012011", 7.5),
    ("012021", 5.2),
    ("012101", 7.1),
    ("012111", 5.2),
    ("012121", 2.9),
    ("012201", 6.3),
    ("012211", 2.9),
    ("012221", 1.7),
    ("100000", 9.8),
    ("100001", 9.5),
    ("100010", 9.4),
    ("100011", 8.7),
    ("100020", 9.1),
    ("100021", 8.1),
    ("100100", 9.4),
    ("100101", 8.9),
    ("100110", 8.6),
    ("100111", 7.4),
    ("100120", 7.7),
    ("100121", 6.4),
    ("100200", 8.7),
    ("100201", 7.5),
    ("100210", 7.4),
    ("100211", 6.3),
    ("100220", 6.3),
    ("100221", 4.9),
    ("101000", 9.4),
    ("101001", 8.9),
    ("101010", 8.8),
    ("101011", 7.7),
    ("101020", 7.6),
    ("101021", 6.7),
    ("101100", 8.6),
    ("101101", 7.6),
    ("101110", 7.4),
    ("101111", 5.8),
    ("101120", 5.9),
    ("101121", 5.0),
    ("101200", 7.2),
    ("101201", 5.7),
    ("101210", 5.7),
    ("101211", 5.2),
    ("101220", 5.2),
    ("101221", 2.5),
    ("102001", 8.3),
    ("102011", 7.0),
    ("102021", 5.4),
    ("102101", 6.5),
    ("102111", 5.8),
    ("102121", 2.6),
    ("102201", 5.3),
    ("102211", 2.1),
    ("102221", 1.3),
    ("110000", 9.5),
    ("110001", 9.0),
    ("110010", 8.8),
    ("110011", 7.6),
    ("110020", 7.6),
    ("110021", 7.0),
    ("110100", 9.0),
    ("110101", 7.7),
    ("110110", 7.5),
    ("110111", 6.2),
    ("110120", 6.1),
    ("110121", 5.3),
    ("110200", 7.7),
    ("110201", 6.6),
    ("110210", 6.8),
    ("110211", 5.9),
    ("110220", 5.2),
    ("110221", 3.0),
    ("111000", 8.9),
    ("111001", 7.8),
    ("111010", 7.6),
    ("111011", 6.7),
    ("111020", 6.2),
    ("111021", 5.8),
    ("111100", 7.4),
    ("111101", 5.9),
    ("111110", 5.7),
    ("111111", 5.7),
    ("111120", 4.7),
    ("111121", 2.3),
    ("111200", 6.1),
    ("111201", 5.2),
    ("111210", 5.7),
    ("111211", 2.9),
    ("111220", 2.4),
    ("111221", 1.6),
    ("112001", 7.1),
    ("112011", 5.9),
    ("112021", 3.0),
    ("112101", 5.8),
    ("112111", 2.6),
    ("112121", 1.5),
    ("112201", 2.3),
    ("112211", 1.3),
    ("112221", 0.6),
    ("200000", 9.3),
    ("200001", 8.7),
    ("200010", 8.6),
    ("200011", 7.2),
    ("200020", 7.5),
    ("200021", 5.8),
    ("200100", 8.6),
    ("200101", 7.4),
    ("200110", 7.4),
    ("200111", 6.1),
    ("200120", 5.6),
    ("200121", 3.4),
    ("200200", 7.0),
    ("200201", 5.4),
    ("200210", 5.2),
    ("200211", 4.0),
    ("200220", 4.0),
    ("200221", 2.2),
    ("201000", 8.5),
    ("201001", 7.5),
    ("201010", 7.4),
    ("201011", 5.5),
    ("201020", 6.2),
    ("201021", 5.1),
    ("201100", 7.2),
    ("201101", 5.7),
    ("201110", 5.5),
    ("201111", 4.1),
    ("201120", 4.6),
    ("201121", 1.9),
    ("201200", 5.3),
    ("201201", 3.6),
    ("201210", 3.4),
    ("201211", 1.9),
    ("201220", 1.9),
    ("201221", 0.8),
    ("202001", 6.4),
    ("202011", 5.1),
    ("202021", 2.0),
    ("202101", 4.7),
    ("202111", 2.1),
    ("202121", 1.1),
    ("202201", 2.4),
    ("202211", 0.9),
    ("202221", 0.4),
    ("210000", 8.8),
    ("210001", 7.5),
    ("210010", 7.3),
    ("210011", 5.3),
    ("210020", 6.0),
    ("210021", 5.0),
    ("210100", 7.3),
    ("210101", 5.5),
    ("210110", 5.9),
    ("210111", 4.0),
    ("210120", 4.1),
    ("210121", 2.0),
    ("210200", 5.4),
    ("210201", 4.3),
    ("210210", 4.5),
    ("210211", 2.2),
    ("210220", 2.0),
    ("210221", 1.1),
    ("211000", 7.5),
    ("211001", 5.5),
    ("211010", 5.8),
    ("211011", 4.5),
    ("211020", 4.0),
    ("211021", 2.1),
    ("211100", 6.1),
    ("211101", 5.1),
    ("211110", 4.8),
    ("211111", 1.8),
    ("211120", 2.0),
    ("211121", 0.9),
    ("211200", 4.6),
    ("211201", 1.8),
    ("211210", 1.7),
    ("211211", 0.7),
    ("211220", 0.8),
    ("211221", 0.2),
    ("212001", 5.3),
    ("212011", 2.4),
    ("212021", 1.4),
    ("212101", 2.4),
    ("212111", 1.2),
    ("212121", 0.5),
    ("212201", 1.0),
    ("212211", 0.3),
    ("212221", 0.1),
];

/// Highest-severity vector fragments per EQ level (`max_composed.js`).
const MAX_EQ1: [&[&str]; 3] = [
    &["AV:N/PR:N/UI:N/"],
    &["AV:A/PR:N/UI:N/", "AV:N/PR:L/UI:N/", "AV:N/PR:N/UI:P/"],
    &["AV:P/PR:N/UI:N/", "AV:A/PR:L/UI:P/"],
];
const MAX_EQ2: [&[&str]; 2] = [&["AC:L/AT:N/"], &["AC:H/AT:N/", "AC:L/AT:P/"]];
/// Indexed by EQ3 then EQ6 (EQ3=2 with EQ6=0 cannot occur).
const MAX_EQ3_EQ6: [[&[&str]; 2]; 3] = [
    [
        &["VC:H/VI:H/VA:H/CR:H/IR:H/AR:H/"],
        &[
            "VC:H/VI:H/VA:L/CR:M/IR:M/AR:H/",
            "VC:H/VI:H/VA:H/CR:M/IR:M/AR:M/",
        ],
    ],
    [
        &[
            "VC:L/VI:H/VA:H/CR:H/IR:H/AR:H/",
            "VC:H/VI:L/VA:H/CR:H/IR:H/AR:H/",
        ],
        &[
            "VC:L/VI:H/VA:L/CR:H/IR:M/AR:H/",
            "VC:L/VI:H/VA:H/CR:H/IR:M/AR:M/",
            "VC:H/VI:L/VA:H/CR:M/IR:H/AR:M/",
            "VC:H/VI:L/VA:L/CR:M/IR:H/AR:H/",
            "VC:L/VI:L/VA:H/CR:H/IR:H/AR:M/",
        ],
    ],
    [&[], &["VC:L/VI:L/VA:L/CR:H/IR:H/AR:H/"]],
];
const MAX_EQ4: [&[&str]; 3] = [
    &["SC:H/SI:S/SA:S/"],
    &["SC:H/SI:H/SA:H/"],
    &["SC:L/SI:L/SA:L/"],
];
const MAX_EQ5: [&[&str]; 3] = [&["E:A/"], &["E:P/"], &["E:U/"]];

/// Depth of each MacroVector in severity steps (`max_severity.js`).
const MAX_SEVERITY_EQ1: [f64; 3] = [1.0, 4.0, 5.0];
const MAX_SEVERITY_EQ2: [f64; 2] = [1.0, 2.0];
const MAX_SEVERITY_EQ3_EQ6: [[f64; 2]; 3] = [[7.0, 6.0], [8.0, 8.0], [f64::NAN, 10.0]];
const MAX_SEVERITY_EQ4: [f64; 3] = [6.0, 5.0, 4.0];

/// The metrics whose severity distance is measured, in the reference calculator's order.
const DISTANCE_METRICS: [&str; 15] = [
    "AV", "PR", "UI", "AC", "AT", "VC", "VI", "VA", "SC", "SI", "SA", "CR", "IR", "AR", "E",
];

/// Severity level of a metric value (`METRIC_LEVELS`); lower is more severe.
fn level(metric: &str, value: &str) -> f64 {
    match (metric, value) {
        ("AV", "N") | ("PR", "N") | ("UI", "N") | ("AC", "L") | ("AT", "N") => 0.0,
        ("AV", "A") | ("PR", "L") | ("UI", "P") | ("AC", "H") | ("AT", "P") => 0.1,
        ("AV", "L") | ("PR", "H") | ("UI", "A") => 0.2,
        ("AV", "P") => 0.3,
        ("VC" | "VI" | "VA", "H") => 0.0,
        ("VC" | "VI" | "VA", "L") => 0.1,
        ("VC" | "VI" | "VA", "N") => 0.2,
        ("SI" | "SA", "S") => 0.0,
        ("SC" | "SI" | "SA", "H") => 0.1,
        ("SC" | "SI" | "SA", "L") => 0.2,
        ("SC" | "SI" | "SA", "N") => 0.3,
        ("CR" | "IR" | "AR", "H") => 0.0,
        ("CR" | "IR" | "AR", "M") => 0.1,
        ("CR" | "IR" | "AR", "L") => 0.2,
        ("E", "A") => 0.0,
        ("E", "P") => 0.1,
        ("E", "U") => 0.2,
        // Unknown pairs behave like the reference's `undefined` level: NaN distances.
        _ => f64::NAN,
    }
}

fn lookup(macro_vector: [u8; 6]) -> Option<f64> {
    let key: String = macro_vector.iter().map(|d| char::from(b'0' + d)).collect();
    LOOKUP
        .binary_search_by(|(k, _)| (*k).cmp(key.as_str()))
        .ok()
        .and_then(|i| LOOKUP.get(i))
        .map(|(_, v)| *v)
}

/// Value of `metric` in a composed max vector (`AV:N/PR:N/.../E:A/`).
fn extract(max_vector: &str, metric: &str) -> &'static str {
    for part in max_vector.split('/') {
        if let Some((k, v)) = part.split_once(':')
            && k == metric
        {
            // Map to 'static values so callers need not juggle lifetimes.
            return match v {
                "N" => "N",
                "A" => "A",
                "L" => "L",
                "P" => "P",
                "H" => "H",
                "M" => "M",
                "S" => "S",
                "U" => "U",
                _ => "?",
            };
        }
    }
    "?"
}

/// A parsed v4 vector that answers effective metric values.
struct Vector<'a> {
    values: Vec<Option<&'a str>>,
}

impl Vector<'_> {
    fn raw(&self, metric: &str) -> &str {
        value_of(DEFS, &self.values, metric).unwrap_or("X")
    }

    /// The value that counts for scoring: worst-case defaults for E/CR/IR/AR, and a modified
    /// (`M…`) environmental metric overriding its base metric.
    fn effective(&self, metric: &str) -> &str {
        let raw = self.raw(metric);
        if raw == "X" {
            match metric {
                "E" => return "A",
                "CR" | "IR" | "AR" => return "H",
                _ => {}
            }
        }
        let modified = match metric {
            "AV" => "MAV",
            "AC" => "MAC",
            "AT" => "MAT",
            "PR" => "MPR",
            "UI" => "MUI",
            "VC" => "MVC",
            "VI" => "MVI",
            "VA" => "MVA",
            "SC" => "MSC",
            "SI" => "MSI",
            "SA" => "MSA",
            _ => return raw,
        };
        match self.raw(modified) {
            "X" => raw,
            m => m,
        }
    }

    fn is(&self, metric: &str, value: &str) -> bool {
        self.effective(metric) == value
    }

    fn macro_vector(&self) -> [u8; 6] {
        let (av_n, pr_n, ui_n) = (self.is("AV", "N"), self.is("PR", "N"), self.is("UI", "N"));
        let eq1 = if av_n && pr_n && ui_n {
            0
        } else if (av_n || pr_n || ui_n) && !self.is("AV", "P") {
            1
        } else {
            2
        };
        let eq2 = if self.is("AC", "L") && self.is("AT", "N") {
            0
        } else {
            1
        };
        let (vc_h, vi_h, va_h) = (self.is("VC", "H"), self.is("VI", "H"), self.is("VA", "H"));
        let eq3 = if vc_h && vi_h {
            0
        } else if vc_h || vi_h || va_h {
            1
        } else {
            2
        };
        // MSI/MSA have no modified form of their own, so their raw value is what counts.
        let eq4 = if self.raw("MSI") == "S" || self.raw("MSA") == "S" {
            0
        } else if self.is("SC", "H") || self.is("SI", "H") || self.is("SA", "H") {
            1
        } else {
            2
        };
        let eq5 = match self.effective("E") {
            "P" => 1,
            "U" => 2,
            _ => 0,
        };
        let eq6 = if (self.is("CR", "H") && vc_h)
            || (self.is("IR", "H") && vi_h)
            || (self.is("AR", "H") && va_h)
        {
            0
        } else {
            1
        };
        [eq1, eq2, eq3, eq4, eq5, eq6]
    }

    fn distances(&self, max_vector: &str) -> [f64; 15] {
        DISTANCE_METRICS.map(|metric| {
            level(metric, self.effective(metric)) - level(metric, extract(max_vector, metric))
        })
    }
}

/// Score of the metrics after `CVSS:4.0/`; `vector` is the whole string, for errors.
pub fn score(body: &str, vector: &str) -> Result<f64, CvssError> {
    let values = parse_metrics(body, DEFS, vector)?;
    Ok(compute(&Vector { values }))
}

fn compute(v: &Vector<'_>) -> f64 {
    const STEP: f64 = 0.1;
    if ["VC", "VI", "VA", "SC", "SI", "SA"]
        .iter()
        .all(|m| v.is(m, "N"))
    {
        return 0.0;
    }
    let mv = v.macro_vector();
    let [eq1, eq2, eq3, eq4, eq5, eq6] = mv;
    // Every reachable MacroVector is in the table; NaN mirrors the reference if not.
    let value = lookup(mv).unwrap_or(f64::NAN);
    let bump = |i: usize| {
        let mut next = mv;
        if let Some(d) = next.get_mut(i) {
            *d += 1;
        }
        lookup(next).unwrap_or(f64::NAN)
    };
    let score_eq1_next = bump(0);
    let score_eq2_next = bump(1);
    let score_eq3eq6_next = match (eq3, eq6) {
        // 00 → 01 or 10: the higher of the two (NaN if either is missing, as Math.max).
        (0, 0) => {
            let (left, right) = (bump(5), bump(2));
            if left.is_nan() || right.is_nan() {
                f64::NAN
            } else {
                left.max(right)
            }
        }
        (1, 1) | (0, 1) => bump(2),
        (1, 0) => bump(5),
        // 21 → 32 does not exist.
        _ => f64::NAN,
    };
    let score_eq4_next = bump(3);
    let score_eq5_next = bump(4);

    let idx = |a: u8| usize::from(a);
    let pick = |table: &[&'static [&'static str]], i: u8| -> &'static [&'static str] {
        table.get(idx(i)).copied().unwrap_or(&[])
    };
    let eq3_maxes: &[&str] = MAX_EQ3_EQ6
        .get(idx(eq3))
        .and_then(|row| row.get(idx(eq6)))
        .copied()
        .unwrap_or(&[]);
    let mut distances = [f64::NAN; 15];
    'search: for a in pick(&MAX_EQ1, eq1) {
        for b in pick(&MAX_EQ2, eq2) {
            for c in eq3_maxes {
                for d in pick(&MAX_EQ4, eq4) {
                    for e in pick(&MAX_EQ5, eq5) {
                        let max_vector = format!("{a}{b}{c}{d}{e}");
                        distances = v.distances(&max_vector);
                        if distances.iter().all(|x| *x >= 0.0) {
                            break 'search;
                        }
                    }
                }
            }
        }
    }
    let [
        d_av,
        d_pr,
        d_ui,
        d_ac,
        d_at,
        d_vc,
        d_vi,
        d_va,
        d_sc,
        d_si,
        d_sa,
        d_cr,
        d_ir,
        d_ar,
        _,
    ] = distances;
    let current_eq1 = d_av + d_pr + d_ui;
    let current_eq2 = d_ac + d_at;
    let current_eq3eq6 = d_vc + d_vi + d_va + d_cr + d_ir + d_ar;
    let current_eq4 = d_sc + d_si + d_sa;

    let max_sev_eq1 = MAX_SEVERITY_EQ1.get(idx(eq1)).copied().unwrap_or(f64::NAN) * STEP;
    let max_sev_eq2 = MAX_SEVERITY_EQ2.get(idx(eq2)).copied().unwrap_or(f64::NAN) * STEP;
    let max_sev_eq3eq6 = MAX_SEVERITY_EQ3_EQ6
        .get(idx(eq3))
        .and_then(|row| row.get(idx(eq6)))
        .copied()
        .unwrap_or(f64::NAN)
        * STEP;
    let max_sev_eq4 = MAX_SEVERITY_EQ4.get(idx(eq4)).copied().unwrap_or(f64::NAN) * STEP;

    let mut n_existing_lower = 0u32;
    let mut proportional = |available: f64, current: f64, max_sev: f64| -> f64 {
        if available.is_nan() {
            0.0
        } else {
            n_existing_lower += 1;
            available * (current / max_sev)
        }
    };
    let n1 = proportional(value - score_eq1_next, current_eq1, max_sev_eq1);
    let n2 = proportional(value - score_eq2_next, current_eq2, max_sev_eq2);
    let n3 = proportional(value - score_eq3eq6_next, current_eq3eq6, max_sev_eq3eq6);
    let n4 = proportional(value - score_eq4_next, current_eq4, max_sev_eq4);
    // EQ5's proportion is always 0: it only counts towards the mean's denominator.
    let n5 = proportional(value - score_eq5_next, 0.0, 1.0);
    let mean = if n_existing_lower == 0 {
        0.0
    } else {
        (n1 + n2 + n3 + n4 + n5) / f64::from(n_existing_lower)
    };
    let result = round1((value - mean).clamp(0.0, 10.0));
    if result.is_nan() { 0.0 } else { result }
}

/// The metric definitions, for property tests elsewhere in the crate.
#[cfg(test)]
pub(crate) const DEFS_FOR_TESTS: &[MetricDef] = DEFS;
