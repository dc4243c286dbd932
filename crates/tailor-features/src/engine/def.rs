//! Feature definitions as written under `[features]` in `tailor.toml`, before validation.
//! [`crate::engine::FeatureSet::compile`] checks them and turns them into the engine's plan.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `[features]` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturesConfig {
    /// Watermark = highest event time seen in the partition − this. Older events are late:
    /// counted, not applied.
    pub allowed_lateness_secs: u64,
    /// Inactivity gap (event time) that ends a session.
    pub session_gap_secs: u64,
    /// Per-entity state is dropped after this long (event time) without events.
    pub entity_ttl_secs: u64,
    /// Most entities of one kind (users, items, …) kept in one partition of the events
    /// topic: past it by an eighth, the least recently active are dropped down to it, so a
    /// flood of new ids cannot grow memory for a whole TTL.
    pub max_entities_per_partition: usize,
    /// Include the built-in e-commerce set ([`crate::engine::default_definitions`]).
    pub defaults: bool,
    /// User definitions; one with the name of a default replaces that default.
    pub define: Vec<FeatureDef>,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        FeaturesConfig {
            allowed_lateness_secs: 300,
            session_gap_secs: 1800,
            entity_ttl_secs: 90 * 24 * 3600,
            max_entities_per_partition: 2_500_000,
            defaults: true,
            define: Vec::new(),
        }
    }
}

/// One `[[features.define]]` entry. Strings are parsed by validation so that errors can name
/// the feature and the field.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct FeatureDef {
    /// Output name, `[a-z0-9_]+`, unique.
    pub name: String,
    /// `user` | `anonymous_id` | `item` | `category` | `global` | `property:<key>`.
    pub entity: String,
    /// Only events with one of these names (track event name, or page/screen name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Only interactions of these kinds (`view`, `click`, `add_to_cart`, `purchase`,
    /// `impression`); makes the feature update once per matching interaction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interactions: Vec<String>,
    /// All must hold.
    #[serde(default, rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Predicate>,
    /// `count` | `sum` | `distinct_count` | `min` | `max` | `last` | `last_n` |
    /// `decayed_sum` | `ratio`.
    pub aggregation: String,
    /// The value aggregated: `item_id`, `category`, `price`, `quantity`, `revenue`
    /// (price × quantity, quantity 1 when absent) or `properties.<key>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `<N>s|m|h|d` (sliding), `tumbling:<duration>`, `session` or `lifetime` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// `last_n`: how many values are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// `last_n`: keep each value once, at its latest occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<bool>,
    /// `decayed_sum`: a duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_life: Option<String>,
    /// `sum` / `decayed_sum`: weight per interaction kind, multiplying the value (1 when
    /// there is no `field`). Kinds not listed weigh 0: their interactions are skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<BTreeMap<String, f64>>,
    /// `ratio`: the feature divided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator: Option<String>,
    /// `ratio`: the feature divided by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<String>,
    /// The value becomes a map key → aggregate (same sources as `field`), top 50 keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
}

/// One `where` condition: exactly one of `property` (a top-level key of the event's
/// `properties`) or `field` (as [`FeatureDef::field`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `eq` | `ne` | `gt` | `ge` | `lt` | `le` | `exists`.
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// `<N>s`, `<N>m`, `<N>h` or `<N>d` with N > 0, in milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.len().checked_sub(1)?;
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    let ms = n.checked_mul(unit_ms)?;
    // Keep room for arithmetic on event times (± a few hundred years is plenty).
    (ms > 0 && ms <= 100 * 365 * 86_400_000).then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("5m"), Some(300_000));
        assert_eq!(parse_duration_ms("24h"), Some(86_400_000));
        assert_eq!(parse_duration_ms("7d"), Some(7 * 86_400_000));
        assert_eq!(parse_duration_ms("90s"), Some(90_000));
        for bad in [
            "",
            "m",
            "0m",
            "2x",
            "-1h",
            "1.5h",
            "h1",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_the_documented_toml() {
        let cfg: FeaturesConfig = toml::from_str(
            r#"
            allowed_lateness_secs = 60
            [[define]]
            name = "item_views_1h"
            entity = "item"
            events = ["Product Viewed"]
            interactions = ["view"]
            where = [{ property = "price", op = "gt", value = 10 }]
            aggregation = "count"
            window = "1h"
            "#,
        )
        .expect("parses");
        assert_eq!(cfg.allowed_lateness_secs, 60);
        assert_eq!(cfg.session_gap_secs, 1800);
        assert_eq!(cfg.define[0].filters[0].value, Some(serde_json::json!(10)));
        let err = toml::from_str::<FeaturesConfig>("[[define]]\nname = \"x\"\nentity = \"item\"\naggregation = \"count\"\nwindo = \"1h\"\n")
            .expect_err("unknown field");
        assert!(err.to_string().contains("windo"), "{err}");
    }
}
