//! `events` rows generated straight into Parquet files (not through the sink), to time
//! queries over a large lake without writing millions of events through the log first.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use futures::StreamExt;

use super::synth::{Rng, BASE_MS};
use crate::layout::{flush_file, HivePartition, Table};
use crate::manifest::{self, DataFile, Manifest};
use crate::schema::events_schema;
use crate::{Error, Lake, Result};

fn hour_start(part: HivePartition) -> i64 {
    i64::from(part.day) * 86_400_000 + i64::from(part.hour.unwrap_or(0)) * 3_600_000
}

/// One generated `events` file: `rows` interaction rows in hive partition `part`.
fn generated_batch(
    part: HivePartition,
    first: u64,
    rows: usize,
    rng: &mut Rng,
) -> Result<RecordBatch> {
    const KINDS: [(&str, &str); 4] = [
        ("view", "Product Viewed"),
        ("click", "Product Clicked"),
        ("add_to_cart", "Product Added"),
        ("purchase", "Order Completed"),
    ];
    let hour_ms = hour_start(part);
    let mut message_id = StringBuilder::with_capacity(rows, rows * 18);
    let mut kind = StringBuilder::new();
    let mut user_id = StringBuilder::new();
    let mut anonymous_id = StringBuilder::new();
    let mut event = StringBuilder::new();
    let mut interaction = StringBuilder::new();
    let mut index = Int32Builder::new();
    let mut item_id = StringBuilder::new();
    let mut category = StringBuilder::new();
    let mut price = Float64Builder::new();
    let mut quantity = Float64Builder::new();
    let mut currency = StringBuilder::new();
    let mut order_id = StringBuilder::new();
    let mut rec_id = StringBuilder::new();
    let mut event_time = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut received_at = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut properties = StringBuilder::new();
    let mut context = StringBuilder::new();
    let mut log_partition = Int32Builder::new();
    let mut log_offset = Int64Builder::new();
    let mut s = String::new();
    for r in 0..rows {
        let n = first + r as u64;
        let (k, name) = match rng.below(100) {
            0..=69 => KINDS[0],
            70..=84 => KINDS[1],
            85..=94 => KINDS[2],
            _ => KINDS[3],
        };
        s.clear();
        let _ = write!(s, "gen-{n:012}");
        message_id.append_value(&s);
        kind.append_value("track");
        s.clear();
        let _ = write!(s, "u{}", rng.skewed(100_000));
        user_id.append_value(&s);
        anonymous_id.append_null();
        event.append_value(name);
        interaction.append_value(k);
        index.append_value(0);
        s.clear();
        let _ = write!(s, "p{}", rng.skewed(10_000));
        item_id.append_value(&s);
        category.append_value("shoes");
        price.append_value(10.0 + rng.below(90) as f64);
        quantity.append_option((k == "purchase").then_some(1.0 + rng.below(3) as f64));
        currency.append_value("EUR");
        order_id.append_option((k == "purchase").then(|| format!("o{n}")));
        rec_id.append_null();
        let t = hour_ms + rng.below(3_600_000) as i64;
        event_time.append_value(t);
        received_at.append_value(t + 40);
        s.clear();
        let _ = write!(s, "{{\"product_id\":\"p{}\"}}", n % 10_000);
        properties.append_value(&s);
        context.append_null();
        log_partition.append_value(0);
        log_offset.append_value(n as i64);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(message_id.finish()),
        Arc::new(kind.finish()),
        Arc::new(user_id.finish()),
        Arc::new(anonymous_id.finish()),
        Arc::new(event.finish()),
        Arc::new(interaction.finish()),
        Arc::new(index.finish()),
        Arc::new(item_id.finish()),
        Arc::new(category.finish()),
        Arc::new(price.finish()),
        Arc::new(quantity.finish()),
        Arc::new(currency.finish()),
        Arc::new(order_id.finish()),
        Arc::new(rec_id.finish()),
        Arc::new(event_time.finish()),
        Arc::new(received_at.finish()),
        Arc::new(properties.finish()),
        Arc::new(context.finish()),
        Arc::new(log_partition.finish()),
        Arc::new(log_offset.finish()),
    ];
    RecordBatch::try_new(events_schema(), cols).map_err(|e| Error::arrow("generating rows", e))
}

/// Writes `rows` generated `events` rows straight to a lake in `dir` as Parquet files (one
/// per hour over `days` days) and commits them. `progress` is called with the rows written
/// so far.
pub async fn generate_lake(
    dir: &Path,
    rows: u64,
    days: u32,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Lake> {
    let lake = Lake::local(dir)?;
    let hours = u64::from(days.max(1)) * 24;
    let per_file = rows.div_ceil(hours);
    let start_day = BASE_MS.div_euclid(86_400_000) as i32;
    let mut jobs = Vec::new();
    let mut first = 0u64;
    for h in 0..hours {
        let n = per_file.min(rows - first.min(rows));
        if n == 0 {
            break;
        }
        let part = HivePartition {
            day: start_day + (h / 24) as i32,
            hour: Some((h % 24) as u8),
        };
        jobs.push((h as usize, part, first, n as usize));
        first += n;
    }
    // Encode on every core; upload as each finishes.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let lake2 = lake.clone();
    let mut done = 0u64;
    let files: Vec<DataFile> = futures::stream::iter(jobs)
        .map(move |(seq, part, first, n)| {
            let lake = lake2.clone();
            async move {
                let (bytes, min, max) = tokio::task::spawn_blocking(move || {
                    let mut rng = Rng::new(first ^ 0xABCD);
                    let batch = generated_batch(part, first, n, &mut rng)?;
                    let start = hour_start(part);
                    Ok::<_, Error>((crate::encode::encode(&batch)?, start, start + 3_599_999))
                })
                .await
                .map_err(|e| Error::io("generating a file", std::io::Error::other(e)))??;
                let path = flush_file(Table::Events, part, 1, seq);
                let size = bytes.len() as u64;
                lake.put(&path, bytes).await?;
                Ok::<_, Error>(DataFile {
                    table: Table::Events,
                    path: path.to_string(),
                    dt: part.date(),
                    hour: part.hour,
                    rows: n as u64,
                    bytes: size,
                    min_time_ms: min,
                    max_time_ms: max,
                })
            }
        })
        .buffer_unordered(threads)
        .map(|f: Result<DataFile>| {
            if let Ok(f) = &f {
                done += f.rows;
                progress(done);
            }
            f
        })
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let mut m = Manifest {
        files,
        ..Manifest::default()
    };
    manifest::commit(&lake, &mut m, 1).await?;
    Ok(lake)
}
