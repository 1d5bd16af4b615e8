//! Package URLs, parsed and normalised per the package-url specification.
//!
//! Parsing follows the spec's "how to parse" algorithm (split `#`, `?` from the
//! right, scheme and type from the left, `@` and `/` from the right), with the
//! type-specific case rules of PURL-TYPES. Two deliberate deviations, both to keep
//! purls matching the names advisories use: `npm` names keep their case (legacy
//! packages such as `JSONStream` are upper-case) and `golang` namespace/name keep
//! their case (Go module paths are case-sensitive; later spec revisions agree).

use std::collections::BTreeMap;
use std::fmt;

/// Longest purl string accepted; real purls are far shorter, and this bounds work
/// on hostile input.
pub const MAX_PURL_LEN: usize = 4096;

/// A parsed package URL: `pkg:type/namespace/name@version?qualifiers#subpath`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Purl {
    /// Package type, lower-cased (`deb`, `pypi`, `npm`, ...).
    pub ty: String,
    /// Namespace segments joined by `/`, decoded and normalised per type.
    pub namespace: Option<String>,
    /// Package name, decoded and normalised per type.
    pub name: String,
    /// Version, decoded.
    pub version: Option<String>,
    /// Qualifiers with lower-cased keys, decoded values; empty values dropped.
    pub qualifiers: BTreeMap<String, String>,
    /// Subpath, decoded, without leading/trailing slashes.
    pub subpath: Option<String>,
}

/// Why a string is not a valid package URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid package URL {input:?}: {reason}")]
pub struct PurlError {
    /// The offending input (truncated for display).
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl PurlError {
    fn new(input: &str, reason: impl Into<String>) -> PurlError {
        // Keep error messages short even for huge inputs; cut on a char boundary.
        let mut end = input.len().min(120);
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        let mut shown = input.get(..end).unwrap_or_default().to_string();
        if end < input.len() {
            shown.push('…');
        }
        PurlError {
            input: shown,
            reason: reason.into(),
        }
    }
}

impl Purl {
    /// Parse and normalise a package URL string.
    pub fn parse(s: &str) -> Result<Purl, PurlError> {
        let err = |reason: &str| PurlError::new(s, reason);
        if s.len() > MAX_PURL_LEN {
            return Err(err(&format!("longer than {MAX_PURL_LEN} bytes")));
        }
        let input = s.trim();

        // Subpath: after the last '#'.
        let (rest, subpath) = match input.rsplit_once('#') {
            Some((r, sp)) => (r, parse_subpath(sp).map_err(|e| err(&e))?),
            None => (input, None),
        };
        // Qualifiers: after the last '?'.
        let (rest, qualifiers) = match rest.rsplit_once('?') {
            Some((r, q)) => (r, parse_qualifiers(q).map_err(|e| err(&e))?),
            None => (rest, BTreeMap::new()),
        };
        // Scheme: before the first ':', case-insensitive; slashes after it are not
        // significant (`pkg://` is common in the wild).
        let (scheme, rest) = rest
            .split_once(':')
            .ok_or_else(|| err("missing scheme \"pkg:\""))?;
        if !scheme.eq_ignore_ascii_case("pkg") {
            return Err(err("scheme is not \"pkg\""));
        }
        let rest = rest.trim_start_matches('/');
        // Type: up to the first '/'.
        let (ty, rest) = rest
            .split_once('/')
            .ok_or_else(|| err("missing type or name"))?;
        let ty = ty.to_ascii_lowercase();
        validate_type(&ty).map_err(|e| err(&e))?;
        let rest = rest.trim_end_matches('/');
        // Version: after the last '@' of the last segment (an npm scope's '@' sits
        // in an earlier segment, and may be unencoded in the wild).
        let tail_start = rest.rfind('/').map_or(0, |i| i + 1);
        let (rest, version) = match rest.get(tail_start..).and_then(|t| t.rfind('@')) {
            Some(at) => {
                let at = tail_start + at;
                let v = decode(rest.get(at + 1..).unwrap_or_default()).map_err(|e| err(&e))?;
                (
                    rest.get(..at).unwrap_or_default(),
                    if v.is_empty() { None } else { Some(v) },
                )
            }
            None => (rest, None),
        };
        // Name: after the last '/'; namespace: the segments before it.
        let (ns_raw, name_raw) = match rest.rsplit_once('/') {
            Some((ns, n)) => (Some(ns), n),
            None => (None, rest),
        };
        let name = decode(name_raw).map_err(|e| err(&e))?;
        if name.is_empty() {
            return Err(err("missing name"));
        }
        let namespace = match ns_raw {
            Some(ns) => {
                let mut segs = Vec::new();
                for seg in ns.split('/').filter(|x| !x.is_empty()) {
                    let d = decode(seg).map_err(|e| err(&e))?;
                    if d.contains('/') || d.is_empty() {
                        return Err(err("namespace segment contains '/' or is empty"));
                    }
                    segs.push(d);
                }
                if segs.is_empty() {
                    None
                } else {
                    Some(segs.join("/"))
                }
            }
            None => None,
        };
        let mut purl = Purl {
            ty,
            namespace,
            name,
            version,
            qualifiers,
            subpath,
        };
        purl.normalise_for_type();
        purl.check_type_rules().map_err(|e| err(&e))?;
        // Encoding can triple a string's length; bounding the canonical form too keeps
        // every accepted purl's Display re-parseable.
        if purl.to_string().len() > MAX_PURL_LEN {
            return Err(err(&format!(
                "canonical form longer than {MAX_PURL_LEN} bytes"
            )));
        }
        Ok(purl)
    }

    /// Apply the case and spelling rules of PURL-TYPES for this purl's type.
    fn normalise_for_type(&mut self) {
        let lower_ns = |p: &mut Purl| {
            if let Some(ns) = p.namespace.as_mut() {
                *ns = ns.to_lowercase();
            }
        };
        match self.ty.as_str() {
            "alpm" | "apk" | "bitbucket" | "composer" | "deb" | "github" | "hex" | "luarocks" => {
                lower_ns(self);
                self.name = self.name.to_lowercase();
            }
            "rpm" | "qpkg" => lower_ns(self),
            "oci" | "pub" | "bitnami" => self.name = self.name.to_lowercase(),
            "pypi" => self.name = self.name.to_lowercase().replace('_', "-"),
            "huggingface" => {
                if let Some(v) = self.version.as_mut() {
                    *v = v.to_lowercase();
                }
            }
            _ => {}
        }
    }

    /// Required components that PURL-TYPES demands for some types.
    fn check_type_rules(&self) -> Result<(), String> {
        match self.ty.as_str() {
            "conan" => {
                // A conan namespace (user) and the channel qualifier come together.
                let has_channel = self.qualifiers.contains_key("channel");
                if self.namespace.is_some() != has_channel {
                    return Err("conan namespace and channel qualifier must come together".into());
                }
            }
            "cran" if self.version.is_none() => return Err("cran requires a version".into()),
            "swift" => {
                if self.namespace.is_none() {
                    return Err("swift requires a namespace".into());
                }
                if self.version.is_none() {
                    return Err("swift requires a version".into());
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl std::str::FromStr for Purl {
    type Err = PurlError;
    fn from_str(s: &str) -> Result<Purl, PurlError> {
        Purl::parse(s)
    }
}

impl fmt::Display for Purl {
    /// The canonical form: lower-case type, percent-encoded segments, sorted
    /// qualifiers without empty values, subpath without `.`/`..`/empty segments.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkg:{}/", self.ty)?;
        if let Some(ns) = &self.namespace {
            for seg in ns.split('/').filter(|x| !x.is_empty()) {
                write!(f, "{}/", encode(seg, false))?;
            }
        }
        f.write_str(&encode(&self.name, false))?;
        if let Some(v) = &self.version {
            write!(f, "@{}", encode(v, false))?;
        }
        let mut sep = '?';
        for (k, v) in &self.qualifiers {
            if v.is_empty() {
                continue;
            }
            write!(f, "{sep}{k}={}", encode(v, true))?;
            sep = '&';
        }
        if let Some(sp) = &self.subpath {
            let segs: Vec<String> = sp
                .split('/')
                .filter(|x| !matches!(*x, "" | "." | ".."))
                .map(|x| encode(x, false))
                .collect();
            if !segs.is_empty() {
                write!(f, "#{}", segs.join("/"))?;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Purl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Purl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Purl, D::Error> {
        let s = String::deserialize(d)?;
        Purl::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Type: ASCII letters, digits, `.`, `+`, `-`; not starting with a digit.
fn validate_type(ty: &str) -> Result<(), String> {
    if ty.is_empty() {
        return Err("missing type".into());
    }
    if ty.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("type starts with a digit".into());
    }
    if !ty
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '+' | '-'))
    {
        return Err("type contains a character other than letters, digits, '.', '+', '-'".into());
    }
    Ok(())
}

/// Qualifiers `k=v&k2=v2`: keys lower-cased and validated, values decoded, empty
/// values dropped, duplicate keys rejected.
fn parse_qualifiers(q: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = k.to_ascii_lowercase();
        if key.is_empty()
            || key.starts_with(|c: char| c.is_ascii_digit())
            || !key.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_')
            })
        {
            return Err(format!("invalid qualifier key {key:?}"));
        }
        let value = decode(v)?;
        if value.is_empty() {
            continue;
        }
        if out.insert(key.clone(), value).is_some() {
            return Err(format!("duplicate qualifier key {key:?}"));
        }
    }
    Ok(out)
}

/// Subpath: segments decoded; empty, `.` and `..` segments dropped.
fn parse_subpath(sp: &str) -> Result<Option<String>, String> {
    let mut segs = Vec::new();
    for seg in sp.split('/') {
        // A decoded segment may itself contain '/'; splitting again keeps the
        // stored form equal to what Display would re-parse to.
        let d = decode(seg)?;
        segs.extend(
            d.split('/')
                .filter(|x| !matches!(*x, "" | "." | ".."))
                .map(str::to_string),
        );
    }
    Ok(if segs.is_empty() {
        None
    } else {
        Some(segs.join("/"))
    })
}

/// Percent-decode; malformed escapes and non-UTF-8 results are errors.
fn decode(s: &str) -> Result<String, String> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16));
            match (hi, lo) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err("malformed percent-encoding".into()),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-decoded bytes are not UTF-8".into())
}

/// Percent-encode everything but unreserved characters and `:` (which the spec
/// says must not be encoded); qualifier values also keep `/`.
fn encode(s: &str, qualifier_value: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'.' | b'-' | b'_' | b'~' | b':')
            || (qualifier_value && b == b'/');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Purl {
        match Purl::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn debian_with_epoch_and_distro() {
        let purl = p("pkg:deb/debian/Libc6@2:2.36-9+deb12u4?arch=amd64&distro=debian-12");
        assert_eq!(purl.ty, "deb");
        assert_eq!(purl.namespace.as_deref(), Some("debian"));
        assert_eq!(purl.name, "libc6");
        assert_eq!(purl.version.as_deref(), Some("2:2.36-9+deb12u4"));
        assert_eq!(
            purl.qualifiers.get("distro").map(String::as_str),
            Some("debian-12")
        );
        assert_eq!(
            purl.to_string(),
            "pkg:deb/debian/libc6@2:2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
    }

    #[test]
    fn scheme_case_and_slashes_tolerated() {
        assert_eq!(
            p("PKG://npm/left-pad@1.3.0").to_string(),
            "pkg:npm/left-pad@1.3.0"
        );
    }

    #[test]
    fn unencoded_npm_scope_and_subpath() {
        // From purl-spec tests/types/npm-test.json.
        let purl = p("pkg:npm/@babel/core#/googleapis/api/annotations/");
        assert_eq!(purl.namespace.as_deref(), Some("@babel"));
        assert_eq!(
            (purl.name.as_str(), purl.version.as_deref()),
            ("core", None)
        );
        assert_eq!(
            purl.to_string(),
            "pkg:npm/%40babel/core#googleapis/api/annotations"
        );
        let scoped = p("pkg:npm/@types/node@20.11.5");
        assert_eq!(scoped.to_string(), "pkg:npm/%40types/node@20.11.5");
    }

    #[test]
    fn npm_and_golang_keep_case() {
        assert_eq!(p("pkg:npm/JSONStream@1.3.5").name, "JSONStream");
        let g = p("pkg:golang/github.com/Azure/azure-sdk-for-go@v1.0.0");
        assert_eq!(g.namespace.as_deref(), Some("github.com/Azure"));
    }

    #[test]
    fn empty_qualifier_dropped_and_subpath_dots_removed() {
        let purl = p("pkg:generic/x@1?a=&B=2#./a/../b/");
        assert_eq!(purl.qualifiers.len(), 1);
        assert_eq!(purl.qualifiers.get("b").map(String::as_str), Some("2"));
        assert_eq!(purl.subpath.as_deref(), Some("a/b"));
    }

    #[test]
    fn canonical_form_is_bounded_too() {
        // 1500 two-byte chars: 3000 bytes in, 9000 bytes once percent-encoded.
        let s = format!("pkg:generic/{}", "é".repeat(1500));
        assert!(s.len() < MAX_PURL_LEN);
        let e = Purl::parse(&s).err().map(|e| e.reason).unwrap_or_default();
        assert!(e.contains("canonical form"), "{e}");
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "pkg:",
            "pkg:npm",
            "pkg:npm/",
            "pkg:npm/@1.0",
            "pkg:1abc/x",
            "pkg:npm/x?a=%zz",
            "pkg:npm/x@%ff",
            "pkg:npm/x?1a=b",
            "pkg:npm/x?a=1&A=2",
            "http:npm/x",
            // From purl-spec tests/spec/specification-test.json.
            "pkg:n&g?inx/nginx@0.8.9",
            "pkg:nginx:a/nginx@0.8.9",
            "pkg%3Amaven/org.apache.commons/io",
        ] {
            assert!(Purl::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("pkg:npm/{}", "a".repeat(MAX_PURL_LEN));
        let e = Purl::parse(&long)
            .err()
            .map(|e| e.reason)
            .unwrap_or_default();
        assert!(e.contains("longer than"), "{e}");
    }

    fn purl_strategy() -> impl Strategy<Value = String> {
        let seg = "[a-zA-Z0-9._~:@%/?#&=+ é-]{1,12}";
        (
            prop::sample::select(vec![
                "npm", "pypi", "deb", "golang", "maven", "generic", "rpm",
            ]),
            prop::option::of(seg),
            seg,
            prop::option::of(seg),
            prop::collection::btree_map("[a-z][a-z0-9_]{0,5}", seg, 0..3),
            prop::option::of(seg),
        )
            .prop_map(|(ty, ns, name, ver, q, sp)| {
                let mut s = format!("pkg:{ty}/");
                if let Some(ns) = ns {
                    s.push_str(&encode(&ns, false));
                    s.push('/');
                }
                s.push_str(&encode(&name, false));
                if let Some(v) = ver {
                    s.push('@');
                    s.push_str(&encode(&v, false));
                }
                let q: Vec<String> = q
                    .iter()
                    .map(|(k, v)| format!("{k}={}", encode(v, true)))
                    .collect();
                if !q.is_empty() {
                    s.push('?');
                    s.push_str(&q.join("&"));
                }
                if let Some(sp) = sp {
                    s.push('#');
                    s.push_str(
                        &sp.split('/')
                            .map(|x| encode(x, false))
                            .collect::<Vec<_>>()
                            .join("/"),
                    );
                }
                s
            })
    }

    proptest! {
        #[test]
        fn display_round_trips(s in purl_strategy()) {
            if let Ok(purl) = Purl::parse(&s) {
                let shown = purl.to_string();
                let again = Purl::parse(&shown);
                prop_assert_eq!(again.as_ref().ok(), Some(&purl), "{} -> {}", s, shown);
                prop_assert_eq!(again.map(|x| x.to_string()).ok(), Some(shown));
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,64}") {
            if let Ok(purl) = Purl::parse(&s) {
                prop_assert_eq!(Purl::parse(&purl.to_string()).ok(), Some(purl));
            }
        }

        #[test]
        fn parse_never_panics_on_purlish(s in "(?i:pkg):[/a-z%0-9@?#&=.:_-]{0,40}") {
            if let Ok(purl) = Purl::parse(&s) {
                prop_assert_eq!(Purl::parse(&purl.to_string()).ok(), Some(purl));
            }
        }
    }
}
