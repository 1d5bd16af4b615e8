//! The policy flags shared by `stella scan` and `stella policy explain`: which policy,
//! which extra mutes (VEX documents, ignore file), which KEV catalog, and the
//! Kubernetes context to evaluate in.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use stella_core::advisory::Severity;
use stella_core::pipeline::ScanOptions;
use stella_core::policy::compiled::CompiledPolicy;
use stella_core::policy::context::ScanContext;
use stella_core::policy::evaluate::KnownExploited;
use stella_core::policy::generated;
use stella_core::policy::generated::parse_fail_on;
use stella_core::policy::ignore::IgnoreFile;
use stella_core::policy::kev::{KevCatalog, KevLimits};
use stella_core::policy::mute::MuteSet;
use stella_core::policy::vex::{self, VexLimits};

/// Policy, mutes and context flags.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Policy file (YAML, `stella policy schema` prints its JSON Schema). Without it,
    /// `--fail-on` and `--ignore-unfixed` make a generated policy.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fail_on", "ignore_unfixed"])]
    pub policy: Option<PathBuf>,
    /// Fail (exit 1) when a finding at or above this severity remains
    /// (critical, high, medium, low, unknown).
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Ignore findings that have no fixed version yet.
    #[arg(long)]
    pub ignore_unfixed: bool,
    /// YAML file of findings to mute (id, optional purl glob, expires, reason).
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,
    /// OpenVEX or CycloneDX VEX document; `not_affected` and `fixed` statements mute
    /// findings (repeat for several documents).
    #[arg(long, value_name = "FILE")]
    pub vex: Vec<PathBuf>,
    /// CISA Known Exploited Vulnerabilities catalog (its JSON feed), for `kev` conditions.
    #[arg(long, value_name = "FILE", env = "STELLA_KEV")]
    pub kev: Option<PathBuf>,
    /// Kubernetes namespace to evaluate the policy for.
    #[arg(long, value_name = "NAME")]
    pub namespace: Option<String>,
    /// A label of that namespace, `KEY=VALUE` (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_label)]
    pub namespace_label: Vec<(String, String)>,
    /// A label of the workload, `KEY=VALUE` (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_label)]
    pub label: Vec<(String, String)>,
    /// Image reference the policy sees (defaults to the scanned image or the SBOM's subject).
    #[arg(long, value_name = "REF")]
    pub image_ref: Option<String>,
    /// Image digest the policy sees (`sha256:…`).
    #[arg(long, value_name = "DIGEST")]
    pub image_digest: Option<String>,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    parse_fail_on(s).map_err(|e| e.to_string())
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    if k.trim().is_empty() {
        return Err(format!("{s:?} has an empty key"));
    }
    Ok((k.trim().to_owned(), v.trim().to_owned()))
}

impl PolicyArgs {
    /// The policy to evaluate: the file given, or the one the flags stand for.
    pub fn policy(&self) -> anyhow::Result<CompiledPolicy> {
        match &self.policy {
            Some(path) => CompiledPolicy::load(path)
                .with_context(|| format!("policy {} is invalid", path.display())),
            None => Ok(generated::from_flags(self.fail_on, self.ignore_unfixed)),
        }
    }

    /// Scan options with the policy, every extra mute and the context; `limits` and the
    /// SBOM summary are left to the caller.
    pub fn scan_options(&self) -> anyhow::Result<ScanOptions> {
        let policy = self.policy()?;
        let mut mutes = Vec::new();
        if let Some(path) = &self.ignore_file {
            let ignores = IgnoreFile::load(path)?;
            mutes.push(ignores.to_mute_set(&path.display().to_string()));
        }
        for path in &self.vex {
            let limits = VexLimits::default();
            let bytes = read_limited(path, limits.max_bytes)?;
            let name = path.display().to_string();
            let import = vex::parse_any(&bytes, &name, &limits)
                .with_context(|| format!("reading VEX document {name}"))?;
            for ignored in &import.ignored {
                tracing::info!(
                    document = %name,
                    statement = ignored.statement,
                    vulnerability = %ignored.vulnerability,
                    reason = %ignored.reason,
                    "VEX statement does not mute"
                );
            }
            let set = MuteSet::compile(import.mutes)
                .with_context(|| format!("VEX document {name} has an unusable statement"))?;
            mutes.push(set);
        }
        let kev = match &self.kev {
            Some(path) => {
                let catalog = KevCatalog::load(path, KevLimits::default())
                    .with_context(|| format!("reading KEV catalog {}", path.display()))?;
                Some(Arc::new(catalog) as Arc<dyn KnownExploited + Send + Sync>)
            }
            None if policy.uses_kev() => anyhow::bail!(
                "policy {} has rules on KEV membership: give the catalog with --kev FILE",
                policy.document().name
            ),
            None => None,
        };
        Ok(ScanOptions {
            policy: Arc::new(policy),
            mutes,
            kev,
            context: ScanContext {
                image: self.image_ref.clone(),
                digest: self.image_digest.clone(),
                namespace: self.namespace.clone(),
                namespace_labels: labels(&self.namespace_label),
                labels: labels(&self.label),
                ..ScanContext::default()
            },
            ..ScanOptions::default()
        })
    }
}

fn labels(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}

/// Reads at most `max` bytes of `path`, failing when the file is larger.
pub fn read_limited(path: &PathBuf, max: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() > max {
        anyhow::bail!("{} is larger than the {max}-byte limit", path.display());
    }
    Ok(bytes)
}
