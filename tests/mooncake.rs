//! Mooncake export: one test per rule of Dynamo's NAT → mooncake converter, each on an IST
//! trace built to exercise it; the ATIF side; the corpus; aiperf's loader constraints.

mod common;

use std::path::PathBuf;

use atif_drift::mooncake::{
    self as mc, recover_truncated, rows, sessions_from_atif, sessions_from_ist, to_jsonl,
    InputSource, Options, Row, Tokenizer,
};
use atif_drift::trace::ist::IstRequest;
use atif_drift::trace::{load_file, LoadOptions, Trace};
use serde_json::{json, Value};

fn step(event: &str, uuid: &str, ts: f64, extra: Value) -> Value {
    let mut payload =
        json!({"event_type": event, "event_timestamp": ts, "UUID": uuid, "name": "m"});
    if let (Some(p), Some(e)) = (payload.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"parent_id": "root",
           "function_ancestry": {"function_id": "f", "function_name": "w"},
           "payload": payload})
}

fn start(uuid: &str, ts: f64, inputs: Value) -> Value {
    step(
        "LLM_START",
        uuid,
        ts,
        json!({"metadata": {"chat_inputs": inputs}}),
    )
}

fn end(uuid: &str, ts: f64, prompt: i64, completion: i64) -> Value {
    step(
        "LLM_END",
        uuid,
        ts,
        json!({"usage_info": {"token_usage": {"prompt_tokens": prompt, "completion_tokens": completion}}}),
    )
}

fn request(n: i64, steps: Vec<Value>) -> IstRequest {
    serde_json::from_value(json!({"request_number": n, "intermediate_steps": steps})).unwrap()
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn export(reqs: &[IstRequest], opts: &Options) -> Vec<Row> {
    rows(&sessions_from_ist(reqs), &Tokenizer::cl100k(), opts)
        .unwrap()
        .rows
}

fn tokens(text: &str) -> i64 {
    Tokenizer::cl100k().encode(text).unwrap().len() as i64
}

#[test]
fn start_and_end_pair_by_uuid_and_unpaired_events_are_dropped() {
    let r = request(
        0,
        vec![
            start("a", 1.0, user("alpha")),
            start("orphan-start", 1.1, user("never ends")),
            end("a", 2.0, 5, 3),
            end("orphan-end", 2.1, 9, 9),
        ],
    );
    let out = export(&[r], &Options::default());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].output_length, 3);
}

#[test]
fn calls_are_ordered_by_end_time_not_start_time() {
    let r = request(
        0,
        vec![
            start("first", 1.0, user("one")),
            start("second", 1.5, user("two two")),
            end("second", 2.0, 1, 20),
            end("first", 3.0, 1, 10),
        ],
    );
    let out = export(&[r], &Options::default());
    let outputs: Vec<i64> = out.iter().map(|r| r.output_length).collect();
    assert_eq!(outputs, [20, 10]);
}

#[test]
fn text_is_message_contents_joined_by_newlines_and_input_length_counts_its_tokens() {
    let inputs = json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Add 2 and 3."},
        {"role": "assistant", "content": ""},
        "a bare string"
    ]);
    let out = export(
        &[request(
            0,
            vec![start("a", 1.0, inputs), end("a", 2.0, 999, 1)],
        )],
        &Options::default(),
    );
    // The recorded prompt_tokens (999) is not used on the IST side.
    assert_eq!(
        out[0].input_length,
        tokens("You are terse.\nAdd 2 and 3.\na bare string")
    );
    assert_eq!(out[0].source, InputSource::Text);
}

#[test]
fn calls_with_empty_text_are_skipped_with_a_warning() {
    let r = request(
        3,
        vec![
            start("a", 1.0, json!([{"role": "user", "content": ""}])),
            end("a", 2.0, 1, 1),
            start("b", 3.0, user("kept")),
            end("b", 4.0, 1, 2),
        ],
    );
    let e = rows(
        &sessions_from_ist(&[r]),
        &Tokenizer::cl100k(),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(e.rows.len(), 1);
    assert_eq!(e.rows[0].output_length, 2);
    // The skipped call does not count as the session's first turn: no delay on "b".
    assert_eq!(e.rows[0].delay, None);
    assert!(
        e.warnings[0].contains("conv_3") && e.warnings[0].contains("empty"),
        "{:?}",
        e.warnings
    );
}

#[test]
fn hash_ids_chain_blocks_and_are_shared_across_the_whole_file() {
    let long = "word ".repeat(300); // 300 tokens: 4 full blocks of 64 and one of 44
    let a = request(0, vec![start("a", 1.0, user(&long)), end("a", 2.0, 1, 1)]);
    let other = format!("{long}and something else");
    let b = request(1, vec![start("b", 1.0, user(&other)), end("b", 2.0, 1, 1)]);
    let out = export(&[a, b], &Options::default());
    let n = out[0].input_length as usize;
    assert_eq!(out[0].hash_ids.len(), n.div_ceil(64));
    assert_eq!(
        out[0].hash_ids,
        (0..out[0].hash_ids.len() as u64).collect::<Vec<_>>()
    );
    // Request 1 shares the full leading blocks of request 0, then gets new ids.
    let shared = n / 64;
    assert_eq!(out[1].hash_ids[..shared], out[0].hash_ids[..shared]);
    assert!(out[1].hash_ids[shared] > *out[0].hash_ids.last().unwrap());
    // --block-size changes the cut.
    let small = export(
        &[request(
            0,
            vec![start("a", 1.0, user(&long)), end("a", 2.0, 1, 1)],
        )],
        &Options {
            block_size: 16,
            ..Options::default()
        },
    );
    assert_eq!(small[0].hash_ids.len(), n.div_ceil(16));
}

#[test]
fn output_length_is_the_completion_tokens_of_the_end_event() {
    let r = request(
        0,
        vec![
            start("a", 1.0, user("x")),
            step("LLM_END", "a", 2.0, json!({})),
        ],
    );
    let r2 = request(1, vec![start("b", 1.0, user("y")), end("b", 2.0, 4, 77)]);
    let out = export(&[r, r2], &Options::default());
    assert_eq!(out[0].output_length, 0, "missing usage counts as 0");
    assert_eq!(out[1].output_length, 77);
}

#[test]
fn sessions_are_requests_and_delay_marks_every_turn_after_the_first() {
    let r = |n, k: usize| {
        let mut steps = Vec::new();
        for i in 0..k {
            let id = format!("{n}-{i}");
            steps.push(start(&id, i as f64, user("q")));
            steps.push(end(&id, i as f64 + 0.5, 1, 1));
        }
        request(n, steps)
    };
    let out = export(&[r(7, 3), r(2, 1)], &Options::default());
    let got: Vec<(&str, Option<u64>)> = out
        .iter()
        .map(|r| (r.session_id.as_str(), r.delay))
        .collect();
    assert_eq!(
        got,
        [
            ("conv_7", None),
            ("conv_7", Some(500)),
            ("conv_7", Some(500)),
            ("conv_2", None)
        ]
    );
    let none = export(
        &[r(7, 2)],
        &Options {
            delay: None,
            ..Options::default()
        },
    );
    assert!(none.iter().all(|r| r.delay.is_none()));
    assert!(!to_jsonl(&none).contains("delay"));
}

#[test]
fn skip_and_num_requests_select_requests_and_empty_requests_are_skipped_with_a_warning() {
    let r = |n: i64| request(n, vec![start("a", 1.0, user("q")), end("a", 2.0, 1, n)]);
    let empty = request(9, vec![]);
    let reqs = [r(0), r(1), empty, r(3), r(4)];
    let e = rows(
        &sessions_from_ist(&reqs),
        &Tokenizer::cl100k(),
        &Options {
            skip_requests: 1,
            num_requests: Some(3),
            ..Options::default()
        },
    )
    .unwrap();
    let sessions: Vec<&str> = e.rows.iter().map(|r| r.session_id.as_str()).collect();
    assert_eq!(sessions, ["conv_1", "conv_3"]);
    assert_eq!(e.warnings, ["conv_9: no LLM calls, request skipped"]);
}

#[test]
fn a_truncated_file_is_recovered_request_by_request() {
    let reqs: Vec<Value> = (0..3)
        .map(|n| {
            json!({"request_number": n, "intermediate_steps": [
            start("a", 1.0, user("hello")), end("a", 2.0, 1, n + 1)]})
        })
        .collect();
    let full = serde_json::to_string_pretty(&reqs).unwrap();
    let cut = &full[..full.len() - 40];
    assert!(serde_json::from_str::<Value>(cut).is_err());
    let (recovered, warnings) = recover_truncated(cut).unwrap();
    assert_eq!(recovered.len(), 2);
    assert!(
        warnings[0].starts_with("request 2: cannot parse"),
        "{warnings:?}"
    );
    // Through the file API, with the load error reported.
    let scratch = common::scratch("mooncake");
    let f = scratch.path().join("all_requests_profiler_traces.json");
    std::fs::write(&f, cut).unwrap();
    let (sessions, warnings) = mc::sessions_of_file(&f, &LoadOptions::default()).unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(warnings[0].contains("recovered 2 requests"), "{warnings:?}");
    std::fs::write(&f, "[{\"no\": ").unwrap();
    assert!(mc::sessions_of_file(&f, &LoadOptions::default()).is_err());
}

#[test]
fn a_huggingface_tokenizer_json_is_used_when_given() {
    // A word-level tokenizer: one token per whitespace-separated word.
    let tok = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "world": 2},
                  "unk_token": "[UNK]"}
    });
    let scratch = common::scratch("tokenizer");
    let path = scratch.path().join("tokenizer.json");
    std::fs::write(&path, tok.to_string()).unwrap();
    let t = Tokenizer::from_file(&path).unwrap();
    assert_eq!(t.encode("hello world hello again").unwrap(), [1, 2, 1, 0]);
    std::fs::write(&path, "{}").unwrap();
    let err = Tokenizer::from_file(&path).err().unwrap().to_string();
    assert!(
        err.contains(&path.display().to_string()) && err.contains("tokenizer.json"),
        "{err}"
    );
}

fn corpus_items() -> Vec<PathBuf> {
    common::items_with("nat_atif.json")
}

/// IST LLM calls paired by UUID, with their completion tokens, in file order of the END.
fn paired_completions(path: &std::path::Path) -> Vec<i64> {
    let ist = common::load_ist(path);
    let mut out = Vec::new();
    for r in &ist.requests {
        let starts: std::collections::HashSet<&str> = r
            .intermediate_steps
            .iter()
            .filter(|s| s.payload.event_type.as_str() == "LLM_START")
            .map(|s| s.payload.uuid.as_str())
            .collect();
        for s in &r.intermediate_steps {
            if s.payload.event_type.as_str() == "LLM_END"
                && starts.contains(s.payload.uuid.as_str())
            {
                out.push(s.token_usage().completion_tokens);
            }
        }
    }
    out
}

#[test]
fn corpus_one_row_per_paired_llm_call_from_ist_and_from_nats_atif() {
    for item in corpus_items() {
        let ist_path = item.join("all_requests_profiler_traces.json");
        let mut expected = paired_completions(&ist_path);
        let (ist_sessions, w) = mc::sessions_of_file(&ist_path, &LoadOptions::default()).unwrap();
        assert!(w.is_empty());
        let ist_rows = rows(&ist_sessions, &Tokenizer::cl100k(), &Options::default())
            .unwrap()
            .rows;
        let Trace::Atif(atif) =
            load_file(&item.join("nat_atif.json"), &LoadOptions::default()).unwrap()
        else {
            panic!("not ATIF")
        };
        let atif_rows = rows(
            &sessions_from_atif(&atif),
            &Tokenizer::cl100k(),
            &Options::default(),
        )
        .unwrap()
        .rows;
        for (side, got) in [("IST", &ist_rows), ("ATIF", &atif_rows)] {
            assert_eq!(got.len(), expected.len(), "{} {side}", item.display());
            let mut outs: Vec<i64> = got.iter().map(|r| r.output_length).collect();
            outs.sort();
            expected.sort();
            assert_eq!(outs, expected, "{} {side}", item.display());
        }
        // Same sessions in the same order on both sides.
        let sid = |rs: &[Row]| rs.iter().map(|r| r.session_id.clone()).collect::<Vec<_>>();
        assert_eq!(sid(&ist_rows), sid(&atif_rows), "{}", item.display());
        // NAT's ATIF has no prompt text: the recorded prompt_tokens, no hash_ids.
        assert!(atif_rows
            .iter()
            .all(|r| r.source == InputSource::PromptTokens && r.hash_ids.is_empty()));
        assert!(ist_rows.iter().all(|r| r.source == InputSource::Text));
    }
}

#[test]
fn relay_atif_keeps_the_request_so_rows_have_text_and_hash_ids() {
    let f = common::root().join("tests/data/relay/e1_nested_subagent.atif.json");
    let (sessions, _) = mc::sessions_of_file(&f, &LoadOptions::default()).unwrap();
    let out = rows(&sessions, &Tokenizer::cl100k(), &Options::default())
        .unwrap()
        .rows;
    // Two calls of the parent agent and one of the nested subagent.
    assert_eq!(out.len(), 3);
    assert!(out
        .iter()
        .all(|r| r.source == InputSource::Text && !r.hash_ids.is_empty()));
}

/// aiperf's `MooncakeTrace` model: `input_length` int (the input mode used), `hash_ids`
/// list of int covering input_length (`len * block_size >= input_length`), `output_length`
/// int, `delay` number, `session_id` str; nothing else.
#[test]
fn output_is_readable_by_aiperfs_mooncake_loader() {
    for item in corpus_items() {
        for input in ["all_requests_profiler_traces.json", "nat_atif.json"] {
            let (s, _) = mc::sessions_of_file(&item.join(input), &LoadOptions::default()).unwrap();
            let text = to_jsonl(
                &rows(&s, &Tokenizer::cl100k(), &Options::default())
                    .unwrap()
                    .rows,
            );
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                let o = v.as_object().unwrap();
                for k in o.keys() {
                    assert!(
                        [
                            "session_id",
                            "input_length",
                            "output_length",
                            "hash_ids",
                            "delay"
                        ]
                        .contains(&k.as_str()),
                        "{k}"
                    );
                }
                assert!(o["session_id"].is_string());
                let n = o["input_length"].as_i64().unwrap();
                assert!(n >= 0 && o["output_length"].is_i64());
                let ids = o["hash_ids"].as_array().unwrap();
                assert!(ids.iter().all(Value::is_u64));
                assert!(ids.is_empty() || ids.len() as i64 * 64 >= n, "{line}");
                assert!(o.get("delay").is_none_or(Value::is_u64));
            }
        }
    }
}

/// Telemetry → mooncake through the command line, on telemetry generated here (three
/// sessions, tool calls between the LLM calls, out of order): one row per `llm_call` in
/// (session, time) order, every row within aiperf's `MooncakeTrace` model (`session_id` str,
/// `input_length` int ≥ 0, `hash_ids` ints covering it, `output_length` int) plus Dynamo's
/// `agent_type` and `priority`; a bad line is an error naming it, or skipped with a warning.
#[test]
fn telemetry_converts_through_the_command_line() {
    let scratch = common::scratch("telemetry");
    let dir = scratch.path();
    let systems = [
        "You are a Deep Research agent with tools",
        "Gather and synthesize comprehensive findings",
        "Current date and time: 2026-12-02",
    ];
    let mut lines = Vec::new();
    for (s, system) in systems.iter().enumerate() {
        for turn in (0..3).rev() {
            let mut messages = vec![
                serde_json::json!({"role": "system", "content": system}),
                serde_json::json!({"role": "user", "content": format!("question {s}")}),
            ];
            for k in 0..turn {
                messages.push(serde_json::json!({"role": "assistant", "content": format!("answer {k} ").repeat(40)}));
            }
            lines.push(serde_json::json!({
                "event_type": "llm_call", "session_id": format!("session-{s}"), "timestamp": 100.0 + turn as f64,
                "latency_priority": if s == 0 { "HIGH" } else { "LOW" },
                "request_payload": {"messages": messages},
                "response_payload": {"usage": {"completion_tokens": 10 + turn}}
            }));
            lines.push(serde_json::json!({"event_type": "tool_call", "session_id": format!("session-{s}"), "timestamp": 100.5 + turn as f64}));
        }
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let input = dir.join("telemetry.jsonl");
    std::fs::write(&input, &text).unwrap();
    let out = dir.join("rows.jsonl");
    let run = |input: &std::path::Path, extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_atif-drift"))
            .args(["convert"])
            .arg(input)
            .args([
                "--from",
                "telemetry",
                "--to",
                "mooncake",
                "--block-size",
                "16",
                "-o",
            ])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = run(&input, &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 9);
    let mut previous_len = 0;
    for (k, r) in rows.iter().enumerate() {
        let o = r.as_object().unwrap();
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "session_id",
                "agent_type",
                "input_length",
                "output_length",
                "hash_ids",
                "priority"
            ]
        );
        let (session, turn) = (k / 3, k % 3);
        assert_eq!(o["session_id"], format!("session-{session}"));
        assert_eq!(
            o["agent_type"],
            ["deep_coordinator", "research_worker", "shallow_agent"][session]
        );
        assert_eq!(o["output_length"], 10 + turn as i64);
        assert_eq!(o["priority"], if session == 0 { "HIGH" } else { "LOW" });
        let n = o["input_length"].as_i64().unwrap();
        let ids = o["hash_ids"].as_array().unwrap();
        assert!(ids.iter().all(Value::is_u64));
        assert!(n > 0 && ids.len() as i64 * 16 >= n && (ids.len() as i64 - 1) * 16 < n);
        // Turns of a session grow, in time order.
        if turn > 0 {
            assert!(n > previous_len, "{r}");
        }
        previous_len = n;
    }
    // A bad line: named, or skipped with --skip-bad-lines.
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        format!("{text}{{\"event_type\": \"llm_call\", \"timestamp\": 3}}\n"),
    )
    .unwrap();
    let o = run(&bad, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.jsonl: line 19: an llm_call event without `session_id`"),
        "{err}"
    );
    let o = run(&bad, &["--skip-bad-lines"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning: "));
}
