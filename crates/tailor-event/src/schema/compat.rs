//! Structural compatibility between two JSON Schema documents.
//!
//! The question is always "can every document valid under `writer` still be read by
//! `reader`?" BACKWARD asks it with the new schema as reader and the latest as writer;
//! FORWARD the other way round; FULL both. The check covers the keywords tracking plans use:
//! `type`, `properties`, `required`, `additionalProperties`, `enum`, `items`, numeric and
//! length bounds. Adding an optional property is compatible (see ADR 0003).

use serde_json::Value;

/// Reasons a document valid under `writer` may be invalid under `reader` (empty: compatible).
pub fn breaking_changes(reader: &Value, writer: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(reader, writer, "", &mut out);
    out
}

fn types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(a) => Some(a.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn type_accepts(reader: &[&str], writer_type: &str) -> bool {
    reader.contains(&writer_type) || (writer_type == "integer" && reader.contains(&"number"))
}

fn at(path: &str) -> String {
    if path.is_empty() {
        "the top level".to_owned()
    } else {
        format!("{path:?}")
    }
}

fn walk(reader: &Value, writer: &Value, path: &str, out: &mut Vec<String>) {
    if reader == writer || reader.as_bool() == Some(true) {
        return;
    }
    if let Some(reader_types) = types(reader) {
        match types(writer) {
            None => out.push(format!(
                "{} is now restricted to type {reader_types:?} but any type was allowed",
                at(path)
            )),
            Some(writer_types) => {
                for t in writer_types {
                    if !type_accepts(&reader_types, t) {
                        out.push(format!(
                            "{} no longer accepts type {t:?} (now {reader_types:?})",
                            at(path)
                        ));
                    }
                }
            }
        }
    }
    if let Some(Value::Array(reader_enum)) = reader.get("enum") {
        match writer.get("enum") {
            Some(Value::Array(writer_enum)) => {
                for v in writer_enum.iter().filter(|v| !reader_enum.contains(v)) {
                    out.push(format!("{} no longer allows the value {v}", at(path)));
                }
            }
            _ => out.push(format!("{} is now restricted to an enum", at(path))),
        }
    }
    bounds(reader, writer, path, out);
    objects(reader, writer, path, out);
    if let (Some(r), Some(w)) = (reader.get("items"), writer.get("items")) {
        walk(r, w, &format!("{path}[]"), out);
    } else if let Some(r) = reader.get("items") {
        if r.as_bool() != Some(true) && r.as_object().is_some_and(|o| !o.is_empty()) {
            out.push(format!(
                "{} now constrains its items",
                at(&format!("{path}[]"))
            ));
        }
    }
}

fn bounds(reader: &Value, writer: &Value, path: &str, out: &mut Vec<String>) {
    let num = |s: &Value, k: &str| s.get(k).and_then(Value::as_f64);
    for key in [
        "minimum",
        "exclusiveMinimum",
        "minLength",
        "minItems",
        "minProperties",
    ] {
        if let Some(r) = num(reader, key) {
            if num(writer, key).is_none_or(|w| r > w) {
                out.push(format!("{} has a stricter {key} ({r})", at(path)));
            }
        }
    }
    for key in [
        "maximum",
        "exclusiveMaximum",
        "maxLength",
        "maxItems",
        "maxProperties",
    ] {
        if let Some(r) = num(reader, key) {
            if num(writer, key).is_none_or(|w| r < w) {
                out.push(format!("{} has a stricter {key} ({r})", at(path)));
            }
        }
    }
}

fn required(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn objects(reader: &Value, writer: &Value, path: &str, out: &mut Vec<String>) {
    let empty = serde_json::Map::new();
    let rprops = reader
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let wprops = writer
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let writer_closed = writer.get("additionalProperties") == Some(&Value::Bool(false));
    let reader_closed = reader.get("additionalProperties") == Some(&Value::Bool(false));
    let child = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    for name in required(reader) {
        if !required(writer).contains(&name) {
            out.push(format!("property {:?} became required", child(name)));
        }
    }
    for (name, rschema) in rprops {
        if let Some(wschema) = wprops.get(name) {
            walk(rschema, wschema, &child(name), out);
        }
    }
    if reader_closed && !writer_closed {
        out.push(format!("{} now forbids additional properties", at(path)));
    }
    if reader_closed {
        for name in wprops.keys().filter(|n| !rprops.contains_key(*n)) {
            out.push(format!(
                "property {:?} was removed while additional properties are forbidden",
                child(name)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn optional_additions_are_compatible_required_ones_are_not() {
        let v1 =
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
        let v2 = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}, "required": ["a"]});
        assert!(breaking_changes(&v2, &v1).is_empty());
        let v3 = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}, "required": ["a", "b"]});
        let r = breaking_changes(&v3, &v1);
        assert_eq!(r, vec!["property \"b\" became required".to_owned()]);
        // FORWARD direction: old reader, new data — dropping a requirement breaks old readers.
        assert!(!breaking_changes(&v1, &json!({"type": "object"})).is_empty());
    }

    #[test]
    fn type_enum_and_bound_narrowing_break() {
        let w = json!({"properties": {"p": {"type": "number", "minimum": 0}, "c": {"enum": ["a", "b"]}}});
        let r =
            json!({"properties": {"p": {"type": "integer", "minimum": 1}, "c": {"enum": ["a"]}}});
        let reasons = breaking_changes(&r, &w);
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        // Widening is fine.
        assert!(breaking_changes(&w, &r).is_empty());
        let int_to_num = breaking_changes(&json!({"type": "number"}), &json!({"type": "integer"}));
        assert!(int_to_num.is_empty());
    }

    #[test]
    fn closing_an_object_breaks() {
        let open = json!({"type": "object", "properties": {"a": {}}});
        let closed = json!({"type": "object", "properties": {}, "additionalProperties": false});
        let reasons = breaking_changes(&closed, &open);
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(breaking_changes(&open, &closed).is_empty());
    }
}
