//! ATIF (Agent Trajectory Interchange Format) v1.0–v1.8 trajectories.
//!
//! Field order and names follow Harbor 0.25.0 / NAT's `nat.atif` models. Optional fields
//! are written only when present (NAT's `to_json_dict()` is `model_dump(exclude_none=True)`),
//! and every field the schema does not define is kept in `unknown` so nothing is lost on a
//! read → write round trip (`validate` is what rejects such fields).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The versions this tool knows, oldest first.
pub const KNOWN_VERSIONS: &[&str] = &[
    "ATIF-v1.0",
    "ATIF-v1.1",
    "ATIF-v1.2",
    "ATIF-v1.3",
    "ATIF-v1.4",
    "ATIF-v1.5",
    "ATIF-v1.6",
    "ATIF-v1.7",
    "ATIF-v1.8",
];

/// The version NAT 1.9.0's converter and NeMo Relay 0.10.4 write.
pub const NAT_VERSION: &str = "ATIF-v1.7";

/// Minor version of a schema string (`ATIF-v1.7` → 7), `None` for an unknown string.
pub fn minor_version(schema_version: &str) -> Option<u32> {
    KNOWN_VERSIONS
        .iter()
        .position(|v| *v == schema_version)
        .map(|i| i as u32)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    #[serde(default = "default_version")]
    pub schema_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory_id: Option<String>,
    pub agent: Agent,
    #[serde(default)]
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_metrics: Option<FinalMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continued_trajectory_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagent_trajectories: Option<Vec<Trajectory>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

fn default_version() -> String {
    NAT_VERSION.to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_definitions: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// `system`, `user` or `agent` (kept as text so an unknown source still loads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<Value>,
    #[serde(default)]
    pub message: Message,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_copied_context: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_call_count: Option<i64>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// A step message: text, or (v1.6+) a list of content parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Message {
    Text(String),
    Parts(Vec<Value>),
}

impl Default for Message {
    fn default() -> Self {
        Message::Text(String::new())
    }
}

impl Message {
    /// The message as text: a string as is; content parts → their non-empty `text`
    /// joined by one space (NAT's ATIF-native profiler `_message_text`).
    pub fn text(&self) -> String {
        match self {
            Message::Text(s) => s.clone(),
            Message::Parts(parts) => parts_text(parts),
        }
    }
}

/// Non-empty `text` fields of content parts, joined by one space.
pub fn parts_text(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub tool_call_id: String,
    pub function_name: String,
    #[serde(default)]
    pub arguments: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    #[serde(default)]
    pub results: Vec<ObservationResult>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagent_trajectory_ref: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_token_ids: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_token_ids: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FinalMetrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_prompt_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_completion_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cached_tokens: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_steps: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// One trajectory as it came out of a file, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct AtifItem {
    /// NAT eval's `item_id` when the file was a `workflow_output_atif.json` wrapper.
    pub item_id: Option<Value>,
    pub trajectory: Trajectory,
}

/// The ATIF content of a file: trajectories in file order (trajectory i = `example_number` i).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AtifTrace {
    pub layout: AtifLayout,
    pub items: Vec<AtifItem>,
}

/// How the trajectories were laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AtifLayout {
    /// One trajectory object.
    #[default]
    Single,
    /// A JSON list of trajectories (NAT's `convert_to_atif.py`).
    List,
    /// NAT eval's `workflow_output_atif.json`: `[{item_id, trajectory, …}]`.
    EvalOutput,
    /// One trajectory per line.
    Jsonl,
}

impl AtifTrace {
    /// A trace of one trajectory.
    pub fn single(trajectory: Trajectory) -> Self {
        AtifTrace {
            layout: AtifLayout::Single,
            items: vec![AtifItem {
                item_id: None,
                trajectory,
            }],
        }
    }

    pub fn trajectories(&self) -> impl Iterator<Item = &Trajectory> {
        self.items.iter().map(|i| &i.trajectory)
    }
    pub fn step_count(&self) -> usize {
        self.trajectories().map(|t| t.steps.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_versions() {
        assert_eq!(minor_version("ATIF-v1.0"), Some(0));
        assert_eq!(minor_version("ATIF-v1.8"), Some(8));
        assert_eq!(minor_version("1.0"), None);
    }

    #[test]
    fn message_parts_text_joins_non_empty_text() {
        let m: Message = serde_json::from_value(serde_json::json!([
            {"type": "text", "text": "a"}, {"type": "image", "source": {"path": "x.png"}},
            {"type": "text", "text": ""}, {"type": "text", "text": "b"}
        ]))
        .unwrap();
        assert_eq!(m.text(), "a b");
    }

    #[test]
    fn unknown_fields_round_trip_and_none_is_omitted() {
        let raw = serde_json::json!({
            "schema_version": "ATIF-v1.7", "agent": {"name": "a", "version": "1", "vendor": "x"},
            "steps": [{"step_id": 1, "source": "user", "message": "hi", "mood": "ok"}],
            "future_field": {"k": 1}
        });
        let t: Trajectory = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(serde_json::to_value(&t).unwrap(), raw);
    }
}
