//! The served model: the promoted registry version of `models.serve`, loaded once and
//! swapped atomically when another version is promoted (by a training run here, or by
//! `tailor models promote|rollback` in another process, noticed by polling the pointer).
//! A request takes an `Arc` of the version it started with, so a swap never fails or mixes
//! versions within one request.

use std::sync::Arc;

use parking_lot::RwLock;
use tailor_event::InteractionKind;
use tailor_features::FeatureEvent;
use tailor_log::Log;
use tailor_rec::artifact::Vocab;
use tailor_rec::data::loaders::from_records_with;
use tailor_rec::data::{Interactions, InteractionsBuilder};
use tailor_rec::registry::Registry;
use tailor_rec::serving::ServedModel;

use crate::{Error, Result};

/// The served version of one registry name.
pub struct ModelSlot {
    pub name: String,
    pub registry: Registry,
    current: RwLock<Option<Arc<ServedModel>>>,
}

impl ModelSlot {
    /// A slot for `name`; nothing served until [`ModelSlot::refresh`].
    pub fn new(registry: Registry, name: &str) -> ModelSlot {
        ModelSlot {
            name: name.to_owned(),
            registry,
            current: RwLock::new(None),
        }
    }

    /// The version serving now.
    pub fn get(&self) -> Option<Arc<ServedModel>> {
        self.current.read().clone()
    }

    /// Loads the promoted version if it is not the one serving (blocking: reads the
    /// artifact). Returns the version now serving. A version that fails to load leaves the
    /// serving one in place and is reported.
    pub fn refresh(&self) -> Result<Option<u32>> {
        self.load_promoted(false)
    }

    /// Loads the promoted version again even if it is the one serving (its artifact was
    /// rewritten, e.g. by an erasure).
    pub fn reload(&self) -> Result<Option<u32>> {
        self.load_promoted(true)
    }

    fn load_promoted(&self, again: bool) -> Result<Option<u32>> {
        let rec = |e: tailor_rec::Error| Error::Model(e.to_string());
        let pointer = self.registry.current(&self.name).map_err(rec)?;
        let serving = self.get().map(|m| m.meta.version);
        let Some(p) = pointer else {
            return Ok(serving);
        };
        if serving == Some(p.version) && !again {
            return Ok(serving);
        }
        let meta = self.registry.meta(&self.name, p.version).map_err(rec)?;
        let trained = self.registry.load(&self.name, p.version).map_err(rec)?;
        let served = Arc::new(ServedModel { meta, trained });
        *self.current.write() = Some(served.clone());
        metrics::gauge!("tailor_model_version", "model" => self.name.clone())
            .set(f64::from(p.version));
        metrics::gauge!("tailor_model_trained_timestamp_seconds", "model" => self.name.clone())
            .set(served.meta.trained_at_ms as f64 / 1000.0);
        tracing::info!(model = %self.name, version = p.version, "serving model version");
        Ok(Some(p.version))
    }
}

/// What [`read_interactions`] read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadStats {
    pub records: u64,
    pub undecodable: u64,
    /// Sum of the partitions' end offsets read up to: a cheap "anything new?" mark.
    pub end_offsets: u64,
    /// Older events left out by the budget (`models.max_training_events`).
    pub skipped_old: u64,
}

/// The interactions of `topic` (actor: user id, else anonymous id), up to the end offsets at
/// the call. With `base`, ids start as the base vocabulary's (incremental training). At
/// most `max_events` records are read: the latest of each partition, in proportion to its
/// size. `progress(done, total)` is called as records are read.
pub fn read_interactions(
    log: &dyn Log,
    topic: &str,
    base: Option<&Vocab>,
    max_events: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Interactions, ReadStats)> {
    let partitions = log.partitions(topic)?;
    // Erased users' events are not learned from (read fresh: another process may erase).
    let erasures = tailor_log::ErasureList::load_if_present(log)?;
    let mut ranges = Vec::with_capacity(partitions as usize);
    let mut stats = ReadStats::default();
    let mut total = 0;
    for p in 0..partitions {
        let (start, end) = (log.start_offset(topic, p)?, log.end_offset(topic, p)?);
        total += end - start;
        stats.end_offsets += end;
        ranges.push((p, start, end));
    }
    // Past the budget, the latest events of each partition in proportion to its size.
    if total > max_events {
        for (_, start, end) in &mut ranges {
            let share = u128::from(*end - *start) * u128::from(max_events) / u128::from(total);
            *start = *end - share as u64;
        }
        stats.skipped_old = total - ranges.iter().map(|(_, s, e)| e - s).sum::<u64>();
        total -= stats.skipped_old;
    }
    type Record = (String, String, InteractionKind, i64, Option<String>);
    let mut records: Vec<Record> = Vec::new();
    for (p, start, end) in ranges {
        let mut off = start;
        while off < end {
            let max = (end - off).min(1000) as usize;
            let recs = log.read(topic, p, off, max)?;
            let Some(last) = recs.last() else { break };
            off = last.offset + 1;
            for r in recs.iter().filter(|r| r.offset < end) {
                stats.records += 1;
                let Ok(e) = FeatureEvent::decode(&r.value, false) else {
                    stats.undecodable += 1;
                    continue;
                };
                if erasures.erases_event(
                    p,
                    r.offset,
                    e.user_id.as_deref(),
                    e.anonymous_id.as_deref(),
                ) {
                    continue;
                }
                let Some(actor) = e.user_id.or(e.anonymous_id) else {
                    continue;
                };
                for i in e.interactions {
                    records.push((
                        actor.clone(),
                        i.item_id,
                        i.kind,
                        e.event_time_ms,
                        i.category,
                    ));
                }
            }
            progress(stats.records, total);
        }
    }
    let builder = match base {
        Some(v) => InteractionsBuilder::with_vocab(topic, v),
        None => InteractionsBuilder::new(topic),
    };
    Ok((from_records_with(builder, records), stats))
}
