use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("k must be between 1 and {max}, got {got}")]
    BadK { got: usize, max: usize },
    #[error("cannot read or write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {reason}; fix or remove this row", path.display())]
    BadRow {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("invalid parameter: {0}")]
    Param(String),
    #[error("model artifact {}: {reason}", path.display())]
    Artifact { path: PathBuf, reason: String },
    #[error("model registry: {0}")]
    Registry(String),
    #[error("dataset has no {0}; nothing to train or evaluate on")]
    Empty(&'static str),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
