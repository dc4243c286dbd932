//! The lake's events read back as the feature engine's input, in log order (partition, then
//! offset), each with the log position it was read from: for point-in-time training data
//! (`tailor_features::engine::offline`) and for rebuilding feature state from the lake.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use futures::StreamExt;
use tailor_event::{Interaction, InteractionKind};
use tailor_features::engine::offline::LoggedEvent;
use tailor_features::FeatureEvent;

use crate::warehouse::{query_error, sql_error};
use crate::{Error, Result, Warehouse};

/// The next `events` offset per log partition the lake's newest commit covers (every record
/// below it is in the lake, as an event or a dead letter).
pub async fn committed_offsets(warehouse: &Warehouse) -> Result<Vec<u64>> {
    let loaded = crate::manifest::load(&warehouse.lake).await?;
    let Some(parts) = loaded.manifest.offsets.get(crate::EVENTS_TOPIC) else {
        return Ok(Vec::new());
    };
    let n = parts.keys().max().map_or(0, |p| *p as usize + 1);
    let mut out = vec![0; n];
    for (p, off) in parts {
        out[*p as usize] = *off;
    }
    Ok(out)
}

const COLUMNS: &str = "log_partition, log_offset, interaction_index, event, user_id, \
    anonymous_id, event_time, received_at, interaction, item_id, category, price, quantity, \
    currency, order_id, rec_id, properties";

/// Every committed event, in (partition, offset) order; `properties` parsed only when
/// `with_properties` (definitions that read properties need them). `progress` gets the
/// number of events read so far after each batch.
pub async fn logged_events(
    warehouse: &Warehouse,
    with_properties: bool,
    mut progress: impl FnMut(u64),
) -> Result<Vec<LoggedEvent>> {
    warehouse.refresh().await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM events ORDER BY log_partition, log_offset, interaction_index"
    );
    let df = warehouse.session().sql(&sql).await.map_err(sql_error)?;
    let mut stream = df.execute_stream().await.map_err(query_error)?;
    let mut out: Vec<LoggedEvent> = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(query_error)?;
        append(&batch, with_properties, &mut out)?;
        progress(out.len() as u64);
    }
    Ok(out)
}

fn bad(column: &str) -> Error {
    Error::Query(format!("events column {column} has an unexpected type"))
}

fn append(batch: &RecordBatch, with_properties: bool, out: &mut Vec<LoggedEvent>) -> Result<()> {
    let col = |i: usize| batch.column(i);
    let part = col(0)
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| bad("log_partition"))?;
    let off = col(1)
        .as_primitive_opt::<Int64Type>()
        .ok_or_else(|| bad("log_offset"))?;
    let str_col = |i: usize, name: &str| col(i).as_string_opt::<i32>().ok_or_else(|| bad(name));
    let event = str_col(3, "event")?;
    let user = str_col(4, "user_id")?;
    let anon = str_col(5, "anonymous_id")?;
    let time = |i: usize, name: &str| {
        col(i)
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| bad(name))
    };
    let (event_time, received) = (time(6, "event_time")?, time(7, "received_at")?);
    let kind = str_col(8, "interaction")?;
    let item = str_col(9, "item_id")?;
    let category = str_col(10, "category")?;
    let num = |i: usize, name: &str| {
        col(i)
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| bad(name))
    };
    let (price, quantity) = (num(11, "price")?, num(12, "quantity")?);
    let currency = str_col(13, "currency")?;
    let order = str_col(14, "order_id")?;
    let rec = str_col(15, "rec_id")?;
    let props = str_col(16, "properties")?;
    let opt_str =
        |a: &arrow::array::StringArray, r: usize| (!a.is_null(r)).then(|| a.value(r).to_owned());
    let opt_num = |a: &arrow::array::Float64Array, r: usize| (!a.is_null(r)).then(|| a.value(r));
    for r in 0..batch.num_rows() {
        let (p, o) = (part.value(r) as u32, off.value(r) as u64);
        let same = out
            .last()
            .is_some_and(|e| e.partition == p && e.offset == o);
        if !same {
            out.push(LoggedEvent {
                partition: p,
                offset: o,
                event: FeatureEvent {
                    event: opt_str(event, r),
                    user_id: opt_str(user, r),
                    anonymous_id: opt_str(anon, r),
                    event_time_ms: event_time.value(r),
                    received_at_ms: received.value(r),
                    interactions: Vec::new(),
                    properties: if with_properties && !props.is_null(r) {
                        serde_json::from_str(props.value(r))
                            .ok()
                            .filter(serde_json::Value::is_object)
                    } else {
                        None
                    },
                },
            });
        }
        let Some(kind) = (!kind.is_null(r))
            .then(|| {
                InteractionKind::ALL
                    .into_iter()
                    .find(|k| k.as_str() == kind.value(r))
            })
            .flatten()
        else {
            continue;
        };
        if let Some(e) = out.last_mut() {
            e.event.interactions.push(Interaction {
                kind,
                item_id: item.value(r).to_owned(),
                category: opt_str(category, r),
                price: opt_num(price, r),
                quantity: opt_num(quantity, r),
                currency: opt_str(currency, r),
                order_id: opt_str(order, r),
                rec_id: opt_str(rec, r),
            });
        }
    }
    Ok(())
}
