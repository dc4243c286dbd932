//! Where `tailor import` sends its batches: straight into the data directory's embedded log
//! through the collector's own pipeline (parse → validate → de-duplicate → durable append,
//! rejects to the dead-letter topic), or to a running server's `/v1/batch`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use serde_json::Value;
use tailor_event::{Endpoint, ParsedEvent, ParsedRequest, Rejection};
use tailor_log::Log;
use tailor_server::dedupe::Dedupe;
use tailor_server::ingest::{now_ms, Ingest};

use crate::client::{http_client, post_batch};
use crate::config::{load, DataArgs};

/// One input line made ready to send.
#[derive(Debug)]
pub enum Item {
    /// A JSON event, sent as it is.
    Event(String),
    /// A line that cannot become an event: why, and the line itself.
    Bad { reason: String, raw: String },
}

/// A batch of items with their 1-based line numbers.
#[derive(Debug, Default)]
pub struct Batch {
    pub items: Vec<(u64, Item)>,
    pub bytes: usize,
}

impl Batch {
    pub fn push(&mut self, line: u64, item: Item) {
        self.bytes += match &item {
            Item::Event(e) => e.len(),
            Item::Bad { raw, .. } => raw.len(),
        } + 1;
        self.items.push((line, item));
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
}

/// What happened to one batch.
#[derive(Debug, Default)]
pub struct Outcome {
    pub accepted: u64,
    pub duplicates: u64,
    /// Rejected lines with the reason.
    pub rejected: Vec<(u64, String)>,
}

/// The import de-duplicates against every id in the log (bounded by
/// `collector.dedupe_max_entries`), not only the collector's 24 h window: re-importing a file
/// weeks later must not double it.
const IMPORT_DEDUPE_WINDOW_SECS: u64 = 100 * 365 * 24 * 3600;

/// How long one durable append may take before the import gives up.
const APPEND_TIMEOUT: Duration = Duration::from_secs(120);

pub enum Sink {
    Embedded {
        log: Arc<dyn Log>,
        ingest: Ingest,
        /// The dead letters' `endpoint`: `import:FILE`.
        endpoint: String,
    },
    Http {
        client: reqwest::Client,
        endpoint: String,
        write_key: Option<String>,
    },
}

fn batch_body<'a>(texts: impl Iterator<Item = &'a str>) -> Bytes {
    let mut body = String::from("{\"batch\":[");
    for (i, t) in texts.enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(t);
    }
    body.push_str("]}");
    Bytes::from(body)
}

impl Sink {
    /// Opens the data directory's log for writing (fails if a server holds it).
    pub fn embedded(data: &DataArgs, source: &str) -> Result<Sink> {
        let cfg = load(data, None)?;
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
        let dir = cfg.data_dir.join("log");
        let log = match tailor_server::open_log(&cfg) {
            Ok(log) => log,
            Err(tailor_server::Error::Log(tailor_log::Error::Io { context, .. }))
                if context.starts_with("locking") =>
            {
                bail!(
                    "the log in {} is locked by another process (a running `tailor serve`?): \
                     stop it, or import through it with --url http://HOST:PORT",
                    dir.display()
                )
            }
            Err(e) => {
                return Err(e).with_context(|| format!("opening the log in {}", dir.display()))
            }
        };
        let registry =
            tailor_server::registry_store::load_or_init(&cfg.data_dir.join("schemas.json"))
                .context("loading the schema registry")?;
        let dedupe = Arc::new(Dedupe::new(
            IMPORT_DEDUPE_WINDOW_SECS,
            cfg.collector.dedupe_max_entries,
        ));
        let dyn_log: Arc<dyn Log> = log.clone();
        let ingest = Ingest::with_registry(dyn_log, registry, dedupe, APPEND_TIMEOUT);
        ingest
            .rebuild_dedupe()
            .context("reading the message ids already in the log")?;
        Ok(Sink::Embedded {
            log,
            ingest,
            endpoint: format!("import:{source}"),
        })
    }

    /// Sends to a running server's collector.
    pub fn http(url: &str, write_key: Option<String>) -> Result<Sink> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("--url {url:?}: expected http://HOST:PORT");
        }
        Ok(Sink::Http {
            client: http_client(1)?,
            endpoint: format!("{}/v1/batch", url.trim_end_matches('/')),
            write_key,
        })
    }

    pub async fn send(&self, batch: Batch) -> Result<Outcome> {
        if batch.items.is_empty() {
            return Ok(Outcome::default());
        }
        match self {
            Sink::Embedded {
                ingest, endpoint, ..
            } => store(ingest, endpoint, batch).await,
            Sink::Http {
                client,
                endpoint,
                write_key,
            } => post(client, endpoint, write_key.as_deref(), batch).await,
        }
    }

    /// Closes the log (everything sent is already durable).
    pub fn close(self) -> Result<()> {
        if let Sink::Embedded { log, .. } = self {
            log.close().context("closing the log")?;
        }
        Ok(())
    }
}

/// Parses a batch as `/v1/batch` items, in line order, with the lines that could not be
/// sent as events rejected too (`index` = line number, the reason names the line).
fn parse(ingest: &Ingest, batch: &Batch, received: i64) -> Result<(ParsedRequest, Outcome)> {
    let body = batch_body(batch.items.iter().filter_map(|(_, i)| match i {
        Item::Event(e) => Some(e.as_str()),
        Item::Bad { .. } => None,
    }));
    let parsed = ingest
        .parse(Endpoint::Batch, &body, received)
        .context("internal error: an import batch did not parse")?;
    let mut parsed_events = parsed.events.into_iter();
    let mut events = Vec::with_capacity(batch.items.len());
    let mut outcome = Outcome::default();
    for (line, item) in &batch.items {
        let (reason, raw, message_id) = match item {
            Item::Bad { reason, raw } => (reason.clone(), raw.clone(), None),
            Item::Event(_) => match parsed_events.next() {
                Some(ParsedEvent::Rejected(r)) => (r.reason, r.raw, r.message_id),
                Some(valid) => {
                    events.push(valid);
                    continue;
                }
                None => bail!("internal error: an import batch lost events"),
            },
        };
        events.push(ParsedEvent::Rejected(Rejection {
            index: usize::try_from(*line).unwrap_or(usize::MAX),
            message_id,
            reason: format!("line {line}: {reason}"),
            raw,
        }));
        outcome.rejected.push((*line, reason));
    }
    let request = ParsedRequest {
        write_key: None,
        events,
    };
    Ok((request, outcome))
}

/// The collector's pipeline: validated events to `events`, rejects to the dead-letter
/// topic, both durable before this returns. A full write queue is waited out.
async fn store(ingest: &Ingest, endpoint: &str, batch: Batch) -> Result<Outcome> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let received = now_ms();
        let (request, mut outcome) = parse(ingest, &batch, received)?;
        match ingest.store(endpoint, request, received).await {
            Ok(stored) => {
                outcome.accepted = stored.accepted as u64;
                outcome.duplicates = stored.duplicates as u64;
                return Ok(outcome);
            }
            Err(e) if matches!(e.status.as_u16(), 429 | 503) && attempts <= 20 => {
                tokio::time::sleep(Duration::from_secs(e.retry_after.unwrap_or(1).min(5))).await;
            }
            Err(e) => bail!("storing a batch failed ({}): {}", e.code, e.message),
        }
    }
}

/// `/v1/batch` on a running server. Lines that are not events travel as JSON strings, so
/// the server keeps them in its dead-letter topic as well; their local reason is reported.
async fn post(
    client: &reqwest::Client,
    endpoint: &str,
    write_key: Option<&str>,
    batch: Batch,
) -> Result<Outcome> {
    let texts: Vec<String> = batch
        .items
        .iter()
        .map(|(_, item)| match item {
            Item::Event(e) => e.clone(),
            Item::Bad { raw, .. } => Value::String(raw.clone()).to_string(),
        })
        .collect();
    let body = batch_body(texts.iter().map(String::as_str));
    let answer = post_batch(client, endpoint, write_key, body)
        .await
        .with_context(|| format!("posting to {endpoint}"))?
        .answer;
    let mut outcome = Outcome {
        accepted: answer["accepted"].as_u64().unwrap_or(0),
        duplicates: answer["duplicates"].as_u64().unwrap_or(0),
        rejected: Vec::new(),
    };
    for r in answer["rejected"].as_array().into_iter().flatten() {
        let index = r["index"].as_u64().and_then(|i| usize::try_from(i).ok());
        let Some((line, item)) = index.and_then(|i| batch.items.get(i)) else {
            bail!("the server answered with a rejection this import did not send: {r}");
        };
        let reason = match item {
            Item::Bad { reason, .. } => reason.clone(),
            Item::Event(_) => r["reason"].as_str().unwrap_or("rejected").to_owned(),
        };
        outcome.rejected.push((*line, reason));
    }
    Ok(outcome)
}
