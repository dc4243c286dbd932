use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("k must be between 1 and {max}, got {got}")]
    BadK { got: usize, max: usize },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
