use thiserror::Error;

/// Errors of the event crate. Per-event validation problems are not errors of this type:
/// they become a [`crate::Rejection`] so one bad event never fails its batch.
#[derive(Debug, Error)]
pub enum Error {
    /// The request body is not JSON at all, or not the shape the endpoint takes.
    #[error("request body is not valid JSON: {0}")]
    BadJson(String),
    /// The request body is JSON but not a Segment request (e.g. `batch` is not an array).
    #[error("invalid request: {0}")]
    BadRequest(String),
    /// A schema document is not a valid JSON Schema.
    #[error("schema for {subject:?} is not a valid JSON Schema: {reason}")]
    InvalidSchema { subject: String, reason: String },
    /// A new schema version breaks the subject's compatibility mode.
    #[error("schema for {subject:?} is incompatible with version {against} under {mode}: {}", reasons.join("; "))]
    Incompatible {
        subject: String,
        mode: String,
        against: u32,
        reasons: Vec<String>,
    },
    /// No such schema subject or version.
    #[error("no schema {0}")]
    NotFound(String),
    /// A subject name that cannot be used.
    #[error("invalid schema subject name {0:?}: use 1-200 printable characters")]
    BadSubject(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
