//! The model registry: trained models as versioned artifacts on disk, and which version each
//! model name serves.
//!
//! ```text
//! <data_dir>/models/<name>/v<N>/model.bin   the artifact (crate::artifact)
//! <data_dir>/models/<name>/v<N>/meta.json   ModelMeta: kind, params, data range, metrics
//! <data_dir>/models/<name>/current          Pointer (JSON): served version + rollback history
//! ```
//!
//! A version is written into a hidden staging directory and renamed to `v<N>` once complete,
//! so a crash never leaves a half-written version under a version name. The `current` pointer
//! is replaced atomically (temporary file, fsync, rename, fsync of the directory); a
//! leftover temporary file from a crash is ignored. Promoting pushes the served version onto
//! the pointer's history, and [`Registry::rollback`] pops it.

use std::io::Write;
use std::path::{Path, PathBuf};

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

fn version_of(dir_name: &str) -> Option<u32> {
    dir_name.strip_prefix('v')?.parse().ok()
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Versioned model artifacts under one directory (`<data_dir>/models`).
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

impl Registry {
    /// The registry of a data directory (`<data_dir>/models`; created on first save).
    pub fn open(data_dir: &Path) -> Registry {
        Registry {
            root: data_dir.join("models"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.root.join(name))
    }

    /// The directory of one version.
    pub fn version_dir(&self, name: &str, version: u32) -> Result<PathBuf> {
        Ok(self.dir(name)?.join(format!("v{version}")))
    }

    /// Stores `model` as the next version of `name` (not promoted) and returns its metadata.
    /// `meta.name` and `meta.version` are filled in here.
    pub fn save(&self, model: &Trained, mut meta: ModelMeta) -> Result<ModelMeta> {
        let dir = self.dir(&meta.name)?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let stage = dir.join(format!(".staging-{}", std::process::id()));
        if stage.exists() {
            std::fs::remove_dir_all(&stage).map_err(|e| Error::io(&stage, e))?;
        }
        std::fs::create_dir(&stage).map_err(|e| Error::io(&stage, e))?;
        let mut version = self.versions_of(&meta.name)?.last().copied().unwrap_or(0) + 1;
        meta.version = version;
        artifact::save(model, &stage.join(MODEL_FILE))?;
        // The version is rewritten if another trainer took this number first.
        loop {
            meta.version = version;
            let json = serde_json::to_vec_pretty(&meta).map_err(|e| bad(e.to_string()))?;
            write_synced(&stage.join(META_FILE), &json)?;
            sync_dir(&stage)?;
            let target = dir.join(format!("v{version}"));
            if target.exists() {
                version += 1;
                continue;
            }
            match std::fs::rename(&stage, &target) {
                Ok(()) => break,
                Err(_) if target.exists() => version += 1,
                Err(e) => return Err(Error::io(&target, e)),
            }
        }
        sync_dir(&dir)?;
        Ok(meta)
    }

    /// Version numbers of `name`, ascending (complete versions only).
    pub fn versions_of(&self, name: &str) -> Result<Vec<u32>> {
        let dir = self.dir(name)?;
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            if let Some(v) = entry.file_name().to_str().and_then(version_of) {
                if entry.path().join(META_FILE).is_file() {
                    out.push(v);
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The metadata of one version.
    pub fn meta(&self, name: &str, version: u32) -> Result<ModelMeta> {
        let path = self.version_dir(name, version)?.join(META_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(bad(format!(
                    "model {name} has no version {version}; see `tailor models list`"
                )))
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| Error::Artifact {
            path,
            reason: format!("bad metadata: {e}"),
        })
    }

    /// The trained model of one version.
    pub fn load(&self, name: &str, version: u32) -> Result<Trained> {
        artifact::load(&self.version_dir(name, version)?.join(MODEL_FILE))
    }

    /// Removes the user id `user` from the vocabulary of every version of every model that
    /// holds it (see [`crate::data::Interner::erase`]), rewriting those artifacts in place;
    /// returns the (name, version) pairs rewritten.
    pub fn erase_user(&self, user: &str) -> Result<Vec<(String, u32)>> {
        let mut out = Vec::new();
        for entry in self.list()? {
            for meta in entry.versions {
                let path = self
                    .version_dir(&entry.name, meta.version)?
                    .join(MODEL_FILE);
                let mut trained = artifact::load(&path)?;
                if trained.vocab.users.erase(user) {
                    artifact::save(&trained, &path)?;
                    out.push((entry.name.clone(), meta.version));
                }
            }
        }
        Ok(out)
    }

    /// Every model name with its versions and pointer, by name.
    pub fn list(&self) -> Result<Vec<ModelEntry>> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.root, e)),
        };
        let mut names = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&self.root, e))?;
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if let Some(n) = entry.file_name().to_str() {
                if is_dir && check_name(n).is_ok() {
                    names.push(n.to_owned());
                }
            }
        }
        names.sort();
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
            .collect()
    }

    /// The pointer of `name`, or `None` when no version was promoted yet.
    pub fn current(&self, name: &str) -> Result<Option<Pointer>> {
        let path = self.dir(name)?.join(POINTER_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                bad(format!(
                    "{} is corrupt ({e}); run `tailor models promote {name} VERSION`",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn write_pointer(&self, name: &str, p: &Pointer) -> Result<()> {
        let dir = self.dir(name)?;
        let tmp = dir.join(format!("{POINTER_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(p).map_err(|e| bad(e.to_string()))?;
        write_synced(&tmp, &json)?;
        let path = dir.join(POINTER_FILE);
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        sync_dir(&dir)
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
            let dir = self.version_dir(name, v)?;
            // The metadata goes first: without it the directory is no longer a version.
            let meta = dir.join(META_FILE);
            std::fs::remove_file(&meta).map_err(|e| Error::io(&meta, e))?;
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
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

#[cfg(test)]
mod tests;
