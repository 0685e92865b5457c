//! A JSON value kept as its text until someone asks for it.
//!
//! The free-form parts of an IST event (`payload.metadata`, `payload.data`'s input, output
//! and chunk) are most of a real trace's bytes: chat messages, model responses, tool outputs.
//! The profiler reads few of them, and most of those only as Python's `str()` of the value.
//! Parsed into [`Value`] trees, they cost about three times a parse that skips them, and as
//! much again to drop. [`RawJson`] keeps the text (checked as JSON by the parse that found
//! it) and gives the value ([`RawJson::value`]), one member ([`RawJson::get`]) or `str()`
//! written straight from the text ([`RawJson::py_str`]).
//!
//! It is equal to another, and serializes, as its value: the model's outputs are the ones
//! the parsed values gave.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// A JSON value, kept as its text. Never `null`: an optional field's `null` is `None`.
#[derive(Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// The value's JSON text, as it came.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// The value.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.text()).expect("checked as JSON when it was read")
    }

    /// Python's `str()` of the value as `json.loads` gives it (`crate::pyfmt::py_str`).
    pub fn py_str(&self) -> String {
        crate::pyfmt::py_str_json(self.text()).expect("checked as JSON when it was read")
    }

    /// Member `key` of an object (the last one when the key is repeated, as `json.loads`
    /// keeps); `None` for another kind of value or a missing key.
    pub fn get(&self, key: &str) -> Option<Value> {
        let mut de = serde_json::Deserializer::from_str(self.text());
        serde::de::DeserializeSeed::deserialize(Member(key), &mut de)
            .ok()
            .flatten()
    }
}

impl std::fmt::Debug for RawJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text() || self.value() == other.value()
    }
}

impl<'de> Deserialize<'de> for RawJson {
    /// The value's text, refused when it nests deeper than serde_json parses (skipping it,
    /// serde_json does not count its levels): every `RawJson` parses again.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let max = super::load::MAX_DEPTH;
        if super::load::too_deep(raw.get().as_bytes(), max).is_some() {
            return Err(serde::de::Error::custom(format!(
                "recursion limit exceeded: a value nested deeper than {max} levels"
            )));
        }
        Ok(RawJson(raw))
    }
}

impl Serialize for RawJson {
    /// As its value: straight from the text (no tree), unless an object repeats a key (the
    /// value keeps only the last, at the first one's place).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if repeats_a_key(self.text()) {
            return self.value().serialize(s);
        }
        let mut de = serde_json::Deserializer::from_str(self.text());
        serde_transcode::transcode(&mut de, s)
    }
}

/// Whether an object in the JSON text `json` has a key twice.
fn repeats_a_key(json: &str) -> bool {
    let mut de = serde_json::Deserializer::from_str(json);
    let mut keys = Vec::new();
    serde::de::DeserializeSeed::deserialize(Repeats(&mut keys), &mut de).unwrap_or(true)
}

/// Whether the value it reads repeats a key in an object (by the keys' hashes: a collision
/// only takes the slower path). `keys`: the hashes of the keys of the objects being read.
struct Repeats<'a>(&'a mut Vec<u64>);

impl<'de> serde::de::DeserializeSeed<'de> for Repeats<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Repeats<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut repeats = false;
        while let Some(r) = seq.next_element_seed(Repeats(&mut *self.0))? {
            repeats |= r;
        }
        Ok(repeats)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let start = self.0.len();
        let mut repeats = false;
        while let Some(hash) = map.next_key_seed(KeyHash)? {
            repeats |= self.0[start..].contains(&hash);
            self.0.push(hash);
            repeats |= map.next_value_seed(Repeats(&mut *self.0))?;
        }
        self.0.truncate(start);
        Ok(repeats)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
}

/// A key's hash.
struct KeyHash;

impl<'de> serde::de::DeserializeSeed<'de> for KeyHash {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyHash {
    type Value = u64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, s: &str) -> Result<u64, E> {
        Ok(crate::pyfmt::key_hash(s))
    }
}

/// Finds one member of an object, skipping the others unparsed.
struct Member<'k>(&'k str);

impl<'de> serde::de::DeserializeSeed<'de> for Member<'_> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Member<'_> {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_it) = map.next_key_seed(KeyIs(self.0))? {
            if is_it {
                found = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Whether a key is this one (read without a copy where it has no escapes).
struct KeyIs<'k>(&'k str);

impl<'de> serde::de::DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, s: &str) -> Result<bool, E> {
        Ok(s == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn raw(text: &str) -> RawJson {
        serde_json::from_str(text).unwrap()
    }

    proptest! {
        /// Read from its text, a value gives back the value, its `str()`, its members, and
        /// serializes as the value does.
        #[test]
        fn raw_json_is_its_value(v in crate::pyfmt::tests::values()) {
            prop_assume!(!v.is_null());
            for text in [v.to_string(), serde_json::to_string_pretty(&v).unwrap()] {
                let r = raw(&text);
                prop_assert_eq!(&r.value(), &v);
                prop_assert_eq!(r.py_str(), crate::pyfmt::py_str(&v));
                prop_assert_eq!(serde_json::to_string(&r).unwrap(), v.to_string());
                // The IST trace dump's formatter (Python's `json.dumps(indent=2)`).
                let (mut of_raw, mut of_value) = (Vec::new(), Vec::new());
                crate::pyjson::list_element_of(&r, true, &mut of_raw);
                crate::pyjson::list_element_of(&v, true, &mut of_value);
                prop_assert_eq!(of_raw, of_value);
                prop_assert_eq!(&r, &raw(&v.to_string()));
                if let Value::Object(m) = &v {
                    for (k, x) in m {
                        prop_assert_eq!(r.get(k), Some(x.clone()));
                    }
                    prop_assert_eq!(r.get("\u{0}absent"), None);
                }
            }
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let r = raw(r#"{"a": 1, "b": 2, "a": {"c": 3}}"#);
        assert_eq!(r.get("a"), Some(json!({"c": 3})));
        assert_eq!(r.value(), json!({"a": {"c": 3}, "b": 2}));
        assert_eq!(r.py_str(), "{'a': {'c': 3}, 'b': 2}");
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"a":{"c":3},"b":2}"#);
        assert!(!repeats_a_key(r#"[{"a": 1}, {"a": {"a": 2}}]"#));
        assert!(repeats_a_key(r#"[{"a": 1}, {"b": {"c": 2, "c": 3}}]"#));
        assert_eq!(raw("[1]").get("a"), None);
    }

    #[test]
    fn too_deep_to_parse_again_is_refused() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let ok: RawJson = serde_json::from_str(&deep(127)).unwrap();
        assert_eq!(ok.py_str().len(), 2 * 127);
        let e = serde_json::from_str::<RawJson>(&deep(128)).unwrap_err();
        assert!(e.to_string().contains("recursion limit"), "{e}");
    }

    #[test]
    fn read_from_a_value_too() {
        // `serde_json::from_value` (tests and generators build steps this way).
        let r: RawJson = serde_json::from_value(json!({"x": [1, "y"]})).unwrap();
        assert_eq!(r.value(), json!({"x": [1, "y"]}));
        let r: Option<RawJson> = serde_json::from_value(Value::Null).unwrap();
        assert!(r.is_none());
    }
}
