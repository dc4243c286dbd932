//! Reading an entity: its partials in every partition merged per feature, windows evaluated
//! as of one time, ratios computed after merging.

use super::agg::{empty_value, Agg, Partial, RVal, Val};
use super::compile::FeatureSet;
use super::intern::Interner;
use super::state::PartitionState;
use super::value::{FeatureRow, FeatureValue};
use super::window::session::is_current;
use super::window::{self, Window};

fn resolve(v: &Val, interner: &Interner) -> RVal {
    match v {
        Val::Num(b) => RVal::Num(*b),
        Val::Sym(s) => RVal::Str(interner.resolve(*s).to_owned()),
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
    let plan = set.kinds.get(k)?;
    let mut accs: Vec<Option<Partial<RVal>>> = vec![None; plan.outputs.len()];
    let mut found = false;
    for part in parts {
        let Some(ent) = part
            .interner
            .get(id)
            .and_then(|sym| part.kinds.get(k)?.get(sym))
        else {
            continue;
        };
        found = true;
        let session_current = ent
            .head
            .session
            .as_ref()
            .is_some_and(|c| is_current(c, as_of_ms, set.gap_ms));
        for (pos, &fi) in plan.outputs.iter().enumerate() {
            let f = &set.features[fi];
            if f.window == Window::Session && !session_current {
                continue;
            }
            let Some(slot) = ent.slots.get(f.slot) else {
                continue;
            };
            for p in window::visible(slot, &f.window, as_of_ms) {
                let r = p.map(&|v| resolve(v, &part.interner));
                match &mut accs[pos] {
                    Some(acc) => acc.merge(&f.agg, r),
                    None => accs[pos] = Some(r),
                }
            }
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
