//! The lake behind the server: events posted to the collector land in Parquet and answer
//! SQL over `POST /v1/sql`; bad SQL is a 400 with the reason; the call needs an admin key.

use crate::common;

use std::time::{Duration, Instant};

use common::{config, shop_events, start, track, ts};
use serde_json::{json, Value};

async fn sql(s: &common::TestServer, query: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = s
        .http
        .post(format!("{}/v1/sql", s.url))
        .json(&json!({ "sql": query }));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn posted_events_are_queryable_in_the_lake() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.lake.roll_secs = 1;
    cfg.collector.secret_keys = vec!["sk_admin".into()];
    let s = start(cfg).await;
    let mut batch = shop_events();
    batch.push(
        json!({"type": "track", "event": "Order Completed", "userId": "alice",
        "messageId": "o-1", "timestamp": ts(200), "properties": {"order_id": "o1",
        "products": [{"product_id": "shoe-2", "category": "shoes", "price": 50, "quantity": 2},
                     {"product_id": "hat-1", "category": "hats", "price": 20, "quantity": 1}]}}),
    );
    batch.push(track(
        "alice",
        "Signed Up",
        json!({"plan": "free"}),
        "su-1",
        &ts(201),
    ));
    let (status, a) = s.post("/v1/batch", json!({ "batch": batch })).await;
    assert_eq!((status, a["accepted"].clone()), (200, json!(302)), "{a}");

    // 300 views + 2 purchased products (one event) + 1 event without interactions.
    let started = Instant::now();
    loop {
        let (status, r) = sql(&s, "SELECT count(*) AS n FROM events", Some("sk_admin")).await;
        assert_eq!(status, 200, "{r}");
        if r["rows"][0]["n"] == 303 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "lake never caught up: {r}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, r) = sql(
        &s,
        "SELECT count(DISTINCT message_id) AS events, count(*) FILTER (WHERE interaction = 'purchase') AS purchases FROM events",
        Some("sk_admin"),
    )
    .await;
    assert_eq!(r["rows"][0], json!({"events": 302, "purchases": 2}), "{r}");
    let (_, r) = sql(
        &s,
        "SELECT item_id, views, purchases, revenue FROM item_daily_stats WHERE item_id IN ('shoe-1', 'shoe-2') ORDER BY item_id",
        Some("sk_admin"),
    )
    .await;
    assert_eq!(r["rows"][0]["views"], 30, "{r}");
    assert_eq!(r["rows"][1]["purchases"], 1, "{r}");
    assert_eq!(r["rows"][1]["revenue"], 100.0, "{r}");

    let (status, e) = sql(&s, "SELEC nonsense", Some("sk_admin")).await;
    assert_eq!(status, 400, "{e}");
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    let (status, e) = sql(&s, "DROP TABLE events", Some("sk_admin")).await;
    assert_eq!(status, 400, "{e}");
    let (status, _) = sql(&s, "SELECT 1", None).await;
    assert_eq!(status, 401);
    let (status, _) = sql(&s, "SELECT 1", Some("wrong")).await;
    assert_eq!(status, 401);
    s.server.shutdown().await.expect("shutdown");
}
