//! The ignore file: vulnerabilities a team has decided to accept, optionally
//! for one package pattern and until a date.
//!
//! ```yaml
//! ignores:
//!   - id: CVE-2023-12345
//!     purl: "pkg:pypi/*"        # optional glob over the finding's purl
//!     expires: 2026-03-31       # optional; a date means the end of that day, UTC
//!     reason: not reachable     # optional
//! ```

use super::mute::{MuteSet, PurlGlob, parse_expires};
use crate::verdict::mute_rule::{MuteRule, Provenance};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest ignore file accepted, in bytes (a hand-written policy file is far smaller).
pub const MAX_IGNORE_FILE_BYTES: usize = 1024 * 1024;

/// Most entries accepted in one ignore file.
pub const MAX_IGNORE_ENTRIES: usize = 10_000;

/// Why an ignore file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    /// The file could not be opened or read.
    #[error("reading ignore file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_IGNORE_FILE_BYTES`].
    #[error("ignore file is larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The file is not valid UTF-8.
    #[error("ignore file is not valid UTF-8")]
    NotUtf8,
    /// The file has more than [`MAX_IGNORE_ENTRIES`] entries.
    #[error("ignore file has {count} entries, over the limit of {limit}")]
    TooManyEntries {
        /// Entries in the file.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The YAML is malformed or does not have the expected shape.
    #[error("ignore file is not valid: {message}")]
    Yaml {
        /// The parser's message, with line and column.
        message: String,
    },
    /// One entry has a bad or missing field.
    #[error("ignores[{index}].{field}: {problem}")]
    Entry {
        /// Zero-based position of the entry in `ignores`.
        index: usize,
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

/// A parsed ignore file.
#[derive(Debug, Clone, Default)]
pub struct IgnoreFile {
    /// The entries, in file order.
    pub entries: Vec<IgnoreEntry>,
}

/// One accepted vulnerability.
#[derive(Debug, Clone)]
pub struct IgnoreEntry {
    /// Zero-based position in the file's `ignores` list.
    pub index: usize,
    /// Vulnerability id; matches a finding's id or any alias, ignoring ASCII case.
    pub id: String,
    /// Restricts the entry to findings whose purl matches this glob.
    pub purl: Option<PurlGlob>,
    /// The moment after which the entry stops applying.
    pub expires: Option<DateTime<Utc>>,
    /// Why it is accepted.
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    ignores: Option<Vec<RawEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: Option<String>,
    purl: Option<String>,
    expires: Option<String>,
    reason: Option<String>,
}

impl IgnoreFile {
    /// Reads and parses an ignore file, refusing files over [`MAX_IGNORE_FILE_BYTES`].
    pub fn load(path: &Path) -> Result<Self, IgnoreError> {
        let io = |source| IgnoreError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        // Read one byte past the limit so an oversized file is detected without
        // reading all of it.
        file.take(MAX_IGNORE_FILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() > MAX_IGNORE_FILE_BYTES {
            return Err(IgnoreError::TooLarge {
                limit: MAX_IGNORE_FILE_BYTES,
            });
        }
        let text = String::from_utf8(bytes).map_err(|_| IgnoreError::NotUtf8)?;
        Self::parse(&text)
    }

    /// Parses the YAML text of an ignore file.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        if text.len() > MAX_IGNORE_FILE_BYTES {
            return Err(IgnoreError::TooLarge {
                limit: MAX_IGNORE_FILE_BYTES,
            });
        }
        // An empty (or comment-only) file ignores nothing.
        if text
            .lines()
            .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
        {
            return Ok(Self::default());
        }
        let options = serde_saphyr::options! {
            budget: serde_saphyr::budget! {
                max_depth: 16,
                max_documents: 1,
                max_nodes: 8 * MAX_IGNORE_ENTRIES,
                max_aliases: 1_000,
            },
        };
        let raw: Option<RawFile> =
            serde_saphyr::from_str_with_options(text, options).map_err(|e| IgnoreError::Yaml {
                message: e.to_string(),
            })?;
        let raw_entries = raw.and_then(|r| r.ignores).unwrap_or_default();
        if raw_entries.len() > MAX_IGNORE_ENTRIES {
            return Err(IgnoreError::TooManyEntries {
                count: raw_entries.len(),
                limit: MAX_IGNORE_ENTRIES,
            });
        }
        let entries = raw_entries
            .into_iter()
            .enumerate()
            .map(|(index, raw)| IgnoreEntry::from_raw(index, raw))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { entries })
    }

    /// The entries as mute rules (an ignore entry is a mute without a justification),
    /// with provenance `source` and the entry's index.
    pub fn to_mutes(&self, source: &str) -> Vec<MuteRule> {
        self.entries
            .iter()
            .map(|entry| MuteRule {
                id: entry.id.clone(),
                purl: entry.purl.as_ref().map(|g| g.pattern().to_owned()),
                expires: entry
                    .expires
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
                reason: entry.reason.clone(),
                provenance: Some(Provenance::File {
                    path: source.to_owned(),
                    index: entry.index,
                }),
                ..MuteRule::default()
            })
            .collect()
    }

    /// [`Self::to_mutes`], compiled. The entries were checked when parsed, so they compile.
    pub fn to_mute_set(&self, source: &str) -> MuteSet {
        MuteSet::compile(self.to_mutes(source)).unwrap_or_default()
    }
}

impl IgnoreEntry {
    fn from_raw(index: usize, raw: RawEntry) -> Result<Self, IgnoreError> {
        let err = |field, problem: String| IgnoreError::Entry {
            index,
            field,
            problem,
        };
        let id = raw
            .id
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| err("id", "missing or empty".to_owned()))?;
        let purl = match raw.purl.as_deref().map(str::trim) {
            None => None,
            Some("") => return Err(err("purl", "empty pattern".to_owned())),
            Some(pattern) => Some(
                PurlGlob::new(pattern)
                    .map_err(|e| err("purl", format!("invalid glob {pattern:?}: {e}")))?,
            ),
        };
        let expires = match raw.expires.as_deref().map(str::trim) {
            None => None,
            Some(text) => Some(parse_expires(text).ok_or_else(|| {
                err(
                    "expires",
                    format!("{text:?} is neither an RFC 3339 timestamp nor a YYYY-MM-DD date"),
                )
            })?),
        };
        let reason = raw
            .reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        Ok(Self {
            index,
            id,
            purl,
            expires,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::Severity;
    use crate::matcher::Finding;
    use crate::policy::mute::{Context, FindingRef, MuteDecision};
    use chrono::TimeZone;

    /// The index of the entry that mutes `finding` at `now` (entries are mutes).
    fn first_match(file: &IgnoreFile, finding: &Finding, now: DateTime<Utc>) -> Option<usize> {
        let set = file.to_mute_set("test");
        match set.decide(&FindingRef::from(finding), &Context::default(), now) {
            MuteDecision::Muted(rule) => match rule.provenance {
                Some(Provenance::File { index, .. }) => Some(index),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the file's only entry has expired at `now` (checked on a finding it covers).
    fn is_expired(file: &IgnoreFile, now: DateTime<Utc>) -> bool {
        let f = finding(&file.entries[0].id, &[], "pkg:pypi/a@1");
        let set = file.to_mute_set("test");
        matches!(
            set.decide(&FindingRef::from(&f), &Context::default(), now),
            MuteDecision::Expired(_)
        )
    }

    fn matches(entry: IgnoreEntry, finding: &Finding) -> bool {
        let file = IgnoreFile {
            entries: vec![entry],
        };
        first_match(&file, finding, Utc::now()).is_some()
    }

    fn finding(id: &str, aliases: &[&str], purl: &str) -> Finding {
        Finding {
            id: id.to_owned(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            advisories: vec![id.to_owned()],
            component_ref: "ref".to_owned(),
            package_name: "pkg".to_owned(),
            purl: purl.to_owned(),
            installed_version: "1.0".to_owned(),
            fixed_versions: vec![],
            severity: Severity::High,
            cvss: None,
            summary: None,
            published: None,
            layer_digest: None,
        }
    }

    #[test]
    fn parses_all_fields() {
        let file = IgnoreFile::parse(
            "ignores:\n  - id: CVE-2023-1\n    purl: \"pkg:pypi/*\"\n    expires: 2026-03-31\n    reason: not reachable\n  - id: GHSA-aaaa-bbbb-cccc\n",
        )
        .unwrap();
        assert_eq!(file.entries.len(), 2);
        let first = &file.entries[0];
        assert_eq!(first.index, 0);
        assert_eq!(first.id, "CVE-2023-1");
        assert_eq!(first.purl.as_ref().unwrap().pattern(), "pkg:pypi/*");
        assert_eq!(
            first.expires,
            Some(
                Utc.with_ymd_and_hms(2026, 3, 31, 23, 59, 59).unwrap()
                    + chrono::Duration::nanoseconds(999_999_999)
            )
        );
        assert_eq!(first.reason.as_deref(), Some("not reachable"));
        let second = &file.entries[1];
        assert_eq!(second.index, 1);
        assert!(second.purl.is_none() && second.expires.is_none() && second.reason.is_none());
    }

    #[test]
    fn empty_and_comment_only_files_ignore_nothing() {
        for text in ["", "\n\n", "# nothing yet\n", "ignores: []\n", "ignores:\n"] {
            let file = IgnoreFile::parse(text).unwrap();
            assert!(file.entries.is_empty(), "{text:?}");
        }
    }

    #[test]
    fn rfc3339_expiry_keeps_offset() {
        let file =
            IgnoreFile::parse("ignores:\n  - id: X\n    expires: 2026-01-01T10:00:00+02:00\n")
                .unwrap();
        assert_eq!(
            file.entries[0].expires,
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap())
        );
    }

    #[test]
    fn entry_errors_name_index_and_field() {
        let cases: &[(&str, usize, &str)] = &[
            ("ignores:\n  - reason: x\n", 0, "id"),
            ("ignores:\n  - id: A\n  - id: \"  \"\n", 1, "id"),
            ("ignores:\n  - id: A\n    purl: \"pkg:pypi/[\"\n", 0, "purl"),
            ("ignores:\n  - id: A\n    purl: \"\"\n", 0, "purl"),
            (
                "ignores:\n  - id: A\n  - id: B\n  - id: C\n    expires: next week\n",
                2,
                "expires",
            ),
            (
                "ignores:\n  - id: A\n    expires: 2026-02-30\n",
                0,
                "expires",
            ),
            ("ignores:\n  - id: A\n    expires: 2026-1-5\n", 0, "expires"),
        ];
        for (text, want_index, want_field) in cases {
            match IgnoreFile::parse(text) {
                Err(IgnoreError::Entry { index, field, .. }) => {
                    assert_eq!((index, field), (*want_index, *want_field), "{text:?}");
                }
                other => panic!("{text:?}: expected entry error, got {other:?}"),
            }
        }
        let message = IgnoreFile::parse("ignores:\n  - id: A\n    expires: soon\n")
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("ignores[0].expires:"), "{message}");
    }

    #[test]
    fn shape_errors_are_yaml_errors() {
        for text in [
            "ignores:\n  - id: A\n    expiry: 2026-01-01\n", // typo'd field
            "ignore:\n  - id: A\n",                          // typo'd top-level key
            "ignores: CVE-1\n",                              // not a list
            "ignores:\n  - [a, b]\n",                        // entry not a mapping
            "ignores: [\n",                                  // malformed
        ] {
            assert!(
                matches!(IgnoreFile::parse(text), Err(IgnoreError::Yaml { .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn size_limits() {
        let big = format!("# {}\n", "x".repeat(MAX_IGNORE_FILE_BYTES));
        assert!(matches!(
            IgnoreFile::parse(&big),
            Err(IgnoreError::TooLarge { .. })
        ));
        let mut many = String::from("ignores:\n");
        for i in 0..=MAX_IGNORE_ENTRIES {
            many.push_str(&format!("- id: C{i}\n"));
        }
        assert!(many.len() < MAX_IGNORE_FILE_BYTES);
        assert!(matches!(
            IgnoreFile::parse(&many),
            Err(IgnoreError::TooManyEntries { count, .. }) if count == MAX_IGNORE_ENTRIES + 1
        ));
    }

    #[test]
    fn load_reads_and_limits_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ignore.yaml");
        std::fs::write(&good, "ignores:\n  - id: CVE-1\n").unwrap();
        assert_eq!(IgnoreFile::load(&good).unwrap().entries.len(), 1);
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; MAX_IGNORE_FILE_BYTES + 1]).unwrap();
        assert!(matches!(
            IgnoreFile::load(&big),
            Err(IgnoreError::TooLarge { .. })
        ));
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, [0xff, 0xfe, b'\n']).unwrap();
        assert!(matches!(IgnoreFile::load(&bad), Err(IgnoreError::NotUtf8)));
        assert!(matches!(
            IgnoreFile::load(&dir.path().join("missing.yaml")),
            Err(IgnoreError::Io { .. })
        ));
    }

    #[test]
    fn matching_table() {
        let f = finding(
            "CVE-2024-1",
            &["GHSA-xxxx-yyyy-zzzz", "PYSEC-2024-9"],
            "pkg:pypi/requests@2.31.0",
        );
        let cases: &[(&str, Option<&str>, bool)] = &[
            ("CVE-2024-1", None, true),
            ("cve-2024-1", None, true),
            ("ghsa-XXXX-yyyy-zzzz", None, true),
            ("PYSEC-2024-9", None, true),
            ("CVE-2024-2", None, false),
            ("CVE-2024-1", Some("pkg:pypi/*"), true),
            ("CVE-2024-1", Some("pkg:pypi/requests"), true),
            ("CVE-2024-1", Some("pkg:pypi/requests@2.31.*"), true),
            ("CVE-2024-1", Some("pkg:pypi/requests@2.30.*"), false),
            ("CVE-2024-1", Some("pkg:npm/*"), false),
            ("CVE-2024-1", Some("pkg:pypi/req"), false),
            ("CVE-2024-2", Some("pkg:pypi/*"), false),
        ];
        for (id, purl, want) in cases {
            let entry = IgnoreEntry {
                index: 0,
                id: (*id).to_owned(),
                purl: purl.map(|p| PurlGlob::new(p).unwrap()),
                expires: None,
                reason: None,
            };
            assert_eq!(matches(entry, &f), *want, "id={id} purl={purl:?}");
        }
    }

    #[test]
    fn expiry_boundary() {
        let entry = IgnoreFile::parse("ignores:\n  - id: A\n    expires: 2026-01-31\n").unwrap();
        let last_instant = Utc.with_ymd_and_hms(2026, 1, 31, 23, 59, 59).unwrap()
            + chrono::Duration::nanoseconds(999_999_999);
        assert!(!is_expired(
            &entry,
            Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap()
        ));
        assert!(!is_expired(&entry, last_instant));
        assert!(is_expired(
            &entry,
            last_instant + chrono::Duration::nanoseconds(1)
        ));
        assert!(is_expired(
            &entry,
            Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()
        ));

        let exact =
            IgnoreFile::parse("ignores:\n  - id: A\n    expires: 2026-01-31T12:00:00Z\n").unwrap();
        let noon = Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
        assert!(!is_expired(&exact, noon), "expires == now still applies");
        assert!(is_expired(&exact, noon + chrono::Duration::nanoseconds(1)));
        assert!(!is_expired(&exact, noon - chrono::Duration::seconds(1)));
    }

    #[test]
    fn first_match_skips_expired_and_takes_lowest_index() {
        let file = IgnoreFile::parse(
            "ignores:\n  - id: CVE-1\n    expires: 2020-01-01\n  - id: CVE-1\n    reason: second\n  - id: CVE-1\n    reason: third\n",
        )
        .unwrap();
        let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let f = finding("CVE-1", &[], "pkg:pypi/a@1");
        assert_eq!(first_match(&file, &f, now), Some(1));
        let before = Utc.with_ymd_and_hms(2019, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(first_match(&file, &f, before), Some(0));
        assert!(first_match(&file, &finding("CVE-2", &[], "pkg:pypi/a@1"), now).is_none());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,400}") {
            let _ = IgnoreFile::parse(&text);
        }

        #[test]
        fn parse_never_panics_on_yamlish_input(
            lines in proptest::collection::vec(
                "(ignores:|  - id: [A-Za-z0-9-]{0,12}|    purl: \"[a-z:/*?\\[\\]{},@]{0,16}\"|    expires: [0-9T:Z+-]{0,25}|    reason: .{0,10}|- \\[|&a|\\*a|\\{)",
                0..12,
            )
        ) {
            let _ = IgnoreFile::parse(&lines.join("\n"));
        }

        #[test]
        fn parsed_ids_always_match_themselves(id in "[A-Za-z][A-Za-z0-9-]{0,20}") {
            let file = IgnoreFile::parse(&format!("ignores:\n  - id: \"{id}\"\n")).unwrap();
            let f = finding(&id.to_ascii_uppercase(), &[], "pkg:pypi/a@1");
            proptest::prop_assert!(first_match(&file, &f, Utc::now()).is_some());
        }
    }
}
