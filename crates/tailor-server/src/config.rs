//! The typed configuration of a Tailor server (`tailor.toml`). Layering (embedded defaults →
//! file → `TAILOR__*` environment) happens in the binary; this is the shape and its checks.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tailor_features::{FeatureSet, FeaturesConfig, LiveConfig};
use tailor_lake::{LakeConfig, QualityConfig};
use tailor_rec::model::{BlendParams, ModelSpec};
use tailor_rec::RecConfig;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the log, checkpoints and schemas live.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub listen: String,
    /// What this process runs (`roles = ["collector", "api"]`; default every role; see
    /// [`crate::roles`]).
    pub roles: crate::roles::Roles,
    pub collector: CollectorConfig,
    /// The durable log (`[log]`, or just `log = "kafka://…"`).
    #[serde(deserialize_with = "log_config")]
    pub log: LogConfig,
    /// Online feature store URL: `embedded://` (in memory, rebuilt from the checkpoint and
    /// the log on start).
    pub online: String,
    pub live: LiveConfig,
    /// The item catalog (`[catalog]`).
    pub catalog: CatalogConfig,
    /// Declared features (`[features]`, `[[features.define]]`).
    pub features: FeaturesConfig,
    /// The Parquet data lake (`[lake]`): written from the log, queried with SQL.
    pub lake: LakeConfig,
    /// TLS termination (`[tls]`): HTTPS on `listen` when both files are set.
    pub tls: TlsConfig,
    /// Data-quality checks on every lake commit and training run, and their webhook
    /// (`[quality]`).
    pub quality: QualityConfig,
    pub recommend: RecConfig,
    /// The served model and its retraining (`[models]`).
    pub models: ModelsConfig,
    /// API keys: the key file's reload period and default rate limits (`[auth]`).
    pub auth: crate::auth::AuthConfig,
    /// A/B experiments (`[[experiment]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub experiment: Vec<crate::experiments::ExperimentConfig>,
}

/// `[tls]`: PEM files of the certificate chain and its private key (PKCS#8, PKCS#1 or
/// SEC1); relative paths are taken from the working directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }
}

/// `[models]`: which registry model serves, and scheduled retraining.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Registry name of the served (and retrained) model.
    pub serve: String,
    /// How often the registry is checked for a version promoted elsewhere
    /// (`tailor models promote|rollback`), in ms.
    pub poll_ms: u64,
    /// Retrain on a schedule while serving.
    pub retrain: bool,
    /// Incremental retraining (trending, item-kNN, session kNN refitted; ALS kept), seconds.
    pub incremental_every_secs: u64,
    /// Full retraining (every model), seconds.
    pub full_every_secs: u64,
    /// Scheduled runs with fewer interactions in the log are skipped.
    pub min_interactions: usize,
    /// Most events a training run reads: the latest, from every partition in proportion
    /// to its size. Bounds a run's memory and the model's vocabulary however long the log.
    pub max_training_events: u64,
    /// Versions kept per model besides the served one and those rollback can reach.
    pub keep_versions: usize,
    /// Threads for training (ALS).
    pub threads: usize,
    /// The blend trained (parts, weights, candidates, rules); absent: the production blend
    /// tuned by `tailor eval` (`BlendParams::production`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blend: Option<BlendParams>,
}

impl ModelsConfig {
    /// The blend training fits.
    pub fn blend_params(&self) -> BlendParams {
        self.blend.clone().unwrap_or_else(BlendParams::production)
    }
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            serve: "default".into(),
            poll_ms: 2_000,
            retrain: true,
            incremental_every_secs: 15 * 60,
            full_every_secs: 24 * 3600,
            min_interactions: 100,
            max_training_events: 20_000_000,
            keep_versions: 24,
            threads: 1,
            blend: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./tailor-data"),
            listen: "127.0.0.1:8080".into(),
            roles: crate::roles::Roles::default(),
            collector: CollectorConfig::default(),
            log: LogConfig::default(),
            online: "embedded://".into(),
            live: LiveConfig::default(),
            catalog: CatalogConfig::default(),
            features: FeaturesConfig::default(),
            lake: LakeConfig::default(),
            quality: QualityConfig::default(),
            tls: TlsConfig::default(),
            recommend: RecConfig::default(),
            models: ModelsConfig::default(),
            auth: crate::auth::AuthConfig::default(),
            experiment: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Most items kept that only events introduced (never put through the API): past it by
    /// an eighth, the earliest learned are forgotten down to it (an event naming one again
    /// learns it anew). Items put through the API are never forgotten.
    pub max_learned_items: usize,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            max_learned_items: 1_000_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Write keys accepted besides those in the key file (`tailor keys`): the HTTP
    /// basic-auth user, or `writeKey` in the body. Plain text or `sha256:HEX`. With no write
    /// key anywhere the collector is open and the server only listens on loopback.
    pub write_keys: Vec<String>,
    /// Secret keys accepted besides those in the key file, sent as `Authorization: Bearer
    /// KEY` (formerly `admin_keys`). With no secret key anywhere every other endpoint is open
    /// (loopback only, as above).
    #[serde(alias = "admin_keys")]
    pub secret_keys: Vec<String>,
    /// Largest request body, compressed or decoded, in bytes.
    pub max_request_bytes: usize,
    /// How long a request may wait for its durable append before answering 503, in ms.
    pub ack_timeout_ms: u64,
    /// How long a client may take to send a request body, in ms: a slower one gets `408`
    /// and the connection is closed (slowloris-style clients hold no connection forever).
    pub body_timeout_ms: u64,
    /// `messageId` de-duplication window, in seconds.
    pub dedupe_window_secs: u64,
    /// Most `messageId`s remembered (memory bound; the oldest are forgotten first).
    pub dedupe_max_entries: usize,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            write_keys: Vec::new(),
            secret_keys: Vec::new(),
            max_request_bytes: 8 * 1024 * 1024,
            ack_timeout_ms: 9_000,
            body_timeout_ms: 10_000,
            dedupe_window_secs: 24 * 3600,
            dedupe_max_entries: 5_000_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `embedded://` (segment files in `data_dir/log`, the default) or
    /// `kafka://host:port[,host:port…][/topic]` (a Kafka cluster; the path renames the
    /// `events` topic).
    pub url: String,
    /// Partitions of the `events` topic (fixed when the topic is created).
    pub partitions: u32,
    /// Segment file size before rolling, in bytes.
    pub segment_bytes: u64,
    /// fsync before acknowledging (turning it off gives up durability; benchmarks only).
    pub fsync: bool,
    /// Pending append requests before the collector answers 503 (`backpressure`).
    pub queue_capacity: usize,
    /// Producer and client settings of a `kafka://` log (`[log.kafka]`).
    pub kafka: tailor_log::KafkaOptions,
}

/// The log backend a [`LogConfig`] names.
pub enum LogBackend {
    Embedded,
    Kafka(tailor_log::KafkaOptions),
}

impl LogConfig {
    /// The backend of `url`, with its options checked; errors name the field.
    pub fn backend(&self) -> Result<LogBackend, String> {
        if self.url.is_empty() || self.url == "embedded://" {
            return Ok(LogBackend::Embedded);
        }
        if self.url.starts_with("kafka://") {
            let from_url =
                tailor_log::KafkaOptions::from_url(&self.url).map_err(|e| e.to_string())?;
            let opts = tailor_log::KafkaOptions {
                brokers: from_url.brokers,
                events_topic: from_url.events_topic,
                ..self.kafka.clone()
            };
            opts.validate().map_err(|e| e.to_string())?;
            return Ok(LogBackend::Kafka(opts));
        }
        Err(format!(
            "log.url: {:?} is not a log URL: use embedded:// or kafka://host:port[,host:port…][/topic]",
            self.url
        ))
    }
}

/// `log` as a `[log]` table, or as a bare URL (`log = "kafka://127.0.0.1:9092/events"`).
fn log_config<'de, D: serde::Deserializer<'de>>(d: D) -> Result<LogConfig, D::Error> {
    struct Shape;
    impl<'de> serde::de::Visitor<'de> for Shape {
        type Value = LogConfig;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a log URL such as \"kafka://127.0.0.1:9092/events\", or a [log] table")
        }
        fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<LogConfig, E> {
            Ok(LogConfig {
                url: url.to_owned(),
                ..LogConfig::default()
            })
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<LogConfig, A::Error> {
            LogConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(Shape)
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            url: "embedded://".into(),
            partitions: 4,
            segment_bytes: 64 * 1024 * 1024,
            fsync: true,
            queue_capacity: 1024,
            kafka: tailor_log::KafkaOptions::default(),
        }
    }
}

impl Config {
    /// Roles that need what only another process can provide (ADR 0016).
    fn validate_roles(&self) -> Result<(), String> {
        use crate::roles::Role;
        let shared_store = self.online.starts_with("redis://");
        if self.live.assignment == tailor_features::Assignment::Group {
            if !matches!(self.log.backend()?, LogBackend::Kafka(_)) {
                return Err("live.assignment: \"group\" shares partitions through a Kafka consumer group: set log.url to kafka://…".into());
            }
            if !shared_store {
                return Err(format!(
                    "live.assignment: \"group\" keeps partition states in a shared store: set online to redis://…, not {:?}",
                    self.online
                ));
            }
        }
        if self.roles.has(Role::Api) && !self.roles.has(Role::Processor) && !shared_store {
            return Err(format!(
                "roles: an api process without the processor role reads the features another \
                 process writes, so online must be a shared store (redis://…), not {:?}: \
                 embedded:// and memory:// live inside the processor's process",
                self.online
            ));
        }
        Ok(())
    }

    /// Checks every value; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let _: SocketAddr = self.listen.parse().map_err(|e| {
            format!(
                "listen: {:?} is not an address like 127.0.0.1:8080 ({e})",
                self.listen
            )
        })?;
        // Key syntax; whether a non-loopback address has keys is checked at start, with the
        // key file.
        crate::auth::Auth::check_config(&self.collector.write_keys, &self.collector.secret_keys)?;
        self.auth.validate()?;
        if self.collector.max_request_bytes < 64 * 1024 {
            return Err("collector.max_request_bytes must be at least 65536".into());
        }
        if !(100..=600_000).contains(&self.collector.body_timeout_ms) {
            return Err("collector.body_timeout_ms must be between 100 and 600000".into());
        }
        if self.collector.ack_timeout_ms == 0 || self.collector.ack_timeout_ms > 10_000 {
            return Err(
                "collector.ack_timeout_ms must be between 1 and 10000 (SDKs resend after 10 s)"
                    .into(),
            );
        }
        if self.collector.dedupe_max_entries == 0 {
            return Err("collector.dedupe_max_entries must be greater than 0".into());
        }
        self.log.backend()?;
        if self.log.partitions == 0 || self.log.partitions > 1024 {
            return Err("log.partitions must be between 1 and 1024".into());
        }
        if self.log.segment_bytes < 4096 {
            return Err("log.segment_bytes must be at least 4096".into());
        }
        if self.log.queue_capacity == 0 {
            return Err("log.queue_capacity must be greater than 0".into());
        }
        self.live.validate()?;
        self.validate_roles()?;
        if self.models.max_training_events == 0 {
            return Err("models.max_training_events must be greater than 0".into());
        }
        if self.catalog.max_learned_items == 0 {
            return Err("catalog.max_learned_items must be greater than 0".into());
        }
        FeatureSet::compile(&self.features).map_err(|e| e.to_string())?;
        match self.online.split_once("://").map(|(scheme, _)| scheme) {
            // A Redis URL is checked (and connected to) when the store opens.
            Some("embedded" | "memory" | "redis") => {}
            _ => {
                return Err(format!(
                    "online: {:?} is not a supported online store; use embedded:// (reads the \
                     feature state in place), memory:// (rows materialized in memory) or \
                     redis://host:port[/db][?prefix=…]",
                    tailor_features::online::redact(&self.online)
                ))
            }
        }
        self.lake.validate().map_err(|e| e.to_string())?;
        self.quality.validate().map_err(|e| e.to_string())?;
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), None) => return Err("tls.key_file: needed with tls.cert_file".into()),
            (None, Some(_)) => return Err("tls.cert_file: needed with tls.key_file".into()),
            _ => {}
        }
        self.recommend.validate()?;
        let m = &self.models;
        tailor_rec::registry::check_name(&m.serve).map_err(|e| format!("models.serve: {e}"))?;
        crate::experiments::validate(&self.experiment)?;
        if m.poll_ms == 0 {
            return Err("models.poll_ms must be greater than 0".into());
        }
        if m.incremental_every_secs == 0 || m.full_every_secs == 0 {
            return Err(
                "models.incremental_every_secs and models.full_every_secs must be greater than 0"
                    .into(),
            );
        }
        if m.keep_versions == 0 {
            return Err("models.keep_versions must be at least 1".into());
        }
        if m.threads == 0 || m.threads > 256 {
            return Err("models.threads must be between 1 and 256".into());
        }
        if let Some(b) = &m.blend {
            if b.parts.is_empty() {
                return Err(
                    "models.blend.parts: give at least one [model spec, weight] pair".into(),
                );
            }
            if let Some(i) = b.parts.iter().position(|(_, w)| !w.is_finite() || *w < 0.0) {
                return Err(format!(
                    "models.blend.parts[{i}]: the weight must be a number >= 0"
                ));
            }
            if let Some(i) = b
                .parts
                .iter()
                .position(|(s, _)| matches!(s, ModelSpec::Blend(_)))
            {
                return Err(format!(
                    "models.blend.parts[{i}]: a blend cannot contain a blend"
                ));
            }
            if b.candidates == 0 {
                return Err("models.blend.candidates must be at least 1".into());
            }
        }
        Ok(())
    }
}
