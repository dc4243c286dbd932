use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("checkpoint I/O at {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint {path} is corrupt ({reason}); move it away to rebuild state from the log")]
    CorruptCheckpoint { path: String, reason: String },
    #[error("cannot start the live processor: {0}")]
    Spawn(#[source] std::io::Error),
    /// The live processor has stopped (shutting down, or it failed).
    #[error("the live processor is not running")]
    Stopped,
    #[error(transparent)]
    Log(#[from] tailor_log::Error),
    /// An invalid `[features]` setting; the message starts with the setting's path, e.g.
    /// `features.define[3] ("item_ctr_24h").window: ...`.
    #[error("{0}")]
    FeatureConfig(String),
    #[error("feature state snapshot cannot be restored ({0}); move the checkpoint away to rebuild state from the log")]
    FeatureState(String),
    #[error("the feature definitions changed since this feature state was saved; rebuild it by replaying the log from offset 0")]
    FeatureDefinitionsChanged,
    #[error("online store {store}: {reason}")]
    OnlineStore { store: String, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
