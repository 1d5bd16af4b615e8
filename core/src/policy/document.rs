//! The policy document as written in YAML (and embedded unchanged as the spec of the
//! ScanPolicy resource): ordered rules with actions, a default action, mute rules and
//! optional Rego modules.
//!
//! These types only describe and parse; [`super::compiled`] checks and compiles them.
//! The JSON Schema ([`json_schema`]) is generated from these types, so the schema and
//! the parser cannot drift apart.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::verdict::Action;
use crate::verdict::mute_rule::MuteRule;
// Rules are written in terms of the action a verdict reports.
use super::rego::RegoModule;
use crate::advisory::Severity;

/// The schema versions this build reads.
pub const SCHEMA_VERSIONS: [u32; 1] = [1];

/// Largest policy document read, in bytes.
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// Deepest YAML nesting accepted in a policy document.
const MAX_POLICY_DEPTH: usize = 32;

/// A scan policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "StellaOps scan policy")]
pub struct PolicyDocument {
    /// Version of this document's layout; `1` is the only one so far.
    pub schema_version: u32,
    /// Name of the policy, reported in every verdict.
    pub name: String,
    /// The policy's own revision (free text, e.g. a date or a Git tag), reported in verdicts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What the policy is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Action for a finding that no rule matches.
    #[serde(default = "default_action")]
    pub default_action: Action,
    /// Rules, in order: the first rule that matches a finding decides its action.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Findings that were reviewed and are not acted on; applied before the rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mutes: Vec<MuteRule>,
    /// Rego modules evaluated over the whole scan after the rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rego: Option<RegoSection>,
}

fn default_action() -> Action {
    Action::Warn
}

/// One rule: conditions and the action taken on findings that meet all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// Unique name, reported when the rule fires.
    pub name: String,
    /// What to do with a matching finding.
    pub action: Action,
    /// Why, in words a developer reading the verdict understands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Conditions; all must hold. An empty match matches every finding.
    #[serde(default, rename = "match")]
    pub conditions: Conditions,
}

/// The conditions of a rule. Each list field holds alternatives (any may match); the
/// fields are combined with AND. A condition on data a finding or scan lacks (no CVSS
/// score, no publication date, no namespace) does not match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Conditions {
    /// Severities that match, e.g. `[critical, high]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    /// Lowest matching severity (`unknown < low < medium < high < critical`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    /// Range of the CVSS base score (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<ScoreRange>,
    /// `true`: a fixed version is known; `false`: none is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix_available: Option<bool>,
    /// Age of the advisory (days since it was first published).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<AgeRange>,
    /// Globs over the package URL, with or without its version (`pkg:npm/lodash*`,
    /// `pkg:deb/debian/openssl@*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// Globs over the package URL type: `deb`, `apk`, `rpm`, `npm`, `pypi`, `maven`,
    /// `golang`, `cargo`, `gem`, `nuget`, `composer`, ….
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ecosystems: Vec<String>,
    /// Globs over the advisory id and its aliases, ignoring ASCII case (`CVE-2024-*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// Globs over the image reference (`registry.example/prod/*`); `*` crosses `/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Globs over the image digest (`sha256:…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digests: Vec<String>,
    /// Globs over the Kubernetes namespace name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Selector over the namespace's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Selector over the workload's (Pod's) labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// `true`: the vulnerability is in the loaded CISA KEV catalog; `false`: it is not.
    /// A policy using this needs a KEV catalog at evaluation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kev: Option<bool>,
}

/// An inclusive range of CVSS base scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScoreRange {
    /// Lowest matching score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 10.0))]
    pub min: Option<f64>,
    /// Highest matching score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 10.0))]
    pub max: Option<f64>,
}

/// An inclusive range of advisory ages in whole days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgeRange {
    /// Published at least this many days ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least_days: Option<u32>,
    /// Published at most this many days ago.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most_days: Option<u32>,
}

/// A Kubernetes label selector (`matchLabels` and `matchExpressions`, ANDed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must be present with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelRequirement>,
}

/// One set-based label requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelRequirement {
    /// Label key.
    pub key: String,
    /// How the label's value is tested.
    pub operator: LabelOperator,
    /// Values for `In` and `NotIn`; must be empty for `Exists` and `DoesNotExist`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Operators of [`LabelRequirement`], spelled as in Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum LabelOperator {
    /// The label is present with one of the values.
    In,
    /// The label is absent, or present with none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// Rego modules and how their result is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegoSection {
    /// Package whose `deny` and `warn` sets are read (`stella` reads `data.stella.deny`).
    #[serde(default = "default_rego_package")]
    pub package: String,
    /// The modules.
    #[schemars(with = "Vec<RegoModuleSchema>")]
    pub modules: Vec<RegoModule>,
    /// Verdict when the modules fail or exceed their budget: `fail` (the default:
    /// fail closed), `warn`, or `ignore` (the Rego result is dropped).
    #[serde(default = "default_rego_fallback")]
    pub on_error: Action,
    /// Evaluation time budget in milliseconds (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub timeout_ms: Option<u64>,
}

/// The schema of [`RegoModule`] (defined in [`super::rego`] without a schema derive).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)] // only its schema is used
struct RegoModuleSchema {
    /// File-like name of the module, used in error messages (`deny-root.rego`).
    name: String,
    /// The Rego source.
    source: String,
}

fn default_rego_package() -> String {
    "stella".to_owned()
}

fn default_rego_fallback() -> Action {
    Action::Fail
}

/// Why a policy document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Larger than [`MAX_POLICY_BYTES`].
    #[error("policy is {size} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not valid YAML, or a field has the wrong type or name.
    #[error("line {line}: {path}: {reason}")]
    Syntax {
        /// 1-based line, 0 when unknown.
        line: usize,
        /// Field path, e.g. `rules[1].match.severity[0]` (`.` for the document).
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl PolicyDocument {
    /// Parses a YAML (or JSON, which is YAML) policy document. Semantic checks (unique
    /// names, valid globs and selectors) are done by [`super::compiled::CompiledPolicy::compile`].
    pub fn from_yaml(text: &str) -> Result<Self, DocumentError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(DocumentError::TooLarge {
                size: text.len(),
                max: MAX_POLICY_BYTES,
            });
        }
        let options = crate::advisory::osv::strict_yaml_options(MAX_POLICY_DEPTH, MAX_POLICY_BYTES);
        let mut path: Option<String> = None;
        serde_saphyr::with_deserializer_from_slice_with_options(text.as_bytes(), options, |de| {
            serde_path_to_error::deserialize::<_, PolicyDocument>(de).map_err(|e| {
                path = Some(e.path().to_string());
                e.into_inner()
            })
        })
        .map_err(|e| DocumentError::Syntax {
            line: e
                .location()
                .map_or(0, |l| usize::try_from(l.line()).unwrap_or(usize::MAX)),
            path: path.unwrap_or_else(|| ".".to_owned()),
            reason: first_line(&e.to_string()),
        })
    }

    /// Canonical JSON of the document: the input of the policy digest, so reformatting
    /// the YAML or reordering keys does not change the digest.
    pub fn canonical_json(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        crate::advisory::canonical::canonical_json(&value)
    }
}

/// serde-saphyr errors carry a source snippet after the first line; the path and line
/// are reported separately, so keep the message short.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or(text).trim().to_owned()
}

/// The JSON Schema (draft 2020-12) of [`PolicyDocument`], pretty-printed.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(PolicyDocument);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
