//! Log records → Arrow rows. Stored events are decoded with borrowed strings (no copy of the
//! raw payload) and appended to per-partition column builders; records that are not events
//! become dead-letter rows instead of being dropped.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use tailor_log::StoredRecord;

use crate::schema::{dead_letters_schema, events_schema};
use crate::{Error, Result};

/// An interaction as stored in an `Event` (see `tailor_event::Interaction`), borrowed.
#[derive(Debug, Deserialize)]
pub(crate) struct InteractionRef<'a> {
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow)]
    pub item_id: Cow<'a, str>,
    #[serde(default, borrow)]
    pub category: Option<Cow<'a, str>>,
    #[serde(default)]
    pub price: Option<f64>,
    #[serde(default)]
    pub quantity: Option<f64>,
    #[serde(default, borrow)]
    pub currency: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub order_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub rec_id: Option<Cow<'a, str>>,
}

/// A stored `tailor_event::Event`, borrowed from the record's bytes (its `raw` is skipped).
#[derive(Debug, Deserialize)]
pub(crate) struct EventRef<'a> {
    #[serde(borrow)]
    pub message_id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub event: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub user_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub anonymous_id: Option<Cow<'a, str>>,
    pub event_time_ms: i64,
    pub received_at_ms: i64,
    #[serde(default, borrow)]
    pub interactions: Vec<InteractionRef<'a>>,
}

/// The parts of the raw Segment object the lake keeps as JSON text.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawParts<'a> {
    #[serde(default, borrow)]
    pub properties: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub context: Option<&'a RawValue>,
}

/// A decoded event and its raw parts.
pub(crate) struct Decoded<'a> {
    pub event: EventRef<'a>,
    pub parts: RawParts<'a>,
}

/// A stored event whose `raw` object is decoded in the same pass (the fast path).
#[derive(Debug, Deserialize)]
struct EventWithParts<'a> {
    #[serde(borrow)]
    message_id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    anonymous_id: Option<Cow<'a, str>>,
    event_time_ms: i64,
    received_at_ms: i64,
    #[serde(default, borrow)]
    interactions: Vec<InteractionRef<'a>>,
    #[serde(borrow)]
    raw: RawParts<'a>,
}

/// Decodes a stored event; the error says why a record is not one.
pub(crate) fn decode_event(value: &[u8]) -> Result<Decoded<'_>, String> {
    // UTF-8 is checked once for the whole record (faster than string by string).
    let text = std::str::from_utf8(value).map_err(|e| format!("not UTF-8: {e}"))?;
    // One pass over the text when `raw` is an object, as the collector stores it.
    if let Ok(e) = serde_json::from_str::<EventWithParts<'_>>(text) {
        return Ok(Decoded {
            event: EventRef {
                message_id: e.message_id,
                kind: e.kind,
                event: e.event,
                user_id: e.user_id,
                anonymous_id: e.anonymous_id,
                event_time_ms: e.event_time_ms,
                received_at_ms: e.received_at_ms,
                interactions: e.interactions,
            },
            parts: e.raw,
        });
    }
    // Anything else that is still an event keeps no raw parts.
    let event: EventRef<'_> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(Decoded {
        event,
        parts: RawParts::default(),
    })
}

fn json_text(v: Option<&RawValue>) -> Option<&str> {
    v.map(RawValue::get).filter(|s| *s != "null")
}

fn ts_builder() -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::new().with_timezone("UTC")
}

/// Column builders of `events` rows.
pub(crate) struct EventRows {
    message_id: StringBuilder,
    kind: StringBuilder,
    user_id: StringBuilder,
    anonymous_id: StringBuilder,
    event: StringBuilder,
    interaction: StringBuilder,
    interaction_index: Int32Builder,
    item_id: StringBuilder,
    category: StringBuilder,
    price: Float64Builder,
    quantity: Float64Builder,
    currency: StringBuilder,
    order_id: StringBuilder,
    rec_id: StringBuilder,
    event_time: TimestampMillisecondBuilder,
    received_at: TimestampMillisecondBuilder,
    properties: StringBuilder,
    context: StringBuilder,
    log_partition: Int32Builder,
    log_offset: Int64Builder,
    pub rows: usize,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
}

impl EventRows {
    pub fn new() -> Self {
        EventRows {
            message_id: StringBuilder::new(),
            kind: StringBuilder::new(),
            user_id: StringBuilder::new(),
            anonymous_id: StringBuilder::new(),
            event: StringBuilder::new(),
            interaction: StringBuilder::new(),
            interaction_index: Int32Builder::new(),
            item_id: StringBuilder::new(),
            category: StringBuilder::new(),
            price: Float64Builder::new(),
            quantity: Float64Builder::new(),
            currency: StringBuilder::new(),
            order_id: StringBuilder::new(),
            rec_id: StringBuilder::new(),
            event_time: ts_builder(),
            received_at: ts_builder(),
            properties: StringBuilder::new(),
            context: StringBuilder::new(),
            log_partition: Int32Builder::new(),
            log_offset: Int64Builder::new(),
            rows: 0,
            min_time_ms: i64::MAX,
            max_time_ms: i64::MIN,
        }
    }

    /// Appends the rows of one event (one per interaction, at least one).
    pub fn push(&mut self, d: &Decoded<'_>, partition: u32, offset: u64) {
        let e = &d.event;
        let n = e.interactions.len().max(1);
        let properties = json_text(d.parts.properties);
        let context = json_text(d.parts.context);
        for i in 0..n {
            self.message_id.append_value(&e.message_id);
            self.kind.append_value(&e.kind);
            self.user_id.append_option(e.user_id.as_deref());
            self.anonymous_id.append_option(e.anonymous_id.as_deref());
            self.event.append_option(e.event.as_deref());
            let it = e.interactions.get(i);
            self.interaction.append_option(it.map(|x| &*x.kind));
            self.interaction_index.append_value(i as i32);
            self.item_id.append_option(it.map(|x| &*x.item_id));
            self.category
                .append_option(it.and_then(|x| x.category.as_deref()));
            self.price.append_option(it.and_then(|x| x.price));
            self.quantity.append_option(it.and_then(|x| x.quantity));
            self.currency
                .append_option(it.and_then(|x| x.currency.as_deref()));
            self.order_id
                .append_option(it.and_then(|x| x.order_id.as_deref()));
            self.rec_id
                .append_option(it.and_then(|x| x.rec_id.as_deref()));
            self.event_time.append_value(e.event_time_ms);
            self.received_at.append_value(e.received_at_ms);
            self.properties.append_option(properties);
            self.context.append_option(context);
            self.log_partition.append_value(partition as i32);
            self.log_offset.append_value(offset as i64);
        }
        self.rows += n;
        self.min_time_ms = self.min_time_ms.min(e.event_time_ms);
        self.max_time_ms = self.max_time_ms.max(e.event_time_ms);
    }

    pub fn finish(mut self) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.message_id.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.user_id.finish()),
            Arc::new(self.anonymous_id.finish()),
            Arc::new(self.event.finish()),
            Arc::new(self.interaction.finish()),
            Arc::new(self.interaction_index.finish()),
            Arc::new(self.item_id.finish()),
            Arc::new(self.category.finish()),
            Arc::new(self.price.finish()),
            Arc::new(self.quantity.finish()),
            Arc::new(self.currency.finish()),
            Arc::new(self.order_id.finish()),
            Arc::new(self.rec_id.finish()),
            Arc::new(self.event_time.finish()),
            Arc::new(self.received_at.finish()),
            Arc::new(self.properties.finish()),
            Arc::new(self.context.finish()),
            Arc::new(self.log_partition.finish()),
            Arc::new(self.log_offset.finish()),
        ];
        RecordBatch::try_new(events_schema(), cols)
            .map_err(|e| Error::arrow("building an events batch", e))
    }
}

/// A dead-letter record's value, as the collector writes it.
#[derive(Debug, Deserialize)]
struct DeadLetterRef<'a> {
    #[serde(default, borrow)]
    received_at: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    endpoint: Option<Cow<'a, str>>,
    #[serde(default)]
    index: Option<i64>,
    #[serde(default, borrow)]
    message_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    raw: Option<Cow<'a, str>>,
}

/// One dead-letter row, owned where it had to be unescaped.
pub(crate) struct DeadLetter<'a> {
    pub received_at_ms: i64,
    pub endpoint: Option<Cow<'a, str>>,
    pub index: Option<i64>,
    pub message_id: Option<Cow<'a, str>>,
    pub reason: Cow<'a, str>,
    pub raw: Option<Cow<'a, str>>,
}

impl<'a> DeadLetter<'a> {
    /// A record of the dead-letter topic; one that is not the collector's JSON is kept whole
    /// with a reason saying so.
    pub fn from_record(r: &'a StoredRecord) -> DeadLetter<'a> {
        match serde_json::from_slice::<DeadLetterRef<'a>>(&r.value) {
            Ok(d) => DeadLetter {
                received_at_ms: d
                    .received_at
                    .as_deref()
                    .and_then(|s| tailor_event::time::parse_rfc3339_ms(s).ok())
                    .unwrap_or(r.timestamp_ms),
                endpoint: d.endpoint,
                index: d.index,
                message_id: d.message_id,
                reason: d.reason.unwrap_or(Cow::Borrowed("(no reason recorded)")),
                raw: d.raw,
            },
            Err(e) => DeadLetter::undecodable(r, "dead-letter", &e.to_string()),
        }
    }

    /// A record that could not be decoded: kept whole, with why.
    pub fn undecodable(r: &'a StoredRecord, what: &str, error: &str) -> DeadLetter<'a> {
        let message_id = r
            .headers
            .iter()
            .find(|(k, _)| k == "message_id")
            .map(|(_, v)| String::from_utf8_lossy(v));
        DeadLetter {
            received_at_ms: r.timestamp_ms,
            endpoint: Some(Cow::Owned(format!("log:{}", r.topic))),
            index: None,
            message_id,
            reason: Cow::Owned(format!(
                "the lake sink could not decode this {what} record: {error}"
            )),
            raw: Some(String::from_utf8_lossy(&r.value)),
        }
    }
}

/// Column builders of `dead_letters` rows.
pub(crate) struct DeadLetterRows {
    received_at: TimestampMillisecondBuilder,
    endpoint: StringBuilder,
    index: Int64Builder,
    message_id: StringBuilder,
    reason: StringBuilder,
    raw: StringBuilder,
    log_topic: StringBuilder,
    log_partition: Int32Builder,
    log_offset: Int64Builder,
    pub rows: usize,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
}

impl DeadLetterRows {
    pub fn new() -> Self {
        DeadLetterRows {
            received_at: ts_builder(),
            endpoint: StringBuilder::new(),
            index: Int64Builder::new(),
            message_id: StringBuilder::new(),
            reason: StringBuilder::new(),
            raw: StringBuilder::new(),
            log_topic: StringBuilder::new(),
            log_partition: Int32Builder::new(),
            log_offset: Int64Builder::new(),
            rows: 0,
            min_time_ms: i64::MAX,
            max_time_ms: i64::MIN,
        }
    }

    pub fn push(&mut self, d: &DeadLetter<'_>, r: &StoredRecord) {
        self.received_at.append_value(d.received_at_ms);
        self.endpoint.append_option(d.endpoint.as_deref());
        self.index.append_option(d.index);
        self.message_id.append_option(d.message_id.as_deref());
        self.reason.append_value(&d.reason);
        self.raw.append_option(d.raw.as_deref());
        self.log_topic.append_value(&r.topic);
        self.log_partition.append_value(r.partition as i32);
        self.log_offset.append_value(r.offset as i64);
        self.rows += 1;
        self.min_time_ms = self.min_time_ms.min(d.received_at_ms);
        self.max_time_ms = self.max_time_ms.max(d.received_at_ms);
    }

    pub fn finish(mut self) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.received_at.finish()),
            Arc::new(self.endpoint.finish()),
            Arc::new(self.index.finish()),
            Arc::new(self.message_id.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.raw.finish()),
            Arc::new(self.log_topic.finish()),
            Arc::new(self.log_partition.finish()),
            Arc::new(self.log_offset.finish()),
        ];
        RecordBatch::try_new(dead_letters_schema(), cols)
            .map_err(|e| Error::arrow("building a dead_letters batch", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tailor_event::{Event, EventType};

    /// The borrowed decoder reads what `tailor_event::Event` writes.
    #[test]
    fn decodes_what_the_collector_stores() {
        let props = json!({"order_id": "o1", "products": [
            {"product_id": "p1", "price": 2.5, "quantity": 2, "category": "c"},
            {"product_id": "p2", "price": "1"}
        ], "note": "a \"quoted\" text"});
        let raw = json!({"type": "track", "event": "Order Completed", "properties": props,
            "context": {"ip": "1.2.3.4"}});
        let event = Event {
            message_id: "m\"1".into(),
            kind: EventType::Track,
            event: Some("Order Completed".into()),
            user_id: Some("u1".into()),
            anonymous_id: None,
            event_time_ms: 10,
            received_at_ms: 20,
            interactions: tailor_event::ecommerce::interactions("Order Completed", &props),
            raw: RawValue::from_string(raw.to_string()).expect("raw"),
        };
        let bytes = event.to_json();
        let d = decode_event(&bytes).expect("decodes");
        assert_eq!(d.event.message_id, "m\"1");
        assert_eq!(d.event.kind, "track");
        assert_eq!(d.event.interactions.len(), 2);
        assert_eq!(d.event.interactions[0].kind, "purchase");
        assert_eq!(d.event.interactions[1].price, Some(1.0));
        let p: serde_json::Value =
            serde_json::from_str(json_text(d.parts.properties).expect("props")).expect("json");
        assert_eq!(p, props);
        let mut rows = EventRows::new();
        rows.push(&d, 3, 7);
        let batch = rows.finish().expect("batch");
        assert_eq!(batch.num_rows(), 2);
        assert!(decode_event(b"{\"not\": \"an event\"}").is_err());
        let odd = br#"{"message_id":"m","type":"track","event_time_ms":1,"received_at_ms":2,"raw":"text"}"#;
        let d = decode_event(odd).expect("an event whose raw is not an object");
        assert!(d.parts.properties.is_none());
        assert!(decode_event(b"\xff").is_err());
    }
}
