//! One test per deliberate difference listed in `src/differences.rs`, showing what we do
//! instead of what NAT does; and a check that every listed difference has its test here.

use std::path::Path;

use atif_drift::convert::ist_to_atif::parse_tool_arguments;
use atif_drift::convert::{ist_to_atif, ConvertOptions};
use atif_drift::differences::DIFFERENCES;
use atif_drift::frame::from_ist;
use atif_drift::profile::uniqueness::token_uniqueness;
use atif_drift::trace::load::load_bytes;
use atif_drift::trace::Trace;
use serde_json::json;

const TESTED: &[&str] = &[
    "convert.session-id",
    "convert.eval-export-nulls",
    "convert.python-literal-sets",
    "convert.python-literal-edge-cases",
    "pyfmt.unicode-version",
    "profile.stable-sort-ties",
    "profile.active-uuids-order",
    "profile.trie-generated-at",
    "atif.row-uuids",
    "atif.missing-ancestry",
    "tokens.saturate",
    "mooncake.tokenizer",
    "mooncake.recovery",
    "atof.dedupe-order",
    "atof.annotations",
    "telemetry.bad-lines",
    "telemetry.unordered-keys",
    "telemetry.lenient-shapes",
];

#[test]
fn every_listed_difference_has_a_test() {
    for d in DIFFERENCES {
        assert!(
            TESTED.contains(&d.id),
            "{} has no test in tests/differences.rs",
            d.id
        );
        assert!(!d.reason.is_empty() && !d.nat.is_empty() && !d.ours.is_empty());
    }
    assert_eq!(TESTED.len(), DIFFERENCES.len());
}

fn ist(steps: &str) -> Trace {
    load_bytes(
        Path::new("t.json"),
        format!(r#"[{{"request_number":0,"intermediate_steps":[{steps}]}}]"#).as_bytes(),
    )
    .unwrap()
}

fn step(event: &str, ts: f64, name: &str, uuid: &str, input: &str) -> String {
    format!(
        r#"{{"parent_id":"root","function_ancestry":{{"function_id":"f","function_name":"agent"}},
            "payload":{{"event_type":"{event}","event_timestamp":{ts},"name":"{name}","UUID":"{uuid}",
            "data":{{"input":{input}}}}}}}"#
    )
}

/// `convert.session-id` and `convert.eval-export-nulls`: deterministic `request-<n>` ids,
/// absent optional fields omitted.
#[test]
fn convert_session_ids_are_request_indices_and_nulls_are_omitted() {
    let Trace::Ist(t) = ist(&step("WORKFLOW_START", 1.0, "w", "u1", "\"hi\"")) else {
        panic!()
    };
    let out = serde_json::to_value(ist_to_atif(&t, &ConvertOptions::default()).unwrap()).unwrap();
    assert_eq!(out[0]["session_id"], "request-0");
    assert!(!out.to_string().contains("null"), "{out}");
}

/// `convert.python-literal-sets`: set elements keep their written order.
#[test]
fn python_set_literals_keep_written_order() {
    assert_eq!(
        parse_tool_arguments(Some(&json!("{'tags': {'b', 'a', 'c'}}"))),
        json!({"tags": ["b", "a", "c"]})
    );
}

/// `convert.python-literal-edge-cases`: complex numbers and >64-bit ints are not parsed.
#[test]
fn python_literal_edge_cases_fall_back_to_input() {
    for s in ["{'z': 1j}", "{'n': 123456789012345678901234567890}"] {
        assert_eq!(parse_tool_arguments(Some(&json!(s))), json!({"input": s}));
    }
}

/// `pyfmt.unicode-version`: printability comes from this crate's Unicode tables.
#[test]
fn repr_escapes_by_unicode_category() {
    // U+00A0 (no-break space, Zs) is escaped by Python 3.11 and by us; é is printable.
    assert_eq!(atif_drift::pyfmt::str_repr("\u{a0}é"), "'\\xa0é'");
}

/// `profile.stable-sort-ties`: two LLM_STARTs of one model at the same instant keep trace order.
#[test]
fn tied_timestamps_keep_trace_order() {
    let steps = [
        step("LLM_START", 1.0, "m", "a", "\"alpha beta\""),
        step("LLM_START", 2.0, "m", "b", "\"alpha beta gamma delta\""),
        step("LLM_START", 2.0, "m", "c", "\"alpha\""),
    ]
    .join(",");
    let Trace::Ist(t) = ist(&steps) else { panic!() };
    // Trace order at the tie: b then c → counts [2 (gamma, delta), 0]; NAT may swap b and c.
    let u = token_uniqueness(&from_ist::frame(&t));
    assert_eq!(u, vec![("m".to_string(), [1.8, 1.9, 1.98])]);
}

/// `profile.active-uuids-order`: the UUIDs of a spike in call-tree order, deterministic.
#[test]
fn active_uuids_follow_call_tree_order() {
    let steps = [
        step("LLM_START", 1.0, "m", "zz", "\"a\""),
        step("LLM_START", 1.5, "m", "aa", "\"b\""),
        step("LLM_END", 3.0, "m", "zz", "null"),
        step("LLM_END", 3.5, "m", "aa", "null"),
    ]
    .join(",");
    let Trace::Ist(t) = ist(&steps) else { panic!() };
    let a = atif_drift::profile::concurrency_spikes::concurrency_spikes(&from_ist::frame(&t), 2);
    assert_eq!(a.spikes.len(), 1);
    // "zz" started first, so it comes first although "aa" sorts first.
    assert_eq!(a.spikes[0].active_uuids, ["zz", "aa"]);
}

/// `profile.trie-generated-at`: the last event's time, not the wall clock.
#[test]
fn trie_generated_at_is_the_last_event_time() {
    let Trace::Ist(t) = ist(&[
        step("LLM_START", 1767225600.0, "m", "a", "\"x\""),
        step("WORKFLOW_END", 1767225601.5, "w", "b", "null"),
    ]
    .join(",")) else {
        panic!()
    };
    assert_eq!(
        atif_drift::profile::trie::generated_at(&from_ist::frame(&t)),
        "2026-01-01T00:00:01.500000+00:00"
    );
}

fn atif(t: serde_json::Value) -> atif_drift::trace::AtifTrace {
    let Trace::Atif(a) = load_bytes(Path::new("a.json"), t.to_string().as_bytes()).unwrap() else {
        panic!()
    };
    a
}

/// `atif.row-uuids`: row UUIDs are a function of (trajectory, step, call).
#[test]
fn atif_row_uuids_are_deterministic() {
    let t = atif(
        json!({"schema_version": "ATIF-v1.7", "agent": {"name": "a", "version": "1"}, "steps": [
        {"step_id": 1, "source": "agent", "message": "x", "metrics": {"prompt_tokens": 1},
         "extra": {"ancestry": {"function_id": "f", "function_name": "f"}}}]}),
    );
    let f1 = atif_drift::frame::from_atif::frame(&t, atif_drift::frame::from_atif::Builder::Pr1751);
    let f2 = atif_drift::frame::from_atif::frame(&t, atif_drift::frame::from_atif::Builder::Pr1751);
    assert_eq!(f1.rows[0].uuid, f2.rows[0].uuid);
    assert_eq!(
        f1.rows[0].uuid.as_deref(),
        Some("00000000-0000-4000-8000-000000000000")
    );
    assert_eq!(atif_drift::differences::rename_uuids("a 00000000-0000-4000-8000-000000000000 b 11111111-0000-4000-8000-000000000000 00000000-0000-4000-8000-000000000000"), "a U0 b U1 U0");
}

/// `atif.missing-ancestry`: no `extra` at all still profiles, with NAT's row defaults.
#[test]
fn atif_without_ancestry_uses_root_defaults() {
    let t = atif(
        json!({"schema_version": "ATIF-v1.7", "agent": {"name": "a", "version": "1"},
                        "steps": [{"step_id": 1, "source": "user", "message": "hi"}]}),
    );
    let f = atif_drift::frame::from_atif::frame(&t, atif_drift::frame::from_atif::Builder::Pr1751);
    assert_eq!(f.rows[0].function_name.as_deref(), Some("root"));
    assert_eq!(f.rows[0].parent_function_id.as_deref(), Some(""));
}

/// `tokens.saturate`: huge token counts saturate instead of overflowing.
#[test]
fn token_sums_saturate() {
    let t = atif(
        json!({"schema_version": "ATIF-v1.7", "agent": {"name": "a", "version": "1"}, "steps": [
        {"step_id": 1, "source": "agent", "message": "x", "metrics": {"prompt_tokens": i64::MAX, "completion_tokens": 5, "cached_tokens": 5},
         "extra": {"ancestry": {"function_id": "f", "function_name": "f"}}}]}),
    );
    let f = atif_drift::frame::from_atif::frame(&t, atif_drift::frame::from_atif::Builder::Pr1751);
    assert_eq!(f.rows[0].total_tokens(), Some(i64::MAX));
}

/// `mooncake.tokenizer`: the default tokenizer is the built-in cl100k_base (no download).
#[test]
fn mooncake_default_tokenizer_is_builtin_cl100k() {
    let t = atif_drift::mooncake::Tokenizer::cl100k();
    assert_eq!(t.name(), "cl100k_base");
    // cl100k_base ids, not a Llama vocabulary's.
    assert_eq!(t.encode("hello world").unwrap(), [15339, 1917]);
}

/// `mooncake.recovery`: a request that is JSON but not a NAT request is skipped, named.
#[test]
fn mooncake_recovery_skips_invalid_requests_by_name() {
    let text = r#"[{"request_number": 0, "intermediate_steps": []},
                   {"request_number": 1, "intermediate_steps": [{"payload": 5}]},
                   {"request_number": 2, "intermediate_steps": ["#;
    let (reqs, warnings) = atif_drift::mooncake::recover_truncated(text).unwrap();
    assert_eq!(reqs.len(), 1);
    assert!(
        warnings[0].starts_with("request 1: cannot parse"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].starts_with("request 2: cannot parse"),
        "{warnings:?}"
    );
}

fn relay_events(name: &str) -> Vec<serde_json::Value> {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/relay/{name}.events.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// `atof.dedupe-order`: the export of d5 does not depend on the order of the events.
#[test]
fn atof_export_is_deterministic_where_relay_is_not() {
    use atif_drift::atof::export::{export, ExportOptions};
    let mut events = relay_events("d5_metrics_merge_order");
    let a = export(&events, &ExportOptions::default());
    events.reverse();
    assert_eq!(export(&events, &ExportOptions::default()), a);
    assert_eq!(a["final_metrics"]["total_prompt_tokens"], 7);
}

/// `atof.annotations`: no cost is estimated (Relay would price a known model).
#[test]
fn atof_export_writes_no_estimated_cost() {
    use atif_drift::atof::export::{export, ExportOptions};
    let t = export(&relay_events("e2_cached_tokens"), &ExportOptions::default());
    assert!(!t.to_string().contains("cost_usd"));
}

/// Dynamo's telemetry converter stops on the first bad line; ours names it, or skips it with
/// `skip_bad_lines`; a blank line is no error.
#[test]
fn telemetry_bad_lines() {
    use atif_drift::mooncake::telemetry::read;
    let text = "{\"event_type\": \"llm_call\", \"session_id\": \"a\", \"timestamp\": 1}\n\n{\"event_type\": \"llm_call\", \"session_id\": \"a\"}\n";
    let err = read(Path::new("t.jsonl"), text, false)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "t.jsonl: line 3: an llm_call event without `timestamp`"
    );
    let (events, warnings) = read(Path::new("t.jsonl"), text, true).unwrap();
    assert_eq!((events.len(), warnings.len()), (1, 1));
}

/// Keys Python cannot order fail whichever pair the sort compares.
#[test]
fn telemetry_unordered_keys() {
    use atif_drift::mooncake::telemetry::read;
    let text = "{\"event_type\": \"llm_call\", \"session_id\": \"a\", \"timestamp\": 1}\n{\"event_type\": \"llm_call\", \"session_id\": \"a\", \"timestamp\": \"2\"}\n";
    let err = read(Path::new("t.jsonl"), text, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1: its (session_id, timestamp) cannot be ordered with line 2"),
        "{err}"
    );
}

/// Shapes that stop Dynamo's script are read leniently.
#[test]
fn telemetry_lenient_shapes() {
    use atif_drift::mooncake::telemetry::{classify_agent, messages_text};
    let event = |v: serde_json::Value| v.as_object().unwrap().clone();
    assert_eq!(
        messages_text(&event(json!({"request_payload": {"messages": null}}))),
        ""
    );
    let e = event(json!({"request_payload": {"messages": [{"role": "system", "content": 5}]}}));
    assert_eq!(classify_agent(&e), "unknown");
    let e = event(
        json!({"request_payload": {"messages": [{"role": "user", "content": [{"text": 12}]}]}}),
    );
    assert_eq!(messages_text(&e), "12");
}
