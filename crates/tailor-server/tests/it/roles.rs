//! Roles in separate processes (ADR 0016): a collector, a processor with the lake sink, and
//! an API replica, sharing one Kafka log, one Redis online store and one data directory (a
//! one-machine deployment; several machines share the lake through object storage).
//! Each part does its own job; the others' endpoints answer 421 naming the role.

use crate::common;
use crate::kafka::{for_test_broker, kafka_url};

use std::time::{Duration, Instant};

use common::{config, shop_events, start, TestServer};
use serde_json::{json, Value};

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> Option<Value>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn misdirected(s: &TestServer, method: reqwest::Method, path: &str, role: &str) {
    let resp = s
        .http
        .request(method, format!("{}{path}", s.url))
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 421, "{path}");
    let e: Value = resp.json().await.expect("json");
    assert_eq!(e["code"], "role_not_running", "{e}");
    let message = e["message"].as_str().expect("message");
    assert!(message.contains(&format!("the {role} role")), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_processor_and_api_run_as_separate_servers() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.log.url = kafka_url();
    cfg.log.partitions = 3;
    for_test_broker(&mut cfg);
    cfg.online = common::redis_url("roles");
    cfg.lake.roll_secs = 1;
    cfg.models.retrain = false;
    let with_roles = |roles: &str| common::with_roles(&cfg, roles);
    let processor = start(with_roles("processor,lake")).await;
    let collector = start(with_roles("collector")).await;
    let api = start(with_roles("api")).await;

    // Each serves its own endpoints only.
    misdirected(
        &collector,
        reqwest::Method::GET,
        "/v1/recommendations?user_id=u",
        "api",
    )
    .await;
    misdirected(&api, reqwest::Method::POST, "/v1/batch", "collector").await;
    misdirected(&api, reqwest::Method::POST, "/v1/admin/train", "trainer").await;
    misdirected(
        &processor,
        reqwest::Method::GET,
        "/v1/features/item/x",
        "api",
    )
    .await;
    let (_, status) = api.get("/v1/status").await;
    assert_eq!(status["roles"], json!(["api"]), "{status}");

    let events = shop_events();
    let n = events.len();
    let (code, a) = collector
        .post("/v1/batch", json!({ "batch": events }))
        .await;
    assert_eq!((code, a["accepted"].clone()), (200, json!(n)), "{a}");
    let status = processor.wait_processed().await;
    assert_eq!(status["live"]["events_processed"], json!(n), "{status}");

    // The API replica reads what the processor wrote to Redis.
    let (code, f) = api.get("/v1/features/item/hat-1").await;
    assert_eq!(code, 200, "{f}");
    assert_eq!(f["values"]["item_views_7d"], json!(60), "{f}");
    let (code, recs) = api.get("/v1/recommendations?user_id=newcomer&k=3").await;
    assert_eq!(code, 200, "{recs}");
    assert_eq!(common::item_ids(&recs).len(), 3, "{recs}");

    // A catalog change made at one process reaches the others through the log.
    let (code, r) = collector
        .post(
            "/v1/items",
            json!({"items": [{"id": "hat-9", "title": "Cap", "categories": ["hats"]}]}),
        )
        .await;
    assert!(code == 200 || code == 201, "{code} {r}");
    let item = eventually("the api replica sees the new item", async || {
        let (code, item) = api.get("/v1/items/hat-9").await;
        (code == 200).then_some(item)
    })
    .await;
    assert_eq!(item["title"], "Cap", "{item}");

    // The lake is written by the lake role and queried at the API replica.
    eventually("the lake holds every event", async || {
        let (code, r) = api
            .post(
                "/v1/sql",
                json!({"sql": "SELECT count(*) AS n FROM events"}),
            )
            .await;
        assert_eq!(code, 200, "{r}");
        (r["rows"][0]["n"] == json!(n)).then_some(r)
    })
    .await;

    for s in [api, collector, processor] {
        s.server.shutdown().await.expect("shutdown");
    }
}

/// An API process that would read a store only a processor's own process can see is refused
/// at start, naming the setting.
#[tokio::test]
async fn an_api_role_without_a_processor_needs_a_shared_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.roles = tailor_server::roles::Roles::parse_list("api,collector").expect("roles");
    let err = cfg
        .validate()
        .expect_err("embedded:// is inside the processor");
    assert!(
        err.starts_with("roles:") && err.contains("redis://"),
        "{err}"
    );
    cfg.online = "memory://".into();
    assert!(cfg.validate().is_err());
}
