//! Writes the generated seed inputs of every target under `fuzz/corpus/<target>/seed-*`
//! (binary formats built with the real encoders, text inputs spelled out here). Run it after
//! a format change: `fuzz/target/release/seed_corpus fuzz/corpus`. Inputs not named `seed-*`
//! (e.g. `crash-*` regressions) are left alone.

use std::path::Path;

use bytes::Bytes;
use serde_json::json;
use tailor_event::schema::default_schemas;
use tailor_features::{encode_checkpoint, FeatureEngine, LiveConfig, LiveState, Snapshot};
use tailor_fuzz::samples::{
    default_set, exercise_engine, exercise_live, rich_set, stored_events, RICH_FEATURES_TOML,
    SAMPLE_BATCH,
};
use tailor_log::embedded::frame::{encode_frame, FRAME_HEADER};
use tailor_log::Record;

fn main() {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let root = Path::new(&root);
    segment_batch(&root.join("segment_batch"));
    schema(&root.join("schema"));
    log_frame(&root.join("log_frame"));
    log_segment(&root.join("log_segment"));
    checkpoint(&root.join("checkpoint"));
    feature_state(&root.join("feature_state"));
    features_config(&root.join("features_config"));
}

fn put(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("writing a seed");
}

fn with_prefix(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(rest);
    v
}

fn segment_batch(dir: &Path) {
    let batch = json!({"writeKey": "wk", "sentAt": "2026-01-15T10:00:05Z", "batch": [
        {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "m1",
         "properties": {"product_id": "P1", "category": "shoes", "price": 59}, "timestamp": "2026-01-15T10:00:00Z", "unknown": null},
        {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "m2", "properties": {"price": 1}},
        {"type": "track", "userId": "u1", "messageId": "m3"},
        {"type": "bogus", "userId": "u1"},
        "not an object",
        {"type": "page", "anonymousId": "a1", "name": "Home"},
        {"type": "identify", "userId": 42, "traits": {"email": null}},
        {"type": "track", "event": "Order Completed", "userId": "u2", "originalTimestamp": "2026-01-15T09:59:00.123+01:00",
         "properties": {"order_id": "o1", "revenue": 80, "products": [{"product_id": "P1", "price": 59, "quantity": 1}, {"product_id": 7, "price": 10.5, "quantity": 2}]}},
        {"type": "track", "event": "Product List Viewed", "anonymousId": "a2",
         "properties": {"rec_id": "r1", "list_id": "home", "products": [{"product_id": "P1", "position": 1}, {"product_id": "P2"}]}},
        {"type": "track", "event": "Product Added", "userId": "u3", "properties": {"product_id": "P9", "price": -1}},
        {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"name": "acme"}},
        {"type": "alias", "userId": "u1", "previousId": "a1"},
        {"type": "screen", "userId": "u1", "name": "Cart"}
    ]});
    put(
        dir,
        "batch",
        &with_prefix(b"b", batch.to_string().as_bytes()),
    );
    put(
        dir,
        "sample-batch",
        &with_prefix(b"b", SAMPLE_BATCH.as_bytes()),
    );
    let singles: [(&[u8], serde_json::Value); 7] = [
        (
            b"t",
            json!({"event": "Product Clicked", "anonymousId": "a", "writeKey": "k",
            "originalTimestamp": "2026-01-01T00:00:00Z", "sentAt": "2026-01-01T00:00:10Z",
            "properties": {"product_id": "P1", "rec_id": "r1"}}),
        ),
        (
            b"p",
            json!({"anonymousId": "a1", "name": "Home", "properties": {"path": "/"}}),
        ),
        (b"s", json!({"userId": "u1", "name": "Cart"})),
        (b"i", json!({"userId": "u1", "traits": {"plan": "pro"}})),
        (b"g", json!({"userId": "u1", "groupId": 5})),
        (b"a", json!({"userId": "u1", "previousId": "a1"})),
        (b"a", json!({"userId": "u"})),
    ];
    for (i, (prefix, body)) in singles.iter().enumerate() {
        put(
            dir,
            &format!("single-{i}"),
            &with_prefix(prefix, body.to_string().as_bytes()),
        );
    }
    // Hostile bodies.
    put(
        dir,
        "deep",
        format!("b{{\"batch\": [{}]}}", "[".repeat(200)).as_bytes(),
    );
    let long_id = "x".repeat(1100);
    let hostile = json!({"batch": [
        {"type": "track", "event": "E", "userId": long_id},
        {"type": "track", "event": "E", "userId": "a\u{0}b"},
        {"type": "track", "event": " ", "userId": "u"},
        {"type": "track", "event": "E", "userId": {"nested": 1}},
        {"type": "track", "event": "E", "userId": "u", "timestamp": "9999-12-31T23:59:59.999999999-23:59"},
        {"type": "track", "event": "E", "userId": "u", "originalTimestamp": "0000-01-01T00:00:00+23:59", "sentAt": "9999-12-31T23:59:59Z"},
        {"type": "track", "event": "Product Viewed", "userId": 1e308, "properties": {"product_id": -0.0, "price": 1e308, "quantity": -1e308}},
        {"type": "track", "event": "Order Completed", "userId": "u", "properties": {"products": [{"product_id": ""}, {"product_id": "P", "price": "1"}, 3]}},
        {"type": "track", "event": "E", "userId": "u", "properties": [1]}
    ]});
    put(
        dir,
        "hostile",
        &with_prefix(b"b", hostile.to_string().as_bytes()),
    );
    put(dir, "not-json", b"b{\"batch\": [");
    put(dir, "latin1", b"t{\"userId\": \"\xe9\", \"event\": \"E\"}");
}

fn schema(dir: &Path) {
    for (subject, schema) in default_schemas().into_iter().take(3) {
        let payload = json!({"product_id": "P1", "price": 3.5, "products": [{"product_id": 1}]});
        let mut input = serde_json::to_vec(&schema).expect("json");
        input.push(0xff);
        input.extend_from_slice(payload.to_string().as_bytes());
        put(dir, &subject.to_lowercase().replace(' ', "-"), &input);
    }
    put(
        dir,
        "payload-only",
        br#"{"product_id": "P1", "price": "free"}"#,
    );
    let cases = [
        (
            "tracking-plan",
            json!({"type": "object", "properties": {"plan": {"enum": ["free", "pro"]},
            "age": {"type": "integer", "minimum": 0, "maximum": 150}, "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}}},
            "required": ["plan"], "additionalProperties": false}),
            json!({"plan": "pro", "age": 3, "tags": ["a"]}),
        ),
        (
            "recursive-ref",
            json!({"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}}, "$ref": "#/$defs/n"}),
            json!({"next": {"next": {"next": {}}}}),
        ),
        (
            "self-ref",
            json!({"properties": {"a": {"$ref": "#"}}}),
            json!({"a": {"a": {"a": 1}}}),
        ),
        (
            "remote-ref",
            json!({"$ref": "https://example.com/schema.json"}),
            json!({}),
        ),
        (
            "pattern",
            json!({"type": "object", "patternProperties": {"^(a+)+$": {"type": "string", "pattern": "^[0-9]{3,}$"}}}),
            json!({"aaaa": "1234"}),
        ),
        (
            "combinators",
            json!({"anyOf": [{"type": "string"}, {"allOf": [{"minimum": 1}, {"not": {"multipleOf": 0.1}}]}], "oneOf": [{"const": 1.5}, {"type": "number"}]}),
            json!(1.5),
        ),
        (
            "formats",
            json!({"properties": {"d": {"format": "date-time"}, "e": {"format": "email"}, "r": {"format": "regex"}}}),
            json!({"d": "2026-01-01T00:00:00Z", "e": "x@y", "r": "("}),
        ),
        ("bad-type", json!({"type": 5}), json!({})),
        ("boolean", json!(false), json!({})),
    ];
    for (name, schema, payload) in cases {
        let mut input = serde_json::to_vec(&schema).expect("json");
        input.push(0xff);
        input.extend_from_slice(payload.to_string().as_bytes());
        put(dir, name, &input);
    }
}

fn record(key: &[u8], value: &[u8], ts: i64, headers: &[(&str, &[u8])]) -> Record {
    Record {
        key: Bytes::copy_from_slice(key),
        value: Bytes::copy_from_slice(value),
        timestamp_ms: ts,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), Bytes::copy_from_slice(v)))
            .collect(),
    }
}

/// Frames for offsets `base..` of a few records, the first being a stored sample event.
fn frames(base: u64, n: usize) -> Vec<u8> {
    let events = stored_events();
    let mut buf = Vec::new();
    for i in 0..n {
        let value = &events[i % events.len()];
        let headers: &[(&str, &[u8])] = if i % 2 == 0 {
            &[("content-type", b"application/json")]
        } else {
            &[]
        };
        encode_frame(
            &mut buf,
            base + i as u64,
            &record(
                format!("u{i}").as_bytes(),
                value,
                1_800_000_000_000 + i as i64,
                headers,
            ),
        );
    }
    buf
}

fn log_frame(dir: &Path) {
    let mut small = Vec::new();
    encode_frame(&mut small, 0, &record(b"", b"", 0, &[]));
    encode_frame(
        &mut small,
        1,
        &record(b"k", b"v", -42, &[("h", b"1"), ("", b"")]),
    );
    encode_frame(&mut small, u64::MAX, &record(b"key", b"{}", i64::MIN, &[]));
    put(dir, "frames", &with_prefix(&[0], &small));
    put(dir, "frames-fix", &with_prefix(&[1], &small));
    put(dir, "events", &with_prefix(&[0], &frames(0, 3)));
    let mut torn = small.clone();
    torn.truncate(small.len() - 3);
    put(dir, "torn", &with_prefix(&[0], &torn));
    let mut flipped = small.clone();
    flipped[FRAME_HEADER + 3] ^= 0x10;
    put(dir, "bad-crc", &with_prefix(&[0], &flipped));
    let mut huge = small.clone();
    huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    put(dir, "huge-length", &with_prefix(&[0], &huge));
    // A bare payload (what follows the header), with a header count larger than the bytes.
    let payload = &small[FRAME_HEADER..];
    put(dir, "payload", &with_prefix(&[0], payload));
    let mut many_headers = payload.to_vec();
    many_headers[21..23].copy_from_slice(&u16::MAX.to_le_bytes());
    put(dir, "many-headers", &with_prefix(&[1], &many_headers));
}

fn log_segment(dir: &Path) {
    // One segment: flags, split (unused), base (unused), frames.
    let one = frames(0, 4);
    put(dir, "one", &with_prefix(&[0, 0, 0, 0], &one));
    put(dir, "one-recover", &with_prefix(&[4, 0, 0, 0], &one));
    let mut torn = one.clone();
    torn.truncate(one.len() - 5);
    put(dir, "torn-recover", &with_prefix(&[4, 0, 0, 0], &torn));
    let mut bad = one.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    put(dir, "bad-tail-fix", &with_prefix(&[6, 0, 0, 0], &bad));
    // Two segments: offsets 0..3 in the first, 3..5 in the second (base = 2 + 1).
    let first = frames(0, 3);
    let second = frames(3, 2);
    let split = (first.len() as u16).to_le_bytes();
    let mut both = first.clone();
    both.extend_from_slice(&second);
    put(dir, "two", &with_prefix(&[1, split[0], split[1], 2], &both));
    put(
        dir,
        "two-recover",
        &with_prefix(&[5, split[0], split[1], 2], &both),
    );
    // A gap: the second segment claims base 10.
    put(
        dir,
        "two-gap",
        &with_prefix(&[5, split[0], split[1], 9], &both),
    );
    // An empty last segment (a roll that has not written yet).
    put(dir, "empty-last", &with_prefix(&[5, 0xff, 0xff, 2], &first));
    put(
        dir,
        "garbage",
        &with_prefix(&[7, 5, 0, 0], b"\x10\0\0\0garbage that is no frame"),
    );
}

/// Live state and feature partitions after the sample events.
fn sample_snapshot() -> Snapshot {
    let mut live = LiveState::default();
    exercise_live(&mut live, &LiveConfig::default());
    let mut engine = FeatureEngine::with_set(default_set(), 2);
    exercise_engine(&mut engine, stored_events().iter().map(Vec::as_slice));
    live.offsets = engine.next_offsets();
    Snapshot {
        features: (0..2).filter_map(|p| engine.encode_partition(p)).collect(),
        live,
    }
}

fn checkpoint(dir: &Path) {
    let real = encode_checkpoint(&sample_snapshot());
    put(dir, "sample", &with_prefix(&[0], &real));
    put(dir, "sample-payload", &with_prefix(&[1], &real[20..]));
    let empty = encode_checkpoint(&Snapshot::default());
    put(dir, "empty", &with_prefix(&[0], &empty));
    put(dir, "empty-payload", &with_prefix(&[1], &empty[20..]));
    let mut v1 = empty.clone();
    v1[4] = 1;
    put(dir, "version-1", &with_prefix(&[0], &v1));
    put(
        dir,
        "truncated",
        &with_prefix(&[0], &real[..real.len() / 2]),
    );
}

fn feature_state(dir: &Path) {
    for (flag, name, set) in [(0u8, "default", default_set()), (2, "rich", rich_set())] {
        let mut engine = FeatureEngine::with_set(set, 2);
        exercise_engine(&mut engine, stored_events().iter().map(Vec::as_slice));
        for p in 0..2 {
            let bytes = engine.encode_partition(p).expect("partition");
            put(dir, &format!("{name}-{p}"), &with_prefix(&[flag], &bytes));
            put(
                dir,
                &format!("{name}-{p}-payload"),
                &with_prefix(&[flag | 1], &bytes[28..]),
            );
        }
        let empty = FeatureEngine::with_set(engine.feature_set().clone(), 1)
            .encode_partition(0)
            .expect("partition");
        put(
            dir,
            &format!("{name}-empty-payload"),
            &with_prefix(&[flag | 1], &empty[28..]),
        );
    }
}

fn features_config(dir: &Path) {
    put(
        dir,
        "rich",
        format!("[features]\n{RICH_FEATURES_TOML}").as_bytes(),
    );
    put(
        dir,
        "readme",
        br#"[features]
allowed_lateness_secs = 60

[[features.define]]
name = "user_big_spend_30d"
entity = "user"
interactions = ["purchase"]
where = [{ field = "price", op = "gt", value = 100 }]
aggregation = "sum"
field = "revenue"
window = "30d"
"#,
    );
    put(
        dir,
        "live",
        br#"[live]
session_gap_secs = 1800
session_items = 20
popularity_half_life_secs = 86400
max_neighbours = 200
user_ttl_secs = 7776000
weight_view = 1.0
weight_click = 2.0
weight_add_to_cart = 4.0
weight_purchase = 8.0
checkpoint_interval_secs = 5
"#,
    );
    put(
        dir,
        "no-defaults",
        br#"[features]
defaults = false
[[features.define]]
name = "x"
entity = "property:plan"
events = ["Signed Up"]
aggregation = "last_n"
field = "properties.plan"
n = 1000
window = "tumbling:1s"
"#,
    );
    put(
        dir,
        "extremes",
        br#"[live]
session_gap_secs = 18446744073709551615
session_items = 1
popularity_half_life_secs = 1
max_neighbours = 1
user_ttl_secs = 18446744073709551615
weight_purchase = 1e38
[features]
allowed_lateness_secs = 18446744073709551615
session_gap_secs = 18446744073709551615
entity_ttl_secs = 1
[[features.define]]
name = "y"
entity = "global"
aggregation = "decayed_sum"
half_life = "1s"
window = "36500d"
weights = { view = 1e308, purchase = -1.0 }
"#,
    );
    // The largest values validation accepts.
    put(
        dir,
        "limits",
        br#"[live]
session_gap_secs = 3153600000
session_items = 1000000
popularity_half_life_secs = 3153600000
max_neighbours = 1000000
user_ttl_secs = 3153600000
checkpoint_interval_secs = 3153600000
weight_view = 3.4e38
[features]
allowed_lateness_secs = 3153600000
session_gap_secs = 3153600000
entity_ttl_secs = 3153600000
[[features.define]]
name = "z"
entity = "user"
aggregation = "last_n"
field = "item_id"
n = 1000
window = "tumbling:36500d"
"#,
    );
    put(
        dir,
        "invalid",
        b"[features]\n[[features.define]]\nname = \"Bad Name\"\nentity = \"user\"\naggregation = \"ratio\"\nnumerator = \"Bad Name\"\n",
    );
}
