//! Tailor's durable log with Kafka semantics: topics split into partitions, records addressed
//! by consecutive offsets, keys routed with Kafka's murmur2 partitioner ([`partition_for_key`]),
//! and consumer groups with committed offsets.
//!
//! [`Log`] is the backend-neutral trait. [`EmbeddedLog`] is the default backend: segmented
//! files with a CRC32C per record, one group-commit writer thread that fsyncs before it
//! acknowledges, recovery of torn tails at open, and a bounded queue that answers
//! [`Error::Backpressure`] instead of growing. [`KafkaLog`] is the scale-out backend over a
//! Kafka cluster (librdkafka).

pub mod blobs;
pub mod embedded;
pub mod erasure;
mod error;
pub mod failpoint;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod metrics;
pub mod partitioner;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;

pub use blobs::{Blobs, DirBlobs};
pub use embedded::{EmbeddedLog, EmbeddedOptions};
pub use erasure::{ErasureList, ERASURES_TOPIC};
pub use error::{Error, Result};
#[cfg(feature = "kafka")]
pub use kafka::{GroupMember, KafkaLog, KafkaOptions};
pub use partitioner::{murmur2, partition_for_key};

/// The header of a placeholder record a reader gets for an offset whose stored bytes were
/// corrupt and quarantined (its value is `{"quarantined":true}`, the header's value says why).
pub const QUARANTINED_HEADER: &str = "tailor-quarantined";

/// Most partitions one topic may have.
pub const MAX_PARTITIONS: u32 = 10_000;

/// A record to append. The key picks the partition; the value is opaque bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub key: Bytes,
    pub value: Bytes,
    pub timestamp_ms: i64,
    pub headers: Vec<(String, Bytes)>,
}

impl Record {
    /// A record without headers.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>, timestamp_ms: i64) -> Self {
        Record {
            key: key.into(),
            value: value.into(),
            timestamp_ms,
            headers: Vec::new(),
        }
    }
}

/// A record read back from the log, with its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub topic: Arc<str>,
    pub partition: u32,
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Bytes,
    pub value: Bytes,
    pub headers: Vec<(String, Bytes)>,
}

/// A topic and its partition count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: u32,
}

/// Where one appended record landed; `append` returns one per input record, in input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub partition: u32,
    pub offset: u64,
}

/// A durable, partitioned, offset-addressed log with consumer-group offsets (Kafka semantics).
///
/// Offsets of a partition are consecutive from its start offset; `end_offset` is the next
/// offset to be written, and only durable records (below it) are visible to readers.
pub trait Log: Send + Sync + 'static {
    /// Create a topic; idempotent. Errors if it exists with a different partition count.
    fn create_topic(&self, name: &str, partitions: u32) -> Result<()>;
    /// All topics, sorted by name.
    fn topics(&self) -> Vec<TopicInfo>;
    /// Partition count of a topic.
    fn partitions(&self, topic: &str) -> Result<u32>;
    /// Durable append: the future resolves only after the records are fsynced (when fsync is
    /// on). The partition is `partition_for_key(record.key)`. Returns `Err(Error::Backpressure)`
    /// at once, without queuing, when the writer's bounded queue is full.
    fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> BoxFuture<'static, Result<Vec<Appended>>>;
    /// Read up to `max_records` from `offset` in one partition. Offsets outside
    /// `start..=end` are [`Error::OffsetOutOfRange`]; `offset == end` gives an empty vec. Every
    /// record is verified; corrupt bytes give [`Error::Corrupt`], never data.
    fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>>;
    /// First readable offset of the partition.
    fn start_offset(&self, topic: &str, partition: u32) -> Result<u64>;
    /// Next offset to be written; records below it are durable.
    fn end_offset(&self, topic: &str, partition: u32) -> Result<u64>;
    /// Resolves `true` once `end_offset(topic, partition) > offset`, or `false` after `timeout`
    /// (or at once for an unknown topic or partition).
    fn wait_for(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        timeout: Duration,
    ) -> BoxFuture<'static, bool>;
    /// Durably store a consumer group's committed offset (the next offset it will read).
    fn commit(&self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<()>;
    /// The group's committed offset, if any.
    fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>>;
    /// Flush, fsync and stop writing; idempotent. Appends after close fail with [`Error::Closed`].
    fn close(&self) -> Result<()>;
    /// Joins consumer group `group` on `topic`, whose members share its partitions (see
    /// [`Membership`]). Only a Kafka log has groups of processes; the embedded log has one
    /// writer process.
    fn join_group(
        &self,
        group: &str,
        topic: &str,
        session_timeout: Duration,
        on_revoke: RevokeHook,
    ) -> Result<Box<dyn Membership>> {
        let _ = (group, topic, session_timeout, on_revoke);
        Err(Error::Config {
            field: "live.assignment".into(),
            reason: "processors share partitions through a Kafka consumer group: set log.url to kafka://…".into(),
        })
    }
}

/// Called with the partitions a rebalance takes away from this member, before the group
/// gives them to another; returns the offsets to commit for them (the member commits them
/// as part of the rebalance, as Kafka requires of a group's members).
pub type RevokeHook = std::sync::Arc<dyn Fn(&[u32]) -> Vec<(u32, u64)> + Send + Sync>;

/// One member's view of a consumer group ([`Log::join_group`]).
pub trait Membership: Send {
    /// Serves the group protocol for up to `timeout` (heartbeats, rebalances; the revoke
    /// hook runs in here). Returns the partitions owned now if they changed since the last
    /// call.
    fn poll(&self, timeout: Duration) -> Result<Option<Vec<u32>>>;
    /// The partitions owned now.
    fn assigned(&self) -> Vec<u32>;
    /// Assignments received since joining.
    fn rebalances(&self) -> u64;
    /// Commits offsets (partition, next offset) of owned partitions to the group, as this
    /// member: Kafka refuses commits to a group with members from clients outside it.
    fn commit(&self, offsets: &[(u32, u64)]) -> Result<()>;
    /// Leaves the group (the hook runs for what is still owned), so the others take over
    /// without waiting for the session timeout.
    fn leave(self: Box<Self>);
}

/// Check a topic or group name: 1-200 characters from `[A-Za-z0-9._-]`, not `.` or `..`.
/// Names become file names, so anything else is refused rather than risking path traversal.
pub fn validate_name(kind: &'static str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            kind,
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["events", "a", "a.b-c_D9", "...", &"x".repeat(200)] {
            assert!(validate_name("topic", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "é",
            "a\0",
            &"x".repeat(201),
            "a\\b",
        ] {
            assert!(
                matches!(validate_name("topic", bad), Err(Error::InvalidName { .. })),
                "{bad:?}"
            );
        }
    }
}
