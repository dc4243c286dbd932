//! One feature update: an event (or one of its interactions) through a feature's filters,
//! its value read and interned, and the update applied to the entity's slot.

use serde_json::Value;
use tailor_event::Interaction;

use super::agg::{Agg, Stamp, Update, Val};
use super::compile::{Feature, KindPlan, ValueMode};
use super::entity::EntityMut;
use super::filter::{kind_index, Field, Raw};
use super::intern::{hash_num, Interner, Sym};
use super::window::session::{self, Step};
use super::window::{self, Window};

/// Per-event context shared by every feature update.
pub(crate) struct EventCx<'a> {
    pub(crate) t: i64,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    pub(crate) event_id: Option<u16>,
    pub(crate) props: Option<&'a Value>,
    pub(crate) item_syms: &'a [Sym],
    pub(crate) cat_syms: &'a [Option<Sym>],
    /// Per bucketed window of the feature set: (bucket start of t, horizon).
    pub(crate) bucket_pos: &'a [(i64, i64)],
}

/// Records an event of the entity; returns whether session features take it.
pub(crate) fn touch(ent: &mut EntityMut<'_>, t: i64, plan: &KindPlan, gap_ms: i64) -> bool {
    ent.head.last_ms = ent.head.last_ms.max(t);
    if plan.session_slots.is_empty() {
        return true;
    }
    let mut clock = ent.head.session();
    let step = session::observe(&mut clock, t, gap_ms);
    ent.head.set_session(clock);
    match step {
        Step::New => {
            for &s in &plan.session_slots {
                if let Some(slot) = ent.slots.get_mut(s) {
                    slot.reset();
                }
            }
            true
        }
        Step::Joined => true,
        Step::Outside => false,
    }
}

/// The id of a `property:<key>` entity: the property as a string (numbers printed).
pub(crate) fn property_id<'a>(props: Option<&Value>, key: &str, buf: &'a mut String) -> &'a str {
    buf.clear();
    match props.and_then(|p| p.get(key)) {
        Some(Value::String(s)) => buf.push_str(s),
        Some(Value::Number(n)) => {
            use std::fmt::Write;
            let _ = write!(buf, "{n}");
        }
        _ => {}
    }
    buf
}

/// A value to keep: numbers as bits, strings interned.
fn resolve_val(
    field: &Field,
    inter: Option<(usize, &Interaction)>,
    cx: &EventCx<'_>,
    interner: &mut Interner,
) -> Option<Val> {
    let cached = match (field, inter) {
        (Field::ItemId, Some((i, _))) => cx.item_syms.get(i).copied(),
        (Field::Category, Some((i, _))) => cx.cat_syms.get(i).copied().flatten(),
        _ => None,
    };
    if let Some(sym) = cached {
        return Some(Val::of_sym(sym));
    }
    match field.extract(inter.map(|(_, i)| i), cx.props)? {
        Raw::Str("") => None,
        Raw::Str(s) => Some(Val::of_sym(interner.intern(s))),
        Raw::Num(n) => n.is_finite().then(|| Val::of_num(n)),
        Raw::Bool(b) => {
            let s = if b { "true" } else { "false" };
            Some(Val::of_sym(interner.intern(s)))
        }
    }
}

/// Applies one feature's filters and, if the event passes, its update.
pub(crate) fn update(
    f: &Feature,
    ent: &mut EntityMut<'_>,
    inter: Option<(usize, &Interaction)>,
    cx: &EventCx<'_>,
    interner: &mut Interner,
    in_session: bool,
) {
    if (f.window == Window::Session && !in_session) || !f.filter.event_ok(cx.event_id) {
        return;
    }
    let it = inter.map(|(_, i)| i);
    if it.is_some_and(|i| !f.filter.interaction_ok(i)) {
        return;
    }
    if !f.filter.preds.is_empty() && !f.filter.preds_ok(it, cx.props) {
        return;
    }
    let weight = match (&f.weights, it) {
        (None, _) => 1.0,
        (Some(w), Some(i)) if w[kind_index(i.kind)] > 0.0 => w[kind_index(i.kind)],
        (Some(_), _) => return,
    };
    let key = match &f.group_by {
        None => None,
        Some(g) => match resolve_val(g, inter, cx, interner) {
            Some(k) => Some(k),
            None => return,
        },
    };
    let (num, val) = match &f.mode {
        ValueMode::Count => (1.0, Val::of_num(0.0)),
        ValueMode::Weight => (weight, Val::of_num(0.0)),
        ValueMode::Number(field) => match field.extract(it, cx.props).and_then(Raw::number) {
            Some(n) if (n * weight).is_finite() => (n * weight, Val::of_num(0.0)),
            _ => return,
        },
        ValueMode::Value(field) => match resolve_val(field, inter, cx, interner) {
            Some(v) => (0.0, v),
            None => return,
        },
    };
    let hash = match (&f.agg, val) {
        (Agg::DistinctCount, v) => match v.as_sym() {
            Some(s) => interner.hash_of(s),
            None => hash_num(v.tag()),
        },
        _ => 0,
    };
    let u = Update {
        stamp: Stamp::new(cx.t, cx.partition, cx.offset, inter.map_or(0, |(i, _)| i)),
        num,
        val,
        hash,
    };
    let bucket = f.bucket_ix.and_then(|i| cx.bucket_pos.get(i).copied());
    if let Some(slot) = ent.slots.get_mut(f.slot) {
        window::update(slot, &f.agg, key.as_ref(), &u, bucket);
    }
}
