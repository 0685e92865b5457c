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
pub struct RawJson {
    raw: Box<RawValue>,
}

impl RawJson {
    /// The value's JSON text, as it came.
    pub fn text(&self) -> &str {
        self.raw.get()
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
    /// serde_json does not count its levels): every `RawJson` parses again. Inside
    /// [`depth_checked`] the text's nesting is already known to be within that.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let max = super::load::MAX_DEPTH;
        if !DEPTH_CHECKED.get() && super::load::too_deep(raw.get().as_bytes(), max).is_some() {
            return Err(serde::de::Error::custom(format!(
                "recursion limit exceeded: a value nested deeper than {max} levels"
            )));
        }
        Ok(RawJson { raw })
    }
}

thread_local! {
    /// Whether the text being parsed on this thread nests at most `load::MAX_DEPTH` levels
    /// ([`depth_checked`]).
    static DEPTH_CHECKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `parse` on text whose nesting its caller has checked to be within `load::MAX_DEPTH`
/// levels (the list reader's elements): the values it reads skip their own check, one
/// more pass over most of a real trace's bytes. (A thread-local: serde's derived
/// deserializers carry no context.)
pub(crate) fn depth_checked<T>(parse: impl FnOnce() -> T) -> T {
    /// Puts the flag back as it was, even on a panic.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEPTH_CHECKED.set(self.0);
        }
    }
    let _restore = Restore(DEPTH_CHECKED.replace(true));
    parse()
}

impl Serialize for RawJson {
    /// As its value: straight from the text (no tree), unless an object may repeat a key
    /// (the value keeps only the last, at the first one's place; [`may_repeat_a_key`]).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if may_repeat_a_key(self.text().as_bytes()) {
            return self.value().serialize(s);
        }
        let mut de = serde_json::Deserializer::from_str(self.text());
        serde_transcode::transcode(&mut de, s)
    }
}

/// Whether an object in the JSON text `json` (valid JSON: the parse that found it checked
/// it) may repeat a key, in one pass over its bytes. Keys are compared by the hashes of their
/// bytes as written; a key with an escape, or two keys with one hash, count as a possible
/// repeat (the caller then takes the slower, exact path).
///
/// Kept in one piece: one byte-level state machine (strings, nesting, which string is a
/// key), on every free-form value the IST dump writes.
fn may_repeat_a_key(json: &[u8]) -> bool {
    // Per open object or list: whether it is an object, and where its keys' hashes start
    // in `keys`.
    let mut open: Vec<(bool, usize)> = Vec::new();
    let mut keys: Vec<u64> = Vec::new();
    let mut key_next = false;
    let mut i = 0;
    // Outside strings only quotes, brackets and commas matter.
    while let Some(k) = super::list_reader::next_structural(json, i) {
        i = k;
        match json[i] {
            b'"' => {
                let start = i + 1;
                let mut escaped = false;
                i = start;
                loop {
                    let Some(k) = super::list_reader::next_quote_or_backslash(json, i) else {
                        // Not JSON after all: the exact path decides.
                        return true;
                    };
                    i = k;
                    if json[i] == b'"' {
                        break;
                    }
                    escaped = true;
                    i += 2;
                }
                if key_next {
                    key_next = false;
                    let at = open.last().map_or(0, |&(_, at)| at);
                    let hash = crate::pyfmt::key_hash(&json[start..i]);
                    if escaped || keys[at..].contains(&hash) {
                        return true;
                    }
                    keys.push(hash);
                }
            }
            c @ (b'[' | b'{') => {
                key_next = c == b'{';
                open.push((key_next, keys.len()));
            }
            b']' | b'}' => {
                if let Some((_, at)) = open.pop() {
                    keys.truncate(at);
                }
            }
            b',' => key_next = open.last().is_some_and(|&(object, _)| object),
            _ => {}
        }
        i += 1;
    }
    false
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

    /// Whether an object in the JSON text `json` has a key twice (exactly: the keys as
    /// `json.loads` reads them).
    pub(super) fn repeats_a_key(json: &str) -> bool {
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

    /// Whether the dump writes `r` through its value.
    fn may_repeat(r: &RawJson) -> bool {
        may_repeat_a_key(r.text().as_bytes())
    }

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

    /// `v`'s compact text, in which every object with an odd number of members repeats its
    /// first key (with `null`) at its end.
    fn with_repeats(v: &Value) -> String {
        match v {
            Value::Array(a) => {
                let items: Vec<String> = a.iter().map(with_repeats).collect();
                format!("[{}]", items.join(","))
            }
            Value::Object(m) => {
                let key = |k: &String| Value::String(k.clone()).to_string();
                let mut members: Vec<String> = m
                    .iter()
                    .map(|(k, x)| format!("{}:{}", key(k), with_repeats(x)))
                    .collect();
                if m.len() % 2 == 1 {
                    members.push(format!("{}:null", key(m.keys().next().unwrap())));
                }
                format!("{{{}}}", members.join(","))
            }
            other => other.to_string(),
        }
    }

    /// Whether an object in `v` has a key that JSON writes with an escape.
    fn escaped_key(v: &Value) -> bool {
        match v {
            Value::Array(a) => a.iter().any(escaped_key),
            Value::Object(m) => m.iter().any(|(k, x)| {
                Value::String(k.clone()).to_string().contains('\\') || escaped_key(x)
            }),
            _ => false,
        }
    }

    proptest! {
        /// The dump's scan finds every repeated key (what the dump writes depends on it),
        /// and passes a value without one that has no escaped key.
        #[test]
        fn the_scan_finds_every_repeated_key(v in crate::pyfmt::tests::values()) {
            prop_assume!(!v.is_null());
            let text = with_repeats(&v);
            let r = raw(&text);
            if repeats_a_key(&text) {
                prop_assert!(may_repeat(&r), "{}", text);
            }
            let (mut of_raw, mut of_value) = (Vec::new(), Vec::new());
            crate::pyjson::list_element_of(&r, true, &mut of_raw);
            crate::pyjson::list_element_of(&r.value(), true, &mut of_value);
            prop_assert_eq!(of_raw, of_value);
            for text in [v.to_string(), serde_json::to_string_pretty(&v).unwrap()] {
                prop_assert_eq!(may_repeat(&raw(&text)), escaped_key(&v), "{}", text);
            }
        }
    }

    #[test]
    fn repeats_are_found_where_they_are() {
        for (text, repeats) in [
            (r#"{"a": 1, "b": 2, "a": 3}"#, true),
            (r#"[{"a": 1}, {"a": {"a": 2}}]"#, false),
            (
                r#"{"a": {"b": 1}, "b": {"a": 1, "b": [{"b": 1, "c": 2}]}}"#,
                false,
            ),
            (r#"[{"a": 1}, {"b": {"c": 2, "c": 3}}]"#, true),
            (r#"{"x": [1, {"y": 1}], "y": 2, "x": null}"#, true),
            (r#"{"a": "{\"a\": 1, \"a\": 2}", "b": ",\"a\":"}"#, false),
            // Equal once unescaped: the slower path decides.
            (r#"{"a": 1, "\u0061": 2}"#, true),
        ] {
            assert_eq!(may_repeat(&raw(text)), repeats, "{text}");
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
        // Where the caller checked the text's depth, the values skip their own check; the
        // flag is put back after.
        assert!(depth_checked(|| serde_json::from_str::<RawJson>(&deep(128))).is_ok());
        assert!(serde_json::from_str::<RawJson>(&deep(128)).is_err());
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
