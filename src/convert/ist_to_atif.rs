//! IST → ATIF with the semantics of NAT 1.9.0's `IntermediateStepToATIFConverter.convert`
//! (`nat/utils/atif_converter.py`), applied to steps loaded from JSON.
//!
//! The rules, in NAT's order:
//! - steps are sorted by `event_timestamp` (stable); step ids count from 1;
//! - `WORKFLOW_START` → a `user` step (message = the user input; agent name = its function
//!   name unless `root`);
//! - `LLM_END` → flushes the pending turn and opens a new pending `agent` turn (message =
//!   `str(data.output)`, model = payload name, metrics unless prompt, completion and total
//!   are all 0, with zero counts omitted and `reasoning_tokens` in `metrics.extra`);
//! - `TOOL_END` and `FUNCTION_END` → a tool call + observation on the pending turn (or a
//!   standalone agent step when none is pending), ordered by `span_event_timestamp or
//!   event_timestamp`; calls named `<workflow>` are dropped;
//! - `WORKFLOW_END` → flush, then a terminal agent step when the output is non-empty and
//!   differs from the last agent message or is later than it;
//! - every other event is dropped.
//!
//! Known, deliberate differences are listed in [`crate::differences`].

use serde_json::{Map, Value};

use crate::pyfmt::{epoch_to_iso, iso_to_epoch, py_str, truthy};
use crate::trace::atif::{
    Agent, FinalMetrics, Message, Metrics, Observation, ObservationResult, Step, ToolCall,
    Trajectory, NAT_VERSION,
};
use crate::trace::ist::{EventType, IntermediateStep, RawJson};

use super::pyliteral::literal_eval;

/// Options of one conversion.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// NAT's `agent_name` argument; `None` = NAT's default (`nat-agent`, or the
    /// WORKFLOW_START function name when it is not `root`).
    pub agent_name: Option<String>,
    /// The losses to put back (`--keep`; none = NAT's converter output, byte for byte).
    pub keep: crate::loss::Keep,
}

/// Why a request could not be converted (NAT raises in the same places).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error("step with UUID {uuid}: event_timestamp {ts} is outside the range of a datetime")]
    /// A timestamp no datetime holds (NAT's converter raises).
    TimestampOutOfRange {
        /// The step's UUID.
        uuid: String,
        /// Its `event_timestamp`.
        ts: f64,
    },
}

/// NAT's `_extract_user_input` for a JSON-decoded `data.input`.
fn extract_user_input(value: &Value) -> String {
    if let Value::String(s) = value {
        return s.clone();
    }
    if let Value::Object(obj) = value {
        if let Some(m) = obj.get("input_message").filter(|v| truthy(v)) {
            return py_str(m);
        }
        if let Some(Value::Array(msgs)) = obj.get("messages") {
            let mut last_user: Option<&Value> = None;
            for m in msgs {
                if let Value::Object(m) = m {
                    if m.get("role").and_then(Value::as_str) == Some("user") {
                        last_user = Some(m.get("content").unwrap_or(&EMPTY_STR));
                    }
                }
            }
            if let Some(u) = last_user.filter(|v| truthy(v)) {
                return py_str(u);
            }
        }
    }
    py_str(value)
}

static EMPTY_STR: Value = Value::String(String::new());

/// NAT's `_parse_tool_arguments`: a dict as is; a string holding a JSON object or a Python
/// dict literal, parsed; any other non-empty string or value wrapped as `{"input": …}`.
pub fn parse_tool_arguments(raw: Option<&Value>) -> Value {
    match raw {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(m)) => Value::Object(m.clone()),
        Some(Value::String(s)) => {
            if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(s) {
                return Value::Object(m);
            }
            if let Some(Value::Object(m)) = literal_eval(s) {
                return Value::Object(m);
            }
            let mut m = Map::new();
            if !s.is_empty() {
                m.insert("input".into(), Value::String(s.clone()));
            }
            Value::Object(m)
        }
        Some(other) => {
            let mut m = Map::new();
            m.insert("input".into(), Value::String(py_str(other)));
            Value::Object(m)
        }
    }
}

/// `AtifAncestry(...).model_dump(exclude_none=True)`.
pub(super) fn ancestry(step: &IntermediateStep) -> Value {
    let a = &step.function_ancestry;
    let mut m = Map::new();
    m.insert("function_id".into(), a.function_id.clone().into());
    m.insert("function_name".into(), a.function_name.clone().into());
    if let Some(p) = &a.parent_id {
        m.insert("parent_id".into(), p.clone().into());
    }
    if let Some(p) = &a.parent_name {
        m.insert("parent_name".into(), p.clone().into());
    }
    Value::Object(m)
}

/// `AtifInvocationInfo(...).model_dump(exclude_none=True)` of `_atif_invocation_from_ist`.
fn invocation(step: &IntermediateStep, invocation_id: Option<&str>) -> Value {
    let mut m = Map::new();
    if let Some(start) = step.payload.span_event_timestamp {
        m.insert("start_timestamp".into(), f64_value(start));
        m.insert("end_timestamp".into(), f64_value(step.ts()));
    }
    if let Some(id) = invocation_id {
        m.insert("invocation_id".into(), id.into());
    }
    m.insert("status".into(), "completed".into());
    if let Some(fw) = &step.payload.framework {
        m.insert("framework".into(), fw.clone().into());
    }
    Value::Object(m)
}

pub(super) fn f64_value(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// `_extract_metrics`.
fn extract_metrics(step: &IntermediateStep) -> Option<Metrics> {
    let usage = step.payload.usage_info.as_ref()?;
    let tu = &usage.token_usage;
    if tu.prompt_tokens == 0 && tu.completion_tokens == 0 && tu.total_tokens == 0 {
        return None;
    }
    let nz = |v: i64| (v != 0).then_some(v);
    let extra = (tu.reasoning_tokens != 0).then(|| {
        let mut m = Map::new();
        m.insert("reasoning_tokens".into(), tu.reasoning_tokens.into());
        m
    });
    Some(Metrics {
        prompt_tokens: nz(tu.prompt_tokens),
        completion_tokens: nz(tu.completion_tokens),
        cached_tokens: nz(tu.cached_tokens),
        extra,
        ..Default::default()
    })
}

/// One observed TOOL_END / FUNCTION_END.
struct Observed {
    /// Its index in the request's steps.
    ist: usize,
    order_key: f64,
    call: ToolCall,
    result: ObservationResult,
    ancestry: Value,
    invocation: Value,
}

/// `_record_observed_invocation` (None for the suppressed `<workflow>` wrapper).
fn observe(step: &IntermediateStep, ist: usize) -> Option<Observed> {
    let name = step.atif_call_name()?;
    let (args, output) = match &step.payload.data {
        Some(d) => (
            parse_tool_arguments(d.input.as_ref().map(RawJson::value).as_ref()),
            d.output.as_ref().map_or_else(String::new, RawJson::py_str),
        ),
        None => (Value::Object(Map::new()), String::new()),
    };
    let call_id = format!("call_{}", step.uuid());
    let span = step.payload.span_event_timestamp.filter(|t| *t != 0.0);
    Some(Observed {
        ist,
        order_key: span.unwrap_or(step.ts()),
        call: ToolCall {
            tool_call_id: call_id.clone(),
            function_name: name.to_string(),
            arguments: args,
            extra: None,
            unknown: Map::new(),
        },
        result: ObservationResult {
            source_call_id: Some(call_id.clone()),
            content: Some(Message::Text(output)),
            subagent_trajectory_ref: None,
            extra: None,
            unknown: Map::new(),
        },
        ancestry: ancestry(step),
        invocation: invocation(step, Some(&call_id)),
    })
}

struct Pending {
    message: String,
    timestamp: f64,
    model_name: Option<String>,
    metrics: Option<Metrics>,
    ancestry: Value,
    invocation: Value,
    uuid: String,
    observed: Vec<Observed>,
    /// The LLM_END's index in the request's steps.
    ist: usize,
    /// Events with no step of their own seen while the turn was pending.
    orphans: Vec<usize>,
}

/// Which of a request's steps (indices) each output step stands for, and which events with
/// no step of their own happened while it was current: what `--keep` places on it.
#[derive(Debug, Default)]
pub(super) struct Provenance {
    /// One per output step.
    pub steps: Vec<StepProvenance>,
    /// Events before the first output step.
    pub early: Vec<usize>,
}

/// What one output step stands for.
#[derive(Debug, Default, Clone)]
pub(super) struct StepProvenance {
    /// The event the step stands for (WORKFLOW_START, LLM_END, WORKFLOW_END; none for a
    /// tool call's own step).
    pub anchor: Option<usize>,
    /// The TOOL_END / FUNCTION_END each tool call stands for, in call order.
    pub calls: Vec<usize>,
    /// Events with no step of their own that happened while this step was current.
    pub orphans: Vec<usize>,
}

impl Provenance {
    /// Record an event that no step stands for, on the current step.
    fn orphan(&mut self, pending: &mut Option<Pending>, i: usize) {
        match (pending.as_mut(), self.steps.last_mut()) {
            (Some(p), _) => p.orphans.push(i),
            (None, Some(s)) => s.orphans.push(i),
            (None, None) => self.early.push(i),
        }
    }
}

fn iso(step_uuid: &str, ts: f64) -> Result<String, ConvertError> {
    epoch_to_iso(ts).ok_or_else(|| ConvertError::TimestampOutOfRange {
        uuid: step_uuid.to_string(),
        ts,
    })
}

fn blank_step(step_id: i64, source: &str, message: String, timestamp: String) -> Step {
    Step {
        step_id,
        timestamp: Some(timestamp),
        source: source.into(),
        model_name: None,
        reasoning_effort: None,
        message: Message::Text(message),
        reasoning_content: None,
        tool_calls: None,
        observation: None,
        metrics: None,
        is_copied_context: None,
        extra: None,
        llm_call_count: None,
        unknown: Map::new(),
    }
}

fn base_extra(step: &IntermediateStep) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ancestry".into(), ancestry(step));
    m.insert("invocation".into(), invocation(step, None));
    m
}

/// NAT's agent before the trajectory's steps name it (`nat-agent`, version 0.0.0).
fn nat_agent(opts: &ConvertOptions) -> Agent {
    Agent {
        name: opts
            .agent_name
            .clone()
            .unwrap_or_else(|| "nat-agent".into()),
        version: "0.0.0".into(),
        model_name: None,
        tool_definitions: None,
        extra: None,
        unknown: Map::new(),
    }
}

/// NAT's trajectory shell: schema version, session id and agent, no steps yet.
fn empty_trajectory(session_id: &str, agent: &Agent) -> Trajectory {
    Trajectory {
        schema_version: NAT_VERSION.into(),
        session_id: Some(session_id.into()),
        trajectory_id: None,
        agent: agent.clone(),
        steps: vec![],
        notes: None,
        final_metrics: None,
        continued_trajectory_ref: None,
        extra: None,
        subagent_trajectories: None,
        unknown: Map::new(),
    }
}

/// NAT's `final_metrics`: token totals (absent when 0) and the agent steps, or none when all
/// are 0.
fn final_metrics(
    (prompt, completion, cached): (i64, i64, i64),
    out: &[Step],
) -> Option<FinalMetrics> {
    let agent_steps = out.iter().filter(|s| s.source == "agent").count() as i64;
    if prompt == 0 && completion == 0 && cached == 0 && agent_steps == 0 {
        return None;
    }
    let nz = |v: i64| (v != 0).then_some(v);
    Some(FinalMetrics {
        total_prompt_tokens: nz(prompt),
        total_completion_tokens: nz(completion),
        total_cached_tokens: nz(cached),
        total_steps: Some(agent_steps),
        ..Default::default()
    })
}

/// Close the pending LLM turn: its agent step, with the tool and function calls observed
/// while it was pending, sorted, as its tool calls and observation.
fn flush_pending(
    pending: &mut Option<Pending>,
    out: &mut Vec<Step>,
    prov: &mut Provenance,
) -> Result<(), ConvertError> {
    let Some(mut p) = pending.take() else {
        return Ok(());
    };
    p.observed.sort_by(|a, b| {
        a.order_key
            .partial_cmp(&b.order_key)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut step = blank_step(
        out.len() as i64 + 1,
        "agent",
        p.message,
        iso(&p.uuid, p.timestamp)?,
    );
    step.model_name = p.model_name;
    step.metrics = p.metrics;
    let mut extra = Map::new();
    extra.insert("ancestry".into(), p.ancestry);
    extra.insert("invocation".into(), p.invocation);
    extra.insert(
        "tool_ancestry".into(),
        Value::Array(p.observed.iter().map(|o| o.ancestry.clone()).collect()),
    );
    prov.steps.push(StepProvenance {
        anchor: Some(p.ist),
        calls: p.observed.iter().map(|o| o.ist).collect(),
        orphans: p.orphans,
    });
    if !p.observed.is_empty() {
        extra.insert(
            "tool_invocations".into(),
            Value::Array(p.observed.iter().map(|o| o.invocation.clone()).collect()),
        );
        step.observation = Some(Observation {
            results: p.observed.iter().map(|o| o.result.clone()).collect(),
            unknown: Map::new(),
        });
        step.tool_calls = Some(p.observed.into_iter().map(|o| o.call).collect());
    }
    step.extra = Some(extra);
    out.push(step);
    Ok(())
}

/// A tool or function call seen with no LLM turn pending: an agent step of its own (step
/// `n_steps + 1`).
fn lone_tool_step(
    ist: &IntermediateStep,
    obs: Observed,
    n_steps: usize,
) -> Result<Step, ConvertError> {
    let mut step = blank_step(
        n_steps as i64 + 1,
        "agent",
        String::new(),
        iso(ist.uuid(), ist.ts())?,
    );
    let mut extra = base_extra(ist);
    extra.insert(
        "tool_invocations".into(),
        Value::Array(vec![obs.invocation]),
    );
    extra.insert("tool_ancestry".into(), Value::Array(vec![obs.ancestry]));
    step.extra = Some(extra);
    step.tool_calls = Some(vec![obs.call]);
    step.observation = Some(Observation {
        results: vec![obs.result],
        unknown: Map::new(),
    });
    Ok(step)
}

/// The WORKFLOW_END's final answer as an agent step, unless it repeats the last agent
/// message (NAT's rule: emitted when it differs, or when it comes later).
fn final_output_step(ist: &IntermediateStep, out: &[Step]) -> Result<Option<Step>, ConvertError> {
    let final_output = ist
        .payload
        .data
        .as_ref()
        .and_then(|d| d.output.as_ref())
        .map_or_else(String::new, RawJson::py_str);
    let last_agent = out.iter().rev().find(|s| s.source == "agent");
    let last_msg = last_agent.map(|s| s.message.text()).unwrap_or_default();
    let last_ts = last_agent
        .and_then(|s| s.timestamp.as_deref())
        .and_then(iso_to_epoch);
    let emit = !final_output.is_empty()
        && (final_output != last_msg || last_ts.is_some_and(|t| ist.ts() > t));
    if !emit {
        return Ok(None);
    }
    let mut step = blank_step(
        out.len() as i64 + 1,
        "agent",
        final_output,
        iso(ist.uuid(), ist.ts())?,
    );
    step.extra = Some(base_extra(ist));
    Ok(Some(step))
}

/// Convert one request's steps into one trajectory (with `opts.keep`'s losses put back).
pub fn convert_request(
    steps: &[IntermediateStep],
    session_id: &str,
    opts: &ConvertOptions,
) -> Result<Trajectory, ConvertError> {
    let (mut traj, prov) = convert_traced(steps, session_id, opts)?;
    if !opts.keep.is_empty() {
        super::fidelity::keep(&mut traj, steps, &prov, opts.keep);
    }
    Ok(traj)
}

/// NAT's conversion, and which steps each output step stands for.
///
/// Kept in one piece: it follows NAT's `IntermediateStepToATIFConverter.convert` loop branch
/// for branch, so it reads against NAT's source; each branch's body is a function.
fn convert_traced(
    steps: &[IntermediateStep],
    session_id: &str,
    opts: &ConvertOptions,
) -> Result<(Trajectory, Provenance), ConvertError> {
    let mut agent = nat_agent(opts);
    let mut traj = empty_trajectory(session_id, &agent);
    let mut prov = Provenance::default();
    if steps.is_empty() {
        return Ok((traj, prov));
    }
    let mut sorted: Vec<usize> = (0..steps.len()).collect();
    sorted.sort_by(|&a, &b| {
        steps[a]
            .ts()
            .partial_cmp(&steps[b].ts())
            .unwrap_or(std::cmp::Ordering::Equal)
    });

    let mut out: Vec<Step> = Vec::new();
    let mut pending: Option<Pending> = None;
    let (mut total_prompt, mut total_completion, mut total_cached) = (0i64, 0i64, 0i64);

    for i in sorted {
        let ist = &steps[i];
        let data = ist.payload.data.as_ref();
        match ist.event_type() {
            EventType::WORKFLOW_START => {
                let user_input = data
                    .and_then(|d| d.input.as_ref())
                    .map_or_else(String::new, |v| extract_user_input(&v.value()));
                if opts.agent_name.is_none() {
                    let f = &ist.function_ancestry.function_name;
                    if !f.is_empty() && f != "root" {
                        agent.name = f.clone();
                    }
                }
                let mut step = blank_step(
                    out.len() as i64 + 1,
                    "user",
                    user_input,
                    iso(ist.uuid(), ist.ts())?,
                );
                step.extra = Some(base_extra(ist));
                out.push(step);
                prov.steps.push(StepProvenance {
                    anchor: Some(i),
                    ..Default::default()
                });
            }
            EventType::WORKFLOW_END => {
                flush_pending(&mut pending, &mut out, &mut prov)?;
                if let Some(step) = final_output_step(ist, &out)? {
                    out.push(step);
                    prov.steps.push(StepProvenance {
                        anchor: Some(i),
                        ..Default::default()
                    });
                } else {
                    prov.orphan(&mut pending, i);
                }
            }
            EventType::LLM_END => {
                flush_pending(&mut pending, &mut out, &mut prov)?;
                let llm_output = data
                    .and_then(|d| d.output.as_ref())
                    .map_or_else(String::new, RawJson::py_str);
                let metrics = extract_metrics(ist);
                if let Some(m) = &metrics {
                    total_prompt = total_prompt.saturating_add(m.prompt_tokens.unwrap_or(0));
                    total_completion =
                        total_completion.saturating_add(m.completion_tokens.unwrap_or(0));
                    total_cached = total_cached.saturating_add(m.cached_tokens.unwrap_or(0));
                }
                if let Some(name) = ist.name().filter(|n| !n.is_empty()) {
                    if agent.model_name.is_none() {
                        agent.model_name = Some(name.to_string());
                    }
                }
                pending = Some(Pending {
                    message: llm_output,
                    timestamp: ist.ts(),
                    model_name: ist.name().map(str::to_string),
                    metrics,
                    ancestry: ancestry(ist),
                    invocation: invocation(ist, None),
                    uuid: ist.uuid().to_string(),
                    observed: vec![],
                    ist: i,
                    orphans: vec![],
                });
            }
            EventType::TOOL_END | EventType::FUNCTION_END => {
                let Some(obs) = observe(ist, i) else {
                    prov.orphan(&mut pending, i);
                    continue;
                };
                if let Some(p) = pending.as_mut() {
                    p.observed.push(obs);
                } else {
                    let ist_index = obs.ist;
                    out.push(lone_tool_step(ist, obs, out.len())?);
                    prov.steps.push(StepProvenance {
                        calls: vec![ist_index],
                        ..Default::default()
                    });
                }
            }
            _ => prov.orphan(&mut pending, i),
        }
    }
    flush_pending(&mut pending, &mut out, &mut prov)?;

    traj.final_metrics = final_metrics((total_prompt, total_completion, total_cached), &out);
    traj.agent = agent;
    traj.steps = out;
    Ok((traj, prov))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_arguments_follow_nat() {
        assert_eq!(parse_tool_arguments(None), json!({}));
        assert_eq!(
            parse_tool_arguments(Some(&json!("{\"a\": 1}"))),
            json!({"a": 1})
        );
        assert_eq!(
            parse_tool_arguments(Some(&json!("{'a': 12.0}"))),
            json!({"a": 12.0})
        );
        assert_eq!(
            parse_tool_arguments(Some(&json!("Paris"))),
            json!({"input": "Paris"})
        );
        assert_eq!(parse_tool_arguments(Some(&json!(""))), json!({}));
        assert_eq!(
            parse_tool_arguments(Some(&json!("[1, 2]"))),
            json!({"input": "[1, 2]"})
        );
        assert_eq!(
            parse_tool_arguments(Some(&json!([1, "x"]))),
            json!({"input": "[1, 'x']"})
        );
        assert_eq!(
            parse_tool_arguments(Some(&json!({"k": [1]}))),
            json!({"k": [1]})
        );
    }

    #[test]
    fn user_input_extraction_follows_nat() {
        assert_eq!(extract_user_input(&json!("hi")), "hi");
        assert_eq!(extract_user_input(&json!({"input_message": "q"})), "q");
        assert_eq!(
            extract_user_input(
                &json!({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]})
            ),
            "c"
        );
        assert_eq!(extract_user_input(&json!({"x": 1})), "{'x': 1}");
        assert_eq!(
            extract_user_input(&json!({"input_message": ""})),
            "{'input_message': ''}"
        );
    }
}
