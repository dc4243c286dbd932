//! Tailor's stream processing stage. A consumer of the log's `events` topic keeps live state
//! — per user recent items and purchases, per item time-decayed popularity and interaction
//! counts, item-to-item co-occurrence within user sessions — and checkpoints it atomically
//! together with the log offsets it covers, so a restart resumes with nothing counted twice.

mod checkpoint;
mod config;
mod decay;
mod error;
pub mod metrics;
mod processor;
mod state;

pub use checkpoint::{decode_checkpoint, encode_checkpoint, load_checkpoint, write_checkpoint};
pub use config::LiveConfig;
pub use decay::Decayed;
pub use error::{Error, Result};
pub use processor::{Processor, ProcessorHandle};
pub use state::{ItemIdx, ItemState, LiveState, UserState};
