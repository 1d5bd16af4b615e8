#![no_main]
//! Fuzz target: any bytes as an uploaded layer fragment must decode or give a
//! `FragmentError`, never a panic; a decoded fragment must re-encode to an equal one,
//! and composing an image from it (what the server does with a layer manifest) must
//! give an SBOM or an error, never a panic.
use libfuzzer_sys::fuzz_target;
use stella_core::delta::fragment::{
    FragmentLimits, decode_checked, decode_fragment, encode_fragment,
};
use stella_core::inventory::analyzer;
use stella_core::inventory::builder::build_from_extracts;
use stella_core::inventory::layer_tar::LayerLimits;
use stella_core::inventory::source::ImageMetadata;

fuzz_target!(|data: &[u8]| {
    let limits = FragmentLimits {
        max_compressed_bytes: 1 << 20,
        max_decoded_bytes: 4 << 20,
        layer: LayerLimits {
            max_total_bytes: 4 << 20,
            ..LayerLimits::default()
        },
    };
    let _ = decode_checked(data, "sha256:0", "selection", &limits);
    let Ok(fragment) = decode_fragment(data, &limits) else {
        return;
    };
    let bytes = encode_fragment(&fragment.extract, &fragment.selection_id)
        .expect("a decoded fragment encodes");
    let back = decode_fragment(&bytes, &limits).expect("a re-encoded fragment decodes");
    assert_eq!(back, fragment);
    let analyzers = analyzer::all();
    // The same layer twice: the second sees the first's view (links, whiteouts).
    let extracts = vec![fragment.extract.clone(), fragment.extract];
    let _ = build_from_extracts(
        extracts,
        &analyzers,
        &limits.layer,
        ImageMetadata::default(),
    );
});
