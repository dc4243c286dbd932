//! What the sink has read but not yet committed: rows per table and hive partition, and the
//! log position after them.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use tailor_log::StoredRecord;

use crate::layout::{HivePartition, Table, DEAD_LETTER_TOPIC, EVENTS_TOPIC};
use crate::rows::{decode_event, DeadLetter, DeadLetterRows, EventRows};
use crate::Result;

/// Log positions: topic → partition → next offset.
pub(crate) type Positions = BTreeMap<String, BTreeMap<u32, u64>>;

/// Rows of one future file.
pub(crate) struct Part {
    pub table: Table,
    pub partition: HivePartition,
    pub batch: RecordBatch,
    pub min_time_ms: i64,
    pub max_time_ms: i64,
}

/// A buffer's content, ready to be written and committed (retryable: batches are shared).
#[derive(Clone)]
pub(crate) struct Prepared {
    pub parts: Vec<std::sync::Arc<Part>>,
    /// Positions to commit with these rows.
    pub positions: Positions,
    pub newest_event_ms: Option<i64>,
    pub records: BTreeMap<String, u64>,
    pub undecodable: BTreeMap<String, u64>,
    pub skipped: BTreeMap<String, u64>,
    /// Data-quality reports committed with these rows.
    pub reports: Vec<crate::quality::QualityReport>,
}

fn add_count(counts: &mut BTreeMap<String, u64>, topic: &str, n: u64) {
    match counts.get_mut(topic) {
        Some(c) => *c += n,
        None => {
            counts.insert(topic.to_owned(), n);
        }
    }
}

/// Rows read since the last commit.
pub(crate) struct Buffer {
    events: BTreeMap<HivePartition, EventRows>,
    dead: BTreeMap<HivePartition, DeadLetterRows>,
    /// Next offset to read; starts at the committed offsets.
    pub positions: Positions,
    /// Whether `positions` moved since the last commit.
    moved: bool,
    newest_event_ms: Option<i64>,
    records: BTreeMap<String, u64>,
    undecodable: BTreeMap<String, u64>,
    skipped: BTreeMap<String, u64>,
    /// Approximate bytes held (record values).
    pub bytes: usize,
    /// When the oldest uncommitted record was buffered.
    pub since: Option<tokio::time::Instant>,
    /// Records of erased users: read past, never written.
    erasures: std::sync::Arc<tailor_log::ErasureList>,
}

impl Buffer {
    pub fn new(positions: Positions, erasures: std::sync::Arc<tailor_log::ErasureList>) -> Buffer {
        Buffer {
            events: BTreeMap::new(),
            dead: BTreeMap::new(),
            positions,
            moved: false,
            newest_event_ms: None,
            records: BTreeMap::new(),
            undecodable: BTreeMap::new(),
            skipped: BTreeMap::new(),
            bytes: 0,
            since: None,
            erasures,
        }
    }

    /// Whether there is anything to commit (rows, or positions that moved).
    pub fn dirty(&self) -> bool {
        self.moved
    }

    pub fn position(&self, topic: &str, partition: u32) -> Option<u64> {
        self.positions.get(topic)?.get(&partition).copied()
    }

    fn set_position(&mut self, topic: &str, partition: u32, next: u64) {
        let slot = match self.positions.get_mut(topic) {
            Some(parts) => parts.entry(partition).or_default(),
            None => self
                .positions
                .entry(topic.to_owned())
                .or_default()
                .entry(partition)
                .or_default(),
        };
        if *slot != next {
            *slot = next;
            self.moved = true;
            self.since.get_or_insert_with(tokio::time::Instant::now);
        }
    }

    /// Records deleted by the log before we read them: counted, and the position moves on.
    pub fn skip_to(&mut self, topic: &str, partition: u32, start: u64) {
        let from = self.position(topic, partition).unwrap_or(0);
        if start > from {
            *self.skipped.entry(topic.to_owned()).or_default() += start - from;
        }
        self.set_position(topic, partition, start);
    }

    /// A partition seen for the first time starts at the log's start offset (nothing to
    /// commit until a record is read).
    pub fn init_position(&mut self, topic: &str, partition: u32, start: u64) {
        self.positions
            .entry(topic.to_owned())
            .or_default()
            .entry(partition)
            .or_insert(start);
    }

    /// Adds records read from one topic partition, in offset order, until the buffer holds
    /// `roll` bytes; returns how many it took. Counts and the position move once per call.
    pub fn add_all(&mut self, records: &[StoredRecord], roll: usize) -> usize {
        let mut taken = 0;
        for r in records {
            if self.bytes >= roll {
                break;
            }
            self.add_one(r);
            taken += 1;
        }
        if let Some(last) = records[..taken].last() {
            add_count(&mut self.records, &last.topic, taken as u64);
            self.set_position(&last.topic, last.partition, last.offset + 1);
        }
        taken
    }

    /// Decodes one record of `events` or `events.dead-letter` into rows.
    fn add_one(&mut self, r: &StoredRecord) {
        self.bytes += r.value.len() + 64;
        if &*r.topic == EVENTS_TOPIC {
            match decode_event(&r.value) {
                Ok(d)
                    if self.erasures.erases_event(
                        r.partition,
                        r.offset,
                        d.event.user_id.as_deref(),
                        d.event.anonymous_id.as_deref(),
                    ) => {}
                Ok(d) => match HivePartition::of(Table::Events, d.event.event_time_ms) {
                    Some(p) => {
                        self.events.entry(p).or_insert_with(EventRows::new).push(
                            &d,
                            r.partition,
                            r.offset,
                        );
                        let t = d.event.event_time_ms;
                        self.newest_event_ms = Some(self.newest_event_ms.map_or(t, |n| n.max(t)));
                    }
                    None => {
                        let why =
                            format!("event time {} ms is out of range", d.event.event_time_ms);
                        self.add_dead(&DeadLetter::undecodable(r, "event", &why), r);
                    }
                },
                Err(e) => {
                    add_count(&mut self.undecodable, &r.topic, 1);
                    self.add_dead(&DeadLetter::undecodable(r, "event", &e), r);
                }
            }
        } else {
            debug_assert_eq!(&*r.topic, DEAD_LETTER_TOPIC);
            if self.erasures.erases_dead_letter(r.partition, r.offset) {
                return;
            }
            self.add_dead(&DeadLetter::from_record(r), r);
        }
    }

    fn add_dead(&mut self, d: &DeadLetter<'_>, r: &StoredRecord) {
        let p = HivePartition::of(Table::DeadLetters, d.received_at_ms)
            .or_else(|| HivePartition::of(Table::DeadLetters, 0))
            .unwrap_or(HivePartition { day: 0, hour: None });
        self.dead
            .entry(p)
            .or_insert_with(DeadLetterRows::new)
            .push(d, r);
    }

    /// Takes the buffered rows out, keeping the read positions.
    pub fn take(&mut self) -> Result<Prepared> {
        let mut parts = Vec::new();
        for (partition, rows) in std::mem::take(&mut self.events) {
            let (min_time_ms, max_time_ms) = (rows.min_time_ms, rows.max_time_ms);
            parts.push(std::sync::Arc::new(Part {
                table: Table::Events,
                partition,
                batch: rows.finish()?,
                min_time_ms,
                max_time_ms,
            }));
        }
        for (partition, rows) in std::mem::take(&mut self.dead) {
            let (min_time_ms, max_time_ms) = (rows.min_time_ms, rows.max_time_ms);
            parts.push(std::sync::Arc::new(Part {
                table: Table::DeadLetters,
                partition,
                batch: rows.finish()?,
                min_time_ms,
                max_time_ms,
            }));
        }
        let prepared = Prepared {
            parts,
            positions: self.positions.clone(),
            newest_event_ms: self.newest_event_ms.take(),
            records: std::mem::take(&mut self.records),
            undecodable: std::mem::take(&mut self.undecodable),
            skipped: std::mem::take(&mut self.skipped),
            reports: Vec::new(),
        };
        self.moved = false;
        self.bytes = 0;
        self.since = None;
        Ok(prepared)
    }
}
