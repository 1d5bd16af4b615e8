//! `stella`: the StellaOps command-line scanner.
//!
//! Exit codes: 0 pass, 1 policy failure, 2 usage or input error, 4 server quota
//! exceeded (see README).

mod cmd;
mod paths;
mod progress;
mod server_client;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code for usage and input errors (clap uses the same for bad arguments).
pub(crate) const EXIT_USAGE_OR_INPUT: u8 = 2;

/// StellaOps: SBOM-first container vulnerability scanning.
#[derive(Debug, Parser)]
#[command(
    name = "stella",
    version,
    about,
    propagate_version = true,
    after_help = "Exit codes: 0 pass or warn, 1 policy failure (verdict fail), 2 usage, input, \
                  server or network error, 4 server quota exceeded (HTTP 429)."
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "STELLA_LOG_FORMAT")]
    log_format: LogFormat,
    /// More log output (-v info, -vv debug, -vvv trace); `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan an SBOM against the advisory DB and give a verdict.
    #[command(
        after_help = "Exit codes: 0 pass or warn, 1 policy failure (verdict fail), 2 usage, input, \
                      server or network error, 4 server quota exceeded (HTTP 429, --server)."
    )]
    Scan(Box<cmd::scan::ScanArgs>),
    /// Build the SBOM of a container image (layer-aware).
    Sbom(cmd::sbom::SbomArgs),
    /// Policies: validate files, print the JSON Schema, explain decisions.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// Manage the embedded advisory DB.
    #[command(subcommand)]
    Db(cmd::db::DbCommand),
    /// Feedser: sync advisory feeds, merge, export snapshots and offline kits.
    #[command(subcommand)]
    Feeds(cmd::feeds::FeedsCommand),
    /// Tokens for a stella-server: client credentials, offline tokens.
    #[command(subcommand)]
    Token(cmd::token::TokenCommand),
    /// Your daily scan quota on a stella-server.
    Quota(cmd::quota::QuotaArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, cli.verbose);
    let result = match cli.command {
        Command::Scan(args) => cmd::scan::run(*args),
        Command::Sbom(args) => cmd::sbom::run(args),
        Command::Policy(c) => cmd::policy::run(c),
        Command::Db(c) => cmd::db::run(c),
        Command::Feeds(c) => cmd::feeds::run(c),
        Command::Token(c) => cmd::token::run(c),
        Command::Quota(args) => cmd::quota::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("stella: error: {err:#}");
            ExitCode::from(server_client::exit_code_of(&err))
        }
    }
}

fn init_logging(format: LogFormat, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
