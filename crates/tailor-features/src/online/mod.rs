//! Online feature stores: where materialized [`FeatureRow`]s are written after each batch and
//! read by serving. Backends sit side by side and are chosen by URL scheme ([`open`]);
//! rows are plain serializable values, so a networked backend (Redis, a later issue) stores
//! their JSON.

mod embedded;

use std::sync::Arc;

pub use embedded::EmbeddedStore;

use crate::engine::FeatureRow;
use crate::{Error, Result};

pub trait OnlineStore: Send + Sync {
    /// Stores rows, replacing the stored row of the same entity unless that one is newer
    /// (`as_of_ms`).
    fn write(&self, rows: Vec<FeatureRow>) -> Result<()>;

    /// The rows of `ids` of one entity kind (`"item"`, `"user"`, `"property:brand"`, ...),
    /// in the order asked.
    fn read_many(&self, entity: &str, ids: &[String]) -> Result<Vec<Option<FeatureRow>>>;

    fn read(&self, entity: &str, id: &str) -> Result<Option<FeatureRow>> {
        Ok(self
            .read_many(entity, &[id.to_owned()])?
            .into_iter()
            .next()
            .flatten())
    }
}

/// Opens the store a URL names: `embedded://` (in memory, the default). `redis://` is not
/// available yet.
pub fn open(url: &str) -> Result<Arc<dyn OnlineStore>> {
    let scheme = url.split_once("://").map_or(url, |(s, _)| s);
    match scheme {
        "embedded" | "memory" => Ok(Arc::new(EmbeddedStore::new())),
        other => Err(Error::OnlineStore {
            store: url.to_owned(),
            reason: format!("unsupported scheme {other:?}; use embedded://"),
        }),
    }
}
