//! Data quality through a running server: injected bad data (a burst of events on items the
//! catalog feed lacks, a schema drift, a volume drop) trips the right check; the webhook
//! receives each alert as JSON, `GET /v1/quality` shows it, the metrics count it, and the
//! results are a table of the lake (`SELECT … FROM quality`).

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use common::{config, start};
use parking_lot::Mutex;
use serde_json::{json, Value};

const MINUTE_MS: i64 = 60_000;

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `n` product views in the event-time minute starting at `minute_ms`.
fn views(tag: &str, minute_ms: i64, n: usize, items: &str, props: &Value) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut p = props.clone();
            p["product_id"] = json!(format!("{items}-{}", i % 10));
            json!({
                "type": "track", "event": "Product Viewed", "userId": format!("u{}", i % 9),
                "messageId": format!("{tag}-{i}"),
                "timestamp": rfc3339(minute_ms + (i as i64 * 919) % MINUTE_MS),
                "properties": p,
            })
        })
        .collect()
}

/// A webhook receiver on loopback that keeps what it is sent.
async fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let keep = got.clone();
    let app = Router::new().route(
        "/alerts",
        post(move |Json(v): Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/alerts"), got)
}

/// Posts `batch` and waits until the lake committed (and judged) all of it.
async fn commit(s: &common::TestServer, batch: Vec<Value>, judged: &mut u64) {
    let n = batch.len() as u64;
    let (status, a) = s.post("/v1/batch", json!({ "batch": batch })).await;
    assert_eq!(status, 200, "{a}");
    let started = Instant::now();
    loop {
        let (status, q) = s.get("/v1/quality?limit=50").await;
        assert_eq!(status, 200, "{q}");
        let rows: u64 = q["reports"]
            .as_array()
            .expect("reports")
            .iter()
            .filter(|r| r["source"] == "lake_commit")
            .map(|r| r["rows"].as_u64().expect("rows"))
            .sum();
        if rows >= *judged + n {
            *judged = rows;
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the lake never judged the batch: {q}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn failed_checks(alerts: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = alerts
        .iter()
        .flat_map(|a| a["failing"].as_array().cloned().unwrap_or_default())
        .map(|c| c["check"].as_str().expect("check").to_owned())
        .collect();
    v.sort();
    v.dedup();
    v
}

async fn wait_alert(got: &Arc<Mutex<Vec<Value>>>, check: &str) -> Value {
    let started = Instant::now();
    loop {
        if let Some(a) = got.lock().iter().find(|a| {
            failed_checks(std::slice::from_ref(a))
                .iter()
                .any(|c| c == check)
        }) {
            return a.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no {check} alert reached the webhook: {:#?}",
            got.lock()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn bad_data_trips_checks_and_the_webhook_hears_of_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let (url, got) = webhook().await;
    let mut cfg = config(dir.path());
    cfg.lake.roll_secs = 1;
    cfg.quality.webhook_url = Some(url);
    cfg.quality.min_rows = 20;
    cfg.quality.drift_min_events = 100;
    cfg.quality.volume_bucket_secs = 60;
    cfg.quality.volume_min_baseline = 3;
    let s = start(cfg).await;

    let (status, q) = s.get("/v1/quality").await;
    assert_eq!(
        (status, q["status"].as_str()),
        (200, Some("unknown")),
        "{q}"
    );
    let (status, e) = s.get("/v1/quality?limit=500").await;
    assert_eq!(status, 400, "{e}");
    assert!(e["message"].as_str().expect("msg").contains("limit"), "{e}");

    // The catalog feed: sku-0 … sku-9.
    let items: Vec<Value> = (0..10)
        .map(|i| json!({"id": format!("sku-{i}"), "title": format!("Shoe {i}")}))
        .collect();
    let (status, r) = s.post("/v1/items", json!({ "items": items })).await;
    assert_eq!(status, 200, "{r}");

    // Event time: whole minutes ending ten minutes ago (well within max_age_days).
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = (now - 20 * MINUTE_MS).div_euclid(MINUTE_MS) * MINUTE_MS;
    let normal = json!({"price": 30.0, "category": "shoes", "currency": "EUR"});
    let mut judged = 0;
    for m in 0..6 {
        commit(
            &s,
            views(&format!("base{m}"), t0 + m * MINUTE_MS, 80, "sku", &normal),
            &mut judged,
        )
        .await;
    }
    assert!(
        got.lock().is_empty(),
        "clean traffic raised alerts: {:#?}",
        got.lock()
    );
    let (_, q) = s.get("/v1/quality").await;
    assert_eq!(q["status"], "pass", "{q}");

    // A burst of events on items the catalog does not hold.
    commit(
        &s,
        views("ghost", t0 + 6 * MINUTE_MS, 80, "ghost", &normal),
        &mut judged,
    )
    .await;
    let alert = wait_alert(&got, "unknown_items").await;
    assert_eq!(alert["alert"], "tailor_data_quality");
    assert_eq!(alert["source"], "lake_commit");
    assert!(alert["lake_version"].as_u64().is_some(), "{alert}");
    let c = &alert["failing"][0];
    assert_eq!(
        (c["check"].as_str(), c["column"].as_str()),
        (Some("unknown_items"), Some("item_id")),
        "{alert}"
    );
    assert!(c["value"].as_f64().expect("value") > 0.9, "{alert}");
    let (_, q) = s.get("/v1/quality?failing=true").await;
    assert_eq!(q["status"], "fail", "{q}");
    assert!(
        q["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .any(|c| c["check"] == "unknown_items"),
        "{q}"
    );
    let metrics = s.metrics_text().await;
    assert!(
        metrics.contains("tailor_quality_check_failing{check=\"unknown_items\"} 1"),
        "{metrics}"
    );

    // A schema drift: `price` disappears and `colour` appears.
    let drifted = json!({"category": "shoes", "currency": "EUR", "colour": "red"});
    commit(
        &s,
        views("drift", t0 + 7 * MINUTE_MS, 80, "sku", &drifted),
        &mut judged,
    )
    .await;
    let alert = wait_alert(&got, "schema_drift").await;
    let detail = alert["failing"]
        .as_array()
        .expect("failing")
        .iter()
        .find(|c| c["check"] == "schema_drift")
        .map(|c| c["detail"].as_str().expect("detail").to_owned())
        .expect("drift");
    assert!(
        detail.contains("new properties [colour]") && detail.contains("missing properties [price]"),
        "{detail}"
    );

    // A volume drop: minute 8 gets 4 events; minutes 9 and 10 close its bucket.
    commit(
        &s,
        views("drop", t0 + 8 * MINUTE_MS, 4, "sku", &normal),
        &mut judged,
    )
    .await;
    commit(
        &s,
        views("after", t0 + 9 * MINUTE_MS, 80, "sku", &normal),
        &mut judged,
    )
    .await;
    commit(
        &s,
        views("after2", t0 + 10 * MINUTE_MS, 80, "sku", &normal),
        &mut judged,
    )
    .await;
    let alert = wait_alert(&got, "volume").await;
    let c = alert["failing"]
        .as_array()
        .expect("failing")
        .iter()
        .find(|c| c["check"] == "volume")
        .cloned()
        .expect("volume");
    assert!(c["value"].as_f64().expect("z") < -4.0, "{c}");
    assert!(
        c["detail"]
            .as_str()
            .expect("detail")
            .starts_with("4 events"),
        "{c}"
    );

    // Every result is in the lake.
    let started = Instant::now();
    loop {
        let (status, r) = s
            .post(
                "/v1/sql",
                json!({"sql": "SELECT \"check\" FROM quality WHERE status = 'fail' GROUP BY \"check\" ORDER BY \"check\""}),
            )
            .await;
        assert_eq!(status, 200, "{r}");
        let names: Vec<&str> = r["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|row| row["check"].as_str())
            .collect();
        // `price` missing from the drifted events also raises its null rate.
        if names == ["nulls", "schema_drift", "unknown_items", "volume"] {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.server.shutdown().await.expect("shutdown");
}
