//! Attribution: impressions, clicks and purchases carrying a served list's `rec_id` are
//! counted per model, variant and surface; so are clicks, carts and purchases of a listed
//! item by the same user soon after serving (no `rec_id`); other events are not.

use crate::common;

use common::{config, item_ids, shop_events, start, track, ts};
use serde_json::json;

#[tokio::test]
async fn events_with_rec_id_are_joined_to_the_served_list() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.models.retrain = false;
    let s = start(cfg).await;
    s.post("/v1/batch", json!({"batch": shop_events()})).await;
    s.wait_processed().await;

    let (status, e) = s.get("/v1/recommendations?user_id=u&surface=Home!").await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["message"].as_str().expect("msg").contains("surface"),
        "{e}"
    );
    let (_, recs) = s
        .get("/v1/recommendations?user_id=shopper&k=3&surface=home")
        .await;
    assert_eq!(
        (recs["surface"].as_str(), recs["variant"].as_str()),
        (Some("home"), Some("default"))
    );
    let rec_id = recs["rec_id"].as_str().expect("rec_id").to_owned();
    let items = item_ids(&recs);
    let first = items[0].clone();
    let (_, other) = s.get("/v1/recommendations?user_id=someone&k=3").await;
    assert_eq!(other["surface"], "default");

    let products: Vec<_> = items.iter().map(|i| json!({"product_id": i})).collect();
    let list = json!({"rec_id": rec_id, "products": products});
    let ev = |name: &str, props: serde_json::Value, id: &str, m: u32| {
        track("shopper", name, props, id, &ts(m))
    };
    let batch = vec![
        ev("Product List Viewed", list.clone(), "a-1", 40),
        // Viewing the list again is not a second impression.
        ev("Product List Viewed", list, "a-2", 41),
        ev(
            "Product Clicked",
            json!({"product_id": first, "rec_id": rec_id}),
            "a-3",
            42,
        ),
        // The same click again (another messageId) counts once.
        ev(
            "Product Clicked",
            json!({"product_id": first, "rec_id": rec_id}),
            "a-4",
            43,
        ),
        // An item that was not in the list, and an unknown rec_id: not attributed.
        ev(
            "Product Clicked",
            json!({"product_id": "not-listed", "rec_id": rec_id}),
            "a-5",
            44,
        ),
        ev(
            "Product Clicked",
            json!({"product_id": first, "rec_id": "no-such-list"}),
            "a-6",
            45,
        ),
        ev(
            "Order Completed",
            json!({"order_id": "o1", "products": [
            {"product_id": first, "price": 20, "quantity": 2, "rec_id": rec_id}]}),
            "a-7",
            46,
        ),
    ];
    let (status, a) = s.post("/v1/batch", json!({"batch": batch})).await;
    assert_eq!((status, a["accepted"].clone()), (200, json!(7)), "{a}");

    let (_, stats) = s.get("/v1/stats/recommendations").await;
    let rows = stats["rows"].as_array().expect("rows");
    let home = rows
        .iter()
        .find(|r| r["surface"] == "home")
        .expect("home row");
    assert_eq!(home["model"], "cooc-trending-v1", "{stats}");
    assert_eq!(home["served"], 1, "{stats}");
    assert_eq!(home["impressions"], 1, "{stats}");
    assert_eq!(home["clicks"], 1, "{stats}");
    assert_eq!(home["purchases"], 1, "{stats}");
    assert_eq!(home["revenue"], 40.0, "{stats}");
    assert_eq!(home["ctr"], 1.0, "{stats}");
    let default = rows
        .iter()
        .find(|r| r["surface"] == "default")
        .expect("default row");
    assert_eq!(
        (default["served"].clone(), default["impressions"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(
        default["ctr"],
        serde_json::Value::Null,
        "no impressions: no CTR"
    );

    // Following a recommendation without its rec_id: the user the list was served to adds
    // a listed item to the cart; another user's add of it, and an unlisted item, do not count.
    let other_first = item_ids(&other)[0].clone();
    let follow = vec![
        track(
            "someone",
            "Product Added",
            json!({"product_id": other_first}),
            "f-1",
            &ts(50),
        ),
        track(
            "stranger",
            "Product Added",
            json!({"product_id": other_first}),
            "f-2",
            &ts(51),
        ),
        track(
            "someone",
            "Product Added",
            json!({"product_id": "not-listed"}),
            "f-3",
            &ts(52),
        ),
    ];
    let (status, a) = s.post("/v1/batch", json!({"batch": follow})).await;
    assert_eq!((status, a["accepted"].clone()), (200, json!(3)), "{a}");
    let (_, stats) = s.get("/v1/stats/recommendations").await;
    let default = stats["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["surface"] == "default")
        .expect("default row")
        .clone();
    assert_eq!(default["add_to_carts"], 1, "{stats}");
    assert_eq!(default["clicks"], 0, "{stats}");

    let text = s.metrics_text().await;
    assert!(
        text.lines()
            .any(|l| l.starts_with("tailor_recommendation_events_total{")
                && l.contains("join=\"follow\"")
                && l.contains("kind=\"add_to_cart\"")),
        "metrics"
    );
    assert!(
        text.contains("tailor_recommendations_served_total{"),
        "metrics"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("tailor_recommendation_events_total{")
                && l.contains("kind=\"click\"")
                && l.contains("surface=\"home\"")),
        "metrics"
    );
    s.server.shutdown().await.expect("shutdown");
}
