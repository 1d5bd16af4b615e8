#![no_main]
//! Fuzz target: any bytes as a layer manifest (`POST /api/v1/scan`) must parse or
//! give a `ManifestError`, never a panic; a parsed manifest must serialise to JSON
//! that parses back equal, and `is_layer_manifest` must recognise it.
use libfuzzer_sys::fuzz_target;
use stella_core::delta::manifest::{
    LayerManifest, ManifestLimits, is_layer_manifest, validate_digest, validate_digests,
};

fuzz_target!(|data: &[u8]| {
    let limits = ManifestLimits::default();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = is_layer_manifest(&value);
        let _ = LayerManifest::from_value(value, &limits);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = validate_digest(text);
        let list: Vec<String> = text.lines().map(str::to_string).collect();
        let _ = validate_digests(&list);
    }
    let Ok(manifest) = LayerManifest::parse(data, &limits) else {
        return;
    };
    let json = manifest.to_json();
    let value: serde_json::Value = serde_json::from_slice(&json).expect("manifest JSON");
    assert!(is_layer_manifest(&value));
    let back = LayerManifest::parse(&json, &limits).expect("a serialised manifest parses");
    assert_eq!(back, manifest);
});
