//! Loading a trace file: the format is detected from the content, never from the name.
//!
//! | content | kind |
//! |---|---|
//! | `[{"request_number", "intermediate_steps": [...]}, ...]` or `[[step, ...], ...]` | IST |
//! | one trajectory object | ATIF (single) |
//! | `[trajectory, ...]` | ATIF (list) |
//! | `[{"item_id", "trajectory", ...}, ...]` (NAT eval `workflow_output_atif.json`) | ATIF (eval output) |
//! | one trajectory per line | ATIF (JSONL) |
//! | ATOF events (`atof_version`), as a JSON list or JSONL | ATOF |

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::atif::{AtifItem, AtifLayout, AtifTrace, Trajectory};
use super::ist::{IntermediateStep, IstRequest, IstTrace};
use crate::error::{Error, Result};

/// The deepest nesting `--max-depth` can allow: serde_json refuses documents deeper than 128
/// levels whatever the limit here, and counts one level more than [`too_deep`].
pub const MAX_DEPTH: usize = 127;

/// Limits that keep a bad input from exhausting memory.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Files larger than this fail with [`Error::TooLarge`].
    pub max_file_size: u64,
    /// Documents nested deeper than this (arrays and objects) fail before parsing.
    pub max_depth: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_file_size: 8 << 30,
            max_depth: 100,
        }
    }
}

/// The first place where `bytes` nest deeper than `max`: (line, column), 1-based. One pass,
/// strings and escapes skipped; malformed JSON is left to the parser.
pub fn too_deep(bytes: &[u8], max: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Jump to the closing quote (most of a trace's bytes are in strings).
                i += 1;
                loop {
                    let k = memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
                    i += k;
                    if bytes[i] == b'"' {
                        break;
                    }
                    i += 2;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    let line = 1 + memchr::memchr_iter(b'\n', &bytes[..i]).count();
                    let col = i - memchr::memrchr(b'\n', &bytes[..i]).map_or(0, |n| n + 1) + 1;
                    return Some((line, col));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The content of one trace file.
#[derive(Debug, Clone, PartialEq)]
pub enum Trace {
    /// IntermediateSteps.
    Ist(IstTrace),
    /// ATIF trajectories.
    Atif(AtifTrace),
    /// ATOF event stream (raw events, in file order).
    Atof(Vec<Value>),
}

impl Trace {
    /// The trace's kind, as reports name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Trace::Ist(_) => "ist",
            Trace::Atif(a) => match a.layout {
                AtifLayout::Single => "atif",
                AtifLayout::List => "atif-list",
                AtifLayout::EvalOutput => "atif-eval-output",
                AtifLayout::Jsonl => "atif-jsonl",
            },
            Trace::Atof(_) => "atof",
        }
    }
}

/// What the first look at a JSON document found.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// A list; the shape of its first element (None: empty list).
    List(Option<Elem>),
    /// An object with these keys.
    Object(Vec<String>),
    /// A string, number, boolean or null.
    Scalar,
}

#[derive(Debug, Clone, PartialEq)]
enum Elem {
    Object(Vec<String>),
    List,
    Scalar,
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON document")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Shape, A::Error> {
        let first: Option<ElemProbe> = seq.next_element()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Shape::List(first.map(|p| p.0)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Shape, A::Error> {
        Ok(Shape::Object(collect_keys(map)?))
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Shape, E> {
        Ok(Shape::Scalar)
    }
    fn visit_unit<E>(self) -> std::result::Result<Shape, E> {
        Ok(Shape::Scalar)
    }
}

/// The shape of a document that is a list, from its first element only (the rest is not
/// read); `None` for anything else or when the first element does not parse.
fn first_look(bytes: &[u8]) -> Option<Shape> {
    use std::cell::RefCell;
    struct Probe<'a>(&'a RefCell<Option<Shape>>);
    impl<'de> Visitor<'de> for Probe<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
            let first: Option<ElemProbe> = seq.next_element()?;
            *self.0.borrow_mut() = Some(Shape::List(first.map(|p| p.0)));
            // Stop here: the caller parses the whole document next.
            Err(de::Error::custom("first element read"))
        }
    }
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = de.deserialize_seq(Probe(&found));
    found.into_inner()
}

fn collect_keys<'de, A: MapAccess<'de>>(mut map: A) -> std::result::Result<Vec<String>, A::Error> {
    let mut keys = Vec::new();
    while let Some(k) = map.next_key::<String>()? {
        map.next_value::<IgnoredAny>()?;
        keys.push(k);
    }
    Ok(keys)
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

struct ElemProbe(Elem);

impl<'de> Deserialize<'de> for ElemProbe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ElemProbe;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list element")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> std::result::Result<ElemProbe, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ElemProbe(Elem::List))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                m: A,
            ) -> std::result::Result<ElemProbe, A::Error> {
                Ok(ElemProbe(Elem::Object(collect_keys(m)?)))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<ElemProbe, E> {
                Ok(ElemProbe(Elem::Scalar))
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<ElemProbe, E> {
                Ok(ElemProbe(Elem::Scalar))
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<ElemProbe, E> {
                Ok(ElemProbe(Elem::Scalar))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<ElemProbe, E> {
                Ok(ElemProbe(Elem::Scalar))
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<ElemProbe, E> {
                Ok(ElemProbe(Elem::Scalar))
            }
            fn visit_unit<E>(self) -> std::result::Result<ElemProbe, E> {
                Ok(ElemProbe(Elem::Scalar))
            }
        }
        d.deserialize_any(V)
    }
}

/// The kinds of document this tool reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    IstRequests,
    IstBareLists,
    IstEmpty,
    AtifSingle,
    AtifList,
    AtifEval,
    AtofList,
}

fn has(keys: &[String], k: &str) -> bool {
    keys.iter().any(|x| x == k)
}

fn is_trajectory(keys: &[String]) -> bool {
    has(keys, "schema_version") || (has(keys, "steps") && has(keys, "agent"))
}

fn is_atof_event(keys: &[String]) -> bool {
    has(keys, "atof_version") || (has(keys, "kind") && has(keys, "scope_category"))
}

/// A JSON document that is no trace, by its shape.
#[derive(Debug, PartialEq)]
enum Unrecognized<'a> {
    Objects(&'a [String]),
    Scalars,
    Object(&'a [String]),
    Scalar,
}

impl std::fmt::Display for Unrecognized<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unrecognized::Objects(k) => {
                write!(
                    f,
                    "not a trace: a list of objects with keys {}",
                    key_list(k)
                )
            }
            Unrecognized::Scalars => f.write_str("not a trace: a list of scalars"),
            Unrecognized::Object(k) => {
                write!(f, "not a trace: a JSON object with keys {}", key_list(k))
            }
            Unrecognized::Scalar => f.write_str("not a trace: a JSON scalar"),
        }
    }
}

/// Why a JSON document is not a trace, or which kind it is.
fn classify(shape: &Shape) -> std::result::Result<Kind, Unrecognized<'_>> {
    match shape {
        Shape::List(None) => Ok(Kind::IstEmpty),
        Shape::List(Some(Elem::List)) => Ok(Kind::IstBareLists),
        Shape::List(Some(Elem::Object(k))) if has(k, "intermediate_steps") => Ok(Kind::IstRequests),
        Shape::List(Some(Elem::Object(k))) if has(k, "trajectory") && !has(k, "steps") => {
            Ok(Kind::AtifEval)
        }
        Shape::List(Some(Elem::Object(k))) if is_trajectory(k) => Ok(Kind::AtifList),
        Shape::List(Some(Elem::Object(k))) if is_atof_event(k) => Ok(Kind::AtofList),
        Shape::List(Some(Elem::Object(k))) => Err(Unrecognized::Objects(k)),
        Shape::List(Some(Elem::Scalar)) => Err(Unrecognized::Scalars),
        Shape::Object(k) if is_trajectory(k) => Ok(Kind::AtifSingle),
        Shape::Object(k) => Err(Unrecognized::Object(k)),
        Shape::Scalar => Err(Unrecognized::Scalar),
    }
}

fn key_list(keys: &[String]) -> String {
    const MAX: usize = 6;
    let mut s: Vec<String> = keys.iter().take(MAX).map(|k| format!("`{k}`")).collect();
    if keys.len() > MAX {
        s.push(format!("… ({} in all)", keys.len()));
    }
    if s.is_empty() {
        "(none)".into()
    } else {
        s.join(", ")
    }
}

/// Read a regular file with the size limit applied to the bytes read (see [`crate::fsio`]).
pub fn read_bytes(path: &Path, opts: &LoadOptions) -> Result<Vec<u8>> {
    crate::fsio::read_regular(path, opts.max_file_size)
}

/// Refuse `bytes` (the content of `path`) when they nest deeper than `opts.max_depth`.
pub fn check_depth(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<()> {
    if let Some((line, column)) = too_deep(bytes, opts.max_depth) {
        return Err(Error::Json {
            path: path.to_path_buf(),
            line,
            column,
            json_path: ".".into(),
            message: if opts.max_depth >= MAX_DEPTH {
                format!("nested deeper than {MAX_DEPTH} levels, the most this tool reads")
            } else {
                format!(
                    "nested deeper than {} levels (raise the limit with --max-depth, up to {MAX_DEPTH})",
                    opts.max_depth
                )
            },
        });
    }
    Ok(())
}

/// Load one trace file, detecting its format from the content.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Trace> {
    let bytes = read_bytes(path, opts)?;
    check_depth(path, &bytes, opts)?;
    load_bytes(path, &bytes)
}

/// Load a trace from bytes; `path` is only used in messages.
pub fn load_bytes(path: &Path, bytes: &[u8]) -> Result<Trace> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Format {
            path: path.to_path_buf(),
            message: "empty file".into(),
        });
    }
    // A list (IST, ATIF lists, ATOF): classify by its first element and parse once; the
    // full shape pass below (which also reads the whole document) is for everything else
    // and for the errors, so a failure here is reported exactly as before.
    if let Some(shape) = first_look(bytes) {
        if let Ok(kind) = classify(&shape) {
            if let Ok(trace) = parse_kind(path, bytes, kind) {
                return Ok(trace);
            }
        }
    }
    match serde_json::from_slice::<Shape>(bytes) {
        Ok(shape) => {
            let kind = classify(&shape).map_err(|message| Error::NotATrace {
                path: path.to_path_buf(),
                message: message.to_string(),
            })?;
            parse_kind(path, bytes, kind)
        }
        Err(e)
            if e.classify() == serde_json::error::Category::Syntax && looks_like_jsonl(bytes) =>
        {
            load_jsonl(path, bytes)
        }
        Err(e) => Err(json_error(path, bytes, e, None)),
    }
}

/// Whether `first`, the first element of a JSON list, makes the list an IST request list
/// (what `load_bytes` then reads as an [`IstTrace`]; it classifies a list by its first
/// element too).
pub fn is_ist_request(first: &[u8]) -> bool {
    serde_json::from_slice::<ElemProbe>(first)
        .is_ok_and(|p| classify(&Shape::List(Some(p.0))) == Ok(Kind::IstRequests))
}

/// JSONL: the first line is a complete JSON object and something follows it.
fn looks_like_jsonl(bytes: &[u8]) -> bool {
    let mut lines = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    match (lines.next(), lines.next()) {
        (Some(first), Some(_)) => {
            matches!(serde_json::from_slice::<Shape>(first), Ok(Shape::Object(_)))
        }
        _ => false,
    }
}

fn load_jsonl(path: &Path, bytes: &[u8]) -> Result<Trace> {
    let mut items = Vec::new();
    let mut events = Vec::new();
    let mut kind: Option<bool> = None; // Some(true) = trajectories, Some(false) = ATOF events
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_no = i + 1;
        let shape: Shape =
            serde_json::from_slice(line).map_err(|e| json_error(path, line, e, Some(line_no)))?;
        let Shape::Object(keys) = &shape else {
            return Err(Error::Format {
                path: path.to_path_buf(),
                message: format!("line {line_no}: JSONL line is not a JSON object"),
            });
        };
        let this = if is_trajectory(keys) {
            true
        } else if is_atof_event(keys) {
            false
        } else {
            return Err(Error::Format {
                path: path.to_path_buf(),
                message: format!(
                    "line {line_no}: JSONL line is neither an ATIF trajectory nor an ATOF event (keys {})",
                    key_list(keys)
                ),
            });
        };
        match kind {
            None => kind = Some(this),
            Some(k) if k != this => {
                return Err(Error::Format {
                    path: path.to_path_buf(),
                    message: format!(
                        "line {line_no}: mixes ATIF trajectories and ATOF events in one file"
                    ),
                })
            }
            _ => {}
        }
        if this {
            let trajectory: Trajectory = typed(path, line, Some(line_no))?;
            items.push(AtifItem {
                item_id: None,
                trajectory,
            });
        } else {
            events.push(typed::<Value>(path, line, Some(line_no))?);
        }
    }
    Ok(if kind == Some(false) {
        Trace::Atof(events)
    } else {
        Trace::Atif(AtifTrace {
            layout: AtifLayout::Jsonl,
            items,
        })
    })
}

/// Deserialize `bytes` as `T`, reporting the JSON path, line and column of a failure.
fn typed<T: de::DeserializeOwned>(path: &Path, bytes: &[u8], line_no: Option<usize>) -> Result<T> {
    // Fast path without path tracking; on failure parse again to name the JSON path.
    if let Ok(v) = serde_json::from_slice::<T>(bytes) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut track = serde_path_to_error::Track::new();
    let pd = serde_path_to_error::Deserializer::new(&mut de, &mut track);
    match T::deserialize(pd) {
        Ok(v) => {
            de.end().map_err(|e| json_error(path, bytes, e, line_no))?;
            Ok(v)
        }
        Err(e) => {
            let json_path = track.path().to_string();
            Err(json_error(path, bytes, e, line_no).with_json_path(json_path))
        }
    }
}

impl Error {
    fn with_json_path(mut self, p: String) -> Self {
        if let Error::Json { json_path, .. } = &mut self {
            *json_path = p;
        }
        self
    }
}

/// A serde_json error as [`Error::Json`] naming `path`, the line (`line_no` for a JSONL line
/// parsed alone, whose error says line 1) and the column, with syntax errors explained.
pub(crate) fn json_error(
    path: &Path,
    bytes: &[u8],
    e: serde_json::Error,
    line_no: Option<usize>,
) -> Error {
    let (line, column) = match line_no {
        Some(l) => (l, e.column()),
        None => (e.line(), e.column()),
    };
    // serde_json appends " at line L column C"; the location is in the prefix already.
    let mut message = e.to_string();
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    if e.is_syntax() {
        message = explain_syntax(bytes, e.line(), e.column(), message);
    }
    Error::Json {
        path: PathBuf::from(path),
        line,
        column,
        json_path: ".".into(),
        message,
    }
}

/// A syntax error said in the user's terms: a file that does not start as JSON is "not
/// JSON"; `NaN` and `Infinity` (which Python's `json.dumps` writes with its default
/// `allow_nan=True`) are named as what they are.
fn explain_syntax(bytes: &[u8], line: usize, column: usize, message: String) -> String {
    // The byte serde_json stopped at: `column` is 1-based within line `line` (of `bytes`).
    let line_start = if line <= 1 {
        0
    } else {
        memchr::memchr_iter(b'\n', bytes)
            .nth(line - 2)
            .map_or(bytes.len(), |i| i + 1)
    };
    let at = (line_start + column.saturating_sub(1)).min(bytes.len());
    let rest = &bytes[at..];
    for word in ["NaN", "-Infinity", "Infinity"] {
        // serde_json stops on the first byte it cannot take, or just after it.
        let near = bytes[at.saturating_sub(1)..].starts_with(word.as_bytes());
        if rest.starts_with(word.as_bytes()) || near {
            return format!(
                "{word} is not JSON (Python writes it with json.dumps' default allow_nan=True): \
                 write the value as null or a string, or fix the exporter"
            );
        }
    }
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let first = first.map(|i| bytes[i]);
    let starts_as_json = matches!(
        first,
        Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
    ) && !bytes.starts_with(b"\xEF\xBB\xBF");
    if !starts_as_json {
        let what = if bytes.starts_with(b"\xEF\xBB\xBF") {
            "not JSON: the file starts with a UTF-8 byte-order mark".to_string()
        } else {
            format!("not JSON: {message}")
        };
        return what;
    }
    message
}

fn parse_kind(path: &Path, bytes: &[u8], kind: Kind) -> Result<Trace> {
    Ok(match kind {
        Kind::IstEmpty => Trace::Ist(IstTrace::default()),
        Kind::IstRequests => match typed::<Vec<IstRequest>>(path, bytes, None) {
            Ok(requests) => Trace::Ist(IstTrace { requests }),
            Err(e) if is_flat_rows(bytes) => {
                return Err(Error::NotATrace {
                    path: path.to_path_buf(),
                    message: format!(
                        "not a trace: flat profiler rows as NAT's ATIF-native profiler writes them \
                         (`dataframe_to_profiler_traces`), not IntermediateSteps ({e})"
                    ),
                })
            }
            Err(e) => return Err(e),
        },
        Kind::IstBareLists => {
            let lists: Vec<Vec<IntermediateStep>> = typed(path, bytes, None)?;
            Trace::Ist(IstTrace {
                requests: lists
                    .into_iter()
                    .enumerate()
                    .map(|(i, steps)| IstRequest {
                        request_number: Some(Value::from(i)),
                        intermediate_steps: steps,
                        extra: Default::default(),
                    })
                    .collect(),
            })
        }
        Kind::AtifSingle => Trace::Atif(AtifTrace {
            layout: AtifLayout::Single,
            items: vec![AtifItem {
                item_id: None,
                trajectory: typed(path, bytes, None)?,
            }],
        }),
        Kind::AtifList => Trace::Atif(AtifTrace {
            layout: AtifLayout::List,
            items: typed::<Vec<Trajectory>>(path, bytes, None)?
                .into_iter()
                .map(|trajectory| AtifItem {
                    item_id: None,
                    trajectory,
                })
                .collect(),
        }),
        Kind::AtifEval => {
            #[derive(serde::Deserialize)]
            struct EvalItem {
                #[serde(default)]
                item_id: Option<Value>,
                trajectory: Trajectory,
            }
            Trace::Atif(AtifTrace {
                layout: AtifLayout::EvalOutput,
                items: typed::<Vec<EvalItem>>(path, bytes, None)?
                    .into_iter()
                    .map(|e| AtifItem {
                        item_id: e.item_id,
                        trajectory: e.trajectory,
                    })
                    .collect(),
            })
        }
        Kind::AtofList => Trace::Atof(typed(path, bytes, None)?),
    })
}

/// NAT's ATIF-native profiler writes `all_requests_profiler_traces.json` as
/// `[{"request_number", "intermediate_steps": [{"event_type", "event_timestamp", "payload": {"UUID"}, …}]}]`:
/// rows of its frame, `event_type` outside `payload`. Only called on the error path.
fn is_flat_rows(bytes: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
        return false;
    };
    v.as_array()
        .and_then(|a| {
            a.iter()
                .find_map(|r| r.get("intermediate_steps")?.as_array()?.first())
        })
        .is_some_and(|s| {
            s.get("event_type").is_some() && s.pointer("/payload/event_type").is_none()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(s: &str) -> Result<Trace> {
        load_bytes(Path::new("t.json"), s.as_bytes())
    }

    const STEP: &str = r#"{"parent_id":"root","function_ancestry":{"function_id":"f","function_name":"w"},
        "payload":{"event_type":"WORKFLOW_START","event_timestamp":1.0,"UUID":"u"}}"#;

    #[test]
    fn detects_every_layout() {
        let ist = format!(r#"[{{"request_number":0,"intermediate_steps":[{STEP}]}}]"#);
        assert_eq!(load(&ist).unwrap().kind(), "ist");
        assert_eq!(load(&format!("[[{STEP}]]")).unwrap().kind(), "ist");
        let t = r#"{"schema_version":"ATIF-v1.7","agent":{"name":"a","version":"1"},"steps":[]}"#;
        assert_eq!(load(t).unwrap().kind(), "atif");
        assert_eq!(load(&format!("[{t},{t}]")).unwrap().kind(), "atif-list");
        assert_eq!(
            load(&format!(r#"[{{"item_id":"x","trajectory":{t}}}]"#))
                .unwrap()
                .kind(),
            "atif-eval-output"
        );
        assert_eq!(load(&format!("{t}\n{t}\n")).unwrap().kind(), "atif-jsonl");
        let ev = r#"{"atof_version":"0.1","kind":"scope","scope_category":"start"}"#;
        assert_eq!(load(&format!("{ev}\n{ev}\n")).unwrap().kind(), "atof");
        assert_eq!(load(&format!("[{ev}]")).unwrap().kind(), "atof");
    }

    #[test]
    fn errors_name_path_line_and_column() {
        let bad = "[{\"request_number\":0,\"intermediate_steps\":[\n{\"parent_id\":\"root\",\"function_ancestry\":{\"function_id\":\"f\",\"function_name\":\"w\"},\n\"payload\":{\"event_type\":\"NOPE\",\"event_timestamp\":1.0,\"UUID\":\"u\"}}]}]";
        let e = load(bad).unwrap_err().to_string();
        assert!(e.starts_with("t.json:3:"), "{e}");
        assert!(
            e.contains("[0].intermediate_steps[0].payload.event_type"),
            "{e}"
        );
        assert!(e.contains("NOPE"), "{e}");
    }

    #[test]
    fn malformed_inputs_fail_cleanly() {
        for (input, want) in [
            ("", "empty file"),
            ("   \n", "empty file"),
            ("[{\"a\":", "EOF"),
            ("42", "not a trace"),
            ("{\"x\": 1}", "not a trace"),
            ("[1,2]", "not a trace"),
            ("\u{0}\u{1}binary", "expected value"),
        ] {
            let e = load(input).unwrap_err().to_string();
            assert!(e.contains(want), "{input:?}: {e}");
        }
        let deep = "[".repeat(10_000);
        assert!(load(&deep).is_err());
    }

    #[test]
    fn depth_scan_skips_strings_and_reports_the_position() {
        assert_eq!(too_deep(b"[[1]]", 2), None);
        assert_eq!(too_deep(b"[[[1]]]", 2), Some((1, 3)));
        assert_eq!(too_deep(br#"["[[[[", {"a": "\"[[["}]"#, 2), None);
        assert_eq!(too_deep(b"[\n [\n  [", 2), Some((3, 3)));
        assert_eq!(too_deep(br#"["\\", [["#, 2), Some((1, 9)));
        assert_eq!(too_deep(br#"["unterminated [[["#, 1), None);
    }

    /// The byte-at-a-time scan the memchr one replaced: same answer on any input.
    fn too_deep_reference(bytes: &[u8], max: usize) -> Option<(usize, usize)> {
        let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
        let (mut in_str, mut escaped) = (false, false);
        for &b in bytes {
            col += 1;
            if b == b'\n' {
                line += 1;
                col = 0;
            }
            if in_str {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > max {
                        return Some((line, col));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        None
    }

    proptest::proptest! {
        #[test]
        fn depth_scan_equals_the_reference(
            bytes in proptest::collection::vec(
                proptest::sample::select(b"[]{}\"\\\na ".to_vec()), 0..64),
            max in 0usize..5,
        ) {
            proptest::prop_assert_eq!(too_deep(&bytes, max), too_deep_reference(&bytes, max));
        }
    }

    #[test]
    fn empty_list_is_an_ist_trace_with_zero_requests() {
        match load("[]").unwrap() {
            Trace::Ist(t) => assert!(t.requests.is_empty()),
            other => panic!("{other:?}"),
        }
    }
}
