//! OSV and GHSA connector: one OSV record per document (JSON, or PyPA's YAML),
//! read with the shared [`crate::advisory::osv`] parsers and their limits.

use crate::advisory::osv::{self, OsvLimits};
use crate::feedser::{ConnectorError, Parsed, Source, SourceRecord};

/// Location given to the single record of an OSV document (the document root).
pub const ROOT_LOCATION: &str = "$";

/// Reads one OSV document of `source` (which must be [`Source::Osv`] or [`Source::Ghsa`]);
/// `yaml` selects PyPA's YAML encoding instead of JSON.
pub fn parse(
    source: Source,
    document: &str,
    bytes: &[u8],
    yaml: bool,
) -> Result<Parsed, ConnectorError> {
    let error = |reason: String| ConnectorError {
        source_name: source.name(),
        document: document.to_owned(),
        reason,
    };
    if !matches!(source, Source::Osv | Source::Ghsa) {
        return Err(error(format!(
            "the OSV connector reads only the osv and ghsa sources, not {}",
            source.name()
        )));
    }
    let limits = OsvLimits::default();
    let record = if yaml {
        osv::parse_yaml(bytes, &limits)
    } else {
        osv::parse_json(bytes, &limits)
    }
    .map_err(|e| error(e.to_string()))?;
    // A GHSA document that is not a GHSA advisory is a mislabelled input, not a record.
    if source == Source::Ghsa && !record.id.starts_with("GHSA-") {
        return Err(error(format!("record id `{}` is not a GHSA id", record.id)));
    }
    Ok(Parsed {
        records: vec![SourceRecord {
            source,
            document: document.to_owned(),
            location: ROOT_LOCATION.to_owned(),
            record,
        }],
        skipped: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(path: &str) -> Vec<u8> {
        let p = crate::testdata::dir().join("feeds-sample").join(path);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn reads_real_ghsa_json_and_pypa_yaml() {
        let doc = "ghsa/GHSA-px8h-6qxv-m22q.json";
        let parsed = parse(Source::Ghsa, doc, &sample(doc), false).expect("ghsa parses");
        assert_eq!(parsed.records.len(), 1);
        let r = &parsed.records[0];
        assert_eq!((r.source, r.document.as_str()), (Source::Ghsa, doc));
        assert_eq!(r.record.id, "GHSA-px8h-6qxv-m22q");
        assert_eq!(r.record.aliases, vec!["CVE-2023-23934"]);

        let doc = "osv-pypi/werkzeug/PYSEC-2023-57.yaml";
        let parsed = parse(Source::Osv, doc, &sample(doc), true).expect("yaml parses");
        assert_eq!(parsed.records[0].record.id, "PYSEC-2023-57");
        assert!(parsed.skipped.is_empty());
    }

    #[test]
    fn wrong_source_format_or_id_is_an_error() {
        let doc = "ghsa/GHSA-px8h-6qxv-m22q.json";
        let bytes = sample(doc);
        let e = parse(Source::Nvd, doc, &bytes, false).expect_err("nvd refused");
        assert_eq!(e.source_name, "nvd");
        // JSON is valid YAML, but YAML is not JSON.
        assert!(parse(Source::Osv, "x.json", b"id: X\n", false).is_err());
        let e = parse(Source::Ghsa, "x.json", br#"{"id":"PYSEC-1"}"#, false)
            .expect_err("not a GHSA id");
        assert!(e.reason.contains("PYSEC-1"), "{e}");
        assert!(parse(Source::Osv, "x.json", br#"{"id":"PYSEC-1"}"#, false).is_ok());
    }
}
