//! TLS and shutdown on the real binary: HTTPS with a certificate that is replaced on
//! disk and picked up without a restart, and a SIGTERM that lets a running scan job
//! finish before the process exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::server_run::{Server, client, queue_scan, scan_record, token, wait_for_status};

/// A CA and a P-256 server certificate it signed for 127.0.0.1 and localhost, written
/// to `dir`: (CA certificate, server certificate, server key).
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let path = |suffix: &str| dir.join(format!("{name}-{suffix}")).display().to_string();
    let openssl = |args: &str| {
        let status = Command::new("openssl")
            .args(args.split(' '))
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl (Debian package openssl)");
        assert!(status.success(), "openssl {args}");
    };
    let (ca, ca_key, csr) = (path("ca.crt"), path("ca.key"), path("server.csr"));
    let (cert, key, ext) = (path("server.crt"), path("server.key"), path("server.ext"));
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    openssl(&format!(
        "req -x509 {ec} -days 2 -subj /CN={name}-ca -keyout {ca_key} -out {ca}"
    ));
    openssl(&format!(
        "req -new {ec} -subj /CN=localhost -keyout {key} -out {csr}"
    ));
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(&format!(
        "x509 -req -in {csr} -CA {ca} -CAkey {ca_key} -CAcreateserial -days 2 -extfile {ext} -out {cert}"
    ));
    (ca.into(), cert.into(), key.into())
}

fn trusting(cert: &Path) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(cert).expect("cert");
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("pem")])
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_a_certificate_reloaded_from_disk() {
    let certs = tempfile::tempdir().expect("dir");
    let (ca_a, cert_a, key_a) = certificate(certs.path(), "first");
    let (ca_b, cert_b, key_b) = certificate(certs.path(), "second");
    let live_cert = certs.path().join("tls.crt");
    let live_key = certs.path().join("tls.key");
    std::fs::copy(&cert_a, &live_cert).expect("copy");
    std::fs::copy(&key_a, &live_key).expect("copy");
    let server = Server::start(&[
        "--runners",
        "0",
        "--tls-cert",
        &live_cert.display().to_string(),
        "--tls-key",
        &live_key.display().to_string(),
        "--tls-reload-seconds",
        "1",
    ]);
    let url = server.url("/healthz").replace("http://", "https://");
    let r = trusting(&ca_a)
        .get(&url)
        .send()
        .await
        .expect("https with the first certificate");
    assert_eq!(r.status(), 200);
    assert!(
        trusting(&ca_b).get(&url).send().await.is_err(),
        "not yet the second"
    );
    // Rotate in place, as cert-manager does with a mounted Secret.
    std::fs::copy(&key_b, &live_key).expect("copy");
    std::fs::copy(&cert_b, &live_cert).expect("copy");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(r) = trusting(&ca_b).get(&url).send().await {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        trusting(&ca_a).get(&url).send().await.is_err(),
        "the old certificate is gone"
    );
    // Plain HTTP is not served on the TLS port.
    assert!(client().get(server.url("/healthz")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_running_job_finish() {
    // Each job pauses 2 s after starting: SIGTERM arrives in the middle.
    let server = Server::start(&["--runners", "1", "--fault-job-delay-ms", "2000"]);
    let http = client();
    let first = token(&http, &server).await;
    let id = queue_scan(&http, &server, &first, "").await;
    wait_for_status(
        &http,
        &server,
        &first,
        &id,
        &["running"],
        Duration::from_secs(20),
    )
    .await;
    let mut server = server;
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let dir = server.take_dir();
    drop(server);
    // Restarted on the same data directory: the job finished before the exit.
    let server = Server::start_in(dir, &["--runners", "0"]);
    let second = token(&http, &server).await;
    let rec = scan_record(&http, &server, &second, &id).await;
    assert_eq!(rec["status"], "done", "{rec}");
    assert_eq!(rec["attempts"], 1);
}
