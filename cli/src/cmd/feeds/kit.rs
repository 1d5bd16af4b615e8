//! `stella feeds export`, `stella feeds kit build|import`, `stella feeds keygen`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use stella_core::feedser::export::{self, ExportOptions, Layout};
use stella_core::feedser::kit;
use stella_core::feedser::runner;
use stella_core::signing_key::Ed25519Key;

use super::{StoreArgs, install_snapshot, now};

/// `stella feeds kit ...`
#[derive(Debug, Subcommand)]
pub enum KitCommand {
    /// Export the store and pack it into one signed `.tar.zst`.
    Build(KitBuildArgs),
    /// Verify a kit (signature, digests, age) and install it into the store.
    Import(KitImportArgs),
}

/// How advisories are laid out in an export.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LayoutArg {
    /// One JSON file per advisory.
    Files,
    /// One JSONL file.
    Jsonl,
}

impl From<LayoutArg> for Layout {
    fn from(l: LayoutArg) -> Self {
        match l {
            LayoutArg::Files => Layout::Files,
            LayoutArg::Jsonl => Layout::Jsonl,
        }
    }
}

/// Arguments of `stella feeds export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Output directory (created; must be empty).
    #[arg(long)]
    out: PathBuf,
    /// Advisory layout.
    #[arg(long, value_enum, default_value_t = LayoutArg::Files)]
    layout: LayoutArg,
    /// `created` of the manifest (RFC 3339); default: the latest `modified` of any advisory.
    #[arg(long)]
    created: Option<String>,
}

/// Arguments of `stella feeds kit build`.
#[derive(Debug, Args)]
pub struct KitBuildArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Ed25519 private key (PKCS#8 PEM) from `stella feeds keygen`.
    #[arg(long, env = "STELLA_KIT_KEY")]
    key: PathBuf,
    /// The kit to write (`.tar.zst`).
    #[arg(long)]
    out: PathBuf,
    /// Advisory layout.
    #[arg(long, value_enum, default_value_t = LayoutArg::Files)]
    layout: LayoutArg,
}

/// Arguments of `stella feeds kit import`.
#[derive(Debug, Args)]
pub struct KitImportArgs {
    /// The kit (`.tar.zst`).
    kit: PathBuf,
    /// Trusted public key (SPKI PEM); repeatable.
    #[arg(long = "trust", required = true, value_name = "PUBLIC_KEY")]
    trusted: Vec<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// Advisory DB the scan reads (the kit's matcher snapshot is installed there).
    #[arg(long, env = "STELLA_DB")]
    db: Option<PathBuf>,
    /// Install even when the kit is older than (or the same as) the installed one.
    #[arg(long)]
    force: bool,
}

/// Arguments of `stella feeds keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Writes PREFIX.key (private, mode 0600) and PREFIX.pub (public).
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
}

/// Run a `kit` subcommand.
pub fn run(cmd: KitCommand) -> anyhow::Result<u8> {
    match cmd {
        KitCommand::Build(a) => run_build(a),
        KitCommand::Import(a) => run_import(a),
    }
}

/// `stella feeds export`: prints the files' count, then the root digest last.
pub fn run_export(args: ExportArgs) -> anyhow::Result<u8> {
    let store = args.store.open()?;
    let advisories = store.advisories()?;
    let options = ExportOptions {
        layout: args.layout.into(),
        created: args.created,
        ..ExportOptions::default()
    };
    let manifest = export::write(&advisories, &args.out, &options)?;
    eprintln!(
        "exported {} advisories, {} files, to {}",
        manifest.advisory_count,
        manifest.files.len(),
        args.out.display()
    );
    println!("{}", manifest.root_digest);
    Ok(0)
}

fn run_build(args: KitBuildArgs) -> anyhow::Result<u8> {
    let key = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading the private key {}", args.key.display()))?;
    let store = args.store.open()?;
    let advisories = store.advisories()?;
    let work = tempfile::tempdir().context("creating a work directory")?;
    let export_dir = work.path().join("export");
    let options = ExportOptions {
        layout: args.layout.into(),
        ..ExportOptions::default()
    };
    export::write(&advisories, &export_dir, &options)?;
    let info = kit::build(&export_dir, &key, &args.out)?;
    eprintln!(
        "kit {}: {} advisories, created {}, signed by key {}",
        args.out.display(),
        info.advisory_count,
        info.created,
        info.key_id
    );
    println!("{}", info.root_digest);
    Ok(0)
}

fn run_import(args: KitImportArgs) -> anyhow::Result<u8> {
    let trusted = args
        .trusted
        .iter()
        .map(|p| {
            std::fs::read_to_string(p).with_context(|| format!("reading the key {}", p.display()))
        })
        .collect::<anyhow::Result<Vec<String>>>()?;
    let mut store = args.store.open()?;
    let installed = runner::installed_kit(store.as_ref())?;
    let db = crate::paths::db_path(args.db.clone());
    let work_dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(PathBuf::from);
    if let Some(dir) = &work_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let imported = kit::import_with(
        &args.kit,
        &trusted,
        installed.as_ref(),
        args.force,
        &kit::ImportOptions {
            work_dir,
            ..kit::ImportOptions::default()
        },
    )?;
    let summary = runner::install_kit(store.as_mut(), &imported, &now)?;
    match imported.matcher_db() {
        Some(verified) => stella_core::feedser::snapshot::install_file(&verified, &db)?,
        None => {
            install_snapshot(&imported.advisories, Some(db.clone()))?;
        }
    }
    eprintln!(
        "installed kit created {} ({} advisories: {} created, {} updated, {} retracted); snapshot {}",
        imported.info.created,
        summary.advisories,
        summary.created,
        summary.updated,
        summary.retracted,
        db.display()
    );
    println!("{}", imported.info.root_digest);
    Ok(0)
}

/// `stella feeds keygen`.
pub fn run_keygen(args: KeygenArgs) -> anyhow::Result<u8> {
    let key = Ed25519Key::generate()?;
    let with = |ext: &str| {
        let mut p = args.out.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let (private, public) = (with(".key"), with(".pub"));
    write_private(&private, key.pkcs8_pem().as_bytes())?;
    std::fs::write(&public, key.public_pem().as_bytes())
        .with_context(|| format!("writing {}", public.display()))?;
    eprintln!(
        "private key {} (keep it secret), public key {} (give it to `kit import --trust`)",
        private.display(),
        public.display()
    );
    println!("{}", key.key_id());
    Ok(0)
}

/// Creates `path` readable by its owner only; refuses to overwrite a key.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
