//! Export, matcher snapshot and offline kit over the whole real sample, merged by
//! `feedser::merge::build`.

use crate::testdata;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use stella_core::advisory::canonical::{CanonicalAdvisory, sha256_hex};
use stella_core::advisory_db::AdvisoryDb;
use stella_core::feedser::connectors::{alpine, debian, nodejs_wg, nvd, osv, rustsec};
use stella_core::feedser::export::{self, ExportOptions, Layout};
use stella_core::feedser::kit::{self, ImportOptions, KitError, KitLimits};
use stella_core::feedser::merge::{Precedence, build};
use stella_core::feedser::{Source, SourceRecord};
use stella_core::matcher::match_sbom;
use stella_core::sbom::{Component, Purl, Sbom};
use stella_core::signing_key::Ed25519Key;

/// Every record of the sample, each folder read by its connector.
fn sample_records() -> Vec<SourceRecord> {
    let root = testdata::dir().join("feeds-sample");
    let mut records = Vec::new();
    let folders: [(&str, &str); 9] = [
        ("osv-pypi", ".yaml"),
        ("osv-go", ".json"),
        ("osv-crates", ".json"),
        ("ghsa", ".json"),
        ("nvd", ".json"),
        ("debian-tracker", ".list"),
        ("alpine-secdb", ".yaml"),
        ("npm-nodejs-wg", ".json"),
        ("rustsec-native", ".md"),
    ];
    for (folder, suffix) in folders {
        let paths = testdata::files(&root.join(folder), suffix);
        assert!(!paths.is_empty(), "{folder} is empty");
        for p in paths {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let doc = p
                .strip_prefix(&root)
                .map(|r| r.display().to_string())
                .unwrap_or_default();
            let parsed = match folder {
                "osv-pypi" => osv::parse(Source::Osv, &doc, &bytes, true),
                "osv-go" | "osv-crates" => osv::parse(Source::Osv, &doc, &bytes, false),
                "ghsa" => osv::parse(Source::Ghsa, &doc, &bytes, false),
                "nvd" => nvd::parse(&doc, &bytes),
                "debian-tracker" if doc.ends_with("DSA.list") => {
                    debian::parse_tracker_list(&doc, &bytes, debian::ListKind::Dsa)
                }
                "debian-tracker" => debian::parse_tracker_list(&doc, &bytes, debian::ListKind::Dla),
                "alpine-secdb" => alpine::parse_secdb(&doc, &bytes),
                "npm-nodejs-wg" => nodejs_wg::parse(&doc, &bytes),
                _ => rustsec::parse(&doc, &bytes),
            }
            .unwrap_or_else(|e| panic!("{e}"));
            records.extend(parsed.records);
        }
    }
    records
}

/// The merged sample, built once per test binary.
fn merged() -> &'static [CanonicalAdvisory] {
    static MERGED: OnceLock<Vec<CanonicalAdvisory>> = OnceLock::new();
    MERGED.get_or_init(|| build(&sample_records(), &Precedence::default()))
}

/// Every 10th advisory of the merged sample.
fn small() -> &'static [CanonicalAdvisory] {
    static SMALL: OnceLock<Vec<CanonicalAdvisory>> = OnceLock::new();
    SMALL.get_or_init(|| merged().iter().step_by(10).cloned().collect())
}

/// A deterministic permutation (xorshift Fisher–Yates), so failures reproduce.
fn shuffled(items: &[CanonicalAdvisory], seed: u64) -> Vec<CanonicalAdvisory> {
    let mut out = items.to_vec();
    let mut state = seed.max(1);
    for i in (1..out.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.swap(i, (state % (i as u64 + 1)) as usize);
    }
    out
}

/// Every file under `dir`: relative path -> bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    testdata::files(dir, "")
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn export_to(dir: &Path, advisories: &[CanonicalAdvisory], options: &ExportOptions) {
    export::write(advisories, dir, options).unwrap_or_else(|e| panic!("export: {e}"));
}

#[test]
fn export_is_byte_identical_whatever_the_order_and_threads() {
    let all = merged();
    assert!(
        all.len() > 1000,
        "merged sample has {} advisories",
        all.len()
    );
    for layout in [Layout::Files, Layout::Jsonl] {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        let opts = ExportOptions {
            layout,
            threads: 1,
            ..ExportOptions::default()
        };
        let manifest = export::write(all, &base, &opts).unwrap();
        let reference = tree(&base);
        let runs: &[(u64, usize)] = match layout {
            Layout::Files => &[(1, 4), (0x9e37_79b9, 2), (42, 0)],
            Layout::Jsonl => &[(7, 3)],
        };
        for &(seed, threads) in runs {
            let dir = tmp.path().join(format!("s{seed}"));
            let input = shuffled(all, seed);
            assert_ne!(
                input.iter().map(|a| &a.id).collect::<Vec<_>>(),
                all.iter().map(|a| &a.id).collect::<Vec<_>>()
            );
            let m = export::write(
                &input,
                &dir,
                &ExportOptions {
                    layout,
                    threads,
                    ..ExportOptions::default()
                },
            )
            .unwrap();
            assert_eq!(m.root_digest, manifest.root_digest);
            let got = tree(&dir);
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                reference.keys().collect::<Vec<_>>()
            );
            for (path, bytes) in &reference {
                assert!(
                    got[path] == *bytes,
                    "{layout:?} seed {seed}: {path} differs"
                );
            }
        }
    }
}

#[test]
fn manifest_describes_the_directory_and_the_root_digest_recomputes() {
    let all = merged();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let m = export::write(all, &dir, &ExportOptions::default()).unwrap();
    assert_eq!(m.advisory_count, all.len() as u64);
    // `created` is the latest `modified` of the inputs, never the clock.
    let latest = all
        .iter()
        .filter_map(|a| a.modified.as_deref())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .max()
        .unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&m.created).unwrap(),
        latest
    );
    // The manifest on disk is the one returned, and was written last (it is not listed).
    let on_disk: export::ExportManifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(on_disk, m);
    // The sha256sum-style listing of the directory, computed independently.
    let files = tree(&dir);
    let mut listing = String::new();
    for (path, bytes) in files.iter().filter(|(p, _)| *p != "manifest.json") {
        listing.push_str(&format!("{}  {path}\n", sha256_hex(bytes)));
    }
    assert_eq!(sha256_hex(listing.as_bytes()), m.root_digest);
    assert_eq!(m.files.len(), files.len() - 1);
    // One file per advisory, named reversibly, holding its canonical JSON.
    for a in all.iter().step_by(97) {
        let path = export::advisory_path(&a.id);
        assert_eq!(files[&path], a.canonical_json(), "{path}");
        let name = path.rsplit('/').next().unwrap().trim_end_matches(".json");
        assert_eq!(
            export::id_from_file_id(name).as_deref(),
            Some(a.id.as_str())
        );
    }
    // Shards keep directories small.
    let shards: std::collections::BTreeSet<&str> = m
        .files
        .iter()
        .filter_map(|f| f.path.strip_prefix("advisories/"))
        .filter_map(|p| p.split('/').next())
        .collect();
    assert!(shards.len() > 200, "{} shards", shards.len());
    // A directory that is not empty is refused, an explicit created is used as given.
    assert!(matches!(
        export::write(all, &dir, &ExportOptions::default()),
        Err(export::ExportError::NotEmpty { .. })
    ));
    let fixed = ExportOptions {
        created: Some("2030-01-02T03:04:05+01:00".into()),
        layout: Layout::Jsonl,
        ..ExportOptions::default()
    };
    let m2 = export::write(all, &tmp.path().join("fixed"), &fixed).unwrap();
    assert_eq!(m2.created, "2030-01-02T02:04:05Z");
    let jsonl = std::fs::read_to_string(tmp.path().join("fixed/advisories.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), all.len());
}

fn component(purl: &str) -> Component {
    let purl = Purl::parse(purl).unwrap();
    Component {
        bom_ref: purl.to_string(),
        name: purl.name.clone(),
        version: purl.version.clone(),
        purl: Some(purl),
        ..Component::default()
    }
}

#[test]
fn scanning_against_the_snapshot_finds_the_cve_with_its_aliases() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    export::write(merged(), &dir, &ExportOptions::default()).unwrap();
    let db = AdvisoryDb::open_read_only(&dir.join("matcher.db")).unwrap();
    assert_eq!(db.stats().unwrap().advisories, merged().len() as u64);
    // Keyed by the canonical id, aliases reach the other sources' ids.
    let record = db.record("CVE-2023-23934").unwrap().unwrap();
    assert!(record.aliases.contains(&"PYSEC-2023-57".to_string()));
    // DLA-3346-1 fixes two CVEs: it relates to both but joins neither.
    assert!(record.related.contains(&"DLA-3346-1".to_string()));
    assert!(!record.aliases.contains(&"DLA-3346-1".to_string()));
    let sbom = Sbom {
        components: vec![
            component("pkg:pypi/Werkzeug@2.2.2"),
            component("pkg:pypi/werkzeug@2.2.3"),
        ],
        ..Sbom::default()
    };
    let out = match_sbom(&sbom, &db).unwrap();
    let vulnerable: Vec<_> = out
        .findings
        .iter()
        .filter(|f| f.id == "CVE-2023-23934")
        .collect();
    assert_eq!(vulnerable.len(), 1, "{:#?}", out.findings);
    let f = vulnerable[0];
    assert_eq!(f.installed_version, "2.2.2");
    for alias in ["PYSEC-2023-57", "GHSA-px8h-6qxv-m22q"] {
        assert!(f.aliases.iter().any(|a| a == alias), "{:?}", f.aliases);
    }
    assert_eq!(f.advisories, vec!["CVE-2023-23934".to_string()]);
    assert!(
        !f.aliases.iter().any(|a| a.starts_with("CVE-")),
        "{:?}",
        f.aliases
    );
    // Its sibling CVE of the same Debian advisory is a finding of its own.
    assert!(
        out.findings
            .iter()
            .any(|g| g.id == "CVE-2023-25577" && g.installed_version == "2.2.2")
    );
    assert!(f.fixed_versions.contains(&"2.2.3".to_string()));
    // The severity follows the precedence-chosen CVSS of the canonical advisory.
    let canonical = merged().iter().find(|a| a.id == "CVE-2023-23934").unwrap();
    let chosen = canonical.cvss.as_ref().unwrap();
    assert_eq!(f.cvss.as_ref().map(|c| c.score), chosen.score);
    // The fixed version is not reported.
    assert!(
        !out.findings
            .iter()
            .any(|f| f.id == "CVE-2023-23934" && f.installed_version == "2.2.3")
    );
}

/// The entries of a kit, in archive order.
fn unpack(kit: &Path) -> Vec<(String, Vec<u8>)> {
    let zst = zstd::stream::read::Decoder::new(std::fs::File::open(kit).unwrap()).unwrap();
    let mut archive = tar::Archive::new(zst);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (path, bytes)
        })
        .collect()
}

/// Writes entries as a kit; an entry named `@link:<name>` becomes a symlink, and a
/// path is written raw into the header (so `../x` and `/x` get through).
fn repack(entries: &[(String, Vec<u8>)], out: &Path) {
    let file = std::fs::File::create(out).unwrap();
    let zst = zstd::stream::write::Encoder::new(file, 3).unwrap();
    let mut b = tar::Builder::new(zst);
    for (path, bytes) in entries {
        let mut h = tar::Header::new_gnu();
        if let Some(name) = path.strip_prefix("@link:") {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_link_name("/etc/passwd").unwrap();
            raw_name(&mut h, name);
            h.set_cksum();
            b.append(&h, std::io::empty()).unwrap();
            continue;
        }
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        raw_name(&mut h, path);
        h.set_cksum();
        b.append(&h, bytes.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

fn raw_name(h: &mut tar::Header, name: &str) {
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    export: PathBuf,
    kit: PathBuf,
    keys: KitKeys,
    info: kit::KitInfo,
}

/// A kit signing key, PEM-encoded as `stella feeds keygen` writes it.
struct KitKeys {
    private_pem: String,
    public_pem: String,
}

fn keygen() -> KitKeys {
    let key = Ed25519Key::generate().unwrap();
    KitKeys {
        private_pem: key.pkcs8_pem(),
        public_pem: key.public_pem(),
    }
}

/// An export of `advisories` and its kit, signed by a new key.
fn fixture(advisories: &[CanonicalAdvisory]) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let export_dir = root.join("export");
    export::write(advisories, &export_dir, &ExportOptions::default()).unwrap();
    let keys = keygen();
    let kit_path = root.join("feeds.tar.zst");
    let info = kit::build(&export_dir, &keys.private_pem, &kit_path).unwrap();
    Fixture {
        _tmp: tmp,
        root,
        export: export_dir,
        kit: kit_path,
        keys,
        info,
    }
}

fn import(f: &Fixture, kit_path: &Path) -> Result<kit::ImportedKit, KitError> {
    kit::import(
        kit_path,
        std::slice::from_ref(&f.keys.public_pem),
        None,
        false,
    )
}

#[test]
fn kit_round_trip_is_exact_and_reproducible() {
    let f = fixture(merged());
    // Same export and key: the same kit bytes.
    let again = f.root.join("again.tar.zst");
    let info2 = kit::build(&f.export, &f.keys.private_pem, &again).unwrap();
    assert_eq!(info2, f.info);
    assert!(std::fs::read(&again).unwrap() == std::fs::read(&f.kit).unwrap());
    // Manifest and signature first, then the files in path order, all 0644 root-owned.
    let entries = unpack(&f.kit);
    assert_eq!(entries[0].0, "manifest.json");
    assert_eq!(entries[1].0, "manifest.sig");
    let paths: Vec<&String> = entries.iter().skip(2).map(|(p, _)| p).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);

    let imported = import(&f, &f.kit).unwrap();
    assert_eq!(imported.info, f.info);
    assert_eq!(imported.advisories, merged());
    let db = imported.matcher_db().unwrap();
    assert!(std::fs::read(&db).unwrap() == std::fs::read(f.export.join("matcher.db")).unwrap());
    AdvisoryDb::open_read_only(&db).unwrap();
    // Re-exporting what was imported gives the same root digest.
    let re = export::write(
        &imported.advisories,
        &f.root.join("re-export"),
        &ExportOptions {
            created: Some(imported.manifest.created.clone()),
            ..ExportOptions::default()
        },
    )
    .unwrap();
    assert_eq!(re.root_digest, f.info.root_digest);
    assert_eq!(re, imported.manifest);
    // The signature names the key by its one key id.
    assert_eq!(
        f.info.key_id,
        Ed25519Key::from_pkcs8_pem(&f.keys.private_pem)
            .unwrap()
            .key_id()
    );
    // The JSONL layout round-trips too.
    let jsonl_dir = f.root.join("jsonl");
    export_to(
        &jsonl_dir,
        merged(),
        &ExportOptions {
            layout: Layout::Jsonl,
            ..ExportOptions::default()
        },
    );
    let jsonl_kit = f.root.join("jsonl.tar.zst");
    kit::build(&jsonl_dir, &f.keys.private_pem, &jsonl_kit).unwrap();
    assert_eq!(import(&f, &jsonl_kit).unwrap().advisories, merged());
}

fn expect_err(result: Result<kit::ImportedKit, KitError>) -> KitError {
    match result {
        Ok(_) => panic!("kit accepted"),
        Err(e) => e,
    }
}

#[test]
fn tampered_kits_are_refused_with_the_right_error() {
    // A slice of the sample keeps the dozen imports below quick.
    let f = fixture(small());
    let entries = unpack(&f.kit);
    let target = f.root.join("bad.tar.zst");
    // Repacking as is still imports: the refusals below are due to the change alone.
    repack(&entries, &target);
    import(&f, &target).unwrap();

    // A changed advisory file: named in the error.
    let mut changed = entries.clone();
    let victim = changed
        .iter()
        .position(|(p, _)| p.starts_with("advisories/"))
        .unwrap();
    changed[victim].1.extend_from_slice(b" ");
    repack(&changed, &target);
    let err = expect_err(import(&f, &target));
    match &err {
        KitError::DigestMismatch { path, .. } => assert_eq!(*path, changed[victim].0),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(&changed[victim].0));

    // A changed manifest (even with a consistent root digest) breaks the signature link.
    let mut changed = entries.clone();
    let mut m: serde_json::Value = serde_json::from_slice(&changed[0].1).unwrap();
    m["created"] = serde_json::json!("2099-01-01T00:00:00Z");
    changed[0].1 = serde_json::to_vec(&m).unwrap();
    repack(&changed, &target);
    assert!(matches!(
        expect_err(import(&f, &target)),
        KitError::ManifestTampered { .. }
    ));

    // A broken signature.
    let mut changed = entries.clone();
    let last = changed[1].1.len() - 3;
    changed[1].1[last] = if changed[1].1[last] == b'A' {
        b'B'
    } else {
        b'A'
    };
    repack(&changed, &target);
    assert!(matches!(
        expect_err(import(&f, &target)),
        KitError::BadSignature { .. }
    ));

    // An extra and a missing file.
    let mut changed = entries.clone();
    changed.push(("extra.txt".into(), b"x".to_vec()));
    repack(&changed, &target);
    assert!(matches!(
        expect_err(import(&f, &target)),
        KitError::UnexpectedFile { path } if path == "extra.txt"
    ));
    let mut changed = entries.clone();
    let gone = changed.remove(victim);
    repack(&changed, &target);
    assert!(matches!(
        expect_err(import(&f, &target)),
        KitError::MissingFile { path } if path == gone.0
    ));

    // Path traversal, absolute paths and links never reach the disk.
    for bad in ["../evil.json", "/tmp/evil.json", "advisories/../../x"] {
        let mut changed = entries.clone();
        changed.insert(2, (bad.to_string(), b"{}".to_vec()));
        repack(&changed, &target);
        match expect_err(import(&f, &target)) {
            KitError::UnsafeEntry { path, .. } => assert_eq!(path, bad),
            other => panic!("{bad}: {other}"),
        }
    }
    assert!(!f.root.join("evil.json").exists());
    let mut changed = entries.clone();
    changed.insert(2, ("@link:advisories/link".to_string(), Vec::new()));
    repack(&changed, &target);
    assert!(matches!(
        expect_err(import(&f, &target)),
        KitError::UnsafeEntry { .. }
    ));
    // A repeated entry.
    let mut changed = entries.clone();
    changed.push(changed[victim].clone());
    repack(&changed, &target);
    assert!(matches!(
        expect_err(import(&f, &target)),
        KitError::Archive { .. }
    ));

    // The signed manifest must come first, so nothing unlisted is unpacked before it.
    let mut changed = entries.clone();
    changed.swap(0, 2);
    repack(&changed, &target);
    assert!(matches!(
        expect_err(import(&f, &target)),
        KitError::Archive { reason } if reason.contains("starts with manifest.json")
    ));

    // A damaged export is never signed.
    let damaged = &entries[victim].0;
    std::fs::write(f.export.join(damaged), b"{}").unwrap();
    match kit::build(
        &f.export,
        &f.keys.private_pem,
        &f.root.join("never.tar.zst"),
    ) {
        Err(KitError::DigestMismatch { path, .. }) => assert_eq!(path, *damaged),
        other => panic!("{other:?}"),
    }
    assert!(!f.root.join("never.tar.zst").exists());
}

#[test]
fn untrusted_keys_oversized_entries_and_older_kits_are_refused() {
    let f = fixture(small());
    let other = keygen();
    // Signed by a key that is not trusted.
    let err = expect_err(kit::import(
        &f.kit,
        std::slice::from_ref(&other.public_pem),
        None,
        false,
    ));
    assert!(
        matches!(&err, KitError::UnknownKey { kid, .. } if *kid == f.info.key_id),
        "{err}"
    );
    // A malformed trusted key is reported as such.
    assert!(matches!(
        expect_err(kit::import(&f.kit, &["nonsense".into()], None, false)),
        KitError::TrustedKey { index: 0, .. }
    ));
    // Trusting several keys works.
    kit::import(
        &f.kit,
        &[other.public_pem.clone(), f.keys.public_pem.clone()],
        None,
        false,
    )
    .unwrap();

    // Oversized entry, too many entries, too many bytes in all.
    let limited = |limits: KitLimits| {
        kit::import_with(
            &f.kit,
            std::slice::from_ref(&f.keys.public_pem),
            None,
            false,
            &ImportOptions {
                limits,
                work_dir: Some(f.root.clone()),
            },
        )
    };
    let db_size = std::fs::metadata(f.export.join("matcher.db"))
        .unwrap()
        .len();
    match expect_err(limited(KitLimits {
        max_file_bytes: db_size - 1,
        ..KitLimits::default()
    })) {
        KitError::TooLarge { what, size, .. } => {
            assert_eq!(what, "entry matcher.db");
            assert_eq!(size, db_size);
        }
        other => panic!("{other}"),
    }
    assert!(matches!(
        expect_err(limited(KitLimits {
            max_entries: 10,
            ..KitLimits::default()
        })),
        KitError::TooManyEntries { limit: 10 }
    ));
    assert!(matches!(
        expect_err(limited(KitLimits {
            max_total_bytes: db_size,
            ..KitLimits::default()
        })),
        KitError::TooLarge { .. }
    ));
    // The failed imports left nothing behind in the work directory.
    let leftovers: Vec<_> = std::fs::read_dir(&f.root)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("stella-kit-"))
        .collect();
    assert!(leftovers.is_empty());

    // An older kit than the installed data: refused, naming both dates, unless forced.
    let old_dir = f.root.join("old");
    export_to(
        &old_dir,
        &small()[..small().len() / 2],
        &ExportOptions {
            created: Some("2020-01-01T00:00:00Z".into()),
            ..ExportOptions::default()
        },
    );
    let old_kit = f.root.join("old.tar.zst");
    kit::build(&old_dir, &f.keys.private_pem, &old_kit).unwrap();
    let trusted = [f.keys.public_pem.clone()];
    let err = expect_err(kit::import(&old_kit, &trusted, Some(&f.info), false));
    let text = err.to_string();
    assert!(matches!(err, KitError::Older { .. }), "{text}");
    assert!(text.contains("2020-01-01T00:00:00Z") && text.contains(&f.info.created));
    let forced = kit::import(&old_kit, &trusted, Some(&f.info), true).unwrap();
    assert_eq!(forced.advisories.len(), small().len() / 2);
    // The same kit again: already installed; newer: accepted.
    assert!(matches!(
        expect_err(kit::import(&f.kit, &trusted, Some(&f.info), false)),
        KitError::AlreadyInstalled { .. }
    ));
    kit::import(&f.kit, &trusted, Some(&forced.info), false).unwrap();
}

mod props {
    use proptest::prelude::*;
    use stella_core::feedser::export::{file_id, id_from_file_id};

    proptest! {
        #[test]
        fn file_ids_round_trip_and_stay_one_plain_component(id in "\\PC{1,40}") {
            let name = file_id(&id);
            prop_assert!(!name.contains('/') && !name.contains('\\') && !name.starts_with('.'));
            prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.%".contains(&b)));
            prop_assert_eq!(id_from_file_id(&name), Some(id));
        }
    }
}
