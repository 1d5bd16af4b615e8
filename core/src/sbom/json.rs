//! Shared reading helpers: limits pre-checks and typed access to JSON values
//! that report the JSON path of anything wrong.

use serde_json::{Map, Value};

use super::{Limits, SbomError};

/// Check size and nesting depth, then parse. The depth scan runs on raw bytes
/// before serde so hostile nesting costs one linear pass and no allocation.
pub(crate) fn parse(bytes: &[u8], limits: &Limits) -> Result<Value, SbomError> {
    if bytes.len() > limits.max_bytes {
        return Err(SbomError::TooLarge {
            bytes: bytes.len(),
            max: limits.max_bytes,
        });
    }
    if crate::json_depth::exceeds(bytes, limits.max_depth) {
        return Err(SbomError::TooDeep {
            max: limits.max_depth,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| SbomError::Json {
        path: "$".into(),
        reason: e.to_string(),
    })
}

/// Name of a JSON value's type, for error messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(path: &str, expected: &str, v: &Value) -> SbomError {
    SbomError::Json {
        path: path.to_string(),
        reason: format!("expected {expected}, found {}", type_name(v)),
    }
}

/// `path.key`, quoting keys that are not plain identifiers.
pub(crate) fn child(path: &str, key: &str) -> String {
    if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !key.is_empty() {
        format!("{path}.{key}")
    } else {
        format!("{path}[{key:?}]")
    }
}

/// `path[i]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// The value as an object.
pub(crate) fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, SbomError> {
    v.as_object()
        .ok_or_else(|| wrong_type(path, "an object", v))
}

/// Optional field as a string (absent or null: `None`).
pub(crate) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, SbomError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(wrong_type(&child(path, key), "a string", v)),
    }
}

/// Required string field.
pub(crate) fn req_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, SbomError> {
    opt_str(obj, key, path)?.ok_or_else(|| SbomError::Json {
        path: child(path, key),
        reason: "missing required string".into(),
    })
}

/// Optional field as an array (absent or null: empty).
pub(crate) fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a [Value], SbomError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(wrong_type(&child(path, key), "an array", v)),
    }
}

/// Optional field as an object.
pub(crate) fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, SbomError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => object(v, &child(path, key)).map(Some),
    }
}

/// Array elements as strings.
pub(crate) fn strings<'a>(arr: &'a [Value], path: &str) -> Result<Vec<&'a str>, SbomError> {
    arr.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .ok_or_else(|| wrong_type(&index(path, i), "a string", v))
        })
        .collect()
}

/// Pretty JSON with a trailing newline; key order is the map's (sorted unless
/// serde_json's `preserve_order` is on, in which case it is insertion order —
/// deterministic either way).
pub(crate) fn to_bytes(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}
