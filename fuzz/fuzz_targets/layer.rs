#![no_main]
//! Fuzz target: any bytes as a layer blob (plain, or as the tar inside gzip/zstd when
//! the input says so) must give a result or a `LayerError`, never a panic; the
//! resulting view must list only paths that stay inside the root. A layer's extract
//! must survive the layer cache's encoding unchanged, and any bytes given to the
//! cache decoder must give an error, not a panic.
use libfuzzer_sys::fuzz_target;
use stella_core::inventory::cache;
use stella_core::inventory::layer_tar::{FileSystem, LayerLimits, read_layer};

fuzz_target!(|data: &[u8]| {
    let limits = LayerLimits {
        max_layer_bytes: 16 << 20,
        max_blob_bytes: 16 << 20,
        max_total_bytes: 4 << 20,
        ..LayerLimits::default()
    };
    let mut fs = FileSystem::new();
    // Two layers from one input: the second sees the first's view (whiteouts, links).
    let (first, second) = data.split_at(data.len() / 2);
    if let Ok(extract) = read_layer("a", first, &|_: &str| true, &limits) {
        let bytes = cache::encode(&extract).expect("an extract always encodes");
        let back = cache::decode(&bytes).expect("an encoded extract decodes");
        assert_eq!(back, extract);
        let _ = fs.apply(extract, &limits);
    }
    let _ = cache::decode(data);
    let _ = fs.apply_layer("b", second, &|p: &str| p.len() % 2 == 0, &limits);
    for f in fs.files() {
        assert!(!f.path.starts_with('/'), "absolute path {}", f.path);
        assert!(
            !f.path
                .split('/')
                .any(|c| c == ".." || c == "." || c.is_empty()),
            "unnormalised path {}",
            f.path
        );
    }
    let _ = fs.missing_link_targets();
});
