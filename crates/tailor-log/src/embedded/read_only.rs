//! Read-only opening of an embedded log, for tools (`tailor log dump`, `tailor dead-letters`)
//! that inspect a log which another process, such as a running `tailor serve`, owns and
//! writes: no `LOCK`, no writer thread, and nothing on disk is created, changed or removed.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::offsets::OffsetStore;
use super::partition::Partition;
use super::{list_topics, EmbeddedLog, EmbeddedOptions, Topic};
use crate::metrics as m;
use crate::{Error, Result};

impl EmbeddedLog {
    /// Open the log in `dir` read-only, as a snapshot of what is on disk now, even while
    /// another process holds it open for writing.
    ///
    /// The `LOCK` is not taken, no writer thread starts and no file is created, truncated,
    /// removed or repaired. The snapshot holds the topics and the whole records on disk at
    /// open time: the last segment of each partition is read up to its first short or invalid
    /// frame (a writer may be mid-write; the file is left as it is), and every other segment
    /// is verified on read as usual ([`Error::Corrupt`], never bad data). Records a writer
    /// has written but not yet acknowledged may be part of the snapshot.
    ///
    /// `read`, `start_offset`, `end_offset`, `partitions`, `topics` and `committed` answer
    /// from the snapshot (committed offsets are read on first use of each group); `wait_for`
    /// never sees new records and times out; `append`, `commit` and `create_topic` of a new
    /// topic fail with [`Error::ReadOnly`]; `close` does nothing.
    ///
    /// A missing directory, or one without topics, is [`Error::NoLog`].
    pub fn open_read_only(dir: &Path) -> Result<Arc<EmbeddedLog>> {
        m::describe();
        let no_log = |reason: &str| Error::NoLog {
            dir: dir.display().to_string(),
            reason: reason.to_owned(),
        };
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(no_log("it is not a directory")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(no_log("the directory does not exist"))
            }
            Err(e) => return Err(Error::io(format!("inspecting {}", dir.display()), e)),
        }
        let topics_dir = dir.join("topics");
        if !topics_dir.is_dir() {
            return Err(no_log("it has no topics directory"));
        }
        let listed = list_topics(&topics_dir)?;
        if listed.is_empty() {
            return Err(no_log("it has no topics"));
        }
        let mut topics = HashMap::with_capacity(listed.len());
        for (name, partitions) in listed {
            let topic: Arc<str> = Arc::from(name.as_str());
            let tdir = topics_dir.join(&name);
            let parts = (0..partitions)
                .map(|p| {
                    Partition::open_read_only(Arc::clone(&topic), p, tdir.join(p.to_string()))
                        .map(Arc::new)
                })
                .collect::<Result<Vec<_>>>()?;
            topics.insert(
                name,
                Arc::new(Topic {
                    name: topic,
                    partitions: parts,
                }),
            );
        }
        let opts = EmbeddedOptions {
            fsync: false,
            ..EmbeddedOptions::default()
        };
        Ok(Arc::new(EmbeddedLog {
            dir: dir.to_path_buf(),
            offsets: OffsetStore::new(dir.join("groups"), false),
            opts,
            topics: RwLock::new(topics),
            create_lock: Mutex::new(()),
            tx: RwLock::new(None),
            writer: Mutex::new(None),
            depth: Arc::new(AtomicUsize::new(0)),
            read_only: true,
            _lock: None,
        }))
    }
}
