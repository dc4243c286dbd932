//! Mergeable partial aggregates. One [`Partial`] summarises the updates of one feature for
//! one entity in one window piece (a bucket, a session, the lifetime); partials of the same
//! feature merge associatively, which is how buckets combine into a sliding window and how
//! an entity's state in several log partitions combines into one value:
//!
//! | aggregation | partial | merge |
//! |---|---|---|
//! | count | u64 | add |
//! | sum | f64 | add |
//! | min / max | f64 | min / max |
//! | last | (stamp, value) | greater stamp |
//! | last_n | ≤ n (stamp, value), oldest first | union, n greatest stamps (distinct: per value its greatest stamp) |
//! | distinct_count | sorted set of 64-bit value hashes, ≤ [`DISTINCT_CAP`] | union, capped |
//! | decayed_sum | (value, reference time) | both brought to the later reference time, added |
//! | group_by | key → partial, ≤ [`GROUP_KEPT`] keys | per key, then pruned |
//!
//! A stamp orders updates: (event time, partition, offset, interaction index).
//!
//! `distinct_count` is exact up to [`DISTINCT_CAP`] distinct values per partial and reports
//! `min(true count, DISTINCT_CAP)`: a full set ignores new hashes, and a union of subsets
//! truncated to the cap has the cap as size whenever the true count reaches it.
//! `group_by` keeps at most [`GROUP_KEPT`] keys per partial; beyond that it prunes to the
//! [`GROUP_KEYS`] best (highest value, then smallest key) — exact while an entity has fewer
//! than [`GROUP_KEPT`] keys per window piece, approximate beyond. Reads show the top
//! [`GROUP_KEYS`].

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::value::FeatureValue;
use group::prune;
use last_n::{last_n_insert, last_n_normalise};
use num_group::NumLeaf;
pub(crate) use val::{RVal, Val};

/// Largest distinct-value set kept per partial.
pub const DISTINCT_CAP: usize = 4096;
/// Keys shown per `group_by` value.
pub const GROUP_KEYS: usize = 50;
/// Keys kept per `group_by` partial before pruning to [`GROUP_KEYS`].
pub const GROUP_KEPT: usize = 2 * GROUP_KEYS;

/// A compiled aggregation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Agg {
    Count,
    Sum,
    DistinctCount,
    Min,
    Max,
    Last,
    LastN {
        n: usize,
        distinct: bool,
    },
    DecayedSum {
        half_life_ms: f64,
    },
    /// Positions of the numerator and denominator among the entity kind's outputs.
    Ratio {
        numerator: usize,
        denominator: usize,
    },
}

/// Total order of updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct Stamp {
    pub(crate) t: i64,
    /// partition (16 bits) | offset (40 bits) | interaction index (8 bits, saturating).
    pub(crate) seq: u64,
}

impl Stamp {
    pub(crate) fn new(t: i64, partition: u32, offset: u64, sub: usize) -> Stamp {
        let seq = (u64::from(partition & 0xffff) << 48)
            | ((offset & 0xff_ffff_ffff) << 8)
            | sub.min(255) as u64;
        Stamp { t, seq }
    }
}

/// One update of one feature.
#[derive(Debug, Clone)]
pub(crate) struct Update<V> {
    pub(crate) stamp: Stamp,
    /// The number summed / compared / decayed (weights applied).
    pub(crate) num: f64,
    /// The value kept by last / last_n.
    pub(crate) val: V,
    /// Content hash of `val`, for distinct_count.
    pub(crate) hash: u64,
}

/// Encoded as this enum without [`Partial::NumGroup`] (see [`encoding`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "encoding::PartialRepr<V>")]
pub(crate) enum Partial<V> {
    Count(u64),
    Sum(f64),
    Min(f64),
    Max(f64),
    /// The value is boxed (`last` is rare) so that every partial fits in 32 bytes; serde
    /// sees through the box, so the encoding is that of `Last(Stamp, V)`.
    Last(Stamp, Box<V>),
    /// Oldest first; a deque so a full list takes a new value in O(1).
    LastN(VecDeque<(Stamp, V)>),
    Distinct(Vec<u64>),
    Decayed {
        value: f64,
        at_ms: i64,
    },
    Group(Vec<(V, Partial<V>)>),
    /// A group whose leaves are all numbers, compactly ([`num_group`]).
    NumGroup(Vec<(V, NumLeaf)>),
}

/// Makes room for one more element growing by a quarter (at least 4) instead of doubling:
/// partials are long-lived and many, and most of them stop growing at a modest size, so
/// doubling would leave up to half of each allocation unused.
pub(crate) fn reserve_one<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.capacity() / 4).max(4));
    }
}

fn decay(dt_ms: i64, half_life_ms: f64) -> f64 {
    (-(dt_ms as f64) / half_life_ms).exp2()
}

/// Value at `t_ms` of a decayed sum kept as (value, at_ms); no growth before `at_ms`.
pub(crate) fn decayed_at(value: f64, at_ms: i64, t_ms: i64, half_life_ms: f64) -> f64 {
    value * decay(t_ms.saturating_sub(at_ms).max(0), half_life_ms)
}

fn half_life(agg: &Agg) -> f64 {
    match agg {
        Agg::DecayedSum { half_life_ms } => *half_life_ms,
        _ => f64::INFINITY,
    }
}

impl<V: Clone + Ord> Partial<V> {
    /// A partial holding one update.
    pub(crate) fn new(agg: &Agg, key: Option<&V>, u: &Update<V>) -> Self {
        let leaf = Self::leaf(agg, u);
        match key {
            None => leaf,
            Some(k) => num_group::compact(vec![(k.clone(), leaf)]),
        }
    }

    pub(super) fn leaf(agg: &Agg, u: &Update<V>) -> Self {
        match agg {
            Agg::Count | Agg::Ratio { .. } => Partial::Count(1),
            Agg::Sum => Partial::Sum(u.num),
            Agg::Min => Partial::Min(u.num),
            Agg::Max => Partial::Max(u.num),
            Agg::Last => Partial::Last(u.stamp, Box::new(u.val.clone())),
            Agg::LastN { .. } => Partial::LastN(VecDeque::from([(u.stamp, u.val.clone())])),
            Agg::DistinctCount => Partial::Distinct(vec![u.hash]),
            Agg::DecayedSum { .. } => Partial::Decayed {
                value: u.num,
                at_ms: u.stamp.t,
            },
        }
    }

    /// Adds one update (under `key` for group_by features).
    pub(crate) fn add(&mut self, agg: &Agg, key: Option<&V>, u: &Update<V>) {
        let Some(k) = key else {
            self.add_leaf(agg, u);
            return;
        };
        if let Partial::NumGroup(entries) = self {
            if num_group::add(entries, agg, k, u) {
                return;
            }
            // A leaf a number leaf cannot hold: go on as a general group.
            *self = Partial::Group(num_group::to_general(entries));
        }
        let Partial::Group(entries) = self else {
            return;
        };
        match entries.binary_search_by(|e| e.0.cmp(k)) {
            Ok(i) => entries[i].1.add_leaf(agg, u),
            Err(i) => {
                reserve_one(entries);
                entries.insert(i, (k.clone(), Self::leaf(agg, u)));
                if entries.len() > GROUP_KEPT {
                    prune(entries, agg, GROUP_KEYS);
                }
            }
        }
    }

    pub(super) fn add_leaf(&mut self, agg: &Agg, u: &Update<V>) {
        match (self, agg) {
            (Partial::Count(c), _) => *c += 1,
            (Partial::Sum(s), _) => *s += u.num,
            (Partial::Min(m), _) => *m = m.min(u.num),
            (Partial::Max(m), _) => *m = m.max(u.num),
            (Partial::Last(s, v), _) if (u.stamp, &u.val) > (*s, &**v) => {
                *s = u.stamp;
                **v = u.val.clone();
            }
            (Partial::LastN(list), Agg::LastN { n, distinct }) => {
                last_n_insert(list, *n, *distinct, u.stamp, &u.val);
            }
            (Partial::Distinct(set), _) => {
                if let Err(i) = set.binary_search(&u.hash) {
                    if set.len() < DISTINCT_CAP {
                        set.insert(i, u.hash);
                    }
                }
            }
            (Partial::Decayed { value, at_ms }, agg) => {
                let hl = half_life(agg);
                if u.stamp.t >= *at_ms {
                    *value = *value * decay(u.stamp.t - *at_ms, hl) + u.num;
                    *at_ms = u.stamp.t;
                } else {
                    *value += u.num * decay(*at_ms - u.stamp.t, hl);
                }
            }
            // A partial that does not match its aggregation (never produced) stays as is.
            _ => {}
        }
    }

    /// Merges `other` (a partial of the same feature) into `self`.
    pub(crate) fn merge(&mut self, agg: &Agg, other: Partial<V>) {
        match (self, other) {
            (Partial::Count(a), Partial::Count(b)) => *a += b,
            (Partial::Sum(a), Partial::Sum(b)) => *a += b,
            (Partial::Min(a), Partial::Min(b)) => *a = a.min(b),
            (Partial::Max(a), Partial::Max(b)) => *a = a.max(b),
            (Partial::Last(sa, va), Partial::Last(sb, vb)) if (sb, &*vb) > (*sa, &**va) => {
                *sa = sb;
                *va = vb;
            }
            (Partial::LastN(a), Partial::LastN(b)) => {
                let (n, distinct) = match agg {
                    Agg::LastN { n, distinct } => (*n, *distinct),
                    _ => (usize::MAX, false),
                };
                let mut all: Vec<(Stamp, V)> = std::mem::take(a).into();
                all.extend(b);
                last_n_normalise(&mut all, n, distinct);
                *a = all.into();
            }
            (Partial::Distinct(a), Partial::Distinct(b)) => {
                a.extend(b);
                a.sort_unstable();
                a.dedup();
                a.truncate(DISTINCT_CAP);
            }
            (
                Partial::Decayed {
                    value: va,
                    at_ms: ta,
                },
                Partial::Decayed {
                    value: vb,
                    at_ms: tb,
                },
            ) => {
                let hl = half_life(agg);
                let at = (*ta).max(tb);
                *va = *va * decay(at - *ta, hl) + vb * decay(at - tb, hl);
                *ta = at;
            }
            (a @ (Partial::Group(_) | Partial::NumGroup(_)), b) => {
                let Some(b) = b.into_group_entries() else {
                    return;
                };
                // `a` is a group: its entries are taken, merged and put back.
                let taken = std::mem::replace(a, Partial::Group(Vec::new()));
                let mut entries = taken.into_group_entries().unwrap_or_default();
                merge_groups(&mut entries, agg, b);
                *a = num_group::compact(entries);
            }
            _ => {}
        }
    }

    /// A group's entries (a numeric group's as general ones); `None` for other partials.
    fn into_group_entries(self) -> Option<Vec<(V, Partial<V>)>> {
        match self {
            Partial::Group(g) => Some(g),
            Partial::NumGroup(n) => Some(num_group::to_general(&n)),
            _ => None,
        }
    }

    /// The same partial with a [`Partial::NumGroup`] as a general group.
    fn general(&self) -> Partial<V> {
        match self {
            Partial::NumGroup(n) => Partial::Group(num_group::to_general(n)),
            p => p.clone(),
        }
    }
}

/// Merges group entries `b` into `a`.
fn merge_groups<V: Clone + Ord>(a: &mut Vec<(V, Partial<V>)>, agg: &Agg, b: Vec<(V, Partial<V>)>) {
    for (k, p) in b {
        match a.binary_search_by(|e| e.0.cmp(&k)) {
            Ok(i) => a[i].1.merge(agg, p),
            Err(i) => a.insert(i, (k, p)),
        }
    }
    if a.len() > GROUP_KEPT {
        prune(a, agg, GROUP_KEYS);
    }
}

impl<V: Clone + Ord> Partial<V> {
    /// The same partial with every value converted (kept sorted).
    pub(crate) fn map<W: Clone + Ord>(&self, f: &impl Fn(&V) -> W) -> Partial<W> {
        match self {
            Partial::Count(c) => Partial::Count(*c),
            Partial::Sum(s) => Partial::Sum(*s),
            Partial::Min(m) => Partial::Min(*m),
            Partial::Max(m) => Partial::Max(*m),
            Partial::Last(s, v) => Partial::Last(*s, Box::new(f(v))),
            Partial::LastN(list) => {
                let mut out: Vec<(Stamp, W)> = list.iter().map(|(s, v)| (*s, f(v))).collect();
                out.sort();
                Partial::LastN(out.into())
            }
            Partial::Distinct(set) => Partial::Distinct(set.clone()),
            Partial::Decayed { value, at_ms } => Partial::Decayed {
                value: *value,
                at_ms: *at_ms,
            },
            Partial::Group(entries) => {
                let mut out: Vec<(W, Partial<W>)> =
                    entries.iter().map(|(k, p)| (f(k), p.map(f))).collect();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                Partial::Group(out)
            }
            Partial::NumGroup(entries) => {
                let mut out: Vec<(W, NumLeaf)> = entries.iter().map(|(k, l)| (f(k), *l)).collect();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                Partial::NumGroup(out)
            }
        }
    }

    /// Ranking of a group entry: its numeric value at `at_ms` (recency for last / last_n).
    pub(super) fn score(&self, agg: &Agg, at_ms: i64) -> f64 {
        match self {
            Partial::Count(c) => *c as f64,
            Partial::Sum(x) | Partial::Min(x) | Partial::Max(x) => *x,
            Partial::Last(s, _) => s.t as f64,
            Partial::LastN(l) => l.back().map_or(f64::MIN, |e| e.0.t as f64),
            Partial::Distinct(s) => s.len() as f64,
            Partial::Decayed { value, at_ms: t } => decayed_at(*value, *t, at_ms, half_life(agg)),
            Partial::Group(g) => g.len() as f64,
            Partial::NumGroup(g) => g.len() as f64,
        }
    }

    pub(super) fn latest(&self) -> i64 {
        match self {
            Partial::Decayed { at_ms, .. } => *at_ms,
            Partial::Last(s, _) => s.t,
            Partial::LastN(l) => l.back().map_or(i64::MIN, |e| e.0.t),
            _ => i64::MIN,
        }
    }

    /// Visits every value (group keys included).
    pub(crate) fn for_each_val(&self, f: &mut impl FnMut(&V)) {
        match self {
            Partial::Last(_, v) => f(v),
            Partial::LastN(list) => list.iter().for_each(|(_, v)| f(v)),
            Partial::Group(entries) => {
                for (k, p) in entries {
                    f(k);
                    p.for_each_val(f);
                }
            }
            Partial::NumGroup(entries) => entries.iter().for_each(|(k, _)| f(k)),
            _ => {}
        }
    }

    /// Rewrites every value in place. `f` must preserve the order of values.
    pub(crate) fn for_each_val_mut(&mut self, f: &mut impl FnMut(&mut V)) {
        match self {
            Partial::Last(_, v) => f(v),
            Partial::LastN(list) => list.iter_mut().for_each(|(_, v)| f(v)),
            Partial::Group(entries) => {
                for (k, p) in entries {
                    f(k);
                    p.for_each_val_mut(f);
                }
            }
            Partial::NumGroup(entries) => entries.iter_mut().for_each(|(k, _)| f(k)),
            _ => {}
        }
    }

    /// Heap bytes plus the partial itself, approximately.
    pub(crate) fn approx_bytes(&self) -> usize {
        let own = std::mem::size_of::<Self>();
        own + match self {
            Partial::LastN(l) => l.capacity() * std::mem::size_of::<(Stamp, V)>(),
            Partial::Distinct(s) => s.capacity() * 8,
            Partial::Group(g) => g
                .iter()
                .map(|(_, p)| p.approx_bytes() + std::mem::size_of::<V>())
                .sum(),
            Partial::NumGroup(g) => g.capacity() * std::mem::size_of::<(V, NumLeaf)>(),
            _ => 0,
        }
    }
}

impl Partial<RVal> {
    /// The feature value as of `as_of_ms`.
    pub(crate) fn finish(&self, agg: &Agg, as_of_ms: i64) -> FeatureValue {
        match self {
            Partial::Count(c) => FeatureValue::Int(*c as i64),
            Partial::Sum(x) | Partial::Min(x) | Partial::Max(x) => FeatureValue::Float(*x),
            Partial::Last(_, v) => v.to_value(),
            Partial::LastN(list) => {
                FeatureValue::List(list.iter().rev().map(|(_, v)| v.to_value()).collect())
            }
            Partial::Distinct(s) => FeatureValue::Int(s.len().min(DISTINCT_CAP) as i64),
            Partial::Decayed { value, at_ms } => {
                FeatureValue::Float(decayed_at(*value, *at_ms, as_of_ms, half_life(agg)))
            }
            Partial::Group(entries) => {
                let mut ranked: Vec<(f64, &RVal, &Partial<RVal>)> = entries
                    .iter()
                    .map(|(k, p)| (p.score(agg, as_of_ms), k, p))
                    .collect();
                ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
                ranked.truncate(GROUP_KEYS);
                FeatureValue::Map(
                    ranked
                        .into_iter()
                        .map(|(_, k, p)| (k.to_key(), p.finish(agg, as_of_ms)))
                        .collect(),
                )
            }
            Partial::NumGroup(_) => self.general().finish(agg, as_of_ms),
        }
    }
}

/// The value of a feature with no update in its window.
pub(crate) fn empty_value(agg: &Agg, grouped: bool) -> FeatureValue {
    if grouped {
        return FeatureValue::Map(Vec::new());
    }
    match agg {
        Agg::Count | Agg::DistinctCount => FeatureValue::Int(0),
        Agg::Sum | Agg::DecayedSum { .. } => FeatureValue::Float(0.0),
        Agg::LastN { .. } => FeatureValue::List(Vec::new()),
        Agg::Min | Agg::Max | Agg::Last | Agg::Ratio { .. } => FeatureValue::Null,
    }
}

mod encoding;
mod group;
mod last_n;
pub(crate) mod num_group;
mod val;

#[cfg(test)]
mod tests;
