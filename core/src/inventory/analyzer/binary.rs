//! Packages compiled into executables: Go modules from the Go linker's build
//! information and Rust crates from `cargo auditable`'s `.dep-v0` section.
//!
//! The layer reader hands every ELF executable to [`BinaryAnalyzer::reduce`],
//! which keeps only a compact evidence record (a few KiB) instead of the
//! binary; [`BinaryAnalyzer::analyze`] later reads the evidence. Evidence
//! format: [`EVIDENCE_MAGIC`], then records of a tag byte, a little-endian
//! `u32` length and the payload:
//! - `G`: Go build info: `u32` LE version length, the version, the module info
//!   (sentinels removed). Both layouts are resolved at reduce time, so the
//!   pre-1.18 pointer layout (which needs the whole executable) is supported.
//! - `C`: the compressed `.dep-v0` section as is.
//! - `E`: build info was found but could not be read; the reason, reported by
//!   `analyze` as an error for the file.
//!
//! Only ELF is read (Mach-O and PE executables are not found in Linux images).
//! Go build info is found by its section or, in binaries stripped of section
//! headers, by its magic in the writable load segments; `.dep-v0` needs the
//! section headers.

use super::cargo_auditable;
use super::elf::{ELF_MAGIC, Elf};
use super::go_binary::{self, BUILDINFO_MAGIC, GoError};
use super::{Analysis, Analyzer, AnalyzerError, Reduced};
use crate::inventory::{FileEntry, FoundPackage, OsRelease};

/// First bytes of every evidence record set this analyzer keeps.
pub const EVIDENCE_MAGIC: &[u8; 14] = b"STELLA-BINEV1\n";

/// Go build info records must be 16-byte aligned (the linker aligns them).
const GO_ALIGN: usize = 16;

const TAG_GO: u8 = b'G';
const TAG_CARGO: u8 = b'C';
const TAG_ERROR: u8 = b'E';

/// Reads the packages compiled into Go and Rust executables.
#[derive(Debug, Default, Clone, Copy)]
pub struct BinaryAnalyzer;

/// One piece of evidence kept from an executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Go build information: toolchain version and module info text.
    Go {
        /// Toolchain version (`go1.23.4`).
        version: Vec<u8>,
        /// Module info lines (`path`, `mod`, `dep`, `=>`, `build`).
        modinfo: Vec<u8>,
    },
    /// A compressed cargo-auditable `.dep-v0` section.
    Cargo(Vec<u8>),
    /// Evidence was there but unreadable: why.
    Error(String),
}

/// Serialise evidence records (what `reduce` keeps).
pub fn encode(records: &[Record]) -> Vec<u8> {
    let mut out = EVIDENCE_MAGIC.to_vec();
    for r in records {
        let (tag, payload) = match r {
            Record::Go { version, modinfo } => {
                let mut p = Vec::with_capacity(4 + version.len() + modinfo.len());
                p.extend_from_slice(&len_u32(version.len()).to_le_bytes());
                p.extend_from_slice(version);
                p.extend_from_slice(modinfo);
                (TAG_GO, p)
            }
            Record::Cargo(data) => (TAG_CARGO, data.clone()),
            Record::Error(reason) => (TAG_ERROR, reason.as_bytes().to_vec()),
        };
        out.push(tag);
        out.extend_from_slice(&len_u32(payload.len()).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    out
}

/// A length as `u32`; payloads are bounded far below 4 GiB before they get here.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Why evidence bytes could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// No [`EVIDENCE_MAGIC`].
    #[error("not binary evidence")]
    NoMagic,
    /// A record runs past the end.
    #[error("record {0} is cut short")]
    Truncated(usize),
    /// A record tag this version does not know.
    #[error("record {index} has unknown tag {tag:#04x}")]
    UnknownTag {
        /// Which record (0-based).
        index: usize,
        /// Its tag.
        tag: u8,
    },
}

/// Read back evidence written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Vec<Record>, EvidenceError> {
    let mut rest = bytes
        .strip_prefix(EVIDENCE_MAGIC)
        .ok_or(EvidenceError::NoMagic)?;
    let mut out = Vec::new();
    while let Some((&tag, after)) = rest.split_first() {
        let index = out.len();
        let (payload, next) = take_prefixed(after).ok_or(EvidenceError::Truncated(index))?;
        let record = match tag {
            TAG_GO => {
                let (version, modinfo) =
                    take_prefixed(payload).ok_or(EvidenceError::Truncated(index))?;
                Record::Go {
                    version: version.to_vec(),
                    modinfo: modinfo.to_vec(),
                }
            }
            TAG_CARGO => Record::Cargo(payload.to_vec()),
            TAG_ERROR => Record::Error(String::from_utf8_lossy(payload).into_owned()),
            tag => return Err(EvidenceError::UnknownTag { index, tag }),
        };
        out.push(record);
        rest = next;
    }
    Ok(out)
}

/// A `u32` LE length-prefixed slice, and what follows it.
fn take_prefixed(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?);
    let len = usize::try_from(len).ok()?;
    let rest = b.get(4..)?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// The evidence records of one ELF executable (empty when it has none).
pub fn evidence(bytes: &[u8]) -> Vec<Record> {
    let Ok(elf) = Elf::parse(bytes) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match go_build_info(&elf) {
        Some(Ok((version, modinfo))) => out.push(Record::Go {
            version: version.to_vec(),
            modinfo: go_binary::strip_sentinels(modinfo).to_vec(),
        }),
        Some(Err(e)) => out.push(Record::Error(format!("Go build info: {e}"))),
        None => {}
    }
    if let Some(dep) = elf.section(cargo_auditable::SECTION) {
        if dep.len() > cargo_auditable::MAX_COMPRESSED {
            out.push(Record::Error(format!(
                "{}: {}",
                cargo_auditable::SECTION,
                cargo_auditable::AuditableError::TooLarge(dep.len())
            )));
        } else {
            out.push(Record::Cargo(dep.to_vec()));
        }
    }
    out
}

/// Go build info's raw version and module info strings.
type GoStrings<'a> = (&'a [u8], &'a [u8]);

/// Find Go build info (its section, else, in a file without section headers,
/// its magic in a writable segment) and
/// decode its version and module info strings.
fn go_build_info<'a>(elf: &Elf<'a>) -> Option<Result<GoStrings<'a>, GoError>> {
    let data = elf
        .section(".go.buildinfo")
        .filter(|d| d.starts_with(BUILDINFO_MAGIC))
        .or_else(|| {
            // Only without section headers (stripped, or cut short): Go writes the
            // section whenever it writes headers, and C executables, the most
            // common kind, need no scan. Aligned in the address space: the
            // segment itself may start anywhere.
            if !elf.sections.is_empty() {
                return None;
            }
            elf.writable_load_segments().find_map(|(vaddr, seg)| {
                let first = usize::try_from(vaddr.wrapping_neg() % GO_ALIGN as u64).unwrap_or(0);
                (first..seg.len())
                    .step_by(GO_ALIGN)
                    .find_map(|i| seg.get(i..).filter(|d| d.starts_with(BUILDINFO_MAGIC)))
            })
        })?;
    Some(if go_binary::is_inline(data) {
        go_binary::decode_inline(data)
    } else {
        go_binary::decode_pointer_format(data, |addr, len| elf.read_virtual(addr, len))
    })
}

impl Analyzer for BinaryAnalyzer {
    fn name(&self) -> &'static str {
        "binary"
    }

    fn wants(&self, _path: &str) -> bool {
        false
    }

    fn wants_executables(&self) -> bool {
        true
    }

    fn reduces(&self) -> bool {
        true
    }

    fn reduce(&self, _path: &str, bytes: &[u8]) -> Reduced {
        if !bytes.starts_with(ELF_MAGIC) {
            return Reduced::Nothing;
        }
        let records = evidence(bytes);
        if records.is_empty() {
            Reduced::Nothing
        } else {
            Reduced::Evidence(encode(&records))
        }
    }

    fn accepts(&self, file: &FileEntry) -> bool {
        file.contents.starts_with(EVIDENCE_MAGIC)
    }

    fn analyze(&self, files: &[&FileEntry], _os: Option<&OsRelease>) -> Analysis {
        let mut out = Analysis::default();
        for f in files {
            let err = |reason: String| AnalyzerError {
                analyzer: "binary",
                path: f.path.clone(),
                reason,
            };
            let records = match decode(&f.contents) {
                Ok(r) => r,
                Err(e) => {
                    out.errors.push(err(e.to_string()));
                    continue;
                }
            };
            for record in records {
                match read_record(&record, f) {
                    Ok(pkgs) => out.packages.extend(pkgs),
                    Err(reason) => out.errors.push(err(reason)),
                }
            }
        }
        out
    }
}

/// The packages one evidence record names.
fn read_record(record: &Record, f: &FileEntry) -> Result<Vec<FoundPackage>, String> {
    let found = |purl: crate::sbom::Purl, name: String, version: String| FoundPackage {
        purl,
        name,
        version,
        files: vec![f.path.clone()],
        layer_digest: f.layer_digest.clone(),
        licenses: Vec::new(),
    };
    match record {
        Record::Go { version, modinfo } => {
            let version = std::str::from_utf8(version)
                .map_err(|e| format!("Go version is not UTF-8: {e}"))?;
            let modinfo = std::str::from_utf8(modinfo)
                .map_err(|e| format!("Go module info is not UTF-8: {e}"))?;
            let info =
                go_binary::parse(version, modinfo).map_err(|e| format!("Go build info: {e}"))?;
            Ok(go_binary::modules(&info)
                .into_iter()
                .map(|(path, version)| found(go_binary::purl(&path, &version), path, version))
                .collect())
        }
        Record::Cargo(data) => {
            let info = cargo_auditable::decode(data)
                .map_err(|e| format!("{}: {e}", cargo_auditable::SECTION))?;
            Ok(cargo_auditable::published(&info)
                .map(|p| found(p.purl(), p.name.clone(), p.version.clone()))
                .collect())
        }
        Record::Error(reason) => Err(reason.clone()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy;

    use super::*;
    use crate::inventory::analyzer::cargo_auditable::tests::compress;
    use crate::inventory::analyzer::elf::build;
    use crate::inventory::analyzer::go_binary::tests::inline;

    fn entry(path: &str, contents: Vec<u8>) -> FileEntry {
        FileEntry::new(path, contents, Some("sha256:l9"))
    }

    /// Reduce like the layer reader, then analyze the kept evidence.
    fn scan(bin: &[u8]) -> (Reduced, Analysis) {
        let reduced = BinaryAnalyzer.reduce("usr/bin/tool", bin);
        let analysis = match &reduced {
            Reduced::Evidence(ev) => {
                let e = entry("usr/bin/tool", ev.clone());
                assert!(BinaryAnalyzer.accepts(&e));
                BinaryAnalyzer.analyze(&[&e], None)
            }
            _ => Analysis::default(),
        };
        (reduced, analysis)
    }

    fn purls(a: &Analysis) -> Vec<String> {
        a.packages.iter().map(|p| p.purl.to_string()).collect()
    }

    const MODINFO: &str =
        "path\tex.io/cmd\nmod\tex.io\tv1.2.0\th1:a=\ndep\tgithub.com/pkg/errors\tv0.9.1\th1:b=\n";

    #[test]
    fn go_and_rust_in_one_binary_every_layout() {
        let go = inline("go1.21.3", MODINFO);
        let dep = compress(br#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true,"dependencies":[1]},{"name":"itoa","version":"1.0.9","source":"crates.io"}]}"#);
        for is_64 in [false, true] {
            for be in [false, true] {
                for headers in [true, false] {
                    let bin = build::elf(
                        is_64,
                        be,
                        0x10000,
                        &[(".go.buildinfo", &go), (".dep-v0", &dep)],
                        headers,
                    );
                    let (reduced, a) = scan(&bin);
                    let Reduced::Evidence(ev) = reduced else {
                        panic!("evidence expected")
                    };
                    assert!(
                        ev.len() < go.len() + dep.len() + 64,
                        "only the evidence is kept"
                    );
                    assert!(a.errors.is_empty(), "{:?}", a.errors);
                    let mut want = vec![
                        "pkg:golang/ex.io@v1.2.0",
                        "pkg:golang/github.com/pkg/errors@v0.9.1",
                        "pkg:golang/stdlib@1.21.3",
                    ];
                    // Without section headers Go is found by its magic; .dep-v0 is lost.
                    if headers {
                        want.push("pkg:cargo/itoa@1.0.9");
                    }
                    assert_eq!(purls(&a), want, "64={is_64} be={be} headers={headers}");
                    assert_eq!(a.packages[0].files, vec!["usr/bin/tool".to_string()]);
                    assert_eq!(a.packages[0].layer_digest.as_deref(), Some("sha256:l9"));
                }
            }
        }
    }

    /// Pre-1.18 pointer layout: the header points at Go string headers in the
    /// data segment, resolved at reduce time through the load segment.
    #[test]
    fn go_pointer_layout_resolved_at_reduce_time() {
        let base = 0x50_0000u64;
        // .go.buildinfo at base (32 bytes), .data right after it at base + 32.
        let data_at = base + 32;
        let wrapped = {
            let raw = inline("x", MODINFO);
            go_binary::decode_inline(&raw).expect("decodes").1.to_vec()
        };
        let version = b"go1.16.15";
        let mut data = Vec::new();
        let strings_at = data_at + 32;
        for (ptr, len) in [
            (strings_at, version.len()),
            (strings_at + version.len() as u64, wrapped.len()),
        ] {
            data.extend_from_slice(&ptr.to_le_bytes());
            data.extend_from_slice(&(len as u64).to_le_bytes());
        }
        data.extend_from_slice(version);
        data.extend_from_slice(&wrapped);
        let mut header = BUILDINFO_MAGIC.to_vec();
        header.extend_from_slice(&[8, 0]);
        header.extend_from_slice(&data_at.to_le_bytes());
        header.extend_from_slice(&(data_at + 16).to_le_bytes());
        for headers in [true, false] {
            let bin = build::elf(
                true,
                false,
                base,
                &[(".go.buildinfo", &header), (".data", &data)],
                headers,
            );
            let (_, a) = scan(&bin);
            assert!(a.errors.is_empty(), "{:?}", a.errors);
            assert_eq!(
                purls(&a),
                [
                    "pkg:golang/ex.io@v1.2.0",
                    "pkg:golang/github.com/pkg/errors@v0.9.1",
                    "pkg:golang/stdlib@1.16.15"
                ],
                "headers={headers}"
            );
        }
        // A pointer that leads nowhere is reported for the file.
        let mut bad = header.clone();
        bad[16..24].copy_from_slice(&0xdead_0000u64.to_le_bytes());
        let bin = build::elf(
            true,
            false,
            base,
            &[(".go.buildinfo", &bad), (".data", &data)],
            true,
        );
        let (_, a) = scan(&bin);
        assert!(a.packages.is_empty());
        assert!(
            a.errors[0].reason.contains("does not point into"),
            "{}",
            a.errors[0]
        );
    }

    #[test]
    fn nothing_kept_from_other_files_and_errors_reported() {
        assert_eq!(
            BinaryAnalyzer.reduce("x", b"#!/bin/sh\necho hi\n"),
            Reduced::Nothing
        );
        let plain = build::elf(true, false, 0x1000, &[(".data", b"just data")], true);
        assert_eq!(BinaryAnalyzer.reduce("x", &plain), Reduced::Nothing);
        // Build info found but cut short: reported, not silently dropped.
        let go = inline("go1.21.3", MODINFO);
        let bin = build::elf(true, false, 0x1000, &[(".go.buildinfo", &go[..40])], true);
        let (_, a) = scan(&bin);
        assert!(a.packages.is_empty());
        assert_eq!(a.errors.len(), 1);
        assert!(
            a.errors[0].reason.contains("Go build info"),
            "{}",
            a.errors[0]
        );
        // Corrupt evidence and a bad .dep-v0 are per-file errors.
        let bad = entry("x", b"STELLA-BINEV1\nG\xff\xff\xff\xff".to_vec());
        let notzlib = entry("y", encode(&[Record::Cargo(b"nope".to_vec())]));
        let a = BinaryAnalyzer.analyze(&[&bad, &notzlib], None);
        assert_eq!(a.errors.len(), 2, "{:?}", a.errors);
        assert!(!BinaryAnalyzer.wants("usr/bin/tool"));
        assert!(!BinaryAnalyzer.accepts(&entry("usr/bin/tool", b"\x7fELF".to_vec())));
    }

    /// A file under `core/tests/data/binaries/` (see its README for provenance).
    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/data/binaries/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Sorted (name, version) pairs, with the standard library spelt the way
    /// Syft does (`go1.23.4`).
    fn as_syft(a: &Analysis) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = a
            .packages
            .iter()
            .map(|p| {
                let version = if p.name == "stdlib" {
                    format!("go{}", p.version)
                } else {
                    p.version.clone()
                };
                (p.name.clone(), version)
            })
            .collect();
        v.sort();
        v
    }

    fn listed(text: &str) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn syft_binary_build_info_gives_syfts_own_module_list() {
        let section = fixture("syft-1.18.1.go.buildinfo");
        let want =
            listed(&String::from_utf8(fixture("syft-1.18.1.syft-modules.txt")).expect("utf-8"));
        assert_eq!(want.len(), 187);
        // With section headers, and stripped of them (found by its magic).
        for headers in [true, false] {
            let bin = build::elf(
                true,
                false,
                0x2be_1000,
                &[(".go.buildinfo", &section)],
                headers,
            );
            let (reduced, a) = scan(&bin);
            let Reduced::Evidence(ev) = reduced else {
                panic!("evidence expected")
            };
            assert!(
                ev.len() < section.len(),
                "{} bytes kept of {}",
                ev.len(),
                section.len()
            );
            assert!(a.errors.is_empty(), "{:?}", a.errors);
            assert_eq!(as_syft(&a), want, "headers={headers}");
        }
        let bin = build::elf(true, false, 0x1000, &[(".go.buildinfo", &section)], true);
        let (_, a) = scan(&bin);
        let purls = purls(&a);
        assert!(purls.contains(&"pkg:golang/stdlib@1.23.4".to_string()));
        assert!(purls.contains(&"pkg:golang/github.com/anchore/syft@v1.18.1".to_string()));
        assert!(purls.contains(&"pkg:golang/github.com/Masterminds/semver/v3@v3.3.0".to_string()));
    }

    #[test]
    fn cargo_auditable_binary_gives_its_lock_files_registry_crates() {
        let dep = fixture("stella-rust-app.dep-v0");
        let lock: toml::Value = toml::from_str(
            &String::from_utf8(fixture("stella-rust-app.Cargo.lock")).expect("utf-8"),
        )
        .expect("lock");
        let mut want: Vec<(String, String)> = lock["package"]
            .as_array()
            .expect("packages")
            .iter()
            .filter(|p| {
                p.get("source")
                    .and_then(|s| s.as_str())
                    .is_some_and(|s| s.starts_with("registry+"))
            })
            .map(|p| {
                (
                    p["name"].as_str().expect("name").to_string(),
                    p["version"].as_str().expect("version").to_string(),
                )
            })
            .collect();
        want.sort();
        assert_eq!(want.len(), 5);
        let bin = build::elf(
            true,
            false,
            0x40_0000,
            &[(".text", b"\x90\x90"), (".dep-v0", &dep)],
            true,
        );
        let (_, a) = scan(&bin);
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        assert_eq!(as_syft(&a), want);
        // Syft lists the same crates, plus the local root crate we leave out.
        let syft =
            listed(&String::from_utf8(fixture("stella-rust-app.syft-crates.txt")).expect("utf-8"));
        let without_root: Vec<_> = syft
            .into_iter()
            .filter(|(n, _)| n != "stella-rust-app")
            .collect();
        assert_eq!(as_syft(&a), without_root);
        assert!(purls(&a).contains(&"pkg:cargo/regex@1.5.4".to_string()));
    }

    /// Debian's skopeo and umoci (GOPATH builds, so no module lines): whole real
    /// executables through `reduce`, with and without their section headers.
    #[test]
    fn real_go_executables_on_the_host() {
        use sha2::Digest;
        // sha256 of Debian bookworm's skopeo 1.9.3+ds1-1+b10 and umoci 0.4.7+ds-3+b7,
        // for which Syft lists only the standard library, go1.19.8 (see the README).
        let known = [
            (
                "/usr/bin/skopeo",
                "639cefd9b555d9bf1a8dcf29bbbc2568c5e1382a47582da1dca7e4298b10f122",
            ),
            (
                "/usr/bin/umoci",
                "3c0fefdb6ec73d5f186e05b88644e3cd555a2ed00713ee69a1e52eb72a724a76",
            ),
        ];
        for (path, sha) in known {
            let mut bytes = std::fs::read(path).unwrap_or_else(|e| {
                panic!(
                    "{path}: {e}: apt-get install skopeo umoci \
                     (`make test` installs them, through e2e/prerequisites.sh)"
                )
            });
            let started = std::time::Instant::now();
            let (reduced, a) = scan(&bytes);
            eprintln!(
                "{path}: {} bytes reduced and analysed in {:?}",
                bytes.len(),
                started.elapsed()
            );
            let Reduced::Evidence(ev) = &reduced else {
                panic!("{path}: no evidence")
            };
            assert!(ev.len() < 4096, "{path}: {} bytes of evidence", ev.len());
            assert!(a.errors.is_empty(), "{:?}", a.errors);
            let stdlib = a
                .packages
                .iter()
                .find(|p| p.name == "stdlib")
                .expect("stdlib");
            assert!(stdlib.version.starts_with("1."), "{}", stdlib.version);
            if format!("{:x}", sha2::Sha256::digest(&bytes)) == sha {
                assert_eq!(
                    as_syft(&a),
                    vec![("stdlib".to_string(), "go1.19.8".to_string())]
                );
            }
            // Clear e_shoff: the fallback must find the same build info by its magic.
            bytes[40..48].fill(0);
            let (_, stripped) = scan(&bytes);
            assert_eq!(stripped, a, "{path} without section headers");
        }
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1024)) {
            let mut elfish = ELF_MAGIC.to_vec();
            elfish.extend_from_slice(&bytes);
            for data in [&bytes, &elfish] {
                if let Reduced::Evidence(ev) = BinaryAnalyzer.reduce("x", data) {
                    let _ = BinaryAnalyzer.analyze(&[&entry("x", ev)], None);
                }
            }
            let mut ev = EVIDENCE_MAGIC.to_vec();
            ev.extend_from_slice(&bytes);
            let _ = BinaryAnalyzer.analyze(&[&entry("x", ev)], None);
        }

        #[test]
        fn evidence_round_trip(records in proptest::collection::vec(proptest::prop_oneof![
            (proptest::collection::vec(proptest::num::u8::ANY, 0..20), proptest::collection::vec(proptest::num::u8::ANY, 0..200)).prop_map(|(version, modinfo)| Record::Go { version, modinfo }),
            proptest::collection::vec(proptest::num::u8::ANY, 0..200).prop_map(Record::Cargo),
            "[ -~]{0,40}".prop_map(Record::Error),
        ], 0..5)) {
            proptest::prop_assert_eq!(decode(&encode(&records)), Ok(records));
        }
    }
}
