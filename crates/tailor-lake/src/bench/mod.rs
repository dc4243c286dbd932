//! Benchmarks the CLI and `examples/lake_bench.rs` call: events/s the sink writes from an
//! embedded log, and the time of the `item_daily_stats` aggregation over generated rows.
//! Figures are printed, never asserted (tests do not depend on speed).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, value::RawValue};
use tailor_event::{Event, EventType};
use tailor_log::{EmbeddedLog, EmbeddedOptions, Log, Record};

use crate::layout::{flush_file, HivePartition, Table, EVENTS_TOPIC};
use crate::manifest::{self, DataFile, Manifest};
use crate::schema::events_schema;
use crate::{Error, Lake, LakeConfig, LakeSink, Result, Warehouse};

/// 2026-01-01T00:00:00Z.
pub const BASE_MS: i64 = 1_767_225_600_000;

/// A small deterministic generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Skewed towards small values (popular items): roughly a power law in `0..n`.
    pub fn skewed(&mut self, n: u64) -> u64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) - 1.0) as u64 % n.max(1)
    }
}

/// The `i`-th synthetic event: a storefront mix of product views, clicks, add-to-carts,
/// orders (3 products), recommendation impressions (4 products) and other events, with a
/// realistic Segment context. Event times advance 10 ms per event from `BASE_MS`.
pub fn synthetic_event(i: u64, rng: &mut Rng) -> Event {
    let user = format!("u{}", rng.skewed(50_000));
    let item = |rng: &mut Rng| format!("p{}", rng.skewed(10_000));
    let time_ms = BASE_MS + i as i64 * 10;
    let rec_id = format!("rec-{:016x}", rng.next_u64());
    let (kind, name, props) = match rng.below(100) {
        0..=54 => (
            EventType::Track,
            "Product Viewed",
            json!({"product_id": item(rng), "category": "shoes", "price": 49.9, "currency": "EUR"}),
        ),
        55..=69 => (
            EventType::Track,
            "Product Clicked",
            json!({"product_id": item(rng), "rec_id": rec_id}),
        ),
        70..=79 => (
            EventType::Track,
            "Product Added",
            json!({"product_id": item(rng), "price": 19.5, "quantity": 1 + rng.below(3)}),
        ),
        80..=84 => (
            EventType::Track,
            "Order Completed",
            json!({"order_id": format!("o{i}"), "currency": "EUR", "products": [
            {"product_id": item(rng), "price": 10.0, "quantity": 1},
            {"product_id": item(rng), "price": 25.0, "quantity": 2},
            {"product_id": item(rng), "price": 5.5, "quantity": 1}]}),
        ),
        85..=94 => (
            EventType::Track,
            "Product List Viewed",
            json!({"rec_id": rec_id, "model": "item_cf", "variant": if i.is_multiple_of(2) { "a" } else { "b" }, "products": [
            {"product_id": item(rng)}, {"product_id": item(rng)}, {"product_id": item(rng)}, {"product_id": item(rng)}]}),
        ),
        _ => (
            EventType::Page,
            "Home",
            json!({"path": "/", "title": "Home", "url": "https://shop.example/"}),
        ),
    };
    let message_id = format!("bench-{i:012}");
    let raw = json!({
        "type": kind.as_str(),
        "event": name,
        "messageId": message_id,
        "userId": user,
        "timestamp": tailor_event::time::format_ms(time_ms),
        "properties": props,
        "context": {
            "ip": "203.0.113.7",
            "library": {"name": "analytics.js", "version": "4.1.0"},
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            "page": {"path": "/products", "url": "https://shop.example/products"}
        }
    });
    let interactions = match kind {
        EventType::Track => tailor_event::ecommerce::interactions(name, &props),
        _ => Vec::new(),
    };
    Event {
        message_id,
        kind,
        event: Some(name.to_owned()),
        user_id: Some(user),
        anonymous_id: None,
        event_time_ms: time_ms,
        received_at_ms: time_ms + 50,
        interactions,
        // A serde_json::Value always prints as valid JSON.
        raw: RawValue::from_string(raw.to_string()).unwrap_or_else(|_| {
            RawValue::from_string("{}".into()).unwrap_or_else(|_| unreachable!())
        }),
    }
}

/// Appends `n` synthetic events to the `events` topic (created with `partitions`).
pub async fn fill_log(log: &dyn Log, n: u64, partitions: u32) -> Result<()> {
    log.create_topic(EVENTS_TOPIC, partitions)?;
    let mut rng = Rng::new(7);
    let mut i = 0;
    while i < n {
        let batch: Vec<Record> = (i..(i + 5_000).min(n))
            .map(|j| {
                let e = synthetic_event(j, &mut rng);
                Record::new(
                    Bytes::from(e.partition_key().to_owned()),
                    e.to_json(),
                    e.received_at_ms,
                )
            })
            .collect();
        i += batch.len() as u64;
        log.append(EVENTS_TOPIC, batch).await?;
    }
    Ok(())
}

/// CPU time of this process so far (user + system), from `/proc/self/stat` (Linux).
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every mainstream Linux build.
    Some(Duration::from_millis(ticks * 10))
}

/// Result of [`write_throughput`].
#[derive(Debug, Clone)]
pub struct WriteReport {
    pub events: u64,
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    pub wall: Duration,
    pub cpu: Option<Duration>,
    /// Time to read the same records from the log alone (part of `wall`).
    pub log_read: Duration,
}

impl WriteReport {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64()
    }

    /// Events per CPU-second: the per-core rate.
    pub fn events_per_cpu_sec(&self) -> Option<f64> {
        self.cpu
            .map(|c| self.events as f64 / c.as_secs_f64().max(1e-9))
    }
}

/// Fills an embedded log in `dir` with `events` synthetic events, then times one
/// [`LakeSink::run_once`] that writes them all to a lake in `dir`.
pub async fn write_throughput(dir: &Path, events: u64, partitions: u32) -> Result<WriteReport> {
    let log = EmbeddedLog::open(
        &dir.join("log"),
        EmbeddedOptions {
            fsync: false,
            ..EmbeddedOptions::default()
        },
    )?;
    fill_log(&*log, events, partitions).await?;
    // Read the log once without the sink: warms the page cache and times the log's share.
    let t0 = Instant::now();
    for p in 0..partitions {
        let mut next = log.start_offset(EVENTS_TOPIC, p)?;
        loop {
            let batch = log.read(EVENTS_TOPIC, p, next, 2_000)?;
            let Some(last) = batch.last() else { break };
            next = last.offset + 1;
        }
    }
    let log_read = t0.elapsed();
    let config = LakeConfig::default();
    let sink = LakeSink::with_lake(Lake::local(&dir.join("lake"))?, config).await?;
    let cpu0 = process_cpu_time();
    let t0 = Instant::now();
    let stats = sink.run_once(&*log).await?;
    let wall = t0.elapsed();
    let cpu = process_cpu_time()
        .zip(cpu0)
        .map(|(a, b)| a.saturating_sub(b));
    log.close()?;
    Ok(WriteReport {
        events: stats.records,
        rows: stats.event_rows,
        files: stats.files,
        bytes: stats.bytes,
        wall,
        cpu,
        log_read,
    })
}

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
/// per hour over `days` days) and commits them; returns the files written.
pub async fn generate_lake(dir: &Path, rows: u64, days: u32) -> Result<Lake> {
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

/// Result of [`aggregation`].
#[derive(Debug, Clone)]
pub struct AggReport {
    pub rows: u64,
    pub generate: Duration,
    pub result_rows: usize,
    /// Each run of the query.
    pub runs: Vec<Duration>,
}

/// Generates `rows` rows in a lake in `dir`, then times `SELECT * FROM item_daily_stats`
/// `runs` times.
pub async fn aggregation(dir: &Path, rows: u64, runs: usize) -> Result<AggReport> {
    let t0 = Instant::now();
    let lake = generate_lake(dir, rows, 10).await?;
    let generate = t0.elapsed();
    let wh = Warehouse::new(lake).await?;
    let mut times = Vec::new();
    let mut result_rows = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let batches = wh.query("SELECT * FROM item_daily_stats").await?;
        times.push(t.elapsed());
        result_rows = batches.iter().map(RecordBatch::num_rows).sum();
    }
    Ok(AggReport {
        rows,
        generate,
        result_rows,
        runs: times,
    })
}
