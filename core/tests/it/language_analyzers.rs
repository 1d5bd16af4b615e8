//! Language analyzers on real files (Java archives, Ruby gemspecs and lock files,
//! Composer locks, .NET deps.json), compared with truth listed independently in
//! each `tests/data/<lang>/README.md`.

use std::path::PathBuf;

use stella_core::inventory::FileEntry;
use stella_core::inventory::analyzer::{Analysis, Analyzer, Reduced, all};

fn data(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn entry(path: &str, contents: Vec<u8>) -> FileEntry {
    FileEntry {
        path: path.into(),
        contents,
        layer_digest: Some("sha256:fixture".into()),
    }
}

/// The registered analyzer with this name (so registration is tested too).
fn analyzer(name: &str) -> Box<dyn Analyzer> {
    all()
        .into_iter()
        .find(|a| a.name() == name)
        .unwrap_or_else(|| panic!("no analyzer {name} in all()"))
}

/// Lines of a truth file, comments and blanks dropped, sorted.
fn truth(rel: &str) -> Vec<String> {
    let text = String::from_utf8(data(rel)).expect("utf-8");
    let mut v: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// `purl location` per package found, sorted.
fn purls_with_files(out: &Analysis) -> Vec<String> {
    let mut v: Vec<String> = out
        .packages
        .iter()
        .map(|p| format!("{} {}", p.purl, p.files.join(",")))
        .collect();
    v.sort();
    v
}

/// As the layer reader does: reduce at read time, analyze the kept evidence.
fn reduce_then_analyze(a: &dyn Analyzer, files: &[&str]) -> Analysis {
    let kept: Vec<FileEntry> = files
        .iter()
        .map(|f| {
            let bytes = data(&format!("java/{f}"));
            assert!(a.wants(f) && a.reduces(), "{f}");
            match a.reduce(f, &bytes) {
                Reduced::Evidence(ev) => {
                    assert!(ev.len() < bytes.len(), "{f}: evidence not smaller");
                    entry(f, ev)
                }
                other => panic!("{f}: {other:?}"),
            }
        })
        .collect();
    let refs: Vec<&FileEntry> = kept.iter().filter(|e| a.accepts(e)).collect();
    assert_eq!(refs.len(), files.len());
    a.analyze(&refs, None)
}

#[test]
fn java_archives_match_unzip_truth() {
    let a = analyzer("java");
    let files = ["slf4j-api.jar", "jzlib-1.1.3.jar", "app.war", "app.ear"];
    let out = reduce_then_analyze(a.as_ref(), &files);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let mut expected = truth("java/expected-pom-properties.txt");
    expected.extend(truth("java/expected-manifest.txt"));
    expected.sort();
    assert_eq!(purls_with_files(&out), expected);
    assert!(
        out.packages
            .iter()
            .all(|p| p.layer_digest.as_deref() == Some("sha256:fixture"))
    );
}

#[test]
fn java_whole_archives_give_the_same_packages() {
    // A reader that does not reduce hands the archive whole; the result is the same.
    let a = analyzer("java");
    let whole: Vec<FileEntry> = ["slf4j-api.jar", "app.ear"]
        .iter()
        .map(|f| entry(f, data(&format!("java/{f}"))))
        .collect();
    let refs: Vec<&FileEntry> = whole.iter().collect();
    let out = a.analyze(&refs, None);
    let reduced = reduce_then_analyze(a.as_ref(), &["slf4j-api.jar", "app.ear"]);
    assert_eq!(purls_with_files(&out), purls_with_files(&reduced));
}

/// Every file under `tests/data/<dir>` (recursively), as `(relative path, bytes)`.
fn tree(dir: &str) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &std::path::Path, at: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(at)
            .unwrap_or_else(|e| panic!("{}: {e}", at.display()))
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).expect("under root");
                let rel = rel.to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir);
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

#[test]
fn ruby_gemspecs_match_rubygems() {
    let a = analyzer("ruby");
    // As in an image: under usr/lib/ruby/gems/3.1.0/.
    let files: Vec<FileEntry> = tree("ruby")
        .into_iter()
        .filter(|(p, _)| p.ends_with(".gemspec"))
        .map(|(p, b)| entry(&format!("usr/lib/ruby/gems/3.1.0/{p}"), b))
        .collect();
    let refs: Vec<&FileEntry> = files.iter().filter(|f| a.wants(&f.path)).collect();
    assert_eq!(refs.len(), files.len(), "every installed gemspec is wanted");
    let out = a.analyze(&refs, None);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let mut got: Vec<String> = out
        .packages
        .iter()
        .map(|p| {
            let plat = p
                .purl
                .qualifiers
                .get("platform")
                .map_or("ruby", String::as_str);
            let file = p.files[0].trim_start_matches("usr/lib/ruby/gems/3.1.0/");
            format!(
                "{file} {} {} {plat} {}",
                p.name,
                p.version,
                p.licenses.join(",")
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, truth("ruby/expected-gemspecs.txt"));
    for p in &out.packages {
        assert_eq!(
            p.purl.to_string(),
            format!("pkg:gem/{}@{}", p.name, p.version)
        );
    }
}

#[test]
fn ruby_gemfile_lock_matches_bundler() {
    let a = analyzer("ruby");
    let lock = entry("srv/app/Gemfile.lock", data("ruby/Gemfile.lock"));
    assert!(a.wants(&lock.path));
    let out = a.analyze(&[&lock], None);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let mut got: Vec<String> = out
        .packages
        .iter()
        .map(|p| {
            let source = if p.purl.qualifiers.contains_key("vcs_url") {
                "Bundler::Source::Git"
            } else {
                "Bundler::Source::Rubygems"
            };
            let plat = p
                .purl
                .qualifiers
                .get("platform")
                .map_or("ruby", String::as_str);
            format!("{} {} {plat} {source}", p.name, p.version)
        })
        .collect();
    got.sort();
    // Path sources (the application's own gems) are skipped by design.
    let expected: Vec<String> = truth("ruby/expected-gemfile-lock.txt")
        .into_iter()
        .filter(|l| !l.ends_with("Bundler::Source::Path"))
        .collect();
    assert_eq!(got, expected);
    let git = out
        .packages
        .iter()
        .find(|p| p.purl.qualifiers.contains_key("vcs_url"))
        .expect("git gem");
    let lock_text = String::from_utf8(data("ruby/Gemfile.lock")).expect("utf-8");
    let revision = lock_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("revision: "))
        .expect("revision line");
    assert!(git.purl.qualifiers["vcs_url"].ends_with(&format!("@{revision}")));
}

/// `name version` per package found, sorted.
fn names_versions(out: &Analysis) -> Vec<String> {
    let mut v: Vec<String> = out
        .packages
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    v.sort();
    v
}

#[test]
fn composer_installed_json_matches_installed_php() {
    let a = analyzer("composer");
    let v2 = entry(
        "usr/share/mediawiki/vendor/composer/installed.json",
        data("composer/vendor/composer/installed.json"),
    );
    assert!(a.wants(&v2.path));
    let out = a.analyze(&[&v2], None);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let expected = truth("composer/expected-installed.txt");
    assert_eq!(names_versions(&out), expected);
    for p in &out.packages {
        let (vendor, name) = p.name.split_once('/').expect("vendor/name");
        assert_eq!(
            p.purl.to_string(),
            format!(
                "pkg:composer/{}/{}@{}",
                vendor.to_lowercase(),
                name.to_lowercase(),
                p.version
            )
        );
    }
    // Composer 1 wrote the same package objects as a bare array.
    let doc: serde_json::Value = serde_json::from_slice(&v2.contents).expect("json");
    let v1 = entry(
        "var/www/vendor/composer/installed.json",
        serde_json::to_vec(&doc["packages"]).expect("json"),
    );
    let out = a.analyze(&[&v1], None);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(names_versions(&out), expected);
}

#[test]
fn composer_lock_matches_json_listing() {
    let a = analyzer("composer");
    let lock = entry(
        "usr/share/mediawiki/vendor/composer.lock",
        data("composer/vendor/composer.lock"),
    );
    assert!(a.wants(&lock.path));
    let out = a.analyze(&[&lock], None);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        names_versions(&out),
        truth("composer/expected-composer-lock.txt")
    );
    // A leading `v` is kept, as Composer wrote it.
    assert!(out.packages.iter().any(
        |p| p.version.starts_with('v') && p.purl.version.as_deref() == Some(p.version.as_str())
    ));
}

#[test]
fn dotnet_deps_json_matches_json_listing() {
    let a = analyzer("dotnet");
    let files: Vec<FileEntry> = tree("dotnet")
        .into_iter()
        .filter(|(p, _)| p.ends_with(".json"))
        .map(|(p, b)| entry(&format!("app/{p}"), b))
        .collect();
    assert_eq!(files.len(), 2);
    let refs: Vec<&FileEntry> = files.iter().filter(|f| a.wants(&f.path)).collect();
    assert_eq!(refs.len(), 2);
    let out = a.analyze(&refs, None);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(names_versions(&out), truth("dotnet/expected-packages.txt"));
    for p in &out.packages {
        assert_eq!(
            p.purl.to_string(),
            format!("pkg:nuget/{}@{}", p.name, p.version)
        );
    }
}
