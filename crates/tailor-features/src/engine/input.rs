//! The engine's input event and its decoder from stored log records.
//!
//! The log stores [`tailor_event::Event`] as JSON: `{message_id, type, event, user_id,
//! anonymous_id, event_time_ms, received_at_ms, interactions, raw}`, `raw` being the event
//! object the client sent. Only definitions that read properties (property predicates,
//! `properties.<key>` fields, `property:<key>` entities) need `raw.properties`; the decoder
//! parses it only when asked to ([`crate::engine::FeatureSet::needs_properties`]), and
//! otherwise skips `raw` without building anything.

use serde::Deserialize;
use serde_json::Value;
use tailor_event::{EventView, Interaction};

/// What the feature engine reads of an event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeatureEvent {
    /// Track event name, or the page/screen name.
    pub event: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub event_time_ms: i64,
    pub received_at_ms: i64,
    pub interactions: Vec<Interaction>,
    /// The event's `properties` object, when the definitions need it.
    pub properties: Option<Value>,
}

/// A stored event's fields; `R` is what is kept of `raw`: nothing
/// ([`serde::de::IgnoredAny`], skipped without building anything) or its properties.
#[derive(Deserialize)]
#[serde(bound(deserialize = "R: Deserialize<'de> + Default"))]
struct Stored<R> {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    anonymous_id: Option<String>,
    event_time_ms: i64,
    received_at_ms: i64,
    #[serde(default)]
    interactions: Vec<Interaction>,
    #[serde(default)]
    raw: R,
}

impl<R> Stored<R> {
    fn into_event(self, properties: Option<Value>) -> FeatureEvent {
        FeatureEvent {
            event: self.event,
            user_id: self.user_id,
            anonymous_id: self.anonymous_id,
            event_time_ms: self.event_time_ms,
            received_at_ms: self.received_at_ms,
            interactions: self.interactions,
            properties,
        }
    }
}

#[derive(Deserialize)]
struct RawProperties {
    #[serde(default)]
    properties: Option<Value>,
}

impl FeatureEvent {
    /// Decodes a stored event; parses `raw.properties` only when `with_properties`.
    pub fn decode(bytes: &[u8], with_properties: bool) -> Result<FeatureEvent, serde_json::Error> {
        if with_properties {
            let mut s: Stored<Option<RawProperties>> = serde_json::from_slice(bytes)?;
            let properties = s.raw.take().and_then(|r| r.properties);
            Ok(s.into_event(properties.filter(Value::is_object)))
        } else {
            let s: Stored<serde::de::IgnoredAny> = serde_json::from_slice(bytes)?;
            Ok(s.into_event(None))
        }
    }

    /// The actor: user id, else anonymous id, else empty (the log's partition key).
    pub fn actor_key(&self) -> &str {
        self.user_id
            .as_deref()
            .or(self.anonymous_id.as_deref())
            .unwrap_or("")
    }
}

impl From<EventView> for FeatureEvent {
    fn from(v: EventView) -> Self {
        FeatureEvent {
            event: None,
            user_id: v.user_id,
            anonymous_id: v.anonymous_id,
            event_time_ms: v.event_time_ms,
            received_at_ms: v.received_at_ms,
            interactions: v.interactions,
            properties: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use serde_json::value::RawValue;
    use tailor_event::{Event, EventType};

    #[test]
    fn decodes_stored_events_with_and_without_properties() {
        let props = json!({"product_id": "P1", "price": 12, "brand": "acme"});
        let raw = json!({"type": "track", "event": "Product Viewed", "properties": props,
                         "context": {"ip": "1.2.3.4"}});
        let event = Event {
            message_id: "m1".into(),
            kind: EventType::Track,
            event: Some("Product Viewed".into()),
            user_id: Some("u1".into()),
            anonymous_id: None,
            event_time_ms: 5,
            received_at_ms: 6,
            interactions: tailor_event::ecommerce::interactions("Product Viewed", &props),
            raw: RawValue::from_string(raw.to_string()).expect("raw"),
        };
        let bytes = event.to_json();
        let fast = FeatureEvent::decode(&bytes, false).expect("fast");
        assert_eq!(fast.event.as_deref(), Some("Product Viewed"));
        assert_eq!(fast.actor_key(), "u1");
        assert_eq!(fast.interactions.len(), 1);
        assert_eq!(fast.properties, None);
        let full = FeatureEvent::decode(&bytes, true).expect("full");
        assert_eq!(full.properties, Some(props));
        assert_eq!(
            FeatureEvent {
                properties: None,
                ..full
            },
            fast
        );
        assert!(FeatureEvent::decode(b"{\"nope\":1}", true).is_err());
    }
}
