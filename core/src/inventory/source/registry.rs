//! `registry:REF` (or a bare reference such as `alpine:3.20`): an image pulled from an
//! OCI / Docker registry with `oci-client`. Manifests and the config are fetched when
//! the source opens (bounded in size); layer blobs stream on demand through a bounded
//! channel, never to memory or disk as a whole, and are checked against their digest.
//!
//! Reported layer digests are the blob digests from the manifest, as `oci-dir:` reports
//! them, so the same image gives the same layer digests from either source.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::{Digest, Sha256};

use super::oci::{Descriptor, INDEX_TYPES, ManifestOrIndex, choose_platform};
use super::{
    ImageConfig, ImageMetadata, ImageSource, LayerData, LayerInfo, SourceError, VerifyingReader,
    parse_json, sha256_hex,
};
use crate::hex::encode as hex;

/// Docker Hub's registry name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's key in `~/.docker/config.json`.
const DOCKER_HUB_CONFIG_KEY: &str = "https://index.docker.io/v1/";
/// Largest manifest or index accepted.
const MAX_MANIFEST: usize = 4 << 20;
/// Largest config blob accepted.
const MAX_CONFIG: usize = 8 << 20;
/// Most nested indexes followed.
const MAX_INDEX_DEPTH: usize = 2;
/// Chunks buffered between the network task and a layer reader.
const CHANNEL_CHUNKS: usize = 16;
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default read timeout (per read, so long layer downloads are fine while bytes flow).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
// ---------------------------------------------------------------- references

/// An image reference: `[REGISTRY/]REPO[:TAG][@sha256:HEX]`, normalised the way
/// Docker does (`alpine` is `docker.io/library/alpine:latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// Registry host, with port when given (`docker.io` for Docker Hub).
    pub registry: String,
    /// Repository path (`library/alpine`).
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest is given.
    pub tag: Option<String>,
    /// Manifest digest (`sha256:…`), when pinned.
    pub digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct ReferenceError {
    /// The string given.
    pub reference: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ImageReference {
    /// Parses a reference; see the type docs for the accepted forms.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let err = |reason: &str| ReferenceError {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        if s.is_empty() {
            return Err(err("empty"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((name, d)) => {
                if sha256_hex(d).is_err() {
                    return Err(err("digest must be sha256: and 64 lowercase hex digits"));
                }
                (name, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag follows the last ':' that comes after the last '/' (a ':' before
        // it is a registry port).
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(i) if last_slash.is_none_or(|j| i > j) => {
                (rest.get(..i).unwrap_or_default(), rest.get(i + 1..))
            }
            _ => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(err(
                "tag must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
            ));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains(['.', ':']) || first == "localhost" || first.starts_with('[') =>
            {
                if !valid_registry(first) {
                    return Err(err("malformed registry host[:port]"));
                }
                (first.to_string(), path)
            }
            _ => (DOCKER_HUB.to_string(), name),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        if path.is_empty() || !path.split('/').all(valid_path_component) {
            return Err(err(
                "repository must be '/'-separated lowercase components of [a-z0-9] joined by '.', '_', '__' or '-'",
            ));
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        if repository.len() > 255 {
            return Err(err("repository longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The `oci-client` reference for this image.
    fn to_oci(&self) -> Reference {
        let (r, p) = (self.registry.clone(), self.repository.clone());
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => Reference::with_tag_and_digest(r, p, t.clone(), d.clone()),
            (None, Some(d)) => Reference::with_digest(r, p, d.clone()),
            (Some(t), None) => Reference::with_tag(r, p, t.clone()),
            (None, None) => Reference::with_tag(r, p, "latest".to_string()),
        }
    }
}

impl std::fmt::Display for ImageReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    (1..=128).contains(&tag.len())
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `host[:port]`: DNS labels of `[A-Za-z0-9-]` (not starting or ending with `-`), or
/// a bracketed IPv6 address.
fn valid_registry(host_port: &str) -> bool {
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        match rest.split_once(']') {
            Some((addr, tail)) => {
                if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
                    return false;
                }
                match tail {
                    "" => return true,
                    t => ("", t.strip_prefix(':').map(Some).unwrap_or(Some(""))),
                }
            }
            None => return false,
        }
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    host.is_empty() && host_port.starts_with('[')
        || !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
}

/// `[a-z0-9]+` runs joined by one separator: `.`, `_`, `__` or any number of `-`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.first().is_none_or(|&x| !alnum(x)) || b.last().is_none_or(|&x| !alnum(x)) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let x = b.get(i).copied().unwrap_or_default();
        if alnum(x) {
            i += 1;
            continue;
        }
        // A separator run, then an alphanumeric must follow (the last byte is one).
        let start = i;
        while b.get(i).is_some_and(|&y| !alnum(y)) {
            i += 1;
        }
        let sep = c.get(start..i).unwrap_or_default();
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|y| y == b'-');
        if !ok {
            return false;
        }
    }
    true
}

// ---------------------------------------------------------------- credentials

/// Credentials for one registry. `Debug` never shows secrets.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// No credentials (anonymous pull; bearer tokens are still fetched when asked).
    #[default]
    Anonymous,
    /// User name and password (sent as HTTP Basic, or to the token service).
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

impl Credentials {
    fn to_auth(&self) -> RegistryAuth {
        match self {
            Self::Anonymous => RegistryAuth::Anonymous,
            Self::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
        }
    }
}

/// `~/.docker/config.json` fields used here.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, DockerAuth>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Default, serde::Deserialize)]
struct DockerAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl std::fmt::Debug for DockerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The host a `config.json` key names: Docker writes `https://host/v1/` or `host`.
fn config_key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
        h => h,
    }
}

/// Finds the credentials for `registry` (as in [`ImageReference::registry`]) in the
/// text of a Docker `config.json`. `Ok(None)` when it has none for that host; an
/// error when they live in a credential helper or store (not supported) or the
/// entry is malformed.
pub fn credentials_from_docker_config(
    json: &[u8],
    registry: &str,
) -> Result<Option<Credentials>, SourceError> {
    let config: DockerConfig = parse_json(json, "docker config.json")?;
    for (key, helper) in &config.cred_helpers {
        if config_key_host(key) == registry {
            return Err(SourceError::Credentials(format!(
                "docker config.json sends {registry} to credential helper \
                 docker-credential-{helper}, which stella does not support; \
                 pass --registry-username and --registry-password instead"
            )));
        }
    }
    // Docker Hub's canonical key first, then any key naming the same host.
    let entry = config
        .auths
        .get(DOCKER_HUB_CONFIG_KEY)
        .filter(|_| registry == DOCKER_HUB)
        .or_else(|| {
            config
                .auths
                .iter()
                .find(|(k, _)| config_key_host(k) == registry)
                .map(|(_, v)| v)
        });
    let Some(entry) = entry else {
        return Ok(None);
    };
    let bad = |why: &str| {
        SourceError::Credentials(format!("docker config.json entry for {registry}: {why}"))
    };
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        // Docker trades an identity token for an access token with an OAuth2
        // refresh-token grant, which oci-client lacks; registries that issue them
        // (e.g. Azure) also take the token as the password of a Basic login.
        return Ok(Some(Credentials::Basic {
            username: entry
                .username
                .clone()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "<token>".to_string()),
            password: token.to_string(),
        }));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad("`auth` is not base64"))?;
        let text = String::from_utf8(decoded).map_err(|_| bad("`auth` is not UTF-8"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| bad("`auth` is not user:password"))?;
        return Ok(Some(Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }));
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials::Basic {
            username: u.clone(),
            password: p.clone(),
        }));
    }
    if let Some(store) = &config.creds_store {
        return Err(SourceError::Credentials(format!(
            "docker config.json keeps the credentials for {registry} in credential store \
             docker-credential-{store}, which stella does not support; \
             pass --registry-username and --registry-password instead"
        )));
    }
    Ok(None)
}

/// Where Docker keeps its config: `$DOCKER_CONFIG/config.json`, else
/// `$HOME/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(Path::new(&dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".docker").join("config.json"))
}

// ---------------------------------------------------------------- options

/// Which registries may be reached over plain HTTP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Insecure {
    /// None: HTTPS only.
    #[default]
    None,
    /// Every registry.
    All,
    /// These `host[:port]`s.
    Hosts(Vec<String>),
}

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Explicit credentials (flags or environment); when `None`, the Docker config
    /// file is consulted, then anonymous access is used.
    pub credentials: Option<Credentials>,
    /// Docker config file to read; `None` means [`docker_config_path`].
    pub docker_config: Option<PathBuf>,
    /// Plain-HTTP registries.
    pub insecure: Insecure,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Timeout for each read from the network.
    pub read_timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            credentials: None,
            docker_config: None,
            insecure: Insecure::None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

impl RegistryOptions {
    /// The credentials to use for `registry`.
    fn credentials_for(&self, registry: &str) -> Result<Credentials, SourceError> {
        if let Some(c) = &self.credentials {
            return Ok(c.clone());
        }
        let Some(path) = self.docker_config.clone().or_else(docker_config_path) else {
            return Ok(Credentials::Anonymous);
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Credentials::Anonymous),
            Err(source) => {
                return Err(SourceError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        match credentials_from_docker_config(&bytes, registry) {
            Ok(found) => Ok(found.unwrap_or_default()),
            Err(SourceError::Json { reason, .. }) => Err(SourceError::Credentials(format!(
                "{}: {reason}",
                path.display()
            ))),
            Err(e) => Err(e),
        }
    }
}

// ---------------------------------------------------------------- the source

/// Picks the manifest for `platform` from an index's entries.
fn choose_index_entry<'a>(
    entries: &'a [Descriptor],
    platform: &str,
    reference: &str,
) -> Result<&'a Descriptor, SourceError> {
    if let Some(d) = choose_platform(entries, platform) {
        return Ok(d);
    }
    let available: Vec<String> = entries
        .iter()
        .filter_map(|d| d.platform.as_ref())
        // Attestation manifests are listed as unknown/unknown.
        .filter(|p| p.os != "unknown")
        .map(ToString::to_string)
        .collect();
    Err(SourceError::NotFound(format!(
        "platform {platform} in {reference} (available: {})",
        if available.is_empty() {
            "none declared".to_string()
        } else {
            available.join(", ")
        }
    )))
}

/// An image in a registry. `Send + Sync`: layers may be opened from several
/// threads at once (each streams over its own request).
pub struct RegistrySource {
    runtime: tokio::runtime::Runtime,
    client: Client,
    /// Pinned to the chosen manifest's digest.
    reference: Reference,
    display: String,
    /// Whether no credentials were given (for error hints).
    anonymous: bool,
    timeouts: (Duration, Duration),
    metadata: ImageMetadata,
    layers: Vec<LayerInfo>,
}

impl std::fmt::Debug for RegistrySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySource")
            .field("reference", &self.display)
            .field("metadata", &self.metadata)
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl RegistrySource {
    /// Resolves `reference` to one image manifest (picking `platform`,
    /// `os/arch[/variant]`, from an index), and fetches its config.
    pub fn open(
        reference: &str,
        platform: &str,
        options: &RegistryOptions,
        name: &str,
    ) -> Result<Self, SourceError> {
        let parsed =
            ImageReference::parse(reference).map_err(|e| SourceError::Invalid(e.to_string()))?;
        let display = parsed.to_string();
        let credentials = options.credentials_for(&parsed.registry)?;
        let oci_ref = parsed.to_oci();
        let protocol = match &options.insecure {
            Insecure::None => ClientProtocol::Https,
            Insecure::All => ClientProtocol::Http,
            Insecure::Hosts(hosts) => ClientProtocol::HttpsExcept(hosts.clone()),
        };
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(options.connect_timeout),
            read_timeout: Some(options.read_timeout),
            // Platforms are chosen here, from the raw index.
            platform_resolver: None,
            ..ClientConfig::default()
        };
        // reqwest is built without a crypto provider of its own: use ring. An
        // error only means a provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::try_from(config)
            .map_err(|e| SourceError::Registry(format!("setting up the HTTP client: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("stella-registry")
            .enable_all()
            .build()
            .map_err(|source| SourceError::Io {
                path: "tokio runtime".to_string(),
                source,
            })?;
        let auth = credentials.to_auth();
        let ctx = ErrorContext {
            reference: display.clone(),
            registry: oci_ref.resolve_registry().to_string(),
            anonymous: credentials == Credentials::Anonymous,
            timeouts: (options.connect_timeout, options.read_timeout),
        };
        let resolved = runtime.block_on(async {
            // Explicitly, so a failed token exchange is reported rather than
            // degrading to an anonymous 401 later.
            client
                .auth(&oci_ref, &auth, RegistryOperation::Pull)
                .await
                .map_err(|e| ctx.error("authenticating", e))?;
            let mut current = oci_ref.clone();
            let mut depth = 0;
            let (manifest_digest, manifest) = loop {
                let (body, digest) = client
                    .pull_manifest_raw(&current, &auth, MANIFEST_TYPES)
                    .await
                    .map_err(|e| ctx.error("fetching the manifest", e))?;
                if body.len() > MAX_MANIFEST {
                    return Err(SourceError::Invalid(format!(
                        "{display}: manifest larger than {MAX_MANIFEST} bytes"
                    )));
                }
                let doc: ManifestOrIndex = parse_json(&body, &format!("manifest {digest}"))?;
                let is_index = doc.manifests.is_some()
                    || doc
                        .media_type
                        .as_deref()
                        .is_some_and(|t| INDEX_TYPES.contains(&t));
                if !is_index {
                    break (digest, doc);
                }
                depth += 1;
                if depth > MAX_INDEX_DEPTH {
                    return Err(SourceError::Invalid(format!(
                        "{display}: indexes nested deeper than {MAX_INDEX_DEPTH}"
                    )));
                }
                let entries = doc.manifests.unwrap_or_default();
                let chosen = choose_index_entry(&entries, platform, &display)?;
                sha256_hex(&chosen.digest)?;
                current = oci_ref.clone_with_digest(chosen.digest.clone());
            };
            let config_desc = manifest.config.ok_or_else(|| {
                SourceError::Invalid(format!("manifest {manifest_digest}: no config"))
            })?;
            sha256_hex(&config_desc.digest)?;
            let config_bytes = fetch_small_blob(&client, &current, &config_desc.digest, MAX_CONFIG)
                .await
                .map_err(|e| match e {
                    FetchError::Oci(e) => ctx.error("fetching the image config", e),
                    FetchError::Other(e) => e,
                })?;
            let config: ImageConfig =
                parse_json(&config_bytes, &format!("config {}", config_desc.digest))?;
            let mut layers = Vec::new();
            for d in manifest.layers.unwrap_or_default() {
                sha256_hex(&d.digest)?;
                layers.push(LayerInfo {
                    digest: Some(d.digest),
                    media_type: d.media_type,
                    size: d.size,
                });
            }
            let reference = oci_ref.clone_with_digest(manifest_digest.clone());
            let metadata = ImageMetadata {
                name: name.to_string(),
                manifest_digest: Some(manifest_digest),
                config_digest: Some(config_desc.digest),
                os: config.os,
                arch: config.architecture,
                variant: config.variant,
                diff_ids: config.rootfs.map(|r| r.diff_ids).unwrap_or_default(),
            };
            Ok((reference, metadata, layers))
        });
        let (reference, metadata, layers) = resolved?;
        Ok(Self {
            runtime,
            client,
            reference,
            display,
            anonymous: ctx.anonymous,
            timeouts: ctx.timeouts,
            metadata,
            layers,
        })
    }

    /// The normalised reference (`registry/repo:tag@digest` as given).
    pub fn reference(&self) -> &str {
        &self.display
    }
}

enum FetchError {
    Oci(OciDistributionError),
    Other(SourceError),
}

/// Fetches a small blob (the config) whole, refusing more than `max` bytes, and
/// checks its digest.
async fn fetch_small_blob(
    client: &Client,
    reference: &Reference,
    digest: &str,
    max: usize,
) -> Result<Vec<u8>, FetchError> {
    let mut stream = client
        .pull_blob_stream(reference, digest)
        .await
        .map_err(FetchError::Oci)?;
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| {
            FetchError::Other(SourceError::Io {
                path: format!("blob {digest}"),
                source,
            })
        })?;
        buf.extend_from_slice(&chunk);
        if buf.len() > max {
            return Err(FetchError::Other(SourceError::Invalid(format!(
                "blob {digest}: larger than {max} bytes"
            ))));
        }
    }
    let actual = format!("sha256:{}", hex(&Sha256::digest(&buf)));
    if actual != digest {
        return Err(FetchError::Other(SourceError::DigestMismatch {
            expected: digest.to_string(),
            actual,
        }));
    }
    Ok(buf)
}

/// What an error message needs to say which image and what to try.
struct ErrorContext {
    reference: String,
    registry: String,
    anonymous: bool,
    /// Connect and read timeouts.
    timeouts: (Duration, Duration),
}

impl ErrorContext {
    fn error(&self, doing: &str, e: OciDistributionError) -> SourceError {
        let r = &self.reference;
        let creds_hint = if self.anonymous {
            "the registry wants credentials: pass --registry-username/--registry-password \
             or log in with docker (config.json)"
        } else {
            "the credentials given were rejected"
        };
        let msg = match &e {
            OciDistributionError::UnauthorizedError { url } => {
                format!("{r}: {doing}: 401 Unauthorized ({url}); {creds_hint}")
            }
            OciDistributionError::AuthenticationFailure(reason) => {
                format!(
                    "{r}: {doing}: authentication failed ({}); {creds_hint}",
                    reason.trim()
                )
            }
            OciDistributionError::RegistryError { envelope, url } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|x| &x.code).collect();
                let text: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|x| format!("{:?}: {}", x.code, x.message))
                    .collect();
                let text = text.join("; ");
                if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    return SourceError::NotFound(format!("{r} ({doing}: {text})"));
                }
                if codes.contains(&&OciErrorCode::Unauthorized) {
                    format!("{r}: {doing}: 401 Unauthorized ({text}); {creds_hint}")
                } else if codes.contains(&&OciErrorCode::Denied) {
                    format!("{r}: {doing}: 403 access denied ({text})")
                } else {
                    format!("{r}: {doing}: registry error at {url}: {text}")
                }
            }
            OciDistributionError::ServerError { code, url, message } => {
                let message = message.trim();
                match code {
                    401 => format!("{r}: {doing}: 401 Unauthorized ({url}); {creds_hint}"),
                    403 => format!("{r}: {doing}: 403 access denied ({url}) {message}"),
                    404 => {
                        return SourceError::NotFound(format!("{r} ({doing}: 404 at {url})"));
                    }
                    c => format!("{r}: {doing}: HTTP {c} from {url}: {message}"),
                }
            }
            OciDistributionError::RequestError(re) => {
                let chain = error_chain(re);
                let host = &self.registry;
                if re.is_timeout() {
                    format!(
                        "{r}: {doing}: timed out talking to {host} (connect timeout {}s, read timeout {}s): {chain}",
                        self.timeouts.0.as_secs(),
                        self.timeouts.1.as_secs()
                    )
                } else if looks_like_tls(&chain) {
                    format!(
                        "{r}: {doing}: TLS failure with {host}: {chain} \
                         (for a plain-HTTP registry, pass --insecure-registry)"
                    )
                } else if re.is_connect() {
                    format!("{r}: {doing}: cannot connect to {host}: {chain}")
                } else {
                    format!("{r}: {doing}: request to {host} failed: {chain}")
                }
            }
            other => format!("{r}: {doing}: {other}"),
        };
        SourceError::Registry(msg)
    }
}

fn looks_like_tls(chain: &str) -> bool {
    let c = chain.to_ascii_lowercase();
    ["certificate", "tls", "ssl", "handshake", "corrupt message"]
        .iter()
        .any(|w| c.contains(w))
}

/// `error: cause: cause…`, as reqwest nests the interesting part.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// A sync reader fed by the network task through a bounded channel; the task stops
/// when the reader is dropped (its send fails).
struct ChannelReader<T> {
    rx: tokio::sync::mpsc::Receiver<io::Result<T>>,
    chunk: Option<T>,
    pos: usize,
}

impl<T: AsRef<[u8]>> Read for ChannelReader<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(chunk) = &self.chunk {
                let rest = chunk.as_ref().get(self.pos..).unwrap_or_default();
                if !rest.is_empty() {
                    let n = rest.len().min(buf.len());
                    if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
                        dst.copy_from_slice(src);
                    }
                    self.pos += n;
                    return Ok(n);
                }
            }
            // `blocking_recv` must not run on a runtime thread; layer readers are
            // plain threads.
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(chunk)) => {
                    self.chunk = Some(chunk);
                    self.pos = 0;
                }
            }
        }
    }
}

impl ImageSource for RegistrySource {
    fn metadata(&self) -> &ImageMetadata {
        &self.metadata
    }

    fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    fn open_layer(&self, index: usize) -> Result<LayerData<'_>, SourceError> {
        let info = self.layers.get(index).ok_or(SourceError::NoLayer(index))?;
        let digest = info.digest.clone().unwrap_or_default();
        let desc = OciDescriptor {
            digest: digest.clone(),
            media_type: info.media_type.clone().unwrap_or_default(),
            size: info
                .size
                .and_then(|s| i64::try_from(s).ok())
                .unwrap_or_default(),
            ..OciDescriptor::default()
        };
        let ctx = ErrorContext {
            reference: self.display.clone(),
            registry: self.reference.resolve_registry().to_string(),
            anonymous: self.anonymous,
            timeouts: self.timeouts,
        };
        let stream = self
            .runtime
            .block_on(self.client.pull_blob_stream(&self.reference, &desc))
            .map_err(|e| ctx.error(&format!("fetching layer {digest}"), e))?;
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_CHUNKS);
        self.runtime.spawn(async move {
            let mut stream = stream;
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(LayerData::Tar(Box::new(VerifyingReader::new(
            ChannelReader {
                rx,
                chunk: None,
                pos: 0,
            },
            digest,
            info.size,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::source::oci::Platform;
    use proptest::prelude::*;

    fn r(s: &str) -> ImageReference {
        ImageReference::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_short_forms() {
        for s in [
            "alpine",
            "library/alpine",
            "docker.io/alpine",
            "index.docker.io/library/alpine:latest",
        ] {
            let x = r(s);
            assert_eq!(
                (
                    x.registry.as_str(),
                    x.repository.as_str(),
                    x.tag.as_deref(),
                    x.digest.as_deref()
                ),
                (DOCKER_HUB, "library/alpine", Some("latest"), None),
                "{s}"
            );
        }
        let x = r("bitnami/redis:7.2");
        assert_eq!(
            (x.registry.as_str(), x.repository.as_str()),
            (DOCKER_HUB, "bitnami/redis")
        );
        assert_eq!(x.tag.as_deref(), Some("7.2"));
        assert_eq!(x.to_string(), "docker.io/bitnami/redis:7.2");
    }

    #[test]
    fn registry_port_tag_and_digest() {
        let x = r("127.0.0.1:5000/stella/app:1");
        assert_eq!(x.registry, "127.0.0.1:5000");
        assert_eq!(x.repository, "stella/app");
        assert_eq!(x.tag.as_deref(), Some("1"));
        let x = r(&format!("localhost:5000/app@{D}"));
        assert_eq!((x.tag.as_deref(), x.digest.as_deref()), (None, Some(D)));
        let x = r(&format!("ghcr.io/o/r/x:v1.2-rc@{D}"));
        assert_eq!(x.registry, "ghcr.io");
        assert_eq!(x.repository, "o/r/x");
        assert_eq!(
            (x.tag.as_deref(), x.digest.as_deref()),
            (Some("v1.2-rc"), Some(D))
        );
        let x = r("localhost/app");
        assert_eq!(x.registry, "localhost");
        let x = r("[::1]:5000/app:2");
        assert_eq!(
            (x.registry.as_str(), x.tag.as_deref()),
            ("[::1]:5000", Some("2"))
        );
        // A registry port without a tag: ':' before the last '/'.
        let x = r("reg.example:443/team/app");
        assert_eq!(
            (x.registry.as_str(), x.tag.as_deref()),
            ("reg.example:443", Some("latest"))
        );
        assert_eq!(r("docker.io/a__b.c--d/e_f").repository, "a__b.c--d/e_f");
        // A dot in the first component makes it a host, as in Docker.
        assert_eq!(r("a.b/c").registry, "a.b");
    }

    #[test]
    fn rejected_references() {
        for s in [
            "",
            "Alpine",
            "/tmp/x",
            "./x",
            "a//b",
            "a/",
            "alpine:",
            "alpine:-x",
            "alpine@sha256:abc",
            "alpine@md5:0123456789abcdef0123456789abcdef",
            "host:port/x",
            "a..b",
            "a._b",
            "reg.example:/x",
            "x y",
            "oci-dir:/tmp/x",
        ] {
            assert!(ImageReference::parse(s).is_err(), "{s:?} parsed");
        }
        let long = "a".repeat(256);
        assert!(ImageReference::parse(&long).is_err());
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,80}") {
            let _ = ImageReference::parse(&s);
        }

        #[test]
        fn parser_never_panics_on_reference_like(s in "[a-zA-Z0-9.:/@_\\[\\]-]{0,60}") {
            // Whatever parses prints back to the same reference.
            if let Ok(r) = ImageReference::parse(&s) {
                prop_assert_eq!(ImageReference::parse(&r.to_string()).ok(), Some(r));
            }
        }

        #[test]
        fn display_round_trips(
            reg in "(reg[a-z]{0,5}\\.io(:[0-9]{1,5})?|localhost:[0-9]{2,5})",
            repo in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}(-[a-z0-9]{1,3})?){0,3}",
            tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
        ) {
            let s = format!("{reg}/{repo}:{tag}");
            let x = ImageReference::parse(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(x.to_string(), s.clone());
            prop_assert_eq!(ImageReference::parse(&x.to_string()).ok(), Some(x));
        }
    }

    fn creds(json: &str, host: &str) -> Result<Option<Credentials>, SourceError> {
        credentials_from_docker_config(json.as_bytes(), host)
    }

    fn basic(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials::Basic {
            username: u.into(),
            password: p.into(),
        })
    }

    #[test]
    fn docker_config_auth_forms() {
        // base64("alice:s3cr:et") — the password may hold ':'.
        let json = r#"{"auths":{
            "127.0.0.1:5000":{"auth":"YWxpY2U6czNjcjpldA=="},
            "https://ghcr.io":{"username":"bob","password":"pw"},
            "https://index.docker.io/v1/":{"auth":"aHViOmh1YnB3"},
            "myacr.example":{"username":"00000000-0000-0000-0000-000000000000","identitytoken":"rt"}
        }}"#;
        assert_eq!(
            creds(json, "127.0.0.1:5000").ok().flatten(),
            basic("alice", "s3cr:et")
        );
        assert_eq!(creds(json, "ghcr.io").ok().flatten(), basic("bob", "pw"));
        assert_eq!(
            creds(json, DOCKER_HUB).ok().flatten(),
            basic("hub", "hubpw")
        );
        assert_eq!(
            creds(json, "myacr.example").ok().flatten(),
            basic("00000000-0000-0000-0000-000000000000", "rt")
        );
        assert_eq!(creds(json, "quay.io").ok().flatten(), None);
        assert_eq!(creds("{}", "quay.io").ok().flatten(), None);
        // Docker Hub under its other spellings.
        let json = r#"{"auths":{"registry-1.docker.io":{"username":"u","password":"p"}}}"#;
        assert_eq!(creds(json, DOCKER_HUB).ok().flatten(), basic("u", "p"));
    }

    #[test]
    fn docker_config_helpers_are_reported_with_the_host() {
        let json = r#"{"auths":{"ghcr.io":{}},"credsStore":"desktop",
                       "credHelpers":{"123.dkr.ecr.example":"ecr-login"}}"#;
        let e = creds(json, "123.dkr.ecr.example")
            .err()
            .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.contains("123.dkr.ecr.example") && e.contains("docker-credential-ecr-login"),
            "{e}"
        );
        let e = creds(json, "ghcr.io")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("ghcr.io") && e.contains("docker-credential-desktop"),
            "{e}"
        );
        // Not logged in there: anonymous, not an error.
        assert_eq!(creds(json, "quay.io").ok().flatten(), None);
    }

    #[test]
    fn docker_config_malformed_entries() {
        assert!(creds(r#"{"auths":{"h.io":{"auth":"%%%"}}}"#, "h.io").is_err());
        // base64("nocolon")
        assert!(creds(r#"{"auths":{"h.io":{"auth":"bm9jb2xvbg=="}}}"#, "h.io").is_err());
        assert!(creds("not json", "h.io").is_err());
        assert!(creds(r#"{"auths":[]}"#, "h.io").is_err());
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = basic("alice", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    fn plat(os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: None,
            digest: format!("sha256:{os}{arch}"),
            size: None,
            annotations: Default::default(),
            platform: Some(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(Into::into),
            }),
        }
    }

    #[test]
    fn platform_choice_and_error_lists_what_exists() {
        let entries = vec![
            plat("linux", "amd64", None),
            plat("linux", "arm", Some("v7")),
            plat("linux", "arm64", None),
            plat("unknown", "unknown", None),
        ];
        let pick = |p: &str| {
            choose_index_entry(&entries, p, "x")
                .map(|d| d.digest.clone())
                .ok()
        };
        assert_eq!(pick("linux/amd64").as_deref(), Some("sha256:linuxamd64"));
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("sha256:linuxarm"));
        assert_eq!(pick("linux/arm64/v8").as_deref(), Some("sha256:linuxarm64"));
        assert_eq!(pick("linux/arm/v6"), None);
        let e = choose_index_entry(&entries, "linux/s390x", "x")
            .err()
            .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.contains("linux/s390x") && e.contains("linux/amd64, linux/arm/v7, linux/arm64"),
            "{e}"
        );
        assert!(!e.contains("unknown"));
    }

    #[test]
    fn channel_reader_concatenates_chunks_and_passes_errors() {
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(4);
        let producer = std::thread::spawn(move || {
            for part in [&b"hello "[..], b"", b"world"] {
                if tx.blocking_send(Ok(part.to_vec())).is_err() {
                    return;
                }
            }
            let _ = tx.blocking_send(Err(io::Error::other("cut")));
        });
        let mut reader = ChannelReader {
            rx,
            chunk: None,
            pos: 0,
        };
        let mut out = Vec::new();
        let mut buf = [0u8; 4];
        let err = loop {
            match reader.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => out.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(e) => break Some(e),
            }
        };
        assert_eq!(out, b"hello world");
        assert_eq!(err.map(|e| e.to_string()).as_deref(), Some("cut"));
        assert!(producer.join().is_ok());
    }

    #[test]
    fn registry_source_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<RegistrySource>();
    }
}
