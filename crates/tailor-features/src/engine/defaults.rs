//! The built-in e-commerce feature set (`features.defaults = true`).
//!
//! | name | entity | definition |
//! |---|---|---|
//! | `item_{views,clicks,add_to_carts,purchases}_{1h,24h,7d}` | item | count of interactions of that kind, sliding window |
//! | `item_impressions_24h` | item | count of impressions (rec_id list views), 24h |
//! | `item_ctr_24h` | item | ratio item_clicks_24h / item_impressions_24h |
//! | `item_conversion_rate_24h` | item | ratio item_purchases_24h / item_views_24h |
//! | `item_revenue_7d` | item | sum of price × quantity of purchases, 7d |
//! | `user_last_items` | user | last 50 distinct item ids of views, clicks, add-to-carts, purchases |
//! | `user_last_purchases` | user | last 50 distinct purchased item ids |
//! | `user_category_affinity` | user | decayed sum per category, half-life 7d, weights view 1, click 2, add_to_cart 4, purchase 8 (impressions 0) |
//! | `user_session_length` | user | events in the current session |
//! | `user_session_items` | user | last 50 distinct item ids of the current session (no impressions) |
//! | `global_events_1h` | global | events, 1h |
//! | `global_trending_items` | global | decayed sum per item id, half-life 1d, weights as the affinity: the trending counts recommendations use (top 50 shown) |

use std::collections::BTreeMap;

use super::def::FeatureDef;

fn def(name: &str, entity: &str, aggregation: &str, window: &str) -> FeatureDef {
    FeatureDef {
        name: name.into(),
        entity: entity.into(),
        aggregation: aggregation.into(),
        window: Some(window.into()),
        ..FeatureDef::default()
    }
}

const INTENT: [&str; 4] = ["view", "click", "add_to_cart", "purchase"];

/// The default definitions, in output order.
pub fn default_definitions() -> Vec<FeatureDef> {
    let mut out = Vec::new();
    for (plural, kind) in [
        ("views", "view"),
        ("clicks", "click"),
        ("add_to_carts", "add_to_cart"),
        ("purchases", "purchase"),
    ] {
        for window in ["1h", "24h", "7d"] {
            out.push(FeatureDef {
                interactions: vec![kind.into()],
                ..def(&format!("item_{plural}_{window}"), "item", "count", window)
            });
        }
    }
    out.push(FeatureDef {
        interactions: vec!["impression".into()],
        ..def("item_impressions_24h", "item", "count", "24h")
    });
    let ratio = |name: &str, num: &str, den: &str| FeatureDef {
        name: name.into(),
        entity: "item".into(),
        aggregation: "ratio".into(),
        numerator: Some(num.into()),
        denominator: Some(den.into()),
        ..FeatureDef::default()
    };
    out.push(ratio(
        "item_ctr_24h",
        "item_clicks_24h",
        "item_impressions_24h",
    ));
    out.push(ratio(
        "item_conversion_rate_24h",
        "item_purchases_24h",
        "item_views_24h",
    ));
    out.push(FeatureDef {
        interactions: vec!["purchase".into()],
        field: Some("revenue".into()),
        ..def("item_revenue_7d", "item", "sum", "7d")
    });
    let last_items = |name: &str, kinds: &[&str], window: &str| FeatureDef {
        interactions: kinds.iter().map(|k| (*k).into()).collect(),
        field: Some("item_id".into()),
        n: Some(50),
        distinct: Some(true),
        ..def(name, "user", "last_n", window)
    };
    out.push(last_items("user_last_items", &INTENT, "lifetime"));
    out.push(last_items("user_last_purchases", &["purchase"], "lifetime"));
    let intent_weights = || {
        Some(BTreeMap::from([
            ("view".into(), 1.0),
            ("click".into(), 2.0),
            ("add_to_cart".into(), 4.0),
            ("purchase".into(), 8.0),
        ]))
    };
    out.push(FeatureDef {
        half_life: Some("7d".into()),
        group_by: Some("category".into()),
        weights: intent_weights(),
        ..def("user_category_affinity", "user", "decayed_sum", "lifetime")
    });
    out.push(def("user_session_length", "user", "count", "session"));
    out.push(last_items("user_session_items", &INTENT, "session"));
    out.push(def("global_events_1h", "global", "count", "1h"));
    out.push(FeatureDef {
        half_life: Some("1d".into()),
        group_by: Some("item_id".into()),
        weights: intent_weights(),
        ..def("global_trending_items", "global", "decayed_sum", "lifetime")
    });
    out
}
