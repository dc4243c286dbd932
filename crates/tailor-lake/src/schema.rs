//! The tables' columns. Files hold the file schemas below; the warehouse adds the hive
//! partition columns `dt` (DATE) and, for `events`, `hour` (INT) from the file's folder.
//!
//! `events` — one row per interaction of an event (an `Order Completed` with N products is
//! N rows, `interaction_index` 0..N-1); an event without interactions is one row with
//! `interaction_index` 0 and null interaction columns. `(message_id, interaction_index)` is
//! unique.
//!
//! | column | type | |
//! |---|---|---|
//! | `message_id` | utf8 | Segment `messageId` |
//! | `type` | utf8 | track, page, screen, identify, group, alias |
//! | `user_id`, `anonymous_id` | utf8, null | |
//! | `event` | utf8, null | track event name (or page/screen name) |
//! | `interaction` | utf8, null | view, click, add_to_cart, purchase, impression |
//! | `interaction_index` | int32 | position of the interaction in the event |
//! | `item_id`, `category` | utf8, null | |
//! | `price`, `quantity` | float64, null | |
//! | `currency`, `order_id`, `rec_id` | utf8, null | |
//! | `event_time`, `received_at` | timestamp(ms, UTC) | |
//! | `properties`, `context` | utf8 (JSON text), null | as the client sent them |
//! | `log_partition` | int32 | log partition of the `events` record |
//! | `log_offset` | int64 | its offset |
//!
//! `dead_letters` — one row per dead-letter record: `received_at`, `endpoint`, `index`,
//! `message_id`, `reason`, `raw` (the rejected payload as text), and `log_topic`,
//! `log_partition`, `log_offset` of the record it came from. Records of the `events` topic
//! that cannot be decoded as events land here too (endpoint `log:events`), so nothing
//! is dropped silently.
//!
//! `quality` — one row per data-quality check of a lake commit or a job run, by check
//! date: `checked_at`, `source` (`lake_commit`, `training`), `lake_version`, `check`,
//! `column`, `status` (pass, fail, skip), `value`, `threshold`, `rows`, `detail`.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};

use crate::layout::Table;

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Columns of `events` files.
pub fn events_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
        Arc::new(Schema::new(vec![
            s("message_id", false),
            s("type", false),
            s("user_id", true),
            s("anonymous_id", true),
            s("event", true),
            s("interaction", true),
            Field::new("interaction_index", DataType::Int32, false),
            s("item_id", true),
            s("category", true),
            Field::new("price", DataType::Float64, true),
            Field::new("quantity", DataType::Float64, true),
            s("currency", true),
            s("order_id", true),
            s("rec_id", true),
            Field::new("event_time", ts(), false),
            Field::new("received_at", ts(), false),
            s("properties", true),
            s("context", true),
            Field::new("log_partition", DataType::Int32, false),
            Field::new("log_offset", DataType::Int64, false),
        ]))
    })
    .clone()
}

/// Columns of `dead_letters` files.
pub fn dead_letters_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("received_at", ts(), false),
            Field::new("endpoint", DataType::Utf8, true),
            Field::new("index", DataType::Int64, true),
            Field::new("message_id", DataType::Utf8, true),
            Field::new("reason", DataType::Utf8, false),
            Field::new("raw", DataType::Utf8, true),
            Field::new("log_topic", DataType::Utf8, false),
            Field::new("log_partition", DataType::Int32, false),
            Field::new("log_offset", DataType::Int64, false),
        ]))
    })
    .clone()
}

/// Columns of `quality` files (see [`crate::quality`]).
pub fn quality_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
        Arc::new(Schema::new(vec![
            Field::new("checked_at", ts(), false),
            s("source", false),
            Field::new("lake_version", DataType::Int64, true),
            s("check", false),
            s("column", true),
            s("status", false),
            Field::new("value", DataType::Float64, false),
            Field::new("threshold", DataType::Float64, true),
            Field::new("rows", DataType::Int64, false),
            s("detail", false),
        ]))
    })
    .clone()
}

/// The file schema of a table.
pub fn file_schema(table: Table) -> SchemaRef {
    match table {
        Table::Events => events_schema(),
        Table::DeadLetters => dead_letters_schema(),
        Table::Quality => quality_schema(),
    }
}

/// The hive partition columns the warehouse adds: `dt` (and `hour` for `events`).
pub fn partition_fields(table: Table) -> Vec<FieldRef> {
    let mut v = vec![Arc::new(Field::new("dt", DataType::Date32, false))];
    if table.hourly() {
        v.push(Arc::new(Field::new("hour", DataType::Int32, false)));
    }
    v
}

/// Columns whose values are mostly unique: dictionary encoding only costs there (every
/// value is hashed into a dictionary that overflows and falls back to plain anyway).
pub(crate) const PLAIN_COLUMNS: [&str; 10] = [
    "message_id",
    "properties",
    "context",
    "raw",
    "log_offset",
    "anonymous_id",
    "event_time",
    "received_at",
    "order_id",
    "rec_id",
];

/// Columns of JSON (or raw) text.
pub(crate) const JSON_COLUMNS: [&str; 3] = ["properties", "context", "raw"];
