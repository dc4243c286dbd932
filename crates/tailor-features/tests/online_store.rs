//! Online store scenarios, written once over the trait and run against every backend.

use std::sync::Arc;

use tailor_features::engine::{FeatureEngine, FeatureEvent, FeaturesConfig};
use tailor_features::online::{self, FeatureReader, LiveReader, OnlineBackend, OnlineStore};
use tailor_features::{EmbeddedStore, FeatureRow, FeatureValue};

fn row(entity: &str, id: &str, as_of_ms: i64, views: i64) -> FeatureRow {
    FeatureRow {
        entity: entity.into(),
        id: id.into(),
        as_of_ms,
        values: vec![("views".into(), FeatureValue::Int(views))],
    }
}

/// Writes, overwrites, stale writes, misses, kinds kept apart, order of `read_many`.
fn scenario(store: &dyn OnlineStore) {
    store
        .write(vec![
            row("item", "P1", 10, 1),
            row("item", "P2", 10, 2),
            row("user", "P1", 10, 9),
        ])
        .expect("write");
    let got = store
        .read_many("item", &["P2".into(), "nope".into(), "P1".into()])
        .expect("read");
    assert_eq!(
        got,
        vec![
            Some(row("item", "P2", 10, 2)),
            None,
            Some(row("item", "P1", 10, 1))
        ]
    );
    assert_eq!(
        store.read("user", "P1").expect("read"),
        Some(row("user", "P1", 10, 9))
    );
    store.write(vec![row("item", "P1", 20, 5)]).expect("newer");
    store.write(vec![row("item", "P1", 15, 3)]).expect("stale");
    assert_eq!(
        store.read("item", "P1").expect("read"),
        Some(row("item", "P1", 20, 5))
    );
    assert_eq!(store.read("category", "P1").expect("read"), None);
}

/// u1 views P9 (shoes) at t = 1 s.
fn u1_views_p9() -> FeatureEvent {
    FeatureEvent {
        event: Some("Product Viewed".into()),
        user_id: Some("u1".into()),
        event_time_ms: 1_000,
        received_at_ms: 1_000,
        interactions: vec![tailor_event::Interaction {
            kind: tailor_event::InteractionKind::View,
            item_id: "P9".into(),
            category: Some("shoes".into()),
            price: Some(3.5),
            quantity: None,
            currency: None,
            order_id: None,
            rec_id: None,
        }],
        ..FeatureEvent::default()
    }
}

/// Rows the engine materializes go through the store unchanged.
fn engine_rows_round_trip(store: &dyn OnlineStore) {
    let mut engine = FeatureEngine::new(&FeaturesConfig::default(), 2).expect("engine");
    let event = u1_views_p9();
    engine.apply(1, 0, &event);
    let touched = engine.take_touched();
    let rows = engine.materialize(&touched);
    assert_eq!(rows.len(), 3);
    store.write(rows.clone()).expect("write");
    for r in &rows {
        let back = store.read(&r.entity, &r.id).expect("read").expect("stored");
        assert_eq!(&back, r);
        // And through JSON, as a networked backend would keep it.
        let json = serde_json::to_string(r).expect("json");
        let parsed: FeatureRow = serde_json::from_str(&json).expect("parse");
        assert_eq!(&parsed, r);
    }
}

fn backends() -> Vec<(&'static str, Arc<dyn OnlineStore>)> {
    let OnlineBackend::Store(memory) = online::open("memory://").expect("memory") else {
        panic!("memory:// is a materialized store");
    };
    vec![
        ("EmbeddedStore", Arc::new(EmbeddedStore::new())),
        ("memory://", memory),
    ]
}

/// `embedded://` reads the engine state in place: the same rows the engine would
/// materialize, visible as soon as the event is applied, unknown ids and kinds absent.
#[test]
fn live_reader_reads_the_engine_state() {
    assert!(matches!(
        online::open("embedded://").expect("embedded"),
        OnlineBackend::Live
    ));
    let engine = Arc::new(parking_lot::RwLock::new(
        FeatureEngine::new(&FeaturesConfig::default(), 2).expect("engine"),
    ));
    let reader = LiveReader::new(engine.clone());
    assert_eq!(reader.read("user", "u1").expect("read"), None);
    let mut event = u1_views_p9();
    engine.write().apply(1, 0, &event);
    let row = reader
        .read("user", "u1")
        .expect("read")
        .expect("visible at once");
    assert_eq!(row.as_of_ms, 1_000);
    assert_eq!(
        row.get("user_last_items"),
        Some(&FeatureValue::List(vec![FeatureValue::Str("P9".into())]))
    );
    event.event_time_ms = 2_000;
    event.interactions[0].item_id = "P10".into();
    engine.write().apply(0, 0, &event);
    let many = reader
        .read_many("item", &["P10".into(), "nope".into(), "P9".into()])
        .expect("read");
    let expected = {
        let e = engine.read();
        vec![
            e.read(&tailor_features::EntityKind::Item, "P10"),
            None,
            e.read(&tailor_features::EntityKind::Item, "P9"),
        ]
    };
    assert_eq!(many, expected);
    assert!(many[0].is_some() && many[2].is_some());
    assert_eq!(many[2].as_ref().map(|r| r.as_of_ms), Some(2_000));
    assert_eq!(reader.read("nonsense", "u1").expect("read"), None);
}

#[test]
fn every_backend_passes_the_scenarios() {
    for (name, store) in backends() {
        eprintln!("backend {name}");
        scenario(store.as_ref());
        engine_rows_round_trip(store.as_ref());
    }
}

#[test]
fn unknown_schemes_are_refused() {
    let err = online::open("redis://localhost").expect_err("not yet");
    assert!(err.to_string().contains("embedded://"), "{err}");
    assert!(err.to_string().contains("memory://"), "{err}");
}

#[test]
fn embedded_store_forgets_old_rows() {
    let store = EmbeddedStore::new();
    store
        .write(vec![row("item", "a", 5, 1), row("item", "b", 50, 1)])
        .expect("write");
    assert_eq!(store.retain_newer_than(10), 1);
    assert_eq!(store.len(), 1);
}
