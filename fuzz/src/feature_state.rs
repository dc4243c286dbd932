//! Target `feature_state`: the feature engine's partition-state decoder
//! ([`tailor_features::FeatureEngine::restore_partition`], the `features` of a checkpoint),
//! under the default definitions or definitions using every aggregation and window.
//!
//! Input: a flags byte, then the bytes. Flag bit 0 wraps them as the payload of a state with
//! a correct header, fingerprint and checksum ([`with_header`]), so that mutations reach
//! the payload decoder; flag bit 1 picks [`crate::samples::RICH_FEATURES_TOML`] instead of
//! the defaults.
//!
//! Properties: no panic; a restored state encodes to bytes that restore to a state encoding
//! to the same bytes; a restored state serves reads without panic, and, when the input got
//! the checksum right by itself (written by the encoder), takes new events without panic
//! (see `checkpoint` for why forged checksums stop at reads).

use std::sync::{Arc, OnceLock};

use tailor_features::engine::FeatureSet;
use tailor_features::FeatureEngine;

use crate::samples::{default_set, exercise_engine, read_everything, rich_set, stored_events};

const HEADER: usize = 4 + 4 + 8 + 4 + 8;

/// A partition state around `payload`: `TFPS`, version 1, the set's fingerprint, CRC-32C of
/// the payload and its length (the format documented in
/// `tailor-features/src/engine/snapshot.rs`).
pub fn with_header(set: &FeatureSet, payload: &[u8]) -> Vec<u8> {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let set = default_set();
        let real = FeatureEngine::with_set(set.clone(), 1)
            .encode_partition(0)
            .expect("partition 0");
        assert_eq!(
            wrap(set.fingerprint(), &real[HEADER..]),
            real,
            "the feature state header changed: update fuzz/src/feature_state.rs"
        );
    });
    wrap(set.fingerprint(), payload)
}

fn wrap(fingerprint: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(b"TFPS");
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&fingerprint.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

pub fn run(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let set: Arc<FeatureSet> = if flags & 2 == 2 {
        rich_set()
    } else {
        default_set()
    };
    let bytes = if flags & 1 == 1 {
        with_header(&set, rest)
    } else {
        rest.to_vec()
    };
    let mut engine = FeatureEngine::with_set(set.clone(), 2);
    if engine.restore_partition(1, &bytes).is_err() {
        return;
    }
    let encoded = engine.encode_partition(1).expect("a restored partition");
    let mut again = FeatureEngine::with_set(set.clone(), 2);
    again
        .restore_partition(1, &encoded)
        .expect("an encoded partition state restores");
    assert_eq!(
        again.encode_partition(1).as_ref(),
        Some(&encoded),
        "restore then encode changes an encoded state"
    );
    read_everything(&mut engine);
    if flags & 1 == 1 {
        return;
    }
    exercise_engine(&mut engine, stored_events().iter().map(Vec::as_slice));
    let after = engine.encode_partition(1).expect("partition 1");
    FeatureEngine::with_set(set, 2)
        .restore_partition(1, &after)
        .expect("a state that took events encodes and restores");
}
