//! Python packages: `*.dist-info/METADATA` (wheels, pip) and `*.egg-info/PKG-INFO`
//! or a bare `*.egg-info` file (setuptools), read as RFC 822 headers.

use super::{Analysis, Analyzer};
use crate::ecosystem::pep503;
use crate::inventory::{FileEntry, FoundPackage, OsRelease};
use crate::sbom::Purl;

/// Only the header block is read; metadata longer than this is cut there.
const MAX_HEADER_BYTES: usize = 256 * 1024;

/// Reads installed Python distributions.
#[derive(Debug, Default, Clone, Copy)]
pub struct PythonAnalyzer;

impl Analyzer for PythonAnalyzer {
    fn name(&self) -> &'static str {
        "python"
    }

    fn wants(&self, path: &str) -> bool {
        path.ends_with(".dist-info/METADATA")
            || path.ends_with(".egg-info/PKG-INFO")
            || path.ends_with(".egg-info")
    }

    fn analyze(&self, files: &[&FileEntry], _os: Option<&OsRelease>) -> Analysis {
        Analysis::per_file("python", files, |f| parse(f).map(|p| vec![p]))
    }
}

/// The headers of a metadata file that identify the distribution.
#[derive(Debug, Default, PartialEq, Eq)]
struct Headers {
    name: Option<String>,
    version: Option<String>,
    licenses: Vec<String>,
}

fn parse(f: &FileEntry) -> Result<FoundPackage, String> {
    let head = &f.contents[..f.contents.len().min(MAX_HEADER_BYTES)];
    let text = String::from_utf8_lossy(head);
    let h = headers(&text);
    let name = h.name.filter(|n| !n.is_empty()).ok_or("no Name header")?;
    let version = h
        .version
        .filter(|v| !v.is_empty())
        .ok_or("no Version header")?;
    let purl = Purl {
        ty: "pypi".into(),
        namespace: None,
        name: pep503(&name),
        version: Some(version.clone()),
        qualifiers: Default::default(),
        subpath: None,
    };
    Ok(FoundPackage {
        purl,
        name,
        version,
        files: vec![f.path.clone()],
        layer_digest: f.layer_digest.clone(),
        licenses: h.licenses,
    })
}

/// RFC 822 headers up to the first blank line; continuation lines are folded.
fn headers(text: &str) -> Headers {
    let mut h = Headers::default();
    let mut last: Option<(String, String)> = None;
    let flush = |field: Option<(String, String)>, h: &mut Headers| {
        let Some((k, v)) = field else { return };
        let v = v.trim().to_string();
        match k.to_ascii_lowercase().as_str() {
            "name" if h.name.is_none() => h.name = Some(v),
            "version" if h.version.is_none() => h.version = Some(v),
            // License-Expression (PEP 639) is the precise one; License is free text.
            "license-expression" if !v.is_empty() => h.licenses.insert(0, v),
            "license" if !v.is_empty() && !v.eq_ignore_ascii_case("unknown") && v.len() <= 200 => {
                h.licenses.push(v)
            }
            _ => {}
        }
    };
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = last.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        flush(last.take(), &mut h);
        last = line
            .split_once(':')
            .map(|(k, v)| (k.trim().to_string(), v.to_string()));
    }
    flush(last, &mut h);
    h.licenses.dedup();
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, text: &str) -> FileEntry {
        FileEntry::new(path, text, Some("sha256:l3"))
    }

    const REQUESTS: &str = "Metadata-Version: 2.1\nName: requests\nVersion: 2.25.0\nSummary: Python HTTP for Humans.\nHome-page: https://requests.readthedocs.io\nLicense: Apache 2.0\nPlatform: UNKNOWN\nClassifier: License :: OSI Approved :: Apache Software License\nRequires-Python: >=2.7\n\nRequests\n========\nName: not-a-header\n";

    #[test]
    fn reads_wheel_metadata() {
        let a = PythonAnalyzer;
        let path = "usr/local/lib/python3.11/dist-packages/requests-2.25.0.dist-info/METADATA";
        assert!(a.wants(path));
        let e = entry(path, REQUESTS);
        let out = a.analyze(&[&e], None);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let p = &out.packages[0];
        assert_eq!(p.purl.to_string(), "pkg:pypi/requests@2.25.0");
        assert_eq!(p.name, "requests");
        assert_eq!(p.licenses, ["Apache 2.0"]);
        assert_eq!(p.layer_digest.as_deref(), Some("sha256:l3"));
        assert_eq!(p.files, [path]);
    }

    #[test]
    fn names_are_pep503_normalised_and_expressions_preferred() {
        let e = entry(
            "usr/lib/python3/dist-packages/Jinja2.egg-info/PKG-INFO",
            "Metadata-Version: 2.4\nName: Jinja2\nVersion: 2.11.2\nLicense: BSD-3-Clause\n  with extra words\nLicense-Expression: BSD-3-Clause\n",
        );
        let out = PythonAnalyzer.analyze(&[&e], None);
        let p = &out.packages[0];
        assert_eq!(p.purl.to_string(), "pkg:pypi/jinja2@2.11.2");
        assert_eq!(p.name, "Jinja2");
        assert_eq!(
            p.licenses,
            ["BSD-3-Clause", "BSD-3-Clause with extra words"]
        );
    }

    #[test]
    fn bad_metadata_is_an_error_not_a_package() {
        let e = entry(
            "x.dist-info/METADATA",
            "Metadata-Version: 2.1\nVersion: 1.0\n",
        );
        let out = PythonAnalyzer.analyze(&[&e], None);
        assert!(out.packages.is_empty());
        assert!(out.errors[0].reason.contains("Name"));
        let odd = entry("y.dist-info/METADATA", "Name: odd\nVersion: 1.0 beta/2\n");
        let out = PythonAnalyzer.analyze(&[&odd], None);
        assert_eq!(out.packages[0].version, "1.0 beta/2");
        assert!(!PythonAnalyzer.wants("usr/lib/python3/dist-packages/requests/__init__.py"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let e = FileEntry { path: "a.dist-info/METADATA".into(), contents: bytes, layer_digest: None };
            let _ = PythonAnalyzer.analyze(&[&e], None);
        }
    }
}
