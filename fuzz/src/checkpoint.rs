//! Target `checkpoint`: the processor's checkpoint decoder
//! ([`tailor_features::decode_checkpoint`]) over the bytes of `checkpoints/live.ckpt`, and
//! resuming from what it decodes.
//!
//! Input: a flags byte, then the bytes. Flag bit 0 wraps them as the payload of a checkpoint
//! with a correct header and checksum ([`with_header`]), so that mutations reach the payload
//! decoder instead of stopping at the CRC.
//!
//! Properties: no panic; a decoded checkpoint encodes and decodes to an equal snapshot; the
//! processor's restore (feature partitions restored, trending refreshed) and serving reads
//! do not panic on what was decoded. Applying new events is checked only on checkpoints
//! whose checksum the input got right by itself (i.e. written by the encoder): a payload
//! under a forged checksum may hold counters and times no stream of events produces (a
//! counter at `u64::MAX`), and arithmetic on those is out of scope.

use std::sync::OnceLock;

use tailor_features::{decode_checkpoint, encode_checkpoint, FeatureEngine, LiveConfig, Snapshot};

use crate::samples::{default_set, exercise_engine, exercise_live, read_everything, stored_events};

/// A checkpoint around `payload`: `TLCK`, version 2, CRC-32C of the payload and its length
/// (the format documented in `tailor-features/src/checkpoint.rs`).
pub fn with_header(payload: &[u8]) -> Vec<u8> {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let real = encode_checkpoint(&Snapshot::default());
        assert_eq!(
            wrap(&real[HEADER..]),
            real,
            "the checkpoint header changed: update fuzz/src/checkpoint.rs"
        );
    });
    wrap(payload)
}

const HEADER: usize = 4 + 4 + 4 + 8;

fn wrap(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(b"TLCK");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

pub fn run(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let bytes = if flags & 1 == 1 {
        with_header(rest)
    } else {
        rest.to_vec()
    };
    let Ok(snapshot) = decode_checkpoint(&bytes) else {
        return;
    };
    let encoded = encode_checkpoint(&snapshot);
    let again = decode_checkpoint(&encoded).expect("an encoded checkpoint decodes");
    // Equal unless a float is NaN (NaN != NaN); compare the re-encoding's size then.
    if snapshot.clone() == snapshot {
        assert_eq!(
            again, snapshot,
            "a checkpoint changes through encode and decode"
        );
    }
    assert_eq!(encode_checkpoint(&again).len(), encoded.len());
    resume(snapshot, flags & 1 == 0);
}

/// What the processor does with a checkpoint it loaded: restore the feature partitions (a
/// refused one means rebuilding from offset 0) and refresh trending, serve reads, then
/// (`apply_events`) apply new events.
fn resume(snapshot: Snapshot, apply_events: bool) {
    let mut engine = FeatureEngine::with_set(default_set(), 2);
    for (p, bytes) in snapshot.features.iter().enumerate().take(64) {
        if engine.restore_partition(p as u32, bytes).is_err() {
            return;
        }
    }
    let cfg = LiveConfig::default();
    let mut live = snapshot.live;
    live.refresh_trending(&cfg);
    for (idx, _) in live.trending.iter().take(10) {
        if let Some(item) = live.items.get(*idx as usize) {
            let _ = live.item(&item.id);
        }
    }
    read_everything(&mut engine);
    if apply_events {
        exercise_live(&mut live, &cfg);
        exercise_engine(&mut engine, stored_events().iter().map(Vec::as_slice));
    }
}
