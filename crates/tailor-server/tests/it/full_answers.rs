//! Full answers through the serving path: random catalogs (some items unavailable, some
//! deleted, some never named by an event), random histories, and random requests (k,
//! category, excluded ids, context item, surface); every answer holds min(k, eligible items)
//! distinct eligible items, with and without a trained model.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::common::{self, config, item_ids, start, track, ts};

const KEY: &str = "sk_fill";

/// splitmix64 (the server's own mixer): the cases are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        tailor_server::mix::mix64(self.0)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
}

struct World {
    /// id → category of every item that may be recommended (before a request's rules).
    items: BTreeMap<String, String>,
    /// user → (items interacted with, items bought).
    users: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
}

async fn build(s: &common::TestServer, rng: &mut Rng) -> World {
    let n = 15 + rng.below(40);
    let mut items = BTreeMap::new();
    let mut gone = BTreeSet::new();
    let mut catalog = Vec::new();
    for i in 0..n {
        let id = format!("p{i}");
        let cat = format!("c{}", rng.below(4));
        let available = !rng.chance(0.15);
        if rng.chance(0.7) {
            catalog.push(json!({"id": id, "categories": [cat], "available": available}));
            if !available {
                gone.insert(id.clone());
            }
        }
        items.insert(id, cat);
    }
    let (status, a) = s.post("/v1/items", json!({"items": catalog})).await;
    assert_eq!(status, 200, "{a}");
    // Events name most items (some only events know), in time order so that none is late;
    // a few catalog items are deleted.
    let mut users = BTreeMap::new();
    let mut events = Vec::new();
    let ids: Vec<String> = items.keys().cloned().collect();
    for u in 0..12 {
        let user = format!("u{u}");
        let (mut seen, mut bought) = (BTreeSet::new(), BTreeSet::new());
        for e in 0..(1 + rng.below(8)) {
            let id = &ids[rng.below(ids.len())];
            let props = json!({"product_id": id, "category": items[id]});
            if rng.chance(0.2) {
                events.push(track(
                    &user,
                    "Order Completed",
                    json!({"products": [props]}),
                    &format!("{user}-{e}"),
                    &ts(events.len() as u32),
                ));
                bought.insert(id.clone());
            } else {
                events.push(track(
                    &user,
                    "Product Viewed",
                    props,
                    &format!("{user}-{e}"),
                    &ts(events.len() as u32),
                ));
            }
            seen.insert(id.clone());
        }
        users.insert(user, (seen, bought));
    }
    let (status, a) = s.post("/v1/batch", json!({"batch": events})).await;
    assert_eq!(status, 200, "{a}");
    for item in catalog.iter().filter(|_| rng.chance(0.15)) {
        let id = item["id"].as_str().expect("id");
        let resp = s
            .http
            .delete(format!("{}/v1/items/{id}", s.url))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("delete");
        assert_eq!(resp.status().as_u16(), 204);
        gone.insert(id.to_owned());
    }
    s.wait_processed().await;
    // Items that neither the catalog nor an event named cannot be known to the server.
    let named: BTreeSet<String> = catalog
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .chain(users.values().flat_map(|(seen, _)| seen.iter().cloned()))
        .collect();
    items.retain(|id, _| named.contains(id) && !gone.contains(id));
    World { items, users }
}

async fn check_requests(s: &common::TestServer, world: &World, rng: &mut Rng, rounds: usize) {
    let ids: Vec<&String> = world.items.keys().collect();
    for _ in 0..rounds {
        let k = 1 + rng.below(30);
        let mut q = vec![format!("k={k}")];
        let user = match rng.below(3) {
            0 => None,
            1 => Some(format!("u{}", rng.below(12))),
            _ => Some("someone-new".to_owned()),
        };
        if let Some(u) = &user {
            q.push(format!("user_id={u}"));
        }
        let category = rng.chance(0.5).then(|| format!("c{}", rng.below(5)));
        if let Some(c) = &category {
            q.push(format!("category={c}"));
        }
        let context =
            (rng.chance(0.3) && !ids.is_empty()).then(|| ids[rng.below(ids.len())].clone());
        if let Some(i) = &context {
            q.push(format!("item_id={i}"));
        }
        let exclude: BTreeSet<String> = (0..rng.below(4))
            .filter(|_| !ids.is_empty())
            .map(|_| ids[rng.below(ids.len())].clone())
            .collect();
        if !exclude.is_empty() {
            q.push(format!(
                "exclude={}",
                exclude.iter().cloned().collect::<Vec<_>>().join(",")
            ));
        }
        let surface = ["home", "next_item", "buy_again"][rng.below(3)];
        q.push(format!("surface={surface}"));
        let empty = (BTreeSet::new(), BTreeSet::new());
        let (seen, bought) = user
            .as_ref()
            .and_then(|u| world.users.get(u))
            .unwrap_or(&empty);
        let eligible = |id: &str| {
            world.items.contains_key(id)
                && category.as_ref().is_none_or(|c| &world.items[id] == c)
                && context.as_deref() != Some(id)
                && !exclude.contains(id)
                && match surface {
                    "home" => !seen.contains(id) && !bought.contains(id),
                    "next_item" => !bought.contains(id),
                    _ => true,
                }
        };
        let expected = world.items.keys().filter(|id| eligible(id)).count().min(k);
        let query = q.join("&");
        let (status, recs) = s.get(&format!("/v1/recommendations?{query}")).await;
        assert_eq!(status, 200, "{query}: {recs}");
        let got = item_ids(&recs);
        assert_eq!(got.len(), expected, "{query}: {recs}");
        assert_eq!(
            got.iter().collect::<BTreeSet<_>>().len(),
            got.len(),
            "distinct: {query}: {recs}"
        );
        if let Some(bad) = got.iter().find(|id| !eligible(id)) {
            let (_, row) = s
                .get(&format!(
                    "/v1/features/user/{}",
                    user.as_deref().unwrap_or("-")
                ))
                .await;
            panic!("{bad}: row {row}");
        }
        for id in &got {
            assert!(
                eligible(id),
                "{id} is not eligible (known {}, seen {seen:?}, bought {bought:?}): {query}: {recs}",
                world.items.contains_key(id.as_str())
            );
        }
        for item in recs["items"].as_array().expect("items") {
            let source = item["source"].as_str().unwrap_or_default();
            assert!(
                [
                    "model",
                    "cooc",
                    "category",
                    "trending",
                    "popular",
                    "exploration"
                ]
                .contains(&source),
                "{item}"
            );
        }
    }
}

#[tokio::test]
async fn answers_hold_k_items_whenever_k_eligible_items_exist() {
    for seed in 0..3u64 {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = config(dir.path());
        cfg.collector.secret_keys = vec![KEY.into()];
        cfg.models.retrain = false;
        cfg.models.min_interactions = 1;
        let s = start(cfg).await;
        let mut rng = Rng(seed * 7919 + 1);
        let world = build(&s, &mut rng).await;
        check_requests(&s, &world, &mut rng, 60).await;
        // The same with a trained model merged in.
        let (status, job) = s.post("/v1/admin/train", json!({})).await;
        assert_eq!(status, 200, "{job}");
        let (_, recs) = s.get("/v1/recommendations?user_id=u1").await;
        assert!(
            recs["model"]
                .as_str()
                .unwrap_or_default()
                .starts_with("default@v1+"),
            "{recs}"
        );
        check_requests(&s, &world, &mut rng, 60).await;
        s.server.shutdown().await.expect("shutdown");
    }
}
