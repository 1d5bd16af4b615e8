//! HTTP(S) fetching: conditional GETs, retries with backoff, a per-feed rate limit, a
//! timeout and a body size limit. reqwest over rustls with the ring provider (no OpenSSL,
//! no aws-lc). The API is blocking: each [`HttpClient`] runs a small current-thread tokio
//! runtime, so it must not be called from inside an async runtime.
//!
//! A URL serves one document (named by the URL) or an archive (entries named `URL!entry`),
//! told by magic bytes, the URL's suffix and the Content-Type. Bodies are streamed to a
//! temporary file, so an `all.zip` of hundreds of MiB is never held in memory.

use std::cell::Cell;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::archive::{self, ArchiveFormat};
use super::{FetchCursor, FetchError, FetchOptions, FetchOutcome, Flow, HttpValidators, Item, Run};

/// Settings of a feed's HTTP client.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Whole-request timeout (connect, headers and body).
    pub timeout: Duration,
    /// Retries after the first attempt, on connect/timeout errors, 429 and 5xx.
    pub retries: u32,
    /// Minimum interval between two requests of this client (rate limit).
    pub min_interval: Duration,
    /// Largest accepted body.
    pub max_body_bytes: u64,
    /// First backoff delay; doubled per retry, plus up to 50 % jitter.
    pub backoff_base: Duration,
    /// Longest wait before a retry (also caps a server's Retry-After).
    pub max_backoff: Duration,
    /// Extra request headers (name, value), e.g. NVD's `apiKey`.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for HttpOptions {
    // Header values may be secrets (API keys): show names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpOptions")
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("min_interval", &self.min_interval)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("backoff_base", &self.backoff_base)
            .field("max_backoff", &self.max_backoff)
            .field("headers", &names)
            .finish()
    }
}

/// Default whole-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Default body limit (osv.dev's `all.zip` is about 1 GiB uncompressed, less zipped).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 2 * 1024 * 1024 * 1024;

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            retries: 4,
            min_interval: Duration::ZERO,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            backoff_base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(120),
            headers: Vec::new(),
        }
    }
}

impl HttpOptions {
    /// Whether a header named `name` (case-insensitive) is set.
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// What a GET returned.
#[derive(Debug)]
pub enum Response {
    /// 304: the validators sent still match.
    NotModified,
    /// 2xx: the body, in a temporary file positioned at its start.
    Body {
        /// The body.
        file: tempfile::NamedTempFile,
        /// Its length.
        len: u64,
        /// Lower-case hex SHA-256 of the body.
        sha256: String,
        /// The response's validators.
        validators: HttpValidators,
        /// The Content-Type, if any.
        content_type: Option<String>,
    },
}

/// A blocking HTTP client with retries and a rate limit (one per feed).
pub struct HttpClient {
    options: HttpOptions,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    last_request: Cell<Option<Instant>>,
    requests: Cell<usize>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("options", &self.options)
            .field("requests", &self.requests.get())
            .finish()
    }
}

/// One attempt's failure: retry it or not, and after how long at least.
enum Failure {
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    Fatal(FetchError),
}

impl HttpClient {
    /// A client with `options` (installs rustls' ring provider if none is installed).
    pub fn new(options: HttpOptions) -> Result<Self, FetchError> {
        // Without aws-lc, rustls needs a process-wide provider; an existing one is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let setup = |reason: String| FetchError::Http {
            url: String::new(),
            reason,
        };
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("stella-feedser/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| setup(format!("HTTP client setup: {e}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| setup(format!("runtime setup: {e}")))?;
        Ok(Self {
            options,
            client,
            runtime,
            last_request: Cell::new(None),
            requests: Cell::new(0),
        })
    }

    /// The options.
    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// Requests sent so far (retries included).
    pub fn requests(&self) -> usize {
        self.requests.get()
    }

    /// GETs `url`, conditionally when `validators` are given, retrying transient
    /// failures; the body goes to a temporary file.
    pub fn get(
        &self,
        url: &str,
        validators: Option<&HttpValidators>,
    ) -> Result<Response, FetchError> {
        let mut attempt: u32 = 0;
        loop {
            self.wait_turn();
            self.requests.set(self.requests.get() + 1);
            let result = self.runtime.block_on(self.attempt(url, validators));
            // Measured from the end of the exchange, so the server sees the interval
            // between requests even when one took long to arrive.
            self.last_request.set(Some(Instant::now()));
            match result {
                Ok(response) => return Ok(response),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry {
                    reason,
                    retry_after,
                }) => {
                    if attempt >= self.options.retries {
                        return Err(FetchError::Http {
                            url: url.to_owned(),
                            reason: format!("{reason} (after {} attempts)", attempt + 1),
                        });
                    }
                    let delay = match retry_after {
                        Some(d) if d > self.options.max_backoff => {
                            return Err(FetchError::Http {
                                url: url.to_owned(),
                                reason: format!(
                                    "{reason}; Retry-After {}s exceeds the {}s limit",
                                    d.as_secs(),
                                    self.options.max_backoff.as_secs()
                                ),
                            });
                        }
                        Some(d) => d,
                        None => {
                            backoff(self.options.backoff_base, self.options.max_backoff, attempt)
                        }
                    };
                    tracing::debug!(url, attempt, ?delay, %reason, "retrying");
                    std::thread::sleep(delay);
                    attempt += 1;
                }
            }
        }
    }

    /// Sleeps until `min_interval` has passed since the previous exchange ended.
    fn wait_turn(&self) {
        if let Some(last) = self.last_request.get() {
            let next = last + self.options.min_interval;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
    }

    async fn attempt(
        &self,
        url: &str,
        validators: Option<&HttpValidators>,
    ) -> Result<Response, Failure> {
        let fatal = |reason: String| {
            Failure::Fatal(FetchError::Http {
                url: url.to_owned(),
                reason,
            })
        };
        let mut request = self.client.get(url);
        for (name, value) in &self.options.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(v) = validators {
            if let Some(etag) = &v.etag {
                request = request.header("If-None-Match", etag.as_str());
            }
            if let Some(lm) = &v.last_modified {
                request = request.header("If-Modified-Since", lm.as_str());
            }
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => return Err(fatal(e.to_string())),
            Err(e) => {
                return Err(Failure::Retry {
                    reason: transport_reason(&e),
                    retry_after: None,
                });
            }
        };
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if status.as_u16() == 304 && validators.is_some() {
            return Ok(Response::NotModified);
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(Failure::Retry {
                reason: format!("HTTP {status}"),
                retry_after: header("retry-after").and_then(|v| parse_retry_after(&v)),
            });
        }
        if !status.is_success() {
            return Err(fatal(format!("HTTP {status}")));
        }
        let limit = self.options.max_body_bytes;
        let too_large = || {
            Failure::Fatal(FetchError::TooLarge {
                name: url.to_owned(),
                limit,
            })
        };
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let validators = HttpValidators {
            etag: header("etag"),
            last_modified: header("last-modified"),
            body_sha256: None,
        };
        let content_type = header("content-type");
        let mut file =
            tempfile::NamedTempFile::new().map_err(|e| fatal(format!("temporary file: {e}")))?;
        let mut hasher = Sha256::new();
        let mut len: u64 = 0;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    return Err(Failure::Retry {
                        reason: transport_reason(&e),
                        retry_after: None,
                    });
                }
            };
            len = len.saturating_add(chunk.len() as u64);
            if len > limit {
                return Err(too_large());
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .map_err(|e| fatal(format!("temporary file: {e}")))?;
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| fatal(format!("temporary file: {e}")))?;
        let sha256 = crate::hex::encode(&hasher.finalize());
        Ok(Response::Body {
            file,
            len,
            validators: HttpValidators {
                body_sha256: Some(sha256.clone()),
                ..validators
            },
            sha256,
            content_type,
        })
    }
}

/// A transport error's message with its causes (reqwest's top message is terse).
fn transport_reason(e: &reqwest::Error) -> String {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}

/// `base * 2^attempt`, capped at `max`, plus up to 50 % jitter (so feeds retrying
/// together do not stay in step).
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX));
    let delay = exp.min(max);
    let jitter_ms = (delay.as_millis() as u64) / 2;
    let jitter = if jitter_ms == 0 {
        0
    } else {
        random_u64() % jitter_ms
    };
    (delay + Duration::from_millis(jitter)).min(max.max(delay))
}

/// A random number from the standard library's per-instance hasher keys (no rand crate
/// needed for jitter).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Reads a `Retry-After` value: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// The archive format of a downloaded body: magic bytes (see [`archive::detect_file`]),
/// then the URL's suffix and the Content-Type for a compressed stream whose inner
/// content did not say (`.tar.gz` served as `application/gzip`).
fn body_format(
    file: &mut File,
    url: &str,
    content_type: Option<&str>,
) -> Result<Option<ArchiveFormat>, FetchError> {
    let io = |e: std::io::Error| FetchError::Http {
        url: url.to_owned(),
        reason: format!("temporary file: {e}"),
    };
    let path_part = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let format = archive::detect_reader(file, &path_part).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let tar_hint = ct.contains("tar") || path_part.contains(".tar");
    Ok(match format {
        Some(ArchiveFormat::Gz) if tar_hint => Some(ArchiveFormat::TarGz),
        Some(ArchiveFormat::Zst) if tar_hint => Some(ArchiveFormat::TarZst),
        other => other,
    })
}

/// Whether a document name belongs to the URL `url` (`url` or `url!entry`).
pub(crate) fn owned_by(url: &str, name: &str) -> bool {
    name == url
        || name
            .strip_prefix(url)
            .is_some_and(|rest| rest.starts_with('!'))
}

/// Fetches one URL: on 304 every document it gave last time is Unchanged; otherwise the
/// body is one document (named by the URL) or an archive (entries `URL!entry`).
/// The URL's validators enter the cursor only when the listing completed, so an
/// interrupted archive is fetched again in full.
pub(crate) fn fetch_url(
    client: &HttpClient,
    url: &str,
    options: &FetchOptions,
    previous: &FetchCursor,
    sink: &mut dyn FnMut(Item, &FetchCursor) -> Flow,
) -> Result<FetchOutcome, FetchError> {
    let validators = previous
        .http
        .get(url)
        .filter(|v| v.etag.is_some() || v.last_modified.is_some());
    let response = client.get(url, validators)?;
    let mut run = Run::new(previous, sink);
    run.stats.requests = client.requests();
    let new_validators = match response {
        Response::NotModified => {
            let names: Vec<String> = previous
                .documents
                .keys()
                .filter(|n| owned_by(url, n))
                .cloned()
                .collect();
            for name in names {
                if !run.unchanged(name) {
                    break;
                }
            }
            previous.http.get(url).cloned()
        }
        Response::Body {
            mut file,
            len,
            validators,
            content_type,
            ..
        } => {
            match body_format(file.as_file_mut(), url, content_type.as_deref())? {
                Some(format) => {
                    archive::fetch_archive_file(file.path(), format, url, options, &mut run)?;
                }
                None => {
                    if len > options.max_document_bytes {
                        return Err(FetchError::TooLarge {
                            name: url.to_owned(),
                            limit: options.max_document_bytes,
                        });
                    }
                    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                    file.as_file_mut()
                        .read_to_end(&mut bytes)
                        .map_err(|e| FetchError::Http {
                            url: url.to_owned(),
                            reason: format!("temporary file: {e}"),
                        })?;
                    run.document(url.to_owned(), bytes);
                }
            }
            Some(validators)
        }
    };
    let stopped = run.stopped();
    let mut outcome = run.finish(true, |n| owned_by(url, n));
    if !stopped && let Some(v) = new_validators {
        outcome.cursor.http.insert(url.to_owned(), v);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter_and_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for attempt in 0..4u32 {
            let d = backoff(base, max, attempt);
            let exp = base * 2u32.pow(attempt);
            assert!(d >= exp && d <= exp + exp / 2, "{attempt}: {d:?}");
        }
        assert_eq!(
            backoff(base, max, 30),
            max.max(backoff(base, max, 30)).min(max)
        );
        assert!(backoff(base, max, u32::MAX) <= max);
    }

    #[test]
    fn retry_after_seconds_or_date() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(100)).to_rfc2822();
        let d = parse_retry_after(&future).expect("date");
        assert!(d > Duration::from_secs(90) && d <= Duration::from_secs(100));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn documents_owned_by_a_url() {
        let url = "https://x.example/all.zip";
        assert!(owned_by(url, url));
        assert!(owned_by(url, "https://x.example/all.zip!a/b.json"));
        assert!(!owned_by(url, "https://x.example/all.zip2"));
        assert!(!owned_by(url, "https://x.example/all"));
    }
}
