//! The stella-server API end to end, on the real binary: tokens, scans (synchronous and
//! queued, with their event streams), the quota's 429, policy and mutes, layers,
//! health and metrics. Embedded stores here; `server_redis.rs` runs on Redis.

use crate::server_run::{
    CLIENT_ID, CLIENT_SECRET, Server, client, demo_db, demo_sbom, queue_scan, repo, scan_record,
    token, token_with,
};
use chrono::{Timelike, Utc};

/// Seconds from `now` to the next UTC midnight.
fn to_midnight() -> i64 {
    let now = Utc::now();
    86_400 - i64::from(now.num_seconds_from_midnight())
}

#[tokio::test(flavor = "multi_thread")]
async fn scans_count_against_the_quota_and_the_next_one_gets_429() {
    let server = Server::start(&["--free-tier-limit", "3", "--runners", "0"]);
    let http = client();
    let token = token(&http, &server).await;
    for i in 0..3 {
        let r = scan_now(&http, &server, &token).await;
        assert_eq!(r.status(), 200, "scan {i}");
        let report: serde_json::Value = r.json().await.expect("report");
        // The demo SBOM has findings; with the default policy they warn.
        assert_eq!(report["schemaVersion"], "2");
        assert_eq!(report["verdict"]["status"], "warn");
        assert!(report["summary"]["findings"].as_u64().expect("findings") > 0);
    }
    let r = http
        .post(server.url("/api/v1/scan"))
        .bearer_auth(&token)
        .body(demo_sbom())
        .send()
        .await
        .expect("scan");
    assert_eq!(r.status(), 429);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!(
        (retry - to_midnight()).abs() <= 5,
        "Retry-After {retry} vs {}",
        to_midnight()
    );
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"], "quota_exceeded");
    assert_eq!(body["details"]["limit"], 3);
    let reset =
        chrono::DateTime::parse_from_rfc3339(body["details"]["resetAt"].as_str().expect("resetAt"))
            .expect("rfc3339");
    assert_eq!((reset.hour(), reset.minute(), reset.second()), (0, 0, 0));
    assert_eq!(
        reset.date_naive(),
        (Utc::now() + chrono::Duration::seconds(to_midnight())).date_naive()
    );

    let quota: serde_json::Value = http
        .get(server.url("/api/v1/quota"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("quota")
        .json()
        .await
        .expect("json");
    assert_eq!(quota["limit"], 3);
    assert_eq!(quota["used"], 3);
    assert_eq!(quota["remaining"], 0);
    assert_eq!(quota["tier"], "Free");
    assert_eq!(quota["subject"], CLIENT_ID);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_sboms_are_400_and_do_not_count() {
    let server = Server::start(&["--free-tier-limit", "1", "--runners", "0"]);
    let http = client();
    let token = token(&http, &server).await;
    for body in [&b"{"[..], b"{\"bomFormat\":\"CycloneDX\"}", b"not json"] {
        let r = http
            .post(server.url("/api/v1/scan"))
            .bearer_auth(&token)
            .body(body.to_vec())
            .send()
            .await
            .expect("scan");
        assert_eq!(r.status(), 400, "{:?}", String::from_utf8_lossy(body));
        let e: serde_json::Value = r.json().await.expect("json");
        assert_eq!(e["error"], "invalid_input");
    }
    let r = http
        .post(server.url("/api/v1/scan"))
        .bearer_auth(&token)
        .body(demo_sbom())
        .send()
        .await
        .expect("scan");
    assert_eq!(r.status(), 200, "the one allowed scan is still there");
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_scopes_and_offline_tokens() {
    let server = Server::start(&["--runners", "0"]);
    let http = client();
    // No token, a garbage token: 401 with a challenge.
    let r = http
        .get(server.url("/api/v1/quota"))
        .send()
        .await
        .expect("quota");
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = http
        .get(server.url("/api/v1/quota"))
        .bearer_auth("not.a.jwt")
        .send()
        .await
        .expect("quota");
    assert_eq!(r.status(), 401);
    // Wrong secret, unknown grant.
    let r = http
        .post(server.url("/connect/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong-secret-000000"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 401);
    let e: serde_json::Value = r.json().await.expect("json");
    assert_eq!(e["error"], "invalid_client");
    let r = http
        .post(server.url("/connect/token"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 400);
    // HTTP Basic client authentication works too; the access token lives 12 h.
    let r = http
        .post(server.url("/connect/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);
    let t: serde_json::Value = r.json().await.expect("json");
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 43_200);
    assert_eq!(t["scope"], "scan policy:write admin");

    // A scan-only token cannot mint offline tokens.
    let scan_only = token_with(&http, &server, Some("scan")).await;
    let r = http
        .post(server.url("/api/v1/token/offline"))
        .bearer_auth(&scan_only)
        .json(&serde_json::json!({"subject": "air-gapped-cluster", "tier": "Free"}))
        .send()
        .await
        .expect("offline");
    assert_eq!(r.status(), 403);
    // An admin can; the offline token verifies with the JWKS alone, no server.
    let admin = token(&http, &server).await;
    let r = http
        .post(server.url("/api/v1/token/offline"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"subject": "air-gapped-cluster", "tier": "Free"}))
        .send()
        .await
        .expect("offline");
    assert_eq!(r.status(), 200);
    let offline: serde_json::Value = r.json().await.expect("json");
    let jwks_bytes = http
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .bytes()
        .await
        .expect("bytes");
    drop(server);
    let jwks = stella_core::identity::keys::Jwks::parse(&jwks_bytes).expect("jwks");
    let identity = stella_core::identity::token::verify_with_jwks(
        offline["token"].as_str().expect("token"),
        &jwks,
        "stella-core",
        "stella",
        Utc::now(),
    )
    .expect("offline verification");
    assert_eq!(identity.subject, "air-gapped-cluster");
    assert_eq!(identity.max_scans_per_day, 333);
    let days = (identity.expires_at - Utc::now()).num_days();
    assert!((29..=30).contains(&days), "{days} days");
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_scans_stream_their_progress_and_keep_the_report() {
    let server = Server::start(&["--runners", "1"]);
    let http = client();
    let token = token(&http, &server).await;
    let id = queue_scan(&http, &server, &token, "&namespace=shop").await;
    // NDJSON (the default): one event per line, ending with done.
    let text = http
        .get(server.url(&format!("/api/v1/scan/{id}/events")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("events")
        .text()
        .await
        .expect("text");
    let kinds: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("event json")["kind"]
                .as_str()
                .expect("kind")
                .to_owned()
        })
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("queued"));
    assert!(kinds.contains(&"started".to_owned()), "{kinds:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("done"), "{kinds:?}");
    // SSE: the same events as `event:` frames.
    let r = http
        .get(server.url(&format!("/api/v1/scan/{id}/events")))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("events");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/event-stream")
    );
    let sse = r.text().await.expect("text");
    assert!(
        sse.contains("event: queued") && sse.contains("event: done"),
        "{sse}"
    );
    let record = scan_record(&http, &server, &token, &id).await;
    assert_eq!(record["status"], "done");
    assert_eq!(record["report"]["verdict"]["status"], "warn");
    // Unknown ids are 404.
    let r = http
        .get(server.url("/api/v1/scan/00000000-0000-4000-8000-000000000000"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_versions_mutes_and_audit() {
    let server = Server::start(&["--runners", "0"]);
    let http = client();
    let token = token(&http, &server).await;
    let scan = |ns: &'static str| {
        let http = http.clone();
        let token = token.clone();
        let url = server.url(&format!("/api/v1/scan?namespace={ns}"));
        async move {
            http.post(url)
                .bearer_auth(token)
                .body(demo_sbom())
                .send()
                .await
                .expect("scan")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let default: serde_json::Value = http
        .get(server.url("/api/v1/policy"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("policy")
        .json()
        .await
        .expect("json");
    assert_eq!(default["version"], serde_json::Value::Null);
    // A broken policy is refused with its path; validate says why.
    let bad = "schemaVersion: 1\nname: x\nrules:\n  - name: r\n    action: explode\n";
    let r = http
        .put(server.url("/api/v1/policy"))
        .bearer_auth(&token)
        .body(bad)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = http
        .post(server.url("/api/v1/policy/validate"))
        .bearer_auth(&token)
        .body(bad)
        .send()
        .await
        .expect("validate")
        .json()
        .await
        .expect("json");
    assert_eq!(v["valid"], false);
    assert!(
        v["errors"][0]
            .as_str()
            .expect("error")
            .contains("rules[0].action"),
        "{v}"
    );
    // The CI baseline fails fixable high and critical findings.
    let policy =
        std::fs::read_to_string(repo().join("config/policies/ci-baseline.yaml")).expect("policy");
    let r = http
        .put(server.url("/api/v1/policy"))
        .bearer_auth(&token)
        .body(policy)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    let stored: serde_json::Value = r.json().await.expect("json");
    assert_eq!(stored["version"], 1);
    let report = scan("shop").await;
    assert_eq!(report["verdict"]["policy"]["digest"], stored["digest"]);
    assert_eq!(
        report["verdict"]["status"], "fail",
        "{}",
        report["verdict"]["status"]
    );
    let failing: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["action"] == "fail")
        .map(|f| f["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(!failing.is_empty());
    // Mute every failing finding: the verdict no longer fails, and says who muted.
    let mut ids = Vec::new();
    for id in &failing {
        let r = http
            .post(server.url("/api/v1/policy/mute"))
            .bearer_auth(&token)
            .json(
                &serde_json::json!({"id": id, "reason": "accepted risk", "expires": "2099-01-01"}),
            )
            .send()
            .await
            .expect("mute");
        assert_eq!(r.status(), 201);
        let m: serde_json::Value = r.json().await.expect("json");
        assert_eq!(m["rule"]["author"], CLIENT_ID);
        ids.push(m["id"].as_str().expect("id").to_owned());
    }
    let report = scan("shop").await;
    assert_ne!(report["verdict"]["status"], "fail");
    assert!(report["summary"]["muted"].as_u64().expect("muted") >= failing.len() as u64);
    // Remove them again: the verdict fails again.
    for id in &ids {
        let r = http
            .delete(server.url(&format!("/api/v1/policy/mute/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("delete");
        assert_eq!(r.status(), 204);
    }
    assert_eq!(scan("shop").await["verdict"]["status"], "fail");
    let r = http
        .delete(server.url(&format!("/api/v1/policy/mute/{}", ids[0])))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 404);
    // Every change is in the audit trail, newest first.
    let audit: Vec<serde_json::Value> = http
        .get(server.url("/api/v1/policy/audit"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    assert_eq!(audit.len(), 1 + 2 * ids.len());
    assert_eq!(audit.last().expect("first")["kind"], "policy");
    assert_eq!(audit[0]["record"]["change"], "removed");
    assert!(audit.iter().all(|a| a["actor"] == CLIENT_ID));
    // A scan-only token cannot change the policy.
    let scan_only = token_with(&http, &server, Some("scan")).await;
    let r = http
        .post(server.url("/api/v1/policy/mute"))
        .bearer_auth(&scan_only)
        .json(&serde_json::json!({"id": "CVE-2021-44228"}))
        .send()
        .await
        .expect("mute");
    assert_eq!(r.status(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn layer_endpoints_validate_their_input() {
    let server = Server::start(&["--runners", "0"]);
    let http = client();
    let token = token(&http, &server).await;
    let a = format!("sha256:{}", "a".repeat(64));
    let b = format!("sha256:{}", "b".repeat(64));
    let r = http
        .post(server.url("/api/v1/layers/missing"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"layers": [a, b, a]}))
        .send()
        .await
        .expect("missing");
    assert_eq!(r.status(), 200);
    let m: serde_json::Value = r.json().await.expect("json");
    assert_eq!(m["missing"], serde_json::json!([a, b]));
    for bad in [
        serde_json::json!({"layers": ["sha256:xyz"]}),
        serde_json::json!({"layer": []}),
    ] {
        let r = http
            .post(server.url("/api/v1/layers/missing"))
            .bearer_auth(&token)
            .json(&bad)
            .send()
            .await
            .expect("missing");
        assert_eq!(r.status(), 400, "{bad}");
    }
    // Not a fragment, and a digest that is not one.
    let r = http
        .put(server.url(&format!("/api/v1/layers/{a}")))
        .bearer_auth(&token)
        .body(b"garbage".to_vec())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    let r = http
        .put(server.url("/api/v1/layers/sha256:short"))
        .bearer_auth(&token)
        .body(b"garbage".to_vec())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    // A manifest naming layers the server lacks: 409 listing them.
    let manifest = serde_json::json!({
        "schema": "stella.layer-manifest/v1",
        "image": {"name": "registry.example/app:1"},
        "selection": stella_core::delta::selection_id(&stella_core::inventory::analyzer::all()),
        "layers": [a, b],
    });
    let r = http
        .post(server.url("/api/v1/scan"))
        .bearer_auth(&token)
        .header("content-type", "application/vnd.stella.layer-manifest+json")
        .json(&manifest)
        .send()
        .await
        .expect("scan");
    assert_eq!(r.status(), 409);
    let e: serde_json::Value = r.json().await.expect("json");
    assert_eq!(e["details"]["missing"], serde_json::json!([a, b]));
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_answer_the_documented_json_errors() {
    let server = Server::start(&["--runners", "0"]);
    let http = client();
    let token = token(&http, &server).await;
    // Query, JSON-body and content-type rejections: 400 with the JSON ErrorBody, not
    // axum's text/plain (and not its 415 / 422, which the document does not list).
    let bad_query = http
        .get(server.url("/api/v1/policy/audit?limit=-1"))
        .bearer_auth(&token);
    let bad_flag = http
        .post(server.url("/api/v1/scan?async=maybe"))
        .bearer_auth(&token)
        .body(demo_sbom());
    let no_content_type = http
        .post(server.url("/api/v1/token/offline"))
        .bearer_auth(&token)
        .body(r#"{"subject":"a","tier":"Free"}"#);
    let wrong_shape = http
        .post(server.url("/api/v1/token/offline"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"subject": 7}));
    for (what, request) in [
        ("query", bad_query),
        ("async flag", bad_flag),
        ("content type", no_content_type),
        ("body shape", wrong_shape),
    ] {
        let r = request.send().await.expect(what);
        assert_eq!(r.status(), 400, "{what}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .expect("text")
                .starts_with("application/json"),
            "{what}"
        );
        let e: serde_json::Value = r.json().await.expect("json");
        assert_eq!(e["error"], "invalid_request", "{what}");
        assert!(
            !e["message"].as_str().expect("message").is_empty(),
            "{what}"
        );
    }
    // Out of the documented range: refused rather than clamped.
    let r = http
        .get(server.url("/api/v1/policy/audit?limit=5000"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("audit");
    assert_eq!(r.status(), 400);
    // A wrong method keeps 405 and its Allow header, with a JSON body.
    let r = http
        .delete(server.url("/api/v1/quota"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 405);
    assert!(r.headers().contains_key("allow"));
    let e: serde_json::Value = r.json().await.expect("json");
    assert_eq!(e["error"], "method_not_allowed");
    // The token endpoint answers an unreadable form as an OAuth error.
    let r = http
        .post(server.url("/connect/token"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.expect("json");
    assert_eq!(e["error"], "invalid_request");
    assert!(e["error_description"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_metrics_and_shutdown() {
    let server = Server::start(&["--runners", "0"]);
    let http = client();
    let token = token(&http, &server).await;
    assert_eq!(
        http.get(server.url("/healthz"))
            .send()
            .await
            .expect("h")
            .status(),
        200
    );
    let ready = http.get(server.url("/readyz")).send().await.expect("r");
    assert_eq!(ready.status(), 200);
    let r = http
        .post(server.url("/api/v1/scan"))
        .bearer_auth(&token)
        .header("x-request-id", "req-42")
        .body(demo_sbom())
        .send()
        .await
        .expect("scan");
    assert_eq!(
        r.headers()["x-request-id"],
        "req-42",
        "request ids are echoed"
    );
    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for needle in [
        "stella_http_request_duration_seconds_bucket{",
        "route=\"/api/v1/scan\"",
        "stella_scans_total{value=\"warn\"} 1",
        "stella_quota_rejections_total 0",
        "stella_queue_depth 0",
    ] {
        assert!(metrics.contains(needle), "{needle} not in:\n{metrics}");
    }
    // SIGTERM: the process drains and exits cleanly.
    let mut server = server;
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_fails_without_an_advisory_db() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start_in(dir, &["--runners", "0"]);
    let http = client();
    let r = http.get(server.url("/readyz")).send().await.expect("r");
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["checks"][0]["name"], "advisory-db");
    assert_ne!(body["checks"][0]["status"], "ok");
}

#[test]
fn the_committed_openapi_document_is_current() {
    let committed = std::fs::read_to_string(repo().join("docs/openapi.json")).unwrap_or_default();
    let generated = stella_server::api::openapi::document();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run `cargo run -p stella-server -- openapi > docs/openapi.json`"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    for path in [
        "/api/v1/scan",
        "/api/v1/layers/missing",
        "/connect/token",
        "/api/v1/quota",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} undocumented");
    }
}

/// A synchronous scan of the demo SBOM (`POST /scan`).
async fn scan_now(http: &reqwest::Client, server: &Server, token: &str) -> reqwest::Response {
    http.post(server.url("/api/v1/scan"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(demo_sbom())
        .send()
        .await
        .expect("scan")
}

/// The caller's `used` scans today (`GET /quota`).
async fn quota_used(http: &reqwest::Client, server: &Server, token: &str) -> u64 {
    let quota: serde_json::Value = http
        .get(server.url("/api/v1/quota"))
        .bearer_auth(token)
        .send()
        .await
        .expect("quota")
        .json()
        .await
        .expect("json");
    quota["used"].as_u64().expect("used")
}

/// Scans the server could not run (no advisory DB: 503) leave the quota unspent,
/// also past the limit; once the DB is there, a scan that runs counts once.
#[tokio::test(flavor = "multi_thread")]
async fn scans_that_could_not_run_do_not_use_the_quota() {
    let dir = tempfile::tempdir().expect("data dir");
    let server = Server::start_in(dir, &["--free-tier-limit", "2", "--runners", "0"]);
    let http = client();
    let token = token(&http, &server).await;
    for i in 0..5 {
        let r = scan_now(&http, &server, &token).await;
        assert_eq!(r.status(), 503, "scan {i} without an advisory DB");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["error"], "unavailable");
    }
    assert_eq!(quota_used(&http, &server, &token).await, 0);

    demo_db(&server.dir.path().join("advisories.db"));
    let r = scan_now(&http, &server, &token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(quota_used(&http, &server, &token).await, 1);
}

/// A queued scan that never runs (no advisory DB, its attempts used up) is refunded
/// once its job is given up.
#[tokio::test(flavor = "multi_thread")]
async fn queued_scans_that_could_not_run_are_refunded() {
    let dir = tempfile::tempdir().expect("data dir");
    let server = Server::start_in(dir, &["--runners", "1", "--job-attempts", "2"]);
    let http = client();
    let token = token(&http, &server).await;
    let id = queue_scan(&http, &server, &token, "").await;
    let record = crate::server_run::wait_for_status(
        &http,
        &server,
        &token,
        &id,
        &["failed", "done"],
        std::time::Duration::from_secs(60),
    )
    .await;
    assert_eq!(record["status"], "failed", "{record}");
    // The runner marks the record failed, then refunds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while quota_used(&http, &server, &token).await != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the dead job was not refunded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
