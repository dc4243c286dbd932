//! `group_by` partials whose leaves are numbers (count, sum, min, max, decayed_sum — every
//! group of the default set): per key only the leaf's two words, 24-byte entries instead of
//! the 40 of a general [`Partial::Group`] entry. A user event searches (and, for a new key,
//! moves) its groups' entries, so their size is much of its cost.
//!
//! A [`Partial::NumGroup`] is the same value as the general group it stands for: it encodes
//! as that group does, and a decoded group whose leaves are all numbers becomes one again.

use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;

use super::{Agg, Partial, Update};

/// `at_ms` of leaves that are not decayed sums: the aggregation (no event time is this
/// small; a decayed sum whose reference time would be is kept in a general group).
const COUNT: i64 = i64::MIN;
const SUM: i64 = i64::MIN + 1;
const MIN: i64 = i64::MIN + 2;
const MAX: i64 = i64::MIN + 3;

/// A numeric leaf: the number's bits and, for a decayed sum, its reference time (else the
/// aggregation, see [`COUNT`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NumLeaf {
    bits: u64,
    at_ms: i64,
}

impl NumLeaf {
    /// The leaf holding `p`, if `p` is a number.
    pub(crate) fn of<V>(p: &Partial<V>) -> Option<NumLeaf> {
        let (bits, at_ms) = match *p {
            Partial::Count(c) => (c, COUNT),
            Partial::Sum(x) => (x.to_bits(), SUM),
            Partial::Min(x) => (x.to_bits(), MIN),
            Partial::Max(x) => (x.to_bits(), MAX),
            Partial::Decayed { value, at_ms } if at_ms > MAX => (value.to_bits(), at_ms),
            _ => return None,
        };
        Some(NumLeaf { bits, at_ms })
    }

    /// The partial this leaf holds.
    pub(crate) fn partial<V>(self) -> Partial<V> {
        let x = f64::from_bits(self.bits);
        match self.at_ms {
            COUNT => Partial::Count(self.bits),
            SUM => Partial::Sum(x),
            MIN => Partial::Min(x),
            MAX => Partial::Max(x),
            at_ms => Partial::Decayed { value: x, at_ms },
        }
    }
}

/// A group of these entries: a [`Partial::NumGroup`] if every leaf is a number (and there
/// is one), else a general group.
pub(crate) fn compact<V>(entries: Vec<(V, Partial<V>)>) -> Partial<V> {
    if entries.is_empty() || entries.iter().any(|(_, p)| NumLeaf::of(p).is_none()) {
        return Partial::Group(entries);
    }
    Partial::NumGroup(
        entries
            .into_iter()
            .filter_map(|(k, p)| Some((k, NumLeaf::of(&p)?)))
            .collect(),
    )
}

/// General group entries of numeric ones.
pub(crate) fn to_general<V: Clone>(entries: &[(V, NumLeaf)]) -> Vec<(V, Partial<V>)> {
    entries
        .iter()
        .map(|(k, l)| (k.clone(), l.partial()))
        .collect()
}

/// Adds one update under `key`; `false` (nothing changed) when the result would not be a
/// number leaf, so the caller goes on with a general group.
pub(crate) fn add<V: Clone + Ord>(
    entries: &mut Vec<(V, NumLeaf)>,
    agg: &Agg,
    key: &V,
    u: &Update<V>,
) -> bool {
    match entries.binary_search_by(|e| e.0.cmp(key)) {
        Ok(i) => {
            let Some(e) = entries.get_mut(i) else {
                return false;
            };
            let mut p: Partial<V> = e.1.partial();
            p.add_leaf(agg, u);
            match NumLeaf::of(&p) {
                Some(l) => {
                    e.1 = l;
                    true
                }
                None => false,
            }
        }
        Err(i) => {
            let Some(l) = NumLeaf::of(&Partial::leaf(agg, u)) else {
                return false;
            };
            super::reserve_one(entries);
            entries.insert(i, (key.clone(), l));
            if entries.len() > super::GROUP_KEPT {
                super::group::prune_by(
                    entries,
                    |l: &NumLeaf| l.partial::<V>().latest(),
                    |l: &NumLeaf, at| l.partial::<V>().score(agg, at),
                    super::GROUP_KEYS,
                );
            }
            true
        }
    }
}

/// Encodes numeric entries as the general group's entries.
pub(crate) struct AsGeneral<'a, V>(pub(crate) &'a [(V, NumLeaf)]);

impl<V: Serialize> Serialize for AsGeneral<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (k, l) in self.0 {
            seq.serialize_element(&(k, l.partial::<V>()))?;
        }
        seq.end()
    }
}
