//! The faithful ATIF → frame builder: recovers NAT 1.9.0's IST frame as closely as ATIF
//! allows, using everything NAT's converter keeps (ATIF v1.7 `extra`: ancestry and
//! invocation records of steps and tool calls, model names, token metrics).
//!
//! Rules (each has a test):
//! - user step → WORKFLOW_START; message-only agent step → WORKFLOW_END (ISO times: NAT
//!   records no invocation times for these); their text columns stay `""` as in IST;
//! - agent step with `metrics` or `model_name` → LLM_START at the invocation start and
//!   LLM_END at the invocation end (exact floats), `total_tokens = prompt + completion`
//!   (cached counted once), zero-usage calls kept (NAT's converter drops their metrics);
//! - every tool call → a START/END pair at its own invocation times, UUID = the
//!   `tool_call_id` without `call_` (NAT's converter keeps the IST UUID there), typed:
//!   * FUNCTION when its ancestry names the call itself and it has no framework (a NAT
//!     function's own span);
//!   * TOOL when another call of the trajectory is such a function span of the same name,
//!     or when its ancestry names itself but it ran under a framework;
//!   * FUNCTION otherwise (framework-internal runnables: `agent`, `RunnableSequence`, …);
//! - a NAT-function span without times takes its TOOL twin's times (same step, same name),
//!   starting after the last tool launch of the step; one without a twin spans its
//!   descendants (zero-length at the step time when it has none);
//! - functions named in the ancestry but with no span of their own (the `<workflow>`
//!   function, whose calls the converter suppresses) → FUNCTION_START/END spanning the rows
//!   they contain;
//! - rows sorted by time (stable), every token column an integer as in IST.
//!
//! What ATIF cannot give back is listed in [`LOSSES`]. Where a trajectory keeps losses
//! (`convert --to atif --keep`, listed in its `extra.ist_losses_kept`), their records
//! override these rules (submodule `records`): with every loss kept, the frame is the IST frame.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use serde_json::Value;

use super::pr1751::{ancestry, ancestry_row, Ancestry};
use crate::event::EventType;
use crate::frame::from_ist::Interner;
use crate::frame::{Row, Text};
use crate::loss::Keep;
use crate::pyfmt::iso_to_epoch;
use crate::trace::atif::{Step, Trajectory};

pub use crate::loss::{Loss, LOSSES};

/// How far inside its tool a NAT function's reconstructed span starts and ends (1 µs).
const NESTING_EPSILON: f64 = 1e-6;

fn iso(step: &Step) -> f64 {
    step.timestamp
        .as_deref()
        .and_then(|t| iso_to_epoch(&t.replace('Z', "+00:00")))
        .unwrap_or(0.0)
}

struct Emit<'a> {
    names: &'a mut Interner,
    example: usize,
    rows: Vec<Row>,
    /// One per row: which step or call role it is, and its IST position when kept.
    meta: Vec<Meta>,
    /// The losses the trajectory keeps.
    keep: Keep,
}

/// Where a row came from, for the kept losses' records.
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    /// The step (and tool call) and role the row stands for; `None` for a rebuilt span.
    tag: Option<(Place, Role)>,
    /// The event's position in the IST request (loss `event-order`).
    seq: Option<u64>,
}

/// A step, or tool call `1` of step `0`.
type Place = (usize, Option<usize>);

/// The event of a step or tool call a row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The event the step or call stands for (its END, or WORKFLOW_START).
    Anchor,
    /// The START of its LLM call or tool call.
    Start,
}

impl Emit<'_> {
    fn push(&mut self, et: EventType, ts: f64, anc: &Ancestry, uuid: &str) -> &mut Row {
        let n = &mut *self.names;
        let span = if et.state() == crate::event::State::End {
            anc.start
        } else {
            None
        };
        let mut row = ancestry_row(self.example, et, ts, anc);
        row.set_span_event_timestamp(span);
        row.set_tokens((Some(0), Some(0), Some(0)));
        row.parent_function_name = row.parent_function_name.filter(|p| !p.is_empty());
        row.parent_function_id = row.parent_function_id.filter(|p| !p.is_empty());
        row.uuid = Some(n.get(uuid));
        row.set_cached_tokens(Some(0));
        self.rows.push(row);
        self.meta.push(Meta::default());
        self.rows.last_mut().expect("just pushed")
    }

    /// Say which step or call role the last row stands for.
    fn tag(&mut self, place: Place, role: Role) {
        if let Some(m) = self.meta.last_mut() {
            m.tag = Some((place, role));
        }
    }
}

struct CallRec {
    uuid: String,
    name: String,
    anc: Ancestry,
    step: usize,
    /// Its index among the step's tool calls.
    index: usize,
    self_span: bool,
    self_tool: bool,
    /// TOOL_END or FUNCTION_END when the trajectory keeps `event-kinds`.
    kind: Option<EventType>,
}

/// An LLM-backed agent step's LLM_START and LLM_END rows (the step's span times when kept,
/// else its timestamp).
fn push_llm(e: &mut Emit, si: usize, step: &Step, uuid: &str, ts: f64, anc: &Ancestry) {
    let model = step.model_name.clone().unwrap_or_default();
    let (p, c, cached) = step.metrics.as_ref().map_or((0, 0, 0), |m| {
        (
            m.prompt_tokens.unwrap_or(0),
            m.completion_tokens.unwrap_or(0),
            m.cached_tokens.unwrap_or(0),
        )
    });
    let start = anc.start.unwrap_or(ts);
    let end = anc.end.unwrap_or(ts);
    let model = e.names.get(&model);
    let r = e.push(EventType::LLM_START, start, anc, uuid);
    r.llm_name = Some(model.clone());
    e.tag((si, None), Role::Start);
    let r = e.push(EventType::LLM_END, end, anc, uuid);
    r.llm_name = Some(model);
    r.llm_text_output = Some(step.message.text().into());
    r.set_prompt_tokens(Some(p));
    r.set_completion_tokens(Some(c));
    r.set_total_tokens(Some(p.saturating_add(c)));
    r.set_cached_tokens(Some(cached));
    e.tag((si, None), Role::Anchor);
}

/// The tool calls of agent step `si`, recorded for the rows written after every step is seen.
fn record_calls(
    step: &Step,
    si: usize,
    (keep, names): (Keep, &mut Interner),
    calls: &mut Vec<CallRec>,
) {
    for (i, call) in step.tool_calls.iter().flatten().enumerate() {
        let a = ancestry(names, step, Some(i));
        let uuid = call
            .tool_call_id
            .strip_prefix("call_")
            .unwrap_or(&call.tool_call_id)
            .to_string();
        // A NAT function's own span names itself and has no framework; a call
        // that names itself but ran under a framework is that framework's tool.
        let named_self = a.function_name == call.function_name;
        let self_span = named_self && a.framework.is_none();
        let self_tool = named_self && a.framework.is_some();
        let kind = if keep.has("event-kinds") {
            kept_records(call.extra.as_ref(), keep, "anchor")
                .first()
                .and_then(|r| r.get("event_type"))
                .and_then(Value::as_str)
                .and_then(EventType::parse)
        } else {
            None
        };
        calls.push(CallRec {
            uuid,
            name: call.function_name.clone(),
            anc: a,
            step: si,
            index: i,
            self_span,
            self_tool,
            kind,
        });
    }
}

/// The times of a NAT function inside its tool twin `(s, t)`: in IST it starts after every
/// tool of the batch was launched (`launches`: parallel calls), and ends before its tool.
fn inside_twin((s, t): (f64, f64), launches: Option<&Vec<f64>>) -> (f64, f64) {
    let launched = launches
        .into_iter()
        .flatten()
        .copied()
        .filter(|&x| x < t)
        .fold(s, f64::max);
    let start = launched + NESTING_EPSILON;
    (start, (t - NESTING_EPSILON).max(start))
}

/// A call's START and END rows: a TOOL span (named) or a FUNCTION span.
fn push_span(e: &mut Emit, c: &CallRec, is_tool: bool, start: f64, end: f64) {
    let (st, en) = if is_tool {
        (EventType::TOOL_START, EventType::TOOL_END)
    } else {
        (EventType::FUNCTION_START, EventType::FUNCTION_END)
    };
    let mut a = c.anc.clone();
    a.start = Some(start);
    let tool_name = is_tool.then(|| e.names.get(&c.name));
    let r = e.push(st, start, &a, &c.uuid);
    if let Some(n) = &tool_name {
        r.tool_name = Some(n.clone());
    }
    e.tag((c.step, Some(c.index)), Role::Start);
    let call = e.names.get(&c.name);
    let r = e.push(en, end, &a, &c.uuid);
    if let Some(n) = tool_name {
        r.tool_name = Some(n);
    }
    r.call = Some(call);
    e.tag((c.step, Some(c.index)), Role::Anchor);
}

/// The rows of the trajectory's tool and function calls, once every step is seen: a call
/// is a TOOL or a FUNCTION span; a NAT function without times takes its tool twin's (inside
/// it, after the batch's launches), or spans its descendants, or is zero-length at its step.
fn push_call_rows(e: &mut Emit, calls: &[CallRec], step_ts: &[f64]) {
    let function_names: HashSet<&str> = calls
        .iter()
        .filter(|c| c.self_span)
        .map(|c| c.name.as_str())
        .collect();
    // TOOL twins per (step, name), in order, for NAT-function spans without times.
    let mut twins: HashMap<(usize, &str), Vec<(f64, f64)>> = HashMap::default();
    for c in calls {
        if !c.self_span && function_names.contains(c.name.as_str()) {
            if let (Some(s), Some(t)) = (c.anc.start, c.anc.end) {
                twins
                    .entry((c.step, c.name.as_str()))
                    .or_default()
                    .push((s, t));
            }
        }
    }
    let mut tool_starts: HashMap<usize, Vec<f64>> = HashMap::default();
    for c in calls
        .iter()
        .filter(|c| !c.self_span && function_names.contains(c.name.as_str()))
    {
        if let Some(s) = c.anc.start {
            tool_starts.entry(c.step).or_default().push(s);
        }
    }
    let mut used: HashMap<(usize, &str), usize> = HashMap::default();
    let mut deferred: Vec<&CallRec> = Vec::new();
    for c in calls {
        let is_tool = match c.kind {
            Some(k) => k == EventType::TOOL_END,
            None => c.self_tool || (!c.self_span && function_names.contains(c.name.as_str())),
        };
        let has_twin = twins.contains_key(&(c.step, c.name.as_str()));
        // With the calls' times kept, every call has its own rows.
        let timed = e.keep.has("tool-start-time");
        if c.self_span && c.anc.start.is_none() && !has_twin && !timed {
            // A NAT function called directly (not as a tool): spans its descendants,
            // rebuilt below; zero-length at the step time if it has none.
            deferred.push(c);
            continue;
        }
        let (start, end) = match (c.anc.start, c.anc.end) {
            (Some(s), Some(t)) => (s, t),
            _ => {
                let k = used.entry((c.step, c.name.as_str())).or_insert(0);
                let twin = twins
                    .get(&(c.step, c.name.as_str()))
                    .and_then(|v| v.get(*k))
                    .copied();
                *k += 1;
                match twin {
                    Some(twin) => inside_twin(twin, tool_starts.get(&c.step)),
                    None => (step_ts[c.step], step_ts[c.step]),
                }
            }
        };
        push_span(e, c, is_tool, start, end);
    }
    if !e.keep.has("workflow-times") {
        // With the <workflow> span kept, every span the trace had is there.
        rebuild_function_spans(e);
    }
    for c in deferred {
        let call = Some(e.names.get(&c.name));
        let mut rebuilt = e
            .rows
            .iter_mut()
            .filter(|r| r.uuid.as_deref() == Some(c.uuid.as_str()))
            .peekable();
        if rebuilt.peek().is_some() {
            // The span rebuilt around its descendants: its END row stands for the call.
            if let Some(end) = rebuilt.find(|r| r.event_type.state() == crate::event::State::End) {
                end.call = call;
            }
        } else {
            let ts = step_ts[c.step];
            let mut a = c.anc.clone();
            a.start = Some(ts);
            e.push(EventType::FUNCTION_START, ts, &a, &c.uuid);
            e.push(EventType::FUNCTION_END, ts, &a, &c.uuid).call = call;
        }
    }
}

/// The rows of trajectory number `example`, appended to `all`.
pub fn trajectory_rows(t: &Trajectory, example: usize, names: &mut Interner, all: &mut Vec<Row>) {
    let keep = kept_losses(t);
    let mut e = Emit {
        names,
        example,
        rows: Vec::new(),
        meta: Vec::new(),
        keep,
    };
    let mut calls: Vec<CallRec> = Vec::new();
    for (si, step) in t.steps.iter().enumerate() {
        let ts = iso(step);
        let anc = ancestry(e.names, step, None);
        let uuid = super::pr1751::row_uuid(example, si, 0);
        match step.source.as_str() {
            "user" => {
                let r = e.push(EventType::WORKFLOW_START, ts, &anc, &uuid);
                r.set_span_event_timestamp(anc.start);
                e.tag((si, None), Role::Anchor);
            }
            "agent" => {
                let has_calls = step.tool_calls.as_ref().is_some_and(|c| !c.is_empty());
                let kind = if keep.has("event-kinds") {
                    kept_records(step.extra.as_ref(), keep, "anchor")
                        .first()
                        .and_then(|r| r.get("event_type"))
                        .and_then(Value::as_str)
                        .and_then(EventType::parse)
                } else if step.metrics.is_some() || step.model_name.is_some() {
                    Some(EventType::LLM_END)
                } else if !step.message.text().is_empty()
                    && !has_calls
                    && step.observation.is_none()
                {
                    Some(EventType::WORKFLOW_END)
                } else {
                    None
                };
                match kind {
                    Some(EventType::LLM_END) => push_llm(&mut e, si, step, &uuid, ts, &anc),
                    Some(EventType::WORKFLOW_END) => {
                        e.push(EventType::WORKFLOW_END, ts, &anc, &uuid);
                        e.tag((si, None), Role::Anchor);
                    }
                    _ => {}
                }
                record_calls(step, si, (keep, e.names), &mut calls);
            }
            _ => {}
        }
    }
    let step_ts: Vec<f64> = t.steps.iter().map(iso).collect();
    push_call_rows(&mut e, &calls, &step_ts);
    if !keep.is_empty() {
        records::apply(&mut e, t);
    }
    let order = records::order(&e.rows, &e.meta);
    let mut rows: Vec<Option<Row>> = e.rows.into_iter().map(Some).collect();
    all.extend(
        order
            .into_iter()
            .map(|i| rows[i].take().expect("each row once")),
    );
}

/// The losses a trajectory keeps (`extra.ist_losses_kept`; none for NAT's ATIF).
pub fn kept_losses(t: &Trajectory) -> Keep {
    crate::loss::kept(t.extra.as_ref())
}

use crate::loss::records as kept_records;

mod records;

/// Functions named in the ancestry that have no span of their own (e.g. `<workflow>`, or a
/// NAT function called directly): a FUNCTION_START/END pair around the rows they contain.
/// A row belongs to its ancestry function; a NAT function's own span belongs to its parent.
fn rebuild_function_spans(e: &mut Emit) {
    let have: HashSet<Text> = e.rows.iter().filter_map(|r| r.uuid.clone()).collect();
    // (id, name, parent id, parent name, start, end), in first-seen order.
    let mut spans: Vec<(Text, Text, Text, Text, f64, f64)> = Vec::new();
    for r in &e.rows {
        if matches!(
            r.event_type,
            EventType::WORKFLOW_START | EventType::WORKFLOW_END
        ) {
            continue;
        }
        let text = |t: &Option<Text>| t.clone().unwrap_or_default();
        let own_span = r.uuid.is_some() && r.uuid == r.function_id;
        let (id, name, pid, pname) = if own_span {
            (
                text(&r.parent_function_id),
                text(&r.parent_function_name),
                Text::new(),
                Text::new(),
            )
        } else {
            (
                text(&r.function_id),
                text(&r.function_name),
                text(&r.parent_function_id),
                text(&r.parent_function_name),
            )
        };
        if id.is_empty() || id.as_str() == "root" || have.contains(&id) {
            continue;
        }
        let ts = r.event_timestamp;
        match spans.iter_mut().find(|s| s.0 == id) {
            Some(s) => {
                s.4 = s.4.min(ts);
                s.5 = s.5.max(ts);
                if s.2.is_empty() && !pid.is_empty() {
                    (s.2, s.3) = (pid, pname);
                }
            }
            None => spans.push((id, name, pid, pname, ts, ts)),
        }
    }
    for (fid, fname, pid, pname, start, end) in spans {
        // Just outside the rows it contains, so it sorts around them.
        let (start, end) = (start - NESTING_EPSILON, end + NESTING_EPSILON);
        let anc = Ancestry {
            function_id: fid.clone(),
            function_name: fname,
            parent_id: pid,
            parent_name: pname,
            start: Some(start),
            end: Some(end),
            framework: None,
        };
        e.push(EventType::FUNCTION_START, start, &anc, &fid);
        e.push(EventType::FUNCTION_END, end, &anc, &fid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use serde_json::json;

    fn frame_of(steps: Value) -> Frame {
        super::super::test_frame(steps, super::super::Builder::Faithful)
    }

    fn anc(name: &str, id: &str, parent: &str) -> Value {
        json!({"function_id": id, "function_name": name, "parent_id": parent, "parent_name": "p"})
    }

    fn kinds(f: &Frame) -> Vec<(&'static str, String)> {
        f.rows
            .iter()
            .map(|r| {
                (
                    r.event_type.as_str(),
                    r.uuid.as_deref().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn llm_calls_use_invocation_times_count_cached_once_and_keep_zero_usage() {
        let f = frame_of(json!([
            {"step_id": 1, "source": "agent", "message": "out", "model_name": "m", "timestamp": "2026-01-01T00:00:02Z",
             "metrics": {"prompt_tokens": 100, "completion_tokens": 10, "cached_tokens": 64},
             "extra": {"ancestry": anc("wf", "w1", "root"), "invocation": {"start_timestamp": 1.25, "end_timestamp": 2.5}}},
            {"step_id": 2, "source": "agent", "message": "", "model_name": "m",
             "extra": {"ancestry": anc("wf", "w1", "root"), "invocation": {"start_timestamp": 3.0, "end_timestamp": 3.5}}}
        ]));
        let llm: Vec<&Row> = f
            .rows
            .iter()
            .filter(|r| r.llm_name.as_deref() == Some("m"))
            .collect();
        assert_eq!(llm.len(), 4, "the zero-usage call is kept");
        assert_eq!(
            (llm[0].event_timestamp, llm[1].event_timestamp),
            (1.25, 2.5)
        );
        assert_eq!(llm[1].total_tokens(), Some(110));
        assert_eq!(llm[1].llm_text_output.as_deref(), Some("out"));
        assert_eq!(llm[3].prompt_tokens(), Some(0));
    }

    #[test]
    fn tool_calls_are_typed_and_keep_their_ist_uuid() {
        let f = frame_of(json!([{
            "step_id": 1, "source": "agent", "message": "", "timestamp": "2026-01-01T00:00:09Z",
            "tool_calls": [
                {"tool_call_id": "call_T1", "function_name": "lookup", "arguments": {}},
                {"tool_call_id": "call_F1", "function_name": "lookup", "arguments": {}},
                {"tool_call_id": "call_R1", "function_name": "RunnableSequence", "arguments": {}},
                {"tool_call_id": "call_S1", "function_name": "search", "arguments": {}}
            ],
            "observation": {"results": []},
            "extra": {"ancestry": anc("wf", "w1", "root"),
                      "tool_ancestry": [anc("wf", "w1", "root"), anc("lookup", "F1", "w1"), anc("wf", "w1", "root"), anc("search", "S1", "w1")],
                      "tool_invocations": [{"start_timestamp": 5.0, "end_timestamp": 6.0, "framework": "langchain"},
                                           {"status": "completed"},
                                           {"start_timestamp": 4.0, "end_timestamp": 7.0, "framework": "langchain"},
                                           {"start_timestamp": 4.5, "end_timestamp": 4.75, "framework": "langchain"}]}
        }]));
        let k = kinds(&f);
        let find = |et: &str, u: &str| {
            f.rows
                .iter()
                .find(|r| r.event_type.as_str() == et && r.uuid.as_deref() == Some(u))
        };
        assert!(
            find("TOOL_START", "T1").is_some(),
            "{k:?}: twin of a NAT function span is the TOOL"
        );
        assert!(
            find("FUNCTION_START", "F1").is_some(),
            "{k:?}: names itself, no framework: a NAT function"
        );
        assert!(
            find("FUNCTION_END", "R1").is_some(),
            "{k:?}: framework internal"
        );
        assert!(
            find("TOOL_END", "S1").is_some(),
            "{k:?}: names itself under a framework: a tool"
        );
        // The NAT function borrows its tool's times, nested just inside.
        let fs = find("FUNCTION_START", "F1").unwrap().event_timestamp;
        let fe = find("FUNCTION_END", "F1").unwrap().event_timestamp;
        assert!(fs > 5.0 && fe < 6.0 && fs < fe, "{fs} {fe}");
        assert_eq!(
            find("TOOL_END", "T1").unwrap().span_event_timestamp(),
            Some(5.0)
        );
    }

    #[test]
    fn missing_function_spans_are_rebuilt_around_their_rows() {
        let f = frame_of(json!([
            {"step_id": 1, "source": "user", "message": "hi", "timestamp": "2026-01-01T00:00:00Z", "extra": {"ancestry": anc("root", "root", "")}},
            {"step_id": 2, "source": "agent", "message": "x", "model_name": "m", "metrics": {"prompt_tokens": 1},
             "extra": {"ancestry": anc("<workflow>", "W", "root"), "invocation": {"start_timestamp": 1767225601.0, "end_timestamp": 1767225602.0}}},
            {"step_id": 3, "source": "agent", "message": "done", "timestamp": "2026-01-01T00:00:03Z", "extra": {"ancestry": anc("root", "root", "")}}
        ]));
        let k: Vec<&str> = f.rows.iter().map(|r| r.event_type.as_str()).collect();
        assert_eq!(
            k,
            [
                "WORKFLOW_START",
                "FUNCTION_START",
                "LLM_START",
                "LLM_END",
                "FUNCTION_END",
                "WORKFLOW_END"
            ]
        );
        assert_eq!(f.rows[1].uuid.as_deref(), Some("W"));
        assert_eq!(
            f.rows[0].llm_text_input.as_deref(),
            Some(""),
            "IST keeps no text on WORKFLOW rows"
        );
        assert_eq!(f.rows[5].llm_text_output.as_deref(), Some(""));
    }
}
