//! Reading JSON text into a [`Value`], refusing what `serde_json::from_str::<Value>` silently
//! resolves: a key given twice in one object (serde_json keeps the last one, so
//! `"visibility":"private"` then `"visibility":"public"` would store a public event).

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parses JSON text; a duplicate key is an error naming its path (`payload.visibility`).
pub(crate) fn from_str(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Strict {
        path: String::new(),
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Builds a [`Value`] at `path`, checking every object below for duplicate keys.
struct Strict {
    path: String,
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text cannot spell NaN or infinity; serde_json maps an overflowing literal to
        // null the same way.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, out.len()),
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = child(&self.path, &key);
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "{path}: key {key:?} given twice (refused rather than keeping either)"
                )));
            }
            let v = map.next_value_seed(Strict { path })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::from_str;

    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        let e = from_str(r#"{"a":1,"p":{"v":"private","v":"public"}}"#).unwrap_err();
        assert!(e.to_string().contains("p.v: key \"v\" given twice"), "{e}");
        let e = from_str(r#"{"a":1,"a":1}"#).unwrap_err();
        assert!(e.to_string().contains("a: key \"a\" given twice"), "{e}");
        let e = from_str(r#"{"l":[{"k":1},{"k":2,"k":3}]}"#).unwrap_err();
        assert!(e.to_string().contains("l[1].k"), "{e}");
    }

    #[test]
    fn everything_else_matches_serde_json() {
        for text in [
            r#"{"a":[1,-2,3.5,1e300,null,true,"s\u001b"],"b":{"c":{}},"d":18678.694901948722}"#,
            "[]",
            "12345678901234567890",
            r#""x""#,
        ] {
            let want: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(from_str(text).unwrap(), want, "{text}");
        }
        assert!(from_str(r#"{"a":1} x"#).is_err());
        assert!(from_str(r#"{"a":1"#).is_err());
    }
}
