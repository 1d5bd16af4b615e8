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
///
/// A language package whose files an OS package owns (pip's dist-info shipped by
/// `python3-pip`) stays a component of its own, with `owned_by` naming the OS
/// package: advisories differ between the two (a distro backports fixes), so
/// neither hides the other.
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
            owned_by: None,
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
    let owners = file_owners(&by_purl);
    let components = by_purl
        .into_values()
        .map(|mut c| {
            c.files.sort();
            if !is_os_package(&c) {
                c.owned_by = c.files.iter().find_map(|f| owners.get(f)).cloned();
            }
            c
        })
        .collect();
    Sbom {
        subject,
        components,
        dependencies: Vec::new(),
    }
}

/// OS package types: their database lists the files each package owns.
fn is_os_package(c: &Component) -> bool {
    c.purl
        .as_ref()
        .is_some_and(|p| matches!(p.ty.as_str(), "deb" | "apk" | "rpm"))
}

/// Owned file path -> `bom_ref` of the OS package that owns it (the first by purl
/// order when two claim the same file, as diverted files can be).
fn file_owners(by_purl: &BTreeMap<String, Component>) -> BTreeMap<String, String> {
    let mut owners = BTreeMap::new();
    for c in by_purl.values().filter(|c| is_os_package(c)) {
        for f in &c.files {
            owners.entry(f.clone()).or_insert_with(|| c.bom_ref.clone());
        }
    }
    owners
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
    fn language_packages_owned_by_an_os_package_say_so() {
        let mut pip_deb = found(
            "pkg:deb/debian/python3-pip@23.0.1%2Bdfsg-1?distro=debian-12",
            "var/lib/dpkg/status",
            "sha256:a",
        );
        pip_deb
            .files
            .push("usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA".to_string());
        let pip = found(
            "pkg:pypi/pip@23.0.1",
            "usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA",
            "sha256:a",
        );
        let requests = found(
            "pkg:pypi/requests@2.25.0",
            "usr/local/lib/python3.11/dist-packages/requests-2.25.0.dist-info/METADATA",
            "sha256:b",
        );
        let sbom = compose(None, vec![requests, pip, pip_deb]);
        let owner = |purl: &str| {
            sbom.components
                .iter()
                .find(|c| c.bom_ref == purl)
                .map(|c| c.owned_by.clone())
        };
        assert_eq!(
            owner("pkg:pypi/pip@23.0.1"),
            Some(Some(
                "pkg:deb/debian/python3-pip@23.0.1%2Bdfsg-1?distro=debian-12".to_string()
            ))
        );
        assert_eq!(owner("pkg:pypi/requests@2.25.0"), Some(None));
        assert_eq!(
            owner("pkg:deb/debian/python3-pip@23.0.1%2Bdfsg-1?distro=debian-12"),
            Some(None)
        );
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
