//! The real browser SDKs from npm against Tailor, in headless Chromium (as `browser.rs`):
//! Segment's analytics-next as an npm build and through the snippet, and RudderStack's
//! JavaScript SDK v3 (`tests/browser/sdks.py` serves their pages from another origin). Each is
//! pointed at Tailor with one option (analytics-next `cdnURL`, the snippet `_cdn`, RudderStack
//! `configUrl` beside its `dataPlaneUrl`), fetches its settings from Tailor and sends there;
//! every event a page handed its SDK must be stored. Screenshots:
//! `target/test-artifacts/sdk-*.png`. The settings documents themselves are checked first.

use crate::browser::{artifacts_dir, check_browser, python};
use crate::common;
use crate::sdk::{assert_all_stored, node_modules};

use std::time::Duration;

use common::{config, start};
use serde_json::{json, Value};

const KEY: &str = "browser-key";

#[tokio::test]
async fn the_sdk_settings_documents_point_back_here() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.collector.write_keys = vec![KEY.into()];
    cfg.collector.secret_keys = vec!["sk".into()];
    let s = start(cfg).await;
    let host = s.url.trim_start_matches("http://").to_owned();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut req = s.http.get(format!("{}{path}", s.url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        async move {
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let h = resp.headers().clone();
            (status, h, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let page = [("origin", "http://shop.test")];

    // analytics-next: the Segment.io destination sends here, over the scheme used.
    let (status, h, doc) = get(&format!("/v1/projects/{KEY}/settings"), &page).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(h["access-control-allow-origin"], "http://shop.test");
    assert_eq!(h["cache-control"], "no-cache");
    let io = &doc["integrations"]["Segment.io"];
    assert_eq!(io["apiHost"], format!("{host}/v1"), "{doc}");
    assert_eq!(io["protocol"], "http");
    assert_eq!(io["apiKey"], KEY);
    assert_eq!(doc["metrics"]["sampleRate"], 0, "no metrics to Segment");
    // Behind a TLS-terminating proxy: the address the browser used.
    let (_, _, doc) = get(
        &format!("/v1/projects/{KEY}/settings"),
        &[
            ("x-forwarded-host", "tailor.example.com"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    let io = &doc["integrations"]["Segment.io"];
    assert_eq!(
        (&io["apiHost"], &io["protocol"]),
        (&json!("tailor.example.com/v1"), &json!("https")),
        "{doc}"
    );
    // An unknown key is refused with the collector's answer, which the SDK logs.
    let (status, _, e) = get("/v1/projects/nope/settings", &page).await;
    assert_eq!(status, 401, "{e}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");

    // RudderStack: the key as the basic-auth user (as the SDK sends it) or in the query.
    for (path, auth) in [
        ("/sourceConfig/?p=npm&v=3&writeKey=browser-key", None),
        ("/sourceConfig/?p=npm", Some(KEY)),
        ("/sourceConfig", Some(KEY)),
    ] {
        let mut req = s.http.get(format!("{}{path}", s.url));
        if let Some(k) = auth {
            req = req.basic_auth(k, Some(""));
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 200, "{path}");
        let doc: Value = resp.json().await.expect("json");
        assert_eq!(doc["source"]["enabled"], true, "{doc}");
        assert_eq!(doc["source"]["destinations"], json!([]), "{doc}");
    }
    let (status, _, _) = get("/sourceConfig/?writeKey=nope", &[]).await;
    assert_eq!(status, 401);
    let (status, _, _) = get("/sourceConfig/", &[]).await;
    assert_eq!(status, 401, "a key is needed once write keys exist");
    // The preflight of the SDK's authorized fetch is answered.
    let resp = s
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/sourceConfig/", s.url))
        .header("origin", "http://shop.test")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .expect("preflight");
    assert_eq!(resp.status(), 204);
    assert_eq!(
        resp.headers()["access-control-allow-headers"],
        "authorization"
    );
    s.server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_browser_sdks_send_to_tailor_with_one_option() {
    let py = python();
    check_browser(&py);
    let modules = node_modules(&["@segment/analytics-next", "@rudderstack/analytics-js"]);
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.collector.write_keys = vec![KEY.into()];
    cfg.lake.roll_secs = 1;
    let s = start(cfg).await;
    let shots = artifacts_dir();
    std::fs::create_dir_all(&shots).expect("artifacts dir");
    let script = format!("{}/tests/browser/sdks.py", env!("CARGO_MANIFEST_DIR"));
    let url = s.url.clone();
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::process::Command::new(&py)
            .args([script.as_str(), url.as_str(), KEY])
            .arg(&modules)
            .arg(&shots)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser script ran over 3 minutes")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser script failed (screenshots: {}):\n{stdout}\n{}",
        shots.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Value = serde_json::from_str(stdout.trim()).expect("script prints JSON");
    let mut sent = Vec::new();
    for page in ["segment-npm", "segment-snippet", "rudderstack"] {
        let p = &run[page];
        assert_eq!(p["errors"], json!([]), "{page}: {run}");
        assert_eq!(p["console_errors"], json!([]), "{page}: {run}");
        let ids: Vec<String> = serde_json::from_value(p["sent"].clone()).expect("ids");
        // page, identify, three tracks, group, alias.
        assert_eq!(ids.len(), 7, "{page}: {run}");
        sent.extend(ids);
    }
    let per_type = assert_all_stored(&s, &sent).await;
    assert_eq!(
        per_type,
        [
            ("alias", 3),
            ("group", 3),
            ("identify", 3),
            ("page", 3),
            ("track", 9)
        ]
        .into_iter()
        .map(|(t, n)| (t.to_owned(), n))
        .collect(),
        "{run}"
    );
    // The purchases were understood as such, for each SDK's user.
    let (_, r) = s
        .post(
            "/v1/sql",
            json!({"sql": "SELECT user_id, item_id FROM events WHERE interaction = 'purchase' ORDER BY user_id"}),
        )
        .await;
    assert_eq!(
        r["rows"],
        json!([
            {"user_id": "web-rudderstack", "item_id": "WEB-rudderstack-1"},
            {"user_id": "web-segment-npm", "item_id": "WEB-segment-npm-1"},
            {"user_id": "web-segment-snippet", "item_id": "WEB-segment-snippet-1"},
        ]),
        "{r}"
    );
    s.server.shutdown().await.expect("shutdown");
}
