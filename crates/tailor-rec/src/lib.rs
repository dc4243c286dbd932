//! Tailor's recommendation models. For now one online model over the live state:
//! item-to-item co-occurrence seeded by the user's recent items (or a context item), blended
//! with time-decayed trending, with business rules applied after blending (purchased and
//! context items excluded). Unknown users and items fall back to trending, never an error.

mod cooc;
mod error;

pub use cooc::{recommend, RecConfig, RecItem, RecRequest, RecResponse, MODEL_NAME};
pub use error::{Error, Result};
