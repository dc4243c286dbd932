//! The erasure list: which records of the log belong to users who asked to be forgotten.
//!
//! The log is append-only: an erased user's events stay in its segments until retention
//! removes them. Every reader that turns log records into something a person can see or a
//! model can learn from (the live processor, the lake sink, training, the dead-letter API and
//! tools) asks the list whether a record is erased and skips it, so a replay from any offset
//! never brings the user back.
//!
//! An erasure covers the records that were in the log when it was asked for: the events of
//! partition `p` below `events_before[p]` whose user id or anonymous id is the subject, and
//! the dead letters listed by address (a dead letter has no user column: the request finds
//! them by the id in their raw text). Events the same id sends afterwards are new data.
//!
//! The list itself is kept in the log's `erasures` topic (one partition, no retention of its
//! own), so every process replaying the log sees the same list. It holds no user id: the
//! subject is a SHA-256 of the id ([`subject_of`]).

use std::collections::{HashMap, HashSet};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::{Log, Record, Result};

/// The topic the erasure list is kept in.
pub const ERASURES_TOPIC: &str = "erasures";

/// Domain separation of the subject hash (so it matches no other SHA-256 of the id).
const SUBJECT_PREFIX: &[u8] = b"tailor-erasure-v1:";

/// One entry of the `erasures` topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErasureRecord {
    /// Recorded before anything is erased: from here on, replays skip the records.
    Requested(Erasure),
    /// Recorded once every store has been rewritten; `receipt` says what was erased.
    Completed {
        id: String,
        completed_at_ms: i64,
        receipt: serde_json::Value,
    },
}

/// What one erasure covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// `er_` and 16 hex digits; names the request in receipts and logs.
    pub id: String,
    /// [`subject_of`] the user id or anonymous id.
    pub subject: String,
    pub requested_at_ms: i64,
    /// Per partition of the events topic: the end offset when the erasure was asked for.
    pub events_before: Vec<u64>,
    /// Dead letters (partition, offset in the dead-letter topic) that carry the id.
    #[serde(default)]
    pub dead_letters: Vec<(u32, u64)>,
}

/// The subject hash of a user id or anonymous id (64 hex digits).
pub fn subject_of(id: &str) -> String {
    hex(&subject_bytes(id))
}

fn subject_bytes(id: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(SUBJECT_PREFIX);
    ctx.update(id.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[derive(Debug, Default)]
struct Inner {
    /// Per subject, per events partition: records below this offset are erased.
    before: HashMap<[u8; 32], Vec<u64>>,
    /// Per events partition, the largest cutoff of any subject: records at or above it
    /// need no lookup (the common case once readers are past the erasures).
    max_before: Vec<u64>,
    dead_letters: HashSet<(u32, u64)>,
    requested: Vec<Erasure>,
    completed: HashMap<String, serde_json::Value>,
}

/// The erasures in force, shared by every reader of one process.
#[derive(Debug, Default)]
pub struct ErasureList {
    inner: RwLock<Inner>,
    /// Whether any erasure was asked for: readers of a log nobody erased from (the usual
    /// case) check this flag per record instead of taking the lock.
    any: std::sync::atomic::AtomicBool,
}

impl ErasureList {
    /// An empty list (nothing erased).
    pub fn new() -> ErasureList {
        ErasureList::default()
    }

    /// Creates the `erasures` topic if needed and reads every entry.
    pub fn load(log: &dyn Log) -> Result<ErasureList> {
        log.create_topic(ERASURES_TOPIC, 1)?;
        let list = ErasureList::new();
        let mut off = log.start_offset(ERASURES_TOPIC, 0)?;
        loop {
            let recs = log.read(ERASURES_TOPIC, 0, off, 1000)?;
            let Some(last) = recs.last() else { break };
            off = last.offset + 1;
            for r in &recs {
                match serde_json::from_slice::<ErasureRecord>(&r.value) {
                    Ok(e) => list.apply(e),
                    Err(e) => {
                        tracing::error!(offset = r.offset, error = %e, "unreadable entry in the erasures topic; skipped")
                    }
                }
            }
        }
        Ok(list)
    }

    /// Like [`ErasureList::load`], for a log that may not have the topic (read-only tools):
    /// an empty list then.
    pub fn load_if_present(log: &dyn Log) -> Result<ErasureList> {
        if log.topics().iter().any(|t| t.name == ERASURES_TOPIC) {
            ErasureList::load(log)
        } else {
            Ok(ErasureList::new())
        }
    }

    /// Durably appends `record` to the log's `erasures` topic, then puts it in force here.
    pub async fn record(&self, log: &dyn Log, record: ErasureRecord) -> Result<()> {
        let at = match &record {
            ErasureRecord::Requested(e) => e.requested_at_ms,
            ErasureRecord::Completed {
                completed_at_ms, ..
            } => *completed_at_ms,
        };
        let value = serde_json::to_vec(&record).map_err(|e| {
            crate::Error::io("encoding an erasure record", std::io::Error::other(e))
        })?;
        log.append(ERASURES_TOPIC, vec![Record::new("erasure", value, at)])
            .await?;
        self.apply(record);
        Ok(())
    }

    /// Puts an entry in force (already durable, or read back from the log).
    pub fn apply(&self, record: ErasureRecord) {
        let mut inner = self.inner.write();
        match record {
            ErasureRecord::Requested(e) => {
                let Some(subject) = unhex(&e.subject) else {
                    tracing::error!(id = %e.id, "erasure with a malformed subject; skipped");
                    return;
                };
                let cut = inner.before.entry(subject).or_default();
                if cut.len() < e.events_before.len() {
                    cut.resize(e.events_before.len(), 0);
                }
                for (c, b) in cut.iter_mut().zip(&e.events_before) {
                    *c = (*c).max(*b);
                }
                if inner.max_before.len() < e.events_before.len() {
                    inner.max_before.resize(e.events_before.len(), 0);
                }
                for (m, b) in inner.max_before.iter_mut().zip(&e.events_before) {
                    *m = (*m).max(*b);
                }
                inner.dead_letters.extend(e.dead_letters.iter().copied());
                inner.requested.push(e);
                self.any.store(true, std::sync::atomic::Ordering::Release);
            }
            ErasureRecord::Completed { id, receipt, .. } => {
                inner.completed.insert(id, receipt);
            }
        }
    }

    /// Whether nothing is erased (readers can skip every check).
    pub fn is_empty(&self) -> bool {
        !self.any.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the events-topic record at `partition`/`offset` with these actor ids is
    /// erased. Cheap when `offset` is past every erasure of the partition.
    pub fn erases_event(
        &self,
        partition: u32,
        offset: u64,
        user_id: Option<&str>,
        anonymous_id: Option<&str>,
    ) -> bool {
        if self.is_empty() {
            return false;
        }
        let inner = self.inner.read();
        if inner
            .max_before
            .get(partition as usize)
            .is_none_or(|m| offset >= *m)
        {
            return false;
        }
        [user_id, anonymous_id].into_iter().flatten().any(|id| {
            inner
                .before
                .get(&subject_bytes(id))
                .and_then(|c| c.get(partition as usize))
                .is_some_and(|b| offset < *b)
        })
    }

    /// The lowest offset of `partition` at which no erasure applies any more (0: none does).
    pub fn events_horizon(&self, partition: u32) -> u64 {
        self.inner
            .read()
            .max_before
            .get(partition as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Whether the dead letter at `partition`/`offset` of the dead-letter topic is erased.
    pub fn erases_dead_letter(&self, partition: u32, offset: u64) -> bool {
        if self.is_empty() {
            return false;
        }
        let inner = self.inner.read();
        !inner.dead_letters.is_empty() && inner.dead_letters.contains(&(partition, offset))
    }

    /// Whether any erasure covers `subject` (a [`subject_of`] hash).
    pub fn covers(&self, subject: &str) -> bool {
        unhex(subject).is_some_and(|s| self.inner.read().before.contains_key(&s))
    }

    /// Every erasure asked for, oldest first, with its receipt once completed.
    pub fn entries(&self) -> Vec<(Erasure, Option<serde_json::Value>)> {
        let inner = self.inner.read();
        inner
            .requested
            .iter()
            .map(|e| (e.clone(), inner.completed.get(&e.id).cloned()))
            .collect()
    }

    /// Erasures asked for but not completed (a crash in between): to be finished on start.
    pub fn unfinished(&self) -> Vec<Erasure> {
        let inner = self.inner.read();
        inner
            .requested
            .iter()
            .filter(|e| !inner.completed.contains_key(&e.id))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erasure(id: &str, user: &str, before: Vec<u64>) -> Erasure {
        Erasure {
            id: id.into(),
            subject: subject_of(user),
            requested_at_ms: 1,
            events_before: before,
            dead_letters: vec![(0, 7)],
        }
    }

    #[test]
    fn covers_the_subjects_records_below_the_cutoff_only() {
        let list = ErasureList::new();
        assert!(!list.erases_event(0, 0, Some("u1"), None));
        list.apply(ErasureRecord::Requested(erasure("er_1", "u1", vec![10, 0])));
        assert!(list.erases_event(0, 9, Some("u1"), None));
        assert!(list.erases_event(0, 9, None, Some("u1")));
        assert!(list.erases_event(0, 9, Some("other"), Some("u1")));
        assert!(
            !list.erases_event(0, 10, Some("u1"), None),
            "sent after the erasure"
        );
        assert!(!list.erases_event(1, 0, Some("u1"), None));
        assert!(!list.erases_event(0, 3, Some("u2"), None));
        assert!(
            !list.erases_event(5, 3, Some("u1"), None),
            "unknown partition"
        );
        assert!(list.erases_dead_letter(0, 7));
        assert!(!list.erases_dead_letter(0, 8));
        assert_eq!(list.events_horizon(0), 10);
        assert!(list.covers(&subject_of("u1")));
        assert!(!list.covers(&subject_of("u2")));
        assert_eq!(list.unfinished().len(), 1);
        list.apply(ErasureRecord::Completed {
            id: "er_1".into(),
            completed_at_ms: 2,
            receipt: serde_json::json!({}),
        });
        assert!(list.unfinished().is_empty());
    }

    #[test]
    fn a_second_erasure_of_the_same_subject_extends_the_cutoff() {
        let list = ErasureList::new();
        list.apply(ErasureRecord::Requested(erasure("er_1", "u1", vec![5])));
        list.apply(ErasureRecord::Requested(erasure("er_2", "u1", vec![20, 3])));
        assert!(list.erases_event(0, 19, Some("u1"), None));
        assert!(list.erases_event(1, 2, Some("u1"), None));
    }

    #[test]
    fn the_subject_is_not_the_id() {
        let s = subject_of("alice@example.com");
        assert_eq!(s.len(), 64);
        assert!(!s.contains("alice"));
        assert_eq!(s, subject_of("alice@example.com"));
        assert_ne!(s, subject_of("alice@example.org"));
        assert_eq!(unhex(&s), Some(subject_bytes("alice@example.com")));
        assert_eq!(unhex("zz"), None);
    }
}
