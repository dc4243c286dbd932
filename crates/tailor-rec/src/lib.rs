//! Tailor's recommendation models. Batch-trained models ([`model`]: trending, item-kNN, ALS,
//! EASE, session kNN and their blend) are trained ([`training`]), saved as versioned
//! artifacts ([`registry`]) and served ([`serving`]) merged with the live model over the
//! stream's state ([`recommend`]: item-to-item co-occurrence seeded by the user's recent
//! items, blended with time-decayed trending), which counts new items and co-occurrences
//! between trainings. Unknown users and items fall back to trending, never an error.

mod cooc;
mod error;

pub mod artifact;
pub mod data;
pub mod eval;
pub mod linalg;
pub mod model;
pub mod registry;
pub mod serving;
pub mod training;

pub use cooc::{
    recommend, trending_from_row, valid_surface, Exclusion, Keep, Origin, RecConfig, RecItem,
    RecRequest, RecResponse, UserInputs, MODEL_NAME, TRENDING_FEATURE,
};
pub use error::{Error, Result};

/// Sizes the thread pool that training and evaluation run on (call once, early; later calls
/// keep the first size).
pub fn set_threads(threads: usize) {
    // Fails only when the pool already exists, which keeps its size: documented above.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build_global();
}
