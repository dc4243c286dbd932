//! The encoding of partials (checkpoints, exported rows): that of the enum without
//! [`Partial::NumGroup`], which encodes as the general group it stands for — so the bytes
//! of a state do not depend on how groups are held in memory — and a decoded group whose
//! leaves are all numbers is held as a [`Partial::NumGroup`] again.

use std::collections::VecDeque;

use serde::ser::{SerializeStructVariant, SerializeTupleVariant, Serializer};
use serde::{Deserialize, Serialize};

use super::num_group::{self, AsGeneral};
use super::{Partial, Stamp};

const NAME: &str = "Partial";

impl<V: Serialize> Serialize for Partial<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Partial::Count(c) => s.serialize_newtype_variant(NAME, 0, "Count", c),
            Partial::Sum(x) => s.serialize_newtype_variant(NAME, 1, "Sum", x),
            Partial::Min(x) => s.serialize_newtype_variant(NAME, 2, "Min", x),
            Partial::Max(x) => s.serialize_newtype_variant(NAME, 3, "Max", x),
            Partial::Last(stamp, v) => {
                let mut t = s.serialize_tuple_variant(NAME, 4, "Last", 2)?;
                t.serialize_field(stamp)?;
                t.serialize_field(&**v)?;
                t.end()
            }
            Partial::LastN(l) => s.serialize_newtype_variant(NAME, 5, "LastN", l),
            Partial::Distinct(d) => s.serialize_newtype_variant(NAME, 6, "Distinct", d),
            Partial::Decayed { value, at_ms } => {
                let mut t = s.serialize_struct_variant(NAME, 7, "Decayed", 2)?;
                t.serialize_field("value", value)?;
                t.serialize_field("at_ms", at_ms)?;
                t.end()
            }
            Partial::Group(g) => s.serialize_newtype_variant(NAME, 8, "Group", g),
            Partial::NumGroup(g) => s.serialize_newtype_variant(NAME, 8, "Group", &AsGeneral(g)),
        }
    }
}

/// What is decoded: [`Partial`] as it is encoded.
#[derive(Deserialize)]
#[serde(rename = "Partial")]
pub(crate) enum PartialRepr<V> {
    Count(u64),
    Sum(f64),
    Min(f64),
    Max(f64),
    Last(Stamp, Box<V>),
    LastN(VecDeque<(Stamp, V)>),
    Distinct(Vec<u64>),
    Decayed { value: f64, at_ms: i64 },
    Group(Vec<(V, Partial<V>)>),
}

impl<V> From<PartialRepr<V>> for Partial<V> {
    fn from(r: PartialRepr<V>) -> Partial<V> {
        match r {
            PartialRepr::Count(c) => Partial::Count(c),
            PartialRepr::Sum(x) => Partial::Sum(x),
            PartialRepr::Min(x) => Partial::Min(x),
            PartialRepr::Max(x) => Partial::Max(x),
            PartialRepr::Last(stamp, v) => Partial::Last(stamp, v),
            PartialRepr::LastN(l) => Partial::LastN(l),
            PartialRepr::Distinct(d) => Partial::Distinct(d),
            PartialRepr::Decayed { value, at_ms } => Partial::Decayed { value, at_ms },
            PartialRepr::Group(g) => num_group::compact(g),
        }
    }
}
