#![no_main]
//! Fuzz target: any bytes, offered as each metadata file every analyzer reads
//! (dpkg status, apk installed, rpmdb, os-release, Python metadata, npm
//! manifests and locks, Cargo.lock, gemspecs and Gemfile.lock, composer.lock and
//! installed.json, deps.json), and as a Java archive (through `reduce`, then
//! `analyze` of the evidence, and as evidence itself), must give packages or
//! per-file errors, never a panic.
use libfuzzer_sys::fuzz_target;
use stella_core::inventory::FileEntry;
use stella_core::inventory::analyzer::{self, Analyzer, Reduced, java, os_release};

/// One path per format the analyzers read.
const PATHS: &[&str] = &[
    "etc/os-release",
    "etc/alpine-release",
    "var/lib/dpkg/status",
    "var/lib/dpkg/status.d/base",
    "var/lib/dpkg/info/libc6:amd64.list",
    "lib/apk/db/installed",
    "var/lib/rpm/rpmdb.sqlite",
    "var/lib/rpm/Packages",
    "usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA",
    "app/node_modules/x/package.json",
    "app/package-lock.json",
    "src/Cargo.lock",
    "usr/lib/ruby/gems/3.1.0/specifications/rack-2.2.22.gemspec",
    "srv/app/Gemfile.lock",
    "var/www/app/composer.lock",
    "var/www/app/vendor/composer/installed.json",
    "app/MyApp.deps.json",
];

/// Java archives go through the reader's hook first.
const ARCHIVES: &[&str] = &["app/lib/x.jar", "srv/app.war"];

fuzz_target!(|data: &[u8]| {
    let analyzers = analyzer::all();
    for path in PATHS {
        let entry = FileEntry {
            path: (*path).to_string(),
            contents: data.to_vec(),
            layer_digest: Some("sha256:fuzz".into()),
        };
        let os = os_release::detect(&[&entry]);
        for a in analyzers.iter().filter(|a| a.wants(path)) {
            let _ = a.analyze(&[&entry], os.as_ref());
        }
    }
    for path in ARCHIVES {
        for a in analyzers.iter().filter(|a| a.wants(path)) {
            // As the layer reader does: keep what reduce returns, then analyze it.
            let kept = match a.reduce(path, data) {
                Reduced::Whole => data.to_vec(),
                Reduced::Evidence(e) => e,
                Reduced::Nothing => continue,
            };
            let entry = FileEntry {
                path: (*path).to_string(),
                contents: kept,
                layer_digest: None,
            };
            let _ = a.analyze(&[&entry], None);
        }
    }
    // The evidence format itself, from untrusted bytes.
    let mut evidence = java::MAGIC.to_vec();
    evidence.extend_from_slice(data);
    let entry = FileEntry {
        path: "a.jar".into(),
        contents: evidence,
        layer_digest: None,
    };
    let _ = java::JavaAnalyzer.analyze(&[&entry], None);
});
