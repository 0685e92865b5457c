//! NAT's ATIF-native frame builder (`nat/plugins/profiler/atif_dataframe.py:create_dataframe_from_atif`,
//! nvidia-nat-profiler 1.6.0rc1 = NAT main at 7c46d711e).
//!
//! Per trajectory (`example_number` = its index):
//! - user step → WORKFLOW_START (text = the message; remembered as the last user message);
//! - agent step with `tool_calls` and an `observation` → one TOOL_END per tool call that has
//!   an invocation start time, at the *step's* timestamp;
//! - agent step with `metrics` → LLM_START (only with an invocation start time; its text is
//!   the last user message) and LLM_END, sharing one UUID, `total_tokens = prompt +
//!   completion + cached` (cached counted twice: NAT's formula, kept);
//! - other agent steps with a message and neither tool calls nor observation → WORKFLOW_END.
//!
//! NAT draws a random uuid4 per row; ours are derived from (trajectory, step, call) and
//! sort in creation order (listed difference `atif.row-uuids`). A step without
//! `extra.ancestry` makes NAT's pydantic validation raise; here it maps to `root` (listed
//! difference `atif.missing-ancestry`).

use serde_json::{Map, Value};

use crate::event::EventType;
use crate::frame::from_ist::Interner;
use crate::frame::{Row, Text};
use crate::pyfmt::iso_to_epoch;
use crate::trace::atif::{Message, Step, Trajectory};

/// `_iso_to_epoch`: missing or unparsable → 0.0.
fn ts(step: &Step) -> f64 {
    step.timestamp
        .as_deref()
        .and_then(|t| iso_to_epoch(&t.replace('Z', "+00:00")))
        .unwrap_or(0.0)
}

/// `_message_to_str` / `_observation_content_to_str`.
fn text(m: Option<&Message>) -> String {
    m.map_or_else(String::new, Message::text)
}

/// Flattened ancestry of a step or of its tool call `i` (`_ancestry_from_extra`), its texts
/// interned once for every row placed by it.
#[derive(Debug, Clone, Default)]
pub struct Ancestry {
    /// The function's id.
    pub function_id: Text,
    /// The function's name.
    pub function_name: Text,
    /// Its parent function's id.
    pub parent_id: Text,
    /// Its parent function's name.
    pub parent_name: Text,
    /// The span's start, seconds since the epoch, when the step says.
    pub start: Option<f64>,
    /// The span's end, when the step says.
    pub end: Option<f64>,
    /// The framework the step names.
    pub framework: Option<Text>,
}

fn str_of<'m>(m: &'m Map<String, Value>, k: &str) -> Option<&'m str> {
    m.get(k).and_then(Value::as_str)
}

fn flat(
    names: &mut Interner,
    anc: Option<&Map<String, Value>>,
    inv: Option<&Map<String, Value>>,
) -> Ancestry {
    let mut a = |k, default| names.get(anc.and_then(|m| str_of(m, k)).unwrap_or(default));
    Ancestry {
        function_id: a("function_id", "root"),
        function_name: a("function_name", "root"),
        parent_id: a("parent_id", ""),
        parent_name: a("parent_name", ""),
        start: inv
            .and_then(|i| i.get("start_timestamp"))
            .and_then(Value::as_f64),
        end: inv
            .and_then(|i| i.get("end_timestamp"))
            .and_then(Value::as_f64),
        framework: inv
            .and_then(|i| str_of(i, "framework"))
            .map(|f| names.get(f)),
    }
}

/// `_ancestry_from_extra(step, tool_index)`, its texts interned in `names`.
pub fn ancestry(names: &mut Interner, step: &Step, tool_index: Option<usize>) -> Ancestry {
    fn obj(v: Option<&Value>) -> Option<&Map<String, Value>> {
        v.and_then(Value::as_object)
    }
    let extra = step.extra.as_ref();
    if let Some(i) = tool_index {
        let tool_anc = extra
            .and_then(|e| e.get("tool_ancestry"))
            .and_then(Value::as_array);
        if let Some(ta) = tool_anc.and_then(|a| a.get(i)) {
            let inv = extra
                .and_then(|e| e.get("tool_invocations"))
                .and_then(Value::as_array)
                .and_then(|a| a.get(i));
            return flat(names, obj(Some(ta)), obj(inv));
        }
    }
    flat(
        names,
        obj(extra.and_then(|e| e.get("ancestry"))),
        obj(extra.and_then(|e| e.get("invocation"))),
    )
}

/// Deterministic row UUID: trajectory, step and call index, uuid-shaped, sorting in creation order.
pub fn row_uuid(example: usize, step: usize, call: usize) -> String {
    // `format!("{example:08x}-{:04x}-4000-8000-{call:012x}", step.min(0xffff))`, written
    // digit by digit into its room (made for each of millions of rows).
    let mut s = String::with_capacity(36);
    push_hex(&mut s, example as u64, 8);
    s.push('-');
    push_hex(&mut s, step.min(0xffff) as u64, 4);
    s.push_str("-4000-8000-");
    push_hex(&mut s, call as u64, 12);
    s
}

/// `v` in lowercase hex, zero-padded to `width` digits (`{v:0width$x}`; `width` at least 1).
fn push_hex(s: &mut String, v: u64, width: usize) {
    let digits = (64 - v.leading_zeros() as usize).div_ceil(4);
    for _ in digits..width {
        s.push('0');
    }
    for i in (0..digits).rev() {
        s.push(char::from(
            b"0123456789abcdef"[(v >> (4 * i)) as usize & 0xf],
        ));
    }
}

struct RowBuilder<'a> {
    names: &'a mut Interner,
    example: usize,
}

impl RowBuilder<'_> {
    fn row(&self, event_type: EventType, event_timestamp: f64, anc: &Ancestry) -> Row {
        ancestry_row(self.example, event_type, event_timestamp, anc)
    }

    fn ancestry(&mut self, step: &Step, tool_index: Option<usize>) -> Ancestry {
        ancestry(self.names, step, tool_index)
    }
}

/// A row of example `example` placed by its ancestry: no tokens, empty texts, names and
/// UUID, the function and its parent from the ancestry, the span's start as
/// `span_event_timestamp`.
pub(super) fn ancestry_row(
    example: usize,
    event_type: EventType,
    event_timestamp: f64,
    anc: &Ancestry,
) -> Row {
    let mut r = Row::new(event_type, event_timestamp, example);
    r.set_span_event_timestamp(anc.start);
    r.llm_text_input = Some(Text::new());
    r.llm_text_output = Some(Text::new());
    r.llm_new_token = Some(Text::new());
    r.llm_name = Some(Text::new());
    r.tool_name = Some(Text::new());
    r.function_name = Some(anc.function_name.clone());
    r.function_id = Some(anc.function_id.clone());
    r.parent_function_name = Some(anc.parent_name.clone());
    r.parent_function_id = Some(anc.parent_id.clone());
    r.uuid = Some(Text::new());
    r.framework = anc.framework.clone();
    r
}

/// The rows of trajectory number `example`, appended to `rows`.
pub fn trajectory_rows(t: &Trajectory, example: usize, names: &mut Interner, rows: &mut Vec<Row>) {
    let mut b = RowBuilder { names, example };
    let mut last_user = Text::new();
    for (si, step) in t.steps.iter().enumerate() {
        let ts = ts(step);
        let msg = Text::from(text(Some(&step.message)));
        match step.source.as_str() {
            "user" => {
                last_user = msg.clone();
                let anc = b.ancestry(step, None);
                let mut r = b.row(EventType::WORKFLOW_START, ts, &anc);
                r.llm_text_input = Some(msg);
                rows.push(r);
            }
            "agent" => {
                let step_anc = b.ancestry(step, None);
                if let (Some(calls), Some(obs)) = (&step.tool_calls, &step.observation) {
                    if !calls.is_empty() {
                        for (i, call) in calls.iter().enumerate() {
                            let tool_anc = b.ancestry(step, Some(i));
                            if tool_anc.start.is_none() {
                                continue;
                            }
                            // obs_by_id: the last result with this source_call_id wins.
                            let content = obs
                                .results
                                .iter()
                                .rev()
                                .find(|r| {
                                    r.source_call_id.as_deref() == Some(call.tool_call_id.as_str())
                                })
                                .map(|r| text(r.content.as_ref()))
                                .unwrap_or_default();
                            let mut r = b.row(EventType::TOOL_END, ts, &tool_anc);
                            r.tool_name = Some(b.names.get(&call.function_name));
                            r.call = r.tool_name.clone();
                            r.llm_text_output = Some(content.into());
                            r.uuid = Some(b.names.get(&row_uuid(example, si, i + 1)));
                            rows.push(r);
                        }
                    }
                }
                let has_calls = step.tool_calls.as_ref().is_some_and(|c| !c.is_empty());
                if let Some(m) = &step.metrics {
                    let uuid = b.names.get(&row_uuid(example, si, 0));
                    let (p, c, cached) = (
                        m.prompt_tokens.unwrap_or(0),
                        m.completion_tokens.unwrap_or(0),
                        m.cached_tokens.unwrap_or(0),
                    );
                    let model = step.model_name.as_deref().unwrap_or("");
                    if let Some(start) = step_anc.start {
                        let mut r = b.row(EventType::LLM_START, start, &step_anc);
                        r.llm_text_input = Some(last_user.clone());
                        r.llm_name = Some(b.names.get(model));
                        r.uuid = Some(uuid.clone());
                        rows.push(r);
                    }
                    let mut r = b.row(EventType::LLM_END, ts, &step_anc);
                    r.llm_text_output = Some(msg);
                    r.llm_name = Some(b.names.get(model));
                    r.set_prompt_tokens(Some(p));
                    r.set_completion_tokens(Some(c));
                    r.set_total_tokens(Some(p.saturating_add(c).saturating_add(cached)));
                    r.set_cached_tokens(Some(cached));
                    r.uuid = Some(uuid);
                    rows.push(r);
                } else if !msg.is_empty() && !has_calls && step.observation.is_none() {
                    let mut r = b.row(EventType::WORKFLOW_END, ts, &step_anc);
                    r.llm_text_output = Some(msg);
                    rows.push(r);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// The row UUID is the `format!` it stands for, whatever the numbers' sizes.
        #[test]
        fn row_uuid_is_the_hex_format(
            example in proptest::prop_oneof![0usize..300_000, proptest::num::usize::ANY],
            step in proptest::prop_oneof![0usize..70_000, proptest::num::usize::ANY],
            call in proptest::prop_oneof![0usize..100, proptest::num::usize::ANY],
        ) {
            let want = format!(
                "{example:08x}-{:04x}-4000-8000-{call:012x}",
                step.min(0xffff)
            );
            proptest::prop_assert_eq!(super::row_uuid(example, step, call), want);
        }
    }

    use super::*;
    use crate::frame::Frame;
    use serde_json::json;

    fn frame_of(steps: Value) -> Frame {
        super::super::test_frame(steps, super::super::Builder::Pr1751)
    }

    fn anc(f: &str) -> Value {
        json!({"function_id": format!("{f}-id"), "function_name": f, "parent_id": "root", "parent_name": "root"})
    }

    fn kinds(f: &Frame) -> Vec<&'static str> {
        f.rows.iter().map(|r| r.event_type.as_str()).collect()
    }

    #[test]
    fn user_step_is_workflow_start_with_its_message() {
        let f = frame_of(
            json!([{"step_id": 1, "source": "user", "message": "q?", "timestamp": "2026-01-01T00:00:01Z",
                                 "extra": {"ancestry": anc("wf")}}]),
        );
        assert_eq!(kinds(&f), ["WORKFLOW_START"]);
        assert_eq!(f.rows[0].llm_text_input.as_deref(), Some("q?"));
        assert_eq!(f.rows[0].event_timestamp, 1767225601.0);
        assert_eq!(f.rows[0].function_name.as_deref(), Some("wf"));
        assert_eq!(
            f.rows[0].prompt_tokens(),
            None,
            "tokens are NaN on non-LLM rows"
        );
    }

    #[test]
    fn metrics_make_llm_start_only_with_an_invocation_start_and_double_count_cached() {
        let f = frame_of(json!([
            {"step_id": 1, "source": "user", "message": "question", "extra": {"ancestry": anc("wf")}},
            {"step_id": 2, "source": "agent", "message": "answer", "model_name": "m", "timestamp": "2026-01-01T00:00:02Z",
             "metrics": {"prompt_tokens": 100, "completion_tokens": 10, "cached_tokens": 64},
             "extra": {"ancestry": anc("agent"), "invocation": {"start_timestamp": 1767225601.5, "end_timestamp": 1767225602.0}}},
            {"step_id": 3, "source": "agent", "message": "again", "model_name": "m",
             "metrics": {"prompt_tokens": 5}, "extra": {"ancestry": anc("agent")}}
        ]));
        assert_eq!(
            kinds(&f),
            ["WORKFLOW_START", "LLM_START", "LLM_END", "LLM_END"]
        );
        let (start, end) = (&f.rows[1], &f.rows[2]);
        assert_eq!(start.event_timestamp, 1767225601.5);
        assert_eq!(
            start.llm_text_input.as_deref(),
            Some("question"),
            "the user's question, not the prompt"
        );
        assert_eq!(start.uuid, end.uuid);
        assert_eq!(
            end.total_tokens(),
            Some(174),
            "prompt + completion + cached"
        );
        assert_eq!(end.llm_text_output.as_deref(), Some("answer"));
        assert_eq!(
            f.rows[3].event_timestamp, 0.0,
            "missing timestamp reads as 0.0"
        );
    }

    #[test]
    fn tool_calls_with_observation_become_tool_end_rows_at_the_step_time() {
        let f = frame_of(json!([{
            "step_id": 1, "source": "agent", "message": "", "timestamp": "2026-01-01T00:00:05Z",
            "tool_calls": [{"tool_call_id": "c1", "function_name": "search", "arguments": {}},
                           {"tool_call_id": "c2", "function_name": "calc", "arguments": {}}],
            "observation": {"results": [{"source_call_id": "c2", "content": "4"}, {"source_call_id": "c1", "content": [{"type": "text", "text": "hit"}]}]},
            "extra": {"ancestry": anc("agent"),
                      "tool_ancestry": [anc("search"), anc("calc")],
                      "tool_invocations": [{"start_timestamp": 1767225603.0, "end_timestamp": 1767225604.0, "framework": "langchain"}]}
        }]));
        // c2 has no invocation start: skipped. The message is empty and there are tool calls: no WORKFLOW_END.
        assert_eq!(kinds(&f), ["TOOL_END"]);
        let r = &f.rows[0];
        assert_eq!(
            r.event_timestamp, 1767225605.0,
            "the step's time, not the tool's"
        );
        assert_eq!(r.span_event_timestamp(), Some(1767225603.0));
        assert_eq!(r.tool_name.as_deref(), Some("search"));
        assert_eq!(r.llm_text_output.as_deref(), Some("hit"));
        assert_eq!(r.framework.as_deref(), Some("langchain"));
    }

    #[test]
    fn message_only_agent_step_is_workflow_end() {
        let f = frame_of(
            json!([{"step_id": 1, "source": "agent", "message": "done", "extra": {"ancestry": anc("wf")}},
                                {"step_id": 2, "source": "agent", "message": ""},
                                {"step_id": 3, "source": "system", "message": "ignored"}]),
        );
        assert_eq!(kinds(&f), ["WORKFLOW_END"]);
        assert_eq!(f.rows[0].llm_text_output.as_deref(), Some("done"));
    }
}
