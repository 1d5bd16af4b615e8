//! The mute rule as written and as reported: a verdict names the rule that muted each
//! muted finding, so the rule's shape belongs with the verdict types; policy compiles
//! and applies it (`policy::mute`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a vulnerability does not affect a product, in VEX (OpenVEX / CSAF) terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Justification {
    /// The vulnerable component is not in the product.
    ComponentNotPresent,
    /// The component is present but not the vulnerable code.
    VulnerableCodeNotPresent,
    /// The vulnerable code cannot be executed.
    VulnerableCodeNotInExecutePath,
    /// The vulnerable code cannot be reached with attacker-controlled input.
    VulnerableCodeCannotBeControlledByAdversary,
    /// Mitigations in the product already prevent exploitation.
    InlineMitigationsAlreadyExist,
}

impl Justification {
    /// The VEX spelling, e.g. `component_not_present`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ComponentNotPresent => "component_not_present",
            Self::VulnerableCodeNotPresent => "vulnerable_code_not_present",
            Self::VulnerableCodeNotInExecutePath => "vulnerable_code_not_in_execute_path",
            Self::VulnerableCodeCannotBeControlledByAdversary => {
                "vulnerable_code_cannot_be_controlled_by_adversary"
            }
            Self::InlineMitigationsAlreadyExist => "inline_mitigations_already_exist",
        }
    }

    /// Parses the VEX spelling.
    pub fn from_vex(text: &str) -> Option<Self> {
        [
            Self::ComponentNotPresent,
            Self::VulnerableCodeNotPresent,
            Self::VulnerableCodeNotInExecutePath,
            Self::VulnerableCodeCannotBeControlledByAdversary,
            Self::InlineMitigationsAlreadyExist,
        ]
        .into_iter()
        .find(|j| j.as_str() == text)
    }
}

/// Where a mute rule came from, so a muted finding can be traced to its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Provenance {
    /// A rule written in a policy file (or a MuteRule resource).
    #[serde(rename_all = "camelCase")]
    File {
        /// The file or resource name.
        path: String,
        /// Zero-based position of the rule in it.
        index: usize,
    },
    /// A statement of a VEX document.
    #[serde(rename_all = "camelCase")]
    Vex {
        /// The document's name (its `@id`/serial number or the file it was read from).
        document: String,
        /// Zero-based position of the statement (OpenVEX `statements[]`, CycloneDX
        /// `vulnerabilities[]`).
        statement: usize,
    },
}

/// One mute rule, as written (the MuteRule resource carries this spec unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MuteRule {
    /// Advisory id or alias; matched against a finding's id and aliases, ignoring ASCII case.
    pub id: String,
    /// Glob over the finding's purl (with or without its version), `*` crossing `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
    /// Globs over the image reference or digest; empty means every image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Globs over the namespace; empty means every namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// RFC 3339 instant, or a date meaning the end of that day UTC, after which the
    /// rule no longer mutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Why the finding does not apply, in VEX terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<Justification>,
    /// Free-text reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who wrote or approved the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Where the rule came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}
