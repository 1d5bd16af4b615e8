//! Feedser merge throughput on the sample's OSV-format sources (goal: > 20k records/s
//! for ingest + merge): parse + merge of the 560 real records, merge alone, and merge of
//! the sample replicated 20 times under fresh ids (~11k records) to check scaling.

#[path = "../tests/shared_data/mod.rs"]
mod shared_data;

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stella_core::feedser::connectors::osv::parse;
use stella_core::feedser::merge::{Precedence, build};
use stella_core::feedser::{Source, SourceRecord};

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        panic!("{} missing", dir.display())
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// (source, document name, bytes, yaml) of every OSV-format document of the sample.
fn documents() -> Vec<(Source, String, Vec<u8>, bool)> {
    let root = shared_data::dir().join("feeds-sample");
    let mut docs = Vec::new();
    for (folder, source, ext) in [
        ("osv-pypi", Source::Osv, "yaml"),
        ("osv-go", Source::Osv, "json"),
        ("osv-crates", Source::Osv, "json"),
        ("ghsa", Source::Ghsa, "json"),
    ] {
        let mut paths = Vec::new();
        files(&root.join(folder), ext, &mut paths);
        for p in paths {
            let bytes = std::fs::read(&p).expect("readable sample file");
            docs.push((source, p.display().to_string(), bytes, ext == "yaml"));
        }
    }
    docs
}

fn ingest(docs: &[(Source, String, Vec<u8>, bool)]) -> Vec<SourceRecord> {
    docs.iter()
        .flat_map(|(s, d, b, y)| parse(*s, d, b, *y).expect("sample parses").records)
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = documents();
    let records = ingest(&docs);
    let p = Precedence::default();
    let mut g = c.benchmark_group("feedser");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("ingest_and_merge_sample", |b| {
        b.iter(|| build(&ingest(&docs), &p).len())
    });
    g.bench_function("merge_sample", |b| b.iter(|| build(&records, &p).len()));
    // The sample 20 times, each copy with its own ids, so clusters stay the same size.
    let big: Vec<SourceRecord> = (0..20)
        .flat_map(|k| {
            records.iter().map(move |r| {
                let mut r = r.clone();
                r.record.id = format!("{}-{k}", r.record.id);
                for a in &mut r.record.aliases {
                    *a = format!("{a}-{k}");
                }
                r
            })
        })
        .collect();
    g.throughput(Throughput::Elements(big.len() as u64));
    g.bench_function("merge_sample_x20", |b| b.iter(|| build(&big, &p).len()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
