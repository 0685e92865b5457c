//! NAT IntermediateStep (IST) traces, as `nat eval` writes them in
//! `all_requests_profiler_traces.json`:
//! `[{"request_number": n, "intermediate_steps": [IntermediateStep.model_dump(), ...]}, ...]`.
//!
//! The model is tolerant (optional fields may be absent) and lossless: every field NAT
//! does not define is kept in `extra` and written back, so read → write keeps all data.
//! Written output follows NAT's `model_dump()`: every known field present, `null` for None.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use super::raw::RawJson;

/// One request: the steps of one workflow run, in file order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IstRequest {
    /// NAT's `request_number`; kept as written (NAT does not sort by it).
    #[serde(default)]
    pub request_number: Option<Value>,
    /// The request's events, in order.
    pub intermediate_steps: Vec<IntermediateStep>,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `IntermediateStep` (top level: `extra="forbid"` in NAT; unknown keys kept here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntermediateStep {
    /// The UUID of the function the event ran in.
    pub parent_id: String,
    /// The function and its parent.
    pub function_ancestry: InvocationNode,
    /// The event.
    pub payload: Payload,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `InvocationNode`: the NAT function that was running when the step was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationNode {
    /// The function's id.
    pub function_id: String,
    /// The function's name.
    pub function_name: String,
    /// Its parent's id.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Its parent's name.
    #[serde(default)]
    pub parent_name: Option<String>,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `IntermediateStepPayload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// `LLM_START`, `TOOL_END`…
    pub event_type: EventType,
    /// When it happened, seconds since the epoch.
    pub event_timestamp: f64,
    /// When its span started (END events).
    #[serde(default)]
    pub span_event_timestamp: Option<f64>,
    /// `LLMFrameworkEnum` value (`langchain`, …); kept as text so new frameworks load.
    #[serde(default)]
    pub framework: Option<String>,
    /// The LLM, tool or function name.
    #[serde(default)]
    pub name: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Option<Value>,
    /// Metadata (chat inputs and responses, tool inputs and outputs), kept as its text.
    #[serde(default)]
    pub metadata: Option<RawJson>,
    /// The input, output or chunk.
    #[serde(default)]
    pub data: Option<StreamEventData>,
    /// Token usage (LLM_END).
    #[serde(default)]
    pub usage_info: Option<UsageInfo>,
    /// The span's UUID (shared by its START and END).
    #[serde(rename = "UUID")]
    pub uuid: String,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `StreamEventData`: arbitrary JSON values, each kept as its text ([`RawJson`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StreamEventData {
    /// The input.
    #[serde(default)]
    pub input: Option<RawJson>,
    /// The output.
    #[serde(default)]
    pub output: Option<RawJson>,
    /// A streamed chunk.
    #[serde(default)]
    pub chunk: Option<RawJson>,
    /// A payload.
    #[serde(default)]
    pub payload: Option<RawJson>,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `UsageInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UsageInfo {
    /// The token counts.
    #[serde(default)]
    pub token_usage: TokenUsage,
    /// LLM calls counted.
    #[serde(default)]
    pub num_llm_calls: i64,
    /// Seconds since the previous call.
    #[serde(default)]
    pub seconds_between_calls: i64,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `TokenUsageBaseModel` (every count defaults to 0).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: i64,
    /// Completion tokens.
    #[serde(default)]
    pub completion_tokens: i64,
    /// Prompt tokens served from cache.
    #[serde(default)]
    pub cached_tokens: i64,
    /// Reasoning tokens.
    #[serde(default)]
    pub reasoning_tokens: i64,
    /// Total tokens as the provider reported them.
    #[serde(default)]
    pub total_tokens: i64,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub use crate::event::{Category, EventType, State};

impl IntermediateStep {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        self.payload.event_type
    }
    /// The event's time.
    pub fn ts(&self) -> f64 {
        self.payload.event_timestamp
    }
    /// The event's name.
    pub fn name(&self) -> Option<&str> {
        self.payload.name.as_deref()
    }
    /// The name of the ATIF tool call NAT's converter makes of this step
    /// (`_record_observed_invocation`): every TOOL_END and FUNCTION_END but the `<workflow>`
    /// wrapper's, an empty or missing name being `unknown_tool`.
    pub fn atif_call_name(&self) -> Option<&str> {
        if !matches!(
            self.event_type(),
            EventType::TOOL_END | EventType::FUNCTION_END
        ) {
            return None;
        }
        let name = self
            .name()
            .filter(|n| !n.is_empty())
            .unwrap_or("unknown_tool");
        (name != "<workflow>").then_some(name)
    }
    /// The event's UUID.
    pub fn uuid(&self) -> &str {
        &self.payload.uuid
    }
    /// NAT's adapter `token_usage`: all zero when `usage_info` is absent.
    pub fn token_usage(&self) -> TokenUsage {
        self.payload
            .usage_info
            .as_ref()
            .map(|u| u.token_usage.clone())
            .unwrap_or_default()
    }
}

/// A whole IST trace file: requests in file order (request i = `example_number` i).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IstTrace {
    /// The requests, in file order.
    pub requests: Vec<IstRequest>,
}

impl IstTrace {
    /// Events over every request.
    pub fn step_count(&self) -> usize {
        self.requests
            .iter()
            .map(|r| r.intermediate_steps.len())
            .sum()
    }
}

/// `all_requests_profiler_traces.json`: every request re-numbered in file order, each step
/// as `IntermediateStep.model_dump()` (all fields, `null` for None), as NAT's runner writes it.
pub fn traces_json(trace: &IstTrace) -> serde_json::Value {
    serde_json::Value::Array(
        trace
            .requests
            .iter()
            .enumerate()
            .map(|(i, r)| request_json(i, &r.intermediate_steps))
            .collect(),
    )
}

/// One request of an IST list from its bytes (an element the list reader gave): `None`
/// when it is not UTF-8 or not an IST request. The text is checked for UTF-8 once, whole,
/// then parsed as text (serde_json checks each string of a byte slice on its own: a
/// measurable share of the parse on real traces, whose requests are mostly strings).
pub fn parse_request(raw: &[u8]) -> Option<IstRequest> {
    serde_json::from_str(std::str::from_utf8(raw).ok()?).ok()
}

/// [`parse_request`] of an element whose nesting the list reader checked to be within
/// `load::MAX_DEPTH` levels: its free-form values are not scanned for their depth again
/// (`raw::depth_checked`).
pub(crate) fn parse_listed_request(raw: &[u8]) -> Option<IstRequest> {
    super::raw::depth_checked(|| parse_request(raw))
}

/// Request number `n` of [`traces_json`].
pub fn request_json(n: usize, steps: &[IntermediateStep]) -> serde_json::Value {
    serde_json::to_value(DumpedRequest::new(n, steps)).unwrap_or_default()
}

/// One request of [`traces_json`] as it is serialized: its number, then its steps.
#[derive(Serialize)]
pub struct DumpedRequest<'a> {
    request_number: usize,
    intermediate_steps: &'a [IntermediateStep],
}

impl<'a> DumpedRequest<'a> {
    /// Request number `n`, with its steps.
    pub fn new(n: usize, intermediate_steps: &'a [IntermediateStep]) -> Self {
        DumpedRequest {
            request_number: n,
            intermediate_steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NAT's converter makes a tool call of every TOOL_END and FUNCTION_END but the
    /// `<workflow>` wrapper's, naming an unnamed one `unknown_tool`.
    #[test]
    fn atif_calls_are_tool_and_function_ends_but_the_workflow() {
        let step = |et: &str, name: Option<&str>| -> IntermediateStep {
            serde_json::from_value(serde_json::json!({
                "parent_id": "root",
                "function_ancestry": {"function_id": "f", "function_name": "w"},
                "payload": {"event_type": et, "event_timestamp": 1.0, "name": name, "UUID": "u"}
            }))
            .unwrap()
        };
        assert_eq!(
            step("TOOL_END", Some("calc")).atif_call_name(),
            Some("calc")
        );
        assert_eq!(
            step("FUNCTION_END", Some("agent")).atif_call_name(),
            Some("agent")
        );
        assert_eq!(
            step("FUNCTION_END", Some("<workflow>")).atif_call_name(),
            None
        );
        assert_eq!(
            step("TOOL_END", None).atif_call_name(),
            Some("unknown_tool")
        );
        assert_eq!(
            step("TOOL_END", Some("")).atif_call_name(),
            Some("unknown_tool")
        );
        assert_eq!(step("TOOL_START", Some("calc")).atif_call_name(), None);
        assert_eq!(step("LLM_END", Some("m")).atif_call_name(), None);
    }

    #[test]
    fn event_type_category_and_state_follow_nat() {
        assert_eq!(EventType::SPAN_CHUNK.state(), State::Chunk);
        assert_eq!(EventType::LLM_NEW_TOKEN.category(), Category::Llm);
        assert_eq!(EventType::FUNCTION_END.state(), State::End);
        assert_eq!(EventType::TTC_START.category(), Category::Ttc);
        assert_eq!(EventType::ALL.len(), 18);
    }

    #[test]
    fn unknown_fields_round_trip() {
        let raw = serde_json::json!({
            "parent_id": "root",
            "function_ancestry": {"function_id": "f", "function_name": "n", "parent_id": null, "parent_name": null, "depth": 3},
            "payload": {"event_type": "LLM_END", "event_timestamp": 1.5, "UUID": "u", "custom": [1, 2],
                        "usage_info": {"token_usage": {"prompt_tokens": 3, "audio_tokens": 9}}},
        });
        let step: IntermediateStep = serde_json::from_value(raw).unwrap();
        assert_eq!(step.payload.extra["custom"], serde_json::json!([1, 2]));
        let back = serde_json::to_value(&step).unwrap();
        assert_eq!(back["function_ancestry"]["depth"], 3);
        assert_eq!(back["payload"]["custom"], serde_json::json!([1, 2]));
        assert_eq!(
            back["payload"]["usage_info"]["token_usage"]["audio_tokens"],
            9
        );
        assert_eq!(
            back["payload"]["usage_info"]["token_usage"]["prompt_tokens"],
            3
        );
    }
}
