//! TLS: the certificate and key from PEM files, reloaded when either file changes
//! (cert-manager rotates Secrets in place), so renewals need no restart. A reload
//! that fails keeps the previous certificate and logs why.

use std::path::Path;
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;

use crate::config::TlsFiles;

/// Installs the process's rustls crypto provider (ring; no OpenSSL, no aws-lc).
pub fn install_crypto_provider() {
    // Fails only when one is installed already, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Loads the certificate and key.
pub async fn load(files: &TlsFiles) -> std::io::Result<RustlsConfig> {
    install_crypto_provider();
    RustlsConfig::from_pem_file(&files.cert, &files.key).await
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Checks the files every `every` and reloads `config` when their modification
/// times change; runs until the task is aborted.
pub fn watch(
    config: RustlsConfig,
    files: TlsFiles,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = (modified(&files.cert), modified(&files.key));
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = (modified(&files.cert), modified(&files.key));
            if now == seen {
                continue;
            }
            match config.reload_from_pem_file(&files.cert, &files.key).await {
                Ok(()) => {
                    tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                    seen = now;
                }
                // Half-written files during a rotation: try again at the next tick.
                Err(e) => {
                    tracing::warn!(cert = %files.cert.display(), error = %e, "TLS reload failed; keeping the previous certificate")
                }
            }
        }
    })
}
