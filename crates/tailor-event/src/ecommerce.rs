//! Segment e-commerce spec v2 → canonical interactions (DESIGN.md §2).
//!
//! `Product Viewed`→view, `Product Clicked`→click, `Product Added`→add_to_cart,
//! `Order Completed` (one per `products[]` entry)→purchase, `Product List Viewed` carrying a
//! `rec_id`→impression (one per listed product). Other events yield no interaction.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionKind {
    View,
    Click,
    AddToCart,
    Purchase,
    Impression,
}

impl InteractionKind {
    pub const ALL: [InteractionKind; 5] = [
        InteractionKind::View,
        InteractionKind::Click,
        InteractionKind::AddToCart,
        InteractionKind::Purchase,
        InteractionKind::Impression,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InteractionKind::View => "view",
            InteractionKind::Click => "click",
            InteractionKind::AddToCart => "add_to_cart",
            InteractionKind::Purchase => "purchase",
            InteractionKind::Impression => "impression",
        }
    }
}

/// One user–item interaction derived from an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub kind: InteractionKind,
    pub item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rec_id: Option<String>,
}

/// The interaction kind a track event name maps to, if any.
pub fn kind_for_event(name: &str) -> Option<InteractionKind> {
    Some(match name {
        "Product Viewed" => InteractionKind::View,
        "Product Clicked" => InteractionKind::Click,
        "Product Added" => InteractionKind::AddToCart,
        "Order Completed" => InteractionKind::Purchase,
        "Product List Viewed" => InteractionKind::Impression,
        _ => return None,
    })
}

/// A property as a string id: strings as they are, numbers printed; anything else is absent.
pub fn id_value(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn product_interaction(
    kind: InteractionKind,
    product: &Value,
    parent: &Value,
) -> Option<Interaction> {
    let item_id = id_value(product.get("product_id"))
        .or_else(|| id_value(product.get("sku")))
        .or_else(|| id_value(product.get("id")))?;
    let str_of = |key: &str| {
        product
            .get(key)
            .or_else(|| parent.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Some(Interaction {
        kind,
        item_id,
        category: product
            .get("category")
            .and_then(Value::as_str)
            .map(str::to_owned),
        price: number(product.get("price")),
        quantity: number(product.get("quantity")),
        currency: str_of("currency"),
        order_id: id_value(parent.get("order_id")),
        rec_id: id_value(product.get("rec_id")).or_else(|| id_value(parent.get("rec_id"))),
    })
}

/// The interactions a track event carries (empty for events outside the e-commerce spec).
pub fn interactions(event_name: &str, properties: &Value) -> Vec<Interaction> {
    let Some(kind) = kind_for_event(event_name) else {
        return Vec::new();
    };
    let products = || {
        properties
            .get("products")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| product_interaction(kind, p, properties))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    match kind {
        InteractionKind::Purchase => products(),
        InteractionKind::Impression => {
            if id_value(properties.get("rec_id")).is_some() {
                products()
            } else {
                Vec::new()
            }
        }
        _ => product_interaction(kind, properties, properties)
            .into_iter()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_the_funnel() {
        let p = json!({"product_id": "P1", "category": "shoes", "price": 10, "rec_id": "r1"});
        let v = interactions("Product Viewed", &p);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].kind, InteractionKind::View);
        assert_eq!(v[0].item_id, "P1");
        assert_eq!(v[0].category.as_deref(), Some("shoes"));
        assert_eq!(v[0].price, Some(10.0));
        assert_eq!(v[0].rec_id.as_deref(), Some("r1"));
        assert_eq!(
            interactions("Product Added", &json!({"product_id": 7}))[0].item_id,
            "7"
        );
        let order = json!({"order_id": "o1", "currency": "EUR", "products": [
            {"product_id": "A", "quantity": 2}, {"sku": "B"}, {"name": "no id"}]});
        let p = interactions("Order Completed", &order);
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|i| i.kind == InteractionKind::Purchase
            && i.order_id.as_deref() == Some("o1")
            && i.currency.as_deref() == Some("EUR")));
        assert_eq!(p[0].quantity, Some(2.0));
        assert!(interactions("Signed Up", &json!({})).is_empty());
    }

    #[test]
    fn list_views_are_impressions_only_with_rec_id() {
        let list = json!({"products": [{"product_id": "A"}, {"product_id": "B"}]});
        assert!(interactions("Product List Viewed", &list).is_empty());
        let mut with = list.clone();
        with["rec_id"] = json!("rec-9");
        let imps = interactions("Product List Viewed", &with);
        assert_eq!(imps.len(), 2);
        assert!(
            imps.iter()
                .all(|i| i.kind == InteractionKind::Impression
                    && i.rec_id.as_deref() == Some("rec-9"))
        );
    }
}
