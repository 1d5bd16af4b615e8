//! Layer fragments (the envelope around an encoded layer extract) and layer
//! manifests: round trips, every refusal, limits, and no panic on any input.

use crate::oci_layout;

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde::Serialize;
use stella_core::delta::fragment::{
    FORMAT_VERSION, FragmentError, FragmentLimits, MAGIC, decode_checked, decode_fragment,
    encode_fragment, peek_selection,
};
use stella_core::delta::manifest::{
    LayerManifest, ManifestError, ManifestLimits, SCHEMA, is_layer_manifest, validate_digest,
    validate_digests,
};
use stella_core::inventory::layer_tar::{
    Compression, LayerExtract, LayerLimits, LayerStats, read_layer,
};

const SEL: &str = "stella-core/test:dpkg,npm";

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

/// A real extract: a layer with two files (one kept), a symlink and a whiteout.
fn extract() -> LayerExtract {
    let tar = oci_layout::tar_of(&[
        (
            "var/lib/dpkg/status",
            Some(b"Package: bash\nVersion: 5\n\n"),
            None,
        ),
        ("etc/alternatives/sh", None, Some("/bin/dash")),
        ("usr/share/doc/.wh.bash", Some(b""), None),
        ("usr/bin/other", Some(b"not wanted"), None),
    ]);
    read_layer(
        &digest(1),
        tar.as_slice(),
        &|p: &str| p.starts_with("var/") || p.starts_with("etc/"),
        &LayerLimits::default(),
    )
    .unwrap()
}

fn header(selection: &str) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&(selection.len() as u16).to_le_bytes());
    out.extend_from_slice(selection.as_bytes());
    out
}

/// An envelope around any payload (already compressed or not).
fn envelope(selection: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = header(selection);
    out.extend_from_slice(payload);
    out
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 3).unwrap()
}

fn corrupt(r: Result<impl std::fmt::Debug, FragmentError>) -> String {
    match r {
        Err(FragmentError::Corrupt(why)) => why,
        other => panic!("expected a corrupt fragment, got {other:?}"),
    }
}

// The same layout as `LayerExtract` (postcard is not self-describing), to build
// extracts `read_layer` never makes.
#[derive(Serialize)]
struct RawExtract {
    digest: String,
    entries: BTreeMap<String, RawNode>,
    whiteouts: BTreeSet<String>,
    opaque: BTreeSet<String>,
    stats: LayerStats,
}

#[derive(Serialize)]
struct RawNode {
    kind: RawKind,
    wanted: bool,
}

#[derive(Serialize)]
#[allow(dead_code)] // the variant order is the layout
enum RawKind {
    Dir,
    File(Option<Vec<u8>>),
    Symlink(String),
    HardLink(String),
    LowerLink(String),
    Other,
}

fn raw(entries: Vec<(&str, RawKind)>, whiteouts: &[&str], opaque: &[&str]) -> Vec<u8> {
    let entries = entries.into_iter().map(|(p, k)| (p, k, true)).collect();
    raw_with(
        entries,
        whiteouts,
        opaque,
        LayerStats::new(Compression::None),
    )
}

fn raw_with(
    entries: Vec<(&str, RawKind, bool)>,
    whiteouts: &[&str],
    opaque: &[&str],
    stats: LayerStats,
) -> Vec<u8> {
    let extract = RawExtract {
        digest: digest(1),
        entries: entries
            .into_iter()
            .map(|(p, kind, wanted)| (p.to_string(), RawNode { kind, wanted }))
            .collect(),
        whiteouts: whiteouts.iter().map(|s| s.to_string()).collect(),
        opaque: opaque.iter().map(|s| s.to_string()).collect(),
        stats,
    };
    envelope(SEL, &zstd(&postcard::to_stdvec(&extract).unwrap()))
}

#[test]
fn a_fragment_round_trips() {
    let e = extract();
    let bytes = encode_fragment(&e, SEL).unwrap();
    assert!(bytes.starts_with(MAGIC));
    assert_eq!(peek_selection(&bytes).unwrap(), SEL);
    let f = decode_fragment(&bytes, &FragmentLimits::default()).unwrap();
    assert_eq!(f.extract, e);
    assert_eq!(f.selection_id, SEL);
    f.check_digest(&digest(1)).unwrap();
    f.check_selection(SEL).unwrap();
    let checked = decode_checked(&bytes, &digest(1), SEL, &FragmentLimits::default()).unwrap();
    assert_eq!(checked, f);
    // The raw layout above is the real one: written by hand, it decodes to `e`.
    let by_hand = raw_with(
        vec![
            (
                "etc/alternatives/sh",
                RawKind::Symlink("/bin/dash".into()),
                true,
            ),
            ("usr/bin/other", RawKind::File(None), false),
            (
                "var/lib/dpkg/status",
                RawKind::File(Some(b"Package: bash\nVersion: 5\n\n".to_vec())),
                true,
            ),
        ],
        &["usr/share/doc/bash"],
        &[],
        e.stats.clone(),
    );
    assert_eq!(
        decode_fragment(&by_hand, &FragmentLimits::default())
            .unwrap()
            .extract,
        e
    );
}

#[test]
fn a_fragment_of_another_layer_or_selection_is_refused() {
    let bytes = encode_fragment(&extract(), SEL).unwrap();
    let limits = FragmentLimits::default();
    match decode_checked(&bytes, &digest(2), SEL, &limits) {
        Err(FragmentError::DigestMismatch { expected, found }) => {
            assert_eq!(expected, digest(2));
            assert_eq!(found, digest(1));
        }
        other => panic!("{other:?}"),
    }
    match decode_checked(&bytes, &digest(1), "other", &limits) {
        Err(FragmentError::SelectionMismatch { expected, found }) => {
            assert_eq!(expected, "other");
            assert_eq!(found, SEL);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn envelope_errors() {
    let limits = FragmentLimits::default();
    let good = encode_fragment(&extract(), SEL).unwrap();
    assert!(matches!(
        decode_fragment(b"", &limits),
        Err(FragmentError::BadMagic)
    ));
    assert!(matches!(
        decode_fragment(b"{\"bomFormat\":1}", &limits),
        Err(FragmentError::BadMagic)
    ));
    let mut v2 = good.clone();
    v2[MAGIC.len()] = 2;
    assert!(matches!(
        decode_fragment(&v2, &limits),
        Err(FragmentError::UnsupportedVersion { found: 2 })
    ));
    // Cut anywhere in the header.
    for cut in MAGIC.len()..header(SEL).len() {
        let why = corrupt(decode_fragment(&good[..cut], &limits));
        assert!(why.contains("truncated"), "{cut}: {why}");
    }
    // Cut in the compressed part.
    let why = corrupt(decode_fragment(&good[..good.len() - 3], &limits));
    assert!(why.contains("zstd"), "{why}");
    // A selection id longer than allowed, and one that is not UTF-8.
    let mut long = MAGIC.to_vec();
    long.push(FORMAT_VERSION);
    long.extend_from_slice(&2000u16.to_le_bytes());
    long.extend_from_slice(&[b'a'; 2000]);
    assert!(corrupt(decode_fragment(&long, &limits)).contains("exceeds"));
    let mut bad_utf8 = MAGIC.to_vec();
    bad_utf8.push(FORMAT_VERSION);
    bad_utf8.extend_from_slice(&2u16.to_le_bytes());
    bad_utf8.extend_from_slice(&[0xff, 0xfe]);
    assert!(corrupt(decode_fragment(&bad_utf8, &limits)).contains("UTF-8"));
    // Not zstd after the header.
    assert!(corrupt(decode_fragment(&envelope(SEL, b"plain bytes"), &limits)).contains("zstd"));
    // zstd, but not an extract; and an extract followed by more bytes.
    assert!(
        corrupt(decode_fragment(&envelope(SEL, &zstd(&[0xff; 40])), &limits)).contains("extract")
    );
    let mut encoded = postcard::to_stdvec(&extract()).unwrap();
    encoded.extend_from_slice(b"tail");
    assert!(corrupt(decode_fragment(&envelope(SEL, &zstd(&encoded)), &limits)).contains("after"));
    // Encoding refuses a selection id that would not fit.
    assert!(matches!(
        encode_fragment(&extract(), &"x".repeat(5000)),
        Err(FragmentError::Encode(_))
    ));
}

#[test]
fn size_limits_are_enforced() {
    let good = encode_fragment(&extract(), SEL).unwrap();
    let small = |compressed: u64, decoded: u64| FragmentLimits {
        max_compressed_bytes: compressed,
        max_decoded_bytes: decoded,
        ..FragmentLimits::default()
    };
    let decoded_len = postcard::to_stdvec(&extract()).unwrap().len() as u64;
    assert!(decode_fragment(&good, &small(good.len() as u64, decoded_len)).is_ok());
    assert!(matches!(
        decode_fragment(&good, &small(good.len() as u64 - 1, decoded_len)),
        Err(FragmentError::TooLarge {
            what: "compressed",
            ..
        })
    ));
    assert!(matches!(
        decode_fragment(&good, &small(good.len() as u64, decoded_len - 1)),
        Err(FragmentError::TooLarge {
            what: "decoded",
            ..
        })
    ));
    // A decompression bomb: 64 MiB of zeros in a few KiB, stopped at the limit.
    let bomb = envelope(SEL, &zstd(&vec![0u8; 64 << 20]));
    assert!(bomb.len() < 64 << 10);
    assert!(matches!(
        decode_fragment(&bomb, &small(1 << 20, 1 << 20)),
        Err(FragmentError::TooLarge {
            what: "decoded",
            ..
        })
    ));
    // The extract must fit the layer limits too.
    let tight = |layer: LayerLimits| FragmentLimits {
        layer,
        ..FragmentLimits::default()
    };
    let why = corrupt(decode_fragment(
        &good,
        &tight(LayerLimits {
            max_entries: 2,
            ..LayerLimits::default()
        }),
    ));
    assert!(why.contains("entries"), "{why}");
    let why = corrupt(decode_fragment(
        &good,
        &tight(LayerLimits {
            max_total_bytes: 10,
            ..LayerLimits::default()
        }),
    ));
    assert!(why.contains("contents"), "{why}");
}

#[test]
fn extracts_read_layer_never_makes_are_refused() {
    let limits = FragmentLimits::default();
    let file = || RawKind::File(Some(b"x".to_vec()));
    for (entries, whiteouts, opaque, expect) in [
        (vec![("/etc/passwd", file())], vec![], vec![], "entry path"),
        (vec![("a/../b", file())], vec![], vec![], "entry path"),
        (vec![("a//b", file())], vec![], vec![], "entry path"),
        (vec![("", RawKind::Dir)], vec![], vec![], "entry path"),
        (
            vec![("a", RawKind::HardLink("../etc/shadow".into()))],
            vec![],
            vec![],
            "hard link",
        ),
        (
            vec![("a", RawKind::LowerLink("/abs".into()))],
            vec![],
            vec![],
            "hard link",
        ),
        (
            vec![("a", RawKind::Symlink("x".repeat(5000)))],
            vec![],
            vec![],
            "link target",
        ),
        (vec![], vec!["y".repeat(5000)], vec![], "whiteout"),
        (vec![], vec![], vec!["../up".to_string()], "opaque"),
    ] {
        let wh: Vec<&str> = whiteouts.iter().map(String::as_str).collect();
        let op: Vec<&str> = opaque.iter().map(String::as_str).collect();
        let why = corrupt(decode_fragment(&raw(entries, &wh, &op), &limits));
        assert!(why.contains(expect), "{expect}: {why}");
    }
    // The root as an opaque directory is what `.wh..wh..opq` at the top gives: fine.
    assert!(decode_fragment(&raw(vec![], &[], &[""]), &limits).is_ok());
}

proptest! {
    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_fragment(&bytes, &FragmentLimits::default());
        let _ = peek_selection(&bytes);
    }

    #[test]
    fn any_payload_behind_a_valid_header_fails_cleanly(
        payload in proptest::collection::vec(any::<u8>(), 0..512),
        compress in any::<bool>(),
    ) {
        let body = if compress { zstd(&payload) } else { payload };
        let _ = decode_fragment(&envelope(SEL, &body), &FragmentLimits::default());
    }

    #[test]
    fn mutated_fragments_fail_cleanly(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = encode_fragment(&extract(), SEL).unwrap();
        // Mutate the postcard encoding before compression too: that reaches the decoder.
        let mut inner = postcard::to_stdvec(&extract()).unwrap();
        for (i, b) in &flips {
            let at = i.index(bytes.len());
            bytes[at] ^= b;
            let at = i.index(inner.len());
            inner[at] ^= b;
        }
        let _ = decode_fragment(&bytes, &FragmentLimits::default());
        let _ = decode_fragment(&envelope(SEL, &zstd(&inner)), &FragmentLimits::default());
    }
}

// ---- layer manifests ----

fn manifest_json(layers: &[String]) -> serde_json::Value {
    serde_json::json!({
        "schema": SCHEMA,
        "image": {"name": "registry.example/app:1", "digest": digest(99), "platform": "linux/arm64/v8"},
        "selection": SEL,
        "layers": layers,
    })
}

fn parse(v: &serde_json::Value) -> Result<LayerManifest, ManifestError> {
    LayerManifest::parse(&serde_json::to_vec(v).unwrap(), &ManifestLimits::default())
}

#[test]
fn a_manifest_round_trips() {
    let layers = vec![digest(1), digest(2), digest(1)];
    let m = parse(&manifest_json(&layers)).unwrap();
    assert_eq!(m.layers, layers, "repeats are kept, in order");
    assert_eq!(m.unique_layers(), vec![digest(1), digest(2)]);
    assert_eq!(m.image.platform.as_deref(), Some("linux/arm64/v8"));
    let json: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
    assert_eq!(json, manifest_json(&layers));
    assert_eq!(
        LayerManifest::from_value(json, &ManifestLimits::default()).unwrap(),
        m
    );
    // Optional fields may be absent; unknown ones are ignored.
    let minimal = serde_json::json!({
        "schema": SCHEMA, "image": {"name": "x"}, "selection": "s", "layers": [digest(3)],
        "comment": {"nested": [1, 2]}
    });
    let m = parse(&minimal).unwrap();
    assert_eq!(m.image.digest, None);
    assert_eq!(m.image.platform, None);
    assert!(!String::from_utf8(m.to_json()).unwrap().contains("platform"));
}

#[test]
fn a_manifest_is_told_from_sboms() {
    assert!(is_layer_manifest(&manifest_json(&[digest(1)])));
    let v2 = serde_json::json!({"schema": "stella.layer-manifest/v2"});
    assert!(is_layer_manifest(&v2));
    assert!(matches!(parse(&v2), Err(ManifestError::Json(_))));
    let mut v2_full = manifest_json(&[digest(1)]);
    v2_full["schema"] = "stella.layer-manifest/v2".into();
    assert!(matches!(parse(&v2_full), Err(ManifestError::Schema(s)) if s.ends_with("/v2")));
    for other in [
        serde_json::json!({"bomFormat": "CycloneDX", "specVersion": "1.6"}),
        serde_json::json!({"spdxVersion": "SPDX-2.3"}),
        serde_json::json!({"$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json"}),
        serde_json::json!({"schema": 1}),
        serde_json::json!([SCHEMA]),
        serde_json::json!(SCHEMA),
    ] {
        assert!(!is_layer_manifest(&other), "{other}");
    }
}

#[test]
fn manifest_errors() {
    let field = |f: &str, v: serde_json::Value| {
        let mut m = manifest_json(&[digest(1)]);
        let (outer, inner) = f.split_once('.').unwrap_or((f, ""));
        if inner.is_empty() {
            m[outer] = v;
        } else {
            m[outer][inner] = v;
        }
        parse(&m)
    };
    let refused = |f: &'static str, r: Result<LayerManifest, ManifestError>| match r {
        Err(ManifestError::Field { field, .. }) => assert_eq!(field, f),
        other => panic!("{f}: {other:?}"),
    };
    refused("image.name", field("image.name", "".into()));
    refused("image.name", field("image.name", "a\nb".into()));
    refused("image.name", field("image.name", "n".repeat(1025).into()));
    refused("image.digest", field("image.digest", "sha256:abc".into()));
    for p in [
        "linux",
        "linux/",
        "Linux/amd64",
        "linux/amd64/v8/x",
        "linux/am d64",
    ] {
        refused("image.platform", field("image.platform", p.into()));
    }
    refused("selection", field("selection", "".into()));
    refused("selection", field("selection", "s".repeat(1025).into()));
    assert!(matches!(
        field("layers", serde_json::json!([])),
        Err(ManifestError::NoLayers)
    ));
    let many: Vec<String> = (0..513).map(digest).collect();
    assert!(matches!(
        parse(&manifest_json(&many)),
        Err(ManifestError::TooManyLayers {
            count: 513,
            limit: 512
        })
    ));
    assert!(parse(&manifest_json(&many[..512])).is_ok());
    match parse(&manifest_json(&[digest(1), "sha256:xyz".into()])) {
        Err(ManifestError::Layer { index: 1, error }) => assert_eq!(error.shown, "sha256:xyz"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        field("layers", 5.into()),
        Err(ManifestError::Json(_))
    ));
    assert!(matches!(
        LayerManifest::parse(b"{not json", &ManifestLimits::default()),
        Err(ManifestError::Json(_))
    ));
    let limits = ManifestLimits {
        max_body_bytes: 100,
        ..ManifestLimits::default()
    };
    assert!(matches!(
        LayerManifest::parse(&[b' '; 101], &limits),
        Err(ManifestError::TooLarge {
            size: 101,
            limit: 100
        })
    ));
    // Deeply nested JSON in an ignored field fails cleanly (no stack overflow).
    let deep = format!(
        "{{\"schema\":\"{SCHEMA}\",\"x\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let limits = ManifestLimits {
        max_body_bytes: 1 << 20,
        ..ManifestLimits::default()
    };
    assert!(matches!(
        LayerManifest::parse(deep.as_bytes(), &limits),
        Err(ManifestError::Json(_))
    ));
}

#[test]
fn digest_syntax() {
    assert!(validate_digest(&digest(0)).is_ok());
    assert!(validate_digest(&format!("sha256:{}", "0123456789abcdef".repeat(4))).is_ok());
    for bad in [
        String::new(),
        "sha256:".into(),
        format!("sha256:{}", "a".repeat(63)),
        format!("sha256:{}", "a".repeat(65)),
        format!("sha256:{}", "A".repeat(64)),
        format!("sha256:{}g", "a".repeat(63)),
        format!("SHA256:{}", "a".repeat(64)),
        format!("sha512:{}", "a".repeat(64)),
        format!(" sha256:{}", "a".repeat(64)),
        format!("sha256:{}\n", "a".repeat(64)),
        format!("sha256:{}", "é".repeat(32)),
    ] {
        assert!(validate_digest(&bad).is_err(), "{bad:?}");
    }
    let long = "x".repeat(500);
    assert_eq!(validate_digest(&long).unwrap_err().shown.len(), 80);
    let many: Vec<String> = (0..513).map(digest).collect();
    assert!(validate_digests(&many[..512]).is_ok());
    assert!(matches!(
        validate_digests(&many),
        Err(ManifestError::TooManyLayers { .. })
    ));
    assert!(matches!(
        validate_digests(&[digest(1), "nope".into()]),
        Err(ManifestError::Layer { index: 1, .. })
    ));
}

proptest! {
    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = LayerManifest::parse(&bytes, &ManifestLimits::default());
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let _ = is_layer_manifest(&v);
        }
    }

    #[test]
    fn digest_validation_is_the_exact_syntax(s in "(sha256:)?[0-9a-fA-F]{60,68}") {
        let expected = s.len() == 71
            && s.starts_with("sha256:")
            && s[7..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        prop_assert_eq!(validate_digest(&s).is_ok(), expected);
    }
}
