//! An A/B experiment end to end: sticky assignment by user, each variant served by its model,
//! per-variant CTR with intervals and the sample-ratio check.

use crate::common;

use common::{config, item_ids, shop_events, start, track, ts};
use serde_json::{json, Value};
use tailor_server::experiments::{ExperimentConfig, VariantConfig};

#[tokio::test]
async fn variants_are_sticky_served_by_their_model_and_measured() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.models.retrain = false;
    cfg.experiment = vec![ExperimentConfig {
        name: "blend-vs-live".into(),
        surface: Some("home".into()),
        variants: vec![
            VariantConfig {
                name: "control".into(),
                model: "live".into(),
                share: 0.5,
            },
            VariantConfig {
                name: "treatment".into(),
                model: "default".into(),
                share: 0.5,
            },
        ],
    }];
    let s = start(cfg).await;
    s.post("/v1/batch", json!({"batch": shop_events()})).await;
    s.wait_processed().await;
    let resp = s
        .http
        .post(format!("{}/v1/admin/train", s.url))
        .send()
        .await
        .expect("train");
    assert_eq!(resp.status(), 200);

    let (_, list) = s.get("/v1/experiments").await;
    assert_eq!(list["experiments"][0]["name"], "blend-vs-live", "{list}");
    assert_eq!(s.get("/v1/experiments/nope").await.0, 404);

    let mut first: Vec<(String, Value)> = Vec::new();
    let mut events = Vec::new();
    for u in 0..200 {
        let (_, recs) = s
            .get(&format!(
                "/v1/recommendations?user_id=u{u}&k=3&surface=home"
            ))
            .await;
        let variant = recs["variant"].as_str().expect("variant").to_owned();
        let model = recs["model"].as_str().expect("model");
        match variant.as_str() {
            "blend-vs-live/control" => assert_eq!(model, "cooc-trending-v1", "{recs}"),
            "blend-vs-live/treatment" => assert!(model.starts_with("default@v1+"), "{recs}"),
            other => panic!("unexpected variant {other}"),
        }
        // The same user always gets the same variant.
        let (_, again) = s
            .get(&format!(
                "/v1/recommendations?user_id=u{u}&k=3&surface=home"
            ))
            .await;
        assert_eq!(again["variant"], recs["variant"]);
        // Every user sees the list; treatment users click its first item.
        let rec_id = recs["rec_id"].as_str().expect("rec_id");
        let products: Vec<Value> = item_ids(&recs)
            .iter()
            .map(|i| json!({"product_id": i}))
            .collect();
        events.push(track(
            &format!("u{u}"),
            "Product List Viewed",
            json!({"rec_id": rec_id, "products": products}),
            &format!("l{u}"),
            &ts(40),
        ));
        if variant.ends_with("treatment") {
            events.push(track(
                &format!("u{u}"),
                "Product Clicked",
                json!({"product_id": item_ids(&recs)[0], "rec_id": rec_id}),
                &format!("c{u}"),
                &ts(41),
            ));
        }
        first.push((variant, recs));
    }
    // Other surfaces are outside the experiment.
    let (_, other) = s
        .get("/v1/recommendations?user_id=u1&k=3&surface=cart")
        .await;
    assert_eq!(other["variant"], "default");
    let (status, a) = s.post("/v1/batch", json!({"batch": events})).await;
    assert_eq!(status, 200, "{a}");

    let (_, r) = s.get("/v1/experiments/blend-vs-live").await;
    let results = r["experiment"]["results"].as_array().expect("results");
    let served: u64 = results
        .iter()
        .map(|v| v["served"].as_u64().expect("served"))
        .sum();
    assert_eq!(served, 400, "two requests per user: {r}");
    let control = &results[0];
    let treatment = &results[1];
    assert_eq!(control["clicks"], 0, "{r}");
    assert_eq!(treatment["ctr"], 1.0, "{r}");
    assert!(
        treatment["impressions"].as_u64().expect("impressions") > 50,
        "{r}"
    );
    let ci = treatment["ctr_ci95"].as_array().expect("interval");
    assert!(ci[0].as_f64().expect("lo") > 0.9 && ci[1] == 1.0, "{r}");
    assert_eq!(r["experiment"]["sample_ratio"]["mismatch"], false, "{r}");
    s.server.shutdown().await.expect("shutdown");
}
