//! NAT's event vocabulary (`IntermediateStepType`, its category and state): the names every
//! layer shares. The IST model ([`crate::trace::ist`]) reads them from traces; frames and
//! analyses ([`crate::frame`], [`crate::profile`]) use them without knowing any trace format.

use serde::{Deserialize, Serialize};

macro_rules! event_types {
    ($($v:ident),* $(,)?) => {
        /// NAT's `IntermediateStepType`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        /// A NAT IntermediateStep event type (`LLM_START`, `TOOL_END`…).
        pub enum EventType { $(#[doc = stringify!($v)] $v),* }
        impl EventType {
            /// Every event type, in NAT's declaration order.
            pub const ALL: &'static [EventType] = &[$(EventType::$v),*];
            /// The wire name, e.g. `LLM_START`.
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$v => stringify!($v)),* }
            }
            /// The event type of a wire name.
            pub fn parse(s: &str) -> Option<EventType> {
                match s { $(stringify!($v) => Some(EventType::$v),)* _ => None }
            }
        }
    };
}
event_types!(
    LLM_START,
    LLM_END,
    LLM_NEW_TOKEN,
    TOOL_START,
    TOOL_END,
    WORKFLOW_START,
    WORKFLOW_END,
    TASK_START,
    TASK_END,
    TTC_START,
    TTC_END,
    FUNCTION_START,
    FUNCTION_END,
    CUSTOM_START,
    CUSTOM_END,
    SPAN_START,
    SPAN_CHUNK,
    SPAN_END,
);

/// NAT's `IntermediateStepCategory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// `LLM_*`.
    Llm,
    /// `TOOL_*`.
    Tool,
    /// `WORKFLOW_*`.
    Workflow,
    /// `TASK_*`.
    Task,
    /// `FUNCTION_*`.
    Function,
    /// `CUSTOM_*`.
    Custom,
    /// `SPAN_*`.
    Span,
    /// `TTC_*`.
    Ttc,
}

/// NAT's `IntermediateStepState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// `*_START`.
    Start,
    /// `*_CHUNK` (a streamed piece).
    Chunk,
    /// `*_END`.
    End,
}

impl EventType {
    /// The family of the event (`LLM_END` → `Llm`).
    pub fn category(self) -> Category {
        use EventType::*;
        match self {
            LLM_START | LLM_END | LLM_NEW_TOKEN => Category::Llm,
            TOOL_START | TOOL_END => Category::Tool,
            WORKFLOW_START | WORKFLOW_END => Category::Workflow,
            TASK_START | TASK_END => Category::Task,
            TTC_START | TTC_END => Category::Ttc,
            FUNCTION_START | FUNCTION_END => Category::Function,
            CUSTOM_START | CUSTOM_END => Category::Custom,
            SPAN_START | SPAN_CHUNK | SPAN_END => Category::Span,
        }
    }

    /// Whether the event starts, streams or ends its span.
    pub fn state(self) -> State {
        use EventType::*;
        match self {
            LLM_NEW_TOKEN | SPAN_CHUNK => State::Chunk,
            LLM_START | TOOL_START | WORKFLOW_START | TASK_START | TTC_START | FUNCTION_START
            | CUSTOM_START | SPAN_START => State::Start,
            _ => State::End,
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
