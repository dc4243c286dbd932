//! The online feature store end to end: events posted to the collector show up in
//! `GET /v1/features/...`, and a user's click changes their next recommendation.

use crate::common;

use std::time::{Duration, Instant};

use common::{config, item_ids, shop_events, start, track, ts, TestServer};
use serde_json::{json, Value};

/// Polls the user's features until `pred` holds; returns the row and the time it took.
async fn poll_features(
    s: &TestServer,
    path: &str,
    pred: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let (status, row) = s.get(path).await;
        if status == 200 && pred(&row) {
            return (row, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} never matched: {status} {row}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn posted_events_show_in_features_and_change_the_next_recommendation() {
    events_to_features_to_recommendations("embedded://").await;
}

/// The same through a materialized store: the processor writes each touched row.
#[tokio::test]
async fn a_materialized_online_store_serves_the_same() {
    events_to_features_to_recommendations("memory://").await;
}

/// The same through Redis (`TAILOR_TEST_REDIS_URL`, set by the test command), under a
/// prefix of its own whose rows expire after ten minutes.
#[tokio::test]
async fn a_redis_online_store_serves_the_same() {
    let url = common::redis_url("srv");
    events_to_features_to_recommendations(&url).await;
}

async fn events_to_features_to_recommendations(online: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.online = online.into();
    let s = start(cfg).await;
    let (status, a) = s.post("/v1/batch", json!({"batch": shop_events()})).await;
    assert_eq!((status, a["rejected"].clone()), (200, json!([])));

    // Bob looks at a shoe: his features say so, with the event time they are current to.
    let (_, a) = s
        .post(
            "/v1/batch",
            json!({"batch": [track("bob", "Product Viewed",
            json!({"product_id": "shoe-1", "category": "shoes", "price": 50}), "b-1", &ts(100))]}),
        )
        .await;
    assert_eq!(a["accepted"], 1, "{a}");
    let (row, _) = poll_features(&s, "/v1/features/user/bob", |r| {
        r["values"]["user_last_items"] == json!(["shoe-1"])
    })
    .await;
    assert_eq!(row["entity"], "user");
    assert_eq!(row["id"], "bob");
    assert_eq!(row["as_of"], ts(100).replace(":00Z", ":00.000Z"), "{row}");
    assert_eq!(
        row["values"]["user_session_items"],
        json!(["shoe-1"]),
        "{row}"
    );
    assert_eq!(row["values"]["user_session_length"], 1, "{row}");
    assert!(
        row["values"]["user_category_affinity"]["shoes"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0,
        "{row}"
    );

    // Other shoppers' views sit in other partitions: wait for all of them.
    s.wait_processed().await;
    let (status, item) = s.get("/v1/features/item/shoe-1").await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(
        item["values"]["item_views_7d"], 31,
        "30 shoppers and bob: {item}"
    );

    let (_, before) = s.get("/v1/recommendations?user_id=bob&k=3").await;
    assert_eq!(before["strategy"], "personalized");
    assert!(
        item_ids(&before).iter().all(|i| i.starts_with("shoe-")),
        "{before}"
    );

    // Bob clicks a hat; the very next request after his features show it reflects it.
    let (_, a) = s
        .post(
            "/v1/batch",
            json!({"batch": [track("bob", "Product Clicked",
            json!({"product_id": "hat-1", "category": "hats", "price": 20}), "b-2", &ts(101))]}),
        )
        .await;
    assert_eq!(a["accepted"], 1, "{a}");
    let (row, took) = poll_features(&s, "/v1/features/user/bob", |r| {
        r["values"]["user_last_items"] == json!(["hat-1", "shoe-1"])
    })
    .await;
    assert!(
        took < Duration::from_secs(5),
        "read-your-writes took {took:?}"
    );
    assert!(
        row["values"]["user_category_affinity"]["hats"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0,
        "{row}"
    );
    let (_, after) = s.get("/v1/recommendations?user_id=bob&k=3").await;
    let after_ids = item_ids(&after);
    assert!(
        after_ids.iter().any(|i| i == "hat-2" || i == "hat-3"),
        "the click counts: {after}"
    );
    assert_ne!(item_ids(&before), after_ids);
    assert!(
        !after_ids.contains(&"hat-1".to_owned()),
        "seen items are not recommended: {after}"
    );
}

#[tokio::test]
async fn feature_reads_answer_clearly() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(config(dir.path())).await;
    let (_, a) = s.post("/v1/batch", json!({"batch": shop_events()})).await;
    assert_eq!(a["rejected"], json!([]));
    s.wait_processed().await;

    let (status, defs) = s.get("/v1/features").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = defs["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|d| d["name"].as_str().expect("name"))
        .collect();
    for n in [
        "item_views_1h",
        "item_ctr_24h",
        "user_last_items",
        "user_category_affinity",
        "user_session_length",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }

    let (status, batch) = s
        .post(
            "/v1/features",
            json!({"entity": "user", "ids": ["s1", "nobody"]}),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch["rows"][0]["found"], true);
    assert_eq!(
        batch["rows"][0]["values"]["user_last_items"]
            .as_array()
            .map(Vec::len),
        Some(4),
        "{batch}"
    );
    assert_eq!(
        batch["rows"][1],
        json!({"entity": "user", "id": "nobody", "found": false})
    );

    let (status, e) = s.get("/v1/features/user/nobody").await;
    assert_eq!(
        (status, e["code"].as_str()),
        (404, Some("not_found")),
        "{e}"
    );
    let (status, e) = s.get("/v1/features/property:brand/acme").await;
    assert_eq!(
        (status, e["code"].as_str()),
        (404, Some("unknown_entity")),
        "{e}"
    );
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("item")),
        "{e}"
    );
    let (status, e) = s.get("/v1/features/planet/mars").await;
    assert_eq!(status, 400, "{e}");
    let (status, e) = s.post("/v1/features", json!({"entity": "user"})).await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("ids")),
        "{e}"
    );
    let ids: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    let (status, e) = s
        .post("/v1/features", json!({"entity": "user", "ids": ids}))
        .await;
    assert_eq!(status, 400, "{e}");
}

#[tokio::test]
async fn features_survive_restart_and_equal_a_replay_from_zero() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(config(dir.path())).await;
    let (_, a) = s.post("/v1/batch", json!({"batch": shop_events()})).await;
    assert_eq!(a["rejected"], json!([]));
    s.wait_processed().await;
    let (_, live_user) = s.get("/v1/features/user/h3").await;
    s.server.shutdown().await.expect("shutdown");

    // Restart: state comes back from the checkpoint, nothing replayed twice; every row is
    // materialized as of the stream time (the newest event).
    let rows = |s: &TestServer| {
        let (http, url) = (s.http.clone(), s.url.clone());
        async move {
            let mut out = Vec::new();
            for path in [
                "user/h3",
                "user/s29",
                "item/hat-2",
                "item/shoe-1",
                "category/hats",
                "global/global",
            ] {
                let v: Value = http
                    .get(format!("{url}/v1/features/{path}"))
                    .send()
                    .await
                    .expect("get")
                    .json()
                    .await
                    .expect("json");
                out.push(v);
            }
            out
        }
    };
    let s = start(config(dir.path())).await;
    s.wait_processed().await;
    let restored = rows(&s).await;
    assert_eq!(
        restored[0]["values"]["user_last_items"],
        live_user["values"]["user_last_items"]
    );
    assert_eq!(
        restored[0]["values"]["user_session_length"],
        live_user["values"]["user_session_length"]
    );
    assert!(
        restored[5]["values"]["global_events_1h"].as_i64().is_some(),
        "{restored:?}"
    );
    s.server.shutdown().await.expect("shutdown");

    // Replay from offset 0 into empty state gives the same state: the same rows once
    // materialized at the same stream time.
    std::fs::remove_file(dir.path().join("checkpoints").join("live.ckpt")).expect("rm checkpoint");
    let s = start(config(dir.path())).await;
    s.wait_processed().await;
    s.server.shutdown().await.expect("shutdown");
    let s = start(config(dir.path())).await;
    s.wait_processed().await;
    assert_eq!(rows(&s).await, restored);
    s.server.shutdown().await.expect("shutdown");
}
