//! The default online backend: reads evaluate the feature engine's state in place, as of the
//! stream time, under a shared lock the processor takes exclusively only for short slices of
//! a batch (see `processor.rs`).

use std::sync::Arc;

use parking_lot::RwLock;

use super::FeatureReader;
use crate::engine::{EntityKind, FeatureEngine, FeatureRow};
use crate::Result;

pub struct LiveReader {
    engine: Arc<RwLock<FeatureEngine>>,
}

impl LiveReader {
    pub fn new(engine: Arc<RwLock<FeatureEngine>>) -> Self {
        LiveReader { engine }
    }
}

impl FeatureReader for LiveReader {
    fn read_many(&self, entity: &str, ids: &[String]) -> Result<Vec<Option<FeatureRow>>> {
        let Some(kind) = EntityKind::parse(entity) else {
            return Ok(vec![None; ids.len()]);
        };
        let engine = self.engine.read();
        Ok(engine.read_many(&kind, ids))
    }
}
