//! Debian dpkg versions: `[epoch:]upstream[-revision]`, compared with dpkg's
//! `verrevcmp` (letters before non-letters, `~` before everything, even the end).
//!
//! Stricter than dpkg on one point, as the reference oracle (python-debian plus a
//! check) is: the upstream part must start with a digit (dpkg only warns).

use super::{Scheme, VersionError, ord_via_cmp};
use std::cmp::Ordering;
use std::str::FromStr;

/// A parsed dpkg version.
#[derive(Debug, Clone)]
pub struct DpkgVersion {
    epoch: super::Num,
    upstream: String,
    revision: String,
}

impl DpkgVersion {
    /// The upstream part.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The Debian revision (empty when absent).
    pub fn revision(&self) -> &str {
        &self.revision
    }
}

impl FromStr for DpkgVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |r: &str| VersionError::new(Scheme::Dpkg, s, r);
        if s.len() > super::MAX_LEN {
            return Err(err("too long"));
        }
        let (epoch, rest) = match s.split_once(':') {
            Some((e, r)) => {
                if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("epoch is not a number"));
                }
                (super::Num::new(e), r)
            }
            None => (super::Num::default(), s),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => {
                if r.is_empty() {
                    return Err(err("empty revision"));
                }
                (u, r)
            }
            None => (rest, ""),
        };
        if !upstream.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            return Err(err("upstream version must start with a digit"));
        }
        // A ':' after the epoch is only allowed when an epoch exists; '-' only
        // when a revision exists (the last '-' splits).
        let has_epoch = s.contains(':');
        let up_ok = upstream.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'+' | b'~' | b'-')
                || (b == b':' && has_epoch)
        });
        if !up_ok {
            return Err(err("invalid character in upstream version"));
        }
        if !revision
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~'))
        {
            return Err(err("invalid character in revision"));
        }
        Ok(DpkgVersion {
            epoch,
            upstream: upstream.to_string(),
            revision: revision.to_string(),
        })
    }
}

impl Ord for DpkgVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(&self.upstream, &other.upstream))
            .then_with(|| verrevcmp(&self.revision, &other.revision))
    }
}

ord_via_cmp!(DpkgVersion);

/// dpkg's character weight: end and digits 0, `~` below everything, letters
/// by value, other characters after all letters.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg `verrevcmp`: alternating non-digit and digit runs.
pub(crate) fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        let (si, sj) = (i, j);
        while digit(a, i) {
            i += 1;
        }
        while digit(b, j) {
            j += 1;
        }
        let na = std::str::from_utf8(a.get(si..i).unwrap_or_default()).unwrap_or_default();
        let nb = std::str::from_utf8(b.get(sj..j).unwrap_or_default()).unwrap_or_default();
        let c = super::cmp_digits(na, nb);
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        let pa: DpkgVersion = a.parse().unwrap_or_else(|e| panic!("{e}"));
        let pb: DpkgVersion = b.parse().unwrap_or_else(|e| panic!("{e}"));
        pa.cmp(&pb)
    }

    // From dpkg's lib/dpkg/t/t-version.c (test_version_compare) and the Debian
    // Policy manual §5.6.12 examples.
    #[test]
    fn dpkg_test_suite_table() {
        use Ordering::*;
        let table = [
            ("0", "0", Equal),
            ("0", "00", Equal),
            ("1", "2", Less),
            ("2", "1", Greater),
            ("1:0", "0", Greater),
            ("0:1", "1", Equal),
            ("1:1", "2:0", Less),
            ("0-0", "0-0", Equal),
            ("0-1", "0-2", Less),
            ("0-2", "0-1", Greater),
            ("1.0", "1.0-0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~~a", "1.0~~", Greater),
            ("1.0~", "1.0~a", Less),
            ("1.0a", "1.0+", Less),
            ("1.0", "1.0a", Less),
            ("1.0-1+deb11u1", "1.0-1", Greater),
            ("1.0-1+deb11u1~bpo1", "1.0-1+deb11u1", Less),
            ("2:1.20.11-1+deb11u6", "2:1.20.11-1+deb11u6+b1", Less),
            ("0.9.8zh-1", "0.9.8-1", Greater),
            ("1.2.3-1", "1.2.3-1.1", Less),
            ("1:2.30-1", "2.31-1", Greater),
            ("1.18.4+dfsg-1", "1.18.4-1", Greater),
            ("7.74.0-1.3+deb11u7", "7.74.0-1.3+deb11u10", Less),
            ("0.a", "0.b", Less),
            ("0.a", "0.+", Less),
            ("0.~", "0.a", Less),
            ("1.10", "1.9", Greater),
            ("1.001", "1.1", Equal),
            ("2.6.32-5", "2.6.32-5+b1", Less),
        ];
        for (a, b, want) in table {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn rejects_what_dpkg_rejects() {
        for bad in [
            "", "a1.0", "1.0-", ":1.0", "x:1.0", "1.0 1", "1.0-1_2", "1:",
        ] {
            assert!(bad.parse::<DpkgVersion>().is_err(), "{bad:?}");
        }
        let v: DpkgVersion = "1:2.0-3-4".parse().unwrap();
        assert_eq!((v.upstream(), v.revision()), ("2.0-3", "4"));
    }

    fn arb() -> impl Strategy<Value = String> {
        "([0-9]{1,2}:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,4})?"
    }

    proptest! {
        #[test]
        fn total_order(a in arb(), b in arb(), c in arb()) {
            let (a, b, c): (DpkgVersion, DpkgVersion, DpkgVersion) =
                (a.parse().unwrap(), b.parse().unwrap(), c.parse().unwrap());
            crate::version::order_laws(&a, &b, &c)?;
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<DpkgVersion>();
        }
    }
}
