//! GDPR erasure: `DELETE /v1/users/{id}` removes a user from every read path — feature API,
//! online state, SQL over the lake (events and dead letters), the dead-letter API, the lake's
//! files, the checkpoint, model artifacts — answers with a receipt, and keeps the user's
//! events out of replays (a restart, a rebuild from offset 0) and of the next training run.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{config, shop_events, start, track, ts, TestServer};
use serde_json::{json, Value};

const KEY: &str = "sk_erasure_admin";
const VICTIM: &str = "victim-7f3a@example.com";

fn cfg(dir: &Path) -> tailor_server::Config {
    let mut cfg = config(dir);
    cfg.collector.secret_keys = vec![KEY.into()];
    cfg.lake.roll_secs = 1;
    cfg.models.retrain = false;
    cfg.models.min_interactions = 10;
    cfg
}

async fn sql_count(s: &TestServer, query: &str) -> u64 {
    let (status, r) = s.post("/v1/sql", json!({ "sql": query })).await;
    assert_eq!(status, 200, "{query}: {r}");
    r["rows"][0]["n"].as_u64().unwrap_or_else(|| panic!("{r}"))
}

async fn wait_lake(s: &TestServer, query: &str, want: u64) {
    let started = Instant::now();
    loop {
        if sql_count(s, query).await == want {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "lake never reached {want} for {query}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn delete(s: &TestServer, id: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = s
        .http
        .delete(format!("{}/v1/users/{}", s.url, urlencode(id)));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8], skip: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            let shown = path.display().to_string();
            if skip.iter().any(|s| shown.contains(s)) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    out.push(shown);
                }
            }
        }
    }
    out
}

/// The victim's events: views, a cart, an order, an identify with traits, and one the
/// collector rejects (a dead letter carrying the id).
fn victim_events() -> Vec<Value> {
    let mut v: Vec<Value> = ["shoe-1", "hat-2", "shoe-3"]
        .iter()
        .enumerate()
        .map(|(i, item)| {
            track(
                VICTIM,
                "Product Viewed",
                json!({"product_id": item, "category": "shoes"}),
                &format!("v-{i}"),
                &ts(100 + i as u32),
            )
        })
        .collect();
    v.push(track(
        VICTIM,
        "Product Added",
        json!({"product_id": "shoe-3", "category": "shoes", "price": 50}),
        "v-cart",
        &ts(104),
    ));
    v.push(
        json!({"type": "identify", "userId": VICTIM, "messageId": "v-id",
                  "timestamp": ts(105), "traits": {"email": VICTIM, "name": "Vic Tim"}}),
    );
    // No event name: rejected, kept as a dead letter.
    v.push(json!({"type": "track", "userId": VICTIM, "messageId": "v-bad", "timestamp": ts(106)}));
    v
}

/// Nothing of the victim on the API and SQL read paths.
async fn check_gone(s: &TestServer, victim_rows: &str, victim_dead: &str, others: u64) {
    let (status, row) = s
        .get(&format!("/v1/features/user/{}", urlencode(VICTIM)))
        .await;
    assert_eq!(status, 404, "features still served: {row}");
    assert_eq!(sql_count(s, victim_rows).await, 0);
    assert_eq!(sql_count(s, victim_dead).await, 0);
    let anywhere = format!(
        "SELECT count(*) AS n FROM events WHERE properties LIKE '%{VICTIM}%' OR context LIKE '%{VICTIM}%'"
    );
    assert_eq!(sql_count(s, &anywhere).await, 0);
    assert_eq!(
        sql_count(s, "SELECT count(*) AS n FROM events").await,
        others
    );
    let (_, dl) = s.get("/v1/dead-letters").await;
    assert!(!dl.to_string().contains(VICTIM), "{dl}");
}

#[tokio::test]
async fn a_forgotten_user_leaves_no_trace_on_any_read_path() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = start(cfg(dir.path())).await;
    let (status, a) = s.post("/v1/batch", json!({"batch": shop_events()})).await;
    assert_eq!(status, 200, "{a}");
    let (status, a) = s.post("/v1/batch", json!({"batch": victim_events()})).await;
    assert_eq!((status, a["accepted"].clone()), (200, json!(5)), "{a}");
    s.wait_processed().await;
    let victim_rows = format!("SELECT count(*) AS n FROM events WHERE user_id = '{VICTIM}'");
    let victim_dead = format!("SELECT count(*) AS n FROM dead_letters WHERE raw LIKE '%{VICTIM}%'");
    wait_lake(&s, &victim_rows, 5).await;
    wait_lake(&s, &victim_dead, 1).await;
    let others = sql_count(&s, "SELECT count(*) AS n FROM events").await - 5;

    // A model trained on them knows the user.
    let (status, job) = s.post("/v1/admin/train", json!({})).await;
    assert_eq!(
        (status, job["status"].clone()),
        (200, json!("succeeded")),
        "{job}"
    );
    let models = dir.path().join("models");
    assert!(!files_containing(&models, VICTIM.as_bytes(), &[]).is_empty());

    let (status, row) = s
        .get(&format!("/v1/features/user/{}", urlencode(VICTIM)))
        .await;
    assert_eq!(status, 200, "{row}");
    let (_, dl) = s.get("/v1/dead-letters").await;
    assert!(dl.to_string().contains(VICTIM));

    // Only a secret key may erase; an empty or oversized id is refused with a reason.
    assert_eq!(delete(&s, VICTIM, None).await.0, 401);
    let (status, e) = delete(&s, &"x".repeat(2000), Some(KEY)).await;
    assert_eq!(status, 400, "{e}");

    let (status, receipt) = delete(&s, VICTIM, Some(KEY)).await;
    assert_eq!(status, 200, "{receipt}");
    assert!(
        !receipt.to_string().contains(VICTIM),
        "the receipt repeats the id: {receipt}"
    );
    assert_eq!(receipt["lake"]["event_rows"], 5, "{receipt}");
    assert_eq!(receipt["lake"]["dead_letter_rows"], 1, "{receipt}");
    assert_eq!(receipt["log"]["dead_letters"], 1, "{receipt}");
    assert!(
        receipt["features"]["feature_entities"].as_u64() >= Some(1),
        "{receipt}"
    );
    assert_eq!(receipt["features"]["live_sessions"], 1, "{receipt}");
    assert_eq!(receipt["models"], json!(["default@v1"]), "{receipt}");
    assert!(receipt["erasure_id"]
        .as_str()
        .is_some_and(|i| i.starts_with("er_")));

    check_gone(&s, &victim_rows, &victim_dead, others).await;
    // The user's history no longer shapes recommendations: they get what a stranger gets.
    let (status, recs) = s
        .get(&format!(
            "/v1/recommendations?user_id={}&k=3",
            urlencode(VICTIM)
        ))
        .await;
    assert_eq!(status, 200, "{recs}");
    let (_, stranger) = s.get("/v1/recommendations?user_id=never-seen&k=3").await;
    assert_eq!(
        common::item_ids(&recs),
        common::item_ids(&stranger),
        "{recs}"
    );
    // No file of the lake, the checkpoint, the models or the erasure list holds the id
    // (the events and dead-letter topics keep it until log retention; reads skip it).
    let logs = dir.path().join("log").join("topics");
    let skip = [
        format!("{}", logs.join("events").display()),
        format!("{}", logs.join("events.dead-letter").display()),
    ];
    let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
    let left = files_containing(dir.path(), VICTIM.as_bytes(), &skip);
    assert!(left.is_empty(), "files still holding the id: {left:?}");
    let (status, list) = s.get("/v1/erasures").await;
    assert_eq!((status, list["count"].clone()), (200, json!(1)), "{list}");
    assert_eq!(list["erasures"][0]["completed"], true, "{list}");

    // The next training run does not learn from the user.
    let (status, job) = s.post("/v1/admin/train", json!({})).await;
    assert_eq!(
        (status, job["status"].clone()),
        (200, json!("succeeded")),
        "{job}"
    );
    assert!(files_containing(&models, VICTIM.as_bytes(), &[]).is_empty());

    // New events from the same id after the erasure are new data.
    let back = track(
        VICTIM,
        "Product Viewed",
        json!({"product_id": "hat-1", "category": "hats"}),
        "v-back",
        &ts(200),
    );
    let (status, _) = s.post("/v1/batch", json!({"batch": [back]})).await;
    assert_eq!(status, 200);
    s.wait_processed().await;
    wait_lake(&s, &victim_rows, 1).await;
    s.server.shutdown().await.expect("stop");

    // A restart, then a rebuild of all state from offset 0, replay the log through the
    // erasure list: only the event sent afterwards comes back.
    for rebuild in [false, true] {
        if rebuild {
            std::fs::remove_file(dir.path().join("checkpoints").join("live.ckpt"))
                .expect("remove checkpoint");
        }
        let s = start(cfg(dir.path())).await;
        s.wait_processed().await;
        let (status, row) = s
            .get(&format!("/v1/features/user/{}", urlencode(VICTIM)))
            .await;
        assert_eq!(status, 200, "{row}");
        let recent = row["values"]["user_last_items"].to_string();
        assert!(
            recent.contains("hat-1") && !recent.contains("shoe"),
            "rebuild={rebuild}: {row}"
        );
        assert_eq!(sql_count(&s, &victim_rows).await, 1);
        assert_eq!(sql_count(&s, &victim_dead).await, 0);
        let (_, dl) = s.get("/v1/dead-letters").await;
        assert!(!dl.to_string().contains(VICTIM), "{dl}");
        s.server.shutdown().await.expect("stop");
    }
}

/// With a materialized online store, the user's rows are deleted from the store.
async fn forget_from_a_store(online: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = cfg(dir.path());
    cfg.online = online.to_owned();
    let s = start(cfg).await;
    let (status, a) = s.post("/v1/batch", json!({"batch": victim_events()})).await;
    assert_eq!(status, 200, "{a}");
    s.wait_processed().await;
    let path = format!("/v1/features/user/{}", urlencode(VICTIM));
    assert_eq!(s.get(&path).await.0, 200);
    let (status, receipt) = delete(&s, VICTIM, Some(KEY)).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["features"]["online_rows"], 1, "{receipt}");
    let (status, row) = s.get(&path).await;
    assert_eq!(status, 404, "{online}: {row}");
    s.server.shutdown().await.expect("stop");
}

#[tokio::test]
async fn a_forgotten_user_leaves_the_memory_store() {
    forget_from_a_store("memory://").await;
}

/// Redis (`TAILOR_TEST_REDIS_URL`, set by the test command), under a prefix of its own.
#[tokio::test]
async fn a_forgotten_user_leaves_the_redis_store() {
    let url = common::redis_url("erase");
    forget_from_a_store(&url).await;
}
