//! ATOF (Agent Trajectory Observability Format, v0.1) event streams as NeMo Relay emits them,
//! and the LLM spans in them: the input of LLM-span dedupe ([`dedupe`]).
//!
//! An event is a JSON object (`uuid`, `parent_uuid`, `category`, `scope_category`
//! `start`/`end`, ISO `timestamp`, `name`, `metadata`, `data`, `category_profile`); the
//! accessors here read it without a schema, so an event that lacks a field is still seen.

pub mod dedupe;
pub mod export;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Token metrics of one LLM span, as NeMo Relay's ATIF exporter reads them from the end
/// event's usage (OpenAI or Anthropic shape).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// Prompt tokens reported by the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// Completion tokens reported by the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    /// Prompt tokens served from the provider's cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Usage keys beyond the counts above (e.g. `completion_tokens_details`).
    #[serde(skip_serializing_if = "Map::is_empty", default)]
    pub extra: Map<String, Value>,
}

impl Metrics {
    /// Relay's `merge_metrics_fields`: fill what `self` lacks from `other`.
    pub fn fill_missing(&mut self, other: &Metrics) {
        self.prompt_tokens = self.prompt_tokens.or(other.prompt_tokens);
        self.completion_tokens = self.completion_tokens.or(other.completion_tokens);
        self.cached_tokens = self.cached_tokens.or(other.cached_tokens);
        for (k, v) in &other.extra {
            self.extra.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }

    /// Whether no count is known.
    pub fn is_empty(&self) -> bool {
        self.prompt_tokens.is_none()
            && self.completion_tokens.is_none()
            && self.cached_tokens.is_none()
            && self.extra.is_empty()
    }
}

/// A read-only view of one ATOF event.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a>(pub &'a Value);

impl<'a> Event<'a> {
    fn str(&self, key: &str) -> Option<&'a str> {
        self.0.get(key).and_then(Value::as_str)
    }
    /// The event's `uuid`.
    pub fn uuid(&self) -> Option<&'a str> {
        self.str("uuid")
    }
    /// The event's `parent_uuid`.
    pub fn parent_uuid(&self) -> Option<&'a str> {
        self.str("parent_uuid")
    }
    /// The event's `category` (`llm`, `tool`, `agent`…).
    pub fn category(&self) -> Option<&'a str> {
        self.str("category")
    }
    /// The event's `scope_category` (`start` or `end`).
    pub fn scope_category(&self) -> Option<&'a str> {
        self.str("scope_category")
    }
    /// The event's `name` (empty when it has none).
    pub fn name(&self) -> &'a str {
        self.str("name").unwrap_or("")
    }
    /// Microseconds since the epoch (ATOF timestamps are ISO-8601).
    pub fn micros(&self) -> Option<i64> {
        self.str("timestamp")
            .and_then(crate::pyfmt::iso_to_epoch_micros)
    }
    /// The event's `metadata` object.
    pub fn metadata(&self) -> Option<&'a Map<String, Value>> {
        self.0.get("metadata").and_then(Value::as_object)
    }
    /// The event's `data`.
    pub fn data(&self) -> Option<&'a Value> {
        self.0.get("data").filter(|d| !d.is_null())
    }
    /// `category_profile.model_name`.
    pub fn profile_model(&self) -> Option<&'a str> {
        self.0
            .get("category_profile")
            .and_then(|p| p.get("model_name"))
            .and_then(Value::as_str)
    }
    fn meta_has(&self, key: &str) -> bool {
        self.metadata().is_some_and(|m| m.contains_key(key))
    }
    fn meta_bool(&self, key: &str) -> Option<bool> {
        self.metadata()
            .and_then(|m| m.get(key))
            .and_then(Value::as_bool)
    }
}

/// Relay's `unwrap_llm_request`: `{content, headers}` → `content`.
pub fn unwrap_request(input: &Value) -> &Value {
    match input.as_object() {
        Some(o) if o.contains_key("content") && o.contains_key("headers") => &o["content"],
        _ => input,
    }
}

/// Relay's `is_atif_content_parts`: text parts with text, image parts with a known media type.
pub(crate) fn is_content_parts(v: &Value) -> bool {
    v.as_array().is_some_and(|parts| {
        parts
            .iter()
            .all(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => p.get("text").and_then(Value::as_str).is_some(),
                Some("image") => p.get("source").is_some_and(|s| {
                    matches!(
                        s.get("media_type").and_then(Value::as_str),
                        Some("image/jpeg" | "image/png" | "image/gif" | "image/webp")
                    ) && s.get("path").and_then(Value::as_str).is_some()
                }),
                _ => false,
            })
    })
}

/// ATIF message content (Relay's `atif_content_value`): strings and content-part lists as
/// they are, null → "", anything else its compact JSON.
pub(crate) fn content_value(v: &Value) -> Value {
    match v {
        Value::String(_) => v.clone(),
        Value::Array(_) if is_content_parts(v) => v.clone(),
        Value::Null => Value::String(String::new()),
        _ => Value::String(v.to_string()),
    }
}

/// The last user (or role-less) message of a request, else its `prompt`, else the request
/// (Relay's `extract_user_messages`).
pub(crate) fn user_message(req: &Value) -> Value {
    let last = req
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|ms| {
            ms.iter().rev().filter_map(Value::as_object).find(|m| {
                m.get("role")
                    .and_then(Value::as_str)
                    .is_none_or(|r| r == "user")
            })
        })
        .and_then(|m| m.get("content"));
    match (last, req.get("prompt")) {
        (Some(c), _) => content_value(c),
        (None, Some(p)) => content_value(p),
        _ => content_value(req),
    }
}

/// The request's signature: its `user_message`, as JSON text.
pub fn request_signature(input: &Value) -> String {
    user_message(unwrap_request(input)).to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ToolCall {
    pub(crate) tool_call_id: String,
    pub(crate) function_name: String,
    pub(crate) arguments: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) extra: Option<Value>,
}

/// The assistant message of a response (Relay's `extract_llm_response_message`).
pub(crate) fn response_message(output: &Value) -> Value {
    let Some(o) = output.as_object() else {
        return content_value(output);
    };
    if let Some(c) = o.get("content").filter(|c| !c.is_null()) {
        if o.get("type").and_then(Value::as_str) == Some("message") {
            if let Some(blocks) = c.as_array() {
                let texts: Vec<&str> = blocks
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .filter(|t| !t.trim().is_empty())
                    .collect();
                let tool_use = blocks
                    .iter()
                    .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"));
                if !texts.is_empty() {
                    return Value::String(texts.join("\n"));
                }
                if tool_use {
                    return Value::String(String::new());
                }
            }
        }
        return content_value(c);
    }
    if let Some(c) = o
        .get("assistant_message")
        .and_then(|a| a.get("content"))
        .filter(|c| !c.is_null())
    {
        return content_value(c);
    }
    let raw = o.get("raw_response").unwrap_or(output);
    let message = raw
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(|c| c.get("message"));
    if let Some(c) = message
        .and_then(|m| m.get("content"))
        .filter(|c| !c.is_null())
    {
        return content_value(c);
    }
    if let Some(a) = o.get("answer").filter(|a| !a.is_null()) {
        return content_value(a);
    }
    if let Some(t) = o.get("output_text").and_then(Value::as_str) {
        return Value::String(t.into());
    }
    if tool_call_array(output).is_some() {
        return Value::String(String::new());
    }
    content_value(output)
}

fn tool_call_array(output: &Value) -> Option<&Vec<Value>> {
    output
        .get("tool_calls")
        .and_then(Value::as_array)
        .or_else(|| {
            output
                .get("assistant_message")
                .and_then(|a| a.get("tool_calls"))
                .and_then(Value::as_array)
        })
        .or_else(|| {
            output
                .get("raw_response")
                .unwrap_or(output)
                .get("choices")
                .and_then(Value::as_array)
                .and_then(|c| c.first())
                .and_then(|c| c.get("message"))
                .and_then(|m| m.get("tool_calls"))
                .and_then(Value::as_array)
        })
}

pub(crate) fn normalize_arguments(raw: Option<&Value>) -> Value {
    match raw {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(_)) => raw.cloned().unwrap_or_default(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            Ok(v) => json!({ "value": v }),
            Err(_) => json!({ "raw": s }),
        },
        Some(v) => json!({ "value": v }),
    }
}

fn tool_call_extra(tc: &Value) -> Option<Value> {
    let o = tc.as_object()?;
    let mut extra = Map::new();
    for (k, v) in o {
        if !matches!(
            k.as_str(),
            "id" | "tool_call_id"
                | "call_id"
                | "type"
                | "function"
                | "name"
                | "tool_name"
                | "function_name"
                | "arguments"
                | "args"
                | "input"
        ) {
            extra.insert(k.clone(), v.clone());
        }
    }
    if let Some(f) = o.get("function").and_then(Value::as_object) {
        let fx: Map<String, Value> = f
            .iter()
            .filter(|(k, _)| *k != "name" && *k != "arguments")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !fx.is_empty() {
            extra.insert("function".into(), Value::Object(fx));
        }
    }
    (!extra.is_empty()).then_some(Value::Object(extra))
}

/// Tool calls a response asks for (OpenAI chat `tool_calls`, Anthropic `tool_use` blocks).
pub(crate) fn extract_tool_calls(output: &Value) -> Option<Vec<ToolCall>> {
    let items: Vec<&Value> = match tool_call_array(output).filter(|a| !a.is_empty()) {
        Some(a) => a.iter().collect(),
        None => {
            if output.get("type").and_then(Value::as_str) != Some("message") {
                return None;
            }
            let blocks: Vec<&Value> = output
                .get("content")
                .and_then(Value::as_array)?
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
                .collect();
            if blocks.is_empty() {
                return None;
            }
            blocks
        }
    };
    let mut calls = Vec::new();
    for (i, tc) in items.iter().enumerate() {
        let o = tc.as_object()?;
        let mut id = ["id", "tool_call_id", "call_id"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
            .unwrap_or("")
            .to_string();
        let f = o.get("function").and_then(Value::as_object);
        let name = f
            .and_then(|f| f.get("name"))
            .or_else(|| o.get("name"))
            .or_else(|| o.get("toolName"))
            .or_else(|| o.get("tool_name"))
            .or_else(|| o.get("function_name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if id.is_empty() && !name.is_empty() {
            id = format!("{name}:{}", i + 1);
        }
        let raw = f
            .and_then(|f| f.get("arguments"))
            .or_else(|| o.get("arguments"))
            .or_else(|| o.get("args"))
            .or_else(|| o.get("input"));
        if id.is_empty() && name.is_empty() {
            continue;
        }
        calls.push(ToolCall {
            tool_call_id: id,
            function_name: name,
            arguments: normalize_arguments(raw),
            extra: tool_call_extra(tc),
        });
    }
    (!calls.is_empty()).then_some(calls)
}

/// The response's signature (Relay's `llm_response_signature`): its assistant message and
/// the tool calls it asks for, as JSON text.
pub fn response_signature(output: &Value) -> String {
    serde_json::json!({
        "message": response_message(output),
        "tool_calls": extract_tool_calls(output),
    })
    .to_string()
}

const CORRELATION_PATHS: &[(&str, &[&str])] = &[
    ("request", &["api_call_id"]),
    ("request", &["apiCallId"]),
    ("request", &["request_id"]),
    ("request", &["requestId"]),
    ("request", &["request", "id"]),
    ("request", &["metadata", "request_id"]),
    ("request", &["metadata", "requestId"]),
    ("request", &["extra", "api_call_id"]),
    ("request", &["extra", "apiCallId"]),
    ("request", &["extra", "request_id"]),
    ("request", &["extra", "requestId"]),
    ("request", &["llm_correlation_request_id"]),
    ("generation", &["generation_id"]),
    ("generation", &["generationId"]),
    ("generation", &["generation", "id"]),
    ("generation", &["metadata", "generation_id"]),
    ("generation", &["metadata", "generationId"]),
    ("generation", &["extra", "generation_id"]),
    ("generation", &["extra", "generationId"]),
    ("generation", &["llm_correlation_generation_id"]),
];

fn correlation_keys(v: &Value, out: &mut std::collections::BTreeSet<String>) {
    for (kind, path) in CORRELATION_PATHS {
        let mut cur = Some(v);
        for p in *path {
            cur = cur.and_then(|c| c.get(*p));
        }
        if let Some(s) = cur.and_then(Value::as_str).filter(|s| !s.is_empty()) {
            out.insert(format!("{kind}:{s}"));
        }
    }
}

/// Relay's `llm_event_fidelity_score`: how exactly an observation records the provider call.
pub fn fidelity(e: &Event) -> u8 {
    let Some(m) = e.metadata() else { return 50 };
    if m.get("projection").and_then(Value::as_bool) == Some(true) {
        10
    } else if e.meta_bool("provider_payload_exact") == Some(false) {
        30
    } else if e.meta_bool("provider_payload_exact") == Some(true) {
        100
    } else if m.contains_key("fidelity_source") || m.contains_key("api_call_id") {
        95
    } else if m.contains_key("hook_event_name") {
        90
    } else {
        50
    }
}

/// Token metrics of an end event's data: `token_usage` or `usage`, OpenAI
/// (`prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`) or
/// Anthropic (`input_tokens` + cache reads and writes as prompt tokens, `output_tokens`;
/// cached = reads + writes). Other usage keys go to `extra`.
pub fn metrics(output: &Value) -> Option<Metrics> {
    let usage = output
        .get("token_usage")
        .or_else(|| output.get("usage"))
        .and_then(Value::as_object)?;
    let n = |k: &str| usage.get(k).and_then(Value::as_u64);
    let read = n("cache_read_input_tokens").or_else(|| {
        usage
            .get("prompt_tokens_details")
            .and_then(|d| d.get("cached_tokens"))
            .and_then(Value::as_u64)
    });
    let write = n("cache_creation_input_tokens");
    let cached = match (read, write) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    };
    let prompt = match n("prompt_tokens") {
        Some(p) => Some(p),
        None => n("input_tokens").map(|i| {
            i + n("cache_read_input_tokens").unwrap_or(0)
                + n("cache_creation_input_tokens").unwrap_or(0)
        }),
    };
    // NeMo Relay's TOKEN_USAGE_KNOWN_KEYS: every other usage key goes to `extra`.
    const KNOWN: &[&str] = &[
        "prompt_tokens",
        "input_tokens",
        "inputTokens",
        "input",
        "completion_tokens",
        "output_tokens",
        "completionTokens",
        "outputTokens",
        "output",
        "cached_tokens",
        "cachedTokens",
        "cache_read_tokens",
        "cacheReadTokens",
        "cache_read_input_tokens",
        "cacheReadInputTokens",
        "cacheRead",
        "cache_creation_input_tokens",
        "cacheCreationInputTokens",
        "cache_write_tokens",
        "cacheWriteTokens",
        "cacheWrite",
        "cost_usd",
        "cost",
        "prompt_tokens_details",
        "input_tokens_details",
        "prompt_token_ids",
        "completion_token_ids",
        "logprobs",
    ];
    let extra: Map<String, Value> = usage
        .iter()
        .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let m = Metrics {
        prompt_tokens: prompt,
        completion_tokens: n("completion_tokens").or_else(|| n("output_tokens")),
        cached_tokens: cached,
        extra,
    };
    (!m.is_empty()).then_some(m)
}

/// How a span was observed: one observer sees one provider call at most once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Observer {
    /// The span's name (the LLM start event's `name`).
    pub name: String,
    /// `gateway:<path>`, `api-hook:<source>`, `hook`, or `plain`.
    pub class: String,
}

/// One LLM span (a start and an end event with data): a dedupe candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmSpan {
    /// The span's UUID.
    pub uuid: String,
    /// The UUID of the scope that holds the span.
    pub parent_uuid: Option<String>,
    /// Start time, microseconds since the epoch.
    pub start_us: i64,
    /// End time, microseconds since the epoch.
    pub end_us: i64,
    /// A digest of the request payload (model and messages), to match observations of one call.
    pub request_signature: String,
    /// A digest of the response payload.
    pub response_signature: String,
    /// Characters of the assistant message the response carries, or the hook's
    /// `assistant_content_chars` summary.
    pub response_chars: Option<usize>,
    /// Provider correlation ids found in the span (response id, request id…).
    pub correlation_keys: std::collections::BTreeSet<String>,
    /// The model the span names.
    pub model: Option<String>,
    /// How exactly the span saw the provider call (higher: closer to the wire).
    pub fidelity: u8,
    /// The usage the span reports.
    pub metrics: Option<Metrics>,
    /// Observed by an agent hook.
    pub hook: bool,
    /// Observed by a gateway.
    pub gateway: bool,
    /// The observer says its payload is not the exact provider payload.
    pub non_exact: bool,
    /// Who observed the call.
    pub observer: Observer,
}

fn observer(start: &Event, end: &Event) -> Observer {
    let meta = |k: &str| {
        start
            .metadata()
            .and_then(|m| m.get(k))
            .or_else(|| end.metadata().and_then(|m| m.get(k)))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    let class = if let Some(p) = meta("gateway_path").or_else(|| meta("llm_correlation_source")) {
        format!("gateway:{p}")
    } else if let Some(s) =
        meta("fidelity_source").or_else(|| meta("api_call_id").map(|_| "api".into()))
    {
        format!("api-hook:{s}")
    } else if meta("hook_event_name").is_some() {
        "hook".into()
    } else {
        "plain".into()
    };
    Observer {
        name: start.name().to_string(),
        class,
    }
}

impl LlmSpan {
    fn from_events(start: Event, end: Event) -> Option<LlmSpan> {
        let (input, output) = (start.data()?, end.data()?);
        let mut keys = std::collections::BTreeSet::new();
        for e in [start, end] {
            if let Some(m) = e.0.get("metadata").filter(|m| m.is_object()) {
                correlation_keys(m, &mut keys);
            }
            if let Some(d) = e.data() {
                correlation_keys(d, &mut keys);
                correlation_keys(unwrap_request(d), &mut keys);
            }
        }
        let response_model = output.get("model").and_then(Value::as_str);
        let model = response_model
            .or_else(|| start.profile_model())
            .or_else(|| end.profile_model())
            .or_else(|| unwrap_request(input).get("model").and_then(Value::as_str))
            .map(str::to_string);
        // A hook's summary gives the message length; a full response gives the message.
        let response_chars = output
            .get("assistant_content_chars")
            .and_then(Value::as_u64)
            .map(|n| n as usize)
            .or_else(|| response_message(output).as_str().map(|m| m.chars().count()));
        let either = |f: &dyn Fn(&Event) -> bool| f(&start) || f(&end);
        Some(LlmSpan {
            uuid: start.uuid()?.to_string(),
            parent_uuid: start
                .parent_uuid()
                .or_else(|| end.parent_uuid())
                .map(str::to_string),
            start_us: start.micros()?,
            end_us: end.micros()?,
            request_signature: request_signature(input),
            response_signature: response_signature(output),
            response_chars,
            correlation_keys: keys,
            model,
            fidelity: fidelity(&start).max(fidelity(&end)),
            metrics: metrics(output),
            hook: either(&|e| e.meta_has("hook_event_name")),
            gateway: either(&|e| {
                e.meta_has("gateway_path") || e.meta_has("llm_correlation_source")
            }),
            non_exact: either(&|e| e.meta_bool("provider_payload_exact") == Some(false)),
            observer: observer(&start, &end),
        })
    }
}

/// The LLM spans of an event stream: events of category `llm` grouped by `uuid`, a span for
/// each uuid with a start and an end that both carry data (the last of each wins), sorted
/// by (start, end, uuid).
pub fn llm_spans(events: &[Value]) -> Vec<LlmSpan> {
    let mut parts: std::collections::BTreeMap<&str, (Option<Event>, Option<Event>)> =
        std::collections::BTreeMap::new();
    for v in events {
        let e = Event(v);
        if e.category() != Some("llm") {
            continue;
        }
        let Some(u) = e.uuid() else { continue };
        let p = parts.entry(u).or_default();
        match e.scope_category() {
            Some("start") => p.0 = Some(e),
            Some("end") => p.1 = Some(e),
            _ => {}
        }
    }
    let mut spans: Vec<LlmSpan> = parts
        .into_values()
        .filter_map(|(s, e)| LlmSpan::from_events(s?, e?))
        .collect();
    spans.sort_by(|a, b| (a.start_us, a.end_us, &a.uuid).cmp(&(b.start_us, b.end_us, &b.uuid)));
    spans
}
