//! Feature state in Redis by partition, for processors that share the log's partitions
//! (`live.assignment = "group"`, ADR 0016).
//!
//! A row merges an entity's state over every partition (an item is viewed by users of all
//! partitions), and no processor holds every partition, so processors cannot write rows.
//! Each writes instead, per entity it touched, *its partition's* state of the entity
//! ([`PartEntity`]: window buckets and partials, values resolved) into one field of the
//! entity's hash, `{prefix}p:{entity}:{id}` field `{partition}`, with the log offset it
//! covers; a Lua script keeps the field of the highest offset, so a processor that lost
//! the partition cannot overwrite its successor's newer state. Each partition's highest
//! event time is in `{prefix}ptime`. Readers take every field and merge them exactly as the
//! engine merges partitions in place ([`FeatureSet::read_exported`]), as of the highest
//! event time of any partition: the row equals the one a single process holding every
//! partition would serve.

use std::sync::Arc;
use std::time::Instant;

use super::redis::{entity_key, RedisStore};
use super::FeatureReader;
use crate::engine::{EntityKey, EntityKind, FeatureRow, FeatureSet, PartEntity};
use crate::metrics as m;
use crate::{Error, Result};

/// KEYS[1]: the entity's hash. ARGV[1]: the partition (field). ARGV[2]: 8-byte big-endian
/// offset, then the state (none: the partition no longer holds the entity). ARGV[3]: TTL in
/// seconds, 0 for none. Sets the field unless it holds a higher offset; returns 1 if set.
const SET_IF_NOT_BEHIND: &str = r"
local old = redis.call('HGET', KEYS[1], ARGV[1])
local new = ARGV[2]
if old and string.len(old) >= 8 then
  for i = 1, 8 do
    local a, b = string.byte(old, i), string.byte(new, i)
    if a > b then return 0 end
    if a < b then break end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], new)
if ARGV[3] ~= '0' then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return 1
";

/// Entities written per pipeline.
const WRITE_BATCH: usize = 1_000;

/// Partition-owned feature state in a Redis store, read merged.
pub struct PartitionedStore {
    redis: Arc<RedisStore>,
    set: Arc<FeatureSet>,
    script_sha: String,
}

impl PartitionedStore {
    pub fn new(redis: Arc<RedisStore>, set: Arc<FeatureSet>) -> Result<PartitionedStore> {
        let script_sha = redis.run("connect", |con| {
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(SET_IF_NOT_BEHIND)
                .query(con)
        })?;
        Ok(PartitionedStore {
            redis,
            set,
            script_sha,
        })
    }

    fn times_key(&self) -> String {
        format!("{}ptime", self.redis.prefix)
    }

    /// Stores `partition`'s state of each entity (`None`: the partition no longer holds it),
    /// as of log offset `offset` (the next offset to apply), and the partition's highest
    /// event time.
    pub fn write(
        &self,
        partition: u32,
        offset: u64,
        time_ms: Option<i64>,
        states: &[(EntityKey, Option<PartEntity>)],
    ) -> Result<()> {
        let started = Instant::now();
        let field = partition.to_string();
        let mut value = Vec::new();
        // At least one pipeline, so the partition's time is written without states too.
        let batches: Vec<&[(EntityKey, Option<PartEntity>)]> = if states.is_empty() {
            vec![&[]]
        } else {
            states.chunks(WRITE_BATCH).collect()
        };
        let last = batches.len() - 1;
        for (i, batch) in batches.into_iter().enumerate() {
            let mut pipe = redis::pipe();
            pipe.cmd("SCRIPT")
                .arg("LOAD")
                .arg(SET_IF_NOT_BEHIND)
                .ignore();
            for (key, state) in batch {
                value.clear();
                value.extend_from_slice(&offset.to_be_bytes());
                if let Some(state) = state {
                    value.extend(state.encode(&self.set));
                }
                pipe.cmd("EVALSHA")
                    .arg(&self.script_sha)
                    .arg(1)
                    .arg(entity_key(
                        &self.redis.prefix,
                        "p:",
                        &key.kind.to_string(),
                        &key.id,
                    ))
                    .arg(&field)
                    .arg(value.as_slice())
                    .arg(self.redis.ttl_secs)
                    .ignore();
            }
            // After the states: a reader never reads as of a time whose states are missing.
            if let Some(t) = time_ms.filter(|_| i == last) {
                pipe.cmd("HSET")
                    .arg(self.times_key())
                    .arg(&field)
                    .arg(t)
                    .ignore();
            }
            self.redis.run("write", |con| pipe.exec(con))?;
        }
        metrics::histogram!(m::ONLINE_STORE_WRITE_SECONDS, "backend" => "redis-partitioned")
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }
}

impl FeatureReader for PartitionedStore {
    fn is_remote(&self) -> bool {
        true
    }

    fn read_many(&self, entity: &str, ids: &[String]) -> Result<Vec<Option<FeatureRow>>> {
        let Some(kind) = EntityKind::parse(entity) else {
            return Ok(vec![None; ids.len()]);
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let mut pipe = redis::pipe();
        pipe.cmd("HVALS").arg(self.times_key());
        for id in ids {
            pipe.cmd("HGETALL")
                .arg(entity_key(&self.redis.prefix, "p:", entity, id));
        }
        type Reply = (Vec<i64>, Vec<Vec<(String, Vec<u8>)>>);
        let (times, hashes): Reply = self.redis.run("read", |con| {
            let mut values: Vec<redis::Value> = pipe.query(con)?;
            if values.is_empty() {
                return Ok((Vec::new(), Vec::new()));
            }
            let rest = values.split_off(1);
            let times: Vec<i64> = redis::from_redis_value(values.remove(0))?;
            let hashes = rest
                .into_iter()
                .map(redis::from_redis_value::<Vec<(String, Vec<u8>)>>)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((times, hashes))
        })?;
        if hashes.len() != ids.len() {
            return Err(Error::OnlineStore {
                store: self.redis.shown.clone(),
                reason: format!("{} entities asked, {} answered", ids.len(), hashes.len()),
            });
        }
        let Some(as_of) = times.into_iter().max() else {
            return Ok(vec![None; ids.len()]);
        };
        let rows = ids
            .iter()
            .zip(hashes)
            .map(|(id, mut fields)| {
                // In partition order, as the engine merges them: floating-point sums then
                // add up in the same order, to the last bit.
                fields.sort_by_key(|(p, _)| p.parse::<u32>().unwrap_or(u32::MAX));
                let parts: Vec<PartEntity> = fields
                    .iter()
                    // 8 bytes: a partition's tombstone (it dropped the entity).
                    .filter(|(_, v)| v.len() > 8)
                    .filter_map(|(p, v)| match PartEntity::decode(&self.set, &v[8..]) {
                        Ok(e) => Some(e),
                        Err(e) => {
                            metrics::counter!(m::ONLINE_STORE_ERRORS, "backend" => "redis-partitioned", "op" => "decode")
                                .increment(1);
                            tracing::warn!(entity, partition = %p, error = %e, "unreadable partition state; left out");
                            None
                        }
                    })
                    .collect();
                self.set.read_exported(&kind, id, as_of, &parts)
            })
            .collect();
        metrics::histogram!(m::ONLINE_STORE_READ_SECONDS, "backend" => "redis-partitioned")
            .record(started.elapsed().as_secs_f64());
        Ok(rows)
    }
}
