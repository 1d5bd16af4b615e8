//! OSV `affected` evaluation (the schema's Evaluation section): ranges and
//! `versions` lists against one version.
//!
//! Rules (the same as the reference oracle `affected.py`, see `testdata/oracle/README.md`):
//! - `versions[]`: exact string membership.
//! - `ECOSYSTEM` ranges order versions with `kind.scheme()` (no scheme: the range
//!   cannot be evaluated); `SEMVER` ranges with SemVer 2.0 (a leading `v`, as Go
//!   writes, is accepted); `GIT` ranges never match.
//! - Events are sorted by version with a stable sort, so equal versions keep record
//!   order (RustSec's `introduced X, fixed X` is an empty interval, PyPA's
//!   `fixed X, introduced X` chains two); `introduced: "0"` sorts below everything.
//! - Walking the sorted events: `introduced` ≤ v turns affected on, `fixed` ≤ v and
//!   `last_affected` < v turn it off; `limit`s (exclusive, `*` = infinity) must
//!   all be reached for the range to match at all (v below at least one).
//! - Several ranges (and the versions list) are OR'd.
//!
//! Unparseable versions, as in the oracle: a range whose events or whose component
//! version do not parse under its scheme is skipped (it cannot say "affected"), and
//! the evaluation is flagged [`Evaluation::undecidable`] unless something else
//! matched. So PyPI's `0.1-bulbasaur` still matches through `versions[]`, and a
//! range holding one non-PEP 440 event is ignored rather than misread.

use crate::advisory::osv::{Affected, Event, Range, RangeType};
use crate::ecosystem::EcosystemKind;
use crate::version::{self, Scheme, Version};
use std::cmp::Ordering;

/// The verdict for one version against one `affected[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// Whether the version is affected.
    pub affected: bool,
    /// `fixed` versions of the ranges that contain the version (for "fixed in"
    /// output): per range, the first fix above the version; deduplicated, in
    /// record order.
    pub fixed: Vec<String>,
    /// True when some range could not be evaluated (a version that does not parse
    /// under the scheme, or an ecosystem without a scheme) and nothing matched;
    /// the oracle answers "undecidable" (`null`) there.
    pub undecidable: bool,
}

/// Why one range could not be evaluated.
#[derive(Debug)]
enum Skip {
    NoScheme,
    Bad,
}

/// Evaluate `version` against one `affected[]` entry of ecosystem `kind`
/// (the caller has matched the package name and ecosystem).
pub fn evaluate(affected: &Affected, kind: EcosystemKind, version: &str) -> Evaluation {
    let mut eval = Evaluation::default();
    let listed = affected.versions.iter().any(|v| v == version);
    // The component version parsed at most once per scheme.
    let mut parsed: Vec<(Scheme, Option<Version>)> = Vec::new();
    let mut first_fix_above: Vec<String> = Vec::new();
    for range in &affected.ranges {
        let scheme = match range.kind {
            RangeType::Git => continue,
            RangeType::Semver => Some(Scheme::Semver),
            RangeType::Ecosystem => kind.scheme(),
        };
        let outcome = scheme.ok_or(Skip::NoScheme).and_then(|s| {
            let v = match parsed.iter().find(|(k, _)| *k == s) {
                Some((_, v)) => v.clone(),
                None => {
                    let v = version::parse(s, version).ok();
                    parsed.push((s, v.clone()));
                    v
                }
            };
            let v = v.ok_or(Skip::Bad)?;
            in_range(range, s, &v)
        });
        match outcome {
            Ok(r) => {
                if r.hit {
                    eval.affected = true;
                    push_unique(&mut eval.fixed, r.next_fix);
                } else {
                    push_unique(&mut first_fix_above, r.next_fix);
                }
            }
            Err(Skip::NoScheme | Skip::Bad) => eval.undecidable = true,
        }
    }
    if listed && !eval.affected {
        // Affected only through versions[]: any fix above it is still useful.
        eval.affected = true;
        eval.fixed = first_fix_above;
    }
    if eval.affected {
        eval.undecidable = false;
    }
    eval
}

fn push_unique(list: &mut Vec<String>, item: Option<String>) {
    if let Some(item) = item.filter(|i| !list.contains(i)) {
        list.push(item);
    }
}

/// The result of one evaluable range.
#[derive(Debug)]
struct RangeHit {
    hit: bool,
    /// The first `fixed` event above the version in sorted order.
    next_fix: Option<String>,
}

fn in_range(range: &Range, scheme: Scheme, v: &Version) -> Result<RangeHit, Skip> {
    let parse = |s: &str| version::parse(scheme, s).map_err(|_| Skip::Bad);
    // BeforeLimits: short-circuits like the oracle's any().
    let mut limits = range.events.iter().filter_map(|e| match e {
        Event::Limit(l) => Some(l),
        _ => None,
    });
    let mut saw_limit = false;
    let mut below_a_limit = false;
    for lim in limits.by_ref() {
        saw_limit = true;
        if lim.contains('*') || v < &parse(lim)? {
            below_a_limit = true;
            break;
        }
    }
    if saw_limit && !below_a_limit {
        return Ok(RangeHit {
            hit: false,
            next_fix: None,
        });
    }
    // (parsed version or None for introduced "0", event)
    let mut keyed: Vec<(Option<Version>, &Event)> = Vec::with_capacity(range.events.len());
    for e in &range.events {
        match e {
            Event::Limit(_) => {}
            Event::Introduced(s) if s == "0" => keyed.push((None, e)),
            Event::Introduced(s) | Event::Fixed(s) | Event::LastAffected(s) => {
                keyed.push((Some(parse(s)?), e));
            }
        }
    }
    // Stable: equal versions keep record order.
    keyed.sort_by(|a, b| match (&a.0, &b.0) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(y),
    });
    let mut hit = false;
    let mut next_fix = None;
    for (pv, e) in &keyed {
        match (e, pv) {
            (Event::Introduced(_), None) => hit = true,
            (Event::Introduced(_), Some(p)) if v >= p => hit = true,
            (Event::Fixed(_), Some(p)) if v >= p => hit = false,
            (Event::Fixed(f), Some(p)) if v < p && next_fix.is_none() => {
                next_fix = Some(f.clone());
            }
            (Event::LastAffected(_), Some(p)) if v > p => hit = false,
            _ => {}
        }
    }
    Ok(RangeHit { hit, next_fix })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::osv::Package;

    fn range(kind: RangeType, events: &[(&str, &str)]) -> Range {
        Range {
            kind,
            repo: None,
            events: events
                .iter()
                .map(|(k, v)| {
                    let v = v.to_string();
                    match *k {
                        "introduced" => Event::Introduced(v),
                        "fixed" => Event::Fixed(v),
                        "last_affected" => Event::LastAffected(v),
                        _ => Event::Limit(v),
                    }
                })
                .collect(),
        }
    }

    fn aff(ranges: Vec<Range>, versions: &[&str]) -> Affected {
        Affected {
            package: Some(Package {
                ecosystem: "npm".into(),
                name: "p".into(),
                purl: None,
            }),
            ranges,
            versions: versions.iter().map(|s| s.to_string()).collect(),
            ..Affected::default()
        }
    }

    fn check(a: &Affected, kind: EcosystemKind, cases: &[(&str, bool)]) {
        for (v, want) in cases {
            assert_eq!(evaluate(a, kind, v).affected, *want, "{v}");
        }
    }

    // OSV schema "Evaluation" / "Examples" section.
    #[test]
    fn spec_examples() {
        let unfixed = aff(vec![range(RangeType::Semver, &[("introduced", "0")])], &[]);
        check(
            &unfixed,
            EcosystemKind::Npm,
            &[("0.0.0", true), ("1.0.0", true), ("99.0.0-rc.1", true)],
        );
        let fixed = aff(
            vec![range(
                RangeType::Semver,
                &[("introduced", "0"), ("fixed", "1.0.2")],
            )],
            &[],
        );
        check(
            &fixed,
            EcosystemKind::Npm,
            &[
                ("1.0.1", true),
                ("1.0.2", false),
                ("1.0.2-rc.1", true),
                ("2.0.0", false),
            ],
        );
        assert_eq!(
            evaluate(&fixed, EcosystemKind::Npm, "1.0.1").fixed,
            vec!["1.0.2"]
        );
        assert!(
            evaluate(&fixed, EcosystemKind::Npm, "2.0.0")
                .fixed
                .is_empty()
        );
    }

    #[test]
    fn multiple_intervals_and_fixed_of_the_containing_one() {
        let a = aff(
            vec![range(
                RangeType::Semver,
                &[
                    ("introduced", "1.0.0"),
                    ("fixed", "1.0.2"),
                    ("introduced", "3.0.0"),
                    ("fixed", "3.2.5"),
                ],
            )],
            &[],
        );
        check(
            &a,
            EcosystemKind::Npm,
            &[
                ("0.9.0", false),
                ("1.0.0", true),
                ("1.0.2", false),
                ("2.5.0", false),
                ("3.0.0", true),
                ("3.2.4", true),
                ("3.2.5", false),
            ],
        );
        assert_eq!(
            evaluate(&a, EcosystemKind::Npm, "3.1.0").fixed,
            vec!["3.2.5"]
        );
        assert_eq!(
            evaluate(&a, EcosystemKind::Npm, "1.0.1").fixed,
            vec!["1.0.2"]
        );
    }

    #[test]
    fn unsorted_events_are_sorted() {
        let a = aff(
            vec![range(
                RangeType::Ecosystem,
                &[
                    ("fixed", "2.0"),
                    ("introduced", "1.5"),
                    ("introduced", "0"),
                    ("fixed", "1.0"),
                ],
            )],
            &[],
        );
        check(
            &a,
            EcosystemKind::PyPI,
            &[("0.5", true), ("1.2", false), ("1.7", true), ("2.0", false)],
        );
    }

    #[test]
    fn last_affected_is_inclusive() {
        let a = aff(
            vec![range(
                RangeType::Ecosystem,
                &[("introduced", "0"), ("last_affected", "2.1.214")],
            )],
            &[],
        );
        check(
            &a,
            EcosystemKind::PyPI,
            &[
                ("2.1.214", true),
                ("2.1.215", false),
                ("2.1.214.post1", false),
                ("1.0", true),
            ],
        );
        assert!(evaluate(&a, EcosystemKind::PyPI, "1.0").fixed.is_empty());
    }

    #[test]
    fn limit_is_exclusive_and_star_is_infinite() {
        let a = aff(
            vec![range(
                RangeType::Semver,
                &[("introduced", "1.0.0"), ("limit", "2.0.0")],
            )],
            &[],
        );
        check(
            &a,
            EcosystemKind::Npm,
            &[
                ("1.5.0", true),
                ("2.0.0", false),
                ("3.0.0", false),
                ("0.5.0", false),
            ],
        );
        let star = aff(
            vec![range(
                RangeType::Semver,
                &[("introduced", "1.0.0"), ("limit", "*")],
            )],
            &[],
        );
        check(&star, EcosystemKind::Npm, &[("9.9.9", true)]);
    }

    #[test]
    fn equal_versions_keep_record_order() {
        // RustSec: introduced X, fixed X is an empty interval.
        let rustsec = aff(
            vec![range(
                RangeType::Semver,
                &[
                    ("introduced", "0.0.0-0"),
                    ("fixed", "0.7.1"),
                    ("introduced", "0.10.0"),
                    ("fixed", "0.10.0"),
                ],
            )],
            &[],
        );
        check(
            &rustsec,
            EcosystemKind::Cargo,
            &[
                ("0.7.0", true),
                ("0.9.0", false),
                ("0.10.0", false),
                ("0.10.1", false),
            ],
        );
        // PyPA: fixed X, introduced X chains intervals.
        let pypa = aff(
            vec![range(
                RangeType::Ecosystem,
                &[
                    ("introduced", "0"),
                    ("fixed", "3.1.1"),
                    ("introduced", "3.2.0"),
                    ("fixed", "3.2.2"),
                    ("introduced", "3.1.1"),
                    ("fixed", "3.2.0"),
                ],
            )],
            &[],
        );
        check(
            &pypa,
            EcosystemKind::PyPI,
            &[
                ("3.1.0", true),
                ("3.1.1", true),
                ("3.1.3", true),
                ("3.2.0", false),
                ("3.2.1", false),
            ],
        );
    }

    #[test]
    fn introduced_zero_is_below_everything() {
        let a = aff(
            vec![range(
                RangeType::Semver,
                &[("introduced", "0"), ("fixed", "1.0.0")],
            )],
            &[],
        );
        check(
            &a,
            EcosystemKind::Npm,
            &[("0.0.0-alpha", true), ("0.0.0", true)],
        );
        // An explicit 0.0.0 is not "0": pre-releases of it stay below.
        let b = aff(
            vec![range(
                RangeType::Semver,
                &[("introduced", "0.0.0"), ("fixed", "1.0.0")],
            )],
            &[],
        );
        check(
            &b,
            EcosystemKind::Npm,
            &[("0.0.0-alpha", false), ("0.0.0", true)],
        );
    }

    #[test]
    fn versions_list_is_exact_and_git_never_matches() {
        let a = aff(
            vec![range(
                RangeType::Git,
                &[("introduced", "abc"), ("fixed", "def")],
            )],
            &["1.0", "1.1", "0.1-bulbasaur"],
        );
        check(
            &a,
            EcosystemKind::PyPI,
            &[
                ("1.1", true),
                ("1.1.0", false),
                ("0.1-bulbasaur", true),
                ("abc", false),
            ],
        );
        assert!(!evaluate(&a, EcosystemKind::PyPI, "1.1.0").undecidable);
    }

    #[test]
    fn go_versions_and_semver_ranges() {
        let a = aff(
            vec![range(
                RangeType::Semver,
                &[("introduced", "1.19.0-0"), ("fixed", "1.19.2")],
            )],
            &[],
        );
        check(
            &a,
            EcosystemKind::Go,
            &[
                ("v1.19.1", true),
                ("1.19.0-rc.1", true),
                ("1.18.9", false),
                ("v1.19.2", false),
            ],
        );
    }

    #[test]
    fn unparseable_versions_skip_the_range() {
        // A non-PEP 440 event: that range is skipped, the others still count.
        let a = aff(
            vec![
                range(
                    RangeType::Ecosystem,
                    &[("introduced", "0"), ("fixed", "0.2.0-n653")],
                ),
                range(
                    RangeType::Ecosystem,
                    &[("introduced", "1.0"), ("fixed", "1.5")],
                ),
            ],
            &[],
        );
        let e = evaluate(&a, EcosystemKind::PyPI, "1.2");
        assert!(e.affected && !e.undecidable);
        let e = evaluate(&a, EcosystemKind::PyPI, "0.1");
        assert!(!e.affected && e.undecidable);
        // An unparseable component version cannot be inside any range.
        let e = evaluate(&a, EcosystemKind::PyPI, "0.1-bulbasaur");
        assert!(!e.affected && e.undecidable);
        // Packagist has no scheme: only versions[] can match.
        let p = aff(
            vec![range(RangeType::Ecosystem, &[("introduced", "0")])],
            &["1.0.0"],
        );
        assert!(evaluate(&p, EcosystemKind::Packagist, "1.0.0").affected);
        let e = evaluate(&p, EcosystemKind::Packagist, "1.0.1");
        assert!(!e.affected && e.undecidable);
    }

    #[test]
    fn fixed_is_deduplicated_across_ranges() {
        let r = || {
            range(
                RangeType::Ecosystem,
                &[("introduced", "0"), ("fixed", "2.0")],
            )
        };
        let a = aff(vec![r(), r()], &[]);
        assert_eq!(evaluate(&a, EcosystemKind::PyPI, "1.0").fixed, vec!["2.0"]);
        let listed = aff(
            vec![range(
                RangeType::Ecosystem,
                &[("introduced", "3.0"), ("fixed", "3.1")],
            )],
            &["1.0"],
        );
        let e = evaluate(&listed, EcosystemKind::PyPI, "1.0");
        assert!(e.affected);
        assert_eq!(e.fixed, vec!["3.1"]);
    }
}
