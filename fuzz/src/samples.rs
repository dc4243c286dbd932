//! Events and feature definitions the harnesses share: stored events as the collector writes
//! them (parsed from Segment bodies by the collector's own parser), applied to feature
//! engines and live state restored or configured from fuzzed bytes.

use std::sync::{Arc, OnceLock};

use tailor_event::segment::ParseContext;
use tailor_event::{parse_request, Endpoint, ParsedEvent, SchemaRegistry};
use tailor_features::engine::FeatureSet;
use tailor_features::{FeatureEngine, FeatureEvent, FeaturesConfig, LiveConfig, LiveState};

/// When the collector "received" every fuzzed or sample event.
pub const RECEIVED_AT_MS: i64 = 1_800_000_000_000;

/// The registry the collector starts with.
pub fn registry() -> &'static SchemaRegistry {
    static R: OnceLock<SchemaRegistry> = OnceLock::new();
    R.get_or_init(SchemaRegistry::with_defaults)
}

/// Segment events covering every interaction kind, events without interactions, late and
/// out-of-order events, and the extreme event times the collector accepts (years 0 and 9999).
pub const SAMPLE_BATCH: &str = r#"{"batch": [
 {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "s1", "timestamp": "2027-01-15T10:00:00Z",
  "properties": {"product_id": "P1", "category": "shoes", "price": 59, "brand": "acme"}},
 {"type": "track", "event": "Product Clicked", "userId": "u1", "messageId": "s2", "timestamp": "2027-01-15T10:01:00Z",
  "properties": {"product_id": "P1", "category": "shoes", "rec_id": "r1"}},
 {"type": "track", "event": "Product Added", "anonymousId": "a1", "messageId": "s3", "timestamp": "2027-01-15T10:02:00Z",
  "properties": {"product_id": 42, "price": 10.5, "quantity": 2, "category": "socks"}},
 {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "s4", "timestamp": "2027-01-15T10:05:00Z",
  "properties": {"order_id": "o1", "currency": "EUR", "products": [
    {"product_id": "P1", "price": 59, "quantity": 1, "category": "shoes"},
    {"product_id": 42, "price": 10.5, "quantity": 2}]}},
 {"type": "track", "event": "Product List Viewed", "userId": "u2", "messageId": "s5", "timestamp": "2027-01-15T10:06:00Z",
  "properties": {"rec_id": "r2", "products": [{"product_id": "P1"}, {"product_id": "P3", "position": 2}]}},
 {"type": "page", "anonymousId": "a2", "messageId": "s6", "name": "Home", "timestamp": "2027-01-15T10:07:00Z",
  "properties": {"path": "/"}},
 {"type": "identify", "userId": "u1", "messageId": "s7", "traits": {"plan": "pro"}},
 {"type": "track", "event": "Product Viewed", "userId": "u2", "messageId": "s8", "timestamp": "2027-01-14T10:00:00Z",
  "properties": {"product_id": "P3", "price": 0}},
 {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "s9", "timestamp": "2027-03-01T00:00:00Z",
  "properties": {"product_id": "P2", "category": "shoes", "price": 1e300}},
 {"type": "track", "event": "Product Viewed", "userId": "u3", "messageId": "s10", "timestamp": "0000-01-01T00:00:00Z",
  "properties": {"product_id": "P4"}},
 {"type": "track", "event": "Product Added", "userId": "u3", "messageId": "s11", "timestamp": "9999-12-31T23:59:59.999Z",
  "properties": {"product_id": "P4", "price": 0.01, "quantity": 1e6}},
 {"type": "track", "event": "Signed Up", "userId": "u4", "messageId": "s12", "timestamp": "2027-03-01T00:00:01Z",
  "properties": {"price": "n/a"}}
]}"#;

/// The sample events as stored in the log ([`tailor_event::Event::to_json`]).
pub fn stored_events() -> &'static [Vec<u8>] {
    static E: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    E.get_or_init(|| {
        let cx = ParseContext {
            received_at_ms: RECEIVED_AT_MS,
            registry: registry(),
        };
        let req = parse_request(Endpoint::Batch, SAMPLE_BATCH.as_bytes(), &cx, &mut || {
            "gen".into()
        })
        .expect("the sample batch parses");
        req.events
            .iter()
            .map(|e| match e {
                ParsedEvent::Valid(e) => e.to_json(),
                ParsedEvent::Rejected(r) => panic!("sample event rejected: {}", r.reason),
            })
            .collect()
    })
}

/// Definitions using every aggregation, window kind, entity kind, filter and option
/// (besides the defaults), in `tailor.toml` syntax under `[features]`.
pub const RICH_FEATURES_TOML: &str = r#"
allowed_lateness_secs = 3600
session_gap_secs = 600
entity_ttl_secs = 86400
defaults = true

[[define]]
name = "user_spend_30d"
entity = "user"
interactions = ["purchase"]
where = [{ field = "price", op = "gt", value = 1 }]
aggregation = "sum"
field = "revenue"
window = "30d"

[[define]]
name = "user_distinct_items_1d"
entity = "user"
aggregation = "distinct_count"
field = "item_id"
window = "tumbling:1d"

[[define]]
name = "item_min_price"
entity = "item"
interactions = ["view", "add_to_cart"]
aggregation = "min"
field = "price"

[[define]]
name = "user_max_quantity_session"
entity = "user"
aggregation = "max"
field = "quantity"
window = "session"

[[define]]
name = "anon_last_event"
entity = "anonymous_id"
aggregation = "last"
field = "properties.path"
events = ["Home", "Product Added"]

[[define]]
name = "category_views_2h"
entity = "category"
interactions = ["view"]
aggregation = "count"
window = "2h"

[[define]]
name = "brand_users"
entity = "property:brand"
where = [{ property = "brand", op = "exists" }, { property = "price", op = "ne", value = 3 }]
aggregation = "last_n"
field = "item_id"
n = 3
distinct = false

[[define]]
name = "user_weighted_7d"
entity = "user"
aggregation = "decayed_sum"
half_life = "12h"
weights = { view = 1.0, purchase = 5.0 }
group_by = "item_id"
window = "7d"

[[define]]
name = "user_spend_by_category"
entity = "user"
aggregation = "sum"
field = "price"
group_by = "category"
window = "tumbling:7d"

[[define]]
name = "user_conversion"
entity = "user"
aggregation = "ratio"
numerator = "user_spend_30d"
denominator = "user_distinct_items_1d"

[[define]]
name = "global_last_categories"
entity = "global"
aggregation = "last_n"
field = "category"
n = 5
distinct = true
window = "1h"
"#;

/// The default feature set, compiled once.
pub fn default_set() -> Arc<FeatureSet> {
    static S: OnceLock<Arc<FeatureSet>> = OnceLock::new();
    S.get_or_init(|| {
        FeatureSet::compile(&FeaturesConfig::default()).expect("the default features compile")
    })
    .clone()
}

/// [`RICH_FEATURES_TOML`], compiled once.
pub fn rich_set() -> Arc<FeatureSet> {
    static S: OnceLock<Arc<FeatureSet>> = OnceLock::new();
    S.get_or_init(|| {
        let cfg: FeaturesConfig = toml::from_str(RICH_FEATURES_TOML).expect("rich features parse");
        FeatureSet::compile(&cfg).expect("rich features compile")
    })
    .clone()
}

/// Feeds `events` (stored event JSON) to `engine` over two partitions, as the processor
/// does, then reads every entity it holds and materializes the touched ones.
pub fn exercise_engine<'a>(engine: &mut FeatureEngine, events: impl IntoIterator<Item = &'a [u8]>) {
    let mut outcomes = Vec::new();
    for (i, bytes) in events.into_iter().enumerate() {
        let partition = (i % 2) as u32;
        let offset = engine.partition_mut(partition).next_offset();
        match engine.decode_event(bytes) {
            Ok(event) => engine.apply_batch(partition, &[(offset, &event)], &mut outcomes),
            Err(_) => engine.skip(partition, offset),
        }
    }
    read_everything(engine);
}

/// Reads every entity the engine holds, now and at a few other times.
pub fn read_everything(engine: &mut FeatureEngine) {
    let touched = engine.take_touched();
    let _ = engine.materialize(&touched);
    for key in engine.entities() {
        let _ = engine.read(&key.kind, &key.id);
        for t in [i64::MIN, -1, 0, RECEIVED_AT_MS, i64::MAX] {
            let _ = engine.read_at(&key.kind, &key.id, t);
        }
    }
    let _ = engine.stats();
}

/// Applies the sample events to live state under `cfg`, as the processor does.
pub fn exercise_live(state: &mut LiveState, cfg: &LiveConfig) {
    for (i, bytes) in stored_events().iter().enumerate() {
        let Ok(event) = FeatureEvent::decode(bytes, false) else {
            continue;
        };
        let partition = (i % 2) as u32;
        let offset = state.offsets.get(partition as usize).copied().unwrap_or(0);
        state.apply(cfg, partition, offset, &event);
    }
    state.expire_users(cfg);
    state.refresh_trending(cfg);
}
