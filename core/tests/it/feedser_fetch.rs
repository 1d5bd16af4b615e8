//! Feedser fetching over the real sample: directories, files and archives built from
//! sample files, a real HTTP server on 127.0.0.1 (conditional requests, retries, rate
//! limit, body limit, NVD API paging and resume), and the feed config file.

use crate::testdata;

use crate::loopback_http::{Reply, Server};

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpListener;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use stella_core::feedser::Source;
use stella_core::feedser::config::{ConfigError, FeedConfig, SAMPLE_FEEDS, parse_interval};
use stella_core::feedser::connectors::nvd;
use stella_core::feedser::fetch::http::HttpClient;
use stella_core::feedser::fetch::nvd_api::{NvdCursor, NvdWindow};
use stella_core::feedser::fetch::{
    FetchCursor, FetchError, FetchOptions, FetchOutcome, Filter, Item, Location, LocationKind,
    fetch, fetch_with_client, sha256_hex,
};

fn sample() -> PathBuf {
    testdata::dir().join("feeds-sample")
}

/// Runs a fetch, collecting every item and the last checkpoint the callback saw.
fn run(
    location: &Location,
    options: &FetchOptions,
    previous: &FetchCursor,
) -> Result<(Vec<Item>, FetchOutcome), FetchError> {
    let mut items = Vec::new();
    let outcome = fetch(location, options, previous, &mut |item, _| {
        items.push(item);
        ControlFlow::Continue(())
    })?;
    Ok((items, outcome))
}

fn changed(items: &[Item]) -> Vec<&str> {
    items
        .iter()
        .filter(|i| matches!(i, Item::Changed(_)))
        .map(Item::name)
        .collect()
}
fn unchanged(items: &[Item]) -> Vec<&str> {
    items
        .iter()
        .filter(|i| matches!(i, Item::Unchanged(_)))
        .map(Item::name)
        .collect()
}
fn removed(items: &[Item]) -> Vec<&str> {
    items
        .iter()
        .filter(|i| matches!(i, Item::Removed(_)))
        .map(Item::name)
        .collect()
}

/// Every regular file under `dir` whose name ends with `suffix`, relative, sorted.
fn files_with(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(root, &p, suffix, out);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, suffix, &mut out);
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

fn local(path: &Path) -> Location {
    Location::Path {
        path: path.to_path_buf(),
        kind: LocationKind::Auto,
    }
}

#[test]
fn directory_of_the_real_sample_then_unchanged_changed_removed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("osv-pypi");
    copy_dir(&sample().join("osv-pypi"), &dir);
    let options = FetchOptions::for_source(Source::Osv);
    let expected: Vec<String> = files_with(&dir, ".yaml")
        .iter()
        .map(|p| format!("osv-pypi/{}", p.to_string_lossy()))
        .collect();
    assert!(expected.len() >= 100, "sample has PyPA records");

    let (items, first) = run(&local(&dir), &options, &FetchCursor::default()).expect("fetch");
    assert_eq!(
        changed(&items),
        expected,
        "every record, sorted, named from the folder"
    );
    assert!(first.complete);
    assert_eq!(first.cursor.documents.len(), expected.len());
    for item in &items {
        let Item::Changed(doc) = item else {
            panic!("first run: {item:?}")
        };
        let path = dir.join(doc.name.trim_start_matches("osv-pypi/"));
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(doc.bytes, bytes);
        assert_eq!(doc.sha256, sha256_hex(&bytes));
    }

    // The cursor survives its JSON form.
    let cursor = FetchCursor::from_json(&first.cursor.to_json()).expect("cursor json");
    assert_eq!(cursor, first.cursor);
    let (items, second) = run(&local(&dir), &options, &cursor).expect("fetch");
    assert!(changed(&items).is_empty());
    assert_eq!(unchanged(&items).len(), expected.len());
    assert_eq!(second.cursor, first.cursor);

    // Rewrite one record, delete another.
    let edited = &expected[3];
    let gone = &expected[10];
    let edited_path = dir.join(edited.trim_start_matches("osv-pypi/"));
    let mut text = std::fs::read_to_string(&edited_path).expect("read");
    text.push_str("\n# edited\n");
    std::fs::write(&edited_path, text).expect("write");
    std::fs::remove_file(dir.join(gone.trim_start_matches("osv-pypi/"))).expect("rm");
    let (items, third) = run(&local(&dir), &options, &second.cursor).expect("fetch");
    assert_eq!(changed(&items), vec![edited.as_str()]);
    assert_eq!(removed(&items), vec![gone.as_str()]);
    assert_eq!(unchanged(&items).len(), expected.len() - 2);
    assert!(!third.cursor.documents.contains_key(gone));
    assert_ne!(
        third.cursor.documents.get(edited),
        first.cursor.documents.get(edited)
    );
}

#[test]
fn source_filters_hidden_files_and_symlinked_directories() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wg");
    copy_dir(&sample().join("npm-nodejs-wg"), &dir);
    std::fs::write(dir.join("index.json"), b"{}").expect("write");
    std::fs::write(dir.join(".hidden.json"), b"{}").expect("write");
    std::fs::create_dir(dir.join(".git")).expect("mkdir");
    std::fs::write(dir.join(".git/x.json"), b"{}").expect("write");
    std::fs::write(dir.join("notes.txt"), b"x").expect("write");
    // A symlinked directory (here a loop back to the root) is not followed.
    std::os::unix::fs::symlink(&dir, dir.join("loop")).expect("symlink");
    let options = FetchOptions::for_source(Source::NodejsWg);
    let (items, outcome) = run(&local(&dir), &options, &FetchCursor::default()).expect("fetch");
    let names = changed(&items);
    let expected = files_with(&sample().join("npm-nodejs-wg"), ".json")
        .into_iter()
        .filter(|p| p.to_string_lossy() != "index.json")
        .count();
    assert_eq!(names.len(), expected);
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("wg/") && n.ends_with(".json"))
    );
    assert!(
        !names
            .iter()
            .any(|n| n.contains("index.json") || n.contains("/."))
    );
    assert!(!names.iter().any(|n| n.contains("loop")));
    assert!(outcome.stats.filtered >= 5);

    // Per-source defaults.
    let debian = Filter::for_source(Source::Debian);
    assert!(debian.accepts("debian-tracker/DSA.list") && debian.accepts("x/DLA.list"));
    assert!(debian.accepts("t/tracker-json-example.json") && !debian.accepts("x/README.md"));
    let rustsec = Filter::for_source(Source::Rustsec);
    assert!(rustsec.accepts("rustsec-native/abc/RUSTSEC-2020-0001.md"));
    assert!(!rustsec.accepts("rustsec-native/abc/RUSTSEC-2020-0001.json"));
    assert!(Filter::for_source(Source::Alpine).accepts("alpine-secdb/v3.3/main.yaml"));
}

#[test]
fn single_file_and_debian_folder() {
    let file = sample().join("nvd/CVE-2022-23648.json");
    let (items, outcome) = run(
        &local(&file),
        &FetchOptions::for_source(Source::Nvd),
        &FetchCursor::default(),
    )
    .expect("fetch");
    assert_eq!(changed(&items), vec!["CVE-2022-23648.json"]);
    assert!(outcome.complete);
    // The document reads as the connector expects.
    let Some(Item::Changed(doc)) = items.first() else {
        panic!("no document")
    };
    let parsed = nvd::parse(&doc.name, &doc.bytes).expect("nvd parse");
    assert_eq!(parsed.records.len(), 1);

    let (items, _) = run(
        &local(&sample().join("debian-tracker")),
        &FetchOptions::for_source(Source::Debian),
        &FetchCursor::default(),
    )
    .expect("fetch");
    assert_eq!(
        changed(&items),
        vec![
            "debian-tracker/DLA.list",
            "debian-tracker/DSA.list",
            "debian-tracker/tracker-json-example.json"
        ]
    );
}

#[test]
fn documents_over_the_limit_are_refused() {
    let mut options = FetchOptions::for_source(Source::Nvd);
    options.max_document_bytes = 100;
    let err = run(
        &local(&sample().join("nvd")),
        &options,
        &FetchCursor::default(),
    )
    .expect_err("too large");
    assert!(
        matches!(err, FetchError::TooLarge { limit: 100, .. }),
        "{err}"
    );
}

/// The sample's Go records, (name, bytes), sorted.
fn go_records() -> Vec<(String, Vec<u8>)> {
    let dir = sample().join("osv-go");
    files_with(&dir, ".json")
        .into_iter()
        .take(40)
        .map(|p| {
            let bytes = std::fs::read(dir.join(&p)).expect("read");
            (p.to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

fn build_zip(path: &Path, entries: &[(String, Vec<u8>)]) {
    let file = std::fs::File::create(path).expect("create");
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.add_directory("sub/", opts).expect("dir");
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), opts).expect("start");
        zip.write_all(bytes).expect("write");
    }
    zip.start_file(".hidden.json", opts).expect("start");
    zip.write_all(b"{}").expect("write");
    zip.finish().expect("finish");
}

fn tar_bytes(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, format!("./vulns/{name}"), bytes.as_slice())
            .expect("append");
    }
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_size(0);
    dir.set_mode(0o755);
    builder
        .append_data(&mut dir, "vulns/empty/", std::io::empty())
        .expect("dir");
    builder.into_inner().expect("tar")
}

fn build_archive(path: &Path, entries: &[(String, Vec<u8>)]) {
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    if name.ends_with(".zip") {
        return build_zip(path, entries);
    }
    let tar = tar_bytes(entries);
    let bytes = if name.ends_with(".tar.gz") {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&tar).expect("gz");
        enc.finish().expect("gz")
    } else if name.ends_with(".tar.zst") {
        zstd::encode_all(tar.as_slice(), 3).expect("zstd")
    } else {
        tar
    };
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn archives_zip_tar_gz_zst_entry_by_entry_with_cursor() {
    let records = go_records();
    assert_eq!(records.len(), 40);
    for archive in ["all.zip", "all.tar", "all.tar.gz", "all.tar.zst"] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join(archive);
        build_archive(&path, &records);
        let prefix = if archive.ends_with(".zip") {
            format!("{archive}!")
        } else {
            format!("{archive}!vulns/")
        };
        let options = FetchOptions::for_source(Source::Osv);
        let (items, first) = run(&local(&path), &options, &FetchCursor::default()).expect("fetch");
        let expected: Vec<String> = records
            .iter()
            .map(|(n, _)| format!("{prefix}{n}"))
            .collect();
        assert_eq!(changed(&items), expected, "{archive}");
        for (item, (_, bytes)) in items.iter().zip(&records) {
            let Item::Changed(doc) = item else {
                panic!("{item:?}")
            };
            assert_eq!(&doc.bytes, bytes, "{archive} {}", doc.name);
        }
        // The same archive again: all Unchanged.
        let (items, second) = run(&local(&path), &options, &first.cursor).expect("fetch");
        assert_eq!(unchanged(&items).len(), records.len(), "{archive}");
        assert!(changed(&items).is_empty() && removed(&items).is_empty());

        // One entry edited, one gone.
        let mut next = records.clone();
        next[5].1.extend_from_slice(b"\n");
        let gone = next.remove(20).0;
        build_archive(&path, &next);
        let (items, _) = run(&local(&path), &options, &second.cursor).expect("fetch");
        assert_eq!(changed(&items), vec![format!("{prefix}{}", records[5].0)]);
        assert_eq!(removed(&items), vec![format!("{prefix}{gone}")]);
        assert_eq!(unchanged(&items).len(), records.len() - 2);
    }
}

#[test]
fn a_stopped_fetch_resumes_from_its_checkpoint() {
    let records = go_records();
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("all.zip");
    build_zip(&path, &records);
    let options = FetchOptions::for_source(Source::Osv);
    // A "crash" after the second batch of 7: the callback stops; the caller kept the
    // checkpoint of its last committed batch.
    let mut saved = FetchCursor::default();
    let mut handed = 0;
    let outcome = fetch(
        &local(&path),
        &options,
        &FetchCursor::default(),
        &mut |_, cp| {
            handed += 1;
            if handed % 7 == 0 {
                saved = cp.clone();
            }
            if handed == 17 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .expect("fetch");
    assert!(!outcome.complete);
    assert_eq!(saved.documents.len(), 14);
    let (items, done) = run(&local(&path), &options, &saved).expect("resume");
    assert_eq!(
        unchanged(&items).len(),
        14,
        "committed batches are not parsed again"
    );
    assert_eq!(changed(&items).len(), records.len() - 14);
    assert!(removed(&items).is_empty());
    assert!(done.complete);
    assert_eq!(done.cursor.documents.len(), records.len());
}

fn http_options(source: Source) -> FetchOptions {
    let mut options = FetchOptions::for_source(source);
    options.http.timeout = Duration::from_secs(10);
    options.http.backoff_base = Duration::from_millis(20);
    options.http.retries = 3;
    options
}

#[test]
fn http_single_document_with_etag_and_last_modified() {
    let body = std::fs::read(sample().join("ghsa")).ok();
    assert!(body.is_none(), "a directory is not a body");
    let file = files_with(&sample().join("ghsa"), ".json")
        .into_iter()
        .next()
        .expect("a GHSA record");
    let bytes = std::fs::read(sample().join("ghsa").join(&file)).expect("read");
    let served = bytes.clone();
    let server = Server::start(move |req, _| {
        if req.header("if-none-match") == Some("\"v1\"") {
            return Reply::status(304);
        }
        Reply::ok(served.clone())
            .with("ETag", "\"v1\"")
            .with("Content-Type", "application/json")
    });
    let url = server.url("/ghsa/record.json");
    let location = Location::Http { url: url.clone() };
    let options = http_options(Source::Ghsa);
    let (items, first) = run(&location, &options, &FetchCursor::default()).expect("fetch");
    assert_eq!(changed(&items), vec![url.as_str()]);
    let Some(Item::Changed(doc)) = items.first() else {
        panic!("no doc")
    };
    assert_eq!(doc.bytes, bytes);
    assert_eq!(
        first.cursor.http.get(&url).and_then(|v| v.etag.as_deref()),
        Some("\"v1\"")
    );
    let (items, second) = run(&location, &options, &first.cursor).expect("fetch");
    assert_eq!(unchanged(&items), vec![url.as_str()]);
    assert!(changed(&items).is_empty() && removed(&items).is_empty());
    assert_eq!(second.cursor, first.cursor);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].header("if-none-match"), None);
    assert_eq!(reqs[1].header("if-none-match"), Some("\"v1\""));

    // Last-Modified only; a new body is Changed and carries the new validator.
    let lm = "Wed, 21 Oct 2026 07:28:00 GMT";
    let version = Arc::new(AtomicUsize::new(1));
    let v2 = version.clone();
    let server = Server::start(move |req, _| {
        let v = v2.load(Ordering::SeqCst);
        let stamp = format!("Wed, 2{v} Oct 2026 07:28:00 GMT");
        if req.header("if-modified-since") == Some(stamp.as_str()) {
            return Reply::status(304);
        }
        Reply::ok(format!("{{\"v\":{v}}}").into_bytes()).with("Last-Modified", &stamp)
    });
    let url = server.url("/doc.json");
    let location = Location::Http { url: url.clone() };
    let (_, first) = run(&location, &options, &FetchCursor::default()).expect("fetch");
    assert_eq!(
        first
            .cursor
            .http
            .get(&url)
            .and_then(|v| v.last_modified.as_deref()),
        Some(lm)
    );
    let (items, _) = run(&location, &options, &first.cursor).expect("fetch");
    assert_eq!(unchanged(&items).len(), 1);
    version.store(2, Ordering::SeqCst);
    let (items, third) = run(&location, &options, &first.cursor).expect("fetch");
    assert_eq!(changed(&items), vec![url.as_str()]);
    assert_ne!(third.cursor.documents, first.cursor.documents);
}

#[test]
fn http_archive_is_read_entry_by_entry_and_304_keeps_all() {
    let records = go_records();
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("all.zip");
    build_zip(&path, &records);
    let zip = std::fs::read(&path).expect("read");
    let server = Server::start(move |req, _| {
        if req.header("if-none-match") == Some("\"z\"") {
            return Reply::status(304);
        }
        // Served as a generic type: the magic bytes tell it is a zip.
        Reply::ok(zip.clone())
            .with("ETag", "\"z\"")
            .with("Content-Type", "application/octet-stream")
    });
    let url = server.url("/osv/all.zip");
    let location = Location::Http { url: url.clone() };
    let options = http_options(Source::Osv);
    let (items, first) = run(&location, &options, &FetchCursor::default()).expect("fetch");
    let expected: Vec<String> = records.iter().map(|(n, _)| format!("{url}!{n}")).collect();
    assert_eq!(changed(&items), expected);
    let (items, _) = run(&location, &options, &first.cursor).expect("fetch");
    assert_eq!(unchanged(&items), expected);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn http_retries_503_honouring_retry_after_and_429() {
    let server = Server::start(|_, n| {
        if n == 0 {
            Reply::status(503).with("Retry-After", "1")
        } else {
            Reply::ok(b"{\"ok\":true}".to_vec())
        }
    });
    let location = Location::Http {
        url: server.url("/x.json"),
    };
    let (items, outcome) = run(
        &location,
        &http_options(Source::Osv),
        &FetchCursor::default(),
    )
    .expect("fetch");
    assert_eq!(changed(&items).len(), 1);
    assert_eq!(outcome.stats.requests, 2);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at - reqs[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After honoured: {gap:?}"
    );

    let server = Server::start(|_, n| {
        if n < 2 {
            Reply::status(429)
        } else {
            Reply::ok(b"{}".to_vec())
        }
    });
    let location = Location::Http {
        url: server.url("/y.json"),
    };
    let (items, _) = run(
        &location,
        &http_options(Source::Osv),
        &FetchCursor::default(),
    )
    .expect("fetch");
    assert_eq!(changed(&items).len(), 1);
    assert_eq!(server.requests().len(), 3);

    // Always failing: retries then a clear error; a 404 is not retried.
    let server = Server::start(|req, _| {
        if req.target.starts_with("/missing") {
            Reply::status(404)
        } else {
            Reply::status(502)
        }
    });
    let mut options = http_options(Source::Osv);
    options.http.retries = 2;
    let err = run(
        &Location::Http {
            url: server.url("/z.json"),
        },
        &options,
        &FetchCursor::default(),
    )
    .expect_err("fails");
    assert!(matches!(err, FetchError::Http { .. }), "{err}");
    assert!(err.to_string().contains("502"), "{err}");
    assert_eq!(server.requests().len(), 3);
    let err = run(
        &Location::Http {
            url: server.url("/missing.json"),
        },
        &options,
        &FetchCursor::default(),
    )
    .expect_err("404");
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn http_body_over_the_limit_is_refused() {
    let server = Server::start(|_, _| Reply::ok(vec![b'x'; 5000]));
    let mut options = http_options(Source::Osv);
    options.http.max_body_bytes = 1000;
    let err = run(
        &Location::Http {
            url: server.url("/big.json"),
        },
        &options,
        &FetchCursor::default(),
    )
    .expect_err("too large");
    assert!(
        matches!(err, FetchError::TooLarge { limit: 1000, .. }),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1, "not retried");
}

#[test]
fn http_unreachable_port_is_a_transport_error_after_retries() {
    // A port bound then released: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let mut options = http_options(Source::Osv);
    options.http.retries = 1;
    let err = run(
        &Location::Http {
            url: format!("http://{addr}/x.json"),
        },
        &options,
        &FetchCursor::default(),
    )
    .expect_err("refused");
    assert!(err.to_string().contains("after 2 attempts"), "{err}");
}

/// The real API page subset, split by the server into pages of `per_page`.
fn nvd_server(per_page: usize, fail_at: Arc<AtomicUsize>) -> (Server, BTreeSet<String>) {
    let text = std::fs::read(sample().join("nvd-api-pages/osvdev-page-subset.json")).expect("read");
    let page: serde_json::Value = serde_json::from_slice(&text).expect("json");
    let vulns = page["vulnerabilities"].as_array().expect("array").clone();
    let ids: BTreeSet<String> = vulns
        .iter()
        .map(|v| v["cve"]["id"].as_str().expect("id").to_owned())
        .collect();
    let server = Server::start(move |req, _| {
        let start: usize = req
            .query("startIndex")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if fail_at.load(Ordering::SeqCst) == start {
            return Reply::status(500);
        }
        let asked: usize = req
            .query("resultsPerPage")
            .and_then(|s| s.parse().ok())
            .unwrap_or(2000);
        let n = asked.min(per_page);
        // A later window (lastModStartDate set) has no changes in this fixture.
        let slice: Vec<serde_json::Value> = if req.query("lastModStartDate").is_some() {
            Vec::new()
        } else {
            vulns.iter().skip(start).take(n).cloned().collect()
        };
        let total = if req.query("lastModStartDate").is_some() {
            0
        } else {
            vulns.len()
        };
        let body = serde_json::json!({
            "resultsPerPage": slice.len(),
            "startIndex": start,
            "totalResults": total,
            "format": "NVD_CVE",
            "version": "2.0",
            "timestamp": "2026-01-29T23:19:29.408",
            "vulnerabilities": slice,
        });
        Reply::ok(serde_json::to_vec(&body).expect("json")).with("Content-Type", "application/json")
    });
    (server, ids)
}

fn cve_ids(items: &[Item]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for item in items {
        if let Item::Changed(doc) = item {
            let parsed = nvd::parse_document(&doc.name, &doc.bytes).expect("page parses");
            assert!(parsed.cursor.is_some(), "an API page");
            ids.extend(parsed.parsed.records.into_iter().map(|r| r.record.id));
        }
    }
    ids
}

fn nvd_options(now: chrono::DateTime<chrono::Utc>) -> FetchOptions {
    let mut options = http_options(Source::Nvd);
    options.nvd.now = Some(now);
    options.http.retries = 0;
    options
}

#[test]
fn nvd_api_pages_rate_limit_and_incremental_windows() {
    let never = Arc::new(AtomicUsize::new(usize::MAX));
    let (server, ids) = nvd_server(3, never);
    assert_eq!(ids.len(), 7);
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .expect("date")
        .with_timezone(&chrono::Utc);
    let mut options = nvd_options(now);
    options.http.min_interval = Duration::from_millis(250);
    let location = Location::NvdApi {
        base_url: server.url("/rest/json/cves/2.0"),
    };
    let (items, first) = run(&location, &options, &FetchCursor::default()).expect("fetch");
    assert_eq!(items.len(), 3, "pages at 0, 3, 6");
    assert_eq!(cve_ids(&items), ids);
    let reqs = server.requests();
    let starts: Vec<String> = reqs.iter().filter_map(|r| r.query("startIndex")).collect();
    assert_eq!(starts, vec!["0", "3", "6"]);
    assert!(reqs.iter().all(|r| r.query("lastModStartDate").is_none()));
    for pair in reqs.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(250),
            "rate limit seen by the server: {gap:?}"
        );
    }
    let nvd = first.cursor.nvd.clone().expect("nvd cursor");
    assert_eq!(
        nvd,
        NvdCursor {
            completed_until: Some(now),
            window: None,
            next_start_index: 0
        }
    );

    // 300 days later: three windows of at most 120 days, contiguous, ending at `now`.
    let later = now + chrono::Duration::days(300);
    let options = nvd_options(later);
    let (items, second) = run(&location, &options, &first.cursor).expect("fetch");
    assert_eq!(items.len(), 3);
    let windows: Vec<(String, String)> = server
        .requests()
        .iter()
        .skip(3)
        .map(|r| {
            (
                r.query("lastModStartDate").expect("start"),
                r.query("lastModEndDate").expect("end"),
            )
        })
        .collect();
    let parse = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(&s.replacen(".000", "", 1))
            .expect("nvd date")
            .with_timezone(&chrono::Utc)
    };
    assert_eq!(parse(&windows[0].0), now);
    assert_eq!(parse(&windows[2].1), later);
    for w in &windows {
        let days = (parse(&w.1) - parse(&w.0)).num_days();
        assert!(days > 0 && days <= 120, "{w:?}");
    }
    assert_eq!(windows[0].1, windows[1].0);
    assert_eq!(windows[1].1, windows[2].0);
    assert_eq!(
        second.cursor.nvd.and_then(|n| n.completed_until),
        Some(later)
    );
}

#[test]
fn nvd_api_resumes_after_the_server_fails_mid_run() {
    let fail_at = Arc::new(AtomicUsize::new(3));
    let (server, ids) = nvd_server(3, fail_at.clone());
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .expect("date")
        .with_timezone(&chrono::Utc);
    let options = nvd_options(now);
    let location = Location::NvdApi {
        base_url: server.url("/api"),
    };
    let mut items = Vec::new();
    let mut saved = FetchCursor::default();
    let err = fetch(
        &location,
        &options,
        &FetchCursor::default(),
        &mut |item, cp| {
            items.push(item);
            saved = cp.clone();
            ControlFlow::Continue(())
        },
    )
    .expect_err("server fails at startIndex 3");
    assert!(err.to_string().contains("500"), "{err}");
    assert_eq!(items.len(), 1);
    assert_eq!(
        saved.nvd,
        Some(NvdCursor {
            completed_until: None,
            window: Some(NvdWindow {
                start: None,
                end: now
            }),
            next_start_index: 3
        })
    );
    // The rerun (later, with the server healthy) resumes at startIndex 3 of the same
    // window, not at 0.
    fail_at.store(usize::MAX, Ordering::SeqCst);
    let mut options = nvd_options(now + chrono::Duration::hours(1));
    options.nvd.now = Some(now);
    let (rest, done) = run(&location, &options, &saved).expect("resume");
    let starts: Vec<String> = server
        .requests()
        .iter()
        .skip(2)
        .filter_map(|r| r.query("startIndex"))
        .collect();
    assert_eq!(starts, vec!["3", "6"]);
    items.extend(rest);
    assert_eq!(cve_ids(&items), ids);
    assert_eq!(done.cursor.nvd.and_then(|n| n.completed_until), Some(now));
}

// ---------------------------------------------------------------------------------
// The config file.

fn e2e_sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../e2e/feeds/sample.yaml")
}

#[test]
fn sample_config_lists_every_sample_folder() {
    let config = FeedConfig::load(&e2e_sample()).expect("sample config");
    let expected = FeedConfig::sample(&testdata::dir());
    assert_eq!(config.feeds.len(), SAMPLE_FEEDS.len());
    for (got, want) in config.feeds.iter().zip(&expected.feeds) {
        assert_eq!(got.name, want.name);
        assert_eq!(got.source, want.source);
        assert!(got.enabled);
        let (Location::Path { path: a, .. }, Location::Path { path: b, .. }) =
            (&got.location, &want.location)
        else {
            panic!("local paths")
        };
        assert_eq!(
            a.canonicalize().expect("exists"),
            b.canonicalize().expect("exists")
        );
    }
    // Every folder of the sample that holds records is a feed.
    let folders: BTreeSet<String> = std::fs::read_dir(sample())
        .expect("sample")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = SAMPLE_FEEDS
        .iter()
        .map(|(_, _, f)| (*f).to_owned())
        .collect();
    assert_eq!(folders, listed);
    // Each feed yields documents its connector reads.
    for feed in &config.feeds {
        let mut items = Vec::new();
        feed.fetch(&FetchCursor::default(), &mut |item, _| {
            items.push(item);
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{}: {e}", feed.name));
        assert!(!changed(&items).is_empty(), "{}", feed.name);
    }
}

fn parse(text: &str) -> Result<FeedConfig, ConfigError> {
    FeedConfig::parse(text, Path::new("/base"))
}

#[test]
fn config_full_shape() {
    let config = parse(
        "feeds:\n\
         \x20 - name: nvd-live\n\
         \x20   source: nvd\n\
         \x20   location: https://services.example/rest/json/cves/2.0\n\
         \x20   kind: nvd-api\n\
         \x20   interval: 1h30m\n\
         \x20   http: { timeoutSeconds: 30, retries: 2, maxBodyBytes: 1000, headers: { X-Trace: abc } }\n\
         \x20 - name: osv-all\n\
         \x20   source: osv\n\
         \x20   location: https://osv.example/all.zip\n\
         \x20   enabled: false\n\
         \x20   http: { minIntervalMs: 10 }\n\
         \x20 - name: local\n\
         \x20   source: alpine\n\
         \x20   location: rel/dir\n\
         \x20   kind: dir\n\
         precedence:\n\
         \x20 cvss: [nvd, ghsa]\n",
    )
    .expect("valid");
    assert_eq!(config.feeds.len(), 3);
    let nvd = &config.feeds[0];
    assert_eq!(nvd.interval, Some(Duration::from_secs(5400)));
    assert!(matches!(nvd.location, Location::NvdApi { .. }));
    let options = nvd.fetch_options();
    assert_eq!(options.http.timeout, Duration::from_secs(30));
    assert_eq!(options.http.retries, 2);
    assert_eq!(options.http.max_body_bytes, 1000);
    assert_eq!(
        options.http.min_interval,
        Duration::from_secs(6),
        "NVD without a key"
    );
    assert!(options.http.has_header("X-Trace"));
    assert!(!config.feeds[1].enabled);
    assert_eq!(
        config.feeds[1].fetch_options().http.min_interval,
        Duration::from_millis(10)
    );
    assert_eq!(
        config.feeds[2].location,
        Location::Path {
            path: PathBuf::from("/base/rel/dir"),
            kind: LocationKind::Dir
        }
    );
    assert_eq!(config.precedence.cvss, vec![Source::Nvd, Source::Ghsa]);
    assert_eq!(
        config.precedence.text,
        stella_core::feedser::merge::Precedence::default().text
    );

    // An API key from the environment (PATH is always set) switches NVD's interval.
    let with_key = parse(
        "feeds:\n  - name: n\n    source: nvd\n    location: https://x.example/api\n    kind: nvd-api\n    http: { apiKeyEnv: PATH }\n",
    )
    .expect("valid");
    let options = with_key.feeds[0].fetch_options();
    assert!(options.http.has_header("apiKey"));
    assert_eq!(options.http.min_interval, Duration::from_millis(600));
    assert!(!format!("{options:?}").contains(&std::env::var("PATH").unwrap_or_default()));
}

#[test]
fn config_errors_name_the_line() {
    let cases: [(&str, u64, &str); 13] = [
        (
            "feeds:\n  - name: a\n    source: osv\n    location: https://x.example/a\n    kind: dir\n",
            4,
            "needs a local path",
        ),
        (
            "feeds:\n  - name: a\n    source: nvd\n    location: some/dir\n    kind: nvd-api\n",
            4,
            "needs an http(s) URL",
        ),
        (
            "feeds:\n  - name: a\n    source: osv\n    location: x\n  - name: a\n    source: osv\n    location: y\n",
            5,
            "duplicate feed name",
        ),
        (
            "feeds:\n  - name: a\n    source: snyk\n    location: x\n",
            3,
            "unknown source",
        ),
        (
            "feeds:\n  - name: a\n    source: osv\n    location: \"  \"\n",
            4,
            "empty location",
        ),
        (
            "feeds:\n  - name: a\n    source: osv\n    location: ftp://x/all.zip\n",
            4,
            "only http",
        ),
        (
            "feeds:\n  - name: a\n    source: osv\n    location: x\n    colour: red\n",
            5,
            "colour",
        ),
        (
            "feeds:\n  - name: Bad_Name\n    source: osv\n    location: x\n",
            2,
            "[a-z0-9-]+",
        ),
        (
            "feeds:\n  - name: a\n    source: osv\n    location: x\n    interval: soon\n",
            5,
            "interval",
        ),
        (
            "feeds:\n  - name: a\n    source: osv\n    location: x\n    kind: ftp\n",
            5,
            "unknown kind",
        ),
        (
            "feeds:\n  - name: a\n    source: osv\n    location: x\n    kind: nvd-api\n",
            4,
            "needs source nvd",
        ),
        (
            "feeds: []\nprecedence:\n  text: [osv, bogus]\n",
            3,
            "unknown source",
        ),
        (
            "feeds:\n  - name: a\n    source: osv\n    location: x\n    http: { retries: many }\n",
            5,
            "retries",
        ),
    ];
    for (text, line, needle) in cases {
        let err = parse(text).expect_err(text);
        assert_eq!(err.line(), line, "{text}: {err}");
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
    // Anchors and aliases are refused (memory bombs).
    let err =
        parse("feeds:\n  - &a { name: a, source: osv, location: x }\n  - *a\n").expect_err("alias");
    assert!(matches!(err, ConfigError::Yaml { .. }), "{err}");
    // The file-level errors.
    assert!(matches!(
        FeedConfig::load(Path::new("/nonexistent/feeds.yaml")),
        Err(ConfigError::Io { .. })
    ));
    assert_eq!(parse_interval("6h"), Some(Duration::from_secs(21600)));
    assert_eq!(parse_interval("1d2h3m4s"), Some(Duration::from_secs(93784)));
    for bad in ["", "6", "h", "0s", "6x", "99999999999999999999s"] {
        assert_eq!(parse_interval(bad), None, "{bad}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn config_parser_never_panics_on_any_text(text in "\\PC{0,400}") {
        let _ = parse(&text);
    }

    #[test]
    fn config_parser_never_panics_on_config_like_text(
        name in "[a-zA-Z0-9_-]{0,12}",
        source in "(osv|ghsa|nvd|debian|alpine|rustsec|nodejs-wg|x)",
        location in "(https?|ftp|file)://[a-z./]{0,20}|[a-z./ ]{0,20}",
        kind in "(auto|file|dir|archive|http|nvd-api|zip)",
        extra in "[a-z: {}\\[\\],\n-]{0,60}",
    ) {
        let text = format!(
            "feeds:\n  - name: {name}\n    source: {source}\n    location: {location}\n    kind: {kind}\n{extra}"
        );
        if let Ok(config) = parse(&text) {
            proptest::prop_assert_eq!(config.feeds.len(), 1);
            proptest::prop_assert!(!config.feeds[0].location_text.is_empty());
        }
    }
}

#[test]
fn a_gzipped_single_document_and_an_http_tar_gz() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let original = std::fs::read(sample().join("nvd/CVE-2022-3517.json")).expect("read");
    let path = tmp.path().join("CVE-2022-3517.json.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&original).expect("gz");
    std::fs::write(&path, enc.finish().expect("gz")).expect("write");
    let (items, _) = run(
        &local(&path),
        &FetchOptions::for_source(Source::Nvd),
        &FetchCursor::default(),
    )
    .expect("fetch");
    let [Item::Changed(doc)] = items.as_slice() else {
        panic!("{items:?}")
    };
    assert_eq!(doc.name, "CVE-2022-3517.json.gz!CVE-2022-3517.json");
    assert_eq!(doc.bytes, original);

    let records = go_records();
    let tgz = tmp.path().join("all.tar.gz");
    build_archive(&tgz, &records);
    let body = std::fs::read(&tgz).expect("read");
    let server =
        Server::start(move |_, _| Reply::ok(body.clone()).with("Content-Type", "application/gzip"));
    let url = server.url("/feeds/all.tar.gz");
    let (items, _) = run(
        &Location::Http { url: url.clone() },
        &http_options(Source::Osv),
        &FetchCursor::default(),
    )
    .expect("fetch");
    let expected: Vec<String> = records
        .iter()
        .map(|(n, _)| format!("{url}!vulns/{n}"))
        .collect();
    assert_eq!(changed(&items), expected);
}

#[test]
fn a_kept_client_spaces_requests_across_runs() {
    let server = Server::start(|_, _| Reply::ok(b"{}".to_vec()));
    let mut options = http_options(Source::Osv);
    options.http.min_interval = Duration::from_millis(300);
    let client = HttpClient::new(options.http.clone()).expect("client");
    let location = Location::Http {
        url: server.url("/a.json"),
    };
    for _ in 0..3 {
        fetch_with_client(
            &location,
            &options,
            Some(&client),
            &FetchCursor::default(),
            &mut |_, _| ControlFlow::Continue(()),
        )
        .expect("fetch");
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(client.requests(), 3);
    for pair in reqs.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(300), "{gap:?}");
    }
}
