//! CycloneDX 1.4–1.6 VEX (the `vulnerabilities[]` of a BOM).
//!
//! `analysis.state` `not_affected`, `false_positive` and `resolved` become mutes for
//! every `affects[].ref` that resolves to a purl (directly, through a component's
//! `bom-ref`, or through a BOM-Link fragment); other states are reported as ignored.
//! CycloneDX justifications are mapped to the nearest VEX justification and the
//! original name is kept in the reason.

use super::{Claim, VexError, VexImport, VexLimits, mutes, parse_json, parse_timestamp, resolve};
use crate::verdict::mute_rule::Justification;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    bom_format: String,
    spec_version: String,
    #[serde(default)]
    serial_number: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    components: Vec<Component>,
    #[serde(default)]
    vulnerabilities: Vec<Vulnerability>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    component: Option<Component>,
}

#[derive(Debug, Deserialize)]
struct Component {
    #[serde(rename = "bom-ref", default)]
    bom_ref: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Debug, Deserialize)]
struct Vulnerability {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
    #[serde(default)]
    analysis: Option<Analysis>,
    #[serde(default)]
    affects: Vec<Affects>,
    #[serde(default)]
    updated: Option<String>,
    #[serde(default)]
    published: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Reference {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Analysis {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Affects {
    #[serde(rename = "ref")]
    reference: String,
}

/// The nearest VEX justification for a CycloneDX `analysis.justification`.
pub fn map_justification(cyclonedx: &str) -> Option<Justification> {
    Some(match cyclonedx {
        "code_not_present" => Justification::VulnerableCodeNotPresent,
        "code_not_reachable" => Justification::VulnerableCodeNotInExecutePath,
        // The vulnerable path needs a setting, dependency or environment that is absent:
        // a missing dependency is a missing component, the other two keep the code off
        // the execute path.
        "requires_configuration" | "requires_environment" => {
            Justification::VulnerableCodeNotInExecutePath
        }
        "requires_dependency" => Justification::ComponentNotPresent,
        "protected_by_compiler"
        | "protected_at_runtime"
        | "protected_at_perimeter"
        | "protected_by_mitigating_control" => Justification::InlineMitigationsAlreadyExist,
        _ => return None,
    })
}

fn collect_refs<'a>(components: &'a [Component], refs: &mut HashMap<&'a str, &'a str>) {
    for component in components {
        if let (Some(bom_ref), Some(purl)) =
            (component.bom_ref.as_deref(), component.purl.as_deref())
        {
            refs.insert(bom_ref, purl);
        }
        // Recursion depth is bounded by the JSON depth limit checked before parsing.
        collect_refs(&component.components, refs);
    }
}

/// Parses a CycloneDX BOM or standalone VEX document; `name` (e.g. the file it came
/// from) is recorded as the provenance of every mute.
pub fn parse(bytes: &[u8], name: &str, limits: &VexLimits) -> Result<VexImport, VexError> {
    let bom: Bom = parse_json(bytes, limits)?;
    if bom.bom_format != "CycloneDX" {
        return Err(VexError::Invalid {
            path: "bomFormat".to_owned(),
            problem: format!("{:?} is not \"CycloneDX\"", bom.bom_format),
        });
    }
    if !matches!(bom.spec_version.as_str(), "1.4" | "1.5" | "1.6") {
        return Err(VexError::Invalid {
            path: "specVersion".to_owned(),
            problem: format!(
                "unsupported CycloneDX version {:?} (1.4 to 1.6)",
                bom.spec_version
            ),
        });
    }
    if bom.vulnerabilities.len() > limits.max_statements {
        return Err(VexError::TooManyStatements {
            count: bom.vulnerabilities.len(),
            limit: limits.max_statements,
        });
    }
    let mut refs = HashMap::new();
    if let Some(component) = bom.metadata.as_ref().and_then(|m| m.component.as_ref()) {
        collect_refs(std::slice::from_ref(component), &mut refs);
    }
    collect_refs(&bom.components, &mut refs);

    let mut claims = Vec::new();
    for (index, vulnerability) in bom.vulnerabilities.iter().enumerate() {
        let at = |field: &str| format!("vulnerabilities[{index}].{field}");
        let id = vulnerability
            .id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| VexError::Invalid {
                path: at("id"),
                problem: "missing or empty".to_owned(),
            })?;
        let timestamp = parse_timestamp(
            vulnerability
                .updated
                .as_deref()
                .or(vulnerability.published.as_deref()),
            || {
                at(if vulnerability.updated.is_some() {
                    "updated"
                } else {
                    "published"
                })
            },
        )?;
        let analysis = vulnerability.analysis.as_ref();
        let state = analysis.and_then(|a| a.state.as_deref());
        let muting = match state {
            Some("not_affected" | "false_positive" | "resolved") => true,
            Some("exploitable" | "in_triage" | "resolved_with_pedigree") | None => false,
            Some(other) => {
                return Err(VexError::Invalid {
                    path: at("analysis.state"),
                    problem: format!("unknown state {other:?}"),
                });
            }
        };
        let cdx_justification = analysis.and_then(|a| a.justification.as_deref());
        let justification = match cdx_justification {
            None => None,
            Some(text) => Some(map_justification(text).ok_or_else(|| VexError::Invalid {
                path: at("analysis.justification"),
                problem: format!("unknown justification {text:?}"),
            })?),
        };
        if vulnerability.affects.is_empty() {
            return Err(VexError::Invalid {
                path: at("affects"),
                problem: "a VEX vulnerability needs at least one affects entry".to_owned(),
            });
        }
        let state_text = state.unwrap_or("(no analysis)");
        let mut reason = format!("CycloneDX VEX: {state_text}");
        if let Some(original) = cdx_justification {
            reason.push_str(&format!(", justification {original}"));
        }
        if let Some(detail) = analysis.and_then(|a| a.detail.as_deref()) {
            reason.push_str(&format!(": {detail}"));
        }
        for affects in &vulnerability.affects {
            let reference = affects.reference.trim();
            let purl = resolve_ref(reference, &refs);
            let outcome = match (muting, purl) {
                (false, _) => Err(format!("state {state_text} does not mute")),
                (true, None) => Err(format!(
                    "affects ref {reference:?} does not resolve to a purl"
                )),
                (true, Some(purl)) => Ok(mutes(
                    std::iter::once(id)
                        .chain(vulnerability.references.iter().map(|r| r.id.as_str())),
                    purl,
                    justification,
                    &reason,
                    None,
                    name,
                    index,
                )),
            };
            claims.push(Claim {
                statement: index,
                vulnerability: id.to_owned(),
                product: purl.unwrap_or(reference).to_owned(),
                timestamp,
                outcome,
            });
        }
    }
    Ok(resolve(claims, bom.serial_number))
}

/// A purl for an `affects[].ref`: a purl itself, a component's `bom-ref`, or a
/// BOM-Link (`urn:cdx:serial/version#bom-ref`) whose fragment is a local `bom-ref`.
fn resolve_ref<'a>(reference: &'a str, refs: &HashMap<&'a str, &'a str>) -> Option<&'a str> {
    if let Some(purl) = refs.get(reference) {
        return Some(*purl);
    }
    if reference.starts_with("pkg:") {
        return Some(reference);
    }
    let fragment = reference.strip_prefix("urn:cdx:")?.split_once('#')?.1;
    refs.get(fragment).copied()
}
