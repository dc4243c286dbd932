//! The lake's object store, chosen by URL: a local directory ([`LocalFileSystem`]) or an
//! S3-compatible bucket ([`AmazonS3`](object_store::aws::AmazonS3)) under a key prefix. All
//! lake paths (`_manifest/…`, `events/dt=…/…`) are relative to the lake root.
//!
//! `put` is atomic on both backends (a local put writes a staging file and renames it; an S3
//! PUT is all-or-nothing). Locally, [`Lake::put`] also fsyncs the file and its directory, so
//! a committed manifest never points at data lost in a power cut.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::config::{LakeConfig, LakeLocation};
use crate::{Error, Result};

/// A handle on a lake's storage; cheap to clone.
#[derive(Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    /// The root directory when the lake is local (for fsync).
    local_root: Option<PathBuf>,
    /// Human-readable location, for messages.
    display: String,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("location", &self.display)
            .finish()
    }
}

/// What `put_if_absent` found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PutOutcome {
    Created,
    /// The object already existed, with these bytes.
    Exists(Bytes),
}

impl Lake {
    /// Opens the lake that `config` names (after validating it); relative paths resolve
    /// against `data_dir`. A local directory is created if missing.
    pub fn open(config: &LakeConfig, data_dir: &FsPath) -> Result<Lake> {
        config.validate()?;
        match config.location(data_dir)? {
            LakeLocation::Local(dir) => Lake::local(&dir),
            LakeLocation::S3 { bucket, prefix } => {
                let mut b = AmazonS3Builder::from_env().with_bucket_name(&bucket);
                if let Some(e) = &config.endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(r) = &config.region {
                    b = b.with_region(r);
                }
                if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key)
                {
                    b = b.with_access_key_id(id).with_secret_access_key(secret);
                }
                if config.allow_http {
                    b = b.with_allow_http(true);
                }
                let s3 = b.build().map_err(|e| {
                    Error::Config(format!("lake.url: cannot use s3://{bucket}: {e}"))
                })?;
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                };
                Ok(Lake {
                    store,
                    local_root: None,
                    display: format!("s3://{bucket}/{prefix}"),
                })
            }
        }
    }

    /// A lake in a local directory (created if missing).
    pub fn local(dir: &FsPath) -> Result<Lake> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating lake directory {}", dir.display()), e))?;
        let root = dir
            .canonicalize()
            .map_err(|e| Error::io(format!("resolving lake directory {}", dir.display()), e))?;
        let store = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| Error::store(format!("opening {}", root.display()), e))?;
        Ok(Lake {
            store: Arc::new(store),
            display: root.display().to_string(),
            local_root: Some(root),
        })
    }

    /// A lake on any object store (tests, or stores this crate does not build itself).
    pub fn from_store(store: Arc<dyn ObjectStore>, display: impl Into<String>) -> Lake {
        Lake {
            store,
            local_root: None,
            display: display.into(),
        }
    }

    /// The underlying object store; paths are relative to the lake root.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The local root directory, when the lake is local.
    pub fn local_root(&self) -> Option<&FsPath> {
        self.local_root.as_deref()
    }

    /// Where the lake lives, for messages.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Writes an object atomically (replacing any previous one) and makes it durable.
    pub(crate) async fn put(&self, path: &Path, bytes: Bytes) -> Result<()> {
        self.store
            .put(path, PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| Error::store(format!("writing {path}"), e))?;
        self.sync(path).await
    }

    /// Creates an object only if it does not exist yet. Stores that cannot do conditional
    /// puts fall back to an overwrite (then a second writer is not detected).
    pub(crate) async fn put_if_absent(&self, path: &Path, bytes: Bytes) -> Result<PutOutcome> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(path, PutPayload::from_bytes(bytes.clone()), opts)
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                return Ok(PutOutcome::Exists(self.get(path).await?));
            }
            Err(object_store::Error::NotImplemented { .. }) => {
                tracing::debug!(%path, "store has no conditional put; overwriting");
                self.store
                    .put(path, PutPayload::from_bytes(bytes))
                    .await
                    .map_err(|e| Error::store(format!("writing {path}"), e))?;
            }
            Err(e) => return Err(Error::store(format!("writing {path}"), e)),
        }
        self.sync(path).await?;
        Ok(PutOutcome::Created)
    }

    /// fsync a local file and its directory (no-op for remote stores).
    pub(crate) async fn sync(&self, path: &Path) -> Result<()> {
        let Some(root) = &self.local_root else {
            return Ok(());
        };
        let file = root.join(path.as_ref());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::File::open(&file)?.sync_all()?;
            if let Some(dir) = file.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::io("syncing a lake file", std::io::Error::other(e)))?
        .map_err(|e| Error::io(format!("syncing {path}"), e))
    }

    pub(crate) async fn get(&self, path: &Path) -> Result<Bytes> {
        let r = self
            .store
            .get(path)
            .await
            .map_err(|e| Error::store(format!("reading {path}"), e))?;
        r.bytes()
            .await
            .map_err(|e| Error::store(format!("reading {path}"), e))
    }

    /// Every object under `prefix` (recursively).
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = Path::from(prefix);
        self.store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| Error::store(format!("listing {prefix}"), e))
    }

    /// Deletes an object; a missing one is not an error.
    pub(crate) async fn delete(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::store(format!("deleting {path}"), e)),
        }
    }
}
