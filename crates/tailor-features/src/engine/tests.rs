use serde_json::json;
use tailor_event::{Interaction, InteractionKind};

use super::*;

const T0: i64 = 1_704_067_200_000;
const MIN: i64 = 60_000;

fn inter(kind: InteractionKind, item: &str, cat: &str, price: f64) -> Interaction {
    Interaction {
        kind,
        item_id: item.into(),
        category: Some(cat.into()),
        price: Some(price),
        quantity: None,
        currency: None,
        order_id: None,
        rec_id: None,
    }
}

fn ev(user: &str, name: &str, t: i64, interactions: Vec<Interaction>) -> FeatureEvent {
    FeatureEvent {
        event: Some(name.into()),
        user_id: Some(user.into()),
        anonymous_id: None,
        event_time_ms: t,
        received_at_ms: t,
        interactions,
        properties: None,
    }
}

fn view(user: &str, item: &str, t: i64) -> FeatureEvent {
    ev(
        user,
        "Product Viewed",
        t,
        vec![inter(InteractionKind::View, item, "shoes", 10.0)],
    )
}

fn engine() -> FeatureEngine {
    FeatureEngine::new(&FeaturesConfig::default(), 1).expect("defaults compile")
}

fn value<'a>(row: &'a FeatureRow, name: &str) -> &'a FeatureValue {
    row.get(name).unwrap_or_else(|| panic!("no feature {name}"))
}

#[test]
fn defaults_compile_and_count() {
    let mut e = engine();
    let set = e.feature_set().clone();
    assert!(!set.needs_properties());
    assert!(set
        .feature_names(&EntityKind::Item)
        .contains(&"item_ctr_24h"));
    e.apply(0, 0, &view("u1", "P1", T0));
    e.apply(0, 1, &view("u1", "P1", T0 + MIN));
    e.apply(
        0,
        2,
        &ev(
            "u1",
            "Product Clicked",
            T0 + 2 * MIN,
            vec![inter(InteractionKind::Click, "P1", "shoes", 10.0)],
        ),
    );
    e.apply(
        0,
        3,
        &ev(
            "u2",
            "Product List Viewed",
            T0 + 3 * MIN,
            vec![
                inter(InteractionKind::Impression, "P1", "shoes", 10.0),
                inter(InteractionKind::Impression, "P2", "bags", 20.0),
            ],
        ),
    );
    e.apply(
        0,
        4,
        &ev(
            "u1",
            "Order Completed",
            T0 + 4 * MIN,
            vec![
                Interaction {
                    quantity: Some(2.0),
                    ..inter(InteractionKind::Purchase, "P1", "shoes", 10.0)
                },
                inter(InteractionKind::Purchase, "P3", "bags", 5.0),
            ],
        ),
    );
    let item = e.read(&EntityKind::Item, "P1").expect("P1");
    assert_eq!(item.as_of_ms, T0 + 4 * MIN);
    assert_eq!(value(&item, "item_views_1h"), &FeatureValue::Int(2));
    assert_eq!(value(&item, "item_clicks_24h"), &FeatureValue::Int(1));
    assert_eq!(value(&item, "item_ctr_24h"), &FeatureValue::Float(1.0));
    assert_eq!(
        value(&item, "item_conversion_rate_24h"),
        &FeatureValue::Float(0.5)
    );
    assert_eq!(value(&item, "item_revenue_7d"), &FeatureValue::Float(20.0));
    let p2 = e.read(&EntityKind::Item, "P2").expect("P2");
    assert_eq!(value(&p2, "item_ctr_24h"), &FeatureValue::Float(0.0));
    assert_eq!(value(&p2, "item_conversion_rate_24h"), &FeatureValue::Null);

    let user = e.read(&EntityKind::User, "u1").expect("u1");
    assert_eq!(
        value(&user, "user_last_items"),
        &FeatureValue::List(vec![
            FeatureValue::Str("P3".into()),
            FeatureValue::Str("P1".into())
        ])
    );
    assert_eq!(value(&user, "user_session_length"), &FeatureValue::Int(4));
    let FeatureValue::Map(aff) = value(&user, "user_category_affinity") else {
        panic!("affinity is a map")
    };
    assert_eq!(
        aff[0].0, "shoes",
        "views, click and purchase of shoes outweigh one bag"
    );
    let global = e.read(&EntityKind::Global, GLOBAL_ID).expect("global");
    assert_eq!(value(&global, "global_events_1h"), &FeatureValue::Int(5));
    assert!(e.read(&EntityKind::User, "nobody").is_none());
}

#[test]
fn late_events_are_counted_not_applied() {
    let mut e = engine();
    e.apply(0, 0, &view("u1", "P1", T0 + 10 * MIN));
    let within = e.apply(0, 1, &view("u1", "P1", T0 + 10 * MIN - 5 * MIN));
    assert!(!within.late);
    let late = e.apply(0, 2, &view("u1", "P1", T0 + 10 * MIN - 5 * MIN - 1));
    assert!(late.late);
    assert_eq!(late.touched, 0);
    assert_eq!(e.partitions()[0].late_events(), 1);
    assert_eq!(e.next_offsets(), vec![3]);
    let item = e.read(&EntityKind::Item, "P1").expect("P1");
    assert_eq!(value(&item, "item_views_1h"), &FeatureValue::Int(2));
}

#[test]
fn sessions_end_after_the_gap() {
    let mut e = engine();
    e.apply(0, 0, &view("u1", "P1", T0));
    e.apply(0, 1, &view("u1", "P2", T0 + 10 * MIN));
    e.apply(0, 2, &view("u2", "P9", T0 + 40 * MIN));
    let u1 = e.read(&EntityKind::User, "u1").expect("u1");
    assert_eq!(value(&u1, "user_session_length"), &FeatureValue::Int(2));
    e.apply(0, 3, &view("u2", "P9", T0 + 41 * MIN));
    let u1 = e.read(&EntityKind::User, "u1").expect("u1");
    assert_eq!(
        value(&u1, "user_session_length"),
        &FeatureValue::Int(0),
        "gap passed"
    );
    assert_eq!(
        value(&u1, "user_session_items"),
        &FeatureValue::List(vec![])
    );
    e.apply(0, 4, &view("u1", "P3", T0 + 45 * MIN));
    let u1 = e.read(&EntityKind::User, "u1").expect("u1");
    assert_eq!(
        value(&u1, "user_session_length"),
        &FeatureValue::Int(1),
        "new session"
    );
}

#[test]
fn ttl_drops_idle_entities_and_compacts_strings() {
    let cfg = FeaturesConfig {
        entity_ttl_secs: 3_600,
        ..FeaturesConfig::default()
    };
    let mut e = FeatureEngine::new(&cfg, 1).expect("engine");
    e.apply(0, 0, &view("old", "P-old", T0));
    for i in 0..10_000i64 {
        let t = T0 + 2 * 3_600_000 + i * 100;
        e.apply(
            0,
            1 + i as u64,
            &view(&format!("u{i}"), &format!("P{}", i % 10), t),
        );
    }
    assert!(e.read(&EntityKind::User, "old").is_none());
    assert!(e.read(&EntityKind::Item, "P-old").is_none());
    assert!(e.read(&EntityKind::User, "u9999").is_some());
    let interned = e.partitions()[0].interner.len();
    assert!(interned < 10_000 + 20, "compaction ran: {interned} strings");
    // Last items of surviving users still resolve after compaction.
    let row = e.read(&EntityKind::User, "u9999").expect("row");
    assert_eq!(
        value(&row, "user_last_items"),
        &FeatureValue::List(vec![FeatureValue::Str("P9".into())])
    );
}

/// A flood of new user ids within the TTL: past the capacity by an eighth, the least
/// recently active go; the survivors keep their values, strings are compacted, and a state
/// restored from a snapshot mid-way evicts the same entities as an uninterrupted run.
#[test]
fn entities_over_capacity_go_least_recent_first_and_replays_agree() {
    let cfg = FeaturesConfig {
        max_entities_per_partition: 1_000,
        ..FeaturesConfig::default()
    };
    let events: Vec<FeatureEvent> = (0..20_000i64)
        .map(|i| {
            view(
                &format!("u{i}"),
                &format!("P{}", i % 10),
                T0 + (i / 3) * 100,
            )
        })
        .collect();
    let run = |split: Option<usize>| {
        let mut e = FeatureEngine::new(&cfg, 1).expect("engine");
        for (i, ev) in events.iter().enumerate() {
            if Some(i) == split {
                let bytes = e.encode_partition(0).expect("p0");
                let mut fresh = FeatureEngine::new(&cfg, 1).expect("engine");
                fresh.restore_partition(0, &bytes).expect("restore");
                e = fresh;
            }
            e.apply(0, i as u64, ev);
            let users = e.partitions()[0].kinds.iter().map(|k| k.len()).max();
            assert!(users.is_some_and(|n| n <= 1_125), "{users:?} entities");
        }
        e
    };
    let e = run(None);
    assert!(
        e.read(&EntityKind::User, "u0").is_none(),
        "the first user went"
    );
    let row = e
        .read(&EntityKind::User, "u19999")
        .expect("the newest stays");
    assert_eq!(
        value(&row, "user_last_items"),
        &FeatureValue::List(vec![FeatureValue::Str("P9".into())])
    );
    assert!(e.read(&EntityKind::Item, "P3").is_some(), "items are few");
    let interned = e.partitions()[0].interner.len();
    // Compaction keeps strings under twice the larger of their last count and 4096.
    assert!(interned <= 2 * 4_096, "compaction ran: {interned} strings");
    let restored = run(Some(12_345));
    assert_eq!(
        e.encode_partition(0).expect("p0"),
        restored.encode_partition(0).expect("p0")
    );
}

#[test]
fn encoding_is_deterministic_and_restores() {
    let events: Vec<FeatureEvent> = (0..500)
        .map(|i| {
            view(
                &format!("u{}", i % 7),
                &format!("P{}", i % 11),
                T0 + i * 7_000 - (i % 5) * 3_000,
            )
        })
        .collect();
    let run = |split: Option<usize>| {
        let mut e = engine();
        for (i, ev) in events.iter().enumerate() {
            if Some(i) == split {
                let bytes = e.encode_partition(0).expect("p0");
                let mut fresh = engine();
                fresh.restore_partition(0, &bytes).expect("restore");
                e = fresh;
            }
            e.apply(0, i as u64, ev);
        }
        e
    };
    let a = run(None);
    let b = run(None);
    let c = run(Some(250));
    let bytes = a.encode_partition(0).expect("bytes");
    assert_eq!(bytes, b.encode_partition(0).expect("b"));
    assert_eq!(bytes, c.encode_partition(0).expect("c"));
    assert_eq!(a.entities(), c.entities());
    for key in a.entities() {
        assert_eq!(a.read(&key.kind, &key.id), c.read(&key.kind, &key.id));
    }
}

#[test]
fn snapshots_refuse_garbage_and_other_definitions() {
    let mut e = engine();
    e.apply(0, 0, &view("u1", "P1", T0));
    let bytes = e.encode_partition(0).expect("bytes");
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(matches!(
        e.restore_partition(0, &flipped),
        Err(crate::Error::FeatureState(_))
    ));
    assert!(e.restore_partition(0, b"nope").is_err());
    let other = FeaturesConfig {
        defaults: false,
        define: vec![FeatureDef {
            name: "n".into(),
            entity: "user".into(),
            aggregation: "count".into(),
            ..FeatureDef::default()
        }],
        ..FeaturesConfig::default()
    };
    let mut o = FeatureEngine::new(&other, 1).expect("other");
    assert!(matches!(
        o.restore_partition(0, &bytes),
        Err(crate::Error::FeatureDefinitionsChanged)
    ));
}

#[test]
fn properties_feed_predicates_and_entities() {
    let cfg: FeaturesConfig = toml::from_str(
        r#"
        defaults = false
        [[define]]
        name = "brand_views_24h"
        entity = "property:brand"
        events = ["Product Viewed"]
        aggregation = "count"
        window = "24h"
        [[define]]
        name = "user_expensive_views"
        entity = "user"
        where = [{ property = "price", op = "gt", value = 10 }]
        aggregation = "count"
        [[define]]
        name = "user_coupons"
        entity = "user"
        aggregation = "distinct_count"
        field = "properties.coupon"
        "#,
    )
    .expect("toml");
    let mut e = FeatureEngine::new(&cfg, 1).expect("engine");
    assert!(e.feature_set().needs_properties());
    let mut add = |off: u64, price: f64, brand: serde_json::Value, coupon: &str| {
        let mut event = view("u1", "P1", T0 + off as i64 * 1_000);
        event.properties = Some(json!({"price": price, "brand": brand, "coupon": coupon}));
        e.apply(0, off, &event);
    };
    add(0, 5.0, json!("acme"), "A");
    add(1, 15.0, json!("acme"), "B");
    add(2, 25.0, json!(42), "A");
    let user = e.read(&EntityKind::User, "u1").expect("u1");
    assert_eq!(value(&user, "user_expensive_views"), &FeatureValue::Int(2));
    assert_eq!(value(&user, "user_coupons"), &FeatureValue::Int(2));
    let brand = EntityKind::Property("brand".into());
    let acme = e.read(&brand, "acme").expect("acme");
    assert_eq!(acme.entity, "property:brand");
    assert_eq!(value(&acme, "brand_views_24h"), &FeatureValue::Int(2));
    assert!(e.read(&brand, "42").is_some(), "numbers are ids too");
}

#[test]
fn touched_entities_materialize() {
    let mut e = engine();
    e.apply(0, 0, &view("u1", "P1", T0));
    e.apply(0, 1, &view("u1", "P2", T0 + 1));
    let touched = e.take_touched();
    let keys: Vec<String> = touched
        .iter()
        .map(|k| format!("{}:{}", k.kind, k.id))
        .collect();
    // The defaults have no category features, so categories are not entities.
    assert_eq!(keys, ["user:u1", "item:P1", "item:P2", "global:global"]);
    assert!(e.take_touched().is_empty());
    let rows = e.materialize(&touched);
    assert_eq!(rows.len(), touched.len());
    assert!(rows.iter().all(|r| r.as_of_ms == T0 + 1));
}

/// Applies `events` one by one to `one` and in chunks of `chunk` to `batched`; returns the
/// outcomes of both.
fn apply_both(
    one: &mut FeatureEngine,
    batched: &mut FeatureEngine,
    events: &[FeatureEvent],
    chunk: usize,
) -> (Vec<ApplyOutcome>, Vec<ApplyOutcome>) {
    let single: Vec<ApplyOutcome> = events
        .iter()
        .enumerate()
        .map(|(i, e)| one.apply(0, i as u64, e))
        .collect();
    let batch: Vec<(u64, &FeatureEvent)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (i as u64, e))
        .collect();
    let mut outcomes = Vec::new();
    for part in batch.chunks(chunk) {
        batched.apply_batch(0, part, &mut outcomes);
    }
    (single, outcomes)
}

#[test]
fn batches_apply_exactly_like_single_events() {
    let events = bench::synthetic_events(5_000, 300, 500, 3);
    let mut one = engine();
    let mut batched = engine();
    let (single_outcomes, outcomes) = apply_both(&mut one, &mut batched, &events, 777);
    assert_eq!(outcomes, single_outcomes);
    assert_eq!(one.encode_partition(0), batched.encode_partition(0));
    assert_eq!(one.take_touched(), batched.take_touched());
}

#[test]
fn batches_apply_exactly_like_single_events_across_compactions() {
    // The warm-up pass looks symbols up for a whole chunk; a compaction in the middle of a
    // chunk renumbers them, and the rest of the chunk must not use the stale ones.
    let cfg = FeaturesConfig {
        entity_ttl_secs: 3_600,
        ..FeaturesConfig::default()
    };
    let mut events: Vec<FeatureEvent> = (0..4_000)
        .map(|i| view(&format!("a{i}"), &format!("Q{i}"), T0))
        .collect();
    // Users, items and categories interned before the a-users expire; once they have,
    // new items grow the interner until it compacts, renumbering the survivors.
    events.extend((0..1_000i64).map(|i| {
        let item = format!("P{}", i % 7);
        let mut e = view(&format!("b{}", i % 10), &item, T0 + 30 * MIN + i * 10_000);
        e.interactions[0].category = Some(format!("c{}", i % 3));
        if i >= 400 {
            let mut new = e.interactions[0].clone();
            new.item_id = format!("R{i}");
            e.interactions.push(new);
        }
        e
    }));
    let mut one = FeatureEngine::new(&cfg, 1).expect("engine");
    let mut batched = FeatureEngine::new(&cfg, 1).expect("engine");
    let (single_outcomes, outcomes) = apply_both(&mut one, &mut batched, &events, 500);
    assert!(batched.partitions()[0].compactions > 0, "a compaction ran");
    let interned = batched.partitions()[0].interner.len();
    assert!(interned < 1_000, "dead strings dropped: {interned} left");
    assert_eq!(outcomes, single_outcomes);
    assert_eq!(one.encode_partition(0), batched.encode_partition(0));
    assert_eq!(
        batched.read(&EntityKind::User, "b9"),
        one.read(&EntityKind::User, "b9")
    );
}

/// Processes owning some partitions each export their partitions' state of an entity; a
/// reader merging every export (through the encoded bytes) computes exactly the row the
/// engine holding all partitions computes, for every kind of entity: what lets processors
/// share partitions and API servers read the merged features from a shared store.
#[test]
fn merged_exports_read_exactly_as_the_engine() {
    use InteractionKind::*;
    let parts = 4u32;
    let mut e = FeatureEngine::new(&FeaturesConfig::default(), parts).expect("defaults");
    let set = e.feature_set().clone();
    let kinds = [View, Click, AddToCart, Purchase, Impression];
    let names = [
        "Product Viewed",
        "Product Clicked",
        "Product Added",
        "Order Completed",
        "Product List Viewed",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut offsets = vec![0u64; parts as usize];
    for i in 0..3_000i64 {
        let user = format!("u{}", next(40));
        let item = format!("P{}", next(25));
        let cat = ["shoes", "bags", "hats"][next(3) as usize];
        let k = next(5) as usize;
        // Out of order within the lateness, and hours apart so windows and sessions turn.
        let t = T0 + i * 20_000 - next(60) as i64 * 1_000;
        let p = tailor_log::partition_for_key(user.as_bytes(), parts) as usize;
        e.apply(
            p as u32,
            offsets[p],
            &ev(
                &user,
                names[k],
                t,
                vec![inter(kinds[k], &item, cat, 5.0 + next(20) as f64)],
            ),
        );
        offsets[p] += 1;
    }
    let as_of = e.stream_time_ms().expect("events applied");
    let mut checked = 0;
    for key in e.entities() {
        let exports: Vec<PartEntity> = (0..parts)
            .filter_map(|p| e.export_entity(p, &key.kind, &key.id))
            .map(|x| PartEntity::decode(&set, &x.encode(&set)).expect("decodes"))
            .collect();
        assert!(!exports.is_empty(), "{key:?}");
        let merged = set.read_exported(&key.kind, &key.id, as_of, &exports);
        assert_eq!(merged, e.read(&key.kind, &key.id), "{key:?}");
        checked += 1;
    }
    assert!(
        checked > 60,
        "users, items, categories and the global entity: {checked}"
    );
    assert!(set
        .read_exported(&EntityKind::Item, "nobody", as_of, &[])
        .is_none());

    // An export under other definitions is refused, not misread.
    let other = FeatureSet::compile(&FeaturesConfig {
        defaults: false,
        define: vec![FeatureDef {
            name: "n".into(),
            entity: "global".into(),
            aggregation: "count".into(),
            ..FeatureDef::default()
        }],
        ..FeaturesConfig::default()
    })
    .expect("compiles");
    let x = e
        .export_entity(0, &EntityKind::Global, GLOBAL_ID)
        .expect("global in partition 0");
    assert!(matches!(
        PartEntity::decode(&other, &x.encode(&set)),
        Err(crate::Error::FeatureDefinitionsChanged)
    ));
    assert!(PartEntity::decode(&set, b"\x01garbage").is_err());
}
