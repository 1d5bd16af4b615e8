//! Image sources: OCI layouts, docker archives and directories built here.

use crate::oci_layout::{gzip, sha, tagged, tar_of, with, write_blob, write_image, write_index};
use serde_json::json;
use stella_core::inventory::layer_tar::LayerLimits;
use stella_core::inventory::source::{self, SourceError, build_file_system};
use tar::{EntryType, Header};

fn wants_os_and_status(p: &str) -> bool {
    p == "etc/os-release" || p == "var/lib/dpkg/status"
}

#[test]
fn oci_dir_layers_in_order_with_blob_digests_and_link_second_pass() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let l1 = gzip(&tar_of(&[
        (
            "usr/lib/os-release",
            Some(b"ID=debian\nVERSION_ID=12\n"),
            None,
        ),
        ("etc/os-release", None, Some("../usr/lib/os-release")),
        ("var/lib/dpkg/status", Some(b"Package: old\n"), None),
    ]));
    let l2 = zstd::encode_all(
        &tar_of(&[("var/lib/dpkg/.wh.status", Some(b""), None)])[..],
        3,
    )
    .unwrap();
    let l3 = tar_of(&[("var/lib/dpkg/status", Some(b"Package: new\n"), None)]);
    let m = write_image(root, &[l1.clone(), l2.clone(), l3.clone()], "amd64");
    write_index(root, vec![tagged(m.clone(), "latest")]);
    let img = source::open(&format!("oci-dir:{}", root.display()), None).unwrap();
    let meta = img.metadata();
    assert_eq!(meta.os.as_deref(), Some("linux"));
    assert_eq!(meta.arch.as_deref(), Some("amd64"));
    assert_eq!(meta.manifest_digest.as_deref(), m["digest"].as_str());
    assert_eq!(meta.diff_ids.len(), 3);
    let digests: Vec<Option<String>> = img.layers().iter().map(|l| l.digest.clone()).collect();
    assert_eq!(
        digests,
        vec![Some(sha(&l1)), Some(sha(&l2)), Some(sha(&l3))]
    );
    let (fs, stats) =
        build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap();
    assert_eq!(stats.len(), 3);
    let files = fs.files();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    // The link target was re-read in a second pass, so it is listed too.
    assert_eq!(
        paths,
        vec![
            "etc/os-release",
            "usr/lib/os-release",
            "var/lib/dpkg/status"
        ]
    );
    assert_eq!(files[0].contents, b"ID=debian\nVERSION_ID=12\n");
    assert_eq!(files[0].layer_digest, Some(sha(&l1)));
    assert_eq!(files[2].contents, b"Package: new\n");
    assert_eq!(files[2].layer_digest, Some(sha(&l3)));
    // Same with the tag spelled out.
    assert!(source::open(&format!("oci-dir:{}:latest", root.display()), None).is_ok());
}

#[test]
fn oci_dir_tag_selection() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let v1 = write_image(
        root,
        &[tar_of(&[("etc/os-release", Some(b"ID=v1\n"), None)])],
        "amd64",
    );
    let v2 = write_image(
        root,
        &[tar_of(&[("etc/os-release", Some(b"ID=v2\n"), None)])],
        "amd64",
    );
    write_index(root, vec![tagged(v1, "v1"), tagged(v2, "v2")]);
    let img = source::open(&format!("oci-dir:{}:v2", root.display()), None).unwrap();
    let (fs, _) =
        build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap();
    assert_eq!(fs.files()[0].contents, b"ID=v2\n");
    let err = source::open(&format!("oci-dir:{}:v3", root.display()), None).unwrap_err();
    assert!(matches!(err, SourceError::NotFound(_)), "{err}");
    let err = source::open(&format!("oci-dir:{}", root.display()), None).unwrap_err();
    assert!(err.to_string().contains("v1, v2"), "{err}");
}

#[test]
fn oci_multi_arch_index_selects_platform() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let amd = write_image(
        root,
        &[gzip(&tar_of(&[(
            "etc/os-release",
            Some(b"ARCH=amd64\n"),
            None,
        )]))],
        "amd64",
    );
    let arm = write_image(
        root,
        &[gzip(&tar_of(&[(
            "etc/os-release",
            Some(b"ARCH=arm64\n"),
            None,
        )]))],
        "arm64",
    );
    let mut amd = amd;
    amd["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let mut arm = arm;
    arm["platform"] = json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [arm, amd]});
    let index_desc = with(
        write_blob(root, index.to_string().as_bytes()),
        "application/vnd.oci.image.index.v1+json",
    );
    write_index(root, vec![tagged(index_desc, "latest")]);
    let src = format!("oci-dir:{}", root.display());
    for (platform, expect, arch) in [
        (None, &b"ARCH=amd64\n"[..], "amd64"),
        (Some("linux/arm64"), &b"ARCH=arm64\n"[..], "arm64"),
        (Some("linux/arm64/v8"), &b"ARCH=arm64\n"[..], "arm64"),
    ] {
        let img = source::open(&src, platform).unwrap();
        assert_eq!(img.metadata().arch.as_deref(), Some(arch));
        let (fs, _) =
            build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap();
        assert_eq!(fs.files()[0].contents, expect);
    }
    let err = source::open(&src, Some("linux/s390x")).unwrap_err();
    assert!(matches!(err, SourceError::NotFound(_)), "{err}");
}

#[test]
fn oci_digest_mismatch_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let layer = gzip(&tar_of(&[("etc/os-release", Some(b"ID=debian\n"), None)]));
    let m = write_image(root, std::slice::from_ref(&layer), "amd64");
    write_index(root, vec![m]);
    // Tamper with the layer blob: same tar, different file contents.
    let evil = gzip(&tar_of(&[("etc/os-release", Some(b"ID=evil!!\n"), None)]));
    let blob_path = root
        .join("blobs/sha256")
        .join(sha(&layer).trim_start_matches("sha256:"));
    std::fs::write(&blob_path, &evil).unwrap();
    let img = source::open(&format!("oci-dir:{}", root.display()), None).unwrap();
    let err =
        build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    // A tampered manifest fails at open.
    let dir2 = tempfile::tempdir().unwrap();
    let m = write_image(dir2.path(), &[layer], "amd64");
    let mpath = dir2
        .path()
        .join("blobs/sha256")
        .join(m["digest"].as_str().unwrap().trim_start_matches("sha256:"));
    let mut text = std::fs::read_to_string(&mpath).unwrap();
    text.push(' ');
    std::fs::write(&mpath, text).unwrap();
    write_index(dir2.path(), vec![m]);
    let err = source::open(&format!("oci-dir:{}", dir2.path().display()), None).unwrap_err();
    assert!(matches!(err, SourceError::DigestMismatch { .. }), "{err}");
}

#[test]
fn oci_malformed_digest_cannot_traverse() {
    let dir = tempfile::tempdir().unwrap();
    write_index(
        dir.path(),
        vec![
            json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:../../../../etc/passwd", "size": 1}),
        ],
    );
    let err = source::open(&format!("oci-dir:{}", dir.path().display()), None).unwrap_err();
    assert!(matches!(err, SourceError::Invalid(_)), "{err}");
}

fn append(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, path, data).unwrap();
}

#[test]
fn docker_archive_legacy_layout() {
    let l1 = tar_of(&[
        ("var/lib/dpkg/status", Some(b"Package: a\n"), None),
        ("etc/os-release", Some(b"ID=debian\n"), None),
    ]);
    let l2 = gzip(&tar_of(&[("etc/.wh.os-release", Some(b""), None)]));
    let diff_ids = vec![sha(&l1), "sha256:".to_string() + &"2".repeat(64)];
    let config = json!({"architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}).to_string();
    let manifest = json!([{"Config": "cfg.json", "RepoTags": ["example/app:1"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]).to_string();
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "aaa/layer.tar", &l1);
    append(&mut b, "bbb/layer.tar", &l2);
    append(&mut b, "cfg.json", config.as_bytes());
    append(&mut b, "manifest.json", manifest.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("img.tar");
    std::fs::write(&file, b.into_inner().unwrap()).unwrap();
    let img = source::open(&format!("docker-archive:{}", file.display()), None).unwrap();
    assert_eq!(img.metadata().name, "example/app:1");
    assert_eq!(img.metadata().arch.as_deref(), Some("arm64"));
    assert_eq!(img.metadata().config_digest, Some(sha(config.as_bytes())));
    let digests: Vec<Option<String>> = img.layers().iter().map(|l| l.digest.clone()).collect();
    assert_eq!(
        digests,
        diff_ids.iter().cloned().map(Some).collect::<Vec<_>>()
    );
    let (fs, _) =
        build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap();
    let files = fs.files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].path, "var/lib/dpkg/status");
    assert_eq!(files[0].layer_digest, Some(sha(&l1)));
    // By reference, and a missing reference.
    assert!(
        source::open(
            &format!("docker-archive:{}:example/app:1", file.display()),
            None
        )
        .is_ok()
    );
    let err =
        source::open(&format!("docker-archive:{}:other:2", file.display()), None).unwrap_err();
    assert!(matches!(err, SourceError::NotFound(_)), "{err}");
}

#[test]
fn docker_archive_blob_layout_with_linked_member_verifies_digest() {
    let layer = tar_of(&[("etc/os-release", Some(b"ID=debian\n"), None)]);
    let digest = sha(&layer);
    let hex = digest.trim_start_matches("sha256:").to_string();
    let build = |bytes: &[u8]| {
        let config =
            json!({"os": "linux", "architecture": "amd64", "rootfs": {"diff_ids": []}}).to_string();
        let manifest =
            json!([{"Config": "config.json", "Layers": [format!("layers/{hex}.tar")]}]).to_string();
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, &format!("blobs/sha256/{hex}"), bytes);
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Symlink);
        h.set_size(0);
        b.append_link(
            &mut h,
            format!("layers/{hex}.tar"),
            format!("../blobs/sha256/{hex}"),
        )
        .unwrap();
        append(&mut b, "config.json", config.as_bytes());
        append(&mut b, "manifest.json", manifest.as_bytes());
        b.into_inner().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("img.tar");
    std::fs::write(&file, build(&layer)).unwrap();
    let img = source::open(&format!("docker-archive:{}", file.display()), None).unwrap();
    // No diff_ids in the config and the manifest names the blob through a link:
    // no digest to report.
    assert_eq!(img.layers()[0].digest, None);
    let (fs, _) =
        build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap();
    assert_eq!(fs.files()[0].contents, b"ID=debian\n");
    // Tampered blob under the same name: the archive's manifest names the blob path
    // directly, so verification applies.
    let evil = tar_of(&[("etc/os-release", Some(b"ID=evil!\n"), None)]);
    let config = json!({"os": "linux", "architecture": "amd64"}).to_string();
    let manifest =
        json!([{"Config": "config.json", "Layers": [format!("blobs/sha256/{hex}")]}]).to_string();
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, &format!("blobs/sha256/{hex}"), &evil);
    append(&mut b, "config.json", config.as_bytes());
    append(&mut b, "manifest.json", manifest.as_bytes());
    std::fs::write(&file, b.into_inner().unwrap()).unwrap();
    let img = source::open(&format!("docker-archive:{}", file.display()), None).unwrap();
    assert_eq!(img.layers()[0].digest.as_deref(), Some(digest.as_str()));
    let err =
        build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
}

#[test]
fn dir_source_links_stay_inside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(root.join("usr/lib/os-release"), b"ID=rootfs\n").unwrap();
    std::os::unix::fs::symlink("/usr/lib/os-release", root.join("etc/os-release")).unwrap();
    // Climbs out on the host, but inside the image it lands on the image's file.
    std::os::unix::fs::symlink(
        "../../../../../../../usr/lib/os-release",
        root.join("var/lib/dpkg/status"),
    )
    .unwrap();
    let img = source::open(&format!("dir:{}", root.display()), None).unwrap();
    assert_eq!(img.layers().len(), 1);
    assert_eq!(img.layers()[0].digest, None);
    let (fs, _) =
        build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap();
    let files = fs.files();
    let got: Vec<(&str, &[u8])> = files
        .iter()
        .map(|f| (f.path.as_str(), f.contents.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("etc/os-release", &b"ID=rootfs\n"[..]),
            ("usr/lib/os-release", &b"ID=rootfs\n"[..]),
            ("var/lib/dpkg/status", &b"ID=rootfs\n"[..]),
        ]
    );
    assert!(files.iter().all(|f| f.layer_digest.is_none()));
}

#[test]
fn unknown_scheme_and_missing_paths() {
    assert!(matches!(
        source::open("nope:/x", None),
        Err(SourceError::UnknownScheme(_))
    ));
    // A malformed registry reference fails before any network access.
    assert!(matches!(
        source::open("registry:Not A Ref", None),
        Err(SourceError::Invalid(_))
    ));
    assert!(source::open("dir:/nonexistent/stella", None).is_err());
    assert!(matches!(
        source::open("oci-dir:/nonexistent/stella", None),
        Err(SourceError::Io { .. })
    ));
    assert!(source::open("docker-archive:/nonexistent/x.tar", None).is_err());
}

/// Runs a tool, failing the test with its output when it fails.
fn run(cmd: &str, args: &[&str]) {
    let out = std::process::Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails the test when `tool` (from the Debian package of the same name) is missing.
fn require_tool(tool: &str) {
    let present = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        present,
        "{tool} is not installed: apt-get install {tool} \
         (`make test` installs it, through e2e/prerequisites.sh)"
    );
}

/// A real two-layer image written by umoci (the second layer deletes a file, so it
/// holds a whiteout), read as an OCI layout and as the docker archive skopeo makes of it.
#[test]
fn umoci_image_with_whiteout_layer() {
    require_tool("umoci");
    require_tool("skopeo");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("img");
    let image = format!("{}:latest", layout.display());
    let bundle1 = dir.path().join("b1");
    let bundle2 = dir.path().join("b2");
    run("umoci", &["init", "--layout", layout.to_str().unwrap()]);
    run("umoci", &["new", "--image", &image]);
    run(
        "umoci",
        &[
            "config",
            "--image",
            &image,
            "--os",
            "linux",
            "--architecture",
            "amd64",
        ],
    );
    run(
        "umoci",
        &["unpack", "--image", &image, bundle1.to_str().unwrap()],
    );
    let rootfs = bundle1.join("rootfs");
    std::fs::create_dir_all(rootfs.join("usr/lib")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::create_dir_all(rootfs.join("var/lib/dpkg")).unwrap();
    std::fs::write(rootfs.join("usr/lib/os-release"), b"ID=debian\n").unwrap();
    std::os::unix::fs::symlink("../usr/lib/os-release", rootfs.join("etc/os-release")).unwrap();
    std::fs::write(rootfs.join("var/lib/dpkg/status"), b"Package: a\n").unwrap();
    run(
        "umoci",
        &["repack", "--image", &image, bundle1.to_str().unwrap()],
    );
    // Each repack diffs against the bundle's own unpack: unpack again to stack a layer.
    run(
        "umoci",
        &["unpack", "--image", &image, bundle2.to_str().unwrap()],
    );
    std::fs::remove_file(bundle2.join("rootfs/var/lib/dpkg/status")).unwrap();
    run(
        "umoci",
        &["repack", "--image", &image, bundle2.to_str().unwrap()],
    );

    let img = source::open(&format!("oci-dir:{image}"), None).unwrap();
    assert_eq!(img.layers().len(), 2);
    let (fs, stats) =
        build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap();
    assert_eq!(stats[1].whiteouts, 1);
    let files = fs.files();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["etc/os-release", "usr/lib/os-release"]);
    assert_eq!(files[0].contents, b"ID=debian\n");
    assert_eq!(files[0].layer_digest, img.layers()[0].digest);

    let archive = dir.path().join("img.tar");
    let dest = format!("docker-archive:{}:example/img:latest", archive.display());
    run("skopeo", &["copy", &format!("oci:{image}"), &dest]);
    let img = source::open(&format!("docker-archive:{}", archive.display()), None).unwrap();
    assert_eq!(img.metadata().name, "docker.io/example/img:latest");
    assert_eq!(img.layers().len(), 2);
    let (fs2, _) =
        build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap();
    let files2 = fs2.files();
    assert_eq!(
        files2.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
        paths
    );
    assert_eq!(files2[0].contents, b"ID=debian\n");
    // docker-archive reports diff_ids: the config's first one.
    assert_eq!(
        files2[0].layer_digest,
        img.metadata().diff_ids.first().cloned()
    );
}

#[test]
fn docker_archive_uncompressed_layer_is_checked_against_diff_id() {
    let layer = tar_of(&[("etc/os-release", Some(b"ID=debian\n"), None)]);
    let build = |diff_id: &str| {
        let config =
            json!({"os": "linux", "architecture": "amd64", "rootfs": {"diff_ids": [diff_id]}})
                .to_string();
        let manifest = json!([{"Config": "c.json", "Layers": ["x/layer.tar"]}]).to_string();
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, "x/layer.tar", &layer);
        append(&mut b, "c.json", config.as_bytes());
        append(&mut b, "manifest.json", manifest.as_bytes());
        b.into_inner().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("img.tar");
    let src = format!("docker-archive:{}", file.display());
    std::fs::write(&file, build(&sha(&layer))).unwrap();
    let img = source::open(&src, None).unwrap();
    let (fs, _) =
        build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap();
    assert_eq!(fs.files()[0].layer_digest, Some(sha(&layer)));
    std::fs::write(&file, build(&sha(b"something else"))).unwrap();
    let img = source::open(&src, None).unwrap();
    let err =
        build_file_system(img.as_ref(), &wants_os_and_status, &LayerLimits::default()).unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
}
