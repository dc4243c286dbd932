use thiserror::Error;

/// Errors of the log. Messages say what went wrong and, where it helps, what to do.
#[derive(Debug, Error)]
pub enum Error {
    /// A topic or consumer-group name that cannot be used (it would also be a path component).
    #[error("invalid {kind} name {name:?}: use 1-200 characters from [A-Za-z0-9._-], not \".\" or \"..\"")]
    InvalidName { kind: &'static str, name: String },
    /// A topic must have at least one partition (and a sane maximum).
    #[error("invalid partition count {0} for a topic: use 1..={max}", max = crate::MAX_PARTITIONS)]
    InvalidPartitionCount(u32),
    /// The topic does not exist.
    #[error("unknown topic {0:?}: create it first")]
    UnknownTopic(String),
    /// The partition number is not below the topic's partition count.
    #[error("topic {topic:?} has {partitions} partitions, there is no partition {partition}")]
    UnknownPartition {
        topic: String,
        partition: u32,
        partitions: u32,
    },
    /// `create_topic` for an existing topic with another partition count.
    #[error("topic {topic:?} already exists with {existing} partitions (asked for {requested})")]
    TopicExists {
        topic: String,
        existing: u32,
        requested: u32,
    },
    /// The offset is outside `[start, end]` of the partition.
    #[error("offset {offset} is out of range for {topic}/{partition}: valid offsets are {start}..={end}")]
    OffsetOutOfRange {
        topic: String,
        partition: u32,
        offset: u64,
        start: u64,
        end: u64,
    },
    /// Stored bytes failed verification; they are never returned as data.
    #[error("corrupt log data in {topic}/{partition} near offset {offset} (segment {segment}, byte {position}): {reason}")]
    Corrupt {
        topic: String,
        partition: u32,
        offset: u64,
        segment: u64,
        position: u64,
        reason: String,
    },
    /// The writer queue is full: nothing was queued; retry later (HTTP 429/503).
    #[error("log writer queue is full; retry later")]
    Backpressure,
    /// One record would exceed the maximum frame size.
    #[error("record of {size} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge { size: usize, max: usize },
    /// One append call carries more records than allowed; split the batch.
    #[error("append of {count} records exceeds the maximum of {max} per call; split the batch")]
    TooManyRecords { count: usize, max: usize },
    /// The log was closed; no more writes are accepted.
    #[error("log is closed")]
    Closed,
    /// The writer hit an I/O error it could not roll back; it refuses writes until restart.
    #[error("log writer stopped after an unrecoverable I/O error ({0}); restart to recover the log from disk")]
    WriterFailed(String),
    /// A write (append, commit, creating a topic) on a log opened with
    /// [`EmbeddedLog::open_read_only`](crate::EmbeddedLog::open_read_only).
    #[error("the log at {dir} is open read-only (another process, such as a running `tailor serve`, owns it): send writes to that process, or stop it and open the log normally")]
    ReadOnly { dir: String },
    /// There is no log to open read-only: the directory is missing or holds no topics.
    #[error("no log at {dir} ({reason}): start `tailor serve` first or pass --data-dir with the server's data directory")]
    NoLog { dir: String, reason: String },
    /// A metadata file (topic meta.json, group offsets) is unreadable or malformed.
    #[error("bad metadata file {path}: {reason}")]
    Metadata { path: String, reason: String },
    /// A setting of the log is unusable; `field` names it as written in the config file.
    #[error("{field}: {reason}")]
    Config { field: String, reason: String },
    /// The Kafka cluster could not be reached or did not acknowledge in time: nothing is
    /// acknowledged to the client, which should retry (HTTP 503).
    #[error("the Kafka cluster at {brokers} is unavailable ({reason}); retry later")]
    Unavailable { brokers: String, reason: String },
    /// An I/O error, with what was being done.
    #[error("I/O error while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the disk (or quota) is full: nothing was stored, and writes succeed again
    /// once space is freed (the writer rolled its files back to the last durable record).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::Io { source, .. }
            if source.kind() == std::io::ErrorKind::StorageFull
                || source.kind() == std::io::ErrorKind::QuotaExceeded)
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result with the log's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
