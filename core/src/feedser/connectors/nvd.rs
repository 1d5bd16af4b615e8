//! NVD CVE API 2.0: a bare `cve` object (one record per file, as the fkie-cad mirror
//! stores them) or an API page (`vulnerabilities[].cve` with `resultsPerPage`,
//! `startIndex`, `totalResults`). One OSV record per CVE.
//!
//! Decisions:
//! - NVD timestamps carry no zone (`2022-03-03T14:15:07.973`); they are UTC, so `Z` is added.
//! - CPE `configurations` and the CNA `affected` block stay as data under
//!   `database_specific`: CPEs do not name packages reliably, so no `affected[]` is made.
//! - Every CVSS vector is scored with our own [`crate::advisory::cvss`] module and compared
//!   with NVD's `baseScore`; vectors we cannot parse are kept in `database_specific` only,
//!   so that downstream scoring never sees a vector it would reject.
//! - A page entry that is not a usable CVE is skipped (with its path); a document that is
//!   not JSON, too big or too deep is an error.

use serde_json::{Map, Value, json};

use super::super::{ConnectorError, Parsed, Skipped, Source, SourceRecord};
use crate::advisory::cvss;
use crate::advisory::osv::{OsvRecord, Reference, SeverityEntry};

/// Largest accepted document (an API page of 2,000 CVEs is a few tens of MiB).
pub const MAX_BYTES: usize = 128 * 1024 * 1024;
/// Deepest accepted JSON nesting (real records nest about 10 levels).
pub const MAX_DEPTH: usize = 64;
/// Most `vulnerabilities[]` entries in one page (the API serves at most 2,000).
pub const MAX_ENTRIES: usize = 20_000;

/// Where an API page sits in the whole result set, for a paging cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    /// `resultsPerPage`.
    pub results_per_page: u64,
    /// `startIndex`.
    pub start_index: u64,
    /// `totalResults`.
    pub total_results: u64,
}

impl PageCursor {
    /// The `startIndex` of the next page, or `None` when this page is the last.
    pub fn next_start(&self) -> Option<u64> {
        let next = self.start_index.checked_add(self.results_per_page)?;
        (self.results_per_page > 0 && next < self.total_results).then_some(next)
    }
}

/// How NVD's `baseScore`s compare with the scores our CVSS module computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CvssAgreement {
    /// Vectors scored and equal to NVD's `baseScore`.
    pub agreed: usize,
    /// Vectors scored but different from NVD's `baseScore`.
    pub mismatched: usize,
    /// Vectors our module refused.
    pub unparsable: usize,
}

/// Everything read from one NVD document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NvdDocument {
    /// Records and skipped entries.
    pub parsed: Parsed,
    /// The page cursor, for API pages (absent for a bare `cve` object).
    pub cursor: Option<PageCursor>,
    /// CVSS score agreement over the document.
    pub cvss: CvssAgreement,
}

fn error(document: &str, reason: impl Into<String>) -> ConnectorError {
    ConnectorError::new(Source::Nvd, document, reason)
}

/// Reads one NVD document (bare `cve` object or API 2.0 page) into OSV records.
pub fn parse(document: &str, bytes: &[u8]) -> Result<Parsed, ConnectorError> {
    parse_document(document, bytes).map(|d| d.parsed)
}

/// Like [`parse`], also returning the page cursor and the CVSS agreement counts.
pub fn parse_document(document: &str, bytes: &[u8]) -> Result<NvdDocument, ConnectorError> {
    let value: Value =
        crate::feedser::json_document(Source::Nvd, document, bytes, MAX_BYTES, MAX_DEPTH)?;
    let Value::Object(root) = &value else {
        return Err(error(document, "`$` is not a JSON object"));
    };
    let mut out = NvdDocument::default();
    if let Some(vulns) = root.get("vulnerabilities") {
        let Value::Array(entries) = vulns else {
            return Err(error(document, "`$.vulnerabilities` is not an array"));
        };
        if entries.len() > MAX_ENTRIES {
            return Err(error(
                document,
                format!(
                    "`$.vulnerabilities` has {} entries, more than the limit of {MAX_ENTRIES}",
                    entries.len()
                ),
            ));
        }
        let field = |name: &str| -> Result<u64, ConnectorError> {
            match root.get(name) {
                Some(v) => v
                    .as_u64()
                    .ok_or_else(|| error(document, format!("`$.{name}` is not a whole number"))),
                None => Err(error(
                    document,
                    format!("`$.{name}` is missing from an API page"),
                )),
            }
        };
        out.cursor = Some(PageCursor {
            results_per_page: field("resultsPerPage")?,
            start_index: field("startIndex")?,
            total_results: field("totalResults")?,
        });
        for (i, entry) in entries.iter().enumerate() {
            let location = format!("$.vulnerabilities[{i}]");
            match entry.get("cve") {
                Some(Value::Object(cve)) => {
                    match convert(cve, &format!("{location}.cve"), &mut out.cvss) {
                        Ok(record) => out.parsed.records.push(SourceRecord {
                            source: Source::Nvd,
                            document: document.to_owned(),
                            location,
                            record,
                        }),
                        Err(reason) => out.parsed.skipped.push(Skipped {
                            document: document.to_owned(),
                            location,
                            reason,
                        }),
                    }
                }
                _ => out.parsed.skipped.push(Skipped {
                    document: document.to_owned(),
                    location,
                    reason: "entry has no `cve` object".to_owned(),
                }),
            }
        }
    } else {
        let record = convert(root, "$", &mut out.cvss).map_err(|r| error(document, r))?;
        out.parsed.records.push(SourceRecord {
            source: Source::Nvd,
            document: document.to_owned(),
            location: "$".to_owned(),
            record,
        });
    }
    Ok(out)
}

/// An NVD timestamp as RFC 3339 UTC; NVD writes local-less times that are UTC.
pub fn to_rfc3339(text: &str) -> Option<String> {
    use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
    let t = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Some(
            dt.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        );
    }
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, String> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("`{path}.{key}` is not a string")),
        None => Err(format!("`{path}.{key}` is missing")),
    }
}

fn array<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a [Value], String> {
    match obj.get(key) {
        Some(Value::Array(a)) => Ok(a),
        Some(Value::Null) | None => Ok(&[]),
        Some(_) => Err(format!("`{path}.{key}` is not an array")),
    }
}

/// The OSV severity type for an NVD metrics key.
fn severity_kind(metrics_key: &str) -> Option<&'static str> {
    match metrics_key {
        "cvssMetricV2" => Some("CVSS_V2"),
        "cvssMetricV30" | "cvssMetricV31" => Some("CVSS_V3"),
        "cvssMetricV40" => Some("CVSS_V4"),
        _ => None,
    }
}

/// Converts one `cve` object; the error is a sentence naming the JSON path.
fn convert(
    cve: &Map<String, Value>,
    path: &str,
    agreement: &mut CvssAgreement,
) -> Result<OsvRecord, String> {
    let id = str_field(cve, "id", path)?.trim();
    if id.is_empty() {
        return Err(format!("`{path}.id` is empty"));
    }
    let mut record = OsvRecord {
        id: id.to_owned(),
        ..OsvRecord::default()
    };
    let time = |key: &str| -> Result<Option<String>, String> {
        match cve.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => to_rfc3339(s)
                .map(Some)
                .ok_or_else(|| format!("`{path}.{key}` is not a timestamp: {s:?}")),
            Some(_) => Err(format!("`{path}.{key}` is not a string")),
        }
    };
    record.published = time("published")?;
    record.modified = time("lastModified")?
        .or_else(|| record.published.clone())
        .unwrap_or_default();
    let status = cve.get("vulnStatus").and_then(Value::as_str).unwrap_or("");
    if status == "Rejected" {
        // NVD gives no rejection time; the last modification is when it happened.
        record.withdrawn = Some(record.modified.clone());
    }

    // Descriptions: English when present, else the first.
    let descriptions = array(cve, "descriptions", path)?;
    let text = |d: &Value| d.get("value").and_then(Value::as_str).map(str::to_owned);
    record.details = descriptions
        .iter()
        .find(|d| d.get("lang").and_then(Value::as_str) == Some("en"))
        .and_then(text)
        .or_else(|| descriptions.iter().find_map(text));

    // CVSS metrics: every vector, Primary before Secondary, checked against baseScore.
    let mut cvss_data = Vec::new();
    if let Some(metrics) = cve.get("metrics") {
        let Value::Object(metrics) = metrics else {
            return Err(format!("`{path}.metrics` is not an object"));
        };
        for (key, list) in metrics {
            let Some(kind) = severity_kind(key) else {
                continue;
            };
            let Value::Array(list) = list else {
                return Err(format!("`{path}.metrics.{key}` is not an array"));
            };
            let mut ordered: Vec<(usize, &Value)> = list.iter().enumerate().collect();
            ordered.sort_by_key(|(_, m)| m.get("type").and_then(Value::as_str) != Some("Primary"));
            for (i, metric) in ordered {
                let mpath = format!("{path}.metrics.{key}[{i}]");
                let data = metric.get("cvssData");
                let Some(vector) = data
                    .and_then(|d| d.get("vectorString"))
                    .and_then(Value::as_str)
                else {
                    return Err(format!("`{mpath}.cvssData.vectorString` is missing"));
                };
                let nvd_score = data
                    .and_then(|d| d.get("baseScore"))
                    .and_then(Value::as_f64);
                let mut entry = json!({
                    "type": kind,
                    "vector": vector,
                    "source": metric.get("source").cloned().unwrap_or(Value::Null),
                    "nvd_type": metric.get("type").cloned().unwrap_or(Value::Null),
                    "nvd_base_score": nvd_score,
                });
                match cvss::score(vector) {
                    Ok(computed) => {
                        let agrees = nvd_score.is_some_and(|s| (s - computed.score).abs() < 0.05);
                        if agrees {
                            agreement.agreed += 1;
                        } else {
                            agreement.mismatched += 1;
                        }
                        entry["computed_score"] = json!(computed.score);
                        entry["score_agrees"] = json!(agrees);
                        let sev = SeverityEntry {
                            kind: kind.to_owned(),
                            score: vector.to_owned(),
                        };
                        if !record.severity.contains(&sev) {
                            record.severity.push(sev);
                        }
                    }
                    Err(e) => {
                        agreement.unparsable += 1;
                        entry["error"] = json!(e.to_string());
                    }
                }
                cvss_data.push(entry);
            }
        }
    }

    // CWE ids, from every weakness source, deduplicated in order.
    let mut cwe_ids: Vec<String> = Vec::new();
    for (i, weakness) in array(cve, "weaknesses", path)?.iter().enumerate() {
        let Some(Value::Array(descs)) = weakness.get("description") else {
            return Err(format!(
                "`{path}.weaknesses[{i}].description` is not an array"
            ));
        };
        for value in descs
            .iter()
            .filter_map(|d| d.get("value").and_then(Value::as_str))
        {
            if value.starts_with("CWE-") && !cwe_ids.iter().any(|c| c == value) {
                cwe_ids.push(value.to_owned());
            }
        }
    }

    // References, deduplicated by URL (the same URL comes once per `source`).
    let mut ref_tags: Vec<Vec<String>> = Vec::new();
    for (i, reference) in array(cve, "references", path)?.iter().enumerate() {
        let Some(url) = reference.get("url").and_then(Value::as_str) else {
            return Err(format!("`{path}.references[{i}].url` is missing"));
        };
        let tags: Vec<String> = reference
            .get("tags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        match record.references.iter().position(|r| r.url == url) {
            Some(at) => {
                if let Some(existing) = ref_tags.get_mut(at) {
                    for tag in tags {
                        if !existing.contains(&tag) {
                            existing.push(tag);
                        }
                    }
                }
            }
            None => {
                record.references.push(Reference {
                    kind: String::new(),
                    url: url.to_owned(),
                });
                ref_tags.push(tags);
            }
        }
    }
    for (reference, tags) in record.references.iter_mut().zip(&ref_tags) {
        reference.kind = reference_kind(tags).to_owned();
    }

    let mut specific = Map::new();
    specific.insert("vuln_status".into(), json!(status));
    if let Some(src) = cve.get("sourceIdentifier") {
        specific.insert("source_identifier".into(), src.clone());
    }
    specific.insert("cwe_ids".into(), json!(cwe_ids));
    specific.insert("cvss".into(), Value::Array(cvss_data));
    if let Some(tags) = cve.get("cveTags") {
        specific.insert("cve_tags".into(), tags.clone());
    }
    if let Some(conf) = cve.get("configurations") {
        specific.insert("configurations".into(), conf.clone());
    }
    if let Some(affected) = cve.get("affected") {
        specific.insert("cna_affected".into(), affected.clone());
    }
    record.database_specific = Some(Value::Object(specific));
    Ok(record)
}

/// OSV reference type from NVD's reference tags.
fn reference_kind(tags: &[String]) -> &'static str {
    let has = |t: &str| tags.iter().any(|x| x == t);
    if has("Patch") {
        "FIX"
    } else if has("Vendor Advisory") || has("Third Party Advisory") || has("US Government Resource")
    {
        "ADVISORY"
    } else if has("Issue Tracking") || has("Mailing List") {
        "REPORT"
    } else if has("Exploit") {
        "EVIDENCE"
    } else {
        "WEB"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> std::path::PathBuf {
        crate::testdata::dir().join("feeds-sample")
    }

    fn files(sub: &str) -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(sample().join(sub))
            .unwrap_or_else(|e| panic!("{sub}: {e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        v.sort();
        v
    }

    fn one(path: &std::path::Path) -> NvdDocument {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        parse_document(&path.display().to_string(), &bytes).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn bare_cve_record_containerd() {
        let doc = one(&sample().join("nvd/CVE-2022-23648.json"));
        assert!(doc.cursor.is_none());
        let [rec] = doc.parsed.records.as_slice() else {
            panic!("one record expected")
        };
        let r = &rec.record;
        assert_eq!(r.id, "CVE-2022-23648");
        assert_eq!(r.published.as_deref(), Some("2022-03-03T14:15:07.973Z"));
        assert!(r.modified.ends_with('Z'), "{}", r.modified);
        let details = r.details.as_deref().unwrap_or("");
        assert!(
            details.starts_with("containerd is a container runtime"),
            "{details}"
        );
        assert!(details.contains("containerd\u{2019}s CRI"));
        let ds = r
            .database_specific
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default();
        assert!(ds.contains("\"CWE-200\""), "{ds}");
        assert!(ds.contains("\"cna_affected\""));
        assert!(ds.contains(">= 1.5.0, < 1.5.10"));
        assert!(ds.contains("\"configurations\""));
        assert!(r.affected.is_empty(), "CPEs must not become packages");
        // References unique by URL.
        let mut urls: Vec<_> = r.references.iter().map(|x| &x.url).collect();
        let n = urls.len();
        urls.sort();
        urls.dedup();
        assert_eq!(urls.len(), n);
        assert!(r.severity.iter().any(|s| s.kind == "CVSS_V3"));
    }

    #[test]
    fn duplicate_reference_urls_are_merged() {
        let text = br#"{"id":"CVE-1","published":"2020-01-01T00:00:00.000","lastModified":"2020-01-02T00:00:00.000",
          "descriptions":[{"lang":"es","value":"hola"},{"lang":"en","value":"hi"}],
          "references":[{"url":"https://a","source":"x","tags":["Patch"]},{"url":"https://a","source":"y"},{"url":"https://b","source":"x"}]}"#;
        let parsed = parse("t", text).unwrap_or_else(|e| panic!("{e}"));
        let r = &parsed.records[0].record;
        assert_eq!(r.references.len(), 2);
        assert_eq!(r.references[0].kind, "FIX");
        assert_eq!(r.details.as_deref(), Some("hi"));
        assert_eq!(r.modified, "2020-01-02T00:00:00Z");
        assert!(r.withdrawn.is_none());
    }

    #[test]
    fn spanish_only_rejected_and_no_cve_tags() {
        let text = br#"{"id":"CVE-2","published":"2020-01-01T00:00:00","lastModified":"2021-05-06T07:08:09.100","vulnStatus":"Rejected",
          "descriptions":[{"lang":"es","value":"s\u00f3lo"}]}"#;
        let parsed = parse("t", text).unwrap_or_else(|e| panic!("{e}"));
        let r = &parsed.records[0].record;
        assert_eq!(r.details.as_deref(), Some("sólo"));
        assert_eq!(r.withdrawn.as_deref(), Some("2021-05-06T07:08:09.100Z"));
    }

    #[test]
    fn cvss_mismatch_is_counted_and_bad_vector_kept_aside() {
        let text = br#"{"id":"CVE-3","published":"2020-01-01T00:00:00","metrics":{
           "cvssMetricV31":[{"source":"s","type":"Secondary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","baseScore":9.8}},
                            {"source":"n","type":"Primary","cvssData":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N","baseScore":1.0}}],
           "cvssMetricV2":[{"source":"n","type":"Primary","cvssData":{"version":"2.0","vectorString":"AV:Q/AC:L","baseScore":5.0}}]}}"#;
        let doc = parse_document("t", text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            doc.cvss,
            CvssAgreement {
                agreed: 1,
                mismatched: 1,
                unparsable: 1
            }
        );
        let r = &doc.parsed.records[0].record;
        // Primary first, the unparsable v2 vector kept out of `severity`.
        assert_eq!(r.severity.len(), 2);
        assert!(r.severity[0].score.ends_with("A:N"));
        let ds = r
            .database_specific
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default();
        assert!(ds.contains("\"nvd_type\":\"Primary\""));
        assert!(ds.contains("AV:Q/AC:L"));
    }

    #[test]
    fn page_cursor_and_bad_entries() {
        let text = br#"{"resultsPerPage":2,"startIndex":0,"totalResults":5,"vulnerabilities":[
            {"cve":{"id":"CVE-9","published":"2020-01-01T00:00:00"}},{"nocve":1},{"cve":{"id":"","published":"x"}}]}"#;
        let doc = parse_document("t", text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc.parsed.records.len(), 1);
        assert_eq!(doc.parsed.skipped.len(), 2);
        assert_eq!(doc.parsed.skipped[1].location, "$.vulnerabilities[2]");
        assert_eq!(doc.cursor.and_then(|c| c.next_start()), Some(2));
        let last = PageCursor {
            results_per_page: 2,
            start_index: 4,
            total_results: 5,
        };
        assert_eq!(last.next_start(), None);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = parse("d", b"[1]")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("not a JSON object"), "{e}");
        let e = parse("d", br#"{"vulnerabilities":{}}"#)
            .err()
            .map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("$.vulnerabilities"));
        let deep = "[".repeat(100);
        let e = parse("d", deep.as_bytes()).err().map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("deeper"));
        let e = parse("d", br#"{"id":"CVE-1","published":"yesterday"}"#).err();
        assert!(
            e.map(|e| e.reason)
                .unwrap_or_default()
                .contains("$.published")
        );
    }

    /// The whole sample: every file reads, every CVE becomes a record, CVSS agreement counted.
    #[test]
    fn whole_sample() {
        let mut records = 0;
        let mut skipped = Vec::new();
        let mut cvss = CvssAgreement::default();
        let mut pages = 0;
        for path in files("nvd").into_iter().chain(files("nvd-api-pages")) {
            let doc = one(&path);
            if let Some(c) = doc.cursor {
                pages += 1;
                assert_eq!(
                    c.results_per_page as usize,
                    doc.parsed.records.len() + doc.parsed.skipped.len()
                );
            }
            for r in &doc.parsed.records {
                assert!(r.record.id.starts_with("CVE-"));
                assert!(chrono::DateTime::parse_from_rfc3339(&r.record.modified).is_ok());
                assert!(r.record.details.is_some(), "{}", r.record.id);
            }
            records += doc.parsed.records.len();
            skipped.extend(doc.parsed.skipped);
            cvss.agreed += doc.cvss.agreed;
            cvss.mismatched += doc.cvss.mismatched;
            cvss.unparsable += doc.cvss.unparsable;
        }
        eprintln!("nvd: {pages} pages, {records} records, skipped {skipped:?}, cvss {cvss:?}");
        assert_eq!(pages, 19);
        assert_eq!(records, 4 + 62);
        assert!(skipped.is_empty());
        assert_eq!(cvss.unparsable, 0);
        assert_eq!(cvss.mismatched, 0, "{cvss:?}");
        assert!(cvss.agreed >= 50, "{cvss:?}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse("p", &bytes);
        }

        #[test]
        fn arbitrary_json_shapes_never_panic(id in ".{0,8}", ts in ".{0,30}", score in any::<f64>()) {
            let doc = json!({"vulnerabilities":[{"cve":{"id":id,"published":ts,"lastModified":ts,
                "metrics":{"cvssMetricV31":[{"cvssData":{"vectorString":ts,"baseScore":score}}]},
                "weaknesses":[{"description":[{"value":"CWE-1"}]}],"references":[{"url":ts}]}}],
                "resultsPerPage":1,"startIndex":0,"totalResults":1});
            let _ = parse("p", doc.to_string().as_bytes());
        }
    }
}
