//! stella-server: the StellaOps core server (REST API, runners), or a runner-only
//! process, or the OpenAPI document.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use stella_server::config::{FileConfig, ServerConfig};
use stella_server::start;

/// The StellaOps core server.
#[derive(Debug, Parser)]
#[command(name = "stella-server", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (the default), with in-process runners (--runners).
    Serve,
    /// Run scan jobs from the Redis queue only, no API (needs --redis-url).
    Runner,
    /// Print the OpenAPI 3.1 document.
    Openapi,
}

/// Settings: flags, else environment variables, else the config file, else defaults.
#[derive(Debug, Args)]
struct Settings {
    /// TOML config file (keys as the long flags, e.g. `redis-url = "..."`).
    #[arg(long, env = "STELLA_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on (plain HTTP only on loopback; otherwise give TLS files).
    #[arg(long, env = "STELLA_LISTEN", global = true)]
    listen: Option<std::net::SocketAddr>,
    /// Redis URL (quota, layers, queue, scan records); without it the embedded stores.
    #[arg(long, env = "STELLA_REDIS_URL", global = true)]
    redis_url: Option<String>,
    /// Prefix of every Redis key.
    #[arg(long, env = "STELLA_REDIS_PREFIX", global = true)]
    redis_prefix: Option<String>,
    /// Directory of the server's state (identity, policy, embedded stores).
    #[arg(long, env = "STELLA_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Advisory DB scans match against (default: DATA_DIR/advisories.db).
    #[arg(long, env = "STELLA_DB", global = true)]
    db: Option<PathBuf>,
    /// Feedser store, for /feeds.
    #[arg(long, env = "STELLA_FEED_STORE", global = true)]
    feeds_store: Option<PathBuf>,
    /// Feedser config, for /feeds/sync.
    #[arg(long, env = "STELLA_FEEDS_CONFIG", global = true)]
    feeds_config: Option<PathBuf>,
    /// CISA KEV catalog (JSON), for policies with kev conditions.
    #[arg(long, env = "STELLA_KEV", global = true)]
    kev: Option<PathBuf>,
    /// In-process scan runners (0: serve only).
    #[arg(long, env = "STELLA_RUNNERS", global = true)]
    runners: Option<usize>,
    /// Synchronous scans at once (0: two per CPU).
    #[arg(long, env = "STELLA_SYNC_SCANS", global = true)]
    sync_scans: Option<usize>,
    /// Register a client at start-up: ID:SECRET:TIER (all scopes).
    #[arg(
        long,
        env = "STELLA_BOOTSTRAP_CLIENT",
        global = true,
        hide_env_values = true
    )]
    bootstrap_client: Option<String>,
    /// The Free tier's scans per day (default 333).
    #[arg(long, env = "STELLA_FREE_TIER_LIMIT", global = true)]
    free_tier_limit: Option<u32>,
    /// The JWT issuer (`iss`).
    #[arg(long, env = "STELLA_ISSUER", global = true)]
    issuer: Option<String>,
    /// TLS certificate chain (PEM), reloaded when it changes.
    #[arg(long, env = "STELLA_TLS_CERT", global = true)]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "STELLA_TLS_KEY", global = true)]
    tls_key: Option<PathBuf>,
    /// Seconds between checks of the TLS files for changes.
    #[arg(long, env = "STELLA_TLS_RELOAD_SECONDS", global = true)]
    tls_reload_seconds: Option<u64>,
    /// Seconds in-flight work gets on shutdown.
    #[arg(long, env = "STELLA_SHUTDOWN_GRACE", global = true)]
    shutdown_grace_seconds: Option<u64>,
    /// Delivery attempts of a scan job before it is dead-lettered.
    #[arg(long, env = "STELLA_JOB_ATTEMPTS", global = true)]
    job_attempts: Option<u32>,
    /// Seconds before another runner takes over an unacknowledged job.
    #[arg(long, env = "STELLA_JOB_CLAIM_IDLE", global = true)]
    job_claim_idle_seconds: Option<u64>,
    /// Fault injection for crash tests: milliseconds each job pauses after starting.
    #[arg(long, env = "STELLA_FAULT_JOB_DELAY_MS", global = true, hide = true)]
    fault_job_delay_ms: Option<u64>,
    /// Log format.
    #[arg(long, env = "STELLA_LOG_FORMAT", global = true, value_parser = ["json", "text"], default_value = "json")]
    log_format: String,
}

impl Settings {
    fn flags(&self) -> FileConfig {
        FileConfig {
            listen: self.listen,
            redis_url: self.redis_url.clone(),
            redis_prefix: self.redis_prefix.clone(),
            data_dir: self.data_dir.clone(),
            db: self.db.clone(),
            feeds_store: self.feeds_store.clone(),
            feeds_config: self.feeds_config.clone(),
            kev: self.kev.clone(),
            runners: self.runners,
            sync_scans: self.sync_scans,
            free_tier_limit: self.free_tier_limit,
            issuer: self.issuer.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            tls_reload_seconds: self.tls_reload_seconds,
            shutdown_grace_seconds: self.shutdown_grace_seconds,
            max_body_bytes: None,
            job_attempts: self.job_attempts,
            job_claim_idle_seconds: self.job_claim_idle_seconds,
            fault_job_delay_ms: self.fault_job_delay_ms,
        }
    }
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STELLA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}

/// Resolves on SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        print!("{}", stella_server::api::openapi::document());
        return Ok(());
    }
    init_logs(&cli.settings.log_format);
    let file = match &cli.settings.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let mut config = ServerConfig::resolve(cli.settings.flags(), file)?;
    if let Command::Runner = command {
        if config.redis_url.is_none() {
            anyhow::bail!("`stella-server runner` takes jobs from Redis: give --redis-url");
        }
        config.runners = config.runners.max(1);
    }
    let runtime = start::build(&config, cli.settings.bootstrap_client.as_deref())
        .await
        .context("starting stella-server")?;
    match command {
        Command::Runner => {
            tracing::info!(runners = config.runners, "runner process started");
            shutdown_signal().await;
            if let Some(pool) = runtime.runners {
                pool.shutdown(config.shutdown_grace).await;
            }
            Ok(())
        }
        _ => {
            let mode = if config.redis_url.is_some() {
                "redis"
            } else {
                "embedded"
            };
            let tls = config.tls.is_some();
            start::serve(&config, runtime, shutdown_signal(), move |addr| {
                tracing::info!(%addr, mode, tls, "stella-server listening");
                // Tests and scripts read the bound address (with --listen ...:0) from here.
                println!("listening on {addr}");
            })
            .await?;
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stella-server: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stella-server: {e:#}");
            ExitCode::from(2)
        }
    }
}
