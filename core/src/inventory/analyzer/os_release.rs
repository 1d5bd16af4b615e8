//! Distribution detection: `etc/os-release` (falling back to `usr/lib/os-release`),
//! then the older single-line release files (`etc/debian_version`,
//! `etc/alpine-release`, `etc/redhat-release`).

use crate::inventory::{FileEntry, OsRelease};

/// The files [`detect`] reads, in order of preference.
pub const PATHS: [&str; 5] = [
    "etc/os-release",
    "usr/lib/os-release",
    "etc/debian_version",
    "etc/alpine-release",
    "etc/redhat-release",
];

/// Longest line considered; os-release lines are short, this bounds hostile input.
const MAX_LINE: usize = 4096;
/// Most lines read from one file.
const MAX_LINES: usize = 1000;

/// True for the paths [`detect`] reads.
pub fn wants(path: &str) -> bool {
    PATHS.contains(&path)
}

/// The distribution of an image, from the first of [`PATHS`] that names one.
pub fn detect(files: &[&FileEntry]) -> Option<OsRelease> {
    let find = |p: &str| files.iter().find(|f| f.path == p).map(|f| &f.contents);
    for path in ["etc/os-release", "usr/lib/os-release"] {
        if let Some(os) = find(path).and_then(|c| parse_os_release(c)) {
            return Some(os);
        }
    }
    if let Some(v) = find("etc/debian_version").and_then(|c| first_line(c)) {
        // `12.5`, or `bookworm/sid` on testing images: only a numeric one is a release.
        let version_id = v
            .chars()
            .next()
            .filter(char::is_ascii_digit)
            .map(|_| v.clone());
        return Some(OsRelease {
            id: "debian".into(),
            version_id,
            version_codename: None,
            pretty_name: None,
        });
    }
    if let Some(v) = find("etc/alpine-release").and_then(|c| first_line(c)) {
        return Some(OsRelease {
            id: "alpine".into(),
            version_id: Some(v),
            version_codename: None,
            pretty_name: None,
        });
    }
    if let Some(line) = find("etc/redhat-release").and_then(|c| first_line(c)) {
        return Some(parse_redhat_release(&line));
    }
    None
}

/// The purl `distro` qualifier for an OS (`debian-12`, `ubuntu-22.04`,
/// `alpine-3.19.1`, `rhel-9.3`), in the form `Ecosystem::from_purl` reads.
pub fn distro_qualifier(os: &OsRelease) -> Option<String> {
    let id = os.id.trim().to_ascii_lowercase();
    if id.is_empty() {
        return None;
    }
    match os
        .version_id
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(v) => Some(format!("{id}-{v}")),
        // Debian testing/sid has no VERSION_ID; a codename still names a release.
        None => os
            .version_codename
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| format!("{id}-{c}")),
    }
}

/// Parse os-release(5) text: `KEY=value` lines, values optionally quoted with
/// shell-style escapes, `#` comments. None without an `ID`.
pub fn parse_os_release(contents: &[u8]) -> Option<OsRelease> {
    let text = String::from_utf8_lossy(contents);
    let mut os = OsRelease::default();
    for line in text.lines().take(MAX_LINES) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.len() > MAX_LINE {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(raw.trim());
        let value = (!value.is_empty()).then_some(value);
        match key.trim() {
            "ID" => os.id = value.unwrap_or_default().to_ascii_lowercase(),
            "VERSION_ID" => os.version_id = value,
            "VERSION_CODENAME" => os.version_codename = value,
            "PRETTY_NAME" => os.pretty_name = value,
            _ => {}
        }
    }
    (!os.id.is_empty()).then_some(os)
}

/// A shell-style value: `"a \"b\""`, `'a b'` or bare `a`.
fn unquote(raw: &str) -> String {
    let mut chars = raw.chars();
    match chars.next() {
        Some(q @ ('"' | '\'')) => {
            let mut out = String::new();
            let mut escaped = false;
            for c in chars {
                if escaped {
                    out.push(c);
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    break;
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => {
            // Unquoted: backslash escapes the next character; a trailing comment ends it.
            let mut out = String::new();
            let mut escaped = false;
            for c in raw.chars() {
                if escaped {
                    out.push(c);
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c.is_whitespace() {
                    break;
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

fn first_line(contents: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(contents.get(..MAX_LINE).unwrap_or(contents));
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.to_string())
}

/// `Red Hat Enterprise Linux release 9.3 (Plow)`, `CentOS Linux release 7.9.2009
/// (Core)`, `Rocky Linux release 9.3 (Blue Onyx)`, `Fedora release 39 (Thirty Nine)`.
fn parse_redhat_release(line: &str) -> OsRelease {
    let lower = line.to_ascii_lowercase();
    let id = if lower.starts_with("red hat") {
        "rhel"
    } else if lower.starts_with("centos") {
        "centos"
    } else if lower.starts_with("rocky") {
        "rocky"
    } else if lower.starts_with("almalinux") {
        "almalinux"
    } else if lower.starts_with("fedora") {
        "fedora"
    } else if lower.starts_with("oracle") {
        "ol"
    } else {
        "rhel"
    };
    let version_id = lower
        .split_once(" release ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string);
    OsRelease {
        id: id.into(),
        version_id,
        version_codename: None,
        pretty_name: Some(line.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecosystem::{Ecosystem, EcosystemKind};
    use crate::sbom::Purl;

    fn entry(path: &str, contents: &str) -> FileEntry {
        FileEntry::new(path, contents, None)
    }

    // Verbatim from debian:12 (bookworm).
    const DEBIAN_12: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;

    // Verbatim from alpine:3.19.1 (unquoted values).
    const ALPINE: &str = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n\
PRETTY_NAME=\"Alpine Linux v3.19\"\nHOME_URL=\"https://alpinelinux.org/\"\n\
BUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n";

    const UBUNTU: &str = "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\n\
VERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\nVERSION_CODENAME=jammy\n\
ID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=jammy\n";

    const RHEL: &str = "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.3 (Plow)\"\n\
ID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.3\"\nPLATFORM_ID=\"platform:el9\"\n\
PRETTY_NAME=\"Red Hat Enterprise Linux 9.3 (Plow)\"\nANSI_COLOR=\"0;31\"\n";

    #[test]
    fn reads_real_os_release_files() {
        let os = parse_os_release(DEBIAN_12.as_bytes()).expect("debian");
        assert_eq!(os.id, "debian");
        assert_eq!(os.version_id.as_deref(), Some("12"));
        assert_eq!(os.version_codename.as_deref(), Some("bookworm"));
        assert_eq!(
            os.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        let os = parse_os_release(ALPINE.as_bytes()).expect("alpine");
        assert_eq!(
            (os.id.as_str(), os.version_id.as_deref()),
            ("alpine", Some("3.19.1"))
        );
        let os = parse_os_release(RHEL.as_bytes()).expect("rhel");
        assert_eq!(
            (os.id.as_str(), os.version_id.as_deref()),
            ("rhel", Some("9.3"))
        );
    }

    #[test]
    fn quoting_comments_and_escapes() {
        let text = "# comment\n  \nID='my distro'\nVERSION_ID=\"1.\\\"2\\\"\"\n\
PRETTY_NAME=a\\ b # trailing\nbroken line\n";
        let os = parse_os_release(text.as_bytes()).expect("parsed");
        assert_eq!(os.id, "my distro");
        assert_eq!(os.version_id.as_deref(), Some("1.\"2\""));
        assert_eq!(os.pretty_name.as_deref(), Some("a b"));
        assert_eq!(parse_os_release(b"NAME=foo\n"), None);
        assert_eq!(parse_os_release(b"ID=\"\n"), None);
    }

    #[test]
    fn fallback_order() {
        let etc = entry("etc/os-release", ALPINE);
        let lib = entry("usr/lib/os-release", DEBIAN_12);
        assert_eq!(detect(&[&lib, &etc]).map(|o| o.id), Some("alpine".into()));
        assert_eq!(detect(&[&lib]).map(|o| o.id), Some("debian".into()));
        // An os-release without ID falls through to the next source.
        let empty = entry("etc/os-release", "NAME=x\n");
        let dv = entry("etc/debian_version", "11.9\n");
        let os = detect(&[&empty, &dv]).expect("debian_version");
        assert_eq!(
            (os.id.as_str(), os.version_id.as_deref()),
            ("debian", Some("11.9"))
        );
        let sid = entry("etc/debian_version", "trixie/sid\n");
        assert_eq!(detect(&[&sid]).expect("sid").version_id, None);
        let ar = entry("etc/alpine-release", "3.18.4\n");
        assert_eq!(
            detect(&[&ar]).and_then(|o| o.version_id),
            Some("3.18.4".into())
        );
        let rr = entry(
            "etc/redhat-release",
            "Rocky Linux release 9.3 (Blue Onyx)\n",
        );
        let os = detect(&[&rr]).expect("rocky");
        assert_eq!(
            (os.id.as_str(), os.version_id.as_deref()),
            ("rocky", Some("9.3"))
        );
        let rr = entry(
            "etc/redhat-release",
            "Red Hat Enterprise Linux release 8.9 (Ootpa)",
        );
        assert_eq!(
            distro_qualifier(&detect(&[&rr]).expect("rhel")),
            Some("rhel-8.9".into())
        );
        assert_eq!(detect(&[]), None);
        assert!(wants("etc/os-release") && !wants("etc/os-release.bak"));
    }

    #[test]
    fn qualifier_round_trips_through_ecosystem() {
        let cases = [
            (
                DEBIAN_12,
                "deb/debian",
                "debian-12",
                EcosystemKind::Debian,
                "12",
            ),
            (
                UBUNTU,
                "deb/ubuntu",
                "ubuntu-22.04",
                EcosystemKind::Ubuntu,
                "22.04",
            ),
            (
                ALPINE,
                "apk/alpine",
                "alpine-3.19.1",
                EcosystemKind::Alpine,
                "3.19",
            ),
            (RHEL, "rpm/redhat", "rhel-9.3", EcosystemKind::RedHat, "9"),
        ];
        for (text, prefix, qualifier, kind, release) in cases {
            let os = parse_os_release(text.as_bytes()).expect("parsed");
            let q = distro_qualifier(&os).expect("qualifier");
            assert_eq!(q, qualifier);
            let purl = Purl::parse(&format!("pkg:{prefix}/x@1?distro={q}")).expect("purl");
            let eco = Ecosystem::from_purl(&purl).expect("ecosystem");
            assert_eq!(eco.kind, kind);
            assert_eq!(eco.release.as_deref(), Some(release));
        }
        let testing = OsRelease {
            id: "debian".into(),
            version_codename: Some("trixie".into()),
            ..OsRelease::default()
        };
        assert_eq!(distro_qualifier(&testing), Some("debian-trixie".into()));
        assert_eq!(distro_qualifier(&OsRelease::default()), None);
    }
}
