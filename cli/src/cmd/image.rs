//! Image-source flags shared by `stella sbom` and `stella scan`: platform choice and
//! how to reach registries.

use std::io::Read;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use stella_core::inventory::builder::BuildOptions;
use stella_core::inventory::cache::LayerCache;
use stella_core::inventory::source::{Credentials, Insecure, OpenOptions, RegistryOptions};

/// Flags that say how to open an image source.
#[derive(Debug, Default, Args)]
pub struct ImageArgs {
    /// Platform to pick from a multi-platform image (`os/arch[/variant]`; default linux/amd64).
    #[arg(long)]
    pub platform: Option<String>,
    /// User name for the registry (else `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json` is read, else the pull is anonymous).
    #[arg(long, env = "STELLA_REGISTRY_USERNAME", value_name = "USER")]
    pub registry_username: Option<String>,
    /// Password or token for the registry.
    #[arg(
        long,
        env = "STELLA_REGISTRY_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        conflicts_with = "registry_password_stdin"
    )]
    pub registry_password: Option<String>,
    /// Read the registry password from stdin (first line).
    #[arg(long)]
    pub registry_password_stdin: bool,
    /// Use plain HTTP: for every registry (`--insecure-registry`) or only for these
    /// hosts (`--insecure-registry=HOST[:PORT],...`). For local test registries.
    #[arg(
        long,
        value_name = "HOSTS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "",
        value_delimiter = ','
    )]
    pub insecure_registry: Option<Vec<String>>,
    /// Registry network timeout in seconds: for each read, and (up to 30 s) for
    /// connecting.
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub registry_timeout: u64,
    /// Layer cache directory: layers analysed once are not read again (default
    /// `$XDG_CACHE_HOME/stellaops`, else `~/.cache/stellaops`).
    #[arg(long, env = "STELLA_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
    /// Neither read nor write the layer cache (wins over `--cache-dir`).
    #[arg(long)]
    pub no_cache: bool,
}

impl ImageArgs {
    /// How to build the SBOM: the layer cache these flags name, default limits.
    pub fn build_options(&self) -> BuildOptions {
        let cache = if self.no_cache {
            None
        } else {
            match &self.cache_dir {
                Some(dir) => Some(LayerCache::new(dir)),
                None => LayerCache::from_env(),
            }
        };
        BuildOptions {
            cache,
            ..BuildOptions::default()
        }
    }

    /// The core's open options for these flags (reads stdin for the password if asked).
    pub fn open_options(&self) -> anyhow::Result<OpenOptions> {
        let password = if self.registry_password_stdin {
            let mut text = String::new();
            std::io::stdin()
                .take(64 * 1024)
                .read_to_string(&mut text)
                .context("reading the registry password from stdin")?;
            Some(text.lines().next().unwrap_or_default().to_string())
        } else {
            self.registry_password.clone()
        };
        let credentials = match (&self.registry_username, password) {
            (Some(username), Some(password)) => Some(Credentials::Basic {
                username: username.clone(),
                password,
            }),
            (None, None) => None,
            (Some(_), None) => anyhow::bail!(
                "--registry-username needs a password (--registry-password, \
                 STELLA_REGISTRY_PASSWORD or --registry-password-stdin)"
            ),
            (None, Some(_)) => anyhow::bail!(
                "a registry password was given without --registry-username \
                 (or STELLA_REGISTRY_USERNAME)"
            ),
        };
        let insecure = match &self.insecure_registry {
            None => Insecure::None,
            Some(hosts) => {
                let hosts: Vec<String> = hosts
                    .iter()
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
                    .collect();
                if hosts.is_empty() {
                    Insecure::All
                } else {
                    Insecure::Hosts(hosts)
                }
            }
        };
        Ok(OpenOptions {
            platform: self.platform.clone(),
            registry: RegistryOptions {
                credentials,
                insecure,
                read_timeout: Duration::from_secs(self.registry_timeout),
                connect_timeout: Duration::from_secs(self.registry_timeout.min(30)),
                ..RegistryOptions::default()
            },
        })
    }
}
