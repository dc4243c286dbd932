//! Training data: the [`Interactions`] dataset and its loaders.

mod interactions;
pub mod loaders;

pub use interactions::{Interactions, InteractionsBuilder, Interner, KindWeights, Row};
