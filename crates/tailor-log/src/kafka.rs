//! The Kafka backend of [`Log`]: `log.url = "kafka://host:port,host:port/topic"`, over
//! librdkafka (bundled, current 2.x).
//!
//! - **Appends** go through one idempotent producer (`enable.idempotence`, `acks=all`): a
//!   record is acknowledged only when every in-sync replica has it, and retries inside the
//!   producer never duplicate or reorder a partition. Partitions are chosen with Kafka's own
//!   murmur2 partitioner ([`partition_for_key`]), so a user's events land where a Java or
//!   librdkafka client keyed by the same user id would put them. A producer queue without
//!   room for the whole batch refuses it *before* queuing anything ([`Error::Backpressure`]);
//!   delivery failures (broker down past `delivery_timeout_ms`) are [`Error::Unavailable`].
//!   Neither is ever a silent drop.
//! - **Reads** use one assigned (group-less) consumer per partition read, kept positioned
//!   where the last read ended, so a tailing reader costs one fetch per batch. `read` returns
//!   records whenever the partition's high watermark is past `offset`, as the embedded log
//!   does, so "empty" keeps meaning "caught up".
//! - **Topics** keep the embedded names unless the URL names the events topic: with
//!   `kafka://…/clicks`, `events` is `clicks`, `events.dead-letter` is `clicks.dead-letter`
//!   and any other topic `t` is `clicks.t`. Created with the configured partition count and
//!   replication factor.
//! - **Group offsets** are Kafka's committed offsets (`__consumer_offsets`), written by a
//!   group-less committer per group.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::{Mutex, RwLock};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::metrics as m;
use crate::{
    partition_for_key, validate_name, Appended, Error, Log, Record, Result, StoredRecord,
    TopicInfo, MAX_PARTITIONS,
};

mod group;

pub use group::GroupMember;

/// The logical name of the events topic, which the URL's path may rename.
const EVENTS: &str = "events";

/// Records one append call may carry (as the embedded log).
const MAX_RECORDS_PER_APPEND: usize = 100_000;

/// Settings of the Kafka backend: where the cluster is and the producer knobs Kafka users
/// tune. Defaults favour durability first, then throughput. In a config file this is the
/// `[log.kafka]` table; the brokers and the events topic come from `log.url`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaOptions {
    /// Bootstrap servers, `host:port,host:port`.
    #[serde(skip)]
    pub brokers: String,
    /// The Kafka topic of the logical `events` topic (the URL's path; default `events`).
    #[serde(skip)]
    pub events_topic: String,
    /// Replication factor of topics Tailor creates; `-1` takes the broker's default.
    pub replication_factor: i32,
    /// `linger.ms`: how long the producer waits to fill a batch.
    pub linger_ms: u32,
    /// `batch.size`: most bytes in one partition batch.
    pub batch_bytes: u32,
    /// `compression.type`: `none`, `gzip`, `snappy` or `lz4`.
    pub compression: String,
    /// `queue.buffering.max.messages`: records queued or in flight before appends are
    /// refused with backpressure.
    pub max_queued_records: u32,
    /// `queue.buffering.max.kbytes`: the same bound in KiB.
    pub max_queued_kbytes: u32,
    /// `delivery.timeout.ms`: how long the producer retries a record before the append
    /// fails as unavailable.
    pub delivery_timeout_ms: u32,
    /// Timeout of metadata, watermark, commit and admin requests.
    pub request_timeout_ms: u32,
    /// `message.max.bytes`: the largest record.
    pub max_record_bytes: u32,
    /// Further librdkafka properties (security, SASL, ...), passed through as given.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        KafkaOptions {
            brokers: "127.0.0.1:9092".into(),
            events_topic: EVENTS.into(),
            replication_factor: -1,
            linger_ms: 5,
            batch_bytes: 1024 * 1024,
            compression: "lz4".into(),
            max_queued_records: 100_000,
            max_queued_kbytes: 256 * 1024,
            delivery_timeout_ms: 30_000,
            request_timeout_ms: 10_000,
            max_record_bytes: 1024 * 1024,
            properties: BTreeMap::new(),
        }
    }
}

/// Properties Tailor sets itself; passing them through `properties` is refused, because
/// changing them would break the guarantees (acks, idempotence) or the partitioning.
const RESERVED: &[&str] = &[
    "bootstrap.servers",
    "acks",
    "enable.idempotence",
    "group.id",
    "enable.auto.commit",
    "partitioner",
];

impl KafkaOptions {
    /// Parses `kafka://host:port[,host:port…][/topic]` into brokers and the events topic.
    pub fn from_url(url: &str) -> Result<KafkaOptions> {
        let bad = |reason: String| Error::Config {
            field: "log.url".into(),
            reason,
        };
        let rest = url.strip_prefix("kafka://").ok_or_else(|| {
            bad(format!(
                "{url:?} is not a Kafka URL: use kafka://host:port[,host:port…][/topic]"
            ))
        })?;
        let (hosts, topic) = match rest.split_once('/') {
            Some((h, t)) => (h, t.trim_end_matches('/')),
            None => (rest, ""),
        };
        if hosts.is_empty() {
            return Err(bad(format!(
                "{url:?} names no broker: use kafka://host:port[,host:port…][/topic]"
            )));
        }
        for host in hosts.split(',') {
            let ok = host
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                return Err(bad(format!(
                    "broker {host:?} in {url:?} is not host:port (a port is required)"
                )));
            }
        }
        let events_topic = if topic.is_empty() { EVENTS } else { topic };
        validate_name("topic", events_topic).map_err(|e| bad(e.to_string()))?;
        Ok(KafkaOptions {
            brokers: hosts.to_owned(),
            events_topic: events_topic.to_owned(),
            ..KafkaOptions::default()
        })
    }

    /// Checks the knobs; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: String| Error::Config {
            field: format!("log.kafka.{field}"),
            reason,
        };
        if !matches!(
            self.compression.as_str(),
            "none" | "gzip" | "snappy" | "lz4"
        ) {
            return Err(bad(
                "compression",
                format!(
                    "{:?} is not one of none, gzip, snappy, lz4",
                    self.compression
                ),
            ));
        }
        if self.replication_factor == 0 || self.replication_factor < -1 {
            return Err(bad(
                "replication_factor",
                format!(
                    "{} is not a replication factor: use 1 or more, or -1 for the broker's default",
                    self.replication_factor
                ),
            ));
        }
        if self.linger_ms > 60_000 {
            return Err(bad("linger_ms", "must be at most 60000".into()));
        }
        if self.batch_bytes == 0 {
            return Err(bad("batch_bytes", "must be greater than 0".into()));
        }
        if self.max_queued_records == 0 || self.max_queued_records > 10_000_000 {
            return Err(bad(
                "max_queued_records",
                "must be between 1 and 10000000".into(),
            ));
        }
        if self.max_queued_kbytes == 0 {
            return Err(bad("max_queued_kbytes", "must be greater than 0".into()));
        }
        if self.delivery_timeout_ms < 1_000 {
            return Err(bad("delivery_timeout_ms", "must be at least 1000".into()));
        }
        if self.request_timeout_ms < 100 {
            return Err(bad("request_timeout_ms", "must be at least 100".into()));
        }
        if self.max_record_bytes < 1024 {
            return Err(bad("max_record_bytes", "must be at least 1024".into()));
        }
        for key in self.properties.keys() {
            if RESERVED.contains(&key.as_str()) {
                return Err(bad(
                    &format!("properties.{key}"),
                    "is set by Tailor itself (durability and partitioning depend on it)".into(),
                ));
            }
        }
        Ok(())
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "tailor")
            .set("socket.keepalive.enable", "true")
            // Bounds every request (commits, metadata), so a dead cluster is an error
            // within the configured time rather than a minute-long stall.
            .set(
                "socket.timeout.ms",
                self.request_timeout_ms.max(10).to_string(),
            )
            .set("log_level", "4");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// The idempotent, acks=all producer with the configured knobs.
    fn producer(&self) -> std::result::Result<FutureProducer, KafkaError> {
        self.base()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", self.linger_ms.to_string())
            .set("batch.size", self.batch_bytes.to_string())
            .set("compression.type", &self.compression)
            .set(
                "queue.buffering.max.messages",
                self.max_queued_records.to_string(),
            )
            .set(
                "queue.buffering.max.kbytes",
                self.max_queued_kbytes.to_string(),
            )
            .set("delivery.timeout.ms", self.delivery_timeout_ms.to_string())
            .set(
                "message.max.bytes",
                (self.max_record_bytes + 1024).to_string(),
            )
            .create()
    }

    /// A consumer of logical group `group` (its Kafka group id is named like the topics:
    /// `live`, or `clicks.live` when the URL renames the events topic to `clicks`, so
    /// deployments sharing a cluster keep their groups apart). Only
    /// [`KafkaLog::group_member`] joins the group; readers assign partitions, committers
    /// only commit. None creates topics by asking for them.
    fn consumer(&self, group: &str) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", self.physical(group))
            .set("enable.auto.commit", "false")
            .set("allow.auto.create.topics", "false");
        c
    }

    /// The Kafka topic of a logical topic name.
    fn physical(&self, logical: &str) -> String {
        if self.events_topic == EVENTS {
            logical.to_owned()
        } else if logical == EVENTS {
            self.events_topic.clone()
        } else if let Some(rest) = logical.strip_prefix("events.") {
            format!("{}.{rest}", self.events_topic)
        } else {
            format!("{}.{logical}", self.events_topic)
        }
    }
}

/// One partition's reader: an assigned consumer and where its next record is.
struct PartReader {
    consumer: BaseConsumer,
    /// The offset the consumer will return next, if it is positioned.
    next: Option<u64>,
}

type SharedReader = Arc<Mutex<PartReader>>;

/// The producer, and whether the cluster refused it for good.
struct Producing {
    producer: FutureProducer,
    /// Set when a delivery failed in a way that makes this producer unsafe or useless
    /// ([`unusable_after`]); the next append replaces it.
    poisoned: AtomicBool,
}

/// Delivery errors after which the producer is replaced rather than reused:
/// - the cluster refused its producer id or epoch (it lost or moved on from the producer's
///   sequence state, e.g. a broker restarted without it): librdkafka does not always raise
///   these as fatal, and every later record fails the same way;
/// - a record timed out (the cluster was away past `delivery.timeout.ms`): librdkafka then
///   bumps the producer's epoch and restarts its sequence numbers, which a broker that keeps
///   sequence state but not epochs (tansu 0.6 after a restart) takes for duplicates and
///   acknowledges without storing. A new producer id cannot be mistaken for an old one.
fn unusable_after(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::InvalidProducerIdMapping
                | RDKafkaErrorCode::MessageTimedOut
        )
    )
}

struct Inner {
    opts: KafkaOptions,
    timeout: Duration,
    /// Replaced when it hits a fatal error ([`Inner::producer`]).
    producer: RwLock<Arc<Producing>>,
    /// Metadata and watermark lookups.
    meta: BaseConsumer,
    admin: AdminClient<DefaultClientContext>,
    /// Logical topic → partition count, for topics this log created or looked up.
    topics: RwLock<BTreeMap<String, u32>>,
    readers: Mutex<HashMap<(String, u32), SharedReader>>,
    committers: Mutex<HashMap<String, Arc<BaseConsumer>>>,
    /// Serializes the "room in the queue?" check with the enqueue that follows it.
    enqueue: Mutex<()>,
    closed: AtomicBool,
}

/// A [`Log`] over a Kafka cluster. Cheap to share (`Arc`).
pub struct KafkaLog {
    inner: Arc<Inner>,
}

fn unavailable(brokers: &str, what: &str, e: impl std::fmt::Display) -> Error {
    metrics::counter!(m::KAFKA_ERRORS_TOTAL, "op" => what.to_owned()).increment(1);
    Error::Unavailable {
        brokers: brokers.to_owned(),
        reason: format!("{what}: {e}"),
    }
}

impl KafkaLog {
    /// Connects to the cluster (fetching its metadata, so a wrong address fails here with a
    /// clear error rather than at the first append).
    pub fn open(opts: KafkaOptions) -> Result<Arc<KafkaLog>> {
        opts.validate()?;
        m::describe();
        let timeout = Duration::from_millis(u64::from(opts.request_timeout_ms));
        let brokers = opts.brokers.clone();
        let create = |what: &str, e: KafkaError| Error::Config {
            field: "log.kafka".into(),
            reason: format!("cannot create the Kafka {what}: {e}"),
        };
        let producer = opts.producer().map_err(|e| create("producer", e))?;
        let meta: BaseConsumer = opts
            .consumer("tailor-metadata")
            .create()
            .map_err(|e| create("metadata client", e))?;
        let admin: AdminClient<DefaultClientContext> = opts
            .base()
            .create()
            .map_err(|e| create("admin client", e))?;
        meta.fetch_metadata(None, timeout).map_err(|e| {
            unavailable(
                &brokers,
                "connecting",
                format!("{e} (is a Kafka broker listening at {brokers}?)"),
            )
        })?;
        Ok(Arc::new(KafkaLog {
            inner: Arc::new(Inner {
                opts,
                timeout,
                producer: RwLock::new(Arc::new(Producing {
                    producer,
                    poisoned: AtomicBool::new(false),
                })),
                meta,
                admin,
                topics: RwLock::new(BTreeMap::new()),
                readers: Mutex::new(HashMap::new()),
                committers: Mutex::new(HashMap::new()),
                enqueue: Mutex::new(()),
                closed: AtomicBool::new(false),
            }),
        }))
    }

    /// The options this log was opened with.
    pub fn options(&self) -> &KafkaOptions {
        &self.inner.opts
    }
}

impl Inner {
    fn unavailable(&self, what: &str, e: impl std::fmt::Display) -> Error {
        unavailable(&self.opts.brokers, what, e)
    }

    /// The partition count of a Kafka topic per the cluster's metadata; `None` if it does
    /// not exist.
    fn lookup(&self, physical: &str) -> Result<Option<u32>> {
        let md = self
            .meta
            .fetch_metadata(Some(physical), self.timeout)
            .map_err(|e| self.unavailable("reading topic metadata", e))?;
        let Some(t) = md.topics().iter().find(|t| t.name() == physical) else {
            return Ok(None);
        };
        if t.error().is_some() || t.partitions().is_empty() {
            return Ok(None);
        }
        Ok(Some(t.partitions().len() as u32))
    }

    fn partitions(&self, logical: &str) -> Result<u32> {
        if let Some(&n) = self.topics.read().get(logical) {
            return Ok(n);
        }
        validate_name("topic", logical)?;
        match self.lookup(&self.opts.physical(logical))? {
            Some(n) => {
                self.topics.write().insert(logical.to_owned(), n);
                Ok(n)
            }
            None => Err(Error::UnknownTopic(logical.to_owned())),
        }
    }

    fn check_partition(&self, topic: &str, partition: u32) -> Result<u32> {
        let partitions = self.partitions(topic)?;
        if partition >= partitions {
            return Err(Error::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                partitions,
            });
        }
        Ok(partitions)
    }

    fn watermarks(&self, topic: &str, partition: u32) -> Result<(u64, u64)> {
        self.check_partition(topic, partition)?;
        let physical = self.opts.physical(topic);
        let (low, high) = self
            .meta
            .fetch_watermarks(&physical, partition as i32, self.timeout)
            .map_err(|e| self.unavailable("reading offsets", e))?;
        let (low, high) = (low.max(0) as u64, high.max(0) as u64);
        metrics::gauge!(m::END_OFFSET, "topic" => topic.to_owned(), "partition" => partition.to_string())
            .set(high as f64);
        Ok((low, high))
    }

    fn reader(&self, topic: &str, partition: u32) -> Result<SharedReader> {
        let key = (topic.to_owned(), partition);
        if let Some(r) = self.readers.lock().get(&key) {
            return Ok(r.clone());
        }
        let consumer: BaseConsumer = self
            .opts
            .consumer("tailor-reader")
            .set("enable.auto.offset.store", "false")
            .set("fetch.wait.max.ms", "50")
            .set("auto.offset.reset", "error")
            .create()
            .map_err(|e| self.unavailable("creating a reader", e))?;
        let reader = Arc::new(Mutex::new(PartReader {
            consumer,
            next: None,
        }));
        Ok(self.readers.lock().entry(key).or_insert(reader).clone())
    }

    fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>> {
        let (start, end) = self.watermarks(topic, partition)?;
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                topic: topic.to_owned(),
                partition,
                offset,
                start,
                end,
            });
        }
        if offset == end || max_records == 0 {
            return Ok(Vec::new());
        }
        let physical = self.opts.physical(topic);
        let reader = self.reader(topic, partition)?;
        let mut reader = reader.lock();
        if reader.next != Some(offset) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&physical, partition as i32, Offset::Offset(offset as i64))
                .map_err(|e| self.unavailable("positioning a reader", e))?;
            reader
                .consumer
                .assign(&tpl)
                .map_err(|e| self.unavailable("positioning a reader", e))?;
            reader.next = Some(offset);
        }
        let topic_name: Arc<str> = Arc::from(topic);
        let deadline = Instant::now() + self.timeout;
        let mut out: Vec<StoredRecord> = Vec::with_capacity(max_records.min(4096));
        let mut next = offset;
        while out.len() < max_records && next < end {
            let wait = if out.is_empty() {
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            match reader.consumer.poll(wait) {
                None if out.is_empty() && Instant::now() < deadline => continue,
                None if out.is_empty() => {
                    reader.next = None;
                    return Err(self.unavailable(
                        "reading",
                        format!(
                            "no records arrived from {physical}/{partition} at offset {offset} within {:?}",
                            self.timeout
                        ),
                    ));
                }
                None => break,
                Some(Err(KafkaError::PartitionEOF(_))) => continue,
                Some(Err(e)) => {
                    reader.next = None;
                    return Err(self.unavailable("reading", e));
                }
                Some(Ok(msg)) => {
                    let at = msg.offset().max(0) as u64;
                    if at < next {
                        continue;
                    }
                    let headers = msg
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| {
                                    (
                                        h.key.to_owned(),
                                        Bytes::copy_from_slice(h.value.unwrap_or_default()),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    out.push(StoredRecord {
                        topic: topic_name.clone(),
                        partition,
                        offset: at,
                        timestamp_ms: msg.timestamp().to_millis().unwrap_or(0),
                        key: Bytes::copy_from_slice(msg.key().unwrap_or_default()),
                        value: Bytes::copy_from_slice(msg.payload().unwrap_or_default()),
                        headers,
                    });
                    next = at + 1;
                }
            }
        }
        reader.next = Some(next);
        Ok(out)
    }

    fn committer(&self, group: &str) -> Result<Arc<BaseConsumer>> {
        if let Some(c) = self.committers.lock().get(group) {
            return Ok(c.clone());
        }
        let consumer: BaseConsumer = self
            .opts
            .consumer(group)
            .create()
            .map_err(|e| self.unavailable("creating an offset committer", e))?;
        Ok(self
            .committers
            .lock()
            .entry(group.to_owned())
            .or_insert(Arc::new(consumer))
            .clone())
    }

    /// Drops the readers and committers on a thread of their own: closing a consumer waits
    /// for its group coordinator, which a cluster that is down never answers, and a
    /// shutdown must not wait for that.
    fn release_consumers(&self) {
        let readers = std::mem::take(&mut *self.readers.lock());
        let committers = std::mem::take(&mut *self.committers.lock());
        if readers.is_empty() && committers.is_empty() {
            return;
        }
        let _ = std::thread::Builder::new()
            .name("kafka-close".into())
            .spawn(move || drop((readers, committers)));
    }

    fn committed_within(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        timeout: Duration,
    ) -> Result<Option<u64>> {
        let committer = self.committer(group)?;
        let physical = self.opts.physical(topic);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&physical, partition as i32);
        let got = committer
            .committed_offsets(tpl, timeout)
            .map_err(|e| self.unavailable("reading committed offsets", e))?;
        let offset = got
            .find_partition(&physical, partition as i32)
            .map(|e| e.offset());
        Ok(match offset {
            Some(Offset::Offset(o)) if o >= 0 => Some(o as u64),
            _ => None,
        })
    }

    fn create_topic(&self, name: &str, partitions: u32) -> Result<()> {
        validate_name("topic", name)?;
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(Error::InvalidPartitionCount(partitions));
        }
        let physical = self.opts.physical(name);
        let existing = self.lookup(&physical)?;
        if existing.is_none() {
            let topic = NewTopic::new(
                &physical,
                partitions as i32,
                TopicReplication::Fixed(self.opts.replication_factor),
            );
            let admin_opts = AdminOptions::new().operation_timeout(Some(self.timeout));
            let results =
                futures::executor::block_on(self.admin.create_topics([&topic], &admin_opts))
                    .map_err(|e| self.unavailable("creating a topic", e))?;
            for r in results {
                match r {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((t, code)) => {
                        return Err(self.unavailable(
                            "creating a topic",
                            format!("the broker refused topic {t:?}: {code}"),
                        ))
                    }
                }
            }
        }
        // Creation is asynchronous in Kafka: wait until the metadata shows the topic.
        let deadline = Instant::now() + self.timeout;
        let n = loop {
            if let Some(n) = self.lookup(&physical)? {
                break n;
            }
            if Instant::now() >= deadline {
                return Err(self.unavailable(
                    "creating a topic",
                    format!(
                        "topic {physical:?} did not appear within {:?}",
                        self.timeout
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if n != partitions {
            return Err(Error::TopicExists {
                topic: name.to_owned(),
                existing: n,
                requested: partitions,
            });
        }
        self.topics.write().insert(name.to_owned(), n);
        Ok(())
    }

    /// The producer, replaced first if it hit a fatal error or a delivery failed in a way
    /// that makes it unusable ([`unusable_after`]): its appends in flight fail (503, the
    /// clients retry) and the next ones go through a fresh producer with a new producer id,
    /// instead of every append failing until a restart.
    fn producer(&self) -> Result<Arc<Producing>> {
        let current = self.producer.read().clone();
        let reason = match current.producer.client().fatal_error() {
            Some((code, reason)) => format!("{code:?}: {reason}"),
            None if current.poisoned.load(Ordering::Acquire) => {
                "a delivery failed (timed out, or its producer id was refused)".to_owned()
            }
            None => return Ok(current),
        };
        let mut slot = self.producer.write();
        if Arc::ptr_eq(&slot, &current) {
            tracing::error!(%reason, "the Kafka producer cannot deliver any more; replacing it (appends in flight on it fail and are answered 503)");
            metrics::counter!(m::PRODUCER_RESTARTS_TOTAL).increment(1);
            let fresh = self
                .opts
                .producer()
                .map_err(|e| self.unavailable("replacing the producer", e))?;
            let old = std::mem::replace(
                &mut *slot,
                Arc::new(Producing {
                    producer: fresh,
                    poisoned: AtomicBool::new(false),
                }),
            );
            // Dropping purges and flushes (up to 500 ms): off the caller's path.
            std::thread::spawn(move || drop(old));
        }
        Ok(slot.clone())
    }

    /// Queues every record or none; returns their delivery futures.
    fn enqueue(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<(Arc<Producing>, Vec<rdkafka::producer::DeliveryFuture>)> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if records.len() > MAX_RECORDS_PER_APPEND {
            return Err(Error::TooManyRecords {
                count: records.len(),
                max: MAX_RECORDS_PER_APPEND,
            });
        }
        let max = self.opts.max_record_bytes as usize;
        for r in &records {
            let size = r.key.len()
                + r.value.len()
                + r.headers
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>();
            if size > max {
                return Err(Error::RecordTooLarge { size, max });
            }
        }
        let partitions = self.partitions(topic)?;
        let physical = self.opts.physical(topic);
        let _one_at_a_time = self.enqueue.lock();
        let producer = self.producer()?;
        let queued = producer.producer.in_flight_count().max(0) as usize;
        metrics::gauge!(m::QUEUE_DEPTH).set(queued as f64);
        if queued + records.len() > self.opts.max_queued_records as usize {
            metrics::counter!(m::BACKPRESSURE_TOTAL).increment(1);
            return Err(Error::Backpressure);
        }
        let mut futures = Vec::with_capacity(records.len());
        for r in &records {
            let partition = partition_for_key(&r.key, partitions) as i32;
            let mut record = FutureRecord::to(&physical)
                .partition(partition)
                .key(&r.key[..])
                .payload(&r.value[..])
                .timestamp(r.timestamp_ms);
            if !r.headers.is_empty() {
                let mut h = OwnedHeaders::new_with_capacity(r.headers.len());
                for (key, value) in &r.headers {
                    h = h.insert(Header {
                        key,
                        value: Some(&value[..]),
                    });
                }
                record = record.headers(h);
            }
            match producer.producer.send_result(record) {
                Ok(f) => futures.push(f),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // The byte bound was hit mid-batch: the records already queued will be
                    // delivered, the caller is told to retry (its retry is de-duplicated by
                    // message id upstream).
                    metrics::counter!(m::BACKPRESSURE_TOTAL).increment(1);
                    return Err(Error::Backpressure);
                }
                Err((e, _)) => return Err(self.unavailable("producing", e)),
            }
        }
        Ok((producer, futures))
    }
}

impl Drop for KafkaLog {
    fn drop(&mut self) {
        self.inner.release_consumers();
    }
}

impl Log for KafkaLog {
    fn create_topic(&self, name: &str, partitions: u32) -> Result<()> {
        self.inner.create_topic(name, partitions)
    }

    fn topics(&self) -> Vec<TopicInfo> {
        self.inner
            .topics
            .read()
            .iter()
            .map(|(name, &partitions)| TopicInfo {
                name: name.clone(),
                partitions,
            })
            .collect()
    }

    fn partitions(&self, topic: &str) -> Result<u32> {
        self.inner.partitions(topic)
    }

    fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> BoxFuture<'static, Result<Vec<Appended>>> {
        let (producer, futures) = match self.inner.enqueue(topic, records) {
            Ok(f) => f,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let inner = self.inner.clone();
        Box::pin(async move {
            let mut out = Vec::with_capacity(futures.len());
            let mut failure = None;
            // Await every delivery, even after a failure, so none is left unobserved.
            for f in futures {
                match f.await {
                    Ok(Ok(d)) => out.push(Appended {
                        partition: d.partition.max(0) as u32,
                        offset: d.offset.max(0) as u64,
                    }),
                    Ok(Err((e, _))) => {
                        if unusable_after(&e) {
                            producer.poisoned.store(true, Ordering::Release);
                        }
                        failure.get_or_insert_with(|| inner.unavailable("delivering", e));
                    }
                    Err(_) => {
                        failure.get_or_insert(Error::Closed);
                    }
                }
            }
            match failure {
                Some(e) => Err(e),
                None => {
                    metrics::counter!(m::APPEND_RECORDS_TOTAL).increment(out.len() as u64);
                    Ok(out)
                }
            }
        })
    }

    fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>> {
        self.inner.read(topic, partition, offset, max_records)
    }

    fn start_offset(&self, topic: &str, partition: u32) -> Result<u64> {
        Ok(self.inner.watermarks(topic, partition)?.0)
    }

    fn end_offset(&self, topic: &str, partition: u32) -> Result<u64> {
        Ok(self.inner.watermarks(topic, partition)?.1)
    }

    fn wait_for(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        timeout: Duration,
    ) -> BoxFuture<'static, bool> {
        let inner = self.inner.clone();
        let topic = topic.to_owned();
        Box::pin(async move {
            if inner.check_partition(&topic, partition).is_err() {
                return false;
            }
            let deadline = tokio::time::Instant::now() + timeout;
            let mut pause = Duration::from_millis(2);
            loop {
                let (i, t) = (inner.clone(), topic.clone());
                let end =
                    tokio::task::spawn_blocking(move || i.watermarks(&t, partition).map(|w| w.1))
                        .await;
                if let Ok(Ok(end)) = end {
                    if end > offset {
                        return true;
                    }
                }
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return false;
                }
                tokio::time::sleep(pause.min(deadline - now)).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
        })
    }

    fn commit(&self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<()> {
        validate_name("group", group)?;
        self.inner.check_partition(topic, partition)?;
        let committer = self.inner.committer(group)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(
            &self.inner.opts.physical(topic),
            partition as i32,
            Offset::Offset(offset as i64),
        )
        .map_err(|e| self.inner.unavailable("committing", e))?;
        // librdkafka's synchronous commit waits without a bound while no coordinator
        // answers; commit asynchronously and confirm by reading the offset back, within
        // the request timeout.
        committer
            .commit(&tpl, CommitMode::Async)
            .map_err(|e| self.inner.unavailable("committing", e))?;
        let deadline = Instant::now() + self.inner.timeout;
        loop {
            // Serves the commit's result callback (nothing else is queued here).
            let _ = committer.poll(Duration::ZERO);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if let Ok(Some(o)) = self
                .inner
                .committed_within(group, topic, partition, remaining)
            {
                if o == offset {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(self.inner.unavailable(
                    "committing",
                    format!(
                        "offset {offset} of {topic}/{partition} for group {group:?} not confirmed within {:?}",
                        self.inner.timeout
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>> {
        validate_name("group", group)?;
        self.inner.check_partition(topic, partition)?;
        self.inner
            .committed_within(group, topic, partition, self.inner.timeout)
    }

    fn join_group(
        &self,
        group: &str,
        topic: &str,
        session_timeout: Duration,
        on_revoke: crate::RevokeHook,
    ) -> Result<Box<dyn crate::Membership>> {
        Ok(Box::new(self.group_member(
            group,
            topic,
            session_timeout,
            on_revoke,
        )?))
    }

    fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let producing = self.inner.producer.read().clone();
        let flushed = producing
            .producer
            .flush(self.inner.timeout)
            .map_err(|e| self.inner.unavailable("flushing on close", e));
        self.inner.release_consumers();
        flushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let o = KafkaOptions::from_url("kafka://127.0.0.1:9092").expect("plain");
        assert_eq!(o.brokers, "127.0.0.1:9092");
        assert_eq!(o.events_topic, "events");
        let o = KafkaOptions::from_url("kafka://a:1,b:2/clicks/").expect("topic");
        assert_eq!(o.brokers, "a:1,b:2");
        assert_eq!(o.events_topic, "clicks");
        for bad in [
            "kafka://",
            "kafka:///events",
            "kafka://host/events",
            "kafka://host:0",
            "kafka://host:x",
            "kafka://a:1,,b:2",
            "kafka://a:1/../x",
            "kafka://a:1/a b",
            "http://a:1",
        ] {
            let e = KafkaOptions::from_url(bad).expect_err(bad).to_string();
            assert!(e.contains("log.url"), "{bad}: {e}");
        }
    }

    #[test]
    fn topic_names_follow_the_events_topic() {
        let plain = KafkaOptions::default();
        for t in ["events", "events.dead-letter", "catalog"] {
            assert_eq!(plain.physical(t), t);
        }
        let o = KafkaOptions::from_url("kafka://a:1/clicks").expect("url");
        assert_eq!(o.physical("events"), "clicks");
        assert_eq!(o.physical("events.dead-letter"), "clicks.dead-letter");
        assert_eq!(o.physical("catalog"), "clicks.catalog");
    }

    #[test]
    fn knobs_are_checked_and_reserved_properties_refused() {
        let ok = KafkaOptions::default();
        assert!(ok.validate().is_ok());
        let cases: Vec<(KafkaOptions, &str)> = vec![
            (
                KafkaOptions {
                    compression: "brotli".into(),
                    ..ok.clone()
                },
                "log.kafka.compression",
            ),
            (
                KafkaOptions {
                    replication_factor: 0,
                    ..ok.clone()
                },
                "log.kafka.replication_factor",
            ),
            (
                KafkaOptions {
                    max_queued_records: 0,
                    ..ok.clone()
                },
                "log.kafka.max_queued_records",
            ),
            (
                KafkaOptions {
                    delivery_timeout_ms: 10,
                    ..ok.clone()
                },
                "log.kafka.delivery_timeout_ms",
            ),
            (
                KafkaOptions {
                    properties: [("acks".to_owned(), "1".to_owned())].into(),
                    ..ok.clone()
                },
                "log.kafka.properties.acks",
            ),
        ];
        for (o, field) in cases {
            let e = o.validate().expect_err(field).to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn a_broker_that_is_not_there_is_a_clear_error() {
        // A loopback port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let opts = KafkaOptions {
            request_timeout_ms: 1_000,
            ..KafkaOptions::from_url(&format!("kafka://127.0.0.1:{port}")).expect("url")
        };
        let e = KafkaLog::open(opts).err().expect("no broker").to_string();
        assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    }
}
