//! The feed config file: which feeds Feedser harvests, where from, and the merge
//! precedence. YAML, read under strict budgets (no anchors or aliases, bounded size and
//! depth), unknown keys rejected; errors name the line.
//!
//! ```yaml
//! feeds:
//!   - name: pypa                 # unique, [a-z0-9-]+
//!     source: osv                # see feedser::Source::from_name
//!     location: ../../testdata/feeds-sample/osv-pypi  # path (relative to this file) or URL
//!     kind: auto                 # auto|file|dir|archive|http|nvd-api
//!     enabled: true
//!     interval: 6h               # s, m, h, d, combined (1h30m)
//!     http: { timeoutSeconds: 30, retries: 4, minIntervalMs: 0, maxBodyBytes: 1048576,
//!             apiKeyEnv: NVD_API_KEY, apiKeyHeader: apiKey, headers: { X-A: b } }
//! precedence:                    # optional; lists override merge::Precedence's
//!   distroPackages: [debian, alpine]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Source;
use super::fetch::{
    self, FetchCursor, FetchError, FetchOptions, FetchOutcome, Flow, Item, Location, LocationKind,
    nvd_api,
};
use super::merge::Precedence;

/// Largest config file accepted.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// Deepest YAML nesting accepted (the shape needs 5).
pub const MAX_CONFIG_DEPTH: usize = 16;

/// Why a config file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Not YAML of the expected shape (unknown key, wrong type, over a budget).
    #[error("line {line}: {reason}")]
    Yaml {
        /// 1-based line, 0 when unknown.
        line: u64,
        /// The parser's message (with the key path).
        reason: String,
    },
    /// Well-formed, but a value is not acceptable.
    #[error("line {line}: {reason}")]
    Invalid {
        /// 1-based line of the offending value.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

impl ConfigError {
    /// The 1-based line the error is about (0 when unknown).
    pub fn line(&self) -> u64 {
        match self {
            Self::Io { .. } => 0,
            Self::Yaml { line, .. } | Self::Invalid { line, .. } => *line,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    feeds: Vec<RawFeed>,
    #[serde(default)]
    precedence: Option<RawPrecedence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFeed {
    name: Spanned<String>,
    source: Spanned<String>,
    location: Spanned<String>,
    #[serde(default)]
    kind: Option<Spanned<String>>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    interval: Option<Spanned<String>>,
    #[serde(default)]
    http: Option<HttpSettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPrecedence {
    #[serde(default)]
    distro_packages: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    language_packages: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    text: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    cvss: Option<Spanned<Vec<String>>>,
}

/// A feed's HTTP settings as written (every field optional; unset = the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpSettings {
    /// Whole-request timeout, seconds.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Retries after the first attempt.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Minimum interval between requests, milliseconds (NVD API default: 6000, or 600
    /// with an API key).
    #[serde(default)]
    pub min_interval_ms: Option<u64>,
    /// Largest body accepted.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// Name of the environment variable holding an API key (read at fetch time).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Header the API key is sent in (default `apiKey`, NVD's).
    #[serde(default)]
    pub api_key_header: Option<String>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// One configured feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSpec {
    /// Unique name (`[a-z0-9-]+`), the key of its cursor in the store.
    pub name: String,
    /// Which connector reads its documents.
    pub source: Source,
    /// The location as written.
    pub location_text: String,
    /// Where its documents come from (paths resolved against the config's directory).
    pub location: Location,
    /// The kind asked for.
    pub kind: LocationKind,
    /// False to keep a feed configured but not synced.
    pub enabled: bool,
    /// How often the scheduler should sync it.
    pub interval: Option<Duration>,
    /// HTTP settings.
    pub http: HttpSettings,
}

impl FeedSpec {
    /// The fetch options for this feed: the source's filter and the HTTP settings, with
    /// the API key read from the environment variable `apiKeyEnv` names (when set and
    /// non-empty) and NVD's rate limit as default for `nvd-api`.
    pub fn fetch_options(&self) -> FetchOptions {
        let mut options = FetchOptions::for_source(self.source);
        let h = &mut options.http;
        if let Some(t) = self.http.timeout_seconds {
            h.timeout = Duration::from_secs(t.max(1));
        }
        if let Some(r) = self.http.retries {
            h.retries = r;
        }
        if let Some(m) = self.http.max_body_bytes {
            h.max_body_bytes = m;
        }
        for (name, value) in &self.http.headers {
            h.headers.push((name.clone(), value.clone()));
        }
        let key_header = self.http.api_key_header.as_deref().unwrap_or("apiKey");
        if let Some(var) = &self.http.api_key_env
            && let Ok(key) = std::env::var(var)
            && !key.trim().is_empty()
        {
            h.headers
                .push((key_header.to_owned(), key.trim().to_owned()));
        }
        h.min_interval = match (self.http.min_interval_ms, &self.location) {
            (Some(ms), _) => Duration::from_millis(ms),
            (None, Location::NvdApi { .. }) => nvd_api::default_interval(h.has_header(key_header)),
            (None, _) => Duration::ZERO,
        };
        options
    }

    /// Fetches this feed with its [`FeedSpec::fetch_options`] (see [`fetch::fetch`]).
    pub fn fetch(
        &self,
        previous: &FetchCursor,
        sink: &mut dyn FnMut(Item, &FetchCursor) -> Flow,
    ) -> Result<FetchOutcome, FetchError> {
        fetch::fetch(&self.location, &self.fetch_options(), previous, sink)
    }
}

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// The feeds, in file order.
    pub feeds: Vec<FeedSpec>,
    /// The merge precedence (defaults where the file gives no list).
    pub precedence: Precedence,
}

/// Reads a duration like `90s`, `30m`, `6h`, `1d` or `1h30m`.
pub fn parse_interval(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(d))?,
            );
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if number.is_some() || total == 0 {
        return None;
    }
    Some(Duration::from_secs(total))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn invalid(line: u64, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        line,
        reason: reason.into(),
    }
}

fn parse_kind(text: &str) -> Option<LocationKind> {
    use LocationKind::*;
    [Auto, File, Dir, Archive, Http, NvdApi]
        .into_iter()
        .find(|k| k.name() == text)
}

fn source_list(
    list: Option<Spanned<Vec<String>>>,
    default: Vec<Source>,
) -> Result<Vec<Source>, ConfigError> {
    let Some(list) = list else {
        return Ok(default);
    };
    let line = list.referenced.line();
    let mut out = Vec::new();
    for name in &list.value {
        let source = Source::from_name(name)
            .ok_or_else(|| invalid(line, format!("unknown source {name:?} in precedence")))?;
        if out.contains(&source) {
            return Err(invalid(
                line,
                format!("source {name:?} listed twice in precedence"),
            ));
        }
        out.push(source);
    }
    Ok(out)
}

impl FeedConfig {
    /// Reads a config from YAML text; relative locations are resolved against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        if text.len() > MAX_CONFIG_BYTES {
            return Err(invalid(
                0,
                format!("config larger than {MAX_CONFIG_BYTES} bytes"),
            ));
        }
        let options = crate::advisory::osv::strict_yaml_options(MAX_CONFIG_DEPTH, MAX_CONFIG_BYTES);
        let mut path: Option<String> = None;
        let raw: RawConfig = serde_saphyr::with_deserializer_from_slice_with_options(
            text.as_bytes(),
            options,
            |de| {
                serde_path_to_error::deserialize::<_, RawConfig>(de).map_err(|e| {
                    path = Some(e.path().to_string());
                    e.into_inner()
                })
            },
        )
        .map_err(|e| ConfigError::Yaml {
            line: e.location().map_or(0, |l| l.line()),
            reason: match &path {
                Some(p) if p != "." => format!("at {p}: {e}"),
                _ => e.to_string(),
            },
        })?;
        let mut names = BTreeSet::new();
        let mut feeds = Vec::with_capacity(raw.feeds.len());
        for feed in raw.feeds {
            let name_line = feed.name.referenced.line();
            let name = feed.name.value.trim().to_owned();
            if !valid_name(&name) {
                return Err(invalid(
                    name_line,
                    format!(
                        "feed name {name:?} must match [a-z0-9-]+ (at most 63, no leading or trailing '-')"
                    ),
                ));
            }
            if !names.insert(name.clone()) {
                return Err(invalid(name_line, format!("duplicate feed name {name:?}")));
            }
            let source = Source::from_name(feed.source.value.trim()).ok_or_else(|| {
                invalid(
                    feed.source.referenced.line(),
                    format!(
                        "feed {name}: unknown source {:?} (one of: {})",
                        feed.source.value,
                        Source::ALL.map(Source::name).join(", ")
                    ),
                )
            })?;
            let kind = match &feed.kind {
                None => LocationKind::Auto,
                Some(k) => parse_kind(k.value.trim()).ok_or_else(|| {
                    invalid(
                        k.referenced.line(),
                        format!(
                            "feed {name}: unknown kind {:?} (auto, file, dir, archive, http, nvd-api)",
                            k.value
                        ),
                    )
                })?,
            };
            let location_line = feed.location.referenced.line();
            let location_text = feed.location.value.trim().to_owned();
            if kind == LocationKind::NvdApi && source != Source::Nvd {
                return Err(invalid(
                    location_line,
                    format!("feed {name}: kind nvd-api needs source nvd"),
                ));
            }
            let location = Location::parse(&location_text, kind, base_dir)
                .map_err(|e| invalid(location_line, format!("feed {name}: {e}")))?;
            let interval = match &feed.interval {
                None => None,
                Some(i) => Some(parse_interval(&i.value).ok_or_else(|| {
                    invalid(
                        i.referenced.line(),
                        format!(
                            "feed {name}: interval {:?} is not like 90s, 30m, 6h, 1d",
                            i.value
                        ),
                    )
                })?),
            };
            let http = feed.http.unwrap_or_default();
            if let Some(var) = &http.api_key_env
                && (var.is_empty() || var.contains('='))
            {
                return Err(invalid(
                    name_line,
                    format!("feed {name}: apiKeyEnv {var:?} is not a variable name"),
                ));
            }
            for header in http.headers.keys().chain(http.api_key_header.iter()) {
                if header.is_empty()
                    || !header
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(invalid(
                        name_line,
                        format!("feed {name}: header name {header:?} is not a token"),
                    ));
                }
            }
            feeds.push(FeedSpec {
                name,
                source,
                location_text,
                location,
                kind,
                enabled: feed.enabled.unwrap_or(true),
                interval,
                http,
            });
        }
        let defaults = Precedence::default();
        let precedence = match raw.precedence {
            None => defaults,
            Some(p) => Precedence {
                distro_packages: source_list(p.distro_packages, defaults.distro_packages)?,
                language_packages: source_list(p.language_packages, defaults.language_packages)?,
                text: source_list(p.text, defaults.text)?,
                cvss: source_list(p.cvss, defaults.cvss)?,
            },
        };
        Ok(Self { feeds, precedence })
    }

    /// Reads the config file at `path` (relative locations resolve against its directory).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.len() > MAX_CONFIG_BYTES as u64 {
            return Err(invalid(
                0,
                format!("{}: larger than {MAX_CONFIG_BYTES} bytes", path.display()),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, &base)
    }

    /// The feed named `name`.
    pub fn feed(&self, name: &str) -> Option<&FeedSpec> {
        self.feeds.iter().find(|f| f.name == name)
    }

    /// The feeds of every folder of the real sample (`testdata/feeds-sample/...`, given
    /// the `testdata` folder), the same list as `e2e/feeds/sample.yaml`.
    pub fn sample(testdata: &Path) -> Self {
        let feeds = SAMPLE_FEEDS
            .iter()
            .map(|(name, source, folder)| {
                let path = testdata.join("feeds-sample").join(folder);
                FeedSpec {
                    name: (*name).to_owned(),
                    source: *source,
                    location_text: path.display().to_string(),
                    location: Location::Path {
                        path,
                        kind: LocationKind::Auto,
                    },
                    kind: LocationKind::Auto,
                    enabled: true,
                    interval: None,
                    http: HttpSettings::default(),
                }
            })
            .collect();
        Self {
            feeds,
            precedence: Precedence::default(),
        }
    }
}

/// (feed name, source, folder of `feeds-sample/`) of the sample config.
pub const SAMPLE_FEEDS: [(&str, Source, &str); 10] = [
    ("pypa", Source::Osv, "osv-pypi"),
    ("go", Source::Osv, "osv-go"),
    ("rustsec-osv", Source::Osv, "osv-crates"),
    ("ghsa", Source::Ghsa, "ghsa"),
    ("nvd", Source::Nvd, "nvd"),
    ("nvd-api-pages", Source::Nvd, "nvd-api-pages"),
    ("debian", Source::Debian, "debian-tracker"),
    ("alpine", Source::Alpine, "alpine-secdb"),
    ("rustsec", Source::Rustsec, "rustsec-native"),
    ("nodejs-wg", Source::NodejsWg, "npm-nodejs-wg"),
];
