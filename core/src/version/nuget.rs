//! NuGet versions (`NuGetVersion`): one to four numeric parts (missing parts
//! are 0, leading zeros allowed), an optional SemVer 2.0 pre-release label and
//! build metadata (ignored). Labels compare case-insensitively; numeric label
//! identifiers compare numerically and sort before alphanumeric ones.

use super::{Num, Scheme, VersionError, ord_via_cmp};
use std::cmp::Ordering;
use std::str::FromStr;

/// One pre-release identifier.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ident {
    Num(Num),
    /// Lower-cased text.
    Alpha(String),
}

/// A parsed NuGet version.
#[derive(Debug, Clone)]
pub struct NuGetVersion {
    parts: [Num; 4],
    pre: Vec<Ident>,
}

impl FromStr for NuGetVersion {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |r: &str| VersionError::new(Scheme::NuGet, input, r);
        if input.len() > super::MAX_LEN {
            return Err(err("too long"));
        }
        let s = input.trim();
        let s = match s.split_once('+') {
            Some((_, "")) => return Err(err("empty build metadata")),
            Some((v, _)) => v,
            None => s,
        };
        let (core, label) = match s.split_once('-') {
            Some((c, l)) => (c, Some(l)),
            None => (s, None),
        };
        let mut parts: [Num; 4] = Default::default();
        for (n, part) in core.split('.').enumerate() {
            let slot = parts
                .get_mut(n)
                .ok_or_else(|| err("more than four numbers"))?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("version parts must be numbers"));
            }
            *slot = Num::new(part);
        }
        let mut pre = Vec::new();
        if let Some(l) = label {
            for id in l.split('.') {
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(err("invalid pre-release label"));
                }
                pre.push(if id.bytes().all(|b| b.is_ascii_digit()) {
                    Ident::Num(Num::new(id))
                } else {
                    Ident::Alpha(id.to_ascii_lowercase())
                });
            }
        }
        Ok(NuGetVersion { parts, pre })
    }
}

impl Ord for NuGetVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts
            .cmp(&other.parts)
            .then_with(|| super::pre_release_cmp(&self.pre, &other.pre))
    }
}

ord_via_cmp!(NuGetVersion);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> NuGetVersion {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    // NuGet docs "Package versioning" (pre-release ordering, normalisation) and
    // NuGet.Versioning's VersionComparerTests.
    #[test]
    fn nuget_ordering() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.0.1",
            "1.0.1",
            "1.1",
            "2.0.0",
        ];
        for w in chain.windows(2) {
            if let [a, b] = w {
                assert!(p(a) < p(b), "{a} < {b}");
            }
        }
        assert_eq!(p("1.0"), p("1.0.0.0"));
        assert_eq!(p("1.01.1"), p("1.1.1"));
        assert_eq!(p("1.0.0-BETA"), p("1.0.0-beta"));
        assert_eq!(p("1.0.0+git.abc"), p("1.0.0"));
        assert_eq!(p("1"), p("1.0.0"));
        for bad in [
            "",
            "1.0.0.0.0",
            "a.b",
            "1.0-",
            "1.0-a..b",
            "1.0+",
            "v1.0",
            "1.0.0-a_b",
        ] {
            assert!(bad.parse::<NuGetVersion>().is_err(), "{bad:?}");
        }
    }

    fn arb() -> impl Strategy<Value = String> {
        "[0-9]{1,2}(\\.[0-9]{1,2}){0,3}(-[0-9A-Za-z]{1,3}(\\.[0-9a-z]{1,2}){0,2})?"
    }

    proptest! {
        #[test]
        fn total_order(a in arb(), b in arb(), c in arb()) {
            let (a, b, c) = (p(&a), p(&b), p(&c));
            crate::version::order_laws(&a, &b, &c)?;
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<NuGetVersion>();
        }
    }
}
