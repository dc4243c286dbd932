use thiserror::Error;

/// Errors of the lake. Messages say what went wrong and, where it helps, what to do.
#[derive(Debug, Error)]
pub enum Error {
    /// A configuration value is unusable; the message starts with the field (`lake.url: ...`).
    #[error("{0}")]
    Config(String),
    /// The object store (local directory or S3) failed.
    #[error("object store error while {context}: {source}")]
    Store {
        context: String,
        #[source]
        source: object_store::Error,
    },
    /// Encoding or decoding a Parquet file failed.
    #[error("parquet error while {context}: {source}")]
    Parquet {
        context: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building Arrow data failed (a bug, or a file with an unexpected schema).
    #[error("arrow error while {context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// Reading the log failed.
    #[error("log error: {0}")]
    Log(#[from] tailor_log::Error),
    /// A manifest in the lake is unreadable or inconsistent.
    #[error("bad lake manifest {path}: {reason}")]
    Manifest { path: String, reason: String },
    /// The lake's manifest says more was committed than the log holds: the log was reset
    /// or another log is attached to this lake.
    #[error("the lake has committed {topic}/{partition} up to offset {committed}, but the log ends at {end}: the log was reset or belongs to another installation; point lake.url at a new location (or delete the lake) to rebuild it from the log")]
    AheadOfLog {
        topic: String,
        partition: u32,
        committed: u64,
        end: u64,
    },
    /// Another writer committed to this lake at the same time.
    #[error("another writer committed lake manifest version {version}: only one sink may write a lake; stop the other process")]
    Conflict { version: u64 },
    /// The SQL text is invalid or refers to unknown tables or columns (a client error).
    #[error("{0}")]
    Sql(String),
    /// A query failed while running.
    #[error("query failed: {0}")]
    Query(String),
    /// A query went past its time or memory limit (`lake.query_timeout_secs`,
    /// `lake.query_memory_mb`) and was stopped.
    #[error("{0}")]
    Limit(String),
    /// An input file (e.g. training labels) is unusable; the message names the file and
    /// the column or row.
    #[error("{0}")]
    Input(String),
    /// The sink has not caught up with the log far enough for the operation.
    #[error("{0}")]
    Behind(String),
    /// A local file system operation failed.
    #[error("I/O error while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn store(context: impl Into<String>, source: object_store::Error) -> Self {
        Error::Store {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn parquet(
        context: impl Into<String>,
        source: parquet::errors::ParquetError,
    ) -> Self {
        Error::Parquet {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Error::Arrow {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether the error is the client's (bad SQL), as opposed to the lake's.
    pub fn is_client_error(&self) -> bool {
        matches!(self, Error::Sql(_))
    }
}

/// Result with the lake's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
