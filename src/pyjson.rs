//! JSON written the way Python's `json.dump(obj, f, indent=2)` writes it (NAT's profiler
//! outputs): two-space indent, `", "`-free item separators at line ends, `": "`,
//! `ensure_ascii` escapes (`\u00e9`, surrogate pairs), floats as `repr`, `[]`/`{}` for
//! empty containers, no trailing newline.

use serde_json::Value;

use crate::pyfmt::float_repr;

/// Serialize like `json.dumps(v, indent=2)`.
pub fn dumps(v: &Value) -> String {
    let mut out = String::new();
    write(v, 0, &mut out);
    out
}

/// Serialize like `json.dumps(v)`: one line, `", "` and `": "` separators, `ensure_ascii`.
pub fn dumps_line(v: &Value) -> String {
    let mut out = String::new();
    write_line(v, &mut out);
    out
}

fn write_line(v: &Value, out: &mut String) {
    crate::pyfmt::write_inline(v, out, &|x, out| write(x, 0, out), &write_str);
}

/// A JSON list written as [`dumps`] writes it, an element at a time (a trace file as large
/// as the input is never held whole): the elements are made as they are written.
pub fn write_list(
    elements: impl IntoIterator<Item = Value>,
    w: &mut (impl std::io::Write + ?Sized),
) -> std::io::Result<()> {
    let mut text = String::new();
    let mut written = false;
    for v in elements {
        text.clear();
        list_element(&v, !written, &mut text);
        w.write_all(text.as_bytes())?;
        written = true;
    }
    w.write_all(list_end(written))
}

/// One element of a list [`write_list`] writes, appended to `out` with what comes before it
/// (`[` before the first, `,` before the others): elements may be rendered apart (in
/// parallel) and written in order, then [`list_end`].
pub fn list_element(v: &Value, first: bool, out: &mut String) {
    out.push_str(if first { "[" } else { "," });
    out.push_str("\n  ");
    write(v, 1, out);
}

/// What ends a list [`list_element`] wrote, given whether it had any element.
pub fn list_end(any: bool) -> &'static [u8] {
    if any {
        b"\n]"
    } else {
        b"[]"
    }
}

/// One element of a list [`write_list`] writes, serialized straight from `v` (no
/// [`Value`] in between), appended to `out` with what comes before it: the same bytes as
/// [`list_element`] of `serde_json::to_value(v)`.
pub fn list_element_of<T: serde::Serialize + ?Sized>(v: &T, first: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(if first { b"[" } else { b"," });
    out.extend_from_slice(b"\n  ");
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, Formatter::at(1));
    // Writing into memory cannot fail, and `Serialize` impls of the models do not either.
    if let Err(e) = v.serialize(&mut ser) {
        unreachable!("serializing into memory: {e}");
    }
}

/// `json.dumps(indent=2)` as a `serde_json` formatter (what [`dumps`] writes of a
/// [`Value`]): two-space indent from `level`, `": "`, `[]`/`{}` when empty, floats as
/// `repr`, `ensure_ascii` escapes. Non-finite floats never reach it: serde_json writes them
/// as `null`, as `serde_json::to_value` makes them `Value::Null`.
struct Formatter {
    level: usize,
    has_value: bool,
    /// A float's text, reused.
    float: String,
}

/// A newline and the indentation of the levels it covers (written in one piece).
const NEWLINE: &[u8; 129] = {
    let mut t = [b' '; 129];
    t[0] = b'\n';
    &{ t }
};

impl Formatter {
    fn at(level: usize) -> Self {
        Formatter {
            level,
            has_value: false,
            float: String::new(),
        }
    }

    fn newline<W: ?Sized + std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        let spaces = 2 * self.level;
        match NEWLINE.get(..1 + spaces) {
            Some(line) => w.write_all(line),
            None => {
                w.write_all(b"\n")?;
                for _ in 0..self.level {
                    w.write_all(b"  ")?;
                }
                Ok(())
            }
        }
    }

    fn open<W: ?Sized + std::io::Write>(&mut self, w: &mut W, c: &[u8]) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(c)
    }

    fn close<W: ?Sized + std::io::Write>(&mut self, w: &mut W, c: &[u8]) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        w.write_all(c)
    }

    fn item<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }
}

impl serde_json::ser::Formatter for Formatter {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        if !v.is_finite() {
            return w.write_all(float_json(v).as_bytes());
        }
        self.float.clear();
        crate::pyfmt::float_repr_into(v, &mut self.float);
        w.write_all(self.float.as_bytes())
    }
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f32) -> std::io::Result<()> {
        self.write_f64(w, f64::from(v))
    }
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // serde_json escapes `"`, `\` and control characters itself (as Python does);
        // `ensure_ascii` also escapes DEL and everything past ASCII.
        if fragment.is_ascii() && memchr::memchr(0x7f, fragment.as_bytes()).is_none() {
            return w.write_all(fragment.as_bytes());
        }
        let mut rest = fragment;
        while let Some(i) = rest.find(|c: char| !(' '..='~').contains(&c)) {
            w.write_all(&rest.as_bytes()[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                write!(w, "\\u{unit:04x}")?;
            }
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }
}

fn indent(level: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                out.push_str(&float_json(f));
            }
        }
        Value::String(s) => write_str(s, out),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(level + 1, out);
                write(x, level + 1, out);
            }
            indent(level, out);
            out.push(']');
        }
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(level + 1, out);
                write_str(k, out);
                out.push_str(": ");
                write(x, level + 1, out);
            }
            indent(level, out);
            out.push('}');
        }
    }
}

/// Python's JSON float: `repr`, with `NaN`/`Infinity`/`-Infinity` literals.
pub(crate) fn float_json(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "Infinity".into()
    } else if f == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        float_repr(f)
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        /// Serialized straight, a value is the bytes `dumps` writes of it (the IST trace
        /// dump is written this way, from the typed steps).
        #[test]
        fn the_formatter_writes_what_dumps_writes(v in crate::pyfmt::tests::values(), first in any::<bool>()) {
            let mut direct = Vec::new();
            list_element_of(&v, first, &mut direct);
            let mut via_value = String::new();
            list_element(&v, first, &mut via_value);
            prop_assert_eq!(String::from_utf8(direct).unwrap(), via_value);
        }
    }

    #[test]
    fn deep_indentation_and_escapes_as_dumps_writes_them() {
        // Deeper than the formatter's one-piece indentation (64 levels).
        let mut v = json!(["\u{7f}é\u{1F600}", 1.5e-7, "plain"]);
        for k in 0..70 {
            v = json!({ format!("k{k}"): [v, k] });
        }
        let mut direct = Vec::new();
        list_element_of(&v, true, &mut direct);
        let mut via_value = String::new();
        list_element(&v, true, &mut via_value);
        assert_eq!(String::from_utf8(direct).unwrap(), via_value);
        assert!(via_value.contains(&format!(
            "\n{}\"\\u007f\\u00e9\\ud83d\\ude00\"",
            " ".repeat(2 * 142)
        )));
    }

    #[test]
    fn one_line_matches_python_json_dumps() {
        // json.dumps({"a": [1, 2.5, {"b": []}], "é": "x😀", "e": {}, "n": None})
        let v = json!({"a": [1, 2.5, {"b": []}], "é": "x\u{1F600}", "e": {}, "n": null});
        assert_eq!(
            dumps_line(&v),
            r#"{"a": [1, 2.5, {"b": []}], "\u00e9": "x\ud83d\ude00", "e": {}, "n": null}"#
        );
    }

    #[test]
    fn matches_python_json_dump_indent_2() {
        let v = json!({"a": [1, 2.5, {"b": []}], "é": "x\u{1F600}\u{7f}\"", "e": {}, "n": null, "t": true});
        // json.dumps({"a": [1, 2.5, {"b": []}], "é": "x😀\x7f\"", "e": {}, "n": None, "t": True}, indent=2)
        let want = "{\n  \"a\": [\n    1,\n    2.5,\n    {\n      \"b\": []\n    }\n  ],\n  \"\\u00e9\": \"x\\ud83d\\ude00\\u007f\\\"\",\n  \"e\": {},\n  \"n\": null,\n  \"t\": true\n}";
        assert_eq!(dumps(&v), want);
    }
}
