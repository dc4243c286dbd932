//! Point-in-time training data: no event at or after a label's time leaks in, and offline
//! values equal what the stream engine served at the same moments.

use std::collections::HashMap;
use std::sync::Arc;

use tailor_event::{Interaction, InteractionKind};
use tailor_features::engine::bench::{partition_of, synthetic_events};
use tailor_features::engine::offline::{point_in_time, LoggedEvent, PointQuery};
use tailor_features::{
    EntityKind, FeatureEngine, FeatureEvent, FeatureSet, FeatureValue, FeaturesConfig,
};

fn view(user: &str, item: &str, t: i64) -> FeatureEvent {
    FeatureEvent {
        event: Some("Product Viewed".into()),
        user_id: Some(user.into()),
        event_time_ms: t,
        received_at_ms: t,
        interactions: vec![Interaction {
            kind: InteractionKind::View,
            item_id: item.into(),
            category: Some("shoes".into()),
            price: Some(10.0),
            quantity: None,
            currency: None,
            order_id: None,
            rec_id: None,
        }],
        ..FeatureEvent::default()
    }
}

fn set() -> Arc<FeatureSet> {
    FeatureSet::compile(&FeaturesConfig::default()).expect("defaults")
}

fn strs(v: Option<&FeatureValue>) -> Vec<String> {
    match v {
        Some(FeatureValue::List(l)) => l
            .iter()
            .map(|x| match x {
                FeatureValue::Str(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The log holds a future event before a past one (clients send late); a join on "latest
/// row per user by log position" would leak P-future into a label at 10:00. The training
/// set does not, and an event exactly at the label's time is excluded too.
#[test]
fn no_event_at_or_after_the_label_time_leaks_in() {
    let min = 60_000;
    let t0 = 1_700_000_000_000;
    let events = vec![
        LoggedEvent {
            partition: 0,
            offset: 0,
            event: view("u", "P-past", t0),
        },
        // Logged second, happens 1 minute after the label.
        LoggedEvent {
            partition: 0,
            offset: 1,
            event: view("u", "P-future", t0 + 3 * min),
        },
        // Logged third, happens before the label (2 minutes late: within the lateness).
        LoggedEvent {
            partition: 0,
            offset: 2,
            event: view("u", "P-late", t0 + min),
        },
        // Exactly at the label's time: not "before" it.
        LoggedEvent {
            partition: 0,
            offset: 3,
            event: view("u", "P-at", t0 + 2 * min),
        },
        // Another user, another partition.
        LoggedEvent {
            partition: 1,
            offset: 0,
            event: view("v", "P-other", t0),
        },
    ];
    let q = |id: &str, at| PointQuery {
        kind: EntityKind::User,
        id: id.into(),
        at_ms: at,
    };
    let answers = point_in_time(
        set(),
        2,
        events,
        &[
            q("u", t0 + 2 * min),
            q("u", t0 + 4 * min),
            q("u", t0),
            q("v", t0 + 1),
            q("w", t0 + min),
        ],
        |_| {},
    );
    let at_label = answers[0].as_ref().expect("u exists before the label");
    assert_eq!(strs(at_label.get("user_last_items")), ["P-late", "P-past"]);
    assert_eq!(
        at_label.get("user_session_length"),
        Some(&FeatureValue::Int(2))
    );
    assert_eq!(at_label.as_of_ms, t0 + 2 * min - 1);
    let later = answers[1].as_ref().expect("u later");
    assert_eq!(
        strs(later.get("user_last_items")),
        ["P-future", "P-at", "P-late", "P-past"]
    );
    // Nothing strictly before t0 for u; v's own event only; w never seen.
    assert_eq!(answers[2], None);
    assert_eq!(
        strs(answers[3].as_ref().expect("v").get("user_last_items")),
        ["P-other"]
    );
    assert_eq!(answers[4], None);
}

/// An event the stream dropped as late (older than its partition's watermark when read) is
/// not in the training data either.
#[test]
fn events_the_stream_dropped_as_late_are_dropped_offline() {
    let t0 = 1_700_000_000_000;
    let hour = 3_600_000;
    let events = vec![
        LoggedEvent {
            partition: 0,
            offset: 0,
            event: view("u", "P-now", t0),
        },
        LoggedEvent {
            partition: 0,
            offset: 1,
            event: view("u", "P-too-late", t0 - hour),
        },
    ];
    let mut online = FeatureEngine::new(&FeaturesConfig::default(), 1).expect("engine");
    for e in &events {
        online.apply(e.partition, e.offset, &e.event);
    }
    let answers = point_in_time(
        set(),
        1,
        events,
        &[PointQuery {
            kind: EntityKind::User,
            id: "u".into(),
            at_ms: t0 + 1,
        }],
        |_| {},
    );
    assert_eq!(
        strs(answers[0].as_ref().expect("u").get("user_last_items")),
        ["P-now"]
    );
    assert_eq!(answers[0], online.read(&EntityKind::User, "u"));
}

/// A stream of 20,000 synthetic shop events over 4 partitions, read in event-time order:
/// at 40 moments, the rows the online engine served for users, items, categories and the
/// global entity equal the offline rows for a label 1 ms later.
#[test]
fn offline_values_equal_what_the_stream_served() {
    let mut events = synthetic_events(20_000, 300, 500, 11);
    events.sort_by_key(|e| e.event_time_ms);
    let partitions = 4;
    let mut offsets = [0u64; 4];
    let logged: Vec<LoggedEvent> = events
        .into_iter()
        .map(|event| {
            let partition = partition_of(event.actor_key(), partitions);
            let offset = offsets[partition as usize];
            offsets[partition as usize] += 1;
            LoggedEvent {
                partition,
                offset,
                event,
            }
        })
        .collect();

    let mut online = FeatureEngine::new(&FeaturesConfig::default(), partitions).expect("engine");
    let mut queries = Vec::new();
    let mut served = Vec::new();
    let mut seen_users: Vec<String> = Vec::new();
    let mut seen_items: Vec<String> = Vec::new();
    for (i, e) in logged.iter().enumerate() {
        online.apply(e.partition, e.offset, &e.event);
        if seen_users.len() < 50 {
            seen_users.push(e.event.actor_key().to_owned());
        }
        if let Some(item) = e.event.interactions.first() {
            seen_items.push(item.item_id.clone());
        }
        let next_later = logged
            .get(i + 1)
            .is_none_or(|n| n.event.event_time_ms > e.event.event_time_ms);
        if i % 500 == 499 && next_later {
            let s = online.stream_time_ms().expect("stream time");
            let mut ask = |kind: EntityKind, id: &str| {
                served.push(online.read(&kind, id));
                queries.push(PointQuery {
                    kind,
                    id: id.to_owned(),
                    at_ms: s + 1,
                });
            };
            for u in seen_users.iter().rev().step_by(7).take(5) {
                ask(EntityKind::User, u);
            }
            for it in seen_items.iter().rev().step_by(13).take(5) {
                ask(EntityKind::Item, it);
            }
            ask(EntityKind::Category, "cat-3");
            ask(EntityKind::Global, "global");
        }
    }
    assert!(queries.len() >= 300, "{} queries", queries.len());
    let mut calls = HashMap::new();
    let offline = point_in_time(set(), partitions, logged, &queries, |n| {
        *calls.entry("progress").or_insert(0) += 1;
        assert!(n <= 20_000);
    });
    assert!(calls["progress"] >= 1);
    let found = served.iter().filter(|r| r.is_some()).count();
    assert!(found > queries.len() / 2, "only {found} rows found");
    for ((q, on), off) in queries.iter().zip(&served).zip(&offline) {
        assert_eq!(off, on, "{q:?}");
    }
}
