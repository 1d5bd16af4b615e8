//! CISA's Known Exploited Vulnerabilities (KEV) catalog
//! (`known_exploited_vulnerabilities.json`), loaded so that policy rules can ask whether
//! a CVE is known to be exploited.
//!
//! KEV is curated by hand, so a malformed entry is a broken catalog, not noise: the
//! whole catalog is rejected, naming the entry. Fields CISA adds later are ignored;
//! a CVE listed twice keeps its first entry.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Bounds applied to an untrusted catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KevLimits {
    /// Largest catalog accepted, in bytes (the real one is about 1.5 MB).
    pub max_bytes: usize,
    /// Most entries accepted (the real one has about 1,500).
    pub max_entries: usize,
}

impl Default for KevLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024 * 1024,
            max_entries: 100_000,
        }
    }
}

/// Why a catalog was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum KevError {
    /// The file could not be read.
    #[error("KEV catalog {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The catalog is larger than [`KevLimits::max_bytes`].
    #[error("KEV catalog is {size} bytes or more, over the {limit}-byte limit")]
    TooLarge {
        /// Bytes seen before giving up (at least this many).
        size: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// More entries than [`KevLimits::max_entries`].
    #[error("KEV catalog has {count} entries, over the limit of {limit}")]
    TooManyEntries {
        /// Entries in the catalog.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The JSON is malformed or has the wrong shape.
    #[error("KEV catalog at {path} (line {line}, column {column}): {message}")]
    Json {
        /// JSON path of the offending value, e.g. `vulnerabilities[3].dateAdded`.
        path: String,
        /// The parser's message.
        message: String,
        /// 1-based line of the error (0 when not known).
        line: usize,
        /// 1-based column of the error (0 when not known).
        column: usize,
    },
    /// An entry is well-formed JSON but not a valid KEV entry.
    #[error("KEV catalog entry vulnerabilities[{index}] ({cve_id:?}): {message}")]
    BadEntry {
        /// Zero-based position of the entry in `vulnerabilities`.
        index: usize,
        /// The entry's `cveID` as written.
        cve_id: String,
        /// What is wrong with it.
        message: String,
    },
}

/// One catalog entry, with CISA's field names when serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KevEntry {
    /// The CVE, upper case (`CVE-2021-44228`).
    #[serde(rename = "cveID")]
    pub cve_id: String,
    /// Vendor or project (`Apache`).
    pub vendor_project: String,
    /// Product (`Log4j2`).
    pub product: String,
    /// CISA's name for the vulnerability.
    pub vulnerability_name: String,
    /// When CISA added it to the catalog.
    pub date_added: NaiveDate,
    /// CISA's short description.
    pub short_description: String,
    /// What federal agencies are required to do.
    pub required_action: String,
    /// When the required action is due for federal agencies.
    pub due_date: NaiveDate,
    /// `Known` when used in ransomware campaigns, `Unknown` when CISA has no confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_ransomware_campaign_use: Option<String>,
    /// `Yes` when forensic triage is required (BOD 26-04), `No` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forensic_triage: Option<String>,
    /// Free-text notes, usually reference URLs separated by ` ; `.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// CWE ids (`CWE-79`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cwes: Vec<String>,
}

impl KevEntry {
    /// True when CISA knows the vulnerability was used in ransomware campaigns.
    pub fn ransomware_known(&self) -> bool {
        self.known_ransomware_campaign_use
            .as_deref()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("known"))
    }
}

/// A loaded KEV catalog, looked up by CVE id.
#[derive(Debug, Clone, Default)]
pub struct KevCatalog {
    title: Option<String>,
    version: Option<String>,
    date_released: Option<String>,
    declared_count: Option<u64>,
    entries: Vec<KevEntry>,
    by_cve: HashMap<String, usize>,
    duplicates: usize,
}

/// The catalog document as published; unknown fields are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCatalog {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    catalog_version: Option<String>,
    #[serde(default)]
    date_released: Option<String>,
    #[serde(default)]
    count: Option<u64>,
    vulnerabilities: Vec<KevEntry>,
}

impl KevCatalog {
    /// Parses a catalog from its JSON bytes.
    pub fn parse(bytes: &[u8], limits: KevLimits) -> Result<Self, KevError> {
        if bytes.len() > limits.max_bytes {
            return Err(KevError::TooLarge {
                size: bytes.len() as u64,
                limit: limits.max_bytes,
            });
        }
        // A UTF-8 byte order mark is harmless but serde_json refuses it.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut de = serde_json::Deserializer::from_slice(bytes);
        // The byte limit bounds memory; entries are counted once parsed.
        let raw: RawCatalog = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            KevError::Json {
                path,
                message: inner.to_string(),
                line: inner.line(),
                column: inner.column(),
            }
        })?;
        de.end().map_err(|e| KevError::Json {
            path: ".".to_owned(),
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
        if raw.vulnerabilities.len() > limits.max_entries {
            return Err(KevError::TooManyEntries {
                count: raw.vulnerabilities.len(),
                limit: limits.max_entries,
            });
        }
        let mut catalog = KevCatalog {
            title: raw.title,
            version: raw.catalog_version,
            date_released: raw.date_released,
            declared_count: raw.count,
            entries: Vec::with_capacity(raw.vulnerabilities.len()),
            by_cve: HashMap::with_capacity(raw.vulnerabilities.len()),
            duplicates: 0,
        };
        for (index, mut entry) in raw.vulnerabilities.into_iter().enumerate() {
            let Some(cve) = canonical_cve(&entry.cve_id) else {
                return Err(KevError::BadEntry {
                    index,
                    cve_id: entry.cve_id,
                    message: "cveID is not a CVE id (CVE-YYYY-NNNN…)".to_owned(),
                });
            };
            if catalog.by_cve.contains_key(&cve) {
                catalog.duplicates += 1;
                continue;
            }
            entry.cve_id = cve.clone();
            catalog.by_cve.insert(cve, catalog.entries.len());
            catalog.entries.push(entry);
        }
        Ok(catalog)
    }

    /// Reads and parses a catalog file, reading no more than [`KevLimits::max_bytes`].
    pub fn load(path: &Path, limits: KevLimits) -> Result<Self, KevError> {
        let io = |source| KevError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // One byte over the limit is enough to know it is too large; the file's
        // reported size is not trusted (it may be a pipe or still growing).
        let cap = u64::try_from(limits.max_bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let mut bytes = Vec::new();
        file.take(cap).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() > limits.max_bytes {
            return Err(KevError::TooLarge {
                size: bytes.len() as u64,
                limit: limits.max_bytes,
            });
        }
        Self::parse(&bytes, limits)
    }

    /// True when the catalog lists this CVE (case-insensitive, surrounding spaces ignored).
    pub fn contains(&self, id: &str) -> bool {
        self.entry(id).is_some()
    }

    /// The catalog's entry for this CVE (case-insensitive, surrounding spaces ignored).
    pub fn entry(&self, id: &str) -> Option<&KevEntry> {
        let cve = canonical_cve(id)?;
        self.by_cve.get(&cve).and_then(|&i| self.entries.get(i))
    }

    /// The entry of the first of `ids` that the catalog lists: a finding's id, then its
    /// aliases, since a finding keyed by a GHSA may still carry the CVE as an alias.
    pub fn first_listed<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Option<&KevEntry> {
        ids.into_iter().find_map(|id| self.entry(id))
    }

    /// The catalog's `catalogVersion` (`2025.02.25`).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The catalog's `dateReleased`, as written.
    pub fn date_released(&self) -> Option<&str> {
        self.date_released.as_deref()
    }

    /// The catalog's `dateReleased` as a time, when it is RFC 3339.
    pub fn released_at(&self) -> Option<DateTime<Utc>> {
        let text = self.date_released.as_deref()?;
        DateTime::parse_from_rfc3339(text.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The catalog's `title`.
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// The catalog's own `count` field (not checked: trimmed copies keep the original).
    pub fn declared_count(&self) -> Option<u64> {
        self.declared_count
    }

    /// Distinct CVEs in the catalog.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the catalog lists no CVE.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries that repeated an earlier entry's CVE and were dropped.
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// Every entry, in catalog order (first occurrence of each CVE).
    pub fn entries(&self) -> &[KevEntry] {
        &self.entries
    }
}

/// `id` as an upper-case CVE id, if it is one: `CVE-`, a four-digit year, `-`, and
/// 4 to 19 digits (the pattern of CISA's schema).
fn canonical_cve(id: &str) -> Option<String> {
    let id = id.trim();
    let prefix = id.get(..4)?;
    if !prefix.eq_ignore_ascii_case("cve-") {
        return None;
    }
    let (year, number) = id.get(4..)?.split_once('-')?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if year.len() != 4 || !digits(year) || !(4..=19).contains(&number.len()) || !digits(number) {
        return None;
    }
    Some(format!("CVE-{year}-{number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cve: &str) -> serde_json::Value {
        serde_json::json!({
            "cveID": cve,
            "vendorProject": "Apache",
            "product": "Log4j2",
            "vulnerabilityName": "Apache Log4j2 Remote Code Execution Vulnerability",
            "dateAdded": "2021-12-10",
            "shortDescription": "d",
            "requiredAction": "a",
            "dueDate": "2021-12-24",
            "knownRansomwareCampaignUse": "Known",
            "notes": "n",
            "cwes": ["CWE-20", "CWE-400"]
        })
    }

    fn catalog(entries: Vec<serde_json::Value>) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "title": "CISA Catalog of Known Exploited Vulnerabilities",
            "catalogVersion": "2021.12.10",
            "dateReleased": "2021-12-10T15:00:00.0000Z",
            "count": entries.len(),
            "vulnerabilities": entries
        }))
        .expect("json")
    }

    #[test]
    fn canonical_cve_follows_the_schema_pattern() {
        assert_eq!(
            canonical_cve(" cve-2021-44228 ").as_deref(),
            Some("CVE-2021-44228")
        );
        assert_eq!(
            canonical_cve("CVE-2024-1234567").as_deref(),
            Some("CVE-2024-1234567")
        );
        for bad in [
            "",
            "CVE",
            "CVE-",
            "CVE-2021-",
            "CVE-2021-123",
            "CVE-21-44228",
            "CVE-2021-4422x",
            "GHSA-jfh8-c2jp-5v3q",
            "CVE-2021-12345678901234567890",
            "CVE-2021-44228-1",
            "ÇVE-2021-44228",
            "CVE–2021–44228",
        ] {
            assert_eq!(canonical_cve(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lookups_ignore_case_and_duplicates_keep_the_first() {
        let mut second = entry("CVE-2021-44228");
        second["product"] = "second".into();
        let bytes = catalog(vec![
            entry("cve-2021-44228"),
            second,
            entry("CVE-2021-45046"),
        ]);
        let kev = KevCatalog::parse(&bytes, KevLimits::default()).expect("parse");
        assert_eq!(kev.len(), 2);
        assert_eq!(kev.duplicates(), 1);
        assert_eq!(kev.declared_count(), Some(3));
        assert_eq!(kev.version(), Some("2021.12.10"));
        let e = kev.entry("Cve-2021-44228").expect("listed");
        assert_eq!(e.cve_id, "CVE-2021-44228", "stored upper case");
        assert_eq!(e.product, "Log4j2", "first entry wins");
        assert!(e.ransomware_known());
        assert!(kev.contains("CVE-2021-45046"));
        assert!(!kev.contains("CVE-2021-45105"));
        assert!(!kev.contains("GHSA-jfh8-c2jp-5v3q"));
        assert_eq!(
            kev.first_listed(["GHSA-jfh8-c2jp-5v3q", "CVE-2021-45046"])
                .map(|e| e.cve_id.as_str()),
            Some("CVE-2021-45046")
        );
    }

    #[test]
    fn a_malformed_cve_rejects_the_catalog_naming_the_entry() {
        let bytes = catalog(vec![entry("CVE-2021-44228"), entry("CVE-2021-442")]);
        match KevCatalog::parse(&bytes, KevLimits::default()) {
            Err(KevError::BadEntry { index, cve_id, .. }) => {
                assert_eq!(index, 1);
                assert_eq!(cve_id, "CVE-2021-442");
            }
            other => panic!("expected BadEntry, got {other:?}"),
        }
    }

    #[test]
    fn unknown_fields_are_tolerated_and_a_bom_is_skipped() {
        let mut e = entry("CVE-2021-44228");
        e["someFutureField"] = serde_json::json!({"nested": [1, 2]});
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(catalog(vec![e]));
        let kev = KevCatalog::parse(&bytes, KevLimits::default()).expect("parse");
        assert!(kev.contains("CVE-2021-44228"));
    }
}
