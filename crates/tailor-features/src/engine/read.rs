//! Reading an entity: its partials in every partition merged per feature, windows evaluated
//! as of one time, ratios computed after merging.
//!
//! The partitions' states of the entity come either from this process's engine (read in
//! place) or exported as [`PartEntity`] by the processes that own other partitions, so a
//! reader holding every partition's export computes the same row as the engine itself.

use serde::{Deserialize, Serialize};

use super::agg::{empty_value, Agg, Partial, RVal, Val};
use super::compile::FeatureSet;
use super::entity::EntityRef;
use super::intern::Interner;
use super::state::PartitionState;
use super::value::{FeatureRow, FeatureValue};
use super::window::session::{is_current, SessionClock};
use super::window::{self, Slot, Window};
use crate::{Error, Result};

pub(crate) fn resolve(v: &Val, interner: &Interner) -> RVal {
    match v.as_sym() {
        Some(s) => RVal::Str(interner.resolve(s).to_owned()),
        None => RVal::Num(v.tag()),
    }
}

/// One partition's state of one entity, with its values resolved to strings: what a
/// process owning the partition exports for readers in other processes
/// ([`super::FeatureEngine::export_entity`], [`FeatureSet::read_exported`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartEntity {
    pub(crate) last_ms: i64,
    pub(crate) session: Option<SessionClock>,
    pub(crate) slots: Vec<Slot<RVal>>,
}

/// Format version of [`PartEntity::encode`].
const PART_ENTITY_VERSION: u8 = 1;

impl PartEntity {
    /// Highest event time of the entity's events in its partition.
    pub fn last_ms(&self) -> i64 {
        self.last_ms
    }

    /// Bytes: a version byte, the feature set's fingerprint (u64 LE), then bincode.
    pub fn encode(&self, set: &FeatureSet) -> Vec<u8> {
        let mut out = vec![PART_ENTITY_VERSION];
        out.extend_from_slice(&set.fingerprint().to_le_bytes());
        out.extend(bincode::serialize(self).unwrap_or_default());
        out
    }

    /// The inverse of [`PartEntity::encode`]; an export of other feature definitions (a
    /// processor not yet restarted with the new ones) is refused.
    pub fn decode(set: &FeatureSet, bytes: &[u8]) -> Result<PartEntity> {
        let bad = |reason: &str| Error::FeatureState(format!("exported entity state: {reason}"));
        if bytes.len() < 9 || bytes[0] != PART_ENTITY_VERSION {
            return Err(bad("unknown format"));
        }
        let fingerprint = u64::from_le_bytes(bytes[1..9].try_into().map_err(|_| bad("short"))?);
        if fingerprint != set.fingerprint() {
            return Err(Error::FeatureDefinitionsChanged);
        }
        bincode::deserialize(&bytes[9..]).map_err(|e| bad(&e.to_string()))
    }
}

/// One partition's state of an entity, as [`merge_row`] reads it.
trait PartView {
    fn session(&self) -> Option<SessionClock>;
    /// Calls `f` with the partials of slot `slot` that a read as of `as_of_ms` covers.
    fn visible(&self, slot: usize, w: &Window, as_of_ms: i64, f: &mut dyn FnMut(Partial<RVal>));
}

impl PartView for (EntityRef<'_>, &Interner) {
    fn session(&self) -> Option<SessionClock> {
        self.0.head.session()
    }

    fn visible(&self, slot: usize, w: &Window, as_of_ms: i64, f: &mut dyn FnMut(Partial<RVal>)) {
        if let Some(slot) = self.0.slots.get(slot) {
            for p in window::visible(slot, w, as_of_ms) {
                f(p.map(&|v| resolve(v, self.1)));
            }
        }
    }
}

impl PartView for &PartEntity {
    fn session(&self) -> Option<SessionClock> {
        self.session
    }

    fn visible(&self, slot: usize, w: &Window, as_of_ms: i64, f: &mut dyn FnMut(Partial<RVal>)) {
        if let Some(slot) = self.slots.get(slot) {
            for p in window::visible(slot, w, as_of_ms) {
                f(p.clone());
            }
        }
    }
}

/// The row of entity `id` of kind index `k` as of `as_of_ms`; `None` if no partition holds
/// the entity.
pub(crate) fn read_row(
    set: &FeatureSet,
    parts: &[PartitionState],
    k: usize,
    id: &str,
    as_of_ms: i64,
) -> Option<FeatureRow> {
    let views = parts.iter().filter_map(|part| {
        let sym = part.interner.get(id)?;
        let ent = part.kinds.get(k)?.get(sym)?;
        Some((ent, &part.interner))
    });
    merge_row(set, k, id, as_of_ms, views)
}

/// The row of entity `id` of kind index `k` as of `as_of_ms` from exported partition
/// states (those not shaped like the kind's are left out); `None` if there are none.
pub(crate) fn read_exported(
    set: &FeatureSet,
    k: usize,
    id: &str,
    as_of_ms: i64,
    parts: &[PartEntity],
) -> Option<FeatureRow> {
    let slots = set.kinds.get(k)?.slots;
    merge_row(
        set,
        k,
        id,
        as_of_ms,
        parts.iter().filter(|p| p.slots.len() == slots),
    )
}

fn merge_row<P: PartView>(
    set: &FeatureSet,
    k: usize,
    id: &str,
    as_of_ms: i64,
    parts: impl Iterator<Item = P>,
) -> Option<FeatureRow> {
    let plan = set.kinds.get(k)?;
    let mut accs: Vec<Option<Partial<RVal>>> = vec![None; plan.outputs.len()];
    let mut found = false;
    for part in parts {
        found = true;
        let session_current = part
            .session()
            .is_some_and(|c| is_current(&c, as_of_ms, set.gap_ms));
        for (pos, &fi) in plan.outputs.iter().enumerate() {
            let f = &set.features[fi];
            if f.window == Window::Session && !session_current {
                continue;
            }
            let acc = &mut accs[pos];
            part.visible(f.slot, &f.window, as_of_ms, &mut |r| match acc {
                Some(acc) => acc.merge(&f.agg, r),
                None => *acc = Some(r),
            });
        }
    }
    if !found {
        return None;
    }

    let mut values: Vec<FeatureValue> = plan
        .outputs
        .iter()
        .zip(&accs)
        .map(|(&fi, acc)| {
            let f = &set.features[fi];
            match acc {
                Some(p) => p.finish(&f.agg, as_of_ms),
                None => empty_value(&f.agg, f.group_by.is_some()),
            }
        })
        .collect();
    for (pos, &fi) in plan.outputs.iter().enumerate() {
        if let Agg::Ratio {
            numerator,
            denominator,
        } = set.features[fi].agg
        {
            let num = values.get(numerator).and_then(FeatureValue::as_f64);
            let den = values.get(denominator).and_then(FeatureValue::as_f64);
            values[pos] = match (num, den) {
                (Some(n), Some(d)) if d != 0.0 => FeatureValue::Float(n / d),
                _ => FeatureValue::Null,
            };
        }
    }
    Some(FeatureRow {
        entity: plan.kind.to_string(),
        id: id.to_owned(),
        as_of_ms,
        values: plan
            .outputs
            .iter()
            .map(|&fi| set.features[fi].name.clone())
            .zip(values)
            .collect(),
    })
}
