//! [`KafkaOptions`]: the `[log.kafka]` settings, `log.url` parsing and the librdkafka
//! client configurations built from them.

use super::*;

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

    pub(super) fn base(&self) -> ClientConfig {
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
    pub(super) fn producer(&self) -> std::result::Result<FutureProducer, KafkaError> {
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
    pub(super) fn consumer(&self, group: &str) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", self.physical(group))
            .set("enable.auto.commit", "false")
            .set("allow.auto.create.topics", "false");
        c
    }

    /// The Kafka topic of a logical topic name.
    pub(super) fn physical(&self, logical: &str) -> String {
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
