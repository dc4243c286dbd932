//! API keys over HTTP: write keys send events and nothing else, secret keys reach every
//! endpoint, revoked keys get 401, keys added by another process (`tailor keys add`) work
//! without a restart, per-key rate limits answer 429 with Retry-After, and a server that
//! would listen off loopback without keys refuses to start.

use crate::common;

use std::time::{Duration, Instant};

use common::{config, start, TestServer};
use serde_json::{json, Value};
use tailor_server::auth::{KeyStore, Kind, NewKey};

async fn call(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let mut req = s.http.request(method, format!("{}{path}", s.url));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, resp.json().await.unwrap_or(Value::Null), retry)
}

fn event(user: &str, n: usize) -> Value {
    json!({"type": "track", "event": "Product Viewed", "userId": user,
           "messageId": format!("{user}-{n}"), "properties": {"product_id": format!("p{n}")}})
}

async fn create(s: &TestServer, key: Option<&str>, body: Value) -> (String, String) {
    let (status, out, _) = call(s, reqwest::Method::POST, "/v1/admin/keys", key, Some(body)).await;
    assert_eq!(status, 201, "{out}");
    (
        out["key"].as_str().expect("key").to_owned(),
        out["id"].as_str().expect("id").to_owned(),
    )
}

#[tokio::test]
async fn scopes_revocation_reload_and_rate_limits() {
    use reqwest::Method as M;
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(config(dir.path())).await;

    // No keys yet: everything is open on loopback; the first keys are made through the API.
    let (write, write_id) = create(&s, None, json!({"kind": "write", "name": "shop page"})).await;
    let (secret, _) = create(&s, None, json!({"kind": "secret", "name": "backend"})).await;
    let (status, out, _) = call(
        &s,
        M::POST,
        "/v1/admin/keys",
        None,
        Some(json!({"kind": "write", "name": "x"})),
    )
    .await;
    assert_eq!(status, 401, "a secret key exists now: {out}");

    // The write key sends events (header or body) and cannot read anything.
    let (status, out, _) = call(
        &s,
        M::POST,
        "/v1/batch",
        Some(&write),
        Some(json!({"batch": [event("u1", 1)]})),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let (status, _, _) = call(
        &s,
        M::POST,
        "/v1/batch",
        None,
        Some(json!({"batch": [event("u1", 2)], "writeKey": write})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, out, _) = call(
        &s,
        M::POST,
        "/v1/batch",
        None,
        Some(json!({"batch": [event("u1", 3)]})),
    )
    .await;
    assert_eq!(status, 401, "no key: {out}");
    for path in [
        "/v1/recommendations?user_id=u1",
        "/v1/features/user/u1",
        "/v1/models",
        "/v1/admin/keys",
    ] {
        let (status, out, _) = call(&s, M::GET, path, Some(&write), None).await;
        assert_eq!(status, 403, "{path} with a write key: {out}");
        assert!(
            out["message"]
                .as_str()
                .expect("message")
                .contains("write key"),
            "{out}"
        );
        let (status, _, _) = call(&s, M::GET, path, None, None).await;
        assert_eq!(status, 401, "{path} without a key");
        let (status, out, _) = call(&s, M::GET, path, Some(&secret), None).await;
        assert!(
            status == 200 || status == 404,
            "{path} with the secret key: {status} {out}"
        );
    }
    let (status, _, _) = call(
        &s,
        M::POST,
        "/v1/sql",
        Some(&write),
        Some(json!({"sql": "select 1"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = call(&s, M::GET, "/v1/status", None, None).await;
    assert_eq!(status, 200, "status stays public");

    // The key file holds hashes only.
    let text = std::fs::read_to_string(dir.path().join("keys.json")).expect("key file");
    assert!(!text.contains(&write) && !text.contains(&secret));

    // A key added by another process is accepted without a restart.
    let store = KeyStore::new(dir.path());
    let (widget, _) = store
        .add(
            Kind::Write,
            &NewKey {
                name: "widget".into(),
                recommend: true,
                ..NewKey::default()
            },
            0,
        )
        .expect("add");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, _) = call(
            &s,
            M::GET,
            "/v1/recommendations?user_id=u1",
            Some(&widget),
            None,
        )
        .await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new key was not picked up: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _, _) = call(&s, M::GET, "/v1/features/user/u1", Some(&widget), None).await;
    assert_eq!(status, 403, "a widget key reads recommendations only");

    // Revoked through the API: 401 at once, in the header and in the body.
    let (status, out, _) = call(
        &s,
        M::DELETE,
        &format!("/v1/admin/keys/{write_id}"),
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert!(out["revoked_ms"].is_i64(), "{out}");
    let (status, out, _) = call(
        &s,
        M::POST,
        "/v1/batch",
        Some(&write),
        Some(json!({"batch": [event("u1", 4)]})),
    )
    .await;
    assert_eq!(status, 401, "{out}");
    assert!(
        out["message"]
            .as_str()
            .expect("message")
            .contains("revoked"),
        "{out}"
    );
    let (status, _, _) = call(
        &s,
        M::POST,
        "/v1/t",
        None,
        Some(json!({"type": "track", "event": "x", "userId": "u", "writeKey": write})),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = call(
        &s,
        M::DELETE,
        "/v1/admin/keys/w_nothere",
        Some(&secret),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, out, _) = call(
        &s,
        M::POST,
        "/v1/admin/keys",
        Some(&secret),
        Some(json!({"kind": "admin", "name": "x"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        out["message"].as_str().expect("message").contains("kind"),
        "{out}"
    );

    // Rate limit: a burst of 3, then 429 with Retry-After.
    let (slow, _) = create(
        &s,
        Some(&secret),
        json!({"kind": "write", "name": "slow", "rate_per_sec": 0.2, "burst": 3}),
    )
    .await;
    for n in 0..3 {
        let (status, _, _) = call(
            &s,
            M::POST,
            "/v1/batch",
            Some(&slow),
            Some(json!({"batch": [event("u2", n)]})),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, out, retry) = call(
        &s,
        M::POST,
        "/v1/batch",
        Some(&slow),
        Some(json!({"batch": [event("u2", 9)]})),
    )
    .await;
    assert_eq!(status, 429, "{out}");
    assert_eq!(retry.as_deref(), Some("5"), "{out}");
    let (status, _, _) = call(
        &s,
        M::POST,
        "/v1/batch",
        Some(&secret),
        Some(json!({"batch": [event("u2", 9)]})),
    )
    .await;
    assert_eq!(status, 200, "other keys are not limited by it");

    let (_, list, _) = call(&s, M::GET, "/v1/admin/keys", Some(&secret), None).await;
    let keys = list["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 4);
    assert!(keys
        .iter()
        .all(|k| k.get("key").is_none() && k["sha256"].is_string()));
    let metrics = s.metrics_text().await;
    assert!(
        metrics.contains("tailor_auth_denied_total{reason=\"forbidden\"}"),
        "metrics"
    );
    assert!(
        metrics.contains("tailor_auth_rate_limited_total{kind=\"write\"}"),
        "metrics"
    );
    s.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn refuses_to_listen_off_loopback_without_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.listen = "0.0.0.0:0".into();
    cfg.collector.write_keys = vec!["only-a-write-key".into()];
    let e = tailor_server::start(cfg).await.err().expect("refused");
    assert!(e.to_string().contains("refusing to listen"), "{e}");
}
