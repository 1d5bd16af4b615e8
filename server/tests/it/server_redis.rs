//! The stella-server on a real redis-server: the "done when" — a token,
//! 333 scans admitted, the 334th refused with 429 and Retry-After — a quota shared by
//! two replicas, and a runner killed mid-job whose job another runner completes.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::redis_server::RedisServer;
use crate::server_run::{Server, client, demo_sbom, queue_scan, token, wait_for_status};
use chrono::{Timelike, Utc};

async fn scan(http: &reqwest::Client, server: &Server, token: &str) -> reqwest::Response {
    http.post(server.url("/api/v1/scan"))
        .bearer_auth(token)
        .body(demo_sbom())
        .send()
        .await
        .expect("scan")
}

#[tokio::test(flavor = "multi_thread")]
async fn free_tier_333_scans_then_429_until_midnight() {
    let redis = RedisServer::start();
    // The default Free limit: no --free-tier-limit.
    let server = Server::start(&["--redis-url", &redis.url, "--runners", "0"]);
    let http = client();
    let token = token(&http, &server).await;
    // 16 clients at once, 333 scans in all.
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (http, token, next) = (http.clone(), token.clone(), next.clone());
        let url = server.url("/api/v1/scan");
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 333 {
                let r = http
                    .post(&url)
                    .bearer_auth(&token)
                    .body(demo_sbom())
                    .send()
                    .await
                    .expect("scan");
                assert_eq!(r.status(), 200);
                ok += 1;
            }
            ok
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += t.await.expect("task");
    }
    assert_eq!(admitted, 333);
    let r = scan(&http, &server, &token).await;
    assert_eq!(r.status(), 429, "the 334th scan");
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("int");
    let expected = 86_400 - i64::from(Utc::now().num_seconds_from_midnight());
    assert!(
        (retry - expected).abs() <= 5,
        "Retry-After {retry}, expected ~{expected}"
    );
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"], "quota_exceeded");
    assert_eq!(body["details"]["used"], 333);
    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("m")
        .text()
        .await
        .expect("t");
    assert!(
        metrics.contains("stella_quota_rejections_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("stella_scans_total{value=\"warn\"} 333"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_one_quota() {
    let redis = RedisServer::start();
    let a = Server::start(&[
        "--redis-url",
        &redis.url,
        "--runners",
        "0",
        "--free-tier-limit",
        "5",
    ]);
    // Replica b has its own identity state (keys, the same bootstrap client) and a's
    // advisory DB; the quota lives in Redis, keyed by the token's subject.
    let b = Server::start(&[
        "--redis-url",
        &redis.url,
        "--runners",
        "0",
        "--free-tier-limit",
        "5",
        "--db",
        &a.dir.path().join("advisories.db").display().to_string(),
    ]);
    let http = client();
    let ta = token(&http, &a).await;
    let tb = token(&http, &b).await;
    for _ in 0..3 {
        assert_eq!(scan(&http, &a, &ta).await.status(), 200);
    }
    for _ in 0..2 {
        assert_eq!(scan(&http, &b, &tb).await.status(), 200);
    }
    assert_eq!(scan(&http, &a, &ta).await.status(), 429);
    assert_eq!(scan(&http, &b, &tb).await.status(), 429);
}

/// A `stella-server runner` process on `redis`, matching against `db`.
fn runner(redis: &RedisServer, db: &std::path::Path, extra: &[&str]) -> (Child, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let child = Command::new(env!("CARGO_BIN_EXE_stella-server"))
        .args([
            "runner",
            "--redis-url",
            &redis.url,
            "--runners",
            "1",
            "--log-format",
            "text",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--db")
        .arg(db)
        .args(["--job-claim-idle-seconds", "1"])
        .args(extra)
        .env("STELLA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start runner");
    (child, dir)
}

/// The events of a finished scan (the stream ends after `done` or `failed`).
async fn events(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    id: &str,
) -> Vec<serde_json::Value> {
    let text = http
        .get(server.url(&format!("/api/v1/scan/{id}/events")))
        .bearer_auth(token)
        .send()
        .await
        .expect("events")
        .text()
        .await
        .expect("text");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("event json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_killed_mid_job_leaves_it_to_another_runner() {
    let redis = RedisServer::start();
    // The API process runs no jobs itself.
    let server = Server::start(&["--redis-url", &redis.url, "--runners", "0"]);
    let db = server.dir.path().join("advisories.db");
    let http = client();
    let token = token(&http, &server).await;
    // Runner A pauses 30 s inside every job: it will be killed in there.
    let (mut a, _a_dir) = runner(&redis, &db, &["--fault-job-delay-ms", "30000"]);
    let id = queue_scan(&http, &server, &token, "").await;
    // Wait until A has started the job.
    wait_for_status(
        &http,
        &server,
        &token,
        &id,
        &["running"],
        Duration::from_secs(30),
    )
    .await;
    a.kill().expect("kill runner A");
    a.wait().expect("reap runner A");
    // Runner B takes the job over once it has been idle past the claim timeout.
    let (mut b, _b_dir) = runner(&redis, &db, &[]);
    let rec = wait_for_status(
        &http,
        &server,
        &token,
        &id,
        &["done", "failed"],
        Duration::from_secs(60),
    )
    .await;
    let _ = b.kill();
    let _ = b.wait();
    assert_eq!(rec["status"], "done", "{rec}");
    assert_eq!(rec["attempts"], 2, "{rec}");
    assert_eq!(rec["report"]["verdict"]["status"], "warn");
    let started = events(&http, &server, &token, &id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "started")
        .count();
    assert_eq!(started, 2, "started by A, then by B");
}
