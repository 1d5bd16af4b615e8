//! node-semver range expressions (`<1.2.3 || >=2.0.0 <2.0.5`, `~1.2`, `^0.3.x`,
//! `1.2 - 2.3.4`, `*`) parsed into an AST and desugared into version intervals, and
//! those intervals turned into OSV SEMVER events. Also used by the RustSec connector
//! for its version type and bound arithmetic.
//!
//! OSV SEMVER ranges order versions by SemVer precedence only; node-semver additionally
//! hides pre-releases from ranges whose comparators name no pre-release of the same
//! `major.minor.patch`. That filter is not representable in OSV and is dropped (a
//! pre-release may therefore match an OSV range it would not match in npm).

use crate::version::semver::{check_core_number, cmp_pre_release, split_parts};
use std::cmp::Ordering;
use std::fmt;

/// Longest range expression accepted, in bytes.
pub const MAX_RANGE_LEN: usize = 1024;
/// Most `||` alternatives in one expression.
pub const MAX_ALTERNATIVES: usize = 64;
/// Most comparators in one alternative.
pub const MAX_COMPARATORS: usize = 16;

/// A SemVer version: numeric core and dot-separated pre-release identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ver {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
    /// Pre-release identifiers (empty for a release).
    pub pre: Vec<String>,
}

impl Ver {
    /// A release version.
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
            pre: Vec::new(),
        }
    }

    /// `self` with pre-release `0`, the lowest version of its `major.minor.patch`.
    pub fn with_pre_zero(mut self) -> Self {
        self.pre = vec!["0".to_owned()];
        self
    }

    /// The lowest version above `self` by SemVer precedence: `1.2.3` → `1.2.4-0`,
    /// `1.0.0-alpha` → `1.0.0-alpha.0`. `None` on overflow.
    pub fn successor(&self) -> Option<Ver> {
        if self.pre.is_empty() {
            Some(Ver::new(self.major, self.minor, self.patch.checked_add(1)?).with_pre_zero())
        } else {
            let mut next = self.clone();
            next.pre.push("0".to_owned());
            Some(next)
        }
    }

    /// Parses `1.2.3`, `1.2.3-beta.1`, `1.2.3+build` (build dropped); a leading `v`/`=`
    /// is not accepted here (the range parser strips it).
    pub fn parse(text: &str) -> Option<Ver> {
        let (core, pre) = split_pre(text)?;
        let mut parts = core.split('.');
        let major = num(parts.next()?)?;
        let minor = num(parts.next()?)?;
        let patch = num(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        Some(Ver {
            major,
            minor,
            patch,
            pre,
        })
    }
}

/// Splits `core[-pre][+build]` by the SemVer grammar (build dropped).
fn split_pre(text: &str) -> Option<(&str, Vec<String>)> {
    let parts = split_parts(text).ok()?;
    let pre = parts
        .pre
        .map(|p| p.split('.').map(str::to_owned).collect())
        .unwrap_or_default();
    Some((parts.core, pre))
}

/// A numeric component: a SemVer core number that fits u64.
fn num(s: &str) -> Option<u64> {
    check_core_number(s).ok()?;
    s.parse().ok()
}

impl Ord for Ver {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| cmp_pre_release(&self.pre, &other.pre))
            // `01` (not valid SemVer, but accepted) has the precedence of `1`; the
            // spelling breaks the tie so that the order agrees with `==`.
            .then_with(|| self.pre.cmp(&other.pre))
    }
}

impl PartialOrd for Ver {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Ver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre.join("."))?;
        }
        Ok(())
    }
}

/// A possibly partial version: `1`, `1.2`, `1.2.x`, `*`, `1.2.3-beta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    /// Major, `None` for a wildcard.
    pub major: Option<u64>,
    /// Minor, `None` when absent or a wildcard.
    pub minor: Option<u64>,
    /// Patch, `None` when absent or a wildcard.
    pub patch: Option<u64>,
    /// Pre-release identifiers (only with a full version).
    pub pre: Vec<String>,
}

impl Partial {
    fn full(&self) -> Option<Ver> {
        Some(Ver {
            major: self.major?,
            minor: self.minor?,
            patch: self.patch?,
            pre: self.pre.clone(),
        })
    }

    /// The lowest version it covers (`1.2` → `1.2.0`, `*` → `0.0.0`).
    fn floor(&self) -> Ver {
        Ver {
            major: self.major.unwrap_or(0),
            minor: self.minor.unwrap_or(0),
            patch: self.patch.unwrap_or(0),
            pre: self.pre.clone(),
        }
    }

    /// The lowest version above everything it covers (`1.2` → `1.3.0-0`); `None` for
    /// a full version (no ceiling beyond itself) or on overflow / wildcard major.
    fn ceiling(&self) -> Option<Ver> {
        match (self.major, self.minor, self.patch) {
            (Some(m), None, _) => Some(Ver::new(m.checked_add(1)?, 0, 0).with_pre_zero()),
            (Some(m), Some(n), None) => Some(Ver::new(m, n.checked_add(1)?, 0).with_pre_zero()),
            _ => None,
        }
    }
}

impl fmt::Display for Partial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(major) = self.major else {
            return f.write_str("*");
        };
        write!(f, "{major}")?;
        if let Some(minor) = self.minor {
            write!(f, ".{minor}")?;
            if let Some(patch) = self.patch {
                write!(f, ".{patch}")?;
                if !self.pre.is_empty() {
                    write!(f, "-{}", self.pre.join("."))?;
                }
            } else {
                f.write_str(".x")?;
            }
        } else {
            f.write_str(".x")?;
        }
        Ok(())
    }
}

/// The operator of a primitive comparator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `=` or no operator.
    Eq,
    /// `~`.
    Tilde,
    /// `^`.
    Caret,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "",
            Op::Tilde => "~",
            Op::Caret => "^",
        }
    }
}

/// One element of an alternative: `op partial` or a hyphen range `a - b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparator {
    /// `>=1.2.3`, `~1.2`, `1.x`.
    Simple(Op, Partial),
    /// `1.2.3 - 2.3.4`.
    Hyphen(Partial, Partial),
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Comparator::Simple(op, p) => write!(f, "{}{p}", op.as_str()),
            Comparator::Hyphen(a, b) => write!(f, "{a} - {b}"),
        }
    }
}

/// A parsed range expression: alternatives joined by `||`, each an AND of comparators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeSet(pub Vec<Vec<Comparator>>);

impl fmt::Display for RangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, alt) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" || ")?;
            }
            for (j, c) in alt.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Why a range expression could not be read or represented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("range `{range}`: {reason}")]
pub struct RangeError {
    /// The expression (cut to 100 bytes).
    pub range: String,
    /// What is wrong.
    pub reason: String,
}

fn range_error(range: &str, reason: impl Into<String>) -> RangeError {
    let mut cut = range.len().min(100);
    while !range.is_char_boundary(cut) {
        cut -= 1;
    }
    RangeError {
        range: range.get(..cut).unwrap_or_default().to_owned(),
        reason: reason.into(),
    }
}

fn parse_partial(text: &str) -> Option<Partial> {
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let (core, pre) = split_pre(text)?;
    let mut out = Partial {
        major: None,
        minor: None,
        patch: None,
        pre: Vec::new(),
    };
    let wild = |s: &str| matches!(s, "x" | "X" | "*");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 {
        return None;
    }
    let mut seen_wild = false;
    for (i, part) in parts.iter().enumerate() {
        if wild(part) {
            seen_wild = true;
            continue;
        }
        // A number after a wildcard (`1.x.3`) is ignored by node-semver; we refuse it.
        if seen_wild {
            return None;
        }
        let n = num(part)?;
        match i {
            0 => out.major = Some(n),
            1 => out.minor = Some(n),
            _ => out.patch = Some(n),
        }
    }
    if !pre.is_empty() {
        out.patch?;
        out.pre = pre;
    }
    Some(out)
}

/// Parses a node-semver range expression.
pub fn parse(range: &str) -> Result<RangeSet, RangeError> {
    if range.len() > MAX_RANGE_LEN {
        return Err(range_error(
            range,
            format!("longer than {MAX_RANGE_LEN} bytes"),
        ));
    }
    let mut alternatives = Vec::new();
    for alt in range.split("||") {
        if alternatives.len() >= MAX_ALTERNATIVES {
            return Err(range_error(
                range,
                format!("more than {MAX_ALTERNATIVES} alternatives"),
            ));
        }
        alternatives.push(parse_alternative(alt).map_err(|r| range_error(range, r))?);
    }
    Ok(RangeSet(alternatives))
}

fn parse_alternative(alt: &str) -> Result<Vec<Comparator>, String> {
    let tokens: Vec<&str> = alt.split_whitespace().collect();
    // Hyphen range: exactly `a - b`.
    if let [a, "-", b] = tokens.as_slice() {
        let lo = parse_partial(a).ok_or_else(|| format!("bad version `{a}`"))?;
        let hi = parse_partial(b).ok_or_else(|| format!("bad version `{b}`"))?;
        return Ok(vec![Comparator::Hyphen(lo, hi)]);
    }
    let mut out = Vec::new();
    let mut pending: Option<Op> = None;
    for token in tokens {
        let (op, rest) = split_op(token);
        let op = match (pending.take(), op) {
            (Some(_), Some(_)) => return Err(format!("two operators in a row at `{token}`")),
            (Some(p), None) => p,
            (None, o) => o.unwrap_or(Op::Eq),
        };
        if rest.is_empty() {
            // node-semver allows a space between operator and version (`>= 1.2.3`).
            pending = Some(op);
            continue;
        }
        if token == "-" {
            return Err("misplaced hyphen".to_owned());
        }
        let p = parse_partial(rest).ok_or_else(|| format!("bad version `{rest}`"))?;
        if out.len() >= MAX_COMPARATORS {
            return Err(format!("more than {MAX_COMPARATORS} comparators"));
        }
        out.push(Comparator::Simple(op, p));
    }
    if pending.is_some() {
        return Err("operator without a version".to_owned());
    }
    if out.is_empty() {
        // An empty alternative means any version, as `*` does.
        out.push(Comparator::Simple(
            Op::Eq,
            parse_partial("*").unwrap_or(Partial {
                major: None,
                minor: None,
                patch: None,
                pre: Vec::new(),
            }),
        ));
    }
    Ok(out)
}

fn split_op(token: &str) -> (Option<Op>, &str) {
    for (prefix, op) in [
        (">=", Op::Ge),
        ("<=", Op::Le),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
        ("~>", Op::Tilde),
        ("~", Op::Tilde),
        ("^", Op::Caret),
    ] {
        if let Some(rest) = token.strip_prefix(prefix) {
            return (Some(op), rest);
        }
    }
    (None, token)
}

/// A lower bound of an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lower {
    /// From the very first version.
    Unbounded,
    /// From this version on, inclusive.
    Inclusive(Ver),
    /// Above this version.
    Exclusive(Ver),
}

/// An upper bound of an interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upper {
    /// No end.
    Unbounded,
    /// Up to and including this version.
    Inclusive(Ver),
    /// Below this version.
    Exclusive(Ver),
}

/// A contiguous set of versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// Lower bound.
    pub lower: Lower,
    /// Upper bound.
    pub upper: Upper,
}

/// Orders lower bounds: the lower the bound, the more it admits.
fn cmp_lower(a: &Lower, b: &Lower) -> Ordering {
    match (a, b) {
        (Lower::Unbounded, Lower::Unbounded) => Ordering::Equal,
        (Lower::Unbounded, _) => Ordering::Less,
        (_, Lower::Unbounded) => Ordering::Greater,
        (Lower::Inclusive(x), Lower::Inclusive(y)) | (Lower::Exclusive(x), Lower::Exclusive(y)) => {
            x.cmp(y)
        }
        (Lower::Inclusive(x), Lower::Exclusive(y)) => x.cmp(y).then(Ordering::Less),
        (Lower::Exclusive(x), Lower::Inclusive(y)) => x.cmp(y).then(Ordering::Greater),
    }
}

fn cmp_upper(a: &Upper, b: &Upper) -> Ordering {
    match (a, b) {
        (Upper::Unbounded, Upper::Unbounded) => Ordering::Equal,
        (Upper::Unbounded, _) => Ordering::Greater,
        (_, Upper::Unbounded) => Ordering::Less,
        (Upper::Inclusive(x), Upper::Inclusive(y)) | (Upper::Exclusive(x), Upper::Exclusive(y)) => {
            x.cmp(y)
        }
        (Upper::Inclusive(x), Upper::Exclusive(y)) => x.cmp(y).then(Ordering::Greater),
        (Upper::Exclusive(x), Upper::Inclusive(y)) => x.cmp(y).then(Ordering::Less),
    }
}

/// True when an interval from `lower` to `upper` holds no version.
fn empty(lower: &Lower, upper: &Upper) -> bool {
    match (lower, upper) {
        // Below 0.0.0 there are only pre-releases, which node-semver never lets a
        // comparator without a pre-release match: `<0.0.0` (the WG's "no patch") is empty.
        (Lower::Unbounded, Upper::Exclusive(u)) => u <= &Ver::new(0, 0, 0),
        (Lower::Unbounded, _) | (_, Upper::Unbounded) => false,
        (Lower::Inclusive(l), Upper::Inclusive(u)) => l > u,
        (Lower::Inclusive(l), Upper::Exclusive(u)) | (Lower::Exclusive(l), Upper::Inclusive(u)) => {
            l >= u
        }
        // (l, u) is empty when u is l's successor or below.
        (Lower::Exclusive(l), Upper::Exclusive(u)) => l.successor().is_none_or(|s| &s >= u),
    }
}

/// True when `b` (starting at or after `a`'s start) touches or overlaps `a`.
fn joins(a_upper: &Upper, b_lower: &Lower) -> bool {
    match (a_upper, b_lower) {
        (Upper::Unbounded, _) | (_, Lower::Unbounded) => true,
        (Upper::Inclusive(u), Lower::Inclusive(l)) => l <= u || u.successor().as_ref() == Some(l),
        (Upper::Inclusive(u), Lower::Exclusive(l)) => l <= u,
        (Upper::Exclusive(u), Lower::Inclusive(l)) => l <= u,
        (Upper::Exclusive(u), Lower::Exclusive(l)) => l < u,
    }
}

/// The interval of one comparator; `None` when it admits nothing.
fn comparator_interval(c: &Comparator) -> Option<Interval> {
    let all = Interval {
        lower: Lower::Unbounded,
        upper: Upper::Unbounded,
    };
    let ceiling_or = |p: &Partial, inclusive_full: bool| -> Upper {
        match (p.full(), p.ceiling()) {
            (Some(v), _) => {
                if inclusive_full {
                    Upper::Inclusive(v)
                } else {
                    Upper::Exclusive(v)
                }
            }
            (None, Some(c)) => Upper::Exclusive(c),
            // `*` as an upper bound, or overflow: no bound.
            (None, None) => Upper::Unbounded,
        }
    };
    let nothing = Interval {
        lower: Lower::Inclusive(Ver::new(0, 0, 0)),
        upper: Upper::Exclusive(Ver::new(0, 0, 0).with_pre_zero()),
    };
    let iv = match c {
        Comparator::Hyphen(a, b) => Interval {
            lower: if a.major.is_none() {
                Lower::Unbounded
            } else {
                Lower::Inclusive(a.floor())
            },
            upper: ceiling_or(b, true),
        },
        Comparator::Simple(op, p) => {
            if p.major.is_none() {
                // `*`, `>=*`, `<=*` admit everything; `<*` and `>*` admit nothing.
                return match op {
                    Op::Lt | Op::Gt => None,
                    _ => Some(all),
                };
            }
            match op {
                Op::Eq => match p.full() {
                    Some(v) => Interval {
                        lower: Lower::Inclusive(v.clone()),
                        upper: Upper::Inclusive(v),
                    },
                    None => Interval {
                        lower: Lower::Inclusive(p.floor()),
                        upper: ceiling_or(p, true),
                    },
                },
                Op::Ge => Interval {
                    lower: Lower::Inclusive(p.floor()),
                    upper: Upper::Unbounded,
                },
                Op::Gt => match (p.full(), p.ceiling()) {
                    (Some(v), _) => Interval {
                        lower: Lower::Exclusive(v),
                        upper: Upper::Unbounded,
                    },
                    // `>1.2` is `>=1.3.0`.
                    (None, Some(c)) => Interval {
                        lower: Lower::Inclusive(Ver::new(c.major, c.minor, c.patch)),
                        upper: Upper::Unbounded,
                    },
                    (None, None) => nothing,
                },
                Op::Lt => Interval {
                    lower: Lower::Unbounded,
                    upper: match p.full() {
                        Some(v) => Upper::Exclusive(v),
                        // `<1.2` is `<1.2.0-0`.
                        None => Upper::Exclusive(p.floor().with_pre_zero()),
                    },
                },
                Op::Le => Interval {
                    lower: Lower::Unbounded,
                    upper: ceiling_or(p, true),
                },
                Op::Tilde => {
                    let major = p.major.unwrap_or(0);
                    let upper = match p.minor {
                        Some(minor) => minor.checked_add(1).map(|n| Ver::new(major, n, 0)),
                        None => major.checked_add(1).map(|m| Ver::new(m, 0, 0)),
                    };
                    Interval {
                        lower: Lower::Inclusive(p.floor()),
                        upper: upper
                            .map_or(Upper::Unbounded, |u| Upper::Exclusive(u.with_pre_zero())),
                    }
                }
                Op::Caret => {
                    let major = p.major.unwrap_or(0);
                    let upper = match (major, p.minor, p.patch) {
                        (0, Some(0), Some(patch)) => {
                            patch.checked_add(1).map(|q| Ver::new(0, 0, q))
                        }
                        (0, Some(minor), _) => minor.checked_add(1).map(|n| Ver::new(0, n, 0)),
                        (m, _, _) => m.checked_add(1).map(|m| Ver::new(m, 0, 0)),
                    };
                    // `^0.0` is `<0.1.0-0`, handled by the `(0, Some(minor), _)` arm: minor 0 → 0.1.0.
                    Interval {
                        lower: Lower::Inclusive(p.floor()),
                        upper: upper
                            .map_or(Upper::Unbounded, |u| Upper::Exclusive(u.with_pre_zero())),
                    }
                }
            }
        }
    };
    (!empty(&iv.lower, &iv.upper)).then_some(iv)
}

/// The versions a range admits, as sorted, disjoint, non-touching intervals.
pub fn intervals(set: &RangeSet) -> Vec<Interval> {
    let mut out: Vec<Interval> = Vec::new();
    for alt in &set.0 {
        let mut acc = Interval {
            lower: Lower::Unbounded,
            upper: Upper::Unbounded,
        };
        let mut admits = true;
        for c in alt {
            let Some(iv) = comparator_interval(c) else {
                admits = false;
                break;
            };
            if cmp_lower(&iv.lower, &acc.lower) == Ordering::Greater {
                acc.lower = iv.lower;
            }
            if cmp_upper(&iv.upper, &acc.upper) == Ordering::Less {
                acc.upper = iv.upper;
            }
        }
        if admits && !empty(&acc.lower, &acc.upper) {
            out.push(acc);
        }
    }
    merge(out)
}

/// Sorts intervals and merges those that overlap or touch.
pub fn merge(mut list: Vec<Interval>) -> Vec<Interval> {
    list.sort_by(|a, b| cmp_lower(&a.lower, &b.lower));
    let mut merged: Vec<Interval> = Vec::new();
    for iv in list {
        match merged.last_mut() {
            Some(last) if joins(&last.upper, &iv.lower) => {
                if cmp_upper(&iv.upper, &last.upper) == Ordering::Greater {
                    last.upper = iv.upper;
                }
            }
            _ => merged.push(iv),
        }
    }
    merged
}

/// One OSV event, as (key, version).
pub type OsvEvent = (&'static str, String);

/// OSV SEMVER events for sorted disjoint intervals: `introduced` (`0` when unbounded,
/// the successor of an exclusive lower bound), then `fixed` (exclusive upper) or
/// `last_affected` (inclusive upper). `None` if a bound cannot be written (overflow).
pub fn events(intervals: &[Interval]) -> Option<Vec<OsvEvent>> {
    let mut out = Vec::new();
    for iv in intervals {
        let introduced = match &iv.lower {
            Lower::Unbounded => "0".to_owned(),
            Lower::Inclusive(v) => v.to_string(),
            Lower::Exclusive(v) => v.successor()?.to_string(),
        };
        out.push(("introduced", introduced));
        match &iv.upper {
            Upper::Unbounded => {}
            Upper::Exclusive(v) => out.push(("fixed", v.to_string())),
            Upper::Inclusive(v) => out.push(("last_affected", v.to_string())),
        }
    }
    Some(out)
}

/// True when the two intervals share a version.
pub fn overlaps(a: &Interval, b: &Interval) -> bool {
    let lower = if cmp_lower(&a.lower, &b.lower) == Ordering::Greater {
        &a.lower
    } else {
        &b.lower
    };
    let upper = if cmp_upper(&a.upper, &b.upper) == Ordering::Less {
        &a.upper
    } else {
        &b.upper
    };
    !empty(lower, upper)
}

/// True when `v` lies in `iv`.
pub fn contains(iv: &Interval, v: &Ver) -> bool {
    let lo = match &iv.lower {
        Lower::Unbounded => true,
        Lower::Inclusive(l) => v >= l,
        Lower::Exclusive(l) => v > l,
    };
    let hi = match &iv.upper {
        Upper::Unbounded => true,
        Upper::Inclusive(u) => v <= u,
        Upper::Exclusive(u) => v < u,
    };
    lo && hi
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(range: &str) -> Vec<(String, String)> {
        let set = parse(range).unwrap_or_else(|e| panic!("{e}"));
        events(&intervals(&set))
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn node_semver_desugaring() {
        // Cases from node-semver's README (range grammar), hand-checked.
        assert_eq!(
            ev("<=2.1.3"),
            pairs(&[("introduced", "0"), ("last_affected", "2.1.3")])
        );
        assert_eq!(ev(">= 2.2.x"), pairs(&[("introduced", "2.2.0")]));
        // 2.1.0's pre-releases sit between `2.0.x` (< 2.1.0-0) and `2.1.x` (>= 2.1.0):
        // node-semver does not match them either, so the gap is right.
        assert_eq!(
            ev("2.0.x || 2.1.x"),
            pairs(&[
                ("introduced", "2.0.0"),
                ("fixed", "2.1.0-0"),
                ("introduced", "2.1.0"),
                ("fixed", "2.2.0-0")
            ])
        );
        assert_eq!(
            ev("~1.2.3"),
            pairs(&[("introduced", "1.2.3"), ("fixed", "1.3.0-0")])
        );
        assert_eq!(
            ev("~1"),
            pairs(&[("introduced", "1.0.0"), ("fixed", "2.0.0-0")])
        );
        assert_eq!(
            ev("^0.2.3"),
            pairs(&[("introduced", "0.2.3"), ("fixed", "0.3.0-0")])
        );
        assert_eq!(
            ev("^0.0.3"),
            pairs(&[("introduced", "0.0.3"), ("fixed", "0.0.4-0")])
        );
        assert_eq!(
            ev("^0.0"),
            pairs(&[("introduced", "0.0.0"), ("fixed", "0.1.0-0")])
        );
        assert_eq!(
            ev("^1.x"),
            pairs(&[("introduced", "1.0.0"), ("fixed", "2.0.0-0")])
        );
        assert_eq!(
            ev("1.2.3 - 2.3"),
            pairs(&[("introduced", "1.2.3"), ("fixed", "2.4.0-0")])
        );
        assert_eq!(
            ev("1.2 - 2.3.4"),
            pairs(&[("introduced", "1.2.0"), ("last_affected", "2.3.4")])
        );
        assert_eq!(ev(">1.2"), pairs(&[("introduced", "1.3.0")]));
        assert_eq!(
            ev("<1.2"),
            pairs(&[("introduced", "0"), ("fixed", "1.2.0-0")])
        );
        assert_eq!(ev(">0.12.7"), pairs(&[("introduced", "0.12.8-0")]));
        assert_eq!(ev("*"), pairs(&[("introduced", "0")]));
        assert_eq!(ev(""), pairs(&[("introduced", "0")]));
        assert_eq!(
            ev("2.1.4"),
            pairs(&[("introduced", "2.1.4"), ("last_affected", "2.1.4")])
        );
        assert!(ev("<0.0.0").is_empty());
        // Overlapping alternatives merge; disjoint ones stay apart, sorted.
        assert_eq!(
            ev("<2.0.1 || <1.1.7"),
            pairs(&[("introduced", "0"), ("fixed", "2.0.1")])
        );
        assert_eq!(
            ev("<1.6.6 || < 2.2.4 > 2.0.0"),
            pairs(&[
                ("introduced", "0"),
                ("fixed", "1.6.6"),
                ("introduced", "2.0.1-0"),
                ("fixed", "2.2.4")
            ])
        );
        assert_eq!(
            ev(">=2.0.0-alpha8 <=2.0.0-rc2 || >=2.0.0 <=2.13.0"),
            pairs(&[
                ("introduced", "2.0.0-alpha8"),
                ("last_affected", "2.0.0-rc2"),
                ("introduced", "2.0.0"),
                ("last_affected", "2.13.0")
            ])
        );
        // Touching intervals join: [1,2) ∪ [2,3) = [1,3).
        assert_eq!(
            ev(">=1.0.0 <2.0.0 || >=2.0.0 <3.0.0"),
            pairs(&[("introduced", "1.0.0"), ("fixed", "3.0.0")])
        );
    }

    #[test]
    fn bad_ranges_are_errors() {
        for bad in [
            ">=", "1.2.3.4", "01.2.3", ">= >= 1", "1.x.3", "a.b.c", "1 - ", "1.2.3-",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&"1 ||".repeat(100)).is_err());
    }

    #[test]
    fn version_order() {
        let v = |s: &str| Ver::parse(s).unwrap_or_else(|| panic!("{s}"));
        let list = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for w in list.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(v("1.2.3").successor(), Some(v("1.2.4-0")));
        assert_eq!(v("1.0.0-a").successor(), Some(v("1.0.0-a.0")));
    }

    fn partial() -> impl Strategy<Value = Partial> {
        (
            0u64..20,
            proptest::option::of(0u64..20),
            proptest::option::of(0u64..20),
            proptest::option::of("[a-z]{1,3}(\\.[0-9]{1,2})?"),
        )
            .prop_map(|(major, minor, patch, pre)| {
                let patch = minor.and(patch);
                let pre = if patch.is_some() {
                    pre.map(|p| p.split('.').map(str::to_owned).collect())
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                Partial {
                    major: Some(major),
                    minor,
                    patch,
                    pre,
                }
            })
    }

    fn comparator() -> impl Strategy<Value = Comparator> {
        let op = prop_oneof![
            Just(Op::Lt),
            Just(Op::Le),
            Just(Op::Gt),
            Just(Op::Ge),
            Just(Op::Eq),
            Just(Op::Tilde),
            Just(Op::Caret)
        ];
        prop_oneof![
            (op, partial()).prop_map(|(o, p)| Comparator::Simple(o, p)),
            (partial(), partial()).prop_map(|(a, b)| Comparator::Hyphen(a, b)),
        ]
    }

    fn alternative() -> impl Strategy<Value = Vec<Comparator>> {
        prop_oneof![
            comparator().prop_map(|c| vec![c]),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just(Op::Lt),
                        Just(Op::Le),
                        Just(Op::Gt),
                        Just(Op::Ge),
                        Just(Op::Eq),
                        Just(Op::Tilde),
                        Just(Op::Caret)
                    ],
                    partial()
                )
                    .prop_map(|(o, p)| Comparator::Simple(o, p)),
                1..4
            ),
        ]
    }

    proptest! {
        #[test]
        fn generated_ranges_round_trip(alts in proptest::collection::vec(alternative(), 1..4)) {
            let set = RangeSet(alts);
            let text = set.to_string();
            let back = parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, &set);
            // Events describe exactly the admitted versions at the bounds used.
            let ivs = intervals(&set);
            for w in ivs.windows(2) {
                prop_assert!(!joins(&w[0].upper, &w[1].lower));
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,64}") {
            if let Ok(set) = parse(&text) {
                let _ = events(&intervals(&set));
            }
        }

        #[test]
        fn membership_matches_comparators(alts in proptest::collection::vec(alternative(), 1..3), probe in partial()) {
            let set = RangeSet(alts);
            let v = probe.floor();
            let ivs = intervals(&set);
            let by_union = ivs.iter().any(|iv| contains(iv, &v));
            let by_alts = set.0.iter().any(|alt| alt.iter().all(|c| comparator_interval(c).is_some_and(|iv| contains(&iv, &v))));
            prop_assert_eq!(by_union, by_alts);
        }
    }
}
