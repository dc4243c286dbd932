//! [`Blobs`] in the lake's object store: the model registry (`_models/`) and the processors'
//! partition checkpoints (`_checkpoints/`) live beside the lake's tables when the lake is in
//! S3-compatible storage, so trainers, processors and API replicas on different machines
//! share them. The `_` prefix keeps them out of the tables' paths (readers of the lake skip
//! `_`-prefixed directories, as they skip `_manifest/`).
//!
//! The blocking calls run on one small runtime of their own, so they work from any thread
//! (a blocking task, a librdkafka callback, the command line) without a caller's runtime.

use std::future::Future;
use std::io;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tailor_log::blobs::{check_key, Blobs, DirBlobs};

use crate::{Lake, LakeConfig, LakeLocation};

/// The lake folder of the model registry.
pub const MODELS_PREFIX: &str = "_models";
/// The lake folder of partition checkpoints.
pub const CHECKPOINTS_PREFIX: &str = "_checkpoints";

fn runtime() -> io::Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tailor-blobs")
        .enable_all()
        .build()?;
    // A second caller racing here builds one too; only one is kept (the other is dropped
    // on this thread, outside any runtime).
    Ok(RT.get_or_init(|| rt))
}

/// Blobs under a folder of an object store.
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    display: String,
}

impl std::fmt::Debug for ObjectBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlobs")
            .field("location", &self.display)
            .finish()
    }
}

fn to_io(e: object_store::Error) -> io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

impl ObjectBlobs {
    /// The folder `folder` of `lake` (e.g. [`MODELS_PREFIX`]).
    pub fn new(lake: &Lake, folder: &str) -> ObjectBlobs {
        ObjectBlobs {
            store: Arc::new(PrefixStore::new(lake.store().clone(), folder)),
            display: format!("{}/{folder}", lake.display().trim_end_matches('/')),
        }
    }

    fn block_on<T: Send + 'static>(
        &self,
        key: &str,
        f: impl Future<Output = io::Result<T>> + Send + 'static,
    ) -> io::Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime()?.spawn(async move {
            let _ = tx.send(f.await);
        });
        let out = rx
            .recv()
            .map_err(|_| io::Error::other("the object-store task stopped"))?;
        out.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.location(key))))
    }
}

impl Blobs for ObjectBlobs {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        check_key(key)?;
        let (store, path) = (self.store.clone(), Path::from(key));
        self.block_on(key, async move {
            match store.get(&path).await {
                Ok(r) => Ok(Some(r.bytes().await.map_err(to_io)?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(to_io(e)),
            }
        })
    }

    fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        check_key(key)?;
        let (store, path) = (self.store.clone(), Path::from(key));
        let payload = PutPayload::from_bytes(Bytes::copy_from_slice(bytes));
        self.block_on(key, async move {
            store.put(&path, payload).await.map(|_| ()).map_err(to_io)
        })
    }

    fn create(&self, key: &str, bytes: &[u8]) -> io::Result<bool> {
        check_key(key)?;
        let (store, path) = (self.store.clone(), Path::from(key));
        let bytes = Bytes::copy_from_slice(bytes);
        self.block_on(key, async move {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            match store
                .put_opts(&path, PutPayload::from_bytes(bytes.clone()), opts)
                .await
            {
                Ok(_) => Ok(true),
                Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                // A store without conditional puts: look first (a racing second writer is
                // then not detected; one trainer per registry avoids that).
                Err(object_store::Error::NotImplemented { .. }) => match store.head(&path).await {
                    Ok(_) => Ok(false),
                    Err(object_store::Error::NotFound { .. }) => {
                        store
                            .put(&path, PutPayload::from_bytes(bytes))
                            .await
                            .map_err(to_io)?;
                        Ok(true)
                    }
                    Err(e) => Err(to_io(e)),
                },
                Err(e) => Err(to_io(e)),
            }
        })
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        // Object stores list by path segments: list the folder part, filter by the rest.
        let folder = prefix.rsplit_once('/').map_or("", |(d, _)| d);
        if !folder.is_empty() {
            check_key(folder)?;
        }
        let store = self.store.clone();
        let (folder, prefix) = (folder.to_owned(), prefix.to_owned());
        self.block_on(&folder.clone(), async move {
            let under = (!folder.is_empty()).then(|| Path::from(folder.as_str()));
            let metas: Vec<_> = store
                .list(under.as_ref())
                .try_collect()
                .await
                .map_err(to_io)?;
            let mut keys: Vec<String> = metas
                .into_iter()
                .map(|m| m.location.to_string())
                .filter(|k| k.starts_with(&prefix) && !k.split('/').any(|c| c.starts_with('.')))
                .collect();
            keys.sort();
            Ok(keys)
        })
    }

    fn delete(&self, key: &str) -> io::Result<()> {
        check_key(key)?;
        let (store, path) = (self.store.clone(), Path::from(key));
        self.block_on(key, async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(to_io(e)),
            }
        })
    }

    fn location(&self, key: &str) -> String {
        format!("{}/{key}", self.display)
    }
}

/// The folder `folder` ([`MODELS_PREFIX`] or [`CHECKPOINTS_PREFIX`]) beside the lake's
/// tables when the lake is in object storage (shared by every machine); `None` for a local
/// lake.
pub fn shared(
    config: &LakeConfig,
    data_dir: &std::path::Path,
    folder: &str,
) -> crate::Result<Option<Arc<dyn Blobs>>> {
    match config.location(data_dir)? {
        LakeLocation::Local(_) => Ok(None),
        // A store of its own: its connections belong to the blob runtime.
        LakeLocation::S3 { .. } => Ok(Some(Arc::new(ObjectBlobs::new(
            &Lake::open(config, data_dir)?,
            folder,
        )))),
    }
}

/// Where a deployment keeps `folder`: [`shared`] when the lake is in object storage, else
/// the local directory `local`.
pub fn shared_or_local(
    config: &LakeConfig,
    data_dir: &std::path::Path,
    folder: &str,
    local: std::path::PathBuf,
) -> crate::Result<Arc<dyn Blobs>> {
    Ok(shared(config, data_dir, folder)?.unwrap_or_else(|| Arc::new(DirBlobs::new(local))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local lake's object store behaves as every blob backend must (the S3 case runs in
    /// the integration tests, against moto).
    #[test]
    fn a_local_object_store_behaves_as_every_backend_must() {
        let dir = tempfile::tempdir().expect("tmp");
        let lake = Lake::local(dir.path()).expect("lake");
        let blobs = ObjectBlobs::new(&lake, MODELS_PREFIX);
        tailor_log::blobs::conformance(&blobs);
    }
}
