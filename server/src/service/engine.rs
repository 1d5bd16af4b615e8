//! Running scans in the server: a pool of read-only connections to the advisory DB,
//! the active policy and API mutes, and the scan itself (SBOM bytes or a composed
//! image SBOM in, the JSON report out). Blocking work: callers run it on a blocking
//! thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

use stella_core::advisory_db::{AdvisoryDb, AdvisoryDbError};
use stella_core::pipeline::{ScanError, ScanOptions, scan_sbom};
use stella_core::policy::compiled::{CompiledPolicy, PolicyError};
use stella_core::policy::context::ScanContext;
use stella_core::policy::evaluate::KnownExploited;
use stella_core::policy::generated;
use stella_core::policy::kev::KevCatalog;
use stella_core::policy::mute::{MuteError, MuteSet};
use stella_core::policy::store::{PolicyStore, PolicyStoreError, StoredMute, StoredPolicy};
use stella_core::report::{DatabaseInfo, ScanReport, ToolInfo};
use stella_core::sbom::{Limits, Sbom, SbomFormat};
use stella_core::verdict::mute_rule::{MuteRule, Provenance};

/// Read-only connections to the advisory DB, reused across scans. After a feed sync
/// replaces the file, [`AdvisoryPool::reload`] retires the old connections.
#[derive(Debug)]
pub struct AdvisoryPool {
    path: PathBuf,
    generation: AtomicU64,
    idle: Mutex<Vec<(u64, AdvisoryDb)>>,
    info: Mutex<Option<(u64, DatabaseInfo)>>,
}

impl AdvisoryPool {
    /// A pool over the DB at `path` (opened on first use).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            generation: AtomicU64::new(0),
            idle: Mutex::new(Vec::new()),
            info: Mutex::new(None),
        }
    }

    /// The DB file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with a connection; also returns the DB's description for reports.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&AdvisoryDb) -> T,
    ) -> Result<(T, DatabaseInfo), AdvisoryDbError> {
        let generation = self.generation.load(Ordering::Acquire);
        let reused = {
            let mut idle = lock(&self.idle);
            idle.retain(|(g, _)| *g == generation);
            idle.pop()
        };
        let db = match reused {
            Some((_, db)) => db,
            None => AdvisoryDb::open_read_only(&self.path)?,
        };
        let info = self.info(generation, &db)?;
        let out = f(&db);
        let mut idle = lock(&self.idle);
        if idle.len() < 64 {
            idle.push((generation, db));
        }
        Ok((out, info))
    }

    /// The DB's description, computed once per generation.
    fn info(&self, generation: u64, db: &AdvisoryDb) -> Result<DatabaseInfo, AdvisoryDbError> {
        if let Some((g, info)) = lock(&self.info).as_ref()
            && *g == generation
        {
            return Ok(info.clone());
        }
        let info = DatabaseInfo::of(Some(self.path.display().to_string()), &db.stats()?);
        *lock(&self.info) = Some((generation, info.clone()));
        Ok(info)
    }

    /// Checks that the DB opens and answers (readiness).
    pub fn check(&self) -> Result<DatabaseInfo, AdvisoryDbError> {
        self.with(|_| ()).map(|(_, info)| info)
    }

    /// Retires every connection: the next scans open the file anew.
    pub fn reload(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        lock(&self.idle).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The policy scans run under, and the mutes added through the API.
#[derive(Debug, Clone)]
pub struct ActivePolicy {
    /// The compiled policy (the stored newest version, or the built-in default).
    pub policy: Arc<CompiledPolicy>,
    /// Its stored version, `None` for the built-in default.
    pub version: Option<i64>,
    /// The API mutes, compiled.
    pub mutes: MuteSet,
}

/// Why a policy change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyChangeError {
    /// The document does not compile.
    #[error(transparent)]
    Invalid(#[from] PolicyError),
    /// The mute rule is invalid.
    #[error(transparent)]
    Mute(#[from] MuteError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] PolicyStoreError),
}

/// The policy store with the active policy compiled in memory.
#[derive(Debug)]
pub struct PolicyService {
    store: PolicyStore,
    active: RwLock<Arc<ActivePolicy>>,
}

impl PolicyService {
    /// Loads the newest stored policy (or the built-in default) and the API mutes.
    pub fn load(store: PolicyStore) -> Result<Self, PolicyChangeError> {
        let active = Self::compile_active(&store)?;
        Ok(Self {
            store,
            active: RwLock::new(Arc::new(active)),
        })
    }

    fn compile_active(store: &PolicyStore) -> Result<ActivePolicy, PolicyChangeError> {
        let (policy, version) = match store.current()? {
            Some(stored) => (
                Arc::new(CompiledPolicy::compile(stored.document)?),
                Some(stored.version),
            ),
            None => (Arc::new(generated::from_flags(None, false)), None),
        };
        let mutes = compile_mutes(&store.mutes()?)?;
        Ok(ActivePolicy {
            policy,
            version,
            mutes,
        })
    }

    /// The active policy.
    pub fn active(&self) -> Arc<ActivePolicy> {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The stored newest policy version.
    pub fn current(&self) -> Result<Option<StoredPolicy>, PolicyStoreError> {
        self.store.current()
    }

    /// Stores a compiled policy as the next version, which becomes active.
    pub fn put(
        &self,
        compiled: CompiledPolicy,
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StoredPolicy, PolicyChangeError> {
        let stored = self
            .store
            .put(compiled.document(), compiled.digest(), actor, now)?;
        let current = self.active();
        self.set_active(ActivePolicy {
            policy: Arc::new(compiled),
            version: Some(stored.version),
            mutes: current.mutes.clone(),
        });
        Ok(stored)
    }

    /// The API mutes.
    pub fn mutes(&self) -> Result<Vec<StoredMute>, PolicyStoreError> {
        self.store.mutes()
    }

    /// Validates and adds a mute rule, which applies to the next scans.
    pub fn add_mute(
        &self,
        rule: MuteRule,
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StoredMute, PolicyChangeError> {
        MuteSet::compile([rule.clone()])?;
        let stored = self.store.add_mute(&rule, actor, now)?;
        self.refresh_mutes()?;
        Ok(stored)
    }

    /// Removes a mute rule; `None` when there is no such id.
    pub fn remove_mute(
        &self,
        id: &str,
        actor: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<MuteRule>, PolicyChangeError> {
        let removed = self.store.remove_mute(id, actor, now)?;
        if removed.is_some() {
            self.refresh_mutes()?;
        }
        Ok(removed)
    }

    /// The audit trail, newest first.
    pub fn audit(
        &self,
        limit: usize,
    ) -> Result<Vec<stella_core::policy::store::AuditEntry>, PolicyStoreError> {
        self.store.audit(limit)
    }

    /// Recompiles the API mutes after a change; the compiled policy is kept.
    fn refresh_mutes(&self) -> Result<(), PolicyChangeError> {
        let mutes = compile_mutes(&self.store.mutes()?)?;
        let current = self.active();
        self.set_active(ActivePolicy {
            policy: current.policy.clone(),
            version: current.version,
            mutes,
        });
        Ok(())
    }

    fn set_active(&self, active: ActivePolicy) {
        *self.active.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(active);
    }
}

/// Compiles API mutes, each with its id as provenance.
fn compile_mutes(stored: &[StoredMute]) -> Result<MuteSet, MuteError> {
    MuteSet::compile(stored.iter().map(|m| MuteRule {
        provenance: Some(Provenance::File {
            path: format!("api mute {}", m.id),
            index: 0,
        }),
        ..m.rule.clone()
    }))
}

/// Where a scan runs, as the request says.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanTarget {
    /// Image reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Kubernetes namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Why a scan did not produce a report.
#[derive(Debug, thiserror::Error)]
pub enum ScanFailure {
    /// The input is not a valid SBOM (or layer manifest): the client's fault.
    #[error("{0}")]
    BadInput(String),
    /// The image's layers are not all stored: upload them first.
    #[error("layers not analysed yet: {}", .0.join(", "))]
    MissingLayers(Vec<String>),
    /// The advisory DB or another store failed: the server's fault.
    #[error("{0}")]
    Unavailable(String),
    /// The caller's daily quota is used up; nothing was counted.
    #[error("{message}")]
    QuotaExceeded {
        /// What to tell the caller (limit, subject, tier, reset time).
        message: String,
        /// The figures, as the 429 answer's details.
        details: stella_core::server_api::QuotaExceeded,
    },
}

impl From<ScanError> for ScanFailure {
    fn from(e: ScanError) -> Self {
        match e {
            ScanError::Sbom(e) => ScanFailure::BadInput(format!("invalid SBOM: {e}")),
            ScanError::Store(e) => ScanFailure::Unavailable(format!("advisory DB: {e}")),
        }
    }
}

/// Everything a server scan needs.
#[derive(Debug)]
pub struct ScanEngine {
    /// The advisory DB (shared with Feedser, which reloads it after a sync).
    pub advisories: Arc<AdvisoryPool>,
    /// Policy and API mutes.
    pub policy: PolicyService,
    /// The KEV catalog, when configured.
    pub kev: Option<Arc<KevCatalog>>,
    /// Limits on SBOM documents.
    pub limits: Limits,
}

impl ScanEngine {
    /// The options for one scan under the active policy.
    fn options(&self, target: &ScanTarget) -> Result<ScanOptions, ScanFailure> {
        let active = self.policy.active();
        if active.policy.uses_kev() && self.kev.is_none() {
            return Err(ScanFailure::Unavailable(format!(
                "policy {} has rules on KEV membership but the server has no KEV catalog (--kev)",
                active.policy.document().name
            )));
        }
        Ok(ScanOptions {
            sbom_limits: self.limits,
            policy: active.policy.clone(),
            mutes: vec![active.mutes.clone()],
            kev: self
                .kev
                .clone()
                .map(|k| k as Arc<dyn KnownExploited + Send + Sync>),
            context: ScanContext {
                image: target.image.clone(),
                digest: target.image_digest.clone(),
                namespace: target.namespace.clone(),
                ..ScanContext::default()
            },
        })
    }

    /// Scans an SBOM already in the model (read by the API, or composed from layer fragments).
    pub fn scan_model(
        &self,
        format: SbomFormat,
        sbom: Sbom,
        target: &ScanTarget,
        now: DateTime<Utc>,
    ) -> Result<ScanReport, ScanFailure> {
        let options = self.options(target)?;
        let (outcome, database) = self
            .advisories
            .with(|db| scan_sbom(format, sbom, db, &options, now))
            .map_err(|e| ScanFailure::Unavailable(format!("advisory DB: {e}")))?;
        Ok(ScanReport::of_outcome(tool(), outcome?, None, database))
    }
}

fn tool() -> ToolInfo {
    ToolInfo {
        name: "stella-core".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}
