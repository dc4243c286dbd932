//! Target `segment_batch`: the collector's request parser ([`tailor_event::parse_request`]),
//! from the raw body of `/v1/batch` or a single-event endpoint to canonical events or
//! per-event rejections, and on through the processor.
//!
//! Input: the first byte picks the endpoint (`b` batch, `t` track, `p` page, `s` screen,
//! `i` identify, `g` group, `a` alias) and the rest is the body; any other first byte posts
//! the whole input to `/v1/batch`.
//!
//! Properties: no panic; every accepted event satisfies what later stages rely on (an actor
//! key, bounded ids without NUL, a message id, the size limit); its stored form
//! ([`Event::to_json`]) decodes as an [`Event`], an [`EventView`] and the feature engine's
//! [`FeatureEvent`] with the same fields (numbers within 2 ULP); and the
//! accepted events go through the default feature engine and the live state without panic.

use tailor_event::segment::{ParseContext, MAX_ID_LEN};
use tailor_event::{
    parse_request, Endpoint, Event, EventType, EventView, Interaction, ParsedEvent, MAX_EVENT_BYTES,
};
use tailor_features::{FeatureEngine, FeatureEvent, LiveConfig, LiveState};

use crate::samples::{default_set, exercise_engine, registry, RECEIVED_AT_MS};

/// The endpoint and body an input stands for.
pub fn endpoint(data: &[u8]) -> (Endpoint, &[u8]) {
    let single = |kind, rest| (Endpoint::Single(kind), rest);
    match data.split_first() {
        Some((b'b', rest)) => (Endpoint::Batch, rest),
        Some((b't', rest)) => single(EventType::Track, rest),
        Some((b'p', rest)) => single(EventType::Page, rest),
        Some((b's', rest)) => single(EventType::Screen, rest),
        Some((b'i', rest)) => single(EventType::Identify, rest),
        Some((b'g', rest)) => single(EventType::Group, rest),
        Some((b'a', rest)) => single(EventType::Alias, rest),
        _ => (Endpoint::Batch, data),
    }
}

pub fn run(data: &[u8]) {
    let (endpoint, body) = endpoint(data);
    let cx = ParseContext {
        received_at_ms: RECEIVED_AT_MS,
        registry: registry(),
    };
    let mut generated = 0u32;
    let mut new_id = || {
        generated += 1;
        format!("generated-{generated}")
    };
    let Ok(request) = parse_request(endpoint, body, &cx, &mut new_id) else {
        return;
    };
    if matches!(endpoint, Endpoint::Single(_)) {
        assert_eq!(request.events.len(), 1, "a single-event body is one event");
    }
    let mut stored = Vec::new();
    for (i, parsed) in request.events.iter().enumerate() {
        match parsed {
            ParsedEvent::Valid(event) => stored.push(check_event(event)),
            ParsedEvent::Rejected(r) => {
                assert_eq!(r.index, i, "a rejection names its position");
                assert!(!r.reason.is_empty(), "a rejection has a reason");
            }
        }
    }
    if stored.is_empty() {
        return;
    }
    let mut engine = FeatureEngine::with_set(default_set(), 2);
    exercise_engine(&mut engine, stored.iter().map(Vec::as_slice));
    let live_cfg = LiveConfig::default();
    let mut live = LiveState::default();
    for (offset, bytes) in stored.iter().enumerate() {
        let event = FeatureEvent::decode(bytes, false).expect("checked in check_event");
        live.apply(&live_cfg, 0, offset as u64, &event);
    }
    live.refresh_trending(&live_cfg);
}

fn check_id(name: &str, id: &Option<String>) {
    if let Some(id) = id {
        assert!(!id.is_empty(), "{name} is empty");
        assert!(id.len() <= MAX_ID_LEN, "{name} is {} bytes", id.len());
        assert!(!id.contains('\0'), "{name} contains NUL");
    }
}

/// Checks an accepted event and returns its stored form.
fn check_event(event: &Event) -> Vec<u8> {
    assert!(!event.message_id.is_empty(), "no messageId");
    assert!(event.message_id.len() <= MAX_ID_LEN);
    check_id("userId", &event.user_id);
    check_id("anonymousId", &event.anonymous_id);
    assert!(!event.partition_key().is_empty(), "no actor key");
    assert!(event.raw.get().len() <= MAX_EVENT_BYTES);
    assert_eq!(event.received_at_ms, RECEIVED_AT_MS);
    if event.kind == EventType::Track {
        let name = event.event.as_deref().expect("a track event has a name");
        assert!(!name.trim().is_empty());
    }
    for i in &event.interactions {
        assert!(!i.item_id.is_empty(), "an interaction without an item id");
    }

    let bytes = event.to_json();
    let back = Event::from_json(&bytes).expect("a stored event decodes");
    assert_eq!(back.message_id, event.message_id);
    assert_eq!(back.kind, event.kind);
    assert_eq!(back.event, event.event);
    assert_eq!(back.user_id, event.user_id);
    assert_eq!(back.anonymous_id, event.anonymous_id);
    assert_eq!(back.event_time_ms, event.event_time_ms);
    assert_eq!(back.received_at_ms, event.received_at_ms);
    assert_eq!(back.raw.get(), event.raw.get());
    same_interactions(&back.interactions, &event.interactions);

    let view = EventView::from_json(&bytes).expect("a stored event decodes as a view");
    assert_eq!(view.partition_key(), event.partition_key());
    assert_eq!(view.event_time_ms, event.event_time_ms);
    same_interactions(&view.interactions, &event.interactions);

    for with_properties in [false, true] {
        let fe = FeatureEvent::decode(&bytes, with_properties)
            .expect("a stored event decodes for the feature engine");
        assert_eq!(fe.actor_key(), event.partition_key());
        assert_eq!(fe.event, event.event);
        assert_eq!(fe.event_time_ms, event.event_time_ms);
        same_interactions(&fe.interactions, &event.interactions);
    }
    bytes
}

/// Equal interactions, numbers within 2 ULP: serde_json (without its `float_roundtrip`
/// feature) may parse the shortest representation of an f64 one ULP off.
fn same_interactions(a: &[Interaction], b: &[Interaction]) {
    let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => {
            x == y || (x.signum() == y.signum() && x.to_bits().abs_diff(y.to_bits()) <= 2)
        }
        (x, y) => x == y,
    };
    let same = a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            close(x.price, y.price)
                && close(x.quantity, y.quantity)
                && Interaction {
                    price: None,
                    quantity: None,
                    ..x.clone()
                } == Interaction {
                    price: None,
                    quantity: None,
                    ..y.clone()
                }
        });
    assert!(
        same,
        "interactions change through the stored form:\n{a:?}\n{b:?}"
    );
}
