//! `stella feeds show ID`: one canonical advisory, found by any of its ids.

use clap::Args;

use super::{Output, StoreArgs};

/// Arguments of `stella feeds show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Any id of the advisory: CVE, GHSA, PYSEC, DSA, ...
    id: String,
    #[command(flatten)]
    store: StoreArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Json)]
    output: Output,
}

/// `stella feeds show`; exit code 2 when no advisory has that id.
pub fn run(args: ShowArgs) -> anyhow::Result<u8> {
    let store = args.store.open()?;
    let Some(advisory) = store.advisory(args.id.trim())? else {
        anyhow::bail!("no canonical advisory has the id {:?}", args.id);
    };
    match args.output {
        Output::Json => {
            // The advisory with `sources`: one entry per contributing source record.
            let mut value = serde_json::to_value(&advisory)?;
            value["sources"] = serde_json::to_value(&advisory.provenance)?;
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Output::Table => {
            println!("id:        {}", advisory.id);
            println!("aliases:   {}", advisory.aliases.join(", "));
            if let Some(s) = &advisory.summary {
                println!("summary:   {s}");
            }
            if let Some(c) = &advisory.cvss {
                println!(
                    "cvss:      {} {} ({})",
                    c.score.map_or("-".to_owned(), |s| format!("{s:.1}")),
                    c.vector,
                    c.source.source
                );
            }
            println!("sources:");
            for p in &advisory.provenance {
                println!(
                    "  {:<10} {:<24} {} {}",
                    p.source,
                    p.record_id,
                    p.document,
                    p.fetch.as_deref().unwrap_or("")
                );
            }
            println!("affected:");
            for a in &advisory.affected {
                println!(
                    "  {:<24} {:<32} from {}",
                    a.ecosystem, a.name, a.source.source
                );
            }
        }
    }
    Ok(0)
}
