//! `json_get_str(json_text, path)`: the value at a dotted path (`model`, `a.b`, `items.0.id`)
//! of a JSON text column, as text — strings unquoted, numbers and booleans printed, objects
//! and arrays as JSON; NULL when absent, `null`, or the text is not JSON.

use std::sync::Arc;

use arrow::array::{Array, AsArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonGetStr {
    signature: Signature,
}

/// The `json_get_str` function.
pub fn json_get_str() -> ScalarUDF {
    ScalarUDF::new_from_impl(JsonGetStr {
        signature: Signature::string(2, Volatility::Immutable),
    })
}

/// The value at `path` in `json`, as text.
pub fn lookup(json: &str, path: &str) -> Option<String> {
    let root: Value = serde_json::from_str(json).ok()?;
    let mut v = &root;
    for key in path.split('.') {
        v = match v {
            Value::Object(m) => m.get(key)?,
            Value::Array(a) => a.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl ScalarUDFImpl for JsonGetStr {
    fn name(&self) -> &str {
        "json_get_str"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let json = cast(&arrays[0], &DataType::Utf8)?;
        let path = cast(&arrays[1], &DataType::Utf8)?;
        let (json, path) = (json.as_string::<i32>(), path.as_string::<i32>());
        let mut out = StringBuilder::with_capacity(n, n * 8);
        for i in 0..json.len() {
            if json.is_null(i) || path.is_null(i) {
                out.append_null();
            } else {
                out.append_option(lookup(json.value(i), path.value(i)));
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::lookup;

    #[test]
    fn paths() {
        let j = r#"{"model":"als","n":3,"ok":true,"a":{"b":[{"c":"x"}]},"z":null}"#;
        assert_eq!(lookup(j, "model").as_deref(), Some("als"));
        assert_eq!(lookup(j, "n").as_deref(), Some("3"));
        assert_eq!(lookup(j, "ok").as_deref(), Some("true"));
        assert_eq!(lookup(j, "a.b.0.c").as_deref(), Some("x"));
        assert_eq!(lookup(j, "a.b").as_deref(), Some(r#"[{"c":"x"}]"#));
        assert_eq!(lookup(j, "z"), None);
        assert_eq!(lookup(j, "missing"), None);
        assert_eq!(lookup("not json", "model"), None);
    }
}
