//! `tailor import FILE --format segment-ndjson|csv [--preset taobao|yoochoose|movielens]`:
//! bulk-loads a file of events through the collector's validation, into the data
//! directory's log (or a running server with `--url`). Every line gets a deterministic
//! `messageId` unless it carries one, so importing a file twice stores it once; bad lines are
//! reported by line number and kept in the dead-letter topic.

pub(crate) mod fields;
mod mapping;
mod preset;
mod sink;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::config::DataArgs;
use fields::{message_id, parse_delimiter};
pub use mapping::TimeFormat;
use mapping::{parse_event_map, CsvMapping, CsvSpec};
use preset::Preset;
use sink::{Batch, Item, Outcome, Sink};

pub const EXAMPLES: &str = "Examples:
  tailor import events.ndjson --format segment-ndjson
  tailor import orders.csv --format csv --user-col customer --item-col sku --event-col action --time-col ts --time-format rfc3339
  tailor import UserBehavior.csv --preset taobao
  tailor import events.ndjson --format segment-ndjson --url http://127.0.0.1:8080 --write-key tk_w_...";

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One Segment event (track, page, identify, ...) per line, as `/v1/batch` items.
    #[value(name = "segment-ndjson", alias = "ndjson")]
    SegmentNdjson,
    /// Delimited rows mapped to Segment track events by the `--*-col` flags or a preset.
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file to import.
    pub file: PathBuf,
    /// Input format (a preset implies csv).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// A known dataset layout: fills in the format and column mapping (flags still override).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// csv: the user id column (a header name, or a position where 1 is the first column).
    #[arg(long, value_name = "COL")]
    pub user_col: Option<String>,
    /// csv: an anonymous/session id column (instead of or besides --user-col).
    #[arg(long, value_name = "COL")]
    pub anonymous_col: Option<String>,
    /// csv: the product id column.
    #[arg(long, value_name = "COL")]
    pub item_col: Option<String>,
    /// csv: the event type column (view/pv, click, cart, buy/purchase, fav, ... see --event-map).
    #[arg(long, value_name = "COL")]
    pub event_col: Option<String>,
    /// csv: the event time column (default: the time of import).
    #[arg(long, value_name = "COL")]
    pub time_col: Option<String>,
    /// csv: how --time-col is written.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub time_format: Option<TimeFormat>,
    /// csv: the product category column.
    #[arg(long, value_name = "COL")]
    pub category_col: Option<String>,
    /// csv: the product price column.
    #[arg(long, value_name = "COL")]
    pub price_col: Option<String>,
    /// csv: a rating column, kept as `properties.rating`.
    #[arg(long, value_name = "COL")]
    pub rating_col: Option<String>,
    /// csv: field delimiter, one character or `tab` (default `,`).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// csv: the first row names the columns (the default without a preset).
    #[arg(long, overrides_with = "no_header")]
    pub header: bool,
    /// csv: there is no header row; columns are given by position.
    #[arg(long, overrides_with = "header")]
    pub no_header: bool,
    /// csv: map an event column value to a Segment event name, e.g. "like=Product Added to
    /// Wishlist" (repeatable; values are case-insensitive).
    #[arg(long, value_name = "VALUE=EVENT NAME")]
    pub event_map: Vec<String>,
    /// csv: the event name of every row when there is no --event-col.
    #[arg(long, value_name = "NAME")]
    pub default_event: Option<String>,
    /// Events per append (or per HTTP request).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch: u64,
    /// Send to a running server's collector instead of writing the log directly.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Write key for --url (HTTP basic auth user, as Segment SDKs send it).
    #[arg(long, value_name = "KEY", requires = "url")]
    pub write_key: Option<String>,
    /// How many rejected lines to print.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub show_errors: usize,
    #[command(flatten)]
    pub data: DataArgs,
}

/// Batches also end at this many bytes, well under the collector's request limit.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// What to read: the format, and for csv the mapping before the header is seen.
fn plan(args: &ImportArgs) -> Result<(Format, Option<CsvSpec>)> {
    let format = match (args.format, args.preset) {
        (Some(Format::SegmentNdjson), Some(p)) => {
            bail!("--preset {p:?} reads csv rows; it cannot be combined with --format segment-ndjson")
        }
        (Some(f), _) => f,
        (None, Some(_)) => Format::Csv,
        (None, None) => bail!(
            "--format is required: segment-ndjson or csv (or a --preset: taobao, yoochoose, movielens)"
        ),
    };
    let csv_flags = [
        ("--user-col", args.user_col.is_some()),
        ("--anonymous-col", args.anonymous_col.is_some()),
        ("--item-col", args.item_col.is_some()),
        ("--event-col", args.event_col.is_some()),
        ("--time-col", args.time_col.is_some()),
        ("--time-format", args.time_format.is_some()),
        ("--category-col", args.category_col.is_some()),
        ("--price-col", args.price_col.is_some()),
        ("--rating-col", args.rating_col.is_some()),
        ("--delimiter", args.delimiter.is_some()),
        ("--header", args.header),
        ("--no-header", args.no_header),
        ("--event-map", !args.event_map.is_empty()),
        ("--default-event", args.default_event.is_some()),
    ];
    if format == Format::SegmentNdjson {
        if let Some((flag, _)) = csv_flags.iter().find(|(_, set)| *set) {
            bail!("{flag} applies to --format csv only");
        }
        return Ok((format, None));
    }
    let mut spec = args.preset.map(Preset::spec).unwrap_or_default();
    let overrides = [
        (&mut spec.user_col, &args.user_col),
        (&mut spec.anonymous_col, &args.anonymous_col),
        (&mut spec.item_col, &args.item_col),
        (&mut spec.event_col, &args.event_col),
        (&mut spec.time_col, &args.time_col),
        (&mut spec.category_col, &args.category_col),
        (&mut spec.price_col, &args.price_col),
        (&mut spec.rating_col, &args.rating_col),
    ];
    for (field, flag) in overrides {
        if flag.is_some() {
            field.clone_from(flag);
        }
    }
    if let Some(t) = args.time_format {
        spec.time_format = t;
    }
    if let Some(d) = &args.delimiter {
        spec.delimiter = parse_delimiter(d)?;
    }
    if args.header {
        spec.header = true;
    }
    if args.no_header {
        spec.header = false;
    }
    if let Some(e) = &args.default_event {
        spec.default_event.clone_from(e);
    }
    for m in &args.event_map {
        spec.event_map.push(parse_event_map(m)?);
    }
    // Column errors should come before any reading.
    if !spec.header {
        spec.resolve(None, "")?;
    }
    Ok((format, Some(spec)))
}

/// An NDJSON line as a `/v1/batch` item: as written, with a deterministic `messageId`
/// added when it has none. Anything the collector would refuse is left to its checks.
fn ndjson_item(text: &str, source: &str, line: u64) -> Item {
    match serde_json::from_str::<Value>(text) {
        Err(e) => Item::Bad {
            reason: format!("not JSON: {e}"),
            raw: text.to_owned(),
        },
        Ok(Value::Object(mut event)) => {
            let has_id = match event.get("messageId") {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) => !s.is_empty(),
                Some(_) => true,
            };
            if has_id {
                Item::Event(text.trim().to_owned())
            } else {
                event.insert(
                    "messageId".into(),
                    Value::String(message_id(source, line, text)),
                );
                Item::Event(Value::Object(event).to_string())
            }
        }
        Ok(_) => Item::Event(text.trim().to_owned()),
    }
}

#[derive(Debug, Default)]
struct Stats {
    lines: u64,
    skipped: u64,
    events: u64,
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    errors: Vec<(u64, String)>,
}

impl Stats {
    fn add(&mut self, o: Outcome, keep: usize) {
        self.accepted += o.accepted;
        self.duplicates += o.duplicates;
        self.rejected += o.rejected.len() as u64;
        let room = keep.saturating_sub(self.errors.len());
        self.errors.extend(o.rejected.into_iter().take(room));
    }
}

fn progress(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} importing [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

pub async fn run(args: ImportArgs) -> Result<()> {
    let (format, spec) = plan(&args)?;
    let path = &args.file;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let source = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let sink = match &args.url {
        Some(url) => Sink::http(url, args.write_key.clone())?,
        None => Sink::embedded(&args.data, &source)?,
    };
    let mut mapping: Option<CsvMapping> = match &spec {
        Some(s) if !s.header => Some(s.resolve(None, &source)?),
        _ => None,
    };
    let started = Instant::now();
    let pb = progress(len);
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut stats = Stats::default();
    let mut batch = Batch::default();
    let batch_len = usize::try_from(args.batch).unwrap_or(1000);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        pb.inc(n as u64);
        stats.lines += 1;
        let line = stats.lines;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t,
            Err(e) => {
                let raw = String::from_utf8_lossy(&buf).into_owned();
                batch.push(
                    line,
                    Item::Bad {
                        reason: format!("not UTF-8 text ({e})"),
                        raw,
                    },
                );
                stats.events += 1;
                continue;
            }
        };
        if text.trim().is_empty() {
            stats.skipped += 1;
            continue;
        }
        let item = match (&spec, &mapping) {
            (None, _) => ndjson_item(text, &source, line),
            (Some(spec), None) => {
                let header = CsvMapping::header_fields(text, spec.delimiter)
                    .with_context(|| format!("{} line {line}", path.display()))?;
                mapping = Some(spec.resolve(Some(&header), &source)?);
                stats.skipped += 1;
                continue;
            }
            (Some(_), Some(m)) => match m.map_row(text, line) {
                Ok(event) => Item::Event(event.to_string()),
                Err(reason) => Item::Bad {
                    reason,
                    raw: text.to_owned(),
                },
            },
        };
        batch.push(line, item);
        stats.events += 1;
        if batch.len() >= batch_len || batch.bytes >= MAX_BATCH_BYTES {
            let outcome = sink.send(std::mem::take(&mut batch)).await?;
            stats.add(outcome, args.show_errors);
        }
    }
    let outcome = sink.send(batch).await?;
    stats.add(outcome, args.show_errors);
    sink.close()?;
    pb.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    print_summary(&args, format, &stats, elapsed);
    Ok(())
}

fn print_summary(args: &ImportArgs, format: Format, stats: &Stats, elapsed: f64) {
    if !stats.errors.is_empty() {
        println!(
            "rejected lines (first {} of {}):",
            stats.errors.len(),
            stats.rejected
        );
        for (line, reason) in &stats.errors {
            println!("  line {line}: {reason}");
        }
    }
    let target = match &args.url {
        Some(url) => url.clone(),
        None => "the data directory's log".to_owned(),
    };
    println!(
        "imported {} ({}) into {target}",
        args.file.display(),
        match format {
            Format::SegmentNdjson => "segment-ndjson",
            Format::Csv => "csv",
        }
    );
    println!(
        "lines read   {} ({} blank or header)",
        stats.lines, stats.skipped
    );
    println!("accepted     {}", stats.accepted);
    println!("duplicates   {}", stats.duplicates);
    let where_ = if args.url.is_some() {
        "the server's"
    } else {
        "the"
    };
    println!(
        "rejected     {} (kept in {where_} dead-letter topic: `tailor dead-letters`)",
        stats.rejected
    );
    println!(
        "elapsed      {elapsed:.2} s ({:.0} events/s)",
        stats.events as f64 / elapsed.max(1e-9)
    );
}
