//! VEX documents (OpenVEX, CycloneDX VEX) turned into [`MuteRule`]s.
//!
//! Statements that say a product is not affected (or is fixed) become mutes carrying
//! the statement's justification and provenance; every other statement is reported in
//! [`VexImport::ignored`] with the reason it does not mute. When several statements
//! cover the same (vulnerability, product), the latest (by timestamp, then position)
//! wins and the others are reported as superseded.

pub mod cyclonedx;
pub mod openvex;

use crate::verdict::mute_rule::{Justification, MuteRule, Provenance};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use std::collections::HashMap;

/// Bounds applied to an untrusted VEX document before and while parsing.
#[derive(Debug, Clone, Copy)]
pub struct VexLimits {
    /// Largest document accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest JSON nesting accepted.
    pub max_depth: usize,
    /// Most statements (OpenVEX) or vulnerabilities (CycloneDX) accepted.
    pub max_statements: usize,
}

impl Default for VexLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 64,
            max_statements: 100_000,
        }
    }
}

/// Why a VEX document was rejected.
#[derive(Debug, thiserror::Error)]
pub enum VexError {
    /// The document is larger than [`VexLimits::max_bytes`].
    #[error("VEX document is larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The document nests deeper than [`VexLimits::max_depth`].
    #[error("VEX document nests deeper than {limit} levels")]
    TooDeep {
        /// The depth limit.
        limit: usize,
    },
    /// The JSON is malformed or has the wrong shape.
    #[error("VEX document at {path}: {reason}")]
    Json {
        /// JSON path of the offending value.
        path: String,
        /// The parser's message.
        reason: String,
    },
    /// A value is well-formed JSON but not valid VEX.
    #[error("VEX document at {path}: {problem}")]
    Invalid {
        /// JSON path of the offending value, e.g. `statements[2].status`.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// More statements than [`VexLimits::max_statements`].
    #[error("VEX document has {count} statements, over the limit of {limit}")]
    TooManyStatements {
        /// Statements in the document.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

/// The result of importing one VEX document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VexImport {
    /// The document's own identifier (`@id` or `serialNumber`), if it has one.
    pub document_id: Option<String>,
    /// Mutes from `not_affected` / `fixed` (and CycloneDX equivalents) statements, in
    /// statement order; each carries [`crate::verdict::mute_rule::Provenance::Vex`].
    pub mutes: Vec<MuteRule>,
    /// Statements (or statement × product pairs) that do not mute, with the reason.
    pub ignored: Vec<IgnoredStatement>,
}

/// A statement that produced no mute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredStatement {
    /// Zero-based position of the statement in the document.
    pub statement: usize,
    /// The vulnerability it is about.
    pub vulnerability: String,
    /// The product purl (or reference) it is about, when known.
    pub product: Option<String>,
    /// Why it does not mute.
    pub reason: String,
}

/// Checks size and depth on the raw bytes, then deserializes with JSON paths in errors.
/// Reads an OpenVEX or CycloneDX VEX document, whichever `bytes` is; `name` is the
/// document's name in provenance when it has no id of its own.
pub fn parse_any(bytes: &[u8], name: &str, limits: &VexLimits) -> Result<VexImport, VexError> {
    /// Just the keys that tell the formats apart.
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "@context")]
        context: Option<serde::de::IgnoredAny>,
        #[serde(rename = "bomFormat")]
        bom_format: Option<String>,
    }
    let probe: Probe = parse_json(bytes, limits)?;
    match (probe.context.is_some(), probe.bom_format.as_deref()) {
        (_, Some("CycloneDX")) => cyclonedx::parse(bytes, name, limits),
        (true, _) => openvex::parse(bytes, name, limits),
        _ => Err(VexError::Invalid {
            path: ".".to_owned(),
            problem: "neither an OpenVEX document (@context) nor CycloneDX (bomFormat)".to_owned(),
        }),
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(
    bytes: &[u8],
    limits: &VexLimits,
) -> Result<T, VexError> {
    if bytes.len() > limits.max_bytes {
        return Err(VexError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    // Our limit, not serde_json's recursion guard, decides what is too deep.
    if crate::json_depth::exceeds(bytes, limits.max_depth) {
        return Err(VexError::TooDeep {
            limit: limits.max_depth,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| VexError::Json {
        path: e.path().to_string(),
        reason: e.inner().to_string(),
    })?;
    de.end().map_err(|e| VexError::Json {
        path: ".".to_owned(),
        reason: e.to_string(),
    })?;
    Ok(value)
}

/// Parses an optional RFC 3339 timestamp, naming `path` on failure.
pub(crate) fn parse_timestamp(
    text: Option<&str>,
    path: impl FnOnce() -> String,
) -> Result<Option<DateTime<Utc>>, VexError> {
    match text {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| VexError::Invalid {
                path: path(),
                problem: format!("{text:?} is not an RFC 3339 timestamp: {e}"),
            }),
    }
}

/// A purl as a [`crate::policy::mute::PurlGlob`] pattern matching exactly that
/// package: glob metacharacters are escaped, and a purl without qualifiers also
/// matches installed purls that carry qualifiers or a subpath.
pub fn purl_pattern(purl: &str) -> String {
    let purl = purl.trim();
    let escape = |c: char, out: &mut String| {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\' | ',') {
            out.push('\\');
        }
        out.push(c);
    };
    let mut out = String::with_capacity(purl.len() + 16);
    let mut chars: Vec<char> = purl.chars().collect();
    // globset has no empty alternative, so "optionally qualifiers" is spelled by
    // repeating the last character: `…@1` becomes `…@{1,1[?#]*}`.
    let last = if purl.contains(['?', '#']) {
        None
    } else {
        chars.pop()
    };
    for c in chars {
        escape(c, &mut out);
    }
    if let Some(c) = last {
        let mut one = String::new();
        escape(c, &mut one);
        out.push('{');
        out.push_str(&one);
        out.push(',');
        out.push_str(&one);
        out.push_str("[?#]*}");
    }
    out
}

/// One (vulnerability, product) claim before overrides are resolved.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    pub statement: usize,
    pub vulnerability: String,
    pub product: String,
    pub timestamp: Option<DateTime<Utc>>,
    /// `Ok(rules)` mutes (one rule per id and alias); `Err(reason)` is reported as ignored.
    pub outcome: Result<Vec<MuteRule>, String>,
}

/// Keeps the latest claim per (vulnerability, product): latest timestamp, then latest
/// position; undated claims count as older than dated ones. Output is in statement order.
pub(crate) fn resolve(claims: Vec<Claim>, document_id: Option<String>) -> VexImport {
    let mut winner: HashMap<(String, String), usize> = HashMap::new();
    for (i, claim) in claims.iter().enumerate() {
        let key = (
            claim.vulnerability.to_ascii_lowercase(),
            claim.product.clone(),
        );
        let newer = match winner.get(&key).and_then(|&w| claims.get(w)) {
            None => true,
            Some(best) => (claim.timestamp, claim.statement) >= (best.timestamp, best.statement),
        };
        if newer {
            winner.insert(key, i);
        }
    }
    let mut import = VexImport {
        document_id,
        ..VexImport::default()
    };
    for (i, claim) in claims.iter().enumerate() {
        let key = (
            claim.vulnerability.to_ascii_lowercase(),
            claim.product.clone(),
        );
        let won = winner.get(&key).copied();
        if won != Some(i) {
            let by = won.and_then(|w| claims.get(w)).map_or(0, |w| w.statement);
            import.ignored.push(IgnoredStatement {
                statement: claim.statement,
                vulnerability: claim.vulnerability.clone(),
                product: Some(claim.product.clone()),
                reason: format!("superseded by statement {by}"),
            });
            continue;
        }
        match &claim.outcome {
            Ok(rules) => import.mutes.extend(rules.iter().cloned()),
            Err(reason) => import.ignored.push(IgnoredStatement {
                statement: claim.statement,
                vulnerability: claim.vulnerability.clone(),
                product: Some(claim.product.clone()),
                reason: reason.clone(),
            }),
        }
    }
    import
}

/// One mute per vulnerability id and alias (first spelling kept, case ignored), so a
/// finding known by any of them is covered; `ids` starts with the statement's own id.
pub(crate) fn mutes<'a>(
    ids: impl IntoIterator<Item = &'a str>,
    purl: &str,
    justification: Option<Justification>,
    reason: &str,
    author: Option<&str>,
    document: &str,
    statement: usize,
) -> Vec<MuteRule> {
    let mut unique: Vec<&str> = Vec::new();
    for id in ids.into_iter().map(str::trim).filter(|i| !i.is_empty()) {
        if !unique.iter().any(|known| known.eq_ignore_ascii_case(id)) {
            unique.push(id);
        }
    }
    unique
        .into_iter()
        .map(|id| MuteRule {
            id: id.to_owned(),
            purl: Some(purl_pattern(purl)),
            justification,
            reason: Some(reason.to_owned()),
            author: author.map(str::to_owned),
            provenance: Some(Provenance::Vex {
                document: document.to_owned(),
                statement,
            }),
            ..MuteRule::default()
        })
        .collect()
}
