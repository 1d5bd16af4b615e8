//! CycloneDX JSON (1.4, 1.5, 1.6): reader and deterministic writer.
//!
//! The writer emits CycloneDX 1.6 with no wall-clock data: the serial number is a
//! name-based UUID from the SHA-256 of the rest of the document, so equal SBOMs give
//! byte-identical output. Layer digests and files travel as `stella:` properties.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::json::{self, child, index, object, opt_array, opt_object, opt_str, req_str, strings};
use super::{Component, Dependency, Limits, Purl, Sbom, SbomError};

/// Property carrying the digest of the layer that introduced a component (ours).
pub const PROP_LAYER_DIGEST: &str = "stella:layer:digest";
/// Property naming the `bom-ref` of the OS package that owns a component's files.
pub const PROP_OWNED_BY: &str = "stella:owned-by";
/// Property naming one file of a component (ours; repeated per file).
pub const PROP_FILE: &str = "stella:file";
/// Layer properties written by other tools, tried after ours, in this order.
const FOREIGN_LAYER_PROPS: [&str; 2] =
    ["syft:location:0:layerID", "aquasecurity:trivy:LayerDigest"];

/// Read a CycloneDX JSON document (spec versions 1.4 to 1.6).
pub fn read(bytes: &[u8], limits: &Limits) -> Result<Sbom, SbomError> {
    let doc = json::parse(bytes, limits)?;
    from_value(&doc, limits)
}

/// Read an already-parsed CycloneDX document (size and depth already checked).
pub(crate) fn from_value(doc: &Value, limits: &Limits) -> Result<Sbom, SbomError> {
    let root = object(doc, "$")?;
    match opt_str(root, "bomFormat", "$")? {
        Some("CycloneDX") => {}
        Some(other) => {
            return Err(invalid(
                "$.bomFormat",
                format!("expected \"CycloneDX\", found {other:?}"),
            ));
        }
        None => return Err(invalid("$.bomFormat", "missing; not a CycloneDX document")),
    }
    match opt_str(root, "specVersion", "$")? {
        Some("1.4" | "1.5" | "1.6") => {}
        Some(other) => {
            return Err(invalid(
                "$.specVersion",
                format!("unsupported CycloneDX version {other:?} (1.4, 1.5 or 1.6)"),
            ));
        }
        None => return Err(invalid("$.specVersion", "missing")),
    }

    let mut sbom = Sbom::default();
    if let Some(meta) = opt_object(root, "metadata", "$")?
        && let Some(comp) = opt_object(meta, "component", "$.metadata")?
    {
        let path = "$.metadata.component";
        let name = req_str(comp, "name", path)?;
        sbom.subject = Some(subject_of(name, opt_str(comp, "version", path)?));
    }
    read_components(root, "$", limits, &mut sbom.components)?;

    for (i, dep) in opt_array(root, "dependencies", "$")?.iter().enumerate() {
        let path = index("$.dependencies", i);
        let dep = object(dep, &path)?;
        let from = req_str(dep, "ref", &path)?.to_string();
        let to_path = child(&path, "dependsOn");
        let to = strings(opt_array(dep, "dependsOn", &path)?, &to_path)?;
        sbom.dependencies.push(Dependency {
            from,
            to: to.into_iter().map(str::to_string).collect(),
        });
    }
    Ok(sbom)
}

/// `name:version`, or `name@digest` when the version is a digest (container images).
pub(crate) fn subject_of(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) if v.starts_with("sha256:") => format!("{name}@{v}"),
        Some(v) if !v.is_empty() => format!("{name}:{v}"),
        _ => name.to_string(),
    }
}

fn invalid(path: &str, reason: impl Into<String>) -> SbomError {
    SbomError::Invalid {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// Append `parent.components[]` (and their nested components, depth first).
fn read_components(
    parent: &Map<String, Value>,
    parent_path: &str,
    limits: &Limits,
    out: &mut Vec<Component>,
) -> Result<(), SbomError> {
    let list_path = child(parent_path, "components");
    for (i, c) in opt_array(parent, "components", parent_path)?
        .iter()
        .enumerate()
    {
        let path = index(&list_path, i);
        let obj = object(c, &path)?;
        if out.len() >= limits.max_components {
            return Err(SbomError::TooManyComponents {
                max: limits.max_components,
            });
        }
        out.push(read_component(obj, &path)?);
        // Depth is bounded by the pre-scan, so this recursion is too.
        read_components(obj, &path, limits, out)?;
    }
    Ok(())
}

fn read_component(obj: &Map<String, Value>, path: &str) -> Result<Component, SbomError> {
    let name = req_str(obj, "name", path)?.to_string();
    let version = opt_str(obj, "version", path)?.map(str::to_string);
    let purl_raw = opt_str(obj, "purl", path)?.filter(|s| !s.trim().is_empty());
    let purl = match purl_raw {
        Some(raw) => {
            Some(Purl::parse(raw).map_err(|e| invalid(&child(path, "purl"), e.to_string()))?)
        }
        None => None,
    };
    // Without a bom-ref nothing can point at the component; its purl or its JSON
    // path still give it a stable identity.
    let bom_ref = match opt_str(obj, "bom-ref", path)? {
        Some(r) => r.to_string(),
        None => purl_raw.map_or_else(|| path.to_string(), str::to_string),
    };

    let mut props: Vec<(&str, &str)> = Vec::new();
    let props_path = child(path, "properties");
    for (i, p) in opt_array(obj, "properties", path)?.iter().enumerate() {
        let pp = index(&props_path, i);
        let p = object(p, &pp)?;
        let name = req_str(p, "name", &pp)?;
        if let Some(value) = opt_str(p, "value", &pp)? {
            props.push((name, value));
        }
    }
    let prop = |key: &str| {
        props
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    };
    let layer_digest =
        prop(PROP_LAYER_DIGEST).or_else(|| FOREIGN_LAYER_PROPS.iter().find_map(|k| prop(k)));

    let mut files: Vec<String> = props
        .iter()
        .filter(|(k, _)| *k == PROP_FILE)
        .map(|(_, v)| v.to_string())
        .collect();
    if files.is_empty()
        && let Some(ev) = opt_object(obj, "evidence", path)?
    {
        let ev_path = child(path, "evidence");
        let occ_path = child(&ev_path, "occurrences");
        for (i, o) in opt_array(ev, "occurrences", &ev_path)?.iter().enumerate() {
            let op = index(&occ_path, i);
            files.push(req_str(object(o, &op)?, "location", &op)?.to_string());
        }
    }

    let mut licenses = Vec::new();
    let lic_path = child(path, "licenses");
    for (i, l) in opt_array(obj, "licenses", path)?.iter().enumerate() {
        let lp = index(&lic_path, i);
        let l = object(l, &lp)?;
        if let Some(expr) = opt_str(l, "expression", &lp)? {
            licenses.push(expr.to_string());
        } else if let Some(lic) = opt_object(l, "license", &lp)? {
            let inner = child(&lp, "license");
            match (opt_str(lic, "id", &inner)?, opt_str(lic, "name", &inner)?) {
                (Some(id), _) => licenses.push(id.to_string()),
                (None, Some(name)) => licenses.push(name.to_string()),
                (None, None) => return Err(invalid(&inner, "license has neither id nor name")),
            }
        }
    }

    Ok(Component {
        bom_ref,
        name,
        version,
        purl,
        layer_digest,
        files,
        licenses,
        owned_by: prop(PROP_OWNED_BY),
    })
}

/// Write `sbom` as CycloneDX 1.6 JSON, byte-identical for equal input.
pub fn write(sbom: &Sbom) -> Vec<u8> {
    let mut doc = Map::new();
    doc.insert(
        "$schema".into(),
        json!("http://cyclonedx.org/schema/bom-1.6.schema.json"),
    );
    doc.insert("bomFormat".into(), json!("CycloneDX"));
    doc.insert("specVersion".into(), json!("1.6"));
    doc.insert("version".into(), json!(1));
    let mut meta = Map::new();
    meta.insert(
        "tools".into(),
        json!({"components": [{"type": "application", "name": "stella", "version": env!("CARGO_PKG_VERSION")}]}),
    );
    if let Some(subject) = &sbom.subject {
        meta.insert(
            "component".into(),
            json!({"type": "container", "name": subject}),
        );
    }
    doc.insert("metadata".into(), Value::Object(meta));
    doc.insert(
        "components".into(),
        Value::Array(sbom.components.iter().map(component_json).collect()),
    );
    doc.insert(
        "dependencies".into(),
        Value::Array(
            sbom.dependencies
                .iter()
                .map(|d| json!({"ref": d.from, "dependsOn": d.to}))
                .collect(),
        ),
    );
    // The serial number names the content: hash everything else, then insert it.
    let digest = Sha256::digest(json::to_bytes(&Value::Object(doc.clone())));
    doc.insert(
        "serialNumber".into(),
        json!(format!("urn:uuid:{}", uuid_from_digest(&digest))),
    );
    json::to_bytes(&Value::Object(doc))
}

fn component_json(c: &Component) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!("library"));
    o.insert("bom-ref".into(), json!(c.bom_ref));
    o.insert("name".into(), json!(c.name));
    if let Some(v) = &c.version {
        o.insert("version".into(), json!(v));
    }
    if let Some(p) = &c.purl {
        o.insert("purl".into(), json!(p.to_string()));
    }
    if !c.licenses.is_empty() {
        o.insert("licenses".into(), licenses_json(&c.licenses));
    }
    let mut props = Vec::new();
    if let Some(d) = &c.layer_digest {
        props.push(json!({"name": PROP_LAYER_DIGEST, "value": d}));
    }
    if let Some(owner) = &c.owned_by {
        props.push(json!({"name": PROP_OWNED_BY, "value": owner}));
    }
    for f in &c.files {
        props.push(json!({"name": PROP_FILE, "value": f}));
    }
    if !props.is_empty() {
        o.insert("properties".into(), Value::Array(props));
    }
    Value::Object(o)
}

/// A lone SPDX expression goes in `expression` (which must stand alone in
/// CycloneDX); anything else as license names, since `id` must be on the SPDX list.
fn licenses_json(licenses: &[String]) -> Value {
    if let [only] = licenses
        && [" AND ", " OR ", " WITH "]
            .iter()
            .any(|op| only.contains(op))
    {
        return json!([{"expression": only}]);
    }
    Value::Array(
        licenses
            .iter()
            .map(|l| json!({"license": {"name": l}}))
            .collect(),
    )
}

/// An RFC 4122 name-based UUID (version 5 layout, SHA-256 instead of SHA-1)
/// from the first 16 bytes of a digest.
pub(crate) fn uuid_from_digest(digest: &[u8]) -> String {
    let mut b = [0u8; 16];
    for (dst, src) in b.iter_mut().zip(digest) {
        *dst = *src;
    }
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
