//! Alpine apk versions, ordered as apk-tools' `version.c` does
//! (`apk_version_compare`): a token stream of
//! `digits ('.' digits)* letter? ('_' suffix number?)* ('-r' number)?` where
//! `_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p`.
//! A later numeric component with leading zeros (`1.01`) compares as apk-tools
//! does: the zero run counts as a negative value, so `1.01 < 1.1`.

use super::{Num, Scheme, VersionError, ord_via_cmp};
use std::cmp::Ordering;
use std::str::FromStr;

/// Token kinds in apk-tools' order (the order matters for comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    DigitOrZero,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    RevisionNo,
    End,
}

/// A token value: apk-tools uses a signed int; we keep digits unbounded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    /// Negative values (leading-zero runs, pre-release suffixes), most negative first.
    Neg(std::cmp::Reverse<u32>),
    /// Non-negative values.
    Pos(Num),
}

impl Val {
    fn small(v: i32) -> Val {
        if v < 0 {
            Val::Neg(std::cmp::Reverse(v.unsigned_abs()))
        } else {
            Val::Pos(Num::new(&v.to_string()))
        }
    }
    fn is_negative(&self) -> bool {
        matches!(self, Val::Neg(_))
    }
}

const PRE: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];

/// A parsed (and validated) apk version.
#[derive(Debug, Clone)]
pub struct ApkVersion {
    /// Tokens as (kind the token was read as, value).
    tokens: Vec<(Kind, Val)>,
    /// Kind announced by a trailing separator (`1.`), else `End`: apk-tools
    /// accepts such strings and the pending kind takes part in comparison.
    tail: Kind,
}

impl FromStr for ApkVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |r: &str| VersionError::new(Scheme::Apk, s, r);
        if s.len() > super::MAX_LEN {
            return Err(err("too long"));
        }
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(err("empty"));
        }
        // A literal transcription of apk-tools' get_token / next_token, recording
        // (kind read as, value) pairs; validation = reaching END without INVALID.
        let mut tokens = Vec::new();
        let mut kind = Kind::Digit;
        let mut i = 0;
        while i < b.len() {
            let mut next_kind = None;
            let val = match kind {
                Kind::DigitOrZero if b.get(i) == Some(&b'0') => {
                    let st = i;
                    while b.get(i) == Some(&b'0') {
                        i += 1;
                    }
                    // apk-tools 2.x jumps straight to TOKEN_DIGIT here, which makes
                    // `1.0 < 1.0_alpha` (only when the zeros end the string does the
                    // kind become END). We continue as after any number instead, so
                    // the documented `_alpha < (none)` order holds at `.0` too.
                    if b.get(i).is_some_and(u8::is_ascii_digit) {
                        next_kind = Some(Kind::Digit);
                    }
                    Val::Neg(std::cmp::Reverse(u32::try_from(i - st).unwrap_or(u32::MAX)))
                }
                Kind::DigitOrZero | Kind::Digit | Kind::SuffixNo | Kind::RevisionNo => {
                    let st = i;
                    while b.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                    Val::Pos(Num::new(s.get(st..i).unwrap_or_default()))
                }
                Kind::Letter => {
                    let c = b.get(i).copied().unwrap_or_default();
                    i += 1;
                    Val::small(i32::from(c))
                }
                Kind::Suffix => {
                    let rest = b.get(i..).unwrap_or_default();
                    let pre = PRE.iter().position(|p| rest.starts_with(p.as_bytes()));
                    let post = POST.iter().position(|p| rest.starts_with(p.as_bytes()));
                    match (pre, post) {
                        (Some(p), _) => {
                            i += PRE.get(p).map_or(0, |x| x.len());
                            Val::small(p as i32 - PRE.len() as i32)
                        }
                        (None, Some(p)) => {
                            i += POST.get(p).map_or(0, |x| x.len());
                            Val::small(p as i32)
                        }
                        (None, None) => return Err(err("unknown suffix")),
                    }
                }
                Kind::End => break,
            };
            tokens.push((kind, val));
            if i >= b.len() {
                kind = Kind::End;
                break;
            }
            if let Some(nk) = next_kind {
                kind = nk;
                continue;
            }
            // next_token
            let c = b.get(i).copied().unwrap_or_default();
            let n = if matches!(kind, Kind::Digit | Kind::DigitOrZero) && c.is_ascii_lowercase() {
                Some(Kind::Letter)
            } else if kind == Kind::Letter && c.is_ascii_digit() {
                Some(Kind::Digit)
            } else if kind == Kind::Suffix && c.is_ascii_digit() {
                Some(Kind::SuffixNo)
            } else {
                i += 1;
                match c {
                    b'.' => Some(Kind::DigitOrZero),
                    b'_' => Some(Kind::Suffix),
                    b'-' if b.get(i) == Some(&b'r') => {
                        i += 1;
                        Some(Kind::RevisionNo)
                    }
                    _ => None,
                }
            };
            let n = n.ok_or_else(|| err("unexpected character"))?;
            let allowed = n >= kind
                || (n == Kind::DigitOrZero && kind == Kind::Digit)
                || (n == Kind::Suffix && kind == Kind::SuffixNo)
                || (n == Kind::Digit && kind == Kind::Letter);
            if !allowed {
                return Err(err("components out of order"));
            }
            kind = n;
        }
        if tokens.is_empty() {
            return Err(err("empty"));
        }
        Ok(ApkVersion { tokens, tail: kind })
    }
}

impl ApkVersion {
    fn kind_at(&self, i: usize) -> Kind {
        match self.tokens.get(i) {
            Some(t) => t.0,
            None if i == self.tokens.len() => self.tail,
            None => Kind::End,
        }
    }
}

impl Ord for ApkVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        // apk_version_compare: walk while kinds and values agree.
        let mut i = 0;
        loop {
            let (ka, kb) = (self.kind_at(i), other.kind_at(i));
            if ka != kb || ka == Kind::End {
                // The version that goes on is greater, unless it goes on with a
                // pre-release suffix.
                if ka == kb {
                    return Ordering::Equal;
                }
                let pre = |v: &ApkVersion, k: Kind| {
                    k == Kind::Suffix && v.tokens.get(i).is_some_and(|t| t.1.is_negative())
                };
                if pre(self, ka) {
                    return Ordering::Less;
                }
                if pre(other, kb) {
                    return Ordering::Greater;
                }
                return kb.cmp(&ka);
            }
            // A pending kind with no characters left reads as value 0.
            let zero = Val::Pos(Num::default());
            let va = self.tokens.get(i).map_or(&zero, |t| &t.1);
            let vb = other.tokens.get(i).map_or(&zero, |t| &t.1);
            let c = va.cmp(vb);
            if c != Ordering::Equal {
                return c;
            }
            i += 1;
        }
    }
}

ord_via_cmp!(ApkVersion);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        let pa: ApkVersion = a.parse().unwrap_or_else(|e| panic!("{e}"));
        let pb: ApkVersion = b.parse().unwrap_or_else(|e| panic!("{e}"));
        pa.cmp(&pb)
    }

    // Pairs from apk-tools' test/version.data (one "a op b" per line).
    #[test]
    fn apk_tools_version_data() {
        use Ordering::*;
        let table = [
            ("2.34", "0.1.0_alpha", Greater),
            ("1.0", "1.0.0", Less),
            ("1.0", "1.0_rc1", Greater),
            ("1.00", "1.0", Less),
            ("1.0", "1.0_alpha", Greater),
            ("1.0_alpha", "1.0_beta", Less),
            ("1.0_beta", "1.0_pre", Less),
            ("1.0_pre", "1.0_rc", Less),
            ("1.0_rc", "1.0", Less),
            ("1.0", "1.0_cvs", Less),
            ("1.0_cvs", "1.0_svn", Less),
            ("1.0_svn", "1.0_git", Less),
            ("1.0_git", "1.0_hg", Less),
            ("1.0_hg", "1.0_p", Less),
            ("1.0_p1", "1.0_p2", Less),
            ("1.0_rc1", "1.0_rc10", Less),
            ("1.0-r1", "1.0", Greater),
            ("1.0-r1", "1.0-r2", Less),
            ("1.0_p1-r0", "1.0-r5", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0b", Less),
            ("1.0a", "1.0.1", Less),
            ("1.01", "1.1", Less),
            ("1.001", "1.01", Less),
            ("1.2.3-r0", "1.2.3", Greater),
            ("2.9.0_rc1-r0", "2.9.0-r0", Less),
            ("2.9.0_p1-r0", "2.9.0-r0", Greater),
            ("1.0_alpha1_p2", "1.0_alpha1", Greater),
            ("1.0_alpha_p", "1.0_alpha", Greater),
            ("0.8.10-r1", "0.8.9-r5", Greater),
            ("1.4_rc1", "1.4", Less),
            ("7.51.0-r0", "7.51.0", Greater),
            ("1.2.2-r1", "1.2.2", Greater),
            ("4.5_p1-r1", "4.5_p1", Greater),
            ("2.9.11_pre20051101-r3", "2.9.11_pre20051101", Greater),
            ("0.1.0_alpha_pre2", "0.1.0_alpha", Less),
            ("1.3_pre1-r1", "1.3.2", Less),
            ("1.0_p10-r0", "1.0_p9-r0", Greater),
            ("006", "1.0.0", Greater),
            ("02.08.01b", "4.77", Less),
            ("2.12r-r4", "2.12r-r5", Less),
            ("0.59s-r11", "0.65", Less),
            ("1.7", "1.7b", Less),
            ("1.8.5", "1.8.5_p2", Less),
            ("0.20070118", "0.20070207_rc1", Less),
            ("0.20070207_rc1", "1.0", Less),
            ("3.0.20060720", "20060720", Less),
            ("2.5.1-r8", "2.5.1a-r1", Less),
            ("0.9.28-r2", "0.9.28.1", Less),
            ("087-r1", "103", Less),
            (
                "1.0.0_pre20191002222144-r0",
                "1.0.0_pre20210530193627-r0",
                Less,
            ),
            ("3.9_pre20060124", "0.01", Greater),
            ("1.2.07.8", "1.2.12.04", Less),
            ("1.07-r1", "1.07.5", Less),
        ];
        for (a, b, want) in table {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "", "1_foo", "1__", "1-x", "1.0a.1", "1.0-r2.1", "1.0-2", "1 0", "1.0-r1a",
        ] {
            assert!(bad.parse::<ApkVersion>().is_err(), "{bad:?}");
        }
    }

    fn arb() -> impl Strategy<Value = String> {
        "[0-9]{1,2}(\\.[0-9]{1,2}){0,2}[a-c]?(_(alpha|beta|pre|rc|cvs|p)[0-9]?){0,2}(-r[0-9])?"
    }

    proptest! {
        #[test]
        fn total_order(a in arb(), b in arb(), c in arb()) {
            let (a, b, c): (ApkVersion, ApkVersion, ApkVersion) =
                (a.parse().unwrap(), b.parse().unwrap(), c.parse().unwrap());
            crate::version::order_laws(&a, &b, &c)?;
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<ApkVersion>();
        }
    }
}
