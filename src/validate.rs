//! ATIF validation: the per-version schema rules of Harbor 0.25.0's reference models
//! (the ATIF RFC's reference implementation) plus the NeMo Flow "Export ATIF" checklist.
//!
//! Errors make a file invalid; warnings are reported and do not (unless the caller asks
//! for that). Every problem names its JSON path, e.g. `steps[3].tool_calls[0].arguments`.
//!
//! | rule | severity |
//! |---|---|
//! | JSON types, required fields, unknown fields (per version: a field added in a later version is unknown) | error |
//! | `schema_version` present and one of ATIF-v1.0 … v1.8 | error |
//! | `agent.name`, `agent.version` present | error |
//! | `steps` non-empty, `step_id` sequential from 1 | error |
//! | `timestamp` is accepted by Python 3.11's `datetime.fromisoformat` after `Z` → `+00:00` (Harbor's check) | error |
//! | agent-only fields (`model_name`, `reasoning_effort`, `reasoning_content`, `tool_calls`, `metrics`) only on agent steps | error |
//! | `llm_call_count == 0` with `metrics` or `reasoning_content` | error |
//! | observation `source_call_id` refers to a tool call of the same step | error |
//! | every tool call has an observation result in its step | warning (Harbor accepts such calls) |
//! | token counts, costs, `total_steps`, `llm_call_count` non-negative | error |
//! | content parts: `text` parts carry `text`, `image`/`audio` parts carry `source` | error |
//! | embedded subagents carry a unique `trajectory_id`; a subagent reference carries `trajectory_id` or `trajectory_path` | error |
//! | no LLM-backed agent step (an agent step with `metrics` or `model_name`) | warning |
//! | tool invocations recorded in `extra` but no `tool_calls` on the step | warning |
//! | strings that look like unsanitized secrets (API keys, bearer tokens) | warning |

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::trace::atif::{minor_version, KNOWN_VERSIONS};
use crate::trace::load::{read_bytes, LoadOptions};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is not valid ATIF.
    Error,
    /// Valid, but likely a mistake.
    Warning,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// How bad it is.
    pub severity: Severity,
    /// JSON path inside the file (`.` for the document).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The verdict on one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file.
    pub file: PathBuf,
    /// Trajectories it holds.
    pub trajectories: usize,
    /// The problems found.
    pub problems: Vec<Problem>,
}

impl FileReport {
    /// Errors found.
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }
    /// Warnings found.
    pub fn warnings(&self) -> usize {
        self.problems.len() - self.errors()
    }
    /// Whether no error was found.
    pub fn is_valid(&self) -> bool {
        self.errors() == 0
    }
}

/// Validate a file holding ATIF in any layout (one trajectory, a list, NAT eval's
/// `[{item_id, trajectory}]`, or JSONL). `Err` only when it cannot be read or parsed.
pub fn validate_file(path: &Path, opts: &LoadOptions) -> Result<FileReport> {
    let bytes = read_bytes(path, opts)?;
    validate_bytes(path, &bytes, opts)
}

/// [`validate_file`] of content already read; `path` names it in messages and the report.
pub fn validate_bytes(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<FileReport> {
    crate::trace::load::check_depth(path, bytes, opts)?;
    let docs = parse_documents(path, &clamp_big_integers(bytes))?;
    let mut problems = Vec::new();
    let mut trajectories = 0;
    for (prefix, doc) in &docs {
        trajectories += validate_document(doc, prefix, &mut problems);
    }
    Ok(FileReport {
        file: path.to_path_buf(),
        trajectories,
        problems,
    })
}

/// `bytes` with every integer literal outside the 64-bit range replaced by the nearest one
/// that fits (`u64::MAX`, `i64::MIN`). serde_json reads such integers as floats; Harbor
/// (Python) keeps them integers. Clamped, they stay integers of the same sign, which is all
/// the rules ask of them (type, sign, step sequence). Strings are left alone.
fn clamp_big_integers(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut done = 0; // bytes[..done] are in `out` already
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if c == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if c == b'-' || c.is_ascii_digit() {
            let start = i;
            while i < bytes.len()
                && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            {
                i += 1;
            }
            let tok = &bytes[start..i];
            let (neg, digits) = match tok.split_first() {
                Some((b'-', rest)) => (true, rest),
                _ => (false, tok),
            };
            let integer = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
            let fits = std::str::from_utf8(tok).is_ok_and(|t| {
                if neg {
                    t.parse::<i64>().is_ok()
                } else {
                    t.parse::<u64>().is_ok()
                }
            });
            if integer && !fits {
                let o = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
                o.extend_from_slice(&bytes[done..start]);
                let clamped = if neg {
                    i64::MIN.to_string()
                } else {
                    u64::MAX.to_string()
                };
                o.extend_from_slice(clamped.as_bytes());
                done = i;
            }
            continue;
        }
        i += 1;
    }
    match out {
        None => std::borrow::Cow::Borrowed(bytes),
        Some(mut o) => {
            o.extend_from_slice(&bytes[done..]);
            std::borrow::Cow::Owned(o)
        }
    }
}

/// The JSON documents of a file with their path prefix: one for JSON, one per line for JSONL.
fn parse_documents(path: &Path, bytes: &[u8]) -> Result<Vec<(String, Value)>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Format {
            path: path.to_path_buf(),
            message: "empty file".into(),
        });
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(vec![(String::new(), v)]),
        Err(e) if e.classify() == serde_json::error::Category::Syntax && e.line() > 1 => {
            // Maybe JSONL: every non-blank line a JSON object.
            let mut docs = Vec::new();
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Value>(line) {
                    Ok(v @ Value::Object(_)) => docs.push((format!("line {}: ", i + 1), v)),
                    _ => return Err(crate::trace::load::json_error(path, bytes, e, None)),
                }
            }
            Ok(docs)
        }
        Err(e) => Err(crate::trace::load::json_error(path, bytes, e, None)),
    }
}

/// Validate one JSON document; returns the number of trajectories it holds.
pub fn validate_document(doc: &Value, prefix: &str, problems: &mut Vec<Problem>) -> usize {
    match doc {
        Value::Array(items) => {
            if items.is_empty() {
                push(
                    problems,
                    Severity::Error,
                    prefix,
                    "",
                    "empty list: no trajectory",
                );
            }
            for (i, item) in items.iter().enumerate() {
                let p = format!("[{i}]");
                match item {
                    Value::Object(m)
                        if m.contains_key("trajectory") && !m.contains_key("steps") =>
                    {
                        validate_trajectory(
                            &m["trajectory"],
                            &join(prefix, &format!("{p}.trajectory")),
                            false,
                            problems,
                        );
                    }
                    _ => validate_trajectory(item, &join(prefix, &p), false, problems),
                }
            }
            items.len()
        }
        other => {
            validate_trajectory(other, prefix, false, problems);
            1
        }
    }
}

fn join(prefix: &str, path: &str) -> String {
    format!("{prefix}{path}")
}

fn push(
    problems: &mut Vec<Problem>,
    severity: Severity,
    base: &str,
    field: &str,
    message: impl Into<String>,
) {
    problems.push(Problem {
        severity,
        path: field_path(base, field),
        message: message.into(),
    });
}

fn field_path(base: &str, field: &str) -> String {
    match (base.is_empty() || base.ends_with(": "), field.is_empty()) {
        (true, true) => format!("{base}."),
        (true, false) => format!("{base}{field}"),
        (false, true) => base.to_string(),
        (false, false) => format!("{base}.{field}"),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ty {
    Str,
    Int,
    NonNegInt,
    NonNegNum,
    Bool,
    Obj,
    Arr,
    /// An array of integers (Harbor: `list[int]`).
    ArrInt,
    /// An array of numbers (`list[float]`, which takes integers too).
    ArrNum,
    /// An array of objects (`list[dict]`).
    ArrObj,
    StrOrNum,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Str => "a string",
            Ty::Int => "an integer",
            Ty::NonNegInt => "a non-negative integer",
            Ty::NonNegNum => "a non-negative number",
            Ty::Bool => "a boolean",
            Ty::Obj => "an object",
            Ty::Arr => "an array",
            Ty::ArrInt => "an array of integers",
            Ty::ArrNum => "an array of numbers",
            Ty::ArrObj => "an array of objects",
            Ty::StrOrNum => "a string or a number",
        }
    }
    fn accepts(self, v: &Value) -> bool {
        match self {
            Ty::Str => v.is_string(),
            Ty::Int => v.is_i64() || v.is_u64(),
            Ty::NonNegInt => v.is_u64(),
            Ty::NonNegNum => v.as_f64().is_some_and(|f| f >= 0.0),
            Ty::Bool => v.is_boolean(),
            Ty::Obj => v.is_object(),
            Ty::Arr => v.is_array(),
            Ty::ArrInt => all_of(v, |e| e.is_i64() || e.is_u64()),
            Ty::ArrNum => all_of(v, Value::is_number),
            Ty::ArrObj => all_of(v, Value::is_object),
            Ty::StrOrNum => v.is_string() || v.is_number(),
        }
    }
}

/// Whether `v` is an array whose elements all satisfy `elem`.
fn all_of(v: &Value, elem: impl Fn(&Value) -> bool) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(elem))
}

/// A field of an ATIF object: name, type, required, first version (minor) that has it.
struct Field(&'static str, Ty, bool, u32);

const TRAJECTORY: &[Field] = &[
    Field("schema_version", Ty::Str, true, 0),
    Field("session_id", Ty::Str, false, 0),
    Field("trajectory_id", Ty::Str, false, 7),
    Field("agent", Ty::Obj, true, 0),
    Field("steps", Ty::Arr, true, 0),
    Field("notes", Ty::Str, false, 0),
    Field("final_metrics", Ty::Obj, false, 0),
    Field("continued_trajectory_ref", Ty::Str, false, 0),
    Field("extra", Ty::Obj, false, 0),
    Field("subagent_trajectories", Ty::Arr, false, 7),
];
const AGENT: &[Field] = &[
    Field("name", Ty::Str, true, 0),
    Field("version", Ty::Str, true, 0),
    Field("model_name", Ty::Str, false, 0),
    Field("tool_definitions", Ty::ArrObj, false, 0),
    Field("extra", Ty::Obj, false, 0),
];
const STEP: &[Field] = &[
    Field("step_id", Ty::Int, true, 0),
    Field("timestamp", Ty::Str, false, 0),
    Field("source", Ty::Str, true, 0),
    Field("model_name", Ty::Str, false, 0),
    Field("reasoning_effort", Ty::StrOrNum, false, 0),
    Field("message", Ty::Str, true, 0), // or content parts from v1.6, checked separately
    Field("reasoning_content", Ty::Str, false, 0),
    Field("tool_calls", Ty::Arr, false, 0),
    Field("observation", Ty::Obj, false, 0),
    Field("metrics", Ty::Obj, false, 0),
    Field("is_copied_context", Ty::Bool, false, 5),
    Field("llm_call_count", Ty::NonNegInt, false, 7),
    Field("extra", Ty::Obj, false, 0),
];
const TOOL_CALL: &[Field] = &[
    Field("tool_call_id", Ty::Str, true, 0),
    Field("function_name", Ty::Str, true, 0),
    Field("arguments", Ty::Obj, true, 0),
    Field("extra", Ty::Obj, false, 7),
];
const OBSERVATION: &[Field] = &[Field("results", Ty::Arr, true, 0)];
const OBSERVATION_RESULT: &[Field] = &[
    Field("source_call_id", Ty::Str, false, 0),
    Field("content", Ty::Str, false, 0), // or content parts from v1.6
    Field("subagent_trajectory_ref", Ty::Arr, false, 0),
    Field("extra", Ty::Obj, false, 7),
];
const SUBAGENT_REF: &[Field] = &[
    Field("trajectory_id", Ty::Str, false, 7),
    Field("session_id", Ty::Str, false, 0),
    Field("trajectory_path", Ty::Str, false, 0),
    Field("extra", Ty::Obj, false, 0),
];
const METRICS: &[Field] = &[
    Field("prompt_tokens", Ty::NonNegInt, false, 0),
    Field("completion_tokens", Ty::NonNegInt, false, 0),
    Field("cached_tokens", Ty::NonNegInt, false, 0),
    Field("cost_usd", Ty::NonNegNum, false, 0),
    Field("prompt_token_ids", Ty::ArrInt, false, 0),
    Field("completion_token_ids", Ty::ArrInt, false, 0),
    Field("logprobs", Ty::ArrNum, false, 0),
    Field("extra", Ty::Obj, false, 0),
];
const FINAL_METRICS: &[Field] = &[
    Field("total_prompt_tokens", Ty::NonNegInt, false, 0),
    Field("total_completion_tokens", Ty::NonNegInt, false, 0),
    Field("total_cached_tokens", Ty::NonNegInt, false, 0),
    Field("total_cost_usd", Ty::NonNegNum, false, 0),
    Field("total_steps", Ty::NonNegInt, false, 0),
    Field("extra", Ty::Obj, false, 0),
];
const CONTENT_PART: &[Field] = &[
    Field("type", Ty::Str, true, 6),
    Field("text", Ty::Str, false, 6),
    Field("source", Ty::Obj, false, 6),
];
const MEDIA_SOURCE: &[Field] = &[
    Field("media_type", Ty::Str, true, 6),
    Field("path", Ty::Str, true, 6),
    Field("duration_sec", Ty::NonNegNum, false, 8),
];

/// Fields whose values may be content parts (v1.6+) instead of a string.
const MULTIMODAL: &[&str] = &["message", "content"];

/// Check one object against its field table; returns the object when it is one.
///
/// Kept in one piece: Harbor's per-field checks in the order its pydantic models apply them
/// (presence, version, type, then the multimodal and nested cases), so the problems come in
/// Harbor's order.
fn check_object<'v>(
    v: &'v Value,
    path: &str,
    what: &str,
    fields: &[Field],
    minor: u32,
    problems: &mut Vec<Problem>,
) -> Option<&'v Map<String, Value>> {
    let Some(obj) = v.as_object() else {
        push(
            problems,
            Severity::Error,
            path,
            "",
            format!("{what} must be an object, found {}", type_name(v)),
        );
        return None;
    };
    for f in fields {
        let Field(name, ty, required, since) = *f;
        match obj.get(name) {
            None | Some(Value::Null) if required && since <= minor => {
                let found = if obj.contains_key(name) {
                    " (found null)"
                } else {
                    ""
                };
                push(
                    problems,
                    Severity::Error,
                    path,
                    name,
                    format!("missing required field `{name}` of {what}{found}"),
                );
            }
            None | Some(Value::Null) => {}
            Some(val) => {
                if since > minor {
                    push(
                        problems,
                        Severity::Error,
                        path,
                        name,
                        format!(
                            "unexpected field `{name}`: not part of {} (added in {})",
                            KNOWN_VERSIONS[minor as usize], KNOWN_VERSIONS[since as usize]
                        ),
                    );
                    continue;
                }
                let multimodal = MULTIMODAL.contains(&name) && minor >= 6 && val.is_array();
                if !multimodal && !ty.accepts(val) {
                    let hint = if MULTIMODAL.contains(&name) && val.is_array() {
                        " (content parts need ATIF-v1.6 or later)"
                    } else {
                        ""
                    };
                    push(
                        problems,
                        Severity::Error,
                        path,
                        name,
                        format!(
                            "`{name}` must be {}, found {} {}{hint}",
                            ty.name(),
                            type_name(val),
                            short(val)
                        ),
                    );
                }
            }
        }
    }
    for key in obj.keys() {
        if !fields.iter().any(|f| f.0 == key) {
            push(
                problems,
                Severity::Error,
                path,
                key,
                format!("unexpected field `{key}` (not part of the ATIF schema for {what})"),
            );
        }
    }
    Some(obj)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

fn idx(base: &str, field: &str, i: usize) -> String {
    format!("{}[{i}]", field_path(base, field))
}

/// The minor version of `v`'s `schema_version` (the latest when it is missing, mistyped or
/// unknown; those are reported).
fn schema_minor(v: &Value, path: &str, problems: &mut Vec<Problem>) -> u32 {
    let version = v.get("schema_version");
    match version {
        Some(Value::String(s)) => match minor_version(s) {
            Some(m) => m,
            None => {
                push(
                    problems,
                    Severity::Error,
                    path,
                    "schema_version",
                    format!(
                        "unknown schema_version {s:?} (known: {})",
                        KNOWN_VERSIONS.join(", ")
                    ),
                );
                (KNOWN_VERSIONS.len() - 1) as u32
            }
        },
        // Reported by check_object (missing or wrong type); validate as the latest version.
        _ => (KNOWN_VERSIONS.len() - 1) as u32,
    }
}

/// Validate one trajectory value at `path`.
///
/// Kept in one piece: Harbor's trajectory-level checks in its order (see [`check_object`]).
pub(crate) fn validate_trajectory(
    v: &Value,
    path: &str,
    embedded: bool,
    problems: &mut Vec<Problem>,
) {
    if let Some(m) = v.as_object() {
        if !["schema_version", "agent", "steps"]
            .iter()
            .any(|k| m.contains_key(*k))
        {
            let keys: Vec<&str> = m.keys().take(6).map(String::as_str).collect();
            push(
                problems,
                Severity::Error,
                path,
                "",
                format!("not an ATIF trajectory: an object with keys {keys:?} and none of schema_version, agent, steps"),
            );
            return;
        }
    }
    // Version first: it decides which fields exist.
    let minor = schema_minor(v, path, problems);
    let Some(obj) = check_object(v, path, "trajectory", TRAJECTORY, minor, problems) else {
        return;
    };
    if minor <= 6 && obj.get("session_id").is_none_or(Value::is_null) && !embedded {
        push(
            problems,
            Severity::Error,
            path,
            "session_id",
            format!(
                "missing required field `session_id` (optional only from ATIF-v1.7; this is {})",
                KNOWN_VERSIONS[minor as usize]
            ),
        );
    }
    if let Some(agent) = obj.get("agent").filter(|a| a.is_object()) {
        check_object(
            agent,
            &field_path(path, "agent"),
            "agent",
            AGENT,
            minor,
            problems,
        );
    }
    if let Some(fm) = obj.get("final_metrics").filter(|a| a.is_object()) {
        check_object(
            fm,
            &field_path(path, "final_metrics"),
            "final_metrics",
            FINAL_METRICS,
            minor,
            problems,
        );
    }
    let steps = obj.get("steps").and_then(Value::as_array);
    if let Some(steps) = steps {
        if steps.is_empty() {
            push(
                problems,
                Severity::Error,
                path,
                "steps",
                "`steps` must hold at least one step",
            );
        }
        let agent_model = obj
            .get("agent")
            .and_then(|a| a.get("model_name"))
            .is_some_and(Value::is_string);
        validate_steps(steps, path, minor, agent_model, problems);
    }
    if let Some(subs) = obj.get("subagent_trajectories").and_then(Value::as_array) {
        validate_subagents(subs, path, problems);
    }
    if !embedded {
        check_secrets(v, path, problems);
    }
}

/// Embedded subagent trajectories: each carries a unique `trajectory_id` and is itself a
/// valid trajectory.
fn validate_subagents(subs: &[Value], path: &str, problems: &mut Vec<Problem>) {
    let mut seen = HashSet::new();
    for (i, sub) in subs.iter().enumerate() {
        let p = idx(path, "subagent_trajectories", i);
        match sub.get("trajectory_id") {
            Some(Value::String(id)) => {
                if !seen.insert(id.clone()) {
                    push(
                        problems,
                        Severity::Error,
                        &p,
                        "trajectory_id",
                        format!("duplicate subagent trajectory_id {id:?}"),
                    );
                }
            }
            _ => push(
                problems,
                Severity::Error,
                &p,
                "trajectory_id",
                "an embedded subagent must set `trajectory_id`",
            ),
        }
        validate_trajectory(sub, &p, true, problems);
    }
}

/// `agent_model`: the trajectory's agent names a model, which its agent steps inherit.
fn validate_steps(
    steps: &[Value],
    path: &str,
    minor: u32,
    agent_model: bool,
    problems: &mut Vec<Problem>,
) {
    let mut any_llm = false;
    // tool_call_id -> path of calls still waiting for an observation result.
    let mut open_calls: Vec<(String, String)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let sp = idx(path, "steps", i);
        let Some(s) = check_object(step, &sp, "step", STEP, minor, problems) else {
            continue;
        };
        let source = check_step_fields(s, i, &sp, problems);
        any_llm |= source == Some("agent")
            && (agent_model
                || s.get("metrics").is_some_and(Value::is_object)
                || s.get("model_name").is_some_and(Value::is_string));
        check_step_content(s, &sp, minor, problems);
        let call_ids = check_tool_calls(s, &sp, minor, &mut open_calls, problems);
        check_observation(s, &sp, minor, &call_ids, &mut open_calls, problems);
    }
    // Harbor accepts these (a command with no output, such as `sleep 3`): a warning.
    for (id, cp) in open_calls {
        push(
            problems,
            Severity::Warning,
            &cp,
            "",
            format!("tool call {id:?} has no observation result in its step"),
        );
    }
    if !steps.is_empty() && !any_llm {
        push(
            problems,
            Severity::Warning,
            path,
            "steps",
            "no LLM-backed agent step (an agent step with `metrics` or `model_name`, or any agent step when `agent.model_name` is set)",
        );
    }
}

/// A step's own fields: `step_id` in sequence, `timestamp`, `source` and the fields only
/// agent steps may have, `llm_call_count`. Returns the step's source.
fn check_step_fields<'s>(
    s: &'s Map<String, Value>,
    i: usize,
    sp: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'s str> {
    if let Some(Value::Number(id)) = s.get("step_id").filter(|v| v.is_i64() || v.is_u64()) {
        if id.as_u64() != Some(i as u64 + 1) {
            push(
                problems,
                Severity::Error,
                sp,
                "step_id",
                format!("expected step_id {} (sequential from 1), got {id}", i + 1),
            );
        }
    }
    if let Some(Value::String(ts)) = s.get("timestamp") {
        // Harbor: `datetime.fromisoformat(v.replace("Z", "+00:00"))` (Python 3.11).
        if !crate::pyfmt::fromisoformat_accepts(&ts.replace('Z', "+00:00")) {
            push(
                problems,
                Severity::Error,
                sp,
                "timestamp",
                format!("not an ISO 8601 timestamp (Python's datetime.fromisoformat refuses it): {ts:?}"),
            );
        }
    }
    let source = s.get("source").and_then(Value::as_str);
    if let Some(src) = source {
        if !matches!(src, "system" | "user" | "agent") {
            push(
                problems,
                Severity::Error,
                sp,
                "source",
                format!("`source` must be one of system, user, agent; found {src:?}"),
            );
        } else if src != "agent" {
            for f in [
                "model_name",
                "reasoning_effort",
                "reasoning_content",
                "tool_calls",
                "metrics",
            ] {
                if s.get(f).is_some_and(|v| !v.is_null()) {
                    push(
                        problems,
                        Severity::Error,
                        sp,
                        f,
                        format!("`{f}` is only allowed on agent steps (source is {src:?})"),
                    );
                }
            }
        }
    }
    if s.get("llm_call_count").and_then(Value::as_u64) == Some(0) {
        for f in ["metrics", "reasoning_content"] {
            if s.get(f).is_some_and(|v| !v.is_null()) {
                push(
                    problems,
                    Severity::Error,
                    sp,
                    f,
                    format!("`{f}` is not allowed when llm_call_count is 0"),
                );
            }
        }
    }
    source
}

/// A step's message content parts (v1.6+) and metrics.
fn check_step_content(s: &Map<String, Value>, sp: &str, minor: u32, problems: &mut Vec<Problem>) {
    if let Some(parts) = s.get("message").and_then(Value::as_array) {
        if minor >= 6 {
            check_parts(parts, &field_path(sp, "message"), minor, problems);
        }
    }
    if let Some(m) = s.get("metrics").filter(|m| m.is_object()) {
        check_object(
            m,
            &field_path(sp, "metrics"),
            "metrics",
            METRICS,
            minor,
            problems,
        );
    }
}

/// A step's tool calls: each checked and recorded as waiting for its observation result.
/// Returns the step's call ids.
fn check_tool_calls(
    s: &Map<String, Value>,
    sp: &str,
    minor: u32,
    open_calls: &mut Vec<(String, String)>,
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let mut call_ids = Vec::new();
    if let Some(calls) = s.get("tool_calls").and_then(Value::as_array) {
        for (j, c) in calls.iter().enumerate() {
            let cp = idx(sp, "tool_calls", j);
            if let Some(c) = check_object(c, &cp, "tool call", TOOL_CALL, minor, problems) {
                if let Some(id) = c.get("tool_call_id").and_then(Value::as_str) {
                    call_ids.push(id.to_string());
                    open_calls.push((id.to_string(), cp));
                }
            }
        }
    }
    let extra_invocations = s
        .get("extra")
        .and_then(|e| e.get("tool_invocations"))
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if extra_invocations && call_ids.is_empty() {
        push(
            problems,
            Severity::Warning,
            sp,
            "tool_calls",
            "extra.tool_invocations records tool runs but the step has no tool_calls",
        );
    }
    call_ids
}

/// A step's observation: each result refers to a tool call of the step (closing it), its
/// content parts, and its subagent references.
///
/// Kept in one piece: Harbor's observation checks in its order (see [`check_object`]).
fn check_observation(
    s: &Map<String, Value>,
    sp: &str,
    minor: u32,
    call_ids: &[String],
    open_calls: &mut Vec<(String, String)>,
    problems: &mut Vec<Problem>,
) {
    if let Some(o) = s.get("observation").filter(|o| !o.is_null()) {
        let op = field_path(sp, "observation");
        if let Some(o) = check_object(o, &op, "observation", OBSERVATION, minor, problems) {
            for (j, r) in o
                .get("results")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let rp = idx(&op, "results", j);
                let Some(r) = check_object(
                    r,
                    &rp,
                    "observation result",
                    OBSERVATION_RESULT,
                    minor,
                    problems,
                ) else {
                    continue;
                };
                if let Some(id) = r.get("source_call_id").and_then(Value::as_str) {
                    if !call_ids.iter().any(|c| c == id) {
                        push(
                            problems,
                            Severity::Error,
                            &rp,
                            "source_call_id",
                            format!("source_call_id {id:?} refers to no tool call of this step"),
                        );
                    }
                    open_calls.retain(|(c, _)| c != id);
                }
                if let Some(parts) = r.get("content").and_then(Value::as_array) {
                    if minor >= 6 {
                        check_parts(parts, &field_path(&rp, "content"), minor, problems);
                    }
                }
                for (k, sr) in r
                    .get("subagent_trajectory_ref")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let srp = idx(&rp, "subagent_trajectory_ref", k);
                    if let Some(sr) = check_object(
                        sr,
                        &srp,
                        "subagent trajectory reference",
                        SUBAGENT_REF,
                        minor,
                        problems,
                    ) {
                        // Harbor: a reference resolves by `trajectory_id` (embedded, from
                        // v1.7) or `trajectory_path` (a file); `session_id` is informational.
                        let has = |k: &str| sr.get(k).is_some_and(Value::is_string);
                        if !has("trajectory_id") && !has("trajectory_path") {
                            let need = if minor >= 7 {
                                "`trajectory_id` or `trajectory_path`"
                            } else {
                                "`trajectory_path` (`trajectory_id` exists from ATIF-v1.7)"
                            };
                            push(
                                problems,
                                Severity::Error,
                                &srp,
                                "",
                                format!("a subagent reference needs {need}: `session_id` alone does not resolve"),
                            );
                        }
                    }
                }
            }
        }
    }
}

fn check_parts(parts: &[Value], path: &str, minor: u32, problems: &mut Vec<Problem>) {
    for (i, part) in parts.iter().enumerate() {
        let pp = format!("{path}[{i}]");
        let Some(p) = check_object(part, &pp, "content part", CONTENT_PART, minor, problems) else {
            continue;
        };
        match p.get("type").and_then(Value::as_str) {
            Some("text") => {
                if !p.get("text").is_some_and(Value::is_string) {
                    push(
                        problems,
                        Severity::Error,
                        &pp,
                        "text",
                        "a text content part needs `text`",
                    );
                }
                if p.get("source").is_some_and(|s| !s.is_null()) {
                    push(
                        problems,
                        Severity::Error,
                        &pp,
                        "source",
                        "`source` is not allowed on a text content part",
                    );
                }
            }
            Some(t @ ("image" | "audio")) => {
                if t == "audio" && minor < 8 {
                    push(
                        problems,
                        Severity::Error,
                        &pp,
                        "type",
                        "audio content parts need ATIF-v1.8",
                    );
                }
                if p.get("text").is_some_and(|s| !s.is_null()) {
                    push(
                        problems,
                        Severity::Error,
                        &pp,
                        "text",
                        format!("`text` is not allowed on an {t} content part"),
                    );
                }
                match p.get("source") {
                    Some(src @ Value::Object(_)) => {
                        check_media_source(src, t, &pp, minor, problems)
                    }
                    _ => push(
                        problems,
                        Severity::Error,
                        &pp,
                        "source",
                        format!("an {t} content part needs `source`"),
                    ),
                }
            }
            Some(other) => push(
                problems,
                Severity::Error,
                &pp,
                "type",
                format!("unknown content part type {other:?}"),
            ),
            None => {}
        }
    }
}

/// The `source` of an image or audio content part (`t`) at `pp`: its fields, and a media type
/// of its kind (audio ones normalised as Harbor does, image ones exact).
fn check_media_source(src: &Value, t: &str, pp: &str, minor: u32, problems: &mut Vec<Problem>) {
    let sp = field_path(pp, "source");
    check_object(src, &sp, "media source", MEDIA_SOURCE, minor, problems);
    if let Some(mt) = src.get("media_type").and_then(Value::as_str) {
        // Harbor normalises audio media types (case, spaces, aliases),
        // never image ones.
        let mt = if t == "image" {
            mt.to_string()
        } else {
            mt.trim().to_ascii_lowercase()
        };
        let ok = if t == "image" {
            IMAGE_TYPES.contains(&mt.as_str())
        } else {
            AUDIO_TYPES.contains(&mt.as_str()) || AUDIO_ALIASES.contains(&mt.as_str())
        };
        if !ok {
            push(
                problems,
                Severity::Error,
                &sp,
                "media_type",
                format!("media_type {mt:?} is not a supported {t} type"),
            );
        }
    }
    if t == "image" && src.get("duration_sec").is_some() {
        push(
            problems,
            Severity::Error,
            &sp,
            "duration_sec",
            "`duration_sec` is only for audio sources",
        );
    }
}

const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];
const AUDIO_TYPES: &[&str] = &[
    "audio/wav",
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/ogg",
    "audio/flac",
    "audio/webm",
    "audio/aiff",
];
/// Spellings Harbor normalises to a registered audio type.
const AUDIO_ALIASES: &[&str] = &[
    "audio/mp3",
    "audio/mpga",
    "audio/x-mpeg",
    "audio/x-wav",
    "audio/wave",
    "audio/vnd.wave",
    "audio/x-m4a",
    "audio/m4a",
    "audio/x-aac",
    "audio/x-flac",
    "audio/x-aiff",
];

fn secret_patterns() -> &'static [(Regex, &'static str)] {
    static P: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    P.get_or_init(|| {
        [
            (
                r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}",
                "an OpenAI/Anthropic-style API key",
            ),
            (r"\bnvapi-[A-Za-z0-9_\-]{20,}", "an NVIDIA API key"),
            (r"\bAKIA[0-9A-Z]{16}\b", "an AWS access key id"),
            (r"\bgh[pousr]_[A-Za-z0-9]{30,}", "a GitHub token"),
            (r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", "a Slack token"),
            (r"(?i)\bbearer\s+[A-Za-z0-9_\-\.=]{20,}", "a bearer token"),
            (r"-----BEGIN [A-Z ]*PRIVATE KEY-----", "a private key"),
        ]
        .into_iter()
        .map(|(re, what)| (Regex::new(re).expect("valid secret pattern"), what))
        .collect()
    })
}

/// Keys whose non-empty string values are credentials unless visibly redacted.
fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    [
        "api_key",
        "apikey",
        "api-key",
        "secret",
        "password",
        "passwd",
        "access_token",
        "auth_token",
        "authorization",
    ]
    .iter()
    .any(|s| k.contains(s))
}

fn looks_redacted(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    s.is_empty()
        || l.contains("redacted")
        || l.contains("***")
        || s.chars().all(|c| c == '*' || c == 'x' || c == 'X')
}

fn check_secrets(v: &Value, path: &str, problems: &mut Vec<Problem>) {
    fn walk(v: &Value, path: String, key: Option<&str>, problems: &mut Vec<Problem>) {
        match v {
            Value::String(s) => {
                if key.is_some_and(is_secret_key) && !looks_redacted(s) {
                    push(
                        problems,
                        Severity::Warning,
                        &path,
                        "",
                        "value of a credential-like field is not redacted",
                    );
                    return;
                }
                for (re, what) in secret_patterns() {
                    if re.is_match(s) {
                        push(
                            problems,
                            Severity::Warning,
                            &path,
                            "",
                            format!("looks like {what}: unsanitized secret?"),
                        );
                        return;
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{path}[{i}]"), None, problems);
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    walk(x, field_path(&path, k), Some(k), problems);
                }
            }
            _ => {}
        }
    }
    walk(v, path.to_string(), None, problems);
}

/// The validator's field tables against the typed ATIF model that the loader, the converter
/// and the builders use ([`crate::trace::atif`]): the same fields, of types the table accepts.
/// Each model type is written out with every field set (a struct literal, so a field added
/// to the model fails to compile here until the table is checked), then serialised.
#[cfg(test)]
mod model {
    use super::*;
    use crate::trace::atif::*;

    fn map() -> Option<Map<String, Value>> {
        Some(Map::new())
    }

    fn metrics() -> Metrics {
        Metrics {
            prompt_tokens: Some(1),
            completion_tokens: Some(1),
            cached_tokens: Some(0),
            cost_usd: Some(0.5),
            prompt_token_ids: Some(vec![1.into()]),
            completion_token_ids: Some(vec![1.into()]),
            logprobs: Some(vec![(-0.5).into()]),
            extra: map(),
            unknown: Map::new(),
        }
    }

    fn step() -> Step {
        Step {
            step_id: 1,
            timestamp: Some("2026-01-01T00:00:00Z".into()),
            source: "agent".into(),
            model_name: Some("m".into()),
            reasoning_effort: Some("low".into()),
            message: Message::Text("hi".into()),
            reasoning_content: Some("r".into()),
            tool_calls: Some(vec![tool_call()]),
            observation: Some(observation()),
            metrics: Some(metrics()),
            is_copied_context: Some(false),
            extra: map(),
            llm_call_count: Some(1),
            unknown: Map::new(),
        }
    }

    fn tool_call() -> ToolCall {
        ToolCall {
            tool_call_id: "c".into(),
            function_name: "f".into(),
            arguments: serde_json::json!({}),
            extra: map(),
            unknown: Map::new(),
        }
    }

    fn observation() -> Observation {
        Observation {
            results: vec![result()],
            unknown: Map::new(),
        }
    }

    fn result() -> ObservationResult {
        ObservationResult {
            source_call_id: Some("c".into()),
            content: Some(Message::Text("out".into())),
            subagent_trajectory_ref: Some(vec![]),
            extra: map(),
            unknown: Map::new(),
        }
    }

    fn trajectory() -> Trajectory {
        Trajectory {
            schema_version: "ATIF-v1.7".into(),
            session_id: Some("s".into()),
            trajectory_id: Some("t".into()),
            agent: Agent {
                name: "a".into(),
                version: "1".into(),
                model_name: Some("m".into()),
                tool_definitions: Some(vec![serde_json::json!({})]),
                extra: map(),
                unknown: Map::new(),
            },
            steps: vec![step()],
            notes: Some("n".into()),
            final_metrics: Some(FinalMetrics {
                total_prompt_tokens: Some(1),
                total_completion_tokens: Some(1),
                total_cached_tokens: Some(0),
                total_cost_usd: Some(0.5),
                total_steps: Some(1),
                extra: map(),
                unknown: Map::new(),
            }),
            continued_trajectory_ref: Some("r".into()),
            extra: map(),
            subagent_trajectories: Some(vec![]),
            unknown: Map::new(),
        }
    }

    /// The table's fields are the object's keys, each value of the table's type.
    fn same(what: &str, table: &[Field], v: &Value) {
        let obj = v.as_object().expect("an object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut fields: Vec<&str> = table.iter().map(|f| f.0).collect();
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(
            keys, fields,
            "{what}: the model's fields against the table's"
        );
        for f in table {
            let multimodal = MULTIMODAL.contains(&f.0);
            assert!(
                f.1.accepts(&obj[f.0]) || multimodal,
                "{what}.{}: the model writes {}, the table wants {}",
                f.0,
                obj[f.0],
                f.1.name()
            );
        }
    }

    #[test]
    fn the_tables_are_the_typed_models_fields() {
        let t = serde_json::to_value(trajectory()).unwrap();
        same("trajectory", TRAJECTORY, &t);
        same("agent", AGENT, &t["agent"]);
        same("final_metrics", FINAL_METRICS, &t["final_metrics"]);
        let s = &t["steps"][0];
        same("step", STEP, s);
        same("tool_call", TOOL_CALL, &s["tool_calls"][0]);
        same("observation", OBSERVATION, &s["observation"]);
        same(
            "observation result",
            OBSERVATION_RESULT,
            &s["observation"]["results"][0],
        );
        same("metrics", METRICS, &s["metrics"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(v: Value) -> Vec<Problem> {
        let mut p = Vec::new();
        validate_document(&v, "", &mut p);
        p
    }

    fn minimal() -> Value {
        json!({"schema_version": "ATIF-v1.7", "session_id": "s", "agent": {"name": "a", "version": "1"},
               "steps": [{"step_id": 1, "source": "user", "message": "hi"},
                         {"step_id": 2, "source": "agent", "message": "yo", "model_name": "m"}]})
    }

    #[test]
    fn minimal_trajectory_is_clean() {
        assert_eq!(problems(minimal()), vec![]);
    }

    #[test]
    fn version_gates_fields() {
        let mut t = minimal();
        t["schema_version"] = json!("ATIF-v1.4");
        t["steps"][1]["llm_call_count"] = json!(1);
        let p = problems(t);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].path, "steps[1].llm_call_count");
        assert!(p[0].message.contains("added in ATIF-v1.7"));
    }

    #[test]
    fn secrets_are_warnings() {
        let mut t = minimal();
        t["steps"][0]["message"] = json!("my key is sk-abcdefghijklmnopqrstuvwx");
        let p = problems(t);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].severity, Severity::Warning);
        assert_eq!(p[0].path, "steps[0].message");
    }
}
