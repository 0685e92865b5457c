//! NAT IntermediateStep (IST) traces, as `nat eval` writes them in
//! `all_requests_profiler_traces.json`:
//! `[{"request_number": n, "intermediate_steps": [IntermediateStep.model_dump(), ...]}, ...]`.
//!
//! The model is tolerant (optional fields may be absent) and lossless: every field NAT
//! does not define is kept in `extra` and written back, so read → write keeps all data.
//! Written output follows NAT's `model_dump()`: every known field present, `null` for None.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One request: the steps of one workflow run, in file order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IstRequest {
    /// NAT's `request_number`; kept as written (NAT does not sort by it).
    #[serde(default)]
    pub request_number: Option<Value>,
    pub intermediate_steps: Vec<IntermediateStep>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `IntermediateStep` (top level: `extra="forbid"` in NAT; unknown keys kept here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntermediateStep {
    pub parent_id: String,
    pub function_ancestry: InvocationNode,
    pub payload: Payload,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `InvocationNode`: the NAT function that was running when the step was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvocationNode {
    pub function_id: String,
    pub function_name: String,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub parent_name: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `IntermediateStepPayload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub event_type: EventType,
    pub event_timestamp: f64,
    #[serde(default)]
    pub span_event_timestamp: Option<f64>,
    /// `LLMFrameworkEnum` value (`langchain`, …); kept as text so new frameworks load.
    #[serde(default)]
    pub framework: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tags: Option<Value>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub data: Option<StreamEventData>,
    #[serde(default)]
    pub usage_info: Option<UsageInfo>,
    #[serde(rename = "UUID")]
    pub uuid: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `StreamEventData`: arbitrary JSON values.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StreamEventData {
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub chunk: Option<Value>,
    #[serde(default)]
    pub payload: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `UsageInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UsageInfo {
    #[serde(default)]
    pub token_usage: TokenUsage,
    #[serde(default)]
    pub num_llm_calls: i64,
    #[serde(default)]
    pub seconds_between_calls: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// NAT's `TokenUsageBaseModel` (every count defaults to 0).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TokenUsage {
    #[serde(default)]
    pub prompt_tokens: i64,
    #[serde(default)]
    pub completion_tokens: i64,
    #[serde(default)]
    pub cached_tokens: i64,
    #[serde(default)]
    pub reasoning_tokens: i64,
    #[serde(default)]
    pub total_tokens: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub use crate::event::{Category, EventType, State};

impl IntermediateStep {
    pub fn event_type(&self) -> EventType {
        self.payload.event_type
    }
    pub fn ts(&self) -> f64 {
        self.payload.event_timestamp
    }
    pub fn name(&self) -> Option<&str> {
        self.payload.name.as_deref()
    }
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
    pub requests: Vec<IstRequest>,
}

impl IstTrace {
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

/// Request number `n` of [`traces_json`].
pub fn request_json(n: usize, steps: &[IntermediateStep]) -> serde_json::Value {
    serde_json::json!({"request_number": n, "intermediate_steps": steps})
}

#[cfg(test)]
mod tests {
    use super::*;

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
