//! In-process match of a 2,000-component SBOM against the DB built from the whole
//! advisory sample in `testdata/` (goal: under 20 ms warm).

#[path = "../tests/it/testdata.rs"]
mod testdata;

use std::collections::BTreeMap;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use stella_core::advisory_db::AdvisoryDb;
use stella_core::ecosystem::{Ecosystem, normalise_name};
use stella_core::import::{ImportLimits, discover, import};
use stella_core::matcher::match_sbom;
use stella_core::sbom::{Component, Purl, Sbom};

fn sample_db(path: &std::path::Path) -> AdvisoryDb {
    let s = testdata::dir();
    let inputs: Vec<PathBuf> = [
        "feeds-sample/osv-pypi",
        "feeds-sample/osv-go",
        "feeds-sample/osv-crates",
        "feeds-sample/ghsa",
        "oracle/derived-osv",
    ]
    .iter()
    .map(|p| s.join(p))
    .collect();
    let mut db = AdvisoryDb::open(path).expect("open bench DB");
    let sources = discover(&inputs).expect("sample present");
    let report = import(&mut db, &sources, &ImportLimits::default(), |_| {}).expect("import");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    db
}

/// Half the components are packages with advisories (so ranges are evaluated),
/// half are names the DB does not know (the common case in real images).
fn synthetic_sbom(db: &AdvisoryDb, n: usize) -> Sbom {
    let packages = db.packages().expect("packages");
    let mut components = Vec::with_capacity(n);
    for i in 0..n {
        let (eco, name) = if i % 2 == 0 && !packages.is_empty() {
            packages[(i * 7919) % packages.len()].clone()
        } else {
            ("pypi".to_string(), format!("unknown-package-{i}"))
        };
        let parts: Vec<&str> = eco.split('/').collect();
        let minor = i % 20;
        let mut qualifiers = BTreeMap::new();
        let (ty, namespace, pname, version) = match parts.as_slice() {
            ["deb", distro, release] => {
                qualifiers.insert("distro".into(), format!("{distro}-{release}"));
                (
                    "deb",
                    Some(distro.to_string()),
                    name.clone(),
                    format!("1.{minor}-1"),
                )
            }
            ["apk", _, release] => {
                qualifiers.insert("distro".into(), format!("alpine-{release}.0"));
                (
                    "apk",
                    Some("alpine".into()),
                    name.clone(),
                    format!("1.{minor}.0-r0"),
                )
            }
            ["maven"] => {
                let (g, a) = name.split_once(':').unwrap_or(("g", &name));
                (
                    "maven",
                    Some(g.to_string()),
                    a.to_string(),
                    format!("2.{minor}.0"),
                )
            }
            ["golang"] => {
                let (ns, n) = name.rsplit_once('/').unwrap_or(("", &name));
                (
                    "golang",
                    Some(ns.to_string()),
                    n.to_string(),
                    format!("v0.{minor}.0"),
                )
            }
            [ty, ..] => (*ty, None, name.clone(), format!("1.{minor}.0")),
            [] => ("pypi", None, name.clone(), "1.0.0".to_string()),
        };
        let purl = Purl {
            ty: ty.to_string(),
            namespace,
            name: pname.clone(),
            version: Some(version.clone()),
            qualifiers,
            subpath: None,
        };
        components.push(Component {
            bom_ref: format!("c{i}"),
            name: pname,
            version: Some(version),
            purl: Some(purl),
            ..Component::default()
        });
    }
    Sbom {
        components,
        ..Sbom::default()
    }
}

fn bench_match(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sample_db(&dir.path().join("bench.db"));
    let sbom = synthetic_sbom(&db, 2000);
    let warm = match_sbom(&sbom, &db).expect("match");
    eprintln!(
        "2000 components: {} findings, {} vulnerable components",
        warm.findings.len(),
        warm.stats.vulnerable
    );
    c.bench_function("match_sbom/2000_components_sample_db", |b| {
        b.iter(|| match_sbom(&sbom, &db).expect("match"))
    });
    // Breakdown: the DB lookups alone (SQL + decoding candidates), no evaluation.
    let keys: Vec<(String, String)> = sbom
        .components
        .iter()
        .filter_map(|c| {
            let p = c.purl.as_ref()?;
            let eco = Ecosystem::from_purl(p)?;
            Some((
                eco.key(),
                normalise_name(eco.kind, p.namespace.as_deref(), &p.name),
            ))
        })
        .collect();
    c.bench_function("match_sbom/2000_components_lookups_only", |b| {
        b.iter(|| {
            keys.iter()
                .map(|(k, n)| db.candidates(k, n).expect("candidates").len())
                .sum::<usize>()
        })
    });
}

criterion_group!(benches, bench_match);
criterion_main!(benches);
