//! Helpers over OTLP `AnyValue`/`KeyValue` shared by the translators.

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

/// The string attribute `key` of `attrs`, if present and a string.
pub fn get_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// The attribute `key` of `attrs` as text ([`to_string`]), if present.
pub fn get_text(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .map(to_string)
}

/// An `AnyValue` as text, per the OTel "mapping to non-OTLP" rules (common/mapping-to-non-otlp,
/// "Attributes"): strings as is, booleans `true`/`false`, integers and doubles in decimal,
/// bytes in base64, arrays and maps as JSON (`["a","b"]`, `{"k":1}`). An empty value is `""`.
pub fn to_string(v: &AnyValue) -> String {
    match &v.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => double_to_string(*d),
        Some(Value::BytesValue(b)) => base64::engine::general_purpose::STANDARD.encode(b),
        Some(Value::ArrayValue(_) | Value::KvlistValue(_)) => to_json(v).to_string(),
        // A profiles string-table index: meaningless outside its dictionary.
        Some(Value::StringValueStrindex(_)) | None => String::new(),
    }
}

/// A double in the shortest decimal form that reads back to the same value (`1.5`, `2`,
/// `NaN`, `+Inf`, `-Inf`).
pub fn double_to_string(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        d.to_string()
    }
}

/// An `AnyValue` as a JSON value: scalars as JSON scalars (non-finite doubles as strings),
/// bytes as base64 strings, arrays as arrays, maps as objects, empty as `null`.
pub fn to_json(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.value {
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map_or_else(|| J::String(double_to_string(*d)), J::Number),
        Some(Value::BytesValue(b)) => {
            J::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(Value::ArrayValue(a)) => J::Array(a.values.iter().map(to_json).collect()),
        Some(Value::KvlistValue(kv)) => J::Object(
            kv.values
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(J::Null, to_json)))
                .collect(),
        ),
        Some(Value::StringValueStrindex(_)) | None => J::Null,
    }
}

/// A JSON value as an `AnyValue`: the inverse of [`to_json`] (integers that fit `i64` become
/// ints, other numbers doubles, objects kvlists, `null` an empty value).
pub fn from_json(j: &serde_json::Value) -> AnyValue {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use serde_json::Value as J;
    let value = match j {
        J::Null => None,
        J::Bool(b) => Some(Value::BoolValue(*b)),
        J::Number(n) => Some(n.as_i64().map_or_else(
            || Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
            Value::IntValue,
        )),
        J::String(s) => Some(Value::StringValue(s.clone())),
        J::Array(a) => Some(Value::ArrayValue(ArrayValue {
            values: a.iter().map(from_json).collect(),
        })),
        J::Object(o) => Some(Value::KvlistValue(KeyValueList {
            values: o.iter().map(|(k, v)| kv(k, from_json(v))).collect(),
        })),
    };
    AnyValue { value }
}

/// A `KeyValue`.
pub fn kv(key: impl Into<String>, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        ..KeyValue::default()
    }
}

/// A string `AnyValue`.
pub fn string(s: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(s.into())),
    }
}

/// An int `AnyValue`.
pub fn int(i: i64) -> AnyValue {
    AnyValue {
        value: Some(Value::IntValue(i)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    #[test]
    fn values_render_per_the_non_otlp_mapping() {
        let b = |v| AnyValue { value: Some(v) };
        assert_eq!(to_string(&b(Value::BoolValue(true))), "true");
        assert_eq!(to_string(&b(Value::IntValue(-7))), "-7");
        assert_eq!(to_string(&b(Value::DoubleValue(1.5))), "1.5");
        assert_eq!(to_string(&b(Value::DoubleValue(f64::INFINITY))), "+Inf");
        assert_eq!(to_string(&b(Value::BytesValue(vec![1, 2, 3]))), "AQID");
        let arr = b(Value::ArrayValue(ArrayValue {
            values: vec![string("a"), int(2), b(Value::BoolValue(false))],
        }));
        assert_eq!(to_string(&arr), r#"["a",2,false]"#);
        let map = b(Value::KvlistValue(KeyValueList {
            values: vec![kv("k", int(1))],
        }));
        assert_eq!(to_string(&map), r#"{"k":1}"#);
        assert_eq!(from_json(&to_json(&arr)), arr);
        assert_eq!(to_string(&AnyValue { value: None }), "");
    }
}
