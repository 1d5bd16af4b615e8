//! The SBOM builder end to end on hand-made OCI layouts: parallel layer reading
//! gives the same SBOM as sequential reading, and the on-disk layer cache serves a
//! second build without reading the blobs again.

use crate::oci_layout;

use std::path::Path;

use crate::oci_layout::{gzip, tagged, tar_of, write_image, write_index};
use stella_core::inventory::analyzer;
use stella_core::inventory::builder::{BuildOptions, BuildOutcome, build};
use stella_core::inventory::cache::LayerCache;
use stella_core::inventory::source;

const STATUS: &[u8] =
    b"Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n\n";
const METADATA: &[u8] = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.25.0\n";
const PACKAGE_JSON: &[u8] = br#"{"name": "lodash", "version": "4.17.20"}"#;

/// Writes a three-layer image (OS + dpkg, a pip package, an npm package) and
/// returns the layer blobs' digests.
fn write_layout(root: &Path) -> Vec<String> {
    let layers = vec![
        gzip(&tar_of(&[
            ("etc/os-release", Some(b"ID=debian\nVERSION_ID=12\n"), None),
            ("var/lib/dpkg/status", Some(STATUS), None),
        ])),
        gzip(&tar_of(&[(
            "usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA",
            Some(METADATA),
            None,
        )])),
        gzip(&tar_of(&[(
            "app/node_modules/lodash/package.json",
            Some(PACKAGE_JSON),
            None,
        )])),
    ];
    let m = write_image(root, &layers, "amd64");
    write_index(root, vec![tagged(m, "app")]);
    layers.iter().map(|l| oci_layout::sha(l)).collect()
}

fn build_with(root: &Path, options: &BuildOptions) -> Result<BuildOutcome, String> {
    let image = source::open(&format!("oci-dir:{}:app", root.display()), None)
        .map_err(|e| e.to_string())?;
    build(image.as_ref(), &analyzer::all(), options, |_, _| {}).map_err(|e| e.to_string())
}

fn purls_and_layers(outcome: &BuildOutcome) -> Vec<(String, Option<String>)> {
    outcome
        .sbom
        .components
        .iter()
        .map(|c| (c.bom_ref.clone(), c.layer_digest.clone()))
        .collect()
}

#[test]
fn parallel_reading_gives_the_sequential_result() {
    let dir = tempfile::tempdir().unwrap();
    let digests = write_layout(dir.path());
    let one = build_with(
        dir.path(),
        &BuildOptions {
            threads: 1,
            ..BuildOptions::default()
        },
    )
    .unwrap();
    let four = build_with(
        dir.path(),
        &BuildOptions {
            threads: 4,
            ..BuildOptions::default()
        },
    )
    .unwrap();
    assert_eq!(one.sbom, four.sbom);
    assert_eq!(
        purls_and_layers(&one),
        [
            (
                "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12".to_string(),
                Some(digests[0].clone())
            ),
            (
                "pkg:npm/lodash@4.17.20".to_string(),
                Some(digests[2].clone())
            ),
            (
                "pkg:pypi/requests@2.25.0".to_string(),
                Some(digests[1].clone())
            ),
        ]
    );
}

#[test]
fn second_build_comes_from_the_cache_without_reading_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let digests = write_layout(dir.path());
    let cached = BuildOptions {
        cache: Some(LayerCache::new(cache_dir.path())),
        ..BuildOptions::default()
    };
    let first = build_with(dir.path(), &cached).unwrap();
    assert!(first.layers.iter().all(|l| !l.from_cache));
    let entries = std::fs::read_dir(cache_dir.path().join("layers"))
        .unwrap()
        .count();
    assert_eq!(entries, digests.len(), "one cache entry per layer");

    // Spoil every layer blob: a build that read them would fail its digest check.
    for d in &digests {
        let blob = dir
            .path()
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"));
        std::fs::write(blob, b"not the layer").unwrap();
    }
    let uncached = build_with(dir.path(), &BuildOptions::default()).unwrap_err();
    assert!(uncached.contains("digest mismatch"), "{uncached}");
    let second = build_with(dir.path(), &cached).unwrap();
    assert!(second.layers.iter().all(|l| l.from_cache));
    assert_eq!(first.sbom, second.sbom);
}

#[test]
fn a_corrupt_cache_entry_is_a_miss_and_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    write_layout(dir.path());
    let cached = BuildOptions {
        cache: Some(LayerCache::new(cache_dir.path())),
        ..BuildOptions::default()
    };
    let first = build_with(dir.path(), &cached).unwrap();
    let mut entries: Vec<_> = std::fs::read_dir(cache_dir.path().join("layers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let spoiled = &entries[0];
    std::fs::write(spoiled, b"\x28\xb5\x2f\xfd garbage").unwrap();
    let second = build_with(dir.path(), &cached).unwrap();
    assert_eq!(first.sbom, second.sbom);
    assert_eq!(second.layers.iter().filter(|l| l.from_cache).count(), 2);
    let third = build_with(dir.path(), &cached).unwrap();
    assert!(third.layers.iter().all(|l| l.from_cache));
}

#[test]
fn cache_entries_depend_on_the_analyzers() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    write_layout(dir.path());
    let cached = BuildOptions {
        cache: Some(LayerCache::new(cache_dir.path())),
        ..BuildOptions::default()
    };
    build_with(dir.path(), &cached).unwrap();
    // Fewer analyzers keep fewer files: their extracts must not be served for all.
    let image = source::open(&format!("oci-dir:{}:app", dir.path().display()), None).unwrap();
    let dpkg_only: Vec<_> = analyzer::all()
        .into_iter()
        .filter(|a| a.name() == "dpkg")
        .collect();
    let outcome = build(image.as_ref(), &dpkg_only, &cached, |_, _| {}).unwrap();
    assert!(outcome.layers.iter().all(|l| !l.from_cache));
    assert_eq!(outcome.sbom.components.len(), 1);
}
