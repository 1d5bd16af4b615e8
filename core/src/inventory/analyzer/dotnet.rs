//! .NET dependencies from `<app>.deps.json`, the file the .NET SDK writes next to
//! an application or library for the host to resolve assemblies with.
//!
//! Every `libraries` entry of `"type": "package"` (a NuGet package) is a package;
//! its key is `<name>/<version>`. `project` entries (the application and its
//! project references) and `reference` entries (plain assemblies) are not NuGet
//! packages and are skipped. Names keep NuGet's spelling (`Newtonsoft.Json`);
//! NuGet compares them case-insensitively.

use serde_json::Value;

use super::{Analysis, Analyzer};
use crate::inventory::{FileEntry, FoundPackage, OsRelease};
use crate::sbom::Purl;

/// deps.json files larger than this are refused (real ones are under 1 MiB).
const MAX_BYTES: usize = 32 * 1024 * 1024;
/// Libraries read from one file at most.
const MAX_LIBRARIES: usize = 100_000;

/// Reads `*.deps.json`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DotnetAnalyzer;

impl Analyzer for DotnetAnalyzer {
    fn name(&self) -> &'static str {
        "dotnet"
    }

    fn wants(&self, path: &str) -> bool {
        let file = path.rsplit('/').next().unwrap_or(path);
        file.len() > ".deps.json".len() && file.ends_with(".deps.json")
    }

    fn analyze(&self, files: &[&FileEntry], _os: Option<&OsRelease>) -> Analysis {
        Analysis::per_file("dotnet", files, parse)
    }
}

fn parse(f: &FileEntry) -> Result<Vec<FoundPackage>, String> {
    if f.contents.len() > MAX_BYTES {
        return Err(format!("larger than {MAX_BYTES} bytes"));
    }
    if crate::json_depth::exceeds(&f.contents, 64) {
        return Err("JSON nested deeper than 64".into());
    }
    // The SDK writes a UTF-8 byte order mark on some platforms.
    let bytes = f
        .contents
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&f.contents);
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let libraries = v
        .get("libraries")
        .and_then(Value::as_object)
        .ok_or("no \"libraries\" object")?;
    if libraries.len() > MAX_LIBRARIES {
        return Err(format!("more than {MAX_LIBRARIES} libraries"));
    }
    let mut out = Vec::new();
    for (key, lib) in libraries {
        if lib.get("type").and_then(Value::as_str) != Some("package") {
            continue;
        }
        let (name, version) = key
            .rsplit_once('/')
            .filter(|(n, v)| !n.is_empty() && !v.is_empty())
            .ok_or_else(|| format!("library key {key:?} is not name/version"))?;
        let purl = Purl {
            ty: "nuget".into(),
            namespace: None,
            name: name.to_string(),
            version: Some(version.to_string()),
            qualifiers: Default::default(),
            subpath: None,
        };
        let purl = Purl::parse(&purl.to_string()).map_err(|e| e.to_string())?;
        out.push(FoundPackage {
            purl,
            name: name.to_string(),
            version: version.to_string(),
            files: vec![f.path.clone()],
            layer_digest: f.layer_digest.clone(),
            licenses: Vec::new(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, text: &str) -> FileEntry {
        FileEntry::new(path, text, Some("sha256:la"))
    }

    #[test]
    fn wants_deps_json_only() {
        let a = DotnetAnalyzer;
        assert!(a.wants("app/MyApp.deps.json"));
        assert!(a.wants("Web.deps.json"));
        assert!(!a.wants("app/.deps.json"));
        assert!(!a.wants("app/MyApp.runtimeconfig.json"));
        assert!(!a.wants("app/deps.json"));
    }

    #[test]
    fn packages_not_projects() {
        let e = entry(
            "app/MyApp.deps.json",
            "\u{feff}{\"runtimeTarget\":{\"name\":\".NETCoreApp,Version=v8.0\"},\"libraries\":{\
             \"MyApp/1.0.0\":{\"type\":\"project\",\"serviceable\":false,\"sha512\":\"\"},\
             \"Newtonsoft.Json/13.0.1\":{\"type\":\"package\",\"serviceable\":true},\
             \"Legacy/1.0.0.0\":{\"type\":\"reference\"}}}",
        );
        let out = DotnetAnalyzer.analyze(&[&e], None);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let purls: Vec<String> = out.packages.iter().map(|p| p.purl.to_string()).collect();
        assert_eq!(purls, ["pkg:nuget/Newtonsoft.Json@13.0.1"]);
        assert_eq!(out.packages[0].layer_digest.as_deref(), Some("sha256:la"));
    }

    #[test]
    fn bad_documents_are_errors() {
        for text in [
            "{}",
            "[]",
            r#"{"libraries":{"NoVersion":{"type":"package"}}}"#,
            r#"{"libraries":{"/1.0":{"type":"package"}}}"#,
        ] {
            let out = DotnetAnalyzer.analyze(&[&entry("a.deps.json", text)], None);
            assert!(out.packages.is_empty() && out.errors.len() == 1, "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let e = FileEntry { path: "a.deps.json".into(), contents: bytes, layer_digest: None };
            let _ = DotnetAnalyzer.analyze(&[&e], None);
        }

        #[test]
        fn generated_deps_round_trip(
            libs in proptest::collection::btree_map(
                "[A-Z][A-Za-z0-9]{0,8}(\\.[A-Z][A-Za-z0-9]{0,8}){0,3}",
                ("[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-[a-z]{1,5}\\.[0-9])?", proptest::bool::ANY),
                0..10,
            ),
        ) {
            let mut map = serde_json::Map::new();
            for (name, (version, is_package)) in &libs {
                let ty = if *is_package { "package" } else { "project" };
                map.insert(format!("{name}/{version}"), serde_json::json!({"type": ty, "serviceable": true}));
            }
            let doc = serde_json::json!({"runtimeTarget": {"name": ".NETCoreApp,Version=v8.0"}, "targets": {}, "libraries": map});
            let e = FileEntry { path: "x/App.deps.json".into(), contents: doc.to_string().into_bytes(), layer_digest: None };
            let out = DotnetAnalyzer.analyze(&[&e], None);
            proptest::prop_assert!(out.errors.is_empty());
            let mut got: Vec<(String, String)> = out.packages.iter().map(|p| (p.purl.name.clone(), p.version.clone())).collect();
            got.sort();
            let want: Vec<(String, String)> = libs
                .iter()
                .filter(|(_, (_, pkg))| *pkg)
                .map(|(n, (v, _))| (n.clone(), v.clone()))
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
