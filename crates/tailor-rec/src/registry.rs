//! The model registry: trained models as versioned artifacts, and which version each model
//! name serves. The artifacts are [`Blobs`]: a directory (`<data_dir>/models`) on one
//! machine, or the lake's bucket (`_models/`) when trainers and API replicas run on
//! several.
//!
//! ```text
//! <name>/v<N>/model.bin   the artifact (crate::artifact)
//! <name>/v<N>/meta.json   ModelMeta: kind, params, data range, metrics
//! <name>/current          Pointer (JSON): served version + rollback history
//! ```
//!
//! Saving claims a version number by creating its `model.bin` only if absent (so two
//! trainers never share a number) and writes `meta.json` last: a version without metadata
//! (a crash in between) is not listed, and the next save skips its number. The `current`
//! pointer is replaced whole. Promoting pushes the served version onto the pointer's
//! history, and [`Registry::rollback`] pops it.

use std::path::Path;
use std::sync::Arc;

use tailor_log::blobs::{Blobs, DirBlobs};

use serde::{Deserialize, Serialize};

use crate::artifact::{self, Trained};
use crate::data::Interactions;
use crate::eval::{ModelReport, Protocol};
use crate::model::ModelSpec;
use crate::{Error, Result};

const MODEL_FILE: &str = "model.bin";
const META_FILE: &str = "meta.json";
const POINTER_FILE: &str = "current";
/// Previous versions kept in the pointer for rollback.
const HISTORY: usize = 16;

/// The training data a version was fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRange {
    pub first_event_ms: i64,
    pub last_event_ms: i64,
    pub rows: usize,
    pub users: usize,
    pub items: usize,
}

impl DataRange {
    pub fn of(data: &Interactions) -> DataRange {
        DataRange {
            first_event_ms: data.rows.iter().map(|r| r.ts_ms).min().unwrap_or(0),
            last_event_ms: data.max_ts_ms(),
            rows: data.len(),
            users: data.n_users(),
            items: data.n_items(),
        }
    }
}

/// Offline metrics of a version on a hold-out split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineMetrics {
    pub protocol: Protocol,
    /// Test cases evaluated.
    pub cases: usize,
    /// `(metric, value)`, e.g. `("HR@10", 0.19)`.
    pub metrics: Vec<(String, f64)>,
}

impl OfflineMetrics {
    pub fn from_report(protocol: &Protocol, cases: usize, m: &ModelReport) -> OfflineMetrics {
        OfflineMetrics {
            protocol: protocol.clone(),
            cases,
            metrics: m.metrics.clone(),
        }
    }
}

/// What `meta.json` says about a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    pub name: String,
    pub version: u32,
    /// The model kind (`blend`, `als`, `item_knn`, …).
    pub kind: String,
    pub params: ModelSpec,
    pub data: DataRange,
    pub metrics: Option<OfflineMetrics>,
    pub train_secs: f64,
    /// Unix milliseconds.
    pub trained_at_ms: i64,
}

/// The `current` file of a model name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pointer {
    /// The served version.
    pub version: u32,
    /// Previously served versions, most recent last ([`Registry::rollback`] pops it).
    pub history: Vec<u32>,
}

/// A model name with its versions, as [`Registry::list`] returns them.
#[derive(Debug, Clone)]
pub struct ModelEntry {
    pub name: String,
    pub current: Option<Pointer>,
    /// Oldest first.
    pub versions: Vec<ModelMeta>,
}

/// The model kind as `meta.json` names it (the `ModelSpec` serde tag).
pub fn kind_of(spec: &ModelSpec) -> &'static str {
    match spec {
        ModelSpec::Trending(_) => "trending",
        ModelSpec::ItemKnn(_) => "item_knn",
        ModelSpec::Als(_) => "als",
        ModelSpec::Ease(_) => "ease",
        ModelSpec::SessionKnn(_) => "session_knn",
        ModelSpec::Blend(_) => "blend",
        ModelSpec::Repeat(_) => "repeat",
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Registry(msg.into())
}

/// Model names are path components: letters, digits, `-`, `_` and `.`, not starting with `.`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "invalid model name {name:?}: use letters, digits, '-', '_' or '.' (not first)"
        )))
    }
}

/// A blob store's error (its message names the location already).
fn store_err(e: std::io::Error) -> Error {
    bad(e.to_string())
}

fn version_of(dir_name: &str) -> Option<u32> {
    dir_name.strip_prefix('v')?.parse().ok()
}

/// Versioned model artifacts in a blob store.
#[derive(Clone)]
pub struct Registry {
    blobs: Arc<dyn Blobs>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("location", &self.location())
            .finish()
    }
}

impl Registry {
    /// The registry of a data directory (`<data_dir>/models`; created on first save).
    pub fn open(data_dir: &Path) -> Registry {
        Registry::new(Arc::new(DirBlobs::new(data_dir.join("models"))))
    }

    /// The registry in `blobs` (for instance the lake's `_models/` folder).
    pub fn new(blobs: Arc<dyn Blobs>) -> Registry {
        Registry { blobs }
    }

    /// Where the registry lives, for messages.
    pub fn location(&self) -> String {
        self.blobs.location("").trim_end_matches('/').to_owned()
    }

    fn key(&self, name: &str, file: &str) -> Result<String> {
        check_name(name)?;
        Ok(format!("{name}/{file}"))
    }

    fn version_key(&self, name: &str, version: u32, file: &str) -> Result<String> {
        self.key(name, &format!("v{version}/{file}"))
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.blobs.get(key).map_err(store_err)
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.blobs.put(key, bytes).map_err(store_err)
    }

    /// Where one version's artifact lives (a path or an object URL), for messages.
    pub fn artifact_location(&self, name: &str, version: u32) -> Result<String> {
        Ok(self
            .blobs
            .location(&self.version_key(name, version, MODEL_FILE)?))
    }

    /// Stores `model` as the next version of `name` (not promoted) and returns its metadata.
    /// `meta.name` and `meta.version` are filled in here.
    pub fn save(&self, model: &Trained, mut meta: ModelMeta) -> Result<ModelMeta> {
        check_name(&meta.name)?;
        let bytes = artifact::to_bytes(model)?;
        let mut version = self.versions_of(&meta.name)?.last().copied().unwrap_or(0) + 1;
        // A number another trainer (or a crashed save) took is skipped.
        loop {
            let key = self.version_key(&meta.name, version, MODEL_FILE)?;
            if self.blobs.create(&key, &bytes).map_err(store_err)? {
                break;
            }
            version += 1;
        }
        meta.version = version;
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| bad(e.to_string()))?;
        self.put(&self.version_key(&meta.name, version, META_FILE)?, &json)?;
        Ok(meta)
    }

    /// Version numbers of `name`, ascending (complete versions only).
    pub fn versions_of(&self, name: &str) -> Result<Vec<u32>> {
        let prefix = self.key(name, "")?;
        let keys = self.blobs.list(&prefix).map_err(store_err)?;
        let mut out: Vec<u32> = keys
            .iter()
            .filter_map(|k| {
                let (dir, file) = k.strip_prefix(&prefix)?.split_once('/')?;
                (file == META_FILE).then(|| version_of(dir)).flatten()
            })
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// The metadata of one version.
    pub fn meta(&self, name: &str, version: u32) -> Result<ModelMeta> {
        let key = self.version_key(name, version, META_FILE)?;
        let Some(bytes) = self.get(&key)? else {
            return Err(bad(format!(
                "model {name} has no version {version}; see `tailor models list`"
            )));
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::Artifact {
            path: self.blobs.location(&key).into(),
            reason: format!("bad metadata: {e}"),
        })
    }

    /// The trained model of one version.
    pub fn load(&self, name: &str, version: u32) -> Result<Trained> {
        let key = self.version_key(name, version, MODEL_FILE)?;
        let bytes = self.get(&key)?.ok_or_else(|| {
            bad(format!(
                "model {name} v{version} has no artifact at {}",
                self.blobs.location(&key)
            ))
        })?;
        artifact::from_bytes(&bytes).map_err(|e| match e {
            Error::Artifact { reason, .. } => Error::Artifact {
                path: self.blobs.location(&key).into(),
                reason,
            },
            e => e,
        })
    }

    /// Removes the user id `user` and the items they had from the vocabulary of every
    /// version of every model that holds it (see [`crate::data::Interner::erase`]),
    /// rewriting those artifacts in place;
    /// returns the (name, version) pairs rewritten.
    pub fn erase_user(&self, user: &str) -> Result<Vec<(String, u32)>> {
        let mut out = Vec::new();
        for entry in self.list()? {
            for meta in entry.versions {
                let mut trained = self.load(&entry.name, meta.version)?;
                // What the user had goes too (who they were is what the vocabulary held).
                if let Some(items) = trained
                    .vocab
                    .users
                    .get(user)
                    .and_then(|u| trained.vocab.user_items.get_mut(u as usize))
                {
                    *items = Vec::new();
                }
                if trained.vocab.users.erase(user) {
                    let key = self.version_key(&entry.name, meta.version, MODEL_FILE)?;
                    self.put(&key, &artifact::to_bytes(&trained)?)?;
                    out.push((entry.name.clone(), meta.version));
                }
            }
        }
        Ok(out)
    }

    /// Every model name with its versions and pointer, by name.
    pub fn list(&self) -> Result<Vec<ModelEntry>> {
        let keys = self.blobs.list("").map_err(store_err)?;
        let mut names: Vec<String> = keys
            .iter()
            .filter_map(|k| k.split_once('/').map(|(n, _)| n))
            .filter(|n| check_name(n).is_ok())
            .map(str::to_owned)
            .collect();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let versions = self
                    .versions_of(&name)?
                    .into_iter()
                    .map(|v| self.meta(&name, v))
                    .collect::<Result<Vec<_>>>()?;
                Ok(ModelEntry {
                    current: self.current(&name)?,
                    name,
                    versions,
                })
            })
            .collect::<Result<Vec<ModelEntry>>>()
            .map(|mut entries| {
                entries.retain(|e| !e.versions.is_empty() || e.current.is_some());
                entries
            })
    }

    /// The pointer of `name`, or `None` when no version was promoted yet.
    pub fn current(&self, name: &str) -> Result<Option<Pointer>> {
        let key = self.key(name, POINTER_FILE)?;
        match self.get(&key)? {
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                bad(format!(
                    "{} is corrupt ({e}); run `tailor models promote {name} VERSION`",
                    self.blobs.location(&key)
                ))
            }),
            None => Ok(None),
        }
    }

    fn write_pointer(&self, name: &str, p: &Pointer) -> Result<()> {
        let json = serde_json::to_vec_pretty(p).map_err(|e| bad(e.to_string()))?;
        self.put(&self.key(name, POINTER_FILE)?, &json)
    }

    /// Serves `version` of `name`; the version served until now is kept for rollback.
    pub fn promote(&self, name: &str, version: u32) -> Result<Pointer> {
        if !self.versions_of(name)?.contains(&version) {
            return Err(bad(format!(
                "model {name} has no version {version}; see `tailor models list`"
            )));
        }
        let mut history = Vec::new();
        if let Some(cur) = self.current(name)? {
            if cur.version == version {
                return Ok(cur);
            }
            history = cur.history;
            history.push(cur.version);
            if history.len() > HISTORY {
                history.drain(..history.len() - HISTORY);
            }
        }
        let p = Pointer { version, history };
        self.write_pointer(name, &p)?;
        Ok(p)
    }

    /// Serves the previously served version of `name` again.
    pub fn rollback(&self, name: &str) -> Result<Pointer> {
        let cur = self.current(name)?.ok_or_else(|| {
            bad(format!(
                "model {name} has no promoted version; nothing to roll back"
            ))
        })?;
        let mut history = cur.history;
        let version = history.pop().ok_or_else(|| {
            bad(format!(
                "model {name} v{} has no previous version to roll back to",
                cur.version
            ))
        })?;
        let p = Pointer { version, history };
        self.write_pointer(name, &p)?;
        Ok(p)
    }

    /// Deletes old versions of `name`: keeps the `keep` newest, the served one and every
    /// version rollback can reach. Returns the deleted version numbers.
    pub fn prune(&self, name: &str, keep: usize) -> Result<Vec<u32>> {
        if keep == 0 {
            return Err(bad("prune: keep at least 1 version"));
        }
        let versions = self.versions_of(name)?;
        let mut pinned: Vec<u32> = versions.iter().rev().take(keep).copied().collect();
        if let Some(p) = self.current(name)? {
            pinned.push(p.version);
            pinned.extend(p.history);
        }
        let mut removed = Vec::new();
        for v in versions {
            if pinned.contains(&v) {
                continue;
            }
            // The metadata goes first: without it the version is no longer listed.
            for file in [META_FILE, MODEL_FILE] {
                let key = self.version_key(name, v, file)?;
                self.blobs.delete(&key).map_err(store_err)?;
            }
            removed.push(v);
        }
        Ok(removed)
    }

    /// The served version of `name`: its metadata and trained model.
    pub fn load_current(&self, name: &str) -> Result<(ModelMeta, Trained)> {
        let cur = self.current(name)?.ok_or_else(|| {
            bad(format!(
                "model {name} has no promoted version; run `tailor train` first"
            ))
        })?;
        Ok((self.meta(name, cur.version)?, self.load(name, cur.version)?))
    }
}

#[doc(hidden)]
pub mod conformance;
#[cfg(test)]
mod tests;
