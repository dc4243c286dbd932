//! Recommendations, schemas and operations endpoints, driven over HTTP.

use crate::common;

use common::{config, shop_events, start, track, ts};
use serde_json::{json, Value};

#[tokio::test]
async fn recommendations_reflect_the_events_sent() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(config(dir.path())).await;
    let (status, a) = s.post("/v1/batch", json!({"batch": shop_events()})).await;
    assert_eq!((status, a["rejected"].clone()), (200, json!([])));
    // A new shopper views one shoe and buys another.
    let (_, a) = s
        .post("/v1/batch", json!({"batch": [
            track("alice", "Product Viewed", json!({"product_id": "shoe-1", "category": "shoes"}), "a-1", &ts(100)),
            {"type": "track", "event": "Order Completed", "userId": "alice", "messageId": "a-2", "timestamp": ts(101),
             "properties": {"order_id": "o1", "products": [{"product_id": "shoe-2", "category": "shoes", "quantity": 1}]}},
        ]}))
        .await;
    assert_eq!(a["accepted"], 2, "{a}");
    s.wait_processed().await;

    let (status, recs) = s.get("/v1/recommendations?user_id=alice&k=3").await;
    assert_eq!(status, 200, "{recs}");
    assert_eq!(recs["strategy"], "personalized");
    assert!(recs["rec_id"].as_str().is_some_and(|r| r.len() >= 32));
    assert!(recs["model"].as_str().is_some());
    let items: Vec<&str> = recs["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        &items[..2]
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        &["shoe-3", "shoe-4"].into_iter().collect(),
        "co-viewed shoes first: {recs}"
    );
    assert!(
        !items.contains(&"shoe-2"),
        "purchased item excluded: {recs}"
    );
    assert_eq!(recs["items"][0]["position"], 1);
    assert!(recs["items"][0]["score"].as_f64().is_some());

    let (_, more) = s.get("/v1/recommendations?item_id=hat-1&k=2").await;
    assert_eq!(more["strategy"], "item");
    let ids: Vec<&str> = more["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|i| *i == "hat-2" || *i == "hat-3"), "{more}");

    for q in [
        "user_id=nobody",
        "item_id=no-such-item",
        "anonymous_id=anon-x",
        "",
    ] {
        let (status, r) = s.get(&format!("/v1/recommendations?{q}")).await;
        assert_eq!(status, 200, "{q}");
        assert_eq!(r["strategy"], "trending", "{q}");
        assert!(
            r["items"][0]["item_id"]
                .as_str()
                .expect("id")
                .starts_with("hat"),
            "hats trend: {r}"
        );
    }
    for q in ["k=0", "k=abc", "k=100000"] {
        let (status, r) = s
            .get(&format!("/v1/recommendations?user_id=alice&{q}"))
            .await;
        assert_eq!(status, 400, "{q}");
        assert!(
            r["message"].as_str().is_some_and(|m| m.contains('k')),
            "{r}"
        );
    }
    s.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn schema_registry_over_http() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(config(dir.path())).await;
    let (status, list) = s.get("/v1/schemas").await;
    assert_eq!(status, 200);
    assert!(list["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .any(|s| s["subject"] == "Product Viewed"));
    let (status, v1) = s
        .post(
            "/v1/schemas/Signed%20Up",
            json!({"schema": {"type": "object", "properties": {"plan": {"type": "string"}}}}),
        )
        .await;
    assert_eq!((status, v1["version"].clone()), (200, json!(1)), "{v1}");
    let (status, err) = s.post("/v1/schemas/Signed%20Up", json!({"schema": {"type": "object", "properties": {"plan": {"type": "string"}}, "required": ["plan"]}})).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["code"], "incompatible_schema");
    assert!(
        err["message"]
            .as_str()
            .expect("msg")
            .contains("became required"),
        "{err}"
    );
    let (status, v2) = s.post("/v1/schemas/Signed%20Up", json!({"schema": {"type": "object", "properties": {"plan": {"type": "string"}, "seats": {"type": "integer"}}}})).await;
    assert_eq!((status, v2["version"].clone()), (200, json!(2)));
    let (status, latest) = s.get("/v1/schemas/Signed%20Up/versions/latest").await;
    assert_eq!((status, latest["version"].clone()), (200, json!(2)));
    let (status, _) = s.get("/v1/schemas/Nope").await;
    assert_eq!(status, 404);
    let (status, _) = s
        .post("/v1/schemas/X", json!({"schema": {"type": 12}}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = s
        .post(
            "/v1/schemas/X",
            json!({"schema": {}, "compatibility": "SIDEWAYS"}),
        )
        .await;
    assert_eq!(status, 400);
    // Events are now validated against v2.
    let (_, a) = s.post("/v1/batch", json!({"batch": [
        {"type": "track", "event": "Signed Up", "userId": "u", "properties": {"seats": "many"}},
        {"type": "track", "event": "Signed Up", "userId": "u", "properties": {"seats": 3}},
    ]})).await;
    assert_eq!(a["accepted"], 1, "{a}");
    assert!(
        a["rejected"][0]["reason"]
            .as_str()
            .expect("reason")
            .contains("seats"),
        "{a}"
    );
    s.server.shutdown().await.expect("shutdown");
    // The registry persists.
    let s = start(config(dir.path())).await;
    let (_, latest) = s.get("/v1/schemas/Signed%20Up/versions/latest").await;
    assert_eq!(latest["version"], 2);
    s.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn operations_endpoints() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(config(dir.path())).await;
    let (_, _) = s.post("/v1/batch", json!({"batch": [track("u", "Product Viewed", json!({"product_id": "P"}), "m", "2026-01-01T00:00:00Z")]})).await;
    s.wait_processed().await;
    assert_eq!(s.get("/health").await.0, 200);
    assert_eq!(s.get("/ready").await.0, 200);
    // The processor records its latency histograms just after the batch becomes visible
    // (lag 0): poll briefly for them.
    let names = [
        "tailor_collector_events_accepted_total",
        "tailor_collector_batch_events_bucket",
        "tailor_log_fsync_seconds_bucket",
        "tailor_log_end_offset",
        "tailor_live_consumer_lag_records",
        "tailor_live_processing_latency_seconds_bucket",
        "tailor_http_request_duration_seconds_bucket",
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let text = loop {
        let text = s.metrics_text().await;
        if names.iter().all(|n| text.contains(n)) || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    for name in names {
        assert!(text.contains(name), "missing {name} in /metrics");
    }
    assert!(text.contains("# HELP tailor_collector_events_accepted_total"));
    let (status, unknown) = s.get("/v1/nope").await;
    assert_eq!(status, 404, "{unknown}");
    s.server.shutdown().await.expect("shutdown");
}

/// `curl -d '{…}'` sends `Content-Type: application/x-www-form-urlencoded`: every JSON
/// endpoint reads the body as JSON all the same, and a body that is not JSON is a 400 that
/// says so.
#[tokio::test]
async fn json_endpoints_accept_json_whatever_the_content_type() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = common::start(common::config(dir.path())).await;
    let send = |path: &'static str, body: &'static str| {
        let req = s
            .http
            .post(format!("{}{path}", s.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        async move {
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for (path, body) in [
        ("/v1/sql", r#"{"sql": "SELECT 1 AS one"}"#),
        ("/v1/features", r#"{"entity": "user", "ids": ["u1"]}"#),
        (
            "/v1/schemas/Form%20Posted",
            r#"{"schema": {"type": "object"}}"#,
        ),
    ] {
        let (status, v) = send(path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {v}");
    }
    let (status, v) = send("/v1/sql", "sql=SELECT+1").await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap_or_default().contains("JSON"),
        "{v}"
    );
    s.server.shutdown().await.expect("shutdown");
}

/// SQL runs within a time and a memory limit (a 422 naming the setting), unknown tables are
/// answered with the tables there are, and `GET /v1/sql/tables` lists them with columns.
#[tokio::test]
async fn sql_queries_have_limits_and_name_the_tables() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.lake.query_timeout_secs = 1;
    cfg.lake.query_memory_mb = 16;
    let s = start(cfg).await;
    let (status, t) = s.get("/v1/sql/tables").await;
    assert_eq!(status, 200, "{t}");
    let tables = t["tables"].as_array().expect("tables");
    let events = tables
        .iter()
        .find(|x| x["name"] == "events")
        .unwrap_or_else(|| panic!("no events table: {t}"));
    assert!(
        events["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .any(|c| c["name"] == "event_time"),
        "{events}"
    );
    let (status, e) = s
        .post("/v1/sql", json!({"sql": "SELECT * FROM evnets"}))
        .await;
    assert_eq!(status, 400, "{e}");
    let m = e["message"].as_str().expect("message");
    assert!(
        m.contains("events") && m.contains("item_daily_stats"),
        "{m}"
    );
    let t0 = std::time::Instant::now();
    let (status, e) = s
        .post(
            "/v1/sql",
            json!({"sql": "SELECT count(*) FROM generate_series(1, 100000000000) a(x) WHERE x % 7 = 3"}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["code"], "query_limit", "{e}");
    assert!(
        e["message"]
            .as_str()
            .expect("message")
            .contains("lake.query_timeout_secs"),
        "{e}"
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(20));
    let (status, e) = s
        .post(
            "/v1/sql",
            json!({"sql": "SELECT array_agg(x) FROM generate_series(1, 50000000) a(x)"}),
        )
        .await;
    assert_eq!(status, 422, "{e}");
    assert!(
        e["message"]
            .as_str()
            .expect("message")
            .contains("lake.query_memory_mb"),
        "{e}"
    );
    s.server.shutdown().await.expect("shutdown");
}
