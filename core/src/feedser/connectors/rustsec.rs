//! RustSec native advisories (`crates/<crate>/RUSTSEC-*.md`): a ```` ```toml ```` block
//! (`[advisory]`, `[versions]`, `[affected]`) followed by Markdown whose first `# `
//! heading is the summary and the rest the details.
//!
//! `patched` / `unaffected` Cargo requirements become OSV SEMVER events the way RustSec's
//! own OSV export does it (rustsec crate, `osv::range_conversion` and
//! `osv::unaffected_range`): every requirement is one unaffected interval (at most one
//! lower and one upper bound; `^`, `~` and `=` alone; a bare version is `^`); the
//! intervals must not overlap; the gaps between them, sorted, are the affected ranges; an
//! exclusive bound `v` is turned inclusive with `v.patch + 1` and pre-release `0`; an
//! unbounded start is written `0.0.0-0`. The export's output is the test oracle.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::{ConnectorError, Parsed, Skipped, Source, SourceRecord};
use super::node_range::Ver;
use crate::advisory::osv::{
    Affected, Event, OsvRecord, Package, Range, RangeType, Reference, SeverityEntry,
};

/// Largest accepted advisory file (real ones are a few KiB).
pub const MAX_BYTES: usize = 1024 * 1024;
/// Most `patched` + `unaffected` requirements in one advisory.
pub const MAX_REQUIREMENTS: usize = 256;

/// `[advisory]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AdvisoryTable {
    id: String,
    package: String,
    date: Option<toml::Value>,
    url: Option<String>,
    categories: Vec<String>,
    keywords: Vec<String>,
    aliases: Vec<String>,
    related: Vec<String>,
    cvss: Option<String>,
    informational: Option<String>,
    withdrawn: Option<toml::Value>,
    references: Vec<String>,
    license: Option<String>,
}

/// `[versions]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VersionsTable {
    patched: Vec<String>,
    unaffected: Vec<String>,
}

/// The whole front matter.
#[derive(Debug, Deserialize)]
struct FrontMatter {
    advisory: AdvisoryTable,
    #[serde(default)]
    versions: VersionsTable,
    #[serde(default)]
    affected: Option<toml::Value>,
}

fn error(document: &str, reason: impl Into<String>) -> ConnectorError {
    ConnectorError::new(Source::Rustsec, document, reason)
}

/// A bound of an unaffected interval.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bound {
    Unbounded,
    Exclusive(Ver),
    Inclusive(Ver),
}

impl Bound {
    fn version(&self) -> Option<&Ver> {
        match self {
            Bound::Unbounded => None,
            Bound::Exclusive(v) | Bound::Inclusive(v) => Some(v),
        }
    }
}

/// `start <= end` for a start bound and an end bound (RustSec's `less_or_equal`).
fn less_or_equal(start: &Bound, end: &Bound) -> bool {
    match (start.version(), end.version()) {
        (None, _) | (_, None) => true,
        (Some(s), Some(e)) if s < e => true,
        _ => matches!((start, end), (Bound::Inclusive(s), Bound::Inclusive(e)) if s == e),
    }
}

/// One unaffected interval.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unaffected {
    start: Bound,
    end: Bound,
}

impl Unaffected {
    fn overlaps(&self, other: &Unaffected) -> bool {
        less_or_equal(&self.start, &other.end) && less_or_equal(&other.start, &self.end)
    }
}

/// A Cargo comparator's version: major plus optional minor/patch, and pre-release.
struct CargoVersion {
    major: u64,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Vec<String>,
}

impl CargoVersion {
    fn to_ver(&self) -> Ver {
        Ver {
            major: self.major,
            minor: self.minor.unwrap_or(0),
            patch: self.patch.unwrap_or(0),
            pre: self.pre.clone(),
        }
    }
}

fn parse_cargo_version(text: &str) -> Result<CargoVersion, String> {
    let bad = || format!("`{text}` is not a version");
    let (rest, _build) = text.split_once('+').unwrap_or((text, ""));
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, p.split('.').map(str::to_owned).collect::<Vec<_>>()),
        None => (rest, Vec::new()),
    };
    if pre
        .iter()
        .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(bad());
    }
    let nums: Vec<&str> = core.split('.').collect();
    let num = |s: &str| -> Result<u64, String> {
        if matches!(s, "*" | "x" | "X") {
            return Err(format!(
                "wildcard in `{text}` is not supported by RustSec's OSV export"
            ));
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let (major, minor, patch) = match nums.as_slice() {
        [a] => (num(a)?, None, None),
        [a, b] => (num(a)?, Some(num(b)?), None),
        [a, b, c] => (num(a)?, Some(num(b)?), Some(num(c)?)),
        _ => return Err(bad()),
    };
    if !pre.is_empty() && patch.is_none() {
        return Err(bad());
    }
    Ok(CargoVersion {
        major,
        minor,
        patch,
        pre,
    })
}

/// One Cargo requirement (`>= 1.2.3, < 1.3`, `^0.9.1`, `= 1.0`) as an unaffected interval.
fn requirement(req: &str) -> Result<Unaffected, String> {
    let comparators: Vec<&str> = req.split(',').map(str::trim).collect();
    if comparators.len() > 2 {
        return Err(format!("too many comparators in `{req}`"));
    }
    let alone = comparators.len() == 1;
    let mut start = Bound::Unbounded;
    let mut end = Bound::Unbounded;
    let overflow = || format!("version overflow in `{req}`");
    for comp in comparators {
        let (op, rest) = [">=", "<=", ">", "<", "=", "^", "~"]
            .iter()
            .find_map(|op| comp.strip_prefix(op).map(|r| (*op, r.trim_start())))
            .unwrap_or(("^", comp));
        let v = parse_cargo_version(rest).map_err(|e| format!("in `{req}`: {e}"))?;
        let set_start = |start: &mut Bound, b: Bound| {
            if *start != Bound::Unbounded {
                return Err(format!("more than one lower bound in `{req}`"));
            }
            *start = b;
            Ok(())
        };
        let set_end = |end: &mut Bound, b: Bound| {
            if *end != Bound::Unbounded {
                return Err(format!("more than one upper bound in `{req}`"));
            }
            *end = b;
            Ok(())
        };
        match op {
            ">" => set_start(&mut start, Bound::Exclusive(v.to_ver()))?,
            ">=" => set_start(&mut start, Bound::Inclusive(v.to_ver()))?,
            "<" => set_end(&mut end, Bound::Exclusive(v.to_ver()))?,
            "<=" => set_end(&mut end, Bound::Inclusive(v.to_ver()))?,
            _ if !alone => {
                return Err(format!("`{op}` must be alone in its requirement: `{req}`"));
            }
            "=" => {
                start = Bound::Inclusive(v.to_ver());
                end = Bound::Inclusive(v.to_ver());
            }
            "^" => {
                let upper = if v.major == 0 {
                    match (v.minor, v.patch) {
                        (Some(0), Some(patch)) => {
                            Ver::new(0, 0, patch.checked_add(1).ok_or_else(overflow)?)
                        }
                        (Some(minor), _) => {
                            Ver::new(0, minor.checked_add(1).ok_or_else(overflow)?, 0)
                        }
                        (None, _) => Ver::new(1, 0, 0),
                    }
                } else {
                    Ver::new(v.major.checked_add(1).ok_or_else(overflow)?, 0, 0)
                };
                start = Bound::Inclusive(v.to_ver());
                end = Bound::Exclusive(upper.with_pre_zero());
            }
            _ => {
                // `~`
                let upper = match v.minor {
                    None => Ver::new(v.major.checked_add(1).ok_or_else(overflow)?, 0, 0),
                    Some(minor) => Ver::new(v.major, minor.checked_add(1).ok_or_else(overflow)?, 0),
                };
                start = Bound::Inclusive(v.to_ver());
                end = Bound::Exclusive(upper.with_pre_zero());
            }
        }
    }
    if !less_or_equal(&start, &end) {
        return Err(format!("`{req}` is empty: its start is above its end"));
    }
    Ok(Unaffected { start, end })
}

/// RustSec's increment: the lowest version above `v` (`1.2.3` → `1.2.4-0`).
fn increment(v: &Ver, req_context: &str) -> Result<Ver, String> {
    v.successor()
        .ok_or_else(|| format!("cannot increment {v} in {req_context}"))
}

/// OSV events for the affected gaps between `patched` and `unaffected` requirements.
pub fn events_for(patched: &[String], unaffected: &[String]) -> Result<Vec<Event>, String> {
    if patched.len() + unaffected.len() > MAX_REQUIREMENTS {
        return Err(format!("more than {MAX_REQUIREMENTS} version requirements"));
    }
    let mut ranges: Vec<Unaffected> = Vec::new();
    for req in unaffected.iter().chain(patched) {
        ranges.push(requirement(req)?);
    }
    let mut events = Vec::new();
    let zero = "0.0.0-0".to_owned();
    if ranges.is_empty() {
        events.push(Event::Introduced(zero));
        return Ok(events);
    }
    for (i, a) in ranges.iter().enumerate() {
        for b in ranges.iter().skip(i + 1) {
            if a.overlaps(b) {
                return Err("unaffected/patched requirements overlap".to_owned());
            }
        }
    }
    // Disjoint, so ordering by start orders them entirely (an unbounded start first).
    ranges.sort_by(|a, b| match (a.start.version(), b.start.version()) {
        (None, _) => std::cmp::Ordering::Less,
        (_, None) => std::cmp::Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(y),
    });
    let ctx = "the requirements";
    let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
        return Ok(events);
    };
    match &first.start {
        Bound::Unbounded => {}
        Bound::Exclusive(v) => {
            events.push(Event::Introduced(zero.clone()));
            events.push(Event::Fixed(increment(v, ctx)?.to_string()));
        }
        Bound::Inclusive(v) => {
            events.push(Event::Introduced(zero.clone()));
            events.push(Event::Fixed(v.to_string()));
        }
    }
    for pair in ranges.windows(2) {
        let [a, b] = pair else { continue };
        let start = match &a.end {
            Bound::Unbounded => return Err("an unbounded requirement is not the last".to_owned()),
            Bound::Exclusive(v) => v.clone(),
            Bound::Inclusive(v) => increment(v, ctx)?,
        };
        let end = match &b.start {
            Bound::Unbounded => return Err("an unbounded requirement is not the first".to_owned()),
            Bound::Exclusive(v) => increment(v, ctx)?,
            Bound::Inclusive(v) => v.clone(),
        };
        events.push(Event::Introduced(start.to_string()));
        events.push(Event::Fixed(end.to_string()));
    }
    match &last.end {
        Bound::Unbounded => {}
        Bound::Exclusive(v) => events.push(Event::Introduced(v.to_string())),
        Bound::Inclusive(v) => events.push(Event::Introduced(increment(v, ctx)?.to_string())),
    }
    Ok(events)
}

fn toml_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        _ => String::new(),
    }
}

/// `2020-01-24` → `2020-01-24T12:00:00Z` (RustSec's export uses noon UTC); other text kept.
fn date_to_rfc3339(date: &str) -> String {
    match chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d") {
        Ok(d) => format!("{}T12:00:00Z", d.format("%Y-%m-%d")),
        Err(_) => date.trim().to_owned(),
    }
}

/// Reads one native RustSec advisory.
pub fn parse(document: &str, bytes: &[u8]) -> Result<Parsed, ConnectorError> {
    crate::feedser::check_size(Source::Rustsec, document, bytes, MAX_BYTES)?;
    let text =
        std::str::from_utf8(bytes).map_err(|e| error(document, format!("not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Front matter: the first non-blank line must open a ```toml block.
    let mut lines = text.split_inclusive('\n').enumerate();
    let open_line = loop {
        match lines.next() {
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((n, l)) if l.trim() == "```toml" => break n + 1,
            Some((n, _)) => {
                return Err(error(
                    document,
                    format!("line {}: expected a ```toml front-matter block", n + 1),
                ));
            }
            None => return Err(error(document, "empty document")),
        }
    };
    let mut toml_text_block = String::new();
    let mut closed = false;
    for (_, line) in lines.by_ref() {
        if line.trim() == "```" {
            closed = true;
            break;
        }
        toml_text_block.push_str(line);
    }
    if !closed {
        return Err(error(
            document,
            format!("the ```toml block opened at line {open_line} is never closed"),
        ));
    }
    let markdown: String = lines.map(|(_, l)| l).collect();
    let front: FrontMatter = toml::from_str(&toml_text_block).map_err(|e| {
        error(
            document,
            format!(
                "front matter (from line {}): {}",
                open_line + 1,
                e.to_string().trim()
            ),
        )
    })?;
    let adv = front.advisory;
    if adv.id.trim().is_empty() {
        return Err(error(document, "`advisory.id` is missing or empty"));
    }
    if adv.package.trim().is_empty() {
        return Err(error(document, "`advisory.package` is missing or empty"));
    }

    // Markdown: the first `# ` heading is the summary, what follows it the details.
    let mut summary = None;
    let mut details = String::new();
    for line in markdown.split_inclusive('\n') {
        if summary.is_none() {
            if let Some(h) = line.trim_end().strip_prefix("# ") {
                summary = Some(h.trim().to_owned());
            }
            continue;
        }
        details.push_str(line);
    }
    let Some(summary) = summary else {
        return Err(error(
            document,
            "no `# ` heading after the front matter (the summary)",
        ));
    };
    let details = details.trim().to_owned();

    let published = adv.date.as_ref().map(|d| date_to_rfc3339(&toml_text(d)));
    let withdrawn = adv
        .withdrawn
        .as_ref()
        .map(|d| date_to_rfc3339(&toml_text(d)));

    let raw_versions = json!({
        "patched": front.versions.patched,
        "unaffected": front.versions.unaffected,
    });
    let events = match events_for(&front.versions.patched, &front.versions.unaffected) {
        Ok(e) => e,
        Err(reason) => {
            return Ok(Parsed {
                records: Vec::new(),
                skipped: vec![Skipped {
                    document: document.to_owned(),
                    location: format!("{}: [versions] {raw_versions}", adv.id),
                    reason,
                }],
            });
        }
    };

    let affects = match &front.affected {
        Some(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        None => Value::Null,
    };
    let mut references = vec![
        Reference {
            kind: "PACKAGE".to_owned(),
            url: format!("https://crates.io/crates/{}", adv.package),
        },
        Reference {
            kind: "ADVISORY".to_owned(),
            url: format!("https://rustsec.org/advisories/{}.html", adv.id),
        },
    ];
    if let Some(url) = &adv.url {
        references.push(Reference {
            kind: "REPORT".to_owned(),
            url: url.clone(),
        });
    }
    for url in &adv.references {
        references.push(Reference {
            kind: "WEB".to_owned(),
            url: url.clone(),
        });
    }
    let severity = adv
        .cvss
        .iter()
        .map(|v| SeverityEntry {
            kind: if v.starts_with("CVSS:4") {
                "CVSS_V4"
            } else {
                "CVSS_V3"
            }
            .to_owned(),
            score: v.clone(),
        })
        .collect();
    let record = OsvRecord {
        id: adv.id.trim().to_owned(),
        // The native file has no modification time (the export uses git history).
        modified: withdrawn
            .clone()
            .or_else(|| published.clone())
            .unwrap_or_default(),
        published,
        withdrawn,
        aliases: adv.aliases,
        related: adv.related,
        summary: Some(summary),
        details: (!details.is_empty()).then_some(details),
        severity,
        affected: vec![Affected {
            package: Some(Package {
                ecosystem: "crates.io".to_owned(),
                name: adv.package.clone(),
                purl: Some(format!("pkg:cargo/{}", adv.package)),
            }),
            ranges: vec![Range {
                kind: RangeType::Semver,
                repo: None,
                events,
            }],
            ecosystem_specific: Some(json!({ "affects": affects })),
            database_specific: Some(json!({
                "categories": adv.categories,
                "keywords": adv.keywords,
                "cvss": adv.cvss,
                "informational": adv.informational,
                "versions": raw_versions,
            })),
            ..Affected::default()
        }],
        references,
        database_specific: Some(
            json!({ "license": adv.license.unwrap_or_else(|| "CC0-1.0".to_owned()) }),
        ),
    };
    Ok(Parsed {
        records: vec![SourceRecord {
            source: Source::Rustsec,
            document: document.to_owned(),
            location: record.id.clone(),
            record,
        }],
        skipped: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::osv::{OsvLimits, parse_json};
    use proptest::prelude::*;

    fn sample() -> std::path::PathBuf {
        crate::testdata::dir().join("feeds-sample")
    }

    fn ev(patched: &[&str], unaffected: &[&str]) -> Result<Vec<Event>, String> {
        let p: Vec<String> = patched.iter().map(|s| (*s).to_owned()).collect();
        let u: Vec<String> = unaffected.iter().map(|s| (*s).to_owned()).collect();
        events_for(&p, &u)
    }

    fn i(v: &str) -> Event {
        Event::Introduced(v.to_owned())
    }
    fn f(v: &str) -> Event {
        Event::Fixed(v.to_owned())
    }

    #[test]
    fn conversion_cases() {
        assert_eq!(ev(&[], &[]), Ok(vec![i("0.0.0-0")]));
        assert_eq!(ev(&[">= 1.2.3"], &[]), Ok(vec![i("0.0.0-0"), f("1.2.3")]));
        // `< 0.10` then `>= 0.10.0`: an empty interval, as the README describes.
        assert_eq!(
            ev(&[">= 0.10.0"], &["< 0.10"]),
            Ok(vec![i("0.10.0"), f("0.10.0")])
        );
        assert_eq!(
            ev(&["^0.5.4", "^0.6.2", ">= 0.7.0"], &[]),
            Ok(vec![
                i("0.0.0-0"),
                f("0.5.4"),
                i("0.6.0-0"),
                f("0.6.2"),
                i("0.7.0-0"),
                f("0.7.0")
            ])
        );
        assert_eq!(ev(&[], &["> 0.3.0"]), Ok(vec![i("0.0.0-0"), f("0.3.1-0")]));
        assert_eq!(ev(&[], &["<= 0.1.2"]), Ok(vec![i("0.1.3-0")]));
        assert!(ev(&[">= 1.0.0", ">= 2.0.0"], &[]).is_err(), "overlap");
        assert!(ev(&[">= 1.0, >= 2.0"], &[]).is_err());
        assert!(ev(&["^1.0, < 3"], &[]).is_err());
        assert!(ev(&["1.*"], &[]).is_err());
        assert!(ev(&["< 1.0, > 2.0"], &[]).is_err());
    }

    #[test]
    fn errors_name_lines() {
        let e = parse("d", b"hello\n")
            .err()
            .map(|e| e.reason)
            .unwrap_or_default();
        assert!(e.contains("line 1"), "{e}");
        let e = parse("d", b"```toml\n[advisory]\nid = \n```\n# t\n")
            .err()
            .map(|e| e.reason);
        assert!(e.unwrap_or_default().contains("line"));
        let e = parse(
            "d",
            b"```toml\n[advisory]\nid = \"X\"\npackage = \"p\"\n```\nno heading\n",
        )
        .err();
        assert!(e.map(|e| e.reason).unwrap_or_default().contains("heading"));
        let e = parse("d", b"```toml\n[advisory]\n").err().map(|e| e.reason);
        assert!(e.unwrap_or_default().contains("never closed"));
    }

    /// Differential test against RustSec's own OSV export for every id in both folders.
    #[test]
    fn matches_rustsec_osv_export() {
        let dir = sample().join("rustsec-native");
        let mut compared = 0;
        let mut disagreements = Vec::new();
        let mut skipped = Vec::new();
        let mut crates: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .collect();
        crates.sort_by_key(|e| e.path());
        for krate in crates {
            let mut files: Vec<_> = std::fs::read_dir(krate.path())
                .unwrap_or_else(|e| panic!("{e}"))
                .flatten()
                .map(|e| e.path())
                .collect();
            files.sort();
            for path in files
                .into_iter()
                .filter(|p| p.extension().is_some_and(|x| x == "md"))
            {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
                let parsed =
                    parse(&path.display().to_string(), &bytes).unwrap_or_else(|e| panic!("{e}"));
                skipped.extend(parsed.skipped);
                for rec in parsed.records {
                    let ours = rec.record;
                    let export_path = sample().join(format!("osv-crates/{}.json", ours.id));
                    let Ok(export_bytes) = std::fs::read(&export_path) else {
                        continue;
                    };
                    let theirs = parse_json(&export_bytes, &OsvLimits::default())
                        .unwrap_or_else(|e| panic!("{e}"));
                    compared += 1;
                    let ranges = |r: &OsvRecord| {
                        r.affected
                            .iter()
                            .map(|a| a.ranges.clone())
                            .collect::<Vec<_>>()
                    };
                    for (what, same) in [
                        ("ranges", ranges(&ours) == ranges(&theirs)),
                        ("aliases", ours.aliases == theirs.aliases),
                        ("summary", ours.summary == theirs.summary),
                        ("withdrawn", ours.withdrawn == theirs.withdrawn),
                        ("published", ours.published == theirs.published),
                        ("related", ours.related == theirs.related),
                        ("details", ours.details == theirs.details),
                        ("severity", ours.severity == theirs.severity),
                        (
                            "package",
                            ours.affected.first().map(|a| &a.package)
                                == theirs.affected.first().map(|a| &a.package),
                        ),
                    ] {
                        if !same {
                            disagreements.push(format!("{} {what}", ours.id));
                        }
                    }
                }
            }
        }
        eprintln!(
            "rustsec: compared {compared}, skipped {skipped:?}, disagreements {disagreements:?}"
        );
        assert_eq!(compared, 150);
        assert!(skipped.is_empty());
        assert_eq!(disagreements, Vec::<String>::new());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse("p", &bytes);
        }

        #[test]
        fn arbitrary_requirements_never_panic(p in proptest::collection::vec("[<>=^~ ,0-9.x*a-z-]{0,16}", 0..4), u in proptest::collection::vec("[<>=^~ ,0-9.]{0,12}", 0..3)) {
            let _ = events_for(&p, &u);
            let doc = format!("```toml\n[advisory]\nid = \"X\"\npackage = \"p\"\n[versions]\npatched = {p:?}\nunaffected = {u:?}\n```\n# s\n");
            let _ = parse("p", doc.as_bytes());
        }
    }
}
