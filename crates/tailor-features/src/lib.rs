//! Tailor's stream processing stage. A consumer of the log's `events` topic keeps live state
//! — per user recent items and purchases, per item time-decayed popularity and interaction
//! counts, item-to-item co-occurrence within user sessions — and checkpoints it atomically
//! together with the log offsets it covers, so a restart resumes with nothing counted twice.
//!
//! [`engine`] computes the declarative features of `[features]` (event-time windows,
//! sessions, mergeable per-partition state); [`online`] is how serving reads its rows.

mod checkpoint;
mod config;
mod decay;
pub mod engine;
mod error;
pub mod metrics;
pub mod online;
mod processor;
mod state;

pub use checkpoint::{
    decode_checkpoint, encode_checkpoint, load_checkpoint, rebuild_checkpoint, write_checkpoint,
    CheckpointStore, Rebuilt, Snapshot,
};
pub use config::{Assignment, LiveConfig};
pub use decay::Decayed;
pub use engine::{
    EntityKey, EntityKind, FeatureEngine, FeatureEvent, FeatureRow, FeatureSet, FeatureValue,
    FeaturesConfig,
};
pub use error::{Error, Result};
pub use online::{EmbeddedStore, FeatureReader, OnlineBackend, OnlineStore, PartitionedStore};
pub use processor::{
    ForgetReport, GroupOptions, Processor, ProcessorControl, ProcessorHandle, ProcessorOptions,
};
pub use state::{eviction_point, ItemIdx, ItemState, LiveState, UserState};
