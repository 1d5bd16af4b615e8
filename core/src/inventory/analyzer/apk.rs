//! Alpine packages: `lib/apk/db/installed`, blank-line separated records of
//! `K:value` lines (`P` name, `V` version, `A` arch, `o` origin, `L` license,
//! `F` a directory followed by its `R` files).
//!
//! The purl namespace is the OS `ID` (`alpine`; `wolfi`, `chainguard`, ...
//! for other apk-based distributions, whose packages Alpine advisories do not
//! describe), `alpine` when the OS is unknown.

use std::collections::BTreeMap;

use super::os_release::distro_qualifier;
use super::{Analysis, Analyzer, AnalyzerError};
use crate::inventory::{FileEntry, FoundPackage, OsRelease};
use crate::sbom::Purl;

const INSTALLED: &str = "lib/apk/db/installed";

/// Most records read.
pub const MAX_PACKAGES: usize = 200_000;
/// Most owned files kept per package.
pub const MAX_FILES_PER_PACKAGE: usize = 100_000;
/// Longest line considered.
const MAX_LINE: usize = 64 * 1024;

/// Reads the apk installed database.
#[derive(Debug, Default, Clone, Copy)]
pub struct ApkAnalyzer;

#[derive(Debug, Default)]
struct Record {
    name: String,
    version: String,
    arch: String,
    origin: String,
    license: String,
    files: Vec<String>,
    files_cut: bool,
}

impl Analyzer for ApkAnalyzer {
    fn name(&self) -> &'static str {
        "apk"
    }

    fn wants(&self, path: &str) -> bool {
        path == INSTALLED
    }

    fn analyze(&self, files: &[&FileEntry], os: Option<&OsRelease>) -> Analysis {
        let mut out = Analysis::default();
        for db in files.iter().filter(|f| f.path == INSTALLED) {
            let err = |reason: String| AnalyzerError {
                analyzer: "apk",
                path: db.path.clone(),
                reason,
            };
            let (records, cut) = parse_installed(&db.contents);
            if cut {
                out.errors.push(err(format!(
                    "more than {MAX_PACKAGES} records; rest skipped"
                )));
            }
            for r in records {
                if r.name.is_empty() || r.version.is_empty() {
                    out.errors.push(err("record without P or V".into()));
                    continue;
                }
                if r.files_cut {
                    out.errors.push(err(format!(
                        "{}: more than {MAX_FILES_PER_PACKAGE} files; rest skipped",
                        r.name
                    )));
                }
                let purl = match apk_purl(&r, os) {
                    Ok(p) => p,
                    Err(e) => {
                        out.errors.push(err(format!("package {}: {e}", r.name)));
                        continue;
                    }
                };
                let mut owned = Vec::with_capacity(r.files.len() + 1);
                owned.push(db.path.clone());
                owned.extend(r.files);
                out.packages.push(FoundPackage {
                    purl,
                    name: r.name,
                    version: r.version,
                    files: owned,
                    layer_digest: db.layer_digest.clone(),
                    licenses: if r.license.is_empty() {
                        Vec::new()
                    } else {
                        vec![r.license]
                    },
                });
            }
        }
        out
    }
}

fn apk_purl(r: &Record, os: Option<&OsRelease>) -> Result<Purl, String> {
    let namespace = os
        .map(|o| o.id.trim().to_ascii_lowercase())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "alpine".into());
    let mut qualifiers = BTreeMap::new();
    if !r.arch.is_empty() {
        qualifiers.insert("arch".to_string(), r.arch.clone());
    }
    if let Some(d) = os.and_then(distro_qualifier) {
        qualifiers.insert("distro".to_string(), d);
    }
    // Alpine advisories (secdb) name origin packages; `openssl` for `libcrypto3`.
    if !r.origin.is_empty() && r.origin != r.name {
        qualifiers.insert("upstream".to_string(), r.origin.clone());
    }
    let raw = Purl {
        ty: "apk".into(),
        namespace: Some(namespace),
        name: r.name.clone(),
        version: Some(r.version.clone()),
        qualifiers,
        subpath: None,
    };
    Purl::parse(&raw.to_string()).map_err(|e| e.to_string())
}

/// Records of an `installed` file, and whether the record cap cut it short.
fn parse_installed(contents: &[u8]) -> (Vec<Record>, bool) {
    let text = String::from_utf8_lossy(contents);
    let mut out = Vec::new();
    let mut cur = Record::default();
    let mut started = false;
    let mut dir = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if started {
                if out.len() >= MAX_PACKAGES {
                    return (out, true);
                }
                out.push(std::mem::take(&mut cur));
                started = false;
                dir.clear();
            }
            continue;
        }
        if line.len() > MAX_LINE {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        started = true;
        match k {
            "P" => cur.name = v.trim().to_string(),
            "V" => cur.version = v.trim().to_string(),
            "A" => cur.arch = v.trim().to_string(),
            "o" => cur.origin = v.trim().to_string(),
            "L" => cur.license = v.trim().to_string(),
            "F" => dir = v.trim().trim_matches('/').to_string(),
            "R" => {
                let file = v.trim();
                if file.is_empty() {
                    continue;
                }
                if cur.files.len() >= MAX_FILES_PER_PACKAGE {
                    cur.files_cut = true;
                    continue;
                }
                cur.files.push(if dir.is_empty() {
                    file.to_string()
                } else {
                    format!("{dir}/{file}")
                });
            }
            _ => {}
        }
    }
    if started {
        if out.len() >= MAX_PACKAGES {
            return (out, true);
        }
        out.push(cur);
    }
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecosystem::{Ecosystem, EcosystemKind};

    // Records as in alpine:3.19's lib/apk/db/installed (checksums shortened).
    const INSTALLED_FIXTURE: &str = "\
C:Q1xbdSMa7s8Ibb1hpKgGqPpC0g/8g=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1705337213
c:2f7e4e3a8e7d2e1bd4d1f5b0a5b0f4a6f8a5f7b0
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1Ijk8DmCjtKWc0mvxZV2W7cqtQFY=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1hHJ2pPaP2QQ7V8e+s7kR1f0g3Mk=
P:libcrypto3
V:3.1.4-r5
A:x86_64
S:1745022
I:4513792
T:Crypto library from openssl
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conaway <ariadne@dereferenced.org>
t:1706715296
c:a8b1e9e9e0bd7b6d4ad3e3a2c4f3a4b9a1f7c0d2
D:so:libc.musl-x86_64.so.1
p:so:libcrypto.so.3=3
r:libressl
F:etc
F:etc/ssl
R:openssl.cnf
Z:Q1uRgBJQyF3tYmVjrPXT9BYIq5ZGI=
F:usr
F:usr/lib
R:libcrypto.so.3
a:0:0:755
Z:Q1Ol6r6+2+u36V/bUAbrWDk0AuMUU=

C:Q1Rha9Ga1zN6kL3xq3QsAQGAIfQc0=
P:busybox-binsh
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox
F:bin
R:sh
";

    fn alpine() -> OsRelease {
        OsRelease {
            id: "alpine".into(),
            version_id: Some("3.19.1".into()),
            ..OsRelease::default()
        }
    }

    #[test]
    fn reads_records_files_and_origins() {
        let db = FileEntry {
            path: INSTALLED.into(),
            contents: INSTALLED_FIXTURE.as_bytes().to_vec(),
            layer_digest: Some("sha256:base".into()),
        };
        let a = ApkAnalyzer.analyze(&[&db], Some(&alpine()));
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        let names: Vec<&str> = a.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["musl", "libcrypto3", "busybox-binsh"]);
        assert_eq!(
            a.packages[0].purl.to_string(),
            "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"
        );
        assert_eq!(
            a.packages[1].purl.to_string(),
            "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl"
        );
        assert_eq!(
            a.packages[1].files,
            [INSTALLED, "etc/ssl/openssl.cnf", "usr/lib/libcrypto.so.3"]
        );
        assert_eq!(a.packages[2].files, [INSTALLED, "bin/sh"]);
        assert_eq!(a.packages[1].licenses, ["Apache-2.0"]);
        assert_eq!(a.packages[2].layer_digest.as_deref(), Some("sha256:base"));
        for p in &a.packages {
            let eco = Ecosystem::from_purl(&p.purl).expect("ecosystem");
            assert_eq!(
                (eco.kind, eco.release.as_deref()),
                (EcosystemKind::Alpine, Some("3.19"))
            );
        }
        assert!(ApkAnalyzer.wants(INSTALLED) && !ApkAnalyzer.wants("lib/apk/db/triggers"));
    }

    #[test]
    fn incomplete_records_are_reported() {
        let db = FileEntry {
            path: INSTALLED.into(),
            contents: b"P:novers\nA:x86_64\n\n\n\nP:ok\nV:1-r0\nnot a field\n".to_vec(),
            layer_digest: None,
        };
        let a = ApkAnalyzer.analyze(&[&db], None);
        assert_eq!(a.packages.len(), 1);
        assert_eq!(a.packages[0].purl.to_string(), "pkg:apk/alpine/ok@1-r0");
        assert_eq!(a.errors.len(), 1);
    }

    #[test]
    fn files_per_package_are_capped() {
        let mut text = String::from("P:big\nV:1-r0\nF:d\n");
        for i in 0..MAX_FILES_PER_PACKAGE + 5 {
            text.push_str(&format!("R:f{i}\n"));
        }
        let (recs, cut) = parse_installed(text.as_bytes());
        assert!(!cut);
        assert_eq!(recs.len(), 1);
        assert!(recs[0].files_cut);
        assert_eq!(recs[0].files.len(), MAX_FILES_PER_PACKAGE);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "((P|V|A|o|L|F|R|Z):[a-z0-9._/ -]{0,10}\\n|\\n|\\PC{0,6}){0,40}") {
            let db = FileEntry { path: INSTALLED.into(), contents: text.into_bytes(), layer_digest: None };
            let a = ApkAnalyzer.analyze(&[&db], Some(&alpine()));
            for p in &a.packages {
                proptest::prop_assert_eq!(p.purl.version.as_deref(), Some(p.version.as_str()));
            }
        }
    }
}
