//! Python's text conventions, reproduced exactly where NAT's output depends on them:
//! `repr(float)`, `str(value)` of a JSON-decoded value, `datetime.fromtimestamp(t, UTC).isoformat()`
//! and `datetime.fromisoformat(s).timestamp()`.

use serde_json::Value;
use unicode_general_category::{get_general_category, GeneralCategory};

/// `repr(x)` of a Python float: shortest round-trip digits, exponent form when the
/// decimal exponent is < -4 or >= 16 (`1e-05`, `1e+16`), always a `.0` otherwise.
pub fn float_repr(x: f64) -> String {
    let mut out = String::with_capacity(24);
    float_repr_into(x, &mut out);
    out
}

/// A small text buffer on the stack (`{:e}` of an f64 is at most 24 bytes).
struct Sci {
    buf: [u8; 40],
    len: usize,
}

impl std::fmt::Write for Sci {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl Sci {
    fn of(args: std::fmt::Arguments) -> Sci {
        let mut s = Sci {
            buf: [0; 40],
            len: 0,
        };
        std::fmt::Write::write_fmt(&mut s, args).expect("an f64 in `{:e}` fits 40 bytes");
        s
    }
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("`{:e}` is ASCII")
    }
}

/// [`float_repr`] appended to `out` (no allocation of its own).
pub fn float_repr_into(x: f64, out: &mut String) {
    if x.is_nan() {
        return out.push_str("nan");
    }
    if x.is_infinite() {
        return out.push_str(if x > 0.0 { "inf" } else { "-inf" });
    }
    if x == 0.0 {
        return out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
    }
    // `{:e}` gives the shortest round-trip digit count n. When two n-digit strings are
    // equally close (an exact tie), Python picks the even one; `{:.*e}` rounds the exact
    // binary value half-to-even, so re-format with n digits.
    let shortest = Sci::of(format_args!("{x:e}"));
    let n = sci_digits(shortest.as_str());
    let exact;
    let sci = if may_tie(x, n) {
        exact = Sci::of(format_args!("{:.*e}", n.saturating_sub(1), x));
        exact.as_str()
    } else {
        shortest.as_str()
    };
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    // The significant digits (at most 17), without the point.
    let mut digit_buf = [0u8; 40];
    let mut nd = 0;
    for &c in mantissa.as_bytes().iter().filter(|c| **c != b'.') {
        digit_buf[nd] = c;
        nd += 1;
    }
    let digits = std::str::from_utf8(&digit_buf[..nd]).expect("ASCII digits");
    if neg {
        out.push('-');
    }
    if !(-4..16).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        let _ = std::fmt::Write::write_fmt(out, format_args!("{e}"));
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

/// How many significant digits a `{:e}` text has.
fn sci_digits(sci: &str) -> usize {
    sci.split_once('e')
        .map_or(1, |(m, _)| m.bytes().filter(u8::is_ascii_digit).count())
}

/// `{:e}` of `x` (the shortest digits that round-trip) and how many digits it has.
#[cfg(test)]
fn shortest_sci(x: f64) -> (String, usize) {
    let shortest = format!("{x:e}");
    let n = sci_digits(&shortest);
    (shortest, n)
}

/// Whether `x`'s exact decimal value can lie halfway between two `n`-digit decimals (the
/// only case where the shortest digits need re-rounding): its exact expansion then has
/// exactly `n + 1` significant digits. x = m·2^e exactly; for e < 0 that is
/// m·5^-e / 10^-e, whose significant digits are those of m·5^-e (m odd: no trailing zero).
/// Past 5^26 (19 digits, more than any n + 1 ≤ 18) no tie is possible.
fn may_tie(x: f64, n: usize) -> bool {
    let bits = x.abs().to_bits();
    let (exp_bits, frac) = ((bits >> 52) as i32, bits & ((1u64 << 52) - 1));
    let (mut m, mut e) = if exp_bits == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp_bits - 1075)
    };
    if m == 0 {
        return false;
    }
    let tz = m.trailing_zeros();
    m >>= tz;
    e += tz as i32;
    // Significant digits of v > 0 (`ilog10`, not a division per digit: this runs for every
    // float the CSV writes).
    let digits = |mut v: u128| {
        while v.is_multiple_of(10) {
            v /= 10;
        }
        v.ilog10() as usize + 1
    };
    match e {
        e if (0..64).contains(&e) => digits(u128::from(m) << e) == n + 1,
        e if e >= 0 => true, // beyond u128: take the exact path
        // m odd times a power of 5 is odd: no trailing zero to strip.
        e if -e < 26 => (u128::from(m) * 5u128.pow((-e) as u32)).ilog10() as usize + 1 == n + 1,
        _ => false,
    }
}

/// Python 3's `str.isprintable()` for one character (Unicode database of this crate's
/// version; Python 3.11 uses Unicode 14, so characters assigned later may differ).
fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::SpaceSeparator
    )
}

/// `repr(s)` of a Python `str`.
pub fn str_repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    str_repr_into(s, &mut out);
    out
}

/// [`str_repr`], written at the end of `out`.
pub fn str_repr_into(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.reserve(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            _ if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            _ if (c as u32) < 0x7f => out.push(c),
            _ if is_printable(c) => out.push(c),
            _ if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02x}", c as u32)),
            _ if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(quote);
}

/// `repr(v)` of the Python object `json.loads` would have produced for `v`.
pub fn repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(v, &mut out);
    out
}

fn write_repr(v: &Value, out: &mut String) {
    let leaf = |v: &Value, out: &mut String| match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number_str(n)),
        Value::String(s) => str_repr_into(s, out),
        _ => unreachable!("containers are written by write_inline"),
    };
    write_inline(v, out, &leaf, &|k, out| str_repr_into(k, out));
}

/// A value on one line as Python writes containers (`repr` of a list or dict, `json.dumps`):
/// `[a, b]` and `{k: v}` with `", "` and `": "`; scalars by `leaf`, keys by `key`.
pub(crate) fn write_inline(
    v: &Value,
    out: &mut String,
    leaf: &dyn Fn(&Value, &mut String),
    key: &dyn Fn(&str, &mut String),
) {
    match v {
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_inline(x, out, leaf, key);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                key(k, out);
                out.push_str(": ");
                write_inline(x, out, leaf, key);
            }
            out.push('}');
        }
        scalar => leaf(scalar, out),
    }
}

fn number_str(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        float_repr(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Python truthiness of a JSON-decoded value (`bool(json.loads(...))`).
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// `str(v)` of the Python object `json.loads` would have produced: a string is itself,
/// anything else its `repr`.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

/// [`py_str`] of the value whose JSON text is `json`, written while it is parsed (no
/// [`Value`] is built: on real traces, the chat messages and tool outputs the frame and the
/// converter turn into text are most of a request's bytes). The same text as
/// `py_str(&serde_json::from_str(json)?)`, an object with a repeated key included (it is
/// written through a [`Value`], which keeps the last value at the first key's place as
/// `json.loads` does); `None` when `json` is not JSON.
pub fn py_str_json(json: &str) -> Option<String> {
    use serde::de::DeserializeSeed;
    let mut out = String::with_capacity(json.len());
    let mut keys = Vec::new();
    let mut de = serde_json::Deserializer::from_str(json);
    let seed = ReprSeed {
        out: &mut out,
        keys: &mut keys,
        top: true,
    };
    match seed.deserialize(&mut de).and_then(|()| de.end()) {
        Ok(()) => Some(out),
        Err(_) => serde_json::from_str::<Value>(json).ok().map(|v| py_str(&v)),
    }
}

/// Writes the `repr` (at the top: the `str`) of the value it deserializes; fails on an
/// object's repeated key (detected by the keys' hashes: a collision only takes the slower
/// path).
struct ReprSeed<'a> {
    out: &'a mut String,
    /// The hashes of the keys of the objects being written, innermost last.
    keys: &'a mut Vec<u64>,
    top: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for ReprSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ReprSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.push_str("None");
        Ok(())
    }
    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.out.push_str(if b { "True" } else { "False" });
        Ok(())
    }
    fn visit_i64<E>(self, i: i64) -> Result<(), E> {
        use std::fmt::Write;
        let _ = write!(self.out, "{i}");
        Ok(())
    }
    fn visit_u64<E>(self, u: u64) -> Result<(), E> {
        use std::fmt::Write;
        let _ = write!(self.out, "{u}");
        Ok(())
    }
    fn visit_f64<E>(self, x: f64) -> Result<(), E> {
        // `Value` keeps a non-finite float as null (serde_json never parses one).
        if x.is_finite() {
            float_repr_into(x, self.out);
        } else {
            self.out.push_str("None");
        }
        Ok(())
    }
    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        if self.top {
            self.out.push_str(s);
        } else {
            str_repr_into(s, self.out);
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push('[');
        let mut first = true;
        loop {
            let at = self.out.len();
            if !first {
                self.out.push_str(", ");
            }
            let element = ReprSeed {
                out: &mut *self.out,
                keys: &mut *self.keys,
                top: false,
            };
            if seq.next_element_seed(element)?.is_none() {
                self.out.truncate(at);
                break;
            }
            first = false;
        }
        self.out.push(']');
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.push('{');
        let start = self.keys.len();
        let mut first = true;
        loop {
            let at = self.out.len();
            if !first {
                self.out.push_str(", ");
            }
            let key = KeySeed {
                out: &mut *self.out,
            };
            let Some(hash) = map.next_key_seed(key)? else {
                self.out.truncate(at);
                break;
            };
            if self.keys[start..].contains(&hash) {
                return Err(serde::de::Error::custom("a repeated key"));
            }
            self.keys.push(hash);
            self.out.push_str(": ");
            map.next_value_seed(ReprSeed {
                out: &mut *self.out,
                keys: &mut *self.keys,
                top: false,
            })?;
            first = false;
        }
        self.keys.truncate(start);
        self.out.push('}');
        Ok(())
    }
}

/// Writes an object's key as its `repr`; gives its hash.
struct KeySeed<'a> {
    out: &'a mut String,
}

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = u64;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed<'_> {
    type Value = u64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, s: &str) -> Result<u64, E> {
        str_repr_into(s, self.out);
        Ok(key_hash(s))
    }
}

/// The hash by which an object's repeated key is found while its JSON text is read (of the
/// key, or of its bytes as written: `trace::raw`).
pub(crate) fn key_hash<K: std::hash::Hash + ?Sized>(key: &K) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(key)
}

/// Split an epoch float into whole seconds and microseconds exactly as CPython's
/// `datetime.fromtimestamp` does (`_PyTime_ObjectToTimeval`, round half to even).
pub(crate) fn epoch_to_sec_us(epoch: f64) -> Option<(i64, u32)> {
    if !epoch.is_finite() {
        return None;
    }
    let mut int_part = epoch.trunc();
    // `_PyTime_Round(x, ROUND_HALF_EVEN)`.
    let mut frac = crate::numeric::py_round((epoch - int_part) * 1e6);
    if frac >= 1e6 {
        frac -= 1e6;
        int_part += 1.0;
    } else if frac < 0.0 {
        frac += 1e6;
        int_part -= 1.0;
    }
    if int_part.abs() > 1e15 {
        return None;
    }
    Some((int_part as i64, frac as u32))
}

/// `datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).isoformat()`:
/// `2026-11-23T08:24:00.072934+00:00`, no fraction when the microseconds are 0.
/// `None` when the value is out of Python's datetime range (NAT raises there).
pub fn epoch_to_iso(epoch: f64) -> Option<String> {
    let (secs, us) = epoch_to_sec_us(epoch)?;
    let dt = chrono::DateTime::from_timestamp(secs, us * 1000)?;
    let year = chrono::Datelike::year(&dt);
    if !(1..=9999).contains(&year) {
        return None;
    }
    let base = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    Some(if us == 0 {
        format!("{base}+00:00")
    } else {
        format!("{base}.{us:06}+00:00")
    })
}

/// `datetime.fromisoformat(s).timestamp()` for the forms Python 3.11 accepts:
/// `YYYY-MM-DD[Thh[:mm[:ss[.fff[fff]]]]][Z|±hh[:mm[:ss[.ffffff]]]]`, also the basic
/// forms without separators and a space instead of `T`. A naive time is read as UTC
/// (Python would use the machine's local zone; the tools here run with UTC).
pub fn iso_to_epoch(s: &str) -> Option<f64> {
    let micros = iso_to_epoch_micros(s)?;
    // timedelta.total_seconds(): exact integer microseconds / 10**6, correctly rounded.
    Some(micros as f64 / 1e6)
}

/// The instant in integer microseconds since the epoch (see [`iso_to_epoch`]).
pub fn iso_to_epoch_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (date, rest) = parse_date(b)?;
    let mut micros = date * 86_400_000_000;
    if rest.is_empty() {
        return Some(micros);
    }
    let sep = rest[0];
    if sep != b'T' && sep != b't' && sep != b' ' && !(sep as char).is_ascii() {
        return None;
    }
    if sep != b'T' && sep != b't' && sep != b' ' {
        return None;
    }
    let rest = &rest[1..];
    // Split time and offset.
    let tz_pos = rest
        .iter()
        .position(|c| matches!(c, b'+' | b'-' | b'Z' | b'z'));
    let (time, tz) = match tz_pos {
        Some(p) => (&rest[..p], Some(&rest[p..])),
        None => (rest, None),
    };
    micros += parse_time(time)?;
    if let Some(tz) = tz {
        micros -= parse_offset(tz)?;
    }
    Some(micros)
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')))
}

/// Days since 1970-01-01, and the remaining bytes.
fn parse_date(b: &[u8]) -> Option<(i64, &[u8])> {
    let (y, m, d, rest) = if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
        (
            digits(&b[0..4])?,
            digits(&b[5..7])?,
            digits(&b[8..10])?,
            &b[10..],
        )
    } else if b.len() >= 8 && b[..8].iter().all(u8::is_ascii_digit) {
        (
            digits(&b[0..4])?,
            digits(&b[4..6])?,
            digits(&b[6..8])?,
            &b[8..],
        )
    } else {
        return None;
    };
    let date = chrono::NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32)?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some(((date - epoch).num_days(), rest))
}

/// `hh[:mm[:ss[.f{1,6}]]]` (or without colons) → microseconds since midnight.
fn parse_time(b: &[u8]) -> Option<i64> {
    let (clock, frac) = match b.iter().position(|c| *c == b'.' || *c == b',') {
        Some(p) => (&b[..p], Some(&b[p + 1..])),
        None => (b, None),
    };
    let parts: Vec<&[u8]> = if clock.contains(&b':') {
        clock.split(|c| *c == b':').collect()
    } else {
        clock.chunks(2).collect()
    };
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let h = digits(parts[0])?;
    let m = parts.get(1).map_or(Some(0), |p| digits(p))?;
    let s = parts.get(2).map_or(Some(0), |p| digits(p))?;
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    let mut us = 0;
    if let Some(f) = frac {
        if parts.len() != 3 || f.is_empty() || f.len() > 9 {
            return None;
        }
        // Python 3.11 reads up to 6 digits and truncates the rest.
        let kept = &f[..f.len().min(6)];
        us = digits(kept)? * 10i64.pow(6 - kept.len() as u32);
        digits(f)?;
    }
    Some(((h * 60 + m) * 60 + s) * 1_000_000 + us)
}

/// `Z`, `±hh[:mm[:ss[.ffffff]]]` → offset in microseconds.
fn parse_offset(b: &[u8]) -> Option<i64> {
    match b[0] {
        b'Z' | b'z' if b.len() == 1 => Some(0),
        b'+' | b'-' => {
            let sign = if b[0] == b'-' { -1 } else { 1 };
            let v = parse_time(&b[1..])?;
            if v >= 86_400_000_000 {
                return None;
            }
            Some(sign * v)
        }
        _ => None,
    }
}

/// Whether Python 3.11's `datetime.fromisoformat(s)` accepts `s`: CPython 3.11's C parser
/// (`_datetimemodule.c`) followed step by step — the separator found by the date's shape
/// (any one character), calendar and ISO week dates, `HH[:MM[:SS[.f…]]]` with or without
/// colons, fractions of any length (digits past six dropped), `Z` or `±HH[:MM[:SS[.f]]]`
/// offsets strictly within a day, and `datetime`'s ranges (years 1–9999, hour ≤ 23).
/// Checked against Python itself on generated strings (`tests/data/fromisoformat.json`).
pub fn fromisoformat_accepts(s: &str) -> bool {
    // All valid strings have at least 7 characters.
    if s.chars().count() < 7 {
        return false;
    }
    let b = s.as_bytes();
    // C reads past the end as the terminating NUL.
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let sep = iso_separator(b);
    let Some(date) = iso_date(b, sep) else {
        return false;
    };
    let (year, month, day) = date;
    let mut time = (0, 0, 0, 0i64);
    if b.len() > sep {
        // The separator is one character, whatever its UTF-8 length.
        let lead = at(sep);
        let width = if lead & 0x80 == 0 {
            1
        } else {
            match lead & 0xf0 {
                0xe0 => 3,
                0xf0 => 4,
                _ => 2,
            }
        };
        let start = sep + width;
        if start > b.len() {
            return false;
        }
        match iso_time(b, start) {
            Some(t) => time = t,
            None => return false,
        }
    }
    let (hour, minute, second, _) = time;
    (1..=9999).contains(&year)
        && chrono::NaiveDate::from_ymd_opt(year, month, day).is_some()
        && hour <= 23
        && minute <= 59
        && second <= 59
}

/// `_find_isoformat_datetime_separator`: where the date ends.
fn iso_separator(b: &[u8]) -> usize {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let len = b.len();
    if len == 7 {
        return 7;
    }
    if at(4) == b'-' {
        if at(5) == b'W' {
            if len < 8 {
                return usize::MAX; // -1: the date parse fails
            }
            if len > 8 && at(8) == b'-' {
                if len == 9 {
                    return usize::MAX;
                }
                if len > 10 && at(10).is_ascii_digit() {
                    return 8;
                }
                return 10;
            }
            return 8;
        }
        return 10;
    }
    if at(4) == b'W' {
        let mut idx = 7;
        while idx < len && at(idx).is_ascii_digit() {
            idx += 1;
        }
        if idx < 9 {
            return idx;
        }
        return if idx % 2 == 0 { 7 } else { 8 };
    }
    8
}

/// `parse_digits`: `n` ASCII digits at `*p`.
fn iso_digits(b: &[u8], p: &mut usize, n: usize) -> Option<i64> {
    let mut v = 0i64;
    for _ in 0..n {
        let c = b.get(*p).copied().unwrap_or(0);
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
        *p += 1;
    }
    Some(v)
}

/// `parse_isoformat_date` over the first `len` bytes (year, month, day).
fn iso_date(b: &[u8], len: usize) -> Option<(i32, u32, u32)> {
    if len == usize::MAX {
        return None;
    }
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut p = 0;
    let year = iso_digits(b, &mut p, 4)?;
    let uses_sep = at(p) == b'-';
    if uses_sep {
        p += 1;
    }
    if at(p) == b'W' {
        p += 1;
        let week = iso_digits(b, &mut p, 2)?;
        let mut wday = 1;
        if p < len {
            if uses_sep {
                let c = at(p);
                p += 1;
                if c != b'-' {
                    return None;
                }
            }
            wday = iso_digits(b, &mut p, 1)?;
        }
        return iso_week_date(year, week, wday);
    }
    let month = iso_digits(b, &mut p, 2)?;
    if uses_sep {
        let c = at(p);
        p += 1;
        if c != b'-' {
            return None;
        }
    }
    let day = iso_digits(b, &mut p, 2)?;
    Some((year as i32, month as u32, day as u32))
}

/// `iso_to_ymd`: an ISO week date as a calendar date (`None`: week or weekday out of range).
fn iso_week_date(year: i64, week: i64, wday: i64) -> Option<(i32, u32, u32)> {
    let is_leap = |y: i64| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    // Python's proleptic ordinal (0001-01-01 is day 1), with C's truncating `/` and `%`
    // as CPython computes it (they differ from Euclid's only for year 0).
    let days_before_year = |y: i64| {
        let y = y - 1;
        y * 365 + y / 4 - y / 100 + y / 400
    };
    let jan1 = days_before_year(year) + 1;
    if !(1..53).contains(&week) {
        let first_weekday = (jan1 + 6) % 7;
        let long = week == 53 && (first_weekday == 3 || (first_weekday == 2 && is_leap(year)));
        if !long {
            return None;
        }
    }
    if !(1..8).contains(&wday) {
        return None;
    }
    // iso_week1_monday
    let first_weekday = (jan1 + 6) % 7;
    let mut week1_monday = jan1 - first_weekday;
    if first_weekday > 3 {
        week1_monday += 7;
    }
    let ordinal = week1_monday + (week - 1) * 7 + wday - 1;
    // ord_to_ymd through chrono (0001-01-01 = ordinal 1); out of chrono's range: not a date.
    let epoch = chrono::NaiveDate::from_ymd_opt(1, 1, 1)?;
    let d = epoch.checked_add_signed(chrono::TimeDelta::try_days(ordinal - 1)?)?;
    use chrono::Datelike;
    Some((d.year(), d.month(), d.day()))
}

/// `parse_hh_mm_ss_ff` over `b[start..end]` (C's view: reads go on past `end` to the NUL).
/// `Some((h, m, s, us, more))`: `more` is C's return value 1, "not the end of the string".
fn iso_hh_mm_ss_ff(b: &[u8], start: usize, end: usize) -> Option<(i64, i64, i64, i64, bool)> {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut vals = [0i64; 3];
    let mut p = start;
    let mut has_sep = true;
    let mut i = 0;
    while i < 3 {
        vals[i] = iso_digits(b, &mut p, 2)?;
        let c = at(p);
        p += 1;
        if i == 0 {
            has_sep = c == b':';
        }
        if p >= end {
            return Some((vals[0], vals[1], vals[2], 0, c != 0));
        } else if has_sep && c == b':' {
            i += 1;
            continue;
        } else if c == b'.' || c == b',' {
            break;
        } else if !has_sep {
            p -= 1;
        } else {
            return None; // malformed time separator
        }
        i += 1;
    }
    let remains = end - p;
    let to_parse = remains.min(6);
    let mut us = iso_digits(b, &mut p, to_parse)?;
    if to_parse < 6 {
        // to_parse == 0 multiplies 0 (C indexes before its table; the product is still 0).
        us *= 10i64.pow((6 - to_parse) as u32);
    }
    while at(p).is_ascii_digit() {
        p += 1;
    }
    Some((vals[0], vals[1], vals[2], us, at(p) != 0))
}

/// `parse_isoformat_time` from `start` to the end of `b`: (hour, minute, second, µs).
fn iso_time(b: &[u8], start: usize) -> Option<(i64, i64, i64, i64)> {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let end = b.len();
    let mut tz = start;
    loop {
        if matches!(at(tz), b'Z' | b'+' | b'-') {
            break;
        }
        tz += 1;
        if tz >= end {
            break;
        }
    }
    let (h, m, s, us, more) = iso_hh_mm_ss_ff(b, start, tz)?;
    if tz == end {
        return (!more).then_some((h, m, s, us));
    }
    if at(tz) == b'Z' {
        return (at(tz + 1) == 0).then_some((h, m, s, us));
    }
    let (th, tm, ts, tus, more) = iso_hh_mm_ss_ff(b, tz + 1, end)?;
    if more {
        return None;
    }
    // timezone(): strictly within a day.
    let offset_us = ((th * 3600 + tm * 60 + ts) * 1_000_000) + tus;
    (offset_us < 86_400_000_000).then_some((h, m, s, us))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Arbitrary JSON values: every kind, control characters, quotes and backslashes in
    /// strings, non-ASCII keys, nesting.
    pub(crate) fn values() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "(\\PC|[\\x00-\\x1f\\x7f\"\\\\]){0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("\\PC{0,6}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Written while parsing, `str()` of a value's JSON text (compact or indented) is
        /// `str()` of the parsed value.
        #[test]
        fn py_str_of_json_text_is_py_str_of_the_value(v in values()) {
            let want = py_str(&v);
            prop_assert_eq!(py_str_json(&v.to_string()), Some(want.clone()));
            prop_assert_eq!(py_str_json(&serde_json::to_string_pretty(&v).unwrap()), Some(want));
        }
    }

    #[test]
    fn py_str_json_keeps_the_last_value_of_a_repeated_key_at_its_first_place() {
        let text = r#"{"a": 1, "b": {"c": [], "c": "x"}, "a": 3}"#;
        assert_eq!(py_str_json(text).unwrap(), "{'a': 3, 'b': {'c': 'x'}}");
        // The same key in different objects is not repeated.
        let text = r#"[{"a": 1}, {"a": {"a": 2}}]"#;
        assert_eq!(py_str_json(text).unwrap(), "[{'a': 1}, {'a': {'a': 2}}]");
        assert_eq!(py_str_json(r#""it's""#).unwrap(), "it's");
        assert_eq!(py_str_json("[1, 2"), None);
        assert_eq!(py_str_json("1 2"), None);
    }

    #[test]
    fn float_repr_matches_python() {
        for (x, want) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123.456, "123.456"),
            (-2.5e-7, "-2.5e-07"),
            (1795422240.0729344, "1795422240.0729344"),
            (7301.000118255615, "7301.000118255615"),
            // An exact tie at 17 digits: Python rounds half to even.
            (f64::from_bits(0x402A_E7B2_0000_0000), "13.452529907226562"), // exactly 13.4525299072265625
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (-0.0, "-0.0"),
        ] {
            assert_eq!(float_repr(x), want, "{x:e}");
        }
    }

    proptest::proptest! {
        /// Python's repr is a round-trip representation: it parses back to the same float.
        #[test]
        fn float_repr_round_trips(bits in proptest::num::u64::ANY) {
            let x = f64::from_bits(bits);
            proptest::prop_assume!(x.is_finite());
            let s = float_repr(x);
            proptest::prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{}", s);
            proptest::prop_assert!(s.contains('.') || s.contains('e'), "{}", s);
        }
    }

    proptest::proptest! {
        /// Where `may_tie` says no tie is possible, re-rounding the exact value to the
        /// shortest digit count gives the shortest digits themselves: skipping it changes
        /// nothing. On any float and on floats with short binary fractions (where ties live).
        #[test]
        fn tie_shortcut_gives_the_exact_digits(
            bits in proptest::num::u64::ANY,
            m in 1u64..(1 << 53),
            k in 0i32..70,
        ) {
            for x in [f64::from_bits(bits), m as f64 / 2f64.powi(k), m as f64 * 2f64.powi(k)] {
                proptest::prop_assume!(x.is_finite() && x != 0.0);
                let (shortest, n) = shortest_sci(x);
                if !may_tie(x, n) {
                    proptest::prop_assert_eq!(&shortest, &format!("{:.*e}", n - 1, x));
                }
            }
        }
    }

    #[test]
    fn repr_of_json_values_matches_python() {
        let v = json!({"a": [1, 2.5, null, true], "b'": "it's", "c": "say \"x\"", "d": "tab\tnl\n\u{7f}é\u{a0}"});
        assert_eq!(
            repr(&v),
            r#"{'a': [1, 2.5, None, True], "b'": "it's", 'c': 'say "x"', 'd': 'tab\tnl\n\x7fé\xa0'}"#
        );
        assert_eq!(py_str(&json!("plain")), "plain");
        assert_eq!(str_repr("both ' and \""), r#"'both \' and "'"#);
    }

    #[test]
    fn epoch_to_iso_rounds_half_even_like_cpython() {
        assert_eq!(
            epoch_to_iso(1795422240.0729344).unwrap(),
            "2026-11-23T08:24:00.072934+00:00"
        );
        assert_eq!(
            epoch_to_iso(1767225600.0).unwrap(),
            "2026-01-01T00:00:00+00:00"
        );
        // 0.9999996 s rounds up into the next second.
        assert_eq!(
            epoch_to_iso(1767225600.9999996).unwrap(),
            "2026-01-01T00:00:01+00:00"
        );
        assert_eq!(epoch_to_iso(f64::NAN), None);
    }

    #[test]
    fn iso_parsing_follows_python_311() {
        assert_eq!(iso_to_epoch("2026-01-01T00:00:00Z"), Some(1767225600.0));
        assert_eq!(
            iso_to_epoch("2026-01-01T01:00:00+01:00"),
            Some(1767225600.0)
        );
        assert_eq!(
            iso_to_epoch("2026-11-23T08:24:00.072934+00:00"),
            Some(1795422240.072934)
        );
        assert_eq!(iso_to_epoch("2026-01-01"), Some(1767225600.0));
        assert_eq!(iso_to_epoch("2026-01-01T00:00:00.5"), Some(1767225600.5));
        assert_eq!(iso_to_epoch("not a date"), None);
        assert_eq!(iso_to_epoch("2026-13-01T00:00:00Z"), None);
        assert_eq!(iso_to_epoch("2026-01-01T25:00:00Z"), None);
    }
}
