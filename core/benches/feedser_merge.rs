//! Feedser throughput on the whole sample, all nine sources (goal: > 20k records/s for
//! ingest + merge): parse alone, parse + merge, merge alone, and merge of the sample
//! replicated 20 times under fresh ids to check scaling.

#[path = "../tests/it/testdata.rs"]
mod testdata;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stella_core::feedser::merge::{Precedence, build};
use stella_core::feedser::sync::parse_documents;
use stella_core::feedser::{Source, SourceRecord};

/// A source and its documents as (name, bytes).
type SourceDocs = (Source, Vec<(String, Vec<u8>)>);

/// Every document of the sample (all nine sources) as (name, bytes), grouped by source.
fn documents() -> Vec<SourceDocs> {
    let root = testdata::dir().join("feeds-sample");
    let mut docs = Vec::new();
    for (folder, source, ext) in [
        ("osv-pypi", Source::Osv, "yaml"),
        ("osv-go", Source::Osv, "json"),
        ("osv-crates", Source::Osv, "json"),
        ("ghsa", Source::Ghsa, "json"),
        ("nvd", Source::Nvd, "json"),
        ("nvd-api-pages", Source::Nvd, "json"),
        ("debian-tracker", Source::Debian, "list"),
        ("debian-tracker", Source::Debian, "json"),
        ("alpine-secdb", Source::Alpine, "yaml"),
        ("rustsec-native", Source::Rustsec, "md"),
        ("npm-nodejs-wg", Source::NodejsWg, "json"),
    ] {
        let paths = testdata::files(&root.join(folder), &format!(".{ext}"));
        let mut group = Vec::new();
        for p in paths {
            if p.file_name().is_some_and(|n| n == "index.json") {
                continue;
            }
            let bytes = std::fs::read(&p).expect("readable sample file");
            let name = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
            group.push((name, bytes));
        }
        docs.push((source, group));
    }
    docs
}

/// Parses every document, each source's documents on every CPU (as `feeds sync` does).
fn ingest(docs: &[SourceDocs]) -> Vec<SourceRecord> {
    docs.iter()
        .flat_map(|(source, docs)| parse_documents(*source, docs))
        .flat_map(|r| r.unwrap_or_else(|e| panic!("{e}")).records)
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = documents();
    let records = ingest(&docs);
    let p = Precedence::default();
    let mut g = c.benchmark_group("feedser");
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("ingest_sample", |b| b.iter(|| ingest(&docs).len()));
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
