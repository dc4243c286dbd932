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
mod options;
mod produce;
mod read;

pub use group::GroupMember;
pub use options::KafkaOptions;
use produce::{unusable_after, Producing};
use read::SharedReader;

/// The logical name of the events topic, which the URL's path may rename.
const EVENTS: &str = "events";

/// Records one append call may carry (as the embedded log).
const MAX_RECORDS_PER_APPEND: usize = 100_000;

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
        // Right after a topic is created, a broker may not know its partitions yet: retried
        // for up to ~2 s before the cluster is called unavailable.
        let mut tries = 0;
        let (low, high) = loop {
            match self
                .meta
                .fetch_watermarks(&physical, partition as i32, self.timeout)
            {
                Ok(w) => break w,
                Err(rdkafka::error::KafkaError::MetadataFetch(
                    rdkafka::types::RDKafkaErrorCode::UnknownPartition,
                )) if tries < 10 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(e) => return Err(self.unavailable("reading offsets", e)),
            }
        };
        let (low, high) = (low.max(0) as u64, high.max(0) as u64);
        metrics::gauge!(m::END_OFFSET, "topic" => topic.to_owned(), "partition" => partition.to_string())
            .set(high as f64);
        Ok((low, high))
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
mod tests;
