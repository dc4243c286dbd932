//! Registry models on a live server: `POST /v1/admin/train` trains and swaps the new version
//! in; promotions and rollbacks made by another process are picked up; requests running
//! through swaps never fail; the schedule retrains and skips when nothing is new.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{config, shop_events, start, track, ts, TestServer};
use serde_json::{json, Value};
use tailor_rec::registry::Registry;

const KEY: &str = "sk_models";

async fn admin_post(
    s: &TestServer,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut req = s.http.post(format!("{}{path}", s.url));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn loaded(retrain_every: Option<u64>) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.collector.secret_keys = vec![KEY.into()];
    cfg.models.poll_ms = 50;
    match retrain_every {
        Some(secs) => {
            cfg.models.incremental_every_secs = secs;
            cfg.models.min_interactions = 10;
        }
        None => cfg.models.retrain = false,
    }
    let s = start(cfg).await;
    let (status, a) = s.post("/v1/batch", json!({"batch": shop_events()})).await;
    assert_eq!((status, a["rejected"].clone()), (200, json!([])));
    s.wait_processed().await;
    (dir, s)
}

async fn model_of(s: &TestServer, query: &str) -> String {
    let (status, recs) = s.get(&format!("/v1/recommendations?{query}")).await;
    assert_eq!(status, 200, "{recs}");
    recs["model"].as_str().expect("model").to_owned()
}

#[tokio::test]
async fn admin_train_serves_the_new_version() {
    let (_dir, s) = loaded(None).await;
    // No model yet: the live model answers alone, unknown users with the trending counts of
    // the global feature row (hats: 30 shoppers × 3 hats × 2 views; shoes: 30 × 4 × 1).
    assert_eq!(model_of(&s, "user_id=s1").await, "cooc-trending-v1");
    let (_, global) = s.get("/v1/features/global/global").await;
    let trending = global["values"]["global_trending_items"]
        .as_object()
        .expect("trending counts")
        .clone();
    assert_eq!(trending.len(), 7, "{global}");
    let (_, recs) = s.get("/v1/recommendations?user_id=nobody&k=3").await;
    assert_eq!(recs["strategy"], "trending", "{recs}");
    let mut top: Vec<&str> = recs["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item_id"].as_str().expect("id"))
        .collect();
    top.sort_unstable();
    assert_eq!(top, vec!["hat-1", "hat-2", "hat-3"], "{recs}");
    let (_, m) = s.get("/v1/models").await;
    assert_eq!(m["serving"], Value::Null, "{m}");

    // The admin key is required and the body is checked.
    let (status, e) = admin_post(&s, "/v1/admin/train", None, None).await;
    assert_eq!(status, 401, "{e}");
    let (status, e) = admin_post(&s, "/v1/admin/train", None, Some("sk_wrong")).await;
    assert_eq!(status, 401, "{e}");
    let (status, e) = admin_post(
        &s,
        "/v1/admin/train",
        Some(json!({"mode": "weekly"})),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .expect("msg")
            .contains("full or incremental"),
        "{e}"
    );
    let (status, e) = admin_post(
        &s,
        "/v1/admin/train",
        Some(json!({"mood": "full"})),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    assert!(e["message"].as_str().expect("msg").contains("mood"), "{e}");

    // Ten more shoppers whose last item others saw before: hold-out cases for the metrics.
    let more: Vec<Value> = (0..10)
        .flat_map(|u| {
            ["hat-3", "shoe-1"]
                .into_iter()
                .enumerate()
                .map(move |(i, item)| {
                    track(
                        &format!("m{u}"),
                        "Product Viewed",
                        json!({"product_id": item}),
                        &format!("m{u}-{i}"),
                        &ts(34 + i as u32),
                    )
                })
        })
        .collect();
    s.post("/v1/batch", json!({"batch": more})).await;
    s.wait_processed().await;

    // Training answers once the new version serves.
    let (status, job) = admin_post(&s, "/v1/admin/train", None, Some(KEY)).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["report"]["meta"]["version"], 1, "{job}");
    assert_eq!(job["serving_version"], 1, "{job}");
    assert_eq!(job["report"]["meta"]["data"]["items"], 7, "{job}");
    // A full run stores offline metrics measured on a temporal hold-out.
    let metrics = &job["report"]["meta"]["metrics"];
    assert!(metrics["cases"].as_u64().is_some_and(|n| n > 0), "{job}");
    assert!(
        metrics["metrics"]
            .as_array()
            .is_some_and(|m| m.iter().any(|p| p[0] == "HR@10")),
        "{job}"
    );
    let model = model_of(&s, "user_id=s1").await;
    assert!(model.starts_with("default@v1+"), "{model}");

    // Bob, unknown to the model, views a shoe: his features carry it to the model, which
    // answers with the shoes co-viewed with it; an unknown user still gets an answer.
    let bob = track(
        "bob",
        "Product Viewed",
        json!({"product_id": "shoe-1", "category": "shoes"}),
        "bob-1",
        &ts(300),
    );
    s.post("/v1/batch", json!({"batch": [bob]})).await;
    s.wait_processed().await;
    let (_, recs) = s.get("/v1/recommendations?user_id=bob&k=3").await;
    let mut items: Vec<&str> = recs["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item_id"].as_str().expect("id"))
        .collect();
    items.sort_unstable();
    assert_eq!(
        recs["strategy"].as_str().map(|s| s.starts_with("model+")),
        Some(true),
        "{recs}"
    );
    assert_eq!(items, vec!["shoe-2", "shoe-3", "shoe-4"], "{recs}");
    let (status, recs) = s.get("/v1/recommendations?user_id=nobody&k=3").await;
    assert_eq!(
        (status, recs["items"].as_array().map(Vec::len)),
        (200, Some(3)),
        "{recs}"
    );

    // A job that does not wait answers 202 with its id; a second one meanwhile is refused.
    let trainer = s.server.app.trainer.clone();
    let (id, handle) = trainer
        .submit(tailor_rec::training::TrainMode::Incremental, "api")
        .expect("first job starts");
    let (status, e) = admin_post(
        &s,
        "/v1/admin/train",
        Some(json!({"wait": false})),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 409, "{e}");
    assert!(
        e["message"]
            .as_str()
            .expect("msg")
            .contains(&format!("job {id}")),
        "{e}"
    );
    let job = handle.await.expect("job");
    assert_eq!(job.status, "succeeded", "{:?}", job.message);
    let report = job.report.expect("report");
    assert_eq!(report.mode, tailor_rec::training::TrainMode::Incremental);
    assert!(
        report.parts.iter().any(|p| p.name == "als" && p.reused),
        "{:?}",
        report.parts
    );
    let (status, a) = admin_post(
        &s,
        "/v1/admin/train",
        Some(json!({"wait": false})),
        Some(KEY),
    )
    .await;
    assert_eq!(status, 202, "{a}");
    let url = a["status_url"].as_str().expect("status url").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = s
            .http
            .get(format!("{}{url}", s.url))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("poll");
        let job: Value = resp.json().await.expect("json");
        if job["status"] != "running" {
            assert_eq!(job["status"], "succeeded", "{job}");
            assert_eq!(job["serving_version"], 3, "{job}");
            break;
        }
        assert!(Instant::now() < deadline, "job never finished: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resp = s
        .http
        .get(format!("{}/v1/admin/jobs", s.url))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("jobs");
    let jobs: Value = resp.json().await.expect("json");
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(3), "{jobs}");
    let (_, m) = s.get("/v1/models").await;
    assert_eq!(m["serving"]["version"], 3, "{m}");
    assert_eq!(m["versions"], json!([1, 2, 3]), "{m}");
    s.server.shutdown().await.expect("shutdown");
}

/// Clients request recommendations without pause while versions are trained, promoted and
/// rolled back (from "another process": the registry on disk): every request succeeds and the
/// served version follows the registry.
#[tokio::test]
async fn hot_swap_under_concurrent_requests_fails_no_request() {
    let (_dir, s) = loaded(None).await;
    let (status, job) = admin_post(&s, "/v1/admin/train", None, Some(KEY)).await;
    assert_eq!(status, 200, "{job}");

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (http, url, stop) = (s.http.clone(), s.url.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut models) =
                (0u32, Vec::new(), std::collections::BTreeSet::new());
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let q = match n % 3 {
                    0 => format!("user_id=s{}", (n + c) % 30),
                    1 => format!("item_id=hat-{}", n % 3 + 1),
                    _ => format!("anonymous_id=anon-{n}"),
                };
                let resp = http
                    .get(format!("{url}/v1/recommendations?{q}&k=5"))
                    .bearer_auth(KEY)
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status() == 200 => {
                        let v: Value = r.json().await.expect("json");
                        models.insert(v["model"].as_str().unwrap_or_default().to_owned());
                        ok += 1;
                    }
                    Ok(r) => failed.push(format!("{q}: {}", r.status())),
                    Err(e) => failed.push(format!("{q}: {e}")),
                }
            }
            (ok, failed, models)
        }));
    }
    let wait_for = |v: u32| {
        let s = &s;
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !model_of(s, "user_id=s1")
                .await
                .starts_with(&format!("default@v{v}+"))
            {
                assert!(Instant::now() < deadline, "v{v} never served");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    // More events, a new version through the API; then a rollback and a promotion made
    // directly on the registry, as `tailor models` does from another process.
    let more: Vec<Value> = (0..20)
        .map(|u| {
            track(
                &format!("x{u}"),
                "Product Viewed",
                json!({"product_id": "boot-1", "category": "shoes"}),
                &format!("x{u}"),
                &ts(200 + u),
            )
        })
        .collect();
    s.post("/v1/batch", json!({"batch": more})).await;
    s.wait_processed().await;
    let (status, job) = admin_post(&s, "/v1/admin/train", None, Some(KEY)).await;
    assert_eq!(
        (status, job["serving_version"].clone()),
        (200, json!(2)),
        "{job}"
    );
    wait_for(2).await;
    let registry = Registry::open(&s.dir);
    assert_eq!(registry.rollback("default").expect("rollback").version, 1);
    wait_for(1).await;
    registry.promote("default", 2).expect("promote");
    wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut seen = std::collections::BTreeSet::new();
    for c in clients {
        let (ok, failed, models) = c.await.expect("client");
        assert!(
            failed.is_empty(),
            "failed requests during swaps: {failed:?}"
        );
        total += ok;
        seen.extend(models);
    }
    assert!(total > 100, "only {total} requests");
    assert!(
        seen.iter().any(|m| m.starts_with("default@v1+")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|m| m.starts_with("default@v2+")),
        "{seen:?}"
    );
    s.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_schedule_retrains_and_skips_when_nothing_is_new() {
    let (_dir, s) = loaded(Some(1)).await;
    let jobs = |s: &TestServer| {
        let req = s
            .http
            .get(format!("{}/v1/admin/jobs", s.url))
            .bearer_auth(KEY);
        async move {
            req.send()
                .await
                .expect("jobs")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let j = jobs(&s).await;
        let list = j["jobs"].as_array().cloned().unwrap_or_default();
        let done: Vec<&Value> = list.iter().filter(|j| j["status"] != "running").collect();
        if done.len() >= 2 {
            // Newest first: the second run found nothing new.
            let first = done.last().expect("first");
            assert_eq!(first["status"], "succeeded", "{j}");
            assert_eq!(first["trigger"], "schedule", "{j}");
            assert_eq!(done[0]["status"], "skipped", "{j}");
            assert!(
                done[0]["message"]
                    .as_str()
                    .expect("msg")
                    .contains("no new events"),
                "{j}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the schedule did not run twice: {j}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(model_of(&s, "user_id=s2").await.starts_with("default@v1+"));
    // GET /v1/jobs: each scheduled job with its period, next run and last run.
    let (status, view) = s.get("/v1/jobs").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["scheduled"], true, "{view}");
    let inc = &view["jobs"][0];
    assert_eq!(
        (inc["name"].as_str(), inc["every_secs"].as_u64()),
        (Some("train_incremental"), Some(1)),
        "{view}"
    );
    assert!(inc["next_run_ms"].as_i64().is_some_and(|t| t > 0), "{view}");
    assert!(inc["last_run"]["status"].is_string(), "{view}");
    assert_eq!(view["jobs"][1]["name"], "train_full", "{view}");
    assert_eq!(view["jobs"][1]["every_secs"], 86_400, "{view}");
    // The lake sink's maintenance is listed too.
    let lake = view["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["name"] == "lake_compaction")
        .unwrap_or_else(|| panic!("no lake_compaction job: {view}"));
    assert_eq!(lake["schedule"], "after each commit", "{view}");
    assert_eq!(lake["consecutive_failures"], 0, "{view}");
    s.server.shutdown().await.expect("shutdown");
}
