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

/// An ATIF trajectory (v1.0–v1.8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// `ATIF-v1.x`.
    #[serde(default = "default_version")]
    pub schema_version: String,
    /// The session the trajectory belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The trajectory's own id (v1.7+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory_id: Option<String>,
    /// The agent that ran.
    pub agent: Agent,
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Free-form notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Totals over the steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_metrics: Option<FinalMetrics>,
    /// The trajectory this one continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continued_trajectory_ref: Option<String>,
    /// Producer-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// Embedded subagent trajectories (v1.7+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagent_trajectories: Option<Vec<Trajectory>>,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

fn default_version() -> String {
    NAT_VERSION.to_string()
}

/// The agent of a trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The model it used by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// The tools it could call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_definitions: Option<Vec<Value>>,
    /// Producer-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// `system`, `user` or `agent` (kept as text so an unknown source still loads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Its number, from 1.
    pub step_id: i64,
    /// When it happened (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// `system`, `user` or `agent`.
    pub source: String,
    /// The model of an agent step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// The reasoning effort asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<Value>,
    /// The step's message.
    #[serde(default)]
    pub message: Message,
    /// The model's reasoning text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// The tools the step called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The tools' results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
    /// The step's token counts and cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// Whether the step repeats context from an earlier trajectory (v1.5+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_copied_context: Option<bool>,
    /// Producer-specific data (NAT: ancestry, invocation times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// LLM calls behind the step (v1.7+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_call_count: Option<i64>,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// A step message: text, or (v1.6+) a list of content parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Message {
    /// Text.
    Text(String),
    /// Content parts (v1.6+).
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
pub(crate) fn parts_text(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A tool call of an agent step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Its id, which its result names.
    pub tool_call_id: String,
    /// The tool.
    pub function_name: String,
    /// Its arguments.
    #[serde(default)]
    pub arguments: Value,
    /// Producer-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// The results of a step's tool calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// One per result.
    #[serde(default)]
    pub results: Vec<ObservationResult>,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// One tool result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationResult {
    /// The tool call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_call_id: Option<String>,
    /// Its content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Message>,
    /// The subagent trajectories it refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subagent_trajectory_ref: Option<Vec<Value>>,
    /// Producer-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// A step's token counts and cost.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// Prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<i64>,
    /// Completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<i64>,
    /// Prompt tokens served from cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<i64>,
    /// Cost in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The prompt's token ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_token_ids: Option<Vec<Value>>,
    /// The completion's token ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_token_ids: Option<Vec<Value>>,
    /// The completion's log probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Value>>,
    /// Producer-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// A trajectory's totals.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FinalMetrics {
    /// Prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_prompt_tokens: Option<i64>,
    /// Completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_completion_tokens: Option<i64>,
    /// Cached prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cached_tokens: Option<i64>,
    /// Cost in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost_usd: Option<f64>,
    /// Steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_steps: Option<i64>,
    /// Producer-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// Members the model does not name, kept as they came.
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// One trajectory as it came out of a file, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct AtifItem {
    /// NAT eval's `item_id` when the file was a `workflow_output_atif.json` wrapper.
    pub item_id: Option<Value>,
    /// The trajectory.
    pub trajectory: Trajectory,
}

/// The ATIF content of a file: trajectories in file order (trajectory i = `example_number` i).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AtifTrace {
    /// How the file held the trajectories.
    pub layout: AtifLayout,
    /// The trajectories.
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

    /// A trace of these trajectories, as NAT's `convert_to_atif.py` lists them.
    pub fn from_trajectories(trajectories: Vec<Trajectory>) -> Self {
        AtifTrace {
            layout: AtifLayout::List,
            items: trajectories
                .into_iter()
                .map(|trajectory| AtifItem {
                    item_id: None,
                    trajectory,
                })
                .collect(),
        }
    }

    /// The trajectories, in file order.
    pub fn trajectories(&self) -> impl Iterator<Item = &Trajectory> {
        self.items.iter().map(|i| &i.trajectory)
    }
    /// Steps over every trajectory.
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
