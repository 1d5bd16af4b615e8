//! The stella-server as seen by `stella`: connection flags, a blocking HTTP
//! client, and HTTP failures turned into exit codes.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;
use stella_core::server_api::{ErrorBody, OAuthError, QuotaExceeded};

use crate::EXIT_USAGE_OR_INPUT;

/// Exit code when the server refuses a scan because the daily quota is used up (HTTP 429).
pub const EXIT_QUOTA: u8 = 4;

/// Flags that say how to reach a stella-server.
#[derive(Debug, Default, Args)]
pub struct ServerArgs {
    /// stella-server URL (`https://stella.example` or `http://127.0.0.1:8443`).
    #[arg(long, env = "STELLA_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Bearer token for the server (`stella token request`).
    #[arg(
        long,
        env = "STELLA_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// PEM file of a CA to trust for an https server, besides the system roots.
    #[arg(long, env = "STELLA_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Timeout of each request to the server, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub server_timeout: u64,
}

/// A failure that ends `stella` with its own exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitError {
    /// The process exit code.
    pub code: u8,
    /// What to tell the user.
    pub message: String,
}

impl ExitError {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE_OR_INPUT,
            message: message.into(),
        }
    }
}

/// The exit code an error asks for (2 unless it carries an [`ExitError`]).
pub fn exit_code_of(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| e.downcast_ref::<ExitError>())
        .map_or(EXIT_USAGE_OR_INPUT, |e| e.code)
}

/// A connection to one server.
#[derive(Debug)]
pub struct Remote {
    base: String,
    token: Option<String>,
    http: Client,
}

impl ServerArgs {
    /// True when `--server` (or `STELLA_SERVER`) is given.
    pub fn is_set(&self) -> bool {
        self.server.as_deref().is_some_and(|s| !s.trim().is_empty())
    }

    /// A client for the server (fails when no server is given or the CA file is bad).
    pub fn connect(&self) -> anyhow::Result<Remote> {
        let base = match self.server.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => s.trim_end_matches('/').to_owned(),
            _ => return Err(ExitError::usage("give --server URL (or STELLA_SERVER)").into()),
        };
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ExitError::usage(format!(
                "--server {base}: the URL must start with http:// or https://"
            ))
            .into());
        }
        // reqwest is built without a default crypto provider: ring, as elsewhere in stella.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = Client::builder()
            .user_agent(concat!("stella/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(self.server_timeout.min(30)))
            .timeout(Duration::from_secs(self.server_timeout));
        if let Some(path) = &self.ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading --ca-cert {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("--ca-cert {}: not a PEM certificate", path.display()))?;
            if certs.is_empty() {
                anyhow::bail!("--ca-cert {}: no certificate in it", path.display());
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().context("setting up the HTTP client")?;
        Ok(Remote {
            base,
            token: self.token.clone().filter(|t| !t.trim().is_empty()),
            http,
        })
    }
}

impl Remote {
    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The server's URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The token, or a usage error naming the flag.
    fn bearer(&self) -> anyhow::Result<&str> {
        self.token.as_deref().ok_or_else(|| {
            ExitError::usage(
                "give --token TOKEN (or STELLA_TOKEN); `stella token request` makes one",
            )
            .into()
        })
    }

    /// A GET of `path` with the token.
    pub fn get(&self, path: &str) -> anyhow::Result<RequestBuilder> {
        Ok(self.http.get(self.url(path)).bearer_auth(self.bearer()?))
    }

    /// A POST to `path` with the token.
    pub fn post(&self, path: &str) -> anyhow::Result<RequestBuilder> {
        Ok(self.http.post(self.url(path)).bearer_auth(self.bearer()?))
    }

    /// A PUT to `path` with the token.
    pub fn put(&self, path: &str) -> anyhow::Result<RequestBuilder> {
        Ok(self.http.put(self.url(path)).bearer_auth(self.bearer()?))
    }

    /// A POST to `path` without the token (the token endpoint).
    pub fn post_anonymous(&self, path: &str) -> RequestBuilder {
        self.http.post(self.url(path))
    }

    /// Sends `request`; a network failure is exit code 2 with the server named.
    pub fn send(&self, request: RequestBuilder, what: &str) -> anyhow::Result<Response> {
        request.send().map_err(|e| {
            ExitError::usage(format!(
                "{what}: cannot reach the server {}: {}",
                self.base,
                error_chain(&e)
            ))
            .into()
        })
    }

    /// Sends `request` and fails on any status but 2xx ([`status_error`]).
    pub fn send_ok(&self, request: RequestBuilder, what: &str) -> anyhow::Result<Response> {
        let response = self.send(request, what)?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(status_error(what, response).into())
    }

    /// Sends `request`, expects 2xx and reads the JSON body as `T`.
    pub fn json<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        what: &str,
    ) -> anyhow::Result<T> {
        let response = self.send_ok(request, what)?;
        read_json(response, what)
    }
}

/// A response body as JSON of type `T` (a `stella_core::server_api` answer).
pub fn read_json<T: DeserializeOwned>(response: Response, what: &str) -> anyhow::Result<T> {
    let bytes = response.bytes().map_err(|e| {
        ExitError::usage(format!("{what}: reading the answer: {}", error_chain(&e)))
    })?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{what}: the server's answer is not the expected JSON"))
}

/// The error body of a failed request (`{"error", "message", "details"}` from the API,
/// `{"error", "error_description"}` from the token endpoint).
#[derive(Debug, Default)]
pub struct ErrorAnswer {
    /// HTTP status.
    pub status: u16,
    /// Machine-readable code.
    pub code: String,
    /// The server's message.
    pub message: String,
    /// Details, if any.
    pub details: Option<serde_json::Value>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
}

impl ErrorAnswer {
    /// Reads a failed response.
    pub fn read(response: Response) -> Self {
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let bytes = response.bytes().unwrap_or_default();
        let (code, message, details) = if let Ok(body) = serde_json::from_slice::<ErrorBody>(&bytes)
        {
            (body.error, body.message, body.details)
        } else if let Ok(body) = serde_json::from_slice::<OAuthError>(&bytes) {
            (body.error, body.error_description, None)
        } else {
            Default::default()
        };
        Self {
            status,
            code,
            message,
            details,
            retry_after,
        }
    }

    /// The details as `T` (e.g. `MissingLayers` of a 409), if they are that.
    pub fn details_as<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.details.clone()?).ok()
    }
}

fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

/// The exit error for a failed response: 429 is [`EXIT_QUOTA`] with the reset time,
/// everything else (401/403, 4xx, 5xx) exit code 2 with the server's message.
pub fn status_error(what: &str, response: Response) -> ExitError {
    answer_error(what, &ErrorAnswer::read(response))
}

/// The exit error for an error answer already read.
pub fn answer_error(what: &str, answer: &ErrorAnswer) -> ExitError {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let said = if answer.message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        answer.message.clone()
    };
    match status {
        StatusCode::TOO_MANY_REQUESTS => {
            // The server's message usually says when; add it only when it does not.
            let reset = answer
                .details_as::<QuotaExceeded>()
                .filter(|_| !said.contains("reset"))
                .map(|q| {
                    let at = q
                        .reset_at
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                    format!("; the quota resets at {at}")
                })
                .unwrap_or_default();
            let retry = answer
                .retry_after
                .map(|s| format!(" (Retry-After: {s} s)"))
                .unwrap_or_default();
            ExitError {
                code: EXIT_QUOTA,
                message: format!("{what}: quota exceeded (HTTP 429): {said}{reset}{retry}"),
            }
        }
        StatusCode::UNAUTHORIZED => ExitError::usage(format!(
            "{what}: not authenticated (HTTP 401): {said}; get a token with `stella token \
             request` and pass it with --token or STELLA_TOKEN"
        )),
        StatusCode::FORBIDDEN => ExitError::usage(format!(
            "{what}: not allowed (HTTP 403): {said}; the token needs another scope"
        )),
        s if s.is_server_error() => {
            let retry = answer
                .retry_after
                .map(|s| format!(" (Retry-After: {s} s)"))
                .unwrap_or_default();
            ExitError::usage(format!("{what}: server error (HTTP {s}): {said}{retry}"))
        }
        s => ExitError::usage(format!("{what}: refused (HTTP {s}): {said}")),
    }
}

/// `e` and its sources on one line (reqwest's top-level message alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
