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
    #[error(transparent)]
    Log(#[from] tailor_log::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
