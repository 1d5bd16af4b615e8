//! SPDX 2.3 JSON: reader and deterministic writer.
//!
//! Packages become components (`SPDXID` is the `bom_ref`); DEPENDS_ON, DEPENDENCY_OF
//! and package-to-package CONTAINS relationships become dependency edges; the first
//! described package (DESCRIBES / `documentDescribes`) is the subject, not a component.
//! The writer uses `creationInfo.created = 1970-01-01T00:00:00Z` (the SBOM model
//! carries no timestamp, and output must be reproducible) and a `documentNamespace`
//! derived from the SHA-256 of the content. Layer digests and files travel as package
//! annotations (`stella:layer:digest: ...`, `stella:file: ...`); Trivy's
//! `LayerDigest: ...` annotations are read too.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::cyclonedx::{PROP_FILE, PROP_LAYER_DIGEST, PROP_OWNED_BY, subject_of, uuid_from_digest};
use super::json::{self, child, index, object, opt_array, opt_str, req_str, strings};
use super::{Component, Dependency, Limits, Purl, Sbom, SbomError};

/// Creation time written into every document: a fixed epoch, for reproducibility.
pub const FIXED_CREATED: &str = "1970-01-01T00:00:00Z";
/// SPDXID of the package standing for the SBOM subject in written documents.
const ROOT_ID: &str = "SPDXRef-DocumentRoot";
const DOCUMENT_ID: &str = "SPDXRef-DOCUMENT";

/// Read an SPDX 2.3 (or 2.2) JSON document.
pub fn read(bytes: &[u8], limits: &Limits) -> Result<Sbom, SbomError> {
    let doc = json::parse(bytes, limits)?;
    from_value(&doc, limits)
}

fn invalid(path: &str, reason: impl Into<String>) -> SbomError {
    SbomError::Invalid {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// A license field value, unless it says "no information".
fn license_value(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|l| !l.is_empty() && *l != "NOASSERTION" && *l != "NONE")
        .map(str::to_string)
}

/// Read an already-parsed SPDX document (size and depth already checked).
pub(crate) fn from_value(doc: &Value, limits: &Limits) -> Result<Sbom, SbomError> {
    let root = object(doc, "$")?;
    match opt_str(root, "spdxVersion", "$")? {
        Some("SPDX-2.3" | "SPDX-2.2") => {}
        Some(other) => {
            return Err(invalid(
                "$.spdxVersion",
                format!("unsupported SPDX version {other:?} (SPDX-2.3 or SPDX-2.2)"),
            ));
        }
        None => return Err(invalid("$.spdxVersion", "missing; not an SPDX document")),
    }

    // Files by SPDXID, for hasFiles and package CONTAINS file.
    let mut file_names: HashMap<&str, &str> = HashMap::new();
    for (i, f) in opt_array(root, "files", "$")?.iter().enumerate() {
        let path = index("$.files", i);
        let f = object(f, &path)?;
        file_names.insert(req_str(f, "SPDXID", &path)?, req_str(f, "fileName", &path)?);
    }

    let packages = opt_array(root, "packages", "$")?;
    if packages.len() > limits.max_components {
        return Err(SbomError::TooManyComponents {
            max: limits.max_components,
        });
    }
    let mut components = Vec::with_capacity(packages.len());
    let mut annotated_files = Vec::with_capacity(packages.len());
    for (i, p) in packages.iter().enumerate() {
        let path = index("$.packages", i);
        let (c, from_annotations) = read_package(object(p, &path)?, &path, &file_names)?;
        components.push(c);
        annotated_files.push(from_annotations);
    }

    // Described elements, in document order: documentDescribes, then DESCRIBES.
    let mut described: Vec<String> = strings(
        opt_array(root, "documentDescribes", "$")?,
        "$.documentDescribes",
    )?
    .into_iter()
    .map(str::to_string)
    .collect();

    let mut edges: Vec<Dependency> = Vec::new();
    let mut edge_index: HashMap<String, usize> = HashMap::new();
    let mut add_edge = |from: &str, to: &str| {
        let i = *edge_index.entry(from.to_string()).or_insert_with(|| {
            edges.push(Dependency {
                from: from.to_string(),
                to: Vec::new(),
            });
            edges.len() - 1
        });
        if let Some(e) = edges.get_mut(i) {
            e.to.push(to.to_string());
        }
    };
    let pos: HashMap<String, usize> = components
        .iter()
        .enumerate()
        .map(|(i, c)| (c.bom_ref.clone(), i))
        .collect();
    let mut contained_files: Vec<(usize, String)> = Vec::new();
    for (i, r) in opt_array(root, "relationships", "$")?.iter().enumerate() {
        let path = index("$.relationships", i);
        let r = object(r, &path)?;
        let a = req_str(r, "spdxElementId", &path)?;
        let kind = req_str(r, "relationshipType", &path)?;
        let b = req_str(r, "relatedSpdxElement", &path)?;
        if matches!(b, "NONE" | "NOASSERTION") {
            continue;
        }
        match kind {
            "DESCRIBES" if a == DOCUMENT_ID => described.push(b.to_string()),
            "DESCRIBED_BY" if b == DOCUMENT_ID => described.push(a.to_string()),
            "DEPENDS_ON" => add_edge(a, b),
            "DEPENDENCY_OF" => add_edge(b, a),
            "CONTAINS" => match (file_names.get(b), pos.get(a)) {
                (Some(name), Some(&pi)) => contained_files.push((pi, name.to_string())),
                (Some(_), None) => {}
                (None, _) => add_edge(a, b),
            },
            _ => {}
        }
    }
    for (pi, name) in contained_files {
        if let (Some(c), Some(false)) = (components.get_mut(pi), annotated_files.get(pi))
            && !c.files.contains(&name)
        {
            c.files.push(name);
        }
    }

    // The first described package is the subject and leaves the component list.
    let mut subject = None;
    if let Some(first) = described.first()
        && let Some(i) = components.iter().position(|c| &c.bom_ref == first)
    {
        let c = components.remove(i);
        subject = Some(subject_of(&c.name, c.version.as_deref()));
    }
    Ok(Sbom {
        subject,
        components,
        dependencies: edges,
    })
}

/// One package; the flag says whether its files came from our annotations (which
/// then take precedence over hasFiles / CONTAINS).
fn read_package(
    p: &Map<String, Value>,
    path: &str,
    file_names: &HashMap<&str, &str>,
) -> Result<(Component, bool), SbomError> {
    let bom_ref = req_str(p, "SPDXID", path)?.to_string();
    let name = req_str(p, "name", path)?.to_string();
    let version = opt_str(p, "versionInfo", path)?.map(str::to_string);

    let mut purl = None;
    let refs_path = child(path, "externalRefs");
    for (i, r) in opt_array(p, "externalRefs", path)?.iter().enumerate() {
        let rp = index(&refs_path, i);
        let r = object(r, &rp)?;
        if opt_str(r, "referenceType", &rp)? == Some("purl") && purl.is_none() {
            let loc = req_str(r, "referenceLocator", &rp)?;
            purl = Some(
                Purl::parse(loc)
                    .map_err(|e| invalid(&child(&rp, "referenceLocator"), e.to_string()))?,
            );
        }
    }

    let mut licenses = Vec::new();
    for key in ["licenseDeclared", "licenseConcluded"] {
        if let Some(l) = license_value(opt_str(p, key, path)?)
            && !licenses.contains(&l)
        {
            licenses.push(l);
        }
    }

    let mut layer_digest = None;
    let mut owned_by = None;
    let mut foreign_layer = None;
    let mut files = Vec::new();
    let ann_path = child(path, "annotations");
    for (i, a) in opt_array(p, "annotations", path)?.iter().enumerate() {
        let ap = index(&ann_path, i);
        let comment = req_str(object(a, &ap)?, "comment", &ap)?;
        let Some((key, value)) = comment.split_once(": ") else {
            continue;
        };
        match key {
            PROP_LAYER_DIGEST if layer_digest.is_none() => layer_digest = Some(value.to_string()),
            "LayerDigest" if foreign_layer.is_none() => foreign_layer = Some(value.to_string()),
            PROP_OWNED_BY if owned_by.is_none() => owned_by = Some(value.to_string()),
            PROP_FILE => files.push(value.to_string()),
            _ => {}
        }
    }
    let annotated = !files.is_empty();
    if !annotated {
        let hf_path = child(path, "hasFiles");
        for id in strings(opt_array(p, "hasFiles", path)?, &hf_path)? {
            if let Some(n) = file_names.get(id) {
                files.push(n.to_string());
            }
        }
    }
    Ok((
        Component {
            bom_ref,
            name,
            version,
            purl,
            layer_digest: layer_digest.or(foreign_layer),
            files,
            licenses,
            owned_by,
        },
        annotated,
    ))
}

/// A valid SPDXID for a `bom_ref`: kept when already valid, otherwise sanitised
/// and suffixed with a hash of the original so distinct refs stay distinct.
pub fn spdx_id(bom_ref: &str) -> String {
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if let Some(rest) = bom_ref.strip_prefix("SPDXRef-")
        && valid(rest)
    {
        return bom_ref.to_string();
    }
    let clean: String = bom_ref
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let h = Sha256::digest(bom_ref.as_bytes());
    let hex: String = h.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("SPDXRef-{clean}-{hex}")
}

/// Write `sbom` as SPDX 2.3 JSON, byte-identical for equal input.
pub fn write(sbom: &Sbom) -> Vec<u8> {
    let mut root_id = ROOT_ID.to_string();
    while sbom
        .components
        .iter()
        .any(|c| spdx_id(&c.bom_ref) == root_id)
    {
        root_id.push_str("-0");
    }
    let mut packages = Vec::new();
    let mut relationships = Vec::new();
    if let Some(subject) = &sbom.subject {
        packages.push(json!({
            "SPDXID": root_id,
            "name": subject,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
        }));
        relationships.push(json!({
            "spdxElementId": DOCUMENT_ID,
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": root_id,
        }));
    }
    packages.extend(sbom.components.iter().map(package_json));
    for d in &sbom.dependencies {
        for t in &d.to {
            relationships.push(json!({
                "spdxElementId": spdx_id(&d.from),
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": spdx_id(t),
            }));
        }
    }
    let mut doc = Map::new();
    doc.insert("spdxVersion".into(), json!("SPDX-2.3"));
    doc.insert("dataLicense".into(), json!("CC0-1.0"));
    doc.insert("SPDXID".into(), json!(DOCUMENT_ID));
    doc.insert(
        "name".into(),
        json!(sbom.subject.as_deref().unwrap_or("stella-sbom")),
    );
    doc.insert(
        "creationInfo".into(),
        json!({"created": FIXED_CREATED, "creators": [format!("Tool: stella-{}", env!("CARGO_PKG_VERSION"))]}),
    );
    doc.insert("packages".into(), Value::Array(packages));
    doc.insert("relationships".into(), Value::Array(relationships));
    // The namespace names the content: hash everything else, then insert it.
    let digest = Sha256::digest(json::to_bytes(&Value::Object(doc.clone())));
    doc.insert(
        "documentNamespace".into(),
        json!(format!(
            "https://stellaops.invalid/spdx/{}",
            uuid_from_digest(&digest)
        )),
    );
    json::to_bytes(&Value::Object(doc))
}

fn package_json(c: &Component) -> Value {
    let mut o = Map::new();
    o.insert("SPDXID".into(), json!(spdx_id(&c.bom_ref)));
    o.insert("name".into(), json!(c.name));
    if let Some(v) = &c.version {
        o.insert("versionInfo".into(), json!(v));
    }
    o.insert("downloadLocation".into(), json!("NOASSERTION"));
    o.insert("filesAnalyzed".into(), json!(false));
    o.insert("copyrightText".into(), json!("NOASSERTION"));
    // One license: declared. Two: declared and concluded (the reader's order).
    // More: all ANDed into declared.
    let (declared, concluded) = match c.licenses.as_slice() {
        [] => ("NOASSERTION".to_string(), "NOASSERTION".to_string()),
        [one] => (one.clone(), "NOASSERTION".to_string()),
        [d, k] => (d.clone(), k.clone()),
        many => (
            many.iter()
                .map(|l| format!("({l})"))
                .collect::<Vec<_>>()
                .join(" AND "),
            "NOASSERTION".to_string(),
        ),
    };
    o.insert("licenseDeclared".into(), json!(declared));
    o.insert("licenseConcluded".into(), json!(concluded));
    if let Some(p) = &c.purl {
        o.insert(
            "externalRefs".into(),
            json!([{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.to_string()}]),
        );
    }
    let mut ann = Vec::new();
    if let Some(d) = &c.layer_digest {
        ann.push(format!("{PROP_LAYER_DIGEST}: {d}"));
    }
    if let Some(owner) = &c.owned_by {
        ann.push(format!("{PROP_OWNED_BY}: {}", spdx_id(owner)));
    }
    ann.extend(c.files.iter().map(|f| format!("{PROP_FILE}: {f}")));
    if !ann.is_empty() {
        o.insert(
            "annotations".into(),
            Value::Array(
                ann.into_iter()
                    .map(|comment| {
                        json!({
                            "annotationType": "OTHER",
                            "annotator": "Tool: stella",
                            "annotationDate": FIXED_CREATED,
                            "comment": comment,
                        })
                    })
                    .collect(),
            ),
        );
    }
    Value::Object(o)
}
