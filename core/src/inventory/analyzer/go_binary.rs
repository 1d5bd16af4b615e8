//! Go modules from the build information the Go linker embeds in executables
//! (the `.go.buildinfo` section): the toolchain version, the main module and
//! every dependency module, with `=>` replacements.
//!
//! Two header layouts exist. Go ≥ 1.18 writes the version and module strings
//! inline after a 32-byte header (flag bit 2); older toolchains wrote two
//! pointers to Go string headers elsewhere in the data segment, which only the
//! whole executable can resolve — [`decode_pointer_format`] does that at reduce
//! time through a virtual-address reader.

use crate::sbom::Purl;

/// The 14 bytes that start Go build information.
pub const BUILDINFO_MAGIC: &[u8; 14] = b"\xff Go buildinf:";

/// The header is 32 bytes: magic, pointer size, flags, padding.
const HEADER_LEN: usize = 32;
/// Flag bit: strings follow the header inline (Go ≥ 1.18).
const FLAG_INLINE: u8 = 0x2;
/// Flag bit: pointers are big endian (pointer format only).
const FLAG_BIG_ENDIAN: u8 = 0x1;
/// Build info strings longer than this are refused (Kubernetes-sized binaries
/// have well under 200 KiB of module lines).
pub const MAX_STRING: usize = 4 * 1024 * 1024;
/// The module info string is wrapped in 16 sentinel bytes on each side.
const SENTINEL_LEN: usize = 16;

/// Why Go build information could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoError {
    /// The bytes do not start with [`BUILDINFO_MAGIC`] and a full header.
    #[error("no Go build information header")]
    NoHeader,
    /// A length-prefixed string runs past the end of the data.
    #[error("{what} string is cut short")]
    Truncated {
        /// Which string.
        what: &'static str,
    },
    /// A string longer than [`MAX_STRING`].
    #[error("{what} string of {len} bytes is too long")]
    TooLong {
        /// Which string.
        what: &'static str,
        /// Its declared length.
        len: u64,
    },
    /// The pointer size byte is neither 4 nor 8.
    #[error("pointer size {0} is neither 4 nor 8")]
    BadPointerSize(u8),
    /// A pointer of the pre-1.18 layout does not lead into the file.
    #[error("{what} pointer {addr:#x} does not point into the executable")]
    BadPointer {
        /// What was being read.
        what: &'static str,
        /// The address.
        addr: u64,
    },
    /// The header says the pre-1.18 pointer layout, which needs the whole file.
    #[error("pre-Go 1.18 pointer layout needs the whole executable")]
    PointerFormat,
    /// The toolchain version string is empty (not a Go executable after all).
    #[error("empty Go version")]
    NoVersion,
    /// A module line does not have the shape `mod|dep|=>\tpath\tversion[\tsum]`.
    #[error("line {line}: malformed {kind} line")]
    BadLine {
        /// 1-based line number in the module info.
        line: usize,
        /// The line's keyword.
        kind: &'static str,
    },
}

/// A Go module named in build information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Module path (`golang.org/x/net`).
    pub path: String,
    /// Module version (`v0.21.0`, `(devel)` for an unversioned main module).
    pub version: String,
    /// `go.sum` hash, when recorded.
    pub sum: Option<String>,
    /// The module it was replaced by (`=>` line), if any.
    pub replace: Option<Box<Module>>,
}

/// Decoded build information of one executable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// Toolchain version as embedded (`go1.23.4`, `devel go1.24-abc`).
    pub go_version: String,
    /// The main package's import path (`path` line).
    pub path: Option<String>,
    /// The main module (`mod` line).
    pub main: Option<Module>,
    /// Dependency modules (`dep` lines), in order.
    pub deps: Vec<Module>,
    /// Build settings (`build` lines), as key and value.
    pub settings: Vec<(String, String)>,
}

/// An unsigned LEB128 varint (Go's `binary.Uvarint`): value and bytes used.
fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut x: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        let low = u64::from(byte & 0x7f);
        // The tenth byte may only carry the top bit of a u64.
        if i == 9 && byte > 1 {
            return None;
        }
        x |= low << (7 * i);
        if byte & 0x80 == 0 {
            return Some((x, i + 1));
        }
    }
    None
}

/// A varint-length-prefixed string from the front of `b`, and the rest.
fn prefixed<'a>(b: &'a [u8], what: &'static str) -> Result<(&'a [u8], &'a [u8]), GoError> {
    let (len, used) = uvarint(b).ok_or(GoError::Truncated { what })?;
    if len > MAX_STRING as u64 {
        return Err(GoError::TooLong { what, len });
    }
    let rest = b.get(used..).ok_or(GoError::Truncated { what })?;
    let n = usize::try_from(len).map_err(|_| GoError::TooLong { what, len })?;
    let s = rest.get(..n).ok_or(GoError::Truncated { what })?;
    Ok((s, rest.get(n..).unwrap_or_default()))
}

/// The header's flags byte, after checking the magic.
fn header_flags(data: &[u8]) -> Result<(u8, u8), GoError> {
    if !data.starts_with(BUILDINFO_MAGIC) || data.len() < HEADER_LEN {
        return Err(GoError::NoHeader);
    }
    let ptr_size = *data.get(14).ok_or(GoError::NoHeader)?;
    let flags = *data.get(15).ok_or(GoError::NoHeader)?;
    Ok((ptr_size, flags))
}

/// True when the header at the start of `data` is the Go ≥ 1.18 inline layout.
pub fn is_inline(data: &[u8]) -> bool {
    matches!(header_flags(data), Ok((_, f)) if f & FLAG_INLINE != 0)
}

/// The number of bytes the inline-layout build information at the start of
/// `data` occupies (header and both strings), to keep no more than that.
pub fn inline_len(data: &[u8]) -> Result<usize, GoError> {
    decode_inline_end(data).map(|(_, _, end)| end)
}

/// The raw toolchain version and module info strings of inline-layout build
/// information (`data` starts with the header).
pub fn decode_inline(data: &[u8]) -> Result<(&[u8], &[u8]), GoError> {
    decode_inline_end(data).map(|(v, m, _)| (v, m))
}

/// [`decode_inline`], and where the second string ends.
fn decode_inline_end(data: &[u8]) -> Result<(&[u8], &[u8], usize), GoError> {
    let (_, flags) = header_flags(data)?;
    if flags & FLAG_INLINE == 0 {
        return Err(GoError::PointerFormat);
    }
    let rest = data.get(HEADER_LEN..).ok_or(GoError::NoHeader)?;
    let (version, rest) = prefixed(rest, "version")?;
    let (modinfo, rest) = prefixed(rest, "module info")?;
    Ok((version, modinfo, data.len() - rest.len()))
}

/// The raw toolchain version and module info strings of pre-1.18 pointer-layout
/// build information. `read(addr, len)` returns `len` bytes at a virtual address
/// of the executable.
pub fn decode_pointer_format<'a>(
    data: &[u8],
    read: impl Fn(u64, u64) -> Option<&'a [u8]>,
) -> Result<(&'a [u8], &'a [u8]), GoError> {
    let (ptr_size, flags) = header_flags(data)?;
    if flags & FLAG_INLINE != 0 {
        return Err(GoError::NoHeader);
    }
    let be = flags & FLAG_BIG_ENDIAN != 0;
    let word = |b: &[u8]| -> Option<u64> {
        Some(match (ptr_size, be) {
            (4, false) => u64::from(u32::from_le_bytes(b.get(..4)?.try_into().ok()?)),
            (4, true) => u64::from(u32::from_be_bytes(b.get(..4)?.try_into().ok()?)),
            (8, false) => u64::from_le_bytes(b.get(..8)?.try_into().ok()?),
            (8, true) => u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
            _ => return None,
        })
    };
    if ptr_size != 4 && ptr_size != 8 {
        return Err(GoError::BadPointerSize(ptr_size));
    }
    let ps = usize::from(ptr_size);
    let string_at = |header_field: usize, what: &'static str| -> Result<&'a [u8], GoError> {
        // The header holds a pointer to a Go string header {data pointer, length}.
        let at = data
            .get(16 + header_field * ps..)
            .and_then(word)
            .ok_or(GoError::NoHeader)?;
        let hdr =
            read(at, 2 * u64::from(ptr_size)).ok_or(GoError::BadPointer { what, addr: at })?;
        let ptr = word(hdr).ok_or(GoError::BadPointer { what, addr: at })?;
        let len = hdr
            .get(ps..)
            .and_then(word)
            .ok_or(GoError::BadPointer { what, addr: at })?;
        if len > MAX_STRING as u64 {
            return Err(GoError::TooLong { what, len });
        }
        read(ptr, len).ok_or(GoError::BadPointer { what, addr: ptr })
    };
    Ok((string_at(0, "version")?, string_at(1, "module info")?))
}

/// The module info between its sentinels, as Go's `debug/buildinfo` cuts it:
/// empty when the sentinels are not there.
pub fn strip_sentinels(modinfo: &[u8]) -> &[u8] {
    let n = modinfo.len();
    if n > 2 * SENTINEL_LEN && modinfo.get(n - SENTINEL_LEN - 1) == Some(&b'\n') {
        modinfo
            .get(SENTINEL_LEN..n - SENTINEL_LEN)
            .unwrap_or_default()
    } else {
        &[]
    }
}

/// Parse the toolchain version and the module info text (sentinels already
/// removed). Unknown line kinds are skipped, for later Go versions; malformed
/// module lines are errors, as in Go's own `debug.ParseBuildInfo`.
pub fn parse(go_version: &str, modinfo: &str) -> Result<BuildInfo, GoError> {
    let go_version = go_version.trim();
    if go_version.is_empty() {
        return Err(GoError::NoVersion);
    }
    let mut info = BuildInfo {
        go_version: go_version.to_string(),
        ..BuildInfo::default()
    };
    // Which module the next `=>` line replaces: None, the main one, or a dep.
    #[derive(Clone, Copy)]
    enum Last {
        None,
        Main,
        Dep(usize),
    }
    let mut last = Last::None;
    for (i, line) in modinfo.lines().enumerate() {
        let (kind, rest) = line.split_once('\t').unwrap_or((line, ""));
        let bad = |kind: &'static str| GoError::BadLine { line: i + 1, kind };
        match kind {
            "path" => info.path = Some(rest.to_string()),
            "mod" => {
                info.main = Some(module(rest).ok_or_else(|| bad("mod"))?);
                last = Last::Main;
            }
            "dep" => {
                info.deps.push(module(rest).ok_or_else(|| bad("dep"))?);
                last = Last::Dep(info.deps.len() - 1);
            }
            "=>" => {
                let m = replacement(rest).ok_or_else(|| bad("=>"))?;
                let target = match last {
                    Last::Main => info.main.as_mut(),
                    Last::Dep(d) => info.deps.get_mut(d),
                    Last::None => None,
                };
                let target = target.ok_or_else(|| bad("=>"))?;
                if target.replace.is_some() {
                    return Err(bad("=>"));
                }
                target.replace = Some(Box::new(m));
                last = Last::None;
            }
            "build" => {
                if let Some((k, v)) = rest.split_once('=') {
                    info.settings.push((k.to_string(), v.to_string()));
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

/// `path\tversion[\tsum]`.
fn module(rest: &str) -> Option<Module> {
    let f: Vec<&str> = rest.split('\t').collect();
    match f.as_slice() {
        [path, version] | [path, version, _] if !path.is_empty() => Some(Module {
            path: (*path).to_string(),
            version: (*version).to_string(),
            sum: f.get(2).filter(|s| !s.is_empty()).map(|s| (*s).to_string()),
            replace: None,
        }),
        _ => None,
    }
}

/// `path\tversion\tsum`, where a directory replacement has an empty version.
fn replacement(rest: &str) -> Option<Module> {
    let f: Vec<&str> = rest.split('\t').collect();
    match f.as_slice() {
        [path, version, ..] if f.len() <= 3 && !path.is_empty() => Some(Module {
            path: (*path).to_string(),
            version: (*version).to_string(),
            sum: f.get(2).filter(|s| !s.is_empty()).map(|s| (*s).to_string()),
            replace: None,
        }),
        _ => None,
    }
}

/// A `pkg:golang` purl: the module path's last element is the name, the rest
/// the namespace.
pub fn purl(path: &str, version: &str) -> Purl {
    let (namespace, name) = match path.rsplit_once('/') {
        Some((ns, name)) => (Some(ns.to_string()), name.to_string()),
        None => (None, path.to_string()),
    };
    Purl {
        ty: "golang".into(),
        namespace,
        name,
        version: Some(version.to_string()),
        qualifiers: Default::default(),
        subpath: None,
    }
}

/// The toolchain release a Go version string names, without the `go` prefix
/// (`go1.23.4` → `1.23.4`; `go1.24.0 X:boringcrypto` → `1.24.0`), or `None`
/// for development toolchains (`devel go1.24-abc`).
pub fn stdlib_version(go_version: &str) -> Option<&str> {
    let first = go_version.split_whitespace().next()?;
    let v = first.strip_prefix("go")?;
    v.starts_with(|c: char| c.is_ascii_digit()).then_some(v)
}

/// The version of a main module the build recorded as `(devel)`, inferred as
/// Syft does: a release stamped with `-ldflags "-X main.version=1.2.3"` (or
/// `<module>/...Version=`, `gitVersion`, `buildVersion`), else the Go
/// pseudo-version of the VCS revision and time the toolchain recorded
/// (`v0.0.0-20241213183011-5e16e5031a13`).
pub fn inferred_main_version(info: &BuildInfo) -> Option<String> {
    let main = info.main.as_ref()?;
    let setting = |key: &str| {
        info.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    if let Some(v) = setting("-ldflags").and_then(|f| ldflags_version(f, &main.path)) {
        return Some(v);
    }
    let revision = setting("vcs.revision")?;
    let time: String = setting("vcs.time")?
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    if time.len() != 14 || revision.is_empty() {
        return None;
    }
    // Module paths ending in /vN (N ≥ 2) get vN.0.0 pseudo-versions.
    let major = main
        .path
        .rsplit_once("/v")
        .map(|(_, n)| n)
        .filter(|n| n.parse::<u32>().is_ok_and(|n| n >= 2))
        .unwrap_or("0");
    let short: String = revision.chars().take(12).collect();
    Some(format!("v{major}.0.0-{time}-{short}"))
}

/// The version a `-X pkg.version=...` linker flag stamps into the main package
/// or a package of the main module.
fn ldflags_version(flags: &str, module: &str) -> Option<String> {
    let flags = flags.trim_matches(|c| c == '"' || c == '\'');
    let mut tokens = flags.split_whitespace();
    while let Some(tok) = tokens.next() {
        let assignment = match tok.strip_prefix("-X") {
            Some("") => tokens.next()?,
            Some(rest) => rest.trim_start_matches('='),
            None => continue,
        };
        let assignment = assignment.trim_matches(|c| c == '"' || c == '\'');
        let Some((name, value)) = assignment.split_once('=') else {
            continue;
        };
        let Some((pkg, var)) = name.rsplit_once('.') else {
            continue;
        };
        let var = var.to_ascii_lowercase();
        let known =
            ["version", "gitversion", "buildversion", "gitbuildversion"].contains(&var.as_str());
        let ours = pkg == "main" || pkg == module || pkg.starts_with(&format!("{module}/"));
        if known
            && ours
            && let Some(v) = release_prefix(value)
        {
            return Some(if v.starts_with('v') {
                v.to_string()
            } else {
                format!("v{v}")
            });
        }
    }
    None
}

/// The `v?N.N.N[-word]` release at the start of `s`.
fn release_prefix(s: &str) -> Option<&str> {
    let digits = s.strip_prefix('v').unwrap_or(s);
    let skip = s.len() - digits.len();
    let mut end = 0;
    for part in 0..3 {
        let rest = digits.get(end..)?;
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        end += n;
        if part < 2 {
            if digits.as_bytes().get(end) != Some(&b'.') {
                return None;
            }
            end += 1;
        }
    }
    let tail = digits
        .get(end..)?
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        .count();
    s.get(..skip + end + tail)
}

/// The modules a build information names, as (module path, version): the main
/// module (its [`inferred_main_version`] when it is `(devel)`; left out when
/// there is none), every dependency (its
/// replacement when there is one; directory replacements, which have no
/// version, are left out), and the standard library as `stdlib` at the
/// toolchain version — the name Syft and Grype use, which Go vulnerability
/// records use for the standard library too.
pub fn modules(info: &BuildInfo) -> Vec<(String, String)> {
    let effective = |m: &Module| {
        let m = m.replace.as_deref().unwrap_or(m);
        (!m.version.is_empty() && m.version != "(devel)")
            .then(|| (m.path.clone(), m.version.clone()))
    };
    let main = info.main.as_ref().and_then(|m| {
        effective(m).or_else(|| {
            let v = inferred_main_version(info)?;
            Some((m.path.clone(), v))
        })
    });
    let mut out: Vec<(String, String)> = main
        .into_iter()
        .chain(info.deps.iter().filter_map(effective))
        .collect();
    if let Some(v) = stdlib_version(&info.go_version) {
        out.push(("stdlib".to_string(), v.to_string()));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Inline-layout build information for `version` and `modinfo` (sentinels
    /// added), as the Go ≥ 1.18 linker writes it.
    pub(crate) fn inline(version: &str, modinfo: &str) -> Vec<u8> {
        let mut v = BUILDINFO_MAGIC.to_vec();
        v.push(8);
        v.push(FLAG_INLINE);
        v.resize(HEADER_LEN, 0);
        let mut wrapped = Vec::new();
        if !modinfo.is_empty() {
            wrapped.extend_from_slice(&[0x30; SENTINEL_LEN]);
            wrapped.extend_from_slice(modinfo.as_bytes());
            wrapped.extend_from_slice(&[0xf9; SENTINEL_LEN]);
        }
        for s in [version.as_bytes(), &wrapped] {
            let mut n = s.len() as u64;
            loop {
                let b = (n & 0x7f) as u8;
                n >>= 7;
                if n == 0 {
                    v.push(b);
                    break;
                }
                v.push(b | 0x80);
            }
            v.extend_from_slice(s);
        }
        v
    }

    const MODINFO: &str = "path\texample.com/cmd/tool\nmod\texample.com\t(devel)\t\ndep\tgithub.com/pkg/errors\tv0.9.1\th1:abc=\ndep\tgolang.org/x/net\tv0.1.0\th1:def=\n=>\tgolang.org/x/net\tv0.23.0\th1:ghi=\ndep\tlocal.dev/x\tv1.0.0\t\n=>\t../x\t\t\nbuild\t-compiler=gc\nbuild\tGOOS=linux\n";

    #[test]
    fn parses_modules_replacements_and_settings() {
        let raw = inline("go1.22.5", MODINFO);
        let (v, m) = decode_inline(&raw).expect("decodes");
        assert_eq!(v, b"go1.22.5");
        let text = std::str::from_utf8(strip_sentinels(m)).expect("utf-8");
        assert_eq!(text, MODINFO);
        assert_eq!(inline_len(&raw), Ok(raw.len()));
        let info = parse("go1.22.5", text).expect("parses");
        assert_eq!(info.path.as_deref(), Some("example.com/cmd/tool"));
        assert_eq!(info.deps.len(), 3);
        assert_eq!(info.settings[1], ("GOOS".to_string(), "linux".to_string()));
        assert_eq!(
            modules(&info),
            vec![
                ("github.com/pkg/errors".to_string(), "v0.9.1".to_string()),
                ("golang.org/x/net".to_string(), "v0.23.0".to_string()),
                ("stdlib".to_string(), "1.22.5".to_string()),
            ]
        );
        assert_eq!(
            purl("golang.org/x/net", "v0.23.0").to_string(),
            "pkg:golang/golang.org/x/net@v0.23.0"
        );
        assert_eq!(
            purl("stdlib", "1.22.5").to_string(),
            "pkg:golang/stdlib@1.22.5"
        );
    }

    #[test]
    fn main_module_version_inferred_like_syft() {
        let with = |settings: &[(&str, &str)]| BuildInfo {
            go_version: "go1.23.4".into(),
            main: Some(Module {
                path: "github.com/acme/tool/v3".into(),
                version: "(devel)".into(),
                sum: None,
                replace: None,
            }),
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..BuildInfo::default()
        };
        let ld = |flags: &str| inferred_main_version(&with(&[("-ldflags", flags)]));
        assert_eq!(
            ld("\"-w -s -X main.version=1.18.1 -X main.gitCommit=5e16\""),
            Some("v1.18.1".into())
        );
        assert_eq!(
            ld("-X=github.com/acme/tool/v3/internal/build.Version=v3.2.1-rc1"),
            Some("v3.2.1-rc1".into())
        );
        assert_eq!(ld("-X main.gitVersion=2.0.0+dirty"), Some("v2.0.0".into()));
        // Another module's version, or a non-release value, is not ours.
        assert_eq!(ld("-X github.com/other/lib.Version=1.0.0"), None);
        assert_eq!(ld("-X main.version=dev"), None);
        let vcs = with(&[
            ("vcs.revision", "5e16e5031a13f8a11057feb8544decebfc43b4ed"),
            ("vcs.time", "2024-12-13T18:30:11Z"),
        ]);
        assert_eq!(
            inferred_main_version(&vcs),
            Some("v3.0.0-20241213183011-5e16e5031a13".into())
        );
        assert_eq!(inferred_main_version(&with(&[])), None);
        assert_eq!(
            modules(&with(&[]))[0].0,
            "stdlib",
            "a (devel) main module with nothing to infer from is left out"
        );
    }

    #[test]
    fn versions_and_bad_input() {
        assert_eq!(stdlib_version("go1.24.0 X:boringcrypto"), Some("1.24.0"));
        assert_eq!(stdlib_version("go1.21rc2"), Some("1.21rc2"));
        assert_eq!(stdlib_version("devel go1.24-abcdef"), None);
        assert_eq!(parse("", ""), Err(GoError::NoVersion));
        assert!(matches!(
            parse("go1.20", "dep\tonly-a-path"),
            Err(GoError::BadLine {
                line: 1,
                kind: "dep"
            })
        ));
        assert!(matches!(
            parse("go1.20", "=>\tx\tv1\t"),
            Err(GoError::BadLine { kind: "=>", .. })
        ));
        // Unknown lines from a later Go are skipped.
        assert!(parse("go1.30", "toolchain\tx\ndep\ta.b/c\tv1.0.0\t").is_ok());
        let raw = inline("go1.22.5", MODINFO);
        assert!(matches!(
            decode_inline(&raw[..raw.len() - 1]),
            Err(GoError::Truncated { .. })
        ));
        assert_eq!(decode_inline(b"\xff Go buildinf:"), Err(GoError::NoHeader));
        // A huge declared length is refused before any allocation.
        let mut huge = raw[..HEADER_LEN].to_vec();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(decode_inline(&huge), Err(GoError::TooLong { .. })));
        assert_eq!(strip_sentinels(b"short"), b"");
    }

    #[test]
    fn pointer_layout_through_a_memory_reader() {
        // Memory: at 0x100 the version string header, at 0x110 the modinfo one,
        // at 0x200 the version bytes, at 0x300 the modinfo bytes (32-bit, big endian).
        let modinfo = inline("x", "dep\ta.io/b\tv1.2.3\t\n");
        let wrapped = decode_inline(&modinfo).expect("decodes").1.to_vec();
        let mut mem = vec![0u8; 0x400 + wrapped.len()];
        let put = |mem: &mut Vec<u8>, at: usize, x: u32| {
            mem[at..at + 4].copy_from_slice(&x.to_be_bytes())
        };
        put(&mut mem, 0x100, 0x200);
        put(&mut mem, 0x104, 7);
        put(&mut mem, 0x110, 0x300);
        put(&mut mem, 0x114, wrapped.len() as u32);
        mem[0x200..0x207].copy_from_slice(b"go1.16.");
        mem[0x300..0x300 + wrapped.len()].copy_from_slice(&wrapped);
        let mut header = BUILDINFO_MAGIC.to_vec();
        header.extend_from_slice(&[4, FLAG_BIG_ENDIAN, 0, 0, 1, 0, 0, 0, 1, 0x10]);
        header.resize(HEADER_LEN, 0);
        let read = |addr: u64, len: u64| mem.get(addr as usize..(addr + len) as usize);
        let (v, m) = decode_pointer_format(&header, read).expect("resolves");
        assert_eq!(v, b"go1.16.");
        let info = parse(
            "go1.16.15",
            std::str::from_utf8(strip_sentinels(m)).expect("utf-8"),
        )
        .expect("parses");
        assert_eq!(
            modules(&info)[0],
            ("a.io/b".to_string(), "v1.2.3".to_string())
        );
        assert_eq!(decode_inline(&header), Err(GoError::PointerFormat));
        let nowhere = |_: u64, _: u64| -> Option<&[u8]> { None };
        assert!(matches!(
            decode_pointer_format(&header, nowhere),
            Err(GoError::BadPointer { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut with_header = BUILDINFO_MAGIC.to_vec();
            with_header.extend_from_slice(&bytes);
            for data in [&bytes[..], &with_header[..]] {
                if let Ok((v, m)) = decode_inline(data) {
                    let _ = parse(&String::from_utf8_lossy(v), &String::from_utf8_lossy(strip_sentinels(m)));
                }
                let _ = decode_pointer_format(data, |a, l| with_header.get(a as usize..(a as usize).checked_add(l as usize)?));
            }
            let _ = parse("go1.22", &String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn inline_round_trip(version in "go1\\.[0-9]{1,2}\\.[0-9]", deps in proptest::collection::vec(("[a-z]{1,8}\\.[a-z]{2,3}/[a-z]{1,8}", "v[0-9]\\.[0-9]{1,3}\\.[0-9]"), 0..20)) {
            let mut text = String::from("path\tm.io/cmd\nmod\tm.io\tv1.0.0\th1:x=\n");
            for (p, v) in &deps {
                text.push_str(&format!("dep\t{p}\t{v}\th1:y=\n"));
            }
            let raw = inline(&version, &text);
            let (v, m) = decode_inline(&raw).expect("decodes");
            let info = parse(std::str::from_utf8(v).expect("utf-8"), std::str::from_utf8(strip_sentinels(m)).expect("utf-8")).expect("parses");
            let mut want = vec![("m.io".to_string(), "v1.0.0".to_string())];
            want.extend(deps.iter().cloned());
            want.push(("stdlib".to_string(), version[2..].to_string()));
            proptest::prop_assert_eq!(modules(&info), want);
        }
    }
}
