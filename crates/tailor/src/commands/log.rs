//! `tailor log topics|dump` and `tailor dead-letters`: read the stored log (also while a
//! server is running: the log is opened read-only). Records of erased users (the
//! `erasures` topic) are left out.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tailor_log::{EmbeddedLog, ErasureList, Log};

use crate::config::{load, DataArgs};

pub const EXAMPLES: &str = "Examples:
  tailor log topics
  tailor log dump --topic events --limit 5
  tailor log dump --topic events.dead-letter --partition 0 --from 100
  tailor log dump --topic catalog | jq .value";

pub const DEAD_LETTERS: &str = "Examples:
  tailor dead-letters
  tailor dead-letters --limit 100
  tailor dead-letters --from 0 --limit 10";

#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// Topics with their partitions and offsets.
    Topics,
    /// Records as NDJSON, one per line with partition and offset (like kcat).
    Dump {
        /// The topic (`tailor log topics` lists them: events, events.dead-letter, catalog,
        /// erasures, ...).
        #[arg(long, default_value = "events", value_name = "TOPIC")]
        topic: String,
        /// Only this partition (default: all).
        #[arg(long, value_name = "P")]
        partition: Option<u32>,
        /// First offset (per partition).
        #[arg(long, default_value_t = 0, value_name = "OFFSET")]
        from: u64,
        /// At most this many records per partition.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
}

fn open(data: &DataArgs) -> Result<Arc<EmbeddedLog>> {
    let cfg = load(data, None)?;
    let dir = cfg.data_dir.join("log");
    EmbeddedLog::open_read_only(&dir)
        .with_context(|| format!("opening the log in {}", dir.display()))
}

/// Whether the erasure list hides record `r` of `topic`.
fn erased(
    erasures: &ErasureList,
    topic: &str,
    r: &tailor_log::StoredRecord,
    value: &Value,
) -> bool {
    match topic {
        tailor_lake::EVENTS_TOPIC => erasures.erases_event(
            r.partition,
            r.offset,
            value["user_id"].as_str(),
            value["anonymous_id"].as_str(),
        ),
        tailor_lake::DEAD_LETTER_TOPIC => erasures.erases_dead_letter(r.partition, r.offset),
        _ => false,
    }
}

pub fn run(cmd: LogCommand, data: &DataArgs) -> Result<()> {
    let log = open(data)?;
    let erasures = ErasureList::load_if_present(log.as_ref())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match cmd {
        LogCommand::Topics => {
            for t in log.topics() {
                let parts: Vec<Value> = (0..t.partitions)
                    .map(|p| {
                        json!({
                            "partition": p,
                            "start_offset": log.start_offset(&t.name, p).unwrap_or(0),
                            "end_offset": log.end_offset(&t.name, p).unwrap_or(0),
                        })
                    })
                    .collect();
                writeln!(out, "{}", json!({"topic": t.name, "partitions": parts}))?;
            }
        }
        LogCommand::Dump {
            topic,
            partition,
            from,
            limit,
        } => {
            let partitions = log.partitions(&topic)?;
            let which: Vec<u32> = match partition {
                Some(p) => vec![p],
                None => (0..partitions).collect(),
            };
            for p in which {
                let mut off = from.max(log.start_offset(&topic, p)?);
                let mut left = limit.unwrap_or(u64::MAX);
                while left > 0 {
                    let recs = log.read(&topic, p, off, left.min(1000) as usize)?;
                    let Some(last) = recs.last() else { break };
                    off = last.offset + 1;
                    left -= recs.len() as u64;
                    for r in recs {
                        let value: Value = serde_json::from_slice(&r.value).unwrap_or_else(|_| {
                            Value::String(String::from_utf8_lossy(&r.value).into_owned())
                        });
                        if erased(&erasures, &topic, &r, &value) {
                            continue;
                        }
                        let headers: serde_json::Map<String, Value> = r
                            .headers
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    Value::String(String::from_utf8_lossy(v).into_owned()),
                                )
                            })
                            .collect();
                        writeln!(
                            out,
                            "{}",
                            json!({
                                "topic": topic, "partition": p, "offset": r.offset,
                                "timestamp": tailor_event::time::format_ms(r.timestamp_ms),
                                "key": String::from_utf8_lossy(&r.key), "headers": headers, "value": value,
                            })
                        )?;
                    }
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

pub fn dead_letters(data: &DataArgs, limit: usize, from: Option<u64>) -> Result<()> {
    let log = open(data)?;
    let erasures = ErasureList::load_if_present(log.as_ref())?;
    let (items, end) = tailor_server::routes::dead_letters::read_dead_letters(
        log.as_ref(),
        &erasures,
        from,
        limit.clamp(1, 100_000),
    )?;
    if items.is_empty() {
        println!("no dead letters (end offset {end})");
    }
    for v in items {
        let raw = v["raw"].as_str().unwrap_or_default();
        let raw: String = raw.chars().take(160).collect();
        println!(
            "#{} {} {} index={} messageId={}\n  reason: {}\n  raw: {}",
            v["offset"],
            v["received_at"].as_str().unwrap_or(""),
            v["endpoint"].as_str().unwrap_or(""),
            v["index"],
            v["message_id"],
            v["reason"].as_str().unwrap_or(""),
            raw
        );
    }
    Ok(())
}
