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

/// The event names of the Segment e-commerce spec (v2).
pub const SPEC_EVENTS: &[&str] = &[
    "Products Searched",
    "Product List Viewed",
    "Product List Filtered",
    "Promotion Viewed",
    "Promotion Clicked",
    "Product Clicked",
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Checkout Started",
    "Checkout Step Viewed",
    "Checkout Step Completed",
    "Payment Info Entered",
    "Order Updated",
    "Order Completed",
    "Order Refunded",
    "Order Cancelled",
    "Coupon Entered",
    "Coupon Applied",
    "Coupon Denied",
    "Coupon Removed",
    "Product Added to Wishlist",
    "Product Removed from Wishlist",
    "Wishlist Product Added to Cart",
    "Product Shared",
    "Cart Shared",
    "Product Reviewed",
];

/// The spec event name that `name` looks like a misspelling of: not a spec name itself, but
/// one after case, `_`/`-` and spacing are ignored, or within a small edit distance (two
/// edits, three for names over 14 characters). `None` for spec names and for names far from
/// all of them (a shop's own events). Runs on every stored track event: the spec names are
/// normalized once, and names whose length rules out a match cost no distance.
pub fn near_miss(name: &str) -> Option<&'static str> {
    static SPEC: std::sync::LazyLock<Vec<(Vec<char>, &'static str)>> =
        std::sync::LazyLock::new(|| SPEC_EVENTS.iter().map(|s| (normalize(s), *s)).collect());
    if name.len() > 64 || SPEC_EVENTS.contains(&name) {
        return None;
    }
    let n = normalize(name);
    SPEC.iter()
        .filter_map(|(s, spec)| {
            let limit = if s.len() > 14 { 3 } else { 2 };
            (s.len().abs_diff(n.len()) <= limit)
                .then(|| (edit_distance(&n, s), limit, *spec))
                .filter(|(d, limit, _)| d <= limit)
        })
        .min_by_key(|(d, _, _)| *d)
        .map(|(_, _, spec)| spec)
}

/// `s` lower-cased, with `_` and `-` as spaces and runs of spaces as one, trimmed.
fn normalize(s: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(s.len());
    for c in s.chars() {
        let c = if c == '_' || c == '-' { ' ' } else { c };
        if c == ' ' && out.last().is_none_or(|l| *l == ' ') {
            continue;
        }
        out.extend(c.to_lowercase());
    }
    while out.last() == Some(&' ') {
        out.pop();
    }
    out
}

/// Levenshtein distance between two strings of chars.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
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
    fn misspelled_spec_names_are_caught_and_own_names_are_not() {
        for (typo, meant) in [
            ("Product Viewd", "Product Viewed"),
            ("Order Complete", "Order Completed"),
            ("product_viewed", "Product Viewed"),
            ("ORDER COMPLETED", "Order Completed"),
            ("Prodcut Added", "Product Added"),
            ("Product Added To Wishlist", "Product Added to Wishlist"),
        ] {
            assert_eq!(near_miss(typo), Some(meant), "{typo}");
        }
        for fine in [
            "Product Viewed",
            "Order Updated",
            "Signed Up",
            "Video Played",
            "Newsletter Subscribed",
            "",
        ] {
            assert_eq!(near_miss(fine), None, "{fine}");
        }
    }

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
