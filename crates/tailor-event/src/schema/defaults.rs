//! Default schemas for the Segment e-commerce spec v2 events Tailor turns into interactions.
//! They require what recommendations need (a product id) and type the fields they use; all
//! other properties stay open.

use serde_json::{json, Value};

fn id() -> Value {
    json!({"type": ["string", "number"], "minLength": 1})
}

fn product() -> Value {
    json!({
        "type": "object",
        "properties": {
            "product_id": id(),
            "sku": {"type": ["string", "number"]},
            "category": {"type": "string"},
            "name": {"type": "string"},
            "price": {"type": "number", "minimum": 0},
            "quantity": {"type": "number", "minimum": 0},
            "position": {"type": "number"},
            "rec_id": {"type": "string"}
        },
        "required": ["product_id"]
    })
}

fn product_list(required_products: bool) -> Value {
    let mut s = json!({
        "type": "object",
        "properties": {
            "products": {"type": "array", "items": product()},
            "rec_id": {"type": "string"},
            "list_id": {"type": "string"},
            "category": {"type": "string"}
        }
    });
    if required_products {
        s["required"] = json!(["products"]);
    }
    s
}

/// `(subject, schema)` pairs shipped with Tailor.
pub fn default_schemas() -> Vec<(&'static str, Value)> {
    let mut order = product_list(true);
    if let Some(props) = order["properties"].as_object_mut() {
        props.insert("order_id".into(), id());
        for k in ["total", "revenue", "shipping", "tax", "discount"] {
            props.insert(k.into(), json!({"type": "number"}));
        }
        props.insert("currency".into(), json!({"type": "string"}));
    }
    vec![
        ("Product Viewed", product()),
        ("Product Clicked", product()),
        ("Product Added", product()),
        ("Product Removed", product()),
        ("Product List Viewed", product_list(false)),
        ("Order Completed", order),
    ]
}
