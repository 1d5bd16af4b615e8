//! SemVer 2.0.0 precedence (semver.org §11). Build metadata is parsed and ignored.
//!
//! Lenient on purpose, like the reference oracle and node-semver's loose mode:
//! a leading `v` is accepted, and missing minor / patch read as 0 (`1.2` =
//! `1.2.0`), because advisories and SBOMs write such versions. Leading zeros in
//! the numeric core are rejected (the spec forbids them and they signal a string
//! of another scheme); numeric pre-release identifiers compare numerically.

use super::{Num, Scheme, VersionError, ord_via_cmp};
use std::cmp::Ordering;
use std::str::FromStr;

/// A parsed SemVer version.
#[derive(Debug, Clone)]
pub struct SemVer {
    major: Num,
    minor: Num,
    patch: Num,
    pre: Vec<Box<str>>,
    build: String,
}

impl SemVer {
    /// True when the version has a pre-release part.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// The build metadata (after `+`), empty when absent; ignored by ordering.
    pub fn build(&self) -> &str {
        &self.build
    }

    /// Parse under `scheme` (used by Go and NuGet for their errors).
    pub(crate) fn parse_as(scheme: Scheme, input: &str, s: &str) -> Result<SemVer, VersionError> {
        let err = |r: &str| VersionError::new(scheme, input, r);
        if s.len() > super::MAX_LEN {
            return Err(err("too long"));
        }
        let s = s.strip_prefix('v').unwrap_or(s);
        let parts = split_parts(s).map_err(err)?;
        let mut nums = [Num::default(), Num::default(), Num::default()];
        for (count, part) in parts.core.split('.').enumerate() {
            let slot = nums
                .get_mut(count)
                .ok_or_else(|| err("more than three numbers"))?;
            check_core_number(part).map_err(err)?;
            *slot = Num::new(part);
        }
        let pre = parts
            .pre
            .map(|p| p.split('.').map(Box::from).collect())
            .unwrap_or_default();
        let [major, minor, patch] = nums;
        Ok(SemVer {
            major,
            minor,
            patch,
            pre,
            build: parts.build.to_string(),
        })
    }
}

/// A version split into `core[-pre][+build]`, as SemVer and node-semver ranges write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    /// The dotted numbers (not checked here).
    pub(crate) core: &'a str,
    /// The pre-release identifiers after the first `-`, when present.
    pub(crate) pre: Option<&'a str>,
    /// The build metadata after `+`, empty when absent.
    pub(crate) build: &'a str,
}

/// Splits `core[-pre][+build]`, checking the pre-release and build identifiers; the
/// error is the reason.
pub(crate) fn split_parts(s: &str) -> Result<Parts<'_>, &'static str> {
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => {
            if !idents_ok(b) {
                return Err("invalid build metadata");
            }
            (r, b)
        }
        None => (s, ""),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => {
            if !idents_ok(p) {
                return Err("invalid pre-release");
            }
            (c, Some(p))
        }
        None => (rest, None),
    };
    Ok(Parts { core, pre, build })
}

/// Checks one number of the version core: ASCII digits, no leading zero (but `0`).
pub(crate) fn check_core_number(part: &str) -> Result<(), &'static str> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err("version core must be numbers");
    }
    if part.len() > 1 && part.starts_with('0') {
        return Err("leading zero in version core");
    }
    Ok(())
}

/// SemVer precedence of two pre-release identifier lists (semver.org §11.3-11.4): a
/// release (no identifiers) is above any pre-release; identifiers compare left to
/// right, all-digit ones numerically and below alphanumeric ones (ASCII order); a
/// longer list wins a tie.
pub(crate) fn cmp_pre_release<S: AsRef<str>>(a: &[S], b: &[S]) -> Ordering {
    fn ident(a: &str, b: &str) -> Ordering {
        let numeric = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
        match (numeric(a), numeric(b)) {
            (true, true) => super::cmp_digits(a, b),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => a.cmp(b),
        }
    }
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a
            .iter()
            .zip(b)
            .map(|(x, y)| ident(x.as_ref(), y.as_ref()))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.len().cmp(&b.len())),
    }
}

/// Dot-separated non-empty identifiers of `[0-9A-Za-z-]`.
fn idents_ok(s: &str) -> bool {
    s.split('.')
        .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl FromStr for SemVer {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SemVer::parse_as(Scheme::Semver, s, s)
    }
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        self.major
            .cmp(&other.major)
            .then_with(|| self.minor.cmp(&other.minor))
            .then_with(|| self.patch.cmp(&other.patch))
            .then_with(|| cmp_pre_release(&self.pre, &other.pre))
    }
}

ord_via_cmp!(SemVer);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> SemVer {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    // semver.org §11 examples, in increasing precedence.
    #[test]
    fn semver_org_precedence_chain() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
            "10.0.0",
        ];
        for w in chain.windows(2) {
            if let [a, b] = w {
                assert!(p(a) < p(b), "{a} < {b}");
            }
        }
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(p(a).cmp(&p(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn build_metadata_ignored_and_leniency() {
        assert_eq!(p("1.0.0+build.1"), p("1.0.0"));
        assert_eq!(p("1.0.0-rc.1+x"), p("1.0.0-rc.1"));
        assert_eq!(p("v1.2.3"), p("1.2.3"));
        assert_eq!(p("1.2"), p("1.2.0"));
        assert!(p("1.19.0-0") < p("1.19.0"));
        assert!(p("0.0.0-20220906165146-f3363e06e74c") < p("0.0.1"));
        assert!(p("0.0.0-0") < p("0.0.0"));
        assert_eq!(p("1.0.0+b").build(), "b");
        for bad in [
            "",
            "1.2.3.4",
            "01.2.3",
            "1.2.3-",
            "1.2.3-a..b",
            "1.2.3+",
            "a.b.c",
            "1..2",
            "V1.2.3",
            " 1.2.3",
        ] {
            assert!(bad.parse::<SemVer>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shared_pieces_for_node_ranges() {
        let parts = split_parts("1.2-rc.1+b.5").unwrap();
        assert_eq!(
            (parts.core, parts.pre, parts.build),
            ("1.2", Some("rc.1"), "b.5")
        );
        assert_eq!(split_parts("1.2.3+").unwrap_err(), "invalid build metadata");
        assert_eq!(
            split_parts("1.2.3-a..b").unwrap_err(),
            "invalid pre-release"
        );
        assert!(check_core_number("0").is_ok() && check_core_number("10").is_ok());
        assert!(check_core_number("01").is_err() && check_core_number("x").is_err());
        let pre = |s: &str| s.split('.').map(str::to_owned).collect::<Vec<_>>();
        let none: Vec<String> = Vec::new();
        assert_eq!(cmp_pre_release(&none, &pre("alpha")), Ordering::Greater);
        assert_eq!(
            cmp_pre_release(&pre("alpha"), &pre("alpha.1")),
            Ordering::Less
        );
        assert_eq!(cmp_pre_release(&pre("2"), &pre("11")), Ordering::Less);
        assert_eq!(cmp_pre_release(&pre("11"), &pre("a")), Ordering::Less);
        assert_eq!(cmp_pre_release(&pre("01"), &pre("1")), Ordering::Equal);
        assert_eq!(
            cmp_pre_release(
                &pre("99999999999999999999999"),
                &pre("100000000000000000000000")
            ),
            Ordering::Less
        );
    }

    fn arb() -> impl Strategy<Value = String> {
        "v?(0|[1-9][0-9]?)\\.(0|[1-9])\\.(0|[1-9])(-[0-9a-z]{1,3}(\\.[0-9a-z]{1,3}){0,2})?(\\+[a-z0-9]{1,3})?"
    }

    proptest! {
        #[test]
        fn total_order(a in arb(), b in arb(), c in arb()) {
            let (a, b, c) = (p(&a), p(&b), p(&c));
            crate::version::order_laws(&a, &b, &c)?;
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<SemVer>();
        }
    }
}
