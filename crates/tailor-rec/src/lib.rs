//! Tailor's recommendation models. For now one online model over the live state:
//! item-to-item co-occurrence seeded by the user's recent items (or a context item), blended
//! with time-decayed trending, with business rules applied after blending (purchased and
//! context items excluded). Unknown users and items fall back to trending, never an error.

mod cooc;
mod error;

pub mod artifact;
pub mod data;
pub mod eval;
pub mod linalg;
pub mod model;
pub mod registry;

pub use cooc::{recommend, RecConfig, RecItem, RecRequest, RecResponse, UserInputs, MODEL_NAME};
pub use error::{Error, Result};

/// Sizes the thread pool that training and evaluation run on (call once, early; later calls
/// keep the first size).
pub fn set_threads(threads: usize) {
    // Fails only when the pool already exists, which keeps its size: documented above.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build_global();
}
