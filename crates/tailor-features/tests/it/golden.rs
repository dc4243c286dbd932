//! Golden test: `fixtures/feature_events.ndjson` (stored events, as the log holds them)
//! through the default feature set plus extra definitions gives
//! `fixtures/feature_snapshot.json`; so do a run killed half-way and restarted from encoded
//! partition states, and a replay from offset 0.
//!
//! Regenerate both fixtures with `UPDATE_GOLDEN=1 cargo nextest run -p tailor-features --test golden`.

use std::path::PathBuf;

use serde_json::value::RawValue;
use serde_json::{json, Value};
use tailor_event::{Event, EventType};
use tailor_features::engine::bench::{partition_of, Rng};
use tailor_features::engine::{FeatureEngine, FeaturesConfig};

const PARTITIONS: u32 = 3;
const T0: i64 = 1_704_067_200_000;

const CONFIG: &str = r#"
allowed_lateness_secs = 300
session_gap_secs = 1800

[[define]]
name = "brand_views_1h"
entity = "property:brand"
events = ["Product Viewed"]
aggregation = "count"
window = "1h"

[[define]]
name = "category_revenue_1d"
entity = "category"
interactions = ["purchase"]
aggregation = "sum"
field = "revenue"
window = "tumbling:1d"

[[define]]
name = "category_distinct_items_24h"
entity = "category"
aggregation = "distinct_count"
field = "item_id"
window = "24h"

[[define]]
name = "user_max_price"
entity = "user"
aggregation = "max"
field = "price"

[[define]]
name = "user_min_price_session"
entity = "user"
aggregation = "min"
field = "price"
window = "session"

[[define]]
name = "user_last_coupon"
entity = "user"
events = ["Order Completed"]
aggregation = "last"
field = "properties.coupon"

[[define]]
name = "user_expensive_views_24h"
entity = "user"
interactions = ["view"]
where = [{ field = "price", op = "gt", value = 50 }]
aggregation = "count"
window = "24h"

[[define]]
name = "anonymous_home_pages"
entity = "anonymous_id"
events = ["Home"]
aggregation = "count"

[[define]]
name = "user_spend_decayed"
entity = "user"
interactions = ["purchase"]
aggregation = "decayed_sum"
field = "revenue"
half_life = "1h"

[[define]]
name = "global_revenue_by_category"
entity = "global"
interactions = ["purchase"]
aggregation = "sum"
field = "revenue"
group_by = "category"
"#;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v != "0")
}

const CATEGORIES: [&str; 4] = ["shoes", "bags", "hats", "socks"];
const BRANDS: [&str; 3] = ["acme", "globex", "initech"];

fn product(item: u64) -> Value {
    json!({
        "product_id": format!("P{item}"),
        "category": CATEGORIES[(item % 4) as usize],
        "brand": BRANDS[(item % 3) as usize],
        "price": 10 + item * 7,
    })
}

/// ~300 stored events of 8 actors and 15 items over ~4 hours: some out of order within the
/// 5-minute lateness, some 30 minutes behind (late).
fn generate_events() -> String {
    let mut rng = Rng::new(20_240_101);
    let mut out = String::new();
    let mut t = T0;
    for i in 0..300u64 {
        t += 30_000 + rng.below(30_000) as i64;
        let mut event_time = t;
        if i % 37 == 36 {
            event_time -= 30 * 60_000;
        } else if rng.below(10) == 0 {
            event_time -= rng.below(240_000) as i64;
        }
        let actor = rng.below(8);
        let (user_id, anonymous_id) = match actor {
            0 | 1 => (None, Some(format!("anon-{actor}"))),
            a if a == 2 && i % 2 == 0 => (Some("u2".to_owned()), Some("anon-9".to_owned())),
            a => (Some(format!("u{a}")), None),
        };
        let item = 1 + (rng.below(15) * rng.below(15)) / 14;
        let roll = rng.below(100);
        let (kind, name, properties) = match roll {
            0..=44 => (EventType::Track, "Product Viewed", product(item)),
            45..=59 => (EventType::Track, "Product Clicked", {
                let mut p = product(item);
                p["rec_id"] = json!("rec-1");
                p
            }),
            60..=69 => (EventType::Track, "Product Added", product(item)),
            70..=76 => {
                let products: Vec<Value> = (0..1 + rng.below(3))
                    .map(|k| {
                        let mut p = product(1 + (item + k * 4) % 15);
                        p["quantity"] = json!(1 + (k % 2));
                        p
                    })
                    .collect();
                let mut order =
                    json!({"order_id": format!("o{i}"), "currency": "EUR", "products": products});
                if rng.below(2) == 0 {
                    order["coupon"] = json!(format!("SAVE{}", rng.below(3) * 5));
                }
                (EventType::Track, "Order Completed", order)
            }
            77..=86 => {
                let products: Vec<Value> = (0..3).map(|k| product(1 + (item + k) % 15)).collect();
                (
                    EventType::Track,
                    "Product List Viewed",
                    json!({"rec_id": format!("rec-{i}"), "products": products}),
                )
            }
            87..=91 => (EventType::Track, "Signed In", json!({"method": "email"})),
            _ => (EventType::Page, "Home", json!({"path": "/"})),
        };
        let interactions = if kind == EventType::Track {
            tailor_event::ecommerce::interactions(name, &properties)
        } else {
            Vec::new()
        };
        let mut raw = json!({"type": kind.as_str(), "messageId": format!("m{i}"), "properties": properties,
                             "context": {"library": {"name": "golden"}}});
        match kind {
            EventType::Page => raw["name"] = json!(name),
            _ => raw["event"] = json!(name),
        }
        let event = Event {
            message_id: format!("m{i}"),
            kind,
            event: Some(name.to_owned()),
            user_id,
            anonymous_id,
            event_time_ms: event_time,
            received_at_ms: t,
            interactions,
            raw: RawValue::from_string(raw.to_string()).expect("raw json"),
        };
        out.push_str(&String::from_utf8(event.to_json()).expect("utf-8"));
        out.push('\n');
    }
    out
}

/// Stored records assigned to partitions like the log does (by actor key), with offsets.
fn records(ndjson: &str, engine: &FeatureEngine) -> Vec<(u32, u64, Vec<u8>)> {
    let mut offsets = [0u64; PARTITIONS as usize];
    ndjson
        .lines()
        .map(|line| {
            let e = engine
                .decode_event(line.as_bytes())
                .expect("fixture decodes");
            let p = partition_of(e.actor_key(), PARTITIONS);
            let off = offsets[p as usize];
            offsets[p as usize] += 1;
            (p, off, line.as_bytes().to_vec())
        })
        .collect()
}

fn new_engine() -> FeatureEngine {
    let cfg: FeaturesConfig = toml::from_str(CONFIG).expect("golden config");
    FeatureEngine::new(&cfg, PARTITIONS).expect("valid definitions")
}

fn apply(engine: &mut FeatureEngine, records: &[(u32, u64, Vec<u8>)]) {
    for (p, off, bytes) in records {
        let e = engine.decode_event(bytes).expect("decodes");
        engine.apply(*p, *off, &e);
    }
}

fn rounded(v: Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(0.0);
            json!((x * 1e6).round() / 1e6)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(rounded).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, rounded(v))).collect()),
        other => other,
    }
}

fn snapshot(engine: &FeatureEngine) -> String {
    let partitions: Vec<Value> = engine
        .stats()
        .iter()
        .map(|s| {
            json!({"partition": s.partition, "next_offset": s.next_offset, "events": s.events,
                   "late_events": s.late_events, "watermark_ms": s.watermark_ms})
        })
        .collect();
    let rows: Vec<Value> = engine
        .materialize(&engine.entities())
        .iter()
        .map(|r| rounded(r.to_json()))
        .collect();
    let doc =
        json!({"stream_time_ms": engine.stream_time_ms(), "partitions": partitions, "rows": rows});
    serde_json::to_string_pretty(&doc).expect("json") + "\n"
}

#[test]
fn golden_snapshot_restart_and_replay() {
    let events_path = fixture("feature_events.ndjson");
    let snapshot_path = fixture("feature_snapshot.json");
    if updating() {
        std::fs::write(&events_path, generate_events()).expect("write events fixture");
    }
    let ndjson =
        std::fs::read_to_string(&events_path).expect("events fixture (UPDATE_GOLDEN=1 creates it)");
    let template = new_engine();
    let recs = records(&ndjson, &template);
    assert_eq!(recs.len(), 300);

    let mut full = new_engine();
    apply(&mut full, &recs);
    let got = snapshot(&full);
    assert!(
        full.stats().iter().map(|s| s.late_events).sum::<u64>() > 0,
        "fixture has late events"
    );
    if updating() {
        std::fs::write(&snapshot_path, &got).expect("write snapshot fixture");
    }
    let want = std::fs::read_to_string(&snapshot_path)
        .expect("snapshot fixture (UPDATE_GOLDEN=1 creates it)");
    assert!(got == want, "snapshot differs from {}; if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff", snapshot_path.display());

    // Killed half-way: encode every partition, start a new engine from the bytes, go on.
    let (first, second) = recs.split_at(recs.len() / 2);
    let mut before = new_engine();
    apply(&mut before, first);
    let saved: Vec<Vec<u8>> = (0..PARTITIONS)
        .map(|p| before.encode_partition(p).expect("partition"))
        .collect();
    drop(before);
    let mut restarted = new_engine();
    for (p, bytes) in saved.iter().enumerate() {
        restarted
            .restore_partition(p as u32, bytes)
            .expect("restore");
    }
    // Resume each partition from its next offset, as the processor does.
    let resume: Vec<(u32, u64, Vec<u8>)> = recs
        .iter()
        .filter(|(p, off, _)| *off >= restarted.partitions()[*p as usize].next_offset())
        .cloned()
        .collect();
    assert_eq!(resume.len(), second.len());
    apply(&mut restarted, &resume);
    assert_eq!(snapshot(&restarted), want, "restart from encoded state");
    for p in 0..PARTITIONS {
        assert_eq!(
            restarted.encode_partition(p),
            full.encode_partition(p),
            "partition {p} bytes"
        );
    }

    // Replay from offset 0.
    let mut replay = new_engine();
    apply(&mut replay, &recs);
    assert_eq!(snapshot(&replay), want, "replay from zero");
}

#[test]
fn events_fixture_is_reproducible() {
    if updating() {
        return;
    }
    let on_disk = std::fs::read_to_string(fixture("feature_events.ndjson")).expect("fixture");
    assert!(
        on_disk == generate_events(),
        "the generator no longer reproduces the fixture; rerun with UPDATE_GOLDEN=1"
    );
}
