//! The item catalog over HTTP: writes checked field by field and durable across a restart;
//! items marked unavailable are never recommended, by the live model or a trained one.

use crate::common;

use common::{config, item_ids as ids, shop_events, start, TestServer};
use serde_json::{json, Value};

const KEY: &str = "sk_catalog";

async fn send(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    key: bool,
) -> (u16, Value) {
    let mut req = s.http.request(method, format!("{}{path}", s.url));
    if key {
        req = req.bearer_auth(KEY);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn items_are_checked_stored_durably_and_filter_recommendations() {
    use reqwest::Method;
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.collector.secret_keys = vec![KEY.into()];
    cfg.models.retrain = false;
    let s = start(cfg.clone()).await;

    let shoe = json!({"title": "Runner", "categories": ["shoes"], "price": 59.5,
        "properties": {"brand": "Acme"}, "created_at": "2026-01-01T00:00:00Z"});
    let (status, e) = send(
        &s,
        Method::PUT,
        "/v1/items/shoe-1",
        Some(shoe.clone()),
        false,
    )
    .await;
    assert_eq!(status, 401, "writes need the admin key: {e}");
    let (status, item) = send(
        &s,
        Method::PUT,
        "/v1/items/shoe-1",
        Some(shoe.clone()),
        true,
    )
    .await;
    assert_eq!(status, 201, "{item}");
    assert_eq!(
        (item["available"].clone(), item["price"].clone()),
        (json!(true), json!(59.5))
    );
    let (status, _) = send(&s, Method::PUT, "/v1/items/shoe-1", Some(shoe), true).await;
    assert_eq!(status, 200, "a second PUT replaces");

    // Bad fields are named; nothing of a bad batch is stored.
    for (body, field) in [
        (json!({"price": -1}), "price"),
        (json!({"created_at": "yesterday"}), "created_at"),
        (json!({"id": "other"}), "id"),
        (json!({"colour": "red"}), "colour"),
        (json!({"categories": [""]}), "categories[0]"),
    ] {
        let (status, e) = send(&s, Method::PUT, "/v1/items/x", Some(body), true).await;
        assert_eq!(status, 400, "{e}");
        assert!(
            e["message"].as_str().expect("msg").contains(field),
            "{field}: {e}"
        );
    }
    let (status, e) = send(
        &s,
        Method::POST,
        "/v1/items",
        Some(json!({"items": [{"id": "ok-1"}, {"title": "no id"}]})),
        true,
    )
    .await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["message"].as_str().expect("msg").contains("items[1].id"),
        "{e}"
    );
    assert_eq!(
        send(&s, Method::GET, "/v1/items/ok-1", None, true).await.0,
        404
    );
    let (status, e) = send(
        &s,
        Method::POST,
        "/v1/items",
        Some(json!({"items": []})),
        true,
    )
    .await;
    assert_eq!(status, 400, "{e}");

    // Hats are popular; hat-1 goes out of stock and is never recommended again.
    let (status, a) = s.post("/v1/batch", json!({"batch": shop_events()})).await;
    assert_eq!(status, 200, "{a}");
    s.wait_processed().await;
    let (_, before) = s.get("/v1/recommendations?user_id=nobody&k=3").await;
    assert!(ids(&before).contains(&"hat-1".to_owned()), "{before}");
    let (status, a) = send(
        &s,
        Method::POST,
        "/v1/items",
        Some(json!({"items": [
            {"id": "hat-1", "categories": ["hats"], "available": false},
            {"id": "hat-2", "categories": ["hats"]},
        ]})),
        true,
    )
    .await;
    assert_eq!((status, a["stored"].clone()), (200, json!(2)), "{a}");
    for q in [
        "user_id=nobody&k=3",
        "item_id=hat-2&k=5",
        "user_id=h1&k=5",
        "anonymous_id=z&k=7",
    ] {
        let (status, recs) = s.get(&format!("/v1/recommendations?{q}")).await;
        assert_eq!(status, 200, "{recs}");
        assert!(!ids(&recs).contains(&"hat-1".to_owned()), "{q}: {recs}");
    }
    let (_, recs) = s.get("/v1/recommendations?user_id=nobody&k=3").await;
    assert_eq!(ids(&recs).len(), 3, "still k items: {recs}");
    // Request options: a category (cold start: trending in it) and excluded ids.
    let (_, recs) = s
        .get("/v1/recommendations?user_id=nobody&k=3&category=shoes")
        .await;
    let got = ids(&recs);
    assert!(
        !got.is_empty() && got.iter().all(|i| i.starts_with("shoe")),
        "{recs}"
    );
    let (_, recs) = s
        .get("/v1/recommendations?user_id=nobody&k=4&exclude=hat-2,%20hat-3")
        .await;
    let got = ids(&recs);
    assert_eq!(got.len(), 4, "{recs}");
    assert!(got.iter().all(|i| i.starts_with("shoe")), "{recs}");
    let many: Vec<String> = (0..201).map(|i| format!("x{i}")).collect();
    let (status, e) = s
        .get(&format!("/v1/recommendations?exclude={}", many.join(",")))
        .await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["message"].as_str().expect("msg").contains("exclude"),
        "{e}"
    );

    // The same with a trained model serving.
    let (status, job) = send(&s, Method::POST, "/v1/admin/train", None, true).await;
    assert_eq!(status, 200, "{job}");
    for q in ["user_id=nobody&k=3", "item_id=hat-2&k=5", "user_id=s3&k=6"] {
        let (_, recs) = s.get(&format!("/v1/recommendations?{q}")).await;
        assert!(
            recs["model"]
                .as_str()
                .expect("model")
                .starts_with("default@v1+"),
            "{recs}"
        );
        assert!(!ids(&recs).contains(&"hat-1".to_owned()), "{q}: {recs}");
    }

    // A new catalog item gets the exploration share: one slot of ten, flagged, at the end.
    let now = chrono::Utc::now().to_rfc3339();
    let (status, _) = send(
        &s,
        Method::PUT,
        "/v1/items/new-1",
        Some(json!({"categories": ["hats"], "created_at": now})),
        true,
    )
    .await;
    assert_eq!(status, 201);
    let (_, recs) = s.get("/v1/recommendations?user_id=nobody&k=10").await;
    let items = recs["items"].as_array().expect("items");
    let explored: Vec<&Value> = items.iter().filter(|i| i["exploration"] == true).collect();
    assert_eq!(explored.len(), 1, "{recs}");
    assert_eq!(explored[0]["item_id"], "new-1");
    assert_eq!(items.last().expect("last")["item_id"], "new-1", "{recs}");
    let (_, recs) = s
        .get("/v1/recommendations?user_id=nobody&k=10&category=shoes")
        .await;
    assert!(
        !ids(&recs).contains(&"new-1".to_owned()),
        "other category: {recs}"
    );

    // Durable: a restarted server has the catalog; a deleted item is never recommended, even
    // when events name it again, until it is put through the API again.
    s.server.shutdown().await.expect("shutdown");
    let s = start(cfg).await;
    let (status, item) = send(&s, Method::GET, "/v1/items/shoe-1", None, true).await;
    assert_eq!(
        (status, item["properties"]["brand"].clone()),
        (200, json!("Acme")),
        "{item}"
    );
    assert_eq!(
        send(&s, Method::GET, "/v1/items/hat-1", None, true).await.1["available"],
        false
    );
    assert_eq!(
        send(&s, Method::DELETE, "/v1/items/hat-1", None, true)
            .await
            .0,
        204
    );
    assert_eq!(
        send(&s, Method::DELETE, "/v1/items/hat-1", None, true)
            .await
            .0,
        404
    );
    let (status, a) = s
        .post(
            "/v1/batch",
            json!({"batch": [common::track("late", "Product Viewed",
                json!({"product_id": "hat-1", "category": "hats"}), "late-1", &common::ts(90))]}),
        )
        .await;
    assert_eq!(status, 200, "{a}");
    s.wait_processed().await;
    assert_eq!(
        send(&s, Method::GET, "/v1/items/hat-1", None, true).await.0,
        404,
        "events do not recreate a deleted item"
    );
    for q in [
        "user_id=nobody&k=7",
        "anonymous_id=new-visitor&k=20",
        "item_id=hat-2&k=20",
        "user_id=h1&k=20&category=hats",
    ] {
        let (_, recs) = s.get(&format!("/v1/recommendations?{q}")).await;
        assert!(!ids(&recs).contains(&"hat-1".to_owned()), "{q}: {recs}");
    }
    let (status, _) = send(
        &s,
        Method::PUT,
        "/v1/items/hat-1",
        Some(json!({"categories": ["hats"]})),
        true,
    )
    .await;
    assert_eq!(status, 201);
    let (_, recs) = s.get("/v1/recommendations?user_id=nobody&k=7").await;
    assert!(
        ids(&recs).contains(&"hat-1".to_owned()),
        "put again: {recs}"
    );
    s.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn items_learn_category_and_price_from_events_and_keep_what_the_api_set() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.models.retrain = false;
    let s = start(cfg.clone()).await;
    let (status, _) = s
        .post(
            "/v1/items",
            json!({"items": [{"id": "set-1", "price": 10.0}]}),
        )
        .await;
    assert_eq!(status, 200);
    let ev = |id: &str, item: &str, props: Value| {
        let mut p = props;
        p["product_id"] = item.into();
        json!({"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": id,
               "properties": p})
    };
    let batch = vec![
        ev("l-1", "new-1", json!({"category": "hats", "price": 12.5})),
        ev("l-2", "new-1", json!({"price": 11.0})),
        ev("l-3", "set-1", json!({"category": "shoes", "price": 99.0})),
        ev("l-4", "plain", json!({})),
    ];
    let (status, a) = s.post("/v1/batch", json!({"batch": batch})).await;
    assert_eq!((status, a["accepted"].clone()), (200, json!(4)), "{a}");
    // Learning runs after the acknowledgement: poll.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let learned = loop {
        let (status, item) = s.get("/v1/items/new-1").await;
        if status == 200 && item["price"] == 11.0 {
            break item;
        }
        assert!(std::time::Instant::now() < deadline, "not learned: {item}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(learned["categories"], json!(["hats"]), "{learned}");
    assert_eq!(learned["available"], true);
    assert_eq!(
        learned["learned"],
        json!(["categories", "price"]),
        "{learned}"
    );
    let (_, set) = s.get("/v1/items/set-1").await;
    assert_eq!(set["price"], 10.0, "the API's price wins: {set}");
    assert_eq!(
        set["categories"],
        json!(["shoes"]),
        "a missing category is learned: {set}"
    );
    assert_eq!(set["learned"], json!(["categories"]), "{set}");
    let (status, _) = s.get("/v1/items/plain").await;
    assert_eq!(status, 404, "nothing to learn, nothing stored");
    s.server.shutdown().await.expect("shutdown");

    // Learned values are in the catalog topic: they survive a restart.
    let s = start(cfg).await;
    let (_, again) = s.get("/v1/items/new-1").await;
    assert_eq!(again, learned);
    s.server.shutdown().await.expect("shutdown");
}
