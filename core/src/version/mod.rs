//! Per-ecosystem version semantics: one total order per scheme.
//!
//! Every scheme has a parsed type implementing [`Ord`]; [`parse`] returns it wrapped
//! in [`Version`] so a caller (the matcher) parses a component version once and
//! compares it against many advisory bounds. Inputs are untrusted: strings longer
//! than [`MAX_LEN`] bytes are rejected, parsers never panic, and every comparison
//! is linear in the input length (numbers are compared as digit strings, so no
//! overflow either).

pub mod apk;
pub mod dpkg;
pub mod go;
pub mod maven;
pub mod nuget;
pub mod pep440;
pub mod rpm;
pub mod rubygems;
pub mod semver;

use std::cmp::Ordering;

/// Longest version string accepted, in bytes (real versions are far shorter).
pub const MAX_LEN: usize = 256;

/// A version ordering scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Scheme {
    /// Debian / Ubuntu dpkg (epoch, `~`, revision).
    Dpkg,
    /// Alpine apk (`_alpha`..`_p` suffixes, `-rN`).
    Apk,
    /// RPM EVR (rpmvercmp, `~`, `^`).
    Rpm,
    /// SemVer 2.0 (npm, Cargo).
    Semver,
    /// Go modules: SemVer with `v` prefix, `+incompatible`, pseudo-versions.
    Go,
    /// Python PEP 440.
    Pep440,
    /// Maven ComparableVersion.
    Maven,
    /// RubyGems `Gem::Version`.
    RubyGems,
    /// NuGet (SemVer 2.0 with four-part legacy versions).
    NuGet,
}

/// Why a version string cannot be ordered under a scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {scheme:?} version {input:?}: {reason}")]
pub struct VersionError {
    /// The scheme the string was parsed under.
    pub scheme: Scheme,
    /// The offending input.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl VersionError {
    /// An error for `input` under `scheme`; the input is cut to [`MAX_LEN`] bytes so
    /// that hostile strings do not balloon logs.
    pub fn new(scheme: Scheme, input: &str, reason: impl Into<String>) -> VersionError {
        let mut end = input.len().min(MAX_LEN);
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        VersionError {
            scheme,
            input: input.get(..end).unwrap_or_default().to_string(),
            reason: reason.into(),
        }
    }
}

/// A version parsed under one scheme.
///
/// Ordering is defined within a scheme. Comparing versions of different schemes is a
/// caller bug; it does not panic but orders by scheme (declaration order of
/// [`Scheme`]) so that sorting stays total.
#[derive(Debug, Clone)]
pub enum Version {
    /// dpkg version.
    Dpkg(dpkg::DpkgVersion),
    /// apk version.
    Apk(apk::ApkVersion),
    /// RPM EVR.
    Rpm(rpm::RpmVersion),
    /// SemVer 2.0 version.
    Semver(semver::SemVer),
    /// Go module version.
    Go(go::GoVersion),
    /// PEP 440 version.
    Pep440(pep440::Pep440Version),
    /// Maven ComparableVersion.
    Maven(maven::MavenVersion),
    /// RubyGems version.
    RubyGems(rubygems::GemVersion),
    /// NuGet version.
    NuGet(nuget::NuGetVersion),
}

impl Version {
    /// The scheme this version was parsed under.
    pub fn scheme(&self) -> Scheme {
        match self {
            Version::Dpkg(_) => Scheme::Dpkg,
            Version::Apk(_) => Scheme::Apk,
            Version::Rpm(_) => Scheme::Rpm,
            Version::Semver(_) => Scheme::Semver,
            Version::Go(_) => Scheme::Go,
            Version::Pep440(_) => Scheme::Pep440,
            Version::Maven(_) => Scheme::Maven,
            Version::RubyGems(_) => Scheme::RubyGems,
            Version::NuGet(_) => Scheme::NuGet,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Version::Dpkg(_) => 0,
            Version::Apk(_) => 1,
            Version::Rpm(_) => 2,
            Version::Semver(_) => 3,
            Version::Go(_) => 4,
            Version::Pep440(_) => 5,
            Version::Maven(_) => 6,
            Version::RubyGems(_) => 7,
            Version::NuGet(_) => 8,
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Version::Dpkg(a), Version::Dpkg(b)) => a.cmp(b),
            (Version::Apk(a), Version::Apk(b)) => a.cmp(b),
            (Version::Rpm(a), Version::Rpm(b)) => a.cmp(b),
            (Version::Semver(a), Version::Semver(b)) => a.cmp(b),
            (Version::Go(a), Version::Go(b)) => a.cmp(b),
            (Version::Pep440(a), Version::Pep440(b)) => a.cmp(b),
            (Version::Maven(a), Version::Maven(b)) => a.cmp(b),
            (Version::RubyGems(a), Version::RubyGems(b)) => a.cmp(b),
            (Version::NuGet(a), Version::NuGet(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// Parse `s` under `scheme`.
pub fn parse(scheme: Scheme, s: &str) -> Result<Version, VersionError> {
    if s.len() > MAX_LEN {
        return Err(VersionError::new(
            scheme,
            s,
            format!("longer than {MAX_LEN} bytes"),
        ));
    }
    Ok(match scheme {
        Scheme::Dpkg => Version::Dpkg(s.parse()?),
        Scheme::Apk => Version::Apk(s.parse()?),
        Scheme::Rpm => Version::Rpm(s.parse()?),
        Scheme::Semver => Version::Semver(s.parse()?),
        Scheme::Go => Version::Go(s.parse()?),
        Scheme::Pep440 => Version::Pep440(s.parse()?),
        Scheme::Maven => Version::Maven(s.parse()?),
        Scheme::RubyGems => Version::RubyGems(s.parse()?),
        Scheme::NuGet => Version::NuGet(s.parse()?),
    })
}

/// Compare two version strings under `scheme`.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(parse(scheme, a)?.cmp(&parse(scheme, b)?))
}

/// Compare two runs of ASCII digits as unbounded non-negative integers
/// (leading zeros ignored), without overflow.
pub(crate) fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// An unbounded non-negative integer kept as its digits without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct Num(Box<str>);

impl Num {
    /// From a run of ASCII digits (caller checked).
    pub(crate) fn new(digits: &str) -> Num {
        Num(digits.trim_start_matches('0').into())
    }

    /// True when the value is zero.
    pub(crate) fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_digits(&self.0, &other.0)
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("0")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// Implements `PartialEq`, `Eq` and `PartialOrd` from an `Ord` impl, for types
/// whose equality is "compares equal" (`1.0` == `1.00` in several schemes).
macro_rules! ord_via_cmp {
    ($t:ty) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other) == std::cmp::Ordering::Equal
            }
        }
        impl Eq for $t {}
        impl PartialOrd for $t {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
    };
}
pub(crate) use ord_via_cmp;

/// SemVer-style pre-release precedence, shared by SemVer, Go and NuGet: a release
/// (no pre-release identifiers) sorts above every pre-release of the same core;
/// pre-releases compare identifier by identifier.
pub(crate) fn pre_release_cmp<T: Ord>(a: &[T], b: &[T]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.cmp(b),
    }
}

/// The total-order laws (reflexive, antisymmetric, transitive) that every scheme's
/// property tests check on generated versions.
#[cfg(test)]
pub(crate) fn order_laws<T: Ord + std::fmt::Debug>(
    a: &T,
    b: &T,
    c: &T,
) -> Result<(), proptest::test_runner::TestCaseError> {
    proptest::prop_assert_eq!(a.cmp(a), Ordering::Equal);
    proptest::prop_assert_eq!(a.cmp(b), b.cmp(a).reverse());
    if a <= b && b <= c {
        proptest::prop_assert!(a <= c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_and_length_bound() {
        assert_eq!(compare(Scheme::Dpkg, "1:1.0", "2.0"), Ok(Ordering::Greater));
        assert_eq!(compare(Scheme::Pep440, "1.0a1", "1.0"), Ok(Ordering::Less));
        let long = "1".repeat(MAX_LEN + 1);
        for s in [
            Scheme::Dpkg,
            Scheme::Apk,
            Scheme::Rpm,
            Scheme::Semver,
            Scheme::Go,
            Scheme::Pep440,
            Scheme::Maven,
            Scheme::RubyGems,
            Scheme::NuGet,
        ] {
            let err = parse(s, &long).unwrap_err();
            assert_eq!(err.scheme, s);
            assert!(err.reason.contains("longer"), "{err}");
            assert!(parse(s, "1.2.3").is_ok(), "{s:?}");
        }
    }

    #[test]
    fn cross_scheme_order_is_defined() {
        let a = parse(Scheme::Dpkg, "9.0").unwrap();
        let b = parse(Scheme::Semver, "1.0.0").unwrap();
        assert_eq!(a.cmp(&b), Ordering::Less);
        assert_eq!(b.cmp(&a), Ordering::Greater);
        assert_ne!(a, b);
    }

    const ALL: [Scheme; 9] = [
        Scheme::Dpkg,
        Scheme::Apk,
        Scheme::Rpm,
        Scheme::Semver,
        Scheme::Go,
        Scheme::Pep440,
        Scheme::Maven,
        Scheme::RubyGems,
        Scheme::NuGet,
    ];

    proptest::proptest! {
        #[test]
        fn parse_never_panics_in_any_scheme(s in "[0-9a-zA-Z.:~^+_!-]{0,300}|\\PC{0,80}") {
            for scheme in ALL {
                if let Ok(v) = parse(scheme, &s) {
                    proptest::prop_assert_eq!(v.scheme(), scheme);
                    proptest::prop_assert_eq!(v.cmp(&v), Ordering::Equal);
                }
            }
        }
    }

    #[test]
    fn adversarial_inputs_stay_linear() {
        // Worst cases for the tokenisers: long runs of separators, zeros and
        // nesting, at the length limit. Each must parse and compare quickly.
        let inputs = [
            "1".to_string() + &"-1".repeat(127),
            "0.".repeat(127) + "1",
            "1".to_string() + &"~".repeat(255),
            "1".to_string() + &"a1".repeat(127),
            "1.0".to_string() + &"_alpha".repeat(42),
        ];
        let start = std::time::Instant::now();
        for s in &inputs {
            for scheme in ALL {
                let _ = compare(scheme, s, s);
            }
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn huge_numbers_compare_without_overflow() {
        let big = "99999999999999999999999999999999999999999";
        assert_eq!(
            compare(Scheme::Semver, &format!("{big}.0.0"), "1.0.0"),
            Ok(Ordering::Greater)
        );
        assert_eq!(cmp_digits("0010", "9"), Ordering::Greater);
        assert_eq!(cmp_digits("000", ""), Ordering::Equal);
    }
}
