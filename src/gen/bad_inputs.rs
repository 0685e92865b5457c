//! The bad-input corpus (`tests/bad_inputs/`): malformed and hostile inputs made by
//! mutating small valid IST, ATIF and ATOF documents. `cargo xtask gen-bad-inputs`
//! writes them; `tests/bad_inputs_corpus.rs` checks every one loads to a clear error (or
//! is handled as documented) and never panics anywhere in the pipeline.
//!
//! Deterministic: the same cases, byte for byte, on every run.

use serde_json::{json, Value};

/// An edit of a base document.
type Mutation = Box<dyn Fn(&mut Value)>;

/// One generated case: file name and bytes.
pub struct Case {
    /// The case's file name (its kind of damage).
    pub name: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

fn step(et: &str, ts: f64, uuid: &str, name: &str) -> Value {
    json!({
        "parent_id": "root",
        "function_ancestry": {"function_id": "f1", "function_name": "agent", "parent_id": "root", "parent_name": "root"},
        "payload": {
            "event_type": et, "event_timestamp": ts, "span_event_timestamp": if et.ends_with("_END") { json!(ts - 0.5) } else { Value::Null },
            "framework": "langchain", "name": name, "tags": null, "metadata": null,
            "data": {"input": "What is 2+2?", "output": "4", "chunk": null, "payload": null},
            "usage_info": {"token_usage": {"prompt_tokens": 10, "completion_tokens": 2, "cached_tokens": 4, "reasoning_tokens": 0, "total_tokens": 12},
                           "num_llm_calls": 1, "seconds_between_calls": 0},
            "UUID": uuid
        }
    })
}

/// A small valid IST trace: one request with a workflow, an LLM call and a tool call.
pub fn base_ist() -> Value {
    json!([{"request_number": 0, "intermediate_steps": [
        step("WORKFLOW_START", 1767225600.0, "w", "wf"),
        step("LLM_START", 1767225600.5, "l1", "m"),
        step("LLM_END", 1767225601.0, "l1", "m"),
        step("TOOL_START", 1767225601.25, "t1", "calc"),
        step("TOOL_END", 1767225601.5, "t1", "calc"),
        step("WORKFLOW_END", 1767225602.0, "w", "wf"),
    ]}])
}

/// A small valid ATIF trajectory.
pub(crate) fn base_atif() -> Value {
    json!({
        "schema_version": "ATIF-v1.7", "session_id": "s", "agent": {"name": "a", "version": "1"},
        "steps": [
            {"step_id": 1, "source": "user", "message": "hi", "timestamp": "2026-01-01T00:00:00Z",
             "extra": {"ancestry": {"function_id": "root", "function_name": "root"}}},
            {"step_id": 2, "source": "agent", "message": "x", "model_name": "m", "timestamp": "2026-01-01T00:00:01Z",
             "metrics": {"prompt_tokens": 5, "completion_tokens": 1},
             "tool_calls": [{"tool_call_id": "c1", "function_name": "calc", "arguments": {}}],
             "observation": {"results": [{"source_call_id": "c1", "content": "4"}]},
             "extra": {"ancestry": {"function_id": "f", "function_name": "agent"},
                       "invocation": {"start_timestamp": 1767225600.25, "end_timestamp": 1767225601.0},
                       "tool_ancestry": [{"function_id": "f", "function_name": "agent"}],
                       "tool_invocations": [{"start_timestamp": 1767225600.5, "end_timestamp": 1767225600.75}]}}
        ]
    })
}

fn set(v: &mut Value, path: &[&str], new: Value) {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        let next = match k.parse::<usize>() {
            Ok(n) => &mut cur[n],
            Err(_) => &mut cur[*k],
        };
        if i == path.len() - 1 {
            *next = new;
            return;
        }
        cur = next;
    }
}

fn remove(v: &mut Value, path: &[&str]) {
    let (last, parent) = path.split_last().expect("non-empty path");
    let mut cur = v;
    for k in parent {
        cur = match k.parse::<usize>() {
            Ok(n) => &mut cur[n],
            Err(_) => &mut cur[*k],
        };
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(*last);
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("serialises")
}

/// The cases as they are made, in order.
struct Cases(Vec<Case>);

impl Cases {
    fn add(&mut self, name: String, bytes: Vec<u8>) {
        self.0.push(Case { name, bytes });
    }
}

/// Each JSON type, with a name for the case's file.
fn kinds() -> [(&'static str, Value); 7] {
    [
        ("null", Value::Null),
        ("bool", json!(true)),
        ("int", json!(-7)),
        ("float", json!(1.5)),
        ("string", json!("x")),
        ("list", json!([1])),
        ("object", json!({"k": 1})),
    ]
}

/// Every case, in a fixed order.
pub fn cases() -> Vec<Case> {
    let mut out = Cases(Vec::new());
    truncated_ist(&mut out);
    ist_field_types(&mut out);
    ist_semantic(&mut out);
    lexical(&mut out);
    atif_cases(&mut out);
    jsonl_and_atof(&mut out);
    not_json(&mut out);
    out.0
}

/// 1. Truncations of a valid IST file at 30 evenly spread offsets.
fn truncated_ist(out: &mut Cases) {
    let ist = bytes(&base_ist());
    for k in 1..=30 {
        let cut = ist.len() * k / 31;
        out.add(format!("ist_truncated_{k:02}.json"), ist[..cut].to_vec());
    }
}

/// 2. Every field of a step replaced by each JSON type, or removed.
fn ist_field_types(out: &mut Cases) {
    let fields: &[&[&str]] = &[
        &["parent_id"],
        &["function_ancestry"],
        &["function_ancestry", "function_id"],
        &["function_ancestry", "function_name"],
        &["function_ancestry", "parent_name"],
        &["payload"],
        &["payload", "event_type"],
        &["payload", "event_timestamp"],
        &["payload", "span_event_timestamp"],
        &["payload", "framework"],
        &["payload", "name"],
        &["payload", "tags"],
        &["payload", "metadata"],
        &["payload", "data"],
        &["payload", "data", "input"],
        &["payload", "usage_info"],
        &["payload", "usage_info", "token_usage"],
        &["payload", "usage_info", "token_usage", "prompt_tokens"],
        &["payload", "usage_info", "seconds_between_calls"],
        &["payload", "UUID"],
    ];
    let kinds = kinds();
    for f in fields {
        for (kind, value) in &kinds {
            let mut v = base_ist();
            let mut p = vec!["0", "intermediate_steps", "2"];
            p.extend_from_slice(f);
            set(&mut v, &p, value.clone());
            out.add(format!("ist_{}_{kind}.json", f.join("_")), bytes(&v));
        }
        let mut v = base_ist();
        let mut p = vec!["0", "intermediate_steps", "2"];
        p.extend_from_slice(f);
        remove(&mut v, &p);
        out.add(format!("ist_{}_missing.json", f.join("_")), bytes(&v));
    }
}

/// 3. Semantic oddities the profiler must survive (tolerated, documented in the test).
fn ist_semantic(out: &mut Cases) {
    let semantic: Vec<(&str, Mutation)> = vec![
        (
            "ist_unmatched_start.json",
            Box::new(|v: &mut Value| {
                v[0]["intermediate_steps"].as_array_mut().unwrap().remove(2);
            }),
        ),
        (
            "ist_unmatched_end.json",
            Box::new(|v: &mut Value| {
                v[0]["intermediate_steps"].as_array_mut().unwrap().remove(1);
            }),
        ),
        (
            "ist_duplicate_uuids.json",
            Box::new(|v: &mut Value| {
                for s in v[0]["intermediate_steps"].as_array_mut().unwrap() {
                    s["payload"]["UUID"] = json!("same");
                }
            }),
        ),
        (
            "ist_negative_duration.json",
            Box::new(|v: &mut Value| {
                v[0]["intermediate_steps"][2]["payload"]["event_timestamp"] = json!(1767225500.0);
            }),
        ),
        (
            "ist_out_of_order.json",
            Box::new(|v: &mut Value| {
                v[0]["intermediate_steps"].as_array_mut().unwrap().reverse();
            }),
        ),
        (
            "ist_huge_tokens.json",
            Box::new(|v: &mut Value| {
                v[0]["intermediate_steps"][2]["payload"]["usage_info"]["token_usage"]
                    ["prompt_tokens"] = json!(i64::MAX);
            }),
        ),
        (
            "ist_zero_requests.json",
            Box::new(|v: &mut Value| *v = json!([])),
        ),
        (
            "ist_empty_request.json",
            Box::new(|v: &mut Value| {
                v[0]["intermediate_steps"] = json!([]);
            }),
        ),
        (
            "ist_far_future_timestamp.json",
            Box::new(|v: &mut Value| {
                v[0]["intermediate_steps"][0]["payload"]["event_timestamp"] = json!(1e300);
            }),
        ),
    ];
    for (name, f) in semantic {
        let mut v = base_ist();
        f(&mut v);
        out.add(name.to_string(), bytes(&v));
    }
}

/// 4. Lexical hostility.
fn lexical(out: &mut Cases) {
    let ist = bytes(&base_ist());
    let text = String::from_utf8(ist.clone()).expect("utf-8");
    out.add(
        "ist_nan_literal.json".into(),
        text.replacen("1767225601.0", "NaN", 1).into_bytes(),
    );
    out.add(
        "ist_infinity_literal.json".into(),
        text.replacen("1767225601.0", "Infinity", 1).into_bytes(),
    );
    out.add(
        "ist_number_overflow.json".into(),
        text.replacen("1767225601.0", "1e999", 1).into_bytes(),
    );
    out.add("ist_invalid_utf8.json".into(), {
        let mut b = ist.clone();
        let i = b.iter().position(|&c| c == b'?').unwrap_or(10);
        b[i] = 0xff;
        b
    });
    out.add(
        "ist_bom.json".into(),
        [&[0xef, 0xbb, 0xbf][..], &ist].concat(),
    );
    out.add(
        "deep_nesting.json".into(),
        format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
    );
    out.add(
        "deep_nesting_object.json".into(),
        format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000)).into_bytes(),
    );
    out.add("empty.json".into(), vec![]);
    out.add("whitespace.json".into(), b" \n\t ".to_vec());
    out.add("binary.bin".into(), (0u8..=255).collect());
    out.add("null.json".into(), b"null".to_vec());
    out.add("string.json".into(), b"\"trace\"".to_vec());
    out.add("number.json".into(), b"3".to_vec());
    out.add(
        "trailing_garbage.json".into(),
        [&ist[..], b"\n}}}"].concat(),
    );
    out.add(
        "two_documents.json".into(),
        [&ist[..], b"\n", &ist[..]].concat(),
    );
}

/// 5. ATIF: every top-level and step field as each JSON type, unknown versions.
fn atif_cases(out: &mut Cases) {
    let atif_fields: &[&[&str]] = &[
        &["schema_version"],
        &["agent"],
        &["agent", "name"],
        &["steps"],
        &["steps", "1", "step_id"],
        &["steps", "1", "source"],
        &["steps", "1", "message"],
        &["steps", "1", "timestamp"],
        &["steps", "1", "metrics"],
        &["steps", "1", "metrics", "prompt_tokens"],
        &["steps", "1", "tool_calls"],
        &["steps", "1", "observation"],
        &["steps", "1", "extra"],
        &["steps", "1", "extra", "invocation"],
    ];
    for f in atif_fields {
        for (kind, value) in kinds().iter().filter(|(k, _)| *k != "float") {
            let mut v = base_atif();
            set(&mut v, f, value.clone());
            out.add(format!("atif_{}_{kind}.json", f.join("_")), bytes(&v));
        }
    }
    for version in ["ATIF-v0.9", "ATIF-v1.9", "ATIF-v2.0", "1.7", ""] {
        let mut v = base_atif();
        v["schema_version"] = json!(version);
        out.add(
            format!(
                "atif_version_{}.json",
                if version.is_empty() { "empty" } else { version }
            ),
            bytes(&v),
        );
    }
    let atif = bytes(&base_atif());
    for k in 1..=10 {
        out.add(
            format!("atif_truncated_{k:02}.json"),
            atif[..atif.len() * k / 11].to_vec(),
        );
    }
}

/// 6. JSONL and ATOF oddities.
fn jsonl_and_atof(out: &mut Cases) {
    let line = serde_json::to_string(&base_atif()).expect("serialises");
    out.add(
        "jsonl_bad_second_line.jsonl".into(),
        format!("{line}\n{{\"steps\": [\n").into_bytes(),
    );
    out.add(
        "jsonl_scalar_line.jsonl".into(),
        format!("{line}\n42\n").into_bytes(),
    );
    out.add(
        "jsonl_mixed_atif_atof.jsonl".into(),
        format!("{line}\n{{\"atof_version\": \"0.1\", \"kind\": \"scope\"}}\n").into_bytes(),
    );
    out.add(
        "atof_not_objects.json".into(),
        b"[{\"atof_version\": \"0.1\", \"kind\": \"scope\"}, 3, \"x\"]".to_vec(),
    );
}

/// 7. Not JSON at all, and Python's -Infinity (NaN and Infinity are in 1.).
fn not_json(out: &mut Cases) {
    out.add("not_json_text.json".into(), b"hello, world\n".to_vec());
    out.add(
        "python_infinity.json".into(),
        b"{\"schema_version\": \"ATIF-v1.7\", \"x\": -Infinity}".to_vec(),
    );
}

/// The documented handling of one input: `error: <message without the file name>` or
/// `loads as <kind>` (then every profiler path runs on it without error or panic).
pub fn outcome(path: &std::path::Path, bytes: &[u8]) -> String {
    match crate::trace::load::load_bytes(path, bytes) {
        Ok(t) => format!("loads as {}", t.kind()),
        Err(e) => {
            let msg = e.to_string();
            let shown = path.display().to_string();
            format!("error: {}", msg.strip_prefix(&shown).unwrap_or(&msg))
        }
    }
}

/// `outcomes.json`: every case's documented handling, by file name (sorted).
pub fn outcomes_json(dir: &std::path::Path) -> String {
    let m: std::collections::BTreeMap<String, String> = cases()
        .iter()
        .map(|c| (c.name.clone(), outcome(&dir.join(&c.name), &c.bytes)))
        .collect();
    serde_json::to_string_pretty(&m).expect("serialises") + "\n"
}
