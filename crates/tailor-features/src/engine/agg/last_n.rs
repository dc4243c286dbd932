//! last_n lists: at most n (stamp, value) entries, oldest first; with `distinct`, one entry
//! per value at its latest stamp.

use std::collections::{BTreeSet, VecDeque};

use super::Stamp;

/// Inserts into a last_n list (ascending by (stamp, value), at most `n` long).
pub(super) fn last_n_insert<V: Clone + Ord>(
    list: &mut VecDeque<(Stamp, V)>,
    n: usize,
    distinct: bool,
    stamp: Stamp,
    val: &V,
) {
    if distinct {
        // Repeats are usually recent: search from the newest end.
        if let Some(i) = list.iter().rposition(|e| e.1 == *val) {
            if stamp <= list[i].0 {
                return;
            }
            list.remove(i);
        }
    }
    if list.len() >= n {
        match list.front() {
            Some(first) if (stamp, val) <= (first.0, &first.1) => return,
            // The new value is newer than the oldest kept: it replaces it.
            _ => {
                list.pop_front();
            }
        }
    } else if list.len() == list.capacity() {
        // Grow by a quarter (as group entries do), never past n: lists are long-lived and
        // many.
        let more = (list.capacity() / 4).max(4).min(n - list.len());
        list.reserve_exact(more);
    }
    match list.back() {
        // In order: the common case.
        Some(last) if (last.0, &last.1) < (stamp, val) => list.push_back((stamp, val.clone())),
        None => list.push_back((stamp, val.clone())),
        Some(_) => {
            let pos = list.partition_point(|e| (e.0, &e.1) < (stamp, val));
            list.insert(pos, (stamp, val.clone()));
        }
    }
}

/// Sorts, de-duplicates (distinct: one entry per value, its greatest stamp) and keeps the
/// `n` greatest.
pub(super) fn last_n_normalise<V: Clone + Ord>(
    list: &mut Vec<(Stamp, V)>,
    n: usize,
    distinct: bool,
) {
    list.sort();
    list.dedup();
    if distinct {
        let mut seen = BTreeSet::new();
        let mut kept: Vec<(Stamp, V)> = Vec::with_capacity(list.len().min(n));
        for e in list.drain(..).rev() {
            if seen.insert(e.1.clone()) {
                kept.push(e);
            }
        }
        kept.reverse();
        *list = kept;
    }
    if list.len() > n {
        list.drain(..list.len() - n);
    }
}
