//! `stella feeds status`: per feed, what the store knows of its runs.

use clap::Args;
use stella_core::feedser::fetch::FetchCursor;

use super::{Output, StoreArgs};

/// Arguments of `stella feeds status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// `stella feeds status`.
pub fn run(args: StatusArgs) -> anyhow::Result<u8> {
    let store = args.store.open()?;
    let now = chrono::Utc::now();
    let mut rows = Vec::new();
    for state in store.feed_states()? {
        let counts = store.feed_counts(&state.feed)?;
        let cursor = serde_json::from_value::<FetchCursor>(state.cursor.clone()).ok();
        let age_hours = state
            .last_success
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| (now - t.with_timezone(&chrono::Utc)).num_minutes() as f64 / 60.0);
        rows.push(serde_json::json!({
            "feed": state.feed,
            "source": state.source,
            "last_success": state.last_success,
            "last_attempt": state.last_attempt,
            "last_error": state.last_error,
            "last_fetch": state.last_fetch,
            "feed_age_hours": age_hours,
            "documents": counts.documents,
            "records": counts.records,
            "skipped": counts.skipped,
            "newest_modified": counts.newest_modified,
            "cursor": cursor_summary(cursor.as_ref()),
        }));
    }
    let advisories = store.advisories()?.len();
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "feeds": rows,
                "advisories": advisories,
            }))?
        ),
        Output::Table => {
            println!(
                "{:<16} {:<10} {:<21} {:>8} {:>8} {:>8} {:<24} ERROR",
                "FEED", "SOURCE", "LAST SUCCESS", "AGE(h)", "RECORDS", "SKIPPED", "CURSOR"
            );
            for r in &rows {
                let text = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
                println!(
                    "{:<16} {:<10} {:<21} {:>8} {:>8} {:>8} {:<24} {}",
                    text("feed"),
                    text("source"),
                    text("last_success"),
                    r["feed_age_hours"]
                        .as_f64()
                        .map_or("-".to_owned(), |h| format!("{h:.1}")),
                    r["records"].as_u64().unwrap_or(0),
                    r["skipped"].as_u64().unwrap_or(0),
                    text("cursor"),
                    text("last_error"),
                );
            }
            println!("canonical advisories: {advisories}");
        }
    }
    Ok(0)
}

/// A one-line view of a cursor: documents fingerprinted, and the NVD window if any.
fn cursor_summary(cursor: Option<&FetchCursor>) -> String {
    let Some(c) = cursor else {
        return "none".to_owned();
    };
    let mut out = format!("{} documents", c.documents.len());
    if let Some(nvd) = &c.nvd {
        out.push_str(&format!(", nvd {nvd:?}"));
    }
    out
}
