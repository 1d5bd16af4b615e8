//! `stella` as a client of a real `stella-server` server: tokens, quota, SBOM scans and
//! the delta-SBOM protocol on the real OCI test image, each checked against a local
//! scan of the same input on the same advisory DB.
//!
//! The server binary belongs to another package, so Cargo does not build it for this
//! test: [`server_binary`] runs `cargo build -p stella-server --bin stella-server` once
//! (a no-op when it is current) into this test's own target directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "ci-pipeline";
const CLIENT_SECRET: &str = "s3cret-for-tests-only-0123";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `stella-server`, next to `stella` in the target directory, built if needed.
fn server_binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let stella = PathBuf::from(env!("CARGO_BIN_EXE_stella"));
        let profile_dir = stella.parent().expect("bin dir").to_path_buf();
        let target = profile_dir.parent().expect("target dir");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "-p", "stella-server", "--bin", "stella-server"])
            .current_dir(repo())
            .env("CARGO_TARGET_DIR", target);
        // Cargo gives a test the variables of its own package (CARGO_PKG_*,
        // CARGO_MANIFEST_DIR, ...): build scripts that watch them would rebuild
        // stella-server on every run, so the nested build gets a shell's environment.
        let keep = ["CARGO_HOME", "CARGO_INCREMENTAL", "CARGO_TARGET_DIR"];
        for (name, _) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            let tooling = [
                "CARGO_BUILD_",
                "CARGO_PROFILE_",
                "CARGO_NET_",
                "CARGO_HTTP_",
            ]
            .iter()
            .any(|p| name.starts_with(p));
            if (name.starts_with("CARGO_") && !keep.contains(&name) && !tooling)
                || name == "OUT_DIR"
            {
                cmd.env_remove(name);
            }
        }
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building stella-server failed");
        let bin = profile_dir.join("stella-server");
        assert!(bin.is_file(), "{} missing", bin.display());
        bin
    })
}

/// A running server with the demo advisory DB.
struct Server {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("data dir");
        let db = dir.path().join("advisories.db");
        let out = stella(&[
            "db",
            "import",
            "--db",
            db.to_str().expect("utf-8"),
            &repo().join("data/demo/advisories").display().to_string(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let mut child = Command::new(server_binary())
            .args(["--listen", "127.0.0.1:0", "--log-format", "text"])
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "--bootstrap-client",
                &format!("{CLIENT_ID}:{CLIENT_SECRET}:Free"),
            ])
            .args(args)
            .env("STELLA_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start stella-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("listening line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("stella-server did not start: {line:?}"))
            .to_owned();
        Server {
            child,
            base: format!("http://{addr}"),
            dir,
        }
    }

    fn db(&self) -> String {
        self.dir.path().join("advisories.db").display().to_string()
    }

    /// A token for the bootstrap client, through `stella token request`.
    fn token(&self, scope: Option<&str>) -> String {
        let mut args = vec![
            "token",
            "request",
            "--server",
            &self.base,
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
        ];
        if let Some(s) = scope {
            args.extend(["--scope", s]);
        }
        let out = stella(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let token = stdout(&out).trim().to_owned();
        assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
        token
    }

    /// A counter of the server's /metrics.
    fn metric(&self, series: &str) -> f64 {
        let mut body = String::new();
        std::net::TcpStream::connect(self.base.trim_start_matches("http://"))
            .and_then(|mut s| {
                s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
                s.read_to_string(&mut body)
            })
            .expect("GET /metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A layer cache of this test process alone.
fn cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

fn stella(args: &[&str]) -> Output {
    stella_env(args, &[])
}

fn stella_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stella"));
    cmd.args(args)
        .env("STELLA_CACHE_DIR", cache_dir())
        .env_remove("NO_COLOR");
    for var in ["STELLA_DB", "STELLA_SERVER", "STELLA_TOKEN", "STELLA_KEV"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run stella")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

fn demo_sbom() -> String {
    repo().join("data/demo/sbom.cdx.json").display().to_string()
}

/// The parts of a report a server scan must share with a local one.
fn verdict_of(report: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "status": report["verdict"]["status"],
        "findings": report["findings"],
        "summary": report["summary"],
        "coverage": report["coverage"],
        "sbom": report["sbom"]["components"],
    })
}

#[test]
fn sbom_scans_on_the_server_match_local_scans_and_count_against_the_quota() {
    let server = Server::start(&["--runners", "1"]);
    let token = server.token(None);
    let quota = stella(&[
        "quota",
        "--server",
        &server.base,
        "--token",
        &token,
        "-o",
        "json",
    ]);
    assert_eq!(quota.status.code(), Some(0), "{}", stderr(&quota));
    assert_eq!(json(&quota)["used"], 0);

    let remote = stella(&[
        "scan",
        "--sbom",
        &demo_sbom(),
        "--server",
        &server.base,
        "--token",
        &token,
        "-o",
        "json",
    ]);
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    let local = stella(&[
        "scan",
        "--sbom",
        &demo_sbom(),
        "--db",
        &server.db(),
        "-o",
        "json",
    ]);
    assert_eq!(local.status.code(), Some(0), "{}", stderr(&local));
    let (remote, local) = (json(&remote), json(&local));
    assert_eq!(remote["schemaVersion"], "2");
    assert_eq!(remote["verdict"]["status"], "warn");
    assert!(remote["findings"].as_array().is_some_and(|f| !f.is_empty()));
    assert_eq!(verdict_of(&remote), verdict_of(&local));

    // Table output, with the server and token from the environment.
    let table = stella_env(
        &["scan", "--sbom", &demo_sbom(), "--namespace", "shop"],
        &[("STELLA_SERVER", &server.base), ("STELLA_TOKEN", &token)],
    );
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let local_table = stella(&["scan", "--sbom", &demo_sbom(), "--db", &server.db()]);
    let last = |o: &Output| stdout(o).lines().last().map(str::to_owned);
    assert!(
        stdout(&table).contains("verdict: WARN"),
        "{}",
        stdout(&table)
    );
    assert_eq!(last(&table), last(&local_table));
    // SARIF renders from the same report.
    let sarif = stella(&[
        "scan",
        "--sbom",
        &demo_sbom(),
        "--server",
        &server.base,
        "--token",
        &token,
        "-o",
        "sarif",
    ]);
    assert_eq!(sarif.status.code(), Some(0), "{}", stderr(&sarif));
    assert_eq!(json(&sarif)["version"], "2.1.0");

    let quota = stella(&["quota", "--server", &server.base, "--token", &token]);
    assert_eq!(quota.status.code(), Some(0), "{}", stderr(&quota));
    let text = stdout(&quota);
    assert!(
        text.lines()
            .any(|l| l.starts_with("used today") && l.ends_with(" 3")),
        "{text}"
    );
    assert!(text.contains("daily limit  333"), "{text}");

    // A bad token and a flag the server does not take: exit 2, with a clear message.
    let bad = stella(&[
        "scan",
        "--sbom",
        &demo_sbom(),
        "--server",
        &server.base,
        "--token",
        "nope",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("HTTP 401"), "{}", stderr(&bad));
    let flags = stella(&[
        "scan",
        "--sbom",
        &demo_sbom(),
        "--server",
        &server.base,
        "--token",
        &token,
        "--fail-on",
        "high",
    ]);
    assert_eq!(flags.status.code(), Some(2));
    assert!(stderr(&flags).contains("--fail-on"), "{}", stderr(&flags));
    // No server listening: a network error, exit 2.
    let down = stella(&["quota", "--server", "http://127.0.0.1:9", "--token", &token]);
    assert_eq!(down.status.code(), Some(2));
    assert!(stderr(&down).contains("cannot reach"), "{}", stderr(&down));
}

#[test]
fn the_scan_after_the_quota_exits_4_and_says_when_it_resets() {
    let server = Server::start(&["--runners", "1", "--free-tier-limit", "1"]);
    let token = server.token(Some("scan"));
    let args = [
        "scan",
        "--sbom",
        &demo_sbom(),
        "--server",
        &server.base,
        "--token",
        &token,
        "-o",
        "json",
    ];
    let first = stella(&args);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = stella(&args);
    assert_eq!(second.status.code(), Some(4), "{}", stderr(&second));
    let message = stderr(&second);
    assert!(message.contains("quota exceeded (HTTP 429)"), "{message}");
    assert!(message.contains("resets at"), "{message}");
    assert!(message.contains("Retry-After: "), "{message}");
    assert!(second.stdout.is_empty());
    let quota = json(&stella(&[
        "quota",
        "--server",
        &server.base,
        "--token",
        &token,
        "-o",
        "json",
    ]));
    assert_eq!(quota["used"], 1);
    assert_eq!(quota["remaining"], 0);
    assert_eq!(quota["limit"], 1);
}

#[test]
fn offline_tokens_are_issued_to_admins_only() {
    let server = Server::start(&["--runners", "0"]);
    let admin = server.token(None);
    let out = stella(&[
        "token",
        "offline",
        "--server",
        &server.base,
        "--token",
        &admin,
        "--subject",
        "air-gapped",
        "--tier",
        "Team",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let answer = json(&out);
    let offline = answer["token"].as_str().expect("token").to_owned();
    assert!(answer["expiresAt"].is_string());
    // The offline token works: the quota is the subject's, at its tier.
    let quota = json(&stella(&[
        "quota",
        "--server",
        &server.base,
        "--token",
        &offline,
        "-o",
        "json",
    ]));
    assert_eq!(quota["subject"], "air-gapped");
    assert_eq!(quota["tier"], "Team");
    assert_eq!(quota["used"], 0);
    // A scan-only token may not issue them.
    let scan_only = server.token(Some("scan"));
    let out = stella(&[
        "token",
        "offline",
        "--server",
        &server.base,
        "--token",
        &scan_only,
        "--subject",
        "x",
        "--tier",
        "Free",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("HTTP 403"), "{}", stderr(&out));
    // A wrong client secret: exit 2.
    let out = stella(&[
        "token",
        "request",
        "--server",
        &server.base,
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        "wrong-secret-wrong-secret",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
}

/// The real OCI test image (built once by `e2e/images/build.sh`).
fn image() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("e2e/images/build.sh"))
            .output()
            .expect("run e2e/images/build.sh");
        assert!(out.status.success(), "{}", stderr(&out));
        PathBuf::from(stdout(&out).lines().last().expect("image dir").trim())
    })
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Image 2: image 1's first five layers (its base: OS, apt, pip, npm, Rust app) and a
/// new sixth layer instead of the deletions, in a new OCI layout (blobs hard-linked).
fn second_image(at: &Path) -> PathBuf {
    let oci = image().join("oci");
    let blob = |digest: &str| {
        oci.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let read_json = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json")
    };
    let index = read_json(oci.join("index.json"));
    let mut manifest = read_json(blob(
        index["manifests"][0]["digest"].as_str().expect("digest"),
    ));
    let mut config = read_json(blob(manifest["config"]["digest"].as_str().expect("config")));

    let layout = at.join("oci");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let put = |bytes: &[u8]| -> String {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), bytes).expect("blob");
        digest
    };

    // The new layer: one file.
    let mut tar = tar::Builder::new(Vec::new());
    let content = b"built by the delta test\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "etc/stella-delta-test", &content[..])
        .expect("tar");
    let tar = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let layer_digest = put(&gz);

    let mut layers = manifest["layers"].as_array().expect("layers").clone();
    assert_eq!(layers.len(), 6);
    for l in &layers[..5] {
        let d = l["digest"].as_str().expect("digest");
        let to = blobs.join(d.trim_start_matches("sha256:"));
        if std::fs::hard_link(blob(d), &to).is_err() {
            std::fs::copy(blob(d), &to).expect("copy layer");
        }
    }
    layers.truncate(5);
    layers.push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
        "digest": layer_digest,
        "size": gz.len(),
    }));
    let mut diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .expect("diff_ids")
        .clone();
    diff_ids.truncate(5);
    diff_ids.push(serde_json::json!(sha256(&tar)));
    config["rootfs"]["diff_ids"] = serde_json::json!(diff_ids);
    let mut history = config["history"].as_array().expect("history").clone();
    history.truncate(history.len() - 1);
    history.push(serde_json::json!({ "created_by": "delta test layer" }));
    config["history"] = serde_json::json!(history);
    let config_bytes = serde_json::to_vec(&config).expect("config");
    manifest["config"]["digest"] = serde_json::json!(put(&config_bytes));
    manifest["config"]["size"] = serde_json::json!(config_bytes.len());
    manifest["layers"] = serde_json::json!(layers);
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest");
    let manifest_digest = put(&manifest_bytes);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "annotations": { "org.opencontainers.image.ref.name": "app2" },
        }],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).expect("index"),
    )
    .expect("index.json");
    layout
}

/// `N layers: U uploaded, K already known` from the CLI's stderr.
fn layer_counts(out: &Output) -> (usize, usize, usize) {
    let text = stderr(out);
    let line = text
        .lines()
        .find(|l| l.contains("already known to the server"))
        .unwrap_or_else(|| panic!("no layer count in {text}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    match numbers.as_slice() {
        [total, uploaded, known] => (*total, *uploaded, *known),
        _ => panic!("unexpected line {line}"),
    }
}

#[test]
fn images_upload_only_the_layers_the_server_lacks() {
    let server = Server::start(&["--runners", "1"]);
    let token = server.token(Some("scan"));
    let work = tempfile::Builder::new()
        .prefix("delta-")
        .tempdir_in(image())
        .expect("tempdir");
    let image1 = format!("oci-dir:{}:app", image().join("oci").display());
    let image2 = format!("oci-dir:{}:app2", second_image(work.path()).display());
    let scan = |spec: &str| {
        stella(&[
            "scan",
            spec,
            "--server",
            &server.base,
            "--token",
            &token,
            "-o",
            "json",
        ])
    };

    let first = scan(&image1);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(layer_counts(&first), (6, 6, 0));
    assert_eq!(
        server.metric("stella_layer_lookups_total{value=\"miss\"}"),
        6.0
    );
    assert_eq!(
        server.metric("stella_layer_lookups_total{value=\"hit\"}"),
        0.0
    );

    let second = scan(&image2);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert_eq!(layer_counts(&second), (6, 1, 5));
    assert_eq!(
        server.metric("stella_layer_lookups_total{value=\"hit\"}"),
        5.0
    );
    assert_eq!(
        server.metric("stella_layer_lookups_total{value=\"miss\"}"),
        7.0
    );

    // The same verdict as a local scan of each image on the same DB.
    for (spec, remote) in [(&image1, &first), (&image2, &second)] {
        let local = stella(&["scan", spec, "--db", &server.db(), "-o", "json"]);
        assert_eq!(local.status.code(), Some(0), "{}", stderr(&local));
        let (remote, local) = (json(remote), json(&local));
        assert_eq!(verdict_of(&remote), verdict_of(&local), "{spec}");
    }
    // The pinned vulnerable packages of the image are found through the server too.
    let report = json(&second);
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    for id in ["CVE-2022-24999", "CVE-2023-45803", "CVE-2022-24713"] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }

    // Scanning image 1 again uploads nothing.
    let again = scan(&image1);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(layer_counts(&again), (6, 0, 6));
}

/// Runs openssl (a test CA and server certificate for 127.0.0.1).
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (needed to make the test certificates)");
    assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
}

#[test]
fn https_servers_are_trusted_through_ca_cert() {
    let pki = tempfile::tempdir().expect("tempdir");
    let dir = pki.path();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=stella test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
    let cert = dir.join("server.pem").display().to_string();
    let key = dir.join("server.key").display().to_string();
    let server = Server::start(&["--runners", "0", "--tls-cert", &cert, "--tls-key", &key]);
    let https = server.base.replace("http://", "https://");
    let ca = dir.join("ca.pem").display().to_string();
    let request = |extra: &[&str]| {
        let mut args = vec![
            "token",
            "request",
            "--server",
            &https,
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
        ];
        args.extend(extra);
        stella(&args)
    };
    let trusted = request(&["--ca-cert", &ca]);
    assert_eq!(trusted.status.code(), Some(0), "{}", stderr(&trusted));
    assert_eq!(stdout(&trusted).trim().split('.').count(), 3);
    let untrusted = request(&[]);
    assert_eq!(untrusted.status.code(), Some(2));
    assert!(
        stderr(&untrusted).contains("UnknownIssuer"),
        "{}",
        stderr(&untrusted)
    );
}
