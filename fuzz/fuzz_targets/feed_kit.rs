#![no_main]
//! Fuzz target: the offline kit reader (manifest parser, tar and tar.zst unpackers, the
//! whole import) must never panic or run away, and must never write outside its
//! directory; whatever it accepts is consistent with itself.
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use stella_core::feedser::export::root_digest;
use stella_core::feedser::kit::{self, ImportOptions, KitLimits};
use stella_core::signing_key::Ed25519Key;

fn limits() -> KitLimits {
    KitLimits {
        max_entries: 64,
        max_file_bytes: 1 << 20,
        max_total_bytes: 4 << 20,
        max_manifest_bytes: 1 << 20,
        max_signature_bytes: 4 << 10,
        max_advisory_bytes: 1 << 20,
        max_json_depth: 64,
        max_path_bytes: 256,
        zstd_window_log_max: 20,
    }
}

fn trusted() -> &'static [String] {
    static KEY: OnceLock<Vec<String>> = OnceLock::new();
    KEY.get_or_init(|| {
        vec![
            Ed25519Key::generate()
                .map(|k| k.public_pem())
                .unwrap_or_default(),
        ]
    })
}

/// Every file under `dir`, relative.
fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, base, out);
        } else if let Ok(rel) = p.strip_prefix(base) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let limits = limits();
    match mode % 4 {
        0 => {
            if let Ok(m) = kit::parse_manifest(rest, &limits) {
                assert_eq!(root_digest(&m.files), m.root_digest);
                assert!(m.files.iter().all(|f| !f.path.contains("..")));
            }
        }
        1 | 2 => {
            let Ok(dir) = tempfile::tempdir() else {
                return;
            };
            let result = if mode % 4 == 1 {
                kit::read_tar(rest, dir.path(), &limits)
            } else {
                kit::read_archive(rest, dir.path(), &limits)
            };
            if let Ok(files) = result {
                assert!(files.len() <= limits.max_entries);
                let mut found = Vec::new();
                walk(dir.path(), dir.path(), &mut found);
                found.sort();
                let mut listed: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
                listed.sort();
                assert_eq!(found, listed);
                for f in &files {
                    let len = std::fs::metadata(dir.path().join(&f.path)).map(|m| m.len());
                    assert_eq!(len.ok(), Some(f.size));
                }
            }
        }
        _ => {
            let Ok(dir) = tempfile::tempdir() else {
                return;
            };
            let path = dir.path().join("kit.tar.zst");
            if std::fs::write(&path, rest).is_err() {
                return;
            }
            let options = ImportOptions {
                limits,
                work_dir: Some(dir.path().to_path_buf()),
            };
            // No input can carry a valid signature by this fresh key.
            assert!(kit::import_with(&path, trusted(), None, false, &options).is_err());
        }
    }
});
