//! The synthetic storefront events the write benchmark puts in the log (also used by the
//! exactly-once scenario tests).

use bytes::Bytes;
use serde_json::{json, value::RawValue};
use tailor_event::{Event, EventType};
use tailor_log::{Log, Record};

use crate::layout::EVENTS_TOPIC;
use crate::Result;

/// 2026-01-01T00:00:00Z.
pub const BASE_MS: i64 = 1_767_225_600_000;

/// The deterministic generator the feature benchmarks use too (splitmix64).
pub use tailor_features::engine::bench::Rng;

/// The `i`-th synthetic event: a storefront mix of product views, clicks, add-to-carts,
/// orders (3 products), recommendation impressions (4 products) and other events, with a
/// realistic Segment context. Event times advance 10 ms per event from `BASE_MS`.
pub fn synthetic_event(i: u64, rng: &mut Rng) -> Event {
    let user = format!("u{}", rng.skewed(50_000));
    let item = |rng: &mut Rng| format!("p{}", rng.skewed(10_000));
    let time_ms = BASE_MS + i as i64 * 10;
    let rec_id = format!("rec-{:016x}", rng.next_u64());
    let (kind, name, props) = match rng.below(100) {
        0..=54 => (
            EventType::Track,
            "Product Viewed",
            json!({"product_id": item(rng), "category": "shoes", "price": 49.9, "currency": "EUR"}),
        ),
        55..=69 => (
            EventType::Track,
            "Product Clicked",
            json!({"product_id": item(rng), "rec_id": rec_id}),
        ),
        70..=79 => (
            EventType::Track,
            "Product Added",
            json!({"product_id": item(rng), "price": 19.5, "quantity": 1 + rng.below(3)}),
        ),
        80..=84 => (
            EventType::Track,
            "Order Completed",
            json!({"order_id": format!("o{i}"), "currency": "EUR", "products": [
            {"product_id": item(rng), "price": 10.0, "quantity": 1},
            {"product_id": item(rng), "price": 25.0, "quantity": 2},
            {"product_id": item(rng), "price": 5.5, "quantity": 1}]}),
        ),
        85..=94 => (
            EventType::Track,
            "Product List Viewed",
            json!({"rec_id": rec_id, "model": "item_cf", "variant": if i.is_multiple_of(2) { "a" } else { "b" }, "products": [
            {"product_id": item(rng)}, {"product_id": item(rng)}, {"product_id": item(rng)}, {"product_id": item(rng)}]}),
        ),
        _ => (
            EventType::Page,
            "Home",
            json!({"path": "/", "title": "Home", "url": "https://shop.example/"}),
        ),
    };
    let message_id = format!("bench-{i:012}");
    let raw = json!({
        "type": kind.as_str(),
        "event": name,
        "messageId": message_id,
        "userId": user,
        "timestamp": tailor_event::time::format_ms(time_ms),
        "properties": props,
        "context": {
            "ip": "203.0.113.7",
            "library": {"name": "analytics.js", "version": "4.1.0"},
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            "page": {"path": "/products", "url": "https://shop.example/products"}
        }
    });
    let interactions = match kind {
        EventType::Track => tailor_event::ecommerce::interactions(name, &props),
        _ => Vec::new(),
    };
    Event {
        message_id,
        kind,
        event: Some(name.to_owned()),
        user_id: Some(user),
        anonymous_id: None,
        event_time_ms: time_ms,
        received_at_ms: time_ms + 50,
        interactions,
        // A serde_json::Value always prints as valid JSON.
        raw: RawValue::from_string(raw.to_string()).unwrap_or_else(|_| {
            RawValue::from_string("{}".into()).unwrap_or_else(|_| unreachable!())
        }),
    }
}

/// Appends `n` synthetic events to the `events` topic (created with `partitions`);
/// `progress` is called with the number appended so far.
pub async fn fill_log(
    log: &dyn Log,
    n: u64,
    partitions: u32,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    log.create_topic(EVENTS_TOPIC, partitions)?;
    let mut rng = Rng::new(7);
    let mut i = 0;
    while i < n {
        let batch: Vec<Record> = (i..(i + 5_000).min(n))
            .map(|j| {
                let e = synthetic_event(j, &mut rng);
                Record::new(
                    Bytes::from(e.partition_key().to_owned()),
                    e.to_json(),
                    e.received_at_ms,
                )
            })
            .collect();
        i += batch.len() as u64;
        log.append(EVENTS_TOPIC, batch).await?;
        progress(i);
    }
    Ok(())
}
