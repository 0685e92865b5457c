//! A parser for the Python literals `ast.literal_eval` accepts, producing the JSON value
//! pydantic's `model_dump(mode="json")` would write for the result. NAT's IST → ATIF
//! converter uses `literal_eval` to recover tool arguments logged as `str(dict)`.
//!
//! Supported: str (all quote styles, `r`/`u`/`b` prefixes, escapes, implicit concatenation),
//! int (decimal, hex, octal, binary, `_` separators), float, `True`/`False`/`None`,
//! list, tuple, set, dict, unary `+`/`-`. Not supported (the caller treats them as "not a
//! literal", as NAT would for anything it cannot turn into a dict): complex numbers,
//! `\N{…}` escapes, comments.

use serde_json::{Map, Number, Value};

/// Parse `src` as one Python literal. `None` when `literal_eval` would raise (or when the
/// value has no JSON form, such as a complex number).
pub fn literal_eval(src: &str) -> Option<Value> {
    let mut p = Parser {
        s: src.as_bytes(),
        src,
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 100;

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' || c == b'\x0c' {
                self.i += 1;
            } else if c == b'\\' && matches!(self.s.get(self.i + 1), Some(b'\n')) {
                self.i += 2;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        let v = match self.peek()? {
            b'[' => {
                self.i += 1;
                Value::Array(self.items(b']')?)
            }
            b'(' => {
                self.i += 1;
                // A parenthesised expression or a tuple.
                let start = self.i;
                self.ws();
                if self.eat(b')') {
                    Value::Array(vec![])
                } else {
                    self.i = start;
                    let first = self.value()?;
                    if self.eat(b')') {
                        first
                    } else if self.eat(b',') {
                        let mut rest = self.items(b')')?;
                        rest.insert(0, first);
                        Value::Array(rest)
                    } else {
                        return None;
                    }
                }
            }
            b'{' => {
                self.i += 1;
                self.dict_or_set()?
            }
            b'+' | b'-' => {
                let neg = self.peek() == Some(b'-');
                self.i += 1;
                let v = self.value()?;
                match v {
                    Value::Number(n) if neg => negate(&n)?,
                    Value::Number(n) => Value::Number(n),
                    Value::Bool(b) => Value::from(if neg { -i64::from(b) } else { i64::from(b) }),
                    _ => return None,
                }
            }
            b'\'' | b'"' => self.strings()?,
            c if c.is_ascii_digit() || c == b'.' => self.number()?,
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.i += 1;
                }
                let word = &self.src[start..self.i];
                match word {
                    "True" => Value::Bool(true),
                    "False" => Value::Bool(false),
                    "None" => Value::Null,
                    w if is_string_prefix(w) && matches!(self.peek(), Some(b'\'' | b'"')) => {
                        self.i = start;
                        self.strings()?
                    }
                    _ => return None,
                }
            }
            _ => return None,
        };
        self.depth -= 1;
        Some(v)
    }

    /// Comma-separated values up to `close` (trailing comma allowed).
    fn items(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Some(out);
            }
            out.push(self.value()?);
            if self.eat(close) {
                return Some(out);
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn dict_or_set(&mut self) -> Option<Value> {
        if self.eat(b'}') {
            return Some(Value::Object(Map::new()));
        }
        let first = self.value()?;
        if self.eat(b':') {
            let mut m = Map::new();
            let v = self.value()?;
            m.insert(key_string(first)?, v);
            loop {
                if self.eat(b'}') {
                    return Some(Value::Object(m));
                }
                if !self.eat(b',') {
                    return None;
                }
                if self.eat(b'}') {
                    return Some(Value::Object(m));
                }
                let k = self.value()?;
                if !self.eat(b':') {
                    return None;
                }
                let v = self.value()?;
                m.insert(key_string(k)?, v);
            }
        }
        // A set: pydantic writes it as a list (order as parsed; Python's set order
        // would differ for strings, so sets of strings are not reproduced exactly).
        let mut items = vec![first];
        if self.eat(b'}') {
            return Some(Value::Array(items));
        }
        if !self.eat(b',') {
            return None;
        }
        items.extend(self.items(b'}')?);
        Some(Value::Array(items))
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
            || (matches!(self.peek(), Some(b'+' | b'-'))
                && matches!(self.s.get(self.i - 1), Some(b'e' | b'E'))
                && !self.src[start..self.i].starts_with("0x")
                && !self.src[start..self.i].starts_with("0X"))
        {
            self.i += 1;
        }
        let raw = &self.src[start..self.i];
        if raw.ends_with(['j', 'J']) {
            return None; // complex
        }
        if raw.starts_with('_') || raw.ends_with('_') || raw.contains("__") {
            return None;
        }
        let clean: String = raw.chars().filter(|c| *c != '_').collect();
        let lower = clean.to_ascii_lowercase();
        let radix = |p: &str, r| {
            i64::from_str_radix(&lower[p.len()..], r)
                .ok()
                .map(Value::from)
        };
        if lower.starts_with("0x") {
            return radix("0x", 16);
        }
        if lower.starts_with("0o") {
            return radix("0o", 8);
        }
        if lower.starts_with("0b") {
            return radix("0b", 2);
        }
        if lower.contains(['.', 'e']) {
            let f: f64 = lower.parse().ok()?;
            return Number::from_f64(f).map(Value::Number).or(Some(Value::Null));
        }
        // Python forbids leading zeros in non-zero decimal ints.
        if lower.len() > 1 && lower.starts_with('0') && lower.bytes().any(|b| b != b'0') {
            return None;
        }
        if let Ok(i) = lower.parse::<i64>() {
            return Some(Value::from(i));
        }
        if let Ok(u) = lower.parse::<u64>() {
            return Some(Value::from(u));
        }
        // Larger than 64 bits: no exact JSON form here.
        None
    }

    /// One or more adjacent string literals (implicit concatenation).
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        let mut any = false;
        loop {
            self.ws();
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.i += 1;
            }
            let prefix = self.src[start..self.i].to_ascii_lowercase();
            if !matches!(self.peek(), Some(b'\'' | b'"')) || !is_string_prefix(&prefix) {
                self.i = start;
                break;
            }
            if prefix.contains('f') {
                return None;
            }
            out.push_str(&self.string_body(prefix.contains('r'))?);
            any = true;
        }
        any.then_some(Value::String(out))
    }

    fn string_body(&mut self, raw: bool) -> Option<String> {
        let q = self.peek()?;
        let triple = self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..]);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            if c == q && (!triple || self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..])) {
                self.i += if triple { 3 } else { 1 };
                return Some(out);
            }
            if c == b'\n' && !triple {
                return None;
            }
            if c == b'\\' {
                let n = *self.s.get(self.i + 1)?;
                if raw {
                    out.push('\\');
                    self.i += 1;
                    // In a raw string a backslash still protects the next quote.
                    let ch = self.src[self.i..].chars().next()?;
                    out.push(ch);
                    self.i += ch.len_utf8();
                    continue;
                }
                self.i += 2;
                match n {
                    b'\n' => {}
                    b'\\' => out.push('\\'),
                    b'\'' => out.push('\''),
                    b'"' => out.push('"'),
                    b'a' => out.push('\x07'),
                    b'b' => out.push('\x08'),
                    b'f' => out.push('\x0c'),
                    b'n' => out.push('\n'),
                    b'r' => out.push('\r'),
                    b't' => out.push('\t'),
                    b'v' => out.push('\x0b'),
                    b'0'..=b'7' => {
                        let mut v = u32::from(n - b'0');
                        for _ in 0..2 {
                            match self.peek() {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    self.i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(char::from_u32(v)?);
                    }
                    b'x' => out.push(self.hex_escape(2)?),
                    b'u' => out.push(self.hex_escape(4)?),
                    b'U' => out.push(self.hex_escape(8)?),
                    b'N' => return None,
                    _ => {
                        // Unknown escapes keep the backslash.
                        out.push('\\');
                        self.i -= 1;
                        let ch = self.src[self.i..].chars().next()?;
                        out.push(ch);
                        self.i += ch.len_utf8();
                    }
                }
                continue;
            }
            let ch = self.src[self.i..].chars().next()?;
            out.push(ch);
            self.i += ch.len_utf8();
        }
    }

    fn hex_escape(&mut self, n: usize) -> Option<char> {
        let h = self.src.get(self.i..self.i + n)?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.i += n;
        char::from_u32(u32::from_str_radix(h, 16).ok()?)
    }
}

fn is_string_prefix(p: &str) -> bool {
    matches!(p, "" | "r" | "u" | "b" | "br" | "rb" | "f" | "fr" | "rf")
}

fn negate(n: &Number) -> Option<Value> {
    if let Some(i) = n.as_i64() {
        return i.checked_neg().map(Value::from);
    }
    if let Some(u) = n.as_u64() {
        return i64::try_from(u)
            .ok()
            .and_then(i64::checked_neg)
            .map(Value::from);
    }
    Number::from_f64(-n.as_f64()?).map(Value::Number)
}

/// Dict keys: pydantic's `dict[str, Any]` accepts only string keys.
fn key_string(k: Value) -> Option<String> {
    match k {
        Value::String(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_dict_reprs_parse() {
        assert_eq!(
            literal_eval("{'a': 12.0, 'b': 7.0}"),
            Some(json!({"a": 12.0, "b": 7.0}))
        );
        assert_eq!(
            literal_eval(r#"{'q': "it's", 'n': None, 't': (1, 2), 'ok': True, 'neg': -3}"#),
            Some(json!({"q": "it's", "n": null, "t": [1, 2], "ok": true, "neg": -3}))
        );
        assert_eq!(
            literal_eval("{'s': 'a\\nb' 'c'}"),
            Some(json!({"s": "a\nbc"}))
        );
        assert_eq!(
            literal_eval("{'x': 0x10, 'y': 1_000, 'z': 1e3,}"),
            Some(json!({"x": 16, "y": 1000, "z": 1000.0}))
        );
        assert_eq!(literal_eval("[1, [2, {3}]]"), Some(json!([1, [2, [3]]])));
    }

    #[test]
    fn non_literals_are_rejected() {
        for s in [
            "", "foo", "{'a': b}", "{'a': 1", "1j", "f'x'", "{1: 2}", "'a' +", "01", "[1,,2]",
        ] {
            assert_eq!(literal_eval(s), None, "{s:?}");
        }
        assert_eq!(literal_eval(&"[".repeat(500)), None);
    }
}
