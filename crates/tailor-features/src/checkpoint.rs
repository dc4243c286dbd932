//! Atomic checkpoints of all processor state — [`LiveState`] and the feature engine's
//! per-partition states — together with the log offsets they cover.
//!
//! File: `TLCK` magic, format version (u32 LE), CRC-32C of the payload (u32 LE), payload
//! length (u64 LE), then the bincode payload ([`Snapshot`]). Version 1 files (live state
//! only, written before the feature engine existed) are not restored: the processor
//! rebuilds everything from offset 0, which the log still holds. Written to a temporary file, fsynced, renamed
//! over the previous checkpoint and the directory fsynced: a crash leaves either the old or
//! the new checkpoint, never a mix.
//!
//! [`rebuild_checkpoint`] writes one from a recorded history instead of the live processor
//! (`tailor features backfill`, from the lake).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tailor_log::Blobs;

use serde::{Deserialize, Serialize};

use crate::state::LiveState;
use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"TLCK";
const VERSION: u32 = 2;

/// What one checkpoint holds. Both parts cover exactly `live.offsets`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub live: LiveState,
    /// The feature engine's encoded partition states, by partition
    /// ([`crate::engine::PartitionState::encode`]).
    pub features: Vec<Vec<u8>>,
}
const HEADER: usize = 4 + 4 + 4 + 8;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Serializes the state into checkpoint bytes.
pub fn encode_checkpoint(state: &Snapshot) -> Vec<u8> {
    // bincode of plain owned data into a Vec cannot fail.
    let payload = bincode::serialize(state).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Decodes checkpoint bytes; never panics on arbitrary input.
pub fn decode_checkpoint(bytes: &[u8]) -> Result<Snapshot, String> {
    if bytes.len() < HEADER || &bytes[..4] != MAGIC {
        return Err("not a Tailor checkpoint".into());
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if word(4) != VERSION {
        return Err(format!(
            "unsupported checkpoint version {} (this build reads {VERSION})",
            word(4)
        ));
    }
    let crc = word(8);
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[12..20]);
    let len = u64::from_le_bytes(len);
    let payload = &bytes[HEADER..];
    if payload.len() as u64 != len {
        return Err(format!(
            "payload is {} bytes, header says {len}",
            payload.len()
        ));
    }
    if crc32c::crc32c(payload) != crc {
        return Err("checksum mismatch".into());
    }
    bincode::deserialize(payload).map_err(|e| e.to_string())
}

/// Writes `bytes` (from [`encode_checkpoint`]) as the checkpoint at `path`, atomically.
pub fn write_checkpoint(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    // Per process: with processors sharing partitions, the one handing a partition over
    // and the one taking it may write its checkpoint at the same moment.
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    tailor_log::failpoint::hit("checkpoint.before_rename");
    fs::rename(&tmp, path).map_err(io(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    tailor_log::failpoint::hit("checkpoint.after_rename");
    Ok(())
}

/// Loads the checkpoint at `path`; `None` when there is none yet, or when it was written
/// by an older format (the caller then rebuilds from offset 0).
pub fn load_checkpoint(path: &Path) -> Result<Option<Snapshot>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    parse_checkpoint(&bytes, &path.display().to_string())
}

fn parse_checkpoint(bytes: &[u8], location: &str) -> Result<Option<Snapshot>> {
    if bytes.len() >= 8 && &bytes[..4] == MAGIC && bytes[4..8] == 1u32.to_le_bytes() {
        tracing::warn!(
            path = %location,
            "checkpoint has the format before feature state; rebuilding all state from offset 0"
        );
        return Ok(None);
    }
    decode_checkpoint(bytes)
        .map(Some)
        .map_err(|reason| Error::CorruptCheckpoint {
            path: location.to_owned(),
            reason,
        })
}

/// Where the processor's checkpoint lives: a file of the data directory (the default), or a
/// blob of the lake's bucket when the lake is in object storage (ADR 0017), so a processor
/// started on another machine resumes from it.
#[derive(Clone)]
pub enum CheckpointStore {
    File(PathBuf),
    Blob(Arc<dyn Blobs>, String),
}

impl std::fmt::Debug for CheckpointStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.location())
    }
}

impl CheckpointStore {
    /// Where it is, for messages.
    pub fn location(&self) -> String {
        match self {
            CheckpointStore::File(p) => p.display().to_string(),
            CheckpointStore::Blob(b, key) => b.location(key),
        }
    }

    /// The stored checkpoint ([`load_checkpoint`]'s rules).
    pub fn load(&self) -> Result<Option<Snapshot>> {
        match self {
            CheckpointStore::File(p) => load_checkpoint(p),
            CheckpointStore::Blob(b, key) => match b.get(key) {
                Ok(Some(bytes)) => parse_checkpoint(&bytes, &self.location()),
                Ok(None) => Ok(None),
                Err(source) => Err(Error::Io {
                    path: self.location(),
                    source,
                }),
            },
        }
    }

    /// Replaces the checkpoint with `bytes` (from [`encode_checkpoint`]), atomically.
    pub fn write(&self, bytes: &[u8]) -> Result<()> {
        match self {
            CheckpointStore::File(p) => write_checkpoint(p, bytes),
            CheckpointStore::Blob(b, key) => b.put(key, bytes).map_err(|source| Error::Io {
                path: self.location(),
                source,
            }),
        }
    }
}

/// What [`rebuild_checkpoint`] applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    pub events: u64,
    pub late_events: u64,
    pub entities: u64,
    /// Next offset per partition the checkpoint resumes from.
    pub offsets: Vec<u64>,
}

/// Rebuilds both states from a recorded history (e.g. the lake, `tailor features
/// backfill`) and writes them as the checkpoint in `checkpoint`, so the next start
/// resumes from `next_offsets` (per partition: every record below it is in `events` or was
/// not an event). `events` must be in (partition, offset) order; it is applied exactly as
/// the live processor would have read it. The server must not be running.
pub fn rebuild_checkpoint(
    events: &[crate::engine::offline::LoggedEvent],
    next_offsets: &[u64],
    live: &crate::config::LiveConfig,
    features: &crate::engine::FeaturesConfig,
    checkpoint: &CheckpointStore,
) -> Result<Rebuilt> {
    let partitions = next_offsets.len().max(
        events
            .iter()
            .map(|e| e.partition as usize + 1)
            .max()
            .unwrap_or(0),
    );
    let mut state = LiveState::default();
    state.offsets.resize(partitions, 0);
    let mut engine = crate::engine::FeatureEngine::new(features, partitions as u32)?;
    let mut late = 0u64;
    for e in events {
        state.apply(live, e.partition, e.offset, &e.event);
        late += u64::from(engine.apply(e.partition, e.offset, &e.event).late);
    }
    for (p, &next) in next_offsets.iter().enumerate() {
        let p32 = p as u32;
        if next > engine.partition_mut(p32).next_offset() {
            engine.skip(p32, next - 1);
        }
        state.offsets[p] = state.offsets[p].max(next);
    }
    state.refresh_trending(live);
    let offsets = state.offsets.clone();
    let snapshot = Snapshot {
        features: (0..partitions as u32)
            .filter_map(|p| engine.encode_partition(p))
            .collect(),
        live: state,
    };
    checkpoint.write(&encode_checkpoint(&snapshot))?;
    Ok(Rebuilt {
        events: events.len() as u64,
        late_events: late,
        entities: engine.stats().iter().map(|s| s.entities).sum(),
        offsets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("live.ckpt");
        assert!(load_checkpoint(&path).expect("none").is_none());
        let s = Snapshot {
            live: LiveState {
                offsets: vec![3, 4],
                events_processed: 7,
                ..LiveState::default()
            },
            features: vec![vec![1, 2, 3], vec![]],
        };
        write_checkpoint(&path, &encode_checkpoint(&s)).expect("write");
        assert_eq!(load_checkpoint(&path).expect("load"), Some(s));
        let mut bytes = fs::read(&path).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).expect("corrupt");
        let err = load_checkpoint(&path).expect_err("corrupt");
        assert!(err.to_string().contains("corrupt"), "{err}");
    }

    proptest! {
        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_checkpoint(&bytes);
            let mut with_magic = b"TLCK\x02\x00\x00\x00".to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = decode_checkpoint(&with_magic);
        }
    }
}
