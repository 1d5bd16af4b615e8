//! Small OCI image layouts built by hand for tests: tar layers, blobs, manifests, index.
#![allow(dead_code)] // each test crate uses a different part

use std::io::Write;
use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

pub fn sha(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// (path, contents, symlink target).
pub type Entry<'a> = (&'a str, Option<&'a [u8]>, Option<&'a str>);

pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, link) in entries {
        let mut h = Header::new_ustar();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        let data = data.unwrap_or_default();
        if let Some(l) = link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
            h.set_entry_type(EntryType::Symlink);
        } else {
            h.set_entry_type(EntryType::Regular);
        }
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub fn write_blob(root: &Path, bytes: &[u8]) -> serde_json::Value {
    let digest = sha(bytes);
    let dir = root.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(digest.trim_start_matches("sha256:")), bytes).unwrap();
    json!({"digest": digest, "size": bytes.len()})
}

pub fn with(mut desc: serde_json::Value, media_type: &str) -> serde_json::Value {
    desc["mediaType"] = json!(media_type);
    desc
}

/// Writes an image (config + manifest) into the layout; returns the manifest descriptor.
pub fn write_image(root: &Path, layers: &[Vec<u8>], arch: &str) -> serde_json::Value {
    let layer_descs: Vec<_> = layers
        .iter()
        .map(|l| {
            with(
                write_blob(root, l),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        })
        .collect();
    let config = json!({"architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha(l)).collect::<Vec<_>>()}});
    let config_desc = with(
        write_blob(root, config.to_string().as_bytes()),
        "application/vnd.oci.image.config.v1+json",
    );
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc, "layers": layer_descs});
    with(
        write_blob(root, manifest.to_string().as_bytes()),
        "application/vnd.oci.image.manifest.v1+json",
    )
}

pub fn write_index(root: &Path, manifests: Vec<serde_json::Value>) {
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        root.join("index.json"),
        json!({"schemaVersion": 2, "manifests": manifests}).to_string(),
    )
    .unwrap();
}

pub fn tagged(mut desc: serde_json::Value, tag: &str) -> serde_json::Value {
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    desc
}
