//! ATOF → ATIF v1.7 with the semantics of NeMo Relay 0.10.4's `AtifExporter`
//! (`nemo_relay::observability::atif`), LLM-span dedupe by [`super::dedupe`].
//!
//! - Events are sorted by time (stable). Agent scopes (`category: agent`) form a tree: the
//!   root agent's steps make the trajectory, each child agent a `subagent_trajectories`
//!   entry referenced from the delegating tool call's observation.
//! - LLM start → a `user` step (message: the last user message; `extra.llm_request`) when
//!   the request starts a fresh user turn, else the request is kept for the agent step.
//!   LLM end → an `agent` step: message, model, tool calls promoted from the response,
//!   metrics (own, gaps filled from spans dedupe suppressed), `extra` with ancestry,
//!   invocation times (ms precision), request and response.
//! - Tool start/end → the observation results of the agent step that called them
//!   (correlated by `tool_call_id`, by name and arguments, or by name), tool ancestry and
//!   invocations on that step; observations that match no call → a `system` step.
//! - Suppressed LLM spans (dedupe) leave no step.
//!
//! Not covered (Relay reads them from in-memory codec annotations that ATOF files do not
//! carry): provider-normalised requests and responses beyond OpenAI chat, Anthropic messages
//! and `reasoning`, cost estimates, optimisation summaries. See `differences.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::dedupe::{dedupe, Dedupe, Mode};
use super::{
    extract_tool_calls, is_content_parts, llm_spans, metrics, normalize_arguments,
    response_message, unwrap_request, user_message, Event, Metrics, ToolCall,
};

/// Who the trajectory belongs to (Relay takes these from the exporter's constructor).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// The trajectory's `session_id` (and the root's `trajectory_id` when no agent scope is the root).
    pub session_id: String,
    /// `agent.name` of every trajectory.
    pub agent_name: String,
    /// `agent.version` of every trajectory.
    pub agent_version: String,
    /// The LLM-span dedupe rule applied before the steps are built.
    pub mode: Mode,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            session_id: "atof-session".into(),
            agent_name: "agent".into(),
            agent_version: "0.0.0".into(),
            mode: Mode::Relay,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct ObsResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    source_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subagent_trajectory_ref: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Observation {
    results: Vec<ObsResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Step {
    step_id: usize,
    source: String,
    message: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCall>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    observation: Option<Observation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    llm_call_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra: Option<Value>,
}

impl Step {
    fn new(source: &str, message: Value, timestamp: Option<String>) -> Step {
        Step {
            step_id: 0,
            source: source.into(),
            message,
            timestamp,
            model_name: None,
            reasoning_effort: None,
            reasoning_content: None,
            tool_calls: None,
            observation: None,
            metrics: None,
            llm_call_count: None,
            extra: None,
        }
    }
}

fn empty() -> Value {
    Value::String(String::new())
}

fn metrics_json(m: &Metrics) -> Value {
    let mut o = Map::new();
    if let Some(x) = m.prompt_tokens {
        o.insert("prompt_tokens".into(), x.into());
    }
    if let Some(x) = m.completion_tokens {
        o.insert("completion_tokens".into(), x.into());
    }
    if let Some(x) = m.cached_tokens {
        o.insert("cached_tokens".into(), x.into());
    }
    if !m.extra.is_empty() {
        o.insert("extra".into(), Value::Object(m.extra.clone()));
    }
    Value::Object(o)
}

/// Whether the request's last non-system message starts a fresh user turn (`Some(true)`),
/// continues one after tool work (`Some(false)`), or says nothing (`None`).
fn fresh_turn(req: &Value) -> Option<bool> {
    let is_input = |p: &Value| {
        matches!(
            p.get("type").and_then(Value::as_str),
            Some(
                "text"
                    | "input_text"
                    | "image_url"
                    | "image"
                    | "input_image"
                    | "audio"
                    | "input_audio"
                    | "file"
                    | "document"
            )
        )
    };
    let is_tool = |p: &Value| {
        matches!(
            p.get("type").and_then(Value::as_str),
            Some("tool_result" | "tool_use")
        )
    };
    if let Some(ms) = req.get("messages").and_then(Value::as_array) {
        for m in ms.iter().rev().filter_map(Value::as_object) {
            match m.get("role").and_then(Value::as_str) {
                Some("system" | "developer") => continue,
                Some("user") | None => {
                    return Some(match m.get("content") {
                        None | Some(Value::String(_)) => true,
                        Some(Value::Array(parts)) => {
                            parts.iter().any(is_input) || !parts.iter().any(is_tool)
                        }
                        Some(c @ Value::Object(_)) => is_input(c) || !is_tool(c),
                        Some(_) => true,
                    })
                }
                Some(_) => return Some(false),
            }
        }
    }
    req.get("prompt").map(|_| true)
}

fn event_extra(e: &Event) -> Value {
    let mut x = Map::new();
    x.insert("event_uuid".into(), e.uuid().unwrap_or("").into());
    x.insert("event_name".into(), e.name().into());
    if let Some(p) = e.parent_uuid() {
        x.insert("parent_event_uuid".into(), p.into());
    }
    if let Some(m) = e.0.get("metadata").filter(|m| !m.is_null()) {
        x.insert("metadata".into(), m.clone());
    }
    Value::Object(x)
}

fn tool_call_id(e: &Event) -> Option<String> {
    e.0.get("category_profile")
        .and_then(|p| p.get("tool_call_id"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn delegation_call_id(v: &Value) -> Option<String> {
    const KEYS: &[&str] = &[
        "tool_call_id",
        "toolCallId",
        "source_call_id",
        "sourceCallId",
        "delegation_tool_call_id",
        "delegationToolCallId",
        "parent_tool_call_id",
        "parentToolCallId",
    ];
    KEYS.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .or_else(|| {
            KEYS.iter().find_map(|k| {
                v.get("extra")
                    .and_then(|x| x.get(*k))
                    .and_then(Value::as_str)
            })
        })
        .map(str::to_string)
}

fn millis(e: &Event) -> Option<f64> {
    e.micros().map(|us| us.div_euclid(1000) as f64 / 1000.0)
}

fn ts(e: &Event) -> Option<String> {
    e.0.get("timestamp")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn is_agent(e: &Event) -> bool {
    e.category() == Some("agent")
}

fn is_start(e: &Event) -> bool {
    e.scope_category() == Some("start")
}

/// Lookups over every event of the stream, built once per export.
struct Stream {
    names: HashMap<String, String>,
    start_ms: HashMap<String, f64>,
    llm_ends: BTreeSet<String>,
    start_models: HashMap<String, String>,
    dedupe: Dedupe,
}

/// What one agent's conversion looks up: the stream's lookups and the tool-call ids of the
/// tool executions the agent owns.
struct Lookups<'a> {
    stream: &'a Stream,
    tool_call_ids: HashMap<String, String>,
}

fn model_of(e: &Event) -> Option<String> {
    e.data()
        .and_then(|d| d.get("model"))
        .and_then(Value::as_str)
        .or_else(|| e.profile_model())
        .or_else(|| {
            e.data()
                .map(unwrap_request)
                .and_then(|r| r.get("model"))
                .and_then(Value::as_str)
        })
        .map(str::to_string)
}

fn stream(all: &[Event], mode: Mode, values: &[Value]) -> Stream {
    let mut l = Stream {
        names: HashMap::new(),
        start_ms: HashMap::new(),
        llm_ends: BTreeSet::new(),
        start_models: HashMap::new(),
        dedupe: dedupe(&llm_spans(values), mode),
    };
    for e in all {
        let Some(u) = e.uuid() else { continue };
        if is_start(e) {
            l.names.insert(u.into(), e.name().into());
            if let Some(m) = millis(e) {
                l.start_ms.insert(u.into(), m);
            }
            if e.category() == Some("llm") {
                if let Some(m) = model_of(e) {
                    l.start_models.insert(u.into(), m);
                }
            }
        }
        if e.scope_category() == Some("end") && e.category() == Some("llm") && e.data().is_some() {
            l.llm_ends.insert(u.into());
        }
    }
    l
}

/// Tool-call ids of the tool executions among `owned`: explicit ones, then executions
/// without one matched to the LLM's tool calls by name and arguments when the counts agree.
fn tool_call_ids(owned: &[Event]) -> HashMap<String, String> {
    let mut explicit: HashMap<String, String> = HashMap::new();
    let mut executions: Vec<(String, (String, String))> = Vec::new();
    let mut calls: Vec<((String, String), String)> = Vec::new();
    let key = |name: &str, args: &Value| (name.to_string(), args.to_string());
    for e in owned {
        let Some(u) = e.uuid() else { continue };
        match (e.scope_category(), e.category()) {
            (Some("start"), Some("tool")) => {
                if let Some(id) = tool_call_id(e) {
                    explicit.insert(u.into(), id);
                } else if let Some(d) = e.data() {
                    if !e.name().is_empty() {
                        executions.push((u.into(), key(e.name(), &normalize_arguments(Some(d)))));
                    }
                }
            }
            (Some("end"), Some("tool")) => {
                if let Some(id) = tool_call_id(e) {
                    explicit.insert(u.into(), id);
                }
            }
            (Some("end"), Some("llm")) => {
                for c in e.data().and_then(extract_tool_calls).unwrap_or_default() {
                    if !c.function_name.is_empty() {
                        calls.push((key(&c.function_name, &c.arguments), c.tool_call_id));
                    }
                }
            }
            _ => {}
        }
    }
    let consumed: BTreeSet<&String> = explicit.values().collect();
    let mut by_key_exec: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (u, k) in executions {
        if !explicit.contains_key(&u) {
            by_key_exec.entry(k).or_default().push(u);
        }
    }
    let mut by_key_call: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (k, id) in calls {
        if !consumed.contains(&id) {
            by_key_call.entry(k).or_default().push(id);
        }
    }
    for (k, us) in by_key_exec {
        if let Some(ids) = by_key_call.get(&k) {
            if ids.len() == us.len() {
                for (u, id) in us.into_iter().zip(ids) {
                    explicit.insert(u, id.clone());
                }
            }
        }
    }
    explicit
}

fn ancestry(e: &Event, l: &Lookups) -> Value {
    let mut a = Map::new();
    a.insert("function_id".into(), e.uuid().unwrap_or("").into());
    a.insert("function_name".into(), e.name().into());
    if let Some(p) = e.parent_uuid() {
        a.insert("parent_id".into(), p.into());
        if let Some(n) = l.stream.names.get(p) {
            a.insert("parent_name".into(), n.clone().into());
        }
    }
    Value::Object(a)
}

fn invocation(start_ms: Option<f64>, e: &Event, id: &str) -> Value {
    let mut o = Map::new();
    if let (Some(s), Some(end)) = (start_ms, millis(e)) {
        o.insert("start_timestamp".into(), json!(s));
        o.insert("end_timestamp".into(), json!(end));
    }
    o.insert("invocation_id".into(), id.into());
    o.insert("status".into(), "completed".into());
    o.insert("framework".into(), "nemo_relay".into());
    Value::Object(o)
}

#[derive(Default)]
struct CurrentAgent {
    step: Option<usize>,
    ancestry: Option<Value>,
    invocation: Option<Value>,
    llm_request: Option<Value>,
    llm_response: Option<Value>,
    tool_ancestry: Vec<Value>,
    tool_invocations: Vec<Value>,
    tool_call_order: Vec<String>,
}

#[derive(Default)]
struct State {
    steps: Vec<Step>,
    last_tool_calls: HashMap<String, String>,
    tool_scope_ids: HashMap<String, String>,
    active_tool_call: Option<String>,
    pending: Vec<ObsResult>,
    pending_ts: Option<String>,
    deferred: BTreeMap<String, Vec<(ObsResult, Option<String>)>>,
    deferred_meta: HashMap<String, Vec<(Value, Value)>>,
    pending_requests: HashMap<String, Value>,
    pending_efforts: HashMap<String, Value>,
    current: CurrentAgent,
}

fn merge_result(obs: &mut Observation, mut r: ObsResult) {
    if let Some(id) = r.source_call_id.clone() {
        if let Some(x) = obs
            .results
            .iter_mut()
            .find(|x| x.source_call_id.as_deref() == Some(id.as_str()))
        {
            if x.content.is_none() {
                x.content = r.content.take();
            }
            if let Some(mut refs) = r.subagent_trajectory_ref.take() {
                x.subagent_trajectory_ref
                    .get_or_insert_with(Vec::new)
                    .append(&mut refs);
            }
            if let Some(extra) = r.extra.take() {
                match (&mut x.extra, extra) {
                    (None, e) => x.extra = Some(e),
                    (Some(Value::Object(a)), Value::Object(b)) => {
                        for (k, v) in b {
                            a.entry(k).or_insert(v);
                        }
                    }
                    _ => {}
                }
            }
            return;
        }
    }
    obs.results.push(r);
}

impl State {
    fn finalize_agent(&mut self) {
        let c = &mut self.current;
        let (Some(idx), Some(anc)) = (c.step.take(), c.ancestry.take()) else {
            return;
        };
        if !c.tool_call_order.is_empty() && !c.tool_ancestry.is_empty() {
            let order = c.tool_call_order.clone();
            let mut pairs: Vec<(Value, Value)> = std::mem::take(&mut c.tool_ancestry)
                .into_iter()
                .zip(std::mem::take(&mut c.tool_invocations))
                .collect();
            pairs.sort_by_key(|(_, inv)| {
                inv.get("invocation_id")
                    .and_then(Value::as_str)
                    .and_then(|id| order.iter().position(|o| o == id))
                    .unwrap_or(usize::MAX)
            });
            (c.tool_ancestry, c.tool_invocations) = pairs.into_iter().unzip();
        }
        let mut x = Map::new();
        x.insert("ancestry".into(), anc);
        if let Some(v) = c.invocation.take() {
            x.insert("invocation".into(), v);
        }
        if let Some(v) = c.llm_request.take() {
            x.insert("llm_request".into(), v);
        }
        if let Some(v) = c.llm_response.take() {
            x.insert("llm_response".into(), v);
        }
        if !c.tool_ancestry.is_empty() {
            x.insert(
                "tool_ancestry".into(),
                Value::Array(std::mem::take(&mut c.tool_ancestry)),
            );
        }
        if !c.tool_invocations.is_empty() {
            x.insert(
                "tool_invocations".into(),
                Value::Array(std::mem::take(&mut c.tool_invocations)),
            );
        }
        if let Some(s) = self.steps.get_mut(idx) {
            s.extra = Some(Value::Object(x));
        }
    }

    fn step_tool_ids(&self, idx: usize) -> Vec<String> {
        self.steps
            .get(idx)
            .and_then(|s| s.tool_calls.as_ref())
            .map(|c| c.iter().map(|t| t.tool_call_id.clone()).collect())
            .unwrap_or_default()
    }

    fn current_has_call(&self, id: &str) -> bool {
        self.current
            .step
            .is_some_and(|i| self.step_tool_ids(i).iter().any(|x| x == id))
    }

    fn flush_observations(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let t = self.pending_ts.take();
        let mut attached = Vec::new();
        let mut standalone = Vec::new();
        for r in std::mem::take(&mut self.pending) {
            match r.source_call_id.clone() {
                Some(id) if self.current_has_call(&id) => attached.push(r),
                Some(id) => self.deferred.entry(id).or_default().push((r, t.clone())),
                None => standalone.push(r),
            }
        }
        if !attached.is_empty() {
            if let Some(s) = self.current.step.and_then(|i| self.steps.get_mut(i)) {
                let obs = s.observation.get_or_insert(Observation { results: vec![] });
                for r in attached {
                    merge_result(obs, r);
                }
            }
        }
        if !standalone.is_empty() {
            let mut s = Step::new("system", empty(), t);
            s.observation = Some(Observation {
                results: standalone,
            });
            self.steps.push(s);
        }
    }

    fn llm_start(&mut self, e: &Event, l: &Lookups) {
        self.flush_observations();
        self.finalize_agent();
        self.tool_scope_ids.clear();
        self.active_tool_call = None;
        let Some(input) = e.data() else { return };
        let uuid = e.uuid().unwrap_or("").to_string();
        let content = unwrap_request(input).clone();
        if let Some(effort) = content.get("reasoning_effort").filter(|v| !v.is_null()) {
            self.pending_efforts.insert(uuid.clone(), effort.clone());
        }
        if l.stream.llm_ends.contains(&uuid) && fresh_turn(&content) == Some(false) {
            self.pending_requests.insert(uuid, content);
            return;
        }
        let mut s = Step::new("user", user_message(&content), ts(e));
        s.extra = Some(json!({"ancestry": ancestry(e, l), "llm_request": content}));
        self.steps.push(s);
    }

    fn llm_end(&mut self, e: &Event, l: &Lookups) {
        self.flush_observations();
        let Some(output) = e.data() else { return };
        self.finalize_agent();
        let uuid = e.uuid().unwrap_or("").to_string();
        let request = self.pending_requests.remove(&uuid);
        let effort = self.pending_efforts.remove(&uuid);
        let calls = extract_tool_calls(output);
        self.last_tool_calls.clear();
        let mut order = Vec::new();
        for c in calls.iter().flatten() {
            if !c.function_name.is_empty() {
                self.last_tool_calls
                    .insert(c.function_name.clone(), c.tool_call_id.clone());
            }
            order.push(c.tool_call_id.clone());
        }
        let model = output
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| e.profile_model().map(str::to_string))
            .or_else(|| l.stream.start_models.get(&uuid).cloned());
        let mut m = metrics(output);
        if let Some(sup) = l.stream.dedupe.supplemental.get(&uuid) {
            match &mut m {
                Some(m) => m.fill_missing(sup),
                None => m = Some(sup.clone()),
            }
        }
        let mut s = Step::new("agent", response_message(output), ts(e));
        s.model_name = model;
        s.reasoning_effort = effort;
        s.reasoning_content = output
            .get("reasoning")
            .and_then(Value::as_str)
            .map(str::to_string);
        s.tool_calls = calls;
        s.metrics = m.as_ref().map(metrics_json);
        s.llm_call_count = Some(1);
        self.steps.push(s);
        self.current = CurrentAgent {
            step: Some(self.steps.len() - 1),
            ancestry: Some(ancestry(e, l)),
            invocation: Some(invocation(l.stream.start_ms.get(&uuid).copied(), e, &uuid)),
            llm_request: request,
            llm_response: Some(output.clone()),
            tool_ancestry: vec![],
            tool_invocations: vec![],
            tool_call_order: order,
        };
        // Observations and tool metadata that arrived before this step.
        if let Some(idx) = self.current.step {
            for id in self.step_tool_ids(idx) {
                if let Some(obs) = self.deferred.remove(&id) {
                    let o = self.steps[idx]
                        .observation
                        .get_or_insert(Observation { results: vec![] });
                    for (r, _) in obs {
                        merge_result(o, r);
                    }
                }
                if let Some(meta) = self.deferred_meta.remove(&id) {
                    for (a, i) in meta {
                        self.current.tool_ancestry.push(a);
                        self.current.tool_invocations.push(i);
                    }
                }
            }
        }
    }

    fn ids_by_name(&self, name: &str) -> Vec<String> {
        self.current
            .step
            .and_then(|i| self.steps.get(i))
            .and_then(|s| s.tool_calls.as_ref())
            .map(|c| {
                c.iter()
                    .filter(|t| t.function_name == name)
                    .map(|t| t.tool_call_id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn id_by_name(&self, name: &str) -> Option<String> {
        match self.ids_by_name(name).as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }

    fn tool_start(&mut self, e: &Event, l: &Lookups) {
        let uuid = e.uuid().unwrap_or("").to_string();
        let id = tool_call_id(e)
            .or_else(|| self.tool_scope_ids.get(&uuid).cloned())
            .or_else(|| l.tool_call_ids.get(&uuid).cloned())
            .or_else(|| self.id_by_name(e.name()))
            .or_else(|| {
                (self.ids_by_name(e.name()).len() <= 1 && self.current.step.is_some())
                    .then(|| uuid.clone())
            });
        let Some(id) = id else { return };
        self.tool_scope_ids.insert(uuid.clone(), id.clone());
        let Some(idx) = self.current.step else { return };
        if !self.current.tool_call_order.contains(&id) {
            let s = &mut self.steps[idx];
            let calls = s.tool_calls.get_or_insert_with(Vec::new);
            if !calls.iter().any(|c| c.tool_call_id == id) {
                calls.push(ToolCall {
                    tool_call_id: id.clone(),
                    function_name: e.name().into(),
                    arguments: e.data().cloned().unwrap_or_else(|| json!({})),
                    extra: Some(event_extra(e)),
                });
                if !e.name().is_empty() {
                    self.last_tool_calls.insert(e.name().into(), id.clone());
                }
            }
            self.current.tool_call_order.push(id.clone());
        }
        self.active_tool_call = Some(id);
    }

    fn tool_end(&mut self, e: &Event, l: &Lookups) {
        let uuid = e.uuid().unwrap_or("").to_string();
        let id = tool_call_id(e)
            .or_else(|| self.tool_scope_ids.get(&uuid).cloned())
            .or_else(|| l.tool_call_ids.get(&uuid).cloned())
            .or_else(|| {
                let c = self.id_by_name(e.name())?;
                (self.current.tool_call_order.contains(&c)
                    || self.last_tool_calls.values().any(|k| *k == c)
                    || self.deferred.contains_key(&c)
                    || self.deferred_meta.contains_key(&c))
                .then_some(c)
            });
        if let Some(out) = e.data() {
            if self.pending_ts.is_none() {
                self.pending_ts = ts(e);
            }
            let mut extra = event_extra(e);
            let is_plain = matches!(out, Value::String(_)) || is_content_parts(out);
            if !is_plain {
                extra["tool_result"] = out.clone();
            }
            self.pending.push(ObsResult {
                source_call_id: id.clone(),
                content: is_plain.then(|| out.clone()),
                subagent_trajectory_ref: None,
                extra: Some(extra),
            });
        }
        if self.active_tool_call == id {
            self.active_tool_call = None;
        }
        let Some(id) = id else { return };
        let inv = invocation(l.stream.start_ms.get(&uuid).copied(), e, &id);
        let anc = ancestry(e, l);
        if self.current.step.is_some() && self.current.tool_call_order.contains(&id) {
            self.current.tool_ancestry.push(anc);
            self.current.tool_invocations.push(inv);
        } else {
            self.deferred_meta.entry(id).or_default().push((anc, inv));
        }
    }

    fn subagent_start(&mut self, child: &Node, e: &Event) {
        let candidate = e
            .metadata()
            .and_then(|m| delegation_call_id(&Value::Object(m.clone())))
            .or_else(|| e.data().and_then(delegation_call_id))
            .or_else(|| self.active_tool_call.clone())
            .filter(|c| self.current.tool_call_order.contains(c));
        self.flush_observations();
        let reference = json!({"trajectory_id": child.uuid, "extra": {"name": child.name, "scope_uuid": child.uuid}});
        let reference = match &child.session_id {
            Some(sid) => {
                let mut r = reference;
                r["session_id"] = sid.clone().into();
                r
            }
            None => reference,
        };
        if let (Some(id), Some(idx)) = (&candidate, self.current.step) {
            let s = &mut self.steps[idx];
            if s.tool_calls
                .as_ref()
                .is_some_and(|c| c.iter().any(|t| &t.tool_call_id == id))
            {
                let obs = s.observation.get_or_insert(Observation { results: vec![] });
                if let Some(r) = obs
                    .results
                    .iter_mut()
                    .find(|r| r.source_call_id.as_deref() == Some(id.as_str()))
                {
                    r.subagent_trajectory_ref
                        .get_or_insert_with(Vec::new)
                        .push(reference);
                } else {
                    obs.results.push(ObsResult {
                        source_call_id: Some(id.clone()),
                        content: None,
                        subagent_trajectory_ref: Some(vec![reference]),
                        extra: Some(event_extra(e)),
                    });
                }
                return;
            }
        }
        self.finalize_agent();
        let id = format!("subagent:{}", child.uuid);
        let mut args = Map::new();
        args.insert("name".into(), child.name.clone().into());
        if let Some(sid) = &child.session_id {
            args.insert("session_id".into(), sid.clone().into());
        }
        if let Some(d) = e.data() {
            args.insert("payload".into(), d.clone());
        }
        let mut s = Step::new("agent", empty(), ts(e));
        s.tool_calls = Some(vec![ToolCall {
            tool_call_id: id.clone(),
            function_name: child.name.clone(),
            arguments: Value::Object(args),
            extra: Some(event_extra(e)),
        }]);
        s.observation = Some(Observation {
            results: vec![ObsResult {
                source_call_id: Some(id),
                content: None,
                subagent_trajectory_ref: Some(vec![reference]),
                extra: Some(event_extra(e)),
            }],
        });
        s.llm_call_count = Some(0);
        self.steps.push(s);
    }

    fn finish(mut self) -> Vec<Step> {
        self.flush_observations();
        if !self.deferred.is_empty() {
            let mut all: Vec<(ObsResult, Option<String>)> = std::mem::take(&mut self.deferred)
                .into_values()
                .flatten()
                .collect();
            all.sort_by(|a, b| a.1.cmp(&b.1));
            let t = all.iter().find_map(|x| x.1.clone());
            let results: Vec<ObsResult> = all
                .into_iter()
                .map(|(mut r, _)| {
                    r.source_call_id = None;
                    r
                })
                .collect();
            self.deferred_meta.clear();
            let mut s = Step::new("system", empty(), t);
            s.observation = Some(Observation { results });
            self.steps.push(s);
        }
        self.finalize_agent();
        remove_projected_duplicates(&mut self.steps);
        for (i, s) in self.steps.iter_mut().enumerate() {
            s.step_id = i + 1;
        }
        self.steps
    }
}

/// Relay's `remove_projected_tool_call_duplicates`: an empty agent step whose tool calls all
/// reappear, observed, in a later agent step of the same run of agent steps is dropped.
fn remove_projected_duplicates(steps: &mut Vec<Step>) {
    let keys = |s: &Step| -> Vec<(String, String, String)> {
        s.tool_calls
            .iter()
            .flatten()
            .filter(|c| !c.tool_call_id.is_empty())
            .map(|c| {
                (
                    c.tool_call_id.clone(),
                    c.function_name.clone(),
                    c.arguments.to_string(),
                )
            })
            .collect()
    };
    let mut later: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut keep = vec![true; steps.len()];
    for (i, s) in steps.iter().enumerate().rev() {
        if s.source != "agent" {
            later.clear();
            continue;
        }
        let k = keys(s);
        let candidate = s.message == empty()
            && s.observation.is_none()
            && s.reasoning_content.is_none()
            && s.reasoning_effort.is_none()
            && s.llm_call_count == Some(1)
            && !k.is_empty();
        if candidate && k.iter().all(|x| later.contains(x)) {
            keep[i] = false;
        }
        if let Some(o) = &s.observation {
            for r in &o.results {
                if let Some(id) = &r.source_call_id {
                    later.extend(k.iter().filter(|x| &x.0 == id).cloned());
                }
            }
        }
    }
    let mut i = 0;
    steps.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

#[derive(Debug, Clone)]
struct Node {
    uuid: String,
    name: String,
    session_id: Option<String>,
    referenced: bool,
    parent: Option<String>,
    children: Vec<String>,
    start_us: i64,
}

struct Tree {
    nodes: HashMap<String, Node>,
    roots: Vec<String>,
    parents: HashMap<String, String>,
    agents: BTreeSet<String>,
}

fn role<'a>(e: &Event<'a>) -> Option<&'a str> {
    e.metadata()
        .and_then(|m| m.get("nemo_relay_scope_role"))
        .and_then(Value::as_str)
}

impl Tree {
    fn new(events: &[Event]) -> Tree {
        let mut parents = HashMap::new();
        let mut roles: HashMap<String, Option<String>> = HashMap::new();
        for e in events.iter().filter(|e| is_start(e)) {
            let Some(u) = e.uuid() else { continue };
            if let Some(p) = e.parent_uuid() {
                parents.insert(u.to_string(), p.to_string());
            }
            if is_agent(e) {
                roles.insert(u.to_string(), role(e).map(str::to_string));
            }
        }
        let non_turn = |u: &str| roles.get(u).is_some_and(|r| r.as_deref() != Some("turn"));
        // A turn scope is an agent unless an agent that is not a turn holds it.
        let agents: BTreeSet<String> = events
            .iter()
            .filter(|e| is_start(e) && is_agent(e))
            .filter(|e| {
                role(e) != Some("turn")
                    || ancestor(&parents, e.parent_uuid(), e.uuid().unwrap_or(""), non_turn)
                        .is_none()
            })
            .filter_map(|e| e.uuid().map(str::to_string))
            .collect();
        let nodes = agent_nodes(events, &agents, &parents);
        let (nodes, roots) = linked(nodes);
        Tree {
            nodes,
            roots,
            parents,
            agents,
        }
    }
}

/// The first of `from` and its ancestors (not `skip`) for which `is` holds. Parent chains
/// are followed at most as many steps as there are links: a longer chain is a cycle.
fn ancestor(
    parents: &HashMap<String, String>,
    from: Option<&str>,
    skip: &str,
    is: impl Fn(&str) -> bool,
) -> Option<String> {
    let bound = parents.len() + 1;
    let mut cur = from;
    let mut steps = 0;
    while let Some(u) = cur {
        steps += 1;
        if steps > bound {
            return None;
        }
        if u != skip && is(u) {
            return Some(u.to_string());
        }
        cur = parents.get(u).map(String::as_str);
    }
    None
}

/// A node per agent scope's start.
fn agent_nodes(
    events: &[Event],
    agents: &BTreeSet<String>,
    parents: &HashMap<String, String>,
) -> HashMap<String, Node> {
    let mut nodes: HashMap<String, Node> = HashMap::new();
    for e in events.iter().filter(|e| is_start(e) && is_agent(e)) {
        let Some(u) = e.uuid().filter(|u| agents.contains(*u)) else {
            continue;
        };
        let referenced = role(e) == Some("subagent")
            || e.0.get("metadata").and_then(delegation_call_id).is_some()
            || e.data().and_then(delegation_call_id).is_some();
        nodes.insert(
            u.to_string(),
            Node {
                uuid: u.to_string(),
                name: e.name().to_string(),
                session_id: e
                    .metadata()
                    .and_then(|m| m.get("session_id"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                referenced,
                parent: ancestor(parents, e.parent_uuid(), u, |p| agents.contains(p)),
                children: vec![],
                start_us: e.micros().unwrap_or(0),
            },
        );
    }
    nodes
}

/// The nodes with their children, and the roots, each list in start order.
fn linked(mut nodes: HashMap<String, Node>) -> (HashMap<String, Node>, Vec<String>) {
    let links: Vec<(String, String)> = nodes
        .values()
        .filter_map(|n| n.parent.clone().map(|p| (p, n.uuid.clone())))
        .collect();
    let mut roots: Vec<String> = nodes
        .values()
        .filter(|n| n.parent.is_none())
        .map(|n| n.uuid.clone())
        .collect();
    for (p, c) in links {
        if let Some(n) = nodes.get_mut(&p) {
            n.children.push(c);
        }
    }
    let start: HashMap<String, (i64, String)> = nodes
        .iter()
        .map(|(u, n)| (u.clone(), (n.start_us, u.clone())))
        .collect();
    roots.sort_by_key(|u| start.get(u).cloned());
    for n in nodes.values_mut() {
        n.children.sort_by_key(|u| start.get(u).cloned());
    }
    (nodes, roots)
}

impl Tree {
    fn owner(&self, e: &Event) -> Option<String> {
        if is_agent(e) {
            return e
                .uuid()
                .filter(|u| self.agents.contains(*u))
                .map(str::to_string);
        }
        let mut cur = e.parent_uuid().map(str::to_string);
        let mut steps = 0;
        while let Some(u) = cur {
            steps += 1;
            if steps > self.parents.len() + 1 {
                return None;
            }
            if self.agents.contains(&u) {
                return Some(u);
            }
            cur = self.parents.get(&u).cloned();
        }
        None
    }

    fn direct_child(&self, parent: &str, e: &Event) -> Option<&Node> {
        if !is_start(e) || !is_agent(e) {
            return None;
        }
        let n = self.nodes.get(e.uuid()?)?;
        (n.parent.as_deref() == Some(parent)).then_some(n)
    }
}

fn is_step_event(e: &Event) -> bool {
    matches!(
        (e.scope_category(), e.category()),
        (Some("start"), Some("llm")) | (Some("end"), Some("llm")) | (Some("end"), Some("tool"))
    )
}

fn final_metrics(steps: &[Step]) -> Value {
    let mut t: [Option<u64>; 3] = [None; 3];
    for m in steps.iter().filter_map(|s| s.metrics.as_ref()) {
        for (i, k) in ["prompt_tokens", "completion_tokens", "cached_tokens"]
            .iter()
            .enumerate()
        {
            if let Some(v) = m.get(*k).and_then(Value::as_u64) {
                t[i] = Some(t[i].unwrap_or(0) + v);
            }
        }
    }
    let mut o = Map::new();
    for (i, k) in [
        "total_prompt_tokens",
        "total_completion_tokens",
        "total_cached_tokens",
    ]
    .iter()
    .enumerate()
    {
        if let Some(v) = t[i] {
            o.insert((*k).into(), v.into());
        }
    }
    o.insert("total_steps".into(), steps.len().into());
    Value::Object(o)
}

fn trajectory(
    session_id: &str,
    trajectory_id: &str,
    opts: &ExportOptions,
    steps: Vec<Step>,
    subs: Option<Vec<Value>>,
) -> Value {
    let mut t = json!({
        "schema_version": "ATIF-v1.7",
        "session_id": session_id,
        "trajectory_id": trajectory_id,
        "agent": {"name": opts.agent_name, "version": opts.agent_version},
        "final_metrics": final_metrics(&steps),
        "steps": serde_json::to_value(&steps).unwrap_or_default(),
    });
    if let Some(s) = subs {
        t["subagent_trajectories"] = Value::Array(s);
    }
    t
}

struct Ctx<'a> {
    events: &'a [Event<'a>],
    stream: Stream,
    tree: &'a Tree,
    opts: &'a ExportOptions,
}

fn steps_for(ctx: &Ctx, agent: Option<&str>) -> Vec<Step> {
    let owned: Vec<Event> = match agent {
        Some(a) => ctx
            .events
            .iter()
            .copied()
            .filter(|e| ctx.tree.owner(e).as_deref() == Some(a))
            .collect(),
        None => ctx.events.to_vec(),
    };
    let l = Lookups {
        stream: &ctx.stream,
        tool_call_ids: tool_call_ids(&owned),
    };
    let mut st = State::default();
    for e in ctx.events {
        if let Some(a) = agent {
            if let Some(child) = ctx.tree.direct_child(a, e) {
                st.subagent_start(child, e);
                continue;
            }
            if ctx.tree.owner(e).as_deref() != Some(a) {
                continue;
            }
        }
        let suppressed = e.category() == Some("llm")
            && e.uuid()
                .is_some_and(|u| l.stream.dedupe.suppressed.contains(u));
        if suppressed {
            continue;
        }
        match (e.scope_category(), e.category()) {
            (Some("start"), Some("llm")) => st.llm_start(e, &l),
            (Some("end"), Some("llm")) => st.llm_end(e, &l),
            (Some("start"), Some("tool")) => st.tool_start(e, &l),
            (Some("end"), Some("tool")) => st.tool_end(e, &l),
            _ => {}
        }
    }
    st.finish()
}

fn has_content(r: &ObsResult) -> bool {
    r.content.is_some()
        || r.subagent_trajectory_ref.is_some()
        || r.extra
            .as_ref()
            .and_then(Value::as_object)
            .is_some_and(|x| {
                x.contains_key("tool_result") || x.contains_key("tool_result_annotation")
            })
}

fn agent_trajectory(ctx: &Ctx, agent: &str, is_root: bool, depth: usize) -> Value {
    let mut steps = steps_for(ctx, Some(agent));
    let node = &ctx.tree.nodes[agent];
    // Agent scopes nest at most as deep as there are agents: deeper is a parent cycle.
    let children: &[String] = if depth > ctx.tree.nodes.len() {
        &[]
    } else {
        &node.children
    };
    let subs: Vec<Value> = children
        .iter()
        .map(|c| agent_trajectory(ctx, c, false, depth + 1))
        .filter(|t| {
            t["steps"].as_array().is_some_and(|s| !s.is_empty())
                || t["trajectory_id"]
                    .as_str()
                    .and_then(|id| ctx.tree.nodes.get(id))
                    .is_some_and(|n| !n.referenced)
        })
        .collect();
    let child_ids: BTreeSet<String> = subs
        .iter()
        .filter_map(|t| t["trajectory_id"].as_str().map(str::to_string))
        .collect();
    // Drop references to children that produced no trajectory, and steps left empty.
    for s in &mut steps {
        let Some(obs) = &mut s.observation else {
            continue;
        };
        obs.results.retain_mut(|r| {
            if let Some(refs) = &mut r.subagent_trajectory_ref {
                refs.retain(|x| {
                    x["trajectory_id"]
                        .as_str()
                        .is_some_and(|id| child_ids.contains(id))
                });
                if refs.is_empty() {
                    r.subagent_trajectory_ref = None;
                }
            }
            has_content(r)
        });
        if obs.results.is_empty() {
            s.observation = None;
        }
    }
    steps.retain(|s| {
        let bare = s.observation.is_none() && s.message == empty() && s.extra.is_none();
        !(bare && (s.source == "system" || (s.source == "agent" && s.llm_call_count == Some(0))))
    });
    for (i, s) in steps.iter_mut().enumerate() {
        s.step_id = i + 1;
    }
    let (sid, tid) = if is_root {
        (ctx.opts.session_id.clone(), ctx.opts.session_id.clone())
    } else {
        (
            node.session_id
                .clone()
                .unwrap_or_else(|| ctx.opts.session_id.clone()),
            agent.to_string(),
        )
    };
    trajectory(
        &sid,
        &tid,
        ctx.opts,
        steps,
        (!subs.is_empty()).then_some(subs),
    )
}

/// Convert an ATOF event stream to one ATIF trajectory (subagents nested).
pub fn export(values: &[Value], opts: &ExportOptions) -> Value {
    let mut events: Vec<Event> = values.iter().map(Event).collect();
    events.sort_by_key(|e| e.micros().unwrap_or(i64::MIN));
    let tree = Tree::new(&events);
    let ctx = Ctx {
        stream: stream(&events, opts.mode, values),
        events: &events,
        tree: &tree,
        opts,
    };
    let root = tree
        .nodes
        .contains_key(&opts.session_id)
        .then(|| opts.session_id.clone())
        .or_else(|| (tree.roots.len() == 1).then(|| tree.roots[0].clone()));
    let usable = events
        .iter()
        .all(|e| is_agent(e) || !is_step_event(e) || tree.owner(e).is_some());
    match root {
        Some(r) if usable => agent_trajectory(&ctx, &r, true, 0),
        _ => {
            let steps = steps_for(&ctx, None);
            trajectory(&opts.session_id, &opts.session_id, opts, steps, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(uuid: &str, parent: &str, category: &str, phase: &str, ms: u32, data: Value) -> Value {
        json!({"uuid": uuid, "parent_uuid": parent, "category": category, "scope_category": phase,
               "name": category, "timestamp": format!("2026-01-01T12:00:00.{ms:03}+00:00"),
               "data": data, "kind": "scope"})
    }

    /// Agent scopes that are each other's parent (a hostile or broken stream) end; no hang,
    /// no stack overflow.
    #[test]
    fn parent_cycles_terminate() {
        let req = json!({"messages": [{"role": "user", "content": "hi"}]});
        let resp = json!({"choices": [{"message": {"content": "yo"}}]});
        let events = vec![
            ev("a", "b", "agent", "start", 1, Value::Null),
            ev("b", "a", "agent", "start", 2, Value::Null),
            ev("l", "a", "llm", "start", 3, req),
            ev("l", "a", "llm", "end", 4, resp),
            // Non-agent scopes in a cycle, and an LLM call under them.
            ev("x", "y", "function", "start", 6, Value::Null),
            ev("y", "x", "function", "start", 7, Value::Null),
            ev("m", "x", "llm", "start", 8, json!({"prompt": "p"})),
            ev("m", "x", "llm", "end", 9, json!({"content": "c"})),
        ];
        for mode in [Mode::Relay, Mode::Strict] {
            let opts = ExportOptions {
                session_id: "a".into(),
                mode,
                ..ExportOptions::default()
            };
            let t = export(&events, &opts);
            assert_eq!(t["schema_version"], "ATIF-v1.7");
        }
    }

    /// Events of the wrong shape are skipped, not trusted.
    #[test]
    fn malformed_events_are_tolerated() {
        let events = vec![
            json!(null),
            json!({"uuid": 5, "category": "llm", "scope_category": "end", "data": {"choices": 3}}),
            json!({"uuid": "x", "category": "llm", "scope_category": "start", "timestamp": "nope", "data": []}),
            json!({"uuid": "x", "category": "llm", "scope_category": "end", "data": {"usage": {"prompt_tokens": -1}}}),
        ];
        let t = export(&events, &ExportOptions::default());
        assert!(t["steps"].is_array());
    }
}
