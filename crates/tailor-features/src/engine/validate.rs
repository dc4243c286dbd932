//! Validation of one feature definition: every setting parsed and checked against its
//! aggregation, with errors naming the feature and the field
//! (`features.define[3] ("item_ctr_24h").window: ...`).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::agg::Agg;
use super::compile::{Feature, ValueMode};
use super::def::{parse_duration_ms, FeatureDef, Predicate};
use super::filter::{
    kind_index, parse_kind, Field, Filter, Op, Operand, Pred, ALL_KINDS, FIELD_HELP,
};
use super::value::EntityKind;
use super::window::Window;
use crate::{Error, Result};

pub(crate) const AGG_HELP: &str =
    "use count, sum, distinct_count, min, max, last, last_n, decayed_sum or ratio";
pub(crate) const ENTITY_HELP: &str =
    "use user, anonymous_id, item, category, global or property:<key>";
const KIND_HELP: &str = "use view, click, add_to_cart, purchase or impression";
const OP_HELP: &str = "use eq, ne, gt, ge, lt, le or exists";
const MAX_LAST_N: usize = 1_000;

pub(crate) struct Ctx {
    pub(crate) prefix: String,
}

impl Ctx {
    pub(crate) fn err(&self, field: &str, msg: impl std::fmt::Display) -> Error {
        Error::FeatureConfig(format!("{}.{field}: {msg}", self.prefix))
    }
}

pub(crate) fn check_ratio(
    ctx: &Ctx,
    d: &FeatureDef,
    merged: &[(Ctx, FeatureDef)],
    by_name: &BTreeMap<&str, usize>,
) -> Result<(usize, usize)> {
    let unused: [(&str, bool); 10] = [
        ("events", !d.events.is_empty()),
        ("interactions", !d.interactions.is_empty()),
        ("where", !d.filters.is_empty()),
        ("field", d.field.is_some()),
        ("window", d.window.is_some()),
        ("n", d.n.is_some()),
        ("distinct", d.distinct.is_some()),
        ("half_life", d.half_life.is_some()),
        ("weights", d.weights.is_some()),
        ("group_by", d.group_by.is_some()),
    ];
    if let Some((field, _)) = unused.iter().find(|(_, set)| *set) {
        return Err(ctx.err(
            field,
            "a ratio is computed from its numerator and denominator features (their windows and filters apply); remove this setting",
        ));
    }
    let refer = |field: &str, name: &Option<String>| -> Result<usize> {
        let name = name.as_deref().ok_or_else(|| {
            ctx.err(
                field,
                "ratio needs numerator and denominator (feature names)",
            )
        })?;
        let &i = by_name
            .get(name)
            .ok_or_else(|| ctx.err(field, format!("{name:?} is not a defined feature")))?;
        let other = &merged[i].1;
        if other.entity != d.entity {
            return Err(ctx.err(
                field,
                format!(
                    "{name:?} has entity {:?}, not {:?}; a ratio divides features of the same entity",
                    other.entity, d.entity
                ),
            ));
        }
        let numeric = [
            "count",
            "sum",
            "distinct_count",
            "min",
            "max",
            "decayed_sum",
        ];
        if !numeric.contains(&other.aggregation.as_str()) || other.group_by.is_some() {
            return Err(ctx.err(
                field,
                format!("{name:?} is not a single number (aggregation {:?}{}); a ratio needs count, sum, distinct_count, min, max or decayed_sum without group_by",
                    other.aggregation,
                    if other.group_by.is_some() { " with group_by" } else { "" }),
            ));
        }
        Ok(i)
    };
    let num = refer("numerator", &d.numerator)?;
    let den = refer("denominator", &d.denominator)?;
    Ok((num, den))
}

pub(crate) fn compile_one(
    ctx: &Ctx,
    d: &FeatureDef,
    entity: &EntityKind,
    event_names: &mut FxHashMap<String, u16>,
) -> Result<Feature> {
    for (field, set) in [
        ("numerator", d.numerator.is_some()),
        ("denominator", d.denominator.is_some()),
    ] {
        if set {
            return Err(ctx.err(
                field,
                "only aggregation = \"ratio\" takes numerator and denominator",
            ));
        }
    }
    let window = Window::parse(d.window.as_deref().unwrap_or("lifetime"))
        .map_err(|m| ctx.err("window", m))?;
    if window == Window::Session && *entity != EntityKind::User {
        return Err(ctx.err(
            "window",
            format!("\"session\" needs entity = \"user\" (sessions are tracked per user, in the user's log partition), not {:?}", d.entity),
        ));
    }
    let parse_field = |name: &str, s: &str| {
        Field::parse(s).ok_or_else(|| ctx.err(name, format!("{s:?} is not a field; {FIELD_HELP}")))
    };
    let field = d
        .field
        .as_deref()
        .map(|s| parse_field("field", s))
        .transpose()?;
    let group_by = d
        .group_by
        .as_deref()
        .map(|s| parse_field("group_by", s))
        .transpose()?;

    let mut agg = match d.aggregation.as_str() {
        "count" => Agg::Count,
        "sum" => Agg::Sum,
        "distinct_count" => Agg::DistinctCount,
        "min" => Agg::Min,
        "max" => Agg::Max,
        "last" => Agg::Last,
        "last_n" => Agg::LastN {
            n: 0,
            distinct: false,
        },
        "decayed_sum" => Agg::DecayedSum { half_life_ms: 0.0 },
        other => {
            return Err(ctx.err(
                "aggregation",
                format!("{other:?} is not an aggregation; {AGG_HELP}"),
            ))
        }
    };
    let agg_name = d.aggregation.as_str();
    // n / distinct / half_life / weights belong to one aggregation each.
    match (&mut agg, d.n) {
        (Agg::LastN { n, distinct }, Some(k)) if (1..=MAX_LAST_N).contains(&k) => {
            *n = k;
            *distinct = d.distinct.unwrap_or(false);
        }
        (Agg::LastN { .. }, _) => {
            return Err(ctx.err("n", format!("last_n needs n between 1 and {MAX_LAST_N}")))
        }
        (_, Some(_)) => return Err(ctx.err("n", format!("only last_n takes n, not {agg_name}"))),
        _ => {}
    }
    if d.distinct.is_some() && !matches!(agg, Agg::LastN { .. }) {
        return Err(ctx.err(
            "distinct",
            format!("only last_n takes distinct, not {agg_name}"),
        ));
    }
    match (&mut agg, &d.half_life) {
        (Agg::DecayedSum { half_life_ms }, Some(h)) => {
            *half_life_ms = parse_duration_ms(h).ok_or_else(|| {
                ctx.err(
                    "half_life",
                    format!("{h:?} is not a duration; use e.g. 30m, 24h or 7d"),
                )
            })? as f64;
        }
        (Agg::DecayedSum { .. }, None) => {
            return Err(ctx.err("half_life", "decayed_sum needs a half_life, e.g. \"24h\""))
        }
        (_, Some(_)) => {
            return Err(ctx.err(
                "half_life",
                format!("only decayed_sum takes half_life, not {agg_name}"),
            ))
        }
        _ => {}
    }
    let weights = match &d.weights {
        None => None,
        Some(_) if !matches!(agg, Agg::Sum | Agg::DecayedSum { .. }) => {
            return Err(ctx.err(
                "weights",
                format!("only sum and decayed_sum take weights, not {agg_name}"),
            ))
        }
        Some(map) => {
            let mut w = [0.0; 5];
            for (k, v) in map {
                let kind = parse_kind(k).ok_or_else(|| {
                    ctx.err(
                        &format!("weights.{k}"),
                        format!("not an interaction kind; {KIND_HELP}"),
                    )
                })?;
                if !v.is_finite() || *v < 0.0 {
                    return Err(ctx.err(
                        &format!("weights.{k}"),
                        format!("must be a finite number >= 0, got {v}"),
                    ));
                }
                w[kind_index(kind)] = *v;
            }
            Some(w)
        }
    };

    let mode = match (&agg, field) {
        (Agg::Count, None) => ValueMode::Count,
        (Agg::Count, Some(_)) => {
            return Err(ctx.err(
                "field",
                "count counts updates and reads no field; remove it (or use sum)",
            ))
        }
        (Agg::Sum | Agg::DecayedSum { .. }, None) => {
            if matches!(agg, Agg::Sum) && weights.is_none() {
                return Err(ctx.err("field", "sum needs a field (or weights)"));
            }
            ValueMode::Weight
        }
        (
            Agg::Min
            | Agg::Max
            | Agg::Last
            | Agg::LastN { .. }
            | Agg::DistinctCount
            | Agg::Ratio { .. },
            None,
        ) => return Err(ctx.err("field", format!("{agg_name} needs a field; {FIELD_HELP}"))),
        (Agg::Sum | Agg::DecayedSum { .. } | Agg::Min | Agg::Max, Some(f)) => {
            if !f.may_be_numeric() {
                return Err(ctx.err(
                    "field",
                    format!(
                        "{:?} is not numeric; {agg_name} needs price, quantity, revenue or properties.<key>",
                        d.field.as_deref().unwrap_or("")
                    ),
                ));
            }
            ValueMode::Number(f)
        }
        (_, Some(f)) => ValueMode::Value(f),
    };

    let mut events = Vec::new();
    for (i, e) in d.events.iter().enumerate() {
        if e.trim().is_empty() {
            return Err(ctx.err(&format!("events[{i}]"), "must not be empty"));
        }
        let next = event_names.len() as u16;
        events.push(*event_names.entry(e.clone()).or_insert(next));
    }
    events.sort_unstable();
    events.dedup();
    let mut kinds = if d.interactions.is_empty() {
        ALL_KINDS
    } else {
        0
    };
    for (i, k) in d.interactions.iter().enumerate() {
        let kind = parse_kind(k).ok_or_else(|| {
            ctx.err(
                &format!("interactions[{i}]"),
                format!("{k:?} is not an interaction kind; {KIND_HELP}"),
            )
        })?;
        kinds |= 1 << kind_index(kind);
    }
    let preds = d
        .filters
        .iter()
        .enumerate()
        .map(|(i, p)| compile_pred(ctx, i, p))
        .collect::<Result<Vec<_>>>()?;

    let per_interaction = matches!(entity, EntityKind::Item | EntityKind::Category)
        || !d.interactions.is_empty()
        || weights.is_some()
        || matches!(&mode, ValueMode::Number(f) | ValueMode::Value(f) if f.is_interaction())
        || group_by.as_ref().is_some_and(Field::is_interaction)
        || preds.iter().any(|p| p.target.is_interaction());
    Ok(Feature {
        name: d.name.clone(),
        kind: 0,
        slot: 0,
        agg,
        window,
        bucket_ix: None,
        filter: Filter {
            events: (!d.events.is_empty()).then_some(events),
            kinds,
            preds,
        },
        mode,
        group_by,
        weights,
        per_interaction,
    })
}

fn compile_pred(ctx: &Ctx, i: usize, p: &Predicate) -> Result<Pred> {
    let at = |f: &str| format!("where[{i}]{f}");
    let target = match (&p.property, &p.field) {
        (Some(k), None) if !k.is_empty() => Field::Property(k.clone()),
        (None, Some(f)) => Field::parse(f).ok_or_else(|| {
            ctx.err(&at(".field"), format!("{f:?} is not a field; {FIELD_HELP}"))
        })?,
        _ => {
            return Err(ctx.err(
                &at(""),
                "give exactly one of property (a properties key) or field (item_id, category, price, quantity, revenue)",
            ))
        }
    };
    let op = Op::parse(&p.op).ok_or_else(|| {
        ctx.err(
            &at(".op"),
            format!("{:?} is not an operator; {OP_HELP}", p.op),
        )
    })?;
    let operand = match (op, &p.value) {
        (Op::Exists, None) => Operand::None,
        (Op::Exists, Some(_)) => return Err(ctx.err(&at(".value"), "exists takes no value")),
        (_, None) => return Err(ctx.err(&at(".value"), format!("{:?} needs a value", p.op))),
        (_, Some(v)) => match v {
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(x) if x.is_finite() => Operand::Num(x),
                _ => return Err(ctx.err(&at(".value"), format!("{n} is not a finite number"))),
            },
            serde_json::Value::String(s) if matches!(op, Op::Eq | Op::Ne) => {
                Operand::Str(s.clone())
            }
            serde_json::Value::Bool(b) if matches!(op, Op::Eq | Op::Ne) => Operand::Bool(*b),
            other => {
                let need = if matches!(op, Op::Eq | Op::Ne) {
                    "a string, number or boolean"
                } else {
                    "a number"
                };
                return Err(ctx.err(
                    &at(".value"),
                    format!("{:?} compares with {need}, got {other}", p.op),
                ));
            }
        },
    };
    Ok(Pred {
        target,
        op,
        operand,
    })
}
