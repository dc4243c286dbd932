//! Partition state encoding for checkpoints.
//!
//! Bytes: `TFPS` magic, format version (u32 LE), the feature set's fingerprint (u64 LE),
//! CRC-32C of the payload (u32 LE), payload length (u64 LE), then the bincode payload.
//! Entities are written in (kind, symbol) order and the interner in symbol order, so equal
//! states encode to equal bytes whatever their in-memory layout. A snapshot taken under
//! other feature definitions is refused (the state would not match the slots): rebuild by
//! replaying the log from offset 0.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::compile::FeatureSet;
use super::entity::{DecodedEntity, EncodedEntity, EntityRef};
use super::intern::Interner;
use super::state::PartitionState;
use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"TFPS";
const VERSION: u32 = 1;
const HEADER: usize = 4 + 4 + 8 + 4 + 8;

#[derive(Serialize)]
struct SnapshotRef<'a> {
    partition: u32,
    next_offset: u64,
    max_ms: i64,
    events: u64,
    late_events: u64,
    last_sweep: i64,
    compacted_len: u64,
    strings: Vec<&'a str>,
    kinds: Vec<Vec<(u32, EncodedEntity<'a>)>>,
}

#[derive(Deserialize)]
struct Snapshot {
    partition: u32,
    next_offset: u64,
    max_ms: i64,
    events: u64,
    late_events: u64,
    last_sweep: i64,
    compacted_len: u64,
    strings: Vec<String>,
    kinds: Vec<Vec<(u32, DecodedEntity)>>,
}

fn encoded((sym, e): (u32, EntityRef<'_>)) -> (u32, EncodedEntity<'_>) {
    (
        sym,
        EncodedEntity {
            last_ms: e.head.last_ms,
            session: e.head.session(),
            slots: e.slots,
        },
    )
}

fn corrupt(reason: impl Into<String>) -> Error {
    Error::FeatureState(reason.into())
}

impl PartitionState {
    /// Encodes the state (deterministic bytes).
    pub fn encode(&self) -> Vec<u8> {
        let snap = SnapshotRef {
            partition: self.partition,
            next_offset: self.next_offset,
            max_ms: self.max_ms,
            events: self.events,
            late_events: self.late_events,
            last_sweep: self.last_sweep,
            compacted_len: self.compacted_len,
            strings: self.interner.strings().collect(),
            kinds: self
                .kinds
                .iter()
                .map(|k| k.sorted().into_iter().map(encoded).collect())
                .collect(),
        };
        // bincode of plain owned data into a Vec cannot fail.
        let payload = bincode::serialize(&snap).unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.set.fingerprint().to_le_bytes());
        out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Decodes bytes from [`PartitionState::encode`] under the same feature definitions.
    /// Never panics on arbitrary input.
    pub fn decode(set: Arc<FeatureSet>, bytes: &[u8]) -> Result<PartitionState> {
        if bytes.len() < HEADER || &bytes[..4] != MAGIC {
            return Err(corrupt("not a feature-state snapshot"));
        }
        let u32_at = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[at..at + 4]);
            u32::from_le_bytes(b)
        };
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        if u32_at(4) != VERSION {
            return Err(corrupt(format!(
                "unsupported snapshot version {}",
                u32_at(4)
            )));
        }
        if u64_at(8) != set.fingerprint() {
            return Err(Error::FeatureDefinitionsChanged);
        }
        let crc = u32_at(16);
        let len = u64_at(20);
        let payload = &bytes[HEADER..];
        if payload.len() as u64 != len {
            return Err(corrupt(format!(
                "payload is {} bytes, header says {len}",
                payload.len()
            )));
        }
        if crc32c::crc32c(payload) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        let snap: Snapshot = bincode::deserialize(payload).map_err(|e| corrupt(e.to_string()))?;
        if snap.kinds.len() != set.kinds.len() {
            return Err(corrupt("entity kinds do not match the definitions"));
        }
        let strings = snap.strings.len();
        let interner = Interner::from_strings(snap.strings).map_err(corrupt)?;
        let mut state = PartitionState::new(set.clone(), snap.partition);
        for (k, entities) in snap.kinds.into_iter().enumerate() {
            let slots = set.kinds[k].slots;
            let mut prev: Option<u32> = None;
            for (sym, e) in entities {
                if sym as usize >= strings || prev.is_some_and(|p| p >= sym) {
                    return Err(corrupt("entity symbols out of range or order"));
                }
                if e.slots.len() != slots {
                    return Err(corrupt("entity slots do not match the definitions"));
                }
                prev = Some(sym);
                state.kinds[k].insert(sym, e);
            }
        }
        state.next_offset = snap.next_offset;
        state.max_ms = snap.max_ms;
        state.events = snap.events;
        state.late_events = snap.late_events;
        state.last_sweep = snap.last_sweep;
        state.compacted_len = snap.compacted_len;
        state.interner = interner;
        Ok(state)
    }
}
