//! Forgetting a user (GDPR erasure): `DELETE /v1/users/{id}` and `tailor forget USER`.
//!
//! One request, in this order:
//! 1. The erasure is recorded durably in the log's `erasures` topic (subject hash, the
//!    events topic's end offsets, the dead letters that mention the id) and put in force in
//!    the shared [`ErasureList`]: from then on every reader of the log skips those records
//!    (live processor, lake sink, training, dead-letter reads), so no replay brings them back.
//! 2. The live processor drops the user's feature entities, live session and online-store
//!    rows, and writes a checkpoint without them.
//! 3. The lake sink rewrites every committed file holding the user's rows without them and
//!    deletes the old files ([`LakeSink::erase`]).
//! 4. Every saved model version drops the id from its vocabulary and the served model is
//!    reloaded; served lists remembered for attribution are dropped.
//! 5. A receipt listing what was erased is recorded (`completed`) and returned.
//!
//! The log's own segments keep the records until log retention deletes them; the erasure
//! list makes them unreadable meanwhile. A crash between 1 and 5 leaves the erasure
//! recorded but unfinished (listed by `GET /v1/erasures`); asking again finishes it.

use std::sync::Arc;

use serde::Serialize;
use tailor_event::time::format_ms;
use tailor_features::{ForgetReport, ProcessorControl};
use tailor_lake::{LakeErasure, LakeSink};
use tailor_log::erasure::{subject_of, Erasure, ErasureRecord};
use tailor_log::{ErasureList, Log};

use crate::attribution::Attribution;
use crate::ingest::{now_ms, DEAD_LETTER_TOPIC, EVENTS_TOPIC};
use crate::models::ModelSlot;
use crate::{Error, Result};

/// Longest user id accepted (as for recommendations).
pub const MAX_ID_BYTES: usize = 1024;

/// What one erasure removed, returned to the requester and kept in the `erasures` topic.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub erasure_id: String,
    /// SHA-256 of the id (the receipt does not repeat the id itself).
    pub subject: String,
    pub requested_at: String,
    pub completed_at: String,
    pub log: LogPart,
    pub features: ForgetReport,
    /// `None` when the lake is off.
    pub lake: Option<LakeErasure>,
    /// Model versions whose vocabulary no longer holds the id, as `name@vN`.
    pub models: Vec<String>,
    /// Served lists forgotten by click attribution.
    pub attribution_lists: u64,
}

/// How the log is handled.
#[derive(Debug, Clone, Serialize)]
pub struct LogPart {
    /// Per partition of `events`: records below these offsets are skipped on every read.
    pub events_before: Vec<u64>,
    /// Dead letters that mention the id, hidden from every read.
    pub dead_letters: u64,
    pub note: &'static str,
}

const LOG_NOTE: &str = "the log's segments keep the records until log retention deletes them; every reader skips them meanwhile";

/// Carries out erasures; one at a time.
pub struct Eraser {
    log: Arc<dyn Log>,
    list: Arc<ErasureList>,
    processor: Option<ProcessorControl>,
    lake: Option<Arc<LakeSink>>,
    models: Vec<Arc<ModelSlot>>,
    attribution: Arc<Attribution>,
    one_at_a_time: tokio::sync::Mutex<()>,
}

/// Whether a dead-letter record mentions `quoted` (the id as a JSON string) in the payload
/// it rejected.
fn mentions(value: &[u8], quoted: &str) -> bool {
    match serde_json::from_slice::<serde_json::Value>(value) {
        Ok(v) => match v.get("raw") {
            Some(serde_json::Value::String(raw)) => raw.contains(quoted),
            Some(other) => other.to_string().contains(quoted),
            None => String::from_utf8_lossy(value).contains(quoted),
        },
        Err(_) => String::from_utf8_lossy(value).contains(quoted),
    }
}

/// What the erasure of `id` covers now: the events topic's end offsets and the dead
/// letters that mention it.
fn request(log: &dyn Log, id: &str, at_ms: i64) -> Result<Erasure> {
    let partitions = log.partitions(EVENTS_TOPIC)?;
    let events_before = (0..partitions)
        .map(|p| log.end_offset(EVENTS_TOPIC, p))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let quoted = serde_json::to_string(id).map_err(|e| Error::Model(e.to_string()))?;
    let mut dead_letters = Vec::new();
    let dl_partitions = match log.partitions(DEAD_LETTER_TOPIC) {
        Ok(n) => n,
        Err(tailor_log::Error::UnknownTopic(_)) => 0,
        Err(e) => return Err(e.into()),
    };
    for p in 0..dl_partitions {
        let mut off = log.start_offset(DEAD_LETTER_TOPIC, p)?;
        let end = log.end_offset(DEAD_LETTER_TOPIC, p)?;
        while off < end {
            let recs = log.read(DEAD_LETTER_TOPIC, p, off, 1000)?;
            let Some(last) = recs.last() else { break };
            off = last.offset + 1;
            dead_letters.extend(
                recs.iter()
                    .filter(|r| r.offset < end && mentions(&r.value, &quoted))
                    .map(|r| (p, r.offset)),
            );
        }
    }
    let nonce = crate::mix::mix64(at_ms as u64 ^ crate::attribution::actor_hash(id));
    Ok(Erasure {
        id: format!("er_{nonce:016x}"),
        subject: subject_of(id),
        requested_at_ms: at_ms,
        events_before,
        dead_letters,
    })
}

/// Checks an id given for erasure.
pub fn check_id(id: &str) -> std::result::Result<(), String> {
    if id.is_empty() {
        return Err("the user id is empty".into());
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "the user id is {} bytes; ids longer than {MAX_ID_BYTES} bytes are never stored",
            id.len()
        ));
    }
    Ok(())
}

impl Eraser {
    pub fn new(
        log: Arc<dyn Log>,
        list: Arc<ErasureList>,
        processor: Option<ProcessorControl>,
        lake: Option<Arc<LakeSink>>,
        models: Vec<Arc<ModelSlot>>,
        attribution: Arc<Attribution>,
    ) -> Eraser {
        Eraser {
            log,
            list,
            processor,
            lake,
            models,
            attribution,
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    /// The list in force.
    pub fn list(&self) -> &Arc<ErasureList> {
        &self.list
    }

    /// Erases the user or anonymous id `id` everywhere (see the module documentation).
    pub async fn forget(&self, id: &str) -> Result<Receipt> {
        check_id(id).map_err(Error::Config)?;
        let _one = self.one_at_a_time.lock().await;
        let requested_at_ms = now_ms();
        // Scanning the dead-letter topic reads files: off the async workers.
        let (log, owned) = (self.log.clone(), id.to_owned());
        let erasure =
            tokio::task::spawn_blocking(move || request(log.as_ref(), &owned, requested_at_ms))
                .await
                .map_err(|e| Error::Model(e.to_string()))??;
        self.list
            .record(self.log.as_ref(), ErasureRecord::Requested(erasure.clone()))
            .await?;
        tracing::info!(erasure = %erasure.id, "erasure recorded; erasing");

        let features = match &self.processor {
            Some(p) => p.forget(id).await?,
            None => ForgetReport::default(),
        };
        let lake = match &self.lake {
            Some(sink) => Some(
                sink.erase(id, &erasure)
                    .await
                    .map_err(|e| Error::Lake(e.to_string()))?,
            ),
            None => None,
        };
        let mut models = Vec::new();
        if let Some(slot) = self.models.first() {
            let registry = slot.registry.clone();
            let user = id.to_owned();
            let rewritten = tokio::task::spawn_blocking(move || registry.erase_user(&user))
                .await
                .map_err(|e| Error::Model(e.to_string()))?
                .map_err(|e| Error::Model(e.to_string()))?;
            models = rewritten
                .into_iter()
                .map(|(name, v)| format!("{name}@v{v}"))
                .collect();
        }
        for slot in &self.models {
            let slot = slot.clone();
            tokio::task::spawn_blocking(move || slot.reload())
                .await
                .map_err(|e| Error::Model(e.to_string()))??;
        }
        let attribution_lists = self.attribution.forget_actor(id);

        let completed_at_ms = now_ms();
        let receipt = Receipt {
            erasure_id: erasure.id.clone(),
            subject: erasure.subject.clone(),
            requested_at: format_ms(requested_at_ms),
            completed_at: format_ms(completed_at_ms),
            log: LogPart {
                events_before: erasure.events_before.clone(),
                dead_letters: erasure.dead_letters.len() as u64,
                note: LOG_NOTE,
            },
            features,
            lake,
            models,
            attribution_lists,
        };
        let value = serde_json::to_value(&receipt).map_err(|e| Error::Model(e.to_string()))?;
        self.list
            .record(
                self.log.as_ref(),
                ErasureRecord::Completed {
                    id: erasure.id.clone(),
                    completed_at_ms,
                    receipt: value,
                },
            )
            .await?;
        metrics::counter!("tailor_erasures_total").increment(1);
        tracing::info!(erasure = %erasure.id, "erasure completed");
        Ok(receipt)
    }

    /// Erasures asked for, newest first, with their receipts (`None`: not finished; ask
    /// again).
    pub fn entries(&self) -> Vec<serde_json::Value> {
        let mut out: Vec<serde_json::Value> = self
            .list
            .entries()
            .into_iter()
            .map(|(e, receipt)| {
                serde_json::json!({
                    "erasure_id": e.id,
                    "subject": e.subject,
                    "requested_at": format_ms(e.requested_at_ms),
                    "completed": receipt.is_some(),
                    "receipt": receipt,
                })
            })
            .collect();
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_are_matched_by_the_quoted_id_in_their_payload() {
        let quoted = serde_json::to_string("u-1").expect("json");
        let record =
            serde_json::json!({"reason": "bad", "raw": "{\"userId\":\"u-1\",\"event\":5}"});
        assert!(mentions(record.to_string().as_bytes(), &quoted));
        let other = serde_json::json!({"reason": "bad", "raw": "{\"userId\":\"u-10\"}"});
        assert!(!mentions(other.to_string().as_bytes(), &quoted));
        assert!(mentions(b"not json \"u-1\"", &quoted));
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_id("").is_err());
        assert!(check_id(&"x".repeat(MAX_ID_BYTES + 1)).is_err());
        assert!(check_id("u-1").is_ok());
    }
}
