//! npm packages: installed `node_modules/<name>/package.json` (scoped too, at any
//! depth) and `package-lock.json` (lockfileVersion 1, 2 and 3).

use serde_json::Value;

use super::{Analysis, Analyzer};
use crate::inventory::{FileEntry, FoundPackage, OsRelease};
use crate::sbom::Purl;

/// Lock files list at most this many packages (real ones hold a few thousand).
const MAX_LOCK_PACKAGES: usize = 200_000;
/// Nesting of lockfileVersion 1 `dependencies` trees followed at most.
const MAX_V1_DEPTH: usize = 64;

/// Reads installed npm packages and lock files.
#[derive(Debug, Default, Clone, Copy)]
pub struct NpmAnalyzer;

impl Analyzer for NpmAnalyzer {
    fn name(&self) -> &'static str {
        "npm"
    }

    fn wants(&self, path: &str) -> bool {
        is_installed_manifest(path) || is_project_lock(path)
    }

    fn analyze(&self, files: &[&FileEntry], _os: Option<&OsRelease>) -> Analysis {
        Analysis::per_file("npm", files, |f| {
            if is_project_lock(&f.path) {
                lock(f)
            } else {
                manifest(f).map(|p| vec![p])
            }
        })
    }
}

/// `…/node_modules/<name>/package.json` or `…/node_modules/@scope/<name>/package.json`
/// (not the package.json files of a package's own fixtures or sub-folders).
fn is_installed_manifest(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [.., nm, scope, _name, "package.json"]
            if *nm == "node_modules" && scope.starts_with('@') =>
        {
            true
        }
        [.., nm, name, "package.json"] => *nm == "node_modules" && !name.starts_with('@'),
        _ => false,
    }
}

/// A project's `package-lock.json` (lock files inside node_modules are ignored:
/// npm does not use them for installed dependencies).
fn is_project_lock(path: &str) -> bool {
    (path == "package-lock.json" || path.ends_with("/package-lock.json"))
        && !path.split('/').any(|c| c == "node_modules")
}

fn json(f: &FileEntry) -> Result<Value, String> {
    if crate::json_depth::exceeds(&f.contents, 128) {
        return Err("JSON nested deeper than 128".into());
    }
    serde_json::from_slice(&f.contents).map_err(|e| format!("not JSON: {e}"))
}

fn manifest(f: &FileEntry) -> Result<FoundPackage, String> {
    let v = json(f)?;
    let name = v["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or("no name")?;
    let version = v["version"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or("no version")?;
    let mut pkg = package(name, version, f)?;
    pkg.licenses = match &v["license"] {
        Value::String(s) => vec![s.clone()],
        Value::Object(o) => o
            .get("type")
            .and_then(Value::as_str)
            .map(|s| vec![s.to_string()])
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    Ok(pkg)
}

fn lock(f: &FileEntry) -> Result<Vec<FoundPackage>, String> {
    let v = json(f)?;
    let mut out = Vec::new();
    if let Some(packages) = v["packages"].as_object() {
        // lockfileVersion 2 and 3: keys are install paths; "" is the project itself.
        for (key, entry) in packages {
            let Some((_, name)) = key.rsplit_once("node_modules/") else {
                continue;
            };
            if entry["link"].as_bool() == Some(true) {
                continue;
            }
            if let Some(version) = entry["version"].as_str() {
                out.push(package(name, version, f)?);
            }
            if out.len() > MAX_LOCK_PACKAGES {
                return Err(format!("more than {MAX_LOCK_PACKAGES} packages"));
            }
        }
    } else if let Some(deps) = v["dependencies"].as_object() {
        v1(deps, f, 0, &mut out)?;
    }
    Ok(out)
}

/// lockfileVersion 1: a tree of `dependencies` objects.
fn v1(
    deps: &serde_json::Map<String, Value>,
    f: &FileEntry,
    depth: usize,
    out: &mut Vec<FoundPackage>,
) -> Result<(), String> {
    if depth > MAX_V1_DEPTH {
        return Err(format!("dependencies nested deeper than {MAX_V1_DEPTH}"));
    }
    for (name, entry) in deps {
        // `version` may be a URL or `file:` spec for non-registry dependencies.
        if let Some(version) = entry["version"].as_str().filter(|v| !v.contains(':')) {
            out.push(package(name, version, f)?);
        }
        if out.len() > MAX_LOCK_PACKAGES {
            return Err(format!("more than {MAX_LOCK_PACKAGES} packages"));
        }
        if let Some(nested) = entry["dependencies"].as_object() {
            v1(nested, f, depth + 1, out)?;
        }
    }
    Ok(())
}

fn package(name: &str, version: &str, f: &FileEntry) -> Result<FoundPackage, String> {
    let (namespace, short) = match name.split_once('/') {
        Some((scope, short)) if scope.starts_with('@') => (Some(scope.to_string()), short),
        _ => (None, name),
    };
    if short.is_empty() || short.contains('/') {
        return Err(format!("invalid package name {name:?}"));
    }
    let purl = Purl {
        ty: "npm".into(),
        namespace,
        name: short.to_string(),
        version: Some(version.to_string()),
        qualifiers: Default::default(),
        subpath: None,
    };
    // Round-trip through the parser so the purl is in canonical form.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, text: &str) -> FileEntry {
        FileEntry::new(path, text, Some("sha256:l4"))
    }

    #[test]
    fn wants_installed_manifests_and_project_locks_only() {
        let a = NpmAnalyzer;
        assert!(a.wants("app/node_modules/qs/package.json"));
        assert!(a.wants("app/node_modules/@babel/core/package.json"));
        assert!(a.wants("app/node_modules/a/node_modules/b/package.json"));
        assert!(a.wants("app/package-lock.json"));
        assert!(!a.wants("app/package.json"));
        assert!(!a.wants("app/node_modules/qs/test/package.json"));
        assert!(!a.wants("app/node_modules/@babel/package.json"));
        assert!(!a.wants("app/node_modules/qs/package-lock.json"));
    }

    #[test]
    fn reads_installed_manifests() {
        let e = entry(
            "app/node_modules/@babel/core/package.json",
            r#"{"name":"@babel/core","version":"7.23.2","license":{"type":"MIT"}}"#,
        );
        let out = NpmAnalyzer.analyze(&[&e], None);
        let p = &out.packages[0];
        assert_eq!(p.purl.to_string(), "pkg:npm/%40babel/core@7.23.2");
        assert_eq!(p.name, "@babel/core");
        assert_eq!(p.licenses, ["MIT"]);
    }

    #[test]
    fn reads_lockfile_v3_and_v1() {
        let v3 = entry(
            "app/package-lock.json",
            r#"{"name":"app","lockfileVersion":3,"packages":{"":{"name":"app","version":"1.0.0"},
              "node_modules/qs":{"version":"6.5.2"},
              "node_modules/@types/node":{"version":"20.1.0"},
              "node_modules/a/node_modules/minimist":{"version":"1.2.5"},
              "node_modules/local":{"resolved":"../local","link":true}}}"#,
        );
        let out = NpmAnalyzer.analyze(&[&v3], None);
        let mut purls: Vec<String> = out.packages.iter().map(|p| p.purl.to_string()).collect();
        purls.sort();
        assert_eq!(
            purls,
            [
                "pkg:npm/%40types/node@20.1.0",
                "pkg:npm/minimist@1.2.5",
                "pkg:npm/qs@6.5.2"
            ]
        );
        let v1 = entry(
            "srv/package-lock.json",
            r#"{"lockfileVersion":1,"dependencies":{"qs":{"version":"6.5.2","dependencies":{"side":{"version":"1.0.0"}}},
              "local":{"version":"file:../local"}}}"#,
        );
        let out = NpmAnalyzer.analyze(&[&v1], None);
        let names: Vec<&str> = out.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["qs", "side"]);
    }

    #[test]
    fn bad_documents_are_errors() {
        let e = entry("app/node_modules/x/package.json", "{\"name\": 1}");
        let out = NpmAnalyzer.analyze(&[&e], None);
        assert!(out.packages.is_empty() && out.errors.len() == 1);
        let deep = entry("app/package-lock.json", &"[".repeat(500));
        assert!(
            NpmAnalyzer.analyze(&[&deep], None).errors[0]
                .reason
                .contains("deeper")
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            for path in ["app/package-lock.json", "app/node_modules/x/package.json"] {
                let e = FileEntry { path: path.into(), contents: bytes.clone(), layer_digest: None };
                let _ = NpmAnalyzer.analyze(&[&e], None);
            }
        }
    }
}
