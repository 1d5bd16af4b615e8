//! Debian/Ubuntu packages: `var/lib/dpkg/status` (installed entries only),
//! distroless `var/lib/dpkg/status.d/*` (one stanza per file, no `Status`), and the
//! files each package owns from `var/lib/dpkg/info/<pkg>[:<arch>].list`.
//!
//! The purl keeps the epoch inside the version (`pkg:deb/debian/login@1:4.13+dfsg1-1`),
//! as syft and trivy write it: the matcher compares `purl.version` with dpkg rules,
//! which need the epoch. No `epoch=` qualifier is added, because a consumer that
//! follows the rpm convention would then apply the epoch twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::os_release::distro_qualifier;
use super::{Analysis, Analyzer, AnalyzerError};
use crate::inventory::{FileEntry, FoundPackage, OsRelease};
use crate::sbom::Purl;

const STATUS: &str = "var/lib/dpkg/status";
const STATUS_D: &str = "var/lib/dpkg/status.d/";
const INFO: &str = "var/lib/dpkg/info/";

/// Most stanzas read from one file.
pub const MAX_PACKAGES: usize = 200_000;
/// Most owned files kept per package.
pub const MAX_FILES_PER_PACKAGE: usize = 100_000;
/// Longest field line kept; longer lines (huge descriptions) are skipped.
const MAX_LINE: usize = 64 * 1024;

/// Reads the dpkg database.
#[derive(Debug, Default, Clone, Copy)]
pub struct DpkgAnalyzer;

impl Analyzer for DpkgAnalyzer {
    fn name(&self) -> &'static str {
        "dpkg"
    }

    fn wants(&self, path: &str) -> bool {
        path == STATUS
            || path
                .strip_prefix(STATUS_D)
                .is_some_and(|n| !n.is_empty() && !n.contains('/') && !n.ends_with(".md5sums"))
            || path
                .strip_prefix(INFO)
                .is_some_and(|n| !n.contains('/') && n.ends_with(".list"))
    }

    fn analyze(&self, files: &[&FileEntry], os: Option<&OsRelease>) -> Analysis {
        let mut out = Analysis::default();
        let lists: HashMap<&str, &FileEntry> = files
            .iter()
            .filter_map(|f| {
                let n = f.path.strip_prefix(INFO)?.strip_suffix(".list")?;
                Some((n, *f))
            })
            .collect();
        // `status` first, then `status.d` in path order, so output is deterministic.
        let mut dbs: Vec<&FileEntry> = files
            .iter()
            .copied()
            .filter(|f| f.path == STATUS || (f.path.starts_with(STATUS_D) && self.wants(&f.path)))
            .collect();
        dbs.sort_by(|a, b| (a.path != STATUS, &a.path).cmp(&(b.path != STATUS, &b.path)));
        let mut seen = HashSet::new();
        for db in dbs {
            let distroless = db.path != STATUS;
            let stanzas = parse_stanzas(&db.contents);
            if stanzas.truncated {
                out.errors.push(err(
                    &db.path,
                    format!("more than {MAX_PACKAGES} stanzas; rest skipped"),
                ));
            }
            for st in stanzas.stanzas {
                if !distroless && !is_installed(st.get("status").map(String::as_str)) {
                    continue;
                }
                let nonempty = |k: &str| st.get(k).filter(|v| !v.is_empty());
                let (Some(name), Some(version)) = (nonempty("package"), nonempty("version")) else {
                    out.errors
                        .push(err(&db.path, "stanza without Package or Version".into()));
                    continue;
                };
                let arch = st.get("architecture").map(String::as_str);
                if !seen.insert((name.clone(), arch.map(str::to_string))) {
                    continue;
                }
                let purl = match deb_purl(name, version, arch, st.get("source"), os) {
                    Ok(p) => p,
                    Err(e) => {
                        out.errors
                            .push(err(&db.path, format!("package {name}: {e}")));
                        continue;
                    }
                };
                let mut owned = vec![db.path.clone()];
                let list = arch
                    .and_then(|a| lists.get(format!("{name}:{a}").as_str()))
                    .or_else(|| lists.get(name.as_str()));
                if let Some(list) = list {
                    owned.push(list.path.clone());
                    let (paths, cut) = read_list(&list.contents);
                    if cut {
                        out.errors.push(err(
                            &list.path,
                            format!("more than {MAX_FILES_PER_PACKAGE} files; rest skipped"),
                        ));
                    }
                    owned.extend(paths);
                }
                out.packages.push(FoundPackage {
                    purl,
                    name: name.clone(),
                    version: version.clone(),
                    files: owned,
                    layer_digest: db.layer_digest.clone(),
                    licenses: Vec::new(),
                });
            }
        }
        out
    }
}

fn err(path: &str, reason: String) -> AnalyzerError {
    AnalyzerError {
        analyzer: "dpkg",
        path: path.to_string(),
        reason,
    }
}

/// `install ok installed` and `hold ok installed`: the package's files are on disk.
/// Half-installed, config-files-only and not-installed entries are not.
fn is_installed(status: Option<&str>) -> bool {
    let mut words = status.unwrap_or_default().split_whitespace();
    matches!(
        (words.next(), words.next(), words.next()),
        (Some("install" | "hold"), Some("ok"), Some("installed"))
    )
}

/// The purl of a binary package. `source` is the `Source` field: `openssl` or
/// `glibc (2.36-9+deb12u4)` when the source version differs.
pub fn deb_purl(
    name: &str,
    version: &str,
    arch: Option<&str>,
    source: Option<&String>,
    os: Option<&OsRelease>,
) -> Result<Purl, String> {
    let namespace = match os.map(|o| o.id.as_str()) {
        Some("ubuntu") => "ubuntu",
        _ => "debian",
    };
    let mut qualifiers = BTreeMap::new();
    if let Some(a) = arch.filter(|a| !a.is_empty()) {
        qualifiers.insert("arch".to_string(), a.to_string());
    }
    if let Some(d) = os.and_then(distro_qualifier) {
        qualifiers.insert("distro".to_string(), d);
    }
    if let Some(src) = source {
        let (src_name, src_ver) = match src.split_once('(') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_end_matches(')').trim())),
            None => (src.trim(), None),
        };
        let upstream = match src_ver.filter(|v| !v.is_empty() && *v != version) {
            Some(v) => format!("{src_name}@{v}"),
            None => src_name.to_string(),
        };
        if !src_name.is_empty() && upstream != name {
            qualifiers.insert("upstream".to_string(), upstream);
        }
    }
    let raw = Purl {
        ty: "deb".into(),
        namespace: Some(namespace.into()),
        name: name.to_string(),
        version: Some(version.to_string()),
        qualifiers,
        subpath: None,
    };
    // Re-parse the canonical form so the purl is normalised like any parsed one.
    Purl::parse(&raw.to_string()).map_err(|e| e.to_string())
}

/// Stanzas of an RFC 822-style control file, field names lower-cased.
#[derive(Debug, Default)]
pub(crate) struct Stanzas {
    pub(crate) stanzas: Vec<HashMap<String, String>>,
    pub(crate) truncated: bool,
}

/// Split a control file into stanzas. Continuation lines (leading space or tab)
/// are appended to the previous field with a newline; only the fields this
/// analyzer reads are single-line, so continuations matter only for bounding.
pub(crate) fn parse_stanzas(contents: &[u8]) -> Stanzas {
    let text = String::from_utf8_lossy(contents);
    let mut out = Stanzas::default();
    let mut cur: HashMap<String, String> = HashMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                if out.stanzas.len() >= MAX_PACKAGES {
                    out.truncated = true;
                    return out;
                }
                out.stanzas.push(std::mem::take(&mut cur));
            }
            last = None;
            continue;
        }
        if line.len() > MAX_LINE {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(v) = last.as_ref().and_then(|k| cur.get_mut(k))
                && v.len() < MAX_LINE
            {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            last = None;
            continue;
        };
        let key = k.trim().to_ascii_lowercase();
        cur.insert(key.clone(), v.trim().to_string());
        last = Some(key);
    }
    if !cur.is_empty() {
        if out.stanzas.len() >= MAX_PACKAGES {
            out.truncated = true;
        } else {
            out.stanzas.push(cur);
        }
    }
    out
}

/// Paths of a `.list` file, relative like [`FileEntry::path`], without `/.` and
/// without the directories (a listed path with listed paths below it): they are
/// shared by many packages and say nothing about this one. True when capped.
fn read_list(contents: &[u8]) -> (Vec<String>, bool) {
    let text = String::from_utf8_lossy(contents);
    let mut paths = std::collections::BTreeSet::new();
    let mut capped = false;
    for line in text.lines() {
        let p = line.trim().trim_start_matches('/');
        if p.is_empty() || p == "." || p.len() > MAX_LINE {
            continue;
        }
        if paths.len() >= MAX_FILES_PER_PACKAGE {
            capped = true;
            break;
        }
        paths.insert(p.to_string());
    }
    let is_dir = |p: &String| {
        let prefix = format!("{p}/");
        paths
            .range(prefix.clone()..)
            .next()
            .is_some_and(|next| next.starts_with(&prefix))
    };
    let files = paths.iter().filter(|p| !is_dir(p)).cloned().collect();
    (files, capped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecosystem::{Ecosystem, EcosystemKind};

    fn entry(path: &str, contents: &str, layer: &str) -> FileEntry {
        FileEntry::new(path, contents, Some(layer))
    }

    fn bookworm() -> OsRelease {
        OsRelease {
            id: "debian".into(),
            version_id: Some("12".into()),
            version_codename: Some("bookworm".into()),
            pretty_name: None,
        }
    }

    // Stanzas as they appear in debian:12's /var/lib/dpkg/status (descriptions cut).
    const STATUS_FIXTURE: &str = "\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12987
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Replaces: libc6-amd64
Depends: libgcc-s1
Recommends: libidn2-0 (>= 2.0.5~)
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system. This package includes shared versions of the standard C library
 .
 and the standard math library.
Homepage: https://www.gnu.org/software/libc/libc.html

Package: login
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 2704
Maintainer: Shadow package maintainers <pkg-shadow-devel@lists.alioth.debian.org>
Architecture: amd64
Source: shadow
Version: 1:4.13+dfsg1-1+b1
Description: system login tools
 This package provides some required infrastructure for logins and for

Package: libssl3
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit - shared libraries

Package: zlib1g
Status: hold ok installed
Architecture: amd64
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1+b1
Description: compression library - runtime

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
Description: time zone and daylight-saving time data

Package: oldconf
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: halfway
Status: install reinstreq half-installed
Architecture: amd64
Version: 2.0-1
";

    const LIBC6_LIST: &str = "/.\n/etc\n/etc/ld.so.conf.d\n/lib/x86_64-linux-gnu/libc.so.6\n/usr/share/doc/libc6/copyright\n";

    fn names(a: &Analysis) -> Vec<&str> {
        a.packages.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn reads_installed_packages_with_sources_and_epochs() {
        let status = entry(STATUS, STATUS_FIXTURE, "sha256:base");
        let list = entry(
            "var/lib/dpkg/info/libc6:amd64.list",
            LIBC6_LIST,
            "sha256:base",
        );
        let os = bookworm();
        let a = DpkgAnalyzer.analyze(&[&status, &list], Some(&os));
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        assert_eq!(names(&a), ["libc6", "login", "libssl3", "zlib1g", "tzdata"]);
        let purls: Vec<String> = a.packages.iter().map(|p| p.purl.to_string()).collect();
        assert_eq!(
            purls[0],
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
        );
        // Epoch stays in the version; the purl encodes ':' only where it must.
        assert_eq!(a.packages[1].version, "1:4.13+dfsg1-1+b1");
        assert_eq!(
            a.packages[1].purl.version.as_deref(),
            Some("1:4.13+dfsg1-1+b1")
        );
        // Same source version: upstream carries the name only.
        assert_eq!(
            a.packages[2]
                .purl
                .qualifiers
                .get("upstream")
                .map(String::as_str),
            Some("openssl")
        );
        // binNMU: source version differs from the binary's.
        assert_eq!(
            a.packages[3]
                .purl
                .qualifiers
                .get("upstream")
                .map(String::as_str),
            Some("zlib@1:1.2.13.dfsg-1")
        );
        assert!(!a.packages[4].purl.qualifiers.contains_key("upstream"));
        // `etc` has listed paths below it: a directory, not evidence.
        assert_eq!(
            a.packages[0].files,
            [
                STATUS,
                "var/lib/dpkg/info/libc6:amd64.list",
                "etc/ld.so.conf.d",
                "lib/x86_64-linux-gnu/libc.so.6",
                "usr/share/doc/libc6/copyright"
            ]
        );
        assert_eq!(a.packages[1].files, [STATUS]);
        assert_eq!(a.packages[0].layer_digest.as_deref(), Some("sha256:base"));
        // Each purl lands in the Debian 12 ecosystem.
        for p in &a.packages {
            let eco = Ecosystem::from_purl(&p.purl).expect("ecosystem");
            assert_eq!(
                (eco.kind, eco.release.as_deref()),
                (EcosystemKind::Debian, Some("12"))
            );
        }
    }

    #[test]
    fn distroless_status_d_and_ubuntu_namespace() {
        let a = entry(
            "var/lib/dpkg/status.d/base-files",
            "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
            "sha256:l1",
        );
        let sums = entry(
            "var/lib/dpkg/status.d/base-files.md5sums",
            "abc  etc/debian_version\n",
            "sha256:l1",
        );
        let b = entry(
            "var/lib/dpkg/status.d/libssl3",
            "Package: libssl3\nSource: openssl\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n",
            "sha256:l2",
        );
        let an = DpkgAnalyzer;
        assert!(an.wants(&a.path) && !an.wants(&sums.path) && an.wants(STATUS));
        assert!(an.wants("var/lib/dpkg/info/libc6:amd64.list"));
        assert!(!an.wants("var/lib/dpkg/info/libc6:amd64.md5sums"));
        let ubuntu = OsRelease {
            id: "ubuntu".into(),
            version_id: Some("22.04".into()),
            ..OsRelease::default()
        };
        let out = an.analyze(&[&b, &a], Some(&ubuntu));
        assert_eq!(names(&out), ["base-files", "libssl3"]);
        assert_eq!(out.packages[1].layer_digest.as_deref(), Some("sha256:l2"));
        assert_eq!(
            out.packages[1].purl.to_string(),
            "pkg:deb/ubuntu/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=ubuntu-22.04&upstream=openssl"
        );
        // Without an OS: namespace debian, no distro qualifier.
        let out = an.analyze(&[&a], None);
        assert_eq!(
            out.packages[0].purl.to_string(),
            "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64"
        );
    }

    #[test]
    fn malformed_input_is_reported_not_fatal() {
        let status = entry(
            STATUS,
            "Package: nover\nStatus: install ok installed\n\nnonsense line\n\n \tcontinuation first\nPackage: ok\nStatus: install ok installed\nVersion: 1\n",
            "l",
        );
        let a = DpkgAnalyzer.analyze(&[&status], None);
        assert_eq!(names(&a), ["ok"]);
        assert_eq!(a.errors.len(), 1);
        assert!(a.errors[0].reason.contains("without Package"));
    }

    #[test]
    fn stanza_count_is_capped() {
        let mut text = String::new();
        for i in 0..MAX_PACKAGES + 3 {
            text.push_str(&format!("Package: p{i}\n\n"));
        }
        let s = parse_stanzas(text.as_bytes());
        assert!(s.truncated);
        assert_eq!(s.stanzas.len(), MAX_PACKAGES);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "((Package|Version|Source|Architecture): [a-z0-9:@()~+. -]{0,12}\n|Status: install ok installed\n|\n| cont\n|\\PC{0,8}){0,40}") {
            let f = FileEntry { path: STATUS.into(), contents: text.clone().into_bytes(), layer_digest: None };
            let g = FileEntry { path: format!("{STATUS_D}x"), contents: text.into_bytes(), layer_digest: None };
            let a = DpkgAnalyzer.analyze(&[&f, &g], Some(&bookworm()));
            for p in &a.packages {
                proptest::prop_assert_eq!(p.purl.version.as_deref(), Some(p.version.as_str()));
            }
        }
    }
}
