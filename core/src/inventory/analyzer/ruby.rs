//! Ruby gems: installed gem specifications (`…/specifications/<name>-<version>.gemspec`,
//! as RubyGems and Debian's rubygems-integration write them) and Bundler lock files
//! (`Gemfile.lock`, `gems.locked`).
//!
//! A gemspec is Ruby code that nobody here evaluates: the analyzer reads the plain
//! assignments RubyGems writes (`s.name = "rack".freeze`, `s.version = "2.2.22"`,
//! `s.licenses = ["MIT".freeze]`, `s.platform = "x86_64-linux".freeze`), whatever the
//! block variable of `Gem::Specification.new do |s|` is called.
//!
//! Lock files are read as Bundler's own parser does: gems of `GEM` sources are
//! packages; gems of `GIT` sources are packages with a `vcs_url` qualifier
//! (`git+<remote>@<revision>`); `PATH` sources (the application's own gems,
//! local code) are skipped. A version suffix `-<platform>` (`1.16.7-x86_64-linux`)
//! becomes the purl qualifier `platform`. Lock files inside an installed gem's
//! source tree (a path component `gems`) are a gem's development files, not what
//! is installed, and are not read.

use super::{Analysis, Analyzer};
use crate::inventory::{FileEntry, FoundPackage, OsRelease};
use crate::sbom::Purl;

/// Gemspecs longer than this are refused (real ones are a few KiB).
const MAX_GEMSPEC_BYTES: usize = 1024 * 1024;
/// Lock files longer than this are refused (real ones are well under 1 MiB).
const MAX_LOCK_BYTES: usize = 16 * 1024 * 1024;

/// Reads installed gemspecs and Bundler lock files.
#[derive(Debug, Default, Clone, Copy)]
pub struct RubyAnalyzer;

impl Analyzer for RubyAnalyzer {
    fn name(&self) -> &'static str {
        "ruby"
    }

    fn wants(&self, path: &str) -> bool {
        is_installed_gemspec(path) || is_lock(path)
    }

    fn analyze(&self, files: &[&FileEntry], _os: Option<&OsRelease>) -> Analysis {
        Analysis::per_file("ruby", files, |f| {
            if is_lock(&f.path) {
                lock(f)
            } else {
                gemspec(f).map(|p| vec![p])
            }
        })
    }
}

/// `…/specifications/<file>.gemspec`, and Ruby's own default gems in
/// `…/specifications/default/` (they have advisories of their own: `net-http`, `uri`).
fn is_installed_gemspec(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let file = parts.next().unwrap_or_default();
    let named = file.len() > ".gemspec".len() && file.ends_with(".gemspec");
    named
        && match parts.next() {
            Some("specifications") => true,
            Some("default") => parts.next() == Some("specifications"),
            _ => false,
        }
}

/// `Gemfile.lock` or `gems.locked`, not inside an installed gem's sources.
fn is_lock(path: &str) -> bool {
    let mut parts = path.split('/').rev();
    let file = parts.next().unwrap_or_default();
    (file == "Gemfile.lock" || file == "gems.locked") && !parts.any(|c| c == "gems")
}

fn text(f: &FileEntry, max: usize) -> Result<&str, String> {
    if f.contents.len() > max {
        return Err(format!("larger than {max} bytes"));
    }
    std::str::from_utf8(&f.contents).map_err(|e| format!("not UTF-8: {e}"))
}

fn package(
    name: &str,
    version: &str,
    platform: Option<&str>,
    vcs_url: Option<String>,
    f: &FileEntry,
) -> Result<FoundPackage, String> {
    if name.is_empty() || version.is_empty() {
        return Err("empty gem name or version".into());
    }
    let mut qualifiers = std::collections::BTreeMap::new();
    if let Some(p) = platform.filter(|p| !p.is_empty() && *p != "ruby") {
        qualifiers.insert("platform".to_string(), p.to_string());
    }
    if let Some(v) = vcs_url {
        qualifiers.insert("vcs_url".to_string(), v);
    }
    let purl = Purl {
        ty: "gem".into(),
        namespace: None,
        name: name.to_string(),
        version: Some(version.to_string()),
        qualifiers,
        subpath: None,
    };
    let purl = Purl::parse(&purl.to_string()).map_err(|e| e.to_string())?;
    Ok(FoundPackage {
        purl,
        name: name.to_string(),
        version: version.to_string(),
        files: vec![f.path.clone()],
        layer_digest: f.layer_digest.clone(),
        licenses: Vec::new(),
    })
}

/// The fields of a gemspec the analyzer reads.
#[derive(Debug, Default, PartialEq, Eq)]
struct Gemspec {
    name: Option<String>,
    version: Option<String>,
    platform: Option<String>,
    licenses: Vec<String>,
}

fn gemspec(f: &FileEntry) -> Result<FoundPackage, String> {
    let spec = parse_gemspec(text(f, MAX_GEMSPEC_BYTES)?)?;
    let name = spec.name.filter(|n| !n.is_empty()).ok_or("no s.name")?;
    let version = spec
        .version
        .filter(|v| !v.is_empty())
        .ok_or("no s.version")?;
    let mut pkg = package(&name, &version, spec.platform.as_deref(), None, f)?;
    pkg.licenses = spec.licenses;
    Ok(pkg)
}

/// The block variable of `Gem::Specification.new do |s|` (or `{ |spec|`).
fn block_variable(text: &str) -> Option<&str> {
    let after = text.split_once("Gem::Specification.new")?.1;
    let line = after.lines().next()?;
    let (_, rest) = line.split_once('|')?;
    let (var, _) = rest.split_once('|')?;
    let var = var.trim();
    (!var.is_empty() && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(var)
}

fn parse_gemspec(text: &str) -> Result<Gemspec, String> {
    let var = block_variable(text).ok_or("no `Gem::Specification.new do |s|` block")?;
    let mut spec = Gemspec::default();
    for line in text.lines() {
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix(var).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let Some((attr, value)) = rest.split_once('=') else {
            continue;
        };
        // `s.name == x` is a comparison, `s.name = x` the assignment we read.
        if value.starts_with('=') {
            continue;
        }
        let value = value.trim();
        match attr.trim() {
            "name" => spec.name = first_string(value),
            "version" => spec.version = first_string(value),
            "platform" => spec.platform = first_string(value),
            "license" => spec.licenses = first_string(value).into_iter().collect(),
            "licenses" => spec.licenses = strings(value),
            _ => {}
        }
    }
    Ok(spec)
}

/// The first string literal of a Ruby expression (`"2.2.22".freeze`,
/// `Gem::Version.new('1.0')`, `%q{rack}`).
fn first_string(expr: &str) -> Option<String> {
    strings(expr).into_iter().next()
}

/// Every string literal of a Ruby expression, in order (`["MIT".freeze, 'BSD']`).
fn strings(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        let close = match c {
            '"' | '\'' => c,
            '%' if chars.peek() == Some(&'q') || chars.peek() == Some(&'Q') => {
                chars.next();
                match chars.next() {
                    Some('{') => '}',
                    Some('<') => '>',
                    Some('(') => ')',
                    Some('[') => ']',
                    Some(d) if !d.is_alphanumeric() && !d.is_whitespace() => d,
                    _ => continue,
                }
            }
            // A comment ends the expression.
            '#' => break,
            _ => continue,
        };
        let mut s = String::new();
        let mut closed = false;
        while let Some(d) = chars.next() {
            if d == '\\' {
                if let Some(e) = chars.next() {
                    s.push(e);
                }
            } else if d == close {
                closed = true;
                break;
            } else {
                s.push(d);
            }
        }
        if closed {
            out.push(s);
        }
    }
    out
}

/// Where lock file gems come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Gem,
    Git {
        remote: Option<String>,
        revision: Option<String>,
    },
    /// `PATH`, `PLUGIN SOURCE`, and the non-source sections.
    Skipped,
}

fn lock(f: &FileEntry) -> Result<Vec<FoundPackage>, String> {
    let text = text(f, MAX_LOCK_BYTES)?;
    let mut out = Vec::new();
    let mut source = Source::Skipped;
    let mut in_specs = false;
    let mut saw_section = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            saw_section = true;
            in_specs = false;
            source = match line.trim() {
                "GEM" => Source::Gem,
                "GIT" => Source::Git {
                    remote: None,
                    revision: None,
                },
                _ => Source::Skipped,
            };
            continue;
        }
        if let Some(attr) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) {
            in_specs = attr == "specs:";
            if let Source::Git { remote, revision } = &mut source {
                if let Some(v) = attr.strip_prefix("remote: ") {
                    *remote = Some(v.trim().to_string());
                } else if let Some(v) = attr.strip_prefix("revision: ") {
                    *revision = Some(v.trim().to_string());
                }
            }
            continue;
        }
        let Some(spec) = line.strip_prefix("    ").filter(|l| !l.starts_with(' ')) else {
            // Dependencies of a spec (6 spaces) and anything deeper.
            continue;
        };
        if !in_specs || source == Source::Skipped {
            continue;
        }
        let (name, version, platform) =
            spec_line(spec).ok_or_else(|| format!("bad spec line {spec:?}"))?;
        let vcs_url = match &source {
            Source::Git { remote, revision } => remote.as_ref().map(|r| {
                let base = if r.starts_with("git+") {
                    r.clone()
                } else {
                    format!("git+{r}")
                };
                match revision {
                    Some(rev) => format!("{base}@{rev}"),
                    None => base,
                }
            }),
            _ => None,
        };
        out.push(package(name, version, platform, vcs_url, f)?);
    }
    if !saw_section {
        return Err("no lock file sections".into());
    }
    Ok(out)
}

/// `name (version)` or `name (version-platform)`, as Bundler's pattern reads it
/// (versions hold no `-`: the first one starts the platform).
fn spec_line(spec: &str) -> Option<(&str, &str, Option<&str>)> {
    let (name, rest) = spec.split_once(" (")?;
    let inner = rest.strip_suffix(')')?;
    let (version, platform) = match inner.split_once('-') {
        Some((v, p)) => (v, Some(p)),
        None => (inner, None),
    };
    (!name.is_empty() && !version.is_empty()).then_some((name, version, platform))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, text: &str) -> FileEntry {
        FileEntry::new(path, text, Some("sha256:l8"))
    }

    #[test]
    fn wants_installed_specs_and_application_locks() {
        let a = RubyAnalyzer;
        assert!(a.wants("usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec"));
        assert!(a.wants("usr/local/bundle/specifications/nokogiri-1.16.7-x86_64-linux.gemspec"));
        assert!(a.wants("app/Gemfile.lock"));
        assert!(a.wants("Gemfile.lock"));
        assert!(a.wants("srv/gems.locked"));
        assert!(!a.wants("app/rack.gemspec"));
        assert!(!a.wants("usr/local/bundle/gems/rack-2.2.22/Gemfile.lock"));
        assert!(!a.wants("specifications/.gemspec"));
        assert!(a.wants("usr/lib/ruby/gems/3.1.0/specifications/default/uri-0.12.1.gemspec"));
        assert!(!a.wants("usr/lib/ruby/gems/3.1.0/gems/x/default/y.gemspec"));
    }

    #[test]
    fn gemspec_with_another_block_variable_and_platform() {
        let e = entry(
            "var/lib/gems/3.1.0/specifications/nokogiri-1.16.7-x86_64-linux.gemspec",
            "Gem::Specification.new do |spec|\n  spec.name = %q{nokogiri}\n  spec.version = Gem::Version.new('1.16.7')\n  spec.platform = \"x86_64-linux\".freeze\n  spec.license = \"MIT\" # comment \"x\"\n  if spec.name == \"other\" then end\nend\n",
        );
        let out = RubyAnalyzer.analyze(&[&e], None);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let p = &out.packages[0];
        assert_eq!(
            p.purl.to_string(),
            "pkg:gem/nokogiri@1.16.7?platform=x86_64-linux"
        );
        assert_eq!(p.licenses, ["MIT"]);
    }

    #[test]
    fn lock_sources_and_platforms() {
        let e = entry(
            "app/Gemfile.lock",
            "GIT\n  remote: https://github.com/nahi/httpclient.git\n  revision: d57cc6d\n  specs:\n    httpclient (2.8.3)\n\nPATH\n  remote: .\n  specs:\n    mine (0.1.0)\n      rack\n\nGEM\n  remote: https://rubygems.org/\n  specs:\n    ffi (1.17.0-x86_64-linux-gnu)\n    rack (3.1.7)\n      webrick (~> 1.8)\n\nPLATFORMS\n  ruby\n\nDEPENDENCIES\n  rack (>= 3)\n\nBUNDLED WITH\n   2.5.9\n",
        );
        let out = RubyAnalyzer.analyze(&[&e], None);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let purls: Vec<String> = out.packages.iter().map(|p| p.purl.to_string()).collect();
        assert_eq!(
            purls,
            [
                "pkg:gem/httpclient@2.8.3?vcs_url=git%2Bhttps://github.com/nahi/httpclient.git%40d57cc6d",
                "pkg:gem/ffi@1.17.0?platform=x86_64-linux-gnu",
                "pkg:gem/rack@3.1.7",
            ]
        );
    }

    #[test]
    fn bad_files_are_errors() {
        let no_block = entry("specifications/x-1.gemspec", "s.name = \"x\"\n");
        let no_version = entry(
            "specifications/x-1.gemspec",
            "Gem::Specification.new do |s|\n  s.name = \"x\"\nend\n",
        );
        let not_lock = entry("Gemfile.lock", "    rack (1.0)\n");
        let out = RubyAnalyzer.analyze(&[&no_block, &no_version, &not_lock], None);
        assert!(out.packages.is_empty());
        assert_eq!(out.errors.len(), 3, "{:?}", out.errors);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            for path in ["a/specifications/x-1.gemspec", "app/Gemfile.lock"] {
                let e = FileEntry { path: path.into(), contents: bytes.clone(), layer_digest: None };
                let _ = RubyAnalyzer.analyze(&[&e], None);
            }
        }

        #[test]
        fn generated_specs_round_trip(
            var in "[a-z][a-z_]{0,6}",
            name in "[a-z][a-z0-9_-]{0,20}",
            version in "[0-9]{1,3}(\\.[0-9a-z]{1,4}){0,3}",
            platform in proptest::option::of("(x86_64|aarch64|arm64)-(linux|darwin|linux-gnu)"),
        ) {
            let plat = platform.as_ref().map(|p| format!("  {var}.platform = \"{p}\".freeze\n")).unwrap_or_default();
            let spec = format!("Gem::Specification.new do |{var}|\n  {var}.name = \"{name}\".freeze\n  {var}.version = \"{version}\"\n{plat}  {var}.licenses = [\"MIT\".freeze, \"Ruby\".freeze]\nend\n");
            let lock_plat = platform.as_ref().map(|p| format!("-{p}")).unwrap_or_default();
            let lock = format!("GEM\n  remote: https://rubygems.org/\n  specs:\n    {name} ({version}{lock_plat})\n      dep (>= 1)\n\nPLATFORMS\n  ruby\n");
            let s = entry("specifications/g.gemspec", &spec);
            let l = entry("Gemfile.lock", &lock);
            let out = RubyAnalyzer.analyze(&[&s, &l], None);
            proptest::prop_assert!(out.errors.is_empty(), "{:?}", out.errors);
            proptest::prop_assert_eq!(out.packages.len(), 2);
            for p in &out.packages {
                proptest::prop_assert_eq!(&p.name, &name);
                proptest::prop_assert_eq!(&p.version, &version);
                proptest::prop_assert_eq!(p.purl.qualifiers.get("platform"), platform.as_ref());
            }
            proptest::prop_assert_eq!(&out.packages[0].licenses, &["MIT".to_string(), "Ruby".to_string()]);
        }
    }
}
