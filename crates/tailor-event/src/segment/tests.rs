use serde_json::json;

use super::*;
use crate::ecommerce::InteractionKind;

fn cx(registry: &SchemaRegistry) -> ParseContext<'_> {
    ParseContext {
        received_at_ms: 1_800_000_000_000,
        registry,
    }
}

fn parse(endpoint: Endpoint, body: serde_json::Value) -> ParsedRequest {
    let registry = SchemaRegistry::with_defaults();
    let mut n = 0;
    parse_request(
        endpoint,
        body.to_string().as_bytes(),
        &cx(&registry),
        &mut || {
            n += 1;
            format!("gen-{n}")
        },
    )
    .expect("request parses")
}

fn valid(e: &ParsedEvent) -> &Event {
    match e {
        ParsedEvent::Valid(e) => e,
        ParsedEvent::Rejected(r) => panic!("rejected: {r:?}"),
    }
}

fn rejected(e: &ParsedEvent) -> &Rejection {
    match e {
        ParsedEvent::Rejected(r) => r,
        ParsedEvent::Valid(e) => panic!("accepted: {e:?}"),
    }
}

#[test]
fn batch_with_valid_and_invalid_events() {
    let req = parse(
        Endpoint::Batch,
        json!({"writeKey": "wk", "batch": [
            {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "m1",
             "properties": {"product_id": "P1"}, "timestamp": "2026-01-15T10:00:00Z", "unknown": null},
            {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "m2",
             "properties": {"price": 1}},
            {"type": "track", "userId": "u1", "messageId": "m3"},
            {"type": "bogus", "userId": "u1"},
            "not an object",
            {"type": "page", "anonymousId": "a1", "name": "Home"},
            {"type": "identify", "userId": 42, "traits": {"email": null}},
        ]}),
    );
    assert_eq!(req.write_key.as_deref(), Some("wk"));
    assert_eq!(req.events.len(), 7);
    let e = valid(&req.events[0]);
    assert_eq!(e.message_id, "m1");
    assert_eq!(e.interactions[0].kind, InteractionKind::View);
    assert!(e.raw.get().contains("\"unknown\":null"));
    assert!(rejected(&req.events[1]).reason.contains("product_id"));
    assert_eq!(rejected(&req.events[1]).message_id.as_deref(), Some("m2"));
    assert!(rejected(&req.events[2]).reason.contains("event name"));
    assert!(rejected(&req.events[3]).reason.contains("bogus"));
    assert!(rejected(&req.events[4])
        .reason
        .contains("not a valid Segment event"));
    let page = valid(&req.events[5]);
    assert_eq!(page.kind, EventType::Page);
    assert_eq!(page.event.as_deref(), Some("Home"));
    assert_eq!(page.message_id, "gen-1");
    assert_eq!(valid(&req.events[6]).user_id.as_deref(), Some("42"));
}

#[test]
fn single_endpoints_imply_the_type() {
    let req = parse(
        Endpoint::Single(EventType::Track),
        json!({"event": "Signed Up", "anonymousId": "a", "writeKey": "k",
               "originalTimestamp": "2026-01-01T00:00:00Z", "sentAt": "2026-01-01T00:00:10Z"}),
    );
    let e = valid(&req.events[0]);
    assert_eq!(e.kind, EventType::Track);
    assert_eq!(req.write_key.as_deref(), Some("k"));
    // Event time = originalTimestamp + (received - sentAt).
    let orig = crate::time::parse_rfc3339_ms("2026-01-01T00:00:00Z").expect("t");
    assert_eq!(e.event_time_ms, orig + 1_800_000_000_000 - (orig + 10_000));
    let alias = parse(Endpoint::Single(EventType::Alias), json!({"userId": "u"}));
    assert!(rejected(&alias.events[0]).reason.contains("previousId"));
}

#[test]
fn whole_request_errors_only_for_unparseable_bodies() {
    let registry = SchemaRegistry::default();
    let mut id = || "x".to_owned();
    for body in [&b"{"[..], b"", b"[1,2]", b"\xff\xfe"] {
        assert!(parse_request(Endpoint::Batch, body, &cx(&registry), &mut id).is_err());
    }
    assert!(parse_request(Endpoint::Batch, b"{\"batch\": 3}", &cx(&registry), &mut id).is_err());
    assert!(parse_request(
        Endpoint::Single(EventType::Track),
        b"[]",
        &cx(&registry),
        &mut id
    )
    .is_err());
    let empty =
        parse_request(Endpoint::Batch, b"{\"batch\": []}", &cx(&registry), &mut id).expect("empty");
    assert!(empty.events.is_empty());
}

#[test]
fn oversized_events_and_bad_fields_are_rejected_individually() {
    let big = "x".repeat(MAX_EVENT_BYTES);
    let req = parse(
        Endpoint::Batch,
        json!({"batch": [
            {"type": "track", "event": "E", "userId": "u", "properties": {"blob": big}},
            {"type": "track", "event": "E", "userId": {"nested": 1}},
            {"type": "track", "event": "E", "userId": "u", "timestamp": "yesterday"},
            {"type": "track", "event": "E", "userId": "u", "properties": [1]},
            {"type": "track", "event": "E", "userId": "u", "timestamp": "2026-01-15T10:00:00.123456789+02:00"},
        ]}),
    );
    assert!(rejected(&req.events[0]).reason.contains("limit"));
    assert!(rejected(&req.events[1])
        .reason
        .contains("userId must be a string"));
    assert!(rejected(&req.events[2]).reason.contains("timestamp"));
    assert!(rejected(&req.events[3])
        .reason
        .contains("properties must be an object"));
    valid(&req.events[4]);
}
