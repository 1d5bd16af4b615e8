//! Start-up: builds the server's state from its settings (Redis adapters when a
//! Redis URL is given, the embedded SQLite / in-process ones otherwise), starts the
//! runners, serves the API, and drains on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Semaphore;

use crate::api::{AppState, Shared};
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::service::engine::{AdvisoryPool, PolicyService, ScanEngine};
use crate::service::feeds::FeedsService;
use crate::service::layers::LayerService;
use crate::service::scans::{ScanJobHandler, ScanService};
use stella_core::delta::LayerStore;
use stella_core::delta::fragment::FragmentLimits;
use stella_core::delta::sqlite::SqliteLayerStore;
use stella_core::identity::Tiers;
use stella_core::identity::clients::BootstrapClient;
use stella_core::identity::store::{IdentityStore, SqliteIdentityStore, load_key_ring};
use stella_core::identity::token::Issuer;
use stella_core::inventory::analyzer;
use stella_core::policy::kev::{KevCatalog, KevLimits};
use stella_core::policy::store::PolicyStore;
use stella_core::queue::memory::MemoryQueue;
use stella_core::queue::runner::{RunnerPool, default_name_prefix};
use stella_core::queue::{JobQueue, QueueConfig};
use stella_core::quota::QuotaStore;
use stella_core::quota::memory::MemoryQuota;
use stella_core::sbom::Limits;
use stella_core::scan_records::ScanStore;
use stella_core::scan_records::sqlite::SqliteScanStore;

/// The JWT audience of this server's tokens.
pub const AUDIENCE: &str = "stella";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A store, file or setting is unusable.
    #[error("{what}: {message}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// Why it failed.
        message: String,
    },
}

fn setup(what: &'static str) -> impl Fn(String) -> StartError {
    move |message| StartError::Setup { what, message }
}

/// What the server runs on: the shared state and, when this process runs jobs,
/// its runner pool.
#[derive(Debug)]
pub struct Runtime {
    /// The API's state.
    pub state: AppState,
    /// The runners of this process (`None` with `--runners 0`).
    pub runners: Option<RunnerPool>,
}

/// Builds the state and starts `config.runners` runners.
pub async fn build(config: &ServerConfig, bootstrap: Option<&str>) -> Result<Runtime, StartError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| setup("data directory")(format!("{}: {e}", config.data_dir.display())))?;
    let now = Utc::now();
    let identity: Arc<dyn IdentityStore> = Arc::new(
        SqliteIdentityStore::open(&config.data_dir.join("identity.db"))
            .map_err(|e| setup("identity store")(e.to_string()))?,
    );
    let ring =
        load_key_ring(identity.as_ref(), now).map_err(|e| setup("signing keys")(e.to_string()))?;
    let issuer = Arc::new(Issuer::new(ring, config.issuer.clone(), AUDIENCE));
    let tiers = Tiers::with_free_limit(config.free_tier_limit);
    if let Some(spec) = bootstrap {
        let client = BootstrapClient::parse(spec, &tiers)
            .and_then(|c| c.to_record(now))
            .map_err(|e| setup("bootstrap client")(e.to_string()))?;
        identity
            .put_client(&client)
            .map_err(|e| setup("bootstrap client")(e.to_string()))?;
        tracing::info!(client = %client.id, tier = %client.tier, "bootstrap client registered");
    }
    let policy = PolicyService::load(
        PolicyStore::open(&config.data_dir.join("policy.db"))
            .map_err(|e| setup("policy store")(e.to_string()))?,
    )
    .map_err(|e| setup("policy")(e.to_string()))?;
    let kev = match &config.kev {
        Some(path) => Some(Arc::new(
            KevCatalog::load(path, KevLimits::default())
                .map_err(|e| setup("KEV catalog")(e.to_string()))?,
        )),
        None => None,
    };
    let pool = Arc::new(AdvisoryPool::new(config.db.clone()));
    if let Err(e) = pool.check() {
        // Not fatal: /readyz says so until a feed sync installs the DB.
        tracing::warn!(db = %config.db.display(), error = %e, "advisory DB not usable yet");
    }
    let scanner = Arc::new(ScanEngine {
        advisories: pool.clone(),
        policy,
        kev,
        limits: Limits::default(),
    });
    let queue_config = QueueConfig {
        max_attempts: config.job_attempts,
        claim_idle: config.job_claim_idle,
        ..QueueConfig::default()
    };
    let stores = match &config.redis_url {
        Some(url) => redis_stores(url, &config.redis_prefix, queue_config).await?,
        None => embedded_stores(config, queue_config)?,
    };
    let metrics = Arc::new(Metrics::new());
    let layers = Arc::new(LayerService {
        store: stores.layers,
        analyzers: Arc::new(analyzer::all()),
        fragment_limits: FragmentLimits::default(),
        metrics: metrics.clone(),
    });
    let scans = Arc::new(ScanService {
        scanner: scanner.clone(),
        layers: layers.clone(),
        quota: stores.quota.clone(),
        queue: stores.queue.clone(),
        records: stores.records.clone(),
        metrics: metrics.clone(),
        sync_scans: Semaphore::new(config.sync_scans),
    });
    let runners = (config.runners > 0).then(|| {
        let handler = Arc::new(ScanJobHandler {
            service: scans.clone(),
            fault_delay: config.fault_job_delay,
        });
        RunnerPool::start(
            stores.queue.clone(),
            handler,
            config.runners,
            &default_name_prefix(),
        )
    });
    let feeds = Arc::new(FeedsService::new(
        config.feeds_store.clone(),
        config.feeds_config.clone(),
        pool,
    ));
    let state = AppState::new(Shared {
        scanner,
        issuer,
        identity,
        tiers,
        quota: stores.quota,
        scans,
        layers,
        queue: stores.queue,
        records: stores.records,
        feeds,
        metrics,
        redis: stores.redis,
        max_body_bytes: config.max_body_bytes,
    });
    Ok(Runtime { state, runners })
}

/// The stores behind the traits.
struct Stores {
    quota: Arc<dyn QuotaStore>,
    layers: Arc<dyn LayerStore>,
    queue: Arc<dyn JobQueue>,
    records: Arc<dyn ScanStore>,
    redis: Option<redis::aio::ConnectionManager>,
}

/// The embedded mode: SQLite files in the data directory, in-process quota and queue.
fn embedded_stores(config: &ServerConfig, queue: QueueConfig) -> Result<Stores, StartError> {
    Ok(Stores {
        quota: Arc::new(MemoryQuota::new()),
        layers: Arc::new(
            SqliteLayerStore::open(&config.data_dir.join("layers.db"))
                .map_err(|e| setup("layer store")(e.to_string()))?,
        ),
        queue: Arc::new(MemoryQueue::new(queue)),
        records: Arc::new(
            SqliteScanStore::open(&config.data_dir.join("scans.db"))
                .map_err(|e| setup("scan records")(e.to_string()))?,
        ),
        redis: None,
    })
}

/// Redis for quota, layers, queue and scan records.
async fn redis_stores(url: &str, prefix: &str, queue: QueueConfig) -> Result<Stores, StartError> {
    use stella_core::delta::redis::RedisLayerStore;
    use stella_core::queue::redis::RedisQueue;
    use stella_core::quota::redis::RedisQuota;
    use stella_core::scan_records::redis::RedisScanStore;
    let client = redis::Client::open(url).map_err(|e| setup("redis URL")(e.to_string()))?;
    // redis' default 500 ms response timeout turns a busy moment into 503s for
    // clients; a slower answer is better than none.
    let manager = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(5)))
        .set_response_timeout(Some(std::time::Duration::from_secs(5)));
    let conn = redis::aio::ConnectionManager::new_with_config(client.clone(), manager)
        .await
        .map_err(|e| setup("redis")(format!("{url}: {e}")))?;
    let q = RedisQueue::new(conn.clone(), prefix, queue)
        .await
        .map_err(|e| setup("redis queue")(e.to_string()))?
        .with_client(client);
    Ok(Stores {
        quota: Arc::new(RedisQuota::new(conn.clone(), prefix)),
        layers: Arc::new(RedisLayerStore::new(conn.clone(), prefix)),
        queue: Arc::new(q),
        records: Arc::new(RedisScanStore::new(conn.clone(), prefix)),
        redis: Some(conn),
    })
}

/// Serves the API on `config.listen` until `shutdown` resolves, then drains: stops
/// accepting, lets in-flight requests finish (up to the grace period), and lets the
/// runners finish and acknowledge their jobs. `on_listening` hears the bound address.
pub async fn serve(
    config: &ServerConfig,
    runtime: Runtime,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr) + Send + 'static,
) -> Result<(), StartError> {
    let Runtime { state, runners } = runtime;
    let app = crate::api::router(state).into_make_service();
    let handle = axum_server::Handle::new();
    let grace = config.shutdown_grace;
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!(
                grace_seconds = grace.as_secs(),
                "shutting down: draining in-flight requests"
            );
            handle.graceful_shutdown(Some(grace));
        });
    }
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            if let Some(addr) = handle.listening().await {
                on_listening(addr);
            }
        });
    }
    let served = match &config.tls {
        Some(files) => {
            let tls = crate::tls::load(files)
                .await
                .map_err(|e| setup("TLS certificate")(format!("{}: {e}", files.cert.display())))?;
            let watcher = crate::tls::watch(tls.clone(), files.clone(), config.tls_reload);
            let served = axum_server::bind_rustls(config.listen, tls)
                .handle(handle)
                .serve(app)
                .await;
            watcher.abort();
            served
        }
        None => {
            axum_server::bind(config.listen)
                .handle(handle)
                .serve(app)
                .await
        }
    };
    served.map_err(|e| setup("listener")(format!("{}: {e}", config.listen)))?;
    if let Some(pool) = runners {
        tracing::info!("shutting down: waiting for running scan jobs");
        if !pool.shutdown(grace).await {
            tracing::warn!(
                "runners did not finish within the grace period; their jobs will be reclaimed"
            );
        }
    }
    Ok(())
}
