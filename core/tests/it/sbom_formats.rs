//! CycloneDX and SPDX readers and writers on realistic documents, their error
//! paths, and writer determinism / round trips.

use proptest::prelude::*;
use stella_core::ecosystem::EcosystemKind;
use stella_core::sbom::{
    Component, Dependency, Limits, Purl, Sbom, SbomError, SbomFormat, cyclonedx, read_any, spdx,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/sbom/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ok<T>(r: Result<T, SbomError>) -> T {
    r.unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

fn by_name<'a>(s: &'a Sbom, name: &str) -> &'a Component {
    s.components
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no component {name}"))
}

fn purl_str(c: &Component) -> String {
    c.purl.as_ref().map(ToString::to_string).unwrap_or_default()
}

const SYFT_LAYER: &str = "sha256:1f3c7a9e5b2d4c6e8a0b1c3d5e7f9a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f";

#[test]
fn cyclonedx_14_syft_debian() {
    let s = ok(cyclonedx::read(
        &fixture("cyclonedx-1.4-syft-debian.json"),
        &Limits::default(),
    ));
    assert_eq!(
        s.subject.as_deref(),
        Some("debian@sha256:7b9c4e2a1f0d3c5b8a6e4d2c0b9a8f7e6d5c4b3a2918f7e6d5c4b3a29180f7e6")
    );
    assert_eq!(s.components.len(), 4);
    let bsd = by_name(&s, "bsdutils");
    assert_eq!(bsd.version.as_deref(), Some("1:2.38.1-5+deb12u1"));
    let purl = bsd.purl.as_ref().unwrap_or_else(|| panic!("no purl"));
    assert_eq!(purl.version.as_deref(), Some("1:2.38.1-5+deb12u1"));
    assert_eq!(
        purl.qualifiers.get("upstream").map(String::as_str),
        Some("util-linux")
    );
    assert_eq!(bsd.layer_digest.as_deref(), Some(SYFT_LAYER));
    assert_eq!(bsd.licenses, ["BSD-2-Clause", "GPL-2.0-or-later"]);
    let eco = bsd.ecosystem().unwrap_or_else(|| panic!("no ecosystem"));
    assert_eq!(eco.kind, EcosystemKind::Debian);
    assert_eq!(eco.release.as_deref(), Some("12"));
    // The OS component has neither bom-ref nor purl: its JSON path identifies it.
    let os = s
        .components
        .get(3)
        .unwrap_or_else(|| panic!("no 4th component"));
    assert_eq!(
        (os.bom_ref.as_str(), os.purl.is_none()),
        ("$.components[3]", true)
    );
    assert_eq!(s.dependencies.len(), 1);
    assert_eq!(s.dependencies[0].from, bsd.bom_ref);
    assert_eq!(s.dependencies[0].to, [by_name(&s, "libc6").bom_ref.clone()]);
}

#[test]
fn cyclonedx_15_trivy_nested_python() {
    let s = ok(cyclonedx::read(
        &fixture("cyclonedx-1.5-trivy-python.json"),
        &Limits::default(),
    ));
    assert_eq!(s.subject.as_deref(), Some("python:3.12-slim"));
    let names: Vec<&str> = s.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "openssl",
            "usr/local/lib/python3.12/site-packages",
            "Flask-Cors",
            "PyYAML"
        ]
    );
    let flask = by_name(&s, "Flask-Cors");
    assert_eq!(purl_str(flask), "pkg:pypi/flask-cors@3.0.10");
    assert_eq!(
        flask.layer_digest.as_deref(),
        Some("sha256:8a1e25ce7c4f75e372e9884f8f7b1bedcfe4a7a7d452eb4b0a1c7477c9a90345")
    );
    assert_eq!(flask.ecosystem().map(|e| e.kind), Some(EcosystemKind::PyPI));
    let openssl = by_name(&s, "openssl");
    assert_eq!(openssl.version.as_deref(), Some("3.0.11-1~deb12u2"));
    assert_eq!(
        openssl.layer_digest.as_deref(),
        Some("sha256:13808c22b207b066ef17e9d3c5e58b4a4e3e8a7c1b6d5f3e2a1c0b9d8e7f6a5b")
    );
    assert_eq!(s.dependencies.len(), 3);
    assert!(s.dependencies[2].to.is_empty());
    assert_eq!(
        s.dependencies[1].to,
        ["pkg:pypi/flask-cors@3.0.10", "pkg:pypi/pyyaml@5.3.1"]
    );
}

#[test]
fn cyclonedx_16_npm_maven_go() {
    let s = ok(cyclonedx::read(
        &fixture("cyclonedx-1.6-node-java-go.json"),
        &Limits::default(),
    ));
    assert_eq!(s.subject.as_deref(), Some("acme-shop:2.4.0"));
    let babel = by_name(&s, "core");
    let p = babel.purl.as_ref().unwrap_or_else(|| panic!("no purl"));
    assert_eq!(
        (p.namespace.as_deref(), p.name.as_str()),
        (Some("@babel"), "core")
    );
    assert_eq!(babel.files, ["/app/node_modules/@babel/core/package.json"]);
    assert_eq!(babel.licenses, ["MIT"]);
    let log4j = by_name(&s, "log4j-core");
    assert_eq!(log4j.licenses, ["Apache-2.0 OR MIT"]);
    assert_eq!(log4j.files.len(), 2);
    assert_eq!(
        log4j.layer_digest.as_deref(),
        Some("sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9")
    );
    assert_eq!(
        log4j.ecosystem().map(|e| e.kind),
        Some(EcosystemKind::Maven)
    );
    let go = by_name(&s, "github.com/Azure/go-autorest");
    let gp = go.purl.as_ref().unwrap_or_else(|| panic!("no purl"));
    assert_eq!(gp.namespace.as_deref(), Some("github.com/Azure"));
    assert_eq!(gp.version.as_deref(), Some("v14.2.0+incompatible"));
    assert_eq!(
        s.dependencies,
        [
            Dependency {
                from: "acme-shop".into(),
                to: vec![
                    "npm-babel-core".into(),
                    "maven-log4j-core".into(),
                    "go-autorest".into()
                ],
            },
            Dependency {
                from: "go-autorest".into(),
                to: vec!["go-x-net".into()]
            },
        ]
    );
}

#[test]
fn spdx_23_syft_debian() {
    let s = ok(spdx::read(
        &fixture("spdx-2.3-syft-debian.json"),
        &Limits::default(),
    ));
    assert_eq!(
        s.subject.as_deref(),
        Some("debian@sha256:7b9c4e2a1f0d3c5b8a6e4d2c0b9a8f7e6d5c4b3a2918f7e6d5c4b3a29180f7e6")
    );
    let names: Vec<&str> = s.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["login", "libpam0g", "urllib3"]);
    let login = by_name(&s, "login");
    assert_eq!(login.version.as_deref(), Some("1:4.13+dfsg1-1+b1"));
    assert_eq!(
        purl_str(login),
        "pkg:deb/debian/login@1:4.13%2Bdfsg1-1%2Bb1?arch=amd64&distro=debian-12&upstream=shadow%404.13%2Bdfsg1-1"
    );
    assert_eq!(login.licenses, ["GPL-2.0-only"]);
    assert_eq!(login.layer_digest.as_deref(), Some(SYFT_LAYER));
    assert_eq!(login.files, ["/bin/login"]);
    let pam = by_name(&s, "libpam0g");
    assert_eq!(pam.licenses, ["GPL-1.0-or-later", "BSD-3-Clause"]);
    assert_eq!(pam.files, ["/usr/lib/x86_64-linux-gnu/libpam.so.0.85.1"]);
    assert_eq!(
        s.dependencies,
        [
            Dependency {
                from: "SPDXRef-DocumentRoot-Image-debian".into(),
                to: vec![login.bom_ref.clone(), pam.bom_ref.clone()],
            },
            Dependency {
                from: login.bom_ref.clone(),
                to: vec![pam.bom_ref.clone(), by_name(&s, "urllib3").bom_ref.clone()],
            },
        ]
    );
}

#[test]
fn read_any_detects_format() {
    let l = Limits::default();
    for (f, want) in [
        ("cyclonedx-1.4-syft-debian.json", SbomFormat::CycloneDx),
        ("cyclonedx-1.5-trivy-python.json", SbomFormat::CycloneDx),
        ("cyclonedx-1.6-node-java-go.json", SbomFormat::CycloneDx),
        ("spdx-2.3-syft-debian.json", SbomFormat::Spdx),
    ] {
        let (fmt, s) = ok(read_any(&fixture(f), &l));
        assert_eq!(fmt, want, "{f}");
        assert!(!s.components.is_empty(), "{f}");
    }
    assert_eq!(
        read_any(br#"{"hello": 1}"#, &l),
        Err(SbomError::UnknownFormat)
    );
    assert_eq!(read_any(b"[1, 2]", &l), Err(SbomError::UnknownFormat));
}

fn err_text(r: Result<Sbom, SbomError>) -> String {
    match r {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e) => e.to_string(),
    }
}

/// The 1.6 fixture with one edit applied through serde_json.
fn edited(file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture(file)).unwrap_or_else(|e| panic!("{e}"));
    edit(&mut v);
    serde_json::to_vec(&v).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn errors_name_json_paths() {
    let l = Limits::default();
    let bad = edited("cyclonedx-1.6-node-java-go.json", |v| {
        v["components"][3]["purl"] = "pkg:golang/x@%zz".into();
    });
    let e = err_text(cyclonedx::read(&bad, &l));
    assert!(
        e.starts_with("$.components[3].purl: invalid package URL"),
        "{e}"
    );

    let nested = edited("cyclonedx-1.5-trivy-python.json", |v| {
        v["components"][1]["components"][1]["purl"] = "npm/no-scheme".into();
    });
    let e = err_text(cyclonedx::read(&nested, &l));
    assert!(
        e.starts_with("$.components[1].components[1].purl: invalid package URL"),
        "{e}"
    );

    let wrong_type = edited("cyclonedx-1.6-node-java-go.json", |v| {
        v["components"][0]["name"] = 42.into();
    });
    let r = cyclonedx::read(&wrong_type, &l);
    assert!(
        matches!(&r, Err(SbomError::Json { path, .. }) if path == "$.components[0].name"),
        "{r:?}"
    );

    let deps = edited("cyclonedx-1.6-node-java-go.json", |v| {
        v["dependencies"][1]["dependsOn"][0] = serde_json::json!({"ref": "x"});
    });
    let e = err_text(cyclonedx::read(&deps, &l));
    assert!(
        e.starts_with("$.dependencies[1].dependsOn[0]: expected a string"),
        "{e}"
    );

    let spdx_bad = edited("spdx-2.3-syft-debian.json", |v| {
        v["packages"][2]["externalRefs"][0]["referenceLocator"] = "pkg:pypi/".into();
    });
    let e = err_text(spdx::read(&spdx_bad, &l));
    assert!(
        e.starts_with("$.packages[2].externalRefs[0].referenceLocator: invalid package URL"),
        "{e}"
    );

    let version = edited("cyclonedx-1.6-node-java-go.json", |v| {
        v["specVersion"] = "1.3".into()
    });
    let e = err_text(cyclonedx::read(&version, &l));
    assert!(e.starts_with("$.specVersion: unsupported"), "{e}");

    let syntax = cyclonedx::read(br#"{"bomFormat": "CycloneDX",,}"#, &l);
    assert!(
        matches!(&syntax, Err(SbomError::Json { path, reason }) if path == "$" && reason.contains("line 1")),
        "{syntax:?}"
    );
}

#[test]
fn not_an_sbom_for_the_reader_asked() {
    let l = Limits::default();
    let e = err_text(cyclonedx::read(&fixture("spdx-2.3-syft-debian.json"), &l));
    assert!(e.starts_with("$.bomFormat: missing"), "{e}");
    let e = err_text(spdx::read(&fixture("cyclonedx-1.4-syft-debian.json"), &l));
    assert!(e.starts_with("$.spdxVersion: missing"), "{e}");
    let r = spdx::read(b"\"just a string\"", &l);
    assert!(
        matches!(&r, Err(SbomError::Json { path, .. }) if path == "$"),
        "{r:?}"
    );
}

#[test]
fn limits_are_enforced() {
    let def = Limits::default();
    // Depth: 100 nested arrays inside a property value.
    let deep = edited("cyclonedx-1.6-node-java-go.json", |v| {
        let mut x = serde_json::json!(1);
        for _ in 0..100 {
            x = serde_json::json!([x]);
        }
        v["components"][0]["properties"] = x;
    });
    assert_eq!(
        cyclonedx::read(&deep, &def),
        Err(SbomError::TooDeep { max: def.max_depth })
    );
    assert_eq!(
        read_any(&deep, &def),
        Err(SbomError::TooDeep { max: def.max_depth })
    );
    // Brackets inside strings do not count.
    let in_string = edited("cyclonedx-1.6-node-java-go.json", |v| {
        v["components"][0]["description"] = "[".repeat(500).into();
    });
    assert!(cyclonedx::read(&in_string, &def).is_ok());

    let few = Limits {
        max_components: 3,
        ..def
    };
    let cdx = fixture("cyclonedx-1.5-trivy-python.json");
    assert_eq!(
        cyclonedx::read(&cdx, &few),
        Err(SbomError::TooManyComponents { max: 3 })
    );
    let four = Limits {
        max_components: 4,
        ..def
    };
    assert!(
        cyclonedx::read(&cdx, &four).is_ok(),
        "nested components counted once"
    );
    let spdx_doc = fixture("spdx-2.3-syft-debian.json");
    let two = Limits {
        max_components: 2,
        ..def
    };
    assert_eq!(
        spdx::read(&spdx_doc, &two),
        Err(SbomError::TooManyComponents { max: 2 })
    );

    let small = Limits {
        max_bytes: 1000,
        ..def
    };
    assert_eq!(
        read_any(&cdx, &small),
        Err(SbomError::TooLarge {
            bytes: cdx.len(),
            max: 1000
        })
    );
}

#[test]
fn writers_are_deterministic_and_round_trip() {
    let l = Limits::default();
    for f in [
        "cyclonedx-1.4-syft-debian.json",
        "cyclonedx-1.5-trivy-python.json",
        "cyclonedx-1.6-node-java-go.json",
        "spdx-2.3-syft-debian.json",
    ] {
        let (_, s) = ok(read_any(&fixture(f), &l));
        for fmt in [SbomFormat::CycloneDx, SbomFormat::Spdx] {
            let a = fmt.write(&s);
            assert_eq!(a, fmt.write(&s.clone()), "{f} {fmt:?}");
            let (got_fmt, back) = ok(read_any(&a, &l));
            assert_eq!(got_fmt, fmt);
            if fmt == SbomFormat::CycloneDx {
                assert_eq!(back, s, "{f} via CycloneDX");
            } else {
                // SPDX renames bom-refs that are not valid SPDXIDs; the rest survives.
                assert_eq!(back.subject, s.subject, "{f}");
                let key = |x: &Sbom| {
                    x.components
                        .iter()
                        .map(|c| {
                            (
                                c.name.clone(),
                                c.version.clone(),
                                c.purl.clone(),
                                c.layer_digest.clone(),
                                c.files.clone(),
                            )
                        })
                        .collect::<Vec<_>>()
                };
                assert_eq!(key(&back), key(&s), "{f} via SPDX");
            }
            assert_eq!(
                fmt.write(&back),
                a,
                "{f} {fmt:?}: write(read(write(s))) differs"
            );
        }
    }
}

#[test]
fn writer_output_shape() {
    let (_, s) = ok(read_any(
        &fixture("cyclonedx-1.6-node-java-go.json"),
        &Limits::default(),
    ));
    let cdx: serde_json::Value =
        serde_json::from_slice(&cyclonedx::write(&s)).unwrap_or_else(|e| panic!("{e}"));
    let serial = cdx["serialNumber"].as_str().unwrap_or_default();
    assert!(
        serial.starts_with("urn:uuid:") && serial.len() == 45,
        "{serial}"
    );
    assert_eq!(&serial[23..24], "5", "{serial}");
    assert_eq!(cdx["specVersion"], "1.6");
    assert!(cdx["metadata"].get("timestamp").is_none());
    let mut other = s.clone();
    other.components.pop();
    let cdx2: serde_json::Value =
        serde_json::from_slice(&cyclonedx::write(&other)).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        cdx2["serialNumber"], cdx["serialNumber"],
        "serial follows content"
    );

    let sp: serde_json::Value =
        serde_json::from_slice(&spdx::write(&s)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sp["creationInfo"]["created"], spdx::FIXED_CREATED);
    assert_eq!(sp["packages"][0]["SPDXID"], "SPDXRef-DocumentRoot");
    assert_eq!(sp["relationships"][0]["relationshipType"], "DESCRIBES");
    let ns = sp["documentNamespace"].as_str().unwrap_or_default();
    assert!(ns.starts_with("https://"), "{ns}");
    for p in sp["packages"].as_array().into_iter().flatten() {
        let id = p["SPDXID"].as_str().unwrap_or_default();
        let rest = id.strip_prefix("SPDXRef-").unwrap_or_default();
        assert!(
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
            "{id}"
        );
    }
}

const PURLS: &[&str] = &[
    "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12",
    "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.15?distro=ubuntu-22.04",
    "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=3.19.1",
    "pkg:pypi/Django_Rest@3.14.0",
    "pkg:npm/%40types/node@20.11.5",
    "pkg:maven/org.yaml/snakeyaml@1.33?type=jar",
    "pkg:golang/github.com/Azure/go-autorest@v14.2.0+incompatible#autorest/azure",
    "pkg:generic/weird%20name@1.0%2F2?download_url=https://x.invalid/a%3Fb",
];

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._:/@+~()-]{1,16}|\\PC{1,8}"
}

/// Licenses as the SPDX model keeps them: trimmed, distinct, not "no information".
fn license() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.+-]{1,12}( (AND|OR|WITH) [A-Za-z0-9.+-]{1,12})?"
        .prop_filter("placeholder", |l| l != "NONE" && l != "NOASSERTION")
}

fn sbom_strategy() -> impl Strategy<Value = Sbom> {
    let component = (
        text(),
        proptest::option::of(text()),
        proptest::option::of(proptest::sample::select(PURLS)),
        proptest::option::of("sha256:[0-9a-f]{64}"),
        proptest::collection::vec(text(), 0..3),
        proptest::collection::btree_set(license(), 0..3),
        proptest::option::of(0usize..6),
    );
    (
        proptest::option::of(text()),
        proptest::collection::vec(component, 0..6),
        proptest::collection::vec(
            (
                any::<prop::sample::Index>(),
                proptest::collection::btree_set(0usize..6, 1..4),
            ),
            0..4,
        ),
    )
        .prop_map(|(subject, comps, deps)| {
            let components: Vec<Component> = comps
                .into_iter()
                .enumerate()
                .map(
                    |(i, (name, version, purl, layer, files, lics, owner))| Component {
                        bom_ref: format!("SPDXRef-c{i}"),
                        name,
                        version,
                        purl: purl.and_then(|p| Purl::parse(p).ok()),
                        layer_digest: layer,
                        files,
                        licenses: lics.into_iter().collect(),
                        owned_by: owner.map(|o| format!("SPDXRef-c{o}")),
                    },
                )
                .collect();
            let mut dependencies: Vec<Dependency> = Vec::new();
            if !components.is_empty() {
                for (from, tos) in deps {
                    let from = format!("SPDXRef-c{}", from.index(components.len()));
                    if dependencies.iter().any(|d| d.from == from) {
                        continue;
                    }
                    let to = tos.into_iter().map(|t| format!("SPDXRef-c{t}")).collect();
                    dependencies.push(Dependency { from, to });
                }
            }
            Sbom {
                subject,
                components,
                dependencies,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn cyclonedx_read_write_round_trip(s in sbom_strategy()) {
        let bytes = cyclonedx::write(&s);
        prop_assert_eq!(&bytes, &cyclonedx::write(&s));
        let back = cyclonedx::read(&bytes, &Limits::default());
        prop_assert_eq!(back.as_ref().ok(), Some(&s), "{:?}", back.as_ref().err());
    }

    #[test]
    fn spdx_read_write_round_trip(s in sbom_strategy()) {
        let bytes = spdx::write(&s);
        prop_assert_eq!(&bytes, &spdx::write(&s));
        let back = spdx::read(&bytes, &Limits::default());
        prop_assert_eq!(back.as_ref().ok(), Some(&s), "{:?}", back.as_ref().err());
    }

    #[test]
    fn readers_never_panic_on_mutated_fixtures(pos in 0usize..4000, byte in any::<u8>(), which in 0usize..4) {
        let files = [
            "cyclonedx-1.4-syft-debian.json",
            "cyclonedx-1.5-trivy-python.json",
            "cyclonedx-1.6-node-java-go.json",
            "spdx-2.3-syft-debian.json",
        ];
        let mut doc = fixture(files[which]);
        let len = doc.len();
        if let Some(b) = doc.get_mut(pos % len) {
            *b = byte;
        }
        let _ = read_any(&doc, &Limits::default());
        let _ = cyclonedx::read(&doc, &Limits::default());
        let _ = spdx::read(&doc, &Limits::default());
    }
}
