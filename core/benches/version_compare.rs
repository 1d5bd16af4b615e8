//! Parse and compare cost of the version schemes the matcher uses most, on
//! realistic strings (the matcher parses a component version once and compares
//! it with every event of every matching range).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use stella_core::version::{Scheme, compare, parse};

const CASES: &[(&str, Scheme, &str, &str)] = &[
    (
        "dpkg",
        Scheme::Dpkg,
        "2:1.20.11-1+deb11u6+b1",
        "2:1.20.11-1+deb11u10",
    ),
    (
        "pep440",
        Scheme::Pep440,
        "2.31.0rc1.post2.dev3+ubuntu1",
        "2.31.0",
    ),
    (
        "semver",
        Scheme::Semver,
        "0.0.0-20220906165146-f3363e06e74c",
        "1.19.0-0",
    ),
    ("maven", Scheme::Maven, "2.13.2.1", "2.15.0-rc1"),
];

fn bench(c: &mut Criterion) {
    for &(name, scheme, a, b) in CASES {
        c.bench_function(&format!("{name}/parse"), |bn| {
            bn.iter(|| parse(scheme, black_box(a)))
        });
        c.bench_function(&format!("{name}/compare_strings"), |bn| {
            bn.iter(|| compare(scheme, black_box(a), black_box(b)))
        });
        if let (Ok(pa), Ok(pb)) = (parse(scheme, a), parse(scheme, b)) {
            c.bench_function(&format!("{name}/compare_parsed"), |bn| {
                bn.iter(|| black_box(&pa).cmp(black_box(&pb)))
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
