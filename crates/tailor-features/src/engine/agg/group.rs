//! Pruning a `group_by` partial to its best keys.

use super::{Agg, Partial};

/// Keeps the `keep` best entries of a group (score at the latest time any entry saw, then
/// smallest key), in key order. Selection, not a sort: the entries stay in key order.
pub(super) fn prune<V: Clone + Ord>(entries: &mut Vec<(V, Partial<V>)>, agg: &Agg, keep: usize) {
    prune_by(entries, Partial::latest, |p, at| p.score(agg, at), keep);
}

/// [`prune`] of entries whose leaves are of type `L`: `latest` and `score` read a leaf.
pub(super) fn prune_by<V, L>(
    entries: &mut Vec<(V, L)>,
    latest: impl Fn(&L) -> i64,
    score: impl Fn(&L, i64) -> f64,
    keep: usize,
) {
    if entries.len() <= keep {
        return;
    }
    if keep == 0 {
        entries.clear();
        return;
    }
    let at = entries
        .iter()
        .map(|(_, p)| latest(p))
        .max()
        .unwrap_or(i64::MIN);
    // Entries are in key order, so a smaller index is a smaller key.
    let mut scored: Vec<(f64, usize)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (score(&e.1, at), i))
        .collect();
    scored.select_nth_unstable_by(keep - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut kept = vec![false; entries.len()];
    for &(_, i) in &scored[..keep] {
        kept[i] = true;
    }
    let mut i = 0;
    entries.retain(|_| {
        i += 1;
        kept[i - 1]
    });
}
