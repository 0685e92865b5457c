//! Generated agent runs: a ground truth ([`RunSpec`]: requests of LLM calls with token usage,
//! sequential and overlapping calls, repeated prompts, parallel and failing tools, nested
//! agents) rendered as NAT IntermediateSteps ([`to_ist`]) and as NeMo Relay-style ATOF events
//! ([`to_atof`]), each provider call observed once or by a hook *and* a gateway. ATIF comes
//! from the IST by NAT's converter.
//!
//! [`run_spec`] is the proptest strategy; [`generate`] draws from it with a seed, so the
//! `gen` command and the property tests share one generator, and a shrunk failing case is
//! saved with [`write_case`].

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::trace::ist::{IstRequest, IstTrace};

/// The models calls are drawn from.
pub(crate) const MODELS: &[&str] = &["test-model", "meta/llama-3.1-70b-instruct", "acme-reasoner"];
/// The prompts questions and calls are drawn from.
pub(crate) const PROMPTS: &[&str] = &[
    "What is 12 times 7?",
    "Summarise the last tool result.",
    "Plan a trip to Lyon.",
    "Which tool should run next?",
];
/// The tools calls are drawn from.
pub(crate) const TOOLS: &[&str] = &["calculator", "web_search", "weather"];

/// One provider call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSpec {
    /// Index into `MODELS`.
    pub model: usize,
    /// Index into `PROMPTS`.
    pub prompt: usize,
    /// How long the call takes.
    pub duration_ms: u32,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cached prompt tokens.
    pub cached_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
}

/// One tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Index into `TOOLS`.
    pub tool: usize,
    /// How long the tool runs.
    pub duration_ms: u32,
    /// Whether it fails.
    pub fails: bool,
    /// A nested agent: the tool delegates to a sub-agent making these calls in sequence.
    pub nested: Vec<CallSpec>,
}

/// One agent turn: one call, or two overlapping ones, then tools in parallel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnSpec {
    /// One call, or two overlapping ones.
    pub calls: Vec<CallSpec>,
    /// Start of the second call after the first's start (it always overlaps the first).
    pub overlap_offset_ms: u32,
    /// The tools called after the calls, in parallel.
    pub tools: Vec<ToolSpec>,
    /// The pause before the next turn.
    pub gap_ms: u32,
}

/// One request of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestSpec {
    /// Index into `PROMPTS`: the user's question.
    pub question: usize,
    /// Its turns, in order.
    pub turns: Vec<TurnSpec>,
}

/// A generated run: the ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Its requests.
    pub requests: Vec<RequestSpec>,
    /// Every call observed by a non-exact hook and by a gateway (else one plain span).
    pub dual_observation: bool,
}

fn call() -> impl Strategy<Value = CallSpec> {
    (
        0..MODELS.len(),
        0..PROMPTS.len(),
        5u32..400,
        1u64..4000,
        1u64..500,
        0u64..1000,
        0u64..200,
    )
        .prop_map(|(model, prompt, d, p, c, cached, r)| CallSpec {
            model,
            prompt,
            duration_ms: d,
            prompt_tokens: p,
            completion_tokens: c,
            cached_tokens: cached.min(p),
            reasoning_tokens: r.min(c),
        })
}

fn tool() -> impl Strategy<Value = ToolSpec> {
    (
        0..TOOLS.len(),
        1u32..300,
        prop::bool::weighted(0.15),
        prop::collection::vec(call(), 0..3),
    )
        .prop_map(|(tool, duration_ms, fails, nested)| ToolSpec {
            tool,
            duration_ms,
            fails,
            nested,
        })
}

fn turn() -> impl Strategy<Value = TurnSpec> {
    (
        prop::collection::vec(call(), 1..3),
        1u32..4,
        prop::collection::vec(tool(), 0..3),
        1u32..50,
    )
        .prop_map(|(calls, off, tools, gap_ms)| TurnSpec {
            overlap_offset_ms: off.min(calls[0].duration_ms.saturating_sub(1)).max(1),
            calls,
            tools,
            gap_ms,
        })
}

/// The strategy of generated runs.
pub fn run_spec() -> impl Strategy<Value = RunSpec> {
    (
        prop::collection::vec(
            (0..PROMPTS.len(), prop::collection::vec(turn(), 1..4))
                .prop_map(|(question, turns)| RequestSpec { question, turns }),
            1..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(requests, dual_observation)| RunSpec {
            requests,
            dual_observation,
        })
}

/// The run proptest draws for `seed` (ChaCha, so the same on every machine).
pub fn generate(seed: u64) -> RunSpec {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    run_spec()
        .new_tree(&mut runner)
        .expect("the run strategy always produces a value")
        .current()
}

/// One call with its place in time and in the agent tree.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedCall {
    /// The request it belongs to.
    pub request: usize,
    /// What it is.
    pub spec: CallSpec,
    /// Its start, milliseconds from the run's start.
    pub start_ms: f64,
    /// Its end.
    pub end_ms: f64,
    /// `None`: the request's root agent; `Some(k)`: the nested agent of tool call k.
    pub agent: Option<usize>,
    /// Its UUID.
    pub id: String,
}

/// A tool call placed in time.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedTool {
    /// The request it belongs to.
    pub request: usize,
    /// What it is.
    pub spec: ToolSpec,
    /// Its start, milliseconds from the run's start.
    pub start_ms: f64,
    /// Its end.
    pub end_ms: f64,
    /// Its index among the request's tools.
    pub index: usize,
    /// Its UUID.
    pub id: String,
}

/// Every call and tool of a run on one timeline (ms after the run's base time); requests
/// follow each other 1 s apart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// The LLM calls.
    pub calls: Vec<PlacedCall>,
    /// The tool calls.
    pub tools: Vec<PlacedTool>,
    /// (start, end) of each request.
    pub requests: Vec<(f64, f64)>,
}

fn id(kind: &str, r: usize, k: usize) -> String {
    format!("{kind:0>8.8}-{r:04x}-4000-8000-{k:012x}")
}

/// Every call and tool placed in time, and each request's span.
pub fn timeline(run: &RunSpec) -> Timeline {
    let mut t = Timeline::default();
    let mut cursor = 0.0;
    for (r, req) in run.requests.iter().enumerate() {
        let start = cursor;
        cursor += 1.0;
        let (mut ncall, mut ntool) = (0, 0);
        for turn in &req.turns {
            let t0 = cursor;
            let mut end: f64 = t0;
            for (i, c) in turn.calls.iter().enumerate() {
                let s = t0
                    + if i == 0 {
                        0.0
                    } else {
                        turn.overlap_offset_ms as f64
                    };
                let e = s + c.duration_ms as f64;
                end = end.max(e);
                t.calls.push(PlacedCall {
                    request: r,
                    spec: c.clone(),
                    start_ms: s,
                    end_ms: e,
                    agent: None,
                    id: id("11111111", r, ncall),
                });
                ncall += 1;
            }
            let t_tools = end + 1.0;
            let mut tend = t_tools;
            for (j, tool) in turn.tools.iter().enumerate() {
                let k = ntool;
                ntool += 1;
                // Parallel tools start a little apart, as real dispatch does.
                let ts = t_tools + 0.25 * j as f64;
                let mut inner = ts + 1.0;
                for c in &tool.nested {
                    t.calls.push(PlacedCall {
                        request: r,
                        spec: c.clone(),
                        start_ms: inner,
                        end_ms: inner + c.duration_ms as f64,
                        agent: Some(k),
                        id: id("11111111", r, ncall),
                    });
                    ncall += 1;
                    inner += c.duration_ms as f64 + 1.0;
                }
                let e = (ts + tool.duration_ms as f64).max(inner + 1.0);
                tend = tend.max(e);
                t.tools.push(PlacedTool {
                    request: r,
                    spec: tool.clone(),
                    start_ms: ts,
                    end_ms: e,
                    index: k,
                    id: id("22222222", r, k),
                });
            }
            cursor = tend + turn.gap_ms as f64;
        }
        cursor += 1.0;
        t.requests.push((start, cursor));
        cursor += 1000.0;
    }
    t
}

/// Base of generated times: 2026-01-01T00:00:00Z.
pub(crate) const BASE_EPOCH: f64 = 1_767_225_600.0;

fn epoch(ms: f64) -> f64 {
    BASE_EPOCH + ms / 1000.0
}

fn answer(c: &CallSpec) -> String {
    format!(
        "Answer to '{}' ({} tokens).",
        PROMPTS[c.prompt], c.completion_tokens
    )
}

fn usage(c: &CallSpec) -> Value {
    json!({"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
           "cached_tokens": c.cached_tokens, "reasoning_tokens": c.reasoning_tokens,
           "total_tokens": c.prompt_tokens + c.completion_tokens})
}

struct Ist {
    steps: Vec<(f64, usize, Value)>,
}

impl Ist {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        ms: f64,
        event: &str,
        name: &str,
        uuid: &str,
        parent_id: &str,
        ancestry: &Value,
        span_start: Option<f64>,
        metadata: Value,
        data: Value,
        usage_info: Value,
    ) {
        let seq = self.steps.len();
        self.steps.push((
            ms,
            seq,
            json!({"parent_id": parent_id, "function_ancestry": ancestry,
                   "payload": {"event_type": event, "event_timestamp": epoch(ms),
                               "span_event_timestamp": span_start.map(epoch),
                               "framework": if event.starts_with("LLM") || event.starts_with("TOOL") { json!("langchain") } else { Value::Null },
                               "name": name, "tags": null, "metadata": metadata, "data": data,
                               "usage_info": usage_info, "UUID": uuid}}),
        ));
    }
}

fn ancestry(id: &str, name: &str, parent: Option<(&str, &str)>) -> Value {
    json!({"function_id": id, "function_name": name,
           "parent_id": parent.map(|p| p.0), "parent_name": parent.map(|p| p.1)})
}

/// What every event of one request shares.
struct Request<'a> {
    r: usize,
    /// The workflow span's UUID.
    wf: String,
    /// The agent function's id and ancestry.
    agent_fn: String,
    agent: Value,
    question: &'a str,
}

fn meta(k: &str, v: Value) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(k.into(), v);
    Value::Object(m)
}

/// The run as NAT IntermediateSteps (`all_requests_profiler_traces.json`).
pub fn to_ist(run: &RunSpec) -> IstTrace {
    let tl = timeline(run);
    let mut requests = Vec::new();
    for (r, req) in run.requests.iter().enumerate() {
        let (s, e) = tl.requests[r];
        let mut ist = Ist { steps: vec![] };
        let root = ancestry("root", "root", None);
        let agent_fn = id("44444444", r, 0);
        let rq = Request {
            r,
            wf: id("33333333", r, 0),
            agent: ancestry(&agent_fn, "agent", Some(("root", "root"))),
            agent_fn,
            question: PROMPTS[req.question],
        };
        let wf = &rq.wf;
        ist.push(
            s,
            "WORKFLOW_START",
            "agent",
            wf,
            "root",
            &root,
            None,
            Value::Null,
            json!({"input": rq.question}),
            Value::Null,
        );
        for c in tl.calls.iter().filter(|c| c.request == r) {
            ist_call(&mut ist, &rq, c);
        }
        for t in tl.tools.iter().filter(|t| t.request == r) {
            ist_tool(&mut ist, &rq, t);
        }
        ist.push(
            e,
            "WORKFLOW_END",
            "agent",
            wf,
            "root",
            &root,
            Some(s),
            Value::Null,
            json!({"output": "done"}),
            Value::Null,
        );
        ist.steps
            .sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let steps: Vec<Value> = ist.steps.into_iter().map(|x| x.2).collect();
        let req: IstRequest =
            serde_json::from_value(json!({"request_number": r, "intermediate_steps": steps}))
                .expect("generated steps are valid IST");
        requests.push(req);
    }
    IstTrace { requests }
}

/// An LLM call's LLM_START and LLM_END.
fn ist_call(ist: &mut Ist, rq: &Request, c: &PlacedCall) {
    let (anc, parent) = match c.agent {
        None => (rq.agent.clone(), rq.wf.clone()),
        Some(k) => (
            ancestry(
                &id("55555555", rq.r, k),
                "sub_agent",
                Some((&rq.agent_fn, "agent")),
            ),
            id("66666666", rq.r, k),
        ),
    };
    let model = MODELS[c.spec.model];
    let prompt = PROMPTS[c.spec.prompt];
    ist.push(
        c.start_ms,
        "LLM_START",
        model,
        &c.id,
        &parent,
        &anc,
        None,
        meta("chat_inputs", json!([{"role": "user", "content": prompt}])),
        json!({"input": prompt}),
        Value::Null,
    );
    ist.push(
        c.end_ms,
        "LLM_END",
        model,
        &c.id,
        &parent,
        &anc,
        Some(c.start_ms),
        meta("chat_responses", json!([{"text": answer(&c.spec)}])),
        json!({"input": prompt, "output": answer(&c.spec)}),
        json!({"token_usage": usage(&c.spec), "num_llm_calls": 1, "seconds_between_calls": 0}),
    );
}

/// A tool call's TOOL_START and TOOL_END, and the nested agent's FUNCTION span inside.
fn ist_tool(ist: &mut Ist, rq: &Request, t: &PlacedTool) {
    let name = TOOLS[t.spec.tool];
    let (r, wf) = (rq.r, &rq.wf);
    let anc = ancestry(
        &id("77777777", r, t.index),
        name,
        Some((&rq.agent_fn, "agent")),
    );
    let input = json!({"query": rq.question});
    let output = if t.spec.fails {
        format!("Error: {name} failed")
    } else {
        format!("{name} result")
    };
    ist.push(
        t.start_ms,
        "TOOL_START",
        name,
        &t.id,
        wf,
        &anc,
        None,
        meta("tool_inputs", input.clone()),
        json!({"input": input.to_string()}),
        Value::Null,
    );
    if !t.spec.nested.is_empty() {
        let sub = ancestry(
            &id("55555555", r, t.index),
            "sub_agent",
            Some((&rq.agent_fn, "agent")),
        );
        let fid = id("66666666", r, t.index);
        ist.push(
            t.start_ms + 0.5,
            "FUNCTION_START",
            "sub_agent",
            &fid,
            &t.id,
            &sub,
            None,
            Value::Null,
            json!({"input": rq.question}),
            Value::Null,
        );
        ist.push(
            t.end_ms - 0.5,
            "FUNCTION_END",
            "sub_agent",
            &fid,
            &t.id,
            &sub,
            Some(t.start_ms + 0.5),
            Value::Null,
            json!({"output": output}),
            Value::Null,
        );
    }
    ist.push(
        t.end_ms,
        "TOOL_END",
        name,
        &t.id,
        wf,
        &anc,
        Some(t.start_ms),
        meta("tool_outputs", json!({"result": output})),
        json!({"input": input.to_string(), "output": output}),
        Value::Null,
    );
}

fn iso(ms: f64) -> String {
    crate::pyfmt::epoch_to_iso(epoch(ms)).unwrap_or_default()
}

/// One ATOF scope: its start and end events differ only in time, phase, metadata and data.
struct Scope<'a> {
    category: &'a str,
    uuid: &'a str,
    parent: &'a str,
    name: &'a str,
    model: Option<&'a str>,
}

/// A scope of no model.
fn scope<'a>(category: &'a str, uuid: &'a str, parent: &'a str, name: &'a str) -> Scope<'a> {
    Scope {
        category,
        uuid,
        parent,
        name,
        model: None,
    }
}

/// ATOF events with their time and the order they were made in.
#[derive(Default)]
struct Atof {
    events: Vec<(f64, usize, Value)>,
}

impl Atof {
    fn push(&mut self, scope: &Scope, ms: f64, phase: &str, metadata: Value, data: Value) {
        let seq = self.events.len() + 1;
        self.events.push((
            ms,
            seq,
            json!({"atof_version": "0.1", "attributes": [], "category": scope.category,
                   "category_profile": scope.model.map(|m| json!({"model_name": m})),
                   "data": data, "data_schema": null, "kind": "scope", "metadata": metadata,
                   "name": scope.name, "parent_uuid": scope.parent,
                   "propagation_root_uuid": scope.parent,
                   "scope_category": phase, "timestamp": iso(ms), "uuid": scope.uuid}),
        ));
    }

    /// A scope's start at `start` and end at `end`, neither with metadata or data.
    fn bare(&mut self, scope: &Scope, start: f64, end: f64) {
        self.push(scope, start, "start", Value::Null, Value::Null);
        self.push(scope, end, "end", Value::Null, Value::Null);
    }
}

/// The run as ATOF events (NeMo Relay's shape): per request an agent scope, per call an LLM
/// span (or a hook span and a gateway span), per tool a tool span, nested agents as agent
/// scopes under their tool. Ordered by time, ends before starts at the same instant.
pub fn to_atof(run: &RunSpec) -> Vec<Value> {
    let tl = timeline(run);
    let mut ev = Atof::default();
    for (r, req) in run.requests.iter().enumerate() {
        let (s, e) = tl.requests[r];
        let agent = id("88888888", r, 0);
        ev.bare(&scope("agent", &agent, "root", "agent"), s, e);
        for t in tl.tools.iter().filter(|t| t.request == r) {
            let tool = scope("tool", &t.id, &agent, TOOLS[t.spec.tool]);
            let data = json!({"query": PROMPTS[req.question]});
            ev.push(&tool, t.start_ms, "start", Value::Null, data);
            let result = if t.spec.fails { "error" } else { "ok" };
            ev.push(
                &tool,
                t.end_ms,
                "end",
                Value::Null,
                json!({"result": result}),
            );
            if !t.spec.nested.is_empty() {
                let sub = id("99999999", r, t.index);
                let sub = scope("agent", &sub, &t.id, "sub_agent");
                ev.bare(&sub, t.start_ms + 0.5, t.end_ms - 0.5);
            }
        }
        for c in tl.calls.iter().filter(|c| c.request == r) {
            let parent = match c.agent {
                None => agent.clone(),
                Some(k) => id("99999999", r, k),
            };
            atof_call(&mut ev, c, &parent, run.dual_observation);
        }
    }
    let rank = |v: &Value| match v["scope_category"].as_str() {
        Some("end") => 0,
        _ => 1,
    };
    let mut ev = ev.events;
    ev.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(rank(&a.2).cmp(&rank(&b.2)))
            .then(a.1.cmp(&b.1))
    });
    ev.into_iter().map(|x| x.2).collect()
}

/// An LLM call's span under `parent`, or with `dual` a hook span and a gateway span.
fn atof_call(ev: &mut Atof, c: &PlacedCall, parent: &str, dual: bool) {
    let model = MODELS[c.spec.model];
    let request = json!({"content": {"messages": [{"role": "user", "content": PROMPTS[c.spec.prompt]}],
                                     "model": model}, "headers": {}});
    let openai_usage = json!({"prompt_tokens": c.spec.prompt_tokens,
        "completion_tokens": c.spec.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": c.spec.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": c.spec.reasoning_tokens}});
    let message = answer(&c.spec);
    let full = |with_usage: bool| {
        let mut v = json!({"choices": [{"finish_reason": "stop", "index": 0,
            "message": {"content": message, "role": "assistant"}}]});
        if with_usage {
            v["usage"] = openai_usage.clone();
        }
        v
    };
    let llm = |uuid, name| Scope {
        category: "llm",
        uuid,
        parent,
        name,
        model: Some(model),
    };
    let gateway = llm(&c.id, "openai.chat_completions");
    if dual {
        let hook = c.id.replacen("11111111", "aaaaaaaa", 1);
        let hook = llm(&hook, "openrouter");
        let hm = |phase: &str| json!({"hook_event_name": phase, "provider_payload_exact": false});
        ev.push(
            &hook,
            c.start_ms,
            "start",
            hm("pre_api_request"),
            request.clone(),
        );
        let post = json!({"assistant_content_chars": message.chars().count(), "usage": openai_usage.clone()});
        ev.push(&hook, c.end_ms + 0.5, "end", hm("post_api_request"), post);
        let gm = json!({"gateway_path": "/v1/chat/completions"});
        ev.push(&gateway, c.start_ms + 0.5, "start", gm.clone(), request);
        ev.push(&gateway, c.end_ms, "end", gm, full(false));
    } else {
        ev.push(&gateway, c.start_ms, "start", Value::Null, request);
        ev.push(&gateway, c.end_ms, "end", Value::Null, full(true));
    }
}

/// Ground-truth token totals of a run: (prompt, completion, cached).
pub fn token_totals(run: &RunSpec) -> (u64, u64, u64) {
    let tl = timeline(run);
    tl.calls.iter().fold((0, 0, 0), |t, c| {
        (
            t.0 + c.spec.prompt_tokens,
            t.1 + c.spec.completion_tokens,
            t.2 + c.spec.cached_tokens,
        )
    })
}

/// Write a run as a corpus item: `all_requests_profiler_traces.json` (IST),
/// `atof_events.json`, and `run.json` (the ground truth).
pub fn write_case(run: &RunSpec, dir: &std::path::Path) -> crate::Result<()> {
    write_case_with(run, dir, false)
}

/// The files [`write_case`] writes.
pub(crate) const CASE_FILES: &[&str] = &[
    "all_requests_profiler_traces.json",
    "atof_events.json",
    "run.json",
];

/// [`write_case`]: the directory is written whole ([`crate::fsio::OutputDir`]), replacing a
/// previous case's; one holding other files is refused unless `force`.
pub fn write_case_with(run: &RunSpec, dir: &std::path::Path, force: bool) -> crate::Result<()> {
    let out = crate::fsio::OutputDir::create(dir, CASE_FILES, force)?;
    let ist = to_ist(run);
    let write =
        |name: &str, v: &Value| out.write(name, (crate::pyjson::dumps(v) + "\n").as_bytes());
    write(
        "all_requests_profiler_traces.json",
        &serde_json::to_value(&ist.requests).expect("IST serialises"),
    )?;
    write("atof_events.json", &Value::Array(to_atof(run)))?;
    write(
        "run.json",
        &serde_json::to_value(run).expect("a run serialises"),
    )?;
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_per_seed() {
        assert_eq!(generate(7), generate(7));
        assert_ne!(generate(7), generate(8));
    }

    #[test]
    fn timeline_keeps_calls_inside_their_request_and_tools_after_their_calls() {
        for seed in 0..50 {
            let run = generate(seed);
            let tl = timeline(&run);
            for c in &tl.calls {
                let (s, e) = tl.requests[c.request];
                assert!(s < c.start_ms && c.end_ms < e, "seed {seed}");
            }
            for w in tl.requests.windows(2) {
                assert!(w[0].1 < w[1].0);
            }
        }
    }
}
