//! Node.js security working group ecosystem advisories (`vuln/npm/<n>.json`).
//!
//! `vulnerable_versions` is a node-semver range expression; it is parsed by
//! [`super::node_range`] into intervals and written as OSV SEMVER events on ecosystem
//! `npm` (`<=X` becomes `last_affected`, `<X` `fixed`, `>X` an `introduced` at X's
//! successor). `patched_versions` is not needed for the events (it is the complement the
//! WG wrote by hand) and is kept, with the raw vulnerable range, in `database_specific`.
//! A range that cannot be parsed, or admits no version, makes the entry `Skipped`.
//! `index.json` (the repository's list of ids) is not a record and is skipped.

use serde_json::{Map, Value, json};

use super::super::{ConnectorError, Parsed, Skipped, Source, SourceRecord};
use super::node_range;
use crate::advisory::osv::{
    Affected, Event, OsvRecord, Package, Range, RangeType, Reference, SeverityEntry,
};

/// Largest accepted document (real ones are a few KiB).
pub const MAX_BYTES: usize = 1024 * 1024;
/// Deepest accepted JSON nesting (real ones nest 2 levels).
pub const MAX_DEPTH: usize = 32;

fn error(document: &str, reason: impl Into<String>) -> ConnectorError {
    ConnectorError::new(Source::NodejsWg, document, reason)
}

/// `2016-05-05` or an RFC 3339 / zone-less timestamp, as RFC 3339 UTC.
fn timestamp(text: &str) -> Option<String> {
    super::nvd::to_rfc3339(text).or_else(|| {
        chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .ok()
            .map(|d| format!("{}T00:00:00Z", d.format("%Y-%m-%d")))
    })
}

fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`$.{key}` is not a string")),
    }
}

/// Reads one Node.js security WG advisory.
pub fn parse(document: &str, bytes: &[u8]) -> Result<Parsed, ConnectorError> {
    let value: Value =
        crate::feedser::json_document(Source::NodejsWg, document, bytes, MAX_BYTES, MAX_DEPTH)?;
    let skip = |reason: String| Parsed {
        records: Vec::new(),
        skipped: vec![Skipped {
            document: document.to_owned(),
            location: "$".to_owned(),
            reason,
        }],
    };
    let is_index = document.rsplit(['/', '\\']).next() == Some("index.json");
    let obj = match &value {
        Value::Object(o) if !is_index => o,
        _ if is_index => {
            return Ok(skip(
                "index.json lists advisories; it is not one".to_owned(),
            ));
        }
        _ => return Err(error(document, "`$` is not a JSON object")),
    };
    let number = match obj.get("id") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(_) => return Err(error(document, "`$.id` is not a number")),
        None => return Err(error(document, "`$.id` is missing")),
    };
    let id = format!("NSWG-ECO-{number}");
    let field = |key: &str| opt_str(obj, key).map_err(|r| error(document, r));
    let module = field("module_name")?
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| error(document, "`$.module_name` is missing or empty"))?;
    let Some(vulnerable) = field("vulnerable_versions")? else {
        return Ok(skip(format!("{id}: no `vulnerable_versions`")));
    };
    let patched = field("patched_versions")?;
    let raw = json!({ "vulnerable_versions": vulnerable, "patched_versions": patched });
    let intervals = match node_range::parse(vulnerable) {
        Ok(set) => node_range::intervals(&set),
        Err(e) => {
            return Ok(skip(format!(
                "{id}: unreadable vulnerable_versions: {e}; raw {raw}"
            )));
        }
    };
    if intervals.is_empty() {
        return Ok(skip(format!(
            "{id}: vulnerable_versions admits no version; raw {raw}"
        )));
    }
    // The WG wrote `patched_versions` by hand; flag it when it claims a vulnerable version.
    let patched_overlaps = patched
        .and_then(|p| node_range::parse(p).ok())
        .map(|set| node_range::intervals(&set))
        .map(|pv| {
            pv.iter()
                .any(|p| intervals.iter().any(|v| node_range::overlaps(p, v)))
        });
    let Some(pairs) = node_range::events(&intervals) else {
        return Ok(skip(format!("{id}: a range bound overflows; raw {raw}")));
    };
    let events = pairs
        .into_iter()
        .map(|(key, v)| match key {
            "introduced" => Event::Introduced(v),
            "fixed" => Event::Fixed(v),
            _ => Event::LastAffected(v),
        })
        .collect();

    let mut aliases = Vec::new();
    match obj.get("cves") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, cve) in list.iter().enumerate() {
                let Some(cve) = cve.as_str() else {
                    return Err(error(document, format!("`$.cves[{i}]` is not a string")));
                };
                if !aliases.iter().any(|a| a == cve) {
                    aliases.push(cve.to_owned());
                }
            }
        }
        Some(_) => return Err(error(document, "`$.cves` is not an array")),
    }
    let time = |key: &str| -> Result<Option<String>, ConnectorError> {
        match field(key)? {
            None => Ok(None),
            Some(t) => timestamp(t)
                .map(Some)
                .ok_or_else(|| error(document, format!("`$.{key}` is not a date: {t:?}"))),
        }
    };
    let published = time("created_at")?;
    let modified = time("updated_at")?
        .or_else(|| published.clone())
        .unwrap_or_default();
    let mut references = Vec::new();
    if let Some(Value::Array(list)) = obj.get("references") {
        for url in list.iter().filter_map(Value::as_str) {
            if !references.iter().any(|r: &Reference| r.url == url) {
                references.push(Reference {
                    kind: "WEB".to_owned(),
                    url: url.to_owned(),
                });
            }
        }
    }
    let severity = match field("cvss_vector")? {
        Some(v) if !v.trim().is_empty() => vec![SeverityEntry {
            kind: if v.starts_with("CVSS:4") {
                "CVSS_V4"
            } else if v.starts_with("CVSS:3") {
                "CVSS_V3"
            } else {
                "CVSS_V2"
            }
            .to_owned(),
            score: v.trim().to_owned(),
        }],
        _ => Vec::new(),
    };
    let record = OsvRecord {
        id: id.clone(),
        modified,
        published,
        aliases,
        summary: field("title")?.map(str::to_owned),
        details: field("overview")?.map(str::to_owned),
        severity,
        affected: vec![Affected {
            package: Some(Package {
                ecosystem: "npm".to_owned(),
                name: module.to_owned(),
                purl: Some(format!("pkg:npm/{}", module.replace('@', "%40"))),
            }),
            ranges: vec![Range {
                kind: RangeType::Semver,
                repo: None,
                events,
            }],
            database_specific: Some(raw),
            ..Affected::default()
        }],
        references,
        database_specific: Some(json!({
            "recommendation": obj.get("recommendation").cloned().unwrap_or(Value::Null),
            "cvss_score": obj.get("cvss_score").cloned().unwrap_or(Value::Null),
            "coordinating_vendor": obj.get("coordinating_vendor").cloned().unwrap_or(Value::Null),
            "publish_date": obj.get("publish_date").cloned().unwrap_or(Value::Null),
            "patched_overlaps_vulnerable": patched_overlaps,
        })),
        ..OsvRecord::default()
    };
    Ok(Parsed {
        records: vec![SourceRecord {
            source: Source::NodejsWg,
            document: document.to_owned(),
            location: id,
            record,
        }],
        skipped: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_dir() -> std::path::PathBuf {
        crate::testdata::dir().join("feeds-sample/npm-nodejs-wg")
    }

    fn read(n: &str) -> Parsed {
        let path = sample_dir().join(n);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
        parse(&path.display().to_string(), &bytes).unwrap_or_else(|e| panic!("{e}"))
    }

    fn events(p: &Parsed) -> Vec<Event> {
        p.records
            .first()
            .and_then(|r| r.record.affected.first())
            .and_then(|a| a.ranges.first())
            .map(|r| r.events.clone())
            .unwrap_or_default()
    }

    fn i(v: &str) -> Event {
        Event::Introduced(v.to_owned())
    }
    fn f(v: &str) -> Event {
        Event::Fixed(v.to_owned())
    }

    #[test]
    fn sequelize_109() {
        let p = read("109.json");
        let r = &p.records[0].record;
        assert_eq!(r.id, "NSWG-ECO-109");
        assert!(r.aliases.is_empty());
        assert_eq!(r.published.as_deref(), Some("2016-05-05T00:00:00Z"));
        assert_eq!(r.modified, "2016-10-31T00:00:00Z");
        assert_eq!(r.summary.as_deref(), Some("Potential SQL Injection"));
        assert_eq!(r.severity[0].kind, "CVSS_V3");
        let pkg = r.affected[0]
            .package
            .as_ref()
            .map(|p| (p.ecosystem.as_str(), p.name.as_str()));
        assert_eq!(pkg, Some(("npm", "sequelize")));
        assert_eq!(
            events(&p),
            vec![i("0"), Event::LastAffected("2.1.3".into())]
        );
    }

    #[test]
    fn multi_branch_ranges_466_and_overlapping_490() {
        // `>=1.7.0 <1.7.16 || >=1.8.0 <1.8.8 || >=2.0.0 <2.0.8 || >=3.0.0-beta.1 <3.0.0-beta.7`
        assert_eq!(
            events(&read("466.json")),
            vec![
                i("1.7.0"),
                f("1.7.16"),
                i("1.8.0"),
                f("1.8.8"),
                i("2.0.0"),
                f("2.0.8"),
                i("3.0.0-beta.1"),
                f("3.0.0-beta.7")
            ]
        );
        // `<2.0.1 || <1.1.7`: the union is `<2.0.1`.
        assert_eq!(events(&read("490.json")), vec![i("0"), f("2.0.1")]);
        // `<3.4.6 || > 4.0.0 <4.0.5`
        assert_eq!(
            events(&read("75.json")),
            vec![i("0"), f("3.4.6"), i("4.0.1-0"), f("4.0.5")]
        );
    }

    #[test]
    fn index_and_bad_documents() {
        let p = parse("vuln/npm/index.json", b"[1,2,3]").unwrap_or_else(|e| panic!("{e}"));
        assert!(p.records.is_empty() && p.skipped.len() == 1);
        let p = parse(
            "x.json",
            br#"{"id":1,"module_name":"m","vulnerable_versions":">= >= 1"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(p.skipped[0].reason.contains(">= >= 1"), "{:?}", p.skipped);
        let p = parse(
            "x.json",
            br#"{"id":1,"module_name":"m","vulnerable_versions":"<0.0.0"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(p.skipped[0].reason.contains("no version"));
        let e = parse("x.json", br#"{"id":1,"vulnerable_versions":"*"}"#).err();
        assert!(
            e.map(|e| e.reason)
                .unwrap_or_default()
                .contains("module_name")
        );
        let e = parse(
            "x.json",
            br#"{"id":1,"module_name":"m","vulnerable_versions":"*","cves":"CVE"}"#,
        )
        .err();
        assert!(e.map(|e| e.reason).unwrap_or_default().contains("$.cves"));
    }

    /// The whole sample: counts, and every record's events are well-formed.
    #[test]
    fn whole_sample() {
        let mut records = 0;
        let mut skipped = Vec::new();
        let mut with_cves = 0;
        let mut overlapping = Vec::new();
        let mut paths: Vec<_> = std::fs::read_dir(sample_dir())
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .map(|e| e.path())
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
            let p = parse(&path.display().to_string(), &bytes).unwrap_or_else(|e| panic!("{e}"));
            for r in &p.records {
                with_cves += usize::from(!r.record.aliases.is_empty());
                let ds = r.record.database_specific.as_ref();
                if ds.and_then(|d| d.get("patched_overlaps_vulnerable")) == Some(&json!(true)) {
                    overlapping.push(r.record.id.clone());
                }
                let ev = events(&p);
                assert!(
                    matches!(ev.first(), Some(Event::Introduced(_))),
                    "{}",
                    r.record.id
                );
                assert!(chrono::DateTime::parse_from_rfc3339(&r.record.modified).is_ok());
            }
            records += p.records.len();
            skipped.extend(p.skipped);
        }
        eprintln!(
            "nodejs-wg: {records} records ({with_cves} with CVEs), skipped {skipped:?}, \
             patched overlapping vulnerable: {overlapping:?}"
        );
        assert_eq!(records + skipped.len(), 100);
        assert!(skipped.is_empty(), "{skipped:?}");
        // Hand-checked: 357 says vulnerable `>=2.0.0` but patched `>=2.15.0`; 490 says
        // vulnerable `<2.0.1 || <1.1.7` but patched `^1.1.7 || >= 2.0.1`.
        assert_eq!(overlapping, ["NSWG-ECO-357", "NSWG-ECO-490"]);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse("p.json", &bytes);
        }

        #[test]
        fn arbitrary_fields_never_panic(v in ".{0,40}", p in ".{0,20}", d in ".{0,12}") {
            let doc = json!({"id": 1, "module_name": "m", "vulnerable_versions": v,
                "patched_versions": p, "created_at": d, "cves": ["CVE-1"]});
            let _ = parse("p.json", doc.to_string().as_bytes());
        }
    }
}
