//! Server settings: a TOML file, overridden by environment variables and flags (the
//! binary's clap arguments carry both), then these defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("config {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        message: String,
    },
    /// A setting has a bad value.
    #[error("{0}")]
    Invalid(String),
}

/// The settings file (every field optional; flags and environment win).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub listen: Option<SocketAddr>,
    /// Redis URL; none means the embedded mode.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key.
    pub redis_prefix: Option<String>,
    /// Directory of the server's own state (identity, policy, embedded stores).
    pub data_dir: Option<PathBuf>,
    /// The advisory DB scans match against.
    pub db: Option<PathBuf>,
    /// The Feedser store (`/feeds`).
    pub feeds_store: Option<PathBuf>,
    /// The Feedser config (`/feeds/sync`).
    pub feeds_config: Option<PathBuf>,
    /// The CISA KEV catalog for policies with `kev` conditions.
    pub kev: Option<PathBuf>,
    /// In-process runners (0: this process only serves the API).
    pub runners: Option<usize>,
    /// Scans run at once by `POST /scan` without `async` (0: one per CPU).
    pub sync_scans: Option<usize>,
    /// The Free tier's scans per day.
    pub free_tier_limit: Option<u32>,
    /// The JWT `iss` claim.
    pub issuer: Option<String>,
    /// TLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Seconds between checks of the certificate files for changes.
    pub tls_reload_seconds: Option<u64>,
    /// Seconds in-flight work gets to finish on shutdown.
    pub shutdown_grace_seconds: Option<u64>,
    /// Largest request body accepted.
    pub max_body_bytes: Option<usize>,
    /// Delivery attempts of a scan job before it is dead-lettered.
    pub job_attempts: Option<u32>,
    /// Seconds a claimed job may stay unacknowledged before another runner takes it.
    pub job_claim_idle_seconds: Option<u64>,
    /// Fault injection for crash tests: milliseconds each job pauses after starting.
    pub fault_job_delay_ms: Option<u64>,
}

impl FileConfig {
    /// Reads a settings file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}

/// The resolved settings the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Redis URL; none means the embedded mode.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key.
    pub redis_prefix: String,
    /// Directory of the server's own state.
    pub data_dir: PathBuf,
    /// The advisory DB scans match against.
    pub db: PathBuf,
    /// The Feedser store.
    pub feeds_store: Option<PathBuf>,
    /// The Feedser config.
    pub feeds_config: Option<PathBuf>,
    /// The CISA KEV catalog.
    pub kev: Option<PathBuf>,
    /// In-process runners.
    pub runners: usize,
    /// Synchronous scans run at once.
    pub sync_scans: usize,
    /// The Free tier's scans per day.
    pub free_tier_limit: u32,
    /// The JWT `iss` claim.
    pub issuer: String,
    /// TLS certificate and key; none serves plain HTTP (loopback only).
    pub tls: Option<TlsFiles>,
    /// How often the certificate files are checked for changes.
    pub tls_reload: Duration,
    /// How long in-flight work gets on shutdown.
    pub shutdown_grace: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Delivery attempts of a scan job.
    pub job_attempts: u32,
    /// Idle time after which a claimed job is taken over.
    pub job_claim_idle: Duration,
    /// Fault injection: pause of each job after it starts (zero normally).
    pub fault_job_delay: Duration,
}

/// A certificate chain and its key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// The Free tier's daily scans unless overridden.
pub const FREE_TIER_SCANS_PER_DAY: u32 = 333;

impl ServerConfig {
    /// Resolves the settings: `flags` (flags and environment) over `file` over defaults.
    pub fn resolve(flags: FileConfig, file: FileConfig) -> Result<Self, ConfigError> {
        let data_dir = flags
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(default_data_dir);
        let db = flags
            .db
            .or(file.db)
            .unwrap_or_else(|| data_dir.join("advisories.db"));
        let tls = match (
            flags.tls_cert.or(file.tls_cert),
            flags.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "tls-cert and tls-key go together: give both or neither".into(),
                ));
            }
        };
        let listen = flags
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443)));
        if tls.is_none() && !listen.ip().is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "listening on {listen} without TLS: plain HTTP is only served on loopback; \
                 give --tls-cert and --tls-key"
            )));
        }
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let config = ServerConfig {
            listen,
            redis_url: flags.redis_url.or(file.redis_url).filter(|u| !u.is_empty()),
            redis_prefix: flags
                .redis_prefix
                .or(file.redis_prefix)
                .unwrap_or_else(|| "stella:".into()),
            data_dir,
            db,
            feeds_store: flags.feeds_store.or(file.feeds_store),
            feeds_config: flags.feeds_config.or(file.feeds_config),
            kev: flags.kev.or(file.kev),
            runners: flags.runners.or(file.runners).unwrap_or(2),
            sync_scans: match flags.sync_scans.or(file.sync_scans).unwrap_or(0) {
                0 => cpus * 2,
                n => n,
            },
            free_tier_limit: flags
                .free_tier_limit
                .or(file.free_tier_limit)
                .unwrap_or(FREE_TIER_SCANS_PER_DAY),
            issuer: flags
                .issuer
                .or(file.issuer)
                .unwrap_or_else(|| "stella-core".into()),
            tls,
            tls_reload: Duration::from_secs(
                flags
                    .tls_reload_seconds
                    .or(file.tls_reload_seconds)
                    .unwrap_or(10)
                    .max(1),
            ),
            shutdown_grace: Duration::from_secs(
                flags
                    .shutdown_grace_seconds
                    .or(file.shutdown_grace_seconds)
                    .unwrap_or(30),
            ),
            max_body_bytes: flags
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(64 << 20),
            job_attempts: flags.job_attempts.or(file.job_attempts).unwrap_or(3).max(1),
            job_claim_idle: Duration::from_secs(
                flags
                    .job_claim_idle_seconds
                    .or(file.job_claim_idle_seconds)
                    .unwrap_or(30)
                    .max(1),
            ),
            fault_job_delay: Duration::from_millis(
                flags
                    .fault_job_delay_ms
                    .or(file.fault_job_delay_ms)
                    .unwrap_or(0),
            ),
        };
        Ok(config)
    }
}

/// `$XDG_DATA_HOME/stella/server`, else `~/.local/share/stella/server`.
fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("stella")
        .join("server")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:9000\"\nrunners = 4\nfree-tier-limit = 10\ndata-dir = \"/d\"\n",
        )
        .expect("toml");
        let flags = FileConfig {
            runners: Some(1),
            ..FileConfig::default()
        };
        let c = ServerConfig::resolve(flags, file).expect("config");
        assert_eq!(c.listen, "127.0.0.1:9000".parse().expect("addr"));
        assert_eq!(c.runners, 1);
        assert_eq!(c.free_tier_limit, 10);
        assert_eq!(c.db, PathBuf::from("/d/advisories.db"));
        assert_eq!(c.redis_url, None);
    }

    #[test]
    fn plain_http_only_on_loopback_and_tls_needs_both_files() {
        let open = FileConfig {
            listen: Some("0.0.0.0:8443".parse().expect("addr")),
            ..FileConfig::default()
        };
        let err = ServerConfig::resolve(open, FileConfig::default()).expect_err("refused");
        assert!(err.to_string().contains("without TLS"), "{err}");
        let half = FileConfig {
            tls_cert: Some("c.pem".into()),
            ..FileConfig::default()
        };
        assert!(ServerConfig::resolve(half, FileConfig::default()).is_err());
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        assert!(toml::from_str::<FileConfig>("listn = \"x\"").is_err());
    }
}
