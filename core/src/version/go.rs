//! Go module versions: SemVer with a `v` prefix (optional here: OSV records
//! omit it), `+incompatible` (build metadata, so ignored for order), and
//! pseudo-versions (`v0.0.0-20220906165146-f3363e06e74c`), which are ordinary
//! SemVer pre-releases, so the order is SemVer's.

use super::semver::SemVer;
use super::{Scheme, VersionError, ord_via_cmp};
use std::cmp::Ordering;
use std::str::FromStr;

/// A parsed Go module version.
#[derive(Debug, Clone)]
pub struct GoVersion(SemVer);

impl GoVersion {
    /// True for `+incompatible` versions (major ≥ 2 without a `/vN` module path).
    pub fn is_incompatible(&self) -> bool {
        self.0.build() == "incompatible"
    }
}

impl FromStr for GoVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SemVer::parse_as(Scheme::Go, s, s).map(GoVersion)
    }
}

impl Ord for GoVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

ord_via_cmp!(GoVersion);

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> GoVersion {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    // Orderings from golang.org/x/mod/semver's tests and the Go modules reference.
    #[test]
    fn go_module_order() {
        let chain = [
            "v0.0.0-20190101000000-000000000000",
            "v0.0.0-20220906165146-f3363e06e74c",
            "v0.0.0",
            "v0.1.0",
            "v1.0.0-alpha",
            "v1.0.0-alpha.1",
            "v1.0.0-beta",
            "v1.0.0-rc.1",
            "v1.0.0",
            "v1.0.1-0.20200101000000-abcdefabcdef",
            "v1.0.1",
            "v1.2.0",
            "v2.0.0+incompatible",
            "v2.1.0",
        ];
        for w in chain.windows(2) {
            if let [a, b] = w {
                assert!(p(a) < p(b), "{a} < {b}");
            }
        }
        assert_eq!(p("v2.0.0+incompatible"), p("2.0.0"));
        assert!(p("v2.0.0+incompatible").is_incompatible());
        assert_eq!(p("1.19.0"), p("v1.19.0"));
        assert!(p("1.19.0-0") < p("v1.19.0"));
        assert!("vv1.0.0".parse::<GoVersion>().is_err());
    }
}
