//! Online features: where serving reads feature rows. Two shapes sit behind one trait,
//! [`FeatureReader`]:
//!
//! - `embedded://` (the default): reads evaluate the engine's live state directly
//!   ([`LiveReader`]); nothing is copied, a row is current the moment its event is applied,
//!   and the write path pays nothing for serving.
//! - a materialized [`OnlineStore`]: the processor writes the rows each batch touched and
//!   readers (possibly other processes) read the copies. `memory://` is the in-process one
//!   ([`EmbeddedStore`], the reference the other backends are tested against);
//!   `redis://host:port[/db][?prefix=...&ttl_secs=...]` keeps rows in Redis ([`RedisStore`]
//!   lists the options), in the exact binary form of `codec.rs`.
//!
//! Every store keeps the row of the latest `as_of_ms` per entity, whatever order writes
//! arrive in.

mod codec;
mod embedded;
mod live;
mod partitioned;
mod redis;

use std::sync::Arc;

pub use embedded::EmbeddedStore;
pub use live::LiveReader;
pub use partitioned::PartitionedStore;
pub use redis::{redact, RedisStore};

use crate::engine::FeatureRow;
use crate::{Error, Result};

/// Reads feature rows for serving.
pub trait FeatureReader: Send + Sync {
    /// The rows of `ids` of one entity kind (`"item"`, `"user"`, `"property:brand"`, ...),
    /// in the order asked.
    fn read_many(&self, entity: &str, ids: &[String]) -> Result<Vec<Option<FeatureRow>>>;

    /// Whether a read waits on the network (async callers then read off their workers).
    fn is_remote(&self) -> bool {
        false
    }

    fn read(&self, entity: &str, id: &str) -> Result<Option<FeatureRow>> {
        Ok(self
            .read_many(entity, &[id.to_owned()])?
            .into_iter()
            .next()
            .flatten())
    }
}

/// A store of materialized rows.
pub trait OnlineStore: FeatureReader {
    /// Stores rows, replacing the stored row of the same entity unless that one is newer
    /// (`as_of_ms`).
    fn write(&self, rows: Vec<FeatureRow>) -> Result<()>;

    /// Deletes the rows of `ids` of one entity kind (an erased user); returns how many
    /// there were.
    fn delete(&self, entity: &str, ids: &[String]) -> Result<u64>;
}

/// Where online features live, as `online = "..."` names it.
#[derive(Clone)]
pub enum OnlineBackend {
    /// `embedded://`: reads evaluate the engine state in this process.
    Live,
    /// The processor materializes rows into this store.
    Store(Arc<dyn OnlineStore>),
}

impl std::fmt::Debug for OnlineBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OnlineBackend::Live => "Live",
            OnlineBackend::Store(_) => "Store",
        })
    }
}

/// Opens the backend a URL names: `embedded://` (read from the engine state, the default),
/// `memory://` (rows materialized into an in-memory store) or `redis://` (rows materialized
/// into Redis; the connection is checked here, so a wrong URL fails at start).
pub fn open(url: &str) -> Result<OnlineBackend> {
    let scheme = url.split_once("://").map_or(url, |(s, _)| s);
    match scheme {
        "embedded" => Ok(OnlineBackend::Live),
        "memory" => Ok(OnlineBackend::Store(Arc::new(EmbeddedStore::new()))),
        "redis" | "rediss" | "redis+cluster" | "rediss+cluster" => {
            Ok(OnlineBackend::Store(Arc::new(RedisStore::open(url)?)))
        }
        other => Err(Error::OnlineStore {
            store: redact(url),
            reason: format!(
                "unsupported scheme {other:?}; use embedded://, memory:// or redis://host:port"
            ),
        }),
    }
}
