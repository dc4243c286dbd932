//! Consumer-group committed offsets: one JSON file per group, `groups/<group>.json`, replaced
//! atomically (write temp, fsync, rename, fsync directory) on every commit and cached in memory.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::write_atomic;
use crate::{validate_name, Error, Result};

/// Contents of one group file: topic → partition → next offset to read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    offsets: BTreeMap<String, BTreeMap<u32, u64>>,
}

pub(crate) struct OffsetStore {
    dir: PathBuf,
    fsync: bool,
    groups: Mutex<HashMap<String, Arc<Mutex<GroupFile>>>>,
}

impl OffsetStore {
    pub fn new(dir: PathBuf, fsync: bool) -> Self {
        OffsetStore {
            dir,
            fsync,
            groups: Mutex::new(HashMap::new()),
        }
    }

    fn path(&self, group: &str) -> PathBuf {
        self.dir.join(format!("{group}.json"))
    }

    /// The cached group, loaded from disk on first use.
    fn group(&self, group: &str) -> Result<Arc<Mutex<GroupFile>>> {
        validate_name("consumer group", group)?;
        let mut groups = self.groups.lock();
        if let Some(g) = groups.get(group) {
            return Ok(Arc::clone(g));
        }
        let loaded = Arc::new(Mutex::new(load(&self.path(group))?));
        groups.insert(group.to_owned(), Arc::clone(&loaded));
        Ok(loaded)
    }

    pub fn commit(&self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<()> {
        let g = self.group(group)?;
        let mut current = g.lock();
        let mut next = current.clone();
        next.offsets
            .entry(topic.to_owned())
            .or_default()
            .insert(partition, offset);
        let json = serde_json::to_vec_pretty(&next).map_err(|e| Error::Metadata {
            path: self.path(group).display().to_string(),
            reason: e.to_string(),
        })?;
        write_atomic(&self.path(group), &json, self.fsync)?;
        *current = next;
        Ok(())
    }

    pub fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>> {
        let g = self.group(group)?;
        let g = g.lock();
        Ok(g.offsets
            .get(topic)
            .and_then(|p| p.get(&partition))
            .copied())
    }
}

fn load(path: &Path) -> Result<GroupFile> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Metadata {
            path: path.display().to_string(),
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(GroupFile::default()),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_survive_a_new_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = OffsetStore::new(dir.path().to_path_buf(), true);
        assert_eq!(store.committed("g", "events", 0).expect("read"), None);
        store.commit("g", "events", 0, 10).expect("commit");
        store.commit("g", "events", 3, 7).expect("commit");
        store.commit("g", "events", 0, 12).expect("commit");
        store.commit("other", "events", 0, 1).expect("commit");
        let reopened = OffsetStore::new(dir.path().to_path_buf(), true);
        assert_eq!(
            reopened.committed("g", "events", 0).expect("read"),
            Some(12)
        );
        assert_eq!(reopened.committed("g", "events", 3).expect("read"), Some(7));
        assert_eq!(reopened.committed("g", "events", 1).expect("read"), None);
        assert_eq!(
            reopened.committed("other", "events", 0).expect("read"),
            Some(1)
        );
        assert!(!dir.path().join("g.json.tmp").exists());
    }

    #[test]
    fn bad_group_names_and_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = OffsetStore::new(dir.path().to_path_buf(), false);
        for bad in ["../evil", "a/b", "", ".."] {
            assert!(matches!(
                store.commit(bad, "t", 0, 1),
                Err(Error::InvalidName { .. })
            ));
            assert!(matches!(
                store.committed(bad, "t", 0),
                Err(Error::InvalidName { .. })
            ));
        }
        std::fs::write(dir.path().join("broken.json"), b"{not json").expect("write");
        assert!(matches!(
            store.committed("broken", "t", 0),
            Err(Error::Metadata { .. })
        ));
    }
}
