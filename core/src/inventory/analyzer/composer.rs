//! PHP Composer packages: `composer.lock` (`packages` and `packages-dev`) and
//! Composer's record of what it installed, `vendor/composer/installed.json`
//! (Composer 1 writes a plain array, Composer 2 `{"packages": [...]}`).
//!
//! Versions are kept as Composer spells them (`v5.4.3`, `1.6.0`), in the purl too:
//! the purl spec's composer type says nothing about a `v` prefix, and Syft and Trivy
//! both keep `version` as written. Composer itself treats `v5.4.3` and `5.4.3` as the
//! same version (its `version_normalized` is `5.4.3.0`), so whoever compares
//! Packagist versions must drop a leading `v`.
//!
//! A `composer.lock` below `vendor/<vendor>/<package>/` is a dependency's own
//! development lock file, not what is installed, and is not read.

use serde_json::Value;

use super::{Analysis, Analyzer};
use crate::inventory::{FileEntry, FoundPackage, OsRelease};
use crate::sbom::Purl;

/// Lock files larger than this are refused (real ones are under a few MiB).
const MAX_BYTES: usize = 32 * 1024 * 1024;
/// Packages read from one file at most.
const MAX_PACKAGES: usize = 100_000;

/// Reads Composer lock files and installed.json.
#[derive(Debug, Default, Clone, Copy)]
pub struct ComposerAnalyzer;

impl Analyzer for ComposerAnalyzer {
    fn name(&self) -> &'static str {
        "composer"
    }

    fn wants(&self, path: &str) -> bool {
        is_lock(path) || is_installed(path)
    }

    fn analyze(&self, files: &[&FileEntry], _os: Option<&OsRelease>) -> Analysis {
        Analysis::per_file("composer", files, parse)
    }
}

/// `composer.lock`, unless it sits inside an installed package (`vendor/a/b/…`).
fn is_lock(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let Some((file, dirs)) = parts.split_last() else {
        return false;
    };
    if *file != "composer.lock" {
        return false;
    }
    // Components after the last `vendor`: two or more means inside a package.
    match dirs.iter().rposition(|c| *c == "vendor") {
        Some(i) => dirs.len() - i - 1 < 2,
        None => true,
    }
}

fn is_installed(path: &str) -> bool {
    path == "vendor/composer/installed.json" || path.ends_with("/vendor/composer/installed.json")
}

fn parse(f: &FileEntry) -> Result<Vec<FoundPackage>, String> {
    if f.contents.len() > MAX_BYTES {
        return Err(format!("larger than {MAX_BYTES} bytes"));
    }
    if crate::json_depth::exceeds(&f.contents, 64) {
        return Err("JSON nested deeper than 64".into());
    }
    let v: Value = serde_json::from_slice(&f.contents).map_err(|e| format!("not JSON: {e}"))?;
    let lists: Vec<&Vec<Value>> = if is_lock(&f.path) {
        let o = v.as_object().ok_or("composer.lock is not a JSON object")?;
        if !o.contains_key("packages") {
            return Err("no \"packages\" in composer.lock".into());
        }
        ["packages", "packages-dev"]
            .iter()
            .filter_map(|k| o.get(*k).and_then(Value::as_array))
            .collect()
    } else {
        match &v {
            // Composer 1.
            Value::Array(a) => vec![a],
            // Composer 2.
            Value::Object(o) => vec![
                o.get("packages")
                    .and_then(Value::as_array)
                    .ok_or("no \"packages\" array in installed.json")?,
            ],
            _ => return Err("installed.json is neither an array nor an object".into()),
        }
    };
    let mut out = Vec::new();
    for p in lists.into_iter().flatten() {
        if out.len() >= MAX_PACKAGES {
            return Err(format!("more than {MAX_PACKAGES} packages"));
        }
        out.push(package(p, f)?);
    }
    Ok(out)
}

fn package(p: &Value, f: &FileEntry) -> Result<FoundPackage, String> {
    let name = p["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or("package without a name")?;
    let version = p["version"]
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{name}: no version"))?;
    let (vendor, short) = name
        .split_once('/')
        .filter(|(v, n)| !v.is_empty() && !n.is_empty() && !n.contains('/'))
        .ok_or_else(|| format!("{name:?} is not vendor/name"))?;
    let purl = Purl {
        ty: "composer".into(),
        namespace: Some(vendor.to_string()),
        name: short.to_string(),
        version: Some(version.to_string()),
        qualifiers: Default::default(),
        subpath: None,
    };
    // Canonical form (the composer type is lower-cased).
    let purl = Purl::parse(&purl.to_string()).map_err(|e| e.to_string())?;
    let licenses = match &p["license"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Ok(FoundPackage {
        purl,
        name: name.to_string(),
        version: version.to_string(),
        files: vec![f.path.clone()],
        layer_digest: f.layer_digest.clone(),
        licenses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, text: &str) -> FileEntry {
        FileEntry::new(path, text, Some("sha256:l9"))
    }

    #[test]
    fn wants_project_locks_and_installed_json() {
        let a = ComposerAnalyzer;
        assert!(a.wants("composer.lock"));
        assert!(a.wants("var/www/app/composer.lock"));
        assert!(a.wants("usr/share/mediawiki/vendor/composer.lock"));
        assert!(a.wants("var/www/app/vendor/composer/installed.json"));
        assert!(!a.wants("var/www/app/vendor/guzzle/guzzle/composer.lock"));
        assert!(!a.wants("var/www/app/composer.json"));
        assert!(!a.wants("var/www/app/installed.json"));
    }

    #[test]
    fn reads_lock_with_dev_packages() {
        let e = entry(
            "app/composer.lock",
            r#"{"packages":[{"name":"Symfony/Yaml","version":"v5.4.3","license":["MIT"]}],
                "packages-dev":[{"name":"phpunit/phpunit","version":"9.6.0","license":"BSD-3-Clause"}]}"#,
        );
        let out = ComposerAnalyzer.analyze(&[&e], None);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let purls: Vec<String> = out.packages.iter().map(|p| p.purl.to_string()).collect();
        assert_eq!(
            purls,
            [
                "pkg:composer/symfony/yaml@v5.4.3",
                "pkg:composer/phpunit/phpunit@9.6.0"
            ]
        );
        assert_eq!(out.packages[0].name, "Symfony/Yaml");
        assert_eq!(out.packages[1].licenses, ["BSD-3-Clause"]);
    }

    #[test]
    fn bad_documents_are_errors() {
        for (path, text) in [
            ("composer.lock", "[]"),
            (
                "composer.lock",
                r#"{"packages":[{"name":"novendor","version":"1"}]}"#,
            ),
            (
                "vendor/composer/installed.json",
                r#"{"packages":[{"name":"a/b"}]}"#,
            ),
            ("vendor/composer/installed.json", "3"),
            ("vendor/composer/installed.json", &"[".repeat(100)),
        ] {
            let out = ComposerAnalyzer.analyze(&[&entry(path, text)], None);
            assert!(out.packages.is_empty() && out.errors.len() == 1, "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            for path in ["composer.lock", "vendor/composer/installed.json"] {
                let e = FileEntry { path: path.into(), contents: bytes.clone(), layer_digest: None };
                let _ = ComposerAnalyzer.analyze(&[&e], None);
            }
        }

        #[test]
        fn generated_documents_round_trip(
            pkgs in proptest::collection::vec(
                ("[a-z][a-z0-9-]{0,10}", "[a-z][a-z0-9_.-]{0,15}", "v?[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}"),
                0..8,
            ),
        ) {
            let objs: Vec<Value> = pkgs
                .iter()
                .map(|(v, n, ver)| serde_json::json!({"name": format!("{v}/{n}"), "version": ver}))
                .collect();
            let docs = [
                ("composer.lock", serde_json::json!({"packages": objs, "packages-dev": []})),
                ("vendor/composer/installed.json", serde_json::json!({"packages": objs, "dev": true})),
                ("vendor/composer/installed.json", Value::Array(objs.clone())),
            ];
            for (path, doc) in docs {
                let e = FileEntry { path: path.into(), contents: doc.to_string().into_bytes(), layer_digest: None };
                let out = ComposerAnalyzer.analyze(&[&e], None);
                proptest::prop_assert!(out.errors.is_empty(), "{:?}", out.errors);
                let got: Vec<(String, String, String)> = out
                    .packages
                    .iter()
                    .map(|p| (
                        p.purl.namespace.clone().unwrap_or_default(),
                        p.purl.name.clone(),
                        p.purl.version.clone().unwrap_or_default(),
                    ))
                    .collect();
                let want: Vec<(String, String, String)> =
                    pkgs.iter().map(|(v, n, ver)| (v.clone(), n.clone(), ver.clone())).collect();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
