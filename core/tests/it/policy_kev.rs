//! The KEV catalog reader on a real subset of CISA's catalog (`data/kev/`): lookups,
//! limits, errors that name the entry, and properties (arbitrary bytes never panic; a
//! generated catalog is read back entry for entry).

use std::path::PathBuf;

use chrono::NaiveDate;
use proptest::prelude::*;
use stella_core::policy::kev::{KevCatalog, KevEntry, KevError, KevLimits};

fn real_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../data/kev/known_exploited_vulnerabilities.json")
}

fn real_bytes() -> Vec<u8> {
    let path = real_path();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn real() -> KevCatalog {
    KevCatalog::load(&real_path(), KevLimits::default()).expect("the real subset loads")
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
}

/// The real file as a JSON value, edited by `edit`, as bytes.
fn edited(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(&real_bytes()).expect("json");
    edit(&mut value);
    serde_json::to_vec_pretty(&value).expect("serialise")
}

#[test]
fn the_real_subset_loads_with_its_header() {
    let kev = real();
    assert_eq!(kev.len(), 53);
    assert!(!kev.is_empty());
    assert_eq!(kev.duplicates(), 0);
    assert_eq!(kev.version(), Some("2025.02.25"));
    assert_eq!(kev.date_released(), Some("2025-02-25T20:33:53.3676Z"));
    assert_eq!(
        kev.released_at().map(|t| t.to_rfc3339()),
        Some("2025-02-25T20:33:53.367600+00:00".to_owned())
    );
    assert_eq!(
        kev.title(),
        Some("CISA Catalog of Known Exploited Vulnerabilities")
    );
    // The header still counts the whole catalog; the reader does not insist.
    assert_eq!(kev.declared_count(), Some(1280));
    // Parsing the bytes gives the same catalog as loading the file.
    let parsed = KevCatalog::parse(&real_bytes(), KevLimits::default()).expect("parse");
    assert_eq!(parsed.entries(), kev.entries());
}

#[test]
fn real_entries_are_read_field_for_field() {
    let kev = real();
    let e = kev
        .entry("CVE-2023-44487")
        .expect("HTTP/2 Rapid Reset is listed");
    assert_eq!(e.vendor_project, "IETF");
    assert_eq!(
        e.product, "HTTP/2",
        "JSON's escaped slash is read as a slash"
    );
    assert_eq!(
        e.vulnerability_name,
        "HTTP/2 Rapid Reset Attack Vulnerability"
    );
    assert_eq!(e.date_added, date("2023-10-10"));
    assert_eq!(e.due_date, date("2023-10-31"));
    assert_eq!(e.cwes, ["CWE-400"]);
    assert_eq!(e.known_ransomware_campaign_use.as_deref(), Some("Unknown"));
    assert!(!e.ransomware_known());
    assert!(
        e.forensic_triage.is_none(),
        "this catalog predates the field"
    );

    let confluence = kev.entry("CVE-2023-22515").expect("listed");
    assert!(confluence.ransomware_known());
    assert!(
        confluence.cwes.is_empty(),
        "an empty cwes array is accepted"
    );

    // CISA's stray spaces are kept as published.
    assert_eq!(
        kev.entry("CVE-2024-57727").expect("listed").vendor_project,
        "SimpleHelp "
    );
    // \u201c escapes are decoded.
    assert!(
        kev.entry("CVE-2025-0111")
            .expect("listed")
            .short_description
            .contains("\u{201c}nobody\u{201d}")
    );
    // Every entry: a due date on or after the date added, an upper-case id.
    for e in kev.entries() {
        assert!(e.due_date >= e.date_added, "{}", e.cve_id);
        assert_eq!(e.cve_id, e.cve_id.to_ascii_uppercase());
    }
    // Catalog order is kept: newest first, as CISA publishes it.
    assert_eq!(kev.entries()[0].cve_id, "CVE-2023-34192");
    assert_eq!(kev.entries()[52].cve_id, "CVE-2023-22515");
}

#[test]
fn lookups_are_case_insensitive_and_exact() {
    let kev = real();
    for e in kev.entries() {
        let lower = e.cve_id.to_ascii_lowercase();
        assert!(kev.contains(&lower), "{lower}");
        assert!(kev.contains(&format!("  {}\t", e.cve_id)), "{}", e.cve_id);
        assert_eq!(kev.entry(&lower), Some(e));
    }
    assert!(kev.contains("cve-2023-44487"));
    // Log4Shell is in CISA's catalog, but not in this subset.
    assert!(!kev.contains("CVE-2021-44228"));
    // A prefix or an extension of a listed id is a different id.
    assert!(!kev.contains("CVE-2023-4448"));
    assert!(!kev.contains("CVE-2023-444870"));
    assert!(!kev.contains("GHSA-qppj-fm5r-hxr3"));
    assert!(!kev.contains(""));
    // A finding keyed by its GHSA id is found through its CVE alias.
    assert_eq!(
        kev.first_listed(["GHSA-qppj-fm5r-hxr3", "CVE-2023-44487"])
            .map(|e| e.product.as_str()),
        Some("HTTP/2")
    );
}

#[test]
fn limits_are_enforced_at_their_edges() {
    let size = real_bytes().len();
    let at = |max_bytes, max_entries| KevLimits {
        max_bytes,
        max_entries,
    };
    assert!(KevCatalog::load(&real_path(), at(size, 53)).is_ok());
    match KevCatalog::load(&real_path(), at(size - 1, 53)) {
        Err(KevError::TooLarge { size: seen, limit }) => {
            assert_eq!(limit, size - 1);
            assert_eq!(seen, size as u64, "the read stops one byte past the limit");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(matches!(
        KevCatalog::parse(&real_bytes(), at(size - 1, 53)),
        Err(KevError::TooLarge { .. })
    ));
    match KevCatalog::parse(&real_bytes(), at(size, 52)) {
        Err(KevError::TooManyEntries { count, limit }) => {
            assert_eq!((count, limit), (53, 52));
        }
        other => panic!("expected TooManyEntries, got {other:?}"),
    }
    let defaults = KevLimits::default();
    assert_eq!(defaults.max_bytes, 16 * 1024 * 1024);
    assert_eq!(defaults.max_entries, 100_000);
}

#[test]
fn errors_name_the_entry_and_the_place() {
    let limits = KevLimits::default();
    // An impossible date: the JSON path names entry and field.
    let bytes = edited(|v| v["vulnerabilities"][5]["dateAdded"] = "2025-02-30".into());
    match KevCatalog::parse(&bytes, limits) {
        Err(KevError::Json { path, line, .. }) => {
            assert_eq!(path, "vulnerabilities[5].dateAdded");
            assert!(line > 1);
        }
        other => panic!("expected Json, got {other:?}"),
    }
    // A missing required field names the entry.
    let bytes = edited(|v| {
        v["vulnerabilities"][3]
            .as_object_mut()
            .expect("object")
            .remove("dueDate");
    });
    match KevCatalog::parse(&bytes, limits) {
        Err(KevError::Json { path, message, .. }) => {
            assert_eq!(path, "vulnerabilities[3]");
            assert!(message.contains("dueDate"), "{message}");
        }
        other => panic!("expected Json, got {other:?}"),
    }
    // A cveID that is not a CVE rejects the catalog, naming the entry.
    let bytes = edited(|v| v["vulnerabilities"][7]["cveID"] = "CVE-2025-23".into());
    match KevCatalog::parse(&bytes, limits) {
        Err(e @ KevError::BadEntry { .. }) => {
            let text = e.to_string();
            assert!(text.contains("vulnerabilities[7]"), "{text}");
            let KevError::BadEntry { index, cve_id, .. } = e else {
                unreachable!()
            };
            assert_eq!((index, cve_id.as_str()), (7, "CVE-2025-23"));
        }
        other => panic!("expected BadEntry, got {other:?}"),
    }
    // A truncated download: line and column of the end.
    let bytes = real_bytes();
    let cut = &bytes[..bytes.len() / 2];
    match KevCatalog::parse(cut, limits) {
        Err(KevError::Json { line, .. }) => {
            let lines = cut.iter().filter(|&&b| b == b'\n').count() + 1;
            assert_eq!(line, lines, "the error is at the end of the text");
        }
        other => panic!("expected Json, got {other:?}"),
    }
    // Not a catalog at all.
    assert!(matches!(
        KevCatalog::parse(br#"{"title":"x"}"#, limits),
        Err(KevError::Json { .. })
    ));
    assert!(matches!(
        KevCatalog::parse(b"[]", limits),
        Err(KevError::Json { .. })
    ));
    // Trailing garbage after the document.
    let mut bytes = real_bytes();
    bytes.extend_from_slice(b"\n{}");
    assert!(matches!(
        KevCatalog::parse(&bytes, limits),
        Err(KevError::Json { .. })
    ));
    // A missing file names the path.
    let missing = real_path().with_file_name("no-such-catalog.json");
    match KevCatalog::load(&missing, limits) {
        Err(e @ KevError::Io { .. }) => {
            assert!(e.to_string().contains("no-such-catalog.json"), "{e}");
        }
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn added_fields_are_read_and_unknown_fields_ignored() {
    // `forensicTriage` (BOD 26-04) is in CISA's current schema; a field nobody knows
    // yet must not break loading.
    let bytes = edited(|v| {
        v["vulnerabilities"][0]["forensicTriage"] = "Yes".into();
        v["vulnerabilities"][0]["someFutureField"] = serde_json::json!({"a": [1, 2]});
        v["someFutureHeader"] = 7.into();
    });
    let kev = KevCatalog::parse(&bytes, KevLimits::default()).expect("parse");
    assert_eq!(kev.len(), 53);
    let e = kev.entry("CVE-2023-34192").expect("listed");
    assert_eq!(e.forensic_triage.as_deref(), Some("Yes"));
}

#[test]
fn a_repeated_cve_keeps_its_first_entry() {
    let bytes = edited(|v| {
        let list = v["vulnerabilities"].as_array_mut().expect("array");
        let mut again = list[0].clone();
        again["cveID"] = "cve-2023-34192".into();
        again["product"] = "later copy".into();
        list.push(again);
    });
    let kev = KevCatalog::parse(&bytes, KevLimits::default()).expect("parse");
    assert_eq!(kev.len(), 53);
    assert_eq!(kev.duplicates(), 1);
    assert_eq!(
        kev.entry("CVE-2023-34192").expect("listed").product,
        "Zimbra Collaboration Suite (ZCS)"
    );
}

fn entry_strategy() -> impl Strategy<Value = KevEntry> {
    let day = (0i64..40_000).prop_map(|d| {
        NaiveDate::from_ymd_opt(1990, 1, 1).expect("date") + chrono::Duration::days(d)
    });
    (
        ("[0-9]{4}", "[0-9]{4,19}"),
        ("\\PC{0,20}", "\\PC{0,20}", "\\PC{0,40}"),
        (day.clone(), day, "\\PC{0,60}", "\\PC{0,60}"),
        (
            proptest::option::of(prop_oneof![
                Just("Known".to_owned()),
                Just("Unknown".to_owned())
            ]),
            proptest::option::of("\\PC{0,40}"),
            proptest::collection::vec("CWE-[0-9]{1,4}", 0..3),
        ),
    )
        .prop_map(
            |(
                (year, number),
                (vendor, product, name),
                (added, due, desc, action),
                (ransom, notes, cwes),
            )| KevEntry {
                cve_id: format!("CVE-{year}-{number}"),
                vendor_project: vendor,
                product,
                vulnerability_name: name,
                date_added: added,
                short_description: desc,
                required_action: action,
                due_date: due,
                known_ransomware_campaign_use: ransom,
                forensic_triage: None,
                notes,
                cwes,
            },
        )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = KevCatalog::parse(&bytes, KevLimits::default());
    }

    #[test]
    fn a_damaged_real_catalog_never_panics(
        cut in 0usize..60_000,
        flips in proptest::collection::vec((0usize..60_000, any::<u8>()), 0..8),
    ) {
        let mut bytes = real_bytes();
        for (at, b) in flips {
            let at = at % bytes.len();
            bytes[at] = b;
        }
        bytes.truncate(cut.min(bytes.len()));
        if let Ok(kev) = KevCatalog::parse(&bytes, KevLimits::default()) {
            for e in kev.entries() {
                prop_assert!(kev.contains(&e.cve_id));
            }
        }
    }

    #[test]
    fn a_generated_catalog_is_read_back_entry_for_entry(
        entries in proptest::collection::vec(entry_strategy(), 0..20),
    ) {
        let doc = serde_json::json!({
            "title": "generated",
            "catalogVersion": "2026.11.29",
            "dateReleased": "2026-11-29T00:00:00.000Z",
            "count": entries.len(),
            "vulnerabilities": entries,
        });
        let bytes = serde_json::to_vec(&doc).expect("serialise");
        let kev = KevCatalog::parse(&bytes, KevLimits::default()).expect("parse");
        // Generated ids may repeat: the first of each is kept, in order.
        let mut firsts: Vec<&KevEntry> = Vec::new();
        for e in &entries {
            if !firsts.iter().any(|f| f.cve_id == e.cve_id) {
                firsts.push(e);
            }
        }
        prop_assert_eq!(kev.len(), firsts.len());
        prop_assert_eq!(kev.duplicates(), entries.len() - firsts.len());
        for (got, want) in kev.entries().iter().zip(&firsts) {
            prop_assert_eq!(got, *want);
        }
        for e in &entries {
            prop_assert!(kev.contains(&e.cve_id.to_ascii_lowercase()), "{}", e.cve_id);
        }
        // And an entry survives serde_json on its own.
        for e in &entries {
            let back: KevEntry = serde_json::from_str(&serde_json::to_string(e).expect("ser")).expect("de");
            prop_assert_eq!(&back, e);
        }
    }
}
