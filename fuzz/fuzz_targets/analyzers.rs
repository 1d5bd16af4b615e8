#![no_main]
//! Fuzz target: any bytes, offered as each metadata file every analyzer reads
//! (dpkg status, apk installed, rpmdb, os-release, Python metadata, npm
//! manifests and locks, Cargo.lock), must give packages or
//! per-file errors, never a panic.
use libfuzzer_sys::fuzz_target;
use stella_core::inventory::analyzer::{self, os_release};
use stella_core::inventory::FileEntry;

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
];

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
});
