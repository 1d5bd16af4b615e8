//! Reading `stella scan --output json` reports in tests.

use std::collections::BTreeSet;

/// (lower-cased package name, finding id) of every finding of a JSON report.
pub fn finding_ids(report: &serde_json::Value) -> BTreeSet<(String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["packageName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                f["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}
