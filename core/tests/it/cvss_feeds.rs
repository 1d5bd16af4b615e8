//! Every CVSS metric in the NVD sample (`testdata/feeds-sample`) must score to NVD's
//! published base score.

use crate::testdata;

use stella_core::advisory::cvss::score;

/// The `cve` objects of one NVD file: a bare record or an API page.
fn cves(doc: &serde_json::Value) -> Vec<&serde_json::Value> {
    match doc.get("vulnerabilities").and_then(|v| v.as_array()) {
        Some(list) => list.iter().filter_map(|v| v.get("cve")).collect(),
        None => vec![doc],
    }
}

#[test]
fn every_nvd_cvss_metric_scores_to_the_published_base_score() {
    let root = testdata::dir().join("feeds-sample");
    let mut files = Vec::new();
    for sub in ["nvd", "nvd-api-pages"] {
        for entry in std::fs::read_dir(root.join(sub)).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    let mut mismatches = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
        for cve in cves(&doc) {
            let Some(metrics) = cve.get("metrics").and_then(|m| m.as_object()) else {
                continue;
            };
            for (kind, expected_version) in [
                ("cvssMetricV2", "2.0"),
                ("cvssMetricV30", "3.0"),
                ("cvssMetricV31", "3.1"),
                ("cvssMetricV40", "4.0"),
            ] {
                for metric in metrics
                    .get(kind)
                    .and_then(|m| m.as_array())
                    .into_iter()
                    .flatten()
                {
                    let data = &metric["cvssData"];
                    let vector = data["vectorString"].as_str().expect("vectorString");
                    let published = data["baseScore"].as_f64().expect("baseScore");
                    match score(vector) {
                        Ok(s) => {
                            assert_eq!(s.version, expected_version, "{vector}");
                            if (s.score - published).abs() > 1e-9 {
                                mismatches.push(format!(
                                    "{}: {vector}: computed {} published {published}",
                                    path.display(),
                                    s.score
                                ));
                            }
                        }
                        Err(e) => mismatches.push(format!("{}: {e}", path.display())),
                    }
                    *checked.entry(kind).or_default() += 1;
                }
            }
        }
    }
    eprintln!("checked NVD CVSS metrics: {checked:?}");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let total: usize = checked.values().sum();
    assert!(total >= 98, "only {total} metrics checked");
    for kind in [
        "cvssMetricV2",
        "cvssMetricV30",
        "cvssMetricV31",
        "cvssMetricV40",
    ] {
        assert!(
            checked.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} checked"
        );
    }
}
