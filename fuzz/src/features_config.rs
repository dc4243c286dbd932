//! Target `features_config`: the `[features]` and `[live]` sections of `tailor.toml`
//! ([`tailor_features::FeaturesConfig`], validated and compiled by
//! [`tailor_features::engine::FeatureSet::compile`]; [`tailor_features::LiveConfig`] and its
//! `validate`). The rest of `tailor.toml` is `tailor_server::Config`, which would bring the
//! whole server (DataFusion, axum, rustls) into the instrumented build: see README.md.
//!
//! Input: TOML text with optional `[features]` and `[live]` tables.
//!
//! Properties: no panic; a parsed section written back as TOML parses to the same value;
//! definitions that compile give an engine that takes events over two partitions, serves
//! reads and encodes a state that restores to the same bytes; a live config that validates
//! runs the live state without panic.

use serde::Deserialize;
use tailor_features::engine::FeatureSet;
use tailor_features::{FeatureEngine, FeaturesConfig, LiveConfig, LiveState};

use crate::samples::{exercise_engine, exercise_live, stored_events};

#[derive(Deserialize)]
struct Sections {
    #[serde(default)]
    features: FeaturesConfig,
    #[serde(default)]
    live: LiveConfig,
}

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = toml::from_str::<Sections>(text) else {
        return;
    };
    round_trips(&doc.features);
    round_trips(&doc.live);

    if doc.live.validate().is_ok() {
        exercise_live(&mut LiveState::default(), &doc.live);
    }
    let Ok(set) = FeatureSet::compile(&doc.features) else {
        return;
    };
    let mut engine = FeatureEngine::with_set(set.clone(), 2);
    exercise_engine(&mut engine, stored_events().iter().map(Vec::as_slice));
    for p in 0..2 {
        let bytes = engine.encode_partition(p).expect("partitions 0 and 1");
        let mut again = FeatureEngine::with_set(set.clone(), 2);
        again
            .restore_partition(p, &bytes)
            .expect("an encoded state restores");
        assert_eq!(again.encode_partition(p), Some(bytes));
    }
}

/// A value written back as TOML parses to the same value (when it can be written: TOML has
/// no null, and NaN is never equal).
fn round_trips<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + Clone,
{
    if value.clone() != *value {
        return;
    }
    let Ok(text) = toml::to_string(value) else {
        return;
    };
    let back: T = toml::from_str(&text)
        .unwrap_or_else(|e| panic!("written TOML does not parse back: {e}\n{text}"));
    assert_eq!(&back, value, "TOML round trip changes the value:\n{text}");
}
