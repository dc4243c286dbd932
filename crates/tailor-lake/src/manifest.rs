//! The manifest: the lake's single commit point.
//!
//! Each commit writes a new, immutable `_manifest/<version:020>.json` with a create-only put
//! (a second writer is detected, not overwritten). A manifest lists every committed data file
//! of every table, the next log offset to consume per topic and partition, and the files that
//! were replaced (by compaction or retention) but are still kept for readers during a grace
//! period. Readers and the sink load the newest manifest that parses; the last
//! [`KEEP_VERSIONS`] versions are kept so a torn newest one falls back to its predecessor.

use std::collections::BTreeMap;

use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::layout::{manifest_path, manifest_version, Table, MANIFEST_DIR};
use crate::store::{Lake, PutOutcome};
use crate::{Error, Result};

/// Manifest format written by this version of Tailor.
pub const FORMAT: u32 = 1;
/// Older manifest versions kept after a commit.
pub const KEEP_VERSIONS: u64 = 10;

/// One committed data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFile {
    pub table: Table,
    /// Path relative to the lake root.
    pub path: String,
    /// Hive partition day, `YYYY-MM-DD`.
    pub dt: String,
    /// Hive partition hour (hourly tables only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
    pub rows: u64,
    pub bytes: u64,
    /// Smallest and largest partitioning time of the rows (event time, or received time for
    /// dead letters), ms since the epoch.
    pub min_time_ms: i64,
    pub max_time_ms: i64,
}

/// A file no longer in the table, deleted once the grace period has passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemovedFile {
    pub path: String,
    pub removed_at_ms: i64,
}

/// One version of the lake's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// 0 for the empty lake (never written); the first commit is version 1.
    pub version: u64,
    pub committed_at_ms: i64,
    /// Next log offset to consume, per topic and partition: every record below it is in
    /// exactly one committed file.
    pub offsets: BTreeMap<String, BTreeMap<u32, u64>>,
    /// Newest partitioning time of any committed events row (for the commit-lag metric).
    #[serde(default)]
    pub newest_event_time_ms: Option<i64>,
    pub files: Vec<DataFile>,
    #[serde(default)]
    pub removed: Vec<RemovedFile>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            format: FORMAT,
            version: 0,
            committed_at_ms: 0,
            offsets: BTreeMap::new(),
            newest_event_time_ms: None,
            files: Vec::new(),
            removed: Vec::new(),
        }
    }
}

impl Manifest {
    /// The committed offset (next to consume) of a topic partition.
    pub fn offset(&self, topic: &str, partition: u32) -> Option<u64> {
        self.offsets.get(topic)?.get(&partition).copied()
    }

    /// Committed files of one table.
    pub fn files_of(&self, table: Table) -> impl Iterator<Item = &DataFile> {
        self.files.iter().filter(move |f| f.table == table)
    }

    /// Rows committed in one table.
    pub fn rows_of(&self, table: Table) -> u64 {
        self.files_of(table).map(|f| f.rows).sum()
    }
}

/// The newest readable manifest and the version the next commit must take.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    /// One past the highest version present (readable or not).
    pub next_version: u64,
}

/// Every manifest version present, ascending.
async fn versions(lake: &Lake) -> Result<Vec<u64>> {
    let mut v: Vec<u64> = lake
        .list(MANIFEST_DIR)
        .await?
        .iter()
        .filter_map(|m| manifest_version(&m.location))
        .collect();
    v.sort_unstable();
    Ok(v)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::Manifest {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    if m.format != FORMAT {
        return Err(Error::Manifest {
            path: path.to_string(),
            reason: format!(
                "format {} is not supported (this build reads format {FORMAT}); upgrade Tailor",
                m.format
            ),
        });
    }
    if manifest_version(path) != Some(m.version) {
        return Err(Error::Manifest {
            path: path.to_string(),
            reason: format!("holds version {}", m.version),
        });
    }
    Ok(m)
}

/// Loads the newest manifest that parses (an empty one for a new lake). An unreadable newest
/// version (a torn write) falls back to the one before, with a warning.
pub async fn load(lake: &Lake) -> Result<Loaded> {
    let versions = versions(lake).await?;
    let next_version = versions.last().map_or(1, |v| v + 1);
    let mut last_err = None;
    for &v in versions.iter().rev() {
        let path = manifest_path(v);
        let parsed = match lake.get(&path).await {
            Ok(bytes) => parse(&path, &bytes),
            // Pruned by the writer between our list and get: an older one follows.
            Err(Error::Store {
                source: object_store::Error::NotFound { .. },
                ..
            }) => continue,
            Err(e) => return Err(e),
        };
        match parsed {
            Ok(manifest) => {
                return Ok(Loaded {
                    manifest,
                    next_version,
                })
            }
            Err(e @ Error::Manifest { .. }) if e.to_string().contains("not supported") => {
                return Err(e)
            }
            Err(e) => {
                tracing::warn!(error = %e, "skipping unreadable lake manifest");
                last_err = Some(e);
            }
        }
    }
    match (versions.is_empty(), last_err) {
        (false, Some(e)) => Err(e),
        _ => Ok(Loaded {
            manifest: Manifest::default(),
            next_version,
        }),
    }
}

/// Writes `manifest` as version `next_version` (create-only): the commit point. A version
/// that already exists with the same content (a retried commit whose first attempt did land)
/// counts as committed; different content means another writer.
pub(crate) async fn commit(lake: &Lake, manifest: &mut Manifest, next_version: u64) -> Result<()> {
    manifest.version = next_version;
    manifest.format = FORMAT;
    let path = manifest_path(next_version);
    let bytes = serde_json::to_vec(&manifest).map_err(|e| Error::Manifest {
        path: path.to_string(),
        reason: format!("cannot encode: {e}"),
    })?;
    match lake.put_if_absent(&path, bytes.into()).await? {
        PutOutcome::Created => {}
        PutOutcome::Exists(existing) => {
            let same = parse(&path, &existing).is_ok_and(|m| m == *manifest);
            if !same {
                return Err(Error::Conflict {
                    version: next_version,
                });
            }
        }
    }
    if next_version > KEEP_VERSIONS {
        // Best effort: a failed prune leaves an extra old version, which is harmless.
        if let Err(e) = lake
            .delete(&manifest_path(next_version - KEEP_VERSIONS))
            .await
        {
            tracing::warn!(error = %e, "could not delete an old lake manifest");
        }
    }
    Ok(())
}

/// Deletes manifest versions older than the last [`KEEP_VERSIONS`] (after a crash skipped
/// the per-commit pruning).
pub(crate) async fn prune(lake: &Lake, newest: u64) -> Result<()> {
    for v in versions(lake).await? {
        if v + KEEP_VERSIONS <= newest {
            lake.delete(&manifest_path(v)).await?;
        }
    }
    Ok(())
}
