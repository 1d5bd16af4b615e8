//! RubyGems versions, ordered as `Gem::Version#<=>`: segments are runs of
//! digits or letters; a letter anywhere makes a prerelease; `-` reads as
//! `.pre.`; trailing zeros of the release part and of the prerelease part are
//! dropped; a letter segment sorts below any number (and below a missing one).

use super::{Num, Scheme, VersionError, ord_via_cmp};
use std::cmp::Ordering;
use std::str::FromStr;

/// One segment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    /// Letters: below every number.
    Str(String),
    /// Digits.
    Num(Num),
}

/// A parsed RubyGems version.
#[derive(Debug, Clone)]
pub struct GemVersion {
    /// Canonical segments (trailing zeros dropped per part).
    segments: Vec<Seg>,
}

impl GemVersion {
    /// True when any segment contains a letter.
    pub fn is_prerelease(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Seg::Str(_)))
    }
}

impl FromStr for GemVersion {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |r: &str| VersionError::new(Scheme::RubyGems, input, r);
        if input.len() > super::MAX_LEN {
            return Err(err("too long"));
        }
        // Gem::Version::ANCHORED_VERSION_PATTERN:
        // [0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?, blank = "0".
        let s = input.trim();
        let s = if s.is_empty() { "0" } else { s };
        let (main, pre) = match s.split_once('-') {
            Some((m, p)) => (m, Some(p)),
            None => (s, None),
        };
        let mut parts = main.split('.');
        let first = parts.next().unwrap_or_default();
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("must start with a number"));
        }
        if !parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric())) {
            return Err(err("invalid segment"));
        }
        let pre_ok = |p: &str| {
            p.split('.')
                .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        };
        if pre.is_some_and(|p| !pre_ok(p)) {
            return Err(err("invalid prerelease"));
        }
        // `-` becomes `.pre.`; then scan runs of digits / letters.
        let full = match pre {
            Some(p) => format!("{main}.pre.{}", p.replace('-', ".pre.")),
            None => main.to_string(),
        };
        let mut raw = Vec::new();
        let b = full.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let st = i;
            let digit = b.get(i).is_some_and(u8::is_ascii_digit);
            let alpha = b.get(i).is_some_and(u8::is_ascii_alphabetic);
            while b.get(i).is_some_and(|c| {
                (digit && c.is_ascii_digit()) || (alpha && c.is_ascii_alphabetic())
            }) {
                i += 1;
            }
            let run = full.get(st..i).unwrap_or_default();
            if digit {
                raw.push(Seg::Num(Num::new(run)));
            } else if alpha {
                raw.push(Seg::Str(run.to_string()));
            } else {
                i += 1;
            }
        }
        // canonical_segments: split at the first string, drop trailing zeros of each part.
        let split = raw
            .iter()
            .position(|s| matches!(s, Seg::Str(_)))
            .unwrap_or(raw.len());
        let pre_part = raw.split_off(split);
        let trim = |mut v: Vec<Seg>| {
            while v
                .last()
                .is_some_and(|s| matches!(s, Seg::Num(n) if n.is_zero()))
            {
                v.pop();
            }
            v
        };
        let mut segments = trim(raw);
        segments.extend(trim(pre_part));
        Ok(GemVersion { segments })
    }
}

impl Ord for GemVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let zero = Seg::Num(Num::default());
        let n = self.segments.len().max(other.segments.len());
        for i in 0..n {
            let a = self.segments.get(i).unwrap_or(&zero);
            let b = other.segments.get(i).unwrap_or(&zero);
            let c = a.cmp(b);
            if c != Ordering::Equal {
                return c;
            }
        }
        Ordering::Equal
    }
}

ord_via_cmp!(GemVersion);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> GemVersion {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    // From rubygems' test/rubygems/test_gem_version.rb (test_spaceship, test_eql).
    #[test]
    fn gem_version_spaceship() {
        use Ordering::*;
        let table = [
            ("1.0", "1.0.0", Equal),
            ("1.0", "1.0.a", Greater),
            ("1.8.2", "0.0.0", Greater),
            ("1.8.2", "1.8.2.a", Greater),
            ("1.8.2.b", "1.8.2.a", Greater),
            ("1.8.2.a", "1.8.2", Less),
            ("1.8.2.a10", "1.8.2.a9", Greater),
            ("", "0", Equal),
            ("0.beta.1", "0.0.beta.1", Equal),
            ("0.0.beta", "0.0.beta.1", Less),
            ("0.0.beta", "0.beta.1", Less),
            ("5.a", "5.0.0.rc2", Less),
            ("5.x", "5.0.0.rc2", Greater),
            ("1.9.3", "1.9.3", Equal),
            ("1.9.3", "1.9.2.99", Greater),
            ("1.9.3", "1.9.3.1", Less),
            ("1.0.0-1", "1.0.0.pre.1", Equal),
            ("1.2.b1", "1.2.b.1", Equal),
            ("1.2", "1.2.0.0", Equal),
            ("7.0.4", "7.0.10", Less),
        ];
        for (a, b, want) in table {
            assert_eq!(p(a).cmp(&p(b)), want, "{a} vs {b}");
        }
        assert!(p("1.0.a").is_prerelease());
        assert!(!p("1.0").is_prerelease());
        for bad in [
            "junk",
            "1.0\n2.0",
            "1..2",
            "1.2 3.4",
            "2.3422222.222.222222222.22222.ads0as.dasd0.ddd2222.2.qd3e.",
            "-1",
            "1.0-",
        ] {
            assert!(bad.parse::<GemVersion>().is_err(), "{bad:?}");
        }
    }

    fn arb() -> impl Strategy<Value = String> {
        "[0-9]{1,2}(\\.([0-9]{1,2}|a|b|rc[0-9]?|pre)){0,4}"
    }

    proptest! {
        #[test]
        fn total_order(a in arb(), b in arb(), c in arb()) {
            let (a, b, c) = (p(&a), p(&b), p(&c));
            crate::version::order_laws(&a, &b, &c)?;
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<GemVersion>();
        }
    }
}
