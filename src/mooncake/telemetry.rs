//! OpenAI-style telemetry JSONL → mooncake rows, with the rules of Dynamo's second converter
//! (ai-dynamo/dynamo `benchmarks/`, `convert_telemetry.py`):
//!
//! - only `llm_call` events (`event_type`) become rows, sorted by (`session_id`,
//!   `timestamp`) — a stable sort, as Python's;
//! - `agent_type` from the first system message (its string content, or the first part of a
//!   list content with a non-empty `text`) by prefix ([`AGENT_PREFIXES`]; any other system
//!   prompt → `unknown`); without a (non-empty) system prompt, from the first user message
//!   with string or list content (a list as Python's `str()` of it): `Classify the user
//!   message` → `classifier`, `complexity analyzer` → `complexity_analyzer`, else `unknown`;
//! - `input_length` and `hash_ids` from every message's text (string contents, and the string
//!   items and non-empty `text` of list contents) joined by newlines, tokenized and hashed as
//!   the NAT converter does (one block hasher for the whole file); an event without text
//!   gives 0 and `[]`;
//! - `output_length` = `response_payload.usage.completion_tokens` (0 when absent),
//!   `priority` = `latency_priority` (default `MEDIUM`), both written as found; no `delay`;
//! - each row is `json.dumps` of {session_id, agent_type, input_length, output_length,
//!   hash_ids, priority}.
//!
//! Where Dynamo's script stops with a Python traceback, this converter names the file and the
//! line instead ([`read`]): a line that is not a JSON object, an `llm_call` without
//! `session_id` or `timestamp`, keys that cannot be ordered — or, with `skip_bad_lines`, skips
//! the line with a warning. The deliberate differences are in `differences::DIFFERENCES`
//! (`telemetry.*`).

use std::cmp::Ordering;
use std::path::Path;

use serde_json::{Map, Value};

use super::{BlockHasher, Tokenizer};
use crate::error::Error;
use crate::pyfmt::{py_str, truthy};

/// Dynamo's `AGENT_PREFIX_MAP`: a system prompt's prefix → the agent type.
pub const AGENT_PREFIXES: &[(&str, &str)] = &[
    ("You are a Deep Research agent", "deep_coordinator"),
    ("Gather and synthesize comprehe", "research_worker"),
    ("For the given task, generate a", "research_planner"),
    ("Current date and time:", "shallow_agent"),
];

/// One `llm_call` event and the line it was read from (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its line in the file.
    pub line: usize,
    /// The event.
    pub fields: Map<String, Value>,
}

/// One mooncake row of a telemetry event.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The event's `session_id`, as found.
    pub session_id: Value,
    /// The agent type ([`classify_agent`]).
    pub agent_type: &'static str,
    /// Input tokens.
    pub input_length: usize,
    /// `response_payload.usage.completion_tokens`, as found (0 when absent).
    pub output_length: Value,
    /// The hash of each block of the input.
    pub hash_ids: Vec<u64>,
    /// `latency_priority`, as found (`MEDIUM` when absent).
    pub priority: Value,
}

fn bad(path: &Path, line: usize, message: String) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: format!("line {line}: {message}"),
    }
}

/// The `llm_call` events of telemetry JSONL `text` (read from `path`), sorted by
/// (`session_id`, `timestamp`), and a warning per line skipped (`skip_bad_lines`).
pub fn read(
    path: &Path,
    text: &str,
    skip_bad_lines: bool,
) -> Result<(Vec<Event>, Vec<String>), Error> {
    let mut events = Vec::new();
    let mut warnings = Vec::new();
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let parsed = match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(other) => Err(format!("not a JSON object: {}", kind(&other))),
            Err(e) => {
                // serde's position is within the line: keep the column, drop its "line 1".
                let what = e.to_string();
                let what = what
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                Err(format!("not JSON (column {}): {what}", e.column()))
            }
        };
        let checked = parsed.and_then(|m| {
            if m.get("event_type").and_then(Value::as_str) != Some("llm_call") {
                return Ok(None);
            }
            for key in ["session_id", "timestamp"] {
                if !m.contains_key(key) {
                    return Err(format!("an llm_call event without `{key}`"));
                }
            }
            Ok(Some(m))
        });
        match checked {
            Ok(Some(fields)) => events.push(Event { line, fields }),
            Ok(None) => {}
            Err(message) if skip_bad_lines => warnings.push(format!(
                "{}: line {line}: {message}; skipped",
                path.display()
            )),
            Err(message) => return Err(bad(path, line, message)),
        }
    }
    sort(path, &mut events)?;
    Ok((events, warnings))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Python's `==` between two JSON values (a bool is the integer 0 or 1).
fn py_eq(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (a, b) {
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
            }
            _ => a == b,
        },
    }
}

/// A number as Python compares it: integers exactly, floats as floats.
#[derive(PartialEq, PartialOrd)]
enum Num {
    Int(i128),
    Float(f64),
}

fn number(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::Int(*b as i128)),
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Num::Int(i as i128),
            (_, Some(u)) => Num::Int(u as i128),
            _ => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        _ => None,
    }
}

fn num_cmp(a: &Num, b: &Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(y)),
        (Num::Int(x), Num::Float(y)) => (*x as f64).partial_cmp(y),
        (Num::Float(x), Num::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(y),
    }
}

/// Python's `<` ordering of two JSON values: numbers with numbers, strings with strings (by
/// code point), lists element by element; `None` when Python raises `TypeError`.
fn py_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    if py_eq(a, b) {
        return Some(Ordering::Equal);
    }
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return num_cmp(&x, &y);
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                if !py_eq(p, q) {
                    return py_cmp(p, q);
                }
            }
            Some(x.len().cmp(&y.len()))
        }
        _ => None,
    }
}

/// Sort by (`session_id`, `timestamp`) as Python sorts tuples, stably; keys that cannot be
/// ordered are an error naming both lines.
fn sort(path: &Path, events: &mut [Event]) -> Result<(), Error> {
    let mut unordered: Option<(usize, usize)> = None;
    let key = |e: &Event, k: &str| e.fields.get(k).cloned().unwrap_or(Value::Null);
    events.sort_by(|a, b| {
        let (sa, sb) = (key(a, "session_id"), key(b, "session_id"));
        let ord = if py_eq(&sa, &sb) {
            py_cmp(&key(a, "timestamp"), &key(b, "timestamp"))
        } else {
            py_cmp(&sa, &sb)
        };
        ord.unwrap_or_else(|| {
            unordered.get_or_insert((a.line.min(b.line), a.line.max(b.line)));
            Ordering::Equal
        })
    });
    match unordered {
        None => Ok(()),
        Some((x, y)) => Err(bad(
            path,
            x,
            format!("its (session_id, timestamp) cannot be ordered with line {y}'s (another type)"),
        )),
    }
}

/// The event's `request_payload.messages` (none when it is not a list).
fn messages(event: &Map<String, Value>) -> &[Value] {
    event
        .get("request_payload")
        .and_then(Value::as_object)
        .and_then(|rp| rp.get("messages"))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn role<'a>(messages: &'a [Value], role: &str) -> impl Iterator<Item = &'a Map<String, Value>> {
    let role = role.to_string();
    messages
        .iter()
        .filter_map(Value::as_object)
        .filter(move |m| m.get("role").and_then(Value::as_str) == Some(role.as_str()))
}

/// Dynamo's `extract_system_prompt`: the first system message's content (a list: its first
/// part with a truthy `text`, else nothing).
fn system_prompt(messages: &[Value]) -> Option<Value> {
    let m = role(messages, "system").next()?;
    match m.get("content") {
        None => Some(Value::String(String::new())),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(Value::as_object)
            .find_map(|p| p.get("text").filter(|t| truthy(t)).cloned()),
        Some(other) => Some(other.clone()),
    }
}

/// Dynamo's `extract_first_user_message`: the first user message with string content, or
/// Python's `str()` of the first with list content.
fn first_user_message(messages: &[Value]) -> String {
    role(messages, "user")
        .find_map(|m| match m.get("content") {
            None => Some(String::new()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(list @ Value::Array(_)) => Some(py_str(list)),
            Some(_) => None,
        })
        .unwrap_or_default()
}

/// Dynamo's `classify_agent`.
pub fn classify_agent(event: &Map<String, Value>) -> &'static str {
    let messages = messages(event);
    match system_prompt(messages) {
        Some(Value::String(s)) if !s.is_empty() => AGENT_PREFIXES
            .iter()
            .find(|(prefix, _)| s.starts_with(prefix))
            .map_or("unknown", |(_, agent)| agent),
        Some(other) if truthy(&other) => "unknown",
        _ => {
            let user = first_user_message(messages);
            if user.contains("Classify the user message") {
                "classifier"
            } else if user.contains("complexity analyzer") {
                "complexity_analyzer"
            } else {
                "unknown"
            }
        }
    }
}

/// Dynamo's `messages_to_text`: every message's string content, and the string items and
/// truthy `text` of list contents, joined by newlines.
pub fn messages_text(event: &Map<String, Value>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for m in messages(event).iter().filter_map(Value::as_object) {
        match m.get("content") {
            Some(Value::String(s)) => parts.push(s.clone()),
            Some(Value::Array(items)) => {
                for item in items {
                    match item {
                        Value::Object(o) => {
                            if let Some(t) = o.get("text").filter(|t| truthy(t)) {
                                parts.push(py_str(t));
                            }
                        }
                        Value::String(s) => parts.push(s.clone()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    parts.join("\n")
}

/// Dynamo's `get_output_tokens`: `response_payload.usage.completion_tokens` as found, 0 when
/// absent or when the payload or its usage is not an object.
pub fn output_tokens(event: &Map<String, Value>) -> Value {
    event
        .get("response_payload")
        .and_then(Value::as_object)
        .map(|rp| rp.get("usage"))
        .map_or(Value::from(0), |usage| match usage {
            None => Value::from(0),
            Some(Value::Object(u)) => u.get("completion_tokens").cloned().unwrap_or(0.into()),
            Some(_) => Value::from(0),
        })
}

/// Dynamo's `convert_to_mooncake` on sorted events: one row per event, every text tokenized
/// and hashed with one hasher in order.
pub fn rows(events: &[Event], tok: &Tokenizer, block_size: usize) -> Result<Vec<Row>, Error> {
    super::check_block_size(block_size)?;
    let mut hasher = BlockHasher::default();
    events
        .iter()
        .map(|e| {
            let e = &e.fields;
            let tokens = tok.encode(&messages_text(e))?;
            Ok(Row {
                session_id: e.get("session_id").cloned().unwrap_or(Value::Null),
                agent_type: classify_agent(e),
                input_length: tokens.len(),
                output_length: output_tokens(e),
                hash_ids: hasher.hash(&tokens, block_size),
                priority: e
                    .get("latency_priority")
                    .cloned()
                    .unwrap_or_else(|| "MEDIUM".into()),
            })
        })
        .collect()
}

/// The rows of telemetry file `path` (read within `opts`' size limit) and a warning per line
/// skipped.
pub fn convert_file(
    path: &Path,
    tok: &Tokenizer,
    block_size: usize,
    skip_bad_lines: bool,
    opts: &crate::trace::LoadOptions,
) -> Result<(Vec<Row>, Vec<String>), Error> {
    let text = crate::fsio::read_text(path, opts.max_file_size)?;
    let (events, warnings) = read(path, &text, skip_bad_lines)?;
    Ok((rows(&events, tok, block_size)?, warnings))
}

/// The rows as Dynamo writes them: `json.dumps` of each, one per line.
pub fn to_jsonl(rows: &[Row]) -> String {
    let mut out = String::new();
    for r in rows {
        let row = serde_json::json!({
            "session_id": r.session_id,
            "agent_type": r.agent_type,
            "input_length": r.input_length,
            "output_length": r.output_length,
            "hash_ids": r.hash_ids,
            "priority": r.priority,
        });
        out.push_str(&crate::pyjson::dumps_line(&row));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn with_messages(messages: Value) -> Map<String, Value> {
        event(
            json!({"event_type": "llm_call", "session_id": "s", "timestamp": 1,
                     "request_payload": {"messages": messages}}),
        )
    }

    #[test]
    fn agent_type_by_system_prompt_prefix() {
        for (prompt, agent) in [
            ("You are a Deep Research agent. Plan.", "deep_coordinator"),
            (
                "Gather and synthesize comprehensive notes",
                "research_worker",
            ),
            ("For the given task, generate a plan", "research_planner"),
            ("Current date and time: 2026-01-01", "shallow_agent"),
            ("You are a helpful assistant", "unknown"),
        ] {
            let e = with_messages(json!([{"role": "system", "content": prompt},
                                          {"role": "user", "content": "Classify the user message"}]));
            assert_eq!(classify_agent(&e), agent, "{prompt}");
        }
    }

    #[test]
    fn a_list_system_prompt_uses_its_first_part_with_text() {
        let e = with_messages(json!([{"role": "system", "content": [
            {"type": "image"}, {"type": "text", "text": ""},
            {"type": "text", "text": "Current date and time: now"}]}]));
        assert_eq!(classify_agent(&e), "shallow_agent");
        // A list without text: no system prompt, so the user message decides.
        let e = with_messages(json!([{"role": "system", "content": [{"type": "image"}]},
                                      {"role": "system", "content": "You are a Deep Research agent"},
                                      {"role": "user", "content": "a complexity analyzer"}]));
        assert_eq!(classify_agent(&e), "complexity_analyzer");
    }

    #[test]
    fn without_a_system_prompt_the_first_user_message_decides() {
        let e =
            with_messages(json!([{"role": "user", "content": "Classify the user message: hi"}]));
        assert_eq!(classify_agent(&e), "classifier");
        let e = with_messages(json!([{"role": "system", "content": ""},
                                      {"role": "user", "content": "You are a complexity analyzer"}]));
        assert_eq!(classify_agent(&e), "complexity_analyzer");
        // A list content is searched as Python's str() of the list.
        let e = with_messages(json!([{"role": "user", "content": [
            {"type": "text", "text": "Classify the user message"}]}]));
        assert_eq!(classify_agent(&e), "classifier");
        // Content neither a string nor a list: the next user message.
        let e = with_messages(json!([{"role": "user", "content": 7},
                                      {"role": "user", "content": "Classify the user message"}]));
        assert_eq!(classify_agent(&e), "classifier");
        // Only the first user message with content counts.
        let e = with_messages(json!([{"role": "user", "content": "hello"},
                                      {"role": "user", "content": "Classify the user message"}]));
        assert_eq!(classify_agent(&e), "unknown");
        let e = event(json!({"event_type": "llm_call", "request_payload": "x"}));
        assert_eq!(classify_agent(&e), "unknown");
    }

    #[test]
    fn text_joins_every_message_content() {
        let e = with_messages(json!([
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, "b", {"type": "image"}, {"text": ""}]},
            {"role": "assistant", "content": null},
            {"role": "assistant"},
            {"role": "user", "content": ""},
            "not a message",
            {"role": "tool", "content": 5}
        ]));
        assert_eq!(messages_text(&e), "sys\na\nb\n");
        assert_eq!(
            messages_text(&event(json!({"request_payload": {"messages": null}}))),
            ""
        );
    }

    #[test]
    fn output_length_and_priority_as_found() {
        let e = event(json!({"response_payload": {"usage": {"completion_tokens": 33}}}));
        assert_eq!(output_tokens(&e), json!(33));
        for absent in [
            json!({}),
            json!({"response_payload": {"usage": null}}),
            json!({"response_payload": {}}),
            json!({"response_payload": [1]}),
        ] {
            assert_eq!(output_tokens(&event(absent)), json!(0));
        }
        let e = event(json!({"response_payload": {"usage": {"completion_tokens": null}}}));
        assert_eq!(output_tokens(&e), Value::Null);
    }

    #[test]
    fn only_llm_calls_sorted_by_session_then_time_stably() {
        let text = r#"{"event_type": "llm_call", "session_id": "b", "timestamp": 2, "n": 1}
{"event_type": "tool_call", "session_id": "a", "timestamp": 0}

{"event_type": "llm_call", "session_id": "a", "timestamp": 5.5, "n": 2}
{"event_type": "llm_call", "session_id": "a", "timestamp": 5, "n": 3}
{"event_type": "llm_call", "session_id": "b", "timestamp": 1, "n": 4}
{"event_type": "llm_call", "session_id": "a", "timestamp": 5, "n": 5}
"#;
        let (events, warnings) = read(Path::new("t.jsonl"), text, false).unwrap();
        let order: Vec<i64> = events
            .iter()
            .map(|e| e.fields["n"].as_i64().unwrap())
            .collect();
        assert_eq!(order, [3, 5, 2, 4, 1]);
        assert!(warnings.is_empty());
    }

    #[test]
    fn bad_lines_are_named_or_skipped() {
        let text = "{\"event_type\": \"llm_call\", \"session_id\": \"a\", \"timestamp\": 1}\nnot json\n[1]\n{\"event_type\": \"llm_call\", \"timestamp\": 1}\n";
        let err = read(Path::new("t.jsonl"), text, false)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.jsonl: line 2: not JSON"), "{err}");
        let (events, warnings) = read(Path::new("t.jsonl"), text, true).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(warnings.len(), 3);
        assert!(
            warnings[1].contains("line 3: not a JSON object: a list"),
            "{warnings:?}"
        );
        assert!(
            warnings[2].contains("line 4: an llm_call event without `session_id`"),
            "{warnings:?}"
        );
    }

    #[test]
    fn rows_share_one_hasher_and_are_written_as_json_dumps() {
        let text = r#"{"event_type": "llm_call", "session_id": "s1", "timestamp": 1, "latency_priority": "HIGH", "request_payload": {"messages": [{"role": "system", "content": "You are a Deep Research agent"}, {"role": "user", "content": "hello there"}]}, "response_payload": {"usage": {"completion_tokens": 33}}}
{"event_type": "llm_call", "session_id": "s1", "timestamp": 2, "request_payload": {"messages": [{"role": "system", "content": "You are a Deep Research agent"}, {"role": "user", "content": "hello there"}, {"role": "assistant", "content": "more"}]}}
{"event_type": "llm_call", "session_id": "s2", "timestamp": 0}
"#;
        let (events, _) = read(Path::new("t.jsonl"), text, false).unwrap();
        let tok = Tokenizer::cl100k();
        let r = rows(&events, &tok, 2).unwrap();
        assert_eq!(r.len(), 3);
        let n0 = tok
            .encode("You are a Deep Research agent\nhello there")
            .unwrap()
            .len();
        assert_eq!(r[0].input_length, n0);
        // The second prompt extends the first: its leading blocks are the first's.
        let whole = n0 / 2;
        assert_eq!(r[1].hash_ids[..whole], r[0].hash_ids[..whole]);
        assert_eq!(r[2].input_length, 0);
        assert!(r[2].hash_ids.is_empty());
        let out = to_jsonl(&r);
        let first = out.lines().next().unwrap();
        assert!(
            first.starts_with(
                r#"{"session_id": "s1", "agent_type": "deep_coordinator", "input_length": "#
            ),
            "{first}"
        );
        assert!(first.ends_with(r#"], "priority": "HIGH"}"#), "{first}");
        let last = out.lines().nth(2).unwrap();
        assert_eq!(
            last,
            r#"{"session_id": "s2", "agent_type": "unknown", "input_length": 0, "output_length": 0, "hash_ids": [], "priority": "MEDIUM"}"#
        );
    }
}
