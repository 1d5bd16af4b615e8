//! SARIF 2.1.0 output for code-scanning dashboards (GitHub, GitLab, Azure DevOps).
//!
//! One run; one rule per vulnerability id; one result per kept finding. Every
//! result points at the SBOM file (`report.sbom.path`, line 1, as there is no
//! finer location) and names the component's purl as a logical location.
//! `partialFingerprints["stellaFinding/v1"]` is SHA-256 of `id`, a newline and the
//! purl, so a finding keeps its identity across scans.

use super::table::severity_name;
use super::{ScanReport, finding_order};
use crate::advisory::Severity;
use crate::matcher::Finding;
use crate::verdict::DecidedFinding;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The `$schema` written into every log.
pub const SARIF_SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// The SARIF version written.
pub const SARIF_VERSION: &str = "2.1.0";
/// Key of the stable per-(id, purl) fingerprint.
pub const FINGERPRINT_KEY: &str = "stellaFinding/v1";
/// Where the tool is documented.
pub const INFORMATION_URI: &str = env!("CARGO_PKG_REPOSITORY");

#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run; 1],
}

#[derive(Serialize)]
struct Run {
    tool: Tool,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: String,
    version: String,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    short_description: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_description: Option<Message>,
    help_uri: String,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties {
    #[serde(rename = "security-severity", skip_serializing_if = "Option::is_none")]
    security_severity: Option<String>,
    tags: Vec<String>,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: String,
    rule_index: usize,
    level: &'static str,
    message: Message,
    locations: Vec<Location>,
    partial_fingerprints: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<PhysicalLocation>,
    logical_locations: Vec<LogicalLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    fully_qualified_name: String,
    kind: &'static str,
}

/// SARIF `level` for a severity: error for critical/high, warning for medium,
/// note for low and unknown.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// Stable fingerprint of a (vulnerability id, purl) pair: hex SHA-256.
pub fn fingerprint(id: &str, purl: &str) -> String {
    let digest = Sha256::new()
        .chain_update(id.as_bytes())
        .chain_update(b"\n")
        .chain_update(purl.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes everything but RFC 3986 unreserved characters and the bytes in `keep`.
fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A file path as a relative-or-absolute URI reference (`\` becomes `/`).
fn path_to_uri(path: &str) -> String {
    percent_encode(&path.replace('\\', "/"), b"/")
}

/// `security-severity`: the CVSS base score with one decimal, or a value inside
/// the GitHub band of the qualitative severity when no score is known.
fn security_severity(cvss: Option<f64>, severity: Severity) -> Option<String> {
    if let Some(score) = cvss.filter(|s| s.is_finite() && (0.0..=10.0).contains(s)) {
        return Some(format!("{score:.1}"));
    }
    let fallback = match severity {
        Severity::Critical => "9.0",
        Severity::High => "7.0",
        Severity::Medium => "4.0",
        Severity::Low => "0.1",
        Severity::Unknown => return None,
    };
    Some(fallback.to_owned())
}

fn message(f: &Finding) -> String {
    let fix = if f.fixed_versions.is_empty() {
        "No fixed version is known.".to_owned()
    } else {
        format!("Fixed in {}.", f.fixed_versions.join(", "))
    };
    let mut text = format!(
        "{} {} is affected by {} ({}). {}",
        f.package_name,
        f.installed_version,
        f.id,
        severity_name(f.severity),
        fix
    );
    if let Some(summary) = f.summary.as_deref().filter(|s| !s.trim().is_empty()) {
        text.push(' ');
        text.push_str(summary.trim());
    }
    text
}

/// Aggregate of every finding of one vulnerability id.
struct RuleFacts<'a> {
    severity: Severity,
    score: Option<f64>,
    summary: Option<&'a str>,
    aliases: Vec<&'a str>,
}

/// The report as a SARIF 2.1.0 log (pretty-printed JSON).
pub fn to_sarif(report: &ScanReport) -> String {
    let mut decided: Vec<&DecidedFinding> = report.findings.iter().collect();
    decided.sort_by(|a, b| finding_order(&a.finding, &b.finding));
    let findings: Vec<&Finding> = decided.iter().map(|d| &d.finding).collect();

    let mut facts: BTreeMap<&str, RuleFacts<'_>> = BTreeMap::new();
    for f in &findings {
        let entry = facts.entry(f.id.as_str()).or_insert(RuleFacts {
            severity: f.severity,
            score: None,
            summary: None,
            aliases: Vec::new(),
        });
        entry.severity = entry.severity.max(f.severity);
        if let Some(score) = f.cvss.as_ref().map(|c| c.score).filter(|s| s.is_finite()) {
            entry.score = Some(entry.score.map_or(score, |old: f64| old.max(score)));
        }
        if entry.summary.is_none() {
            entry.summary = f.summary.as_deref().filter(|s| !s.trim().is_empty());
        }
        entry.aliases.extend(f.aliases.iter().map(String::as_str));
    }

    let rule_index: BTreeMap<&str, usize> =
        facts.keys().enumerate().map(|(i, id)| (*id, i)).collect();
    let rules = facts
        .iter()
        .map(|(id, facts)| {
            let mut aliases = facts.aliases.clone();
            aliases.sort_unstable();
            aliases.dedup();
            let full = if aliases.is_empty() {
                None
            } else {
                Some(Message {
                    text: format!("{id}, also known as {}.", aliases.join(", ")),
                })
            };
            Rule {
                id: (*id).to_owned(),
                short_description: Message {
                    text: facts
                        .summary
                        .map_or_else(|| (*id).to_owned(), str::to_owned),
                },
                full_description: full,
                help_uri: format!("https://osv.dev/vulnerability/{}", percent_encode(id, b"")),
                default_configuration: Configuration {
                    level: level(facts.severity),
                },
                properties: RuleProperties {
                    security_severity: security_severity(facts.score, facts.severity),
                    tags: vec![
                        "security".to_owned(),
                        "vulnerability".to_owned(),
                        severity_name(facts.severity).to_owned(),
                    ],
                },
            }
        })
        .collect();

    let artifact_uri = report.sbom.path.as_deref().map(path_to_uri);
    let results = decided
        .iter()
        .map(|d| (&d.finding, d))
        .map(|(f, d)| SarifResult {
            rule_id: f.id.clone(),
            rule_index: rule_index.get(f.id.as_str()).copied().unwrap_or(0),
            level: level(f.severity),
            message: Message {
                text: format!(
                    "{} Policy: {} (rule {}: {}).",
                    message(f),
                    d.action.as_str(),
                    d.rule,
                    d.reason
                ),
            },
            locations: vec![Location {
                physical_location: artifact_uri.as_ref().map(|uri| PhysicalLocation {
                    artifact_location: ArtifactLocation { uri: uri.clone() },
                    region: Region { start_line: 1 },
                }),
                logical_locations: vec![LogicalLocation {
                    fully_qualified_name: f.purl.clone(),
                    kind: "package",
                }],
            }],
            partial_fingerprints: BTreeMap::from([(FINGERPRINT_KEY, fingerprint(&f.id, &f.purl))]),
        })
        .collect();

    let log = Log {
        schema: SARIF_SCHEMA_URI,
        version: SARIF_VERSION,
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: report.tool.name.clone(),
                    version: report.tool.version.clone(),
                    information_uri: INFORMATION_URI,
                    rules,
                },
            },
            results,
        }],
    };
    // As in `to_json`: plain structs with string keys cannot fail to serialise.
    serde_json::to_string_pretty(&log).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot serialise SARIF: {e}") }).to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::policy::generated::VerdictConfig;
    use serde_json::Value;

    fn sample() -> ScanReport {
        let mut a = finding("CVE-2024-1", "attrs", "21.0", Severity::Critical, &["22.0"]);
        a.cvss = cvss(9.8);
        a.aliases = vec!["GHSA-aaaa-bbbb-cccc".into()];
        let mut b = finding("CVE-2024-1", "attrs", "20.0", Severity::High, &["22.0"]);
        b.purl = "pkg:pypi/attrs@20.0".into();
        b.cvss = cvss(7.5);
        let c = finding("CVE-2024-2", "idna", "3.0", Severity::Medium, &[]);
        let d = finding(
            "GHSA-xxxx-yyyy-zzzz",
            "zlib",
            "1.0",
            Severity::Low,
            &["1.1"],
        );
        let e = finding("OSV-2024-5", "ujson", "5.0", Severity::Unknown, &[]);
        report(vec![e, d, c, b, a], &VerdictConfig::default())
    }

    fn parsed(report: &ScanReport) -> Value {
        serde_json::from_str(&to_sarif(report)).unwrap()
    }

    #[test]
    fn log_header_and_driver() {
        let log = parsed(&sample());
        assert_eq!(log["$schema"], SARIF_SCHEMA_URI);
        assert_eq!(log["version"], "2.1.0");
        assert_eq!(log["runs"].as_array().unwrap().len(), 1);
        let driver = &log["runs"][0]["tool"]["driver"];
        assert_eq!(driver["name"], "stella");
        assert_eq!(driver["version"], "0.1.0");
        assert!(
            driver["informationUri"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
    }

    #[test]
    fn one_rule_per_id_with_max_severity_and_score() {
        let log = parsed(&sample());
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                "CVE-2024-1",
                "CVE-2024-2",
                "GHSA-xxxx-yyyy-zzzz",
                "OSV-2024-5"
            ]
        );
        let first = &rules[0];
        assert_eq!(first["properties"]["security-severity"], "9.8");
        assert_eq!(first["defaultConfiguration"]["level"], "error");
        assert_eq!(
            first["properties"]["tags"],
            serde_json::json!(["security", "vulnerability", "critical"])
        );
        assert_eq!(first["helpUri"], "https://osv.dev/vulnerability/CVE-2024-1");
        assert_eq!(
            first["shortDescription"]["text"],
            "attrs is vulnerable to CVE-2024-1"
        );
        assert!(
            first["fullDescription"]["text"]
                .as_str()
                .unwrap()
                .contains("GHSA-aaaa-bbbb-cccc")
        );
        // No CVSS: falls back inside the severity band; unknown has none.
        assert_eq!(rules[1]["properties"]["security-severity"], "4.0");
        assert_eq!(rules[2]["properties"]["security-severity"], "0.1");
        assert!(rules[3]["properties"].get("security-severity").is_none());
    }

    #[test]
    fn results_levels_locations_and_rule_indexes() {
        let log = parsed(&sample());
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 5);
        let levels: Vec<&str> = results
            .iter()
            .map(|r| r["level"].as_str().unwrap())
            .collect();
        assert_eq!(levels, ["error", "error", "warning", "note", "note"]);
        for r in results {
            let index = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[index]["id"], r["ruleId"]);
            let loc = &r["locations"][0];
            assert_eq!(
                loc["physicalLocation"]["artifactLocation"]["uri"],
                "sboms/app%20bom.json"
            );
            assert_eq!(loc["physicalLocation"]["region"]["startLine"], 1);
            let purl = loc["logicalLocations"][0]["fullyQualifiedName"]
                .as_str()
                .unwrap();
            assert!(purl.starts_with("pkg:pypi/"));
            assert_eq!(
                r["partialFingerprints"][FINGERPRINT_KEY],
                fingerprint(r["ruleId"].as_str().unwrap(), purl)
            );
        }
        assert_eq!(
            results[0]["message"]["text"],
            "attrs 21.0 is affected by CVE-2024-1 (critical). Fixed in 22.0. attrs is vulnerable to CVE-2024-1 Policy: warn (rule (default): no rule matched: the policy's default action)."
        );
        assert!(
            results[2]["message"]["text"]
                .as_str()
                .unwrap()
                .contains("No fixed version is known.")
        );
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let a = fingerprint("CVE-1", "pkg:pypi/a@1");
        assert_eq!(a, fingerprint("CVE-1", "pkg:pypi/a@1"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, fingerprint("CVE-1", "pkg:pypi/a@2"));
        assert_ne!(a, fingerprint("CVE-2", "pkg:pypi/a@1"));
        // The separator keeps (id, purl) pairs from colliding by concatenation.
        assert_ne!(fingerprint("ab", "c"), fingerprint("a", "bc"));
    }

    #[test]
    fn deterministic_and_order_independent() {
        let one = to_sarif(&sample());
        assert_eq!(one, to_sarif(&sample()));
        let mut shuffled = sample();
        shuffled.findings.reverse();
        assert_eq!(one, to_sarif(&shuffled));
    }

    #[test]
    fn without_sbom_path_only_logical_locations() {
        let mut r = sample();
        r.sbom.path = None;
        let log = parsed(&r);
        let loc = &log["runs"][0]["results"][0]["locations"][0];
        assert!(loc.get("physicalLocation").is_none());
        assert_eq!(loc["logicalLocations"][0]["kind"], "package");
    }

    #[test]
    fn uri_encoding() {
        assert_eq!(path_to_uri("bom.json"), "bom.json");
        assert_eq!(path_to_uri("./out/bom.cdx.json"), "./out/bom.cdx.json");
        assert_eq!(
            path_to_uri("/tmp/a b/bom#1.json"),
            "/tmp/a%20b/bom%231.json"
        );
        assert_eq!(path_to_uri("C:\\sboms\\bom.json"), "C%3A/sboms/bom.json");
        assert_eq!(path_to_uri("é.json"), "%C3%A9.json");
    }

    #[test]
    fn empty_report_is_a_valid_log_with_no_results() {
        let log = parsed(&report(vec![], &VerdictConfig::default()));
        assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
        assert_eq!(
            log["runs"][0]["tool"]["driver"]["rules"],
            serde_json::json!([])
        );
    }
}
