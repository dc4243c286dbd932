//! Lifetime windows: one partial per entity, never expired (the entity TTL still applies).
//! Session windows use the same single partial, reset when a new session starts.

use super::Slot;
use crate::engine::agg::{Agg, Partial, Update, Val};

pub(crate) fn update(slot: &mut Slot, agg: &Agg, key: Option<&Val>, u: &Update<Val>) {
    match slot {
        Slot::One(p) => p.add(agg, key, u),
        _ => *slot = Slot::One(Partial::new(agg, key, u)),
    }
}
