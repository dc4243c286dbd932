//! The canonical event: what the collector appends to the log and every later stage reads.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ecommerce::Interaction;

/// The Segment call type of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Track,
    Page,
    Screen,
    Identify,
    Group,
    Alias,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Track => "track",
            EventType::Page => "page",
            EventType::Screen => "screen",
            EventType::Identify => "identify",
            EventType::Group => "group",
            EventType::Alias => "alias",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "track" => EventType::Track,
            "page" => EventType::Page,
            "screen" => EventType::Screen,
            "identify" => EventType::Identify,
            "group" => EventType::Group,
            "alias" => EventType::Alias,
            _ => return None,
        })
    }
}

/// A validated event. `raw` is the event object exactly as the client sent it (unknown keys
/// and `null`s included); the other fields are what Tailor derived from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub message_id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Track event name, or the page/screen name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
    /// Event time, milliseconds since the Unix epoch (see [`crate::time`]).
    pub event_time_ms: i64,
    /// When the collector received the event, milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    /// Canonical interactions derived from e-commerce spec events (may be empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interactions: Vec<Interaction>,
    pub raw: Box<RawValue>,
}

impl Event {
    /// The key that partitions the log and identifies the actor: user id, else anonymous id.
    pub fn partition_key(&self) -> &str {
        actor_key(&self.user_id, &self.anonymous_id)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a struct of strings, numbers and an already-valid RawValue cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// What stream processing needs of a stored [`Event`], decoded without copying its raw
/// payload (serde skips it).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct EventView {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub anonymous_id: Option<String>,
    pub event_time_ms: i64,
    pub received_at_ms: i64,
    #[serde(default)]
    pub interactions: Vec<Interaction>,
}

impl EventView {
    /// Same key as [`Event::partition_key`].
    pub fn partition_key(&self) -> &str {
        actor_key(&self.user_id, &self.anonymous_id)
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// User id, else anonymous id, else empty.
fn actor_key<'a>(user_id: &'a Option<String>, anonymous_id: &'a Option<String>) -> &'a str {
    user_id.as_deref().or(anonymous_id.as_deref()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecommerce::InteractionKind;

    /// The processor decodes stored events as views: the shared fields must round-trip.
    #[test]
    fn stored_events_decode_as_views() {
        let event = Event {
            message_id: "m".into(),
            kind: EventType::Track,
            event: Some("Product Viewed".into()),
            user_id: None,
            anonymous_id: Some("a1".into()),
            event_time_ms: 5,
            received_at_ms: 7,
            interactions: crate::ecommerce::interactions(
                "Product Viewed",
                &serde_json::json!({"product_id": "P1"}),
            ),
            raw: RawValue::from_string(r#"{"big": "payload"}"#.into()).expect("raw"),
        };
        let view = EventView::from_json(&event.to_json()).expect("view");
        assert_eq!(view.partition_key(), event.partition_key());
        assert_eq!(view.partition_key(), "a1");
        assert_eq!((view.event_time_ms, view.received_at_ms), (5, 7));
        assert_eq!(view.interactions, event.interactions);
        assert_eq!(view.interactions[0].kind, InteractionKind::View);
    }
}
