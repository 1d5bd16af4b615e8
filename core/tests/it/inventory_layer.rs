//! Layer reader: whiteouts, links, compression and hostile input, on tars built here.

use std::io::Write;

use proptest::prelude::*;
use stella_core::inventory::layer_tar::{Compression, FileSystem, LayerError, LayerLimits};
use tar::{EntryType, Header};

/// A tar entry to build.
#[derive(Debug, Clone, Copy)]
enum E<'a> {
    F(&'a str, &'a [u8]),
    D(&'a str),
    S(&'a str, &'a str),
    H(&'a str, &'a str),
}

/// A header with the path and link written byte for byte (no validation, so `..`
/// and absolute paths can be produced).
fn header(path: &str, kind: EntryType, size: u64, link: Option<&str>) -> Header {
    let mut h = Header::new_ustar();
    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    if let Some(l) = link {
        h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    h
}

fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match *e {
            E::F(p, data) => b.append(
                &header(p, EntryType::Regular, data.len() as u64, None),
                data,
            ),
            E::D(p) => b.append(&header(p, EntryType::Directory, 0, None), &[][..]),
            E::S(p, t) => b.append(&header(p, EntryType::Symlink, 0, Some(t)), &[][..]),
            E::H(p, t) => b.append(&header(p, EntryType::Link, 0, Some(t)), &[][..]),
        }
        .unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn want_all(_: &str) -> bool {
    true
}

fn apply(fs: &mut FileSystem, digest: &str, blob: &[u8]) -> Result<(), LayerError> {
    fs.apply_layer(digest, blob, &want_all, &LayerLimits::default())
        .map(|_| ())
}

fn contents(fs: &FileSystem, path: &str) -> Option<(Vec<u8>, Option<String>)> {
    fs.files()
        .into_iter()
        .find(|f| f.path == path)
        .map(|f| (f.contents, f.layer_digest))
}

#[test]
fn whiteout_removes_lower_file_and_keeps_layer_of_each_path() {
    let mut fs = FileSystem::new();
    apply(
        &mut fs,
        "sha256:l1",
        &tar_of(&[E::D("etc/"), E::F("etc/a", b"a1"), E::F("etc/b", b"b1")]),
    )
    .unwrap();
    apply(
        &mut fs,
        "sha256:l2",
        &tar_of(&[E::F("etc/.wh.a", b""), E::F("./etc/b", b"b2")]),
    )
    .unwrap();
    assert!(!fs.contains("etc/a"));
    assert_eq!(contents(&fs, "etc/a"), None);
    assert_eq!(
        contents(&fs, "etc/b"),
        Some((b"b2".to_vec(), Some("sha256:l2".into())))
    );
    assert_eq!(fs.layer_of("etc"), Some("sha256:l1"));
    let paths: Vec<String> = fs.files().into_iter().map(|f| f.path).collect();
    assert_eq!(paths, vec!["etc/b"]);
}

#[test]
fn whiteout_does_not_hide_its_own_layer_and_removes_directories() {
    let mut fs = FileSystem::new();
    apply(
        &mut fs,
        "l1",
        &tar_of(&[E::F("x/f", b"old"), E::F("y/deep/g", b"g")]),
    )
    .unwrap();
    // The same-layer file comes before its whiteout in the tar: it must survive.
    apply(
        &mut fs,
        "l2",
        &tar_of(&[
            E::F("x/f", b"new"),
            E::F("x/.wh.f", b""),
            E::F(".wh.y", b""),
        ]),
    )
    .unwrap();
    assert_eq!(
        contents(&fs, "x/f"),
        Some((b"new".to_vec(), Some("l2".into())))
    );
    assert!(!fs.contains("y"));
    assert!(!fs.contains("y/deep/g"));
}

#[test]
fn opaque_directory_hides_lower_contents_only() {
    let mut fs = FileSystem::new();
    apply(
        &mut fs,
        "l1",
        &tar_of(&[
            E::D("d/"),
            E::F("d/a", b"a"),
            E::F("d/sub/b", b"b"),
            E::F("dd/keep", b"k"),
        ]),
    )
    .unwrap();
    let stats = fs
        .apply_layer(
            "l2",
            &tar_of(&[E::D("d/"), E::F("d/.wh..wh..opq", b""), E::F("d/c", b"c")])[..],
            &want_all,
            &LayerLimits::default(),
        )
        .unwrap();
    assert_eq!(stats.whiteouts, 1);
    assert!(fs.contains("d"));
    assert!(!fs.contains("d/a"));
    assert!(!fs.contains("d/sub/b"));
    assert_eq!(
        contents(&fs, "d/c"),
        Some((b"c".to_vec(), Some("l2".into())))
    );
    // `dd` shares a prefix with `d` but is not below it.
    assert!(fs.contains("dd/keep"));
}

#[test]
fn symlink_to_wanted_file_resolves_with_target_layer() {
    let mut fs = FileSystem::new();
    apply(
        &mut fs,
        "l1",
        &tar_of(&[E::F("usr/lib/os-release", b"ID=debian\n")]),
    )
    .unwrap();
    apply(
        &mut fs,
        "l2",
        &tar_of(&[E::S("etc/os-release", "../usr/lib/os-release")]),
    )
    .unwrap();
    assert_eq!(
        fs.resolve("etc/os-release").as_deref(),
        Some("usr/lib/os-release")
    );
    assert_eq!(
        contents(&fs, "etc/os-release"),
        Some((b"ID=debian\n".to_vec(), Some("l1".into())))
    );
}

#[test]
fn unwanted_link_target_is_reported_missing() {
    let wants = |p: &str| p == "etc/os-release";
    let mut fs = FileSystem::new();
    let blob = tar_of(&[
        E::F("usr/lib/os-release", b"ID=debian\n"),
        E::S("etc/os-release", "/usr/lib/os-release"),
    ]);
    fs.apply_layer("l1", &blob[..], &wants, &LayerLimits::default())
        .unwrap();
    assert!(fs.files().is_empty());
    assert_eq!(
        fs.missing_link_targets().into_iter().collect::<Vec<_>>(),
        vec!["usr/lib/os-release"]
    );
}

#[test]
fn symlinks_never_escape_the_root() {
    let mut fs = FileSystem::new();
    apply(
        &mut fs,
        "l1",
        &tar_of(&[
            E::F("etc/passwd", b"root:x:0:0:image\n"),
            E::S("a/b/rel", "../../../../../etc/passwd"),
            E::S("a/abs", "/etc/passwd"),
            E::S("a/dirlink", "/../.."),
            E::S("loop1", "loop2"),
            E::S("loop2", "loop1"),
        ]),
    )
    .unwrap();
    assert_eq!(fs.resolve("a/b/rel").as_deref(), Some("etc/passwd"));
    assert_eq!(fs.resolve("a/abs").as_deref(), Some("etc/passwd"));
    assert_eq!(
        fs.resolve("a/dirlink/etc/passwd").as_deref(),
        Some("etc/passwd")
    );
    assert_eq!(fs.resolve("loop1"), None);
    assert_eq!(
        contents(&fs, "a/b/rel").map(|c| c.0),
        Some(b"root:x:0:0:image\n".to_vec())
    );
    assert_eq!(
        contents(&fs, "a/abs").map(|c| c.0),
        Some(b"root:x:0:0:image\n".to_vec())
    );
    assert_eq!(contents(&fs, "loop1"), None);
}

#[test]
fn dot_dot_entries_are_normalised_or_rejected() {
    let mut fs = FileSystem::new();
    apply(
        &mut fs,
        "l1",
        &tar_of(&[E::F("a/../b", b"b"), E::F("/abs/c", b"c")]),
    )
    .unwrap();
    assert!(fs.contains("b"));
    assert!(fs.contains("abs/c"));
    let err = apply(&mut fs, "l2", &tar_of(&[E::F("../../etc/passwd", b"x")])).unwrap_err();
    assert!(
        matches!(err, LayerError::UnsafePath { ref path, .. } if path == "../../etc/passwd"),
        "{err}"
    );
    let err = apply(&mut fs, "l3", &tar_of(&[E::H("x", "../escape")])).unwrap_err();
    assert!(matches!(err, LayerError::UnsafePath { .. }), "{err}");
}

#[test]
fn hard_links_share_contents_even_after_target_whiteout() {
    let mut fs = FileSystem::new();
    apply(
        &mut fs,
        "l1",
        &tar_of(&[E::F("bin/a", b"ELF"), E::H("bin/b", "bin/a")]),
    )
    .unwrap();
    apply(&mut fs, "l2", &tar_of(&[E::H("bin/c", "./bin/a")])).unwrap();
    apply(&mut fs, "l3", &tar_of(&[E::F("bin/.wh.a", b"")])).unwrap();
    assert!(!fs.contains("bin/a"));
    assert_eq!(contents(&fs, "bin/b").map(|c| c.0), Some(b"ELF".to_vec()));
    assert_eq!(contents(&fs, "bin/c").map(|c| c.0), Some(b"ELF".to_vec()));
}

#[test]
fn gzip_and_zstd_layers_are_detected_by_magic() {
    let plain = tar_of(&[E::F("var/lib/dpkg/status", b"Package: bash\n")]);
    for (blob, expect) in [
        (plain.clone(), Compression::None),
        (gzip(&plain), Compression::Gzip),
        (zstd::encode_all(&plain[..], 3).unwrap(), Compression::Zstd),
    ] {
        let mut fs = FileSystem::new();
        let stats = fs
            .apply_layer("l", &blob[..], &want_all, &LayerLimits::default())
            .unwrap();
        assert_eq!(stats.compression, expect);
        assert_eq!(stats.blob_bytes, blob.len() as u64);
        assert_eq!(stats.collected, 1);
        assert_eq!(
            contents(&fs, "var/lib/dpkg/status").map(|c| c.0),
            Some(b"Package: bash\n".to_vec())
        );
    }
    let mut fs = FileSystem::new();
    let err = apply(&mut fs, "l", b"BZh91AY&SY").unwrap_err();
    assert!(
        matches!(
            err,
            LayerError::UnsupportedCompression {
                format: "bzip2",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn only_wanted_files_are_kept() {
    let wants = |p: &str| p.ends_with(".json");
    let mut fs = FileSystem::new();
    let blob = tar_of(&[E::F("a/package.json", b"{}"), E::F("a/index.js", b"code")]);
    let stats = fs
        .apply_layer("l", &blob[..], &wants, &LayerLimits::default())
        .unwrap();
    assert_eq!(stats.collected, 1);
    assert!(fs.contains("a/index.js"));
    let paths: Vec<String> = fs.files().into_iter().map(|f| f.path).collect();
    assert_eq!(paths, vec!["a/package.json"]);
}

#[test]
fn gzip_bomb_beyond_limit_is_an_error() {
    let big = vec![0u8; 8 << 20];
    let blob = gzip(&tar_of(&[E::F("zeros", &big)]));
    assert!(
        blob.len() < 128 << 10,
        "bomb compresses well: {}",
        blob.len()
    );
    let limits = LayerLimits {
        max_layer_bytes: 1 << 20,
        ..LayerLimits::default()
    };
    let mut fs = FileSystem::new();
    let err = fs
        .apply_layer("bomb", &blob[..], &|_: &str| false, &limits)
        .unwrap_err();
    assert!(
        matches!(
            err,
            LayerError::EntryTooLarge { .. } | LayerError::DecompressedTooLarge { .. }
        ),
        "{err}"
    );
    // Many small entries: no single header is too large, the total is.
    let files: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| (format!("f{i}"), vec![0u8; 64 << 10]))
        .collect();
    let entries: Vec<E> = files.iter().map(|(p, d)| E::F(p, d)).collect();
    let blob = gzip(&tar_of(&entries));
    let err = fs
        .apply_layer("bomb2", &blob[..], &|_: &str| false, &limits)
        .unwrap_err();
    assert!(
        matches!(err, LayerError::DecompressedTooLarge { limit, .. } if limit == 1 << 20),
        "{err}"
    );
}

#[test]
fn truncated_layers_are_errors() {
    let plain = tar_of(&[E::F("a", &[7u8; 4000]), E::F("b", b"b")]);
    for blob in [plain[..1500].to_vec(), {
        let g = gzip(&plain);
        g[..g.len() / 2].to_vec()
    }] {
        let mut fs = FileSystem::new();
        let err = apply(&mut fs, "t", &blob).unwrap_err();
        assert!(matches!(err, LayerError::Read { .. }), "{err}");
    }
}

#[test]
fn huge_size_header_is_rejected() {
    let mut h = header("big", EntryType::Regular, 0, None);
    h.set_size(1 << 50);
    h.set_cksum();
    let mut blob = h.as_bytes().to_vec();
    blob.extend_from_slice(&[0u8; 1024]);
    let mut fs = FileSystem::new();
    let err = apply(&mut fs, "h", &blob).unwrap_err();
    assert!(
        matches!(err, LayerError::EntryTooLarge { size, .. } if size == 1 << 50),
        "{err}"
    );
}

#[test]
fn long_names_and_pax_paths_are_checked() {
    // GNU long name, longer than the path limit.
    let long = "d/".repeat(3000) + "f";
    let mut b = tar::Builder::new(Vec::new());
    let mut h = Header::new_gnu();
    h.set_size(1);
    b.append_data(&mut h, &long, &b"x"[..]).unwrap();
    let blob = b.into_inner().unwrap();
    let mut fs = FileSystem::new();
    let err = apply(&mut fs, "l", &blob).unwrap_err();
    assert!(
        matches!(err, LayerError::PathTooLong { len, .. } if len == long.len()),
        "{err}"
    );
    // A PAX `path` record that climbs out of the root.
    let record = |k: &str, v: &str| {
        let body = format!(" {k}={v}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        format!("{len}{body}")
    };
    let pax = record("path", "../../../etc/shadow");
    let mut b = tar::Builder::new(Vec::new());
    b.append(
        &header("PaxHeader", EntryType::XHeader, pax.len() as u64, None),
        pax.as_bytes(),
    )
    .unwrap();
    b.append(&header("innocent", EntryType::Regular, 1, None), &b"x"[..])
        .unwrap();
    let blob = b.into_inner().unwrap();
    let err = apply(&mut fs, "l", &blob).unwrap_err();
    assert!(
        matches!(err, LayerError::UnsafePath { ref path, .. } if path == "../../../etc/shadow"),
        "{err}"
    );
}

#[test]
fn file_and_total_limits() {
    let limits = LayerLimits {
        max_file_bytes: 10,
        max_total_bytes: 25,
        ..LayerLimits::default()
    };
    let mut fs = FileSystem::new();
    let stats = fs
        .apply_layer(
            "l",
            &tar_of(&[E::F("small", b"12345"), E::F("large", &[1u8; 11])])[..],
            &want_all,
            &limits,
        )
        .unwrap();
    assert_eq!(stats.oversized, vec!["large".to_string()]);
    assert!(fs.contains("large"));
    assert_eq!(fs.files().len(), 1);
    let entries: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("f{i}"), vec![2u8; 8])).collect();
    let e: Vec<E> = entries.iter().map(|(p, d)| E::F(p, d)).collect();
    let err = fs
        .apply_layer("l2", &tar_of(&e)[..], &want_all, &limits)
        .unwrap_err();
    assert!(
        matches!(err, LayerError::ContentsTooLarge { limit: 25, .. }),
        "{err}"
    );
    let limits = LayerLimits {
        max_entries: 3,
        ..LayerLimits::default()
    };
    let e: Vec<E> = entries.iter().map(|(p, _)| E::D(p)).collect();
    let err = FileSystem::new()
        .apply_layer("l3", &tar_of(&e)[..], &want_all, &limits)
        .unwrap_err();
    assert!(
        matches!(err, LayerError::TooManyEntries { limit: 3, .. }),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), compress in 0u8..3) {
        let blob = match compress {
            0 => bytes,
            1 => gzip(&bytes),
            _ => zstd::encode_all(&bytes[..], 1).unwrap(),
        };
        let limits = LayerLimits { max_layer_bytes: 1 << 20, max_total_bytes: 1 << 16, ..LayerLimits::default() };
        let mut fs = FileSystem::new();
        let _ = fs.apply_layer("p", &blob[..], &want_all, &limits);
        let _ = fs.files();
        let _ = fs.missing_link_targets();
    }

    #[test]
    fn mutated_tars_never_panic(pos in 0usize..3072, byte in any::<u8>(), cut in 0usize..3072) {
        let mut blob = tar_of(&[E::F("a/b", b"hello"), E::S("l", "../a/b"), E::H("h", "a/b"), E::F("a/.wh.x", b"")]);
        if let Some(b) = blob.get_mut(pos) { *b = byte; }
        blob.truncate(cut.max(1));
        let mut fs = FileSystem::new();
        let _ = fs.apply_layer("m", &blob[..], &want_all, &LayerLimits::default());
        let _ = fs.files();
    }
}

#[test]
fn whiteouts_and_overwrites_free_the_contents_budget() {
    let limits = LayerLimits {
        max_total_bytes: 10,
        ..LayerLimits::default()
    };
    let mut fs = FileSystem::new();
    fs.apply_layer(
        "l1",
        &tar_of(&[E::F("a", b"12345678")])[..],
        &want_all,
        &limits,
    )
    .unwrap();
    fs.apply_layer("l2", &tar_of(&[E::F(".wh.a", b"")])[..], &want_all, &limits)
        .unwrap();
    fs.apply_layer(
        "l3",
        &tar_of(&[E::F("b", b"12345678")])[..],
        &want_all,
        &limits,
    )
    .unwrap();
    fs.apply_layer(
        "l4",
        &tar_of(&[E::F("b", b"87654321")])[..],
        &want_all,
        &limits,
    )
    .unwrap();
    assert_eq!(
        contents(&fs, "b"),
        Some((b"87654321".to_vec(), Some("l4".into())))
    );
    let err = fs
        .apply_layer("l5", &tar_of(&[E::F("c", b"123")])[..], &want_all, &limits)
        .unwrap_err();
    assert!(matches!(err, LayerError::ContentsTooLarge { .. }), "{err}");
}
