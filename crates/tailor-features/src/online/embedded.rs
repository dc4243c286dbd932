//! The in-memory materialized store (`memory://`): rows in memory, in lock-sharded hash maps, so concurrent
//! readers of different entities rarely meet and a writer blocks one shard at a time.

use parking_lot::RwLock;
use rustc_hash::FxHashMap;

use super::{FeatureReader, OnlineStore};
use crate::engine::FeatureRow;
use crate::Result;

const SHARDS: usize = 32;

/// entity kind → id → row.
type Shard = FxHashMap<String, FxHashMap<String, FeatureRow>>;

pub struct EmbeddedStore {
    shards: Vec<RwLock<Shard>>,
}

impl Default for EmbeddedStore {
    fn default() -> Self {
        Self::new()
    }
}

fn shard_of(entity: &str, id: &str) -> usize {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    entity.hash(&mut h);
    id.hash(&mut h);
    (h.finish() % SHARDS as u64) as usize
}

impl EmbeddedStore {
    pub fn new() -> Self {
        EmbeddedStore {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().values().map(FxHashMap::len).sum::<usize>())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops rows last written as of before `cutoff_ms` (entities the engine's TTL dropped
    /// stop being written); returns how many.
    pub fn retain_newer_than(&self, cutoff_ms: i64) -> usize {
        let mut removed = 0;
        for shard in &self.shards {
            let mut shard = shard.write();
            for rows in shard.values_mut() {
                let before = rows.len();
                rows.retain(|_, r| r.as_of_ms >= cutoff_ms);
                removed += before - rows.len();
            }
            shard.retain(|_, rows| !rows.is_empty());
        }
        removed
    }
}

impl OnlineStore for EmbeddedStore {
    fn write(&self, rows: Vec<FeatureRow>) -> Result<()> {
        for row in rows {
            let mut shard = self.shards[shard_of(&row.entity, &row.id)].write();
            let rows = match shard.get_mut(row.entity.as_str()) {
                Some(rows) => rows,
                None => shard.entry(row.entity.clone()).or_default(),
            };
            match rows.get_mut(row.id.as_str()) {
                Some(old) if old.as_of_ms > row.as_of_ms => {}
                Some(old) => *old = row,
                None => {
                    rows.insert(row.id.clone(), row);
                }
            }
        }
        Ok(())
    }

    fn delete(&self, entity: &str, ids: &[String]) -> Result<u64> {
        let mut removed = 0;
        for id in ids {
            let mut shard = self.shards[shard_of(entity, id)].write();
            if let Some(rows) = shard.get_mut(entity) {
                removed += u64::from(rows.remove(id.as_str()).is_some());
                if rows.is_empty() {
                    shard.remove(entity);
                }
            }
        }
        Ok(removed)
    }
}

impl FeatureReader for EmbeddedStore {
    fn read_many(&self, entity: &str, ids: &[String]) -> Result<Vec<Option<FeatureRow>>> {
        Ok(ids
            .iter()
            .map(|id| {
                self.shards[shard_of(entity, id)]
                    .read()
                    .get(entity)
                    .and_then(|rows| rows.get(id.as_str()))
                    .cloned()
            })
            .collect())
    }
}
