//! A checked, compiled policy, identified by the digest of its canonical form, and a
//! cache so a policy evaluated many times (the admission webhook) is compiled once.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use std::time::Duration;

use super::document::{DocumentError, PolicyDocument, RegoSection, SCHEMA_VERSIONS};
use super::mute::{MuteError, MuteSet};
use super::rego::{RegoError, RegoLimits, RegoProgram};
use super::rule::CompiledRule;
use crate::verdict::Action;
use crate::verdict::mute_rule::Provenance;

/// Why a policy cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("reading policy {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Not a policy document.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// A field has a value the engine cannot use.
    #[error("{path}: {reason}")]
    Invalid {
        /// Field path, e.g. `rules[2].match.cvss.min`.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(path: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        path: path.into(),
        reason: reason.into(),
    }
}

/// A policy ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    document: PolicyDocument,
    digest: String,
    rules: Vec<CompiledRule>,
    mutes: MuteSet,
    rego: Option<CompiledRego>,
    /// Marks a policy generated from command-line flags rather than written by a user.
    generated: bool,
}

impl CompiledPolicy {
    /// Reads, parses and compiles a policy file.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let io = |source| PolicyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .map_err(io)?
            .take(super::document::MAX_POLICY_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        let text = String::from_utf8(bytes).map_err(|_| invalid(".", "not UTF-8 text"))?;
        Self::from_yaml(&text)
    }

    /// Parses and compiles a YAML (or JSON) policy.
    pub fn from_yaml(text: &str) -> Result<Self, PolicyError> {
        Self::compile(PolicyDocument::from_yaml(text)?)
    }

    /// Checks and compiles a document; errors give the field path and the reason.
    pub fn compile(document: PolicyDocument) -> Result<Self, PolicyError> {
        let digest = digest_of(&document);
        Self::compile_with_digest(document, digest)
    }

    fn compile_with_digest(document: PolicyDocument, digest: String) -> Result<Self, PolicyError> {
        if !SCHEMA_VERSIONS.contains(&document.schema_version) {
            return Err(invalid(
                "schemaVersion",
                format!(
                    "unsupported version {} (this build reads {:?})",
                    document.schema_version, SCHEMA_VERSIONS
                ),
            ));
        }
        if document.name.trim().is_empty() {
            return Err(invalid("name", "missing or empty"));
        }
        let mut names = BTreeSet::new();
        let mut rules = Vec::with_capacity(document.rules.len());
        for (index, rule) in document.rules.iter().enumerate() {
            if !names.insert(rule.name.trim()) {
                return Err(invalid(
                    format!("rules[{index}].name"),
                    format!("duplicate rule name {:?}", rule.name),
                ));
            }
            let compiled = CompiledRule::compile(index, rule.clone())
                .map_err(|e| invalid(format!("rules[{index}].{}", e.path), e.reason))?;
            rules.push(compiled);
        }
        // A mute written in the policy says so in verdicts, unless it says where it came from.
        let own_mutes = document.mutes.iter().enumerate().map(|(index, mute)| {
            let mut mute = mute.clone();
            mute.provenance.get_or_insert_with(|| Provenance::File {
                path: format!("policy {}", document.name.trim()),
                index,
            });
            mute
        });
        let mutes = MuteSet::compile(own_mutes).map_err(|e| match e {
            MuteError::Rule {
                index,
                field,
                problem,
            } => invalid(format!("mutes[{index}].{field}"), problem),
        })?;
        let rego = match &document.rego {
            None => None,
            Some(section) => Some(compile_rego(section)?),
        };
        Ok(Self {
            document,
            digest,
            rules,
            mutes,
            rego,
            generated: false,
        })
    }

    /// Marks the policy as generated from flags (reported in verdicts).
    pub fn into_generated(mut self) -> Self {
        self.generated = true;
        self
    }

    /// The document as written.
    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    /// `sha256:` digest of the canonical JSON of the document.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The compiled rules, in order.
    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// The policy's own mute rules.
    pub fn mutes(&self) -> &MuteSet {
        &self.mutes
    }

    /// The compiled Rego modules and what to do when they fail, if the policy has any.
    pub fn rego(&self) -> Option<&CompiledRego> {
        self.rego.as_ref()
    }

    /// Whether the policy was generated from command-line flags.
    pub fn is_generated(&self) -> bool {
        self.generated
    }

    /// Whether some rule tests KEV membership (so a KEV catalog must be loaded).
    pub fn uses_kev(&self) -> bool {
        self.rules.iter().any(CompiledRule::uses_kev)
    }
}

/// `sha256:` digest of the document's canonical JSON: the policy's identity.
fn digest_of(document: &PolicyDocument) -> String {
    format!("sha256:{:x}", Sha256::digest(document.canonical_json()))
}

/// A policy's Rego modules, compiled once.
#[derive(Debug, Clone)]
pub struct CompiledRego {
    /// The program (`deny` and `warn` of the policy's package).
    pub program: RegoProgram,
    /// The verdict when evaluation fails or exceeds its budget.
    pub on_error: Action,
}

fn compile_rego(section: &RegoSection) -> Result<CompiledRego, PolicyError> {
    if section.modules.is_empty() {
        return Err(invalid("rego.modules", "must list at least one module"));
    }
    if section.package.trim().is_empty() {
        return Err(invalid("rego.package", "missing or empty"));
    }
    let mut limits = RegoLimits::default();
    if let Some(ms) = section.timeout_ms {
        if !(1..=10_000).contains(&ms) {
            return Err(invalid("rego.timeoutMs", "must be between 1 and 10000"));
        }
        limits.timeout = Duration::from_millis(ms);
    }
    let program =
        RegoProgram::compile(&section.modules, section.package.trim(), limits).map_err(|e| {
            // Name the module in the path when the error is about one.
            let path = match &e {
                RegoError::Compile { module, .. } | RegoError::ModuleTooLarge { module, .. } => {
                    section
                        .modules
                        .iter()
                        .position(|m| &m.name == module)
                        .map_or_else(
                            || "rego.modules".to_owned(),
                            |i| format!("rego.modules[{i}]"),
                        )
                }
                _ => "rego".to_owned(),
            };
            invalid(path, e.to_string())
        })?;
    Ok(CompiledRego {
        program,
        on_error: section.on_error,
    })
}

/// Compiled policies by digest: compiling the same document twice returns the same
/// shared value.
#[derive(Debug, Default)]
pub struct PolicyCache {
    entries: Mutex<HashMap<String, Arc<CompiledPolicy>>>,
}

impl PolicyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The compiled form of `document`, compiling it only if no policy with the same
    /// digest was compiled before.
    pub fn get_or_compile(
        &self,
        document: PolicyDocument,
    ) -> Result<Arc<CompiledPolicy>, PolicyError> {
        let digest = digest_of(&document);
        if let Some(hit) = self.lock().get(&digest) {
            return Ok(Arc::clone(hit));
        }
        let compiled = Arc::new(CompiledPolicy::compile_with_digest(
            document,
            digest.clone(),
        )?);
        self.lock()
            .entry(digest)
            .or_insert_with(|| Arc::clone(&compiled));
        Ok(compiled)
    }

    /// Number of cached policies.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CompiledPolicy>>> {
        // A panic while holding the lock cannot leave the map half-updated (inserts are
        // single calls), so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
