//! The delta-SBOM layer protocol on the real 6-layer test image (debootstrap, apt,
//! pip, npm, a cargo-auditable binary, a layer of deletions; built once by
//! `e2e/images/build.sh`): the SBOM composed by the server from uploaded fragments
//! equals the one built directly, and a second image sharing base layers only needs
//! its new layers read and uploaded.

use crate::oci_layout;
use crate::redis_server;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use stella_core::delta::client::{fragments_for, manifest_of};
use stella_core::delta::fragment::decode_checked;
use stella_core::delta::redis::RedisLayerStore;
use stella_core::delta::sqlite::SqliteLayerStore;
use stella_core::delta::{
    ComposeError, FragmentLimits, LayerStore, compose_image, load_and_compose, selection_id,
};
use stella_core::inventory::analyzer::{self, Analyzer};
use stella_core::inventory::builder::{BuildOptions, BuildOutcome, build};
use stella_core::inventory::source::{
    self, ImageMetadata, ImageSource, LayerData, LayerInfo, SourceError,
};

/// The image's cache directory (built on first use; cached across runs).
fn image_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../e2e/images/build.sh");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .expect("run e2e/images/build.sh");
        assert!(
            out.status.success(),
            "building the test image failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().expect("image dir").trim())
    })
}

fn open_image() -> Box<dyn ImageSource> {
    let spec = format!("oci-dir:{}:app", image_dir().join("oci").display());
    source::open(&spec, None).expect("open the test image")
}

/// The image's first `k` layers (all when `k` is `None`), recording which layers
/// are opened, so a test can tell which blobs were read.
#[derive(Debug)]
struct Layers {
    inner: Box<dyn ImageSource>,
    k: usize,
    opened: Mutex<Vec<usize>>,
}

impl Layers {
    fn first(k: Option<usize>) -> Self {
        let inner = open_image();
        let k = k.unwrap_or(inner.layers().len()).min(inner.layers().len());
        Self {
            inner,
            k,
            opened: Mutex::new(Vec::new()),
        }
    }

    fn opened(&self) -> Vec<usize> {
        let mut v = self.opened.lock().unwrap().clone();
        v.sort_unstable();
        v
    }
}

impl ImageSource for Layers {
    fn metadata(&self) -> &ImageMetadata {
        self.inner.metadata()
    }

    fn layers(&self) -> &[LayerInfo] {
        self.inner.layers().get(..self.k).unwrap_or_default()
    }

    fn open_layer(&self, index: usize) -> Result<LayerData<'_>, SourceError> {
        if index >= self.k {
            return Err(SourceError::NoLayer(index));
        }
        self.opened.lock().unwrap().push(index);
        self.inner.open_layer(index)
    }
}

fn analyzers() -> Vec<Box<dyn Analyzer>> {
    analyzer::all()
}

/// `build` on the whole image, once per test process.
fn direct() -> &'static BuildOutcome {
    static OUT: OnceLock<BuildOutcome> = OnceLock::new();
    OUT.get_or_init(|| {
        build(
            open_image().as_ref(),
            &analyzers(),
            &BuildOptions::default(),
            |_, _| {},
        )
        .expect("build the test image")
    })
}

/// Every layer's fragment, read once per test process (reading is the slow part;
/// tests that check which layers are read use [`read_fragments`] instead).
fn all_fragments() -> &'static BTreeMap<String, Vec<u8>> {
    static ALL: OnceLock<BTreeMap<String, Vec<u8>>> = OnceLock::new();
    ALL.get_or_init(|| {
        let image = Layers::first(None);
        let every: BTreeSet<String> = layer_digests(&image).into_iter().collect();
        let got = read_fragments(&image, &every);
        assert_eq!(image.opened(), vec![0, 1, 2, 3, 4, 5]);
        got.into_iter().collect()
    })
}

/// The builder's read of the layers in `missing`.
fn read_fragments(source: &dyn ImageSource, missing: &BTreeSet<String>) -> Vec<(String, Vec<u8>)> {
    fragments_for(
        source,
        &analyzers(),
        &BuildOptions::default(),
        missing,
        |_, _| {},
    )
    .expect("fragments")
}

/// What a builder does against a store for `source`: asks which layers are missing,
/// uploads only those (from `fragments`, checked as the server checks them), then
/// the server composes the image. Returns the missing digests and the outcome.
async fn scan_through(
    store: &dyn LayerStore,
    source: &dyn ImageSource,
    fragments: impl FnOnce(&BTreeSet<String>) -> Vec<(String, Vec<u8>)>,
) -> (Vec<String>, BuildOutcome) {
    let analyzers = analyzers();
    let selection = selection_id(&analyzers);
    let manifest = manifest_of(source, &selection).expect("manifest");
    let missing = store.missing(&manifest.layers).await.expect("missing");
    let wanted: BTreeSet<String> = missing.iter().cloned().collect();
    let fragments = fragments(&wanted);
    assert_eq!(
        fragments
            .iter()
            .map(|(d, _)| d.clone())
            .collect::<BTreeSet<_>>(),
        wanted
    );
    let limits = FragmentLimits::default();
    for (digest, bytes) in fragments {
        decode_checked(&bytes, &digest, &selection, &limits).expect("a valid fragment");
        store.put(&digest, bytes).await.expect("put");
    }
    let outcome = load_and_compose(store, &manifest, &analyzers, &limits)
        .await
        .expect("compose");
    (missing, outcome)
}

/// Takes the fragments of `wanted` from [`all_fragments`].
fn cached(wanted: &BTreeSet<String>) -> Vec<(String, Vec<u8>)> {
    wanted
        .iter()
        .map(|d| (d.clone(), all_fragments()[d].clone()))
        .collect()
}

fn layer_digests(source: &dyn ImageSource) -> Vec<String> {
    source
        .layers()
        .iter()
        .map(|l| l.digest.clone().expect("digest"))
        .collect()
}

/// The composed SBOM equals the directly built one, component for component,
/// with the same layer attribution.
async fn composed_equals_direct(store: &dyn LayerStore) {
    let image = Layers::first(None);
    let (missing, outcome) = scan_through(store, &image, cached).await;
    let digests = layer_digests(&image);
    assert_eq!(digests.len(), 6, "the test image has six layers");
    assert_eq!(missing, digests, "an empty store lacks every layer");
    let expected = direct();
    assert_eq!(outcome.sbom, expected.sbom);
    assert_eq!(outcome.os, expected.os);
    // Not a trivial SBOM: the image's packages, attributed to several layers.
    assert!(outcome.sbom.components.len() > 100);
    let layers: BTreeSet<_> = outcome
        .sbom
        .components
        .iter()
        .filter_map(|c| c.layer_digest.clone())
        .collect();
    assert!(layers.len() >= 4, "attributed to {layers:?}");
    assert_eq!(store.count().await.unwrap(), 6);
    // A second scan of the same image reads nothing.
    let again = Layers::first(None);
    let (missing, outcome) = scan_through(store, &again, |m| read_fragments(&again, m)).await;
    assert!(missing.is_empty());
    assert!(again.opened().is_empty(), "read {:?}", again.opened());
    assert_eq!(outcome.sbom, expected.sbom);
}

#[tokio::test(flavor = "multi_thread")]
async fn composed_sbom_equals_direct_build_sqlite() {
    let store = SqliteLayerStore::open_in_memory().unwrap();
    composed_equals_direct(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn composed_sbom_equals_direct_build_redis() {
    let server = redis_server::RedisServer::start();
    let conn = redis::Client::open(server.url.as_str())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let store = RedisLayerStore::new(conn, "stella:");
    composed_equals_direct(&store).await;
}

/// compose_image (fragments in hand, no store) gives the same SBOM.
#[test]
fn compose_image_from_fragments_equals_direct_build() {
    let image = Layers::first(None);
    let analyzers = analyzers();
    let selection = selection_id(&analyzers);
    let manifest = manifest_of(&image, &selection).unwrap();
    let ordered: Vec<Vec<u8>> = manifest
        .layers
        .iter()
        .map(|d| all_fragments()[d].clone())
        .collect();
    let out = compose_image(
        &manifest,
        ordered.clone(),
        &analyzers,
        &FragmentLimits::default(),
    )
    .unwrap();
    assert_eq!(out.sbom, direct().sbom);
    assert_eq!(out.metadata.name, image.metadata().name);
    // Layers in the wrong order are another image: whiteouts and the dpkg status of
    // a later layer no longer win, so the result differs (or the digests mismatch).
    let mut swapped = ordered.clone();
    swapped.swap(0, 5);
    match compose_image(&manifest, swapped, &analyzers, &FragmentLimits::default()) {
        Err(ComposeError::Fragment { digest, .. }) => assert_eq!(digest, manifest.layers[0]),
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    // Another analyzer selection is refused.
    let fewer: Vec<Box<dyn Analyzer>> = analyzer::all().into_iter().skip(1).collect();
    match compose_image(&manifest, ordered, &fewer, &FragmentLimits::default()) {
        Err(ComposeError::SelectionMismatch { expected, found }) => {
            assert_eq!(found, selection);
            assert_eq!(expected, selection_id(&fewer));
        }
        other => panic!("expected a selection mismatch, got {other:?}"),
    }
}

/// An image sharing the base layers of one already scanned: only its new layers
/// are missing, only those are read, and the composed SBOM still equals the
/// direct build. The smaller image's SBOM is not a subset of the larger one's
/// (the top layer deletes packages): composing is not a union of layer lists.
#[tokio::test(flavor = "multi_thread")]
async fn second_image_sharing_base_layers_reads_only_new_layers() {
    let store = SqliteLayerStore::open_in_memory().unwrap();
    let base = Layers::first(Some(4));
    let (missing, base_out) = scan_through(&store, &base, |m| read_fragments(&base, m)).await;
    let all = layer_digests(&Layers::first(None));
    assert_eq!(missing, all[..4].to_vec());
    assert_eq!(base.opened(), vec![0, 1, 2, 3]);
    let base_direct = build(
        &Layers::first(Some(4)),
        &analyzers(),
        &BuildOptions::default(),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(base_out.sbom, base_direct.sbom);

    let full = Layers::first(None);
    let (missing, full_out) = scan_through(&store, &full, |m| read_fragments(&full, m)).await;
    assert_eq!(
        missing,
        all[4..].to_vec(),
        "only the new layers are missing"
    );
    assert_eq!(full.opened(), vec![4, 5], "only the new layers are read");
    assert_eq!(full_out.sbom, direct().sbom);
    assert_eq!(store.count().await.unwrap(), 6);

    let purls = |o: &BuildOutcome| -> HashSet<String> {
        o.sbom
            .components
            .iter()
            .map(|c| c.bom_ref.clone())
            .collect()
    };
    let removed: Vec<String> = purls(&base_out)
        .difference(&purls(&full_out))
        .cloned()
        .collect();
    assert!(
        !removed.is_empty(),
        "the deletions layer removes packages of the base"
    );
}

/// A manifest whose fragments are not all stored gives every missing layer at once.
#[tokio::test(flavor = "multi_thread")]
async fn composing_with_absent_fragments_lists_them() {
    let store = SqliteLayerStore::open_in_memory().unwrap();
    let base = Layers::first(Some(2));
    scan_through(&store, &base, cached).await;
    let full = Layers::first(None);
    let analyzers = analyzers();
    let manifest = manifest_of(&full, &selection_id(&analyzers)).unwrap();
    match load_and_compose(&store, &manifest, &analyzers, &FragmentLimits::default()).await {
        Err(ComposeError::MissingLayers(missing)) => {
            assert_eq!(missing, manifest.layers[2..].to_vec());
        }
        other => panic!("expected missing layers, got {other:?}"),
    }
    // A stored fragment the server cannot use (damaged) counts as missing too.
    store
        .put(&manifest.layers[0], b"not a fragment".to_vec())
        .await
        .unwrap();
    let base_manifest = manifest_of(&base, &selection_id(&analyzers)).unwrap();
    match load_and_compose(
        &store,
        &base_manifest,
        &analyzers,
        &FragmentLimits::default(),
    )
    .await
    {
        Err(ComposeError::MissingLayers(missing)) => {
            assert_eq!(missing, vec![manifest.layers[0].clone()]);
        }
        other => panic!("expected missing layers, got {other:?}"),
    }
}

/// The manifest describes the image without reading a layer.
#[test]
fn manifest_of_reads_no_layer() {
    let image = Layers::first(None);
    let m = manifest_of(&image, "sel").unwrap();
    assert!(image.opened().is_empty());
    assert_eq!(m.layers, layer_digests(&image));
    assert_eq!(m.selection, "sel");
    assert_eq!(m.image.name, image.metadata().name);
    assert_eq!(m.image.digest, image.metadata().manifest_digest);
    assert_eq!(m.image.platform.as_deref(), Some("linux/amd64"));
    // What the CLI would post parses back on the server.
    let parsed = stella_core::delta::LayerManifest::parse(
        &m.to_json(),
        &stella_core::delta::ManifestLimits::default(),
    )
    .unwrap();
    assert_eq!(parsed, m);
}

/// A layer without a digest cannot take part.
#[test]
fn a_dir_source_has_no_layer_digests() {
    let dir = tempfile::tempdir().unwrap();
    let src = source::open(&format!("dir:{}", dir.path().display()), None).unwrap();
    let err = manifest_of(src.as_ref(), "sel").unwrap_err();
    assert!(
        matches!(
            err,
            stella_core::delta::client::DeltaError::NoDigest { index: 0 }
        ),
        "{err}"
    );
}

/// A layer listed twice (allowed in real images) is asked for, read and uploaded
/// once, and stacked twice: the composed SBOM still equals the direct build.
#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_layer_is_uploaded_once_and_stacked_twice() {
    let dir = tempfile::tempdir().unwrap();
    let status: &[u8] =
        b"Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2\n\n";
    let base = oci_layout::gzip(&oci_layout::tar_of(&[
        ("etc/os-release", Some(b"ID=debian\nVERSION_ID=12\n"), None),
        ("var/lib/dpkg/status", Some(status), None),
    ]));
    let wipe = oci_layout::gzip(&oci_layout::tar_of(&[(
        "var/lib/dpkg/.wh.status",
        Some(b""),
        None,
    )]));
    let m = oci_layout::write_image(
        dir.path(),
        &[base.clone(), wipe.clone(), base.clone()],
        "amd64",
    );
    oci_layout::write_index(dir.path(), vec![oci_layout::tagged(m, "app")]);
    let image = source::open(&format!("oci-dir:{}:app", dir.path().display()), None).unwrap();
    let direct = build(
        image.as_ref(),
        &analyzers(),
        &BuildOptions::default(),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(
        direct.sbom.components.len(),
        1,
        "bash, restored by the top layer"
    );
    let store = SqliteLayerStore::open_in_memory().unwrap();
    let (missing, composed) = scan_through(&store, image.as_ref(), |m| {
        read_fragments(image.as_ref(), m)
    })
    .await;
    assert_eq!(
        missing,
        vec![oci_layout::sha(&base), oci_layout::sha(&wipe)]
    );
    assert_eq!(composed.sbom, direct.sbom);
    assert_eq!(
        composed.sbom.components[0].layer_digest.as_deref(),
        Some(oci_layout::sha(&base).as_str())
    );
}
