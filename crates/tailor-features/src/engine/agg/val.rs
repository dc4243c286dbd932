//! Values kept in partials: [`Val`], partition-local (numbers and interned strings in 8
//! bytes), and [`RVal`], resolved for reading and export.

use serde::{Deserialize, Serialize};

use super::super::value::FeatureValue;

/// A value kept in state: a finite number (its f64 bits, -0 normalised) or an interned
/// string, in 8 bytes (lists and group keys are most of the state, and reading them is
/// most of an update's memory traffic).
///
/// Numbers are always finite, so the bit patterns of infinities and NaNs never hold one: a
/// symbol `s` is `SYM_BASE | s` (sign and exponent bits all set), above the bits of every
/// finite number. Values therefore order as an enum `Num(bits) < Sym(s)` would, numbers by
/// their bits and symbols by number, and are encoded as that enum ([`ValRepr`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "ValRepr", try_from = "ValRepr")]
pub(crate) struct Val(u64);

/// Bits of symbol 0; every bit pattern at or above it is a symbol.
const SYM_BASE: u64 = 0xfff0_0000_0000_0000;

/// The encoding of a [`Val`] (as it was when `Val` was this enum).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum ValRepr {
    Num(u64),
    Sym(u32),
}

impl From<Val> for ValRepr {
    fn from(v: Val) -> ValRepr {
        match v.as_sym() {
            Some(s) => ValRepr::Sym(s),
            None => ValRepr::Num(v.0),
        }
    }
}

impl TryFrom<ValRepr> for Val {
    type Error = String;

    fn try_from(r: ValRepr) -> Result<Val, String> {
        match r {
            ValRepr::Sym(s) => Ok(Val::of_sym(s)),
            ValRepr::Num(b) if f64::from_bits(b).is_finite() => Ok(Val(b)),
            ValRepr::Num(b) => Err(format!("value bits {b:#x} are not a finite number")),
        }
    }
}

impl std::fmt::Debug for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_sym() {
            Some(s) => write!(f, "Sym({s})"),
            None => write!(f, "Num({})", f64::from_bits(self.0)),
        }
    }
}

/// A value resolved for reading (strings no longer partition-local).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum RVal {
    Num(u64),
    Str(String),
}

impl Val {
    /// The number `x`; a number that is not finite (never kept) is taken as 0.
    pub(crate) fn of_num(x: f64) -> Val {
        Val(if x.is_finite() { num_bits(x) } else { 0 })
    }

    /// The interned string `s`.
    pub(crate) const fn of_sym(s: u32) -> Val {
        Val(SYM_BASE | s as u64)
    }

    /// The symbol, when the value is a string.
    pub(crate) fn as_sym(self) -> Option<u32> {
        (self.0 >= SYM_BASE).then(|| (self.0 - SYM_BASE) as u32)
    }

    /// A cheap read of the value (prefetching).
    pub(crate) fn tag(&self) -> u64 {
        self.0
    }
}

fn num_bits(x: f64) -> u64 {
    if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

impl RVal {
    pub(crate) fn to_value(&self) -> FeatureValue {
        match self {
            RVal::Num(b) => FeatureValue::Float(f64::from_bits(*b)),
            RVal::Str(s) => FeatureValue::Str(s.clone()),
        }
    }

    pub(crate) fn to_key(&self) -> String {
        match self {
            RVal::Str(s) => s.clone(),
            RVal::Num(b) => {
                let x = f64::from_bits(*b);
                if x.fract() == 0.0 && x.abs() < 1e15 {
                    format!("{}", x as i64)
                } else {
                    format!("{x}")
                }
            }
        }
    }
}
