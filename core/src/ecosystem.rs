//! Ecosystems: OSV ecosystem names, purl types, distro releases and package-name
//! normalisation, so that a component and an advisory meet on one key.

use crate::sbom::{Component, Purl};
use crate::version::Scheme;

/// The package universes StellaOps matches in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EcosystemKind {
    /// npm registry.
    Npm,
    /// Python Package Index.
    PyPI,
    /// crates.io.
    Cargo,
    /// Go modules.
    Go,
    /// Maven Central and compatible repositories.
    Maven,
    /// RubyGems.
    RubyGems,
    /// NuGet.
    NuGet,
    /// Packagist (Composer).
    Packagist,
    /// Debian releases.
    Debian,
    /// Ubuntu releases.
    Ubuntu,
    /// Alpine releases.
    Alpine,
    /// Red Hat Enterprise Linux.
    RedHat,
    /// Rocky Linux.
    Rocky,
    /// AlmaLinux.
    AlmaLinux,
}

/// An ecosystem, with the distro release for OS package ecosystems.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ecosystem {
    /// Which universe.
    pub kind: EcosystemKind,
    /// Distro release (`12`, `3.19`, `22.04`, `9`); `None` for language ecosystems
    /// and for distro advisories or packages that name no release.
    pub release: Option<String>,
}

impl EcosystemKind {
    /// The package-url type of this ecosystem's packages.
    pub fn purl_type(self) -> &'static str {
        match self {
            EcosystemKind::Npm => "npm",
            EcosystemKind::PyPI => "pypi",
            EcosystemKind::Cargo => "cargo",
            EcosystemKind::Go => "golang",
            EcosystemKind::Maven => "maven",
            EcosystemKind::RubyGems => "gem",
            EcosystemKind::NuGet => "nuget",
            EcosystemKind::Packagist => "composer",
            EcosystemKind::Debian | EcosystemKind::Ubuntu => "deb",
            EcosystemKind::Alpine => "apk",
            EcosystemKind::RedHat | EcosystemKind::Rocky | EcosystemKind::AlmaLinux => "rpm",
        }
    }

    /// The purl namespace that names the distro, for OS ecosystems.
    pub fn distro_namespace(self) -> Option<&'static str> {
        match self {
            EcosystemKind::Debian => Some("debian"),
            EcosystemKind::Ubuntu => Some("ubuntu"),
            EcosystemKind::Alpine => Some("alpine"),
            EcosystemKind::RedHat => Some("redhat"),
            EcosystemKind::Rocky => Some("rocky"),
            EcosystemKind::AlmaLinux => Some("almalinux"),
            _ => None,
        }
    }

    /// True for operating-system package ecosystems (matched per release).
    pub fn is_distro(self) -> bool {
        self.distro_namespace().is_some()
    }

    /// The version ordering used by this ecosystem, if StellaOps implements it.
    /// Without one, only exact `versions[]` membership can match.
    pub fn scheme(self) -> Option<Scheme> {
        match self {
            EcosystemKind::Npm | EcosystemKind::Cargo => Some(Scheme::Semver),
            EcosystemKind::Go => Some(Scheme::Go),
            EcosystemKind::PyPI => Some(Scheme::Pep440),
            EcosystemKind::Maven => Some(Scheme::Maven),
            EcosystemKind::RubyGems => Some(Scheme::RubyGems),
            EcosystemKind::NuGet => Some(Scheme::NuGet),
            EcosystemKind::Debian | EcosystemKind::Ubuntu => Some(Scheme::Dpkg),
            EcosystemKind::Alpine => Some(Scheme::Apk),
            EcosystemKind::RedHat | EcosystemKind::Rocky | EcosystemKind::AlmaLinux => {
                Some(Scheme::Rpm)
            }
            EcosystemKind::Packagist => None,
        }
    }
}

impl Ecosystem {
    /// Parse an OSV `affected[].package.ecosystem` value (`PyPI`, `Debian:12`,
    /// `Alpine:v3.19`, `Ubuntu:22.04:LTS`, `Red Hat:enterprise_linux:9::appstream`, ...).
    pub fn from_osv(s: &str) -> Option<Ecosystem> {
        let (base, rest) = match s.split_once(':') {
            Some((b, r)) => (b, Some(r)),
            None => (s, None),
        };
        let kind = match base {
            "npm" => EcosystemKind::Npm,
            "PyPI" => EcosystemKind::PyPI,
            "crates.io" => EcosystemKind::Cargo,
            "Go" => EcosystemKind::Go,
            "Maven" => EcosystemKind::Maven,
            "RubyGems" => EcosystemKind::RubyGems,
            "NuGet" => EcosystemKind::NuGet,
            "Packagist" => EcosystemKind::Packagist,
            "Debian" => EcosystemKind::Debian,
            "Ubuntu" => EcosystemKind::Ubuntu,
            "Alpine" => EcosystemKind::Alpine,
            "Red Hat" => EcosystemKind::RedHat,
            "Rocky Linux" => EcosystemKind::Rocky,
            "AlmaLinux" => EcosystemKind::AlmaLinux,
            _ => return None,
        };
        if !kind.is_distro() {
            // Language ecosystems take no suffix we understand (Maven:repo-url is ignored).
            return Some(Ecosystem {
                kind,
                release: None,
            });
        }
        let release = rest.and_then(|r| osv_release(kind, r));
        Some(Ecosystem { kind, release })
    }

    /// The ecosystem of a component from its purl (`pkg:deb/debian/curl?distro=debian-12`).
    pub fn from_purl(purl: &Purl) -> Option<Ecosystem> {
        let ns = purl.namespace.as_deref().map(str::to_ascii_lowercase);
        let kind = match purl.ty.as_str() {
            "npm" => EcosystemKind::Npm,
            "pypi" => EcosystemKind::PyPI,
            "cargo" => EcosystemKind::Cargo,
            "golang" => EcosystemKind::Go,
            "maven" => EcosystemKind::Maven,
            "gem" => EcosystemKind::RubyGems,
            "nuget" => EcosystemKind::NuGet,
            "composer" => EcosystemKind::Packagist,
            "deb" => match ns.as_deref() {
                Some("ubuntu") => EcosystemKind::Ubuntu,
                Some("debian") | None => EcosystemKind::Debian,
                Some(_) => return None,
            },
            "apk" => match ns.as_deref() {
                Some("alpine") | None => EcosystemKind::Alpine,
                Some(_) => return None,
            },
            "rpm" => match ns.as_deref() {
                Some("redhat") | Some("rhel") => EcosystemKind::RedHat,
                Some("rocky") | Some("rockylinux") => EcosystemKind::Rocky,
                Some("almalinux") | Some("alma") => EcosystemKind::AlmaLinux,
                _ => return None,
            },
            _ => return None,
        };
        let release = if kind.is_distro() {
            purl.qualifiers
                .get("distro")
                .and_then(|d| purl_release(kind, d))
        } else {
            None
        };
        Some(Ecosystem { kind, release })
    }

    /// Stable key stored in the advisory DB: `pypi`, `deb/debian/12`, `apk/alpine/3.19`.
    pub fn key(&self) -> String {
        match (self.kind.distro_namespace(), &self.release) {
            (Some(ns), Some(r)) => format!("{}/{}/{}", self.kind.purl_type(), ns, r),
            (Some(ns), None) => format!("{}/{}", self.kind.purl_type(), ns),
            (None, _) => self.kind.purl_type().to_string(),
        }
    }
}

// Lives here rather than in `sbom` so that the dependency runs one way: ecosystem
// mapping reads purls, the SBOM model knows nothing of ecosystems.
impl Component {
    /// The ecosystem (and distro release) of this component, from its purl.
    pub fn ecosystem(&self) -> Option<Ecosystem> {
        self.purl.as_ref().and_then(Ecosystem::from_purl)
    }
}

/// Release from the part of an OSV ecosystem after the first `:`.
fn osv_release(kind: EcosystemKind, rest: &str) -> Option<String> {
    match kind {
        // "v3.19" -> "3.19"
        EcosystemKind::Alpine => Some(rest.trim_start_matches('v').to_string()),
        // "22.04:LTS", "Pro:18.04:LTS" -> "22.04"
        EcosystemKind::Ubuntu => rest
            .split(':')
            .find(|p| p.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .map(str::to_string),
        // "enterprise_linux:9::appstream" -> "9"; "Rocky Linux:9" -> "9"
        EcosystemKind::RedHat | EcosystemKind::Rocky | EcosystemKind::AlmaLinux => rest
            .split(':')
            .find(|p| p.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .map(|p| major(p).to_string()),
        // "12", "3.1", "4.0" -> "4"
        EcosystemKind::Debian => Some(debian_release(rest)),
        _ => Some(rest.to_string()),
    }
}

/// Release from a purl `distro` qualifier (`debian-12`, `debian-12.5`, `bookworm`,
/// `alpine-3.19.1`, `3.19.1`, `ubuntu-22.04`, `rhel-9.2`, `el9`).
fn purl_release(kind: EcosystemKind, distro: &str) -> Option<String> {
    let d = distro.to_ascii_lowercase();
    let tail = d.rsplit_once('-').map_or(d.as_str(), |(_, t)| t);
    match kind {
        EcosystemKind::Debian => match debian_codename(tail) {
            Some(n) => Some(n.to_string()),
            None => tail
                .starts_with(|c: char| c.is_ascii_digit())
                .then(|| debian_release(tail)),
        },
        EcosystemKind::Alpine => {
            let mut parts = tail.trim_start_matches('v').split('.');
            let (a, b) = (parts.next()?, parts.next()?);
            Some(format!("{a}.{b}"))
        }
        EcosystemKind::Ubuntu => {
            let mut parts = tail.split('.');
            let (a, b) = (parts.next()?, parts.next()?);
            Some(format!("{a}.{b}"))
        }
        _ => {
            let digits = tail.trim_start_matches(|c: char| c.is_ascii_alphabetic());
            (!digits.is_empty()).then(|| major(digits).to_string())
        }
    }
}

fn major(v: &str) -> &str {
    v.split('.').next().unwrap_or(v)
}

/// The Debian release that keys advisories and packages for matching, from an OSV
/// ecosystem suffix or a purl `distro` qualifier. Releases before 4 are named by two
/// numbers (`2.2` potato, `3.0` woody, `3.1` sarge: different releases; `3.1r8` is a
/// point release of `3.1`), later ones by the major number alone (`12.5` is a point
/// release of `12`; `4.0` and `4` are both etch). Text that is not a number stays as it is.
fn debian_release(number: &str) -> String {
    let (first, rest) = number.split_once('.').unwrap_or((number, ""));
    let minor = rest
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap_or("");
    match first.parse::<u32>() {
        Ok(n) if n < 4 && !minor.is_empty() => format!("{first}.{minor}"),
        Ok(_) => first.to_string(),
        Err(_) => number.to_string(),
    }
}

/// The version number of a Debian release codename, any case (`bullseye` → `11`).
pub(crate) fn debian_codename(codename: &str) -> Option<&'static str> {
    Some(match codename.to_ascii_lowercase().as_str() {
        "buzz" => "1.1",
        "rex" => "1.2",
        "bo" => "1.3",
        "hamm" => "2.0",
        "slink" => "2.1",
        "potato" => "2.2",
        "woody" => "3.0",
        "sarge" => "3.1",
        "etch" => "4",
        "lenny" => "5",
        "squeeze" => "6",
        "wheezy" => "7",
        "jessie" => "8",
        "stretch" => "9",
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        _ => return None,
    })
}

/// Normalise a package name for matching within `kind` (PEP 503 for PyPI,
/// `group:artifact` for Maven, full module path for Go, lower case where the
/// ecosystem is case-insensitive).
pub fn normalise_name(kind: EcosystemKind, namespace: Option<&str>, name: &str) -> String {
    let joined = |sep: char| match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}{sep}{name}"),
        _ => name.to_string(),
    };
    match kind {
        EcosystemKind::PyPI => pep503(name),
        EcosystemKind::Maven => joined(':'),
        EcosystemKind::Go | EcosystemKind::Npm => joined('/'),
        EcosystemKind::Packagist => joined('/').to_ascii_lowercase(),
        EcosystemKind::NuGet | EcosystemKind::Cargo => name.to_ascii_lowercase(),
        _ => name.to_string(),
    }
}

/// PEP 503 name normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_sep = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osv_ecosystems_map_to_purl_types_and_releases() {
        let cases = [
            ("PyPI", "pypi"),
            ("crates.io", "cargo"),
            ("Go", "golang"),
            ("npm", "npm"),
            ("Maven", "maven"),
            ("RubyGems", "gem"),
            ("NuGet", "nuget"),
            ("Packagist", "composer"),
            ("Debian:12", "deb/debian/12"),
            ("Alpine:v3.19", "apk/alpine/3.19"),
            ("Ubuntu:22.04:LTS", "deb/ubuntu/22.04"),
            ("Ubuntu:Pro:18.04:LTS", "deb/ubuntu/18.04"),
            ("Red Hat:enterprise_linux:9::appstream", "rpm/redhat/9"),
            ("Rocky Linux:9", "rpm/rocky/9"),
            ("AlmaLinux:8", "rpm/almalinux/8"),
        ];
        for (osv, key) in cases {
            assert_eq!(
                Ecosystem::from_osv(osv).map(|e| e.key()).as_deref(),
                Some(key),
                "{osv}"
            );
        }
        assert_eq!(Ecosystem::from_osv("Hackage"), None);
    }

    #[test]
    fn distro_qualifiers_give_releases() {
        let rel = |k, d| purl_release(k, d);
        assert_eq!(
            rel(EcosystemKind::Debian, "debian-12").as_deref(),
            Some("12")
        );
        assert_eq!(
            rel(EcosystemKind::Debian, "debian-12.5").as_deref(),
            Some("12")
        );
        assert_eq!(
            rel(EcosystemKind::Debian, "bookworm").as_deref(),
            Some("12")
        );
        assert_eq!(
            rel(EcosystemKind::Alpine, "alpine-3.19.1").as_deref(),
            Some("3.19")
        );
        assert_eq!(
            rel(EcosystemKind::Alpine, "3.19.1").as_deref(),
            Some("3.19")
        );
        assert_eq!(
            rel(EcosystemKind::Ubuntu, "ubuntu-22.04").as_deref(),
            Some("22.04")
        );
        assert_eq!(rel(EcosystemKind::RedHat, "rhel-9.2").as_deref(), Some("9"));
        assert_eq!(rel(EcosystemKind::RedHat, "el9").as_deref(), Some("9"));
        assert_eq!(rel(EcosystemKind::Debian, "sid"), None);
    }

    #[test]
    fn debian_releases_before_4_keep_their_minor_number() {
        let purl = |distro: &str| {
            let p = Purl::parse(&format!("pkg:deb/debian/foo@1.0?distro={distro}")).expect("purl");
            Ecosystem::from_purl(&p).expect("debian").key()
        };
        let osv = |s: &str| Ecosystem::from_osv(s).expect("debian").key();
        for (distro, ecosystem, key) in [
            ("debian-2.2", "Debian:2.2", "deb/debian/2.2"),
            ("debian-3.0", "Debian:3.0", "deb/debian/3.0"),
            ("debian-3.1", "Debian:3.1", "deb/debian/3.1"),
            ("debian-4.0", "Debian:4.0", "deb/debian/4"),
            ("debian-4", "Debian:4", "deb/debian/4"),
            ("debian-12", "Debian:12", "deb/debian/12"),
            ("debian-12.5", "Debian:12", "deb/debian/12"),
        ] {
            assert_eq!(purl(distro), key, "{distro}");
            assert_eq!(osv(ecosystem), key, "{ecosystem}");
        }
        // Codenames and point releases land on the same keys.
        for (distro, key) in [
            ("potato", "deb/debian/2.2"),
            ("woody", "deb/debian/3.0"),
            ("sarge", "deb/debian/3.1"),
            ("debian-3.1r8", "deb/debian/3.1"),
            ("etch", "deb/debian/4"),
            ("debian-4.0r9", "deb/debian/4"),
        ] {
            assert_eq!(purl(distro), key, "{distro}");
        }
        assert_ne!(osv("Debian:3.0"), osv("Debian:3.1"), "woody is not sarge");
    }

    #[test]
    fn other_distros_keep_their_release_numbers() {
        for (purl, ecosystem, key) in [
            (
                "pkg:apk/alpine/musl@1.2.4-r2?distro=alpine-3.18.4",
                "Alpine:v3.18",
                "apk/alpine/3.18",
            ),
            (
                "pkg:apk/alpine/musl@1.1.24-r2?distro=3.1.0",
                "Alpine:v3.1",
                "apk/alpine/3.1",
            ),
            (
                "pkg:deb/ubuntu/curl@7.81.0-1?distro=ubuntu-22.04",
                "Ubuntu:22.04:LTS",
                "deb/ubuntu/22.04",
            ),
            (
                "pkg:rpm/redhat/openssl@3.0.7-20.el9?distro=rhel-9.3",
                "Red Hat:enterprise_linux:9::appstream",
                "rpm/redhat/9",
            ),
        ] {
            let p = Purl::parse(purl).expect("purl");
            assert_eq!(
                Ecosystem::from_purl(&p).expect("distro").key(),
                key,
                "{purl}"
            );
            assert_eq!(
                Ecosystem::from_osv(ecosystem).expect("distro").key(),
                key,
                "{ecosystem}"
            );
        }
    }

    #[test]
    fn names_normalise_per_ecosystem() {
        assert_eq!(
            normalise_name(EcosystemKind::PyPI, None, "Foo.Bar__baz"),
            "foo-bar-baz"
        );
        assert_eq!(
            normalise_name(
                EcosystemKind::Maven,
                Some("org.apache.logging.log4j"),
                "log4j-core"
            ),
            "org.apache.logging.log4j:log4j-core"
        );
        assert_eq!(
            normalise_name(
                EcosystemKind::Go,
                Some("github.com/containerd"),
                "containerd"
            ),
            "github.com/containerd/containerd"
        );
        assert_eq!(
            normalise_name(EcosystemKind::Npm, Some("@babel"), "core"),
            "@babel/core"
        );
        assert_eq!(
            normalise_name(EcosystemKind::Debian, None, "libssl3"),
            "libssl3"
        );
    }
}
