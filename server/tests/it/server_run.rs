//! Running the real `stella-server` binary for API tests: a server on a free loopback
//! port (embedded stores, or a real redis-server), the demo advisory DB, a bootstrap
//! client, and an HTTP client.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use stella_core::advisory_db::AdvisoryDb;
use stella_core::import::{ImportLimits, discover, import};

/// The bootstrap client every test server registers (Free tier, all scopes).
pub const CLIENT_ID: &str = "ci-pipeline";
/// Its secret.
pub const CLIENT_SECRET: &str = "s3cret-for-tests-only-0123";

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the demo advisory DB (`data/demo/advisories`) at `path`.
pub fn demo_db(path: &Path) {
    let sources = discover(&[repo().join("data/demo/advisories")]).expect("discover");
    let mut db = AdvisoryDb::open(path).expect("db");
    import(&mut db, &sources, &ImportLimits::default(), |_| {}).expect("import");
}

/// The demo SBOM (CycloneDX, with Log4Shell and friends).
pub fn demo_sbom() -> Vec<u8> {
    std::fs::read(repo().join("data/demo/sbom.cdx.json")).expect("demo sbom")
}

/// A running server process.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its data directory (kept while the handle lives).
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts `stella-server` with the demo DB, the bootstrap client and `args`.
    pub fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("data dir");
        demo_db(&dir.path().join("advisories.db"));
        Self::start_in(dir, args)
    }

    /// Starts `stella-server` on an existing data directory.
    pub fn start_in(dir: tempfile::TempDir, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stella-server"))
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
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
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

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        wait_timeout(&mut self.child, Duration::from_secs(30))
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Server {
    /// Takes the data directory out (to start another server on it after this one).
    pub fn take_dir(&mut self) -> tempfile::TempDir {
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("dir"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client (plain HTTP on loopback).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// A token for the bootstrap client (client-credentials grant).
pub async fn token(http: &reqwest::Client, server: &Server) -> String {
    token_with(http, server, None).await
}

/// A token with `scope` (space-separated), or all the client's scopes.
pub async fn token_with(http: &reqwest::Client, server: &Server, scope: Option<&str>) -> String {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let response = http
        .post(server.url("/connect/token"))
        .form(&form)
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200, "token: {:?}", response.text().await);
    let body: serde_json::Value = response.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// Queues a scan of the demo SBOM (`POST /scan?async=true&QUERY`); returns its id.
pub async fn queue_scan(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    query: &str,
) -> String {
    let r = http
        .post(server.url(&format!("/api/v1/scan?async=true{query}")))
        .bearer_auth(token)
        .body(demo_sbom())
        .send()
        .await
        .expect("scan");
    assert_eq!(r.status(), 202);
    let accepted: serde_json::Value = r.json().await.expect("json");
    accepted["id"].as_str().expect("id").to_owned()
}

/// The scan's record (`GET /scan/{id}`).
pub async fn scan_record(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    id: &str,
) -> serde_json::Value {
    http.get(server.url(&format!("/api/v1/scan/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

/// Polls the scan's record until its status is one of `statuses` (panics after `limit`).
pub async fn wait_for_status(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    id: &str,
    statuses: &[&str],
    limit: Duration,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let rec = scan_record(http, server, token, id).await;
        if statuses.iter().any(|s| rec["status"] == *s) {
            return rec;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "scan never reached {statuses:?}: {rec}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
