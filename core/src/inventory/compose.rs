//! Turning what the analyzers found into an SBOM: one component per purl,
//! deterministic order, layer digests and file evidence kept.

use std::collections::BTreeMap;

use super::FoundPackage;
use crate::sbom::{Component, Sbom};

/// Build the SBOM of an image from the packages its analyzers found.
///
/// The same purl found at several places (a lock file and the installed
/// manifest, or two vendored copies) is one component listing every file; its
/// layer is the one of the first place found. Components are sorted by purl, so
/// the output does not depend on analyzer or file order.
pub fn compose(subject: Option<String>, found: Vec<FoundPackage>) -> Sbom {
    let mut by_purl: BTreeMap<String, Component> = BTreeMap::new();
    for pkg in found {
        let key = pkg.purl.to_string();
        let entry = by_purl.entry(key.clone()).or_insert_with(|| Component {
            bom_ref: key,
            name: pkg.name.clone(),
            version: Some(pkg.version.clone()),
            purl: Some(pkg.purl.clone()),
            layer_digest: pkg.layer_digest.clone(),
            files: Vec::new(),
            licenses: Vec::new(),
        });
        for f in pkg.files {
            if !entry.files.contains(&f) {
                entry.files.push(f);
            }
        }
        for l in pkg.licenses {
            if !entry.licenses.contains(&l) {
                entry.licenses.push(l);
            }
        }
    }
    let components = by_purl
        .into_values()
        .map(|mut c| {
            c.files.sort();
            c
        })
        .collect();
    Sbom {
        subject,
        components,
        dependencies: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sbom::Purl;

    fn found(purl: &str, file: &str, layer: &str) -> FoundPackage {
        let purl = Purl::parse(purl).expect("purl");
        FoundPackage {
            name: purl.name.clone(),
            version: purl.version.clone().unwrap_or_default(),
            purl,
            files: vec![file.to_string()],
            layer_digest: Some(layer.to_string()),
            licenses: vec!["MIT".into()],
        }
    }

    #[test]
    fn one_component_per_purl_in_purl_order() {
        let sbom = compose(
            Some("img".into()),
            vec![
                found(
                    "pkg:npm/qs@6.5.2",
                    "app/node_modules/qs/package.json",
                    "sha256:b",
                ),
                found(
                    "pkg:deb/debian/curl@7.88.1-10?distro=debian-12",
                    "var/lib/dpkg/status",
                    "sha256:a",
                ),
                found("pkg:npm/qs@6.5.2", "app/package-lock.json", "sha256:c"),
            ],
        );
        let refs: Vec<&str> = sbom.components.iter().map(|c| c.bom_ref.as_str()).collect();
        assert_eq!(
            refs,
            [
                "pkg:deb/debian/curl@7.88.1-10?distro=debian-12",
                "pkg:npm/qs@6.5.2"
            ]
        );
        let qs = &sbom.components[1];
        assert_eq!(
            qs.files,
            ["app/node_modules/qs/package.json", "app/package-lock.json"]
        );
        assert_eq!(qs.layer_digest.as_deref(), Some("sha256:b"));
        assert_eq!(qs.licenses, ["MIT"]);
        assert_eq!(sbom.subject.as_deref(), Some("img"));
    }

    #[test]
    fn order_of_input_does_not_change_the_output_order() {
        let a = found("pkg:pypi/requests@2.25.0", "x", "sha256:a");
        let b = found("pkg:pypi/urllib3@1.26.4", "y", "sha256:a");
        let one = compose(None, vec![a.clone(), b.clone()]);
        let two = compose(None, vec![b, a]);
        assert_eq!(one, two);
    }
}
