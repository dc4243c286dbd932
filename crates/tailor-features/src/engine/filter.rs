//! Compiled filters (event names, interaction kinds, `where` predicates) and the value
//! sources that `field` and `group_by` name.

use serde_json::Value;
use tailor_event::{Interaction, InteractionKind};

/// Where a value comes from: an interaction field or a top-level event property.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    ItemId,
    Category,
    Price,
    Quantity,
    /// price × quantity (quantity 1 when absent).
    Revenue,
    Property(String),
}

/// The accepted spellings, for error messages.
pub(crate) const FIELD_HELP: &str =
    "use item_id, category, price, quantity, revenue or properties.<key>";

impl Field {
    pub(crate) fn parse(s: &str) -> Option<Field> {
        Some(match s {
            "item_id" => Field::ItemId,
            "category" => Field::Category,
            "price" => Field::Price,
            "quantity" => Field::Quantity,
            "revenue" => Field::Revenue,
            _ => {
                let key = s.strip_prefix("properties.")?;
                if key.is_empty() {
                    return None;
                }
                Field::Property(key.to_owned())
            }
        })
    }

    /// Needs an interaction to be read (so the feature updates once per interaction).
    pub(crate) fn is_interaction(&self) -> bool {
        !matches!(self, Field::Property(_))
    }

    /// Can hold a number (sum, min, max, decayed_sum need one).
    pub(crate) fn may_be_numeric(&self) -> bool {
        !matches!(self, Field::ItemId | Field::Category)
    }

    pub(crate) fn extract<'a>(
        &self,
        inter: Option<&'a Interaction>,
        props: Option<&'a Value>,
    ) -> Option<Raw<'a>> {
        match self {
            Field::ItemId => inter.map(|i| Raw::Str(&i.item_id)),
            Field::Category => inter.and_then(|i| i.category.as_deref()).map(Raw::Str),
            Field::Price => inter.and_then(|i| i.price).map(Raw::Num),
            Field::Quantity => inter.and_then(|i| i.quantity).map(Raw::Num),
            Field::Revenue => {
                let i = inter?;
                Some(Raw::Num(i.price? * i.quantity.unwrap_or(1.0)))
            }
            Field::Property(key) => Raw::from_json(props?.get(key.as_str())?),
        }
    }
}

/// A value read from an event, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Raw<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
}

impl<'a> Raw<'a> {
    pub(crate) fn from_json(v: &'a Value) -> Option<Raw<'a>> {
        match v {
            Value::String(s) => Some(Raw::Str(s)),
            Value::Number(n) => n.as_f64().map(Raw::Num),
            Value::Bool(b) => Some(Raw::Bool(*b)),
            _ => None,
        }
    }

    /// As a finite number: numbers, and strings that parse as one.
    pub(crate) fn number(self) -> Option<f64> {
        let n = match self {
            Raw::Num(n) => n,
            Raw::Str(s) => s.trim().parse().ok()?,
            Raw::Bool(_) => return None,
        };
        n.is_finite().then_some(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Exists,
}

impl Op {
    pub(crate) fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "exists" => Op::Exists,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    None,
    Num(f64),
    Str(String),
    Bool(bool),
}

/// One `where` condition. An absent value satisfies no operator but `exists` (which it
/// fails); `gt`/`ge`/`lt`/`le` compare numbers (numeric strings count as numbers);
/// `eq`/`ne` compare numbers numerically, strings and booleans exactly.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pred {
    pub(crate) target: Field,
    pub(crate) op: Op,
    pub(crate) operand: Operand,
}

impl Pred {
    fn holds(&self, inter: Option<&Interaction>, props: Option<&Value>) -> bool {
        let Some(v) = self.target.extract(inter, props) else {
            return false;
        };
        let ord = |want: fn(std::cmp::Ordering) -> bool| match (&self.operand, v.number()) {
            (Operand::Num(x), Some(n)) => n.partial_cmp(x).is_some_and(want),
            _ => false,
        };
        let equal = || match (&self.operand, v) {
            (Operand::Num(x), v) => v.number() == Some(*x),
            (Operand::Str(x), Raw::Str(s)) => x == s,
            (Operand::Bool(x), Raw::Bool(b)) => *x == b,
            _ => false,
        };
        match self.op {
            Op::Exists => true,
            Op::Eq => equal(),
            Op::Ne => !equal(),
            Op::Gt => ord(|o| o.is_gt()),
            Op::Ge => ord(|o| o.is_ge()),
            Op::Lt => ord(|o| o.is_lt()),
            Op::Le => ord(|o| o.is_le()),
        }
    }
}

/// Index of an interaction kind in masks and weight tables.
pub(crate) fn kind_index(k: InteractionKind) -> usize {
    match k {
        InteractionKind::View => 0,
        InteractionKind::Click => 1,
        InteractionKind::AddToCart => 2,
        InteractionKind::Purchase => 3,
        InteractionKind::Impression => 4,
    }
}

pub(crate) fn parse_kind(s: &str) -> Option<InteractionKind> {
    InteractionKind::ALL.into_iter().find(|k| k.as_str() == s)
}

/// Every filter of one feature, pre-resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    /// Interned event names accepted; `None` accepts every event.
    pub(crate) events: Option<Vec<u16>>,
    /// Bit i set: interactions of kind index i are accepted.
    pub(crate) kinds: u8,
    pub(crate) preds: Vec<Pred>,
}

pub(crate) const ALL_KINDS: u8 = 0b1_1111;

impl Filter {
    pub(crate) fn event_ok(&self, event: Option<u16>) -> bool {
        match (&self.events, event) {
            (None, _) => true,
            (Some(ids), Some(e)) => ids.contains(&e),
            (Some(_), None) => false,
        }
    }

    pub(crate) fn interaction_ok(&self, inter: &Interaction) -> bool {
        self.kinds & (1 << kind_index(inter.kind)) != 0
    }

    pub(crate) fn preds_ok(&self, inter: Option<&Interaction>, props: Option<&Value>) -> bool {
        self.preds.iter().all(|p| p.holds(inter, props))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pred(target: Field, op: Op, operand: Operand) -> Pred {
        Pred {
            target,
            op,
            operand,
        }
    }

    #[test]
    fn predicates() {
        let props = json!({"price": "12.5", "coupon": "X", "vip": true});
        let inter = Interaction {
            kind: InteractionKind::Purchase,
            item_id: "P1".into(),
            category: None,
            price: Some(4.0),
            quantity: Some(3.0),
            currency: None,
            order_id: None,
            rec_id: None,
        };
        let p = |t, o, v| pred(t, o, v).holds(Some(&inter), Some(&props));
        let prop = |k: &str| Field::Property(k.into());
        assert!(p(prop("price"), Op::Gt, Operand::Num(10.0)));
        assert!(!p(prop("price"), Op::Lt, Operand::Num(10.0)));
        assert!(p(prop("coupon"), Op::Eq, Operand::Str("X".into())));
        assert!(p(prop("coupon"), Op::Ne, Operand::Str("Y".into())));
        assert!(p(prop("vip"), Op::Eq, Operand::Bool(true)));
        assert!(p(prop("coupon"), Op::Exists, Operand::None));
        assert!(!p(prop("missing"), Op::Exists, Operand::None));
        assert!(!p(prop("missing"), Op::Ne, Operand::Str("Y".into())));
        assert!(p(Field::Revenue, Op::Eq, Operand::Num(12.0)));
        assert!(!p(Field::Category, Op::Exists, Operand::None));
        assert!(p(Field::ItemId, Op::Eq, Operand::Str("P1".into())));
    }
}
