//! `stella token request` (OAuth2 client credentials) and `stella token offline`
//! (a 30-day token an admin issues for air-gapped use).

use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};

use serde::Serialize;
use stella_core::server_api::{OfflineRequest, OfflineToken, TokenRequest, TokenResponse};

use crate::server_client::ServerArgs;

/// How to print a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenOutput {
    /// The token alone (for `STELLA_TOKEN=$(stella token request ...)`).
    Text,
    /// The server's whole JSON answer (expiry, scopes).
    Json,
}

/// `stella token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Get an access token with a client id and secret (OAuth2 client credentials).
    Request(RequestArgs),
    /// Issue a 30-day offline token for a subject (needs an admin token).
    Offline(OfflineArgs),
}

/// Arguments of `stella token request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The client id.
    #[arg(long, env = "STELLA_CLIENT_ID", value_name = "ID")]
    client_id: String,
    /// The client secret.
    #[arg(
        long,
        env = "STELLA_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    client_secret: String,
    /// Scopes wanted, space- or comma-separated (default: all the client holds).
    #[arg(long, value_name = "SCOPES")]
    scope: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = TokenOutput::Text)]
    output: TokenOutput,
}

/// Arguments of `stella token offline`.
#[derive(Debug, Args)]
pub struct OfflineArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Whom the token is for (its scans count against this subject's quota).
    #[arg(long, value_name = "SUBJECT")]
    subject: String,
    /// The subject's tier: `Free`, `Team` or `Enterprise`.
    #[arg(long, value_name = "TIER")]
    tier: String,
    /// Scopes of the token (repeat or comma-separate; default `scan`).
    #[arg(long, value_name = "SCOPE", value_delimiter = ',')]
    scope: Vec<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = TokenOutput::Text)]
    output: TokenOutput,
}

/// Runs a `stella token` subcommand; returns the exit code.
pub fn run(command: TokenCommand) -> anyhow::Result<u8> {
    match command {
        TokenCommand::Request(args) => request(args),
        TokenCommand::Offline(args) => offline(args),
    }
}

fn request(args: RequestArgs) -> anyhow::Result<u8> {
    let remote = args.server.connect()?;
    let form = TokenRequest {
        grant_type: "client_credentials".to_owned(),
        client_id: Some(args.client_id.clone()),
        client_secret: Some(args.client_secret.clone()),
        scope: args.scope.as_deref().map(|scope| {
            let scopes: Vec<&str> = scope.split([' ', ',']).filter(|s| !s.is_empty()).collect();
            scopes.join(" ")
        }),
    };
    let answer: TokenResponse = remote.json(
        remote.post_anonymous("/connect/token").form(&form),
        "token request",
    )?;
    print_token(&answer, &answer.access_token, args.output)
}

fn offline(args: OfflineArgs) -> anyhow::Result<u8> {
    let remote = args.server.connect()?;
    let body = OfflineRequest {
        subject: args.subject,
        tier: args.tier,
        scopes: (!args.scope.is_empty()).then_some(args.scope),
    };
    let answer: OfflineToken = remote.json(
        remote.post("/api/v1/token/offline")?.json(&body),
        "offline token",
    )?;
    print_token(&answer, &answer.token, args.output)
}

/// Prints the token alone, or the whole answer.
fn print_token(answer: &impl Serialize, token: &str, output: TokenOutput) -> anyhow::Result<u8> {
    let text = match output {
        TokenOutput::Json => serde_json::to_string_pretty(answer)?,
        TokenOutput::Text => token.to_owned(),
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(0)
}
