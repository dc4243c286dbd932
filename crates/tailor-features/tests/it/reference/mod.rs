//! The brute-force reference of the property tests: a stream generator, a definition set
//! with every aggregation × window kind, and recounts of each aggregation over the updates a
//! window selects.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tailor_event::{Interaction, InteractionKind};
use tailor_features::engine::{FeatureDef, FeatureEvent, FeatureValue, FeaturesConfig};

pub const T0: i64 = 1_704_067_200_000;
pub const LATENESS_MS: i64 = 120_000;
pub const GAP_MS: i64 = 300_000;
pub const SLIDING: &str = "10m";
pub const SLIDING_MS: i64 = 600_000;
pub const TUMBLING_MS: i64 = 900_000;
pub const HALF_LIFE_MS: f64 = 600_000.0;

pub const KINDS: [InteractionKind; 3] = [
    InteractionKind::View,
    InteractionKind::Click,
    InteractionKind::Purchase,
];

#[derive(Debug, Clone)]
pub struct Gen {
    pub user: u8,
    pub dt: i64,
    pub back: Option<i64>,
    pub inters: Vec<(usize, u8, u8, Option<u8>)>,
}

pub fn gen_events() -> impl Strategy<Value = Vec<Gen>> {
    let inter = (0usize..3, 0u8..8, 0u8..3, proptest::option::of(1u8..100));
    let one = (
        0u8..3,
        0i64..90_000,
        proptest::option::weighted(0.2, 0i64..200_000),
        proptest::collection::vec(inter, 0..3),
    )
        .prop_map(|(user, dt, back, inters)| Gen {
            user,
            dt,
            back,
            inters,
        });
    proptest::collection::vec(one, 1..70)
}

pub fn to_events(gens: &[Gen]) -> Vec<FeatureEvent> {
    let mut cur = T0;
    gens.iter()
        .map(|g| {
            cur += g.dt;
            let t = cur - g.back.unwrap_or(0);
            FeatureEvent {
                event: Some("e".into()),
                user_id: Some(format!("u{}", g.user)),
                anonymous_id: None,
                event_time_ms: t,
                received_at_ms: t,
                interactions: g
                    .inters
                    .iter()
                    .map(|&(k, item, cat, price)| Interaction {
                        kind: KINDS[k],
                        item_id: format!("i{item}"),
                        category: Some(format!("c{cat}")),
                        price: price.map(f64::from),
                        quantity: None,
                        currency: None,
                        order_id: None,
                        rec_id: None,
                    })
                    .collect(),
                properties: None,
            }
        })
        .collect()
}

pub const AGGS: [&str; 12] = [
    "cnt_ev",
    "cnt_view",
    "sum_price",
    "min_price",
    "max_price",
    "distinct_items",
    "last_item",
    "last3",
    "last3d",
    "decayed",
    "grp",
    "ratio",
];
pub const WINDOWS: [(&str, &str); 4] = [
    ("sliding", SLIDING),
    ("tumbling", "tumbling:15m"),
    ("session", "session"),
    ("lifetime", "lifetime"),
];

pub fn def(name: String, entity: &str, agg: &str, window: &str) -> FeatureDef {
    FeatureDef {
        name,
        entity: entity.into(),
        aggregation: agg.into(),
        window: Some(window.into()),
        ..FeatureDef::default()
    }
}

/// Every aggregation × window kind on `entity` (session only for users).
pub fn config(entity: &str, field_for_values: &str, lateness_ms: i64) -> FeaturesConfig {
    let mut define = Vec::new();
    for (w, window) in WINDOWS {
        if w == "session" && entity != "user" {
            continue;
        }
        let name = |a: &str| format!("{a}_{w}");
        let value = |a: &str, agg: &str| FeatureDef {
            field: Some(field_for_values.into()),
            ..def(name(a), entity, agg, window)
        };
        let price = |a: &str, agg: &str| FeatureDef {
            field: Some("price".into()),
            ..def(name(a), entity, agg, window)
        };
        define.push(def(name("cnt_ev"), entity, "count", window));
        define.push(FeatureDef {
            interactions: vec!["view".into(), "click".into()],
            ..def(name("cnt_view"), entity, "count", window)
        });
        define.push(price("sum_price", "sum"));
        define.push(price("min_price", "min"));
        define.push(price("max_price", "max"));
        define.push(value("distinct_items", "distinct_count"));
        define.push(value("last_item", "last"));
        define.push(FeatureDef {
            n: Some(3),
            ..value("last3", "last_n")
        });
        define.push(FeatureDef {
            n: Some(3),
            distinct: Some(true),
            ..value("last3d", "last_n")
        });
        define.push(FeatureDef {
            half_life: Some("10m".into()),
            ..price("decayed", "decayed_sum")
        });
        define.push(FeatureDef {
            group_by: Some("category".into()),
            interactions: vec!["view".into(), "click".into(), "purchase".into()],
            ..def(name("grp"), entity, "count", window)
        });
        define.push(FeatureDef {
            numerator: Some(name("cnt_view")),
            denominator: Some(name("cnt_ev")),
            window: None,
            ..def(name("ratio"), entity, "ratio", window)
        });
    }
    FeaturesConfig {
        allowed_lateness_secs: (lateness_ms / 1000) as u64,
        session_gap_secs: (GAP_MS / 1000) as u64,
        defaults: false,
        define,
        ..FeaturesConfig::default()
    }
}

/// One applied update for the reference: (time, offset, interaction index, interaction).
pub type Upd<'a> = (i64, u64, usize, Option<&'a Interaction>);

pub fn expected(agg: &str, ups: &[Upd<'_>], as_of: i64, field: &str) -> FeatureValue {
    let inters: Vec<(i64, u64, usize, &Interaction)> = ups
        .iter()
        .filter_map(|&(t, o, s, i)| i.map(|i| (t, o, s, i)))
        .collect();
    let prices: Vec<(i64, f64)> = inters
        .iter()
        .filter_map(|(t, _, _, i)| i.price.map(|p| (*t, p)))
        .collect();
    let val = |i: &Interaction| -> FeatureValue {
        match field {
            "item_id" => FeatureValue::Str(i.item_id.clone()),
            _ => i.price.map_or(FeatureValue::Null, FeatureValue::Float),
        }
    };
    let mut recent: Vec<&(i64, u64, usize, &Interaction)> = inters
        .iter()
        .filter(|e| !matches!(val(e.3), FeatureValue::Null))
        .collect();
    recent.sort_by_key(|e| std::cmp::Reverse((e.0, e.1, e.2)));
    match agg {
        "cnt_ev" => FeatureValue::Int(ups.iter().filter(|u| u.3.is_none()).count() as i64),
        "cnt_view" => FeatureValue::Int(
            inters
                .iter()
                .filter(|e| matches!(e.3.kind, InteractionKind::View | InteractionKind::Click))
                .count() as i64,
        ),
        "sum_price" => FeatureValue::Float(prices.iter().map(|p| p.1).sum()),
        "min_price" => prices
            .iter()
            .map(|p| p.1)
            .reduce(f64::min)
            .map_or(FeatureValue::Null, FeatureValue::Float),
        "max_price" => prices
            .iter()
            .map(|p| p.1)
            .reduce(f64::max)
            .map_or(FeatureValue::Null, FeatureValue::Float),
        "distinct_items" => FeatureValue::Int(
            recent
                .iter()
                .map(|e| format!("{:?}", val(e.3)))
                .collect::<BTreeSet<_>>()
                .len() as i64,
        ),
        "last_item" => recent.first().map_or(FeatureValue::Null, |e| val(e.3)),
        "last3" => FeatureValue::List(recent.iter().take(3).map(|e| val(e.3)).collect()),
        "last3d" => {
            let mut seen = Vec::new();
            for e in &recent {
                let v = val(e.3);
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            seen.truncate(3);
            FeatureValue::List(seen)
        }
        "decayed" => FeatureValue::Float(
            prices
                .iter()
                .map(|(t, p)| p * (-((as_of - t) as f64) / HALF_LIFE_MS).exp2())
                .sum(),
        ),
        "grp" => {
            let mut counts: BTreeMap<String, i64> = BTreeMap::new();
            for e in &inters {
                *counts
                    .entry(e.3.category.clone().unwrap_or_default())
                    .or_default() += 1;
            }
            let mut v: Vec<(String, i64)> = counts.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            FeatureValue::Map(
                v.into_iter()
                    .map(|(k, n)| (k, FeatureValue::Int(n)))
                    .collect(),
            )
        }
        other => unreachable!("{other}"),
    }
}

pub fn close(a: &FeatureValue, b: &FeatureValue) -> bool {
    match (a, b) {
        (FeatureValue::Float(x), FeatureValue::Float(y)) => {
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-300)
        }
        (FeatureValue::List(x), FeatureValue::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b))
        }
        (FeatureValue::Map(x), FeatureValue::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(a, b)| a.0 == b.0 && close(&a.1, &b.1))
        }
        _ => a == b,
    }
}
