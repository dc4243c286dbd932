//! The Segment HTTP Tracking API request formats (`/v1/batch`, `/v1/track`, `/v1/page`,
//! `/v1/screen`, `/v1/identify`, `/v1/group`, `/v1/alias`) → canonical [`Event`]s.
//!
//! A request is refused as a whole only when it is not JSON or not shaped like the endpoint's
//! body. Every other problem is per event: the event becomes a [`Rejection`] with a reason and
//! the rest of the batch goes on (real SDKs drop a whole batch on a 4xx, without retry).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::ecommerce::{id_value, interactions};
use crate::event::{Event, EventType};
use crate::schema::SchemaRegistry;
use crate::time::{parse_rfc3339_ms, resolve_event_time};
use crate::{Error, Result, MAX_EVENT_BYTES};

/// Longest accepted `messageId`, `userId` or `anonymousId`.
pub const MAX_ID_LEN: usize = 1024;

/// Which collector endpoint a body was posted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Batch,
    Single(EventType),
}

impl Endpoint {
    pub fn from_path_segment(s: &str) -> Option<Self> {
        if s == "batch" || s == "import" {
            return Some(Endpoint::Batch);
        }
        EventType::parse(s).map(Endpoint::Single)
    }
}

/// An event the collector could not accept, destined for the dead-letter log.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Position in the request's batch (0 for single-event endpoints).
    pub index: usize,
    pub message_id: Option<String>,
    pub reason: String,
    /// The event exactly as sent.
    pub raw: String,
}

#[derive(Debug)]
pub enum ParsedEvent {
    Valid(Box<Event>),
    Rejected(Rejection),
}

#[derive(Debug)]
pub struct ParsedRequest {
    /// `writeKey` from the body, for SDKs that do not use basic auth.
    pub write_key: Option<String>,
    pub events: Vec<ParsedEvent>,
}

#[derive(Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow)]
    batch: Option<Vec<&'a RawValue>>,
    #[serde(rename = "sentAt")]
    sent_at: Option<Value>,
    #[serde(rename = "writeKey")]
    write_key: Option<Value>,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "type")]
    kind: Option<Value>,
    #[serde(rename = "messageId")]
    message_id: Option<Value>,
    event: Option<Value>,
    name: Option<Value>,
    #[serde(rename = "userId")]
    user_id: Option<Value>,
    #[serde(rename = "anonymousId")]
    anonymous_id: Option<Value>,
    #[serde(rename = "previousId")]
    previous_id: Option<Value>,
    #[serde(rename = "groupId")]
    group_id: Option<Value>,
    timestamp: Option<Value>,
    #[serde(rename = "originalTimestamp")]
    original_timestamp: Option<Value>,
    #[serde(rename = "sentAt")]
    sent_at: Option<Value>,
    #[serde(rename = "writeKey")]
    write_key: Option<Value>,
    properties: Option<Value>,
    traits: Option<Value>,
}

/// Per-request inputs to parsing.
pub struct ParseContext<'a> {
    pub received_at_ms: i64,
    pub registry: &'a SchemaRegistry,
}

/// Parses a request body posted to `endpoint`. `new_id` supplies a `messageId` for events
/// that carry none.
pub fn parse_request(
    endpoint: Endpoint,
    body: &[u8],
    cx: &ParseContext<'_>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<ParsedRequest> {
    match endpoint {
        Endpoint::Batch => {
            let parsed: BatchBody<'_> =
                serde_json::from_slice(body).map_err(|e| Error::BadJson(e.to_string()))?;
            let batch = parsed.batch.ok_or_else(|| {
                Error::BadRequest("the body has no \"batch\" array of events".into())
            })?;
            let sent_at = parsed.sent_at.as_ref().and_then(|v| time_field(v).ok());
            let events = batch
                .iter()
                .enumerate()
                .map(|(i, raw)| parse_event(i, raw, None, sent_at, cx, new_id))
                .collect();
            Ok(ParsedRequest {
                write_key: parsed.write_key.as_ref().and_then(string_value),
                events,
            })
        }
        Endpoint::Single(kind) => {
            let raw: &RawValue =
                serde_json::from_slice(body).map_err(|e| Error::BadJson(e.to_string()))?;
            if !raw.get().trim_start().starts_with('{') {
                return Err(Error::BadRequest("the body must be a JSON object".into()));
            }
            let write_key = serde_json::from_str::<Wire>(raw.get())
                .ok()
                .and_then(|w| w.write_key.as_ref().and_then(string_value));
            let event = parse_event(0, raw, Some(kind), None, cx, new_id);
            Ok(ParsedRequest {
                write_key,
                events: vec![event],
            })
        }
    }
}

fn string_value(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn time_field(v: &Value) -> Result<i64, String> {
    match v {
        Value::String(s) => parse_rfc3339_ms(s),
        other => Err(format!("{other} is not an RFC 3339 timestamp string")),
    }
}

fn id_field(name: &str, v: Option<&Value>) -> Result<Option<String>, String> {
    let id = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(_) | Value::Number(_)) => id_value(v),
        Some(other) => return Err(format!("{name} must be a string, got {other}")),
    };
    match id {
        Some(s) if s.len() > MAX_ID_LEN => Err(format!(
            "{name} is {} bytes long; the limit is {MAX_ID_LEN}",
            s.len()
        )),
        Some(s) if s.contains('\0') => Err(format!("{name} contains a NUL character")),
        id => Ok(id),
    }
}

fn parse_event(
    index: usize,
    raw: &RawValue,
    implied: Option<EventType>,
    batch_sent_at: Option<i64>,
    cx: &ParseContext<'_>,
    new_id: &mut dyn FnMut() -> String,
) -> ParsedEvent {
    let wire = serde_json::from_str::<Wire>(raw.get());
    let message_id = wire
        .as_ref()
        .ok()
        .and_then(|w| id_field("messageId", w.message_id.as_ref()).ok().flatten());
    let reject = |reason: String| {
        ParsedEvent::Rejected(Rejection {
            index,
            message_id: message_id.clone(),
            reason,
            raw: raw.get().to_owned(),
        })
    };
    if raw.get().len() > MAX_EVENT_BYTES {
        return reject(format!(
            "event is {} bytes; the limit is {MAX_EVENT_BYTES}",
            raw.get().len()
        ));
    }
    let wire = match wire {
        Ok(w) => w,
        Err(e) => return reject(format!("event is not a valid Segment event object: {e}")),
    };
    match build_event(wire, raw, implied, batch_sent_at, cx) {
        Ok(mut event) => {
            event.message_id = message_id.clone().unwrap_or_else(&mut *new_id);
            ParsedEvent::Valid(Box::new(event))
        }
        Err(reason) => reject(reason),
    }
}

fn build_event(
    wire: Wire,
    raw: &RawValue,
    implied: Option<EventType>,
    batch_sent_at: Option<i64>,
    cx: &ParseContext<'_>,
) -> Result<Event, String> {
    let kind = match (implied, &wire.kind) {
        (Some(k), _) => k,
        (None, Some(Value::String(t))) => EventType::parse(t).ok_or_else(|| {
            format!("type {t:?} is not one of track, page, screen, identify, group, alias")
        })?,
        (None, Some(other)) => return Err(format!("type must be a string, got {other}")),
        (None, None) => return Err("type is missing".into()),
    };
    id_field("messageId", wire.message_id.as_ref())?;
    let user_id = id_field("userId", wire.user_id.as_ref())?;
    let anonymous_id = id_field("anonymousId", wire.anonymous_id.as_ref())?;
    match kind {
        EventType::Alias
            if user_id.is_none()
                || id_field("previousId", wire.previous_id.as_ref())?.is_none() =>
        {
            return Err("alias needs both userId and previousId".into());
        }
        EventType::Alias => {}
        _ if user_id.is_none() && anonymous_id.is_none() => {
            return Err("userId or anonymousId is required".into())
        }
        EventType::Group if id_field("groupId", wire.group_id.as_ref())?.is_none() => {
            return Err("group needs a groupId".into())
        }
        _ => {}
    }
    let event_name = match kind {
        EventType::Track => match &wire.event {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) | None => return Err("track needs an event name".into()),
            Some(other) => return Err(format!("event must be a string, got {other}")),
        },
        EventType::Page | EventType::Screen => wire.name.as_ref().and_then(string_value),
        _ => None,
    };
    let parse_time = |name: &str, v: &Option<Value>| -> Result<Option<i64>, String> {
        match v {
            None => Ok(None),
            Some(v) => time_field(v).map(Some).map_err(|e| format!("{name}: {e}")),
        }
    };
    let timestamp = parse_time("timestamp", &wire.timestamp)?;
    let original = parse_time("originalTimestamp", &wire.original_timestamp)?;
    let sent_at = parse_time("sentAt", &wire.sent_at)?.or(batch_sent_at);
    let event_time_ms = resolve_event_time(timestamp, original, sent_at, cx.received_at_ms);

    let (payload_name, payload) = match kind {
        EventType::Identify | EventType::Group => ("traits", &wire.traits),
        _ => ("properties", &wire.properties),
    };
    let empty = Value::Object(Default::default());
    let payload = match payload {
        None => &empty,
        Some(v @ Value::Object(_)) => v,
        Some(other) => return Err(format!("{payload_name} must be an object, got {other}")),
    };
    let subject = match kind {
        EventType::Track => event_name.as_deref().unwrap_or_default(),
        other => other.as_str(),
    };
    cx.registry.validate(subject, payload)?;
    let interactions = match (kind, &event_name) {
        (EventType::Track, Some(name)) => interactions(name, payload),
        _ => Vec::new(),
    };
    Ok(Event {
        message_id: String::new(),
        kind,
        event: event_name,
        user_id,
        anonymous_id,
        event_time_ms,
        received_at_ms: cx.received_at_ms,
        interactions,
        raw: raw.to_owned(),
    })
}

#[cfg(test)]
mod tests;
