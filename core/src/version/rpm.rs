//! RPM versions: `[epoch:]version[-release]` (EVR), each part compared with
//! `rpmvercmp` (alphanumeric segments, digits beat letters, `~` sorts before
//! everything including the end, `^` after the end but before anything else).
//! A missing epoch is 0; a missing release sorts before any release.

use super::{Num, Scheme, VersionError, ord_via_cmp};
use std::cmp::Ordering;
use std::str::FromStr;

/// A parsed RPM EVR.
#[derive(Debug, Clone)]
pub struct RpmVersion {
    epoch: Num,
    version: String,
    release: String,
}

impl FromStr for RpmVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |r: &str| VersionError::new(Scheme::Rpm, s, r);
        if s.len() > super::MAX_LEN {
            return Err(err("too long"));
        }
        if s.is_empty() {
            return Err(err("empty"));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(err("whitespace or non-ASCII character"));
        }
        let (epoch, rest) = match s.split_once(':') {
            Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
                (Num::new(e), r)
            }
            Some(_) => return Err(err("epoch is not a number")),
            None => (Num::default(), s),
        };
        let (version, release) = rest.rsplit_once('-').unwrap_or((rest, ""));
        if version.is_empty() {
            return Err(err("empty version"));
        }
        Ok(RpmVersion {
            epoch,
            version: version.to_string(),
            release: release.to_string(),
        })
    }
}

impl Ord for RpmVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| rpmvercmp(&self.release, &other.release))
    }
}

ord_via_cmp!(RpmVersion);

/// rpm's `rpmvercmp` (lib/rpmvercmp.c), over bytes.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while a.get(i).is_some_and(|&c| sep(c)) {
            i += 1;
        }
        while b.get(j).is_some_and(|&c| sep(c)) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let isnum = ca.is_ascii_digit();
        let class = |c: &u8| {
            if isnum {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (si, sj) = (i, j);
        while a.get(i).is_some_and(class) {
            i += 1;
        }
        while b.get(j).is_some_and(class) {
            j += 1;
        }
        if sj == j {
            // Segments of different types: numeric is newer.
            return if isnum {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (sa, sb) = (
            a.get(si..i).unwrap_or_default(),
            b.get(sj..j).unwrap_or_default(),
        );
        let c = if isnum {
            super::cmp_digits(
                std::str::from_utf8(sa).unwrap_or_default(),
                std::str::from_utf8(sb).unwrap_or_default(),
            )
        } else {
            sa.cmp(sb)
        };
        if c != Ordering::Equal {
            return c;
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // From rpm's tests/rpmvercmp.at (RPMVERCMP(a, b, result) lines).
    #[test]
    fn rpmvercmp_at_table() {
        let table: &[(&str, &str, i8)] = &[
            ("1.0", "1.0", 0),
            ("1.0", "2.0", -1),
            ("2.0", "1.0", 1),
            ("2.0.1", "2.0.1", 0),
            ("2.0", "2.0.1", -1),
            ("2.0.1", "2.0", 1),
            ("2.0.1a", "2.0.1a", 0),
            ("2.0.1a", "2.0.1", 1),
            ("2.0.1", "2.0.1a", -1),
            ("5.5p1", "5.5p1", 0),
            ("5.5p1", "5.5p2", -1),
            ("5.5p2", "5.5p1", 1),
            ("5.5p10", "5.5p10", 0),
            ("5.5p1", "5.5p10", -1),
            ("5.5p10", "5.5p1", 1),
            ("10xyz", "10.1xyz", -1),
            ("10.1xyz", "10xyz", 1),
            ("xyz10", "xyz10", 0),
            ("xyz10", "xyz10.1", -1),
            ("xyz10.1", "xyz10", 1),
            ("xyz.4", "xyz.4", 0),
            ("xyz.4", "8", -1),
            ("8", "xyz.4", 1),
            ("xyz.4", "2", -1),
            ("2", "xyz.4", 1),
            ("5.5p2", "5.6p1", -1),
            ("5.6p1", "5.5p2", 1),
            ("5.6p1", "6.5p1", -1),
            ("6.5p1", "5.6p1", 1),
            ("6.0.rc1", "6.0", 1),
            ("6.0", "6.0.rc1", -1),
            ("10b2", "10a1", 1),
            ("10a2", "10b2", -1),
            ("1.0aa", "1.0aa", 0),
            ("1.0a", "1.0aa", -1),
            ("1.0aa", "1.0a", 1),
            ("10.0001", "10.0001", 0),
            ("10.0001", "10.1", 0),
            ("10.1", "10.0001", 0),
            ("10.0001", "10.0039", -1),
            ("10.0039", "10.0001", 1),
            ("4.999.9", "5.0", -1),
            ("5.0", "4.999.9", 1),
            ("20101121", "20101121", 0),
            ("20101121", "20101122", -1),
            ("20101122", "20101121", 1),
            ("2_0", "2_0", 0),
            ("2.0", "2_0", 0),
            ("2_0", "2.0", 0),
            ("a", "a", 0),
            ("a+", "a+", 0),
            ("a+", "a_", 0),
            ("a_", "a+", 0),
            ("+a", "+a", 0),
            ("+a", "_a", 0),
            ("_a", "+a", 0),
            ("+_", "+_", 0),
            ("_+", "+_", 0),
            ("_+", "_+", 0),
            ("+", "_", 0),
            ("_", "+", 0),
            ("1.0~rc1", "1.0~rc1", 0),
            ("1.0~rc1", "1.0", -1),
            ("1.0", "1.0~rc1", 1),
            ("1.0~rc1", "1.0~rc2", -1),
            ("1.0~rc2", "1.0~rc1", 1),
            ("1.0~rc1~git123", "1.0~rc1~git123", 0),
            ("1.0~rc1~git123", "1.0~rc1", -1),
            ("1.0~rc1", "1.0~rc1~git123", 1),
            ("1.0^", "1.0^", 0),
            ("1.0^", "1.0", 1),
            ("1.0", "1.0^", -1),
            ("1.0^git1", "1.0^git1", 0),
            ("1.0^git1", "1.0", 1),
            ("1.0", "1.0^git1", -1),
            ("1.0^git1", "1.0^git2", -1),
            ("1.0^git2", "1.0^git1", 1),
            ("1.0^git1", "1.01", -1),
            ("1.01", "1.0^git1", 1),
            ("1.0^20160101", "1.0^20160101", 0),
            ("1.0^20160101", "1.0.1", -1),
            ("1.0.1", "1.0^20160101", 1),
            ("1.0^20160101^git1", "1.0^20160101^git1", 0),
            ("1.0^20160102", "1.0^20160101^git1", 1),
            ("1.0^20160101^git1", "1.0^20160102", -1),
            ("1.0~rc1^git1", "1.0~rc1^git1", 0),
            ("1.0~rc1^git1", "1.0~rc1", 1),
            ("1.0~rc1", "1.0~rc1^git1", -1),
            ("1.0^git1~pre", "1.0^git1~pre", 0),
            ("1.0^git1", "1.0^git1~pre", 1),
            ("1.0^git1~pre", "1.0^git1", -1),
        ];
        for &(a, b, want) in table {
            assert_eq!(rpmvercmp(a, b) as i8, want, "{a} vs {b}");
        }
    }

    #[test]
    fn evr_order() {
        let p = |s: &str| s.parse::<RpmVersion>().unwrap_or_else(|e| panic!("{e}"));
        assert!(p("1:1.0-1") > p("2.0-1"));
        assert!(p("0:1.0-1") == p("1.0-1"));
        assert!(p("1.0-1.el9") < p("1.0-2.el9"));
        assert!(p("1.0") < p("1.0-1"));
        assert!(p("2.4.57-5.el9_2") < p("2.4.57-5.el9_2.1"));
        for bad in ["", "x:1", ":1", "1.0 1", "-1"] {
            assert!(bad.parse::<RpmVersion>().is_err(), "{bad:?}");
        }
    }

    fn arb() -> impl Strategy<Value = String> {
        "([0-9]:)?[0-9a-z][0-9a-z.~^_+]{0,6}(-[0-9a-z.~^]{1,4})?"
    }

    proptest! {
        #[test]
        fn total_order(a in arb(), b in arb(), c in arb()) {
            let (a, b, c): (RpmVersion, RpmVersion, RpmVersion) =
                (a.parse().unwrap(), b.parse().unwrap(), c.parse().unwrap());
            crate::version::order_laws(&a, &b, &c)?;
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<RpmVersion>();
        }
    }
}
