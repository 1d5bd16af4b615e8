//! Human-readable table of findings with a one-line summary.
//!
//! Widths are counted in `char`s (no East Asian wide-character handling): the
//! cells are ids, versions and advisory titles, which are overwhelmingly ASCII.

use super::{ScanReport, finding_order};
use crate::advisory::Severity;
use crate::matcher::Finding;
use crate::verdict::Action;
use crate::verdict::mute_rule::{MuteRule, Provenance};
use crate::verdict::{DecidedFinding, RegoVerdict, Status};
use std::fmt::Write as _;

const HEADERS: [&str; 8] = [
    "PACKAGE",
    "INSTALLED",
    "FIXED",
    "SEVERITY",
    "ACTION",
    "ID",
    "ALIASES",
    "TITLE",
];
const GAP: &str = "  ";
/// Narrowest each column is shrunk to, by column; `usize::MAX` never shrinks.
const MIN_WIDTH: [usize; 8] = [12, 10, 8, usize::MAX, usize::MAX, usize::MAX, 8, 8];
/// Which columns give up width first when the terminal is narrow.
const SHRINK_ORDER: [usize; 5] = [7, 6, 2, 0, 1];

const RESET: &str = "\x1b[0m";

/// Lower-case name of a severity, as used in every report format.
pub(crate) fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
        Severity::Unknown => "unknown",
    }
}

fn severity_colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "\x1b[1;31m",
        Severity::High => "\x1b[31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[34m",
        Severity::Unknown => "\x1b[2m",
    }
}

/// Renders the findings table, warnings for expired ignores and the summary line.
///
/// `width` is the terminal width in columns; columns are truncated (with `…`) to
/// fit when possible. `color` adds ANSI colours (the caller decides, e.g. from
/// whether stdout is a terminal).
pub fn render(report: &ScanReport, width: usize, color: bool) -> String {
    let mut out = String::new();
    let mut findings: Vec<&DecidedFinding> = report.findings.iter().collect();
    findings.sort_by(|a, b| finding_order(&a.finding, &b.finding));

    if findings.is_empty() {
        out.push_str("No vulnerabilities to act on.\n");
    } else {
        let rows: Vec<(Severity, [String; 8])> = findings
            .iter()
            .map(|d| (d.finding.severity, cells(&d.finding, d.action)))
            .collect();
        let widths = column_widths(&rows, width);
        push_row(&mut out, &HEADERS.map(str::to_owned), &widths, None);
        for (severity, row) in &rows {
            push_row(&mut out, row, &widths, color.then_some(*severity));
        }
    }

    explain(&mut out, report);
    let c = &report.coverage;
    let skipped = [
        (
            c.distro_without_release,
            "OS packages without a distro release",
        ),
        (c.unsupported_ecosystem, "unsupported ecosystems"),
        (c.without_purl, "without a purl"),
        (c.without_version, "without a version"),
    ];
    for (n, why) in skipped.iter().filter(|(n, _)| *n > 0) {
        let _ = writeln!(out, "note: {n} component(s) not matched: {why}");
    }
    out.push_str(&summary_line(report, color));
    out.push('\n');
    out
}

/// The rules that fired, Rego messages, muted findings and expired mutes.
fn explain(out: &mut String, report: &ScanReport) {
    let v = &report.verdict;
    for rule in &v.rules {
        let _ = writeln!(
            out,
            "rule {} ({}): {} finding{} — {}",
            clean(&rule.name),
            rule.action.as_str(),
            rule.findings,
            plural(rule.findings),
            clean(&rule.reason),
        );
    }
    if let Some(rego) = &v.rego {
        rego_lines(out, rego);
    }
    for m in &v.muted {
        let _ = writeln!(
            out,
            "muted: {} in {} — {}",
            clean(&m.finding.id),
            clean(&m.finding.purl),
            clean(&mute_summary(&m.mute)),
        );
    }
    for expired in &v.expired_mutes {
        let _ = writeln!(
            out,
            "warning: mute of {} ({}) expired {}; it no longer applies ({} matching finding{})",
            clean(&expired.mute.id),
            clean(&provenance(&expired.mute)),
            expired
                .expires
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            expired.matching_findings,
            plural(expired.matching_findings),
        );
    }
}

/// `rego deny: …`, `rego warn: …` and `rego error (FALLBACK): …` lines.
pub fn rego_lines(out: &mut String, rego: &RegoVerdict) {
    for message in &rego.deny {
        let _ = writeln!(out, "rego deny: {}", clean(message));
    }
    for message in &rego.warn {
        let _ = writeln!(out, "rego warn: {}", clean(message));
    }
    if let Some(error) = &rego.error {
        let fallback = rego.fallback.map_or("ignore", |a| a.as_str());
        let _ = writeln!(out, "rego error ({fallback}): {}", clean(error));
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `justification: reason (source)`, with whichever parts the mute has.
pub fn mute_summary(mute: &MuteRule) -> String {
    let mut parts = Vec::new();
    if let Some(j) = mute.justification {
        parts.push(j.as_str().to_owned());
    }
    if let Some(r) = mute.reason.as_deref().filter(|r| !r.trim().is_empty()) {
        parts.push(r.trim().to_owned());
    }
    if let Some(e) = &mute.expires {
        parts.push(format!("until {e}"));
    }
    if let Some(a) = &mute.author {
        parts.push(format!("by {a}"));
    }
    let what = if parts.is_empty() {
        "muted".to_owned()
    } else {
        parts.join("; ")
    };
    format!("{what} [{}]", provenance(mute))
}

/// Where a mute came from: `policy.yaml#mutes[2]`, `vex.json statement 3`, or `policy`.
pub fn provenance(mute: &MuteRule) -> String {
    match &mute.provenance {
        Some(Provenance::File { path, index }) => format!("{path} #{index}"),
        Some(Provenance::Vex {
            document,
            statement,
        }) => format!("VEX {document} statement {statement}"),
        None => "policy".to_owned(),
    }
}

/// `Total: N (critical: …, unknown: …) — ignored N, muted N, expired mutes N — verdict: …`.
pub fn summary_line(report: &ScanReport, color: bool) -> String {
    let v = &report.verdict;
    let counts = &v.counts;
    let status = v.status.as_str().to_ascii_uppercase();
    let status = if color {
        let code = match v.status {
            Status::Pass => "\x1b[1;32m",
            Status::Warn => "\x1b[1;33m",
            Status::Fail => "\x1b[1;31m",
        };
        format!("{code}{status}{RESET}")
    } else {
        status
    };
    let digest = v
        .policy
        .digest
        .strip_prefix("sha256:")
        .unwrap_or(&v.policy.digest);
    let policy = match &v.policy.version {
        Some(version) => format!("{} {}", clean(&v.policy.name), clean(version)),
        None => clean(&v.policy.name),
    };
    format!(
        "Total: {} (critical: {}, high: {}, medium: {}, low: {}, unknown: {}) — ignored {}, muted {}, expired mutes {} — verdict: {} (policy {}, sha256:{})",
        counts.total,
        counts.critical,
        counts.high,
        counts.medium,
        counts.low,
        counts.unknown,
        v.ignored.len(),
        v.muted.len(),
        v.expired_mutes.len(),
        status,
        policy,
        digest.get(..12).unwrap_or(digest),
    )
}

fn cells(f: &Finding, action: Action) -> [String; 8] {
    let fixed = if f.fixed_versions.is_empty() {
        "-".to_owned()
    } else {
        f.fixed_versions.join(", ")
    };
    [
        clean(&f.package_name),
        clean(&f.installed_version),
        clean(&fixed),
        severity_name(f.severity).to_ascii_uppercase(),
        action.as_str().to_owned(),
        clean(&f.id),
        clean(&short_aliases(&f.aliases)),
        clean(f.summary.as_deref().unwrap_or("")),
    ]
}

/// First alias, plus how many more (`GHSA-… +2`), or `-`.
fn short_aliases(aliases: &[String]) -> String {
    match aliases {
        [] => "-".to_owned(),
        [only] => only.clone(),
        [first, rest @ ..] => format!("{first} +{}", rest.len()),
    }
}

/// Replaces control characters (newlines, ESC) so advisory text cannot break
/// the layout or inject terminal escape sequences.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

fn column_widths(rows: &[(Severity, [String; 8])], max_width: usize) -> [usize; 8] {
    let mut widths = HEADERS.map(|h| h.chars().count());
    for (_, row) in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let total = |w: &[usize; 8]| w.iter().sum::<usize>() + GAP.len() * (w.len() - 1);
    for column in SHRINK_ORDER {
        let excess = total(&widths).saturating_sub(max_width);
        if excess == 0 {
            break;
        }
        let (Some(width), Some(min)) = (widths.get_mut(column), MIN_WIDTH.get(column)) else {
            continue;
        };
        // Shrink by the excess, but never below the column's floor.
        let reducible = width.saturating_sub(*min);
        *width -= excess.min(reducible);
    }
    widths
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

fn push_row(out: &mut String, row: &[String; 8], widths: &[usize; 8], colour: Option<Severity>) {
    let mut line = String::new();
    let last = row.len() - 1;
    for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
        let text = truncate(cell, *width);
        let pad = width.saturating_sub(text.chars().count());
        // The severity column is coloured; padding stays outside the escape codes
        // so alignment is computed on visible characters only.
        match colour {
            Some(severity) if i == 3 => {
                line.push_str(severity_colour(severity));
                line.push_str(&text);
                line.push_str(RESET);
            }
            _ => line.push_str(&text),
        }
        if i != last {
            line.extend(std::iter::repeat_n(' ', pad));
            line.push_str(GAP);
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::policy::generated::VerdictConfig;
    use crate::policy::ignore::IgnoreFile;

    fn visible_lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    fn sample(fail_on: Option<Severity>) -> ScanReport {
        let mut findings = vec![
            finding("CVE-2024-0005", "zlib", "1.2", Severity::Low, &["1.3"]),
            finding("CVE-2024-0004", "attrs", "21.0", Severity::Medium, &[]),
            finding(
                "CVE-2024-0003",
                "attrs",
                "21.0",
                Severity::Critical,
                &["22.0"],
            ),
            finding("CVE-2024-0002", "jinja2", "3.0", Severity::High, &["3.1.3"]),
            finding(
                "CVE-2024-0001",
                "attrs",
                "21.0",
                Severity::High,
                &["22.0", "23.1"],
            ),
            finding(
                "GHSA-0000-0000-0000",
                "ujson",
                "5.0",
                Severity::Unknown,
                &[],
            ),
            finding("CVE-2024-0009", "pyyaml", "5.0", Severity::High, &["6.0"]),
            finding("CVE-2024-0010", "idna", "3.0", Severity::Medium, &["3.7"]),
        ];
        findings[0].aliases = vec!["GHSA-aaaa-bbbb-cccc".into(), "PYSEC-2024-1".into()];
        findings[1].aliases = vec!["GHSA-dddd-eeee-ffff".into()];
        report(
            findings,
            &VerdictConfig {
                fail_on,
                ignore_unfixed: false,
                ignores: IgnoreFile::parse(
                    "ignores:\n  - id: CVE-2024-0009\n  - id: CVE-2024-0010\n  - id: CVE-2000-1\n    expires: 2026-01-01\n",
                )
                .unwrap(),
            },
        )
    }

    #[test]
    fn rows_sorted_by_severity_then_package_then_id() {
        let text = render(&sample(Some(Severity::High)), 200, false);
        let lines = visible_lines(&text);
        assert!(lines[0].starts_with("PACKAGE"));
        let keys: Vec<(String, String, String)> = lines[1..7]
            .iter()
            .map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                let id = cols
                    .iter()
                    .find(|c| c.starts_with("CVE-") || c.starts_with("GHSA-"))
                    .unwrap()
                    .to_string();
                let sev = cols
                    .iter()
                    .find(|c| ["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"].contains(c))
                    .unwrap()
                    .to_string();
                (sev, cols[0].to_owned(), id)
            })
            .collect();
        let want = [
            ("CRITICAL", "attrs", "CVE-2024-0003"),
            ("HIGH", "attrs", "CVE-2024-0001"),
            ("HIGH", "jinja2", "CVE-2024-0002"),
            ("MEDIUM", "attrs", "CVE-2024-0004"),
            ("LOW", "zlib", "CVE-2024-0005"),
            ("UNKNOWN", "ujson", "GHSA-0000-0000-0000"),
        ];
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(keys, want);
    }

    #[test]
    fn columns_align_and_show_fixed_and_aliases() {
        let text = render(&sample(None), 200, false);
        let lines = visible_lines(&text);
        let header = &lines[0];
        let id_col = header.find("ID").unwrap();
        let fixed_col = header.find("FIXED").unwrap();
        let aliases_col = header.find("ALIASES").unwrap();
        let critical = &lines[1];
        assert_eq!(critical.get(id_col..id_col + 13), Some("CVE-2024-0003"));
        assert_eq!(critical.get(fixed_col..fixed_col + 4), Some("22.0"));
        let high = &lines[2];
        assert_eq!(high.get(fixed_col..fixed_col + 10), Some("22.0, 23.1"));
        let low = &lines[5];
        assert_eq!(
            low.get(aliases_col..aliases_col + 22),
            Some("GHSA-aaaa-bbbb-cccc +1")
        );
        let medium = &lines[4];
        assert_eq!(medium.get(fixed_col..fixed_col + 2), Some("- "));
        assert!(
            lines[2].ends_with("attrs is vulnerable to CVE-2024-0001"),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn summary_line_counts_ignores_and_verdict() {
        let report = sample(Some(Severity::High));
        let digest = &report.verdict.policy.digest["sha256:".len()..][..12];
        let fail = summary_line(&report, false);
        assert_eq!(
            fail,
            format!(
                "Total: 6 (critical: 1, high: 2, medium: 1, low: 1, unknown: 1) — ignored 0, muted 2, expired mutes 1 — verdict: FAIL (policy stella-cli-flags, sha256:{digest})"
            )
        );
        let warn = summary_line(&sample(None), false);
        assert!(
            warn.contains("verdict: WARN (policy stella-cli-flags"),
            "{warn}"
        );
        let text = render(&report, 200, false);
        assert_eq!(text.lines().last(), Some(fail.as_str()));
        assert!(text.contains(
            "warning: mute of CVE-2000-1 (ignore file #2) expired 2026-01-01T23:59:59Z; it no longer applies (0 matching findings)"
        ), "{text}");
        assert!(
            text.contains(
                "rule fail-on-high (fail): 3 findings — --fail-on high: severity is high or higher"
            ),
            "{text}"
        );
        assert!(
            text.contains("rule (default) (warn): 3 findings — no rule matched"),
            "{text}"
        );
        assert!(
            text.contains("muted: CVE-2024-0009 in pkg:pypi/pyyaml@5.0 — muted [ignore file #0]"),
            "{text}"
        );
    }

    #[test]
    fn narrow_terminal_truncates_title_first() {
        let wide = render(&sample(None), 200, false);
        let is_row = |l: &&str| {
            !["Total:", "warning:", "rule ", "muted:"]
                .iter()
                .any(|p| l.starts_with(p))
        };
        let natural = wide
            .lines()
            .filter(is_row)
            .map(|l| l.chars().count())
            .max()
            .unwrap();
        let target = natural - 20;
        let narrow = render(&sample(None), target, false);
        for line in narrow.lines().filter(is_row) {
            assert!(
                line.chars().count() <= target,
                "{line:?} wider than {target}"
            );
        }
        assert!(narrow.contains('…'));
        // Ids are never truncated.
        assert!(narrow.contains("GHSA-0000-0000-0000"));
        assert!(narrow.contains("CVE-2024-0003"));
        // Packages still whole: only the title shrank.
        assert!(narrow.contains("jinja2"));
    }

    #[test]
    fn very_narrow_terminal_shrinks_to_minimums_without_panicking() {
        let text = render(&sample(None), 10, false);
        assert!(text.lines().count() > 6);
        assert_eq!(truncate("abcdef", 3), "ab…");
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = render(&sample(Some(Severity::High)), 200, false);
        assert!(!plain.contains('\x1b'));
        let coloured = render(&sample(Some(Severity::High)), 200, true);
        assert!(coloured.contains("\x1b[1;31mCRITICAL\x1b[0m"));
        assert!(coloured.contains("\x1b[1;31mFAIL\x1b[0m"));
        // Stripping the escapes gives back the plain table.
        let stripped = coloured
            .replace("\x1b[1;31m", "")
            .replace("\x1b[31m", "")
            .replace("\x1b[33m", "")
            .replace("\x1b[34m", "")
            .replace("\x1b[2m", "")
            .replace("\x1b[1;32m", "")
            .replace("\x1b[0m", "");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn control_characters_are_neutralised() {
        let mut f = finding("CVE-1", "evil", "1", Severity::High, &[]);
        f.summary = Some("line one\nline two \x1b[2J".into());
        let r = report(vec![f], &VerdictConfig::default());
        let text = render(&r, 200, false);
        assert!(!text.contains('\x1b'));
        // Header, the row, the fired default rule, the summary.
        assert_eq!(text.lines().count(), 4, "{text}");
    }

    #[test]
    fn empty_report() {
        let r = report(vec![], &VerdictConfig::default());
        let text = render(&r, 80, false);
        let digest = &r.verdict.policy.digest["sha256:".len()..][..12];
        assert_eq!(
            text,
            format!(
                "No vulnerabilities to act on.\nTotal: 0 (critical: 0, high: 0, medium: 0, low: 0, unknown: 0) — ignored 0, muted 0, expired mutes 0 — verdict: PASS (policy stella-cli-flags, sha256:{digest})\n"
            )
        );
    }

    proptest::proptest! {
        #[test]
        fn fits_width_when_minimums_allow(
            width in 90usize..200,
            titles in proptest::collection::vec("\\PC{0,120}", 1..8),
        ) {
            let findings = titles
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut f = finding(&format!("CVE-2024-{i:04}"), "pkg", "1.0", Severity::High, &["2.0"]);
                    f.summary = Some(t.clone());
                    f
                })
                .collect();
            let r = report(findings, &VerdictConfig::default());
            let text = render(&r, width, false);
            let lines: Vec<&str> = text.lines().collect();
            // Header, one row per finding, the fired default rule, summary.
            proptest::prop_assert_eq!(lines.len(), titles.len() + 3);
            for line in &lines[..titles.len() + 1] {
                proptest::prop_assert!(line.chars().count() <= width, "{:?}", line);
            }
        }
    }
}
