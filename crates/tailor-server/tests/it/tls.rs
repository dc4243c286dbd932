//! TLS termination with rustls (`[tls]`): the server speaks HTTPS with a test certificate
//! (`tests/fixtures/tls`, a throwaway CA); a client that trusts the CA is served, plain HTTP
//! gets no answer, a client that stalls its handshake does not block anyone, and config
//! mistakes are refused with the field named.

use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::config;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = std::fs::read(fixture("ca.pem")).expect("ca");
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_test_certificate() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.tls.cert_file = Some(fixture("cert.pem"));
    cfg.tls.key_file = Some(fixture("key.pem"));
    let server = tailor_server::start(cfg).await.expect("starts with TLS");
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // A client stalls its handshake: others are served all the same.
    let mut stalled = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    stalled
        .write_all(b"\x16\x03\x01")
        .await
        .expect("partial hello");

    let http = client();
    let t = Instant::now();
    let resp = http
        .get(format!("{url}/health"))
        .send()
        .await
        .expect("https");
    assert_eq!(resp.status(), 200);
    assert!(t.elapsed() < Duration::from_secs(5));
    // The collector and the API over HTTPS.
    let resp = http
        .post(format!("{url}/v1/batch"))
        .json(
            &json!({"batch": [{"type": "track", "event": "Product Viewed", "userId": "u1",
            "messageId": "tls-1", "properties": {"product_id": "p1"}}]}),
        )
        .send()
        .await
        .expect("https");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["accepted"], 1, "{body}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
        .get(format!("http://{}/health", server.addr))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.is_ok_and(|r| r.status() != 200),
        "plain HTTP was served"
    );
    // A client that does not trust the CA refuses the server.
    let untrusting = reqwest::Client::builder().build().expect("client");
    assert!(untrusting
        .get(format!("{url}/health"))
        .send()
        .await
        .is_err());
    drop(stalled);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn tls_config_mistakes_name_the_field() {
    let dir = tempfile::tempdir().expect("tmp");
    // (certificate, key, what the error must name)
    let cases: [(Option<&str>, Option<&str>, &[&str]); 4] = [
        (Some("cert.pem"), None, &["tls.key_file"]),
        (
            Some("cert.pem"),
            Some("missing.pem"),
            &["tls.key_file", "missing.pem"],
        ),
        (Some("cert.pem"), Some("cert.pem"), &["tls.key_file"]),
        (Some("README.md"), Some("key.pem"), &["tls.cert_file"]),
    ];
    for (cert, key, named) in cases {
        let mut cfg = config(dir.path());
        cfg.tls.cert_file = cert.map(fixture);
        cfg.tls.key_file = key.map(fixture);
        let e = tailor_server::start(cfg)
            .await
            .err()
            .expect("refused")
            .to_string();
        for n in named {
            assert!(e.contains(n), "{cert:?} / {key:?}: {e}");
        }
    }
}
