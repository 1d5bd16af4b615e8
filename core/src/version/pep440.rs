//! Python PEP 440 versions, parsed with the spec's permitted spellings and
//! normalised (`1.0-ALPHA.1` → `1.0a1`, `1.0-1` → `1.0.post1`, `1.0.dev` →
//! `1.0.dev0`), and ordered as `packaging.version.Version` orders them: epoch,
//! release (trailing zeros ignored), then `.devN` < `aN` < `bN` < `rcN` < final <
//! `.postN`, and a local label (`+ubuntu1`) sorts above the same public version.
//! Surrounding whitespace is ignored, as in `packaging`.

use super::{Num, Scheme, VersionError, ord_via_cmp};
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Pre-release phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Alpha,
    Beta,
    Rc,
}

/// One local-version segment: letters sort below numbers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LocalSeg {
    Alpha(String),
    Num(Num),
}

/// A parsed PEP 440 version.
#[derive(Debug, Clone)]
pub struct Pep440Version {
    epoch: Num,
    release: Vec<Num>,
    pre: Option<(Phase, Num)>,
    post: Option<Num>,
    dev: Option<Num>,
    local: Vec<LocalSeg>,
}

impl Pep440Version {
    /// True for pre-releases and developmental releases.
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }
}

/// Byte cursor over the lower-cased input.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn peek_at(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }
    fn digits(&mut self) -> Option<Num> {
        let st = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let d = self.s.get(st..self.i)?;
        (!d.is_empty()).then(|| Num::new(std::str::from_utf8(d).unwrap_or_default()))
    }
    /// Longest of `words` at the cursor (after an optional separator when
    /// `sep` is true); consumes it and returns its index.
    fn word(&mut self, words: &[&str]) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        let rest = self.s.get(self.i..)?;
        for (k, w) in words.iter().enumerate() {
            if rest.starts_with(w.as_bytes()) && best.is_none_or(|(_, l)| w.len() > l) {
                best = Some((k, w.len()));
            }
        }
        let (k, l) = best?;
        self.i += l;
        Some(k)
    }
    /// An optional `[-_.]` directly followed by something `ok` accepts.
    fn sep_then(&mut self, ok: impl Fn(&[u8]) -> bool) -> bool {
        let rest = self.s.get(self.i..).unwrap_or_default();
        if ok(rest) {
            return true;
        }
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) && ok(rest.get(1..).unwrap_or_default())
        {
            self.i += 1;
            return true;
        }
        false
    }
    /// `[-_.]?N?` after a keyword; the number defaults to 0. A separator with
    /// no number is taken here only when it cannot start the next component.
    fn number_after_keyword(&mut self) -> Num {
        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return self.digits().unwrap_or_default();
        }
        if matches!(self.peek(), Some(b'-' | b'_' | b'.')) {
            match self.peek_at(1) {
                Some(c) if c.is_ascii_digit() => {
                    self.i += 1;
                    return self.digits().unwrap_or_default();
                }
                Some(c) if c.is_ascii_alphabetic() => {}
                _ => self.i += 1,
            }
        }
        Num::default()
    }
}

const PRE_WORDS: [&str; 8] = ["alpha", "a", "beta", "b", "preview", "pre", "c", "rc"];
const POST_WORDS: [&str; 3] = ["post", "rev", "r"];

fn starts_with_any(rest: &[u8], words: &[&str]) -> bool {
    words.iter().any(|w| rest.starts_with(w.as_bytes()))
}

impl FromStr for Pep440Version {
    type Err = VersionError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |r: &str| VersionError::new(Scheme::Pep440, input, r);
        if input.len() > super::MAX_LEN {
            return Err(err("too long"));
        }
        let lower = input.trim().to_ascii_lowercase();
        let mut c = Cursor {
            s: lower.as_bytes(),
            i: 0,
        };
        if c.peek() == Some(b'v') {
            c.i += 1;
        }
        let first = c
            .digits()
            .ok_or_else(|| err("release must start with a number"))?;
        let (epoch, mut release) = if c.peek() == Some(b'!') {
            c.i += 1;
            let r = c.digits().ok_or_else(|| err("no release after epoch"))?;
            (first, vec![r])
        } else {
            (Num::default(), vec![first])
        };
        while c.peek() == Some(b'.') && c.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
            c.i += 1;
            release.push(c.digits().unwrap_or_default());
        }
        let mut pre = None;
        if c.sep_then(|r| starts_with_any(r, &PRE_WORDS)) {
            let k = c.word(&PRE_WORDS).unwrap_or_default();
            let phase = match k {
                0 | 1 => Phase::Alpha,
                2 | 3 => Phase::Beta,
                _ => Phase::Rc,
            };
            pre = Some((phase, c.number_after_keyword()));
        }
        let mut post = None;
        if c.peek() == Some(b'-') && c.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
            c.i += 1;
            post = c.digits();
        } else if c.sep_then(|r| starts_with_any(r, &POST_WORDS) && !r.starts_with(b"rc")) {
            c.word(&POST_WORDS);
            post = Some(c.number_after_keyword());
        }
        let mut dev = None;
        if c.sep_then(|r| r.starts_with(b"dev")) {
            c.i += 3;
            dev = Some(c.number_after_keyword());
        }
        let mut local = Vec::new();
        if c.peek() == Some(b'+') {
            c.i += 1;
            let rest = std::str::from_utf8(c.s.get(c.i..).unwrap_or_default()).unwrap_or_default();
            for seg in rest.split(['-', '_', '.']) {
                if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(err("invalid local version label"));
                }
                local.push(if seg.bytes().all(|b| b.is_ascii_digit()) {
                    LocalSeg::Num(Num::new(seg))
                } else {
                    LocalSeg::Alpha(seg.to_string())
                });
            }
            c.i = c.s.len();
        }
        if c.i != c.s.len() {
            return Err(err("unexpected text after version"));
        }
        Ok(Pep440Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }
}

impl Ord for Pep440Version {
    fn cmp(&self, other: &Self) -> Ordering {
        /// packaging's pre key: dev-only release < any pre-release < no pre.
        #[derive(PartialEq, Eq, PartialOrd, Ord)]
        enum PreKey<'a> {
            DevOnly,
            Pre(&'a (Phase, Num)),
            Final,
        }
        fn pre_key(v: &Pep440Version) -> PreKey<'_> {
            match (&v.pre, &v.post, &v.dev) {
                (None, None, Some(_)) => PreKey::DevOnly,
                (Some(p), _, _) => PreKey::Pre(p),
                _ => PreKey::Final,
            }
        }
        fn trimmed(r: &[Num]) -> &[Num] {
            let n = r.iter().rposition(|x| !x.is_zero()).map_or(0, |p| p + 1);
            r.get(..n).unwrap_or_default()
        }
        // dev: a dev release sorts before the same version without one.
        fn dev_key(v: &Pep440Version) -> (u8, Option<&Num>) {
            v.dev.as_ref().map_or((1, None), |d| (0, Some(d)))
        }
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| trimmed(&self.release).cmp(trimmed(&other.release)))
            .then_with(|| pre_key(self).cmp(&pre_key(other)))
            .then_with(|| self.post.cmp(&other.post))
            .then_with(|| dev_key(self).cmp(&dev_key(other)))
            .then_with(|| match (self.local.is_empty(), other.local.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                (false, false) => self.local.cmp(&other.local),
            })
    }
}

ord_via_cmp!(Pep440Version);

/// The normalised form (PEP 440 "Normalization").
impl fmt::Display for Pep440Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.epoch.is_zero() {
            write!(f, "{}!", self.epoch)?;
        }
        for (i, r) in self.release.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{r}")?;
        }
        if let Some((phase, n)) = &self.pre {
            let l = match phase {
                Phase::Alpha => "a",
                Phase::Beta => "b",
                Phase::Rc => "rc",
            };
            write!(f, "{l}{n}")?;
        }
        if let Some(n) = &self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = &self.dev {
            write!(f, ".dev{n}")?;
        }
        for (i, seg) in self.local.iter().enumerate() {
            f.write_str(if i == 0 { "+" } else { "." })?;
            match seg {
                LocalSeg::Alpha(s) => f.write_str(s)?,
                LocalSeg::Num(n) => write!(f, "{n}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Pep440Version {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    // PEP 440 "Summary of permitted suffixes and relative ordering" example list,
    // plus packaging's test_version.py ordering list (strictly increasing).
    #[test]
    fn pep440_ordering_examples() {
        let chain = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0b2-346",
            "1.0c1.dev456",
            "1.0c1",
            "1.0rc2",
            "1.0c3",
            "1.0",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
            "1.2+123abc",
            "1.2+123abc456",
            "1.2+abc",
            "1.2+abc123",
            "1.2+abc123def",
            "1.2+1234.abc",
            "1.2+123456",
            "1.2.r32+123456",
            "1.2.rev33+123456",
            "1!1.0.dev456",
            "1!1.0",
        ];
        for w in chain.windows(2) {
            if let [a, b] = w {
                assert!(p(a) < p(b), "{a} < {b}");
            }
        }
    }

    // PEP 440 "Normalization" section.
    #[test]
    fn normalisation() {
        let table = [
            ("1.0", "1.0"),
            ("1.1RC1", "1.1rc1"),
            ("00", "0"),
            ("09000", "9000"),
            ("1.0a", "1.0a0"),
            ("1.0-alpha.1", "1.0a1"),
            ("1.0.beta-2", "1.0b2"),
            ("1.0c1", "1.0rc1"),
            ("1.0pre1", "1.0rc1"),
            ("1.0preview1", "1.0rc1"),
            ("1.0-1", "1.0.post1"),
            ("1.0-post", "1.0.post0"),
            ("1.0.rev4", "1.0.post4"),
            ("1.0r4", "1.0.post4"),
            ("1.0_post_2", "1.0.post2"),
            ("1.0.dev", "1.0.dev0"),
            ("1.0-dev_3", "1.0.dev3"),
            ("v1.0", "1.0"),
            ("  1.0\n", "1.0"),
            ("1.0+ubuntu-1", "1.0+ubuntu.1"),
            ("1.0+Ubuntu_1", "1.0+ubuntu.1"),
            ("2!1.0rc1.post2.dev3+local.7", "2!1.0rc1.post2.dev3+local.7"),
            ("1.0a.", "1.0a0"),
        ];
        for (raw, norm) in table {
            assert_eq!(p(raw).to_string(), norm, "{raw:?}");
        }
        assert_eq!(p("1.0"), p("1.0.0"));
        assert_eq!(p("1.0+abc"), p("1.0+ABC"));
        assert!(p("1.0.dev0").is_prerelease());
    }

    #[test]
    fn rejects_non_pep440() {
        for bad in [
            "",
            "0.1-bulbasaur",
            "2019-09-12",
            "0.2.0-n653",
            "1.0+",
            "1.0+a..b",
            "1.0.",
            "a1",
            "1.0-",
            "1!",
            "1.0 1",
            "1.0a1a2",
            "1.0.post1.post2",
            "french toast",
        ] {
            assert!(bad.parse::<Pep440Version>().is_err(), "{bad:?}");
        }
    }

    fn arb() -> impl Strategy<Value = String> {
        "([1-2]!)?[0-9]{1,2}(\\.[0-9]{1,2}){0,2}((a|b|rc)[0-9])?(\\.post[0-9])?(\\.dev[0-9])?(\\+[a-z0-9]{1,3}(\\.[a-z0-9]{1,2})?)?"
    }

    proptest! {
        #[test]
        fn total_order(a in arb(), b in arb(), c in arb()) {
            let (a, b, c) = (p(&a), p(&b), p(&c));
            crate::version::order_laws(&a, &b, &c)?;
        }

        #[test]
        fn normal_form_round_trips(a in arb()) {
            let v = p(&a);
            let again = p(&v.to_string());
            prop_assert_eq!(&again, &v);
            prop_assert_eq!(again.to_string(), v.to_string());
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Pep440Version>();
        }
    }
}
