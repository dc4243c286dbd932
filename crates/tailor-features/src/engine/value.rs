//! What reads return: entity kinds and keys, feature values and rows. Rows serialize as
//! natural JSON (`{"entity": "item", "id": "P1", "as_of_ms": ..., "values": {"item_views_1h":
//! 3, "user_last_items": ["P1", "P2"], "user_category_affinity": {"shoes": 4.5}, ...}}`),
//! so any online store backend can keep them.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

/// What a feature is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntityKind {
    /// The actor: user id, else anonymous id.
    User,
    AnonymousId,
    /// One update per interaction, keyed by its item id.
    Item,
    /// One update per interaction with a category.
    Category,
    /// One entity, id [`GLOBAL_ID`].
    Global,
    /// A top-level event property's value (string, or number printed).
    Property(String),
}

/// The id of the one global entity.
pub const GLOBAL_ID: &str = "global";

impl EntityKind {
    pub fn parse(s: &str) -> Option<EntityKind> {
        Some(match s {
            "user" => EntityKind::User,
            "anonymous_id" => EntityKind::AnonymousId,
            "item" => EntityKind::Item,
            "category" => EntityKind::Category,
            "global" => EntityKind::Global,
            _ => {
                let key = s.strip_prefix("property:")?;
                if key.is_empty() {
                    return None;
                }
                EntityKind::Property(key.to_owned())
            }
        })
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityKind::User => f.write_str("user"),
            EntityKind::AnonymousId => f.write_str("anonymous_id"),
            EntityKind::Item => f.write_str("item"),
            EntityKind::Category => f.write_str("category"),
            EntityKind::Global => f.write_str("global"),
            EntityKind::Property(k) => write!(f, "property:{k}"),
        }
    }
}

/// One entity: kind and id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntityKey {
    pub kind: EntityKind,
    pub id: String,
}

/// One feature value.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValue {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
    /// last_n, most recent first.
    List(Vec<FeatureValue>),
    /// group_by, best first.
    Map(Vec<(String, FeatureValue)>),
}

impl FeatureValue {
    /// As a number (ints and floats).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FeatureValue::Int(i) => Some(*i as f64),
            FeatureValue::Float(x) => Some(*x),
            _ => None,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            FeatureValue::Null => Value::Null,
            FeatureValue::Int(i) => Value::from(*i),
            FeatureValue::Float(x) => Number::from_f64(*x).map_or(Value::Null, Value::Number),
            FeatureValue::Str(s) => Value::String(s.clone()),
            FeatureValue::List(l) => Value::Array(l.iter().map(Self::to_json).collect()),
            FeatureValue::Map(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    pub fn from_json(v: &Value) -> FeatureValue {
        match v {
            Value::Null | Value::Bool(_) => FeatureValue::Null,
            Value::Number(n) => match n.as_i64() {
                Some(i) => FeatureValue::Int(i),
                None => n.as_f64().map_or(FeatureValue::Null, FeatureValue::Float),
            },
            Value::String(s) => FeatureValue::Str(s.clone()),
            Value::Array(a) => FeatureValue::List(a.iter().map(Self::from_json).collect()),
            Value::Object(m) => FeatureValue::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Self::from_json(v)))
                    .collect(),
            ),
        }
    }
}

impl Serialize for FeatureValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for FeatureValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(FeatureValue::from_json(&Value::deserialize(d)?))
    }
}

/// The features of one entity as of one event time.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    /// Entity kind, as written in definitions (`item`, `user`, `property:brand`, ...).
    pub entity: String,
    pub id: String,
    /// The stream time (event time) the values are current to.
    pub as_of_ms: i64,
    /// In definition order.
    pub values: Vec<(String, FeatureValue)>,
}

impl FeatureRow {
    pub fn get(&self, name: &str) -> Option<&FeatureValue> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn to_json(&self) -> Value {
        let mut values = Map::new();
        for (k, v) in &self.values {
            values.insert(k.clone(), v.to_json());
        }
        let mut row = Map::new();
        row.insert("entity".into(), Value::String(self.entity.clone()));
        row.insert("id".into(), Value::String(self.id.clone()));
        row.insert("as_of_ms".into(), Value::from(self.as_of_ms));
        row.insert("values".into(), Value::Object(values));
        Value::Object(row)
    }
}

impl Serialize for FeatureRow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for FeatureRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            entity: String,
            id: String,
            as_of_ms: i64,
            values: Map<String, Value>,
        }
        let w = Wire::deserialize(d).map_err(D::Error::custom)?;
        Ok(FeatureRow {
            entity: w.entity,
            id: w.id,
            as_of_ms: w.as_of_ms,
            values: w
                .values
                .iter()
                .map(|(k, v)| (k.clone(), FeatureValue::from_json(v)))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_natural_json_and_round_trip() {
        let row = FeatureRow {
            entity: "user".into(),
            id: "u1".into(),
            as_of_ms: 42,
            values: vec![
                ("n".into(), FeatureValue::Int(3)),
                ("x".into(), FeatureValue::Float(1.5)),
                ("last".into(), FeatureValue::Null),
                (
                    "items".into(),
                    FeatureValue::List(vec![FeatureValue::Str("P2".into())]),
                ),
                (
                    "aff".into(),
                    FeatureValue::Map(vec![
                        ("shoes".into(), FeatureValue::Float(4.0)),
                        ("bags".into(), FeatureValue::Float(1.0)),
                    ]),
                ),
            ],
        };
        let json = serde_json::to_string(&row).expect("json");
        assert_eq!(
            json,
            r#"{"entity":"user","id":"u1","as_of_ms":42,"values":{"n":3,"x":1.5,"last":null,"items":["P2"],"aff":{"shoes":4.0,"bags":1.0}}}"#
        );
        let back: FeatureRow = serde_json::from_str(&json).expect("back");
        assert_eq!(back, row);
    }

    #[test]
    fn entity_kinds() {
        for s in [
            "user",
            "anonymous_id",
            "item",
            "category",
            "global",
            "property:brand",
        ] {
            assert_eq!(
                EntityKind::parse(s).map(|k| k.to_string()).as_deref(),
                Some(s)
            );
        }
        assert_eq!(EntityKind::parse("property:"), None);
        assert_eq!(EntityKind::parse("items"), None);
    }
}
