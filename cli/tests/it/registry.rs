//! `stella sbom` / `stella scan` pulling from a real registry: Debian's
//! `docker-registry` (CNCF distribution) on a free loopback port, images pushed with
//! skopeo. Covers anonymous pulls of the real e2e image (same SBOM as `oci-dir:`),
//! digest references, missing tags, htpasswd (Basic) auth from flags, environment and
//! Docker's config.json, and platform choice from a two-platform index.
//!
//! Needs root-installed tools (`docker-registry`, `skopeo`, `htpasswd`);
//! `e2e/prerequisites.sh` (run by `make test` and CI) installs them. Without them the
//! tests fail, naming the Debian packages to install.

use crate::scan_report;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Fails the test, naming the Debian packages to install, when a registry tool is missing.
fn require_tools() {
    let missing: Vec<&str> = [
        ("docker-registry", "docker-registry"),
        ("skopeo", "skopeo"),
        ("htpasswd", "apache2-utils"),
    ]
    .into_iter()
    .filter(|(tool, _)| {
        !Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
    .map(|(_, package)| package)
    .collect();
    assert!(
        missing.is_empty(),
        "registry tests need tools that are not installed: apt-get install {} \
         (`make test` installs them, through e2e/prerequisites.sh)",
        missing.join(" ")
    );
}

/// A `docker-registry` process on a loopback port, killed when dropped.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry; with `user`, it requires that htpasswd (bcrypt) login.
    fn start(user: Option<(&str, &str)>) -> Registry {
        Self::start_with(user, None)
    }

    /// As [`Registry::start`]; with `token_realm`, it uses distribution's `silly`
    /// token auth instead: a Bearer challenge naming that realm, and any bearer token
    /// accepted.
    fn start_with(user: Option<(&str, &str)>, token_realm: Option<&str>) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((u, p)) = user {
            let htpasswd = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .expect("run htpasswd");
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(&htpasswd, &out.stdout).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: stella-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        if let Some(realm) = token_realm {
            config.push_str(&format!(
                "auth:\n  silly:\n    realm: {realm}\n    service: stella-test\n"
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = Registry {
            child,
            port,
            _dir: dir,
        };
        registry.wait_ready();
        registry
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Polls `GET /v2/` until the registry answers (200, or 401 with auth).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let req = format!("GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host());
                let mut head = [0u8; 16];
                if s.write_all(req.as_bytes()).is_ok()
                    && s.read(&mut head).is_ok_and(|n| n >= 12)
                    && (head.starts_with(b"HTTP/1.0 200") || head.starts_with(b"HTTP/1.0 401"))
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log =
            std::fs::read_to_string(self._dir.path().join("registry.log")).unwrap_or_default();
        panic!("registry on port {} did not come up:\n{log}", self.port);
    }

    /// `skopeo copy` of `src` (e.g. `oci:DIR:TAG`) to `REPO:TAG` here.
    fn push(&self, src: &str, dest: &str, creds: Option<&str>, all: bool) {
        self.push_as(src, dest, creds, all, None);
    }

    /// As [`Registry::push`], converting manifests to `format` (`v2s2`: Docker
    /// schema 2 manifests and manifest lists) when given.
    fn push_as(&self, src: &str, dest: &str, creds: Option<&str>, all: bool, format: Option<&str>) {
        let dest = format!("docker://{}/{dest}", self.host());
        let mut cmd = Command::new("skopeo");
        cmd.args(["--insecure-policy", "copy", "--dest-tls-verify=false"]);
        if let Some(f) = format {
            cmd.args(["--format", f]);
        }
        if let Some(c) = creds {
            cmd.args(["--dest-creds", c]);
        }
        if all {
            cmd.arg("--all");
        }
        let out = cmd.args([src, &dest]).output().expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy {src} {dest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real e2e image directory (cached; built on first use).
fn image() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("e2e/images/build.sh"))
            .output()
            .expect("run e2e/images/build.sh");
        assert!(
            out.status.success(),
            "building the test image failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        PathBuf::from(stdout.lines().last().expect("image dir").trim())
    })
}

/// Runs stella with no ambient registry credentials (an empty DOCKER_CONFIG).
fn stella_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let empty = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stella"));
    cmd.args(args)
        .env_remove("STELLA_DB")
        .env_remove("STELLA_REGISTRY_USERNAME")
        .env_remove("STELLA_REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", empty.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run stella")
}

fn stella(args: &[&str]) -> Output {
    stella_env(args, &[])
}

fn ok_json(out: &Output, what: &str) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// purl and layer digest of every component.
fn purls_and_layers(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            let layer = c["properties"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == "stella:layer:digest"))
                .and_then(|p| p["value"].as_str())
                .unwrap_or_default();
            (
                c["purl"].as_str().unwrap_or_default().to_string(),
                layer.to_string(),
            )
        })
        .collect()
}

#[test]
fn registry_pull_gives_the_same_sbom_as_the_oci_layout() {
    require_tools();
    let reg = Registry::start(None);
    let layout = format!("oci:{}:app", image().join("oci").display());
    reg.push(&layout, "stella/app:1", None, false);
    let reference = format!("{}/stella/app:1", reg.host());
    let oci_src = format!("oci-dir:{}:app", image().join("oci").display());
    // Both builds at once: each takes a while on the real image.
    let (from_registry, from_oci) = std::thread::scope(|s| {
        let r = s.spawn(|| stella(&["sbom", &reference, "--insecure-registry", "-o", "cyclonedx"]));
        let o = stella(&["sbom", &oci_src, "-o", "cyclonedx"]);
        (r.join().expect("registry sbom"), o)
    });
    let reg_doc = ok_json(&from_registry, "sbom from the registry");
    let oci_doc = ok_json(&from_oci, "sbom from oci-dir");
    // Components (purls, layer digests, files, everything) are identical.
    assert_eq!(reg_doc["components"], oci_doc["components"]);
    assert_eq!(reg_doc["dependencies"], oci_doc["dependencies"]);

    // And they match the ground truth recorded from the image's root file system.
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(image().join("truth.json")).expect("truth.json"),
    )
    .expect("truth JSON");
    let found: BTreeSet<(String, String, String)> = reg_doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            let purl = c["purl"].as_str().unwrap_or_default();
            let ty = purl
                .strip_prefix("pkg:")
                .and_then(|p| p.split('/').next())
                .unwrap_or_default();
            (
                ty.to_string(),
                c["name"].as_str().unwrap_or_default().to_ascii_lowercase(),
                c["version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (ty, key) in [("deb", "deb"), ("pypi", "pypi"), ("npm", "npm")] {
        for p in truth[key].as_array().expect("truth list") {
            let name = p[0].as_str().expect("name").to_ascii_lowercase();
            let name = if ty == "pypi" {
                name.replace(['_', '.'], "-")
            } else {
                name
            };
            let version = p[1].as_str().expect("version").to_string();
            assert!(
                found.contains(&(ty.to_string(), name.clone(), version.clone())),
                "{ty} {name} {version} missing from the registry SBOM"
            );
        }
    }
    // Layer digests are the blob digests of the manifest (5 layers).
    let layers: BTreeSet<String> = purls_and_layers(&reg_doc)
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert!(
        layers.iter().all(|l| l.starts_with("sha256:")),
        "{layers:?}"
    );
    assert!(layers.len() >= 3, "{layers:?}");
}

#[test]
fn scan_of_a_registry_image_finds_the_pinned_vulnerable_packages() {
    require_tools();
    let reg = Registry::start(None);
    let layout = format!("oci:{}:app", image().join("oci").display());
    reg.push(&layout, "stella/app:1", None, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("adv.db").display().to_string();
    let advisories = repo().join("data/demo/advisories").display().to_string();
    let out = stella(&["db", "import", "--db", &db, &advisories]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reference = format!("{}/stella/app:1", reg.host());
    let out = stella(&[
        "scan",
        &reference,
        "--insecure-registry",
        "--db",
        &db,
        "--output",
        "json",
    ]);
    let report = ok_json(&out, "scan");
    let ids = scan_report::finding_ids(&report);
    assert!(
        ids.contains(&("qs".into(), "CVE-2022-24999".into())),
        "{ids:#?}"
    );
    assert!(
        ids.contains(&("urllib3".into(), "CVE-2023-45803".into())),
        "{ids:#?}"
    );
}

// ------------------------------------------------------------ small hand-made images

fn sha(bytes: &[u8]) -> String {
    let mut s = String::from("sha256:");
    for b in Sha256::digest(bytes) {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn write_blob(root: &Path, bytes: &[u8]) -> serde_json::Value {
    let digest = sha(bytes);
    let dir = root.join("blobs/sha256");
    std::fs::create_dir_all(&dir).expect("blobs dir");
    std::fs::write(dir.join(digest.trim_start_matches("sha256:")), bytes).expect("blob");
    serde_json::json!({"digest": digest, "size": bytes.len()})
}

/// A one-layer Debian-like image whose dpkg status lists `hello-<arch>`; returns
/// the manifest descriptor (with platform).
fn write_image(root: &Path, arch: &str, variant: Option<&str>) -> serde_json::Value {
    let mut b = tar::Builder::new(Vec::new());
    let status = format!(
        "Package: hello-{arch}\nStatus: install ok installed\nArchitecture: {arch}\n\
         Version: 1.0-1\nMaintainer: test\nDescription: test\n\n"
    );
    let files: [(&str, &[u8]); 2] = [
        (
            "etc/os-release",
            b"ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
        ),
        ("var/lib/dpkg/status", status.as_bytes()),
    ];
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).expect("tar entry");
    }
    let layer = b.into_inner().expect("tar");
    // Compressed already, so skopeo pushes the blobs (and manifests) unchanged.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer).expect("gzip");
    let blob = gz.finish().expect("gzip");
    let mut layer_desc = write_blob(root, &blob);
    layer_desc["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
    let mut config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha(&layer)]}
    });
    if let Some(v) = variant {
        config["variant"] = v.into();
    }
    let mut config_desc = write_blob(root, config.to_string().as_bytes());
    config_desc["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc]
    });
    let mut desc = write_blob(root, manifest.to_string().as_bytes());
    desc["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    let mut platform = serde_json::json!({"architecture": arch, "os": "linux"});
    if let Some(v) = variant {
        platform["variant"] = v.into();
    }
    desc["platform"] = platform;
    desc
}

/// An OCI layout with tag `one` (linux/amd64 image) and tag `multi` (an index of
/// linux/amd64 and linux/arm64/v8). Returns (layout dir, amd64 manifest digest,
/// arm64 manifest digest).
fn small_layout(dir: &Path) -> (PathBuf, String, String) {
    let root = dir.join("layout");
    let amd = write_image(&root, "amd64", None);
    let arm = write_image(&root, "arm64", Some("v8"));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd, arm]
    });
    let mut index_desc = write_blob(&root, index.to_string().as_bytes());
    index_desc["mediaType"] = "application/vnd.oci.image.index.v1+json".into();
    index_desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "multi"});
    let mut one = amd.clone();
    one["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "one"});
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [one, index_desc]});
    std::fs::write(root.join("index.json"), top.to_string()).expect("index.json");
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
    let digest = |d: &serde_json::Value| d["digest"].as_str().unwrap_or_default().to_string();
    (root, digest(&amd), digest(&arm))
}

fn deb_names(doc: &serde_json::Value) -> BTreeSet<String> {
    purls_and_layers(doc)
        .into_iter()
        .filter(|(p, _)| p.starts_with("pkg:deb/"))
        .filter_map(|(p, _)| {
            p.split('/')
                .nth(2)
                .and_then(|n| n.split('@').next())
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn multi_arch_index_digest_references_and_missing_tags() {
    require_tools();
    let reg = Registry::start(None);
    let dir = tempfile::tempdir().expect("tempdir");
    let (layout, amd_digest, arm_digest) = small_layout(dir.path());
    reg.push(
        &format!("oci:{}:multi", layout.display()),
        "stella/multi:1",
        None,
        true,
    );
    let multi = format!("{}/stella/multi:1", reg.host());
    let sbom = |reference: &str, extra: &[&str]| {
        let mut args = vec!["sbom", reference, "--insecure-registry", "-o", "cyclonedx"];
        args.extend_from_slice(extra);
        stella(&args)
    };
    // Default platform linux/amd64.
    let doc = ok_json(&sbom(&multi, &[]), "default platform");
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-amd64".to_string()]));
    for platform in ["linux/arm64", "linux/arm64/v8"] {
        let doc = ok_json(&sbom(&multi, &["--platform", platform]), platform);
        assert_eq!(
            deb_names(&doc),
            BTreeSet::from(["hello-arm64".to_string()]),
            "{platform}"
        );
    }
    let out = sbom(&multi, &["--platform", "linux/s390x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("linux/s390x") && err.contains("linux/amd64, linux/arm64/v8"),
        "{err}"
    );

    // Pinned by digest: `REPO@sha256:…` and `REPO:TAG@sha256:…` (the digest wins).
    let by_digest = format!("{}/stella/multi@{arm_digest}", reg.host());
    let doc = ok_json(&sbom(&by_digest, &[]), "by digest");
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-arm64".to_string()]));
    let tag_and_digest = format!("{}/stella/multi:1@{amd_digest}", reg.host());
    let doc = ok_json(&sbom(&tag_and_digest, &[]), "tag and digest");
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-amd64".to_string()]));
    // The explicit `registry:` prefix.
    let doc = ok_json(
        &sbom(&format!("registry:{by_digest}"), &[]),
        "registry: prefix",
    );
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-arm64".to_string()]));
    // Plain HTTP for just this host.
    let out = stella(&[
        "sbom",
        &by_digest,
        &format!("--insecure-registry={}", reg.host()),
        "-o",
        "table",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A digest that is not there, and a tag that is not there: exit 2, clear message.
    let absent = format!("{}/stella/multi@sha256:{}", reg.host(), "0".repeat(64));
    let out = sbom(&absent, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = sbom(&format!("{}/stella/multi:nope", reg.host()), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("no image for")
            && err.contains("stella/multi:nope")
            && err.contains("manifest unknown"),
        "{err}"
    );
    // A repository that does not exist.
    let out = sbom(&format!("{}/stella/none:1", reg.host()), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no image for"), "{}", stderr(&out));
    // Docker schema 2: a manifest list and its image manifests.
    reg.push_as(
        &format!("oci:{}:multi", layout.display()),
        "stella/docker:1",
        None,
        true,
        Some("v2s2"),
    );
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/stella/docker:1", reg.host()))
        .output()
        .expect("skopeo inspect");
    assert!(
        String::from_utf8_lossy(&raw.stdout)
            .contains("application/vnd.docker.distribution.manifest.list.v2+json"),
        "not a Docker manifest list: {}",
        String::from_utf8_lossy(&raw.stdout)
    );
    let docker_ref = format!("{}/stella/docker:1", reg.host());
    let doc = ok_json(&sbom(&docker_ref, &["--platform", "linux/arm64"]), "v2s2");
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-arm64".to_string()]));
    let doc = ok_json(&sbom(&docker_ref, &[]), "v2s2 default");
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-amd64".to_string()]));

    // Without --insecure-registry the client speaks TLS to a plain-HTTP server.
    let out = stella(&["sbom", &multi]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("TLS") && err.contains("--insecure-registry"),
        "{err}"
    );
}

#[test]
fn basic_auth_from_flags_environment_and_docker_config() {
    require_tools();
    let (user, pass) = ("stella", "s3cret:pw");
    let reg = Registry::start(Some((user, pass)));
    let dir = tempfile::tempdir().expect("tempdir");
    let (layout, _, _) = small_layout(dir.path());
    reg.push(
        &format!("oci:{}:one", layout.display()),
        "stella/one:1",
        Some(&format!("{user}:{pass}")),
        false,
    );
    let reference = format!("{}/stella/one:1", reg.host());
    let base = [
        "sbom",
        reference.as_str(),
        "--insecure-registry",
        "-o",
        "cyclonedx",
    ];
    let with = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        stella_env(&args, env)
    };

    // Anonymous: 401 with a hint about credentials.
    let out = with(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("401") && err.contains("--registry-username"),
        "{err}"
    );
    // Wrong password: 401, credentials rejected.
    let out = with(
        &["--registry-username", user, "--registry-password", "wrong"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("401") && err.contains("rejected"), "{err}");
    // A user name without a password is a usage error.
    let out = with(&["--registry-username", user], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("needs a password"),
        "{}",
        stderr(&out)
    );

    // Right password: flags, environment.
    let doc = ok_json(
        &with(
            &["--registry-username", user, "--registry-password", pass],
            &[],
        ),
        "flags",
    );
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-amd64".to_string()]));
    let doc = ok_json(
        &with(
            &[],
            &[
                ("STELLA_REGISTRY_USERNAME", user),
                ("STELLA_REGISTRY_PASSWORD", pass),
            ],
        ),
        "environment",
    );
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-amd64".to_string()]));
    // Password on stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_stella"))
        .args(base)
        .args(["--registry-username", user, "--registry-password-stdin"])
        .env("DOCKER_CONFIG", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stella");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{pass}\n").as_bytes())
            .expect("write password");
    }
    let out = child.wait_with_output().expect("stella output");
    let doc = ok_json(&out, "stdin");
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-amd64".to_string()]));

    // Docker's config.json, found through DOCKER_CONFIG: `auth` (base64 user:pass),
    // and username/password fields.
    let docker = tempfile::tempdir().expect("tempdir");
    let docker_dir = docker.path().display().to_string();
    let write_config = |json: serde_json::Value| {
        std::fs::write(docker.path().join("config.json"), json.to_string()).expect("config")
    };
    let auth = base64_encode(format!("{user}:{pass}").as_bytes());
    write_config(serde_json::json!({"auths": {reg.host(): {"auth": auth}}}));
    let doc = ok_json(&with(&[], &[("DOCKER_CONFIG", &docker_dir)]), "config auth");
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-amd64".to_string()]));
    write_config(
        serde_json::json!({"auths": {format!("http://{}", reg.host()): {
        "username": user, "password": pass}}}),
    );
    let doc = ok_json(
        &with(&[], &[("DOCKER_CONFIG", &docker_dir)]),
        "config fields",
    );
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-amd64".to_string()]));
    // Flags win over the config file.
    let out = with(
        &["--registry-username", user, "--registry-password", "wrong"],
        &[("DOCKER_CONFIG", &docker_dir)],
    );
    assert_eq!(out.status.code(), Some(2));
    // A credential helper for this host: a clear error naming host and helper.
    write_config(serde_json::json!({"credHelpers": {reg.host(): "pass"}}));
    let out = with(&[], &[("DOCKER_CONFIG", &docker_dir)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&reg.host())
            && err.contains("docker-credential-pass")
            && err.contains("not support"),
        "{err}"
    );
}

/// A token service on loopback: answers every request with a bearer token and
/// records the request heads. Stops when dropped.
struct TokenServer {
    port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    fn start() -> TokenServer {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen, stopped) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    }
                }
                if let Ok(mut v) = seen.lock() {
                    v.push(String::from_utf8_lossy(&head).into_owned());
                }
                let body = r#"{"token":"stella-test-token","expires_in":300}"#;
                let _ = conn.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
        TokenServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn bearer_token_challenge_is_followed() {
    require_tools();
    let tokens = TokenServer::start();
    let realm = format!("http://127.0.0.1:{}/token", tokens.port);
    let reg = Registry::start_with(None, Some(&realm));
    let dir = tempfile::tempdir().expect("tempdir");
    let (layout, _, _) = small_layout(dir.path());
    reg.push(
        &format!("oci:{}:one", layout.display()),
        "stella/one:1",
        None,
        false,
    );
    let pushed = tokens.requests().len();
    let reference = format!("{}/stella/one:1", reg.host());
    let (user, pass) = ("tok-user", "tok-pass");
    let out = stella(&[
        "sbom",
        &reference,
        "--insecure-registry",
        "--registry-username",
        user,
        "--registry-password",
        pass,
        "-o",
        "cyclonedx",
    ]);
    let doc = ok_json(&out, "bearer");
    assert_eq!(deb_names(&doc), BTreeSet::from(["hello-amd64".to_string()]));
    // stella asked the realm for a pull token for this repository, with its login.
    let ours = tokens.requests().split_off(pushed);
    let basic = format!(
        "basic {}",
        base64_encode(format!("{user}:{pass}").as_bytes())
    );
    assert!(
        ours.iter().any(|r| {
            let r = r.to_ascii_lowercase();
            r.starts_with("get /token?")
                && r.contains("scope=repository%3astella%2fone%3apull")
                && r.contains("service=stella-test")
                && r.contains(&format!("authorization: {}", basic.to_ascii_lowercase()))
        }),
        "{ours:#?}"
    );
    // Anonymous pulls fetch a token too (as for public Docker Hub images).
    let before = tokens.requests().len();
    let out = stella(&["sbom", &reference, "--insecure-registry", "-o", "table"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(tokens.requests().len() > before);
}

#[test]
fn a_silent_registry_times_out_with_a_clear_error() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).expect("nonblocking");
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end && held.len() < 8 {
            match listener.accept() {
                Ok((c, _)) => held.push(c),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let start = Instant::now();
    let reference = format!("127.0.0.1:{port}/stella/app:1");
    let out = stella(&[
        "sbom",
        &reference,
        "--insecure-registry",
        "--registry-timeout",
        "2",
    ]);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("timed out") && err.contains("read timeout 2s"),
        "{err}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    drop(holder);
}

#[test]
fn layers_stream_in_parallel_and_tampered_blobs_fail() {
    use stella_core::inventory::source::{
        ImageSource, Insecure, LayerData, RegistryOptions, RegistrySource,
    };
    require_tools();
    let reg = Registry::start(None);
    let layout = format!("oci:{}:app", image().join("oci").display());
    reg.push(&layout, "stella/app:1", None, false);
    let options = RegistryOptions {
        insecure: Insecure::All,
        ..RegistryOptions::default()
    };
    let reference = format!("{}/stella/app:1", reg.host());
    // The concrete type: it is `Sync`, so its layers can be read from many threads.
    let source = RegistrySource::open(&reference, "linux/amd64", &options, &reference)
        .expect("open the registry image");
    // The same layers as the OCI layout the image was pushed from.
    let local = stella_core::inventory::source::open(
        &format!("oci-dir:{}:app", image().join("oci").display()),
        None,
    )
    .expect("open the OCI layout");
    assert_eq!(source.layers(), local.layers());
    assert_eq!(source.metadata().diff_ids, local.metadata().diff_ids);
    assert_eq!(source.metadata().arch.as_deref(), Some("amd64"));
    // Every layer from its own thread at once; each reader checks size and digest.
    let source = &source;
    let counts: Vec<(u64, Option<u64>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..source.layers().len())
            .map(|i| {
                s.spawn(move || {
                    let Ok(LayerData::Tar(mut r)) = source.open_layer(i) else {
                        panic!("layer {i} is not a tar stream");
                    };
                    let n = std::io::copy(&mut r, &mut std::io::sink()).expect("read layer");
                    (n, source.layers().get(i).and_then(|l| l.size))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for (n, size) in counts {
        assert_eq!(Some(n), size);
    }

    // Corrupt the smallest layer in the registry's storage (same length): the
    // registry serves it as is, stella must refuse it.
    let small = source
        .layers()
        .iter()
        .min_by_key(|l| l.size)
        .and_then(|l| l.digest.clone())
        .expect("a layer");
    let hex = small.trim_start_matches("sha256:");
    let data = reg
        ._dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(hex.get(..2).unwrap_or_default())
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&data).expect("stored blob");
    let mid = bytes.len() / 2;
    if let Some(b) = bytes.get_mut(mid) {
        *b ^= 0xff;
    }
    std::fs::write(&data, &bytes).expect("corrupt blob");
    // Raw blob bytes, before any gunzip could notice: the digest check must fail.
    let index = source
        .layers()
        .iter()
        .position(|l| l.digest.as_deref() == Some(small.as_str()))
        .expect("layer index");
    let Ok(LayerData::Tar(mut r)) = source.open_layer(index) else {
        panic!("layer {index} is not a tar stream");
    };
    let err = std::io::copy(&mut r, &mut std::io::sink()).expect_err("tampered blob read");
    assert!(
        err.to_string().to_ascii_lowercase().contains("digest"),
        "{err}"
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
