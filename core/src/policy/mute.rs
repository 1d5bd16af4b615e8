//! Mute rules: a finding that a team (or a vendor's VEX statement) has reviewed and
//! decided not to act on, for one advisory, optionally narrowed to packages, images
//! and namespaces, optionally until a date, with a VEX justification.
//!
//! [`MuteSet::compile`] checks and compiles every glob once; [`MuteSet::decide`] is a
//! pure function of the finding, where it runs and the current time.

use crate::matcher::Finding;
use crate::verdict::mute_rule::MuteRule;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use globset::{Glob, GlobBuilder, GlobMatcher};

// The rule's shape is a verdict type (a verdict reports the rule that muted a finding);
// policy documents write mutes in these terms, so they are part of this module's API.

/// A glob over package URLs, e.g. `pkg:pypi/*` or `pkg:npm/lodash@4.*`.
///
/// `*` also crosses `/` (npm scopes, Go module paths). A pattern matches a purl
/// when it matches the whole purl or the purl without its version, qualifiers and
/// subpath, so `pkg:pypi/requests` covers every installed version.
#[derive(Debug, Clone)]
pub struct PurlGlob {
    pattern: String,
    matcher: GlobMatcher,
}

impl PurlGlob {
    /// Compiles a purl glob.
    pub fn new(pattern: &str) -> Result<Self, globset::Error> {
        let glob: Glob = GlobBuilder::new(pattern)
            .literal_separator(false)
            .backslash_escape(true)
            .build()?;
        Ok(Self {
            pattern: pattern.to_owned(),
            matcher: glob.compile_matcher(),
        })
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether `purl` matches, with or without its version.
    pub fn is_match(&self, purl: &str) -> bool {
        self.matcher.is_match(purl) || self.matcher.is_match(purl_without_version(purl))
    }
}

/// `pkg:type/ns/name@ver?q#sub` → `pkg:type/ns/name`.
pub fn purl_without_version(purl: &str) -> &str {
    let end = purl.find(['?', '#']).unwrap_or(purl.len());
    let base = purl.get(..end).unwrap_or(purl);
    // Canonical purls percent-encode '@' inside names (npm scopes), so the version
    // separator is the last '@' after the last '/'.
    let last_slash = base.rfind('/').unwrap_or(0);
    match base.rfind('@') {
        Some(at) if at > last_slash => base.get(..at).unwrap_or(base),
        _ => base,
    }
}

/// RFC 3339 timestamp, or `YYYY-MM-DD` meaning the last instant of that day in UTC.
pub fn parse_expires(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(ts) = DateTime::parse_from_rfc3339(text) {
        return Some(ts.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    // Require the canonical spelling so "2026-1-5" is not silently accepted.
    if date.format("%Y-%m-%d").to_string() != text {
        return None;
    }
    let end_of_day = NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999)?;
    Some(date.and_time(end_of_day).and_utc())
}

/// Why a set of mute rules could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum MuteError {
    /// One rule has a bad field.
    #[error("mute rule {index}: {field}: {problem}")]
    Rule {
        /// Zero-based position of the rule in the input.
        index: usize,
        /// The field at fault, e.g. `images[1]`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// A finding as the mute matcher sees it.
#[derive(Debug, Clone, Copy)]
pub struct FindingRef<'a> {
    /// The finding's advisory id.
    pub id: &'a str,
    /// Other ids of the same vulnerability.
    pub aliases: &'a [String],
    /// The affected package's purl.
    pub purl: &'a str,
}

impl<'a> From<&'a Finding> for FindingRef<'a> {
    fn from(finding: &'a Finding) -> Self {
        Self {
            id: &finding.id,
            aliases: &finding.aliases,
            purl: &finding.purl,
        }
    }
}

/// Where the finding was seen; `None` fields are unknown and never match a glob.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// Image reference, e.g. `registry.example/app:1.2`.
    pub image: Option<&'a str>,
    /// Image digest, e.g. `sha256:…`; image globs match the reference or the digest.
    pub digest: Option<&'a str>,
    /// Kubernetes namespace.
    pub namespace: Option<&'a str>,
}

/// The outcome of [`MuteSet::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuteDecision<'a> {
    /// A live rule mutes the finding.
    Muted(&'a MuteRule),
    /// Only expired rules match: the finding is not muted, but the caller can say why
    /// a mute stopped applying.
    Expired(&'a MuteRule),
    /// No rule matches.
    None,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    rule: MuteRule,
    purl: Option<PurlGlob>,
    images: Vec<GlobMatcher>,
    namespaces: Vec<GlobMatcher>,
    expires: Option<DateTime<Utc>>,
}

/// Compiled mute rules.
#[derive(Debug, Clone, Default)]
pub struct MuteSet {
    rules: Vec<CompiledRule>,
}

fn rule_error(index: usize, field: impl Into<String>, problem: impl Into<String>) -> MuteError {
    MuteError::Rule {
        index,
        field: field.into(),
        problem: problem.into(),
    }
}

/// Compiles a glob where `*` crosses `/` (image repositories have slashes).
fn compile_glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .build()?
        .compile_matcher())
}

fn compile_globs(
    index: usize,
    field: &str,
    patterns: &[String],
) -> Result<Vec<GlobMatcher>, MuteError> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, pattern)| {
            if pattern.trim().is_empty() {
                return Err(rule_error(index, format!("{field}[{i}]"), "empty pattern"));
            }
            compile_glob(pattern)
                .map_err(|e| rule_error(index, format!("{field}[{i}]"), e.kind().to_string()))
        })
        .collect()
}

impl CompiledRule {
    fn new(index: usize, rule: MuteRule) -> Result<Self, MuteError> {
        if rule.id.trim().is_empty() {
            return Err(rule_error(index, "id", "missing or empty"));
        }
        let purl = match rule.purl.as_deref() {
            None => None,
            Some(p) if p.trim().is_empty() => {
                return Err(rule_error(index, "purl", "empty pattern"));
            }
            Some(p) => Some(
                PurlGlob::new(p).map_err(|e| rule_error(index, "purl", e.kind().to_string()))?,
            ),
        };
        let images = compile_globs(index, "images", &rule.images)?;
        let namespaces = compile_globs(index, "namespaces", &rule.namespaces)?;
        let expires = match rule.expires.as_deref().map(str::trim) {
            None => None,
            Some(text) => Some(parse_expires(text).ok_or_else(|| {
                rule_error(
                    index,
                    "expires",
                    format!("{text:?} is neither an RFC 3339 time nor a YYYY-MM-DD date"),
                )
            })?),
        };
        Ok(Self {
            rule,
            purl,
            images,
            namespaces,
            expires,
        })
    }

    fn matches(&self, finding: &FindingRef<'_>, context: &Context<'_>) -> bool {
        let id = self.rule.id.trim();
        let id_matches = finding.id.eq_ignore_ascii_case(id)
            || finding.aliases.iter().any(|a| a.eq_ignore_ascii_case(id));
        id_matches
            && self.purl.as_ref().is_none_or(|g| g.is_match(finding.purl))
            && (self.images.is_empty()
                || self.images.iter().any(|g| {
                    context.image.is_some_and(|i| g.is_match(i))
                        || context.digest.is_some_and(|d| g.is_match(d))
                }))
            && (self.namespaces.is_empty()
                || context
                    .namespace
                    .is_some_and(|n| self.namespaces.iter().any(|g| g.is_match(n))))
    }

    /// Expired once `now` is past `expires` (a rule expiring "now" still applies).
    fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|e| e < now)
    }
}

impl MuteSet {
    /// Checks and compiles `rules`; errors name the rule's position and field.
    pub fn compile(rules: impl IntoIterator<Item = MuteRule>) -> Result<Self, MuteError> {
        let rules = rules
            .into_iter()
            .enumerate()
            .map(|(index, rule)| CompiledRule::new(index, rule))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { rules })
    }

    /// How many rules the set holds.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the set holds no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in input order.
    pub fn rules(&self) -> impl Iterator<Item = &MuteRule> {
        self.rules.iter().map(|c| &c.rule)
    }

    /// Rules whose expiry has passed at `now`, with their expiry, in input order.
    pub fn expired(&self, now: DateTime<Utc>) -> impl Iterator<Item = (&MuteRule, DateTime<Utc>)> {
        self.rules
            .iter()
            .filter(move |c| c.is_expired(now))
            .filter_map(|c| Some((&c.rule, c.expires?)))
    }

    /// The first live rule (in input order) that matches; failing that, the first
    /// expired one, which does not mute.
    pub fn decide(
        &self,
        finding: &FindingRef<'_>,
        context: &Context<'_>,
        now: DateTime<Utc>,
    ) -> MuteDecision<'_> {
        let mut expired = None;
        for compiled in self.rules.iter().filter(|c| c.matches(finding, context)) {
            if !compiled.is_expired(now) {
                return MuteDecision::Muted(&compiled.rule);
            }
            expired.get_or_insert(&compiled.rule);
        }
        expired.map_or(MuteDecision::None, MuteDecision::Expired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::mute_rule::{Justification, Provenance};
    use chrono::TimeZone;

    fn rule(id: &str) -> MuteRule {
        MuteRule {
            id: id.to_owned(),
            ..MuteRule::default()
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
    }

    fn decide_one(rule: MuteRule, finding: FindingRef<'_>, context: Context<'_>) -> bool {
        let set = MuteSet::compile([rule]).unwrap();
        matches!(
            set.decide(&finding, &context, now()),
            MuteDecision::Muted(_)
        )
    }

    const NO_ALIASES: &[String] = &[];

    fn finding<'a>(id: &'a str, aliases: &'a [String], purl: &'a str) -> FindingRef<'a> {
        FindingRef { id, aliases, purl }
    }

    #[test]
    fn version_stripping_handles_scopes_and_qualifiers() {
        assert_eq!(
            purl_without_version("pkg:npm/%40babel/core@7.0.0"),
            "pkg:npm/%40babel/core"
        );
        assert_eq!(
            purl_without_version("pkg:deb/debian/openssl@3.0.11-1?arch=amd64&distro=debian-12"),
            "pkg:deb/debian/openssl"
        );
        assert_eq!(
            purl_without_version("pkg:golang/github.com/a/b@v1.2.3#sub/dir"),
            "pkg:golang/github.com/a/b"
        );
        assert_eq!(
            purl_without_version("pkg:pypi/requests"),
            "pkg:pypi/requests"
        );
        let scoped = PurlGlob::new("pkg:npm/%40babel/*").unwrap();
        assert!(scoped.is_match("pkg:npm/%40babel/core@7.0.0"));
        assert!(!scoped.is_match("pkg:npm/babel@7.0.0"));
    }

    #[test]
    fn id_table() {
        let aliases = vec!["GHSA-xxxx-yyyy-zzzz".to_owned(), "cve-2024-9".to_owned()];
        let cases: &[(&str, &str, bool)] = &[
            ("CVE-2024-1", "CVE-2024-1", true),
            ("cve-2024-1", "CVE-2024-1", true),
            (" CVE-2024-1 ", "CVE-2024-1", true),
            ("CVE-2024-2", "CVE-2024-1", false),
            ("ghsa-XXXX-yyyy-zzzz", "CVE-2024-1", true),
            ("CVE-2024-9", "CVE-2024-1", true),
            ("CVE-2024-1x", "CVE-2024-1", false),
        ];
        for &(rule_id, finding_id, expected) in cases {
            let got = decide_one(
                rule(rule_id),
                finding(finding_id, &aliases, "pkg:npm/a@1"),
                Context::default(),
            );
            assert_eq!(got, expected, "rule {rule_id} vs finding {finding_id}");
        }
    }

    #[test]
    fn purl_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("pkg:pypi/*", "pkg:pypi/requests@2.0.0", true),
            ("pkg:pypi/requests", "pkg:pypi/requests@2.0.0", true),
            ("pkg:pypi/requests@2.0.0", "pkg:pypi/requests@2.0.0", true),
            ("pkg:pypi/requests@2.0.0", "pkg:pypi/requests@2.0.1", false),
            ("pkg:npm/*", "pkg:pypi/requests@2.0.0", false),
            ("pkg:npm/%40scope/*", "pkg:npm/%40scope/pkg@1.0.0", true),
            (
                "pkg:deb/debian/openssl",
                "pkg:deb/debian/openssl@3.0.11-1?arch=amd64",
                true,
            ),
        ];
        for &(pattern, purl, expected) in cases {
            let mut r = rule("CVE-1");
            r.purl = Some(pattern.to_owned());
            let got = decide_one(r, finding("CVE-1", NO_ALIASES, purl), Context::default());
            assert_eq!(got, expected, "pattern {pattern} vs {purl}");
        }
    }

    #[test]
    fn images_table() {
        let image = Some("registry.example/team/app:1.2");
        let digest = Some("sha256:abcd");
        type Case<'a> = (&'a [&'a str], Option<&'a str>, Option<&'a str>, bool);
        let cases: &[Case<'_>] = &[
            (&[], None, None, true),
            (&["registry.example/team/*"], image, None, true),
            (&["registry.example/other/*"], image, None, false),
            (&["registry.example/other/*", "*/app:*"], image, None, true),
            (&["sha256:abcd"], image, digest, true),
            (&["sha256:ab*"], None, digest, true),
            (&["registry.example/*"], None, None, false),
        ];
        for &(globs, image, digest, expected) in cases {
            let mut r = rule("CVE-1");
            r.images = globs.iter().map(|g| (*g).to_owned()).collect();
            let context = Context {
                image,
                digest,
                namespace: None,
            };
            let got = decide_one(r, finding("CVE-1", NO_ALIASES, "pkg:npm/a@1"), context);
            assert_eq!(got, expected, "{globs:?} vs {image:?}/{digest:?}");
        }
    }

    #[test]
    fn namespaces_table() {
        let cases: &[(&[&str], Option<&str>, bool)] = &[
            (&[], None, true),
            (&[], Some("prod"), true),
            (&["prod"], Some("prod"), true),
            (&["prod"], Some("production"), false),
            (&["team-*"], Some("team-a"), true),
            (&["team-*"], None, false),
            (&["dev", "staging"], Some("staging"), true),
        ];
        for &(globs, namespace, expected) in cases {
            let mut r = rule("CVE-1");
            r.namespaces = globs.iter().map(|g| (*g).to_owned()).collect();
            let context = Context {
                namespace,
                ..Context::default()
            };
            let got = decide_one(r, finding("CVE-1", NO_ALIASES, "pkg:npm/a@1"), context);
            assert_eq!(got, expected, "{globs:?} vs {namespace:?}");
        }
    }

    #[test]
    fn expiry_table() {
        let cases: &[(&str, bool)] = &[
            ("2026-06-01", false),
            ("2026-05-31", true),
            ("2026-06-01T12:00:00Z", false),
            ("2026-06-01T11:59:59Z", true),
            ("2026-06-01T13:00:00+02:00", true),
            ("2030-01-01", false),
        ];
        for &(expires, expired) in cases {
            let mut r = rule("CVE-1");
            r.expires = Some(expires.to_owned());
            let set = MuteSet::compile([r]).unwrap();
            let decision = set.decide(
                &finding("CVE-1", NO_ALIASES, "pkg:npm/a@1"),
                &Context::default(),
                now(),
            );
            match decision {
                MuteDecision::Expired(_) => assert!(expired, "{expires} should still mute"),
                MuteDecision::Muted(_) => assert!(!expired, "{expires} should be expired"),
                MuteDecision::None => panic!("{expires}: rule should match"),
            }
        }
    }

    #[test]
    fn live_rule_beats_expired_and_first_live_wins() {
        let mut expired = rule("CVE-1");
        expired.expires = Some("2020-01-01".to_owned());
        expired.reason = Some("old".to_owned());
        let mut live = rule("CVE-1");
        live.reason = Some("live".to_owned());
        let mut second = rule("CVE-1");
        second.reason = Some("second".to_owned());
        let set = MuteSet::compile([expired.clone(), live, second]).unwrap();
        let f = finding("CVE-1", NO_ALIASES, "pkg:npm/a@1");
        match set.decide(&f, &Context::default(), now()) {
            MuteDecision::Muted(r) => assert_eq!(r.reason.as_deref(), Some("live")),
            other => panic!("{other:?}"),
        }
        let only_expired = MuteSet::compile([expired]).unwrap();
        match only_expired.decide(&f, &Context::default(), now()) {
            MuteDecision::Expired(r) => assert_eq!(r.reason.as_deref(), Some("old")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            only_expired.decide(
                &finding("CVE-2", NO_ALIASES, "x"),
                &Context::default(),
                now()
            ),
            MuteDecision::None
        );
    }

    #[test]
    fn compile_errors_name_index_and_field() {
        let mut bad_purl = rule("A");
        bad_purl.purl = Some("pkg:npm/[".to_owned());
        let mut bad_image = rule("A");
        bad_image.images = vec!["ok/*".to_owned(), "{unclosed".to_owned()];
        let mut bad_ns = rule("A");
        bad_ns.namespaces = vec![" ".to_owned()];
        let mut bad_expiry = rule("A");
        bad_expiry.expires = Some("next week".to_owned());
        let cases = [
            (rule(" "), "id"),
            (bad_purl, "purl"),
            (bad_image, "images[1]"),
            (bad_ns, "namespaces[0]"),
            (bad_expiry, "expires"),
        ];
        for (bad, field) in cases {
            let err = MuteSet::compile([rule("OK"), rule("OK"), bad]).unwrap_err();
            let MuteError::Rule {
                index, field: got, ..
            } = &err;
            assert_eq!((*index, got.as_str()), (2, field), "{err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("mute rule 2: {field}:")),
                "{err}"
            );
        }
    }

    #[test]
    fn serde_is_camel_case_and_strict() {
        let json = r#"{"id":"CVE-1","purl":"pkg:npm/*","images":["a/*"],"namespaces":["prod"],
            "expires":"2026-01-01","justification":"vulnerable_code_not_in_execute_path",
            "reason":"r","author":"alice",
            "provenance":{"kind":"vex","document":"vendor.json","statement":3}}"#;
        let parsed: MuteRule = serde_json::from_str(json).unwrap();
        assert_eq!(
            parsed.justification,
            Some(Justification::VulnerableCodeNotInExecutePath)
        );
        assert_eq!(
            parsed.provenance,
            Some(Provenance::Vex {
                document: "vendor.json".to_owned(),
                statement: 3
            })
        );
        let back: MuteRule =
            serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(back, parsed);
        assert!(serde_json::from_str::<MuteRule>(r#"{"id":"A","purls":"x"}"#).is_err());
        assert!(serde_json::from_str::<MuteRule>(r#"{"purl":"x"}"#).is_err());
        assert!(
            serde_json::from_str::<MuteRule>(r#"{"id":"A","justification":"because"}"#).is_err()
        );
        let file: MuteRule = serde_json::from_str(
            r#"{"id":"A","provenance":{"kind":"file","path":"mutes.yaml","index":0}}"#,
        )
        .unwrap();
        assert!(matches!(
            file.provenance,
            Some(Provenance::File { index: 0, .. })
        ));
    }

    #[test]
    fn findings_from_the_matcher_are_decided_on_id_aliases_and_purl() {
        let found = Finding {
            id: "GHSA-aaaa-bbbb-cccc".to_owned(),
            aliases: vec!["CVE-2024-7".to_owned()],
            advisories: vec!["GHSA-aaaa-bbbb-cccc".to_owned()],
            component_ref: "ref".to_owned(),
            package_name: "lodash".to_owned(),
            purl: "pkg:npm/lodash@4.17.20".to_owned(),
            installed_version: "4.17.20".to_owned(),
            fixed_versions: vec!["4.17.21".to_owned()],
            severity: crate::advisory::Severity::High,
            cvss: None,
            summary: None,
            published: None,
            layer_digest: None,
        };
        let mut r = rule("cve-2024-7");
        r.purl = Some("pkg:npm/lodash".to_owned());
        let set = MuteSet::compile([r]).unwrap();
        assert!(matches!(
            set.decide(&FindingRef::from(&found), &Context::default(), now()),
            MuteDecision::Muted(_)
        ));
        let other = Finding {
            purl: "pkg:npm/underscore@1.0.0".to_owned(),
            ..found
        };
        assert_eq!(
            set.decide(&FindingRef::from(&other), &Context::default(), now()),
            MuteDecision::None
        );
    }

    #[test]
    fn justification_names_round_trip() {
        for name in [
            "component_not_present",
            "vulnerable_code_not_present",
            "vulnerable_code_not_in_execute_path",
            "vulnerable_code_cannot_be_controlled_by_adversary",
            "inline_mitigations_already_exist",
        ] {
            let j = Justification::from_vex(name).unwrap();
            assert_eq!(j.as_str(), name);
            assert_eq!(serde_json::to_string(&j).unwrap(), format!("\"{name}\""));
        }
        assert_eq!(Justification::from_vex("code_not_present"), None);
    }
}
