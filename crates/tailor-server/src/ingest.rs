//! The collector's pipeline, independent of HTTP: parse → validate → de-duplicate → durable
//! append of accepted events to `events` and rejected ones to `events.dead-letter`. The
//! answer is produced only after both appends are durable.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::RwLock;
use serde::Serialize;
use serde_json::json;
use tailor_event::ecommerce::near_miss;
use tailor_event::segment::ParseContext;
use tailor_event::{
    parse_request, Endpoint, EventType, InteractionKind, ParsedEvent, SchemaRegistry,
};
use tailor_log::{Log, Record};

use crate::dedupe::{id_hash, Dedupe};
use crate::error::ApiError;
use crate::metrics as m;

pub const EVENTS_TOPIC: &str = "events";
pub const DEAD_LETTER_TOPIC: &str = "events.dead-letter";
/// Record header carrying the event's `messageId`.
pub const MESSAGE_ID_HEADER: &str = "message_id";

/// One rejected event in a collector answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RejectedEvent {
    pub index: usize,
    #[serde(rename = "messageId")]
    pub message_id: Option<String>,
    pub reason: String,
}

/// The body of a collector answer (always with `success: true`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IngestOutcome {
    pub success: bool,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<RejectedEvent>,
    /// Stored events whose name looks like a misspelled e-commerce spec name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<EventWarning>,
}

/// A stored event the client probably did not mean to send as it is.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventWarning {
    pub index: usize,
    #[serde(rename = "messageId")]
    pub message_id: String,
    pub warning: String,
}

pub struct Ingest {
    log: Arc<dyn Log>,
    registry: Arc<RwLock<Arc<SchemaRegistry>>>,
    dedupe: Arc<Dedupe>,
    ack_timeout: Duration,
    /// Joins stored events carrying a `rec_id` to served lists (the server's collector).
    attribution: Option<Arc<crate::attribution::Attribution>>,
    catalog: Option<Arc<crate::catalog::Catalog>>,
    /// Newest event time stored in the log (ms; the log stage's freshness).
    newest_event_ms: Arc<std::sync::atomic::AtomicI64>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A dead-letter record's value.
pub fn dead_letter(
    endpoint: &str,
    index: Option<usize>,
    message_id: Option<&str>,
    reason: &str,
    raw: &str,
    received_at_ms: i64,
) -> Record {
    let value = json!({
        "received_at": tailor_event::time::format_ms(received_at_ms),
        "endpoint": endpoint,
        "index": index,
        "message_id": message_id,
        "reason": reason,
        "raw": raw,
    });
    Record {
        key: Bytes::from(message_id.unwrap_or_default().to_owned()),
        value: Bytes::from(value.to_string()),
        timestamp_ms: received_at_ms,
        headers: Vec::new(),
    }
}

impl Ingest {
    pub fn new(
        log: Arc<dyn Log>,
        registry: Arc<RwLock<Arc<SchemaRegistry>>>,
        dedupe: Arc<Dedupe>,
        ack_timeout: Duration,
    ) -> Self {
        Ingest {
            log,
            registry,
            dedupe,
            ack_timeout,
            attribution: None,
            catalog: None,
            newest_event_ms: Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN)),
        }
    }

    /// The newest event time stored in the log by this process, if any (ms).
    pub fn newest_event_ms(&self) -> Option<i64> {
        let t = self
            .newest_event_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        (t != i64::MIN).then_some(t)
    }

    /// Counts stored events that carry a `rec_id` against the served lists.
    /// Lets items learn their category and price from stored events.
    pub fn with_catalog(mut self, c: Arc<crate::catalog::Catalog>) -> Self {
        self.catalog = Some(c);
        self
    }

    pub fn with_attribution(mut self, a: Arc<crate::attribution::Attribution>) -> Self {
        self.attribution = Some(a);
        self
    }

    /// A pipeline with a fixed schema registry, for tools that write a data directory's
    /// log directly (`tailor import`) and so apply the collector's checks without a server.
    pub fn with_registry(
        log: Arc<dyn Log>,
        registry: SchemaRegistry,
        dedupe: Arc<Dedupe>,
        ack_timeout: Duration,
    ) -> Self {
        Self::new(
            log,
            Arc::new(RwLock::new(Arc::new(registry))),
            dedupe,
            ack_timeout,
        )
    }

    pub fn registry(&self) -> Arc<SchemaRegistry> {
        self.registry.read().clone()
    }

    /// Parses a body into per-event results; `Err` only for a body that is not a request.
    pub fn parse(
        &self,
        endpoint: Endpoint,
        body: &[u8],
        received_at_ms: i64,
    ) -> Result<tailor_event::ParsedRequest, tailor_event::Error> {
        let registry = self.registry();
        let cx = ParseContext {
            received_at_ms,
            registry: &registry,
        };
        parse_request(endpoint, body, &cx, &mut || {
            uuid::Uuid::new_v4().to_string()
        })
    }

    /// Keeps an unparseable request body (first 64 KiB) in the dead-letter log, best effort:
    /// the client is answered 400 whatever happens to this copy.
    pub fn dead_letter_request(&self, path: &str, body: &[u8], reason: &str, received_at_ms: i64) {
        metrics::counter!(m::REQUESTS_REJECTED, "reason" => "unparseable").increment(1);
        let raw = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]).into_owned();
        let record = dead_letter(path, None, None, reason, &raw, received_at_ms);
        let fut = self.log.append(DEAD_LETTER_TOPIC, vec![record]);
        tokio::spawn(async move {
            if let Err(e) = fut.await {
                tracing::warn!(error = %e, "could not dead-letter an unparseable request");
            }
        });
    }

    /// Stores a parsed request durably and returns the per-event answer.
    pub async fn store(
        &self,
        path: &str,
        parsed: tailor_event::ParsedRequest,
        received_at_ms: i64,
    ) -> Result<IngestOutcome, ApiError> {
        let mut events = Vec::new();
        let mut newest_event_ms = i64::MIN;
        let mut dead = Vec::new();
        let mut rejected = Vec::new();
        let mut claims = Vec::new();
        let mut duplicates = 0;
        let mut touches = Vec::new();
        let mut learned = Vec::new();
        metrics::histogram!(m::BATCH_SIZE).record(parsed.events.len() as f64);
        let mut warnings = Vec::new();
        for (index, ev) in parsed.events.into_iter().enumerate() {
            match ev {
                ParsedEvent::Valid(e) => {
                    let name = (e.kind == EventType::Track)
                        .then_some(e.event.as_deref())
                        .flatten();
                    if let Some(meant) = name.and_then(near_miss) {
                        metrics::counter!(m::EVENT_NAME_WARNINGS, "meant" => meant).increment(1);
                        warnings.push(EventWarning {
                            index,
                            message_id: e.message_id.clone(),
                            warning: format!(
                                "event {:?} is stored, but no feature or model reads it: did you mean {meant:?}?",
                                name.unwrap_or_default()
                            ),
                        });
                    }
                    let h = id_hash(&e.message_id);
                    if !self.dedupe.claim(h, received_at_ms) {
                        duplicates += 1;
                        continue;
                    }
                    claims.push(h);
                    if self.catalog.is_some() {
                        learned.extend(
                            e.interactions
                                .iter()
                                .filter(|i| i.category.is_some() || i.price.is_some())
                                .map(|i| crate::catalog::Learned {
                                    id: i.item_id.clone(),
                                    category: i.category.clone(),
                                    price: i.price,
                                    at_ms: received_at_ms,
                                }),
                        );
                    }
                    if self.attribution.is_some() {
                        // Tagged events, and clicks, carts and purchases that may follow a
                        // recommendation without its id.
                        let actor = crate::attribution::actor_hash(e.partition_key());
                        touches.extend(
                            e.interactions
                                .iter()
                                .filter(|i| {
                                    i.rec_id.is_some()
                                        || matches!(
                                            i.kind,
                                            InteractionKind::Click
                                                | InteractionKind::AddToCart
                                                | InteractionKind::Purchase
                                        )
                                })
                                .map(|i| crate::attribution::Touch {
                                    actor,
                                    interaction: i.clone(),
                                }),
                        );
                    }
                    newest_event_ms = newest_event_ms.max(e.event_time_ms);
                    events.push(Record {
                        key: Bytes::from(e.partition_key().to_owned()),
                        value: Bytes::from(e.to_json()),
                        timestamp_ms: received_at_ms,
                        headers: vec![(
                            MESSAGE_ID_HEADER.to_owned(),
                            Bytes::from(e.message_id.clone()),
                        )],
                    });
                }
                ParsedEvent::Rejected(r) => {
                    metrics::counter!(m::EVENTS_REJECTED, "reason" => "invalid").increment(1);
                    dead.push(dead_letter(
                        path,
                        Some(r.index),
                        r.message_id.as_deref(),
                        &r.reason,
                        &r.raw,
                        received_at_ms,
                    ));
                    rejected.push(RejectedEvent {
                        index: r.index,
                        message_id: r.message_id,
                        reason: r.reason,
                    });
                }
            }
        }
        let accepted = events.len();
        let newest_stored = self.newest_event_ms.clone();
        let log = self.log.clone();
        let dedupe = self.dedupe.clone();
        // The append runs to completion even if this request times out, so a claim is only
        // released when the events were really not stored.
        let task = tokio::spawn(async move {
            let ev = (!events.is_empty()).then(|| log.append(EVENTS_TOPIC, events));
            let dl = (!dead.is_empty()).then(|| log.append(DEAD_LETTER_TOPIC, dead));
            let ev_result = match ev {
                Some(f) => f.await.map(|_| ()),
                None => Ok(()),
            };
            let dl_result = match dl {
                Some(f) => f.await.map(|_| ()),
                None => Ok(()),
            };
            if ev_result.is_err() {
                for h in &claims {
                    dedupe.release(*h, received_at_ms);
                }
            }
            ev_result.and(dl_result)
        });
        let result = match tokio::time::timeout(self.ack_timeout, task).await {
            Err(_) => {
                return Err(ApiError::unavailable(
                    "timeout",
                    "the log did not confirm the write in time; retry",
                    1,
                ))
            }
            Ok(Err(join)) => return Err(ApiError::internal(format!("append task failed: {join}"))),
            Ok(Ok(r)) => r,
        };
        match result {
            Ok(()) => {
                if let Some(a) = self.attribution.as_ref().filter(|_| !touches.is_empty()) {
                    a.record(&touches);
                }
                if let Some(c) = self.catalog.clone().filter(|_| !learned.is_empty()) {
                    // Off the acknowledgement's path; the events themselves are stored.
                    tokio::spawn(async move {
                        match c.learn(learned).await {
                            Ok(_) => {}
                            // Shutting down: the events are stored; what they said about
                            // items is learned again from the next ones.
                            Err(crate::Error::Log(tailor_log::Error::Closed)) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "could not store what events said about items")
                            }
                        }
                    });
                }
                metrics::counter!(m::EVENTS_ACCEPTED).increment(accepted as u64);
                if accepted > 0 {
                    newest_stored.fetch_max(newest_event_ms, std::sync::atomic::Ordering::Relaxed);
                }
                metrics::counter!(m::EVENTS_DUPLICATE).increment(duplicates as u64);
                Ok(IngestOutcome {
                    success: true,
                    accepted,
                    duplicates,
                    warnings,
                    rejected,
                })
            }
            Err(tailor_log::Error::Backpressure) => {
                metrics::counter!(m::REQUESTS_REJECTED, "reason" => "backpressure").increment(1);
                // The server is overloaded, not the client over a quota (that is 429,
                // per key): 503, as for a log that cannot store (ADR 0016).
                Err(ApiError::unavailable(
                    "backpressure",
                    "the log's write queue is full; nothing of this request was stored; retry after the indicated delay",
                    1,
                ))
            }
            Err(e) if e.is_disk_full() => {
                tracing::error!(error = %e, "the log's disk is full; refusing events until space is freed");
                metrics::counter!(m::REQUESTS_REJECTED, "reason" => "disk_full").increment(1);
                Err(ApiError {
                    retry_after: Some(30),
                    ..ApiError::new(
                        axum::http::StatusCode::INSUFFICIENT_STORAGE,
                        "disk_full",
                        "the event log's disk is full: nothing of this request was stored; retry once space is freed",
                    )
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "durable append failed");
                metrics::counter!(m::REQUESTS_REJECTED, "reason" => "log_error").increment(1);
                Err(ApiError::unavailable(
                    "log_unavailable",
                    format!("the event log cannot store events right now: {e}"),
                    5,
                ))
            }
        }
    }

    /// Rebuilds the de-duplication window from the `events` topic.
    pub fn rebuild_dedupe(&self) -> Result<u64, tailor_log::Error> {
        let now = now_ms();
        let mut n = 0;
        for p in 0..self.log.partitions(EVENTS_TOPIC)? {
            let mut off = self.log.start_offset(EVENTS_TOPIC, p)?;
            loop {
                let recs = self.log.read(EVENTS_TOPIC, p, off, 10_000)?;
                let Some(last) = recs.last() else { break };
                off = last.offset + 1;
                for r in &recs {
                    if let Some((_, id)) = r.headers.iter().find(|(k, _)| k == MESSAGE_ID_HEADER) {
                        if let Ok(id) = std::str::from_utf8(id) {
                            self.dedupe.remember(id_hash(id), r.timestamp_ms, now);
                            n += 1;
                        }
                    }
                }
            }
        }
        Ok(n)
    }
}
